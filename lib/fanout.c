/* libzerobuffer - fan-out: one writer, the readers of NAME and NAME@*
 *
 * Every reader keeps a standard one-reader buffer; this file only finds
 * them and writes each frame to each, with one zb_writer per reader (an
 * "output"). Two threads touch the outputs:
 *   - the discovery thread (discovery.c) connects new readers and appends
 *     them to @pending;
 *   - the writing thread (the caller of zb_fanout_write()) moves them to
 *     @active, writes, and removes the readers that are gone.
 * Only the writing thread writes to an output or removes one, so it reads
 * @active without the lock; every change of either list is made under the
 * lock, which zb_fanout_readers() takes to read them. No lock is held
 * across a frame write or a connect.
 */

#include "zb-private.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct
{
  char name[ZB_NAME_MAX + 1];
  zb_writer *writer;
  uint64_t pid;

  /* Set under the lock while pending, then by the writing thread only. */
  int has_metadata;

  /* Written by the writing thread only; read by zb_fanout_readers() with
   * atomic loads (hence the atomic stores). */
  uint64_t frames;
  uint64_t drops;
  uint64_t bytes;
  int stalled;
  int last_error;
} output;

struct zb_fanout
{
  /* Set at open, read-only afterwards. */
  char name[ZB_NAME_MAX + 1];
  size_t name_len;
  zb_fanout_policy policy;
  int write_timeout_ms;
  unsigned int max_readers;
  uid_t allow_uid;
  int recheck_ms;
  zb_fanout_event_func on_event;
  void *user_data;

  /* lock guards: both lists (see the top of the file for who changes
   * them), n_pending's writes, the metadata copy. */
  pthread_mutex_t lock;
  pthread_cond_t count_changed; /* n_active + n_pending changed */
  output **active;              /* max_readers slots, in joining order */
  unsigned int n_active;
  output **pending;             /* max_readers slots */
  unsigned int n_pending;       /* also read atomically without the lock */
  void *metadata;
  size_t metadata_size;

  /* The writing thread's. */
  uint64_t frames_written;

  /* The discovery thread (discovery.c). */
  zb_discovery *discovery;
};

static void
store_u64 (uint64_t * field, uint64_t v)
{
  __atomic_store_n (field, v, __ATOMIC_RELAXED);
}

static void
store_int (int *field, int v)
{
  __atomic_store_n (field, v, __ATOMIC_RELAXED);
}

static void
emit (zb_fanout * f, const output * o, int joined, int reason)
{
  zb_fanout_event ev;

  if (f->on_event == NULL)
    return;
  ev.name = o->name;
  ev.pid = o->pid;
  ev.joined = joined;
  ev.reason = reason;
  f->on_event (&ev, f->user_data);
}

/* The writing thread's half of "a new reader is ready": under the lock. */
static void
adopt_pending_locked (zb_fanout * f)
{
  unsigned int i;

  for (i = 0; i < f->n_pending; i++)
    f->active[f->n_active++] = f->pending[i];
  __atomic_store_n (&f->n_pending, 0, __ATOMIC_RELAXED);
}

/* Under the lock: is a reader of @name connected (or about to be)? */
static int
known_locked (zb_fanout * f, const char *name)
{
  unsigned int i;

  for (i = 0; i < f->n_active; i++)
    if (strcmp (f->active[i]->name, name) == 0)
      return 1;
  for (i = 0; i < f->n_pending; i++)
    if (strcmp (f->pending[i]->name, name) == 0)
      return 1;
  return 0;
}

/* Under the lock. */
static void
give_metadata_locked (zb_fanout * f, output * o)
{
  int ret;

  if (f->metadata == NULL || o->has_metadata)
    return;
  ret = zb_writer_set_metadata (o->writer, f->metadata, f->metadata_size);
  if (ret == 0 || ret == -EALREADY)
    o->has_metadata = 1;
  else
    store_int (&o->last_error, ret);
}

