/* zbfilter under GstHarness against the C example server in another
 * process (zbt-duplex-invert): round trip, the negotiated allocator, an
 * unmappable input or output buffer, flush with requests in flight, the
 * LATENCY query, the position after an EOS drain, renegotiation, state
 * cycles with a live server, and how fast a state change ends the wait
 * for a server.
 *
 * ZBT_MAIN rather than GST_CHECK_MAIN: each binary needs its private
 * registry (zbt_env_init) before gst_check_init(). */

#include "zbtest.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib/gstdio.h>
#include <gst/check/gstharness.h>

#define W 64
#define H 48
#define CAPS "video/x-raw,format=GRAY8,width=64,height=48,framerate=30/1"
#define CAPS_SMALL "video/x-raw,format=GRAY8,width=32,height=24,framerate=30/1"
/* rows of 30 bytes packed (frame-format=raw), 32 in the default layout:
 * responses must be repacked, a copy into a buffer of the output pool or
 * allocator (other responses go out wrapped: test_zbfilterwrap.c) */
#define ODD_W 30
#define ODD_STRIDE 32
#define ODD_H 24
#define CAPS_ODD "video/x-raw,format=GRAY8,width=30,height=24,framerate=30/1"

static void
assert_clean (const gchar * channel)
{
  gchar *req = g_strdup_printf ("%s_request", channel);
  gchar *resp = g_strdup_printf ("%s_response", channel);

  fail_unless (zbt_no_leftovers (req), "%s left over", req);
  fail_unless (zbt_no_leftovers (resp), "%s left over", resp);
  g_free (req);
  g_free (resp);
}

/* zbt-duplex-invert on a new channel, @delay_ms per request; dies with
 * the test process. Returns the channel. */
static const gchar *
start_server (const gchar * delay_ms)
{
  gchar *log = g_strdup_printf ("%s/zbt-filterharness-%d.log",
      g_get_tmp_dir (), (int) getpid ());
  const gchar *argv[] = { ZB_DUPLEX_INVERT, "-n", NULL, "-s", "1000000",
    "-d", delay_ms, NULL
  };

  argv[2] = zbt_server_channel ();
  zbt_server_start (argv, log);
  g_free (log);
  return argv[2];
}

static GstBuffer *
make_frame (gint i, gsize size)
{
  GstBuffer *buf = gst_buffer_new_allocate (NULL, size, NULL);
  GstMapInfo map;
  gsize k;

  gst_buffer_map (buf, &map, GST_MAP_WRITE);
  for (k = 0; k < size; k++)
    map.data[k] = (guint8) (k + 7 * i);
  gst_buffer_unmap (buf, &map);
  GST_BUFFER_PTS (buf) = i * 33 * GST_MSECOND;
  GST_BUFFER_DURATION (buf) = 33 * GST_MSECOND;
  return buf;
}

/* @buf is frame @i (of @size bytes) inverted, with its timestamps */
static void
check_inverted (GstBuffer * buf, gint i, gsize size)
{
  GstMapInfo map;
  gsize k;

  fail_unless (buf != NULL);
  fail_unless_equals_uint64 (GST_BUFFER_PTS (buf), i * 33 * GST_MSECOND);
  fail_unless (gst_buffer_map (buf, &map, GST_MAP_READ));
  fail_unless_equals_uint64 (map.size, size);
  for (k = 0; k < size; k++)
    fail_unless (map.data[k] == (guint8) (255 - (guint8) (k + 7 * i)),
        "frame %d byte %" G_GSIZE_FORMAT, i, k);
  gst_buffer_unmap (buf, &map);
}

/* A harness around a zbfilter of @channel (set before it starts) */
static GstHarness *
new_harness (const gchar * channel)
{
  GstElement *f = gst_element_factory_make ("zbfilter", NULL);
  GstHarness *h;

  fail_unless (f != NULL);
  g_object_set (f, "channel-name", channel, NULL);
  /* the harness takes a reference of its own */
  h = gst_harness_new_with_element (f, "sink", "src");
  gst_object_unref (f);
  return h;
}

/* A harness around a zbfilter frame-format=raw of @channel */
static GstHarness *
raw_harness (const gchar * channel)
{
  GstElement *f = gst_element_factory_make ("zbfilter", NULL);
  GstHarness *h;

  fail_unless (f != NULL);
  g_object_set (f, "channel-name", channel, NULL);
  gst_util_set_object_arg (G_OBJECT (f), "frame-format", "raw");
  h = gst_harness_new_with_element (f, "sink", "src");
  gst_object_unref (f);
  return h;
}

