/* zerobuffer GStreamer plugin - zbsrc
 *
 * SPDX-License-Identifier: MIT
 */

/**
 * SECTION:element-zbsrc
 * @title: zbsrc
 * @see_also: zbsink
 *
 * Receives buffers, caps, timestamps and EOS from a zbsink in another
 * process through a ZeroBuffer v1.0 shared-memory buffer. zbsrc is the
 * protocol's reader: it creates the buffer named #GstZbSrc:buffer-name
 * when it starts, and a zbsink (or any ZeroBuffer writer) connects to it.
 *
 * Caps come from the writer's metadata and from in-band caps records, so no
 * capsfilter is needed. Output buffers wrap the frames in the ring
 * read-only, without copying; when downstream holds more than
 * #GstZbSrc:max-held-bytes of the ring, zbsrc copies instead so that held
 * buffers never stall the writer (the `copies` field of #GstZbSrc:stats).
 * Space returns to the writer in ring order, so even the one buffer a sink
 * keeps as its last sample can leave the writer no room; when no frame has
 * come for #GstZbSrc:stall-timeout while downstream holds buffers, zbsrc
 * moves those that nobody has mapped out of the ring (the `migrations`
 * field).
 *
 * When the writer stops or dies, #GstZbSrc:on-writer-lost decides: wait for
 * a new writer (the default: the pipeline stays PLAYING and resumes with the
 * new writer's caps and frames), push EOS, or post an error.
 *
 * A flushing seek flushes the pipeline and goes on with the frames the
 * writer presents after it, in a new segment; zbsrc cannot seek to a
 * position (it answers the SEEKING query with not seekable).
 *
 * ## Example launch lines
 * |[
 * gst-launch-1.0 zbsrc buffer-name=cam ! videoconvert ! autovideosink
 * ]| Reader: shows the video written by
 * |[
 * gst-launch-1.0 videotestsrc is-live=true ! video/x-raw,format=I420,width=1280,height=720 ! zbsink buffer-name=cam
 * ]| Writer, started before or after the reader.
 * |[
 * gst-launch-1.0 zbsrc buffer-name=cam num-buffers=1 ! videoconvert ! pngenc ! filesink location=frame.png
 * ]| Writes one received frame to a PNG file.
 * |[
 * gst-launch-1.0 zbsrc buffer-name=cam reader-id=rec ! fakesink
 * ]| One of many readers of the zbsink buffer-name=cam: creates buffer
 * cam@rec, which that zbsink writes to as well (#GstZbSrc:reader-id).
 * |[
 * gst-launch-1.0 zbsrc channel-name=infer ! videoflip video-direction=180 ! zbsink channel-name=infer sync=false
 * ]| A duplex server of channel infer and, by fan-in, of every client
 * `zbfilter channel-name=infer@ID`, each with its own caps
 * (docs/duplex.md).
 *
 * Since: 0.1
 */

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstzbsrcpriv.h"
#include "gstzbchannel.h"
#include "gstzbringmem.h"
#include "gstzburi.h"
#include "zbframe.h"

#include <errno.h>
#include <string.h>

GST_DEBUG_CATEGORY (gst_zb_src_debug);
#define GST_CAT_DEFAULT gst_zb_src_debug

#define DEFAULT_BUFFER_NAME NULL
#define DEFAULT_CHANNEL_NAME NULL
#define DEFAULT_READER_ID NULL
#define DEFAULT_PAYLOAD_SIZE ((guint64) ZB_DEFAULT_PAYLOAD_SIZE)
#define DEFAULT_METADATA_SIZE ((guint64) ZB_DEFAULT_METADATA_SIZE)
#define DEFAULT_PERMS 0600
#define DEFAULT_IS_LIVE TRUE
#define DEFAULT_TIMEOUT 0
#define DEFAULT_CONNECT_TIMEOUT -1
#define DEFAULT_ON_WRITER_LOST GST_ZB_WRITER_LOST_WAIT
#define DEFAULT_ON_WRITER_ERROR GST_ZB_WRITER_ERROR_ERROR
#define DEFAULT_TIMESTAMP_MODE GST_ZB_TIMESTAMP_CLOCK
#define DEFAULT_MAX_HELD_BYTES 0
#define DEFAULT_STALL_TIMEOUT 100

enum
{
  PROP_0,
  PROP_BUFFER_NAME,
  PROP_READER_ID,
  PROP_CHANNEL_NAME,
  PROP_PAYLOAD_SIZE,
  PROP_METADATA_SIZE,
  PROP_PERMS,
  PROP_IS_LIVE,
  PROP_TIMEOUT,
  PROP_CONNECT_TIMEOUT,
  PROP_ON_WRITER_LOST,
  PROP_ON_WRITER_ERROR,
  PROP_CAPS,
  PROP_TIMESTAMP_MODE,
  PROP_MAX_HELD_BYTES,
  PROP_STALL_TIMEOUT,
  PROP_STATS
};

