/* Hostile or foreign segments and other users (issue 14, section D):
 * squatted buffers, a live buffer another create must not delete, names
 * that alias our own objects, oversized segments, a peer flooding the
 * "space freed" semaphore, lock files held by processes we cannot see, a
 * cleanup racing a reader's creation, a FIFO planted as a lock file, a
 * frame of another reader.
 *
 * The cases that need another user run as root and drop a forked child to
 * "nobody"; they skip with a reason otherwise. */

#include "zbtest.h"

#include <sys/ptrace.h>
#include <sys/user.h>

/* ------------------------------------------------------------------ */
/* Helpers (user nobody: zbt_nobody_or_skip and zbt_become in zbtest.h) */

/* A reader run by another user, buffer mode 0666 (as the reference
 * implementations create them): tells the parent when it is ready ('r'),
 * then reads up to one frame until the parent says 'q', and reports
 * through @result whether it got one (1) and with what content. */
typedef struct
{
  const char *name;
  const struct passwd *pw;
  int ready[2];
  int quit[2];
  volatile int *result;
} foreign_reader_job;

static void
foreign_reader (void *arg)
{
  foreign_reader_job *j = arg;
  zb_reader_config cfg = { 0, 4096, 0666 };
  zb_reader *r = NULL;
  struct pollfd p = { j->quit[0], POLLIN, 0 };

  zbt_become (j->pw);
  umask (0);
  ZBT_OK (zb_reader_create (j->name, &cfg, &r));
  zbt_signal (j->ready[1], 'r');
  *j->result = 0;
  while (poll (&p, 1, 0) == 0) {
    zb_frame f;
    int ret = zb_reader_read (r, 20, &f);

    if (ret == 0) {
      *j->result = zbt_verify (f.data, f.size, f.sequence) < 0 ? 1 : 2;
      zb_reader_release (r, &f);
    }
  }
  zb_reader_destroy (r);
}

static pid_t
start_foreign_reader (foreign_reader_job * j)
{
  pid_t pid;

  zbt_pipe (j->ready);
  zbt_pipe (j->quit);
  j->result = zbt_shared (sizeof (int));
  pid = zbt_fork (foreign_reader, j);
  zbt_await (j->ready[0], 5000);
  return pid;
}

static void
stop_foreign_reader (foreign_reader_job * j, pid_t pid)
{
  zbt_signal (j->quit[1], 'q');
  ZBT_WAIT_OK (pid, 5000);
}

/* ------------------------------------------------------------------ */
/* 1. Squatting */

/* A buffer created by another user (mode 0666, every object is that
 * user's): by default a writer refuses it with -EPERM and writes nothing. */
static void
test_squat_foreign_user (void)
{
  foreign_reader_job j = { zbt_name (), zbt_nobody_or_skip (), {0}, {0}, 0 };
  zb_writer *w = NULL;
  pid_t pid = start_foreign_reader (&j);
  int ret;

  ret = zb_writer_connect (j.name, NULL, &w);
  if (ret == 0) {
    zbt_write (w, 100, 1);
    zb_writer_disconnect (w);
    zbt_sleep_ms (100);
    stop_foreign_reader (&j, pid);
    ZBT_FAIL ("connected to a buffer of user nobody (frame %s)",
        *j.result == 1 ? "delivered to nobody" : "written");
  }
  ZBT_ERR (ret, -EPERM);
  ZBT_ASSERT (w == NULL);
  stop_foreign_reader (&j, pid);
  ZBT_EQ (*j.result, 0);
}

/* The explicit option: allow_uid lets the given user's buffer through, and
 * frames flow. */
