/* libzerobuffer - names, lock files, liveness, clocks and segment mapping */

#include "zb-private.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

uint64_t
zb_align64 (uint64_t v)
{
  return (v + (ZB_ALIGN - 1)) & ~(uint64_t) (ZB_ALIGN - 1);
}

int
zb_name_check (const char *name)
{
  size_t len;

  if (name == NULL)
    return -EINVAL;
  len = strnlen (name, ZB_NAME_MAX + 1);
  if (len == 0)
    return -EINVAL;
  if (len > ZB_NAME_MAX)
    return -ENAMETOOLONG;
  if (strchr (name, '/') != NULL)
    return -EINVAL;
  if (strcmp (name, ".") == 0 || strcmp (name, "..") == 0)
    return -EINVAL;
  /* /dev/shm/sem.* are the files of POSIX semaphores, ours among them:
   * buffer "sem.sem-w-foo" would be buffer foo's semaphore. Our other
   * names (NAME, sem.sem-X-NAME, NAME.lock) are one-to-one. */
  if (strncmp (name, "sem.", 4) == 0)
    return -EINVAL;
  return 0;
}

void
zb_shm_name (char *out, size_t size, const char *name)
{
  snprintf (out, size, "/%s", name);
}

void
zb_sem_name (char *out, size_t size, char kind, const char *name)
{
  snprintf (out, size, "/sem-%c-%s", kind, name);
}

void
zb_lock_path (char *out, size_t size, const char *name)
{
  snprintf (out, size, ZB_LOCK_DIR "/%s.lock", name);
}

/* Does a /proc/PID/stat line say the process has exited? A zombie (state
 * Z) or a task being torn down (X) has released its locks and mappings and
 * will never post again, even though kill(pid, 0) still succeeds until its
 * parent reaps it. */
static int
stat_exited (char *buf, ssize_t n)
{
  const char *paren;

  buf[n] = '\0';
  /* "PID (COMM) S ...": COMM may itself contain ") ". */
  paren = strrchr (buf, ')');
  if (paren == NULL || paren[1] != ' ')
    return 0;
  return paren[2] == 'Z' || paren[2] == 'X' || paren[2] == 'x';
}

static int
open_stat (uint64_t pid)
{
  char path[32];

  snprintf (path, sizeof (path), "/proc/%d/stat", (int) pid);
  return open (path, O_RDONLY | O_CLOEXEC);
}

/* Without a readable /proc the answer is "not known to be dead". */
static int
pid_exited (uint64_t pid)
{
  char buf[512];
  ssize_t n;
  int fd = open_stat (pid);

  if (fd < 0)
    return errno == ENOENT;
  n = read (fd, buf, sizeof (buf) - 1);
  close (fd);
  if (n <= 0)
    return n < 0 && errno == ESRCH;
  return stat_exited (buf, n);
}

/* Liveness of a peer's pid: kill(pid, 0) (EPERM is a process of another
 * user, alive), then /proc for a zombie. */
int
zb_pid_alive (uint64_t pid)
{
  if (pid == 0 || pid > INT32_MAX)
    return 0;
  if (kill ((pid_t) pid, 0) < 0 && errno != EPERM)
    return 0;
  return !pid_exited (pid);
}

static int
open_pidfd (uint64_t pid)
{
#ifdef SYS_pidfd_open
  return (int) syscall (SYS_pidfd_open, (pid_t) pid, 0);
#else
  errno = ENOSYS;
  return -1;
#endif
}

/* zb_pid_alive() for a peer checked often (a writer checks its reader
 * before every frame that comes 1 ms or more after the last check): a
 * descriptor of the process stays open, so a check is one poll() of a
 * pidfd (Linux 5.3; it reads as soon as the process has exited, zombie or
 * not), or else one pread() of /proc/PID/stat (about 2.4 us against
 * 0.35 us on the 2-core test machine). Either names that very process:
 * once it is reaped, a reused pid is not taken for it. */
