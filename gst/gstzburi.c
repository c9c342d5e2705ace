/* zerobuffer GStreamer plugin - the zerobuffer:// URI of zbsrc and zbsink
 *
 * SPDX-License-Identifier: MIT
 *
 * The grammar (docs/elements.md, "The zerobuffer:// URI"):
 *
 *   zerobuffer://NAME[?KEY=VALUE[&KEY=VALUE]...]
 *
 * NAME: letters, digits, '-', '.', '_', '~' and %XX escapes, decoding to a
 * name zb_name_check() accepts; no path, no port, no user, no fragment.
 * KEY: a readable and writable property of the element, but not name,
 * parent, buffer-name (that is NAME) or channel-name (a URI names a
 * buffer); each KEY once. VALUE: %XX-decoded, then read as
 * gst_value_deserialize() reads it (what gst-launch-1.0 takes), and
 * within the property's range (zbsrc's reader-id: a good fan-out id,
 * docs/fanout.md). Nothing is set unless the whole URI is
 * good; parameters not given keep their values.
 */

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstzburi.h"
#include "gstzbcommon.h"

#include <zerobuffer/zerobuffer.h>

#include <stdarg.h>
#include <string.h>

GST_DEBUG_CATEGORY_STATIC (gst_zb_uri_debug);
#define GST_CAT_DEFAULT gst_zb_uri_debug

#define URI_PREFIX GST_ZB_URI_PROTOCOL "://"

static const gchar *const protocols[] = { GST_ZB_URI_PROTOCOL, NULL };

/* Properties that are never parameters. */
static const gchar *const not_parameters[] = {
  "name", "parent", "buffer-name", "channel-name", NULL
};

/* The keys the last set_uri() set, a NULL-terminated gchar ** in the
 * element's qdata, replaced and read under GST_OBJECT_LOCK: get_uri()
 * gives them back with the properties' current values. */
static GQuark keys_quark;

typedef struct
{
  GParamSpec *pspec;
  GValue value;
} UriParam;

static void
uri_param_clear (gpointer data)
{
  UriParam *param = data;

  g_value_unset (&param->value);
}

/* @format is printf-style (no G_GNUC_PRINTF: indent mangles it) */
static void
set_bad_uri (GError ** error, const gchar * uri, const gchar * format, ...)
{
  va_list args;
  gchar *detail;

  va_start (args, format);
  detail = g_strdup_vprintf (format, args);
  va_end (args);
  g_set_error (error, GST_URI_ERROR, GST_URI_ERROR_BAD_URI,
      "Bad zerobuffer URI '%s': %s", uri, detail);
  g_free (detail);
}

/* The property @key names when it may be a parameter, else NULL. */
static GParamSpec *
find_parameter (GObjectClass * klass, const gchar * key)
{
  GParamSpec *pspec;

  if (g_strv_contains (not_parameters, key))
    return NULL;
  pspec = g_object_class_find_property (klass, key);
  if (pspec == NULL || (pspec->flags & G_PARAM_READWRITE) != G_PARAM_READWRITE
      || (pspec->flags & G_PARAM_CONSTRUCT_ONLY) != 0)
    return NULL;
  return pspec;
}

/* "a, b, c": every parameter of @klass. */
static gchar *
list_parameters (GObjectClass * klass)
{
  GParamSpec **pspecs;
  GString *list = g_string_new (NULL);
  guint n, i;

  pspecs = g_object_class_list_properties (klass, &n);
  for (i = 0; i < n; i++) {
    if (find_parameter (klass, pspecs[i]->name) != pspecs[i])
      continue;
    if (list->len > 0)
      g_string_append (list, ", ");
    g_string_append (list, pspecs[i]->name);
  }
  g_free (pspecs);
  return g_string_free (list, FALSE);
}

