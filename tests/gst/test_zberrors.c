/* Every error case gives a GST_ELEMENT_ERROR on the bus that names the
 * buffer, and leaves nothing in /dev/shm. */

#include <signal.h>
#include <string.h>

#include <gst/check/gstcheck.h>

#include "zbtest.h"

/* Wait for an ERROR from @pipeline whose message mentions @needle and
 * belongs to @domain/@code. */
static void
expect_error (GstElement * pipeline, GQuark domain, gint code,
    const gchar * needle, gint timeout_ms)
{
  GstBus *bus = gst_element_get_bus (pipeline);
  GstMessage *msg = zbt_pop (bus, GST_MESSAGE_ERROR, timeout_ms);
  GError *err = NULL;
  gchar *dbg = NULL;

  fail_unless (msg != NULL, "no error within %d ms", timeout_ms);
  gst_message_parse_error (msg, &err, &dbg);
  GST_INFO ("error: %s (%s)", err->message, dbg);
  fail_unless (g_error_matches (err, domain, code), "error %s:%d %s",
      g_quark_to_string (err->domain), err->code, err->message);
  fail_unless (strstr (err->message, needle) != NULL,
      "'%s' does not mention '%s'", err->message, needle);
  g_error_free (err);
  g_free (dbg);
  gst_message_unref (msg);
  gst_object_unref (bus);
}

static void
shutdown (GstElement * pipeline)
{
  fail_unless_equals_int (zbt_set_state (pipeline, GST_STATE_NULL),
      GST_STATE_CHANGE_SUCCESS);
  gst_object_unref (pipeline);
}

