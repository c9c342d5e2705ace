/* libzerobuffer - the reader: creates the buffer and consumes frames */

#include "zb-private.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* Most tokens take_token() drops in one call. */
#define DROP_MAX 4096

/* A stretch of the ring handed out and not yet credited back: a frame, or
 * the waste skipped at a wrap (released from the start). */
typedef struct
{
  uint64_t bytes;
  uint8_t is_frame;
  uint8_t released;
} zb_hold;

enum
{
  CREATED_SHM = 1 << 0,
  CREATED_SEM_W = 1 << 1,
  CREATED_SEM_R = 1 << 2,
};

enum
{
  WRITER_NONE,                  /* none seen since the last one left */
  WRITER_CONNECTED,
};

struct zb_reader
{
  zb_segment seg;
  zb_held_lock lock_file;       /* /tmp/zerobuffer/NAME.lock, flock'ed */
  int lock_dir_fd;              /* /tmp/zerobuffer, checked at creation */
  int shm_fd;                   /* open for probing the writer's flock */
  unsigned int created;         /* CREATED_*: what zb_reader_create made */

  /* Used by zb_reader_read() only (one thread at a time). */
  uint64_t read_pos;            /* authoritative; mirrored to the OIEB */
  uint64_t read_count;
  uint64_t expected_sequence;
  int writer_state;
  uint64_t lost_writer_pid;     /* the dead writer last reported */
  int corrupt;                  /* the current writer sent a bad frame */
  /* Frames taken by the written count alone, whose tokens (if they ever
   * come) are to be dropped: tokens are posted in frame order. */
  uint64_t tokens_owed;
  int64_t unposted_since;       /* a counted frame without token since */

  int wakeup;                   /* atomic */

  /* Guarded by lock: frames out in ring order, oldest at head. */
  pthread_mutex_t lock;
  zb_hold *holds;
  size_t holds_capacity;        /* power of two */
  size_t holds_head;
  size_t holds_count;
  uint64_t head_id;             /* id of holds[holds_head] */
  size_t held_bytes;            /* frames only, not skipped tails */
};

/* Credit released stretches back to the writer, oldest first, stopping at
 * the first one still held. Called with reader->lock held. */
static void
credit_in_order (zb_reader * reader)
{
  zb_oieb *oieb = reader->seg.oieb;

  while (reader->holds_count > 0) {
    zb_hold *h = &reader->holds[reader->holds_head];

    if (!h->released)
      break;
    /* Release: our loads of the payload happen before the space is seen
     * free; pairs with the acquire load of payload_free_bytes in the
     * writer's wait_space(). */
    ZB_ADD (oieb->payload_free_bytes, h->bytes);
    ZB_FAULT ("release-credit");
    if (h->is_frame) {
      sem_post (reader->seg.sem_r);
      ZB_FAULT ("release-post");
      reader->held_bytes -= h->bytes;
    }
    reader->holds_head = (reader->holds_head + 1) & (reader->holds_capacity -
        1);
    reader->holds_count--;
    reader->head_id++;
  }
}

/* Make room for @n more stretches. Called with reader->lock held. */
static int
reserve_holds (zb_reader * reader, size_t n)
{
  while (reader->holds_count + n > reader->holds_capacity) {
    size_t cap = reader->holds_capacity * 2;
    zb_hold *grown = malloc (cap * sizeof (zb_hold));
    size_t i;

    if (grown == NULL)
      return -ENOMEM;
    for (i = 0; i < reader->holds_count; i++)
      grown[i] = reader->holds[(reader->holds_head + i) &
          (reader->holds_capacity - 1)];
    free (reader->holds);
    reader->holds = grown;
    reader->holds_capacity = cap;
    reader->holds_head = 0;
  }
  return 0;
}

/* Append a stretch (room reserved); returns its id. Called with
 * reader->lock held. */
static uint64_t
push_hold (zb_reader * reader, uint64_t bytes, int is_frame)
{
  zb_hold *h;
  uint64_t id;

  h = &reader->holds[(reader->holds_head + reader->holds_count) &
      (reader->holds_capacity - 1)];
  h->bytes = bytes;
  h->is_frame = is_frame;
  h->released = !is_frame;
  id = reader->head_id + reader->holds_count;
  reader->holds_count++;
  if (is_frame)
    reader->held_bytes += bytes;
  return id;
}

/* The writer left: forget its metadata so the next writer (reference ones
 * refuse a written block) can write its own. */
