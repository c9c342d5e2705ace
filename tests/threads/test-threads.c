/* Concurrency inside one process, for ThreadSanitizer: a writer thread, a
 * reader thread, and two releaser threads that release frames out of order
 * while the reader keeps reading; wakeups from another thread; a duplex
 * server stopped from another thread. Also a plain test in every build. */

#include "zerobuffer/zerobuffer.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define FRAMES 200000
#define QUEUE 64

static char name[64];
static int failures;

#define CHECK(cond) do {                                               \
    if (!(cond)) {                                                     \
      fprintf (stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, \
          #cond);                                                      \
      __atomic_add_fetch (&failures, 1, __ATOMIC_RELAXED);             \
    }                                                                  \
  } while (0)

/* Frames handed from the reader to the releasers. */
typedef struct
{
  pthread_mutex_t lock;
  pthread_cond_t cond;
  zb_frame frames[QUEUE];
  int count;
  int done;
} frame_queue;

static zb_reader *reader;
static frame_queue queue = { PTHREAD_MUTEX_INITIALIZER,
  PTHREAD_COND_INITIALIZER
};

static void *
writer_thread (void *data)
{
  zb_writer_config wc = { 5000, 10000 };
  zb_writer *w;
  uint8_t buf[700];
  long i;

  CHECK (zb_writer_connect (name, &wc, &w) == 0);
  for (i = 0; i < FRAMES; i++) {
    size_t size = 1 + (i * 131) % sizeof (buf);

    memset (buf, (int) (i & 0xff), size);
    if (zb_writer_write (w, buf, size) != 0) {
      CHECK (0);
      break;
    }
  }
  zb_writer_disconnect (w);
  return NULL;
}

static void *
releaser_thread (void *data)
{
  unsigned int seed = (unsigned int) (uintptr_t) data;

  for (;;) {
    zb_frame f;
    int k;

    pthread_mutex_lock (&queue.lock);
    while (queue.count == 0 && !queue.done)
      pthread_cond_wait (&queue.cond, &queue.lock);
    if (queue.count == 0) {
      pthread_mutex_unlock (&queue.lock);
      return NULL;
    }
    /* Take a random held frame: releases arrive out of order. */
    k = rand_r (&seed) % queue.count;
    f = queue.frames[k];
    queue.frames[k] = queue.frames[--queue.count];
    pthread_cond_broadcast (&queue.cond);
    pthread_mutex_unlock (&queue.lock);

    {
      const uint8_t *p = f.data;
      size_t i;

      for (i = 0; i < f.size; i++)
        if (p[i] != (uint8_t) ((f.sequence - 1) & 0xff)) {
          CHECK (0);
          break;
        }
    }
    CHECK (zb_reader_release (reader, &f) == 0);
    (void) zb_reader_held_bytes (reader);
  }
}

static void
test_out_of_order_release_threads (void)
{
  zb_reader_config rc = { 0, 256 * 1024, 0 };
  pthread_t w, r1, r2;
  long got = 0;

  CHECK (zb_reader_create (name, &rc, &reader) == 0);
  pthread_create (&w, NULL, writer_thread, NULL);
  pthread_create (&r1, NULL, releaser_thread, (void *) 1);
  pthread_create (&r2, NULL, releaser_thread, (void *) 2);
  for (;;) {
    zb_frame f;
    int ret = zb_reader_read (reader, 5000, &f);

    if (ret == -EPIPE)
      break;
    if (ret != 0) {
      CHECK (0);
      break;
    }
    CHECK (f.sequence == (uint64_t) got + 1);
    got++;
    pthread_mutex_lock (&queue.lock);
    while (queue.count == QUEUE)
      pthread_cond_wait (&queue.cond, &queue.lock);
    queue.frames[queue.count++] = f;
    pthread_cond_broadcast (&queue.cond);
    pthread_mutex_unlock (&queue.lock);
  }
  pthread_mutex_lock (&queue.lock);
  queue.done = 1;
  pthread_cond_broadcast (&queue.cond);
  pthread_mutex_unlock (&queue.lock);
  pthread_join (w, NULL);
  pthread_join (r1, NULL);
  pthread_join (r2, NULL);
  CHECK (got == FRAMES);
  CHECK (zb_reader_held_bytes (reader) == 0);
  zb_reader_destroy (reader);
  printf ("%s 1 - %ld frames, out-of-order releases from two threads\n",
      failures ? "not ok" : "ok", got);
}

