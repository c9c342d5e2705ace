/* Conformance groups 7 (system resources), 8 (platform: Linux),
 * 9 (performance monitoring) and 12 (protocol compliance). */

#include "zbtest.h"

/* 7.1: creating the "space freed" semaphore fails after the shm and the
 * other semaphore exist (a directory squats /dev/shm/sem.sem-r-NAME):
 * creation fails and removes the shm, sem-w and the lock file. */
static void
test_7_1 (void)
{
  const char *name = zbt_name ();
  char p[512];

  zbt_sem_path (p, sizeof p, 'r', name);
  zbt_expect_create_squatted (name, p, "sem-r", 4);
}

/* 7.2: shared-memory exhaustion (a private 1 MiB /dev/shm, a 4 MiB
 * buffer): a system error with a clear message, nothing left. */
static void
shm_exhaustion (void *arg)
{
  const char *name = arg;
  zb_reader_config cfg = { 0, 4 << 20, 0 };
  zb_reader *r = NULL;

  ZBT_ERR (zb_reader_create (name, &cfg, &r), -ENOSPC);
  ZBT_ASSERT (r == NULL);
  ZBT_ASSERT (strlen (zb_strerror (-ENOSPC)) > 5);
  ZBT_EQ (zbt_shm_entries (), 0);
  ZBT_EQ (zbt_objects (name), 0);
}

static void
test_7_2 (void)
{
  zbt_with_tiny_shm ("1m", shm_exhaustion, (void *) zbt_name ());
}

/* 7.3: a multi-field structure written before the post is fully visible
 * after the wait (200000 structures, two processes). */
typedef struct
{
  uint64_t seq;
  uint64_t a;
  uint64_t not_a;
  uint64_t mul;
  uint8_t fill[32];
} rec_7_3;

static void
writer_7_3 (void *arg)
{
  zb_writer *w = zbt_writer (arg, 0);
  uint64_t i;

  for (i = 1; i <= 200000; i++) {
    rec_7_3 *rec = NULL;

    ZBT_OK (zb_writer_acquire (w, sizeof *rec, (void **) &rec));
    rec->seq = i;
    rec->a = i * 0x9e3779b97f4a7c15ull;
    rec->not_a = ~rec->a;
    rec->mul = rec->a * 3;
    memset (rec->fill, (int) (i & 0xff), sizeof rec->fill);
    ZBT_OK (zb_writer_commit (w));
  }
  zb_writer_disconnect (w);
}

static void
test_7_3 (void)
{
  const char *name = zbt_name ();
  zb_reader *r = zbt_reader (name, 0, 4096);
  pid_t pid = zbt_fork (writer_7_3, (void *) name);
  uint64_t i;

  for (i = 1; i <= 200000; i++) {
    zb_frame f;
    rec_7_3 rec;
    int k;

    ZBT_OK (zb_reader_read (r, 5000, &f));
    ZBT_EQU (f.sequence, i);
    ZBT_EQU (f.size, sizeof rec);
    memcpy (&rec, f.data, sizeof rec);
    if (rec.seq != i || rec.a != i * 0x9e3779b97f4a7c15ull
        || rec.not_a != ~rec.a || rec.mul != rec.a * 3)
      ZBT_FAIL ("record %" PRIu64 " torn", i);
    for (k = 0; k < 32; k++)
      ZBT_EQ (rec.fill[k], i & 0xff);
    ZBT_OK (zb_reader_release (r, &f));
  }
  ZBT_WAIT_OK (pid, 5000);
  zb_reader_destroy (r);
}

/* 7.4: incrementing pattern at 1 B, 1 KiB, 1 MiB and 10 MiB, every byte
 * checked. */
static void
test_7_4 (void)
{
  static const size_t sizes[] = { 1, 1024, 1 << 20, 10 << 20 };
  zbt_writer_job j = { zbt_name (), 0, sizes, 4, 8, 0, 0, 0, 0 };

  zbt_writer_job_check (&j, 0, 24 << 20, 0, 10000);
}

