/* zerobuffer GStreamer plugin - zbsink
 *
 * SPDX-License-Identifier: MIT
 */

/**
 * SECTION:element-zbsink
 * @title: zbsink
 * @see_also: zbsrc
 *
 * Sends buffers, caps, timestamps and EOS to a zbsrc in another process
 * through a ZeroBuffer v1.0 shared-memory buffer. zbsink is the protocol's
 * writer: it connects to the buffer that the reader (zbsrc) created,
 * waiting for it to appear (#GstZbSink:connect-timeout), and writes the
 * caps as JSON metadata once per connection.
 *
 * With #GstZbSink:frame-format=gst (the default) every frame carries a
 * small header with the timestamps, duration, offsets and flags, and caps
 * changes and EOS travel in-band (docs/frame-format.md). With
 * #GstZbSink:frame-format=raw frames are bare bytes, video rows packed
 * tightly, for foreign readers.
 *
 * When the reader stops or dies, #GstZbSink:on-reader-lost decides: wait
 * for a new reader and reconnect (the default), drop buffers until one
 * appears, or post an error.
 *
 * Any number of readers: besides the reader of buffer NAME, zbsink writes
 * every frame to each reader that created a buffer NAME@ID (zbsrc
 * reader-id=ID, or any ZeroBuffer reader by that name; docs/fanout.md),
 * found as they appear (an inotify watch, no polling) and left when they
 * go, each with its own copy, caps, key-unit start and back-pressure
 * (#GstZbSink:reader-policy), posting "zbsink-reader-joined" and
 * "zbsink-reader-left" element messages.
 *
 * ## Example launch lines
 * |[
 * gst-launch-1.0 videotestsrc is-live=true ! video/x-raw,format=I420,width=1280,height=720 ! zbsink buffer-name=cam
 * ]| Writer: waits for the reader's buffer, then streams 720p video.
 * |[
 * gst-launch-1.0 zbsrc buffer-name=cam ! videoconvert ! autovideosink
 * ]| Reader: caps are negotiated from the writer's metadata.
 * |[
 * gst-launch-1.0 -e audiotestsrc is-live=true ! zbsink buffer-name=mic
 * gst-launch-1.0 zbsrc buffer-name=mic ! audioconvert ! autoaudiosink
 * ]| Audio; with -e the writer's EOS reaches the reader on Ctrl-C.
 * |[
 * gst-launch-1.0 v4l2src ! videoconvert ! x264enc tune=zerolatency ! h264parse ! zbsink buffer-name=cam
 * gst-launch-1.0 -e zbsrc buffer-name=cam reader-id=rec ! h264parse ! mp4mux ! filesink location=rec.mp4
 * gst-launch-1.0 zbsrc buffer-name=cam reader-id=view ! decodebin ! autovideosink
 * ]| One camera, two consumers that come and go on their own.
 */

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstzbsinkpriv.h"
#include "gstzbpoolshm.h"
#include "gstzburi.h"

#include <errno.h>
#include <string.h>

GST_DEBUG_CATEGORY (gst_zb_sink_debug);
#define GST_CAT_DEFAULT gst_zb_sink_debug

#define DEFAULT_BUFFER_NAME NULL
#define DEFAULT_FRAME_FORMAT GST_ZB_FRAME_FORMAT_GST
#define DEFAULT_CONNECT_TIMEOUT -1
#define DEFAULT_ON_READER_LOST GST_ZB_READER_LOST_AUTO
#define DEFAULT_LEAKY FALSE
#define DEFAULT_WRITE_TIMEOUT 0
#define DEFAULT_ZERO_COPY TRUE
#define DEFAULT_COPY_THREADS 1
#define DEFAULT_ALLOW_UID -1
#define DEFAULT_READER_POLICY GST_ZB_READER_POLICY_AUTO
#define DEFAULT_READER_TIMEOUT 1000
/* copy-threads=0: one per processor, up to this */
#define AUTO_COPY_THREADS_MAX 4


enum
{
  PROP_0,
  PROP_BUFFER_NAME,
  PROP_FRAME_FORMAT,
  PROP_CONNECT_TIMEOUT,
  PROP_ON_READER_LOST,
  PROP_LEAKY,
  PROP_WRITE_TIMEOUT,
  PROP_CHANNEL_NAME,
  PROP_ZERO_COPY,
  PROP_COPY_THREADS,
  PROP_ALLOW_UID,
  PROP_READER_POLICY,
  PROP_READER_TIMEOUT,
  PROP_READERS,
  PROP_STATS
};

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE ("sink",
    GST_PAD_SINK,
    GST_PAD_ALWAYS,
    GST_STATIC_CAPS_ANY);

