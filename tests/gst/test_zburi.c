/* The zerobuffer:// URI of zbsrc and zbsink (gst/gstzburi.c; the grammar
 * in docs/elements.md, "The zerobuffer:// URI"): parameters reach the
 * properties, get_uri() gives them back, every kind of bad URI fails with
 * a GST_URI_ERROR that names the problem and changes nothing, the state
 * check, gst_element_make_from_uri() picking our elements, and one
 * in-process stream from a sink URI to a urisourcebin. */

#include <string.h>

#include <gst/app/gstappsink.h>
#include <gst/check/gstcheck.h>

#include "zbtest.h"

static GstElement *
make (const gchar * factory)
{
  GstElement *e = gst_element_factory_make (factory, NULL);

  fail_unless (e != NULL, "no %s", factory);
  return gst_object_ref_sink (e);
}

static void
set_uri_ok (GstElement * e, const gchar * uri)
{
  GError *err = NULL;

  if (!gst_uri_handler_set_uri (GST_URI_HANDLER (e), uri, &err))
    fail ("%s refused %s: %s", GST_ELEMENT_NAME (e), uri, err->message);
}

GST_START_TEST (test_src_parameters)
{
  GstElement *src = make ("zbsrc");
  GstElement *again = make ("zbsrc");
  GstCaps *caps, *i420 = gst_caps_from_string ("video/x-raw,format=I420");
  gchar *name, *uri, *uri2;
  guint64 payload;
  gint timeout, lost, nbuf;
  gboolean live;

  set_uri_ok (src, "zerobuffer://cam-1?payload-size=67108864&timeout=250"
      "&on-writer-lost=eos&caps=video/x-raw,format=I420&num-buffers=7"
      "&is-live=false");
  g_object_get (src, "buffer-name", &name, "payload-size", &payload,
      "timeout", &timeout, "on-writer-lost", &lost, "caps", &caps,
      "num-buffers", &nbuf, "is-live", &live, NULL);
  fail_unless_equals_string (name, "cam-1");
  fail_unless_equals_uint64 (payload, 67108864);
  fail_unless_equals_int (timeout, 250);
  fail_unless_equals_int (lost, 1);     /* eos */
  fail_unless_equals_int (nbuf, 7);
  fail_unless (!live);
  fail_unless (gst_caps_is_equal (caps, i420));
  g_free (name);

  /* get_uri(): NAME and the parameters set, with current values */
  g_object_set (src, "timeout", 300, NULL);
  uri = gst_uri_handler_get_uri (GST_URI_HANDLER (src));
  fail_unless_equals_string (uri, "zerobuffer://cam-1?payload-size=67108864"
      "&timeout=300&on-writer-lost=eos"
      "&caps=video/x-raw,%20format=(string)I420&num-buffers=7&is-live=false");
  set_uri_ok (again, uri);
  uri2 = gst_uri_handler_get_uri (GST_URI_HANDLER (again));
  fail_unless_equals_string (uri2, uri);
  g_free (uri);
  g_free (uri2);

  /* the scheme in any case, %-escapes in NAME, an empty query */
  set_uri_ok (again, "ZeroBuffer://c%41m?");
  g_object_get (again, "buffer-name", &name, NULL);
  fail_unless_equals_string (name, "cAm");
  g_free (name);
  uri = gst_uri_handler_get_uri (GST_URI_HANDLER (again));
  fail_unless_equals_string (uri, "zerobuffer://cAm");
  g_free (uri);

  gst_caps_unref (caps);
  gst_caps_unref (i420);
  gst_object_unref (src);
  gst_object_unref (again);
}

GST_END_TEST;

