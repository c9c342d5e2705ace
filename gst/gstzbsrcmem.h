/* zerobuffer GStreamer plugin - zbsrc's memories that wrap ring frames
 *
 * SPDX-License-Identifier: MIT
 */

#ifndef __GST_ZB_SRC_MEM_H__
#define __GST_ZB_SRC_MEM_H__

#include <gst/gst.h>
#include <zerobuffer/zerobuffer.h>

G_BEGIN_DECLS

/* One allocator per zb_reader (per zbsrc start()): it owns the reader and
 * keeps a list of its live ring memories. Every memory holds a reference
 * to its allocator, so the reader lives until the element and every
 * buffer that wraps one of its frames are gone.
 *
 * Call sequence: gst_zb_src_allocator_new() at start, _wrap() for each
 * frame handed downstream, _unpin() when the writer stalls, unref at
 * stop. */

/* A new allocator that owns @reader (destroyed with the allocator); not
 * floating. */
GstAllocator *gst_zb_src_allocator_new (zb_reader * reader);

/* A read-only memory of @size bytes at @data inside @frame (both as
 * zb_reader_read() gave them); takes @frame, which is released when the
 * memory is freed or moved to the heap. Any thread. */
GstMemory *gst_zb_src_allocator_wrap (GstAllocator * allocator,
    const zb_frame * frame, gconstpointer data, gsize size);

/* The same for bytes that lie outside the ring (a pool segment's block,
 * which the writer reuses once @frame is released): @notify(@user_data) is
 * called once the memory no longer points at @data (freed, or moved to
 * the heap). */
GstMemory *gst_zb_src_allocator_wrap_full (GstAllocator * allocator,
    const zb_frame * frame, gconstpointer data, gsize size,
    gpointer user_data, GDestroyNotify notify);

/* Move the bytes of every live ring memory that nobody has mapped (itself
 * or through a sub-memory) to the heap and release its frame, so that the
 * writer gets the space back. Mapped memories stay in the ring. Returns
 * the number moved and adds their bytes to *@bytes (may be NULL). Costs
 * one copy per memory moved; any thread. */
guint gst_zb_src_allocator_unpin (GstAllocator * allocator, guint64 * bytes);

/* Live memories whose bytes are still in the ring. */
guint gst_zb_src_allocator_n_pinned (GstAllocator * allocator);

G_END_DECLS

#endif /* __GST_ZB_SRC_MEM_H__ */
