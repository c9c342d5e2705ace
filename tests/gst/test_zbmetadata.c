/* The metadata JSON object (gst/gstzbmetadata.c): the exact bytes written
 * (docs/frame-format.md, "Metadata block"), what is read from a peer, and
 * the checks made before json-glib sees a peer's text. */

#include <string.h>

#include <gst/check/gstcheck.h>

#include "gstzbmetadata.h"
#include "zbtest.h"

static GstZbMetadataResult
read_text (const gchar * text, gsize len, GstZbMetadataFields * f)
{
  /* an exact-size heap copy, not NUL-terminated: valgrind and ASan see a
   * read past the end */
  gchar *copy = g_malloc (len ? len : 1);
  GstZbMetadataResult r;

  memcpy (copy, text, len);
  r = gst_zb_metadata_read (copy, len, f, NULL);
  g_free (copy);
  return r;
}

GST_START_TEST (test_build_exact_bytes)
{
  static const char expected[] =
      "{\"type\":\"gstreamer-sink\",\"version\":\"GStreamer 1.22.0\","
      "\"caps\":\"video/x-raw, format=(string)I420, width=(int)8\","
      "\"element_name\":\"zbsink0\",\"frame_format\":\"gst\","
      "\"frame_format_version\":1}";
  static const char no_caps[] =
      "{\"type\":\"gstreamer-filter\",\"version\":\"GStreamer 1.22.0\","
      "\"element_name\":\"f\",\"frame_format\":\"raw\","
      "\"frame_format_version\":1}";
  gchar *out;
  gsize len;

  out = gst_zb_metadata_build ("gstreamer-sink", "GStreamer 1.22.0",
      "video/x-raw, format=(string)I420, width=(int)8", "zbsink0", "gst", 1,
      &len);
  fail_unless_equals_int (len, strlen (expected));
  fail_unless (memcmp (out, expected, len) == 0, "got %s", out);
  g_free (out);

  out = gst_zb_metadata_build ("gstreamer-filter", "GStreamer 1.22.0", NULL,
      "f", "raw", 1, &len);
  fail_unless_equals_int (len, strlen (no_caps));
  fail_unless (memcmp (out, no_caps, len) == 0, "got %s", out);
  g_free (out);
}

GST_END_TEST;

GST_START_TEST (test_build_escapes_and_round_trip)
{
  /* quotes, backslashes and control characters escaped, UTF-8 as is */
  const gchar *name = "a\"b\\c\nd\x01\xc3\xa9/";
  GstZbMetadataFields f;
  gchar *out;
  gsize len;

  out = gst_zb_metadata_build ("t", "v", name, name, "gst", 1, &len);
  fail_unless (g_strstr_len (out, len,
          "\"caps\":\"a\\\"b\\\\c\\nd\\u0001\xc3\xa9/\"") != NULL, "got %s",
      out);
  fail_unless_equals_int (read_text (out, len, &f), GST_ZB_METADATA_JSON);
  fail_unless_equals_string (f.caps, name);
  fail_unless_equals_string (f.frame_format, "gst");
  gst_zb_metadata_fields_clear (&f);
  g_free (out);
}

GST_END_TEST;

GST_START_TEST (test_read_members)
{
  const char *j1 =
      "{\"type\":\"gstreamer-sink\",\"version\":\"GStreamer 1.22.0\","
      "\"caps\":\"video/x-raw, format=(string)I420\",\"n\":[1,{\"a\":null}],"
      "\"frame_format\":\"gst\"}";
  const char *j2 = " { \"caps\" : \"a\\\"b\\\\c\\u00e9\\ud83d\\ude00\\n\" } ";
  GstZbMetadataFields f;

  fail_unless_equals_int (read_text (j1, strlen (j1), &f),
      GST_ZB_METADATA_JSON);
  fail_unless_equals_string (f.caps, "video/x-raw, format=(string)I420");
  fail_unless_equals_string (f.frame_format, "gst");
  gst_zb_metadata_fields_clear (&f);

  fail_unless_equals_int (read_text (j2, strlen (j2), &f),
      GST_ZB_METADATA_JSON);
  fail_unless_equals_string (f.caps, "a\"b\\c\xc3\xa9\xf0\x9f\x98\x80\n");
  fail_unless (f.frame_format == NULL);
  gst_zb_metadata_fields_clear (&f);

  /* the length bounds the parse: one byte short is no object */
  fail_unless (read_text (j1, strlen (j1) - 1, &f) != GST_ZB_METADATA_JSON);
  fail_unless (f.caps == NULL && f.frame_format == NULL);
}

GST_END_TEST;

/* Members of the wrong type, or strings that are not UTF-8, count as
 * absent; the object is still ours (no bare-caps fallback). */
