/* libzerobuffer - ZeroBuffer v1.0 shared-memory IPC
 *
 * One reader creates a named buffer; one writer connects to it and writes
 * frames; the reader hands frames out without copying.
 *
 * Reader side:
 *
 *   zb_reader *r;
 *   zb_reader_create ("cam", &(zb_reader_config) { .payload_size = 1 << 20 },
 *       &r);
 *   for (;;) {
 *     zb_frame f;
 *     int ret = zb_reader_read (r, 5000, &f);
 *     if (ret < 0)
 *       break;                  // see zb_strerror (ret)
 *     use (f.data, f.size);
 *     zb_reader_release (r, &f);
 *   }
 *   zb_reader_destroy (r);
 *
 * Writer side:
 *
 *   zb_writer *w;
 *   zb_writer_connect ("cam", NULL, &w);
 *   zb_writer_set_metadata (w, caps, strlen (caps));
 *   zb_writer_write (w, data, size);          // or acquire + commit
 *   zb_writer_disconnect (w);
 *
 * Conventions: functions return 0 (or a count) on success and a negative
 * errno on failure; zb_strerror() turns any return value into text. errno is
 * never part of the API. Every handle is used by one thread at a time unless
 * a function says otherwise. Timeouts are in milliseconds: 0 never blocks,
 * a negative value waits without limit, and waits measure CLOCK_MONOTONIC.
 */

#ifndef ZEROBUFFER_H
#define ZEROBUFFER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#ifdef ZB_BUILDING_LIBRARY
#pragma GCC visibility push(default)
#endif

#define ZB_VERSION_MAJOR 1
#define ZB_VERSION_MINOR 0
#define ZB_VERSION_PATCH 0

/* Longest buffer name: "/dev/shm/sem.sem-w-" + NAME must stay a valid
 * file name (255 bytes). */
#define ZB_NAME_MAX 245

/* Bytes in front of every frame in the ring (u64 size, u64 sequence). */
#define ZB_FRAME_HEADER_SIZE 16

/* Error codes beyond what the negative errno values already say:
 *   -EINVAL        invalid argument (name, size, NULL handle)
 *   -ENAMETOOLONG  name longer than ZB_NAME_MAX
 *   -ENOENT        buffer not found (or left behind by a dead reader)
 *   -EEXIST        a live reader already owns this name
 *   -EBUSY         another writer is connected
 *   -EPROTO        invalid OIEB (size, version or layout out of bounds)
 *   -EBADMSG       invalid frame header (size 0 or past the ring)
 *   -EILSEQ        frame sequence number out of order
 *   -EMSGSIZE      frame or metadata larger than its block (a frame can
 *                  never be written)
 *   -E2BIG         frame that cannot be written from the current ring
 *                  position, however empty the ring gets (see
 *                  zb_writer_acquire()); not worth retrying
 *   -ENOBUFS       buffer full: no space within the write timeout
 *   -ETIMEDOUT     no frame within the read timeout
 *   -EAGAIN        no frame and the call was not allowed to block
 *   -EPIPE         the peer closed its end
 *   -EOWNERDEAD    the peer's process died
 *   -EALREADY      metadata already written on this connection
 *   -ENODATA       no metadata written
 *   -EINTR         woken by zb_reader_wakeup() / zb_writer_wakeup()
 *   -ENOSPC        not enough shared memory for the segment
 *   -EACCES        permission denied (another user's buffer, unsafe lock
 *                  directory)
 *   -EPERM         a writer refused a buffer owned by another user (see
 *                  zb_writer_config.allow_uid)
 *   -ENOLCK        a writer refused a buffer whose lock file no reader
 *                  holds (a squatted buffer, or its lock file was deleted)
 */
const char *zb_strerror (int error);

/* ------------------------------------------------------------------ */
/* Reader: creates and owns the buffer. */

typedef struct zb_reader zb_reader;

typedef struct
{
  size_t metadata_size;         /* bytes, rounded up to 64; 0 is legal */
  size_t payload_size;          /* bytes, rounded up to 64; > 0 */
  mode_t mode;                  /* permissions of every object; 0 = 0600 */
} zb_reader_config;

/* What a NULL zb_reader_config means. */
#define ZB_DEFAULT_METADATA_SIZE 4096
#define ZB_DEFAULT_PAYLOAD_SIZE (64 * 1024 * 1024)
#define ZB_DEFAULT_MODE 0600

/* Flags of a zb_frame. */
#define ZB_FRAME_NEW_WRITER (1u << 0)   /* sequence 1: a writer (re)connected;
                                         * its metadata may have changed */

typedef struct
{
  const void *data;             /* payload, read-only, in the ring */
  size_t size;                  /* payload bytes */
  uint64_t sequence;            /* writer's sequence number, from 1 */
  unsigned int flags;           /* ZB_FRAME_* */
  uint64_t id;                  /* private: identifies the frame on release */
} zb_frame;

