/* zerobuffer GStreamer plugin - zbsink: connecting and writing frames
 *
 * SPDX-License-Identifier: MIT
 */

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstzbsinkpriv.h"
#include "gstzbchannel.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define GST_CAT_DEFAULT gst_zb_sink_debug

/* One blocking write waits at most this long; in between the element
 * checks its own timeouts and the reader's liveness. unlock wakes a
 * blocked call at once. */
#define WRITE_SLICE_MS 100
#define LEAKY_WRITE_TIMEOUT_MS 1
/* The wait for the reader's buffer is woken by its creation (an inotify
 * watch) and by unlock; it looks again after this long in any case (a
 * duplex client that left is noticed sooner). */
#define CONNECT_RECHECK (1 * GST_SECOND)
#define CHANNEL_RECHECK (100 * GST_MSECOND)

void
gst_zb_sink_disconnect (GstZbSink * self)
{
  zb_writer *w;

  g_mutex_lock (&self->writer_lock);
  GST_OBJECT_LOCK (self);
  w = self->writer;
  self->writer = NULL;
  self->connected = FALSE;
  self->reader_pid = 0;
  GST_OBJECT_UNLOCK (self);

  /* the pools stop reading the writer before it goes */
  gst_zb_pool_conn_disconnected (self->pool_conn);
  zb_writer_disconnect (w);
  gst_caps_replace (&self->sent_caps, NULL);
  g_mutex_unlock (&self->writer_lock);
}


static gboolean
is_unlocked (GstZbSink * self)
{
  gboolean ret;

  GST_OBJECT_LOCK (self);
  ret = self->unlocked;
  GST_OBJECT_UNLOCK (self);
  return ret;
}

static void
post_message (GstZbSink * self, const gchar * name, guint64 pid,
    const gchar * reason)
{
  gst_zb_post_peer_message (GST_ELEMENT (self), name, "buffer-name",
      self->conn_name, pid, reason, NULL);
}

/* ------------------------------------------------------------------ */
/* Metadata */

/* The JSON object of section 7 of the protocol notes, exactly these bytes
 * (no NUL). Returns a g_malloc()ed string. */
static gchar *
make_metadata (GstZbSink * self, gsize * len)
{
  gchar *name = gst_object_get_name (GST_OBJECT (self));
  gchar *out = gst_zb_make_metadata ("gstreamer-sink", self->caps, name,
      self->format, len);

  g_free (name);
  return out;
}

/* ------------------------------------------------------------------ */
/* Duplex channel */

/* Is the response being sent for a client that zbsrc no longer serves? */
static gboolean
channel_stale (GstZbSink * self)
{
  if (!self->chan_mode || self->chan_sending == 0 ||
      self->chan_sending == G_MAXUINT64 || self->channel == NULL)
    return FALSE;
  return gst_zb_channel_get_client (self->channel) != self->chan_sending;
}

/* @buffer must answer the next request of the current client (zbsrc
 * stamped the request with a GstZbRequestMeta). Returns GST_FLOW_OK to send
 * it, GST_FLOW_CUSTOM_SUCCESS to drop it (its client is gone) or
 * GST_FLOW_ERROR. */