static void
test_squat_allow_uid (void)
{
  foreign_reader_job j = { zbt_name (), zbt_nobody_or_skip (), {0}, {0}, 0 };
  zb_writer_config cfg = { 0, 1000 };
  zb_writer *w = NULL;
  pid_t pid = start_foreign_reader (&j);
  int64_t end;

  cfg.allow_uid = j.pw->pw_uid;
  ZBT_OK (zb_writer_connect (j.name, &cfg, &w));
  ZBT_OK (zbt_write (w, 100, 1));
  end = zbt_now_ms () + 3000;
  while (*j.result == 0 && zbt_now_ms () < end)
    zbt_sleep_ms (5);
  zb_writer_disconnect (w);
  stop_foreign_reader (&j, pid);
  ZBT_EQ (*j.result, 1);
  /* The reserved fields must be zero. */
  cfg.reserved[4] = 1;
  ZBT_ERR (zb_writer_connect (j.name, &cfg, &w), -EINVAL);
  cfg.reserved[4] = 0;
  /* Another uid than the allowed one is still refused. */
  j.name = zbt_name ();
  pid = start_foreign_reader (&j);
  cfg.allow_uid = j.pw->pw_uid + 1;
  ZBT_ERR (zb_writer_connect (j.name, &cfg, &w), -EPERM);
  stop_foreign_reader (&j, pid);
}

/* Each object on its own: our buffer (mode 0666) with one object handed to
 * another user is refused; the writer looks at what it opened. */
static void
test_squat_each_object (void)
{
  struct passwd *pw = zbt_nobody_or_skip ();
  int obj;

  for (obj = 0; obj < 4; obj++) {
    const char *name = zbt_name ();
    zb_reader_config rc = { 0, 4096, 0666 };
    zb_reader *r = NULL;
    zb_writer *w = NULL;
    char p[512];

    ZBT_OK (zb_reader_create (name, &rc, &r));
    if (obj == 0)
      zbt_shm_path (p, sizeof p, name);
    else if (obj == 1)
      zbt_sem_path (p, sizeof p, 'w', name);
    else if (obj == 2)
      zbt_sem_path (p, sizeof p, 'r', name);
    else
      zbt_lock_path (p, sizeof p, name);
    ZBT_OK (chown (p, pw->pw_uid, pw->pw_gid));
    ZBT_ERR (zb_writer_connect (name, NULL, &w), -EPERM);
    ZBT_OK (chown (p, 0, 0));
    zbt_one_frame (r, name, 10, 0);
    zb_reader_destroy (r);
  }
}

/* A buffer whose lock file nobody holds is not a live reader's buffer (a
 * squatter, or a reader whose lock file was deleted): -ENOLCK. */
static void
test_squat_lock_not_held (void)
{
  const char *name = zbt_name ();
  zb_reader *r = zbt_reader (name, 0, 4096);
  zb_writer *w = NULL;
  char p[512];
  int fd;

  zbt_lock_path (p, sizeof p, name);
  ZBT_OK (unlink (p));
  ZBT_ERR (zb_writer_connect (name, NULL, &w), -ENOLCK);
  fd = open (p, O_CREAT | O_RDWR, 0600);
  ZBT_ASSERT (fd >= 0);
  ZBT_ERR (zb_writer_connect (name, NULL, &w), -ENOLCK);
  ZBT_ASSERT (w == NULL);
  close (fd);
  unlink (p);
  zb_reader_destroy (r);
}

/* A stale lock file of another user is replaced by a new reader, so that
 * its writers accept the buffer. */
static void
test_squat_stale_foreign_lock (void)
{
  struct passwd *pw = zbt_nobody_or_skip ();
  const char *name = zbt_name ();
  zb_reader *r;
  struct stat st;
  char p[512];
  int fd;

  zbt_lock_path (p, sizeof p, name);
  fd = open (p, O_CREAT | O_RDWR, 0666);
  ZBT_ASSERT (fd >= 0);
  ZBT_OK (fchown (fd, pw->pw_uid, pw->pw_gid));
  close (fd);
  r = zbt_reader (name, 0, 4096);
  ZBT_OK (stat (p, &st));
  ZBT_EQ (st.st_uid, geteuid ());
  zbt_one_frame (r, name, 10, 0);
  zb_reader_destroy (r);
}

