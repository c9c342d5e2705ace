/* zb-demo-writer - connect to a buffer and write numbered test frames
 *
 *   zb-demo-writer [-n FRAMES] [-s SIZE | -s MIN-MAX] [-c] [-t MS] NAME
 *
 *   -n FRAMES  frames to write (default 1000)
 *   -s SIZE    payload bytes per frame, or a range MIN-MAX to vary the
 *              size from frame to frame (default 1M; k and M suffixes)
 *   -c         copy each frame with zb_writer_write() instead of filling
 *              it in place with zb_writer_acquire() + zb_writer_commit()
 *   -t MS      wait up to MS milliseconds for the buffer to appear
 *              (default 5000)
 *
 * Buffer NAME is created by zb-demo-reader, which checks every frame.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zerobuffer/zerobuffer.h>

#include "zb-demo-common.h"

static void
usage (void)
{
  fprintf (stderr, "usage: zb-demo-writer [-n FRAMES] [-s SIZE|MIN-MAX] "
      "[-c] [-t CONNECT_TIMEOUT_MS] NAME\n");
  exit (2);
}

int
main (int argc, char **argv)
{
  unsigned long long frames = 1000;
  size_t min = 1 << 20, max = 1 << 20;
  int copy = 0;
  zb_writer_config config = {.connect_timeout_ms = 5000 };
  zb_writer *w = NULL;
  char metadata[128];
  uint8_t *scratch = NULL;
  unsigned long long seq;
  double bytes = 0, t0, t;
  char *end;
  int opt, ret;

  while ((opt = getopt (argc, argv, "n:s:ct:")) != -1) {
    switch (opt) {
      case 'n':
        frames = strtoull (optarg, &end, 10);
        if (*end || frames == 0)
          usage ();
        break;
      case 's':
        min = max = zb_demo_parse_size (optarg, &end);
        if (*end == '-')
          max = zb_demo_parse_size (end + 1, &end);
        if (*end || min == 0 || max < min)
          usage ();
        break;
      case 'c':
        copy = 1;
        break;
      case 't':
        config.connect_timeout_ms = atoi (optarg);
        break;
      default:
        usage ();
    }
  }
  if (optind != argc - 1)
    usage ();

  ret = zb_writer_connect (argv[optind], &config, &w);
  if (ret < 0) {
    fprintf (stderr, "writer: cannot connect to %s: %s\n", argv[optind],
        zb_strerror (ret));
    return 1;
  }

  /* Tell the reader what to expect. */
  snprintf (metadata, sizeof (metadata), ZB_DEMO_METADATA_FORMAT, frames,
      min, max);
  ret = zb_writer_set_metadata (w, metadata, strlen (metadata));
  if (ret < 0) {
    fprintf (stderr, "writer: metadata: %s\n", zb_strerror (ret));
    goto failed;
  }

  if (copy) {
    scratch = malloc (max);
    if (scratch == NULL) {
      ret = -ENOMEM;
      goto failed;
    }
  }

  t0 = zb_demo_now ();
  for (seq = 1; seq <= frames; seq++) {
    size_t size = zb_demo_frame_size (seq, min, max);

    if (copy) {
      zb_demo_fill (scratch, size, seq);
      ret = zb_writer_write (w, scratch, size);
    } else {
      void *data;

      /* Zero copy: fill the frame where it lies in the ring. */
      ret = zb_writer_acquire (w, size, &data);
      if (ret == 0) {
        zb_demo_fill (data, size, seq);
        ret = zb_writer_commit (w);
      }
    }
    if (ret < 0) {
      fprintf (stderr, "writer: frame %llu (%zu bytes): %s\n", seq, size,
          zb_strerror (ret));
      goto failed;
    }
    bytes += size;
  }
  t = zb_demo_now () - t0;

  printf ("writer: %llu frames, %.1f MB in %.3f s: %.1f MB/s, %.0f frames/s "
      "(%s)\n", frames, bytes / 1e6, t, t > 0 ? bytes / 1e6 / t : 0.0,
      t > 0 ? frames / t : 0.0, copy ? "zb_writer_write" : "zero-copy");
  free (scratch);
  zb_writer_disconnect (w);
  return 0;

  /* ERRORS */
failed:
  free (scratch);
  zb_writer_disconnect (w);
  return 1;
}
