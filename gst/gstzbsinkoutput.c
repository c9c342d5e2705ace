/* zerobuffer GStreamer plugin - zbsink: one output per NAME@ID reader
 *
 * SPDX-License-Identifier: MIT
 *
 * Two threads touch the outputs:
 *   - the discovery thread (ours) connects new readers, writes their
 *     metadata, posts "zbsink-reader-joined" and appends them to @pending;
 *   - the streaming thread moves them to @active, writes every frame to
 *     each, and removes (and posts "zbsink-reader-left" for) the readers
 *     that are gone.
 * Only the streaming thread writes to an output or removes one, so it
 * reads @active without the lock; every change of either list, and of the
 * counters, is made under the lock, which the stats and unlock() take to
 * read them. No lock is held across a write, a connect or a message.
 *
 * When upstream filled a block of zbsink's pool, every reader of our user
 * gets a pool record of that one block, as the reader of NAME does: each
 * output has its own GstZbPoolConn, and the block is reused once every
 * reader it went to has released its record (gstzbsinkpool.c). A reader
 * of another user gets a copy (our segments are 0600).
 */

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstzbsinkpriv.h"

#include <dirent.h>
#include <errno.h>
#include <string.h>

#define GST_CAT_DEFAULT gst_zb_sink_debug

/* Look at /dev/shm this often even without an event (an event the watch
 * cannot see: a buffer that was busy with another writer, a reader that
 * had no pid yet when the settling ended). */
#define RECHECK (1 * GST_SECOND)
/* A blocking write waits this long between looks at flushing and its
 * reader's liveness; drop: the shortest wait. */
#define WRITE_SLICE_MS 100
#define DROP_WRITE_TIMEOUT_MS 1
/* A reader we could not serve (not ours to write, busy, metadata too
 * large) is tried again after this long, and warned about once. */
#define REFUSED_RETRY_US (5 * G_USEC_PER_SEC)
/* reader-policy=drop with reader-timeout=0: how long caps and EOS records
 * wait for a full ring */
#define DROP_RECORD_TIMEOUT_MS 1000
/* Delta units skipped for a joining reader at most (a stream without key
 * units, e.g. intra refresh, is sent on after that). */
#define KEY_WAIT_MAX 150

typedef struct
{
  gchar *name;                  /* NAME@ID */
  const gchar *id;              /* in name, after the '@' */
  zb_writer *writer;
  guint64 pid;
  GstZbPoolConn *pool_conn;     /* its blocks' releases (set at connect) */
  gboolean pool_usable;         /* of our user: may map our pool segments */

  /* the discovery thread's until listed, then the streaming thread's */
  gboolean has_metadata;
  gboolean announced;           /* its joined message is out: the
                                 * streaming thread may post its left
                                 * message; lock */
  GstCaps *sent_caps;           /* caps this reader knows */

  /* streaming thread */
  GstZbKeyWait key;
  gboolean stalled;             /* block: timed out, skipped until room */
  gboolean fit_warned;

  /* GstZbSinkOutputs.lock (written by the streaming thread) */
  guint64 frames;
  guint64 drops;
  guint64 bytes;
  guint64 zero_copy;            /* frames sent as pool records */
} Output;

struct _GstZbSinkOutputs
{
  /* set at creation, read-only afterwards */
  GstZbSink *sink;              /* not a reference: the sink owns us */
  gchar *stream;
  gsize stream_len;
  gint allow_uid;
  GstZbFrameFormat format;
  GstZbShmWatch *watch;         /* the discovery thread's; flushing stops
                                 * it */
  GThread *thread;

  /* lock guards: both lists (see the top of the file for who changes
   * them), caps, flushing, stopping, the outputs' counters */
  GMutex lock;
  GPtrArray *active;
  GPtrArray *pending;
  GstCaps *caps;
  gboolean flushing;
  gboolean stopping;
  GHashTable *refused;          /* name -> gint64 *: when it was refused */
};

