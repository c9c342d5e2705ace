/* zbt-gst-server: a GStreamer pipeline in a process of its own, as
 * gst-launch-1.0 runs it, that prints the "stats" of its element named
 * "sink" when it stops, so that a test can read the counters of a server
 * process (test_zbinplace.c: zbsink's in-place-answers).
 *
 *   zbt-gst-server 'zbsrc channel-name=X ! identity ! zbsink name=sink channel-name=X'
 *
 * Runs until SIGINT or SIGTERM (exit 0), an ERROR (exit 1) or EOS (exit
 * 0); then sets the pipeline to NULL and prints "stats: " and the
 * structure on one line. Dies with its parent (PR_SET_PDEATHSIG). */

#include <gst/gst.h>
#include <glib-unix.h>
#include <signal.h>
#include <stdio.h>
#include <sys/prctl.h>

static gboolean
on_signal (gpointer loop)
{
  g_main_loop_quit (loop);
  return G_SOURCE_REMOVE;
}

static gboolean
on_message (GstBus * bus, GstMessage * msg, gpointer loop)
{
  gint *status = g_object_get_data (G_OBJECT (bus), "status");
  GError *err = NULL;
  gchar *debug = NULL;

  switch (GST_MESSAGE_TYPE (msg)) {
    case GST_MESSAGE_ERROR:
      gst_message_parse_error (msg, &err, &debug);
      printf ("error: %s (%s)\n", err->message, debug ? debug : "");
      g_clear_error (&err);
      g_free (debug);
      *status = 1;
      g_main_loop_quit (loop);
      break;
    case GST_MESSAGE_EOS:
      g_main_loop_quit (loop);
      break;
    default:
      break;
  }
  return TRUE;
}

int
main (int argc, char **argv)
{
  GstElement *pipeline, *sink;
  GMainLoop *loop;
  GError *err = NULL;
  GstBus *bus;
  GstStructure *stats = NULL;
  gint status = 0;

  prctl (PR_SET_PDEATHSIG, SIGTERM);
  setvbuf (stdout, NULL, _IOLBF, 0);
  gst_init (&argc, &argv);
  if (argc != 2) {
    fprintf (stderr, "usage: %s PIPELINE\n", argv[0]);
    return 2;
  }
  pipeline = gst_parse_launch (argv[1], &err);
  if (pipeline == NULL) {
    printf ("error: %s\n", err->message);
    g_clear_error (&err);
    return 2;
  }
  loop = g_main_loop_new (NULL, FALSE);
  bus = gst_element_get_bus (pipeline);
  g_object_set_data (G_OBJECT (bus), "status", &status);
  gst_bus_add_watch (bus, on_message, loop);
  g_unix_signal_add (SIGINT, on_signal, loop);
  g_unix_signal_add (SIGTERM, on_signal, loop);
  if (gst_element_set_state (pipeline, GST_STATE_PLAYING) ==
      GST_STATE_CHANGE_FAILURE)
    status = 1;
  else
    g_main_loop_run (loop);
  gst_element_set_state (pipeline, GST_STATE_NULL);
  sink = gst_bin_get_by_name (GST_BIN (pipeline), "sink");
  if (sink) {
    gchar *s;

    g_object_get (sink, "stats", &stats, NULL);
    s = stats ? gst_structure_to_string (stats) : g_strdup ("none");
    printf ("stats: %s\n", s);
    g_free (s);
    if (stats)
      gst_structure_free (stats);
    gst_object_unref (sink);
  }
  gst_bus_remove_watch (bus);
  gst_object_unref (bus);
  gst_object_unref (pipeline);
  g_main_loop_unref (loop);
  return status;
}
