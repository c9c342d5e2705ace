/* Renegotiation through a whole writer and reader pipeline: the writer's
 * caps change mid-stream (size, then format); the reader's pipeline
 * follows each change (in-band caps records, docs/frame-format.md), and
 * every buffer downstream matches the caps it arrives with. */

#include <gst/app/gstappsink.h>
#include <gst/check/gstcheck.h>
#include <gst/video/video.h>

#include "zbtest.h"

typedef struct
{
  const gchar *caps;
  gint width, height;
} Step;

static const Step steps[] = {
  {"video/x-raw,format=I420,width=320,height=240,framerate=30/1", 320, 240},
  {"video/x-raw,format=I420,width=161,height=121,framerate=30/1", 161, 121},
  {"video/x-raw,format=RGB,width=97,height=33,framerate=30/1", 97, 33},
  {"video/x-raw,format=YUY2,width=320,height=240,framerate=30/1", 320, 240},
};

/* Pull samples from @sink until one has @width x @height; every sample on
 * the way must be consistent (RGBA: 4 bytes a pixel, packed or with a
 * GstVideoMeta). */
static void
wait_size (GstElement * sink, gint width, gint height)
{
  gint64 end = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;

  for (;;) {
    GstSample *s;
    GstVideoInfo info;
    GstBuffer *b;
    GstVideoFrame vf;
    gboolean done;

    fail_unless (g_get_monotonic_time () < end, "never got %dx%d", width,
        height);
    s = gst_app_sink_try_pull_sample (GST_APP_SINK (sink), GST_SECOND);
    if (s == NULL)
      continue;
    fail_unless (gst_video_info_from_caps (&info, gst_sample_get_caps (s)));
    b = gst_sample_get_buffer (s);
    fail_unless (gst_video_frame_map (&vf, &info, b, GST_MAP_READ),
        "buffer of %" G_GSIZE_FORMAT " bytes does not fit %" GST_PTR_FORMAT,
        gst_buffer_get_size (b), gst_sample_get_caps (s));
    gst_video_frame_unmap (&vf);
    done = GST_VIDEO_INFO_WIDTH (&info) == width &&
        GST_VIDEO_INFO_HEIGHT (&info) == height;
    gst_sample_unref (s);
    if (done)
      return;
  }
}

GST_START_TEST (test_writer_caps_change)
{
  gchar *name = zbt_name ();
  GstElement *wp, *rp, *cf, *sink;
  GstBus *wbus, *rbus;
  guint i;

  rp = zbt_pipeline ("zbsrc buffer-name=%s ! videoconvert ! "
      "video/x-raw,format=RGBA ! appsink name=sink sync=false "
      "max-buffers=4 drop=true", name);
  wp = zbt_pipeline ("videotestsrc is-live=true ! capsfilter name=cf "
      "caps=%s ! zbsink buffer-name=%s", steps[0].caps, name);
  cf = gst_bin_get_by_name (GST_BIN (wp), "cf");
  sink = gst_bin_get_by_name (GST_BIN (rp), "sink");
  wbus = gst_element_get_bus (wp);
  rbus = gst_element_get_bus (rp);
  fail_unless (gst_element_set_state (rp, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  fail_unless (gst_element_set_state (wp, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  for (i = 0; i < G_N_ELEMENTS (steps); i++) {
    GstCaps *caps = gst_caps_from_string (steps[i].caps);

    g_object_set (cf, "caps", caps, NULL);
    gst_caps_unref (caps);
    wait_size (sink, steps[i].width, steps[i].height);
    zbt_assert_no_error (rbus);
    zbt_assert_no_error (wbus);
  }
  gst_object_unref (wbus);
  gst_object_unref (rbus);
  gst_object_unref (cf);
  gst_object_unref (sink);
  zbt_stop_and_free (wp);
  zbt_stop_and_free (rp);
  fail_unless (zbt_no_leftovers (name));
  g_free (name);
}

GST_END_TEST;

static Suite *
zbrenegotiate_suite (void)
{
  Suite *s = suite_create ("zbrenegotiate");
  TCase *tc = tcase_create ("general");

  tcase_set_timeout (tc, 60);
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_writer_caps_change);
  return s;
}

ZBT_MAIN (zbrenegotiate_suite);