/* Create buffer @name. Removes stale objects left by dead readers first
 * (under the lock file /tmp/zerobuffer/NAME.lock, held until destroy).
 * @config may be NULL for the defaults. Blocking: no (file system calls
 * only; the sweep of stale buffers skips, without waiting, any whose lock
 * someone holds). Returns 0 and sets *@reader, or -EINVAL, -ENAMETOOLONG,
 * -EEXIST, -ENOSPC, -EACCES, -EPROTO (/dev/shm/NAME is somebody else's
 * file, left alone), -EPERM (a stale lock file of another user we may not
 * replace), -ENOMEM or another negative errno; on failure nothing is left
 * behind, and nothing that this call did not create is removed. */
int zb_reader_create (const char *name, const zb_reader_config * config,
    zb_reader ** reader);

/* Remove every OS object of the buffer and free @reader (NULL is allowed).
 * Frames not yet released become invalid. A connected writer sees the
 * reader gone. */
void zb_reader_destroy (zb_reader * reader);

/* Wait up to @timeout_ms for the next frame and fill *@frame. The payload
 * stays valid until zb_reader_release(). Blocking: yes, up to the timeout;
 * zb_reader_wakeup() interrupts it. Not thread-safe against itself.
 * Returns 0, or:
 *   -EAGAIN (timeout 0) / -ETIMEDOUT  no frame in time
 *   -EPIPE       the writer disconnected and every frame it wrote was read
 *   -EOWNERDEAD  the writer's process died and every frame was read
 *   (both are reported once per writer; the metadata block is then reset
 *    so that the next writer can write its own, and later calls wait for a
 *    new writer, whose first frame carries ZB_FRAME_NEW_WRITER)
 *   -EBADMSG, -EILSEQ, -EPROTO  corrupt segment
 *   -EINTR       woken by zb_reader_wakeup() */
int zb_reader_read (zb_reader * reader, int timeout_ms, zb_frame * frame);

/* Give the frame's space back. Frames may be released in any order: space
 * returns to the writer in ring order. Thread-safe: may run concurrently
 * with zb_reader_read() and other releases. Returns 0, or -EINVAL for a
 * frame that is not held (already released, never read, or read from
 * another reader). */
int zb_reader_release (zb_reader * reader, const zb_frame * frame);

/* Bytes of the ring held by frames read and not yet credited back to the
 * writer: frames not released, and frames released behind one that is
 * (space returns in ring order). Tails skipped by a wrap are not counted.
 * Thread-safe. */
size_t zb_reader_held_bytes (zb_reader * reader);

/* Point *@data at the metadata written by the current writer and set *@size.
 * The bytes live in shared memory and change when a new writer connects:
 * copy what you keep. Read it after the first frame of a writer.
 * Returns 0, -ENODATA when none was written, -EPROTO when corrupt. */
int zb_reader_get_metadata (zb_reader * reader, const void **data,
    size_t * size);

/* Make a blocked zb_reader_read() return -EINTR within 50 ms, and every
 * later call until zb_reader_wakeup_clear(). Thread-safe. */
void zb_reader_wakeup (zb_reader * reader);
void zb_reader_wakeup_clear (zb_reader * reader);

/* ------------------------------------------------------------------ */
/* Writer: connects to an existing buffer. */

typedef struct zb_writer zb_writer;

/* Zero-initialise it (e.g. designated initialisers) so that fields added
 * later read as their defaults. allow_uid and reserved were added in
 * 0.2.0: programs built against 0.1.0 pass a shorter struct and must be
 * rebuilt. */
typedef struct
{
  int connect_timeout_ms;       /* wait for the buffer to appear; 0: fail
                                 * at once with -ENOENT */
  int write_timeout_ms;         /* wait for space; 0 means the default */
  uid_t allow_uid;              /* also trust buffers of this user; 0: only
                                 * our own euid's and root's (see
                                 * zb_writer_connect) */
  int reserved[5];              /* must be 0 (else -EINVAL) */
} zb_writer_config;

#define ZB_DEFAULT_WRITE_TIMEOUT_MS 5000

/* Connect to buffer @name created by a reader. @config may be NULL (no
 * waiting, default write timeout). Blocking: up to connect_timeout_ms.
 * The buffer must be one a reader of a user we trust owns: its segment,
 * both semaphores and its lock file must belong to our euid, to root or
 * to config->allow_uid (else -EPERM), and its lock file must be held (else
 * -ENOLCK), so that frames never go into a buffer another user squats.
 * Returns 0 and sets *@writer, or -ENOENT (no buffer, one still being
 * created, or one whose reader is gone: retry or wait with
 * connect_timeout_ms), -EBUSY (a live writer is connected), -EPROTO
 * (invalid OIEB, or a segment file not exactly 128 + M + P bytes), -EPERM,
 * -ENOLCK, -EINVAL, -ENAMETOOLONG, -EACCES or another negative errno. */
int zb_writer_connect (const char *name, const zb_writer_config * config,
    zb_writer ** writer);

/* Leave the buffer (the reader sees the writer gone once it has read every
 * frame) and free @writer (NULL is allowed). A pending acquire is dropped. */
void zb_writer_disconnect (zb_writer * writer);

/* Write the metadata block: a u64 length and @size bytes. Once per
 * connection. Returns 0, -EALREADY, -EMSGSIZE (8 + size > block) or
 * -EINVAL (size 0). */
int zb_writer_set_metadata (zb_writer * writer, const void *data,
    size_t size);

