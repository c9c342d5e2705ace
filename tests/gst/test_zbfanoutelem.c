/* Fan-out (docs/elements.md "Many readers"), in one process: zbsrc
 * reader-id checks (property and URI), the key unit a late reader of an
 * encoded stream starts at, a reader another zbsink serves, raw caps
 * changes, pool frames copied to readers of NAME@ID. Readers in other
 * processes: test_zbfanout.c. */

#include <string.h>

#include <gst/app/gstappsrc.h>
#include <gst/app/gstappsink.h>
#include <gst/check/gstcheck.h>
#include <gst/video/video.h>

#include "zbfanout-helpers.h"

static gint fku_events;

static GstPadProbeReturn
count_fku (GstPad * pad, GstPadProbeInfo * info, gpointer data)
{
  if (gst_video_event_is_force_key_unit (GST_PAD_PROBE_INFO_EVENT (info)))
    g_atomic_int_inc (&fku_events);
  return GST_PAD_PROBE_OK;
}

static void
push_h264 (GstElement * src, guint8 tag, gboolean key)
{
  GstBuffer *b = gst_buffer_new_allocate (NULL, 64, NULL);

  gst_buffer_memset (b, 0, tag, 64);
  if (!key)
    GST_BUFFER_FLAG_SET (b, GST_BUFFER_FLAG_DELTA_UNIT);
  GST_BUFFER_PTS (b) = tag * 40 * GST_MSECOND;
  fail_unless_equals_int (gst_app_src_push_buffer (GST_APP_SRC (src), b),
      GST_FLOW_OK);
}

/* A reader of NAME@ID that joins an encoded stream starts at a key unit
 * (upstream is asked for one), with the caps in its metadata at once,
 * while the reader already there gets every unit. */
