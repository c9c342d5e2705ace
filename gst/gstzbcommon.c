/* zerobuffer GStreamer plugin - what zbsink, zbsrc and zbfilter share
 *
 * SPDX-License-Identifier: MIT
 */

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstzbcommon.h"
#include "gstzbmetadata.h"

#include <zerobuffer/zerobuffer.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

/* ------------------------------------------------------------------ */
/* Enums */

static GType
register_enum (gsize * type, const gchar * name, const GEnumValue * values)
{
  if (g_once_init_enter (type)) {
    GType t = g_enum_register_static (name, values);
    g_once_init_leave (type, t);
  }
  return *type;
}

GType
gst_zb_frame_format_get_type (void)
{
  static gsize type = 0;
  static const GEnumValue values[] = {
    {GST_ZB_FRAME_FORMAT_GST,
        "Header with timestamps and flags; caps and EOS in-band", "gst"},
    {GST_ZB_FRAME_FORMAT_RAW, "Bare buffer bytes, video rows packed tightly",
        "raw"},
    {0, NULL, NULL}
  };

  return register_enum (&type, "GstZbFrameFormat", values);
}

GType
gst_zb_reader_lost_get_type (void)
{
  static gsize type = 0;
  static const GEnumValue values[] = {
    {GST_ZB_READER_LOST_WAIT, "Block until a new reader appears, reconnect",
        "wait"},
    {GST_ZB_READER_LOST_DROP,
        "Drop buffers until a new reader appears, reconnect", "drop"},
    {GST_ZB_READER_LOST_ERROR, "Post an error", "error"},
    {GST_ZB_READER_LOST_AUTO,
          "Drop when upstream is live (a capture never waits), else wait",
        "auto"},
    {0, NULL, NULL}
  };

  return register_enum (&type, "GstZbReaderLost", values);
}

GType
gst_zb_writer_lost_get_type (void)
{
  static gsize type = 0;
  static const GEnumValue values[] = {
    {GST_ZB_WRITER_LOST_WAIT, "Keep running and wait for a new writer",
        "wait"},
    {GST_ZB_WRITER_LOST_EOS, "Push EOS", "eos"},
    {GST_ZB_WRITER_LOST_ERROR, "Post an error", "error"},
    {0, NULL, NULL}
  };

  return register_enum (&type, "GstZbWriterLost", values);
}

GType
gst_zb_writer_error_get_type (void)
{
  static gsize type = 0;
  static const GEnumValue values[] = {
    {GST_ZB_WRITER_ERROR_ERROR, "Post the writer's error as an error",
        "error"},
    {GST_ZB_WRITER_ERROR_WARNING,
        "Post it as a warning; then on-writer-lost applies", "warning"},
    {0, NULL, NULL}
  };

  return register_enum (&type, "GstZbWriterError", values);
}

GType
gst_zb_timestamp_mode_get_type (void)
{
  static gsize type = 0;
  static const GEnumValue values[] = {
    {GST_ZB_TIMESTAMP_CLOCK,
          "Reproduce the writer's running time through CLOCK_MONOTONIC",
        "clock"},
    {GST_ZB_TIMESTAMP_PASSTHROUGH, "The writer's PTS and DTS unchanged",
        "passthrough"},
    {GST_ZB_TIMESTAMP_ARRIVAL, "Running time at arrival", "arrival"},
    {0, NULL, NULL}
  };

  return register_enum (&type, "GstZbTimestampMode", values);
}

GType
gst_zb_server_lost_get_type (void)
{
  static gsize type = 0;
  static const GEnumValue values[] = {
    {GST_ZB_SERVER_LOST_WAIT,
          "Drop the requests in flight, wait for a new server, reconnect",
        "wait"},
    {GST_ZB_SERVER_LOST_ERROR, "Post an error", "error"},
    {GST_ZB_SERVER_LOST_PASSTHROUGH,
          "Push buffers unchanged until a new server appears, reconnect",
        "passthrough"},
    {0, NULL, NULL}
  };

  return register_enum (&type, "GstZbServerLost", values);
}

/* ------------------------------------------------------------------ */
/* Metadata */

gchar *
gst_zb_make_metadata (const gchar * type, GstCaps * caps,
    const gchar * element_name, GstZbFrameFormat format, gsize * len)
{
  gchar *caps_str = caps ? gst_caps_to_string (caps) : NULL;
  gchar *version = gst_version_string ();
  gchar *out;

  out = gst_zb_metadata_build (type, version, caps_str, element_name,
      format == GST_ZB_FRAME_FORMAT_GST ? "gst" : "raw", ZB_GST_VERSION, len);
  g_free (caps_str);
  g_free (version);
  return out;
}

