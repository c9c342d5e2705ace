/* zbfilter: the duplex client against real servers in other processes (the
 * C example zb-duplex-invert, and gst-launch-1.0 running zbsrc/zbsink
 * channel-name=X), server restart and crash per on-server-lost, pipelined
 * requests, and the server-side drop/duplicate check. */

#include "zbtest.h"

#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib/gstdio.h>
#include <gst/app/gstappsink.h>
#include <gst/app/gstappsrc.h>

#define W 64
#define H 48
#define FRAME_SIZE (W * H)
#define CAPS "video/x-raw,format=GRAY8,width=64,height=48,framerate=30/1"

static gchar *
part_name (const gchar * channel, const gchar * part)
{
  return g_strdup_printf ("%s_%s", channel, part);
}

static void
assert_channel_clean (const gchar * channel)
{
  gchar *req = part_name (channel, "request");
  gchar *resp = part_name (channel, "response");

  fail_unless (zbt_no_leftovers (req), "%s left over", req);
  fail_unless (zbt_no_leftovers (resp), "%s left over", resp);
  g_free (req);
  g_free (resp);
}

static GPid
spawn_c_server (const gchar * channel, const gchar * delay_ms,
    const gchar * log)
{
  const gchar *argv[] = { ZB_DUPLEX_INVERT, "-n", channel, "-s", "1000000",
    "-d", delay_ms, NULL
  };

  return zbt_start_server (argv, channel, log);
}

/* gst-launch-1.0 -q with @desc split at spaces */
static GPid
spawn_gst_server (const gchar * desc, const gchar * channel, const gchar * log)
{
  gchar **argv = zbt_launch_argv (desc);
  GPid pid = zbt_start_server ((const gchar * const *) argv, channel, log);

  g_strfreev (argv);
  return pid;
}

static gchar *
log_path (void)
{
  static gint n;
  gchar *file = g_strdup_printf ("zbt-filter-%d-%d.log", (int) getpid (),
      g_atomic_int_add (&n, 1));
  gchar *path = g_build_filename (g_get_tmp_dir (), file, NULL);

  g_free (file);
  return path;
}

static gchar *
read_log (const gchar * path)
{
  gchar *text = NULL;

  g_file_get_contents (path, &text, NULL, NULL);
  return text ? text : g_strdup ("");
}

/* ------------------------------------------------------------------ */
/* Client side */

static guint8
pixel (gint i, gint x, gint y)
{
  return (guint8) (x + 3 * y + 7 * i);
}

#define TEST_FLAGS (GST_BUFFER_FLAG_MARKER | GST_BUFFER_FLAG_DELTA_UNIT)

static GstBuffer *
make_frame (gint i)
{
  GstBuffer *buf = gst_buffer_new_allocate (NULL, FRAME_SIZE, NULL);
  GstMapInfo map;
  gint x, y;

  gst_buffer_map (buf, &map, GST_MAP_WRITE);
  for (y = 0; y < H; y++)
    for (x = 0; x < W; x++)
      map.data[y * W + x] = pixel (i, x, y);
  gst_buffer_unmap (buf, &map);
  GST_BUFFER_PTS (buf) = i * 33 * GST_MSECOND + 1234;
  GST_BUFFER_DTS (buf) = i * 33 * GST_MSECOND + 1000;
  GST_BUFFER_DURATION (buf) = 33 * GST_MSECOND + 7;
  GST_BUFFER_OFFSET (buf) = 100 + i;
  GST_BUFFER_OFFSET_END (buf) = 101 + i;
  if (i % 2)
    GST_BUFFER_FLAG_SET (buf, GST_BUFFER_FLAG_MARKER);
  if (i % 3 == 1)
    GST_BUFFER_FLAG_SET (buf, GST_BUFFER_FLAG_DELTA_UNIT);
  return buf;
}

typedef enum
{
  EXPECT_INVERTED,
  EXPECT_ROTATED,
  EXPECT_UNCHANGED
} Expect;

