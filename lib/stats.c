/* libzerobuffer - a writer's statistics object beside the buffer
 *
 * The standard layout (OIEB, metadata, ring) has no room for what only the
 * writer knows, such as the frames it dropped, and the protocol authors'
 * implementations must keep reading our buffers byte for byte. So our
 * writers publish these counters in an object of their own,
 * /dev/shm/zbstats-PART-PID (docs/protocol.md, "Writer statistics"):
 * created at connect, with the segment's permissions minus any write bit
 * for group and others, flock'ed for the connection (its proof of life,
 * also across PID namespaces), removed at disconnect. Observers
 * (zb_inspect_writer(), zerobuffer top) open it read-only and validate
 * every byte; a writer that publishes none (the reference libraries)
 * simply has none.
 */

#include "zb-private.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

_Static_assert (sizeof (zb_stats_shm) == ZB_STATS_SIZE,
    "statistics object is 320 bytes");
_Static_assert (offsetof (zb_stats_shm, writer_pid) == 16, "pid at 16");
_Static_assert (offsetof (zb_stats_shm, drops) == 24, "drops at 24");
_Static_assert (offsetof (zb_stats_shm, buffer) == 64, "name at 64");

int
zb_stats_name (char *out, size_t size, const char *buffer, uint64_t pid)
{
  return zb_side_object_name (out, size, ZB_STATS_PREFIX, buffer, pid);
}

/* Remove a stale object of our own under @path (a dead process of ours
 * whose pid we now have): only when nobody holds its lock and the name
 * still names the file we locked. 0 when it is gone, else -EEXIST. */
static int
remove_stale (const char *path)
{
  struct stat st_fd, st_path;
  int fd, ret = -EEXIST;

  fd = shm_open (path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC, 0);
  if (fd < 0)
    return errno == ENOENT ? 0 : -EEXIST;
  if (fstat (fd, &st_fd) == 0 && S_ISREG (st_fd.st_mode)
      && st_fd.st_uid == geteuid () && flock (fd, LOCK_EX | LOCK_NB) == 0) {
    char full[ZB_STATS_NAME_SIZE + 16];

    snprintf (full, sizeof (full), "/dev/shm%s", path);
    if (lstat (full, &st_path) == 0 && st_path.st_ino == st_fd.st_ino
        && st_path.st_dev == st_fd.st_dev && shm_unlink (path) == 0)
      ret = 0;
  }
  close (fd);
  return ret;
}

int
zb_stats_publish (zb_stats * stats, const char *buffer, uint64_t pid,
    mode_t segment_mode)
{
  char path[ZB_STATS_NAME_SIZE + 1];
  mode_t mode = (segment_mode & 0644) | 0600;
  char self[40];
  struct stat st, st_fd;
  void *p = MAP_FAILED;
  int fd = -1, lock_fd = -1, attempt, ret;

  stats->map = NULL;
  stats->lock.fd = -1;
  path[0] = '/';
  ret = zb_stats_name (path + 1, sizeof (path) - 1, buffer, pid);
  if (ret < 0)
    return ret;
  for (attempt = 0; attempt < 3; attempt++) {
    fd = shm_open (path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
        mode);
    if (fd >= 0 || errno != EEXIST)
      break;
    /* left by a dead process whose pid we now have (ours), or a
     * squatter's: that one stays, and we publish nothing */
    if (remove_stale (path) < 0)
      return -EEXIST;
  }
  if (fd < 0)
    return -errno;
  /* The lock first, so that no sweeper takes the new object for a dead
   * writer's, and on a descriptor of its own (see try_connect() in
   * writer.c): the mapping would keep a lock on its file alive in a
   * fork()ed child after we died. Through /proc/self/fd it is the very
   * file we created. */
  snprintf (self, sizeof (self), "/proc/self/fd/%d", fd);
  lock_fd = open (self, O_RDONLY | O_CLOEXEC);
  if (lock_fd < 0)
    lock_fd = shm_open (path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC, 0);
  if (lock_fd < 0 || fstat (lock_fd, &st) < 0 || fstat (fd, &st_fd) < 0
      || st.st_ino != st_fd.st_ino || st.st_dev != st_fd.st_dev
      || flock (lock_fd, LOCK_EX | LOCK_NB) < 0) {
    ret = -EEXIST;
    goto failed;
  }
  /* explicitly: the umask must neither widen nor narrow it */
  if (fchmod (fd, mode) < 0 || ftruncate (fd, ZB_STATS_SIZE) < 0) {
    ret = -errno;
    goto failed;
  }
  p = mmap (NULL, ZB_STATS_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) {
    ret = -errno;
    goto failed;
  }
  stats->map = p;
  memset (p, 0, ZB_STATS_SIZE);
  memcpy (stats->map->magic, ZB_STATS_MAGIC, 4);
  stats->map->version = 1;
  stats->map->size = ZB_STATS_SIZE;
  stats->map->writer_pid = pid;
  snprintf (stats->map->buffer, sizeof (stats->map->buffer), "%s", buffer);
  stats->ino = st.st_ino;
  stats->dev = st.st_dev;
  snprintf (stats->path, sizeof (stats->path), "%s", path);
  close (fd);
  zb_held_lock_add (&stats->lock, lock_fd);
  return 0;

  /* ERRORS */
failed:
  if (p != MAP_FAILED)
    munmap (p, ZB_STATS_SIZE);
  if (lock_fd >= 0)
    close (lock_fd);
  close (fd);
  shm_unlink (path);
  stats->map = NULL;
  return ret;
}

