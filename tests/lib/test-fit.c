/* Where frames fit in the ring (docs/protocol.md §4 and §7.1): property
 * tests over every frame size and every ring position of small rings.
 *
 * The rule under test: the writer never leaves 1..15 bytes between the end
 * of a frame and the end of the ring (checked on write_pos after every
 * commit); a frame that has a legal place from the current position once
 * the ring is empty is written there; one that has none fails at once with
 * -E2BIG (fits the ring, not from here) or -EMSGSIZE (never fits), never
 * with -ENOBUFS; and every frame up to zb_max_size_always() fits from every
 * position. "Legal place" is worked out here from the rule alone: at pos
 * when pos + T == P or pos + T <= P - 16, or after a wrap when T <= pos
 * (the skipped tail stays charged until the reader steps over it, so the
 * frame must fit in front of it).
 *
 * Run one case: build/tests/lib/test-fit NAME-SUBSTRING; the random-sequence
 * case takes ZBT_SEED=N to replay a seed (it prints the one it used). */

#include "zbtest.h"

#include <pthread.h>

typedef struct
{
  zb_reader *r;
  zb_writer *w;
  uint64_t p;
  uint64_t seq;                 /* of the last frame written */
  uint64_t frames;
  uint8_t *seg;                 /* the segment, mapped: the OIEB */
  size_t seg_size;
} fit_ctx;

/* write_pos from the OIEB (no system call: this runs millions of times) */
static uint64_t
write_pos (fit_ctx * c)
{
  uint64_t wp = __atomic_load_n ((uint64_t *) (c->seg + ZBT_OIEB_WRITE_POS),
      __ATOMIC_ACQUIRE);

  ZBT_ASSERT (wp < c->p);
  /* the rule: no 1..15-byte stretch between a frame and the end */
  if (wp != 0 && c->p - wp < ZB_FRAME_HEADER_SIZE)
    ZBT_FAIL ("ring of %" PRIu64 ": write_pos %" PRIu64 " leaves a %"
        PRIu64 "-byte tail", c->p, wp, c->p - wp);
  return wp;
}

/* Read back the frame just committed (the ring is then empty again). */
static void
drain_one (fit_ctx * c, uint64_t total)
{
  zb_frame f;

  ZBT_OK (zb_reader_read (c->r, 1000, &f));
  ZBT_EQU (f.sequence, c->seq);
  ZBT_EQU (f.size, total - ZB_FRAME_HEADER_SIZE);
  ZBT_PATTERN (f.data, f.size, c->seq);
  ZBT_OK (zb_reader_release (c->r, &f));
  ZBT_EQU (__atomic_load_n ((uint64_t *) (c->seg + ZBT_OIEB_P_FREE),
          __ATOMIC_ACQUIRE), c->p);
}

/* Try a frame of @total bytes with the header; on success commit, read and
 * release it. Returns what zb_writer_acquire() returned. */
static int
try_frame (fit_ctx * c, uint64_t total)
{
  void *data = NULL;
  int ret;

  ret = zb_writer_acquire (c->w, total - ZB_FRAME_HEADER_SIZE, &data);
  if (ret < 0)
    return ret;
  c->seq++;
  c->frames++;
  zbt_fill (data, total - ZB_FRAME_HEADER_SIZE, c->seq);
  ZBT_OK (zb_writer_commit (c->w));
  drain_one (c, total);
  return 0;
}

static void
must_write (fit_ctx * c, uint64_t total)
{
  int ret = try_frame (c, total);

  if (ret != 0)
    ZBT_FAIL ("ring %" PRIu64 ", pos %" PRIu64 ": frame of %" PRIu64
        " bytes: %d (%s)", c->p, write_pos (c), total, ret, zb_strerror (ret));
}

/* Move the writer to @pos (0 or 17..P-16) through legal frames. */
static void
go_to (fit_ctx * c, uint64_t pos)
{
  uint64_t q = write_pos (c);

  if (q == pos)
    return;
  if (q != 0) {
    if (c->p - q == ZB_FRAME_HEADER_SIZE) {
      must_write (c, ZB_FRAME_HEADER_SIZE + 1); /* wraps: lands at 0..17 */
      ZBT_EQU (write_pos (c), ZB_FRAME_HEADER_SIZE + 1);
      q = ZB_FRAME_HEADER_SIZE + 1;
      if (q == pos)
        return;
    }
    must_write (c, c->p - q);
    ZBT_EQU (write_pos (c), 0);
  }
  if (pos != 0) {
    must_write (c, pos);
    ZBT_EQU (write_pos (c), pos);
  }
}

