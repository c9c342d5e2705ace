/* zerobuffer GStreamer plugin - zbfilter: requests and responses
 *
 * SPDX-License-Identifier: MIT
 *
 * Writing an input buffer into the request ring (gst record or bare
 * bytes; raw video in the layout of the frame format), and turning the
 * oldest response into an output buffer with the request's timestamps and
 * flags, under the output caps: its bytes wrapped where they lie (a
 * read-only memory of gstzbringmem.c that releases the frame when freed),
 * or, when they must be repacked (packed raw video for a downstream that
 * reads no GstVideoMeta), copied into a buffer of the pool or allocator
 * that the ALLOCATION query decided. Streaming thread only.
 *
 * Wrapped responses stay in the response ring (or, answered in place, in
 * the request ring) while downstream holds them, and the server (or our
 * own next request) may need that space: held buffers (a sink's last
 * sample, a queue) move to the heap when a request waits for room, when
 * a response is late, and when they hold more than half of the response
 * ring (gst_zb_filter_unpin()).
 */

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstzbfilterpriv.h"
#include "gstzbringmem.h"
#include "zbframe.h"

#include <errno.h>
#include <string.h>

#define GST_CAT_DEFAULT gst_zb_filter_debug

/* ------------------------------------------------------------------ */
/* Held responses */

/* Move the wrapped responses downstream holds and nobody has mapped out
 * of the rings (one copy each), so that their frames go back: @why says
 * when. Any thread that owns the connection (the streaming thread,
 * start/stop). */
void
gst_zb_filter_unpin (GstZbFilter * self, const gchar * why)
{
  guint64 bytes = 0;
  guint n;

  if (self->ring_alloc == NULL ||
      gst_zb_ring_allocator_n_pinned (self->ring_alloc) == 0)
    return;
  n = gst_zb_ring_allocator_unpin (self->ring_alloc, &bytes);
  if (n == 0)
    return;
  GST_OBJECT_LOCK (self);
  self->n_migrations += n;
  GST_OBJECT_UNLOCK (self);
  GST_DEBUG_OBJECT (self, "%s: moved %u held responses (%" G_GUINT64_FORMAT
      " bytes) out of the ring", why, n, bytes);
}

/* ------------------------------------------------------------------ */
/* Requests */

/* An input buffer mapped for reading before any room in the ring is
 * taken: a buffer that cannot be mapped fails before a request exists,
 * and no request ever carries bytes that were not written. */
typedef struct
{
  gboolean is_frame;            /* frame: repacked into the layout */
  GstVideoFrame frame;
  guint n_maps;                 /* else its memories, in order */
  GstMapInfo maps[16];          /* gst_buffer_get_max_memory () */
} InputMap;

/* Do @buf's planes (its video meta, or the default layout) lie elsewhere
 * than @layout puts them? */
static gboolean
needs_repack (GstZbFilter * self, GstBuffer * buf, const GstZbLayout * layout,
    gsize size)
{
  GstVideoMeta *vmeta;
  guint p;

  if (!self->is_video || size != layout->size)
    return FALSE;
  vmeta = gst_buffer_get_video_meta (buf);
  for (p = 0; p < layout->n_planes; p++) {
    gsize off = vmeta ? vmeta->offset[p] : self->in_default.offset[p];
    gint stride = vmeta ? vmeta->stride[p] : self->in_default.stride[p];

    if (off != layout->offset[p] || stride != layout->stride[p])
      return TRUE;
  }
  return FALSE;
}

static void
unmap_input (GstBuffer * buf, InputMap * m)
{
  guint i;

  if (m->is_frame)
    gst_video_frame_unmap (&m->frame);
  for (i = 0; i < m->n_maps; i++)
    gst_memory_unmap (gst_buffer_peek_memory (buf, i), &m->maps[i]);
  m->is_frame = FALSE;
  m->n_maps = 0;
}

static gboolean
map_input (GstZbFilter * self, GstBuffer * buf, gboolean repack, InputMap * m)
{
  guint i, n = gst_buffer_n_memory (buf);

  m->is_frame = FALSE;
  m->n_maps = 0;
  if (repack)
    return (m->is_frame = gst_video_frame_map (&m->frame, &self->vinfo, buf,
            GST_MAP_READ));
  g_return_val_if_fail (n <= G_N_ELEMENTS (m->maps), FALSE);
  for (i = 0; i < n; i++) {
    if (!gst_memory_map (gst_buffer_peek_memory (buf, i), &m->maps[i],
            GST_MAP_READ)) {
      unmap_input (buf, m);
      return FALSE;
    }
    m->n_maps++;
  }
  return TRUE;
}