GstFlowReturn
gst_zb_sink_channel_check (GstZbSink * self, GstBuffer * buffer)
{
  GstZbRequestMeta *meta = gst_buffer_get_zb_request_meta (buffer);
  guint64 seq;
  gchar *channel;

  if (meta == NULL) {
    if (self->chan_sending != G_MAXUINT64)
      GST_ELEMENT_WARNING (self, STREAM, FORMAT,
          ("Buffers reach zbsink without the request stamp of zbsrc: an "
              "element in between drops buffer metadata, so dropped or "
              "merged buffers cannot be detected."), (NULL));
    /* answer in order, unchecked */
    self->chan_sending = G_MAXUINT64;
    return GST_FLOW_OK;
  }

  self->chan_sending = meta->generation;
  /* another channel's request (fan-in, or a restarted zbsrc): answer
   * over that channel's connection */
  if (meta->channel != self->channel)
    gst_zb_sink_client_switch (self, meta->channel);
  if (self->chan_dropped != 0 && meta->generation == self->chan_dropped) {
    GST_LOG_OBJECT (self, "dropping the response to request %"
        G_GUINT64_FORMAT " of dropped client %" G_GUINT64_FORMAT,
        meta->sequence, meta->generation);
    GST_OBJECT_LOCK (self);
    self->drops++;
    GST_OBJECT_UNLOCK (self);
    return GST_FLOW_CUSTOM_SUCCESS;
  }
  if (channel_stale (self)) {
    GST_DEBUG_OBJECT (self, "dropping the response to request %"
        G_GUINT64_FORMAT " of client %" G_GUINT64_FORMAT ": client gone",
        meta->sequence, meta->generation);
    GST_OBJECT_LOCK (self);
    self->drops++;
    GST_OBJECT_UNLOCK (self);
    return GST_FLOW_CUSTOM_SUCCESS;
  }
  if (meta->generation != self->chan_generation) {
    /* a new client, with a new response buffer */
    if (self->writer)
      gst_zb_sink_disconnect (self);
    self->chan_generation = meta->generation;
    self->chan_expected = 1;
    self->chan_dropped = 0;
  }
  seq = meta->sequence;
  if (seq != self->chan_expected)
    goto out_of_order;
  if (self->writer && self->sent_caps && self->caps &&
      !gst_caps_is_equal (self->caps, self->sent_caps))
    goto caps_changed;
  return GST_FLOW_OK;

  /* ERRORS */
out_of_order:
  {
    GST_OBJECT_LOCK (self);
    channel = g_strdup (self->channel_name);
    GST_OBJECT_UNLOCK (self);
    if (seq > self->chan_expected)
      GST_ELEMENT_ERROR (self, STREAM, FAILED,
          ("Duplex channel \"%s\": request %" G_GUINT64_FORMAT " got no "
              "response; an element between zbsrc and zbsink dropped or "
              "merged buffers (one buffer out per buffer in is required).",
              channel, self->chan_expected),
          ("next buffer answers request %" G_GUINT64_FORMAT, seq));
    else
      GST_ELEMENT_ERROR (self, STREAM, FAILED,
          ("Duplex channel \"%s\": request %" G_GUINT64_FORMAT " got a "
              "second response; an element between zbsrc and zbsink "
              "duplicated buffers (one buffer out per buffer in is "
              "required).", channel, seq),
          ("request %" G_GUINT64_FORMAT " was due", self->chan_expected));
    g_free (channel);
    return GST_FLOW_ERROR;
  }
caps_changed:
  {
    GST_OBJECT_LOCK (self);
    channel = g_strdup (self->channel_name);
    GST_OBJECT_UNLOCK (self);
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION,
        ("Duplex channel \"%s\": the response caps changed while the "
            "client's caps did not; a client learns the response caps only "
            "when it connects.", channel), ("%" GST_PTR_FORMAT " -> %"
            GST_PTR_FORMAT, self->sent_caps, self->caps));
    g_free (channel);
    return GST_FLOW_ERROR;
  }
}

/* ------------------------------------------------------------------ */
/* Connection */

typedef enum
{
  CONNECT_OK,
  CONNECT_NONE,                 /* no reader, not allowed to wait */
  CONNECT_INTERRUPTED,
  CONNECT_ERROR
} ConnectResult;

/* Whether the buffer @name (its segment) belongs to our own user. */
gboolean
gst_zb_sink_reader_is_us (const gchar * name)
{
  gchar *path = g_strdup_printf ("/dev/shm/%s", name);
  struct stat st;
  gboolean us;

  us = stat (path, &st) == 0 && st.st_uid == geteuid ();
  g_free (path);
  return us;
}

