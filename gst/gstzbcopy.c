/* zerobuffer GStreamer plugin - large copies split over several threads
 *
 * SPDX-License-Identifier: MIT
 *
 * A frame copied into the ring is the largest cost of zbsink: 100-170 us
 * for a 1080p I420 frame on one core here; at full rate two threads copy
 * 18-71 % more frames than one on 2 cores, with no clear gain in latency,
 * so zbsink starts helpers only when asked (copy-threads other than 1;
 * docs/benchmarks.md, "zbsink copy threads"). The copy is cut into chunks
 * of rows; the calling thread and the helper threads claim chunks one at
 * a time until none is left, so the caller never waits for a helper that
 * is slow to wake up, only for the chunk a helper is copying when the
 * last one is claimed.
 */

#include "gstzbcopy.h"

#include <string.h>

#include <gst/gst.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

GST_DEBUG_CATEGORY_STATIC (gst_zb_copy_debug);
#define GST_CAT_DEFAULT gst_zb_copy_debug

/* Below this, waking a helper costs more than it saves. */
#define SHARE_MIN (1024 * 1024)
/* A copy that starts this long after the previous one ended stays in the
 * calling thread: a helper that slept that long only adds the time its
 * idle core takes to wake up and get going (at 240 fps, 1080p: one-way
 * latency p50 +29 us, p99 +56 us with a helper, docs/benchmarks.md). */
#define IDLE_US 1000
/* What one thread claims at a time. */
#define CHUNK_BYTES (256 * 1024)
#define MAX_CHUNKS 256
/* A contiguous copy is cut into rows of this size. */
#define FLAT_ROW (64 * 1024)
/* A copy of at least this many bytes uses streaming (non-temporal)
 * stores, which bypass the caches: such a frame would only push out of
 * them what the producer works on. A 4K I420 frame (12 MB) behind a tee
 * was copied with 16-24 % less writer CPU per frame and 16-30 % more
 * frames/s, from producer-owned memory 1.5x as fast; a 1080p one (3 MB)
 * was not faster (docs/benchmarks.md, "Copies behind a tee"). glibc's memcpy switches to such stores only
 * above a threshold derived from the cache size it detects, which a VM
 * may report far too large (320 MiB here). */
#define STREAM_MIN (8 * 1024 * 1024)

typedef struct
{
  guint plane;
  guint first_row;
  guint rows;
} Chunk;

struct _GstZbCopier
{
  guint n_threads;              /* with the caller */
  GThread **helpers;            /* NULL until the first shared copy */
  guint n_helpers;

  GMutex lock;
  GCond work_cond;              /* helpers: a new copy, or quit */
  GCond done_cond;              /* caller: the last chunk is copied */

  /* lock; the planes and chunks do not change while chunks are out */
  guint64 generation;           /* one per shared copy */
  gboolean quit;
  GstZbCopyPlane planes[GST_ZB_COPY_MAX_PLANES];
  Chunk chunks[MAX_CHUNKS];
  guint n_chunks;
  guint next;                   /* next chunk to claim */
  guint done;                   /* chunks copied */

  gboolean stream;              /* lock: the shared copy streams */
  gint64 last_end_us;           /* caller: when its last large copy ended */
  guint64 streamed;             /* caller: copies made with streaming stores */
};

/* memcpy() with streaming stores where the CPU has them (SSE2, every
 * x86-64), else memcpy(). These stores are weakly ordered: the caller
 * ends with store_fence(). */
static void
copy_bytes (guint8 * dst, const guint8 * src, gsize n, gboolean stream)
{
#if defined(__SSE2__)
  gsize head;

  if (!stream || n < 64) {
    memcpy (dst, src, n);
    return;
  }
  /* up to the first 16-byte boundary of @dst, then 64 bytes a step */
  head = (16 - ((guintptr) dst & 15)) & 15;
  memcpy (dst, src, head);
  dst += head;
  src += head;
  n -= head;
  for (; n >= 64; n -= 64, src += 64, dst += 64) {
    __m128i a = _mm_loadu_si128 ((const __m128i *) src);
    __m128i b = _mm_loadu_si128 ((const __m128i *) (src + 16));
    __m128i c = _mm_loadu_si128 ((const __m128i *) (src + 32));
    __m128i d = _mm_loadu_si128 ((const __m128i *) (src + 48));

    _mm_stream_si128 ((__m128i *) dst, a);
    _mm_stream_si128 ((__m128i *) (dst + 16), b);
    _mm_stream_si128 ((__m128i *) (dst + 32), c);
    _mm_stream_si128 ((__m128i *) (dst + 48), d);
  }
  memcpy (dst, src, n);
#else
  memcpy (dst, src, n);
#endif
}

