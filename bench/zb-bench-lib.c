/* zb-bench-lib - libzerobuffer process-to-process throughput, next to a
 * plain memcpy of the same frames measured in the same run.
 *
 *   zb-bench-lib [--json FILE] [--reps N] [--quick]
 *
 * For each frame size a writer process copies frames into the ring with
 * zb_writer_write() and the reader (this process) reads and releases them,
 * touching one byte each. The memcpy column copies the same frames into a
 * region as large as the ring, cycling the same way, in one process. The
 * wrap case compares a ring 1.5x the frame (a wrap marker every other
 * frame) with a ring that holds exactly one frame (never a marker): both
 * hold one frame at a time, so the difference is the cost of wrapping. The
 * two rings run in turn, and the overhead is the median of the overheads
 * of each pair of runs, so that the machine drifting between them does not
 * count as a cost.
 * Each figure is the median of --reps runs (default 5) after one warm-up.
 */

#include "zerobuffer/zerobuffer.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_REPS 15

typedef struct
{
  size_t frame;
  size_t ring;
  long frames;
} bench_case;

static double
now_s (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int
cmp_double (const void *a, const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;

  return x < y ? -1 : x > y;
}

static double
median (double *v, int n)
{
  qsort (v, n, sizeof (double), cmp_double);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void
writer_process (const char *name, const bench_case * c)
{
  zb_writer_config wc = { 5000, 10000 };
  zb_writer *writer;
  uint8_t *src = malloc (c->frame);
  long i;

  if (src == NULL || zb_writer_connect (name, &wc, &writer) < 0)
    _exit (1);
  memset (src, 0x5a, c->frame);
  for (i = 0; i < c->frames; i++) {
    int ret = zb_writer_write (writer, src, c->frame);

    if (ret < 0) {
      fprintf (stderr, "write: %s\n", zb_strerror (ret));
      _exit (1);
    }
  }
  zb_writer_disconnect (writer);
  _exit (0);
}

/* Frames per second through the ring, first frame to last. */
static double
run_pipe (const bench_case * c)
{
  zb_reader_config rc = { 0, c->ring, 0 };
  char name[64];
  zb_reader *reader;
  volatile uint8_t sink = 0;
  double t0 = 0, t1 = 0;
  long got = 0;
  pid_t pid;
  int ret, status;

  snprintf (name, sizeof (name), "zbbench-%d", (int) getpid ());
  ret = zb_reader_create (name, &rc, &reader);
  if (ret < 0) {
    fprintf (stderr, "create: %s\n", zb_strerror (ret));
    exit (1);
  }
  pid = fork ();
  if (pid == 0)
    writer_process (name, c);
  while (got < c->frames) {
    zb_frame f;

    ret = zb_reader_read (reader, 10000, &f);
    if (ret < 0)
      break;
    if (got == 0)
      t0 = now_s ();
    sink ^= ((const uint8_t *) f.data)[0];
    zb_reader_release (reader, &f);
    got++;
  }
  t1 = now_s ();
  waitpid (pid, &status, 0);
  zb_reader_destroy (reader);
  (void) sink;
  if (got != c->frames || !WIFEXITED (status) || WEXITSTATUS (status) != 0) {
    fprintf (stderr, "run failed after %ld of %ld frames: %s\n", got,
        c->frames, zb_strerror (ret));
    exit (1);
  }
  /* The first frame starts the clock: count the intervals after it. */
  return (got - 1) / (t1 - t0);
}

/* Frames per second of memcpy into a ring-sized region, cycling. */
static double
run_memcpy (const bench_case * c)
{
  uint8_t *src = malloc (c->frame);
  uint8_t *dst = malloc (c->ring);
  size_t slots = c->ring / (c->frame + 16);
  double t0, t1;
  long i, n = 0;

  if (src == NULL || dst == NULL)
    exit (1);
  if (slots == 0)
    slots = 1;
  memset (src, 0x5a, c->frame);
  memset (dst, 0, c->ring);
  /* At least 0.25 s: short loops measure the frequency ramp, not memcpy. */
  t0 = now_s ();
  do {
    for (i = 0; i < c->frames; i++) {
      memcpy (dst + ((n + i) % slots) * (c->frame + 16), src, c->frame);
      __asm__ __volatile__ ("":::"memory");
    }
    n += c->frames;
    t1 = now_s ();
  } while (t1 - t0 < 0.25);
  free (src);
  free (dst);
  return n / (t1 - t0);
}

static double
measure (double (*fn) (const bench_case *), const bench_case * c, int reps)
{
  double v[MAX_REPS];
  int i;

  fn (c);                       /* warm-up, discarded */
  for (i = 0; i < reps; i++)
    v[i] = fn (c);
  return median (v, reps);
}

int
main (int argc, char **argv)
{
  static const size_t sizes[] = { 64, 1024, 65536, 1 << 20, 3 << 20 };
  const char *json_path = NULL;
  FILE *json = NULL;
  int reps = 5, quick = 0, i;
  double scale;

  for (i = 1; i < argc; i++) {
    if (strcmp (argv[i], "--json") == 0 && i + 1 < argc)
      json_path = argv[++i];
    else if (strcmp (argv[i], "--reps") == 0 && i + 1 < argc)
      reps = atoi (argv[++i]);
    else if (strcmp (argv[i], "--quick") == 0)
      quick = 1;
    else {
      fprintf (stderr, "usage: %s [--json FILE] [--reps N] [--quick]\n",
          argv[0]);
      return 2;
    }
  }
  if (reps < 1 || reps > MAX_REPS) {
    fprintf (stderr, "--reps must be 1..%d\n", MAX_REPS);
    return 2;
  }
  scale = quick ? 0.1 : 1.0;
  if (json_path != NULL) {
    json = fopen (json_path, "w");
    if (json == NULL) {
      perror (json_path);
      return 1;
    }
    fprintf (json, "{\n  \"reps\": %d,\n  \"throughput\": [\n", reps);
  }

  printf ("%-10s %14s %10s %14s %10s %8s\n", "frame", "zb frames/s",
      "zb GB/s", "memcpy fr/s", "memcpy GB/s", "zb/memcpy");
  for (i = 0; i < (int) (sizeof (sizes) / sizeof (sizes[0])); i++) {
    bench_case c;
    double zb, mc;

    c.frame = sizes[i];
    c.ring = 64 << 20;
    /* About a second of frames at the expected rates. */
    c.frames = (long) (scale * (c.frame <= 1024 ? 3000000 :
            c.frame <= 65536 ? 150000 : (8L << 30) / c.frame / 4));
    zb = measure (run_pipe, &c, reps);
    mc = measure (run_memcpy, &c, reps);
    printf ("%-10zu %14.0f %10.2f %14.0f %10.2f %8.2f\n", c.frame, zb,
        zb * c.frame / 1e9, mc, mc * c.frame / 1e9, zb / mc);
    if (json != NULL)
      fprintf (json, "    {\"frame_bytes\": %zu, \"ring_bytes\": %zu, "
          "\"zb_frames_per_s\": %.0f, \"zb_gbytes_per_s\": %.3f, "
          "\"memcpy_frames_per_s\": %.0f, \"memcpy_gbytes_per_s\": %.3f, "
          "\"ratio\": %.3f}%s\n", c.frame, c.ring, zb, zb * c.frame / 1e9,
          mc, mc * c.frame / 1e9, zb / mc, i < 4 ? "," : "");
    fflush (stdout);
  }

  {
    /* frame + 16 is a multiple of 64, so the 1x ring holds exactly one
     * frame and write_pos returns to 0 without a marker. */
    size_t frame = (1 << 20) + 48;
    bench_case wrap = { frame, frame * 3 / 2, 0 };
    bench_case fit = { frame, frame + 16, 0 };
    double wv[MAX_REPS], fv[MAX_REPS], ov[MAX_REPS];
    double w, f, o;

    wrap.frames = fit.frames = (long) (scale * 20000);
    run_pipe (&wrap);           /* warm-up, discarded */
    run_pipe (&fit);
    for (i = 0; i < reps; i++) {
      wv[i] = run_pipe (&wrap);
      fv[i] = run_pipe (&fit);
      ov[i] = 100 * (1 - wv[i] / fv[i]);
    }
    w = median (wv, reps);
    f = median (fv, reps);
    o = median (ov, reps);
    printf ("\nwrap overhead, 1 MiB frames: ring 1.5x %.0f frames/s, "
        "ring 1x %.0f frames/s, overhead %.1f %%\n", w, f, o);
    if (json != NULL) {
      fprintf (json, "  ],\n  \"wrap\": {\"frame_bytes\": %d, "
          "\"ring_1_5x_frames_per_s\": %.0f, \"ring_1x_frames_per_s\": %.0f, "
          "\"overhead_percent\": %.2f}\n}\n", (int) frame, w, f, o);
      fclose (json);
    }
  }
  return 0;
}
