/* The configurable behaviours of the elements against a peer driven through
 * the library: zbsink leaky and write-timeout, zbsrc timeout with each
 * on-writer-lost policy, timestamp-mode=arrival, and a read-only or too
 * small /dev/shm (in a private mount namespace). */

#include <errno.h>
#include <string.h>
#include <sys/wait.h>

#include <gst/app/gstappsink.h>
#include <gst/app/gstappsrc.h>
#include <gst/check/gstcheck.h>
#include <zerobuffer/zerobuffer.h>

#include "zbtest.h"

static void
shutdown (GstElement * pipeline)
{
  fail_unless_equals_int (zbt_set_state (pipeline, GST_STATE_NULL),
      GST_STATE_CHANGE_SUCCESS);
  gst_object_unref (pipeline);
}

/* Start @pipeline without waiting for preroll: the peer that would
 * complete it starts afterwards. */
static void
play (GstElement * pipeline)
{
  fail_if (gst_element_set_state (pipeline, GST_STATE_PLAYING) ==
      GST_STATE_CHANGE_FAILURE);
}

static GstMessage *
expect_message (GstElement * pipeline, GstMessageType type, gint timeout_ms)
{
  GstBus *bus = gst_element_get_bus (pipeline);
  GstMessage *msg = zbt_pop (bus, type | GST_MESSAGE_ERROR, timeout_ms);

  gst_object_unref (bus);
  fail_unless (msg != NULL, "no %s within %d ms",
      gst_message_type_get_name (type), timeout_ms);
  if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ERROR && type != GST_MESSAGE_ERROR) {
    GError *err = NULL;

    gst_message_parse_error (msg, &err, NULL);
    fail ("unexpected error: %s", err->message);
  }
  return msg;
}

/* A library writer that connects to @name and writes @frames 16-byte
 * frames, @gap_ms apart, in the raw format with caps in the metadata. */
static zb_writer *
connect_writer (const gchar * name)
{
  const gchar *meta = "{\"caps\":\"application/x-zbtest\","
      "\"frame_format\":\"raw\"}";
  zb_writer_config cfg = { 5000, 1000 };
  zb_writer *w = NULL;

  fail_unless_equals_int (zb_writer_connect (name, &cfg, &w), 0);
  fail_unless_equals_int (zb_writer_set_metadata (w, meta, strlen (meta)), 0);
  return w;
}

static void
write_frames (zb_writer * w, gint frames, gint gap_ms)
{
  guint8 data[16];
  gint i;

  for (i = 0; i < frames; i++) {
    memset (data, i, sizeof (data));
    fail_unless_equals_int (zb_writer_write (w, data, sizeof (data)), 0);
    if (gap_ms)
      g_usleep (gap_ms * 1000);
  }
}

/* zbsink leaky=true never blocks on a full ring: it drops, and counts.
 * @in_playing: start with leaky=false, blocked on the full ring, and set
 * leaky=true while PLAYING. */