static void
reset_metadata (zb_reader * reader)
{
  zb_segment *seg = &reader->seg;

  if (seg->metadata_size >= 8)
    memset (seg->metadata, 0, 8);
  ZB_STORE (seg->oieb->metadata_free_bytes, seg->metadata_size);
  ZB_STORE (seg->oieb->metadata_written_bytes, 0);
}

/* Our writers hold an exclusive flock on the segment while connected (see
 * try_connect()): a writer whose pid looks dead but holds it is alive in
 * another PID namespace. */
static int
writer_holds_lock (zb_reader * reader)
{
  if (flock (reader->shm_fd, LOCK_SH | LOCK_NB) == 0) {
    flock (reader->shm_fd, LOCK_UN);
    return 0;
  }
  return errno == EWOULDBLOCK;
}

/* Is the writer connected now and alive (here or, holding its lock, in
 * another PID namespace)? For the duplex server. */
int
zb_reader_writer_alive (zb_reader * reader)
{
  uint64_t pid = ZB_LOAD (reader->seg.oieb->writer_pid);

  return pid != 0 && (zb_pid_alive (pid) || writer_holds_lock (reader));
}

/* Is the next frame at read_pos counted in payload_written_count? A wrap
 * (marker or short tail) is counted on its own, so it needs one more. */
static int
frame_committed (zb_reader * reader)
{
  zb_segment *seg = &reader->seg;
  uint64_t p = seg->payload_size;
  uint64_t pos = reader->read_pos;
  uint64_t need = 1;
  zb_frame_header hdr;
  /* Acquire: the frame's stores happen before we read it; pairs with the
   * release store of the count in the writer's zb_writer_commit(). */
  uint64_t written = ZB_LOAD (seg->oieb->payload_written_count);

  if (written == reader->read_count || written - reader->read_count > p)
    return 0;
  if (p - pos < ZB_FRAME_HEADER_SIZE) {
    need = 2;
  } else {
    memcpy (&hdr, seg->ring + pos, sizeof (hdr));
    if (hdr.size == 0 && hdr.sequence == 0)
      need = 2;
  }
  return written - reader->read_count >= need;
}

/* The writer is gone and every frame it counted was read: make the ring
 * what a new writer can trust, from what we know. A writer killed inside a
 * commit may have taken free bytes or moved write_pos for a frame it never
 * counted; the frames read so far end at read_pos, and exactly what we
 * hold is not free. Under the segment's flock, which our writers hold while
 * connected: one that got in meanwhile wrote on top of a consistent ring
 * (it waited for this, see try_connect() in writer.c) and keeps it. Clears
 * writer_pid, which such a writer waits for. Returns -EBUSY while a writer
 * that is connecting holds the flock for a moment: try again later. */
static int
recover_ring (zb_reader * reader, uint64_t gone_pid)
{
  zb_segment *seg = &reader->seg;
  uint64_t held = 0;
  size_t i;
  int locked;

  locked = flock (reader->shm_fd, LOCK_EX | LOCK_NB) == 0;
  if (!locked && ZB_LOAD (seg->oieb->writer_pid) == gone_pid)
    return -EBUSY;
  if (locked && ZB_LOAD (seg->oieb->writer_pid) == gone_pid) {
    pthread_mutex_lock (&reader->lock);
    for (i = 0; i < reader->holds_count; i++)
      held += reader->holds[(reader->holds_head + i) &
          (reader->holds_capacity - 1)].bytes;
    ZB_STORE (seg->oieb->payload_write_pos, reader->read_pos);
    ZB_STORE (seg->oieb->payload_written_count, reader->read_count);
    ZB_STORE (seg->oieb->payload_free_bytes, seg->payload_size - held);
    pthread_mutex_unlock (&reader->lock);
    reset_metadata (reader);
    __atomic_compare_exchange_n (&seg->oieb->writer_pid, &gone_pid, 0, 0,
        __ATOMIC_ACQ_REL, __ATOMIC_RELAXED);
  }
  /* Late tokens of frames taken by the count alone: the writer that owed
   * them is gone, so they are posted by now or never. */
  for (i = 0; i < reader->tokens_owed && sem_trywait (seg->sem_w) == 0; i++);
  reader->tokens_owed = 0;
  reader->corrupt = 0;
  reader->unposted_since = -1;
  if (locked)
    flock (reader->shm_fd, LOCK_UN);
  return 0;
}

/* Look at the writer after a wait found no token. Returns 1 to take the
 * frame at read_pos without its token, 0 to keep waiting, or -EPIPE /
 * -EOWNERDEAD once when the writer left or died with every frame it
 * counted read. */
