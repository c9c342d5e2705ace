/* Duplex answers in place (docs/duplex.md "In place"): the server changes
 * the request where it lies and the client reads it back there. Server
 * and client in separate processes over real shared memory. */

#include "../lib/zbtest.h"

#include <pthread.h>
#include <unistd.h>

#define NONCE_OFFSET 0x68       /* the client's nonce: OIEB reserved[1..2] */

enum
{
  IN_PLACE,                     /* XOR 0xff in place, answer bytes 8.. */
  FORGE,                        /* forge in-place records (see forge()) */
};

typedef struct
{
  const char *name;
  size_t payload_size;
  int mode;
} server_args;

/* In place when the client takes it: bytes from 8 (all of a shorter
 * request) XORed with 0xff. Else by copy, the same bytes, and a first
 * byte 0xc0 more in front: a client can tell which way it was answered. */
static int
in_place (zb_duplex_server * server, const zb_frame * request)
{
  size_t off = request->size > 8 ? 8 : 0, n = request->size - off, size, i;
  uint8_t *data, *out;
  int ret;

  ret = zb_duplex_server_request_data (server, (void **) &data, &size);
  if (ret == 0) {
    ZBT_EQU (size, request->size);
    ZBT_ASSERT (data == request->data);
    for (i = off; i < size; i++)
      data[i] ^= 0xff;
    return zb_duplex_server_respond_in_place (server, off, n);
  }
  ZBT_ERR (ret, -EOPNOTSUPP);
  ZBT_ERR (zb_duplex_server_respond_in_place (server, off, n), -EOPNOTSUPP);
  ret = zb_duplex_server_acquire (server, n + 1, (void **) &out);
  if (ret < 0)
    return ret;
  out[0] = 0xc0;
  for (i = 0; i < n; i++)
    out[1 + i] = ((const uint8_t *) request->data)[off + i] ^ 0xff;
  return zb_duplex_server_commit (server);
}

/* A hostile server: it reads the client's nonce from its response buffer
 * and answers request 1 with a record naming request 7 (never sent),
 * request 2 with one past the end of the request, request 3 correctly. */
static int
forge (zb_duplex_server * server, const zb_frame * request, const char *name)
{
  struct
  {
    uint8_t nonce[16];
    uint64_t sequence, offset, size;
  } rec;
  char resp[ZB_NAME_MAX + 1];
  size_t map_size;
  uint8_t *m;

  snprintf (resp, sizeof resp, "%s_response", name);
  m = zbt_map (resp, &map_size);
  memcpy (rec.nonce, m + NONCE_OFFSET, sizeof (rec.nonce));
  munmap (m, map_size);
  rec.sequence = request->sequence == 1 ? 7 : request->sequence;
  rec.offset = request->sequence == 2 ? 1 : 0;
  rec.size = request->size;
  return zb_duplex_server_respond (server, &rec, sizeof (rec));
}

static int
handler (zb_duplex_server * server, const zb_frame * request, void *data)
{
  server_args *a = data;

  if (a->mode == FORGE)
    return forge (server, request, a->name);
  return in_place (server, request);
}

static void
serve (void *data)
{
  server_args *a = data;
  zb_duplex_config cfg = { 0, a->payload_size, 0, 3000 };
  zb_duplex_server *server;
  void *p;
  size_t n;

  ZBT_OK (zb_duplex_server_create (a->name, &cfg, &server));
  ZBT_ERR (zb_duplex_server_request_data (server, &p, &n), -EINVAL);
  ZBT_ERR (zb_duplex_server_respond_in_place (server, 0, 1), -EINVAL);
  ZBT_OK (zb_duplex_server_run (server, handler, a));
  zb_duplex_server_destroy (server);
}

static zb_duplex_client *
connect_client (const char *name, int timeout_ms)
{
  zb_duplex_config cfg = { 0, 1 << 20, 0, timeout_ms };
  zb_duplex_client *client;

  ZBT_OK (zb_duplex_client_connect (name, &cfg, &client));
  return client;
}


