/* Fan-out (docs/fanout.md, docs/elements.md "Many readers"): one zbsink,
 * readers of NAME@ID in other processes (zbsrc reader-id, the Python
 * binding by name) that join and leave at random, one SIGSTOPped, one
 * killed with -9; the others see every frame, checked by the counter in
 * each payload; bus messages, the readers property and the stats. */

#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include <gst/app/gstappsrc.h>
#include <gst/app/gstappsink.h>
#include <gst/check/gstcheck.h>
#include <gst/video/video.h>
#include <glib/gstdio.h>

#include "zbtest.h"

#define FRAME 4096

/* Every zbsink-reader-joined / -left message seen, in order. */
typedef struct
{
  GstBus *bus;
  GPtrArray *msgs;              /* GstStructure */
} Collector;

static void
collect (Collector * c, gint timeout_ms)
{
  GstMessage *m;

  while ((m = gst_bus_timed_pop_filtered (c->bus, timeout_ms * GST_MSECOND,
              GST_MESSAGE_ELEMENT | GST_MESSAGE_ERROR)) != NULL) {
    const GstStructure *s = gst_message_get_structure (m);

    if (GST_MESSAGE_TYPE (m) == GST_MESSAGE_ERROR) {
      GError *err = NULL;
      gchar *dbg = NULL;

      gst_message_parse_error (m, &err, &dbg);
      fail ("error from %s: %s (%s)", GST_OBJECT_NAME (m->src),
          err->message, dbg);
    }
    if (s && g_str_has_prefix (gst_structure_get_name (s), "zbsink-reader-"))
      g_ptr_array_add (c->msgs, gst_structure_copy (s));
    gst_message_unref (m);
    timeout_ms = 0;
  }
}

/* The message @name for reader @id, or NULL. */
static const GstStructure *
find_msg (Collector * c, const gchar * name, const gchar * id)
{
  guint i;

  for (i = 0; i < c->msgs->len; i++) {
    const GstStructure *s = g_ptr_array_index (c->msgs, i);

    if (gst_structure_has_name (s, name) &&
        g_strcmp0 (gst_structure_get_string (s, "reader-id"), id) == 0)
      return s;
  }
  return NULL;
}

static const GstStructure *
wait_msg (Collector * c, const gchar * name, const gchar * id, gint timeout_ms)
{
  gint64 end = g_get_monotonic_time () + (gint64) timeout_ms * 1000;
  const GstStructure *s;

  while ((s = find_msg (c, name, id)) == NULL) {
    fail_unless (g_get_monotonic_time () < end, "no %s for reader %s "
        "within %d ms", name, id, timeout_ms);
    collect (c, 20);
  }
  return s;
}

static guint64
msg_pid (const GstStructure * s)
{
  guint64 pid = 0;

  fail_unless (gst_structure_get_uint64 (s, "pid", &pid));
  return pid;
}

/* The "zbsink-reader" entry of reader @id in the sink's stats, a copy, or
 * NULL. */
static GstStructure *
reader_stats (GstElement * sink, const gchar * id)
{
  GstStructure *stats = NULL, *ret = NULL;
  const GValue *readers;
  guint i;

  g_object_get (sink, "stats", &stats, NULL);
  readers = gst_structure_get_value (stats, "readers");
  fail_unless (readers != NULL && GST_VALUE_HOLDS_ARRAY (readers));
  for (i = 0; i < gst_value_array_get_size (readers); i++) {
    const GstStructure *r =
        gst_value_get_structure (gst_value_array_get_value (readers, i));

    if (g_strcmp0 (gst_structure_get_string (r, "reader-id"), id) == 0)
      ret = gst_structure_copy (r);
  }
  gst_structure_free (stats);
  return ret;
}

static guint
readers_prop (GstElement * sink)
{
  guint n;

  g_object_get (sink, "readers", &n, NULL);
  return n;
}

static GstBuffer *
counter_buffer (guint64 i, GstClockTime period)
{
  GstBuffer *b = gst_buffer_new_allocate (NULL, FRAME, NULL);
  GstMapInfo map;
  guint64 le = GUINT64_TO_LE (i);
  guint64 now = GUINT64_TO_LE ((guint64) g_get_monotonic_time ());

  gst_buffer_map (b, &map, GST_MAP_WRITE);
  memset (map.data, (int) (i & 0xff), FRAME);
  memcpy (map.data, &le, sizeof (le));
  /* CLOCK_MONOTONIC in µs, for the Python reader's latency */
  memcpy (map.data + 8, &now, sizeof (now));
  gst_buffer_unmap (b, &map);
  /* 0: a live source that appsrc stamps with the running time */
  if (period) {
    GST_BUFFER_PTS (b) = i * period;
    GST_BUFFER_DURATION (b) = period;
  }
  return b;
}

/* The counters in a file of FRAME-byte payloads (filesink). Each payload
 * must be whole and consistent. */
static GArray *
read_counters_file (const gchar * path)
{
  GArray *out = g_array_new (FALSE, FALSE, sizeof (guint64));
  gchar *data = NULL;
  gsize len = 0, off;

  fail_unless (g_file_get_contents (path, &data, &len, NULL), "no %s", path);
  fail_unless (len % FRAME == 0, "%s: %" G_GSIZE_FORMAT " bytes", path, len);
  for (off = 0; off < len; off += FRAME) {
    guint64 v;

    memcpy (&v, data + off, sizeof (v));
    v = GUINT64_FROM_LE (v);
    fail_unless ((guint8) data[off + FRAME - 1] == (v & 0xff),
        "%s: payload of frame %" G_GUINT64_FORMAT " corrupt", path, v);
    g_array_append_val (out, v);
  }
  g_free (data);
  return out;
}

