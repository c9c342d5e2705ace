/* zb_duplex_watch: fan-in discovery for a server that reads the requests
 * itself, as zbsrc channel-name=NAME does (docs/duplex.md, "The GStreamer
 * server"). Clients are real processes over real shared memory. */

#include "../lib/zbtest.h"

#include <pthread.h>

/* What the watch handed over, for the case's thread. */
static pthread_mutex_t got_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t got_cond = PTHREAD_COND_INITIALIZER;
static char got_channel[ZB_NAME_MAX + 1];
static zb_reader *got_requests;
static int got_calls;

static void
on_client (const char *channel, zb_reader * requests, void *data)
{
  (void) data;
  pthread_mutex_lock (&got_lock);
  snprintf (got_channel, sizeof got_channel, "%s", channel);
  got_requests = requests;
  got_calls++;
  pthread_cond_broadcast (&got_cond);
  pthread_mutex_unlock (&got_lock);
}

/* The next channel handed over within @timeout_ms, or NULL. */
static zb_reader *
await_client (int timeout_ms)
{
  int64_t end = zbt_now_ms () + timeout_ms;
  zb_reader *r;

  pthread_mutex_lock (&got_lock);
  while (got_requests == NULL && zbt_now_ms () < end) {
    struct timespec ts;

    clock_gettime (CLOCK_REALTIME, &ts);
    ts.tv_nsec += 10 * 1000 * 1000;
    if (ts.tv_nsec >= 1000000000) {
      ts.tv_sec++;
      ts.tv_nsec -= 1000000000;
    }
    pthread_cond_timedwait (&got_cond, &got_lock, &ts);
  }
  r = got_requests;
  got_requests = NULL;
  pthread_mutex_unlock (&got_lock);
  return r;
}

/* A client process: once told (go_fd), connect to channel, send its
 * name, leave. Forked before the watch's thread exists: a fork while that
 * thread scans could leave the child a lock held forever (it hung so in
 * half the runs under ASan). */
static const char *client_channel;
static int go_fd;

static void
client_main (void *arg)
{
  const char *channel = client_channel;
  zb_duplex_config config = {.timeout_ms = 8000 };
  zb_duplex_client *c;

  (void) arg;
  zbt_await (go_fd, 30000);

  ZBT_OK (zb_duplex_client_connect (channel, &config, &c));
  ZBT_OK (zb_duplex_client_send (c, channel, strlen (channel), NULL));
  /* the server reads it before we leave */
  zbt_sleep_ms (300);
  zb_duplex_client_destroy (c);
}

static void
test_watch_client_comes_and_goes (void)
{
  const char *name = zbt_name ();
  char request[ZB_NAME_MAX + 1], channel[ZB_NAME_MAX + 1];
  char path[ZB_NAME_MAX + 32];
  zb_reader_config rc = {.payload_size = 1 << 16 };
  zb_reader *server, *r;
  zb_duplex_watch *w;
  zb_frame f;
  int round, i;

  pid_t pids[2];
  int go[2][2];

  snprintf (channel, sizeof channel, "%s@cam", name);
  snprintf (path, sizeof path, "/dev/shm/%s@cam_request", name);
  client_channel = channel;
  for (round = 0; round < 2; round++) {
    zbt_pipe (go[round]);
    go_fd = go[round][0];
    pids[round] = zbt_fork (client_main, NULL);
  }
  /* the server of NAME: clients of NAME@ID wait for it */
  snprintf (request, sizeof request, "%s_request", name);
  ZBT_OK (zb_reader_create (request, &rc, &server));
  ZBT_OK (zb_duplex_watch_start (name, &rc, on_client, NULL, &w));

  /* the same client id twice: the channel closes and opens again */
  for (round = 0; round < 2; round++) {
    pid_t pid = pids[round];
    int64_t t0;

    zbt_signal (go[round][1], 'g');

    r = await_client (10000);
    ZBT_ASSERT (r != NULL);
    ZBT_ASSERT (strcmp (got_channel, channel) == 0);
    ZBT_ASSERT (zbt_path_exists (path));
    ZBT_OK (zb_reader_read (r, 3000, &f));
    ZBT_EQ (f.size, strlen (channel));
    ZBT_ASSERT (memcmp (f.data, channel, f.size) == 0);
    ZBT_ASSERT (f.flags & ZB_FRAME_NEW_WRITER);
    ZBT_ASSERT (zb_duplex_requests_writer_alive (r));
    ZBT_EQ (zb_duplex_channel_idle (r, channel), 0);
    zb_reader_release (r, &f);
    ZBT_WAIT_OK (pid, 5000);

    /* the client is gone: writer dead, its response buffer removed */
    t0 = zbt_now_ms ();
    for (i = 0; i < 100 && !zb_duplex_channel_idle (r, channel); i++)
      zbt_sleep_ms (10);
    ZBT_ASSERT (zb_duplex_channel_idle (r, channel));
    ZBT_ASSERT (!zb_duplex_requests_writer_alive (r));
    zbt_diag ("round %d: channel idle %" PRId64 " ms after its client",
        round, zbt_now_ms () - t0);
    zb_reader_destroy (r);
    ZBT_ASSERT (!zbt_path_exists (path));
    zb_duplex_watch_forget (w, channel);
    close (go[round][0]);
    close (go[round][1]);
  }
  pthread_mutex_lock (&got_lock);
  ZBT_EQ (got_calls, 2);
  pthread_mutex_unlock (&got_lock);
  zb_duplex_watch_stop (w);
  zb_reader_destroy (server);
}

