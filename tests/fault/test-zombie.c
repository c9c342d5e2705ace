/* Dead peers that stay zombies, and fork()ed children of a peer
 *
 * A process killed with SIGKILL stays a zombie until its parent reaps it;
 * kill (pid, 0) still succeeds on a zombie. Peers started from a shell
 * script are orphans whose new parent (init, or a container's PID 1, or a
 * subreaper) may reap late or never. Each case here is a child subreaper
 * that does not reap: its peers are orphans (double fork) reparented to
 * it, and a killed peer stays a zombie for the rest of the case. Checked:
 * the survivor notices the death within its usual bound, and a replacement
 * connects at once. Then the same for a peer that fork()ed a child which
 * lives on after the peer died: the child must not keep the peer's locks.
 *
 * With --no-pidfd, pidfd_open() fails with ENOSYS, as under a container
 * runtime that filters it: the writer checks its reader through
 * /proc/PID/stat instead (lib/os.c zb_peer_alive()).
 */

#include "zbtest.h"

#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#define FRAME 1000
#define NOTICE_LIMIT_MS 500     /* a read or write slice is 50 ms */

typedef struct
{
  pid_t peer;                   /* the orphan's pid */
  pid_t forked;                 /* its own child, when it makes one */
  int stop;
} orphan_state;

static orphan_state *state;
static const char *buffer_name;

/* Run @fn in an orphan: a child that forks @fn and exits at once, so that
 * @fn's process is reparented to us (a subreaper). Returns its pid. */
static pid_t
spawn_orphan (void (*fn) (void *))
{
  pid_t mid, pid;
  int fds[2];

  zbt_pipe (fds);
  fflush (stdout);
  mid = fork ();
  if (mid < 0)
    ZBT_FAIL ("fork: %s", strerror (errno));
  if (mid == 0) {
    pid = fork ();
    if (pid == 0) {
      close (fds[0]);
      fn (NULL);
      _exit (0);
    }
    if (write (fds[1], &pid, sizeof pid) != sizeof pid)
      _exit (1);
    _exit (0);
  }
  close (fds[1]);
  ZBT_WAIT_OK (mid, 2000);
  if (read (fds[0], &pid, sizeof pid) != sizeof pid)
    ZBT_FAIL ("no pid from the orphan's parent");
  close (fds[0]);
  return pid;
}

/* Is @pid a zombie right now? */
static int
is_zombie (pid_t pid)
{
  char path[64], buf[512];
  const char *paren;
  ssize_t n;
  int fd;

  snprintf (path, sizeof path, "/proc/%d/stat", (int) pid);
  fd = open (path, O_RDONLY);
  if (fd < 0)
    return 0;
  n = read (fd, buf, sizeof buf - 1);
  close (fd);
  if (n <= 0)
    return 0;
  buf[n] = '\0';
  paren = strrchr (buf, ')');
  return paren != NULL && paren[2] == 'Z';
}

static void
kill_to_zombie (pid_t pid)
{
  int64_t end = zbt_now_ms () + 2000;

  kill (pid, SIGKILL);
  while (!is_zombie (pid)) {
    if (zbt_now_ms () > end)
      ZBT_FAIL ("pid %d did not become a zombie", (int) pid);
    zbt_sleep_ms (1);
  }
}

static void
become_subreaper (void)
{
  if (prctl (PR_SET_CHILD_SUBREAPER, 1) < 0)
    ZBT_FAIL ("PR_SET_CHILD_SUBREAPER: %s", strerror (errno));
}

/* ------------------------------------------------------------------ */
/* Peers */

static void
writer_loop (zb_writer * w)
{
  uint64_t k;

  for (k = 1; !state->stop; k++) {
    int ret = zbt_write (w, FRAME, k);

    if (ret == -EPIPE || ret == -EOWNERDEAD)
      break;
    ZBT_OK (ret);
    zbt_sleep_ms (2);
  }
  zb_writer_disconnect (w);
}

static void
orphan_writer (void *arg)
{
  zb_writer_config cfg = { 3000, 1000 };
  zb_writer *w = NULL;

  (void) arg;
  ZBT_OK (zb_writer_connect (buffer_name, &cfg, &w));
  writer_loop (w);
}

