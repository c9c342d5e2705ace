/* zerobuffer GStreamer plugin - zbsrc following its writer
 *
 * SPDX-License-Identifier: MIT
 *
 * Waiting for the next frame, in slices, so that between them the writer
 * timeout and the stall breaker are checked; a frame of a new writer brings
 * its caps and frame format; a writer that leaves, dies or times out is
 * handled as on-writer-lost says (docs/elements.md, "Writer replaced").
 */

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstzbsrcpriv.h"
#include "gstzbchannel.h"
#include "gstzbringmem.h"

#include <errno.h>
#include <string.h>

#define GST_CAT_DEFAULT gst_zb_src_debug

/* How long one zb_reader_read() may block; between slices the element
 * checks the writer timeout. Unlock wakes a blocked read at once. */
#define READ_SLICE_MS 100

gchar *
gst_zb_src_dup_name (GstZbSrc * self)
{
  gchar *name;

  GST_OBJECT_LOCK (self);
  name = g_strdup (self->name);
  GST_OBJECT_UNLOCK (self);
  return name;
}

gchar *
gst_zb_src_dup_pool_name (GstZbSrc * self)
{
  gchar *name = gst_zb_src_dup_name (self);
  gchar *at = name ? strchr (name, '@') : NULL;

  if (at)
    *at = '\0';
  return name;
}

GstCaps *
gst_zb_src_user_caps (GstZbSrc * self)
{
  GstCaps *caps = NULL;

  GST_OBJECT_LOCK (self);
  if (self->caps)
    caps = gst_caps_ref (self->caps);
  GST_OBJECT_UNLOCK (self);
  return caps;
}

static void
post_message (GstZbSrc * self, const gchar * msg_name, guint64 pid,
    const gchar * reason)
{
  gchar *name = gst_zb_src_dup_name (self);

  gst_zb_post_peer_message (GST_ELEMENT (self), msg_name, "buffer-name",
      name, pid, reason, NULL);
  g_free (name);
}

/* Forget the mappings of the writer's pool segments (memories that wrap
 * blocks keep theirs). */
static void
forget_pool_maps (GstZbSrc * self)
{
  if (self->pool_maps)
    g_hash_table_remove_all (self->pool_maps);
  self->pool_missing_warned = FALSE;
}

/* Take the caps and the frame format of a new writer from its metadata. */
static void
handle_new_writer (GstZbSrc * self, zb_reader * reader)
{
  const void *meta = NULL;
  size_t meta_size = 0;
  GstCaps *caps;
  zb_status status;
  guint64 pid = 0;
  gboolean replaced = self->writer_present;

  forget_pool_maps (self);
  if (zb_reader_get_status (reader, &status) == 0)
    pid = status.writer_pid;

  if (zb_reader_get_metadata (reader, &meta, &meta_size) < 0)
    meta_size = 0;
  caps = gst_zb_parse_metadata (GST_OBJECT (self), meta, meta_size,
      &self->gst_format);

  if (caps == NULL)
    caps = gst_zb_src_user_caps (self);
  if (caps == NULL)
    caps = gst_caps_new_empty_simple ("application/octet-stream");

  GST_INFO_OBJECT (self, "writer %" G_GUINT64_FORMAT " connected, format %s,"
      " caps %" GST_PTR_FORMAT, pid, self->gst_format ? "gst" : "raw", caps);

  if (self->writer_caps == NULL || !gst_caps_is_equal (caps, self->writer_caps)) {
    gst_caps_replace (&self->writer_caps, caps);
    self->caps_pending = TRUE;
  }
  gst_caps_unref (caps);

  self->writer_present = TRUE;
  self->ever_writer = TRUE;
  self->discont = TRUE;
  gst_zb_src_time_new_writer (&self->time);
  self->timeout_reported = FALSE;
  if (self->chan) {
    /* a new client: responses still in the pipeline for the previous one
     * are dropped by zbsink */
    self->chan_generation = gst_zb_channel_next_generation ();
    gst_zb_channel_set_client (self->channel, self->chan_generation);
  }
  GST_OBJECT_LOCK (self);
  self->writer_pid = pid;
  self->connected = TRUE;
  GST_OBJECT_UNLOCK (self);

  post_message (self, "zbsrc-writer-connected", pid,
      replaced ? "replaced" : NULL);
}

