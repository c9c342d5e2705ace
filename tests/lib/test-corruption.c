/* Conformance groups 5 (corruption detection) and 6 (synchronization),
 * 10.2 (header corruption), fuzzed segments (★) and out-of-order release
 * (★). Corruption is done by hand: we map /dev/shm/NAME ourselves and
 * poke the OIEB and frame headers at their wire offsets. */

#include "zbtest.h"

#include <sys/statvfs.h>

/* Ring offset of a buffer created with metadata size 0. */
#define RING 128

/* A fresh 1024-byte ring (no metadata) with @n frames of @sizes written
 * (sequences 1, 2, ...), the first @nread of them read and released, then
 * the 64-bit word at ring offset @off overwritten with @value. */
static void
damaged_ring (zbt_buf * b, const size_t *sizes, int n, int nread,
    uint64_t off, uint64_t value)
{
  int i;

  zbt_buf_open (b, 0, 1024, 0);
  for (i = 0; i < n; i++)
    ZBT_OK (zbt_write (b->w, sizes[i], i + 1));
  for (i = 0; i < nread; i++)
    zbt_read_release (b->r, 0, i + 1, sizes[i]);
  zbt_put64 (zbt_buf_map (b), RING + off, value);
}

/* 5.1: a corrupted oieb_size: a new writer fails with "invalid OIEB". */
static void
test_5_1 (void)
{
  zbt_expect_bad_oieb ("oieb_size 64", ZBT_OIEB_SIZE, 4, 64);
}

/* 5.2: a frame header with payload_size 0 that is not a marker (sequence
 * 1): "invalid frame". */
static void
test_5_2 (void)
{
  static const size_t sizes[] = { 100 };
  zbt_buf b;
  zb_frame f;

  damaged_ring (&b, sizes, 1, 0, 0, 0);
  ZBT_ERR (zb_reader_read (b.r, 1000, &f), -EBADMSG);
  zbt_buf_close (&b);
}

/* 5.5: a frame leaves 100 bytes at the end; a 200-byte write puts a
 * marker there, charges the 100 bytes to free space, writes at 0; the
 * reader follows and credits the waste when it passes the marker. */
static void
test_5_5 (void)
{
  zbt_buf b;
  uint8_t *m;

  zbt_buf_open (&b, 0, 1024, 0);
  ZBT_OK (zbt_write (b.w, 908, 1));
  zbt_read_release (b.r, 0, 1, 908);
  ZBT_OK (zbt_write (b.w, 200, 2));
  ZBT_WRITE_STATE (b.r, 216, 3, 1024 - 100 - 216);
  m = zbt_buf_map (&b);
  ZBT_EQU (zbt_get64 (m, RING + 924), 0);
  ZBT_EQU (zbt_get64 (m, RING + 924 + 8), 0);
  ZBT_EQU (zbt_get64 (m, RING + 0), 200);
  ZBT_EQU (zbt_get64 (m, RING + 8), 2);
  zbt_read_release (b.r, 0, 2, 200);
  ZBT_READ_STATE (b.r, 216, 3, 1024);
  zbt_buf_close (&b);
}

/* 5.6: continuous free space for a table of write_pos / read_pos pairs.
 * The API has no such query, so we observe it: set the ring up, then a
 * probe frame either fits (and lands where the table says) or gets
 * "buffer full". Ring 1024. */
typedef struct
{
  const char *what;
  int ops[6];                   /* > 0: write a frame of this total;
                                 * -1: read + release the oldest; 0: end */
  uint64_t probe;               /* probe frame total */
  int fits;                     /* 1 yes, 0 buffer full, -2 not from
                                 * here (-E2BIG, at once) */
  uint64_t write_pos_after;
} row_5_6;