/* ------------------------------------------------------------------ */
/* 3. A failed create leaves a live buffer alone */

static void
test_live_buffer_kept (void)
{
  const char *name = zbt_name ();
  zb_reader *a = zbt_reader (name, 0, 4096);
  zb_writer *w = zbt_writer (name, 0);
  char p[512];

  /* A /tmp cleaner removes the live reader's lock file. */
  zbt_lock_path (p, sizeof p, name);
  ZBT_OK (unlink (p));
  /* Reader B, in a process of its own. */
  ZBT_WAIT_OK (zbt_fork (zbt_second_reader_refused, (void *) name), 5000);
  /* Segment and semaphores of the live reader are still there... */
  ZBT_EQ (zbt_objects (name), 7);
  ZBT_EQ (zbt_sem_value (name, 'w'), 0);
  /* ...and the stream goes on. */
  ZBT_OK (zbt_write (w, 100, 1));
  zbt_read_release (a, 1000, 1, 100);
  ZBT_OK (zbt_write (w, 200, 2));
  zbt_read_release (a, 1000, 2, 200);
  zb_writer_disconnect (w);
  zb_reader_destroy (a);
}

/* ------------------------------------------------------------------ */
/* 4. Names that alias our own objects, foreign files */

static void
test_name_alias (void)
{
  const char *name = zbt_name ();
  zb_reader *r = zbt_reader (name, 0, 4096);
  const char *kinds[] = { "sem.sem-w-", "sem.sem-r-", "sem." };
  char other[ZB_NAME_MAX + 2];
  size_t i;

  for (i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
    snprintf (other, sizeof other, "%s%s", kinds[i], name);
    zbt_expect_name_refused (other, -EINVAL);
    ZBT_EQ (zbt_objects (name), 15);
  }
  zbt_one_frame (r, name, 10, 1000);
  zb_reader_destroy (r);
  /* Names that merely contain "sem." are fine. */
  snprintf (other, sizeof other, "%ssem.x", zbt_prefix);
  ZBT_OK (zb_name_check (other));
}

/* A file in /dev/shm that is not a ZeroBuffer segment is never unlinked
 * as "stale": creating the buffer fails with -EPROTO and the file stays.
 * An all-zero file (a creation that was killed before its OIEB was
 * written) is stale and replaced. */
static void
test_foreign_file_kept (void)
{
  const char *name = zbt_name ();
  zb_reader_config cfg = { 0, 4096, 0 };
  zb_reader *r = NULL;
  uint8_t buf[4096], back[4096];
  char p[512];
  int fd;

  memset (buf, 0xab, sizeof buf);
  zbt_shm_path (p, sizeof p, name);
  fd = open (p, O_CREAT | O_EXCL | O_RDWR, 0600);
  ZBT_ASSERT (fd >= 0);
  ZBT_ASSERT (write (fd, buf, sizeof buf) == (ssize_t) sizeof buf);
  ZBT_ERR (zb_reader_create (name, &cfg, &r), -EPROTO);
  ZBT_ASSERT (r == NULL);
  ZBT_ERR (zb_cleanup (name), -EPROTO);
  ZBT_ASSERT (pread (fd, back, sizeof back, 0) == (ssize_t) sizeof back);
  ZBT_ASSERT (memcmp (buf, back, sizeof buf) == 0);
  ZBT_EQ (zbt_objects (name), 1);
  /* Zeros: an unfinished creation. */
  memset (buf, 0, sizeof buf);
  ZBT_ASSERT (pwrite (fd, buf, sizeof buf, 0) == (ssize_t) sizeof buf);
  close (fd);
  r = zbt_reader (name, 0, 4096);
  zb_reader_destroy (r);
  ZBT_EQ (zbt_objects (name), 0);
}

/* ------------------------------------------------------------------ */
/* 5. Oversized segment */