static int
never_fits (uint64_t p, uint64_t t)
{
  return t > p || (t < p && p - t < ZB_FRAME_HEADER_SIZE);
}

static int
fits_here (uint64_t p, uint64_t pos, uint64_t t)
{
  return pos + t == p || pos + t + ZB_FRAME_HEADER_SIZE <= p;
}

static int
fits_after_wrap (uint64_t pos, uint64_t t)
{
  return pos != 0 && t <= pos;
}

static void
open_ring (fit_ctx * c, uint64_t p, int write_timeout_ms)
{
  const char *name = zbt_name ();

  memset (c, 0, sizeof (*c));
  c->p = p;
  c->r = zbt_reader (name, 0, p);
  c->w = zbt_writer (name, write_timeout_ms);
  c->seg = zbt_map (name, &c->seg_size);
  ZBT_EQU (zbt_get64 (c->seg, ZBT_OIEB_P_SIZE), p);
}

static void
close_ring (fit_ctx * c)
{
  munmap (c->seg, c->seg_size);
  zb_writer_disconnect (c->w);
  zb_reader_destroy (c->r);
}

/* Every frame size at every reachable position of rings of @p_lo..@p_hi
 * bytes (step 64). Reachable: 0, and 17..P-16 (a frame is at least 17
 * bytes; the rule keeps the last 15 positions free). */
static void
all_sizes_all_positions (uint64_t p_lo, uint64_t p_hi)
{
  uint64_t p, pos, t;

  for (p = p_lo; p <= p_hi; p += 64) {
    fit_ctx c;
    uint64_t always = zb_max_size_always (p) + ZB_FRAME_HEADER_SIZE;
    uint64_t e2big = 0, ok = 0, wraps = 0;
    int tight = 0;

    open_ring (&c, p, 50);
    /* the documented bound: (P - 15) / 2 with the header */
    ZBT_EQU (always, (p - 15) / 2);
    for (pos = 0; pos + ZB_FRAME_HEADER_SIZE <= p; pos++) {
      uint64_t max_size;

      if (pos > 0 && pos <= ZB_FRAME_HEADER_SIZE)
        continue;
      go_to (&c, pos);
      max_size = zb_writer_max_size (c.w);
      for (t = ZB_FRAME_HEADER_SIZE + 1; t <= p + 1; t++) {
        int legal_here = fits_here (p, pos, t);
        int legal_wrap = fits_after_wrap (pos, t);
        int ret;
        uint64_t wp;

        go_to (&c, pos);
        /* the ring is empty: nothing to wait for, so -ENOBUFS (after the
         * 50 ms write timeout) is always wrong */
        ret = try_frame (&c, t);
        if (never_fits (p, t)) {
          ZBT_ERR (ret, -EMSGSIZE);
          continue;
        }
        if (!legal_here && !legal_wrap) {
          if (ret != -E2BIG)
            ZBT_FAIL ("ring %" PRIu64 " pos %" PRIu64 " T %" PRIu64
                ": no legal place, got %d (%s), want -E2BIG", p, pos, t, ret,
                zb_strerror (ret));
          if (t <= always)
            ZBT_FAIL ("ring %" PRIu64 " pos %" PRIu64 ": T %" PRIu64
                " <= the always-writable bound %" PRIu64 " failed", p, pos,
                t, always);
          if (t == always + 1)
            tight = 1;
          e2big++;
          continue;
        }
        if (ret != 0)
          ZBT_FAIL ("ring %" PRIu64 " pos %" PRIu64 " T %" PRIu64
              ": has a legal place (%s), got %d (%s)", p, pos, t,
              legal_here ? "here" : "after a wrap", ret, zb_strerror (ret));
        ZBT_ASSERT (t - ZB_FRAME_HEADER_SIZE <= max_size);
        ok++;
        wp = write_pos (&c);    /* checks the tail rule */
        if (legal_here && wp == (pos + t) % p)
          continue;
        if (legal_wrap && wp == t % p) {
          wraps++;
          continue;
        }
        ZBT_FAIL ("ring %" PRIu64 " pos %" PRIu64 " T %" PRIu64
            ": frame ended at %" PRIu64 ", not at a legal place", p, pos, t,
            wp);
      }
      /* the largest size from here is writable from here */
      if (max_size > 0) {
        go_to (&c, pos);
        must_write (&c, max_size + ZB_FRAME_HEADER_SIZE);
      }
    }
    /* the bound is the best one: one size more fails somewhere */
    ZBT_ASSERT (tight);
    zbt_diag ("ring %" PRIu64 ": %" PRIu64 " frames written (%" PRIu64
        " after a wrap), %" PRIu64 " -E2BIG, always-writable T <= %" PRIu64,
        p, ok, wraps, e2big, always);
    close_ring (&c);
  }
}

