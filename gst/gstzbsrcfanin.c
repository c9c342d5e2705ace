/* zerobuffer GStreamer plugin - zbsrc channel-name=NAME as a fan-in
 * server (docs/duplex.md, "The GStreamer server")
 *
 * Channel NAME's own client and every client NAME@ID (found by the
 * library's zb_duplex_watch, which creates NAME@ID_request) each have a
 * thread that reads their request ring and queues one event at a time (a
 * frame, or the writer's loss); the streaming thread takes the events in
 * arrival order, so the requests of all clients go out interleaved in one
 * stream, at most one request ahead per client. Before it processes a
 * channel's event, the streaming thread loads that channel's client state
 * into the element (its request buffer's name, caps, frame format,
 * GstZbChannel, generation, pool mappings, writer pid) and saves the
 * previous channel's: the rest of zbsrc works on one channel at a time as
 * before. A channel whose client is gone (no live writer of its requests,
 * no live reader of its responses) closes: its GstZbChannel serves nobody
 * (zbsink drops what is still on its way) and its request buffer goes
 * once no buffer downstream holds its ring.
 */

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstzbsrcpriv.h"

#include <errno.h>
#include <string.h>

#define GST_CAT_DEFAULT gst_zb_src_debug

#define CHANNEL_READ_SLICE_MS 100
/* how often a thread looks whether its client is still alive */
#define CLIENT_CHECK_US (5 * 1000)
/* an event that is not a frame or a read error: the channel closed */
#define EVENT_CLOSED 1

typedef struct _Chan Chan;

struct _Chan
{
  GstZbSrcFanin *fanin;
  gchar *channel_name;          /* NAME or NAME@ID */
  gboolean is_main;             /* NAME's: the element's own reader */
  GstZbReaderRef *ref;
  GThread *thread;
  /* the thread's */
  gint64 checked_us;            /* when the client's liveness was checked */
  gboolean lost;                /* the client is gone */

  /* fanin->lock */
  gboolean queued;              /* an event is queued or being processed */
  gint ret;                     /* the event: 0 (a frame), a read error,
                                 * EVENT_CLOSED */
  zb_frame frame;

  /* streaming thread: the client state while another channel is loaded
   * (gstzbsrcpriv.h) */
  GstZbSrcPeer peer;
};

struct _GstZbSrcFanin
{
  GstZbSrc *src;                /* not a reference: we live in its start/stop */
  zb_duplex_watch *watch;

  GMutex lock;
  GCond cond;
  GList *chans;                 /* Chan; lock */
  GQueue events;                /* Chan with an event; lock */
  gboolean stopping;            /* lock */
  gboolean flushing;            /* lock */
  Chan *current;                /* whose event is processed; lock */

  /* streaming thread */
  Chan *main;
  Chan *loaded;                 /* whose client state the element holds */
};

/* ------------------------------------------------------------------ */
/* Client state */

static void
peer_swap (GstZbSrc * self, GstZbSrcPeer * p)
{
  GstZbSrcPeer t = *p;

  p->gst_format = self->gst_format;
  p->writer_caps = self->writer_caps;
  p->writer_present = self->writer_present;
  p->channel = self->channel;
  p->chan_generation = self->chan_generation;
  p->pool_maps = self->pool_maps;
  p->pool_missing_warned = self->pool_missing_warned;
  p->refused = self->refused;
  self->gst_format = t.gst_format;
  self->writer_caps = t.writer_caps;
  self->writer_present = t.writer_present;
  self->channel = t.channel;
  self->chan_generation = t.chan_generation;
  self->pool_maps = t.pool_maps;
  self->pool_missing_warned = t.pool_missing_warned;
  self->refused = t.refused;

  GST_OBJECT_LOCK (self);
  p->name = self->name;
  p->writer_pid = self->writer_pid;
  p->connected = self->connected;
  self->name = t.name;
  self->writer_pid = t.writer_pid;
  self->connected = t.connected;
  GST_OBJECT_UNLOCK (self);
}

