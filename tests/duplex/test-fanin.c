/* Duplex fan-in: one server process serves channel NAME and every channel
 * NAME@ID a client opens (docs/duplex.md, "Fan-in"); clients and server in
 * separate processes over real shared memory. */

#include "../lib/zbtest.h"

#include <dirent.h>
#include <signal.h>

#define SERVER_TIMEOUT_MS 3000

typedef struct
{
  const char *name;
  int delay_ms;                 /* per request, in the handler */
  int ignore_lost;              /* respond's error is ignored: return 0 */
  const char *tag;              /* answer with this, not the channel */
} server_args;

/* The answer to a request: "<channel>|" and the request's bytes XOR 0xff.
 * On a client's first request the response metadata becomes "re:" and the
 * client's own metadata. */
static int
handler (zb_duplex_server * server, const zb_frame * request, void *data)
{
  server_args *a = data;
  const char *channel = a->tag ? a->tag : zb_duplex_server_channel (server);
  size_t prefix = strlen (channel) + 1, i;
  const uint8_t *in = request->data;
  uint8_t *out;
  int ret;

  if (a->delay_ms)
    zbt_sleep_ms (a->delay_ms);
  if (request->flags & ZB_FRAME_NEW_WRITER) {
    const void *meta;
    size_t meta_size;
    char reply[256];

    if (zb_duplex_server_get_metadata (server, &meta, &meta_size) == 0) {
      snprintf (reply, sizeof reply, "re:%.*s", (int) meta_size,
          (const char *) meta);
      ret = zb_duplex_server_set_metadata (server, reply, strlen (reply));
      if (ret < 0)
        return ret;
    }
  }
  if (a->ignore_lost) {
    char answer[64];

    /* The handler of the bug: its respond fails (client gone), it
     * returns 0 anyway. */
    snprintf (answer, sizeof answer, "%s|", channel);
    zb_duplex_server_respond (server, answer, strlen (answer));
    return 0;
  }
  ret = zb_duplex_server_acquire (server, prefix + request->size,
      (void **) &out);
  if (ret < 0)
    return ret;
  memcpy (out, channel, prefix - 1);
  out[prefix - 1] = '|';
  for (i = 0; i < request->size; i++)
    out[prefix + i] = in[i] ^ 0xff;
  return zb_duplex_server_commit (server);
}

static void
serve (void *data)
{
  server_args *a = data;
  zb_duplex_config cfg = { 0, 1 << 20, 0, SERVER_TIMEOUT_MS };
  zb_duplex_server *server;

  ZBT_OK (zb_duplex_server_create (a->name, &cfg, &server));
  ZBT_OK (zb_duplex_server_run (server, handler, a));
  zb_duplex_server_destroy (server);
}

/* Is @pid still running (not exited, not a zombie)? */
static int
running (pid_t pid)
{
  return waitpid (pid, NULL, WNOHANG) == 0;
}

/* Kill the server of @name and remove the request buffers it leaves
 * (NAME_request, NAME@ID_request). */
static void
stop_server (pid_t pid, const char *name)
{
  DIR *dir;
  struct dirent *e;
  size_t len = strlen (name);
  int alive = running (pid);

  zbt_kill9 (pid);
  dir = opendir (ZBT_SHM_DIR);
  ZBT_ASSERT (dir != NULL);
  while ((e = readdir (dir)) != NULL) {
    size_t n = strlen (e->d_name);

    if (strncmp (e->d_name, name, len) == 0 && n > 8
        && strcmp (e->d_name + n - 8, "_request") == 0)
      zb_cleanup (e->d_name);
  }
  closedir (dir);
  ZBT_ASSERT (alive);
}

/* ------------------------------------------------------------------ */
/* A client process */

typedef struct
{
  char channel[ZB_NAME_MAX + 1];        /* NAME@ID */
  int requests;                 /* 0: until killed */
  int in_flight;                /* sent before the oldest is awaited */
  size_t response_ring;
  int notify_fd;                /* a byte after notify_after responses */
  int notify_after;
  int read_after_notify;        /* send all, notify, then read (SIGSTOP) */
} client_args;

/* Request @seq of client @channel: "<channel>:<seq>:" then a pattern,
 * 64..2111 bytes in all. */
static size_t
make_request (const char *channel, uint64_t seq, uint8_t * buf)
{
  size_t size = 64 + (size_t) ((seq * 131) % 2048), n, i;

  n = (size_t) snprintf ((char *) buf, size, "%s:%llu:", channel,
      (unsigned long long) seq);
  for (i = n; i < size; i++)
    buf[i] = (uint8_t) (i + seq);
  return size;
}

/* The response to request @seq must be ours: "<channel>|" and our own
 * request XOR 0xff, with sequence @seq. */
