/* Readers that join a running writer (issue 17, "Readers that join a
 * running stream"): with default properties a live writer never waits
 * for a reader (on-reader-lost=auto drops until one is there), a
 * non-live one does, and a reader that joins an encoded stream starts at
 * a key unit that zbsink asked upstream for. */

#include <gst/app/gstappsink.h>
#include <gst/app/gstappsrc.h>
#include <gst/check/gstcheck.h>
#include <gst/video/video.h>
#include <string.h>

#include "zbtest.h"

#define VIDEO "video/x-raw,format=I420,width=64,height=48,framerate=100/1"

/* A live writer with default properties and no reader keeps running
 * (drops are counted), reaches EOS without one, and a reader that joins
 * gets frames of now, not a backlog. */
GST_START_TEST (test_live_writer_never_waits)
{
  gchar *name = zbt_name ();
  GstElement *wp, *rp, *sink, *out;
  GstSample *s;
  GstClockTime rt;
  GstSegment *seg;
  gint64 end;

  wp = zbt_pipeline ("videotestsrc is-live=true ! " VIDEO " ! "
      "zbsink name=sink buffer-name=%s", name);
  sink = gst_bin_get_by_name (GST_BIN (wp), "sink");
  fail_unless (gst_element_set_state (wp, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  /* 100 frames/s, nobody reading: they are dropped, not queued */
  end = g_get_monotonic_time () + 5 * G_USEC_PER_SEC;
  while (zbt_stat_u64 (sink, "drops") < 20) {
    fail_unless (g_get_monotonic_time () < end, "the writer waits: %"
        G_GUINT64_FORMAT " drops", zbt_stat_u64 (sink, "drops"));
    g_usleep (10 * 1000);
  }

  rp = zbt_pipeline ("zbsrc buffer-name=%s ! appsink name=out sync=false",
      name);
  out = gst_bin_get_by_name (GST_BIN (rp), "out");
  fail_unless (gst_element_set_state (rp, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  s = gst_app_sink_try_pull_sample (GST_APP_SINK (out), 5 * GST_SECOND);
  fail_unless (s != NULL, "the reader got nothing");
  /* the first frame is of now: its running time is within 200 ms of the
   * reader's clock */
  seg = gst_sample_get_segment (s);
  rt = gst_segment_to_running_time (seg, GST_FORMAT_TIME,
      GST_BUFFER_PTS (gst_sample_get_buffer (s)));
  {
    GstClock *clock = gst_element_get_clock (rp);
    GstClockTime now = gst_clock_get_time (clock) -
        gst_element_get_base_time (rp);

    fail_unless (GST_CLOCK_TIME_IS_VALID (rt) && rt + 200 * GST_MSECOND >
        now, "first frame at %" GST_TIME_FORMAT ", now %" GST_TIME_FORMAT,
        GST_TIME_ARGS (rt), GST_TIME_ARGS (now));
    gst_object_unref (clock);
  }
  gst_sample_unref (s);
  gst_object_unref (out);
  zbt_stop_and_free (rp);

  /* the reader is gone again: EOS is not held up waiting for one */
  gst_element_send_event (wp, gst_event_new_eos ());
  zbt_wait_eos (wp, 5000);
  gst_object_unref (sink);
  zbt_stop_and_free (wp);
  fail_unless (zbt_no_leftovers (name));
  g_free (name);
}

GST_END_TEST;

/* A non-live writer with default properties waits for its reader: every
 * frame arrives. */
GST_START_TEST (test_nonlive_writer_waits)
{
  gchar *name = zbt_name ();
  GstElement *wp, *rp, *out;
  GstSample *s;
  gint n = 0;

  wp = zbt_pipeline ("videotestsrc num-buffers=20 ! " VIDEO " ! "
      "zbsink buffer-name=%s", name);
  fail_unless (gst_element_set_state (wp, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  g_usleep (300 * 1000);
  rp = zbt_pipeline ("zbsrc buffer-name=%s is-live=false ! appsink "
      "name=out sync=false", name);
  out = gst_bin_get_by_name (GST_BIN (rp), "out");
  fail_unless (gst_element_set_state (rp, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  while ((s = gst_app_sink_try_pull_sample (GST_APP_SINK (out),
              5 * GST_SECOND))) {
    n++;
    gst_sample_unref (s);
  }
  fail_unless_equals_int (n, 20);
  gst_object_unref (out);
  zbt_wait_eos (wp, 5000);
  zbt_stop_and_free (wp);
  zbt_stop_and_free (rp);
  fail_unless (zbt_no_leftovers (name));
  g_free (name);
}

GST_END_TEST;

/* ------------------------------------------------------------------ */
/* Encoded streams */

static gint fku_events;

static GstPadProbeReturn
count_fku (GstPad * pad, GstPadProbeInfo * info, gpointer data)
{
  GstEvent *ev = GST_PAD_PROBE_INFO_EVENT (info);

  if (gst_video_event_is_force_key_unit (ev))
    g_atomic_int_inc (&fku_events);
  return GST_PAD_PROBE_OK;
}

static void
push (GstElement * src, gint i, gboolean key)
{
  GstBuffer *b = gst_buffer_new_allocate (NULL, 64, NULL);

  gst_buffer_memset (b, 0, (guint8) i, 64);
  GST_BUFFER_PTS (b) = i * 10 * GST_MSECOND;
  if (!key)
    GST_BUFFER_FLAG_SET (b, GST_BUFFER_FLAG_DELTA_UNIT);
  fail_unless_equals_int (gst_app_src_push_buffer (GST_APP_SRC (src), b),
      GST_FLOW_OK);
}

/* A reader that joins an encoded stream gets a key unit first: zbsink
 * skips the delta units and asks upstream for a key unit. */
GST_START_TEST (test_join_starts_at_key_unit)
{
  gchar *name = zbt_name ();
  GstElement *wp, *rp, *src, *out, *sink;
  GstSample *s;
  GstPad *pad;
  GstBuffer *b;
  GstMapInfo map;
  gint i;

  wp = zbt_pipeline ("appsrc name=src is-live=true format=time "
      "caps=video/x-h264,stream-format=byte-stream,alignment=au ! "
      "zbsink name=sink buffer-name=%s sync=false", name);
  src = gst_bin_get_by_name (GST_BIN (wp), "src");
  sink = gst_bin_get_by_name (GST_BIN (wp), "sink");
  pad = gst_element_get_static_pad (src, "src");
  g_atomic_int_set (&fku_events, 0);
  gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_EVENT_UPSTREAM, count_fku,
      NULL, NULL);
  gst_object_unref (pad);
  fail_unless (gst_element_set_state (wp, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);

  rp = zbt_pipeline ("zbsrc buffer-name=%s ! appsink name=out sync=false",
      name);
  out = gst_bin_get_by_name (GST_BIN (rp), "out");
  fail_unless (gst_element_set_state (rp, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  /* the stream is running: its last key unit was before the reader */
  for (i = 1; i <= 10; i++)
    push (src, i, FALSE);
  /* the delta units were skipped and a key unit asked for, once */
  {
    gint64 end = g_get_monotonic_time () + 5 * G_USEC_PER_SEC;

    while (zbt_stat_u64 (sink, "drops") < 10)
      fail_unless (g_get_monotonic_time () < end, "%" G_GUINT64_FORMAT
          " deltas skipped", zbt_stat_u64 (sink, "drops"));
  }
  fail_unless_equals_int (g_atomic_int_get (&fku_events), 1);
  push (src, 11, TRUE);
  push (src, 12, FALSE);

  s = gst_app_sink_try_pull_sample (GST_APP_SINK (out), 5 * GST_SECOND);
  fail_unless (s != NULL);
  b = gst_sample_get_buffer (s);
  fail_if (GST_BUFFER_FLAG_IS_SET (b, GST_BUFFER_FLAG_DELTA_UNIT));
  fail_unless (gst_buffer_map (b, &map, GST_MAP_READ));
  fail_unless_equals_int (map.data[0], 11);
  gst_buffer_unmap (b, &map);
  gst_sample_unref (s);
  s = gst_app_sink_try_pull_sample (GST_APP_SINK (out), 5 * GST_SECOND);
  fail_unless (s != NULL);
  fail_unless (GST_BUFFER_FLAG_IS_SET (gst_sample_get_buffer (s),
          GST_BUFFER_FLAG_DELTA_UNIT));
  gst_sample_unref (s);

  gst_object_unref (out);
  gst_object_unref (sink);
  gst_object_unref (src);
  zbt_stop_and_free (rp);
  zbt_stop_and_free (wp);
  fail_unless (zbt_no_leftovers (name));
  g_free (name);
}

GST_END_TEST;

/* zbsrc connect-timeout fails fast when no writer ever comes, and does
 * not fire when one does. */
GST_START_TEST (test_src_connect_timeout)
{
  gchar *name = zbt_name ();
  GstElement *rp, *wp;
  GstMessage *msg;
  GError *err = NULL;
  GstBus *bus;
  gint64 t0;

  rp = zbt_pipeline ("zbsrc buffer-name=%s connect-timeout=300 ! fakesink",
      name);
  bus = gst_element_get_bus (rp);
  t0 = g_get_monotonic_time ();
  fail_unless (gst_element_set_state (rp, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  msg = zbt_pop (bus, GST_MESSAGE_ERROR, 5000);
  fail_unless (msg != NULL, "no error without a writer");
  gst_message_parse_error (msg, &err, NULL);
  fail_unless (strstr (err->message, "No writer wrote to buffer") != NULL,
      "%s", err->message);
  fail_unless (g_get_monotonic_time () - t0 >= 300 * 1000);
  g_error_free (err);
  gst_message_unref (msg);
  gst_object_unref (bus);
  gst_element_set_state (rp, GST_STATE_NULL);
  gst_object_unref (rp);

  /* a writer within the time: no error, frames */
  rp = zbt_pipeline ("zbsrc buffer-name=%s connect-timeout=3000 ! fakesink "
      "sync=false", name);
  bus = gst_element_get_bus (rp);
  fail_unless (gst_element_set_state (rp, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  wp = zbt_pipeline ("videotestsrc is-live=true num-buffers=500 ! " VIDEO
      " ! zbsink buffer-name=%s", name);
  fail_unless (gst_element_set_state (wp, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  g_usleep (G_USEC_PER_SEC);
  zbt_assert_no_error (bus);
  gst_object_unref (bus);
  zbt_stop_and_free (wp);
  zbt_stop_and_free (rp);
  fail_unless (zbt_no_leftovers (name));
  g_free (name);
}

GST_END_TEST;

static Suite *
zbjoin_suite (void)
{
  Suite *s = suite_create ("zbjoin");
  TCase *tc = tcase_create ("general");

  tcase_set_timeout (tc, 60);
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_live_writer_never_waits);
  tcase_add_test (tc, test_nonlive_writer_waits);
  tcase_add_test (tc, test_join_starts_at_key_unit);
  tcase_add_test (tc, test_src_connect_timeout);
  return s;
}

ZBT_MAIN (zbjoin_suite);
