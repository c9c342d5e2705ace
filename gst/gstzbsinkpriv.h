/* zerobuffer GStreamer plugin - zbsink's parts
 *
 * SPDX-License-Identifier: MIT
 *
 * zbsink is split by job: gstzbsink.c (the element: properties, states,
 * caps, timestamps, render, EOS), gstzbsinkwrite.c (connecting to the
 * reader of NAME, writing frames, the duplex channel checks),
 * gstzbsinkframe.c (one frame into one ring, for every reader),
 * gstzbsinkoutput.c (the readers of NAME@ID, docs/fanout.md) and
 * gstzbsinkpool.c
 * (the buffer pool it proposes, whose blocks lie in pool segments and
 * travel as pool records) and gstzbsinkclient.c (one connection per
 * client of a fan-in zbsrc, docs/duplex.md). They share the instance struct and these
 * functions.
 */

#ifndef __GST_ZB_SINK_PRIV_H__
#define __GST_ZB_SINK_PRIV_H__

#include "gstzbsink.h"
#include "gstzbchannel.h"
#include "gstzbclock.h"
#include "gstzbcommon.h"
#include "gstzbcopy.h"
#include "gstzbsinkoutput.h"
#include "gstzbsinkpool.h"
#include "gstzbvideo.h"

#include <gst/video/video.h>
#include <zerobuffer/zerobuffer.h>

G_BEGIN_DECLS

GST_DEBUG_CATEGORY_EXTERN (gst_zb_sink_debug);

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
  GstZbShmWatch *watch;         /* the reader's buffer appearing; made by
                                 * start(), woken by unlock() */

  /* streaming thread only */
  gchar *conn_name;             /* the buffer we write: buffer-name, or
                                 * CHANNEL_response; set by start() */
  GstZbFrameFormat format;      /* frame_format latched at start() */
  GstCaps *caps;                /* current caps from upstream */
  GstCaps *sent_caps;           /* caps the reader knows on this connection */
  gboolean reader_lost;         /* lost and not yet reconnected */
  gboolean ever_connected;
  gboolean live_known;          /* upstream_live was asked (start: not) */
  gboolean upstream_live;       /* for on-reader-lost=auto */
  gboolean pool_usable;         /* the reader may map our pool segments */
  GstZbKeyWait key;             /* a new reader: skip delta units until a
                                 * key unit (a joining decoder starts at
                                 * one) */
  gboolean is_video;
  GstVideoInfo vinfo;
  GstZbLayout gst_layout;       /* default GstVideoInfo layout */
  GstZbLayout raw_layout;       /* rows packed tightly (gstzbvideo.h) */

  /* statistics; GST_OBJECT_LOCK */
  guint64 frames;
  guint64 bytes;
  guint64 drops;
  guint64 in_place;
  guint64 in_place_answers;     /* duplex: answered in place */
  guint64 pool_copies;          /* copied into a block of our pool */
  guint64 reader_pid;
  gboolean connected;

  /* duplex channel (docs/duplex.md); channel_name: GST_OBJECT_LOCK, the
   * rest: streaming thread */
  gchar *channel_name;
  gboolean chan_mode;           /* channel_name latched at start() */
  guint64 chan_generation;      /* client whose responses we write */
  guint64 chan_expected;        /* next request sequence to answer */
  guint64 chan_sending;         /* generation of the buffer being sent */
  GstZbChannel *channel;        /* of the last request answered: whether
                                 * its client is still served */
  guint64 chan_dropped;         /* a fan-in client dropped (its ring was
                                 * full for reader-timeout): its
                                 * generation, whose responses go nowhere */
  gboolean chan_fanin;          /* the channel answered is a NAME@ID of
                                 * our NAME (fan-in) */
  GHashTable *clients;          /* GstZbChannel -> GstZbSinkClient: the
                                 * connections of the channels not
                                 * answered now (gstzbsinkclient.c) */

  /* writer-side zero copy (gstzbsinkpool.c). writer_lock: held by
   * disconnect(). pool_conn: made at init, told of every connection.
   * pool, pool_caps: the pool last proposed; GST_OBJECT_LOCK (the
   * ALLOCATION query comes from upstream's thread). sent_segments:
   * segments with records the reader may not have read yet (a reference
   * each keeps the name in /dev/shm); streaming thread. */
  GMutex writer_lock;
  GstZbPoolConn *pool_conn;
  GstBufferPool *pool;
  GstCaps *pool_caps;
  GPtrArray *sent_segments;
  GstMemory *copy_mem;          /* streaming thread: the block the buffer
                                 * being sent was copied into (its records
                                 * are not zero-copy frames), or NULL */
  gboolean no_fit_warned;       /* leaky raw: a frame that did not fit
                                 * from the write position was dropped */
  gboolean zero_copy;           /* property; GST_OBJECT_LOCK */

  /* copies of large frames (gstzbcopy.h); copy_threads: GST_OBJECT_LOCK,
   * copier: made by start(), used by the streaming thread */
  guint copy_threads;
  GstZbCopier *copier;

  /* streaming thread; cleared at stop */
  GstZbClockCache clock_cache;

  /* fan-out (gstzbsinkoutput.c): the readers of NAME@ID. Properties:
   * GST_OBJECT_LOCK. outputs: made by start(), freed by stop(), set and
   * cleared under GST_OBJECT_LOCK (the stats and unlock() read it) */
  GstZbReaderPolicy reader_policy;
  gint reader_timeout;
  GstZbSinkOutputs *outputs;

  /* the pipeline's bus (gstzbsinkerror.c): error_bus and the handlers:
   * start/stop; pipeline_error(_debug), interrupted: GST_OBJECT_LOCK (set
   * from the thread that posted the message); eos_sent: streaming thread
   * and stop */
  GstBus *error_bus;
  gulong error_handler;
  gulong interrupt_handler;
  gboolean interrupted;
  gchar *pipeline_error;
  gchar *pipeline_error_debug;
  gboolean eos_sent;
};