/* Copy @size bytes into the ring as one frame. Blocking: until the reader
 * frees enough space, up to the write timeout. Returns 0, or -EINVAL
 * (size 0), -EMSGSIZE (never fits, at once: see below), -E2BIG (does not
 * fit from the current position, at once: see below), -ENOBUFS (no space
 * within the timeout), -EPIPE / -EOWNERDEAD (reader gone / dead), -EINTR
 * (zb_writer_wakeup()).
 *
 * Where a frame fits. With P the ring size (zb_status.payload_size), T =
 * 16 + @size and pos the write position, the writer never leaves 1..15
 * bytes between the end of a frame and the end of the ring (no reference
 * reader survives such a tail). So:
 *   - T > P, or P - 15 <= T < P: -EMSGSIZE, at once; it never fits. The
 *     largest frame is T == P (written at offset 0 only), the next
 *     largest T == P - 16.
 *   - the frame goes at pos if pos + T == P or pos + T <= P - 16; else
 *     after a wrap to offset 0 if T <= pos (the skipped tail stays
 *     charged until the reader steps over it, which it does on its way to
 *     this frame); else -E2BIG, at once: the frame cannot be written from
 *     here however empty the ring gets, and only a smaller frame moves the
 *     position on (zb_writer_max_size() says how large one can be).
 *   - a frame with T <= (P - 15) / 2, i.e. @size <= zb_max_size_always(P),
 *     fits from every position: it never fails with -E2BIG.
 * -ENOBUFS is only ever "the reader did not free the space in time". */
int zb_writer_write (zb_writer * writer, const void *data, size_t size);

/* How long the next zb_writer_write() or zb_writer_acquire() blocks on a
 * full ring, as write_timeout_ms of zb_writer_config (0: the default).
 * 0, or -EINVAL for a negative @timeout_ms. */
int zb_writer_set_write_timeout (zb_writer * writer, int timeout_ms);

/* Zero-copy write: reserve @size bytes in the ring and point *@data at
 * them; fill them, then zb_writer_commit(). Same blocking, rules and
 * returns as zb_writer_write(); -EALREADY if an acquire is pending. */
int zb_writer_acquire (zb_writer * writer, size_t size, void **data);

/* The largest @size that zb_writer_acquire() can place from the writer's
 * current position (it may still have to wait for space): max(P - pos,
 * pos) - 16, or P - 16 at offset 0. Not every smaller size fits: one that
 * would end 1..15 bytes before the end of the ring and is larger than pos
 * - 16 does not (-E2BIG). 0 for NULL. */
size_t zb_writer_max_size (zb_writer * writer);

/* Bytes from the writer's current position to the end of the ring (P at
 * offset 0): a frame of exactly this many bytes with its header ends at
 * the end of the ring, and the next one starts at offset 0. 0 for NULL. */
size_t zb_writer_space_to_end (zb_writer * writer);

/* The largest @size that fits from every position of a ring of
 * @payload_size bytes: (P - 15) / 2 - 16, rounded down (0 when none).
 * Frames up to this size never fail with -E2BIG. */
size_t zb_max_size_always (size_t payload_size);

/* Would zb_writer_acquire() of @size bytes go ahead without waiting for
 * space? 1 also when it would fail at once (-EMSGSIZE, -E2BIG), 0 when it
 * would wait. Never blocks; the reader only ever frees more. For a writer
 * that must never wait for one reader among many (a fan-out). */
int zb_writer_space_ready (zb_writer * writer, size_t size);

/* Publish the acquired frame. Returns 0 or -EINVAL (nothing acquired). */
int zb_writer_commit (zb_writer * writer);

/* Give up the acquired frame: nothing of it is published, and the next
 * acquire may return the same bytes. Returns 0 or -EINVAL (nothing
 * acquired). */
int zb_writer_cancel (zb_writer * writer);

/* Make a blocked write or acquire return -EINTR at once, and every later
 * one until zb_writer_wakeup_clear(). Thread-safe. */
void zb_writer_wakeup (zb_writer * writer);
void zb_writer_wakeup_clear (zb_writer * writer);

/* Is the reader still there? Returns 0, -EPIPE or -EOWNERDEAD. */
int zb_writer_check_reader (zb_writer * writer);

/* Frames written on this connection. */
uint64_t zb_writer_frames_written (zb_writer * writer);

/* Cumulative ring bytes on this connection: committed counts every frame
 * with its 16-byte header and every tail skipped by a wrap (plus what the
 * reader still held when we connected); released = committed - bytes the
 * reader has not given back. Space returns in ring order, so a frame
 * committed when zb_writer_bytes_committed() returned C has been released
 * by the reader (and every frame before it) once
 * zb_writer_bytes_released() >= C. Both only grow. Thread-safe: may run
 * concurrently with a commit (released is then at most too small, never
 * too large). 0 for NULL. */
uint64_t zb_writer_bytes_committed (zb_writer * writer);
uint64_t zb_writer_bytes_released (zb_writer * writer);

/* Count @n frames that the application dropped instead of writing them
 * to this buffer (a full ring with a leaky policy, say), so that
 * observers see them: zb_inspect_writer(), `zerobuffer top`. The count
 * lives in the writer's statistics object beside the buffer
 * (/dev/shm/zbstats-..., docs/protocol.md "Writer statistics"), never in
 * the buffer, which stays byte for byte the protocol's; the object is
 * made by zb_writer_connect() (when it cannot be, nothing is published
 * and only zb_writer_drops() counts) and removed by
 * zb_writer_disconnect(). The zb_fanout_* writers count their drops per
 * reader this way. Thread-safe, never blocks. NULL is ignored. */
