/* zerobuffer GStreamer plugin - zbsrc's output buffers
 *
 * SPDX-License-Identifier: MIT
 */

#ifndef __GST_ZB_SRC_BUF_H__
#define __GST_ZB_SRC_BUF_H__

#include <gst/gst.h>
#include <gst/base/gstbasesrc.h>
#include <gst/video/video.h>
#include <zerobuffer/zerobuffer.h>

#include "gstzbvideo.h"
#include "gstzbpoolshm.h"

G_BEGIN_DECLS

/* The reader outlives every buffer that wraps one of its frames: the
 * element holds one reference from start() to stop(), every copied buffer
 * one more; the ring allocator (gstzbringmem.h) owns the reader and every
 * wrapped memory holds the allocator, so the last of them destroys the
 * reader.
 *
 * Call sequence: gst_zb_reader_ref_new() at start, then for each frame
 * gst_zb_reader_ref_make_buffer() (and gst_zb_src_raw_video_buffer() for
 * raw frames), gst_zb_reader_ref_unref() at stop. */
typedef struct
{
  gint refcount;                /* atomic */
  zb_reader *reader;            /* owned by alloc */
  GstAllocator *alloc;          /* gstzbringmem.h: wraps frames */
  gint outstanding_copies;      /* atomic: copied buffers not yet freed */
} GstZbReaderRef;

/* A reference holder for @reader, which it takes (the reader is destroyed
 * when the holder and every buffer wrapping one of its frames are gone). */
GstZbReaderRef *gst_zb_reader_ref_new (zb_reader * reader);
GstZbReaderRef *gst_zb_reader_ref_ref (GstZbReaderRef * ref);
/* Accepts NULL. */
void gst_zb_reader_ref_unref (GstZbReaderRef * ref);

/* The output buffer for @size bytes at @data inside @frame; takes @frame
 * (releases it, or hands it to the buffer). The buffer wraps the frame
 * read-only (@tag 0) or writable, tagged @tag
 * (gst_zb_ring_allocator_wrap_writable(): a duplex request, which an
 * in-place transform may change where it lies), or holds a copy when
 * downstream holds more than @limit bytes of the ring or a backlog of
 * earlier copies; *@copied says which. Any thread. */
GstBuffer *gst_zb_reader_ref_make_buffer (GstZbReaderRef * ref,
    guint64 limit, zb_frame * frame, const void *data, gsize size,
    guint64 tag, gboolean * copied);

/* The same for @size bytes at @data in the pool segment @map (a pool
 * record): the wrapping memory holds @frame and a reference to @map. */
GstBuffer *gst_zb_reader_ref_make_pool_buffer (GstZbReaderRef * ref,
    guint64 limit, zb_frame * frame, GstZbPoolMap * map, const void *data,
    gsize size, gboolean * copied);

/* Raw frames of raw video have their rows packed tightly
 * (docs/frame-format.md); the layouts of the current caps. Streaming
 * thread, except video_meta_ok (atomic). Zero-initialised; cleared with
 * gst_zb_src_raw_video_clear(). */
typedef struct
{
  GstCaps *layout_caps;         /* the caps the layouts are of */
  gboolean raw_video;           /* the packed layout is not the default */
  GstVideoInfo vinfo;
  GstZbLayout deflt;
  GstZbLayout packed;
  gint video_meta_ok;           /* atomic: downstream reads GstVideoMeta */
} GstZbSrcRawVideo;

/* A raw frame @buf of @caps (those on @src's pad): describe it with a
 * GstVideoMeta when downstream reads it, else repack it into GStreamer's
 * default layout; anything else goes out as it is. New caps trigger an
 * ALLOCATION query (gst_base_src_negotiate()). Takes @buf, returns it or
 * its replacement. */
GstBuffer *gst_zb_src_raw_video_buffer (GstZbSrcRawVideo * raw,
    GstBaseSrc * src, GstCaps * caps, GstBuffer * buf);

void gst_zb_src_raw_video_clear (GstZbSrcRawVideo * raw);

G_END_DECLS
#endif /* __GST_ZB_SRC_BUF_H__ */