static void
test_rule_64_to_512 (void)
{
  all_sizes_all_positions (64, 512);
}

static void
test_rule_576_to_832 (void)
{
  all_sizes_all_positions (576, 832);
}

static void
test_rule_896_to_1024 (void)
{
  all_sizes_all_positions (896, 1024);
}

/* The case: ring 1024, pos 300, T 800 fails at once with -E2BIG
 * and free == 1024 (not -ENOBUFS after the write timeout); a smaller frame
 * moves the position and then it fits. */
static void
test_e2big_at_once (void)
{
  fit_ctx c;
  zb_status st;
  int64_t t0;
  int i;

  open_ring (&c, 1024, 2000);
  must_write (&c, 300);
  ZBT_EQU (write_pos (&c), 300);
  for (i = 0; i < 3; i++) {
    void *data;

    t0 = zbt_now_ms ();
    ZBT_ERR (zb_writer_acquire (c.w, 800 - ZB_FRAME_HEADER_SIZE, &data),
        -E2BIG);
    ZBT_ASSERT (zbt_now_ms () - t0 < 100);
    ZBT_OK (zb_writer_get_status (c.w, &st));
    ZBT_EQU (st.payload_free_bytes, 1024);
    ZBT_EQU (st.write_pos, 300);
  }
  ZBT_ERR (zb_writer_write (c.w, "x", 800 - ZB_FRAME_HEADER_SIZE), -E2BIG);
  /* what fits from here: max(724, 300) with the header */
  ZBT_EQU (zb_writer_max_size (c.w), 724 - ZB_FRAME_HEADER_SIZE);
  ZBT_EQU (zb_writer_space_to_end (c.w), 724);
  ZBT_EQU (zb_max_size_always (1024), 504 - ZB_FRAME_HEADER_SIZE);
  ZBT_ASSERT (strstr (zb_strerror (-E2BIG), "current write position"));
  /* only a smaller frame gets it going: fill to the end, then it fits */
  must_write (&c, 724);
  ZBT_EQU (write_pos (&c), 0);
  must_write (&c, 800);
  ZBT_EQU (write_pos (&c), 800);
  /* never fits: 1024 - 15 .. 1023, and > 1024 */
  for (i = 1009; i <= 1025; i++) {
    void *data;

    if (i == 1024)
      continue;
    ZBT_ERR (zb_writer_acquire (c.w, i - ZB_FRAME_HEADER_SIZE, &data),
        -EMSGSIZE);
  }
  close_ring (&c);
}

/* ------------------------------------------------------------------ */
/* Random frame sizes, writer and reader in two processes. The writer does
 * what zbsink does in its gst format: a frame that fails with -E2BIG is
 * preceded by a filler frame up to the end of the ring (at least 17 bytes;
 * from the last 16 bytes one more 17-byte filler, which wraps) that the
 * reader skips. The reader holds up to 3 frames at a time and releases
 * them in random order. Every real frame must arrive intact and in order,
 * and the whole run must end in time (no stall). */

#define FILLER_TAG 0xF1

typedef struct
{
  const char *name;
  uint64_t p;
  unsigned int seed;
  int frames;
} rnd_job;

static uint64_t
rnd_next (uint64_t * s)
{
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return *s;
}

/* Size of real frame @i (1-based) of the job: payload bytes. */
static size_t
rnd_size (const rnd_job * j, int i)
{
  uint64_t s = ((uint64_t) j->seed << 32) ^ (uint64_t) (i * 2654435761u) ^
      0x9e3779b97f4a7c15ull;
  uint64_t max = j->p - 2 * ZB_FRAME_HEADER_SIZE;       /* never fits above */
  uint64_t r;

  rnd_next (&s);
  r = rnd_next (&s);
  /* mostly small, sometimes up to the whole ring */
  if (r % 4 == 0)
    return 2 + rnd_next (&s) % (max - 1);
  return 2 + rnd_next (&s) % (j->p / 4);
}