GstCaps *
gst_zb_parse_metadata (GstObject * self, const void *meta, gsize size,
    gboolean * gst_format)
{
  GstZbMetadataFields fields;
  GstZbMetadataResult result;
  const gchar *why = NULL;
  GstCaps *caps = NULL;

  *gst_format = FALSE;
  if (meta == NULL || size == 0)
    return NULL;
  result = gst_zb_metadata_read (meta, size, &fields, &why);
  switch (result) {
    case GST_ZB_METADATA_JSON:
      *gst_format = g_strcmp0 (fields.frame_format, "gst") == 0;
      if (fields.caps && *fields.caps)
        caps = gst_caps_from_string (fields.caps);
      break;
    case GST_ZB_METADATA_NOT_JSON:{
      /* not our JSON: a foreign writer may store a bare caps string */
      gchar *text = g_strndup (meta, size);

      caps = gst_caps_from_string (text);
      g_free (text);
      break;
    }
    case GST_ZB_METADATA_REFUSED:
      GST_WARNING_OBJECT (self, "peer metadata (%" G_GSIZE_FORMAT " bytes) "
          "ignored: %s", size, why);
      break;
  }
  if (caps && !gst_caps_is_fixed (caps)) {
    GST_WARNING_OBJECT (self, "peer caps are not fixed: %" GST_PTR_FORMAT,
        caps);
    gst_caps_replace (&caps, NULL);
  }
  gst_zb_metadata_fields_clear (&fields);
  return caps;
}

/* ------------------------------------------------------------------ */
/* Buffers and messages */

GstClockTime
gst_zb_caps_frame_duration (GstCaps * caps)
{
  GstStructure *s;
  gint n, d;

  if (caps == NULL || gst_caps_get_size (caps) == 0)
    return GST_CLOCK_TIME_NONE;
  s = gst_caps_get_structure (caps, 0);
  if (!gst_structure_get_fraction (s, "framerate", &n, &d) || n <= 0 || d <= 0)
    return GST_CLOCK_TIME_NONE;
  return gst_util_uint64_scale_int (GST_SECOND, d, n);
}

void
gst_zb_record_from_buffer (zb_gst_record * rec, GstBuffer * buf)
{
  zb_gst_record_init (rec, ZB_GST_RECORD_BUFFER);
  rec->buffer_flags = GST_BUFFER_FLAGS (buf) & ~GST_BUFFER_FLAG_TAG_MEMORY;
  rec->pts = GST_BUFFER_PTS (buf);
  rec->dts = GST_BUFFER_DTS (buf);
  rec->duration = GST_BUFFER_DURATION (buf);
  rec->offset = GST_BUFFER_OFFSET (buf);
  rec->offset_end = GST_BUFFER_OFFSET_END (buf);
}

void
gst_zb_post_peer_message (GstElement * element, const gchar * name,
    const gchar * key, const gchar * value, guint64 pid,
    const gchar * reason, const gchar * firstfield, ...)
{
  GstStructure *s;
  va_list args;

  s = gst_structure_new (name, key, G_TYPE_STRING, value,
      "pid", G_TYPE_UINT64, pid, NULL);
  if (reason)
    gst_structure_set (s, "reason", G_TYPE_STRING, reason, NULL);
  if (firstfield) {
    va_start (args, firstfield);
    gst_structure_set_valist (s, firstfield, args);
    va_end (args);
  }
  gst_element_post_message (element,
      gst_message_new_element (GST_OBJECT (element), s));
}

/* ------------------------------------------------------------------ */
/* Waiting for a buffer to appear */

/* Without inotify: how often to look */
#define NO_WATCH_INTERVAL (100 * GST_MSECOND)
/* A reader's last step (its pid in the OIEB) makes no event: for a while
 * after the buffer's objects appeared, look again this often */
#define SETTLE_TIME (200 * G_TIME_SPAN_MILLISECOND)
#define SETTLE_INTERVAL (5 * GST_MSECOND)

struct _GstZbShmWatch
{
  GstPoll *poll;
  GstPollFD pfd;                /* the inotify instance; fd -1 if none */
  gchar *name;
  gint64 last_change;           /* g_get_monotonic_time(), last TRUE of
                                 * gst_zb_shm_watch_changed() */
  gint64 last_hit;              /* and of the last event for our buffer */
};