/* The answer @f to the request of @size bytes with the pattern of @seq,
 * answered in place at @at (the request's payload): no byte copied. */
static void
expect_in_place (const zb_frame * f, const uint8_t * at, size_t size,
    uint64_t seq)
{
  size_t off = size > 8 ? 8 : 0, i;
  const uint8_t *want = zbt_pattern (size, seq), *got = f->data;

  ZBT_ASSERT (f->data == at + off);
  ZBT_EQU (f->size, size - off);
  for (i = 0; i < f->size; i++) {
    uint8_t w = want[off + i] ^ 0xff;

    if (got[i] != w)
      ZBT_FAIL ("answer %llu byte %zu: 0x%02x", (unsigned long long) seq, i,
          got[i]);
  }
}

/* 400 requests of 1..20000 bytes, up to 4 in flight, over a 256 KiB
 * request ring (it wraps about 16 times): each answer lies where its
 * request was written, every byte changed by the server. */
static void
test_in_place_round_trips (void)
{
  server_args a = { zbt_name (), 256 << 10, IN_PLACE };
  pid_t pid = zbt_fork (serve, &a);
  zb_duplex_client *c = connect_client (a.name, 3000);
  const uint8_t *at[401];
  size_t sizes[401];
  uint64_t seq, next = 1;
  zb_frame f;

  for (seq = 1; seq <= 400; seq++) {
    void *dst;
    uint64_t s;

    sizes[seq] = 1 + (seq * 7919) % 20000;
    ZBT_OK (zb_duplex_client_acquire (c, sizes[seq], &dst));
    zbt_fill (dst, sizes[seq], seq);
    at[seq] = dst;
    ZBT_OK (zb_duplex_client_commit (c, &s));
    ZBT_EQU (s, seq);
    while (next <= seq && (seq - next >= 3 || seq == 400)) {
      ZBT_OK (zb_duplex_client_receive (c, 5000, &f));
      ZBT_EQU (f.sequence, next);
      expect_in_place (&f, at[next], sizes[next], next);
      ZBT_OK (zb_duplex_client_release (c, &f));
      next++;
    }
  }
  zb_duplex_client_destroy (c);
  zbt_kill_duplex_server (pid, a.name);
}

typedef struct
{
  zb_duplex_client *client;
  zb_frame held;
  const uint8_t *at;
  size_t size;
  int64_t released_ms;
} holder;

static void *
release_later (void *data)
{
  holder *h = data;

  zbt_sleep_ms (400);
  /* Still the server's answer: no later request was written over it. */
  expect_in_place (&h->held, h->at, h->size, 1);
  h->released_ms = zbt_now_ms ();
  ZBT_OK (zb_duplex_client_release (h->client, &h->held));
  return NULL;
}

/* An answer the client holds keeps its request's bytes: the server has
 * released the request, but the client does not write over it until the
 * answer is released (from another thread), then goes on at once. */
static void
test_in_place_held_answer_keeps_its_bytes (void)
{
  server_args a = { zbt_name (), 64 << 10, IN_PLACE };
  pid_t pid = zbt_fork (serve, &a);
  holder h = { connect_client (a.name, 5000), {0}, NULL, 20000, 0 };
  int64_t waited = 0;
  pthread_t thread;
  uint64_t seq;
  void *dst;

  ZBT_OK (zb_duplex_client_acquire (h.client, h.size, &dst));
  zbt_fill (dst, h.size, 1);
  h.at = dst;
  ZBT_OK (zb_duplex_client_commit (h.client, NULL));
  ZBT_OK (zb_duplex_client_receive (h.client, 5000, &h.held));
  expect_in_place (&h.held, h.at, h.size, 1);
  pthread_create (&thread, NULL, release_later, &h);
  /* 20 more: the ring holds three, so the writer comes round to the held
   * request's bytes and must wait for the release. */
  for (seq = 2; seq <= 21; seq++) {
    int64_t t0 = zbt_now_ms ();
    zb_frame f;

    ZBT_OK (zb_duplex_client_acquire (h.client, h.size, &dst));
    if (zbt_now_ms () - t0 > waited)
      waited = zbt_now_ms () - t0;
    zbt_fill (dst, h.size, seq);
    ZBT_OK (zb_duplex_client_commit (h.client, NULL));
    ZBT_OK (zb_duplex_client_receive (h.client, 5000, &f));
    expect_in_place (&f, dst, h.size, seq);
    ZBT_OK (zb_duplex_client_release (h.client, &f));
  }
  pthread_join (thread, NULL);
  zbt_diag ("longest acquire %lld ms (the answer was held 400 ms)",
      (long long) waited);
  ZBT_ASSERT (waited >= 250 && waited < 2000);
  zb_duplex_client_destroy (h.client);
  zbt_kill_duplex_server (pid, a.name);
}

