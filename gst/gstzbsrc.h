/* zerobuffer GStreamer plugin - zbsrc
 *
 * SPDX-License-Identifier: MIT
 */

#ifndef __GST_ZB_SRC_H__
#define __GST_ZB_SRC_H__

#include <gst/gst.h>
#include <gst/base/gstpushsrc.h>

G_BEGIN_DECLS

#define GST_TYPE_ZB_SRC (gst_zb_src_get_type ())
G_DECLARE_FINAL_TYPE (GstZbSrc, gst_zb_src, GST, ZB_SRC, GstPushSrc)

GST_ELEMENT_REGISTER_DECLARE (zbsrc);

G_END_DECLS
#endif /* __GST_ZB_SRC_H__ */
