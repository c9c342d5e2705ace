/* Conformance groups 2 (process lifecycle), 10 (advanced error handling,
 * the process cases) and 11 (stress, bounded), plus writer replacement.
 * Crashes are real: fork, then kill -9. A killed child is reaped before its
 * peer is expected to notice (a zombie still answers kill (pid, 0)). */

#include "zbtest.h"

/* A reader process that holds a buffer until killed: zbt_holder_start. */

/* A writer process that writes @count frames of @size, reports 'w' and
 * waits to be killed. */
typedef struct
{
  const char *name;
  size_t size;
  uint64_t count;
  const char *metadata;
  int fd;
} sitter;

static void
sitter_run (void *arg)
{
  sitter *s = arg;
  zb_writer *w = zbt_writer (s->name, 0);
  uint64_t i;

  if (s->metadata)
    ZBT_OK (zb_writer_set_metadata (w, s->metadata, strlen (s->metadata)));
  for (i = 1; i <= s->count; i++)
    ZBT_OK (zbt_write (w, s->size, i));
  zbt_signal (s->fd, 'w');
  for (;;)
    pause ();
}

static pid_t
sitter_start (const char *name, size_t size, uint64_t count,
    const char *metadata)
{
  static sitter s;

  s.name = name;
  s.size = size;
  s.count = count;
  s.metadata = metadata;
  return zbt_fork_ready (sitter_run, &s, &s.fd);
}

/* 2.1: writer killed: the reader first gets every frame it wrote, then
 * "writer dead" (well before its 5 s read timeout), once. */
static void
test_2_1 (void)
{
  const char *name = zbt_name ();
  zb_reader *r = zbt_reader (name, 0, 65536);
  pid_t w = sitter_start (name, 1000, 5, NULL);
  zb_frame f;
  int64_t t0;
  uint64_t i;

  zbt_kill9 (w);
  for (i = 1; i <= 5; i++)
    zbt_read_release (r, 1000, i, 1000);
  t0 = zbt_now_ms ();
  ZBT_ERR (zb_reader_read (r, 5000, &f), -EOWNERDEAD);
  if (zbt_now_ms () - t0 > 1000)
    ZBT_FAIL ("writer death noticed after %d ms", (int) (zbt_now_ms () - t0));
  ZBT_ERR (zb_reader_read (r, 200, &f), -ETIMEDOUT);
  zb_reader_destroy (r);
}

/* 2.1 variant: the writer dies while the reader is blocked in a read. */
static void
test_2_1_blocked (void)
{
  const char *name = zbt_name ();
  zb_reader *r = zbt_reader (name, 0, 65536);
  pid_t w = sitter_start (name, 10, 1, NULL);
  zb_frame f;
  int64_t t0;

  zbt_read_release (r, 1000, 1, 10);
  if (fork () == 0) {
    zbt_sleep_ms (300);
    kill (w, SIGKILL);
    _exit (0);
  }
  /* The writer is our child and we are blocked when it dies: ignoring
   * SIGCHLD lets the kernel reap it at once (no zombie looks alive). */
  signal (SIGCHLD, SIG_IGN);
  t0 = zbt_now_ms ();
  ZBT_ERR (zb_reader_read (r, 5000, &f), -EOWNERDEAD);
  t0 = zbt_now_ms () - t0;
  if (t0 < 250 || t0 > 1500)
    ZBT_FAIL ("read returned after %d ms, writer killed after 300 ms",
        (int) t0);
  signal (SIGCHLD, SIG_DFL);
  zb_reader_destroy (r);
}

/* After a reader was killed and its writer left: zb_cleanup removes what
 * is left (our writer already removes it when it leaves). */
static void
cleanup_dead (const char *name)
{
  int ret = zb_cleanup (name);

  if (ret != 0 && ret != -ENOENT)
    ZBT_FAIL ("zb_cleanup after a dead reader: %d (%s)", ret,
        zb_strerror (ret));
  ZBT_EQ (zbt_objects (name), 0);
  ZBT_ERR (zb_cleanup (name), -ENOENT);
}