/* After streaming stores: they are seen by another process before any
 * later store, e.g. the library's commit of the frame (a release store)
 * or, with copy helpers, the mutex that hands the chunk back. */
static void
store_fence (gboolean stream)
{
#if defined(__SSE2__)
  if (stream)
    _mm_sfence ();
#endif
}

static void
copy_rows (const GstZbCopyPlane * p, guint first, guint rows, gboolean stream)
{
  guint r;

  /* Rows back to back on both sides: one memcpy. Cut into pieces of
   * 64 KiB, a 4K frame took 20 % longer to copy into the ring here
   * (docs/benchmarks.md, "One memcpy per contiguous copy"). */
  if (p->dst_stride == p->row_bytes && p->src_stride >= 0
      && (gsize) p->src_stride == p->row_bytes) {
    copy_bytes (p->dst + (gsize) first * p->row_bytes,
        p->src + (gsize) first * p->row_bytes, (gsize) rows * p->row_bytes,
        stream);
    store_fence (stream);
    return;
  }
  for (r = first; r < first + rows; r++)
    copy_bytes (p->dst + (gsize) r * p->dst_stride,
        p->src + (gssize) r * p->src_stride, p->row_bytes, stream);
  store_fence (stream);
}

/* Claim and copy chunks until none is left; with the lock held. A helper
 * leaves the last chunk to the caller: one that woke up late would only
 * make the caller wait for it. */
static void
work (GstZbCopier * c, gboolean helper)
{
  while (c->next + (helper ? 1 : 0) < c->n_chunks) {
    Chunk ch = c->chunks[c->next++];

    g_mutex_unlock (&c->lock);
    copy_rows (&c->planes[ch.plane], ch.first_row, ch.rows, c->stream);
    g_mutex_lock (&c->lock);
    if (++c->done == c->n_chunks)
      g_cond_signal (&c->done_cond);
  }
}

static gpointer
helper_main (gpointer data)
{
  GstZbCopier *c = data;
  guint64 seen = 0;

  g_mutex_lock (&c->lock);
  for (;;) {
    while (!c->quit && c->generation == seen)
      g_cond_wait (&c->work_cond, &c->lock);
    if (c->quit)
      break;
    seen = c->generation;
    work (c, TRUE);
  }
  g_mutex_unlock (&c->lock);
  return NULL;
}

void
gst_zb_copy_debug_init (void)
{
  static gsize debug_once = 0;

  if (g_once_init_enter (&debug_once)) {
    GST_DEBUG_CATEGORY_INIT (gst_zb_copy_debug, "zbcopy", 0,
        "ZeroBuffer sink: copies of large frames over several threads");
    g_once_init_leave (&debug_once, 1);
  }
}

GstZbCopier *
gst_zb_copier_new (guint n_threads)
{
  GstZbCopier *c;

  /* plugin_init registers the category; tests/gst/test_zbcopy.c builds
   * this file without the plugin */
  gst_zb_copy_debug_init ();
  c = g_new0 (GstZbCopier, 1);

  c->n_threads = MAX (n_threads, 1);
  g_mutex_init (&c->lock);
  g_cond_init (&c->work_cond);
  g_cond_init (&c->done_cond);
  return c;
}

