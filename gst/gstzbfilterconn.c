/* zerobuffer GStreamer plugin - zbfilter: the connection to the server
 *
 * SPDX-License-Identifier: MIT
 *
 * Connecting (once a live server owns NAME_request), waiting for a server
 * per on-server-lost, and what happens when the server stops, dies or
 * times out. Runs in the streaming thread (and start/stop); a flush or a
 * state change ends every wait here at once through the watch of the
 * server's request buffer (GstZbShmWatch) or zb_duplex_client_wakeup().
 */

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstzbfilterpriv.h"
#include "gstzbringmem.h"

#include <errno.h>
#include <string.h>

#define GST_CAT_DEFAULT gst_zb_filter_debug

void
gst_zb_filter_request_free (GstZbRequest * r)
{
  if (r->input)
    gst_buffer_unref (r->input);
  g_free (r);
}

void
gst_zb_filter_clear_requests (GstZbFilter * self)
{
  GstZbRequest *r;

  while ((r = g_queue_pop_head (&self->requests)))
    gst_zb_filter_request_free (r);
}

gboolean
gst_zb_filter_is_flushing (GstZbFilter * self)
{
  gboolean ret;

  GST_OBJECT_LOCK (self);
  ret = self->flushing;
  GST_OBJECT_UNLOCK (self);
  return ret || GST_PAD_IS_FLUSHING (GST_BASE_TRANSFORM_SINK_PAD (self));
}

gint
gst_zb_filter_get_timeout (GstZbFilter * self)
{
  gint ret;

  GST_OBJECT_LOCK (self);
  ret = self->timeout;
  GST_OBJECT_UNLOCK (self);
  return ret;
}

/* A slice of a wait that began at @start_us (g_get_monotonic_time ())
 * ended with @err (-ETIMEDOUT, -ENOBUFS). Returns 0 to wait on, -EINTR
 * when flushing, -EOWNERDEAD when the server is gone, or @err once the
 * timeout property (read now: it may change in PLAYING) has passed. */
int
gst_zb_filter_slice_over (GstZbFilter * self, gint64 start_us, int err)
{
  if (gst_zb_filter_is_flushing (self))
    return -EINTR;
  if (!gst_zb_filter_server_alive (self))
    return -EOWNERDEAD;
  if (g_get_monotonic_time () - start_us <
      (gint64) gst_zb_filter_get_timeout (self) * 1000)
    return 0;
  return err;
}

static void
post_message (GstZbFilter * self, const gchar * name, guint64 pid,
    const gchar * reason, guint in_flight)
{
  if (reason)
    gst_zb_post_peer_message (GST_ELEMENT (self), name, "channel-name",
        self->channel, pid, reason, "in-flight", G_TYPE_UINT, in_flight, NULL);
  else
    gst_zb_post_peer_message (GST_ELEMENT (self), name, "channel-name",
        self->channel, pid, NULL, NULL);
}

/* GstZbRingReleaseFunc for the responses wrapped by the ring allocator:
 * thread-safe against the streaming thread's send and receive */
static void
release_response (gpointer client, const zb_frame * frame)
{
  /* sequence 0: a slot of our pool given back unsent (gstzbfilterpool.c) */
  if (frame->sequence == 0)
    zb_duplex_client_cancel (client, frame->data);
  else
    zb_duplex_client_release (client, frame);
}

/* Give the client up: the held responses that nobody has mapped move to
 * the heap now, the others when they are unmapped, and the allocator
 * destroys the client (removes NAME_response: a server still answering
 * sees us gone) once none is left: at once, unless a buffer downstream is
 * mapped right now. old_alloc keeps the allocator until then, so that the
 * next connect waits for it (previous_client_gone()). */
void
gst_zb_filter_disconnect (GstZbFilter * self)
{
  GstAllocator *alloc, *old;
  guint moved;

  g_mutex_lock (&self->slot_lock);
  GST_OBJECT_LOCK (self);
  self->client = NULL;
  self->connected = FALSE;
  alloc = self->ring_alloc;
  self->ring_alloc = NULL;
  old = self->old_alloc;
  self->old_alloc = NULL;
  gst_caps_replace (&self->server_caps, NULL);
  GST_OBJECT_UNLOCK (self);
  /* a slot still out moves to the heap with the detach below */
  self->slot_tag = 0;
  g_mutex_unlock (&self->slot_lock);

  if (old)
    gst_object_unref (old);
  if (alloc) {
    moved = gst_zb_ring_allocator_detach (alloc);
    if (moved > 0) {
      GST_OBJECT_LOCK (self);
      self->n_migrations += moved;
      GST_OBJECT_UNLOCK (self);
    }
    if (gst_zb_ring_allocator_n_pinned (alloc) > 0) {
      GST_DEBUG_OBJECT (self, "%u held responses are mapped: the client "
          "lives until they are unmapped",
          gst_zb_ring_allocator_n_pinned (alloc));
      GST_OBJECT_LOCK (self);
      self->old_alloc = alloc;
      GST_OBJECT_UNLOCK (self);
    } else {
      gst_object_unref (alloc);
    }
  }
  gst_caps_replace (&self->conn_caps, NULL);
  self->have_server_meta = FALSE;
  self->server_gst = FALSE;
  self->server_pid = 0;
}