GType
gst_zb_reader_policy_get_type (void)
{
  static gsize type = 0;
  static const GEnumValue values[] = {
    {GST_ZB_READER_POLICY_AUTO,
          "Drop when upstream is live (a capture never waits), else block",
        "auto"},
    {GST_ZB_READER_POLICY_DROP,
        "A reader whose ring is full misses the frame, at once", "drop"},
    {GST_ZB_READER_POLICY_BLOCK,
        "Wait up to reader-timeout for a reader whose ring is full, then "
          "skip it without waiting until it has room again", "block"},
    {0, NULL, NULL}
  };

  if (g_once_init_enter (&type)) {
    GType t = g_enum_register_static ("GstZbReaderPolicy", values);

    g_once_init_leave (&type, t);
  }
  return (GType) type;
}

/* ------------------------------------------------------------------ */
/* Key units for joining readers */

void
gst_zb_key_wait_start (GstZbKeyWait * wait, GstCaps * caps)
{
  GstStructure *s;

  wait->skipped = 0;
  wait->need_key = FALSE;
  if (caps == NULL || gst_caps_get_size (caps) == 0)
    return;
  /* raw audio and video have no delta units */
  s = gst_caps_get_structure (caps, 0);
  wait->need_key = !gst_structure_has_name (s, "video/x-raw") &&
      !gst_structure_has_name (s, "audio/x-raw");
}

gboolean
gst_zb_key_wait_skip (GstZbKeyWait * wait, GstZbSink * sink, GstBuffer * buf,
    const gchar * name)
{
  if (!wait->need_key)
    return FALSE;
  if (!GST_BUFFER_FLAG_IS_SET (buf, GST_BUFFER_FLAG_DELTA_UNIT)) {
    wait->need_key = FALSE;
    return FALSE;
  }
  if (wait->skipped == 0) {
    GST_INFO_OBJECT (sink, "new reader of \"%s\": asking upstream for a key "
        "unit", name);
    gst_pad_push_event (GST_BASE_SINK_PAD (sink),
        gst_video_event_new_upstream_force_key_unit (GST_CLOCK_TIME_NONE,
            TRUE, 0));
  }
  if (++wait->skipped > KEY_WAIT_MAX) {
    GST_WARNING_OBJECT (sink, "no key unit after %u delta units: sending "
        "to \"%s\" from a delta unit", KEY_WAIT_MAX, name);
    wait->need_key = FALSE;
    return FALSE;
  }
  return TRUE;
}

/* ------------------------------------------------------------------ */
/* Joining and leaving */

static void
output_free (Output * o)
{
  /* the pools stop reading the writer before it goes; the blocks this
   * reader holds are reused once it is gone */
  if (o->pool_conn) {
    gst_zb_pool_conn_disconnected (o->pool_conn);
    gst_zb_pool_conn_unref (o->pool_conn);
  }
  zb_writer_disconnect (o->writer);
  gst_caps_replace (&o->sent_caps, NULL);
  g_free (o->name);
  g_free (o);
}

static void
post_joined (GstZbSinkOutputs * outs, Output * o)
{
  gst_zb_post_peer_message (GST_ELEMENT (outs->sink),
      "zbsink-reader-joined", "buffer-name", o->name, o->pid, NULL,
      "reader-id", G_TYPE_STRING, o->id, NULL);
}

/* After the output left its list. */
static void
post_left (GstZbSinkOutputs * outs, Output * o, const gchar * reason)
{
  guint64 frames, drops;

  g_mutex_lock (&outs->lock);
  frames = o->frames;
  drops = o->drops;
  g_mutex_unlock (&outs->lock);
  GST_INFO_OBJECT (outs->sink, "reader %" G_GUINT64_FORMAT " of \"%s\" left "
      "(%s) after %" G_GUINT64_FORMAT " frames, %" G_GUINT64_FORMAT " drops",
      o->pid, o->name, reason, frames, drops);
  gst_zb_post_peer_message (GST_ELEMENT (outs->sink), "zbsink-reader-left",
      "buffer-name", o->name, o->pid, reason,
      "reader-id", G_TYPE_STRING, o->id,
      "frames", G_TYPE_UINT64, frames, "drops", G_TYPE_UINT64, drops, NULL);
}

