/* zerobuffer GStreamer plugin - zbsink channel-name=NAME answering the
 * clients of a fan-in zbsrc (docs/duplex.md, "The GStreamer server")
 *
 * The requests of every client come interleaved; each buffer's
 * GstZbRequestMeta names its channel (GstZbChannel: NAME or NAME@ID) and
 * client. The element holds the connection of the channel it answers now
 * (writer, response buffer name, caps sent, generation, next sequence);
 * the other channels' connections wait here, keyed by their GstZbChannel,
 * and are swapped in when a buffer of theirs comes. A connection whose
 * client zbsrc no longer serves is closed at the next swap. A fan-in
 * client that is lost, stalls its response ring for reader-timeout, or
 * whose response buffer cannot be written is dropped alone.
 *
 * A response that is zbsrc's request memory of the very request it
 * answers (an in-place transform changed it where it lies, or none
 * touched it) is answered in place: a 40-byte record names the bytes in
 * the client's request ring (zb_duplex_responses_in_place()) and nothing
 * is copied.
 */

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstzbsinkpriv.h"
#include "gstzbringmem.h"

#include <errno.h>
#include <string.h>

#define GST_CAT_DEFAULT gst_zb_sink_debug

struct _GstZbSinkClient
{
  zb_writer *writer;
  GstCaps *sent_caps;
  gchar *conn_name;
  guint64 generation;
  guint64 expected;
  guint64 dropped;
  guint64 reader_pid;
  gboolean connected;
  gboolean reader_lost;
  gboolean fanin;
};

static void
client_free (GstZbSinkClient * c)
{
  zb_writer_disconnect (c->writer);
  gst_caps_replace (&c->sent_caps, NULL);
  g_free (c->conn_name);
  g_free (c);
}

/* Exchange the element's connection with @c's. */
static void
client_swap (GstZbSink * self, GstZbSinkClient * c)
{
  GstZbSinkClient t = *c;

  g_mutex_lock (&self->writer_lock);
  /* the pool reads the releases of the connection in use only (none in
   * channel mode: no pool records) */
  if (self->writer)
    gst_zb_pool_conn_disconnected (self->pool_conn);
  GST_OBJECT_LOCK (self);
  c->writer = self->writer;
  c->conn_name = self->conn_name;
  c->reader_pid = self->reader_pid;
  c->connected = self->connected;
  self->writer = t.writer;
  self->conn_name = t.conn_name;
  self->reader_pid = t.reader_pid;
  self->connected = t.connected;
  /* an unlock() that ran before saw the other writer */
  if (self->unlocked && self->writer)
    zb_writer_wakeup (self->writer);
  GST_OBJECT_UNLOCK (self);
  if (self->writer)
    gst_zb_pool_conn_connected (self->pool_conn, self->writer,
        self->reader_pid);
  g_mutex_unlock (&self->writer_lock);

  c->sent_caps = self->sent_caps;
  c->generation = self->chan_generation;
  c->expected = self->chan_expected;
  c->dropped = self->chan_dropped;
  c->reader_lost = self->reader_lost;
  c->fanin = self->chan_fanin;
  self->sent_caps = t.sent_caps;
  self->chan_generation = t.generation;
  self->chan_expected = t.expected;
  self->chan_dropped = t.dropped;
  self->reader_lost = t.reader_lost;
  self->chan_fanin = t.fanin;
}

/* A channel's first buffer: its connection, not made yet. */
static GstZbSinkClient *
client_new (GstZbSink * self, GstZbChannel * channel)
{
  GstZbSinkClient *c = g_new0 (GstZbSinkClient, 1);
  const gchar *cname = channel ? gst_zb_channel_get_name (channel) : NULL;
  gchar *own;
  gsize len;

  GST_OBJECT_LOCK (self);
  own = g_strdup (self->channel_name);
  GST_OBJECT_UNLOCK (self);
  len = own ? strlen (own) : 0;
  /* NAME@ID of our NAME: that client's response buffer; anything else
   * (our own channel, or a zbsrc of another name) answers ours, as
   * before fan-in */
  c->fanin = own && cname && strchr (own, '@') == NULL &&
      strncmp (cname, own, len) == 0 && cname[len] == '@';
  c->conn_name = g_strdup_printf ("%s_response", c->fanin ? cname : own);
  c->expected = 1;
  g_free (own);
  return c;
}

void
gst_zb_sink_client_switch (GstZbSink * self, GstZbChannel * channel)
{
  GstZbSinkClient *c;
  GHashTableIter iter;
  gpointer key, value;

  if (self->clients == NULL)
    self->clients = g_hash_table_new_full (NULL, NULL,
        (GDestroyNotify) gst_zb_channel_unref, (GDestroyNotify) client_free);
  /* put the current connection aside (the element's own state goes
   * into a client record of its own) */
  c = g_new0 (GstZbSinkClient, 1);
  client_swap (self, c);
  if (self->channel)
    g_hash_table_insert (self->clients, self->channel, c);
  else
    client_free (c);
  self->channel = NULL;

  /* the clients zbsrc no longer serves: their connections close */
  g_hash_table_iter_init (&iter, self->clients);
  while (g_hash_table_iter_next (&iter, &key, &value)) {
    GstZbSinkClient *old = value;

    if (gst_zb_channel_get_client (key) != old->generation) {
      GST_DEBUG_OBJECT (self, "closing the connection to %s: client gone",
          old->conn_name);
      g_hash_table_iter_remove (&iter);
    }
  }

  if (channel && g_hash_table_steal_extended (self->clients, channel, &key,
          &value)) {
    c = value;
    gst_zb_channel_unref (key);
  } else {
    c = client_new (self, channel);
  }
  client_swap (self, c);
  client_free (c);
  self->channel = channel ? gst_zb_channel_ref (channel) : NULL;
}