/* Connect to the reader's buffer unless connected. @block: wait for the
 * buffer to appear (per connect-timeout), else try once. */
static ConnectResult
ensure_connected (GstZbSink * self, gboolean block)
{
  zb_writer_config config;
  zb_writer *w = NULL;
  zb_status status;
  gchar *name, *meta;
  gsize meta_len;
  gint connect_timeout;
  gint allow_uid;
  gint64 start = g_get_monotonic_time ();
  GstClockTime wait;
  guint64 pid = 0;
  gboolean leaky;
  int ret;

  if (self->writer)
    return CONNECT_OK;

  GST_OBJECT_LOCK (self);
  name = g_strdup (self->conn_name);
  connect_timeout = self->connect_timeout;
  leaky = self->leaky;
  allow_uid = self->allow_uid;
  GST_OBJECT_UNLOCK (self);

  memset (&config, 0, sizeof (config));
  config.write_timeout_ms = leaky ? LEAKY_WRITE_TIMEOUT_MS : WRITE_SLICE_MS;
  config.allow_uid = allow_uid >= 0 ? (uid_t) allow_uid : 0;

  for (;;) {
    if (is_unlocked (self)) {
      g_free (name);
      return CONNECT_INTERRUPTED;
    }
    /* gst-launch-1.0 -e was interrupted: its EOS must not wait for a
     * reader that may never come */
    if (block && gst_zb_sink_is_interrupted (self))
      block = FALSE;
    if (channel_stale (self)) {
      /* the client that sent the request is gone: drop its response */
      g_free (name);
      return CONNECT_NONE;
    }
    /* a reader of NAME@ID joined while we waited for one of NAME (its
     * objects wake the watch too) */
    if (block && gst_zb_sink_outputs_count (self->outputs) > 0) {
      g_free (name);
      return CONNECT_NONE;
    }
    /* on-reader-lost=drop: not a connect per buffer, only once the
     * reader's objects appear (or after a while) */
    if (!block && !self->chan_fanin &&
        !gst_zb_shm_watch_changed (self->watch, CONNECT_RECHECK)) {
      g_free (name);
      return CONNECT_NONE;
    }
    ret = zb_writer_connect (name, &config, &w);
    if (ret == 0)
      break;
    if (ret != -ENOENT)
      goto connect_failed;
    if (!block) {
      g_free (name);
      return CONNECT_NONE;
    }
    wait = self->chan_mode ? CHANNEL_RECHECK : CONNECT_RECHECK;
    if (connect_timeout >= 0) {
      gint64 left = (gint64) connect_timeout * 1000 -
          (g_get_monotonic_time () - start);

      if (left <= 0)
        goto connect_timed_out;
      wait = MIN (wait, (GstClockTime) left * GST_USECOND);
    }
    /* no polling: the reader's shm_open() and sem_open() wake us */
    if (gst_zb_shm_watch_wait (self->watch, wait) < 0 &&
        !gst_zb_sink_is_interrupted (self)) {
      g_free (name);
      return CONNECT_INTERRUPTED;
    }
  }

  if (zb_writer_get_status (w, &status) == 0)
    pid = status.reader_pid;

  meta = make_metadata (self, &meta_len);
  ret = zb_writer_set_metadata (w, meta, meta_len);
  g_free (meta);
  if (ret < 0)
    goto metadata_failed;

  gst_zb_pool_conn_connected (self->pool_conn, w, pid);
  /* our pool segments are ours alone (0600): a reader of another user
   * (allow-uid) cannot open them, so its frames are copied */
  self->pool_usable = gst_zb_sink_reader_is_us (name);
  if (!self->pool_usable)
    GST_INFO_OBJECT (self, "the reader of \"%s\" is another user: copying "
        "frames instead of sending pool records", name);
  GST_OBJECT_LOCK (self);
  self->writer = w;
  self->connected = TRUE;
  self->reader_pid = pid;
  /* an unlock() that ran while we connected saw no writer to wake */
  if (self->unlocked)
    zb_writer_wakeup (w);
  GST_OBJECT_UNLOCK (self);

  gst_caps_replace (&self->sent_caps, self->caps);
  GST_INFO_OBJECT (self, "connected to buffer \"%s\", reader pid %"
      G_GUINT64_FORMAT, name, pid);
  post_message (self, "zbsink-reader-connected", pid,
      self->ever_connected ? "replaced" : NULL);
  self->ever_connected = TRUE;
  self->reader_lost = FALSE;
  gst_zb_key_wait_start (&self->key, self->chan_mode ? NULL : self->caps);
  g_free (name);
  return CONNECT_OK;

  /* ERRORS */
connect_failed:
  {
    /* a fan-in client's buffer (its user, its lock, another writer):
     * that client only */
    if (gst_zb_sink_fanin_refuse (self, name, ret)) {
      g_free (name);
      return CONNECT_NONE;
    }
    if (ret == -EBUSY)
      GST_ELEMENT_ERROR (self, RESOURCE, BUSY,
          ("Buffer \"%s\" already has a live writer.", name),
          ("zb_writer_connect: %s", zb_strerror (ret)));
    else if (ret == -EACCES)
      GST_ELEMENT_ERROR (self, RESOURCE, OPEN_WRITE,
          ("Permission denied opening buffer \"%s\" in /dev/shm.", name),
          ("zb_writer_connect: %s", zb_strerror (ret)));
    else if (ret == -EPERM)
      GST_ELEMENT_ERROR (self, RESOURCE, OPEN_WRITE,
          ("Buffer \"%s\" belongs to another user; set allow-uid to that "
              "user's uid to write to it.", name),
          ("zb_writer_connect: %s", zb_strerror (ret)));
    else if (ret == -ENOLCK)
      GST_ELEMENT_ERROR (self, RESOURCE, OPEN_WRITE,
          ("No reader holds the lock file of buffer \"%s\" "
              "(/tmp/zerobuffer/%s.lock): not writing to it.", name, name),
          ("zb_writer_connect: %s", zb_strerror (ret)));
    else
      GST_ELEMENT_ERROR (self, RESOURCE, OPEN_WRITE,
          ("Could not connect to buffer \"%s\".", name),
          ("zb_writer_connect: %s", zb_strerror (ret)));
    g_free (name);
    return CONNECT_ERROR;
  }
connect_timed_out:
  {
    GST_ELEMENT_ERROR (self, RESOURCE, NOT_FOUND,
        ("No reader created buffer \"%s\" within %d ms.", name,
            connect_timeout), ("zb_writer_connect: %s", zb_strerror (ret)));
    g_free (name);
    return CONNECT_ERROR;
  }
metadata_failed:
  {
    zb_writer_disconnect (w);
    if (gst_zb_sink_fanin_refuse (self, name, ret)) {
      g_free (name);
      return CONNECT_NONE;
    }
    if (ret == -EMSGSIZE)
      GST_ELEMENT_ERROR (self, RESOURCE, NO_SPACE_LEFT,
          ("The caps do not fit in the metadata block of buffer \"%s\"; "
              "raise metadata-size on the reader.", name),
          ("%" G_GSIZE_FORMAT " bytes of metadata", meta_len));
    else
      GST_ELEMENT_ERROR (self, RESOURCE, WRITE,
          ("Could not write the metadata of buffer \"%s\".", name),
          ("zb_writer_set_metadata: %s", zb_strerror (ret)));
    g_free (name);
    return CONNECT_ERROR;
  }
}

