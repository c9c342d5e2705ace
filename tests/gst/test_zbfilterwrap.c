/* zbfilter pushes responses without copying them (docs/duplex.md,
 * "Responses without a copy"): each output buffer wraps the response's
 * bytes where they lie (the response ring, or the request ring for an
 * answer in place) in a read-only memory that gives the frame back when
 * freed. Against the C example server in another process (zbt-duplex-
 * invert), answering in place and by copy: contents and the wrapped /
 * copies counters, packed raw video with a GstVideoMeta, buffers held
 * downstream (all of them, with small rings: no deadlock), a server
 * restart while buffers are held (and one is mapped), and a stop while a
 * buffer is mapped.
 *
 * ZBT_MAIN rather than GST_CHECK_MAIN: each binary needs its private
 * registry (zbt_env_init) before gst_check_init(). */

#include "zbtest.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <glib/gstdio.h>
#include <gst/check/gstharness.h>
#include <gst/video/video.h>

#define W 64
#define H 48
#define FRAME (W * H)
#define CAPS "video/x-raw,format=GRAY8,width=64,height=48,framerate=30/1"
/* packed rows of 30 bytes, 32 in GStreamer's default layout */
#define ODD_W 30
#define ODD_H 24
#define CAPS_ODD "video/x-raw,format=GRAY8,width=30,height=24,framerate=30/1"
/* rings of about five frames: held buffers fill them at once */
#define SMALL_RING "16384"

/* zbt-duplex-invert on zbt_server_channel() with a
 * request ring of @ring bytes; @copy: every answer copied into the
 * response ring (its default), else -i: answers in place. Dies with the
 * test process. Returns the channel. */
static const gchar *
start_server (const gchar * ring, gboolean copy)
{
  gchar *log = zbt_tmp_path ("server.log");
  const gchar *argv[] = { ZB_DUPLEX_INVERT, "-n", NULL, "-s", ring,
    copy ? NULL : "-i", NULL
  };

  argv[2] = zbt_server_channel ();
  zbt_server_start (argv, log);
  g_free (log);
  return argv[2];
}

/* A harness around a zbfilter of @channel with @props ("name=value ...",
 * set before it starts) */
static GstHarness *
filter_harness (const gchar * channel, const gchar * props)
{
  GstElement *f = gst_element_factory_make ("zbfilter", NULL);
  gchar **kv = g_strsplit (props ? props : "", " ", -1);
  GstHarness *h;
  gint i;

  fail_unless (f != NULL);
  g_object_set (f, "channel-name", channel, NULL);
  for (i = 0; kv[i]; i++) {
    gchar **pair = g_strsplit (kv[i], "=", 2);

    if (pair[0] && pair[1])
      gst_util_set_object_arg (G_OBJECT (f), pair[0], pair[1]);
    g_strfreev (pair);
  }
  g_strfreev (kv);
  /* the harness takes a reference of its own */
  h = gst_harness_new_with_element (f, "sink", "src");
  gst_object_unref (f);
  return h;
}

static guint8
byte_of (gint i, gsize k)
{
  return (guint8) (k + 7 * i);
}

static GstBuffer *
make_frame (gint i, gsize size)
{
  GstBuffer *buf = gst_buffer_new_allocate (NULL, size, NULL);
  GstMapInfo map;
  gsize k;

  gst_buffer_map (buf, &map, GST_MAP_WRITE);
  for (k = 0; k < size; k++)
    map.data[k] = byte_of (i, k);
  gst_buffer_unmap (buf, &map);
  GST_BUFFER_PTS (buf) = i * 33 * GST_MSECOND;
  GST_BUFFER_DURATION (buf) = 33 * GST_MSECOND;
  return buf;
}

/* @size bytes at @data are frame @i inverted */
static void
check_bytes (const guint8 * data, gsize size, gint i)
{
  gsize k;

  for (k = 0; k < size; k++) {
    guint8 want = 255 - byte_of (i, k);

    fail_unless (data[k] == want, "frame %d byte %" G_GSIZE_FORMAT ": %u",
        i, k, data[k]);
  }
}

/* @buf is frame @i inverted, with its timestamp */
static void
check_inverted (GstBuffer * buf, gint i)
{
  GstMapInfo map;

  fail_unless (buf != NULL);
  fail_unless_equals_uint64 (GST_BUFFER_PTS (buf), i * 33 * GST_MSECOND);
  fail_unless (gst_buffer_map (buf, &map, GST_MAP_READ));
  fail_unless_equals_uint64 (map.size, FRAME);
  check_bytes (map.data, map.size, i);
  gst_buffer_unmap (buf, &map);
}

