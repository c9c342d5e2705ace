/* zerobuffer GStreamer plugin - zbsrc's timestamp model
 *
 * SPDX-License-Identifier: MIT
 */

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstzbsrctime.h"

GST_DEBUG_CATEGORY_EXTERN (gst_zb_src_debug);
#define GST_CAT_DEFAULT gst_zb_src_debug

void
gst_zb_src_time_init (GstZbSrcTime * t)
{
  gst_segment_init (&t->segment, GST_FORMAT_TIME);
  t->segment_pending = TRUE;
  t->last_ts = GST_CLOCK_TIME_NONE;
  t->end_rt = 0;
}

void
gst_zb_src_time_clear (GstZbSrcTime * t)
{
  gst_zb_clock_cache_clear (&t->clock_cache);
}

void
gst_zb_src_time_new_writer (GstZbSrcTime * t)
{
  t->segment_pending = TRUE;
}

/* Translate a CLOCK_MONOTONIC time into running time of this element:
 * GST_CLOCK_TIME_NONE for none and for times before the base time. */
static GstClockTime
monotonic_to_running_time (GstZbSrcTime * t, GstClock * clock,
    GstClockTime base, guint64 mono)
{
  GstClockTime ctime;

  if (mono == ZB_GST_NONE)
    return GST_CLOCK_TIME_NONE;
  if (gst_zb_clock_is_monotonic (&t->clock_cache, clock)) {
    ctime = mono;
  } else {
    /* the clock's time and CLOCK_MONOTONIC read together */
    gint64 diff = (gint64) (mono - gst_zb_monotonic_now ());
    GstClockTime now = gst_clock_get_time (clock);

    if (diff < 0 && (guint64) (-diff) > now)
      return GST_CLOCK_TIME_NONE;
    ctime = now + diff;
  }
  return ctime >= base ? ctime - base : GST_CLOCK_TIME_NONE;
}

/* tests/gst/test_zbtime.c:test_paused_live_reader,
 * :test_late_joining_reader pin the dropping of stale frames. */
gboolean
gst_zb_src_time_stamp (GstZbSrcTime * t, GstBaseSrc * src,
    GstZbTimestampMode mode, const zb_gst_record * rec, GstClockTime * pts,
    GstClockTime * dts, gboolean * writer_ts)
{
  GstClock *clock;
  GstClockTime base;
  gboolean keep = TRUE;

  *pts = *dts = GST_CLOCK_TIME_NONE;
  *writer_ts = FALSE;
  if (mode == GST_ZB_TIMESTAMP_PASSTHROUGH || !gst_base_src_is_live (src)) {
    /* the writer's own values, in segments of their own
     * (gst_zb_src_time_segment()); a non-live source runs before it has a
     * clock (preroll), so it never maps through one */
    if (rec) {
      *pts = rec->pts;
      *dts = rec->dts;
      *writer_ts = TRUE;
    }
    return TRUE;
  }

  clock = gst_element_get_clock (GST_ELEMENT (src));
  if (clock == NULL)
    return TRUE;
  base = gst_element_get_base_time (GST_ELEMENT (src));

  if (rec && mode == GST_ZB_TIMESTAMP_CLOCK
      && (rec->ts_flags & ZB_GST_TS_CLOCK_VALID)) {
    *pts = monotonic_to_running_time (t, clock, base, rec->pts_clock);
    *dts = monotonic_to_running_time (t, clock, base, rec->dts_clock);
    /* stale: its PTS (or DTS, without a PTS) is before the base time */
    if (rec->pts_clock != ZB_GST_NONE)
      keep = GST_CLOCK_TIME_IS_VALID (*pts);
    else if (rec->dts_clock != ZB_GST_NONE)
      keep = GST_CLOCK_TIME_IS_VALID (*dts);
  } else {
    GstClockTime now = gst_clock_get_time (clock);

    *pts = now > base ? now - base : 0;
  }
  gst_object_unref (clock);
  return keep;
}

/* The writer's PTS and DTS are output unchanged (timestamp-mode=passthrough,
 * or is-live=false): they are in the writer's segment, which the frames do
 * not carry. Each run of them gets a segment of its own that starts at its
 * first timestamp, from the running time reached so far (in a live source:
 * at least the running time now), so running time never goes backwards:
 * a new segment when a new writer connects and when the timestamps go
 * backwards (the writer seeked or flushed; a stream whose PTS are
 * reordered carries DTS). tests/gst/test_zbtime.c:test_not_live_reader,
 * :test_writer_restart, :test_writer_seek. */
static void
writer_segment (GstZbSrcTime * t, GstBaseSrc * src, GstBuffer * buf)
{
  GstClockTime ts = GST_BUFFER_DTS_OR_PTS (buf);
  GstClockTime rt, end;

  if (!GST_CLOCK_TIME_IS_VALID (ts))
    return;
  if (t->segment_pending || (GST_CLOCK_TIME_IS_VALID (t->last_ts)
          && ts < t->last_ts)) {
    GstSegment seg;
    GstClockTime base = t->end_rt;

    if (gst_base_src_is_live (src)) {
      GstClock *clock = gst_element_get_clock (GST_ELEMENT (src));

      if (clock) {
        GstClockTime now = gst_clock_get_time (clock);
        GstClockTime btime = gst_element_get_base_time (GST_ELEMENT (src));

        if (now > btime)
          base = MAX (base, now - btime);
        gst_object_unref (clock);
      }
    }
    gst_segment_init (&seg, GST_FORMAT_TIME);
    seg.start = seg.time = seg.position = ts;
    seg.base = base;
    if (gst_base_src_new_segment (src, &seg)) {
      GST_DEBUG_OBJECT (src, "new segment %" GST_SEGMENT_FORMAT, &seg);
      gst_segment_copy_into (&seg, &t->segment);
    }
    t->segment_pending = FALSE;
  }
  t->last_ts = ts;

  /* the running time this buffer reaches */
  rt = gst_segment_to_running_time (&t->segment, GST_FORMAT_TIME,
      GST_BUFFER_PTS_IS_VALID (buf) ? GST_BUFFER_PTS (buf) : ts);
  if (GST_CLOCK_TIME_IS_VALID (rt)) {
    end = rt + (GST_BUFFER_DURATION_IS_VALID (buf) ?
        GST_BUFFER_DURATION (buf) : 0);
    t->end_rt = MAX (t->end_rt, end);
  }
}

/* Running time of this element's clock (timestamp-mode changed from
 * passthrough while live): back to the [0, inf) segment. */
static void
running_time_segment (GstZbSrcTime * t, GstBaseSrc * src)
{
  GstSegment seg;

  gst_segment_init (&seg, GST_FORMAT_TIME);
  if (t->segment.start == seg.start && t->segment.base == seg.base)
    return;
  gst_base_src_new_segment (src, &seg);
  gst_segment_copy_into (&seg, &t->segment);
  t->segment_pending = TRUE;
}

void
gst_zb_src_time_segment (GstZbSrcTime * t, GstBaseSrc * src,
    GstBuffer * buf, gboolean writer_ts)
{
  if (writer_ts)
    writer_segment (t, src, buf);
  else
    running_time_segment (t, src);
}
