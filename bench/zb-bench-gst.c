/* zb-bench-gst - one side of a GStreamer inter-process benchmark run
 *
 *   zb-bench-gst produce SINK CAPS SIZE COUNT MEM RATE [OPTS]
 *   zb-bench-gst consume SRC COUNT WARMUP LATENCY
 *
 * produce: runs "zbbenchsrc ! CAPS ! SINK" and pushes COUNT buffers of
 * SIZE bytes, then EOS. MEM is "own" (every buffer wraps one of four
 * frames the producer allocated once: the sink must copy) or "sink" (the
 * buffers come from the pool or allocator that the sink proposed in the
 * ALLOCATION query, as videotestsrc does). RATE is buffers per second (0:
 * as fast as the sink takes them); a negative RATE pushes -RATE buffers
 * and then blocks forever (the idle pair). The first 8 bytes of every
 * buffer are the CLOCK_MONOTONIC time in ns at which it was pushed; no
 * other byte is touched per buffer. OPTS, a comma-separated list, is
 * what unixfdsink needs (GStreamer 1.24+): "time" a TIME segment (buffers
 * timestamped with the running time) instead of BYTES, "fd" with MEM "own"
 * every frame copied into a buffer of a pool of memfd-backed memory
 * (GstShmAllocator; fd-backed memory is what unixfdsink passes), "pool"
 * with MEM "sink" a buffer pool around an allocator that the sink proposed
 * without a pool (else every buffer is a new allocation: a new memfd).
 *
 * consume: runs "SRC ! fakesink sync=false" and watches the sink pad. It
 * prints "start NS" at the first buffer, "first NS" when buffer WARMUP + 1
 * arrives, "last NS COUNT" when
 * buffer COUNT arrives, or "stall NS COUNT" when no buffer came for 3 s.
 * With LATENCY 1 it reads the producer's timestamp out of every buffer
 * after the warm-up and prints "lat N P50 P90 P99 MAX" (microseconds).
 * Then it keeps running (the driver reads /proc/PID/stat of both sides and
 * stops them); it exits by itself on EOS or error.
 *
 * The driver is bench/bench-gst.py; scripts/bench.sh runs everything.
 */

#include <gst/gst.h>
#include <gst/base/gstpushsrc.h>
#if GST_CHECK_VERSION(1, 24, 0)
#include <gst/allocators/allocators.h>
#endif

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define OWN_FRAMES 4
#define STALL_NS (3 * GST_SECOND)

static guint64
now_ns (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (guint64) ts.tv_sec * GST_SECOND + (guint64) ts.tv_nsec;
}

/* ------------------------------------------------------------------ */
/* The producer element */

typedef struct
{
  GstPushSrc parent;
  GstCaps *caps;
  gsize size;
  gint64 count;
  gboolean own;
  gdouble rate;
  gboolean idle;
  guint8 *frames[OWN_FRAMES];
  GstBufferPool *fd_pool;       /* OPTS "fd": own frames copied into it */
  gboolean wrap_pool;           /* OPTS "pool" */
  gint64 pushed;
  guint64 start_ns;
} ZbBenchSrc;

typedef struct
{
  GstPushSrcClass parent_class;
} ZbBenchSrcClass;

GType zb_bench_src_get_type (void);
G_DEFINE_TYPE (ZbBenchSrc, zb_bench_src, GST_TYPE_PUSH_SRC);

static GstStaticPadTemplate bench_src_template =
GST_STATIC_PAD_TEMPLATE ("src", GST_PAD_SRC, GST_PAD_ALWAYS,
    GST_STATIC_CAPS_ANY);

static GstCaps *
zb_bench_src_get_caps (GstBaseSrc * bsrc, GstCaps * filter)
{
  ZbBenchSrc *self = (ZbBenchSrc *) bsrc;

  if (self->caps == NULL)
    return filter ? gst_caps_ref (filter) : gst_caps_new_any ();
  if (filter)
    return gst_caps_intersect_full (filter, self->caps,
        GST_CAPS_INTERSECT_FIRST);
  return gst_caps_ref (self->caps);
}

/* Sleep until the next buffer is due; FALSE when the run is over. */
static gboolean
pace (ZbBenchSrc * self)
{
  struct timespec ts;
  guint64 due;

  if (self->idle && self->pushed >= self->count) {
    for (;;)
      g_usleep (G_USEC_PER_SEC);
  }
  if (self->pushed >= self->count)
    return FALSE;
  if (self->rate > 0) {
    if (self->pushed == 0)
      self->start_ns = now_ns ();
    due = self->start_ns + (guint64) (self->pushed * (1e9 / self->rate));
    ts.tv_sec = due / GST_SECOND;
    ts.tv_nsec = due % GST_SECOND;
    while (clock_nanosleep (CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) != 0);
  }
  self->pushed++;
  return TRUE;
}

