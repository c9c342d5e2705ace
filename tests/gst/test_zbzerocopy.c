/* Writer-side zero copy: upstream allocating from what zbsink proposes
 * (memory in the ring), every frame checked at the reader, buffers held past
 * the element's life, frames rendered out of order or never, flushes, state
 * changes, a reader lost while a ring frame is out, and shutdown while an
 * allocation waits for a full ring. */

#include <string.h>

#include <gst/app/gstappsrc.h>
#include <gst/check/gstcheck.h>
#include <gst/video/video.h>

#include "zbtest.h"

#define FRAME_SIZE (64 * 1024)

/* ------------------------------------------------------------------ */
/* What went in and what came out: a hash per buffer. */

typedef struct
{
  GMutex lock;
  GArray *hashes;               /* guint64, in arrival order */
  guint ring;                   /* buffers whose memory lay in the ring */
} Log;

static guint64
hash_bytes (const guint8 * data, gsize size)
{
  guint64 h = 14695981039346656037ULL;
  gsize i;

  for (i = 0; i < size; i++) {
    h ^= data[i];
    h *= 1099511628211ULL;
  }
  return h ^ size;
}

static guint64
hash_buffer (GstBuffer * buf)
{
  GstMapInfo map;
  guint64 h;

  fail_unless (gst_buffer_map (buf, &map, GST_MAP_READ));
  h = hash_bytes (map.data, map.size);
  gst_buffer_unmap (buf, &map);
  return h;
}

static gboolean
is_ring_memory (GstBuffer * buf)
{
  GstMemory *mem;

  if (gst_buffer_n_memory (buf) != 1)
    return FALSE;
  mem = gst_buffer_peek_memory (buf, 0);
  return mem->allocator && g_strcmp0 (mem->allocator->mem_type,
      "ZbRingMemory") == 0;
}

static GstPadProbeReturn
log_probe (GstPad * pad, GstPadProbeInfo * info, gpointer user_data)
{
  Log *log = user_data;
  GstBuffer *buf = GST_PAD_PROBE_INFO_BUFFER (info);
  guint64 h = hash_buffer (buf);

  g_mutex_lock (&log->lock);
  g_array_append_val (log->hashes, h);
  if (is_ring_memory (buf))
    log->ring++;
  g_mutex_unlock (&log->lock);
  return GST_PAD_PROBE_OK;
}

static Log *
log_new (GstElement * pipeline, const gchar * element)
{
  Log *log = g_new0 (Log, 1);
  GstElement *e = gst_bin_get_by_name (GST_BIN (pipeline), element);
  GstPad *pad = gst_element_get_static_pad (e, "sink");

  g_mutex_init (&log->lock);
  log->hashes = g_array_new (FALSE, FALSE, sizeof (guint64));
  gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_BUFFER, log_probe, log, NULL);
  gst_object_unref (pad);
  gst_object_unref (e);
  return log;
}

static void
log_free (Log * log)
{
  g_array_unref (log->hashes);
  g_mutex_clear (&log->lock);
  g_free (log);
}

static guint
log_len (Log * log)
{
  guint n;

  g_mutex_lock (&log->lock);
  n = log->hashes->len;
  g_mutex_unlock (&log->lock);
  return n;
}

/* Every frame the reader got is one the writer was given, intact, in the
 * writer's order; returns how many matched. */
static guint
assert_subsequence (Log * in, Log * out)
{
  guint i, j = 0;

  for (i = 0; i < out->hashes->len; i++) {
    guint64 h = g_array_index (out->hashes, guint64, i);

    while (j < in->hashes->len && g_array_index (in->hashes, guint64, j) != h)
      j++;
    fail_unless (j < in->hashes->len, "reader frame %u of %u is not one the "
        "writer got (or out of order)", i, out->hashes->len);
    j++;
  }
  return out->hashes->len;
}

static void
assert_equal (Log * in, Log * out)
{
  guint i;

  fail_unless_equals_int (out->hashes->len, in->hashes->len);
  for (i = 0; i < in->hashes->len; i++)
    fail_unless (g_array_index (in->hashes, guint64, i) ==
        g_array_index (out->hashes, guint64, i), "frame %u differs", i);
}

/* ------------------------------------------------------------------ */

/* zbsink's count of frames sent without a copy */
static guint64
in_place (GstElement * pipeline)
{
  GstElement *zb = gst_bin_get_by_name (GST_BIN (pipeline), "zb");
  guint64 n = zbt_stat_u64 (zb, "zero-copy-frames");

  gst_object_unref (zb);
  return n;
}