GST_START_TEST (test_read_types)
{
  const char *cases[] = {
    "{\"caps\":42,\"frame_format\":[\"gst\"]}",
    "{\"caps\":null,\"frame_format\":{\"a\":\"gst\"}}",
    "{\"caps\":\"\\udc00x\",\"frame_format\":true}",
    "{\"caps\":\"\\udc00x\"}",
    NULL
  };
  GstZbMetadataFields f;
  int i;

  for (i = 0; cases[i]; i++) {
    GstZbMetadataResult r = read_text (cases[i], strlen (cases[i]), &f);

    /* a lone surrogate (\udc00): json-glib 1.6 parses the object and the
     * string counts as absent; 1.10 (Debian 13) refuses the whole text.
     * Either way no caps come out of it. */
    if (strstr (cases[i], "\\udc00") == NULL || r == GST_ZB_METADATA_JSON)
      fail_unless_equals_int (r, GST_ZB_METADATA_JSON);
    fail_unless (f.caps == NULL, "%s: caps %s", cases[i], f.caps);
    fail_unless (f.frame_format == NULL, "%s", cases[i]);
  }
}

GST_END_TEST;

/* Not a JSON object: the caller tries the text as a bare caps string. */
GST_START_TEST (test_read_not_json)
{
  const char *cases[] = {
    "video/x-raw, format=(string)RGB, width=(int)4",
    "", "   ", "[\"caps\"]", "\"caps\"", "true",
    "{", "{\"caps\"", "{\"caps\":", "{\"caps\":\"abc", "{\"caps\":\"a\"",
    "{\"caps\":\"a\",}", "{\"caps\":\"\\ud800\"}", "{\"caps\":\"a\"} x",
    "{\"caps\":\"a\"\"b\":\"c\"}", "{\"caps\":\"a\xff\"}",
    NULL
  };
  GstZbMetadataFields f;
  int i;

  for (i = 0; cases[i]; i++) {
    fail_unless_equals_int (read_text (cases[i], strlen (cases[i]), &f),
        GST_ZB_METADATA_NOT_JSON);
    fail_unless (f.caps == NULL && f.frame_format == NULL);
  }
  /* a NUL inside a string: json-glib refuses the text */
  fail_unless_equals_int (read_text ("{\"caps\":\"a\0\"}", 13, &f),
      GST_ZB_METADATA_NOT_JSON);
}

GST_END_TEST;

/* Our checks before json-glib: refused unread. */
GST_START_TEST (test_read_refused)
{
  const char *cases[] = {
    "{\"caps\":\"a\\u0000b\"}",
    "{\"caps\":\"a\" /* c */}",
    "{\"caps\":\"a\" // c\n}",
    "{\"caps\":'a'}",
    "{\"a\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]],"
        "\"caps\":\"a\"}",
    NULL
  };
  const char *ok_depth =
      "{\"a\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]],"
      "\"caps\":\"a\"}";
  GstZbMetadataFields f;
  const gchar *why;
  gchar *big;
  gsize n;
  int i;

  for (i = 0; cases[i]; i++) {
    fail_unless (read_text (cases[i], strlen (cases[i]),
            &f) == GST_ZB_METADATA_REFUSED, "accepted %s", cases[i]);
    fail_unless (f.caps == NULL && f.frame_format == NULL);
  }
  /* a NUL after the object */
  fail_unless_equals_int (read_text ("{\"caps\":\"a\"}\0", 13, &f),
      GST_ZB_METADATA_REFUSED);
  /* brackets, quotes and escapes inside strings do not count */
  fail_unless_equals_int (read_text (ok_depth, strlen (ok_depth), &f),
      GST_ZB_METADATA_JSON);
  fail_unless_equals_string (f.caps, "a");
  gst_zb_metadata_fields_clear (&f);
  {
    const char *s = "{\"c\\\"aps\":\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\","
        "\"caps\":\"\\\\u0000 /* '\"}";

    fail_unless_equals_int (read_text (s, strlen (s), &f),
        GST_ZB_METADATA_JSON);
    fail_unless_equals_string (f.caps, "\\u0000 /* '");
    gst_zb_metadata_fields_clear (&f);
  }

  /* regression: json-glib 1.6 recurses once per level and overflowed the
   * stack on 100000 nested arrays from a peer */
  n = 200000;
  big = g_malloc (2 * n + 8);
  memset (big, '[', n);
  memset (big + n, ']', n);
  big[0] = '{';
  big[2 * n - 1] = '}';
  fail_unless_equals_int (gst_zb_metadata_read (big, 2 * n, &f, &why),
      GST_ZB_METADATA_REFUSED);
  fail_unless_equals_string (why, "nested too deep");
  g_free (big);

  /* over the size limit, however well-formed */
  n = GST_ZB_METADATA_MAX_SIZE + 1;
  big = g_malloc (n);
  memset (big, ' ', n);
  memcpy (big, "{\"caps\":\"a\"}", 12);
  fail_unless_equals_int (gst_zb_metadata_read (big, n, &f, &why),
      GST_ZB_METADATA_REFUSED);
  fail_unless (g_str_has_prefix (why, "larger than"));
  g_free (big);
}

GST_END_TEST;

static Suite *
zbmetadata_suite (void)
{
  Suite *s = suite_create ("zbmetadata");
  TCase *tc = tcase_create ("general");

  tcase_set_timeout (tc, 20);
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_build_exact_bytes);
  tcase_add_test (tc, test_build_escapes_and_round_trip);
  tcase_add_test (tc, test_read_members);
  tcase_add_test (tc, test_read_types);
  tcase_add_test (tc, test_read_not_json);
  tcase_add_test (tc, test_read_refused);
  return s;
}

ZBT_MAIN (zbmetadata_suite);