static void
load (GstZbSrcFanin * f, Chan * ch)
{
  GstZbSrc *self = f->src;

  if (f->loaded == ch)
    return;
  /* the loaded channel's peer is empty while the element holds its
   * state: two swaps move the state out and the other one in */
  peer_swap (self, &f->loaded->peer);
  peer_swap (self, &ch->peer);
  f->loaded = ch;
}

static void
peer_clear (GstZbSrcPeer * p)
{
  g_free (p->name);
  gst_caps_replace (&p->writer_caps, NULL);
  if (p->channel) {
    /* responses still on their way are for nobody now */
    gst_zb_channel_set_client (p->channel, 0);
    gst_zb_channel_unref (p->channel);
  }
  if (p->pool_maps)
    g_hash_table_unref (p->pool_maps);
  memset (p, 0, sizeof (*p));
}

/* ------------------------------------------------------------------ */
/* Channel threads */

static gpointer
chan_main (gpointer data)
{
  Chan *ch = data;
  GstZbSrcFanin *f = ch->fanin;
  zb_frame frame;
  int ret;

  g_mutex_lock (&f->lock);
  for (;;) {
    /* one event at a time: the streaming thread processes it first */
    while (ch->queued && !f->stopping)
      g_cond_wait (&f->cond, &f->lock);
    if (f->stopping)
      break;
    g_mutex_unlock (&f->lock);

    ret = zb_reader_read (ch->ref->reader, CHANNEL_READ_SLICE_MS, &frame);
    /* a client that is gone: the requests it left queued are dropped, not
     * answered (its first request, sequence 1, is a new client's) */
    if (ret == 0 && !ch->is_main && !(frame.flags & ZB_FRAME_NEW_WRITER)) {
      gint64 now = g_get_monotonic_time ();

      if (ch->lost || now - ch->checked_us >= CLIENT_CHECK_US) {
        ch->checked_us = now;
        ch->lost = !zb_duplex_requests_writer_alive (ch->ref->reader);
      }
      if (ch->lost) {
        GST_LOG_OBJECT (f->src, "%s: dropping request %" G_GUINT64_FORMAT
            " of a client that is gone", ch->channel_name, frame.sequence);
        zb_reader_release (ch->ref->reader, &frame);
        GST_OBJECT_LOCK (f->src);
        f->src->dropped++;
        GST_OBJECT_UNLOCK (f->src);
        g_mutex_lock (&f->lock);
        continue;
      }
    } else if (ret == 0) {
      ch->lost = FALSE;
    }
    if (ret == -ETIMEDOUT || ret == -EAGAIN || ret == -EINTR) {
      if (ret == -EINTR)
        g_usleep (10 * 1000);   /* stop() is on its way */
      if (!ch->is_main && zb_duplex_channel_idle (ch->ref->reader,
              ch->channel_name))
        ret = EVENT_CLOSED;
      else {
        g_mutex_lock (&f->lock);
        continue;
      }
    }

    g_mutex_lock (&f->lock);
    if (f->stopping) {
      if (ret == 0)
        zb_reader_release (ch->ref->reader, &frame);
      break;
    }
    ch->ret = ret;
    if (ret == 0)
      ch->frame = frame;
    ch->queued = TRUE;
    g_queue_push_tail (&f->events, ch);
    g_cond_broadcast (&f->cond);
    if (ret == EVENT_CLOSED)
      break;
  }
  g_mutex_unlock (&f->lock);
  return NULL;
}

/* @ref: taken. FALSE: no thread (a warning is logged). */
static Chan *
chan_new (GstZbSrcFanin * f, const gchar * channel_name, GstZbReaderRef * ref,
    gboolean is_main)
{
  Chan *ch = g_new0 (Chan, 1);
  GError *err = NULL;

  ch->fanin = f;
  ch->channel_name = g_strdup (channel_name);
  ch->is_main = is_main;
  ch->ref = ref;
  if (!is_main) {
    ch->peer.name = g_strdup_printf ("%s_request", channel_name);
    ch->peer.channel = gst_zb_channel_new (channel_name);
  }
  g_mutex_lock (&f->lock);
  f->chans = g_list_prepend (f->chans, ch);
  g_mutex_unlock (&f->lock);
  ch->thread = g_thread_try_new ("zbsrc-fanin", chan_main, ch, &err);
  if (ch->thread == NULL) {
    GST_WARNING_OBJECT (f->src, "no thread for channel %s: %s",
        channel_name, err->message);
    g_clear_error (&err);
  }
  return ch;
}

