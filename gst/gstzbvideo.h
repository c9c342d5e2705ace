/* zerobuffer GStreamer plugin - raw video layouts shared by the elements
 *
 * SPDX-License-Identifier: MIT
 */

#ifndef __GST_ZB_VIDEO_H__
#define __GST_ZB_VIDEO_H__

#include <gst/gst.h>
#include <gst/video/video.h>

G_BEGIN_DECLS

/* Where each plane of a video frame is in a block of bytes: plane p starts
 * at offset[p] and has rows[p] rows of row_bytes[p] meaningful bytes,
 * stride[p] apart; size is the whole block. */
typedef struct
{
  guint n_planes;
  gsize offset[GST_VIDEO_MAX_PLANES];
  gint stride[GST_VIDEO_MAX_PLANES];
  gint row_bytes[GST_VIDEO_MAX_PLANES];
  gint rows[GST_VIDEO_MAX_PLANES];
  gsize size;
} GstZbLayout;

/* The two layouts of raw video for @info (docs/frame-format.md):
 * @deflt: GStreamer's default layout (the gst frame format);
 * @packed: the raw frame format's layout: each plane's rows packed tightly
 * (row = the bytes of the plane's pixels and nothing more, e.g. width x 3
 * for RGB, width x 4 for BGRx, 4 x ceil (width / 2) for YUY2), planes back
 * to back in GStreamer's plane order. Formats whose pixels do not fill
 * whole bytes (v210, 10-bit packed formats), tiled formats and interlaced
 * video keep the default layout in the raw format too.
 * Returns TRUE if the two differ. */
gboolean gst_zb_video_layouts (const GstVideoInfo * info, GstZbLayout * deflt,
    GstZbLayout * packed);

/* Copy the planes of the mapped @src into @dst (@to->size bytes) in
 * layout @to; bytes between rows and planes are zeroed. */
void gst_zb_video_pack (const GstVideoFrame * src, const GstZbLayout * to,
    guint8 * dst);

/* Copy a frame of layout @from at @src into @dst in layout @to (both of
 * the same video info); bytes between rows and planes are zeroed. */
void gst_zb_video_repack (const GstZbLayout * from, const guint8 * src,
    const GstZbLayout * to, guint8 * dst);

/* Attach a GstVideoMeta that describes @layout to @buf. */
GstVideoMeta *gst_zb_video_add_meta (GstBuffer * buf,
    const GstVideoInfo * info, const GstZbLayout * layout);

G_END_DECLS
#endif /* __GST_ZB_VIDEO_H__ */