static const row_5_6 table_5_6[] = {
  {"empty at 0: largest frame", {0}, 1024, 1, 0},
  {"empty at 500: frame to the end", {500, -1}, 524, 1, 0},
  {"empty at 500: leaves 24", {500, -1}, 500, 1, 1000},
  /* The early wrap is impossible and a 14-byte tail is never left: the
   * frame is refused at once (docs/protocol.md §4). */
  {"empty at 500: 510 would leave 14, cannot wrap (524 + 510 > 1024)",
      {500, -1}, 510, -2, 0},
  {"empty at 1000: 24 fits exactly", {1000, -1}, 24, 1, 0},
  {"empty at 1000: 20 would leave 4, wraps", {1000, -1}, 20, 1, 20},
  {"500 held: fits before the end", {500}, 524, 1, 0},
  {"500 held: one byte more: not from 500 even once empty", {500}, 525, -2,
      0},
  {"write 200 < read 700: gap of 500", {700, -1, 324, 200}, 500, 1, 700},
  {"write 200 < read 700: 501 wanted", {700, -1, 324, 200}, 501, 0, 0},
  {"write 1000 > read 500: 20 wraps to the front", {500, -1, 500}, 20, 1,
      20},
  {"write 1000 > read 500: 500 wraps, 24 + 500 = all free", {500, -1, 500},
      500, 1, 500},
  {"write 1000 > read 500: 501 cannot wrap", {500, -1, 500}, 501, 0, 0},
  {"full", {1024}, 17, 0, 0},
};

static void
test_5_6 (void)
{
  size_t i;

  for (i = 0; i < sizeof table_5_6 / sizeof table_5_6[0]; i++) {
    const row_5_6 *row = &table_5_6[i];
    const char *name = zbt_name ();
    zb_reader *r = zbt_reader (name, 0, 1024);
    zb_writer *w = zbt_writer (name, 100);
    uint64_t sizes[8];
    zb_status st;
    uint64_t seq = 1, next = 1;
    int k, ret;

    for (k = 0; k < 6 && row->ops[k] != 0; k++) {
      if (row->ops[k] > 0) {
        sizes[seq] = row->ops[k] - 16;
        ZBT_OK (zbt_write (w, sizes[seq], seq));
        seq++;
      } else {
        zbt_read_release (r, 0, next, sizes[next]);
        next++;
      }
    }
    ret = zbt_write (w, row->probe - 16, seq);
    if (row->fits == -2 && ret != -E2BIG)
      ZBT_FAIL ("%s: probe of %" PRIu64 " returned %d (%s), want -E2BIG",
          row->what, row->probe, ret, zb_strerror (ret));
    if (row->fits == 1 && ret != 0)
      ZBT_FAIL ("%s: probe of %" PRIu64 " failed: %d (%s)", row->what,
          row->probe, ret, zb_strerror (ret));
    if (!row->fits && ret != -ENOBUFS)
      ZBT_FAIL ("%s: probe of %" PRIu64 " returned %d (%s), want full",
          row->what, row->probe, ret, zb_strerror (ret));
    st = zbt_status (r);
    if (ret == 0 && st.write_pos != row->write_pos_after)
      ZBT_FAIL ("%s: write_pos %" PRIu64 ", want %" PRIu64, row->what,
          st.write_pos, row->write_pos_after);
    if (ret == 0) {
      /* Whatever was placed, the reader gets it, and the next frame. */
      while (next < seq)
        zbt_read_release (r, 0, next, sizes[next]), next++;
      zbt_read_release (r, 0, seq, row->probe - 16);
      ZBT_OK (zbt_write (w, 100, seq + 1));
      zbt_read_release (r, 0, seq + 1, 100);
    }
    zb_writer_disconnect (w);
    zb_reader_destroy (r);
  }
}

/* 5.7: payload 100 MiB: a frame of exactly payload - 16 succeeds, one
 * byte more is rejected at once. */
static void
test_5_7 (void)
{
  const size_t p = 100 << 20;
  struct statvfs vfs;
  const char *name = zbt_name ();
  zb_reader *r;
  zb_writer *w;
  void *data;

  if (statvfs ("/dev/shm", &vfs) < 0
      || (uint64_t) vfs.f_bavail * vfs.f_frsize < 3 * (uint64_t) p)
    ZBT_SKIP ("less than 300 MiB free in /dev/shm");
  r = zbt_reader (name, 0, p);
  w = zbt_writer (name, 100);
  ZBT_ERR (zb_writer_acquire (w, p - 15, &data), -EMSGSIZE);
  ZBT_ERR (zbt_write (w, p - 15, 1), -EMSGSIZE);
  ZBT_OK (zb_writer_acquire (w, p - 16, &data));
  zbt_fill (data, p - 16, 1);
  ZBT_OK (zb_writer_commit (w));
  zbt_read_release (r, 0, 1, p - 16);
  zb_writer_disconnect (w);
  zb_reader_destroy (r);
}

/* 6.1: seq 1-3 written, 1-2 read, the next header corrupted to 5:
 * "sequence error". */