static void
test_oversized (void)
{
  const char *name = zbt_name ();
  zb_reader *r = zbt_reader (name, 0, 4096);
  zb_writer *w = NULL;
  struct stat before, after;
  int64_t t0, dt;
  char p[512];
  int fd, ret;

  zbt_shm_path (p, sizeof p, name);
  fd = open (p, O_RDWR);
  ZBT_ASSERT (fd >= 0);
  ZBT_OK (ftruncate (fd, 512 << 20));
  ZBT_OK (fstat (fd, &before));
  t0 = zbt_now_us ();
  ret = zb_writer_connect (name, NULL, &w);
  dt = zbt_now_us () - t0;
  ZBT_OK (fstat (fd, &after));
  close (fd);
  zbt_diag ("connect: %d (%s) after %.1f ms, %lld -> %lld blocks", ret,
      zb_strerror (ret), dt / 1000.0, (long long) before.st_blocks,
      (long long) after.st_blocks);
  if (w != NULL)
    zb_writer_disconnect (w);
  ZBT_ERR (ret, -EPROTO);
  ZBT_ASSERT (dt < 50000);
  ZBT_EQ (after.st_blocks, before.st_blocks);
  zb_reader_destroy (r);
}

/* ------------------------------------------------------------------ */
/* 6. A peer flooding "space freed" does not defeat the write timeout */

static void
flood_sem_r (void *arg)
{
  const char *name = arg;
  char sn[512];
  sem_t *s;
  int64_t end = zbt_now_ms () + 3000;

  snprintf (sn, sizeof sn, "/sem-r-%s", name);
  s = sem_open (sn, 0);
  if (s == SEM_FAILED)
    ZBT_FAIL ("sem_open %s: %s", sn, strerror (errno));
  while (zbt_now_ms () < end) {
    int i;

    for (i = 0; i < 100; i++)
      sem_post (s);
    sched_yield ();
  }
}

static void
test_flood_write_timeout (void)
{
  const char *name = zbt_name ();
  zb_reader *r = zbt_reader (name, 0, 4096);
  zb_writer *w = zbt_writer (name, 200);
  int64_t t0, dt;
  pid_t pid;
  int ret;

  /* Fill the ring; the reader never frees anything. */
  ZBT_OK (zbt_write (w, 4096 - ZB_FRAME_HEADER_SIZE, 1));
  pid = zbt_fork (flood_sem_r, (void *) name);
  zbt_sleep_ms (20);
  t0 = zbt_now_ms ();
  ret = zbt_write (w, 100, 2);
  dt = zbt_now_ms () - t0;
  zbt_kill9 (pid);
  zbt_diag ("write: %d (%s) after %lld ms", ret, zb_strerror (ret),
      (long long) dt);
  ZBT_ERR (ret, -ENOBUFS);
  ZBT_ASSERT (dt >= 190 && dt < 300);
  zb_writer_disconnect (w);
  zb_reader_destroy (r);
}

/* ------------------------------------------------------------------ */
/* 7. Creation does not wait for lock files held by processes we cannot
 * see (another PID namespace) */

typedef struct
{
  char names[5][ZB_NAME_MAX + 2];
  int ready[2];
} holder_job;

static void
hold_locks (void *arg)
{
  holder_job *j = arg;
  int i;

  for (i = 0; i < 5; i++) {
    char p[512];
    int fd;

    zbt_lock_path (p, sizeof p, j->names[i]);
    fd = open (p, O_CREAT | O_RDWR, 0600);
    if (fd < 0 || flock (fd, LOCK_EX | LOCK_NB) < 0)
      ZBT_FAIL ("holding %s: %s", p, strerror (errno));
  }
  zbt_signal (j->ready[1], 'r');
  for (;;)
    pause ();
}

