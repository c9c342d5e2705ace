/* zbfilter error paths: every error the element posts names the channel
 * and carries the documented domain/code (docs/errors.md, "zbfilter").
 * The servers are in this process: the library's duplex server, or a raw
 * zb_reader / zb_writer pair on NAME_request / NAME_response. */

#include "zbtest.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <glib/gstdio.h>
#include <gst/app/gstappsrc.h>
#include <zerobuffer/zerobuffer.h>

#define VIDEO "video/x-raw,format=GRAY8,width=64,height=48,framerate=30/1"

/* Wait for an ERROR from @pipeline of @domain/@code whose message mentions
 * @needle; the debug text must mention @dbg_needle unless it is NULL. */
static void
expect_error (GstElement * pipeline, GQuark domain, gint code,
    const gchar * needle, const gchar * dbg_needle, gint timeout_ms)
{
  GstBus *bus = gst_element_get_bus (pipeline);
  GstMessage *msg = zbt_pop (bus, GST_MESSAGE_ERROR, timeout_ms);
  GError *err = NULL;
  gchar *dbg = NULL;

  fail_unless (msg != NULL, "no error within %d ms", timeout_ms);
  gst_message_parse_error (msg, &err, &dbg);
  GST_INFO ("error: %s (%s)", err->message, dbg);
  fail_unless (g_error_matches (err, domain, code), "error %s:%d %s",
      g_quark_to_string (err->domain), err->code, err->message);
  fail_unless (strstr (err->message, needle) != NULL,
      "'%s' does not mention '%s'", err->message, needle);
  if (dbg_needle)
    fail_unless (dbg != NULL && strstr (dbg, dbg_needle) != NULL,
        "debug '%s' does not mention '%s'", dbg, dbg_needle);
  g_error_free (err);
  g_free (dbg);
  gst_message_unref (msg);
  gst_object_unref (bus);
}

static void
shutdown (GstElement * pipeline)
{
  fail_unless_equals_int (zbt_set_state (pipeline, GST_STATE_NULL),
      GST_STATE_CHANGE_SUCCESS);
  gst_object_unref (pipeline);
}

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

/* A library duplex server that is created (so zbfilter connects) but
 * only answers when started with serve(). */
typedef struct
{
  zb_duplex_server *server;
  GThread *thread;
  gint ret;
} Server;

static int
echo (zb_duplex_server * server, const zb_frame * request, void *user_data)
{
  return zb_duplex_server_respond (server, request->data, request->size);
}

static gpointer
serve_thread (gpointer data)
{
  Server *s = data;

  s->ret = zb_duplex_server_run (s->server, echo, NULL);
  return NULL;
}

static Server *
server_new (const gchar * channel, gsize metadata_size, gsize payload_size,
    const gchar * metadata)
{
  Server *s = g_new0 (Server, 1);
  zb_duplex_config config;
  int ret;

  memset (&config, 0, sizeof (config));
  config.metadata_size = metadata_size;
  config.payload_size = payload_size;
  ret = zb_duplex_server_create (channel, &config, &s->server);
  fail_unless_equals_int (ret, 0);
  if (metadata)
    fail_unless_equals_int (zb_duplex_server_set_metadata (s->server,
            metadata, strlen (metadata)), 0);
  return s;
}

static void
server_serve (Server * s)
{
  s->thread = g_thread_new ("zbt-server", serve_thread, s);
}

static void
server_free (Server * s)
{
  if (s->thread) {
    zb_duplex_server_stop (s->server);
    g_thread_join (s->thread);
  }
  zb_duplex_server_destroy (s->server);
  g_free (s);
}

static GstElement *
video_client (const gchar * channel, const gchar * props, const gchar * tail)
{
  return zbt_pipeline ("videotestsrc is-live=true ! " VIDEO " ! zbfilter "
      "name=f channel-name=%s %s ! %s", channel, props, tail);
}

