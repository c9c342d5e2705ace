/* libzerobuffer - the writer: connects to a buffer and produces frames */

#include "zb-private.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* How often a writer that never has to wait still checks that the reader's
 * process is alive. */
#define READER_CHECK_INTERVAL_MS 1

/* Drain surplus "space freed" tokens every this many frames, so that the
 * semaphore never overflows when the writer never waits. */
#define DRAIN_INTERVAL 1024

/* At most this many tokens per drain: a peer posting without pause cannot
 * keep us in the loop. */
#define DRAIN_MAX 65536

struct zb_writer
{
  zb_segment seg;
  uint64_t pid;
  uid_t allow_uid;              /* besides ours and root's; 0: none */
  int write_timeout_ms;
  int metadata_written;

  uint64_t write_pos;           /* authoritative; mirrored to the OIEB */
  uint64_t written_count;
  uint64_t sequence;            /* of the next frame */
  uint64_t frames;
  /* Bytes of the ring charged to frames, wrap tails and whatever the
   * reader still held when we connected; written by the writing thread
   * only, read by zb_writer_bytes_released() from any thread. */
  uint64_t committed;
  /* Atomic: never charge the ring past this count of committed bytes
   * (UINT64_MAX: no limit). A duplex client sets it so that requests it
   * still holds in place are not overwritten (duplex.c). */
  uint64_t limit;
  /* bytes an early wrap must leave within the limit after its frame
   * (zb_writer_set_wrap_reserve(); UINT64_MAX: half the ring) */
  uint64_t wrap_reserve;

  int acquired;
  uint64_t acquired_pos;
  uint64_t acquired_size;

  zb_held_lock shm_lock;        /* segment, flock'ed for the connection */
  mode_t shm_mode;              /* permissions of the segment */
  zb_stats stats;               /* published beside the buffer (stats.c) */
  uint64_t drops;               /* atomic */
  zb_peer reader;               /* the reader's process */
  ino_t shm_ino;                /* identity of the mapped segment */
  dev_t shm_dev;
  int64_t reader_checked_ms;
  unsigned int drain_countdown;
  int wakeup;                   /* atomic */
};

static void
drain_tokens (sem_t * sem)
{
  int i;

  for (i = 0; i < DRAIN_MAX && sem_trywait (sem) == 0; i++);
}

/* Is an object owned by @uid one we may write our frames into? */
static int
owner_trusted (zb_writer * writer, uid_t uid)
{
  return uid == 0 || uid == geteuid ()
      || (writer->allow_uid != 0 && uid == writer->allow_uid);
}

/* Open semaphore sem-KIND-NAME from its file, check who owns the file we
 * opened and map it (what sem_open() does, without a second lookup by
 * name). Returns the semaphore or SEM_FAILED with *@err set. */
