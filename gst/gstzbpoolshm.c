/* zerobuffer GStreamer plugin - pool segments in /dev/shm
 *
 * SPDX-License-Identifier: MIT
 */

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstzbpoolshm.h"
#include "zbframe.h"

#include <zerobuffer/zerobuffer.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define SHM_DIR "/dev/shm"

gint
gst_zb_pool_shm_create (const gchar * name, gsize size, guint8 ** base)
{
  gchar path[ZB_GST_POOL_NAME_SIZE + 2];
  gpointer p;
  gint fd, ret;

  g_snprintf (path, sizeof (path), "/%s", name);
  fd = shm_open (path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0)
    return -errno;
  /* At once, and held for as long as we have the segment mapped (a
   * mapping keeps its open file, and the lock with it): it tells sweepers
   * that we live, even where our pid means nothing to them
   * (zb_cleanup_writer_objects()). */
  if (flock (fd, LOCK_EX | LOCK_NB) < 0) {
    ret = -errno;
    goto failed;
  }
  if (ftruncate (fd, (off_t) size) < 0) {
    ret = -errno;
    goto failed;
  }
  /* returns the error number itself */
  ret = posix_fallocate (fd, 0, (off_t) size);
  if (ret != 0 && ret != EOPNOTSUPP && ret != EINVAL) {
    ret = -ret;
    goto failed;
  }
  p = mmap (NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) {
    ret = -errno;
    goto failed;
  }
  close (fd);
  *base = p;
  return 0;

failed:
  close (fd);
  shm_unlink (path);
  return ret;
}

/* "zbpool-PART-PID-SERIAL": PID of a name that starts with @prefix_any
 * ("zbpool-PART-"), or 0 when it does not parse. */
static guint64
name_pid (const gchar * name, const gchar * prefix_any)
{
  const gchar *p;
  gchar *end;
  guint64 pid;

  if (!g_str_has_prefix (name, prefix_any))
    return 0;
  p = name + strlen (prefix_any);
  if (!g_ascii_isdigit (*p))
    return 0;
  pid = g_ascii_strtoull (p, &end, 10);
  if (*end != '-' || !g_ascii_isdigit (end[1]))
    return 0;
  /* exactly PID-SERIAL: "zbpool-cam-5-1234-0" is buffer "cam-5"'s */
  for (p = end + 1; *p; p++)
    if (!g_ascii_isdigit (*p))
      return 0;
  return pid;
}

/* Is someone holding the lock of /dev/shm/@name (its writer, alive)? */
static gboolean
locked_by_writer (gint dir_fd, const gchar * name)
{
  gint fd = openat (dir_fd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
      O_CLOEXEC);
  gboolean held;

  if (fd < 0)
    return FALSE;
  held = flock (fd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK;
  close (fd);
  return held;
}

guint
gst_zb_pool_shm_sweep (const gchar * buffer, guint64 pid)
{
  gchar prefix[ZB_GST_POOL_NAME_SIZE];
  gchar *any;
  struct dirent *de;
  DIR *dir;
  guint removed = 0;

  /* every dead writer's, of any buffer: the library's sweep */
  if (pid == 0) {
    gint n = zb_cleanup_writer_objects ();

    return n > 0 ? (guint) n : 0;
  }

  /* "zbpool-PART-0-" with the pid cut off: "zbpool-PART-" */
  if (zb_gst_pool_name (prefix, sizeof (prefix), buffer, 0, ZB_GST_NONE) < 0)
    return 0;
  any = g_strndup (prefix, strlen (prefix) - 2);
  dir = opendir (SHM_DIR);
  if (dir == NULL) {
    g_free (any);
    return 0;
  }
  while ((de = readdir (dir)) != NULL) {
    guint64 owner = name_pid (de->d_name, any);
    struct stat st;
    gchar *path;

    if (owner != pid)
      continue;
    if (fstatat (dirfd (dir), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0
        || !S_ISREG (st.st_mode) || st.st_uid != geteuid ()
        || locked_by_writer (dirfd (dir), de->d_name))
      continue;
    path = g_strdup_printf ("/%s", de->d_name);
    if (shm_unlink (path) == 0)
      removed++;
    g_free (path);
  }
  closedir (dir);
  g_free (any);
  return removed;
}

GstZbPoolMap *
gst_zb_pool_map_open (const gchar * name, guint64 size, const gchar ** why)
{
  gchar path[ZB_GST_POOL_NAME_SIZE + 2];
  GstZbPoolMap *map;
  struct stat st;
  gpointer p;
  gint fd;

  if (size == 0 || size > G_MAXSIZE) {
    *why = "bad segment size";
    return NULL;
  }
  g_snprintf (path, sizeof (path), "/%s", name);
  fd = shm_open (path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW, 0);
  if (fd < 0) {
    *why = errno == ENOENT ? "segment does not exist (writer gone?)" :
        "segment cannot be opened";
    return NULL;
  }
  /* who owns the file we opened, not what the name points at later */
  if (fstat (fd, &st) < 0 || !S_ISREG (st.st_mode)) {
    *why = "segment is not a regular file";
    goto failed;
  }
  if (st.st_uid != geteuid ()) {
    *why = "segment belongs to another user";
    goto failed;
  }
  if (st.st_mode & (S_IWGRP | S_IWOTH)) {
    *why = "segment is writable by others";
    goto failed;
  }
  if ((guint64) st.st_size != size) {
    *why = "segment size differs from the record's";
    goto failed;
  }
  p = mmap (NULL, (gsize) size, PROT_READ, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) {
    *why = "segment cannot be mapped";
    goto failed;
  }
  close (fd);
  map = g_new0 (GstZbPoolMap, 1);
  map->refcount = 1;
  map->name = g_strdup (name);
  map->base = p;
  map->size = (gsize) size;
  return map;

failed:
  close (fd);
  return NULL;
}

GstZbPoolMap *
gst_zb_pool_map_ref (GstZbPoolMap * map)
{
  g_atomic_int_inc (&map->refcount);
  return map;
}

void
gst_zb_pool_map_unref (GstZbPoolMap * map)
{
  if (map && g_atomic_int_dec_and_test (&map->refcount)) {
    munmap ((gpointer) map->base, map->size);
    g_free (map->name);
    g_free (map);
  }
}