/* A client that sends before it receives: twelve requests of 20000 bytes
 * into a request ring of three, then their twelve answers. The answers
 * in place keep their requests' bytes until received, so the sends that
 * wait for room read the answers that came and copy them out of the way
 * (docs/duplex.md "In place"); without that the fourth send waited for
 * its own receive, up to its timeout (-ENOBUFS). */
static void
test_in_place_send_ahead (void)
{
  server_args a = { zbt_name (), 64 << 10, IN_PLACE };
  pid_t pid = zbt_fork (serve, &a);
  zb_duplex_client *c = connect_client (a.name, 3000);
  uint64_t seq;
  int64_t t0 = zbt_now_ms ();

  for (seq = 1; seq <= 12; seq++) {
    void *dst;

    ZBT_OK (zb_duplex_client_acquire (c, 20000, &dst));
    zbt_fill (dst, 20000, seq);
    ZBT_OK (zb_duplex_client_commit (c, NULL));
  }
  for (seq = 1; seq <= 12; seq++) {
    const uint8_t *want = zbt_pattern (20000, seq), *got;
    zb_frame f;
    size_t i;

    ZBT_OK (zb_duplex_client_receive (c, 5000, &f));
    ZBT_EQU (f.sequence, seq);
    ZBT_EQU (f.size, 20000 - 8);
    got = f.data;
    for (i = 0; i < f.size; i++) {
      uint8_t w = want[8 + i] ^ 0xff;

      if (got[i] != w)
        ZBT_FAIL ("answer %llu byte %zu: 0x%02x", (unsigned long long) seq,
            i, got[i]);
    }
    ZBT_OK (zb_duplex_client_release (c, &f));
  }
  zbt_diag ("12 sent, then 12 received, in %lld ms",
      (long long) (zbt_now_ms () - t0));
  ZBT_ASSERT (zbt_now_ms () - t0 < 2000);
  zb_duplex_client_destroy (c);
  zbt_kill_duplex_server (pid, a.name);
}

/* zbfilter with max-in-flight=4 behind a sink that keeps its newest
 * buffer: three requests and their answers, then four requests at once
 * and their answers, and again, 100000 bytes each over a ring of about
 * 10.7 such frames; the newest answer is held until the next one comes.
 * The held answer (the third, at two frames from the ring's start) limits
 * the writer to the ring up to its request; an early ("hot") wrap to the
 * ring's start at the next request charged the skipped tail against that
 * limit and left room for two requests, so that the third of the four
 * could only go once the held answer was released, which needs an answer
 * to a request that could not be sent: the send waited for its timeout
 * (zbfilter moves its held answers away after 20 ms: a stall every few
 * frames). The writer no longer wraps early when that leaves no room
 * within its limit for as many more requests as the client has had out
 * at once (three here). */
