/* zb_duplex_client_try_acquire() and zb_duplex_client_cancel(): a request
 * given up is never sent (the server sees exactly the committed ones, in
 * sequence, with their own bytes), the next acquire may return the same
 * bytes, a try never waits. For a client of a server of this library
 * (answers in place: the client's entries and ring limit) and of a server
 * that copies (no offer in place). Server and client in separate
 * processes, or the server's request reader in the test's process where
 * the test must decide when a request is read. */

#include "../lib/zbtest.h"

#define LOG_MAX 512

/* What the server saw, in shared memory. */
typedef struct
{
  volatile int n;
  uint64_t sequence[LOG_MAX];
  uint64_t size[LOG_MAX];
  int pattern_ok[LOG_MAX];      /* bytes as the client filled them */
} request_log;

enum
{
  LIB,                          /* zb_duplex_server_run(): in place */
  COPY,                         /* own reader and writer, no offer: copies */
};

typedef struct
{
  const char *name;
  int mode;
  request_log *log;
} server_args;

static void
note (request_log * log, const zb_frame * request)
{
  int i = log->n;

  if (i >= LOG_MAX)
    ZBT_FAIL ("more than %d requests", LOG_MAX);
  log->sequence[i] = request->sequence;
  log->size[i] = request->size;
  log->pattern_ok[i] = zbt_verify (request->data, request->size,
      request->sequence) < 0;
  __atomic_store_n (&log->n, i + 1, __ATOMIC_RELEASE);
}

/* Every byte inverted: in place where the client takes it, else a copy. */
static int
handler (zb_duplex_server * server, const zb_frame * request, void *data)
{
  server_args *a = data;
  uint8_t *p, *out;
  size_t size, i;
  int ret;

  note (a->log, request);
  ret = zb_duplex_server_request_data (server, (void **) &p, &size);
  if (ret == 0) {
    for (i = 0; i < size; i++)
      p[i] ^= 0xff;
    return zb_duplex_server_respond_in_place (server, 0, size);
  }
  ret = zb_duplex_server_acquire (server, request->size, (void **) &out);
  if (ret < 0)
    return ret;
  for (i = 0; i < request->size; i++)
    out[i] = ((const uint8_t *) request->data)[i] ^ 0xff;
  return zb_duplex_server_commit (server);
}

static void
serve (void *data)
{
  server_args *a = data;
  zb_duplex_config cfg = { 0, 64 << 10, 0, 3000 };
  zb_duplex_server *server;
  char req[ZB_NAME_MAX + 1], resp[ZB_NAME_MAX + 1];
  zb_writer_config wc = { 3000, 3000 };
  zb_writer *w = NULL;
  zb_reader *r;
  uint8_t *out;

  if (a->mode == LIB) {
    ZBT_OK (zb_duplex_server_create (a->name, &cfg, &server));
    ZBT_OK (zb_duplex_server_run (server, handler, a));
    zb_duplex_server_destroy (server);
    return;
  }
  /* A server as the reference implementations make one: it never offers
   * answers in place, so the client copies nothing and keeps no entries. */
  snprintf (req, sizeof req, "%s_request", a->name);
  snprintf (resp, sizeof resp, "%s_response", a->name);
  r = zbt_reader (req, 4096, 64 << 10);
  out = malloc (64 << 10);
  ZBT_ASSERT (out != NULL);
  for (;;) {
    zb_frame f;
    size_t i;
    int ret = zb_reader_read (r, 5000, &f);

    if (ret == -ETIMEDOUT)
      continue;
    if (ret == -EPIPE || ret == -EOWNERDEAD)
      pause ();                 /* the client left: wait to be killed */
    ZBT_OK (ret);
    if (w == NULL)
      ZBT_OK (zb_writer_connect (resp, &wc, &w));
    note (a->log, &f);
    for (i = 0; i < f.size; i++)
      out[i] = ((const uint8_t *) f.data)[i] ^ 0xff;
    ZBT_OK (zb_reader_release (r, &f));
    ZBT_OK (zb_writer_write (w, out, f.size));
  }
}