/* The metadata for @caps; 0 or zb_writer_set_metadata()'s error. */
static int
give_metadata (GstZbSinkOutputs * outs, Output * o, GstCaps * caps)
{
  gchar *elem = gst_object_get_name (GST_OBJECT (outs->sink));
  gsize len;
  gchar *meta = gst_zb_make_metadata ("gstreamer-sink", caps, elem,
      outs->format, &len);
  int ret;

  ret = zb_writer_set_metadata (o->writer, meta, len);
  g_free (meta);
  g_free (elem);
  if (ret == 0 || ret == -EALREADY) {
    o->has_metadata = TRUE;
    gst_caps_replace (&o->sent_caps, caps);
    return 0;
  }
  return ret;
}

/* Under the lock: is @name connected or about to be (or refused a short
 * while ago)? */
static gboolean
known_locked (GstZbSinkOutputs * outs, const gchar * name)
{
  gint64 *refused = g_hash_table_lookup (outs->refused, name);
  guint i;

  if (refused && g_get_monotonic_time () - *refused < REFUSED_RETRY_US)
    return TRUE;
  for (i = 0; i < outs->active->len; i++)
    if (strcmp (((Output *) g_ptr_array_index (outs->active, i))->name,
            name) == 0)
      return TRUE;
  for (i = 0; i < outs->pending->len; i++)
    if (strcmp (((Output *) g_ptr_array_index (outs->pending, i))->name,
            name) == 0)
      return TRUE;
  return FALSE;
}

/* Under the lock: do not try @name again for a while; TRUE the first
 * time (warn then). */
static gboolean
refuse_locked (GstZbSinkOutputs * outs, const gchar * name)
{
  gint64 *when = g_hash_table_lookup (outs->refused, name);
  gboolean first = when == NULL;

  if (first) {
    when = g_new (gint64, 1);
    g_hash_table_insert (outs->refused, g_strdup (name), when);
  }
  *when = g_get_monotonic_time ();
  return first;
}

static gboolean
refuse (GstZbSinkOutputs * outs, const gchar * name)
{
  gboolean first;

  g_mutex_lock (&outs->lock);
  first = refuse_locked (outs, name);
  g_mutex_unlock (&outs->lock);
  return first;
}

/* Discovery thread: connect to reader @name and queue it for the
 * streaming thread. */
static void
connect_one (GstZbSinkOutputs * outs, const gchar * name)
{
  zb_writer_config config;
  zb_status status;
  GstCaps *caps = NULL;
  Output *o;
  gboolean stopping;
  int ret;

  memset (&config, 0, sizeof (config));
  config.write_timeout_ms = WRITE_SLICE_MS;
  config.allow_uid = outs->allow_uid >= 0 ? (uid_t) outs->allow_uid : 0;
  o = g_new0 (Output, 1);
  ret = zb_writer_connect (name, &config, &o->writer);
  if (ret == -EPERM || ret == -EACCES || ret == -EBUSY) {
    /* not ours to write (docs/security.md), or another writer's */
    if (refuse (outs, name))
      GST_ELEMENT_WARNING (outs->sink, RESOURCE, OPEN_WRITE,
          ("Not serving reader \"%s\": %s.", name, ret == -EBUSY ?
              "it already has a live writer" : ret == -EPERM ?
              "it belongs to another user (see allow-uid)" :
              "permission denied"), ("zb_writer_connect: %s",
              zb_strerror (ret)));
    g_free (o);
    return;
  }
  if (ret < 0) {
    /* not ready yet (no pid) or gone: looked at again on the next event
     * or recheck */
    GST_DEBUG_OBJECT (outs->sink, "not connecting to \"%s\": %s", name,
        zb_strerror (ret));
    g_free (o);
    return;
  }
  o->name = g_strdup (name);
  o->id = o->name + outs->stream_len + 1;
  if (zb_writer_get_status (o->writer, &status) == 0)
    o->pid = status.reader_pid;
  o->pool_conn = gst_zb_pool_conn_new ();
  gst_zb_pool_conn_connected (o->pool_conn, o->writer, o->pid);
  o->pool_usable = gst_zb_sink_reader_is_us (name);
  if (!o->pool_usable)
    GST_INFO_OBJECT (outs->sink, "the reader of \"%s\" is another user: "
        "copying frames instead of sending pool records", name);

  g_mutex_lock (&outs->lock);
  if (outs->caps)
    caps = gst_caps_ref (outs->caps);
  g_mutex_unlock (&outs->lock);
  /* before the first caps the streaming thread writes it, with or
   * without caps, before the first record (ensure_metadata()) */
  if (caps) {
    ret = give_metadata (outs, o, caps);
    gst_caps_unref (caps);
    if (ret < 0) {
      if (refuse (outs, name))
        GST_ELEMENT_WARNING (outs->sink, RESOURCE, WRITE,
            ("Not serving reader \"%s\": its metadata could not be "
                "written (raise metadata-size on that reader if the caps "
                "do not fit).", name), ("zb_writer_set_metadata: %s",
                zb_strerror (ret)));
      output_free (o);
      return;
    }
  }
  GST_INFO_OBJECT (outs->sink, "reader %" G_GUINT64_FORMAT " joined: \"%s\"",
      o->pid, name);
  g_mutex_lock (&outs->lock);
  stopping = outs->stopping;
  if (!stopping)
    g_ptr_array_add (outs->pending, o);
  g_mutex_unlock (&outs->lock);
  if (stopping) {
    output_free (o);
    return;
  }
  /* counted in "readers" before the message, and written to from then
   * on (so a frame pushed once the message is seen reaches it); it
   * leaves only after the message (remove_output()) */
  post_joined (outs, o);
  g_mutex_lock (&outs->lock);
  o->announced = TRUE;
  g_mutex_unlock (&outs->lock);
}

