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
 * buffers never stall the writer (see #GstZbSrc:copies). Space returns to
 * the writer in ring order, so even the one buffer a sink keeps as its last
 * sample can leave the writer no room; when no frame has come for
 * #GstZbSrc:stall-timeout while downstream holds buffers, zbsrc moves those
 * that nobody has mapped out of the ring (see #GstZbSrc:migrations).
 *
 * When the writer stops or dies, #GstZbSrc:on-writer-lost decides: wait for
 * a new writer (the default: the pipeline stays PLAYING and resumes with the
 * new writer's caps and frames), push EOS, or post an error.
 *
 * ## Example launch lines
 * |[
 * gst-launch-1.0 zbsrc buffer-name=cam ! videoconvert ! autovideosink
 * ]| Reader: shows the video written by
 * |[
 * gst-launch-1.0 videotestsrc is-live=true ! video/x-raw,width=1280,height=720 ! zbsink buffer-name=cam
 * ]| Writer, started before or after the reader.
 * |[
 * gst-launch-1.0 zbsrc buffer-name=cam num-buffers=1 ! videoconvert ! pngenc ! filesink location=frame.png
 * ]| Writes one received frame to a PNG file.
 */

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstzbsrc.h"
#include "gstzbchannel.h"
#include "gstzbcommon.h"
#include "gstzbclock.h"
#include "gstzbsrcmem.h"
#include "gstzbvideo.h"
#include "zbframe.h"

#include <errno.h>
#include <string.h>

#include <gst/video/video.h>
#include <zerobuffer/zerobuffer.h>

GST_DEBUG_CATEGORY_STATIC (gst_zb_src_debug);
#define GST_CAT_DEFAULT gst_zb_src_debug

#define DEFAULT_BUFFER_NAME NULL
#define DEFAULT_PAYLOAD_SIZE ((guint64) ZB_DEFAULT_PAYLOAD_SIZE)
#define DEFAULT_METADATA_SIZE ((guint64) ZB_DEFAULT_METADATA_SIZE)
#define DEFAULT_PERMS 0600
#define DEFAULT_IS_LIVE TRUE
#define DEFAULT_TIMEOUT 0
#define DEFAULT_ON_WRITER_LOST GST_ZB_WRITER_LOST_WAIT
#define DEFAULT_TIMESTAMP_MODE GST_ZB_TIMESTAMP_CLOCK
#define DEFAULT_MAX_HELD_BYTES 0
#define DEFAULT_STALL_TIMEOUT 100

/* How long one zb_reader_read() may block; between slices the element
 * checks the writer timeout. Unlock wakes a blocked read at once. */
#define READ_SLICE_MS 100

enum
{
  PROP_0,
  PROP_BUFFER_NAME,
  PROP_PAYLOAD_SIZE,
  PROP_METADATA_SIZE,
  PROP_PERMS,
  PROP_IS_LIVE,
  PROP_TIMEOUT,
  PROP_ON_WRITER_LOST,
  PROP_CAPS,
  PROP_TIMESTAMP_MODE,
  PROP_MAX_HELD_BYTES,
  PROP_FRAMES_RECEIVED,
  PROP_BYTES_RECEIVED,
  PROP_COPIES,
  PROP_WRITER_PID,
  PROP_CONNECTED,
  PROP_HELD_BYTES,
  PROP_CHANNEL_NAME,
  PROP_STALL_TIMEOUT,
  PROP_MIGRATIONS
};

/* The reader outlives every buffer that wraps one of its frames: the
 * element holds one reference from start() to stop(), every copied buffer
 * one more; the ring allocator owns the reader and every wrapped memory
 * holds the allocator, so the last of them destroys the reader. */
typedef struct
{
  gint refcount;                /* atomic */
  zb_reader *reader;            /* owned by alloc */
  GstAllocator *alloc;          /* gstzbsrcmem.h: wraps frames */
  gint outstanding_copies;      /* atomic: copied buffers not yet freed */
} GstZbReaderRef;

typedef struct
{
  GstZbReaderRef *ref;
  gpointer data;
} GstZbCopyRef;

struct _GstZbSrc
{
  GstPushSrc parent;

  /* properties; GST_OBJECT_LOCK */
  gchar *buffer_name;
  guint64 payload_size;
  guint64 metadata_size;
  guint perms;
  gint timeout;
  GstZbWriterLost on_writer_lost;
  GstCaps *caps;
  GstZbTimestampMode timestamp_mode;
  guint64 max_held_bytes;
  gint stall_timeout;

  /* set in start(), cleared in stop(); the pointer is read under
   * GST_OBJECT_LOCK by unlock() and the property getters */
  GstZbReaderRef *ref;

  /* streaming thread only */
  guint64 ring_size;
  gboolean gst_format;          /* frames carry zbframe.h records */
  GstCaps *writer_caps;         /* caps of the current stream */
  gboolean caps_pending;        /* writer_caps not yet set on the pad */
  gboolean discont;
  gboolean writer_present;
  gint64 last_frame_us;         /* g_get_monotonic_time() */
  gboolean timeout_reported;
  GstZbClockCache clock_cache;  /* cleared at stop */
  /* the writer's timestamps in segments of our own (get_timestamps()) */
  GstSegment out_segment;       /* the segment of the last buffer pushed */
  gboolean segment_pending;     /* a new writer: start a new segment */
  GstClockTime last_ts;         /* DTS, else PTS, of the last buffer */
  GstClockTime end_rt;          /* running time reached so far */

  /* raw frames of raw video (gstzbvideo.h); streaming thread, except
   * video_meta_ok (atomic, set by decide_allocation) */
  GstCaps *layout_caps;         /* the caps the layouts are of */
  gboolean raw_video;           /* the packed layout is not the default */
  GstVideoInfo raw_vinfo;
  GstZbLayout raw_default;
  GstZbLayout raw_packed;
  gint video_meta_ok;           /* downstream reads GstVideoMeta */

  /* statistics; GST_OBJECT_LOCK */
  guint64 frames;
  guint64 bytes;
  guint64 copies;
  guint64 migrations;
  guint64 writer_pid;
  gboolean connected;
  GstClockTime frame_duration;

  /* duplex channel (docs/duplex.md); channel_name and name_from_channel:
   * GST_OBJECT_LOCK, the rest: streaming thread (and start/stop) */
  gchar *channel_name;
  gboolean name_from_channel;   /* buffer_name was made by start() */
  gchar *chan;                  /* channel_name latched at start() */
  guint64 chan_generation;      /* the current client, 0: none */
};

static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE ("src",
    GST_PAD_SRC,
    GST_PAD_ALWAYS,
    GST_STATIC_CAPS_ANY);

#define gst_zb_src_parent_class parent_class
G_DEFINE_TYPE (GstZbSrc, gst_zb_src, GST_TYPE_PUSH_SRC);
GST_ELEMENT_REGISTER_DEFINE (zbsrc, "zbsrc", GST_RANK_NONE, GST_TYPE_ZB_SRC);

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
  g_object_class_install_property (gobject_class, PROP_CHANNEL_NAME,
      g_param_spec_string ("channel-name", "Channel name",
          "Serve duplex channel NAME (docs/duplex.md): read the requests of "
          "a zbfilter from NAME_request and stamp each buffer with its "
          "request number for a zbsink channel-name=NAME of this pipeline; "
          "excludes buffer-name", NULL,
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
          DEFAULT_TIMEOUT, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_property (gobject_class, PROP_ON_WRITER_LOST,
      g_param_spec_enum ("on-writer-lost", "On writer lost",
          "What to do when the writer disconnects, dies or times out",
          GST_TYPE_ZB_WRITER_LOST, DEFAULT_ON_WRITER_LOST,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));
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
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_property (gobject_class, PROP_MAX_HELD_BYTES,
      g_param_spec_uint64 ("max-held-bytes", "Max held bytes",
          "Bytes of the ring that downstream may hold in zero-copy buffers "
          "before new frames are copied instead (0 = half the ring); frames "
          "are also copied while downstream holds more than 2 earlier "
          "copies (a backlog in a queue)", 0,
          G_MAXUINT64, DEFAULT_MAX_HELD_BYTES,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_property (gobject_class, PROP_STALL_TIMEOUT,
      g_param_spec_int ("stall-timeout", "Stall timeout",
          "Milliseconds without a frame from a connected writer while "
          "downstream holds buffers in the ring, after which those that "
          "nobody has mapped are copied out of the ring so that the writer "
          "can go on (0 = never; see migrations)", 0, G_MAXINT,
          DEFAULT_STALL_TIMEOUT, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));

  g_object_class_install_property (gobject_class, PROP_FRAMES_RECEIVED,
      g_param_spec_uint64 ("frames-received", "Frames received",
          "Buffers produced since start", 0, G_MAXUINT64, 0,
          G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_property (gobject_class, PROP_BYTES_RECEIVED,
      g_param_spec_uint64 ("bytes-received", "Bytes received",
          "Payload bytes produced since start", 0, G_MAXUINT64, 0,
          G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_property (gobject_class, PROP_COPIES,
      g_param_spec_uint64 ("copies", "Copies",
          "Buffers copied out of the ring because downstream held more than "
          "max-held-bytes", 0, G_MAXUINT64, 0,
          G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_property (gobject_class, PROP_MIGRATIONS,
      g_param_spec_uint64 ("migrations", "Migrations",
          "Buffers held downstream whose bytes were moved out of the ring "
          "to let a stalled writer go on (see stall-timeout)", 0,
          G_MAXUINT64, 0, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_property (gobject_class, PROP_WRITER_PID,
      g_param_spec_uint64 ("writer-pid", "Writer PID",
          "Process id of the connected writer (0 = none)", 0, G_MAXUINT64, 0,
          G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_property (gobject_class, PROP_CONNECTED,
      g_param_spec_boolean ("connected", "Connected",
          "Whether a writer is connected", FALSE,
          G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_property (gobject_class, PROP_HELD_BYTES,
      g_param_spec_uint64 ("held-bytes", "Held bytes",
          "Bytes of the ring held by buffers downstream has not freed yet",
          0, G_MAXUINT64, 0, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));

  gst_element_class_add_static_pad_template (element_class, &src_template);
  gst_element_class_set_static_metadata (element_class,
      "ZeroBuffer source", "Source",
      "Receive buffers, caps, timestamps and EOS from a zbsink in another "
      "process through shared memory", "zerobuffer developers");

  basesrc_class->start = GST_DEBUG_FUNCPTR (gst_zb_src_start);
  basesrc_class->stop = GST_DEBUG_FUNCPTR (gst_zb_src_stop);
  basesrc_class->unlock = GST_DEBUG_FUNCPTR (gst_zb_src_unlock);
  basesrc_class->unlock_stop = GST_DEBUG_FUNCPTR (gst_zb_src_unlock_stop);
  basesrc_class->get_caps = GST_DEBUG_FUNCPTR (gst_zb_src_get_caps);
  basesrc_class->negotiate = GST_DEBUG_FUNCPTR (gst_zb_src_negotiate);
  basesrc_class->decide_allocation =
      GST_DEBUG_FUNCPTR (gst_zb_src_decide_allocation);
  basesrc_class->query = GST_DEBUG_FUNCPTR (gst_zb_src_query);
  pushsrc_class->create = GST_DEBUG_FUNCPTR (gst_zb_src_create);

  gst_type_mark_as_plugin_api (GST_TYPE_ZB_WRITER_LOST, 0);
  gst_type_mark_as_plugin_api (GST_TYPE_ZB_TIMESTAMP_MODE, 0);

  GST_DEBUG_CATEGORY_INIT (gst_zb_src_debug, "zbsrc", 0, "ZeroBuffer source");
}

static void
gst_zb_src_init (GstZbSrc * self)
{
  self->buffer_name = g_strdup (DEFAULT_BUFFER_NAME);
  self->payload_size = DEFAULT_PAYLOAD_SIZE;
  self->metadata_size = DEFAULT_METADATA_SIZE;
  self->perms = DEFAULT_PERMS;
  self->timeout = DEFAULT_TIMEOUT;
  self->on_writer_lost = DEFAULT_ON_WRITER_LOST;
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
  g_free (self->channel_name);
  g_free (self->chan);
  gst_caps_replace (&self->caps, NULL);
  gst_caps_replace (&self->writer_caps, NULL);
  gst_caps_replace (&self->layout_caps, NULL);

  G_OBJECT_CLASS (parent_class)->finalize (object);
}

static void
gst_zb_src_set_property (GObject * object, guint prop_id,
    const GValue * value, GParamSpec * pspec)
{
  GstZbSrc *self = GST_ZB_SRC (object);

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
    case PROP_PAYLOAD_SIZE:
      self->payload_size = g_value_get_uint64 (value);
      break;
    case PROP_METADATA_SIZE:
      self->metadata_size = g_value_get_uint64 (value);
      break;
    case PROP_PERMS:
      self->perms = g_value_get_uint (value);
      break;
    case PROP_IS_LIVE:
      GST_OBJECT_UNLOCK (self);
      gst_base_src_set_live (GST_BASE_SRC (self), g_value_get_boolean (value));
      GST_OBJECT_LOCK (self);
      break;
    case PROP_TIMEOUT:
      self->timeout = g_value_get_int (value);
      break;
    case PROP_ON_WRITER_LOST:
      self->on_writer_lost = g_value_get_enum (value);
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

static void
gst_zb_src_get_property (GObject * object, guint prop_id, GValue * value,
    GParamSpec * pspec)
{
  GstZbSrc *self = GST_ZB_SRC (object);

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_BUFFER_NAME:
      g_value_set_string (value, self->buffer_name);
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
    case PROP_IS_LIVE:
      GST_OBJECT_UNLOCK (self);
      g_value_set_boolean (value, gst_base_src_is_live (GST_BASE_SRC (self)));
      GST_OBJECT_LOCK (self);
      break;
    case PROP_TIMEOUT:
      g_value_set_int (value, self->timeout);
      break;
    case PROP_ON_WRITER_LOST:
      g_value_set_enum (value, self->on_writer_lost);
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
    case PROP_MIGRATIONS:
      g_value_set_uint64 (value, self->migrations);
      break;
    case PROP_FRAMES_RECEIVED:
      g_value_set_uint64 (value, self->frames);
      break;
    case PROP_BYTES_RECEIVED:
      g_value_set_uint64 (value, self->bytes);
      break;
    case PROP_COPIES:
      g_value_set_uint64 (value, self->copies);
      break;
    case PROP_WRITER_PID:
      g_value_set_uint64 (value, self->writer_pid);
      break;
    case PROP_CONNECTED:
      g_value_set_boolean (value, self->connected);
      break;
    case PROP_HELD_BYTES:
      g_value_set_uint64 (value,
          self->ref ? zb_reader_held_bytes (self->ref->reader) : 0);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

/* ------------------------------------------------------------------ */
/* Reader lifetime */

static GstZbReaderRef *
reader_ref (GstZbReaderRef * ref)
{
  g_atomic_int_inc (&ref->refcount);
  return ref;
}

static void
reader_unref (GstZbReaderRef * ref)
{
  if (ref && g_atomic_int_dec_and_test (&ref->refcount)) {
    /* destroys the reader once no wrapped memory is left */
    gst_object_unref (ref->alloc);
    g_free (ref);
  }
}

static void
copy_ref_free (gpointer data)
{
  GstZbCopyRef *cr = data;

  g_atomic_int_add (&cr->ref->outstanding_copies, -1);
  reader_unref (cr->ref);
  g_free (cr->data);
  g_free (cr);
}

/* Outstanding copies beyond this mean that downstream is holding a
 * backlog (a queue), not just the last buffer (a sink's last sample) or a
 * few reference frames; a wrapped frame would then wait behind the backlog
 * and pin the ring. */
#define MAX_OUTSTANDING_COPIES 2

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
  if (self->channel_name && self->buffer_name && !self->name_from_channel) {
    GST_OBJECT_UNLOCK (self);
    GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
        ("Set either buffer-name or channel-name, not both."), (NULL));
    return FALSE;
  }
  if (self->channel_name) {
    /* the duplex channel's request buffer */
    g_free (self->buffer_name);
    self->buffer_name = g_strdup_printf ("%s_request", self->channel_name);
    self->name_from_channel = TRUE;
  }
  g_free (self->chan);
  self->chan = g_strdup (self->channel_name);
  self->chan_generation = 0;
  name = g_strdup (self->buffer_name);
  memset (&config, 0, sizeof (config));
  config.payload_size = self->payload_size;
  config.metadata_size = self->metadata_size;
  config.mode = self->perms ? self->perms : DEFAULT_PERMS;
  self->frames = self->bytes = self->copies = self->migrations = 0;
  self->writer_pid = 0;
  self->connected = FALSE;
  GST_OBJECT_UNLOCK (self);

  if (name == NULL || *name == '\0')
    goto no_name;

  ret = zb_reader_create (name, &config, &reader);
  if (ret < 0)
    goto create_failed;

  if (zb_reader_get_status (reader, &status) == 0)
    self->ring_size = status.payload_size;
  else
    self->ring_size = self->payload_size;

  GST_OBJECT_LOCK (self);
  self->ref = g_new0 (GstZbReaderRef, 1);
  self->ref->refcount = 1;
  self->ref->reader = reader;
  self->ref->alloc = gst_zb_src_allocator_new (reader);
  GST_OBJECT_UNLOCK (self);

  self->gst_format = FALSE;
  gst_caps_replace (&self->writer_caps, NULL);
  self->caps_pending = FALSE;
  self->discont = TRUE;
  self->writer_present = FALSE;
  self->timeout_reported = FALSE;
  self->last_frame_us = g_get_monotonic_time ();
  gst_segment_init (&self->out_segment, GST_FORMAT_TIME);
  self->segment_pending = TRUE;
  self->last_ts = GST_CLOCK_TIME_NONE;
  self->end_rt = 0;

  if (self->chan)
    gst_zb_channel_publish (self->chan, 0);
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

  GST_OBJECT_LOCK (self);
  ref = self->ref;
  self->ref = NULL;
  self->connected = FALSE;
  self->writer_pid = 0;
  GST_OBJECT_UNLOCK (self);

  /* buffers still downstream keep the reader until they are freed */
  if (ref && gst_zb_src_allocator_n_pinned (ref->alloc) > 0)
    GST_DEBUG_OBJECT (self, "%u buffers still hold the ring",
        gst_zb_src_allocator_n_pinned (ref->alloc));
  reader_unref (ref);

  gst_caps_replace (&self->writer_caps, NULL);
  gst_caps_replace (&self->layout_caps, NULL);
  self->caps_pending = FALSE;
  gst_zb_clock_cache_clear (&self->clock_cache);

  if (self->chan)
    gst_zb_channel_unpublish (self->chan);
  GST_OBJECT_LOCK (self);
  if (self->name_from_channel) {
    g_free (self->buffer_name);
    self->buffer_name = NULL;
    self->name_from_channel = FALSE;
  }
  GST_OBJECT_UNLOCK (self);
  return TRUE;
}

static gboolean
gst_zb_src_unlock (GstBaseSrc * bsrc)
{
  GstZbSrc *self = GST_ZB_SRC (bsrc);

  GST_OBJECT_LOCK (self);
  if (self->ref)
    zb_reader_wakeup (self->ref->reader);
  GST_OBJECT_UNLOCK (self);
  return TRUE;
}

static gboolean
gst_zb_src_unlock_stop (GstBaseSrc * bsrc)
{
  GstZbSrc *self = GST_ZB_SRC (bsrc);

  GST_OBJECT_LOCK (self);
  if (self->ref)
    zb_reader_wakeup_clear (self->ref->reader);
  GST_OBJECT_UNLOCK (self);
  return TRUE;
}

/* ------------------------------------------------------------------ */
/* Caps */

static GstCaps *
gst_zb_src_get_caps (GstBaseSrc * bsrc, GstCaps * filter)
{
  GstZbSrc *self = GST_ZB_SRC (bsrc);
  GstCaps *caps = NULL;

  /* writer_caps is written by the streaming thread; the pad's current
   * caps are what downstream may rely on */
  caps = gst_pad_get_current_caps (GST_BASE_SRC_PAD (bsrc));
  if (caps == NULL) {
    GST_OBJECT_LOCK (self);
    if (self->caps)
      caps = gst_caps_ref (self->caps);
    GST_OBJECT_UNLOCK (self);
  }
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
 * video go out (raw_video_buffer()). */
static gboolean
gst_zb_src_decide_allocation (GstBaseSrc * bsrc, GstQuery * query)
{
  GstZbSrc *self = GST_ZB_SRC (bsrc);
  gboolean meta = gst_query_find_allocation_meta (query,
      GST_VIDEO_META_API_TYPE, NULL);

  GST_DEBUG_OBJECT (self, "downstream %s GstVideoMeta",
      meta ? "reads" : "does not read");
  g_atomic_int_set (&self->video_meta_ok, meta);
  return GST_BASE_SRC_CLASS (parent_class)->decide_allocation (bsrc, query);
}

static void
update_frame_duration (GstZbSrc * self, GstCaps * caps)
{
  GstClockTime duration = gst_zb_caps_frame_duration (caps);

  GST_OBJECT_LOCK (self);
  self->frame_duration = duration;
  GST_OBJECT_UNLOCK (self);
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
    default:
      return GST_BASE_SRC_CLASS (parent_class)->query (bsrc, query);
  }
}

/* ------------------------------------------------------------------ */
/* Streaming */

static void
post_message (GstZbSrc * self, const gchar * name, guint64 pid,
    const gchar * reason)
{
  gchar *buffer_name;

  GST_OBJECT_LOCK (self);
  buffer_name = g_strdup (self->buffer_name);
  GST_OBJECT_UNLOCK (self);
  gst_zb_post_peer_message (GST_ELEMENT (self), name, "buffer-name",
      buffer_name, pid, reason, NULL);
  g_free (buffer_name);
}

/* Take the caps and the frame format of a new writer from its metadata. */
static void
handle_new_writer (GstZbSrc * self, zb_reader * reader)
{
  const void *meta = NULL;
  size_t meta_size = 0;
  GstCaps *caps;
  zb_status status;
  guint64 pid = 0;
  gboolean replaced = self->writer_present;

  if (zb_reader_get_status (reader, &status) == 0)
    pid = status.writer_pid;

  if (zb_reader_get_metadata (reader, &meta, &meta_size) < 0)
    meta_size = 0;
  caps = gst_zb_parse_metadata (GST_OBJECT (self), meta, meta_size,
      &self->gst_format);

  if (caps == NULL) {
    GST_OBJECT_LOCK (self);
    if (self->caps)
      caps = gst_caps_ref (self->caps);
    GST_OBJECT_UNLOCK (self);
  }
  if (caps == NULL)
    caps = gst_caps_new_empty_simple ("application/octet-stream");

  GST_INFO_OBJECT (self, "writer %" G_GUINT64_FORMAT " connected, format %s,"
      " caps %" GST_PTR_FORMAT, pid, self->gst_format ? "gst" : "raw", caps);

  if (self->writer_caps == NULL || !gst_caps_is_equal (caps, self->writer_caps)) {
    gst_caps_replace (&self->writer_caps, caps);
    self->caps_pending = TRUE;
  }
  gst_caps_unref (caps);

  self->writer_present = TRUE;
  self->discont = TRUE;
  self->segment_pending = TRUE;
  self->timeout_reported = FALSE;
  if (self->chan) {
    /* a new client: responses still in the pipeline for the previous one
     * are dropped by zbsink */
    self->chan_generation = gst_zb_channel_next_generation ();
    gst_zb_channel_publish (self->chan, self->chan_generation);
  }
  GST_OBJECT_LOCK (self);
  self->writer_pid = pid;
  self->connected = TRUE;
  GST_OBJECT_UNLOCK (self);

  post_message (self, "zbsrc-writer-connected", pid,
      replaced ? "replaced" : NULL);
}

/* The writer left, died or timed out: apply on-writer-lost. Returns
 * GST_FLOW_OK to keep waiting. */
static GstFlowReturn
handle_writer_lost (GstZbSrc * self, const gchar * reason)
{
  GstZbWriterLost action;
  gchar *name;
  guint64 pid;

  GST_OBJECT_LOCK (self);
  action = self->on_writer_lost;
  name = g_strdup (self->buffer_name);
  pid = self->writer_pid;
  self->connected = FALSE;
  if (strcmp (reason, "timeout") != 0)
    self->writer_pid = 0;
  GST_OBJECT_UNLOCK (self);

  GST_INFO_OBJECT (self, "writer %" G_GUINT64_FORMAT " lost: %s", pid, reason);
  if (strcmp (reason, "timeout") != 0) {
    self->writer_present = FALSE;
    if (self->chan) {
      self->chan_generation = 0;
      gst_zb_channel_publish (self->chan, 0);
    }
  }
  post_message (self, "zbsrc-writer-lost", pid, reason);

  switch (action) {
    case GST_ZB_WRITER_LOST_WAIT:
      g_free (name);
      return GST_FLOW_OK;
    case GST_ZB_WRITER_LOST_EOS:
      g_free (name);
      return GST_FLOW_EOS;
    case GST_ZB_WRITER_LOST_ERROR:
    default:
      GST_ELEMENT_ERROR (self, RESOURCE, READ,
          ("The writer of buffer \"%s\" is gone (%s).", name, reason),
          ("writer pid %" G_GUINT64_FORMAT ", on-writer-lost=error", pid));
      g_free (name);
      return GST_FLOW_ERROR;
  }
}

/* Translate a CLOCK_MONOTONIC time into running time of this element:
 * GST_CLOCK_TIME_NONE for none and for times before the base time. */
static GstClockTime
monotonic_to_running_time (GstZbSrc * self, GstClock * clock,
    GstClockTime base, guint64 mono)
{
  GstClockTime ctime;

  if (mono == ZB_GST_NONE)
    return GST_CLOCK_TIME_NONE;
  if (gst_zb_clock_is_monotonic (&self->clock_cache, clock)) {
    ctime = mono;
  } else {
    /* the clock's time and CLOCK_MONOTONIC read together */
    gint64 diff = (gint64) (mono - gst_zb_monotonic_now ());
    GstClockTime now = gst_clock_get_time (clock);

    if (diff < 0 && (guint64) (-diff) > now)
      return GST_CLOCK_TIME_NONE;
    ctime = now + diff;
  }
  return ctime >= base ? ctime - base : GST_CLOCK_TIME_NONE;
}

/* The PTS and DTS of a frame with record @rec (NULL: a raw frame);
 * *@writer_ts: they are the writer's own (start_writer_segment()).
 * Returns FALSE when a live source is to drop the frame: the writer
 * presented it before this element's base time (it waited in the ring
 * while the reader was PAUSED, or before the reader joined), so it has no
 * running time here (tests/gst/test_zbtime.c:test_paused_live_reader,
 * :test_late_joining_reader). */
static gboolean
get_timestamps (GstZbSrc * self, const zb_gst_record * rec,
    GstClockTime * pts, GstClockTime * dts, gboolean * writer_ts)
{
  GstZbTimestampMode mode;
  GstClock *clock;
  GstClockTime base;
  gboolean keep = TRUE;

  GST_OBJECT_LOCK (self);
  mode = self->timestamp_mode;
  GST_OBJECT_UNLOCK (self);

  *pts = *dts = GST_CLOCK_TIME_NONE;
  *writer_ts = FALSE;
  if (mode == GST_ZB_TIMESTAMP_PASSTHROUGH
      || !gst_base_src_is_live (GST_BASE_SRC (self))) {
    /* the writer's own values, in segments of their own
     * (start_writer_segment()); a non-live source runs before it has a
     * clock (preroll), so it never maps through one */
    if (rec) {
      *pts = rec->pts;
      *dts = rec->dts;
      *writer_ts = TRUE;
    }
    return TRUE;
  }

  clock = gst_element_get_clock (GST_ELEMENT (self));
  if (clock == NULL)
    return TRUE;
  base = gst_element_get_base_time (GST_ELEMENT (self));

  if (rec && mode == GST_ZB_TIMESTAMP_CLOCK
      && (rec->ts_flags & ZB_GST_TS_CLOCK_VALID)) {
    *pts = monotonic_to_running_time (self, clock, base, rec->pts_clock);
    *dts = monotonic_to_running_time (self, clock, base, rec->dts_clock);
    /* stale: its PTS (or DTS, without a PTS) is before the base time */
    if (rec->pts_clock != ZB_GST_NONE)
      keep = GST_CLOCK_TIME_IS_VALID (*pts);
    else if (rec->dts_clock != ZB_GST_NONE)
      keep = GST_CLOCK_TIME_IS_VALID (*dts);
  } else {
    GstClockTime now = gst_clock_get_time (clock);

    *pts = now > base ? now - base : 0;
  }
  gst_object_unref (clock);
  return keep;
}

/* The writer's PTS and DTS are output unchanged (timestamp-mode=passthrough,
 * or is-live=false): they are in the writer's segment, which the frames do
 * not carry. Each run of them gets a segment of its own that starts at its
 * first timestamp, from the running time reached so far (in a live source:
 * at least the running time now), so running time never goes backwards:
 * a new segment when a new writer connects and when the timestamps go
 * backwards (the writer seeked or flushed; a stream whose PTS are
 * reordered carries DTS). tests/gst/test_zbtime.c:test_not_live_reader,
 * :test_writer_restart, :test_writer_seek. */
static void
start_writer_segment (GstZbSrc * self, GstBuffer * buf)
{
  GstClockTime ts = GST_BUFFER_DTS_OR_PTS (buf);
  GstClockTime rt, end;

  if (!GST_CLOCK_TIME_IS_VALID (ts))
    return;
  if (self->segment_pending || (GST_CLOCK_TIME_IS_VALID (self->last_ts)
          && ts < self->last_ts)) {
    GstSegment seg;
    GstClockTime base = self->end_rt;

    if (gst_base_src_is_live (GST_BASE_SRC (self))) {
      GstClock *clock = gst_element_get_clock (GST_ELEMENT (self));

      if (clock) {
        GstClockTime now = gst_clock_get_time (clock);
        GstClockTime btime = gst_element_get_base_time (GST_ELEMENT (self));

        if (now > btime)
          base = MAX (base, now - btime);
        gst_object_unref (clock);
      }
    }
    gst_segment_init (&seg, GST_FORMAT_TIME);
    seg.start = seg.time = seg.position = ts;
    seg.base = base;
#if GST_CHECK_VERSION(1, 18, 0)
    if (gst_base_src_new_segment (GST_BASE_SRC (self), &seg)) {
      GST_DEBUG_OBJECT (self, "new segment %" GST_SEGMENT_FORMAT, &seg);
      gst_segment_copy_into (&seg, &self->out_segment);
    }
#endif
    self->segment_pending = FALSE;
  }
  self->last_ts = ts;

  /* the running time this buffer reaches */
  rt = gst_segment_to_running_time (&self->out_segment, GST_FORMAT_TIME,
      GST_BUFFER_PTS_IS_VALID (buf) ? GST_BUFFER_PTS (buf) : ts);
  if (GST_CLOCK_TIME_IS_VALID (rt)) {
    end = rt + (GST_BUFFER_DURATION_IS_VALID (buf) ?
        GST_BUFFER_DURATION (buf) : 0);
    self->end_rt = MAX (self->end_rt, end);
  }
}

/* Running time of this element's clock (timestamp-mode changed from
 * passthrough while live): back to the [0, inf) segment. */
static void
reset_segment (GstZbSrc * self)
{
  GstSegment seg;

  gst_segment_init (&seg, GST_FORMAT_TIME);
  if (self->out_segment.start == seg.start && self->out_segment.base ==
      seg.base)
    return;
#if GST_CHECK_VERSION(1, 18, 0)
  gst_base_src_new_segment (GST_BASE_SRC (self), &seg);
#endif
  gst_segment_copy_into (&seg, &self->out_segment);
  self->segment_pending = TRUE;
}

#define ALLOWED_BUFFER_FLAGS (GST_BUFFER_FLAG_LIVE | \
    GST_BUFFER_FLAG_DECODE_ONLY | GST_BUFFER_FLAG_DISCONT | \
    GST_BUFFER_FLAG_RESYNC | GST_BUFFER_FLAG_CORRUPTED | \
    GST_BUFFER_FLAG_MARKER | GST_BUFFER_FLAG_HEADER | GST_BUFFER_FLAG_GAP | \
    GST_BUFFER_FLAG_DROPPABLE | GST_BUFFER_FLAG_DELTA_UNIT | \
    GST_BUFFER_FLAG_SYNC_AFTER | GST_BUFFER_FLAG_NON_DROPPABLE)

/* Make the output buffer for @size bytes at @data inside @frame; takes
 * ownership of @frame (releases it or hands it to the buffer). */
static GstBuffer *
make_buffer (GstZbSrc * self, GstZbReaderRef * ref, zb_frame * frame,
    const void *data, size_t size)
{
  GstBuffer *buf;
  guint64 limit;
  size_t held;

  if (size == 0) {
    zb_reader_release (ref->reader, frame);
    return gst_buffer_new ();
  }

  GST_OBJECT_LOCK (self);
  limit = self->max_held_bytes ? self->max_held_bytes : self->ring_size / 2;
  GST_OBJECT_UNLOCK (self);

  /* held includes this frame, and frames released but not yet credited
   * because an older one is still held (space returns in ring order) */
  held = zb_reader_held_bytes (ref->reader);
  if (held > limit || g_atomic_int_get (&ref->outstanding_copies) >
      MAX_OUTSTANDING_COPIES) {
    GstZbCopyRef *cr = g_new (GstZbCopyRef, 1);

    cr->ref = reader_ref (ref);
    cr->data = g_malloc (size);
    memcpy (cr->data, data, size);
    g_atomic_int_inc (&ref->outstanding_copies);
    zb_reader_release (ref->reader, frame);
    buf = gst_buffer_new ();
    gst_buffer_append_memory (buf, gst_memory_new_wrapped (0, cr->data, size,
            0, size, cr, copy_ref_free));
    GST_OBJECT_LOCK (self);
    self->copies++;
    GST_OBJECT_UNLOCK (self);
    GST_LOG_OBJECT (self, "copied %" G_GSIZE_FORMAT " bytes: %" G_GSIZE_FORMAT
        " held > %" G_GUINT64_FORMAT, size, held, limit);
  } else {
    /* the memory releases the frame when it is freed, or when a stalled
     * writer makes unpin_held() move it to the heap */
    buf = gst_buffer_new ();
    gst_buffer_append_memory (buf, gst_zb_src_allocator_wrap (ref->alloc,
            frame, data, size));
  }
  return buf;
}

/* A raw frame of raw video has its rows packed tightly
 * (docs/frame-format.md): describe it with a GstVideoMeta, or, when
 * downstream does not read the meta, repack it into GStreamer's default
 * layout. A frame of another size goes out as it is. Returns @buf or its
 * replacement. */
static GstBuffer *
raw_video_buffer (GstZbSrc * self, GstBuffer * buf)
{
  GstCaps *caps = self->writer_caps;
  GstAllocator *alloc = NULL;
  GstAllocationParams params;
  GstMapInfo in, out;
  GstBuffer *copy;

  if (caps != self->layout_caps) {
    GstStructure *s;

    gst_caps_replace (&self->layout_caps, caps);
    s = caps && gst_caps_get_size (caps) == 1 ?
        gst_caps_get_structure (caps, 0) : NULL;
    self->raw_video = s && gst_structure_has_name (s, "video/x-raw") &&
        gst_video_info_from_caps (&self->raw_vinfo, caps) &&
        GST_VIDEO_INFO_FORMAT (&self->raw_vinfo) != GST_VIDEO_FORMAT_ENCODED &&
        gst_zb_video_layouts (&self->raw_vinfo, &self->raw_default,
        &self->raw_packed);
    /* the caps are on the pad now: ask downstream about the meta */
    if (self->raw_video && !gst_base_src_negotiate (GST_BASE_SRC (self)))
      GST_WARNING_OBJECT (self, "allocation query failed");
  }
  if (!self->raw_video || gst_buffer_get_size (buf) != self->raw_packed.size)
    return buf;
  if (g_atomic_int_get (&self->video_meta_ok)) {
    gst_zb_video_add_meta (buf, &self->raw_vinfo, &self->raw_packed);
    return buf;
  }

  gst_base_src_get_allocator (GST_BASE_SRC (self), &alloc, &params);
  copy = gst_buffer_new_allocate (alloc, self->raw_default.size, &params);
  if (alloc)
    gst_object_unref (alloc);
  if (copy == NULL)
    return buf;
  if (!gst_buffer_map (buf, &in, GST_MAP_READ)) {
    gst_buffer_unref (copy);
    return buf;
  }
  if (!gst_buffer_map (copy, &out, GST_MAP_WRITE)) {
    gst_buffer_unmap (buf, &in);
    gst_buffer_unref (copy);
    return buf;
  }
  gst_zb_video_repack (&self->raw_packed, in.data, &self->raw_default,
      out.data);
  gst_buffer_unmap (copy, &out);
  gst_buffer_unmap (buf, &in);
  gst_buffer_copy_into (copy, buf, GST_BUFFER_COPY_METADATA, 0, -1);
  gst_buffer_unref (buf);
  GST_LOG_OBJECT (self, "repacked a raw frame into the default layout");
  return copy;
}

/* No frame for stall-timeout from a connected writer while downstream
 * holds frames in the ring: the writer may be waiting for space that only
 * those frames pin (space returns in ring order, and a sink keeps its
 * newest buffer until the next one arrives, which the writer cannot
 * write). Move the held frames that nobody has mapped to the heap. A
 * writer that is merely idle costs one copy per held buffer. */
static void
unpin_held (GstZbSrc * self, GstZbReaderRef * ref, gint stall_timeout)
{
  zb_status status;
  guint64 bytes = 0;
  guint n;

  if (zb_reader_held_bytes (ref->reader) == 0)
    return;
  if (zb_reader_get_status (ref->reader, &status) < 0 || status.writer_pid == 0)
    return;
  n = gst_zb_src_allocator_unpin (ref->alloc, &bytes);
  if (n == 0)
    return;
  GST_OBJECT_LOCK (self);
  self->migrations += n;
  GST_OBJECT_UNLOCK (self);
  GST_DEBUG_OBJECT (self, "no frame for %d ms: moved %u held buffers (%"
      G_GUINT64_FORMAT " bytes) out of the ring", stall_timeout, n, bytes);
}

static GstFlowReturn
gst_zb_src_create (GstPushSrc * psrc, GstBuffer ** outbuf)
{
  GstZbSrc *self = GST_ZB_SRC (psrc);
  GstBaseSrc *bsrc = GST_BASE_SRC (psrc);
  GstZbReaderRef *ref;
  GstFlowReturn flow;
  GstBuffer *buf = NULL;
  zb_frame frame;
  zb_gst_record rec;
  GstClockTime pts, dts;
  gboolean writer_ts;
  const void *payload;
  size_t payload_size;
  gint timeout, stall_timeout, slice;
  gchar *name = NULL;
  int ret;

  GST_OBJECT_LOCK (self);
  ref = self->ref ? reader_ref (self->ref) : NULL;
  name = g_strdup (self->buffer_name);
  stall_timeout = self->stall_timeout;
  GST_OBJECT_UNLOCK (self);
  if (ref == NULL) {
    g_free (name);
    return GST_FLOW_FLUSHING;
  }

  for (;;) {
    slice = stall_timeout > 0 ? MIN (stall_timeout, READ_SLICE_MS) :
        READ_SLICE_MS;
    ret = zb_reader_read (ref->reader, slice, &frame);

    if (ret == -ETIMEDOUT || ret == -EAGAIN) {
      GST_OBJECT_LOCK (self);
      timeout = self->timeout;
      stall_timeout = self->stall_timeout;
      GST_OBJECT_UNLOCK (self);
      if (stall_timeout > 0 && g_get_monotonic_time () - self->last_frame_us
          >= (gint64) stall_timeout * 1000)
        unpin_held (self, ref, stall_timeout);
      if (timeout > 0 && self->writer_present && !self->timeout_reported &&
          g_get_monotonic_time () - self->last_frame_us >
          (gint64) timeout * 1000) {
        self->timeout_reported = TRUE;
        flow = handle_writer_lost (self, "timeout");
        if (flow != GST_FLOW_OK)
          goto done;
      }
      continue;
    }
    if (ret == -EINTR) {
      flow = GST_FLOW_FLUSHING;
      goto done;
    }
    if (ret == -EPIPE || ret == -EOWNERDEAD) {
      flow = handle_writer_lost (self, ret == -EPIPE ? "disconnected" : "died");
      if (flow != GST_FLOW_OK)
        goto done;
      continue;
    }
    if (ret < 0)
      goto read_failed;

    self->last_frame_us = g_get_monotonic_time ();
    self->timeout_reported = FALSE;
    if ((frame.flags & ZB_FRAME_NEW_WRITER) || !self->writer_present)
      handle_new_writer (self, ref->reader);

    memset (&rec, 0, sizeof (rec));
    if (self->gst_format) {
      ret = zb_gst_record_decode (frame.data, frame.size, &rec, &payload);
      if (ret < 0)
        goto bad_record;
      payload_size = (size_t) rec.payload_size;
    } else {
      payload = frame.data;
      payload_size = frame.size;
    }

    if (self->gst_format && rec.type == ZB_GST_RECORD_PAD) {
      /* the writer skipped the rest of the ring (docs/frame-format.md) */
      zb_reader_release (ref->reader, &frame);
      continue;
    }
    if (self->gst_format && rec.type == ZB_GST_RECORD_CAPS) {
      gchar *str = g_strndup (payload, payload_size);
      GstCaps *caps = gst_caps_from_string (str);

      zb_reader_release (ref->reader, &frame);
      if (caps == NULL || !gst_caps_is_fixed (caps)) {
        GST_ELEMENT_ERROR (self, STREAM, DECODE,
            ("The writer of buffer \"%s\" sent invalid caps.", name),
            ("caps \"%s\"", str));
        g_free (str);
        if (caps)
          gst_caps_unref (caps);
        flow = GST_FLOW_ERROR;
        goto done;
      }
      g_free (str);
      GST_DEBUG_OBJECT (self, "caps record %" GST_PTR_FORMAT, caps);
      if (self->writer_caps == NULL || !gst_caps_is_equal (caps,
              self->writer_caps)) {
        gst_caps_replace (&self->writer_caps, caps);
        self->caps_pending = TRUE;
      }
      gst_caps_unref (caps);
      continue;
    }
    if (self->gst_format && rec.type == ZB_GST_RECORD_EOS) {
      zb_reader_release (ref->reader, &frame);
      GST_INFO_OBJECT (self, "EOS from the writer");
      flow = GST_FLOW_EOS;
      goto done;
    }

    /* a buffer */
    if (!get_timestamps (self, self->gst_format ? &rec : NULL, &pts, &dts,
            &writer_ts)) {
      GST_LOG_OBJECT (self, "dropped frame %" G_GUINT64_FORMAT ": presented "
          "before the base time", frame.sequence);
      zb_reader_release (ref->reader, &frame);
      self->discont = TRUE;
      continue;
    }
    buf = make_buffer (self, ref, &frame, payload, payload_size);
    GST_BUFFER_PTS (buf) = pts;
    GST_BUFFER_DTS (buf) = dts;
    if (self->gst_format) {
      GST_BUFFER_FLAG_SET (buf, rec.buffer_flags & ALLOWED_BUFFER_FLAGS);
      GST_BUFFER_DURATION (buf) = rec.duration;
      GST_BUFFER_OFFSET (buf) = rec.offset;
      GST_BUFFER_OFFSET_END (buf) = rec.offset_end;
      if (writer_ts)
        start_writer_segment (self, buf);
    }
    if (!writer_ts)
      reset_segment (self);
    if (self->discont) {
      GST_BUFFER_FLAG_SET (buf, GST_BUFFER_FLAG_DISCONT);
      self->discont = FALSE;
    }
    if (self->chan)
      gst_buffer_add_zb_request_meta (buf, self->chan_generation,
          frame.sequence);
    break;
  }

  if (self->caps_pending) {
    update_frame_duration (self, self->writer_caps);
    /* a refused caps event is only noticed at the next buffer push, with a
     * generic error: ask first, to name the buffer and the caps */
    if (!gst_pad_peer_query_accept_caps (GST_BASE_SRC_PAD (bsrc),
            self->writer_caps)
        || !gst_base_src_set_caps (bsrc, self->writer_caps))
      goto not_negotiated;
    self->caps_pending = FALSE;
    /* a new latency may apply */
    gst_element_post_message (GST_ELEMENT (self),
        gst_message_new_latency (GST_OBJECT (self)));
  }
  if (!self->gst_format)
    buf = raw_video_buffer (self, buf);

  GST_OBJECT_LOCK (self);
  self->frames++;
  self->bytes += gst_buffer_get_size (buf);
  GST_OBJECT_UNLOCK (self);

  *outbuf = buf;
  flow = GST_FLOW_OK;

done:
  reader_unref (ref);
  g_free (name);
  return flow;

  /* ERRORS */
read_failed:
  {
    GST_ELEMENT_ERROR (self, RESOURCE, READ,
        ("Could not read from buffer \"%s\".", name),
        ("zb_reader_read: %s", zb_strerror (ret)));
    flow = GST_FLOW_ERROR;
    goto done;
  }
bad_record:
  {
    zb_reader_release (ref->reader, &frame);
    GST_ELEMENT_ERROR (self, STREAM, DECODE,
        ("Invalid frame in buffer \"%s\".", name),
        ("frame %" G_GUINT64_FORMAT " of %" G_GSIZE_FORMAT " bytes: %s",
            frame.sequence, frame.size, zb_strerror (ret)));
    flow = GST_FLOW_ERROR;
    goto done;
  }
not_negotiated:
  {
    gchar *str = gst_caps_to_string (self->writer_caps);

    gst_buffer_unref (buf);
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION,
        ("Downstream cannot use the caps of the writer of buffer \"%s\".",
            name), ("caps %s", str));
    g_free (str);
    flow = GST_FLOW_NOT_NEGOTIATED;
    goto done;
  }
}