/* 8.1: /dev/shm/NAME and both semaphores exist while open, owner-only by
 * default; names with other characters work or are refused cleanly;
 * everything is gone after a graceful shutdown. */
static void
round_trip (const char *name)
{
  zb_reader *r = zbt_reader (name, 64, 4096);
  zb_writer *w = zbt_writer (name, 0);

  ZBT_EQ (zbt_objects (name), 15);
  zbt_check_modes (name, 0600, 1);
  ZBT_OK (zbt_write (w, 77, 1));
  zbt_read_release (r, 1000, 1, 77);
  zb_writer_disconnect (w);
  zb_reader_destroy (r);
  ZBT_EQ (zbt_objects (name), 0);
}

static void
test_8_1 (void)
{
  static const char *const suffixes[] = { "-plain", "_under_score",
    "-MiXeD-123", "-dot.ted", "-at@sign", "-colon:x", "-plus+x", "-tilde~",
    "-space x", "-pct%d", "-utf8-\xc3\xa9"
  };
  size_t i;

  umask (022);
  for (i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
    char name[ZB_NAME_MAX + 2];
    int ret;

    zbt_name_with (name, sizeof name, suffixes[i]);
    ret = zb_name_check (name);
    if (i < 3)
      ZBT_OK (ret);
    if (ret == 0)
      round_trip (name);
    else
      ZBT_ERR (ret, -EINVAL);
    zbt_diag ("name \"%s\": %s", name, ret == 0 ? "works" : "refused");
  }
}

/* 8.3: names of letters, digits and dashes up to the maximum length. */
static void
test_8_3 (void)
{
  char name[ZB_NAME_MAX + 2];
  static const char alphabet[] =
      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-";
  zb_reader *r = NULL;
  zb_reader_config cfg = { 0, 4096, 0 };
  size_t n;

  zbt_name_with (name, sizeof name, "-");
  for (n = strlen (name); n < ZB_NAME_MAX; n++)
    name[n] = alphabet[n % (sizeof alphabet - 1)];
  name[ZB_NAME_MAX] = '\0';
  ZBT_EQ (strlen (name), 245);
  ZBT_OK (zb_name_check (name));
  round_trip (name);
  name[ZB_NAME_MAX] = 'x';
  name[ZB_NAME_MAX + 1] = '\0';
  ZBT_ERR (zb_name_check (name), -ENAMETOOLONG);
  ZBT_ERR (zb_reader_create (name, &cfg, &r), -ENAMETOOLONG);
  ZBT_EQ (zbt_objects (name), 0);
}

/* 8.4: hand-made orphans (an unlocked lock file, a segment whose reader
 * is dead, semaphores with stale counts): the reader detects them, cleans
 * them and creates a fresh buffer. Also semaphores alone (the Python
 * reference leaks them). */
static pid_t
dead_pid (void)
{
  pid_t pid = fork ();

  if (pid == 0)
    _exit (0);
  waitpid (pid, NULL, 0);
  return pid;
}

/* Returns the lock file, still flock()ed so that no concurrent stale
 * cleanup (any reader starting on this machine) removes the orphans
 * before we look at them; closing it makes them orphans. */
static int
make_orphans (const char *name, int with_shm)
{
  char p[512];
  int fd, lock, k;

  zbt_lock_path (p, sizeof p, name);
  mkdir (ZBT_LOCK_DIR, 0755);
  lock = open (p, O_CREAT | O_RDWR, 0600);
  ZBT_ASSERT (lock >= 0);
  ZBT_OK (flock (lock, LOCK_EX | LOCK_NB));
  for (k = 0; k < 2; k++) {
    char sn[512];
    sem_t *s;

    snprintf (sn, sizeof sn, "/sem-%c-%s", k ? 'r' : 'w', name);
    s = sem_open (sn, O_CREAT | O_EXCL, 0600, 5);
    ZBT_ASSERT (s != SEM_FAILED);
    sem_close (s);
  }
  if (with_shm) {
    uint8_t seg[128 + 64 + 1024];
    uint32_t oieb_size = 128;

    memset (seg, 0, sizeof seg);
    memcpy (seg, &oieb_size, 4);
    seg[4] = 1;
    zbt_put64 (seg, ZBT_OIEB_MD_SIZE, 64);
    zbt_put64 (seg, ZBT_OIEB_P_SIZE, 1024);
    zbt_put64 (seg, ZBT_OIEB_P_FREE, 500);
    zbt_put64 (seg, ZBT_OIEB_WRITTEN_COUNT, 7);
    zbt_put64 (seg, ZBT_OIEB_READER_PID, (uint64_t) dead_pid ());
    zbt_put64 (seg, ZBT_OIEB_WRITER_PID, (uint64_t) dead_pid ());
    zbt_shm_path (p, sizeof p, name);
    fd = open (p, O_CREAT | O_RDWR, 0600);
    ZBT_ASSERT (fd >= 0);
    ZBT_ASSERT (write (fd, seg, sizeof seg) == (ssize_t) sizeof seg);
    close (fd);
  }
  return lock;
}