/* Is @entry (a file name in /dev/shm) STREAM@ID with a good ID? */
static gboolean
is_our_reader (GstZbSinkOutputs * outs, const gchar * entry)
{
  if (strncmp (entry, outs->stream, outs->stream_len) != 0 ||
      entry[outs->stream_len] != '@')
    return FALSE;
  return gst_zb_reader_id_problem (entry + outs->stream_len + 1) == NULL &&
      zb_name_check (entry) == 0;
}

static void
discover (GstZbSinkOutputs * outs)
{
  DIR *dir = opendir ("/dev/shm");
  struct dirent *de;

  if (dir == NULL)
    return;
  while ((de = readdir (dir)) != NULL) {
    gboolean known, stopping;

    if (!is_our_reader (outs, de->d_name))
      continue;
    g_mutex_lock (&outs->lock);
    known = known_locked (outs, de->d_name);
    stopping = outs->stopping;
    g_mutex_unlock (&outs->lock);
    if (stopping)
      break;
    if (!known)
      connect_one (outs, de->d_name);
  }
  closedir (dir);
}

static gpointer
discovery_main (gpointer data)
{
  GstZbSinkOutputs *outs = data;

  do {
    discover (outs);
    /* woken by the creation of an object whose name contains the
     * stream's (a reader's shm_open() and sem_open()), every 5 ms while
     * one settles, by stop (-1) */
  } while (gst_zb_shm_watch_wait (outs->watch, RECHECK) >= 0);
  return NULL;
}

GstZbSinkOutputs *
gst_zb_sink_outputs_new (GstZbSink * sink, const gchar * stream,
    gint allow_uid, GstZbFrameFormat format)
{
  GstZbSinkOutputs *outs = g_new0 (GstZbSinkOutputs, 1);
  gchar *prefix;

  outs->sink = sink;
  outs->stream = g_strdup (stream);
  outs->stream_len = strlen (stream);
  outs->allow_uid = allow_uid;
  outs->format = format;
  g_mutex_init (&outs->lock);
  outs->active = g_ptr_array_new ();
  outs->pending = g_ptr_array_new ();
  outs->refused = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
      g_free);
  /* watching before the first look: no reader falls between the two. The
   * watch wakes on objects whose names contain "NAME@" (a reader's buffer
   * and semaphores), not on those of NAME itself or of our pool segments
   * (zbpool-NAME-...) */
  prefix = g_strdup_printf ("%s@", stream);
  outs->watch = gst_zb_shm_watch_new (prefix);
  g_free (prefix);
  outs->thread = g_thread_new ("zbsink-readers", discovery_main, outs);
  return outs;
}

