/* zerobuffer GStreamer plugin - zbsink: one frame into one ring
 *
 * SPDX-License-Identifier: MIT
 *
 * The same for the reader of NAME (gstzbsinkwrite.c) and every reader of
 * NAME@ID (gstzbsinkoutput.c): the frame's layout (repacked video, or a
 * pool record of a block of our pool, and the copy into such a block when
 * upstream did not allocate from it), pad records that take a frame
 * which does not fit from the write position to the ring's start, and
 * filling and committing the frame. What a full ring means (wait, drop,
 * time out) and how a failure is reported stays with the caller.
 */

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstzbsinkpriv.h"

#include <errno.h>
#include <string.h>

#define GST_CAT_DEFAULT gst_zb_sink_debug

/* Copy @buf into @dst (@size bytes): video planes row by row into
 * @layout, anything else as its bytes; large frames with the copier's
 * threads. */
static void
copy_payload (GstZbSink * self, GstBuffer * buf, const GstZbLayout * layout,
    guint8 * dst, gsize size)
{
  GstZbCopyPlane planes[GST_ZB_COPY_MAX_PLANES];
  GstVideoFrame vf;
  GstMapInfo map;
  guint p;

  if (layout && gst_video_frame_map (&vf, &self->vinfo, buf, GST_MAP_READ)) {
    for (p = 0; p < GST_VIDEO_FRAME_N_PLANES (&vf); p++) {
      gint sstride = GST_VIDEO_FRAME_PLANE_STRIDE (&vf, p);

      planes[p].dst = dst + layout->offset[p];
      planes[p].src = GST_VIDEO_FRAME_PLANE_DATA (&vf, p);
      planes[p].dst_stride = layout->stride[p];
      planes[p].src_stride = sstride;
      planes[p].row_bytes = MIN (layout->row_bytes[p], ABS (sstride));
      planes[p].rows = layout->rows[p];
    }
    gst_zb_copier_run (self->copier, planes, p);
    gst_video_frame_unmap (&vf);
    return;
  }
  /* one memory: mapped as it is; more: gst_buffer_map() would merge
   * them into a copy first */
  if (gst_buffer_n_memory (buf) == 1 && gst_buffer_map (buf, &map,
          GST_MAP_READ)) {
    gst_zb_copier_copy (self->copier, dst, map.data, MIN (size, map.size));
    gst_buffer_unmap (buf, &map);
    return;
  }
  gst_buffer_extract (buf, 0, dst, size);
}

/* Does @buf need repacking into @layout, or are its bytes already laid out
 * that way? */
static gboolean
needs_repack (GstZbSink * self, GstBuffer * buf, const GstZbLayout * layout)
{
  GstVideoMeta *meta;
  guint p;

  if (!self->is_video)
    return FALSE;
  meta = gst_buffer_get_video_meta (buf);
  for (p = 0; p < GST_VIDEO_INFO_N_PLANES (&self->vinfo); p++) {
    gsize off = meta ? meta->offset[p] : GST_VIDEO_INFO_PLANE_OFFSET
        (&self->vinfo, p);
    gint stride = meta ? meta->stride[p] : GST_VIDEO_INFO_PLANE_STRIDE
        (&self->vinfo, p);

    if (off != layout->offset[p] || stride != layout->stride[p])
      return TRUE;
  }
  return gst_buffer_get_size (buf) < layout->size;
}

/* @buf copied into a free block of @pool (see gst_zb_sink_copy_to_pool()) */
static GstBuffer *
copy_into_block (GstZbSink * self, GstBufferPool * pool, GstBuffer * buf)
{
  const GstZbLayout *layout = NULL;
  GstBuffer *copy;
  GstMemory *mem;
  GstMapInfo map;
  gsize size;

  /* upstream's block of our pool already, or more than one block */
  if (gst_buffer_n_memory (buf) == 1 &&
      gst_zb_pool_memory_is_ours (gst_buffer_peek_memory (buf, 0)))
    return NULL;
  if (needs_repack (self, buf, &self->gst_layout)) {
    layout = &self->gst_layout;
    size = layout->size;
  } else {
    size = gst_buffer_get_size (buf);
  }
  mem = gst_zb_sink_pool_copy_block (pool, size);
  if (mem == NULL)
    return NULL;
  if (!gst_memory_map (mem, &map, GST_MAP_WRITE)) {
    gst_memory_unref (mem);
    return NULL;
  }
  copy_payload (self, buf, layout, map.data, size);
  gst_memory_unmap (mem, &map);
  copy = gst_buffer_new ();
  gst_buffer_append_memory (copy, mem);
  /* what the send path reads of a buffer besides its bytes (the record
   * was filled from @buf); no metas: the copy is in the default layout */
  gst_buffer_copy_into (copy, buf, GST_BUFFER_COPY_FLAGS |
      GST_BUFFER_COPY_TIMESTAMPS, 0, -1);
  return copy;
}