/* @buf wraps a response: one read-only memory of the ring allocator */
static void
assert_wrapped (GstBuffer * buf)
{
  GstMemory *mem;

  fail_unless_equals_int (gst_buffer_n_memory (buf), 1);
  mem = gst_buffer_peek_memory (buf, 0);
  fail_unless (gst_memory_is_type (mem, "ZbRingMemory"), "memory of %s",
      mem->allocator ? mem->allocator->mem_type : "?");
  fail_unless (GST_MEMORY_IS_READONLY (mem));
}

static void
assert_no_leftovers (const gchar * channel)
{
  gchar *resp = g_strdup_printf ("%s_response", channel);

  fail_unless (zbt_no_leftovers (resp), "%s left over", resp);
  g_free (resp);
}

/* ------------------------------------------------------------------ */

/* Responses whose bytes can go out as they are (raw video whose packed
 * layout is the default one; bare responses to gst records) are wrapped,
 * not copied: "copies" stays 0, every byte checked. Answered in place
 * (the bytes lie in the request ring) and by copy (response ring), with
 * both frame formats. Before: every response was copied ("copies" = 1 per
 * buffer). */
static void
run_wrapped (gboolean copy, const gchar * format)
{
  const gchar *channel = start_server ("1000000", copy);
  gchar *props = g_strdup_printf ("frame-format=%s", format);
  GstHarness *h = filter_harness (channel, props);
  gint i;

  gst_harness_set_src_caps_str (h, CAPS);
  for (i = 0; i < 20; i++) {
    GstBuffer *out;

    fail_unless_equals_int (gst_harness_push (h, make_frame (i, FRAME)),
        GST_FLOW_OK);
    out = gst_harness_pull (h);
    check_inverted (out, i);
    assert_wrapped (out);
    /* a writable map gets a copy, never the ring */
    out = gst_buffer_make_writable (out);
    {
      GstMapInfo map;

      fail_unless (gst_buffer_map (out, &map, GST_MAP_READWRITE));
      map.data[0] = 1;
      gst_buffer_unmap (out, &map);
    }
    gst_buffer_unref (out);
  }
  fail_unless_equals_uint64 (zbt_stat_u64 (h->element, "responses"), 20);
  fail_unless_equals_uint64 (zbt_stat_u64 (h->element, "wrapped"), 20);
  fail_unless_equals_uint64 (zbt_stat_u64 (h->element, "copies"), 0);
  fail_unless_equals_uint64 (zbt_stat_u64 (h->element, "migrations"), 0);
  gst_harness_teardown (h);
  g_free (props);
  assert_no_leftovers (channel);
  zbt_server_stop ();
}

GST_START_TEST (test_wrapped_in_place)
{
  run_wrapped (FALSE, "gst");
  run_wrapped (FALSE, "raw");
}

GST_END_TEST;

GST_START_TEST (test_wrapped_copied_answers)
{
  run_wrapped (TRUE, "gst");
  run_wrapped (TRUE, "raw");
}

GST_END_TEST;

/* Packed raw video (rows of 30 bytes, 32 in the default layout) for a
 * downstream that reads GstVideoMeta: wrapped with a meta describing the
 * packed layout, not repacked. Without the meta the response is repacked
 * (a copy: test_zbfilterharness.c:test_negotiated_allocator). */
