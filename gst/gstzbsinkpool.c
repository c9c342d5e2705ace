/* zerobuffer GStreamer plugin - zbsink's buffer pool in pool segments
 *
 * SPDX-License-Identifier: MIT
 */

/* Zero copy on the writer side, by default (docs/frame-format.md, "Pool
 * records").
 *
 * zbsink proposes this pool in the ALLOCATION query. Its buffers have one
 * memory each: a block of a "pool segment", a shared memory object that
 * the writer creates beside the reader's buffer (gstzbpoolshm.h). When
 * zbsink renders a buffer whose memory is a block of one of its pools, it
 * writes a small pool record into the ring instead of the bytes; zbsrc
 * maps the segment read-only and wraps the block. Anything else is copied
 * into the ring as before.
 *
 * A block goes back into use only when all have let go of it: upstream
 * (its GstMemory was freed: no buffer, no mapping, no sub-memory holds it,
 * so the GstMemory contract holds by construction: a new memory object is
 * made for every reuse) and every reader it was sent to (the ring frame of
 * the last record that referenced it was released). zbsink sends one
 * block to the reader of NAME and to every NAME@ID reader (docs/fanout.md),
 * each over its own connection (a GstZbPoolConn each): a block keeps one
 * "hold" per connection it went over. Ring space returns to the writer in
 * ring order, so a hold is released when two counters compare:
 * zb_writer_bytes_released() >= the zb_writer_bytes_committed() mark taken
 * when the record was committed. Upstream may therefore keep buffers as
 * long as it likes and in any order: nothing waits for them. When no
 * block is free the pool grows by one more segment, up to MAX_BLOCKS
 * blocks and MAX_BYTES; past that it hands out plain memory, which zbsink
 * copies: it never blocks.
 *
 * A new reader (or none) makes every mark of an earlier reader void: a
 * reader releases what it holds before its buffer can be made again. A new
 * connection to the same reader counts what it held at connect. A
 * connection that ended holds until its reader is gone (the pid is dead):
 * a SIGSTOPped reader keeps its blocks, the pool grows past them and then
 * hands out plain memory (copies); nothing waits for it.
 *
 * Locks: the allocator's lock guards its free list and segments; the
 * connection's lock guards the writer pointer (taken inside the
 * allocator's lock, never the other way round). */

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstzbsinkpool.h"
#include "gstzbpoolshm.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

GST_DEBUG_CATEGORY_EXTERN (gst_zb_sink_debug);
#define GST_CAT_DEFAULT gst_zb_sink_debug

/* blocks per segment, and the bounds of a pool */
#define SEGMENT_BLOCKS 4
#define MAX_BLOCKS 64
#define MAX_BYTES ((gsize) 256 * 1024 * 1024)
#define MIN_BLOCKS 8            /* whatever MAX_BYTES says */
#define BLOCK_ALIGN 4096
/* zbsink's own copies into blocks (gst_zb_sink_pool_copy_block()) grow a
 * pool only up to this many blocks: a few blocks reused over and over
 * stay in the CPU caches, and a reader that falls behind is paced by the
 * ring as before (past these blocks, copies go into the ring). */
#define COPY_BLOCKS 4

/* ------------------------------------------------------------------ */
/* The connection */

struct _GstZbPoolConn
{
  gint refcount;                /* atomic */
  GMutex lock;
  zb_writer *writer;            /* lock; NULL while not connected */
  guint64 serial;               /* lock; of the current connection */
  guint64 reader_pid;           /* lock */
  guint64 start;                /* lock; committed bytes at connect */
};

GstZbPoolConn *
gst_zb_pool_conn_new (void)
{
  GstZbPoolConn *c = g_new0 (GstZbPoolConn, 1);

  c->refcount = 1;
  g_mutex_init (&c->lock);
  return c;
}

GstZbPoolConn *
gst_zb_pool_conn_ref (GstZbPoolConn * conn)
{
  g_atomic_int_inc (&conn->refcount);
  return conn;
}

void
gst_zb_pool_conn_unref (GstZbPoolConn * conn)
{
  if (conn && g_atomic_int_dec_and_test (&conn->refcount)) {
    g_mutex_clear (&conn->lock);
    g_free (conn);
  }
}