/* With @last_sample the reader's sink keeps its last sample (basesink's
 * default): it releases a buffer only when the next one arrives, while
 * frames of ours that are not buffers (the no-op caps record of an
 * abandoned ring slot) pass by. Regression (out-of-order case): the
 * library's early wrap of large frames once left no room after such a
 * record and the writer waited forever. */
static GstElement *
reader_new (const gchar * name, gboolean last_sample)
{
  return zbt_pipeline ("zbsrc name=src buffer-name=%s payload-size=8388608 "
      "! fakesink name=out sync=false enable-last-sample=%s", name,
      last_sample ? "true" : "false");
}

static void
start (GstElement * rp, GstElement * wp)
{
  fail_unless (gst_element_set_state (rp, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  fail_unless (zbt_set_state (wp, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
}

/* ------------------------------------------------------------------ */
/* videotestsrc allocates from the sink's proposal: every frame arrives
 * intact and in order, with and without the last sample holding the
 * buffer (which moves a rendered frame's bytes out of the ring). */
GST_START_TEST (test_videotestsrc)
{
  gchar *name = zbt_name ();
  GstElement *rp, *wp;
  Log *in, *out;

  rp = reader_new (name, FALSE);
  wp = zbt_pipeline ("videotestsrc num-buffers=60 pattern=ball ! "
      "video/x-raw,format=I420,width=320,height=240 ! zbsink name=zb "
      "buffer-name=%s sync=false zero-copy=true enable-last-sample=%s", name,
      __i__ ? "true" : "false");
  in = log_new (wp, "zb");
  out = log_new (rp, "out");
  start (rp, wp);
  zbt_wait_eos (wp, 30000);
  zbt_wait_eos (rp, 30000);

  assert_equal (in, out);
  fail_unless_equals_int (in->hashes->len, 60);
  /* the first buffers come before the sink knows its streaming thread */
  fail_unless (in->ring >= 55, "only %u of 60 frames from the sink's "
      "allocator", in->ring);
  if (__i__ == 0)
    fail_unless (in_place (wp) >= 55, "only %" G_GUINT64_FORMAT " of 60 "
        "frames sent without a copy", in_place (wp));
  else
    /* the last sample holds each buffer while it is rendered */
    fail_unless_equals_uint64 (in_place (wp), 0);

  zbt_stop_and_free (wp);
  zbt_stop_and_free (rp);
  log_free (in);
  log_free (out);
  fail_unless (zbt_no_leftovers (name));
  g_free (name);
}

GST_END_TEST;

/* zero-copy=false: nothing comes from the ring. */
GST_START_TEST (test_zero_copy_off)
{
  gchar *name = zbt_name ();
  GstElement *rp, *wp;
  Log *in, *out;

  rp = reader_new (name, FALSE);
  wp = zbt_pipeline ("videotestsrc num-buffers=20 pattern=ball ! "
      "video/x-raw,format=I420,width=320,height=240 ! zbsink name=zb "
      "buffer-name=%s sync=false zero-copy=false", name);
  in = log_new (wp, "zb");
  out = log_new (rp, "out");
  start (rp, wp);
  zbt_wait_eos (wp, 30000);
  zbt_wait_eos (rp, 30000);
  assert_equal (in, out);
  fail_unless_equals_int (in->ring, 0);
  fail_unless_equals_uint64 (in_place (wp), 0);
  zbt_stop_and_free (wp);
  zbt_stop_and_free (rp);
  log_free (in);
  log_free (out);
  g_free (name);
}

GST_END_TEST;

/* ------------------------------------------------------------------ */
/* appsrc whose need-data handler (appsrc's streaming thread, the one that
 * renders) allocates with what the ALLOCATION query returned. */

typedef enum
{
  MODE_ALLOCATOR,               /* gst_allocator_alloc() per frame */
  MODE_POOL,                    /* a GstBufferPool on that allocator */
  MODE_OUT_OF_ORDER,            /* frames pushed in another order, some
                                 * allocated and never pushed, sizes
                                 * changing */
  MODE_FLUSH,                   /* a flush while a ring frame is out */
  MODE_READER_LOST              /* the reader stops while one is out */
} Mode;

typedef struct
{
  Mode mode;
  GstElement *appsrc;
  GstElement *reader;
  guint frames;                 /* to push */
  guint next;                   /* frame number of the next allocation */
  guint pushed;
  guint calls;
  guint flushes;
  gint running;                 /* the pipeline reached PLAYING */
  GstAllocator *allocator;
  GstBufferPool *pool;
  GPtrArray *held;              /* buffers kept past the pipeline's life */
  GArray *held_numbers;
  gboolean reader_stopped;
} Feeder;

static void
fill (GstBuffer * buf, guint n)
{
  GstMapInfo map;
  gsize i;

  fail_unless (gst_buffer_map (buf, &map, GST_MAP_WRITE));
  for (i = 0; i < map.size; i++)
    map.data[i] = (guint8) (n * 31 + i / 7);
  memcpy (map.data, &n, sizeof (n));
  gst_buffer_unmap (buf, &map);
}

static gboolean
check (GstBuffer * buf, guint n)
{
  GstMapInfo map;
  gboolean ok = TRUE;
  guint got;
  gsize i;

  if (!gst_buffer_map (buf, &map, GST_MAP_READ))
    return FALSE;
  memcpy (&got, map.data, sizeof (got));
  ok = got == n;
  for (i = sizeof (n); ok && i < map.size; i++)
    ok = map.data[i] == (guint8) (n * 31 + i / 7);
  gst_buffer_unmap (buf, &map);
  return ok;
}

static void
query_allocation (Feeder * f)
{
  GstPad *pad = gst_element_get_static_pad (f->appsrc, "src");
  GstCaps *caps = gst_pad_get_current_caps (pad);
  GstQuery *q = gst_query_new_allocation (caps, TRUE);

  fail_unless (gst_pad_peer_query (pad, q));
  fail_unless (gst_query_get_n_allocation_params (q) > 0,
      "zbsink proposed no allocator");
  gst_query_parse_nth_allocation_param (q, 0, &f->allocator, NULL);
  fail_unless (f->allocator != NULL);
  if (f->mode == MODE_POOL) {
    GstStructure *config;

    f->pool = gst_buffer_pool_new ();
    config = gst_buffer_pool_get_config (f->pool);
    gst_buffer_pool_config_set_params (config, caps, FRAME_SIZE, 0, 0);
    gst_buffer_pool_config_set_allocator (config, f->allocator, NULL);
    fail_unless (gst_buffer_pool_set_config (f->pool, config));
    fail_unless (gst_buffer_pool_set_active (f->pool, TRUE));
  }
  gst_query_unref (q);
  gst_caps_unref (caps);
  gst_object_unref (pad);
}

static GstBuffer *
alloc_frame (Feeder * f, gsize size)
{
  GstBuffer *buf = NULL;

  if (f->pool && size == FRAME_SIZE) {
    fail_unless_equals_int (gst_buffer_pool_acquire_buffer (f->pool, &buf,
            NULL), GST_FLOW_OK);
  } else {
    buf = gst_buffer_new_allocate (f->allocator, size, NULL);
  }
  fill (buf, f->next++);
  return buf;
}

static void
push (Feeder * f, GstBuffer * buf)
{
  /* every seventh frame is kept by us as well */
  if (f->pushed % 7 == 3) {
    guint n;

    gst_buffer_extract (buf, 0, &n, sizeof (n));
    g_ptr_array_add (f->held, gst_buffer_ref (buf));
    g_array_append_val (f->held_numbers, n);
  }
  f->pushed++;
  fail_unless_equals_int (gst_app_src_push_buffer (GST_APP_SRC (f->appsrc),
          buf), GST_FLOW_OK);
}

static void
push_flush (Feeder * f)
{
  GstPad *pad = gst_element_get_static_pad (f->appsrc, "src");
  GstElement *pipeline = GST_ELEMENT (gst_element_get_parent (f->appsrc));
  GstSegment seg;

  /* A flush makes the sink lose its state: it prerolls the next buffer
   * and the pipeline sets it back to PLAYING from a thread of its own. A
   * flush while the pipeline is still busy with that state change is lost
   * on it (GstBin ignores the sink's ASYNC_START, "state change busy"),
   * and the sink stays PAUSED for good, waiting for a PLAYING that never
   * comes. A seek is serialized with state changes (the pipeline's state
   * lock); this flush from the streaming thread is not: wait for the
   * pipeline to be done first. */
  fail_unless_equals_int (gst_element_get_state (pipeline, NULL, NULL,
          10 * GST_SECOND), GST_STATE_CHANGE_SUCCESS);
  gst_object_unref (pipeline);
  gst_segment_init (&seg, GST_FORMAT_BYTES);
  fail_unless (gst_pad_push_event (pad, gst_event_new_flush_start ()));
  fail_unless (gst_pad_push_event (pad, gst_event_new_flush_stop (FALSE)));
  fail_unless (gst_pad_push_event (pad, gst_event_new_segment (&seg)));
  gst_object_unref (pad);
}

static void
need_data (GstAppSrc * src, guint length, gpointer user_data)
{
  Feeder *f = user_data;
  GstBuffer *a, *b, *c;

  if (f->pushed >= f->frames) {
    gst_app_src_end_of_stream (src);
    return;
  }
  if (f->allocator == NULL)
    query_allocation (f);

  switch (f->mode) {
    case MODE_ALLOCATOR:
    case MODE_POOL:
      push (f, alloc_frame (f, FRAME_SIZE));
      break;
    case MODE_OUT_OF_ORDER:
      switch (f->calls++ % 3) {
        case 0:
          /* allocated first, pushed second */
          a = alloc_frame (f, FRAME_SIZE);
          b = alloc_frame (f, FRAME_SIZE);
          push (f, b);
          push (f, a);
          break;
        case 1:
          /* allocated and dropped; then one of another size */
          a = alloc_frame (f, FRAME_SIZE);
          gst_buffer_unref (a);
          b = alloc_frame (f, FRAME_SIZE / 2 + 3);
          push (f, b);
          break;
        default:
          /* one in the ring, then a second one alongside, pushed in
           * order */
          a = alloc_frame (f, FRAME_SIZE);
          b = alloc_frame (f, FRAME_SIZE);
          c = alloc_frame (f, 100);
          push (f, a);
          push (f, c);
          push (f, b);
          break;
      }
      break;
    case MODE_FLUSH:
      a = alloc_frame (f, FRAME_SIZE);
      /* a flush during the state change to PLAYING would make it fail:
       * flush once there */
      if (f->pushed % 5 == 2 && g_atomic_int_get (&f->running)) {
        push_flush (f);
        f->flushes++;
      }
      push (f, a);
      break;
    case MODE_READER_LOST:
      /* leave the test time to start a new reader */
      if (f->reader_stopped)
        g_usleep (5 * 1000);
      a = alloc_frame (f, FRAME_SIZE);
      if (f->pushed == 10) {
        /* a ring frame is out and the reader goes away */
        fail_unless_equals_int (zbt_set_state (f->reader, GST_STATE_NULL),
            GST_STATE_CHANGE_SUCCESS);
        f->reader_stopped = TRUE;
      }
      push (f, a);
      break;
  }
}

static Feeder *
feeder_new (GstElement * wp, Mode mode, guint frames)
{
  Feeder *f = g_new0 (Feeder, 1);
  GstAppSrcCallbacks cb = { need_data, NULL, NULL };

  f->mode = mode;
  f->frames = frames;
  f->appsrc = gst_bin_get_by_name (GST_BIN (wp), "in");
  f->held = g_ptr_array_new_with_free_func ((GDestroyNotify)
      gst_buffer_unref);
  f->held_numbers = g_array_new (FALSE, FALSE, sizeof (guint));
  gst_app_src_set_callbacks (GST_APP_SRC (f->appsrc), &cb, f, NULL);
  return f;
}

/* The buffers we kept still hold their bytes, though the sink is gone. */
static void
feeder_free (Feeder * f)
{
  guint i;

  for (i = 0; i < f->held->len; i++)
    fail_unless (check (g_ptr_array_index (f->held, i),
            g_array_index (f->held_numbers, guint, i)),
        "held buffer %u lost its bytes", i);
  g_ptr_array_unref (f->held);
  g_array_unref (f->held_numbers);
  if (f->pool) {
    gst_buffer_pool_set_active (f->pool, FALSE);
    gst_object_unref (f->pool);
  }
  if (f->allocator)
    gst_object_unref (f->allocator);
  gst_object_unref (f->appsrc);
  g_free (f);
}

/* appsrc's max-buffers is GStreamer 1.20+. 1.18 bounds its queue just as
 * well here: appsrc emits need-data only when its queue is empty (its
 * min-percent is 0), so the frames of one need_data() call are all that is
 * ever queued. */
#if GST_CHECK_VERSION(1, 20, 0)
#define APPSRC_LIMIT " max-buffers=1"
#else
#define APPSRC_LIMIT ""
#endif

static GstElement *
appsrc_writer (const gchar * name)
{
  return zbt_pipeline ("appsrc name=in caps=application/x-zbtest "
      "format=bytes" APPSRC_LIMIT " ! zbsink name=zb buffer-name=%s "
      "sync=false enable-last-sample=false zero-copy=true", name);
}

static const Mode feed_modes[] = {
  MODE_ALLOCATOR, MODE_POOL, MODE_OUT_OF_ORDER, MODE_FLUSH
};

GST_START_TEST (test_appsrc)
{
  gchar *name = zbt_name ();
  Mode mode = feed_modes[__i__];
  GstElement *rp, *wp;
  Feeder *f;
  Log *in, *out;

  rp = reader_new (name, mode == MODE_OUT_OF_ORDER);
  wp = appsrc_writer (name);
  f = feeder_new (wp, mode, 80);
  in = log_new (wp, "zb");
  out = log_new (rp, "out");
  start (rp, wp);
  g_atomic_int_set (&f->running, 1);
  zbt_wait_eos (wp, 30000);
  zbt_wait_eos (rp, 30000);

  /* nothing was lost: every pushed frame arrived, in push order */
  assert_equal (in, out);
  fail_unless (in->hashes->len >= 80);
  if (mode == MODE_FLUSH)
    fail_unless (f->flushes > 5, "%u flushes", f->flushes);
  /* every seventh is held by the feeder as well: copied */
  if (mode != MODE_OUT_OF_ORDER)
    fail_unless (in_place (wp) >= 65, "%" G_GUINT64_FORMAT " frames of %u "
        "sent without a copy", in_place (wp), in->hashes->len);
  else
    fail_unless (in_place (wp) >= 10, "%" G_GUINT64_FORMAT " frames of %u "
        "sent without a copy", in_place (wp), in->hashes->len);

  /* the sink goes away first; our buffers must survive it */
  zbt_stop_and_free (wp);
  zbt_stop_and_free (rp);
  feeder_free (f);
  log_free (in);
  log_free (out);
  fail_unless (zbt_no_leftovers (name));
  g_free (name);
}

GST_END_TEST;

/* The reader stops while a frame in the ring is out; with
 * on-reader-lost=drop the writer goes on, and a new reader gets the
 * frames from its arrival on, intact and in order. */
GST_START_TEST (test_reader_lost)
{
  gchar *name = zbt_name ();
  GstElement *rp, *rp2, *wp, *zb;
  GstBus *bus;
  GstMessage *msg;
  Feeder *f;
  Log *in, *out;

  rp = reader_new (name, FALSE);
  wp = appsrc_writer (name);
  zb = gst_bin_get_by_name (GST_BIN (wp), "zb");
  g_object_set (zb, "on-reader-lost", 1 /* drop */ , NULL);
  f = feeder_new (wp, MODE_READER_LOST, 400);
  f->reader = rp;
  in = log_new (wp, "zb");
  bus = gst_element_get_bus (wp);
  start (rp, wp);

  msg = zbt_pop_element (bus, "zbsink-reader-lost", 20000);
  fail_unless (msg != NULL);
  gst_message_unref (msg);
  fail_unless (f->reader_stopped);

  rp2 = reader_new (name, FALSE);
  out = log_new (rp2, "out");
  fail_unless (gst_element_set_state (rp2, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  zbt_wait_eos (wp, 30000);
  zbt_wait_eos (rp2, 30000);

  fail_unless (log_len (out) > 0, "the new reader got nothing");
  assert_subsequence (in, out);

  zbt_stop_and_free (wp);
  zbt_stop_and_free (rp2);
  zbt_stop_and_free (rp);
  feeder_free (f);
  gst_object_unref (zb);
  gst_object_unref (bus);
  log_free (in);
  log_free (out);
  fail_unless (zbt_no_leftovers (name));
  g_free (name);
}

GST_END_TEST;

/* PLAYING, PAUSED, READY and back while videotestsrc allocates from the
 * ring; then a flushing seek. No error, no hang, and what arrives is what
 * went in, in order. */
GST_START_TEST (test_state_cycling)
{
  gchar *name = zbt_name ();
  GstElement *rp, *wp;
  Log *in, *out;
  guint i;

  rp = reader_new (name, FALSE);
  wp = zbt_pipeline ("videotestsrc pattern=ball ! "
      "video/x-raw,format=I420,width=320,height=240,framerate=200/1 ! "
      "zbsink name=zb buffer-name=%s sync=false zero-copy=true "
      "enable-last-sample=false", name);
  in = log_new (wp, "zb");
  out = log_new (rp, "out");
  start (rp, wp);

  for (i = 0; i < 6; i++) {
    GstState target = i % 2 ? GST_STATE_PAUSED : GST_STATE_READY;

    g_usleep (50 * 1000);
    fail_unless (zbt_set_state (wp, target) != GST_STATE_CHANGE_FAILURE);
    g_usleep (20 * 1000);
    fail_unless (zbt_set_state (wp, GST_STATE_PLAYING) !=
        GST_STATE_CHANGE_FAILURE);
  }
  g_usleep (50 * 1000);
  fail_unless (gst_element_seek_simple (wp, GST_FORMAT_TIME,
          GST_SEEK_FLAG_FLUSH, 0));
  g_usleep (100 * 1000);
  gst_element_send_event (wp, gst_event_new_eos ());
  zbt_wait_eos (wp, 30000);
  zbt_wait_eos (rp, 30000);

  fail_unless (log_len (out) > 10);
  fail_unless (in_place (wp) > 10, "%" G_GUINT64_FORMAT " of %u frames sent "
      "without a copy", in_place (wp), in->hashes->len);
  assert_subsequence (in, out);

  zbt_stop_and_free (wp);
  zbt_stop_and_free (rp);
  log_free (in);
  log_free (out);
  fail_unless (zbt_no_leftovers (name));
  g_free (name);
}

GST_END_TEST;

/* The reader stops reading: the ring fills while upstream allocates from
 * it. Stopping the writer must not hang, and nothing leaks. */
GST_START_TEST (test_full_ring_shutdown)
{
  gchar *name = zbt_name ();
  GstElement *rp, *wp;
  GstElement *zb;
  gint64 t0;
  guint64 frames = 0;

  rp = zbt_pipeline ("zbsrc buffer-name=%s payload-size=1048576 ! "
      "appsink name=out sync=false max-buffers=2 drop=false", name);
  wp = zbt_pipeline ("videotestsrc pattern=ball ! "
      "video/x-raw,format=I420,width=320,height=240 ! zbsink name=zb "
      "buffer-name=%s sync=false zero-copy=true enable-last-sample=false",
      name);
  start (rp, wp);
  zb = gst_bin_get_by_name (GST_BIN (wp), "zb");
  /* the ring (1 MiB, about 9 frames) and appsink's queue fill up */
  for (t0 = g_get_monotonic_time (); g_get_monotonic_time () - t0 <
      10 * G_USEC_PER_SEC;) {
    guint64 now;

    g_usleep (100 * 1000);
    now = zbt_stat_u64 (zb, "frames-sent");
    if (now > 0 && now == frames)
      break;
    frames = now;
  }
  fail_unless (frames > 0 && frames < 30, "%" G_GUINT64_FORMAT " frames",
      frames);
  t0 = g_get_monotonic_time ();
  zbt_stop_and_free (wp);
  fail_unless (g_get_monotonic_time () - t0 < 5 * G_USEC_PER_SEC);
  zbt_stop_and_free (rp);
  gst_object_unref (zb);
  fail_unless (zbt_no_leftovers (name));
  g_free (name);
}

GST_END_TEST;

/* ------------------------------------------------------------------ */
/* The GstMemory contract: a mapping stays valid until it is unmapped.
 * Upstream maps a ring frame, pushes it and keeps the map (as a branch
 * behind a tee may). zbsink must neither hand the slot to the reader nor
 * unmap the ring under the mapping: the writer is stopped while the map is
 * out, then we write through the mapping (before the fix: into unmapped
 * shared memory, a crash; or into a slot the reader owns) and unmap. The
 * reader got only intact frames, none of ours past the mapped one. */

typedef struct
{
  GstElement *appsrc;
  GstAllocator *allocator;
  guint next;
  GstBuffer *kept;
  GstMapInfo map;
  gint kept_pushed;             /* atomic */
} Keeper;

static void
keep_need_data (GstAppSrc * src, guint length, gpointer user_data)
{
  Keeper *k = user_data;
  GstBuffer *buf;

  if (k->kept)
    return;                     /* the mapped one was the last */
  if (k->allocator == NULL) {
    Feeder f = { 0 };

    f.appsrc = k->appsrc;
    query_allocation (&f);
    k->allocator = f.allocator;
  }
  buf = gst_buffer_new_allocate (k->allocator, FRAME_SIZE, NULL);
  fill (buf, k->next++);
  if (k->next == 6) {
    fail_unless (gst_buffer_map (buf, &k->map, GST_MAP_READWRITE));
    k->kept = gst_buffer_ref (buf);
    g_atomic_int_set (&k->kept_pushed, 1);
  }
  fail_unless_equals_int (gst_app_src_push_buffer (src, buf), GST_FLOW_OK);
}

static GstPadProbeReturn
check_probe (GstPad * pad, GstPadProbeInfo * info, gpointer user_data)
{
  gint *bad = user_data;
  GstBuffer *buf = GST_PAD_PROBE_INFO_BUFFER (info);
  guint n = G_MAXUINT;

  gst_buffer_extract (buf, 0, &n, sizeof (n));
  if (n >= 5 || !check (buf, n))
    g_atomic_int_inc (bad);
  return GST_PAD_PROBE_OK;
}

GST_START_TEST (test_mapped_past_push)
{
  gchar *name = zbt_name ();
  GstElement *rp, *wp, *out;
  GstAppSrcCallbacks cb = { keep_need_data, NULL, NULL };
  Keeper k = { 0 };
  GstPad *pad;
  gint bad = 0;
  gint64 t0;
  Log *log;

  rp = reader_new (name, FALSE);
  out = gst_bin_get_by_name (GST_BIN (rp), "out");
  pad = gst_element_get_static_pad (out, "sink");
  gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_BUFFER, check_probe, &bad, NULL);
  gst_object_unref (pad);
  gst_object_unref (out);
  log = log_new (rp, "out");
  wp = appsrc_writer (name);
  k.appsrc = gst_bin_get_by_name (GST_BIN (wp), "in");
  gst_app_src_set_callbacks (GST_APP_SRC (k.appsrc), &cb, &k, NULL);
  start (rp, wp);

  for (t0 = g_get_monotonic_time (); !g_atomic_int_get (&k.kept_pushed) &&
      g_get_monotonic_time () - t0 < 10 * G_USEC_PER_SEC;)
    g_usleep (10 * 1000);
  fail_unless (g_atomic_int_get (&k.kept_pushed));
  /* the reader gets frames 0..4; the mapped one is rendered meanwhile */
  for (t0 = g_get_monotonic_time (); log_len (log) < 5 &&
      g_get_monotonic_time () - t0 < 10 * G_USEC_PER_SEC;)
    g_usleep (10 * 1000);
  fail_unless_equals_int (log_len (log), 5);
  g_usleep (200 * 1000);
  fail_unless (in_place (wp) >= 2, "the ring was not used");

  /* the writer goes away while the mapping is out; it must not hang */
  t0 = g_get_monotonic_time ();
  fail_unless_equals_int (zbt_set_state (wp, GST_STATE_NULL),
      GST_STATE_CHANGE_SUCCESS);
  fail_unless (g_get_monotonic_time () - t0 < 5 * G_USEC_PER_SEC);
  /* a write through the mapping: still ours, seen by nobody */
  memset (k.map.data + sizeof (guint), 0xee, k.map.size - sizeof (guint));
  gst_buffer_unmap (k.kept, &k.map);
  /* the bytes stay with the buffer */
  fail_unless (gst_buffer_map (k.kept, &k.map, GST_MAP_READ));
  fail_unless (k.map.data[FRAME_SIZE - 1] == 0xee);
  gst_buffer_unmap (k.kept, &k.map);
  gst_buffer_unref (k.kept);

  g_usleep (100 * 1000);
  fail_unless_equals_int (g_atomic_int_get (&bad), 0);
  fail_unless_equals_int (log_len (log), 5);
  zbt_stop_and_free (wp);
  zbt_stop_and_free (rp);
  gst_object_unref (k.allocator);
  gst_object_unref (k.appsrc);
  log_free (log);
  fail_unless (zbt_no_leftovers (name));
  g_free (name);
}

GST_END_TEST;

/* A tee in front of zbsink: the buffer zbsink renders is shared with the
 * other branch, whose flags zbsink must not change (before: the first
 * frames, allocated before zbsink knew its streaming thread, came back
 * tagged); both branches get every frame intact. tee does not pass an
 * allocator on, so appsrc asks zbsink itself and allocates from it. */
typedef struct
{
  GstElement *zb;
  GstAllocator *allocator;
  guint next;
  guint frames;
} TeeFeeder;

static void
tee_need_data (GstAppSrc * src, guint length, gpointer user_data)
{
  TeeFeeder *t = user_data;
  GstBuffer *buf;

  if (t->next >= t->frames) {
    gst_app_src_end_of_stream (src);
    return;
  }
  if (t->allocator == NULL) {
    GstPad *pad = gst_element_get_static_pad (t->zb, "sink");
    GstCaps *caps = gst_caps_new_empty_simple ("application/x-zbtest");
    GstQuery *q = gst_query_new_allocation (caps, TRUE);

    fail_unless (gst_pad_query (pad, q));
    fail_unless (gst_query_get_n_allocation_params (q) > 0);
    gst_query_parse_nth_allocation_param (q, 0, &t->allocator, NULL);
    fail_unless (t->allocator != NULL);
    gst_query_unref (q);
    gst_caps_unref (caps);
    gst_object_unref (pad);
  }
  buf = gst_buffer_new_allocate (t->allocator, FRAME_SIZE, NULL);
  fill (buf, t->next++);
  fail_unless_equals_int (gst_app_src_push_buffer (src, buf), GST_FLOW_OK);
}

static GstPadProbeReturn
tag_probe (GstPad * pad, GstPadProbeInfo * info, gpointer user_data)
{
  gint *tagged = user_data;

  if (GST_BUFFER_FLAG_IS_SET (GST_PAD_PROBE_INFO_BUFFER (info),
          GST_BUFFER_FLAG_TAG_MEMORY))
    g_atomic_int_inc (tagged);
  return GST_PAD_PROBE_OK;
}

GST_START_TEST (test_tee)
{
  gchar *name = zbt_name ();
  GstElement *rp, *wp, *other, *appsrc;
  GstAppSrcCallbacks cb = { tee_need_data, NULL, NULL };
  TeeFeeder t = { 0 };
  GstPad *pad;
  gint tagged = 0;
  Log *in, *out, *side;

  rp = reader_new (name, FALSE);
  /* zbsink first: tee pushes to it before the other branch */
  wp = zbt_pipeline ("appsrc name=in caps=application/x-zbtest "
      "format=bytes" APPSRC_LIMIT " ! tee name=t "
      "t. ! zbsink name=zb buffer-name=%s sync=false zero-copy=true "
      "enable-last-sample=false t. ! queue ! fakesink name=other "
      "async=false sync=false enable-last-sample=false", name);
  t.zb = gst_bin_get_by_name (GST_BIN (wp), "zb");
  t.frames = 30;
  appsrc = gst_bin_get_by_name (GST_BIN (wp), "in");
  gst_app_src_set_callbacks (GST_APP_SRC (appsrc), &cb, &t, NULL);
  other = gst_bin_get_by_name (GST_BIN (wp), "other");
  pad = gst_element_get_static_pad (other, "sink");
  gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_BUFFER, tag_probe, &tagged, NULL);
  gst_object_unref (pad);
  gst_object_unref (other);
  in = log_new (wp, "zb");
  side = log_new (wp, "other");
  out = log_new (rp, "out");
  start (rp, wp);
  zbt_wait_eos (wp, 30000);
  zbt_wait_eos (rp, 30000);

  assert_equal (in, out);
  assert_equal (in, side);
  fail_unless_equals_int (in->hashes->len, 30);
  fail_unless (in->ring >= 25, "%u frames from zbsink's allocator", in->ring);
  fail_unless_equals_int (g_atomic_int_get (&tagged), 0);

  zbt_stop_and_free (wp);
  zbt_stop_and_free (rp);
  gst_object_unref (t.allocator);
  gst_object_unref (t.zb);
  gst_object_unref (appsrc);
  log_free (in);
  log_free (out);
  log_free (side);
  fail_unless (zbt_no_leftovers (name));
  g_free (name);
}

GST_END_TEST;

static Suite *
zbzerocopy_suite (void)
{
  Suite *s = suite_create ("zbzerocopy");
  TCase *tc = tcase_create ("general");

  tcase_set_timeout (tc, 60);
  suite_add_tcase (s, tc);
  tcase_add_loop_test (tc, test_videotestsrc, 0, 2);
  tcase_add_test (tc, test_zero_copy_off);
  tcase_add_loop_test (tc, test_appsrc, 0, G_N_ELEMENTS (feed_modes));
  tcase_add_test (tc, test_reader_lost);
  tcase_add_test (tc, test_state_cycling);
  tcase_add_test (tc, test_full_ring_shutdown);
  tcase_add_test (tc, test_mapped_past_push);
  tcase_add_test (tc, test_tee);
  return s;
}

ZBT_MAIN (zbzerocopy_suite);
