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

/* Bounds of the stale key unit and delta units kept for a decoder
 * (gst_zb_src_time_hold_stale()): a GOP of a few seconds of HD video. */
#define HELD_MAX_FRAMES 300
#define HELD_MAX_BYTES (64 * 1024 * 1024)

static void
drop_held (GstZbSrcTime * t)
{
  g_queue_clear_full (&t->held, (GDestroyNotify) gst_buffer_unref);
  t->held_bytes = 0;
  t->held_ready = FALSE;
}

void
gst_zb_src_time_init (GstZbSrcTime * t)
{
  drop_held (t);
  gst_segment_init (&t->segment, GST_FORMAT_TIME);
  t->segment_pending = TRUE;
  t->last_ts = GST_CLOCK_TIME_NONE;
  t->end_rt = 0;
}

void
gst_zb_src_time_clear (GstZbSrcTime * t)
{
  drop_held (t);
  gst_zb_clock_cache_clear (&t->clock_cache);
}

void
gst_zb_src_time_new_writer (GstZbSrcTime * t)
{
  drop_held (t);
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

static gboolean
caps_are_raw (GstCaps * caps)
{
  const gchar *name;

  if (caps == NULL || gst_caps_get_size (caps) == 0)
    return TRUE;
  name = gst_structure_get_name (gst_caps_get_structure (caps, 0));
  return g_str_has_suffix (name, "/x-raw");
}

gboolean
gst_zb_src_time_hold_stale (GstZbSrcTime * t, GstCaps * caps,
    const zb_gst_record * rec, const void *payload, gsize size)
{
  GstBuffer *buf;

  if (rec == NULL || caps_are_raw (caps))
    return FALSE;
  if (!(rec->buffer_flags & GST_BUFFER_FLAG_DELTA_UNIT))
    drop_held (t);              /* a newer key unit: start from it */
  else if (g_queue_is_empty (&t->held))
    return FALSE;               /* no key unit to decode it from */
  if (t->held.length >= HELD_MAX_FRAMES || t->held_bytes + size >
      HELD_MAX_BYTES) {
    GST_DEBUG ("stale GOP too long to keep: dropped");
    drop_held (t);
    return FALSE;
  }
  buf = gst_buffer_new_wrapped (g_memdup2 (payload, size), size);
  GST_BUFFER_FLAG_SET (buf, rec->buffer_flags & GST_BUFFER_FLAG_DELTA_UNIT);
  GST_BUFFER_DURATION (buf) = rec->duration;
  g_queue_push_tail (&t->held, buf);
  t->held_bytes += size;
  return TRUE;
}

GstBuffer *
gst_zb_src_time_release_held (GstZbSrcTime * t, GstBuffer * fresh)
{
  GstBuffer *first;
  GList *l;

  if (g_queue_is_empty (&t->held))
    return fresh;
  /* at the base time, in order: the key unit first, and no later than the
   * fresh frame */
  for (l = t->held.head; l; l = l->next) {
    GstBuffer *b = l->data;

    GST_BUFFER_PTS (b) = 0;
    GST_BUFFER_DTS (b) = GST_BUFFER_DTS_IS_VALID (fresh) ? 0 :
        GST_CLOCK_TIME_NONE;
  }
  GST_DEBUG ("pushing %u kept stale frames (from a key unit) at running "
      "time 0", t->held.length);
  first = g_queue_pop_head (&t->held);
  GST_BUFFER_FLAG_SET (first, GST_BUFFER_FLAG_DISCONT);
  GST_BUFFER_FLAG_UNSET (fresh, GST_BUFFER_FLAG_DISCONT);
  g_queue_push_tail (&t->held, fresh);
  t->held_bytes = 0;
  t->held_ready = TRUE;
  return first;
}

GstBuffer *
gst_zb_src_time_pop_held (GstZbSrcTime * t)
{
  GstBuffer *buf;

  if (!t->held_ready)
    return NULL;
  buf = g_queue_pop_head (&t->held);
  if (g_queue_is_empty (&t->held))
    t->held_ready = FALSE;
  return buf;
}