static void
test_create_latency (void)
{
  holder_job j;
  const char *name;
  zb_reader *r = NULL;
  zb_reader_config cfg = { 0, 4096, 0 };
  int64_t t0, dt;
  pid_t pid;
  int i, ret;

  for (i = 0; i < 5; i++)
    zbt_name_with (j.names[i], sizeof j.names[i], "-held");
  name = zbt_name ();
  zbt_pipe (j.ready);
  pid = zbt_fork (hold_locks, &j);
  zbt_await (j.ready[0], 5000);
  t0 = zbt_now_us ();
  ret = zb_reader_create (name, &cfg, &r);
  dt = zbt_now_us () - t0;
  zbt_kill9 (pid);
  for (i = 0; i < 5; i++) {
    char p[512];

    zbt_lock_path (p, sizeof p, j.names[i]);
    unlink (p);
  }
  zbt_diag ("zb_reader_create: %.1f ms", dt / 1000.0);
  ZBT_OK (ret);
  zb_reader_destroy (r);
  ZBT_ASSERT (dt < 50000);
}

/* ------------------------------------------------------------------ */
/* 8. zb_cleanup racing a reader's creation */

#if defined(__x86_64__)
/* Run zb_cleanup (NAME) in a traced child; the moment it has opened (or
 * failed to open) NAME's lock file, play a reader that starts creating
 * the buffer (lock file taken, segment with reader_pid 0 and semaphores),
 * then let the cleanup go on. It must not remove that reader's objects. */
static void
cleanup_child (void *arg)
{
  const char *name = arg;
  int ret;

  if (ptrace (PTRACE_TRACEME, 0, NULL, NULL) < 0)
    _exit (ZBT_SKIP_CODE);
  raise (SIGSTOP);
  ret = zb_cleanup (name);
  _exit (ret == 0 ? 0 : ret == -EBUSY ? 1 : 2);
}

static int
peek_string (pid_t pid, unsigned long addr, char *out, size_t size)
{
  size_t i = 0;

  while (i + sizeof (long) < size) {
    long word;

    errno = 0;
    word = ptrace (PTRACE_PEEKDATA, pid, (void *) (addr + i), NULL);
    if (errno != 0)
      return -1;
    memcpy (out + i, &word, sizeof word);
    if (memchr (&word, 0, sizeof word) != NULL)
      return 0;
    i += sizeof word;
  }
  out[size - 1] = '\0';
  return 0;
}