/* Pull the response to frame @i and check pixels, timestamps, flags. */
static void
check_output (GstElement * sink, gint i, Expect expect)
{
  GstSample *s = gst_app_sink_try_pull_sample (GST_APP_SINK (sink),
      10 * GST_SECOND);
  GstBuffer *buf;
  GstMapInfo map;
  gint x, y;

  fail_unless (s != NULL, "no output for frame %d", i);
  buf = gst_sample_get_buffer (s);
  fail_unless_equals_int (gst_buffer_get_size (buf), FRAME_SIZE);
  fail_unless_equals_uint64 (GST_BUFFER_PTS (buf), i * 33 * GST_MSECOND + 1234);
  fail_unless_equals_uint64 (GST_BUFFER_DTS (buf), i * 33 * GST_MSECOND + 1000);
  fail_unless_equals_uint64 (GST_BUFFER_DURATION (buf), 33 * GST_MSECOND + 7);
  fail_unless_equals_uint64 (GST_BUFFER_OFFSET (buf), 100 + i);
  fail_unless_equals_uint64 (GST_BUFFER_OFFSET_END (buf), 101 + i);
  fail_unless_equals_int (GST_BUFFER_FLAGS (buf) & TEST_FLAGS,
      (i % 2 ? GST_BUFFER_FLAG_MARKER : 0) |
      (i % 3 == 1 ? GST_BUFFER_FLAG_DELTA_UNIT : 0));

  gst_buffer_map (buf, &map, GST_MAP_READ);
  for (y = 0; y < H; y++) {
    for (x = 0; x < W; x++) {
      guint8 want;

      switch (expect) {
        case EXPECT_INVERTED:
          want = 255 - pixel (i, x, y);
          break;
        case EXPECT_ROTATED:
          want = pixel (i, W - 1 - x, H - 1 - y);
          break;
        default:
          want = pixel (i, x, y);
          break;
      }
      if (map.data[y * W + x] != want)
        fail ("frame %d pixel (%d,%d) is %u, want %u", i, x, y,
            map.data[y * W + x], want);
    }
  }
  gst_buffer_unmap (buf, &map);
  gst_sample_unref (s);
}

static GstElement *
client_pipeline (const gchar * channel, const gchar * props)
{
  return zbt_pipeline ("appsrc name=src is-live=true format=time caps=" CAPS
      " ! zbfilter name=f channel-name=%s payload-size=1000000 %s"
      " ! appsink name=sink sync=false", channel, props);
}

static void
push (GstElement * p, gint i)
{
  GstElement *src = gst_bin_get_by_name (GST_BIN (p), "src");

  fail_unless_equals_int (gst_app_src_push_buffer (GST_APP_SRC (src),
          make_frame (i)), GST_FLOW_OK);
  gst_object_unref (src);
}

static GstElement *
get (GstElement * p, const gchar * name)
{
  GstElement *e = gst_bin_get_by_name (GST_BIN (p), name);

  gst_object_unref (e);         /* the bin keeps it */
  return e;
}

static guint64
filter_stat (GstElement * p, const gchar * field)
{
  return zbt_stat_u64 (get (p, "f"), field);
}

static void
wait_eos (GstElement * p)
{
  GstBus *bus = gst_element_get_bus (p);
  GstMessage *msg;

  msg = zbt_pop (bus, GST_MESSAGE_EOS | GST_MESSAGE_ERROR, 10000);
  fail_unless (msg != NULL && GST_MESSAGE_TYPE (msg) == GST_MESSAGE_EOS,
      "no EOS");
  gst_message_unref (msg);
  zbt_assert_no_error (bus);
  gst_object_unref (bus);
}

/* EOS through the client; every response must come out before it */
static void
finish (GstElement * p)
{
  gst_app_src_end_of_stream (GST_APP_SRC (get (p, "src")));
  wait_eos (p);
}

static void
stop_server (GPid pid)
{
  gint status = zbt_kill (pid, SIGINT, 5000);

  fail_unless (WIFEXITED (status) && WEXITSTATUS (status) == 0,
      "server exit status %d", status);
}