/* 2.2: the writer fills the buffer, the reader crashes: the writer's next
 * write reports "reader dead" (without waiting for its 5 s timeout). */
typedef struct
{
  const char *name;
  int ready_fd;
  int go_fd;
} job_2_2;

static void
writer_2_2 (void *arg)
{
  job_2_2 *j = arg;
  zb_writer *w = zbt_writer (j->name, 5000);
  int64_t t0;
  uint64_t i;

  for (i = 1; i <= 10; i++)
    ZBT_OK (zbt_write (w, 1008, i));
  zbt_signal (j->ready_fd, 'f');
  zbt_await (j->go_fd, 5000);
  t0 = zbt_now_ms ();
  ZBT_ERR (zbt_write (w, 1008, 11), -EOWNERDEAD);
  if (zbt_now_ms () - t0 > 1000)
    ZBT_FAIL ("reader death noticed after %d ms", (int) (zbt_now_ms () - t0));
  ZBT_ERR (zb_writer_check_reader (w), -EOWNERDEAD);
  zb_writer_disconnect (w);
}

static void
test_2_2 (void)
{
  const char *name = zbt_name ();
  pid_t r = zbt_holder_start (name, 0, 10240);
  int a[2], b[2];
  job_2_2 j;
  pid_t w;

  zbt_pipe (a);
  zbt_pipe (b);
  j.name = name;
  j.ready_fd = a[1];
  j.go_fd = b[0];
  w = zbt_fork (writer_2_2, &j);
  zbt_await (a[0], 5000);
  zbt_kill9 (r);
  zbt_signal (b[1], 'k');
  ZBT_WAIT_OK (w, 5000);
  /* The dead reader left its objects; the writer leaving (ours removes
   * them) or zb_cleanup must leave nothing behind. */
  cleanup_dead (name);
}

/* 2.3: the reader crashes; a new reader cleans up the stale objects and
 * recreates the buffer; the old writer learns its reader died; a
 * reconnected writer's frame 1 is read. */
static void
run_2_3 (int writer_first)
{
  const char *name = zbt_name ();
  pid_t rp = zbt_holder_start (name, 256, 10240);
  zb_writer *w = zbt_writer (name, 1000);
  zb_reader *r;
  zb_frame f;
  zb_status st;

  ZBT_OK (zb_writer_set_metadata (w, "old", 3));
  ZBT_OK (zbt_write (w, 100, 1));
  ZBT_OK (zbt_write (w, 100, 2));
  zbt_kill9 (rp);
  if (writer_first) {
    /* The conformance order: the writer notices, leaves, then the new
     * reader comes. */
    ZBT_ERR (zb_writer_check_reader (w), -EOWNERDEAD);
    zb_writer_disconnect (w);
    w = NULL;
  }
  r = zbt_reader (name, 256, 10240);
  st = zbt_status (r);
  ZBT_EQU (st.reader_pid, getpid ());
  ZBT_EQU (st.writer_pid, 0);
  ZBT_EQU (st.written_count, 0);
  ZBT_EQU (st.payload_free_bytes, 10240);
  if (!writer_first) {
    /* The old writer, still attached to the unlinked segment, learns
     * that its reader died. */
    ZBT_ERR (zb_writer_check_reader (w), -EOWNERDEAD);
    zb_writer_disconnect (w);
  }
  ZBT_ERR (zb_reader_read (r, 0, &f), -EAGAIN);
  w = zbt_writer (name, 1000);
  ZBT_OK (zb_writer_set_metadata (w, "new", 3));
  ZBT_OK (zbt_write (w, 100, 1));
  zbt_read_check (r, 1000, 1, 100, &f);
  ZBT_ASSERT (f.flags & ZB_FRAME_NEW_WRITER);
  ZBT_OK (zb_reader_release (r, &f));
  {
    const void *md;
    size_t mdsize;

    ZBT_OK (zb_reader_get_metadata (r, &md, &mdsize));
    ZBT_EQ (mdsize, 3);
    ZBT_ASSERT (memcmp (md, "new", 3) == 0);
  }
  zb_writer_disconnect (w);
  zb_reader_destroy (r);
}

static void
test_2_3 (void)
{
  run_2_3 (1);
}