/* Connect to reader @name and queue it for the writing thread. Returns 0,
 * or zb_writer_connect()'s error (-ENOENT: not ready yet, or gone). */
static int
connect_one (zb_fanout * f, const char *name)
{
  zb_writer_config wc;
  zb_status st;
  output *o;
  size_t len;
  int ret;

  memset (&wc, 0, sizeof (wc));
  wc.connect_timeout_ms = 0;
  /* DROP: zb_fanout_write() never lets a write wait (see
   * output_write()); the shortest timeout bounds it anyway. */
  wc.write_timeout_ms = f->policy == ZB_FANOUT_DROP ? 1 : f->write_timeout_ms;
  wc.allow_uid = f->allow_uid;
  len = strnlen (name, ZB_NAME_MAX + 1);
  if (len > ZB_NAME_MAX)
    return -ENAMETOOLONG;
  o = calloc (1, sizeof (*o));
  if (o == NULL)
    return -ENOMEM;
  memcpy (o->name, name, len + 1);
  ret = zb_writer_connect (name, &wc, &o->writer);
  if (ret < 0) {
    free (o);
    return ret;
  }
  if (zb_writer_get_status (o->writer, &st) == 0)
    o->pid = st.reader_pid;

  pthread_mutex_lock (&f->lock);
  give_metadata_locked (f, o);
  pthread_mutex_unlock (&f->lock);
  /* Before it is listed: its "left" event can only come after this. */
  emit (f, o, 1, 0);
  pthread_mutex_lock (&f->lock);
  f->pending[f->n_pending] = o;
  __atomic_store_n (&f->n_pending, f->n_pending + 1, __ATOMIC_RELEASE);
  pthread_cond_broadcast (&f->count_changed);
  pthread_mutex_unlock (&f->lock);
  return 0;
}

/* One /dev/shm entry of ours: connect to it unless it is connected, up to
 * max_readers. Returns 1 when it looked not ready yet (created but without
 * a pid, or still being initialised), worth another look soon. */
static int
discover_one (const char *entry, void *data)
{
  zb_fanout *f = data;
  int known, full, ret;

  pthread_mutex_lock (&f->lock);
  known = known_locked (f, entry);
  /* Only the discovery thread adds readers: the count cannot grow
   * meanwhile. */
  full = f->n_active + f->n_pending >= f->max_readers;
  pthread_mutex_unlock (&f->lock);
  if (known || full)
    return 0;
  ret = connect_one (f, entry);
  return ret == -ENOENT || ret == -EPROTO;
}

/* Connect to every reader of ours in /dev/shm that is not yet connected. */
static int
discover (zb_discovery * d, void *data)
{
  return zb_discovery_for_each (d, discover_one, data);
}

static void
output_free (output * o)
{
  zb_writer_disconnect (o->writer);
  free (o);
}

/* Write one frame to @o. Returns 1 when it got it, 0 when it missed it
 * (counted), or a negative errno when the reader is gone. */
static int
output_write (zb_fanout * f, output * o, const void *data, size_t size)
{
  int ret;

  if (f->policy == ZB_FANOUT_DROP || o->stalled) {
    if (!zb_writer_space_ready (o->writer, size)) {
      store_u64 (&o->drops, o->drops + 1);
      /* published for observers (zerobuffer top) */
      zb_writer_add_drops (o->writer, 1);
      /* Full rings are where dead readers stay: write() would have
       * noticed, we did not call it. */
      return zb_writer_check_reader (o->writer);
    }
    if (o->stalled)
      store_int (&o->stalled, 0);
  }
  ret = zb_writer_write (o->writer, data, size);
  if (ret == 0) {
    store_u64 (&o->frames, o->frames + 1);
    store_u64 (&o->bytes, o->bytes + size);
    return 1;
  }
  switch (ret) {
    case -ENOBUFS:
      if (f->policy == ZB_FANOUT_BLOCK)
        store_int (&o->stalled, 1);
      /* fall through */
    case -EMSGSIZE:
    case -E2BIG:
    case -EINTR:
      store_u64 (&o->drops, o->drops + 1);
      zb_writer_add_drops (o->writer, 1);
      store_int (&o->last_error, ret);
      return 0;
    default:
      return ret;
  }
}

