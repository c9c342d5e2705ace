/* libzerobuffer - duplex channel: request/response over two buffers; the
 * client, and what client and server share (the server: duplex-server.c) */

#include "zb-private.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_TIMEOUT_MS 5000
#define FAN_IN_CONNECT_MS 1000
/* A send that waits for room drains the answers this often. */
#define DRAIN_SLICE_MS 10

/* A request sent to a server that may answer in place, until its answer
 * no longer needs its bytes. */
typedef enum
{
  REQUEST_SENT,                 /* no answer yet */
  REQUEST_HELD,                 /* answered in place, answer not released */
  REQUEST_DONE
} request_state;

typedef struct
{
  uint64_t sequence;
  uint64_t start;               /* zb_writer_bytes_committed() at its start */
  const uint8_t *payload;
  size_t size;
  request_state state;
  zb_frame record;              /* HELD: the answer as it was read */
} request_entry;

struct zb_duplex_client
{
  zb_reader *responses;
  zb_writer *requests;

  /* In place (docs/duplex.md "In place"): both sides take part. */
  int in_place;
  uint8_t nonce[16];
  uint64_t ring_size;           /* of the request ring */
  void *acquired;               /* payload of the request being written */
  size_t acquired_size;

  int timeout_ms;               /* of a send */

  /* Requests in the order sent, oldest at head; guards the entries and
   * the answers below. */
  pthread_mutex_t lock;
  request_entry *entries;
  size_t capacity;              /* power of two */
  size_t head;
  size_t count;
  size_t peak_sent;             /* most requests awaiting an answer at once */

  /* Answers read while a send waited (see drain_answers()), copied out of
   * the rings, for receive() to hand out first; and those handed out,
   * until released. */
  zb_frame *drained;
  size_t n_drained;
  void **copies;
  size_t n_copies;