/* The header's contract: only a live reader owns a name, so a new reader
 * may take over while the dead reader's writer is still attached. */
static void
test_2_3_attached (void)
{
  run_2_3 (0);
}

/* 2.4: a second writer is rejected while the first lives; accepted after
 * the first disconnected, and after a writer was killed. */
static void
test_2_4 (void)
{
  const char *name = zbt_name ();
  zb_reader *r = zbt_reader (name, 0, 10240);
  zb_writer *w1 = zbt_writer (name, 0), *w2 = NULL;
  pid_t w;
  zb_frame f;

  ZBT_ERR (zb_writer_connect (name, NULL, &w2), -EBUSY);
  ZBT_ASSERT (w2 == NULL);
  ZBT_OK (zbt_write (w1, 10, 1));
  zb_writer_disconnect (w1);
  zbt_read_release (r, 1000, 1, 10);
  ZBT_ERR (zb_reader_read (r, 1000, &f), -EPIPE);
  w = sitter_start (name, 20, 1, NULL);
  ZBT_ERR (zb_writer_connect (name, NULL, &w2), -EBUSY);
  zbt_kill9 (w);
  w2 = zbt_writer (name, 0);
  ZBT_OK (zbt_write (w2, 30, 1));
  zb_writer_disconnect (w2);
  zbt_read_check (r, 1000, 1, 20, &f);
  ZBT_ASSERT (f.flags & ZB_FRAME_NEW_WRITER);
  ZBT_OK (zb_reader_release (r, &f));
  /* The killed writer was replaced before the reader could notice: its
   * death may or may not be reported before the new writer's frame 1. */
  {
    int ret = zb_reader_read (r, 1000, &f);

    if (ret == -EOWNERDEAD)
      ret = zb_reader_read (r, 1000, &f);
    ZBT_OK (ret);
  }
  ZBT_EQU (f.sequence, 1);
  ZBT_EQU (f.size, 30);
  ZBT_ASSERT (f.flags & ZB_FRAME_NEW_WRITER);
  ZBT_OK (zb_reader_release (r, &f));
  ZBT_ERR (zb_reader_read (r, 1000, &f), -EPIPE);
  zb_reader_destroy (r);
}

/* 2.5★ Writer replacement after a graceful disconnect: -EPIPE once, then
 * the new writer's frame 1 with ZB_FRAME_NEW_WRITER and its metadata. */
typedef struct
{
  const char *name;
  const char *metadata;
  uint64_t count;
  size_t size;
} repl_job;

static void
repl_writer (void *arg)
{
  repl_job *j = arg;
  zb_writer *w = zbt_writer (j->name, 0);
  uint64_t i;

  ZBT_OK (zb_writer_set_metadata (w, j->metadata, strlen (j->metadata)));
  for (i = 1; i <= j->count; i++)
    ZBT_OK (zbt_write (w, j->size, i));
  zb_writer_disconnect (w);
}

static void
expect_writer_frames (zb_reader * r, const char *metadata, uint64_t count,
    size_t size)
{
  const void *md;
  size_t mdsize;
  zb_frame f;
  uint64_t i;

  for (i = 1; i <= count; i++) {
    zbt_read_check (r, 3000, i, size, &f);
    if (i == 1) {
      ZBT_ASSERT (f.flags & ZB_FRAME_NEW_WRITER);
      ZBT_OK (zb_reader_get_metadata (r, &md, &mdsize));
      ZBT_EQ (mdsize, strlen (metadata));
      if (memcmp (md, metadata, mdsize) != 0)
        ZBT_FAIL ("metadata \"%.*s\", want \"%s\"", (int) mdsize,
            (const char *) md, metadata);
    } else {
      ZBT_ASSERT (!(f.flags & ZB_FRAME_NEW_WRITER));
    }
    ZBT_OK (zb_reader_release (r, &f));
  }
}