/* @buf is frame @i of CAPS_ODD (default layout) inverted and repacked:
 * the bytes between rows are zero */
static void
check_odd_inverted (GstBuffer * buf, gint i)
{
  GstMapInfo map;
  gint x, y;

  fail_unless (gst_buffer_map (buf, &map, GST_MAP_READ));
  fail_unless_equals_uint64 (map.size, ODD_STRIDE * ODD_H);
  for (y = 0; y < ODD_H; y++)
    for (x = 0; x < ODD_STRIDE; x++) {
      gsize k = y * ODD_STRIDE + x;
      guint8 want = x < ODD_W ? 255 - (guint8) (k + 7 * i) : 0;

      fail_unless (map.data[k] == want, "frame %d (%d,%d): %u, want %u", i,
          x, y, map.data[k], want);
    }
  gst_buffer_unmap (buf, &map);
}

static GstHarness *
filter_harness (const gchar * channel, const gchar * caps)
{
  GstHarness *h = new_harness (channel);

  if (caps)
    gst_harness_set_src_caps_str (h, caps);
  return h;
}

/* ------------------------------------------------------------------ */

GST_START_TEST (test_harness_round_trip)
{
  const gchar *channel = start_server ("0");
  GstHarness *h = filter_harness (channel, CAPS);
  gint i;

  for (i = 0; i < 5; i++) {
    GstBuffer *out;

    fail_unless_equals_int (gst_harness_push (h, make_frame (i, W * H)),
        GST_FLOW_OK);
    out = gst_harness_pull (h);
    check_inverted (out, i, W * H);
    gst_buffer_unref (out);
  }
  fail_unless_equals_uint64 (zbt_stat_u64 (h->element, "requests"), 5);
  fail_unless_equals_uint64 (zbt_stat_u64 (h->element, "responses"), 5);
  gst_harness_teardown (h);
  zbt_server_stop ();
}

GST_END_TEST;

/* Output buffers that hold a copy (packed raw video repacked) come from
 * the allocator downstream proposed, with its parameters
 * (GstBaseTransform's decide_allocation). Before: plain system memory
 * whatever downstream asked for. */
GST_START_TEST (test_negotiated_allocator)
{
  const gchar *channel = start_server ("0");
  GstAllocationParams params;
  GstHarness *h = raw_harness (channel);
  GstBuffer *out;
  GstMemory *mem;
  GstMapInfo map;

  gst_allocation_params_init (&params);
  params.align = 127;
  params.prefix = 32;
  params.padding = 16;
  gst_harness_set_propose_allocator (h, NULL, &params);
  gst_harness_set_src_caps_str (h, CAPS_ODD);

  fail_unless_equals_int (gst_harness_push (h, make_frame (0,
              ODD_STRIDE * ODD_H)), GST_FLOW_OK);
  out = gst_harness_pull (h);
  check_odd_inverted (out, 0);
  fail_unless_equals_uint64 (zbt_stat_u64 (h->element, "copies"), 1);
  fail_unless_equals_uint64 (zbt_stat_u64 (h->element, "wrapped"), 0);
  fail_unless_equals_int (gst_buffer_n_memory (out), 1);
  mem = gst_buffer_peek_memory (out, 0);
  fail_unless_equals_uint64 (mem->offset, 32);
  fail_unless (mem->maxsize >= 32 + ODD_STRIDE * ODD_H + 16);
  fail_unless (gst_buffer_map (out, &map, GST_MAP_READ));
  fail_unless (((guintptr) map.data - 32) % 128 == 0, "not aligned: %p",
      map.data);
  gst_buffer_unmap (out, &map);
  gst_buffer_unref (out);
  gst_harness_teardown (h);
  zbt_server_stop ();
}

GST_END_TEST;

/* An allocator whose memory can never be mapped */
typedef struct
{
  GstAllocator parent;
} ZbtBadAlloc;

typedef struct
{
  GstAllocatorClass parent_class;
} ZbtBadAllocClass;

GType zbt_bad_alloc_get_type (void);
G_DEFINE_TYPE (ZbtBadAlloc, zbt_bad_alloc, GST_TYPE_ALLOCATOR);

static GstMemory *
bad_alloc (GstAllocator * allocator, gsize size, GstAllocationParams * params)
{
  GstMemory *mem = g_new0 (GstMemory, 1);

  gst_memory_init (mem, 0, allocator, NULL, size, 0, 0, size);
  return mem;
}

