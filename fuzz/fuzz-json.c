/* Fuzz target: the metadata JSON reader gst_zb_metadata_read()
 * (gst/gstzbmetadata.c: our checks, then json-glib), which zbsrc and
 * zbfilter run over whatever a peer put in the metadata block.
 *
 * Input: the metadata bytes, not NUL-terminated. The reader must not crash
 * (json-glib recursing once per nesting level did, before the depth check),
 * must return UTF-8 strings only for an object, and a string it returns
 * must come back unchanged through gst_zb_metadata_build() and a second
 * read. */

#include "gstzbmetadata.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t * data, size_t size);

static void
check_round_trip (const GstZbMetadataFields * f)
{
  GstZbMetadataFields back;
  gchar *out;
  gsize len;

  out = gst_zb_metadata_build ("t", "v", f->caps, "e",
      f->frame_format ? f->frame_format : "raw", 1, &len);
  if (gst_zb_metadata_read (out, len, &back, NULL) != GST_ZB_METADATA_JSON)
    abort ();
  if (g_strcmp0 (back.caps, f->caps) != 0)
    abort ();
  if (f->frame_format && g_strcmp0 (back.frame_format, f->frame_format) != 0)
    abort ();
  gst_zb_metadata_fields_clear (&back);
  g_free (out);
}

int
LLVMFuzzerTestOneInput (const uint8_t * data, size_t size)
{
  GstZbMetadataFields f;
  GstZbMetadataResult r;
  char *copy;

  /* an exact-size heap copy, so that ASan sees any read past the end */
  copy = malloc (size ? size : 1);
  if (copy == NULL)
    return 0;
  if (size)
    memcpy (copy, data, size);

  r = gst_zb_metadata_read (copy, size, &f, NULL);
  if (r != GST_ZB_METADATA_JSON && (f.caps || f.frame_format))
    abort ();
  if ((f.caps && !g_utf8_validate (f.caps, -1, NULL)) ||
      (f.frame_format && !g_utf8_validate (f.frame_format, -1, NULL)))
    abort ();
  if (f.caps && strlen (f.caps) > size)
    abort ();
  if (r == GST_ZB_METADATA_JSON)
    check_round_trip (&f);
  gst_zb_metadata_fields_clear (&f);
  free (copy);
  return 0;
}
