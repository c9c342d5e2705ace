/* One pool block serves every reader (docs/fanout.md "Zero copy for every
 * reader"): videotestsrc ! zbsink with the reader of NAME and readers of
 * NAME@ID, each a gst-launch-1.0 process writing every frame to a file.
 * Every frame's content is compared (a hash per frame, writer side
 * against each reader's file), the pool records are counted per reader
 * (zero-copy-frames in the stats), a SIGSTOPped reader does not stall the
 * others (the pool grows, then hands out plain memory that is copied), a
 * reader killed with -9 lets go of its blocks, and no pool segment is
 * left in /dev/shm. */

#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <glib/gstdio.h>

#include <gst/check/gstcheck.h>

#include "zbfanout-helpers.h"
#include <zerobuffer/zerobuffer.h>

#define W 320
#define H 240
#define I420_SIZE (W * H * 3 / 2)

/* ------------------------------------------------------------------ */
/* Readers */

static guint64
reader_u64 (GstElement * sink, const gchar * id, const gchar * field)
{
  GstStructure *st = reader_stats (sink, id);
  guint64 v = 0;

  fail_unless (st != NULL, "no stats of reader %s", id);
  fail_unless (gst_structure_get_uint64 (st, field, &v));
  gst_structure_free (st);
  return v;
}

static gchar *
out_path (const gchar * id)
{
  gchar *f = g_strdup_printf ("sharedpool-%s.raw", id);
  gchar *p = zbt_tmp_path (f);

  g_free (f);
  return p;
}

