/* zbtest - a tiny TAP harness for the libzerobuffer tests
 *
 * Every case runs in its own forked child (its own process group) bounded
 * by alarm(); the harness prints "ok N - NAME" or "not ok N - NAME" and
 * exits non-zero when any case failed. After every case it kills what is
 * left of the case's process group, reaps it, and fails the case when an
 * object whose name starts with this program's prefix ("zbt-<pid>-")
 * remains in /dev/shm or /tmp/zerobuffer; leftovers are removed either way.
 *
 * Run one program with a substring argument to run only the matching cases:
 *   ./test-basic 4.4
 *
 * No GLib, no GStreamer: only libc and libzerobuffer.
 */

#ifndef ZBTEST_H
#define ZBTEST_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <poll.h>
#include <pwd.h>
#include <semaphore.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <sched.h>
#include <sys/mount.h>
#include <time.h>
#include <unistd.h>

#include "zerobuffer/zerobuffer.h"
#if __has_include("zb-private.h")
#include "zb-private.h"           /* the wire layout, to check ours */
#define ZBT_HAVE_PRIVATE_LAYOUT 1
#endif

typedef struct
{
  const char *name;             /* contains the scenario id, e.g. "4.4" */
  void (*fn) (void);
  int timeout_s;                /* alarm() bound of the case */
} zbt_case;

#define ZBT_SKIP_CODE 77
#define ZBT_SHM_DIR "/dev/shm"
#define ZBT_LOCK_DIR "/tmp/zerobuffer"

static char zbt_prefix[64];     /* "zbt-<harness pid>-" */
static unsigned int zbt_counter;
static const char *zbt_case_name = "";

static inline void zbt_diag (const char *fmt, ...)
    __attribute__ ((format (printf, 1, 2)));
static inline void zbt_fail_at (const char *file, int line, const char *fmt,
    ...) __attribute__ ((format (printf, 3, 4), noreturn));

/* A "# ..." line: TAP comment, one write so that processes do not mix. */
static inline void
zbt_diag (const char *fmt, ...)
{
  char buf[1024];
  va_list ap;
  int n;

  n = snprintf (buf, sizeof buf, "# ");
  va_start (ap, fmt);
  vsnprintf (buf + n, sizeof buf - n - 1, fmt, ap);
  va_end (ap);
  n = strlen (buf);
  buf[n++] = '\n';
  fflush (stdout);
  if (write (STDOUT_FILENO, buf, n) < 0) {
    /* nothing sensible to do */
  }
}

static inline void
zbt_fail_at (const char *file, int line, const char *fmt, ...)
{
  char buf[800];
  va_list ap;

  va_start (ap, fmt);
  vsnprintf (buf, sizeof buf, fmt, ap);
  va_end (ap);
  zbt_diag ("[%s] pid %d %s:%d: %s", zbt_case_name, (int) getpid (), file,
      line, buf);
  _exit (1);
}

#define ZBT_FAIL(...) zbt_fail_at (__FILE__, __LINE__, __VA_ARGS__)

#define ZBT_ASSERT(cond) do {                                          \
    if (!(cond))                                                       \
      zbt_fail_at (__FILE__, __LINE__, "assertion failed: %s", #cond); \
  } while (0)

/* Signed comparison (errors, sizes that fit). */
#define ZBT_EQ(a, b) do {                                              \
    long long zbt__a = (long long) (a), zbt__b = (long long) (b);      \
    if (zbt__a != zbt__b)                                              \
      zbt_fail_at (__FILE__, __LINE__, "%s == %s: got %lld, want %lld", \
          #a, #b, zbt__a, zbt__b);                                     \
  } while (0)

/* Unsigned 64-bit comparison (OIEB fields). */
#define ZBT_EQU(a, b) do {                                             \
    unsigned long long zbt__a = (unsigned long long) (a);              \
    unsigned long long zbt__b = (unsigned long long) (b);              \
    if (zbt__a != zbt__b)                                              \
      zbt_fail_at (__FILE__, __LINE__, "%s == %s: got %llu, want %llu", \
          #a, #b, zbt__a, zbt__b);                                     \
  } while (0)