static int
check_writer (zb_reader * reader)
{
  uint64_t pid = ZB_LOAD (reader->seg.oieb->writer_pid);
  int gone;

  /* A dead writer's pid may stay in the OIEB: report it once. */
  if (reader->writer_state == WRITER_NONE && pid != 0
      && pid != reader->lost_writer_pid) {
    reader->writer_state = WRITER_CONNECTED;
    return 0;
  }
  if (reader->writer_state != WRITER_CONNECTED)
    return 0;
  if (pid == 0)
    gone = -EPIPE;
  else if (!zb_pid_alive (pid) && !writer_holds_lock (reader))
    gone = -EOWNERDEAD;
  else
    gone = 0;
  if (!reader->corrupt && frame_committed (reader)) {
    int64_t now = zb_now_ms ();

    /* A live writer posts right after it counts: give it a slice. One
     * that is gone never will (killed in between). */
    if (gone == 0 && reader->unposted_since < 0)
      reader->unposted_since = now;
    if (gone < 0 || now - reader->unposted_since >= ZB_WAIT_SLICE_MS) {
      if (sem_trywait (reader->seg.sem_w) < 0)
        reader->tokens_owed++;
      reader->unposted_since = -1;
      return 1;
    }
    return 0;
  }
  reader->unposted_since = -1;
  if (gone == 0)
    return 0;
  if (recover_ring (reader, pid) < 0)
    return 0;
  /* Nobody else knows that it died: its statistics object goes now. */
  if (gone == -EOWNERDEAD)
    zb_stats_remove_dead (reader->seg.name, pid);
  reader->writer_state = WRITER_NONE;
  reader->lost_writer_pid = pid;
  return gone;
}

/* Take the frame at read_pos (its token taken, or owed). */
static int
take_frame (zb_reader * reader, zb_frame * frame)
{
  zb_segment *seg = &reader->seg;
  uint64_t p = seg->payload_size;
  uint64_t pos = reader->read_pos;
  uint64_t waste = 0;
  uint64_t skipped = 0;
  zb_frame_header hdr;
  uint64_t total, id;
  unsigned int flags = 0;
  int ret;

  /* Acquire: header and payload loads happen after the token; pairs with
   * the release store of payload_written_count in the writer's commit,
   * which precedes its sem_post. */
  (void) ZB_LOAD (seg->oieb->payload_written_count);

  for (;;) {
    if (p - pos < ZB_FRAME_HEADER_SIZE) {
      /* A tail too short for a header: an implicit wrap. */
    } else {
      memcpy (&hdr, seg->ring + pos, sizeof (hdr));
      if (hdr.size != 0 || hdr.sequence != 0)
        break;
      /* A wrap marker. */
    }
    if (skipped > 0 || pos == 0)
      goto corrupt;
    waste = p - pos;
    skipped = 1;
    pos = 0;
  }

  if (hdr.size == 0 || hdr.size > p - pos - ZB_FRAME_HEADER_SIZE)
    goto corrupt;
  if (hdr.sequence == 1)
    flags |= ZB_FRAME_NEW_WRITER;
  else if (hdr.sequence != reader->expected_sequence) {
    ret = -EILSEQ;
    goto bad;
  }

  total = ZB_FRAME_HEADER_SIZE + hdr.size;
  pthread_mutex_lock (&reader->lock);
  ret = reserve_holds (reader, 2);
  if (ret == 0) {
    if (waste > 0)
      push_hold (reader, waste, 0);
    id = push_hold (reader, total, 1);
    credit_in_order (reader);
  }
  pthread_mutex_unlock (&reader->lock);
  if (ret < 0) {
    /* Nothing taken: the frame stays for the next call, with its token. */
    sem_post (seg->sem_w);
    return ret;
  }
  ZB_FAULT ("take-holds");

  reader->read_pos = pos + total == p ? 0 : pos + total;
  reader->read_count += skipped + 1;
  ZB_STORE (seg->oieb->payload_read_pos, reader->read_pos);
  ZB_FAULT ("take-pos");
  ZB_STORE (seg->oieb->payload_read_count, reader->read_count);
  ZB_FAULT ("take-count");
  reader->expected_sequence = hdr.sequence + 1;
  reader->writer_state = WRITER_CONNECTED;

  frame->data = seg->ring + pos + ZB_FRAME_HEADER_SIZE;
  frame->size = hdr.size;
  frame->sequence = hdr.sequence;
  frame->flags = flags;
  frame->id = id;
  return 0;

  /* ERRORS */
corrupt:
  ret = -EBADMSG;
bad:
  /* Nothing more of this writer can be trusted: its tokens are dropped
   * until it is gone, then the ring is recovered (check_writer()). */
  reader->corrupt = 1;
  reader->writer_state = WRITER_CONNECTED;
  return ret;
}