void zb_writer_add_drops (zb_writer * writer, uint64_t n);

/* Frames counted by zb_writer_add_drops() on this connection. 0 for
 * NULL. Thread-safe. */
uint64_t zb_writer_drops (zb_writer * writer);

/* ------------------------------------------------------------------ */
/* Fan-out writer: one writer, any number of readers (docs/fanout.md).
 *
 * Every buffer stays a standard one-reader buffer. Readers name
 * themselves NAME@ID ("cam@rec", "cam@preview"), or create NAME itself. A
 * fan-out writer of NAME connects to NAME and to every NAME@ID whose
 * reader is alive, with zb_writer_connect() (same safety rules), and
 * writes every frame to each. A background thread finds readers as they
 * appear (inotify on /dev/shm, plus a periodic recheck); a reader that
 * leaves or dies is dropped at the next write and found again when it
 * comes back.
 *
 *   zb_fanout *f;
 *   zb_fanout_open ("cam", NULL, &f);          // drop policy, 16 readers
 *   zb_fanout_set_metadata (f, caps, strlen (caps));
 *   for (;;)
 *     zb_fanout_write (f, data, size);        // to 0..N readers
 *   zb_fanout_close (f);
 *
 * Each reader has its own sequence numbers (from 1 per connection): a
 * frame a reader missed leaves no gap in them. Put a counter in the
 * payload when a reader must see its gaps; zb_fanout_readers() counts
 * them per reader.
 *
 * Threads: zb_fanout_open() starts one thread, which only connects (it
 * never writes a frame). zb_fanout_write(), zb_fanout_set_metadata() and
 * zb_fanout_close() are called by one thread at a time;
 * zb_fanout_readers() and zb_fanout_wait_readers() from any thread, not
 * after zb_fanout_close(). Not across fork(): a child has no discovery
 * thread and must not use the parent's fan-out. */

typedef struct zb_fanout zb_fanout;

/* What happens to a frame for a reader whose ring is full. */
typedef enum
{
  ZB_FANOUT_DROP = 0,           /* it misses the frame, at once: a stuck or
                                 * stopped reader never slows the others */
  ZB_FANOUT_BLOCK = 1           /* wait for it up to write_timeout_ms; on
                                 * timeout it misses the frame and is
                                 * "stalled": later frames skip it without
                                 * waiting until its ring has room again,
                                 * so a stuck reader costs one timeout */
} zb_fanout_policy;

/* A reader joined (connected, metadata written) or left. */
typedef struct
{
  const char *name;             /* NAME or NAME@ID */
  uint64_t pid;                 /* the reader's pid (its OIEB) */
  int joined;                   /* 1: joined, 0: left */
  int reason;                   /* left: -EPIPE (closed), -EOWNERDEAD
                                 * (died) or another negative errno; 0 at
                                 * zb_fanout_close() and on joining */
} zb_fanout_event;

/* Called without any lock held: on joining from the discovery thread (or
 * from zb_fanout_open() for the readers already there), on leaving from
 * the thread in zb_fanout_write() or zb_fanout_close(). It
 * must not call zb_fanout_write() or zb_fanout_close(); @event is valid
 * during the call only. */
typedef void (*zb_fanout_event_func) (const zb_fanout_event * event,
    void *user_data);

/* Zero-initialise it so that fields added later read as their defaults. */
typedef struct
{
  zb_fanout_policy policy;      /* default ZB_FANOUT_DROP */
  int write_timeout_ms;         /* BLOCK: longest wait per reader and frame;
                                 * 0: ZB_DEFAULT_WRITE_TIMEOUT_MS */
  unsigned int max_readers;     /* connected readers at most; 0:
                                 * ZB_FANOUT_DEFAULT_MAX_READERS; at most
                                 * ZB_FANOUT_MAX_READERS */
  uid_t allow_uid;              /* as in zb_writer_config */
  int recheck_ms;               /* full rescan of /dev/shm at least this
                                 * often; 0: ZB_FANOUT_DEFAULT_RECHECK_MS */
  zb_fanout_event_func on_event;        /* may be NULL */
  void *user_data;
  int reserved[4];              /* must be 0 (else -EINVAL) */
} zb_fanout_config;

#define ZB_FANOUT_DEFAULT_MAX_READERS 16
#define ZB_FANOUT_MAX_READERS 1024
#define ZB_FANOUT_DEFAULT_RECHECK_MS 1000

/* One connected reader, as zb_fanout_readers() reports it. */
typedef struct
{
  char name[ZB_NAME_MAX + 1];   /* NAME or NAME@ID */
  uint64_t pid;                 /* the reader's pid (its OIEB) */
  uint64_t frames;              /* frames written to it */
  uint64_t drops;               /* frames it missed: ring full (DROP, or
                                 * BLOCK timeout / stalled), or a frame its
                                 * ring cannot hold (-EMSGSIZE, -E2BIG) */
  uint64_t bytes;               /* payload bytes written to it */
  int stalled;                  /* BLOCK: skipped until it has room */
  int last_error;               /* last failure of a frame or of its
                                 * metadata for it (negative errno), or 0 */
} zb_fanout_reader_info;

