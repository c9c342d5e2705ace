/* libzerobuffer - duplex server: one process serves channel NAME and, by
 * fan-in, every channel NAME@ID a client opens (docs/duplex.md).
 *
 * Each channel is the standard pair NAME[@ID]_request (ours) and
 * NAME[@ID]_response (the client's), served by its own thread: the caller
 * of zb_duplex_server_run() serves NAME, one thread per client serves each
 * NAME@ID. The discovery thread (discovery.c) sees a client's response
 * buffer appear and creates that channel's request buffer, to which the
 * client connects (zb_duplex_client_connect() waits for it).
 *
 * Handler calls are serialised by handler_lock, so a handler needs no
 * locking of its own; a handler that waits for room in its client's ring
 * lets the others run meanwhile (respond/acquire release the lock while
 * they wait), so a stalled client stalls only itself.
 */

#include "zb-private.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RESPONSE_CONNECT_RETRY_MS 100
#define CLIENT_CHECK_MS 5
/* A client channel whose client is gone is closed within this. */
#define IDLE_CHECK_MS 200
/* Look for new clients this often even without an inotify event. */
#define RECHECK_MS 1000
#define MAX_CLIENTS 256

typedef struct channel channel;

struct channel
{
  zb_duplex_server *server;
  char name[ZB_NAME_MAX + 1];   /* NAME or NAME@ID */
  char response_name[ZB_NAME_MAX + 1];
  zb_reader *requests;

  /* Written by the channel's thread under server->lock; read by stop()
   * under the lock. */
  zb_writer *responses;

  /* The channel's thread only. */
  uint64_t client_pid;          /* the client @responses belongs to */
  int64_t client_checked_ms;    /* when client_current() last looked */
  int answered;
  int lost;                     /* a respond failed: the client is gone */
  int in_handler;               /* holds server->handler_lock */
  const zb_frame *request;      /* being answered */
  int in_place;                 /* the client takes answers in place */
  uint8_t nonce[16];            /* ... recognised by this */
  void *metadata;               /* set by a handler for this channel */
  size_t metadata_size;
  int metadata_sent;            /* on the current client's connection */

  /* Client channels: their thread, and the list (under server->lock). */
  pthread_t thread;
  int finished;                 /* atomic: the thread returned */
  channel *next;
};

struct zb_duplex_server
{
  channel main;                 /* NAME, served by run()'s caller */
  int fan_in;                   /* NAME has no '@': serve NAME@ID too */
  zb_reader_config rc;
  int timeout_ms;
  int stopping;                 /* atomic */
  int error;                    /* atomic: the first fatal error */

  /* Set before the threads start. */
  zb_duplex_handler handler;
  void *user_data;
  void *metadata;               /* for every client, set before run() */
  size_t metadata_size;

  pthread_mutex_t lock;         /* the client list, channels' responses */
  channel *clients;
  unsigned int n_clients;
  zb_discovery *discovery;

  pthread_mutex_t handler_lock; /* serialises handler calls */
};

/* The channel whose request the calling thread's handler answers. */
static __thread channel *current;

static int
stopping (zb_duplex_server * server)
{
  return __atomic_load_n (&server->stopping, __ATOMIC_ACQUIRE);
}

/* The channel a call from a handler refers to: the request being
 * answered in this thread, else NAME's. */
static channel *
channel_of (zb_duplex_server * server)
{
  if (current != NULL && current->server == server)
    return current;
  return &server->main;
}

static int
channel_init (zb_duplex_server * server, channel * ch, const char *name)
{
  char request[ZB_NAME_MAX + 1];
  int ret;

  ch->server = server;
  ret = zb_duplex_channel_names (name, request, ch->response_name);
  if (ret < 0)
    return ret;
  snprintf (ch->name, sizeof (ch->name), "%s", name);
  ret = zb_reader_create (request, &server->rc, &ch->requests);
  if (ret == 0) {
    uint64_t magic = ZB_IN_PLACE_MAGIC;

    /* We may answer in place (a client of ours then says it takes it). */
    zb_reader_set_reserved (ch->requests, &magic, 1);
  }
  return ret;
}