/* Fill @dst (@size bytes) from the mapped input: a frame in @layout, or
 * the bytes, zeros after the last one. */
static void
copy_input (const InputMap * m, const GstZbLayout * layout, guint8 * dst,
    gsize size)
{
  gsize done = 0;
  guint i;

  if (m->is_frame) {
    gst_zb_video_pack (&m->frame, layout, dst);
    return;
  }
  for (i = 0; i < m->n_maps && done < size; i++) {
    gsize n = MIN (m->maps[i].size, size - done);

    memcpy (dst + done, m->maps[i].data, n);
    done += n;
  }
  if (done < size)
    memset (dst + done, 0, size - done);
}

/* The layout a request of raw video has (self->is_video). */
static const GstZbLayout *
request_layout (GstZbFilter * self)
{
  return self->format == GST_ZB_FRAME_FORMAT_RAW ? &self->in_packed :
      &self->in_default;
}

/* The payload bytes of the request for @buf. */
static gsize
request_payload (GstZbFilter * self, GstBuffer * buf)
{
  gsize size = gst_buffer_get_size (buf);

  if (!self->is_video)
    return size;
  if (gst_buffer_get_video_meta (buf) == NULL && size < request_layout
      (self)->size)
    return size;
  return request_layout (self)->size;
}

/* Write the gst record of @buf, for @payload bytes, at @dst. */
static void
write_header (GstZbFilter * self, GstBuffer * buf, gsize payload, void *dst)
{
  zb_gst_record rec;

  if (self->format != GST_ZB_FRAME_FORMAT_GST)
    return;
  gst_zb_record_from_buffer (&rec, buf);
  rec.payload_size = payload;
  zb_gst_record_encode (&rec, dst);
}

GstBuffer *
gst_zb_filter_slot_buffer (GstZbFilter * self, gsize size, gsize align,
    gboolean video_meta)
{
  gsize hdr = self->format == GST_ZB_FRAME_FORMAT_GST ? ZB_GST_HEADER_SIZE : 0;
  const GstZbLayout *layout = request_layout (self);
  GstBuffer *buf = NULL;
  GstMemory *mem;
  gboolean passthrough;
  zb_frame frame;
  void *dst;
  guint p;

  if (!g_mutex_trylock (&self->slot_lock))
    return NULL;                /* sending: this one goes by copy */
  if (self->client == NULL || self->slot_tag != 0 || self->slots_off ||
      size == 0)
    goto out;
  /* on-server-lost=passthrough never sends a slot where it lies */
  GST_OBJECT_LOCK (self);
  passthrough = self->on_server_lost == GST_ZB_SERVER_LOST_PASSTHROUGH;
  GST_OBJECT_UNLOCK (self);
  if (passthrough)
    goto out;
  if (self->is_video) {
    if (size != layout->size)
      goto out;
    /* without a meta, upstream writes the default layout */
    for (p = 0; p < layout->n_planes && !video_meta; p++)
      if (layout->offset[p] != self->in_default.offset[p] ||
          layout->stride[p] != self->in_default.stride[p])
        goto out;
  }
  if (zb_duplex_client_try_acquire (self->client, hdr + size, &dst) < 0)
    goto out;
  /* the alignment upstream asked for (decoders' SIMD code) */
  if (((guintptr) dst + hdr) & align) {
    zb_duplex_client_cancel (self->client, dst);
    goto out;
  }
  /* sequence 0 tells release_response() that this is a slot */
  memset (&frame, 0, sizeof (frame));
  frame.data = dst;
  frame.size = hdr + size;
  self->slot_tag = ++self->slot_serial;
  self->slot_size = size;
  mem = gst_zb_ring_allocator_wrap_writable (self->ring_alloc, &frame,
      (guint8 *) dst + hdr, size, self->slot_tag);
  buf = gst_buffer_new ();
  gst_buffer_append_memory (buf, mem);
  if (self->is_video && video_meta)
    gst_buffer_add_video_meta_full (buf, GST_VIDEO_FRAME_FLAG_NONE,
        GST_VIDEO_INFO_FORMAT (&self->vinfo),
        GST_VIDEO_INFO_WIDTH (&self->vinfo),
        GST_VIDEO_INFO_HEIGHT (&self->vinfo), layout->n_planes,
        (gsize *) layout->offset, (gint *) layout->stride);
out:
  g_mutex_unlock (&self->slot_lock);
  return buf;
}