/* Start serving the readers of @name (NAME and NAME@*). @name follows
 * zb_name_check() and must not contain '@'. @config may be NULL for the
 * defaults. Connects at once to the readers already there (before it
 * returns) and starts the discovery thread. Blocking: no (file system
 * calls; a buffer whose writer died may take up to 0.5 s, as in
 * zb_writer_connect()). Returns 0 and sets *@fanout, or -EINVAL (NULL, bad
 * name or config), -ENAMETOOLONG, -ENOMEM, or another negative errno
 * (thread or descriptor creation). No reader is needed: frames written
 * without one go nowhere. */
int zb_fanout_open (const char *name, const zb_fanout_config * config,
    zb_fanout ** fanout);

/* Disconnect from every reader (each sees the writer gone after the last
 * frame), stop the thread and free @fanout (NULL is allowed). Emits a
 * "left" event (reason 0) per reader. */
void zb_fanout_close (zb_fanout * fanout);

/* The metadata every reader gets once, when it connects (metadata is per
 * connection: zb_writer_set_metadata()). Readers already connected get it
 * now if they have none yet; those that have one keep theirs, and a later
 * call only changes what readers connecting from now on get. A reader
 * whose metadata block is too small gets none (its last_error is
 * -EMSGSIZE). Returns 0, -EINVAL (NULL, size 0) or -ENOMEM. */
int zb_fanout_set_metadata (zb_fanout * fanout, const void *data,
    size_t size);

/* Copy @size bytes as one frame into the ring of every connected reader,
 * one after the other. Blocking: never on a DROP reader; up to
 * write_timeout_ms on each BLOCK reader that is not stalled. A reader gone
 * (-EPIPE, -EOWNERDEAD) is dropped here and rediscovered when it comes
 * back; a reader whose ring cannot hold the frame misses it (counted as a
 * drop). Returns how many readers got the frame (0 with none connected),
 * or -EINVAL (NULL, size 0). */
int zb_fanout_write (zb_fanout * fanout, const void *data, size_t size);

/* Readers connected now: fills up to @capacity entries of @info (may be
 * NULL when @capacity is 0), in the order they joined, and returns how
 * many there are (may be more than @capacity), or -EINVAL. Thread-safe. A
 * reader is listed from the moment it is connected; its death is noticed
 * at the next write. */
int zb_fanout_readers (zb_fanout * fanout, zb_fanout_reader_info * info,
    size_t capacity);

/* Wait up to @timeout_ms (negative: no limit) until at least @count
 * readers are connected. Returns how many are (>= @count), -ETIMEDOUT, or
 * -EINVAL. Thread-safe. */
int zb_fanout_wait_readers (zb_fanout * fanout, unsigned int count,
    int timeout_ms);

/* Frames passed to zb_fanout_write() with size > 0, whether or not any
 * reader got them. 0 for NULL. */
uint64_t zb_fanout_frames_written (zb_fanout * fanout);

/* ------------------------------------------------------------------ */
/* Duplex channel: requests over NAME_request (client writes, server reads),
 * responses over NAME_response (server writes, client reads). The response
 * sequence is the server's own counter: one response per request, in
 * order. */

typedef struct zb_duplex_server zb_duplex_server;
typedef struct zb_duplex_client zb_duplex_client;

typedef struct
{
  size_t metadata_size;         /* of the buffer this side creates;
                                 * 0 = ZB_DEFAULT_METADATA_SIZE */
  size_t payload_size;          /* of the buffer this side creates;
                                 * 0 = ZB_DEFAULT_PAYLOAD_SIZE */
  mode_t mode;                  /* 0 = 0600 */
  int timeout_ms;               /* connect and write timeout; 0 = 5000 */
} zb_duplex_config;

/* Longest channel name: "_response" is appended. */
#define ZB_CHANNEL_NAME_MAX (ZB_NAME_MAX - 9)

/* Called by zb_duplex_server_run() once per request, in the thread of the
 * request's channel (one call at a time, see run()).
 * It must answer exactly once, with zb_duplex_server_respond() or
 * zb_duplex_server_acquire() + zb_duplex_server_commit(), before it returns
 * 0; a negative return stops the loop with that value. @request is valid
 * until the handler returns. */
typedef int (*zb_duplex_handler) (zb_duplex_server * server,
    const zb_frame * request, void *user_data);

/* Create the request buffer of channel @name. @config may be NULL. Returns
 * 0, or the errors of zb_reader_create(). */
int zb_duplex_server_create (const char *name,
    const zb_duplex_config * config, zb_duplex_server ** server);

/* Serve requests until zb_duplex_server_stop(). A server of a NAME
 * without '@' serves channel NAME and, by fan-in, every channel NAME@ID
 * that a client opens (zb_duplex_client_connect ("NAME@ID")), each with
 * its own request and response buffers, client, sequence and metadata;
 * requests of one channel are answered in order, channels independently
 * (a thread each). Handler calls are serialised (one at a time) except
 * while one waits in respond/acquire for room in its client's ring. A
 * client that disconnects or dies is dropped; the requests it left queued
 * are dropped unanswered, so that a response only ever goes to the client
 * that sent the request (docs/duplex.md). A handler whose respond failed
 * because its client is gone may return 0: only that client is dropped.
 * Blocking: yes. Returns 0 when stopped, a handler's negative return (it
 * stops every channel), -EPROTO when a handler returned 0 without
 * answering a live client, or a corrupt-segment error. */
