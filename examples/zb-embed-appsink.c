/* zb-embed-appsink - an application whose pipeline starts with zbsrc and
 * hands the frames to its own code through an appsink
 *
 *   zb-embed-appsink [-n EXPECTED-FRAMES] [-t MS] BUFFER-NAME
 *
 * zbsrc creates buffer BUFFER-NAME and gets the caps from the writer's
 * metadata (the application names none); on-writer-lost=eos ends the run
 * when the writer leaves without an EOS of its own. Each sample is pulled
 * from the appsink, its memory mapped (a read-only view of the shared ring,
 * no copy) and a checksum taken; the sample is unreffed at once, which gives
 * the ring space back to the writer. Prints the caps, the count and the
 * checksum. Exit status 0 when the stream ended with EOS (and, with -n,
 * exactly EXPECTED-FRAMES frames arrived, in PTS order).
 */

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <gst/gst.h>
#include <gst/app/gstappsink.h>

static void
usage (void)
{
  fprintf (stderr, "usage: zb-embed-appsink [-n EXPECTED-FRAMES] "
      "[-t IDLE-TIMEOUT-MS] BUFFER-NAME\n");
  exit (2);
}

static gboolean
bus_error (GstElement * pipeline)
{
  GstBus *bus = gst_element_get_bus (pipeline);
  GstMessage *msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);
  GError *err = NULL;
  gchar *debug = NULL;

  gst_object_unref (bus);
  if (!msg)
    return FALSE;
  gst_message_parse_error (msg, &err, &debug);
  fprintf (stderr, "zb-embed-appsink: error: %s (%s)\n", err->message,
      debug ? debug : "");
  g_clear_error (&err);
  g_free (debug);
  gst_message_unref (msg);
  return TRUE;
}

int
main (int argc, char **argv)
{
  GstElement *pipeline, *src, *sink;
  GstSample *sample;
  GstClockTime last_pts = GST_CLOCK_TIME_NONE;
  guint64 frames = 0, sum = 0, copies = 0;
  gboolean in_order = TRUE, eos;
  int expected = -1, timeout_ms = 10000;
  int opt, k;

  gst_init (&argc, &argv);
  while ((opt = getopt (argc, argv, "n:t:")) != -1) {
    switch (opt) {
      case 'n':
        expected = atoi (optarg);
        break;
      case 't':
        timeout_ms = atoi (optarg);
        break;
      default:
        usage ();
    }
  }
  if (optind != argc - 1 || timeout_ms <= 0)
    usage ();

  pipeline = gst_pipeline_new ("reader");
  src = gst_element_factory_make ("zbsrc", NULL);
  sink = gst_element_factory_make ("appsink", NULL);
  if (!src || !sink) {
    fprintf (stderr, "zb-embed-appsink: missing element (is the zerobuffer "
        "plugin on GST_PLUGIN_PATH_1_0?)\n");
    return 1;
  }
  /* zbsrc is the reader: it creates the buffer. */
  g_object_set (src, "buffer-name", argv[optind], NULL);
  /* Enums by nick, as gst-launch-1.0 sets them. */
  gst_util_set_object_arg (G_OBJECT (src), "on-writer-lost", "eos");
  /* Hand samples over as they come: no clock, a short queue. */
  g_object_set (sink, "sync", FALSE, "max-buffers", 4, NULL);
  gst_bin_add_many (GST_BIN (pipeline), src, sink, NULL);
  if (!gst_element_link (src, sink)
      || gst_element_set_state (pipeline, GST_STATE_PLAYING) ==
      GST_STATE_CHANGE_FAILURE) {
    bus_error (pipeline);
    fprintf (stderr, "zb-embed-appsink: cannot start\n");
    gst_element_set_state (pipeline, GST_STATE_NULL);
    gst_object_unref (pipeline);
    return 1;
  }
  /* A live zbsrc drops frames the writer presented before it was PLAYING
   * (they have no running time here): say "ready" once it is (the
   * pipeline itself completes PLAYING only with the first buffer). */
  for (k = 0; k < 5000; k++) {
    GstState cur;

    gst_element_get_state (src, &cur, NULL, 0);
    if (cur == GST_STATE_PLAYING)
      break;
    g_usleep (1000);
  }
  printf ("ready: buffer %s\n", argv[optind]);
  fflush (stdout);

  while ((sample = gst_app_sink_try_pull_sample (GST_APP_SINK (sink),
              (GstClockTime) timeout_ms * GST_MSECOND))) {
    GstBuffer *buf = gst_sample_get_buffer (sample);
    GstMapInfo map;
    gsize i;

    if (frames == 0) {
      gchar *caps = gst_caps_to_string (gst_sample_get_caps (sample));

      printf ("caps: %s\n", caps);
      fflush (stdout);
      g_free (caps);
    }
    if (GST_BUFFER_PTS_IS_VALID (buf)) {
      if (GST_CLOCK_TIME_IS_VALID (last_pts) && GST_BUFFER_PTS (buf) < last_pts)
        in_order = FALSE;
      last_pts = GST_BUFFER_PTS (buf);
    }
    if (gst_buffer_map (buf, &map, GST_MAP_READ)) {
      for (i = 0; i < map.size; i += 64)
        sum += map.data[i];
      gst_buffer_unmap (buf, &map);
    }
    frames++;
    gst_sample_unref (sample);
  }
  eos = gst_app_sink_is_eos (GST_APP_SINK (sink));
  if (!eos)
    bus_error (pipeline);
  {
    /* zbsrc's counters are fields of its stats structure */
    GstStructure *stats = NULL;

    g_object_get (src, "stats", &stats, NULL);
    if (stats) {
      gst_structure_get_uint64 (stats, "copies", &copies);
      gst_structure_free (stats);
    }
  }
  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_object_unref (pipeline);

  printf ("received %" G_GUINT64_FORMAT " frames, %s, checksum %"
      G_GUINT64_FORMAT ", %" G_GUINT64_FORMAT " copied, %s\n", frames,
      in_order ? "in order" : "OUT OF ORDER", sum, copies,
      eos ? "EOS" : "no EOS");
  if (!eos || !in_order)
    return 1;
  if (expected >= 0 && frames != (guint64) expected)
    return 1;
  return 0;
}
