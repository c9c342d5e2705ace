/* The reading pipeline of the element fault-injection tests
 * (tests/fault/fault.py): "zbsrc buffer-name=NAME on-writer-lost=wait
 * timeout=300 ! appsink", verifying every buffer that fakesrc
 * filltype=pattern-span produced on the writer's side: byte i of a buffer
 * at byte offset OFFSET is (OFFSET + i) & 0xff, and each buffer starts
 * where the previous one of the same writer ended (a new writer starts at
 * offset 0).
 *
 *   zbfault-gst-reader NAME
 *
 * Prints the event lines of zbfault-peer (up, first, resume, tick N, bad,
 * summary) and stops on SIGTERM or SIGINT. An ERROR message on the bus is
 * a "bad" line. Exit status: 0 when nothing was bad, 4 otherwise, 1 on
 * setup errors. */

#include <gst/gst.h>
#include <gst/app/gstappsink.h>

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static int stopping;
static double last_tick;
static guint64 n_frames, n_bad, n_peers;

static double
now (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void
event (const char *what, const char *detail)
{
  printf ("%s %.6f%s%s\n", what, now (), detail ? " " : "",
      detail ? detail : "");
  fflush (stdout);
}

static void
bad (const char *detail)
{
  n_bad++;
  event ("bad", detail);
}

static void *
signal_thread (void *data)
{
  sigset_t *set = data;
  int sig;

  sigwait (set, &sig);
  __atomic_store_n (&stopping, 1, __ATOMIC_RELEASE);
  return NULL;
}

static void
check_bus (GstBus * bus)
{
  GstMessage *msg;

  while ((msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR))) {
    GError *err = NULL;
    gchar *dbg = NULL, *text;

    gst_message_parse_error (msg, &err, &dbg);
    text = g_strdup_printf ("ERROR from %s: %s (%s)",
        GST_OBJECT_NAME (GST_MESSAGE_SRC (msg)), err->message, dbg ? dbg : "");
    bad (text);
    g_free (text);
    g_clear_error (&err);
    g_free (dbg);
    gst_message_unref (msg);
  }
}

int
main (int argc, char **argv)
{
  GstElement *pipeline, *sink;
  GstBus *bus;
  GError *error = NULL;
  gchar *desc;
  sigset_t set;
  pthread_t th;
  guint64 next_offset = 0;
  gboolean have_writer = FALSE;
  double last_frame = 0;

  sigemptyset (&set);
  sigaddset (&set, SIGTERM);
  sigaddset (&set, SIGINT);
  pthread_sigmask (SIG_BLOCK, &set, NULL);
  pthread_create (&th, NULL, signal_thread, &set);

  gst_init (&argc, &argv);
  if (argc != 2) {
    fprintf (stderr, "usage: %s NAME\n", argv[0]);
    return 1;
  }
  desc = g_strdup_printf ("zbsrc buffer-name=%s on-writer-lost=wait "
      "timeout=300 payload-size=1048576 ! appsink name=out sync=false",
      argv[1]);
  pipeline = gst_parse_launch (desc, &error);
  g_free (desc);
  if (pipeline == NULL) {
    fprintf (stderr, "%s\n", error->message);
    return 1;
  }
  sink = gst_bin_get_by_name (GST_BIN (pipeline), "out");
  bus = gst_element_get_bus (pipeline);
  /* zbsrc creates the buffer on the way to PAUSED (a live source: no
   * preroll); PLAYING completes only with the first buffer */
  if (gst_element_set_state (pipeline,
          GST_STATE_PAUSED) == GST_STATE_CHANGE_FAILURE
      || gst_element_get_state (pipeline, NULL, NULL,
          10 * GST_SECOND) == GST_STATE_CHANGE_FAILURE
      || gst_element_set_state (pipeline,
          GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
    check_bus (bus);
    fprintf (stderr, "could not start the pipeline\n");
    gst_element_set_state (pipeline, GST_STATE_NULL);
    return 1;
  }
  event ("up", NULL);

  while (!__atomic_load_n (&stopping, __ATOMIC_ACQUIRE)) {
    GstSample *sample;
    GstBuffer *buf;
    GstMapInfo map;
    guint64 offset;
    gsize i;
    double t = now ();
    char msg[160];

    if (t - last_tick >= 0.1) {
      last_tick = t;
      snprintf (msg, sizeof (msg), "%" G_GUINT64_FORMAT, n_frames);
      event ("tick", msg);
    }
    check_bus (bus);
    sample = gst_app_sink_try_pull_sample (GST_APP_SINK (sink),
        100 * GST_MSECOND);
    if (sample == NULL) {
      /* after an EOS the pull returns at once: do not spin */
      if (gst_app_sink_is_eos (GST_APP_SINK (sink)))
        g_usleep (20000);
      continue;
    }
    buf = gst_sample_get_buffer (sample);
    offset = GST_BUFFER_OFFSET (buf);
    n_frames++;
    if (!gst_buffer_map (buf, &map, GST_MAP_READ)) {
      bad ("unmappable buffer");
      gst_sample_unref (sample);
      continue;
    }
    for (i = 0; i < map.size; i++)
      if (map.data[i] != (guint8) ((offset + i) & 0xff)) {
        snprintf (msg, sizeof (msg), "content at byte %" G_GSIZE_FORMAT
            " of %" G_GSIZE_FORMAT " (offset %" G_GUINT64_FORMAT ")", i,
            map.size, offset);
        bad (msg);
        break;
      }
    if (map.size == 0)
      bad ("empty buffer");
    if (!have_writer || offset == 0) {
      /* the first buffer of this reader, or of a new writer */
      have_writer = TRUE;
      n_peers++;
      event ("first", NULL);
    } else if (offset != next_offset) {
      snprintf (msg, sizeof (msg), "offset %" G_GUINT64_FORMAT ", expected %"
          G_GUINT64_FORMAT, offset, next_offset);
      bad (msg);
    } else if (now () - last_frame >= 0.25) {
      event ("resume", NULL);
    }
    next_offset = offset + map.size;
    last_frame = now ();
    gst_buffer_unmap (buf, &map);
    gst_sample_unref (sample);
  }

  gst_element_set_state (pipeline, GST_STATE_NULL);
  check_bus (bus);
  gst_object_unref (bus);
  gst_object_unref (sink);
  gst_object_unref (pipeline);
  printf ("summary frames=%" G_GUINT64_FORMAT " bad=%" G_GUINT64_FORMAT
      " peers=%" G_GUINT64_FORMAT "\n", n_frames, n_bad, n_peers);
  fflush (stdout);
  return n_bad == 0 ? 0 : 4;
}
