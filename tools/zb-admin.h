/* zerobuffer command-line tool - what inspect, list and clean share
 *
 * A ZeroBuffer buffer NAME consists of /dev/shm/NAME (128-byte OIEB,
 * metadata block, payload ring), the semaphores /dev/shm/sem.sem-w-NAME and
 * /dev/shm/sem.sem-r-NAME and the lock file /tmp/zerobuffer/NAME.lock that
 * its reader holds with flock() for its whole life.
 */

#ifndef ZB_ADMIN_H
#define ZB_ADMIN_H

#include "zb-cli.h"
/* The wire layout only (zb_oieb, ZB_OIEB_SIZE): the tool calls the public
 * API alone, but reads the OIEB of segments that the library would refuse
 * (stale, half-made, foreign) as they are, to show and judge them. */
#include "zb-private.h"

#include <sys/types.h>

#define EXIT_FAIL 1
#define EXIT_USAGE 2

#define SEM_W_PREFIX "sem.sem-w-"
#define SEM_R_PREFIX "sem.sem-r-"
#define LOCK_SUFFIX ".lock"

/* Everything found on disk for one name. */
typedef struct
{
  char *name;
  int has_shm;                  /* /dev/shm/NAME is a regular file */
  int valid;                    /* ... whose first 128 bytes are an OIEB */
  uint64_t file_size;
  zb_oieb oieb;                 /* as found in the segment */
  int has_sem_w;
  int has_sem_r;
  int has_lock;                 /* NAME.lock is a regular file */
  mode_t lock_bad;              /* else the type (S_IFMT) of a NAME.lock that
                                 * is not one, a planted symlink say: never
                                 * followed, its buffer never cleaned */
  int lock_held;
  long lock_pid;
  int reader_alive;
  int writer_alive;
} Entry;

typedef enum
{
  STATE_NONE,
  STATE_ACTIVE,
  STATE_STALE,
  STATE_ORPHANED
} State;

extern const char *const zb_admin_state_names[];

/* Every name with a segment, a semaphore or a lock file, probed, sorted by
 * name; only ZeroBuffer objects (state not STATE_NONE) are kept. */
typedef struct
{
  Entry *items;
  size_t n, cap;
} EntryList;

/* The lock directory, from zb_lock_dir_open(): a descriptor to close(),
 * or a negative errno: -ENOENT (none) quietly, anything else (an untrusted
 * directory: a symlink, another owner, writable by others without the
 * sticky bit) after an error message that ends in @consequence, unless
 * @consequence is NULL. Lock files are only ever looked at through it. */
int zb_admin_lock_dir (const char *cmd, const char *consequence);

/* Fill @e for @name (keeping e->name): segment, semaphores, lock file in
 * @lock_dir (none when < 0), liveness. */
void zb_admin_probe (int lock_dir, const char *name, Entry * e);
State zb_admin_state (const Entry * e);
/* 0, or -1 after an error message when /dev/shm cannot be read. Says
 * which lock files it skips (e->lock_bad). */
int zb_admin_scan (const char *cmd, int lock_dir, EntryList * l);
void zb_admin_free (EntryList * l);
/* The error message for e->lock_bad of buffer @name, ending in
 * @consequence. */
void zb_admin_lock_bad (const char *cmd, const char *name, const Entry * e,
    const char *consequence);

/* Used payload bytes / payload size, 0..1. */
double zb_admin_utilisation (uint64_t size, uint64_t free_bytes);
/* "healthy" below 80 % utilisation, "degraded" below 95 %, "critical". */
const char *zb_admin_health (double u);

#endif /* ZB_ADMIN_H */