/* ------------------------------------------------------------------ */

GST_START_TEST (test_c_server)
{
  gchar *channel = zbt_name ();
  gchar *log = log_path ();
  const gchar *formats[] = { "raw", "gst" };
  GPid server;
  gint f, i;

  server = spawn_c_server (channel, "0", log);
  for (f = 0; f < 2; f++) {
    gchar *props = g_strdup_printf ("frame-format=%s", formats[f]);
    GstElement *p = client_pipeline (channel, props);

    fail_unless (gst_element_set_state (p, GST_STATE_PLAYING) !=
        GST_STATE_CHANGE_FAILURE);
    for (i = 0; i < 10; i++) {
      push (p, i);
      check_output (get (p, "sink"), i, EXPECT_INVERTED);
    }
    finish (p);
    fail_unless_equals_uint64 (filter_stat (p, "requests"), 10);
    fail_unless_equals_uint64 (filter_stat (p, "responses"), 10);
    fail_unless (filter_stat (p, "max-round-trip") > 0);
    fail_unless (filter_stat (p, "mean-round-trip") <= filter_stat (p,
            "max-round-trip"));
    zbt_set_state (p, GST_STATE_NULL);
    gst_object_unref (p);
    g_free (props);
  }
  stop_server (server);
  assert_channel_clean (channel);
  g_unlink (log);
  g_free (log);
  g_free (channel);
}

GST_END_TEST;

/* A GStreamer server pipeline in another process: rotate-180, checked on
 * the pixels; one client with one request in flight, then another client
 * with four (pipelined) on the same server. */
GST_START_TEST (test_gst_server_rotate)
{
  gchar *channel = zbt_name ();
  gchar *log = log_path ();
  gchar *desc = g_strdup_printf ("zbsrc channel-name=%s payload-size=1000000 "
      "! videoflip video-direction=180 ! zbsink channel-name=%s sync=false",
      channel,
      channel);
  const gchar *props[] = { "max-in-flight=1", "max-in-flight=4" };
  const gint counts[] = { 10, 60 };
  GPid server;
  gint c, i;

  server = spawn_gst_server (desc, channel, log);
  for (c = 0; c < 2; c++) {
    GstElement *p = client_pipeline (channel, props[c]);

    fail_unless (gst_element_set_state (p, GST_STATE_PLAYING) !=
        GST_STATE_CHANGE_FAILURE);
    for (i = 0; i < counts[c]; i++)
      push (p, i);
    /* with several requests out, the last responses come with EOS */
    gst_app_src_end_of_stream (GST_APP_SRC (get (p, "src")));
    for (i = 0; i < counts[c]; i++)
      check_output (get (p, "sink"), i, EXPECT_ROTATED);
    wait_eos (p);
    fail_unless_equals_uint64 (filter_stat (p, "requests"), counts[c]);
    fail_unless_equals_uint64 (filter_stat (p, "responses"), counts[c]);
    zbt_set_state (p, GST_STATE_NULL);
    gst_object_unref (p);
  }
  stop_server (server);
  assert_channel_clean (channel);
  g_unlink (log);
  g_free (log);
  g_free (desc);
  g_free (channel);
}

GST_END_TEST;

/* The server declares other caps (its zbsink's caps in the response
 * metadata): the client's output caps follow. */