void
gst_zb_sink_outputs_free (GstZbSinkOutputs * outs)
{
  guint i;

  if (outs == NULL)
    return;
  g_mutex_lock (&outs->lock);
  outs->stopping = TRUE;
  g_mutex_unlock (&outs->lock);
  gst_zb_shm_watch_set_flushing (outs->watch, TRUE);
  g_thread_join (outs->thread);
  /* alone now */
  for (i = 0; i < outs->pending->len; i++)
    g_ptr_array_add (outs->active, g_ptr_array_index (outs->pending, i));
  g_ptr_array_unref (outs->pending);
  for (i = 0; i < outs->active->len; i++) {
    Output *o = g_ptr_array_index (outs->active, i);

    post_left (outs, o, "stopped");
    output_free (o);
  }
  g_ptr_array_unref (outs->active);
  g_hash_table_unref (outs->refused);
  gst_zb_shm_watch_free (outs->watch);
  gst_caps_replace (&outs->caps, NULL);
  g_mutex_clear (&outs->lock);
  g_free (outs->stream);
  g_free (outs);
}

void
gst_zb_sink_outputs_set_caps (GstZbSinkOutputs * outs, GstCaps * caps)
{
  if (outs == NULL)
    return;
  g_mutex_lock (&outs->lock);
  gst_caps_replace (&outs->caps, caps);
  g_mutex_unlock (&outs->lock);
}

void
gst_zb_sink_outputs_set_flushing (GstZbSinkOutputs * outs, gboolean flushing)
{
  guint i;

  if (outs == NULL)
    return;
  g_mutex_lock (&outs->lock);
  outs->flushing = flushing;
  for (i = 0; i < outs->active->len; i++) {
    Output *o = g_ptr_array_index (outs->active, i);

    if (flushing)
      zb_writer_wakeup (o->writer);
    else
      zb_writer_wakeup_clear (o->writer);
  }
  g_mutex_unlock (&outs->lock);
}

guint
gst_zb_sink_outputs_count (GstZbSinkOutputs * outs)
{
  guint n;

  if (outs == NULL)
    return 0;
  g_mutex_lock (&outs->lock);
  n = outs->active->len + outs->pending->len;
  g_mutex_unlock (&outs->lock);
  return n;
}

void
gst_zb_sink_reader_stats_append (GValue * array, const GstZbReaderStats * st)
{
  GValue v = G_VALUE_INIT;
  GstStructure *s = gst_structure_new ("zbsink-reader",
      "name", G_TYPE_STRING, st->name, NULL);

  if (st->id)
    gst_structure_set (s, "reader-id", G_TYPE_STRING, st->id, NULL);
  gst_structure_set (s,
      "pid", G_TYPE_UINT64, st->pid,
      "frames", G_TYPE_UINT64, st->frames,
      "drops", G_TYPE_UINT64, st->drops,
      "bytes", G_TYPE_UINT64, st->bytes,
      "zero-copy-frames", G_TYPE_UINT64, st->zero_copy,
      "stalled", G_TYPE_BOOLEAN, st->stalled,
      "utilisation", G_TYPE_DOUBLE, CLAMP (st->utilisation, 0.0, 1.0), NULL);
  g_value_init (&v, GST_TYPE_STRUCTURE);
  g_value_take_boxed (&v, s);
  gst_value_array_append_and_take_value (array, &v);
}

static void
append_one (GValue * array, Output * o)
{
  zb_status status;
  GstZbReaderStats st = {
    .name = o->name,
    .id = o->id,
    .pid = o->pid,
    .frames = o->frames,
    .drops = o->drops,
    .bytes = o->bytes,
    .zero_copy = o->zero_copy,
    .stalled = o->stalled,
  };

  if (zb_writer_get_status (o->writer, &status) >= 0)
    st.utilisation = status.utilisation;
  gst_zb_sink_reader_stats_append (array, &st);
}

