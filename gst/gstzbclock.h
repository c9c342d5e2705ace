/* zerobuffer GStreamer plugin - pipeline clocks and CLOCK_MONOTONIC
 *
 * SPDX-License-Identifier: MIT
 *
 * The gst frame format carries times as CLOCK_MONOTONIC nanoseconds
 * (docs/frame-format.md, "Timestamps"): zbsink translates its pipeline
 * clock into them and zbsrc back. Most pipelines run on the system clock,
 * whose times already are CLOCK_MONOTONIC.
 */

#ifndef __GST_ZB_CLOCK_H__
#define __GST_ZB_CLOCK_H__

#include <gst/gst.h>

G_BEGIN_DECLS

/* The last clock asked about and its answer; zero-initialised. Used by one
 * thread at a time (a streaming thread). */
typedef struct
{
  GstClock *clock;              /* a reference */
  gboolean monotonic;
} GstZbClockCache;

/* Whether @clock's time is CLOCK_MONOTONIC: a GstSystemClock (that exact
 * type, not a subclass such as GstNetClientClock) of clock-type MONOTONIC.
 * Any other clock is translated through the offset between its time and
 * CLOCK_MONOTONIC read together. A clock's type is read once (a property
 * lookup), not for every buffer. */
gboolean gst_zb_clock_is_monotonic (GstZbClockCache * cache, GstClock * clock);

/* Drop the cached clock. */
void gst_zb_clock_cache_clear (GstZbClockCache * cache);

/* CLOCK_MONOTONIC now, in ns. */
guint64 gst_zb_monotonic_now (void);

G_END_DECLS
#endif /* __GST_ZB_CLOCK_H__ */