static zb_duplex_client *
connect_client (const char *name, int timeout_ms)
{
  zb_duplex_config cfg = { 0, 1 << 20, 0, timeout_ms };
  zb_duplex_client *client = NULL;

  ZBT_OK (zb_duplex_client_connect (name, &cfg, &client));
  return client;
}

/* The answer @f to request @seq of @size bytes sent from @at: every byte
 * inverted; in place (at @at itself) for a server of this library. */
static void
expect_answer (const zb_frame * f, int mode, const uint8_t * at, size_t size,
    uint64_t seq)
{
  const uint8_t *want = zbt_pattern (size, seq), *got = f->data;
  size_t i;

  ZBT_EQU (f->sequence, seq);
  ZBT_EQU (f->size, size);
  if (mode == LIB)
    ZBT_ASSERT (f->data == at);
  else
    ZBT_ASSERT (f->data != at);
  for (i = 0; i < size; i++) {
    uint8_t w = want[i] ^ 0xff;

    if (got[i] != w)
      ZBT_FAIL ("answer %llu byte %zu: 0x%02x", (unsigned long long) seq, i,
          got[i]);
  }
}

/* Wait until the server has seen @n requests; then they are requests 1..n
 * of @sizes, with their bytes, and no more come. */
static void
expect_log (request_log * log, const size_t *sizes, int n)
{
  int64_t deadline = zbt_now_ms () + 3000;
  int i;

  while (__atomic_load_n (&log->n, __ATOMIC_ACQUIRE) < n
      && zbt_now_ms () < deadline)
    zbt_sleep_ms (5);
  zbt_sleep_ms (100);           /* a phantom request would show by now */
  ZBT_EQ (__atomic_load_n (&log->n, __ATOMIC_ACQUIRE), n);
  for (i = 0; i < n; i++) {
    ZBT_EQU (log->sequence[i], i + 1);
    ZBT_EQU (log->size[i], sizes[i + 1]);
    if (!log->pattern_ok[i])
      ZBT_FAIL ("request %d: the server read other bytes", i + 1);
  }
}

#define ROUNDS 300

/* Cancel with nothing pending or a wrong pointer: -EINVAL, nothing lost;
 * with the right one: 0, and the next acquire returns the same bytes;
 * then ROUNDS requests of 1..20000 bytes over a 64 KiB request ring (it
 * wraps about 45 times), each after an acquire (of another size) given
 * up, up to 3 in flight: every request arrives once, in sequence, with
 * its bytes; a client of the in-place server gets each answer at its
 * request's bytes, and never waits for room its given-up acquires would
 * hold (its entries and ring limit count only what was committed). */