static void
test_in_place_held_answer_no_early_wrap (void)
{
  server_args a = { zbt_name (), 10 * 100016 + 70000, IN_PLACE };
  pid_t pid = zbt_fork (serve, &a);
  zb_duplex_client *c = connect_client (a.name, 3000);
  const uint8_t *at[5];
  uint64_t sent = 0, got = 0;
  zb_frame held, f;
  int have = 0, burst = 3;
  int64_t t0 = zbt_now_ms (), t;

  while (got < 400) {
    while (sent - got < (uint64_t) burst) {
      void *dst;

      t = zbt_now_ms ();
      ZBT_OK (zb_duplex_client_acquire (c, 100000, &dst));
      if (zbt_now_ms () - t > 500)
        ZBT_FAIL ("request %llu waited %lld ms for room",
            (unsigned long long) sent + 1, (long long) (zbt_now_ms () - t));
      zbt_fill (dst, 100000, ++sent);
      at[sent % 5] = dst;
      ZBT_OK (zb_duplex_client_commit (c, NULL));
    }
    while (got < sent) {
      ZBT_OK (zb_duplex_client_receive (c, 5000, &f));
      ZBT_EQU (f.sequence, ++got);
      expect_in_place (&f, at[got % 5], 100000, got);
      if (have)
        ZBT_OK (zb_duplex_client_release (c, &held));
      held = f;
      have = 1;
    }
    burst = burst == 3 ? 4 : 3;
  }
  ZBT_OK (zb_duplex_client_release (c, &held));
  zbt_diag ("400 round trips, 3 or 4 in flight, newest answer held: %lld ms",
      (long long) (zbt_now_ms () - t0));
  zb_duplex_client_destroy (c);
  zbt_kill_duplex_server (pid, a.name);
}

/* zbfilter with max-in-flight=1 behind a sink that keeps its newest
 * buffer (fakesink's last sample): one request at a time, 100000 bytes
 * over a ring of about 10.7 such frames, the newest answer held until the
 * next one comes. The requests go back and forth between the ring's
 * first two places (early wraps that leave room for this one request
 * only), so that what the producer fills and the server changes stays in
 * the CPU caches. Before, an early wrap had to leave half the ring within
 * the limit, and the requests went through half the ring: six places. */
static void
test_in_place_held_answer_two_places (void)
{
  server_args a = { zbt_name (), 10 * 100016 + 70000, IN_PLACE };
  pid_t pid = zbt_fork (serve, &a);
  zb_duplex_client *c = connect_client (a.name, 3000);
  const uint8_t *places[16];
  size_t n_places = 0, i;
  uint64_t seq;
  zb_frame held, f;
  int have = 0;

  for (seq = 1; seq <= 60; seq++) {
    void *dst;

    ZBT_OK (zb_duplex_client_acquire (c, 100000, &dst));
    zbt_fill (dst, 100000, seq);
    ZBT_OK (zb_duplex_client_commit (c, NULL));
    ZBT_OK (zb_duplex_client_receive (c, 5000, &f));
    ZBT_EQU (f.sequence, seq);
    expect_in_place (&f, dst, 100000, seq);
    if (have)
      ZBT_OK (zb_duplex_client_release (c, &held));
    held = f;
    have = 1;
    /* after the first pass over the ring's start */
    if (seq <= 10)
      continue;
    for (i = 0; i < n_places && places[i] != dst; i++);
    if (i == n_places && n_places < 16)
      places[n_places++] = dst;
  }
  ZBT_OK (zb_duplex_client_release (c, &held));
  zbt_diag ("50 requests went to %zu places", n_places);
  ZBT_ASSERT (n_places <= 2);
  zb_duplex_client_destroy (c);
  zbt_kill_duplex_server (pid, a.name);
}

/* 20 round trips on channel @name as a client of the reference
 * implementations makes them (a plain reader of NAME_response, a plain
 * writer of NAME_request, which never say that they take answers in
 * place): each answer is a copy, the request's 8-byte header replaced by
 * one byte 0xc0, the rest inverted. */