GST_START_TEST (test_sink_parameters)
{
  GstElement *sink = make ("zbsink");
  gchar *name, *channel, *uri;
  gint timeout, lost, format;
  gboolean leaky, sync;

  /* a URI names a buffer: it clears channel-name */
  g_object_set (sink, "channel-name", "chan", NULL);
  set_uri_ok (sink, "zerobuffer://out_2?connect-timeout=-1&leaky=1"
      "&frame-format=raw&on-reader-lost=drop&sync=false");
  g_object_get (sink, "buffer-name", &name, "channel-name", &channel,
      "connect-timeout", &timeout, "leaky", &leaky, "frame-format", &format,
      "on-reader-lost", &lost, "sync", &sync, NULL);
  fail_unless_equals_string (name, "out_2");
  fail_unless (channel == NULL);
  fail_unless_equals_int (timeout, -1);
  fail_unless (leaky);
  fail_unless (!sync);
  fail_unless_equals_int (format, 1);   /* raw */
  fail_unless_equals_int (lost, 1);     /* drop */
  uri = gst_uri_handler_get_uri (GST_URI_HANDLER (sink));
  fail_unless_equals_string (uri, "zerobuffer://out_2?connect-timeout=-1"
      "&leaky=true&frame-format=raw&on-reader-lost=drop&sync=false");
  g_free (uri);
  g_free (name);

  /* no buffer-name, no URI */
  g_object_set (sink, "buffer-name", NULL, NULL);
  fail_unless (gst_uri_handler_get_uri (GST_URI_HANDLER (sink)) == NULL);
  gst_object_unref (sink);
}

GST_END_TEST;

typedef struct
{
  const gchar *factory;
  const gchar *uri;
  gint code;                    /* GstURIError */
  const gchar *says;            /* in the message */
} BadUri;

static const BadUri bad_uris[] = {
  {"zbsrc", "file:///tmp/x", GST_URI_ERROR_UNSUPPORTED_PROTOCOL, "file"},
  {"zbsrc", "zerobuffer:cam", GST_URI_ERROR_BAD_URI, "zerobuffer://NAME"},
  {"zbsrc", "zerobuffer://", GST_URI_ERROR_BAD_URI, "no buffer name"},
  {"zbsrc", "zerobuffer:///cam", GST_URI_ERROR_BAD_URI, "no path"},
  {"zbsrc", "zerobuffer://host/cam", GST_URI_ERROR_BAD_URI, "no path"},
  {"zbsrc", "zerobuffer://cam#top", GST_URI_ERROR_BAD_URI, "no fragment"},
  {"zbsrc", "zerobuffer://cam:5000", GST_URI_ERROR_BAD_URI, "write it as %3A"},
  {"zbsrc", "zerobuffer://me@cam", GST_URI_ERROR_BAD_URI, "'@'"},
  {"zbsrc", "zerobuffer://a%2Fb", GST_URI_ERROR_BAD_URI, "bad %-escape"},
  {"zbsrc", "zerobuffer://a%zz", GST_URI_ERROR_BAD_URI, "bad %-escape"},
  {"zbsrc", "zerobuffer://..", GST_URI_ERROR_BAD_URI, "invalid buffer name"},
  {"zbsrc", "zerobuffer://sem.x", GST_URI_ERROR_BAD_URI, "sem."},
  {"zbsrc", "zerobuffer://cam?bogus=1", GST_URI_ERROR_BAD_URI,
      "unknown parameter 'bogus' (GstZbSrc takes: "},
  {"zbsrc", "zerobuffer://cam?stats=1", GST_URI_ERROR_BAD_URI,
      "unknown parameter 'stats'"},
  {"zbsrc", "zerobuffer://cam?name=x", GST_URI_ERROR_BAD_URI,
      "unknown parameter 'name'"},
  {"zbsrc", "zerobuffer://cam?channel-name=x", GST_URI_ERROR_BAD_URI,
      "unknown parameter 'channel-name'"},
  {"zbsrc", "zerobuffer://cam?buffer-name=x", GST_URI_ERROR_BAD_URI,
      "not a parameter"},
  {"zbsrc", "zerobuffer://cam?timeout", GST_URI_ERROR_BAD_URI,
      "'timeout' has no value"},
  {"zbsrc", "zerobuffer://cam?timeout=1&timeout=2", GST_URI_ERROR_BAD_URI,
      "given twice"},
  {"zbsrc", "zerobuffer://cam?timeout=soon", GST_URI_ERROR_BAD_URI,
      "bad value 'soon' for parameter 'timeout' (expected an integer from 0 "
        "to 2147483647)"},
  {"zbsrc", "zerobuffer://cam?timeout=-5", GST_URI_ERROR_BAD_URI,
      "bad value '-5'"},
  {"zbsrc", "zerobuffer://cam?timeout=99999999999", GST_URI_ERROR_BAD_URI,
      "bad value"},
  {"zbsrc", "zerobuffer://cam?payload-size=0", GST_URI_ERROR_BAD_URI,
      "from 1 to"},
  {"zbsrc", "zerobuffer://cam?max-held-bytes=-1", GST_URI_ERROR_BAD_URI,
      "bad value '-1'"},
  {"zbsrc", "zerobuffer://cam?on-writer-lost=later", GST_URI_ERROR_BAD_URI,
      "one of wait, eos, error"},
  {"zbsrc", "zerobuffer://cam?on-writer-lost=9", GST_URI_ERROR_BAD_URI,
      "bad value '9'"},
  {"zbsrc", "zerobuffer://cam?is-live=maybe", GST_URI_ERROR_BAD_URI,
      "true or false"},
  {"zbsrc", "zerobuffer://cam?caps=%", GST_URI_ERROR_BAD_URI,
      "bad %-escape"},
  {"zbsrc", "zerobuffer://cam?caps=not%20caps%20at%20all,,",
      GST_URI_ERROR_BAD_URI, "GstCaps"},
  /* nothing is set unless the whole URI is good */
  {"zbsrc", "zerobuffer://new?timeout=1&bogus=2", GST_URI_ERROR_BAD_URI,
      "'bogus'"},
  {"zbsink", "zerobuffer://cam?timeout=1", GST_URI_ERROR_BAD_URI,
      "unknown parameter 'timeout' (GstZbSink takes: "},
  {"zbsink", "zerobuffer://cam?connect-timeout=-2", GST_URI_ERROR_BAD_URI,
      "from -1 to"},
  {"zbsink", "zerobuffer://cam?frame-format=jpeg", GST_URI_ERROR_BAD_URI,
      "one of gst, raw"},
};

