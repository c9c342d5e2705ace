/* zerobuffer GStreamer plugin - memories that wrap frames of a ring
 *
 * SPDX-License-Identifier: MIT
 */

#ifndef __GST_ZB_RING_MEM_H__
#define __GST_ZB_RING_MEM_H__

#include <gst/gst.h>
#include <zerobuffer/zerobuffer.h>

G_BEGIN_DECLS

/* One allocator per owner of frames: zbsrc's zb_reader (one per start()),
 * zbfilter's zb_duplex_client (one per connection). The allocator owns
 * the owner and keeps a list of its live ring memories. Every memory holds
 * a reference to its allocator; the owner is destroyed with the allocator,
 * or earlier once detached (gst_zb_ring_allocator_detach()) and no memory
 * points into it any more.
 *
 * Call sequence: gst_zb_ring_allocator_new() with the owner, _wrap() for
 * each frame handed downstream, _unpin() when the peer may wait for the
 * space, then either unref (the owner lives until the last memory is gone)
 * or _detach() + _wait_detached() + unref (the owner goes as soon as no
 * memory points into it: e.g. before its names are created again). */

/* Give back @frame (as the owner handed it out) to @owner. Called once
 * per wrapped frame, from any thread, with the allocator's lock held: it
 * must not block nor call back into the allocator. */
typedef void (*GstZbRingReleaseFunc) (gpointer owner, const zb_frame * frame);

/* A new allocator that owns @owner: @release gives frames back, @destroy
 * (may be NULL) destroys @owner once no memory points into it (see
 * above). Not floating. */
GstAllocator *gst_zb_ring_allocator_new (gpointer owner,
    GstZbRingReleaseFunc release, GDestroyNotify destroy);

/* A read-only memory of @size bytes at @data inside @frame (both as the
 * owner gave them); takes @frame, which is released when the memory is
 * freed or moved to the heap. Any thread. */
GstMemory *gst_zb_ring_allocator_wrap (GstAllocator * allocator,
    const zb_frame * frame, gconstpointer data, gsize size);

/* The same for bytes that lie outside the ring (a pool segment's block,
 * which the writer reuses once @frame is released): @notify(@user_data) is
 * called once the memory no longer points at @data (freed, or moved to
 * the heap). */
GstMemory *gst_zb_ring_allocator_wrap_full (GstAllocator * allocator,
    const zb_frame * frame, gconstpointer data, gsize size,
    gpointer user_data, GDestroyNotify notify);

/* A writable memory (no GST_MEMORY_FLAG_READONLY) of @size bytes at
 * @data inside @frame, for an owner whose mapping of the ring is
 * read-write and whose peer reads back what is written there (zbsrc
 * channel-name: the server's request ring). @tag, not 0, names what the
 * frame belongs to (zbsrc: the client's generation) for
 * gst_zb_ring_memory_in_ring(). A write map while the bytes are still in
 * the ring writes into the ring; once moved to the heap, into the copy.
 * Sub-memories (gst_memory_share()) stay read-only, as always. As
 * _wrap() otherwise. */
GstMemory *gst_zb_ring_allocator_wrap_writable (GstAllocator * allocator,
    const zb_frame * frame, gpointer data, gsize size, guint64 tag);

/* Are @mem's bytes (a memory of any allocator, or a sub-memory of a ring
 * memory) still in the ring, in a frame that _wrap_writable() wrapped
 * with @tag? Then *@frame is that frame, as the owner gave it. @mem must
 * be mapped by the caller (the map keeps it from moving to the heap)
 * until it no longer relies on the answer. Any thread. */
gboolean gst_zb_ring_memory_in_ring (GstMemory * mem, guint64 tag,
    zb_frame * frame);

/* Make @mem's root read-only (GST_MEMORY_FLAG_READONLY) for good: a write
 * map from now on copies it, as for any read-only memory. zbsink does this
 * when it answers a request in place: the client reads those bytes after
 * zbsink has dropped its buffer, while another holder of that buffer (a
 * tee's other branch) could otherwise write into them. Call it while
 * holding a reference to a buffer of @mem, so that nobody else can have it
 * mapped for writing. Any thread. */
void gst_zb_ring_memory_seal (GstMemory * mem);

/* Take @mem (a root memory of _wrap_writable() with @tag, that nobody has
 * mapped, of an allocator not detached) out of the allocator: *@frame is
 * its frame, which the caller now owns (the memory's free releases
 * nothing), and the memory can no longer be mapped. zbfilter does this
 * when it sends a buffer of its pool where it lies in the request ring.
 * FALSE (nothing changed) otherwise. The caller must hold the only
 * reference to @mem. Any thread. */
gboolean gst_zb_ring_memory_take (GstMemory * mem, guint64 tag,
    zb_frame * frame);

/* As _unpin() for the memories wrapped with @tag (not 0) only. TRUE when
 * none of them is left in the ring (moved, freed, or none), FALSE when
 * one is mapped. */
gboolean gst_zb_ring_allocator_unpin_tag (GstAllocator * allocator,
    guint64 tag);

/* Move the bytes of every live ring memory that nobody has mapped (itself
 * or through a sub-memory) to the heap and release its frame, so that the
 * peer gets the space back. Mapped memories stay in the ring. Returns the
 * number moved and adds their bytes to *@bytes (may be NULL). Costs one
 * copy per memory moved; any thread. */
guint gst_zb_ring_allocator_unpin (GstAllocator * allocator, guint64 * bytes);

/* Live memories whose bytes are still in the ring, and their bytes. */
guint gst_zb_ring_allocator_n_pinned (GstAllocator * allocator);
guint64 gst_zb_ring_allocator_pinned_bytes (GstAllocator * allocator);

/* The caller no longer uses the owner: move every memory that nobody has
 * mapped to the heap now (as _unpin()), every other one as soon as it is
 * unmapped, and destroy the owner once none is left in the ring: at once
 * when none is mapped, else in the thread of the last unmap or free. No
 * frame may be wrapped after this. Returns the number of memories moved
 * now. Any thread. */
guint gst_zb_ring_allocator_detach (GstAllocator * allocator);

/* After _detach(): wait until the owner has been destroyed, up to
 * @end_time (g_get_monotonic_time() clock) or until
 * gst_zb_ring_allocator_wakeup(). TRUE when it has. Any thread. */
gboolean gst_zb_ring_allocator_wait_detached (GstAllocator * allocator,
    gint64 end_time);

/* End a wait in _wait_detached() now (it returns FALSE unless the owner
 * is gone). Any thread. */
void gst_zb_ring_allocator_wakeup (GstAllocator * allocator);

G_END_DECLS

#endif /* __GST_ZB_RING_MEM_H__ */