static GstFlowReturn
zb_bench_src_fill (GstPushSrc * psrc, GstBuffer * buf)
{
  ZbBenchSrc *self = (ZbBenchSrc *) psrc;
  guint64 t;

  if (!pace (self))
    return GST_FLOW_EOS;
  if ((self->pushed == 1 || self->pushed == 100) && g_getenv ("ZB_BENCH_DEBUG"))
    fprintf (stderr, "fill: %" G_GSIZE_FORMAT " bytes from %s\n",
        gst_buffer_get_size (buf), gst_buffer_peek_memory (buf,
            0)->allocator ? GST_OBJECT_NAME (gst_buffer_peek_memory (buf,
                0)->allocator) : "?");
  t = now_ns ();
  gst_buffer_fill (buf, 0, &t, sizeof (t));
  return GST_FLOW_OK;
}

static GstFlowReturn
zb_bench_src_create (GstPushSrc * psrc, GstBuffer ** out)
{
  ZbBenchSrc *self = (ZbBenchSrc *) psrc;
  guint8 *frame;
  guint64 t;

  if (!self->own) {
    /* from the pool or allocator negotiated with the sink */
    GstFlowReturn ret = GST_BASE_SRC_GET_CLASS (psrc)->alloc (GST_BASE_SRC
        (psrc), 0, (guint) self->size, out);

    if (ret == GST_FLOW_OK) {
      ret = zb_bench_src_fill (psrc, *out);
      if (ret != GST_FLOW_OK)
        gst_clear_buffer (out);
    }
    return ret;
  }
  if (!pace (self))
    return GST_FLOW_EOS;
  frame = self->frames[self->pushed % OWN_FRAMES];
  t = now_ns ();
  memcpy (frame, &t, sizeof (t));
  if (self->fd_pool) {
    /* the copy any path makes of a producer-owned frame, here ours */
    GstFlowReturn ret = gst_buffer_pool_acquire_buffer (self->fd_pool, out,
        NULL);

    if (ret == GST_FLOW_OK)
      gst_buffer_fill (*out, 0, frame, self->size);
    return ret;
  }
  *out = gst_buffer_new_wrapped_full (GST_MEMORY_FLAG_READONLY, frame,
      self->size, 0, self->size, NULL, NULL);
  return GST_FLOW_OK;
}

/* OPTS "pool": the sink proposed an allocator and no pool (unixfdsink):
 * a pool on that allocator, made by GstBaseSrc's default. */
static gboolean
zb_bench_src_decide_allocation (GstBaseSrc * bsrc, GstQuery * query)
{
  ZbBenchSrc *self = (ZbBenchSrc *) bsrc;

  if (self->wrap_pool && gst_query_get_n_allocation_pools (query) == 0 &&
      gst_query_get_n_allocation_params (query) > 0)
    gst_query_add_allocation_pool (query, NULL, (guint) self->size, 0, 0);
  return GST_BASE_SRC_CLASS (zb_bench_src_parent_class)->decide_allocation
      (bsrc, query);
}

static void
zb_bench_src_class_init (ZbBenchSrcClass * klass)
{
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstBaseSrcClass *basesrc_class = GST_BASE_SRC_CLASS (klass);
  GstPushSrcClass *pushsrc_class = GST_PUSH_SRC_CLASS (klass);

  gst_element_class_add_static_pad_template (element_class,
      &bench_src_template);
  gst_element_class_set_static_metadata (element_class, "Benchmark source",
      "Source", "Timestamped buffers for zb-bench-gst", "zerobuffer");
  basesrc_class->get_caps = zb_bench_src_get_caps;
  basesrc_class->decide_allocation = zb_bench_src_decide_allocation;
  pushsrc_class->create = zb_bench_src_create;
  pushsrc_class->fill = zb_bench_src_fill;
}

static void
zb_bench_src_init (ZbBenchSrc * self)
{
  gst_base_src_set_format (GST_BASE_SRC (self), GST_FORMAT_BYTES);
}