/* The writer left, died or timed out: apply on-writer-lost. Returns
 * GST_FLOW_OK to keep waiting. */
static GstFlowReturn
handle_writer_lost (GstZbSrc * self, const gchar * reason)
{
  gboolean timeout = strcmp (reason, "timeout") == 0;
  GstZbWriterLost action;
  gchar *name;
  guint64 pid;

  GST_OBJECT_LOCK (self);
  action = self->on_writer_lost;
  /* a fan-in client NAME@ID that leaves closes only its own channel */
  if (self->fanin && !gst_zb_src_fanin_loaded_is_main (self->fanin))
    action = GST_ZB_WRITER_LOST_WAIT;
  name = g_strdup (self->name);
  pid = self->writer_pid;
  self->connected = FALSE;
  if (!timeout)
    self->writer_pid = 0;
  GST_OBJECT_UNLOCK (self);

  GST_INFO_OBJECT (self, "writer %" G_GUINT64_FORMAT " lost: %s", pid, reason);
  if (!timeout) {
    forget_pool_maps (self);
    /* a killed writer could not remove its pool segments */
    if (strcmp (reason, "died") == 0 && pid != 0) {
      gchar *base = g_strdup (name);
      guint n;

      /* NAME@ID: a fan-out writer named them after NAME */
      if (strchr (base, '@'))
        *strchr (base, '@') = '\0';
      n = gst_zb_pool_shm_sweep (name, pid);
      if (strcmp (base, name) != 0)
        n += gst_zb_pool_shm_sweep (base, pid);
      g_free (base);

      if (n)
        GST_INFO_OBJECT (self, "removed %u pool segments of dead writer %"
            G_GUINT64_FORMAT, n, pid);
    }
    self->writer_present = FALSE;
    if (self->chan) {
      self->chan_generation = 0;
      gst_zb_channel_set_client (self->channel, 0);
    }
  }
  post_message (self, "zbsrc-writer-lost", pid, reason);

  switch (action) {
    case GST_ZB_WRITER_LOST_WAIT:
      g_free (name);
      return GST_FLOW_OK;
    case GST_ZB_WRITER_LOST_EOS:
      g_free (name);
      return GST_FLOW_EOS;
    case GST_ZB_WRITER_LOST_ERROR:
    default:
      GST_ELEMENT_ERROR (self, RESOURCE, READ,
          ("The writer of buffer \"%s\" is gone (%s).", name, reason),
          ("writer pid %" G_GUINT64_FORMAT ", on-writer-lost=error", pid));
      g_free (name);
      return GST_FLOW_ERROR;
  }
}

/* No frame for stall-timeout from a connected writer while downstream
 * holds frames in the ring: the writer may be waiting for space that only
 * those frames pin (space returns in ring order, and a sink keeps its
 * newest buffer until the next one arrives, which the writer cannot
 * write). Move the held frames that nobody has mapped to the heap. A
 * writer that is merely idle costs one copy per held buffer. */
static void
unpin_held (GstZbSrc * self, GstZbReaderRef * ref, gint stall_timeout)
{
  zb_status status;
  guint64 bytes = 0;
  guint n;

  if (zb_reader_held_bytes (ref->reader) == 0)
    return;
  if (zb_reader_get_status (ref->reader, &status) < 0 || status.writer_pid == 0)
    return;
  n = gst_zb_ring_allocator_unpin (ref->alloc, &bytes);
  if (n == 0)
    return;
  GST_OBJECT_LOCK (self);
  self->migrations += n;
  GST_OBJECT_UNLOCK (self);
  GST_DEBUG_OBJECT (self, "no frame for %d ms: moved %u held buffers (%"
      G_GUINT64_FORMAT " bytes) out of the ring", stall_timeout, n, bytes);
}