static void
rnd_writer (void *arg)
{
  const rnd_job *j = arg;
  zb_writer_config cfg = { 3000, 5000 };
  zb_writer *w = NULL;
  int i, fillers = 0;

  ZBT_OK (zb_writer_connect (j->name, &cfg, &w));
  for (i = 1; i <= j->frames; i++) {
    size_t size = rnd_size (j, i);
    void *data = NULL;
    int ret;

    while ((ret = zb_writer_acquire (w, size, &data)) == -E2BIG) {
      size_t to_end = zb_writer_space_to_end (w);
      size_t fill = to_end > ZB_FRAME_HEADER_SIZE ?
          to_end - ZB_FRAME_HEADER_SIZE : 1;
      uint8_t *f = NULL;

      ZBT_OK (zb_writer_acquire (w, fill, (void **) &f));
      memset (f, FILLER_TAG, fill);
      ZBT_OK (zb_writer_commit (w));
      if (++fillers > 2 * j->frames)
        ZBT_FAIL ("frame %d: fillers do not help", i);
    }
    if (ret != 0)
      ZBT_FAIL ("seed %u frame %d (%zu bytes): %d (%s)", j->seed, i, size,
          ret, zb_strerror (ret));
    ((uint8_t *) data)[0] = 0;
    zbt_fill ((uint8_t *) data + 1, size - 1, (uint64_t) i);
    ZBT_OK (zb_writer_commit (w));
  }
  zb_writer_disconnect (w);
}

static void
random_sequences (uint64_t p, unsigned int seed, int frames)
{
  const char *name = zbt_name ();
  rnd_job j = { name, p, seed, frames };
  zb_reader *r = zbt_reader (name, 0, p);
  zb_frame held[3];
  int nheld = 0, got = 0, fillers = 0;
  uint64_t rs = seed | 1;
  pid_t pid = zbt_fork (rnd_writer, &j);

  while (got < frames) {
    zb_frame f;
    int ret = zb_reader_read (r, nheld > 0 ? 5 : 5000, &f);

    if (ret == -ETIMEDOUT && nheld > 0) {
      /* the writer may wait for what we hold: release and go on */
      while (nheld > 0)
        ZBT_OK (zb_reader_release (r, &held[--nheld]));
      continue;
    }
    if (ret != 0)
      ZBT_FAIL ("ring %" PRIu64 " seed %u: after %d frames: %d (%s)", p, seed,
          got, ret, zb_strerror (ret));
    if (((const uint8_t *) f.data)[0] == FILLER_TAG) {
      fillers++;
      ZBT_OK (zb_reader_release (r, &f));
      continue;
    }
    got++;
    ZBT_EQU (f.size, rnd_size (&j, got));
    ZBT_EQ (((const uint8_t *) f.data)[0], 0);
    ZBT_PATTERN ((const uint8_t *) f.data + 1, f.size - 1, (uint64_t) got);
    held[nheld++] = f;
    if (nheld == 3 || rnd_next (&rs) % 2) {
      int k = (int) (rnd_next (&rs) % nheld);

      ZBT_OK (zb_reader_release (r, &held[k]));
      held[k] = held[--nheld];
    }
    if (rnd_next (&rs) % 3 == 0)
      while (nheld > 0)
        ZBT_OK (zb_reader_release (r, &held[--nheld]));
  }
  while (nheld > 0)
    ZBT_OK (zb_reader_release (r, &held[--nheld]));
  ZBT_WAIT_OK (pid, 10000);
  zbt_diag ("ring %" PRIu64 " seed %u: %d frames, %d fillers", p, seed,
      frames, fillers);
  zb_reader_destroy (r);
}

static void
test_random_sequences (void)
{
  const char *env = getenv ("ZBT_SEED");
  unsigned int seed = env ? (unsigned int) strtoul (env, NULL, 0) :
      (unsigned int) (zbt_now_us () ^ getpid ());
  uint64_t p;
  int k;

  zbt_diag ("seed %u (replay: ZBT_SEED=%u build/tests/lib/test-fit random)",
      seed, seed);
  for (k = 0, p = 128; p <= 2048; p += 320, k++)
    random_sequences (p, seed + k, 400);
}

static const zbt_case cases[] = {
  {"E2BIG at once: ring 1024, pos 300, frame 800", test_e2big_at_once, 10},
  {"tail rule and fit: all sizes, all positions, rings 64..512",
      test_rule_64_to_512, 120},
  {"tail rule and fit: all sizes, all positions, rings 576..832",
      test_rule_576_to_832, 120},
  {"tail rule and fit: all sizes, all positions, rings 896..1024",
      test_rule_896_to_1024, 120},
  {"random frame sizes with fillers: every frame arrives, no stall",
      test_random_sequences, 60},
};

int
main (int argc, char **argv)
{
  return zbt_main (cases, sizeof cases / sizeof cases[0], argc, argv);
}
