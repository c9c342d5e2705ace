/* zbfilter's requests without a copy (docs/duplex.md, "Requests without a
 * copy"): zbfilter proposes a buffer pool whose buffer lies in the
 * request ring, and sends it where it lies when it comes back as the next
 * input and nobody else holds it. Real pipelines (videotestsrc allocates
 * from the pool it is proposed) against the C example server in another
 * process, answering in place (-i) or by copy. Every output frame is
 * checked against videotestsrc's own frames inverted, and zbfilter's
 * requests-in-ring counter says which way each request went. Buffers that
 * someone else also holds (a probe keeps them), buffers dropped or
 * repeated upstream (videorate), on-server-lost=passthrough and a server
 * killed with SIGKILL while a slot is out all go by copy and stay
 * correct. */

#include "zbtest.h"

#include <signal.h>
#include <string.h>
#include <sys/wait.h>

#include <gst/app/gstappsink.h>

#define CAPS "video/x-raw,format=I420,width=64,height=48"
#define FRAME (64 * 48 * 3 / 2)
#define N 60

/* The C example server on the test's channel, answering in place or by
 * copy. */
static void
start_invert (gboolean in_place)
{
  const gchar *argv[] = { ZB_DUPLEX_INVERT, "-n", NULL, "-s", "4000000",
    NULL, NULL
  };
  gchar *log = zbt_tmp_path ("server.log");

  argv[2] = zbt_server_channel ();
  if (in_place)
    argv[5] = "-i";
  zbt_server_start (argv, log);
  g_free (log);
}

/* Every buffer @desc (ending in "appsink name=sink") gives until EOS. */
static GPtrArray *
run (GstElement * p)
{
  GPtrArray *a = g_ptr_array_new_with_free_func ((GDestroyNotify)
      gst_buffer_unref);
  GstElement *sink = gst_bin_get_by_name (GST_BIN (p), "sink");
  GstSample *s;

  zbt_set_state (p, GST_STATE_PLAYING);
  while ((s = gst_app_sink_try_pull_sample (GST_APP_SINK (sink),
              20 * GST_SECOND)) != NULL) {
    g_ptr_array_add (a, gst_buffer_ref (gst_sample_get_buffer (s)));
    gst_sample_unref (s);
  }
  fail_unless (gst_app_sink_is_eos (GST_APP_SINK (sink)), "no EOS after %u "
      "buffers", a->len);
  gst_object_unref (sink);
  return a;
}

/* @src's frames (a description without sink) as they leave it. */
static GPtrArray *
reference (const gchar * src)
{
  GstElement *p = zbt_pipeline ("%s ! appsink name=sink sync=false", src);
  GPtrArray *a = run (p);

  zbt_stop_and_free (p);
  return a;
}

/* Is @buf @ref with every byte inverted (@invert) or unchanged? */
static gboolean
same_frame (GstBuffer * buf, GstBuffer * ref, gboolean invert)
{
  GstMapInfo a, b;
  gboolean same;
  gsize k;

  fail_unless (gst_buffer_map (buf, &a, GST_MAP_READ));
  fail_unless (gst_buffer_map (ref, &b, GST_MAP_READ));
  same = a.size == b.size;
  for (k = 0; same && k < a.size; k++)
    same = a.data[k] == (guint8) (invert ? 255 - b.data[k] : b.data[k]);
  gst_buffer_unmap (buf, &a);
  gst_buffer_unmap (ref, &b);
  return same;
}

/* Each output of @out is the frame of @ref with its offset (videotestsrc
 * numbers its frames; the PTS of a live source differs from run to run),
 * or its PTS when it has none (a decoder's), inverted. Returns how many
 * matched. */
static guint
assert_inverted (GPtrArray * out, GPtrArray * ref)
{
  guint i, j, found = 0;

  for (i = 0; i < out->len; i++) {
    GstBuffer *o = g_ptr_array_index (out, i);

    for (j = 0; j < ref->len; j++) {
      GstBuffer *r = g_ptr_array_index (ref, j);

      if (GST_BUFFER_OFFSET_IS_VALID (o) ?
          GST_BUFFER_OFFSET (r) != GST_BUFFER_OFFSET (o) :
          GST_BUFFER_PTS (r) != GST_BUFFER_PTS (o))
        continue;
      fail_unless (same_frame (o, r, TRUE), "output %u (offset %"
          G_GUINT64_FORMAT ") is not its frame inverted", i,
          GST_BUFFER_OFFSET (o));
      found++;
      break;
    }
    fail_unless (j < ref->len, "output %u: no frame of offset %"
        G_GUINT64_FORMAT, i, GST_BUFFER_OFFSET (o));
  }
  return found;
}