/* A library call that must return 0. */
#define ZBT_OK(expr) do {                                              \
    int zbt__r = (expr);                                               \
    if (zbt__r != 0)                                                   \
      zbt_fail_at (__FILE__, __LINE__, "%s: got %d (%s), want 0",      \
          #expr, zbt__r, zb_strerror (zbt__r));                        \
  } while (0)

/* A library call that must return the negative errno @err. */
#define ZBT_ERR(expr, err) do {                                        \
    int zbt__r = (expr);                                               \
    if (zbt__r != (err))                                               \
      zbt_fail_at (__FILE__, __LINE__, "%s: got %d (%s), want %d (%s)", \
          #expr, zbt__r, zb_strerror (zbt__r), (err), zb_strerror (err)); \
  } while (0)

/* End the case as skipped (TAP "# SKIP"), with a reason. */
#define ZBT_SKIP(...) do {                                             \
    zbt_diag ("SKIP " __VA_ARGS__);                                    \
    _exit (ZBT_SKIP_CODE);                                             \
  } while (0)

/* ------------------------------------------------------------------ */
/* Names */

/* A fresh buffer name "zbt-<pid>-<n>"; 16 names live at a time. */
static inline const char *
zbt_name (void)
{
  static char pool[16][128];
  char *s = pool[zbt_counter % 16];

  snprintf (s, 128, "%s%u", zbt_prefix, zbt_counter++);
  return s;
}

/* A fresh name "zbt-<pid>-<n>SUFFIX" in a caller buffer of ZB_NAME_MAX+2. */
static inline void
zbt_name_with (char *out, size_t size, const char *suffix)
{
  snprintf (out, size, "%s%u%s", zbt_prefix, zbt_counter++, suffix);
}

/* ------------------------------------------------------------------ */
/* Time */

static inline int64_t
zbt_now_us (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static inline int64_t
zbt_now_ms (void)
{
  return zbt_now_us () / 1000;
}

static inline void
zbt_sleep_ms (int ms)
{
  struct timespec ts = { ms / 1000, (long) (ms % 1000) * 1000000L };

  while (nanosleep (&ts, &ts) < 0 && errno == EINTR);
}

/* ------------------------------------------------------------------ */
/* Pattern: byte i of the frame with sequence s is (i + s) % 256 */

static uint8_t *zbt_pat;
static size_t zbt_pat_len;

static inline const uint8_t *
zbt_pattern (size_t n, uint64_t seq)
{
  if (zbt_pat_len < n + 256) {
    size_t i, len = n + 256 + 4096;

    free (zbt_pat);
    zbt_pat = malloc (len);
    if (zbt_pat == NULL)
      ZBT_FAIL ("out of memory for a %zu-byte pattern", len);
    for (i = 0; i < len; i++)
      zbt_pat[i] = (uint8_t) (i & 0xff);
    zbt_pat_len = len;
  }
  return zbt_pat + (seq & 0xff);
}

static inline void
zbt_fill (void *data, size_t n, uint64_t seq)
{
  memcpy (data, zbt_pattern (n, seq), n);
}

/* Returns -1 when @data holds the pattern, else the first bad index. */
static inline long
zbt_verify (const void *data, size_t n, uint64_t seq)
{
  const uint8_t *p = data, *want = zbt_pattern (n, seq);
  size_t i;

  if (memcmp (p, want, n) == 0)
    return -1;
  for (i = 0; i < n && p[i] == want[i]; i++);
  return (long) i;
}

#define ZBT_PATTERN(data, n, seq) do {                                 \
    long zbt__i = zbt_verify ((data), (n), (seq));                     \
    if (zbt__i >= 0)                                                   \
      zbt_fail_at (__FILE__, __LINE__, "pattern of seq %llu size %zu " \
          "wrong at byte %ld: 0x%02x, want 0x%02x",                    \
          (unsigned long long) (seq), (size_t) (n), zbt__i,            \
          ((const uint8_t *) (data))[zbt__i],                          \
          (unsigned) (((size_t) zbt__i + (seq)) & 0xff));              \
  } while (0)

/* ------------------------------------------------------------------ */
/* Processes */

