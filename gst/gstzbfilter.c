/* zerobuffer GStreamer plugin - zbfilter
 *
 * SPDX-License-Identifier: MIT
 */

/**
 * SECTION:element-zbfilter
 * @title: zbfilter
 * @see_also: zbsrc, zbsink
 *
 * Hands each buffer to a server in another process through a ZeroBuffer
 * duplex channel and pushes the server's answer downstream in its place.
 * zbfilter is the channel's client: it creates NAME_response, connects to
 * NAME_request (created by the server) and writes its caps as JSON metadata
 * once per connection.
 *
 * Up to #GstZbFilter:max-in-flight requests are outstanding, so the round
 * trip is pipelined; responses come back in order, one per request, and get
 * the request's timestamps, duration, offsets and flags. A response goes
 * downstream without a copy: its buffer wraps the bytes where they lie in
 * shared memory, read-only, and gives them back to the server when freed;
 * buffers that downstream holds move to the heap when the server or the
 * next request needs their space (docs/duplex.md, "Responses without a
 * copy"). Output caps are the
 * input caps unless the server declares others in the response buffer's
 * metadata ("caps" member, as zbsink writes it).
 *
 * When the server stops, dies or does not answer within
 * #GstZbFilter:timeout, #GstZbFilter:on-server-lost decides: wait for a new
 * server (the default), post an error, or push the input unchanged until a
 * server is back.
 *
 * ## Example launch lines
 * |[
 * gst-launch-1.0 videotestsrc is-live=true ! video/x-raw,format=I420,width=640,height=480 ! zbfilter channel-name=flip ! videoconvert ! autovideosink
 * ]| Client: every frame goes through the server of channel "flip".
 * |[
 * gst-launch-1.0 zbsrc channel-name=flip ! videoflip method=rotate-180 ! zbsink channel-name=flip
 * ]| A GStreamer server: one response per request, in order.
 * |[
 * zb-duplex-invert -n flip
 * ]| The C example server (examples/zb-duplex-invert.c); use
 * frame-format=raw on zbfilter or let the server skip the gst header.
 *
 * The #GstZbFilter:stats property holds the counters (requests,
 * responses, responses wrapped and copied, round trips, ...).
 *
 * Since: 0.1
 */

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstzbfilterpool.h"
#include "gstzbfilterpriv.h"
#include "gstzbringmem.h"

#include <errno.h>
#include <string.h>

GST_DEBUG_CATEGORY (gst_zb_filter_debug);
#define GST_CAT_DEFAULT gst_zb_filter_debug

#define DEFAULT_CHANNEL_NAME NULL
#define DEFAULT_FRAME_FORMAT GST_ZB_FRAME_FORMAT_GST
#define DEFAULT_TIMEOUT 5000
#define DEFAULT_MAX_IN_FLIGHT 1
#define DEFAULT_LATENCY 20      /* ms */
#define DEFAULT_ON_SERVER_LOST GST_ZB_SERVER_LOST_WAIT
#define DEFAULT_PAYLOAD_SIZE ((guint64) ZB_DEFAULT_PAYLOAD_SIZE)
#define DEFAULT_ZERO_COPY TRUE

enum
{
  PROP_0,
  PROP_CHANNEL_NAME,
  PROP_FRAME_FORMAT,
  PROP_TIMEOUT,
  PROP_MAX_IN_FLIGHT,
  PROP_LATENCY,
  PROP_ON_SERVER_LOST,
  PROP_PAYLOAD_SIZE,
  PROP_ZERO_COPY,
  PROP_STATS
};

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE ("sink",
    GST_PAD_SINK,
    GST_PAD_ALWAYS,
    GST_STATIC_CAPS_ANY);

static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE ("src",
    GST_PAD_SRC,
    GST_PAD_ALWAYS,
    GST_STATIC_CAPS_ANY);

#define gst_zb_filter_parent_class parent_class
G_DEFINE_TYPE (GstZbFilter, gst_zb_filter, GST_TYPE_BASE_TRANSFORM);
GST_ELEMENT_REGISTER_DEFINE (zbfilter, "zbfilter", GST_RANK_NONE,
    GST_TYPE_ZB_FILTER);

static void gst_zb_filter_set_property (GObject * object, guint prop_id,
    const GValue * value, GParamSpec * pspec);
static void gst_zb_filter_get_property (GObject * object, guint prop_id,
    GValue * value, GParamSpec * pspec);
static void gst_zb_filter_finalize (GObject * object);
static GstStateChangeReturn gst_zb_filter_change_state (GstElement * element,
    GstStateChange transition);
static gboolean gst_zb_filter_start (GstBaseTransform * trans);
static gboolean gst_zb_filter_stop (GstBaseTransform * trans);
static GstCaps *gst_zb_filter_transform_caps (GstBaseTransform * trans,
    GstPadDirection direction, GstCaps * caps, GstCaps * filter);