static void
check_response (client_args * c, zb_duplex_client * client, uint64_t seq)
{
  uint8_t req[4096];
  size_t size = make_request (c->channel, seq, req);
  size_t prefix = strlen (c->channel) + 1, i;
  const uint8_t *out;
  zb_frame f;

  ZBT_OK (zb_duplex_client_receive (client, 5000, &f));
  out = f.data;
  if (f.sequence != seq)
    ZBT_FAIL ("%s: response %llu to request %llu", c->channel,
        (unsigned long long) f.sequence, (unsigned long long) seq);
  ZBT_EQU (f.size, prefix + size);
  if (memcmp (out, c->channel, prefix - 1) != 0 || out[prefix - 1] != '|')
    ZBT_FAIL ("%s: response %llu answered for \"%.*s\"", c->channel,
        (unsigned long long) seq, (int) prefix, (const char *) out);
  for (i = 0; i < size; i++) {
    uint8_t want = (uint8_t) (req[i] ^ 0xff);

    if (out[prefix + i] != want)
      ZBT_FAIL ("%s: response %llu byte %zu is not ours", c->channel,
          (unsigned long long) seq, i);
  }
  ZBT_OK (zb_duplex_client_release (client, &f));
}

static void
check_metadata (client_args * c, zb_duplex_client * client)
{
  char want[ZB_NAME_MAX + 16];
  const void *meta;
  size_t size;

  snprintf (want, sizeof want, "re:meta-%s", c->channel);
  ZBT_OK (zb_duplex_client_get_metadata (client, &meta, &size));
  if (size != strlen (want) || memcmp (meta, want, size) != 0)
    ZBT_FAIL ("%s: response metadata \"%.*s\", want \"%s\"", c->channel,
        (int) size, (const char *) meta, want);
}

static void
run_client (void *data)
{
  client_args *c = data;
  zb_duplex_config cfg = { 0, c->response_ring, 0, 5000 };
  zb_duplex_client *client;
  char meta[ZB_NAME_MAX + 8];
  uint64_t sent = 0, received = 0;
  uint8_t req[4096];

  ZBT_OK (zb_duplex_client_connect (c->channel, &cfg, &client));
  snprintf (meta, sizeof meta, "meta-%s", c->channel);
  ZBT_OK (zb_duplex_client_set_metadata (client, meta, strlen (meta)));
  if (c->read_after_notify) {
    while (sent < (uint64_t) c->requests) {
      uint64_t seq;

      ZBT_OK (zb_duplex_client_send (client, req,
              make_request (c->channel, sent + 1, req), &seq));
      ZBT_EQU (seq, ++sent);
    }
    zbt_signal (c->notify_fd, 'S');
    /* The parent stops us here, and lets us go on later. */
  }
  while (c->requests == 0 || received < (uint64_t) c->requests) {
    while (sent - received < (uint64_t) c->in_flight
        && (c->requests == 0 || sent < (uint64_t) c->requests)) {
      uint64_t seq;

      ZBT_OK (zb_duplex_client_send (client, req,
              make_request (c->channel, sent + 1, req), &seq));
      ZBT_EQU (seq, ++sent);
    }
    check_response (c, client, ++received);
    if (received == 1)
      check_metadata (c, client);
    if (c->notify_after && received == (uint64_t) c->notify_after)
      zbt_signal (c->notify_fd, 'N');
  }
  zb_duplex_client_destroy (client);
}

static pid_t
start_client (client_args * c, const char *name, const char *id)
{
  snprintf (c->channel, sizeof c->channel, "%s@%s", name, id);
  if (c->in_flight == 0)
    c->in_flight = 4;
  if (c->response_ring == 0)
    c->response_ring = 1 << 20;
  return zbt_fork (run_client, c);
}

/* ------------------------------------------------------------------ */

/* Three clients in three processes, one server: each gets exactly the
 * answers to its own requests (content, sequence, metadata); one of them
 * is killed mid-stream and the others finish; it comes back with the
 * same ID and is served again. */
static void
test_fanin_three_clients_one_killed (void)
{
  server_args a = { zbt_name (), 0, 0, NULL };
  client_args c1 = { "", 20000 }, c2 = { "", 0 }, c3 = { "", 20000 };
  client_args again = { "", 50 };
  pid_t server, p1, p2, p3;
  int fds[2];
  int64_t t0;

  zbt_pipe (fds);
  server = zbt_fork (serve, &a);
  c2.notify_fd = fds[1];
  c2.notify_after = 50;
  t0 = zbt_now_ms ();
  p1 = start_client (&c1, a.name, "cam1");
  p2 = start_client (&c2, a.name, "cam2");
  p3 = start_client (&c3, a.name, "cam3");
  ZBT_EQ (zbt_await (fds[0], 10000), 'N');
  zbt_kill9 (p2);
  /* Mid-stream: the others are still at it. */
  ZBT_ASSERT (running (p1) && running (p3));
  ZBT_WAIT_OK (p1, 20000);
  ZBT_WAIT_OK (p3, 20000);
  printf ("# 2 x 20000 requests (+ cam2's until killed) in %lld ms\n",
      (long long) (zbt_now_ms () - t0));
  ZBT_ASSERT (running (server));
  /* cam2 again, a new process with the same ID. */
  p2 = start_client (&again, a.name, "cam2");
  ZBT_WAIT_OK (p2, 20000);
  stop_server (server, a.name);
  close (fds[0]);
  close (fds[1]);
}

