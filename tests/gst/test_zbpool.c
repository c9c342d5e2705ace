/* Zero copy by default (issue 16): zbsink's buffer pool in pool
 * segments, with the peer in another process where it matters. Every
 * frame's content is compared (a hash per frame, writer side against
 * reader side), zbsink's zero-copy count against the frames, and /dev/shm
 * is checked for pool segments left behind. */

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <glib/gstdio.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include <gst/check/gstcheck.h>
#include <gst/video/video.h>
#include <zerobuffer/zerobuffer.h>

#include "zbframe.h"
#include "zbtest.h"

static guint64
stat_of (GstElement * pipeline, const gchar * element, const gchar * field)
{
  GstElement *e = gst_bin_get_by_name (GST_BIN (pipeline), element);
  guint64 v = zbt_stat_u64 (e, field);

  gst_object_unref (e);
  return v;
}

static void
wait_stat (GstElement * pipeline, const gchar * element, const gchar * field,
    guint64 at_least, gint timeout_ms)
{
  gint64 end = g_get_monotonic_time () + timeout_ms * 1000;

  while (stat_of (pipeline, element, field) < at_least) {
    fail_unless (g_get_monotonic_time () < end, "%s.%s stuck at %"
        G_GUINT64_FORMAT " (want %" G_GUINT64_FORMAT ")", element, field,
        stat_of (pipeline, element, field), at_least);
    g_usleep (5000);
  }
}


#define W 320
#define H 240
#define I420_SIZE (W * H * 3 / 2)

/* ------------------------------------------------------------------ */
/* videotestsrc ! zbsink with default properties, zbsrc in a gst-launch
 * process writing every frame to a file: every frame arrives intact and
 * in order, and every one went as a pool record (zero-copy-frames ==
 * frames-sent == N, no fallback). Nothing is left in /dev/shm. */