typedef enum
{
  WRITE_OK,
  WRITE_DROPPED,
  WRITE_LOST,                   /* reader lost; *err says how */
  WRITE_INTERRUPTED,
  WRITE_ERROR
} GstZbWriteResult;

/* gstzbsinkwrite.c */

/* Connect if needed, send a caps record if the caps changed, write the
 * frame; reconnect on reader loss per on-reader-lost. @in_render: called
 * from render() with the PREROLL_LOCK held, so an interrupted wait may
 * wait for PLAYING and retry. */
GstFlowReturn gst_zb_sink_send (GstZbSink * self, const zb_gst_record * rec,
    GstBuffer * buf, gboolean in_render);

/* Leave the reader's buffer. */
void gst_zb_sink_disconnect (GstZbSink * self);

/* Before leaving without EOS: wait up to @timeout_ms, while the reader
 * of NAME lives (or NAME@ID readers are connected), until every reader
 * has released the last records of our pool segments (it has then mapped
 * them), so that their names may go with us and the last
 * frames still arrive. */
void gst_zb_sink_drain_segments (GstZbSink * self, gint timeout_ms);

/* Is buffer @name (in /dev/shm) of our user? Then its reader may map our
 * pool segments (0600), else it gets copies. */
gboolean gst_zb_sink_reader_is_us (const gchar * name);

/* gstzbsinkerror.c: watch the top-level pipeline's ERROR messages and
 * gst-launch-1.0's interrupt from start() to stop(); forget both; write
 * the error to the reader as an error record (stop(), before
 * disconnecting, when EOS was not sent); whether gst-launch-1.0 was
 * interrupted (then nothing waits for a reader). */
gboolean gst_zb_sink_is_interrupted (GstZbSink * self);
void gst_zb_sink_error_watch_start (GstZbSink * self);
void gst_zb_sink_error_watch_stop (GstZbSink * self);
void gst_zb_sink_error_clear (GstZbSink * self);
void gst_zb_sink_error_send (GstZbSink * self);

/* Duplex channel: @buffer must answer the next request of the current
 * client. GST_FLOW_OK to send it, GST_FLOW_CUSTOM_SUCCESS to drop it
 * (its client is gone) or GST_FLOW_ERROR. */
GstFlowReturn gst_zb_sink_channel_check (GstZbSink * self,
    GstBuffer * buffer);

/* gstzbsinkclient.c: answer the requests of @channel from now on: put
 * the current connection (writer, response buffer, caps sent, generation,
 * sequence) aside, close those of clients zbsrc no longer serves, and
 * take @channel's (or a new one: not connected). Streaming thread. */
typedef struct _GstZbSinkClient GstZbSinkClient;
void gst_zb_sink_client_switch (GstZbSink * self, GstZbChannel * channel);
/* Close every connection put aside (stop()). */
void gst_zb_sink_clients_clear (GstZbSink * self);
/* The fan-in client answered now (chan_fanin) died, left (@err), or kept
 * its response ring full for reader-timeout (-ETIMEDOUT): drop it alone
 * (its responses go nowhere until it connects again), post
 * zbsink-reader-lost. */
void gst_zb_sink_fanin_drop (GstZbSink * self, int err);
/* Its response buffer @name cannot be written (@ret): a warning, and the
 * same. FALSE, nothing done, for any other channel. */
gboolean gst_zb_sink_fanin_refuse (GstZbSink * self, const gchar * name,
    int ret);