int zb_duplex_server_run (zb_duplex_server * server, zb_duplex_handler handler,
    void *user_data);

/* Make run() return within 50 ms. Thread-safe. */
void zb_duplex_server_stop (zb_duplex_server * server);

/* Answer the current request by copy, or in place. Only from a handler.
 * A full response ring is back-pressure: these wait for room as long as
 * the client lives (past the timeout), -EINTR once stopped. Returns 0, or
 * the errors of zb_writer_write() (-EPIPE / -EOWNERDEAD: the client is
 * gone; the loop moves on to the next client). */
int zb_duplex_server_respond (zb_duplex_server * server, const void *data,
    size_t size);
int zb_duplex_server_acquire (zb_duplex_server * server, size_t size,
    void **data);
int zb_duplex_server_commit (zb_duplex_server * server);

/* Answer in place (docs/duplex.md "In place"): when the current request's
 * client is a zb_duplex_client of this library, the
 * handler may change the request's bytes where they lie and answer with
 * (part of) them: nothing is copied either way, the client reads its
 * answer in its own request ring. request_data() gives the request's
 * payload, writable, until the handler returns; respond_in_place() answers
 * with its @size bytes from @offset. Only from a handler. Return 0,
 * -EOPNOTSUPP (this client takes no answers in place, e.g. a client of a
 * reference implementation: answer by copy), -EINVAL (outside a handler;
 * @size 0 or past the request), or the errors of respond(). */
int zb_duplex_server_request_data (zb_duplex_server * server, void **data,
    size_t * size);
int zb_duplex_server_respond_in_place (zb_duplex_server * server,
    size_t offset, size_t size);

/* Metadata for the response buffer (e.g. the caps of the responses),
 * written to each client's response buffer before its first response;
 * clients read it with zb_duplex_client_get_metadata(). Call before run()
 * (for every channel), or from a handler before it answers a client's
 * first request (for that request's channel only: e.g. to derive the
 * output caps from that client's, zb_duplex_server_get_metadata).
 * Returns 0, -EINVAL (size 0) or -ENOMEM. */
int zb_duplex_server_set_metadata (zb_duplex_server * server,
    const void *data, size_t size);

/* The metadata the current request's client wrote into its request buffer
 * (e.g. the caps of its requests), as zb_reader_get_metadata(); from a
 * handler. */
int zb_duplex_server_get_metadata (zb_duplex_server * server,
    const void **data, size_t * size);

/* The channel of the request being answered (NAME or NAME@ID), from a
 * handler; NAME outside a handler. Valid until the handler returns. */
const char *zb_duplex_server_channel (zb_duplex_server * server);

/* Remove the request buffer and free @server (NULL allowed); not while
 * run() is running. */
void zb_duplex_server_destroy (zb_duplex_server * server);

/* Fan-in for a server that reads the requests itself (zbsrc
 * channel-name=NAME; zb_duplex_server_run() does this on its own): a
 * thread watches /dev/shm (inotify, and a look every second) for the
 * response buffer NAME@ID_response of a live client without a channel
 * yet, creates that channel's request buffer NAME@ID_request with
 * @config and hands it to @func: from the watch's thread, and from
 * zb_duplex_watch_start() for the clients already there. @func
 * owns @requests (zb_reader_destroy()) and calls
 * zb_duplex_watch_forget() once it destroyed them, so that a client that
 * comes back with the same ID is seen again. A channel whose request
 * buffer another live server holds is left to it. At most 256 channels
 * at once. Not across fork(). */
typedef struct zb_duplex_watch zb_duplex_watch;
typedef void (*zb_duplex_watch_func) (const char *channel,
    zb_reader * requests, void *user_data);

/* Start watching for clients of @name (no '@'). Returns 0, -EINVAL,
 * -ENAMETOOLONG, -ENOMEM or a pthread error. */
int zb_duplex_watch_start (const char *name, const zb_reader_config * config,
    zb_duplex_watch_func func, void *user_data, zb_duplex_watch ** watch);

/* Channel @channel (NAME@ID) is closed: its request buffer is destroyed;
 * look for it again. Thread-safe, also from @func. */
void zb_duplex_watch_forget (zb_duplex_watch * watch, const char *channel);

/* Stop the thread (no @func call after this returns) and free @watch
 * (NULL allowed). Not from @func. */
void zb_duplex_watch_stop (zb_duplex_watch * watch);

/* Is the client of fan-in channel @channel gone: no live writer of its
 * request buffer @requests and no live reader of NAME@ID_response? Then
 * its server closes the channel (as zb_duplex_server_run() does). */
int zb_duplex_channel_idle (zb_reader * requests, const char *channel);

/* Does request buffer @requests have a live writer (its client; also one
 * in another PID namespace)? A server drops the requests still queued by
 * a client that is gone instead of answering them. */
int zb_duplex_requests_writer_alive (zb_reader * requests);

