/* libzerobuffer - names of the side objects our writers keep beside a
 * buffer (docs/protocol.md §11). On its own, without other parts of the
 * library, so that gst/zbframe.c (pool segment names) can be built and
 * fuzzed with it alone. */

#include "zerobuffer/zerobuffer.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* Bytes of a buffer name used as they are. */
#define SIDE_PART_MAX 64

static int
part_char_ok (char c)
{
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
      || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

/* FNV-1a, 64 bits */
static uint64_t
name_hash (const char *s)
{
  uint64_t h = 0xcbf29ce484222325ull;

  for (; *s; s++) {
    h ^= (uint8_t) * s;
    h *= 0x100000001b3ull;
  }
  return h;
}

int
zb_side_object_name (char *out, size_t size, const char *prefix,
    const char *name, uint64_t pid)
{
  char part[SIDE_PART_MAX + 1];
  size_t len, i;
  int plain, n;

  if (out == NULL || prefix == NULL || name == NULL)
    return -EINVAL;
  len = strlen (name);
  plain = len > 0 && len <= SIDE_PART_MAX;
  for (i = 0; plain && i < len; i++)
    plain = part_char_ok (name[i]);
  if (plain)
    memcpy (part, name, len + 1);
  else
    snprintf (part, sizeof (part), "h%016" PRIx64, name_hash (name));
  n = snprintf (out, size, "%s%s-%" PRIu64, prefix, part, pid);
  if (n < 0 || (size_t) n >= size)
    return -ENAMETOOLONG;
  return 0;
}