/* With slot_lock: send @buf where it lies if it is the slot out, filled
 * and held by nobody else. 1: sent; 0: not that (nothing changed); or
 * zb_duplex_client_commit()'s error. */
static int
send_slot (GstZbFilter * self, GstBuffer * buf, guint64 * sequence)
{
  GstZbServerLost action;
  GstMemory *mem;
  zb_frame frame;
  int ret;

  if (gst_buffer_n_memory (buf) != 1)
    return 0;
  mem = gst_buffer_peek_memory (buf, 0);
  if (mem->allocator != self->ring_alloc || mem->offset != 0 ||
      mem->size != self->slot_size ||
      request_payload (self, buf) != self->slot_size ||
      needs_repack (self, buf, request_layout (self), self->slot_size))
    return 0;
  /* another holder would see the server's answer in place in it; one
   * that holds this one probably holds the next ones too */
  if (!gst_buffer_is_writable (buf) || !gst_memory_is_writable (mem)) {
    GST_DEBUG_OBJECT (self, "a slot came back held elsewhere: no more");
    self->slots_off = TRUE;
    return 0;
  }
  /* on-server-lost=passthrough pushes the inputs in flight unchanged: they
   * must stay ours */
  GST_OBJECT_LOCK (self);
  action = self->on_server_lost;
  GST_OBJECT_UNLOCK (self);
  if (action == GST_ZB_SERVER_LOST_PASSTHROUGH)
    return 0;
  if (!gst_zb_ring_memory_take (mem, self->slot_tag, &frame))
    return 0;
  self->slot_tag = 0;
  write_header (self, buf, self->slot_size, (void *) frame.data);
  ret = zb_duplex_client_commit (self->client, sequence);
  if (ret < 0)
    return ret;
  GST_OBJECT_LOCK (self);
  self->n_requests_in_ring++;
  GST_OBJECT_UNLOCK (self);
  return 1;
}

/* With slot_lock: the slot out, if any, goes back to the ring (its
 * buffer, if still alive, moves to the heap), so that this request can
 * be acquired. Waits up to the timeout for a holder that has it mapped.
 * 0, -EINTR or -EBUSY: still mapped (by upstream, not the server's
 * fault: a probe that keeps the last frame mapped, say). */
static int
drop_slot (GstZbFilter * self, gint64 start)
{
  gint64 end = start + (gint64) gst_zb_filter_get_timeout (self) * 1000;

  if (self->slot_tag == 0)
    return 0;
  while (!gst_zb_ring_allocator_unpin_tag (self->ring_alloc, self->slot_tag)) {
    if (gst_zb_filter_is_flushing (self))
      return -EINTR;
    if (g_get_monotonic_time () >= end)
      return -EBUSY;
    g_usleep (1000);
  }
  self->slot_tag = 0;
  GST_OBJECT_LOCK (self);
  self->n_slots_back++;
  GST_OBJECT_UNLOCK (self);
  return 0;
}

static int
send_locked (GstZbFilter * self, GstBuffer * buf, guint64 * sequence)
{
  gsize hdr = self->format == GST_ZB_FRAME_FORMAT_GST ? ZB_GST_HEADER_SIZE : 0;
  const GstZbLayout *layout = request_layout (self);
  gsize payload = request_payload (self, buf);
  gint64 start = g_get_monotonic_time ();
  InputMap m;
  void *dst;
  int ret;

  if (self->slot_tag != 0) {
    if ((ret = send_slot (self, buf, sequence)) != 0)
      return ret;
    if ((ret = drop_slot (self, start)) < 0)
      return ret;
  }
  if (!map_input (self, buf, needs_repack (self, buf, layout, payload), &m))
    return -EFAULT;

  for (;;) {
    ret = zb_duplex_client_acquire (self->client, hdr + payload, &dst);
    if (ret != -ENOBUFS)
      break;
    /* -ENOBUFS: the ring is full: the server is slow, stuck or gone, or
     * responses answered in place that downstream holds keep their
     * requests' space */
    gst_zb_filter_unpin (self, "no room for a request");
    if ((ret = gst_zb_filter_slice_over (self, start, ret)) != 0)
      break;
  }
  if (ret < 0) {
    unmap_input (buf, &m);
    return ret;
  }

  write_header (self, buf, payload, dst);
  if (payload)
    copy_input (&m, layout, (guint8 *) dst + hdr, payload);
  unmap_input (buf, &m);
  return zb_duplex_client_commit (self->client, sequence);
}

