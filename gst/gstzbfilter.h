/* zerobuffer GStreamer plugin - zbfilter
 *
 * SPDX-License-Identifier: MIT
 */

#ifndef __GST_ZB_FILTER_H__
#define __GST_ZB_FILTER_H__

#include <gst/gst.h>
#include <gst/base/gstbasetransform.h>

G_BEGIN_DECLS

#define GST_TYPE_ZB_FILTER (gst_zb_filter_get_type ())
G_DECLARE_FINAL_TYPE (GstZbFilter, gst_zb_filter, GST, ZB_FILTER,
    GstBaseTransform)

GST_ELEMENT_REGISTER_DECLARE (zbfilter);

G_END_DECLS
#endif /* __GST_ZB_FILTER_H__ */
