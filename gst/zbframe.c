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
  if (r.type < ZB_GST_RECORD_BUFFER || r.type > ZB_GST_RECORD_ERROR)
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
  if (r.type == ZB_GST_RECORD_ERROR && r.payload_size > ZB_GST_ERROR_MAX)
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