/* Write @buf as the next request: where it lies if it is the slot of the
 * request ring our pool gave out (1), else by copy (0). Returns 1, 0,
 * -EINTR (flushing), -EFAULT (@buf cannot be mapped; nothing sent),
 * -EBUSY (the slot out stays mapped upstream), a server-lost error, or
 * another negative errno. */
int
gst_zb_filter_send_request (GstZbFilter * self, GstBuffer * buf,
    guint64 * sequence)
{
  int ret;

  g_mutex_lock (&self->slot_lock);
  ret = send_locked (self, buf, sequence);
  g_mutex_unlock (&self->slot_lock);
  return ret;
}

/* ------------------------------------------------------------------ */
/* Responses */

/* The server's metadata, once per connection: the response frame format
 * and the response caps. */
static void
read_server_metadata (GstZbFilter * self)
{
  const void *meta = NULL;
  size_t size = 0;
  GstCaps *caps;

  self->have_server_meta = TRUE;
  if (zb_duplex_client_get_metadata (self->client, &meta, &size) < 0)
    size = 0;
  caps = gst_zb_parse_metadata (GST_OBJECT (self), meta, size,
      &self->server_gst);
  GST_INFO_OBJECT (self, "server responses: format %s, caps %" GST_PTR_FORMAT,
      self->server_gst ? "gst" : "raw", caps);
  GST_OBJECT_LOCK (self);
  gst_caps_replace (&self->server_caps, caps);
  GST_OBJECT_UNLOCK (self);
  if (caps)
    gst_caps_unref (caps);
}

/* The caps of the responses: the server's, else the input's. */
static GstCaps *
response_caps (GstZbFilter * self)
{
  GstCaps *caps = NULL;

  GST_OBJECT_LOCK (self);
  if (self->server_caps)
    caps = gst_caps_ref (self->server_caps);
  GST_OBJECT_UNLOCK (self);
  if (caps == NULL && self->in_caps)
    caps = gst_caps_ref (self->in_caps);
  return caps;
}

/* Output caps for the next buffer: @caps (the server's or the input's). */
static gboolean
ensure_src_caps (GstZbFilter * self, GstCaps * caps)
{
  GstBaseTransform *trans = GST_BASE_TRANSFORM (self);
  GstCaps *cur;
  gboolean ok = TRUE;

  if (caps == NULL)
    return TRUE;
  cur = gst_pad_get_current_caps (GST_BASE_TRANSFORM_SRC_PAD (trans));
  if (cur == NULL || !gst_caps_is_equal (cur, caps)) {
    GST_INFO_OBJECT (self, "output caps %" GST_PTR_FORMAT, caps);
    /* a refused caps event still returns TRUE (it is sticky) and only
     * shows as not-negotiated at the next push: ask first */
    ok = gst_pad_peer_query_accept_caps (GST_BASE_TRANSFORM_SRC_PAD (trans),
        caps) && gst_base_transform_update_src_caps (trans, caps);
  }
  if (cur)
    gst_caps_unref (cur);
  if (!ok) {
    gchar *str = gst_caps_to_string (caps);

    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION,
        ("Downstream cannot use the caps of the responses of channel "
            "\"%s\".", self->channel), ("caps %s", str));
    g_free (str);
  }
  return ok;
}

/* The round trip to report: the latency property, or the longest round
 * trip seen plus a quarter when that is more, but no more than the
 * timeout (a longer wait loses the server). GST_OBJECT_LOCK. */
GstClockTime
gst_zb_filter_round_trip_latency (GstZbFilter * self)
{
  GstClockTime seen = self->rtt_max_us * GST_USECOND;

  seen = MIN (seen + seen / 4, (GstClockTime) self->timeout * GST_MSECOND);
  return MAX (self->latency_ms * GST_MSECOND, seen);
}

