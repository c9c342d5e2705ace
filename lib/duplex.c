/* libzerobuffer - duplex channel: request/response over two buffers; the
 * client, and what client and server share (the server: duplex-server.c) */

#include "zb-private.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DEFAULT_TIMEOUT_MS 5000
#define FAN_IN_CONNECT_MS 1000

struct zb_duplex_client
{
  zb_reader *responses;
  zb_writer *requests;
};

int
zb_duplex_channel_names (const char *name, char *request, char *response)
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

void
zb_duplex_reader_config (const zb_duplex_config * config, zb_reader_config * rc)
{
  rc->metadata_size = config && config->metadata_size ?
      config->metadata_size : ZB_DEFAULT_METADATA_SIZE;
  rc->payload_size = config && config->payload_size ? config->payload_size :
      ZB_DEFAULT_PAYLOAD_SIZE;
  rc->mode = config ? config->mode : 0;
}

int
zb_duplex_timeout (const zb_duplex_config * config)
{
  return config && config->timeout_ms ? config->timeout_ms : DEFAULT_TIMEOUT_MS;
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

/* Channel NAME@ID: does a live server own NAME_request (a fan-in server,
 * or another server of NAME)? */
static int
fan_in_server_alive (const char *name)
{
  const char *at = strchr (name, '@');
  char request[ZB_NAME_MAX + 1];
  zb_status st;

  if (at == NULL || at == name)
    return 0;
  snprintf (request, sizeof (request), "%.*s_request", (int) (at - name), name);
  return zb_inspect (request, &st, NULL, 0, NULL) == 0 && st.reader_alive;
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
  ret = zb_duplex_channel_names (name, request, response);
  if (ret < 0)
    return ret;
  ret = wait_previous_requests (request, zb_duplex_timeout (config));
  if (ret < 0)
    return ret;
  client = calloc (1, sizeof (*client));
  if (client == NULL)
    return -ENOMEM;
  /* Responses first: the server connects to them on our first request. */
  zb_duplex_reader_config (config, &rc);
  ret = zb_reader_create (response, &rc, &client->responses);
  if (ret < 0)
    goto error;
  wc.connect_timeout_ms = zb_duplex_timeout (config);
  /* A fan-in server opens our channel once it has seen our response
   * buffer: give it time, also under load, whatever the caller's (maybe
   * very short) timeout, while it lives. */
  if (wc.connect_timeout_ms < FAN_IN_CONNECT_MS && fan_in_server_alive (name))
    wc.connect_timeout_ms = FAN_IN_CONNECT_MS;
  wc.write_timeout_ms = zb_duplex_timeout (config);
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