static void
leaky_drops (gboolean in_playing)
{
  gchar *name = zbt_name ();
  zb_reader_config rc = { 4096, 64 * 1024, 0 };
  zb_reader *r;
  GstElement *p, *src, *sink;
  guint64 sent = 0, drops = 0, read = 0;
  gint64 t0;
  gint i;
  zb_frame f;

  fail_unless_equals_int (zb_reader_create (name, &rc, &r), 0);
  p = zbt_pipeline ("appsrc name=src format=time "
      "caps=application/x-zbtest ! zbsink name=sink buffer-name=%s "
      "leaky=%d sync=false", name, !in_playing);
  src = gst_bin_get_by_name (GST_BIN (p), "src");
  sink = gst_bin_get_by_name (GST_BIN (p), "sink");
  play (p);
  t0 = g_get_monotonic_time ();
  for (i = 0; i < 100; i++) {
    GstBuffer *b = gst_buffer_new_allocate (NULL, 4096, NULL);

    gst_buffer_memset (b, 0, i, 4096);
    GST_BUFFER_PTS (b) = i * GST_MSECOND;
    fail_unless_equals_int (gst_app_src_push_buffer (GST_APP_SRC (src), b),
        GST_FLOW_OK);
  }
  if (in_playing) {
    /* blocked on the full ring: nothing dropped */
    g_usleep (500 * 1000);
    fail_unless_equals_uint64 (zbt_stat_u64 (sink, "drops"), 0);
    fail_unless (zbt_stat_u64 (sink, "frames-sent") <= 15);
    g_object_set (sink, "leaky", TRUE, NULL);
    t0 = g_get_monotonic_time ();
  }
  /* Wait until the sink has taken all 100 (pushes only queue them). */
  while (g_get_monotonic_time () - t0 < 10 * G_USEC_PER_SEC) {
    sent = zbt_stat_u64 (sink, "frames-sent");
    drops = zbt_stat_u64 (sink, "drops");
    if (sent + drops == 100)
      break;
    g_usleep (10 * 1000);
  }
  sent = zbt_stat_u64 (sink, "frames-sent");
  drops = zbt_stat_u64 (sink, "drops");
  fail_unless_equals_int (sent + drops, 100);
  /* 64 KiB hold at most 15 frames of 4 KiB + 96: the rest were dropped. */
  fail_unless (drops >= 80, "only %" G_GUINT64_FORMAT " drops", drops);
  fail_unless (g_get_monotonic_time () - t0 < 5 * G_USEC_PER_SEC);
  while (zb_reader_read (r, 0, &f) == 0) {
    read++;
    zb_reader_release (r, &f);
  }
  fail_unless_equals_int (read, sent);
  gst_object_unref (src);
  gst_object_unref (sink);
  shutdown (p);
  zb_reader_destroy (r);
  fail_unless (zbt_no_leftovers (name));
  g_free (name);
}

GST_START_TEST (test_sink_leaky_drops)
{
  leaky_drops (FALSE);
}

GST_END_TEST;

/* leaky is GST_PARAM_MUTABLE_PLAYING: set on a sink blocked on a full ring,
 * it drops from the next slice on. */
GST_START_TEST (test_sink_leaky_set_while_playing)
{
  leaky_drops (TRUE);
}

GST_END_TEST;

/* channel-name leaves the other properties as the user set them: sync
 * stays on, buffer-name stays unset (the response buffer's name is the
 * sink's own business). */
GST_START_TEST (test_sink_channel_name_keeps_properties)
{
  gchar *name = zbt_name ();
  GstElement *p, *sink;
  gchar *buffer_name = NULL;
  gboolean sync = FALSE;

  p = zbt_pipeline ("appsrc name=src format=time caps=application/x-zbtest "
      "! zbsink name=sink channel-name=%s connect-timeout=100", name);
  sink = gst_bin_get_by_name (GST_BIN (p), "sink");
  fail_unless_equals_int (zbt_set_state (p, GST_STATE_PAUSED),
      GST_STATE_CHANGE_ASYNC);
  g_object_get (sink, "buffer-name", &buffer_name, "sync", &sync, NULL);
  fail_unless (buffer_name == NULL, "buffer-name became %s", buffer_name);
  fail_unless (sync);
  gst_object_unref (sink);
  shutdown (p);
  fail_unless (zbt_no_leftovers (name));
  g_free (name);
}

GST_END_TEST;

static int
cmp_int64 (const void *a, const void *b)
{
  gint64 x = *(const gint64 *) a, y = *(const gint64 *) b;

  return x < y ? -1 : x > y;
}

/* A zbsink waiting for its reader's buffer sleeps on an inotify watch that
 * unlock() wakes: leaving PLAYING takes milliseconds (it polled in 100 ms
 * slices before), and a reader that appears is found at once. */
