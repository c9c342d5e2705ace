/* The GStreamer duplex server answers in place (docs/duplex.md, "The
 * GStreamer server: zbsrc and zbsink with channel-name"): zbsrc hands out
 * its requests as writable memories, an in-place transform changes them
 * where they lie, and zbsink answers with a 40-byte record that names the
 * bytes in the client's request ring instead of copying them. The server
 * is a pipeline in a process of its own (zbt-gst-server, which prints
 * zbsink's stats when it stops); the client is zbfilter in this process
 * (GstHarness), so that both sides' counters are read: zbsink's
 * in-place-answers, zbfilter's wrapped and copies. Every response byte is
 * checked. A copying transform (videoflip), a tee (a second reference:
 * the transform must copy, the other branch must see the request
 * unchanged) and a client frame format the response format cannot point
 * at are answered by copy, still correct.
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

/* I420 without padding: the default layout is the packed one */
#define W 64
#define H 48
#define Y_SIZE (W * H)
#define C_SIZE ((W / 2) * (H / 2))
#define FRAME (Y_SIZE + 2 * C_SIZE)
#define CAPS "video/x-raw,format=I420,width=64,height=48,framerate=30/1"
#define N 20

typedef enum
{
  ECHO,                         /* identity: the request */
  GREY,                         /* videobalance saturation=0: chroma 128 */
  TURN                          /* videoflip 180: each plane reversed */
} Mode;

/* The log of the running test's server (zbt_server_start()) */
static gchar *server_log;

/* zbt-gst-server running @pipeline (each "@CH@" replaced by the channel,
 * a new one unless @channel), until a live server owns CHANNEL_request.
 * Returns the channel. */
static const gchar *
start_server (const gchar * pipeline, const gchar * channel)
{
  const gchar *argv[] = { ZBT_GST_SERVER, NULL, NULL };
  gchar *desc, **parts;
  GPid pid;

  zbt_server_set_channel (channel);
  parts = g_strsplit (pipeline, "@CH@", -1);
  desc = g_strjoinv (zbt_server_channel (), parts);
  g_strfreev (parts);
  g_free (server_log);
  server_log = zbt_tmp_path ("server.log");
  /* a log of this server alone: stop_server() reads its stats there */
  g_unlink (server_log);
  argv[1] = desc;
  pid = zbt_server_start (argv, server_log);
  GST_INFO ("server %d: %s", pid, desc);
  g_free (desc);
  return zbt_server_channel ();
}

/* Stop the server (SIGINT: it stops its pipeline and prints zbsink's
 * stats) and return its field @field (fails without it). */
static guint64
stop_server (const gchar * field)
{
  gchar *log = NULL, *key, *at;
  guint64 value;
  GPid pid = zbt_server_take ();
  gint status;

  fail_unless (pid > 0);
  status = zbt_kill (pid, SIGINT, 10000);
  fail_unless (g_file_get_contents (server_log, &log, NULL, NULL));
  fail_unless (WIFEXITED (status) && WEXITSTATUS (status) == 0,
      "server status %d: %s", status, log);
  key = g_strdup_printf ("%s=(guint64)", field);
  at = strstr (log, key);
  fail_unless (at != NULL, "no %s in the server's output: %s", field, log);
  value = g_ascii_strtoull (at + strlen (key), NULL, 10);
  GST_INFO ("server: %s = %" G_GUINT64_FORMAT " (%s)", field, value, log);
  g_free (key);
  g_free (log);
  zbt_server_stop ();
  return value;
}

static guint8
byte_of (gint i, gsize k)
{
  return (guint8) (k * 3 + 7 * i);
}

static GstBuffer *
make_frame (gint i)
{
  GstBuffer *buf = gst_buffer_new_allocate (NULL, FRAME, NULL);
  GstMapInfo map;
  gsize k;

  gst_buffer_map (buf, &map, GST_MAP_WRITE);
  for (k = 0; k < FRAME; k++)
    map.data[k] = byte_of (i, k);
  gst_buffer_unmap (buf, &map);
  GST_BUFFER_PTS (buf) = i * 33 * GST_MSECOND;
  GST_BUFFER_DURATION (buf) = 33 * GST_MSECOND;
  return buf;
}