/* What a value of @pspec looks like, for errors. */
static gchar *
describe_values (GParamSpec * pspec)
{
  if (G_IS_PARAM_SPEC_INT (pspec)) {
    GParamSpecInt *p = G_PARAM_SPEC_INT (pspec);

    return g_strdup_printf ("an integer from %d to %d", p->minimum, p->maximum);
  }
  if (G_IS_PARAM_SPEC_UINT (pspec)) {
    GParamSpecUInt *p = G_PARAM_SPEC_UINT (pspec);

    return g_strdup_printf ("an integer from %u to %u", p->minimum, p->maximum);
  }
  if (G_IS_PARAM_SPEC_INT64 (pspec)) {
    GParamSpecInt64 *p = G_PARAM_SPEC_INT64 (pspec);

    return g_strdup_printf ("an integer from %" G_GINT64_FORMAT " to %"
        G_GINT64_FORMAT, p->minimum, p->maximum);
  }
  if (G_IS_PARAM_SPEC_UINT64 (pspec)) {
    GParamSpecUInt64 *p = G_PARAM_SPEC_UINT64 (pspec);

    return g_strdup_printf ("an integer from %" G_GUINT64_FORMAT " to %"
        G_GUINT64_FORMAT, p->minimum, p->maximum);
  }
  if (G_IS_PARAM_SPEC_BOOLEAN (pspec))
    return g_strdup ("true or false");
  if (G_IS_PARAM_SPEC_ENUM (pspec)) {
    GEnumClass *klass = G_PARAM_SPEC_ENUM (pspec)->enum_class;
    GString *text = g_string_new ("one of ");
    guint i;

    for (i = 0; i < klass->n_values; i++)
      g_string_append_printf (text, "%s%s", i > 0 ? ", " : "",
          klass->values[i].value_nick);
    return g_string_free (text, FALSE);
  }
  return g_strdup_printf ("a %s",
      g_type_name (G_PARAM_SPEC_VALUE_TYPE (pspec)));
}

/* Read @text into @value (initialised to @pspec's type); FALSE when it is
 * not a value of @pspec or out of its range. */
static gboolean
read_value (GParamSpec * pspec, GValue * value, const gchar * text)
{
  const gchar *t = text;

  /* g_ascii_strtoull() reads "-1" as G_MAXUINT64 */
  while (g_ascii_isspace (*t))
    t++;
  if (*t == '-' && (G_IS_PARAM_SPEC_UINT (pspec) ||
          G_IS_PARAM_SPEC_UINT64 (pspec) || G_IS_PARAM_SPEC_ULONG (pspec)))
    return FALSE;
  if (!gst_value_deserialize (value, text))
    return FALSE;
  /* validate changes a value that is out of range */
  return !g_param_value_validate (pspec, value);
}

/* The value of a parameter in a URI: enums by nick, caps as a caps
 * string. */
static gchar *
write_value (GParamSpec * pspec, const GValue * value)
{
  if (G_VALUE_HOLDS (value, GST_TYPE_CAPS)) {
    const GstCaps *caps = gst_value_get_caps (value);

    return caps ? gst_caps_to_string (caps) : NULL;
  }
  if (G_IS_PARAM_SPEC_ENUM (pspec)) {
    GEnumValue *e = g_enum_get_value (G_PARAM_SPEC_ENUM (pspec)->enum_class,
        g_value_get_enum (value));

    if (e != NULL)
      return g_strdup (e->value_nick);
  }
  return gst_value_serialize (value);
}

/* NAME, the text from @start to @end of @uri, decoded and checked. */
static gchar *
read_name (const gchar * uri, const gchar * start, const gchar * end,
    GError ** error)
{
  const gchar *c;
  gchar *raw, *name;
  gint ret;

  if (start == end) {
    set_bad_uri (error, uri, "no buffer name (write zerobuffer://NAME)");
    return NULL;
  }
  for (c = start; c < end; c++) {
    if (g_ascii_isalnum (*c) || strchr ("-._~%", *c) != NULL)
      continue;
    if (*c == '/') {
      set_bad_uri (error, uri, "a zerobuffer URI has no path: write "
          "zerobuffer://NAME (two slashes, the buffer name, no '/')");
    } else {
      set_bad_uri (error, uri, "the character '%c' is not allowed in the "
          "buffer name (write it as %%%02X)", g_ascii_isprint (*c) ? *c : '?',
          (guint) (guchar) * c);
    }
    return NULL;
  }

  raw = g_strndup (start, end - start);
  name = g_uri_unescape_string (raw, "/");
  g_free (raw);
  if (name == NULL) {
    set_bad_uri (error, uri, "bad %%-escape in the buffer name");
    return NULL;
  }
  ret = zb_name_check (name);
  if (ret < 0) {
    set_bad_uri (error, uri, "invalid buffer name \"%s\" (1 to %d bytes, "
        "not \".\" or \"..\", not starting with \"sem.\"): %s", name,
        ZB_NAME_MAX, zb_strerror (ret));
    g_free (name);
    return NULL;
  }
  return name;
}

/* The parameters of @query (the text after '?' in @uri) for @klass, in
 * order; NULL with @error set at the first bad one. */