/* @src through zbfilter (@props) to the test's server: every output is
 * its frame inverted, @src's frames all come back; returns the filter's
 * requests-in-ring. */
static guint64 slots_back;

static guint64
filter_run (const gchar * src, const gchar * props)
{
  GstElement *p = zbt_pipeline ("%s ! zbfilter name=f channel-name=%s "
      "timeout=10000 %s ! appsink name=sink sync=false", src,
      zbt_server_channel (), props);
  GstElement *f = gst_bin_get_by_name (GST_BIN (p), "f");
  GPtrArray *ref = reference (src);
  GPtrArray *out = run (p);
  guint64 in_ring;

  fail_unless_equals_int (out->len, ref->len);
  fail_unless_equals_int (assert_inverted (out, ref), ref->len);
  fail_unless_equals_int (zbt_stat_u64 (f, "requests"), ref->len);
  in_ring = zbt_stat_u64 (f, "requests-in-ring");
  slots_back = zbt_stat_u64 (f, "slots-given-back");
  GST_INFO ("%s ! zbfilter %s: %" G_GUINT64_FORMAT " of %u in the ring",
      src, props, in_ring, ref->len);
  gst_object_unref (f);
  zbt_stop_and_free (p);
  g_ptr_array_unref (out);
  g_ptr_array_unref (ref);
  return in_ring;
}

#define SRC "videotestsrc pattern=ball num-buffers=60 ! " CAPS \
  ",framerate=30/1"

/* The default pipeline: videotestsrc fills the request where it is sent
 * from, from the second buffer on (the first is allocated before the
 * connection). */
GST_START_TEST (test_pool_in_place)
{
  start_invert (TRUE);
  fail_unless (filter_run (SRC, "") >= N - 1);
  fail_unless (filter_run (SRC, "max-in-flight=4") >= N - 1);
  zbt_server_stop ();
}

GST_END_TEST;

/* zero-copy=false proposes no pool: every request by copy. */
GST_START_TEST (test_pool_zero_copy_off)
{
  start_invert (TRUE);
  fail_unless_equals_int (filter_run (SRC, "zero-copy=false"), 0);
  fail_unless_equals_int (slots_back, 0);
  zbt_server_stop ();
}

GST_END_TEST;

/* A server that answers by copy reads the requests as well. */
GST_START_TEST (test_pool_copying_server)
{
  start_invert (FALSE);
  fail_unless (filter_run (SRC, "") >= N - 1);
  zbt_server_stop ();
}

GST_END_TEST;

/* A queue: upstream allocates ahead, so that a buffer of the pool is
 * mostly on its way when the next is allocated; then the pool gives no
 * slot (one that came after a queued buffer would have to move out of
 * the ring before that one could be sent). All in order and correct. */
GST_START_TEST (test_pool_queue)
{
  guint64 in_ring;

  start_invert (TRUE);
  in_ring = filter_run (SRC " ! queue", "max-in-flight=4");
  fail_unless (in_ring < N, "%" G_GUINT64_FORMAT, in_ring);
  zbt_server_stop ();
}

GST_END_TEST;

/* A decoder (GstVideoDecoder: jpegdec) allocates its output frames from
 * the pool: every frame correct, and sent where it lies. */
GST_START_TEST (test_pool_decoder)
{
  start_invert (TRUE);
  fail_unless (filter_run ("videotestsrc pattern=ball num-buffers=30 ! "
          CAPS ",framerate=30/1 ! jpegenc ! jpegdec ! "
          "video/x-raw,format=I420", "") >= 29);
  zbt_server_stop ();
}

GST_END_TEST;

/* videorate keeps a buffer (to repeat it, or to see the next one's
 * time): one of the pool is always on its way or held, no slot is given,
 * and every request goes by copy, as before the pool. */
GST_START_TEST (test_pool_videorate)
{
  start_invert (TRUE);
  fail_unless_equals_int (filter_run ("videotestsrc pattern=ball "
          "num-buffers=60 ! " CAPS ",framerate=60/1 ! videorate "
          "drop-only=true ! video/x-raw,framerate=30/1", ""), 0);
  fail_unless_equals_int (filter_run ("videotestsrc pattern=ball "
          "num-buffers=30 ! " CAPS ",framerate=15/1 ! videorate ! "
          "video/x-raw,framerate=30/1", ""), 0);
  zbt_server_stop ();
}

GST_END_TEST;