static void
test_6_1 (void)
{
  zbt_buf b;
  uint8_t *m;
  zb_frame f;

  zbt_buf_open (&b, 0, 1024, 0);
  ZBT_OK (zbt_write (b.w, 100, 1));
  ZBT_OK (zbt_write (b.w, 100, 2));
  ZBT_OK (zbt_write (b.w, 100, 3));
  zbt_read_release (b.r, 0, 1, 100);
  zbt_read_release (b.r, 0, 2, 100);
  m = zbt_buf_map (&b);
  ZBT_EQU (zbt_get64 (m, RING + 2 * 116 + 8), 3);
  zbt_put64 (m, RING + 2 * 116 + 8, 5);
  ZBT_ERR (zb_reader_read (b.r, 0, &f), -EILSEQ);
  zbt_buf_close (&b);
}

/* 6.1★ after a sequence error (issue 14): the error is reported once, not
 * on every later call; the writer's later frames are dropped until it
 * leaves, then the ring is recovered and a new writer's frames arrive with
 * the whole ring free once drained. */
static void
test_6_1_once (void)
{
  static const size_t sizes[] = { 100, 100 };
  zbt_buf b;
  zb_frame f;
  zb_status st;
  int i;

  damaged_ring (&b, sizes, 2, 1, 116 + 8, 5);
  ZBT_ERR (zb_reader_read (b.r, 0, &f), -EILSEQ);
  ZBT_OK (zbt_write (b.w, 100, 3));
  for (i = 0; i < 3; i++)
    ZBT_ERR (zb_reader_read (b.r, 60, &f), -ETIMEDOUT);
  zb_writer_disconnect (b.w);
  ZBT_ERR (zb_reader_read (b.r, 1000, &f), -EPIPE);
  st = zbt_status (b.r);
  ZBT_EQU (st.payload_free_bytes, 1024);
  ZBT_EQU (st.write_pos, st.read_pos);

  b.w = zbt_writer (b.name, 0);
  for (i = 1; i <= 20; i++) {
    ZBT_OK (zbt_write (b.w, 100, i));
    zbt_read_release (b.r, 1000, i, 100);
  }
  zb_writer_disconnect (b.w);
  b.w = NULL;
  ZBT_ERR (zb_reader_read (b.r, 1000, &f), -EPIPE);
  st = zbt_status (b.r);
  ZBT_EQU (st.payload_free_bytes, 1024);
  zbt_buf_close (&b);
}

/* 6.2: a burst of 50 x 1 KiB; the reader starts after 1 s: all intact. */
static void
test_6_2 (void)
{
  const char *name = zbt_name ();
  static const size_t sizes[] = { 1024 };
  zbt_writer_job j = { name, 0, sizes, 1, 50, 0, 0, 0, 0 };
  zb_reader *r = zbt_reader (name, 0, 65536);
  pid_t pid = zbt_fork (zbt_writer_job_run, &j);

  zbt_sleep_ms (1000);
  ZBT_EQ (zbt_sem_value (name, 'w'), 50);
  zbt_reader_job (r, &j, 0);
  ZBT_WAIT_OK (pid, 5000);
  zb_reader_destroy (r);
}

/* 6.3: payload 50 KiB, the reader takes a frame every 100 ms: the writer
 * blocks, nothing is lost. */
static void
test_6_3 (void)
{
  static const size_t sizes[] = { 10000 };
  zbt_writer_job j = { zbt_name (), 0, sizes, 1, 16, 0, 0, 0, 800 };

  zbt_writer_job_check (&j, 0, 51200, 100, 5000);
}

/* 6.4: two frames written before the reader wakes: the semaphore holds 2,
 * both are processed, then it holds 0. */
static void
test_6_4 (void)
{
  const char *name = zbt_name ();
  zb_reader *r = zbt_reader (name, 0, 4096);
  zb_writer *w = zbt_writer (name, 0);
  zb_frame f;

  ZBT_OK (zbt_write (w, 10, 1));
  ZBT_OK (zbt_write (w, 20, 2));
  ZBT_EQ (zbt_sem_value (name, 'w'), 2);
  zbt_read_release (r, 0, 1, 10);
  zbt_read_release (r, 0, 2, 20);
  ZBT_EQ (zbt_sem_value (name, 'w'), 0);
  ZBT_ERR (zb_reader_read (r, 0, &f), -EAGAIN);
  zb_writer_disconnect (w);
  zb_reader_destroy (r);
}

/* 6.5★ Out-of-order release: space returns in ring order only; a held
 * frame is never overwritten, whatever was released after it. */
