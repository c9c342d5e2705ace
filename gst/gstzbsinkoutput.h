/* zerobuffer GStreamer plugin - zbsink's fan-out outputs
 *
 * SPDX-License-Identifier: MIT
 *
 * A zbsink buffer-name=NAME writes to the reader of NAME (gstzbsinkwrite.c)
 * and to every reader that names itself NAME@ID (docs/fanout.md): one
 * "output" per such reader, each with its own zb_writer, caps, key-unit
 * wait, back-pressure state and counters. A discovery thread finds the
 * readers (an inotify watch on /dev/shm, no polling) and connects them;
 * only the streaming thread writes frames or lets an output go.
 */

#ifndef __GST_ZB_SINK_OUTPUT_H__
#define __GST_ZB_SINK_OUTPUT_H__

#include "gstzbsink.h"
#include "gstzbcommon.h"

G_BEGIN_DECLS

/* What a full ring of one NAME@ID reader does to a frame. */
typedef enum
{
  GST_ZB_READER_POLICY_AUTO,    /* drop for a live upstream, else block */
  GST_ZB_READER_POLICY_DROP,    /* that reader misses it, at once */
  GST_ZB_READER_POLICY_BLOCK    /* wait up to reader-timeout, then that
                                 * reader is stalled: skipped without a
                                 * wait until its ring has room again */
} GstZbReaderPolicy;

#define GST_TYPE_ZB_READER_POLICY (gst_zb_reader_policy_get_type ())
GType gst_zb_reader_policy_get_type (void);

/* A reader that joins an encoded stream starts at a key unit: delta units
 * are skipped for it (and upstream asked for a key unit once) until one
 * comes, for a bounded number of buffers. One per connection. */
typedef struct
{
  gboolean need_key;
  guint skipped;
} GstZbKeyWait;

/* A new connection: wait for a key unit unless @caps are raw (or NULL). */
void gst_zb_key_wait_start (GstZbKeyWait * wait, GstCaps * caps);

/* TRUE when @buf must be skipped for this connection. Streaming thread
 * (it may push a force-key-unit event upstream). */
gboolean gst_zb_key_wait_skip (GstZbKeyWait * wait, GstZbSink * sink,
    GstBuffer * buf, const gchar * name);

typedef struct _GstZbSinkOutputs GstZbSinkOutputs;

/* Serve the readers of @stream@*: connects those already there and starts
 * the discovery thread. Called by start(). */
GstZbSinkOutputs *gst_zb_sink_outputs_new (GstZbSink * sink,
    const gchar * stream, gint allow_uid, GstZbFrameFormat format);

/* Stop the thread, leave every reader (each sees the writer gone after
 * its last frame; a "zbsink-reader-left" message with reason "stopped"
 * each) and free. NULL is allowed. Called by stop(). */
void gst_zb_sink_outputs_free (GstZbSinkOutputs * outputs);

/* The caps joining readers get in their metadata. Any thread. */
void gst_zb_sink_outputs_set_caps (GstZbSinkOutputs * outputs,
    GstCaps * caps);

/* unlock() / unlock_stop(): wake (and keep waking) a blocked write. */
void gst_zb_sink_outputs_set_flushing (GstZbSinkOutputs * outputs,
    gboolean flushing);

/* Readers connected (and about to be). Any thread. */
guint gst_zb_sink_outputs_count (GstZbSinkOutputs * outputs);

/* One reader's entry in zbsink's stats: the reader of NAME (@id NULL)
 * or of NAME@ID. */
typedef struct
{
  const gchar *name;            /* the buffer it reads */
  const gchar *id;              /* NULL: the reader of NAME */
  guint64 pid;
  guint64 frames;
  guint64 drops;
  guint64 bytes;
  guint64 zero_copy;            /* frames sent as pool records */
  gboolean stalled;
  gdouble utilisation;          /* of its ring, clamped to 0..1 */
} GstZbReaderStats;

/* Append @st as a "zbsink-reader" structure to @array (a GST_TYPE_ARRAY
 * value). */
void gst_zb_sink_reader_stats_append (GValue * array,
    const GstZbReaderStats * st);

/* Append a "zbsink-reader" structure per reader to @array (a
 * GST_TYPE_ARRAY value). Any thread. */
void gst_zb_sink_outputs_append_stats (GstZbSinkOutputs * outputs,
    GValue * array);

/* Write one record (@rec may be NULL for frame-format=raw) with @buf (or
 * nothing) to every reader, per reader-policy. Streaming thread, from
 * render() or wait_event() with the PREROLL_LOCK held: a pause waits for
 * PLAYING and goes on. GST_FLOW_OK, or FLUSHING. */
GstFlowReturn gst_zb_sink_outputs_write (GstZbSinkOutputs * outputs,
    const zb_gst_record * rec, GstBuffer * buf);

/* Write record @rec with @size bytes of @data (an error record) to every
 * reader, each waiting up to @timeout_ms for room. Only while no streaming
 * thread runs (stop()). NULL @outputs is allowed. */
void gst_zb_sink_outputs_write_record (GstZbSinkOutputs * outputs,
    const zb_gst_record * rec, const void *data, gsize size, gint timeout_ms);

G_END_DECLS
#endif /* __GST_ZB_SINK_OUTPUT_H__ */