/* Is the server we talk to still the live owner of NAME_request? Cheap:
 * maps the segment read-only, joins nothing. */
gboolean
gst_zb_filter_server_alive (GstZbFilter * self)
{
  gchar *request = g_strdup_printf ("%s_request", self->channel);
  zb_status st;
  int ret;

  ret = zb_inspect (request, &st, NULL, 0, NULL);
  g_free (request);
  if (ret < 0)
    return FALSE;
  return st.reader_alive && (self->server_pid == 0 ||
      st.reader_pid == self->server_pid);
}

gboolean
gst_zb_filter_is_lost_error (int ret)
{
  return ret == -EPIPE || ret == -EOWNERDEAD || ret == -ETIMEDOUT ||
      ret == -ENOBUFS;
}

/* Channel NAME@ID: is there a live fan-in server of NAME? It creates
 * NAME@ID_request only once it sees our response buffer, which
 * zb_duplex_client_connect() creates before it waits for the request
 * buffer (docs/duplex.md, "Fan-in"). */
static gboolean
fan_in_server_alive (const gchar * channel)
{
  const gchar *at = strchr (channel, '@');
  gchar *request;
  zb_status st;
  int ret;

  if (at == NULL || at == channel)
    return FALSE;
  request = g_strdup_printf ("%.*s_request", (int) (at - channel), channel);
  ret = zb_inspect (request, &st, NULL, 0, NULL);
  g_free (request);
  return ret == 0 && st.reader_alive;
}

/* One attempt to connect. Returns 0, -ENOENT (no live server) or another
 * negative errno. */
static int
try_connect (GstZbFilter * self)
{
  gchar *request = g_strdup_printf ("%s_request", self->channel);
  zb_duplex_config config;
  zb_duplex_client *c = NULL;
  gchar *meta, *name;
  gsize meta_len;
  zb_status st;
  int ret;

  /* no server (or a dead one's leftovers): skip creating our buffer */
  ret = zb_inspect (request, &st, NULL, 0, NULL);
  g_free (request);
  if ((ret == -ENOENT || ret == -EPROTO || (ret == 0 && !st.reader_alive))
      && !fan_in_server_alive (self->channel))
    return -ENOENT;
  if (ret < 0 && ret != -ENOENT && ret != -EPROTO)
    return ret;

  memset (&config, 0, sizeof (config));
  GST_OBJECT_LOCK (self);
  config.payload_size = self->payload_size;
  GST_OBJECT_UNLOCK (self);
  /* also the write timeout: a wait for room is cut into slices as long */
  config.timeout_ms = GST_ZB_FILTER_CONNECT_MS;
  ret = zb_duplex_client_connect (self->channel, &config, &c);
  if (ret < 0)
    return ret;
  /* the server's pid: a fan-in server created NAME@ID_request only now
   * (st was not filled above) */
  request = g_strdup_printf ("%s_request", self->channel);
  if (zb_inspect (request, &st, NULL, 0, NULL) < 0)
    st.reader_pid = 0;
  g_free (request);

  name = gst_object_get_name (GST_OBJECT (self));
  meta = gst_zb_make_metadata ("gstreamer-filter", self->in_caps, name,
      self->format, &meta_len);
  g_free (name);
  ret = zb_duplex_client_set_metadata (c, meta, meta_len);
  g_free (meta);
  if (ret < 0) {
    zb_duplex_client_destroy (c);
    return ret;
  }

  g_mutex_lock (&self->slot_lock);
  GST_OBJECT_LOCK (self);
  self->client = c;
  /* owns the client from now on: gst_zb_filter_disconnect() detaches it */
  self->ring_alloc = gst_zb_ring_allocator_new (c, release_response,
      (GDestroyNotify) zb_duplex_client_destroy);
  self->resp_ring_size = config.payload_size;
  self->connected = TRUE;
  /* a flush that began while we connected saw no client to wake */
  if (self->flushing)
    zb_duplex_client_wakeup (c);
  GST_OBJECT_UNLOCK (self);
  g_mutex_unlock (&self->slot_lock);

  gst_caps_replace (&self->conn_caps, self->in_caps);
  self->server_pid = st.reader_pid;
  self->have_server_meta = FALSE;
  self->lost = FALSE;
  self->discont = TRUE;
  GST_INFO_OBJECT (self, "connected to channel \"%s\", server pid %"
      G_GUINT64_FORMAT, self->channel, self->server_pid);
  post_message (self, "zbfilter-server-connected", self->server_pid, NULL, 0);
  return 0;
}