static sem_t *
open_sem (zb_writer * writer, char kind, const char *name, int *err)
{
  char path[ZB_NAME_MAX + 32];
  struct stat st;
  void *sem;
  int fd;

  snprintf (path, sizeof (path), "/dev/shm/sem.sem-%c-%s", kind, name);
  fd = open (path, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    *err = errno == ELOOP ? -EACCES : -errno;
    return SEM_FAILED;
  }
  if (fstat (fd, &st) < 0 || !S_ISREG (st.st_mode)
      || st.st_size < (off_t) sizeof (sem_t)) {
    close (fd);
    *err = -EPROTO;
    return SEM_FAILED;
  }
  if (!owner_trusted (writer, st.st_uid)) {
    close (fd);
    *err = -EPERM;
    return SEM_FAILED;
  }
  sem = mmap (NULL, sizeof (sem_t), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  *err = sem == MAP_FAILED ? -errno : 0;
  close (fd);
  return sem == MAP_FAILED ? SEM_FAILED : sem;
}

/* The reader of a ZeroBuffer holds its lock file for its whole life: a
 * buffer without a held lock file (of a trusted owner) is a squatter's, or
 * one whose reader we cannot tell alive. Returns 0, -EPERM, -ENOLCK, or
 * -ENOENT when the reader is gone meanwhile (retry), -EACCES when the lock
 * directory is not to be trusted. */
static int
check_lock (zb_writer * writer)
{
  struct stat st;
  uint64_t pid;
  int ret = zb_lock_probe (writer->seg.name, &st);

  if (ret == 1)
    return owner_trusted (writer, st.st_uid) ? 0 : -EPERM;
  if (ret < 0 && ret != -ENOENT)
    return ret;
  /* A reader that just closed (pid cleared first, lock file removed next)
   * is "not found yet", not a squatter. */
  pid = ZB_LOAD (writer->seg.oieb->reader_pid);
  if (pid == 0 || !zb_pid_alive (pid))
    return -ENOENT;
  return -ENOLCK;
}

/* Does /dev/shm/NAME still name the segment we mapped? */
static int
same_segment (zb_writer * writer)
{
  char path[ZB_NAME_MAX + 16];
  struct stat st;

  snprintf (path, sizeof (path), "/dev/shm/%s", writer->seg.name);
  return stat (path, &st) == 0 && st.st_ino == writer->shm_ino
      && st.st_dev == writer->shm_dev;
}

static int
reader_state (zb_writer * writer)
{
  uint64_t pid = ZB_LOAD (writer->seg.oieb->reader_pid);

  writer->reader_checked_ms = zb_now_ms ();
  if (pid == 0)
    return -EPIPE;
  if (zb_peer_alive (&writer->reader, pid))
    return 0;
  /* The pid may belong to another PID namespace (a container): the reader
   * is also alive while it holds the lock of the segment we write to. */
  if (same_segment (writer) && zb_lock_held (writer->seg.name))
    return 0;
  return -EOWNERDEAD;
}

/* Returns 0, or -EAGAIN (internal) while the previous writer died and the
 * reader has not yet recovered the ring from it, unless @take_over. */
static int
try_connect (const char *name, zb_writer * writer, int take_over)
{
  char obj[ZB_NAME_MAX + 16];
  zb_segment *seg = &writer->seg;
  struct stat st, st_lock;
  zb_oieb peek;
  uint64_t expected, pos, free_bytes, size;
  int fd, lock_fd, ret, attempt;

  /* The reader stores its pid last: until then the segment is still being
   * created (or its reader closed it), as good as missing. */
  ret = zb_oieb_peek (name, &peek, &size);
  if (ret < 0)
    return ret;
  if (size < ZB_OIEB_SIZE || peek.reader_pid == 0)
    return -ENOENT;
  /* Before anything is mapped: a file of the wrong size is refused at the
   * cost of one read. */
  if (zb_segment_validate (&peek, size) < 0)
    return -EPROTO;

  zb_shm_name (obj, sizeof (obj), name);
  fd = shm_open (obj, O_RDWR | O_CLOEXEC, 0);
  if (fd < 0)
    return -errno;
  if (fstat (fd, &st) < 0) {
    ret = -errno;
    close (fd);
    return ret;
  }
  /* Never stream into another user's segment (unless allowed): who owns
   * the file we opened, not what the name points at later. */
  if (!S_ISREG (st.st_mode) || !owner_trusted (writer, st.st_uid)) {
    close (fd);
    return S_ISREG (st.st_mode) ? -EPERM : -EPROTO;
  }
  writer->shm_ino = st.st_ino;
  writer->shm_dev = st.st_dev;
  writer->shm_mode = st.st_mode & 07777;
  ret = zb_segment_map (seg, fd, (uint64_t) st.st_size, PROT_READ | PROT_WRITE);
  /* The flock goes on a descriptor of its own: a mapping keeps the file
   * it was made from open, and with it any lock on that file, in every
   * fork()ed child that inherits the mapping. */
  lock_fd = ret < 0 ? -1 : shm_open (obj, O_RDONLY | O_CLOEXEC, 0);
  if (ret == 0 && lock_fd < 0)
    ret = -errno;
  close (fd);
  if (ret == 0 && (fstat (lock_fd, &st_lock) < 0
          || st_lock.st_ino != st.st_ino || st_lock.st_dev != st.st_dev))
    ret = -ENOENT;              /* replaced meanwhile */
  if (ret < 0) {
    if (lock_fd >= 0)
      close (lock_fd);
    zb_segment_unmap (seg);
    return ret;
  }
  writer->shm_lock.fd = lock_fd;        /* registered once connected */

  /* A segment whose reader is gone is as good as missing. */
  if (reader_state (writer) < 0) {
    ret = -ENOENT;
    goto error;
  }
  ret = check_lock (writer);
  if (ret < 0)
    goto error;
  seg->sems_mapped = 1;
  seg->sem_w = open_sem (writer, 'w', name, &ret);
  if (seg->sem_w == SEM_FAILED)
    goto error;
  seg->sem_r = open_sem (writer, 'r', name, &ret);
  if (seg->sem_r == SEM_FAILED)
    goto error;

  pos = ZB_LOAD (seg->oieb->payload_write_pos);
  free_bytes = ZB_LOAD (seg->oieb->payload_free_bytes);
  if (pos > seg->payload_size || free_bytes > seg->payload_size) {
    ret = -EPROTO;
    goto error;
  }

  /* Take the writer slot unless a live writer holds it. */
  expected = ZB_LOAD (seg->oieb->writer_pid);
  if (expected != 0 && zb_pid_alive (expected)) {
    ret = -EBUSY;
    goto error;
  }
  /* Our writers hold an exclusive flock on the segment for the whole
   * connection: it tells a live writer from a dead one even where its pid
   * means nothing (another PID namespace). The reader probes it for a
   * moment with a shared lock, hence the retries. */
  for (attempt = 0; flock (writer->shm_lock.fd, LOCK_EX | LOCK_NB) < 0;
      attempt++) {
    struct timespec ts = { 0, 1000 * 1000 };

    if (errno != EWOULDBLOCK || attempt == 20) {
      ret = -EBUSY;
      goto error;
    }
    nanosleep (&ts, NULL);
  }
  /* Under the flock: the pid now cannot change but by a reference writer
   * (which takes no flock) or the reader's recovery (which does). */
  expected = ZB_LOAD (seg->oieb->writer_pid);
  if (expected != 0 && zb_pid_alive (expected)) {
    ret = -EBUSY;
    goto error;
  }
  /* The previous writer died, maybe in the middle of a commit: our reader
   * recovers the ring from what it read (write position, counters, free
   * bytes) and then clears writer_pid. Wait for that; a reader that never
   * does (a reference one) is taken over after ZB_RECOVERY_WAIT_MS. */
  if (expected != 0 && !take_over) {
    ret = -EAGAIN;
    goto error;
  }
  if (!__atomic_compare_exchange_n (&seg->oieb->writer_pid, &expected,
          writer->pid, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
    ret = -EBUSY;
    goto error;
  }
  /* We replace a writer that died before its reader noticed: nobody else
   * will remove its statistics object. */
  if (expected != 0)
    zb_stats_remove_dead (name, expected);

  /* Read again: the reader may have recovered the ring since. */
  pos = ZB_LOAD (seg->oieb->payload_write_pos);
  if (pos > seg->payload_size) {
    ZB_STORE (seg->oieb->writer_pid, 0);
    ret = -EPROTO;
    goto error;
  }
  /* Others may leave write_pos == payload_size; we store 0 instead. */
  writer->write_pos = pos == seg->payload_size ? 0 : pos;
  writer->written_count = ZB_LOAD (seg->oieb->payload_written_count);
  writer->sequence = 1;
  /* What the reader still holds counts as committed before our first
   * frame, so that released bytes start at 0. */
  free_bytes = ZB_LOAD (seg->oieb->payload_free_bytes);
  ZB_STORE (writer->committed, seg->payload_size - (free_bytes >
          seg->payload_size ? seg->payload_size : free_bytes));
  /* Tokens from an earlier writer's era mean nothing to us. */
  drain_tokens (seg->sem_r);
  writer->drain_countdown = DRAIN_INTERVAL;
  ZB_STORE (writer->limit, UINT64_MAX);
  writer->wrap_reserve = UINT64_MAX;
  /* From here a fork()ed child drops its copy of the flock. */
  zb_held_lock_add (&writer->shm_lock, lock_fd);
  return 0;

  /* ERRORS */
error:
  zb_segment_unmap (seg);
  close (lock_fd);
  writer->shm_lock.fd = -1;
  return ret;
}

int
zb_writer_connect (const char *name, const zb_writer_config * config,
    zb_writer ** out)
{
  zb_writer *writer;
  int64_t deadline, take_over_at = -1;
  int ret;

  if (out == NULL)
    return -EINVAL;
  *out = NULL;
  ret = zb_name_check (name);
  if (ret < 0)
    return ret;
  if (config != NULL) {
    size_t i;

    /* Room for later fields: garbage here is a caller built against an
     * older, shorter struct, or one that did not zero it. */
    for (i = 0; i < sizeof (config->reserved) / sizeof (int); i++)
      if (config->reserved[i] != 0)
        return -EINVAL;
  }
  writer = calloc (1, sizeof (*writer));
  if (writer == NULL)
    return -ENOMEM;
  snprintf (writer->seg.name, sizeof (writer->seg.name), "%s", name);
  writer->pid = (uint64_t) getpid ();
  writer->shm_lock.fd = -1;
  writer->stats.lock.fd = -1;
  writer->reader.fd = -1;
  writer->write_timeout_ms = config && config->write_timeout_ms ?
      config->write_timeout_ms : ZB_DEFAULT_WRITE_TIMEOUT_MS;
  writer->allow_uid = config ? config->allow_uid : 0;
  deadline = zb_deadline (config ? config->connect_timeout_ms : 0);

  for (;;) {
    int64_t now;
    struct timespec ts = { 0, 10 * 1000 * 1000 };

    now = zb_now_ms ();
    ret = try_connect (name, writer, take_over_at >= 0 && now >= take_over_at);
    if (ret == -EAGAIN) {
      /* Bounded whatever the connect timeout: see try_connect(). */
      if (take_over_at < 0)
        take_over_at = now + ZB_RECOVERY_WAIT_MS;
      ts.tv_nsec = 2 * 1000 * 1000;
      nanosleep (&ts, NULL);
      continue;
    }
    if (ret != -ENOENT)
      break;
    if (deadline >= 0 && now >= deadline)
      break;
    if (deadline >= 0 && deadline - now < 10)
      ts.tv_nsec = (deadline - now) * 1000 * 1000;
    nanosleep (&ts, NULL);
  }
  if (ret < 0) {
    zb_peer_close (&writer->reader);
    free (writer);
    return ret;
  }
  /* Best effort: without it (a full /dev/shm, a squatted name) only
   * observers miss our counters. */
  zb_stats_publish (&writer->stats, name, writer->pid, writer->shm_mode);
  *out = writer;
  return 0;
}

void
zb_writer_add_drops (zb_writer * writer, uint64_t n)
{
  if (writer == NULL || n == 0)
    return;
  __atomic_fetch_add (&writer->drops, n, __ATOMIC_RELAXED);
  zb_stats_add_drops (&writer->stats, n);
}

uint64_t
zb_writer_drops (zb_writer * writer)
{
  return writer ? __atomic_load_n (&writer->drops, __ATOMIC_RELAXED) : 0;
}

void
zb_writer_disconnect (zb_writer * writer)
{
  uint64_t expected;
  int reader_lost;

  if (writer == NULL)
    return;
  expected = writer->pid;
  /* Release: every frame (posted before) is visible before the reader can
   * see us gone; pairs with the acquire load in the reader's
   * check_writer(). Only clear the slot if it is still ours. */
  __atomic_compare_exchange_n (&writer->seg.oieb->writer_pid, &expected, 0,
      0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED);
  reader_lost = reader_state (writer) == -EOWNERDEAD;
  zb_stats_withdraw (&writer->stats);
  zb_segment_unmap (&writer->seg);
  zb_held_lock_close (&writer->shm_lock);
  /* Nobody else would remove what a killed reader left behind. This only
   * removes objects no live process uses, so a new reader's are safe. */
  if (reader_lost)
    zb_cleanup (writer->seg.name);
  zb_peer_close (&writer->reader);
  free (writer);
}

int
zb_writer_set_metadata (zb_writer * writer, const void *data, size_t size)
{
  zb_segment *seg;
  uint64_t n = size;

  if (writer == NULL || (data == NULL && size > 0) || size == 0)
    return -EINVAL;
  seg = &writer->seg;
  if (writer->metadata_written)
    return -EALREADY;
  if (seg->metadata_size < 8 || n > seg->metadata_size - 8)
    return -EMSGSIZE;
  memcpy (seg->metadata + 8, data, size);
  memcpy (seg->metadata, &n, sizeof (n));
  /* Release: the block is complete before it is declared written. Readers
   * read it after a frame's token, which orders it too. */
  ZB_STORE (seg->oieb->metadata_free_bytes, seg->metadata_size - 8 - n);
  ZB_STORE (seg->oieb->metadata_written_bytes, 8 + n);
  writer->metadata_written = 1;
  return 0;
}

/* May @required more bytes be charged: has the reader freed them, and do
 * they stay within the limit? */
static int
space_ok (zb_writer * writer, uint64_t required)
{
  /* Acquire: the reader finished with the space before crediting it;
   * pairs with the release add in the reader's credit_in_order(). */
  return ZB_LOAD (writer->seg.oieb->payload_free_bytes) >= required
      && writer->committed + required <= ZB_LOAD (writer->limit);
}

/* A writer with a limit (a duplex client whose answers in place keep
 * their requests' bytes, zb_writer_set_limit()) charges the skipped tail
 * of an early wrap against it: the limit then ends in front of the oldest
 * request still held, right after the ring's start, and the next requests
 * wait for that one to be released (zbfilter with max-in-flight=4 behind
 * a sink that keeps its last buffer waited 20 ms every few frames). Wrap
 * early only if the reserve stays within the limit after @required more
 * bytes: room for the requests the client has out at once besides this
 * one (zb_writer_set_wrap_reserve()), else half the ring. A client with
 * one request out at a time behind a sink that keeps the last answer
 * then goes back and forth between two places at the ring's start,
 * instead of through half the ring. */
static int
hot_wrap_keeps_room (zb_writer * writer, uint64_t required)
{
  uint64_t limit = ZB_LOAD (writer->limit);
  uint64_t reserve = writer->wrap_reserve == UINT64_MAX ?
      writer->seg.payload_size / 2 : writer->wrap_reserve;

  return limit == UINT64_MAX || writer->committed + required + reserve <= limit;
}

/* Wait until payload_free_bytes >= @required, within the limit. */
static int
wait_space (zb_writer * writer, uint64_t required)
{
  zb_segment *seg = &writer->seg;
  int64_t deadline;
  int ret;

  if (space_ok (writer, required))
    return 0;                   /* the usual case: no clock read */
  deadline = zb_deadline (writer->write_timeout_ms);
  for (;;) {
    if (space_ok (writer, required))
      return 0;
    if (__atomic_load_n (&writer->wakeup, __ATOMIC_ACQUIRE))
      return -EINTR;
    ret = reader_state (writer);
    if (ret < 0)
      return ret;
    /* Every round, however many tokens a peer posts: a flood of them must
     * not defeat the timeout. */
    if (deadline >= 0 && zb_now_ms () >= deadline)
      return -ENOBUFS;
    zb_sem_wait_until (seg->sem_r, deadline);
  }
}

/* Where a frame of @total bytes (header included) goes from ring position
 * @pos of a ring of @p bytes, once the reader has freed the space: 0 at
 * @pos, 1 after a wrap to 0, or -1 nowhere. Our rule: never leave a tail of
 * 1..15 bytes at the end of the ring (no reference reader survives one), so
 * a frame goes at @pos only if it ends at the end of the ring or 16 bytes
 * or more before it; and after a wrap (skipped tail and frame charged
 * together) only if it fits in [0, pos). The caller has checked that
 * total <= p and that p - total is not 1..15. */
static int
placement (uint64_t p, uint64_t pos, uint64_t total)
{
  uint64_t space_to_end = p - pos;

  if (total <= space_to_end && (total == space_to_end
          || space_to_end - total >= ZB_FRAME_HEADER_SIZE))
    return 0;
  if (pos != 0 && total <= pos)
    return 1;
  return -1;
}

/* A frame of @total bytes (header included) can never be written to a ring
 * of @p bytes: larger than the ring, or leaving 1..15 bytes at its end even
 * from offset 0. */
static int
never_fits (uint64_t p, uint64_t total)
{
  return total > p || (total < p && p - total < ZB_FRAME_HEADER_SIZE);
}

int
zb_writer_acquire (zb_writer * writer, size_t size, void **data)
{
  zb_segment *seg;
  uint64_t p, pos, total, space_to_end, required;
  int wrap, ret;

  if (writer == NULL || data == NULL || size == 0)
    return -EINVAL;
  if (writer->acquired)
    return -EALREADY;
  seg = &writer->seg;
  p = seg->payload_size;
  if (size > p - ZB_FRAME_HEADER_SIZE
      || never_fits (p, ZB_FRAME_HEADER_SIZE + (uint64_t) size))
    return -EMSGSIZE;
  if (ZB_LOAD (seg->oieb->reader_pid) == 0)
    return -EPIPE;
  if (zb_now_ms () - writer->reader_checked_ms >= READER_CHECK_INTERVAL_MS) {
    ret = reader_state (writer);
    if (ret < 0)
      return ret;
  }

  pos = writer->write_pos;
  total = ZB_FRAME_HEADER_SIZE + size;
  space_to_end = p - pos;
  wrap = placement (p, pos, total);
  /* Not from here, however empty the ring gets: the frame neither fits
   * before the end of the ring (without a short tail) nor, after a wrap,
   * in front of the tail it skips, which stays charged until the reader
   * steps over it, and it only does that on the way to a frame. Only a
   * smaller frame moves the position. Tell the caller at once. */
  if (wrap < 0)
    return -E2BIG;
  /* Large frames go back to the start of the ring when the reader has
   * freed it (a wrap that needs no waiting): the ring then spans little
   * more than what the reader holds, and the frames, and what the writer
   * copies them from, stay in the CPU caches instead of streaming through
   * the whole ring (a tee before zbsink at 1080p: 0.96-0.97x of shmsink's
   * rate when one more frame had to fit as well, 1.00-1.07x without). A
   * marker is all it costs; the skipped tail stays charged until the
   * reader steps over it on its way to this frame. A reader that holds
   * its newest frame until the next one arrives gets this frame as that
   * next one, so the wrap must not be taken for a frame the reader skips:
   * a frame that ends exactly at the end of the ring (zbsink's pad
   * records fill the ring up to its end) never wraps early. */
  if (!wrap && pos != 0 && total >= ZB_HOT_WRAP_MIN && total < space_to_end)
    wrap = space_ok (writer, space_to_end + total)
        && hot_wrap_keeps_room (writer, space_to_end + total);
  required = wrap ? space_to_end + total : total;

  ret = wait_space (writer, required);
  if (ret < 0)
    return ret;

  if (wrap) {
    /* In the order of zb_writer_commit(), for the same reasons: the marker
     * is published by the count alone. */
    if (space_to_end >= ZB_FRAME_HEADER_SIZE) {
      zb_frame_header marker = { 0, 0 };

      memcpy (seg->ring + pos, &marker, sizeof (marker));
    }
    ZB_FAULT ("wrap-marker");
    ZB_SUB (seg->oieb->payload_free_bytes, space_to_end);
    /* After the free bytes: pairs with the acquire load in
     * zb_writer_bytes_released(), which reads committed first. */
    ZB_STORE (writer->committed, writer->committed + space_to_end);
    ZB_FAULT ("wrap-free");
    pos = 0;
    writer->write_pos = 0;
    writer->written_count++;
    ZB_STORE (seg->oieb->payload_write_pos, 0);
    ZB_FAULT ("wrap-pos");
    ZB_STORE (seg->oieb->payload_written_count, writer->written_count);
    ZB_FAULT ("wrap-count");
  }
  writer->acquired = 1;
  writer->acquired_pos = pos;
  writer->acquired_size = size;
  *data = seg->ring + pos + ZB_FRAME_HEADER_SIZE;
  return 0;
}

size_t
zb_writer_max_size (zb_writer * writer)
{
  uint64_t p, pos, best = 0;

  if (writer == NULL)
    return 0;
  p = writer->seg.payload_size;
  pos = writer->write_pos;
  if (pos == 0)
    best = p;
  else {
    /* a frame up to the end of the ring, or one after a wrap; never one
     * that would leave 1..15 bytes (a short tail left by another writer
     * can put pos past p - 16) */
    if (!never_fits (p, p - pos))
      best = p - pos;
    if (pos > best)
      best = pos <= p - ZB_FRAME_HEADER_SIZE ? pos : p - ZB_FRAME_HEADER_SIZE;
  }
  return best > ZB_FRAME_HEADER_SIZE ? best - ZB_FRAME_HEADER_SIZE : 0;
}

size_t
zb_writer_space_to_end (zb_writer * writer)
{
  if (writer == NULL)
    return 0;
  return writer->seg.payload_size - writer->write_pos;
}

/* Would zb_writer_acquire() of @size bytes go ahead without waiting for
 * space? 1 also when it fails at once (-EMSGSIZE, -E2BIG), 0 when it would
 * wait; the reader only ever frees more. For fan-out readers that must
 * never be waited for (fanout.c). */
int
zb_writer_space_ready (zb_writer * writer, size_t size)
{
  uint64_t p = writer->seg.payload_size, pos = writer->write_pos, total;
  int wrap;

  if (size == 0 || size > p - ZB_FRAME_HEADER_SIZE
      || never_fits (p, ZB_FRAME_HEADER_SIZE + (uint64_t) size))
    return 1;
  total = ZB_FRAME_HEADER_SIZE + size;
  wrap = placement (p, pos, total);
  if (wrap < 0)
    return 1;
  return space_ok (writer, wrap ? p - pos + total : total);
}

size_t
zb_max_size_always (size_t payload_size)
{
  /* A frame of T bytes with header goes at pos when pos + T = P or
   * pos + T <= P - 16, else after a wrap when T <= pos. With 2T <= P - 15
   * one of them holds at every pos: pos >= T wraps (pos > 0), and pos < T
   * leaves P - pos - T > P - 2T >= 15 bytes, so at least 16. With
   * 2T >= P - 14, pos = P - T - 15 (< T) leaves exactly 15 bytes and
   * cannot wrap either. */
  if (payload_size < 15 + 2 * (ZB_FRAME_HEADER_SIZE + 1))
    return 0;
  return (payload_size - 15) / 2 - ZB_FRAME_HEADER_SIZE;
}

int
zb_writer_cancel (zb_writer * writer)
{
  if (writer == NULL || !writer->acquired)
    return -EINVAL;
  /* Nothing of the frame was published: the count makes a frame exist.
   * A wrap taken by the acquire stays taken (its marker is counted). */
  writer->acquired = 0;
  return 0;
}

int
zb_writer_commit (zb_writer * writer)
{
  zb_segment *seg;
  zb_frame_header hdr;
  uint64_t total, next;

  if (writer == NULL || !writer->acquired)
    return -EINVAL;
  seg = &writer->seg;
  hdr.size = writer->acquired_size;
  hdr.sequence = writer->sequence;
  memcpy (seg->ring + writer->acquired_pos, &hdr, sizeof (hdr));

  ZB_FAULT ("commit-header");

  total = ZB_FRAME_HEADER_SIZE + hdr.size;
  next = writer->acquired_pos + total;
  writer->write_pos = next == seg->payload_size ? 0 : next;
  writer->written_count++;
  /* The written count is the commit point: a frame exists once it is
   * counted, whether or not its token follows. A writer killed before it
   * leaves at most free bytes and write_pos ahead of the count, which the
   * reader repairs from what it has read once it sees the writer gone (see
   * recover_ring() in reader.c); killed after it, before the token, the
   * reader still finds the frame by the count. Release: header and payload
   * stores happen before the counters and the token; pairs with the acquire
   * load of payload_written_count in the reader's frame_committed(). */
  ZB_SUB (seg->oieb->payload_free_bytes, total);
  /* After the free bytes: pairs with the acquire load in
   * zb_writer_bytes_released(), which reads committed first. */
  ZB_STORE (writer->committed, writer->committed + total);
  ZB_FAULT ("commit-free");
  ZB_STORE (seg->oieb->payload_write_pos, writer->write_pos);
  ZB_FAULT ("commit-pos");
  ZB_STORE (seg->oieb->payload_written_count, writer->written_count);
  ZB_FAULT ("commit-count");
  sem_post (seg->sem_w);
  ZB_FAULT ("commit-post");

  writer->acquired = 0;
  writer->sequence++;
  writer->frames++;
  if (--writer->drain_countdown == 0) {
    writer->drain_countdown = DRAIN_INTERVAL;
    drain_tokens (seg->sem_r);
  }
  return 0;
}

int
zb_writer_write (zb_writer * writer, const void *data, size_t size)
{
  void *dst;
  int ret;

  if (data == NULL)
    return -EINVAL;
  ret = zb_writer_acquire (writer, size, &dst);
  if (ret < 0)
    return ret;
  memcpy (dst, data, size);
  return zb_writer_commit (writer);
}

int
zb_writer_set_write_timeout (zb_writer * writer, int timeout_ms)
{
  if (writer == NULL || timeout_ms < 0)
    return -EINVAL;
  writer->write_timeout_ms = timeout_ms ? timeout_ms :
      ZB_DEFAULT_WRITE_TIMEOUT_MS;
  return 0;
}

void
zb_writer_wakeup (zb_writer * writer)
{
  if (writer == NULL)
    return;
  __atomic_store_n (&writer->wakeup, 1, __ATOMIC_RELEASE);
  /* A spare token only makes wait_space() look at the counters again. */
  sem_post (writer->seg.sem_r);
}

void
zb_writer_wakeup_clear (zb_writer * writer)
{
  if (writer != NULL)
    __atomic_store_n (&writer->wakeup, 0, __ATOMIC_RELEASE);
}

int
zb_writer_check_reader (zb_writer * writer)
{
  if (writer == NULL)
    return -EINVAL;
  return reader_state (writer);
}

uint64_t
zb_writer_frames_written (zb_writer * writer)
{
  return writer ? writer->frames : 0;
}

uint64_t
zb_writer_bytes_committed (zb_writer * writer)
{
  return writer ? ZB_LOAD (writer->committed) : 0;
}

uint64_t
zb_writer_bytes_released (zb_writer * writer)
{
  uint64_t committed, free_bytes, used, p;

  if (writer == NULL)
    return 0;
  p = writer->seg.payload_size;
  /* committed first, then the free bytes: the writer lowers the free
   * bytes before it raises committed (release store in commit and wrap),
   * so a commit seen here is also seen in the free bytes. A commit that
   * races us makes the result smaller, never larger. */
  committed = ZB_LOAD (writer->committed);
  free_bytes = ZB_LOAD (writer->seg.oieb->payload_free_bytes);
  used = free_bytes >= p ? 0 : p - free_bytes;
  return committed >= used ? committed - used : 0;
}

int
zb_writer_get_status (zb_writer * writer, zb_status * status)
{
  if (writer == NULL || status == NULL)
    return -EINVAL;
  zb_status_fill (&writer->seg, status);
  return 0;
}

void
zb_writer_set_wrap_reserve (zb_writer * writer, uint64_t reserve)
{
  writer->wrap_reserve = reserve;
}

void
zb_writer_set_limit (zb_writer * writer, uint64_t limit)
{
  ZB_STORE (writer->limit, limit);
  /* A writer waiting for room looks again. */
  sem_post (writer->seg.sem_r);
}

uint64_t
zb_writer_ring_size (zb_writer * writer)
{
  return writer->seg.payload_size;
}

void
zb_writer_peer_reserved (zb_writer * writer, uint64_t out[4])
{
  int i;

  for (i = 0; i < 4; i++)
    out[i] = ZB_LOAD (writer->seg.oieb->reserved[i]);
}