static void
bad_free (GstAllocator * allocator, GstMemory * mem)
{
  g_free (mem);
}

static gpointer
bad_map (GstMemory * mem, gsize maxsize, GstMapFlags flags)
{
  return NULL;
}

static void
bad_unmap (GstMemory * mem)
{
}

static void
zbt_bad_alloc_class_init (ZbtBadAllocClass * klass)
{
  GST_ALLOCATOR_CLASS (klass)->alloc = bad_alloc;
  GST_ALLOCATOR_CLASS (klass)->free = bad_free;
}

static void
zbt_bad_alloc_init (ZbtBadAlloc * self)
{
  GstAllocator *a = GST_ALLOCATOR (self);

  a->mem_type = "ZbtBad";
  a->mem_map = bad_map;
  a->mem_unmap = bad_unmap;
  GST_OBJECT_FLAG_SET (a, GST_ALLOCATOR_FLAG_CUSTOM_ALLOC);
}

static void
assert_error (GstBus * bus, const gchar * text)
{
  GstMessage *msg = zbt_pop (bus, GST_MESSAGE_ERROR, 5000);
  GError *err = NULL;

  fail_unless (msg != NULL, "no error \"%s\"", text);
  gst_message_parse_error (msg, &err, NULL);
  fail_unless (strstr (err->message, text) != NULL, "error \"%s\"",
      err->message);
  g_error_free (err);
  gst_message_unref (msg);
}

/* An input buffer that cannot be mapped fails with an error and sends
 * nothing. Before: the request went out with zeros and no error. */
GST_START_TEST (test_unmappable_input)
{
  const gchar *channel = start_server ("0");
  GstHarness *h = filter_harness (channel, CAPS);
  GstAllocator *bad = g_object_new (zbt_bad_alloc_get_type (), NULL);
  GstBus *bus = gst_bus_new ();
  GstBuffer *buf;

  gst_object_ref_sink (bad);
  gst_element_set_bus (h->element, bus);
  fail_unless_equals_int (gst_harness_push (h, make_frame (0, W * H)),
      GST_FLOW_OK);
  gst_buffer_unref (gst_harness_pull (h));

  buf = gst_buffer_new_allocate (bad, W * H, NULL);
  fail_unless (buf != NULL);
  fail_unless_equals_int (gst_harness_push (h, buf), GST_FLOW_ERROR);
  assert_error (bus, "Could not map an input buffer");
  fail_unless_equals_uint64 (zbt_stat_u64 (h->element, "requests"), 1);

  gst_element_set_bus (h->element, NULL);
  gst_object_unref (bus);
  gst_harness_teardown (h);
  gst_object_unref (bad);
  zbt_server_stop ();
}

GST_END_TEST;

/* The allocator downstream proposed is used for an output that holds a
 * copy, so an output buffer that cannot be mapped is an error, never
 * uninitialised bytes. Before: the proposed allocator was ignored. */
GST_START_TEST (test_unmappable_output)
{
  const gchar *channel = start_server ("0");
  GstHarness *h = raw_harness (channel);
  GstAllocator *bad = g_object_new (zbt_bad_alloc_get_type (), NULL);
  GstBus *bus = gst_bus_new ();

  gst_object_ref_sink (bad);
  gst_element_set_bus (h->element, bus);
  gst_harness_set_propose_allocator (h, gst_object_ref (bad), NULL);
  gst_harness_set_src_caps_str (h, CAPS_ODD);

  fail_unless_equals_int (gst_harness_push (h, make_frame (0,
              ODD_STRIDE * ODD_H)), GST_FLOW_ERROR);
  assert_error (bus, "Could not get a writable output buffer");
  fail_unless_equals_int (gst_harness_buffers_received (h), 0);

  gst_element_set_bus (h->element, NULL);
  gst_object_unref (bus);
  gst_harness_teardown (h);
  gst_object_unref (bad);
  zbt_server_stop ();
}

GST_END_TEST;

/* FLUSH_START/FLUSH_STOP with requests in flight: their responses are
 * received and thrown away (discarded), and streaming goes on. */