/* The previous connection's client lives on while a buffer downstream
 * has one of its responses mapped, and its response buffer has the name
 * that the next connect creates: wait up to @wait_ms for the unmap that
 * destroys it (ended early by a flush or a state change). TRUE when it is
 * gone. */
static gboolean
previous_client_gone (GstZbFilter * self, gint wait_ms)
{
  GstAllocator *old;
  gboolean gone;

  GST_OBJECT_LOCK (self);
  old = self->old_alloc ? gst_object_ref (self->old_alloc) : NULL;
  GST_OBJECT_UNLOCK (self);
  if (old == NULL)
    return TRUE;
  gone = gst_zb_ring_allocator_wait_detached (old,
      g_get_monotonic_time () + (gint64) wait_ms * 1000);
  if (gone) {
    GST_OBJECT_LOCK (self);
    if (self->old_alloc == old) {
      self->old_alloc = NULL;
      gst_object_unref (old);
    }
    GST_OBJECT_UNLOCK (self);
    GST_DEBUG_OBJECT (self, "the previous client is gone");
  }
  gst_object_unref (old);
  return gone;
}

/* Sleep until the server's request buffer appears, @wait passes, or a
 * flush or a state change. Returns FALSE when flushing. */
static gboolean
wait_for_server (GstZbFilter * self, GstClockTime wait)
{
  return gst_zb_shm_watch_wait (self->watch, wait) >= 0;
}

/* Connect unless connected, per on-server-lost: wait (block until a server
 * appears), error (block up to the timeout), passthrough (one attempt
 * when the server's objects appear, else every
 * GST_ZB_FILTER_PASSTHROUGH_PROBE otherwise). */
GstZbConnectResult
gst_zb_filter_ensure_connected (GstZbFilter * self)
{
  GstZbServerLost action;
  gint64 start = g_get_monotonic_time ();
  GstClockTime wait;
  gint timeout;
  int ret;

  /* new caps travel in a new connection's metadata; every response of the
   * old one was received when the caps event arrived */
  if (self->client && self->in_caps && self->conn_caps &&
      !gst_caps_is_equal (self->in_caps, self->conn_caps)) {
    GST_INFO_OBJECT (self, "caps changed: reconnecting");
    gst_zb_filter_clear_requests (self);
    gst_zb_filter_disconnect (self);
  }
  if (self->client)
    return GST_ZB_CONNECT_OK;

  GST_OBJECT_LOCK (self);
  action = self->on_server_lost;
  timeout = self->timeout;
  GST_OBJECT_UNLOCK (self);

  /* not a look for every buffer: when the watch saw the server's objects
   * appear, or now and then */
  if (action == GST_ZB_SERVER_LOST_PASSTHROUGH &&
      !gst_zb_shm_watch_changed (self->watch, GST_ZB_FILTER_PASSTHROUGH_PROBE))
    return GST_ZB_CONNECT_NONE;

  for (;;) {
    if (gst_zb_filter_is_flushing (self))
      return GST_ZB_CONNECT_FLUSHING;
    if (!previous_client_gone (self, action == GST_ZB_SERVER_LOST_PASSTHROUGH
            ? 0 : GST_ZB_FILTER_SLICE_MS)) {
      if (action == GST_ZB_SERVER_LOST_PASSTHROUGH)
        return GST_ZB_CONNECT_NONE;
      if (action == GST_ZB_SERVER_LOST_ERROR && g_get_monotonic_time () -
          start >= (gint64) timeout * 1000)
        goto previous_in_use;
      continue;
    }
    ret = try_connect (self);
    if (ret == 0)
      return GST_ZB_CONNECT_OK;
    if (ret != -ENOENT)
      goto connect_failed;
    if (action == GST_ZB_SERVER_LOST_PASSTHROUGH)
      return GST_ZB_CONNECT_NONE;
    wait = GST_ZB_FILTER_RECHECK;
    if (action == GST_ZB_SERVER_LOST_ERROR) {
      gint64 left = (gint64) timeout * 1000 - (g_get_monotonic_time () - start);

      if (left <= 0)
        goto no_server;
      wait = MIN (wait, (GstClockTime) left * GST_USECOND);
    }
    if (!wait_for_server (self, wait))
      return GST_ZB_CONNECT_FLUSHING;
  }

  /* ERRORS */
connect_failed:
  {
    if (ret == -EBUSY || ret == -EEXIST)
      GST_ELEMENT_ERROR (self, RESOURCE, BUSY,
          ("Duplex channel \"%s\" already has a live client.", self->channel),
          ("zb_duplex_client_connect: %s", zb_strerror (ret)));
    else if (ret == -EMSGSIZE)
      GST_ELEMENT_ERROR (self, RESOURCE, NO_SPACE_LEFT,
          ("The caps do not fit in the metadata block of channel \"%s\".",
              self->channel), ("%s", zb_strerror (ret)));
    else
      GST_ELEMENT_ERROR (self, RESOURCE, OPEN_READ_WRITE,
          ("Could not connect to duplex channel \"%s\".", self->channel),
          ("zb_duplex_client_connect: %s", zb_strerror (ret)));
    return GST_ZB_CONNECT_ERROR;
  }
previous_in_use:
  {
    GST_ELEMENT_ERROR (self, RESOURCE, BUSY,
        ("A response of the previous connection to channel \"%s\" is still "
            "mapped downstream after %d ms.", self->channel, timeout),
        ("the previous client lives until it is unmapped"));
    return GST_ZB_CONNECT_ERROR;
  }
no_server:
  {
    GST_ELEMENT_ERROR (self, RESOURCE, NOT_FOUND,
        ("No server for duplex channel \"%s\" within %d ms.", self->channel,
            timeout), ("no live reader of %s_request", self->channel));
    return GST_ZB_CONNECT_ERROR;
  }
}

