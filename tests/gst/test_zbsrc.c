/* zbsrc on its own: a flushing seek on the reader's pipeline, properties
 * changed while PLAYING, NULL -> PLAYING -> NULL loops against a writer in
 * another process, and the LATENCY answer. Buffer names carry this
 * binary's pid and the test's, so that a failed test's objects can be
 * removed afterwards (cleanup_names(), run by the parent in fork mode). */

#include <signal.h>
#include <string.h>
#include <sys/wait.h>

#include <glib/gstdio.h>
#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>
#include <zerobuffer/zerobuffer.h>

#include "zbtest.h"

static gint runner_pid;
static gint name_counter;

/* "zbt-src-RUNNER-TEST-N": RUNNER is the pid of the process that runs the
 * tests (the parent in fork mode), TEST the pid of the test itself. */
static gchar *
src_name (void)
{
  return g_strdup_printf ("zbt-src-%d-%d-%d", runner_pid, (int) getpid (),
      g_atomic_int_add (&name_counter, 1));
}

static void
remember_runner (void)
{
  runner_pid = (gint) getpid ();
}

static void
remove_matching (const gchar * dir, const gchar * prefix)
{
  GDir *d = g_dir_open (dir, 0, NULL);
  const gchar *f;

  while (d && (f = g_dir_read_name (d))) {
    if (strstr (f, prefix)) {
      gchar *p = g_build_filename (dir, f, NULL);

      g_unlink (p);
      g_free (p);
    }
  }
  if (d)
    g_dir_close (d);
}

/* Whatever a failed test of this run left in /dev/shm and
 * /tmp/zerobuffer (a passing test has removed its objects already and
 * asserted so). */
static void
cleanup_names (void)
{
  gchar *prefix = g_strdup_printf ("zbt-src-%d-", runner_pid);

  remove_matching ("/dev/shm", prefix);
  remove_matching ("/tmp/zerobuffer", prefix);
  g_free (prefix);
}

static GstStructure *
stats_of (GstElement * src)
{
  GstStructure *s = NULL;

  g_object_get (src, "stats", &s, NULL);
  fail_unless (s != NULL);
  fail_unless (gst_structure_has_name (s, "zbsrc-stats"));
  return s;
}

static gboolean
connected (GstElement * src)
{
  GstStructure *s = stats_of (src);
  gboolean c = FALSE;

  fail_unless (gst_structure_get_boolean (s, "connected", &c));
  gst_structure_free (s);
  return c;
}

/* A started zbsrc for @name; @caps: its caps property, or NULL. */
static GstHarness *
src_harness (const gchar * name, gboolean live, const gchar * caps)
{
  GstElement *e = gst_element_factory_make ("zbsrc", NULL);
  GstHarness *h;

  fail_unless (e != NULL);
  g_object_set (e, "buffer-name", name, "is-live", live, "payload-size",
      (guint64) 65536, NULL);
  if (caps)
    gst_util_set_object_arg (G_OBJECT (e), "caps", caps);
  h = gst_harness_new_with_element (e, NULL, "src");
  gst_object_unref (e);
  gst_harness_play (h);
  return h;
}

static zb_writer *
connect_writer (const gchar * name)
{
  zb_writer_config wc = {.connect_timeout_ms = 5000 };
  zb_writer *w = NULL;

  fail_unless_equals_int (zb_writer_connect (name, &wc, &w), 0);
  return w;
}

/* Whether an EOS event reaches the harness within @ms. */
static gboolean
eos_within (GstHarness * h, gint ms)
{
  gint64 end = g_get_monotonic_time () + (gint64) ms * 1000;

  do {
    GstEvent *ev;

    while ((ev = gst_harness_try_pull_event (h))) {
      gboolean eos = GST_EVENT_TYPE (ev) == GST_EVENT_EOS;

      gst_event_unref (ev);
      if (eos)
        return TRUE;
    }
    g_usleep (10 * 1000);
  } while (g_get_monotonic_time () < end);
  return FALSE;
}

/* ------------------------------------------------------------------ */

/* What the reader's sink saw around flushes; atomics, written by the
 * streaming thread. */
typedef struct
{
  gint buffers;
  gint flush_stops;
  gint segment_after_flush;     /* a SEGMENT since the last FLUSH_STOP */
  gint buffers_after_flush;     /* buffers since the last FLUSH_STOP */
  gint unsegmented;             /* buffers after a FLUSH_STOP, no SEGMENT */
  gint discont_missing;         /* first buffer after a flush not DISCONT */
} SeekWatch;

