/* libzerobuffer - removing what dead writers left beside their buffers
 *
 * Our writers keep side objects in /dev/shm next to a buffer: their
 * statistics (zbstats-PART-PID, stats.c) and zbsink's pool segments
 * (zbpool-PART-PID-SERIAL, gst/gstzbpoolshm.c). A writer removes its own
 * when it leaves; one that is killed cannot. Anyone may then remove them,
 * for buffers of any name, as long as each object is
 *
 *   - named by one of these patterns (PID and SERIAL decimal),
 *   - a regular file of our euid (never another user's),
 *   - not a buffer that happens to have such a name (no semaphore of that
 *     name, no valid OIEB in it),
 *   - of a PID that is not alive (zb_pid_alive(): a zombie is dead),
 *   - and not flock'ed: the writer holds a lock on each of its objects for
 *     its whole life, which tells a live writer from a dead one even where
 *     its pid means nothing (another PID namespace). We hold an exclusive
 *     lock on the object while we check and unlink it, and unlink only if
 *     the name still names the file we locked.
 *
 * A pid reused by a live process keeps the objects of the dead one until
 * that process exits: never removed too early, at worst too late.
 */

#include "zb-private.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define SHM_DIR "/dev/shm"
#define POOL_PREFIX "zbpool-"

/* Parse the decimal number that ends at @end (exclusive) and starts after
 * the last '-' before it; set *@dash to that '-'. 0 when it does not
 * parse (empty, not digits, too large). */
static uint64_t
number_before (const char *start, const char *end, const char **dash)
{
  const char *p = end;
  uint64_t v = 0;

  while (p > start && p[-1] >= '0' && p[-1] <= '9')
    p--;
  if (p == end || p == start || p[-1] != '-' || end - p > 19)
    return 0;
  for (*dash = p - 1; p < end; p++)
    v = v * 10 + (uint64_t) (*p - '0');
  return v;
}

/* The writer pid of side object @name, or 0 when it is not one. */
static uint64_t
side_object_pid (const char *name)
{
  size_t plen;
  const char *end = name + strlen (name), *dash;
  uint64_t pid;

  if (strncmp (name, ZB_STATS_PREFIX, strlen (ZB_STATS_PREFIX)) == 0) {
    plen = strlen (ZB_STATS_PREFIX);
  } else if (strncmp (name, POOL_PREFIX, strlen (POOL_PREFIX)) == 0) {
    plen = strlen (POOL_PREFIX);
    /* SERIAL first; 0 is a valid serial, so check the dash */
    dash = NULL;
    number_before (name + plen, end, &dash);
    if (dash == NULL)
      return 0;
    end = dash;
  } else {
    return 0;
  }
  dash = NULL;
  pid = number_before (name + plen, end, &dash);
  /* PART is not empty; a pid no process can have is no pid */
  if (pid == 0 || pid > INT32_MAX || dash == NULL || dash == name + plen)
    return 0;
  return pid;
}

/* Is @name a buffer (semaphores of that name, or a valid OIEB in @fd)? */
static int
is_buffer (int dirfd, const char *name, int fd, const struct stat *st)
{
  char sem[NAME_MAX + 16];
  struct stat st_sem;
  zb_oieb oieb;

  snprintf (sem, sizeof (sem), "sem.sem-w-%s", name);
  if (fstatat (dirfd, sem, &st_sem, AT_SYMLINK_NOFOLLOW) == 0)
    return 1;
  snprintf (sem, sizeof (sem), "sem.sem-r-%s", name);
  if (fstatat (dirfd, sem, &st_sem, AT_SYMLINK_NOFOLLOW) == 0)
    return 1;
  return pread (fd, &oieb, sizeof (oieb), 0) == (ssize_t) sizeof (oieb)
      && zb_segment_validate (&oieb, (uint64_t) st->st_size) == 0;
}

/* Pids found alive during one scan: a live writer has several objects
 * (pool segments), and each liveness check reads /proc. A pid that dies
 * meanwhile is swept next time. */
#define ALIVE_CACHE 16

typedef struct
{
  uint64_t pids[ALIVE_CACHE];
  unsigned int n;
} alive_cache;

static int
known_alive (alive_cache * cache, uint64_t pid)
{
  unsigned int i;

  if (cache == NULL)
    return zb_pid_alive (pid);
  for (i = 0; i < cache->n && i < ALIVE_CACHE; i++)
    if (cache->pids[i] == pid)
      return 1;
  if (!zb_pid_alive (pid))
    return 0;
  cache->pids[cache->n++ % ALIVE_CACHE] = pid;
  return 1;
}

/* Remove side object @name of /dev/shm (@dirfd) if it is a dead writer's
 * of ours (see the top of this file). 1 when removed, else 0. */
static int
remove_if_dead (int dirfd, const char *name, alive_cache * cache)
{
  struct stat st, st_fd;
  uint64_t pid = side_object_pid (name);
  int fd, removed = 0;

  if (pid == 0 || known_alive (cache, pid))
    return 0;
  if (fstatat (dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0
      || !S_ISREG (st.st_mode) || st.st_uid != geteuid ())
    return 0;
  /* O_NONBLOCK: nothing here may wait (a FIFO is not a regular file, but
   * it could be swapped in between) */
  fd = openat (dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0)
    return 0;
  if (fstat (fd, &st_fd) == 0 && st_fd.st_ino == st.st_ino
      && st_fd.st_dev == st.st_dev && S_ISREG (st_fd.st_mode)
      && flock (fd, LOCK_EX | LOCK_NB) == 0
      && !is_buffer (dirfd, name, fd, &st_fd) && !zb_pid_alive (pid)
      && fstatat (dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0
      && st.st_ino == st_fd.st_ino && st.st_dev == st_fd.st_dev)
    removed = unlinkat (dirfd, name, 0) == 0;
  /* unlinked before unlocked: a writer never finds a name we are about to
   * remove under its own lock */
  close (fd);
  return removed;
}

int
zb_cleanup_writer_objects (void)
{
  alive_cache cache = { {0}, 0 };
  struct dirent *de;
  DIR *dir;
  int removed = 0;

  dir = opendir (SHM_DIR);
  if (dir == NULL)
    return -errno;
  while ((de = readdir (dir)) != NULL) {
    if (de->d_name[0] != 'z')
      continue;
    removed += remove_if_dead (dirfd (dir), de->d_name, &cache);
  }
  closedir (dir);
  return removed;
}

/* The statistics object of writer @pid of buffer @buffer, if that writer
 * is dead (a reader that saw its writer die). */
void
zb_stats_remove_dead (const char *buffer, uint64_t pid)
{
  char name[ZB_STATS_NAME_SIZE];
  int dirfd;

  if (zb_stats_name (name, sizeof (name), buffer, pid) < 0)
    return;
  dirfd = open (SHM_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dirfd < 0)
    return;
  remove_if_dead (dirfd, name, NULL);
  close (dirfd);
}
