/* Writer statistics beside the buffer and the sweep of dead writers' side
 * objects (docs/protocol.md, "Writer statistics" and "Side objects of dead
 * writers"): real processes, real /dev/shm. */

#include "zbtest.h"

static void
stats_path (char *out, size_t size, const char *buffer, uint64_t pid)
{
  snprintf (out, size, ZBT_SHM_DIR "/zbstats-%s-%" PRIu64, buffer, pid);
}

/* A pid that is certainly dead: a child that exited and was reaped. */
static uint64_t
dead_pid (void)
{
  pid_t pid = fork ();

  if (pid < 0)
    ZBT_FAIL ("fork: %s", strerror (errno));
  if (pid == 0)
    _exit (0);
  waitpid (pid, NULL, 0);
  return (uint64_t) pid;
}

/* Write @size bytes of @data to a new file @path, mode @mode. */
static void
plant (const char *path, const void *data, size_t size, mode_t mode)
{
  int fd = open (path, O_WRONLY | O_CREAT | O_EXCL, mode);

  if (fd < 0)
    ZBT_FAIL ("%s: %s", path, strerror (errno));
  if (size > 0 && write (fd, data, size) != (ssize_t) size)
    ZBT_FAIL ("write %s: %s", path, strerror (errno));
  fchmod (fd, mode);
  close (fd);
}

static void
stats_fill (zb_stats_shm * s, const char *buffer, uint64_t pid, uint64_t drops)
{
  memset (s, 0, sizeof (*s));
  memcpy (s->magic, "ZBWS", 4);
  s->version = 1;
  s->size = sizeof (*s);
  s->writer_pid = pid;
  s->drops = drops;
  snprintf (s->buffer, sizeof (s->buffer), "%s", buffer);
}

/* The object is made at connect with the buffer's permissions minus write
 * for others, counts what zb_writer_add_drops() adds, and goes with the
 * writer. */
static void
test_published (void)
{
  const char *name = zbt_name ();
  zb_reader_config cfg = { 0, 64 * 1024, 0666 };
  zb_writer_stats ws;
  zb_reader *r;
  zb_writer *w;
  char path[512];
  struct stat st;

  ZBT_OK (zb_reader_create (name, &cfg, &r));
  w = zbt_writer (name, 100);
  stats_path (path, sizeof (path), name, (uint64_t) getpid ());
  ZBT_ASSERT (lstat (path, &st) == 0);
  ZBT_EQ (st.st_mode & 07777, 0644);
  ZBT_EQ (st.st_size, 320);
  ZBT_EQ (st.st_uid, geteuid ());
  ZBT_OK (zb_inspect_writer (name, (uint64_t) getpid (), &ws));
  ZBT_EQU (ws.drops, 0);
  ZBT_EQU (ws.writer_pid, (uint64_t) getpid ());
  zb_writer_add_drops (w, 3);
  zb_writer_add_drops (w, 4);
  zb_writer_add_drops (NULL, 4);
  ZBT_EQU (zb_writer_drops (w), 7);
  ZBT_OK (zb_inspect_writer (name, (uint64_t) getpid (), &ws));
  ZBT_EQU (ws.drops, 7);
  /* the buffer itself is untouched: the protocol's bytes */
  ZBT_EQ (zbt_status (r).writer_pid, getpid ());
  zb_writer_disconnect (w);
  ZBT_ASSERT (!zbt_path_exists (path));
  ZBT_ERR (zb_inspect_writer (name, (uint64_t) getpid (), &ws), -ENOENT);
  ZBT_ERR (zb_inspect_writer (name, 0, &ws), -ENOENT);
  ZBT_ERR (zb_inspect_writer (name, 1, NULL), -EINVAL);
  ZBT_ERR (zb_inspect_writer ("a/b", 1, &ws), -EINVAL);
  zb_reader_destroy (r);

  /* default mode 0600: the object is 0600 too */
  r = zbt_reader (name, 0, 64 * 1024);
  w = zbt_writer (name, 100);
  ZBT_ASSERT (lstat (path, &st) == 0);
  ZBT_EQ (st.st_mode & 07777, 0600);
  zb_writer_disconnect (w);
  zb_reader_destroy (r);
}

/* A writer that publishes nothing (a reference implementation: only the
 * OIEB) reads as -ENOENT. */