/* What @mode makes of byte @k of frame @i */
static guint8
expected (Mode mode, gint i, gsize k)
{
  gsize plane, size;

  switch (mode) {
    case ECHO:
      return byte_of (i, k);
    case GREY:
      return k < Y_SIZE ? byte_of (i, k) : 128;
    case TURN:
    default:
      plane = k < Y_SIZE ? 0 : k < Y_SIZE + C_SIZE ? Y_SIZE : Y_SIZE + C_SIZE;
      size = plane == 0 ? Y_SIZE : C_SIZE;
      return byte_of (i, plane + size - 1 - (k - plane));
  }
}

static void
check_response (GstBuffer * buf, gint i, Mode mode)
{
  GstMapInfo map;
  gsize k;

  fail_unless (buf != NULL);
  fail_unless_equals_uint64 (GST_BUFFER_PTS (buf), i * 33 * GST_MSECOND);
  fail_unless (gst_buffer_map (buf, &map, GST_MAP_READ));
  fail_unless_equals_uint64 (map.size, FRAME);
  for (k = 0; k < FRAME; k++)
    fail_unless (map.data[k] == expected (mode, i, k),
        "frame %d byte %" G_GSIZE_FORMAT ": %u, expected %u", i, k,
        map.data[k], expected (mode, i, k));
  gst_buffer_unmap (buf, &map);
}

/* A zbfilter client of @channel (frame-format @format, @in_flight
 * requests in flight) sends N frames; every response is checked per
 * @mode; zbfilter pushed each without a copy. */
static void
run_client (const gchar * channel, const gchar * format, guint in_flight,
    Mode mode)
{
  GstElement *f = gst_element_factory_make ("zbfilter", NULL);
  GstHarness *h;
  GstBuffer *out;
  gint i, got = 0;

  fail_unless (f != NULL);
  g_object_set (f, "channel-name", channel, "max-in-flight", in_flight,
      "timeout", 5000, NULL);
  gst_util_set_object_arg (G_OBJECT (f), "frame-format", format);
  gst_util_set_object_arg (G_OBJECT (f), "on-server-lost", "error");
  h = gst_harness_new_with_element (f, "sink", "src");
  gst_object_unref (f);
  gst_harness_set_src_caps_str (h, CAPS);
  for (i = 0; i < N; i++) {
    fail_unless_equals_int (gst_harness_push (h, make_frame (i)), GST_FLOW_OK);
    while ((out = gst_harness_try_pull (h)) != NULL) {
      check_response (out, got++, mode);
      gst_buffer_unref (out);
    }
  }
  /* EOS drains the requests in flight */
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
  while (got < N) {
    out = gst_harness_pull (h);
    check_response (out, got++, mode);
    gst_buffer_unref (out);
  }
  fail_unless_equals_uint64 (zbt_stat_u64 (h->element, "responses"), N);
  fail_unless_equals_uint64 (zbt_stat_u64 (h->element, "wrapped"), N);
  fail_unless_equals_uint64 (zbt_stat_u64 (h->element, "copies"), 0);
  gst_harness_teardown (h);
}

/* stall-timeout=0: on a loaded machine a request that waits 100 ms in the
 * server would otherwise move to the heap and be answered by copy */
#define SERVER(transform, sink_props) \
  "zbsrc channel-name=@CH@ payload-size=1000000 stall-timeout=0 ! " \
  transform \
  " ! zbsink name=sink channel-name=@CH@ sync=false " sink_props

/* ------------------------------------------------------------------ */

/* An in-place transform (videobalance: transform_frame_ip) changes each
 * request where it lies and zbsink answers in place: in-place-answers is
 * the number of buffers, zbfilter copies nothing, every byte is the
 * transform's. 1 and 4 requests in flight (two clients one after the
 * other: two generations), gst records both ways. Before: zbsrc's memories
 * were read-only, so videobalance copied each request to the heap and
 * zbsink copied it into the response ring (no in-place-answers). */
GST_START_TEST (test_in_place_videobalance)
{
  const gchar *channel = start_server (SERVER ("videobalance saturation=0",
          ""), NULL);

  run_client (channel, "gst", 1, GREY);
  run_client (channel, "gst", 4, GREY);
  fail_unless_equals_uint64 (stop_server ("in-place-answers"), 2 * N);
}