void
gst_zb_sink_clients_clear (GstZbSink * self)
{
  if (self->clients) {
    g_hash_table_unref (self->clients);
    self->clients = NULL;
  }
}

/* A fan-in client that died, left, or kept its response ring full for
 * reader-timeout: it gets no further response on this connection (a
 * missing response would shift its sequence); its requests are dropped
 * until it connects again. The other clients are not affected, whatever
 * on-reader-lost says. */
void
gst_zb_sink_fanin_drop (GstZbSink * self, int err)
{
  guint64 pid;

  GST_OBJECT_LOCK (self);
  pid = self->reader_pid;
  GST_OBJECT_UNLOCK (self);
  if (err == -ETIMEDOUT)
    GST_ELEMENT_WARNING (self, RESOURCE, WRITE,
        ("Duplex client of \"%s\" read no response within reader-timeout: "
            "dropping it; its requests get no answer until it connects "
            "again.", self->conn_name), ("reader pid %" G_GUINT64_FORMAT, pid));
  else
    GST_INFO_OBJECT (self, "fan-in client of %s lost: %s", self->conn_name,
        zb_strerror (err));
  gst_zb_sink_disconnect (self);
  self->chan_dropped = self->chan_generation;
  gst_zb_post_peer_message (GST_ELEMENT (self), "zbsink-reader-lost",
      "buffer-name", self->conn_name, pid, err == -ETIMEDOUT ? "timeout" :
      err == -EOWNERDEAD ? "died" : "disconnected", NULL);
}

/* A fan-in client's response buffer @name cannot be written (-EPERM,
 * -EBUSY, metadata too large for it, ...): a warning, and that client's
 * responses are dropped until it connects again. FALSE: not a fan-in
 * client (the caller posts the error). */
gboolean
gst_zb_sink_fanin_refuse (GstZbSink * self, const gchar * name, int ret)
{
  if (!self->chan_fanin)
    return FALSE;
  GST_ELEMENT_WARNING (self, RESOURCE, OPEN_WRITE,
      ("Cannot answer the duplex client of buffer \"%s\": dropping its "
          "responses until it connects again.", name), ("%s",
          zb_strerror (ret)));
  self->chan_dropped = self->chan_generation;
  return TRUE;
}

/* ------------------------------------------------------------------ */
/* Answers in place */

gboolean
gst_zb_sink_in_place_prepare (GstZbSink * self, GstBuffer * buf,
    GstZbInPlace * ip)
{
  GstZbRequestMeta *meta = gst_buffer_get_zb_request_meta (buf);
  GstZbSinkFrame f;
  const guint8 *start;
  zb_frame frame;
  guint64 offset, size;
  gboolean as_is;

  memset (ip, 0, sizeof (*ip));
  if (meta == NULL || meta->generation == 0 || self->writer == NULL ||
      gst_buffer_n_memory (buf) != 1)
    return FALSE;
  /* the bytes go as they are, not repacked into the response layout */
  gst_zb_sink_frame_init (self, &f, self->format, FALSE, FALSE, NULL, buf,
      NULL, 0);
  as_is = f.layout == NULL && f.payload == gst_buffer_get_size (buf);
  gst_zb_sink_frame_clear (&f);
  if (!as_is)
    return FALSE;
  ip->mem = gst_buffer_peek_memory (buf, 0);
  /* the map keeps the memory in the ring until the record is written */
  if (!gst_memory_map (ip->mem, &ip->map, GST_MAP_READ)) {
    ip->mem = NULL;
    return FALSE;
  }
  /* zbsrc's memory of this very request: the generation names the
   * channel and its client, the sequence the request */
  if (!gst_zb_ring_memory_in_ring (ip->mem, meta->generation, &frame) ||
      frame.sequence != meta->sequence)
    goto copy;
  start = frame.data;
  if (ip->map.data < start || (gsize) (ip->map.data - start) > frame.size ||
      ip->map.size == 0 ||
      ip->map.size > frame.size - (gsize) (ip->map.data - start))
    goto copy;
  if (self->format == GST_ZB_FRAME_FORMAT_GST) {
    zb_gst_record rec;
    const void *payload;

    /* a gst record answers: the request's own record, whose payload the
     * memory is exactly (its header is the client's; zbfilter takes the
     * response's timestamps and flags from its request anyway) */
    if (zb_gst_record_decode (frame.data, frame.size, &rec, &payload) < 0 ||
        rec.type != ZB_GST_RECORD_BUFFER || payload != (void *) ip->map.data
        || rec.payload_size != ip->map.size)
      goto copy;
    offset = 0;
    size = frame.size;
  } else {
    offset = ip->map.data - start;
    size = ip->map.size;
  }
  /* -EOPNOTSUPP: this client takes no answers in place */
  if (zb_duplex_responses_in_place (self->writer, frame.sequence, offset,
          size, ip->record) < 0)
    goto copy;
  /* the client reads these bytes after we drop the buffer: nobody else
   * who holds it (a tee's other branch) may write into them then */
  gst_zb_ring_memory_seal (ip->mem);
  GST_LOG_OBJECT (self, "answering request %" G_GUINT64_FORMAT " in place: %"
      G_GUINT64_FORMAT " bytes at %" G_GUINT64_FORMAT, frame.sequence, size,
      offset);
  return TRUE;

copy:
  gst_zb_sink_in_place_clear (ip);
  return FALSE;
}

void
gst_zb_sink_in_place_clear (GstZbInPlace * ip)
{
  if (ip->mem)
    gst_memory_unmap (ip->mem, &ip->map);
  ip->mem = NULL;
}