#define gst_zb_sink_parent_class parent_class
G_DEFINE_TYPE_WITH_CODE (GstZbSink, gst_zb_sink, GST_TYPE_BASE_SINK,
    G_IMPLEMENT_INTERFACE (GST_TYPE_URI_HANDLER, gst_zb_uri_sink_handler_init));
GST_ELEMENT_REGISTER_DEFINE (zbsink, "zbsink", GST_RANK_NONE, GST_TYPE_ZB_SINK);

static void gst_zb_sink_set_property (GObject * object, guint prop_id,
    const GValue * value, GParamSpec * pspec);
static void gst_zb_sink_get_property (GObject * object, guint prop_id,
    GValue * value, GParamSpec * pspec);
static void gst_zb_sink_dispose (GObject * object);
static void gst_zb_sink_finalize (GObject * object);
static gboolean gst_zb_sink_start (GstBaseSink * bsink);
static gboolean gst_zb_sink_stop (GstBaseSink * bsink);
static gboolean gst_zb_sink_unlock (GstBaseSink * bsink);
static gboolean gst_zb_sink_unlock_stop (GstBaseSink * bsink);
static gboolean gst_zb_sink_set_caps (GstBaseSink * bsink, GstCaps * caps);
static GstFlowReturn gst_zb_sink_wait_event (GstBaseSink * bsink,
    GstEvent * event);
static gboolean gst_zb_sink_propose_allocation (GstBaseSink * bsink,
    GstQuery * query);
static GstFlowReturn gst_zb_sink_render (GstBaseSink * bsink,
    GstBuffer * buffer);

