/* Writer-side zero copy in one process: upstream allocating from the pool
 * zbsink proposes by default (blocks of pool segments), every frame
 * checked at the reader, zero-copy=false, state changes. Across processes,
 * tees, kills and hostile records: test_zbpool.c. */

#include <string.h>

#include <gst/app/gstappsrc.h>
#include <gst/check/gstcheck.h>
#include <gst/video/video.h>

#include "zbtest.h"

#define FRAME_SIZE (64 * 1024)

/* Every frame the reader got is one the writer was given, intact, in the
 * writer's order; returns how many matched. */
static guint
assert_subsequence (ZbtHashLog * in, ZbtHashLog * out)
{
  guint i, j = 0;

  for (i = 0; i < out->hashes->len; i++) {
    guint64 h = g_array_index (out->hashes, guint64, i);

    while (j < in->hashes->len && g_array_index (in->hashes, guint64, j) != h)
      j++;
    fail_unless (j < in->hashes->len, "reader frame %u of %u is not one the "
        "writer got (or out of order)", i, out->hashes->len);
    j++;
  }
  return out->hashes->len;
}

/* ------------------------------------------------------------------ */

/* zbsink's count of frames sent without a copy */
static guint64
in_place (GstElement * pipeline)
{
  GstElement *zb = gst_bin_get_by_name (GST_BIN (pipeline), "zb");
  guint64 n = zbt_stat_u64 (zb, "zero-copy-frames");

  gst_object_unref (zb);
  return n;
}

/* With @last_sample the reader's sink keeps its last sample (basesink's
 * default): it releases a buffer only when the next one arrives, while
 * frames of ours that are not buffers (the no-op caps record of an
 * abandoned ring slot) pass by. Regression (out-of-order case): the
 * library's early wrap of large frames once left no room after such a
 * record and the writer waited forever. */
static GstElement *
reader_new (const gchar * name, gboolean last_sample)
{
  return zbt_pipeline ("zbsrc name=src buffer-name=%s payload-size=8388608 "
      "! fakesink name=out sync=false enable-last-sample=%s", name,
      last_sample ? "true" : "false");
}

static void
start (GstElement * rp, GstElement * wp)
{
  fail_unless (gst_element_set_state (rp, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  fail_unless (zbt_set_state (wp, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
}

/* ------------------------------------------------------------------ */
/* videotestsrc allocates from the sink's proposal: every frame arrives
 * intact and in order, with and without the last sample holding the
 * buffer. */
GST_START_TEST (test_videotestsrc)
{
  gchar *name = zbt_name ();
  GstElement *rp, *wp;
  ZbtHashLog *in, *out;

  rp = reader_new (name, FALSE);
  wp = zbt_pipeline ("videotestsrc num-buffers=60 pattern=ball ! "
      "video/x-raw,format=I420,width=320,height=240 ! zbsink name=zb "
      "buffer-name=%s sync=false enable-last-sample=%s", name,
      __i__ ? "true" : "false");
  in = zbt_hash_log_new (wp, "zb");
  out = zbt_hash_log_new (rp, "out");
  start (rp, wp);
  zbt_wait_eos (wp, 30000);
  zbt_wait_eos (rp, 30000);

  zbt_assert_same_frames (in, out);
  fail_unless_equals_int (in->hashes->len, 60);
  /* every buffer from the pool, every one sent without a copy, with
   * or without the last sample holding it */
  fail_unless_equals_int (in->pool_blocks, 60);
  fail_unless_equals_uint64 (in_place (wp), 60);

  zbt_stop_and_free (wp);
  zbt_stop_and_free (rp);
  zbt_hash_log_free (in);
  zbt_hash_log_free (out);
  fail_unless (zbt_no_leftovers (name));
  g_free (name);
}

GST_END_TEST;

/* zero-copy=false: nothing comes from the ring. */
GST_START_TEST (test_zero_copy_off)
{
  gchar *name = zbt_name ();
  GstElement *rp, *wp;
  ZbtHashLog *in, *out;

  rp = reader_new (name, FALSE);
  wp = zbt_pipeline ("videotestsrc num-buffers=20 pattern=ball ! "
      "video/x-raw,format=I420,width=320,height=240 ! zbsink name=zb "
      "buffer-name=%s sync=false zero-copy=false", name);
  in = zbt_hash_log_new (wp, "zb");
  out = zbt_hash_log_new (rp, "out");
  start (rp, wp);
  zbt_wait_eos (wp, 30000);
  zbt_wait_eos (rp, 30000);
  zbt_assert_same_frames (in, out);
  fail_unless_equals_int (in->pool_blocks, 0);
  fail_unless_equals_uint64 (in_place (wp), 0);
  zbt_stop_and_free (wp);
  zbt_stop_and_free (rp);
  zbt_hash_log_free (in);
  zbt_hash_log_free (out);
  g_free (name);
}

GST_END_TEST;

/* PLAYING, PAUSED, READY and back while videotestsrc allocates from the
 * ring; then a flushing seek. No error, no hang, and what arrives is what
 * went in, in order. */
GST_START_TEST (test_state_cycling)
{
  gchar *name = zbt_name ();
  GstElement *rp, *wp;
  ZbtHashLog *in, *out;
  guint i;

  rp = reader_new (name, FALSE);
  wp = zbt_pipeline ("videotestsrc pattern=ball ! "
      "video/x-raw,format=I420,width=320,height=240,framerate=200/1 ! "
      "zbsink name=zb buffer-name=%s sync=false "
      "enable-last-sample=false", name);
  in = zbt_hash_log_new (wp, "zb");
  out = zbt_hash_log_new (rp, "out");
  start (rp, wp);

  for (i = 0; i < 6; i++) {
    GstState target = i % 2 ? GST_STATE_PAUSED : GST_STATE_READY;

    g_usleep (50 * 1000);
    fail_unless (zbt_set_state (wp, target) != GST_STATE_CHANGE_FAILURE);
    g_usleep (20 * 1000);
    fail_unless (zbt_set_state (wp, GST_STATE_PLAYING) !=
        GST_STATE_CHANGE_FAILURE);
  }
  g_usleep (50 * 1000);
  fail_unless (gst_element_seek_simple (wp, GST_FORMAT_TIME,
          GST_SEEK_FLAG_FLUSH, 0));
  g_usleep (100 * 1000);
  gst_element_send_event (wp, gst_event_new_eos ());
  zbt_wait_eos (wp, 30000);
  zbt_wait_eos (rp, 30000);

  fail_unless (zbt_hash_log_len (out) > 10);
  fail_unless (in_place (wp) > 10, "%" G_GUINT64_FORMAT " of %u frames sent "
      "without a copy", in_place (wp), in->hashes->len);
  assert_subsequence (in, out);

  zbt_stop_and_free (wp);
  zbt_stop_and_free (rp);
  zbt_hash_log_free (in);
  zbt_hash_log_free (out);
  fail_unless (zbt_no_leftovers (name));
  g_free (name);
}

GST_END_TEST;

static Suite *
zbzerocopy_suite (void)
{
  Suite *s = suite_create ("zbzerocopy");
  TCase *tc = tcase_create ("general");

  tcase_set_timeout (tc, 60);
  suite_add_tcase (s, tc);
  tcase_add_loop_test (tc, test_videotestsrc, 0, 2);
  tcase_add_test (tc, test_zero_copy_off);
  tcase_add_test (tc, test_state_cycling);
  return s;
}

ZBT_MAIN (zbzerocopy_suite);