/* Bad names are refused; a channel whose request buffer another live
 * server holds is left to it. */
static void
test_watch_names_and_other_servers (void)
{
  const char *name = zbt_name ();
  char request[ZB_NAME_MAX + 1], channel[ZB_NAME_MAX + 1];
  char longname[ZB_NAME_MAX + 2];
  zb_reader_config rc = {.payload_size = 1 << 16 };
  zb_reader *server, *other;
  zb_duplex_watch *w = NULL;
  zb_frame f;
  pid_t pid;
  int go[2];

  ZBT_ERR (zb_duplex_watch_start ("a@b", &rc, on_client, NULL, &w), -EINVAL);
  ZBT_ASSERT (w == NULL);
  ZBT_ERR (zb_duplex_watch_start (name, &rc, NULL, NULL, &w), -EINVAL);
  memset (longname, 'x', ZB_CHANNEL_NAME_MAX + 1);
  longname[ZB_CHANNEL_NAME_MAX + 1] = '\0';
  ZBT_ERR (zb_duplex_watch_start (longname, &rc, on_client, NULL, &w),
      -ENAMETOOLONG);

  snprintf (request, sizeof request, "%s_request", name);
  ZBT_OK (zb_reader_create (request, &rc, &server));
  /* another server serves NAME@x itself */
  snprintf (channel, sizeof channel, "%s@x", name);
  snprintf (request, sizeof request, "%s@x_request", name);
  ZBT_OK (zb_reader_create (request, &rc, &other));
  pthread_mutex_lock (&got_lock);
  got_calls = 0;
  pthread_mutex_unlock (&got_lock);
  client_channel = channel;
  zbt_pipe (go);
  go_fd = go[0];
  pid = zbt_fork (client_main, NULL);
  ZBT_OK (zb_duplex_watch_start (name, &rc, on_client, NULL, &w));
  zbt_signal (go[1], 'g');
  ZBT_OK (zb_reader_read (other, 3000, &f));
  ZBT_ASSERT (memcmp (f.data, channel, f.size) == 0);
  zb_reader_release (other, &f);
  ZBT_WAIT_OK (pid, 5000);
  ZBT_ASSERT (await_client (300) == NULL);
  pthread_mutex_lock (&got_lock);
  ZBT_EQ (got_calls, 0);
  pthread_mutex_unlock (&got_lock);
  zb_duplex_watch_stop (w);
  zb_reader_destroy (other);
  zb_reader_destroy (server);
  close (go[0]);
  close (go[1]);
}

int
main (int argc, char **argv)
{
  static const zbt_case cases[] = {
    {"watch: a client NAME@ID gets its channel, twice",
        test_watch_client_comes_and_goes, 30},
    {"watch: bad names; another server's channel is left to it",
        test_watch_names_and_other_servers, 30},
  };

  return zbt_main (cases, sizeof (cases) / sizeof (cases[0]), argc, argv);
}
