/* zerobuffer GStreamer plugin - the zerobuffer:// URI of zbsrc and zbsink
 *
 * SPDX-License-Identifier: MIT
 *
 * zerobuffer://NAME[?KEY=VALUE[&KEY=VALUE]...] (docs/elements.md, "The
 * zerobuffer:// URI"): NAME is the buffer-name, each KEY a writable
 * property of the element, each VALUE that property's value as
 * gst-launch-1.0 would take it, percent-encoded where the URI syntax
 * needs it. The element files only hook these into their type:
 *
 *   G_DEFINE_TYPE_WITH_CODE (GstZbSrc, gst_zb_src, GST_TYPE_PUSH_SRC,
 *       G_IMPLEMENT_INTERFACE (GST_TYPE_URI_HANDLER,
 *           gst_zb_uri_src_handler_init));
 */

#ifndef __GST_ZB_URI_H__
#define __GST_ZB_URI_H__

#include <gst/gst.h>

G_BEGIN_DECLS

#define GST_ZB_URI_PROTOCOL "zerobuffer"

/* GInterfaceInitFunc of GstURIHandler: a source handler (GST_URI_SRC,
 * zbsrc) and a sink handler (GST_URI_SINK, zbsink) of "zerobuffer". Both
 * work through the element's properties only. */
void gst_zb_uri_src_handler_init (gpointer g_iface, gpointer iface_data);
void gst_zb_uri_sink_handler_init (gpointer g_iface, gpointer iface_data);

G_END_DECLS
#endif /* __GST_ZB_URI_H__ */
