/* zerobuffer command-line tool - top: what the view keeps of each buffer.
 * zb-top-sample.c scans /dev/shm, samples the counters and computes the
 * rates; zb-cmd-top.c sorts, draws and reads keys. */

#ifndef ZB_TOP_H
#define ZB_TOP_H

#include "zb-admin.h"

#include <stdint.h>

#define SAMPLE_MS 100
#define META_CAP 4096
#define TEXT_MAX 256

typedef enum
{
  SORT_NAME,
  SORT_STATE,
  SORT_FPS,
  SORT_MIBPS,
  SORT_FILL,
  SORT_QUEUED,
  SORT_HELD,
  SORT_DROPS,
  N_SORT
} SortKey;

/* What the writer publishes beside the buffer (zb_inspect_writer()). */
typedef enum
{
  DROPS_NONE,                   /* no writer, or one that publishes nothing
                                 * (the reference implementations) */
  DROPS_PUBLISHED,
  DROPS_GONE,                   /* the writer process is gone */
  DROPS_REFUSED                 /* an object we do not believe */
} DropsState;

typedef struct
{
  char *name;
  int present;                  /* found by the last scan */
  Entry e;                      /* from the last scan (e.name not owned) */
  int have_status;              /* st is valid */
  zb_status st;                 /* at the last refresh */
  /* sampling: the counters at the last sample, and what moved since the
   * start of this refresh period */
  int have_base;
  int restarted;                /* counting began after the refresh */
  uint64_t base_size, base_written, base_wp;
  uint64_t frames, bytes;
  int64_t since_us, sample_us;  /* frames and bytes moved from since_us
                                 * (a sample) to sample_us (the last) */
  int rates_known;
  double fps, mibps;
  size_t meta_len;
  char type[TEXT_MAX];          /* "" when none */
  char caps[TEXT_MAX * 2];
  DropsState drops_state;
  uint64_t drops;               /* DROPS_PUBLISHED: the writer's count */
} Row;

typedef struct
{
  Row *rows;
  size_t n, cap;
  SortKey sort;
  int reverse;
  int active_only;
  char filter[TEXT_MAX];
  double interval;
  int64_t period_start_us;
} Top;

/* zb-top-sample.c. Between refreshes: sample every present buffer. */
void top_sample (Top * t);

/* A refresh: scan, take the last sample of the period, compute the rates.
 * 0, or -1 when /dev/shm cannot be read. @meta: META_CAP bytes of
 * scratch. */
int top_refresh (Top * t, uint8_t * meta);

#endif /* ZB_TOP_H */