static GstPadProbeReturn
keep_buffer (GstPad * pad, GstPadProbeInfo * info, gpointer user_data)
{
  g_ptr_array_add (user_data, gst_buffer_ref (GST_PAD_PROBE_INFO_BUFFER
          (info)));
  return GST_PAD_PROBE_OK;
}

/* Someone else holds each buffer as it reaches zbfilter: the server must
 * not change it where that one sees it. Every request goes by copy, the
 * kept buffers stay videotestsrc's frames, the outputs are inverted. */
GST_START_TEST (test_pool_buffer_held_elsewhere)
{
  GstElement *p, *f;
  GstPad *pad;
  GPtrArray *kept = g_ptr_array_new_with_free_func ((GDestroyNotify)
      gst_buffer_unref);
  GPtrArray *ref = reference (SRC);
  GPtrArray *out;
  guint i;

  start_invert (TRUE);
  p = zbt_pipeline ("%s ! zbfilter name=f channel-name=%s ! appsink "
      "name=sink sync=false", SRC, zbt_server_channel ());
  f = gst_bin_get_by_name (GST_BIN (p), "f");
  pad = gst_element_get_static_pad (f, "sink");
  gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_BUFFER, keep_buffer, kept, NULL);
  out = run (p);
  fail_unless_equals_int (out->len, N);
  fail_unless_equals_int (assert_inverted (out, ref), N);
  fail_unless_equals_int (zbt_stat_u64 (f, "requests-in-ring"), 0);
  /* the first slot held elsewhere too is the last one given: each would
   * cost a second copy (to the heap) */
  fail_unless (zbt_stat_u64 (f, "slots-given-back") <= 1);
  fail_unless_equals_int (kept->len, N);
  for (i = 0; i < N; i++)
    fail_unless (same_frame (g_ptr_array_index (kept, i),
            g_ptr_array_index (ref, i), FALSE), "kept buffer %u changed", i);
  gst_object_unref (pad);
  gst_object_unref (f);
  zbt_stop_and_free (p);
  g_ptr_array_unref (out);
  g_ptr_array_unref (ref);
  g_ptr_array_unref (kept);
  zbt_server_stop ();
}

GST_END_TEST;

/* on-server-lost=passthrough pushes the inputs in flight unchanged when
 * the server goes: they are never sent where they lie. */
GST_START_TEST (test_pool_passthrough)
{
  start_invert (TRUE);
  fail_unless_equals_int (filter_run (SRC, "on-server-lost=passthrough"), 0);
  fail_unless_equals_int (slots_back, 0);
  zbt_server_stop ();
}

GST_END_TEST;

static gint outputs;
static gint empty_outputs;

static GstPadProbeReturn
count_output (GstPad * pad, GstPadProbeInfo * info, gpointer user_data)
{
  g_atomic_int_inc (&outputs);
  if (gst_buffer_get_size (GST_PAD_PROBE_INFO_BUFFER (info)) == 0)
    g_atomic_int_inc (&empty_outputs);
  return GST_PAD_PROBE_OK;
}

/* The server is killed with SIGKILL while a live source keeps a slot out
 * and requests in flight, and a new one starts: the slot of the dead
 * client goes back with it, every output is still its frame inverted,
 * and nothing of the channel is left. */
GST_START_TEST (test_pool_server_killed)
{
  const gchar *src = "videotestsrc is-live=true pattern=ball "
      "num-buffers=90 ! " CAPS ",framerate=30/1";
  GPtrArray *ref = reference (src);
  GstElement *p, *f;
  GstPad *pad;
  GPtrArray *out;
  gchar *channel;
  gint status;

  start_invert (TRUE);
  channel = g_strdup (zbt_server_channel ());
  p = zbt_pipeline ("%s ! zbfilter name=f channel-name=%s ! appsink "
      "name=sink sync=false", src, channel);
  f = gst_bin_get_by_name (GST_BIN (p), "f");
  pad = gst_element_get_static_pad (f, "src");
  g_atomic_int_set (&outputs, 0);
  gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_BUFFER, count_output, NULL, NULL);
  zbt_set_state (p, GST_STATE_PLAYING);
  while (g_atomic_int_get (&outputs) < 20)
    g_usleep (5000);
  status = zbt_kill (zbt_server_take (), SIGKILL, 5000);
  fail_unless (WIFSIGNALED (status));
  g_usleep (200 * 1000);
  start_invert (TRUE);
  out = run (p);
  fail_unless (out->len >= 60, "%u outputs", out->len);
  assert_inverted (out, ref);
  fail_unless (zbt_stat_u64 (f, "requests-in-ring") > 40);
  gst_object_unref (pad);
  gst_object_unref (f);
  zbt_stop_and_free (p);
  g_ptr_array_unref (out);
  g_ptr_array_unref (ref);
  zbt_server_stop ();
  zbt_cleanup_channel (channel);
  g_free (channel);
}