static void
gst_zb_sink_class_init (GstZbSinkClass * klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstBaseSinkClass *basesink_class = GST_BASE_SINK_CLASS (klass);

  gobject_class->set_property = gst_zb_sink_set_property;
  gobject_class->get_property = gst_zb_sink_get_property;
  gobject_class->dispose = gst_zb_sink_dispose;
  gobject_class->finalize = gst_zb_sink_finalize;

  g_object_class_install_property (gobject_class, PROP_BUFFER_NAME,
      g_param_spec_string ("buffer-name", "Buffer name",
          "Name of the shared-memory buffer created by the reader (zbsrc)",
          DEFAULT_BUFFER_NAME, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class, PROP_CHANNEL_NAME,
      g_param_spec_string ("channel-name", "Channel name",
          "Duplex channel to answer: write the responses of a zbsrc "
          "channel-name=NAME of this pipeline to NAME_response, one per "
          "request, in order (a fan-in client NAME@ID's to "
          "NAME@ID_response); excludes buffer-name (set sync=false too, so "
          "that responses go out as soon as they are ready)", NULL,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class, PROP_ZERO_COPY,
      g_param_spec_boolean ("zero-copy", "Zero copy",
          "Propose a buffer pool whose blocks lie in shared memory beside "
          "the ring (frame-format=gst): buffers upstream fills from it travel "
          "as small pool records, without a copy, and may be held as long as "
          "upstream likes; anything else is copied into the ring. false: "
          "propose no pool, always copy",
          DEFAULT_ZERO_COPY, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (gobject_class, PROP_COPY_THREADS,
      g_param_spec_uint ("copy-threads", "Copy threads",
          "Threads that copy a frame of a megabyte or more into the ring "
          "when frames come back to back: 1 = the streaming thread alone "
          "(no helper threads); N = the streaming thread and N - 1 helpers; "
          "0 = one per processor, at most 4", 0, 64, DEFAULT_COPY_THREADS,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class, PROP_FRAME_FORMAT,
      g_param_spec_enum ("frame-format", "Frame format",
          "Layout of each frame: gst = 80-byte header with timestamps and "
          "flags, caps changes and EOS in-band; raw = bare bytes (video rows "
          "packed tightly), EOS by disconnecting, caps changes refused",
          GST_TYPE_ZB_FRAME_FORMAT, DEFAULT_FRAME_FORMAT,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class, PROP_CONNECT_TIMEOUT,
      g_param_spec_int ("connect-timeout", "Connect timeout",
          "Milliseconds to wait for the reader's buffer to appear before "
          "posting an error (-1 = wait indefinitely; the wait is always "
          "interrupted by flushing or a state change)", -1, G_MAXINT,
          DEFAULT_CONNECT_TIMEOUT, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (gobject_class, PROP_ON_READER_LOST,
      g_param_spec_enum ("on-reader-lost", "On reader lost",
          "What to do when the reader stops or dies",
          GST_TYPE_ZB_READER_LOST, DEFAULT_ON_READER_LOST,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (gobject_class, PROP_LEAKY,
      g_param_spec_boolean ("leaky", "Leaky",
          "Drop the buffer when the ring is full instead of blocking until "
          "the reader frees space", DEFAULT_LEAKY,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (gobject_class, PROP_WRITE_TIMEOUT,
      g_param_spec_int ("write-timeout", "Write timeout",
          "Milliseconds to block on a full ring before posting an error "
          "(0 = block as long as the reader is alive)", 0, G_MAXINT,
          DEFAULT_WRITE_TIMEOUT, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (gobject_class, PROP_ALLOW_UID,
      g_param_spec_int ("allow-uid", "Allow uid",
          "Also write to a buffer created by this user (uid); -1 = only "
          "buffers of our own user or root. A buffer of any other user is "
          "refused, so that frames never go to a squatter", -1, G_MAXINT,
          DEFAULT_ALLOW_UID, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));

  /**
   * GstZbSink:reader-policy:
   *
   * What a full ring of one reader of NAME@ID does to a frame: drop (that
   * reader misses it, at once), block (wait up to #GstZbSink:reader-timeout,
   * then skip that reader without waiting until its ring has room again),
   * or auto (drop for a live upstream, block otherwise). A stuck reader
   * never stalls the others for longer than one reader-timeout. The
   * reader of NAME follows #GstZbSink:leaky instead.
   *
   * Since: 0.3
   */
  g_object_class_install_property (gobject_class, PROP_READER_POLICY,
      g_param_spec_enum ("reader-policy", "Reader policy",
          "What a full ring of a reader of NAME@ID does to a frame: drop = it "
          "misses it at once; block = wait up to reader-timeout, then skip "
          "that reader until it has room; auto = drop for a live upstream, "
          "else block", GST_TYPE_ZB_READER_POLICY, DEFAULT_READER_POLICY,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (gobject_class, PROP_READER_TIMEOUT,
      g_param_spec_int ("reader-timeout", "Reader timeout",
          "reader-policy=block: milliseconds to wait for a reader of NAME@ID "
          "whose ring is full before skipping it (0 = as long as it lives); "
          "channel-name: for a fan-in client before dropping it",
          0, G_MAXINT, DEFAULT_READER_TIMEOUT,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (gobject_class, PROP_READERS,
      g_param_spec_uint ("readers", "Readers",
          "Readers connected now: the reader of NAME and those of NAME@ID",
          0, G_MAXUINT, 0, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));

  /**
   * GstZbSink:stats:
   *
   * Counters since start, as a "zbsink-stats" structure: frames-sent and
   * bytes-sent (buffers written, bytes without headers), drops (leaky with
   * a full ring, or no reader with on-reader-lost=drop), zero-copy-frames
   * (buffers sent as pool records, without a copy: upstream filled them
   * in a block of zbsink's pool), pool-fallbacks (buffers the pool handed
   * out as plain memory because every block was in use), in-place-answers
   * (channel-name: responses answered in place, as a 40-byte record
   * naming the bytes in the client's request ring: the buffer was
   * zbsrc's memory of the very request it answers), and the connection:
   * connected, reader-pid (0 when not connected), utilisation (fraction
   * of the ring in use, 0..1). These counters are the reader of NAME's.
   * readers: an array with a "zbsink-reader" structure per connected
   * reader, the reader of NAME first: name, reader-id (readers of
   * NAME@ID), pid, frames, drops, bytes, stalled, utilisation.
   *
   * Since: 0.2
   */
  g_object_class_install_property (gobject_class, PROP_STATS,
      g_param_spec_boxed ("stats", "Statistics",
          "Counters since start: frames-sent, bytes-sent, drops, "
          "zero-copy-frames, pool-fallbacks, in-place-answers, connected, "
          "reader-pid, utilisation, readers (name, pid, frames, drops, "
          "bytes of each)",
          GST_TYPE_STRUCTURE, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));

  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_set_static_metadata (element_class,
      "ZeroBuffer sink", "Sink",
      "Send buffers, caps, timestamps and EOS to a zbsrc in another process "
      "through shared memory", GST_ZB_AUTHOR);

  basesink_class->start = GST_DEBUG_FUNCPTR (gst_zb_sink_start);
  basesink_class->stop = GST_DEBUG_FUNCPTR (gst_zb_sink_stop);
  basesink_class->unlock = GST_DEBUG_FUNCPTR (gst_zb_sink_unlock);
  basesink_class->unlock_stop = GST_DEBUG_FUNCPTR (gst_zb_sink_unlock_stop);
  basesink_class->set_caps = GST_DEBUG_FUNCPTR (gst_zb_sink_set_caps);
  basesink_class->wait_event = GST_DEBUG_FUNCPTR (gst_zb_sink_wait_event);
  basesink_class->propose_allocation =
      GST_DEBUG_FUNCPTR (gst_zb_sink_propose_allocation);
  basesink_class->render = GST_DEBUG_FUNCPTR (gst_zb_sink_render);

  gst_type_mark_as_plugin_api (GST_TYPE_ZB_FRAME_FORMAT, 0);
  gst_type_mark_as_plugin_api (GST_TYPE_ZB_READER_LOST, 0);
  gst_type_mark_as_plugin_api (GST_TYPE_ZB_READER_POLICY, 0);

  GST_DEBUG_CATEGORY_INIT (gst_zb_sink_debug, "zbsink", 0, "ZeroBuffer sink");
}

static void
gst_zb_sink_init (GstZbSink * self)
{
  self->buffer_name = g_strdup (DEFAULT_BUFFER_NAME);
  self->frame_format = DEFAULT_FRAME_FORMAT;
  self->connect_timeout = DEFAULT_CONNECT_TIMEOUT;
  self->on_reader_lost = DEFAULT_ON_READER_LOST;
  self->leaky = DEFAULT_LEAKY;
  self->write_timeout = DEFAULT_WRITE_TIMEOUT;
  self->allow_uid = DEFAULT_ALLOW_UID;
  self->zero_copy = DEFAULT_ZERO_COPY;
  self->copy_threads = DEFAULT_COPY_THREADS;
  self->reader_policy = DEFAULT_READER_POLICY;
  self->reader_timeout = DEFAULT_READER_TIMEOUT;
  g_mutex_init (&self->writer_lock);
  self->pool_conn = gst_zb_pool_conn_new ();
  self->sent_segments = g_ptr_array_new_with_free_func ((GDestroyNotify)
      gst_zb_pool_segment_unref);
}

static void
gst_zb_sink_dispose (GObject * object)
{
  GstZbSink *self = GST_ZB_SINK (object);

  if (self->pool) {
    gst_object_unref (self->pool);
    self->pool = NULL;
  }
  gst_caps_replace (&self->pool_caps, NULL);
  G_OBJECT_CLASS (parent_class)->dispose (object);
}

static void
gst_zb_sink_finalize (GObject * object)
{
  GstZbSink *self = GST_ZB_SINK (object);

  g_free (self->buffer_name);
  g_free (self->channel_name);
  g_free (self->conn_name);
  gst_caps_replace (&self->caps, NULL);
  gst_caps_replace (&self->sent_caps, NULL);
  gst_zb_pool_conn_unref (self->pool_conn);
  g_ptr_array_unref (self->sent_segments);
  g_mutex_clear (&self->writer_lock);
  g_free (self->pipeline_error);
  g_free (self->pipeline_error_debug);

  G_OBJECT_CLASS (parent_class)->finalize (object);
}

static void
gst_zb_sink_set_property (GObject * object, guint prop_id,
    const GValue * value, GParamSpec * pspec)
{
  GstZbSink *self = GST_ZB_SINK (object);

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_BUFFER_NAME:
      g_free (self->buffer_name);
      self->buffer_name = g_value_dup_string (value);
      break;
    case PROP_CHANNEL_NAME:
      g_free (self->channel_name);
      self->channel_name = g_value_dup_string (value);
      break;
    case PROP_FRAME_FORMAT:
      self->frame_format = g_value_get_enum (value);
      break;
    case PROP_ZERO_COPY:
      self->zero_copy = g_value_get_boolean (value);
      break;
    case PROP_COPY_THREADS:
      self->copy_threads = g_value_get_uint (value);
      break;
    case PROP_CONNECT_TIMEOUT:
      self->connect_timeout = g_value_get_int (value);
      break;
    case PROP_ON_READER_LOST:
      self->on_reader_lost = g_value_get_enum (value);
      break;
    case PROP_LEAKY:
      self->leaky = g_value_get_boolean (value);
      break;
    case PROP_WRITE_TIMEOUT:
      self->write_timeout = g_value_get_int (value);
      break;
    case PROP_READER_POLICY:
      self->reader_policy = g_value_get_enum (value);
      break;
    case PROP_READER_TIMEOUT:
      self->reader_timeout = g_value_get_int (value);
      break;
    case PROP_ALLOW_UID:
      self->allow_uid = g_value_get_int (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_zb_sink_get_property (GObject * object, guint prop_id, GValue * value,
    GParamSpec * pspec)
{
  GstZbSink *self = GST_ZB_SINK (object);
  zb_status status;
  guint64 fallbacks;
  GValue readers = G_VALUE_INIT;

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_BUFFER_NAME:
      g_value_set_string (value, self->buffer_name);
      break;
    case PROP_CHANNEL_NAME:
      g_value_set_string (value, self->channel_name);
      break;
    case PROP_FRAME_FORMAT:
      g_value_set_enum (value, self->frame_format);
      break;
    case PROP_ZERO_COPY:
      g_value_set_boolean (value, self->zero_copy);
      break;
    case PROP_COPY_THREADS:
      g_value_set_uint (value, self->copy_threads);
      break;
    case PROP_CONNECT_TIMEOUT:
      g_value_set_int (value, self->connect_timeout);
      break;
    case PROP_ON_READER_LOST:
      g_value_set_enum (value, self->on_reader_lost);
      break;
    case PROP_LEAKY:
      g_value_set_boolean (value, self->leaky);
      break;
    case PROP_WRITE_TIMEOUT:
      g_value_set_int (value, self->write_timeout);
      break;
    case PROP_READER_POLICY:
      g_value_set_enum (value, self->reader_policy);
      break;
    case PROP_READER_TIMEOUT:
      g_value_set_int (value, self->reader_timeout);
      break;
    case PROP_READERS:
      g_value_set_uint (value, (self->connected ? 1 : 0) +
          gst_zb_sink_outputs_count (self->outputs));
      break;
    case PROP_ALLOW_UID:
      g_value_set_int (value, self->allow_uid);
      break;
    case PROP_STATS:
      /* zb_writer_get_status() is a lock-free snapshot */
      if (self->writer == NULL || zb_writer_get_status (self->writer,
              &status) < 0)
        status.utilisation = 0.0;
      fallbacks = self->pool ? gst_zb_sink_pool_get_fallbacks (self->pool) : 0;
      g_value_init (&readers, GST_TYPE_ARRAY);
      if (self->connected) {
        GstZbReaderStats st = {
          .name = self->conn_name,
          .pid = self->reader_pid,
          .frames = self->frames,
          .drops = self->drops,
          .bytes = self->bytes,
          .zero_copy = self->in_place,
          .utilisation = status.utilisation,
        };

        gst_zb_sink_reader_stats_append (&readers, &st);
      }
      gst_zb_sink_outputs_append_stats (self->outputs, &readers);
      g_value_take_boxed (value, gst_structure_new ("zbsink-stats",
              "frames-sent", G_TYPE_UINT64, self->frames,
              "bytes-sent", G_TYPE_UINT64, self->bytes,
              "drops", G_TYPE_UINT64, self->drops,
              "zero-copy-frames", G_TYPE_UINT64, self->in_place,
              "pool-fallbacks", G_TYPE_UINT64, fallbacks,
              "pool-copies", G_TYPE_UINT64, self->pool_copies,
              "in-place-answers", G_TYPE_UINT64, self->in_place_answers,
              "connected", G_TYPE_BOOLEAN, self->connected,
              "reader-pid", G_TYPE_UINT64, self->reader_pid,
              "utilisation", G_TYPE_DOUBLE,
              CLAMP (status.utilisation, 0.0, 1.0), NULL));
      gst_structure_take_value (g_value_get_boxed (value), "readers", &readers);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

/* ------------------------------------------------------------------ */

static gboolean
gst_zb_sink_start (GstBaseSink * bsink)
{
  GstZbSink *self = GST_ZB_SINK (bsink);
  GstZbShmWatch *watch;
  GstZbSinkOutputs *outputs = NULL;
  gchar *name = NULL;
  guint threads;
  gint allow_uid;
  int ret;

  GST_OBJECT_LOCK (self);
  if (self->channel_name && self->buffer_name) {
    GST_OBJECT_UNLOCK (self);
    goto both_names;
  }
  self->chan_mode = self->channel_name != NULL;
  self->chan_generation = 0;
  self->chan_expected = 1;
  self->chan_sending = 0;
  self->chan_dropped = 0;
  self->chan_fanin = FALSE;
  /* a duplex channel's response buffer is created by the client */
  if (self->channel_name)
    name = g_strdup_printf ("%s_response", self->channel_name);
  else
    name = g_strdup (self->buffer_name);
  self->format = self->frame_format;
  self->frames = self->bytes = self->drops = self->in_place = 0;
  self->pool_copies = 0;
  self->in_place_answers = 0;
  self->reader_pid = 0;
  self->connected = FALSE;
  threads = self->copy_threads;
  allow_uid = self->allow_uid;
  GST_OBJECT_UNLOCK (self);

  self->reader_lost = FALSE;
  self->ever_connected = FALSE;
  self->live_known = FALSE;
  gst_zb_key_wait_start (&self->key, NULL);
  gst_caps_replace (&self->sent_caps, NULL);

  if (name == NULL || *name == '\0')
    goto no_name;
  ret = zb_name_check (name);
  if (ret < 0)
    goto bad_name;

  /* pool segments that a killed writer of this buffer left behind */
  if (!self->chan_mode)
    gst_zb_pool_shm_sweep (name, 0);
  if (threads == 0)
    threads = MIN (g_get_num_processors (), AUTO_COPY_THREADS_MAX);
  self->copier = gst_zb_copier_new (threads);
  g_free (self->conn_name);
  self->conn_name = name;
  watch = gst_zb_shm_watch_new (name);
  /* the readers of NAME@ID; a name with '@' is one reader's buffer */
  if (!self->chan_mode && strchr (name, '@') == NULL)
    outputs = gst_zb_sink_outputs_new (self, name, allow_uid, self->format);
  GST_OBJECT_LOCK (self);
  self->watch = watch;
  self->outputs = outputs;
  gst_zb_sink_outputs_set_flushing (outputs, self->unlocked);
  gst_zb_shm_watch_set_flushing (watch, self->unlocked);
  GST_OBJECT_UNLOCK (self);
  self->eos_sent = FALSE;
  gst_zb_sink_error_clear (self);
  gst_zb_sink_error_watch_start (self);
  return TRUE;

  /* ERRORS */
both_names:
  {
    GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
        ("Set either buffer-name or channel-name, not both."), (NULL));
    return FALSE;
  }
no_name:
  {
    GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
        ("No buffer name set: set the buffer-name property."), (NULL));
    g_free (name);
    return FALSE;
  }
bad_name:
  {
    GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
        ("Invalid buffer name \"%s\".", name), ("%s", zb_strerror (ret)));
    g_free (name);
    return FALSE;
  }
}


/* How long stop() waits for a reading reader to read the frames whose
 * bytes lie in our pool segments (they go with us). */
#define STOP_DRAIN_MS 1000

static gboolean
gst_zb_sink_stop (GstBaseSink * bsink)
{
  GstZbSink *self = GST_ZB_SINK (bsink);
  GstZbShmWatch *watch;
  GstZbSinkOutputs *outputs;

  /* frames in our pool segments that the reader has yet to read */
  gst_zb_sink_drain_segments (self, STOP_DRAIN_MS);
  /* a pipeline that failed: the reader learns why */
  gst_zb_sink_error_send (self);
  gst_zb_sink_error_watch_stop (self);
  GST_OBJECT_LOCK (self);
  outputs = self->outputs;
  self->outputs = NULL;
  GST_OBJECT_UNLOCK (self);
  gst_zb_sink_outputs_free (outputs);
  gst_zb_sink_disconnect (self);
  gst_zb_copier_free (self->copier);
  self->copier = NULL;
  gst_zb_clock_cache_clear (&self->clock_cache);
  gst_caps_replace (&self->caps, NULL);
  /* the reader may not have read the last records: a segment's name goes
   * with the pool, or now when nobody holds its blocks */
  g_ptr_array_set_size (self->sent_segments, 0);
  /* fan-in: the connections to the other clients */
  gst_zb_sink_clients_clear (self);
  if (self->channel) {
    gst_zb_channel_unref (self->channel);
    self->channel = NULL;
  }
  GST_OBJECT_LOCK (self);
  watch = self->watch;
  self->watch = NULL;
  GST_OBJECT_UNLOCK (self);
  gst_zb_shm_watch_free (watch);
  return TRUE;
}

static gboolean
gst_zb_sink_unlock (GstBaseSink * bsink)
{
  GstZbSink *self = GST_ZB_SINK (bsink);
  GST_OBJECT_LOCK (self);
  self->unlocked = TRUE;
  if (self->writer)
    zb_writer_wakeup (self->writer);
  if (self->watch)
    gst_zb_shm_watch_set_flushing (self->watch, TRUE);
  gst_zb_sink_outputs_set_flushing (self->outputs, TRUE);
  GST_OBJECT_UNLOCK (self);
  return TRUE;
}

static gboolean
gst_zb_sink_unlock_stop (GstBaseSink * bsink)
{
  GstZbSink *self = GST_ZB_SINK (bsink);
  GST_OBJECT_LOCK (self);
  self->unlocked = FALSE;
  if (self->writer)
    zb_writer_wakeup_clear (self->writer);
  if (self->watch)
    gst_zb_shm_watch_set_flushing (self->watch, FALSE);
  gst_zb_sink_outputs_set_flushing (self->outputs, FALSE);
  GST_OBJECT_UNLOCK (self);
  return TRUE;
}


/* ------------------------------------------------------------------ */
/* Caps and layouts */

static gboolean
gst_zb_sink_set_caps (GstBaseSink * bsink, GstCaps * caps)
{
  GstZbSink *self = GST_ZB_SINK (bsink);
  GstStructure *s;

  GST_DEBUG_OBJECT (self, "caps %" GST_PTR_FORMAT, caps);

  /* a duplex channel checks caps changes per client in gst_zb_sink_channel_check() */
  if (!self->chan_mode && self->format == GST_ZB_FRAME_FORMAT_RAW &&
      self->writer && self->sent_caps &&
      !gst_caps_is_equal (caps, self->sent_caps))
    goto raw_caps_change;

  s = gst_caps_get_structure (caps, 0);
  self->is_video = FALSE;
  if (gst_structure_has_name (s, "video/x-raw") &&
      gst_video_info_from_caps (&self->vinfo, caps) &&
      GST_VIDEO_INFO_FORMAT (&self->vinfo) != GST_VIDEO_FORMAT_ENCODED) {
    self->is_video = TRUE;
    gst_zb_video_layouts (&self->vinfo, &self->gst_layout, &self->raw_layout);
  }
  gst_caps_replace (&self->caps, caps);
  /* the metadata of readers of NAME@ID that join from now on */
  gst_zb_sink_outputs_set_caps (self->outputs, caps);
  return TRUE;

  /* ERRORS */
raw_caps_change:
  {
    gchar *old = gst_caps_to_string (self->sent_caps);
    gchar *new = gst_caps_to_string (caps);

    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION,
        ("Caps changed on buffer \"%s\", but frame-format=raw cannot carry "
            "a caps change; use frame-format=gst.", self->conn_name),
        ("old caps %s, new caps %s", old, new));
    g_free (old);
    g_free (new);
    return FALSE;
  }
}

static gboolean
gst_zb_sink_propose_allocation (GstBaseSink * bsink, GstQuery * query)
{
  GstZbSink *self = GST_ZB_SINK (bsink);
  GstBufferPool *pool;
  GstCaps *caps;
  gboolean zero_copy, need_pool;
  gchar *name;

  /* we read any layout through GstVideoMeta and repack it */
  gst_query_add_allocation_meta (query, GST_VIDEO_META_API_TYPE, NULL);

  GST_OBJECT_LOCK (self);
  zero_copy = self->zero_copy;
  name = g_strdup (self->conn_name ? self->conn_name : self->buffer_name);
  GST_OBJECT_UNLOCK (self);
  gst_query_parse_allocation (query, &caps, &need_pool);
  /* the pool's blocks travel as pool records: gst format, no channel */
  if (!zero_copy || self->format != GST_ZB_FRAME_FORMAT_GST || self->chan_mode
      || caps == NULL || name == NULL)
    goto done;
  pool = gst_zb_sink_pool_for_caps (self, caps, name);
  if (pool) {
    GstStructure *config = gst_buffer_pool_get_config (pool);
    guint size;

    gst_buffer_pool_config_get_params (config, NULL, &size, NULL, NULL);
    gst_structure_free (config);
    gst_query_add_allocation_pool (query, pool, size, 2, 0);
    gst_object_unref (pool);
  }

done:
  g_free (name);
  return TRUE;
}

/* ------------------------------------------------------------------ */
/* Timestamps */

/* Running time of @ts + the pipeline latency + base time, as
 * CLOCK_MONOTONIC: the moment the writer's pipeline presents @ts. */
static guint64
to_monotonic (GstZbSink * self, GstClock * clock, gboolean mono,
    GstClockTime base, GstClockTime latency, GstClockTime ts)
{
  GstBaseSink *bsink = GST_BASE_SINK (self);
  GstClockTime rt;
  GstClockTime ctime;

  if (!GST_CLOCK_TIME_IS_VALID (ts) || bsink->segment.format != GST_FORMAT_TIME)
    return ZB_GST_NONE;
  rt = gst_segment_to_running_time (&bsink->segment, GST_FORMAT_TIME, ts);
  if (!GST_CLOCK_TIME_IS_VALID (rt))
    return ZB_GST_NONE;
  ctime = rt + base + latency;
  if (mono)
    return ctime;
  /* translate the pipeline clock into CLOCK_MONOTONIC */
  return ctime + gst_zb_monotonic_now () - gst_clock_get_time (clock);
}

static void
fill_record (GstZbSink * self, GstBuffer * buf, zb_gst_record * rec)
{
  GstClock *clock;

  gst_zb_record_from_buffer (rec, buf);

  clock = gst_element_get_clock (GST_ELEMENT (self));
  if (clock) {
    GstClockTime base = gst_element_get_base_time (GST_ELEMENT (self));
    GstClockTime latency = gst_base_sink_get_latency (GST_BASE_SINK (self));
    gboolean mono = gst_zb_clock_is_monotonic (&self->clock_cache, clock);

    if (!GST_CLOCK_TIME_IS_VALID (latency))
      latency = 0;
    rec->pts_clock = to_monotonic (self, clock, mono, base, latency, rec->pts);
    rec->dts_clock = to_monotonic (self, clock, mono, base, latency, rec->dts);
    rec->ts_flags |= ZB_GST_TS_CLOCK_VALID;
    gst_object_unref (clock);
  }
}


static GstFlowReturn
gst_zb_sink_render (GstBaseSink * bsink, GstBuffer * buffer)
{
  GstZbSink *self = GST_ZB_SINK (bsink);
  GstBuffer *copy;
  GstFlowReturn flow;
  zb_gst_record rec;

  if (self->chan_mode) {
    flow = gst_zb_sink_channel_check (self, buffer);
    if (flow == GST_FLOW_CUSTOM_SUCCESS)
      return GST_FLOW_OK;
    if (flow != GST_FLOW_OK)
      return flow;
  }
  fill_record (self, buffer, &rec);
  copy = gst_zb_sink_copy_to_pool (self, buffer);
  if (copy) {
    self->copy_mem = gst_buffer_peek_memory (copy, 0);
    buffer = copy;
  }
  flow = gst_zb_sink_send (self, &rec, buffer, TRUE);
  /* then to the readers of NAME@ID */
  if (flow == GST_FLOW_OK && self->outputs)
    flow = gst_zb_sink_outputs_write (self->outputs, &rec, buffer);
  if (copy) {
    self->copy_mem = NULL;
    if (flow == GST_FLOW_OK) {
      GST_OBJECT_LOCK (self);
      self->pool_copies++;
      GST_OBJECT_UNLOCK (self);
    }
    /* the block returns to the pool once the readers released it */
    gst_buffer_unref (copy);
  }
  if (self->chan_mode && flow == GST_FLOW_OK)
    self->chan_expected++;
  return flow;
}

/* How often the EOS wait looks at the reader's count: the library has no
 * event for a read (the reader posts to the writer only when it frees
 * space, which a reader holding frames downstream does later or never).
 * unlock() ends the wait within one poll. */
#define EOS_POLL_US 2000

/* EOS is acknowledged when the reader has read every frame written. TRUE
 * when it has (or is gone: nobody left to wait for), FALSE when unlock()
 * interrupted the wait. Called with the PREROLL_LOCK held. */
static gboolean
wait_eos_read (GstZbSink * self)
{
  zb_status status;
  gboolean unlocked;

  for (;;) {
    if (self->writer == NULL)
      return TRUE;
    if (zb_writer_get_status (self->writer, &status) < 0)
      return TRUE;
    if (status.read_count >= status.written_count)
      return TRUE;
    if (zb_writer_check_reader (self->writer) < 0)
      return TRUE;
    GST_OBJECT_LOCK (self);
    unlocked = self->unlocked;
    GST_OBJECT_UNLOCK (self);
    if (unlocked)
      return FALSE;
    g_usleep (EOS_POLL_US);
  }
}

/* Write the EOS record (gst format) and wait until the reader has read
 * everything; raw: wait, then leave. Called from wait_event with the
 * PREROLL_LOCK held, after basesink's own wait for the EOS time: OK when
 * EOS was delivered (or there is nobody to deliver it to, per
 * on-reader-lost), FLUSHING after a flush, so that basesink posts EOS only
 * for an EOS that reached the reader. PLAYING -> PAUSED waits for PLAYING
 * and goes on. */
static GstFlowReturn
send_eos (GstZbSink * self)
{
  GstFlowReturn flow;

  if (self->chan_mode) {
    /* the channel stays open for the client: nothing to send */
    return GST_FLOW_OK;
  }
  if (self->format == GST_ZB_FRAME_FORMAT_GST) {
    zb_gst_record rec;

    zb_gst_record_init (&rec, ZB_GST_RECORD_EOS);
    flow = gst_zb_sink_send (self, &rec, NULL, TRUE);
    /* each reader of NAME@ID gets it within reader-timeout */
    if (flow == GST_FLOW_OK && self->outputs)
      flow = gst_zb_sink_outputs_write (self->outputs, &rec, NULL);
    if (flow != GST_FLOW_OK) {
      GST_DEBUG_OBJECT (self, "EOS record not written: %s",
          gst_flow_get_name (flow));
      return flow;
    }
    self->eos_sent = TRUE;
  } else if (self->writer == NULL) {
    return GST_FLOW_OK;
  }
  while (!wait_eos_read (self)) {
    flow = gst_base_sink_wait_preroll (GST_BASE_SINK (self));
    if (flow != GST_FLOW_OK) {
      GST_DEBUG_OBJECT (self, "EOS wait for the reader interrupted: %s",
          gst_flow_get_name (flow));
      return flow;
    }
  }
  /* raw: EOS is the writer leaving, once everything was read */
  if (self->format != GST_ZB_FRAME_FORMAT_GST)
    gst_zb_sink_disconnect (self);
  return GST_FLOW_OK;
}

static GstFlowReturn
gst_zb_sink_wait_event (GstBaseSink * bsink, GstEvent * event)
{
  GstZbSink *self = GST_ZB_SINK (bsink);
  GstFlowReturn flow;

  flow = GST_BASE_SINK_CLASS (parent_class)->wait_event (bsink, event);
  if (flow == GST_FLOW_OK && GST_EVENT_TYPE (event) == GST_EVENT_EOS)
    flow = send_eos (self);
  return flow;
}