static void
test_6_ooo (void)
{
  const char *name = zbt_name ();
  zb_reader *r = zbt_reader (name, 0, 1024);
  zb_writer *w = zbt_writer (name, 100);
  zb_frame f[8], g;
  zb_status st;
  uint64_t seq, i;
  int k;

  /* Four frames of 216 bytes, read and held; released newest first. */
  for (seq = 1; seq <= 4; seq++)
    ZBT_OK (zbt_write (w, 200, seq));
  for (k = 0; k < 4; k++)
    zbt_read_check (r, 0, k + 1, 200, &f[k]);
  ZBT_EQU (zb_reader_held_bytes (r), 864);
  for (k = 3; k >= 1; k--) {
    ZBT_OK (zb_reader_release (r, &f[k]));
    st = zbt_status (r);
    if (st.payload_free_bytes != 160)
      ZBT_FAIL ("free %" PRIu64 " after releasing frame %d of 4 while "
          "frame 1 is held, want 160", st.payload_free_bytes, k + 1);
  }
  ZBT_ERR (zb_reader_release (r, &f[3]), -EINVAL);
  ZBT_OK (zb_reader_release (r, &f[0]));
  st = zbt_status (r);
  ZBT_EQU (st.payload_free_bytes, 1024);
  ZBT_EQU (zb_reader_held_bytes (r), 0);
  ZBT_ERR (zb_reader_release (r, &f[0]), -EINVAL);

  /* Frames 5, 6 held, 7, 8 released; the writer fills what it can. */
  for (seq = 5; seq <= 8; seq++)
    ZBT_OK (zbt_write (w, 200, seq));
  for (k = 0; k < 4; k++)
    zbt_read_check (r, 0, 5 + k, 200, &f[k]);
  ZBT_OK (zb_reader_release (r, &f[3]));
  ZBT_OK (zb_reader_release (r, &f[2]));
  for (seq = 9;; seq++) {
    int ret = zbt_write (w, 100, seq);

    if (ret == -ENOBUFS)
      break;
    ZBT_OK (ret);
    ZBT_ASSERT (seq < 100);
  }
  zbt_diag ("%" PRIu64 " frames fitted while frames 5, 6 were held", seq - 9);
  ZBT_PATTERN (f[0].data, 200, 5);
  ZBT_PATTERN (f[1].data, 200, 6);
  st = zbt_status (r);
  /* Releasing 5 credits 5 only; releasing 6 credits 6, 7 and 8. */
  {
    uint64_t before = st.payload_free_bytes;

    ZBT_OK (zb_reader_release (r, &f[0]));
    st = zbt_status (r);
    ZBT_EQU (st.payload_free_bytes, before + 216);
    ZBT_OK (zb_reader_release (r, &f[1]));
    st = zbt_status (r);
    ZBT_EQU (st.payload_free_bytes, before + 4 * 216);
  }
  for (i = 9; i < seq; i++)
    zbt_read_release (r, 0, i, 100);
  st = zbt_status (r);
  ZBT_EQU (st.payload_free_bytes, 1024);
  ZBT_ERR (zb_reader_read (r, 0, &g), -EAGAIN);
  zb_writer_disconnect (w);
  zb_reader_destroy (r);
}

/* 10.2: header corruption variants, each on a fresh buffer: sizes past
 * what remains of the ring, huge sizes, size 0, and bad sequences (the
 * two cases test-badinput had, size 5000 and sequence 7, among them). */
typedef struct
{
  const char *what;
  uint64_t size;
  uint64_t seq;
  int want;
} hdr_case;