void
gst_zb_copier_free (GstZbCopier * c)
{
  guint i;

  if (c == NULL)
    return;
  g_mutex_lock (&c->lock);
  c->quit = TRUE;
  g_cond_broadcast (&c->work_cond);
  g_mutex_unlock (&c->lock);
  for (i = 0; i < c->n_helpers; i++)
    g_thread_join (c->helpers[i]);
  g_free (c->helpers);
  g_cond_clear (&c->done_cond);
  g_cond_clear (&c->work_cond);
  g_mutex_clear (&c->lock);
  g_free (c);
}

static void
start_helpers (GstZbCopier * c)
{
  guint i;

  c->helpers = g_new0 (GThread *, c->n_threads - 1);
  for (i = 0; i < c->n_threads - 1; i++) {
    GError *error = NULL;
    GThread *t = g_thread_try_new ("zbsink-copy", helper_main, c, &error);

    if (t == NULL) {
      /* fewer helpers: the copy only takes longer */
      GST_WARNING ("copier %p: no copy helper thread (%u of %u started): %s",
          c, c->n_helpers, c->n_threads - 1, error->message);
      g_clear_error (&error);
      break;
    }
    c->helpers[c->n_helpers++] = t;
  }
  GST_DEBUG ("copier %p: %u helper threads started", c, c->n_helpers);
}

gboolean
gst_zb_copier_run (GstZbCopier * c, const GstZbCopyPlane * planes,
    guint n_planes)
{
  gsize total = 0, chunk_bytes;
  gboolean stream;
  gint64 now;
  guint p;

  g_return_val_if_fail (n_planes <= GST_ZB_COPY_MAX_PLANES, FALSE);
  for (p = 0; p < n_planes; p++)
    total += planes[p].row_bytes * planes[p].rows;
  stream = total >= STREAM_MIN;
  if (stream && c)
    c->streamed++;
  if (c == NULL || c->n_threads < 2 || total < SHARE_MIN) {
    for (p = 0; p < n_planes; p++)
      copy_rows (&planes[p], 0, planes[p].rows, stream);
    return FALSE;
  }
  now = g_get_monotonic_time ();
  if (now - c->last_end_us > IDLE_US) {
    for (p = 0; p < n_planes; p++)
      copy_rows (&planes[p], 0, planes[p].rows, stream);
    c->last_end_us = g_get_monotonic_time ();
    return FALSE;
  }
  if (c->helpers == NULL)
    start_helpers (c);

  /* at most MAX_CHUNKS chunks: a plane gets at most one more than its
   * share */
  chunk_bytes = MAX (CHUNK_BYTES, total / (MAX_CHUNKS - n_planes) + 1);
  g_mutex_lock (&c->lock);
  c->n_chunks = 0;
  for (p = 0; p < n_planes; p++) {
    gsize bytes = planes[p].row_bytes * planes[p].rows;
    guint n = MAX (1, (bytes + chunk_bytes - 1) / chunk_bytes);
    guint per = MAX (1, (planes[p].rows + n - 1) / n);
    guint r;

    c->planes[p] = planes[p];
    for (r = 0; r < planes[p].rows; r += per) {
      Chunk *ch = &c->chunks[c->n_chunks++];

      ch->plane = p;
      ch->first_row = r;
      ch->rows = MIN (per, planes[p].rows - r);
    }
  }
  c->next = 0;
  c->done = 0;
  c->stream = stream;
  c->generation++;
  g_cond_broadcast (&c->work_cond);
  work (c, FALSE);
  while (c->done < c->n_chunks)
    g_cond_wait (&c->done_cond, &c->lock);
  g_mutex_unlock (&c->lock);
  c->last_end_us = g_get_monotonic_time ();
  return TRUE;
}

guint64
gst_zb_copier_get_streamed (GstZbCopier * c)
{
  return c->streamed;
}

gboolean
gst_zb_copier_copy (GstZbCopier * c, guint8 * dst, const guint8 * src,
    gsize size)
{
  GstZbCopyPlane planes[2] = {
    {dst, src, FLAT_ROW, FLAT_ROW, FLAT_ROW, size / FLAT_ROW},
    {dst + size / FLAT_ROW * FLAT_ROW, src + size / FLAT_ROW * FLAT_ROW,
        0, 0, size % FLAT_ROW, 1},
  };

  return gst_zb_copier_run (c, planes, 2);
}
