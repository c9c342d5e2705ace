/* The gst frame format codec (the metadata JSON: test_zbmetadata.c). */

#include <errno.h>
#include <string.h>

#include <gst/check/gstcheck.h>

#include "zbframe.h"
#include "zbtest.h"

static void
make_frame (guint8 * out, guint8 type, const void *payload, gsize n)
{
  zb_gst_record rec;

  zb_gst_record_init (&rec, type);
  rec.buffer_flags = GST_BUFFER_FLAG_DELTA_UNIT;
  rec.ts_flags = ZB_GST_TS_CLOCK_VALID;
  rec.pts = 0x0102030405060708ull;
  rec.dts = 42;
  rec.duration = 33333333;
  rec.offset = 7;
  rec.offset_end = 8;
  rec.pts_clock = 1000;
  rec.dts_clock = 999;
  rec.payload_size = n;
  zb_gst_record_encode (&rec, out);
  if (n)
    memcpy (out + ZB_GST_HEADER_SIZE, payload, n);
}

GST_START_TEST (test_roundtrip)
{
  guint8 frame[ZB_GST_HEADER_SIZE + 5];
  zb_gst_record rec;
  const void *payload = NULL;

  make_frame (frame, ZB_GST_RECORD_BUFFER, "hello", 5);
  /* the byte layout of docs/frame-format.md */
  fail_unless (memcmp (frame, "ZBGS", 4) == 0);
  fail_unless_equals_int (frame[4], 1);
  fail_unless_equals_int (frame[5], ZB_GST_RECORD_BUFFER);
  fail_unless_equals_int (frame[6] | (frame[7] << 8), ZB_GST_HEADER_SIZE);
  fail_unless_equals_int (frame[16], 0x08);
  fail_unless_equals_int (frame[23], 0x01);
  fail_unless_equals_int (frame[72], 5);

  fail_unless_equals_int (zb_gst_record_decode (frame, sizeof (frame), &rec,
          &payload), 0);
  fail_unless_equals_int (rec.type, ZB_GST_RECORD_BUFFER);
  fail_unless_equals_uint64 (rec.pts, 0x0102030405060708ull);
  fail_unless_equals_uint64 (rec.dts, 42);
  fail_unless_equals_uint64 (rec.duration, 33333333);
  fail_unless_equals_uint64 (rec.offset, 7);
  fail_unless_equals_uint64 (rec.offset_end, 8);
  fail_unless_equals_uint64 (rec.pts_clock, 1000);
  fail_unless_equals_uint64 (rec.dts_clock, 999);
  fail_unless_equals_int (rec.buffer_flags, GST_BUFFER_FLAG_DELTA_UNIT);
  fail_unless_equals_int (rec.ts_flags, ZB_GST_TS_CLOCK_VALID);
  fail_unless_equals_uint64 (rec.payload_size, 5);
  fail_unless (payload == frame + ZB_GST_HEADER_SIZE);
}

GST_END_TEST;

GST_START_TEST (test_every_truncation_rejected)
{
  guint8 frame[ZB_GST_HEADER_SIZE + 5];
  zb_gst_record rec;
  const void *payload = NULL;
  gsize n;

  make_frame (frame, ZB_GST_RECORD_BUFFER, "hello", 5);
  for (n = 0; n < sizeof (frame); n++) {
    /* a copy of exactly n bytes so that a read past the end is caught by
     * valgrind/ASan */
    guint8 *copy = g_memdup2 (frame, n ? n : 1);

    fail_unless (zb_gst_record_decode (copy, n, &rec, &payload) < 0,
        "accepted a frame truncated to %" G_GSIZE_FORMAT " bytes", n);
    g_free (copy);
  }
  fail_unless (zb_gst_record_decode (NULL, 100, &rec, &payload) < 0);
}

GST_END_TEST;