static int
produce (int argc, char **argv)
{
  GstElement *pipeline, *src;
  GstMessage *msg;
  GError *error = NULL;
  ZbBenchSrc *bs;
  gchar *desc;
  gchar **opts;
  gdouble rate;
  int i, ret = 0;

  if (argc != 8 && argc != 9)
    return 2;
  gst_element_register (NULL, "zbbenchsrc", GST_RANK_NONE,
      zb_bench_src_get_type ());
  desc = g_strdup_printf ("zbbenchsrc name=src ! %s ! %s", argv[3], argv[2]);
  pipeline = gst_parse_launch (desc, &error);
  g_free (desc);
  /* a missing element (no plugin in GST_PLUGIN_PATH_1_0) still returns a
   * pipeline, which would wait for ever */
  if (error != NULL) {
    fprintf (stderr, "produce: %s\n", error->message);
    return 1;
  }
  src = gst_bin_get_by_name (GST_BIN (pipeline), "src");
  bs = (ZbBenchSrc *) src;
  bs->caps = gst_caps_from_string (argv[3]);
  bs->size = g_ascii_strtoull (argv[4], NULL, 10);
  bs->count = g_ascii_strtoll (argv[5], NULL, 10);
  bs->own = strcmp (argv[6], "own") == 0;
  rate = g_ascii_strtod (argv[7], NULL);
  bs->idle = rate < 0;
  bs->rate = rate < 0 ? 0 : rate;
  if (bs->idle)
    bs->count = (gint64) - rate;
  gst_base_src_set_blocksize (GST_BASE_SRC (src), (guint) bs->size);
  for (i = 0; i < OWN_FRAMES; i++) {
    bs->frames[i] = g_malloc (bs->size);
    memset (bs->frames[i], 0x5a, bs->size);
  }
  opts = g_strsplit (argc == 9 ? argv[8] : "", ",", -1);
  for (i = 0; opts[i]; i++) {
    if (strcmp (opts[i], "time") == 0) {
      gst_base_src_set_format (GST_BASE_SRC (src), GST_FORMAT_TIME);
      gst_base_src_set_do_timestamp (GST_BASE_SRC (src), TRUE);
    } else if (strcmp (opts[i], "pool") == 0) {
      bs->wrap_pool = TRUE;
    } else if (strcmp (opts[i], "fd") == 0 && bs->own) {
#if GST_CHECK_VERSION(1, 24, 0)
      GstAllocator *shm;
      GstStructure *config;

      gst_shm_allocator_init_once ();
      shm = gst_shm_allocator_get ();
      bs->fd_pool = gst_buffer_pool_new ();
      config = gst_buffer_pool_get_config (bs->fd_pool);
      gst_buffer_pool_config_set_params (config, bs->caps, (guint) bs->size,
          OWN_FRAMES, 0);
      gst_buffer_pool_config_set_allocator (config, shm, NULL);
      if (!gst_buffer_pool_set_config (bs->fd_pool, config) ||
          !gst_buffer_pool_set_active (bs->fd_pool, TRUE)) {
        fprintf (stderr, "produce: no memfd pool\n");
        return 1;
      }
      gst_object_unref (shm);
#else
      fprintf (stderr, "produce: \"fd\" needs GStreamer 1.24\n");
      return 2;
#endif
    } else if (opts[i][0] != '\0') {
      fprintf (stderr, "produce: unknown option %s\n", opts[i]);
      return 2;
    }
  }
  g_strfreev (opts);

  gst_element_set_state (pipeline, GST_STATE_PLAYING);
  msg = gst_bus_timed_pop_filtered (GST_ELEMENT_BUS (pipeline),
      GST_CLOCK_TIME_NONE, GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
  if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ERROR) {
    GError *err;
    gchar *dbg;

    gst_message_parse_error (msg, &err, &dbg);
    fprintf (stderr, "produce: %s (%s)\n", err->message, dbg);
    g_error_free (err);
    g_free (dbg);
    ret = 1;
  }
  gst_message_unref (msg);
  /* shmsink has nobody to hand EOS to; nothing more to wait for */
  fflush (stdout);
  _exit (ret);
}

/* ------------------------------------------------------------------ */
/* The consumer */

typedef struct
{
  gint64 count;
  gint64 warmup;
  gboolean latency;
  gint64 seen;
  guint64 last_ns;
  gboolean done;
  guint64 *lat;
  gint64 nlat;
} Consumer;

static int
cmp_u64 (const void *a, const void *b)
{
  guint64 x = *(const guint64 *) a, y = *(const guint64 *) b;

  return x < y ? -1 : x > y;
}

