/* zerobuffer GStreamer plugin - memories that wrap frames of a ring
 *
 * SPDX-License-Identifier: MIT
 *
 * zbsrc hands frames downstream without copying them, and so does zbfilter
 * with its responses. Space returns to the peer in ring order, so a buffer
 * that downstream keeps (a sink's last sample) can leave the peer no room
 * for its next frame anywhere, and the buffer is only freed when that next
 * frame arrives: a stall for good (docs/elements.md, "Held buffers and a
 * stalled writer"). These memories can therefore leave the ring: when the
 * element sees the peer stalled, it asks the allocator to copy every
 * memory that nobody has mapped to the heap and release its frame. A
 * mapped memory stays where it is (its pointer is in use) until it is
 * unmapped.
 *
 * The allocator owns what hands out the frames (a zb_reader, a
 * zb_duplex_client: "the owner"), opaque here: a release function gives a
 * frame back, a destroy function ends the owner. zbfilter detaches the
 * allocator from its client when it reconnects or stops: the client must
 * outlive every memory that points into it, and must be gone (its names
 * removed) before a new client of the same channel is created.
 *
 * Locks: the allocator's lock guards its list, its owner state and the
 * owner's release function (called with it held), and is taken before a
 * memory's lock, never the other way round. A memory's lock guards its
 * data pointer, map count and state. The release functions are
 * thread-safe and take only the owner's own locks, which are never held
 * across a wait. The destroy function runs without any of our locks.
 */

#include "gstzbringmem.h"

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
  guint64 tag;                  /* set once: _wrap_writable()'s, else 0 */
} GstZbRingMemory;

typedef struct
{
  GstAllocator parent;

  /* set once at creation */
  GstZbRingReleaseFunc release;
  GDestroyNotify destroy;

  GMutex lock;
  GCond cond;                   /* lock: owner_gone or wakeups changed */
  gpointer owner;               /* lock: NULL once taken for destroy */
  GQueue pinned;                /* lock: roots whose bytes are in the ring */
  guint64 pinned_bytes;         /* lock: their maxsize */
  gboolean detached;            /* lock; also read atomically by unmap */
  gboolean owner_gone;          /* lock: destroyed after detach */
  guint wakeups;                /* lock: gst_zb_ring_allocator_wakeup() */
} GstZbRingAllocator;

typedef struct
{
  GstAllocatorClass parent_class;
} GstZbRingAllocatorClass;

static GType gst_zb_ring_allocator_get_type (void);
G_DEFINE_TYPE (GstZbRingAllocator, gst_zb_ring_allocator, GST_TYPE_ALLOCATOR);

static GstZbRingMemory *
root_of (GstMemory * mem)
{
  return (GstZbRingMemory *) (mem->parent ? mem->parent : mem);
}

/* With the allocator's lock: after detach, once no memory is left in the
 * ring, take the owner for destroy_owner(). NULL otherwise. */
static gpointer
take_owner (GstZbRingAllocator * self)
{
  gpointer owner;

  if (!self->detached || self->pinned.length > 0 || self->owner == NULL)
    return NULL;
  owner = self->owner;
  self->owner = NULL;
  return owner;
}

/* Without any lock: destroy @owner (from take_owner(), may be NULL) and
 * tell the waiters. */
static void
destroy_owner (GstZbRingAllocator * self, gpointer owner)
{
  if (owner == NULL)
    return;
  if (self->destroy)
    self->destroy (owner);
  g_mutex_lock (&self->lock);
  self->owner_gone = TRUE;
  g_cond_broadcast (&self->cond);
  g_mutex_unlock (&self->lock);
}

/* With the allocator's lock and @m's: copy @m's bytes to the heap and
 * release its frame, and unlink it. The caller calls its notify. */
static void
move_to_heap (GstZbRingAllocator * self, GstZbRingMemory * m)
{
  guint8 *copy = g_malloc (m->mem.maxsize);

  memcpy (copy, m->data, m->mem.maxsize);
  m->data = copy;
  m->moved = TRUE;
  /* pairs with the read that gave the frame; the ring bytes are not
   * touched after this */
  self->release (self->owner, &m->frame);
  g_queue_unlink (&self->pinned, &m->link);
  self->pinned_bytes -= m->mem.maxsize;
}