static void
account_round_trip (GstZbFilter * self, gint64 rtt_us)
{
  gboolean post = FALSE;

  if (rtt_us < 0)
    rtt_us = 0;
  GST_OBJECT_LOCK (self);
  self->n_responses++;
  self->rtt_sum_us += rtt_us;
  self->rtt_max_us = MAX (self->rtt_max_us, (guint64) rtt_us);
  /* a response later than the reported latency allows: announce more
   * (a quarter more than this one, so that this happens rarely) */
  if ((guint64) rtt_us * GST_USECOND > self->reported_rtt) {
    self->reported_rtt = gst_zb_filter_round_trip_latency (self);
    post = TRUE;
  }
  GST_OBJECT_UNLOCK (self);
  if (post)
    gst_element_post_message (GST_ELEMENT (self),
        gst_message_new_latency (GST_OBJECT (self)));
}

/* Is a raw response of @size bytes raw video in the packed layout of the
 * output caps (the raw frame format's)? A response of another size (e.g.
 * the default layout of a gst request, echoed) is taken as it is. */
static gboolean
response_is_packed (GstZbFilter * self, gsize size)
{
  GstCaps *caps = response_caps (self);
  GstStructure *s;

  if (caps != self->resp_caps) {
    gst_caps_replace (&self->resp_caps, caps);
    s = caps && gst_caps_get_size (caps) == 1 ?
        gst_caps_get_structure (caps, 0) : NULL;
    self->resp_video = s && gst_structure_has_name (s, "video/x-raw") &&
        gst_video_info_from_caps (&self->resp_info, caps) &&
        GST_VIDEO_INFO_FORMAT (&self->resp_info) != GST_VIDEO_FORMAT_ENCODED
        && gst_zb_video_layouts (&self->resp_info, &self->resp_default,
        &self->resp_packed);
  }
  if (caps)
    gst_caps_unref (caps);
  return self->resp_video && size == self->resp_packed.size;
}

/* A buffer of @size bytes as GstBaseTransform's contract has it: from the
 * pool the ALLOCATION query decided when its buffers have this size, else
 * from the decided allocator with its parameters. */
static GstBuffer *
alloc_output (GstZbFilter * self, gsize size)
{
  GstBaseTransform *trans = GST_BASE_TRANSFORM (self);
  GstBufferPool *pool = gst_base_transform_get_buffer_pool (trans);
  GstAllocator *allocator = NULL;
  GstAllocationParams params;
  GstBuffer *out = NULL;

  if (pool) {
    GstStructure *config = gst_buffer_pool_get_config (pool);
    guint pool_size = 0;

    gst_buffer_pool_config_get_params (config, NULL, &pool_size, NULL, NULL);
    gst_structure_free (config);
    /* the base class activates its pool in its own output path only,
     * which generate_output replaces; it deactivates it when replaced */
    if (pool_size == size && (gst_buffer_pool_is_active (pool) ||
            gst_buffer_pool_set_active (pool, TRUE)) &&
        gst_buffer_pool_acquire_buffer (pool, &out, NULL) != GST_FLOW_OK)
      out = NULL;
    gst_object_unref (pool);
    if (out)
      return out;
  }
  gst_base_transform_get_allocator (trans, &allocator, &params);
  out = gst_buffer_new_allocate (allocator, size, &params);
  if (allocator)
    gst_object_unref (allocator);
  return out;
}

/* @size bytes at @payload in the response @f, which it takes, as a buffer
 * that wraps them where they lie. */
static GstBuffer *
wrap_response (GstZbFilter * self, const zb_frame * f, const void *payload,
    gsize size)
{
  GstBuffer *out = gst_buffer_new ();

  /* space returns to the server in ring order: responses held downstream
   * beyond half of the ring would leave it too little */
  if (gst_zb_ring_allocator_pinned_bytes (self->ring_alloc) >
      self->resp_ring_size / 2)
    gst_zb_filter_unpin (self, "held responses fill half the ring");
  /* the memory releases the frame when it is freed, or moved to the heap
   * (gst_zb_filter_unpin(), or at reconnect and stop) */
  gst_buffer_append_memory (out,
      gst_zb_ring_allocator_wrap (self->ring_alloc, f, payload, size));
  GST_OBJECT_LOCK (self);
  self->n_wrapped++;
  GST_OBJECT_UNLOCK (self);
  return out;
}

/* @size bytes at @payload in the response @f, which it releases, copied
 * into a buffer of the decided pool or allocator (@repack: packed raw
 * video into the default layout). NULL with *@err: -ENOMEM / -EFAULT (no
 * buffer, or it cannot be mapped: nothing uninitialised goes
 * downstream). */