GST_END_TEST;

/* on-server-lost set to passthrough while requests sent where they lay
 * are in flight (a slow server, 4 in flight), then the server is killed:
 * those inputs hold no bytes of their own and are dropped, the others
 * pass unchanged; no empty buffer goes out, every output is its frame
 * inverted or unchanged. */
GST_START_TEST (test_pool_passthrough_set_later)
{
  const gchar *argv[] = { ZB_DUPLEX_INVERT, "-n", NULL, "-s", "4000000",
    "-i", "-d", "20", NULL
  };
  const gchar *src = "videotestsrc is-live=true pattern=ball "
      "num-buffers=60 ! " CAPS ",framerate=30/1";
  GPtrArray *ref = reference (src);
  GstElement *p, *f;
  GstPad *pad;
  GPtrArray *out;
  gchar *log = zbt_tmp_path ("server.log");
  guint i, j, inverted = 0, unchanged = 0;

  argv[2] = zbt_server_channel ();
  zbt_server_start (argv, log);
  p = zbt_pipeline ("%s ! zbfilter name=f channel-name=%s max-in-flight=4 ! "
      "appsink name=sink sync=false", src, zbt_server_channel ());
  f = gst_bin_get_by_name (GST_BIN (p), "f");
  pad = gst_element_get_static_pad (f, "src");
  g_atomic_int_set (&outputs, 0);
  g_atomic_int_set (&empty_outputs, 0);
  gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_BUFFER, count_output, NULL, NULL);
  zbt_set_state (p, GST_STATE_PLAYING);
  while (g_atomic_int_get (&outputs) < 10)
    g_usleep (5000);
  g_object_set (f, "on-server-lost", 2, NULL);
  fail_unless (zbt_stat_u64 (f, "requests-in-ring") > 5);
  zbt_kill (zbt_server_take (), SIGKILL, 5000);
  out = run (p);
  fail_unless_equals_int (g_atomic_int_get (&empty_outputs), 0);
  for (i = 0; i < out->len; i++) {
    GstBuffer *o = g_ptr_array_index (out, i);

    for (j = 0; j < ref->len; j++)
      if (GST_BUFFER_OFFSET (g_ptr_array_index (ref, j)) ==
          GST_BUFFER_OFFSET (o))
        break;
    fail_unless (j < ref->len);
    if (same_frame (o, g_ptr_array_index (ref, j), TRUE))
      inverted++;
    else if (same_frame (o, g_ptr_array_index (ref, j), FALSE))
      unchanged++;
    else
      fail ("output %u is neither its frame inverted nor unchanged", i);
  }
  GST_INFO ("%u inverted, %u unchanged, %" G_GUINT64_FORMAT " dropped",
      inverted, unchanged, zbt_stat_u64 (f, "dropped"));
  fail_unless (inverted >= 10 && unchanged > 0);
  gst_object_unref (pad);
  gst_object_unref (f);
  zbt_stop_and_free (p);
  g_ptr_array_unref (out);
  g_ptr_array_unref (ref);
  g_free (log);
  zbt_server_stop ();
}

GST_END_TEST;

/* The stats count since start: the same zbfilter run twice (NULL, then
 * PLAYING again) counts the second run's requests-in-ring among the
 * second run's requests only. */
GST_START_TEST (test_pool_stats_restart)
{
  GstElement *p, *f;
  GPtrArray *out;
  int round;

  start_invert (TRUE);
  p = zbt_pipeline ("%s ! zbfilter name=f channel-name=%s timeout=10000 ! "
      "appsink name=sink sync=false", SRC, zbt_server_channel ());
  f = gst_bin_get_by_name (GST_BIN (p), "f");
  for (round = 0; round < 2; round++) {
    out = run (p);
    fail_unless_equals_int (out->len, N);
    g_ptr_array_unref (out);
    fail_unless_equals_int (zbt_stat_u64 (f, "requests"), N);
    fail_unless (zbt_stat_u64 (f, "requests-in-ring") <= N, "round %d: %"
        G_GUINT64_FORMAT " requests in the ring of %d", round,
        zbt_stat_u64 (f, "requests-in-ring"), N);
    fail_unless (zbt_stat_u64 (f, "requests-in-ring") >= N - 1);
    zbt_set_state (p, GST_STATE_NULL);
  }
  gst_object_unref (f);
  zbt_stop_and_free (p);
  zbt_server_stop ();
}