GST_END_TEST;

/* identity (passthrough): the request itself answers, in place: an echo
 * without a byte copied by the server. Both ends raw, and a gst client
 * answered in the raw format (the payload without the request's header);
 * every answer in place. */
GST_START_TEST (test_in_place_identity_raw)
{
  const gchar *channel = start_server (SERVER ("identity",
          "frame-format=raw"), NULL);

  run_client (channel, "raw", 1, ECHO);
  run_client (channel, "gst", 4, ECHO);
  fail_unless_equals_uint64 (stop_server ("in-place-answers"), 2 * N);
}

GST_END_TEST;

/* A raw client of a server that answers gst records: the request has no
 * record a response could point at, so each answer is copied (correct,
 * in-place-answers 0). */
GST_START_TEST (test_raw_client_gst_answers_copied)
{
  const gchar *channel = start_server (SERVER ("videobalance saturation=0",
          ""), NULL);

  run_client (channel, "raw", 1, GREY);
  fail_unless_equals_uint64 (stop_server ("in-place-answers"), 0);
}

GST_END_TEST;

/* A copying transform (videoflip writes a new buffer): answered by copy,
 * in-place-answers 0, every byte turned. */
GST_START_TEST (test_copying_transform)
{
  const gchar *channel = start_server (SERVER ("videoflip "
          "video-direction=180", ""), NULL);

  run_client (channel, "gst", 1, TURN);
  run_client (channel, "raw", 4, TURN);
  fail_unless_equals_uint64 (stop_server ("in-place-answers"), 0);
}

GST_END_TEST;

/* A tee branch holds a second reference to each request while
 * videobalance works on it (the tee while it pushes, then the other
 * branch's queue, then filesink's last sample, which it keeps until the
 * next request: one request in flight): the buffer is not writable, so
 * the transform works on a copy (the GstMemory contract), zbsink copies
 * the answer (in-place-answers 0), and the other branch writes every
 * request unchanged. */
GST_START_TEST (test_tee_copies)
{
  gchar *file = zbt_tmp_path ("tee.raw");
  gchar *pipeline = g_strdup_printf ("zbsrc channel-name=@CH@ "
      "payload-size=1000000 stall-timeout=0 ! tee name=t ! queue ! "
      "videobalance "
      "saturation=0 ! zbsink name=sink channel-name=@CH@ sync=false t. ! "
      "queue ! filesink location=%s", file);
  const gchar *channel = start_server (pipeline, NULL);
  gchar *data = NULL;
  gsize len = 0, k;
  gint i;

  run_client (channel, "gst", 1, GREY);
  fail_unless_equals_uint64 (stop_server ("in-place-answers"), 0);
  fail_unless (g_file_get_contents (file, &data, &len, NULL));
  fail_unless_equals_uint64 (len, (guint64) N * FRAME);
  for (i = 0; i < N; i++)
    for (k = 0; k < FRAME; k++)
      fail_unless ((guint8) data[i * FRAME + k] == byte_of (i, k),
          "tee branch: frame %d byte %" G_GSIZE_FORMAT " changed", i, k);
  g_free (data);
  g_unlink (file);
  g_free (file);
  g_free (pipeline);
}

GST_END_TEST;

/* A request answered in place stays as it was answered, also when a tee's
 * other branch writes in place after zbsink dropped its reference (zbsink
 * enable-last-sample=false; that branch waits 30 ms, so it holds the
 * buffer alone by then): its write map copies (zbsink made the memory
 * read-only when it answered), and the client, which reads its answer
 * 100 ms later, sees the request unchanged. Before: videobalance
 * brightened the bytes the client was answered with. */