/* The pool for raw video @caps (a reference; NULL for other caps or a
 * pool that refuses them): the pool we have for the same caps unless
 * upstream is using it, else a new one, which becomes ours. */
GstBufferPool *
gst_zb_sink_pool_for_caps (GstZbSink * self, GstCaps * caps, const gchar * name)
{
  GstBufferPool *pool = NULL;
  GstStructure *config;
  GstVideoInfo vinfo;
  guint size = 0;

  if (gst_video_info_from_caps (&vinfo, caps))
    size = GST_VIDEO_INFO_SIZE (&vinfo);
  if (size == 0)
    /* no size we know of (compressed, audio): upstream picks its own */
    return NULL;

  GST_OBJECT_LOCK (self);
  /* the same caps again: the pool, unless upstream is using it */
  if (self->pool && self->pool_caps && gst_caps_is_equal (caps,
          self->pool_caps) && !gst_buffer_pool_is_active (self->pool))
    pool = gst_object_ref (self->pool);
  GST_OBJECT_UNLOCK (self);
  if (pool)
    return pool;
  pool = gst_zb_sink_pool_new (name);
  config = gst_buffer_pool_get_config (pool);
  gst_buffer_pool_config_set_params (config, caps, size, 2, 0);
  gst_buffer_pool_config_add_option (config, GST_BUFFER_POOL_OPTION_VIDEO_META);
  if (!gst_buffer_pool_set_config (pool, config)) {
    GST_WARNING_OBJECT (self, "pool refused its configuration");
    gst_object_unref (pool);
    return NULL;
  }
  GST_OBJECT_LOCK (self);
  gst_object_replace ((GstObject **) & self->pool, (GstObject *) pool);
  gst_caps_replace (&self->pool_caps, caps);
  GST_OBJECT_UNLOCK (self);
  return pool;
}

/* Copy @buffer into a block of our pool when it must be copied anyway and
 * a reader of our user would get a pool record of that block
 * (copy_into_block()): the gst frame format (raw readers and
 * duplex responses copy into the ring), zero-copy on, the pool proposed.
 * NULL: send @buffer as it is. */
GstBuffer *
gst_zb_sink_copy_to_pool (GstZbSink * self, GstBuffer * buffer)
{
  GstBufferPool *pool = NULL;
  GstBuffer *copy;
  gboolean zero_copy;

  if (self->chan_mode || self->format != GST_ZB_FRAME_FORMAT_GST ||
      self->writer == NULL || !self->pool_usable)
    return NULL;
  GST_OBJECT_LOCK (self);
  zero_copy = self->zero_copy;
  if (zero_copy && self->pool && gst_buffer_pool_is_active (self->pool))
    pool = gst_object_ref (self->pool);
  GST_OBJECT_UNLOCK (self);
  /* a pool upstream does not use, for the current caps; also when nobody
   * asked us for one: a tee asks its branches in turn and stops at the
   * first that answers no (a queue ! fakesink branch before ours) */
  if (pool == NULL && zero_copy && self->is_video && self->caps)
    pool = gst_zb_sink_pool_for_caps (self, self->caps, self->conn_name);
  if (pool == NULL)
    return NULL;
  copy = copy_into_block (self, pool, buffer);
  gst_object_unref (pool);
  return copy;
}

/* @seg (a reference, taken) has a record in a ring now (of NAME or of a
 * NAME@ID reader): keep its name in /dev/shm until every reader it went
 * to has released it; let go of the segments all have released.
 * Streaming thread. */
static void
sent_segment (GstZbSink * self, GstZbPoolSegment * seg)
{
  guint i;

  for (i = 0; i < self->sent_segments->len;) {
    GstZbPoolSegment *s = g_ptr_array_index (self->sent_segments, i);

    if (s == seg) {
      gst_zb_pool_segment_unref (seg);
      seg = NULL;
      i++;
    } else if (gst_zb_pool_segment_released (s)) {
      g_ptr_array_remove_index_fast (self->sent_segments, i);
    } else {
      i++;
    }
  }
  if (seg)
    g_ptr_array_add (self->sent_segments, seg);
}