/* Wait for the next frame, following the writer on the way. GST_FLOW_OK
 * with a frame to release. */
static GstFlowReturn
next_frame (GstZbSrc * self, GstZbReaderRef ** refp, zb_frame * frame)
{
  GstZbReaderRef *ref;
  GstFlowReturn flow;
  gint timeout, connect_timeout, stall_timeout, slice;
  gint64 idle_us;
  gchar *name;
  int ret;

again:
  ref = *refp;
  for (;;) {
    /* both may change while PLAYING: read them for every slice */
    GST_OBJECT_LOCK (self);
    timeout = self->timeout;
    connect_timeout = self->connect_timeout;
    stall_timeout = self->stall_timeout;
    GST_OBJECT_UNLOCK (self);
    slice = stall_timeout > 0 ? MIN (stall_timeout, READ_SLICE_MS) :
        READ_SLICE_MS;
    /* fan-in: the next request of any client, whose state is loaded */
    if (self->fanin)
      ret = gst_zb_src_fanin_read (self->fanin, slice, frame, refp);
    else
      ret = zb_reader_read (ref->reader, slice, frame);
    ref = *refp;
    if (ret == 0)
      break;

    if (ret == -ETIMEDOUT || ret == -EAGAIN) {
      idle_us = g_get_monotonic_time () - self->last_frame_us;
      if (stall_timeout > 0 && idle_us >= (gint64) stall_timeout * 1000) {
        if (self->fanin) {
          GPtrArray *refs = gst_zb_src_fanin_refs (self->fanin);
          guint i;

          for (i = 0; i < refs->len; i++)
            unpin_held (self, g_ptr_array_index (refs, i), stall_timeout);
          g_ptr_array_unref (refs);
        } else {
          unpin_held (self, ref, stall_timeout);
        }
      }
      if (connect_timeout >= 0 && !self->ever_writer &&
          idle_us >= (gint64) connect_timeout * 1000)
        goto no_writer;
      /* fan-in: clients that leave or die are noticed without it */
      if (timeout > 0 && !self->fanin && self->writer_present &&
          !self->timeout_reported && idle_us > (gint64) timeout * 1000) {
        self->timeout_reported = TRUE;
        flow = handle_writer_lost (self, "timeout");
        if (flow != GST_FLOW_OK)
          return flow;
      }
      continue;
    }
    if (ret == -EINTR)
      return GST_FLOW_FLUSHING;
    if (ret == -EPIPE || ret == -EOWNERDEAD) {
      flow = handle_writer_lost (self, ret == -EPIPE ? "disconnected" : "died");
      if (flow != GST_FLOW_OK)
        return flow;
      continue;
    }
    if (gst_zb_src_refuse_client (self, "broke its request ring",
            zb_strerror (ret)))
      continue;
    goto read_failed;
  }

  self->last_frame_us = g_get_monotonic_time ();
  self->timeout_reported = FALSE;
  if (self->refused) {
    /* a refused fan-in client: nothing until it connects again */
    if (!(frame->flags & ZB_FRAME_NEW_WRITER)) {
      zb_reader_release (ref->reader, frame);
      GST_OBJECT_LOCK (self);
      self->dropped++;
      GST_OBJECT_UNLOCK (self);
      goto again;
    }
    self->refused = FALSE;
  }
  if ((frame->flags & ZB_FRAME_NEW_WRITER) || !self->writer_present)
    handle_new_writer (self, ref->reader);
  return GST_FLOW_OK;

  /* ERRORS */
no_writer:
  {
    name = gst_zb_src_dup_name (self);
    GST_ELEMENT_ERROR (self, RESOURCE, NOT_FOUND,
        ("No writer wrote to buffer \"%s\" within %d ms.", name,
            connect_timeout), ("connect-timeout=%d", connect_timeout));
    g_free (name);
    return GST_FLOW_ERROR;
  }
read_failed:
  {
    name = gst_zb_src_dup_name (self);
    GST_ELEMENT_ERROR (self, RESOURCE, READ,
        ("Could not read from buffer \"%s\".", name),
        ("zb_reader_read: %s", zb_strerror (ret)));
    g_free (name);
    return GST_FLOW_ERROR;
  }
}