/* A SIGSTOPped client whose response ring is full does not stop the
 * others: its handler call waits for room without holding the others. */
static void
test_fanin_stopped_client (void)
{
  server_args a = { zbt_name (), 0, 0, NULL };
  client_args c1 = { "", 300 }, c2 = { "", 64 }, c3 = { "", 300 };
  pid_t server, p1, p2, p3;
  int fds[2];
  int64_t t0;

  zbt_pipe (fds);
  server = zbt_fork (serve, &a);
  /* 64 requests of up to 2 KiB answered into a 16 KiB ring: the server
   * blocks on cam2's ring after a few. */
  c2.notify_fd = fds[1];
  c2.read_after_notify = 1;
  c2.response_ring = 16 << 10;
  p2 = start_client (&c2, a.name, "cam2");
  ZBT_EQ (zbt_await (fds[0], 10000), 'S');
  ZBT_ASSERT (kill (p2, SIGSTOP) == 0);
  zbt_sleep_ms (100);
  t0 = zbt_now_ms ();
  p1 = start_client (&c1, a.name, "cam1");
  p3 = start_client (&c3, a.name, "cam3");
  ZBT_WAIT_OK (p1, 15000);
  ZBT_WAIT_OK (p3, 15000);
  printf ("# cam1, cam3: 2 x 300 requests in %lld ms while cam2 is "
      "stopped\n", (long long) (zbt_now_ms () - t0));
  ZBT_ASSERT (running (p2));
  ZBT_ASSERT (kill (p2, SIGCONT) == 0);
  ZBT_WAIT_OK (p2, 15000);
  stop_server (server, a.name);
  close (fds[0]);
  close (fds[1]);
}

typedef struct
{
  const char *channel;
  int fd;
} doomed_args;

/* Connect, send one request, tell the parent, wait to be killed. */
static void
doomed_client (void *data)
{
  doomed_args *d = data;
  zb_duplex_config cfg = { 0, 1 << 20, 0, 5000 };
  zb_duplex_client *client;
  uint64_t seq;

  ZBT_OK (zb_duplex_client_connect (d->channel, &cfg, &client));
  ZBT_OK (zb_duplex_client_send (client, "x", 1, &seq));
  zbt_signal (d->fd, 'R');
  for (;;)
    zbt_sleep_ms (1000);
}

/* A client killed while its request is being handled: the handler's
 * respond fails, the handler returns 0 anyway; the server serves the next
 * client (it used to end run() with -EPROTO and serve nobody). On NAME and
 * on NAME@ID. */
static void
lost_client_handler (int with_id)
{
  server_args a = { zbt_name (), 300, 1, NULL };
  char channel[ZB_NAME_MAX + 1];
  zb_duplex_config cfg = { 0, 1 << 20, 0, 5000 };
  doomed_args d;
  zb_duplex_client *client;
  pid_t server, doomed;
  uint64_t seq;
  zb_frame f;
  int fds[2];

  snprintf (channel, sizeof channel, "%s%s", a.name, with_id ? "@x" : "");
  zbt_pipe (fds);
  server = zbt_fork (serve, &a);
  d.channel = channel;
  d.fd = fds[1];
  doomed = zbt_fork (doomed_client, &d);
  ZBT_EQ (zbt_await (fds[0], 10000), 'R');
  zbt_sleep_ms (100);           /* in the handler's 300 ms */
  zbt_kill9 (doomed);
  zbt_sleep_ms (400);           /* the handler has returned */
  ZBT_ASSERT (running (server));
  ZBT_OK (zb_duplex_client_connect (channel, &cfg, &client));
  ZBT_OK (zb_duplex_client_send (client, "y", 1, &seq));
  ZBT_OK (zb_duplex_client_receive (client, 5000, &f));
  ZBT_EQU (f.sequence, 1);
  ZBT_EQU (f.size, strlen (channel) + 1);
  ZBT_ASSERT (memcmp (f.data, channel, strlen (channel)) == 0);
  ZBT_OK (zb_duplex_client_release (client, &f));
  zb_duplex_client_destroy (client);
  stop_server (server, a.name);
  close (fds[0]);
  close (fds[1]);
}

