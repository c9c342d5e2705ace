/* zerobuffer GStreamer plugin - the newer GStreamer and GLib API we use,
 * for the oldest versions we support
 *
 * SPDX-License-Identifier: MIT
 *
 * We build against GStreamer 1.18 (Debian 11) through 1.26 and GLib 2.66
 * and newer. Code uses the newer API as it is; this header fills it in
 * for the older versions, each shim behind the version check of the
 * release that brought the API, so that it vanishes on a newer one.
 *
 * gstzbcommon.h includes it, and so does gstzerobuffer.c. The element
 * headers use GST_ELEMENT_REGISTER_DECLARE before they include
 * gstzbcommon.h: for GStreamer older than 1.20 gst/meson.build also passes
 * it to the compiler with -include, ahead of every plugin source.
 */

#ifndef __GST_ZB_COMPAT_H__
#define __GST_ZB_COMPAT_H__

#include <gst/gst.h>
#include <string.h>

/* GStreamer 1.20: GST_ELEMENT_REGISTER_DECLARE/DEFINE, GST_ELEMENT_REGISTER
 * (gst/gstelement.h). Same names and calling convention: DEFINE makes a
 * function gst_element_register_NAME (plugin) that registers the type. */
#if !GST_CHECK_VERSION(1, 20, 0) && !defined (GST_ELEMENT_REGISTER_DEFINE)
#define GST_ELEMENT_REGISTER_DECLARE(element) \
G_BEGIN_DECLS \
gboolean gst_element_register_##element (GstPlugin * plugin); \
G_END_DECLS

#define GST_ELEMENT_REGISTER_DEFINE(e, e_n, r, t) \
G_BEGIN_DECLS \
gboolean gst_element_register_##e (GstPlugin * plugin) \
{ \
  return gst_element_register (plugin, e_n, r, t); \
} \
G_END_DECLS

#define GST_ELEMENT_REGISTER(element, plugin) \
    gst_element_register_##element (plugin)
#endif

/* GLib 2.68: g_memdup2 (glib/gstrfuncs.h), g_memdup with a gsize length. */
#if !GLIB_CHECK_VERSION(2, 68, 0)
static inline gpointer
gst_zb_memdup2 (gconstpointer mem, gsize byte_size)
{
  gpointer new_mem = NULL;

  if (mem && byte_size != 0) {
    new_mem = g_malloc (byte_size);
    memcpy (new_mem, mem, byte_size);
  }
  return new_mem;
}

#define g_memdup2 gst_zb_memdup2
#endif

#endif /* __GST_ZB_COMPAT_H__ */