#define ALLOWED_BUFFER_FLAGS (GST_BUFFER_FLAG_LIVE | \
    GST_BUFFER_FLAG_DECODE_ONLY | GST_BUFFER_FLAG_DISCONT | \
    GST_BUFFER_FLAG_RESYNC | GST_BUFFER_FLAG_CORRUPTED | \
    GST_BUFFER_FLAG_MARKER | GST_BUFFER_FLAG_HEADER | GST_BUFFER_FLAG_GAP | \
    GST_BUFFER_FLAG_DROPPABLE | GST_BUFFER_FLAG_DELTA_UNIT | \
    GST_BUFFER_FLAG_SYNC_AFTER | GST_BUFFER_FLAG_NON_DROPPABLE)

/* A caps record: the caps for the buffers that follow. FALSE: invalid
 * caps (error posted). */
static gboolean
take_caps_record (GstZbSrc * self, const void *payload, gsize size)
{
  gchar *str = g_strndup (payload, size);
  GstCaps *caps = gst_caps_from_string (str);

  if (caps == NULL || !gst_caps_is_fixed (caps)) {
    gchar *name;

    if (gst_zb_src_refuse_client (self, "sent invalid caps", str)) {
      g_free (str);
      if (caps)
        gst_caps_unref (caps);
      return TRUE;
    }
    name = gst_zb_src_dup_name (self);

    GST_ELEMENT_ERROR (self, STREAM, DECODE,
        ("The writer of buffer \"%s\" sent invalid caps.", name),
        ("caps \"%s\"", str));
    g_free (name);
    g_free (str);
    if (caps)
      gst_caps_unref (caps);
    return FALSE;
  }
  g_free (str);
  GST_DEBUG_OBJECT (self, "caps record %" GST_PTR_FORMAT, caps);
  if (self->writer_caps == NULL || !gst_caps_is_equal (caps, self->writer_caps)) {
    gst_caps_replace (&self->writer_caps, caps);
    self->caps_pending = TRUE;
  }
  gst_caps_unref (caps);
  return TRUE;
}


enum
{
  POOL_OK,
  POOL_MISSING,                 /* the segment is gone: drop the frame */
  POOL_INVALID                  /* error posted, frame released */
};

/* A pool record: check the reference as hostile input (bounds, name,
 * owner, size), map its segment (cached per writer) and point *@data at
 * the buffer's bytes in it; *@map_out gets a reference to the mapping. */
