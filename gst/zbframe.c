/* zerobuffer GStreamer plugin - frame format codec
 *
 * Plain C (no GLib): the decoders here see bytes written by another process
 * and are meant to be fuzzed; every length is checked before it is used.
 */

#include "zbframe.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Header layout, offsets in bytes (docs/frame-format.md). */
#define OFF_MAGIC 0
#define OFF_VERSION 4
#define OFF_TYPE 5
#define OFF_HEADER_SIZE 6
#define OFF_BUFFER_FLAGS 8
#define OFF_TS_FLAGS 12
#define OFF_PTS 16
#define OFF_DTS 24
#define OFF_DURATION 32
#define OFF_OFFSET 40
#define OFF_OFFSET_END 48
#define OFF_PTS_CLOCK 56
#define OFF_DTS_CLOCK 64
#define OFF_PAYLOAD_SIZE 72

_Static_assert (OFF_PAYLOAD_SIZE + 8 == ZB_GST_HEADER_SIZE,
    "header layout and ZB_GST_HEADER_SIZE disagree");

static void
put_u16 (uint8_t * p, uint16_t v)
{
  p[0] = (uint8_t) v;
  p[1] = (uint8_t) (v >> 8);
}

static void
put_u32 (uint8_t * p, uint32_t v)
{
  int i;

  for (i = 0; i < 4; i++)
    p[i] = (uint8_t) (v >> (8 * i));
}

static void
put_u64 (uint8_t * p, uint64_t v)
{
  int i;

  for (i = 0; i < 8; i++)
    p[i] = (uint8_t) (v >> (8 * i));
}

static uint16_t
get_u16 (const uint8_t * p)
{
  return (uint16_t) (p[0] | (p[1] << 8));
}

static uint32_t
get_u32 (const uint8_t * p)
{
  uint32_t v = 0;
  int i;

  for (i = 3; i >= 0; i--)
    v = (v << 8) | p[i];
  return v;
}

static uint64_t
get_u64 (const uint8_t * p)
{
  uint64_t v = 0;
  int i;

  for (i = 7; i >= 0; i--)
    v = (v << 8) | p[i];
  return v;
}

void
zb_gst_record_init (zb_gst_record * rec, zb_gst_record_type type)
{
  memset (rec, 0, sizeof (*rec));
  rec->type = (uint8_t) type;
  rec->header_size = ZB_GST_HEADER_SIZE;
  rec->pts = rec->dts = rec->duration = ZB_GST_NONE;
  rec->offset = rec->offset_end = ZB_GST_NONE;
  rec->pts_clock = rec->dts_clock = ZB_GST_NONE;
}

void
zb_gst_record_encode (const zb_gst_record * rec, uint8_t * out)
{
  out[OFF_MAGIC + 0] = ZB_GST_MAGIC_0;
  out[OFF_MAGIC + 1] = ZB_GST_MAGIC_1;
  out[OFF_MAGIC + 2] = ZB_GST_MAGIC_2;
  out[OFF_MAGIC + 3] = ZB_GST_MAGIC_3;
  out[OFF_VERSION] = ZB_GST_VERSION;
  out[OFF_TYPE] = rec->type;
  put_u16 (out + OFF_HEADER_SIZE, ZB_GST_HEADER_SIZE);
  put_u32 (out + OFF_BUFFER_FLAGS, rec->buffer_flags);
  put_u32 (out + OFF_TS_FLAGS, rec->ts_flags);
  put_u64 (out + OFF_PTS, rec->pts);
  put_u64 (out + OFF_DTS, rec->dts);
  put_u64 (out + OFF_DURATION, rec->duration);
  put_u64 (out + OFF_OFFSET, rec->offset);
  put_u64 (out + OFF_OFFSET_END, rec->offset_end);
  put_u64 (out + OFF_PTS_CLOCK, rec->pts_clock);
  put_u64 (out + OFF_DTS_CLOCK, rec->dts_clock);
  put_u64 (out + OFF_PAYLOAD_SIZE, rec->payload_size);
}