static void
run_cancel (int mode)
{
  request_log *log = zbt_shared (sizeof (request_log));
  server_args a = { zbt_name (), mode, log };
  pid_t pid = zbt_fork (serve, &a);
  zb_duplex_client *c = connect_client (a.name, 3000);
  static size_t sizes[ROUNDS + 1];
  const uint8_t *at[ROUNDS + 1];
  uint8_t *p, *q, other;
  uint64_t seq, next = 1, s;
  int64_t t0, waited = 0;
  int same = 0;
  zb_frame f;

  ZBT_ERR (zb_duplex_client_cancel (c, &other), -EINVAL);       /* none */
  ZBT_ERR (zb_duplex_client_cancel (NULL, &other), -EINVAL);
  ZBT_OK (zb_duplex_client_acquire (c, 100, (void **) &p));
  memset (p, 0xee, 100);
  ZBT_ERR (zb_duplex_client_cancel (c, NULL), -EINVAL);
  ZBT_ERR (zb_duplex_client_cancel (c, p + 1), -EINVAL);
  ZBT_ERR (zb_duplex_client_cancel (c, &other), -EINVAL);
  /* the wrong pointers gave nothing up */
  ZBT_ERR (zb_duplex_client_acquire (c, 10, (void **) &q), -EALREADY);
  ZBT_OK (zb_duplex_client_cancel (c, p));
  ZBT_ERR (zb_duplex_client_cancel (c, p), -EINVAL);    /* given up */
  ZBT_ERR (zb_duplex_client_commit (c, &s), -EINVAL);   /* nothing sent */
  sizes[1] = 200;
  ZBT_OK (zb_duplex_client_acquire (c, sizes[1], (void **) &q));
  ZBT_ASSERT (q == p);
  zbt_fill (q, sizes[1], 1);
  at[1] = q;
  ZBT_OK (zb_duplex_client_commit (c, &s));
  ZBT_EQU (s, 1);
  ZBT_ERR (zb_duplex_client_cancel (c, q), -EINVAL);    /* committed */
  ZBT_OK (zb_duplex_client_receive (c, 5000, &f));
  expect_answer (&f, mode, at[1], sizes[1], 1);
  ZBT_OK (zb_duplex_client_release (c, &f));
  next = 2;

  for (seq = 2; seq <= ROUNDS; seq++) {
    sizes[seq] = 1 + (seq * 7919) % 20000;
    t0 = zbt_now_ms ();
    ZBT_OK (zb_duplex_client_acquire (c, 1 + (seq * 104729) % 20000,
            (void **) &p));
    memset (p, 0xee, 1 + (seq * 104729) % 20000);
    ZBT_OK (zb_duplex_client_cancel (c, p));
    ZBT_OK (zb_duplex_client_acquire (c, sizes[seq], (void **) &q));
    if (zbt_now_ms () - t0 > waited)
      waited = zbt_now_ms () - t0;
    /* the same bytes, unless this one (not the one given up) had to
     * wrap: then the ring's start */
    if (q == p)
      same++;
    else if (q != at[1])
      ZBT_FAIL ("request %llu: acquire at %p, given up at %p, ring at %p",
          (unsigned long long) seq, (void *) q, (void *) p, (void *) at[1]);
    zbt_fill (q, sizes[seq], seq);
    at[seq] = q;
    ZBT_OK (zb_duplex_client_commit (c, &s));
    ZBT_EQU (s, seq);
    while (next <= seq && (seq - next >= 2 || seq == ROUNDS)) {
      ZBT_OK (zb_duplex_client_receive (c, 5000, &f));
      expect_answer (&f, mode, at[next], sizes[next], next);
      ZBT_OK (zb_duplex_client_release (c, &f));
      next++;
    }
  }
  zbt_diag ("%d requests, each after a given-up acquire: %d at its bytes, "
      "longest wait for room %lld ms", ROUNDS, same, (long long) waited);
  ZBT_ASSERT (waited < 1000);
  ZBT_ASSERT (same > ROUNDS * 3 / 4);
  expect_log (log, sizes, ROUNDS);
  zb_duplex_client_destroy (c);
  zbt_kill_duplex_server (pid, a.name);
  munmap (log, sizeof (request_log));
}

static void
test_cancel_in_place_server (void)
{
  run_cancel (LIB);
}

static void
test_cancel_copying_server (void)
{
  run_cancel (COPY);
}

/* Cancel, then a send (by copy into the ring): the server sees the sent
 * request as request 1, and a try_acquire given up changes nothing. */