static gint
take_pool_record (GstZbSrc * self, GstZbReaderRef * ref, zb_frame * frame,
    const void *payload, gsize size, GstZbPoolMap ** map_out,
    const void **data, size_t *data_size)
{
  gchar expect[ZB_GST_POOL_NAME_SIZE];
  const gchar *why = NULL;
  zb_gst_pool_ref pref;
  GstZbPoolMap *map;
  guint64 pid;
  gchar *name;

  if (zb_gst_pool_ref_decode (payload, size, &pref) < 0) {
    why = "malformed reference (bounds, block or name)";
    goto invalid;
  }
  /* a mapped segment's name was checked when it was mapped, against the
   * same writer (the mappings are forgotten when the writer changes): the
   * check below runs once per segment, not per frame */
  map = self->pool_maps ? g_hash_table_lookup (self->pool_maps, pref.name) :
      NULL;
  if (map == NULL) {
    GST_OBJECT_LOCK (self);
    pid = self->writer_pid;
    GST_OBJECT_UNLOCK (self);
    /* only the current writer's own segments for this buffer; for NAME@ID
     * also those for NAME (a fan-out writer's pool serves every reader;
     * a writer of buffer-name=NAME@ID names them after NAME@ID) */
    name = gst_zb_src_dup_name (self);
    if (zb_gst_pool_name (expect, sizeof (expect), name, pid, pref.serial) < 0
        || strcmp (expect, pref.name) != 0) {
      g_free (name);
      name = gst_zb_src_dup_pool_name (self);
      if (zb_gst_pool_name (expect, sizeof (expect), name, pid,
              pref.serial) < 0 || strcmp (expect, pref.name) != 0) {
        g_free (name);
        why = "segment name is not one of the writer's for this buffer";
        goto invalid;
      }
    }
    g_free (name);

    map = gst_zb_pool_map_open (pref.name, pref.segment_size, &why);
    if (map == NULL && g_str_has_prefix (why, "segment does not exist"))
      goto missing;
    if (map == NULL)
      goto invalid;
    if (self->pool_maps == NULL)
      self->pool_maps = g_hash_table_new_full (g_str_hash, g_str_equal, NULL,
          (GDestroyNotify) gst_zb_pool_map_unref);
    /* a writer makes few segments; a flood of names is bounded here */
    if (g_hash_table_size (self->pool_maps) >= 64)
      g_hash_table_remove_all (self->pool_maps);
    g_hash_table_insert (self->pool_maps, map->name, map);
    GST_DEBUG_OBJECT (self, "mapped pool segment %s (%" G_GSIZE_FORMAT
        " bytes)", map->name, map->size);
  }
  if (map->size != pref.segment_size) {
    why = "segment size differs from the record's";
    goto invalid;
  }
  *map_out = gst_zb_pool_map_ref (map);
  *data = map->base + pref.offset;
  *data_size = (size_t) pref.size;
  return POOL_OK;

  /* ERRORS */
missing:
  {
    if (!self->pool_missing_warned) {
      name = gst_zb_src_dup_name (self);
      GST_ELEMENT_WARNING (self, STREAM, DECODE,
          ("Dropping frames of buffer \"%s\" whose pool segment is gone "
              "(the writer left before they were read).", name),
          ("segment %s", pref.name));
      g_free (name);
      self->pool_missing_warned = TRUE;
    }
    GST_DEBUG_OBJECT (self, "frame %" G_GUINT64_FORMAT ": pool segment %s "
        "gone", frame->sequence, pref.name);
    return POOL_MISSING;
  }
invalid:
  {
    /* the caller drops the frame of a refused fan-in client */
    if (gst_zb_src_refuse_client (self, "sent an invalid pool record", why))
      return POOL_MISSING;
    zb_reader_release (ref->reader, frame);
    name = gst_zb_src_dup_name (self);
    GST_ELEMENT_ERROR (self, STREAM, DECODE,
        ("Invalid pool record in buffer \"%s\".", name),
        ("frame %" G_GUINT64_FORMAT ": %s", frame->sequence, why));
    g_free (name);
    return POOL_INVALID;
  }
}

/* An error record: the writer's pipeline failed (its message, then
 * optionally a NUL and the debug text; any bytes: made valid UTF-8 here).
 * Posted as an error (TRUE: stop) or a warning per on-writer-error; after
 * a warning the writer's leaving is handled as any other (on-writer-lost). */
