/* The peer in a separate gst-launch-1.0 process: EOS across processes, and
 * kill -9 / restart of either side while the other keeps PLAYING. */

#include <signal.h>
#include <string.h>
#include <sys/wait.h>

#include <gst/check/gstcheck.h>

#include "zbtest.h"

static guint64
prop_u64 (GstElement * pipeline, const gchar * element, const gchar * prop)
{
  GstElement *e = gst_bin_get_by_name (GST_BIN (pipeline), element);
  guint64 v = zbt_stat_u64 (e, prop);

  gst_object_unref (e);
  return v;
}

static void
wait_prop (GstElement * pipeline, const gchar * element, const gchar * prop,
    guint64 more_than, gint timeout_ms)
{
  gint64 end = g_get_monotonic_time () + timeout_ms * 1000;

  while (prop_u64 (pipeline, element, prop) <= more_than) {
    fail_unless (g_get_monotonic_time () < end, "%s.%s stuck at %"
        G_GUINT64_FORMAT, element, prop, prop_u64 (pipeline, element, prop));
    g_usleep (5000);
  }
}

/* EOS written by a gst-launch writer reaches the reader; the writer
 * process exits 0 only once its EOS was read. */
GST_START_TEST (test_eos_from_process)
{
  gchar *name = zbt_name ();
  gchar *desc;
  GstElement *rp;
  GstBus *bus;
  GstMessage *msg;
  GPid pid;
  gint status;

  rp = zbt_pipeline ("zbsrc name=src buffer-name=%s ! fakesink sync=false",
      name);
  bus = gst_element_get_bus (rp);
  fail_unless (gst_element_set_state (rp, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  desc = g_strdup_printf ("videotestsrc num-buffers=50 ! "
      "video/x-raw,width=320,height=240 ! zbsink buffer-name=%s sync=false",
      name);
  pid = zbt_spawn_launch (desc);
  msg = zbt_pop (bus, GST_MESSAGE_EOS | GST_MESSAGE_ERROR, 15000);
  fail_unless (msg != NULL && GST_MESSAGE_TYPE (msg) == GST_MESSAGE_EOS);
  gst_message_unref (msg);
  fail_unless_equals_uint64 (prop_u64 (rp, "src", "frames-received"), 50);
  status = zbt_wait_pid (pid, 10000);
  fail_unless (status != -1 && WIFEXITED (status) &&
      WEXITSTATUS (status) == 0, "writer status %d", status);
  gst_object_unref (bus);
  zbt_stop_and_free (rp);
  fail_unless (zbt_no_leftovers (name));
  g_free (desc);
  g_free (name);
}

GST_END_TEST;

/* kill -9 of the writer process; the reader keeps PLAYING, reports the
 * loss, and resumes with a new writer's caps and frames within 1 s of its
 * arrival. */
GST_START_TEST (test_writer_killed_and_replaced)
{
  gchar *name = zbt_name ();
  gchar *desc;
  GstElement *rp, *src;
  GstBus *bus;
  GstMessage *msg;
  GstState state;
  GstCaps *caps;
  GstPad *pad;
  const GstStructure *s;
  guint64 before;
  gint64 t0;
  GPid pid;
  gint i, width;

  rp = zbt_pipeline ("zbsrc name=src buffer-name=%s ! fakesink sync=false",
      name);
  bus = gst_element_get_bus (rp);
  fail_unless (gst_element_set_state (rp, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);

  for (i = 0; i < 3; i++) {
    width = 160 + 16 * i;
    desc = g_strdup_printf ("videotestsrc is-live=true ! "
        "video/x-raw,width=%d,height=120,framerate=60/1 ! "
        "zbsink buffer-name=%s", width, name);
    t0 = g_get_monotonic_time ();
    pid = zbt_spawn_launch (desc);
    g_free (desc);

    msg = zbt_pop_element (bus, "zbsrc-writer-connected", 10000);
    fail_unless (msg != NULL, "writer %d never connected", i);
    s = gst_message_get_structure (msg);
    fail_unless_equals_string (gst_structure_get_string (s, "buffer-name"),
        name);
    gst_message_unref (msg);
    before = prop_u64 (rp, "src", "frames-received");
    wait_prop (rp, "src", "frames-received", before + 3, 1000);
    GST_INFO ("writer %d: frames after %" G_GINT64_FORMAT " us", i,
        g_get_monotonic_time () - t0);

    /* the new writer's caps were negotiated */
    src = gst_bin_get_by_name (GST_BIN (rp), "src");
    pad = gst_element_get_static_pad (src, "src");
    caps = gst_pad_get_current_caps (pad);
    fail_unless (gst_structure_get_int (gst_caps_get_structure (caps, 0),
            "width", &width));
    fail_unless_equals_int (width, 160 + 16 * i);
    gst_caps_unref (caps);
    gst_object_unref (pad);
    gst_object_unref (src);

    zbt_kill (pid, SIGKILL, 5000);
    msg = zbt_pop_element (bus, "zbsrc-writer-lost", 10000);
    fail_unless (msg != NULL, "writer loss not reported");
    gst_message_unref (msg);

    /* still PLAYING, no error */
    gst_element_get_state (rp, &state, NULL, 0);
    fail_unless_equals_int (state, GST_STATE_PLAYING);
    zbt_assert_no_error (bus);
  }
  gst_object_unref (bus);
  zbt_stop_and_free (rp);
  fail_unless (zbt_no_leftovers (name));
  g_free (name);
}

GST_END_TEST;

/* kill -9 of the reader process; the writer keeps PLAYING, and reconnects
 * to the buffer of a new reader process. */
GST_START_TEST (test_reader_killed_and_replaced)
{
  gchar *name = zbt_name ();
  gchar *desc;
  GstElement *wp;
  GstBus *bus;
  GstMessage *msg;
  GstState state;
  guint64 before;
  GPid pid;
  gint i, status;

  wp = zbt_pipeline ("videotestsrc is-live=true ! "
      "video/x-raw,width=160,height=120,framerate=60/1 ! "
      "zbsink name=zb buffer-name=%s", name);
  bus = gst_element_get_bus (wp);
  fail_unless (gst_element_set_state (wp, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);

  desc = g_strdup_printf ("zbsrc buffer-name=%s ! fakesink sync=false", name);
  for (i = 0; i < 3; i++) {
    pid = zbt_spawn_launch (desc);
    msg = zbt_pop_element (bus, "zbsink-reader-connected", 10000);
    fail_unless (msg != NULL, "reader %d never connected", i);
    gst_message_unref (msg);
    before = prop_u64 (wp, "zb", "frames-sent");
    wait_prop (wp, "zb", "frames-sent", before + 5, 2000);
    fail_unless_equals_uint64 (prop_u64 (wp, "zb", "reader-pid"),
        (guint64) pid);

    if (i < 2) {
      zbt_kill (pid, SIGKILL, 5000);
      msg = zbt_pop_element (bus, "zbsink-reader-lost", 10000);
      fail_unless (msg != NULL, "reader loss not reported");
      gst_message_unref (msg);
      gst_element_get_state (wp, &state, NULL, 0);
      fail_unless_equals_int (state, GST_STATE_PLAYING);
      zbt_assert_no_error (bus);
    } else {
      /* a clean stop of the last reader removes every object */
      status = zbt_kill (pid, SIGINT, 5000);
      fail_unless (WIFEXITED (status), "reader status %d", status);
    }
  }
  msg = zbt_pop_element (bus, "zbsink-reader-lost", 10000);
  fail_unless (msg != NULL);
  gst_message_unref (msg);
  gst_object_unref (bus);
  zbt_stop_and_free (wp);
  fail_unless (zbt_no_leftovers (name));
  g_free (desc);
  g_free (name);
}

GST_END_TEST;

static Suite *
zbprocess_suite (void)
{
  Suite *s = suite_create ("zbprocess");
  TCase *tc = tcase_create ("general");

  tcase_set_timeout (tc, 90);
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_eos_from_process);
  tcase_add_test (tc, test_writer_killed_and_replaced);
  tcase_add_test (tc, test_reader_killed_and_replaced);
  return s;
}

ZBT_MAIN (zbprocess_suite);
