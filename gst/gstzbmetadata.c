/* zerobuffer GStreamer plugin - the metadata JSON object
 *
 * SPDX-License-Identifier: MIT
 *
 * json-glib writes and parses; what is ours is the checks before and after
 * it on text another process wrote (gstzbmetadata.h).
 */

#include "gstzbmetadata.h"

#include <json-glib/json-glib.h>
#include <string.h>

gchar *
gst_zb_metadata_build (const gchar * type, const gchar * version,
    const gchar * caps, const gchar * element_name,
    const gchar * frame_format, gint frame_format_version, gsize * len)
{
  JsonBuilder *b = json_builder_new_immutable ();
  JsonGenerator *gen;
  JsonNode *root;
  gchar *out;

  /* the member order is part of the format (docs/frame-format.md):
   * JsonObject keeps insertion order and the generator follows it */
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "type");
  json_builder_add_string_value (b, type);
  json_builder_set_member_name (b, "version");
  json_builder_add_string_value (b, version);
  if (caps) {
    json_builder_set_member_name (b, "caps");
    json_builder_add_string_value (b, caps);
  }
  json_builder_set_member_name (b, "element_name");
  json_builder_add_string_value (b, element_name);
  json_builder_set_member_name (b, "frame_format");
  json_builder_add_string_value (b, frame_format);
  json_builder_set_member_name (b, "frame_format_version");
  json_builder_add_int_value (b, frame_format_version);
  json_builder_end_object (b);

  root = json_builder_get_root (b);
  gen = json_generator_new ();
  json_generator_set_pretty (gen, FALSE);
  json_generator_set_root (gen, root);
  out = json_generator_to_data (gen, len);

  g_object_unref (gen);
  json_node_unref (root);
  g_object_unref (b);
  return out;
}

/* Before json-glib sees the text: its parser recurses once per nesting
 * level (a writer's 200 kB of '[' overflows the stack of the thread that
 * reads it), it accepts comments and single-quoted strings, and it
 * truncates a string at a "\u0000" escape. Refuse those; strict JSON
 * outside strings leaves no way to hide a bracket from this count. */
static const gchar *
precheck (const guchar * p, gsize n)
{
  guint depth = 0;
  gboolean in_string = FALSE;
  gsize i;

  for (i = 0; i < n; i++) {
    guchar c = p[i];

    if (in_string) {
      if (c == '"') {
        in_string = FALSE;
      } else if (c == '\\') {
        if (n - i >= 6 && memcmp (p + i + 1, "u0000", 5) == 0)
          return "a \\u0000 escape";
        i++;                    /* the escaped character is no quote */
      }
      continue;
    }
    switch (c) {
      case '"':
        in_string = TRUE;
        break;
      case '{':
      case '[':
        if (++depth > GST_ZB_METADATA_MAX_DEPTH)
          return "nested too deep";
        break;
      case '}':
      case ']':
        if (depth > 0)
          depth--;
        break;
      case ' ':
      case '\t':
      case '\n':
      case '\r':
      case ':':
      case ',':
      case '-':
      case '+':
      case '.':
        break;
      default:
        /* numbers, true, false, null */
        if (!g_ascii_isalnum (c))
          return "not strict JSON (a comment or a quote)";
        break;
    }
  }
  return NULL;
}

/* A member that must be a UTF-8 string: a copy, or NULL. */
static gchar *
dup_string_member (JsonObject * obj, const gchar * name)
{
  JsonNode *node = json_object_get_member (obj, name);
  const gchar *s;

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node) ||
      json_node_get_value_type (node) != G_TYPE_STRING)
    return NULL;
  s = json_node_get_string (node);
  /* a lone surrogate escape decodes to bytes that are not UTF-8 */
  if (s == NULL || !g_utf8_validate (s, -1, NULL))
    return NULL;
  return g_strdup (s);
}

GstZbMetadataResult
gst_zb_metadata_read (const void *meta, gsize size,
    GstZbMetadataFields * fields, const gchar ** why)
{
  const guchar *p = meta;
  JsonParser *parser;
  JsonNode *root;
  GstZbMetadataResult result = GST_ZB_METADATA_NOT_JSON;
  const gchar *reason = NULL;
  gsize i;

  fields->caps = fields->frame_format = NULL;
  if (why)
    *why = NULL;
  if (p == NULL || size == 0)
    return GST_ZB_METADATA_NOT_JSON;

  /* an object or nothing of ours: a bare caps string starts otherwise */
  for (i = 0; i < size && g_ascii_isspace (p[i]); i++);
  if (i == size || p[i] != '{')
    return GST_ZB_METADATA_NOT_JSON;

  if (size > GST_ZB_METADATA_MAX_SIZE)
    reason = "larger than " G_STRINGIFY (GST_ZB_METADATA_MAX_SIZE) " bytes";
  else
    reason = precheck (p, size);
  if (reason) {
    if (why)
      *why = reason;
    return GST_ZB_METADATA_REFUSED;
  }

  /* json-glib takes a length, reads no further, and refuses text that is
   * not UTF-8 or has a NUL in it */
  parser = json_parser_new_immutable ();
  if (json_parser_load_from_data (parser, meta, (gssize) size, NULL)) {
    root = json_parser_get_root (parser);
    if (root && JSON_NODE_HOLDS_OBJECT (root)) {
      JsonObject *obj = json_node_get_object (root);

      fields->caps = dup_string_member (obj, "caps");
      fields->frame_format = dup_string_member (obj, "frame_format");
      result = GST_ZB_METADATA_JSON;
    }
  }
  g_object_unref (parser);
  return result;
}

void
gst_zb_metadata_fields_clear (GstZbMetadataFields * fields)
{
  g_clear_pointer (&fields->caps, g_free);
  g_clear_pointer (&fields->frame_format, g_free);
}
