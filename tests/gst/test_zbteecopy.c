/* Copies behind a tee (docs/benchmarks.md, "Copies behind a tee"): a tee
 * answers the ALLOCATION query without a pool, so upstream's buffers are
 * its own memory and zbsink copies every one. In the gst frame format it
 * copies into a free block of its own pool, the one the reader released
 * last, and sends a pool record (pool-copies in the stats; these are not
 * zero-copy-frames); frame-format=raw and zero-copy=false copy into the
 * ring as before. The reader is a gst-launch-1.0 process writing every
 * frame to a file; every frame's content is compared (a hash per frame,
 * writer side against the file), also while the reader holds frames (a
 * block is not reused before the reader has released it), and /dev/shm
 * is checked for pool segments left behind. */

#include <string.h>
#include <sys/wait.h>
#include <glib/gstdio.h>

#include <gst/check/gstcheck.h>

#include "zbtest.h"

#define W 320
#define H 240
#define I420_SIZE (W * H * 3 / 2)
#define N 100

static guint64
stat_of (GstElement * pipeline, const gchar * field)
{
  GstElement *e = gst_bin_get_by_name (GST_BIN (pipeline), "zb");
  guint64 v = zbt_stat_u64 (e, field);

  gst_object_unref (e);
  return v;
}

/* videotestsrc ! tee ! zbsink, N frames, per variant:
 * 0: the reader holds up to 20 frames (a queue in front of a slow sink):
 *    blocks held by the reader are not reused, every frame arrives intact;
 * 1: a writer slower than the reader: every frame after the first (sent
 *    before zbsink connected, into the ring) can go as a pool-copy; at
 *    least half must (the reader may fall behind on a loaded machine);
 * 2: frame-format=raw (the reference readers; no EOS record, the reader
 *    ends when the writer leaves): copied into the ring;
 * 3: zero-copy=false: no pool, copied into the ring;
 * 4: as 1 with a queue ! fakesink branch before zbsink's: the tee asks
 *    that branch first, gets no answer and asks zbsink nothing, so
 *    zbsink makes its pool when it first copies (before: 0 pool-copies). */
GST_START_TEST (test_tee_pool_copies)
{
  const gchar *reader_extra[] = { "! queue max-size-buffers=20 "
        "max-size-bytes=0 max-size-time=0 ! identity sleep-time=1000",
    "", "on-writer-lost=eos", "", ""
  };
  const gchar *writer_before[] = { "", "! identity sleep-time=2000", "", "",
    "! identity sleep-time=2000"
  };
  const gchar *sink_extra[] = { "", "", "frame-format=raw", "zero-copy=false",
    ""
  };
  const gchar *tee[] = { "tee", "tee", "tee", "tee",
    "tee name=t t. ! queue ! fakesink t."
  };
  gchar *name = zbt_name ();
  gchar *path = zbt_tmp_path ("frames-tee.raw");
  gchar *desc;
  GstElement *wp;
  GPid pid;
  guint64 copies;
  ZbtHashLog *in;

  g_unlink (path);
  /* zbsrc's own options, or the elements after it */
  desc = g_strdup_printf ("zbsrc buffer-name=%s is-live=false %s ! "
      "filesink location=%s", name, reader_extra[__i__], path);
  pid = zbt_spawn_launch (desc);
  wp = zbt_pipeline ("videotestsrc num-buffers=%d pattern=ball %s ! "
      "video/x-raw,format=I420,width=%d,height=%d ! %s ! zbsink name=zb "
      "buffer-name=%s %s", N, writer_before[__i__], W, H, tee[__i__], name,
      sink_extra[__i__]);
  in = zbt_hash_log_new (wp, "zb");
  fail_unless (zbt_set_state (wp, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  zbt_wait_eos (wp, 60000);
  fail_unless_equals_uint64 (stat_of (wp, "frames-sent"), N);
  copies = stat_of (wp, "pool-copies");
  GST_INFO ("variant %d: pool-copies %" G_GUINT64_FORMAT, __i__, copies);
  /* upstream allocated none of them from the pool: not zero copy */
  fail_unless_equals_uint64 (stat_of (wp, "zero-copy-frames"), 0);
  switch (__i__) {
    case 0:
      fail_unless (copies > 0 && copies < N);
      break;
    case 1:
    case 4:
      fail_unless (copies >= N / 2 && copies < N, "pool-copies %"
          G_GUINT64_FORMAT, copies);
      break;
    default:
      fail_unless_equals_uint64 (copies, 0);
      break;
  }
  zbt_finish_file_reader (wp, pid, 30000, path, I420_SIZE, in, name);
  g_free (path);
  g_free (desc);
  g_free (name);
}

GST_END_TEST;

static Suite *
zbteecopy_suite (void)
{
  Suite *s = suite_create ("zbteecopy");
  TCase *tc = tcase_create ("general");

  tcase_set_timeout (tc, 120);
  suite_add_tcase (s, tc);
  tcase_add_loop_test (tc, test_tee_pool_copies, 0, 5);
  return s;
}

ZBT_MAIN (zbteecopy_suite);