/* gstzbsinkclient.c: a response answered in place (docs/duplex.md, "The
 * GStreamer server"): @buf, the response to the request of its
 * GstZbRequestMeta, is one memory that zbsrc wrapped from that very
 * request (same client generation, same request sequence), still in the
 * request ring, laid out as the response format writes it; its client
 * (self->writer's reader) takes answers in place. Then TRUE, @ip holds
 * the record to write instead of the bytes and a map of the memory (it
 * cannot move to the heap meanwhile) until _clear(); else FALSE (copy
 * it). Streaming thread, connected. */
typedef struct
{
  GstMemory *mem;               /* mapped */
  GstMapInfo map;
  guint8 record[ZB_DUPLEX_IN_PLACE_SIZE];
} GstZbInPlace;
gboolean gst_zb_sink_in_place_prepare (GstZbSink * self, GstBuffer * buf,
    GstZbInPlace * ip);
void gst_zb_sink_in_place_clear (GstZbInPlace * ip);

/* Whether upstream is live (asked once per start): the auto policies
 * drop for a live upstream, which must never wait. */
gboolean gst_zb_sink_upstream_is_live (GstZbSink * self);

/* gstzbsinkframe.c: one frame written into one ring, the reader of
 * NAME's (gstzbsinkwrite.c) or a NAME@ID reader's (gstzbsinkoutput.c). The
 * caller loops on gst_zb_sink_frame_acquire() with its own policy for a
 * full ring, then commits; clear() in any case. Streaming thread. */
typedef struct
{
  const zb_gst_record *rec;     /* record header, or NULL: none */
  GstBuffer *buf;               /* the payload, or NULL: bytes */
  const void *bytes;
  gsize nbytes;

  const GstZbLayout *layout;    /* repack @buf into it; NULL: as it is */
  gsize hdr;                    /* record header bytes */
  gsize payload;                /* payload bytes in the ring */
  GstMemory *pool_mem;          /* sent as a pool record of this block */
  GstZbPoolSegment *seg;        /* its segment: a reference until sent */
  guint8 pref_bytes[ZB_GST_POOL_REF_SIZE];

  gboolean answer;              /* @bytes answer a buffer in place: dropped
                                 * as the buffer would be (leaky) */
  gboolean may_pad;             /* a pad record may skip the ring's end */
  gsize want;                   /* bytes asked for now: the frame's, or a
                                 * pad record's while padding */
  gboolean padding;
  guint pads;
  void *dst;                    /* reserved by acquire() */
} GstZbSinkFrame;

/* Lay out a frame: an optional record header @rec, then @buf (repacked
 * when its layout is not the @format's), or @bytes; a pool record when
 * @pool_ok and @buf is one block of our pool. @may_pad: pad records may
 * take a frame that does not fit from the write position to the ring's
 * start (gst format only, i.e. with @rec). want is 0: nothing to send. */
void gst_zb_sink_frame_init (GstZbSink * self, GstZbSinkFrame * f,
    GstZbFrameFormat format, gboolean pool_ok, gboolean may_pad,
    const zb_gst_record * rec, GstBuffer * buf, const void *bytes,
    gsize nbytes);
/* One zb_writer_acquire() of want bytes from @w. 0: dst is reserved for
 * the frame; -EAGAIN: a pad record was written or is due, call again;
 * else zb_writer_acquire()'s error (-E2BIG: no pad record helps) or
 * zb_writer_commit()'s for a pad record. */
int gst_zb_sink_frame_acquire (GstZbSink * self, GstZbSinkFrame * f,
    zb_writer * w);
/* Fill dst and commit it. A pool record (pool_mem set) is announced to
 * @conn, and its segment kept until every reader has released it. 0 or
 * zb_writer_commit()'s error. */
int gst_zb_sink_frame_commit (GstZbSink * self, GstZbSinkFrame * f,
    zb_writer * w, GstZbPoolConn * conn);
/* Drop the pool segment reference of a frame not sent. */
void gst_zb_sink_frame_clear (GstZbSinkFrame * f);

/* The pool for raw video @caps (a reference; NULL for other caps or a
 * pool that refuses them): the pool we have for the same caps unless
 * upstream is using it, else a new one, which becomes ours. */
GstBufferPool *gst_zb_sink_pool_for_caps (GstZbSink * self, GstCaps * caps,
    const gchar * name);
/* A buffer that upstream did not allocate from our pool (a tee answers
 * the ALLOCATION query without one): its bytes copied into a free block
 * of our pool, in the gst format's layout, with @buf's flags and
 * timestamps, to be sent as a pool record instead of being copied into
 * the ring. The pool reuses the block the reader released last, so that
 * the copy target stays in the CPU caches as shmsink's does
 * (docs/benchmarks.md, "Copies behind a tee"). NULL when @buf is one of
 * our blocks already, no block is free, or the frame goes to the ring
 * anyway: send @buf as it is. Streaming thread. */
GstBuffer *gst_zb_sink_copy_to_pool (GstZbSink * self, GstBuffer * buf);

G_END_DECLS
#endif /* __GST_ZB_SINK_PRIV_H__ */