GST_START_TEST (test_sink_connect_wait_is_event_driven)
{
  gchar *name = zbt_name ();
  zb_reader_config rc = { 4096, 64 * 1024, 0 };
  GstElement *p, *src;
  GstBus *bus;
  GstMessage *msg;
  zb_reader *r;
  gint64 t0, took[10];
  gint i;

  p = zbt_pipeline ("appsrc name=src format=time caps=application/x-zbtest "
      "! zbsink name=sink buffer-name=%s async=false", name);
  src = gst_bin_get_by_name (GST_BIN (p), "src");
  for (i = 0; i < 10; i++) {
    play (p);
    /* render() waits for the reader from the first buffer on */
    fail_unless_equals_int (gst_app_src_push_buffer (GST_APP_SRC (src),
            gst_buffer_new_allocate (NULL, 16, NULL)), GST_FLOW_OK);
    g_usleep (20 * 1000 + g_random_int_range (0, 80 * 1000));
    t0 = g_get_monotonic_time ();
    fail_unless_equals_int (zbt_set_state (p, GST_STATE_NULL),
        GST_STATE_CHANGE_SUCCESS);
    took[i] = g_get_monotonic_time () - t0;
  }
  /* the median: a busy machine delays some state changes on its own */
  qsort (took, G_N_ELEMENTS (took), sizeof (took[0]), cmp_int64);
  g_print ("# leaving PLAYING while waiting for the reader: median %"
      G_GINT64_FORMAT " us, max %" G_GINT64_FORMAT " us\n", took[5], took[9]);
  /* under valgrind (ZBT_VALGRIND) everything is tens of times slower */
  if (g_getenv ("ZBT_VALGRIND") == NULL)
    fail_unless (took[5] < 20 * 1000, "leaving PLAYING took %"
        G_GINT64_FORMAT " us (median)", took[5]);

  /* the reader appears while the sink waits: connected within 100 ms */
  bus = gst_element_get_bus (p);
  play (p);
  fail_unless_equals_int (gst_app_src_push_buffer (GST_APP_SRC (src),
          gst_buffer_new_allocate (NULL, 16, NULL)), GST_FLOW_OK);
  g_usleep (300 * 1000);
  t0 = g_get_monotonic_time ();
  fail_unless_equals_int (zb_reader_create (name, &rc, &r), 0);
  msg = zbt_pop_element (bus, "zbsink-reader-connected", 5000);
  fail_unless (msg != NULL);
  g_print ("# a reader that appears is connected after %" G_GINT64_FORMAT
      " us\n", g_get_monotonic_time () - t0);
  if (g_getenv ("ZBT_VALGRIND") == NULL)
    fail_unless (g_get_monotonic_time () - t0 < 100 * 1000);
  gst_message_unref (msg);
  gst_object_unref (bus);
  gst_object_unref (src);
  shutdown (p);
  zb_reader_destroy (r);
  fail_unless (zbt_no_leftovers (name));
  g_free (name);
}

GST_END_TEST;

/* zbsink write-timeout: a reader that frees nothing gives an error. */
GST_START_TEST (test_sink_write_timeout)
{
  gchar *name = zbt_name ();
  zb_reader_config rc = { 4096, 16 * 1024, 0 };
  zb_reader *r;
  GstElement *p;
  GstMessage *msg;
  GError *err = NULL;
  gint64 t0;

  fail_unless_equals_int (zb_reader_create (name, &rc, &r), 0);
  p = zbt_pipeline ("audiotestsrc samplesperbuffer=1024 ! "
      "audio/x-raw,format=S16LE,channels=1 ! zbsink buffer-name=%s "
      "write-timeout=300 sync=false", name);
  t0 = g_get_monotonic_time ();
  play (p);
  msg = expect_message (p, GST_MESSAGE_ERROR, 5000);
  gst_message_parse_error (msg, &err, NULL);
  fail_unless (g_error_matches (err, GST_RESOURCE_ERROR,
          GST_RESOURCE_ERROR_WRITE), "%s", err->message);
  fail_unless (strstr (err->message, name) != NULL, "%s", err->message);
  fail_unless (strstr (err->message, "300 ms") != NULL, "%s", err->message);
  /* The ring fills in a few ms; the error follows the timeout. */
  fail_unless (g_get_monotonic_time () - t0 >= 300 * 1000);
  g_error_free (err);
  gst_message_unref (msg);
  shutdown (p);
  zb_reader_destroy (r);
  fail_unless (zbt_no_leftovers (name));
  g_free (name);
}

GST_END_TEST;