/* ------------------------------------------------------------------ */

int
zb_fanout_open (const char *name, const zb_fanout_config * config,
    zb_fanout ** out)
{
  zb_fanout *f;
  size_t i;
  int ret;

  if (out == NULL)
    return -EINVAL;
  *out = NULL;
  ret = zb_name_check (name);
  if (ret < 0)
    return ret;
  if (strchr (name, '@') != NULL)
    return -EINVAL;
  if (config != NULL) {
    for (i = 0; i < sizeof (config->reserved) / sizeof (int); i++)
      if (config->reserved[i] != 0)
        return -EINVAL;
    if ((config->policy != ZB_FANOUT_DROP && config->policy != ZB_FANOUT_BLOCK)
        || config->write_timeout_ms < 0
        || config->max_readers > ZB_FANOUT_MAX_READERS
        || config->recheck_ms < 0)
      return -EINVAL;
  }

  f = calloc (1, sizeof (*f));
  if (f == NULL)
    return -ENOMEM;
  snprintf (f->name, sizeof (f->name), "%s", name);
  f->name_len = strlen (name);
  f->policy = config ? config->policy : ZB_FANOUT_DROP;
  f->write_timeout_ms = config && config->write_timeout_ms ?
      config->write_timeout_ms : ZB_DEFAULT_WRITE_TIMEOUT_MS;
  f->max_readers = config && config->max_readers ?
      config->max_readers : ZB_FANOUT_DEFAULT_MAX_READERS;
  f->allow_uid = config ? config->allow_uid : 0;
  f->recheck_ms = config && config->recheck_ms ?
      config->recheck_ms : ZB_FANOUT_DEFAULT_RECHECK_MS;
  f->on_event = config ? config->on_event : NULL;
  f->user_data = config ? config->user_data : NULL;
  pthread_mutex_init (&f->lock, NULL);
  {
    pthread_condattr_t ca;

    pthread_condattr_init (&ca);
    pthread_condattr_setclock (&ca, CLOCK_MONOTONIC);
    pthread_cond_init (&f->count_changed, &ca);
    pthread_condattr_destroy (&ca);
  }
  f->active = calloc (f->max_readers, sizeof (output *));
  f->pending = calloc (f->max_readers, sizeof (output *));
  if (f->active == NULL || f->pending == NULL) {
    ret = -ENOMEM;
    goto error;
  }
  ret = zb_discovery_start (f->name, f->recheck_ms, discover, f, &f->discovery);
  if (ret < 0)
    goto error;
  *out = f;
  return 0;

  /* ERRORS */
error:
  zb_fanout_close (f);
  return ret;
}

void
zb_fanout_close (zb_fanout * f)
{
  unsigned int i;

  if (f == NULL)
    return;
  zb_discovery_stop (f->discovery);
  /* Alone now. */
  if (f->active != NULL && f->pending != NULL)
    adopt_pending_locked (f);
  for (i = 0; i < f->n_active; i++) {
    emit (f, f->active[i], 0, 0);
    output_free (f->active[i]);
  }
  pthread_cond_destroy (&f->count_changed);
  pthread_mutex_destroy (&f->lock);
  free (f->metadata);
  free (f->active);
  free (f->pending);
  free (f);
}

int
zb_fanout_set_metadata (zb_fanout * f, const void *data, size_t size)
{
  void *copy;
  unsigned int i;

  if (f == NULL || data == NULL || size == 0)
    return -EINVAL;
  copy = malloc (size);
  if (copy == NULL)
    return -ENOMEM;
  memcpy (copy, data, size);
  pthread_mutex_lock (&f->lock);
  free (f->metadata);
  f->metadata = copy;
  f->metadata_size = size;
  /* A memcpy each: short enough to do under the lock. */
  for (i = 0; i < f->n_active; i++)
    give_metadata_locked (f, f->active[i]);
  for (i = 0; i < f->n_pending; i++)
    give_metadata_locked (f, f->pending[i]);
  pthread_mutex_unlock (&f->lock);
  return 0;
}