void
gst_zb_pool_conn_connected (GstZbPoolConn * conn, zb_writer * writer,
    guint64 reader_pid)
{
  g_mutex_lock (&conn->lock);
  conn->writer = writer;
  conn->serial++;
  conn->reader_pid = reader_pid;
  conn->start = zb_writer_bytes_committed (writer);
  g_mutex_unlock (&conn->lock);
}

void
gst_zb_pool_conn_disconnected (GstZbPoolConn * conn)
{
  g_mutex_lock (&conn->lock);
  conn->writer = NULL;
  g_mutex_unlock (&conn->lock);
}

static gboolean
pid_gone (guint64 pid)
{
  return pid == 0 || pid > G_MAXINT || (kill ((pid_t) pid, 0) < 0
      && errno == ESRCH);
}

/* Has the reader released a record committed on connection @serial (to
 * reader @pid) at @mark? @serial 0: never sent. */
static gboolean
conn_released (GstZbPoolConn * c, guint64 serial, guint64 pid, guint64 mark)
{
  gboolean ret;

  if (serial == 0)
    return TRUE;
  g_mutex_lock (&c->lock);
  if (c->writer == NULL)
    /* not connected: free once that reader is gone */
    ret = pid_gone (pid);
  else if (serial == c->serial)
    ret = zb_writer_bytes_released (c->writer) >= mark;
  else if (pid == c->reader_pid)
    /* an earlier connection to this reader: all it held at connect */
    ret = zb_writer_bytes_released (c->writer) >= c->start;
  else
    /* another reader: the one that had it is gone */
    ret = TRUE;
  g_mutex_unlock (&c->lock);
  return ret;
}

/* ------------------------------------------------------------------ */
/* Holds: the last record sent of a block (or a segment) per connection */

typedef struct
{
  GstZbPoolConn *conn;          /* a reference */
  guint64 serial, pid, mark;    /* as for conn_released() */
} Hold;

typedef struct
{
  Hold *v;
  guint n, size;
} Holds;

/* A record of it went over @conn (connection @serial to @pid) at @mark:
 * replaces what that connection held. */
static void
holds_set (Holds * h, GstZbPoolConn * conn, guint64 serial, guint64 pid,
    guint64 mark)
{
  guint i;

  for (i = 0; i < h->n; i++)
    if (h->v[i].conn == conn)
      break;
  if (i == h->n) {
    if (h->n == h->size) {
      h->size = h->size ? h->size * 2 : 4;
      h->v = g_renew (Hold, h->v, h->size);
    }
    h->v[i].conn = gst_zb_pool_conn_ref (conn);
    h->n++;
  }
  h->v[i].serial = serial;
  h->v[i].pid = pid;
  h->v[i].mark = mark;
}

/* Has every reader released what it held (or is it gone)? Forgets the
 * holds that are released: a released one stays released. */
static gboolean
holds_released (Holds * h)
{
  guint i;

  for (i = 0; i < h->n;) {
    Hold *d = &h->v[i];

    if (!conn_released (d->conn, d->serial, d->pid, d->mark))
      return FALSE;
    gst_zb_pool_conn_unref (d->conn);
    h->v[i] = h->v[--h->n];
  }
  return TRUE;
}

static void
holds_free (Holds * h)
{
  guint i;

  for (i = 0; i < h->n; i++)
    gst_zb_pool_conn_unref (h->v[i].conn);
  g_free (h->v);
  memset (h, 0, sizeof (*h));
}

/* ------------------------------------------------------------------ */
/* Segments */

struct _GstZbPoolSegment
{
  gint refcount;                /* atomic */
  gchar name[ZB_GST_POOL_NAME_SIZE];
  guint64 serial;
  guint8 *base;
  gsize size;
  gsize block_size;
  guint n_blocks;
  /* the last record that referenced a block, per connection: streaming
   * thread */
  Holds last;
};

static gint segment_serial;     /* atomic; per process */

/* Names of the segments alive in this process, removed at exit by
 * remove_at_exit() when the application leaks the objects that hold
 * them (a killed process leaves them to the sweeps of gstzbpoolshm.h). */