static void
test_fanin_lost_client_handler_returns_0 (void)
{
  lost_client_handler (0);
}

static void
test_fanin_lost_client_handler_returns_0_id (void)
{
  lost_client_handler (1);
}

/* A client of NAME@ID reaches the server of NAME; the channel's request
 * buffer goes once its client is gone. */
static void
test_fanin_channel_lifetime (void)
{
  server_args a = { zbt_name (), 0, 0, NULL };
  client_args c = { "", 20 };
  char request[ZB_NAME_MAX + 1];
  zb_status st;
  pid_t server, p;
  int64_t t0;

  server = zbt_fork (serve, &a);
  p = start_client (&c, a.name, "one");
  ZBT_WAIT_OK (p, 10000);
  t0 = zbt_now_ms ();
  snprintf (request, sizeof request, "%s@one_request", a.name);
  while (zb_inspect (request, &st, NULL, 0, NULL) == 0
      && zbt_now_ms () - t0 < 1000)
    zbt_sleep_ms (5);
  ZBT_ERR (zb_inspect (request, &st, NULL, 0, NULL), -ENOENT);
  printf ("# request buffer gone %lld ms after its client\n",
      (long long) (zbt_now_ms () - t0));
  ZBT_ASSERT (running (server));
  stop_server (server, a.name);
}

/* A server of NAME@ID itself (a name with '@' serves only its channel)
 * keeps it: the fan-in server of NAME leaves a channel that another live
 * server has. Also: how long a fan-in client's connect and first answer
 * take (the discovery's latency). */
static void
test_fanin_direct_server_keeps_its_channel (void)
{
  server_args fan = { zbt_name (), 0, 0, NULL };
  char channel[ZB_NAME_MAX + 1];
  server_args direct = { channel, 0, 0, "direct" };
  zb_duplex_config cfg = { 0, 1 << 20, 0, 5000 };
  zb_duplex_client *client;
  pid_t p_fan, p_direct;
  uint64_t seq;
  zb_frame f;
  int64_t t0;
  int k;

  snprintf (channel, sizeof channel, "%s@x", fan.name);
  p_direct = zbt_fork (serve, &direct);
  zbt_sleep_ms (100);
  p_fan = zbt_fork (serve, &fan);
  zbt_sleep_ms (100);
  for (k = 0; k < 2; k++) {
    ZBT_OK (zb_duplex_client_connect (channel, &cfg, &client));
    ZBT_OK (zb_duplex_client_send (client, "q", 1, &seq));
    ZBT_OK (zb_duplex_client_receive (client, 5000, &f));
    ZBT_EQU (f.size, 8);
    ZBT_ASSERT (memcmp (f.data, "direct|", 7) == 0);
    ZBT_OK (zb_duplex_client_release (client, &f));
    zb_duplex_client_destroy (client);
  }
  /* Fan-in channels of the same NAME still go to the fan-in server. */
  snprintf (channel, sizeof channel, "%s@y", fan.name);
  t0 = zbt_now_us ();
  ZBT_OK (zb_duplex_client_connect (channel, &cfg, &client));
  ZBT_OK (zb_duplex_client_send (client, "q", 1, &seq));
  ZBT_OK (zb_duplex_client_receive (client, 5000, &f));
  printf ("# fan-in client: connect + first answer in %.2f ms\n",
      (double) (zbt_now_us () - t0) / 1000.0);
  ZBT_EQU (f.size, strlen (channel) + 2);
  ZBT_ASSERT (memcmp (f.data, channel, strlen (channel)) == 0);
  ZBT_OK (zb_duplex_client_release (client, &f));
  zb_duplex_client_destroy (client);
  stop_server (p_direct, direct.name);
  stop_server (p_fan, fan.name);
}

int
main (int argc, char **argv)
{
  static const zbt_case cases[] = {
    {"fan-in: lost client, handler returns 0: server goes on",
        test_fanin_lost_client_handler_returns_0, 20},
    {"fan-in: lost client of NAME@ID, handler returns 0: server goes on",
        test_fanin_lost_client_handler_returns_0_id, 20},
    {"fan-in: 3 clients, 3 processes, one killed mid-stream",
        test_fanin_three_clients_one_killed, 60},
    {"fan-in: a SIGSTOPped client does not stop the others",
        test_fanin_stopped_client, 60},
    {"fan-in: a client channel closes when its client is gone",
        test_fanin_channel_lifetime, 20},
    {"fan-in: a server of NAME@ID keeps its channel",
        test_fanin_direct_server_keeps_its_channel, 20},
  };

  return zbt_main (cases, sizeof (cases) / sizeof (cases[0]), argc, argv);
}
