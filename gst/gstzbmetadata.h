/* zerobuffer GStreamer plugin - the metadata JSON object
 *
 * SPDX-License-Identifier: MIT
 *
 * Writing and reading the metadata block's JSON (docs/frame-format.md,
 * "Metadata block") with json-glib, plus the checks json-glib does not make
 * on text written by another process: a size limit, a nesting limit (its
 * parser recurses once per level), string types, UTF-8 and no "\u0000".
 * GLib and json-glib only, no GStreamer, so that fuzz/fuzz-json.c can
 * drive it on its own; gst_zb_make_metadata() and gst_zb_parse_metadata()
 * (gstzbcommon.h) are the elements' entry points.
 */

#ifndef __GST_ZB_METADATA_H__
#define __GST_ZB_METADATA_H__

#include <glib.h>

G_BEGIN_DECLS

/* The largest metadata block read as JSON, in bytes: caps with stream
 * headers take a few kilobytes, a bigger block is refused unread. */
#define GST_ZB_METADATA_MAX_SIZE (1024 * 1024)

/* The deepest nesting of arrays and objects read; our own object has
 * depth 1, deeper members are other writers' and are skipped. */
#define GST_ZB_METADATA_MAX_DEPTH 32

/* The members of a metadata object that the elements read. */
typedef struct
{
  gchar *caps;                  /* "caps", or NULL if absent / not a string */
  gchar *frame_format;          /* "frame_format", or NULL */
} GstZbMetadataFields;

/* The result of gst_zb_metadata_read(). */
typedef enum
{
  GST_ZB_METADATA_JSON,         /* a JSON object: *fields filled */
  GST_ZB_METADATA_NOT_JSON,     /* no JSON object (a bare caps string?) */
  GST_ZB_METADATA_REFUSED       /* too large, too deep or malformed in a
                                 * way json-glib would accept */
} GstZbMetadataResult;

/* The metadata object, exactly these bytes: compact, members in this order
 * (type, version, caps unless NULL, element_name, frame_format,
 * frame_format_version = @frame_format_version). No NUL counted in
 * *@len; g_free() the result. All strings UTF-8. */
gchar *gst_zb_metadata_build (const gchar * type, const gchar * version,
    const gchar * caps, const gchar * element_name,
    const gchar * frame_format, gint frame_format_version, gsize * len);

/* Read the @size bytes at @meta (not NUL-terminated) written by a peer.
 * On GST_ZB_METADATA_JSON, @fields holds the string members (g_free()
 * them, or call gst_zb_metadata_fields_clear()); otherwise both are NULL.
 * *@why, when not NULL, gets a static reason for a REFUSED result. Never
 * reads outside [meta, meta + size). */
GstZbMetadataResult gst_zb_metadata_read (const void *meta, gsize size,
    GstZbMetadataFields * fields, const gchar ** why);

void gst_zb_metadata_fields_clear (GstZbMetadataFields * fields);

G_END_DECLS
#endif /* __GST_ZB_METADATA_H__ */
