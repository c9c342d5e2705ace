/* zbsink and zbsrc each in a GstHarness, the other side being the library
 * itself: pins the wire format (metadata JSON, gst records) and the
 * zero-copy release path. */

#include <errno.h>
#include <string.h>

#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>
#include <zerobuffer/zerobuffer.h>

#include "zbframe.h"
#include "zbtest.h"

static GstBuffer *
make_buffer (gsize size, guint8 first, GstClockTime pts)
{
  GstBuffer *buf = gst_buffer_new_allocate (NULL, size, NULL);
  GstMapInfo map;
  gsize i;

  gst_buffer_map (buf, &map, GST_MAP_WRITE);
  for (i = 0; i < size; i++)
    map.data[i] = (guint8) (first + i);
  gst_buffer_unmap (buf, &map);
  GST_BUFFER_PTS (buf) = pts;
  GST_BUFFER_DURATION (buf) = 33 * GST_MSECOND;
  GST_BUFFER_OFFSET (buf) = 5;
  GST_BUFFER_OFFSET_END (buf) = 6;
  return buf;
}

static GstHarness *
sink_harness (const gchar * name, const gchar * format)
{
  GstElement *e = gst_element_factory_make ("zbsink", NULL);
  GstHarness *h;

  fail_unless (e != NULL);
  g_object_set (e, "buffer-name", name, "sync", FALSE, NULL);
  if (format)
    gst_util_set_object_arg (G_OBJECT (e), "frame-format", format);
  h = gst_harness_new_with_element (e, "sink", NULL);
  gst_object_unref (e);
  return h;
}

static void
read_record (zb_reader * r, zb_frame * f, zb_gst_record * rec,
    const void **payload)
{
  int ret = zb_reader_read (r, 5000, f);

  fail_unless_equals_int (ret, 0);
  fail_unless_equals_int (zb_gst_record_decode (f->data, f->size, rec,
          payload), 0);
}