GST_START_TEST (test_fanout_join_starts_at_key_unit)
{
  gchar *name = zbt_name ();
  GstElement *wp, *r1, *r2, *src, *out1, *out2;
  GstPad *pad;
  GstSample *s;
  GstCaps *caps;
  GstMapInfo map;
  Collector c;
  gint i;

  wp = zbt_pipeline ("appsrc name=src is-live=true format=time "
      "caps=video/x-h264,stream-format=byte-stream,alignment=au ! "
      "zbsink buffer-name=%s sync=false", name);
  src = gst_bin_get_by_name (GST_BIN (wp), "src");
  pad = gst_element_get_static_pad (src, "src");
  g_atomic_int_set (&fku_events, 0);
  gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_EVENT_UPSTREAM, count_fku,
      NULL, NULL);
  gst_object_unref (pad);
  c.bus = gst_element_get_bus (wp);
  c.msgs = g_ptr_array_new_with_free_func ((GDestroyNotify)
      gst_structure_free);
  fail_unless (gst_element_set_state (wp, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);

  r1 = zbt_pipeline ("zbsrc buffer-name=%s reader-id=first "
      "timestamp-mode=passthrough ! appsink " "name=out sync=false", name);
  out1 = gst_bin_get_by_name (GST_BIN (r1), "out");
  fail_unless (gst_element_set_state (r1, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  wait_msg (&c, "zbsink-reader-joined", "first", 10000);
  push_h264 (src, 1, TRUE);
  for (i = 2; i <= 5; i++)
    push_h264 (src, i, FALSE);
  /* the first reader has its key unit: no key unit asked for */
  s = gst_app_sink_try_pull_sample (GST_APP_SINK (out1), 5 * GST_SECOND);
  fail_unless (s != NULL);
  gst_sample_unref (s);
  fail_unless_equals_int (g_atomic_int_get (&fku_events), 0);

  r2 = zbt_pipeline ("zbsrc buffer-name=%s reader-id=late "
      "timestamp-mode=passthrough ! appsink " "name=out sync=false", name);
  out2 = gst_bin_get_by_name (GST_BIN (r2), "out");
  fail_unless (gst_element_set_state (r2, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  wait_msg (&c, "zbsink-reader-joined", "late", 10000);
  for (i = 6; i <= 10; i++)
    push_h264 (src, i, FALSE);
  push_h264 (src, 11, TRUE);
  push_h264 (src, 12, FALSE);

  /* the late reader: caps at once, unit 11 first */
  s = gst_app_sink_try_pull_sample (GST_APP_SINK (out2), 5 * GST_SECOND);
  fail_unless (s != NULL);
  caps = gst_sample_get_caps (s);
  fail_unless (caps != NULL && gst_structure_has_name
      (gst_caps_get_structure (caps, 0), "video/x-h264"));
  fail_if (GST_BUFFER_FLAG_IS_SET (gst_sample_get_buffer (s),
          GST_BUFFER_FLAG_DELTA_UNIT));
  fail_unless (gst_buffer_map (gst_sample_get_buffer (s), &map, GST_MAP_READ));
  fail_unless_equals_int (map.data[0], 11);
  gst_buffer_unmap (gst_sample_get_buffer (s), &map);
  gst_sample_unref (s);
  fail_unless_equals_int (g_atomic_int_get (&fku_events), 1);
  /* the first reader: every unit, 2..12 */
  for (i = 2; i <= 12; i++) {
    s = gst_app_sink_try_pull_sample (GST_APP_SINK (out1), 5 * GST_SECOND);
    fail_unless (s != NULL, "unit %d missing", i);
    fail_unless (gst_buffer_map (gst_sample_get_buffer (s), &map,
            GST_MAP_READ));
    fail_unless_equals_int (map.data[0], i);
    gst_buffer_unmap (gst_sample_get_buffer (s), &map);
    gst_sample_unref (s);
  }

  gst_object_unref (out1);
  gst_object_unref (out2);
  gst_object_unref (src);
  zbt_stop_and_free (r2);
  zbt_stop_and_free (r1);
  gst_object_unref (c.bus);
  zbt_stop_and_free (wp);
  g_ptr_array_unref (c.msgs);
  {
    gchar *b = g_strdup_printf ("%s@first", name);

    fail_unless (zbt_no_leftovers (b));
    g_free (b);
    b = g_strdup_printf ("%s@late", name);
    fail_unless (zbt_no_leftovers (b));
    g_free (b);
  }
  fail_unless (zbt_no_leftovers (name));
  g_free (name);
}

GST_END_TEST;

/* A bad reader-id is a clear error: on the property (at start) and in the
 * zerobuffer:// URI (at once); a good one in the URI sets the property. */
GST_START_TEST (test_reader_id_checked)
{
  const gchar *bad[] = { "", "a/b", "a@b", "a b", NULL };
  gchar *name = zbt_name ();
  GstElement *e;
  GError *err = NULL;
  gchar *uri, *id = NULL;
  gint i;

  for (i = 0; bad[i]; i++) {
    GstElement *p = zbt_pipeline ("zbsrc name=src buffer-name=%s ! fakesink",
        name);
    GstElement *src = gst_bin_get_by_name (GST_BIN (p), "src");
    GstBus *bus = gst_element_get_bus (p);
    GstMessage *m;

    g_object_set (src, "reader-id", bad[i], NULL);
    fail_unless (gst_element_set_state (p, GST_STATE_PAUSED) ==
        GST_STATE_CHANGE_FAILURE, "reader-id '%s' accepted", bad[i]);
    m = zbt_pop (bus, GST_MESSAGE_ERROR, 1000);
    fail_unless (m != NULL);
    gst_message_parse_error (m, &err, NULL);
    fail_unless (strstr (err->message, "Invalid reader-id") != NULL, "%s",
        err->message);
    g_clear_error (&err);
    gst_message_unref (m);
    gst_object_unref (bus);
    gst_object_unref (src);
    gst_element_set_state (p, GST_STATE_NULL);
    gst_object_unref (p);
  }
  /* buffer-name names the stream */
  e = gst_element_factory_make ("zbsrc", NULL);
  g_object_set (e, "buffer-name", "cam@x", "reader-id", "rec", NULL);
  fail_unless (gst_element_set_state (e, GST_STATE_PAUSED) ==
      GST_STATE_CHANGE_FAILURE);
  gst_element_set_state (e, GST_STATE_NULL);
  gst_object_unref (e);

  uri = g_strdup_printf ("zerobuffer://%s?reader-id=a%%2Fb", name);
  e = gst_element_make_from_uri (GST_URI_SRC, uri, NULL, &err);
  fail_unless (e == NULL);
  fail_unless (err != NULL && strstr (err->message, "bad reader-id") !=
      NULL, "%s", err ? err->message : "no error");
  g_clear_error (&err);
  g_free (uri);
  uri = g_strdup_printf ("zerobuffer://%s?reader-id=rec", name);
  e = gst_element_make_from_uri (GST_URI_SRC, uri, NULL, &err);
  fail_unless (e != NULL, "%s", err ? err->message : "");
  g_object_get (e, "reader-id", &id, NULL);
  fail_unless_equals_string (id, "rec");
  g_free (id);
  gst_object_unref (e);
  g_free (uri);
  fail_unless (zbt_no_leftovers (name));
  g_free (name);
}

GST_END_TEST;

/* A reader of NAME@ID that another zbsink already serves is not ours:
 * one warning (not one per look at /dev/shm), no error, and the first
 * writer keeps it. */
GST_START_TEST (test_fanout_busy_reader_warned_once)
{
  gchar *name = zbt_name ();
  GstElement *w1, *w2, *r;
  GstBus *bus2;
  GstMessage *m;
  Collector c;
  GError *err = NULL;
  gint warnings = 0;
  gint64 end;

  r = zbt_pipeline ("zbsrc buffer-name=%s reader-id=a ! fakesink", name);
  fail_unless (gst_element_set_state (r, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  w1 = zbt_pipeline ("videotestsrc is-live=true ! "
      "video/x-raw,width=64,height=48,framerate=30/1 ! zbsink "
      "buffer-name=%s sync=false", name);
  c.bus = gst_element_get_bus (w1);
  c.msgs = g_ptr_array_new_with_free_func ((GDestroyNotify)
      gst_structure_free);
  fail_unless (gst_element_set_state (w1, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  wait_msg (&c, "zbsink-reader-joined", "a", 10000);
  w2 = zbt_pipeline ("videotestsrc is-live=true ! "
      "video/x-raw,width=64,height=48,framerate=30/1 ! zbsink "
      "buffer-name=%s sync=false", name);
  bus2 = gst_element_get_bus (w2);
  fail_unless (gst_element_set_state (w2, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  /* the discovery thread looks again every second: 2.5 s, one warning */
  end = g_get_monotonic_time () + 2500 * 1000;
  while (g_get_monotonic_time () < end) {
    m = zbt_pop (bus2, GST_MESSAGE_WARNING | GST_MESSAGE_ERROR, 100);
    if (m == NULL)
      continue;
    fail_unless (GST_MESSAGE_TYPE (m) == GST_MESSAGE_WARNING);
    gst_message_parse_warning (m, &err, NULL);
    fail_unless (strstr (err->message, "already has a live writer") != NULL,
        "%s", err->message);
    g_clear_error (&err);
    gst_message_unref (m);
    warnings++;
  }
  fail_unless_equals_int (warnings, 1);
  collect (&c, 0);
  fail_unless (find_msg (&c, "zbsink-reader-left", "a") == NULL);
  zbt_assert_no_error (bus2);
  gst_object_unref (bus2);
  zbt_stop_and_free (w2);
  gst_object_unref (c.bus);
  zbt_stop_and_free (w1);
  g_ptr_array_unref (c.msgs);
  zbt_stop_and_free (r);
  p_no_leftovers (name, "a");
  fail_unless (zbt_no_leftovers (name));
  g_free (name);
}

GST_END_TEST;

/* frame-format=raw has no caps records: on a caps change a reader of
 * NAME@ID is left ("caps-changed") and joins again, its new connection's
 * metadata carrying the new caps. */
GST_START_TEST (test_fanout_raw_caps_change_rejoins)
{
  gchar *name = zbt_name ();
  GstElement *wp, *rp, *src, *out;
  GstSample *smp;
  GstCaps *caps;
  Collector c;
  const GstStructure *left;
  gint width = 0, i;
  gint64 end;

  wp = zbt_pipeline ("appsrc name=src is-live=true do-timestamp=true "
      "format=time ! zbsink buffer-name=%s sync=false frame-format=raw", name);
  src = gst_bin_get_by_name (GST_BIN (wp), "src");
  g_object_set (src, "caps", caps = gst_caps_from_string ("video/x-raw,"
          "format=GRAY8,width=16,height=16,framerate=30/1"), NULL);
  gst_caps_unref (caps);
  c.bus = gst_element_get_bus (wp);
  c.msgs = g_ptr_array_new_with_free_func ((GDestroyNotify)
      gst_structure_free);
  fail_unless (gst_element_set_state (wp, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  rp = zbt_pipeline ("zbsrc buffer-name=%s reader-id=raw "
      "timestamp-mode=arrival ! appsink name=out sync=false", name);
  out = gst_bin_get_by_name (GST_BIN (rp), "out");
  fail_unless (gst_element_set_state (rp, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  wait_msg (&c, "zbsink-reader-joined", "raw", 10000);
  gst_app_src_push_buffer (GST_APP_SRC (src),
      gst_buffer_new_allocate (NULL, 256, NULL));
  smp = gst_app_sink_try_pull_sample (GST_APP_SINK (out), 5 * GST_SECOND);
  fail_unless (smp != NULL);
  gst_sample_unref (smp);

  g_object_set (src, "caps", caps = gst_caps_from_string ("video/x-raw,"
          "format=GRAY8,width=32,height=16,framerate=30/1"), NULL);
  gst_caps_unref (caps);
  gst_app_src_push_buffer (GST_APP_SRC (src),
      gst_buffer_new_allocate (NULL, 512, NULL));
  left = wait_msg (&c, "zbsink-reader-left", "raw", 5000);
  fail_unless_equals_string (gst_structure_get_string (left, "reason"),
      "caps-changed");
  /* joins again within the discovery thread's next look (1 s) */
  end = g_get_monotonic_time () + 5 * G_USEC_PER_SEC;
  while (width != 32) {
    fail_unless (g_get_monotonic_time () < end, "no frame with new caps");
    gst_app_src_push_buffer (GST_APP_SRC (src),
        gst_buffer_new_allocate (NULL, 512, NULL));
    smp = gst_app_sink_try_pull_sample (GST_APP_SINK (out), 50 * GST_MSECOND);
    if (smp == NULL)
      continue;
    gst_structure_get_int (gst_caps_get_structure (gst_sample_get_caps (smp),
            0), "width", &width);
    if (width == 32)
      fail_unless_equals_int (gst_buffer_get_size (gst_sample_get_buffer
              (smp)), 512);
    gst_sample_unref (smp);
  }
  for (i = 0; i < (gint) c.msgs->len; i++)
    GST_LOG ("%" GST_PTR_FORMAT, g_ptr_array_index (c.msgs, i));
  gst_object_unref (out);
  gst_object_unref (src);
  zbt_stop_and_free (rp);
  gst_object_unref (c.bus);
  zbt_stop_and_free (wp);
  g_ptr_array_unref (c.msgs);
  p_no_leftovers (name, "raw");
  fail_unless (zbt_no_leftovers (name));
  g_free (name);
}

GST_END_TEST;

/* Upstream filling blocks of zbsink's pool: the reader of NAME and a
 * reader of NAME@ID (of our user) both get pool records of the same
 * blocks (zero copy, docs/fanout.md), the same bytes. */
GST_START_TEST (test_fanout_pool_frames_reach_every_reader)
{
  const gint n = 60;
  gchar *name = zbt_name ();
  GstElement *wp, *rp, *sink, *main_out, *copy_out;
  Collector c;
  gint i;

  rp = zbt_pipeline ("zbsrc buffer-name=%s timestamp-mode=arrival ! "
      "appsink name=main sync=false max-buffers=%d "
      "zbsrc buffer-name=%s reader-id=copy timestamp-mode=arrival ! "
      "appsink name=copy sync=false max-buffers=%d", name, n, name, n);
  main_out = gst_bin_get_by_name (GST_BIN (rp), "main");
  copy_out = gst_bin_get_by_name (GST_BIN (rp), "copy");
  fail_unless (gst_element_set_state (rp, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  wp = zbt_pipeline ("videotestsrc num-buffers=%d pattern=ball ! "
      "video/x-raw,format=I420,width=320,height=240 ! zbsink name=sink "
      "buffer-name=%s sync=false", n, name);
  sink = gst_bin_get_by_name (GST_BIN (wp), "sink");
  c.bus = gst_element_get_bus (wp);
  c.msgs = g_ptr_array_new_with_free_func ((GDestroyNotify)
      gst_structure_free);
  /* prerolled: nothing written yet; the reader of NAME@ID is served
   * from the first frame on */
  fail_unless (zbt_set_state (wp, GST_STATE_PAUSED) !=
      GST_STATE_CHANGE_FAILURE);
  wait_msg (&c, "zbsink-reader-joined", "copy", 10000);
  fail_unless (gst_element_set_state (wp, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  for (i = 0; i < n; i++) {
    GstSample *a = gst_app_sink_try_pull_sample (GST_APP_SINK (main_out),
        5 * GST_SECOND);
    GstSample *b = gst_app_sink_try_pull_sample (GST_APP_SINK (copy_out),
        5 * GST_SECOND);

    fail_unless (a != NULL && b != NULL, "frame %d: %p %p", i, a, b);
    fail_unless (zbt_hash_buffer (gst_sample_get_buffer (a)) ==
        zbt_hash_buffer (gst_sample_get_buffer (b)), "frame %d differs", i);
    gst_sample_unref (a);
    gst_sample_unref (b);
  }
  /* the reader of NAME and the reader of NAME@copy, that of NAME first */
  fail_unless_equals_int (readers_prop (sink), 2);
  {
    GstStructure *stats = NULL;
    const GValue *readers;

    g_object_get (sink, "stats", &stats, NULL);
    readers = gst_structure_get_value (stats, "readers");
    fail_unless_equals_int (gst_value_array_get_size (readers), 2);
    fail_unless_equals_string (gst_structure_get_string
        (gst_value_get_structure (gst_value_array_get_value (readers, 0)),
            "name"), name);
    gst_structure_free (stats);
  }
  zbt_wait_eos (wp, 10000);
  /* the pool was used: the reader of NAME got pool records */
  fail_unless (zbt_stat_u64 (sink, "zero-copy-frames") > 0);
  {
    GstStructure *st = reader_stats (sink, "copy");
    guint64 frames = 0;

    fail_unless (st != NULL);
    gst_structure_get_uint64 (st, "frames", &frames);
    fail_unless_equals_uint64 (frames, n);
    frames = 0;
    gst_structure_get_uint64 (st, "zero-copy-frames", &frames);
    fail_unless_equals_uint64 (frames, n);
    gst_structure_free (st);
  }
  gst_object_unref (sink);
  gst_object_unref (main_out);
  gst_object_unref (copy_out);
  gst_object_unref (c.bus);
  zbt_stop_and_free (wp);
  g_ptr_array_unref (c.msgs);
  zbt_stop_and_free (rp);
  p_no_leftovers (name, "copy");
  fail_unless (zbt_no_leftovers (name));
  g_free (name);
}

GST_END_TEST;

static Suite *
zbfanoutelem_suite (void)
{
  Suite *s = suite_create ("zbfanoutelem");
  TCase *tc = tcase_create ("fanout");

  tcase_set_timeout (tc, 60);
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_reader_id_checked);
  tcase_add_test (tc, test_fanout_join_starts_at_key_unit);
  tcase_add_test (tc, test_fanout_busy_reader_warned_once);
  tcase_add_test (tc, test_fanout_raw_caps_change_rejoins);
  tcase_add_test (tc, test_fanout_pool_frames_reach_every_reader);
  return s;
}

ZBT_MAIN (zbfanoutelem_suite);