static void
test_replace_disconnect (void)
{
  const char *name = zbt_name ();
  zb_reader *r = zbt_reader (name, 256, 10240);
  repl_job a = { name, "{\"first\":1}", 3, 500 };
  repl_job b = { name, "{\"second writer\":22}", 4, 700 };
  zb_frame f;

  ZBT_WAIT_OK (zbt_fork (repl_writer, &a), 5000);
  expect_writer_frames (r, a.metadata, 3, 500);
  ZBT_ERR (zb_reader_read (r, 1000, &f), -EPIPE);
  ZBT_ERR (zb_reader_read (r, 200, &f), -ETIMEDOUT);
  ZBT_ERR (zb_reader_read (r, 0, &f), -EAGAIN);
  ZBT_WAIT_OK (zbt_fork (repl_writer, &b), 5000);
  expect_writer_frames (r, b.metadata, 4, 700);
  ZBT_ERR (zb_reader_read (r, 1000, &f), -EPIPE);
  zb_reader_destroy (r);
}

/* 2.6★ Writer replacement after a kill -9: -EOWNERDEAD once, then the new
 * writer's frame 1 and metadata. */
static void
test_replace_killed (void)
{
  const char *name = zbt_name ();
  zb_reader *r = zbt_reader (name, 256, 10240);
  repl_job b = { name, "second", 2, 100 };
  pid_t w = sitter_start (name, 300, 3, "first!");
  zb_frame f;

  expect_writer_frames (r, "first!", 3, 300);
  zbt_kill9 (w);
  ZBT_ERR (zb_reader_read (r, 3000, &f), -EOWNERDEAD);
  ZBT_ERR (zb_reader_read (r, 200, &f), -ETIMEDOUT);
  ZBT_WAIT_OK (zbt_fork (repl_writer, &b), 5000);
  expect_writer_frames (r, "second", 2, 100);
  ZBT_ERR (zb_reader_read (r, 1000, &f), -EPIPE);
  zb_reader_destroy (r);
}

/* 5.3 / 10.3: the reader is killed while the writer writes 8 KiB frames:
 * the writer's next operation reports "reader dead". In 10.3 the writer is
 * blocked on a full ring when the reader dies; in 5.3 it is streaming. */
typedef struct
{
  const char *name;
  int blocked;                  /* 10.3 */
  int ready_fd;
  volatile int64_t killed_at;   /* ms, CLOCK_MONOTONIC */
  volatile int result;
  volatile int64_t returned_at;
} job_8k;

static void
reader_8k (void *arg)
{
  job_8k *j = arg;
  zb_reader *r = zbt_reader (j->name, 0, 65536);
  uint64_t seq = 1;

  zbt_signal (j->ready_fd, 'c');
  if (j->blocked)
    for (;;)
      pause ();
  for (;;)
    zbt_read_release (r, 5000, seq++, 8192);
}

static void
writer_8k (void *arg)
{
  job_8k *j = arg;
  zb_writer *w = zbt_writer (j->name, 5000);
  uint64_t seq = 1;
  int ret;

  for (;;) {
    ret = zbt_write (w, 8192, seq++);
    if (ret != 0)
      break;
    if (seq == 8 && j->blocked)
      zbt_signal (j->ready_fd, 'b');
  }
  j->returned_at = zbt_now_ms ();
  j->result = ret;
  ZBT_ERR (zb_writer_check_reader (w), -EOWNERDEAD);
  zb_writer_disconnect (w);
}

static void
run_8k (int blocked)
{
  job_8k *j = zbt_shared (sizeof *j);
  int fds[2];
  pid_t r, w;
  int64_t delay;

  zbt_pipe (fds);
  j->name = zbt_name ();
  j->blocked = blocked;
  j->ready_fd = fds[1];
  j->result = 1;
  r = zbt_fork (reader_8k, j);
  zbt_await (fds[0], 5000);
  w = zbt_fork (writer_8k, j);
  if (blocked)
    zbt_await (fds[0], 5000);
  zbt_sleep_ms (300);
  j->killed_at = zbt_now_ms ();
  zbt_kill9 (r);
  ZBT_WAIT_OK (w, 6000);
  ZBT_ERR (j->result, -EOWNERDEAD);
  delay = j->returned_at - j->killed_at;
  if (delay < 0 || delay > 1000)
    ZBT_FAIL ("writer noticed the dead reader %d ms after the kill",
        (int) delay);
  cleanup_dead (j->name);
}