/* Take a token for the next frame, dropping the late tokens of frames
 * already taken (and every token of a corrupt writer: at most
 * DROP_MAX a call, so that one posting without pause cannot keep us
 * here). Returns 0, or -ETIMEDOUT when none came by @deadline_ms (or at
 * once when !@wait). */
static int
take_token (zb_reader * reader, int64_t deadline_ms, int wait)
{
  sem_t *sem = reader->seg.sem_w;
  int dropped;

  for (dropped = 0;; dropped++) {
    if (dropped == DROP_MAX)
      return -ETIMEDOUT;
    if (sem_trywait (sem) < 0
        && (!wait || zb_sem_wait_until (sem, deadline_ms) < 0))
      return -ETIMEDOUT;
    if (reader->tokens_owed == 0 && !reader->corrupt)
      return 0;
    if (reader->tokens_owed > 0)
      reader->tokens_owed--;
    wait = 0;
  }
}

int
zb_reader_read (zb_reader * reader, int timeout_ms, zb_frame * frame)
{
  int64_t deadline;
  int ret;

  if (reader == NULL || frame == NULL)
    return -EINVAL;
  deadline = zb_deadline (timeout_ms);
  for (;;) {
    if (__atomic_load_n (&reader->wakeup, __ATOMIC_ACQUIRE))
      return -EINTR;
    if (take_token (reader, deadline, timeout_ms != 0) == 0) {
      reader->unposted_since = -1;
      break;
    }
    ret = check_writer (reader);
    if (ret == 1)
      break;
    if (ret < 0)
      return ret;
    if (timeout_ms == 0)
      return -EAGAIN;
    if (deadline >= 0 && zb_now_ms () >= deadline)
      return -ETIMEDOUT;
  }
  return take_frame (reader, frame);
}

int
zb_reader_release (zb_reader * reader, const zb_frame * frame)
{
  uint64_t idx;
  zb_hold *h;
  int ret = -EINVAL;

  if (reader == NULL || frame == NULL)
    return -EINVAL;
  /* Ids count from 0 in every reader: a frame of another reader has an id
   * that may be held here too, but its payload lies in another ring. */
  if ((uintptr_t) frame->data < (uintptr_t) reader->seg.ring +
      ZB_FRAME_HEADER_SIZE
      || (uintptr_t) frame->data >= (uintptr_t) reader->seg.ring +
      reader->seg.payload_size
      || frame->size > reader->seg.payload_size - ZB_FRAME_HEADER_SIZE)
    return -EINVAL;
  pthread_mutex_lock (&reader->lock);
  idx = frame->id - reader->head_id;
  if (frame->id >= reader->head_id && idx < reader->holds_count) {
    h = &reader->holds[(reader->holds_head + idx) &
        (reader->holds_capacity - 1)];
    if (h->is_frame && !h->released
        && h->bytes == ZB_FRAME_HEADER_SIZE + frame->size) {
      h->released = 1;
      credit_in_order (reader);
      ret = 0;
    }
  }
  pthread_mutex_unlock (&reader->lock);
  return ret;
}

size_t
zb_reader_held_bytes (zb_reader * reader)
{
  size_t held;

  if (reader == NULL)
    return 0;
  pthread_mutex_lock (&reader->lock);
  held = reader->held_bytes;
  pthread_mutex_unlock (&reader->lock);
  return held;
}

int
zb_reader_get_metadata (zb_reader * reader, const void **data, size_t *size)
{
  if (reader == NULL || data == NULL || size == NULL)
    return -EINVAL;
  return zb_metadata_view (&reader->seg, data, size);
}

void
zb_reader_wakeup (zb_reader * reader)
{
  if (reader != NULL)
    __atomic_store_n (&reader->wakeup, 1, __ATOMIC_RELEASE);
}

void
zb_reader_wakeup_clear (zb_reader * reader)
{
  if (reader != NULL)
    __atomic_store_n (&reader->wakeup, 0, __ATOMIC_RELEASE);
}

int
zb_reader_get_status (zb_reader * reader, zb_status * status)
{
  if (reader == NULL || status == NULL)
    return -EINVAL;
  zb_status_fill (&reader->seg, status);
  return 0;
}