  /* One zb_reader_read() at a time: receive() or drain_answers(). */
  pthread_mutex_t read_lock;
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

/* A server of this library may answer in place: if its request buffer
 * says so, say in our response buffer that we take such answers, with a
 * nonce that tells them from others. Before our first request, which the
 * server reads before it looks at our response buffer; a server that
 * never said so, or a reference one, gets nothing in our OIEB. */
static void
offer_in_place (zb_duplex_client * client)
{
  uint64_t peer[4], mine[3];
  int fd;

  zb_writer_peer_reserved (client->requests, peer);
  if (peer[0] != ZB_IN_PLACE_MAGIC)
    return;
  fd = open ("/dev/urandom", O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return;
  if (read (fd, client->nonce, sizeof (client->nonce)) !=
      (ssize_t) sizeof (client->nonce)) {
    close (fd);
    return;
  }
  close (fd);
  mine[0] = ZB_IN_PLACE_MAGIC;
  memcpy (&mine[1], client->nonce, sizeof (client->nonce));
  zb_reader_set_reserved (client->responses, mine, 3);
  client->ring_size = zb_writer_ring_size (client->requests);
  client->in_place = 1;
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
  pthread_mutex_init (&client->lock, NULL);
  pthread_mutex_init (&client->read_lock, NULL);
  client->timeout_ms = zb_duplex_timeout (config);
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
  offer_in_place (client);
  *out = client;
  return 0;

  /* ERRORS */
error:
  zb_reader_destroy (client->responses);
  pthread_mutex_destroy (&client->lock);
  pthread_mutex_destroy (&client->read_lock);
  free (client);
  return ret;
}

/* Room for one more entry (with the lock). */
static int
entries_reserve (zb_duplex_client * client)
{
  request_entry *grown;
  size_t i, cap;

  if (client->count < client->capacity)
    return 0;
  cap = client->capacity ? client->capacity * 2 : 16;
  grown = malloc (cap * sizeof (*grown));
  if (grown == NULL)
    return -ENOMEM;
  for (i = 0; i < client->count; i++)
    grown[i] = client->entries[(client->head + i) & (client->capacity - 1)];
  free (client->entries);
  client->entries = grown;
  client->capacity = cap;
  client->head = 0;
  return 0;
}

static request_entry *
entry_at (zb_duplex_client * client, size_t i)
{
  return &client->entries[(client->head + i) & (client->capacity - 1)];
}

/* Drop the finished entries at the head, and let the writer charge the
 * ring up to the oldest request whose bytes may still be read (with the
 * lock). */
static void
entries_trim (zb_duplex_client * client)
{
  while (client->count > 0 && entry_at (client, 0)->state == REQUEST_DONE) {
    client->head = (client->head + 1) & (client->capacity - 1);
    client->count--;
  }
  zb_writer_set_limit (client->requests, client->count == 0 ? UINT64_MAX :
      entry_at (client, 0)->start + client->ring_size);
}

int
zb_duplex_client_send (zb_duplex_client * client, const void *data,
    size_t size, uint64_t * sequence)
{
  void *dst;
  int ret;

  if (client == NULL || data == NULL)
    return -EINVAL;
  ret = zb_duplex_client_acquire (client, size, &dst);
  if (ret < 0)
    return ret;
  memcpy (dst, data, size);
  return zb_duplex_client_commit (client, sequence);
}

static int note_answer (zb_duplex_client * client, zb_frame * response);

/* While a send waits for room, read the answers that have come and copy
 * them out of the rings, so that the server (its response ring) and our
 * writer (the requests answered in place) get their space back: a client
 * that sends before it receives would otherwise wait for itself. Only
 * when no other thread is reading. Returns how many were read. */
static int
drain_answers (zb_duplex_client * client)
{
  size_t i;
  int n = 0;

  if (pthread_mutex_trylock (&client->read_lock) != 0)
    return 0;
  for (;;) {
    zb_frame f, record;
    zb_frame *grown;
    void *copy;

    if (zb_reader_read (client->responses, 0, &f) < 0)
      break;
    record = f;
    pthread_mutex_lock (&client->lock);
    if (note_answer (client, &f) == 0 && (copy = malloc (f.size)) != NULL) {
      grown = realloc (client->drained, (client->n_drained + 1) *
          sizeof (*grown));
      if (grown == NULL) {
        free (copy);
        copy = NULL;
      } else {
        client->drained = grown;
        memcpy (copy, f.data, f.size);
        f.data = copy;
        client->drained[client->n_drained++] = f;
        n++;
      }
    }
    /* Answered in place: its request is done with once copied. */
    for (i = 0; i < client->count; i++)
      if (entry_at (client, i)->state == REQUEST_HELD
          && entry_at (client, i)->record.id == record.id)
        entry_at (client, i)->state = REQUEST_DONE;
    entries_trim (client);
    pthread_mutex_unlock (&client->lock);
    zb_reader_release (client->responses, &record);
  }
  pthread_mutex_unlock (&client->read_lock);
  return n;
}

int
zb_duplex_client_acquire (zb_duplex_client * client, size_t size, void **data)
{
  int64_t deadline;
  int ret = 0;

  if (client == NULL)
    return -EINVAL;
  pthread_mutex_lock (&client->lock);
  ret = client->in_place ? entries_reserve (client) : 0;
  pthread_mutex_unlock (&client->lock);
  if (ret < 0)
    return ret;
  if (!client->in_place) {
    ret = zb_writer_acquire (client->requests, size, data);
    goto out;
  }
  /* An early wrap leaves room for as many more requests as this client
   * has had out at once besides this one. */
  pthread_mutex_lock (&client->lock);
  zb_writer_set_wrap_reserve (client->requests, client->peak_sent == 0 ?
      UINT64_MAX : (client->peak_sent - 1) * (ZB_FRAME_HEADER_SIZE +
          (uint64_t) size));
  pthread_mutex_unlock (&client->lock);
  /* In slices, draining the answers between them. */
  deadline = zb_deadline (client->timeout_ms);
  for (;;) {
    int64_t left = deadline - zb_now_ms ();

    zb_writer_set_write_timeout (client->requests, left < DRAIN_SLICE_MS ?
        (left < 1 ? 1 : (int) left) : DRAIN_SLICE_MS);
    ret = zb_writer_acquire (client->requests, size, data);
    if (ret != -ENOBUFS || zb_now_ms () >= deadline)
      break;
    drain_answers (client);
  }
  zb_writer_set_write_timeout (client->requests, client->timeout_ms);
out:
  if (ret == 0) {
    pthread_mutex_lock (&client->lock);
    client->acquired = *data;
    client->acquired_size = size;
    pthread_mutex_unlock (&client->lock);
  }
  return ret;
}

int
zb_duplex_client_try_acquire (zb_duplex_client * client, size_t size,
    void **data)
{
  void *pending;

  if (client == NULL || data == NULL)
    return -EINVAL;
  /* A pending acquire first: whether or not there is room for another
   * (tests/duplex/test-duplex-cancel.c, full ring). */
  pthread_mutex_lock (&client->lock);
  pending = client->acquired;
  pthread_mutex_unlock (&client->lock);
  if (pending != NULL)
    return -EALREADY;
  /* Room only grows meanwhile (the server frees it, our answers release
   * it), so an acquire that would not wait now does not wait. */
  if (!zb_writer_space_ready (client->requests, size))
    return -EAGAIN;
  return zb_duplex_client_acquire (client, size, data);
}

int
zb_duplex_client_cancel (zb_duplex_client * client, const void *data)
{
  int ret = -EINVAL;

  if (client == NULL || data == NULL)
    return -EINVAL;
  pthread_mutex_lock (&client->lock);
  if (client->acquired == data) {
    ret = zb_writer_cancel (client->requests);
    client->acquired = NULL;
  }
  pthread_mutex_unlock (&client->lock);
  return ret;
}

int
zb_duplex_client_commit (zb_duplex_client * client, uint64_t * sequence)
{
  request_entry *e;
  size_t i, sent;
  int ret;

  if (client == NULL)
    return -EINVAL;
  /* With the lock: an answer may come back before we note the request. */
  pthread_mutex_lock (&client->lock);
  ret = zb_writer_commit (client->requests);
  if (ret == 0 && client->in_place) {
    e = &client->entries[(client->head + client->count) &
        (client->capacity - 1)];
    e->sequence = zb_writer_frames_written (client->requests);
    e->start = zb_writer_bytes_committed (client->requests) -
        ZB_FRAME_HEADER_SIZE - client->acquired_size;
    e->payload = client->acquired;
    e->size = client->acquired_size;
    e->state = REQUEST_SENT;
    client->count++;
    for (i = 0, sent = 0; i < client->count; i++)
      sent += entry_at (client, i)->state == REQUEST_SENT;
    if (sent > client->peak_sent)
      client->peak_sent = sent;
    /* From now on its bytes are not written over until it is done with. */
    entries_trim (client);
  }
  if (ret == 0)
    client->acquired = NULL;
  pthread_mutex_unlock (&client->lock);
  if (ret == 0 && sequence != NULL)
    *sequence = zb_writer_frames_written (client->requests);
  return ret;
}

/* Is @f an answer in place, by its size and our nonce? */
static int
is_in_place_record (zb_duplex_client * client, const zb_frame * f,
    zb_in_place_record * rec)
{
  if (f->size != sizeof (*rec))
    return 0;
  memcpy (rec, f->data, sizeof (*rec));
  return memcmp (rec->nonce, client->nonce, sizeof (rec->nonce)) == 0;
}

/* Note the answer @response (with the lock): an answer in place points
 * @response at the bytes of its request. 0 or -EPROTO (an answer in place
 * to no request of ours that awaits one, or out of its bounds). */
static int
note_answer (zb_duplex_client * client, zb_frame * response)
{
  zb_in_place_record rec;
  request_entry *e = NULL;
  size_t i;

  if (!is_in_place_record (client, response, &rec)) {
    /* Answers come in the order of the requests: the oldest one. */
    for (i = 0; i < client->count; i++)
      if (entry_at (client, i)->state == REQUEST_SENT) {
        entry_at (client, i)->state = REQUEST_DONE;
        break;
      }
    entries_trim (client);
    return 0;
  }
  for (i = 0; i < client->count && e == NULL; i++) {
    request_entry *x = entry_at (client, i);

    if (x->state == REQUEST_SENT && x->sequence == rec.request_sequence)
      e = x;
  }
  if (e == NULL) {
    entries_trim (client);
    return -EPROTO;
  }
  /* Older requests left unanswered are never answered now. */
  for (i = 0; entry_at (client, i) != e; i++)
    if (entry_at (client, i)->state == REQUEST_SENT)
      entry_at (client, i)->state = REQUEST_DONE;
  if (rec.size == 0 || rec.offset > e->size || rec.size > e->size - rec.offset) {
    e->state = REQUEST_DONE;
    entries_trim (client);
    return -EPROTO;
  }
  e->state = REQUEST_HELD;
  e->record = *response;
  response->data = e->payload + rec.offset;
  response->size = (size_t) rec.size;
  entries_trim (client);
  return 0;
}

int
zb_duplex_client_receive (zb_duplex_client * client, int timeout_ms,
    zb_frame * response)
{
  zb_frame record;
  int ret;

  if (client == NULL || response == NULL)
    return -EINVAL;
  if (!client->in_place)
    return zb_reader_read (client->responses, timeout_ms, response);
  pthread_mutex_lock (&client->read_lock);
  pthread_mutex_lock (&client->lock);
  if (client->n_drained > 0) {
    void **grown = realloc (client->copies, (client->n_copies + 1) *
        sizeof (*grown));

    if (grown == NULL) {
      pthread_mutex_unlock (&client->lock);
      pthread_mutex_unlock (&client->read_lock);
      return -ENOMEM;
    }
    client->copies = grown;
    *response = client->drained[0];
    client->copies[client->n_copies++] = (void *) response->data;
    memmove (client->drained, client->drained + 1,
        --client->n_drained * sizeof (*client->drained));
    pthread_mutex_unlock (&client->lock);
    pthread_mutex_unlock (&client->read_lock);
    return 0;
  }
  pthread_mutex_unlock (&client->lock);
  ret = zb_reader_read (client->responses, timeout_ms, response);
  if (ret == 0) {
    record = *response;
    pthread_mutex_lock (&client->lock);
    ret = note_answer (client, response);
    pthread_mutex_unlock (&client->lock);
    if (ret < 0)
      zb_reader_release (client->responses, &record);
  }
  pthread_mutex_unlock (&client->read_lock);
  return ret;
}

int
zb_duplex_client_release (zb_duplex_client * client, const zb_frame * response)
{
  zb_frame record;
  size_t i;

  if (client == NULL || response == NULL)
    return -EINVAL;
  if (client->in_place) {
    pthread_mutex_lock (&client->lock);
    for (i = 0; i < client->n_copies; i++)
      if (client->copies[i] == response->data) {
        free (client->copies[i]);
        client->copies[i] = client->copies[--client->n_copies];
        pthread_mutex_unlock (&client->lock);
        return 0;
      }
    for (i = 0; i < client->count; i++) {
      request_entry *e = entry_at (client, i);
      const uint8_t *p = response->data;

      if (e->state == REQUEST_HELD && e->record.id == response->id
          && p >= e->payload && p < e->payload + e->size) {
        record = e->record;
        e->state = REQUEST_DONE;
        entries_trim (client);
        pthread_mutex_unlock (&client->lock);
        return zb_reader_release (client->responses, &record);
      }
    }
    pthread_mutex_unlock (&client->lock);
  }
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
  pthread_mutex_destroy (&client->lock);
  pthread_mutex_destroy (&client->read_lock);
  while (client->n_drained > 0)
    free ((void *) client->drained[--client->n_drained].data);
  while (client->n_copies > 0)
    free (client->copies[--client->n_copies]);
  free (client->drained);
  free (client->copies);
  free (client->entries);
  free (client);
}