static GstBuffer *
copy_response (GstZbFilter * self, const zb_frame * f, const void *payload,
    gsize size, gboolean repack, int *err)
{
  GstBuffer *out;
  GstMapInfo map;

  out = alloc_output (self, repack ? self->resp_default.size : size);
  if (out == NULL) {
    *err = -ENOMEM;
  } else if (gst_buffer_get_size (out) > 0) {
    if (!gst_buffer_map (out, &map, GST_MAP_WRITE)) {
      gst_buffer_unref (out);
      out = NULL;
      *err = -EFAULT;
    } else {
      if (repack)
        gst_zb_video_repack (&self->resp_packed, payload, &self->resp_default,
            map.data);
      else
        memcpy (map.data, payload, size);
      gst_buffer_unmap (out, &map);
      GST_OBJECT_LOCK (self);
      self->n_copies++;
      GST_OBJECT_UNLOCK (self);
    }
  }
  /* pairs with zb_duplex_client_receive() */
  zb_duplex_client_release (self->client, f);
  return out;
}

/* The output buffer for @r from the response @f, which it takes: the
 * response's bytes wrapped where they lie, with a GstVideoMeta when they
 * are packed raw video and downstream reads the meta; packed raw video
 * for a downstream that does not is repacked into the default layout (a
 * copy; the frame goes back at once). NULL with *@err: -EPROTO and the
 * like (invalid response), or copy_response()'s. */
static GstBuffer *
make_output (GstZbFilter * self, GstZbRequest * r, const zb_frame * f, int *err)
{
  const void *payload = f->data;
  gsize size = f->size;
  gboolean repack, meta = FALSE;
  GstBuffer *out;

  if (self->server_gst) {
    zb_gst_record rec;

    *err = zb_gst_record_decode (f->data, f->size, &rec, &payload);
    if (*err == 0 && rec.type != ZB_GST_RECORD_BUFFER)
      *err = -EPROTO;
    if (*err < 0) {
      /* pairs with zb_duplex_client_receive() */
      zb_duplex_client_release (self->client, f);
      return NULL;
    }
    size = (gsize) rec.payload_size;
  }
  repack = !self->server_gst && size && response_is_packed (self, size);
  if (repack && g_atomic_int_get (&self->video_meta_ok)) {
    repack = FALSE;
    meta = TRUE;
  }
  if (size > 0 && !repack) {
    out = wrap_response (self, f, payload, size);
    if (meta)
      gst_zb_video_add_meta (out, &self->resp_info, &self->resp_packed);
  } else {
    out = copy_response (self, f, payload, size, repack, err);
    if (out == NULL)
      return NULL;
  }
  gst_buffer_copy_into (out, r->input, GST_BUFFER_COPY_FLAGS |
      GST_BUFFER_COPY_TIMESTAMPS, 0, -1);
  return out;
}

/* Pop the oldest entry, a passthrough input: the input goes out. */
static GstZbNextResult
next_passthrough (GstZbFilter * self, GstBuffer ** out, GstFlowReturn * flow)
{
  GstZbRequest *r = g_queue_pop_head (&self->requests);

  *out = r->input;
  r->input = NULL;
  gst_zb_filter_request_free (r);
  if (!ensure_src_caps (self, self->in_caps)) {
    gst_buffer_unref (*out);
    *out = NULL;
    *flow = GST_FLOW_NOT_NEGOTIATED;
    return GST_ZB_NEXT_FLOW;
  }
  GST_OBJECT_LOCK (self);
  self->n_passed++;
  GST_OBJECT_UNLOCK (self);
  return GST_ZB_NEXT_OUTPUT;
}

/* Wait for the response to the oldest request (@block: up to the
 * timeout, else not at all). 0 or GST_ZB_NEXT_*. */
