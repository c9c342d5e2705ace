/* zerobuffer GStreamer plugin - zbsrc's memories that wrap ring frames
 *
 * SPDX-License-Identifier: MIT
 *
 * zbsrc hands frames downstream without copying them. Space returns to the
 * writer in ring order, so a buffer that downstream keeps (a sink's last
 * sample) can leave the writer no room for its next frame anywhere, and
 * the buffer is only freed when that next frame arrives: a stall for good
 * (docs/elements.md, "Held buffers and a stalled writer"). These memories
 * can therefore leave the ring: when zbsrc sees the writer stalled, it
 * asks the allocator to copy every memory that nobody has mapped to the
 * heap and release its frame. A mapped memory stays where it is (its
 * pointer is in use) until it is unmapped.
 *
 * Locks: the allocator's lock guards its list and is taken before a
 * memory's lock, never the other way round. A memory's lock guards its
 * data pointer, map count and state. zb_reader_release() is thread-safe and
 * takes only the reader's own lock, which is never held across a wait.
 */

#include "gstzbsrcmem.h"

#include <string.h>

/* A root memory wraps one frame; a sub-memory (gst_memory_share()) has a
 * root as its parent and maps through it, so that a mapped sub-memory pins
 * its root. */
typedef struct
{
  GstMemory mem;

  /* roots only; the allocator's lock */
  GList link;                   /* in the allocator's pinned list */

  /* roots only; lock */
  GMutex lock;
  guint8 *data;                 /* maxsize bytes: in the ring, or g_malloc'd
                                 * once moved */
  guint maps;                   /* maps of itself and its sub-memories */
  gboolean moved;               /* data is ours; frame released */
  zb_frame frame;               /* held while !moved */
  gpointer user_data;           /* set once; notified when data no longer
                                 * points outside the heap */
  GDestroyNotify notify;
} GstZbSrcMemory;

typedef struct
{
  GstAllocator parent;

  zb_reader *reader;            /* owned; set once at creation */

  GMutex lock;
  GQueue pinned;                /* lock: roots whose bytes are in the ring */
} GstZbSrcAllocator;

typedef struct
{
  GstAllocatorClass parent_class;
} GstZbSrcAllocatorClass;

static GType gst_zb_src_allocator_get_type (void);
G_DEFINE_TYPE (GstZbSrcAllocator, gst_zb_src_allocator, GST_TYPE_ALLOCATOR);

static GstZbSrcMemory *
root_of (GstMemory * mem)
{
  return (GstZbSrcMemory *) (mem->parent ? mem->parent : mem);
}

static gpointer
src_mem_map (GstMemory * mem, gsize maxsize, GstMapFlags flags)
{
  GstZbSrcMemory *root = root_of (mem);
  gpointer data;

  /* read-only: gst_memory_map() already refuses a write map of a
   * GST_MEMORY_FLAG_READONLY memory; never hand out the ring for writing */
  if (flags & GST_MAP_WRITE)
    return NULL;
  g_mutex_lock (&root->lock);
  root->maps++;
  data = root->data;
  g_mutex_unlock (&root->lock);
  return data;
}

static void
src_mem_unmap (GstMemory * mem)
{
  GstZbSrcMemory *root = root_of (mem);

  g_mutex_lock (&root->lock);
  g_assert (root->maps > 0);
  root->maps--;
  g_mutex_unlock (&root->lock);
}

static GstMemory *
src_mem_share (GstMemory * mem, gssize offset, gssize size)
{
  GstZbSrcMemory *root = root_of (mem);
  GstZbSrcMemory *sub;

  if (size == -1)
    size = mem->size - offset;
  sub = g_new0 (GstZbSrcMemory, 1);
  /* the parent (taken and locked by gst_memory_init()) keeps the root and
   * its frame alive */
  gst_memory_init (GST_MEMORY_CAST (sub),
      GST_MINI_OBJECT_FLAGS (root) | GST_MINI_OBJECT_FLAG_LOCK_READONLY,
      mem->allocator, GST_MEMORY_CAST (root), mem->maxsize, mem->align,
      mem->offset + offset, size);
  return GST_MEMORY_CAST (sub);
}

static GstMemory *
src_mem_copy (GstMemory * mem, gssize offset, gssize size)
{
  GstZbSrcMemory *root = root_of (mem);
  GstMemory *copy;
  GstMapInfo info;

  if (size == -1)
    size = mem->size > (gsize) offset ? mem->size - offset : 0;
  copy = gst_allocator_alloc (NULL, size, NULL);
  if (copy == NULL || !gst_memory_map (copy, &info, GST_MAP_WRITE)) {
    if (copy)
      gst_memory_unref (copy);
    return NULL;
  }
  /* the lock keeps the bytes where they are while they are copied */
  g_mutex_lock (&root->lock);
  memcpy (info.data, root->data + mem->offset + offset, size);
  g_mutex_unlock (&root->lock);
  gst_memory_unmap (copy, &info);
  return copy;
}

static GstMemory *
src_alloc (GstAllocator * allocator, gsize size, GstAllocationParams * params)
{
  /* only gst_zb_src_allocator_wrap() makes these memories */
  return NULL;
}

