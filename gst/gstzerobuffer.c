/* zerobuffer GStreamer plugin
 *
 * SPDX-License-Identifier: MIT
 */

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <gst/gst.h>

#include "gstzbcompat.h"
#include "gstzbcopy.h"
#include "gstzbfilter.h"
#include "gstzbsink.h"
#include "gstzbsrc.h"

static gboolean
plugin_init (GstPlugin * plugin)
{
  gboolean ret = FALSE;

  gst_zb_copy_debug_init ();
  ret |= GST_ELEMENT_REGISTER (zbsink, plugin);
  ret |= GST_ELEMENT_REGISTER (zbsrc, plugin);
  ret |= GST_ELEMENT_REGISTER (zbfilter, plugin);

  return ret;
}

GST_PLUGIN_DEFINE (GST_VERSION_MAJOR, GST_VERSION_MINOR, zerobuffer,
    "ZeroBuffer shared-memory IPC: zbsink and zbsrc carry buffers, caps, "
    "timestamps and EOS between processes; zbfilter hands each buffer to "
    "another process and pushes back its answer", plugin_init, VERSION,
    /* GStreamer's name for the MIT licence (gst_plugin_desc license; 1.18
     * refuses to load a plugin whose licence it does not know) */
    "MIT/X11", "gstreamer1.0-zerobuffer", "Unknown package origin")
