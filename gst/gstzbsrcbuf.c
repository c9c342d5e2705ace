/* zerobuffer GStreamer plugin - zbsrc's output buffers
 *
 * SPDX-License-Identifier: MIT
 *
 * A frame read from the ring goes downstream wrapped (gstzbringmem.c) or,
 * when downstream already holds too much of the ring, as a copy; raw
 * frames of raw video get a GstVideoMeta or are repacked.
 */

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstzbsrcbuf.h"
#include "gstzbringmem.h"

#include <string.h>

GST_DEBUG_CATEGORY_EXTERN (gst_zb_src_debug);
#define GST_CAT_DEFAULT gst_zb_src_debug

/* Outstanding copies beyond this mean that downstream is holding a
 * backlog (a queue), not just the last buffer (a sink's last sample) or a
 * few reference frames; a wrapped frame would then wait behind the backlog
 * and pin the ring. */
#define MAX_OUTSTANDING_COPIES 2

typedef struct
{
  GstZbReaderRef *ref;
  gpointer data;
} GstZbCopyRef;

/* GstZbRingReleaseFunc: zb_reader_release() is thread-safe */
static void
release_frame (gpointer reader, const zb_frame * frame)
{
  zb_reader_release (reader, frame);
}

GstZbReaderRef *
gst_zb_reader_ref_new (zb_reader * reader)
{
  GstZbReaderRef *ref = g_new0 (GstZbReaderRef, 1);

  ref->refcount = 1;
  ref->reader = reader;
  ref->alloc = gst_zb_ring_allocator_new (reader, release_frame,
      (GDestroyNotify) zb_reader_destroy);
  return ref;
}

GstZbReaderRef *
gst_zb_reader_ref_ref (GstZbReaderRef * ref)
{
  g_atomic_int_inc (&ref->refcount);
  return ref;
}

void
gst_zb_reader_ref_unref (GstZbReaderRef * ref)
{
  if (ref && g_atomic_int_dec_and_test (&ref->refcount)) {
    /* destroys the reader once no wrapped memory is left */
    gst_object_unref (ref->alloc);
    g_free (ref);
  }
}

static void
copy_ref_free (gpointer data)
{
  GstZbCopyRef *cr = data;

  g_atomic_int_add (&cr->ref->outstanding_copies, -1);
  gst_zb_reader_ref_unref (cr->ref);
  g_free (cr->data);
  g_free (cr);
}

static GstBuffer *make_buffer (GstZbReaderRef * ref, guint64 limit,
    zb_frame * frame, GstZbPoolMap * map, const void *data, gsize size,
    guint64 tag, gboolean * copied);

GstBuffer *
gst_zb_reader_ref_make_buffer (GstZbReaderRef * ref, guint64 limit,
    zb_frame * frame, const void *data, gsize size, guint64 tag,
    gboolean * copied)
{
  return make_buffer (ref, limit, frame, NULL, data, size, tag, copied);
}

GstBuffer *
gst_zb_reader_ref_make_pool_buffer (GstZbReaderRef * ref, guint64 limit,
    zb_frame * frame, GstZbPoolMap * map, const void *data, gsize size,
    gboolean * copied)
{
  /* the block lies in the writer's segment, mapped read-only */
  return make_buffer (ref, limit, frame, map, data, size, 0, copied);
}