static gboolean
take_error_record (GstZbSrc * self, const void *payload, gsize size)
{
  GstZbWriterError action;
  const gchar *p = payload, *nul;
  gchar *msg, *debug = NULL, *name;

  nul = memchr (p, '\0', size);
  msg = g_utf8_make_valid (p, nul ? nul - p : (gssize) size);
  if (nul)
    debug = g_utf8_make_valid (nul + 1, size - (nul + 1 - p));
  GST_OBJECT_LOCK (self);
  action = self->on_writer_error;
  GST_OBJECT_UNLOCK (self);
  /* a fan-in client's failure is that client's only */
  if (action == GST_ZB_WRITER_ERROR_ERROR &&
      gst_zb_src_refuse_client (self, "failed", msg)) {
    g_free (msg);
    g_free (debug);
    return FALSE;
  }
  name = gst_zb_src_dup_name (self);
  if (action == GST_ZB_WRITER_ERROR_ERROR)
    GST_ELEMENT_ERROR (self, STREAM, FAILED,
        ("The writer of buffer \"%s\" failed: %s", name, msg),
        ("%s", debug ? debug : ""));
  else
    GST_ELEMENT_WARNING (self, STREAM, FAILED,
        ("The writer of buffer \"%s\" failed: %s", name, msg),
        ("%s", debug ? debug : ""));
  g_free (name);
  g_free (msg);
  g_free (debug);
  return action == GST_ZB_WRITER_ERROR_ERROR;
}

