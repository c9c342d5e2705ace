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
 * ## Example launch lines
 * |[
 * gst-launch-1.0 videotestsrc is-live=true ! video/x-raw,width=1280,height=720 ! zbsink buffer-name=cam
 * ]| Writer: waits for the reader's buffer, then streams 720p video.
 * |[
 * gst-launch-1.0 zbsrc buffer-name=cam ! videoconvert ! autovideosink
 * ]| Reader: caps are negotiated from the writer's metadata.
 * |[
 * gst-launch-1.0 -e audiotestsrc is-live=true ! zbsink buffer-name=mic
 * gst-launch-1.0 zbsrc buffer-name=mic ! audioconvert ! autoaudiosink
 * ]| Audio; with -e the writer's EOS reaches the reader on Ctrl-C.
 */

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstzbsink.h"
#include "gstzbchannel.h"
#include "gstzbclock.h"
#include "gstzbcopy.h"
#include "gstzbvideo.h"
#include "zbframe.h"

#include <errno.h>
#include <string.h>

#include <gst/video/video.h>
#include <zerobuffer/zerobuffer.h>

GST_DEBUG_CATEGORY_STATIC (gst_zb_sink_debug);
#define GST_CAT_DEFAULT gst_zb_sink_debug

#define DEFAULT_BUFFER_NAME NULL
#define DEFAULT_FRAME_FORMAT GST_ZB_FRAME_FORMAT_GST
#define DEFAULT_CONNECT_TIMEOUT -1
#define DEFAULT_ON_READER_LOST GST_ZB_READER_LOST_WAIT
#define DEFAULT_LEAKY FALSE
#define DEFAULT_WRITE_TIMEOUT 0
#define DEFAULT_ZERO_COPY FALSE
#define DEFAULT_COPY_THREADS 1
#define DEFAULT_ALLOW_UID -1
/* copy-threads=0: one per processor, up to this */
#define AUTO_COPY_THREADS_MAX 4

/* One blocking library call waits at most this long; in between the
 * element checks its own timeouts and the reader's liveness. unlock wakes
 * a blocked call at once. */
#define CONNECT_SLICE_MS 100
#define WRITE_SLICE_MS 100
#define LEAKY_WRITE_TIMEOUT_MS 1

enum
{
  PROP_0,
  PROP_BUFFER_NAME,
  PROP_FRAME_FORMAT,
  PROP_CONNECT_TIMEOUT,
  PROP_ON_READER_LOST,
  PROP_LEAKY,
  PROP_WRITE_TIMEOUT,
  PROP_FRAMES_SENT,
  PROP_BYTES_SENT,
  PROP_DROPS,
  PROP_UTILISATION,
  PROP_READER_PID,
  PROP_CONNECTED,
  PROP_CHANNEL_NAME,
  PROP_ZERO_COPY,
  PROP_ZERO_COPY_FRAMES,
  PROP_COPY_THREADS,
  PROP_ALLOW_UID
};

struct _GstZbSink
{
  GstBaseSink parent;

  /* properties; GST_OBJECT_LOCK */
  gchar *buffer_name;
  GstZbFrameFormat frame_format;
  gint connect_timeout;
  GstZbReaderLost on_reader_lost;
  gboolean leaky;
  gint write_timeout;
  gint allow_uid;

  /* GST_OBJECT_LOCK: unlock() reads writer and sets unlocked from another
   * thread; only the streaming thread (or start/stop) changes writer */
  zb_writer *writer;
  gboolean unlocked;

  /* streaming thread only */
  GstZbFrameFormat format;      /* frame_format latched at start() */
  GstCaps *caps;                /* current caps from upstream */
  GstCaps *sent_caps;           /* caps the reader knows on this connection */
  gboolean reader_lost;         /* lost and not yet reconnected */
  gboolean ever_connected;
  gboolean is_video;
  GstVideoInfo vinfo;
  GstZbLayout gst_layout;       /* default GstVideoInfo layout */
  GstZbLayout raw_layout;       /* rows packed tightly (gstzbvideo.h) */

  /* statistics; GST_OBJECT_LOCK */
  guint64 frames;
  guint64 bytes;
  guint64 drops;
  guint64 in_place;
  guint64 reader_pid;
  gboolean connected;

  /* duplex channel (docs/duplex.md); channel_name and name_from_channel:
   * GST_OBJECT_LOCK, the rest: streaming thread */
  gchar *channel_name;
  gboolean name_from_channel;   /* buffer_name was made by start() */
  gboolean chan_mode;           /* channel_name latched at start() */
  guint64 chan_generation;      /* client whose responses we write */
  guint64 chan_expected;        /* next request sequence to answer */
  guint64 chan_sending;         /* generation of the buffer being sent */

  /* writer-side zero copy (see "Ring memory"). writer_lock: held by an
   * allocation in the ring and by disconnect(), which may run at the same
   * time (upstream allocates outside our stream lock). render_thread: set
   * under the allocator's lock. The rest belongs to the streaming thread. */
  GMutex writer_lock;
  GstAllocator *ring_alloc;
  guint8 *ring_slot;            /* payload of the pending acquisition */
  gsize ring_size;
  GThread *render_thread;
  gboolean no_fit_warned;       /* leaky raw: a frame that did not fit
                                 * from the write position was dropped */
  gchar *noop_str;              /* sent_caps as a string, for a no-op */
  GstCaps *noop_for;            /* the caps noop_str was made of */
  gboolean zero_copy;           /* property; GST_OBJECT_LOCK */

  /* copies of large frames (gstzbcopy.h); copy_threads: GST_OBJECT_LOCK,
   * copier: made by start(), used by the streaming thread */
  guint copy_threads;
  GstZbCopier *copier;

  /* streaming thread; cleared at stop */
  GstZbClockCache clock_cache;
};

/* ------------------------------------------------------------------ */
/* Ring memory: zero copy on the writer side.
 *
 * zbsink proposes this allocator in the ALLOCATION query. When upstream
 * allocates from the streaming thread that renders (no queue in between),
 * alloc() acquires the next frame of the ring and returns memory that lies
 * right behind the frame's gst record header; render() of that buffer only
 * writes the header and commits. Only one such memory is out at a time
 * (frames are committed in ring order); any other allocation is plain
 * system memory that render() copies, as before.
 *
 * If a different buffer is rendered first, or the memory is still
 * referenced elsewhere when it is rendered, its bytes are first moved to
 * the heap (the memory keeps working, from the heap) and the ring slot is
 * used for the frame being rendered. A committed memory is made read-only,
 * so a buffer pool drops it instead of handing it out again.
 *
 * Maps are counted: a mapping points into the ring, so a mapped memory is
 * never moved to the heap nor committed (its slot would go to the reader
 * and come back for later frames under the mapping). The ring is written
 * in order, so the frame that needs the slot waits for the unmap; unlock()
 * (flush, PLAYING -> PAUSED, stop) ends the wait. Elements unmap before
 * they push, so this only waits for a branch behind a tee that still reads
 * the buffer. Disconnecting while it is mapped hands the connection to the
 * memory: the segment stays mapped until the last unmap, which moves the
 * bytes to the heap and disconnects. */

/* Below this, a copy costs less than the bookkeeping. */
#define RING_MEMORY_MIN_SIZE 4096

typedef struct _GstZbRingMemory
{
  GstMemory mem;
  guint8 *data;                 /* in the ring, or heap once detached */
  gboolean heap;
  gboolean retry;               /* heap from the start: the ring could not
                                 * be used when it was allocated */
  gint maps;                    /* outstanding maps; allocator's lock */
  zb_writer *orphan;            /* connection kept for a mapping that
                                 * outlived it; allocator's lock */
} GstZbRingMemory;

/* Memories hold a reference to their allocator, so they may outlive the
 * sink: what they touch when freed lives here, not in the sink. */
typedef struct
{
  GstAllocator parent;
  GMutex lock;                  /* guards sink, pending, maps, interrupt */
  GCond unmapped;               /* a map count fell to 0, or interrupt */
  GstZbSink *sink;              /* not a reference; NULL once disposed */
  GstZbRingMemory *pending;     /* handed out, not yet rendered */
  gboolean interrupt;           /* between the sink's unlock and
                                 * unlock_stop: do not wait for unmaps */
} GstZbRingAllocator;

typedef struct
{
  GstAllocatorClass parent_class;
} GstZbRingAllocatorClass;