static void
test_10_2 (void)
{
  const hdr_case cases_10_2[] = {
    {"size 0, sequence 1", 0, 1, -EBADMSG},
    {"size one past the ring end", 1024 - 16 + 1, 1, -EBADMSG},
    {"size 5000, far past the ring", 5000, 1, -EBADMSG},
    {"size = ring size", 1024, 1, -EBADMSG},
    {"size 2^63", 1ull << 63, 1, -EBADMSG},
    {"size 2^64 - 1", ~0ull, 1, -EBADMSG},
    {"size 2^64 - 16 (wraps T to 0)", ~0ull - 15, 1, -EBADMSG},
    {"sequence 2 instead of 1", 100, 2, -EILSEQ},
    {"sequence 7 instead of 1", 100, 7, -EILSEQ},
    {"sequence 0 with a size", 100, 0, -EILSEQ},
    {"sequence 2^64 - 1", 100, ~0ull, -EILSEQ},
  };
  size_t i;

  for (i = 0; i < sizeof cases_10_2 / sizeof cases_10_2[0]; i++) {
    const hdr_case *c = &cases_10_2[i];
    static const size_t sizes[] = { 100 };
    zbt_buf b;
    zb_frame f;
    int ret;

    damaged_ring (&b, sizes, 1, 0, 0, c->size);
    zbt_put64 (b.m, RING + 8, c->seq);
    ret = zb_reader_read (b.r, 0, &f);
    if (ret != c->want)
      ZBT_FAIL ("%s: read returned %d (%s), want %d (%s)", c->what, ret,
          zb_strerror (ret), c->want, zb_strerror (c->want));
    zbt_buf_close (&b);
  }
  /* A header past a frame the reader already holds (mid-ring). */
  {
    static const size_t sizes[] = { 484, 100 };
    zbt_buf b;
    zb_frame f;

    damaged_ring (&b, sizes, 2, 1, 500, 1024 - 500 - 16 + 1);
    ZBT_ERR (zb_reader_read (b.r, 0, &f), -EBADMSG);
    zbt_buf_close (&b);
  }
}

/* ★ Fuzzed OIEB and headers: after random damage every call returns 0 or
 * a documented error, nothing crashes or hangs, and destroy still removes
 * every object. Each round's calls run in a child so a crash is seen. */
static uint64_t fuzz_state = 0x9e3779b97f4a7c15ull;

static uint64_t
fuzz_next (void)
{
  fuzz_state ^= fuzz_state << 13;
  fuzz_state ^= fuzz_state >> 7;
  fuzz_state ^= fuzz_state << 17;
  return fuzz_state;
}

static uint64_t
fuzz_value (void)
{
  static const uint64_t v[] = { 0, 1, 15, 16, 17, 63, 64, 127, 128, 1023,
    1024, 1025, 1088, 1152, 4096, 1ull << 31, 1ull << 32, 1ull << 63,
    ~0ull, ~0ull - 15, ~0ull - 1023
  };
  uint64_t k = fuzz_next ();

  if (k % 4 == 0)
    return fuzz_next ();
  return v[(k >> 8) % (sizeof v / sizeof v[0])];
}

static int
documented (int ret)
{
  switch (ret) {
    case 0:
    case -EAGAIN:
    case -ETIMEDOUT:
    case -EPIPE:
    case -EOWNERDEAD:
    case -EBADMSG:
    case -EILSEQ:
    case -EPROTO:
    case -ENODATA:
    case -EMSGSIZE:
    case -E2BIG:
    case -ENOBUFS:
    case -EBUSY:
    case -EINVAL:
    case -EALREADY:
    case -ENOENT:
      return 1;
    default:
      return 0;
  }
}

#define FUZZ_CALL(expr) do {                                           \
    int fz__r = (expr);                                                \
    if (!documented (fz__r))                                           \
      ZBT_FAIL ("%s: undocumented %d (%s)", #expr, fz__r,              \
          zb_strerror (fz__r));                                        \
  } while (0)

typedef struct
{
  zb_reader *r;
  zb_writer *w;
  const char *name;
} fuzz_job;

static void
fuzz_calls (void *arg)
{
  fuzz_job *j = arg;
  zb_status st;
  const void *md;
  size_t mdsize;
  zb_writer *w2 = NULL;
  zb_writer_config wcfg = { 0, 20 };
  uint8_t mdcopy[64];
  int k;

  for (k = 0; k < 4; k++) {
    zb_frame f;
    int ret = zb_reader_read (j->r, 0, &f);

    FUZZ_CALL (ret);
    if (ret == 0) {
      ZBT_ASSERT (f.size > 0 && f.size <= 1024 - 16);
      /* Touch every byte: out of bounds would fault. */
      {
        volatile uint8_t sum = 0;
        size_t b;

        for (b = 0; b < f.size; b++)
          sum += ((const uint8_t *) f.data)[b];
        (void) sum;
      }
      FUZZ_CALL (zb_reader_release (j->r, &f));
    }
  }
  {
    int ret = zb_reader_get_metadata (j->r, &md, &mdsize);

    FUZZ_CALL (ret);
    if (ret == 0) {
      volatile uint8_t sum = 0;
      size_t b;

      ZBT_ASSERT (mdsize + 8 <= 64);
      for (b = 0; b < mdsize; b++)
        sum += ((const uint8_t *) md)[b];
      (void) sum;
    }
  }
  FUZZ_CALL (zb_reader_get_status (j->r, &st));
  FUZZ_CALL (zbt_write (j->w, 100, 9));
  FUZZ_CALL (zbt_write (j->w, 900, 10));
  FUZZ_CALL (zb_writer_get_status (j->w, &st));
  zb_writer_disconnect (j->w);
  {
    int ret = zb_writer_connect (j->name, &wcfg, &w2);

    FUZZ_CALL (ret);
    if (ret == 0) {
      FUZZ_CALL (zb_writer_set_metadata (w2, "fuzz", 4));
      FUZZ_CALL (zbt_write (w2, 50, 1));
      FUZZ_CALL (zbt_write (w2, 700, 2));
      zb_writer_disconnect (w2);
    }
  }
  {
    int ret = zb_inspect (j->name, &st, mdcopy, sizeof mdcopy, &mdsize);

    FUZZ_CALL (ret);
  }
}

