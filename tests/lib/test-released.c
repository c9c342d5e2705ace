/* zb_writer_bytes_committed() / zb_writer_bytes_released(): the writer's
 * view of which frames the reader has given back (space returns in ring
 * order). zbsink's pool reuses a block only once the record that
 * referenced it is released: these marks are what it compares. */

#include "zbtest.h"

/* Marks grow by 16 + size per frame; a frame is released (released >= its
 * mark) exactly when it and every frame before it were released, whatever
 * order the reader releases them in. */
static void
test_marks_in_ring_order (void)
{
  const char *name = zbt_name ();
  zb_reader *r = zbt_reader (name, 0, 65536);
  zb_writer *w = zbt_writer (name, 300);
  zb_frame f[3];
  uint64_t mark[3];
  int i;

  ZBT_EQU (zb_writer_bytes_committed (w), 0);
  ZBT_EQU (zb_writer_bytes_released (w), 0);
  for (i = 0; i < 3; i++) {
    ZBT_OK (zbt_write (w, 1000, i + 1));
    mark[i] = zb_writer_bytes_committed (w);
    ZBT_EQU (mark[i], (uint64_t) (i + 1) * 1016);
  }
  ZBT_EQU (zb_writer_bytes_released (w), 0);
  for (i = 0; i < 3; i++)
    zbt_read_check (r, 1000, i + 1, 1000, &f[i]);
  /* read is not released */
  ZBT_EQU (zb_writer_bytes_released (w), 0);
  /* the second first: nothing comes back before the first */
  ZBT_OK (zb_reader_release (r, &f[1]));
  ZBT_ASSERT (zb_writer_bytes_released (w) < mark[0]);
  ZBT_OK (zb_reader_release (r, &f[0]));
  ZBT_ASSERT (zb_writer_bytes_released (w) >= mark[1]);
  ZBT_ASSERT (zb_writer_bytes_released (w) < mark[2]);
  ZBT_OK (zb_reader_release (r, &f[2]));
  ZBT_EQU (zb_writer_bytes_released (w), mark[2]);
  ZBT_EQU (zb_writer_bytes_committed (w), mark[2]);
  zb_writer_disconnect (w);
  zb_reader_destroy (r);
  ZBT_EQ (zbt_objects (name), 0);
}

/* Over many wraps (tails skipped by a wrap are committed too), released
 * never passes committed and catches up exactly once all is released. */
static void
test_marks_across_wraps (void)
{
  const char *name = zbt_name ();
  zb_reader *r = zbt_reader (name, 0, 10240);
  zb_writer *w = zbt_writer (name, 300);
  uint64_t prev = 0, mark;
  int i;

  for (i = 1; i <= 500; i++) {
    size_t size = 100 + (size_t) (i * 37) % 3000;

    ZBT_OK (zbt_write (w, size, i));
    mark = zb_writer_bytes_committed (w);
    ZBT_ASSERT (mark >= prev + 16 + size);
    ZBT_ASSERT (zb_writer_bytes_released (w) <= mark);
    prev = mark;
    zbt_read_release (r, 1000, i, size);
    ZBT_EQU (zb_writer_bytes_released (w), mark);
  }
  zb_writer_disconnect (w);
  zb_reader_destroy (r);
  ZBT_EQ (zbt_objects (name), 0);
}

/* A writer that connects while the reader still holds an earlier writer's
 * frame starts with released 0, and its first frame's mark counts the
 * held bytes. */
static void
test_marks_new_writer (void)
{
  const char *name = zbt_name ();
  zb_reader *r = zbt_reader (name, 0, 10240);
  zb_writer *w = zbt_writer (name, 300);
  zb_frame f;
  uint64_t mark;

  ZBT_OK (zbt_write (w, 1000, 1));
  zb_writer_disconnect (w);
  zbt_read_check (r, 1000, 1, 1000, &f);
  w = zbt_writer (name, 300);
  ZBT_EQU (zb_writer_bytes_committed (w), 1016);
  ZBT_EQU (zb_writer_bytes_released (w), 0);
  ZBT_OK (zbt_write (w, 500, 1));
  mark = zb_writer_bytes_committed (w);
  ZBT_EQU (mark, 1016 + 516);
  ZBT_OK (zb_reader_release (r, &f));
  ZBT_EQU (zb_writer_bytes_released (w), 1016);
  zbt_read_release (r, 1000, 1, 500);
  ZBT_EQU (zb_writer_bytes_released (w), mark);
  ZBT_EQU (zb_writer_bytes_released (NULL), 0);
  ZBT_EQU (zb_writer_bytes_committed (NULL), 0);
  zb_writer_disconnect (w);
  zb_reader_destroy (r);
  ZBT_EQ (zbt_objects (name), 0);
}

static const zbt_case cases[] = {
  {"released marks follow ring order", test_marks_in_ring_order, 20},
  {"released marks across wraps", test_marks_across_wraps, 30},
  {"released marks of a new writer", test_marks_new_writer, 20},
};

int
main (int argc, char **argv)
{
  return zbt_main (cases, sizeof cases / sizeof cases[0], argc, argv);
}