static void
reference_round_trips (const char *name)
{
  char req[ZB_NAME_MAX + 1], resp[ZB_NAME_MAX + 1];
  zb_writer_config wc = { 3000, 3000 };
  zb_writer *w;
  zb_reader *r;
  uint64_t seq;

  snprintf (req, sizeof req, "%s_request", name);
  snprintf (resp, sizeof resp, "%s_response", name);
  r = zbt_reader (resp, 4096, 1 << 20);
  ZBT_OK (zb_writer_connect (req, &wc, &w));
  for (seq = 1; seq <= 20; seq++) {
    size_t size = 100 + seq, i;
    const uint8_t *want = zbt_pattern (size, seq), *got;
    zb_frame f;

    ZBT_OK (zbt_write (w, size, seq));
    ZBT_OK (zb_reader_read (r, 5000, &f));
    ZBT_EQU (f.size, size - 8 + 1);
    got = f.data;
    ZBT_EQ (got[0], 0xc0);
    for (i = 8; i < size; i++)
      ZBT_EQ (got[1 + i - 8], want[i] ^ 0xff);
    ZBT_OK (zb_reader_release (r, &f));
  }
  zb_writer_disconnect (w);
  zb_reader_destroy (r);
}

/* A client as the reference implementations make one (a plain reader of
 * NAME_response, a plain writer of NAME_request): it never says that it
 * takes answers in place, so it gets its answers by copy. */
static void
test_in_place_reference_client_gets_copies (void)
{
  server_args a = { zbt_name (), 64 << 10, IN_PLACE };
  pid_t pid = zbt_fork (serve, &a);

  reference_round_trips (a.name);
  zbt_kill_duplex_server (pid, a.name);
}

/* Hostile in-place records: one naming a request never sent, one past the
 * end of its request: -EPROTO, nothing read out of bounds; the client
 * goes on, and a correct one is taken. */
static void
test_in_place_forged_records (void)
{
  server_args a = { zbt_name (), 64 << 10, FORGE };
  pid_t pid = zbt_fork (serve, &a);
  zb_duplex_client *c = connect_client (a.name, 3000);
  const uint8_t *at[4];
  uint64_t seq;
  zb_frame f;

  for (seq = 1; seq <= 3; seq++) {
    void *dst;

    ZBT_OK (zb_duplex_client_acquire (c, 64, &dst));
    zbt_fill (dst, 64, seq);
    at[seq] = dst;
    ZBT_OK (zb_duplex_client_commit (c, NULL));
  }
  ZBT_ERR (zb_duplex_client_receive (c, 5000, &f), -EPROTO);
  ZBT_ERR (zb_duplex_client_receive (c, 5000, &f), -EPROTO);
  ZBT_OK (zb_duplex_client_receive (c, 5000, &f));
  ZBT_ASSERT (f.data == at[3]);
  ZBT_EQU (f.size, 64);
  ZBT_PATTERN (f.data, 64, 3);  /* the forger changed nothing */
  ZBT_OK (zb_duplex_client_release (c, &f));
  zb_duplex_client_destroy (c);
  zbt_kill_duplex_server (pid, a.name);
}

/* A server that reads its requests and writes its responses itself, as
 * zbsrc and zbsink channel-name do: it offers answers in place in its
 * request buffer (zb_duplex_requests_offer_in_place(), before telling the
 * parent through @ready), changes bytes 8.. of each request where they
 * lie and answers with the record of zb_duplex_responses_in_place(); for
 * a client that did not declare itself (-EOPNOTSUPP) it copies, as
 * in_place() does. Serves 20 requests, then waits to be killed. */
typedef struct
{
  const char *name;
  int ready;
} self_args;