GST_START_TEST (test_name_in_use_by_live_reader)
{
  gchar *name = zbt_name ();
  GstElement *r1, *r2;

  r1 = zbt_pipeline ("zbsrc buffer-name=%s ! fakesink", name);
  r2 = zbt_pipeline ("zbsrc buffer-name=%s ! fakesink", name);
  fail_unless (gst_element_set_state (r1, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  fail_unless_equals_int (gst_element_set_state (r2, GST_STATE_PLAYING),
      GST_STATE_CHANGE_FAILURE);
  expect_error (r2, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_BUSY, name, 1000);
  shutdown (r2);
  /* the first reader's buffer is untouched */
  fail_unless (!zbt_no_leftovers (name));
  shutdown (r1);
  fail_unless (zbt_no_leftovers (name));
  g_free (name);
}

GST_END_TEST;

GST_START_TEST (test_invalid_name)
{
  GstElement *r, *w;

  r = zbt_pipeline ("zbsrc buffer-name=a/b ! fakesink");
  fail_unless_equals_int (gst_element_set_state (r, GST_STATE_PLAYING),
      GST_STATE_CHANGE_FAILURE);
  expect_error (r, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_SETTINGS, "a/b",
      1000);
  shutdown (r);

  w = zbt_pipeline ("fakesrc ! zbsink buffer-name=a/b");
  fail_unless_equals_int (gst_element_set_state (w, GST_STATE_PLAYING),
      GST_STATE_CHANGE_FAILURE);
  expect_error (w, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_SETTINGS, "a/b",
      1000);
  shutdown (w);

  r = zbt_pipeline ("zbsrc ! fakesink");
  fail_unless_equals_int (gst_element_set_state (r, GST_STATE_PLAYING),
      GST_STATE_CHANGE_FAILURE);
  expect_error (r, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_SETTINGS,
      "buffer-name", 1000);
  shutdown (r);
}

GST_END_TEST;

GST_START_TEST (test_frame_larger_than_ring)
{
  gchar *name = zbt_name ();
  GstElement *r, *w;

  r = zbt_pipeline ("zbsrc buffer-name=%s payload-size=65536 ! fakesink", name);
  w = zbt_pipeline ("videotestsrc ! video/x-raw,format=RGB,width=320,"
      "height=240 ! zbsink buffer-name=%s", name);
  fail_unless (gst_element_set_state (r, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  fail_unless (gst_element_set_state (w, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  expect_error (w, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_NO_SPACE_LEFT, name,
      5000);
  shutdown (w);
  shutdown (r);
  fail_unless (zbt_no_leftovers (name));
  g_free (name);
}

GST_END_TEST;

GST_START_TEST (test_connect_timeout)
{
  gchar *name = zbt_name ();
  GstElement *w;
  gint64 t0 = g_get_monotonic_time ();

  w = zbt_pipeline ("videotestsrc ! zbsink buffer-name=%s connect-timeout=300",
      name);
  fail_unless (gst_element_set_state (w, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  expect_error (w, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_NOT_FOUND, name,
      5000);
  fail_unless (g_get_monotonic_time () - t0 >= 300 * 1000);
  shutdown (w);
  fail_unless (zbt_no_leftovers (name));
  g_free (name);
}

GST_END_TEST;

/* The default connect wait is indefinite but interruptible: a state change
 * to NULL returns promptly. */
GST_START_TEST (test_connect_wait_interruptible)
{
  gchar *name = zbt_name ();
  GstElement *w;
  gint64 t0;

  w = zbt_pipeline ("videotestsrc is-live=true ! zbsink buffer-name=%s", name);
  fail_unless (gst_element_set_state (w, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  g_usleep (300 * 1000);
  t0 = g_get_monotonic_time ();
  shutdown (w);
  fail_unless (g_get_monotonic_time () - t0 < 500 * 1000);
  g_free (name);
}

GST_END_TEST;

GST_START_TEST (test_caps_reader_cannot_use)
{
  gchar *name = zbt_name ();
  GstElement *r, *w;

  r = zbt_pipeline ("zbsrc buffer-name=%s ! audio/x-raw ! fakesink", name);
  w = zbt_pipeline ("videotestsrc ! video/x-raw,width=64,height=48 ! "
      "zbsink buffer-name=%s", name);
  fail_unless (gst_element_set_state (r, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  fail_unless (gst_element_set_state (w, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  expect_error (r, GST_CORE_ERROR, GST_CORE_ERROR_NEGOTIATION, name, 5000);
  shutdown (w);
  shutdown (r);
  fail_unless (zbt_no_leftovers (name));
  g_free (name);
}

GST_END_TEST;

GST_START_TEST (test_dead_writer_error)
{
  gchar *name = zbt_name ();
  gchar *desc;
  GstElement *r;
  GPid pid;

  r = zbt_pipeline ("zbsrc name=src buffer-name=%s on-writer-lost=error ! "
      "fakesink", name);
  fail_unless (gst_element_set_state (r, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  desc = g_strdup_printf ("videotestsrc is-live=true ! "
      "video/x-raw,width=64,height=48 ! zbsink buffer-name=%s", name);
  pid = zbt_spawn_launch (desc);
  g_usleep (500 * 1000);
  zbt_kill (pid, SIGKILL, 5000);
  expect_error (r, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_READ, name, 5000);
  shutdown (r);
  fail_unless (zbt_no_leftovers (name));
  g_free (desc);
  g_free (name);
}

GST_END_TEST;

GST_START_TEST (test_dead_reader_error)
{
  gchar *name = zbt_name ();
  gchar *desc;
  GstElement *w;
  GPid pid;

  desc = g_strdup_printf ("zbsrc buffer-name=%s ! fakesink", name);
  pid = zbt_spawn_launch (desc);
  w = zbt_pipeline ("videotestsrc is-live=true ! "
      "video/x-raw,width=64,height=48 ! zbsink buffer-name=%s "
      "on-reader-lost=error", name);
  fail_unless (gst_element_set_state (w, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  g_usleep (500 * 1000);
  zbt_kill (pid, SIGKILL, 5000);
  expect_error (w, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_WRITE, name, 5000);
  shutdown (w);
  /* a reader killed with -9 leaves its objects for the next reader or the
   * writer to remove */
  zbt_remove_leftovers (name);
  g_free (desc);
  g_free (name);
}

GST_END_TEST;

GST_START_TEST (test_raw_caps_change)
{
  gchar *name = zbt_name ();
  GstElement *r, *w, *cf;
  GstCaps *caps;

  r = zbt_pipeline ("zbsrc buffer-name=%s ! fakesink", name);
  w = zbt_pipeline ("videotestsrc is-live=true ! capsfilter name=cf "
      "caps=video/x-raw,width=64,height=48 ! zbsink buffer-name=%s "
      "frame-format=raw", name);
  fail_unless (gst_element_set_state (r, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  fail_unless (gst_element_set_state (w, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  g_usleep (300 * 1000);
  cf = gst_bin_get_by_name (GST_BIN (w), "cf");
  caps = gst_caps_from_string ("video/x-raw,width=32,height=48");
  g_object_set (cf, "caps", caps, NULL);
  gst_caps_unref (caps);
  gst_object_unref (cf);
  expect_error (w, GST_CORE_ERROR, GST_CORE_ERROR_NEGOTIATION,
      "frame-format=raw", 5000);
  shutdown (w);
  shutdown (r);
  fail_unless (zbt_no_leftovers (name));
  g_free (name);
}

GST_END_TEST;

static Suite *
zberrors_suite (void)
{
  Suite *s = suite_create ("zberrors");
  TCase *tc = tcase_create ("general");

  tcase_set_timeout (tc, 30);
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_name_in_use_by_live_reader);
  tcase_add_test (tc, test_invalid_name);
  tcase_add_test (tc, test_frame_larger_than_ring);
  tcase_add_test (tc, test_connect_timeout);
  tcase_add_test (tc, test_connect_wait_interruptible);
  tcase_add_test (tc, test_caps_reader_cannot_use);
  tcase_add_test (tc, test_dead_writer_error);
  tcase_add_test (tc, test_dead_reader_error);
  tcase_add_test (tc, test_raw_caps_change);
  return s;
}

ZBT_MAIN (zberrors_suite);