static gboolean gst_zb_filter_set_caps (GstBaseTransform * trans,
    GstCaps * incaps, GstCaps * outcaps);
static gboolean gst_zb_filter_sink_event (GstBaseTransform * trans,
    GstEvent * event);
static gboolean gst_zb_filter_query (GstBaseTransform * trans,
    GstPadDirection direction, GstQuery * query);
static GstFlowReturn gst_zb_filter_submit_input_buffer (GstBaseTransform *
    trans, gboolean is_discont, GstBuffer * input);
static GstFlowReturn gst_zb_filter_generate_output (GstBaseTransform * trans,
    GstBuffer ** outbuf);
static GstFlowReturn gst_zb_filter_transform (GstBaseTransform * trans,
    GstBuffer * inbuf, GstBuffer * outbuf);
static gboolean gst_zb_filter_decide_allocation (GstBaseTransform * trans,
    GstQuery * query);
static gboolean gst_zb_filter_propose_allocation (GstBaseTransform * trans,
    GstQuery * decide_query, GstQuery * query);

static void
gst_zb_filter_class_init (GstZbFilterClass * klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstBaseTransformClass *trans_class = GST_BASE_TRANSFORM_CLASS (klass);

  gobject_class->set_property = gst_zb_filter_set_property;
  gobject_class->get_property = gst_zb_filter_get_property;
  gobject_class->finalize = gst_zb_filter_finalize;

  g_object_class_install_property (gobject_class, PROP_CHANNEL_NAME,
      g_param_spec_string ("channel-name", "Channel name",
          "Duplex channel: requests go to NAME_request (created by the "
          "server), responses come back in NAME_response (created by this "
          "element)", DEFAULT_CHANNEL_NAME,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class, PROP_FRAME_FORMAT,
      g_param_spec_enum ("frame-format", "Frame format",
          "Layout of each request: gst = 80-byte header with timestamps and "
          "flags, then the bytes; raw = bare bytes (raw video rows packed "
          "tightly, as zbsink frame-format=raw writes them). Responses are "
          "decoded per the server's metadata", GST_TYPE_ZB_FRAME_FORMAT,
          DEFAULT_FRAME_FORMAT,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class, PROP_TIMEOUT,
      g_param_spec_int ("timeout", "Timeout",
          "Milliseconds to wait for a response (or for space in the request "
          "ring) before the server counts as lost; with on-server-lost=error "
          "also the wait for a server at start. A server that stops or dies "
          "is detected sooner", 1, G_MAXINT, DEFAULT_TIMEOUT,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (gobject_class, PROP_MAX_IN_FLIGHT,
      g_param_spec_uint ("max-in-flight", "Max in flight",
          "Requests sent before the oldest response is awaited (1 = one "
          "round trip per buffer; more pipelines the round trip)", 1, 1024,
          DEFAULT_MAX_IN_FLIGHT,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_PLAYING));
  /**
   * GstZbFilter:latency:
   *
   * The round trip the LATENCY query reports before the first response,
   * and at least: a live pipeline's sinks wait this long for each response.
   * Once a round trip takes longer, zbfilter reports the longest one seen
   * plus a quarter and posts a LATENCY message.
   *
   * Since: 0.1
   */
  g_object_class_install_property (gobject_class, PROP_LATENCY,
      g_param_spec_uint ("latency", "Latency",
          "Round trip in milliseconds that zbfilter reports as its latency "
          "before the first response, and at least; longer round trips "
          "raise it to the longest seen plus a quarter (with a LATENCY "
          "message)", 0, G_MAXUINT / 2, DEFAULT_LATENCY,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (gobject_class, PROP_ON_SERVER_LOST,
      g_param_spec_enum ("on-server-lost", "On server lost",
          "What to do when the server stops, dies or times out",
          GST_TYPE_ZB_SERVER_LOST, DEFAULT_ON_SERVER_LOST,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (gobject_class, PROP_PAYLOAD_SIZE,
      g_param_spec_uint64 ("payload-size", "Payload size",
          "Size in bytes of the response ring this element creates (rounded "
          "up to 64); the request ring's size is the server's choice", 1,
          G_MAXUINT64 / 2, DEFAULT_PAYLOAD_SIZE,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class, PROP_ZERO_COPY,
      g_param_spec_boolean ("zero-copy", "Zero copy",
          "Propose upstream a buffer pool whose buffers lie in the request "
          "ring, so that requests go without a copy (raw video); false: "
          "propose none, copy every request", DEFAULT_ZERO_COPY,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));
  /**
   * GstZbFilter:stats:
   *
   * A structure named "zbfilter-stats", counted since start:
   *
   * * "requests" (guint64): requests sent
   * * "requests-in-ring" (guint64): of these, requests that upstream
   *   filled where they were sent from, in a buffer of the pool zbfilter
   *   proposed: sent without a copy
   * * "slots-given-back" (guint64): buffers of that pool that lay in the
   *   request ring but were not sent from there (another holder, or
   *   dropped upstream): moved to the heap if still alive (one copy)
   * * "responses" (guint64): responses received and pushed
   * * "discarded" (guint64): responses to requests sent before a flush,
   *   thrown away
   * * "dropped" (guint64): requests in flight lost with their server
   *   (on-server-lost=wait)
   * * "passed-through" (guint64): buffers pushed unchanged without a
   *   server (on-server-lost=passthrough)
   * * "wrapped" (guint64): responses pushed without a copy: a read-only
   *   memory wraps their bytes where they lie in the ring
   * * "copies" (guint64): responses copied into a buffer of the negotiated
   *   pool or allocator (packed raw video repacked for a downstream that
   *   reads no GstVideoMeta)
   * * "migrations" (guint64): wrapped responses held downstream that were
   *   moved out of the ring (one copy each) so that their space went back
   * * "mean-round-trip" (guint64): mean time from sending a request to
   *   receiving its response, in microseconds
   * * "max-round-trip" (guint64): the longest round trip, in microseconds
   * * "connected" (gboolean): whether a server is connected
   *
   * Since: 0.1
   */
  g_object_class_install_property (gobject_class, PROP_STATS,
      g_param_spec_boxed ("stats", "Statistics",
          "Counters since start: requests, requests-in-ring, "
          "slots-given-back, responses, "
          "discarded, dropped, "
          "passed-through, wrapped, copies, migrations, mean-round-trip and "
          "max-round-trip (microseconds), connected", GST_TYPE_STRUCTURE,
          G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));

  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_add_static_pad_template (element_class, &src_template);
  gst_element_class_set_static_metadata (element_class,
      "ZeroBuffer duplex filter", "Filter",
      "Hand each buffer to a server in another process through shared "
      "memory and push its response", GST_ZB_AUTHOR);

  element_class->change_state = GST_DEBUG_FUNCPTR (gst_zb_filter_change_state);

  trans_class->start = GST_DEBUG_FUNCPTR (gst_zb_filter_start);
  trans_class->stop = GST_DEBUG_FUNCPTR (gst_zb_filter_stop);
  trans_class->transform_caps =
      GST_DEBUG_FUNCPTR (gst_zb_filter_transform_caps);
  trans_class->set_caps = GST_DEBUG_FUNCPTR (gst_zb_filter_set_caps);
  trans_class->sink_event = GST_DEBUG_FUNCPTR (gst_zb_filter_sink_event);
  trans_class->query = GST_DEBUG_FUNCPTR (gst_zb_filter_query);
  trans_class->submit_input_buffer =
      GST_DEBUG_FUNCPTR (gst_zb_filter_submit_input_buffer);
  trans_class->generate_output =
      GST_DEBUG_FUNCPTR (gst_zb_filter_generate_output);
  trans_class->transform = GST_DEBUG_FUNCPTR (gst_zb_filter_transform);
  trans_class->decide_allocation =
      GST_DEBUG_FUNCPTR (gst_zb_filter_decide_allocation);
  trans_class->propose_allocation =
      GST_DEBUG_FUNCPTR (gst_zb_filter_propose_allocation);

  gst_type_mark_as_plugin_api (GST_TYPE_ZB_FRAME_FORMAT, 0);
  gst_type_mark_as_plugin_api (GST_TYPE_ZB_SERVER_LOST, 0);

  GST_DEBUG_CATEGORY_INIT (gst_zb_filter_debug, "zbfilter", 0,
      "ZeroBuffer duplex filter");
}

static void
gst_zb_filter_init (GstZbFilter * self)
{
  self->channel_name = g_strdup (DEFAULT_CHANNEL_NAME);
  self->frame_format = DEFAULT_FRAME_FORMAT;
  self->timeout = DEFAULT_TIMEOUT;
  self->max_in_flight = DEFAULT_MAX_IN_FLIGHT;
  self->latency_ms = DEFAULT_LATENCY;
  self->on_server_lost = DEFAULT_ON_SERVER_LOST;
  self->payload_size = DEFAULT_PAYLOAD_SIZE;
  self->zero_copy = DEFAULT_ZERO_COPY;
  self->frame_duration = GST_CLOCK_TIME_NONE;
  self->position_out = GST_CLOCK_TIME_NONE;
  g_queue_init (&self->requests);
  g_mutex_init (&self->slot_lock);
}

static void
gst_zb_filter_finalize (GObject * object)
{
  GstZbFilter *self = GST_ZB_FILTER (object);

  g_free (self->channel_name);
  g_free (self->channel);
  g_mutex_clear (&self->slot_lock);
  gst_caps_replace (&self->server_caps, NULL);
  gst_caps_replace (&self->in_caps, NULL);
  gst_caps_replace (&self->resp_caps, NULL);
  gst_caps_replace (&self->conn_caps, NULL);

  G_OBJECT_CLASS (parent_class)->finalize (object);
}

/* GST_OBJECT_LOCK */
static GstStructure *
make_stats (GstZbFilter * self)
{
  return gst_structure_new ("zbfilter-stats",
      "requests", G_TYPE_UINT64, self->n_requests,
      "requests-in-ring", G_TYPE_UINT64, self->n_requests_in_ring,
      "slots-given-back", G_TYPE_UINT64, self->n_slots_back,
      "responses", G_TYPE_UINT64, self->n_responses,
      "discarded", G_TYPE_UINT64, self->n_discarded,
      "dropped", G_TYPE_UINT64, self->n_dropped,
      "passed-through", G_TYPE_UINT64, self->n_passed,
      "wrapped", G_TYPE_UINT64, self->n_wrapped,
      "copies", G_TYPE_UINT64, self->n_copies,
      "migrations", G_TYPE_UINT64, self->n_migrations,
      "mean-round-trip", G_TYPE_UINT64, self->n_responses ?
      self->rtt_sum_us / self->n_responses : (guint64) 0,
      "max-round-trip", G_TYPE_UINT64, self->rtt_max_us,
      "connected", G_TYPE_BOOLEAN, self->connected, NULL);
}

static void
gst_zb_filter_set_property (GObject * object, guint prop_id,
    const GValue * value, GParamSpec * pspec)
{
  GstZbFilter *self = GST_ZB_FILTER (object);
  gboolean latency_changed = FALSE;

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_CHANNEL_NAME:
      g_free (self->channel_name);
      self->channel_name = g_value_dup_string (value);
      break;
    case PROP_FRAME_FORMAT:
      self->frame_format = g_value_get_enum (value);
      break;
    case PROP_TIMEOUT:
      self->timeout = g_value_get_int (value);
      break;
    case PROP_LATENCY:
      self->latency_ms = g_value_get_uint (value);
      latency_changed = TRUE;
      break;
    case PROP_MAX_IN_FLIGHT:
      self->max_in_flight = g_value_get_uint (value);
      break;
    case PROP_ON_SERVER_LOST:
      self->on_server_lost = g_value_get_enum (value);
      break;
    case PROP_PAYLOAD_SIZE:
      self->payload_size = g_value_get_uint64 (value);
      break;
    case PROP_ZERO_COPY:
      self->zero_copy = g_value_get_boolean (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
  if (latency_changed)
    gst_element_post_message (GST_ELEMENT (self),
        gst_message_new_latency (GST_OBJECT (self)));
}

static void
gst_zb_filter_get_property (GObject * object, guint prop_id, GValue * value,
    GParamSpec * pspec)
{
  GstZbFilter *self = GST_ZB_FILTER (object);

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_CHANNEL_NAME:
      g_value_set_string (value, self->channel_name);
      break;
    case PROP_FRAME_FORMAT:
      g_value_set_enum (value, self->frame_format);
      break;
    case PROP_TIMEOUT:
      g_value_set_int (value, self->timeout);
      break;
    case PROP_LATENCY:
      g_value_set_uint (value, self->latency_ms);
      break;
    case PROP_MAX_IN_FLIGHT:
      g_value_set_uint (value, self->max_in_flight);
      break;
    case PROP_ON_SERVER_LOST:
      g_value_set_enum (value, self->on_server_lost);
      break;
    case PROP_PAYLOAD_SIZE:
      g_value_set_uint64 (value, self->payload_size);
      break;
    case PROP_ZERO_COPY:
      g_value_set_boolean (value, self->zero_copy);
      break;
    case PROP_STATS:
      g_value_take_boxed (value, make_stats (self));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

/* ------------------------------------------------------------------ */
/* Lifetime */

/* From any thread: end every wait of the streaming thread at once (a
 * blocked receive or write, a wait for a server) until unset. */
static void
set_flushing (GstZbFilter * self, gboolean flushing)
{
  GST_OBJECT_LOCK (self);
  self->flushing = flushing;
  if (flushing) {
    if (self->client)
      zb_duplex_client_wakeup (self->client);
  } else if (self->client) {
    zb_duplex_client_wakeup_clear (self->client);
  }
  if (self->watch)
    gst_zb_shm_watch_set_flushing (self->watch, flushing);
  if (flushing && self->old_alloc)
    gst_zb_ring_allocator_wakeup (self->old_alloc);
  GST_OBJECT_UNLOCK (self);
}

static gboolean
gst_zb_filter_start (GstBaseTransform * trans)
{
  GstZbFilter *self = GST_ZB_FILTER (trans);
  GstZbShmWatch *watch;
  gchar *request;
  gchar *name;
  int ret;

  GST_OBJECT_LOCK (self);
  name = g_strdup (self->channel_name);
  self->format = self->frame_format;
  self->flushing = FALSE;
  self->n_requests = self->n_responses = self->n_discarded = 0;
  self->n_requests_in_ring = self->n_slots_back = 0;
  g_mutex_lock (&self->slot_lock);
  self->slots_off = FALSE;
  g_mutex_unlock (&self->slot_lock);
  self->n_dropped = self->n_passed = 0;
  self->n_wrapped = self->n_copies = self->n_migrations = 0;
  self->rtt_sum_us = self->rtt_max_us = 0;
  self->reported_rtt = self->latency_ms * GST_MSECOND;
  self->position_out = GST_CLOCK_TIME_NONE;
  GST_OBJECT_UNLOCK (self);

  if (name == NULL || *name == '\0')
    goto no_name;
  ret = zb_name_check (name);
  if (ret == 0 && strlen (name) > ZB_CHANNEL_NAME_MAX)
    ret = -ENAMETOOLONG;
  if (ret < 0)
    goto bad_name;

  g_free (self->channel);
  self->channel = name;
  request = g_strdup_printf ("%s_request", name);
  watch = gst_zb_shm_watch_new (request);
  g_free (request);
  GST_OBJECT_LOCK (self);
  self->watch = watch;
  gst_zb_shm_watch_set_flushing (watch, self->flushing);
  GST_OBJECT_UNLOCK (self);
  self->lost = FALSE;
  self->discont = TRUE;
  self->draining = FALSE;
  return TRUE;

  /* ERRORS */
no_name:
  {
    GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
        ("No channel name set: set the channel-name property."), (NULL));
    g_free (name);
    return FALSE;
  }
bad_name:
  {
    GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
        ("Invalid channel name \"%s\".", name), ("%s", zb_strerror (ret)));
    g_free (name);
    return FALSE;
  }
}

static gboolean
gst_zb_filter_stop (GstBaseTransform * trans)
{
  GstZbFilter *self = GST_ZB_FILTER (trans);
  GstZbShmWatch *watch;
  GstAllocator *old;

  gst_zb_filter_clear_requests (self);
  /* held responses that nobody has mapped move to the heap; a mapped one
   * keeps the client until it is unmapped */
  gst_zb_filter_disconnect (self);
  gst_caps_replace (&self->in_caps, NULL);
  gst_caps_replace (&self->resp_caps, NULL);
  GST_OBJECT_LOCK (self);
  watch = self->watch;
  self->watch = NULL;
  old = self->old_alloc;
  self->old_alloc = NULL;
  GST_OBJECT_UNLOCK (self);
  gst_zb_shm_watch_free (watch);
  if (old)
    gst_object_unref (old);
  return TRUE;
}

static GstStateChangeReturn
gst_zb_filter_change_state (GstElement * element, GstStateChange transition)
{
  GstZbFilter *self = GST_ZB_FILTER (element);

  /* the streaming thread may be blocked on the server: wake it before
   * the pads deactivate and wait for it */
  if (transition == GST_STATE_CHANGE_PAUSED_TO_READY)
    set_flushing (self, TRUE);
  return GST_ELEMENT_CLASS (parent_class)->change_state (element, transition);
}

/* ------------------------------------------------------------------ */
/* Caps */

static GstCaps *
gst_zb_filter_transform_caps (GstBaseTransform * trans,
    GstPadDirection direction, GstCaps * caps, GstCaps * filter)
{
  GstZbFilter *self = GST_ZB_FILTER (trans);
  GstCaps *server = NULL;
  GstCaps *ret;

  GST_OBJECT_LOCK (self);
  if (self->server_caps)
    server = gst_caps_ref (self->server_caps);
  GST_OBJECT_UNLOCK (self);

  /* the input caps pass through unless the server declared its own */
  if (direction == GST_PAD_SINK) {
    ret = gst_caps_copy (caps);
    if (server)
      ret = gst_caps_merge (ret, gst_caps_ref (server));
  } else {
    ret = server ? gst_caps_new_any () : gst_caps_copy (caps);
  }
  if (server)
    gst_caps_unref (server);

  if (filter) {
    GstCaps *tmp = gst_caps_intersect_full (filter, ret,
        GST_CAPS_INTERSECT_FIRST);
    gst_caps_unref (ret);
    ret = tmp;
  }
  return ret;
}

static gboolean
gst_zb_filter_set_caps (GstBaseTransform * trans, GstCaps * incaps,
    GstCaps * outcaps)
{
  GstZbFilter *self = GST_ZB_FILTER (trans);
  GstClockTime duration = gst_zb_caps_frame_duration (incaps);
  GstStructure *s = gst_caps_get_structure (incaps, 0);

  GST_DEBUG_OBJECT (self, "in %" GST_PTR_FORMAT " out %" GST_PTR_FORMAT,
      incaps, outcaps);
  g_mutex_lock (&self->slot_lock);
  self->is_video = gst_structure_has_name (s, "video/x-raw") &&
      gst_video_info_from_caps (&self->vinfo, incaps) &&
      GST_VIDEO_INFO_FORMAT (&self->vinfo) != GST_VIDEO_FORMAT_ENCODED;
  if (self->is_video)
    gst_zb_video_layouts (&self->vinfo, &self->in_default, &self->in_packed);
  g_mutex_unlock (&self->slot_lock);
  gst_caps_replace (&self->in_caps, incaps);

  GST_OBJECT_LOCK (self);
  self->frame_duration = duration;
  GST_OBJECT_UNLOCK (self);
  return TRUE;
}

/* ------------------------------------------------------------------ */
/* Streaming */

static GstFlowReturn
gst_zb_filter_submit_input_buffer (GstBaseTransform * trans,
    gboolean is_discont, GstBuffer * input)
{
  GstZbFilter *self = GST_ZB_FILTER (trans);
  GstZbRequest *r;
  GstFlowReturn flow;
  GstZbConnectResult cr;
  guint64 seq = 0;
  gboolean in_ring = FALSE;
  int ret;

  /* the default handles reconfiguration and QoS and queues the buffer */
  flow = GST_BASE_TRANSFORM_CLASS (parent_class)->submit_input_buffer (trans,
      is_discont, input);
  if (flow != GST_FLOW_OK)
    return flow;
  input = trans->queued_buf;
  trans->queued_buf = NULL;
  if (input == NULL)
    return GST_FLOW_OK;
  gst_zb_filter_pool_arrived (input);

  for (;;) {
    cr = gst_zb_filter_ensure_connected (self);
    if (cr == GST_ZB_CONNECT_FLUSHING)
      goto flushing;
    if (cr == GST_ZB_CONNECT_ERROR)
      goto error;
    if (cr == GST_ZB_CONNECT_NONE || (self->format == GST_ZB_FRAME_FORMAT_RAW
            && gst_buffer_get_size (input) == 0)) {
      /* on-server-lost=passthrough without a server; or an empty buffer,
       * which frame-format=raw cannot send (a frame has at least a byte) */
      r = g_new0 (GstZbRequest, 1);
      r->input = input;
      g_queue_push_tail (&self->requests, r);
      return GST_FLOW_OK;
    }

    ret = gst_zb_filter_send_request (self, input, &seq);
    in_ring = ret == 1;
    if (ret == 1) {
      /* sent where it lies: its bytes are the request's now, and the
       * response needs only the rest of it */
      GstBuffer *meta = gst_buffer_new ();

      gst_buffer_copy_into (meta, input, GST_BUFFER_COPY_METADATA, 0, -1);
      gst_buffer_unref (input);
      input = meta;
      ret = 0;
    }
    if (ret == 0)
      break;
    if (ret == -EINTR)
      goto flushing;
    if (!gst_zb_filter_is_lost_error (ret))
      goto send_failed;
    flow = gst_zb_filter_server_lost (self, ret);
    if (flow != GST_FLOW_OK) {
      gst_buffer_unref (input);
      return flow;
    }
  }

  r = g_new0 (GstZbRequest, 1);
  r->input = input;
  r->sequence = seq;
  r->in_ring = in_ring;
  r->sent_us = g_get_monotonic_time ();
  g_queue_push_tail (&self->requests, r);
  GST_OBJECT_LOCK (self);
  self->n_requests++;
  GST_OBJECT_UNLOCK (self);
  GST_LOG_OBJECT (self, "request %" G_GUINT64_FORMAT " sent, %u in flight",
      seq, g_queue_get_length (&self->requests));
  return GST_FLOW_OK;

flushing:
  gst_buffer_unref (input);
  return GST_FLOW_FLUSHING;
error:
  gst_buffer_unref (input);
  return GST_FLOW_ERROR;

  /* ERRORS */
send_failed:
  {
    if (ret == -EFAULT)
      GST_ELEMENT_ERROR (self, RESOURCE, READ,
          ("Could not map an input buffer for reading."),
          ("buffer of %" G_GSIZE_FORMAT " bytes on channel \"%s\": nothing "
              "sent", gst_buffer_get_size (input), self->channel));
    else if (ret == -EBUSY)
      GST_ELEMENT_ERROR (self, RESOURCE, BUSY,
          ("A buffer of zbfilter's pool lies in the request ring of channel "
              "\"%s\" and stays mapped elsewhere: no request can be sent.",
              self->channel), ("still mapped after %d ms; an element or "
              "probe upstream keeps a buffer mapped (or does not give it "
              "back) while later buffers are sent; zero-copy=false proposes "
              "no such pool", gst_zb_filter_get_timeout (self)));
    else if (ret == -EMSGSIZE)
      GST_ELEMENT_ERROR (self, RESOURCE, NO_SPACE_LEFT,
          ("A request of %" G_GSIZE_FORMAT " bytes does not fit in the "
              "request ring of channel \"%s\"; raise the server's "
              "payload-size.", gst_buffer_get_size (input), self->channel),
          ("%s", zb_strerror (ret)));
    else
      GST_ELEMENT_ERROR (self, RESOURCE, WRITE,
          ("Could not send a request on channel \"%s\".", self->channel),
          ("%s", zb_strerror (ret)));
    gst_buffer_unref (input);
    return GST_FLOW_ERROR;
  }
}

static GstFlowReturn
gst_zb_filter_generate_output (GstBaseTransform * trans, GstBuffer ** outbuf)
{
  GstZbFilter *self = GST_ZB_FILTER (trans);
  GstFlowReturn flow = GST_FLOW_OK;
  guint max_in_flight;
  gboolean block;

  GST_OBJECT_LOCK (self);
  max_in_flight = self->max_in_flight;
  GST_OBJECT_UNLOCK (self);

  *outbuf = NULL;
  for (;;) {
    /* wait only when max-in-flight requests are out, or when draining;
     * otherwise take what is ready, so that a live stream gains no more
     * than one buffer interval of latency */
    block = self->draining ||
        g_queue_get_length (&self->requests) >= max_in_flight;
    switch (gst_zb_filter_next_output (self, block, outbuf, &flow)) {
      case GST_ZB_NEXT_OUTPUT:
        if (GST_BUFFER_PTS_IS_VALID (*outbuf)) {
          GST_OBJECT_LOCK (self);
          self->position_out = GST_BUFFER_PTS (*outbuf) +
              (GST_BUFFER_DURATION_IS_VALID (*outbuf) ?
              GST_BUFFER_DURATION (*outbuf) : 0);
          GST_OBJECT_UNLOCK (self);
        }
        return GST_FLOW_OK;
      case GST_ZB_NEXT_NONE:
        return GST_FLOW_OK;
      case GST_ZB_NEXT_AGAIN:
        continue;
      case GST_ZB_NEXT_FLOW:
      default:
        return flow;
    }
  }
}

/* Never called (generate_output is ours). Without a transform function
 * GstBaseTransform stays in passthrough and always-in-place mode: it would
 * run no ALLOCATION query, decide no pool or allocator for the output, and
 * hand upstream's ALLOCATION query to downstream. */
static GstFlowReturn
gst_zb_filter_transform (GstBaseTransform * trans, GstBuffer * inbuf,
    GstBuffer * outbuf)
{
  g_return_val_if_reached (GST_FLOW_NOT_SUPPORTED);
}

/* Whether downstream reads GstVideoMeta decides how packed raw video
 * responses go out: wrapped with a meta, or repacked (make_output()). */
static gboolean
gst_zb_filter_decide_allocation (GstBaseTransform * trans, GstQuery * query)
{
  GstZbFilter *self = GST_ZB_FILTER (trans);
  gboolean meta = gst_query_find_allocation_meta (query,
      GST_VIDEO_META_API_TYPE, NULL);

  GST_DEBUG_OBJECT (self, "downstream %s GstVideoMeta",
      meta ? "reads" : "does not read");
  g_atomic_int_set (&self->video_meta_ok, meta);
  return GST_BASE_TRANSFORM_CLASS (parent_class)->decide_allocation (trans,
      query);
}

/* Before a serialized event (EOS, a caps change, ...): every response
 * still due goes downstream ahead of it, through generate_output() and
 * pushed as GstBaseTransform's chain function pushes its results. */
static GstFlowReturn
drain (GstZbFilter * self)
{
  GstBaseTransform *trans = GST_BASE_TRANSFORM (self);
  GstBaseTransformClass *klass = GST_BASE_TRANSFORM_GET_CLASS (trans);
  GstFlowReturn flow;
  GstBuffer *out;

  self->draining = TRUE;
  do {
    out = NULL;
    flow = klass->generate_output (trans, &out);
    if (out != NULL)
      flow = gst_pad_push (GST_BASE_TRANSFORM_SRC_PAD (trans), out);
  } while (flow == GST_FLOW_OK && out != NULL);
  self->draining = FALSE;
  return flow;
}

static gboolean
gst_zb_filter_sink_event (GstBaseTransform * trans, GstEvent * event)
{
  GstZbFilter *self = GST_ZB_FILTER (trans);
  GList *l;

  switch (GST_EVENT_TYPE (event)) {
    case GST_EVENT_FLUSH_START:
      set_flushing (self, TRUE);
      break;
    case GST_EVENT_FLUSH_STOP:
      set_flushing (self, FALSE);
      /* the server still answers what was sent: receive and discard */
      for (l = self->requests.head; l;) {
        GstZbRequest *r = l->data;
        GList *next = l->next;

        if (r->input) {
          gst_buffer_unref (r->input);
          r->input = NULL;
        }
        if (r->sequence == 0) {
          gst_zb_filter_request_free (r);
          g_queue_delete_link (&self->requests, l);
        }
        l = next;
      }
      self->discont = TRUE;
      GST_OBJECT_LOCK (self);
      self->position_out = GST_CLOCK_TIME_NONE;
      GST_OBJECT_UNLOCK (self);
      break;
    default:
      if (GST_EVENT_IS_SERIALIZED (event)) {
        GstFlowReturn flow = drain (self);

        if (flow != GST_FLOW_OK && flow != GST_FLOW_FLUSHING)
          GST_DEBUG_OBJECT (self, "drain before %s: %s",
              GST_EVENT_TYPE_NAME (event), gst_flow_get_name (flow));
      }
      break;
  }
  return GST_BASE_TRANSFORM_CLASS (parent_class)->sink_event (trans, event);
}

/* ------------------------------------------------------------------ */
/* Queries */

static gboolean
gst_zb_filter_query (GstBaseTransform * trans, GstPadDirection direction,
    GstQuery * query)
{
  GstZbFilter *self = GST_ZB_FILTER (trans);
  gboolean ret;

  /* the base class knows the position of what its chain function pushed
   * only; drained responses count too */
  if (direction == GST_PAD_SRC && GST_QUERY_TYPE (query) == GST_QUERY_POSITION) {
    GstFormat format;

    gst_query_parse_position (query, &format, NULL);
    GST_OBJECT_LOCK (self);
    ret = format == GST_FORMAT_TIME &&
        trans->segment.format == GST_FORMAT_TIME &&
        GST_CLOCK_TIME_IS_VALID (self->position_out);
    if (ret)
      gst_query_set_position (query, format,
          gst_segment_to_stream_time (&trans->segment, GST_FORMAT_TIME,
              self->position_out));
    GST_OBJECT_UNLOCK (self);
    if (ret)
      return TRUE;
  }

  ret = GST_BASE_TRANSFORM_CLASS (parent_class)->query (trans, direction,
      query);
  if (ret && direction == GST_PAD_SRC &&
      GST_QUERY_TYPE (query) == GST_QUERY_LATENCY) {
    GstClockTime min, max, extra;
    gboolean live;

    gst_query_parse_latency (query, &live, &min, &max);
    GST_OBJECT_LOCK (self);
    extra = gst_zb_filter_round_trip_latency (self);
    self->reported_rtt = extra;
    /* with several requests out, a response may wait for the next input */
    if (self->max_in_flight > 1 && GST_CLOCK_TIME_IS_VALID
        (self->frame_duration))
      extra += self->frame_duration;
    GST_OBJECT_UNLOCK (self);
    GST_DEBUG_OBJECT (self, "adding %" GST_TIME_FORMAT " of latency",
        GST_TIME_ARGS (extra));
    min += extra;
    if (GST_CLOCK_TIME_IS_VALID (max))
      max += extra;
    gst_query_set_latency (query, live, min, max);
  }
  return ret;
}

/* Upstream may fill its buffers where their requests are sent from: a
 * pool whose buffers lie in the request ring when they can
 * (gstzbfilterpool.c). For raw video, whose size the caps give. */
static gboolean
gst_zb_filter_propose_allocation (GstBaseTransform * trans,
    GstQuery * decide_query, GstQuery * query)
{
  GstZbFilter *self = GST_ZB_FILTER (trans);
  GstBufferPool *pool;
  GstStructure *config;
  GstVideoInfo info;
  GstCaps *caps;
  gboolean need_pool, zero_copy;

  /* downstream's metas (without a decide query the default would hand the
   * query to downstream, whose pool is not where requests go) */
  if (decide_query != NULL &&
      !GST_BASE_TRANSFORM_CLASS (parent_class)->propose_allocation (trans,
          decide_query, query))
    return FALSE;
  gst_query_parse_allocation (query, &caps, &need_pool);
  if (caps == NULL || !gst_video_info_from_caps (&info, caps) ||
      GST_VIDEO_INFO_FORMAT (&info) == GST_VIDEO_FORMAT_ENCODED)
    return TRUE;
  if (!gst_query_find_allocation_meta (query, GST_VIDEO_META_API_TYPE, NULL))
    gst_query_add_allocation_meta (query, GST_VIDEO_META_API_TYPE, NULL);
  GST_OBJECT_LOCK (self);
  zero_copy = self->zero_copy;
  GST_OBJECT_UNLOCK (self);
  if (!need_pool || !zero_copy)
    return TRUE;
  pool = gst_zb_filter_pool_new (self);
  config = gst_buffer_pool_get_config (pool);
  gst_buffer_pool_config_set_params (config, caps, info.size, 0, 0);
  if (!gst_buffer_pool_set_config (pool, config)) {
    gst_object_unref (pool);
    return TRUE;
  }
  GST_DEBUG_OBJECT (self, "proposing a pool of %" G_GSIZE_FORMAT " bytes",
      info.size);
  gst_query_add_allocation_pool (query, pool, info.size, 0, 0);
  gst_object_unref (pool);
  return TRUE;
}
