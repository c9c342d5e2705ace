/* Duplex channel: conformance group 13, server and client in separate
 * processes over real shared memory. */

#include "../lib/zbtest.h"

#include <pthread.h>

typedef struct
{
  const char *name;
  size_t payload_size;
  int delay_ms;                 /* per request, in the handler */
  int mode;                     /* what the handler answers */
  int stop_after;               /* stop after this many requests; 0 never */
  int timeout_ms;               /* the server's write timeout; 0: 3000 */
} server_args;

enum
{
  ECHO,
  DOUBLE,
  XOR_FF,
  ECHO_META,                    /* echo; response metadata "re:" + client's */
};

static int
handler (zb_duplex_server * server, const zb_frame * request, void *data)
{
  server_args *a = data;
  static unsigned int served;
  const uint8_t *in = request->data;
  uint8_t *out;
  size_t size = a->mode == DOUBLE ? request->size * 2 : request->size;
  size_t i;
  int ret;

  if (a->delay_ms)
    zbt_sleep_ms (a->delay_ms);
  if (a->mode == ECHO_META && (request->flags & ZB_FRAME_NEW_WRITER)) {
    const void *meta;
    size_t meta_size;
    char reply[64];

    ret = zb_duplex_server_get_metadata (server, &meta, &meta_size);
    if (ret < 0)
      return ret;
    snprintf (reply, sizeof reply, "re:%.*s", (int) meta_size,
        (const char *) meta);
    ret = zb_duplex_server_set_metadata (server, reply, strlen (reply));
    if (ret < 0)
      return ret;
  }
  /* A 1-byte 0xee request asks for the client's metadata. */
  if (request->size == 1 && in[0] == 0xee) {
    const void *meta;
    size_t meta_size;

    ret = zb_duplex_server_get_metadata (server, &meta, &meta_size);
    if (ret < 0)
      return ret;
    return zb_duplex_server_respond (server, meta, meta_size);
  }
  ret = zb_duplex_server_acquire (server, size, (void **) &out);
  if (ret < 0)
    return ret;
  for (i = 0; i < size; i++) {
    uint8_t b = in[i % request->size];

    out[i] = a->mode == XOR_FF ? b ^ 0xff : b;
  }
  ret = zb_duplex_server_commit (server);
  if (++served == (unsigned int) a->stop_after)
    zb_duplex_server_stop (server);
  return ret;
}

static void
serve (void *data)
{
  server_args *a = data;
  zb_duplex_config cfg = { 0, a->payload_size, 0,
    a->timeout_ms ? a->timeout_ms : 3000
  };
  zb_duplex_server *server;

  ZBT_OK (zb_duplex_server_create (a->name, &cfg, &server));
  ZBT_OK (zb_duplex_server_set_metadata (server, "answers", 7));
  ZBT_OK (zb_duplex_server_run (server, handler, a));
  zb_duplex_server_destroy (server);
}

static pid_t
start_server (server_args * a)
{
  return zbt_fork (serve, a);
}

static zb_duplex_client *
connect_client (const char *name, size_t response_size)
{
  zb_duplex_config cfg = { 0, response_size, 0, 3000 };
  zb_duplex_client *client;

  ZBT_OK (zb_duplex_client_connect (name, &cfg, &client));
  return client;
}

/* The next response is number @sequence, @size bytes: the pattern of
 * @pattern_seq over @request_size bytes (XORed with 0xff when @xor_ff),
 * repeated (a DOUBLE answer holds it twice). */
static void
expect_response_of (zb_duplex_client * client, uint64_t sequence,
    size_t size, size_t request_size, uint64_t pattern_seq, int xor_ff)
{
  zb_frame f;
  const uint8_t *want = zbt_pattern (request_size, pattern_seq);
  const uint8_t *got;
  size_t i;

  ZBT_OK (zb_duplex_client_receive (client, 5000, &f));
  ZBT_EQU (f.sequence, sequence);
  ZBT_EQU (f.size, size);
  got = f.data;
  for (i = 0; i < size; i++) {
    uint8_t b = want[i % request_size];

    if (got[i] != (uint8_t) (xor_ff ? b ^ 0xff : b))
      ZBT_FAIL ("response %llu byte %zu: 0x%02x", (unsigned long long)
          sequence, i, got[i]);
  }
  ZBT_OK (zb_duplex_client_release (client, &f));
}