static GArray *
read_parameters (GObjectClass * klass, const gchar * uri,
    const gchar * query, GError ** error)
{
  GArray *params = g_array_new (FALSE, TRUE, sizeof (UriParam));
  gchar **pairs = g_strsplit (query, "&", -1);
  gchar *key = NULL, *text = NULL;
  UriParam param = { NULL, G_VALUE_INIT };
  guint i, j;

  g_array_set_clear_func (params, uri_param_clear);
  for (i = 0; pairs[i] != NULL; i++) {
    gchar *eq;

    if (pairs[i][0] == '\0')
      continue;                 /* "?", "&&", a trailing '&' */
    eq = strchr (pairs[i], '=');
    if (eq == NULL)
      goto no_value;
    *eq = '\0';
    key = g_uri_unescape_string (pairs[i], NULL);
    text = g_uri_unescape_string (eq + 1, NULL);
    if (key == NULL || text == NULL)
      goto bad_escape;
    if (strcmp (key, "buffer-name") == 0)
      goto buffer_name;
    param.pspec = find_parameter (klass, key);
    if (param.pspec == NULL)
      goto unknown;
    for (j = 0; j < params->len; j++) {
      if (g_array_index (params, UriParam, j).pspec == param.pspec)
        goto twice;
    }
    g_value_init (&param.value, G_PARAM_SPEC_VALUE_TYPE (param.pspec));
    if (!read_value (param.pspec, &param.value, text)) {
      g_value_unset (&param.value);
      goto bad_value;
    }
    if (strcmp (param.pspec->name, "reader-id") == 0 &&
        gst_zb_reader_id_problem (text) != NULL) {
      g_value_unset (&param.value);
      goto bad_reader_id;
    }
    g_array_append_val (params, param);
    memset (&param, 0, sizeof (param));
    g_clear_pointer (&key, g_free);
    g_clear_pointer (&text, g_free);
  }
  g_strfreev (pairs);
  return params;

  /* ERRORS */
no_value:
  {
    set_bad_uri (error, uri, "parameter '%s' has no value (write %s=VALUE)",
        pairs[i], pairs[i]);
    goto failed;
  }
bad_escape:
  {
    set_bad_uri (error, uri, "bad %%-escape in parameter '%s'", pairs[i]);
    goto failed;
  }
buffer_name:
  {
    set_bad_uri (error, uri, "the buffer name is not a parameter: write "
        "zerobuffer://NAME");
    goto failed;
  }
unknown:
  {
    gchar *list = list_parameters (klass);

    set_bad_uri (error, uri, "unknown parameter '%s' (%s takes: %s)", key,
        G_OBJECT_CLASS_NAME (klass), list);
    g_free (list);
    goto failed;
  }
twice:
  {
    set_bad_uri (error, uri, "parameter '%s' given twice", key);
    goto failed;
  }
bad_value:
  {
    gchar *expected = describe_values (param.pspec);

    set_bad_uri (error, uri, "bad value '%s' for parameter '%s' (expected "
        "%s)", text, key, expected);
    g_free (expected);
    goto failed;
  }
bad_reader_id:
  {
    set_bad_uri (error, uri, "bad reader-id '%s': %s", text,
        gst_zb_reader_id_problem (text));
    goto failed;
  }
failed:
  {
    g_free (key);
    g_free (text);
    g_strfreev (pairs);
    g_array_unref (params);
    return NULL;
  }
}