static int
receive (GstZbFilter * self, gboolean block, zb_frame * f,
    GstZbNextResult * res, GstFlowReturn * flow)
{
  gint64 start = g_get_monotonic_time ();
  int ret;

  for (;;) {
    ret = zb_duplex_client_receive (self->client,
        block ? GST_ZB_FILTER_SLICE_MS : 0, f);
    if (ret == 0)
      return 0;
    if (!block && (ret == -EAGAIN || ret == -ETIMEDOUT)) {
      *res = GST_ZB_NEXT_NONE;
      return -1;
    }
    if (ret != -ETIMEDOUT)
      break;
    /* the server may wait for room in the response ring that held
     * responses keep (space returns in ring order) */
    gst_zb_filter_unpin (self, "response late");
    if ((ret = gst_zb_filter_slice_over (self, start, ret)) != 0)
      break;
  }
  *res = GST_ZB_NEXT_FLOW;
  if (ret == -EINTR) {
    *flow = GST_FLOW_FLUSHING;
  } else if (gst_zb_filter_is_lost_error (ret)) {
    *flow = gst_zb_filter_server_lost (self, ret);
    if (*flow == GST_FLOW_OK)
      *res = GST_ZB_NEXT_AGAIN;
  } else {
    GST_ELEMENT_ERROR (self, RESOURCE, READ,
        ("Could not receive a response on channel \"%s\".", self->channel),
        ("%s", zb_strerror (ret)));
    *flow = GST_FLOW_ERROR;
  }
  return -1;
}

/* Take the oldest entry if it is ready: a passthrough input at once, a
 * response when it arrived (@block: wait for it, up to the timeout). */
GstZbNextResult
gst_zb_filter_next_output (GstZbFilter * self, gboolean block,
    GstBuffer ** out, GstFlowReturn * flow)
{
  GstZbRequest *r = g_queue_peek_head (&self->requests);
  GstZbNextResult res;
  GstCaps *want;
  gboolean ok;
  zb_frame f;
  int err = 0;

  *out = NULL;
  if (r == NULL)
    return GST_ZB_NEXT_NONE;
  if (r->sequence == 0)
    return next_passthrough (self, out, flow);

  /* a discarded request (sent before a flush) is always due */
  if (receive (self, block || r->input == NULL, &f, &res, flow) < 0)
    return res;

  if (!self->have_server_meta || (f.flags & ZB_FRAME_NEW_WRITER))
    read_server_metadata (self);
  if (f.sequence != r->sequence)
    goto out_of_order;

  g_queue_pop_head (&self->requests);
  if (r->input == NULL) {
    zb_duplex_client_release (self->client, &f);
    gst_zb_filter_request_free (r);
    GST_OBJECT_LOCK (self);
    self->n_discarded++;
    GST_OBJECT_UNLOCK (self);
    GST_DEBUG_OBJECT (self, "discarded response %" G_GUINT64_FORMAT,
        f.sequence);
    return GST_ZB_NEXT_AGAIN;
  }

  /* takes the frame: wraps or releases it */
  *out = make_output (self, r, &f, &err);
  account_round_trip (self, g_get_monotonic_time () - r->sent_us);
  gst_zb_filter_request_free (r);
  if (*out == NULL)
    goto no_output;
  if (self->discont) {
    GST_BUFFER_FLAG_SET (*out, GST_BUFFER_FLAG_DISCONT);
    self->discont = FALSE;
  }

  want = response_caps (self);
  ok = ensure_src_caps (self, want);
  gst_caps_replace (&want, NULL);
  if (!ok) {
    gst_buffer_unref (*out);
    *out = NULL;
    *flow = GST_FLOW_NOT_NEGOTIATED;
    return GST_ZB_NEXT_FLOW;
  }
  return GST_ZB_NEXT_OUTPUT;

  /* ERRORS */
out_of_order:
  {
    zb_duplex_client_release (self->client, &f);
    GST_ELEMENT_ERROR (self, STREAM, FAILED,
        ("The server of channel \"%s\" answered out of order.",
            self->channel), ("response %" G_GUINT64_FORMAT " while request %"
            G_GUINT64_FORMAT " was due", f.sequence, r->sequence));
    *flow = GST_FLOW_ERROR;
    return GST_ZB_NEXT_FLOW;
  }
no_output:
  {
    if (err == -ENOMEM || err == -EFAULT)
      GST_ELEMENT_ERROR (self, RESOURCE, WRITE,
          ("Could not get a writable output buffer for a response of "
              "channel \"%s\".", self->channel),
          ("%s", err == -ENOMEM ? "allocation failed" :
              "mapping the output buffer failed"));
    else
      GST_ELEMENT_ERROR (self, STREAM, DECODE,
          ("Invalid response on channel \"%s\".", self->channel),
          ("response of %" G_GSIZE_FORMAT " bytes: %s", f.size,
              zb_strerror (err)));
    *flow = GST_FLOW_ERROR;
    return GST_ZB_NEXT_FLOW;
  }
}
