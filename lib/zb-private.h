/* libzerobuffer - private layout and helpers shared by reader and writer */

#ifndef ZB_PRIVATE_H
#define ZB_PRIVATE_H

#include <semaphore.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "zerobuffer/zerobuffer.h"

/* Operation Info Exchange Block: the first 128 bytes of the segment,
 * little-endian (we only build for little-endian hosts). */
typedef struct
{
  uint32_t oieb_size;
  uint8_t version[4];
  uint64_t metadata_size;
  uint64_t metadata_free_bytes;
  uint64_t metadata_written_bytes;
  uint64_t payload_size;
  uint64_t payload_free_bytes;
  uint64_t payload_write_pos;
  uint64_t payload_read_pos;
  uint64_t payload_written_count;
  uint64_t payload_read_count;
  uint64_t writer_pid;
  uint64_t reader_pid;
  uint64_t reserved[4];
} zb_oieb;

_Static_assert (sizeof (zb_oieb) == 128, "OIEB is 128 bytes");
_Static_assert (offsetof (zb_oieb, version) == 0x04, "version at 0x04");
_Static_assert (offsetof (zb_oieb, metadata_size) == 0x08, "0x08");
_Static_assert (offsetof (zb_oieb, metadata_free_bytes) == 0x10, "0x10");
_Static_assert (offsetof (zb_oieb, metadata_written_bytes) == 0x18, "0x18");
_Static_assert (offsetof (zb_oieb, payload_size) == 0x20, "0x20");
_Static_assert (offsetof (zb_oieb, payload_free_bytes) == 0x28, "0x28");
_Static_assert (offsetof (zb_oieb, payload_write_pos) == 0x30, "0x30");
_Static_assert (offsetof (zb_oieb, payload_read_pos) == 0x38, "0x38");
_Static_assert (offsetof (zb_oieb, payload_written_count) == 0x40, "0x40");
_Static_assert (offsetof (zb_oieb, payload_read_count) == 0x48, "0x48");
_Static_assert (offsetof (zb_oieb, writer_pid) == 0x50, "0x50");
_Static_assert (offsetof (zb_oieb, reader_pid) == 0x58, "0x58");
_Static_assert (offsetof (zb_oieb, reserved) == 0x60, "0x60");
#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the segment is little-endian; big-endian hosts are not supported"
#endif

typedef struct
{
  uint64_t size;                /* payload bytes; 0 with sequence 0: marker */
  uint64_t sequence;
} zb_frame_header;

_Static_assert (sizeof (zb_frame_header) == ZB_FRAME_HEADER_SIZE,
    "frame header is 16 bytes");

#define ZB_OIEB_SIZE 128
#define ZB_ALIGN 64
#define ZB_LOCK_DIR "/tmp/zerobuffer"

/* Longest single wait between checks of the peer and the wakeup flag. */
#define ZB_WAIT_SLICE_MS 50

/* Frames (with header) from this size up wrap to the start of the ring as
 * soon as the reader has freed it (see zb_writer_acquire()). */
#define ZB_HOT_WRAP_MIN (64 * 1024)

/* How long a writer that finds its predecessor dead waits for the reader
 * to recover the ring before it takes the buffer over anyway. */
#define ZB_RECOVERY_WAIT_MS 500

/* How long a wait polls before it sleeps on the semaphore, while polling
 * pays (see spin_trywait() in os.c). */
#define ZB_SPIN_NS 20000

/* Atomic access to u64 fields shared with another process. Plain fields in
 * the struct keep the wire layout; every concurrent access goes through
 * these. */
#define ZB_LOAD(field) __atomic_load_n (&(field), __ATOMIC_ACQUIRE)
#define ZB_LOAD_RELAXED(field) __atomic_load_n (&(field), __ATOMIC_RELAXED)
#define ZB_STORE(field, v) __atomic_store_n (&(field), (v), __ATOMIC_RELEASE)
#define ZB_ADD(field, v) __atomic_fetch_add (&(field), (v), __ATOMIC_ACQ_REL)
#define ZB_SUB(field, v) __atomic_fetch_sub (&(field), (v), __ATOMIC_ACQ_REL)