GST_START_TEST (test_bad_uri)
{
  const BadUri *b = &bad_uris[__i__];
  GstElement *e = make (b->factory);
  const gchar *timeout_prop =
      strcmp (b->factory, "zbsrc") == 0 ? "timeout" : "write-timeout";
  GError *err = NULL;
  gchar *name;
  gint timeout;

  g_object_set (e, "buffer-name", "before", timeout_prop, 42, NULL);
  fail_if (gst_uri_handler_set_uri (GST_URI_HANDLER (e), b->uri, &err),
      "%s took %s", b->factory, b->uri);
  fail_unless (err != NULL);
  GST_INFO ("%s: %s", b->uri, err->message);
  fail_unless (err->domain == GST_URI_ERROR);
  fail_unless_equals_int (err->code, b->code);
  fail_unless (strstr (err->message, b->says) != NULL,
      "the error for %s, \"%s\", does not say \"%s\"", b->uri, err->message,
      b->says);
  g_error_free (err);

  g_object_get (e, "buffer-name", &name, timeout_prop, &timeout, NULL);
  fail_unless_equals_string (name, "before");
  fail_unless_equals_int (timeout, 42);
  g_free (name);
  gst_object_unref (e);
}

GST_END_TEST;

/* A running element refuses a new URI. */
GST_START_TEST (test_uri_state)
{
  gchar *name = zbt_name ();
  GstElement *p = zbt_pipeline ("zbsrc name=src buffer-name=%s ! "
      "fakesink async=false", name);
  GstElement *src = gst_bin_get_by_name (GST_BIN (p), "src");
  GError *err = NULL;
  gchar *uri = g_strdup_printf ("zerobuffer://%s-2", name);

  fail_unless (zbt_set_state (p, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  fail_if (gst_uri_handler_set_uri (GST_URI_HANDLER (src), uri, &err));
  fail_unless (g_error_matches (err, GST_URI_ERROR, GST_URI_ERROR_BAD_STATE));
  fail_unless (strstr (err->message, "only in NULL or READY") != NULL,
      "%s", err->message);
  g_clear_error (&err);

  fail_unless (zbt_set_state (p, GST_STATE_READY) != GST_STATE_CHANGE_FAILURE);
  set_uri_ok (src, uri);

  gst_object_unref (src);
  zbt_stop_and_free (p);
  fail_unless (zbt_no_leftovers (name));
  g_free (uri);
  g_free (name);
}

GST_END_TEST;

/* How playbin, uridecodebin and urisourcebin find the source: by protocol
 * and rank. */
GST_START_TEST (test_make_from_uri)
{
  GError *err = NULL;
  GstElement *e;
  GstElementFactory *f;
  gint timeout;

  fail_unless (gst_uri_protocol_is_supported (GST_URI_SRC, "zerobuffer"));
  fail_unless (gst_uri_protocol_is_supported (GST_URI_SINK, "zerobuffer"));

  f = gst_element_factory_find ("zbsrc");
  fail_unless (gst_plugin_feature_get_rank (GST_PLUGIN_FEATURE (f)) >=
      GST_RANK_PRIMARY);
  gst_object_unref (f);

  e = gst_element_make_from_uri (GST_URI_SRC, "zerobuffer://in?timeout=5",
      NULL, &err);
  fail_unless (e != NULL, "%s", err ? err->message : "?");
  f = gst_element_get_factory (e);
  fail_unless_equals_string (GST_OBJECT_NAME (f), "zbsrc");
  g_object_get (e, "timeout", &timeout, NULL);
  fail_unless_equals_int (timeout, 5);
  gst_object_unref (e);

  e = gst_element_make_from_uri (GST_URI_SINK, "zerobuffer://out", NULL, &err);
  fail_unless (e != NULL, "%s", err ? err->message : "?");
  f = gst_element_get_factory (e);
  fail_unless_equals_string (GST_OBJECT_NAME (f), "zbsink");
  gst_object_unref (e);

  /* a bad URI: no element, the handler's error */
  e = gst_element_make_from_uri (GST_URI_SRC, "zerobuffer://in?bogus=1",
      NULL, &err);
  fail_unless (e == NULL);
  fail_unless (err != NULL && strstr (err->message, "'bogus'") != NULL);
  g_clear_error (&err);
}

GST_END_TEST;

/* A sink URI in a pipeline description to a urisourcebin, in this
 * process: every frame arrives, then EOS. The reader is not live (a
 * parameter of its URI), so that it keeps every frame whenever it reaches
 * PLAYING. */
GST_START_TEST (test_uri_stream)
{
  gchar *name = zbt_name ();
  GstElement *reader = zbt_pipeline ("urisourcebin "
      "uri=zerobuffer://%s?payload-size=1048576&is-live=false ! "
      "appsink name=sink sync=false", name);
  GstElement *writer = zbt_pipeline ("videotestsrc num-buffers=5 ! "
      "video/x-raw,format=I420,width=64,height=48 ! "
      "zerobuffer://%s?sync=false", name);
  GstElement *sink = gst_bin_get_by_name (GST_BIN (reader), "sink");
  GstSample *sample;
  guint n = 0;

  /* the reader prerolls on the first frame: do not wait for it */
  fail_unless (gst_element_set_state (reader, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  fail_unless (gst_element_set_state (writer, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  /* appsink posts EOS once every sample is pulled */
  while ((sample = gst_app_sink_try_pull_sample (GST_APP_SINK (sink),
              20 * GST_SECOND))) {
    fail_unless_equals_int (gst_buffer_get_size (gst_sample_get_buffer
            (sample)), 64 * 48 * 3 / 2);
    gst_sample_unref (sample);
    n++;
  }
  fail_unless (gst_app_sink_is_eos (GST_APP_SINK (sink)));
  zbt_wait_eos (reader, 20000);
  fail_unless_equals_int (n, 5);
  zbt_wait_eos (writer, 20000);

  gst_object_unref (sink);
  zbt_stop_and_free (writer);
  zbt_stop_and_free (reader);
  fail_unless (zbt_no_leftovers (name));
  g_free (name);
}

GST_END_TEST;

static Suite *
zburi_suite (void)
{
  Suite *s = suite_create ("zburi");
  TCase *tc = tcase_create ("general");

  suite_add_tcase (s, tc);
  tcase_set_timeout (tc, 60);
  tcase_add_test (tc, test_src_parameters);
  tcase_add_test (tc, test_sink_parameters);
  tcase_add_loop_test (tc, test_bad_uri, 0, G_N_ELEMENTS (bad_uris));
  tcase_add_test (tc, test_uri_state);
  tcase_add_test (tc, test_make_from_uri);
  tcase_add_test (tc, test_uri_stream);
  return s;
}

ZBT_MAIN (zburi_suite);