/* The answer to a request of @size bytes with the pattern of
 * @pattern_seq. */
static void
expect_response (zb_duplex_client * client, uint64_t sequence,
    size_t size, uint64_t pattern_seq, int xor_ff)
{
  expect_response_of (client, sequence, size, size, pattern_seq, xor_ff);
}

static void
send_pattern (zb_duplex_client * client, size_t size, uint64_t pattern_seq,
    uint64_t * sequence)
{
  const uint8_t *p = zbt_pattern (size, pattern_seq);

  ZBT_OK (zb_duplex_client_send (client, p, size, sequence));
}


/* Start the server of @a and connect a client with a response ring of
 * @response_size bytes; *@pid is the server's. */
static zb_duplex_client *
open_channel (server_args * a, size_t response_size, pid_t * pid)
{
  *pid = start_server (a);
  return connect_client (a->name, response_size);
}

/* Destroy the client, then kill the server and remove what it leaves. */
static void
close_channel (zb_duplex_client * c, pid_t pid, const char *name)
{
  zb_duplex_client_destroy (c);
  zbt_kill_duplex_server (pid, name);
}

/* The status of the response ring of channel @name. */
static zb_status
inspect_responses (const char *name)
{
  char resp[ZB_NAME_MAX + 1];
  zb_status st;

  snprintf (resp, sizeof resp, "%s_response", name);
  ZBT_OK (zb_inspect (resp, &st, NULL, 0, NULL));
  return st;
}

static void
test_13_1_echo_sizes (void)
{
  server_args a = { zbt_name (), 1 << 20, 0, ECHO, 0 };
  pid_t pid;
  zb_duplex_client *c = open_channel (&a, 1 << 20, &pid);
  size_t sizes[] = { 1, 1024, 102400 };
  uint64_t seq;
  int i;

  for (i = 0; i < 3; i++) {
    send_pattern (c, sizes[i], i, &seq);
    ZBT_EQU (seq, i + 1);
    expect_response (c, seq, sizes[i], i, 0);
  }
  close_channel (c, pid, a.name);
}

static void
test_duplex_server_metadata (void)
{
  server_args a = { zbt_name (), 1 << 20, 0, ECHO, 0 };
  pid_t pid;
  zb_duplex_client *c = open_channel (&a, 1 << 20, &pid);
  const void *meta;
  size_t size;
  uint64_t seq;

  ZBT_OK (zb_duplex_client_set_metadata (c, "questions", 9));
  ZBT_ERR (zb_duplex_client_set_metadata (c, "again", 5), -EALREADY);
  send_pattern (c, 10, 0, &seq);
  expect_response (c, seq, 10, 0, 0);
  ZBT_OK (zb_duplex_client_get_metadata (c, &meta, &size));
  ZBT_EQ (size, 7);
  ZBT_ASSERT (memcmp (meta, "answers", 7) == 0);
  {
    zb_frame f;

    ZBT_OK (zb_duplex_client_send (c, "\xee", 1, &seq));
    ZBT_OK (zb_duplex_client_receive (c, 5000, &f));
    ZBT_EQ (f.size, 9);
    ZBT_ASSERT (memcmp (f.data, "questions", 9) == 0);
    ZBT_OK (zb_duplex_client_release (c, &f));
  }
  close_channel (c, pid, a.name);
}

/* The server derives each client's response metadata from the client's
 * request metadata, in its handler. */
static void
test_duplex_metadata_per_client (void)
{
  server_args a = { zbt_name (), 1 << 20, 0, ECHO_META, 0 };
  pid_t pid = start_server (&a);
  const char *names[2] = { "caps-one", "caps-two" };
  int k;

  for (k = 0; k < 2; k++) {
    zb_duplex_client *c = connect_client (a.name, 1 << 20);
    const void *meta;
    size_t size;
    uint64_t seq;
    char want[64];

    ZBT_OK (zb_duplex_client_set_metadata (c, names[k], strlen (names[k])));
    send_pattern (c, 10, 0, &seq);
    expect_response (c, seq, 10, 0, 0);
    ZBT_OK (zb_duplex_client_get_metadata (c, &meta, &size));
    snprintf (want, sizeof want, "re:%s", names[k]);
    ZBT_EQ (size, strlen (want));
    ZBT_ASSERT (memcmp (meta, want, size) == 0);
    zb_duplex_client_destroy (c);
  }
  zbt_kill_duplex_server (pid, a.name);
}