void
gst_zb_sink_outputs_append_stats (GstZbSinkOutputs * outs, GValue * array)
{
  guint i;

  if (outs == NULL)
    return;
  g_mutex_lock (&outs->lock);
  for (i = 0; i < outs->active->len; i++)
    append_one (array, g_ptr_array_index (outs->active, i));
  for (i = 0; i < outs->pending->len; i++)
    append_one (array, g_ptr_array_index (outs->pending, i));
  g_mutex_unlock (&outs->lock);
}

/* ------------------------------------------------------------------ */
/* Writing */

typedef enum
{
  PUT_OK,
  PUT_DROPPED,
  PUT_INTERRUPTED,
  PUT_LOST                      /* *err says how */
} PutResult;

static gboolean
is_flushing (GstZbSinkOutputs * outs)
{
  gboolean ret;

  g_mutex_lock (&outs->lock);
  ret = outs->flushing;
  g_mutex_unlock (&outs->lock);
  return ret;
}

static PutResult put_inner (GstZbSinkOutputs * outs, Output * o,
    GstZbSinkFrame * f, gboolean wait, gint timeout_ms, int *err);

/* Write one frame to @o: an optional record header, then @buf, or @bytes;
 * a pool record when @buf is a block of our pool and the reader may map
 * it. @wait: a full ring is waited for (up to @timeout_ms, 0: as long as
 * the reader lives) unless the reader is stalled; else it drops at once. */
static PutResult
put (GstZbSinkOutputs * outs, Output * o, const zb_gst_record * rec,
    GstBuffer * buf, const void *bytes, gsize nbytes, gboolean wait,
    gint timeout_ms, int *err)
{
  GstZbSinkFrame f;
  PutResult pr;

  gst_zb_sink_frame_init (outs->sink, &f, outs->format, o->pool_usable,
      TRUE, rec, buf, bytes, nbytes);
  pr = put_inner (outs, o, &f, wait, timeout_ms, err);
  gst_zb_sink_frame_clear (&f);
  return pr;
}

static PutResult
put_inner (GstZbSinkOutputs * outs, Output * o, GstZbSinkFrame * f,
    gboolean wait, gint timeout_ms, int *err)
{
  GstZbSink *self = outs->sink;
  gint64 start = g_get_monotonic_time ();
  int ret;

  if (f->want == 0)
    return PUT_OK;
  zb_writer_set_write_timeout (o->writer, wait ? WRITE_SLICE_MS :
      DROP_WRITE_TIMEOUT_MS);
  for (;;) {
    if ((!wait || o->stalled) && !zb_writer_space_ready (o->writer, f->want)) {
      /* full rings are where dead readers stay */
      ret = zb_writer_check_reader (o->writer);
      if (ret < 0)
        goto lost;
      return PUT_DROPPED;
    }
    ret = gst_zb_sink_frame_acquire (self, f, o->writer);
    if (ret == 0)
      break;
    switch (ret) {
      case -EAGAIN:
        continue;
      case -ENOBUFS:
        ret = zb_writer_check_reader (o->writer);
        if (ret < 0)
          goto lost;
        if (!wait)
          return PUT_DROPPED;
        if (is_flushing (outs))
          return PUT_INTERRUPTED;
        if (timeout_ms > 0 && g_get_monotonic_time () - start >=
            (gint64) timeout_ms * 1000) {
          GST_INFO_OBJECT (self, "reader of \"%s\" freed no space within %d "
              "ms: skipping it until it has room", o->name, timeout_ms);
          o->stalled = TRUE;
          return PUT_DROPPED;
        }
        continue;
      case -EINTR:
        return PUT_INTERRUPTED;
      case -EPIPE:
      case -EOWNERDEAD:
        goto lost;
      default:
        goto no_fit;
    }
  }
  o->stalled = FALSE;
  ret = gst_zb_sink_frame_commit (self, f, o->writer, o->pool_conn);
  if (ret < 0)
    goto no_fit;
  if (f->pool_mem && f->pool_mem != self->copy_mem) {
    g_mutex_lock (&outs->lock);
    o->zero_copy++;
    g_mutex_unlock (&outs->lock);
  }
  return PUT_OK;

  /* ERRORS */
lost:
  {
    *err = ret;
    return PUT_LOST;
  }
no_fit:
  {
    /* this reader's ring is too small for the frame (-EMSGSIZE), or a raw
     * frame does not fit from its position: it alone misses it */
    if (!o->fit_warned)
      GST_ELEMENT_WARNING (self, RESOURCE, WRITE,
          ("Reader \"%s\" misses frames of %" G_GSIZE_FORMAT " bytes that "
              "its ring cannot hold (raise payload-size on that reader).",
              o->name, f->hdr + f->payload), ("%s", zb_strerror (ret)));
    o->fit_warned = TRUE;
    return PUT_DROPPED;
  }
}