GST_START_TEST (test_no_channel_name)
{
  GstElement *p;

  p = zbt_pipeline ("videotestsrc ! zbfilter ! fakesink");
  fail_unless_equals_int (gst_element_set_state (p, GST_STATE_PLAYING),
      GST_STATE_CHANGE_FAILURE);
  expect_error (p, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_SETTINGS,
      "No channel name set: set the channel-name property.", NULL, 1000);
  shutdown (p);
}

GST_END_TEST;

GST_START_TEST (test_invalid_channel_name)
{
  GstElement *p;
  gchar *msg, *longname;

  p = zbt_pipeline ("videotestsrc ! zbfilter channel-name=a/b ! fakesink");
  fail_unless_equals_int (gst_element_set_state (p, GST_STATE_PLAYING),
      GST_STATE_CHANGE_FAILURE);
  expect_error (p, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_SETTINGS,
      "Invalid channel name \"a/b\".", zb_strerror (-EINVAL), 1000);
  shutdown (p);

  /* a valid buffer name, but "_response" would make it too long */
  longname = g_strnfill (ZB_CHANNEL_NAME_MAX + 1, 'c');
  p = zbt_pipeline ("videotestsrc ! zbfilter channel-name=%s ! fakesink",
      longname);
  fail_unless_equals_int (gst_element_set_state (p, GST_STATE_PLAYING),
      GST_STATE_CHANGE_FAILURE);
  msg = g_strdup_printf ("Invalid channel name \"%s\".", longname);
  expect_error (p, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_SETTINGS, msg,
      zb_strerror (-ENAMETOOLONG), 1000);
  shutdown (p);
  g_free (msg);
  g_free (longname);
}

GST_END_TEST;