GstZbShmWatch *
gst_zb_shm_watch_new (const gchar * name)
{
  GstZbShmWatch *w = g_new0 (GstZbShmWatch, 1);
  gint fd;

  w->poll = gst_poll_new (TRUE);
  w->name = g_strdup (name);
  gst_poll_fd_init (&w->pfd);
  /* shm_open() creates NAME, sem_open() links sem.sem-w-NAME and
   * sem.sem-r-NAME into place: each is an IN_CREATE */
  fd = inotify_init1 (IN_NONBLOCK | IN_CLOEXEC);
  if (fd >= 0 && inotify_add_watch (fd, "/dev/shm",
          IN_CREATE | IN_MOVED_TO) < 0) {
    close (fd);
    fd = -1;
  }
  if (fd < 0) {
    GST_WARNING ("no inotify watch on /dev/shm (%s): looking for buffer "
        "\"%s\" every 100 ms", g_strerror (errno), name);
    return w;
  }
  w->pfd.fd = fd;
  gst_poll_add_fd (w->poll, &w->pfd);
  gst_poll_fd_ctl_read (w->poll, &w->pfd, TRUE);
  return w;
}

static void
close_fd (gpointer data, gpointer user_data)
{
  close (GPOINTER_TO_INT (data) - 1);
}

/* Closing an inotify instance waits for the kernel to retire its watch,
 * one RCU grace period: up to 20 ms on the 2-core test machine. Done on
 * a thread of our own, so that a state change is not held up by it. */
static void
close_in_background (gint fd)
{
  static GThreadPool *closer;

  if (g_once_init_enter (&closer))
    g_once_init_leave (&closer, g_thread_pool_new (close_fd, NULL, 1, FALSE,
            NULL));
  g_thread_pool_push (closer, GINT_TO_POINTER (fd + 1), NULL);
}

void
gst_zb_shm_watch_free (GstZbShmWatch * watch)
{
  if (watch == NULL)
    return;
  if (watch->pfd.fd >= 0)
    close_in_background (watch->pfd.fd);
  gst_poll_free (watch->poll);
  g_free (watch->name);
  g_free (watch);
}

void
gst_zb_shm_watch_set_flushing (GstZbShmWatch * watch, gboolean flushing)
{
  gst_poll_set_flushing (watch->poll, flushing);
}

/* Read the pending events: TRUE if one may concern our buffer. */
static gboolean
shm_watch_drain (GstZbShmWatch * w)
{
  union
  {
    struct inotify_event ev;
    gchar bytes[4096];
  } buf;
  gboolean hit = FALSE;
  gssize n, off;

  while ((n = read (w->pfd.fd, &buf, sizeof (buf))) > 0) {
    for (off = 0; off < n;) {
      const struct inotify_event *ev =
          (const struct inotify_event *) (buf.bytes + off);

      if ((ev->mask & IN_Q_OVERFLOW) || (ev->len > 0 &&
              strstr (ev->name, w->name) != NULL))
        hit = TRUE;
      off += sizeof (struct inotify_event) + ev->len;
    }
  }
  if (hit)
    w->last_hit = g_get_monotonic_time ();
  return hit;
}

gint
gst_zb_shm_watch_wait (GstZbShmWatch * watch, GstClockTime timeout)
{
  gboolean settling;
  gint64 end;
  gint ret;

  if (watch->pfd.fd < 0)
    timeout = MIN (timeout, NO_WATCH_INTERVAL);
  settling = g_get_monotonic_time () - watch->last_hit < SETTLE_TIME;
  if (settling)
    timeout = MIN (timeout, SETTLE_INTERVAL);
  end = g_get_monotonic_time () + timeout / GST_USECOND;
  for (;;) {
    gint64 left;

    if (watch->pfd.fd >= 0 && shm_watch_drain (watch))
      return 1;
    left = end - g_get_monotonic_time ();
    if (left <= 0)
      return watch->pfd.fd < 0 || settling ? 1 : 0;
    ret = gst_poll_wait (watch->poll, left * GST_USECOND);
    if (ret < 0 && errno == EBUSY)
      return -1;
  }
}

gboolean
gst_zb_shm_watch_changed (GstZbShmWatch * watch, GstClockTime recheck)
{
  gint64 now = g_get_monotonic_time ();

  if ((watch->pfd.fd >= 0 && shm_watch_drain (watch)) ||
      now - watch->last_hit < SETTLE_TIME ||
      now - watch->last_change >= (gint64) (recheck / GST_USECOND)) {
    watch->last_change = now;
    return TRUE;
  }
  return FALSE;
}

/* ------------------------------------------------------------------ */
/* Fan-out reader ids */

const gchar *
gst_zb_reader_id_problem (const gchar * id)
{
  const gchar *c;

  if (id == NULL || *id == '\0')
    return "it is empty";
  if (strlen (id) > ZB_NAME_MAX - 2)
    return "it is too long";
  for (c = id; *c; c++) {
    if (*c == '/')
      return "it contains '/'";
    if (*c == '@')
      return "it contains '@' (NAME@ID splits at the first '@')";
    if ((guchar) * c < 0x20 || *c == 0x7f || *c == ' ')
      return "it contains a space or a control character";
  }
  return NULL;
}