GST_START_TEST (test_tee_later_writer_copies)
{
  const gchar *channel = start_server ("zbsrc channel-name=@CH@ "
      "payload-size=1000000 stall-timeout=0 ! tee name=t ! queue ! "
      "zbsink name=sink channel-name=@CH@ sync=false enable-last-sample=false "
      "t. ! queue ! identity sleep-time=30000 ! videobalance brightness=0.5 "
      "! fakesink", NULL);
  GstElement *f = gst_element_factory_make ("zbfilter", NULL);
  GstHarness *h;
  GstBuffer *out;
  gint i;

  fail_unless (f != NULL);
  g_object_set (f, "channel-name", channel, "timeout", 5000, NULL);
  gst_util_set_object_arg (G_OBJECT (f), "on-server-lost", "error");
  h = gst_harness_new_with_element (f, "sink", "src");
  gst_object_unref (f);
  gst_harness_set_src_caps_str (h, CAPS);
  for (i = 0; i < 5; i++) {
    fail_unless_equals_int (gst_harness_push (h, make_frame (i)), GST_FLOW_OK);
    out = gst_harness_pull (h);
    g_usleep (100 * 1000);
    check_response (out, i, ECHO);
    gst_buffer_unref (out);
  }
  fail_unless_equals_uint64 (zbt_stat_u64 (h->element, "copies"), 0);
  gst_harness_teardown (h);
  fail_unless_equals_uint64 (stop_server ("in-place-answers"), 5);
}

GST_END_TEST;

/* Fan-in: ONE pair of NAME serves a gst-launch-1.0 client NAME@cam2 (50
 * frames of videotestsrc, a tee saves what it sends) while this process's
 * clients NAME@cam1, NAME, then NAME@cam1 again run; each client's
 * answers are in place in its own request ring (its own generation and
 * channel), every byte checked. */
GST_START_TEST (test_in_place_fanin)
{
  const gchar *channel = start_server (SERVER ("videobalance saturation=0",
          ""), NULL);
  gchar *cam1 = g_strdup_printf ("%s@cam1", channel);
  gchar *cam2 = g_strdup_printf ("%s@cam2", channel);
  gchar *in = zbt_tmp_path ("cam2.in"), *out = zbt_tmp_path ("cam2.out");
  gchar *desc = g_strdup_printf ("videotestsrc num-buffers=50 "
      "pattern=smpte ! video/x-raw,format=I420,width=%d,height=%d,"
      "framerate=30/1 ! tee name=t t. ! queue ! filesink location=%s t. ! "
      "queue ! zbfilter channel-name=%s timeout=5000 on-server-lost=error "
      "! filesink location=%s", W, H, in, cam2, out);
  gchar *sent = NULL, *got = NULL;
  gsize n_sent = 0, n_got = 0, k;
  GPid pid = zbt_spawn_launch (desc);
  gint status;

  run_client (cam1, "gst", 4, GREY);
  run_client (channel, "gst", 1, GREY);
  run_client (cam1, "gst", 1, GREY);
  status = zbt_wait_pid (pid, 20000);
  fail_unless (status == 0, "gst-launch client of %s: status %d", cam2, status);
  fail_unless (g_file_get_contents (in, &sent, &n_sent, NULL));
  fail_unless (g_file_get_contents (out, &got, &n_got, NULL));
  fail_unless_equals_uint64 (n_sent, 50 * FRAME);
  fail_unless_equals_uint64 (n_got, 50 * FRAME);
  for (k = 0; k < n_got; k++)
    fail_unless ((guint8) got[k] == (k % FRAME < Y_SIZE ?
            (guint8) sent[k] : 128), "cam2 byte %" G_GSIZE_FORMAT ": %u", k,
        (guint8) got[k]);
  fail_unless_equals_uint64 (stop_server ("in-place-answers"), 3 * N + 50);
  zbt_cleanup_channel (cam1);
  zbt_cleanup_channel (cam2);
  g_free (sent);
  g_free (got);
  g_free (desc);
  g_free (in);
  g_free (out);
  g_free (cam1);
  g_free (cam2);
}

GST_END_TEST;

static Suite *
zbinplace_suite (void)
{
  Suite *s = suite_create ("zbinplace");
  TCase *tc = tcase_create ("general");

  tcase_set_timeout (tc, 60);
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_in_place_videobalance);
  tcase_add_test (tc, test_in_place_identity_raw);
  tcase_add_test (tc, test_raw_client_gst_answers_copied);
  tcase_add_test (tc, test_copying_transform);
  tcase_add_test (tc, test_tee_copies);
  tcase_add_test (tc, test_tee_later_writer_copies);
  tcase_add_test (tc, test_in_place_fanin);
  return s;
}

ZBT_MAIN (zbinplace_suite)
