/* Fan-out (docs/fanout.md, docs/elements.md "Many readers"): one zbsink,
 * readers of NAME@ID in other processes (zbsrc reader-id, the Python
 * binding by name) that join and leave at random, one SIGSTOPped, one
 * killed with -9; the others see every frame, checked by the counter in
 * each payload; bus messages, the readers property and the stats; the
 * writer's error reaching every reader. In one process:
 * test_zbfanoutelem.c. */

#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include <gst/app/gstappsrc.h>
#include <gst/check/gstcheck.h>
#include <glib/gstdio.h>

#include <zerobuffer/zerobuffer.h>

#include "zbfanout-helpers.h"

#define FRAME 4096

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

  /* not live: a reader that must see every frame from the first, also
   * those presented before its pipeline reached PLAYING (a live zbsrc
   * drops those: the Debian 11 chroot under load missed frames 0-1) */
  pa = spawn_src (name, "a", "is-live=false");
  /* a small ring: stopped, it fills within a few dozen frames */
  ps = spawn_src (name, "s", "payload-size=262144 is-live=false");
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
      "zbsink name=sink buffer-name=%s sync=false reader-timeout=1000", name);
  src = gst_bin_get_by_name (GST_BIN (wp), "src");
  sink = gst_bin_get_by_name (GST_BIN (wp), "sink");
  c.bus = gst_element_get_bus (wp);
  c.msgs = g_ptr_array_new_with_free_func ((GDestroyNotify)
      gst_structure_free);
  /* not live: a reader that must see every frame from the first, also
   * those presented before its pipeline reached PLAYING (a live zbsrc
   * drops those: the Debian 11 chroot under load missed frames 0-1) */
  pa = spawn_src (name, "a", "is-live=false");
  ps = spawn_src (name, "s", "payload-size=262144 is-live=false");
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
      /* one timeout of 1 s, not one per frame (minutes); 1 s (the
       * default) so that a loaded machine does not stall reader a */
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

/* The writer's pipeline fails (identity error-after in a gst-launch-1.0
 * writer whose upstream is @upstream): every reader of NAME@ID gets the
 * writer's error record and posts the writer's message as an error, as
 * the reader of NAME does (test_zbwritererror.c). */
static void
check_error_reaches_every_reader (const gchar * upstream)
{
  const gchar *ids[] = { "a", "b" };
  gchar *name = zbt_name ();
  GstElement *rp[2];
  GstBus *bus[2];
  gchar *desc;
  GPid pid;
  gint k;

  for (k = 0; k < 2; k++) {
    rp[k] = zbt_pipeline ("zbsrc buffer-name=%s reader-id=%s "
        "on-writer-lost=eos ! fakesink sync=false", name, ids[k]);
    /* a live source: PLAYING without preroll, its buffer made in
     * READY -> PAUSED */
    fail_unless (gst_element_set_state (rp[k], GST_STATE_PLAYING) !=
        GST_STATE_CHANGE_FAILURE);
    bus[k] = gst_element_get_bus (rp[k]);
  }
  for (k = 0; k < 2; k++) {
    gchar *path = g_strdup_printf ("/dev/shm/%s@%s", name, ids[k]);
    gint64 end = g_get_monotonic_time () + 5 * G_USEC_PER_SEC;

    while (!g_file_test (path, G_FILE_TEST_EXISTS)) {
      fail_unless (g_get_monotonic_time () < end, "no %s", path);
      g_usleep (5000);
    }
    g_free (path);
  }
  desc = g_strdup_printf ("%s ! zbsink buffer-name=%s", upstream, name);
  pid = zbt_spawn_launch (desc);
  g_free (desc);
  for (k = 0; k < 2; k++) {
    GstMessage *msg = zbt_pop (bus[k], GST_MESSAGE_ERROR | GST_MESSAGE_EOS,
        20000);
    GError *err = NULL;

    fail_unless (msg != NULL, "reader %s: neither error nor EOS", ids[k]);
    fail_unless (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ERROR,
        "reader %s: the writer's failure arrived as %s", ids[k],
        GST_MESSAGE_TYPE_NAME (msg));
    gst_message_parse_error (msg, &err, NULL);
    fail_unless (strstr (err->message, "Failed after iterations as "
            "requested") != NULL, "reader %s: %s", ids[k], err->message);
    g_error_free (err);
    gst_message_unref (msg);
    gst_object_unref (bus[k]);
  }
  fail_unless (zbt_wait_pid (pid, 10000) != -1, "the writer did not exit");
  for (k = 0; k < 2; k++) {
    gst_element_set_state (rp[k], GST_STATE_NULL);
    gst_object_unref (rp[k]);
    p_no_leftovers (name, ids[k]);
  }
  fail_unless (zbt_no_leftovers (name));
  g_free (name);
}

GST_START_TEST (test_fanout_writer_error_reaches_every_reader)
{
  check_error_reaches_every_reader ("videotestsrc ! video/x-raw,format=I420,"
      "width=64,height=48,framerate=100/1 ! identity error-after=30");
}

GST_END_TEST;

/* The same when upstream sends no caps and fails before the first frame
 * (identity sleep-time leaves the readers time to join): the error record
 * follows the readers' metadata, without which zbsrc took it for a raw
 * frame and ended with EOS. A live source: in a non-live pipeline that
 * fails while prerolling, gst-launch-1.0 may stop zbsink before zbsink
 * sees the error on the bus, and then no error record is sent at all (to
 * any reader; not a matter of caps). */