int
zb_peer_alive (zb_peer * peer, uint64_t pid)
{
  char buf[512];
  ssize_t n;

  if (pid == 0 || pid > INT32_MAX)
    return 0;
  if (peer->fd < 0 || peer->pid != pid) {
    zb_peer_close (peer);
    peer->fd = open_pidfd (pid);
    peer->is_pidfd = peer->fd >= 0;
    if (peer->fd < 0)
      peer->fd = open_stat (pid);
    peer->pid = pid;
    if (peer->fd < 0)
      return zb_pid_alive (pid);
  }
  if (peer->is_pidfd) {
    struct pollfd p = { peer->fd, POLLIN, 0 };
    int ready = poll (&p, 1, 0);

    if (ready >= 0)
      return ready == 0;
    return zb_pid_alive (pid);
  }
  n = pread (peer->fd, buf, sizeof (buf) - 1, 0);
  if (n < 0 && errno == ESRCH)
    return 0;
  if (n <= 0)
    return zb_pid_alive (pid);
  return !stat_exited (buf, n);
}

void
zb_peer_close (zb_peer * peer)
{
  if (peer->fd >= 0)
    close (peer->fd);
  peer->fd = -1;
  peer->is_pidfd = 0;
  peer->pid = 0;
}

/* Descriptors whose flock says "this process is alive" (a reader's lock
 * file, a writer's segment). A child made by fork() shares them and would
 * keep the lock after its parent died: it closes its copies at once. */
static pthread_mutex_t held_locks_mutex = PTHREAD_MUTEX_INITIALIZER;
static zb_held_lock *held_locks;
static pthread_once_t held_locks_once = PTHREAD_ONCE_INIT;

static void
held_locks_prepare (void)
{
  pthread_mutex_lock (&held_locks_mutex);
}

static void
held_locks_parent (void)
{
  pthread_mutex_unlock (&held_locks_mutex);
}

static void
held_locks_child (void)
{
  zb_held_lock *h;

  /* The lock belongs to the open file description, which the parent keeps
   * open: closing our copy leaves the parent's lock alone. */
  for (h = held_locks; h != NULL; h = h->next) {
    if (h->fd >= 0)
      close (h->fd);
    h->fd = -1;
  }
  pthread_mutex_unlock (&held_locks_mutex);
}

static void
held_locks_init (void)
{
  pthread_atfork (held_locks_prepare, held_locks_parent, held_locks_child);
}

void
zb_held_lock_add (zb_held_lock * lock, int fd)
{
  pthread_once (&held_locks_once, held_locks_init);
  pthread_mutex_lock (&held_locks_mutex);
  lock->fd = fd;
  lock->prev = NULL;
  lock->next = held_locks;
  if (held_locks != NULL)
    held_locks->prev = lock;
  held_locks = lock;
  pthread_mutex_unlock (&held_locks_mutex);
}

/* Unregister @lock and close its descriptor (if this process still has
 * it). */
void
zb_held_lock_close (zb_held_lock * lock)
{
  pthread_mutex_lock (&held_locks_mutex);
  if (lock->prev != NULL)
    lock->prev->next = lock->next;
  else if (held_locks == lock)
    held_locks = lock->next;
  if (lock->next != NULL)
    lock->next->prev = lock->prev;
  lock->prev = lock->next = NULL;
  if (lock->fd >= 0)
    close (lock->fd);
  lock->fd = -1;
  pthread_mutex_unlock (&held_locks_mutex);
}

