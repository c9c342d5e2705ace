/* The writer's pipeline failed (issue 17: "An error in the writer's
 * pipeline reaches the reader as a clean EOS"): zbsink sends the first
 * error of its pipeline as an error record when it stops without EOS, and
 * zbsrc posts it as an error (on-writer-error=error, the default) or a
 * warning followed by on-writer-lost. Writers are real gst-launch-1.0
 * processes where the failure comes from an ordinary element (identity
 * error-after); the in-process writer posts an oversized error. */

#include <gst/check/gstcheck.h>
#include <string.h>

#include "zbtest.h"

#define VIDEO "video/x-raw,format=I420,width=64,height=48,framerate=100/1"
/* identity's message for error-after (the writer's locale is C) */
#define IDENTITY_TEXT "Failed after iterations as requested"

/* A reader of @name with @props, PLAYING, its buffer made. */
static GstElement *
start_reader (const gchar * name, const gchar * props)
{
  GstElement *rp = zbt_pipeline ("zbsrc buffer-name=%s %s ! fakesink "
      "sync=false", name, props);

  fail_unless (zbt_set_state (rp, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  return rp;
}

/* A writer process whose identity fails after 30 buffers. */
static GPid
start_failing_writer (const gchar * name)
{
  gchar *desc = g_strdup_printf ("videotestsrc ! " VIDEO " ! identity "
      "error-after=30 ! zbsink buffer-name=%s", name);
  GPid pid = zbt_spawn_launch (desc);

  g_free (desc);
  return pid;
}

static gchar *
parse_text (GstMessage * msg, gchar ** debug)
{
  GError *err = NULL;
  gchar *text;

  if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ERROR)
    gst_message_parse_error (msg, &err, debug);
  else
    gst_message_parse_warning (msg, &err, debug);
  text = g_strdup (err->message);
  g_error_free (err);
  return text;
}

/* The default reader gets an ERROR naming the buffer and carrying the
 * writer's own message (which element, what it said), not EOS: even with
 * on-writer-lost=eos, which turned the failure into a clean end before. */
GST_START_TEST (test_writer_error_is_reader_error)
{
  gchar *name = zbt_name (), *text, *debug = NULL;
  GstElement *rp = start_reader (name, "on-writer-lost=eos");
  GstBus *bus = gst_element_get_bus (rp);
  GstMessage *msg;
  GPid pid = start_failing_writer (name);

  msg = zbt_pop (bus, GST_MESSAGE_ERROR | GST_MESSAGE_EOS, 20000);
  fail_unless (msg != NULL, "neither error nor EOS from the reader");
  fail_unless (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ERROR,
      "the writer's failure reached the reader as %s",
      GST_MESSAGE_TYPE_NAME (msg));
  text = parse_text (msg, &debug);
  fail_unless (strstr (text, name) != NULL, "%s", text);
  fail_unless (strstr (text, IDENTITY_TEXT) != NULL, "%s", text);
  fail_unless (strstr (text, "identity") != NULL, "%s", text);
  g_free (text);
  g_free (debug);
  gst_message_unref (msg);
  gst_object_unref (bus);

  /* gst-launch-1.0 exits 1 after an error */
  fail_unless (zbt_wait_pid (pid, 10000) != -1, "the writer did not exit");
  gst_element_set_state (rp, GST_STATE_NULL);
  gst_object_unref (rp);
  fail_unless (zbt_no_leftovers (name));
  g_free (name);
}

GST_END_TEST;

/* on-writer-error=warning: a WARNING with the same text, then the writer's
 * leaving is handled by on-writer-lost (eos here): no ERROR. */
GST_START_TEST (test_writer_error_as_warning)
{
  gchar *name = zbt_name (), *text, *debug = NULL;
  GstElement *rp = start_reader (name,
      "on-writer-error=warning on-writer-lost=eos");
  GstBus *bus = gst_element_get_bus (rp);
  GstMessage *msg;
  GPid pid = start_failing_writer (name);

  msg = zbt_pop (bus, GST_MESSAGE_ERROR | GST_MESSAGE_WARNING |
      GST_MESSAGE_EOS, 20000);
  fail_unless (msg != NULL);
  fail_unless (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_WARNING, "got %s",
      GST_MESSAGE_TYPE_NAME (msg));
  text = parse_text (msg, &debug);
  fail_unless (strstr (text, IDENTITY_TEXT) != NULL, "%s", text);
  g_free (text);
  g_free (debug);
  gst_message_unref (msg);
  msg = zbt_pop (bus, GST_MESSAGE_ERROR | GST_MESSAGE_EOS, 10000);
  fail_unless (msg != NULL && GST_MESSAGE_TYPE (msg) == GST_MESSAGE_EOS,
      "no EOS after the warning");
  gst_message_unref (msg);
  gst_object_unref (bus);
  fail_unless (zbt_wait_pid (pid, 10000) != -1, "the writer did not exit");
  gst_element_set_state (rp, GST_STATE_NULL);
  gst_object_unref (rp);
  fail_unless (zbt_no_leftovers (name));
  g_free (name);
}

GST_END_TEST;

/* A writer stopped without an error (gst-launch-1.0 interrupted, without
 * -e) sends no error record: the reader sees the writer leave
 * (on-writer-lost=eos: EOS, no ERROR, no WARNING). */
GST_START_TEST (test_stopped_writer_is_no_error)
{
  gchar *name = zbt_name ();
  GstElement *rp = start_reader (name, "on-writer-lost=eos");
  GstBus *bus = gst_element_get_bus (rp);
  GstMessage *msg;
  gchar *desc = g_strdup_printf ("videotestsrc is-live=true ! " VIDEO
      " ! zbsink buffer-name=%s", name);
  GPid pid = zbt_spawn_launch (desc);
  gint status;

  g_free (desc);
  g_usleep (G_USEC_PER_SEC);
  status = zbt_kill (pid, SIGINT, 10000);
  fail_unless (WIFEXITED (status), "gst-launch-1.0 did not exit on SIGINT");
  msg = zbt_pop (bus, GST_MESSAGE_ERROR | GST_MESSAGE_WARNING |
      GST_MESSAGE_EOS, 10000);
  fail_unless (msg != NULL && GST_MESSAGE_TYPE (msg) == GST_MESSAGE_EOS,
      "got %s", msg ? GST_MESSAGE_TYPE_NAME (msg) : "nothing");
  gst_message_unref (msg);
  gst_object_unref (bus);
  gst_element_set_state (rp, GST_STATE_NULL);
  gst_object_unref (rp);
  fail_unless (zbt_no_leftovers (name));
  g_free (name);
}

GST_END_TEST;

/* An error message of 10,000 characters arrives cut to the record's
 * bound (ZB_GST_ERROR_MAX, 4096 bytes with the element's path) and still
 * valid UTF-8; its debug text is carried too. Writer in this process. */
GST_START_TEST (test_long_error_is_cut)
{
  gchar *name = zbt_name (), *text, *debug = NULL, *longtext;
  GstElement *rp = start_reader (name, "");
  GstElement *wp, *id;
  GstBus *bus = gst_element_get_bus (rp);
  GstMessage *msg;
  GError *err;
  gint i;

  wp = zbt_pipeline ("videotestsrc ! " VIDEO " ! identity name=id ! "
      "zbsink buffer-name=%s", name);
  fail_unless (zbt_set_state (wp, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  /* some frames reached the reader: the writer is connected */
  g_usleep (300 * 1000);
  longtext = g_malloc (10001);
  for (i = 0; i < 10000; i++)
    longtext[i] = "\xc3\xa9"[i % 2];    /* é, 2 bytes, cut anywhere */
  longtext[10000] = '\0';
  err = g_error_new_literal (GST_STREAM_ERROR, GST_STREAM_ERROR_FAILED,
      longtext);
  id = gst_bin_get_by_name (GST_BIN (wp), "id");
  gst_element_post_message (id, gst_message_new_error (GST_OBJECT (id), err,
          "the debug part"));
  g_error_free (err);
  gst_object_unref (id);
  gst_element_set_state (wp, GST_STATE_NULL);
  gst_object_unref (wp);

  msg = zbt_pop (bus, GST_MESSAGE_ERROR, 10000);
  fail_unless (msg != NULL, "no error from the reader");
  text = parse_text (msg, &debug);
  fail_unless (g_utf8_validate (text, -1, NULL));
  fail_unless (strstr (text, "id: \xc3\xa9\xc3\xa9") != NULL, "%s", text);
  fail_unless (strlen (text) < 4096 + 200, "%u bytes", (guint) strlen (text));
  fail_unless (strlen (text) > 3800, "%u bytes", (guint) strlen (text));
  /* the message fills the record: no room is left for the debug text */
  g_free (text);
  g_free (debug);
  g_free (longtext);
  gst_message_unref (msg);
  gst_object_unref (bus);
  gst_element_set_state (rp, GST_STATE_NULL);
  gst_object_unref (rp);
  fail_unless (zbt_no_leftovers (name));
  g_free (name);
}

GST_END_TEST;

static Suite *
zbwritererror_suite (void)
{
  Suite *s = suite_create ("zbwritererror");
  TCase *tc = tcase_create ("general");

  tcase_set_timeout (tc, 90);
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_writer_error_is_reader_error);
  tcase_add_test (tc, test_writer_error_as_warning);
  tcase_add_test (tc, test_stopped_writer_is_no_error);
  tcase_add_test (tc, test_long_error_is_cut);
  return s;
}

ZBT_MAIN (zbwritererror_suite);