static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE ("src",
    GST_PAD_SRC,
    GST_PAD_ALWAYS,
    GST_STATIC_CAPS_ANY);

#define gst_zb_src_parent_class parent_class
G_DEFINE_TYPE_WITH_CODE (GstZbSrc, gst_zb_src, GST_TYPE_PUSH_SRC,
    G_IMPLEMENT_INTERFACE (GST_TYPE_URI_HANDLER, gst_zb_uri_src_handler_init));
/* PRIMARY: the zerobuffer:// source of playbin, uridecodebin and
 * urisourcebin (gst_element_make_from_uri() takes the highest rank) */
GST_ELEMENT_REGISTER_DEFINE (zbsrc, "zbsrc", GST_RANK_PRIMARY, GST_TYPE_ZB_SRC);

static void gst_zb_src_set_property (GObject * object, guint prop_id,
    const GValue * value, GParamSpec * pspec);
static void gst_zb_src_get_property (GObject * object, guint prop_id,
    GValue * value, GParamSpec * pspec);
static void gst_zb_src_finalize (GObject * object);
static gboolean gst_zb_src_start (GstBaseSrc * bsrc);
static gboolean gst_zb_src_stop (GstBaseSrc * bsrc);
static gboolean gst_zb_src_unlock (GstBaseSrc * bsrc);
static gboolean gst_zb_src_unlock_stop (GstBaseSrc * bsrc);
static GstCaps *gst_zb_src_get_caps (GstBaseSrc * bsrc, GstCaps * filter);
static gboolean gst_zb_src_negotiate (GstBaseSrc * bsrc);
static gboolean gst_zb_src_decide_allocation (GstBaseSrc * bsrc,
    GstQuery * query);
static gboolean gst_zb_src_query (GstBaseSrc * bsrc, GstQuery * query);
static gboolean gst_zb_src_is_seekable (GstBaseSrc * bsrc);
static gboolean gst_zb_src_do_seek (GstBaseSrc * bsrc, GstSegment * segment);
static GstFlowReturn gst_zb_src_create (GstPushSrc * psrc, GstBuffer ** outbuf);

