/* zerobuffer GStreamer plugin - pipeline clocks and CLOCK_MONOTONIC
 *
 * SPDX-License-Identifier: MIT
 */

#include "gstzbclock.h"

#include <time.h>

gboolean
gst_zb_clock_is_monotonic (GstZbClockCache * cache, GstClock * clock)
{
  GstClockType type = GST_CLOCK_TYPE_REALTIME;

  if (clock == cache->clock)
    return cache->monotonic;
  gst_object_replace ((GstObject **) & cache->clock, GST_OBJECT (clock));
  /* Only GstSystemClock itself: its subclasses (GstNetClientClock,
   * GstPtpClock) keep clock-type MONOTONIC but follow another clock; they
   * are translated through their own time
   * (tests/gst/test_zbtime.c:test_net_clock). */
  if (G_OBJECT_TYPE (clock) == GST_TYPE_SYSTEM_CLOCK)
    g_object_get (clock, "clock-type", &type, NULL);
  cache->monotonic = type == GST_CLOCK_TYPE_MONOTONIC;
  return cache->monotonic;
}

void
gst_zb_clock_cache_clear (GstZbClockCache * cache)
{
  gst_clear_object (&cache->clock);
}

guint64
gst_zb_monotonic_now (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (guint64) ts.tv_sec * GST_SECOND + (guint64) ts.tv_nsec;
}