/* Objects of @name left by a reader that is gone: since we hold the lock,
 * no reader is alive unless its lock file was removed under it. A writer
 * still attached to the old segment notices the dead reader by itself. */
static int
remove_stale (const char *name)
{
  zb_oieb oieb;
  uint64_t size;

  if (zb_oieb_peek (name, &oieb, &size) == 0) {
    /* Somebody else's file under our name: not ours to delete. */
    if (zb_segment_removable (&oieb, size) < 0)
      return -EPROTO;
    if (oieb.reader_pid != (uint64_t) getpid ()
        && zb_pid_alive (oieb.reader_pid))
      return -EEXIST;
  }
  zb_unlink_objects (name);
  return 0;
}

/* Unlink our lock file if the entry is still the file we hold. */
static void
unlink_own_lock (zb_reader * reader)
{
  char file[ZB_NAME_MAX + 8];
  struct stat st_fd, st_path;

  snprintf (file, sizeof (file), "%s.lock", reader->seg.name);
  if (fstat (reader->lock_file.fd, &st_fd) == 0
      && fstatat (reader->lock_dir_fd, file, &st_path,
          AT_SYMLINK_NOFOLLOW) == 0 && st_fd.st_ino == st_path.st_ino
      && st_fd.st_dev == st_path.st_dev)
    unlinkat (reader->lock_dir_fd, file, 0);
}

static sem_t *
create_sem (char kind, const char *name, mode_t mode)
{
  char obj[ZB_NAME_MAX + 16];
  char path[ZB_NAME_MAX + 32];
  sem_t *sem;

  zb_sem_name (obj, sizeof (obj), kind, name);
  sem = sem_open (obj, O_CREAT | O_EXCL, mode, 0);
  if (sem == SEM_FAILED)
    return SEM_FAILED;
  /* sem_open applies the umask; set exactly what was asked. */
  snprintf (path, sizeof (path), "/dev/shm/sem.sem-%c-%s", kind, name);
  chmod (path, mode);
  return sem;
}