/* Join and free @ch (not the main channel, not loaded, no event queued
 * or being processed). */
static void
chan_free (GstZbSrcFanin * f, Chan * ch)
{
  g_mutex_lock (&f->lock);
  f->chans = g_list_remove (f->chans, ch);
  g_mutex_unlock (&f->lock);
  if (ch->thread)
    g_thread_join (ch->thread);
  peer_clear (&ch->peer);
  /* the request buffer goes once no buffer downstream holds its ring */
  if (!ch->is_main) {
    gst_zb_reader_ref_unref (ch->ref);
    zb_duplex_watch_forget (f->watch, ch->channel_name);
  }
  g_free (ch->channel_name);
  g_free (ch);
}

/* The watch found client @channel; its thread. */
static void
on_client (const gchar * channel, zb_reader * requests, gpointer data)
{
  GstZbSrcFanin *f = data;
  Chan *ch;

  GST_INFO_OBJECT (f->src, "fan-in client channel %s", channel);
  /* before the client connects, as for NAME_request */
  zb_duplex_requests_offer_in_place (requests);
  ch = chan_new (f, channel, gst_zb_reader_ref_new (requests), FALSE);
  if (ch->thread == NULL) {
    /* nobody reads it: close it at once */
    g_mutex_lock (&f->lock);
    ch->ret = EVENT_CLOSED;
    ch->queued = TRUE;
    g_queue_push_tail (&f->events, ch);
    g_cond_broadcast (&f->cond);
    g_mutex_unlock (&f->lock);
  }
}

/* ------------------------------------------------------------------ */
/* The element's side */

GstZbSrcFanin *
gst_zb_src_fanin_new (GstZbSrc * self, const gchar * channel_name,
    GstZbReaderRef * ref, const zb_reader_config * config, int *err)
{
  GstZbSrcFanin *f = g_new0 (GstZbSrcFanin, 1);

  f->src = self;
  g_mutex_init (&f->lock);
  g_cond_init (&f->cond);
  g_queue_init (&f->events);
  f->main = f->loaded = chan_new (f, channel_name, gst_zb_reader_ref_ref (ref),
      TRUE);
  *err = 0;
  if (f->main->thread == NULL)
    *err = -EAGAIN;
  else
    *err = zb_duplex_watch_start (channel_name, config, on_client, f,
        &f->watch);
  if (*err < 0) {
    gst_zb_src_fanin_free (f);
    return NULL;
  }
  return f;
}

void
gst_zb_src_fanin_free (GstZbSrcFanin * f)
{
  GList *l;

  if (f == NULL)
    return;
  /* no new channel after this */
  zb_duplex_watch_stop (f->watch);
  f->watch = NULL;
  g_mutex_lock (&f->lock);
  f->stopping = TRUE;
  for (l = f->chans; l; l = l->next)
    zb_reader_wakeup (((Chan *) l->data)->ref->reader);
  g_cond_broadcast (&f->cond);
  g_mutex_unlock (&f->lock);
  /* the element gets its own channel's state back */
  load (f, f->main);
  while (f->chans) {
    Chan *ch = f->chans->data;

    if (ch == f->main) {
      g_mutex_lock (&f->lock);
      f->chans = g_list_remove (f->chans, ch);
      g_mutex_unlock (&f->lock);
      continue;
    }
    /* frames taken by the thread and not processed */
    if (ch->queued && ch->ret == 0 && ch != f->current)
      zb_reader_release (ch->ref->reader, &ch->frame);
    chan_free (f, ch);
  }
  if (f->main->thread)
    g_thread_join (f->main->thread);
  if (f->main->queued && f->main->ret == 0 && f->main != f->current)
    zb_reader_release (f->main->ref->reader, &f->main->frame);
  zb_reader_wakeup_clear (f->main->ref->reader);
  gst_zb_reader_ref_unref (f->main->ref);
  g_free (f->main->channel_name);
  g_free (f->main);
  g_queue_clear (&f->events);
  g_mutex_clear (&f->lock);
  g_cond_clear (&f->cond);
  g_free (f);
}