static void
test_13_2_ten_in_order (void)
{
  server_args a = { zbt_name (), 1 << 20, 0, ECHO, 0 };
  pid_t pid;
  zb_duplex_client *c = open_channel (&a, 1 << 20, &pid);
  uint64_t seq;
  int i;

  for (i = 1; i <= 10; i++) {
    send_pattern (c, 100 + i, i, &seq);
    expect_response (c, seq, 100 + i, i, 0);
  }
  close_channel (c, pid, a.name);
}

static void
test_13_3_twenty_pipelined (void)
{
  server_args a = { zbt_name (), 1 << 20, 0, ECHO, 0 };
  pid_t pid;
  zb_duplex_client *c = open_channel (&a, 1 << 20, &pid);
  uint64_t seq[20];
  int i;

  for (i = 0; i < 20; i++)
    send_pattern (c, 512, i, &seq[i]);
  for (i = 0; i < 20; i++)
    expect_response (c, seq[i], 512, i, 0);
  close_channel (c, pid, a.name);
}

static void
test_13_4_single_threaded_server (void)
{
  server_args a = { zbt_name (), 1 << 20, 100, ECHO, 0 };
  pid_t pid;
  zb_duplex_client *c = open_channel (&a, 1 << 20, &pid);
  uint64_t seq[3];
  int64_t t0;
  int i;

  t0 = zbt_now_ms ();
  for (i = 0; i < 3; i++)
    send_pattern (c, 64, i, &seq[i]);
  for (i = 0; i < 3; i++)
    expect_response (c, seq[i], 64, i, 0);
  ZBT_ASSERT (zbt_now_ms () - t0 >= 300);
  close_channel (c, pid, a.name);
}

static void
test_13_5_server_dies_mid_request (void)
{
  server_args a = { zbt_name (), 1 << 20, 2000, ECHO, 0 };
  pid_t pid;
  zb_duplex_client *c = open_channel (&a, 1 << 20, &pid);
  zb_frame f;
  int64_t t0;
  int ret;

  send_pattern (c, 64, 0, NULL);
  zbt_sleep_ms (100);
  zbt_kill9 (pid);
  t0 = zbt_now_ms ();
  ret = zb_duplex_client_receive (c, 5000, &f);
  ZBT_ERR (ret, -EOWNERDEAD);
  ZBT_ASSERT (zbt_now_ms () - t0 < 5000);
  /* Requests to the dead server fail too. */
  ZBT_ERR (zb_duplex_client_send (c, "x", 1, NULL), -EOWNERDEAD);
  zb_duplex_client_destroy (c);
}

static void
test_13_6_server_blocks_on_full_response_ring (void)
{
  server_args a = { zbt_name (), 1 << 20, 0, DOUBLE, 0 };
  pid_t pid;
  /* 10 KiB of responses: four 2 KiB answers fit, the fifth waits. */
  zb_duplex_client *c = open_channel (&a, 10240, &pid);
  uint64_t seq[8];
  zb_status st;
  int i;

  for (i = 0; i < 8; i++)
    send_pattern (c, 1024, i, &seq[i]);
  zbt_sleep_ms (300);
  st = inspect_responses (a.name);
  ZBT_ASSERT (st.payload_free_bytes < 2048 + 16);
  ZBT_ASSERT (st.written_count < 8);
  for (i = 0; i < 8; i++)
    expect_response_of (c, seq[i], 2048, 1024, i, 0);
  close_channel (c, pid, a.name);
}

static void
test_13_7_zero_copy_request (void)
{
  server_args a = { zbt_name (), 1 << 20, 0, ECHO, 0 };
  pid_t pid;
  zb_duplex_client *c = open_channel (&a, 1 << 20, &pid);
  uint64_t seq;
  void *p;

  ZBT_OK (zb_duplex_client_acquire (c, 4096, &p));
  zbt_fill (p, 4096, 7);
  ZBT_OK (zb_duplex_client_commit (c, &seq));
  ZBT_EQU (seq, 1);
  expect_response (c, seq, 4096, 7, 0);
  close_channel (c, pid, a.name);
}

static void
test_13_8_xor_handler (void)
{
  server_args a = { zbt_name (), 1 << 20, 0, XOR_FF, 0 };
  pid_t pid;
  zb_duplex_client *c = open_channel (&a, 1 << 20, &pid);
  uint64_t seq;

  send_pattern (c, 10240, 3, &seq);
  expect_response (c, seq, 10240, 3, 1);
  close_channel (c, pid, a.name);
}

