/* The timestamp model of zbsrc (docs/frame-format.md, "Timestamps"):
 * pipelines on a network clock, a live reader that was paused or joins a
 * running writer, a non-live reader, and a writer that restarts or seeks
 * under a passthrough reader. */

#include <string.h>

#include <gst/app/gstappsink.h>
#include <gst/app/gstappsrc.h>
#include <gst/check/gstcheck.h>
#include <gst/net/gstnet.h>

#include "zbtest.h"

#define VIDEO "video/x-raw,format=I420,width=160,height=120,framerate=30/1"

/* What an appsink got: buffers with their segments. */
typedef struct
{
  GstClockTime pts;
  GstClockTime dts;
  GstSegment segment;
} Out;

/* Pull everything @pipeline's appsink "out" has, waiting up to
 * @timeout_ms for the first sample and then until EOS (or @timeout_ms
 * without a sample). */
static GArray *
collect (GstElement * pipeline, gint timeout_ms)
{
  GstElement *sink = gst_bin_get_by_name (GST_BIN (pipeline), "out");
  GArray *out = g_array_new (FALSE, TRUE, sizeof (Out));
  GstSample *s;

  while ((s = gst_app_sink_try_pull_sample (GST_APP_SINK (sink),
              timeout_ms * GST_MSECOND))) {
    Out o;

    o.pts = GST_BUFFER_PTS (gst_sample_get_buffer (s));
    o.dts = GST_BUFFER_DTS (gst_sample_get_buffer (s));
    gst_segment_copy_into (gst_sample_get_segment (s), &o.segment);
    g_array_append_val (out, o);
    gst_sample_unref (s);
  }
  gst_object_unref (sink);
  return out;
}

/* Every buffer has a PTS, strictly increasing (videotestsrc: no
 * reordering), no run of equal (clamped) values. */
static void
assert_valid_increasing (GArray * out, guint min_frames)
{
  guint i;

  fail_unless (out->len >= min_frames, "%u buffers, expected at least %u",
      out->len, min_frames);
  for (i = 0; i < out->len; i++) {
    Out *o = &g_array_index (out, Out, i);

    fail_unless (GST_CLOCK_TIME_IS_VALID (o->pts), "buffer %u has no PTS", i);
    if (i > 0)
      fail_unless (o->pts > g_array_index (out, Out, i - 1).pts,
          "buffer %u: PTS %" GST_TIME_FORMAT " after %" GST_TIME_FORMAT, i,
          GST_TIME_ARGS (o->pts),
          GST_TIME_ARGS (g_array_index (out, Out, i - 1).pts));
  }
}

/* Running time now of @pipeline. */
static GstClockTime
running_time_now (GstElement * pipeline)
{
  GstClock *clock = gst_element_get_clock (pipeline);
  GstClockTime now;

  fail_unless (clock != NULL);
  now = gst_clock_get_time (clock) - gst_element_get_base_time (pipeline);
  gst_object_unref (clock);
  return now;
}

/* ------------------------------------------------------------------ */
/* Network clock */

typedef struct
{
  gboolean writer_net;
  gboolean reader_net;
} NetCase;

static const NetCase net_cases[] = {
  {TRUE, FALSE},
  {FALSE, TRUE},
  {TRUE, TRUE},
};

/* A GstNetClientClock is a GstSystemClock subclass of clock-type
 * MONOTONIC, but its time is the time of the clock it follows: here a
 * realtime clock (1970 epoch), so it is nowhere near CLOCK_MONOTONIC.
 * PTS still come out as the reader's running time. */
