/* zerobuffer GStreamer plugin - zbsrc's timestamp model
 *
 * SPDX-License-Identifier: MIT
 */

#ifndef __GST_ZB_SRC_TIME_H__
#define __GST_ZB_SRC_TIME_H__

#include <gst/gst.h>
#include <gst/base/gstbasesrc.h>

#include "gstzbclock.h"
#include "gstzbcommon.h"
#include "zbframe.h"

G_BEGIN_DECLS

/* How zbsrc timestamps what it pushes (docs/frame-format.md,
 * "Timestamps"): the writer's presentation moments carried through
 * CLOCK_MONOTONIC into this element's running time (timestamp-mode=clock),
 * the running time at arrival (arrival), or the writer's own PTS and DTS in
 * segments of zbsrc's own (passthrough, and any source that is not live).
 *
 * Call sequence: gst_zb_src_time_init() at start and after a flushing
 * seek, gst_zb_src_time_new_writer() when a writer connects, for each
 * buffer gst_zb_src_time_stamp() and, once the buffer carries the
 * timestamps, gst_zb_src_time_segment(); gst_zb_src_time_clear() at stop.
 * Streaming thread only (or with the streaming thread stopped). */
typedef struct
{
  GstZbClockCache clock_cache;
  GstSegment segment;           /* the segment of the last buffer pushed */
  gboolean segment_pending;     /* a new writer: start a new segment */
  GstClockTime last_ts;         /* DTS, else PTS, of the last buffer */
  GstClockTime end_rt;          /* running time reached so far */
  GQueue held;                  /* stale frames kept for a joining
                                 * decoder: the last key unit and the delta
                                 * units after it (GstBuffer, copies) */
  gsize held_bytes;
  gboolean held_ready;          /* a fresh frame came: push them */
} GstZbSrcTime;

void gst_zb_src_time_init (GstZbSrcTime * t);
void gst_zb_src_time_clear (GstZbSrcTime * t);
void gst_zb_src_time_new_writer (GstZbSrcTime * t);

/* The PTS and DTS of a frame with record @rec (NULL: a raw frame) for
 * @src in @mode; *@writer_ts: they are the writer's own. Returns FALSE
 * when a live source is to drop the frame: the writer presented it before
 * @src's base time (it waited in the ring while the reader was PAUSED, or
 * before the reader joined), so it has no running time here. */
gboolean gst_zb_src_time_stamp (GstZbSrcTime * t, GstBaseSrc * src,
    GstZbTimestampMode mode, const zb_gst_record * rec, GstClockTime * pts,
    GstClockTime * dts, gboolean * writer_ts);

/* A frame that gst_zb_src_time_stamp() found stale (record @rec, its
 * @payload of @size bytes) of a stream with @caps: for an encoded stream
 * (not x-raw), the newest stale key unit and the delta units after it are
 * copied and kept (TRUE: the caller releases the frame), so that a reader
 * that joins, or was PAUSED, starts decoding at a key unit (the key unit
 * that zbsink forces for a joining reader often arrives just before the
 * reader's base time). FALSE: drop it. At most HELD_MAX_FRAMES frames
 * and HELD_MAX_BYTES bytes are kept; beyond that, all are dropped. */
gboolean gst_zb_src_time_hold_stale (GstZbSrcTime * t, GstCaps * caps,
    const zb_gst_record * rec, const void *payload, gsize size);

/* The first fresh frame @fresh (timestamped) ends the stale run: kept
 * frames are pushed first, at the running time of the base time (0),
 * then @fresh. Returns the buffer to push now (ownership); the others
 * come from gst_zb_src_time_pop_held(). */
GstBuffer *gst_zb_src_time_release_held (GstZbSrcTime * t, GstBuffer * fresh);

/* The next kept buffer to push, or NULL (then read the ring). */
GstBuffer *gst_zb_src_time_pop_held (GstZbSrcTime * t);

/* Start a new segment where @buf (timestamped by gst_zb_src_time_stamp())
 * needs one: with the writer's timestamps, one per writer and per backward
 * jump, so that running time never goes backwards; otherwise the [0, inf)
 * segment of running time. */
void gst_zb_src_time_segment (GstZbSrcTime * t, GstBaseSrc * src,
    GstBuffer * buf, gboolean writer_ts);

G_END_DECLS
#endif /* __GST_ZB_SRC_TIME_H__ */
