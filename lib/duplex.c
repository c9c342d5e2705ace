/* libzerobuffer - duplex channel: request/response over two buffers */

#include "zb-private.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_TIMEOUT_MS 5000
#define RESPONSE_CONNECT_RETRY_MS 100

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
  zb_writer_disconnect (old);
}

/* The client creates its response buffer before it sends: retry every
 * 100 ms up to the timeout, giving up early when stopped or when the
 * client that sent the request is gone. */
static int
connect_responses (zb_duplex_server * server)
{
  zb_writer_config wc = { RESPONSE_CONNECT_RETRY_MS, server->timeout_ms };
  int64_t deadline = zb_deadline (server->timeout_ms);
  zb_writer *writer;
  int ret;

  for (;;) {
    ret = zb_writer_connect (server->response_name, &wc, &writer);
    if (ret != -ENOENT)
      break;
    if (__atomic_load_n (&server->stopping, __ATOMIC_ACQUIRE))
      return -EINTR;
    /* The client that sent the request is gone: drop the request rather
     * than answer it into the next client's buffer. */
    if (!zb_reader_writer_alive (server->requests))
      return -EOWNERDEAD;
    if (zb_now_ms () >= deadline)
      return ret;
  }
  if (ret < 0)
    return ret;
  server->metadata_sent = 0;
  pthread_mutex_lock (&server->lock);
  server->responses = writer;
  if (__atomic_load_n (&server->stopping, __ATOMIC_ACQUIRE))
    zb_writer_wakeup (writer);
  pthread_mutex_unlock (&server->lock);
  return 0;
}

static int
client_lost (int ret)
{
  return ret == -EPIPE || ret == -EOWNERDEAD || ret == -ENOENT
      || ret == -ENOBUFS;
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

    /* Sequence 1: a new client, with a new response buffer. */
    if (request.flags & ZB_FRAME_NEW_WRITER)
      drop_client (server);
    if (server->responses == NULL)
      ret = connect_responses (server);
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
  ret = zb_writer_write (server->responses, data, size);
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
  return zb_writer_acquire (server->responses, size, data);
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
