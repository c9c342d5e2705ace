/* zb-demo-common.h - what zb-demo-writer and zb-demo-reader agree on
 *
 * The writer describes its run in the metadata block as one line of text,
 * "zb-demo v1 frames=N size=MIN-MAX", and fills frame number SEQ (from 1)
 * with SIZE(SEQ) bytes, byte i being (SEQ * 7 + i) & 0xff. The reader
 * recomputes both from the metadata and the frame's sequence number, so it
 * checks every byte and every size without any side channel.
 */

#ifndef ZB_DEMO_COMMON_H
#define ZB_DEMO_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#define ZB_DEMO_METADATA_FORMAT "zb-demo v1 frames=%llu size=%zu-%zu"

static inline size_t
zb_demo_frame_size (uint64_t seq, size_t min, size_t max)
{
  if (max <= min)
    return min;
  return min + (size_t) ((seq * 2654435761u) % (max - min + 1));
}

static inline void
zb_demo_fill (uint8_t * p, size_t size, uint64_t seq)
{
  uint8_t base = (uint8_t) (seq * 7);
  size_t i;

  for (i = 0; i < size; i++)
    p[i] = (uint8_t) (base + i);
}

/* Returns the offset of the first wrong byte, or size when all are right. */
static inline size_t
zb_demo_check (const uint8_t * p, size_t size, uint64_t seq)
{
  uint8_t base = (uint8_t) (seq * 7);
  size_t i;

  for (i = 0; i < size; i++)
    if (p[i] != (uint8_t) (base + i))
      return i;
  return size;
}

static inline double
zb_demo_now (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* "4096", "64k", "1M": bytes; returns 0 when @s is not a size. */
static inline size_t
zb_demo_parse_size (const char *s, char **end)
{
  unsigned long long v = strtoull (s, end, 10);

  if (*end == s)
    return 0;
  switch (**end) {
    case 'k':
    case 'K':
      v <<= 10;
      (*end)++;
      break;
    case 'm':
    case 'M':
      v <<= 20;
      (*end)++;
      break;
    default:
      break;
  }
  return (size_t) v;
}

#endif /* ZB_DEMO_COMMON_H */