GstFlowReturn
gst_zb_src_next_buffer (GstZbSrc * self, GstZbReaderRef * ref,
    GstBuffer ** outbuf)
{
  GstBaseSrc *bsrc = GST_BASE_SRC (self);
  GstFlowReturn flow;
  GstBuffer *buf;
  zb_frame frame;
  zb_gst_record rec;
  GstClockTime pts, dts;
  GstZbTimestampMode mode;
  gboolean writer_ts, copied;
  const void *payload;
  size_t payload_size;
  guint64 limit;
  GstZbPoolMap *pool_map = NULL;
  gchar *name;
  int ret;

  /* stale frames kept for a decoder, then the fresh one that ended them */
  buf = gst_zb_src_time_pop_held (&self->time);
  if (buf) {
    *outbuf = buf;
    return GST_FLOW_OK;
  }

  for (;;) {
    /* fan-in: @ref becomes the reader of the request's channel */
    flow = next_frame (self, &ref, &frame);
    if (flow != GST_FLOW_OK)
      return flow;

    memset (&rec, 0, sizeof (rec));
    if (self->gst_format) {
      ret = zb_gst_record_decode (frame.data, frame.size, &rec, &payload);
      if (ret < 0 && gst_zb_src_refuse_client (self, "sent an invalid frame",
              zb_strerror (ret))) {
        zb_reader_release (ref->reader, &frame);
        continue;
      }
      if (ret < 0)
        goto bad_record;
      payload_size = (size_t) rec.payload_size;
    } else {
      payload = frame.data;
      payload_size = frame.size;
    }

    if (self->gst_format && rec.type == ZB_GST_RECORD_PAD) {
      /* the writer skipped the rest of the ring (docs/frame-format.md) */
      zb_reader_release (ref->reader, &frame);
      continue;
    }
    if (self->gst_format && rec.type == ZB_GST_RECORD_CAPS) {
      gboolean ok = take_caps_record (self, payload, payload_size);

      zb_reader_release (ref->reader, &frame);
      if (!ok)
        return GST_FLOW_ERROR;
      continue;
    }
    if (self->gst_format && rec.type == ZB_GST_RECORD_EOS) {
      zb_reader_release (ref->reader, &frame);
      GST_INFO_OBJECT (self, "EOS from the writer");
      return GST_FLOW_EOS;
    }

    if (self->gst_format && rec.type == ZB_GST_RECORD_ERROR) {
      gboolean fatal = take_error_record (self, payload, payload_size);

      zb_reader_release (ref->reader, &frame);
      if (fatal)
        return GST_FLOW_ERROR;
      continue;
    }

    if (self->gst_format && rec.type == ZB_GST_RECORD_POOL) {
      ret = take_pool_record (self, ref, &frame, payload, payload_size,
          &pool_map, &payload, &payload_size);
      if (ret == POOL_INVALID)
        return GST_FLOW_ERROR;
      if (ret == POOL_MISSING) {
        zb_reader_release (ref->reader, &frame);
        self->discont = TRUE;
        GST_OBJECT_LOCK (self);
        self->dropped++;
        GST_OBJECT_UNLOCK (self);
        continue;
      }
    }

    /* a buffer; both may change while PLAYING */
    GST_OBJECT_LOCK (self);
    mode = self->timestamp_mode;
    limit = self->max_held_bytes ? self->max_held_bytes : self->ring_size / 2;
    GST_OBJECT_UNLOCK (self);
    if (gst_zb_src_time_stamp (&self->time, bsrc, mode,
            self->gst_format ? &rec : NULL, &pts, &dts, &writer_ts))
      break;
    if (self->gst_format && gst_zb_src_time_hold_stale (&self->time,
            self->writer_caps, &rec, payload, payload_size)) {
      GST_LOG_OBJECT (self, "kept stale frame %" G_GUINT64_FORMAT " for the "
          "decoder (a key unit or after one)", frame.sequence);
      zb_reader_release (ref->reader, &frame);
      gst_zb_pool_map_unref (pool_map);
      pool_map = NULL;
      continue;
    }
    GST_LOG_OBJECT (self, "dropped frame %" G_GUINT64_FORMAT ": presented "
        "before the base time", frame.sequence);
    zb_reader_release (ref->reader, &frame);
    gst_zb_pool_map_unref (pool_map);
    pool_map = NULL;
    self->discont = TRUE;
    GST_OBJECT_LOCK (self);
    self->dropped++;
    GST_OBJECT_UNLOCK (self);
  }

  if (pool_map) {
    buf = gst_zb_reader_ref_make_pool_buffer (ref, limit, &frame, pool_map,
        payload, payload_size, &copied);
    gst_zb_pool_map_unref (pool_map);
  } else {
    /* a request (channel mode): writable, so that an in-place transform
     * changes it where it lies and zbsink answers in place */
    buf = gst_zb_reader_ref_make_buffer (ref, limit, &frame, payload,
        payload_size, self->chan ? self->chan_generation : 0, &copied);
  }
  GST_BUFFER_PTS (buf) = pts;
  GST_BUFFER_DTS (buf) = dts;
  if (self->gst_format) {
    GST_BUFFER_FLAG_SET (buf, rec.buffer_flags & ALLOWED_BUFFER_FLAGS);
    GST_BUFFER_DURATION (buf) = rec.duration;
    GST_BUFFER_OFFSET (buf) = rec.offset;
    GST_BUFFER_OFFSET_END (buf) = rec.offset_end;
  }
  gst_zb_src_time_segment (&self->time, bsrc, buf, writer_ts);
  if (self->discont) {
    GST_BUFFER_FLAG_SET (buf, GST_BUFFER_FLAG_DISCONT);
    self->discont = FALSE;
  }
  if (self->chan)
    gst_buffer_add_zb_request_meta (buf, self->channel,
        self->chan_generation, frame.sequence);
  if (copied) {
    GST_OBJECT_LOCK (self);
    self->copies++;
    GST_OBJECT_UNLOCK (self);
  }
  *outbuf = gst_zb_src_time_release_held (&self->time, buf);
  return GST_FLOW_OK;

  /* ERRORS */
bad_record:
  {
    zb_reader_release (ref->reader, &frame);
    name = gst_zb_src_dup_name (self);
    GST_ELEMENT_ERROR (self, STREAM, DECODE,
        ("Invalid frame in buffer \"%s\".", name),
        ("frame %" G_GUINT64_FORMAT " of %" G_GSIZE_FORMAT " bytes: %s",
            frame.sequence, frame.size, zb_strerror (ret)));
    g_free (name);
    return GST_FLOW_ERROR;
  }
}