static GMutex live_lock;
static GSList *live_names;      /* live_lock: g_strdup()ed "/NAME" */
static pid_t live_pid;          /* live_lock: who made them (not a fork) */

static void
remove_at_exit (void)
{
  GSList *l;

  g_mutex_lock (&live_lock);
  if (live_pid == getpid ())
    for (l = live_names; l; l = l->next)
      shm_unlink (l->data);
  g_mutex_unlock (&live_lock);
}

static void
live_add (const gchar * name)
{
  static gsize once = 0;

  if (g_once_init_enter (&once)) {
    atexit (remove_at_exit);
    g_once_init_leave (&once, 1);
  }
  g_mutex_lock (&live_lock);
  if (live_pid != getpid ()) {
    /* a forked child: the parent's names are not ours to remove */
    g_slist_free_full (live_names, g_free);
    live_names = NULL;
    live_pid = getpid ();
  }
  live_names = g_slist_prepend (live_names, g_strdup_printf ("/%s", name));
  g_mutex_unlock (&live_lock);
}

static void
live_remove (const gchar * name)
{
  GSList *l;

  g_mutex_lock (&live_lock);
  for (l = live_names; l; l = l->next) {
    if (strcmp ((gchar *) l->data + 1, name) == 0) {
      g_free (l->data);
      live_names = g_slist_delete_link (live_names, l);
      break;
    }
  }
  g_mutex_unlock (&live_lock);
}

static GstZbPoolSegment *
segment_new (const gchar * buffer, gsize block_size, guint n_blocks, gint * err)
{
  GstZbPoolSegment *seg = g_new0 (GstZbPoolSegment, 1);
  gint ret;

  seg->refcount = 1;
  seg->serial = (guint64) g_atomic_int_add (&segment_serial, 1);
  seg->block_size = block_size;
  seg->n_blocks = n_blocks;
  seg->size = block_size * n_blocks;
  ret = zb_gst_pool_name (seg->name, sizeof (seg->name), buffer,
      (guint64) getpid (), seg->serial);
  if (ret == 0)
    ret = gst_zb_pool_shm_create (seg->name, seg->size, &seg->base);
  if (ret < 0) {
    *err = ret;
    g_free (seg);
    return NULL;
  }
  live_add (seg->name);
  GST_DEBUG ("pool segment %s: %u blocks of %" G_GSIZE_FORMAT " bytes",
      seg->name, n_blocks, block_size);
  return seg;
}

static GstZbPoolSegment *
segment_ref (GstZbPoolSegment * seg)
{
  g_atomic_int_inc (&seg->refcount);
  return seg;
}

void
gst_zb_pool_segment_unref (GstZbPoolSegment * seg)
{
  gchar path[ZB_GST_POOL_NAME_SIZE + 2];

  if (seg == NULL || !g_atomic_int_dec_and_test (&seg->refcount))
    return;
  /* nobody sends a record of it any more, and the reader released the
   * last one (or is gone): the name goes, the reader keeps its mapping */
  g_snprintf (path, sizeof (path), "/%s", seg->name);
  shm_unlink (path);
  live_remove (seg->name);
  munmap (seg->base, seg->size);
  holds_free (&seg->last);
  GST_DEBUG ("pool segment %s removed", seg->name);
  g_free (seg);
}

gboolean
gst_zb_pool_segment_released (GstZbPoolSegment * seg)
{
  return holds_released (&seg->last);
}

/* ------------------------------------------------------------------ */
/* The allocator: blocks as memories */

typedef struct
{
  GstMemory mem;
  /* roots only */
  GstZbPoolSegment *seg;        /* a reference */
  guint index;
  /* the last record sent of it per connection; streaming thread, moved
   * to the free list when freed */
  Holds holds;
} GstZbPoolMemory;

typedef struct
{
  GstZbPoolSegment *seg;        /* a reference */
  guint index;
  Holds holds;
} FreeBlock;

typedef struct
{
  GstAllocator parent;

  gchar *buffer;                /* set once */
  gsize block_size;             /* set once */
  gsize mem_size;               /* set once */

  GMutex lock;
  GQueue free;                  /* lock: FreeBlock, oldest first */
  GPtrArray *segments;          /* lock: references */
  guint n_blocks;               /* lock */
  gboolean grow_failed;         /* lock: do not try again per buffer */
  guint64 fallbacks;            /* lock */
} GstZbPoolAllocator;