GST_START_TEST (test_video_meta)
{
  const gchar *channel = start_server ("1000000", FALSE);
  GstHarness *h = filter_harness (channel, "frame-format=raw");
  GstVideoInfo info;
  GstVideoFrame frame;
  GstVideoMeta *meta;
  GstBuffer *out;
  gint x, y;

  gst_harness_add_propose_allocation_meta (h, GST_VIDEO_META_API_TYPE, NULL);
  gst_harness_set_src_caps_str (h, CAPS_ODD);
  fail_unless (gst_video_info_from_caps (&info,
          gst_caps_from_string (CAPS_ODD)));
  /* the input in the default layout: rows of 32 */
  fail_unless_equals_int (gst_harness_push (h, make_frame (3,
              GST_VIDEO_INFO_SIZE (&info))), GST_FLOW_OK);
  out = gst_harness_pull (h);
  assert_wrapped (out);
  meta = gst_buffer_get_video_meta (out);
  fail_unless (meta != NULL);
  fail_unless_equals_int (meta->stride[0], ODD_W);
  fail_unless_equals_uint64 (gst_buffer_get_size (out), ODD_W * ODD_H);
  fail_unless (gst_video_frame_map (&frame, &info, out, GST_MAP_READ));
  for (y = 0; y < ODD_H; y++)
    for (x = 0; x < ODD_W; x++) {
      const guint8 *row = (const guint8 *) GST_VIDEO_FRAME_PLANE_DATA (&frame,
          0) + y * GST_VIDEO_FRAME_PLANE_STRIDE (&frame, 0);
      guint8 want = 255 - byte_of (3,
          y * GST_VIDEO_INFO_PLANE_STRIDE (&info, 0) + x);

      fail_unless (row[x] == want, "pixel (%d,%d): %u", x, y, row[x]);
    }
  gst_video_frame_unmap (&frame);
  gst_buffer_unref (out);
  fail_unless_equals_uint64 (zbt_stat_u64 (h->element, "wrapped"), 1);
  fail_unless_equals_uint64 (zbt_stat_u64 (h->element, "copies"), 0);
  gst_harness_teardown (h);
  zbt_server_stop ();
}

GST_END_TEST;

/* Downstream keeps every buffer (here: the harness's queue, never
 * emptied until the end) while both rings hold about five frames: the
 * held responses move out of the rings (migrations) whenever they would
 * stall the server or the next request, and every one of 200 buffers goes
 * through intact. Without the moves the 6th request or response waits for
 * room that never comes (the server is then lost after the timeout, and
 * the buffers are dropped). */
static void
run_held (gboolean copy, guint max_in_flight)
{
  const gchar *channel = start_server (SMALL_RING, copy);
  gchar *props = g_strdup_printf ("payload-size=" SMALL_RING
      " max-in-flight=%u timeout=3000 on-server-lost=error", max_in_flight);
  GstHarness *h = filter_harness (channel, props);
  GPtrArray *held = g_ptr_array_new_with_free_func ((GDestroyNotify)
      gst_buffer_unref);
  gint64 t = g_get_monotonic_time ();
  guint i;

  gst_harness_set_src_caps_str (h, CAPS);
  for (i = 0; i < 200; i++)
    fail_unless_equals_int (gst_harness_push (h, make_frame (i, FRAME)),
        GST_FLOW_OK);
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
  t = g_get_monotonic_time () - t;
  while (gst_harness_buffers_in_queue (h) > 0)
    g_ptr_array_add (held, gst_harness_pull (h));
  fail_unless_equals_int (held->len, 200);
  for (i = 0; i < held->len; i++)
    check_inverted (g_ptr_array_index (held, i), i);
  GST_INFO ("copy %d, in flight %u: 200 held buffers in %" G_GINT64_FORMAT
      " us, %" G_GUINT64_FORMAT " migrations", copy, max_in_flight, t,
      zbt_stat_u64 (h->element, "migrations"));
  fail_unless_equals_uint64 (zbt_stat_u64 (h->element, "responses"), 200);
  fail_unless_equals_uint64 (zbt_stat_u64 (h->element, "wrapped"), 200);
  fail_unless_equals_uint64 (zbt_stat_u64 (h->element, "copies"), 0);
  fail_unless (zbt_stat_u64 (h->element, "migrations") >= 150);
  fail_unless_equals_uint64 (zbt_stat_u64 (h->element, "dropped"), 0);
  /* no round trip waited for the timeout */
  fail_unless (zbt_stat_u64 (h->element, "max-round-trip") < 1000 * 1000);
  gst_harness_teardown (h);
  g_ptr_array_unref (held);
  g_free (props);
  assert_no_leftovers (channel);
  zbt_server_stop ();
}

GST_START_TEST (test_held_in_place)
{
  run_held (FALSE, 1);
  run_held (FALSE, 4);
}

GST_END_TEST;

GST_START_TEST (test_held_copied_answers)
{
  run_held (TRUE, 1);
  run_held (TRUE, 4);
}

GST_END_TEST;

static void
keep_buffer (GstElement * sink, GstBuffer * buf, GstPad * pad, GPtrArray * kept)
{
  g_ptr_array_add (kept, gst_buffer_ref (buf));
}

