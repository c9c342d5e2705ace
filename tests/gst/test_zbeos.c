/* zbsink's EOS: the EOS record reaches the reader before basesink posts
 * EOS, and zbsink waits until the reader has read everything. A flush
 * during that wait (or while the EOS record waits for room in a full
 * ring) drops the EOS: no EOS message. PLAYING -> PAUSED during it waits
 * for PLAYING: no EOS message while PAUSED, and once PLAYING again the
 * record is written and read, then EOS is posted.
 *
 * The reader is the library's, in this process, so that the test decides
 * when frames are read.
 *
 * gst-launch-1.0 -e (issue 17): its first Ctrl-C ends a writer that waits
 * for its first reader (nobody to deliver EOS to), and with a reader
 * there the EOS reaches it before the writer exits. */

#include <string.h>

#include <gst/app/gstappsrc.h>
#include <gst/check/gstcheck.h>
#include <zerobuffer/zerobuffer.h>

#include "zbframe.h"
#include "zbtest.h"

#define RING_SIZE (64 * 1024)
#define SMALL 1000
/* after one such buffer (16 + 80 + LARGE; the caps travel in the
 * metadata) 50 bytes are left: the EOS record (96) waits for the reader to
 * free the start of the ring */
#define LARGE (RING_SIZE - 96 - 50)

typedef enum
{
  CASE_READ_WAIT,               /* record written, reader not reading */
  CASE_RING_FULL                /* record waits for room */
} Case;

typedef struct
{
  gchar *name;
  zb_reader *reader;
  GstElement *wp;
  GstElement *appsrc;
  GstElement *zb;
  GstBus *bus;
  guint frames;                 /* buffers pushed */
  gboolean got_eos_record;
  guint read;                   /* frames read */
} Fixture;