typedef struct
{
  GstAllocatorClass parent_class;
} GstZbPoolAllocatorClass;

static GType gst_zb_pool_allocator_get_type (void);
G_DEFINE_TYPE (GstZbPoolAllocator, gst_zb_pool_allocator, GST_TYPE_ALLOCATOR);

static GstZbPoolMemory *
root_of (GstMemory * mem)
{
  return (GstZbPoolMemory *) (mem->parent ? mem->parent : mem);
}

static gpointer
pool_mem_map (GstMemory * mem, gsize maxsize, GstMapFlags flags)
{
  GstZbPoolMemory *root = root_of (mem);

  return root->seg->base + root->index * root->seg->block_size;
}

static void
pool_mem_unmap (GstMemory * mem)
{
}

static GstMemory *
pool_mem_share (GstMemory * mem, gssize offset, gssize size)
{
  GstZbPoolMemory *root = root_of (mem);
  GstZbPoolMemory *sub;

  if (size == -1)
    size = mem->size - offset;
  sub = g_new0 (GstZbPoolMemory, 1);
  /* the parent keeps the root, and with it the block, alive */
  gst_memory_init (GST_MEMORY_CAST (sub),
      GST_MINI_OBJECT_FLAGS (root) | GST_MINI_OBJECT_FLAG_LOCK_READONLY,
      mem->allocator, GST_MEMORY_CAST (root), mem->maxsize, mem->align,
      mem->offset + offset, size);
  return GST_MEMORY_CAST (sub);
}

static gboolean
pool_mem_is_span (GstMemory * mem1, GstMemory * mem2, gsize * offset)
{
  GstZbPoolMemory *r1 = root_of (mem1), *r2 = root_of (mem2);

  if (r1 != r2)
    return FALSE;
  if (offset)
    *offset = mem1->offset;
  return mem1->offset + mem1->size == mem2->offset;
}

static GstMemory *
pool_alloc (GstAllocator * allocator, gsize size, GstAllocationParams * p)
{
  /* only the pool hands out blocks */
  return NULL;
}

static void
pool_free (GstAllocator * allocator, GstMemory * mem)
{
  GstZbPoolAllocator *self = (GstZbPoolAllocator *) allocator;
  GstZbPoolMemory *m = (GstZbPoolMemory *) mem;
  FreeBlock *fb;

  if (mem->parent) {
    g_free (m);
    return;
  }
  /* nobody holds the memory: upstream's part is done; the reader's is
   * checked when the block is taken again */
  fb = g_new (FreeBlock, 1);
  fb->seg = m->seg;
  fb->index = m->index;
  fb->holds = m->holds;
  /* last in, first out: take_block() scans from the head, so the most
   * recently used block that the reader has released is reused, and the
   * blocks in use stay few and in the CPU caches (first in, first out
   * cycled through every block the pool ever grew: 0.74x of shmsink's
   * rate with 1080p frames, bench/bench-default.sh) */
  g_mutex_lock (&self->lock);
  g_queue_push_head (&self->free, fb);
  g_mutex_unlock (&self->lock);
  g_free (m);
}

static void
gst_zb_pool_allocator_finalize (GObject * object)
{
  GstZbPoolAllocator *self = (GstZbPoolAllocator *) object;
  FreeBlock *fb;

  /* every memory held a reference: all blocks are on the free list */
  while ((fb = g_queue_pop_head (&self->free))) {
    holds_free (&fb->holds);
    gst_zb_pool_segment_unref (fb->seg);
    g_free (fb);
  }
  g_ptr_array_unref (self->segments);
  g_free (self->buffer);
  g_mutex_clear (&self->lock);
  G_OBJECT_CLASS (gst_zb_pool_allocator_parent_class)->finalize (object);
}