int64_t
zb_now_ms (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Absolute CLOCK_MONOTONIC deadline in ms; -1 waits forever, 0 is now. */
int64_t
zb_deadline (int timeout_ms)
{
  if (timeout_ms < 0)
    return -1;
  return zb_now_ms () + timeout_ms;
}

/* Wait for a token until @deadline_ms (never past one slice). Returns 0 when
 * a token was taken, -ETIMEDOUT when the slice ended. EINTR-safe. */
static inline void
cpu_relax (void)
{
#if defined(__x86_64__) || defined(__i386__)
  __asm__ __volatile__ ("pause");
#elif defined(__aarch64__)
  __asm__ __volatile__ ("yield");
#endif
}

/* A peer on another core usually posts within microseconds: poll for a
 * moment before sleeping, which saves the futex wait here and the futex
 * wake on the other side (two syscalls per frame at high rates). But a
 * reader of a stream that arrives every few hundred microseconds would
 * poll in vain before every frame, taking a core from the writer. So each
 * thread polls only while polling pays: it stops after a poll that found
 * nothing, and starts again once a sleep ended soon (within twice the
 * poll), when polling would have caught the token. */
static __thread int spin_off;

static int64_t
elapsed_ns (const struct timespec *start)
{
  struct timespec now;

  clock_gettime (CLOCK_MONOTONIC, &now);
  return (now.tv_sec - start->tv_sec) * 1000000000L + now.tv_nsec -
      start->tv_nsec;
}

static int
spin_trywait (sem_t * sem)
{
  struct timespec start;
  int i;

  if (spin_off)
    return sem_trywait (sem) == 0;
  clock_gettime (CLOCK_MONOTONIC, &start);
  for (;;) {
    for (i = 0; i < 64; i++) {
      if (sem_trywait (sem) == 0)
        return 1;
      cpu_relax ();
    }
    if (elapsed_ns (&start) > ZB_SPIN_NS) {
      spin_off = 1;
      return 0;
    }
  }
}

int
zb_sem_wait_until (sem_t * sem, int64_t deadline_ms)
{
  int64_t now, until;
  struct timespec ts, slept;

  if (spin_trywait (sem))
    return 0;
  now = zb_now_ms ();
  until = now + ZB_WAIT_SLICE_MS;

  if (deadline_ms >= 0 && deadline_ms < until)
    until = deadline_ms;
  if (until <= now)
    return sem_trywait (sem) == 0 ? 0 : -ETIMEDOUT;
  ts.tv_sec = until / 1000;
  ts.tv_nsec = (until % 1000) * 1000000;
  clock_gettime (CLOCK_MONOTONIC, &slept);
  for (;;) {
    if (sem_clockwait (sem, CLOCK_MONOTONIC, &ts) == 0) {
      if (spin_off && elapsed_ns (&slept) <= 2 * ZB_SPIN_NS)
        spin_off = 0;
      return 0;
    }
    if (errno != EINTR)
      return -ETIMEDOUT;
  }
}

/* Open /tmp/zerobuffer (creating it when @create) and check that we may
 * trust it: a real directory (not a symlink), owned by root or by us, and
 * sticky when others may write to it. Every lock file operation then works
 * relative to the returned descriptor, so that nobody can redirect it by
 * swapping the directory for a symlink between our checks. Returns the
 * descriptor or -EACCES / another negative errno. */
static int
lock_dir_open (int create)
{
  struct stat st;
  int made = 0, fd;

  if (create) {
    if (mkdir (ZB_LOCK_DIR, 0700) == 0)
      made = 1;
    else if (errno != EEXIST)
      return -errno;
  }
  fd = open (ZB_LOCK_DIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return errno == ELOOP || errno == ENOTDIR ? -EACCES : -errno;
  /* Shared by every user of the host, like /tmp itself. */
  if (made && fchmod (fd, 01777) < 0) {
    close (fd);
    return -EACCES;
  }
  if (fstat (fd, &st) < 0 || !S_ISDIR (st.st_mode)
      || (st.st_uid != geteuid () && st.st_uid != 0)
      || ((st.st_mode & (S_IWGRP | S_IWOTH)) && !(st.st_mode & S_ISVTX))) {
    close (fd);
    return -EACCES;
  }
  return fd;
}

int
zb_lock_dir_open (void)
{
  return lock_dir_open (0);
}

/* zb_lock_dir_open(), making the directory (01777) first when missing. */
int
zb_lock_dir_create (void)
{
  return lock_dir_open (1);
}

static void
lock_file_name (char *out, size_t size, const char *name)
{
  snprintf (out, size, "%s.lock", name);
}

/* Take the lock of @name on @fd, waiting out someone who holds it only for
 * a moment (another process cleaning up, a reader still creating) but not
 * a live reader; with @wait 0, one attempt only. Returns 0 or -EBUSY. The
 * wait is bounded: 100 attempts 2 ms apart. */
static int
lock_unless_reader_alive (const char *name, int fd, int wait)
{
  int attempt;

  for (attempt = 0; attempt < 100; attempt++) {
    struct timespec ts = { 0, 2 * 1000 * 1000 };
    zb_oieb oieb;
    uint64_t size;

    if (flock (fd, LOCK_EX | LOCK_NB) == 0)
      return 0;
    if (errno != EWOULDBLOCK)
      return -errno;
    if (!wait)
      return -EBUSY;
    if (zb_oieb_peek (name, &oieb, &size) == 0
        && zb_pid_alive (oieb.reader_pid))
      return -EBUSY;
    nanosleep (&ts, NULL);
  }
  return -EBUSY;
}

/* Is the file behind @fd still the entry @file of @dirfd? */
static int
still_linked (int dirfd, const char *file, int fd, struct stat *st_fd)
{
  struct stat st_path;

  return fstat (fd, st_fd) == 0
      && fstatat (dirfd, file, &st_path, AT_SYMLINK_NOFOLLOW) == 0
      && st_fd->st_ino == st_path.st_ino && st_fd->st_dev == st_path.st_dev;
}

/* Take NAME.lock in the lock directory @dirfd with flock(LOCK_EX|LOCK_NB).
 * Returns 0 and the open descriptor, -EEXIST when someone holds it,
 * -EACCES when it is not a regular file, -EPERM when it is a stale lock
 * file of another user that we may not replace. Bounded: 10 attempts. */
int
zb_lock_acquire (int dirfd, const char *name, mode_t mode, int *fd_out)
{
  char file[ZB_NAME_MAX + 8];
  int attempt;

  lock_file_name (file, sizeof (file), name);
  for (attempt = 0; attempt < 10; attempt++) {
    struct stat st_fd;
    int fd = openat (dirfd, file, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC,
        mode);
    int ret;

    if (fd < 0)
      return errno == ELOOP ? -EACCES : -errno;
    ret = lock_unless_reader_alive (name, fd, 1);
    if (ret < 0) {
      close (fd);
      return ret == -EBUSY ? -EEXIST : ret;
    }
    /* The previous owner may have unlinked the file between our open and
     * our flock: then we hold a lock nobody else can see. Retry. */
    if (still_linked (dirfd, file, fd, &st_fd)) {
      if (!S_ISREG (st_fd.st_mode)) {
        close (fd);
        return -EACCES;
      }
      /* A stale lock file of another user (we hold its lock): writers
       * would refuse it, so replace it with one of ours. */
      if (st_fd.st_uid != geteuid ()) {
        ret = unlinkat (dirfd, file, 0) < 0 ? -EPERM : 0;
        close (fd);
        if (ret < 0)
          return ret;
        continue;
      }
      fchmod (fd, mode);
      *fd_out = fd;
      return 0;
    }
    close (fd);
  }
  return -EEXIST;
}

/* Look at the lock file of buffer @name: fill *@st (when not NULL) from the
 * opened file and return 1 when someone holds it (a reader, maybe in
 * another PID namespace), 0 when nobody does, or a negative errno (-ENOENT:
 * no lock file, -EACCES: untrusted lock directory or not a regular file).
 * A shared lock we may take is dropped at once. */
int
zb_lock_probe (const char *name, struct stat *st)
{
  char file[ZB_NAME_MAX + 8];
  struct stat st_fd;
  int dirfd, fd, held;

  dirfd = zb_lock_dir_open ();
  if (dirfd < 0)
    return dirfd;
  lock_file_name (file, sizeof (file), name);
  /* O_NONBLOCK: a FIFO planted as the lock file must not keep us waiting
   * for a writer; it is refused below */
  fd = openat (dirfd, file, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  close (dirfd);
  if (fd < 0)
    return errno == ELOOP ? -EACCES : -errno;
  if (fstat (fd, &st_fd) < 0 || !S_ISREG (st_fd.st_mode)) {
    close (fd);
    return -EACCES;
  }
  if (st != NULL)
    *st = st_fd;
  held = flock (fd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK;
  close (fd);
  return held;
}

int
zb_lock_held (const char *name)
{
  return zb_lock_probe (name, NULL) == 1;
}

void
zb_unlink_objects (const char *name)
{
  char obj[ZB_NAME_MAX + 16];

  zb_shm_name (obj, sizeof (obj), name);
  shm_unlink (obj);
  zb_sem_name (obj, sizeof (obj), 'w', name);
  sem_unlink (obj);
  zb_sem_name (obj, sizeof (obj), 'r', name);
  sem_unlink (obj);
}

/* Check an OIEB read from a segment of @file_size bytes. */
int
zb_segment_validate (const zb_oieb * oieb, uint64_t file_size)
{
  uint64_t m, p;

  if (file_size < ZB_OIEB_SIZE)
    return -EPROTO;
  if (oieb->oieb_size != ZB_OIEB_SIZE || oieb->version[0] != 1)
    return -EPROTO;
  m = oieb->metadata_size;
  p = oieb->payload_size;
  /* Exactly the size the reader gave it (protocol section 1): a larger
   * file would have us map and populate memory nobody needs. */
  if (m > file_size || p > file_size || p <= ZB_FRAME_HEADER_SIZE
      || ZB_OIEB_SIZE + m + p != file_size)
    return -EPROTO;
  return 0;
}

/* May a segment of @file_size bytes whose OIEB reads as @oieb be unlinked
 * as stale? A ZeroBuffer segment, or a creation that never finished (an
 * empty file, or an OIEB still all zeros); anything else is somebody
 * else's file: -EPROTO. */
int
zb_segment_removable (const zb_oieb * oieb, uint64_t file_size)
{
  static const zb_oieb zero;

  if (file_size == 0 || memcmp (oieb, &zero, sizeof (zero)) == 0)
    return 0;
  return zb_segment_validate (oieb, file_size);
}

/* Map the segment behind @fd and validate its OIEB. */
int
zb_segment_map (zb_segment * seg, int fd, uint64_t file_size, int prot)
{
  void *base;
  int ret;

  zb_oieb first;

  if (file_size < ZB_OIEB_SIZE || file_size > SIZE_MAX)
    return -EPROTO;
  /* Validate before mapping: a hostile file of any size costs one read. */
  if (pread (fd, &first, sizeof (first), 0) != (ssize_t) sizeof (first))
    return -EPROTO;
  ret = zb_segment_validate (&first, file_size);
  if (ret < 0)
    return ret;
  /* Not populated (MAP_POPULATE): the reader reads each frame's header,
   * and its payload only if downstream does (zbsrc ! fakesink, a pool
   * record's block elsewhere), and read faults map 16 pages at a time;
   * the writer's frames stay at the ring's start (the early wrap), or are
   * pool records of a few bytes, so that it touches a small part of the
   * ring. Populating a 64 MiB ring cost each zbsrc about 30 ms of CPU at
   * start, and each zbsink 28 ms (strace -T of the mmap, 4K frames).
   * Inspection only needs the OIEB. */
  base = mmap (NULL, file_size, prot, MAP_SHARED, fd, 0);
  if (base == MAP_FAILED)
    return -errno;
  seg->base = base;
  seg->map_size = file_size;
  seg->oieb = base;
  ret = zb_segment_validate (seg->oieb, file_size);
  if (ret < 0) {
    munmap (base, file_size);
    seg->base = NULL;
    seg->oieb = NULL;
    return ret;
  }
  /* The sizes never change after creation; keep validated copies so a
   * peer rewriting them later cannot send us out of bounds. */
  seg->metadata_size = seg->oieb->metadata_size;
  seg->payload_size = seg->oieb->payload_size;
  seg->metadata = seg->base + ZB_OIEB_SIZE;
  seg->ring = seg->metadata + seg->metadata_size;
  return 0;
}

void
zb_segment_unmap (zb_segment * seg)
{
  if (seg->sems_mapped) {
    /* Mapped by zb_sem_map(), not by sem_open(). */
    if (seg->sem_w != NULL && seg->sem_w != SEM_FAILED)
      munmap (seg->sem_w, sizeof (sem_t));
    if (seg->sem_r != NULL && seg->sem_r != SEM_FAILED)
      munmap (seg->sem_r, sizeof (sem_t));
  } else {
    if (seg->sem_w != NULL && seg->sem_w != SEM_FAILED)
      sem_close (seg->sem_w);
    if (seg->sem_r != NULL && seg->sem_r != SEM_FAILED)
      sem_close (seg->sem_r);
  }
  if (seg->base != NULL)
    munmap (seg->base, seg->map_size);
  seg->sem_w = NULL;
  seg->sem_r = NULL;
  seg->base = NULL;
  seg->oieb = NULL;
}

/* The metadata as [u64 N][N bytes], bounds-checked against the block. */
int
zb_metadata_view (const zb_segment * seg, const void **data, size_t *size)
{
  uint64_t written = ZB_LOAD (seg->oieb->metadata_written_bytes);
  uint64_t n;

  if (written == 0)
    return -ENODATA;
  if (seg->metadata_size < 8 || written > seg->metadata_size)
    return -EPROTO;
  memcpy (&n, seg->metadata, sizeof (n));
  if (n == 0)
    return -ENODATA;
  if (n > seg->metadata_size - 8)
    return -EPROTO;
  *data = seg->metadata + 8;
  *size = n;
  return 0;
}

void
zb_status_fill (const zb_segment * seg, zb_status * st)
{
  const zb_oieb *o = seg->oieb;
  uint64_t free_bytes;

  memset (st, 0, sizeof (*st));
  memcpy (st->version, o->version, sizeof (st->version));
  st->metadata_size = seg->metadata_size;
  st->metadata_written_bytes = ZB_LOAD (o->metadata_written_bytes);
  st->payload_size = seg->payload_size;
  free_bytes = ZB_LOAD (o->payload_free_bytes);
  st->payload_free_bytes = free_bytes;
  st->write_pos = ZB_LOAD (o->payload_write_pos);
  st->read_pos = ZB_LOAD (o->payload_read_pos);
  st->written_count = ZB_LOAD (o->payload_written_count);
  st->read_count = ZB_LOAD (o->payload_read_count);
  st->writer_pid = ZB_LOAD (o->writer_pid);
  st->reader_pid = ZB_LOAD (o->reader_pid);
  st->writer_alive = zb_pid_alive (st->writer_pid);
  st->reader_alive = zb_pid_alive (st->reader_pid);
  if (free_bytes <= st->payload_size)
    st->utilisation =
        (double) (st->payload_size - free_bytes) / (double) st->payload_size;
  else
    st->utilisation = 0.0;
}

/* Read the OIEB of segment @name without mapping it; a file shorter than
 * an OIEB reads as zeros. Returns 0, -ENOENT or another negative errno. */
int
zb_oieb_peek (const char *name, zb_oieb * oieb, uint64_t * file_size)
{
  char obj[ZB_NAME_MAX + 16];
  struct stat st = { 0 };
  ssize_t n;
  int fd, ret = 0;

  *file_size = 0;
  zb_shm_name (obj, sizeof (obj), name);
  fd = shm_open (obj, O_RDONLY | O_CLOEXEC, 0);
  if (fd < 0)
    return -errno;
  memset (oieb, 0, sizeof (*oieb));
  if (fstat (fd, &st) < 0)
    ret = -errno;
  else if ((n = pread (fd, oieb, sizeof (*oieb), 0)) < 0)
    ret = -errno;
  else if (n < (ssize_t) sizeof (*oieb))
    memset (oieb, 0, sizeof (*oieb));
  close (fd);
  if (ret == 0)
    *file_size = (uint64_t) st.st_size;
  return ret;
}

/* Remove buffer @name unless a recorded pid is alive. The caller holds the
 * lock file, or there is no lock directory. A file that is not a
 * ZeroBuffer segment is left alone (see zb_segment_removable()). */
static int
cleanup_locked (const char *name)
{
  zb_oieb oieb;
  uint64_t size;
  int ret = zb_oieb_peek (name, &oieb, &size);

  if (ret < 0 && ret != -ENOENT)
    return ret;
  if (ret == 0) {
    if (zb_segment_removable (&oieb, size) < 0)
      return -EPROTO;
    if (zb_pid_alive (oieb.reader_pid) || zb_pid_alive (oieb.writer_pid))
      return -EBUSY;
  }
  zb_unlink_objects (name);
  return 0;
}

/* Does any of the /dev/shm objects of @name exist? */
static int
shm_objects_exist (const char *name)
{
  static const char *const prefixes[] = { "", "sem.sem-w-", "sem.sem-r-" };
  char obj[ZB_NAME_MAX + 32];
  struct stat st;
  size_t i;

  for (i = 0; i < sizeof (prefixes) / sizeof (prefixes[0]); i++) {
    snprintf (obj, sizeof (obj), "/dev/shm/%s%s", prefixes[i], name);
    if (lstat (obj, &st) == 0)
      return 1;
  }
  return 0;
}

/* zb_cleanup() in the lock directory @dirfd. The lock file is taken (made
 * if missing) before anything is looked at: a reader holds it from before
 * it creates its first object until it has stored its pid, so a buffer
 * still being created is never mistaken for a stale one. With @wait 0 a
 * held lock file is skipped at once (the start-up sweep). */
static int
cleanup_at (int dirfd, const char *name, int wait)
{
  char file[ZB_NAME_MAX + 8];
  int attempt, ret = -EBUSY;

  lock_file_name (file, sizeof (file), name);
  for (attempt = 0; attempt < 10; attempt++) {
    struct stat st;
    int fd, created = 0, found;

    /* O_NONBLOCK: see zb_lock_probe() */
    fd = openat (dirfd, file, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) {
      fd = openat (dirfd, file, O_RDONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
          O_CLOEXEC, 0600);
      created = fd >= 0;
      if (fd < 0 && errno == EEXIST)
        continue;               /* a reader made it meanwhile: look again */
    }
    if (fd < 0)
      return errno == ELOOP ? -EACCES : -errno;
    ret = lock_unless_reader_alive (name, fd, wait);
    if (ret < 0) {
      close (fd);
      return ret;
    }
    if (!still_linked (dirfd, file, fd, &st)) {
      close (fd);
      ret = -EBUSY;
      continue;                 /* removed under us: take the new one */
    }
    if (!S_ISREG (st.st_mode)) {
      close (fd);
      return -EACCES;
    }
    found = !created || shm_objects_exist (name);
    ret = found ? cleanup_locked (name) : -ENOENT;
    /* Unlink before unlocking: a reader that opened this file meanwhile
     * finds it replaced and retries (see zb_lock_acquire). */
    if (ret == 0 || created)
      unlinkat (dirfd, file, 0);
    close (fd);
    return ret;
  }
  return ret;
}

int
zb_cleanup (const char *name)
{
  int ret, dirfd;

  ret = zb_name_check (name);
  if (ret < 0)
    return ret;
  dirfd = zb_lock_dir_open ();
  if (dirfd == -ENOENT) {
    /* No lock directory: no reader of ours exists or is being created. */
    if (!shm_objects_exist (name))
      return -ENOENT;
    return cleanup_locked (name);
  }
  if (dirfd < 0)
    return dirfd;
  ret = cleanup_at (dirfd, name, 1);
  close (dirfd);
  /* and what dead writers left beside any buffer (sweep.c) */
  zb_cleanup_writer_objects ();
  return ret;
}

/* What the reference readers do at start-up: remove every buffer whose lock
 * nobody holds and whose reader and writer are both gone. One non-blocking
 * attempt per buffer: a lock held by a process we cannot see (another PID
 * namespace) is skipped, not waited for. */
void
zb_cleanup_stale_all (int dirfd, const char *except)
{
  int fd = dup (dirfd);
  DIR *dir;
  struct dirent *de;

  if (fd < 0)
    return;
  dir = fdopendir (fd);
  if (dir == NULL) {
    close (fd);
    return;
  }
  while ((de = readdir (dir)) != NULL) {
    char name[ZB_NAME_MAX + 1];
    size_t len = strlen (de->d_name);

    if (len <= 5 || strcmp (de->d_name + len - 5, ".lock") != 0)
      continue;
    if (len - 5 > ZB_NAME_MAX)
      continue;
    memcpy (name, de->d_name, len - 5);
    name[len - 5] = '\0';
    if (zb_name_check (name) < 0 || strcmp (name, except) == 0)
      continue;
    cleanup_at (dirfd, name, 0);
  }
  closedir (dir);
}