static void
crashing_client (void *data)
{
  zb_duplex_client *c = connect_client (data, 1 << 20);

  send_pattern (c, 256, 0, NULL);
  /* Die while the server is still handling the request. */
  kill (getpid (), SIGKILL);
}

static void
test_13_9_client_crash_server_survives (void)
{
  server_args a = { zbt_name (), 1 << 20, 200, ECHO, 0 };
  pid_t pid = start_server (&a);
  pid_t crasher = zbt_fork (crashing_client, (void *) a.name);
  zb_duplex_client *c;
  uint64_t seq;

  ZBT_EQ (zbt_wait (crasher, 5000), 128 + SIGKILL);
  /* Let the server find out while writing its answer. */
  zbt_sleep_ms (500);
  ZBT_EQ (waitpid (pid, NULL, WNOHANG), 0);
  c = connect_client (a.name, 1 << 20);
  send_pattern (c, 333, 5, &seq);
  ZBT_EQU (seq, 1);
  expect_response (c, seq, 333, 5, 0);
  close_channel (c, pid, a.name);
}

static void
test_13_10_server_disposed_with_pending (void)
{
  server_args a = { zbt_name (), 1 << 20, 100, ECHO, 1 };
  server_args b = a;
  pid_t pid;
  zb_duplex_client *c = open_channel (&a, 1 << 20, &pid);
  uint64_t seq[3];
  zb_frame f;
  int i;

  for (i = 0; i < 3; i++)
    send_pattern (c, 128, i, &seq[i]);
  expect_response (c, seq[0], 128, 0, 0);
  /* The server answered one and left: two answers never come. */
  ZBT_ERR (zb_duplex_client_receive (c, 5000, &f), -EPIPE);
  ZBT_EQ (zbt_wait (pid, 5000), 0);
  zb_duplex_client_destroy (c);

  b.stop_after = 0;
  c = open_channel (&b, 1 << 20, &pid);
  send_pattern (c, 128, 9, &seq[0]);
  expect_response (c, seq[0], 128, 9, 0);
  close_channel (c, pid, a.name);
}

/* Section B of issue 14: a response only ever goes to the client that sent
 * the request. Client A queues requests behind a slow handler and leaves;
 * client B must then get the answers to its own requests, none of A's. */
typedef struct
{
  const char *name;
  int fd;                       /* signalled after the requests are sent */
  int count;                    /* requests, sizes 200 + i, patterns i */
  int graceful;                 /* destroy the client and exit, else wait */
  size_t response_size;         /* its response ring */
} queueing_args;

static void
queueing_client (void *data)
{
  queueing_args *q = data;
  zb_duplex_client *c = connect_client (q->name, q->response_size);
  int i;

  for (i = 1; i <= q->count; i++)
    send_pattern (c, 200 + i, i, NULL);
  if (q->graceful)
    zb_duplex_client_destroy (c);
  zbt_signal (q->fd, 'x');
  if (q->graceful)
    return;
  for (;;)
    pause ();                   /* until SIGKILL */
}

/* Start a client that queues @count requests; returns its pid once they
 * are sent (a graceful one has left by then). */
static pid_t
queue_requests (const char *name, int count, int graceful, size_t response_size)
{
  queueing_args q = { name, -1, count, graceful, response_size };

  return zbt_fork_ready (queueing_client, &q, &q.fd);
}

/* Client B: its own two answers, in order, then nothing more. */
static void
expect_only_own_answers (const char *name)
{
  zb_duplex_client *c = connect_client (name, 1 << 20);
  uint64_t seq;
  zb_frame f;
  int ret;

  send_pattern (c, 77, 100, &seq);
  ZBT_EQU (seq, 1);
  expect_response (c, seq, 77, 100, 0);
  send_pattern (c, 78, 101, &seq);
  ZBT_EQU (seq, 2);
  expect_response (c, seq, 78, 101, 0);
  ret = zb_duplex_client_receive (c, 700, &f);
  if (ret == 0)
    ZBT_FAIL ("a response nobody asked for: %zu bytes, sequence %llu",
        f.size, (unsigned long long) f.sequence);
  ZBT_ERR (ret, -ETIMEDOUT);
  zb_duplex_client_destroy (c);
}