static void
test_5_3 (void)
{
  run_8k (0);
}

static void
test_10_3 (void)
{
  run_8k (1);
}

/* 10.4: the writer crashes while the reader is blocked: the reader reports
 * "writer dead" (long before its 5 s timeout). The writer is a sibling of
 * the reader, killed and reaped by the parent. */
typedef struct
{
  const char *name;
  int fd;
  volatile int result;
  volatile int64_t returned_at;
} job_10_4;

static void
reader_10_4 (void *arg)
{
  job_10_4 *j = arg;
  zb_reader *r = zbt_reader (j->name, 0, 4096);
  zb_frame f;

  zbt_signal (j->fd, 'c');
  zbt_read_release (r, 5000, 1, 64);
  j->result = zb_reader_read (r, 5000, &f);
  j->returned_at = zbt_now_ms ();
  zb_reader_destroy (r);
}

static void
test_10_4 (void)
{
  job_10_4 *j = zbt_shared (sizeof *j);
  pid_t r, w;
  int64_t killed_at;

  j->name = zbt_name ();
  j->result = 1;
  r = zbt_fork_ready (reader_10_4, j, &j->fd);
  w = sitter_start (j->name, 64, 1, NULL);
  zbt_sleep_ms (300);
  killed_at = zbt_now_ms ();
  zbt_kill9 (w);
  ZBT_WAIT_OK (r, 6000);
  ZBT_ERR (j->result, -EOWNERDEAD);
  if (j->returned_at - killed_at > 1000)
    ZBT_FAIL ("reader noticed the dead writer %d ms after the kill",
        (int) (j->returned_at - killed_at));
}

/* 10.1: creating the "data available" semaphore fails after the shared
 * memory exists (a directory squats /dev/shm/sem.sem-w-NAME, which neither
 * sem_open (O_EXCL) nor sem_unlink can get past): creation fails, the shm,
 * the other semaphore and the lock file are gone. Same for a squatted shm
 * name. */
static void
test_10_1 (void)
{
  const char *name = zbt_name ();
  zb_reader *r;
  char p[512];

  zbt_sem_path (p, sizeof p, 'w', name);
  zbt_expect_create_squatted (name, p, "sem-w", 2);

  name = zbt_name ();
  zbt_shm_path (p, sizeof p, name);
  zbt_expect_create_squatted (name, p, "shm", 1);
  /* And the name works once freed. */
  r = zbt_reader (name, 0, 4096);
  zb_reader_destroy (r);
}

/* 10.5: semaphore exhaustion. Semaphores live in /dev/shm, so fill it: in
 * a private 4 KiB /dev/shm the segment (one page) fits and the semaphores
 * do not: creation fails with a system error and cleans up after itself.
 * Then exhaust file descriptors (RLIMIT_NOFILE 3..12) for every failure
 * point of create and connect. */
static void
sem_exhaustion (void *arg)
{
  const char *name = arg;
  zb_reader_config cfg = { 0, 64, 0 };
  zb_reader *r = NULL;
  int ret = zb_reader_create (name, &cfg, &r);

  zbt_diag ("create in a 4 KiB /dev/shm: %d (%s)", ret, zb_strerror (ret));
  ZBT_ASSERT (ret < 0);
  ZBT_EQ (zbt_shm_entries (), 0);
  ZBT_EQ (zbt_objects (name), 0);
}

static void
fd_limit_child (void *arg)
{
  const char *name = arg;
  zb_reader_config cfg = { 64, 4096, 0 };
  zb_reader *r = NULL;
  zb_writer *w = NULL;
  int ret;

  ret = zb_reader_create (name, &cfg, &r);
  if (ret < 0) {
    ZBT_EQ (zbt_objects (name), 0);
    _exit (10);
  }
  ret = zb_writer_connect (name, NULL, &w);
  if (ret < 0) {
    zb_reader_destroy (r);
    _exit (11);
  }
  ZBT_OK (zbt_write (w, 100, 1));
  zbt_read_release (r, 0, 1, 100);
  zb_writer_disconnect (w);
  zb_reader_destroy (r);
}