/* In-place answers for a server that reads its requests and writes its
 * responses itself (zbsrc and zbsink channel-name; zb_duplex_server_run()
 * does this on its own; docs/duplex.md "In place"). offer_in_place(): say
 * in request buffer @requests that answers may come in place; call it
 * right after zb_reader_create() (or from a zb_duplex_watch_func), before
 * the client connects: a client of this library then declares itself in
 * its response buffer. responses_in_place(): the response frame that
 * answers request @sequence (the zb_frame's sequence) with @size bytes
 * from @offset of that request's payload, which the server may have
 * changed where they lie: ZB_DUPLEX_IN_PLACE_SIZE bytes into @record, to
 * be written as that request's response into @responses (the client's
 * response buffer) instead of the bytes. The request may be released
 * before or after; its client keeps its bytes until it has read the
 * answer. Any thread. Return 0, -EINVAL, or (responses_in_place())
 * -EOPNOTSUPP: this client takes no answers in place (a reference
 * implementation's, or one that saw no offer): answer by copy. */
#define ZB_DUPLEX_IN_PLACE_SIZE 40
int zb_duplex_requests_offer_in_place (zb_reader * requests);
int zb_duplex_responses_in_place (zb_writer * responses, uint64_t sequence,
    uint64_t offset, uint64_t size, void *record);

/* Create the response buffer of channel @name and connect to its request
 * buffer, waiting up to config->timeout_ms for the server (and for it to
 * have read the requests a previous client left queued); for a channel
 * NAME@ID while a server of NAME lives, at least 1 s (a fan-in server
 * creates the request buffer once it sees the response buffer). Returns 0, or
 * the errors of zb_reader_create() and zb_writer_connect() (-ENOENT: no
 * server ready for a new client in time). */
int zb_duplex_client_connect (const char *name,
    const zb_duplex_config * config, zb_duplex_client ** client);

/* Send a request by copy, or in place; *@sequence (may be NULL) is the
 * request's sequence number, which the matching response carries.
 * Blocking: until the server frees space, up to the timeout. Returns 0 or
 * the errors of zb_writer_write(). */
int zb_duplex_client_send (zb_duplex_client * client, const void *data,
    size_t size, uint64_t * sequence);
int zb_duplex_client_acquire (zb_duplex_client * client, size_t size,
    void **data);
int zb_duplex_client_commit (zb_duplex_client * client, uint64_t * sequence);

/* As zb_duplex_client_acquire(), but never waits: -EAGAIN when there is no
 * room now, -EALREADY when an acquire is pending. For a caller that hands
 * the bytes to someone else to fill (zbfilter's buffer pool) and has
 * another way to send when there is no room. */
int zb_duplex_client_try_acquire (zb_duplex_client * client, size_t size,
    void **data);

/* Give up the pending acquire whose bytes are at @data (as the acquire
 * returned them): nothing is sent. 0, or -EINVAL when no acquire of @data
 * is pending (already committed or given up). Thread-safe against
 * receive/release; not against a send, acquire or commit in another
 * thread. */
int zb_duplex_client_cancel (zb_duplex_client * client, const void *data);

/* Wait up to @timeout_ms for the next response; release it with
 * zb_duplex_client_release(). A response answered in place points into
 * the request ring, at (part of) the bytes of its request as the server
 * changed them: until released, that request's space is not reused. A
 * send/acquire that waits for room copies the answers that came meanwhile
 * out of the rings (receive() hands them out first), so only responses
 * the caller holds keep their space: holding more than the ring makes
 * send/acquire wait (up to the timeout: -ENOBUFS). Thread-safe against
 * send/acquire/commit and release in other threads. Returns 0 or the errors of zb_reader_read()
 * (-EOWNERDEAD / -EPIPE: the server died / stopped; destroy the client and
 * connect again to reach a new server), or -EPROTO (an answer in place to
 * no request awaiting one, or out of its bounds; dropped). */
int zb_duplex_client_receive (zb_duplex_client * client, int timeout_ms,
    zb_frame * response);
int zb_duplex_client_release (zb_duplex_client * client,
    const zb_frame * response);

/* Write the request buffer's metadata (e.g. the caps of the requests):
 * once per connection, before the first request. As
 * zb_writer_set_metadata(). */
int zb_duplex_client_set_metadata (zb_duplex_client * client,
    const void *data, size_t size);

/* The metadata the server wrote into the response buffer, as
 * zb_reader_get_metadata() (read it after the first response). */
int zb_duplex_client_get_metadata (zb_duplex_client * client,
    const void **data, size_t * size);

/* Interrupt a blocked send or receive with -EINTR (until _wakeup_clear).
 * Thread-safe. */
void zb_duplex_client_wakeup (zb_duplex_client * client);
void zb_duplex_client_wakeup_clear (zb_duplex_client * client);

/* Disconnect, remove the response buffer, free @client (NULL allowed). */
void zb_duplex_client_destroy (zb_duplex_client * client);

/* ------------------------------------------------------------------ */
/* Status and housekeeping. */

