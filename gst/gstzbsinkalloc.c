/* zerobuffer GStreamer plugin - zbsink's allocator in the ring
 *
 * SPDX-License-Identifier: MIT
 */

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstzbsinkpriv.h"

#include <errno.h>
#include <string.h>

#define GST_CAT_DEFAULT gst_zb_sink_debug

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

GstAllocator *
gst_zb_ring_allocator_new (GstZbSink * sink)
{
  GstZbRingAllocator *ra = g_object_new (gst_zb_ring_allocator_get_type (),
      NULL);

  gst_object_ref_sink (ra);
  ra->sink = sink;
  return GST_ALLOCATOR_CAST (ra);
}

void
gst_zb_ring_allocator_forget_sink (GstAllocator * allocator)
{
  GstZbRingAllocator *ra = (GstZbRingAllocator *) allocator;

  /* stop() already moved a pending memory out of the ring */
  g_mutex_lock (&ra->lock);
  ra->sink = NULL;
  if (ra->pending && ra->pending->maps == 0)
    ring_memory_detach (ra->pending);
  ra->pending = NULL;
  g_mutex_unlock (&ra->lock);
}

zb_writer *
gst_zb_ring_allocator_release (GstAllocator * allocator, zb_writer * writer)
{
  GstZbRingAllocator *ra = (GstZbRingAllocator *) allocator;

  g_mutex_lock (&ra->lock);
  if (ra->pending && ra->pending->maps > 0) {
    GST_DEBUG_OBJECT (ra->sink, "a mapped ring frame keeps the connection");
    ra->pending->orphan = writer;
    writer = NULL;
  } else if (ra->pending) {
    ring_memory_detach (ra->pending);
  }
  ra->pending = NULL;
  g_mutex_unlock (&ra->lock);
  return writer;
}

void
gst_zb_ring_allocator_set_interrupt (GstAllocator * allocator,
    gboolean interrupt)
{
  GstZbRingAllocator *ra = (GstZbRingAllocator *) allocator;

  g_mutex_lock (&ra->lock);
  ra->interrupt = interrupt;
  g_cond_broadcast (&ra->unmapped);
  g_mutex_unlock (&ra->lock);
}

void
gst_zb_ring_allocator_set_render_thread (GstAllocator * allocator,
    GThread * thread)
{
  GstZbRingAllocator *ra = (GstZbRingAllocator *) allocator;

  g_mutex_lock (&ra->lock);
  if (ra->sink)
    ra->sink->render_thread = thread;
  g_mutex_unlock (&ra->lock);
}

gboolean
gst_zb_ring_allocator_sleep (GstAllocator * allocator, gint64 end_time)
{
  GstZbRingAllocator *ra = (GstZbRingAllocator *) allocator;
  gboolean interrupted;

  g_mutex_lock (&ra->lock);
  while (!ra->interrupt && g_cond_wait_until (&ra->unmapped, &ra->lock,
          end_time));
  interrupted = ra->interrupt;
  g_mutex_unlock (&ra->lock);
  return !interrupted;
}

gboolean
gst_zb_ring_memory_is_retry (GstAllocator * allocator, GstMemory * mem)
{
  return mem->allocator == allocator && ((GstZbRingMemory *) mem)->retry;
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
release_memory (GstZbSink * self)
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

gboolean
gst_zb_sink_ring_write_pending (GstZbSink * self, const zb_gst_record * rec,
    GstBuffer * buf, const GstZbLayout * layout, gsize payload, int *err,
    GstZbWriteResult * wr)
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
    gst_zb_sink_copy_payload (self, buf, layout, self->ring_slot, payload);
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
int
gst_zb_sink_ring_flush_noop (GstZbSink * self)
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
  if (!release_memory (self))
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