GST_END_TEST;

/* A probe keeps the last frame mapped until the next one comes (as an
 * application that shows or analyses the last frame might): the slot
 * it maps cannot go back to the ring, so no request can be sent. That is
 * upstream's doing, not the server's: a precise error within the
 * timeout, not "server timed out" nor, with on-server-lost=wait, a
 * reconnect that waits for the mapped slot for good. */
static GstBuffer *mapped_buf;
static GstMapInfo mapped_info;

static GstPadProbeReturn
keep_mapped (GstPad * pad, GstPadProbeInfo * info, gpointer user_data)
{
  if (mapped_buf) {
    gst_buffer_unmap (mapped_buf, &mapped_info);
    gst_buffer_unref (mapped_buf);
  }
  mapped_buf = gst_buffer_ref (GST_PAD_PROBE_INFO_BUFFER (info));
  fail_unless (gst_buffer_map (mapped_buf, &mapped_info, GST_MAP_READ));
  return GST_PAD_PROBE_OK;
}

/* The pipeline with the probe and zbfilter @props: the message that
 * ends it within 10 s (an ERROR or EOS), to unref. */
static GstMessage *
run_kept_mapped (const gchar * props)
{
  GstElement *p, *src;
  GstPad *pad;
  GstBus *bus;
  GstMessage *m;

  p = zbt_pipeline ("videotestsrc name=src num-buffers=10 ! " CAPS
      " ! zbfilter name=f channel-name=%s timeout=1000 %s ! fakesink",
      zbt_server_channel (), props);
  src = gst_bin_get_by_name (GST_BIN (p), "src");
  pad = gst_element_get_static_pad (src, "src");
  gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_BUFFER, keep_mapped, NULL, NULL);
  bus = gst_element_get_bus (p);
  zbt_set_state (p, GST_STATE_PLAYING);
  m = gst_bus_timed_pop_filtered (bus, 10 * GST_SECOND, GST_MESSAGE_ERROR |
      GST_MESSAGE_EOS);
  fail_unless (m != NULL, "neither an error nor EOS in 10 s");
  gst_object_unref (bus);
  zbt_set_state (p, GST_STATE_NULL);
  if (mapped_buf) {
    gst_buffer_unmap (mapped_buf, &mapped_info);
    gst_buffer_unref (mapped_buf);
    mapped_buf = NULL;
  }
  gst_object_unref (pad);
  gst_object_unref (src);
  gst_element_set_state (p, GST_STATE_NULL);
  gst_object_unref (p);
  return m;
}

GST_START_TEST (test_pool_slot_kept_mapped)
{
  GstMessage *m;
  GError *err = NULL;
  gchar *dbg = NULL;

  start_invert (TRUE);
  m = run_kept_mapped ("");
  fail_unless (GST_MESSAGE_TYPE (m) == GST_MESSAGE_ERROR);
  gst_message_parse_error (m, &err, &dbg);
  GST_INFO ("%s (%s)", err->message, dbg);
  fail_unless (g_error_matches (err, GST_RESOURCE_ERROR,
          GST_RESOURCE_ERROR_BUSY), "%s", err->message);
  fail_unless (strstr (err->message, "mapped") != NULL, "%s", err->message);
  g_error_free (err);
  g_free (dbg);
  gst_message_unref (m);
  /* without the pool, by copy, as before it */
  m = run_kept_mapped ("zero-copy=false");
  fail_unless (GST_MESSAGE_TYPE (m) == GST_MESSAGE_EOS);
  gst_message_unref (m);
  zbt_server_stop ();
}

GST_END_TEST;

static Suite *
zbfilterpool_suite (void)
{
  Suite *s = suite_create ("zbfilterpool");
  TCase *tc = tcase_create ("general");

  tcase_set_timeout (tc, 60);
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_pool_in_place);
  tcase_add_test (tc, test_pool_copying_server);
  tcase_add_test (tc, test_pool_zero_copy_off);
  tcase_add_test (tc, test_pool_queue);
  tcase_add_test (tc, test_pool_videorate);
  tcase_add_test (tc, test_pool_decoder);
  tcase_add_test (tc, test_pool_buffer_held_elsewhere);
  tcase_add_test (tc, test_pool_passthrough);
  tcase_add_test (tc, test_pool_server_killed);
  tcase_add_test (tc, test_pool_passthrough_set_later);
  tcase_add_test (tc, test_pool_stats_restart);
  tcase_add_test (tc, test_pool_slot_kept_mapped);
  return s;
}

ZBT_MAIN (zbfilterpool_suite)