GST_START_TEST (test_fanout_no_caps_error_record)
{
  check_error_reaches_every_reader ("fakesrc is-live=true sizetype=fixed "
      "sizemax=64 ! identity sleep-time=300000 ! identity error-after=1");
}

GST_END_TEST;

/* The metadata of @name's writer, after its first frame, a copy; NULL
 * when it wrote none. The reader is destroyed. */
static gchar *
first_frame_metadata (zb_reader * r, const gchar * name)
{
  const void *meta = NULL;
  size_t size = 0;
  zb_frame frame;
  gchar *out = NULL;
  int ret;

  ret = zb_reader_read (r, 10000, &frame);
  if (ret == 0) {
    zb_reader_release (r, &frame);
    if (zb_reader_get_metadata (r, &meta, &size) == 0)
      out = g_strndup (meta, size);
  }
  zb_reader_destroy (r);
  fail_unless_equals_int (ret, 0);
  GST_INFO ("metadata of %s: %s", name, out ? out : "(none)");
  return out;
}

#define NOCAPS_SIZE 64
#define NOCAPS_FRAMES 20

/* Upstream sends no caps (fakesrc in a gst-launch-1.0 writer): a reader of
 * NAME@ID gets the metadata that the reader of NAME gets, byte for byte
 * (the frame format, no caps), and zbsrc reader-id therefore reads the
 * frames of frame-format=gst as records: its payloads are fakesrc's
 * bytes. Before the fix the readers of NAME@ID got no metadata. */
static void
check_no_caps_metadata (const gchar * format)
{
  zb_reader_config rc = { 4096, 1 << 16, 0600 };
  gchar *name = zbt_name ();
  gchar *lib_id = g_strdup_printf ("%s@m", name);
  gchar *path = out_path ("nocaps");
  gchar *shm = g_strdup_printf ("/dev/shm/%s@s", name);
  gchar *want = g_strdup_printf ("\"frame_format\":\"%s\"", format);
  gchar *meta[2], *data = NULL, *desc;
  zb_reader *r[2];
  GstElement *rp;
  gint64 end = g_get_monotonic_time () + 5 * G_USEC_PER_SEC;
  gsize len = 0, i;
  GPid pid;

  fail_unless_equals_int (zb_reader_create (name, &rc, &r[0]), 0);
  fail_unless_equals_int (zb_reader_create (lib_id, &rc, &r[1]), 0);
  rp = zbt_pipeline ("zbsrc buffer-name=%s reader-id=s num-buffers=%d ! "
      "filesink location=%s", name, NOCAPS_FRAMES, path);
  fail_unless (gst_element_set_state (rp, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  while (!g_file_test (shm, G_FILE_TEST_EXISTS)) {
    fail_unless (g_get_monotonic_time () < end, "no %s", shm);
    g_usleep (5000);
  }
  /* 100 frames a second for up to 5 s */
  desc = g_strdup_printf ("fakesrc num-buffers=500 sizetype=fixed "
      "sizemax=%d filltype=pattern datarate=%d is-live=true ! zbsink "
      "buffer-name=%s frame-format=%s", NOCAPS_SIZE, NOCAPS_SIZE * 100, name,
      format);
  pid = zbt_spawn_launch (desc);
  g_free (desc);

  meta[0] = first_frame_metadata (r[0], name);
  meta[1] = first_frame_metadata (r[1], lib_id);
  zbt_wait_eos (rp, 20000);
  zbt_stop_and_free (rp);
  zbt_kill (pid, SIGINT, 5000);

  fail_unless (meta[0] != NULL, "%s: no metadata", name);
  fail_unless (strstr (meta[0], want) != NULL, "%s", meta[0]);
  fail_unless (strstr (meta[0], "\"caps\"") == NULL, "%s", meta[0]);
  fail_unless (meta[1] != NULL, "%s: no metadata (%s has %s)", lib_id, name,
      meta[0]);
  fail_unless_equals_string (meta[1], meta[0]);

  fail_unless (g_file_get_contents (path, &data, &len, NULL), "no %s", path);
  fail_unless_equals_uint64 (len, NOCAPS_SIZE * NOCAPS_FRAMES);
  for (i = 0; i < len; i++)
    fail_unless_equals_int ((guint8) data[i], i % NOCAPS_SIZE);

  g_free (data);
  g_unlink (path);
  p_no_leftovers (name, "s");
  p_no_leftovers (name, "m");
  fail_unless (zbt_no_leftovers (name));
  g_free (meta[0]);
  g_free (meta[1]);
  g_free (want);
  g_free (shm);
  g_free (path);
  g_free (lib_id);
  g_free (name);
}

GST_START_TEST (test_fanout_no_caps_metadata)
{
  check_no_caps_metadata ("gst");
}

GST_END_TEST;

GST_START_TEST (test_fanout_no_caps_metadata_raw)
{
  check_no_caps_metadata ("raw");
}

GST_END_TEST;

static Suite *
zbfanout_suite (void)
{
  Suite *s = suite_create ("zbfanout");
  TCase *tc = tcase_create ("fanout");

  tcase_set_timeout (tc, 90);
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_fanout_live_join_leave_stop_kill);
  tcase_add_test (tc, test_fanout_block_stopped_reader_costs_one_timeout);
  tcase_add_test (tc, test_fanout_writer_error_reaches_every_reader);
  tcase_add_test (tc, test_fanout_no_caps_metadata);
  tcase_add_test (tc, test_fanout_no_caps_metadata_raw);
  tcase_add_test (tc, test_fanout_no_caps_error_record);
  return s;
}

ZBT_MAIN (zbfanout_suite);