int
zb_duplex_server_create (const char *name, const zb_duplex_config * config,
    zb_duplex_server ** out)
{
  zb_duplex_server *server;
  int ret;

  if (out == NULL)
    return -EINVAL;
  *out = NULL;
  server = calloc (1, sizeof (*server));
  if (server == NULL)
    return -ENOMEM;
  zb_duplex_reader_config (config, &server->rc);
  ret = channel_init (server, &server->main, name);
  if (ret < 0) {
    free (server);
    return ret;
  }
  server->fan_in = strchr (name, '@') == NULL;
  server->timeout_ms = zb_duplex_timeout (config);
  pthread_mutex_init (&server->lock, NULL);
  pthread_mutex_init (&server->handler_lock, NULL);
  *out = server;
  return 0;
}

static void
drop_client (channel * ch)
{
  zb_writer *old;

  pthread_mutex_lock (&ch->server->lock);
  old = ch->responses;
  ch->responses = NULL;
  pthread_mutex_unlock (&ch->server->lock);
  ch->client_pid = 0;
  zb_writer_disconnect (old);
}

/* The pid of the live writer of the request buffer, 0 when it has none or
 * it is dead. */
static uint64_t
request_writer (channel * ch)
{
  zb_status st;

  if (zb_reader_get_status (ch->requests, &st) < 0 || st.writer_pid == 0)
    return 0;
  if (!zb_reader_writer_alive (ch->requests))
    return 0;
  return st.writer_pid;
}

/* Is the client we answer still the live writer of the requests? Unless
 * @now, looked at once per CLIENT_CHECK_MS only (three kill(2) calls): the
 * check saves handler calls for a lost client's requests, it is not what
 * keeps answers from other clients (a request answered into a lost
 * client's own buffer reaches nobody; only connect_responses() binds). */
static int
client_current (channel * ch, int now)
{
  int64_t t;

  if (ch->responses == NULL || ch->client_pid == 0)
    return 0;
  t = zb_now_ms ();
  if (!now && t - ch->client_checked_ms < CLIENT_CHECK_MS)
    return 1;
  ch->client_checked_ms = t;
  return request_writer (ch) == ch->client_pid;
}

/* A request that starts a new client (sequence 1): connect to its response
 * buffer. The client creates that buffer before it connects to ours, so
 * retry every 100 ms up to the timeout only while that client is still the
 * live writer of the requests. The response buffer must be the client's
 * own: the client process is both the writer of NAME_request and the reader
 * of NAME_response, so the two pids match (also across PID namespaces: both
 * are the client's own getpid()). Returns 0 or -EINTR (stopped); any other
 * error means this client cannot be answered and its requests are dropped. */
static int
connect_responses (channel * ch)
{
  zb_duplex_server *server = ch->server;
  zb_writer_config wc = { RESPONSE_CONNECT_RETRY_MS, server->timeout_ms };
  int64_t deadline = zb_deadline (server->timeout_ms);
  uint64_t pid = request_writer (ch);
  zb_writer *writer;
  zb_status st;
  int ret;

  /* The client that sent the request is gone already: drop the request
   * rather than answer it into the next client's buffer. */
  if (pid == 0)
    return -EOWNERDEAD;
  for (;;) {
    ret = zb_writer_connect (ch->response_name, &wc, &writer);
    if (ret != -ENOENT)
      break;
    if (stopping (server))
      return -EINTR;
    if (request_writer (ch) != pid)
      return -EOWNERDEAD;
    if (zb_now_ms () >= deadline)
      return ret;
  }
  if (ret < 0)
    return ret;
  ret = zb_writer_get_status (writer, &st);
  if (ret == 0 && (st.reader_pid != pid || request_writer (ch) != pid))
    ret = -EOWNERDEAD;          /* another process's response buffer */
  if (ret < 0) {
    zb_writer_disconnect (writer);
    return ret;
  }
  if (ret == 0) {
    uint64_t reserved[4];

    zb_writer_peer_reserved (writer, reserved);
    ch->in_place = reserved[0] == ZB_IN_PLACE_MAGIC;
    memcpy (ch->nonce, &reserved[1], sizeof (ch->nonce));
  }
  ch->metadata_sent = 0;
  ch->client_pid = pid;
  ch->client_checked_ms = zb_now_ms ();
  pthread_mutex_lock (&server->lock);
  ch->responses = writer;
  if (stopping (server))
    zb_writer_wakeup (writer);
  pthread_mutex_unlock (&server->lock);
  return 0;
}