int
zb_gst_record_decode (const void *data, size_t size, zb_gst_record * rec,
    const void **payload)
{
  const uint8_t *p = data;
  zb_gst_record r;

  if (p == NULL || size < ZB_GST_HEADER_SIZE)
    return -EBADMSG;
  if (p[OFF_MAGIC + 0] != ZB_GST_MAGIC_0 || p[OFF_MAGIC + 1] != ZB_GST_MAGIC_1
      || p[OFF_MAGIC + 2] != ZB_GST_MAGIC_2
      || p[OFF_MAGIC + 3] != ZB_GST_MAGIC_3)
    return -EBADMSG;
  if (p[OFF_VERSION] != ZB_GST_VERSION)
    return -EPROTONOSUPPORT;

  r.type = p[OFF_TYPE];
  if (r.type < ZB_GST_RECORD_BUFFER || r.type > ZB_GST_RECORD_POOL)
    return -EPROTO;

  r.header_size = get_u16 (p + OFF_HEADER_SIZE);
  if (r.header_size < ZB_GST_HEADER_SIZE || r.header_size > size)
    return -EBADMSG;

  r.payload_size = get_u64 (p + OFF_PAYLOAD_SIZE);
  /* header_size <= size was checked, so the subtraction cannot wrap */
  if (r.payload_size != (uint64_t) (size - r.header_size))
    return -EBADMSG;
  if (r.type == ZB_GST_RECORD_EOS && r.payload_size != 0)
    return -EBADMSG;
  if (r.type == ZB_GST_RECORD_POOL && r.payload_size < ZB_GST_POOL_REF_SIZE)
    return -EBADMSG;

  r.buffer_flags = get_u32 (p + OFF_BUFFER_FLAGS);
  r.ts_flags = get_u32 (p + OFF_TS_FLAGS);
  r.pts = get_u64 (p + OFF_PTS);
  r.dts = get_u64 (p + OFF_DTS);
  r.duration = get_u64 (p + OFF_DURATION);
  r.offset = get_u64 (p + OFF_OFFSET);
  r.offset_end = get_u64 (p + OFF_OFFSET_END);
  r.pts_clock = get_u64 (p + OFF_PTS_CLOCK);
  r.dts_clock = get_u64 (p + OFF_DTS_CLOCK);

  *rec = r;
  if (payload)
    *payload = p + r.header_size;
  return 0;
}

/* ------------------------------------------------------------------ */
/* Pool references */

#define POOL_OFF_SEGMENT_SIZE 0
#define POOL_OFF_BLOCK_SIZE 8
#define POOL_OFF_OFFSET 16
#define POOL_OFF_SIZE 24
#define POOL_OFF_SERIAL 32
#define POOL_OFF_NAME 40

_Static_assert (POOL_OFF_NAME + ZB_GST_POOL_NAME_SIZE == ZB_GST_POOL_REF_SIZE,
    "pool reference layout and ZB_GST_POOL_REF_SIZE disagree");

#define POOL_PREFIX "zbpool-"
/* buffer names longer than this are hashed into the segment name */
#define POOL_BUFFER_MAX 64