/* Run @fn (@arg) in a forked child that exits 0 when @fn returns. */
static inline pid_t
zbt_fork (void (*fn) (void *), void *arg)
{
  pid_t pid;

  fflush (stdout);
  fflush (stderr);
  pid = fork ();
  if (pid < 0)
    ZBT_FAIL ("fork: %s", strerror (errno));
  if (pid == 0) {
    fn (arg);
    _exit (0);
  }
  return pid;
}

/* Wait up to @timeout_ms for @pid. Returns its exit code, 128 + signal when
 * killed, or -1 when it did not end in time (it is then killed). */
static inline int
zbt_wait (pid_t pid, int timeout_ms)
{
  int64_t end = zbt_now_ms () + timeout_ms;
  int st;

  for (;;) {
    pid_t r = waitpid (pid, &st, WNOHANG);

    if (r == pid)
      break;
    if (r < 0 && errno != EINTR)
      ZBT_FAIL ("waitpid %d: %s", (int) pid, strerror (errno));
    if (zbt_now_ms () > end) {
      kill (pid, SIGKILL);
      waitpid (pid, &st, 0);
      return -1;
    }
    zbt_sleep_ms (1);
  }
  if (WIFEXITED (st))
    return WEXITSTATUS (st);
  return 128 + WTERMSIG (st);
}

#define ZBT_WAIT_OK(pid, timeout_ms) do {                              \
    int zbt__st = zbt_wait ((pid), (timeout_ms));                      \
    if (zbt__st != 0)                                                  \
      zbt_fail_at (__FILE__, __LINE__, "child %d ended with %d "       \
          "(-1: hung and killed, >128: signal)", (int) (pid), zbt__st); \
  } while (0)

/* kill -9 and reap, so that kill (pid, 0) fails afterwards. */
static inline void
zbt_kill9 (pid_t pid)
{
  kill (pid, SIGKILL);
  while (waitpid (pid, NULL, 0) < 0 && errno == EINTR);
}

/* One-byte notifications through a pipe. */
static inline void
zbt_pipe (int fds[2])
{
  if (pipe (fds) < 0)
    ZBT_FAIL ("pipe: %s", strerror (errno));
}

static inline void
zbt_signal (int fd, char c)
{
  if (write (fd, &c, 1) != 1)
    ZBT_FAIL ("notify: %s", strerror (errno));
}

/* Returns the byte received, fails the case after @timeout_ms. */
static inline char
zbt_await (int fd, int timeout_ms)
{
  struct pollfd p = { fd, POLLIN, 0 };
  char c;
  int r;

  do
    r = poll (&p, 1, timeout_ms);
  while (r < 0 && errno == EINTR);
  if (r <= 0)
    ZBT_FAIL ("no notification within %d ms", timeout_ms);
  if (read (fd, &c, 1) != 1)
    ZBT_FAIL ("notification pipe closed");
  return c;
}

/* Anonymous memory shared with forked children (results, flags). */
static inline void *
zbt_shared (size_t size)
{
  void *p = mmap (NULL, size, PROT_READ | PROT_WRITE,
      MAP_SHARED | MAP_ANONYMOUS, -1, 0);

  if (p == MAP_FAILED)
    ZBT_FAIL ("mmap: %s", strerror (errno));
  return p;
}