/* The reader went away (@ret is -EPIPE or -EOWNERDEAD). Returns
 * GST_FLOW_OK when the caller may reconnect, GST_FLOW_ERROR otherwise. */
static GstFlowReturn
handle_reader_lost (GstZbSink * self, int ret)
{
  GstZbReaderLost action;
  gchar *name;
  guint64 pid;

  GST_OBJECT_LOCK (self);
  action = self->on_reader_lost;
  name = g_strdup (self->conn_name);
  pid = self->reader_pid;
  GST_OBJECT_UNLOCK (self);

  GST_INFO_OBJECT (self, "reader %" G_GUINT64_FORMAT " of \"%s\" lost: %s",
      pid, name, zb_strerror (ret));
  gst_zb_sink_disconnect (self);
  self->reader_lost = TRUE;
  post_message (self, "zbsink-reader-lost", pid,
      ret == -EOWNERDEAD ? "died" : "disconnected");

  if (action == GST_ZB_READER_LOST_ERROR) {
    GST_ELEMENT_ERROR (self, RESOURCE, WRITE,
        ("The reader of buffer \"%s\" is gone (%s).", name,
            ret == -EOWNERDEAD ? "died" : "disconnected"),
        ("reader pid %" G_GUINT64_FORMAT ", on-reader-lost=error", pid));
    g_free (name);
    return GST_FLOW_ERROR;
  }
  g_free (name);
  return GST_FLOW_OK;
}


