/* zerobuffer GStreamer plugin - raw video layouts shared by the elements
 *
 * SPDX-License-Identifier: MIT
 */

/* One definition of the raw frame format's video layout for zbsink (what
 * it writes), zbsrc (what it reads and describes with a GstVideoMeta) and
 * zbfilter (its requests and responses). See gstzbvideo.h. */

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstzbvideo.h"

#include <string.h>

/* The bytes of one row of plane @p with nothing after the last pixel, and
 * its number of rows; 0 when the plane's pixels are not whole bytes
 * (pixel stride 0: v210 and the like) or it has no component. */
static gint
packed_row_bytes (const GstVideoInfo * info, guint p, gint * rows)
{
  const GstVideoFormatInfo *finfo = info->finfo;
  gint row = 0, height = 0;
  guint c;

  for (c = 0; c < GST_VIDEO_FORMAT_INFO_N_COMPONENTS (finfo); c++) {
    gint ps, w, end;

    if (GST_VIDEO_FORMAT_INFO_PLANE (finfo, c) != p)
      continue;
    ps = GST_VIDEO_FORMAT_INFO_PSTRIDE (finfo, c);
    w = GST_VIDEO_INFO_COMP_WIDTH (info, c);
    if (ps <= 0 || w <= 0)
      return 0;
    /* the last byte of the component's last pixel: for YUY2 at an odd
     * width the last macropixel's V is past width x 2 */
    end = GST_VIDEO_FORMAT_INFO_POFFSET (finfo, c) + ps * (w - 1) +
        (GST_VIDEO_FORMAT_INFO_SHIFT (finfo, c) +
        GST_VIDEO_FORMAT_INFO_DEPTH (finfo, c) + 7) / 8;
    row = MAX (row, MAX (ps * w, end));
    height = MAX (height, GST_VIDEO_INFO_COMP_HEIGHT (info, c));
  }
  *rows = height;
  return row;
}

gboolean
gst_zb_video_layouts (const GstVideoInfo * info, GstZbLayout * deflt,
    GstZbLayout * packed)
{
  const GstVideoFormatInfo *finfo = info->finfo;
  gboolean packable = !GST_VIDEO_FORMAT_INFO_IS_TILED (finfo) &&
      !GST_VIDEO_INFO_IS_INTERLACED (info);
  gsize offset = 0;
  guint p;

  memset (deflt, 0, sizeof (GstZbLayout));
  memset (packed, 0, sizeof (GstZbLayout));
  deflt->n_planes = packed->n_planes = GST_VIDEO_INFO_N_PLANES (info);

  for (p = 0; p < deflt->n_planes; p++) {
    gint stride = GST_VIDEO_INFO_PLANE_STRIDE (info, p);
    gint rows = 0, row = packed_row_bytes (info, p, &rows);

    if (row <= 0 || rows <= 0 || row > stride)
      packable = FALSE;
    if (rows <= 0) {
      gint comps[GST_VIDEO_MAX_COMPONENTS];

      gst_video_format_info_component (finfo, p, comps);
      rows = comps[0] >= 0 ? GST_VIDEO_INFO_COMP_HEIGHT (info, comps[0]) : 0;
    }
    deflt->offset[p] = GST_VIDEO_INFO_PLANE_OFFSET (info, p);
    deflt->stride[p] = stride;
    deflt->rows[p] = rows;
    deflt->row_bytes[p] = row > 0 && row <= stride ? row : stride;

    packed->offset[p] = offset;
    packed->stride[p] = row;
    packed->rows[p] = rows;
    packed->row_bytes[p] = row;
    offset += (gsize) MAX (row, 0) * (gsize) MAX (rows, 0);
  }
  deflt->size = GST_VIDEO_INFO_SIZE (info);
  packed->size = offset;
  if (!packable)
    *packed = *deflt;
  return memcmp (packed, deflt, sizeof (GstZbLayout)) != 0;
}

/* Plane @p of @to from @src (rows @sstride apart), the tail of every row
 * and the gap up to the next plane (or the end) zeroed. */
static void
copy_plane (const GstZbLayout * to, guint p, const guint8 * src,
    gint sstride, gint src_row_bytes, guint8 * dst)
{
  guint8 *d = dst + to->offset[p];
  gsize n = (gsize) MIN (to->row_bytes[p], src_row_bytes);
  gsize end = p + 1 < to->n_planes ? to->offset[p + 1] : to->size;
  gsize used;
  gint r;

  for (r = 0; r < to->rows[p]; r++) {
    memcpy (d, src, n);
    if ((gsize) to->stride[p] > n)
      memset (d + n, 0, to->stride[p] - n);
    d += to->stride[p];
    src += sstride;
  }
  used = to->offset[p] + (gsize) to->stride[p] * (gsize) to->rows[p];
  if (end > used)
    memset (dst + used, 0, end - used);
}

void
gst_zb_video_pack (const GstVideoFrame * src, const GstZbLayout * to,
    guint8 * dst)
{
  guint p;

  if (to->n_planes > 0 && to->offset[0] > 0)
    memset (dst, 0, to->offset[0]);
  for (p = 0; p < to->n_planes && p < GST_VIDEO_FRAME_N_PLANES (src); p++) {
    gint ss = GST_VIDEO_FRAME_PLANE_STRIDE (src, p);

    copy_plane (to, p, GST_VIDEO_FRAME_PLANE_DATA (src, p), ss, ABS (ss), dst);
  }
}

void
gst_zb_video_repack (const GstZbLayout * from, const guint8 * src,
    const GstZbLayout * to, guint8 * dst)
{
  guint p;

  if (to->n_planes > 0 && to->offset[0] > 0)
    memset (dst, 0, to->offset[0]);
  for (p = 0; p < to->n_planes && p < from->n_planes; p++)
    copy_plane (to, p, src + from->offset[p], from->stride[p],
        from->row_bytes[p], dst);
}

GstVideoMeta *
gst_zb_video_add_meta (GstBuffer * buf, const GstVideoInfo * info,
    const GstZbLayout * layout)
{
  return gst_buffer_add_video_meta_full (buf, GST_VIDEO_FRAME_FLAG_NONE,
      GST_VIDEO_INFO_FORMAT (info), GST_VIDEO_INFO_WIDTH (info),
      GST_VIDEO_INFO_HEIGHT (info), layout->n_planes,
      (gsize *) layout->offset, (gint *) layout->stride);
}