static void
test_8_4 (void)
{
  int with_shm;

  for (with_shm = 1; with_shm >= 0; with_shm--) {
    const char *name = zbt_name ();
    zb_reader *r;
    zb_status st;
    zb_frame f;
    int lock = make_orphans (name, with_shm);

    ZBT_EQ (zbt_objects (name), with_shm ? 15 : 14);
    close (lock);
    r = zbt_reader (name, 0, 4096);
    st = zbt_status (r);
    ZBT_EQU (st.reader_pid, getpid ());
    ZBT_EQU (st.writer_pid, 0);
    ZBT_EQU (st.written_count, 0);
    ZBT_EQU (st.payload_size, 4096);
    ZBT_EQU (st.payload_free_bytes, 4096);
    ZBT_EQ (zbt_sem_value (name, 'w'), 0);
    ZBT_EQ (zbt_sem_value (name, 'r'), 0);
    ZBT_ERR (zb_reader_read (r, 0, &f), -EAGAIN);
    zbt_one_frame (r, name, 10, 0);
    zb_reader_destroy (r);
    ZBT_EQ (zbt_objects (name), 0);
  }
}

/* 9.1: near-zero CPU while blocked: a reader waiting 1 s for a frame (an
 * idle writer connected), and a writer waiting 1 s for space, each use
 * under 5 % of that second. */
typedef struct
{
  const char *name;
  volatile int64_t cpu_us;
  volatile int64_t wall_us;
  volatile int result;
} job_9_1;

static void
blocked_writer_9_1 (void *arg)
{
  job_9_1 *j = arg;
  zb_writer *w = zbt_writer (j->name, 1000);
  int64_t c0, t0;

  ZBT_OK (zbt_write (w, 4096 - 16, 1));
  c0 = zbt_cpu_us ();
  t0 = zbt_now_us ();
  j->result = zbt_write (w, 100, 2);
  j->wall_us = zbt_now_us () - t0;
  j->cpu_us = zbt_cpu_us () - c0;
  zb_writer_disconnect (w);
}

static void
test_9_1 (void)
{
  const char *name = zbt_name ();
  zb_reader *r = zbt_reader (name, 0, 4096);
  zb_writer *w = zbt_writer (name, 0);
  job_9_1 *j = zbt_shared (sizeof *j);
  int64_t c0, t0, cpu, wall;
  zb_frame f;

  c0 = zbt_cpu_us ();
  t0 = zbt_now_us ();
  ZBT_ERR (zb_reader_read (r, 1000, &f), -ETIMEDOUT);
  wall = zbt_now_us () - t0;
  cpu = zbt_cpu_us () - c0;
  zbt_diag ("blocked reader: %.1f ms CPU in %.1f ms", cpu / 1000.0,
      wall / 1000.0);
  ZBT_ASSERT (wall >= 950000);
  ZBT_ASSERT (cpu < wall / 20);
  zb_writer_disconnect (w);
  ZBT_ERR (zb_reader_read (r, 1000, &f), -EPIPE);

  j->name = name;
  ZBT_WAIT_OK (zbt_fork (blocked_writer_9_1, j), 5000);
  zbt_diag ("blocked writer: %.1f ms CPU in %.1f ms", j->cpu_us / 1000.0,
      j->wall_us / 1000.0);
  ZBT_ERR (j->result, -ENOBUFS);
  ZBT_ASSERT (j->wall_us >= 950000);
  ZBT_ASSERT (j->cpu_us < j->wall_us / 20);
  zb_reader_destroy (r);
}