static void
gst_zb_src_class_init (GstZbSrcClass * klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstBaseSrcClass *basesrc_class = GST_BASE_SRC_CLASS (klass);
  GstPushSrcClass *pushsrc_class = GST_PUSH_SRC_CLASS (klass);

  gobject_class->set_property = gst_zb_src_set_property;
  gobject_class->get_property = gst_zb_src_get_property;
  gobject_class->finalize = gst_zb_src_finalize;

  g_object_class_install_property (gobject_class, PROP_BUFFER_NAME,
      g_param_spec_string ("buffer-name", "Buffer name",
          "Name of the shared-memory buffer to create (letters, digits, "
          "'-', '_'; no '/'; at most 245 bytes)", DEFAULT_BUFFER_NAME,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));
  /**
   * GstZbSrc:reader-id:
   *
   * Read the stream of a fan-out writer as one of its many readers: create
   * buffer BUFFER-NAME@READER-ID instead of BUFFER-NAME (docs/fanout.md).
   * A zbsink buffer-name=BUFFER-NAME writes every frame to each of them.
   *
   * Since: 0.3
   */
  g_object_class_install_property (gobject_class, PROP_READER_ID,
      g_param_spec_string ("reader-id", "Reader id",
          "Be one of many readers of buffer-name: create buffer "
          "BUFFER-NAME@READER-ID, which a zbsink buffer-name=BUFFER-NAME "
          "also writes to (no '/', '@' or spaces; NULL = the single reader "
          "of BUFFER-NAME)", DEFAULT_READER_ID,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class, PROP_CHANNEL_NAME,
      g_param_spec_string ("channel-name", "Channel name",
          "Serve the duplex channel NAME: read the requests of a zbfilter "
          "from NAME_request and stamp each buffer with its request number "
          "for a zbsink channel-name=NAME of this pipeline; a NAME without "
          "'@' also serves every client NAME@ID (fan-in: their requests "
          "interleaved, a caps event where the caps change); excludes "
          "buffer-name", DEFAULT_CHANNEL_NAME,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class, PROP_PAYLOAD_SIZE,
      g_param_spec_uint64 ("payload-size", "Payload size",
          "Size of the frame ring in bytes (rounded up to 64); every frame "
          "needs 16 bytes of header plus 80 with frame-format=gst", 1,
          G_MAXUINT64 / 2, DEFAULT_PAYLOAD_SIZE,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class, PROP_METADATA_SIZE,
      g_param_spec_uint64 ("metadata-size", "Metadata size",
          "Size of the metadata block in bytes (rounded up to 64); holds the "
          "writer's caps as JSON", 0, G_MAXUINT64 / 2, DEFAULT_METADATA_SIZE,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class, PROP_PERMS,
      g_param_spec_uint ("perms", "Permissions",
          "Permission bits of the shared memory, semaphores and lock file "
          "(octal, e.g. 0600 owner only, 0660 group)", 0, 0777, DEFAULT_PERMS,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class, PROP_IS_LIVE,
      g_param_spec_boolean ("is-live", "Is live",
          "Act as a live source (produce only in PLAYING, answer the latency "
          "query, map timestamps through the clock, drop frames presented "
          "before the base time); not live: the writer's timestamps",
          DEFAULT_IS_LIVE,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class, PROP_TIMEOUT,
      g_param_spec_int ("timeout", "Timeout",
          "Milliseconds without a frame after which a connected writer is "
          "considered gone and on-writer-lost applies (0 = never; a writer "
          "that disconnects or dies is detected without it)", 0, G_MAXINT,
          DEFAULT_TIMEOUT, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_PLAYING));
  /**
   * GstZbSrc:connect-timeout:
   *
   * Fail fast when no writer ever comes: an error when none has sent a
   * frame this long after the start.
   *
   * Since: 0.2
   */
  g_object_class_install_property (gobject_class, PROP_CONNECT_TIMEOUT,
      g_param_spec_int ("connect-timeout", "Connect timeout",
          "Milliseconds after the start within which a writer must send its "
          "first frame, else an error is posted (-1 = wait indefinitely; "
          "once a writer was there, timeout and on-writer-lost apply)", -1,
          G_MAXINT, DEFAULT_CONNECT_TIMEOUT, G_PARAM_READWRITE |
          G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (gobject_class, PROP_ON_WRITER_LOST,
      g_param_spec_enum ("on-writer-lost", "On writer lost",
          "What to do when the writer disconnects, dies or times out",
          GST_TYPE_ZB_WRITER_LOST, DEFAULT_ON_WRITER_LOST,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (gobject_class, PROP_ON_WRITER_ERROR,
      g_param_spec_enum ("on-writer-error", "On writer error",
          "What to do when the writer's pipeline failed (gst frame format: "
          "the writer sends its error before it leaves)",
          GST_TYPE_ZB_WRITER_ERROR, DEFAULT_ON_WRITER_ERROR,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (gobject_class, PROP_CAPS,
      g_param_spec_boxed ("caps", "Caps",
          "Caps of the stream for writers that send none (metadata without "
          "caps); when neither gives caps, application/octet-stream",
          GST_TYPE_CAPS, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class, PROP_TIMESTAMP_MODE,
      g_param_spec_enum ("timestamp-mode", "Timestamp mode",
          "How a live source makes output timestamps: clock = the writer's "
          "running time carried through CLOCK_MONOTONIC, passthrough = the "
          "writer's PTS/DTS as they were (a new segment per writer and when "
          "they go backwards), arrival = running time when the frame is read",
          GST_TYPE_ZB_TIMESTAMP_MODE, DEFAULT_TIMESTAMP_MODE,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (gobject_class, PROP_MAX_HELD_BYTES,
      g_param_spec_uint64 ("max-held-bytes", "Max held bytes",
          "Bytes of the ring that downstream may hold in zero-copy buffers "
          "before new frames are copied instead (0 = half the ring); frames "
          "are also copied while downstream holds more than 2 earlier "
          "copies (a backlog in a queue)", 0,
          G_MAXUINT64, DEFAULT_MAX_HELD_BYTES,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (gobject_class, PROP_STALL_TIMEOUT,
      g_param_spec_int ("stall-timeout", "Stall timeout",
          "Milliseconds without a frame from a connected writer while "
          "downstream holds buffers in the ring, after which those that "
          "nobody has mapped are copied out of the ring so that the writer "
          "can go on (0 = never; counted in the migrations field of stats)",
          0, G_MAXINT, DEFAULT_STALL_TIMEOUT,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_PLAYING));
  /**
   * GstZbSrc:stats:
   *
   * Statistics since start, a #GstStructure named "zbsrc-stats" with the
   * fields frames-received, bytes-received, copies, migrations,
   * frames-dropped, held-bytes, pinned-buffers (#guint64), writer-pid
   * (#guint64, 0 for none) and connected (#gboolean).
   *
   * Since: 0.1
   */
  g_object_class_install_property (gobject_class, PROP_STATS,
      g_param_spec_boxed ("stats", "Statistics",
          "Statistics since start: frames-received, bytes-received, copies, "
          "migrations, frames-dropped, held-bytes, pinned-buffers, "
          "writer-pid, connected", GST_TYPE_STRUCTURE,
          G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));

  gst_element_class_add_static_pad_template (element_class, &src_template);
  gst_element_class_set_static_metadata (element_class,
      "ZeroBuffer source", "Source",
      "Receive buffers, caps, timestamps and EOS from a zbsink in another "
      "process through shared memory", GST_ZB_AUTHOR);

  basesrc_class->start = GST_DEBUG_FUNCPTR (gst_zb_src_start);
  basesrc_class->stop = GST_DEBUG_FUNCPTR (gst_zb_src_stop);
  basesrc_class->unlock = GST_DEBUG_FUNCPTR (gst_zb_src_unlock);
  basesrc_class->unlock_stop = GST_DEBUG_FUNCPTR (gst_zb_src_unlock_stop);
  basesrc_class->get_caps = GST_DEBUG_FUNCPTR (gst_zb_src_get_caps);
  basesrc_class->negotiate = GST_DEBUG_FUNCPTR (gst_zb_src_negotiate);
  basesrc_class->decide_allocation =
      GST_DEBUG_FUNCPTR (gst_zb_src_decide_allocation);
  basesrc_class->query = GST_DEBUG_FUNCPTR (gst_zb_src_query);
  basesrc_class->is_seekable = GST_DEBUG_FUNCPTR (gst_zb_src_is_seekable);
  basesrc_class->do_seek = GST_DEBUG_FUNCPTR (gst_zb_src_do_seek);
  pushsrc_class->create = GST_DEBUG_FUNCPTR (gst_zb_src_create);

  gst_type_mark_as_plugin_api (GST_TYPE_ZB_WRITER_LOST, 0);
  gst_type_mark_as_plugin_api (GST_TYPE_ZB_WRITER_ERROR, 0);
  gst_type_mark_as_plugin_api (GST_TYPE_ZB_TIMESTAMP_MODE, 0);

  GST_DEBUG_CATEGORY_INIT (gst_zb_src_debug, "zbsrc", 0, "ZeroBuffer source");
}

static void
gst_zb_src_init (GstZbSrc * self)
{
  self->buffer_name = g_strdup (DEFAULT_BUFFER_NAME);
  self->channel_name = g_strdup (DEFAULT_CHANNEL_NAME);
  self->payload_size = DEFAULT_PAYLOAD_SIZE;
  self->metadata_size = DEFAULT_METADATA_SIZE;
  self->perms = DEFAULT_PERMS;
  self->timeout = DEFAULT_TIMEOUT;
  self->connect_timeout = DEFAULT_CONNECT_TIMEOUT;
  self->on_writer_lost = DEFAULT_ON_WRITER_LOST;
  self->on_writer_error = DEFAULT_ON_WRITER_ERROR;
  self->timestamp_mode = DEFAULT_TIMESTAMP_MODE;
  self->max_held_bytes = DEFAULT_MAX_HELD_BYTES;
  self->stall_timeout = DEFAULT_STALL_TIMEOUT;
  self->frame_duration = GST_CLOCK_TIME_NONE;

  gst_base_src_set_live (GST_BASE_SRC (self), DEFAULT_IS_LIVE);
  gst_base_src_set_format (GST_BASE_SRC (self), GST_FORMAT_TIME);
}

static void
gst_zb_src_finalize (GObject * object)
{
  GstZbSrc *self = GST_ZB_SRC (object);

  g_free (self->buffer_name);
  g_free (self->reader_id);
  g_free (self->channel_name);
  g_free (self->name);
  g_free (self->chan);
  gst_caps_replace (&self->caps, NULL);
  gst_caps_replace (&self->writer_caps, NULL);
  gst_zb_src_raw_video_clear (&self->raw);

  G_OBJECT_CLASS (parent_class)->finalize (object);
}

static void
gst_zb_src_set_property (GObject * object, guint prop_id,
    const GValue * value, GParamSpec * pspec)
{
  GstZbSrc *self = GST_ZB_SRC (object);

  if (prop_id == PROP_IS_LIVE) {
    gst_base_src_set_live (GST_BASE_SRC (self), g_value_get_boolean (value));
    return;
  }

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_BUFFER_NAME:
      g_free (self->buffer_name);
      self->buffer_name = g_value_dup_string (value);
      break;
    case PROP_READER_ID:
      g_free (self->reader_id);
      self->reader_id = g_value_dup_string (value);
      break;
    case PROP_CHANNEL_NAME:
      g_free (self->channel_name);
      self->channel_name = g_value_dup_string (value);
      break;
    case PROP_PAYLOAD_SIZE:
      self->payload_size = g_value_get_uint64 (value);
      break;
    case PROP_METADATA_SIZE:
      self->metadata_size = g_value_get_uint64 (value);
      break;
    case PROP_PERMS:
      self->perms = g_value_get_uint (value);
      break;
    case PROP_TIMEOUT:
      self->timeout = g_value_get_int (value);
      break;
    case PROP_CONNECT_TIMEOUT:
      self->connect_timeout = g_value_get_int (value);
      break;
    case PROP_ON_WRITER_LOST:
      self->on_writer_lost = g_value_get_enum (value);
      break;
    case PROP_ON_WRITER_ERROR:
      self->on_writer_error = g_value_get_enum (value);
      break;
    case PROP_CAPS:
      gst_caps_replace (&self->caps, (GstCaps *) gst_value_get_caps (value));
      break;
    case PROP_TIMESTAMP_MODE:
      self->timestamp_mode = g_value_get_enum (value);
      break;
    case PROP_MAX_HELD_BYTES:
      self->max_held_bytes = g_value_get_uint64 (value);
      break;
    case PROP_STALL_TIMEOUT:
      self->stall_timeout = g_value_get_int (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

/* The stats property; call with GST_OBJECT_LOCK. */
static GstStructure *
make_stats (GstZbSrc * self)
{
  GstZbReaderRef *ref = self->ref;

  return gst_structure_new ("zbsrc-stats",
      "frames-received", G_TYPE_UINT64, self->frames,
      "bytes-received", G_TYPE_UINT64, self->bytes,
      "copies", G_TYPE_UINT64, self->copies,
      "migrations", G_TYPE_UINT64, self->migrations,
      "frames-dropped", G_TYPE_UINT64, self->dropped,
      "held-bytes", G_TYPE_UINT64,
      (guint64) (ref ? zb_reader_held_bytes (ref->reader) : 0),
      "pinned-buffers", G_TYPE_UINT64,
      (guint64) (ref ? gst_zb_ring_allocator_n_pinned (ref->alloc) : 0),
      "writer-pid", G_TYPE_UINT64, self->writer_pid,
      "connected", G_TYPE_BOOLEAN, self->connected, NULL);
}

static void
gst_zb_src_get_property (GObject * object, guint prop_id, GValue * value,
    GParamSpec * pspec)
{
  GstZbSrc *self = GST_ZB_SRC (object);

  if (prop_id == PROP_IS_LIVE) {
    g_value_set_boolean (value, gst_base_src_is_live (GST_BASE_SRC (self)));
    return;
  }

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_BUFFER_NAME:
      g_value_set_string (value, self->buffer_name);
      break;
    case PROP_READER_ID:
      g_value_set_string (value, self->reader_id);
      break;
    case PROP_CHANNEL_NAME:
      g_value_set_string (value, self->channel_name);
      break;
    case PROP_PAYLOAD_SIZE:
      g_value_set_uint64 (value, self->payload_size);
      break;
    case PROP_METADATA_SIZE:
      g_value_set_uint64 (value, self->metadata_size);
      break;
    case PROP_PERMS:
      g_value_set_uint (value, self->perms);
      break;
    case PROP_TIMEOUT:
      g_value_set_int (value, self->timeout);
      break;
    case PROP_CONNECT_TIMEOUT:
      g_value_set_int (value, self->connect_timeout);
      break;
    case PROP_ON_WRITER_LOST:
      g_value_set_enum (value, self->on_writer_lost);
      break;
    case PROP_ON_WRITER_ERROR:
      g_value_set_enum (value, self->on_writer_error);
      break;
    case PROP_CAPS:
      gst_value_set_caps (value, self->caps);
      break;
    case PROP_TIMESTAMP_MODE:
      g_value_set_enum (value, self->timestamp_mode);
      break;
    case PROP_MAX_HELD_BYTES:
      g_value_set_uint64 (value, self->max_held_bytes);
      break;
    case PROP_STALL_TIMEOUT:
      g_value_set_int (value, self->stall_timeout);
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
/* States */

/* reader-id needs a buffer-name without '@' and a good id. Frees @stream
 * and @id. */
static gboolean
check_reader_id (GstZbSrc * self, gboolean chan, gchar * stream, gchar * id)
{
  const gchar *problem = gst_zb_reader_id_problem (id);
  gboolean ok = FALSE;

  if (chan)
    GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
        ("reader-id applies to buffer-name, not to channel-name."), (NULL));
  else if (problem)
    GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
        ("Invalid reader-id \"%s\": %s.", id, problem), (NULL));
  else if (stream && strchr (stream, '@'))
    GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
        ("With reader-id, buffer-name names the stream and has no '@' "
            "(buffer-name=\"%s\").", stream), (NULL));
  else
    ok = TRUE;
  g_free (stream);
  g_free (id);
  return ok;
}

static gboolean
gst_zb_src_start (GstBaseSrc * bsrc)
{
  GstZbSrc *self = GST_ZB_SRC (bsrc);
  zb_reader_config config;
  zb_reader *reader = NULL;
  zb_status status;
  gchar *name;
  int ret;

  GST_OBJECT_LOCK (self);
  if (self->channel_name && self->buffer_name) {
    GST_OBJECT_UNLOCK (self);
    GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
        ("Set either buffer-name or channel-name, not both."), (NULL));
    return FALSE;
  }
  if (self->reader_id) {
    gchar *id = g_strdup (self->reader_id);
    gchar *stream = g_strdup (self->buffer_name);
    gboolean chan = self->channel_name != NULL;

    GST_OBJECT_UNLOCK (self);
    if (!check_reader_id (self, chan, stream, id))
      return FALSE;
    GST_OBJECT_LOCK (self);
  }
  /* with channel-name, the duplex channel's request buffer; with
   * reader-id, NAME@ID */
  g_free (self->name);
  if (self->channel_name)
    self->name = g_strdup_printf ("%s_request", self->channel_name);
  else if (self->reader_id && self->buffer_name)
    self->name = g_strdup_printf ("%s@%s", self->buffer_name, self->reader_id);
  else
    self->name = g_strdup (self->buffer_name);
  g_free (self->chan);
  self->chan = g_strdup (self->channel_name);
  self->chan_generation = 0;
  name = g_strdup (self->name);
  memset (&config, 0, sizeof (config));
  config.payload_size = self->payload_size;
  config.metadata_size = self->metadata_size;
  config.mode = self->perms ? self->perms : DEFAULT_PERMS;
  self->frames = self->bytes = self->copies = self->migrations = 0;
  self->dropped = 0;
  self->writer_pid = 0;
  self->connected = FALSE;
  self->frame_duration = GST_CLOCK_TIME_NONE;
  GST_OBJECT_UNLOCK (self);

  if (name == NULL || *name == '\0')
    goto no_name;

  ret = zb_reader_create (name, &config, &reader);
  if (ret < 0)
    goto create_failed;
  /* a duplex server: its requests are writable buffers and zbsink
   * answers a request changed where it lies in place (docs/duplex.md) */
  if (self->chan)
    zb_duplex_requests_offer_in_place (reader);
  /* pool segments that killed writers of this buffer left behind */
  gst_zb_pool_shm_sweep (name, 0);

  if (zb_reader_get_status (reader, &status) == 0)
    self->ring_size = status.payload_size;
  else
    self->ring_size = config.payload_size;

  GST_OBJECT_LOCK (self);
  self->ref = gst_zb_reader_ref_new (reader);
  GST_OBJECT_UNLOCK (self);

  self->gst_format = FALSE;
  gst_caps_replace (&self->writer_caps, NULL);
  self->caps_pending = FALSE;
  self->discont = TRUE;
  self->writer_present = FALSE;
  self->ever_writer = FALSE;
  self->timeout_reported = FALSE;
  self->last_frame_us = g_get_monotonic_time ();
  gst_zb_src_time_init (&self->time);

  if (self->chan)
    self->channel = gst_zb_channel_new (self->chan);
  /* NAME without '@': NAME's client and, by fan-in, NAME@ID's */
  if (self->chan && strchr (self->chan, '@') == NULL) {
    GstZbSrcFanin *fanin;

    fanin = gst_zb_src_fanin_new (self, self->chan, self->ref, &config, &ret);
    if (fanin == NULL)
      goto fanin_failed;
    GST_OBJECT_LOCK (self);
    self->fanin = fanin;
    GST_OBJECT_UNLOCK (self);
  }
  GST_INFO_OBJECT (self, "created buffer \"%s\": ring %" G_GUINT64_FORMAT
      " bytes", name, self->ring_size);
  g_free (name);
  return TRUE;

  /* ERRORS */
no_name:
  {
    GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
        ("No buffer name set: set the buffer-name property."), (NULL));
    g_free (name);
    return FALSE;
  }
fanin_failed:
  {
    GST_ELEMENT_ERROR (self, RESOURCE, FAILED,
        ("Could not look for the clients NAME@ID of channel \"%s\".",
            self->chan), ("zb_duplex_watch_start: %s", zb_strerror (ret)));
    g_free (name);
    gst_zb_src_stop (bsrc);
    return FALSE;
  }
create_failed:
  {
    switch (ret) {
      case -EEXIST:
        GST_ELEMENT_ERROR (self, RESOURCE, BUSY,
            ("Buffer \"%s\" is already in use by a live reader.", name),
            ("zb_reader_create: %s", zb_strerror (ret)));
        break;
      case -ENOSPC:
        GST_ELEMENT_ERROR (self, RESOURCE, NO_SPACE_LEFT,
            ("Not enough shared memory in /dev/shm for buffer \"%s\" "
                "(%" G_GUINT64_FORMAT " bytes of payload).", name,
                (guint64) config.payload_size),
            ("zb_reader_create: %s", zb_strerror (ret)));
        break;
      case -EACCES:
      case -EPERM:
      case -EROFS:
        GST_ELEMENT_ERROR (self, RESOURCE, OPEN_READ_WRITE,
            ("Permission denied creating buffer \"%s\" in /dev/shm.", name),
            ("zb_reader_create: %s", zb_strerror (ret)));
        break;
      case -EINVAL:
      case -ENAMETOOLONG:
        GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
            ("Invalid buffer name \"%s\" or size.", name),
            ("zb_reader_create: %s", zb_strerror (ret)));
        break;
      default:
        GST_ELEMENT_ERROR (self, RESOURCE, OPEN_READ_WRITE,
            ("Could not create shared-memory buffer \"%s\".", name),
            ("zb_reader_create: %s", zb_strerror (ret)));
        break;
    }
    g_free (name);
    return FALSE;
  }
}

static gboolean
gst_zb_src_stop (GstBaseSrc * bsrc)
{
  GstZbSrc *self = GST_ZB_SRC (bsrc);
  GstZbReaderRef *ref;
  GstZbSrcFanin *fanin;

  GST_OBJECT_LOCK (self);
  fanin = self->fanin;
  self->fanin = NULL;
  GST_OBJECT_UNLOCK (self);
  /* the client channels close; the element has NAME's state back */
  gst_zb_src_fanin_free (fanin);

  GST_OBJECT_LOCK (self);
  ref = self->ref;
  self->ref = NULL;
  self->connected = FALSE;
  self->writer_pid = 0;
  GST_OBJECT_UNLOCK (self);

  /* buffers still downstream keep the reader until they are freed */
  if (ref && gst_zb_ring_allocator_n_pinned (ref->alloc) > 0)
    GST_DEBUG_OBJECT (self, "%u buffers still hold the ring",
        gst_zb_ring_allocator_n_pinned (ref->alloc));
  gst_zb_reader_ref_unref (ref);

  gst_caps_replace (&self->writer_caps, NULL);
  gst_zb_src_raw_video_clear (&self->raw);
  self->caps_pending = FALSE;
  gst_zb_src_time_clear (&self->time);
  if (self->pool_maps) {
    g_hash_table_unref (self->pool_maps);
    self->pool_maps = NULL;
  }

  if (self->channel) {
    /* responses still on their way are for nobody now */
    gst_zb_channel_set_client (self->channel, 0);
    gst_zb_channel_unref (self->channel);
    self->channel = NULL;
  }
  return TRUE;
}

static gboolean
gst_zb_src_unlock (GstBaseSrc * bsrc)
{
  GstZbSrc *self = GST_ZB_SRC (bsrc);

  GST_OBJECT_LOCK (self);
  /* fan-in: the channels' threads read on, the streaming thread returns */
  if (self->fanin)
    gst_zb_src_fanin_set_flushing (self->fanin, TRUE);
  else if (self->ref)
    zb_reader_wakeup (self->ref->reader);
  GST_OBJECT_UNLOCK (self);
  return TRUE;
}

static gboolean
gst_zb_src_unlock_stop (GstBaseSrc * bsrc)
{
  GstZbSrc *self = GST_ZB_SRC (bsrc);

  GST_OBJECT_LOCK (self);
  if (self->fanin)
    gst_zb_src_fanin_set_flushing (self->fanin, FALSE);
  else if (self->ref)
    zb_reader_wakeup_clear (self->ref->reader);
  GST_OBJECT_UNLOCK (self);
  return TRUE;
}

/* A flushing seek (basesrc calls this with the streaming thread stopped,
 * under the stream lock): zbsrc has no positions to go to, so the seek
 * restarts the stream at the writer's next frames in the [0, inf)
 * segment; frames the writer presented before the flush are stale in
 * timestamp-mode=clock (the new base time) and dropped. */
static gboolean
gst_zb_src_is_seekable (GstBaseSrc * bsrc)
{
  return TRUE;
}

static gboolean
gst_zb_src_do_seek (GstBaseSrc * bsrc, GstSegment * segment)
{
  GstZbSrc *self = GST_ZB_SRC (bsrc);

  GST_DEBUG_OBJECT (self, "seek to %" GST_SEGMENT_FORMAT, segment);
  gst_segment_init (segment, GST_FORMAT_TIME);
  gst_zb_src_time_init (&self->time);
  self->discont = TRUE;
  return TRUE;
}

/* ------------------------------------------------------------------ */
/* Caps and queries */

static GstCaps *
gst_zb_src_get_caps (GstBaseSrc * bsrc, GstCaps * filter)
{
  GstZbSrc *self = GST_ZB_SRC (bsrc);
  GstCaps *caps = NULL;

  /* writer_caps is written by the streaming thread; the pad's current
   * caps are what downstream may rely on */
  caps = gst_pad_get_current_caps (GST_BASE_SRC_PAD (bsrc));
  if (caps == NULL)
    caps = gst_zb_src_user_caps (self);
  if (caps == NULL)
    caps = gst_caps_new_any ();

  if (filter) {
    GstCaps *tmp = gst_caps_intersect_full (filter, caps,
        GST_CAPS_INTERSECT_FIRST);
    gst_caps_unref (caps);
    caps = tmp;
  }
  return caps;
}

static gboolean
gst_zb_src_negotiate (GstBaseSrc * bsrc)
{
  GstCaps *caps;
  gboolean ret = TRUE;

  /* Caps come from the writer: nothing to choose. Before the first frame
   * there is nothing to set; create() sets the writer's caps. */
  caps = gst_pad_get_current_caps (GST_BASE_SRC_PAD (bsrc));
  if (caps) {
    ret = gst_base_src_set_caps (bsrc, caps);
    gst_caps_unref (caps);
  }
  return ret;
}

/* Whether downstream reads GstVideoMeta decides how raw frames of raw
 * video go out (gst_zb_src_raw_video_buffer()). */
static gboolean
gst_zb_src_decide_allocation (GstBaseSrc * bsrc, GstQuery * query)
{
  GstZbSrc *self = GST_ZB_SRC (bsrc);
  gboolean meta = gst_query_find_allocation_meta (query,
      GST_VIDEO_META_API_TYPE, NULL);

  GST_DEBUG_OBJECT (self, "downstream %s GstVideoMeta",
      meta ? "reads" : "does not read");
  g_atomic_int_set (&self->raw.video_meta_ok, meta);
  return GST_BASE_SRC_CLASS (parent_class)->decide_allocation (bsrc, query);
}

static gboolean
gst_zb_src_query (GstBaseSrc * bsrc, GstQuery * query)
{
  GstZbSrc *self = GST_ZB_SRC (bsrc);

  switch (GST_QUERY_TYPE (query)) {
    case GST_QUERY_LATENCY:{
      GstClockTime min;

      /* A frame is timestamped when the writer renders it and arrives here
       * a few microseconds later; one frame of latency covers the hand-off
       * and the writer's own rendering jitter. */
      GST_OBJECT_LOCK (self);
      min = GST_CLOCK_TIME_IS_VALID (self->frame_duration) ?
          self->frame_duration : 0;
      GST_OBJECT_UNLOCK (self);
      gst_query_set_latency (query, gst_base_src_is_live (bsrc), min,
          GST_CLOCK_TIME_NONE);
      return TRUE;
    }
    case GST_QUERY_SEEKING:{
      GstFormat format;

      /* flushing seeks are taken (gst_zb_src_do_seek()), but there is no
       * position to seek to */
      gst_query_parse_seeking (query, &format, NULL, NULL, NULL);
      gst_query_set_seeking (query, format, FALSE, 0, -1);
      return TRUE;
    }
    default:
      return GST_BASE_SRC_CLASS (parent_class)->query (bsrc, query);
  }
}

/* ------------------------------------------------------------------ */
/* Streaming */

static GstFlowReturn
gst_zb_src_create (GstPushSrc * psrc, GstBuffer ** outbuf)
{
  GstZbSrc *self = GST_ZB_SRC (psrc);
  GstBaseSrc *bsrc = GST_BASE_SRC (psrc);
  GstZbReaderRef *ref;
  GstFlowReturn flow;
  GstBuffer *buf = NULL;

again:
  GST_OBJECT_LOCK (self);
  ref = self->ref ? gst_zb_reader_ref_ref (self->ref) : NULL;
  GST_OBJECT_UNLOCK (self);
  if (ref == NULL)
    return GST_FLOW_FLUSHING;

  flow = gst_zb_src_next_buffer (self, ref, &buf);
  gst_zb_reader_ref_unref (ref);
  if (flow != GST_FLOW_OK)
    return flow;

  /* fan-in: a caps event when this request's client has other caps than
   * the previous request's */
  if (self->fanin && !self->caps_pending && self->writer_caps) {
    GstCaps *cur = gst_pad_get_current_caps (GST_BASE_SRC_PAD (bsrc));

    self->caps_pending = cur == NULL || !gst_caps_is_equal (cur,
        self->writer_caps);
    if (cur)
      gst_caps_unref (cur);
  }
  if (self->caps_pending) {
    GstClockTime duration = gst_zb_caps_frame_duration (self->writer_caps);

    GST_OBJECT_LOCK (self);
    self->frame_duration = duration;
    GST_OBJECT_UNLOCK (self);
    /* a refused caps event is only noticed at the next buffer push, with a
     * generic error: ask first, to name the buffer and the caps */
    if (!gst_pad_peer_query_accept_caps (GST_BASE_SRC_PAD (bsrc),
            self->writer_caps)
        || !gst_base_src_set_caps (bsrc, self->writer_caps)) {
      gchar *str = gst_caps_to_string (self->writer_caps);
      gboolean refused = gst_zb_src_refuse_client (self,
          "has caps that downstream cannot use", str);

      g_free (str);
      if (!refused)
        goto not_negotiated;
      /* a fan-in client's caps: that client only */
      gst_buffer_unref (buf);
      buf = NULL;
      self->caps_pending = FALSE;
      goto again;
    }
    self->caps_pending = FALSE;
    /* a new latency may apply */
    gst_element_post_message (GST_ELEMENT (self),
        gst_message_new_latency (GST_OBJECT (self)));
  }
  if (!self->gst_format)
    buf = gst_zb_src_raw_video_buffer (&self->raw, bsrc, self->writer_caps,
        buf);

  GST_OBJECT_LOCK (self);
  self->frames++;
  self->bytes += gst_buffer_get_size (buf);
  GST_OBJECT_UNLOCK (self);

  *outbuf = buf;
  return GST_FLOW_OK;

  /* ERRORS */
not_negotiated:
  {
    gchar *str = gst_caps_to_string (self->writer_caps);
    gchar *name = gst_zb_src_dup_name (self);

    gst_buffer_unref (buf);
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION,
        ("Downstream cannot use the caps of the writer of buffer \"%s\".",
            name), ("caps %s", str));
    g_free (name);
    g_free (str);
    return GST_FLOW_NOT_NEGOTIATED;
  }
}