typedef struct
{
  uint64_t metadata_size;
  uint64_t metadata_written_bytes;
  uint64_t payload_size;
  uint64_t payload_free_bytes;
  uint64_t write_pos;
  uint64_t read_pos;
  uint64_t written_count;       /* frames and wrap markers */
  uint64_t read_count;
  uint64_t writer_pid;          /* 0: no writer */
  uint64_t reader_pid;          /* 0: reader closed */
  int writer_alive;
  int reader_alive;
  double utilisation;           /* used payload bytes / payload size, 0..1 */
  uint8_t version[4];
} zb_status;

/* Snapshot of the OIEB. Lock-free reads of fields that change concurrently:
 * each field is exact, the set is not taken at one instant. Thread-safe. */
int zb_reader_get_status (zb_reader * reader, zb_status * status);
int zb_writer_get_status (zb_writer * writer, zb_status * status);

/* Open buffer @name read-only without joining it: fill *@status and, when
 * @metadata is not NULL, copy up to @capacity metadata bytes and set
 * *@metadata_size to the full metadata length (0 when none). Returns 0,
 * -ENOENT, -EPROTO, -EACCES. */
int zb_inspect (const char *name, zb_status * status, void *metadata,
    size_t capacity, size_t * metadata_size);

/* What a writer of ours publishes beside the buffer (see
 * zb_writer_add_drops()). Zero-initialised by zb_inspect_writer(). */
typedef struct
{
  uint64_t writer_pid;
  uint64_t drops;               /* frames it dropped on this connection */
  uint64_t reserved[6];
} zb_writer_stats;

/* Read the statistics that writer @writer_pid (zb_status.writer_pid)
 * publishes for buffer @name, without joining anything. The object is
 * hostile input: it must be a regular file of exactly the expected size,
 * owned by the user the writer process runs as and writable by nobody
 * else, and name that pid and buffer. Blocking: no. Returns 0, or
 * -ENOENT (the writer publishes none: a reference implementation, or no
 * writer), -ESRCH (the writer process is gone), -EPERM (the object
 * belongs to another user, or others may write to it), -EPROTO (wrong
 * size or contents), -EACCES (we may not read it), -EINVAL,
 * -ENAMETOOLONG. */
int zb_inspect_writer (const char *name, uint64_t writer_pid,
    zb_writer_stats * stats);

/* The name (without the leading '/') of a side object of writer @pid of
 * buffer @name in /dev/shm (docs/protocol.md §11): @prefix ("zbstats-",
 * "zbpool-"), then @name when it has 1 to 64 bytes of [A-Za-z0-9._-],
 * else "h" and 16 hex digits of its 64-bit FNV-1a hash, then '-' and
 * @pid. Returns 0, -ENAMETOOLONG (@size too small) or -EINVAL (NULL). */
int zb_side_object_name (char *out, size_t size, const char *prefix,
    const char *name, uint64_t pid);

/* Remove, from /dev/shm, the side objects that writers of ours died
 * with, for buffers of any name: statistics objects (zbstats-PART-PID)
 * and zbsink's pool segments (zbpool-PART-PID-SERIAL). Only regular
 * files of our euid named so, which no process holds an flock on (our
 * writers hold one on each for their life), whose PID is not alive
 * (kill(pid, 0) and /proc: a zombie is dead), and that are not a buffer
 * (no semaphores of that name, no valid OIEB). zb_reader_create() runs it
 * too. Blocking: no (one directory scan). Returns how many were removed,
 * or a negative errno when /dev/shm cannot be read. */
int zb_cleanup_writer_objects (void);

/* Remove the objects of buffer @name if no live process uses it (no reader
 * holds its lock and neither recorded pid is alive). Returns 0 when removed,
 * -EBUSY when in use, -ENOENT when nothing of it exists, -EPROTO when
 * /dev/shm/NAME is not a ZeroBuffer segment (then nothing is removed),
 * -EACCES when the lock directory is not trusted (see zb_lock_dir_open)
 * or the lock file is not a regular file (nothing is removed).
 * It takes the buffer's lock file first (creating it if missing), so a
 * reader still creating the buffer is never taken for a stale one. It
 * also runs zb_cleanup_writer_objects() (whatever it returns). */
int zb_cleanup (const char *name);

/* Open the lock directory /tmp/zerobuffer, which holds the lock file
 * NAME.lock of every reader, to look into it. It is trusted only when it
 * is a real directory (not a symlink), owned by root or by our euid, and
 * sticky when group or others may write to it: anyone else could swap
 * what is in it between two calls. Look at lock files relative to the
 * returned descriptor only, never by path: fstatat() with
 * AT_SYMLINK_NOFOLLOW, fdopendir() on a dup() of it; remove buffers with
 * zb_cleanup(). close() it when done. Returns the descriptor, or -ENOENT
 * (no lock directory: no reader has run), -EACCES (not trusted) or
 * another negative errno. */
int zb_lock_dir_open (void);

/* Check a buffer name: 1 to ZB_NAME_MAX bytes, no '/', not "." or "..",
 * and not starting with "sem." (the files of POSIX semaphores, ours among
 * them: "sem.sem-w-foo" would alias buffer foo's semaphore). Returns 0,
 * -EINVAL or -ENAMETOOLONG. */
int zb_name_check (const char *name);

#ifdef ZB_BUILDING_LIBRARY
#pragma GCC visibility pop
#endif

#ifdef __cplusplus
}
#endif
#endif /* ZEROBUFFER_H */