static void
test_reference_writer_none (void)
{
  const char *name = zbt_name ();
  zb_reader *r = zbt_reader (name, 0, 64 * 1024);
  zb_writer_stats ws;
  char path[512];
  uint8_t *seg;
  int fd;

  /* write a writer pid into the OIEB as a reference writer does */
  zbt_shm_path (path, sizeof (path), name);
  fd = open (path, O_RDWR);
  ZBT_ASSERT (fd >= 0);
  seg = mmap (NULL, 128, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  ZBT_ASSERT (seg != MAP_FAILED);
  close (fd);
  zbt_put64 (seg, ZBT_OIEB_WRITER_PID, (uint64_t) getppid ());
  ZBT_ERR (zb_inspect_writer (name, (uint64_t) getppid (), &ws), -ENOENT);
  zbt_put64 (seg, ZBT_OIEB_WRITER_PID, 0);
  munmap (seg, 128);
  zb_reader_destroy (r);
}

/* Hostile objects under the name an observer looks at: every one is
 * refused with its own error, none crashes or is believed. */
static void
hostile_body (void *arg)
{
  const char *name = zbt_name ();
  uint64_t me = (uint64_t) getpid ();
  zb_stats_shm s;
  zb_writer_stats ws;
  char path[512], big[4096];

  stats_path (path, sizeof (path), name, me);

  /* the well-formed one first: the test can pass */
  stats_fill (&s, name, me, 42);
  plant (path, &s, sizeof (s), 0644);
  ZBT_OK (zb_inspect_writer (name, me, &ws));
  ZBT_EQU (ws.drops, 42);
  unlink (path);

  /* too short, too long, empty */
  plant (path, &s, 100, 0644);
  ZBT_ERR (zb_inspect_writer (name, me, &ws), -EPROTO);
  unlink (path);
  memset (big, 0, sizeof (big));
  memcpy (big, &s, sizeof (s));
  plant (path, big, sizeof (big), 0644);
  ZBT_ERR (zb_inspect_writer (name, me, &ws), -EPROTO);
  unlink (path);
  plant (path, NULL, 0, 0644);
  ZBT_ERR (zb_inspect_writer (name, me, &ws), -EPROTO);
  unlink (path);

  /* garbage of the right size */
  memset (&s, 0xa5, sizeof (s));
  plant (path, &s, sizeof (s), 0644);
  ZBT_ERR (zb_inspect_writer (name, me, &ws), -EPROTO);
  ZBT_EQU (ws.drops, 0);
  unlink (path);

  /* right magic, wrong version, size, pid, buffer, unterminated name */
  stats_fill (&s, name, me, 1);
  s.version = 2;
  plant (path, &s, sizeof (s), 0644);
  ZBT_ERR (zb_inspect_writer (name, me, &ws), -EPROTO);
  unlink (path);
  stats_fill (&s, name, me, 1);
  s.size = 4096;
  plant (path, &s, sizeof (s), 0644);
  ZBT_ERR (zb_inspect_writer (name, me, &ws), -EPROTO);
  unlink (path);
  stats_fill (&s, name, me + 1, 1);
  plant (path, &s, sizeof (s), 0644);
  ZBT_ERR (zb_inspect_writer (name, me, &ws), -EPROTO);
  unlink (path);
  stats_fill (&s, "someone-else", me, 1);
  plant (path, &s, sizeof (s), 0644);
  ZBT_ERR (zb_inspect_writer (name, me, &ws), -EPROTO);
  unlink (path);
  stats_fill (&s, name, me, 1);
  memset (s.buffer, 'x', sizeof (s.buffer));
  plant (path, &s, sizeof (s), 0644);
  ZBT_ERR (zb_inspect_writer (name, me, &ws), -EPROTO);
  unlink (path);

  /* writable by others: anyone could have written the numbers */
  stats_fill (&s, name, me, 1);
  plant (path, &s, sizeof (s), 0666);
  ZBT_ERR (zb_inspect_writer (name, me, &ws), -EPERM);
  unlink (path);

  /* a symlink to a good object, a FIFO, a directory */
  {
    char target[600];

    snprintf (target, sizeof (target), "%s.target", path);
    plant (target, &s, sizeof (s), 0644);
    ZBT_ASSERT (symlink (target, path) == 0);
    ZBT_ERR (zb_inspect_writer (name, me, &ws), -EPROTO);
    unlink (path);
    unlink (target);
  }
  ZBT_ASSERT (mkfifo (path, 0644) == 0);
  ZBT_ERR (zb_inspect_writer (name, me, &ws), -EPROTO);
  unlink (path);

  /* the writer process is gone */
  {
    uint64_t dead = dead_pid ();

    stats_path (path, sizeof (path), name, dead);
    stats_fill (&s, name, dead, 1);
    plant (path, &s, sizeof (s), 0644);
    ZBT_ERR (zb_inspect_writer (name, dead, &ws), -ESRCH);
    unlink (path);
  }

  /* another user's object for our writer (needs root) */
  if (geteuid () == 0) {
    stats_path (path, sizeof (path), name, me);
    stats_fill (&s, name, me, 1);
    plant (path, &s, sizeof (s), 0644);
    ZBT_ASSERT (chown (path, 65534, 65534) == 0);
    ZBT_ERR (zb_inspect_writer (name, me, &ws), -EPERM);
    unlink (path);
  } else {
    zbt_diag ("other owner not checked: needs root");
  }
}

/* In a private /dev/shm: another process's sweep (any reader created on
 * the machine runs one) must not remove a dead writer's object before we
 * looked at it. */
static void
test_hostile (void)
{
  zbt_with_tiny_shm ("16m", hostile_body, NULL);
}

typedef struct
{
  const char *name;
  volatile int *ready;
} writer_job;

/* Connect, count 5 drops, say so, and wait to be killed. */
static void
drop_then_wait (void *arg)
{
  writer_job *j = arg;
  zb_writer *w = zbt_writer (j->name, 100);

  zb_writer_add_drops (w, 5);
  *j->ready = 1;
  for (;;)
    pause ();
}

static pid_t
start_writer (const char *name)
{
  volatile int *ready = zbt_shared (sizeof (int));
  writer_job j = { name, ready };
  pid_t pid = zbt_fork (drop_then_wait, &j);
  int64_t end = zbt_now_ms () + 5000;

  while (!*ready && zbt_now_ms () < end)
    zbt_sleep_ms (1);
  ZBT_ASSERT (*ready);
  return pid;
}

/* A writer of @name (a reader exists) that counted 5 drops, killed with
 * SIGKILL and reaped; its statistics object, left behind, in @path. */
static pid_t
killed_writer (const char *name, char *path, size_t size)
{
  pid_t pid = start_writer (name);
  zb_writer_stats ws;

  ZBT_OK (zb_inspect_writer (name, (uint64_t) pid, &ws));
  ZBT_EQU (ws.drops, 5);
  stats_path (path, size, name, (uint64_t) pid);
  kill (pid, SIGKILL);
  waitpid (pid, NULL, 0);
  ZBT_ASSERT (zbt_path_exists (path));
  return pid;
}

/* kill -9 of a writer: its reader removes the object once it sees the
 * writer dead; a writer that takes over its slot does; with the reader
 * gone too, zb_cleanup_writer_objects() or any reader created later. */
static void
killed_writer_body (void *arg)
{
  const char *name = zbt_name ();
  zb_reader *r = zbt_reader (name, 0, 64 * 1024);
  zb_writer *w;
  zb_writer_stats ws;
  zb_frame f;
  char path[512];
  pid_t pid;

  pid = killed_writer (name, path, sizeof (path));
  ZBT_ERR (zb_inspect_writer (name, (uint64_t) pid, &ws), -ESRCH);
  ZBT_ERR (zb_reader_read (r, 1000, &f), -EOWNERDEAD);
  ZBT_ASSERT (!zbt_path_exists (path));
  zb_reader_destroy (r);

  /* replaced by a new writer before its reader noticed */
  r = zbt_reader (name, 0, 64 * 1024);
  killed_writer (name, path, sizeof (path));
  w = zbt_writer (name, 100);
  ZBT_ASSERT (!zbt_path_exists (path));
  zb_writer_disconnect (w);
  zb_reader_destroy (r);

  /* the reader gone before it noticed: the sweep */
  r = zbt_reader (name, 0, 64 * 1024);
  killed_writer (name, path, sizeof (path));
  zb_reader_destroy (r);
  ZBT_ASSERT (zbt_path_exists (path));
  ZBT_ASSERT (zb_cleanup_writer_objects () >= 1);
  ZBT_ASSERT (!zbt_path_exists (path));

  /* ... or the next reader of any other name */
  r = zbt_reader (name, 0, 64 * 1024);
  killed_writer (name, path, sizeof (path));
  zb_reader_destroy (r);
  ZBT_ASSERT (zbt_path_exists (path));
  r = zbt_reader (zbt_name (), 0, 64 * 1024);
  ZBT_ASSERT (!zbt_path_exists (path));
  zb_reader_destroy (r);
}

static void
test_killed_writer (void)
{
  zbt_with_tiny_shm ("16m", killed_writer_body, NULL);
}

/* The sweep removes only what is ours, named so, of a dead pid and not
 * locked, and never a buffer. */
static void
test_sweep_only_dead (void)
{
  const char *name = zbt_name ();
  uint64_t dead = dead_pid ();
  zb_reader *r = zbt_reader (name, 0, 64 * 1024);
  char live[512], pool[512], pool_other[512], locked[512], odd[512],
      buf_name[256], sem[512];
  pid_t pid;
  int fd;

  /* a live writer's object */
  pid = start_writer (name);
  stats_path (live, sizeof (live), name, (uint64_t) pid);
  /* a dead writer's pool segment: removed */
  snprintf (pool, sizeof (pool), ZBT_SHM_DIR "/zbpool-%s-%" PRIu64 "-0",
      name, dead);
  plant (pool, "x", 1, 0600);
  /* the same of another user: kept */
  snprintf (pool_other, sizeof (pool_other), ZBT_SHM_DIR
      "/zbpool-%s-%" PRIu64 "-1", name, dead);
  plant (pool_other, "x", 1, 0600);
  if (geteuid () == 0)
    ZBT_ASSERT (chown (pool_other, 65534, 65534) == 0);
  /* a dead pid whose object someone holds locked (a writer in another
   * PID namespace, where its pid means nothing to us): kept */
  stats_path (locked, sizeof (locked), name, dead);
  plant (locked, "x", 1, 0600);
  fd = open (locked, O_RDONLY);
  ZBT_ASSERT (fd >= 0 && flock (fd, LOCK_SH) == 0);
  /* a buffer that happens to be named like a pool segment: kept */
  snprintf (buf_name, sizeof (buf_name), "zbpool-%s-%" PRIu64 "-7", name, dead);
  snprintf (odd, sizeof (odd), ZBT_SHM_DIR "/%s", buf_name);
  plant (odd, "x", 1, 0600);
  snprintf (sem, sizeof (sem), ZBT_SHM_DIR "/sem.sem-w-%s", buf_name);
  plant (sem, "x", 1, 0600);

  ZBT_ASSERT (zb_cleanup_writer_objects () >= 1);
  ZBT_ASSERT (!zbt_path_exists (pool));
  ZBT_ASSERT (zbt_path_exists (live));
  ZBT_ASSERT (zbt_path_exists (locked));
  ZBT_ASSERT (zbt_path_exists (odd));
  if (geteuid () == 0)
    ZBT_ASSERT (zbt_path_exists (pool_other));
  else
    zbt_diag ("another user's object not checked: needs root");

  /* unlocked, it goes */
  close (fd);
  ZBT_ASSERT (zb_cleanup_writer_objects () >= 1);
  ZBT_ASSERT (!zbt_path_exists (locked));
  ZBT_ASSERT (zbt_path_exists (live));

  unlink (pool_other);
  unlink (odd);
  unlink (sem);
  kill (pid, SIGKILL);
  waitpid (pid, NULL, 0);
  zb_reader_destroy (r);
  zb_cleanup_writer_objects ();
  ZBT_ASSERT (!zbt_path_exists (live));
}

/* A stale object of our own pid under our name (a dead process that had
 * our pid): replaced at connect. One of another user: left alone, and
 * nothing is published. */
static void
test_stale_own_name (void)
{
  const char *name = zbt_name ();
  uint64_t me = (uint64_t) getpid ();
  zb_reader *r = zbt_reader (name, 0, 64 * 1024);
  zb_writer_stats ws;
  zb_stats_shm s;
  zb_writer *w;
  char path[512];

  stats_path (path, sizeof (path), name, me);
  stats_fill (&s, name, me, 99);
  plant (path, &s, sizeof (s), 0600);
  w = zbt_writer (name, 100);
  ZBT_OK (zb_inspect_writer (name, me, &ws));
  ZBT_EQU (ws.drops, 0);
  zb_writer_disconnect (w);
  ZBT_ASSERT (!zbt_path_exists (path));

  if (geteuid () == 0) {
    plant (path, &s, sizeof (s), 0644);
    ZBT_ASSERT (chown (path, 65534, 65534) == 0);
    /* root may remove anything: act as a user would not */
    w = zbt_writer (name, 100);
    zb_writer_add_drops (w, 1);
    ZBT_EQU (zb_writer_drops (w), 1);
    ZBT_ERR (zb_inspect_writer (name, me, &ws), -EPERM);
    zb_writer_disconnect (w);
    unlink (path);
  }
  zb_reader_destroy (r);
}

int
main (int argc, char **argv)
{
  static const zbt_case cases[] = {
    {"stats published, counted, withdrawn", test_published, 20},
    {"reference writer publishes none", test_reference_writer_none, 20},
    {"hostile stats objects refused", test_hostile, 20},
    {"killed writer's stats swept", test_killed_writer, 30},
    {"sweep removes only dead writers' objects", test_sweep_only_dead, 30},
    {"stale object under our own name", test_stale_own_name, 20},
  };

  return zbt_main (cases, sizeof (cases) / sizeof (cases[0]), argc, argv);
}
