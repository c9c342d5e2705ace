/* libzerobuffer - duplex channel: request/response over two buffers */

#include "zb-private.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DEFAULT_TIMEOUT_MS 5000
#define RESPONSE_CONNECT_RETRY_MS 100
#define CLIENT_CHECK_MS 5

struct zb_duplex_server
{
  zb_reader *requests;
  char response_name[ZB_NAME_MAX + 1];
  int timeout_ms;
  int stopping;                 /* atomic */

  /* Written by the run() thread under lock; read by stop() under lock. */
  pthread_mutex_t lock;
  zb_writer *responses;

  /* run() thread only. */
  uint64_t client_pid;          /* the client @responses belongs to */
  int64_t client_checked_ms;    /* when client_current() last looked */
  int answered;
  void *metadata;
  size_t metadata_size;
  int metadata_sent;            /* on the current client's connection */
};

struct zb_duplex_client
{
  zb_reader *responses;
  zb_writer *requests;
};

static int
channel_names (const char *name, char *request, char *response)
{
  int ret = zb_name_check (name);

  if (ret < 0)
    return ret;
  if (strlen (name) > ZB_CHANNEL_NAME_MAX)
    return -ENAMETOOLONG;
  snprintf (request, ZB_NAME_MAX + 1, "%s_request", name);
  snprintf (response, ZB_NAME_MAX + 1, "%s_response", name);
  return 0;
}

static void
reader_config (const zb_duplex_config * config, zb_reader_config * rc)
{
  rc->metadata_size = config && config->metadata_size ?
      config->metadata_size : ZB_DEFAULT_METADATA_SIZE;
  rc->payload_size = config && config->payload_size ? config->payload_size :
      ZB_DEFAULT_PAYLOAD_SIZE;
  rc->mode = config ? config->mode : 0;
}

static int
timeout_of (const zb_duplex_config * config)
{
  return config && config->timeout_ms ? config->timeout_ms : DEFAULT_TIMEOUT_MS;
}

int
zb_duplex_server_create (const char *name, const zb_duplex_config * config,
    zb_duplex_server ** out)
{
  char request[ZB_NAME_MAX + 1];
  zb_duplex_server *server;
  zb_reader_config rc;
  int ret;

  if (out == NULL)
    return -EINVAL;
  *out = NULL;
  server = calloc (1, sizeof (*server));
  if (server == NULL)
    return -ENOMEM;
  ret = channel_names (name, request, server->response_name);
  if (ret == 0) {
    reader_config (config, &rc);
    ret = zb_reader_create (request, &rc, &server->requests);
  }
  if (ret < 0) {
    free (server);
    return ret;
  }
  server->timeout_ms = timeout_of (config);
  pthread_mutex_init (&server->lock, NULL);
  *out = server;
  return 0;
}

static void
drop_client (zb_duplex_server * server)
{
  zb_writer *old;

  pthread_mutex_lock (&server->lock);
  old = server->responses;
  server->responses = NULL;
  pthread_mutex_unlock (&server->lock);
  server->client_pid = 0;
  zb_writer_disconnect (old);
}

/* The pid of the live writer of the request buffer, 0 when it has none or
 * it is dead. */
static uint64_t
request_writer (zb_duplex_server * server)
{
  zb_status st;

  if (zb_reader_get_status (server->requests, &st) < 0 || st.writer_pid == 0)
    return 0;
  if (!zb_reader_writer_alive (server->requests))
    return 0;
  return st.writer_pid;
}

/* Is the client we answer still the live writer of the requests? Unless
 * @now, looked at once per CLIENT_CHECK_MS only (three kill(2) calls): the
 * check saves handler calls for a lost client's requests, it is not what
 * keeps answers from other clients (a request answered into a lost
 * client's own buffer reaches nobody; only connect_responses() binds). */
