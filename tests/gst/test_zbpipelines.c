/* Writer and reader pipelines in one process. */

#include <string.h>

#include <gst/app/gstappsink.h>
#include <gst/app/gstappsrc.h>
#include <gst/check/gstcheck.h>
#include <gst/video/video.h>

#include "zbtest.h"

typedef struct
{
  GMutex lock;
  GPtrArray *buffers;           /* copies of what zbsink received */
  GstCaps *caps;
} Tap;

static GstPadProbeReturn
tap_probe (GstPad * pad, GstPadProbeInfo * info, gpointer user_data)
{
  Tap *tap = user_data;

  g_mutex_lock (&tap->lock);
  if (info->type & GST_PAD_PROBE_TYPE_BUFFER)
    g_ptr_array_add (tap->buffers,
        gst_buffer_ref (GST_PAD_PROBE_INFO_BUFFER (info)));
  if (info->type & GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM) {
    GstEvent *ev = GST_PAD_PROBE_INFO_EVENT (info);

    if (GST_EVENT_TYPE (ev) == GST_EVENT_CAPS) {
      GstCaps *caps;

      gst_event_parse_caps (ev, &caps);
      gst_caps_replace (&tap->caps, caps);
    }
  }
  g_mutex_unlock (&tap->lock);
  return GST_PAD_PROBE_OK;
}

static Tap *
tap_new (GstElement * pipeline, const gchar * element)
{
  Tap *tap = g_new0 (Tap, 1);
  GstElement *e = gst_bin_get_by_name (GST_BIN (pipeline), element);
  GstPad *pad = gst_element_get_static_pad (e, "sink");

  g_mutex_init (&tap->lock);
  tap->buffers = g_ptr_array_new_with_free_func ((GDestroyNotify)
      gst_buffer_unref);
  gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_BUFFER |
      GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM, tap_probe, tap, NULL);
  gst_object_unref (pad);
  gst_object_unref (e);
  return tap;
}

static void
tap_free (Tap * tap)
{
  g_ptr_array_unref (tap->buffers);
  gst_caps_replace (&tap->caps, NULL);
  g_mutex_clear (&tap->lock);
  g_free (tap);
}

static GPtrArray *
drain_appsink (GstElement * pipeline, GstCaps ** caps)
{
  GstElement *sink = gst_bin_get_by_name (GST_BIN (pipeline), "out");
  GPtrArray *samples = g_ptr_array_new_with_free_func ((GDestroyNotify)
      gst_sample_unref);
  GstSample *s;

  while ((s = gst_app_sink_try_pull_sample (GST_APP_SINK (sink), 0))) {
    if (caps && *caps == NULL)
      *caps = gst_caps_ref (gst_sample_get_caps (s));
    g_ptr_array_add (samples, s);
  }
  gst_object_unref (sink);
  return samples;
}

/* ------------------------------------------------------------------ */

static const gchar *auto_caps_sources[] = {
  "videotestsrc num-buffers=10 ! video/x-raw,format=I420,width=320,height=240",
  "videotestsrc num-buffers=10 ! video/x-raw,format=NV12,width=320,height=240",
  /* RGB width 321: rows padded from 963 to 964 bytes */
  "videotestsrc num-buffers=10 ! video/x-raw,format=RGB,width=321,height=241",
  "videotestsrc num-buffers=10 ! video/x-raw,format=I420,width=322,height=242",
  "audiotestsrc num-buffers=10 ! audio/x-raw,format=S16LE,rate=48000,"
      "channels=2",
  "audiotestsrc num-buffers=10 ! audio/x-raw,format=F32LE,rate=44100,"
      "channels=1,layout=interleaved",
  "videotestsrc num-buffers=30 ! video/x-raw,width=160,height=120 ! "
      "vp8enc keyframe-max-dist=10 deadline=1",
  /* plain bytes, no caps at all */
  "fakesrc num-buffers=10 sizetype=fixed sizemax=1000 filltype=pattern-span",
  /* frames of over a megabyte: copied by three threads (copy-threads=3) */
  "videotestsrc num-buffers=2 pattern=snow ! "
      "video/x-raw,format=I420,width=1920,height=1080",
};

/* Caps negotiated automatically, every byte, timestamp and flag carried,
 * EOS reaching the reader. */