static void
gst_zb_pool_allocator_class_init (GstZbPoolAllocatorClass * klass)
{
  GstAllocatorClass *allocator_class = GST_ALLOCATOR_CLASS (klass);

  G_OBJECT_CLASS (klass)->finalize = gst_zb_pool_allocator_finalize;
  allocator_class->alloc = pool_alloc;
  allocator_class->free = pool_free;
}

static void
gst_zb_pool_allocator_init (GstZbPoolAllocator * self)
{
  GstAllocator *allocator = GST_ALLOCATOR_CAST (self);

  g_mutex_init (&self->lock);
  g_queue_init (&self->free);
  self->segments = g_ptr_array_new_with_free_func ((GDestroyNotify)
      gst_zb_pool_segment_unref);
  allocator->mem_type = "ZbPoolMemory";
  allocator->mem_map = pool_mem_map;
  allocator->mem_unmap = pool_mem_unmap;
  allocator->mem_share = pool_mem_share;
  allocator->mem_is_span = pool_mem_is_span;
  GST_OBJECT_FLAG_SET (self, GST_ALLOCATOR_FLAG_CUSTOM_ALLOC);
}

static GstZbPoolAllocator *
pool_allocator_new (const gchar * buffer, gsize size)
{
  GstZbPoolAllocator *self = g_object_new (gst_zb_pool_allocator_get_type (),
      NULL);

  gst_object_ref_sink (self);
  self->buffer = g_strdup (buffer);
  self->mem_size = size;
  self->block_size = (size + BLOCK_ALIGN - 1) / BLOCK_ALIGN * BLOCK_ALIGN;
  return self;
}

/* One more segment on the free list; with the lock. */
static gboolean
grow (GstZbPoolAllocator * self)
{
  GstZbPoolSegment *seg;
  guint n = SEGMENT_BLOCKS, i;
  gint err = 0;

  if (self->grow_failed || self->n_blocks >= MAX_BLOCKS)
    return FALSE;
  n = MIN (n, MAX_BLOCKS - self->n_blocks);
  if (self->n_blocks >= MIN_BLOCKS && (self->n_blocks + n) * self->block_size >
      MAX_BYTES)
    return FALSE;
  seg = segment_new (self->buffer, self->block_size, n, &err);
  if (seg == NULL) {
    GST_WARNING ("cannot create a pool segment of %" G_GSIZE_FORMAT
        " bytes (%s): buffers are copied into the ring",
        n * self->block_size, g_strerror (-err));
    self->grow_failed = TRUE;
    return FALSE;
  }
  g_ptr_array_add (self->segments, seg);
  for (i = 0; i < n; i++) {
    FreeBlock *fb = g_new0 (FreeBlock, 1);

    fb->seg = segment_ref (seg);
    fb->index = i;
    g_queue_push_tail (&self->free, fb);
  }
  self->n_blocks += n;
  return TRUE;
}

/* A block that upstream and the reader both let go of, as a new memory;
 * NULL when none is free and the pool cannot grow (past @max_blocks). A
 * buffer pool's NULL is a fallback (upstream gets plain memory). */
static GstMemory *
take_block (GstZbPoolAllocator * self, guint max_blocks, gboolean pool)
{
  GstZbPoolMemory *m;
  FreeBlock *fb = NULL;
  GList *l;

  g_mutex_lock (&self->lock);
  for (;;) {
    for (l = self->free.head; l; l = l->next) {
      FreeBlock *b = l->data;

      if (holds_released (&b->holds)) {
        fb = b;
        g_queue_delete_link (&self->free, l);
        break;
      }
    }
    if (fb || self->n_blocks >= max_blocks || !grow (self))
      break;
  }
  if (fb == NULL && pool)
    self->fallbacks++;
  g_mutex_unlock (&self->lock);
  if (fb == NULL)
    return NULL;

  m = g_new0 (GstZbPoolMemory, 1);
  gst_memory_init (GST_MEMORY_CAST (m), 0, GST_ALLOCATOR_CAST (self), NULL,
      self->block_size, BLOCK_ALIGN - 1, 0, self->mem_size);
  m->seg = fb->seg;             /* takes the free list's reference */
  m->index = fb->index;
  m->holds = fb->holds;         /* none left; keeps its storage */
  g_free (fb);
  return GST_MEMORY_CAST (m);
}