GST_START_TEST (test_sink_writes_metadata_and_records)
{
  gchar *name = zbt_name ();
  zb_reader_config cfg = {.payload_size = 1 << 20,.metadata_size = 4096 };
  zb_reader *r = NULL;
  GstHarness *h;
  GstBuffer *buf;
  zb_frame f;
  zb_gst_record rec;
  const void *payload;
  const void *meta;
  size_t meta_size;
  gchar *version, *expected;
  char *s;

  fail_unless_equals_int (zb_reader_create (name, &cfg, &r), 0);
  h = sink_harness (name, NULL);
  gst_harness_set_src_caps_str (h,
      "video/x-raw,format=GRAY8,width=4,height=2,framerate=30/1");

  buf = make_buffer (8, 10, GST_SECOND);
  GST_BUFFER_FLAG_SET (buf, GST_BUFFER_FLAG_DELTA_UNIT);
  fail_unless_equals_int (gst_harness_push (h, buf), GST_FLOW_OK);

  read_record (r, &f, &rec, &payload);
  fail_unless (f.flags & ZB_FRAME_NEW_WRITER);

  /* metadata: section 7 JSON, exact bytes (docs/frame-format.md) */
  fail_unless_equals_int (zb_reader_get_metadata (r, &meta, &meta_size), 0);
  version = gst_version_string ();
  expected = g_strdup_printf ("{\"type\":\"gstreamer-sink\","
      "\"version\":\"%s\",\"caps\":\"video/x-raw, format=(string)GRAY8, "
      "width=(int)4, height=(int)2, framerate=(fraction)30/1\","
      "\"element_name\":\"%s\",\"frame_format\":\"gst\","
      "\"frame_format_version\":1}", version, GST_OBJECT_NAME (h->element));
  fail_unless_equals_int (meta_size, strlen (expected));
  fail_unless (memcmp (meta, expected, meta_size) == 0, "metadata %.*s",
      (int) meta_size, (const char *) meta);
  g_free (expected);
  g_free (version);

  fail_unless_equals_int (rec.type, ZB_GST_RECORD_BUFFER);
  fail_unless_equals_uint64 (rec.pts, GST_SECOND);
  fail_unless_equals_uint64 (rec.dts, ZB_GST_NONE);
  fail_unless_equals_uint64 (rec.duration, 33 * GST_MSECOND);
  fail_unless_equals_uint64 (rec.offset, 5);
  fail_unless_equals_uint64 (rec.offset_end, 6);
  fail_unless (rec.buffer_flags & GST_BUFFER_FLAG_DELTA_UNIT);
  fail_unless_equals_uint64 (rec.payload_size, 8);
  fail_unless_equals_int (((const guint8 *) payload)[0], 10);
  fail_unless_equals_int (((const guint8 *) payload)[7], 17);
  fail_unless_equals_int (zb_reader_release (r, &f), 0);

  /* a caps change travels as a caps record before the next buffer */
  gst_harness_set_src_caps_str (h,
      "video/x-raw,format=GRAY8,width=2,height=4,framerate=30/1");
  fail_unless_equals_int (gst_harness_push (h, make_buffer (8, 0,
              2 * GST_SECOND)), GST_FLOW_OK);
  read_record (r, &f, &rec, &payload);
  fail_unless_equals_int (rec.type, ZB_GST_RECORD_CAPS);
  s = g_strndup (payload, rec.payload_size);
  fail_unless (strstr (s, "width=(int)2") != NULL, "%s", s);
  g_free (s);
  zb_reader_release (r, &f);
  read_record (r, &f, &rec, &payload);
  /* no ALLOCATION query reached the sink, so once connected it copies
   * into a block of its pool (docs/elements.md, behind a tee) */
  fail_unless_equals_int (rec.type, ZB_GST_RECORD_POOL);
  fail_unless_equals_uint64 (rec.pts, 2 * GST_SECOND);
  zb_reader_release (r, &f);

  gst_harness_teardown (h);

  /* the sink disconnected on stop */
  fail_unless_equals_int (zb_reader_read (r, 2000, &f), -EPIPE);
  zb_reader_destroy (r);
  fail_unless (zbt_no_leftovers (name));
  g_free (name);
}

GST_END_TEST;

GST_START_TEST (test_sink_raw_packs_rows)
{
  gchar *name = zbt_name ();
  zb_reader_config cfg = {.payload_size = 1 << 20,.metadata_size = 4096 };
  zb_reader *r = NULL;
  GstHarness *h;
  GstBuffer *buf;
  GstMapInfo map;
  zb_frame f;
  const guint8 *d;
  const void *meta;
  size_t meta_size;
  gint y;

  fail_unless_equals_int (zb_reader_create (name, &cfg, &r), 0);
  h = sink_harness (name, "raw");
  /* RGB width 3: GStreamer pads rows to 12 bytes, raw packs them to 9 */
  gst_harness_set_src_caps_str (h,
      "video/x-raw,format=RGB,width=3,height=2,framerate=30/1");
  buf = gst_buffer_new_allocate (NULL, 24, NULL);
  gst_buffer_map (buf, &map, GST_MAP_WRITE);
  for (y = 0; y < 24; y++)
    map.data[y] = (guint8) y;
  gst_buffer_unmap (buf, &map);
  fail_unless_equals_int (gst_harness_push (h, buf), GST_FLOW_OK);

  fail_unless_equals_int (zb_reader_read (r, 5000, &f), 0);
  fail_unless_equals_int (f.size, 18);
  d = f.data;
  fail_unless_equals_int (d[0], 0);
  fail_unless_equals_int (d[8], 8);
  fail_unless_equals_int (d[9], 12);    /* second row starts at 12 */
  fail_unless_equals_int (d[17], 20);
  fail_unless_equals_int (zb_reader_get_metadata (r, &meta, &meta_size), 0);
  fail_unless (g_strstr_len (meta, meta_size,
          ",\"frame_format\":\"raw\",\"frame_format_version\":1}") != NULL);
  zb_reader_release (r, &f);

  gst_harness_teardown (h);
  zb_reader_destroy (r);
  fail_unless (zbt_no_leftovers (name));
  g_free (name);
}