/* zbsrc timeout: a writer that stays connected but sends nothing is lost
 * after the timeout, and on-writer-lost decides what happens. */
static void
silent_writer (const gchar * policy, GstMessageType expected)
{
  gchar *name = zbt_name ();
  GstElement *p;
  GstMessage *msg;
  zb_writer *w;
  gint64 t0;

  p = zbt_pipeline ("zbsrc buffer-name=%s timeout=300 on-writer-lost=%s ! "
      "fakesink", name, policy);
  play (p);
  w = connect_writer (name);
  write_frames (w, 3, 0);
  t0 = g_get_monotonic_time ();
  msg = expect_message (p, expected, 5000);
  fail_unless (g_get_monotonic_time () - t0 >= 250 * 1000);
  if (expected == GST_MESSAGE_ERROR) {
    GError *err = NULL;

    gst_message_parse_error (msg, &err, NULL);
    fail_unless (strstr (err->message, name) != NULL, "%s", err->message);
    g_error_free (err);
  }
  gst_message_unref (msg);
  zb_writer_disconnect (w);
  shutdown (p);
  fail_unless (zbt_no_leftovers (name));
  g_free (name);
}

GST_START_TEST (test_src_timeout_eos)
{
  silent_writer ("eos", GST_MESSAGE_EOS);
}

GST_END_TEST;

GST_START_TEST (test_src_timeout_error)
{
  silent_writer ("error", GST_MESSAGE_ERROR);
}

GST_END_TEST;

/* on-writer-lost=eos without a timeout: a writer that disconnects. */
GST_START_TEST (test_src_writer_disconnect_eos)
{
  gchar *name = zbt_name ();
  GstElement *p, *src;
  GstMessage *msg;
  zb_writer *w;
  guint64 frames = 0;

  p = zbt_pipeline ("zbsrc name=src buffer-name=%s on-writer-lost=eos ! "
      "fakesink sync=false", name);
  src = gst_bin_get_by_name (GST_BIN (p), "src");
  play (p);
  w = connect_writer (name);
  write_frames (w, 5, 0);
  zb_writer_disconnect (w);
  msg = expect_message (p, GST_MESSAGE_EOS, 5000);
  gst_message_unref (msg);
  /* Every frame written before the disconnect arrived before EOS. */
  frames = zbt_stat_u64 (src, "frames-received");
  fail_unless_equals_int (frames, 5);
  gst_object_unref (src);
  shutdown (p);
  fail_unless (zbt_no_leftovers (name));
  g_free (name);
}

GST_END_TEST;

/* timestamp-mode=arrival: PTS is the running time when a frame is read. */
GST_START_TEST (test_src_arrival_timestamps)
{
  gchar *name = zbt_name ();
  GstElement *p, *sink;
  GstClockTime pts[5];
  zb_writer *w;
  gint i;

  p = zbt_pipeline ("zbsrc buffer-name=%s timestamp-mode=arrival ! "
      "appsink name=sink sync=false", name);
  sink = gst_bin_get_by_name (GST_BIN (p), "sink");
  play (p);
  w = connect_writer (name);
  write_frames (w, 5, 100);
  for (i = 0; i < 5; i++) {
    GstSample *s = gst_app_sink_try_pull_sample (GST_APP_SINK (sink),
        5 * GST_SECOND);

    fail_unless (s != NULL);
    pts[i] = GST_BUFFER_PTS (gst_sample_get_buffer (s));
    fail_unless (GST_CLOCK_TIME_IS_VALID (pts[i]));
    gst_sample_unref (s);
  }
  /* Frames were written 100 ms apart: the arrival times say so. */
  for (i = 1; i < 5; i++) {
    GstClockTimeDiff d = GST_CLOCK_DIFF (pts[i - 1], pts[i]);

    fail_unless (d > 60 * GST_MSECOND && d < 180 * GST_MSECOND,
        "frame %d arrived %" G_GINT64_FORMAT " ns after the one before", i, d);
  }
  zb_writer_disconnect (w);
  gst_object_unref (sink);
  shutdown (p);
  fail_unless (zbt_no_leftovers (name));
  g_free (name);
}