static void
report (Consumer * c, const char *what)
{
  printf ("%s %" G_GUINT64_FORMAT " %" G_GINT64_FORMAT "\n", what, c->last_ns,
      c->seen);
  if (c->latency && c->nlat > 0) {
    guint64 *v = c->lat;
    gint64 n = c->nlat;

    qsort (v, n, sizeof (guint64), cmp_u64);
    printf ("lat %" G_GINT64_FORMAT " %.1f %.1f %.1f %.1f\n", n,
        v[n * 50 / 100] / 1e3, v[n * 90 / 100] / 1e3, v[n * 99 / 100] / 1e3,
        v[n - 1] / 1e3);
  }
  fflush (stdout);
  c->done = TRUE;
}

static GstPadProbeReturn
on_buffer (GstPad * pad, GstPadProbeInfo * info, gpointer user_data)
{
  Consumer *c = user_data;
  GstBuffer *buf = GST_PAD_PROBE_INFO_BUFFER (info);
  guint64 t = now_ns (), sent;

  if (c->done)
    return GST_PAD_PROBE_OK;
  c->seen++;
  c->last_ns = t;
  if (c->seen == 1 && c->warmup > 0) {
    printf ("start %" G_GUINT64_FORMAT "\n", t);
    fflush (stdout);
  }
  if (c->seen == c->warmup + 1) {
    printf ("first %" G_GUINT64_FORMAT "\n", t);
    fflush (stdout);
  }
  if (c->latency && c->seen > c->warmup && c->nlat < c->count &&
      gst_buffer_extract (buf, 0, &sent, sizeof (sent)) == sizeof (sent))
    c->lat[c->nlat++] = t - sent;
  if (c->seen == c->count)
    report (c, "last");
  return GST_PAD_PROBE_OK;
}

static gboolean
check_stall (gpointer user_data)
{
  Consumer *c = user_data;

  if (!c->done && c->seen > 0 && now_ns () - c->last_ns > STALL_NS)
    report (c, "stall");
  return G_SOURCE_CONTINUE;
}

static gboolean
on_bus (GstBus * bus, GstMessage * msg, gpointer user_data)
{
  GMainLoop *loop = user_data;

  if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_EOS ||
      GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ERROR)
    g_main_loop_quit (loop);
  return TRUE;
}

static int
consume (int argc, char **argv)
{
  GstElement *pipeline, *sink;
  GError *error = NULL;
  GMainLoop *loop;
  GstPad *pad;
  Consumer c;
  gchar *desc;

  if (argc != 6)
    return 2;
  memset (&c, 0, sizeof (c));
  c.count = g_ascii_strtoll (argv[3], NULL, 10);
  c.warmup = g_ascii_strtoll (argv[4], NULL, 10);
  c.latency = atoi (argv[5]) != 0;
  if (c.latency)
    c.lat = g_new (guint64, c.count);

  desc = g_strdup_printf ("%s ! fakesink name=sink sync=false async=false",
      argv[2]);
  pipeline = gst_parse_launch (desc, &error);
  g_free (desc);
  /* a missing element (no plugin in GST_PLUGIN_PATH_1_0) still returns a
   * pipeline, which would wait for ever */
  if (error != NULL) {
    fprintf (stderr, "consume: %s\n", error->message);
    return 1;
  }
  sink = gst_bin_get_by_name (GST_BIN (pipeline), "sink");
  pad = gst_element_get_static_pad (sink, "sink");
  gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_BUFFER, on_buffer, &c, NULL);
  gst_object_unref (pad);
  gst_object_unref (sink);

  loop = g_main_loop_new (NULL, FALSE);
  gst_bus_add_watch (GST_ELEMENT_BUS (pipeline), on_bus, loop);
  g_timeout_add (100, check_stall, &c);
  gst_element_set_state (pipeline, GST_STATE_PLAYING);
  g_main_loop_run (loop);
  if (!c.done)
    report (&c, "stall");
  /* shmsrc may hang in the state change: do not wait for it */
  _exit (0);
}

int
main (int argc, char **argv)
{
  gst_init (&argc, &argv);
  if (argc >= 2 && strcmp (argv[1], "produce") == 0)
    return produce (argc, argv);
  if (argc >= 2 && strcmp (argv[1], "consume") == 0)
    return consume (argc, argv);
  fprintf (stderr, "usage: %s produce SINK CAPS SIZE COUNT MEM RATE [OPTS]\n"
      "       %s consume SRC COUNT WARMUP LATENCY\n", argv[0], argv[0]);
  return 2;
}
