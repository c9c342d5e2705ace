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
 * the request's timestamps, duration, offsets and flags. Output caps are the
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
 */

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstzbfilter.h"
#include "gstzbchannel.h"
#include "gstzbcommon.h"
#include "gstzbvideo.h"
#include "zbframe.h"

#include <errno.h>
#include <string.h>

#include <gst/video/video.h>
#include <zerobuffer/zerobuffer.h>

GST_DEBUG_CATEGORY_STATIC (gst_zb_filter_debug);
#define GST_CAT_DEFAULT gst_zb_filter_debug

#define DEFAULT_CHANNEL_NAME NULL
#define DEFAULT_FRAME_FORMAT GST_ZB_FRAME_FORMAT_GST
#define DEFAULT_TIMEOUT 5000
#define DEFAULT_MAX_IN_FLIGHT 1
#define DEFAULT_LATENCY 20      /* ms */
#define DEFAULT_ON_SERVER_LOST GST_ZB_SERVER_LOST_WAIT
#define DEFAULT_PAYLOAD_SIZE ((guint64) ZB_DEFAULT_PAYLOAD_SIZE)

/* One blocking library call waits at most this long; in between the
 * element checks flushing, its timeout and whether the server is alive. */
#define SLICE_MS 100
/* passthrough: how often to look for a new server */
#define PROBE_INTERVAL_US (100 * 1000)

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
  PROP_REQUESTS,
  PROP_RESPONSES,
  PROP_DISCARDED,
  PROP_DROPPED,
  PROP_PASSED_THROUGH,
  PROP_MEAN_ROUND_TRIP,
  PROP_MAX_ROUND_TRIP,
  PROP_CONNECTED
};

/* One input buffer: sent and awaiting its response, or to be pushed
 * unchanged (sequence 0). */
typedef struct
{
  GstBuffer *input;             /* owned; NULL once discarded */
  guint64 sequence;             /* request sequence, 0: passthrough */
  gint64 sent_us;               /* g_get_monotonic_time () at send */
} GstZbRequest;

struct _GstZbFilter
{
  GstBaseTransform parent;

  /* properties; GST_OBJECT_LOCK */
  gchar *channel_name;
  GstZbFrameFormat frame_format;
  gint timeout;
  guint max_in_flight;
  guint latency_ms;
  GstZbServerLost on_server_lost;
  guint64 payload_size;

  /* GST_OBJECT_LOCK: FLUSH_START and state changes wake the client from
   * other threads; only the streaming thread (and start/stop) replaces
   * client */
  zb_duplex_client *client;
  gboolean flushing;
  GstCaps *server_caps;         /* declared by the server, or NULL;
                                 * read by transform_caps */

  /* streaming thread (and start/stop) */
  gchar *channel;               /* channel_name latched at start() */
  GstZbFrameFormat format;      /* frame_format latched at start() */
  GQueue requests;              /* GstZbRequest, oldest first */
  GstCaps *in_caps;             /* input caps */
  GstCaps *conn_caps;           /* caps in this connection's metadata */
  gboolean is_video;
  GstVideoInfo vinfo;           /* of in_caps when is_video */
  GstZbLayout in_default;       /* layouts of vinfo (gstzbvideo.h) */
  GstZbLayout in_packed;
  GstCaps *resp_caps;           /* the caps resp_* are of */
  gboolean resp_video;          /* responses are raw video */
  GstZbLayout resp_default;
  GstZbLayout resp_packed;
  gboolean have_server_meta;    /* response metadata read */
  gboolean server_gst;          /* responses are gst records */
  guint64 server_pid;
  gboolean lost;                /* server lost, no new one yet */
  gint64 next_probe_us;
  gboolean discont;