GST_START_TEST (test_auto_caps)
{
  gchar *name = zbt_name ();
  GstElement *wp, *rp;
  GstCaps *rcaps = NULL;
  GPtrArray *samples;
  Tap *tap;
  guint i;

  rp = zbt_pipeline ("zbsrc name=src buffer-name=%s timestamp-mode=passthrough"
      " ! appsink name=out sync=false wait-on-eos=false", name);
  wp = zbt_pipeline ("%s ! zbsink name=zb buffer-name=%s sync=false",
      auto_caps_sources[__i__], name);
  tap = tap_new (wp, "zb");
  if (strstr (auto_caps_sources[__i__], "1920")) {
    GstElement *zb = gst_bin_get_by_name (GST_BIN (wp), "zb");

    g_object_set (zb, "copy-threads", 3, NULL);
    gst_object_unref (zb);
  }

  fail_unless (gst_element_set_state (rp, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  fail_unless (zbt_set_state (wp, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);

  /* the writer finishes only once the reader read its EOS record */
  zbt_wait_eos (wp, 20000);
  zbt_wait_eos (rp, 20000);

  samples = drain_appsink (rp, &rcaps);
  fail_unless_equals_int (samples->len, tap->buffers->len);
  fail_unless (samples->len > 0);
  if (tap->caps) {
    fail_unless (gst_caps_is_equal (rcaps, tap->caps),
        "caps %" GST_PTR_FORMAT " != %" GST_PTR_FORMAT, rcaps, tap->caps);
  } else {
    fail_unless (gst_structure_has_name (gst_caps_get_structure (rcaps, 0),
            "application/octet-stream"));
  }
  for (i = 0; i < samples->len; i++) {
    GstBuffer *a = g_ptr_array_index (tap->buffers, i);
    GstBuffer *b = gst_sample_get_buffer (g_ptr_array_index (samples, i));
    GstMapInfo ma, mb;

    fail_unless_equals_int (gst_buffer_get_size (b), gst_buffer_get_size (a));
    gst_buffer_map (a, &ma, GST_MAP_READ);
    gst_buffer_map (b, &mb, GST_MAP_READ);
    fail_unless (memcmp (ma.data, mb.data, ma.size) == 0,
        "buffer %u differs", i);
    gst_buffer_unmap (a, &ma);
    gst_buffer_unmap (b, &mb);
    /* basesrc gives an untimestamped first buffer PTS 0 */
    if (GST_BUFFER_PTS_IS_VALID (a) || i > 0)
      fail_unless_equals_uint64 (GST_BUFFER_PTS (b), GST_BUFFER_PTS (a));
    fail_unless_equals_uint64 (GST_BUFFER_DTS (b), GST_BUFFER_DTS (a));
    fail_unless_equals_uint64 (GST_BUFFER_DURATION (b),
        GST_BUFFER_DURATION (a));
    fail_unless_equals_uint64 (GST_BUFFER_OFFSET (b), GST_BUFFER_OFFSET (a));
    fail_unless_equals_int (GST_BUFFER_FLAG_IS_SET (b,
            GST_BUFFER_FLAG_DELTA_UNIT), GST_BUFFER_FLAG_IS_SET (a,
            GST_BUFFER_FLAG_DELTA_UNIT));
  }
  if (strstr (auto_caps_sources[__i__], "vp8enc")) {
    guint deltas = 0;

    for (i = 0; i < samples->len; i++)
      if (GST_BUFFER_FLAG_IS_SET (gst_sample_get_buffer (g_ptr_array_index
                  (samples, i)), GST_BUFFER_FLAG_DELTA_UNIT))
        deltas++;
    fail_unless (deltas > 0 && deltas < samples->len);
  }
  g_ptr_array_unref (samples);
  gst_caps_unref (rcaps);

  zbt_stop_and_free (wp);
  zbt_stop_and_free (rp);
  tap_free (tap);
  fail_unless (zbt_no_leftovers (name));
  g_free (name);
}

GST_END_TEST;

/* Frame sizes and zbsink copy-threads for test_custom_strides: rows are
 * repacked by one thread, and by three when the frame is large enough, or
 * by one per processor (0; the default is 1). */
static const struct
{
  gint width, height;
  guint threads;
} stride_cases[] = {
  {64, 48, 1},
  {1920, 1080, 3},
  {1920, 1080, 0},
};

/* Row @y of plane @p of frame @n: @w bytes counting up from its own start
 * value. */
static void
pattern_row (guint8 * row, gint w, gint p, gint y, gint n)
{
  gint x;

  for (x = 0; x < w; x++)
    row[x] = (guint8) (p * 50 + y + x + n);
}

/* A writer whose buffers carry GstVideoMeta with padded strides: the
 * reader gets the default layout, pixel for pixel. */
GST_START_TEST (test_custom_strides)
{
  gchar *name = zbt_name ();
  GstElement *wp, *rp, *src;
  GstCaps *caps, *rcaps = NULL;
  GPtrArray *samples;
  GstVideoInfo info;
  GstVideoFrame vf;
  gint n, y, p;
  guint8 *want;
  gint width = stride_cases[__i__].width, height = stride_cases[__i__].height;
  gint stride[GST_VIDEO_MAX_PLANES] = { width + 64, width / 2 + 32,
    width / 2 + 32, 0
  };
  gsize offset[GST_VIDEO_MAX_PLANES] = { 0, (gsize) stride[0] * height + 64,
    (gsize) stride[0] * height + 64 + (gsize) stride[1] * (height / 2) + 32, 0
  };
  gsize size = offset[2] + (gsize) stride[2] * (height / 2);

  caps = gst_caps_new_simple ("video/x-raw", "format", G_TYPE_STRING, "I420",
      "width", G_TYPE_INT, width, "height", G_TYPE_INT, height, "framerate",
      GST_TYPE_FRACTION, 30, 1, NULL);
  gst_video_info_from_caps (&info, caps);

  rp = zbt_pipeline
      ("zbsrc buffer-name=%s ! appsink name=out sync=false wait-on-eos=false",
      name);
  wp = zbt_pipeline ("appsrc name=in format=time ! zbsink buffer-name=%s "
      "sync=false copy-threads=%u", name, stride_cases[__i__].threads);
  src = gst_bin_get_by_name (GST_BIN (wp), "in");
  g_object_set (src, "caps", caps, NULL);

  fail_unless (gst_element_set_state (rp, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  fail_unless (zbt_set_state (wp, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);

  for (n = 0; n < 3; n++) {
    GstBuffer *buf = gst_buffer_new_allocate (NULL, size, NULL);

    gst_buffer_memset (buf, 0, 0xee, gst_buffer_get_size (buf));
    gst_buffer_add_video_meta_full (buf, 0, GST_VIDEO_FORMAT_I420, width,
        height, 3, offset, stride);
    for (p = 0; p < 3; p++) {
      GstMapInfo map;
      gint w = p ? width / 2 : width, h = p ? height / 2 : height;

      gst_buffer_map (buf, &map, GST_MAP_WRITE);
      for (y = 0; y < h; y++)
        pattern_row (map.data + offset[p] + (gsize) y * stride[p], w, p, y, n);
      gst_buffer_unmap (buf, &map);
    }
    GST_BUFFER_PTS (buf) = n * 33 * GST_MSECOND;
    fail_unless_equals_int (gst_app_src_push_buffer (GST_APP_SRC (src), buf),
        GST_FLOW_OK);
  }
  g_signal_emit_by_name (src, "end-of-stream", &n);
  zbt_wait_eos (rp, 20000);

  samples = drain_appsink (rp, &rcaps);
  fail_unless_equals_int (samples->len, 3);
  want = g_malloc (width);
  for (n = 0; n < 3; n++) {
    GstBuffer *b = gst_sample_get_buffer (g_ptr_array_index (samples, n));

    fail_unless_equals_int (gst_buffer_get_size (b), info.size);
    fail_unless (gst_video_frame_map (&vf, &info, b, GST_MAP_READ));
    for (p = 0; p < 3; p++) {
      const guint8 *d = GST_VIDEO_FRAME_PLANE_DATA (&vf, p);
      gint s = GST_VIDEO_FRAME_PLANE_STRIDE (&vf, p);
      gint w = p ? width / 2 : width, h = p ? height / 2 : height;

      for (y = 0; y < h; y++) {
        pattern_row (want, w, p, y, n);
        fail_unless (memcmp (d + (gsize) y * s, want, w) == 0,
            "frame %d plane %d row %d differs", n, p, y);
      }
    }
    gst_video_frame_unmap (&vf);
  }
  g_free (want);
  g_ptr_array_unref (samples);
  gst_caps_unref (rcaps);
  gst_caps_unref (caps);
  gst_object_unref (src);
  zbt_stop_and_free (wp);
  zbt_stop_and_free (rp);
  fail_unless (zbt_no_leftovers (name));
  g_free (name);
}

GST_END_TEST;

/* Clocks of the writer's and the reader's pipelines for
 * test_timestamps_preserved: the system clock on CLOCK_MONOTONIC (the
 * default, whose times need no translation) or on CLOCK_REALTIME (whose
 * times zbsink and zbsrc translate through CLOCK_MONOTONIC). */
static const struct
{
  GstClockType writer, reader;
} clock_cases[] = {
  {GST_CLOCK_TYPE_MONOTONIC, GST_CLOCK_TYPE_MONOTONIC},
  {GST_CLOCK_TYPE_REALTIME, GST_CLOCK_TYPE_MONOTONIC},
  {GST_CLOCK_TYPE_MONOTONIC, GST_CLOCK_TYPE_REALTIME},
};

static void
use_system_clock (GstElement * pipeline, GstClockType type)
{
  GstClock *clock = g_object_new (GST_TYPE_SYSTEM_CLOCK, "clock-type", type,
      NULL);

  gst_pipeline_use_clock (GST_PIPELINE (pipeline), clock);
  gst_object_unref (clock);
}

/* Default timestamp mode: the reader reproduces the writer's timing,
 * whatever clocks the two pipelines run on. */
GST_START_TEST (test_timestamps_preserved)
{
  gchar *name = zbt_name ();
  GstElement *wp, *rp;
  GPtrArray *samples;
  Tap *tap;
  guint i;

  rp = zbt_pipeline
      ("zbsrc buffer-name=%s ! appsink name=out sync=false wait-on-eos=false",
      name);
  wp = zbt_pipeline ("videotestsrc is-live=true num-buffers=30 ! "
      "video/x-raw,width=160,height=120,framerate=30/1 ! "
      "zbsink name=zb buffer-name=%s", name);
  use_system_clock (wp, clock_cases[__i__].writer);
  use_system_clock (rp, clock_cases[__i__].reader);
  tap = tap_new (wp, "zb");
  fail_unless (gst_element_set_state (rp, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  fail_unless (zbt_set_state (wp, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  zbt_wait_eos (rp, 20000);
  zbt_wait_eos (wp, 5000);

  samples = drain_appsink (rp, NULL);
  fail_unless_equals_int (samples->len, 30);
  /* the last frame was presented in the writer's pipeline moments ago:
   * its PTS is a moment of the reader's running time just as recent */
  {
    GstClock *clock = gst_element_get_clock (rp);
    GstClockTime now = gst_clock_get_time (clock) -
        gst_element_get_base_time (rp);
    GstClockTime last = GST_BUFFER_PTS (gst_sample_get_buffer
        (g_ptr_array_index (samples, samples->len - 1)));

    fail_unless (last <= now + GST_SECOND && last + 5 * GST_SECOND >= now,
        "last PTS %" GST_TIME_FORMAT ", reader's running time %"
        GST_TIME_FORMAT, GST_TIME_ARGS (last), GST_TIME_ARGS (now));
    gst_object_unref (clock);
  }
  for (i = 1; i < samples->len; i++) {
    GstClockTime a0 = GST_BUFFER_PTS (g_ptr_array_index (tap->buffers, i - 1));
    GstClockTime a1 = GST_BUFFER_PTS (g_ptr_array_index (tap->buffers, i));
    GstClockTime b0 = GST_BUFFER_PTS (gst_sample_get_buffer
        (g_ptr_array_index (samples, i - 1)));
    GstClockTime b1 = GST_BUFFER_PTS (gst_sample_get_buffer
        (g_ptr_array_index (samples, i)));
    GstClockTimeDiff d = GST_CLOCK_DIFF (a1 - a0, b1 - b0);

    fail_unless (GST_CLOCK_TIME_IS_VALID (b0) && b1 > b0);
    fail_unless (ABS (d) < GST_MSECOND, "delta %u differs by %"
        G_GINT64_FORMAT " ns", i, d);
  }
  g_ptr_array_unref (samples);
  zbt_stop_and_free (wp);
  zbt_stop_and_free (rp);
  tap_free (tap);
  fail_unless (zbt_no_leftovers (name));
  g_free (name);
}

GST_END_TEST;

/* A downstream queue holding 200 buffers in front of a slow sink never
 * stalls the writer: zbsrc copies instead of holding the ring (frames
 * copied into the ring: zero-copy=false; pool blocks do not hold the
 * ring, test_zbpool.c:test_tee_queue_holds). */
GST_START_TEST (test_holding_downstream_never_stalls_writer)
{
  gchar *name = zbt_name ();
  GstElement *wp, *rp, *src;
  guint64 copies, frames;
  gint64 start, took;

  /* 150 frames of 115 KiB through a 2 MiB ring; the sink takes 50 ms per
   * buffer, so draining takes 7.5 s */
  rp = zbt_pipeline ("zbsrc name=src buffer-name=%s payload-size=2097152 ! "
      "queue max-size-buffers=200 max-size-bytes=0 max-size-time=0 ! "
      "identity sleep-time=50000 ! fakesink sync=false", name);
  wp = zbt_pipeline ("videotestsrc num-buffers=150 ! "
      "video/x-raw,format=I420,width=320,height=240 ! "
      "zbsink name=zb buffer-name=%s sync=false zero-copy=false", name);
  fail_unless (gst_element_set_state (rp, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  start = g_get_monotonic_time ();
  fail_unless (zbt_set_state (wp, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  zbt_wait_eos (wp, 5000);
  took = g_get_monotonic_time () - start;
  fail_unless (took < 3 * G_USEC_PER_SEC, "writer took %" G_GINT64_FORMAT
      " us", took);

  src = gst_bin_get_by_name (GST_BIN (rp), "src");
  copies = zbt_stat_u64 (src, "copies");
  frames = zbt_stat_u64 (src, "frames-received");
  fail_unless_equals_uint64 (frames, 150);
  fail_unless (copies > 100, "only %" G_GUINT64_FORMAT " copies", copies);
  gst_object_unref (src);

  zbt_stop_and_free (wp);
  zbt_stop_and_free (rp);
  fail_unless (zbt_no_leftovers (name));
  g_free (name);
}

GST_END_TEST;

static guint64
frames_of (GstElement * pipeline, const gchar * element, const gchar * prop)
{
  GstElement *e = gst_bin_get_by_name (GST_BIN (pipeline), element);
  guint64 v = zbt_stat_u64 (e, prop);

  gst_object_unref (e);
  return v;
}

static void
wait_frames (GstElement * pipeline, const gchar * element,
    const gchar * prop, guint64 more_than, gint timeout_ms)
{
  gint64 end = g_get_monotonic_time () + timeout_ms * 1000;

  while (frames_of (pipeline, element, prop) <= more_than) {
    fail_unless (g_get_monotonic_time () < end, "%s stuck at %"
        G_GUINT64_FORMAT, element, frames_of (pipeline, element, prop));
    g_usleep (10000);
  }
}

/* Reader cycling through its states while a live writer keeps PLAYING
 * (and waits for each new reader); then the writer cycles, 20 times. */
GST_START_TEST (test_state_cycling)
{
  gchar *name = zbt_name ();
  GstElement *wp, *rp;
  GstBus *wbus, *rbus;
  gint i;

  rp = zbt_pipeline ("zbsrc name=src buffer-name=%s ! fakesink sync=false",
      name);
  wp = zbt_pipeline ("videotestsrc is-live=true ! "
      "video/x-raw,width=160,height=120,framerate=100/1 ! "
      "zbsink name=zb buffer-name=%s", name);
  wbus = gst_element_get_bus (wp);
  rbus = gst_element_get_bus (rp);

  fail_unless (zbt_set_state (wp, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  for (i = 0; i < 3; i++) {
    fail_unless (gst_element_set_state (rp, GST_STATE_PLAYING) !=
        GST_STATE_CHANGE_FAILURE);
    wait_frames (rp, "src", "frames-received", 5, 5000);
    fail_unless (zbt_set_state (rp, GST_STATE_PAUSED) !=
        GST_STATE_CHANGE_FAILURE);
    fail_unless (gst_element_set_state (rp, GST_STATE_PLAYING) !=
        GST_STATE_CHANGE_FAILURE);
    wait_frames (rp, "src", "frames-received", 10, 5000);
    fail_unless_equals_int (zbt_set_state (rp, i == 1 ? GST_STATE_NULL :
            GST_STATE_READY), GST_STATE_CHANGE_SUCCESS);
    zbt_assert_no_error (rbus);
    zbt_assert_no_error (wbus);
  }
  fail_unless (gst_element_set_state (rp, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  /* the writer: 20 cycles through NULL or READY back to PLAYING, each
   * one streaming again into the same reader */
  for (i = 0; i < 20; i++) {
    guint64 before = frames_of (rp, "src", "frames-received");

    fail_unless_equals_int (zbt_set_state (wp, i % 2 ? GST_STATE_NULL :
            GST_STATE_READY), GST_STATE_CHANGE_SUCCESS);
    fail_unless (zbt_set_state (wp, GST_STATE_PLAYING) !=
        GST_STATE_CHANGE_FAILURE);
    wait_frames (rp, "src", "frames-received", before + 5, 5000);
  }
  zbt_assert_no_error (rbus);
  zbt_assert_no_error (wbus);
  gst_object_unref (wbus);
  gst_object_unref (rbus);
  zbt_stop_and_free (wp);
  zbt_stop_and_free (rp);
  fail_unless (zbt_no_leftovers (name));
  g_free (name);
}

GST_END_TEST;

/* Flushing seeks on the writer: the reader keeps receiving. */
GST_START_TEST (test_writer_flush_seek)
{
  gchar *name = zbt_name ();
  GstElement *wp, *rp;
  GstBus *rbus, *wbus;
  gint i;

  rp = zbt_pipeline ("zbsrc name=src buffer-name=%s ! fakesink sync=false",
      name);
  wp = zbt_pipeline ("videotestsrc ! video/x-raw,width=160,height=120,"
      "framerate=100/1 ! zbsink name=zb buffer-name=%s", name);
  rbus = gst_element_get_bus (rp);
  wbus = gst_element_get_bus (wp);
  fail_unless (gst_element_set_state (rp, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  fail_unless (zbt_set_state (wp, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  for (i = 0; i < 3; i++) {
    guint64 before = frames_of (rp, "src", "frames-received");

    wait_frames (rp, "src", "frames-received", before + 5, 5000);
    fail_unless (gst_element_seek_simple (wp, GST_FORMAT_TIME,
            GST_SEEK_FLAG_FLUSH, 0));
    fail_unless (gst_element_get_state (wp, NULL, NULL, 5 * GST_SECOND) !=
        GST_STATE_CHANGE_FAILURE);
    wait_frames (rp, "src", "frames-received", before + 10, 5000);
  }
  zbt_assert_no_error (rbus);
  zbt_assert_no_error (wbus);
  gst_object_unref (rbus);
  gst_object_unref (wbus);
  zbt_stop_and_free (wp);
  zbt_stop_and_free (rp);
  fail_unless (zbt_no_leftovers (name));
  g_free (name);
}

GST_END_TEST;

static Suite *
zbpipelines_suite (void)
{
  Suite *s = suite_create ("zbpipelines");
  TCase *tc = tcase_create ("general");

  tcase_set_timeout (tc, 60);
  suite_add_tcase (s, tc);
  tcase_add_loop_test (tc, test_auto_caps, 0, G_N_ELEMENTS (auto_caps_sources));
  tcase_add_loop_test (tc, test_custom_strides, 0, G_N_ELEMENTS (stride_cases));
  tcase_add_loop_test (tc, test_timestamps_preserved, 0,
      G_N_ELEMENTS (clock_cases));
  tcase_add_test (tc, test_holding_downstream_never_stalls_writer);
  tcase_add_test (tc, test_state_cycling);
  tcase_add_test (tc, test_writer_flush_seek);
  return s;
}

ZBT_MAIN (zbpipelines_suite);
