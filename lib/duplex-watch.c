/* libzerobuffer - fan-in discovery for servers that read the requests
 * themselves (zbsrc channel-name=NAME): a live client's NAME@ID_response
 * appears, the watch creates NAME@ID_request and hands it over
 * (docs/duplex.md, "Fan-in"). zb_duplex_server_run() has its own, with
 * a thread per channel; both use discovery.c.
 */

#include "zb-private.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WATCH_RECHECK_MS 1000
#define WATCH_MAX_CHANNELS 256

struct zb_duplex_watch
{
  char name[ZB_NAME_MAX + 1];
  zb_reader_config rc;
  zb_duplex_watch_func func;
  void *user_data;
  zb_discovery *discovery;

  pthread_mutex_t lock;         /* names, n_names */
  char *names[WATCH_MAX_CHANNELS];      /* channels handed out */
  unsigned int n_names;
};

/* Under the lock. */
static int
find_locked (zb_duplex_watch * w, const char *channel)
{
  unsigned int i;

  for (i = 0; i < w->n_names; i++)
    if (strcmp (w->names[i], channel) == 0)
      return (int) i;
  return -1;
}

/* One /dev/shm entry NAME or NAME@*: a live client's NAME@ID_response
 * without a channel yet gets one. Returns 1 if it looked not ready. */
static int
watch_one (const char *entry, void *data)
{
  zb_duplex_watch *w = data;
  size_t len = strlen (entry), suffix = strlen ("_response");
  char channel[ZB_NAME_MAX + 1], request[ZB_NAME_MAX + 1];
  char response[ZB_NAME_MAX + 1];
  zb_reader *requests = NULL;
  zb_status st;
  char *copy;
  int skip;

  if (len <= suffix || strcmp (entry + len - suffix, "_response") != 0
      || entry[strlen (w->name)] != '@')
    return 0;
  snprintf (channel, sizeof (channel), "%.*s", (int) (len - suffix), entry);
  pthread_mutex_lock (&w->lock);
  skip = find_locked (w, channel) >= 0 || w->n_names >= WATCH_MAX_CHANNELS;
  pthread_mutex_unlock (&w->lock);
  if (skip)
    return 0;
  if (zb_inspect (entry, &st, NULL, 0, NULL) < 0)
    return 1;
  if (!st.reader_alive)
    return st.reader_pid == 0;  /* still being created, or stale */
  if (zb_duplex_channel_names (channel, request, response) < 0)
    return 0;
  /* another live server's channel (-EEXIST), or a bad name: not ours */
  if (zb_reader_create (request, &w->rc, &requests) < 0)
    return 0;
  copy = strdup (channel);
  if (copy == NULL) {
    zb_reader_destroy (requests);
    return 0;
  }
  pthread_mutex_lock (&w->lock);
  w->names[w->n_names++] = copy;
  pthread_mutex_unlock (&w->lock);
  w->func (channel, requests, w->user_data);
  return 0;
}

static int
watch_scan (zb_discovery * d, void *data)
{
  return zb_discovery_for_each (d, watch_one, data);
}

int
zb_duplex_watch_start (const char *name, const zb_reader_config * config,
    zb_duplex_watch_func func, void *user_data, zb_duplex_watch ** watch)
{
  zb_duplex_watch *w;
  int ret;

  if (watch == NULL)
    return -EINVAL;
  *watch = NULL;
  if (name == NULL || func == NULL || strchr (name, '@') != NULL)
    return -EINVAL;
  ret = zb_name_check (name);
  if (ret < 0)
    return ret;
  if (strlen (name) > ZB_CHANNEL_NAME_MAX)
    return -ENAMETOOLONG;
  w = calloc (1, sizeof (*w));
  if (w == NULL)
    return -ENOMEM;
  snprintf (w->name, sizeof (w->name), "%s", name);
  if (config)
    w->rc = *config;
  w->func = func;
  w->user_data = user_data;
  pthread_mutex_init (&w->lock, NULL);
  /* the first scan runs here: clients that are there already */
  ret = zb_discovery_start (name, WATCH_RECHECK_MS, watch_scan, w,
      &w->discovery);
  if (ret < 0) {
    pthread_mutex_destroy (&w->lock);
    free (w);
    return ret;
  }
  *watch = w;
  return 0;
}

void
zb_duplex_watch_forget (zb_duplex_watch * watch, const char *channel)
{
  int i;

  if (watch == NULL || channel == NULL)
    return;
  pthread_mutex_lock (&watch->lock);
  i = find_locked (watch, channel);
  if (i >= 0) {
    free (watch->names[i]);
    watch->names[i] = watch->names[--watch->n_names];
  }
  pthread_mutex_unlock (&watch->lock);
  /* the client may be back already */
  zb_discovery_poke (watch->discovery);
}

void
zb_duplex_watch_stop (zb_duplex_watch * watch)
{
  unsigned int i;

  if (watch == NULL)
    return;
  zb_discovery_stop (watch->discovery);
  for (i = 0; i < watch->n_names; i++)
    free (watch->names[i]);
  pthread_mutex_destroy (&watch->lock);
  free (watch);
}

int
zb_duplex_channel_idle (zb_reader * requests, const char *channel)
{
  char request[ZB_NAME_MAX + 1], response[ZB_NAME_MAX + 1];
  zb_status st;

  if (requests == NULL || channel == NULL)
    return 0;
  if (zb_reader_get_status (requests, &st) == 0 && st.writer_pid != 0
      && zb_reader_writer_alive (requests))
    return 0;
  if (zb_duplex_channel_names (channel, request, response) < 0)
    return 1;
  return zb_inspect (response, &st, NULL, 0, NULL) < 0 || !st.reader_alive;
}

int
zb_duplex_requests_writer_alive (zb_reader * requests)
{
  zb_status st;

  if (requests == NULL || zb_reader_get_status (requests, &st) < 0)
    return 0;
  return st.writer_pid != 0 && zb_reader_writer_alive (requests);
}

int
zb_duplex_requests_offer_in_place (zb_reader * requests)
{
  uint64_t magic = ZB_IN_PLACE_MAGIC;

  if (requests == NULL)
    return -EINVAL;
  /* A client of this library that sees it says in its response buffer
   * that it takes answers in place (duplex.c, offer_in_place). */
  zb_reader_set_reserved (requests, &magic, 1);
  return 0;
}

int
zb_duplex_responses_in_place (zb_writer * responses, uint64_t sequence,
    uint64_t offset, uint64_t size, void *record)
{
  zb_in_place_record rec;
  uint64_t reserved[4];

  if (responses == NULL || record == NULL || size == 0 || sequence == 0)
    return -EINVAL;
  /* the client's reserved words: read at each answer, as cheap as a
   * copy of the nonce (the server's loop reads them once per client) */
  zb_writer_peer_reserved (responses, reserved);
  if (reserved[0] != ZB_IN_PLACE_MAGIC)
    return -EOPNOTSUPP;
  memcpy (rec.nonce, &reserved[1], sizeof (rec.nonce));
  rec.request_sequence = sequence;
  rec.offset = offset;
  rec.size = size;
  memcpy (record, &rec, sizeof (rec));
  return 0;
}