gboolean
gst_zb_pool_memory_is_ours (GstMemory * mem)
{
  return mem->allocator != NULL &&
      G_OBJECT_TYPE (mem->allocator) == gst_zb_pool_allocator_get_type ();
}

GstZbPoolSegment *
gst_zb_pool_memory_ref (GstMemory * mem, zb_gst_pool_ref * ref)
{
  GstZbPoolMemory *root;
  GstZbPoolSegment *seg;

  if (mem->allocator == NULL ||
      G_OBJECT_TYPE (mem->allocator) != gst_zb_pool_allocator_get_type ())
    return NULL;
  root = root_of (mem);
  seg = root->seg;
  memset (ref, 0, sizeof (*ref));
  ref->segment_size = seg->size;
  ref->block_size = seg->block_size;
  ref->offset = root->index * seg->block_size + mem->offset;
  ref->size = mem->size;
  ref->serial = seg->serial;
  g_strlcpy (ref->name, seg->name, sizeof (ref->name));
  return segment_ref (seg);
}

void
gst_zb_pool_memory_sent (GstMemory * mem, GstZbPoolConn * conn, guint64 mark)
{
  GstZbPoolMemory *root = root_of (mem);
  guint64 serial, pid;

  g_mutex_lock (&conn->lock);
  serial = conn->serial;
  pid = conn->reader_pid;
  g_mutex_unlock (&conn->lock);
  holds_set (&root->holds, conn, serial, pid, mark);
  holds_set (&root->seg->last, conn, serial, pid, mark);
  /* the reader has these bytes now: a later write map copies */
  GST_MINI_OBJECT_FLAG_SET (mem, GST_MEMORY_FLAG_READONLY);
  if (mem != GST_MEMORY_CAST (root))
    GST_MINI_OBJECT_FLAG_SET (root, GST_MEMORY_FLAG_READONLY);
}

/* ------------------------------------------------------------------ */
/* The pool */

typedef struct
{
  GstBufferPool parent;

  gchar *buffer;                /* set once */

  /* set_config, while inactive */
  GstZbPoolAllocator *alloc;
  gsize size;
  gboolean is_video;
  gboolean add_meta;
  GstVideoInfo vinfo;
} GstZbSinkPool;

typedef struct
{
  GstBufferPoolClass parent_class;
} GstZbSinkPoolClass;

static GType gst_zb_sink_pool_get_type (void);
G_DEFINE_TYPE (GstZbSinkPool, gst_zb_sink_pool, GST_TYPE_BUFFER_POOL);

static const gchar **
sink_pool_get_options (GstBufferPool * pool)
{
  static const gchar *options[] = { GST_BUFFER_POOL_OPTION_VIDEO_META, NULL };

  return options;
}

static gboolean
sink_pool_set_config (GstBufferPool * pool, GstStructure * config)
{
  GstZbSinkPool *self = (GstZbSinkPool *) pool;
  GstCaps *caps = NULL;
  guint size, min, max;

  if (!gst_buffer_pool_config_get_params (config, &caps, &size, &min, &max))
    return FALSE;
  self->is_video = FALSE;
  if (caps && gst_video_info_from_caps (&self->vinfo, caps) &&
      GST_VIDEO_INFO_FORMAT (&self->vinfo) != GST_VIDEO_FORMAT_ENCODED) {
    self->is_video = TRUE;
    size = MAX (size, (guint) GST_VIDEO_INFO_SIZE (&self->vinfo));
  }
  if (size == 0)
    return FALSE;
  self->add_meta = self->is_video && gst_buffer_pool_config_has_option (config,
      GST_BUFFER_POOL_OPTION_VIDEO_META);
  if (self->alloc == NULL || self->alloc->mem_size != size) {
    if (self->alloc)
      gst_object_unref (self->alloc);
    self->alloc = pool_allocator_new (self->buffer, size);
  }
  self->size = size;
  /* never more than MAX_BLOCKS are in the pool, but past that buffers are
   * plain memory: no maximum for upstream */
  gst_buffer_pool_config_set_params (config, caps, size, min, 0);
  return GST_BUFFER_POOL_CLASS (gst_zb_sink_pool_parent_class)->set_config
      (pool, config);
}