/* The streaming thread's half of "a new reader is ready". */
static void
adopt_pending (GstZbSinkOutputs * outs)
{
  GstZbSink *self = outs->sink;
  guint i;

  g_mutex_lock (&outs->lock);
  for (i = 0; i < outs->pending->len;) {
    Output *o = g_ptr_array_index (outs->pending, i);

    /* a joining decoder starts at a key unit */
    gst_zb_key_wait_start (&o->key, self->caps);
    if (outs->flushing)
      zb_writer_wakeup (o->writer);
    g_ptr_array_add (outs->active, o);
    g_ptr_array_remove_index (outs->pending, i);
  }
  g_mutex_unlock (&outs->lock);
}

/* How long a reader that is lost before its joined message is out waits
 * for it (the discovery thread posts it right after listing the reader). */
#define ANNOUNCE_WAIT_US (1 * G_USEC_PER_SEC)

static void
remove_output (GstZbSinkOutputs * outs, guint index, const gchar * reason)
{
  Output *o = g_ptr_array_index (outs->active, index);
  gint64 end = g_get_monotonic_time () + ANNOUNCE_WAIT_US;

  g_mutex_lock (&outs->lock);
  /* its left message after its joined message */
  while (!o->announced && g_get_monotonic_time () < end) {
    g_mutex_unlock (&outs->lock);
    g_usleep (1000);
    g_mutex_lock (&outs->lock);
  }
  g_ptr_array_remove_index (outs->active, index);
  g_mutex_unlock (&outs->lock);
  post_left (outs, o, reason);
  output_free (o);
}

/* Before the first record to @o: its metadata, as the reader of NAME
 * gets it when zbsink connects to it (gstzbsinkwrite.c), with the caps
 * when there are any and without them when upstream sent none (a reader
 * without metadata would take the records of frame-format=gst for raw
 * bytes). The discovery thread wrote it already when caps were known at
 * the join. 0 or zb_writer_set_metadata()'s error (warned about once). */
static int
ensure_metadata (GstZbSinkOutputs * outs, Output * o)
{
  GstZbSink *self = outs->sink;
  int ret;

  if (o->has_metadata)
    return 0;
  ret = give_metadata (outs, o, self->caps);
  if (ret < 0 && refuse (outs, o->name))
    GST_ELEMENT_WARNING (self, RESOURCE, WRITE,
        ("Not serving reader \"%s\": its metadata could not be "
            "written (raise metadata-size on that reader if the caps "
            "do not fit).", o->name), ("zb_writer_set_metadata: %s",
            zb_strerror (ret)));
  return ret;
}

/* Everything @o needs before @rec: metadata, a caps record. Then the
 * record. */