void
gst_zb_sink_frame_init (GstZbSink * self, GstZbSinkFrame * f,
    GstZbFrameFormat format, gboolean pool_ok, gboolean may_pad,
    const zb_gst_record * rec, GstBuffer * buf, const void *bytes, gsize nbytes)
{
  memset (f, 0, sizeof (*f));
  f->rec = rec;
  f->buf = buf;
  f->bytes = bytes;
  f->nbytes = nbytes;
  f->hdr = rec ? ZB_GST_HEADER_SIZE : 0;
  f->payload = nbytes;
  f->may_pad = rec != NULL && may_pad;
  if (buf) {
    const GstZbLayout *l = format == GST_ZB_FRAME_FORMAT_RAW ?
        &self->raw_layout : &self->gst_layout;

    if (needs_repack (self, buf, l)) {
      f->layout = l;
      f->payload = l->size;
    } else {
      f->payload = gst_buffer_get_size (buf);
      /* one block of our pool, in the default layout: a pool record */
      if (rec && pool_ok && gst_buffer_n_memory (buf) == 1) {
        GstMemory *mem = gst_buffer_peek_memory (buf, 0);
        zb_gst_pool_ref pref;

        f->seg = gst_zb_pool_memory_ref (mem, &pref);
        if (f->seg) {
          f->pool_mem = mem;
          zb_gst_pool_ref_encode (&pref, f->pref_bytes);
          f->payload = ZB_GST_POOL_REF_SIZE;
        }
      }
    }
  }
  f->want = f->hdr + f->payload;
}

int
gst_zb_sink_frame_acquire (GstZbSink * self, GstZbSinkFrame * f, zb_writer * w)
{
  int ret = zb_writer_acquire (w, f->want, &f->dst);

  if (ret == 0 && f->padding) {
    /* the ring up to its end is skipped by the reader */
    zb_gst_record pad;

    zb_gst_record_init (&pad, ZB_GST_RECORD_PAD);
    pad.payload_size = f->want - ZB_GST_HEADER_SIZE;
    zb_gst_record_encode (&pad, f->dst);
    ret = zb_writer_commit (w);
    if (ret < 0)
      return ret;
    GST_DEBUG_OBJECT (self, "frame of %" G_GSIZE_FORMAT " bytes does not "
        "fit from the write position: pad record of %" G_GSIZE_FORMAT
        " bytes", f->hdr + f->payload, f->want);
    f->padding = FALSE;
    f->want = f->hdr + f->payload;
    return -EAGAIN;
  }
  /* The frame fits the ring, but not from the write position however
   * empty the ring gets (docs/protocol.md §4). In the gst format we own
   * both ends: a pad record up to the end of the ring (zbsrc skips it)
   * takes the position to 0, where the frame fits once the reader has
   * read on. From the last 95 bytes a pad record of the smallest size
   * wraps first, the next one reaches the end. Raw frames (and duplex
   * responses, one frame each) cannot do that: -E2BIG. */
  if (ret == -E2BIG && f->may_pad && !f->padding && ++f->pads <= 2) {
    gsize to_end = zb_writer_space_to_end (w);

    f->want = to_end >= ZB_GST_MIN_FRAME ? to_end - ZB_FRAME_HEADER_SIZE :
        ZB_GST_HEADER_SIZE;
    f->padding = TRUE;
    return -EAGAIN;
  }
  return ret;
}

int
gst_zb_sink_frame_commit (GstZbSink * self, GstZbSinkFrame * f,
    zb_writer * w, GstZbPoolConn * conn)
{
  guint8 *payload = (guint8 *) f->dst + f->hdr;
  int ret;

  if (f->rec) {
    zb_gst_record r = *f->rec;

    r.payload_size = f->payload;
    if (f->seg)
      r.type = ZB_GST_RECORD_POOL;
    zb_gst_record_encode (&r, f->dst);
  }
  if (f->seg)
    memcpy (payload, f->pref_bytes, ZB_GST_POOL_REF_SIZE);
  else if (f->buf)
    copy_payload (self, f->buf, f->layout, payload, f->payload);
  else if (f->nbytes)
    memcpy (payload, f->bytes, f->nbytes);
  ret = zb_writer_commit (w);
  if (ret < 0)
    return ret;
  if (f->seg) {
    /* the block is reused once this reader (and every other one it went
     * to) has released this record */
    gst_zb_pool_memory_sent (f->pool_mem, conn, zb_writer_bytes_committed (w));
    sent_segment (self, f->seg);
    f->seg = NULL;
  }
  return 0;
}

void
gst_zb_sink_frame_clear (GstZbSinkFrame * f)
{
  /* not sent: the reference taken for it goes */
  gst_zb_pool_segment_unref (f->seg);
  f->seg = NULL;
}