/* A pipeline: zbfilter with small rings, then an unlimited queue, then a
 * sink that keeps every buffer (and its last sample): no deadlock, EOS
 * within the time, every response wrapped and intact. */
GST_START_TEST (test_held_pipeline)
{
  const gchar *channel = start_server (SMALL_RING, FALSE);
  GstElement *p = zbt_pipeline ("videotestsrc num-buffers=150 "
      "pattern=gradient ! " CAPS " ! tee name=t ! queue max-size-buffers=0 "
      "max-size-bytes=0 max-size-time=0 ! zbfilter name=f channel-name=%s "
      "payload-size=" SMALL_RING " timeout=3000 on-server-lost=error ! queue "
      "max-size-buffers=0 max-size-bytes=0 max-size-time=0 ! fakesink "
      "name=sink signal-handoffs=true sync=false t. ! queue "
      "max-size-buffers=0 max-size-bytes=0 max-size-time=0 ! fakesink "
      "name=insink signal-handoffs=true sync=false", channel);
  GstElement *f = gst_bin_get_by_name (GST_BIN (p), "f");
  GstElement *sink = gst_bin_get_by_name (GST_BIN (p), "sink");
  GstElement *insink = gst_bin_get_by_name (GST_BIN (p), "insink");
  GPtrArray *kept = g_ptr_array_new_with_free_func ((GDestroyNotify)
      gst_buffer_unref);
  GPtrArray *inputs = g_ptr_array_new_with_free_func ((GDestroyNotify)
      gst_buffer_unref);
  guint i;

  g_signal_connect (sink, "handoff", G_CALLBACK (keep_buffer), kept);
  g_signal_connect (insink, "handoff", G_CALLBACK (keep_buffer), inputs);
  fail_unless (zbt_set_state (p, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  zbt_wait_eos (p, 20000);
  fail_unless_equals_int (kept->len, 150);
  fail_unless_equals_int (inputs->len, 150);
  for (i = 0; i < kept->len; i++) {
    GstMapInfo in, out;
    gsize k;

    fail_unless (gst_buffer_map (g_ptr_array_index (inputs, i), &in,
            GST_MAP_READ));
    fail_unless (gst_buffer_map (g_ptr_array_index (kept, i), &out,
            GST_MAP_READ));
    fail_unless_equals_uint64 (out.size, in.size);
    for (k = 0; k < in.size; k++) {
      guint8 want = 255 - in.data[k];

      fail_unless (out.data[k] == want, "buffer %u byte %" G_GSIZE_FORMAT, i,
          k);
    }
    gst_buffer_unmap (g_ptr_array_index (kept, i), &out);
    gst_buffer_unmap (g_ptr_array_index (inputs, i), &in);
  }
  fail_unless_equals_uint64 (zbt_stat_u64 (f, "wrapped"), 150);
  fail_unless_equals_uint64 (zbt_stat_u64 (f, "copies"), 0);
  fail_unless (zbt_stat_u64 (f, "migrations") > 0);
  gst_object_unref (f);
  gst_object_unref (sink);
  gst_object_unref (insink);
  zbt_stop_and_free (p);
  g_ptr_array_unref (kept);
  g_ptr_array_unref (inputs);
  assert_no_leftovers (channel);
  zbt_server_stop ();
}

GST_END_TEST;

typedef struct
{
  GstBuffer *buf;
  GstMapInfo map;
  gint i;
  gint delay_ms;
  gint checked;                 /* atomic */
} DelayedUnmap;

/* After @delay_ms: check the bytes of the still-mapped buffer (its client
 * must still be mapped), then unmap it. */
static gpointer
delayed_unmap (gpointer data)
{
  DelayedUnmap *d = data;

  g_usleep (d->delay_ms * 1000);
  check_bytes (d->map.data, d->map.size, d->i);
  g_atomic_int_set (&d->checked, 1);
  gst_buffer_unmap (d->buf, &d->map);
  return NULL;
}

/* The server restarts while downstream holds five responses, one of them
 * mapped by another thread: the client reconnects to the new server (once
 * the mapped one is unmapped: until then the old client, whose response
 * buffer has the name, must live) and every held buffer keeps its bytes
 * (checked after the restart). Both kinds of answers. */
static void
run_restart_held (gboolean copy)
{
  const gchar *channel = start_server ("1000000", copy);
  GstHarness *h = filter_harness (channel, NULL);
  GstBuffer *held[5];
  DelayedUnmap d;
  GThread *thread;
  GstBuffer *out;
  gint64 t;
  gint i;

  gst_harness_set_src_caps_str (h, CAPS);
  for (i = 0; i < 5; i++) {
    fail_unless_equals_int (gst_harness_push (h, make_frame (i, FRAME)),
        GST_FLOW_OK);
    held[i] = gst_harness_pull (h);
    assert_wrapped (held[i]);
  }
  d.buf = held[2];
  d.i = 2;
  d.delay_ms = 500;
  d.checked = 0;
  fail_unless (gst_buffer_map (d.buf, &d.map, GST_MAP_READ));

  /* a new server of the same channel */
  zbt_server_kill ();
  start_server ("1000000", copy);
  thread = g_thread_new ("unmap", delayed_unmap, &d);

  /* the first request after the restart finds the server lost (dropped,
   * on-server-lost=wait); the next connects once the old client is gone */
  t = g_get_monotonic_time ();
  for (i = 5; zbt_stat_u64 (h->element, "responses") < 6 && i < 20; i++)
    fail_unless_equals_int (gst_harness_push (h, make_frame (i, FRAME)),
        GST_FLOW_OK);
  t = g_get_monotonic_time () - t;
  fail_unless_equals_uint64 (zbt_stat_u64 (h->element, "responses"), 6);
  fail_unless (g_atomic_int_get (&d.checked), "connected after %"
      G_GINT64_FORMAT " us, before the old client's last buffer was "
      "unmapped", t);
  g_thread_join (thread);
  out = gst_harness_pull (h);
  check_inverted (out, i - 1);
  assert_wrapped (out);
  gst_buffer_unref (out);
  /* the four not mapped moved at the disconnect */
  fail_unless (zbt_stat_u64 (h->element, "migrations") >= 4);
  for (i = 0; i < 5; i++) {
    check_inverted (held[i], i);
    gst_buffer_unref (held[i]);
  }
  gst_harness_teardown (h);
  assert_no_leftovers (channel);
  zbt_server_stop ();
}

GST_START_TEST (test_restart_with_held_buffers)
{
  run_restart_held (FALSE);
  run_restart_held (TRUE);
}

GST_END_TEST;

/* Stop while downstream has a response mapped: the client (and its
 * response buffer) lives until the unmap, which removes it; a held
 * buffer that is not mapped keeps its bytes. */
GST_START_TEST (test_stop_while_mapped)
{
  const gchar *channel = start_server ("1000000", FALSE);
  gchar *resp = g_strdup_printf ("%s_response", channel);
  GstHarness *h = filter_harness (channel, NULL);
  GstBuffer *a, *b;
  GstMapInfo map;

  gst_harness_set_src_caps_str (h, CAPS);
  fail_unless_equals_int (gst_harness_push (h, make_frame (0, FRAME)),
      GST_FLOW_OK);
  a = gst_harness_pull (h);
  fail_unless_equals_int (gst_harness_push (h, make_frame (1, FRAME)),
      GST_FLOW_OK);
  b = gst_harness_pull (h);
  fail_unless (gst_buffer_map (a, &map, GST_MAP_READ));
  gst_harness_teardown (h);

  fail_unless (!zbt_no_leftovers (resp), "the client is gone while a "
      "response is mapped");
  check_bytes (map.data, map.size, 0);
  gst_buffer_unmap (a, &map);
  fail_unless (zbt_no_leftovers (resp), "%s left after the unmap", resp);
  check_inverted (a, 0);
  check_inverted (b, 1);
  gst_buffer_unref (a);
  gst_buffer_unref (b);
  g_free (resp);
  zbt_server_stop ();
}

GST_END_TEST;

static Suite *
zbfilterwrap_suite (void)
{
  Suite *s = suite_create ("zbfilterwrap");
  TCase *tc = tcase_create ("general");

  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_wrapped_in_place);
  tcase_add_test (tc, test_wrapped_copied_answers);
  tcase_add_test (tc, test_video_meta);
  tcase_add_test (tc, test_held_in_place);
  tcase_add_test (tc, test_held_copied_answers);
  tcase_add_test (tc, test_held_pipeline);
  tcase_add_test (tc, test_restart_with_held_buffers);
  tcase_add_test (tc, test_stop_while_mapped);
  return s;
}

ZBT_MAIN (zbfilterwrap_suite)
