/* Fuzz target: a reader and a writer over a segment whose OIEB, metadata
 * block and ring hold hostile bytes.
 *
 * Input: byte 0 = how many "data available" tokens to post (0..7) and the
 * release order; byte 1 = how many frames the writer tries; the rest
 * overwrites the segment from offset 0 (OIEB 128 + metadata 128 + ring
 * 1024 bytes). Every call must return an error or a frame inside the ring,
 * never crash, hang or read out of bounds. */

#include "zerobuffer/zerobuffer.h"
#include "zb-private.h"

#include <errno.h>
#include <fcntl.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define SEGMENT_SIZE (ZB_OIEB_SIZE + 128 + 1024)

int LLVMFuzzerTestOneInput (const uint8_t * data, size_t size);

static void
consume (const zb_frame * f, const uint8_t * seg)
{
  const uint8_t *p = f->data;
  volatile uint8_t sink = 0;
  size_t i;

  /* A frame must lie inside the ring: touch every byte of it. */
  if (p < seg + ZB_OIEB_SIZE + 128 || p + f->size > seg + SEGMENT_SIZE)
    abort ();
  for (i = 0; i < f->size; i++)
    sink ^= p[i];
  (void) sink;
}

/* Where the reader mapped the segment: plant one byte of metadata, ask for
 * it, and undo. */
static const uint8_t *
reader_base (zb_reader * reader, uint8_t * seg)
{
  uint64_t one = 1, written = 9;
  const void *meta;
  size_t meta_size;

  memcpy (seg + ZB_OIEB_SIZE, &one, 8);
  memcpy (seg + 0x18, &written, 8);
  if (zb_reader_get_metadata (reader, &meta, &meta_size) != 0)
    abort ();
  memset (seg + ZB_OIEB_SIZE, 0, 8);
  memset (seg + 0x18, 0, 8);
  return (const uint8_t *) meta - ZB_OIEB_SIZE - 8;
}

static void
exercise_reader (zb_reader * reader, const uint8_t * seg, unsigned int ctl)
{
  zb_frame frames[8];
  unsigned int tokens = ctl & 7;
  unsigned int got = 0, i;
  const void *meta;
  size_t meta_size;
  zb_status st;

  for (i = 0; i < tokens + 1; i++) {
    int ret = zb_reader_read (reader, 0, &frames[got]);

    if (ret < 0)
      break;
    consume (&frames[got], seg);
    got++;
  }
  /* Release in reverse order when bit 3 is set, else in order. */
  for (i = 0; i < got; i++) {
    unsigned int k = (ctl & 8) ? got - 1 - i : i;

    if (zb_reader_release (reader, &frames[k]) != 0)
      abort ();
  }
  if (got > 0 && zb_reader_release (reader, &frames[0]) != -EINVAL)
    abort ();
  if (zb_reader_get_metadata (reader, &meta, &meta_size) == 0) {
    const uint8_t *m = meta;

    if (m < seg + ZB_OIEB_SIZE + 8 || m + meta_size > seg + ZB_OIEB_SIZE + 128)
      abort ();
  }
  zb_reader_get_status (reader, &st);
}

static void
exercise_writer (const char *name, unsigned int frames)
{
  zb_writer_config wc = { 0, 1 };
  zb_writer *writer;
  uint8_t buf[600];
  unsigned int i;

  if (zb_writer_connect (name, &wc, &writer) < 0)
    return;
  memset (buf, 0xa5, sizeof (buf));
  zb_writer_set_metadata (writer, buf, 40);
  for (i = 0; i < frames; i++)
    if (zb_writer_write (writer, buf, 1 + (i * 97) % sizeof (buf)) < 0)
      break;
  zb_writer_disconnect (writer);
}

int
LLVMFuzzerTestOneInput (const uint8_t * data, size_t size)
{
  zb_reader_config rc = { 128, 1024, 0600 };
  char name[64], obj[80];
  zb_reader *reader;
  uint8_t *seg;
  const uint8_t *base;
  sem_t *sem_w;
  unsigned int ctl, i;
  int fd;

  if (size < 2)
    return 0;
  snprintf (name, sizeof (name), "zbfuzz-%d", (int) getpid ());
  if (zb_reader_create (name, &rc, &reader) < 0)
    abort ();

  snprintf (obj, sizeof (obj), "/%s", name);
  fd = shm_open (obj, O_RDWR, 0);
  seg = mmap (NULL, SEGMENT_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close (fd);
  if (seg == MAP_FAILED)
    abort ();
  base = reader_base (reader, seg);
  memcpy (seg, data + 2, size - 2 < SEGMENT_SIZE ? size - 2 : SEGMENT_SIZE);

  ctl = data[0];
  snprintf (obj, sizeof (obj), "/sem-w-%s", name);
  sem_w = sem_open (obj, 0);
  for (i = 0; i < (ctl & 7); i++)
    sem_post (sem_w);
  sem_close (sem_w);

  exercise_reader (reader, base, ctl);
  /* A dead writer's pid makes a connecting writer wait (up to
   * ZB_RECOVERY_WAIT_MS) for a recovery that this reader, not reading
   * meanwhile, never makes: bounded, but it would cost the fuzzer 500 ms a
   * run. The wait itself is tests/fault/test-steps.c's. */
  {
    uint64_t pid;

    memcpy (&pid, seg + 0x50, sizeof (pid));
    if (pid != 0 && pid != (uint64_t) getpid ())
      memset (seg + 0x50, 0, sizeof (pid));
  }
  exercise_writer (name, data[1] & 15);
  exercise_reader (reader, base, ctl);

  munmap (seg, SEGMENT_SIZE);
  zb_reader_destroy (reader);
  return 0;
}