GST_START_TEST (test_no_server_within_timeout)
{
  gchar *channel = zbt_name ();
  gchar *msg;
  GstElement *p;
  gint64 t0 = g_get_monotonic_time ();

  p = video_client (channel, "on-server-lost=error timeout=300", "fakesink");
  fail_unless (gst_element_set_state (p, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  msg = g_strdup_printf ("No server for duplex channel \"%s\" within 300 ms.",
      channel);
  expect_error (p, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_NOT_FOUND, msg,
      "no live reader", 5000);
  fail_unless (g_get_monotonic_time () - t0 >= 300 * 1000);
  shutdown (p);
  assert_channel_clean (channel);
  g_free (msg);
  g_free (channel);
}

GST_END_TEST;

/* The server's request buffer has a 64-byte metadata block: the client's
 * caps JSON does not fit. */
GST_START_TEST (test_caps_larger_than_metadata)
{
  gchar *channel = zbt_name ();
  gchar *msg;
  Server *s = server_new (channel, 64, 1 << 20, NULL);
  GstElement *p;

  p = video_client (channel, "on-server-lost=error timeout=2000", "fakesink");
  fail_unless (gst_element_set_state (p, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  msg = g_strdup_printf ("The caps do not fit in the metadata block of "
      "channel \"%s\".", channel);
  expect_error (p, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_NO_SPACE_LEFT, msg,
      zb_strerror (-EMSGSIZE), 5000);
  shutdown (p);
  server_free (s);
  assert_channel_clean (channel);
  g_free (msg);
  g_free (channel);
}

GST_END_TEST;

/* A 64x48 GRAY8 frame (3072 bytes + the 80-byte gst header) and a
 * 1024-byte request ring. */
GST_START_TEST (test_request_larger_than_ring)
{
  gchar *channel = zbt_name ();
  gchar *msg;
  Server *s = server_new (channel, 0, 1024, NULL);
  GstElement *p;

  p = video_client (channel, "on-server-lost=error timeout=2000", "fakesink");
  fail_unless (gst_element_set_state (p, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  msg = g_strdup_printf ("A request of 3072 bytes does not fit in the "
      "request ring of channel \"%s\"; raise the server's payload-size.",
      channel);
  expect_error (p, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_NO_SPACE_LEFT, msg,
      zb_strerror (-EMSGSIZE), 5000);
  shutdown (p);
  server_free (s);
  assert_channel_clean (channel);
  g_free (msg);
  g_free (channel);
}

GST_END_TEST;

/* The server declares audio caps for its responses; downstream only
 * takes video. */
GST_START_TEST (test_response_caps_refused)
{
  gchar *channel = zbt_name ();
  gchar *msg;
  Server *s = server_new (channel, 0, 1 << 20, "{\"caps\":\"audio/x-raw,"
      "format=S16LE,rate=8000,channels=1,layout=interleaved\"}");
  GstElement *p;

  server_serve (s);
  p = video_client (channel, "on-server-lost=error timeout=2000",
      "video/x-raw ! fakesink");
  fail_unless (gst_element_set_state (p, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  msg = g_strdup_printf ("Downstream cannot use the caps of the responses "
      "of channel \"%s\".", channel);
  expect_error (p, GST_CORE_ERROR, GST_CORE_ERROR_NEGOTIATION, msg,
      "audio/x-raw", 5000);
  shutdown (p);
  server_free (s);
  assert_channel_clean (channel);
  g_free (msg);
  g_free (channel);
}

GST_END_TEST;

/* A second zbfilter on a channel whose client is alive: NAME_response is
 * owned by the first one. */
GST_START_TEST (test_second_client_busy)
{
  gchar *channel = zbt_name ();
  gchar *msg;
  Server *s = server_new (channel, 0, 1 << 20, NULL);
  GstElement *p1, *p2;

  server_serve (s);
  p1 = video_client (channel, "on-server-lost=error timeout=2000", "fakesink");
  fail_unless (gst_element_set_state (p1, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  /* the first client is connected once its first response came back */
  {
    GstElement *f = gst_bin_get_by_name (GST_BIN (p1), "f");
    gint64 end = g_get_monotonic_time () + 5 * G_USEC_PER_SEC;
    guint64 n = 0;

    while (n == 0 && g_get_monotonic_time () < end) {
      n = zbt_stat_u64 (f, "responses");
      g_usleep (10 * 1000);
    }
    gst_object_unref (f);
    fail_unless (n > 0, "the first client got no response");
  }

  p2 = video_client (channel, "on-server-lost=error timeout=2000", "fakesink");
  fail_unless (gst_element_set_state (p2, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  msg = g_strdup_printf ("Duplex channel \"%s\" already has a live client.",
      channel);
  expect_error (p2, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_BUSY, msg,
      "zb_duplex_client_connect", 5000);
  shutdown (p2);
  zbt_assert_no_error (GST_ELEMENT_BUS (p1));
  shutdown (p1);
  server_free (s);
  assert_channel_clean (channel);
  g_free (msg);
  g_free (channel);
}

GST_END_TEST;

/* /tmp/zerobuffer/NAME_response.lock is a symlink: the library refuses to
 * create the response buffer (-EACCES), a connect error other than busy or
 * too-large metadata. */
GST_START_TEST (test_connect_failed)
{
  gchar *channel = zbt_name ();
  gchar *msg;
  gchar *lock = g_strdup_printf ("/tmp/zerobuffer/%s_response.lock", channel);
  Server *s = server_new (channel, 0, 1 << 20, NULL);
  GstElement *p;

  fail_unless (symlink ("/nonexistent-zbt-target", lock) == 0,
      "symlink %s: %s", lock, g_strerror (errno));
  p = video_client (channel, "on-server-lost=error timeout=2000", "fakesink");
  fail_unless (gst_element_set_state (p, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  msg = g_strdup_printf ("Could not connect to duplex channel \"%s\".",
      channel);
  expect_error (p, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_OPEN_READ_WRITE,
      msg, zb_strerror (-EACCES), 5000);
  shutdown (p);
  g_unlink (lock);
  server_free (s);
  assert_channel_clean (channel);
  g_free (msg);
  g_free (lock);
  g_free (channel);
}

GST_END_TEST;

static void
push (GstElement * p, gint i)
{
  GstElement *src = gst_bin_get_by_name (GST_BIN (p), "src");
  GstBuffer *buf = gst_buffer_new_allocate (NULL, 100, NULL);

  gst_buffer_memset (buf, 0, (guint8) i, 100);
  GST_BUFFER_PTS (buf) = i * GST_MSECOND;
  fail_unless_equals_int (gst_app_src_push_buffer (GST_APP_SRC (src), buf),
      GST_FLOW_OK);
  gst_object_unref (src);
}

static guint64
responses (GstElement * p)
{
  GstElement *f = gst_bin_get_by_name (GST_BIN (p), "f");
  guint64 n;

  n = zbt_stat_u64 (f, "responses");
  gst_object_unref (f);
  return n;
}

/* A raw server: answers request 1, then disconnects its response writer
 * and connects again, so its answer to request 2 carries sequence 1 (a
 * writer's sequence restarts with each connection). The next request is
 * only pushed once the previous response was taken, so the client never
 * waits while the writer is away. */
GST_START_TEST (test_out_of_order)
{
  gchar *channel = zbt_name ();
  gchar *req = part_name (channel, "request");
  gchar *resp = part_name (channel, "response");
  gchar *msg;
  zb_reader_config rc = { 4096, 1 << 20, 0 };
  zb_writer_config wc = { 5000, 0 };
  zb_reader *r = NULL;
  zb_writer *w = NULL;
  zb_frame f;
  GstElement *p;
  gint64 end;

  fail_unless_equals_int (zb_reader_create (req, &rc, &r), 0);
  p = zbt_pipeline ("appsrc name=src format=time caps=application/x-zbt ! "
      "zbfilter name=f channel-name=%s on-server-lost=error timeout=3000 ! "
      "fakesink", channel);
  fail_unless (gst_element_set_state (p, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);

  push (p, 1);
  fail_unless_equals_int (zb_reader_read (r, 5000, &f), 0);
  fail_unless_equals_int (f.sequence, 1);
  fail_unless_equals_int (zb_writer_connect (resp, &wc, &w), 0);
  fail_unless_equals_int (zb_writer_write (w, f.data, f.size), 0);
  fail_unless_equals_int (zb_reader_release (r, &f), 0);
  end = g_get_monotonic_time () + 5 * G_USEC_PER_SEC;
  while (responses (p) < 1 && g_get_monotonic_time () < end)
    g_usleep (5 * 1000);
  fail_unless_equals_int (responses (p), 1);
  zbt_assert_no_error (GST_ELEMENT_BUS (p));

  zb_writer_disconnect (w);
  w = NULL;
  fail_unless_equals_int (zb_writer_connect (resp, &wc, &w), 0);
  push (p, 2);
  fail_unless_equals_int (zb_reader_read (r, 5000, &f), 0);
  fail_unless_equals_int (f.sequence, 2);
  fail_unless_equals_int (zb_writer_write (w, f.data, f.size), 0);
  fail_unless_equals_int (zb_reader_release (r, &f), 0);

  msg = g_strdup_printf ("The server of channel \"%s\" answered out of "
      "order.", channel);
  expect_error (p, GST_STREAM_ERROR, GST_STREAM_ERROR_FAILED, msg,
      "response 1 while request 2 was due", 5000);
  shutdown (p);
  zb_writer_disconnect (w);
  zb_reader_destroy (r);
  assert_channel_clean (channel);
  g_free (msg);
  g_free (req);
  g_free (resp);
  g_free (channel);
}

GST_END_TEST;

static Suite *
zbfiltererrors_suite (void)
{
  Suite *s = suite_create ("zbfiltererrors");
  TCase *tc = tcase_create ("errors");

  tcase_set_timeout (tc, 30);
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_no_channel_name);
  tcase_add_test (tc, test_invalid_channel_name);
  tcase_add_test (tc, test_no_server_within_timeout);
  tcase_add_test (tc, test_caps_larger_than_metadata);
  tcase_add_test (tc, test_request_larger_than_ring);
  tcase_add_test (tc, test_response_caps_refused);
  tcase_add_test (tc, test_second_client_busy);
  tcase_add_test (tc, test_connect_failed);
  tcase_add_test (tc, test_out_of_order);
  return s;
}

ZBT_MAIN (zbfiltererrors_suite);