GST_START_TEST (test_gst_server_caps)
{
  gchar *channel = zbt_name ();
  gchar *log = log_path ();
  gchar *desc = g_strdup_printf ("zbsrc channel-name=%s payload-size=1000000 "
      "! videoconvert ! video/x-raw,format=RGBx ! zbsink channel-name=%s sync=false",
      channel, channel);
  GstElement *p;
  GstSample *s;
  GstStructure *st;
  GPid server;

  server = spawn_gst_server (desc, channel, log);
  p = client_pipeline (channel, "");
  fail_unless (gst_element_set_state (p, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  push (p, 0);
  s = gst_app_sink_try_pull_sample (GST_APP_SINK (get (p, "sink")),
      10 * GST_SECOND);
  fail_unless (s != NULL);
  st = gst_caps_get_structure (gst_sample_get_caps (s), 0);
  fail_unless_equals_string (gst_structure_get_string (st, "format"), "RGBx");
  fail_unless_equals_int (gst_buffer_get_size (gst_sample_get_buffer (s)),
      FRAME_SIZE * 4);
  fail_unless_equals_uint64 (GST_BUFFER_PTS (gst_sample_get_buffer (s)), 1234);
  gst_sample_unref (s);
  finish (p);
  zbt_set_state (p, GST_STATE_NULL);
  gst_object_unref (p);
  stop_server (server);
  assert_channel_clean (channel);
  g_unlink (log);
  g_free (log);
  g_free (desc);
  g_free (channel);
}

GST_END_TEST;

/* on-server-lost=wait: the server stops and a new one starts while the
 * client pipeline stays PLAYING. */
GST_START_TEST (test_server_restart)
{
  gchar *channel = zbt_name ();
  gchar *log = log_path ();
  GstElement *p;
  GstBus *bus;
  GstMessage *msg;
  GstState state;
  GPid server;
  gint i;

  server = spawn_c_server (channel, "0", log);
  p = client_pipeline (channel, "on-server-lost=wait timeout=2000");
  bus = gst_element_get_bus (p);
  fail_unless (gst_element_set_state (p, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  for (i = 0; i < 3; i++) {
    push (p, i);
    check_output (get (p, "sink"), i, EXPECT_INVERTED);
  }
  stop_server (server);

  /* these wait in zbfilter for the next server */
  for (i = 3; i < 6; i++)
    push (p, i);
  msg = zbt_pop_element (bus, "zbfilter-server-lost", 5000);
  fail_unless (msg != NULL, "no zbfilter-server-lost message");
  gst_message_unref (msg);
  g_usleep (300 * 1000);
  gst_element_get_state (p, &state, NULL, 0);
  fail_unless_equals_int (state, GST_STATE_PLAYING);
  /* (discards the other messages) */
  zbt_assert_no_error (bus);

  server = spawn_c_server (channel, "0", log);
  for (i = 3; i < 6; i++)
    check_output (get (p, "sink"), i, EXPECT_INVERTED);
  msg = zbt_pop_element (bus, "zbfilter-server-connected", 1000);
  fail_unless (msg != NULL, "no second zbfilter-server-connected message");
  gst_message_unref (msg);
  fail_unless_equals_uint64 (filter_stat (p, "dropped"), 0);

  finish (p);
  zbt_set_state (p, GST_STATE_NULL);
  gst_object_unref (p);
  gst_object_unref (bus);
  stop_server (server);
  assert_channel_clean (channel);
  g_unlink (log);
  g_free (log);
  g_free (channel);
}

GST_END_TEST;

/* kill -9 of a server busy with a request: each on-server-lost behaviour
 * happens well within the timeout (3 s). */
static void
crash_case (const gchar * mode)
{
  gchar *channel = zbt_name ();
  gchar *log = log_path ();
  gchar *props = g_strdup_printf ("on-server-lost=%s timeout=3000", mode);
  GstElement *p;
  GstBus *bus;
  GstMessage *msg;
  GPid server;
  gint64 t0, elapsed_ms = 0;

  server = spawn_c_server (channel, "500", log);
  p = client_pipeline (channel, props);
  bus = gst_element_get_bus (p);
  fail_unless (gst_element_set_state (p, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  push (p, 0);
  check_output (get (p, "sink"), 0, EXPECT_INVERTED);
  push (p, 1);
  g_usleep (100 * 1000);        /* the server sleeps in its handler */
  zbt_kill (server, SIGKILL, 5000);
  t0 = g_get_monotonic_time ();

  if (g_str_equal (mode, "error")) {
    msg = zbt_pop (bus, GST_MESSAGE_ERROR, 5000);
    fail_unless (msg != NULL, "no error");
    elapsed_ms = (g_get_monotonic_time () - t0) / 1000;
    {
      GError *err = NULL;

      gst_message_parse_error (msg, &err, NULL);
      fail_unless (strstr (err->message, channel) != NULL, "%s", err->message);
      g_error_free (err);
    }
    gst_message_unref (msg);
  } else if (g_str_equal (mode, "wait")) {
    msg = zbt_pop_element (bus, "zbfilter-server-lost", 5000);
    fail_unless (msg != NULL, "no zbfilter-server-lost");
    elapsed_ms = (g_get_monotonic_time () - t0) / 1000;
    gst_message_unref (msg);
    fail_unless_equals_uint64 (filter_stat (p, "dropped"), 1);
    /* a new server takes over */
    server = spawn_c_server (channel, "0", log);
    push (p, 2);
    check_output (get (p, "sink"), 2, EXPECT_INVERTED);
    finish (p);
    stop_server (server);
  } else {
    /* the request in flight comes back unchanged, and so do new ones */
    check_output (get (p, "sink"), 1, EXPECT_UNCHANGED);
    elapsed_ms = (g_get_monotonic_time () - t0) / 1000;
    push (p, 2);
    check_output (get (p, "sink"), 2, EXPECT_UNCHANGED);
    fail_unless_equals_uint64 (filter_stat (p, "passed-through"), 2);
    finish (p);
  }
  GST_INFO ("on-server-lost=%s after %" G_GINT64_FORMAT " ms", mode,
      elapsed_ms);
  fail_unless (elapsed_ms < 3000, "%s took %" G_GINT64_FORMAT " ms", mode,
      elapsed_ms);

  zbt_set_state (p, GST_STATE_NULL);
  gst_object_unref (p);
  gst_object_unref (bus);
  zbt_cleanup_channel (channel);
  assert_channel_clean (channel);
  g_unlink (log);
  g_free (log);
  g_free (props);
  g_free (channel);
}

GST_START_TEST (test_server_crash_error)
{
  crash_case ("error");
}

GST_END_TEST;

GST_START_TEST (test_server_crash_wait)
{
  crash_case ("wait");
}

GST_END_TEST;

GST_START_TEST (test_server_crash_passthrough)
{
  crash_case ("passthrough");
}

GST_END_TEST;

/* The server pipeline drops (identity drops the delta units) or
 * duplicates (videorate) buffers: its zbsink posts a clear error. */
GST_START_TEST (test_server_drop_duplicate)
{
  const gchar *middles[] = { "identity drop-buffer-flags=delta-unit",
    "identity ! videorate ! video/x-raw,framerate=300/1"
  };
  const gchar *texts[] = { "got no response", "got a second response" };
  gint m, i;

  for (m = 0; m < 2; m++) {
    gchar *channel = zbt_name ();
    gchar *log = log_path ();
    gchar *desc = g_strdup_printf ("zbsrc channel-name=%s "
        "payload-size=1000000 ! %s ! zbsink channel-name=%s sync=false",
        channel,
        middles[m], channel);
    GstElement *p;
    GPid server;
    gint status;
    gchar *text;

    server = spawn_gst_server (desc, channel, log);
    /* every request goes out before the first response is awaited */
    p = client_pipeline (channel, "on-server-lost=error timeout=2000 "
        "max-in-flight=8");
    fail_unless (gst_element_set_state (p, GST_STATE_PLAYING) !=
        GST_STATE_CHANGE_FAILURE);
    for (i = 0; i < 4; i++) {
      push (p, i);
      g_usleep (40 * 1000);
    }
    status = zbt_wait_pid (server, 10000);
    fail_unless (status != -1, "server still running");
    fail_if (WIFEXITED (status) && WEXITSTATUS (status) == 0,
        "server exited cleanly");
    text = read_log (log);
    fail_unless (strstr (text, texts[m]) != NULL && strstr (text,
            "one buffer out per buffer in") != NULL, "server log: %s", text);
    g_free (text);

    zbt_set_state (p, GST_STATE_NULL);
    gst_object_unref (p);
    zbt_cleanup_channel (channel);
    assert_channel_clean (channel);
    g_unlink (log);
    g_free (log);
    g_free (desc);
    g_free (channel);
  }
}

GST_END_TEST;

GST_START_TEST (test_names_exclusive)
{
  GstElement *e;

  e = gst_element_factory_make ("zbsink", NULL);
  g_object_set (e, "buffer-name", "a", "channel-name", "b", NULL);
  fail_unless_equals_int (gst_element_set_state (e, GST_STATE_PAUSED),
      GST_STATE_CHANGE_FAILURE);
  gst_element_set_state (e, GST_STATE_NULL);
  gst_object_unref (e);

  e = gst_element_factory_make ("zbsrc", NULL);
  g_object_set (e, "buffer-name", "a", "channel-name", "b", NULL);
  fail_unless_equals_int (gst_element_set_state (e, GST_STATE_PAUSED),
      GST_STATE_CHANGE_FAILURE);
  gst_element_set_state (e, GST_STATE_NULL);
  gst_object_unref (e);

  e = gst_element_factory_make ("zbfilter", NULL);
  fail_unless_equals_int (gst_element_set_state (e, GST_STATE_PAUSED),
      GST_STATE_CHANGE_FAILURE);
  gst_element_set_state (e, GST_STATE_NULL);
  gst_object_unref (e);
}

GST_END_TEST;

/* ------------------------------------------------------------------ */
/* LATENCY queries. */

static void
query_latency (GstPad * pad, gboolean peer, gboolean * live,
    GstClockTime * min, GstClockTime * max)
{
  GstQuery *q = gst_query_new_latency ();

  fail_unless (peer ? gst_pad_peer_query (pad, q) : gst_pad_query (pad, q));
  gst_query_parse_latency (q, live, min, max);
  gst_query_unref (q);
}

/* What zbfilter adds to upstream's latency; its answer is live. */
static GstClockTime
filter_latency (GstElement * p)
{
  GstElement *f = get (p, "f");
  GstPad *sink = gst_element_get_static_pad (f, "sink");
  GstPad *src = gst_element_get_static_pad (f, "src");
  GstClockTime umin, umax, min, max;
  gboolean ulive, live;

  query_latency (sink, TRUE, &ulive, &umin, &umax);
  query_latency (src, FALSE, &live, &min, &max);
  fail_unless (ulive && live);
  fail_unless (min >= umin);
  gst_object_unref (sink);
  gst_object_unref (src);
  return min - umin;
}

/* zbfilter reports the latency property before the first response (not
 * 0), exactly that while round trips stay below it, and the longest round
 * trip plus a quarter once one is longer (not the mean, which half the
 * responses exceed), with a LATENCY message. */
GST_START_TEST (test_filter_latency)
{
  gchar *channel = zbt_name ();
  gchar *log = log_path ();
  GstElement *p;
  GstBus *bus;
  GstMessage *msg;
  GPid server;
  guint64 max_rtt;
  GstClockTime extra;
  gint i;

  server = spawn_c_server (channel, "30", log);
  p = client_pipeline (channel, "frame-format=raw max-in-flight=1");
  bus = gst_element_get_bus (p);
  fail_unless (zbt_set_state (p, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);

  /* before any response: the default, 20 ms */
  fail_unless_equals_uint64 (filter_latency (p), 20 * GST_MSECOND);
  g_object_set (get (p, "f"), "latency", 1, NULL);
  fail_unless_equals_uint64 (filter_latency (p), 1 * GST_MSECOND);
  while ((msg = zbt_pop (bus, GST_MESSAGE_LATENCY, 0)))
    gst_message_unref (msg);

  /* round trips of 30 ms and more: the longest plus a quarter, announced
   * when the first one exceeds what was reported */
  for (i = 0; i < 6; i++) {
    push (p, i);
    check_output (get (p, "sink"), i, EXPECT_INVERTED);
  }
  msg = zbt_pop (bus, GST_MESSAGE_LATENCY, 1000);
  fail_unless (msg != NULL, "no LATENCY message");
  gst_message_unref (msg);
  max_rtt = filter_stat (p, "max-round-trip");
  fail_unless (max_rtt >= 30000, "max round trip %" G_GUINT64_FORMAT " us",
      max_rtt);
  extra = filter_latency (p);
  fail_unless_equals_uint64 (extra, max_rtt * GST_USECOND * 5 / 4);

  /* a property above them wins */
  g_object_set (get (p, "f"), "latency", 2000, NULL);
  fail_unless_equals_uint64 (filter_latency (p), 2 * GST_SECOND);

  finish (p);
  zbt_set_state (p, GST_STATE_NULL);
  gst_object_unref (bus);
  gst_object_unref (p);
  stop_server (server);
  assert_channel_clean (channel);
  g_unlink (log);
  g_free (log);
  g_free (channel);
}

GST_END_TEST;

/* zbsrc: live, min one frame of the writer's caps, max none; before caps
 * are known, min 0. */
GST_START_TEST (test_src_latency)
{
  gchar *name = zbt_name ();
  GstElement *rp, *wp, *src;
  GstPad *pad;
  GstClockTime min, max;
  gboolean live;
  gint64 t0;

  rp = zbt_pipeline ("zbsrc name=src buffer-name=%s ! fakesink sync=false",
      name);
  fail_unless (gst_element_set_state (rp, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  src = get (rp, "src");
  pad = gst_element_get_static_pad (src, "src");
  query_latency (pad, FALSE, &live, &min, &max);
  fail_unless (live);
  fail_unless_equals_uint64 (min, 0);
  fail_unless_equals_uint64 (max, GST_CLOCK_TIME_NONE);

  wp = zbt_pipeline ("videotestsrc is-live=true ! video/x-raw,format=GRAY8,"
      "width=64,height=48,framerate=25/1 ! zbsink buffer-name=%s", name);
  fail_unless (gst_element_set_state (wp, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  for (t0 = g_get_monotonic_time (); g_get_monotonic_time () - t0 <
      10 * G_USEC_PER_SEC; g_usleep (10 * 1000)) {
    query_latency (pad, FALSE, &live, &min, &max);
    if (min != 0)
      break;
  }
  fail_unless (live);
  fail_unless_equals_uint64 (min, 40 * GST_MSECOND);
  fail_unless_equals_uint64 (max, GST_CLOCK_TIME_NONE);

  /* is-live=false (set in READY: it is not mutable while PLAYING): not
   * live */
  fail_unless_equals_int (zbt_set_state (rp, GST_STATE_READY),
      GST_STATE_CHANGE_SUCCESS);
  g_object_set (src, "is-live", FALSE, NULL);
  fail_unless (gst_element_set_state (rp, GST_STATE_PAUSED) !=
      GST_STATE_CHANGE_FAILURE);
  query_latency (pad, FALSE, &live, &min, &max);
  fail_if (live);

  gst_object_unref (pad);
  zbt_stop_and_free (wp);
  zbt_stop_and_free (rp);
  fail_unless (zbt_no_leftovers (name));
  g_free (name);
}

GST_END_TEST;

static Suite *
zbfilter_suite (void)
{
  Suite *s = suite_create ("zbfilter");
  TCase *tc = tcase_create ("duplex");

  tcase_set_timeout (tc, 60);
  tcase_add_test (tc, test_names_exclusive);
  tcase_add_test (tc, test_c_server);
  tcase_add_test (tc, test_gst_server_rotate);
  tcase_add_test (tc, test_gst_server_caps);
  tcase_add_test (tc, test_server_restart);
  tcase_add_test (tc, test_server_crash_error);
  tcase_add_test (tc, test_server_crash_wait);
  tcase_add_test (tc, test_server_crash_passthrough);
  tcase_add_test (tc, test_server_drop_duplicate);
  tcase_add_test (tc, test_filter_latency);
  tcase_add_test (tc, test_src_latency);
  suite_add_tcase (s, tc);
  return s;
}

ZBT_MAIN (zbfilter_suite);
