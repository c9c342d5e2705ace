/* One side of a ZeroBuffer connection for the fault-injection tests
 * (tests/fault/fault.py, scripts/soak.sh): a process the driver starts,
 * kills with SIGKILL, stops with SIGSTOP and restarts.
 *
 *   zbfault-peer reader NAME   create NAME, read and verify frames until
 *                              SIGTERM, following writers that come and go
 *   zbfault-peer writer NAME   connect to NAME (waiting for it) and write
 *                              patterned frames until SIGTERM, reconnecting
 *                              to every new reader
 *   zbfault-peer server NAME   duplex server: verify each request, answer
 *                              with its bytes XOR 0xa5
 *   zbfault-peer client NAME   duplex client: send patterned requests and
 *                              verify each response, reconnecting to every
 *                              new server
 *
 * Every frame (and request) is self-describing: bytes 0..7 hold the
 * writer's run id (pid << 20 | connection), bytes 8..15 its sequence on the
 * connection (from 1), and byte i >= 16 is (run * 31 + seq * 131 + i) &
 * 0xff; sizes vary from 16 to 16 + 4095 bytes.
 *
 * Output, one line each, flushed at once (times are CLOCK_MONOTONIC
 * seconds, comparable with Python's time.monotonic()):
 *   up T                   started (the buffer exists, for creators)
 *   first T                first good frame / response of a new peer
 *   lost T ERR             the peer went away (zb_strerror text)
 *   resume T               first frame after a silence of >= 250 ms from
 *                          the same peer
 *   tick T N               every 100 ms: the loop is not stuck; N frames
 *   bad T WHAT             a corrupt frame (content, size or sequence)
 *   summary frames=N bad=N peers=N
 * Exit status: 0 when no frame was bad, 4 otherwise, 1 on setup errors.
 */

#include "zerobuffer/zerobuffer.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_FRAME (16 + 4095)
#define PAYLOAD_SIZE (256 * 1024)

static int stopping;
static zb_duplex_server *the_server;    /* server_lock */
static pthread_mutex_t server_lock = PTHREAD_MUTEX_INITIALIZER;
static double last_tick;
static uint64_t n_frames, n_bad, n_peers;