/* 12.1: after each write written_count + 1, free - T, write_pos + T; after
 * each read read_count + 1 and read_pos + T; after each release free + T. */
static void
test_12_1 (void)
{
  static const size_t sizes[] = { 1, 100, 15, 16, 17, 500, 63, 64 };
  const char *name = zbt_name ();
  zb_reader *r = zbt_reader (name, 0, 4096);
  zb_writer *w = zbt_writer (name, 0);
  zb_status st, prev;
  size_t i;

  prev = zbt_status (r);
  for (i = 0; i < 8; i++) {
    ZBT_OK (zbt_write (w, sizes[i], i + 1));
    st = zbt_status (r);
    ZBT_EQU (st.written_count, prev.written_count + 1);
    ZBT_EQU (st.payload_free_bytes, prev.payload_free_bytes - sizes[i] - 16);
    ZBT_EQU (st.write_pos, prev.write_pos + sizes[i] + 16);
    ZBT_EQU (st.read_count, prev.read_count);
    prev = st;
  }
  for (i = 0; i < 8; i++) {
    zb_frame f;

    zbt_read_check (r, 0, i + 1, sizes[i], &f);
    st = zbt_status (r);
    ZBT_EQU (st.read_count, prev.read_count + 1);
    ZBT_EQU (st.read_pos, prev.read_pos + sizes[i] + 16);
    ZBT_EQU (st.payload_free_bytes, prev.payload_free_bytes);
    prev = st;
    ZBT_OK (zb_reader_release (r, &f));
    st = zbt_status (r);
    ZBT_EQU (st.payload_free_bytes, prev.payload_free_bytes + sizes[i] + 16);
    ZBT_EQU (st.read_pos, prev.read_pos);
    prev = st;
  }
  zb_writer_disconnect (w);
  zb_reader_destroy (r);
}

/* 12.2: the OIEB, metadata and payload blocks start at 64-byte-aligned
 * offsets; the segment is exactly 128 + M + P. */
static void
test_12_2 (void)
{
  static const size_t req[][2] = { {0, 1}, {1, 64}, {63, 65}, {64, 1000},
  {65, 4097}, {100, 1000}, {4096, 100000}
  };
  size_t i;

  for (i = 0; i < sizeof req / sizeof req[0]; i++) {
    const char *name = zbt_name ();
    zb_reader *r = zbt_reader (name, req[i][0], req[i][1]);
    uint64_t m_want = (req[i][0] + 63) / 64 * 64;
    uint64_t p_want = (req[i][1] + 63) / 64 * 64;
    zb_status st = zbt_status (r);
    uint8_t *m;
    size_t msize;

    ZBT_EQU (st.metadata_size, m_want);
    ZBT_EQU (st.payload_size, p_want);
    m = zbt_map (name, &msize);
    ZBT_EQU (msize, 128 + m_want + p_want);
    ZBT_EQU (zbt_get64 (m, ZBT_OIEB_MD_SIZE), m_want);
    ZBT_EQU (zbt_get64 (m, ZBT_OIEB_MD_FREE), m_want);
    ZBT_EQU (zbt_get64 (m, ZBT_OIEB_P_SIZE), p_want);
    ZBT_EQU (zbt_get64 (m, ZBT_OIEB_P_FREE), p_want);
    ZBT_EQ (zbt_get64 (m, 0) & 0xffffffff, 128);
    ZBT_EQ (m[4], 1);
    ZBT_EQ (m[5], 0);
    ZBT_EQ (m[6], 0);
    ZBT_EQ (m[7], 0);
    ZBT_EQ ((128 + m_want) % 64, 0);
    munmap (m, msize);
    zb_reader_destroy (r);
  }
}