/* The server stopped (-EPIPE), died (-EOWNERDEAD) or did not answer
 * (-ETIMEDOUT, -ENOBUFS). Returns GST_FLOW_OK when the element goes on per
 * on-server-lost. */
GstFlowReturn
gst_zb_filter_server_lost (GstZbFilter * self, int err)
{
  GstZbServerLost action;
  const gchar *reason;
  guint in_flight = 0;
  guint64 pid = self->server_pid;
  GList *l, *next;

  switch (err) {
    case -EOWNERDEAD:
      reason = "died";
      break;
    case -EPIPE:
      reason = "stopped";
      break;
    default:
      reason = "timed out";
      break;
  }
  for (l = self->requests.head; l; l = l->next)
    if (((GstZbRequest *) l->data)->sequence != 0)
      in_flight++;

  GST_OBJECT_LOCK (self);
  action = self->on_server_lost;
  GST_OBJECT_UNLOCK (self);

  GST_WARNING_OBJECT (self, "server %" G_GUINT64_FORMAT " of channel \"%s\" "
      "%s (%s) with %u requests in flight", pid, self->channel, reason,
      zb_strerror (err), in_flight);
  gst_zb_filter_disconnect (self);
  self->lost = TRUE;
  self->discont = TRUE;
  /* the statistics first: who gets the message may read them */
  if (action == GST_ZB_SERVER_LOST_WAIT) {
    GST_OBJECT_LOCK (self);
    self->n_dropped += in_flight;
    GST_OBJECT_UNLOCK (self);
  }
  post_message (self, "zbfilter-server-lost", pid, reason, in_flight);

  switch (action) {
    case GST_ZB_SERVER_LOST_ERROR:
      GST_ELEMENT_ERROR (self, RESOURCE, READ,
          ("The server of duplex channel \"%s\" %s.", self->channel, reason),
          ("server pid %" G_GUINT64_FORMAT ", %u requests in flight, %s, "
              "on-server-lost=error", pid, in_flight, zb_strerror (err)));
      gst_zb_filter_clear_requests (self);
      return GST_FLOW_ERROR;
    case GST_ZB_SERVER_LOST_PASSTHROUGH:
      /* the inputs in flight go out unchanged, in order; those sent
       * where they lay (on-server-lost was set to passthrough since) are
       * the server's bytes: dropped */
      for (l = self->requests.head; l; l = next) {
        GstZbRequest *r = l->data;

        next = l->next;
        r->sequence = 0;
        if (r->in_ring) {
          g_queue_delete_link (&self->requests, l);
          gst_zb_filter_request_free (r);
          GST_OBJECT_LOCK (self);
          self->n_dropped++;
          GST_OBJECT_UNLOCK (self);
        }
      }
      return GST_FLOW_OK;
    case GST_ZB_SERVER_LOST_WAIT:
    default:
      gst_zb_filter_clear_requests (self);
      return GST_FLOW_OK;
  }
}
