/* 11.3 (bounded): long continuous write/read between two processes.
 *
 * 1,000,000 frames of varied sizes through a 256 KiB ring; every byte,
 * size and sequence checked. Both processes derive each frame's size from
 * its sequence and from where the protocol places it (zbt_model_place),
 * so the writer can aim at sizes that would leave a 1..15-byte tail at the
 * end of the ring (the early-wrap rule) and the reader knows what to
 * expect; the writer also checks that the library put every frame where
 * the model says. A second run releases frames out of order. */

#include "zbtest.h"

#define RING (256 * 1024)

static uint64_t
mix (uint64_t x)
{
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

/* Payload size of frame @seq when the write position is @wp; every frame
 * is at most @max_total bytes with its header (at most half the ring).
 * Sets *@tail when the size was chosen to leave a short tail. */
static size_t
frame_size (uint64_t seq, uint64_t wp, uint64_t max_total, int *tail)
{
  uint64_t h = mix (seq);
  uint64_t end = RING - wp;

  *tail = 0;
  if (h % 8 == 0) {
    uint64_t t = 1 + (h >> 8) % 15;

    if (end > t + 16 && end - t <= max_total) {
      *tail = 1;
      return end - t - 16;
    }
  }
  if (h % 64 == 1)
    return 1 + (h >> 8) % (max_total - 16);
  return 1 + (h >> 8) % 2048;
}

typedef struct
{
  const char *name;
  uint64_t count;
  uint64_t max_total;
  volatile uint64_t tails;
  volatile uint64_t wraps;
  volatile uint64_t bytes;
  uint64_t *wp_at;              /* write position each frame was sized at */
} stress_job;

static void
stress_writer (void *arg)
{
  stress_job *j = arg;
  zb_writer *w = zbt_writer (j->name, 5000);
  uint64_t seq, wp = 0;
  void *p;

  for (seq = 1; seq <= j->count; seq++) {
    int tail;
    size_t size = frame_size (seq, wp, j->max_total, &tail);
    int ret;

    /* The reader needs it to know the size (published by the commit). */
    j->wp_at[seq] = wp;

    ret = zb_writer_acquire (w, size, &p);
    if (ret != 0)
      ZBT_FAIL ("frame %" PRIu64 " (%zu bytes): %d (%s)", seq, size, ret,
          zb_strerror (ret));
    zbt_fill (p, size, seq);
    ZBT_OK (zb_writer_commit (w));
    j->tails += tail;
    if (size + 16 >= ZB_HOT_WRAP_MIN) {
      /* A large frame may also go back to 0 early, when the reader has
       * freed the start of the ring: the one placement the model cannot
       * know in advance. */
      uint64_t model = wp;
      int wrapped = zbt_model_place (RING, &model, size + 16);
      zb_status st;

      ZBT_OK (zb_writer_get_status (w, &st));
      if (st.write_pos == model) {
        j->wraps += wrapped;
        wp = model;
      } else if (st.write_pos == (size + 16) % RING) {
        j->wraps++;
        wp = st.write_pos;
      } else {
        ZBT_FAIL ("frame %" PRIu64 " (%zu bytes): write_pos %" PRIu64
            ", protocol says %" PRIu64 " or 0", seq, size, st.write_pos, model);
      }
    } else {
      j->wraps += zbt_model_place (RING, &wp, size + 16);
    }
    j->bytes += size;
    if (seq % 1024 == 0 || tail) {
      zb_status st;

      ZBT_OK (zb_writer_get_status (w, &st));
      if (st.write_pos != wp)
        ZBT_FAIL ("frame %" PRIu64 " (%zu bytes%s): write_pos %" PRIu64
            ", protocol says %" PRIu64, seq, size,
            tail ? ", aimed at a short tail" : "", st.write_pos, wp);
    }
  }
  zb_writer_disconnect (w);
}

/* Check frame @seq, whose size the writer chose at j->wp_at[seq]. */
static void
check_frame (const stress_job * j, const zb_frame * f, uint64_t seq)
{
  int tail;
  size_t size = frame_size (seq, j->wp_at[seq], j->max_total, &tail);

  if (f->sequence != seq || f->size != size)
    ZBT_FAIL ("frame %" PRIu64 ": got sequence %" PRIu64 " size %zu, want "
        "size %zu", seq, f->sequence, f->size, size);
  ZBT_PATTERN (f->data, size, seq);
}

static void
run_stress (uint64_t count, uint64_t max_total, int out_of_order)
{
  stress_job *j = zbt_shared (sizeof *j);
  zb_reader *r;
  pid_t pid;
  uint64_t seq, h = 7;
  zb_frame held[4];
  uint64_t held_seq[4];
  int nheld = 0;
  int64_t t0 = zbt_now_ms ();
  zb_status st;

  j->name = zbt_name ();
  j->count = count;
  j->max_total = max_total;
  j->wp_at = zbt_shared ((count + 1) * sizeof (uint64_t));
  r = zbt_reader (j->name, 0, RING);
  pid = zbt_fork (stress_writer, j);
  for (seq = 1; seq <= count; seq++) {
    zb_frame f;
    int ret = zb_reader_read (r, 5000, &f);

    if (ret != 0)
      ZBT_FAIL ("reading frame %" PRIu64 ": %d (%s)", seq, ret,
          zb_strerror (ret));
    check_frame (j, &f, seq);
    if (!out_of_order) {
      ZBT_OK (zb_reader_release (r, &f));
      continue;
    }
    /* Hold up to 4 frames; release a random one, but never keep one for
     * more than 4 reads (so the writer always gets space eventually). */
    if (nheld == 4) {
      int k;

      h = mix (h);
      k = seq - held_seq[0] >= 4 ? 0 : (int) (h % 4);
      ZBT_PATTERN (held[k].data, held[k].size, held_seq[k]);
      ZBT_OK (zb_reader_release (r, &held[k]));
      memmove (&held[k], &held[k + 1], (3 - k) * sizeof held[0]);
      memmove (&held_seq[k], &held_seq[k + 1], (3 - k) * sizeof held_seq[0]);
      nheld--;
    }
    held[nheld] = f;
    held_seq[nheld] = seq;
    nheld++;
  }
  while (nheld > 0) {
    nheld--;
    ZBT_PATTERN (held[nheld].data, held[nheld].size, held_seq[nheld]);
    ZBT_OK (zb_reader_release (r, &held[nheld]));
  }
  ZBT_WAIT_OK (pid, 10000);
  {
    zb_frame f;

    ZBT_ERR (zb_reader_read (r, 2000, &f), -EPIPE);
  }
  st = zbt_status (r);
  ZBT_EQU (st.payload_free_bytes, RING);
  ZBT_EQU (st.written_count, count + j->wraps);
  ZBT_EQU (st.read_count, count + j->wraps);
  zbt_diag ("%" PRIu64 " frames, %.1f MB, %" PRIu64 " wraps, %" PRIu64
      " aimed at 1..15-byte tails, %.2f s", count, j->bytes / 1e6, j->wraps,
      j->tails, (zbt_now_ms () - t0) / 1000.0);
  ZBT_ASSERT (j->tails > count / 1000);
  zb_reader_destroy (r);
}

static void
test_in_order (void)
{
  /* At most half the ring less 16, so that an early wrap is always
   * possible (end + T <= P). */
  run_stress (1000000, RING / 2 - 16, 0);
}

static void
test_out_of_order (void)
{
  run_stress (200000, RING / 16, 1);
}

static const zbt_case cases[] = {
  {"11.3 1,000,000 frames of varied sizes, two processes", test_in_order,
      60},
  {"11.3★ 200,000 frames released out of order", test_out_of_order, 40},
};

int
main (int argc, char **argv)
{
  return zbt_main (cases, sizeof cases / sizeof cases[0], argc, argv);
}