static void
run_cancel_then_send (int mode)
{
  request_log *log = zbt_shared (sizeof (request_log));
  server_args a = { zbt_name (), mode, log };
  pid_t pid = zbt_fork (serve, &a);
  zb_duplex_client *c = connect_client (a.name, 3000);
  static size_t sizes[4] = { 0, 300, 60, 5000 };
  uint8_t buf[300], *p, *q;
  uint64_t s, seq;
  zb_frame f;

  ZBT_OK (zb_duplex_client_try_acquire (c, 1000, (void **) &p));
  ZBT_ERR (zb_duplex_client_try_acquire (c, 10, (void **) &q), -EALREADY);
  ZBT_OK (zb_duplex_client_cancel (c, p));
  zbt_fill (buf, 300, 1);
  ZBT_OK (zb_duplex_client_send (c, buf, 300, &s));
  ZBT_EQU (s, 1);
  ZBT_OK (zb_duplex_client_try_acquire (c, 50, (void **) &p));
  ZBT_OK (zb_duplex_client_cancel (c, p));
  ZBT_OK (zb_duplex_client_try_acquire (c, sizes[2], (void **) &q));
  ZBT_ASSERT (q == p);
  zbt_fill (q, sizes[2], 2);
  ZBT_OK (zb_duplex_client_commit (c, &s));
  ZBT_EQU (s, 2);
  ZBT_OK (zb_duplex_client_acquire (c, sizes[3], (void **) &p));
  zbt_fill (p, sizes[3], 3);
  ZBT_OK (zb_duplex_client_commit (c, &s));
  ZBT_EQU (s, 3);
  for (seq = 1; seq <= 3; seq++) {
    const uint8_t *want = zbt_pattern (sizes[seq], seq), *got;
    size_t i;

    ZBT_OK (zb_duplex_client_receive (c, 5000, &f));
    ZBT_EQU (f.sequence, seq);
    ZBT_EQU (f.size, sizes[seq]);
    got = f.data;
    for (i = 0; i < f.size; i++) {
      uint8_t w = want[i] ^ 0xff;

      ZBT_EQ (got[i], w);
    }
    ZBT_OK (zb_duplex_client_release (c, &f));
  }
  expect_log (log, sizes, 3);
  zb_duplex_client_destroy (c);
  zbt_kill_duplex_server (pid, a.name);
  munmap (log, sizeof (request_log));
}

static void
test_cancel_then_send (void)
{
  run_cancel_then_send (LIB);
  run_cancel_then_send (COPY);
}

/* How long a call took, in microseconds. */
#define TIMED(us, expr) do {                                           \
    int64_t zbt__t0 = zbt_now_us ();                                   \
    expr;                                                              \
    (us) = zbt_now_us () - zbt__t0;                                    \
  } while (0)

/* try_acquire on a full request ring returns -EAGAIN at once, although
 * the client's timeout is 5 s; -EALREADY with an acquire pending, with
 * room or without; it succeeds once room comes back: for a copying
 * server when the server releases a request, for one answering in place
 * only when the answer is released too (until then the request's bytes
 * are kept, and the try still does not wait). The server's request
 * reader is in this process, so that the test decides when it reads. */