/* The client is gone, or (-ENOBUFS) a response can never be placed in its
 * ring: drop it, and with it the requests it left queued. */
static int
client_lost (int ret)
{
  return ret == -EPIPE || ret == -EOWNERDEAD || ret == -ENOENT
      || ret == -ENOBUFS || ret == -E2BIG;
}

/* Is a client channel's client gone: no live writer of its requests and
 * no live reader of its responses? Then the channel closes (a client that
 * comes back with the same ID opens it again). */
static int
client_channel_idle (channel * ch)
{
  zb_status st;

  if (request_writer (ch) != 0)
    return 0;
  return zb_inspect (ch->response_name, &st, NULL, 0, NULL) < 0
      || !st.reader_alive;
}

/* Call the handler for @request, serialised with the other channels'. */
static int
call_handler (channel * ch, const zb_frame * request)
{
  zb_duplex_server *server = ch->server;
  int ret;

  ch->answered = 0;
  ch->lost = 0;
  pthread_mutex_lock (&server->handler_lock);
  current = ch;
  ch->in_handler = 1;
  ch->request = request;
  ret = server->handler (server, request, server->user_data);
  ch->request = NULL;
  ch->in_handler = 0;
  current = NULL;
  pthread_mutex_unlock (&server->handler_lock);
  /* A handler that returns 0 after its respond failed because the client
   * is gone: that client is lost, the server goes on. */
  if (ret == 0 && !ch->answered)
    ret = ch->lost ? -EPIPE : -EPROTO;
  return ret;
}

/* Serve channel @ch until stopped, a fatal error, or (a client channel,
 * @idle_ms >= 0) its client is gone. Returns 0 or the fatal error. */
static int
serve (channel * ch, int idle_ms)
{
  zb_duplex_server *server = ch->server;
  int ret = 0;

  while (!stopping (server)) {
    zb_frame request;

    ret = zb_reader_read (ch->requests, idle_ms, &request);
    if (ret == -EINTR) {
      ret = 0;
      continue;
    }
    if (ret == -EPIPE || ret == -EOWNERDEAD || ret == -ETIMEDOUT
        || ret == -EAGAIN) {
      if (ret != -ETIMEDOUT && ret != -EAGAIN)
        drop_client (ch);
      ret = 0;
      if (idle_ms >= 0 && client_channel_idle (ch))
        break;
      continue;
    }
    if (ret < 0)
      break;

    /* Sequence 1: a new client, with a new response buffer. Any other
     * request is answered only while its client is the one we answer:
     * once that client is lost (gone, dead, or replaced by a new writer),
     * the requests it left queued are dropped until the next client's
     * first request, so that no answer reaches another client. */
    if (request.flags & ZB_FRAME_NEW_WRITER) {
      drop_client (ch);
      ret = connect_responses (ch);
      if (ret < 0 && ret != -EINTR)
        ret = -EOWNERDEAD;
    } else if (!client_current (ch, 0))
      ret = -EOWNERDEAD;
    if (ret == 0)
      ret = call_handler (ch, &request);
    zb_reader_release (ch->requests, &request);
    if (ret == -EINTR || client_lost (ret)) {
      drop_client (ch);
      ret = 0;
      continue;
    }
    if (ret < 0)
      break;
  }
  return ret;
}

static void
wake_channel_locked (channel * ch)
{
  zb_reader_wakeup (ch->requests);
  zb_writer_wakeup (ch->responses);
}

static void
stop_all (zb_duplex_server * server)
{
  channel *ch;

  __atomic_store_n (&server->stopping, 1, __ATOMIC_RELEASE);
  pthread_mutex_lock (&server->lock);
  wake_channel_locked (&server->main);
  for (ch = server->clients; ch != NULL; ch = ch->next)
    wake_channel_locked (ch);
  pthread_mutex_unlock (&server->lock);
}

