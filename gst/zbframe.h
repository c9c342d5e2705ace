/* zerobuffer GStreamer plugin - frame format codec
 *
 * The "gst" frame format: every frame in the ring starts with a fixed
 * ZB_GST_HEADER_SIZE-byte little-endian header (see docs/frame-format.md),
 * followed by the record's payload. This file is plain C (no GLib) so that
 * the decoder can be fuzzed on its own.
 */

#ifndef ZBFRAME_H
#define ZBFRAME_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ZB_GST_MAGIC_0 'Z'
#define ZB_GST_MAGIC_1 'B'
#define ZB_GST_MAGIC_2 'G'
#define ZB_GST_MAGIC_3 'S'
#define ZB_GST_VERSION 1
#define ZB_GST_HEADER_SIZE 80

/* "no value" for every u64 time field */
#define ZB_GST_NONE UINT64_MAX

typedef enum
{
  ZB_GST_RECORD_BUFFER = 1,
  ZB_GST_RECORD_CAPS = 2,
  ZB_GST_RECORD_EOS = 3,
  ZB_GST_RECORD_PAD = 4,        /* no-op: fills the ring up to its end so
                                 * that the next record starts at offset 0;
                                 * readers skip it, payload ignored */
  ZB_GST_RECORD_POOL = 5,       /* a buffer whose bytes lie in a pool
                                 * segment of the writer: the payload is a
                                 * zb_gst_pool_ref */
  ZB_GST_RECORD_ERROR = 6       /* the writer's pipeline failed: the
                                 * payload is its error message, UTF-8,
                                 * then optionally a NUL and the debug
                                 * text; at most ZB_GST_ERROR_MAX bytes */
} zb_gst_record_type;

/* The largest payload of an error record. */
#define ZB_GST_ERROR_MAX 4096

/* The smallest ring frame that holds a record (with the 16-byte ZeroBuffer
 * frame header): a pad record is at least this large. */
#define ZB_GST_MIN_FRAME (16 + ZB_GST_HEADER_SIZE)

/* ts_flags */
#define ZB_GST_TS_CLOCK_VALID (1u << 0) /* pts_clock / dts_clock are
                                         * CLOCK_MONOTONIC nanoseconds */

typedef struct
{
  uint8_t type;                 /* zb_gst_record_type */
  uint16_t header_size;         /* bytes before the payload, >= 80 */
  uint32_t buffer_flags;        /* GstBufferFlags */
  uint32_t ts_flags;            /* ZB_GST_TS_* */
  uint64_t pts;                 /* writer's buffer PTS, ns, or NONE */
  uint64_t dts;
  uint64_t duration;
  uint64_t offset;
  uint64_t offset_end;
  uint64_t pts_clock;           /* CLOCK_MONOTONIC ns of the PTS, or NONE */
  uint64_t dts_clock;
  uint64_t payload_size;        /* bytes after the header */
} zb_gst_record;

/* Initialise @rec for a record of @type: every time field NONE, sizes 0. */
void zb_gst_record_init (zb_gst_record * rec, zb_gst_record_type type);

/* Write the header of @rec into @out, which has room for at least
 * ZB_GST_HEADER_SIZE bytes. header_size is always written as
 * ZB_GST_HEADER_SIZE. */
void zb_gst_record_encode (const zb_gst_record * rec, uint8_t * out);

/* Parse the frame @data of @size bytes. Validates the magic, the version,
 * the type, header_size and that header_size + payload_size == @size.
 * On success fills *@rec, points *@payload at the payload (inside @data)
 * and returns 0; otherwise returns a negative errno (-EBADMSG bad magic or
 * lengths, -EPROTONOSUPPORT unknown version, -EPROTO unknown type) and
 * leaves *@rec and *@payload untouched. Never reads outside
 * [data, data + size). */
int zb_gst_record_decode (const void *data, size_t size, zb_gst_record * rec,
    const void **payload);

/* Pool records (type 5): the buffer's bytes lie in a block of a shared
 * memory object that the writer created ("pool segment", see
 * docs/frame-format.md). The record's payload is this reference,
 * ZB_GST_POOL_REF_SIZE bytes (a later revision may append fields). */
#define ZB_GST_POOL_NAME_SIZE 128       /* name field, NUL-padded */
#define ZB_GST_POOL_REF_SIZE (5 * 8 + ZB_GST_POOL_NAME_SIZE)

typedef struct
{
  uint64_t segment_size;        /* bytes of the segment (its fstat size) */
  uint64_t block_size;          /* blocks start at multiples of it */
  uint64_t offset;              /* of the buffer's bytes in the segment */
  uint64_t size;                /* the buffer's bytes, inside one block */
  uint64_t serial;              /* the segment's number (last field of
                                 * its name) */
  char name[ZB_GST_POOL_NAME_SIZE];     /* NUL-terminated */
} zb_gst_pool_ref;

/* Write @ref into @out (ZB_GST_POOL_REF_SIZE bytes). */
void zb_gst_pool_ref_encode (const zb_gst_pool_ref * ref, uint8_t * out);

/* Parse the payload of a pool record (@size bytes). Checks the lengths,
 * that the name is NUL-terminated, made of [A-Za-z0-9._-] and starts with
 * "zbpool-", that the block size and segment size are not 0, and that
 * [offset, offset + size) lies in one block [k * block_size, (k + 1) *
 * block_size) that lies inside the segment. The name is not compared
 * with anything (zb_gst_pool_name() makes the one to expect). 0, or
 * -EBADMSG; *@ref is untouched on error. Never reads outside
 * [data, data + size). */
int zb_gst_pool_ref_decode (const void *data, size_t size,
    zb_gst_pool_ref * ref);

/* The name (without the leading '/') of pool segment @serial of writer
 * @pid for buffer @buffer: "zbpool-BUFFER-PID-SERIAL", or with BUFFER
 * replaced by "h" and 16 hex digits of its hash when BUFFER is longer than
 * 64 bytes or holds other bytes than [A-Za-z0-9._-]. @serial
 * ZB_GST_NONE: the prefix every segment of that writer shares, up to and
 * with the '-' before SERIAL. 0, or -ENAMETOOLONG when @size is too
 * small. */
int zb_gst_pool_name (char *out, size_t size, const char *buffer,
    uint64_t pid, uint64_t serial);

#ifdef __cplusplus
}
#endif
#endif /* ZBFRAME_H */
