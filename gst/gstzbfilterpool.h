/* zerobuffer GStreamer plugin - zbfilter's buffer pool
 *
 * SPDX-License-Identifier: MIT
 */

#ifndef __GST_ZB_FILTER_POOL_H__
#define __GST_ZB_FILTER_POOL_H__

#include "gstzbfilter.h"

G_BEGIN_DECLS

/* The pool zbfilter proposes upstream: a buffer lies where its request
 * will be sent from, in the request ring (gst_zb_filter_slot_buffer()),
 * when that is possible, else in the heap like any pool's. Holds a weak
 * reference to @filter. */
GstBufferPool *gst_zb_filter_pool_new (GstZbFilter * filter);

/* zbfilter got @buffer (of any pool, or none): if it is one of such a
 * pool, it is no longer on its way. Streaming thread. */
void gst_zb_filter_pool_arrived (GstBuffer * buffer);

G_END_DECLS
#endif /* __GST_ZB_FILTER_POOL_H__ */