  /* statistics; GST_OBJECT_LOCK */
  guint64 n_requests;
  guint64 n_responses;
  guint64 n_discarded;
  guint64 n_dropped;
  guint64 n_passed;
  guint64 rtt_sum_us;
  guint64 rtt_max_us;
  GstClockTime reported_rtt;    /* round trip the last LATENCY answer covers */
  GstClockTime frame_duration;
  gboolean connected;
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
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_property (gobject_class, PROP_MAX_IN_FLIGHT,
      g_param_spec_uint ("max-in-flight", "Max in flight",
          "Requests sent before the oldest response is awaited (1 = one "
          "round trip per buffer; more pipelines the round trip)", 1, 1024,
          DEFAULT_MAX_IN_FLIGHT,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));
  /**
   * GstZbFilter:latency:
   *
   * The round trip the LATENCY query reports before the first response,
   * and at least: a live pipeline's sinks wait this long for each response.
   * Once a round trip takes longer, zbfilter reports the longest one seen
   * plus a quarter and posts a LATENCY message.
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
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_property (gobject_class, PROP_PAYLOAD_SIZE,
      g_param_spec_uint64 ("payload-size", "Payload size",
          "Size in bytes of the response ring this element creates (rounded "
          "up to 64); the request ring's size is the server's choice", 1,
          G_MAXUINT64 / 2, DEFAULT_PAYLOAD_SIZE,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));

  g_object_class_install_property (gobject_class, PROP_REQUESTS,
      g_param_spec_uint64 ("requests", "Requests",
          "Requests sent since start", 0, G_MAXUINT64, 0,
          G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_property (gobject_class, PROP_RESPONSES,
      g_param_spec_uint64 ("responses", "Responses",
          "Responses pushed downstream since start", 0, G_MAXUINT64, 0,
          G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_property (gobject_class, PROP_DISCARDED,
      g_param_spec_uint64 ("discarded", "Discarded",
          "Responses to requests sent before a flush, thrown away", 0,
          G_MAXUINT64, 0, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_property (gobject_class, PROP_DROPPED,
      g_param_spec_uint64 ("dropped", "Dropped",
          "Requests in flight lost with their server (on-server-lost=wait)",
          0, G_MAXUINT64, 0, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_property (gobject_class, PROP_PASSED_THROUGH,
      g_param_spec_uint64 ("passed-through", "Passed through",
          "Buffers pushed unchanged without a server "
          "(on-server-lost=passthrough)", 0, G_MAXUINT64, 0,
          G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_property (gobject_class, PROP_MEAN_ROUND_TRIP,
      g_param_spec_uint64 ("mean-round-trip", "Mean round trip",
          "Mean time from sending a request to receiving its response, in "
          "microseconds", 0, G_MAXUINT64, 0,
          G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_property (gobject_class, PROP_MAX_ROUND_TRIP,
      g_param_spec_uint64 ("max-round-trip", "Max round trip",
          "Longest round trip since start, in microseconds", 0, G_MAXUINT64,
          0, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_property (gobject_class, PROP_CONNECTED,
      g_param_spec_boolean ("connected", "Connected",
          "Whether a server is connected", FALSE,
          G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));

  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_add_static_pad_template (element_class, &src_template);
  gst_element_class_set_static_metadata (element_class,
      "ZeroBuffer duplex filter", "Filter",
      "Hand each buffer to a server in another process through shared "
      "memory and push its response", "zerobuffer developers");

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
  self->frame_duration = GST_CLOCK_TIME_NONE;
  g_queue_init (&self->requests);
}

static void
gst_zb_filter_finalize (GObject * object)
{
  GstZbFilter *self = GST_ZB_FILTER (object);

  g_free (self->channel_name);
  g_free (self->channel);
  gst_caps_replace (&self->server_caps, NULL);
  gst_caps_replace (&self->in_caps, NULL);
  gst_caps_replace (&self->resp_caps, NULL);
  gst_caps_replace (&self->conn_caps, NULL);

  G_OBJECT_CLASS (parent_class)->finalize (object);
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
    case PROP_REQUESTS:
      g_value_set_uint64 (value, self->n_requests);
      break;
    case PROP_RESPONSES:
      g_value_set_uint64 (value, self->n_responses);
      break;
    case PROP_DISCARDED:
      g_value_set_uint64 (value, self->n_discarded);
      break;
    case PROP_DROPPED:
      g_value_set_uint64 (value, self->n_dropped);
      break;
    case PROP_PASSED_THROUGH:
      g_value_set_uint64 (value, self->n_passed);
      break;
    case PROP_MEAN_ROUND_TRIP:
      g_value_set_uint64 (value, self->n_responses ?
          self->rtt_sum_us / self->n_responses : 0);
      break;
    case PROP_MAX_ROUND_TRIP:
      g_value_set_uint64 (value, self->rtt_max_us);
      break;
    case PROP_CONNECTED:
      g_value_set_boolean (value, self->connected);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

/* ------------------------------------------------------------------ */
/* Lifetime */

static void
request_free (GstZbRequest * r)
{
  if (r->input)
    gst_buffer_unref (r->input);
  g_free (r);
}

static void
clear_requests (GstZbFilter * self)
{
  GstZbRequest *r;

  while ((r = g_queue_pop_head (&self->requests)))
    request_free (r);
}

static gboolean
is_flushing (GstZbFilter * self)
{
  gboolean ret;

  GST_OBJECT_LOCK (self);
  ret = self->flushing;
  GST_OBJECT_UNLOCK (self);
  return ret || GST_PAD_IS_FLUSHING (GST_BASE_TRANSFORM_SINK_PAD (self));
}

static gint
get_timeout (GstZbFilter * self)
{
  gint ret;

  GST_OBJECT_LOCK (self);
  ret = self->timeout;
  GST_OBJECT_UNLOCK (self);
  return ret;
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

static void
disconnect (GstZbFilter * self)
{
  zb_duplex_client *c;

  GST_OBJECT_LOCK (self);
  c = self->client;
  self->client = NULL;
  self->connected = FALSE;
  gst_caps_replace (&self->server_caps, NULL);
  GST_OBJECT_UNLOCK (self);

  /* removes NAME_response: a server still answering sees us gone */
  zb_duplex_client_destroy (c);
  gst_caps_replace (&self->conn_caps, NULL);
  self->have_server_meta = FALSE;
  self->server_gst = FALSE;
  self->server_pid = 0;
}

static gboolean
gst_zb_filter_start (GstBaseTransform * trans)
{
  GstZbFilter *self = GST_ZB_FILTER (trans);
  gchar *name;
  int ret;

  GST_OBJECT_LOCK (self);
  name = g_strdup (self->channel_name);
  self->format = self->frame_format;
  self->flushing = FALSE;
  self->n_requests = self->n_responses = self->n_discarded = 0;
  self->n_dropped = self->n_passed = 0;
  self->rtt_sum_us = self->rtt_max_us = 0;
  self->reported_rtt = self->latency_ms * GST_MSECOND;
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
  self->lost = FALSE;
  self->next_probe_us = 0;
  self->discont = TRUE;
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

  clear_requests (self);
  disconnect (self);
  gst_caps_replace (&self->in_caps, NULL);
  gst_caps_replace (&self->resp_caps, NULL);
  return TRUE;
}

static GstStateChangeReturn
gst_zb_filter_change_state (GstElement * element, GstStateChange transition)
{
  GstZbFilter *self = GST_ZB_FILTER (element);

  if (transition == GST_STATE_CHANGE_PAUSED_TO_READY) {
    /* the streaming thread may be blocked on the server: wake it before
     * the pads deactivate and wait for it */
    GST_OBJECT_LOCK (self);
    self->flushing = TRUE;
    if (self->client)
      zb_duplex_client_wakeup (self->client);
    GST_OBJECT_UNLOCK (self);
  }
  return GST_ELEMENT_CLASS (parent_class)->change_state (element, transition);
}

/* ------------------------------------------------------------------ */
/* Connection */

typedef enum
{
  CONNECT_OK,
  CONNECT_NONE,                 /* no server; pass the buffer through */
  CONNECT_FLUSHING,
  CONNECT_ERROR
} ConnectResult;

/* Is the server we talk to (@pid) still the live owner of NAME_request?
 * Cheap: maps the segment read-only, joins nothing. */
static gboolean
server_alive (GstZbFilter * self, guint64 pid)
{
  gchar *request = g_strdup_printf ("%s_request", self->channel);
  zb_status st;
  int ret;

  ret = zb_inspect (request, &st, NULL, 0, NULL);
  g_free (request);
  if (ret < 0)
    return FALSE;
  return st.reader_alive && (pid == 0 || st.reader_pid == pid);
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
  if (ret == -ENOENT || ret == -EPROTO || (ret == 0 && !st.reader_alive))
    return -ENOENT;
  if (ret < 0)
    return ret;

  memset (&config, 0, sizeof (config));
  GST_OBJECT_LOCK (self);
  config.payload_size = self->payload_size;
  GST_OBJECT_UNLOCK (self);
  config.timeout_ms = SLICE_MS;
  ret = zb_duplex_client_connect (self->channel, &config, &c);
  if (ret < 0)
    return ret;

  name = gst_object_get_name (GST_OBJECT (self));
  meta = gst_zb_make_metadata ("gstreamer-filter", self->in_caps, name,
      self->format, &meta_len);
  g_free (name);
  ret = zb_duplex_client_set_metadata (c, meta, meta_len);
  g_free (meta);
  if (ret < 0) {
    zb_duplex_client_destroy (c);
    return ret == -EMSGSIZE ? -EMSGSIZE : ret;
  }

  GST_OBJECT_LOCK (self);
  self->client = c;
  self->connected = TRUE;
  /* a flush that began while we connected saw no client to wake */
  if (self->flushing)
    zb_duplex_client_wakeup (c);
  GST_OBJECT_UNLOCK (self);

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

/* Connect unless connected, per on-server-lost: wait (block until a server
 * appears), error (block up to the timeout), passthrough (one attempt
 * every PROBE_INTERVAL_US). */
static ConnectResult
ensure_connected (GstZbFilter * self)
{
  GstZbServerLost action;
  gint64 start = g_get_monotonic_time ();
  gint timeout;
  int ret;

  /* new caps travel in a new connection's metadata; every response of the
   * old one was received when the caps event arrived */
  if (self->client && self->in_caps && self->conn_caps &&
      !gst_caps_is_equal (self->in_caps, self->conn_caps)) {
    GST_INFO_OBJECT (self, "caps changed: reconnecting");
    clear_requests (self);
    disconnect (self);
  }
  if (self->client)
    return CONNECT_OK;

  GST_OBJECT_LOCK (self);
  action = self->on_server_lost;
  timeout = self->timeout;
  GST_OBJECT_UNLOCK (self);

  if (action == GST_ZB_SERVER_LOST_PASSTHROUGH) {
    if (g_get_monotonic_time () < self->next_probe_us)
      return CONNECT_NONE;
    self->next_probe_us = g_get_monotonic_time () + PROBE_INTERVAL_US;
  }

  for (;;) {
    if (is_flushing (self))
      return CONNECT_FLUSHING;
    ret = try_connect (self);
    if (ret == 0)
      return CONNECT_OK;
    if (ret != -ENOENT)
      goto connect_failed;
    if (action == GST_ZB_SERVER_LOST_PASSTHROUGH)
      return CONNECT_NONE;
    if (action == GST_ZB_SERVER_LOST_ERROR &&
        g_get_monotonic_time () - start >= (gint64) timeout * 1000)
      goto no_server;
    g_usleep (20 * 1000);
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
    return CONNECT_ERROR;
  }
no_server:
  {
    GST_ELEMENT_ERROR (self, RESOURCE, NOT_FOUND,
        ("No server for duplex channel \"%s\" within %d ms.", self->channel,
            timeout), ("no live reader of %s_request", self->channel));
    return CONNECT_ERROR;
  }
}

/* The server stopped (-EPIPE), died (-EOWNERDEAD) or did not answer
 * (-ETIMEDOUT, -ENOBUFS). Returns GST_FLOW_OK when the element goes on per
 * on-server-lost. */
static GstFlowReturn
handle_server_lost (GstZbFilter * self, int err)
{
  GstZbServerLost action;
  const gchar *reason;
  guint in_flight = 0;
  guint64 pid = self->server_pid;
  GList *l;

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
  disconnect (self);
  self->lost = TRUE;
  self->discont = TRUE;
  self->next_probe_us = 0;
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
      clear_requests (self);
      return GST_FLOW_ERROR;
    case GST_ZB_SERVER_LOST_PASSTHROUGH:
      /* the inputs in flight go out unchanged, in order */
      for (l = self->requests.head; l; l = l->next) {
        GstZbRequest *r = l->data;

        r->sequence = 0;
      }
      return GST_FLOW_OK;
    case GST_ZB_SERVER_LOST_WAIT:
    default:
      clear_requests (self);
      return GST_FLOW_OK;
  }
}

static gboolean
is_lost_error (int ret)
{
  return ret == -EPIPE || ret == -EOWNERDEAD || ret == -ETIMEDOUT ||
      ret == -ENOBUFS;
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
  self->is_video = gst_structure_has_name (s, "video/x-raw") &&
      gst_video_info_from_caps (&self->vinfo, incaps) &&
      GST_VIDEO_INFO_FORMAT (&self->vinfo) != GST_VIDEO_FORMAT_ENCODED;
  if (self->is_video)
    gst_zb_video_layouts (&self->vinfo, &self->in_default, &self->in_packed);
  gst_caps_replace (&self->in_caps, incaps);

  GST_OBJECT_LOCK (self);
  self->frame_duration = duration;
  GST_OBJECT_UNLOCK (self);
  return TRUE;
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

/* ------------------------------------------------------------------ */
/* Requests */

/* Copy @buf into @dst (@size bytes): raw video in @layout (repacked
 * when its planes are elsewhere), anything else as its bytes. */
static void
copy_payload (GstZbFilter * self, GstBuffer * buf, const GstZbLayout * layout,
    guint8 * dst, gsize size)
{
  GstVideoMeta *vmeta = self->is_video ? gst_buffer_get_video_meta (buf) : NULL;
  gboolean repack = FALSE;
  GstVideoFrame sf;
  gsize n;
  guint p;

  if (self->is_video && size == layout->size) {
    for (p = 0; p < layout->n_planes; p++) {
      gsize off = vmeta ? vmeta->offset[p] : self->in_default.offset[p];
      gint stride = vmeta ? vmeta->stride[p] : self->in_default.stride[p];

      if (off != layout->offset[p] || stride != layout->stride[p])
        repack = TRUE;
    }
  }
  if (repack && gst_video_frame_map (&sf, &self->vinfo, buf, GST_MAP_READ)) {
    gst_zb_video_pack (&sf, layout, dst);
    gst_video_frame_unmap (&sf);
    return;
  }
  n = gst_buffer_extract (buf, 0, dst, size);
  if (n < size)
    memset (dst + n, 0, size - n);
}

/* Write @buf as the next request. Returns 0, -EINTR (flushing), a
 * server-lost error, or another negative errno. */
static int
send_request (GstZbFilter * self, GstBuffer * buf, guint64 * sequence)
{
  gsize hdr = self->format == GST_ZB_FRAME_FORMAT_GST ? ZB_GST_HEADER_SIZE : 0;
  const GstZbLayout *layout = self->format == GST_ZB_FRAME_FORMAT_RAW ?
      &self->in_packed : &self->in_default;
  gsize payload = self->is_video ? layout->size : gst_buffer_get_size (buf);
  gint64 start = g_get_monotonic_time ();
  gint timeout = get_timeout (self);
  void *dst;
  int ret;

  if (self->is_video && gst_buffer_get_video_meta (buf) == NULL &&
      gst_buffer_get_size (buf) < payload)
    payload = gst_buffer_get_size (buf);

  for (;;) {
    ret = zb_duplex_client_acquire (self->client, hdr + payload, &dst);
    if (ret != -ENOBUFS)
      break;
    /* the ring is full: the server is slow, stuck or gone */
    if (is_flushing (self))
      return -EINTR;
    if (!server_alive (self, self->server_pid))
      return -EOWNERDEAD;
    if (g_get_monotonic_time () - start >= (gint64) timeout * 1000)
      return -ENOBUFS;
  }
  if (ret < 0)
    return ret;

  if (hdr) {
    zb_gst_record rec;

    gst_zb_record_from_buffer (&rec, buf);
    rec.payload_size = payload;
    zb_gst_record_encode (&rec, dst);
  }
  if (payload)
    copy_payload (self, buf, layout, (guint8 *) dst + hdr, payload);
  return zb_duplex_client_commit (self->client, sequence);
}

static GstFlowReturn
gst_zb_filter_submit_input_buffer (GstBaseTransform * trans,
    gboolean is_discont, GstBuffer * input)
{
  GstZbFilter *self = GST_ZB_FILTER (trans);
  GstZbRequest *r;
  GstFlowReturn flow;
  ConnectResult cr;
  guint64 seq = 0;
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

  for (;;) {
    cr = ensure_connected (self);
    if (cr == CONNECT_FLUSHING)
      goto flushing;
    if (cr == CONNECT_ERROR)
      goto error;
    if (cr == CONNECT_NONE || (self->format == GST_ZB_FRAME_FORMAT_RAW &&
            gst_buffer_get_size (input) == 0)) {
      /* on-server-lost=passthrough without a server; or an empty buffer,
       * which frame-format=raw cannot send (a frame has at least a byte) */
      r = g_new0 (GstZbRequest, 1);
      r->input = input;
      g_queue_push_tail (&self->requests, r);
      return GST_FLOW_OK;
    }

    ret = send_request (self, input, &seq);
    if (ret == 0)
      break;
    if (ret == -EINTR)
      goto flushing;
    if (!is_lost_error (ret))
      goto send_failed;
    flow = handle_server_lost (self, ret);
    if (flow != GST_FLOW_OK) {
      gst_buffer_unref (input);
      return flow;
    }
  }

  r = g_new0 (GstZbRequest, 1);
  r->input = input;
  r->sequence = seq;
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
    if (ret == -EMSGSIZE)
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

/* ------------------------------------------------------------------ */
/* Responses */

/* The round trip to report: the latency property, or the longest round
 * trip seen plus a quarter when that is more, but no more than the
 * timeout (a longer wait loses the server). GST_OBJECT_LOCK. */
static GstClockTime
round_trip_latency (GstZbFilter * self)
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
    self->reported_rtt = round_trip_latency (self);
    post = TRUE;
  }
  GST_OBJECT_UNLOCK (self);
  if (post)
    gst_element_post_message (GST_ELEMENT (self),
        gst_message_new_latency (GST_OBJECT (self)));
}

/* Is a raw response of @size bytes raw video in the packed layout
 * (docs/frame-format.md) of the output caps? A response of another size
 * (e.g. the default layout of a gst request, echoed) is taken as it is. */
static gboolean
response_is_packed (GstZbFilter * self, gsize size)
{
  GstCaps *caps = NULL;
  GstVideoInfo info;
  GstStructure *s;

  GST_OBJECT_LOCK (self);
  if (self->server_caps)
    caps = gst_caps_ref (self->server_caps);
  GST_OBJECT_UNLOCK (self);
  if (caps == NULL && self->in_caps)
    caps = gst_caps_ref (self->in_caps);
  if (caps != self->resp_caps) {
    gst_caps_replace (&self->resp_caps, caps);
    s = caps && gst_caps_get_size (caps) == 1 ?
        gst_caps_get_structure (caps, 0) : NULL;
    self->resp_video = s && gst_structure_has_name (s, "video/x-raw") &&
        gst_video_info_from_caps (&info, caps) &&
        GST_VIDEO_INFO_FORMAT (&info) != GST_VIDEO_FORMAT_ENCODED &&
        gst_zb_video_layouts (&info, &self->resp_default, &self->resp_packed);
  }
  if (caps)
    gst_caps_unref (caps);
  return self->resp_video && size == self->resp_packed.size;
}

/* The output buffer for @r from the response @f. */
static GstBuffer *
make_output (GstZbFilter * self, GstZbRequest * r, const zb_frame * f, int *err)
{
  const void *payload = f->data;
  gsize size = f->size;
  GstBuffer *out;
  GstMapInfo map;

  if (self->server_gst) {
    zb_gst_record rec;

    *err = zb_gst_record_decode (f->data, f->size, &rec, &payload);
    if (*err < 0)
      return NULL;
    if (rec.type != ZB_GST_RECORD_BUFFER) {
      *err = -EPROTO;
      return NULL;
    }
    size = (gsize) rec.payload_size;
  }
  /* one copy out of the ring: the frame goes back to the server at once;
   * packed raw video into the default layout on the way */
  if (!self->server_gst && size && response_is_packed (self, size)) {
    out = gst_buffer_new_allocate (NULL, self->resp_default.size, NULL);
    gst_buffer_map (out, &map, GST_MAP_WRITE);
    gst_zb_video_repack (&self->resp_packed, payload, &self->resp_default,
        map.data);
    gst_buffer_unmap (out, &map);
  } else {
    out = gst_buffer_new_allocate (NULL, size, NULL);
    if (size)
      gst_buffer_fill (out, 0, payload, size);
  }
  gst_buffer_copy_into (out, r->input, GST_BUFFER_COPY_FLAGS |
      GST_BUFFER_COPY_TIMESTAMPS, 0, -1);
  return out;
}

typedef enum
{
  NEXT_OUTPUT,                  /* *out is set */
  NEXT_AGAIN,                   /* progress without output: call again */
  NEXT_NONE,                    /* nothing ready */
  NEXT_FLOW                     /* stop with *flow */
} NextResult;

/* Take the oldest entry if it is ready: a passthrough input at once, a
 * response when it arrived (@block: wait for it, up to the timeout). */
static NextResult
next_output (GstZbFilter * self, gboolean block, GstBuffer ** out,
    GstFlowReturn * flow)
{
  GstZbRequest *r = g_queue_peek_head (&self->requests);
  GstCaps *want = NULL;
  gint64 start = g_get_monotonic_time ();
  gint timeout = get_timeout (self);
  zb_frame f;
  int ret, err = 0;

  *out = NULL;
  if (r == NULL)
    return NEXT_NONE;

  if (r->sequence == 0) {
    g_queue_pop_head (&self->requests);
    *out = r->input;
    r->input = NULL;
    request_free (r);
    if (!ensure_src_caps (self, self->in_caps)) {
      gst_buffer_unref (*out);
      *out = NULL;
      *flow = GST_FLOW_NOT_NEGOTIATED;
      return NEXT_FLOW;
    }
    GST_OBJECT_LOCK (self);
    self->n_passed++;
    GST_OBJECT_UNLOCK (self);
    return NEXT_OUTPUT;
  }

  /* a discarded request (sent before a flush) is always due */
  if (r->input == NULL)
    block = TRUE;

  for (;;) {
    ret = zb_duplex_client_receive (self->client, block ? SLICE_MS : 0, &f);
    if (ret == 0)
      break;
    if (!block && (ret == -EAGAIN || ret == -ETIMEDOUT))
      return NEXT_NONE;
    if (ret == -ETIMEDOUT) {
      if (is_flushing (self))
        ret = -EINTR;
      else if (!server_alive (self, self->server_pid))
        ret = -EOWNERDEAD;
      else if (g_get_monotonic_time () - start < (gint64) timeout * 1000)
        continue;
    }
    if (ret == -EINTR) {
      *flow = GST_FLOW_FLUSHING;
      return NEXT_FLOW;
    }
    if (is_lost_error (ret)) {
      *flow = handle_server_lost (self, ret);
      return *flow == GST_FLOW_OK ? NEXT_AGAIN : NEXT_FLOW;
    }
    goto receive_failed;
  }

  if (!self->have_server_meta || (f.flags & ZB_FRAME_NEW_WRITER))
    read_server_metadata (self);
  if (f.sequence != r->sequence)
    goto out_of_order;

  g_queue_pop_head (&self->requests);
  if (r->input == NULL) {
    zb_duplex_client_release (self->client, &f);
    request_free (r);
    GST_OBJECT_LOCK (self);
    self->n_discarded++;
    GST_OBJECT_UNLOCK (self);
    GST_DEBUG_OBJECT (self, "discarded response %" G_GUINT64_FORMAT,
        f.sequence);
    return NEXT_AGAIN;
  }

  *out = make_output (self, r, &f, &err);
  zb_duplex_client_release (self->client, &f);
  account_round_trip (self, g_get_monotonic_time () - r->sent_us);
  request_free (r);
  if (*out == NULL)
    goto bad_response;
  if (self->discont) {
    GST_BUFFER_FLAG_SET (*out, GST_BUFFER_FLAG_DISCONT);
    self->discont = FALSE;
  }

  GST_OBJECT_LOCK (self);
  if (self->server_caps)
    want = gst_caps_ref (self->server_caps);
  GST_OBJECT_UNLOCK (self);
  if (want == NULL && self->in_caps)
    want = gst_caps_ref (self->in_caps);
  if (!ensure_src_caps (self, want)) {
    gst_buffer_unref (*out);
    *out = NULL;
    *flow = GST_FLOW_NOT_NEGOTIATED;
    gst_caps_replace (&want, NULL);
    return NEXT_FLOW;
  }
  gst_caps_replace (&want, NULL);
  return NEXT_OUTPUT;

  /* ERRORS */
receive_failed:
  {
    GST_ELEMENT_ERROR (self, RESOURCE, READ,
        ("Could not receive a response on channel \"%s\".", self->channel),
        ("%s", zb_strerror (ret)));
    *flow = GST_FLOW_ERROR;
    return NEXT_FLOW;
  }
out_of_order:
  {
    zb_duplex_client_release (self->client, &f);
    GST_ELEMENT_ERROR (self, STREAM, FAILED,
        ("The server of channel \"%s\" answered out of order.",
            self->channel), ("response %" G_GUINT64_FORMAT " while request %"
            G_GUINT64_FORMAT " was due", f.sequence, r->sequence));
    *flow = GST_FLOW_ERROR;
    return NEXT_FLOW;
  }
bad_response:
  {
    GST_ELEMENT_ERROR (self, STREAM, DECODE,
        ("Invalid response on channel \"%s\".", self->channel),
        ("response of %" G_GSIZE_FORMAT " bytes: %s", f.size,
            zb_strerror (err)));
    *flow = GST_FLOW_ERROR;
    return NEXT_FLOW;
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
    /* wait only when max-in-flight requests are out; otherwise take what
     * is ready, so that a live stream gains no more than one buffer
     * interval of latency */
    block = g_queue_get_length (&self->requests) >= max_in_flight;
    switch (next_output (self, block, outbuf, &flow)) {
      case NEXT_OUTPUT:
      case NEXT_NONE:
        return GST_FLOW_OK;
      case NEXT_AGAIN:
        continue;
      case NEXT_FLOW:
        return flow;
    }
  }
}

/* Push every pending output downstream: before a serialized event, so
 * that it stays behind the buffers that preceded it. */
static GstFlowReturn
drain (GstZbFilter * self)
{
  GstBuffer *out;
  GstFlowReturn flow = GST_FLOW_OK;

  while (!g_queue_is_empty (&self->requests)) {
    switch (next_output (self, TRUE, &out, &flow)) {
      case NEXT_OUTPUT:
        flow = gst_pad_push (GST_BASE_TRANSFORM_SRC_PAD (self), out);
        if (flow != GST_FLOW_OK)
          return flow;
        break;
      case NEXT_AGAIN:
      case NEXT_NONE:
        break;
      case NEXT_FLOW:
        return flow;
    }
  }
  return GST_FLOW_OK;
}

static gboolean
gst_zb_filter_sink_event (GstBaseTransform * trans, GstEvent * event)
{
  GstZbFilter *self = GST_ZB_FILTER (trans);
  GList *l;

  switch (GST_EVENT_TYPE (event)) {
    case GST_EVENT_FLUSH_START:
      GST_OBJECT_LOCK (self);
      self->flushing = TRUE;
      if (self->client)
        zb_duplex_client_wakeup (self->client);
      GST_OBJECT_UNLOCK (self);
      break;
    case GST_EVENT_FLUSH_STOP:
      GST_OBJECT_LOCK (self);
      self->flushing = FALSE;
      if (self->client)
        zb_duplex_client_wakeup_clear (self->client);
      GST_OBJECT_UNLOCK (self);
      /* the server still answers what was sent: receive and discard */
      for (l = self->requests.head; l;) {
        GstZbRequest *r = l->data;
        GList *next = l->next;

        if (r->input) {
          gst_buffer_unref (r->input);
          r->input = NULL;
        }
        if (r->sequence == 0) {
          request_free (r);
          g_queue_delete_link (&self->requests, l);
        }
        l = next;
      }
      self->discont = TRUE;
      break;
    default:
      if (GST_EVENT_IS_SERIALIZED (event)) {
        GstFlowReturn flow = drain (self);

        if (flow != GST_FLOW_OK && flow != GST_FLOW_FLUSHING &&
            GST_EVENT_TYPE (event) != GST_EVENT_EOS)
          GST_DEBUG_OBJECT (self, "drain before %s: %s",
              GST_EVENT_TYPE_NAME (event), gst_flow_get_name (flow));
      }
      break;
  }
  return GST_BASE_TRANSFORM_CLASS (parent_class)->sink_event (trans, event);
}

static gboolean
gst_zb_filter_query (GstBaseTransform * trans, GstPadDirection direction,
    GstQuery * query)
{
  GstZbFilter *self = GST_ZB_FILTER (trans);
  gboolean ret;

  ret = GST_BASE_TRANSFORM_CLASS (parent_class)->query (trans, direction,
      query);
  if (ret && direction == GST_PAD_SRC &&
      GST_QUERY_TYPE (query) == GST_QUERY_LATENCY) {
    GstClockTime min, max, extra;
    gboolean live;

    gst_query_parse_latency (query, &live, &min, &max);
    GST_OBJECT_LOCK (self);
    extra = round_trip_latency (self);
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