GST_END_TEST;

static void
write_record (zb_writer * w, guint8 type, GstClockTime pts, const void *data,
    gsize n)
{
  guint8 *frame = g_malloc (ZB_GST_HEADER_SIZE + n);
  zb_gst_record rec;

  zb_gst_record_init (&rec, type);
  rec.pts = pts;
  rec.duration = 10 * GST_MSECOND;
  rec.payload_size = n;
  rec.buffer_flags = GST_BUFFER_FLAG_DELTA_UNIT;
  zb_gst_record_encode (&rec, frame);
  if (n)
    memcpy (frame + ZB_GST_HEADER_SIZE, data, n);
  fail_unless_equals_int (zb_writer_write (w, frame, ZB_GST_HEADER_SIZE + n),
      0);
  g_free (frame);
}

static GstHarness *
src_harness (const gchar * name, const gchar * extra)
{
  GstElement *e = gst_element_factory_make ("zbsrc", NULL);
  GstHarness *h;
  gchar **props = g_strsplit (extra, " ", -1);
  gint i;

  fail_unless (e != NULL);
  g_object_set (e, "buffer-name", name, "is-live", FALSE, "payload-size",
      (guint64) 65536, NULL);
  for (i = 0; props[i]; i++) {
    gchar **kv = g_strsplit (props[i], "=", 2);

    if (kv[0] && kv[1])
      gst_util_set_object_arg (G_OBJECT (e), kv[0], kv[1]);
    g_strfreev (kv);
  }
  g_strfreev (props);
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

GST_START_TEST (test_src_reads_records)
{
  gchar *name = zbt_name ();
  const char *meta = "{\"type\":\"gstreamer-sink\",\"caps\":"
      "\"video/x-raw, format=(string)GRAY8, width=(int)4, height=(int)2, "
      "framerate=(fraction)30/1\",\"frame_format\":\"gst\"}";
  const char *caps2 = "video/x-raw, format=(string)GRAY8, width=(int)2, "
      "height=(int)2, framerate=(fraction)30/1";
  GstHarness *h = src_harness (name,
      "on-writer-lost=eos timestamp-mode=passthrough");
  zb_writer *w = connect_writer (name);
  GstBuffer *buf;
  GstCaps *caps;
  GstEvent *ev;
  guint64 frames;

  fail_unless_equals_int (zb_writer_set_metadata (w, meta, strlen (meta)), 0);
  write_record (w, ZB_GST_RECORD_BUFFER, 3 * GST_SECOND, "abcdefgh", 8);
  buf = gst_harness_pull (h);
  fail_unless (buf != NULL);
  fail_unless_equals_int (gst_buffer_get_size (buf), 8);
  fail_unless (gst_buffer_memcmp (buf, 0, "abcdefgh", 8) == 0);
  fail_unless_equals_uint64 (GST_BUFFER_PTS (buf), 3 * GST_SECOND);
  fail_unless_equals_uint64 (GST_BUFFER_DURATION (buf), 10 * GST_MSECOND);
  fail_unless (GST_BUFFER_FLAG_IS_SET (buf, GST_BUFFER_FLAG_DELTA_UNIT));
  caps = gst_pad_get_current_caps (h->sinkpad);
  fail_unless (caps != NULL);
  {
    GstCaps *expect = gst_caps_from_string ("video/x-raw, format=(string)GRAY8,"
        " width=(int)4, height=(int)2, framerate=(fraction)30/1");

    fail_unless (gst_caps_is_equal (caps, expect));
    gst_caps_unref (expect);
  }
  gst_caps_unref (caps);
  gst_buffer_unref (buf);

  /* in-band caps change */
  write_record (w, ZB_GST_RECORD_CAPS, GST_CLOCK_TIME_NONE, caps2,
      strlen (caps2));
  write_record (w, ZB_GST_RECORD_BUFFER, 4 * GST_SECOND, "wxyz", 4);
  buf = gst_harness_pull (h);
  caps = gst_pad_get_current_caps (h->sinkpad);
  {
    GstCaps *expect = gst_caps_from_string (caps2);

    fail_unless (gst_caps_is_equal (caps, expect));
    gst_caps_unref (expect);
  }
  gst_caps_unref (caps);
  gst_buffer_unref (buf);

  /* EOS record: EOS downstream */
  write_record (w, ZB_GST_RECORD_EOS, GST_CLOCK_TIME_NONE, NULL, 0);
  do {
    ev = gst_harness_pull_event (h);
    fail_unless (ev != NULL);
    if (GST_EVENT_TYPE (ev) == GST_EVENT_EOS) {
      gst_event_unref (ev);
      break;
    }
    gst_event_unref (ev);
  } while (TRUE);

  frames = zbt_stat_u64 (h->element, "frames-received");
  fail_unless_equals_uint64 (frames, 2);
  zb_writer_disconnect (w);
  gst_harness_teardown (h);
  fail_unless (zbt_no_leftovers (name));
  g_free (name);
}

GST_END_TEST;

GST_START_TEST (test_src_foreign_writer)
{
  gchar *name = zbt_name ();
  const char *meta = "audio/x-raw, format=(string)S16LE, layout=(string)"
      "interleaved, rate=(int)8000, channels=(int)1";
  GstHarness *h = src_harness (name, "on-writer-lost=eos");
  zb_writer *w = connect_writer (name);
  GstBuffer *buf;
  GstCaps *caps, *expect;
  GstEvent *ev;

  /* bare caps string as metadata, bare bytes as frames */
  fail_unless_equals_int (zb_writer_set_metadata (w, meta, strlen (meta)), 0);
  fail_unless_equals_int (zb_writer_write (w, "\1\2\3\4", 4), 0);
  buf = gst_harness_pull (h);
  fail_unless_equals_int (gst_buffer_get_size (buf), 4);
  caps = gst_pad_get_current_caps (h->sinkpad);
  expect = gst_caps_from_string (meta);
  fail_unless (gst_caps_is_equal (caps, expect));
  gst_caps_unref (caps);
  gst_caps_unref (expect);
  gst_buffer_unref (buf);

  /* the writer leaving means EOS with on-writer-lost=eos */
  zb_writer_disconnect (w);
  do {
    ev = gst_harness_pull_event (h);
    fail_unless (ev != NULL);
    if (GST_EVENT_TYPE (ev) == GST_EVENT_EOS) {
      gst_event_unref (ev);
      break;
    }
    gst_event_unref (ev);
  } while (TRUE);

  gst_harness_teardown (h);
  fail_unless (zbt_no_leftovers (name));
  g_free (name);
}

GST_END_TEST;

GST_START_TEST (test_src_no_caps_is_bytes)
{
  gchar *name = zbt_name ();
  GstHarness *h = src_harness (name, "");
  zb_writer *w = connect_writer (name);
  GstBuffer *buf;
  GstCaps *caps;

  fail_unless_equals_int (zb_writer_write (w, "xyz", 3), 0);
  buf = gst_harness_pull (h);
  fail_unless_equals_int (gst_buffer_get_size (buf), 3);
  caps = gst_pad_get_current_caps (h->sinkpad);
  fail_unless (gst_structure_has_name (gst_caps_get_structure (caps, 0),
          "application/octet-stream"));
  gst_caps_unref (caps);
  gst_buffer_unref (buf);
  zb_writer_disconnect (w);
  gst_harness_teardown (h);
  fail_unless (zbt_no_leftovers (name));
  g_free (name);
}

GST_END_TEST;

GST_START_TEST (test_src_zero_copy_and_release_order)
{
  gchar *name = zbt_name ();
  /* no stall breaker: the held frames must stay in the ring however slow
   * this thread is (test_zbstall.c moves them) */
  GstHarness *h = src_harness (name, "caps=application/x-test "
      "stall-timeout=0");
  zb_writer *w = connect_writer (name);
  GstBuffer *b[3];
  guint64 held, copies;
  guint8 data[1000];
  gint i;

  memset (data, 0xab, sizeof (data));
  for (i = 0; i < 3; i++)
    fail_unless_equals_int (zb_writer_write (w, data, sizeof (data)), 0);
  for (i = 0; i < 3; i++) {
    b[i] = gst_harness_pull (h);
    fail_unless (b[i] != NULL);
    /* read-only wrap of the ring, not a copy */
    fail_unless (GST_MEMORY_FLAG_IS_SET (gst_buffer_peek_memory (b[i], 0),
            GST_MEMORY_FLAG_READONLY));
  }
  held = zbt_stat_u64 (h->element, "held-bytes");
  copies = zbt_stat_u64 (h->element, "copies");
  fail_unless (held >= 3 * sizeof (data), "held %" G_GUINT64_FORMAT, held);
  fail_unless_equals_uint64 (copies, 0);

  /* free out of order: space returns once the oldest is freed */
  gst_buffer_unref (b[1]);
  gst_buffer_unref (b[2]);
  held = zbt_stat_u64 (h->element, "held-bytes");
  fail_unless (held >= sizeof (data));
  gst_buffer_unref (b[0]);
  held = zbt_stat_u64 (h->element, "held-bytes");
  fail_unless_equals_uint64 (held, 0);

  /* above max-held-bytes, frames are copied and released at once */
  g_object_set (h->element, "max-held-bytes", (guint64) 1500, NULL);
  for (i = 0; i < 3; i++)
    fail_unless_equals_int (zb_writer_write (w, data, sizeof (data)), 0);
  for (i = 0; i < 3; i++)
    b[i] = gst_harness_pull (h);
  copies = zbt_stat_u64 (h->element, "copies");
  fail_unless (copies >= 1, "copies %" G_GUINT64_FORMAT, copies);
  for (i = 0; i < 3; i++)
    gst_buffer_unref (b[i]);
  held = zbt_stat_u64 (h->element, "held-bytes");
  fail_unless_equals_uint64 (held, 0);

  zb_writer_disconnect (w);
  gst_harness_teardown (h);
  fail_unless (zbt_no_leftovers (name));
  g_free (name);
}

GST_END_TEST;

GST_START_TEST (test_src_buffers_outlive_element)
{
  gchar *name = zbt_name ();
  GstHarness *h = src_harness (name, "caps=application/x-test");
  zb_writer *w = connect_writer (name);
  GstBuffer *buf;

  fail_unless_equals_int (zb_writer_write (w, "held", 4), 0);
  buf = gst_harness_pull (h);
  zb_writer_disconnect (w);
  gst_harness_teardown (h);
  /* the reader lives while the buffer does */
  fail_unless (gst_buffer_memcmp (buf, 0, "held", 4) == 0);
  gst_buffer_unref (buf);
  fail_unless (zbt_no_leftovers (name));
  g_free (name);
}

GST_END_TEST;

static Suite *
zbharness_suite (void)
{
  Suite *s = suite_create ("zbharness");
  TCase *tc = tcase_create ("general");

  tcase_set_timeout (tc, 30);
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_sink_writes_metadata_and_records);
  tcase_add_test (tc, test_sink_raw_packs_rows);
  tcase_add_test (tc, test_src_reads_records);
  tcase_add_test (tc, test_src_foreign_writer);
  tcase_add_test (tc, test_src_no_caps_is_bytes);
  tcase_add_test (tc, test_src_zero_copy_and_release_order);
  tcase_add_test (tc, test_src_buffers_outlive_element);
  return s;
}

ZBT_MAIN (zbharness_suite);