static void
run_try_acquire_full (int in_place)
{
  const char *name = zbt_name ();
  char req[ZB_NAME_MAX + 1], resp[ZB_NAME_MAX + 1];
  zb_writer_config wc = { 3000, 3000 };
  zb_reader *r;
  zb_writer *w = NULL;
  zb_duplex_client *c;
  uint8_t *first = NULL, *p, *q;
  int64_t us, worst = 0;
  int n, ret;
  zb_frame f, got;

  snprintf (req, sizeof req, "%s_request", name);
  snprintf (resp, sizeof resp, "%s_response", name);
  r = zbt_reader (req, 4096, 64 << 10);
  if (in_place)
    ZBT_OK (zb_duplex_requests_offer_in_place (r));
  c = connect_client (name, 5000);
  /* three requests of 20016 bytes fill the 65536-byte ring */
  for (n = 1; n <= 3; n++) {
    ZBT_OK (zb_duplex_client_try_acquire (c, 20000, (void **) &p));
    if (first == NULL)
      first = p;
    zbt_fill (p, 20000, n);
    ZBT_OK (zb_duplex_client_commit (c, NULL));
  }
  for (n = 0; n < 5; n++) {
    TIMED (us, ret = zb_duplex_client_try_acquire (c, 20000, (void **) &p));
    ZBT_ERR (ret, -EAGAIN);
    if (us > worst)
      worst = us;
  }
  /* a pending acquire (it fits in the tail) is reported as such, with or
   * without room for the try */
  ZBT_OK (zb_duplex_client_acquire (c, 4000, (void **) &q));
  ZBT_ERR (zb_duplex_client_try_acquire (c, 100, (void **) &p), -EALREADY);
  ZBT_ERR (zb_duplex_client_try_acquire (c, 20000, (void **) &p), -EALREADY);
  ZBT_OK (zb_duplex_client_cancel (c, q));

  /* the server reads request 1 and releases it */
  ZBT_OK (zb_reader_read (r, 1000, &f));
  ZBT_EQU (f.sequence, 1);
  ZBT_PATTERN (f.data, 20000, 1);
  if (in_place) {
    uint8_t rec[ZB_DUPLEX_IN_PLACE_SIZE];

    ZBT_OK (zb_reader_release (r, &f));
    /* its bytes stay the client's until the answer is released */
    TIMED (us, ret = zb_duplex_client_try_acquire (c, 20000, (void **) &p));
    ZBT_ERR (ret, -EAGAIN);
    if (us > worst)
      worst = us;
    ZBT_OK (zb_writer_connect (resp, &wc, &w));
    ZBT_OK (zb_duplex_responses_in_place (w, 1, 0, 20000, rec));
    ZBT_OK (zb_writer_write (w, rec, sizeof (rec)));
    ZBT_OK (zb_duplex_client_receive (c, 2000, &got));
    ZBT_ASSERT (got.data == first);
    ZBT_ERR (zb_duplex_client_try_acquire (c, 20000, (void **) &p), -EAGAIN);
    ZBT_OK (zb_duplex_client_release (c, &got));
  } else {
    ZBT_OK (zb_reader_release (r, &f));
  }
  ZBT_OK (zb_duplex_client_try_acquire (c, 20000, (void **) &p));
  ZBT_ASSERT (p == first);      /* after a wrap, where request 1 was */
  zbt_fill (p, 20000, 4);
  ZBT_OK (zb_duplex_client_commit (c, NULL));
  for (n = 2; n <= 4; n++) {
    ZBT_OK (zb_reader_read (r, 1000, &f));
    ZBT_EQU (f.sequence, n);
    ZBT_PATTERN (f.data, 20000, n);
    ZBT_OK (zb_reader_release (r, &f));
  }
  ZBT_ERR (zb_reader_read (r, 0, &f), -EAGAIN);
  zbt_diag ("%s: try_acquire on a full ring, 5 s timeout: at most %lld us",
      in_place ? "in place" : "by copy", (long long) worst);
  ZBT_ASSERT (worst < 20000);
  zb_writer_disconnect (w);
  zb_duplex_client_destroy (c);
  zb_reader_destroy (r);
}

static void
test_try_acquire_full_copying (void)
{
  run_try_acquire_full (0);
}

static void
test_try_acquire_full_in_place (void)
{
  run_try_acquire_full (1);
}

int
main (int argc, char **argv)
{
  static const zbt_case cases[] = {
    {"13.x cancel: in-place server, 300 requests each after a given-up one",
        test_cancel_in_place_server, 60},
    {"13.x cancel: copying server, 300 requests each after a given-up one",
        test_cancel_copying_server, 60},
    {"13.x cancel: then a send, both servers",
        test_cancel_then_send, 30},
    {"13.x try_acquire: full ring, copying server: -EAGAIN at once",
        test_try_acquire_full_copying, 30},
    {"13.x try_acquire: full ring, in place: -EAGAIN until released",
        test_try_acquire_full_in_place, 30},
  };

  return zbt_main (cases, sizeof (cases) / sizeof (cases[0]), argc, argv);
}
