/* zb-embed-writer - an application that embeds a pipeline ending in zbsink
 *
 *   zb-embed-writer [-n FRAMES] [-W WIDTH] [-H HEIGHT] [-t MS] BUFFER-NAME
 *
 * Builds videotestsrc ! capsfilter ! zbsink from element factories (the
 * way an application that already has its own capture pipeline would add
 * zbsink at its end), sets the properties in code, watches the bus for
 * zbsink's element messages (reader connected / lost), stops at EOS or on
 * an error, and prints zbsink's counters. The reader (a zbsrc, or
 * zb-embed-appsink) creates the buffer; zbsink waits up to -t ms for it.
 * Exit status 0 when every frame was sent.
 */

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <gst/gst.h>

static void
usage (void)
{
  fprintf (stderr, "usage: zb-embed-writer [-n FRAMES] [-W WIDTH] "
      "[-H HEIGHT] [-t CONNECT-TIMEOUT-MS] BUFFER-NAME\n");
  exit (2);
}

int
main (int argc, char **argv)
{
  GstElement *pipeline, *src, *filter, *sink;
  GstCaps *caps;
  GstBus *bus;
  GstMessage *msg;
  gboolean done = FALSE, ok = FALSE;
  guint64 sent = 0, drops = 0;
  int frames = 100, width = 640, height = 480, timeout_ms = 10000;
  int opt;

  gst_init (&argc, &argv);
  while ((opt = getopt (argc, argv, "n:W:H:t:")) != -1) {
    switch (opt) {
      case 'n':
        frames = atoi (optarg);
        break;
      case 'W':
        width = atoi (optarg);
        break;
      case 'H':
        height = atoi (optarg);
        break;
      case 't':
        timeout_ms = atoi (optarg);
        break;
      default:
        usage ();
    }
  }
  if (optind != argc - 1 || frames <= 0 || width <= 0 || height <= 0)
    usage ();

  pipeline = gst_pipeline_new ("writer");
  src = gst_element_factory_make ("videotestsrc", NULL);
  filter = gst_element_factory_make ("capsfilter", NULL);
  sink = gst_element_factory_make ("zbsink", NULL);
  if (!src || !filter || !sink) {
    fprintf (stderr, "zb-embed-writer: missing element (is the zerobuffer "
        "plugin on GST_PLUGIN_PATH_1_0?)\n");
    return 1;
  }
  g_object_set (src, "num-buffers", frames, NULL);
  gst_util_set_object_arg (G_OBJECT (src), "pattern", "ball");
  caps = gst_caps_new_simple ("video/x-raw",
      "format", G_TYPE_STRING, "I420",
      "width", G_TYPE_INT, width, "height", G_TYPE_INT, height,
      "framerate", GST_TYPE_FRACTION, 30, 1, NULL);
  g_object_set (filter, "caps", caps, NULL);
  gst_caps_unref (caps);
  /* Name of the reader's buffer; wait for it at most timeout_ms; no clock
   * sync: send as fast as the reader takes frames. */
  g_object_set (sink, "buffer-name", argv[optind],
      "connect-timeout", timeout_ms, "sync", FALSE, NULL);

  gst_bin_add_many (GST_BIN (pipeline), src, filter, sink, NULL);
  if (!gst_element_link_many (src, filter, sink, NULL)) {
    fprintf (stderr, "zb-embed-writer: cannot link\n");
    gst_object_unref (pipeline);
    return 1;
  }

  if (gst_element_set_state (pipeline, GST_STATE_PLAYING) ==
      GST_STATE_CHANGE_FAILURE) {
    fprintf (stderr, "zb-embed-writer: cannot start\n");
    gst_object_unref (pipeline);
    return 1;
  }

  bus = gst_element_get_bus (pipeline);
  while (!done) {
    msg = gst_bus_timed_pop_filtered (bus, GST_CLOCK_TIME_NONE,
        GST_MESSAGE_EOS | GST_MESSAGE_ERROR | GST_MESSAGE_ELEMENT);
    switch (GST_MESSAGE_TYPE (msg)) {
      case GST_MESSAGE_EOS:
        /* zbsink posts EOS once the reader has read everything. */
        ok = TRUE;
        done = TRUE;
        break;
      case GST_MESSAGE_ERROR:{
        GError *err = NULL;
        gchar *debug = NULL;

        gst_message_parse_error (msg, &err, &debug);
        fprintf (stderr, "zb-embed-writer: error: %s (%s)\n", err->message,
            debug ? debug : "");
        g_clear_error (&err);
        g_free (debug);
        done = TRUE;
        break;
      }
      case GST_MESSAGE_ELEMENT:{
        const GstStructure *s = gst_message_get_structure (msg);
        guint64 pid = 0;

        if (s && g_str_has_prefix (gst_structure_get_name (s), "zbsink-")) {
          gst_structure_get_uint64 (s, "pid", &pid);
          printf ("%s: reader pid %" G_GUINT64_FORMAT "\n",
              gst_structure_get_name (s), pid);
          fflush (stdout);
        }
        break;
      }
      default:
        break;
    }
    gst_message_unref (msg);
  }
  gst_object_unref (bus);

  {
    GstStructure *stats;

    g_object_get (sink, "stats", &stats, NULL);
    gst_structure_get_uint64 (stats, "frames-sent", &sent);
    gst_structure_get_uint64 (stats, "drops", &drops);
    gst_structure_free (stats);
  }
  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_object_unref (pipeline);

  printf ("sent %" G_GUINT64_FORMAT " frames (%" G_GUINT64_FORMAT
      " dropped)\n", sent, drops);
  return ok && sent == (guint64) frames ? 0 : 1;
}