int
zb_reader_create (const char *name, const zb_reader_config * config,
    zb_reader ** out)
{
  zb_reader_config defaults = { ZB_DEFAULT_METADATA_SIZE,
    ZB_DEFAULT_PAYLOAD_SIZE, ZB_DEFAULT_MODE
  };
  char obj[ZB_NAME_MAX + 16];
  zb_reader *reader = NULL;
  uint64_t m, p, total;
  mode_t mode;
  int shm_fd = -1;
  int lock_fd;
  int ret;

  if (out == NULL)
    return -EINVAL;
  *out = NULL;
  ret = zb_name_check (name);
  if (ret < 0)
    return ret;
  if (config == NULL)
    config = &defaults;
  if (config->payload_size == 0)
    return -EINVAL;
  /* Far beyond any real segment, and small enough that sums cannot wrap. */
  if (config->metadata_size > (1ull << 40) || config->payload_size > (1ull <<
          44))
    return -EINVAL;
  m = zb_align64 (config->metadata_size);
  p = zb_align64 (config->payload_size);
  total = ZB_OIEB_SIZE + m + p;
  mode = config->mode ? config->mode & 0777 : ZB_DEFAULT_MODE;

  reader = calloc (1, sizeof (*reader));
  if (reader == NULL)
    return -ENOMEM;
  reader->lock_file.fd = -1;
  reader->lock_dir_fd = -1;
  reader->unposted_since = -1;
  reader->shm_fd = -1;
  reader->holds_capacity = 64;
  reader->holds = malloc (reader->holds_capacity * sizeof (zb_hold));
  if (reader->holds == NULL) {
    free (reader);
    return -ENOMEM;
  }
  pthread_mutex_init (&reader->lock, NULL);
  snprintf (reader->seg.name, sizeof (reader->seg.name), "%s", name);

  ret = zb_lock_dir_create ();
  if (ret < 0)
    goto no_lock;
  reader->lock_dir_fd = ret;
  ret = zb_lock_acquire (reader->lock_dir_fd, name, mode, &lock_fd);
  if (ret < 0)
    goto no_lock;
  /* A fork()ed child drops its copy of the lock (os.c). */
  zb_held_lock_add (&reader->lock_file, lock_fd);
  zb_cleanup_stale_all (reader->lock_dir_fd, name);
  zb_cleanup_writer_objects ();
  ret = remove_stale (name);
  if (ret < 0)
    goto error;

  zb_shm_name (obj, sizeof (obj), name);
  shm_fd = shm_open (obj, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, mode);
  if (shm_fd < 0) {
    ret = -errno;
    goto error;
  }
  reader->created |= CREATED_SHM;
  if (fchmod (shm_fd, mode) < 0 || ftruncate (shm_fd, (off_t) total) < 0) {
    ret = -errno;
    goto error;
  }
  /* Reserve the pages now: a full /dev/shm fails here with ENOSPC instead
   * of a SIGBUS in the middle of a stream. */
  ret = -posix_fallocate (shm_fd, 0, (off_t) total);
  if (ret < 0)
    goto error;
  {
    /* The mapping validates an OIEB, so write it first. */
    zb_oieb oieb = { 0 };

    oieb.oieb_size = ZB_OIEB_SIZE;
    oieb.version[0] = ZB_VERSION_MAJOR;
    oieb.version[1] = ZB_VERSION_MINOR;
    oieb.version[2] = ZB_VERSION_PATCH;
    oieb.metadata_size = m;
    oieb.metadata_free_bytes = m;
    oieb.payload_size = p;
    oieb.payload_free_bytes = p;
    if (pwrite (shm_fd, &oieb, sizeof (oieb), 0) != (ssize_t) sizeof (oieb)) {
      ret = errno ? -errno : -EIO;
      goto error;
    }
  }
  ret = zb_segment_map (&reader->seg, shm_fd, total, PROT_READ | PROT_WRITE);
  if (ret < 0)
    goto error;
  reader->shm_fd = shm_fd;
  shm_fd = -1;

  reader->seg.sem_w = create_sem ('w', name, mode);
  if (reader->seg.sem_w == SEM_FAILED) {
    ret = -errno;
    goto error;
  }
  reader->created |= CREATED_SEM_W;
  reader->seg.sem_r = create_sem ('r', name, mode);
  if (reader->seg.sem_r == SEM_FAILED) {
    ret = -errno;
    goto error;
  }
  reader->created |= CREATED_SEM_R;

  reader->expected_sequence = 1;
  reader->writer_state = WRITER_NONE;
  /* Last: writers treat reader_pid 0 as "no reader". */
  ZB_STORE (reader->seg.oieb->reader_pid, (uint64_t) getpid ());
  *out = reader;
  return 0;

  /* ERRORS */
error:
  if (shm_fd >= 0)
    close (shm_fd);
  if (reader->shm_fd >= 0)
    close (reader->shm_fd);
  zb_segment_unmap (&reader->seg);
  /* Only what this call made: the objects of a live reader whose lock file
   * was removed (-EEXIST) are not ours. */
  if (reader->created & CREATED_SHM) {
    zb_shm_name (obj, sizeof (obj), name);
    shm_unlink (obj);
  }
  if (reader->created & CREATED_SEM_W) {
    zb_sem_name (obj, sizeof (obj), 'w', name);
    sem_unlink (obj);
  }
  if (reader->created & CREATED_SEM_R) {
    zb_sem_name (obj, sizeof (obj), 'r', name);
    sem_unlink (obj);
  }
  unlink_own_lock (reader);
  zb_held_lock_close (&reader->lock_file);
no_lock:
  if (reader->lock_dir_fd >= 0)
    close (reader->lock_dir_fd);
  pthread_mutex_destroy (&reader->lock);
  free (reader->holds);
  free (reader);
  return ret;
}

void
zb_reader_destroy (zb_reader * reader)
{
  if (reader == NULL)
    return;
  if (reader->seg.oieb != NULL)
    ZB_STORE (reader->seg.oieb->reader_pid, 0);
  zb_segment_unmap (&reader->seg);
  close (reader->shm_fd);
  zb_unlink_objects (reader->seg.name);
  /* Unlink before unlocking: a reader that opened this file meanwhile
   * finds it replaced and retries (see zb_lock_acquire). Relative to the
   * directory checked at creation: a symlink swapped in since cannot
   * redirect it. */
  unlink_own_lock (reader);
  zb_held_lock_close (&reader->lock_file);
  close (reader->lock_dir_fd);
  pthread_mutex_destroy (&reader->lock);
  free (reader->holds);
  free (reader);
}

void
zb_reader_set_reserved (zb_reader * reader, const uint64_t * values,
    unsigned int n)
{
  unsigned int i;

  for (i = 0; i < n && i < 4; i++)
    ZB_STORE (reader->seg.oieb->reserved[i], values[i]);
}