static void
channel_free (channel * ch)
{
  free (ch->metadata);
  zb_writer_disconnect (ch->responses);
  zb_reader_destroy (ch->requests);
  free (ch);
}

static void *
client_main (void *data)
{
  channel *ch = data;
  zb_duplex_server *server = ch->server;
  int ret = serve (ch, IDLE_CHECK_MS);

  if (ret < 0) {
    int none = 0;

    /* A handler's error (or a corrupt segment) stops the whole server,
     * as it does for NAME's channel. */
    __atomic_compare_exchange_n (&server->error, &none, ret, 0,
        __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
    stop_all (server);
  }
  __atomic_store_n (&ch->finished, 1, __ATOMIC_RELEASE);
  /* Reaped by the next scan: the client may come back at once. */
  zb_discovery_poke (server->discovery);
  return NULL;
}

/* Join and free the client channels whose thread has returned (all of
 * them with @all, after stop_all()). Discovery thread, or run() once that
 * thread is stopped. */
static void
reap (zb_duplex_server * server, int all)
{
  channel **link = &server->clients;

  for (;;) {
    channel *ch;

    pthread_mutex_lock (&server->lock);
    while ((ch = *link) != NULL && !all
        && !__atomic_load_n (&ch->finished, __ATOMIC_ACQUIRE))
      link = &ch->next;
    if (ch != NULL) {
      *link = ch->next;
      server->n_clients--;
    }
    pthread_mutex_unlock (&server->lock);
    if (ch == NULL)
      return;
    pthread_join (ch->thread, NULL);
    channel_free (ch);
  }
}

/* Under the lock: is channel @name served already? */
static int
known_locked (zb_duplex_server * server, const char *name)
{
  channel *ch;

  for (ch = server->clients; ch != NULL; ch = ch->next)
    if (strcmp (ch->name, name) == 0)
      return 1;
  return 0;
}

/* One /dev/shm entry NAME or NAME@*: a live client's response buffer
 * NAME@ID_response without a channel yet gets one. Returns 1 if it looked
 * not ready yet. */
static int
discover_one (const char *entry, void *data)
{
  zb_duplex_server *server = data;
  size_t len = strlen (entry), suffix = strlen ("_response");
  char name[ZB_NAME_MAX + 1];
  sigset_t all, old;
  zb_status st;
  channel *ch;
  int known, ret;

  if (len <= suffix || strcmp (entry + len - suffix, "_response") != 0
      || entry[strlen (server->main.name)] != '@')
    return 0;
  snprintf (name, sizeof (name), "%.*s", (int) (len - suffix), entry);
  pthread_mutex_lock (&server->lock);
  known = known_locked (server, name)
      || server->n_clients >= MAX_CLIENTS;
  pthread_mutex_unlock (&server->lock);
  if (known)
    return 0;
  if (zb_inspect (entry, &st, NULL, 0, NULL) < 0)
    return 1;
  if (!st.reader_alive)
    return st.reader_pid == 0;  /* still being created, or stale */
  ch = calloc (1, sizeof (*ch));
  if (ch == NULL)
    return 0;
  ret = channel_init (server, ch, name);
  if (ret < 0) {
    /* Another server's channel (-EEXIST), or a bad name: not ours. */
    free (ch);
    return 0;
  }
  /* Signals go to the application's threads, never to ours. */
  sigfillset (&all);
  pthread_sigmask (SIG_SETMASK, &all, &old);
  ret = -pthread_create (&ch->thread, NULL, client_main, ch);
  pthread_sigmask (SIG_SETMASK, &old, NULL);
  if (ret < 0) {
    channel_free (ch);
    return 0;
  }
  pthread_mutex_lock (&server->lock);
  ch->next = server->clients;
  server->clients = ch;
  server->n_clients++;
  if (stopping (server))
    wake_channel_locked (ch);
  pthread_mutex_unlock (&server->lock);
  return 0;
}

static int
discover (zb_discovery * d, void *data)
{
  reap (data, 0);
  return zb_discovery_for_each (d, discover_one, data);
}

int
zb_duplex_server_run (zb_duplex_server * server, zb_duplex_handler handler,
    void *user_data)
{
  int ret, err;

  if (server == NULL || handler == NULL)
    return -EINVAL;
  server->handler = handler;
  server->user_data = user_data;
  __atomic_store_n (&server->error, 0, __ATOMIC_RELEASE);
  if (server->fan_in) {
    ret = zb_discovery_start (server->main.name, RECHECK_MS, discover,
        server, &server->discovery);
    if (ret < 0)
      return ret;
  }
  ret = serve (&server->main, -1);
  if (ret < 0)
    __atomic_store_n (&server->error, ret, __ATOMIC_RELEASE);
  stop_all (server);
  /* No new channel after this; the client threads may still poke it. */
  zb_discovery_join (server->discovery);
  reap (server, 1);
  zb_discovery_stop (server->discovery);
  server->discovery = NULL;
  err = __atomic_load_n (&server->error, __ATOMIC_ACQUIRE);
  return err < 0 ? err : ret;
}

void
zb_duplex_server_stop (zb_duplex_server * server)
{
  if (server == NULL)
    return;
  stop_all (server);
}

/* Before this client's first response: the metadata set so far, which a
 * handler may have set from the client's own (e.g. its caps). */
static int
send_metadata (channel * ch)
{
  zb_duplex_server *server = ch->server;
  const void *data = ch->metadata ? ch->metadata : server->metadata;
  size_t size = ch->metadata ? ch->metadata_size : server->metadata_size;
  int ret;

  if (ch->metadata_sent || data == NULL)
    return 0;
  ret = zb_writer_set_metadata (ch->responses, data, size);
  if (ret == 0)
    ch->metadata_sent = 1;
  return ret;
}

/* A full response ring is back-pressure from a slow client, not its loss:
 * after -ENOBUFS (a wait for room that timed out), keep waiting while the
 * client is still the live writer of the requests and we are not stopped
 * (stop() wakes the writer, which ends the wait at once; a dead client
 * ends it within a wait slice). -E2BIG (the response cannot be placed
 * however much the client frees) is returned as is, and the client is
 * dropped. Returns 1 to retry, else the result to return. */
static int
wait_again (channel * ch, int ret)
{
  if (ret != -ENOBUFS)
    return ret;
  if (stopping (ch->server))
    return -EINTR;
  if (!client_current (ch, 1))
    return -EPIPE;
  return 1;
}

/* No room for @size bytes: let the other channels' handlers run while
 * this one waits (returns 1: call resume_others() after the wait). */
static int
yield_others (channel * ch, size_t size)
{
  if (!ch->in_handler || zb_writer_space_ready (ch->responses, size))
    return 0;
  pthread_mutex_unlock (&ch->server->handler_lock);
  return 1;
}

static void
resume_others (channel * ch, int yielded)
{
  if (yielded)
    pthread_mutex_lock (&ch->server->handler_lock);
}

/* Remember a failure that means the client is gone (see call_handler()). */
static int
note (channel * ch, int ret)
{
  if (client_lost (ret))
    ch->lost = 1;
  return ret;
}

static int
respond (channel * ch, const void *data, size_t size)
{
  int ret, yielded;

  ret = send_metadata (ch);
  if (ret < 0)
    return note (ch, ret);
  yielded = yield_others (ch, size);
  do
    ret = zb_writer_write (ch->responses, data, size);
  while ((ret = wait_again (ch, ret)) == 1);
  resume_others (ch, yielded);
  if (ret == 0)
    ch->answered = 1;
  return note (ch, ret);
}

int
zb_duplex_server_respond (zb_duplex_server * server, const void *data,
    size_t size)
{
  channel *ch;

  if (server == NULL)
    return -EINVAL;
  ch = channel_of (server);
  if (ch->responses == NULL)
    return -EINVAL;
  return respond (ch, data, size);
}

/* The channel of the request a handler answers in place: -EINVAL outside
 * a handler, -EOPNOTSUPP when its client takes no answers in place. */
static int
in_place_channel (zb_duplex_server * server, channel ** out)
{
  channel *ch;

  if (server == NULL)
    return -EINVAL;
  ch = channel_of (server);
  if (ch != current || ch->request == NULL || ch->responses == NULL)
    return -EINVAL;
  if (!ch->in_place)
    return -EOPNOTSUPP;
  *out = ch;
  return 0;
}

int
zb_duplex_server_request_data (zb_duplex_server * server, void **data,
    size_t *size)
{
  channel *ch;
  int ret;

  if (data == NULL || size == NULL)
    return -EINVAL;
  ret = in_place_channel (server, &ch);
  if (ret < 0)
    return ret;
  /* Our mapping of the request ring is read-write; the bytes are the
   * client's request, which it reads back once we answer. */
  *data = (void *) ch->request->data;
  *size = ch->request->size;
  return 0;
}

int
zb_duplex_server_respond_in_place (zb_duplex_server * server, size_t offset,
    size_t size)
{
  zb_in_place_record rec;
  channel *ch;
  int ret;

  ret = in_place_channel (server, &ch);
  if (ret < 0)
    return ret;
  if (size == 0 || offset > ch->request->size
      || size > ch->request->size - offset)
    return -EINVAL;
  memcpy (rec.nonce, ch->nonce, sizeof (rec.nonce));
  rec.request_sequence = ch->request->sequence;
  rec.offset = offset;
  rec.size = size;
  /* The record's commit publishes our stores into the request too. */
  return respond (ch, &rec, sizeof (rec));
}

int
zb_duplex_server_acquire (zb_duplex_server * server, size_t size, void **data)
{
  channel *ch;
  int ret, yielded;

  if (server == NULL)
    return -EINVAL;
  ch = channel_of (server);
  if (ch->responses == NULL)
    return -EINVAL;
  ret = send_metadata (ch);
  if (ret < 0)
    return note (ch, ret);
  yielded = yield_others (ch, size);
  do
    ret = zb_writer_acquire (ch->responses, size, data);
  while ((ret = wait_again (ch, ret)) == 1);
  resume_others (ch, yielded);
  return note (ch, ret);
}

int
zb_duplex_server_commit (zb_duplex_server * server)
{
  channel *ch;
  int ret;

  if (server == NULL)
    return -EINVAL;
  ch = channel_of (server);
  if (ch->responses == NULL)
    return -EINVAL;
  ret = zb_writer_commit (ch->responses);
  if (ret == 0)
    ch->answered = 1;
  return note (ch, ret);
}

static int
copy_metadata (void **field, size_t *field_size, const void *data, size_t size)
{
  void *copy;

  if (data == NULL || size == 0)
    return -EINVAL;
  copy = malloc (size);
  if (copy == NULL)
    return -ENOMEM;
  memcpy (copy, data, size);
  free (*field);
  *field = copy;
  *field_size = size;
  return 0;
}

int
zb_duplex_server_set_metadata (zb_duplex_server * server, const void *data,
    size_t size)
{
  if (server == NULL)
    return -EINVAL;
  /* From a handler: for that channel's clients only. */
  if (current != NULL && current->server == server)
    return copy_metadata (&current->metadata, &current->metadata_size, data,
        size);
  return copy_metadata (&server->metadata, &server->metadata_size, data, size);
}

int
zb_duplex_server_get_metadata (zb_duplex_server * server, const void **data,
    size_t *size)
{
  if (server == NULL)
    return -EINVAL;
  return zb_reader_get_metadata (channel_of (server)->requests, data, size);
}

const char *
zb_duplex_server_channel (zb_duplex_server * server)
{
  if (server == NULL)
    return NULL;
  return channel_of (server)->name;
}

void
zb_duplex_server_destroy (zb_duplex_server * server)
{
  if (server == NULL)
    return;
  free (server->metadata);
  free (server->main.metadata);
  zb_writer_disconnect (server->main.responses);
  zb_reader_destroy (server->main.requests);
  pthread_mutex_destroy (&server->lock);
  pthread_mutex_destroy (&server->handler_lock);
  free (server);
}