static void
serve_self (void *data)
{
  self_args *a = data;
  char req[ZB_NAME_MAX + 1], resp[ZB_NAME_MAX + 1];
  zb_writer_config wc = { 3000, 3000 };
  uint8_t rec[ZB_DUPLEX_IN_PLACE_SIZE], out[256];
  zb_writer *w = NULL;
  zb_reader *r;
  int n, ret;

  snprintf (req, sizeof req, "%s_request", a->name);
  snprintf (resp, sizeof resp, "%s_response", a->name);
  r = zbt_reader (req, 4096, 64 << 10);
  ZBT_ERR (zb_duplex_requests_offer_in_place (NULL), -EINVAL);
  ZBT_OK (zb_duplex_requests_offer_in_place (r));
  zbt_signal (a->ready, 'r');
  for (n = 0; n < 20; n++) {
    zb_frame f;
    uint8_t *p;
    size_t i;

    ZBT_OK (zb_reader_read (r, 5000, &f));
    if (w == NULL) {
      ZBT_OK (zb_writer_connect (resp, &wc, &w));
      ZBT_ERR (zb_duplex_responses_in_place (NULL, 1, 0, 1, rec), -EINVAL);
      ZBT_ERR (zb_duplex_responses_in_place (w, 1, 0, 0, rec), -EINVAL);
    }
    ZBT_ASSERT (f.size > 8 && f.size < sizeof (out));
    /* our mapping of the request ring is read-write */
    p = (uint8_t *) f.data;
    for (i = 8; i < f.size; i++)
      p[i] ^= 0xff;
    ret = zb_duplex_responses_in_place (w, f.sequence, 8, f.size - 8, rec);
    if (ret == 0) {
      ZBT_OK (zb_writer_write (w, rec, sizeof (rec)));
    } else {
      ZBT_ERR (ret, -EOPNOTSUPP);
      out[0] = 0xc0;
      memcpy (out + 1, p + 8, f.size - 8);
      ZBT_OK (zb_writer_write (w, out, f.size - 8 + 1));
    }
    ZBT_OK (zb_reader_release (r, &f));
  }
  pause ();
}

/* zb_duplex_requests_offer_in_place() and zb_duplex_responses_in_place()
 * (the GStreamer server's way, tests/gst/test_zbinplace.c): a client of
 * this library gets every answer in place, at its request's bytes; a
 * reference-style client (a plain writer and reader) gets copies. */
static void
test_in_place_own_reader_and_writer (void)
{
  int ref;

  for (ref = 0; ref < 2; ref++) {
    int fds[2];
    self_args a = { zbt_name (), 0 };
    pid_t pid;
    uint64_t seq;

    zbt_pipe (fds);
    a.ready = fds[1];
    pid = zbt_fork (serve_self, &a);
    zbt_await (fds[0], 5000);
    close (fds[0]);
    close (fds[1]);
    if (!ref) {
      zb_duplex_client *c = connect_client (a.name, 3000);

      for (seq = 1; seq <= 20; seq++) {
        size_t size = 100 + seq;
        void *dst;
        zb_frame f;

        ZBT_OK (zb_duplex_client_acquire (c, size, &dst));
        zbt_fill (dst, size, seq);
        ZBT_OK (zb_duplex_client_commit (c, NULL));
        ZBT_OK (zb_duplex_client_receive (c, 5000, &f));
        expect_in_place (&f, dst, size, seq);
        ZBT_OK (zb_duplex_client_release (c, &f));
      }
      zb_duplex_client_destroy (c);
    } else {
      reference_round_trips (a.name);
    }
    zbt_kill_duplex_server (pid, a.name);
  }
}

int
main (int argc, char **argv)
{
  static const zbt_case cases[] = {
    {"13.x in place: 400 round trips, 4 in flight, ring wraps",
        test_in_place_round_trips, 30},
    {"13.x in place: a held answer keeps its request's bytes",
        test_in_place_held_answer_keeps_its_bytes, 30},
    {"13.x in place: twelve sent before one is received, ring of three",
        test_in_place_send_ahead, 30},
    {"13.x in place: 4 in flight, newest answer held, no early wrap",
        test_in_place_held_answer_no_early_wrap, 30},
    {"13.x in place: one request out, newest answer held: two places",
        test_in_place_held_answer_two_places, 30},
    {"13.x in place: a server's own reader and writer (zbsrc/zbsink's way)",
        test_in_place_own_reader_and_writer, 30},
    {"13.x in place: a reference-style client gets copies",
        test_in_place_reference_client_gets_copies, 30},
    {"13.x in place: forged records are refused",
        test_in_place_forged_records, 30},
  };

  return zbt_main (cases, sizeof (cases) / sizeof (cases[0]), argc, argv);
}
