/* ★ 12.5: byte-exact agreement with the golden snapshots made by the
 * reference C++ implementation (golden/README.md). Every snapshot is
 * parsed and each OIEB field checked against the README's table; then the
 * documented session is replayed with our reader and writer and
 * /dev/shm/NAME compared byte for byte after every step, except the pids
 * at 0x50..0x5F. */

#include "zbtest.h"

#define SEG_SIZE 1280
#define NSTEPS 7

static const char *const files[NSTEPS] = {
  "00-created.bin", "01-metadata.bin", "02-three-frames-written.bin",
  "03-two-frames-read-and-released.bin",
  "04-third-frame-read-and-released.bin", "05-wrap-marker-and-frame-4.bin",
  "06-drained.bin"
};

/* The README's table: metadata_free, metadata_written, payload_free,
 * write_pos, read_pos, written_count, read_count. */
static const uint64_t table[NSTEPS][7] = {
  {128, 0, 1024, 0, 0, 0, 0},
  {45, 83, 1024, 0, 0, 0, 0},
  {45, 83, 376, 648, 0, 3, 0},
  {45, 83, 708, 648, 332, 3, 2},
  {45, 83, 1024, 648, 648, 3, 3},
  {45, 83, 232, 416, 648, 5, 3},
  {45, 83, 1024, 416, 416, 5, 5},
};

static const char json[] =
    "{\"caps\":\"video/x-raw, format=(string)GRAY8, width=(int)10, "
    "height=(int)10\"}";

static void
load (int step, uint8_t * out)
{
  const char *dir = getenv ("ZBT_GOLDEN_DIR");
  char p[1024];
  int fd;
  ssize_t n;

  snprintf (p, sizeof p, "%s/%s", dir ? dir : "golden", files[step]);
  fd = open (p, O_RDONLY);
  if (fd < 0)
    ZBT_FAIL ("open %s: %s (set ZBT_GOLDEN_DIR)", p, strerror (errno));
  n = read (fd, out, SEG_SIZE + 1);
  close (fd);
  if (n != SEG_SIZE)
    ZBT_FAIL ("%s: %zd bytes, want %d", p, n, SEG_SIZE);
}

/* Parse every snapshot and check every OIEB field, the metadata and the
 * frames it holds. */
static void
test_parse (void)
{
  int step;

  ZBT_EQ (sizeof json - 1, 75);
  for (step = 0; step < NSTEPS; step++) {
    uint8_t g[SEG_SIZE];
    uint32_t oieb_size;
    int k;

    load (step, g);
    memcpy (&oieb_size, g, 4);
    ZBT_EQ (oieb_size, 128);
    ZBT_EQ (g[4], 1);
    ZBT_EQ (g[5], 0);
    ZBT_EQ (g[6], 0);
    ZBT_EQ (g[7], 0);
    ZBT_EQU (zbt_get64 (g, ZBT_OIEB_MD_SIZE), 128);
    ZBT_EQU (zbt_get64 (g, ZBT_OIEB_P_SIZE), 1024);
    ZBT_EQU (zbt_get64 (g, ZBT_OIEB_MD_FREE), table[step][0]);
    ZBT_EQU (zbt_get64 (g, ZBT_OIEB_MD_WRITTEN), table[step][1]);
    ZBT_EQU (zbt_get64 (g, ZBT_OIEB_P_FREE), table[step][2]);
    ZBT_EQU (zbt_get64 (g, ZBT_OIEB_WRITE_POS), table[step][3]);
    ZBT_EQU (zbt_get64 (g, ZBT_OIEB_READ_POS), table[step][4]);
    ZBT_EQU (zbt_get64 (g, ZBT_OIEB_WRITTEN_COUNT), table[step][5]);
    ZBT_EQU (zbt_get64 (g, ZBT_OIEB_READ_COUNT), table[step][6]);
    for (k = 0; k < 4; k++)
      ZBT_EQU (zbt_get64 (g, 0x60 + 8 * k), 0);
    if (step >= 1) {
      ZBT_EQU (zbt_get64 (g, 128), 75);
      ZBT_ASSERT (memcmp (g + 136, json, 75) == 0);
    }
    if (step >= 2 && step < 5) {
      /* Frames 1..3 at ring offsets 0, 116, 332 (frame 4 overwrites them
       * from step 5 on). */
      static const uint64_t off[3] = { 0, 116, 332 };
      int f;

      for (f = 0; f < 3; f++) {
        ZBT_EQU (zbt_get64 (g, 256 + off[f]), 100 * (f + 1));
        ZBT_EQU (zbt_get64 (g, 256 + off[f] + 8), f + 1);
        ZBT_PATTERN (g + 256 + off[f] + 16, 100 * (f + 1), f + 1);
      }
    }
    if (step >= 5) {
      ZBT_EQU (zbt_get64 (g, 256 + 648), 0);
      ZBT_EQU (zbt_get64 (g, 256 + 648 + 8), 0);
      ZBT_EQU (zbt_get64 (g, 256), 400);
      ZBT_EQU (zbt_get64 (g, 256 + 8), 4);
      ZBT_PATTERN (g + 256 + 16, 400, 4);
    }
  }
}

/* zb_inspect parses a snapshot placed in /dev/shm as it parses a live
 * buffer. */