/* A mapped segment and its semaphores, as either side sees them. */
typedef struct
{
  char name[ZB_NAME_MAX + 1];
  uint8_t *base;                /* mapping */
  size_t map_size;
  zb_oieb *oieb;
  uint8_t *metadata;            /* metadata block, metadata_size bytes */
  uint8_t *ring;                /* payload ring, payload_size bytes */
  uint64_t metadata_size;       /* validated copies of the OIEB sizes */
  uint64_t payload_size;
  sem_t *sem_w;                 /* "data available", posted by the writer */
  sem_t *sem_r;                 /* "space freed", posted by the reader */
  int sems_mapped;              /* mapped from their files, not sem_open() */
} zb_segment;

/* A descriptor holding an flock that tells peers we are alive; registered
 * so that a fork()ed child drops its copy (os.c). */
typedef struct zb_held_lock
{
  int fd;
  struct zb_held_lock *prev, *next;
} zb_held_lock;

/* A peer process whose liveness is checked often (see zb_peer_alive). */
typedef struct
{
  uint64_t pid;
  int fd;                       /* a pidfd, /proc/PID/stat, or -1 */
  int is_pidfd;
} zb_peer;

/* A writer's statistics object, /dev/shm/zbstats-PART-PID (stats.c,
 * docs/protocol.md "Writer statistics"): not part of the protocol, which
 * it leaves byte for byte as it is. Little-endian, exactly ZB_STATS_SIZE
 * bytes; only the writer writes it. */
#define ZB_STATS_PREFIX "zbstats-"
#define ZB_STATS_MAGIC "ZBWS"
#define ZB_STATS_SIZE 320
#define ZB_STATS_NAME_SIZE 128  /* "zbstats-" PART "-" PID, NUL included */

typedef struct
{
  char magic[4];                /* "ZBWS" */
  uint32_t version;             /* 1 */
  uint32_t size;                /* ZB_STATS_SIZE */
  uint32_t reserved0;
  uint64_t writer_pid;          /* the process that made it */
  uint64_t drops;               /* frames the writer dropped on this
                                 * connection (atomic, only grows) */
  uint64_t reserved[4];
  char buffer[256];             /* the buffer's name, NUL-padded */
} zb_stats_shm;

/* The writer's side of it. */
typedef struct
{
  zb_stats_shm *map;            /* NULL: nothing published */
  zb_held_lock lock;            /* flock'ed while we live */
  ino_t ino;                    /* identity of our object */
  dev_t dev;
  char path[ZB_STATS_NAME_SIZE + 1];    /* "/zbstats-..." */
} zb_stats;

/* Test-only fault injection (tests/fault/zbfault-steps): a build with
 * ZB_FAULT_INJECTION kills the process at the named step. */
#ifdef ZB_FAULT_INJECTION
void zb_fault_point (const char *step);
#define ZB_FAULT(step) zb_fault_point (step)
#else
#define ZB_FAULT(step) do { } while (0)
#endif

/* os.c */
uint64_t zb_align64 (uint64_t v);
void zb_shm_name (char *out, size_t size, const char *name);
void zb_sem_name (char *out, size_t size, char kind, const char *name);
void zb_lock_path (char *out, size_t size, const char *name);
int zb_pid_alive (uint64_t pid);
int zb_peer_alive (zb_peer * peer, uint64_t pid);
void zb_peer_close (zb_peer * peer);
void zb_held_lock_add (zb_held_lock * lock, int fd);
void zb_held_lock_close (zb_held_lock * lock);
int64_t zb_now_ms (void);
int64_t zb_deadline (int timeout_ms);
int zb_sem_wait_until (sem_t * sem, int64_t deadline_ms);
int zb_lock_dir_create (void);
int zb_lock_acquire (int dirfd, const char *name, mode_t mode, int *fd_out);
int zb_lock_probe (const char *name, struct stat *st);
int zb_lock_held (const char *name);
void zb_unlink_objects (const char *name);
int zb_oieb_peek (const char *name, zb_oieb * oieb, uint64_t * file_size);
int zb_segment_validate (const zb_oieb * oieb, uint64_t file_size);
int zb_segment_removable (const zb_oieb * oieb, uint64_t file_size);
int zb_segment_map (zb_segment * seg, int fd, uint64_t file_size, int prot);
void zb_segment_unmap (zb_segment * seg);
int zb_metadata_view (const zb_segment * seg, const void **data, size_t *size);
void zb_status_fill (const zb_segment * seg, zb_status * status);
void zb_cleanup_stale_all (int dirfd, const char *except);