static void
test_10_5 (void)
{
  const char *name = zbt_name ();
  int lim, fails = 0, oks = 0;

  zbt_with_tiny_shm ("4k", sem_exhaustion, (void *) name);
  ZBT_EQ (zbt_objects (name), 0);

  for (lim = 3; lim <= 12; lim++) {
    struct rlimit rl = { (rlim_t) lim, (rlim_t) lim };
    pid_t pid;
    int st;

    fflush (stdout);
    pid = fork ();
    if (pid == 0) {
      int fd;

      for (fd = 3; fd < 1024; fd++)
        close (fd);
      setrlimit (RLIMIT_NOFILE, &rl);
      fd_limit_child ((void *) name);
      _exit (0);
    }
    st = zbt_wait (pid, 5000);
    if (st == 0)
      oks++;
    else if (st == 10 || st == 11)
      fails++;
    else
      ZBT_FAIL ("with RLIMIT_NOFILE %d the child ended with %d", lim, st);
    ZBT_EQ (zbt_objects (name), 0);
  }
  zbt_diag ("fd limits 3..12: %d failed cleanly, %d worked", fails, oks);
  ZBT_ASSERT (fails > 0);
  ZBT_ASSERT (oks > 0);
}

/* 10.6: restrictive permissions across users. We run as root, which
 * bypasses file permissions, so the other user is a child that drops to
 * "nobody": with the default mode 0600 it cannot connect or inspect
 * (-EACCES) and nothing breaks; with mode 0666 (umask 0) it can. */
typedef struct
{
  const char *name;
  int expect_ok;
} job_10_6;

static void
nobody_10_6 (void *arg)
{
  job_10_6 *j = arg;
  zb_writer *w = NULL;
  zb_status st;

  zbt_become (zbt_nobody_or_skip ());
  if (!j->expect_ok) {
    ZBT_ERR (zb_writer_connect (j->name, NULL, &w), -EACCES);
    ZBT_ASSERT (w == NULL);
    ZBT_ERR (zb_inspect (j->name, &st, NULL, 0, NULL), -EACCES);
    return;
  }
  w = zbt_writer (j->name, 0);
  ZBT_OK (zbt_write (w, 123, 1));
  zb_writer_disconnect (w);
}

static void
test_10_6 (void)
{
  job_10_6 j = { zbt_name (), 0 };
  zb_reader *r = zbt_reader (j.name, 0, 4096);
  zb_reader_config cfg = { 0, 4096, 0666 };
  zb_frame f;

  ZBT_WAIT_OK (zbt_fork (nobody_10_6, &j), 5000);
  ZBT_ERR (zb_reader_read (r, 0, &f), -EAGAIN);
  zb_reader_destroy (r);

  j.name = zbt_name ();
  j.expect_ok = 1;
  umask (0);
  r = NULL;
  ZBT_OK (zb_reader_create (j.name, &cfg, &r));
  zbt_check_modes (j.name, 0666, 0);
  ZBT_WAIT_OK (zbt_fork (nobody_10_6, &j), 5000);
  zbt_read_release (r, 1000, 1, 123);
  zb_reader_destroy (r);
}

/* 11.1: 1000 create/destroy cycles: no leaked objects, lock files, file
 * descriptors or mappings. */
/* Mappings of shared memory: the allocator (and ASan's) may map and unmap
 * heap at will, so only /dev/shm mappings are counted. */
static int
count_shm_maps (void)
{
  FILE *f = fopen ("/proc/self/maps", "r");
  char line[512];
  int n = 0;

  while (fgets (line, sizeof line, f) != NULL)
    n += strstr (line, "/dev/shm/") != NULL;
  fclose (f);
  return n;
}

static int
count_fds (void)
{
  DIR *d = opendir ("/proc/self/fd");
  struct dirent *e;
  int n = 0;

  while ((e = readdir (d)) != NULL)
    n += e->d_name[0] != '.';
  closedir (d);
  return n;
}

/* Another process's start-up sweep may hold our name's lock file for a
 * moment (it makes the file to lock it when it is missing, then removes
 * it): only what stays is left over. */