/* zbsrc of @name (@id NULL) or of @name@@id, every frame into a file. */
static GPid
spawn_reader (const gchar * name, const gchar * id)
{
  gchar *path = out_path (id ? id : "main");
  gchar *rid = id ? g_strdup_printf ("reader-id=%s", id) : g_strdup ("");
  gchar *desc = g_strdup_printf ("zbsrc buffer-name=%s %s is-live=false ! "
      "filesink location=%s", name, rid, path);
  GPid pid;

  g_unlink (path);
  pid = zbt_spawn_launch (desc);
  g_free (desc);
  g_free (rid);
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
check_file (const gchar * id, ZbtHashLog * in)
{
  gchar *path = out_path (id);

  zbt_assert_file_frames (path, I420_SIZE, in);
  g_unlink (path);
  g_free (path);
}

/* The writer: @n frames of 320x240 I420 at @fps (@live: paced by
 * videotestsrc), through a tee if @tee, its sink "zb" in *@zb and what it
 * got in *@in; PAUSED once the readers @ids have joined. */
static GstElement *
writer_paused (const gchar * name, guint n, gint fps, gboolean live,
    gboolean tee, const gchar * extra, const gchar * const *ids,
    Collector * c, GstElement ** zb, ZbtHashLog ** in)
{
  GstElement *wp = zbt_pipeline ("videotestsrc num-buffers=%u pattern=ball "
      "is-live=%d ! video/x-raw,format=I420,width=%d,height=%d,"
      "framerate=%d/1 %s ! zbsink name=zb buffer-name=%s sync=false %s", n,
      live, W, H, fps, tee ? "! tee" : "", name, extra);
  gint64 end = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;
  zb_status st;
  gint i;

  *zb = gst_bin_get_by_name (GST_BIN (wp), "zb");
  *in = zbt_hash_log_new (wp, "zb");

  /* the reader of NAME is there: zbsink connects to it on the first
   * frame (with readers of NAME@ID it does not wait for one) */
  while (zb_inspect (name, &st, NULL, 0, NULL) < 0 || st.reader_pid == 0) {
    fail_unless (g_get_monotonic_time () < end, "no reader of %s", name);
    g_usleep (5000);
  }
  c->bus = gst_element_get_bus (wp);
  c->msgs = g_ptr_array_new_with_free_func ((GDestroyNotify)
      gst_structure_free);
  fail_unless (zbt_set_state (wp, GST_STATE_PAUSED) !=
      GST_STATE_CHANGE_FAILURE);
  for (i = 0; ids[i]; i++)
    wait_msg (c, "zbsink-reader-joined", ids[i], 10000);
  return wp;
}

static void
collector_clear (Collector * c)
{
  gst_object_unref (c->bus);
  g_ptr_array_unref (c->msgs);
}

/* ------------------------------------------------------------------ */

/* NAME, NAME@a, NAME@b: every reader gets every frame intact and in
 * order, each as a pool record of the one block (zero-copy-frames ==
 * frames for each, no fallback, no copy); nothing is left in /dev/shm.
 * 1: through a tee (upstream's own memory): zbsink copies frames into
 * blocks of its pool (pool-copies), one copy for all readers, and none
 * of them counts as zero copy; every reader still gets every frame
 * intact. */
GST_START_TEST (test_every_reader_zero_copy)
{
  const gchar *const ids[] = { "a", "b", NULL };
  const guint n = 150;
  gchar *name = zbt_name ();
  GPid pm, pa, pb;
  GstElement *wp, *zb;
  Collector c;
  ZbtHashLog *in;
  guint64 zc;

  pm = spawn_reader (name, NULL);
  pa = spawn_reader (name, "a");
  pb = spawn_reader (name, "b");
  wp = writer_paused (name, n, 30, FALSE, __i__ == 1, "", ids, &c, &zb, &in);
  fail_unless (zbt_set_state (wp, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  zbt_wait_eos (wp, 30000);

  zc = __i__ == 1 ? 0 : n;
  fail_unless_equals_uint64 (zbt_stat_u64 (zb, "frames-sent"), n);
  fail_unless_equals_uint64 (zbt_stat_u64 (zb, "zero-copy-frames"), zc);
  fail_unless_equals_uint64 (zbt_stat_u64 (zb, "pool-fallbacks"), 0);
  if (__i__ == 1)
    fail_unless (zbt_stat_u64 (zb, "pool-copies") > 0);
  else
    fail_unless_equals_uint64 (zbt_stat_u64 (zb, "pool-copies"), 0);
  fail_unless_equals_uint64 (reader_u64 (zb, "a", "frames"), n);
  fail_unless_equals_uint64 (reader_u64 (zb, "a", "zero-copy-frames"), zc);
  fail_unless_equals_uint64 (reader_u64 (zb, "b", "frames"), n);
  fail_unless_equals_uint64 (reader_u64 (zb, "b", "zero-copy-frames"), zc);

  expect_exit0 (pm, "NAME");
  expect_exit0 (pa, "a");
  expect_exit0 (pb, "b");
  check_file ("main", in);
  check_file ("a", in);
  check_file ("b", in);
  gst_object_unref (zb);
  collector_clear (&c);
  zbt_stop_and_free (wp);
  zbt_wait_no_pool_segments (name, 2000);
  fail_unless (zbt_no_leftovers (name));
  p_no_leftovers (name, "a");
  p_no_leftovers (name, "b");
  zbt_hash_log_free (in);
  g_free (name);
}

GST_END_TEST;

/* NAME@s is SIGSTOPped before the first frame: it holds every block it
 * was sent, the pool grows to its bound and then hands out plain memory,
 * copied to every reader; NAME and NAME@a get every frame intact without
 * a stall (reader-policy=block: s is waited for once, reader-timeout,
 * then skipped while its ring is full). */
GST_START_TEST (test_stopped_reader_no_stall)
{
  const gchar *const ids[] = { "a", "s", NULL };
  const guint n = 300;
  gchar *name = zbt_name ();
  GPid pm, pa, ps;
  GstElement *wp, *zb;
  guint64 zc, fb, zc_a, f_a;
  gint status;
  Collector c;
  ZbtHashLog *in;

  pm = spawn_reader (name, NULL);
  pa = spawn_reader (name, "a");
  ps = spawn_reader (name, "s");
  wp = writer_paused (name, n, 30, FALSE, FALSE,
      "reader-policy=block reader-timeout=300", ids, &c, &zb, &in);
  fail_unless_equals_int (kill (ps, SIGSTOP), 0);
  fail_unless (zbt_set_state (wp, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  zbt_wait_eos (wp, 30000);

  zc = zbt_stat_u64 (zb, "zero-copy-frames");
  fb = zbt_stat_u64 (zb, "pool-fallbacks");
  zc_a = reader_u64 (zb, "a", "zero-copy-frames");
  f_a = reader_u64 (zb, "a", "frames");
  g_printerr ("stopped reader: zero-copy %" G_GUINT64_FORMAT ", fallbacks %"
      G_GUINT64_FORMAT ", a: %" G_GUINT64_FORMAT " of %" G_GUINT64_FORMAT
      " zero copy\n", zc, fb, zc_a, f_a);
  fail_unless_equals_uint64 (zbt_stat_u64 (zb, "frames-sent"), n);
  fail_unless_equals_uint64 (f_a, n);
  /* blocks first, then copies once s holds them all */
  fail_unless (zc > 0 && zc < n, "zero-copy-frames %" G_GUINT64_FORMAT, zc);
  fail_unless (fb > 0);
  fail_unless_equals_uint64 (zc + fb, n);
  fail_unless_equals_uint64 (zc_a, zc);

  expect_exit0 (pm, "NAME");
  expect_exit0 (pa, "a");
  check_file ("main", in);
  check_file ("a", in);
  status = zbt_kill (ps, SIGKILL, 5000);
  fail_unless (WIFSIGNALED (status));
  gst_object_unref (zb);
  collector_clear (&c);
  zbt_stop_and_free (wp);
  zbt_wait_no_pool_segments (name, 2000);
  fail_unless (zbt_no_leftovers (name));
  p_no_leftovers (name, "a");
  zbt_remove_leftovers (name);
  {
    gchar *b = g_strdup_printf ("%s@s", name);
    gchar *p = out_path ("s");

    zbt_remove_leftovers (b);
    g_unlink (p);
    g_free (p);
    g_free (b);
  }
  zbt_hash_log_free (in);
  g_free (name);
}

GST_END_TEST;

/* NAME@k is SIGSTOPped mid-stream until it holds every block the pool
 * may make (pool-fallbacks grow: frames are copied), then killed with -9:
 * it leaves ("died"), the blocks it held are reused (after that frames
 * are pool records again), NAME and NAME@a get every frame intact, and no
 * pool segment is left in /dev/shm. */
GST_START_TEST (test_killed_reader_releases)
{
  const gchar *const ids[] = { "a", "k", NULL };
  const guint n = 600;
  gchar *name = zbt_name ();
  GPid pm, pa, pk;
  GstElement *wp, *zb;
  guint64 zc0, sent0, fb0, zc, sent, fb;
  gint64 end;
  gint status;
  Collector c;
  ZbtHashLog *in;

  pm = spawn_reader (name, NULL);
  pa = spawn_reader (name, "a");
  pk = spawn_reader (name, "k");
  /* live at 200 fps (reader-policy=auto: drop) so that the kill falls
   * mid-stream */
  wp = writer_paused (name, n, 200, TRUE, FALSE, "", ids, &c, &zb, &in);
  fail_unless (zbt_set_state (wp, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  end = g_get_monotonic_time () + 20 * G_USEC_PER_SEC;
  while (reader_u64 (zb, "k", "zero-copy-frames") < 30) {
    fail_unless (g_get_monotonic_time () < end, "k got no frames");
    g_usleep (2000);
  }
  fail_unless_equals_int (kill (pk, SIGSTOP), 0);
  /* k keeps every block it was sent: the pool grows to its bound */
  while (zbt_stat_u64 (zb, "pool-fallbacks") == 0) {
    fail_unless (g_get_monotonic_time () < end, "no fallback");
    g_usleep (2000);
  }
  status = zbt_kill (pk, SIGKILL, 5000);
  fail_unless (WIFSIGNALED (status));
  fail_unless_equals_string (gst_structure_get_string (wait_msg (&c,
              "zbsink-reader-left", "k", 10000), "reason"), "died");
  zc0 = zbt_stat_u64 (zb, "zero-copy-frames");
  sent0 = zbt_stat_u64 (zb, "frames-sent");
  fb0 = zbt_stat_u64 (zb, "pool-fallbacks");
  fail_unless (sent0 < n - 100, "the stream ended before k left (%"
      G_GUINT64_FORMAT " frames)", sent0);
  zbt_wait_eos (wp, 30000);
  zc = zbt_stat_u64 (zb, "zero-copy-frames");
  sent = zbt_stat_u64 (zb, "frames-sent");
  fb = zbt_stat_u64 (zb, "pool-fallbacks");
  g_printerr ("killed reader: left after %" G_GUINT64_FORMAT " frames (%"
      G_GUINT64_FORMAT " fallbacks); then %" G_GUINT64_FORMAT " of %"
      G_GUINT64_FORMAT " zero copy, %" G_GUINT64_FORMAT " fallbacks\n",
      sent0, fb0, zc - zc0, sent - sent0, fb - fb0);
  /* a live source: what it made (the log) is what was sent */
  fail_unless_equals_uint64 (sent, in->hashes->len);
  fail_unless (sent > n - 50, "%" G_GUINT64_FORMAT " frames", sent);
  fail_unless_equals_uint64 (zbt_stat_u64 (zb, "drops"), 0);
  /* k's blocks came back: (nearly) every later frame was a block again */
  fail_unless (zc - zc0 >= (sent - sent0) * 9 / 10, "%" G_GUINT64_FORMAT
      " of %" G_GUINT64_FORMAT " zero copy after k left", zc - zc0,
      sent - sent0);

  expect_exit0 (pm, "NAME");
  expect_exit0 (pa, "a");
  check_file ("main", in);
  check_file ("a", in);
  gst_object_unref (zb);
  collector_clear (&c);
  zbt_stop_and_free (wp);
  zbt_wait_no_pool_segments (name, 2000);
  fail_unless (zbt_no_leftovers (name));
  p_no_leftovers (name, "a");
  {
    gchar *b = g_strdup_printf ("%s@k", name);
    gchar *p = out_path ("k");

    zbt_remove_leftovers (b);
    g_unlink (p);
    g_free (p);
    g_free (b);
  }
  zbt_hash_log_free (in);
  g_free (name);
}

GST_END_TEST;

/* zbsrc reader-id=a (buffer NAME@a) takes the pool records of a writer
 * in another process: 0, a fan-out zbsink buffer-name=NAME (segments
 * named after NAME); 1, a zbsink buffer-name=NAME@a (one reader, segments
 * named after NAME@a). Killed with -9, the writer's segments are removed
 * by the reader; then a second writer, the same. */
GST_START_TEST (test_id_reader_writer_killed)
{
  gchar *name = zbt_name ();
  gchar *wname = __i__ == 0 ? g_strdup (name) : g_strdup_printf ("%s@a", name);
  gchar *desc;
  GstElement *rp, *src;
  GstBus *bus;
  GstMessage *msg;
  GPid pid;
  gint64 end;
  gint round;

  rp = zbt_pipeline ("zbsrc name=src buffer-name=%s reader-id=a ! "
      "fakesink sync=false", name);
  src = gst_bin_get_by_name (GST_BIN (rp), "src");
  bus = gst_element_get_bus (rp);
  fail_unless (gst_element_set_state (rp, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  desc = g_strdup_printf ("videotestsrc is-live=true ! "
      "video/x-raw,format=I420,width=%d,height=%d,framerate=100/1 ! "
      "zbsink buffer-name=%s", W, H, wname);
  for (round = 0; round < 2; round++) {
    guint64 before = zbt_stat_u64 (src, "frames-received");

    pid = zbt_spawn_launch (desc);
    end = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;
    while (zbt_stat_u64 (src, "frames-received") < before + 20) {
      zbt_assert_no_error (bus);
      fail_unless (g_get_monotonic_time () < end, "no frames");
      g_usleep (5000);
    }
    zbt_assert_no_error (bus);
    /* pool records (the segments exist), not copies */
    fail_unless (zbt_pool_segments (wname) > 0, "no pool segment of %s", wname);
    zbt_kill (pid, SIGKILL, 5000);
    msg = zbt_pop_element (bus, "zbsrc-writer-lost", 5000);
    fail_unless (msg != NULL);
    gst_message_unref (msg);
    zbt_wait_no_pool_segments (wname, 2000);
  }
  zbt_assert_no_error (bus);
  gst_object_unref (bus);
  gst_object_unref (src);
  zbt_stop_and_free (rp);
  p_no_leftovers (name, "a");
  g_free (desc);
  g_free (wname);
  g_free (name);
}

GST_END_TEST;

static Suite *
zbsharedpool_suite (void)
{
  Suite *s = suite_create ("zbsharedpool");
  TCase *tc = tcase_create ("general");

  tcase_set_timeout (tc, 120);
  suite_add_tcase (s, tc);
  tcase_add_loop_test (tc, test_every_reader_zero_copy, 0, 2);
  tcase_add_test (tc, test_stopped_reader_no_stall);
  tcase_add_test (tc, test_killed_reader_releases);
  tcase_add_loop_test (tc, test_id_reader_writer_killed, 0, 2);
  return s;
}

ZBT_MAIN (zbsharedpool_suite);