static int
name_char_ok (char c)
{
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
      (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

void
zb_gst_pool_ref_encode (const zb_gst_pool_ref * ref, uint8_t * out)
{
  size_t len = strnlen (ref->name, ZB_GST_POOL_NAME_SIZE - 1);

  put_u64 (out + POOL_OFF_SEGMENT_SIZE, ref->segment_size);
  put_u64 (out + POOL_OFF_BLOCK_SIZE, ref->block_size);
  put_u64 (out + POOL_OFF_OFFSET, ref->offset);
  put_u64 (out + POOL_OFF_SIZE, ref->size);
  put_u64 (out + POOL_OFF_SERIAL, ref->serial);
  memset (out + POOL_OFF_NAME, 0, ZB_GST_POOL_NAME_SIZE);
  memcpy (out + POOL_OFF_NAME, ref->name, len);
}

int
zb_gst_pool_ref_decode (const void *data, size_t size, zb_gst_pool_ref * ref)
{
  const uint8_t *p = data;
  zb_gst_pool_ref r;
  uint64_t block_start;
  size_t len, i;

  if (p == NULL || size < ZB_GST_POOL_REF_SIZE)
    return -EBADMSG;
  r.segment_size = get_u64 (p + POOL_OFF_SEGMENT_SIZE);
  r.block_size = get_u64 (p + POOL_OFF_BLOCK_SIZE);
  r.offset = get_u64 (p + POOL_OFF_OFFSET);
  r.size = get_u64 (p + POOL_OFF_SIZE);
  r.serial = get_u64 (p + POOL_OFF_SERIAL);

  len = strnlen ((const char *) p + POOL_OFF_NAME, ZB_GST_POOL_NAME_SIZE);
  if (len == ZB_GST_POOL_NAME_SIZE || len <= strlen (POOL_PREFIX))
    return -EBADMSG;
  if (memcmp (p + POOL_OFF_NAME, POOL_PREFIX, strlen (POOL_PREFIX)) != 0)
    return -EBADMSG;
  for (i = 0; i < len; i++)
    if (!name_char_ok ((char) p[POOL_OFF_NAME + i]))
      return -EBADMSG;
  /* the rest of the field is padding: NUL */
  for (i = len; i < ZB_GST_POOL_NAME_SIZE; i++)
    if (p[POOL_OFF_NAME + i] != 0)
      return -EBADMSG;

  /* the bytes lie in one block, and the block in the segment; no sum
   * that can wrap */
  if (r.block_size == 0 || r.segment_size == 0)
    return -EBADMSG;
  block_start = r.offset - r.offset % r.block_size;
  if (block_start >= r.segment_size
      || r.block_size > r.segment_size - block_start)
    return -EBADMSG;
  if (r.size > r.block_size - (r.offset - block_start))
    return -EBADMSG;

  memcpy (r.name, p + POOL_OFF_NAME, len);
  memset (r.name + len, 0, ZB_GST_POOL_NAME_SIZE - len);
  *ref = r;
  return 0;
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
zb_gst_pool_name (char *out, size_t size, const char *buffer, uint64_t pid,
    uint64_t serial)
{
  char part[POOL_BUFFER_MAX + 1];
  size_t len = strlen (buffer), i;
  int plain = len > 0 && len <= POOL_BUFFER_MAX, n;

  for (i = 0; plain && i < len; i++)
    plain = name_char_ok (buffer[i]);
  if (plain)
    memcpy (part, buffer, len + 1);
  else
    snprintf (part, sizeof (part), "h%016" PRIx64, name_hash (buffer));
  if (serial == ZB_GST_NONE)
    n = snprintf (out, size, POOL_PREFIX "%s-%" PRIu64 "-", part, pid);
  else
    n = snprintf (out, size, POOL_PREFIX "%s-%" PRIu64 "-%" PRIu64, part,
        pid, serial);
  if (n < 0 || (size_t) n >= size)
    return -ENAMETOOLONG;
  return 0;
}

/* ------------------------------------------------------------------ */
/* JSON */

typedef struct
{
  const char *s;
  size_t len;
  size_t pos;
} json_cursor;

static void
json_skip_ws (json_cursor * c)
{
  while (c->pos < c->len && (c->s[c->pos] == ' ' || c->s[c->pos] == '\t'
          || c->s[c->pos] == '\n' || c->s[c->pos] == '\r'))
    c->pos++;
}

static int
hex_value (char ch)
{
  if (ch >= '0' && ch <= '9')
    return ch - '0';
  if (ch >= 'a' && ch <= 'f')
    return ch - 'a' + 10;
  if (ch >= 'A' && ch <= 'F')
    return ch - 'A' + 10;
  return -1;
}

static int
json_read_hex4 (json_cursor * c, unsigned int *out)
{
  unsigned int v = 0;
  int i, h;

  if (c->len - c->pos < 4)
    return -1;
  for (i = 0; i < 4; i++) {
    h = hex_value (c->s[c->pos + i]);
    if (h < 0)
      return -1;
    v = (v << 4) | (unsigned int) h;
  }
  c->pos += 4;
  *out = v;
  return 0;
}

static size_t
utf8_encode (unsigned int cp, char *out)
{
  if (cp < 0x80) {
    out[0] = (char) cp;
    return 1;
  } else if (cp < 0x800) {
    out[0] = (char) (0xc0 | (cp >> 6));
    out[1] = (char) (0x80 | (cp & 0x3f));
    return 2;
  } else if (cp < 0x10000) {
    out[0] = (char) (0xe0 | (cp >> 12));
    out[1] = (char) (0x80 | ((cp >> 6) & 0x3f));
    out[2] = (char) (0x80 | (cp & 0x3f));
    return 3;
  }
  out[0] = (char) (0xf0 | (cp >> 18));
  out[1] = (char) (0x80 | ((cp >> 12) & 0x3f));
  out[2] = (char) (0x80 | ((cp >> 6) & 0x3f));
  out[3] = (char) (0x80 | (cp & 0x3f));
  return 4;
}

/* Parse a string at the cursor (which points at '"'). When @out is not
 * NULL it must have room for the raw length of the literal plus one:
 * unescaping never makes a string longer. Returns the unescaped length or
 * -1. */
static long
json_parse_string (json_cursor * c, char *out)
{
  size_t n = 0;
  unsigned int cp, lo;
  char tmp[4];
  size_t k, i;

  if (c->pos >= c->len || c->s[c->pos] != '"')
    return -1;
  c->pos++;
  while (c->pos < c->len) {
    char ch = c->s[c->pos++];

    if (ch == '"') {
      if (out)
        out[n] = '\0';
      return (long) n;
    }
    if ((unsigned char) ch < 0x20)
      return -1;
    if (ch != '\\') {
      if (out)
        out[n] = ch;
      n++;
      continue;
    }
    if (c->pos >= c->len)
      return -1;
    ch = c->s[c->pos++];
    switch (ch) {
      case '"':
      case '\\':
      case '/':
        tmp[0] = ch;
        k = 1;
        break;
      case 'b':
        tmp[0] = '\b';
        k = 1;
        break;
      case 'f':
        tmp[0] = '\f';
        k = 1;
        break;
      case 'n':
        tmp[0] = '\n';
        k = 1;
        break;
      case 'r':
        tmp[0] = '\r';
        k = 1;
        break;
      case 't':
        tmp[0] = '\t';
        k = 1;
        break;
      case 'u':
        if (json_read_hex4 (c, &cp) < 0 || cp == 0)
          return -1;
        if (cp >= 0xd800 && cp <= 0xdbff) {
          /* a surrogate pair: 12 input bytes give 4 output bytes */
          if (c->len - c->pos < 6 || c->s[c->pos] != '\\'
              || c->s[c->pos + 1] != 'u')
            return -1;
          c->pos += 2;
          if (json_read_hex4 (c, &lo) < 0 || lo < 0xdc00 || lo > 0xdfff)
            return -1;
          cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
        } else if (cp >= 0xdc00 && cp <= 0xdfff) {
          return -1;
        }
        /* 6 input bytes give at most 3 output bytes (BMP) */
        k = utf8_encode (cp, tmp);
        break;
      default:
        return -1;
    }
    for (i = 0; i < k; i++) {
      if (out)
        out[n] = tmp[i];
      n++;
    }
  }
  return -1;
}

static int json_skip_value (json_cursor * c, int depth);

static int
json_skip_container (json_cursor * c, int depth, char close)
{
  int first = 1;

  c->pos++;                     /* '{' or '[' */
  for (;;) {
    json_skip_ws (c);
    if (c->pos >= c->len)
      return -1;
    if (c->s[c->pos] == close) {
      c->pos++;
      return 0;
    }
    if (!first) {
      if (c->s[c->pos] != ',')
        return -1;
      c->pos++;
      json_skip_ws (c);
    }
    first = 0;
    if (close == '}') {
      if (json_parse_string (c, NULL) < 0)
        return -1;
      json_skip_ws (c);
      if (c->pos >= c->len || c->s[c->pos] != ':')
        return -1;
      c->pos++;
      json_skip_ws (c);
    }
    if (json_skip_value (c, depth + 1) < 0)
      return -1;
  }
}

static int
json_skip_value (json_cursor * c, int depth)
{
  char ch;

  if (depth > 32 || c->pos >= c->len)
    return -1;
  ch = c->s[c->pos];
  if (ch == '"')
    return json_parse_string (c, NULL) < 0 ? -1 : 0;
  if (ch == '{')
    return json_skip_container (c, depth, '}');
  if (ch == '[')
    return json_skip_container (c, depth, ']');
  /* number, true, false, null: a run of these characters */
  if (!((ch >= '0' && ch <= '9') || ch == '-' || ch == 't' || ch == 'f'
          || ch == 'n'))
    return -1;
  while (c->pos < c->len) {
    ch = c->s[c->pos];
    if ((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || ch == '-'
        || ch == '+' || ch == '.' || ch == 'E')
      c->pos++;
    else
      break;
  }
  return 0;
}

char *
zb_json_get_string (const char *json, size_t len, const char *key)
{
  json_cursor c = { json, len, 0 };
  char *found = NULL;
  int first = 1;

  if (json == NULL || key == NULL)
    return NULL;
  json_skip_ws (&c);
  if (c.pos >= c.len || c.s[c.pos] != '{')
    return NULL;
  c.pos++;
  for (;;) {
    json_cursor kc;
    char *name;
    long n;

    json_skip_ws (&c);
    if (c.pos >= c.len)
      goto fail;
    if (c.s[c.pos] == '}') {
      c.pos++;
      break;
    }
    if (!first) {
      if (c.s[c.pos] != ',')
        goto fail;
      c.pos++;
      json_skip_ws (&c);
    }
    first = 0;

    kc = c;
    n = json_parse_string (&kc, NULL);
    if (n < 0)
      goto fail;
    name = malloc ((size_t) (kc.pos - c.pos) + 1);
    if (name == NULL)
      goto fail;
    json_parse_string (&c, name);
    json_skip_ws (&c);
    if (c.pos >= c.len || c.s[c.pos] != ':') {
      free (name);
      goto fail;
    }
    c.pos++;
    json_skip_ws (&c);

    if (found == NULL && strcmp (name, key) == 0 && strlen (name) == (size_t) n
        && c.pos < c.len && c.s[c.pos] == '"') {
      kc = c;
      if (json_parse_string (&kc, NULL) < 0) {
        free (name);
        goto fail;
      }
      found = malloc ((size_t) (kc.pos - c.pos) + 1);
      if (found == NULL) {
        free (name);
        goto fail;
      }
      json_parse_string (&c, found);
    } else if (json_skip_value (&c, 1) < 0) {
      free (name);
      goto fail;
    }
    free (name);
  }
  /* only trailing white space may follow the object */
  json_skip_ws (&c);
  if (c.pos != c.len)
    goto fail;
  return found;

fail:
  free (found);
  return NULL;
}

int
zb_json_append_string (char *out, size_t cap, size_t *pos, const char *s)
{
  static const char hex[] = "0123456789abcdef";
  size_t p = *pos;

#define PUT(ch) do { if (p >= cap) return -1; out[p++] = (ch); } while (0)
  PUT ('"');
  for (; *s; s++) {
    unsigned char ch = (unsigned char) *s;

    if (ch == '"' || ch == '\\') {
      PUT ('\\');
      PUT ((char) ch);
    } else if (ch < 0x20) {
      PUT ('\\');
      PUT ('u');
      PUT ('0');
      PUT ('0');
      PUT (hex[ch >> 4]);
      PUT (hex[ch & 0xf]);
    } else {
      PUT ((char) ch);
    }
  }
  PUT ('"');
#undef PUT
  *pos = p;
  return 0;
}