GST_START_TEST (test_flush_in_flight)
{
  const gchar *channel = start_server ("50");
  GstHarness *h = filter_harness (channel, CAPS);
  GstSegment segment;
  GstBuffer *out;
  gint i;

  g_object_set (h->element, "max-in-flight", 8, NULL);
  for (i = 0; i < 3; i++)
    fail_unless_equals_int (gst_harness_push (h, make_frame (i, W * H)),
        GST_FLOW_OK);
  fail_unless_equals_uint64 (zbt_stat_u64 (h->element, "requests"), 3);
  fail_unless_equals_uint64 (zbt_stat_u64 (h->element, "discarded"), 0);

  fail_unless (gst_harness_push_event (h, gst_event_new_flush_start ()));
  fail_unless (gst_harness_push_event (h, gst_event_new_flush_stop (TRUE)));
  gst_segment_init (&segment, GST_FORMAT_TIME);
  fail_unless (gst_harness_push_event (h, gst_event_new_segment (&segment)));

  fail_unless_equals_int (gst_harness_push (h, make_frame (10, W * H)),
      GST_FLOW_OK);
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
  out = gst_harness_pull (h);
  check_inverted (out, 10, W * H);
  gst_buffer_unref (out);
  /* the server takes 50 ms a request: none of the first three had come
   * back when the flush began */
  fail_unless_equals_uint64 (zbt_stat_u64 (h->element, "discarded"), 3);
  fail_unless_equals_uint64 (zbt_stat_u64 (h->element, "responses"), 1);
  gst_harness_teardown (h);
  zbt_server_stop ();
}

GST_END_TEST;

/* The LATENCY query adds the latency property (max-in-flight 1) to
 * upstream's, also after a change in PLAYING. */
GST_START_TEST (test_latency_query)
{
  GstHarness *h = filter_harness ("zbt-latency-no-server", NULL);
  GstClockTime min, max;
  gboolean live;
  GstQuery *q;

  g_object_set (h->element, "latency", 35, NULL);
  gst_harness_set_upstream_latency (h, 10 * GST_MSECOND);
  gst_harness_play (h);

  q = gst_query_new_latency ();
  fail_unless (gst_pad_peer_query (h->sinkpad, q));
  gst_query_parse_latency (q, &live, &min, &max);
  fail_unless (live);
  fail_unless_equals_uint64 (min, 45 * GST_MSECOND);
  gst_query_unref (q);

  g_object_set (h->element, "latency", 60, NULL);
  q = gst_query_new_latency ();
  fail_unless (gst_pad_peer_query (h->sinkpad, q));
  gst_query_parse_latency (q, &live, &min, &max);
  fail_unless_equals_uint64 (min, 70 * GST_MSECOND);
  gst_query_unref (q);
  gst_harness_teardown (h);
}

GST_END_TEST;

/* At EOS the responses still due go out through generate_output, and the
 * position the src pad reports is the end of the last of them. Before:
 * they bypassed it and the position stayed at the last buffer pushed
 * while streaming (here none: 0). */
GST_START_TEST (test_drain_position)
{
  const gchar *channel = start_server ("30");
  GstHarness *h = filter_harness (channel, CAPS);
  gint64 pos = -1;
  gint i;

  g_object_set (h->element, "max-in-flight", 8, NULL);
  for (i = 0; i < 4; i++)
    fail_unless_equals_int (gst_harness_push (h, make_frame (i, W * H)),
        GST_FLOW_OK);
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
  fail_unless_equals_int (gst_harness_buffers_received (h), 4);
  for (i = 0; i < 4; i++) {
    GstBuffer *out = gst_harness_pull (h);

    check_inverted (out, i, W * H);
    gst_buffer_unref (out);
  }
  fail_unless (gst_pad_peer_query_position (h->sinkpad, GST_FORMAT_TIME, &pos));
  fail_unless_equals_int64 (pos, 4 * 33 * GST_MSECOND);
  gst_harness_teardown (h);
  zbt_server_stop ();
}

GST_END_TEST;

/* New input caps mid-stream: a new connection carries them, the responses
 * follow, and so do the output caps. */
GST_START_TEST (test_renegotiation)
{
  const gchar *channel = start_server ("0");
  GstHarness *h = filter_harness (channel, CAPS);
  const gchar *caps[] = { CAPS, CAPS_SMALL, CAPS };
  const gsize sizes[] = { W * H, (W / 2) * (H / 2), W * H };
  gint c, i, n = 0;

  for (c = 0; c < 3; c++) {
    GstCaps *want = gst_caps_from_string (caps[c]);
    GstCaps *cur;

    if (c > 0)
      gst_harness_set_src_caps (h, gst_caps_ref (want));
    for (i = 0; i < 3; i++, n++) {
      GstBuffer *out;

      fail_unless_equals_int (gst_harness_push (h, make_frame (n, sizes[c])),
          GST_FLOW_OK);
      out = gst_harness_pull (h);
      check_inverted (out, n, sizes[c]);
      gst_buffer_unref (out);
    }
    cur = gst_pad_get_current_caps (h->sinkpad);
    fail_unless (gst_caps_is_equal (cur, want), "output caps %"
        GST_PTR_FORMAT, cur);
    gst_caps_unref (cur);
    gst_caps_unref (want);
  }
  fail_unless_equals_uint64 (zbt_stat_u64 (h->element, "responses"), 9);
  gst_harness_teardown (h);
  zbt_server_stop ();
}