/* The counters the Python reader wrote (JSON: {"end": .., "max_latency_us":
 * .., "counters": [..]}), and its largest latency from push to read. */
static GArray *
read_counters_json (const gchar * path, guint64 * max_latency_us)
{
  GArray *out = g_array_new (FALSE, FALSE, sizeof (guint64));
  gchar *data = NULL, *p;

  fail_unless (g_file_get_contents (path, &data, NULL, NULL), "no %s", path);
  fail_unless (strstr (data, "\"end\": \"eos\"") != NULL, "%s: %.80s", path,
      data);
  p = strstr (data, "\"max_latency_us\": ");
  fail_unless (p != NULL);
  *max_latency_us = g_ascii_strtoull (p + strlen ("\"max_latency_us\": "),
      NULL, 10);
  p = strchr (data, '[');
  fail_unless (p != NULL);
  p++;
  while (*p && *p != ']') {
    gchar *e;
    guint64 v = g_ascii_strtoull (p, &e, 10);

    if (e == p) {
      p++;
      continue;
    }
    g_array_append_val (out, v);
    p = e;
  }
  g_free (data);
  return out;
}

/* Gaps in @c (strictly increasing, from @first_max at most, up to
 * @last): the number of frames missing in between. */
static guint64
gaps (GArray * c, const gchar * who, guint64 first_max, guint64 last)
{
  guint64 missing = 0;
  guint i;

  fail_unless (c->len > 0, "%s got nothing", who);
  fail_unless (g_array_index (c, guint64, 0) <= first_max, "%s started at %"
      G_GUINT64_FORMAT " (> %" G_GUINT64_FORMAT ")", who,
      g_array_index (c, guint64, 0), first_max);
  fail_unless_equals_uint64 (g_array_index (c, guint64, c->len - 1), last);
  for (i = 1; i < c->len; i++) {
    guint64 a = g_array_index (c, guint64, i - 1);
    guint64 b = g_array_index (c, guint64, i);

    fail_unless (b > a, "%s: %" G_GUINT64_FORMAT " after %" G_GUINT64_FORMAT,
        who, b, a);
    missing += b - a - 1;
  }
  return missing;
}

static gchar *
out_path (const gchar * id)
{
  gchar *f = g_strdup_printf ("fanout-%d-%s.out", (gint) getpid (), id);
  gchar *p = g_build_filename (zbt_tmp_dir (), f, NULL);

  g_free (f);
  return p;
}

/* A zbsrc reader-id=@id in a gst-launch-1.0 process, its payloads into a
 * file. */
static GPid
spawn_src (const gchar * name, const gchar * id, const gchar * extra)
{
  gchar *path = out_path (id);
  gchar *desc = g_strdup_printf ("zbsrc buffer-name=%s reader-id=%s %s ! "
      "filesink location=%s", name, id, extra ? extra : "", path);
  GPid pid = zbt_spawn_launch (desc);

  g_free (desc);
  g_free (path);
  return pid;
}

static void
child_setup (gpointer data)
{
  /* a test that fails exits at once: take the reader with it */
  prctl (PR_SET_PDEATHSIG, SIGKILL);
}

/* The Python binding's reader of @name@@id (a reader by name only). */
static GPid
spawn_python (const gchar * name, const gchar * id)
{
  gchar *buffer = g_strdup_printf ("%s@%s", name, id);
  gchar *path = out_path (id);
  gchar *argv[] = { (gchar *) g_getenv ("ZBT_PYTHON"),
    (gchar *) g_getenv ("ZBT_FANOUT_READER"), buffer, path, NULL
  };
  GError *err = NULL;
  GPid pid = 0;

  fail_unless (argv[0] && argv[1], "ZBT_PYTHON / ZBT_FANOUT_READER unset");
  fail_unless (g_spawn_async (NULL, argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD,
          child_setup, NULL, &pid, &err), "%s", err ? err->message : "");
  g_free (buffer);
  g_free (path);
  return pid;
}

static void
expect_exit0 (GPid pid, const gchar * who)
{
  gint status = zbt_wait_pid (pid, 20000);

  if (status == -1)
    status = zbt_kill (pid, SIGKILL, 5000);
  fail_unless (WIFEXITED (status) && WEXITSTATUS (status) == 0,
      "reader %s: status 0x%x", who, status);
}

/* No object of reader @id of @name is left. */
static void
p_no_leftovers (const gchar * name, const gchar * id)
{
  gchar *b = g_strdup_printf ("%s@%s", name, id);

  fail_unless (zbt_no_leftovers (b), "objects of %s left", b);
  g_free (b);
}

static void
remove_outputs (const gchar * name, const gchar * const *ids)
{
  gint i;

  for (i = 0; ids[i]; i++) {
    gchar *p = out_path (ids[i]);
    gchar *b = g_strdup_printf ("%s@%s", name, ids[i]);

    g_unlink (p);
    fail_unless (zbt_no_leftovers (b), "objects of %s left", b);
    zbt_remove_leftovers (b);
    g_free (b);
    g_free (p);
  }
}

/* A live writer (reader-policy=auto: drop) and six readers in other
 * processes: a, s, k before the first frame; b, py, l joining at random
 * frames; l leaving (SIGINT), k killed (-9), s stopped (SIGSTOP) for a
 * long stretch and continued. a, b and py see every frame from their
 * first on (no gap, by content); the stopped reader's gaps are exactly
 * the drops the sink counted for it, and stopping it never slowed the
 * stream. */
