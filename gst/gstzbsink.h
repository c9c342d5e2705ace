/* zerobuffer GStreamer plugin - zbsink
 *
 * SPDX-License-Identifier: MIT
 */

#ifndef __GST_ZB_SINK_H__
#define __GST_ZB_SINK_H__

#include <gst/gst.h>
#include <gst/base/gstbasesink.h>

G_BEGIN_DECLS

#define GST_TYPE_ZB_SINK (gst_zb_sink_get_type ())
G_DECLARE_FINAL_TYPE (GstZbSink, gst_zb_sink, GST, ZB_SINK, GstBaseSink)

GST_ELEMENT_REGISTER_DECLARE (zbsink);

G_END_DECLS
#endif /* __GST_ZB_SINK_H__ */