/* ------------------------------------------------------------------ */
/* Writing */

void
gst_zb_sink_drain_segments (GstZbSink * self, gint timeout_ms)
{
  gint64 end = g_get_monotonic_time () + (gint64) timeout_ms * 1000;
  guint i;

  /* the readers of NAME@ID too: they read from the same segments */
  while (self->sent_segments->len > 0) {
    for (i = 0; i < self->sent_segments->len;) {
      if (gst_zb_pool_segment_released (g_ptr_array_index
              (self->sent_segments, i)))
        g_ptr_array_remove_index_fast (self->sent_segments, i);
      else
        i++;
    }
    if (self->sent_segments->len == 0)
      break;
    if (g_get_monotonic_time () >= end || (self->writer &&
            zb_writer_check_reader (self->writer) < 0) ||
        (self->writer == NULL &&
            gst_zb_sink_outputs_count (self->outputs) == 0)) {
      GST_WARNING_OBJECT (self, "leaving with %u pool segments whose last "
          "records a reader has not read", self->sent_segments->len);
      break;
    }
    g_usleep (2000);
  }
}

static GstZbWriteResult write_frame_inner (GstZbSink * self,
    GstZbSinkFrame * f, int *err);

/* Answer @buf in place if it can be (gst_zb_sink_in_place_prepare()):
 * WRITE_OK etc. with *@done TRUE, else nothing done. */
static GstZbWriteResult
write_in_place (GstZbSink * self, GstBuffer * buf, gboolean * done, int *err)
{
  GstZbSinkFrame f;
  GstZbWriteResult wr;
  GstZbInPlace ip;

  *done = gst_zb_sink_in_place_prepare (self, buf, &ip);
  if (!*done)
    return WRITE_OK;
  /* the record is the whole response frame, in either frame format */
  gst_zb_sink_frame_init (self, &f, self->format, FALSE, FALSE, NULL, NULL,
      ip.record, sizeof (ip.record));
  f.answer = TRUE;
  wr = write_frame_inner (self, &f, err);
  gst_zb_sink_frame_clear (&f);
  /* the client reads the bytes in its ring from now on */
  gst_zb_sink_in_place_clear (&ip);
  if (wr == WRITE_OK) {
    GST_OBJECT_LOCK (self);
    self->in_place_answers++;
    GST_OBJECT_UNLOCK (self);
  }
  return wr;
}

/* Write one frame: an optional gst record header, then @buf (or nothing),
 * or a pool record when @buf is a block of our pool. Blocks while the
 * ring is full unless leaky. */
static GstZbWriteResult
write_frame (GstZbSink * self, const zb_gst_record * rec, GstBuffer * buf,
    const void *bytes, gsize nbytes, int *err)
{
  GstZbSinkFrame f;
  GstZbWriteResult wr;

  /* duplex responses are one frame each: no pool records, no padding */
  gst_zb_sink_frame_init (self, &f, self->format, !self->chan_mode &&
      self->pool_usable, !self->chan_mode, rec, buf, bytes, nbytes);
  wr = write_frame_inner (self, &f, err);
  gst_zb_sink_frame_clear (&f);
  return wr;
}