/* stats.c */
int zb_stats_name (char *out, size_t size, const char *buffer, uint64_t pid);
int zb_stats_publish (zb_stats * stats, const char *buffer, uint64_t pid,
    mode_t segment_mode);
void zb_stats_add_drops (zb_stats * stats, uint64_t n);
void zb_stats_withdraw (zb_stats * stats);

/* sweep.c */
void zb_stats_remove_dead (const char *buffer, uint64_t pid);

/* reader.c */
int zb_reader_writer_alive (zb_reader * reader);
/* Store @n (<= 4) values in the OIEB's reserved words (duplex.c). */
void zb_reader_set_reserved (zb_reader * reader, const uint64_t * values,
    unsigned int n);

/* writer.c */
/* Never charge the ring past @limit committed bytes (UINT64_MAX: no
 * limit; zb_writer_bytes_committed() counts them); wakes a waiting
 * writer. Any thread. */
void zb_writer_set_limit (zb_writer * writer, uint64_t limit);
/* What an early wrap must leave within the limit after its frame (see
 * hot_wrap_keeps_room() in writer.c; UINT64_MAX: half the ring). The
 * writer's thread. */
void zb_writer_set_wrap_reserve (zb_writer * writer, uint64_t reserve);
uint64_t zb_writer_ring_size (zb_writer * writer);
/* The OIEB's reserved words, as the reader stored them. */
void zb_writer_peer_reserved (zb_writer * writer, uint64_t out[4]);

/* duplex.c */
int zb_duplex_channel_names (const char *name, char *request, char *response);
void zb_duplex_reader_config (const zb_duplex_config * config,
    zb_reader_config * rc);
int zb_duplex_timeout (const zb_duplex_config * config);

/* In-place answers (docs/duplex.md "In place"): OIEB reserved[0] of a
 * server's request buffer and of a client's response buffer holds this
 * (the bytes "ZBDXIP01") when that side takes part; the client's
 * reserved[1..2] hold its nonce. The server answers in place with a
 * response of exactly this layout (little-endian). */
#define ZB_IN_PLACE_MAGIC 0x313050495844425aULL
typedef struct
{
  uint8_t nonce[16];            /* the client's, from its response OIEB */
  uint64_t request_sequence;    /* the request answered */
  uint64_t offset;              /* of the answer in the request's payload */
  uint64_t size;                /* of the answer, > 0 */
} zb_in_place_record;
_Static_assert (sizeof (zb_in_place_record) == ZB_DUPLEX_IN_PLACE_SIZE,
    "in-place record is 40 bytes");

/* discovery.c: a thread that notices the buffers NAME and NAME@* appear
 * in /dev/shm (inotify; fanout.c, duplex.c). */
#define ZB_SHM_DIR "/dev/shm"
typedef struct zb_discovery zb_discovery;
/* Called once from zb_discovery_start(), then from the thread; returns
 * how many objects looked not ready yet (worth another look soon). */
typedef int (*zb_discovery_scan_func) (zb_discovery * d, void *user_data);
/* Called by zb_discovery_for_each() for one entry; returns 1 if not ready
 * yet, else 0. */
typedef int (*zb_discovery_entry_func) (const char *entry, void *user_data);
int zb_discovery_start (const char *name, int recheck_ms,
    zb_discovery_scan_func scan, void *user_data, zb_discovery ** out);
/* Scan again now, and for a while (a peer may come back at once). */
void zb_discovery_poke (zb_discovery * d);
/* Stop and join the thread (NULL allowed); poke() stays harmless. */
void zb_discovery_join (zb_discovery * d);
/* Join, then free @d (NULL allowed). */
void zb_discovery_stop (zb_discovery * d);
int zb_discovery_stopping (zb_discovery * d);
/* Is @entry (a file name in /dev/shm) NAME, or NAME@ID with a non-empty
 * ID? With @with_sems, semaphore files count as their buffer's. */
int zb_discovery_matches (const char *name, size_t name_len,
    const char *entry, int with_sems);
/* Call @func for each /dev/shm entry that matches NAME (valid buffer
 * names, no semaphores) until stopping; returns the sum of its returns. */
int zb_discovery_for_each (zb_discovery * d, zb_discovery_entry_func func,
    void *user_data);

#endif /* ZB_PRIVATE_H */