static void
setup (Fixture * f, Case c)
{
  zb_reader_config config = { 0 };
  guint i;
  gsize size = c == CASE_RING_FULL ? LARGE : SMALL;

  f->name = zbt_name ();
  config.payload_size = RING_SIZE;
  config.metadata_size = 4096;
  fail_unless_equals_int (zb_reader_create (f->name, &config, &f->reader), 0);
  f->wp = zbt_pipeline ("appsrc name=in caps=application/x-zbtest "
      "format=bytes ! zbsink name=zb buffer-name=%s sync=false "
      "zero-copy=false", f->name);
  f->appsrc = gst_bin_get_by_name (GST_BIN (f->wp), "in");
  f->zb = gst_bin_get_by_name (GST_BIN (f->wp), "zb");
  f->bus = gst_element_get_bus (f->wp);
  f->frames = c == CASE_RING_FULL ? 1 : 4;
  for (i = 0; i < f->frames; i++) {
    GstBuffer *buf = gst_buffer_new_allocate (NULL, size, NULL);

    gst_buffer_memset (buf, 0, (guint8) i, size);
    fail_unless_equals_int (gst_app_src_push_buffer (GST_APP_SRC
            (f->appsrc), buf), GST_FLOW_OK);
  }
  fail_unless_equals_int (gst_app_src_end_of_stream (GST_APP_SRC
          (f->appsrc)), GST_FLOW_OK);
  fail_unless (zbt_set_state (f->wp, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
}

static guint64
written (Fixture * f)
{
  zb_status st;

  fail_unless_equals_int (zb_reader_get_status (f->reader, &st), 0);
  return st.written_count;
}

/* Wait until zbsink is in the EOS wait of case @c: every record written
 * (the buffers, EOS), or the ring full with the EOS record left. */
static void
wait_blocked (Fixture * f, Case c)
{
  guint64 want = f->frames + (c == CASE_RING_FULL ? 0 : 1);
  gint64 t0 = g_get_monotonic_time ();

  while (written (f) < want && g_get_monotonic_time () - t0 < 10 * 1000000)
    g_usleep (5 * 1000);
  fail_unless_equals_uint64 (written (f), want);
  /* zbsink is in its wait by now, or about to be */
  g_usleep (100 * 1000);
  fail_unless_equals_uint64 (written (f), want);
}

/* Read (and release) every frame there is within @timeout_ms of quiet. */
static void
read_all (Fixture * f, gint timeout_ms)
{
  zb_frame frame;
  zb_gst_record rec;
  const void *payload;

  while (zb_reader_read (f->reader, timeout_ms, &frame) == 0) {
    fail_unless_equals_int (zb_gst_record_decode (frame.data, frame.size,
            &rec, &payload), 0);
    if (rec.type == ZB_GST_RECORD_EOS)
      f->got_eos_record = TRUE;
    f->read++;
    fail_unless_equals_int (zb_reader_release (f->reader, &frame), 0);
  }
}

static void
teardown (Fixture * f)
{
  zbt_stop_and_free (f->wp);
  gst_object_unref (f->bus);
  gst_object_unref (f->appsrc);
  gst_object_unref (f->zb);
  zb_reader_destroy (f->reader);
  fail_unless (zbt_no_leftovers (f->name));
  g_free (f->name);
}

static void
assert_no_eos (Fixture * f, gint timeout_ms)
{
  GstMessage *msg = zbt_pop (f->bus, GST_MESSAGE_EOS | GST_MESSAGE_ERROR,
      timeout_ms);

  fail_unless (msg == NULL, "%s posted: the reader has not read the EOS "
      "record", GST_MESSAGE_TYPE_NAME (msg));
}

/* The usual case: EOS is posted once the reader has read it. */
GST_START_TEST (test_eos)
{
  Case c = __i__;
  Fixture f = { 0 };

  setup (&f, c);
  wait_blocked (&f, c);
  assert_no_eos (&f, 200);
  read_all (&f, 500);
  fail_unless (f.got_eos_record);
  fail_unless_equals_int (f.read, 1 + f.frames);
  zbt_wait_eos (f.wp, 5000);
  teardown (&f);
}

GST_END_TEST;

/* A flush during the wait: the EOS is dropped, none is posted. */
GST_START_TEST (test_flush_during_eos)
{
  Case c = __i__;
  Fixture f = { 0 };
  GstPad *pad;

  setup (&f, c);
  wait_blocked (&f, c);
  pad = gst_element_get_static_pad (f.zb, "sink");
  fail_unless (gst_pad_send_event (pad, gst_event_new_flush_start ()));
  fail_unless (gst_pad_send_event (pad, gst_event_new_flush_stop (TRUE)));
  gst_object_unref (pad);
  assert_no_eos (&f, 300);
  /* a record written before the flush is still in the ring */
  read_all (&f, 200);
  fail_unless (f.got_eos_record == (c == CASE_READ_WAIT));
  assert_no_eos (&f, 300);
  teardown (&f);
}

GST_END_TEST;

/* PLAYING -> PAUSED during the wait: no EOS while PAUSED, even after the
 * reader has read everything; once PLAYING again the record arrives and
 * then EOS is posted. */
GST_START_TEST (test_pause_during_eos)
{
  Case c = __i__;
  Fixture f = { 0 };

  setup (&f, c);
  wait_blocked (&f, c);
  fail_unless (zbt_set_state (f.wp, GST_STATE_PAUSED) !=
      GST_STATE_CHANGE_FAILURE);
  assert_no_eos (&f, 300);
  read_all (&f, 200);
  assert_no_eos (&f, 300);
  fail_unless (zbt_set_state (f.wp, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  read_all (&f, 500);
  fail_unless (f.got_eos_record);
  fail_unless_equals_int (f.read, 1 + f.frames);
  zbt_wait_eos (f.wp, 5000);
  teardown (&f);
}

GST_END_TEST;

#define LAUNCH_VIDEO "video/x-raw,format=I420,width=64,height=48"

/* A non-live writer with no reader waits for one (on-reader-lost=auto);
 * one SIGINT to gst-launch-1.0 -e ends it with exit status 0, and it
 * leaves nothing behind. Before, the EOS waited behind the blocked
 * streaming thread and the process had to be killed. */
GST_START_TEST (test_launch_eos_without_reader)
{
  gchar *name = zbt_name ();
  gchar *desc = g_strdup_printf ("-e videotestsrc ! " LAUNCH_VIDEO
      " ! zbsink buffer-name=%s", name);
  GPid pid = zbt_spawn_launch (desc);
  gint status;

  g_free (desc);
  g_usleep (1500 * 1000);
  fail_unless (zbt_wait_pid (pid, 0) == -1, "the writer did not wait");
  kill (pid, SIGINT);
  status = zbt_wait_pid (pid, 10000);
  if (status == -1)
    zbt_kill (pid, SIGKILL, 5000);
  fail_unless (status != -1, "gst-launch-1.0 -e ignored the first SIGINT");
  fail_unless (WIFEXITED (status) && WEXITSTATUS (status) == 0,
      "status 0x%x", status);
  fail_unless (zbt_no_leftovers (name));
  g_free (name);
}

GST_END_TEST;

/* With a reader: the same SIGINT delivers EOS to it (the EOS record), and
 * the writer exits 0. */
GST_START_TEST (test_launch_eos_with_reader)
{
  gchar *name = zbt_name ();
  GstElement *rp = zbt_pipeline ("zbsrc buffer-name=%s ! fakesink "
      "sync=false", name);
  gchar *desc = g_strdup_printf ("-e videotestsrc is-live=true ! "
      LAUNCH_VIDEO " ! zbsink buffer-name=%s", name);
  GPid pid;
  gint status;

  fail_unless (zbt_set_state (rp, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  pid = zbt_spawn_launch (desc);
  g_free (desc);
  g_usleep (1500 * 1000);
  kill (pid, SIGINT);
  status = zbt_wait_pid (pid, 10000);
  if (status == -1)
    zbt_kill (pid, SIGKILL, 5000);
  fail_unless (status != -1, "gst-launch-1.0 -e ignored the first SIGINT");
  fail_unless (WIFEXITED (status) && WEXITSTATUS (status) == 0,
      "status 0x%x", status);
  zbt_wait_eos (rp, 5000);
  gst_element_set_state (rp, GST_STATE_NULL);
  gst_object_unref (rp);
  fail_unless (zbt_no_leftovers (name));
  g_free (name);
}

GST_END_TEST;

/* A writer that stops without EOS (set to NULL) while its reader still
 * has frames to read whose bytes lie in the writer's pool segments
 * (videotestsrc allocates from zbsink's pool): the reader, slower than
 * the writer, still gets every frame the writer wrote (stop waits, bounded,
 * until the reader has read them). Before, the segments went with the
 * writer and those frames were dropped with a warning. */
static GstPadProbeReturn
slow_reader (GstPad * pad, GstPadProbeInfo * info, gpointer count)
{
  /* stuck on the first frame: the writer's pool runs dry and grows new
   * segments that the reader has not mapped yet */
  g_usleep (g_atomic_int_get ((gint *) count) == 0 ? 500 * 1000 : 10 * 1000);
  g_atomic_int_inc ((gint *) count);
  return GST_PAD_PROBE_OK;
}

GST_START_TEST (test_stop_without_eos_keeps_frames)
{
  gchar *name = zbt_name ();
  GstElement *rp, *wp, *sink, *out;
  GstPad *pad;
  gint count = 0, read;
  guint64 written;
  gint64 end;

  rp = zbt_pipeline ("zbsrc buffer-name=%s on-writer-lost=eos is-live=false "
      "! fakesink name=out sync=false", name);
  out = gst_bin_get_by_name (GST_BIN (rp), "out");
  pad = gst_element_get_static_pad (out, "sink");
  gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_BUFFER, slow_reader, &count, NULL);
  gst_object_unref (pad);
  gst_object_unref (out);
  fail_unless (zbt_set_state (rp, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);

  wp = zbt_pipeline ("videotestsrc ! " LAUNCH_VIDEO " ! zbsink name=sink "
      "buffer-name=%s", name);
  sink = gst_bin_get_by_name (GST_BIN (wp), "sink");
  fail_unless (zbt_set_state (wp, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  end = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;
  while (zbt_stat_u64 (sink, "frames-sent") < 20) {
    fail_unless (g_get_monotonic_time () < end);
    g_usleep (1000);
  }
  written = zbt_stat_u64 (sink, "frames-sent");
  read = g_atomic_int_get (&count);
  gst_element_set_state (wp, GST_STATE_NULL);
  fail_unless (read < (gint) written, "the reader was not behind: %d of %"
      G_GUINT64_FORMAT, read, written);
  written = zbt_stat_u64 (sink, "frames-sent");
  fail_unless (zbt_stat_u64 (sink, "zero-copy-frames") > 0,
      "no frame went through the pool");
  gst_object_unref (sink);
  gst_object_unref (wp);

  zbt_wait_eos (rp, 10000);
  fail_unless_equals_int (g_atomic_int_get (&count), (gint) written);
  zbt_stop_and_free (rp);
  fail_unless (zbt_no_leftovers (name));
  g_free (name);
}

GST_END_TEST;

static Suite *
zbeos_suite (void)
{
  Suite *s = suite_create ("zbeos");
  TCase *tc = tcase_create ("general");

  tcase_set_timeout (tc, 30);
  suite_add_tcase (s, tc);
  tcase_add_loop_test (tc, test_eos, 0, 2);
  tcase_add_loop_test (tc, test_flush_during_eos, 0, 2);
  tcase_add_loop_test (tc, test_pause_during_eos, 0, 2);
  tcase_add_test (tc, test_launch_eos_without_reader);
  tcase_add_test (tc, test_launch_eos_with_reader);
  tcase_add_test (tc, test_stop_without_eos_keeps_frames);
  return s;
}

ZBT_MAIN (zbeos_suite);
