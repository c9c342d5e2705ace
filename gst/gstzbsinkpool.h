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

/* What the pools need to know of zbsink's connection: whether the reader
 * has released the ring frame that referenced a block. One per sink,
 * shared with every pool it made (pools and their memories may outlive
 * the sink). */
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

/* A pool for @buffer_name (names its segments) whose blocks are released
 * per @conn. Not floating. */
GstBufferPool *gst_zb_sink_pool_new (const gchar * buffer_name,
    GstZbPoolConn * conn);

/* Fallbacks so far: buffers handed out as plain memory because every
 * block was in use and the pool could not grow. */
guint64 gst_zb_sink_pool_get_fallbacks (GstBufferPool * pool);

/* A pool segment as the sink tracks it. */
typedef struct _GstZbPoolSegment GstZbPoolSegment;

/* If @mem is a block of one of our pools, fill @ref (its segment and the
 * bytes @mem spans) and return its segment (a new reference); else NULL. */
GstZbPoolSegment *gst_zb_pool_memory_ref (GstMemory * mem,
    zb_gst_pool_ref * ref);

/* The record that references @mem was committed on connection @conn_serial
 * (gst_zb_pool_conn_serial()) with zb_writer_bytes_committed() == @mark:
 * the block is reused only once the reader has released it. Makes @mem
 * read-only (a later write map copies). Streaming thread. */
void gst_zb_pool_memory_sent (GstMemory * mem, GstZbPoolConn * conn,
    guint64 mark);

/* Has the reader released the last record that referenced @seg? TRUE when
 * it has, or when that reader is gone. */
gboolean gst_zb_pool_segment_released (GstZbPoolSegment * seg,
    GstZbPoolConn * conn);
void gst_zb_pool_segment_unref (GstZbPoolSegment * seg);

G_END_DECLS
#endif /* __GST_ZB_SINK_POOL_H__ */