static void
test_duplex_killed_client_queued_requests (void)
{
  server_args a = { zbt_name (), 1 << 20, 300, ECHO, 0 };
  pid_t pid = start_server (&a);
  pid_t client_a = queue_requests (a.name, 4, 0, 1 << 20);

  /* The server is in the handler of A's first request. */
  zbt_sleep_ms (50);
  zbt_kill9 (client_a);
  expect_only_own_answers (a.name);
  zbt_kill_duplex_server (pid, a.name);
}

static void
test_duplex_departed_client_queued_requests (void)
{
  server_args a = { zbt_name (), 1 << 20, 300, ECHO, 0 };
  pid_t pid = start_server (&a);
  pid_t client_a = queue_requests (a.name, 4, 1, 1 << 20);

  ZBT_EQ (zbt_wait (client_a, 5000), 0);
  expect_only_own_answers (a.name);
  zbt_kill_duplex_server (pid, a.name);
}

/* Client A is killed before the server has read even its first request
 * (the server is busy with client Z's): the server cannot tell A's first
 * request from B's once B is the writer, so B waits until A's are gone. */
static void
test_duplex_client_killed_before_first_read (void)
{
  server_args a = { zbt_name (), 1 << 20, 500, ECHO, 0 };
  pid_t pid = start_server (&a);
  pid_t client_z = queue_requests (a.name, 1, 0, 1 << 20);
  pid_t client_a;

  zbt_sleep_ms (50);
  zbt_kill9 (client_z);
  client_a = queue_requests (a.name, 2, 0, 1 << 20);
  zbt_kill9 (client_a);
  expect_only_own_answers (a.name);
  zbt_kill_duplex_server (pid, a.name);
}

/* A full response ring is back-pressure: a live client that reads late
 * gets every response, in order, on one connection. */
static void
test_duplex_slow_client_full_ring (void)
{
  /* 200 ms write timeout; 8 responses of 1000 bytes fit in 8192. */
  server_args a = { zbt_name (), 1 << 20, 0, ECHO, 0, 200 };
  pid_t pid;
  zb_duplex_client *c = open_channel (&a, 8192, &pid);
  uint64_t seq;
  zb_frame f;
  int i;

  for (i = 1; i <= 24; i++) {
    send_pattern (c, 1000, i, &seq);
    ZBT_EQU (seq, (uint64_t) i);
  }
  /* Five write timeouts of the server without reading. */
  zbt_sleep_ms (1000);
  for (i = 1; i <= 24; i++)
    expect_response (c, i, 1000, i, 0);
  ZBT_ERR (zb_duplex_client_receive (c, 300, &f), -ETIMEDOUT);
  close_channel (c, pid, a.name);
}

/* ... and the wait for room ends when that client dies: its other
 * requests are dropped and the next client is served. */
static void
test_duplex_full_ring_client_dies (void)
{
  server_args a = { zbt_name (), 1 << 20, 0, ECHO, 0, 200 };
  pid_t pid = start_server (&a);
  /* About 16 of its 40 answers fit in its 4096-byte ring. */
  pid_t client_a = queue_requests (a.name, 40, 0, 4096);

  zbt_sleep_ms (500);
  ZBT_ASSERT (inspect_responses (a.name).written_count < 40);
  zbt_kill9 (client_a);
  expect_only_own_answers (a.name);
  zbt_kill_duplex_server (pid, a.name);
}

/* ... and zb_duplex_server_stop() ends it at once. */
typedef struct
{
  server_args a;
  int fd;                       /* a byte: stop now */
  int64_t *stop_ms;             /* shared: how long run() took to return */
} stopping_args;

static void *
run_thread (void *data)
{
  void **v = data;

  return (void *) (intptr_t) zb_duplex_server_run (v[0], handler, v[1]);
}

static void
stopped_server (void *data)
{
  stopping_args *s = data;
  zb_duplex_config cfg = { 0, s->a.payload_size, 0, s->a.timeout_ms };
  zb_duplex_server *server;
  pthread_t th;
  void *v[2], *ret;
  int64_t t0;

  ZBT_OK (zb_duplex_server_create (s->a.name, &cfg, &server));
  v[0] = server;
  v[1] = &s->a;
  if (pthread_create (&th, NULL, run_thread, v) != 0)
    ZBT_FAIL ("pthread_create");
  zbt_await (s->fd, 10000);
  t0 = zbt_now_ms ();
  zb_duplex_server_stop (server);
  pthread_join (th, &ret);
  *s->stop_ms = zbt_now_ms () - t0;
  ZBT_EQ ((int) (intptr_t) ret, 0);
  zb_duplex_server_destroy (server);
}