static GType gst_zb_ring_allocator_get_type (void);
G_DEFINE_TYPE (GstZbRingAllocator, gst_zb_ring_allocator, GST_TYPE_ALLOCATOR);

/* Move a memory's bytes out of the ring; with the allocator's lock held,
 * never while it is mapped. */
static void
ring_memory_detach (GstZbRingMemory * rm)
{
  guint8 *copy;

  g_assert (rm->maps == 0);
  if (rm->heap || rm->data == NULL)
    return;
  copy = g_malloc (rm->mem.maxsize);
  memcpy (copy, rm->data, rm->mem.maxsize);
  rm->data = copy;
  rm->heap = TRUE;
}

static gpointer
ring_mem_map (GstMemory * mem, gsize maxsize, GstMapFlags flags)
{
  GstZbRingAllocator *ra = (GstZbRingAllocator *) mem->allocator;
  GstZbRingMemory *rm = (GstZbRingMemory *) mem;
  gpointer data;

  g_mutex_lock (&ra->lock);
  /* NULL once committed in place: its bytes belong to the reader */
  data = rm->data;
  if (data)
    rm->maps++;
  g_mutex_unlock (&ra->lock);
  return data;
}

static void
ring_mem_unmap (GstMemory * mem)
{
  GstZbRingAllocator *ra = (GstZbRingAllocator *) mem->allocator;
  GstZbRingMemory *rm = (GstZbRingMemory *) mem;
  zb_writer *orphan = NULL;

  g_mutex_lock (&ra->lock);
  g_assert (rm->maps > 0);
  if (--rm->maps == 0) {
    if (rm->orphan) {
      /* the sink disconnected while we were mapped: keep the bytes, let
       * the connection go */
      ring_memory_detach (rm);
      orphan = rm->orphan;
      rm->orphan = NULL;
    }
    g_cond_broadcast (&ra->unmapped);
  }
  g_mutex_unlock (&ra->lock);
  zb_writer_disconnect (orphan);
}

/* The caps the reader has, as a caps record's payload; NULL if none. */
static const gchar *
noop_caps_string (GstZbSink * self)
{
  if (self->sent_caps == NULL)
    return NULL;
  if (self->noop_for != self->sent_caps) {
    g_free (self->noop_str);
    self->noop_str = gst_caps_to_string (self->sent_caps);
    gst_caps_replace (&self->noop_for, self->sent_caps);
  }
  return self->noop_str;
}

static GstMemory *
ring_alloc (GstAllocator * allocator, gsize size, GstAllocationParams * params)
{
  GstZbRingAllocator *ra = (GstZbRingAllocator *) allocator;
  GstZbSink *self = NULL;
  GstZbRingMemory *rm;
  const gchar *noop;
  void *dst = NULL;
  gboolean leaky, unlocked, retry = FALSE;

  if (params && (params->prefix || params->padding || params->align > 15))
    goto sysmem;
  if (size < RING_MEMORY_MIN_SIZE)
    goto sysmem;
  /* only from the thread that renders, so that frames are committed in
   * the order they are allocated */
  g_mutex_lock (&ra->lock);
  if (ra->sink && ra->sink->render_thread == g_thread_self ())
    self = gst_object_ref (ra->sink);
  /* not known yet (nothing rendered since start): maybe this one */
  retry = ra->sink && ra->sink->render_thread == NULL;
  g_mutex_unlock (&ra->lock);
  if (self == NULL)
    goto sysmem;

  GST_OBJECT_LOCK (self);
  leaky = self->leaky;
  unlocked = self->unlocked;
  GST_OBJECT_UNLOCK (self);

  g_mutex_lock (&self->writer_lock);
  /* only for frames that need no caps record first; and the pending slot
   * must be able to take a no-op caps record if upstream sends another
   * buffer first */
  if (self->writer == NULL || leaky || unlocked
      || self->format != GST_ZB_FRAME_FORMAT_GST || self->chan_mode
      || self->ring_slot != NULL || self->caps == NULL
      || self->sent_caps == NULL || !gst_caps_is_equal (self->caps,
          self->sent_caps) || (noop = noop_caps_string (self)) == NULL
      || strlen (noop) + 1 > size)
    goto sysmem_unlock;
  if (zb_writer_acquire (self->writer, ZB_GST_HEADER_SIZE + size, &dst) < 0)
    goto sysmem_unlock;

  rm = g_new0 (GstZbRingMemory, 1);
  gst_memory_init (GST_MEMORY_CAST (rm), GST_MEMORY_FLAG_NO_SHARE, allocator,
      NULL, size, 0, 0, size);
  rm->data = (guint8 *) dst + ZB_GST_HEADER_SIZE;
  g_mutex_lock (&ra->lock);
  ra->pending = rm;
  g_mutex_unlock (&ra->lock);
  self->ring_slot = rm->data;
  self->ring_size = size;
  g_mutex_unlock (&self->writer_lock);
  gst_object_unref (self);
  return GST_MEMORY_CAST (rm);

sysmem_unlock:
  g_mutex_unlock (&self->writer_lock);
  gst_object_unref (self);
  retry = TRUE;
sysmem:
  if (!retry)
    return gst_allocator_alloc (NULL, size, params);
  /* (maybe) the thread that renders: heap memory that render() tags, so
   * that a buffer pool does not keep it for ever but allocates again, from
   * the ring once it can be used */
  rm = g_new0 (GstZbRingMemory, 1);
  gst_memory_init (GST_MEMORY_CAST (rm), GST_MEMORY_FLAG_NO_SHARE, allocator,
      NULL, size, 0, 0, size);
  rm->data = g_malloc (size);
  rm->heap = TRUE;
  rm->retry = TRUE;
  return GST_MEMORY_CAST (rm);
}

static void
ring_free (GstAllocator * allocator, GstMemory * mem)
{
  GstZbRingAllocator *ra = (GstZbRingAllocator *) allocator;
  GstZbRingMemory *rm = (GstZbRingMemory *) mem;

  /* freed before it was rendered: its slot stays pending for the next
   * frame */
  g_mutex_lock (&ra->lock);
  if (ra->pending == rm)
    ra->pending = NULL;
  g_mutex_unlock (&ra->lock);
  /* freed while mapped (a bug upstream): the mapping dies with it */
  if (rm->orphan)
    zb_writer_disconnect (rm->orphan);
  if (rm->heap)
    g_free (rm->data);
  g_free (rm);
}

static void
gst_zb_ring_allocator_finalize (GObject * object)
{
  GstZbRingAllocator *ra = (GstZbRingAllocator *) object;

  g_mutex_clear (&ra->lock);
  g_cond_clear (&ra->unmapped);
  G_OBJECT_CLASS (gst_zb_ring_allocator_parent_class)->finalize (object);
}

static void
gst_zb_ring_allocator_class_init (GstZbRingAllocatorClass * klass)
{
  GstAllocatorClass *allocator_class = GST_ALLOCATOR_CLASS (klass);

  G_OBJECT_CLASS (klass)->finalize = gst_zb_ring_allocator_finalize;
  allocator_class->alloc = ring_alloc;
  allocator_class->free = ring_free;
}

static void
gst_zb_ring_allocator_init (GstZbRingAllocator * self)
{
  GstAllocator *allocator = GST_ALLOCATOR_CAST (self);

  g_mutex_init (&self->lock);
  g_cond_init (&self->unmapped);
  allocator->mem_type = "ZbRingMemory";
  allocator->mem_map = ring_mem_map;
  allocator->mem_unmap = ring_mem_unmap;
  GST_OBJECT_FLAG_SET (self, GST_ALLOCATOR_FLAG_CUSTOM_ALLOC);
}

/* With the allocator's lock: wait until the pending memory is not mapped.
 * FALSE if unlock() interrupted the wait. */
static gboolean
ring_wait_unmapped (GstZbSink * self, GstZbRingAllocator * ra)
{
  gboolean warned = FALSE;

  while (ra->pending && ra->pending->maps > 0) {
    if (ra->interrupt)
      return FALSE;
    if (!warned) {
      GST_DEBUG_OBJECT (self, "a frame allocated in the ring is still "
          "mapped: waiting for the unmap before its slot moves on");
      warned = TRUE;
    }
    g_cond_wait (&ra->unmapped, &ra->lock);
  }
  return TRUE;
}

/* Give up the pending slot's memory (detach it if upstream still has it,
 * once it is unmapped); the slot stays acquired. FALSE if unlock()
 * interrupted the wait for an unmap. */