static void
src_free (GstAllocator * allocator, GstMemory * mem)
{
  GstZbSrcAllocator *self = (GstZbSrcAllocator *) allocator;
  GstZbSrcMemory *m = (GstZbSrcMemory *) mem;
  gboolean moved;

  if (mem->parent) {
    /* a sub-memory: the core drops its reference to the root */
    g_free (m);
    return;
  }
  /* unlink first: an unpin walking the list may be looking at it */
  g_mutex_lock (&self->lock);
  moved = m->moved;
  if (!moved)
    g_queue_unlink (&self->pinned, &m->link);
  g_mutex_unlock (&self->lock);

  if (moved) {
    g_free (m->data);
  } else {
    /* pairs with the zb_reader_read() that gave the frame; thread-safe */
    zb_reader_release (self->reader, &m->frame);
    if (m->notify)
      m->notify (m->user_data);
  }
  g_mutex_clear (&m->lock);
  g_free (m);
}

static void
gst_zb_src_allocator_finalize (GObject * object)
{
  GstZbSrcAllocator *self = (GstZbSrcAllocator *) object;

  /* every memory held a reference: none is left */
  g_assert (g_queue_is_empty (&self->pinned));
  zb_reader_destroy (self->reader);
  g_mutex_clear (&self->lock);
  G_OBJECT_CLASS (gst_zb_src_allocator_parent_class)->finalize (object);
}

static void
gst_zb_src_allocator_class_init (GstZbSrcAllocatorClass * klass)
{
  GstAllocatorClass *allocator_class = GST_ALLOCATOR_CLASS (klass);

  G_OBJECT_CLASS (klass)->finalize = gst_zb_src_allocator_finalize;
  allocator_class->alloc = src_alloc;
  allocator_class->free = src_free;
}

static void
gst_zb_src_allocator_init (GstZbSrcAllocator * self)
{
  GstAllocator *allocator = GST_ALLOCATOR_CAST (self);

  g_mutex_init (&self->lock);
  g_queue_init (&self->pinned);
  allocator->mem_type = "ZbSrcMemory";
  allocator->mem_map = src_mem_map;
  allocator->mem_unmap = src_mem_unmap;
  allocator->mem_share = src_mem_share;
  allocator->mem_copy = src_mem_copy;
  GST_OBJECT_FLAG_SET (self, GST_ALLOCATOR_FLAG_CUSTOM_ALLOC);
}

GstAllocator *
gst_zb_src_allocator_new (zb_reader * reader)
{
  GstZbSrcAllocator *self = g_object_new (gst_zb_src_allocator_get_type (),
      NULL);

  gst_object_ref_sink (self);
  self->reader = reader;
  return GST_ALLOCATOR_CAST (self);
}

GstMemory *
gst_zb_src_allocator_wrap (GstAllocator * allocator, const zb_frame * frame,
    gconstpointer data, gsize size)
{
  return gst_zb_src_allocator_wrap_full (allocator, frame, data, size, NULL,
      NULL);
}

GstMemory *
gst_zb_src_allocator_wrap_full (GstAllocator * allocator,
    const zb_frame * frame, gconstpointer data, gsize size,
    gpointer user_data, GDestroyNotify notify)
{
  GstZbSrcAllocator *self = (GstZbSrcAllocator *) allocator;
  GstZbSrcMemory *m = g_new0 (GstZbSrcMemory, 1);

  gst_memory_init (GST_MEMORY_CAST (m), GST_MEMORY_FLAG_READONLY, allocator,
      NULL, size, 0, 0, size);
  g_mutex_init (&m->lock);
  m->data = (guint8 *) data;
  m->frame = *frame;
  m->user_data = user_data;
  m->notify = notify;
  m->link.data = m;
  g_mutex_lock (&self->lock);
  g_queue_push_tail_link (&self->pinned, &m->link);
  g_mutex_unlock (&self->lock);
  return GST_MEMORY_CAST (m);
}

guint
gst_zb_src_allocator_unpin (GstAllocator * allocator, guint64 * bytes)
{
  GstZbSrcAllocator *self = (GstZbSrcAllocator *) allocator;
  GList *l, *next;
  guint moved = 0;

  g_mutex_lock (&self->lock);
  for (l = self->pinned.head; l; l = next) {
    GstZbSrcMemory *m = l->data;
    guint8 *copy;

    next = l->next;
    g_mutex_lock (&m->lock);
    if (m->maps > 0) {
      /* in use: it moves at a later stall, or is freed */
      g_mutex_unlock (&m->lock);
      continue;
    }
    copy = g_malloc (m->mem.maxsize);
    memcpy (copy, m->data, m->mem.maxsize);
    m->data = copy;
    m->moved = TRUE;
    /* pairs with the zb_reader_read() that gave the frame; the ring bytes
     * are not touched after this */
    zb_reader_release (self->reader, &m->frame);
    g_mutex_unlock (&m->lock);
    if (m->notify)
      m->notify (m->user_data);
    g_queue_unlink (&self->pinned, &m->link);
    moved++;
    if (bytes)
      *bytes += m->mem.maxsize;
  }
  g_mutex_unlock (&self->lock);
  return moved;
}

guint
gst_zb_src_allocator_n_pinned (GstAllocator * allocator)
{
  GstZbSrcAllocator *self = (GstZbSrcAllocator *) allocator;
  guint n;

  g_mutex_lock (&self->lock);
  n = self->pinned.length;
  g_mutex_unlock (&self->lock);
  return n;
}