GST_START_TEST (test_fanout_live_join_leave_stop_kill)
{
  const gchar *const ids[] = { "a", "b", "s", "k", "l", "py", NULL };
  const guint n = 2500;
  const GstClockTime period = 2 * GST_MSECOND;
  gchar *name = zbt_name ();
  guint32 seed = g_random_int ();
  GRand *rand = g_rand_new_with_seed (seed);
  guint r_b, r_py, r_l, r_l_out, r_stop, r_cont, r_kill;
  GPid pa, pb = 0, ps, pk, pl = 0, ppy = 0;
  GstElement *wp, *src, *sink;
  Collector c;
  GstStructure *st;
  GArray *ca, *cb, *cs, *cpy;
  guint64 drops_s = 0, frames_a = 0, lat_py = 0;
  gint64 t0, late_max = 0;
  guint i;
  gchar *p;

  r_b = g_rand_int_range (rand, 100, 600);
  r_py = g_rand_int_range (rand, 100, 600);
  r_l = g_rand_int_range (rand, 200, 700);
  r_l_out = r_l + g_rand_int_range (rand, 200, 500);
  r_stop = g_rand_int_range (rand, 300, 700);
  r_cont = r_stop + g_rand_int_range (rand, 600, 1000);
  r_kill = g_rand_int_range (rand, 500, 1500);
  g_printerr ("seed %u: b joins at %u, py at %u, l at %u..%u, s stopped "
      "%u..%u, k killed at %u\n", seed, r_b, r_py, r_l, r_l_out, r_stop,
      r_cont, r_kill);

  wp = zbt_pipeline ("appsrc name=src is-live=true do-timestamp=true "
      "format=time caps=application/x-zbfanout ! zbsink name=sink "
      "buffer-name=%s sync=false", name);
  src = gst_bin_get_by_name (GST_BIN (wp), "src");
  sink = gst_bin_get_by_name (GST_BIN (wp), "sink");
  c.bus = gst_element_get_bus (wp);
  c.msgs = g_ptr_array_new_with_free_func ((GDestroyNotify)
      gst_structure_free);
  fail_unless (gst_element_set_state (wp, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  fail_unless_equals_int (readers_prop (sink), 0);

  pa = spawn_src (name, "a", NULL);
  /* a small ring: stopped, it fills within a few dozen frames */
  ps = spawn_src (name, "s", "payload-size=262144");
  pk = spawn_src (name, "k", NULL);
  fail_unless_equals_uint64 (msg_pid (wait_msg (&c, "zbsink-reader-joined",
              "a", 10000)), (guint64) pa);
  fail_unless_equals_uint64 (msg_pid (wait_msg (&c, "zbsink-reader-joined",
              "s", 10000)), (guint64) ps);
  fail_unless_equals_uint64 (msg_pid (wait_msg (&c, "zbsink-reader-joined",
              "k", 10000)), (guint64) pk);
  fail_unless_equals_int (readers_prop (sink), 3);
  st = reader_stats (sink, "k");
  fail_unless (st != NULL);
  p = g_strdup_printf ("%s@k", name);
  fail_unless_equals_string (gst_structure_get_string (st, "name"), p);
  g_free (p);
  gst_structure_free (st);

  t0 = g_get_monotonic_time ();
  for (i = 0; i < n; i++) {
    gint64 due = t0 + (gint64) i * (period / GST_USECOND), now;

    if (i == r_b)
      pb = spawn_src (name, "b", NULL);
    if (i == r_py)
      ppy = spawn_python (name, "py");
    if (i == r_l)
      pl = spawn_src (name, "l", NULL);
    if (i == r_l_out) {
      /* l leaves on its own: gst-launch-1.0 stops on SIGINT */
      wait_msg (&c, "zbsink-reader-joined", "l", 10000);
      kill (pl, SIGINT);        /* reaped after the stream */
    }
    if (i == r_stop)
      kill (ps, SIGSTOP);
    if (i == r_cont) {
      st = reader_stats (sink, "s");
      fail_unless (st != NULL);
      fail_unless (gst_structure_get_uint64 (st, "drops", &drops_s));
      fail_unless (drops_s > 0, "the stopped reader missed nothing");
      gst_structure_free (st);
      kill (ps, SIGCONT);
    }
    if (i == r_kill)
      kill (pk, SIGKILL);
    fail_unless_equals_int (gst_app_src_push_buffer (GST_APP_SRC (src),
            counter_buffer (i, 0)), GST_FLOW_OK);
    collect (&c, 0);
    now = g_get_monotonic_time ();
    if (due > now)
      g_usleep (due - now);
    else
      late_max = MAX (late_max, now - due);
  }
  /* the sink kept up with the live pace while s was stopped: what it
   * has sent to a is (nearly) all that was pushed */
  st = reader_stats (sink, "a");
  fail_unless (st != NULL);
  fail_unless (gst_structure_get_uint64 (st, "frames", &frames_a));
  gst_structure_free (st);
  g_printerr ("a: %" G_GUINT64_FORMAT " of %u frames written when the last "
      "was pushed; pusher at most %" G_GINT64_FORMAT " us late\n", frames_a,
      n, late_max);
  fail_unless (frames_a + 50 >= n, "a got %" G_GUINT64_FORMAT, frames_a);

  fail_unless (gst_app_src_end_of_stream (GST_APP_SRC (src)) == GST_FLOW_OK);
  {
    GstMessage *m = zbt_pop (c.bus, GST_MESSAGE_EOS, 20000);

    fail_unless (m != NULL, "no EOS");
    gst_message_unref (m);
  }
  collect (&c, 0);

  /* bus messages */
  fail_unless_equals_uint64 (msg_pid (wait_msg (&c, "zbsink-reader-joined",
              "b", 1000)), (guint64) pb);
  fail_unless_equals_uint64 (msg_pid (wait_msg (&c, "zbsink-reader-joined",
              "py", 1000)), (guint64) ppy);
  fail_unless_equals_uint64 (msg_pid (wait_msg (&c, "zbsink-reader-joined",
              "l", 1000)), (guint64) pl);
  st = (GstStructure *) wait_msg (&c, "zbsink-reader-left", "k", 1000);
  fail_unless_equals_uint64 (msg_pid (st), (guint64) pk);
  fail_unless_equals_string (gst_structure_get_string (st, "reason"), "died");
  st = (GstStructure *) wait_msg (&c, "zbsink-reader-left", "l", 1000);
  fail_unless_equals_uint64 (msg_pid (st), (guint64) pl);
  fail_unless_equals_string (gst_structure_get_string (st, "reason"),
      "disconnected");
  fail_unless (find_msg (&c, "zbsink-reader-left", "a") == NULL);
  /* a, b, s, py */
  fail_unless_equals_int (readers_prop (sink), 4);
  st = reader_stats (sink, "s");
  fail_unless (gst_structure_get_uint64 (st, "drops", &drops_s));
  gst_structure_free (st);

  fail_unless (zbt_wait_pid (pk, 5000) != -1);
  fail_unless (zbt_wait_pid (pl, 10000) != -1);
  /* every reader got EOS and left */
  expect_exit0 (pa, "a");
  expect_exit0 (pb, "b");
  expect_exit0 (ps, "s");
  expect_exit0 (ppy, "py");

  p = out_path ("a");
  ca = read_counters_file (p);
  g_free (p);
  fail_unless_equals_uint64 (gaps (ca, "a", 0, n - 1), 0);
  fail_unless_equals_int (ca->len, n);
  p = out_path ("b");
  cb = read_counters_file (p);
  g_free (p);
  /* joined within 300 ms (150 frames) of its start */
  fail_unless_equals_uint64 (gaps (cb, "b", r_b + 150, n - 1), 0);
  p = out_path ("py");
  cpy = read_counters_json (p, &lat_py);
  g_free (p);
  fail_unless_equals_uint64 (gaps (cpy, "py", r_py + 250, n - 1), 0);
  p = out_path ("s");
  cs = read_counters_file (p);
  g_free (p);
  fail_unless_equals_uint64 (gaps (cs, "s", 0, n - 1), drops_s);
  /* from push to the Python reader, all along (s stopped, k killed, l
   * leaving, others joining): never a stall of the stream */
  g_printerr ("py: largest latency from push to read %" G_GUINT64_FORMAT
      " us\n", lat_py);
  fail_unless (lat_py < 250 * 1000, "py waited %" G_GUINT64_FORMAT " us",
      lat_py);
  g_printerr ("b from %" G_GUINT64_FORMAT " (started at %u), py from %"
      G_GUINT64_FORMAT " (started at %u), s missed %" G_GUINT64_FORMAT
      "\n", g_array_index (cb, guint64, 0), r_b, g_array_index (cpy, guint64,
          0), r_py, drops_s);

  g_array_unref (ca);
  g_array_unref (cb);
  g_array_unref (cs);
  g_array_unref (cpy);
  gst_object_unref (src);
  gst_object_unref (sink);
  gst_object_unref (c.bus);
  zbt_stop_and_free (wp);
  g_ptr_array_unref (c.msgs);
  g_rand_free (rand);
  remove_outputs (name, ids);
  fail_unless (zbt_no_leftovers (name));
  g_free (name);
}

GST_END_TEST;

/* A non-live writer (reader-policy=auto: block) waits for its readers,
 * but a SIGSTOPped one costs one reader-timeout, not one per frame: then
 * it is skipped (stalled) while the other reader gets every frame, and
 * served again once it has room. */
GST_START_TEST (test_fanout_block_stopped_reader_costs_one_timeout)
{
  const gchar *const ids[] = { "a", "s", NULL };
  const guint n = 1200, stop_at = 100, cont_at = 1000;
  gchar *name = zbt_name ();
  GstElement *wp, *src, *sink;
  Collector c;
  GstStructure *st;
  GArray *ca, *cs;
  GPid pa, ps;
  guint64 drops_s = 0;
  gboolean stalled = FALSE;
  gint64 t_stop = 0, t_end;
  guint i;
  gchar *p;

  wp = zbt_pipeline ("appsrc name=src is-live=false block=true "
      "max-bytes=16384 format=time caps=application/x-zbfanout ! "
      "zbsink name=sink buffer-name=%s sync=false reader-timeout=300", name);
  src = gst_bin_get_by_name (GST_BIN (wp), "src");
  sink = gst_bin_get_by_name (GST_BIN (wp), "sink");
  c.bus = gst_element_get_bus (wp);
  c.msgs = g_ptr_array_new_with_free_func ((GDestroyNotify)
      gst_structure_free);
  pa = spawn_src (name, "a", NULL);
  ps = spawn_src (name, "s", "payload-size=262144");
  fail_unless (gst_element_set_state (wp, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  wait_msg (&c, "zbsink-reader-joined", "a", 10000);
  wait_msg (&c, "zbsink-reader-joined", "s", 10000);

  for (i = 0; i < n; i++) {
    if (i == stop_at) {
      /* what was pushed has reached s's ring */
      gint64 end = g_get_monotonic_time () + 5 * G_USEC_PER_SEC;
      guint64 f = 0;

      do {
        st = reader_stats (sink, "s");
        gst_structure_get_uint64 (st, "frames", &f);
        gst_structure_free (st);
        fail_unless (g_get_monotonic_time () < end);
      } while (f < stop_at);
      kill (ps, SIGSTOP);
      t_stop = g_get_monotonic_time ();
    }
    if (i == cont_at) {
      /* everything before pushed: at most 4 frames wait in appsrc */
      t_end = g_get_monotonic_time ();
      st = reader_stats (sink, "s");
      gst_structure_get_boolean (st, "stalled", &stalled);
      gst_structure_get_uint64 (st, "drops", &drops_s);
      gst_structure_free (st);
      g_printerr ("%u frames after the stop took %" G_GINT64_FORMAT " ms; s "
          "stalled %d, %" G_GUINT64_FORMAT " drops\n", cont_at - stop_at,
          (t_end - t_stop) / 1000, stalled, drops_s);
      fail_unless (stalled, "the stopped reader is not marked stalled");
      fail_unless (drops_s > 0);
      /* one timeout of 300 ms, not one per frame (minutes) */
      fail_unless (t_end - t_stop < 3 * G_USEC_PER_SEC, "%" G_GINT64_FORMAT
          " ms", (t_end - t_stop) / 1000);
      kill (ps, SIGCONT);
    }
    if (i > cont_at)
      g_usleep (2000);          /* s drains its ring and is served again */
    fail_unless_equals_int (gst_app_src_push_buffer (GST_APP_SRC (src),
            counter_buffer (i, GST_MSECOND)), GST_FLOW_OK);
  }
  fail_unless (gst_app_src_end_of_stream (GST_APP_SRC (src)) == GST_FLOW_OK);
  {
    GstMessage *m = zbt_pop (c.bus, GST_MESSAGE_EOS, 20000);

    fail_unless (m != NULL, "no EOS");
    gst_message_unref (m);
  }
  collect (&c, 0);
  st = reader_stats (sink, "s");
  gst_structure_get_uint64 (st, "drops", &drops_s);
  gst_structure_free (st);
  expect_exit0 (pa, "a");
  expect_exit0 (ps, "s");

  p = out_path ("a");
  ca = read_counters_file (p);
  g_free (p);
  fail_unless_equals_int (ca->len, n);
  fail_unless_equals_uint64 (gaps (ca, "a", 0, n - 1), 0);
  p = out_path ("s");
  cs = read_counters_file (p);
  g_free (p);
  fail_unless_equals_uint64 (gaps (cs, "s", 0, n - 1), drops_s);

  g_array_unref (ca);
  g_array_unref (cs);
  gst_object_unref (src);
  gst_object_unref (sink);
  gst_object_unref (c.bus);
  zbt_stop_and_free (wp);
  g_ptr_array_unref (c.msgs);
  remove_outputs (name, ids);
  fail_unless (zbt_no_leftovers (name));
  g_free (name);
}

GST_END_TEST;

static gint fku_events;

static GstPadProbeReturn
count_fku (GstPad * pad, GstPadProbeInfo * info, gpointer data)
{
  if (gst_video_event_is_force_key_unit (GST_PAD_PROBE_INFO_EVENT (info)))
    g_atomic_int_inc (&fku_events);
  return GST_PAD_PROBE_OK;
}

static void
push_h264 (GstElement * src, guint8 tag, gboolean key)
{
  GstBuffer *b = gst_buffer_new_allocate (NULL, 64, NULL);

  gst_buffer_memset (b, 0, tag, 64);
  if (!key)
    GST_BUFFER_FLAG_SET (b, GST_BUFFER_FLAG_DELTA_UNIT);
  GST_BUFFER_PTS (b) = tag * 40 * GST_MSECOND;
  fail_unless_equals_int (gst_app_src_push_buffer (GST_APP_SRC (src), b),
      GST_FLOW_OK);
}

/* A reader of NAME@ID that joins an encoded stream starts at a key unit
 * (upstream is asked for one), with the caps in its metadata at once,
 * while the reader already there gets every unit. */
GST_START_TEST (test_fanout_join_starts_at_key_unit)
{
  gchar *name = zbt_name ();
  GstElement *wp, *r1, *r2, *src, *out1, *out2;
  GstPad *pad;
  GstSample *s;
  GstCaps *caps;
  GstMapInfo map;
  Collector c;
  gint i;

  wp = zbt_pipeline ("appsrc name=src is-live=true format=time "
      "caps=video/x-h264,stream-format=byte-stream,alignment=au ! "
      "zbsink buffer-name=%s sync=false", name);
  src = gst_bin_get_by_name (GST_BIN (wp), "src");
  pad = gst_element_get_static_pad (src, "src");
  g_atomic_int_set (&fku_events, 0);
  gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_EVENT_UPSTREAM, count_fku,
      NULL, NULL);
  gst_object_unref (pad);
  c.bus = gst_element_get_bus (wp);
  c.msgs = g_ptr_array_new_with_free_func ((GDestroyNotify)
      gst_structure_free);
  fail_unless (gst_element_set_state (wp, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);

  r1 = zbt_pipeline ("zbsrc buffer-name=%s reader-id=first "
      "timestamp-mode=passthrough ! appsink " "name=out sync=false", name);
  out1 = gst_bin_get_by_name (GST_BIN (r1), "out");
  fail_unless (gst_element_set_state (r1, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  wait_msg (&c, "zbsink-reader-joined", "first", 10000);
  push_h264 (src, 1, TRUE);
  for (i = 2; i <= 5; i++)
    push_h264 (src, i, FALSE);
  /* the first reader has its key unit: no key unit asked for */
  s = gst_app_sink_try_pull_sample (GST_APP_SINK (out1), 5 * GST_SECOND);
  fail_unless (s != NULL);
  gst_sample_unref (s);
  fail_unless_equals_int (g_atomic_int_get (&fku_events), 0);

  r2 = zbt_pipeline ("zbsrc buffer-name=%s reader-id=late "
      "timestamp-mode=passthrough ! appsink " "name=out sync=false", name);
  out2 = gst_bin_get_by_name (GST_BIN (r2), "out");
  fail_unless (gst_element_set_state (r2, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  wait_msg (&c, "zbsink-reader-joined", "late", 10000);
  for (i = 6; i <= 10; i++)
    push_h264 (src, i, FALSE);
  push_h264 (src, 11, TRUE);
  push_h264 (src, 12, FALSE);

  /* the late reader: caps at once, unit 11 first */
  s = gst_app_sink_try_pull_sample (GST_APP_SINK (out2), 5 * GST_SECOND);
  fail_unless (s != NULL);
  caps = gst_sample_get_caps (s);
  fail_unless (caps != NULL && gst_structure_has_name
      (gst_caps_get_structure (caps, 0), "video/x-h264"));
  fail_if (GST_BUFFER_FLAG_IS_SET (gst_sample_get_buffer (s),
          GST_BUFFER_FLAG_DELTA_UNIT));
  fail_unless (gst_buffer_map (gst_sample_get_buffer (s), &map, GST_MAP_READ));
  fail_unless_equals_int (map.data[0], 11);
  gst_buffer_unmap (gst_sample_get_buffer (s), &map);
  gst_sample_unref (s);
  fail_unless_equals_int (g_atomic_int_get (&fku_events), 1);
  /* the first reader: every unit, 2..12 */
  for (i = 2; i <= 12; i++) {
    s = gst_app_sink_try_pull_sample (GST_APP_SINK (out1), 5 * GST_SECOND);
    fail_unless (s != NULL, "unit %d missing", i);
    fail_unless (gst_buffer_map (gst_sample_get_buffer (s), &map,
            GST_MAP_READ));
    fail_unless_equals_int (map.data[0], i);
    gst_buffer_unmap (gst_sample_get_buffer (s), &map);
    gst_sample_unref (s);
  }

  gst_object_unref (out1);
  gst_object_unref (out2);
  gst_object_unref (src);
  zbt_stop_and_free (r2);
  zbt_stop_and_free (r1);
  gst_object_unref (c.bus);
  zbt_stop_and_free (wp);
  g_ptr_array_unref (c.msgs);
  {
    gchar *b = g_strdup_printf ("%s@first", name);

    fail_unless (zbt_no_leftovers (b));
    g_free (b);
    b = g_strdup_printf ("%s@late", name);
    fail_unless (zbt_no_leftovers (b));
    g_free (b);
  }
  fail_unless (zbt_no_leftovers (name));
  g_free (name);
}

GST_END_TEST;

/* A bad reader-id is a clear error: on the property (at start) and in the
 * zerobuffer:// URI (at once); a good one in the URI sets the property. */
GST_START_TEST (test_reader_id_checked)
{
  const gchar *bad[] = { "", "a/b", "a@b", "a b", NULL };
  gchar *name = zbt_name ();
  GstElement *e;
  GError *err = NULL;
  gchar *uri, *id = NULL;
  gint i;

  for (i = 0; bad[i]; i++) {
    GstElement *p = zbt_pipeline ("zbsrc name=src buffer-name=%s ! fakesink",
        name);
    GstElement *src = gst_bin_get_by_name (GST_BIN (p), "src");
    GstBus *bus = gst_element_get_bus (p);
    GstMessage *m;

    g_object_set (src, "reader-id", bad[i], NULL);
    fail_unless (gst_element_set_state (p, GST_STATE_PAUSED) ==
        GST_STATE_CHANGE_FAILURE, "reader-id '%s' accepted", bad[i]);
    m = zbt_pop (bus, GST_MESSAGE_ERROR, 1000);
    fail_unless (m != NULL);
    gst_message_parse_error (m, &err, NULL);
    fail_unless (strstr (err->message, "Invalid reader-id") != NULL, "%s",
        err->message);
    g_clear_error (&err);
    gst_message_unref (m);
    gst_object_unref (bus);
    gst_object_unref (src);
    gst_element_set_state (p, GST_STATE_NULL);
    gst_object_unref (p);
  }
  /* buffer-name names the stream */
  e = gst_element_factory_make ("zbsrc", NULL);
  g_object_set (e, "buffer-name", "cam@x", "reader-id", "rec", NULL);
  fail_unless (gst_element_set_state (e, GST_STATE_PAUSED) ==
      GST_STATE_CHANGE_FAILURE);
  gst_element_set_state (e, GST_STATE_NULL);
  gst_object_unref (e);

  uri = g_strdup_printf ("zerobuffer://%s?reader-id=a%%2Fb", name);
  e = gst_element_make_from_uri (GST_URI_SRC, uri, NULL, &err);
  fail_unless (e == NULL);
  fail_unless (err != NULL && strstr (err->message, "bad reader-id") !=
      NULL, "%s", err ? err->message : "no error");
  g_clear_error (&err);
  g_free (uri);
  uri = g_strdup_printf ("zerobuffer://%s?reader-id=rec", name);
  e = gst_element_make_from_uri (GST_URI_SRC, uri, NULL, &err);
  fail_unless (e != NULL, "%s", err ? err->message : "");
  g_object_get (e, "reader-id", &id, NULL);
  fail_unless_equals_string (id, "rec");
  g_free (id);
  gst_object_unref (e);
  g_free (uri);
  fail_unless (zbt_no_leftovers (name));
  g_free (name);
}

GST_END_TEST;

/* A reader of NAME@ID that another zbsink already serves is not ours:
 * one warning (not one per look at /dev/shm), no error, and the first
 * writer keeps it. */
GST_START_TEST (test_fanout_busy_reader_warned_once)
{
  gchar *name = zbt_name ();
  GstElement *w1, *w2, *r;
  GstBus *bus2;
  GstMessage *m;
  Collector c;
  GError *err = NULL;
  gint warnings = 0;
  gint64 end;

  r = zbt_pipeline ("zbsrc buffer-name=%s reader-id=a ! fakesink", name);
  fail_unless (gst_element_set_state (r, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  w1 = zbt_pipeline ("videotestsrc is-live=true ! "
      "video/x-raw,width=64,height=48,framerate=30/1 ! zbsink "
      "buffer-name=%s sync=false", name);
  c.bus = gst_element_get_bus (w1);
  c.msgs = g_ptr_array_new_with_free_func ((GDestroyNotify)
      gst_structure_free);
  fail_unless (gst_element_set_state (w1, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  wait_msg (&c, "zbsink-reader-joined", "a", 10000);
  w2 = zbt_pipeline ("videotestsrc is-live=true ! "
      "video/x-raw,width=64,height=48,framerate=30/1 ! zbsink "
      "buffer-name=%s sync=false", name);
  bus2 = gst_element_get_bus (w2);
  fail_unless (gst_element_set_state (w2, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  /* the discovery thread looks again every second: 2.5 s, one warning */
  end = g_get_monotonic_time () + 2500 * 1000;
  while (g_get_monotonic_time () < end) {
    m = zbt_pop (bus2, GST_MESSAGE_WARNING | GST_MESSAGE_ERROR, 100);
    if (m == NULL)
      continue;
    fail_unless (GST_MESSAGE_TYPE (m) == GST_MESSAGE_WARNING);
    gst_message_parse_warning (m, &err, NULL);
    fail_unless (strstr (err->message, "already has a live writer") != NULL,
        "%s", err->message);
    g_clear_error (&err);
    gst_message_unref (m);
    warnings++;
  }
  fail_unless_equals_int (warnings, 1);
  collect (&c, 0);
  fail_unless (find_msg (&c, "zbsink-reader-left", "a") == NULL);
  zbt_assert_no_error (bus2);
  gst_object_unref (bus2);
  zbt_stop_and_free (w2);
  gst_object_unref (c.bus);
  zbt_stop_and_free (w1);
  g_ptr_array_unref (c.msgs);
  zbt_stop_and_free (r);
  p_no_leftovers (name, "a");
  fail_unless (zbt_no_leftovers (name));
  g_free (name);
}

GST_END_TEST;

/* frame-format=raw has no caps records: on a caps change a reader of
 * NAME@ID is left ("caps-changed") and joins again, its new connection's
 * metadata carrying the new caps. */
GST_START_TEST (test_fanout_raw_caps_change_rejoins)
{
  gchar *name = zbt_name ();
  GstElement *wp, *rp, *src, *out;
  GstSample *smp;
  GstCaps *caps;
  Collector c;
  const GstStructure *left;
  gint width = 0, i;
  gint64 end;

  wp = zbt_pipeline ("appsrc name=src is-live=true do-timestamp=true "
      "format=time ! zbsink buffer-name=%s sync=false frame-format=raw", name);
  src = gst_bin_get_by_name (GST_BIN (wp), "src");
  g_object_set (src, "caps", caps = gst_caps_from_string ("video/x-raw,"
          "format=GRAY8,width=16,height=16,framerate=30/1"), NULL);
  gst_caps_unref (caps);
  c.bus = gst_element_get_bus (wp);
  c.msgs = g_ptr_array_new_with_free_func ((GDestroyNotify)
      gst_structure_free);
  fail_unless (gst_element_set_state (wp, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  rp = zbt_pipeline ("zbsrc buffer-name=%s reader-id=raw "
      "timestamp-mode=arrival ! appsink name=out sync=false", name);
  out = gst_bin_get_by_name (GST_BIN (rp), "out");
  fail_unless (gst_element_set_state (rp, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  wait_msg (&c, "zbsink-reader-joined", "raw", 10000);
  gst_app_src_push_buffer (GST_APP_SRC (src),
      gst_buffer_new_allocate (NULL, 256, NULL));
  smp = gst_app_sink_try_pull_sample (GST_APP_SINK (out), 5 * GST_SECOND);
  fail_unless (smp != NULL);
  gst_sample_unref (smp);

  g_object_set (src, "caps", caps = gst_caps_from_string ("video/x-raw,"
          "format=GRAY8,width=32,height=16,framerate=30/1"), NULL);
  gst_caps_unref (caps);
  gst_app_src_push_buffer (GST_APP_SRC (src),
      gst_buffer_new_allocate (NULL, 512, NULL));
  left = wait_msg (&c, "zbsink-reader-left", "raw", 5000);
  fail_unless_equals_string (gst_structure_get_string (left, "reason"),
      "caps-changed");
  /* joins again within the discovery thread's next look (1 s) */
  end = g_get_monotonic_time () + 5 * G_USEC_PER_SEC;
  while (width != 32) {
    fail_unless (g_get_monotonic_time () < end, "no frame with new caps");
    gst_app_src_push_buffer (GST_APP_SRC (src),
        gst_buffer_new_allocate (NULL, 512, NULL));
    smp = gst_app_sink_try_pull_sample (GST_APP_SINK (out), 50 * GST_MSECOND);
    if (smp == NULL)
      continue;
    gst_structure_get_int (gst_caps_get_structure (gst_sample_get_caps (smp),
            0), "width", &width);
    if (width == 32)
      fail_unless_equals_int (gst_buffer_get_size (gst_sample_get_buffer
              (smp)), 512);
    gst_sample_unref (smp);
  }
  for (i = 0; i < (gint) c.msgs->len; i++)
    GST_LOG ("%" GST_PTR_FORMAT, g_ptr_array_index (c.msgs, i));
  gst_object_unref (out);
  gst_object_unref (src);
  zbt_stop_and_free (rp);
  gst_object_unref (c.bus);
  zbt_stop_and_free (wp);
  g_ptr_array_unref (c.msgs);
  p_no_leftovers (name, "raw");
  fail_unless (zbt_no_leftovers (name));
  g_free (name);
}

GST_END_TEST;

static guint64
hash_sample (GstSample * smp)
{
  GstMapInfo map;
  guint64 h = 14695981039346656037ULL;
  gsize i;

  fail_unless (gst_buffer_map (gst_sample_get_buffer (smp), &map,
          GST_MAP_READ));
  for (i = 0; i < map.size; i++) {
    h ^= map.data[i];
    h *= 1099511628211ULL;
  }
  gst_buffer_unmap (gst_sample_get_buffer (smp), &map);
  return h ^ map.size;
}

/* Upstream filling blocks of zbsink's pool: the reader of NAME gets pool
 * records (zero copy), a reader of NAME@ID a copy of each frame, the same
 * bytes. */
GST_START_TEST (test_fanout_pool_frames_copied_to_readers)
{
  const gint n = 60;
  gchar *name = zbt_name ();
  GstElement *wp, *rp, *sink, *main_out, *copy_out;
  Collector c;
  gint i;

  rp = zbt_pipeline ("zbsrc buffer-name=%s timestamp-mode=arrival ! "
      "appsink name=main sync=false max-buffers=%d "
      "zbsrc buffer-name=%s reader-id=copy timestamp-mode=arrival ! "
      "appsink name=copy sync=false max-buffers=%d", name, n, name, n);
  main_out = gst_bin_get_by_name (GST_BIN (rp), "main");
  copy_out = gst_bin_get_by_name (GST_BIN (rp), "copy");
  fail_unless (gst_element_set_state (rp, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  wp = zbt_pipeline ("videotestsrc num-buffers=%d pattern=ball ! "
      "video/x-raw,format=I420,width=320,height=240 ! zbsink name=sink "
      "buffer-name=%s sync=false", n, name);
  sink = gst_bin_get_by_name (GST_BIN (wp), "sink");
  c.bus = gst_element_get_bus (wp);
  c.msgs = g_ptr_array_new_with_free_func ((GDestroyNotify)
      gst_structure_free);
  /* prerolled: nothing written yet; the reader of NAME@ID is served
   * from the first frame on */
  fail_unless (zbt_set_state (wp, GST_STATE_PAUSED) !=
      GST_STATE_CHANGE_FAILURE);
  wait_msg (&c, "zbsink-reader-joined", "copy", 10000);
  fail_unless (gst_element_set_state (wp, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  for (i = 0; i < n; i++) {
    GstSample *a = gst_app_sink_try_pull_sample (GST_APP_SINK (main_out),
        5 * GST_SECOND);
    GstSample *b = gst_app_sink_try_pull_sample (GST_APP_SINK (copy_out),
        5 * GST_SECOND);

    fail_unless (a != NULL && b != NULL, "frame %d: %p %p", i, a, b);
    fail_unless (hash_sample (a) == hash_sample (b), "frame %d differs", i);
    gst_sample_unref (a);
    gst_sample_unref (b);
  }
  /* the reader of NAME and the reader of NAME@copy, that of NAME first */
  fail_unless_equals_int (readers_prop (sink), 2);
  {
    GstStructure *stats = NULL;
    const GValue *readers;

    g_object_get (sink, "stats", &stats, NULL);
    readers = gst_structure_get_value (stats, "readers");
    fail_unless_equals_int (gst_value_array_get_size (readers), 2);
    fail_unless_equals_string (gst_structure_get_string
        (gst_value_get_structure (gst_value_array_get_value (readers, 0)),
            "name"), name);
    gst_structure_free (stats);
  }
  zbt_wait_eos (wp, 10000);
  /* the pool was used: the reader of NAME got pool records */
  fail_unless (zbt_stat_u64 (sink, "zero-copy-frames") > 0);
  {
    GstStructure *st = reader_stats (sink, "copy");
    guint64 frames = 0;

    fail_unless (st != NULL);
    gst_structure_get_uint64 (st, "frames", &frames);
    fail_unless_equals_uint64 (frames, n);
    gst_structure_free (st);
  }
  gst_object_unref (sink);
  gst_object_unref (main_out);
  gst_object_unref (copy_out);
  gst_object_unref (c.bus);
  zbt_stop_and_free (wp);
  g_ptr_array_unref (c.msgs);
  zbt_stop_and_free (rp);
  p_no_leftovers (name, "copy");
  fail_unless (zbt_no_leftovers (name));
  g_free (name);
}

GST_END_TEST;

static Suite *
zbfanout_suite (void)
{
  Suite *s = suite_create ("zbfanout");
  TCase *tc = tcase_create ("fanout");

  tcase_set_timeout (tc, 90);
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_reader_id_checked);
  tcase_add_test (tc, test_fanout_join_starts_at_key_unit);
  tcase_add_test (tc, test_fanout_busy_reader_warned_once);
  tcase_add_test (tc, test_fanout_raw_caps_change_rejoins);
  tcase_add_test (tc, test_fanout_pool_frames_copied_to_readers);
  tcase_add_test (tc, test_fanout_live_join_leave_stop_kill);
  tcase_add_test (tc, test_fanout_block_stopped_reader_costs_one_timeout);
  return s;
}

ZBT_MAIN (zbfanout_suite);