static void
settle_objects (const char *name, int cycle)
{
  int64_t end = zbt_now_ms () + 500;

  while (zbt_objects (name) != 0) {
    struct timespec ts = { 0, 2 * 1000 * 1000 };

    if (zbt_now_ms () >= end)
      ZBT_FAIL ("cycle %d left objects 0x%x", cycle, zbt_objects (name));
    nanosleep (&ts, NULL);
  }
}

static void
test_11_1 (void)
{
  const char *name = zbt_name ();
  zb_reader *r;
  int i, fds, maps;

  r = zbt_reader (name, 64, 4096);
  zb_reader_destroy (r);
  fds = count_fds ();
  maps = count_shm_maps ();
  for (i = 0; i < 1000; i++) {
    r = zbt_reader (name, 64, 4096);
    zb_reader_destroy (r);
    if (zbt_objects (name) != 0)
      settle_objects (name, i);
  }
  ZBT_EQ (count_fds (), fds);
  ZBT_EQ (count_shm_maps (), maps);
}

/* 11.4: create buffers up to the system limit (a private 1 MiB /dev/shm):
 * graceful failure, then everything is cleaned up and creation works
 * again. */
static void
until_full (void *arg)
{
  zb_reader *readers[64];
  zb_reader_config cfg = { 0, 65536, 0 };
  int n = 0, ret = 0, i;

  (void) arg;
  while (n < 64) {
    char name[128];

    snprintf (name, sizeof name, "%s%u", zbt_prefix, zbt_counter++);
    ret = zb_reader_create (name, &cfg, &readers[n]);
    if (ret < 0) {
      ZBT_EQ (zbt_objects (name), 0);
      break;
    }
    n++;
  }
  zbt_diag ("%d buffers of 64 KiB in 1 MiB, then %d (%s)", n, ret,
      zb_strerror (ret));
  ZBT_ERR (ret, -ENOSPC);
  ZBT_ASSERT (n >= 10 && n < 16);
  for (i = 0; i < n; i++)
    zb_reader_destroy (readers[i]);
  ZBT_EQ (zbt_shm_entries (), 0);
  {
    zb_reader *r = zbt_reader (zbt_name (), 0, 65536);

    zb_reader_destroy (r);
  }
  ZBT_EQ (zbt_shm_entries (), 0);
}

static void
test_11_4 (void)
{
  zbt_with_tiny_shm ("1m", until_full, NULL);
}

/* 11.5: 1000 create/destroy cycles while a writer keeps trying to connect:
 * the writer only ever sees documented errors or a working buffer, nothing
 * crashes, nothing leaks. */
typedef struct
{
  const char *name;
  volatile int stop;
  volatile int counts[8];       /* 0 ok, ENOENT, EBUSY, EPROTO, EPIPE,
                                 * EOWNERDEAD, other write errors */
} job_11_5;

static void
writer_11_5 (void *arg)
{
  job_11_5 *j = arg;

  while (!j->stop) {
    zb_writer_config cfg = { 0, 50 };
    zb_writer *w = NULL;
    int ret = zb_writer_connect (j->name, &cfg, &w);

    switch (ret) {
      case 0:
        j->counts[0]++;
        ret = zbt_write (w, 64, 1);
        if (ret != 0 && ret != -EPIPE && ret != -EOWNERDEAD && ret != -ENOBUFS)
          ZBT_FAIL ("write to a cycling buffer: %d (%s)", ret,
              zb_strerror (ret));
        if (ret != 0)
          j->counts[6]++;
        zb_writer_disconnect (w);
        break;
      case -ENOENT:
        j->counts[1]++;
        break;
      case -EBUSY:
        j->counts[2]++;
        break;
      case -EPROTO:
        j->counts[3]++;
        break;
      default:
        ZBT_FAIL ("connect to a cycling buffer: %d (%s)", ret,
            zb_strerror (ret));
    }
  }
}