/* A writer that forks a child which sleeps on, then keeps writing. */
static void
forking_writer (void *arg)
{
  zb_writer_config cfg = { 3000, 1000 };
  zb_writer *w = NULL;
  pid_t child;

  (void) arg;
  ZBT_OK (zb_writer_connect (buffer_name, &cfg, &w));
  child = fork ();
  if (child == 0) {
    zbt_sleep_ms (30000);
    _exit (0);
  }
  state->forked = child;
  writer_loop (w);
}

static void
reader_loop (zb_reader * r)
{
  while (!state->stop) {
    zb_frame f;
    int ret = zb_reader_read (r, 100, &f);

    if (ret == -ETIMEDOUT || ret == -EPIPE || ret == -EOWNERDEAD)
      continue;
    ZBT_OK (ret);
    ZBT_PATTERN (f.data, f.size, f.sequence);
    ZBT_OK (zb_reader_release (r, &f));
  }
  zb_reader_destroy (r);
}

static void
orphan_reader (void *arg)
{
  (void) arg;
  reader_loop (zbt_reader (buffer_name, 256, 64 * 1024));
}

static void
forking_reader (void *arg)
{
  zb_reader *r = zbt_reader (buffer_name, 256, 64 * 1024);
  pid_t child;

  (void) arg;
  child = fork ();
  if (child == 0) {
    zbt_sleep_ms (30000);
    _exit (0);
  }
  state->forked = child;
  reader_loop (r);
}

/* ------------------------------------------------------------------ */
/* The survivor is the reader */

/* Read until the writer's death is reported; returns ms from @t0. */
static int64_t
read_until_dead (zb_reader * r, int64_t t0)
{
  for (;;) {
    zb_frame f;
    int ret = zb_reader_read (r, 100, &f);

    if (ret == -EOWNERDEAD)
      return zbt_now_ms () - t0;
    if (ret == -ETIMEDOUT) {
      if (zbt_now_ms () - t0 > 5000)
        ZBT_FAIL ("the writer's death was not reported within 5 s");
      continue;
    }
    ZBT_OK (ret);
    ZBT_PATTERN (f.data, f.size, f.sequence);
    ZBT_OK (zb_reader_release (r, &f));
  }
}

/* Reads frames of a new writer: the first one within @limit_ms. */
static void
read_new_writer (zb_reader * r, int limit_ms)
{
  int64_t t0 = zbt_now_ms ();
  zb_frame f;
  int ret;

  do
    ret = zb_reader_read (r, limit_ms, &f);
  while (ret == -EPIPE || ret == -EOWNERDEAD);
  ZBT_OK (ret);
  ZBT_EQU (f.sequence, 1);
  ZBT_ASSERT (f.flags & ZB_FRAME_NEW_WRITER);
  ZBT_PATTERN (f.data, f.size, f.sequence);
  ZBT_OK (zb_reader_release (r, &f));
  if (zbt_now_ms () - t0 > limit_ms)
    ZBT_FAIL ("the new writer's first frame came after %lld ms",
        (long long) (zbt_now_ms () - t0));
}

static void
check_writer_killed (void (*victim) (void *))
{
  zb_reader *r;
  zb_frame f;
  pid_t w;
  int64_t t0, took;

  become_subreaper ();
  state = zbt_shared (sizeof *state);
  buffer_name = zbt_name ();
  r = zbt_reader (buffer_name, 256, 64 * 1024);
  w = spawn_orphan (victim);
  ZBT_OK (zb_reader_read (r, 3000, &f));
  ZBT_OK (zb_reader_release (r, &f));
  if (victim == forking_writer) {
    while (state->forked == 0)
      zbt_sleep_ms (1);
  }

  kill_to_zombie (w);
  t0 = zbt_now_ms ();
  took = read_until_dead (r, t0);
  zbt_diag ("writer death reported after %lld ms (zombie: %d)",
      (long long) took, is_zombie (w));
  ZBT_ASSERT (is_zombie (w));
  if (took > NOTICE_LIMIT_MS)
    ZBT_FAIL ("the death was reported after %lld ms", (long long) took);

  /* A replacement connects at once, without waiting for anything. */
  {
    zb_writer *w2 = NULL;

    ZBT_OK (zb_writer_connect (buffer_name, NULL, &w2));
    ZBT_OK (zbt_write (w2, FRAME, 1));
    read_new_writer (r, 1000);
    zb_writer_disconnect (w2);
  }
  /* And an orphan replacement streams. */
  spawn_orphan (orphan_writer);
  read_new_writer (r, 1000);
  state->stop = 1;
  zb_reader_destroy (r);
  if (state->forked > 0)
    kill (state->forked, SIGKILL);
}