static gboolean
ring_release_memory (GstZbSink * self)
{
  GstZbRingAllocator *ra = (GstZbRingAllocator *) self->ring_alloc;

  g_mutex_lock (&ra->lock);
  if (!ring_wait_unmapped (self, ra)) {
    g_mutex_unlock (&ra->lock);
    return FALSE;
  }
  if (ra->pending)
    ring_memory_detach (ra->pending);
  ra->pending = NULL;
  g_mutex_unlock (&ra->lock);
  return TRUE;
}

/* A slot is pending: write @buf (@payload bytes, @layout) with @rec into
 * it. TRUE when done (*@wr says how), FALSE when it cannot be used. */
static gboolean
ring_write_pending (GstZbSink * self, const zb_gst_record * rec,
    GstBuffer * buf, const void *layout, gsize payload, int *err, int *wr);
static int ring_flush_noop (GstZbSink * self);

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE ("sink",
    GST_PAD_SINK,
    GST_PAD_ALWAYS,
    GST_STATIC_CAPS_ANY);

#define gst_zb_sink_parent_class parent_class
G_DEFINE_TYPE (GstZbSink, gst_zb_sink, GST_TYPE_BASE_SINK);
GST_ELEMENT_REGISTER_DEFINE (zbsink, "zbsink", GST_RANK_NONE, GST_TYPE_ZB_SINK);