static void
test_11_5 (void)
{
  job_11_5 *j = zbt_shared (sizeof *j);
  pid_t w;
  int i;

  j->name = zbt_name ();
  w = zbt_fork (writer_11_5, j);
  for (i = 0; i < 1000; i++) {
    zb_reader *r = zbt_reader (j->name, 0, 4096);
    zb_frame f;

    if (zb_reader_read (r, 0, &f) == 0)
      ZBT_OK (zb_reader_release (r, &f));
    zb_reader_destroy (r);
  }
  j->stop = 1;
  ZBT_WAIT_OK (w, 5000);
  zbt_diag ("writer: %d connected, %d not found, %d busy, %d invalid, "
      "%d writes failed", j->counts[0], j->counts[1], j->counts[2],
      j->counts[3], j->counts[6]);
  ZBT_ERR (zb_cleanup (j->name), -ENOENT);
  ZBT_EQ (zbt_objects (j->name), 0);
}

/* 2.7★: a writer in another PID namespace (a container) sees no process
 * with the reader's pid; the reader's lock tells it the reader lives. */
static void
ns_writer (void *arg)
{
  const char *name = arg;
  pid_t pid;
  int st;

  if (unshare (CLONE_NEWPID) < 0)
    _exit (ZBT_SKIP_CODE);
  pid = fork ();
  if (pid == 0) {
    zb_writer_config cfg = { 5000, 2000 };
    zb_writer *w;
    uint8_t data[100];
    uint64_t i;

    ZBT_OK (zb_writer_connect (name, &cfg, &w));
    ZBT_OK (zb_writer_check_reader (w));
    for (i = 1; i <= 3; i++) {
      zbt_fill (data, sizeof data, i);
      ZBT_OK (zb_writer_write (w, data, sizeof data));
    }
    zb_writer_disconnect (w);
    _exit (0);
  }
  while (waitpid (pid, &st, 0) < 0 && errno == EINTR);
  _exit (WIFEXITED (st) ? WEXITSTATUS (st) : 1);
}

static void
test_2_7_pid_namespace (void)
{
  const char *name = zbt_name ();
  zb_reader *r = zbt_reader (name, 0, 65536);
  pid_t w = zbt_fork (ns_writer, (void *) name);
  zb_frame f;
  uint64_t i;
  int code;

  for (i = 1; i <= 3; i++)
    zbt_read_release (r, 5000, i, 100);
  ZBT_ERR (zb_reader_read (r, 2000, &f), -EPIPE);
  code = zbt_wait (w, 5000);
  zb_reader_destroy (r);
  if (code == ZBT_SKIP_CODE)
    ZBT_SKIP ("no PID namespaces here (needs CAP_SYS_ADMIN)");
  ZBT_EQ (code, 0);
}

static const zbt_case cases[] = {
  {"2.1 writer killed: frames, then writer dead", test_2_1, 20},
  {"2.1 writer killed while the reader is blocked", test_2_1_blocked, 20},
  {"2.2 writer fills the buffer, reader crashes", test_2_2, 20},
  {"2.3 reader crashes, new reader recreates, writer reconnects", test_2_3,
      20},
  {"2.3 new reader while the old writer is still attached",
      test_2_3_attached, 20},
  {"2.4 second writer rejected", test_2_4, 20},
  {"2.5★ writer replacement after disconnect", test_replace_disconnect, 20},
  {"2.6★ writer replacement after kill -9", test_replace_killed, 20},
  {"2.7★ writer in another PID namespace", test_2_7_pid_namespace, 20},
  {"5.3 reader crashes during 8 KiB writes", test_5_3, 20},
  {"10.1 sem-w creation fails: nothing leaks", test_10_1, 20},
  {"10.3 reader killed while the writer is blocked", test_10_3, 20},
  {"10.4 writer crashes while the reader is blocked", test_10_4, 20},
  {"10.5 semaphore and descriptor exhaustion", test_10_5, 30},
  {"10.6 restrictive permissions across users", test_10_6, 20},
  {"11.1 1000 create/destroy cycles", test_11_1, 40},
  {"11.4 buffers up to the shared memory limit", test_11_4, 30},
  {"11.5 1000 cycles while a writer keeps connecting", test_11_5, 40},
};

int
main (int argc, char **argv)
{
  return zbt_main (cases, sizeof cases / sizeof cases[0], argc, argv);
}