static double
now (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int
is_stopping (void)
{
  return __atomic_load_n (&stopping, __ATOMIC_ACQUIRE);
}

static void
event (const char *what, const char *detail)
{
  printf ("%s %.6f%s%s\n", what, now (), detail ? " " : "",
      detail ? detail : "");
  fflush (stdout);
}

static void
tick (void)
{
  double t = now ();

  if (t - last_tick >= 0.1) {
    char frames[32];

    last_tick = t;
    snprintf (frames, sizeof (frames), "%llu", (unsigned long long) n_frames);
    event ("tick", frames);
  }
}

static void *
signal_thread (void *data)
{
  sigset_t *set = data;
  int sig;

  sigwait (set, &sig);
  __atomic_store_n (&stopping, 1, __ATOMIC_RELEASE);
  /* not while main destroys it (stop wakes its semaphores) */
  pthread_mutex_lock (&server_lock);
  if (the_server)
    zb_duplex_server_stop (the_server);
  pthread_mutex_unlock (&server_lock);
  return NULL;
}

static uint8_t
pattern_byte (uint64_t run, uint64_t seq, size_t i)
{
  return (uint8_t) ((run * 31 + seq * 131 + i) & 0xff);
}

static size_t
fill (uint8_t * p, uint64_t run, uint64_t seq, unsigned int *rng)
{
  size_t size = 16 + (size_t) (rand_r (rng) % 4096);
  size_t i;

  memcpy (p, &run, 8);
  memcpy (p + 8, &seq, 8);
  for (i = 16; i < size; i++)
    p[i] = pattern_byte (run, seq, i);
  return size;
}

/* Check one frame; returns 0, or -1 after printing a "bad" line. */
static int
verify (const uint8_t * p, size_t size, uint8_t xor, uint64_t * run_out,
    uint64_t * seq_out)
{
  uint64_t run, seq;
  uint8_t head[16];
  char msg[128];
  size_t i;

  if (size < 16 || size > MAX_FRAME) {
    snprintf (msg, sizeof (msg), "size %zu", size);
    goto bad;
  }
  for (i = 0; i < 16; i++)
    head[i] = p[i] ^ xor;
  memcpy (&run, head, 8);
  memcpy (&seq, head + 8, 8);
  for (i = 16; i < size; i++)
    if ((uint8_t) (p[i] ^ xor) != pattern_byte (run, seq, i)) {
      snprintf (msg, sizeof (msg), "content at byte %zu of %zu (run %llx "
          "seq %llu)", i, size, (unsigned long long) run,
          (unsigned long long) seq);
      goto bad;
    }
  *run_out = run;
  *seq_out = seq;
  return 0;

bad:
  n_bad++;
  event ("bad", msg);
  return -1;
}

static int
run_reader (const char *name)
{
  zb_reader_config rc = { 4096, PAYLOAD_SIZE, 0 };
  zb_reader *r;
  uint64_t last_run = 0, last_seq = 0;
  double last_frame = 0;
  int ret;

  ret = zb_reader_create (name, &rc, &r);
  if (ret < 0) {
    fprintf (stderr, "zb_reader_create: %s\n", zb_strerror (ret));
    return 1;
  }
  event ("up", NULL);
  while (!is_stopping ()) {
    zb_frame f;
    uint64_t run, seq;
    char msg[128];

    tick ();
    ret = zb_reader_read (r, 100, &f);
    if (ret == -ETIMEDOUT || ret == -EAGAIN || ret == -EINTR)
      continue;
    if (ret == -EPIPE || ret == -EOWNERDEAD) {
      event ("lost", zb_strerror (ret));
      continue;
    }
    if (ret < 0) {
      n_bad++;
      event ("bad", zb_strerror (ret));
      continue;
    }
    n_frames++;
    if (verify (f.data, f.size, 0, &run, &seq) == 0) {
      if (seq != f.sequence) {
        snprintf (msg, sizeof (msg), "sequence %llu in a frame numbered %llu",
            (unsigned long long) seq, (unsigned long long) f.sequence);
        n_bad++;
        event ("bad", msg);
      } else if (f.flags & ZB_FRAME_NEW_WRITER || run != last_run) {
        if (seq != 1 || !(f.flags & ZB_FRAME_NEW_WRITER)) {
          snprintf (msg, sizeof (msg), "new writer %llx starts at %llu "
              "(flags %u)", (unsigned long long) run,
              (unsigned long long) seq, f.flags);
          n_bad++;
          event ("bad", msg);
        }
        n_peers++;
        event ("first", NULL);
      } else if (seq != last_seq + 1) {
        snprintf (msg, sizeof (msg), "sequence %llu after %llu",
            (unsigned long long) seq, (unsigned long long) last_seq);
        n_bad++;
        event ("bad", msg);
      } else if (now () - last_frame >= 0.25) {
        event ("resume", NULL);
      }
      last_run = run;
      last_seq = seq;
    }
    last_frame = now ();
    zb_reader_release (r, &f);
  }
  zb_reader_destroy (r);
  return 0;
}

static int
run_writer (const char *name)
{
  zb_writer_config wc = { 100, 300 };
  unsigned int rng = (unsigned int) getpid ();
  uint64_t conn = 0;
  uint8_t *buf = malloc (MAX_FRAME);

  event ("up", NULL);
  while (!is_stopping ()) {
    zb_writer *w;
    uint64_t run, seq = 0;
    int ret;

    tick ();
    ret = zb_writer_connect (name, &wc, &w);
    if (ret < 0)
      continue;                 /* no reader yet: keep waiting */
    run = ((uint64_t) getpid () << 20) | ++conn;
    zb_writer_set_metadata (w, "zbfault", 7);
    while (!is_stopping ()) {
      size_t size;
      void *dst;

      tick ();
      seq++;
      size = fill (buf, run, seq, &rng);
      /* retry the same frame while the ring stays full */
      do {
        if (seq & 1) {
          ret = zb_writer_write (w, buf, size);
        } else {
          ret = zb_writer_acquire (w, size, &dst);
          if (ret == 0) {
            memcpy (dst, buf, size);
            ret = zb_writer_commit (w);
          }
        }
        tick ();
      } while (ret == -ENOBUFS && !is_stopping ());
      if (ret < 0)
        break;
      n_frames++;
      usleep (200);
    }
    if (ret < 0 && ret != -ENOBUFS)
      event ("lost", zb_strerror (ret));
    zb_writer_disconnect (w);
  }
  free (buf);
  return 0;
}

static int
serve (zb_duplex_server * server, const zb_frame * req, void *data)
{
  uint8_t out[MAX_FRAME];
  const uint8_t *p = req->data;
  uint64_t run, seq;
  size_t i, n = req->size < MAX_FRAME ? req->size : MAX_FRAME;

  n_frames++;
  verify (p, req->size, 0, &run, &seq);
  for (i = 0; i < n; i++)
    out[i] = p[i] ^ 0xa5;
  /* a client that is gone makes the loop drop it and serve the next */
  return zb_duplex_server_respond (server, out, n);
}

static int
run_client (const char *name)
{
  zb_duplex_config dc = { 4096, PAYLOAD_SIZE, 0, 100 };
  unsigned int rng = (unsigned int) getpid ();
  uint64_t conn = 0;
  uint8_t *buf = malloc (MAX_FRAME);

  event ("up", NULL);
  while (!is_stopping ()) {
    zb_duplex_client *c;
    uint64_t run, seq = 0;
    int first = 1, ret;
    double last_ok = 0;

    tick ();
    ret = zb_duplex_client_connect (name, &dc, &c);
    if (ret < 0) {
      usleep (20000);
      continue;
    }
    run = ((uint64_t) getpid () << 20) | ++conn;
    while (!is_stopping ()) {
      uint64_t req_seq, rrun, rseq;
      size_t size;
      zb_frame resp;

      tick ();
      seq++;
      size = fill (buf, run, seq, &rng);
      ret = zb_duplex_client_send (c, buf, size, &req_seq);
      if (ret < 0)
        break;
      /* wait for the answer as long as the server lives */
      do {
        tick ();
        ret = zb_duplex_client_receive (c, 100, &resp);
      } while ((ret == -ETIMEDOUT || ret == -EAGAIN) && !is_stopping ());
      if (ret < 0)
        break;
      n_frames++;
      if (verify (resp.data, resp.size, 0xa5, &rrun, &rseq) == 0) {
        if (rrun != run || rseq != seq || resp.size != size
            || resp.sequence != req_seq) {
          char msg[160];

          snprintf (msg, sizeof (msg), "response %llu (run %llx, %zu bytes) "
              "to request %llu (run %llx, %zu bytes)",
              (unsigned long long) rseq, (unsigned long long) rrun,
              resp.size, (unsigned long long) seq, (unsigned long long) run,
              size);
          n_bad++;
          event ("bad", msg);
        } else if (first) {
          first = 0;
          n_peers++;
          event ("first", NULL);
        } else if (now () - last_ok >= 0.25) {
          event ("resume", NULL);
        }
      }
      last_ok = now ();
      zb_duplex_client_release (c, &resp);
    }
    if (ret < 0 && !is_stopping ())
      event ("lost", zb_strerror (ret));
    zb_duplex_client_destroy (c);
  }
  free (buf);
  return 0;
}

int
main (int argc, char **argv)
{
  sigset_t set;
  pthread_t th;
  int ret;

  if (argc != 3) {
    fprintf (stderr, "usage: %s reader|writer|server|client NAME\n", argv[0]);
    return 1;
  }
  sigemptyset (&set);
  sigaddset (&set, SIGTERM);
  sigaddset (&set, SIGINT);
  pthread_sigmask (SIG_BLOCK, &set, NULL);
  signal (SIGPIPE, SIG_IGN);

  if (strcmp (argv[1], "server") == 0) {
    /* the server must exist before the signal thread may stop it */
    zb_duplex_config dc = { 4096, PAYLOAD_SIZE, 0, 300 };

    ret = zb_duplex_server_create (argv[2], &dc, &the_server);
    if (ret < 0) {
      fprintf (stderr, "zb_duplex_server_create: %s\n", zb_strerror (ret));
      return 1;
    }
  }
  pthread_create (&th, NULL, signal_thread, &set);

  if (strcmp (argv[1], "reader") == 0)
    ret = run_reader (argv[2]);
  else if (strcmp (argv[1], "writer") == 0)
    ret = run_writer (argv[2]);
  else if (strcmp (argv[1], "server") == 0) {
    event ("up", NULL);
    ret = zb_duplex_server_run (the_server, serve, NULL);
    if (ret < 0) {
      n_bad++;
      event ("bad", zb_strerror (ret));
    }
    pthread_mutex_lock (&server_lock);
    zb_duplex_server_destroy (the_server);
    the_server = NULL;
    pthread_mutex_unlock (&server_lock);
    ret = 0;
  } else if (strcmp (argv[1], "client") == 0)
    ret = run_client (argv[2]);
  else {
    fprintf (stderr, "unknown mode %s\n", argv[1]);
    return 1;
  }
  printf ("summary frames=%llu bad=%llu peers=%llu\n",
      (unsigned long long) n_frames, (unsigned long long) n_bad,
      (unsigned long long) n_peers);
  fflush (stdout);
  if (ret != 0)
    return ret;
  return n_bad == 0 ? 0 : 4;
}