static PutResult
send_one (GstZbSinkOutputs * outs, Output * o, const zb_gst_record * rec,
    GstBuffer * buf, gboolean wait, gint timeout_ms, int *err)
{
  GstZbSink *self = outs->sink;
  PutResult pr = PUT_OK;
  int ret;

  ret = ensure_metadata (outs, o);
  if (ret < 0) {
    *err = ret;
    return PUT_LOST;
  }
  /* frame-format=raw has no caps records: a reader learns new caps only
   * from the metadata of a new connection. It leaves (and is found again
   * with the new caps on the next look at /dev/shm). */
  if (outs->format == GST_ZB_FRAME_FORMAT_RAW && o->sent_caps && self->caps
      && !gst_caps_is_equal (o->sent_caps, self->caps)) {
    *err = -ESTALE;
    return PUT_LOST;
  }
  if (buf && gst_zb_key_wait_skip (&o->key, self, buf, o->name))
    return PUT_OK;
  if (outs->format == GST_ZB_FRAME_FORMAT_GST && self->caps &&
      (o->sent_caps == NULL || !gst_caps_is_equal (self->caps, o->sent_caps))) {
    zb_gst_record crec;
    gchar *str = gst_caps_to_string (self->caps);

    /* caps must arrive before the frames that follow them */
    zb_gst_record_init (&crec, ZB_GST_RECORD_CAPS);
    pr = put (outs, o, &crec, NULL, str, strlen (str), TRUE, timeout_ms, err);
    g_free (str);
    if (pr == PUT_OK)
      gst_caps_replace (&o->sent_caps, self->caps);
  }
  if (pr == PUT_OK)
    pr = put (outs, o, rec, buf, NULL, 0, wait, timeout_ms, err);
  if (buf && (pr == PUT_OK || pr == PUT_DROPPED)) {
    g_mutex_lock (&outs->lock);
    if (pr == PUT_OK) {
      o->frames++;
      o->bytes += gst_buffer_get_size (buf);
    } else {
      o->drops++;
    }
    g_mutex_unlock (&outs->lock);
  }
  return pr;
}

GstFlowReturn
gst_zb_sink_outputs_write (GstZbSinkOutputs * outs, const zb_gst_record * rec,
    GstBuffer * buf)
{
  GstZbSink *self = outs->sink;
  GstZbReaderPolicy policy;
  GstFlowReturn flow;
  gboolean wait;
  gint timeout_ms;
  guint i;

  adopt_pending (outs);
  if (outs->active->len == 0)
    return GST_FLOW_OK;
  GST_OBJECT_LOCK (self);
  policy = self->reader_policy;
  timeout_ms = self->reader_timeout;
  GST_OBJECT_UNLOCK (self);
  if (policy == GST_ZB_READER_POLICY_AUTO)
    policy = gst_zb_sink_upstream_is_live (self) ?
        GST_ZB_READER_POLICY_DROP : GST_ZB_READER_POLICY_BLOCK;
  /* drop never waits for frames; for records, within a bound */
  if (policy == GST_ZB_READER_POLICY_DROP && timeout_ms == 0)
    timeout_ms = DROP_RECORD_TIMEOUT_MS;
  /* caps and EOS records must arrive: waited for within the timeout */
  wait = policy == GST_ZB_READER_POLICY_BLOCK || buf == NULL;
  if (outs->format == GST_ZB_FRAME_FORMAT_RAW)
    rec = NULL;

  for (i = 0; i < outs->active->len;) {
    Output *o = g_ptr_array_index (outs->active, i);
    int err = 0;

    switch (send_one (outs, o, rec, buf, wait, timeout_ms, &err)) {
      case PUT_OK:
      case PUT_DROPPED:
        i++;
        break;
      case PUT_LOST:
        remove_output (outs, i, err == -EOWNERDEAD ? "died" :
            err == -EPIPE ? "disconnected" : err == -ESTALE ?
            "caps-changed" : "error");
        break;
      case PUT_INTERRUPTED:
        /* PLAYING -> PAUSED or a flush: wait until PLAYING again and
         * write to this reader (and the rest), or give up on flushing */
        flow = gst_base_sink_wait_preroll (GST_BASE_SINK (self));
        if (flow != GST_FLOW_OK)
          return flow;
        break;
    }
  }
  return GST_FLOW_OK;
}

void
gst_zb_sink_outputs_write_record (GstZbSinkOutputs * outs,
    const zb_gst_record * rec, const void *data, gsize size, gint timeout_ms)
{
  guint i;

  if (outs == NULL)
    return;
  adopt_pending (outs);
  for (i = 0; i < outs->active->len; i++) {
    Output *o = g_ptr_array_index (outs->active, i);
    int err = 0;

    /* a reader that is gone is let go by free() right after; one that
     * got no frame yet gets its metadata first */
    if (ensure_metadata (outs, o) == 0 &&
        put (outs, o, rec, NULL, data, size, TRUE, timeout_ms, &err) == PUT_OK)
      GST_INFO_OBJECT (outs->sink, "sent the pipeline's error to \"%s\"",
          o->name);
  }
}