static void
writer_zombie (void)
{
  check_writer_killed (orphan_writer);
}

static void
writer_fork_child_keeps_no_lock (void)
{
  check_writer_killed (forking_writer);
}

/* ------------------------------------------------------------------ */
/* The survivor is the writer */

static void
check_reader_killed (void (*victim) (void *))
{
  zb_writer_config cfg = { 3000, 1000 };
  zb_writer *w = NULL;
  pid_t r;
  uint64_t k;
  int64_t t0, took;
  int ret;

  become_subreaper ();
  state = zbt_shared (sizeof *state);
  buffer_name = zbt_name ();
  r = spawn_orphan (victim);
  ZBT_OK (zb_writer_connect (buffer_name, &cfg, &w));
  ZBT_OK (zbt_write (w, FRAME, 1));
  if (victim == forking_reader) {
    while (state->forked == 0)
      zbt_sleep_ms (1);
  }

  kill_to_zombie (r);
  t0 = zbt_now_ms ();
  for (k = 2;; k++) {
    ret = zbt_write (w, FRAME, k);
    if (ret == -EOWNERDEAD)
      break;
    ZBT_OK (ret);
    if (zbt_now_ms () - t0 > 5000)
      ZBT_FAIL ("the reader's death was not reported within 5 s");
    zbt_sleep_ms (1);
  }
  took = zbt_now_ms () - t0;
  zbt_diag ("reader death reported after %lld ms", (long long) took);
  ZBT_ASSERT (is_zombie (r));
  if (took > NOTICE_LIMIT_MS)
    ZBT_FAIL ("the death was reported after %lld ms", (long long) took);
  zb_writer_disconnect (w);

  /* A replacement reader creates the buffer at once. */
  {
    zb_reader *r2 = NULL;
    zb_frame f;

    ZBT_OK (zb_reader_create (buffer_name, &(zb_reader_config) {
            256, 64 * 1024, 0}, &r2));
    ZBT_OK (zb_writer_connect (buffer_name, &cfg, &w));
    ZBT_OK (zbt_write (w, FRAME, 1));
    ZBT_OK (zb_reader_read (r2, 1000, &f));
    ZBT_PATTERN (f.data, f.size, f.sequence);
    ZBT_OK (zb_reader_release (r2, &f));
    zb_writer_disconnect (w);
    zb_reader_destroy (r2);
  }
  if (state->forked > 0)
    kill (state->forked, SIGKILL);
}

static void
reader_zombie (void)
{
  check_reader_killed (orphan_reader);
}

static void
reader_fork_child_keeps_no_lock (void)
{
  check_reader_killed (forking_reader);
}

static const zbt_case cases[] = {
  {"writer killed, left a zombie: reported, replaced at once", writer_zombie,
      20},
  {"reader killed, left a zombie: reported, replaced at once", reader_zombie,
      20},
  {"writer killed, its fork()ed child lives on: no lock kept",
      writer_fork_child_keeps_no_lock, 20},
  {"reader killed, its fork()ed child lives on: no lock kept",
      reader_fork_child_keeps_no_lock, 20},
};

/* pidfd_open() fails with ENOSYS in this process and its children. */
static void
deny_pidfd (void)
{
#ifdef SYS_pidfd_open
  struct sock_filter filter[] = {
    BPF_STMT (BPF_LD | BPF_W | BPF_ABS, offsetof (struct seccomp_data, nr)),
    BPF_JUMP (BPF_JMP | BPF_JEQ | BPF_K, SYS_pidfd_open, 0, 1),
    BPF_STMT (BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
    BPF_STMT (BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  struct sock_fprog prog = { sizeof filter / sizeof filter[0], filter };

  if (prctl (PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0
      || prctl (PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0)
    ZBT_FAIL ("seccomp: %s", strerror (errno));
  if (syscall (SYS_pidfd_open, getpid (), 0) >= 0 || errno != ENOSYS)
    ZBT_FAIL ("pidfd_open still works");
#endif
}

int
main (int argc, char **argv)
{
  if (argc >= 2 && strcmp (argv[1], "--no-pidfd") == 0) {
    deny_pidfd ();
    argv[1] = argv[0];
    argc--;
    argv++;
  }
  return zbt_main (cases, sizeof cases / sizeof cases[0], argc, argv);
}