static void
test_inspect (void)
{
  int step;

  for (step = 0; step < NSTEPS; step++) {
    const char *name = zbt_name ();
    uint8_t g[SEG_SIZE], md[128];
    char p[512];
    zb_status st;
    size_t mdsize = 99;
    int fd;

    load (step, g);
    zbt_shm_path (p, sizeof p, name);
    fd = open (p, O_CREAT | O_EXCL | O_RDWR, 0600);
    ZBT_ASSERT (fd >= 0);
    ZBT_ASSERT (write (fd, g, SEG_SIZE) == SEG_SIZE);
    close (fd);
    ZBT_OK (zb_inspect (name, &st, md, sizeof md, &mdsize));
    unlink (p);
    ZBT_EQU (st.metadata_size, 128);
    ZBT_EQU (st.payload_size, 1024);
    ZBT_EQU (st.metadata_written_bytes, table[step][1]);
    ZBT_EQU (st.payload_free_bytes, table[step][2]);
    ZBT_EQU (st.write_pos, table[step][3]);
    ZBT_EQU (st.read_pos, table[step][4]);
    ZBT_EQU (st.written_count, table[step][5]);
    ZBT_EQU (st.read_count, table[step][6]);
    ZBT_EQ (st.version[0], 1);
    if (step == 0) {
      ZBT_EQ (mdsize, 0);
    } else {
      ZBT_EQ (mdsize, 75);
      ZBT_ASSERT (memcmp (md, json, 75) == 0);
    }
  }
}

static void
compare (const char *name, int step)
{
  uint8_t g[SEG_SIZE];
  uint8_t *m;
  size_t msize, i;

  load (step, g);
  m = zbt_map (name, &msize);
  ZBT_EQ (msize, SEG_SIZE);
  for (i = 0; i < SEG_SIZE; i++) {
    if (i >= 0x50 && i < 0x60)
      continue;
    if (m[i] != g[i])
      ZBT_FAIL ("after step %s: byte 0x%03zx is 0x%02x, reference 0x%02x",
          files[step], i, m[i], g[i]);
  }
  munmap (m, msize);
}

/* Replay the session with our reader and writer. */
static void
test_replay (void)
{
  const char *name = zbt_name ();
  zb_reader *r = zbt_reader (name, 100, 1000);
  zb_writer *w;
  zb_frame f1, f2;

  compare (name, 0);
  w = zbt_writer (name, 0);
  ZBT_OK (zb_writer_set_metadata (w, json, 75));
  compare (name, 1);
  ZBT_OK (zbt_write (w, 100, 1));
  ZBT_OK (zbt_write (w, 200, 2));
  ZBT_OK (zbt_write (w, 300, 3));
  compare (name, 2);
  zbt_read_check (r, 0, 1, 100, &f1);
  zbt_read_check (r, 0, 2, 200, &f2);
  ZBT_OK (zb_reader_release (r, &f1));
  ZBT_OK (zb_reader_release (r, &f2));
  compare (name, 3);
  zbt_read_release (r, 0, 3, 300);
  compare (name, 4);
  ZBT_OK (zbt_write (w, 400, 4));
  compare (name, 5);
  zbt_read_release (r, 0, 4, 400);
  compare (name, 6);
  zb_writer_disconnect (w);
  zb_reader_destroy (r);
}

/* Our reader reads frames a reference writer left: load snapshot 02 into
 * a fresh buffer (keeping our pids, a live writer pid), post three
 * tokens, read frames 1..3 and the metadata; the segment then matches
 * snapshot 04 after the releases. */
static void
test_read_reference (void)
{
  const char *name = zbt_name ();
  zb_reader *r = zbt_reader (name, 100, 1000);
  uint8_t g[SEG_SIZE];
  uint8_t *m;
  size_t msize;
  const void *md;
  size_t mdsize;
  uint64_t i;

  load (2, g);
  m = zbt_map (name, &msize);
  memcpy (m, g, 0x50);
  memcpy (m + 0x60, g + 0x60, SEG_SIZE - 0x60);
  zbt_put64 (m, ZBT_OIEB_WRITER_PID, (uint64_t) getpid ());
  munmap (m, msize);
  for (i = 0; i < 3; i++)
    zbt_sem_post (name, 'w');
  for (i = 1; i <= 3; i++) {
    zb_frame f;

    zbt_read_check (r, 0, i, 100 * i, &f);
    if (i == 1) {
      ZBT_OK (zb_reader_get_metadata (r, &md, &mdsize));
      ZBT_EQ (mdsize, 75);
      ZBT_ASSERT (memcmp (md, json, 75) == 0);
    }
    ZBT_OK (zb_reader_release (r, &f));
  }
  compare (name, 4);
  zb_reader_destroy (r);
}

static const zbt_case cases[] = {
  {"12.5★ golden snapshots: every OIEB field parsed", test_parse, 10},
  {"12.5★ golden snapshots: zb_inspect agrees", test_inspect, 10},
  {"12.5★ golden snapshots: replay is byte-exact", test_replay, 10},
  {"12.5★ golden snapshots: our reader reads a reference segment",
      test_read_reference, 10},
};

int
main (int argc, char **argv)
{
  return zbt_main (cases, sizeof cases / sizeof cases[0], argc, argv);
}
