/* libzerobuffer - looking at a buffer from outside */

#include "zb-private.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int
zb_inspect (const char *name, zb_status * status, void *metadata,
    size_t capacity, size_t *metadata_size)
{
  char obj[ZB_NAME_MAX + 16];
  zb_segment seg = { 0 };
  struct stat st;
  const void *view;
  size_t size;
  int fd, ret;

  if (status == NULL || (metadata != NULL && metadata_size == NULL))
    return -EINVAL;
  ret = zb_name_check (name);
  if (ret < 0)
    return ret;
  zb_shm_name (obj, sizeof (obj), name);
  fd = shm_open (obj, O_RDONLY | O_CLOEXEC, 0);
  if (fd < 0)
    return -errno;
  if (fstat (fd, &st) < 0) {
    ret = -errno;
    close (fd);
    return ret;
  }
  ret = zb_segment_map (&seg, fd, (uint64_t) st.st_size, PROT_READ);
  close (fd);
  if (ret < 0)
    return ret;

  zb_status_fill (&seg, status);
  if (metadata != NULL) {
    *metadata_size = 0;
    if (zb_metadata_view (&seg, &view, &size) == 0) {
      memcpy (metadata, view, size < capacity ? size : capacity);
      *metadata_size = size;
    }
  }
  zb_segment_unmap (&seg);
  return 0;
}
