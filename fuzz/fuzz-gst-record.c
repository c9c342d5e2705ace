/* Fuzz target: the "gst" frame-format record decoder (gst/zbframe.c).
 *
 * Input: one frame as a hostile writer would put it in the ring. The
 * decoder must refuse it or describe a record that lies inside the frame;
 * what it accepts must survive an encode/decode round trip unchanged. A
 * pool record's reference (type 5) must be refused or lie inside its
 * segment, in one block, and survive a round trip too. */

#include "zbframe.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t * data, size_t size);

static void
check_pool_ref (const uint8_t * p, size_t size)
{
  zb_gst_pool_ref ref, again;
  uint8_t out[ZB_GST_POOL_REF_SIZE];
  uint64_t start;
  size_t len;

  if (size < ZB_GST_POOL_REF_SIZE)
    abort ();                   /* the record decoder refuses these */
  memset (&ref, 0x5a, sizeof (ref));
  if (zb_gst_pool_ref_decode (p, size, &ref) != 0)
    return;
  len = strnlen (ref.name, sizeof (ref.name));
  if (len == sizeof (ref.name) || strncmp (ref.name, "zbpool-", 7) != 0)
    abort ();
  if (ref.block_size == 0 || ref.segment_size == 0)
    abort ();
  start = ref.offset - ref.offset % ref.block_size;
  /* the reader maps segment_size bytes and reads [offset, offset + size) */
  if (ref.offset >= ref.segment_size && ref.size > 0)
    abort ();
  if (ref.size > ref.segment_size - ref.offset)
    abort ();
  if (start > ref.segment_size || ref.block_size > ref.segment_size - start)
    abort ();
  zb_gst_pool_ref_encode (&ref, out);
  if (zb_gst_pool_ref_decode (out, sizeof (out), &again) != 0)
    abort ();
  if (memcmp (&ref, &again, sizeof (ref)) != 0)
    abort ();
}

int
LLVMFuzzerTestOneInput (const uint8_t * data, size_t size)
{
  zb_gst_record rec, again;
  const void *payload = NULL;
  const uint8_t *p;
  uint8_t *copy;
  volatile uint8_t sink = 0;
  size_t i;
  int ret;

  /* an exact-size heap copy, so that ASan sees any read past the end */
  copy = malloc (size ? size : 1);
  if (copy == NULL)
    return 0;
  if (size)
    memcpy (copy, data, size);

  memset (&rec, 0x5a, sizeof (rec));
  ret = zb_gst_record_decode (copy, size, &rec, &payload);
  if (ret == 0) {
    p = payload;
    if (rec.header_size < ZB_GST_HEADER_SIZE || rec.header_size > size)
      abort ();
    if (p != copy + rec.header_size)
      abort ();
    if (rec.payload_size != size - rec.header_size)
      abort ();
    if (rec.type < ZB_GST_RECORD_BUFFER || rec.type > ZB_GST_RECORD_ERROR)
      abort ();
    if (rec.type == ZB_GST_RECORD_ERROR && rec.payload_size > ZB_GST_ERROR_MAX)
      abort ();
    if (rec.type == ZB_GST_RECORD_POOL)
      check_pool_ref (p, rec.payload_size);
    if (rec.type == ZB_GST_RECORD_EOS && rec.payload_size != 0)
      abort ();
    for (i = 0; i < rec.payload_size; i++)
      sink ^= p[i];
    (void) sink;

    /* round trip: our encoder writes header_size 80, so re-encode the
     * header in front of the same payload and decode it again */
    {
      uint8_t *frame = malloc (ZB_GST_HEADER_SIZE + rec.payload_size);

      if (frame != NULL) {
        zb_gst_record_encode (&rec, frame);
        memcpy (frame + ZB_GST_HEADER_SIZE, p, rec.payload_size);
        if (zb_gst_record_decode (frame, ZB_GST_HEADER_SIZE + rec.payload_size,
                &again, NULL) != 0)
          abort ();
        if (again.type != rec.type || again.buffer_flags != rec.buffer_flags
            || again.ts_flags != rec.ts_flags || again.pts != rec.pts
            || again.dts != rec.dts || again.duration != rec.duration
            || again.offset != rec.offset
            || again.offset_end != rec.offset_end
            || again.pts_clock != rec.pts_clock
            || again.dts_clock != rec.dts_clock
            || again.payload_size != rec.payload_size)
          abort ();
        free (frame);
      }
    }
  } else {
    /* a refused frame leaves the outputs untouched */
    if (payload != NULL)
      abort ();
    if (ret >= 0)
      abort ();
  }

  /* every shorter prefix is refused or parses inside itself */
  if (size > 0 && zb_gst_record_decode (copy, size - 1, &again, &payload) == 0
      && (const uint8_t *) payload > copy + size - 1)
    abort ();
  free (copy);
  return 0;
}