/* 12.3: the lock file /tmp/zerobuffer/NAME.lock exists and is really
 * flock()ed; a killed reader's lock is taken over; it is removed after a
 * graceful shutdown. */
static void
test_12_3 (void)
{
  const char *name = zbt_name ();
  zb_reader *r = zbt_reader (name, 0, 4096);
  char p[512];
  int fd;
  pid_t pid;

  zbt_lock_path (p, sizeof p, name);
  fd = open (p, O_RDWR);
  ZBT_ASSERT (fd >= 0);
  ZBT_ASSERT (flock (fd, LOCK_EX | LOCK_NB) < 0 && errno == EWOULDBLOCK);
  close (fd);
  zb_reader_destroy (r);
  ZBT_ASSERT (!zbt_path_exists (p));

  /* A killed reader's lock is free; a new reader takes it over. */
  pid = zbt_holder_start (name, 0, 4096);
  fd = open (p, O_RDWR);
  ZBT_ASSERT (fd >= 0);
  ZBT_ASSERT (flock (fd, LOCK_EX | LOCK_NB) < 0 && errno == EWOULDBLOCK);
  zbt_kill9 (pid);
  ZBT_OK (flock (fd, LOCK_EX | LOCK_NB));
  ZBT_OK (flock (fd, LOCK_UN));
  close (fd);
  r = zbt_reader (name, 0, 4096);
  fd = open (p, O_RDWR);
  ZBT_ASSERT (fd >= 0);
  ZBT_ASSERT (flock (fd, LOCK_EX | LOCK_NB) < 0 && errno == EWOULDBLOCK);
  close (fd);
  zb_reader_destroy (r);
  ZBT_EQ (zbt_objects (name), 0);
}

/* 12.4: UUID names, test_buffer-123 and a 54-character name give
 * /dev/shm/sem.sem-w-NAME and sem.sem-r-NAME. */
static void
test_12_4 (void)
{
  static const char *const suffixes[] = {
    "-3f2b8c1e-9d4a-4b7e-8f6a-1c2d3e4f5a6b", "-test_buffer-123", NULL
  };
  int i;

  for (i = 0; i < 3; i++) {
    char name[ZB_NAME_MAX + 2], p[512];
    zb_reader *r;

    if (suffixes[i] != NULL) {
      zbt_name_with (name, sizeof name, suffixes[i]);
    } else {
      size_t n;

      zbt_name_with (name, sizeof name, "-");
      for (n = strlen (name); n < 54; n++)
        name[n] = 'a' + n % 26;
      name[54] = '\0';
    }
    r = zbt_reader (name, 0, 4096);
    zbt_sem_path (p, sizeof p, 'w', name);
    ZBT_ASSERT (zbt_path_exists (p));
    zbt_sem_path (p, sizeof p, 'r', name);
    ZBT_ASSERT (zbt_path_exists (p));
    ZBT_EQ (zbt_sem_value (name, 'w'), 0);
    ZBT_EQ (zbt_sem_value (name, 'r'), 0);
    zb_reader_destroy (r);
  }
}

static const zbt_case cases[] = {
  {"7.1 sem-r creation fails: nothing leaks", test_7_1, 20},
  {"7.2 shared memory exhausted", test_7_2, 20},
  {"7.3 multi-field records fully visible after the wait", test_7_3, 40},
  {"7.4 pattern at 1 B, 1 KiB, 1 MiB, 10 MiB", test_7_4, 30},
  {"8.1 objects exist while open, modes, special names, clean after",
      test_8_1, 20},
  {"8.3 longest names", test_8_3, 20},
  {"8.4 hand-made orphans are cleaned", test_8_4, 20},
  {"9.1 near-zero CPU while blocked", test_9_1, 20},
  {"12.1 counters after each write, read and release", test_12_1, 20},
  {"12.2 64-byte aligned blocks", test_12_2, 20},
  {"12.3 lock file: locked, taken over after a kill, removed", test_12_3,
      20},
  {"12.4 semaphore names", test_12_4, 20},
};

int
main (int argc, char **argv)
{
  return zbt_main (cases, sizeof cases / sizeof cases[0], argc, argv);
}
