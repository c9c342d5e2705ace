/* libzerobuffer - error texts */

#include "zerobuffer/zerobuffer.h"

#include <errno.h>
#include <limits.h>
#include <string.h>

const char *
zb_strerror (int error)
{
  switch (error) {
    case 0:
      return "success";
    case -EINVAL:
      return "invalid argument";
    case -ENAMETOOLONG:
      return "buffer name too long (at most 245 bytes)";
    case -ENOENT:
      return "buffer not found";
    case -EEXIST:
      return "buffer already owned by a live reader";
    case -EBUSY:
      return "another writer is connected";
    case -EPROTO:
      return "invalid OIEB: not a ZeroBuffer v1 segment or corrupt";
    case -EBADMSG:
      return "invalid frame header: size 0 or past the ring";
    case -EILSEQ:
      return "sequence error: frame out of order";
    case -EMSGSIZE:
      return "frame or metadata too large for the buffer";
    case -ENOBUFS:
      return "buffer full: no space within the write timeout";
    case -E2BIG:
      return "frame fits the ring but not from the current write position, "
          "even once the ring is empty: only a smaller frame "
          "(zb_writer_max_size) moves the position on; frames up to "
          "zb_max_size_always bytes always fit";
    case -ETIMEDOUT:
      return "timed out waiting for a frame";
    case -EAGAIN:
      return "no frame available";
    case -EPIPE:
      return "peer disconnected";
    case -EOWNERDEAD:
      return "peer process died";
    case -EALREADY:
      return "metadata already written on this connection";
    case -ENODATA:
      return "no metadata written";
    case -EINTR:
      return "interrupted by wakeup";
    case -ENOSPC:
      return "not enough shared memory for the buffer";
    case -EACCES:
      return "permission denied";
    case -EPERM:
      return "buffer owned by another user (not ours, root's or the "
          "allowed uid)";
    case -ENOLCK:
      return "no reader holds the buffer's lock file (squatted buffer, or "
          "its lock file was deleted)";
    default:
      break;
  }
  if (error < 0 && error != INT_MIN)
    return strerror (-error);
  return error < 0 ? "unknown error" : "success";
}