int
zb_fanout_write (zb_fanout * f, const void *data, size_t size)
{
  unsigned int i;
  int delivered = 0, dropped_one = 0;

  if (f == NULL || data == NULL || size == 0)
    return -EINVAL;
  f->frames_written++;
  /* Acquire: pairs with the release store in connect_one(). */
  if (__atomic_load_n (&f->n_pending, __ATOMIC_ACQUIRE) > 0) {
    pthread_mutex_lock (&f->lock);
    adopt_pending_locked (f);
    pthread_mutex_unlock (&f->lock);
  }
  for (i = 0; i < f->n_active;) {
    output *o = f->active[i];
    int ret = output_write (f, o, data, size);

    if (ret >= 0) {
      delivered += ret;
      i++;
      continue;
    }
    /* Gone: unlist it, then let it go outside the lock. */
    pthread_mutex_lock (&f->lock);
    memmove (&f->active[i], &f->active[i + 1],
        (f->n_active - i - 1) * sizeof (output *));
    f->n_active--;
    pthread_cond_broadcast (&f->count_changed);
    pthread_mutex_unlock (&f->lock);
    emit (f, o, 0, ret);
    output_free (o);
    dropped_one = 1;
  }
  if (dropped_one)
    zb_discovery_poke (f->discovery);
  return delivered;
}

int
zb_fanout_readers (zb_fanout * f, zb_fanout_reader_info * info, size_t capacity)
{
  unsigned int i, n;

  if (f == NULL || (info == NULL && capacity > 0))
    return -EINVAL;
  pthread_mutex_lock (&f->lock);
  n = f->n_active + f->n_pending;
  for (i = 0; i < n && i < capacity; i++) {
    output *o = i < f->n_active ? f->active[i] : f->pending[i - f->n_active];
    zb_fanout_reader_info *r = &info[i];

    memset (r, 0, sizeof (*r));
    snprintf (r->name, sizeof (r->name), "%s", o->name);
    r->pid = o->pid;
    r->frames = __atomic_load_n (&o->frames, __ATOMIC_RELAXED);
    r->drops = __atomic_load_n (&o->drops, __ATOMIC_RELAXED);
    r->bytes = __atomic_load_n (&o->bytes, __ATOMIC_RELAXED);
    r->stalled = __atomic_load_n (&o->stalled, __ATOMIC_RELAXED);
    r->last_error = __atomic_load_n (&o->last_error, __ATOMIC_RELAXED);
  }
  pthread_mutex_unlock (&f->lock);
  return (int) n;
}

int
zb_fanout_wait_readers (zb_fanout * f, unsigned int count, int timeout_ms)
{
  struct timespec ts;
  int64_t deadline;
  int n, ret = 0;

  if (f == NULL)
    return -EINVAL;
  deadline = zb_deadline (timeout_ms);
  ts.tv_sec = deadline / 1000;
  ts.tv_nsec = (deadline % 1000) * 1000000;
  pthread_mutex_lock (&f->lock);
  while (f->n_active + f->n_pending < count && ret != ETIMEDOUT) {
    if (deadline < 0)
      ret = pthread_cond_wait (&f->count_changed, &f->lock);
    else
      ret = pthread_cond_timedwait (&f->count_changed, &f->lock, &ts);
  }
  n = (int) (f->n_active + f->n_pending);
  pthread_mutex_unlock (&f->lock);
  return n >= (int) count ? n : -ETIMEDOUT;
}

uint64_t
zb_fanout_frames_written (zb_fanout * f)
{
  return f ? f->frames_written : 0;
}