static gboolean
gst_zb_uri_set_uri (GstURIHandler * handler, const gchar * uri, GError ** error)
{
  GObject *object = G_OBJECT (handler);
  GstElement *element = GST_ELEMENT (handler);
  const gchar *rest, *query;
  gchar *name = NULL;
  gchar **keys;
  GArray *params = NULL;
  GstState state;
  guint i;

  GST_OBJECT_LOCK (element);
  state = GST_STATE (element);
  GST_OBJECT_UNLOCK (element);
  if (state > GST_STATE_READY)
    goto wrong_state;

  if (g_ascii_strncasecmp (uri, URI_PREFIX, strlen (URI_PREFIX)) != 0) {
    set_bad_uri (error, uri, "not of the form zerobuffer://NAME");
    return FALSE;
  }
  rest = uri + strlen (URI_PREFIX);
  if (strchr (rest, '#') != NULL) {
    set_bad_uri (error, uri, "a zerobuffer URI has no fragment ('#')");
    return FALSE;
  }
  query = strchr (rest, '?');
  name = read_name (uri, rest, query ? query : rest + strlen (rest), error);
  if (name == NULL)
    return FALSE;
  params = read_parameters (G_OBJECT_GET_CLASS (object), uri,
      query ? query + 1 : "", error);
  if (params == NULL) {
    g_free (name);
    return FALSE;
  }

  /* All good: set it all, notifications after the last. */
  GST_DEBUG_OBJECT (element, "URI %s: buffer %s, %u parameters", uri, name,
      params->len);
  g_object_freeze_notify (object);
  if (g_object_class_find_property (G_OBJECT_GET_CLASS (object),
          "channel-name") != NULL)
    g_object_set (object, "channel-name", NULL, NULL);
  g_object_set (object, "buffer-name", name, NULL);
  keys = g_new0 (gchar *, params->len + 1);
  for (i = 0; i < params->len; i++) {
    UriParam *param = &g_array_index (params, UriParam, i);

    g_object_set_property (object, param->pspec->name, &param->value);
    keys[i] = g_strdup (param->pspec->name);
  }
  g_object_thaw_notify (object);

  GST_OBJECT_LOCK (element);
  g_object_set_qdata_full (object, keys_quark, keys,
      (GDestroyNotify) g_strfreev);
  GST_OBJECT_UNLOCK (element);

  g_array_unref (params);
  g_free (name);
  return TRUE;

  /* ERRORS */
wrong_state:
  {
    g_set_error (error, GST_URI_ERROR, GST_URI_ERROR_BAD_STATE,
        "Cannot set the URI of %s while it is %s (only in NULL or READY)",
        GST_ELEMENT_NAME (element), gst_element_state_get_name (state));
    return FALSE;
  }
}

static gchar *
gst_zb_uri_get_uri (GstURIHandler * handler)
{
  GObject *object = G_OBJECT (handler);
  GString *uri;
  gchar *name = NULL;
  gchar **keys;
  gboolean first = TRUE;
  guint i;

  g_object_get (object, "buffer-name", &name, NULL);
  if (name == NULL)
    return NULL;
  uri = g_string_new (URI_PREFIX);
  g_string_append_uri_escaped (uri, name, NULL, FALSE);
  g_free (name);

  GST_OBJECT_LOCK (object);
  keys = g_strdupv (g_object_get_qdata (object, keys_quark));
  GST_OBJECT_UNLOCK (object);
  for (i = 0; keys != NULL && keys[i] != NULL; i++) {
    GParamSpec *pspec =
        g_object_class_find_property (G_OBJECT_GET_CLASS (object), keys[i]);
    GValue value = G_VALUE_INIT;
    gchar *text;

    g_value_init (&value, G_PARAM_SPEC_VALUE_TYPE (pspec));
    g_object_get_property (object, keys[i], &value);
    text = write_value (pspec, &value);
    g_value_unset (&value);
    if (text == NULL)
      continue;
    g_string_append_c (uri, first ? '?' : '&');
    first = FALSE;
    g_string_append_printf (uri, "%s=", keys[i]);
    g_string_append_uri_escaped (uri, text, "/,:=()", FALSE);
    g_free (text);
  }
  g_strfreev (keys);
  return g_string_free (uri, FALSE);
}

static const gchar *const *
gst_zb_uri_get_protocols (GType type)
{
  return protocols;
}

static GstURIType
gst_zb_uri_get_src_type (GType type)
{
  return GST_URI_SRC;
}

static GstURIType
gst_zb_uri_get_sink_type (GType type)
{
  return GST_URI_SINK;
}

static void
handler_init (GstURIHandlerInterface * iface)
{
  GST_DEBUG_CATEGORY_INIT (gst_zb_uri_debug, "zburi", 0, "zerobuffer:// URIs");
  keys_quark = g_quark_from_static_string ("gst-zb-uri-keys");
  iface->get_protocols = gst_zb_uri_get_protocols;
  iface->get_uri = gst_zb_uri_get_uri;
  iface->set_uri = gst_zb_uri_set_uri;
}

void
gst_zb_uri_src_handler_init (gpointer g_iface, gpointer iface_data)
{
  GstURIHandlerInterface *iface = g_iface;

  iface->get_type = gst_zb_uri_get_src_type;
  handler_init (iface);
}

void
gst_zb_uri_sink_handler_init (gpointer g_iface, gpointer iface_data)
{
  GstURIHandlerInterface *iface = g_iface;

  iface->get_type = gst_zb_uri_get_sink_type;
  handler_init (iface);
}