static int64_t
now_us (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t woken_at;

static void *
wake_reader (void *data)
{
  struct timespec ts = { 0, (15 + rand () % 30) * 1000 * 1000 };

  nanosleep (&ts, NULL);
  __atomic_store_n (&woken_at, now_us (), __ATOMIC_RELEASE);
  zb_reader_wakeup (data);
  return NULL;
}

/* A blocked read returns -EINTR when another thread wakes it (within a
 * 50 ms slice), and frames written around wakeups arrive once each, in
 * order. */
static void
test_wakeup_from_another_thread (void)
{
  zb_reader_config rc = { 0, 4096, 0 };
  zb_writer_config wc = { 1000, 1000 };
  zb_reader *r;
  zb_writer *w;
  zb_frame f;
  pthread_t t;
  int64_t total = 0;
  int i, before = failures;
  uint8_t b;

  CHECK (zb_reader_create (name, &rc, &r) == 0);
  for (i = 0; i < 10; i++) {
    pthread_create (&t, NULL, wake_reader, r);
    CHECK (zb_reader_read (r, 5000, &f) == -EINTR);
    total += now_us () - __atomic_load_n (&woken_at, __ATOMIC_ACQUIRE);
    pthread_join (t, NULL);
    zb_reader_wakeup_clear (r);
  }
  /* within one 50 ms slice of the reader's wait */
  printf ("# a wakeup ended the read after %lld us on average\n",
      (long long) total / 10);
  CHECK (total / 10 <= 100000);
  CHECK (zb_reader_read (r, 0, &f) == -EAGAIN);
  /* woken while not reading, then frames */
  CHECK (zb_writer_connect (name, &wc, &w) == 0);
  zb_reader_wakeup (r);
  zb_reader_wakeup (r);
  CHECK (zb_reader_read (r, 0, &f) == -EINTR);
  zb_reader_wakeup_clear (r);
  for (b = 1; b <= 3; b++)
    CHECK (zb_writer_write (w, &b, 1) == 0);
  for (b = 1; b <= 3; b++) {
    CHECK (zb_reader_read (r, 1000, &f) == 0 && f.size == 1
        && *(const uint8_t *) f.data == b);
    CHECK (zb_reader_release (r, &f) == 0);
  }
  CHECK (zb_reader_read (r, 0, &f) == -EAGAIN);
  zb_writer_disconnect (w);
  zb_reader_destroy (r);
  printf ("%s 2 - wakeup from another thread, no phantom frame\n",
      failures > before ? "not ok" : "ok");
}

static int
echo (zb_duplex_server * s, const zb_frame * req, void *data)
{
  return zb_duplex_server_respond (s, req->data, req->size);
}

static void *
run_server (void *data)
{
  CHECK (zb_duplex_server_run (data, echo, NULL) == 0);
  return NULL;
}

static void
test_duplex_stop_from_another_thread (void)
{
  zb_duplex_config cfg = { 0, 65536, 0, 2000 };
  zb_duplex_server *s;
  zb_duplex_client *c;
  pthread_t t;
  zb_frame f;
  int i, before = failures;

  CHECK (zb_duplex_server_create (name, &cfg, &s) == 0);
  pthread_create (&t, NULL, run_server, s);
  CHECK (zb_duplex_client_connect (name, &cfg, &c) == 0);
  for (i = 0; i < 1000; i++) {
    CHECK (zb_duplex_client_send (c, "ping", 4, NULL) == 0);
    CHECK (zb_duplex_client_receive (c, 2000, &f) == 0);
    CHECK (f.size == 4 && memcmp (f.data, "ping", 4) == 0);
    zb_duplex_client_release (c, &f);
  }
  zb_duplex_server_stop (s);
  pthread_join (t, NULL);
  zb_duplex_client_destroy (c);
  zb_duplex_server_destroy (s);
  printf ("%s 3 - duplex server stopped from another thread\n",
      failures > before ? "not ok" : "ok");
}

int
main (void)
{
  snprintf (name, sizeof (name), "zbt-threads-%d", (int) getpid ());
  printf ("1..3\n");
  test_out_of_order_release_threads ();
  test_wakeup_from_another_thread ();
  test_duplex_stop_from_another_thread ();
  return failures ? 1 : 0;
}