static gboolean
sink_pool_start (GstBufferPool * pool)
{
  /* blocks are made when they are first needed */
  return TRUE;
}

static GstFlowReturn
sink_pool_acquire_buffer (GstBufferPool * pool, GstBuffer ** buffer,
    GstBufferPoolAcquireParams * params)
{
  GstZbSinkPool *self = (GstZbSinkPool *) pool;
  GstMemory *mem = take_block (self->alloc, MAX_BLOCKS, TRUE);
  GstBuffer *buf;

  if (mem == NULL) {
    /* copied into the ring by zbsink */
    GST_LOG_OBJECT (pool, "no free block: plain memory");
    mem = gst_allocator_alloc (NULL, self->size, NULL);
    if (mem == NULL)
      return GST_FLOW_ERROR;
  }
  buf = gst_buffer_new ();
  gst_buffer_append_memory (buf, mem);
  if (self->add_meta) {
    GstVideoInfo *v = &self->vinfo;

    gst_buffer_add_video_meta_full (buf, GST_VIDEO_FRAME_FLAG_NONE,
        GST_VIDEO_INFO_FORMAT (v), GST_VIDEO_INFO_WIDTH (v),
        GST_VIDEO_INFO_HEIGHT (v), GST_VIDEO_INFO_N_PLANES (v), v->offset,
        v->stride);
  }
  *buffer = buf;
  return GST_FLOW_OK;
}

static void
sink_pool_reset_buffer (GstBufferPool * pool, GstBuffer * buffer)
{
  /* nothing to reset: the buffer is not kept */
}

static void
sink_pool_release_buffer (GstBufferPool * pool, GstBuffer * buffer)
{
  /* Buffers are not recycled, blocks are: the memory goes back to the
   * allocator's free list when the last holder lets go of it (the buffer
   * may share it with others). */
  gst_buffer_unref (buffer);
}

static void
gst_zb_sink_pool_finalize (GObject * object)
{
  GstZbSinkPool *self = (GstZbSinkPool *) object;

  if (self->alloc)
    gst_object_unref (self->alloc);
  g_free (self->buffer);
  G_OBJECT_CLASS (gst_zb_sink_pool_parent_class)->finalize (object);
}

static void
gst_zb_sink_pool_class_init (GstZbSinkPoolClass * klass)
{
  GstBufferPoolClass *pool_class = GST_BUFFER_POOL_CLASS (klass);

  G_OBJECT_CLASS (klass)->finalize = gst_zb_sink_pool_finalize;
  pool_class->get_options = sink_pool_get_options;
  pool_class->set_config = sink_pool_set_config;
  pool_class->start = sink_pool_start;
  pool_class->acquire_buffer = sink_pool_acquire_buffer;
  pool_class->reset_buffer = sink_pool_reset_buffer;
  pool_class->release_buffer = sink_pool_release_buffer;
}

static void
gst_zb_sink_pool_init (GstZbSinkPool * self)
{
}

GstBufferPool *
gst_zb_sink_pool_new (const gchar * buffer_name)
{
  GstZbSinkPool *self = g_object_new (gst_zb_sink_pool_get_type (), NULL);

  gst_object_ref_sink (self);
  self->buffer = g_strdup (buffer_name);
  return GST_BUFFER_POOL_CAST (self);
}

GstMemory *
gst_zb_sink_pool_copy_block (GstBufferPool * pool, gsize size)
{
  GstZbSinkPool *self = (GstZbSinkPool *) pool;
  GstMemory *mem;

  if (self->alloc == NULL || size > self->alloc->block_size || size == 0)
    return NULL;
  mem = take_block (self->alloc, COPY_BLOCKS, FALSE);
  if (mem)
    gst_memory_resize (mem, 0, size);
  return mem;
}

guint64
gst_zb_sink_pool_get_fallbacks (GstBufferPool * pool)
{
  GstZbSinkPool *self = (GstZbSinkPool *) pool;
  guint64 n = 0;

  if (self->alloc) {
    g_mutex_lock (&self->alloc->lock);
    n = self->alloc->fallbacks;
    g_mutex_unlock (&self->alloc->lock);
  }
  return n;
}