GST_END_TEST;

/* Run gst-launch-1.0 with zbsrc in a private mount namespace whose
 * /dev/shm is a new tmpfs mounted with @mount_opts. Returns its
 * output; *status gets the wait status. */
static gchar *
launch_with_shm (const gchar * mount_opts, const gchar * name,
    const gchar * extra, gint * status)
{
  gchar *script, *out = NULL, *err = NULL;
  gchar *argv[] = { (gchar *) "unshare", (gchar *) "--mount",
    (gchar *) "--propagation", (gchar *) "private", (gchar *) "sh",
    (gchar *) "-c", NULL, NULL
  };
  GError *error = NULL;
  gchar *all;

  script = g_strdup_printf ("mount -t tmpfs -o %s tmpfs /dev/shm && "
      "exec gst-launch-1.0 zbsrc buffer-name=%s %s ! fakesink", mount_opts,
      name, extra);
  argv[6] = script;
  fail_unless (g_spawn_sync (NULL, argv, NULL, G_SPAWN_SEARCH_PATH, NULL,
          NULL, &out, &err, status, &error), "%s", error ? error->message : "");
  all = g_strconcat (out, err, NULL);
  g_free (out);
  g_free (err);
  g_free (script);
  return all;
}

static gboolean
can_unshare (void)
{
  gchar *argv[] = { (gchar *) "unshare", (gchar *) "--mount",
    (gchar *) "--propagation", (gchar *) "private", (gchar *) "true", NULL
  };
  gint status = -1;

  return g_spawn_sync (NULL, argv, NULL, G_SPAWN_SEARCH_PATH |
      G_SPAWN_STDOUT_TO_DEV_NULL | G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL,
      NULL, NULL, &status, NULL) && WIFEXITED (status)
      && WEXITSTATUS (status) == 0;
}

GST_START_TEST (test_shm_unusable)
{
  gchar *name = zbt_name ();
  gchar *out;
  gint status;

  if (!can_unshare ()) {
    /* root, and / a mount point (a plain chroot's is not) */
    GST_WARNING ("no private mount namespace here (needs root, / a mount "
        "point): skipped");
    g_free (name);
    return;
  }
  /* Read-only /dev/shm. */
  out = launch_with_shm ("ro,size=1m", name, "", &status);
  fail_if (WIFEXITED (status) && WEXITSTATUS (status) == 0, "%s", out);
  fail_unless (strstr (out, name) != NULL, "%s", out);
  fail_unless (strstr (out, "ERROR") != NULL, "%s", out);
  g_free (out);

  /* A /dev/shm of 1 MiB and an 8 MiB buffer: refused at creation, not a
   * SIGBUS later. */
  out = launch_with_shm ("size=1m", name, "payload-size=8388608", &status);
  fail_if (WIFEXITED (status) && WEXITSTATUS (status) == 0, "%s", out);
  fail_if (WIFSIGNALED (status), "%s", out);
  fail_unless (strstr (out, name) != NULL, "%s", out);
  fail_unless (strstr (out, "not enough shared memory") != NULL, "%s", out);
  g_free (out);

  fail_unless (zbt_no_leftovers (name));
  g_free (name);
}

GST_END_TEST;

static Suite *
zbpolicies_suite (void)
{
  Suite *s = suite_create ("zbpolicies");
  TCase *tc = tcase_create ("policies");

  tcase_set_timeout (tc, 60);
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_sink_leaky_drops);
  tcase_add_test (tc, test_sink_leaky_set_while_playing);
  tcase_add_test (tc, test_sink_channel_name_keeps_properties);
  tcase_add_test (tc, test_sink_connect_wait_is_event_driven);
  tcase_add_test (tc, test_sink_write_timeout);
  tcase_add_test (tc, test_src_timeout_eos);
  tcase_add_test (tc, test_src_timeout_error);
  tcase_add_test (tc, test_src_writer_disconnect_eos);
  tcase_add_test (tc, test_src_arrival_timestamps);
  tcase_add_test (tc, test_shm_unusable);
  return s;
}

ZBT_MAIN (zbpolicies_suite);