static GstZbWriteResult
write_frame_inner (GstZbSink * self, GstZbSinkFrame * f, int *err)
{
  gint64 start = 0;
  gint write_timeout;
  gboolean leaky;
  gchar *name;
  int ret;

  GST_OBJECT_LOCK (self);
  leaky = self->leaky;
  GST_OBJECT_UNLOCK (self);
  /* leaky may change while PLAYING: it decides how long a full ring
   * blocks */
  zb_writer_set_write_timeout (self->writer,
      leaky ? LEAKY_WRITE_TIMEOUT_MS : WRITE_SLICE_MS);
  start = g_get_monotonic_time ();

  if (f->want == 0)
    return WRITE_OK;            /* an empty raw buffer: nothing to send */

  for (;;) {
    ret = gst_zb_sink_frame_acquire (self, f, self->writer);
    if (ret == 0)
      break;
    switch (ret) {
      case -EAGAIN:
        continue;
      case -E2BIG:
        goto no_fit;
      case -ENOBUFS:
        GST_OBJECT_LOCK (self);
        leaky = self->leaky;
        write_timeout = self->write_timeout;
        GST_OBJECT_UNLOCK (self);
        /* only buffers are dropped; caps and EOS records must arrive */
        if (leaky && (f->buf != NULL || f->answer))
          return WRITE_DROPPED;
        zb_writer_set_write_timeout (self->writer,
            leaky ? LEAKY_WRITE_TIMEOUT_MS : WRITE_SLICE_MS);

        ret = zb_writer_check_reader (self->writer);
        if (ret < 0) {
          *err = ret;
          return WRITE_LOST;
        }
        if (write_timeout > 0 && g_get_monotonic_time () - start >=
            (gint64) write_timeout * 1000)
          goto write_timed_out;
        /* a fan-in client that reads no responses (stopped, stuck) holds
         * up the others' for reader-timeout at most: then it is dropped */
        if (self->chan_fanin) {
          gint reader_timeout;

          GST_OBJECT_LOCK (self);
          reader_timeout = self->reader_timeout;
          GST_OBJECT_UNLOCK (self);
          if (reader_timeout > 0 && g_get_monotonic_time () - start >=
              (gint64) reader_timeout * 1000) {
            *err = -ETIMEDOUT;
            return WRITE_LOST;
          }
        }
        if (is_unlocked (self))
          return WRITE_INTERRUPTED;
        continue;
      case -EINTR:
        return WRITE_INTERRUPTED;
      case -EPIPE:
      case -EOWNERDEAD:
        *err = ret;
        return WRITE_LOST;
      case -EMSGSIZE:
        goto too_big;
      default:
        goto write_failed;
    }
  }

  ret = gst_zb_sink_frame_commit (self, f, self->writer, self->pool_conn);
  if (ret < 0)
    goto write_failed;
  if (f->pool_mem && f->pool_mem != self->copy_mem) {
    GST_OBJECT_LOCK (self);
    self->in_place++;
    GST_OBJECT_UNLOCK (self);
  }
  return WRITE_OK;

  /* ERRORS */
write_timed_out:
  {
    name = g_strdup (self->conn_name);
    GST_ELEMENT_ERROR (self, RESOURCE, WRITE,
        ("The reader of buffer \"%s\" freed no space within %d ms.", name,
            write_timeout), ("frame of %" G_GSIZE_FORMAT " bytes",
            f->hdr + f->payload));
    g_free (name);
    return WRITE_ERROR;
  }
too_big:
  {
    zb_status status;

    memset (&status, 0, sizeof (status));
    zb_writer_get_status (self->writer, &status);
    name = g_strdup (self->conn_name);
    GST_ELEMENT_ERROR (self, RESOURCE, NO_SPACE_LEFT,
        ("A frame of %" G_GSIZE_FORMAT " bytes does not fit in the ring of "
            "buffer \"%s\" (%" G_GUINT64_FORMAT " bytes); raise payload-size "
            "on the reader.", f->hdr + f->payload, name, status.payload_size),
        ("%s", zb_strerror (ret)));
    g_free (name);
    return WRITE_ERROR;
  }
no_fit:
  {
    zb_status status;
    gsize largest = zb_writer_max_size (self->writer);
    gsize always;

    memset (&status, 0, sizeof (status));
    zb_writer_get_status (self->writer, &status);
    always = zb_max_size_always (status.payload_size);
    name = g_strdup (self->conn_name);
    /* raw: only a smaller frame moves the position on; leaky drops this
     * one so that the next ones can */
    if (leaky && (f->buf != NULL || f->answer) && !f->padding) {
      if (!self->no_fit_warned)
        GST_ELEMENT_WARNING (self, RESOURCE, WRITE,
            ("Dropping frames of buffer \"%s\" that cannot be written at "
                "the current position of its ring: this one has %"
                G_GSIZE_FORMAT " bytes, from there at most %" G_GSIZE_FORMAT
                " bytes fit; frames up to %" G_GSIZE_FORMAT " bytes always "
                "fit.", name, f->want, largest, always),
            ("%s (ring of %" G_GUINT64_FORMAT " bytes, write position %"
                G_GUINT64_FORMAT ")", zb_strerror (ret), status.payload_size,
                status.write_pos));
      self->no_fit_warned = TRUE;
      g_free (name);
      return WRITE_DROPPED;
    }
    GST_ELEMENT_ERROR (self, RESOURCE, NO_SPACE_LEFT,
        ("A frame of %" G_GSIZE_FORMAT " bytes cannot be written at the "
            "current position of the ring of buffer \"%s\" (%" G_GUINT64_FORMAT
            " bytes): from there at most %" G_GSIZE_FORMAT " bytes fit, and "
            "only a smaller frame moves the position on; frames up to %"
            G_GSIZE_FORMAT " bytes always fit. Use frame-format=gst, smaller "
            "frames or a larger payload-size on the reader.", f->want, name,
            status.payload_size, largest, always),
        ("%s (write position %" G_GUINT64_FORMAT ")", zb_strerror (ret),
            status.write_pos));
    g_free (name);
    return WRITE_ERROR;
  }
write_failed:
  {
    name = g_strdup (self->conn_name);
    GST_ELEMENT_ERROR (self, RESOURCE, WRITE,
        ("Could not write to buffer \"%s\".", name), ("%s", zb_strerror (ret)));
    g_free (name);
    return WRITE_ERROR;
  }
}



