/* Fuzz target: the metadata JSON reader zb_json_get_string() (gst/zbframe.c),
 * which zbsrc runs over whatever a writer put in the metadata block.
 *
 * Input: byte 0 picks the key (one of the keys zbsrc asks for, or the
 * next bytes up to a NUL); the rest is the JSON text, not NUL-terminated.
 * The reader must return NULL or a NUL-terminated string without inner
 * NULs, never read outside the text, and a string it returns must come
 * back unchanged through zb_json_append_string() and a second parse. */

#include "zbframe.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t * data, size_t size);

static const char *const keys[] = {
  "caps", "frame_format", "type", "version", "element_name", ""
};

static void
check_round_trip (const char *key, const char *value)
{
  size_t cap = 16 + 2 * strlen (key) + 6 * strlen (value) + 16;
  char *out = malloc (cap);
  size_t pos = 0;
  char *back;

  if (out == NULL)
    return;
  out[pos++] = '{';
  if (zb_json_append_string (out, cap, &pos, key) != 0)
    abort ();
  out[pos++] = ':';
  if (zb_json_append_string (out, cap, &pos, value) != 0)
    abort ();
  out[pos++] = '}';
  back = zb_json_get_string (out, pos, key);
  if (back == NULL || strcmp (back, value) != 0)
    abort ();
  free (back);
  free (out);
}

int
LLVMFuzzerTestOneInput (const uint8_t * data, size_t size)
{
  char keybuf[33];
  const char *key;
  const uint8_t *text;
  size_t text_len, n;
  char *copy, *value;

  if (size < 1)
    return 0;
  if (data[0] < 0xf0) {
    key = keys[data[0] % (sizeof (keys) / sizeof (keys[0]))];
    text = data + 1;
    text_len = size - 1;
  } else {
    /* the key is the bytes after byte 0 up to a NUL (at most 32) */
    for (n = 0; n < 32 && 1 + n < size && data[1 + n] != 0; n++)
      keybuf[n] = (char) data[1 + n];
    keybuf[n] = '\0';
    key = keybuf;
    text = data + 1 + n + (1 + n < size ? 1 : 0);
    text_len = size - (size_t) (text - data);
  }

  /* an exact-size heap copy, so that ASan sees any read past the end */
  copy = malloc (text_len ? text_len : 1);
  if (copy == NULL)
    return 0;
  if (text_len)
    memcpy (copy, text, text_len);

  value = zb_json_get_string (copy, text_len, key);
  if (value != NULL) {
    size_t vlen = strlen (value);

    /* an unescaped string is never longer than its literal */
    if (vlen > text_len)
      abort ();
    check_round_trip (key, value);
    free (value);
  }
  free (copy);
  return 0;
}