static gpointer
ring_mem_map (GstMemory * mem, gsize maxsize, GstMapFlags flags)
{
  GstZbRingMemory *root = root_of (mem);
  gpointer data;

  /* gst_memory_map() already refuses a write map of a
   * GST_MEMORY_FLAG_READONLY memory (and of a sub-memory, which is one);
   * hand out the ring for writing only where _wrap_writable() allowed it */
  if ((flags & GST_MAP_WRITE) && root->tag == 0)
    return NULL;
  g_mutex_lock (&root->lock);
  /* sealed (gst_zb_ring_memory_seal()): never written again */
  if ((flags & GST_MAP_WRITE) && GST_MEMORY_IS_READONLY (root)) {
    g_mutex_unlock (&root->lock);
    return NULL;
  }
  root->maps++;
  data = root->data;
  g_mutex_unlock (&root->lock);
  return data;
}

static void
ring_mem_unmap (GstMemory * mem)
{
  GstZbRingAllocator *self = (GstZbRingAllocator *) mem->allocator;
  GstZbRingMemory *root = root_of (mem);
  gboolean move;
  gpointer owner = NULL;

  g_mutex_lock (&root->lock);
  g_assert (root->maps > 0);
  root->maps--;
  move = root->maps == 0 && !root->moved && g_atomic_int_get (&self->detached);
  g_mutex_unlock (&root->lock);
  if (!move)
    return;

  /* detached: the owner waits for this memory to leave the ring. Locks in
   * their order, then look again: another unmap or an unpin may have been
   * first, or someone mapped it since. The caller's reference keeps it. */
  g_mutex_lock (&self->lock);
  g_mutex_lock (&root->lock);
  move = root->maps == 0 && !root->moved;
  if (move)
    move_to_heap (self, root);
  g_mutex_unlock (&root->lock);
  if (move)
    owner = take_owner (self);
  g_mutex_unlock (&self->lock);
  if (move && root->notify)
    root->notify (root->user_data);
  destroy_owner (self, owner);
}

static GstMemory *
ring_mem_share (GstMemory * mem, gssize offset, gssize size)
{
  GstZbRingMemory *root = root_of (mem);
  GstZbRingMemory *sub;

  if (size == -1)
    size = mem->size - offset;
  sub = g_new0 (GstZbRingMemory, 1);
  /* the parent (taken and locked by gst_memory_init()) keeps the root and
   * its frame alive */
  gst_memory_init (GST_MEMORY_CAST (sub),
      GST_MINI_OBJECT_FLAGS (root) | GST_MINI_OBJECT_FLAG_LOCK_READONLY,
      mem->allocator, GST_MEMORY_CAST (root), mem->maxsize, mem->align,
      mem->offset + offset, size);
  return GST_MEMORY_CAST (sub);
}

