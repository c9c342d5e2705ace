/* zb-demo-reader - create a buffer and check the frames a writer sends
 *
 *   zb-demo-reader [-n FRAMES] [-p BYTES] [-t MS] NAME
 *
 *   -n FRAMES  fail unless exactly FRAMES frames arrive
 *   -p BYTES   payload ring size (default 64M; k and M suffixes)
 *   -t MS      give up after MS milliseconds without a frame
 *              (default 10000)
 *
 * Creates buffer NAME, then reads the frames zb-demo-writer writes into it
 * until that writer disconnects. Every frame is used in place (zero copy)
 * and checked byte by byte against zb-demo-common.h. Prints the frame count,
 * the throughput and the verdict; exits 0 only when every frame was right.
 * SIGINT / SIGTERM stop it cleanly: the buffer is always removed.
 */

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zerobuffer/zerobuffer.h>

#include "zb-demo-common.h"

#define READ_SLICE_MS 200

static volatile sig_atomic_t stop;

static void
on_signal (int sig)
{
  stop = sig;
}

static void
usage (void)
{
  fprintf (stderr, "usage: zb-demo-reader [-n FRAMES] [-p PAYLOAD_BYTES] "
      "[-t IDLE_TIMEOUT_MS] NAME\n");
  exit (2);
}

/* Parse the writer's metadata line into its frame count and size range. */
static int
read_plan (zb_reader * r, unsigned long long *frames, size_t *min, size_t *max)
{
  const void *data;
  size_t size;
  char text[256];
  int ret;

  ret = zb_reader_get_metadata (r, &data, &size);
  if (ret < 0)
    return ret;
  if (size >= sizeof (text))
    return -EMSGSIZE;
  /* The block is in shared memory and not NUL-terminated: copy it. */
  memcpy (text, data, size);
  text[size] = '\0';
  printf ("reader: metadata \"%s\"\n", text);
  if (sscanf (text, ZB_DEMO_METADATA_FORMAT, frames, min, max) != 3)
    return -EPROTO;
  return 0;
}

int
main (int argc, char **argv)
{
  unsigned long long expect = 0, planned = 0, count = 0, bad = 0;
  size_t min = 0, max = 0;
  zb_reader_config config = {.metadata_size = 4096,
    .payload_size = ZB_DEFAULT_PAYLOAD_SIZE
  };
  int idle_timeout_ms = 10000, idle_ms = 0;
  zb_reader *r = NULL;
  double bytes = 0, t_first = 0, t_last = 0, t;
  struct sigaction sa;
  const char *verdict;
  char *end;
  int opt, ret, ok;

  while ((opt = getopt (argc, argv, "n:p:t:")) != -1) {
    switch (opt) {
      case 'n':
        expect = strtoull (optarg, &end, 10);
        if (*end)
          usage ();
        break;
      case 'p':
        config.payload_size = zb_demo_parse_size (optarg, &end);
        if (*end || config.payload_size == 0)
          usage ();
        break;
      case 't':
        idle_timeout_ms = atoi (optarg);
        break;
      default:
        usage ();
    }
  }
  if (optind != argc - 1)
    usage ();

  memset (&sa, 0, sizeof (sa));
  sa.sa_handler = on_signal;
  sigaction (SIGINT, &sa, NULL);
  sigaction (SIGTERM, &sa, NULL);

  ret = zb_reader_create (argv[optind], &config, &r);
  if (ret < 0) {
    fprintf (stderr, "reader: cannot create %s: %s\n", argv[optind],
        zb_strerror (ret));
    return 1;
  }
  printf ("reader: buffer %s ready, waiting for a writer\n", argv[optind]);
  fflush (stdout);

  while (!stop) {
    zb_frame f;
    size_t want, at;

    ret = zb_reader_read (r, READ_SLICE_MS, &f);
    if (ret == -ETIMEDOUT || ret == -EAGAIN) {
      idle_ms += READ_SLICE_MS;
      if (idle_ms >= idle_timeout_ms)
        break;
      continue;
    }
    if (ret < 0)
      break;                    /* -EPIPE: the writer left after its last frame */
    idle_ms = 0;

    if (count == 0) {
      t_first = zb_demo_now ();
      ret = read_plan (r, &planned, &min, &max);
      if (ret < 0) {
        fprintf (stderr, "reader: bad metadata: %s\n", zb_strerror (ret));
        zb_reader_release (r, &f);
        break;
      }
    }
    count++;
    bytes += f.size;

    /* The library already checked that sequences run 1, 2, 3, ... */
    want = zb_demo_frame_size (f.sequence, min, max);
    at = zb_demo_check (f.data, f.size, f.sequence);
    if (f.sequence != count || f.size != want || at != f.size) {
      if (bad++ < 5)
        fprintf (stderr, "reader: frame %llu: sequence %llu, %zu bytes "
            "(want %zu), first wrong byte at %zu\n", count,
            (unsigned long long) f.sequence, f.size, want, at);
    }
    t_last = zb_demo_now ();
    zb_reader_release (r, &f);
  }

  t = t_last - t_first;
  printf ("reader: %llu frames, %.1f MB in %.3f s: %.1f MB/s, %.0f frames/s\n",
      count, bytes / 1e6, t, t > 0 ? bytes / 1e6 / t : 0.0,
      t > 0 ? count / t : 0.0);

  if (stop)
    verdict = "interrupted";
  else if (ret == -ETIMEDOUT || ret == -EAGAIN)
    verdict = "no frame within the idle timeout";
  else if (ret != -EPIPE)
    verdict = zb_strerror (ret);
  else if (count == 0)
    verdict = "no frames";
  else if (bad)
    verdict = "corrupt frames";
  else if (count != planned || (expect && count != expect))
    verdict = "frames missing";
  else
    verdict = NULL;
  ok = verdict == NULL;
  if (ok)
    printf ("reader: verification OK: %llu of %llu frames, every byte and "
        "sequence number checked\n", count, planned);
  else
    printf ("reader: verification FAILED: %s (%llu bad frames, %llu of %llu "
        "received)\n", verdict, bad, count, planned);

  zb_reader_destroy (r);
  return ok ? 0 : 1;
}
