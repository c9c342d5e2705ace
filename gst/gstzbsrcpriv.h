/* zerobuffer GStreamer plugin - zbsrc's instance, shared by its files
 *
 * SPDX-License-Identifier: MIT
 *
 * gstzbsrc.c is the element (properties, states, caps, queries, create());
 * gstzbsrcwriter.c waits for frames and follows the writer (a new writer,
 * a lost one, the timeout, the stall breaker); gstzbsrctime.c is the
 * timestamp model; gstzbsrcbuf.c makes the output buffers over
 * gstzbringmem.c's ring memories; gstzbsrcfanin.c serves the clients
 * NAME@ID of channel-name=NAME (fan-in, docs/duplex.md).
 */

#ifndef __GST_ZB_SRC_PRIV_H__
#define __GST_ZB_SRC_PRIV_H__

#include "gstzbsrc.h"
#include "gstzbchannel.h"
#include "gstzbcommon.h"
#include "gstzbsrcbuf.h"
#include "gstzbsrctime.h"

#include <zerobuffer/zerobuffer.h>

G_BEGIN_DECLS

GST_DEBUG_CATEGORY_EXTERN (gst_zb_src_debug);

/* What zbsrc knows of one client of a fan-in server while the
 * streaming thread works on another (gstzbsrcfanin.c): the fields of the
 * same names below. */
typedef struct
{
  gchar *name;
  gboolean gst_format;
  GstCaps *writer_caps;
  gboolean writer_present;
  GstZbChannel *channel;
  guint64 chan_generation;
  GHashTable *pool_maps;
  gboolean pool_missing_warned;
  guint64 writer_pid;
  gboolean connected;
  gboolean refused;
} GstZbSrcPeer;

typedef struct _GstZbSrcFanin GstZbSrcFanin;

struct _GstZbSrc
{
  GstPushSrc parent;

  /* properties; GST_OBJECT_LOCK */
  gchar *buffer_name;
  gchar *reader_id;             /* fan-out: create buffer-name@reader-id */
  gchar *channel_name;
  guint64 payload_size;
  guint64 metadata_size;
  guint perms;
  gint timeout;
  gint connect_timeout;
  GstZbWriterLost on_writer_lost;
  GstZbWriterError on_writer_error;
  GstCaps *caps;
  GstZbTimestampMode timestamp_mode;
  guint64 max_held_bytes;
  gint stall_timeout;

  /* set in start(); GST_OBJECT_LOCK. ref is cleared in stop() and read by
   * unlock() and the stats; name is the buffer's name: buffer-name, or the
   * request buffer of channel-name */
  GstZbReaderRef *ref;
  gchar *name;

  /* streaming thread only (and start/stop, and seeks, which hold the
   * stream lock) */
  guint64 ring_size;
  gboolean gst_format;          /* frames carry zbframe.h records */
  GstCaps *writer_caps;         /* caps of the current stream */
  gboolean caps_pending;        /* writer_caps not yet set on the pad */
  gboolean discont;
  gboolean writer_present;
  gboolean ever_writer;         /* a writer sent a frame since start() */
  gint64 last_frame_us;         /* g_get_monotonic_time() */
  gboolean timeout_reported;
  GstZbSrcTime time;
  GstZbSrcRawVideo raw;         /* raw frames of raw video */
  gchar *chan;                  /* channel_name latched at start() */
  GstZbChannel *channel;        /* with chan: shared with the requests */
  guint64 chan_generation;      /* the current client, 0: none */
  GHashTable *pool_maps;        /* name -> GstZbPoolMap: the writer's pool
                                 * segments mapped so far; emptied when
                                 * the writer changes */
  gboolean pool_missing_warned; /* per writer */
  gboolean refused;             /* fan-in: the client sent bad input; its
                                 * requests are dropped until a new one */
  GstZbSrcFanin *fanin;         /* channel-name without '@': the clients
                                 * of NAME and of NAME@ID; made by start(),
                                 * freed by stop(); the fields above from
                                 * gst_format on are of the channel whose
                                 * request the streaming thread handles
                                 * (gstzbsrcfanin.c) */

  /* statistics (the stats property); GST_OBJECT_LOCK */
  guint64 frames;
  guint64 bytes;
  guint64 copies;
  guint64 migrations;
  guint64 dropped;
  guint64 writer_pid;
  gboolean connected;
  GstClockTime frame_duration;
};

/* gstzbsrcwriter.c: the writer's next buffer from @ref's ring, following
 * the writer on the way (a new writer: its caps and frame format; caps
 * records; a lost writer or the timeout: on-writer-lost; a stall: held
 * buffers move out of the ring), timestamped. GST_FLOW_OK with *@outbuf
 * set; FLUSHING when unlocked; EOS from the writer or on-writer-lost; an
 * ERROR is posted. Streaming thread. */
GstFlowReturn gst_zb_src_next_buffer (GstZbSrc * self, GstZbReaderRef * ref,
    GstBuffer ** outbuf);

/* gstzbsrcwriter.c: the buffer's name (a copy), the caps property (a
 * reference or NULL); any thread, take GST_OBJECT_LOCK. */
gchar *gst_zb_src_dup_name (GstZbSrc * self);
/* The buffer whose writer names the pool segments (a copy): the buffer's
 * name up to its first '@' (the writer of NAME@ID serves it from the pool
 * of NAME, docs/fanout.md). */
gchar *gst_zb_src_dup_pool_name (GstZbSrc * self);
GstCaps *gst_zb_src_user_caps (GstZbSrc * self);

/* gstzbsrcfanin.c: zbsrc channel-name=NAME (no '@') serves NAME's client
 * and, by fan-in, every client NAME@ID (docs/duplex.md). new(): @ref is
 * NAME_request's (a reference is taken), @config makes the NAME@ID_request
 * buffers; NULL with *@err a negative errno. read(): the next request of
 * any client (as zb_reader_read(), -EINTR while flushing), its channel's
 * client state loaded into @self, *@ref its reader (borrowed until the
 * next read). Streaming thread; set_flushing() from any thread. */
GstZbSrcFanin *gst_zb_src_fanin_new (GstZbSrc * self,
    const gchar * channel_name, GstZbReaderRef * ref,
    const zb_reader_config * config, int *err);
void gst_zb_src_fanin_free (GstZbSrcFanin * fanin);
void gst_zb_src_fanin_set_flushing (GstZbSrcFanin * fanin, gboolean flushing);
int gst_zb_src_fanin_read (GstZbSrcFanin * fanin, gint timeout_ms,
    zb_frame * frame, GstZbReaderRef ** ref);
/* Whether the loaded client is NAME's own (on-writer-lost applies). */
gboolean gst_zb_src_fanin_loaded_is_main (GstZbSrcFanin * fanin);
/* The loaded client is a fan-in client NAME@ID that sent bad input:
 * refuse it (gstzbsrcwriter.c drops its requests until it connects
 * again; zbsink drops what is on its way) and post a warning naming it
 * (@what, @detail). FALSE, nothing done: NAME's own client or a single
 * channel, whose bad input is an error. */
gboolean gst_zb_src_refuse_client (GstZbSrc * self, const gchar * what,
    const gchar * detail);
/* References to every channel's reader. */
GPtrArray *gst_zb_src_fanin_refs (GstZbSrcFanin * fanin);

G_END_DECLS
#endif /* __GST_ZB_SRC_PRIV_H__ */
