/* zerobuffer GStreamer plugin - zbsink's buffer pool in pool segments
 *
 * SPDX-License-Identifier: MIT
 */

#ifndef __GST_ZB_SINK_POOL_H__
#define __GST_ZB_SINK_POOL_H__

#include <gst/gst.h>
#include <gst/video/video.h>
#include <zerobuffer/zerobuffer.h>

#include "zbframe.h"

G_BEGIN_DECLS

/* What the pools need to know of one of zbsink's connections: whether
 * the reader has released the ring frame that referenced a block. One for
 * the reader of NAME (per sink) and one per NAME@ID output; every block
 * and segment sent over it holds a reference (they may outlive the sink). */
typedef struct _GstZbPoolConn GstZbPoolConn;

GstZbPoolConn *gst_zb_pool_conn_new (void);
GstZbPoolConn *gst_zb_pool_conn_ref (GstZbPoolConn * conn);
/* Accepts NULL. */
void gst_zb_pool_conn_unref (GstZbPoolConn * conn);

/* The sink connected @writer to reader @reader_pid: a new connection.
 * Streaming thread. */
void gst_zb_pool_conn_connected (GstZbPoolConn * conn, zb_writer * writer,
    guint64 reader_pid);
/* Before zb_writer_disconnect(): nobody reads the writer after this. */
void gst_zb_pool_conn_disconnected (GstZbPoolConn * conn);

/* A pool for @buffer_name (names its segments). A block is reused once
 * every connection it was sent over released it. Not floating. */
GstBufferPool *gst_zb_sink_pool_new (const gchar * buffer_name);

/* A free block of @pool for zbsink to copy a buffer of @size bytes into,
 * as a new memory of @size bytes (sent as a pool record like upstream's
 * blocks); NULL when none is free and the blocks for copies are all made
 * (a few at most), or @size does not fit a block. Not a fallback.
 * Streaming thread. */
GstMemory *gst_zb_sink_pool_copy_block (GstBufferPool * pool, gsize size);

/* Fallbacks so far: buffers handed out as plain memory because every
 * block was in use and the pool could not grow. */
guint64 gst_zb_sink_pool_get_fallbacks (GstBufferPool * pool);

/* A pool segment as the sink tracks it. */
typedef struct _GstZbPoolSegment GstZbPoolSegment;

/* If @mem is a block of one of our pools, fill @ref (its segment and the
 * bytes @mem spans) and return its segment (a new reference); else NULL. */
GstZbPoolSegment *gst_zb_pool_memory_ref (GstMemory * mem,
    zb_gst_pool_ref * ref);

/* Is @mem (or its parent) a block of one of our pools? */
gboolean gst_zb_pool_memory_is_ours (GstMemory * mem);

/* The record that references @mem was committed on the current
 * connection of @conn with zb_writer_bytes_committed() == @mark: the block
 * (and its segment's name) stays until that reader has released it, as
 * well as every other reader it was sent to. Makes @mem read-only (a later
 * write map copies). Streaming thread. */
void gst_zb_pool_memory_sent (GstMemory * mem, GstZbPoolConn * conn,
    guint64 mark);

/* Has every reader released the last record that referenced @seg (over
 * its connection)? TRUE when all have, or are gone. Streaming thread. */
gboolean gst_zb_pool_segment_released (GstZbPoolSegment * seg);
void gst_zb_pool_segment_unref (GstZbPoolSegment * seg);

G_END_DECLS
#endif /* __GST_ZB_SINK_POOL_H__ */