static GstMemory *
ring_mem_copy (GstMemory * mem, gssize offset, gssize size)
{
  GstZbRingMemory *root = root_of (mem);
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
ring_alloc (GstAllocator * allocator, gsize size, GstAllocationParams * params)
{
  /* only gst_zb_ring_allocator_wrap() makes these memories */
  return NULL;
}

static void
ring_free (GstAllocator * allocator, GstMemory * mem)
{
  GstZbRingAllocator *self = (GstZbRingAllocator *) allocator;
  GstZbRingMemory *m = (GstZbRingMemory *) mem;
  gpointer owner = NULL;
  gboolean moved;

  if (mem->parent) {
    /* a sub-memory: the core drops its reference to the root */
    g_free (m);
    return;
  }
  /* unlink first: an unpin walking the list may be looking at it; release
   * with the lock, which keeps the owner from being destroyed meanwhile */
  g_mutex_lock (&self->lock);
  moved = m->moved;
  if (!moved) {
    g_queue_unlink (&self->pinned, &m->link);
    self->pinned_bytes -= mem->maxsize;
    /* pairs with the read that gave the frame; thread-safe */
    self->release (self->owner, &m->frame);
    owner = take_owner (self);
  }
  g_mutex_unlock (&self->lock);

  if (moved)
    g_free (m->data);
  else if (m->notify)
    m->notify (m->user_data);
  destroy_owner (self, owner);
  g_mutex_clear (&m->lock);
  g_free (m);
}

static void
gst_zb_ring_allocator_finalize (GObject * object)
{
  GstZbRingAllocator *self = (GstZbRingAllocator *) object;

  /* every memory held a reference: none is left */
  g_assert (g_queue_is_empty (&self->pinned));
  if (self->owner && self->destroy)
    self->destroy (self->owner);
  g_mutex_clear (&self->lock);
  g_cond_clear (&self->cond);
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
  g_cond_init (&self->cond);
  g_queue_init (&self->pinned);
  allocator->mem_type = "ZbRingMemory";
  allocator->mem_map = ring_mem_map;
  allocator->mem_unmap = ring_mem_unmap;
  allocator->mem_share = ring_mem_share;
  allocator->mem_copy = ring_mem_copy;
  GST_OBJECT_FLAG_SET (self, GST_ALLOCATOR_FLAG_CUSTOM_ALLOC);
}

GstAllocator *
gst_zb_ring_allocator_new (gpointer owner, GstZbRingReleaseFunc release,
    GDestroyNotify destroy)
{
  GstZbRingAllocator *self = g_object_new (gst_zb_ring_allocator_get_type (),
      NULL);

  gst_object_ref_sink (self);
  self->owner = owner;
  self->release = release;
  self->destroy = destroy;
  return GST_ALLOCATOR_CAST (self);
}

GstMemory *
gst_zb_ring_allocator_wrap (GstAllocator * allocator, const zb_frame * frame,
    gconstpointer data, gsize size)
{
  return gst_zb_ring_allocator_wrap_full (allocator, frame, data, size, NULL,
      NULL);
}

static GstMemory *
wrap (GstAllocator * allocator, const zb_frame * frame, gconstpointer data,
    gsize size, gpointer user_data, GDestroyNotify notify, guint64 tag)
{
  GstZbRingAllocator *self = (GstZbRingAllocator *) allocator;
  GstZbRingMemory *m = g_new0 (GstZbRingMemory, 1);

  gst_memory_init (GST_MEMORY_CAST (m), tag ? 0 : GST_MEMORY_FLAG_READONLY,
      allocator, NULL, size, 0, 0, size);
  g_mutex_init (&m->lock);
  m->tag = tag;
  m->data = (guint8 *) data;
  m->frame = *frame;
  m->user_data = user_data;
  m->notify = notify;
  m->link.data = m;
  g_mutex_lock (&self->lock);
  g_warn_if_fail (!self->detached);
  g_queue_push_tail_link (&self->pinned, &m->link);
  self->pinned_bytes += size;
  g_mutex_unlock (&self->lock);
  return GST_MEMORY_CAST (m);
}

GstMemory *
gst_zb_ring_allocator_wrap_full (GstAllocator * allocator,
    const zb_frame * frame, gconstpointer data, gsize size,
    gpointer user_data, GDestroyNotify notify)
{
  return wrap (allocator, frame, data, size, user_data, notify, 0);
}

GstMemory *
gst_zb_ring_allocator_wrap_writable (GstAllocator * allocator,
    const zb_frame * frame, gpointer data, gsize size, guint64 tag)
{
  g_return_val_if_fail (tag != 0, NULL);
  return wrap (allocator, frame, data, size, NULL, NULL, tag);
}

gboolean
gst_zb_ring_memory_in_ring (GstMemory * mem, guint64 tag, zb_frame * frame)
{
  GstZbRingMemory *root;
  gboolean in_ring;

  if (mem == NULL || mem->allocator == NULL || tag == 0 ||
      !G_TYPE_CHECK_INSTANCE_TYPE (mem->allocator,
          gst_zb_ring_allocator_get_type ()))
    return FALSE;
  root = root_of (mem);
  /* the caller's map keeps it from moving after this */
  g_mutex_lock (&root->lock);
  in_ring = !root->moved && root->maps > 0 && root->tag == tag;
  if (in_ring)
    *frame = root->frame;
  g_mutex_unlock (&root->lock);
  return in_ring;
}

void
gst_zb_ring_memory_seal (GstMemory * mem)
{
  GstZbRingMemory *root;

  g_return_if_fail (mem != NULL);
  root = root_of (mem);
  /* the lock orders it with ring_mem_map()'s look at the flag */
  g_mutex_lock (&root->lock);
  GST_MINI_OBJECT_FLAG_SET (root, GST_MEMORY_FLAG_READONLY);
  g_mutex_unlock (&root->lock);
}

gboolean
gst_zb_ring_memory_take (GstMemory * mem, guint64 tag, zb_frame * frame)
{
  GstZbRingAllocator *self;
  GstZbRingMemory *m = (GstZbRingMemory *) mem;
  gboolean taken;

  if (mem == NULL || mem->allocator == NULL || mem->parent != NULL ||
      tag == 0 || !G_TYPE_CHECK_INSTANCE_TYPE (mem->allocator,
          gst_zb_ring_allocator_get_type ()))
    return FALSE;
  self = (GstZbRingAllocator *) mem->allocator;
  g_mutex_lock (&self->lock);
  g_mutex_lock (&m->lock);
  taken = !self->detached && !m->moved && m->maps == 0 && m->tag == tag;
  if (taken) {
    /* as if moved, without the bytes: a map from now on fails, and the
     * free releases nothing */
    *frame = m->frame;
    m->data = NULL;
    m->moved = TRUE;
    g_queue_unlink (&self->pinned, &m->link);
    self->pinned_bytes -= mem->maxsize;
  }
  g_mutex_unlock (&m->lock);
  g_mutex_unlock (&self->lock);
  return taken;
}

/* Move what nobody has mapped (with @tag, only memories of that tag);
 * with @detach, detach first. */
static guint
unpin (GstZbRingAllocator * self, guint64 * bytes, gboolean detach, guint64 tag)
{
  GList *l, *next;
  gpointer owner;
  guint moved = 0;

  g_mutex_lock (&self->lock);
  if (detach)
    g_atomic_int_set (&self->detached, TRUE);
  for (l = self->pinned.head; l; l = next) {
    GstZbRingMemory *m = l->data;

    next = l->next;
    if (tag != 0 && m->tag != tag)
      continue;
    g_mutex_lock (&m->lock);
    if (m->maps > 0) {
      /* in use: it moves at a later stall or when unmapped after a
       * detach, or is freed */
      g_mutex_unlock (&m->lock);
      continue;
    }
    if (bytes)
      *bytes += m->mem.maxsize;
    move_to_heap (self, m);
    g_mutex_unlock (&m->lock);
    /* with the allocator's lock, which keeps @m from being freed */
    if (m->notify)
      m->notify (m->user_data);
    moved++;
  }
  owner = take_owner (self);
  g_mutex_unlock (&self->lock);
  destroy_owner (self, owner);
  return moved;
}

guint
gst_zb_ring_allocator_unpin (GstAllocator * allocator, guint64 * bytes)
{
  return unpin ((GstZbRingAllocator *) allocator, bytes, FALSE, 0);
}

gboolean
gst_zb_ring_allocator_unpin_tag (GstAllocator * allocator, guint64 tag)
{
  GstZbRingAllocator *self = (GstZbRingAllocator *) allocator;
  gboolean left = FALSE;
  GList *l;

  g_return_val_if_fail (tag != 0, FALSE);
  unpin (self, NULL, FALSE, tag);
  g_mutex_lock (&self->lock);
  for (l = self->pinned.head; l && !left; l = l->next)
    left = ((GstZbRingMemory *) l->data)->tag == tag;
  g_mutex_unlock (&self->lock);
  return !left;
}

guint
gst_zb_ring_allocator_detach (GstAllocator * allocator)
{
  return unpin ((GstZbRingAllocator *) allocator, NULL, TRUE, 0);
}

guint
gst_zb_ring_allocator_n_pinned (GstAllocator * allocator)
{
  GstZbRingAllocator *self = (GstZbRingAllocator *) allocator;
  guint n;

  g_mutex_lock (&self->lock);
  n = self->pinned.length;
  g_mutex_unlock (&self->lock);
  return n;
}

guint64
gst_zb_ring_allocator_pinned_bytes (GstAllocator * allocator)
{
  GstZbRingAllocator *self = (GstZbRingAllocator *) allocator;
  guint64 n;

  g_mutex_lock (&self->lock);
  n = self->pinned_bytes;
  g_mutex_unlock (&self->lock);
  return n;
}

gboolean
gst_zb_ring_allocator_wait_detached (GstAllocator * allocator, gint64 end_time)
{
  GstZbRingAllocator *self = (GstZbRingAllocator *) allocator;
  gboolean gone;
  guint wakeups;

  g_mutex_lock (&self->lock);
  wakeups = self->wakeups;
  while (!self->owner_gone && self->wakeups == wakeups &&
      g_cond_wait_until (&self->cond, &self->lock, end_time));
  gone = self->owner_gone;
  g_mutex_unlock (&self->lock);
  return gone;
}

void
gst_zb_ring_allocator_wakeup (GstAllocator * allocator)
{
  GstZbRingAllocator *self = (GstZbRingAllocator *) allocator;

  g_mutex_lock (&self->lock);
  self->wakeups++;
  g_cond_broadcast (&self->cond);
  g_mutex_unlock (&self->lock);
}