static GstPadProbeReturn
seek_probe (GstPad * pad, GstPadProbeInfo * info, gpointer user_data)
{
  SeekWatch *w = user_data;

  if (info->type & GST_PAD_PROBE_TYPE_BUFFER) {
    GstBuffer *buf = GST_PAD_PROBE_INFO_BUFFER (info);

    if (g_atomic_int_get (&w->flush_stops) > 0) {
      if (!g_atomic_int_get (&w->segment_after_flush))
        g_atomic_int_inc (&w->unsegmented);
      if (g_atomic_int_add (&w->buffers_after_flush, 1) == 0 &&
          !GST_BUFFER_FLAG_IS_SET (buf, GST_BUFFER_FLAG_DISCONT))
        g_atomic_int_inc (&w->discont_missing);
    }
    g_atomic_int_inc (&w->buffers);
  } else if (info->type & (GST_PAD_PROBE_TYPE_EVENT_BOTH |
          GST_PAD_PROBE_TYPE_EVENT_FLUSH)) {
    GstEvent *ev = GST_PAD_PROBE_INFO_EVENT (info);

    if (GST_EVENT_TYPE (ev) == GST_EVENT_FLUSH_STOP) {
      g_atomic_int_set (&w->segment_after_flush, 0);
      g_atomic_int_set (&w->buffers_after_flush, 0);
      g_atomic_int_inc (&w->flush_stops);
    } else if (GST_EVENT_TYPE (ev) == GST_EVENT_SEGMENT) {
      g_atomic_int_set (&w->segment_after_flush, 1);
    }
  }
  return GST_PAD_PROBE_OK;
}

static void
wait_atomic (gint * v, gint n, gint ms, const gchar * what)
{
  gint64 end = g_get_monotonic_time () + (gint64) ms * 1000;

  while (g_atomic_int_get (v) < n) {
    fail_unless (g_get_monotonic_time () < end, "%s: %d of %d within %d ms",
        what, g_atomic_int_get (v), n, ms);
    g_usleep (5 * 1000);
  }
}

/* A flushing seek sent to the reader's pipeline while a writer in another
 * process streams: the seek is taken (zbsrc is not seekable to a position
 * but flushes), returns without a deadlock, the pipeline gets back to
 * PLAYING, and the buffers after each flush come in a new segment, the
 * first flagged DISCONT. Fails if zbsrc refuses the seek (nothing
 * flushed), if the streaming thread does not wake up for the flush, or if
 * buffers after the flush come without a segment. */