static int
client_current (zb_duplex_server * server, int now)
{
  int64_t t;

  if (server->responses == NULL || server->client_pid == 0)
    return 0;
  t = zb_now_ms ();
  if (!now && t - server->client_checked_ms < CLIENT_CHECK_MS)
    return 1;
  server->client_checked_ms = t;
  return request_writer (server) == server->client_pid;
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
connect_responses (zb_duplex_server * server)
{
  zb_writer_config wc = { RESPONSE_CONNECT_RETRY_MS, server->timeout_ms };
  int64_t deadline = zb_deadline (server->timeout_ms);
  uint64_t pid = request_writer (server);
  zb_writer *writer;
  zb_status st;
  int ret;

  /* The client that sent the request is gone already: drop the request
   * rather than answer it into the next client's buffer. */
  if (pid == 0)
    return -EOWNERDEAD;
  for (;;) {
    ret = zb_writer_connect (server->response_name, &wc, &writer);
    if (ret != -ENOENT)
      break;
    if (__atomic_load_n (&server->stopping, __ATOMIC_ACQUIRE))
      return -EINTR;
    if (request_writer (server) != pid)
      return -EOWNERDEAD;
    if (zb_now_ms () >= deadline)
      return ret;
  }
  if (ret < 0)
    return ret;
  ret = zb_writer_get_status (writer, &st);
  if (ret == 0 && (st.reader_pid != pid || request_writer (server) != pid))
    ret = -EOWNERDEAD;          /* another process's response buffer */
  if (ret < 0) {
    zb_writer_disconnect (writer);
    return ret;
  }
  server->metadata_sent = 0;
  server->client_pid = pid;
  server->client_checked_ms = zb_now_ms ();
  pthread_mutex_lock (&server->lock);
  server->responses = writer;
  if (__atomic_load_n (&server->stopping, __ATOMIC_ACQUIRE))
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

int
zb_duplex_server_run (zb_duplex_server * server, zb_duplex_handler handler,
    void *user_data)
{
  int ret = 0;

  if (server == NULL || handler == NULL)
    return -EINVAL;
  while (!__atomic_load_n (&server->stopping, __ATOMIC_ACQUIRE)) {
    zb_frame request;

    ret = zb_reader_read (server->requests, -1, &request);
    if (ret == -EINTR) {
      ret = 0;
      continue;
    }
    if (ret == -EPIPE || ret == -EOWNERDEAD) {
      drop_client (server);
      ret = 0;
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
      drop_client (server);
      ret = connect_responses (server);
      if (ret < 0 && ret != -EINTR)
        ret = -EOWNERDEAD;
    } else if (!client_current (server, 0))
      ret = -EOWNERDEAD;
    if (ret == 0) {
      server->answered = 0;
      ret = handler (server, &request, user_data);
      if (ret == 0 && !server->answered)
        ret = -EPROTO;
    }
    zb_reader_release (server->requests, &request);
    if (ret == -EINTR || client_lost (ret)) {
      drop_client (server);
      ret = 0;
      continue;
    }
    if (ret < 0)
      break;
  }
  return ret;
}

void
zb_duplex_server_stop (zb_duplex_server * server)
{
  if (server == NULL)
    return;
  __atomic_store_n (&server->stopping, 1, __ATOMIC_RELEASE);
  zb_reader_wakeup (server->requests);
  pthread_mutex_lock (&server->lock);
  zb_writer_wakeup (server->responses);
  pthread_mutex_unlock (&server->lock);
}

/* Before this client's first response: the metadata set so far, which a
 * handler may have set from the client's own (e.g. its caps). */
static int
send_metadata (zb_duplex_server * server)
{
  int ret;

  if (server->metadata_sent || server->metadata == NULL)
    return 0;
  ret = zb_writer_set_metadata (server->responses, server->metadata,
      server->metadata_size);
  if (ret == 0)
    server->metadata_sent = 1;
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
wait_again (zb_duplex_server * server, int ret)
{
  if (ret != -ENOBUFS)
    return ret;
  if (__atomic_load_n (&server->stopping, __ATOMIC_ACQUIRE))
    return -EINTR;
  if (!client_current (server, 1))
    return -EPIPE;
  return 1;
}

int
zb_duplex_server_respond (zb_duplex_server * server, const void *data,
    size_t size)
{
  int ret;

  if (server == NULL || server->responses == NULL)
    return -EINVAL;
  ret = send_metadata (server);
  if (ret < 0)
    return ret;
  do
    ret = zb_writer_write (server->responses, data, size);
  while ((ret = wait_again (server, ret)) == 1);
  if (ret == 0)
    server->answered = 1;
  return ret;
}

int
zb_duplex_server_acquire (zb_duplex_server * server, size_t size, void **data)
{
  int ret;

  if (server == NULL || server->responses == NULL)
    return -EINVAL;
  ret = send_metadata (server);
  if (ret < 0)
    return ret;
  do
    ret = zb_writer_acquire (server->responses, size, data);
  while ((ret = wait_again (server, ret)) == 1);
  return ret;
}

int
zb_duplex_server_commit (zb_duplex_server * server)
{
  int ret;

  if (server == NULL || server->responses == NULL)
    return -EINVAL;
  ret = zb_writer_commit (server->responses);
  if (ret == 0)
    server->answered = 1;
  return ret;
}

int
zb_duplex_server_set_metadata (zb_duplex_server * server, const void *data,
    size_t size)
{
  void *copy;

  if (server == NULL || data == NULL || size == 0)
    return -EINVAL;
  copy = malloc (size);
  if (copy == NULL)
    return -ENOMEM;
  memcpy (copy, data, size);
  free (server->metadata);
  server->metadata = copy;
  server->metadata_size = size;
  return 0;
}

int
zb_duplex_server_get_metadata (zb_duplex_server * server, const void **data,
    size_t *size)
{
  if (server == NULL)
    return -EINVAL;
  return zb_reader_get_metadata (server->requests, data, size);
}

void
zb_duplex_server_destroy (zb_duplex_server * server)
{
  if (server == NULL)
    return;
  free (server->metadata);
  zb_writer_disconnect (server->responses);
  zb_reader_destroy (server->requests);
  pthread_mutex_destroy (&server->lock);
  free (server);
}

/* Requests left queued by a client that is gone: wait, up to @timeout_ms,
 * until the server has read them (it drops them: their client is gone)
 * before we become the writer of the requests. From then on every request
 * the server reads is ours, also the first one: the server cannot tell whose
 * a queued first request is once a new writer has taken over, so a new
 * client must not take over while a lost client's requests are queued.
 * Nothing to wait for without a live server (a new one creates a new
 * buffer) or with a live client (the connect fails with -EBUSY). Returns 0,
 * or -ENOENT: no server ready for a new client within the timeout. */
static int
wait_previous_requests (const char *request, int timeout_ms)
{
  int64_t deadline = zb_deadline (timeout_ms);

  for (;;) {
    struct timespec ts = { 0, 5 * 1000 * 1000 };
    zb_status st;

    if (zb_inspect (request, &st, NULL, 0, NULL) < 0 || !st.reader_alive
        || st.writer_alive || st.read_count >= st.written_count)
      return 0;
    if (deadline >= 0 && zb_now_ms () >= deadline)
      return -ENOENT;
    nanosleep (&ts, NULL);
  }
}

int
zb_duplex_client_connect (const char *name, const zb_duplex_config * config,
    zb_duplex_client ** out)
{
  char request[ZB_NAME_MAX + 1];
  char response[ZB_NAME_MAX + 1];
  zb_duplex_client *client;
  zb_reader_config rc;
  zb_writer_config wc = { 0 };
  int ret;

  if (out == NULL)
    return -EINVAL;
  *out = NULL;
  ret = channel_names (name, request, response);
  if (ret < 0)
    return ret;
  ret = wait_previous_requests (request, timeout_of (config));
  if (ret < 0)
    return ret;
  client = calloc (1, sizeof (*client));
  if (client == NULL)
    return -ENOMEM;
  /* Responses first: the server connects to them on our first request. */
  reader_config (config, &rc);
  ret = zb_reader_create (response, &rc, &client->responses);
  if (ret < 0)
    goto error;
  wc.connect_timeout_ms = timeout_of (config);
  wc.write_timeout_ms = timeout_of (config);
  ret = zb_writer_connect (request, &wc, &client->requests);
  if (ret < 0)
    goto error;
  *out = client;
  return 0;

  /* ERRORS */
error:
  zb_reader_destroy (client->responses);
  free (client);
  return ret;
}

int
zb_duplex_client_send (zb_duplex_client * client, const void *data,
    size_t size, uint64_t * sequence)
{
  int ret;

  if (client == NULL)
    return -EINVAL;
  ret = zb_writer_write (client->requests, data, size);
  if (ret == 0 && sequence != NULL)
    *sequence = zb_writer_frames_written (client->requests);
  return ret;
}

int
zb_duplex_client_acquire (zb_duplex_client * client, size_t size, void **data)
{
  if (client == NULL)
    return -EINVAL;
  return zb_writer_acquire (client->requests, size, data);
}

int
zb_duplex_client_commit (zb_duplex_client * client, uint64_t * sequence)
{
  int ret;

  if (client == NULL)
    return -EINVAL;
  ret = zb_writer_commit (client->requests);
  if (ret == 0 && sequence != NULL)
    *sequence = zb_writer_frames_written (client->requests);
  return ret;
}

int
zb_duplex_client_receive (zb_duplex_client * client, int timeout_ms,
    zb_frame * response)
{
  if (client == NULL)
    return -EINVAL;
  return zb_reader_read (client->responses, timeout_ms, response);
}

int
zb_duplex_client_release (zb_duplex_client * client, const zb_frame * response)
{
  if (client == NULL)
    return -EINVAL;
  return zb_reader_release (client->responses, response);
}

int
zb_duplex_client_set_metadata (zb_duplex_client * client, const void *data,
    size_t size)
{
  if (client == NULL)
    return -EINVAL;
  return zb_writer_set_metadata (client->requests, data, size);
}

int
zb_duplex_client_get_metadata (zb_duplex_client * client, const void **data,
    size_t *size)
{
  if (client == NULL)
    return -EINVAL;
  return zb_reader_get_metadata (client->responses, data, size);
}

void
zb_duplex_client_wakeup (zb_duplex_client * client)
{
  if (client == NULL)
    return;
  zb_reader_wakeup (client->responses);
  zb_writer_wakeup (client->requests);
}

void
zb_duplex_client_wakeup_clear (zb_duplex_client * client)
{
  if (client == NULL)
    return;
  zb_reader_wakeup_clear (client->responses);
  zb_writer_wakeup_clear (client->requests);
}

void
zb_duplex_client_destroy (zb_duplex_client * client)
{
  if (client == NULL)
    return;
  zb_writer_disconnect (client->requests);
  zb_reader_destroy (client->responses);
  free (client);
}