void
zb_stats_add_drops (zb_stats * stats, uint64_t n)
{
  if (stats->map != NULL)
    /* Relaxed: a counter on its own, which orders nothing else (observers
     * pread it). */
    __atomic_fetch_add (&stats->map->drops, n, __ATOMIC_RELAXED);
}

void
zb_stats_withdraw (zb_stats * stats)
{
  char full[ZB_STATS_NAME_SIZE + 16];
  struct stat st;

  if (stats->map == NULL)
    return;
  /* Only our own object: a sweeper may have removed the name (it cannot
   * while we hold the lock, but a user can) and someone made a new one. */
  snprintf (full, sizeof (full), "/dev/shm%s", stats->path);
  if (lstat (full, &st) == 0 && st.st_ino == stats->ino
      && st.st_dev == stats->dev)
    shm_unlink (stats->path);
  munmap (stats->map, ZB_STATS_SIZE);
  stats->map = NULL;
  zb_held_lock_close (&stats->lock);
}

/* The uid of process @pid (the owner of /proc/PID, which is its effective
 * uid), or -ESRCH when it is gone. */
static int
pid_uid (uint64_t pid, uid_t * uid)
{
  char path[32];
  struct stat st;

  if (pid == 0 || pid > INT32_MAX)
    return -ESRCH;
  snprintf (path, sizeof (path), "/proc/%d", (int) pid);
  if (stat (path, &st) < 0)
    return -ESRCH;
  *uid = st.st_uid;
  return 0;
}

int
zb_inspect_writer (const char *name, uint64_t writer_pid,
    zb_writer_stats * stats)
{
  char path[ZB_STATS_NAME_SIZE + 1];
  zb_stats_shm copy;
  struct stat st;
  uid_t uid;
  int fd, ret;

  if (stats == NULL)
    return -EINVAL;
  memset (stats, 0, sizeof (*stats));
  ret = zb_name_check (name);
  if (ret < 0)
    return ret;
  if (writer_pid == 0)
    return -ENOENT;
  path[0] = '/';
  ret = zb_stats_name (path + 1, sizeof (path) - 1, name, writer_pid);
  if (ret < 0)
    return ret;
  /* O_NONBLOCK: a FIFO planted under the name must not keep us waiting */
  fd = shm_open (path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0);
  if (fd < 0)
    return errno == ELOOP ? -EPROTO : -errno;
  if (fstat (fd, &st) < 0 || !S_ISREG (st.st_mode)) {
    ret = -EPROTO;
    goto out;
  }
  /* Made by the writer's own user, and only it may change it: anyone else
   * could plant numbers for another user's writer. */
  if (pid_uid (writer_pid, &uid) < 0) {
    ret = -ESRCH;
    goto out;
  }
  if (st.st_uid != uid || (st.st_mode & (S_IWGRP | S_IWOTH))) {
    ret = -EPERM;
    goto out;
  }
  /* exactly our size: never map more than we read */
  if (st.st_size != ZB_STATS_SIZE) {
    ret = -EPROTO;
    goto out;
  }
  /* pread, not a mapping: an owner that shrinks the file meanwhile must
   * not get us a SIGBUS */
  if (pread (fd, &copy, sizeof (copy), 0) != (ssize_t) sizeof (copy)) {
    ret = -EPROTO;
    goto out;
  }
  if (memcmp (copy.magic, ZB_STATS_MAGIC, 4) != 0 || copy.version != 1
      || copy.size != ZB_STATS_SIZE || copy.writer_pid != writer_pid
      || memchr (copy.buffer, '\0', sizeof (copy.buffer)) == NULL
      || strcmp (copy.buffer, name) != 0) {
    ret = -EPROTO;
    goto out;
  }
  stats->writer_pid = copy.writer_pid;
  stats->drops = copy.drops;
  ret = 0;

out:
  close (fd);
  return ret;
}