#define GST_TYPE_ZB_READER_LOST (gst_zb_reader_lost_get_type ())
static GType
gst_zb_reader_lost_get_type (void)
{
  static GType type = 0;
  static const GEnumValue values[] = {
    {GST_ZB_READER_LOST_WAIT, "Block until a new reader appears, reconnect",
        "wait"},
    {GST_ZB_READER_LOST_DROP,
        "Drop buffers until a new reader appears, reconnect", "drop"},
    {GST_ZB_READER_LOST_ERROR, "Post an error", "error"},
    {0, NULL, NULL}
  };

  if (g_once_init_enter (&type)) {
    GType t = g_enum_register_static ("GstZbReaderLost", values);
    g_once_init_leave (&type, t);
  }
  return type;
}

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
          "Duplex channel to answer (docs/duplex.md): write the responses "
          "of a zbsrc channel-name=NAME of this pipeline to NAME_response, "
          "one per request, in order; excludes buffer-name and turns sync "
          "off", NULL, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class, PROP_ZERO_COPY,
      g_param_spec_boolean ("zero-copy", "Zero copy",
          "Propose an allocator whose memory lies in the ring, so that "
          "upstream fills frames in place (frame-format=gst, buffers of 4 KiB "
          "and more; anything else is copied); not for upstreams that keep "
          "buffers mapped after pushing them; set enable-last-sample=false "
          "too, or every frame is copied anyway",
          DEFAULT_ZERO_COPY, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_property (gobject_class, PROP_ZERO_COPY_FRAMES,
      g_param_spec_uint64 ("zero-copy-frames", "Zero-copy frames",
          "Buffers since start that upstream filled in place in the ring "
          "(allocated from what zbsink proposed; sent without a copy)", 0,
          G_MAXUINT64, 0, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));
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
          DEFAULT_CONNECT_TIMEOUT, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_property (gobject_class, PROP_ON_READER_LOST,
      g_param_spec_enum ("on-reader-lost", "On reader lost",
          "What to do when the reader stops or dies",
          GST_TYPE_ZB_READER_LOST, DEFAULT_ON_READER_LOST,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_property (gobject_class, PROP_LEAKY,
      g_param_spec_boolean ("leaky", "Leaky",
          "Drop the buffer when the ring is full instead of blocking until "
          "the reader frees space", DEFAULT_LEAKY,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_property (gobject_class, PROP_WRITE_TIMEOUT,
      g_param_spec_int ("write-timeout", "Write timeout",
          "Milliseconds to block on a full ring before posting an error "
          "(0 = block as long as the reader is alive)", 0, G_MAXINT,
          DEFAULT_WRITE_TIMEOUT, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_property (gobject_class, PROP_ALLOW_UID,
      g_param_spec_int ("allow-uid", "Allow uid",
          "Also write to a buffer created by this user (uid); -1 = only "
          "buffers of our own user or root. A buffer of any other user is "
          "refused, so that frames never go to a squatter", -1, G_MAXINT,
          DEFAULT_ALLOW_UID, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));

  g_object_class_install_property (gobject_class, PROP_FRAMES_SENT,
      g_param_spec_uint64 ("frames-sent", "Frames sent",
          "Buffers written since start", 0, G_MAXUINT64, 0,
          G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_property (gobject_class, PROP_BYTES_SENT,
      g_param_spec_uint64 ("bytes-sent", "Bytes sent",
          "Buffer bytes written since start (headers excluded)", 0,
          G_MAXUINT64, 0, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_property (gobject_class, PROP_DROPS,
      g_param_spec_uint64 ("drops", "Drops",
          "Buffers dropped (leaky with a full ring, or no reader with "
          "on-reader-lost=drop)", 0, G_MAXUINT64, 0,
          G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_property (gobject_class, PROP_UTILISATION,
      g_param_spec_double ("utilisation", "Utilisation",
          "Fraction of the ring in use, 0..1 (0 when not connected)", 0.0,
          1.0, 0.0, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_property (gobject_class, PROP_READER_PID,
      g_param_spec_uint64 ("reader-pid", "Reader PID",
          "Process id of the reader (0 = not connected)", 0, G_MAXUINT64, 0,
          G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_property (gobject_class, PROP_CONNECTED,
      g_param_spec_boolean ("connected", "Connected",
          "Whether the sink is connected to a reader's buffer", FALSE,
          G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));

  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_set_static_metadata (element_class,
      "ZeroBuffer sink", "Sink",
      "Send buffers, caps, timestamps and EOS to a zbsrc in another process "
      "through shared memory", "zerobuffer developers");

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
  g_mutex_init (&self->writer_lock);
  self->ring_alloc = g_object_new (gst_zb_ring_allocator_get_type (), NULL);
  gst_object_ref_sink (self->ring_alloc);
  ((GstZbRingAllocator *) self->ring_alloc)->sink = self;
}

static void
gst_zb_sink_dispose (GObject * object)
{
  GstZbSink *self = GST_ZB_SINK (object);
  GstZbRingAllocator *ra = (GstZbRingAllocator *) self->ring_alloc;

  /* memories of ours that upstream still holds no longer reach us; stop()
   * already moved a pending one out of the ring */
  g_mutex_lock (&ra->lock);
  ra->sink = NULL;
  if (ra->pending && ra->pending->maps == 0)
    ring_memory_detach (ra->pending);
  ra->pending = NULL;
  g_mutex_unlock (&ra->lock);

  G_OBJECT_CLASS (parent_class)->dispose (object);
}

static void
gst_zb_sink_finalize (GObject * object)
{
  GstZbSink *self = GST_ZB_SINK (object);

  g_free (self->buffer_name);
  g_free (self->channel_name);
  gst_caps_replace (&self->caps, NULL);
  gst_caps_replace (&self->sent_caps, NULL);
  gst_object_unref (self->ring_alloc);
  g_free (self->noop_str);
  gst_caps_replace (&self->noop_for, NULL);
  g_mutex_clear (&self->writer_lock);

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
      if (self->channel_name) {
        /* responses go out as soon as they are ready */
        GST_OBJECT_UNLOCK (self);
        gst_base_sink_set_sync (GST_BASE_SINK (self), FALSE);
        GST_OBJECT_LOCK (self);
      }
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
    case PROP_ALLOW_UID:
      g_value_set_int (value, self->allow_uid);
      break;
    case PROP_FRAMES_SENT:
      g_value_set_uint64 (value, self->frames);
      break;
    case PROP_BYTES_SENT:
      g_value_set_uint64 (value, self->bytes);
      break;
    case PROP_DROPS:
      g_value_set_uint64 (value, self->drops);
      break;
    case PROP_ZERO_COPY_FRAMES:
      g_value_set_uint64 (value, self->in_place);
      break;
    case PROP_UTILISATION:
      /* zb_writer_get_status() is a lock-free snapshot */
      if (self->writer && zb_writer_get_status (self->writer, &status) == 0)
        g_value_set_double (value, CLAMP (status.utilisation, 0.0, 1.0));
      else
        g_value_set_double (value, 0.0);
      break;
    case PROP_READER_PID:
      g_value_set_uint64 (value, self->reader_pid);
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

static gboolean
gst_zb_sink_start (GstBaseSink * bsink)
{
  GstZbSink *self = GST_ZB_SINK (bsink);
  gchar *name = NULL;
  guint threads;
  int ret;

  GST_OBJECT_LOCK (self);
  if (self->channel_name && self->buffer_name && !self->name_from_channel) {
    GST_OBJECT_UNLOCK (self);
    goto both_names;
  }
  if (self->channel_name) {
    /* the duplex channel's response buffer, created by the client */
    g_free (self->buffer_name);
    self->buffer_name = g_strdup_printf ("%s_response", self->channel_name);
    self->name_from_channel = TRUE;
  }
  self->chan_mode = self->channel_name != NULL;
  self->chan_generation = 0;
  self->chan_expected = 1;
  self->chan_sending = 0;
  name = g_strdup (self->buffer_name);
  self->format = self->frame_format;
  self->frames = self->bytes = self->drops = self->in_place = 0;
  self->reader_pid = 0;
  self->connected = FALSE;
  threads = self->copy_threads;
  GST_OBJECT_UNLOCK (self);

  self->reader_lost = FALSE;
  self->ever_connected = FALSE;
  gst_caps_replace (&self->sent_caps, NULL);

  if (name == NULL || *name == '\0')
    goto no_name;
  ret = zb_name_check (name);
  if (ret < 0)
    goto bad_name;

  if (threads == 0)
    threads = MIN (g_get_num_processors (), AUTO_COPY_THREADS_MAX);
  self->copier = gst_zb_copier_new (threads);
  g_free (name);
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

static void
disconnect (GstZbSink * self)
{
  GstZbRingAllocator *ra = (GstZbRingAllocator *) self->ring_alloc;
  zb_writer *w;

  g_mutex_lock (&self->writer_lock);
  GST_OBJECT_LOCK (self);
  w = self->writer;
  self->writer = NULL;
  self->connected = FALSE;
  self->reader_pid = 0;
  GST_OBJECT_UNLOCK (self);

  /* the ring goes away: a memory still out moves to the heap; a mapped
   * one keeps the connection (and the ring) until its last unmap */
  g_mutex_lock (&ra->lock);
  if (ra->pending && ra->pending->maps > 0) {
    GST_DEBUG_OBJECT (self, "a mapped ring frame keeps the connection");
    ra->pending->orphan = w;
    w = NULL;
  } else if (ra->pending) {
    ring_memory_detach (ra->pending);
  }
  ra->pending = NULL;
  g_mutex_unlock (&ra->lock);
  self->ring_slot = NULL;
  zb_writer_disconnect (w);
  gst_caps_replace (&self->sent_caps, NULL);
  g_mutex_unlock (&self->writer_lock);
}

static gboolean
gst_zb_sink_stop (GstBaseSink * bsink)
{
  GstZbSink *self = GST_ZB_SINK (bsink);

  disconnect (self);
  gst_zb_copier_free (self->copier);
  self->copier = NULL;
  gst_zb_clock_cache_clear (&self->clock_cache);
  gst_caps_replace (&self->caps, NULL);
  g_mutex_lock (&((GstZbRingAllocator *) self->ring_alloc)->lock);
  self->render_thread = NULL;
  g_mutex_unlock (&((GstZbRingAllocator *) self->ring_alloc)->lock);
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
gst_zb_sink_unlock (GstBaseSink * bsink)
{
  GstZbSink *self = GST_ZB_SINK (bsink);
  GstZbRingAllocator *ra = (GstZbRingAllocator *) self->ring_alloc;

  GST_OBJECT_LOCK (self);
  self->unlocked = TRUE;
  if (self->writer)
    zb_writer_wakeup (self->writer);
  GST_OBJECT_UNLOCK (self);
  g_mutex_lock (&ra->lock);
  ra->interrupt = TRUE;
  g_cond_broadcast (&ra->unmapped);
  g_mutex_unlock (&ra->lock);
  return TRUE;
}

static gboolean
gst_zb_sink_unlock_stop (GstBaseSink * bsink)
{
  GstZbSink *self = GST_ZB_SINK (bsink);
  GstZbRingAllocator *ra = (GstZbRingAllocator *) self->ring_alloc;

  GST_OBJECT_LOCK (self);
  self->unlocked = FALSE;
  if (self->writer)
    zb_writer_wakeup_clear (self->writer);
  GST_OBJECT_UNLOCK (self);
  g_mutex_lock (&ra->lock);
  ra->interrupt = FALSE;
  g_mutex_unlock (&ra->lock);
  return TRUE;
}

static gboolean
is_unlocked (GstZbSink * self)
{
  gboolean ret;

  GST_OBJECT_LOCK (self);
  ret = self->unlocked;
  GST_OBJECT_UNLOCK (self);
  return ret;
}

static void
post_message (GstZbSink * self, const gchar * name, guint64 pid,
    const gchar * reason)
{
  GstStructure *s;
  gchar *buffer_name;

  GST_OBJECT_LOCK (self);
  buffer_name = g_strdup (self->buffer_name);
  GST_OBJECT_UNLOCK (self);

  s = gst_structure_new (name, "buffer-name", G_TYPE_STRING, buffer_name,
      "pid", G_TYPE_UINT64, pid, NULL);
  if (reason)
    gst_structure_set (s, "reason", G_TYPE_STRING, reason, NULL);
  g_free (buffer_name);
  gst_element_post_message (GST_ELEMENT (self),
      gst_message_new_element (GST_OBJECT (self), s));
}

/* ------------------------------------------------------------------ */
/* Metadata */

/* The JSON object of section 7 of the protocol notes, exactly these bytes
 * (no NUL). Returns a g_malloc()ed string. */
static gchar *
make_metadata (GstZbSink * self, gsize * len)
{
  gchar *name = gst_object_get_name (GST_OBJECT (self));
  gchar *out = gst_zb_make_metadata ("gstreamer-sink", self->caps, name,
      self->format, len);

  g_free (name);
  return out;
}

/* ------------------------------------------------------------------ */
/* Duplex channel */

/* Is the response being sent for a client that zbsrc no longer serves? */
static gboolean
channel_stale (GstZbSink * self)
{
  guint64 current = 0;
  gboolean known;
  gchar *channel;

  if (!self->chan_mode || self->chan_sending == 0 ||
      self->chan_sending == G_MAXUINT64)
    return FALSE;
  GST_OBJECT_LOCK (self);
  channel = g_strdup (self->channel_name);
  GST_OBJECT_UNLOCK (self);
  known = gst_zb_channel_lookup (channel, &current);
  g_free (channel);
  return known && current != self->chan_sending;
}

/* @buffer must answer the next request of the current client (zbsrc
 * stamped the request with a GstZbRequestMeta). Returns GST_FLOW_OK to send
 * it, GST_FLOW_CUSTOM_SUCCESS to drop it (its client is gone) or
 * GST_FLOW_ERROR. */
static GstFlowReturn
channel_check (GstZbSink * self, GstBuffer * buffer)
{
  GstZbRequestMeta *meta = gst_buffer_get_zb_request_meta (buffer);
  guint64 seq;
  gchar *channel;

  if (meta == NULL) {
    if (self->chan_sending != G_MAXUINT64)
      GST_ELEMENT_WARNING (self, STREAM, FORMAT,
          ("Buffers reach zbsink without the request stamp of zbsrc: an "
              "element in between drops buffer metadata, so dropped or "
              "merged buffers cannot be detected."), (NULL));
    /* answer in order, unchecked */
    self->chan_sending = G_MAXUINT64;
    return GST_FLOW_OK;
  }

  self->chan_sending = meta->generation;
  if (channel_stale (self)) {
    GST_DEBUG_OBJECT (self, "dropping the response to request %"
        G_GUINT64_FORMAT " of client %" G_GUINT64_FORMAT ": client gone",
        meta->sequence, meta->generation);
    GST_OBJECT_LOCK (self);
    self->drops++;
    GST_OBJECT_UNLOCK (self);
    return GST_FLOW_CUSTOM_SUCCESS;
  }
  if (meta->generation != self->chan_generation) {
    /* a new client, with a new response buffer */
    if (self->writer)
      disconnect (self);
    self->chan_generation = meta->generation;
    self->chan_expected = 1;
  }
  seq = meta->sequence;
  if (seq != self->chan_expected)
    goto out_of_order;
  if (self->writer && self->sent_caps && self->caps &&
      !gst_caps_is_equal (self->caps, self->sent_caps))
    goto caps_changed;
  return GST_FLOW_OK;

  /* ERRORS */
out_of_order:
  {
    GST_OBJECT_LOCK (self);
    channel = g_strdup (self->channel_name);
    GST_OBJECT_UNLOCK (self);
    if (seq > self->chan_expected)
      GST_ELEMENT_ERROR (self, STREAM, FAILED,
          ("Duplex channel \"%s\": request %" G_GUINT64_FORMAT " got no "
              "response; an element between zbsrc and zbsink dropped or "
              "merged buffers (one buffer out per buffer in is required).",
              channel, self->chan_expected),
          ("next buffer answers request %" G_GUINT64_FORMAT, seq));
    else
      GST_ELEMENT_ERROR (self, STREAM, FAILED,
          ("Duplex channel \"%s\": request %" G_GUINT64_FORMAT " got a "
              "second response; an element between zbsrc and zbsink "
              "duplicated buffers (one buffer out per buffer in is "
              "required).", channel, seq),
          ("request %" G_GUINT64_FORMAT " was due", self->chan_expected));
    g_free (channel);
    return GST_FLOW_ERROR;
  }
caps_changed:
  {
    GST_OBJECT_LOCK (self);
    channel = g_strdup (self->channel_name);
    GST_OBJECT_UNLOCK (self);
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION,
        ("Duplex channel \"%s\": the response caps changed while the "
            "client's caps did not; a client learns the response caps only "
            "when it connects.", channel), ("%" GST_PTR_FORMAT " -> %"
            GST_PTR_FORMAT, self->sent_caps, self->caps));
    g_free (channel);
    return GST_FLOW_ERROR;
  }
}

/* ------------------------------------------------------------------ */
/* Connection */

typedef enum
{
  CONNECT_OK,
  CONNECT_NONE,                 /* no reader, not allowed to wait */
  CONNECT_INTERRUPTED,
  CONNECT_ERROR
} ConnectResult;

/* Connect to the reader's buffer unless connected. @block: wait for the
 * buffer to appear (per connect-timeout), else try once. */
static ConnectResult
ensure_connected (GstZbSink * self, gboolean block)
{
  zb_writer_config config;
  zb_writer *w = NULL;
  zb_status status;
  gchar *name, *meta;
  gsize meta_len;
  gint connect_timeout;
  gint allow_uid;
  gint64 start = g_get_monotonic_time ();
  guint64 pid = 0;
  gboolean leaky;
  int ret;

  if (self->writer)
    return CONNECT_OK;

  GST_OBJECT_LOCK (self);
  name = g_strdup (self->buffer_name);
  connect_timeout = self->connect_timeout;
  leaky = self->leaky;
  allow_uid = self->allow_uid;
  GST_OBJECT_UNLOCK (self);

  memset (&config, 0, sizeof (config));
  config.write_timeout_ms = leaky ? LEAKY_WRITE_TIMEOUT_MS : WRITE_SLICE_MS;
  config.allow_uid = allow_uid >= 0 ? (uid_t) allow_uid : 0;

  for (;;) {
    if (is_unlocked (self)) {
      g_free (name);
      return CONNECT_INTERRUPTED;
    }
    if (channel_stale (self)) {
      /* the client that sent the request is gone: drop its response */
      g_free (name);
      return CONNECT_NONE;
    }
    config.connect_timeout_ms = block ? CONNECT_SLICE_MS : 0;
    if (block && connect_timeout >= 0) {
      gint64 left = connect_timeout - (g_get_monotonic_time () - start) / 1000;

      config.connect_timeout_ms = (int) CLAMP (left, 0, CONNECT_SLICE_MS);
    }
    ret = zb_writer_connect (name, &config, &w);
    if (ret == 0)
      break;
    if (ret != -ENOENT)
      goto connect_failed;
    if (!block) {
      g_free (name);
      return CONNECT_NONE;
    }
    if (connect_timeout >= 0 &&
        g_get_monotonic_time () - start >= (gint64) connect_timeout * 1000)
      goto connect_timed_out;
    /* zb_writer_connect() returns -ENOENT at once when a dead reader's
     * buffer is still there; do not spin */
    if (g_get_monotonic_time () - start < 1000 * CONNECT_SLICE_MS / 2)
      g_usleep (10 * 1000);
  }

  if (zb_writer_get_status (w, &status) == 0)
    pid = status.reader_pid;

  meta = make_metadata (self, &meta_len);
  ret = zb_writer_set_metadata (w, meta, meta_len);
  g_free (meta);
  if (ret < 0)
    goto metadata_failed;

  GST_OBJECT_LOCK (self);
  self->writer = w;
  self->connected = TRUE;
  self->reader_pid = pid;
  /* an unlock() that ran while we connected saw no writer to wake */
  if (self->unlocked)
    zb_writer_wakeup (w);
  GST_OBJECT_UNLOCK (self);

  gst_caps_replace (&self->sent_caps, self->caps);
  GST_INFO_OBJECT (self, "connected to buffer \"%s\", reader pid %"
      G_GUINT64_FORMAT, name, pid);
  post_message (self, "zbsink-reader-connected", pid,
      self->ever_connected ? "replaced" : NULL);
  self->ever_connected = TRUE;
  self->reader_lost = FALSE;
  g_free (name);
  return CONNECT_OK;

  /* ERRORS */
connect_failed:
  {
    if (ret == -EBUSY)
      GST_ELEMENT_ERROR (self, RESOURCE, BUSY,
          ("Buffer \"%s\" already has a live writer.", name),
          ("zb_writer_connect: %s", zb_strerror (ret)));
    else if (ret == -EACCES)
      GST_ELEMENT_ERROR (self, RESOURCE, OPEN_WRITE,
          ("Permission denied opening buffer \"%s\" in /dev/shm.", name),
          ("zb_writer_connect: %s", zb_strerror (ret)));
    else if (ret == -EPERM)
      GST_ELEMENT_ERROR (self, RESOURCE, OPEN_WRITE,
          ("Buffer \"%s\" belongs to another user; set allow-uid to that "
              "user's uid to write to it.", name),
          ("zb_writer_connect: %s", zb_strerror (ret)));
    else if (ret == -ENOLCK)
      GST_ELEMENT_ERROR (self, RESOURCE, OPEN_WRITE,
          ("No reader holds the lock file of buffer \"%s\" "
              "(/tmp/zerobuffer/%s.lock): not writing to it.", name, name),
          ("zb_writer_connect: %s", zb_strerror (ret)));
    else
      GST_ELEMENT_ERROR (self, RESOURCE, OPEN_WRITE,
          ("Could not connect to buffer \"%s\".", name),
          ("zb_writer_connect: %s", zb_strerror (ret)));
    g_free (name);
    return CONNECT_ERROR;
  }
connect_timed_out:
  {
    GST_ELEMENT_ERROR (self, RESOURCE, NOT_FOUND,
        ("No reader created buffer \"%s\" within %d ms.", name,
            connect_timeout), ("zb_writer_connect: %s", zb_strerror (ret)));
    g_free (name);
    return CONNECT_ERROR;
  }
metadata_failed:
  {
    zb_writer_disconnect (w);
    if (ret == -EMSGSIZE)
      GST_ELEMENT_ERROR (self, RESOURCE, NO_SPACE_LEFT,
          ("The caps do not fit in the metadata block of buffer \"%s\"; "
              "raise metadata-size on the reader.", name),
          ("%" G_GSIZE_FORMAT " bytes of metadata", meta_len));
    else
      GST_ELEMENT_ERROR (self, RESOURCE, WRITE,
          ("Could not write the metadata of buffer \"%s\".", name),
          ("zb_writer_set_metadata: %s", zb_strerror (ret)));
    g_free (name);
    return CONNECT_ERROR;
  }
}

/* The reader went away (@ret is -EPIPE or -EOWNERDEAD). Returns
 * GST_FLOW_OK when the caller may reconnect, GST_FLOW_ERROR otherwise. */
static GstFlowReturn
handle_reader_lost (GstZbSink * self, int ret)
{
  GstZbReaderLost action;
  gchar *name;
  guint64 pid;

  GST_OBJECT_LOCK (self);
  action = self->on_reader_lost;
  name = g_strdup (self->buffer_name);
  pid = self->reader_pid;
  GST_OBJECT_UNLOCK (self);

  GST_INFO_OBJECT (self, "reader %" G_GUINT64_FORMAT " of \"%s\" lost: %s",
      pid, name, zb_strerror (ret));
  disconnect (self);
  self->reader_lost = TRUE;
  post_message (self, "zbsink-reader-lost", pid,
      ret == -EOWNERDEAD ? "died" : "disconnected");

  if (action == GST_ZB_READER_LOST_ERROR) {
    GST_ELEMENT_ERROR (self, RESOURCE, WRITE,
        ("The reader of buffer \"%s\" is gone (%s).", name,
            ret == -EOWNERDEAD ? "died" : "disconnected"),
        ("reader pid %" G_GUINT64_FORMAT ", on-reader-lost=error", pid));
    g_free (name);
    return GST_FLOW_ERROR;
  }
  g_free (name);
  return GST_FLOW_OK;
}

/* ------------------------------------------------------------------ */
/* Caps and layouts */

static gboolean
gst_zb_sink_set_caps (GstBaseSink * bsink, GstCaps * caps)
{
  GstZbSink *self = GST_ZB_SINK (bsink);
  GstStructure *s;

  GST_DEBUG_OBJECT (self, "caps %" GST_PTR_FORMAT, caps);

  /* a duplex channel checks caps changes per client in channel_check() */
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
  return TRUE;

  /* ERRORS */
raw_caps_change:
  {
    gchar *old = gst_caps_to_string (self->sent_caps);
    gchar *new = gst_caps_to_string (caps);
    gchar *name;

    GST_OBJECT_LOCK (self);
    name = g_strdup (self->buffer_name);
    GST_OBJECT_UNLOCK (self);
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION,
        ("Caps changed on buffer \"%s\", but frame-format=raw cannot carry "
            "a caps change; use frame-format=gst.", name),
        ("old caps %s, new caps %s", old, new));
    g_free (old);
    g_free (new);
    g_free (name);
    return FALSE;
  }
}

static gboolean
gst_zb_sink_propose_allocation (GstBaseSink * bsink, GstQuery * query)
{
  GstZbSink *self = GST_ZB_SINK (bsink);
  GstAllocationParams params;
  gboolean zero_copy;

  GST_OBJECT_LOCK (self);
  zero_copy = self->zero_copy;
  GST_OBJECT_UNLOCK (self);
  /* we read any layout through GstVideoMeta and repack it */
  gst_query_add_allocation_meta (query, GST_VIDEO_META_API_TYPE, NULL);
  /* memory in the ring (see "Ring memory"); plain memory when not usable */
  if (zero_copy && self->format == GST_ZB_FRAME_FORMAT_GST && !self->chan_mode) {
    gst_allocation_params_init (&params);
    gst_query_add_allocation_param (query, self->ring_alloc, &params);
  }
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

  zb_gst_record_init (rec, ZB_GST_RECORD_BUFFER);
  rec->buffer_flags = GST_BUFFER_FLAGS (buf) & ~GST_BUFFER_FLAG_TAG_MEMORY;
  rec->pts = GST_BUFFER_PTS (buf);
  rec->dts = GST_BUFFER_DTS (buf);
  rec->duration = GST_BUFFER_DURATION (buf);
  rec->offset = GST_BUFFER_OFFSET (buf);
  rec->offset_end = GST_BUFFER_OFFSET_END (buf);

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

/* ------------------------------------------------------------------ */
/* Writing */

/* Copy @buf into @dst (@size bytes): video planes row by row into
 * @layout, anything else as its bytes; large frames with the copier's
 * threads. */
static void
copy_payload (GstZbSink * self, GstBuffer * buf, const GstZbLayout * layout,
    guint8 * dst, gsize size)
{
  GstZbCopyPlane planes[GST_ZB_COPY_MAX_PLANES];
  GstVideoFrame vf;
  GstMapInfo map;
  guint p;

  if (layout && gst_video_frame_map (&vf, &self->vinfo, buf, GST_MAP_READ)) {
    for (p = 0; p < GST_VIDEO_FRAME_N_PLANES (&vf); p++) {
      gint sstride = GST_VIDEO_FRAME_PLANE_STRIDE (&vf, p);

      planes[p].dst = dst + layout->offset[p];
      planes[p].src = GST_VIDEO_FRAME_PLANE_DATA (&vf, p);
      planes[p].dst_stride = layout->stride[p];
      planes[p].src_stride = sstride;
      planes[p].row_bytes = MIN (layout->row_bytes[p], ABS (sstride));
      planes[p].rows = layout->rows[p];
    }
    gst_zb_copier_run (self->copier, planes, p);
    gst_video_frame_unmap (&vf);
    return;
  }
  /* one memory: mapped as it is; more: gst_buffer_map() would merge
   * them into a copy first */
  if (gst_buffer_n_memory (buf) == 1 && gst_buffer_map (buf, &map,
          GST_MAP_READ)) {
    gst_zb_copier_copy (self->copier, dst, map.data, MIN (size, map.size));
    gst_buffer_unmap (buf, &map);
    return;
  }
  gst_buffer_extract (buf, 0, dst, size);
}

/* Does @buf need repacking into @layout, or are its bytes already laid out
 * that way? */
static gboolean
needs_repack (GstZbSink * self, GstBuffer * buf, const GstZbLayout * layout)
{
  GstVideoMeta *meta;
  guint p;

  if (!self->is_video)
    return FALSE;
  meta = gst_buffer_get_video_meta (buf);
  for (p = 0; p < GST_VIDEO_INFO_N_PLANES (&self->vinfo); p++) {
    gsize off = meta ? meta->offset[p] : GST_VIDEO_INFO_PLANE_OFFSET
        (&self->vinfo, p);
    gint stride = meta ? meta->stride[p] : GST_VIDEO_INFO_PLANE_STRIDE
        (&self->vinfo, p);

    if (off != layout->offset[p] || stride != layout->stride[p])
      return TRUE;
  }
  return gst_buffer_get_size (buf) < layout->size;
}

typedef enum
{
  WRITE_OK,
  WRITE_DROPPED,
  WRITE_LOST,                   /* reader lost; *err says how */
  WRITE_INTERRUPTED,
  WRITE_ERROR
} WriteResult;

/* Write one frame: an optional gst record header, then @buf (or nothing).
 * Blocks while the ring is full unless leaky. */
static WriteResult
write_frame (GstZbSink * self, const zb_gst_record * rec, GstBuffer * buf,
    const void *bytes, gsize nbytes, int *err)
{
  const GstZbLayout *layout = NULL;
  gsize hdr = rec ? ZB_GST_HEADER_SIZE : 0;
  gsize payload = nbytes;
  gsize want;
  gint64 start = 0;
  gint write_timeout;
  gboolean leaky, padding = FALSE;
  guint pads = 0;
  gchar *name;
  void *dst;
  int ret;

  if (buf) {
    const GstZbLayout *l = self->format == GST_ZB_FRAME_FORMAT_RAW ?
        &self->raw_layout : &self->gst_layout;

    if (needs_repack (self, buf, l)) {
      layout = l;
      payload = l->size;
    } else {
      payload = gst_buffer_get_size (buf);
    }
  }

  GST_OBJECT_LOCK (self);
  write_timeout = self->write_timeout;
  leaky = self->leaky;
  GST_OBJECT_UNLOCK (self);
  if (write_timeout > 0)
    start = g_get_monotonic_time ();    /* no clock read per buffer else */

  if (hdr + payload == 0)
    return WRITE_OK;            /* an empty raw buffer: nothing to send */

  if (self->ring_slot != NULL) {
    int wr;

    if (rec && buf && ring_write_pending (self, rec, buf, layout, payload,
            err, &wr))
      return (WriteResult) wr;
    ret = ring_flush_noop (self);
    if (ret == -EINTR) {
      *err = ret;
      return WRITE_INTERRUPTED;
    }
    if (ret < 0)
      goto ring_pending;
  }

  want = hdr + payload;
  for (;;) {
    ret = zb_writer_acquire (self->writer, want, &dst);
    if (ret == 0 && padding) {
      /* the ring up to its end is skipped by the reader */
      zb_gst_record pad;

      zb_gst_record_init (&pad, ZB_GST_RECORD_PAD);
      pad.payload_size = want - ZB_GST_HEADER_SIZE;
      zb_gst_record_encode (&pad, dst);
      ret = zb_writer_commit (self->writer);
      if (ret < 0)
        goto write_failed;
      GST_DEBUG_OBJECT (self, "frame of %" G_GSIZE_FORMAT " bytes does not "
          "fit from the write position: pad record of %" G_GSIZE_FORMAT
          " bytes", hdr + payload, want);
      padding = FALSE;
      want = hdr + payload;
      continue;
    }
    if (ret == 0)
      break;
    switch (ret) {
      case -E2BIG:
        /* The frame fits the ring, but not from the write position however
         * empty the ring gets (docs/protocol.md §4). In the gst format we
         * own both ends: a pad record up to the end of the ring (zbsrc
         * skips it) takes the position to 0, where the frame fits once
         * the reader has read on. From the last 95 bytes a pad record of
         * the smallest size wraps first, the next one reaches the end.
         * Raw frames (and duplex responses, one frame each) cannot do
         * that: no_fit. */
        if (rec == NULL || self->chan_mode || padding || ++pads > 2)
          goto no_fit;
        {
          gsize to_end = zb_writer_space_to_end (self->writer);

          want = to_end >= ZB_GST_MIN_FRAME ? to_end - ZB_FRAME_HEADER_SIZE :
              ZB_GST_HEADER_SIZE;
        }
        padding = TRUE;
        continue;
      case -ENOBUFS:
        /* only buffers are dropped; caps and EOS records must arrive */
        if (leaky && buf != NULL)
          return WRITE_DROPPED;
        ret = zb_writer_check_reader (self->writer);
        if (ret < 0) {
          *err = ret;
          return WRITE_LOST;
        }
        if (write_timeout > 0 && g_get_monotonic_time () - start >=
            (gint64) write_timeout * 1000)
          goto write_timed_out;
        if (is_unlocked (self))
          return WRITE_INTERRUPTED;
        continue;
      case -EINTR:
        return WRITE_INTERRUPTED;
      case -EPIPE:
      case -EOWNERDEAD:
        *err = ret;
        return WRITE_LOST;
      case -EMSGSIZE:
        goto too_big;
      default:
        goto write_failed;
    }
  }

  if (rec) {
    zb_gst_record r = *rec;

    r.payload_size = payload;
    zb_gst_record_encode (&r, dst);
  }
  if (buf)
    copy_payload (self, buf, layout, (guint8 *) dst + hdr, payload);
  else if (nbytes)
    memcpy ((guint8 *) dst + hdr, bytes, nbytes);
  ret = zb_writer_commit (self->writer);
  if (ret < 0)
    goto write_failed;
  return WRITE_OK;

  /* ERRORS */
ring_pending:
  {
    GST_OBJECT_LOCK (self);
    name = g_strdup (self->buffer_name);
    GST_OBJECT_UNLOCK (self);
    GST_ELEMENT_ERROR (self, RESOURCE, WRITE,
        ("Could not write to buffer \"%s\": upstream holds a frame "
            "allocated in the ring and sent something else first.", name),
        ("pending frame of %" G_GSIZE_FORMAT " bytes, this one %"
            G_GSIZE_FORMAT, self->ring_size, payload));
    g_free (name);
    return WRITE_ERROR;
  }
write_timed_out:
  {
    GST_OBJECT_LOCK (self);
    name = g_strdup (self->buffer_name);
    GST_OBJECT_UNLOCK (self);
    GST_ELEMENT_ERROR (self, RESOURCE, WRITE,
        ("The reader of buffer \"%s\" freed no space within %d ms.", name,
            write_timeout), ("frame of %" G_GSIZE_FORMAT " bytes",
            hdr + payload));
    g_free (name);
    return WRITE_ERROR;
  }
too_big:
  {
    zb_status status;

    memset (&status, 0, sizeof (status));
    zb_writer_get_status (self->writer, &status);
    GST_OBJECT_LOCK (self);
    name = g_strdup (self->buffer_name);
    GST_OBJECT_UNLOCK (self);
    GST_ELEMENT_ERROR (self, RESOURCE, NO_SPACE_LEFT,
        ("A frame of %" G_GSIZE_FORMAT " bytes does not fit in the ring of "
            "buffer \"%s\" (%" G_GUINT64_FORMAT " bytes); raise payload-size "
            "on the reader.", hdr + payload, name, status.payload_size),
        ("%s", zb_strerror (ret)));
    g_free (name);
    return WRITE_ERROR;
  }
no_fit:
  {
    zb_status status;
    gsize largest = zb_writer_max_size (self->writer);
    gsize always;

    memset (&status, 0, sizeof (status));
    zb_writer_get_status (self->writer, &status);
    always = zb_max_size_always (status.payload_size);
    GST_OBJECT_LOCK (self);
    name = g_strdup (self->buffer_name);
    GST_OBJECT_UNLOCK (self);
    /* raw: only a smaller frame moves the position on; leaky drops this
     * one so that the next ones can */
    if (leaky && buf != NULL && !padding) {
      if (!self->no_fit_warned)
        GST_ELEMENT_WARNING (self, RESOURCE, WRITE,
            ("Dropping frames of buffer \"%s\" that cannot be written at "
                "the current position of its ring: this one has %"
                G_GSIZE_FORMAT " bytes, from there at most %" G_GSIZE_FORMAT
                " bytes fit; frames up to %" G_GSIZE_FORMAT " bytes always "
                "fit.", name, want, largest, always),
            ("%s (ring of %" G_GUINT64_FORMAT " bytes, write position %"
                G_GUINT64_FORMAT ")", zb_strerror (ret), status.payload_size,
                status.write_pos));
      self->no_fit_warned = TRUE;
      g_free (name);
      return WRITE_DROPPED;
    }
    GST_ELEMENT_ERROR (self, RESOURCE, NO_SPACE_LEFT,
        ("A frame of %" G_GSIZE_FORMAT " bytes cannot be written at the "
            "current position of the ring of buffer \"%s\" (%" G_GUINT64_FORMAT
            " bytes): from there at most %" G_GSIZE_FORMAT " bytes fit, and "
            "only a smaller frame moves the position on; frames up to %"
            G_GSIZE_FORMAT " bytes always fit. Use frame-format=gst, smaller "
            "frames or a larger payload-size on the reader.", want, name,
            status.payload_size, largest, always),
        ("%s (write position %" G_GUINT64_FORMAT ")", zb_strerror (ret),
            status.write_pos));
    g_free (name);
    return WRITE_ERROR;
  }
write_failed:
  {
    GST_OBJECT_LOCK (self);
    name = g_strdup (self->buffer_name);
    GST_OBJECT_UNLOCK (self);
    GST_ELEMENT_ERROR (self, RESOURCE, WRITE,
        ("Could not write to buffer \"%s\".", name), ("%s", zb_strerror (ret)));
    g_free (name);
    return WRITE_ERROR;
  }
}

static gboolean
ring_write_pending (GstZbSink * self, const zb_gst_record * rec,
    GstBuffer * buf, const void *layout, gsize payload, int *err, int *wr)
{
  zb_gst_record r = *rec;
  GstZbRingAllocator *ra = (GstZbRingAllocator *) self->ring_alloc;
  GstZbRingMemory *rm = NULL;
  GstMemory *mem;
  gboolean in_place = FALSE;
  int ret;

  if (payload != self->ring_size)
    return FALSE;
  mem = gst_buffer_n_memory (buf) == 1 ? gst_buffer_peek_memory (buf, 0) : NULL;
  g_mutex_lock (&ra->lock);
  /* a mapping points into the slot: it may move on once unmapped */
  if (!ring_wait_unmapped (self, ra)) {
    g_mutex_unlock (&ra->lock);
    *err = -EINTR;
    *wr = WRITE_INTERRUPTED;
    return TRUE;
  }
  if (mem && (GstZbRingMemory *) mem == ra->pending && layout == NULL &&
      mem->offset == 0 && mem->size == payload) {
    rm = ra->pending;
    /* nobody but us may see the bytes once the reader has them */
    in_place = GST_MINI_OBJECT_REFCOUNT_VALUE (buf) == 1 &&
        GST_MINI_OBJECT_REFCOUNT_VALUE (mem) == 1;
  }
  /* others still see this memory: they keep its bytes from the heap */
  if (!in_place && ra->pending)
    ring_memory_detach (ra->pending);
  ra->pending = NULL;
  g_mutex_unlock (&ra->lock);

  /* our memory already holds the bytes in the slot */
  if (rm == NULL)
    copy_payload (self, buf, (const GstZbLayout *) layout, self->ring_slot,
        payload);
  r.payload_size = payload;
  zb_gst_record_encode (&r, self->ring_slot - ZB_GST_HEADER_SIZE);
  self->ring_slot = NULL;
  if (rm && !rm->heap) {
    GST_OBJECT_LOCK (self);
    self->in_place++;
    GST_OBJECT_UNLOCK (self);
    /* spent: a buffer pool must not hand it out again (it drops buffers
     * whose memory is tagged) */
    GST_MINI_OBJECT_FLAG_SET (rm, GST_MEMORY_FLAG_READONLY);
    if (in_place)
      GST_BUFFER_FLAG_SET (buf, GST_BUFFER_FLAG_TAG_MEMORY);
    rm->data = NULL;
  }
  ret = zb_writer_commit (self->writer);
  *err = ret;
  *wr = ret < 0 ? WRITE_ERROR : WRITE_OK;
  return TRUE;
}

/* The pending slot cannot take this frame: fill it with a caps record
 * that repeats the caps the reader has (NUL-terminated, the rest of the
 * slot ignored), which changes nothing on the reading side. */
static int
ring_flush_noop (GstZbSink * self)
{
  zb_gst_record r;
  const gchar *str = noop_caps_string (self);
  gsize len;
  int ret;

  /* ring_alloc() made sure that it fits */
  if (str == NULL)
    return -EINVAL;
  len = strlen (str) + 1;
  if (len > self->ring_size)
    return -EMSGSIZE;
  if (!ring_release_memory (self))
    return -EINTR;
  zb_gst_record_init (&r, ZB_GST_RECORD_CAPS);
  r.payload_size = self->ring_size;
  memcpy (self->ring_slot, str, len);
  zb_gst_record_encode (&r, self->ring_slot - ZB_GST_HEADER_SIZE);
  self->ring_slot = NULL;
  ret = zb_writer_commit (self->writer);
  GST_DEBUG_OBJECT (self, "pending ring slot of %" G_GSIZE_FORMAT " bytes "
      "filled with a no-op caps record", self->ring_size);
  return ret;
}

/* Connect if needed, send a caps record if the caps changed, write the
 * frame; reconnect on reader loss per on-reader-lost. @in_render: called
 * from render() with the PREROLL_LOCK held, so an interrupted wait may
 * wait for PLAYING and retry. */
static GstFlowReturn
send (GstZbSink * self, const zb_gst_record * rec, GstBuffer * buf,
    gboolean in_render)
{
  GstZbReaderLost action;
  GstFlowReturn flow;
  ConnectResult cr;
  WriteResult wr;
  int err = 0;

  for (;;) {
    GST_OBJECT_LOCK (self);
    action = self->on_reader_lost;
    GST_OBJECT_UNLOCK (self);

    cr = ensure_connected (self, !(self->reader_lost &&
            action == GST_ZB_READER_LOST_DROP));
    if (cr == CONNECT_ERROR)
      return GST_FLOW_ERROR;
    if (cr == CONNECT_NONE)
      goto dropped;
    if (cr == CONNECT_INTERRUPTED)
      goto interrupted;

    /* caps changed since the metadata or the last caps record */
    wr = WRITE_OK;
    /* a duplex channel has exactly one frame per response: its caps
     * travel only in the metadata */
    if (!self->chan_mode && self->format == GST_ZB_FRAME_FORMAT_GST &&
        self->caps &&
        (self->sent_caps == NULL || !gst_caps_is_equal (self->caps,
                self->sent_caps))) {
      zb_gst_record crec;
      gchar *str = gst_caps_to_string (self->caps);

      zb_gst_record_init (&crec, ZB_GST_RECORD_CAPS);
      wr = write_frame (self, &crec, NULL, str, strlen (str), &err);
      g_free (str);
      if (wr == WRITE_OK)
        gst_caps_replace (&self->sent_caps, self->caps);
    }
    if (wr == WRITE_OK)
      wr = write_frame (self, self->format == GST_ZB_FRAME_FORMAT_GST ? rec :
          NULL, buf, NULL, 0, &err);

    switch (wr) {
      case WRITE_OK:
        if (buf) {
          GST_OBJECT_LOCK (self);
          self->frames++;
          self->bytes += gst_buffer_get_size (buf);
          GST_OBJECT_UNLOCK (self);
        }
        return GST_FLOW_OK;
      case WRITE_DROPPED:
        goto dropped;
      case WRITE_ERROR:
        return GST_FLOW_ERROR;
      case WRITE_INTERRUPTED:
        goto interrupted;
      case WRITE_LOST:
        flow = handle_reader_lost (self, err);
        if (flow != GST_FLOW_OK)
          return flow;
        continue;
    }
    continue;

  interrupted:
    if (!in_render)
      return GST_FLOW_FLUSHING;
    /* PLAYING -> PAUSED or a flush: wait until PLAYING again (OK) or
     * flushing (FLUSHING) */
    flow = gst_base_sink_wait_preroll (GST_BASE_SINK (self));
    if (flow != GST_FLOW_OK)
      return flow;
    continue;

  dropped:
    if (buf) {
      GST_OBJECT_LOCK (self);
      self->drops++;
      GST_OBJECT_UNLOCK (self);
    }
    return GST_FLOW_OK;
  }
}

static GstFlowReturn
gst_zb_sink_render (GstBaseSink * bsink, GstBuffer * buffer)
{
  GstZbSink *self = GST_ZB_SINK (bsink);
  GstFlowReturn flow;
  zb_gst_record rec;

  if (self->chan_mode) {
    flow = channel_check (self, buffer);
    if (flow == GST_FLOW_CUSTOM_SUCCESS)
      return GST_FLOW_OK;
    if (flow != GST_FLOW_OK)
      return flow;
  }
  if (gst_buffer_n_memory (buffer) == 1) {
    GstMemory *mem = gst_buffer_peek_memory (buffer, 0);

    /* not on a buffer others see too (a tee): its flags are theirs */
    if (mem->allocator == self->ring_alloc && ((GstZbRingMemory *) mem)->retry
        && gst_buffer_is_writable (buffer))
      GST_BUFFER_FLAG_SET (buffer, GST_BUFFER_FLAG_TAG_MEMORY);
  }
  if (G_UNLIKELY (self->render_thread != g_thread_self ())) {
    GstZbRingAllocator *ra = (GstZbRingAllocator *) self->ring_alloc;

    g_mutex_lock (&ra->lock);
    self->render_thread = g_thread_self ();
    g_mutex_unlock (&ra->lock);
  }
  fill_record (self, buffer, &rec);
  flow = send (self, &rec, buffer, TRUE);
  if (self->chan_mode && flow == GST_FLOW_OK)
    self->chan_expected++;
  return flow;
}

/* How often the EOS wait looks at the reader's count: the library has no
 * event for a read (the reader posts to the writer only when it frees
 * space, which a reader holding frames downstream does later or never).
 * unlock() ends the wait at once. */
#define EOS_POLL_US 2000

/* EOS is acknowledged when the reader has read every frame written. TRUE
 * when it has (or is gone: nobody left to wait for), FALSE when unlock()
 * interrupted the wait. Called with the PREROLL_LOCK held. */
static gboolean
wait_eos_read (GstZbSink * self)
{
  GstZbRingAllocator *ra = (GstZbRingAllocator *) self->ring_alloc;
  zb_status status;
  gboolean interrupted;

  for (;;) {
    if (self->writer == NULL)
      return TRUE;
    if (zb_writer_get_status (self->writer, &status) < 0)
      return TRUE;
    if (status.read_count >= status.written_count)
      return TRUE;
    if (zb_writer_check_reader (self->writer) < 0)
      return TRUE;
    g_mutex_lock (&ra->lock);
    if (!ra->interrupt)
      g_cond_wait_until (&ra->unmapped, &ra->lock,
          g_get_monotonic_time () + EOS_POLL_US);
    interrupted = ra->interrupt;
    g_mutex_unlock (&ra->lock);
    if (interrupted)
      return FALSE;
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
    flow = send (self, &rec, NULL, TRUE);
    if (flow != GST_FLOW_OK) {
      GST_DEBUG_OBJECT (self, "EOS record not written: %s",
          gst_flow_get_name (flow));
      return flow;
    }
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
    disconnect (self);
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