GST_START_TEST (test_bad_fields_rejected)
{
  guint8 frame[ZB_GST_HEADER_SIZE + 5];
  guint8 big[ZB_GST_HEADER_SIZE + 16];
  zb_gst_record rec;
  const void *payload = NULL;

  make_frame (frame, ZB_GST_RECORD_BUFFER, "hello", 5);
  frame[0] = 'X';
  fail_unless_equals_int (zb_gst_record_decode (frame, sizeof (frame), &rec,
          &payload), -EBADMSG);

  make_frame (frame, ZB_GST_RECORD_BUFFER, "hello", 5);
  frame[4] = 2;
  fail_unless_equals_int (zb_gst_record_decode (frame, sizeof (frame), &rec,
          &payload), -EPROTONOSUPPORT);

  make_frame (frame, ZB_GST_RECORD_BUFFER, "hello", 5);
  frame[5] = 0;
  fail_unless_equals_int (zb_gst_record_decode (frame, sizeof (frame), &rec,
          &payload), -EPROTO);
  frame[5] = 7;
  fail_unless_equals_int (zb_gst_record_decode (frame, sizeof (frame), &rec,
          &payload), -EPROTO);
  /* an error record (6) carries text of at most ZB_GST_ERROR_MAX bytes */
  frame[5] = ZB_GST_RECORD_ERROR;
  fail_unless_equals_int (zb_gst_record_decode (frame, sizeof (frame), &rec,
          &payload), 0);
  fail_unless_equals_int (rec.type, ZB_GST_RECORD_ERROR);
  {
    guint8 *rec_big = g_malloc0 (ZB_GST_HEADER_SIZE + ZB_GST_ERROR_MAX + 1);

    zb_gst_record_init (&rec, ZB_GST_RECORD_ERROR);
    rec.payload_size = ZB_GST_ERROR_MAX + 1;
    zb_gst_record_encode (&rec, rec_big);
    fail_unless_equals_int (zb_gst_record_decode (rec_big,
            ZB_GST_HEADER_SIZE + ZB_GST_ERROR_MAX + 1, &rec, &payload),
        -EBADMSG);
    rec.payload_size = ZB_GST_ERROR_MAX;
    zb_gst_record_encode (&rec, rec_big);
    fail_unless_equals_int (zb_gst_record_decode (rec_big,
            ZB_GST_HEADER_SIZE + ZB_GST_ERROR_MAX, &rec, &payload), 0);
    g_free (rec_big);
  }
  /* a pool record (5) needs room for its reference */
  frame[5] = ZB_GST_RECORD_POOL;
  fail_unless_equals_int (zb_gst_record_decode (frame, sizeof (frame), &rec,
          &payload), -EBADMSG);
  /* a pad record (4) is valid, with any payload */
  frame[5] = ZB_GST_RECORD_PAD;
  fail_unless_equals_int (zb_gst_record_decode (frame, sizeof (frame), &rec,
          &payload), 0);
  fail_unless_equals_int (rec.type, ZB_GST_RECORD_PAD);
  fail_unless_equals_int (rec.payload_size, 5);

  /* header_size below the minimum, beyond the frame */
  make_frame (frame, ZB_GST_RECORD_BUFFER, "hello", 5);
  frame[6] = ZB_GST_HEADER_SIZE - 1;
  fail_unless_equals_int (zb_gst_record_decode (frame, sizeof (frame), &rec,
          &payload), -EBADMSG);
  frame[6] = 0xff;
  frame[7] = 0xff;
  fail_unless_equals_int (zb_gst_record_decode (frame, sizeof (frame), &rec,
          &payload), -EBADMSG);

  /* payload_size disagreeing with the frame size, incl. a huge value */
  make_frame (frame, ZB_GST_RECORD_BUFFER, "hello", 5);
  frame[72] = 6;
  fail_unless_equals_int (zb_gst_record_decode (frame, sizeof (frame), &rec,
          &payload), -EBADMSG);
  memset (frame + 72, 0xff, 8);
  fail_unless_equals_int (zb_gst_record_decode (frame, sizeof (frame), &rec,
          &payload), -EBADMSG);

  /* EOS with a payload */
  make_frame (frame, ZB_GST_RECORD_EOS, "hello", 5);
  fail_unless_equals_int (zb_gst_record_decode (frame, sizeof (frame), &rec,
          &payload), -EBADMSG);

  /* a larger header from a future minor revision is skipped */
  make_frame (big, ZB_GST_RECORD_CAPS, "x", 1);
  big[6] = ZB_GST_HEADER_SIZE + 15;
  big[72] = 1;
  fail_unless_equals_int (zb_gst_record_decode (big, sizeof (big), &rec,
          &payload), 0);
  fail_unless (payload == big + ZB_GST_HEADER_SIZE + 15);
}

GST_END_TEST;

static Suite *
zbframe_suite (void)
{
  Suite *s = suite_create ("zbframe");
  TCase *tc = tcase_create ("general");

  tcase_set_timeout (tc, 20);
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_roundtrip);
  tcase_add_test (tc, test_every_truncation_rejected);
  tcase_add_test (tc, test_bad_fields_rejected);
  return s;
}

ZBT_MAIN (zbframe_suite);