static void
play_creating_reader (const char *name, int *lock_fd)
{
  char p[512], sn[512];
  uint8_t oieb[128] = { 0 };
  uint32_t v = 128;
  uint64_t q;
  sem_t *s;
  int fd;

  zbt_lock_path (p, sizeof p, name);
  *lock_fd = open (p, O_CREAT | O_RDWR | O_CLOEXEC, 0600);
  ZBT_ASSERT (*lock_fd >= 0);
  ZBT_OK (flock (*lock_fd, LOCK_EX | LOCK_NB));
  zbt_shm_path (p, sizeof p, name);
  fd = open (p, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
  ZBT_ASSERT (fd >= 0);
  ZBT_OK (ftruncate (fd, 128 + 4096));
  memcpy (oieb, &v, 4);
  oieb[4] = 1;
  q = 4096;
  memcpy (oieb + ZBT_OIEB_P_SIZE, &q, 8);
  memcpy (oieb + ZBT_OIEB_P_FREE, &q, 8);
  ZBT_ASSERT (pwrite (fd, oieb, sizeof oieb, 0) == (ssize_t) sizeof oieb);
  close (fd);
  snprintf (sn, sizeof sn, "/sem-w-%s", name);
  s = sem_open (sn, O_CREAT | O_EXCL, 0600, 0);
  ZBT_ASSERT (s != SEM_FAILED);
  sem_close (s);
  snprintf (sn, sizeof sn, "/sem-r-%s", name);
  s = sem_open (sn, O_CREAT | O_EXCL, 0600, 0);
  ZBT_ASSERT (s != SEM_FAILED);
  sem_close (s);
}

static void
test_cleanup_vs_create (void)
{
  const char *name = zbt_name ();
  char lockname[512], path[512];
  int lock_fd = -1, st, in_syscall = 0, played = 0, code;
  pid_t pid;

  snprintf (lockname, sizeof lockname, "%s.lock", name);
  pid = zbt_fork (cleanup_child, (void *) name);
  if (waitpid (pid, &st, 0) != pid || !WIFSTOPPED (st)) {
    if (WIFEXITED (st) && WEXITSTATUS (st) == ZBT_SKIP_CODE)
      ZBT_SKIP ("ptrace not allowed");
    ZBT_FAIL ("traced child did not stop");
  }
  ptrace (PTRACE_SETOPTIONS, pid, NULL, (void *) PTRACE_O_TRACESYSGOOD);
  for (;;) {
    struct user_regs_struct regs;

    if (ptrace (PTRACE_SYSCALL, pid, NULL, NULL) < 0)
      ZBT_FAIL ("PTRACE_SYSCALL: %s", strerror (errno));
    if (waitpid (pid, &st, 0) != pid)
      ZBT_FAIL ("waitpid: %s", strerror (errno));
    if (WIFEXITED (st))
      break;
    if (!WIFSTOPPED (st) || WSTOPSIG (st) != (SIGTRAP | 0x80))
      continue;
    in_syscall = !in_syscall;
    if (in_syscall || played)
      continue;
    /* At a syscall exit: was it an open of the lock file? */
    ptrace (PTRACE_GETREGS, pid, NULL, &regs);
    if (regs.orig_rax != 257 /* openat */ )
      continue;
    if (peek_string (pid, regs.rsi, path, sizeof path) < 0)
      continue;
    {
      size_t lp = strlen (path), ln = strlen (lockname);

      if (lp < ln || strcmp (path + lp - ln, lockname) != 0)
        continue;
    }
    play_creating_reader (name, &lock_fd);
    played = 1;
  }
  code = WEXITSTATUS (st);
  zbt_diag ("zb_cleanup in the traced child: exit %d (0 removed, "
      "1 busy)", code);
  ZBT_ASSERT (played);
  /* The creating reader's objects are all there. */
  ZBT_EQ (zbt_objects (name), 15);
  ZBT_EQ (code, 1);
  {
    char p[512], sn[512];

    zbt_shm_path (p, sizeof p, name);
    unlink (p);
    snprintf (sn, sizeof sn, "/sem-w-%s", name);
    sem_unlink (sn);
    snprintf (sn, sizeof sn, "/sem-r-%s", name);
    sem_unlink (sn);
    zbt_lock_path (p, sizeof p, name);
    unlink (p);
    close (lock_fd);
  }
}
#else
static void
test_cleanup_vs_create (void)
{
  ZBT_SKIP ("the ptrace part of this test is written for x86_64");
}
#endif

/* ------------------------------------------------------------------ */
/* 9. A FIFO planted as a lock file */

/* Anyone may create NAME.lock in the shared /tmp/zerobuffer. A FIFO there
 * must neither block the start-up sweep of every reader nor zb_cleanup
 * (opening it for reading would wait for a writer forever): lock files are
 * opened without waiting, and anything but a regular file is refused. In
 * a private mount namespace with its own /dev/shm and /tmp. */
static void
planted_fifo (void *arg)
{
  const char *fifo_name = arg;
  zb_reader_config cfg = { 0, 4096, 0 };
  zb_reader *r = NULL;
  char path[512];
  struct stat st;
  int64_t t0;

  if (mount ("tmpfs", "/tmp", "tmpfs", 0, "mode=1777") < 0)
    ZBT_SKIP ("mount tmpfs on /tmp: %s", strerror (errno));
  ZBT_ASSERT (mkdir (ZBT_LOCK_DIR, 0700) == 0);
  ZBT_ASSERT (chmod (ZBT_LOCK_DIR, 01777) == 0);
  zbt_lock_path (path, sizeof path, fifo_name);
  ZBT_ASSERT (mkfifo (path, 0600) == 0);
  /* a blocking open would hang here: SIGALRM ends the child */
  alarm (5);
  t0 = zbt_now_us ();
  ZBT_OK (zb_reader_create (zbt_name (), &cfg, &r));
  zbt_diag ("zb_reader_create beside a FIFO lock file: %.1f ms",
      (zbt_now_us () - t0) / 1000.0);
  ZBT_ASSERT (zbt_now_us () - t0 < 1000000);
  zb_reader_destroy (r);
  ZBT_ERR (zb_cleanup (fifo_name), -EACCES);
  ZBT_ERR (zb_reader_create (fifo_name, &cfg, &r), -EACCES);
  ZBT_ASSERT (lstat (path, &st) == 0 && S_ISFIFO (st.st_mode));
}

static void
test_planted_fifo (void)
{
  zbt_with_tiny_shm ("1m", planted_fifo, (void *) zbt_name ());
}

/* ------------------------------------------------------------------ */
/* 10. A frame of another reader */

static void
test_release_foreign_frame (void)
{
  const char *n1 = zbt_name (), *n2 = zbt_name ();
  zb_reader *r1 = zbt_reader (n1, 0, 4096);
  zb_reader *r2 = zbt_reader (n2, 0, 4096);
  zb_writer *w1 = zbt_writer (n1, 0);
  zb_writer *w2 = zbt_writer (n2, 0);
  zb_frame f1, f2, forged;

  ZBT_OK (zbt_write (w1, 100, 1));
  ZBT_OK (zbt_write (w2, 200, 1));
  zbt_read_check (r1, 1000, 1, 100, &f1);
  zbt_read_check (r2, 1000, 1, 200, &f2);
  ZBT_EQU (f1.id, f2.id);
  ZBT_ERR (zb_reader_release (r1, &f2), -EINVAL);
  ZBT_ERR (zb_reader_release (r2, &f1), -EINVAL);
  ZBT_EQ (zb_reader_held_bytes (r1), 116);
  ZBT_EQ (zb_reader_held_bytes (r2), 216);
  /* Right id, wrong size: not the frame handed out. */
  forged = f1;
  forged.size = 50;
  ZBT_ERR (zb_reader_release (r1, &forged), -EINVAL);
  ZBT_OK (zb_reader_release (r1, &f1));
  ZBT_OK (zb_reader_release (r2, &f2));
  ZBT_EQ (zb_reader_held_bytes (r1), 0);
  ZBT_EQ (zb_reader_held_bytes (r2), 0);
  zb_writer_disconnect (w1);
  zb_writer_disconnect (w2);
  zb_reader_destroy (r1);
  zb_reader_destroy (r2);
}

static const zbt_case cases[] = {
  {"squat: buffer of another user refused (-EPERM)", test_squat_foreign_user,
      15},
  {"squat: allow_uid lets that user's buffer through", test_squat_allow_uid,
      15},
  {"squat: each object of another user refused", test_squat_each_object, 15},
  {"squat: lock file not held refused (-ENOLCK)", test_squat_lock_not_held,
      10},
  {"squat: stale lock file of another user replaced",
      test_squat_stale_foreign_lock, 10},
  {"live buffer kept by a failed create", test_live_buffer_kept, 10},
  {"name aliasing our semaphores refused", test_name_alias, 10},
  {"foreign file in /dev/shm not unlinked", test_foreign_file_kept, 10},
  {"oversized segment refused fast, nothing populated", test_oversized, 20},
  {"sem-r flood: write timeout holds", test_flood_write_timeout, 15},
  {"create: no waiting for locks held out of sight", test_create_latency,
      15},
  {"cleanup racing a reader's creation", test_cleanup_vs_create, 15},
  {"FIFO planted as a lock file: no hang, refused", test_planted_fifo, 15},
  {"release of another reader's frame refused", test_release_foreign_frame,
      10},
};

int
main (int argc, char **argv)
{
  return zbt_main (cases, sizeof cases / sizeof cases[0], argc, argv);
}