/* CPU time (user + system) of this process, in microseconds. */
static inline int64_t
zbt_cpu_us (void)
{
  struct rusage ru;

  getrusage (RUSAGE_SELF, &ru);
  return (int64_t) (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000 +
      ru.ru_utime.tv_usec + ru.ru_stime.tv_usec;
}

/* ------------------------------------------------------------------ */
/* OS objects of a buffer */

static inline int
zbt_path_exists (const char *path)
{
  struct stat st;

  return lstat (path, &st) == 0;
}

static inline void
zbt_shm_path (char *out, size_t size, const char *name)
{
  snprintf (out, size, ZBT_SHM_DIR "/%s", name);
}

static inline void
zbt_sem_path (char *out, size_t size, char kind, const char *name)
{
  snprintf (out, size, ZBT_SHM_DIR "/sem.sem-%c-%s", kind, name);
}

static inline void
zbt_lock_path (char *out, size_t size, const char *name)
{
  snprintf (out, size, ZBT_LOCK_DIR "/%s.lock", name);
}

/* Bit 0: shm, 1: sem-w, 2: sem-r, 3: lock file. */
static inline int
zbt_objects (const char *name)
{
  char p[1024];
  int mask = 0;

  zbt_shm_path (p, sizeof p, name);
  mask |= zbt_path_exists (p) ? 1 : 0;
  zbt_sem_path (p, sizeof p, 'w', name);
  mask |= zbt_path_exists (p) ? 2 : 0;
  zbt_sem_path (p, sizeof p, 'r', name);
  mask |= zbt_path_exists (p) ? 4 : 0;
  zbt_lock_path (p, sizeof p, name);
  mask |= zbt_path_exists (p) ? 8 : 0;
  return mask;
}

/* Current value of semaphore sem-KIND-NAME. */
static inline int
zbt_sem_value (const char *name, char kind)
{
  char sn[512];
  sem_t *s;
  int v = -1;

  snprintf (sn, sizeof sn, "/sem-%c-%s", kind, name);
  s = sem_open (sn, 0);
  if (s == SEM_FAILED)
    ZBT_FAIL ("sem_open %s: %s", sn, strerror (errno));
  sem_getvalue (s, &v);
  sem_close (s);
  return v;
}

static inline void
zbt_sem_post (const char *name, char kind)
{
  char sn[512];
  sem_t *s;

  snprintf (sn, sizeof sn, "/sem-%c-%s", kind, name);
  s = sem_open (sn, 0);
  if (s == SEM_FAILED)
    ZBT_FAIL ("sem_open %s: %s", sn, strerror (errno));
  sem_post (s);
  sem_close (s);
}

/* Map /dev/shm/NAME read/write, as a hostile or foreign peer would. */
static inline uint8_t *
zbt_map (const char *name, size_t *size)
{
  char p[512];
  struct stat st;
  void *m;
  int fd;

  zbt_shm_path (p, sizeof p, name);
  fd = open (p, O_RDWR);
  if (fd < 0)
    ZBT_FAIL ("open %s: %s", p, strerror (errno));
  if (fstat (fd, &st) < 0)
    ZBT_FAIL ("fstat %s: %s", p, strerror (errno));
  m = mmap (NULL, st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close (fd);
  if (m == MAP_FAILED)
    ZBT_FAIL ("mmap %s: %s", p, strerror (errno));
  *size = st.st_size;
  return m;
}

/* OIEB field access through a raw mapping (offsets of the wire layout). */
#define ZBT_OIEB_SIZE          0x00
#define ZBT_OIEB_VERSION       0x04
#define ZBT_OIEB_MD_SIZE       0x08
#define ZBT_OIEB_MD_FREE       0x10
#define ZBT_OIEB_MD_WRITTEN    0x18
#define ZBT_OIEB_P_SIZE        0x20
#define ZBT_OIEB_P_FREE        0x28
#define ZBT_OIEB_WRITE_POS     0x30
#define ZBT_OIEB_READ_POS      0x38
#define ZBT_OIEB_WRITTEN_COUNT 0x40
#define ZBT_OIEB_READ_COUNT    0x48
#define ZBT_OIEB_WRITER_PID    0x50
#define ZBT_OIEB_READER_PID    0x58

#ifdef ZBT_HAVE_PRIVATE_LAYOUT
_Static_assert (offsetof (zb_oieb, metadata_size) == ZBT_OIEB_MD_SIZE, "");
_Static_assert (offsetof (zb_oieb, metadata_free_bytes) == ZBT_OIEB_MD_FREE,
    "");
_Static_assert (offsetof (zb_oieb, metadata_written_bytes) ==
    ZBT_OIEB_MD_WRITTEN, "");
_Static_assert (offsetof (zb_oieb, payload_size) == ZBT_OIEB_P_SIZE, "");
_Static_assert (offsetof (zb_oieb, payload_free_bytes) == ZBT_OIEB_P_FREE, "");
_Static_assert (offsetof (zb_oieb, payload_write_pos) == ZBT_OIEB_WRITE_POS,
    "");
_Static_assert (offsetof (zb_oieb, payload_read_pos) == ZBT_OIEB_READ_POS, "");
_Static_assert (offsetof (zb_oieb, payload_written_count) ==
    ZBT_OIEB_WRITTEN_COUNT, "");
_Static_assert (offsetof (zb_oieb, payload_read_count) == ZBT_OIEB_READ_COUNT,
    "");
_Static_assert (offsetof (zb_oieb, writer_pid) == ZBT_OIEB_WRITER_PID, "");
_Static_assert (offsetof (zb_oieb, reader_pid) == ZBT_OIEB_READER_PID, "");
#endif

static inline uint64_t
zbt_get64 (const uint8_t *base, size_t off)
{
  uint64_t v;

  memcpy (&v, base + off, 8);
  return v;
}

static inline void
zbt_put64 (uint8_t *base, size_t off, uint64_t v)
{
  memcpy (base + off, &v, 8);
  __atomic_thread_fence (__ATOMIC_SEQ_CST);
}

/* ------------------------------------------------------------------ */
/* Library shortcuts that fail the case on error */

static inline zb_reader *
zbt_reader (const char *name, size_t metadata_size, size_t payload_size)
{
  zb_reader_config cfg = { metadata_size, payload_size, 0 };
  zb_reader *r = NULL;

  ZBT_OK (zb_reader_create (name, &cfg, &r));
  ZBT_ASSERT (r != NULL);
  return r;
}

static inline zb_writer *
zbt_writer (const char *name, int write_timeout_ms)
{
  zb_writer_config cfg = { 0, write_timeout_ms };
  zb_writer *w = NULL;

  ZBT_OK (zb_writer_connect (name, &cfg, &w));
  ZBT_ASSERT (w != NULL);
  return w;
}

/* Write a pattern frame of @size bytes with the pattern of @seq. */
static inline int
zbt_write (zb_writer * w, size_t size, uint64_t seq)
{
  static uint8_t *buf;
  static size_t cap;

  if (cap < size) {
    free (buf);
    buf = malloc (size);
    if (buf == NULL)
      ZBT_FAIL ("out of memory");
    cap = size;
  }
  zbt_fill (buf, size, seq);
  return zb_writer_write (w, buf, size);
}

/* Read one frame and check its sequence, size and pattern; keep it. */
static inline void
zbt_read_check (zb_reader * r, int timeout_ms, uint64_t seq, size_t size,
    zb_frame * f)
{
  ZBT_OK (zb_reader_read (r, timeout_ms, f));
  ZBT_EQU (f->sequence, seq);
  ZBT_EQU (f->size, size);
  ZBT_PATTERN (f->data, f->size, seq);
}

/* Read, check and release one frame. */
static inline void
zbt_read_release (zb_reader * r, int timeout_ms, uint64_t seq, size_t size)
{
  zb_frame f;

  zbt_read_check (r, timeout_ms, seq, size, &f);
  ZBT_OK (zb_reader_release (r, &f));
}

static inline zb_status
zbt_status (zb_reader * r)
{
  zb_status st;

  ZBT_OK (zb_reader_get_status (r, &st));
  return st;
}

#include "zbtest-peers.h"

/* ------------------------------------------------------------------ */
/* Leak check and the runner */

/* Report (and remove) every object of this program in /dev/shm and
 * /tmp/zerobuffer. Returns how many there were. */
static inline int
zbt_leaks (int remove_them)
{
  const char *dirs[2] = { ZBT_SHM_DIR, ZBT_LOCK_DIR };
  int i, n = 0;

  for (i = 0; i < 2; i++) {
    DIR *d = opendir (dirs[i]);
    struct dirent *e;

    if (d == NULL)
      continue;
    while ((e = readdir (d)) != NULL) {
      char p[1024];

      if (strstr (e->d_name, zbt_prefix) == NULL)
        continue;
      snprintf (p, sizeof p, "%s/%s", dirs[i], e->d_name);
      zbt_diag ("left behind: %s", p);
      n++;
      if (remove_them && unlink (p) < 0 && errno == EISDIR)
        rmdir (p);
      if (remove_them && zbt_path_exists (p))
        rmdir (p);
    }
    closedir (d);
  }
  return n;
}

static inline void
zbt_reap_all (void)
{
  int64_t end = zbt_now_ms () + 5000;

  while (zbt_now_ms () < end) {
    pid_t r = waitpid (-1, NULL, WNOHANG);

    if (r < 0 && errno == ECHILD)
      return;
    if (r <= 0)
      zbt_sleep_ms (2);
  }
}

static inline int
zbt_main (const zbt_case * cases, size_t n, int argc, char **argv)
{
  size_t i, selected = 0, num = 0;
  int failed = 0;

  setvbuf (stdout, NULL, _IOLBF, 0);
  signal (SIGPIPE, SIG_IGN);
  /* Orphaned grandchildren come back to us, so they can be reaped. */
  prctl (PR_SET_CHILD_SUBREAPER, 1);
  snprintf (zbt_prefix, sizeof zbt_prefix, "zbt-%d-", (int) getpid ());

  for (i = 0; i < n; i++)
    if (argc < 2 || strstr (cases[i].name, argv[1]) != NULL)
      selected++;
  printf ("1..%zu\n", selected);

  for (i = 0; i < n; i++) {
    const zbt_case *c = &cases[i];
    int64_t t0;
    pid_t pid;
    int st, leaks;
    char why[128] = "";

    if (argc >= 2 && strstr (c->name, argv[1]) == NULL)
      continue;
    num++;
    fflush (stdout);
    t0 = zbt_now_ms ();
    pid = fork ();
    if (pid < 0) {
      perror ("fork");
      return 2;
    }
    if (pid == 0) {
      setpgid (0, 0);
      zbt_counter = (unsigned int) (i * 1000);
      zbt_case_name = c->name;
      alarm (c->timeout_s > 0 ? c->timeout_s : 30);
      c->fn ();
      fflush (stdout);
      _exit (0);
    }
    setpgid (pid, pid);
    while (waitpid (pid, &st, 0) < 0 && errno == EINTR);
    /* Whatever the case forked and left running dies now. */
    kill (-pid, SIGKILL);
    zbt_reap_all ();
    /* The side objects of writers killed here (their statistics, see
     * docs/protocol.md) are removed by the next user of any buffer, as
     * here. That a writer removes its own when it leaves is checked by
     * test-writerstats.c. */
    zb_cleanup_writer_objects ();
    leaks = zbt_leaks (1);

    if (WIFEXITED (st) && WEXITSTATUS (st) == ZBT_SKIP_CODE) {
      printf ("ok %zu - %s # SKIP\n", num, c->name);
      continue;
    }
    if (WIFSIGNALED (st) && WTERMSIG (st) == SIGALRM)
      snprintf (why, sizeof why, " # timed out after %d s", c->timeout_s);
    else if (WIFSIGNALED (st))
      snprintf (why, sizeof why, " # killed by signal %d", WTERMSIG (st));
    else if (WEXITSTATUS (st) != 0)
      snprintf (why, sizeof why, " # failed");
    else if (leaks > 0)
      snprintf (why, sizeof why, " # left %d objects behind", leaks);
    if (why[0] != '\0')
      failed++;
    printf ("%sok %zu - %s%s\n", why[0] ? "not " : "", num, c->name, why);
    zbt_diag ("%s: %.3f s", c->name, (zbt_now_ms () - t0) / 1000.0);
  }
  free (zbt_pat);
  return failed ? 1 : 0;
}

/* Kill a duplex server process and remove what it leaves: the stale
 * request buffer of channel @name (unless another reader's stale cleanup
 * was quicker). */
static inline void
zbt_kill_duplex_server (pid_t pid, const char *name)
{
  char request[ZB_NAME_MAX + 1];
  int ret;

  zbt_kill9 (pid);
  snprintf (request, sizeof request, "%s_request", name);
  ret = zb_cleanup (request);
  if (ret != -ENOENT)
    ZBT_OK (ret);
}

#endif /* ZBTEST_H */