GST_START_TEST (test_default_zero_copy_process)
{
  gchar *name = zbt_name ();
  gchar *path = zbt_tmp_path ("frames-default.raw");
  gchar *desc;
  GstElement *wp;
  GPid pid;
  ZbtHashLog *in;

  g_unlink (path);
  desc = g_strdup_printf ("zbsrc buffer-name=%s is-live=false ! "
      "filesink location=%s", name, path);
  pid = zbt_spawn_launch (desc);
  wp = zbt_pipeline ("videotestsrc num-buffers=100 pattern=ball ! "
      "video/x-raw,format=I420,width=%d,height=%d ! zbsink name=zb "
      "buffer-name=%s", W, H, name);
  in = zbt_hash_log_new (wp, "zb");
  fail_unless (zbt_set_state (wp, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  zbt_wait_eos (wp, 30000);
  fail_unless_equals_uint64 (stat_of (wp, "zb", "frames-sent"), 100);
  fail_unless_equals_uint64 (stat_of (wp, "zb", "zero-copy-frames"), 100);
  fail_unless_equals_uint64 (stat_of (wp, "zb", "pool-fallbacks"), 0);
  zbt_finish_file_reader (wp, pid, 10000, path, I420_SIZE, in, name);
  g_free (path);
  g_free (desc);
  g_free (name);
}

GST_END_TEST;

/* Buffers held long and in any order, without a stall; all frames
 * arrive, intact, in order. 0: a tee whose other branch holds buffers (a
 * queue in front of a slow sink that keeps its last sample) and zbsink
 * keeping its last sample (tee drops pools from the ALLOCATION query, so
 * these frames are copied, as shmsink's would be). 1: the reader process
 * holds up to 100 of them in a queue in front of a slow sink: the pool
 * grows to its bound and then hands out plain memory (copied); zero-copy
 * + fallbacks = frames. */
GST_START_TEST (test_held_buffers)
{
  gchar *name = zbt_name ();
  gchar *path = zbt_tmp_path ("frames-held.raw");
  gchar *desc;
  GstElement *wp;
  GPid pid;
  ZbtHashLog *in;

  g_unlink (path);
  if (__i__ == 0) {
    desc = g_strdup_printf ("zbsrc buffer-name=%s is-live=false ! "
        "filesink location=%s", name, path);
    wp = zbt_pipeline ("videotestsrc num-buffers=200 pattern=ball ! "
        "video/x-raw,format=I420,width=%d,height=%d ! tee name=t "
        "t. ! queue max-size-buffers=100 max-size-bytes=0 max-size-time=0 ! "
        "identity sleep-time=2000 ! fakesink sync=false "
        "enable-last-sample=true t. ! queue ! zbsink name=zb buffer-name=%s "
        "enable-last-sample=true", W, H, name);
  } else {
    desc = g_strdup_printf ("zbsrc buffer-name=%s is-live=false ! "
        "queue max-size-buffers=100 max-size-bytes=0 max-size-time=0 ! "
        "identity sleep-time=2000 ! filesink location=%s", name, path);
    wp = zbt_pipeline ("videotestsrc num-buffers=200 pattern=ball ! "
        "video/x-raw,format=I420,width=%d,height=%d ! queue ! zbsink name=zb "
        "buffer-name=%s enable-last-sample=true", W, H, name);
  }
  pid = zbt_spawn_launch (desc);
  in = zbt_hash_log_new (wp, "zb");
  fail_unless (zbt_set_state (wp, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  zbt_wait_eos (wp, 60000);
  fail_unless_equals_uint64 (stat_of (wp, "zb", "frames-sent"), 200);
  GST_INFO ("zero-copy %" G_GUINT64_FORMAT ", fallbacks %" G_GUINT64_FORMAT,
      stat_of (wp, "zb", "zero-copy-frames"), stat_of (wp, "zb",
          "pool-fallbacks"));
  if (__i__ == 1) {
    fail_unless (stat_of (wp, "zb", "zero-copy-frames") >= 64);
    fail_unless_equals_uint64 (stat_of (wp, "zb", "zero-copy-frames") +
        stat_of (wp, "zb", "pool-fallbacks"), 200);
  }
  zbt_finish_file_reader (wp, pid, 30000, path, I420_SIZE, in, name);
  g_free (path);
  g_free (desc);
  g_free (name);
}

GST_END_TEST;

/* kill -9 of a gst-launch writer mid-stream: zbsrc removes the pool
 * segments the dead writer left, and a replacement writer's frames go
 * through (zbsrc keeps PLAYING). */
GST_START_TEST (test_writer_killed)
{
  gchar *name = zbt_name ();
  gchar *desc;
  GstElement *rp;
  GstBus *bus;
  GstMessage *msg;
  GPid pid;
  guint64 before;

  rp = zbt_pipeline ("zbsrc name=src buffer-name=%s ! fakesink sync=false",
      name);
  bus = gst_element_get_bus (rp);
  fail_unless (gst_element_set_state (rp, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  desc = g_strdup_printf ("videotestsrc is-live=true ! "
      "video/x-raw,format=I420,width=%d,height=%d,framerate=100/1 ! "
      "zbsink buffer-name=%s", W, H, name);
  pid = zbt_spawn_launch (desc);
  wait_stat (rp, "src", "frames-received", 20, 10000);
  fail_unless (zbt_pool_segments (name) > 0);
  zbt_kill (pid, SIGKILL, 5000);
  msg = zbt_pop_element (bus, "zbsrc-writer-lost", 5000);
  fail_unless (msg != NULL);
  gst_message_unref (msg);
  zbt_wait_no_pool_segments (name, 2000);

  before = stat_of (rp, "src", "frames-received");
  pid = zbt_spawn_launch (desc);
  wait_stat (rp, "src", "frames-received", before + 20, 10000);
  zbt_kill (pid, SIGKILL, 5000);
  msg = zbt_pop_element (bus, "zbsrc-writer-lost", 5000);
  fail_unless (msg != NULL);
  gst_message_unref (msg);
  zbt_wait_no_pool_segments (name, 2000);
  gst_object_unref (bus);
  zbt_stop_and_free (rp);
  fail_unless (zbt_no_leftovers (name));
  g_free (desc);
  g_free (name);
}

GST_END_TEST;

/* kill -9 of a gst-launch reader mid-stream: zbsink (in this process)
 * reconnects to a replacement reader and goes on without a copy; its
 * blocks the dead reader held come back. Once the writer stops, nothing
 * is left in /dev/shm. */
GST_START_TEST (test_reader_killed)
{
  gchar *name = zbt_name ();
  gchar *desc;
  GstElement *wp;
  GPid pid;
  guint64 before;

  desc = g_strdup_printf ("zbsrc buffer-name=%s ! fakesink sync=false", name);
  pid = zbt_spawn_launch (desc);
  wp = zbt_pipeline ("videotestsrc is-live=true ! "
      "video/x-raw,format=I420,width=%d,height=%d,framerate=100/1 ! "
      "zbsink name=zb buffer-name=%s", W, H, name);
  fail_unless (zbt_set_state (wp, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  wait_stat (wp, "zb", "zero-copy-frames", 20, 10000);
  zbt_kill (pid, SIGKILL, 5000);
  /* the sink notices the loss on its next frame */
  g_usleep (300000);
  before = stat_of (wp, "zb", "zero-copy-frames");
  pid = zbt_spawn_launch (desc);
  wait_stat (wp, "zb", "zero-copy-frames", before + 50, 10000);
  zbt_kill (pid, SIGKILL, 5000);
  zbt_stop_and_free (wp);
  zbt_wait_no_pool_segments (name, 2000);
  zbt_remove_leftovers (name);  /* the killed reader's objects */
  g_free (desc);
  g_free (name);
}

GST_END_TEST;

/* Caps change mid-stream (a new size): upstream renegotiates, zbsink
 * proposes a new pool, the old segment stays until its records are
 * read. Every frame arrives with the right caps and content, all without
 * a copy. */
static GstPadProbeReturn
switch_caps (GstPad * pad, GstPadProbeInfo * info, gpointer user_data)
{
  GstElement *cf = user_data;
  GstBuffer *buf = GST_PAD_PROBE_INFO_BUFFER (info);

  if (GST_BUFFER_OFFSET (buf) == 30) {
    GstCaps *caps = gst_caps_from_string ("video/x-raw,format=I420,"
        "width=160,height=120");

    g_object_set (cf, "caps", caps, NULL);
    gst_caps_unref (caps);
  }
  return GST_PAD_PROBE_OK;
}

GST_START_TEST (test_caps_change)
{
  gchar *name = zbt_name ();
  GstElement *wp, *rp, *cf;
  GstPad *pad;
  ZbtHashLog *in, *out;

  rp = zbt_pipeline ("zbsrc buffer-name=%s ! fakesink name=out sync=false",
      name);
  wp = zbt_pipeline ("videotestsrc name=vs num-buffers=60 pattern=ball ! "
      "capsfilter name=cf caps=video/x-raw,format=I420,width=%d,height=%d ! "
      "zbsink name=zb buffer-name=%s", W, H, name);
  cf = gst_bin_get_by_name (GST_BIN (wp), "cf");
  pad = gst_element_get_static_pad (cf, "src");
  gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_BUFFER, switch_caps, cf, NULL);
  gst_object_unref (pad);
  in = zbt_hash_log_new (wp, "zb");
  out = zbt_hash_log_new (rp, "out");
  fail_unless (gst_element_set_state (rp, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  fail_unless (zbt_set_state (wp, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  zbt_wait_eos (wp, 30000);
  zbt_wait_eos (rp, 30000);
  fail_unless_equals_int (in->hashes->len, 60);
  zbt_assert_same_frames (in, out);
  /* both sizes went without a copy */
  fail_unless_equals_uint64 (stat_of (wp, "zb", "zero-copy-frames"), 60);
  zbt_stop_and_free (wp);
  zbt_stop_and_free (rp);
  zbt_wait_no_pool_segments (name, 2000);
  fail_unless (zbt_no_leftovers (name));
  gst_object_unref (cf);
  zbt_hash_log_free (in);
  zbt_hash_log_free (out);
  g_free (name);
}

GST_END_TEST;

/* ------------------------------------------------------------------ */
/* Hostile pool records from a library writer: zbsrc posts a STREAM
 * DECODE error naming the buffer ("Invalid pool record"), never reads
 * outside a segment, never crashes. Variants: an offset past the
 * segment, a size past its block, a name that is not the writer's, a
 * segment of the wrong size, a name with a path in it. */

static const gchar pool_meta[] = "{\"caps\":\"video/x-raw,format=GRAY8,"
    "width=64,height=64,framerate=0/1\",\"frame_format\":\"gst\"}";

/* A pool record in @frame: a 4096-byte buffer at offset 0 of the segment
 * @seg_name of two such blocks; *@ref holds the reference, for changes. */
static void
pool_frame (guint8 * frame, zb_gst_pool_ref * ref, const gchar * seg_name)
{
  zb_gst_record rec;

  zb_gst_record_init (&rec, ZB_GST_RECORD_POOL);
  rec.payload_size = ZB_GST_POOL_REF_SIZE;
  zb_gst_record_encode (&rec, frame);
  memset (ref, 0, sizeof (*ref));
  ref->segment_size = 8192;
  ref->block_size = 4096;
  ref->size = 4096;
  g_strlcpy (ref->name, seg_name, sizeof (ref->name));
  zb_gst_pool_ref_encode (ref, frame + ZB_GST_HEADER_SIZE);
}

static void
put64 (guint8 * p, guint64 v)
{
  gint i;

  for (i = 0; i < 8; i++)
    p[i] = (guint8) (v >> (8 * i));
}

GST_START_TEST (test_hostile_record)
{
  gchar *name = zbt_name ();
  gchar seg_name[ZB_GST_POOL_NAME_SIZE], path[ZB_GST_POOL_NAME_SIZE + 2];
  zb_writer_config wc = { 2000, 0 };
  zb_writer *w = NULL;
  GstElement *r;
  GstBus *bus;
  GstMessage *m;
  GError *err = NULL;
  gchar *dbg = NULL;
  zb_gst_pool_ref ref;
  guint8 frame[ZB_GST_HEADER_SIZE + ZB_GST_POOL_REF_SIZE];
  gint fd;

  /* a real segment of ours, 2 blocks of 4096 */
  fail_unless (zb_gst_pool_name (seg_name, sizeof (seg_name), name,
          (guint64) getpid (), 0) == 0);
  g_snprintf (path, sizeof (path), "/%s", seg_name);
  fd = shm_open (path, O_RDWR | O_CREAT | O_EXCL, 0600);
  fail_unless (fd >= 0 && ftruncate (fd, 8192) == 0);
  close (fd);

  r = zbt_pipeline ("zbsrc name=src buffer-name=%s is-live=false ! fakesink",
      name);
  bus = gst_element_get_bus (r);
  fail_unless (gst_element_set_state (r, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  fail_unless_equals_int (zb_writer_connect (name, &wc, &w), 0);
  fail_unless_equals_int (zb_writer_set_metadata (w, pool_meta,
          strlen (pool_meta)), 0);

  /* first a valid one: it arrives */
  pool_frame (frame, &ref, seg_name);
  fail_unless_equals_int (zb_writer_write (w, frame, sizeof (frame)), 0);

  switch (__i__) {
    case 0:                    /* offset past the segment */
      ref.offset = 8192;
      break;
    case 1:                    /* size past its block */
      ref.offset = 100;
      break;
    case 2:                    /* another writer's name */
      fail_unless (zb_gst_pool_name (ref.name, sizeof (ref.name), name,
              (guint64) getpid () + 1, 0) == 0);
      break;
    case 3:                    /* the segment is larger than it says */
      ref.segment_size = 4096;
      ref.block_size = 2048;
      ref.size = 2048;
      break;
    default:                   /* a path for a name */
      g_strlcpy (ref.name, "zbpool-../../etc/passwd", sizeof (ref.name));
      break;
  }
  /* the encoder writes what it is given; bytes as a hostile writer would */
  zb_gst_pool_ref_encode (&ref, frame + ZB_GST_HEADER_SIZE);
  if (__i__ == 0)
    put64 (frame + ZB_GST_HEADER_SIZE + 16, 8192);
  fail_unless_equals_int (zb_writer_write (w, frame, sizeof (frame)), 0);

  m = zbt_pop (bus, GST_MESSAGE_ERROR, 5000);
  fail_unless (m != NULL, "no error");
  gst_message_parse_error (m, &err, &dbg);
  GST_INFO ("error: %s (%s)", err->message, dbg);
  fail_unless (g_error_matches (err, GST_STREAM_ERROR,
          GST_STREAM_ERROR_DECODE));
  fail_unless (strstr (err->message, "Invalid pool record") != NULL,
      "%s", err->message);
  fail_unless (strstr (err->message, name) != NULL);
  g_error_free (err);
  g_free (dbg);
  gst_message_unref (m);
  fail_unless (stat_of (r, "src", "frames-received") <= 1);
  gst_object_unref (bus);
  zb_writer_disconnect (w);
  gst_element_set_state (r, GST_STATE_NULL);
  gst_object_unref (r);
  shm_unlink (path);
  fail_unless (zbt_no_leftovers (name));
  g_free (name);
}

GST_END_TEST;

/* zbsrc checks a pool segment's name against its writer once, when it maps
 * the segment, and keeps the mapping for that writer's later records. A
 * writer that replaced it must not use the mapping: its record naming the
 * previous writer's segment (still there) is refused as the name of another
 * writer would be. Each writer is a child process, so that the two have
 * different pids (a segment's name carries its writer's). */

static void
pool_writer_child (const gchar * name, const gchar * seg_name, gint go)
{
  zb_writer_config wc = { 2000, 0 };
  zb_writer *w = NULL;
  zb_gst_pool_ref ref;
  guint8 frame[ZB_GST_HEADER_SIZE + ZB_GST_POOL_REF_SIZE];
  gchar c;

  if (zb_writer_connect (name, &wc, &w) != 0 ||
      zb_writer_set_metadata (w, pool_meta, strlen (pool_meta)) != 0)
    _exit (1);
  pool_frame (frame, &ref, seg_name);
  if (zb_writer_write (w, frame, sizeof (frame)) != 0)
    _exit (2);
  /* stay connected until the parent has seen the frame */
  if (read (go, &c, 1) != 1)
    _exit (3);
  zb_writer_disconnect (w);
  /* SIGKILL, not exit: no exit handler runs in this copy of a threaded
   * process, and valgrind does not count the parent's threads' memory as
   * this child's leaks (the reader saw the writer leave cleanly before) */
  raise (SIGKILL);
  _exit (6);
}

GST_START_TEST (test_replaced_writer_old_segment)
{
  gchar *name = zbt_name ();
  gchar seg_name[ZB_GST_POOL_NAME_SIZE], path[ZB_GST_POOL_NAME_SIZE + 2];
  GstElement *r;
  GstBus *bus;
  GstMessage *m;
  GError *err = NULL;
  gchar *dbg = NULL;
  gint fd, go[2], k;
  pid_t w1, w2;

  r = zbt_pipeline ("zbsrc name=src buffer-name=%s is-live=false ! fakesink",
      name);
  bus = gst_element_get_bus (r);
  fail_unless (gst_element_set_state (r, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  fail_unless (pipe (go) == 0);

  /* the first writer, with a real segment named after it */
  w1 = fork ();
  fail_unless (w1 >= 0);
  if (w1 == 0) {
    close (go[1]);
    if (zb_gst_pool_name (seg_name, sizeof (seg_name), name,
            (guint64) getpid (), 0) < 0)
      _exit (4);
    g_snprintf (path, sizeof (path), "/%s", seg_name);
    fd = shm_open (path, O_RDWR | O_CREAT | O_EXCL, 0600);
    if (fd < 0 || ftruncate (fd, 8192) != 0)
      _exit (5);
    close (fd);
    pool_writer_child (name, seg_name, go[0]);
  }
  fail_unless (zb_gst_pool_name (seg_name, sizeof (seg_name), name,
          (guint64) w1, 0) == 0);
  g_snprintf (path, sizeof (path), "/%s", seg_name);
  for (k = 0; k < 500 && stat_of (r, "src", "frames-received") < 1; k++)
    g_usleep (10000);
  fail_unless_equals_int ((gint) stat_of (r, "src", "frames-received"), 1);
  fail_unless (write (go[1], "g", 1) == 1);
  fail_unless_equals_int (zbt_wait_pid (w1, 10000), SIGKILL);

  /* the second writer names the first one's segment */
  w2 = fork ();
  fail_unless (w2 >= 0);
  if (w2 == 0) {
    close (go[1]);
    pool_writer_child (name, seg_name, go[0]);
  }
  m = zbt_pop (bus, GST_MESSAGE_ERROR, 5000);
  fail_unless (m != NULL, "the replaced writer's segment was used");
  gst_message_parse_error (m, &err, &dbg);
  fail_unless (strstr (err->message, "Invalid pool record") != NULL,
      "%s", err->message);
  fail_unless (strstr (dbg, "not one of the writer's") != NULL, "%s", dbg);
  g_error_free (err);
  g_free (dbg);
  gst_message_unref (m);
  fail_unless_equals_int ((gint) stat_of (r, "src", "frames-received"), 1);
  fail_unless (write (go[1], "g", 1) == 1);
  fail_unless_equals_int (zbt_wait_pid (w2, 10000), SIGKILL);
  close (go[0]);
  close (go[1]);
  gst_object_unref (bus);
  gst_element_set_state (r, GST_STATE_NULL);
  gst_object_unref (r);
  shm_unlink (path);
  fail_unless (zbt_no_leftovers (name));
  g_free (name);
}

GST_END_TEST;

static Suite *
zbpool_suite (void)
{
  Suite *s = suite_create ("zbpool");
  TCase *tc = tcase_create ("general");

  tcase_set_timeout (tc, 120);
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_default_zero_copy_process);
  tcase_add_loop_test (tc, test_held_buffers, 0, 2);
  tcase_add_test (tc, test_writer_killed);
  tcase_add_test (tc, test_reader_killed);
  tcase_add_test (tc, test_caps_change);
  tcase_add_loop_test (tc, test_hostile_record, 0, 5);
  tcase_add_test (tc, test_replaced_writer_old_segment);
  return s;
}

ZBT_MAIN (zbpool_suite);
