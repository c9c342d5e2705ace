/* Helpers of the fan-out tests (test_zbfanout.c, test_zbfanoutelem.c). */

#include <string.h>

#include "zbfanout-helpers.h"

void
collect (Collector * c, gint timeout_ms)
{
  GstMessage *m;

  while ((m = gst_bus_timed_pop_filtered (c->bus, timeout_ms * GST_MSECOND,
              GST_MESSAGE_ELEMENT | GST_MESSAGE_ERROR)) != NULL) {
    const GstStructure *s = gst_message_get_structure (m);

    if (GST_MESSAGE_TYPE (m) == GST_MESSAGE_ERROR) {
      GError *err = NULL;
      gchar *dbg = NULL;

      gst_message_parse_error (m, &err, &dbg);
      fail ("error from %s: %s (%s)", GST_OBJECT_NAME (m->src),
          err->message, dbg);
    }
    if (s && g_str_has_prefix (gst_structure_get_name (s), "zbsink-reader-"))
      g_ptr_array_add (c->msgs, gst_structure_copy (s));
    gst_message_unref (m);
    timeout_ms = 0;
  }
}

/* The message @name for reader @id, or NULL. */
const GstStructure *
find_msg (Collector * c, const gchar * name, const gchar * id)
{
  guint i;

  for (i = 0; i < c->msgs->len; i++) {
    const GstStructure *s = g_ptr_array_index (c->msgs, i);

    if (gst_structure_has_name (s, name) &&
        g_strcmp0 (gst_structure_get_string (s, "reader-id"), id) == 0)
      return s;
  }
  return NULL;
}

const GstStructure *
wait_msg (Collector * c, const gchar * name, const gchar * id, gint timeout_ms)
{
  gint64 end = g_get_monotonic_time () + (gint64) timeout_ms * 1000;
  const GstStructure *s;

  while ((s = find_msg (c, name, id)) == NULL) {
    fail_unless (g_get_monotonic_time () < end, "no %s for reader %s "
        "within %d ms", name, id, timeout_ms);
    collect (c, 20);
  }
  return s;
}

guint64
msg_pid (const GstStructure * s)
{
  guint64 pid = 0;

  fail_unless (gst_structure_get_uint64 (s, "pid", &pid));
  return pid;
}

/* The "zbsink-reader" entry of reader @id in the sink's stats, a copy, or
 * NULL. */
GstStructure *
reader_stats (GstElement * sink, const gchar * id)
{
  GstStructure *stats = NULL, *ret = NULL;
  const GValue *readers;
  guint i;

  g_object_get (sink, "stats", &stats, NULL);
  readers = gst_structure_get_value (stats, "readers");
  fail_unless (readers != NULL && GST_VALUE_HOLDS_ARRAY (readers));
  for (i = 0; i < gst_value_array_get_size (readers); i++) {
    const GstStructure *r =
        gst_value_get_structure (gst_value_array_get_value (readers, i));

    if (g_strcmp0 (gst_structure_get_string (r, "reader-id"), id) == 0)
      ret = gst_structure_copy (r);
  }
  gst_structure_free (stats);
  return ret;
}

guint
readers_prop (GstElement * sink)
{
  guint n;

  g_object_get (sink, "readers", &n, NULL);
  return n;
}

/* No object of reader @id of @name is left. */
void
p_no_leftovers (const gchar * name, const gchar * id)
{
  gchar *b = g_strdup_printf ("%s@%s", name, id);

  fail_unless (zbt_no_leftovers (b), "objects of %s left", b);
  g_free (b);
}