static void
test_duplex_full_ring_server_stop (void)
{
  stopping_args s = { {zbt_name (), 1 << 20, 0, ECHO, 0, 200}, -1, NULL };
  zb_duplex_client *c;
  int fds[2];
  pid_t pid;
  int i;

  zbt_pipe (fds);
  s.fd = fds[0];
  s.stop_ms = zbt_shared (sizeof (int64_t));
  *s.stop_ms = -1;
  pid = zbt_fork (stopped_server, &s);
  c = connect_client (s.a.name, 4096);
  for (i = 1; i <= 40; i++)
    send_pattern (c, 200 + i, i, NULL);
  /* The server waits for room, well past its write timeout. */
  zbt_sleep_ms (700);
  zbt_signal (fds[1], 's');
  ZBT_EQ (zbt_wait (pid, 3000), 0);
  zbt_diag ("run() returned %lld ms after stop()", (long long) *s.stop_ms);
  ZBT_ASSERT (*s.stop_ms >= 0 && *s.stop_ms < 250);
  zb_duplex_client_destroy (c);
  close (fds[0]);
  close (fds[1]);
}

static void
test_duplex_bad_names (void)
{
  char longname[ZB_NAME_MAX + 1];
  zb_duplex_client *c;
  zb_duplex_server *s;

  memset (longname, 'a', ZB_CHANNEL_NAME_MAX + 1);
  longname[ZB_CHANNEL_NAME_MAX + 1] = '\0';
  ZBT_ERR (zb_duplex_server_create (longname, NULL, &s), -ENAMETOOLONG);
  ZBT_ERR (zb_duplex_server_create ("a/b", NULL, &s), -EINVAL);
  ZBT_ERR (zb_duplex_client_connect ("", NULL, &c), -EINVAL);
  /* No server: the client gives up after its timeout, leaving nothing. */
  {
    zb_duplex_config cfg = { 0, 4096, 0, 200 };

    ZBT_ERR (zb_duplex_client_connect (zbt_name (), &cfg, &c), -ENOENT);
  }
}

int
main (int argc, char **argv)
{
  static const zbt_case cases[] = {
    {"13.1 echo of 1, 1024 and 102400 bytes", test_13_1_echo_sizes, 20},
    {"13.2 ten requests answered in order", test_13_2_ten_in_order, 20},
    {"13.3 twenty requests sent before reading", test_13_3_twenty_pipelined,
        20},
    {"13.4 single-threaded server, 100 ms handler",
        test_13_4_single_threaded_server, 20},
    {"13.5 server dies mid-request", test_13_5_server_dies_mid_request, 20},
    {"13.6 server blocks on a full response ring",
        test_13_6_server_blocks_on_full_response_ring, 20},
    {"13.7 zero-copy request", test_13_7_zero_copy_request, 20},
    {"13.8 XOR handler", test_13_8_xor_handler, 20},
    {"13.9 client crash, server keeps serving",
        test_13_9_client_crash_server_survives, 20},
    {"13.10 server disposed with responses pending",
        test_13_10_server_disposed_with_pending, 20},
    {"13.x channel names and missing server", test_duplex_bad_names, 20},
    {"13.x response metadata per client, set by the handler",
        test_duplex_metadata_per_client, 20},
    {"13.x metadata both ways", test_duplex_server_metadata,
        20},
    {"13.x killed client's queued requests: no answer to the next client",
        test_duplex_killed_client_queued_requests, 20},
    {"13.x departed client's queued requests: no answer to the next client",
        test_duplex_departed_client_queued_requests, 20},
    {"13.x client killed before its first request was read",
        test_duplex_client_killed_before_first_read, 20},
    {"13.x slow client, full response ring: every response, in order",
        test_duplex_slow_client_full_ring, 20},
    {"13.x full response ring, client dies: next client served",
        test_duplex_full_ring_client_dies, 20},
    {"13.x full response ring: stop() ends the wait at once",
        test_duplex_full_ring_server_stop, 20},
  };

  return zbt_main (cases, sizeof (cases) / sizeof (cases[0]), argc, argv);
}