GST_START_TEST (test_net_clock)
{
  const NetCase *c = &net_cases[__i__];
  gchar *name = zbt_name ();
  GstClock *served, *net;
  GstNetTimeProvider *provider;
  GstElement *wp, *rp;
  GArray *out;
  GstClockTime now, last;
  gint port = 0;

  served = g_object_new (GST_TYPE_SYSTEM_CLOCK, "clock-type",
      GST_CLOCK_TYPE_REALTIME, NULL);
  provider = gst_net_time_provider_new (served, "127.0.0.1", 0);
  fail_unless (provider != NULL);
  g_object_get (provider, "port", &port, NULL);
  net = gst_net_client_clock_new ("zbt-net", "127.0.0.1", port, 0);
  fail_unless (net != NULL);
  fail_unless (gst_clock_wait_for_sync (net, 10 * GST_SECOND),
      "the network clock did not sync");
  /* it follows the realtime clock, far from CLOCK_MONOTONIC */
  fail_unless (gst_clock_get_time (net) > gst_clock_get_time (served) -
      GST_SECOND);

  rp = zbt_pipeline ("zbsrc buffer-name=%s ! appsink name=out sync=false "
      "wait-on-eos=false", name);
  wp = zbt_pipeline ("videotestsrc is-live=true num-buffers=30 ! " VIDEO
      " ! zbsink buffer-name=%s", name);
  if (c->writer_net)
    gst_pipeline_use_clock (GST_PIPELINE (wp), net);
  if (c->reader_net)
    gst_pipeline_use_clock (GST_PIPELINE (rp), net);
  fail_unless (gst_element_set_state (rp, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  fail_unless (zbt_set_state (wp, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  zbt_wait_eos (rp, 20000);

  out = collect (rp, 500);
  assert_valid_increasing (out, 25);
  /* the last frame was presented moments ago in the writer's pipeline */
  now = running_time_now (rp);
  last = g_array_index (out, Out, out->len - 1).pts;
  fail_unless (last <= now + GST_SECOND && last + 5 * GST_SECOND >= now,
      "last PTS %" GST_TIME_FORMAT ", reader's running time %" GST_TIME_FORMAT,
      GST_TIME_ARGS (last), GST_TIME_ARGS (now));
  /* 30 frames at 30/s span about a second */
  {
    GstClockTime span = last - g_array_index (out, Out, 0).pts;

    fail_unless (span > 700 * GST_MSECOND && span < 1300 * GST_MSECOND,
        "PTS span %" GST_TIME_FORMAT, GST_TIME_ARGS (span));
  }
  g_array_unref (out);
  zbt_wait_eos (wp, 5000);
  zbt_stop_and_free (wp);
  zbt_stop_and_free (rp);
  gst_object_unref (net);
  gst_object_unref (provider);
  gst_object_unref (served);
  fail_unless (zbt_no_leftovers (name));
  g_free (name);
}

GST_END_TEST;

/* ------------------------------------------------------------------ */
/* Stale frames */

/* A live reader left in PAUSED while the writer fills the ring: the
 * frames from before it went to PLAYING are dropped, not pushed at PTS 0. */
GST_START_TEST (test_paused_live_reader)
{
  gchar *name = zbt_name ();
  GstElement *wp, *rp;
  GArray *out;

  rp = zbt_pipeline ("zbsrc buffer-name=%s ! appsink name=out sync=false "
      "wait-on-eos=false", name);
  wp = zbt_pipeline ("videotestsrc is-live=true num-buffers=75 ! " VIDEO
      " ! zbsink buffer-name=%s", name);
  fail_unless_equals_int (zbt_set_state (rp, GST_STATE_PAUSED),
      GST_STATE_CHANGE_NO_PREROLL);
  fail_unless (zbt_set_state (wp, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  g_usleep (1500 * G_USEC_PER_SEC / 1000);
  fail_unless (gst_element_set_state (rp, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  zbt_wait_eos (rp, 20000);

  /* 75 frames in 2.5 s, the reader in PLAYING for the last second */
  out = collect (rp, 500);
  assert_valid_increasing (out, 15);
  fail_unless (out->len <= 40, "%u buffers: stale frames pushed", out->len);
  g_array_unref (out);
  zbt_wait_eos (wp, 5000);
  zbt_stop_and_free (wp);
  zbt_stop_and_free (rp);
  fail_unless (zbt_no_leftovers (name));
  g_free (name);
}

GST_END_TEST;

/* A live reader joining a writer that has been running (its queue full of
 * frames rendered before the reader existed). */
GST_START_TEST (test_late_joining_reader)
{
  gchar *name = zbt_name ();
  GstElement *wp, *rp;
  GArray *out;

  wp = zbt_pipeline ("videotestsrc is-live=true num-buffers=75 ! " VIDEO
      " ! queue max-size-buffers=0 max-size-bytes=0 max-size-time=0 ! "
      "zbsink buffer-name=%s", name);
  fail_unless (gst_element_set_state (wp, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  g_usleep (1000 * G_USEC_PER_SEC / 1000);
  rp = zbt_pipeline ("zbsrc buffer-name=%s ! appsink name=out sync=false "
      "wait-on-eos=false", name);
  fail_unless (gst_element_set_state (rp, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  zbt_wait_eos (rp, 20000);

  out = collect (rp, 500);
  assert_valid_increasing (out, 20);
  fail_unless (out->len <= 60, "%u buffers: stale frames pushed", out->len);
  g_array_unref (out);
  zbt_wait_eos (wp, 5000);
  zbt_stop_and_free (wp);
  zbt_stop_and_free (rp);
  fail_unless (zbt_no_leftovers (name));
  g_free (name);
}

GST_END_TEST;

/* ------------------------------------------------------------------ */
/* Non-live reader, writer restarts and seeks */

/* Running time of every buffer in its segment never goes backwards, and
 * within one segment neither does the PTS. */
static void
assert_running_time_increasing (GArray * out, guint min_frames)
{
  GstClockTime prev_rt = 0;
  guint i;

  fail_unless (out->len >= min_frames, "%u buffers, expected at least %u",
      out->len, min_frames);
  for (i = 0; i < out->len; i++) {
    Out *o = &g_array_index (out, Out, i);
    GstClockTime rt;

    fail_unless (GST_CLOCK_TIME_IS_VALID (o->pts), "buffer %u has no PTS", i);
    fail_unless_equals_int (o->segment.format, GST_FORMAT_TIME);
    rt = gst_segment_to_running_time (&o->segment, GST_FORMAT_TIME, o->pts);
    fail_unless (GST_CLOCK_TIME_IS_VALID (rt), "buffer %u: PTS %"
        GST_TIME_FORMAT " outside its segment %" GST_SEGMENT_FORMAT, i,
        GST_TIME_ARGS (o->pts), &o->segment);
    if (i > 0) {
      Out *p = &g_array_index (out, Out, i - 1);

      fail_unless (rt >= prev_rt, "buffer %u: running time %" GST_TIME_FORMAT
          " after %" GST_TIME_FORMAT, i, GST_TIME_ARGS (rt),
          GST_TIME_ARGS (prev_rt));
      if (gst_segment_is_equal (&o->segment, &p->segment))
        fail_unless (o->pts > p->pts, "buffer %u: PTS %" GST_TIME_FORMAT
            " after %" GST_TIME_FORMAT " in one segment", i,
            GST_TIME_ARGS (o->pts), GST_TIME_ARGS (p->pts));
    }
    prev_rt = rt;
  }
}

/* is-live=false: the preroll buffer and the ones after it in one domain,
 * the first at running time 0 (a writer that has been running for a
 * second has PTS from 1 s on). */
GST_START_TEST (test_not_live_reader)
{
  gchar *name = zbt_name ();
  GstElement *wp, *rp;
  GArray *out;
  GstClockTime rt0;
  guint i;

  wp = zbt_pipeline ("videotestsrc is-live=true num-buffers=60 ! " VIDEO
      " ! zbsink buffer-name=%s", name);
  fail_unless (gst_element_set_state (wp, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  g_usleep (G_USEC_PER_SEC);
  rp = zbt_pipeline ("zbsrc buffer-name=%s is-live=false ! "
      "appsink name=out sync=true wait-on-eos=false", name);
  fail_unless (zbt_set_state (rp, GST_STATE_PLAYING) ==
      GST_STATE_CHANGE_SUCCESS);
  zbt_wait_eos (rp, 20000);

  out = collect (rp, 500);
  assert_running_time_increasing (out, 20);
  rt0 = gst_segment_to_running_time (&g_array_index (out, Out, 0).segment,
      GST_FORMAT_TIME, g_array_index (out, Out, 0).pts);
  fail_unless (rt0 < 100 * GST_MSECOND, "first running time %" GST_TIME_FORMAT,
      GST_TIME_ARGS (rt0));
  /* the writer's spacing: 1/30 s */
  for (i = 1; i < out->len; i++) {
    GstClockTimeDiff d = GST_CLOCK_DIFF (g_array_index (out, Out, i - 1).pts,
        g_array_index (out, Out, i).pts);

    fail_unless (ABS (d - GST_SECOND / 30) < 2 * GST_MSECOND,
        "buffer %u: %" G_GINT64_FORMAT " ns after the one before", i, d);
  }
  g_array_unref (out);
  zbt_wait_eos (wp, 5000);
  zbt_stop_and_free (wp);
  zbt_stop_and_free (rp);
  fail_unless (zbt_no_leftovers (name));
  g_free (name);
}

GST_END_TEST;

static guint64
frames_received (GstElement * pipeline)
{
  GstElement *src = gst_bin_get_by_name (GST_BIN (pipeline), "src");
  guint64 n = zbt_stat_u64 (src, "frames-received");
  gst_object_unref (src);
  return n;
}

static void
wait_frames (GstElement * pipeline, guint64 n)
{
  gint64 end = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;

  while (frames_received (pipeline) < n) {
    fail_unless (g_get_monotonic_time () < end, "only %" G_GUINT64_FORMAT
        " of %" G_GUINT64_FORMAT " frames", frames_received (pipeline), n);
    g_usleep (5000);
  }
}

static const gchar *restart_modes[] = {
  "timestamp-mode=passthrough",
  "is-live=false",
};

/* A writer stops and another starts from PTS 0: the reader starts a new
 * segment, nothing goes backwards within one. */
GST_START_TEST (test_writer_restart)
{
  gchar *name = zbt_name ();
  GstElement *wp, *rp;
  GArray *out;
  gint i;

  rp = zbt_pipeline ("zbsrc name=src buffer-name=%s %s ! "
      "appsink name=out sync=false wait-on-eos=false", name,
      restart_modes[__i__]);
  fail_unless (gst_element_set_state (rp, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  for (i = 0; i < 3; i++) {
    wp = zbt_pipeline ("videotestsrc ! " VIDEO " ! zbsink buffer-name=%s",
        name);
    fail_unless (zbt_set_state (wp, GST_STATE_PLAYING) !=
        GST_STATE_CHANGE_FAILURE);
    wait_frames (rp, 10 * (i + 1));
    zbt_stop_and_free (wp);
    /* the reader sees this writer leave before the next one comes */
    g_usleep (200 * 1000);
  }
  out = collect (rp, 500);
  assert_running_time_increasing (out, 30);
  g_array_unref (out);
  zbt_stop_and_free (rp);
  fail_unless (zbt_no_leftovers (name));
  g_free (name);
}

GST_END_TEST;

/* The writer seeks back to 0 (flushing): a new segment on the reader. */
GST_START_TEST (test_writer_seek)
{
  gchar *name = zbt_name ();
  GstElement *wp, *rp;
  GArray *out;
  gint i;

  rp = zbt_pipeline ("zbsrc name=src buffer-name=%s %s ! "
      "appsink name=out sync=false wait-on-eos=false", name,
      restart_modes[__i__]);
  wp = zbt_pipeline ("videotestsrc ! " VIDEO " ! zbsink buffer-name=%s", name);
  fail_unless (gst_element_set_state (rp, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  fail_unless (zbt_set_state (wp, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  for (i = 0; i < 3; i++) {
    wait_frames (rp, 10 * (i + 1));
    fail_unless (gst_element_seek_simple (wp, GST_FORMAT_TIME,
            GST_SEEK_FLAG_FLUSH, 0));
    fail_unless (gst_element_get_state (wp, NULL, NULL, 5 * GST_SECOND) !=
        GST_STATE_CHANGE_FAILURE);
  }
  wait_frames (rp, 40);
  zbt_stop_and_free (wp);
  out = collect (rp, 500);
  assert_running_time_increasing (out, 40);
  g_array_unref (out);
  zbt_stop_and_free (rp);
  fail_unless (zbt_no_leftovers (name));
  g_free (name);
}

GST_END_TEST;

/* An encoded stream (any caps but x-raw) read by a live reader that was
 * PAUSED while key and delta units arrived: the newest stale key unit and
 * the delta unit after it are pushed first, at running time 0 (a decoder
 * or muxer that joins starts at a key unit; the key unit zbsink forces
 * for a joining reader often arrives just before the reader's base time),
 * then the fresh frames; the older stale GOP is dropped. Frames carry
 * their index; keys are 0, 3 and 6. */
static void
push_coded (GstElement * src, guint index)
{
  GstBuffer *b = gst_buffer_new_allocate (NULL, 4, NULL);

  gst_buffer_fill (b, 0, &index, 4);
  if (index % 3 != 0)
    GST_BUFFER_FLAG_SET (b, GST_BUFFER_FLAG_DELTA_UNIT);
  fail_unless_equals_int (gst_app_src_push_buffer (GST_APP_SRC (src), b),
      GST_FLOW_OK);
  g_usleep (20 * 1000);
}

GST_START_TEST (test_paused_reader_keeps_key_unit)
{
  gchar *name = zbt_name ();
  GstElement *wp, *rp, *src, *out;
  GstSample *s;
  guint i, want[] = { 3, 4, 5, 6, 7 }, got;
  GstClockTime last = 0;

  rp = zbt_pipeline ("zbsrc buffer-name=%s ! appsink name=out sync=false",
      name);
  wp = zbt_pipeline ("appsrc name=src is-live=true format=time "
      "do-timestamp=true caps=video/x-zbt-coded ! zbsink buffer-name=%s "
      "sync=false", name);
  src = gst_bin_get_by_name (GST_BIN (wp), "src");
  out = gst_bin_get_by_name (GST_BIN (rp), "out");
  fail_unless_equals_int (zbt_set_state (rp, GST_STATE_PAUSED),
      GST_STATE_CHANGE_NO_PREROLL);
  fail_unless (zbt_set_state (wp, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  for (i = 0; i < 5; i++)
    push_coded (src, i);
  g_usleep (200 * 1000);
  fail_unless (zbt_set_state (rp, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  g_usleep (100 * 1000);
  for (i = 5; i < 8; i++)
    push_coded (src, i);

  for (i = 0; i < G_N_ELEMENTS (want); i++) {
    GstBuffer *b;

    s = gst_app_sink_try_pull_sample (GST_APP_SINK (out), 5 * GST_SECOND);
    fail_unless (s != NULL, "buffer %u missing", i);
    b = gst_sample_get_buffer (s);
    fail_unless (gst_buffer_extract (b, 0, &got, 4) == 4);
    fail_unless_equals_int (got, want[i]);
    fail_unless_equals_int (GST_BUFFER_FLAG_IS_SET (b,
            GST_BUFFER_FLAG_DELTA_UNIT), got % 3 != 0);
    fail_unless (GST_BUFFER_PTS_IS_VALID (b));
    if (got <= 4) {
      fail_unless_equals_uint64 (GST_BUFFER_PTS (b), 0);
    } else {
      fail_unless (GST_BUFFER_PTS (b) > last, "frame %u: PTS %"
          GST_TIME_FORMAT, got, GST_TIME_ARGS (GST_BUFFER_PTS (b)));
    }
    if (got == 3)
      fail_unless (GST_BUFFER_FLAG_IS_SET (b, GST_BUFFER_FLAG_DISCONT));
    last = GST_BUFFER_PTS (b);
    gst_sample_unref (s);
  }
  gst_object_unref (out);
  gst_app_src_end_of_stream (GST_APP_SRC (src));
  gst_object_unref (src);
  zbt_wait_eos (wp, 5000);
  zbt_stop_and_free (wp);
  zbt_stop_and_free (rp);
  fail_unless (zbt_no_leftovers (name));
  g_free (name);
}

GST_END_TEST;

static Suite *
zbtime_suite (void)
{
  Suite *s = suite_create ("zbtime");
  TCase *tc = tcase_create ("general");

  tcase_set_timeout (tc, 60);
  suite_add_tcase (s, tc);
  tcase_add_loop_test (tc, test_net_clock, 0, G_N_ELEMENTS (net_cases));
  tcase_add_test (tc, test_paused_live_reader);
  tcase_add_test (tc, test_paused_reader_keeps_key_unit);
  tcase_add_test (tc, test_late_joining_reader);
  tcase_add_test (tc, test_not_live_reader);
  tcase_add_loop_test (tc, test_writer_restart, 0,
      G_N_ELEMENTS (restart_modes));
  tcase_add_loop_test (tc, test_writer_seek, 0, G_N_ELEMENTS (restart_modes));
  return s;
}

ZBT_MAIN (zbtime_suite);