GST_END_TEST;

/* NULL -> PLAYING -> NULL, 20 times, with a live server: every cycle
 * streams, and nothing of the client is left in /dev/shm after it. */
GST_START_TEST (test_state_cycles)
{
  const gchar *channel = start_server ("0");
  gchar *resp = g_strdup_printf ("%s_response", channel);
  GstElement *p = zbt_pipeline ("videotestsrc is-live=true ! " CAPS
      " ! zbfilter name=f channel-name=%s ! fakesink name=sink", channel);
  GstElement *f = gst_bin_get_by_name (GST_BIN (p), "f");
  gint cycle;

  for (cycle = 0; cycle < 20; cycle++) {
    gint64 end = g_get_monotonic_time () + 5 * G_USEC_PER_SEC;

    fail_unless (zbt_set_state (p, GST_STATE_PLAYING) !=
        GST_STATE_CHANGE_FAILURE);
    while (zbt_stat_u64 (f, "responses") < 2 && g_get_monotonic_time () < end)
      g_usleep (5 * 1000);
    fail_unless (zbt_stat_u64 (f, "responses") >= 2, "cycle %d", cycle);
    fail_unless (zbt_set_state (p, GST_STATE_NULL) == GST_STATE_CHANGE_SUCCESS);
    fail_unless (zbt_no_leftovers (resp), "cycle %d: %s left over", cycle,
        resp);
  }
  gst_object_unref (f);
  zbt_stop_and_free (p);
  g_free (resp);
  zbt_server_stop ();
}

GST_END_TEST;

static gint
compare_int64 (gconstpointer a, gconstpointer b)
{
  gint64 x = *(const gint64 *) a, y = *(const gint64 *) b;

  return x < y ? -1 : x > y;
}

/* PLAYING -> NULL while the streaming thread waits for a server ends the
 * wait at once. Before: it slept in 20 ms slices (median ~10 ms). */
GST_START_TEST (test_state_change_ends_wait)
{
  gchar *channel = zbt_name ();
  GstElement *p = zbt_pipeline ("videotestsrc is-live=true ! " CAPS
      " ! zbfilter channel-name=%s ! fakesink", channel);
  gint64 took[11];
  gint cycle;

  for (cycle = 0; cycle < 11; cycle++) {
    gint64 t;

    /* no preroll: the sink never gets a buffer */
    fail_unless (gst_element_set_state (p, GST_STATE_PLAYING) !=
        GST_STATE_CHANGE_FAILURE);
    g_usleep (30 * 1000);       /* the first buffer is waiting */
    t = g_get_monotonic_time ();
    fail_unless (gst_element_set_state (p, GST_STATE_NULL) ==
        GST_STATE_CHANGE_SUCCESS);
    took[cycle] = g_get_monotonic_time () - t;
  }
  qsort (took, 11, sizeof (took[0]), compare_int64);
  GST_INFO ("PLAYING -> NULL: median %" G_GINT64_FORMAT " us, max %"
      G_GINT64_FORMAT " us", took[5], took[10]);
  if (g_getenv ("ZBT_VALGRIND") == NULL)
    fail_unless (took[5] < 5000, "median PLAYING -> NULL %" G_GINT64_FORMAT
        " us", took[5]);
  zbt_stop_and_free (p);
  assert_clean (channel);
  g_free (channel);
}

GST_END_TEST;

static Suite *
zbfilterharness_suite (void)
{
  Suite *s = suite_create ("zbfilterharness");
  TCase *tc = tcase_create ("general");

  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_harness_round_trip);
  tcase_add_test (tc, test_negotiated_allocator);
  tcase_add_test (tc, test_unmappable_input);
  tcase_add_test (tc, test_unmappable_output);
  tcase_add_test (tc, test_flush_in_flight);
  tcase_add_test (tc, test_latency_query);
  tcase_add_test (tc, test_drain_position);
  tcase_add_test (tc, test_renegotiation);
  tcase_add_test (tc, test_state_cycles);
  tcase_add_test (tc, test_state_change_ends_wait);
  return s;
}

ZBT_MAIN (zbfilterharness_suite)