/* Asked once per start, with a LATENCY query. */
gboolean
gst_zb_sink_upstream_is_live (GstZbSink * self)
{
  gboolean live = FALSE, upstream_live = FALSE;
  GstClockTime min, max;

  if (!self->live_known) {
    if (gst_base_sink_query_latency (GST_BASE_SINK (self), &live,
            &upstream_live, &min, &max))
      self->upstream_live = upstream_live;
    self->live_known = TRUE;
    GST_DEBUG_OBJECT (self, "upstream is %slive",
        self->upstream_live ? "" : "not ");
  }
  return self->upstream_live;
}

/* Connect if needed, send a caps record if the caps changed, write the
 * frame; reconnect on reader loss per on-reader-lost. @in_render: called
 * from render() with the PREROLL_LOCK held, so an interrupted wait may
 * wait for PLAYING and retry. */
GstFlowReturn
gst_zb_sink_send (GstZbSink * self, const zb_gst_record * rec, GstBuffer * buf,
    gboolean in_render)
{
  GstZbReaderLost action;
  GstFlowReturn flow;
  ConnectResult cr;
  GstZbWriteResult wr;
  gboolean answered = FALSE;
  int err = 0;

  for (;;) {
    GST_OBJECT_LOCK (self);
    action = self->on_reader_lost;
    GST_OBJECT_UNLOCK (self);
    if (action == GST_ZB_READER_LOST_AUTO)
      action = gst_zb_sink_upstream_is_live (self) ? GST_ZB_READER_LOST_DROP :
          GST_ZB_READER_LOST_WAIT;

    /* no reader yet is no reader: drop applies from the start, so that a
     * live capture never waits for its first reader; nor does a writer
     * that serves readers of NAME@ID (they pace it, per reader-policy) */
    cr = ensure_connected (self, action != GST_ZB_READER_LOST_DROP &&
        gst_zb_sink_outputs_count (self->outputs) == 0);
    if (cr == CONNECT_ERROR)
      return GST_FLOW_ERROR;
    if (cr == CONNECT_NONE && gst_zb_sink_outputs_count (self->outputs) > 0)
      return GST_FLOW_OK;       /* not a drop: no reader of NAME expected */
    if (cr == CONNECT_NONE)
      goto dropped;
    if (cr == CONNECT_INTERRUPTED)
      goto interrupted;

    if (buf && gst_zb_key_wait_skip (&self->key, self, buf, self->conn_name))
      goto dropped;

    /* caps changed since the metadata or the last caps record */
    wr = WRITE_OK;
    /* a duplex channel has exactly one frame per response: its caps
     * travel only in the metadata */
    if (!self->chan_mode && self->format == GST_ZB_FRAME_FORMAT_GST &&
        self->caps &&
        (self->sent_caps == NULL || !gst_caps_is_equal (self->caps,
                self->sent_caps))) {
      zb_gst_record crec;
      gchar *str = gst_caps_to_string (self->caps);

      zb_gst_record_init (&crec, ZB_GST_RECORD_CAPS);
      wr = write_frame (self, &crec, NULL, str, strlen (str), &err);
      g_free (str);
      if (wr == WRITE_OK)
        gst_caps_replace (&self->sent_caps, self->caps);
    }
    if (wr == WRITE_OK && buf && self->chan_mode)
      wr = write_in_place (self, buf, &answered, &err);
    if (wr == WRITE_OK && !answered)
      wr = write_frame (self, self->format == GST_ZB_FRAME_FORMAT_GST ? rec :
          NULL, buf, NULL, 0, &err);

    switch (wr) {
      case WRITE_OK:
        if (buf) {
          GST_OBJECT_LOCK (self);
          self->frames++;
          self->bytes += gst_buffer_get_size (buf);
          GST_OBJECT_UNLOCK (self);
        }
        return GST_FLOW_OK;
      case WRITE_DROPPED:
        goto dropped;
      case WRITE_ERROR:
        return GST_FLOW_ERROR;
      case WRITE_INTERRUPTED:
        goto interrupted;
      case WRITE_LOST:
        if (self->chan_fanin) {
          gst_zb_sink_fanin_drop (self, err);
          goto dropped;
        }
        flow = handle_reader_lost (self, err);
        if (flow != GST_FLOW_OK)
          return flow;
        continue;
    }
    continue;

  interrupted:
    if (!in_render)
      return GST_FLOW_FLUSHING;
    /* PLAYING -> PAUSED or a flush: wait until PLAYING again (OK) or
     * flushing (FLUSHING) */
    flow = gst_base_sink_wait_preroll (GST_BASE_SINK (self));
    if (flow != GST_FLOW_OK)
      return flow;
    continue;

  dropped:
    if (buf) {
      GST_OBJECT_LOCK (self);
      self->drops++;
      GST_OBJECT_UNLOCK (self);
      /* for observers of the buffer (zerobuffer top) */
      zb_writer_add_drops (self->writer, 1);
    }
    return GST_FLOW_OK;
  }
}