GST_START_TEST (test_flushing_seek)
{
  gchar *name = src_name ();
  SeekWatch w = { 0 };
  GstElement *rp, *src, *sink;
  GstQuery *q;
  GstPad *pad;
  GstBus *bus;
  gchar *desc;
  gboolean seekable = TRUE;
  GPid pid;
  gint i;

  rp = zbt_pipeline ("zbsrc name=src buffer-name=%s ! fakesink name=sink "
      "sync=true", name);
  src = gst_bin_get_by_name (GST_BIN (rp), "src");
  sink = gst_bin_get_by_name (GST_BIN (rp), "sink");
  pad = gst_element_get_static_pad (sink, "sink");
  gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_BUFFER |
      GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM | GST_PAD_PROBE_TYPE_EVENT_FLUSH,
      seek_probe, &w, NULL);
  bus = gst_element_get_bus (rp);
  fail_unless (zbt_set_state (rp, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  desc = g_strdup_printf ("videotestsrc is-live=true ! video/x-raw,"
      "format=GRAY8,width=64,height=48,framerate=50/1 ! zbsink "
      "buffer-name=%s", name);
  pid = zbt_spawn_launch (desc);
  wait_atomic (&w.buffers, 5, 10000, "buffers before the seek");

  /* no position to seek to */
  q = gst_query_new_seeking (GST_FORMAT_TIME);
  fail_unless (gst_element_query (src, q));
  gst_query_parse_seeking (q, NULL, &seekable, NULL, NULL);
  fail_if (seekable);
  gst_query_unref (q);

  for (i = 1; i <= 3; i++) {
    fail_unless (gst_element_seek_simple (rp, GST_FORMAT_TIME,
            GST_SEEK_FLAG_FLUSH, 0), "seek %d refused", i);
    fail_unless_equals_int (g_atomic_int_get (&w.flush_stops), i);
    fail_unless (gst_element_get_state (rp, NULL, NULL, 10 * GST_SECOND) ==
        GST_STATE_CHANGE_SUCCESS, "no preroll after seek %d", i);
    wait_atomic (&w.buffers_after_flush, 5, 10000, "buffers after a seek");
    fail_unless (g_atomic_int_get (&w.segment_after_flush));
  }
  fail_unless_equals_int (g_atomic_int_get (&w.unsegmented), 0);
  fail_unless_equals_int (g_atomic_int_get (&w.discont_missing), 0);
  zbt_assert_no_error (bus);

  zbt_kill (pid, SIGINT, 5000);
  gst_object_unref (pad);
  gst_object_unref (sink);
  gst_object_unref (src);
  gst_object_unref (bus);
  zbt_stop_and_free (rp);
  fail_unless (zbt_no_leftovers (name));
  g_free (desc);
  g_free (name);
}

GST_END_TEST;

/* timeout and on-writer-lost are MUTABLE_PLAYING: changed while PLAYING,
 * they apply without a restart. A writer that connected and went quiet is
 * not lost with timeout=0; once timeout=150 is set, it is (connected
 * drops) and, on-writer-lost being wait, the stream goes on; once
 * on-writer-lost=eos is set, the next timeout ends the stream. Fails if
 * either is latched at start. */
GST_START_TEST (test_timeout_set_while_playing)
{
  gchar *name = src_name ();
  GstHarness *h = src_harness (name, FALSE, "application/x-test");
  GstElement *src = h->element;
  zb_writer *w;
  GstBuffer *buf;

  w = connect_writer (name);
  fail_unless_equals_int (zb_writer_write (w, "one", 3), 0);
  buf = gst_harness_pull (h);
  fail_unless (buf != NULL);
  gst_buffer_unref (buf);
  fail_unless (connected (src));

  /* timeout=0: never lost */
  g_usleep (400 * 1000);
  fail_unless (connected (src));

  g_object_set (src, "timeout", 150, NULL);
  {
    gint64 end = g_get_monotonic_time () + 5 * G_USEC_PER_SEC;

    while (connected (src)) {
      fail_unless (g_get_monotonic_time () < end,
          "timeout set while PLAYING did not apply");
      g_usleep (10 * 1000);
    }
  }
  /* on-writer-lost=wait: no EOS */
  fail_if (eos_within (h, 300));

  /* on-writer-lost=eos from now on; a frame restarts the timeout */
  gst_util_set_object_arg (G_OBJECT (src), "on-writer-lost", "eos");
  fail_unless_equals_int (zb_writer_write (w, "two", 3), 0);
  buf = gst_harness_pull (h);
  fail_unless (buf != NULL);
  fail_unless (gst_buffer_memcmp (buf, 0, "two", 3) == 0);
  gst_buffer_unref (buf);
  fail_unless (eos_within (h, 5000),
      "on-writer-lost set while PLAYING did not apply");

  zb_writer_disconnect (w);
  gst_harness_teardown (h);
  fail_unless (zbt_no_leftovers (name));
  g_free (name);
}

GST_END_TEST;

/* A reader cycled NULL -> PLAYING -> NULL 20 times while a writer in
 * another process keeps streaming (and reconnects to each new reader):
 * every cycle receives frames, every NULL returns (no hang) and removes
 * the buffer's shared memory, semaphores and lock file, and the counters
 * restart at each start. Fails on a hang, on objects left in /dev/shm or
 * /tmp/zerobuffer after a stop, or on a cycle without frames. */
GST_START_TEST (test_null_playing_loops)
{
  gchar *name = src_name ();
  GstElement *rp, *src;
  GstBus *bus;
  gchar *desc;
  GPid pid;
  gint i;

  rp = zbt_pipeline ("zbsrc name=src buffer-name=%s ! fakesink sync=false",
      name);
  src = gst_bin_get_by_name (GST_BIN (rp), "src");
  bus = gst_element_get_bus (rp);
  desc = g_strdup_printf ("videotestsrc is-live=true ! video/x-raw,"
      "format=GRAY8,width=64,height=48,framerate=100/1 ! zbsink "
      "buffer-name=%s", name);
  pid = zbt_spawn_launch (desc);

  for (i = 0; i < 20; i++) {
    gint64 end = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;

    fail_unless (zbt_set_state (rp, GST_STATE_PLAYING) !=
        GST_STATE_CHANGE_FAILURE, "cycle %d: no PLAYING", i);
    /* a fresh start counts from 0 */
    while (zbt_stat_u64 (src, "frames-received") < 2) {
      fail_unless (g_get_monotonic_time () < end, "cycle %d: no frames", i);
      g_usleep (5 * 1000);
    }
    fail_unless_equals_int (zbt_set_state (rp, GST_STATE_NULL),
        GST_STATE_CHANGE_SUCCESS);
    fail_unless (zbt_no_leftovers (name), "cycle %d: objects left", i);
    zbt_assert_no_error (bus);
    /* the writer process is still there, waiting for the next reader */
    fail_unless_equals_int (zbt_wait_pid (pid, 0), -1);
  }

  zbt_kill (pid, SIGINT, 5000);
  gst_object_unref (src);
  gst_object_unref (bus);
  zbt_stop_and_free (rp);
  fail_unless (zbt_no_leftovers (name));
  g_free (desc);
  g_free (name);
}

GST_END_TEST;

static void
query_latency (GstHarness * h, gboolean * live, GstClockTime * min,
    GstClockTime * max)
{
  GstQuery *q = gst_query_new_latency ();

  fail_unless (gst_pad_peer_query (h->sinkpad, q));
  gst_query_parse_latency (q, live, min, max);
  gst_query_unref (q);
}

/* LATENCY of a live zbsrc: live, min 0 before a writer, one frame
 * duration (40 ms at 25/1) once the writer's caps are known, max none; and
 * back to 0 after a restart (frame_duration is reset in start(), not kept
 * from the last writer). */
GST_START_TEST (test_latency)
{
  gchar *name = src_name ();
  const char *meta = "video/x-raw, format=(string)GRAY8, width=(int)4, "
      "height=(int)2, framerate=(fraction)25/1";
  GstHarness *h = src_harness (name, TRUE, NULL);
  GstClockTime min, max;
  gboolean live;
  zb_writer *w;
  GstBuffer *buf;

  query_latency (h, &live, &min, &max);
  fail_unless (live);
  fail_unless_equals_uint64 (min, 0);
  fail_unless_equals_uint64 (max, GST_CLOCK_TIME_NONE);

  w = connect_writer (name);
  fail_unless_equals_int (zb_writer_set_metadata (w, meta, strlen (meta)), 0);
  fail_unless_equals_int (zb_writer_write (w, "abcdefgh", 8), 0);
  buf = gst_harness_pull (h);
  fail_unless (buf != NULL);
  gst_buffer_unref (buf);
  query_latency (h, &live, &min, &max);
  fail_unless (live);
  fail_unless_equals_uint64 (min, 40 * GST_MSECOND);
  fail_unless_equals_uint64 (max, GST_CLOCK_TIME_NONE);
  fail_unless_equals_uint64 (gst_harness_query_latency (h), 40 * GST_MSECOND);

  /* a restart forgets the last writer's framerate */
  zb_writer_disconnect (w);
  fail_unless_equals_int (gst_element_set_state (h->element, GST_STATE_NULL),
      GST_STATE_CHANGE_SUCCESS);
  fail_unless (zbt_no_leftovers (name));
  gst_harness_play (h);
  query_latency (h, &live, &min, &max);
  fail_unless (live);
  fail_unless_equals_uint64 (min, 0);

  gst_harness_teardown (h);
  fail_unless (zbt_no_leftovers (name));
  g_free (name);
}

GST_END_TEST;

/* With channel-name, zbsrc creates NAME_request but buffer-name reads
 * back what the user set (nothing), also after a restart; setting both is
 * an error at start. */
GST_START_TEST (test_channel_name_keeps_buffer_name)
{
  gchar *chan = src_name ();
  gchar *req = g_strdup_printf ("%s_request", chan);
  GstElement *p, *src;
  gchar *bn = NULL;
  gint i;

  p = zbt_pipeline ("zbsrc name=src channel-name=%s ! fakesink", chan);
  src = gst_bin_get_by_name (GST_BIN (p), "src");
  for (i = 0; i < 2; i++) {
    fail_unless (zbt_set_state (p, GST_STATE_PAUSED) !=
        GST_STATE_CHANGE_FAILURE);
    fail_if (zbt_no_leftovers (req), "no buffer %s", req);
    g_object_get (src, "buffer-name", &bn, NULL);
    fail_unless (bn == NULL, "buffer-name became %s", bn);
    fail_unless_equals_int (zbt_set_state (p, GST_STATE_NULL),
        GST_STATE_CHANGE_SUCCESS);
    fail_unless (zbt_no_leftovers (req));
  }
  gst_object_unref (src);
  zbt_stop_and_free (p);
  g_free (req);
  g_free (chan);
}

GST_END_TEST;

static Suite *
zbsrc_suite (void)
{
  Suite *s = suite_create ("zbsrc");
  TCase *tc = tcase_create ("general");

  tcase_set_timeout (tc, 60);
  /* in the parent in fork mode: see cleanup_names() */
  tcase_add_unchecked_fixture (tc, remember_runner, cleanup_names);
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_flushing_seek);
  tcase_add_test (tc, test_timeout_set_while_playing);
  tcase_add_test (tc, test_null_playing_loops);
  tcase_add_test (tc, test_latency);
  tcase_add_test (tc, test_channel_name_keeps_buffer_name);
  return s;
}

/* ZBT_MAIN rather than GST_CHECK_MAIN: every test binary of this directory
 * runs against a private registry in a fresh temporary directory
 * (zbt_env_init(), before gst_check_init()) and exits at once after a
 * failure run in-process. */
ZBT_MAIN (zbsrc_suite);