static void
test_fuzz (void)
{
  int round;

  for (round = 0; round < 300; round++) {
    fuzz_job j;
    uint8_t *m;
    size_t msize;
    int k, n, st;
    int64_t t0;

    j.name = zbt_name ();
    j.r = zbt_reader (j.name, 64, 1024);
    j.w = zbt_writer (j.name, 20);
    ZBT_OK (zb_writer_set_metadata (j.w, "metadata", 8));
    ZBT_OK (zbt_write (j.w, 300, 1));
    ZBT_OK (zbt_write (j.w, 200, 2));
    ZBT_OK (zbt_write (j.w, 100, 3));
    zbt_read_release (j.r, 0, 1, 300);
    m = zbt_map (j.name, &msize);
    n = 1 + (int) (fuzz_next () % 3);
    for (k = 0; k < n; k++) {
      uint64_t where = fuzz_next () % 4;

      if (where == 0) {
        /* One OIEB u64 field (or the u32 size and version bytes). */
        size_t off = 8 * (size_t) (fuzz_next () % 12);

        zbt_put64 (m, off, fuzz_value ());
      } else if (where == 1) {
        /* The metadata length. */
        zbt_put64 (m, 128, fuzz_value ());
      } else {
        /* A frame header field: the next frame's or the one after. */
        size_t off = 128 + 64 + (fuzz_next () % 2 ? 316 : 532) +
            (fuzz_next () % 2 ? 8 : 0);

        zbt_put64 (m, off, fuzz_value ());
      }
    }
    munmap (m, msize);
    t0 = zbt_now_ms ();
    st = zbt_wait (zbt_fork (fuzz_calls, &j), 10000);
    if (zbt_now_ms () - t0 > 1000)
      zbt_diag ("round %d took %d ms", round, (int) (zbt_now_ms () - t0));
    if (st != 0)
      ZBT_FAIL ("round %d: the calls ended with %d (-1: hang, >128: "
          "signal)", round, st);
    zb_writer_disconnect (j.w);
    zb_reader_destroy (j.r);
    if (zbt_objects (j.name) != 0)
      ZBT_FAIL ("round %d: destroy left objects 0x%x", round,
          zbt_objects (j.name));
  }
}

static const zbt_case cases[] = {
  {"5.1 corrupted oieb_size: invalid OIEB", test_5_1, 20},
  {"5.2 header of size 0 that is no marker: invalid frame", test_5_2, 20},
  {"5.5 100 bytes left at the end: marker, waste charged, write at 0",
      test_5_5, 20},
  {"5.6 continuous free space table", test_5_6, 30},
  {"5.7 payload 100 MiB: payload - 16 fits, one more byte does not",
      test_5_7, 30},
  {"6.1 header sequence corrupted: sequence error", test_6_1, 20},
  {"6.1★ a corrupt frame is reported once; a new writer resumes",
      test_6_1_once, 20},
  {"6.2 burst of 50 frames, reader starts after 1 s", test_6_2, 20},
  {"6.3 payload 50 KiB, reader 100 ms per frame", test_6_3, 20},
  {"6.4 two frames before the reader wakes", test_6_4, 20},
  {"6.5★ out-of-order release: ring order, held frames kept", test_6_ooo,
      20},
  {"10.2 header corruption variants", test_10_2, 20},
  {"5.8★ fuzzed OIEB and headers: no crash, no hang, no leak", test_fuzz,
      60},
};

int
main (int argc, char **argv)
{
  return zbt_main (cases, sizeof cases / sizeof cases[0], argc, argv);
}