static GstBuffer *
make_buffer (GstZbReaderRef * ref, guint64 limit, zb_frame * frame,
    GstZbPoolMap * map, const void *data, gsize size, guint64 tag,
    gboolean * copied)
{
  GstBuffer *buf;
  gsize held;

  *copied = FALSE;
  if (size == 0) {
    zb_reader_release (ref->reader, frame);
    return gst_buffer_new ();
  }

  /* held includes this frame, and frames released but not yet credited
   * because an older one is still held (space returns in ring order) */
  held = zb_reader_held_bytes (ref->reader);
  buf = gst_buffer_new ();
  if (held > limit || g_atomic_int_get (&ref->outstanding_copies) >
      MAX_OUTSTANDING_COPIES) {
    GstZbCopyRef *cr = g_new (GstZbCopyRef, 1);

    cr->ref = gst_zb_reader_ref_ref (ref);
    cr->data = g_malloc (size);
    memcpy (cr->data, data, size);
    g_atomic_int_inc (&ref->outstanding_copies);
    zb_reader_release (ref->reader, frame);
    gst_buffer_append_memory (buf, gst_memory_new_wrapped (0, cr->data, size,
            0, size, cr, copy_ref_free));
    *copied = TRUE;
    GST_LOG ("copied %" G_GSIZE_FORMAT " bytes: %" G_GSIZE_FORMAT
        " held > %" G_GUINT64_FORMAT, size, held, limit);
  } else {
    /* the memory releases the frame when it is freed, or when a stalled
     * writer makes gst_zb_ring_allocator_unpin() move it to the heap */
    GstMemory *mem;

    if (map)
      mem = gst_zb_ring_allocator_wrap_full (ref->alloc, frame, data, size,
          gst_zb_pool_map_ref (map), (GDestroyNotify) gst_zb_pool_map_unref);
    else if (tag)
      /* our mapping of the ring is read-write (zb_reader_create) */
      mem = gst_zb_ring_allocator_wrap_writable (ref->alloc, frame,
          (gpointer) data, size, tag);
    else
      mem = gst_zb_ring_allocator_wrap (ref->alloc, frame, data, size);
    gst_buffer_append_memory (buf, mem);
  }
  return buf;
}

/* ------------------------------------------------------------------ */
/* Raw video */

GstBuffer *
gst_zb_src_raw_video_buffer (GstZbSrcRawVideo * raw, GstBaseSrc * src,
    GstCaps * caps, GstBuffer * buf)
{
  GstAllocator *alloc = NULL;
  GstAllocationParams params;
  GstMapInfo in, out;
  GstBuffer *copy;

  if (caps != raw->layout_caps) {
    GstStructure *s;

    gst_caps_replace (&raw->layout_caps, caps);
    s = caps && gst_caps_get_size (caps) == 1 ?
        gst_caps_get_structure (caps, 0) : NULL;
    raw->raw_video = s && gst_structure_has_name (s, "video/x-raw") &&
        gst_video_info_from_caps (&raw->vinfo, caps) &&
        GST_VIDEO_INFO_FORMAT (&raw->vinfo) != GST_VIDEO_FORMAT_ENCODED &&
        gst_zb_video_layouts (&raw->vinfo, &raw->deflt, &raw->packed);
    /* the caps are on the pad now: ask downstream about the meta */
    if (raw->raw_video && !gst_base_src_negotiate (src))
      GST_WARNING_OBJECT (src, "allocation query failed");
  }
  if (!raw->raw_video || gst_buffer_get_size (buf) != raw->packed.size)
    return buf;
  if (g_atomic_int_get (&raw->video_meta_ok)) {
    gst_zb_video_add_meta (buf, &raw->vinfo, &raw->packed);
    return buf;
  }

  gst_base_src_get_allocator (src, &alloc, &params);
  copy = gst_buffer_new_allocate (alloc, raw->deflt.size, &params);
  if (alloc)
    gst_object_unref (alloc);
  if (copy == NULL)
    return buf;
  if (!gst_buffer_map (buf, &in, GST_MAP_READ)) {
    gst_buffer_unref (copy);
    return buf;
  }
  if (!gst_buffer_map (copy, &out, GST_MAP_WRITE)) {
    gst_buffer_unmap (buf, &in);
    gst_buffer_unref (copy);
    return buf;
  }
  gst_zb_video_repack (&raw->packed, in.data, &raw->deflt, out.data);
  gst_buffer_unmap (copy, &out);
  gst_buffer_unmap (buf, &in);
  gst_buffer_copy_into (copy, buf, GST_BUFFER_COPY_METADATA, 0, -1);
  gst_buffer_unref (buf);
  GST_LOG_OBJECT (src, "repacked a raw frame into the default layout");
  return copy;
}

void
gst_zb_src_raw_video_clear (GstZbSrcRawVideo * raw)
{
  gst_caps_replace (&raw->layout_caps, NULL);
  raw->raw_video = FALSE;
}