void
gst_zb_src_fanin_set_flushing (GstZbSrcFanin * f, gboolean flushing)
{
  g_mutex_lock (&f->lock);
  f->flushing = flushing;
  g_cond_broadcast (&f->cond);
  g_mutex_unlock (&f->lock);
}

gboolean
gst_zb_src_fanin_loaded_is_main (GstZbSrcFanin * f)
{
  return f->loaded == f->main;
}

gboolean
gst_zb_src_refuse_client (GstZbSrc * self, const gchar * what,
    const gchar * detail)
{
  GstZbSrcFanin *f = self->fanin;

  if (f == NULL || f->loaded == f->main)
    return FALSE;
  GST_ELEMENT_WARNING (self, STREAM, DECODE,
      ("Refusing the client of duplex channel \"%s\": it %s; its requests "
          "are dropped until it connects again.", f->loaded->channel_name,
          what), ("%s", detail ? detail : ""));
  self->refused = TRUE;
  if (self->channel)
    gst_zb_channel_set_client (self->channel, 0);
  self->chan_generation = 0;
  return TRUE;
}

GPtrArray *
gst_zb_src_fanin_refs (GstZbSrcFanin * f)
{
  GPtrArray *refs = g_ptr_array_new_with_free_func ((GDestroyNotify)
      gst_zb_reader_ref_unref);
  GList *l;

  g_mutex_lock (&f->lock);
  for (l = f->chans; l; l = l->next)
    g_ptr_array_add (refs, gst_zb_reader_ref_ref (((Chan *) l->data)->ref));
  g_mutex_unlock (&f->lock);
  return refs;
}

/* A closed channel: the element forgets its client. */
static void
close_chan (GstZbSrcFanin * f, Chan * ch)
{
  GST_INFO_OBJECT (f->src, "fan-in client channel %s closed: its client "
      "is gone", ch->channel_name);
  if (f->loaded == ch)
    load (f, f->main);
  g_mutex_lock (&f->lock);
  ch->queued = FALSE;
  if (f->current == ch)
    f->current = NULL;
  g_mutex_unlock (&f->lock);
  chan_free (f, ch);
}

int
gst_zb_src_fanin_read (GstZbSrcFanin * f, gint timeout_ms, zb_frame * frame,
    GstZbReaderRef ** ref)
{
  gint64 end = g_get_monotonic_time () + (gint64) timeout_ms * 1000;
  Chan *ch;

  for (;;) {
    g_mutex_lock (&f->lock);
    /* the last event is processed: its channel reads on */
    if (f->current) {
      f->current->queued = FALSE;
      f->current = NULL;
      g_cond_broadcast (&f->cond);
    }
    while (g_queue_is_empty (&f->events) && !f->flushing)
      if (!g_cond_wait_until (&f->cond, &f->lock, end))
        break;
    if (f->flushing) {
      g_mutex_unlock (&f->lock);
      return -EINTR;
    }
    ch = g_queue_pop_head (&f->events);
    if (ch == NULL) {
      g_mutex_unlock (&f->lock);
      return -ETIMEDOUT;
    }
    f->current = ch;
    g_mutex_unlock (&f->lock);

    if (ch->ret == EVENT_CLOSED) {
      close_chan (f, ch);
      continue;
    }
    load (f, ch);
    *ref = ch->ref;
    if (ch->ret == 0)
      *frame = ch->frame;
    return ch->ret;
  }
}
