/* zerobuffer GStreamer plugin - large copies split over several threads
 *
 * SPDX-License-Identifier: MIT
 */

#ifndef __GST_ZB_COPY_H__
#define __GST_ZB_COPY_H__

#include <glib.h>

G_BEGIN_DECLS

/* @rows rows of @row_bytes bytes, from @src (rows @src_stride apart) to
 * @dst (rows @dst_stride apart). */
typedef struct
{
  guint8 *dst;
  const guint8 *src;
  gsize dst_stride;
  gssize src_stride;
  gsize row_bytes;
  guint rows;
} GstZbCopyPlane;

#define GST_ZB_COPY_MAX_PLANES 4

/* A copier runs a copy in the calling thread and @n_threads - 1 helper
 * threads (started at the first copy large enough to share). Helper
 * threads sleep between copies. One caller at a time. */
typedef struct _GstZbCopier GstZbCopier;

/* Registers the debug category "zbcopy" (once; gst_zb_copier_new() calls
 * it too). */
void gst_zb_copy_debug_init (void);

GstZbCopier *gst_zb_copier_new (guint n_threads);
void gst_zb_copier_free (GstZbCopier * copier);

/* Copy @n_planes (at most GST_ZB_COPY_MAX_PLANES) planes; returns when
 * every byte is copied (and visible to other processes in the order of
 * ordinary stores: streamed copies end with a store fence). Copies below a megabyte, and copies that follow
 * the previous one after more than a millisecond (frames of a stream that
 * is not running flat out), stay in the calling thread. Returns whether
 * the helpers were asked to take part. */
gboolean gst_zb_copier_run (GstZbCopier * copier,
    const GstZbCopyPlane * planes, guint n_planes);

/* How many copies so far were made with streaming stores (those of at
 * least 8 MiB, on x86-64: they bypass the caches). Caller's thread. */
guint64 gst_zb_copier_get_streamed (GstZbCopier * copier);

/* Copy @size contiguous bytes; returns as gst_zb_copier_run(). */
gboolean gst_zb_copier_copy (GstZbCopier * copier, guint8 * dst,
    const guint8 * src, gsize size);

G_END_DECLS

#endif /* __GST_ZB_COPY_H__ */
