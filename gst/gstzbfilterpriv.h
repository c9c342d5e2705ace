/* zerobuffer GStreamer plugin - zbfilter internals
 *
 * SPDX-License-Identifier: MIT
 *
 * The instance struct of zbfilter and what its three files call in each
 * other: gstzbfilter.c (the element: properties, start/stop, caps,
 * events, queries, the GstBaseTransform vfuncs), gstzbfilterconn.c (the
 * connection to the server: connect, wait for a server, server lost) and
 * gstzbfiltercodec.c (requests and responses: writing a buffer into the
 * request ring, turning a response into an output buffer).
 */

#ifndef __GST_ZB_FILTER_PRIV_H__
#define __GST_ZB_FILTER_PRIV_H__

#include "gstzbfilter.h"
#include "gstzbcommon.h"
#include "gstzbvideo.h"

#include <gst/video/video.h>
#include <zerobuffer/zerobuffer.h>

G_BEGIN_DECLS

GST_DEBUG_CATEGORY_EXTERN (gst_zb_filter_debug);

/* A wait for a response or for room in the request ring is cut into
 * slices of this length, zb_duplex_client_wakeup() ends one at once; in
 * between the element checks its timeout and whether the server is
 * alive. */
#define GST_ZB_FILTER_SLICE_MS 100
/* zb_duplex_client_connect() cannot be woken: it waits at most this long
 * (for the server to read a previous client's queued requests), so that a
 * flush or a state change never waits longer. */
#define GST_ZB_FILTER_CONNECT_MS 20
/* While there is no server, the wait for one sleeps on an inotify watch of
 * its request buffer (GstZbShmWatch), which a flush or a state change
 * wakes at once; it looks again this often in any case (a server that
 * died leaves objects that make no event). */
#define GST_ZB_FILTER_RECHECK (1 * GST_SECOND)
/* on-server-lost=passthrough: a buffer looks for a new server when the
 * watch saw its objects appear, else at most this often */
#define GST_ZB_FILTER_PASSTHROUGH_PROBE (100 * GST_MSECOND)

/* One input buffer: sent and awaiting its response, or to be pushed
 * unchanged (sequence 0). */
typedef struct
{
  GstBuffer *input;             /* owned; NULL once discarded */
  guint64 sequence;             /* request sequence, 0: passthrough */
  gint64 sent_us;               /* g_get_monotonic_time () at send */
  gboolean in_ring;             /* sent where it lay: input holds no bytes */
} GstZbRequest;

struct _GstZbFilter
{
  GstBaseTransform parent;

  /* properties; GST_OBJECT_LOCK */
  gchar *channel_name;
  GstZbFrameFormat frame_format;
  gint timeout;
  guint max_in_flight;
  guint latency_ms;
  GstZbServerLost on_server_lost;
  guint64 payload_size;
  gboolean zero_copy;

  /* GST_OBJECT_LOCK: FLUSH_START and state changes wake the client and
   * the watch from other threads; only the streaming thread (and
   * start/stop) replaces client */
  zb_duplex_client *client;
  GstAllocator *ring_alloc;     /* gstzbringmem.h: owns client, wraps its
                                 * responses; NULL with client */
  GstAllocator *old_alloc;      /* detached from the previous client, which
                                 * lives until no memory points into it:
                                 * waited for before the next connect */
  gboolean flushing;
  GstZbShmWatch *watch;         /* the server's request buffer appearing;
                                 * made by start(), woken by flushing */
  GstCaps *server_caps;         /* declared by the server, or NULL;
                                 * read by transform_caps */

  /* streaming thread (and start/stop) */
  gchar *channel;               /* channel_name latched at start() */
  GstZbFrameFormat format;      /* frame_format latched at start() */
  GQueue requests;              /* GstZbRequest, oldest first */
  GstCaps *in_caps;             /* input caps */
  GstCaps *conn_caps;           /* caps in this connection's metadata */
  gboolean is_video;
  GstVideoInfo vinfo;           /* of in_caps when is_video */
  GstZbLayout in_default;       /* layouts of vinfo (gstzbvideo.h) */
  GstZbLayout in_packed;
  GstCaps *resp_caps;           /* the caps resp_* are of */
  gboolean resp_video;          /* responses are raw video */
  GstVideoInfo resp_info;       /* of resp_caps when resp_video */
  GstZbLayout resp_default;
  GstZbLayout resp_packed;
  gboolean have_server_meta;    /* response metadata read */
  gboolean server_gst;          /* responses are gst records */
  guint64 server_pid;
  gboolean lost;                /* server lost, no new one yet */
  gboolean discont;
  gboolean draining;            /* wait for every response (EOS, drain) */
  guint64 resp_ring_size;       /* payload-size of this connection */

  gint video_meta_ok;           /* atomic: downstream reads GstVideoMeta */

  /* The slot of the request ring that a buffer of our pool
   * (gstzbfilterpool.c) lies in, acquired for the next request from
   * upstream's thread. slot_lock: slot_*, and the writes of client,
   * ring_alloc, is_video, vinfo, in_default and in_packed, which the pool
   * reads; the streaming thread holds it while it sends. Taken before
   * GST_OBJECT_LOCK and the ring allocator's lock. */
  GMutex slot_lock;
  guint64 slot_tag;             /* the slot memory's tag, 0: none out */
  guint64 slot_serial;          /* the last tag given */
  gsize slot_size;              /* its payload bytes */
  gboolean slots_off;           /* a slot came back held elsewhere too
                                 * (videorate keeps a reference): none
                                 * more until start(), each would cost
                                 * a second copy */

  /* statistics and what queries read; GST_OBJECT_LOCK */
  guint64 n_requests;
  guint64 n_responses;
  guint64 n_discarded;
  guint64 n_dropped;
  guint64 n_passed;
  guint64 n_requests_in_ring;   /* requests sent from where upstream
                                 * filled them, without a copy */
  guint64 n_slots_back;         /* slots that went back to the ring
                                 * unsent */
  guint64 n_wrapped;            /* responses pushed without a copy */
  guint64 n_copies;             /* responses copied (repacked) */
  guint64 n_migrations;         /* wrapped responses moved to the heap */
  guint64 rtt_sum_us;
  guint64 rtt_max_us;
  GstClockTime reported_rtt;    /* round trip the last LATENCY answer covers */
  GstClockTime frame_duration;
  gboolean connected;
  GstClockTime position_out;    /* end of the last output buffer */
};

/* gstzbfilterconn.c */
gboolean gst_zb_filter_is_flushing (GstZbFilter * self);
gint gst_zb_filter_get_timeout (GstZbFilter * self);
int gst_zb_filter_slice_over (GstZbFilter * self, gint64 start_us, int err);
void gst_zb_filter_clear_requests (GstZbFilter * self);
void gst_zb_filter_request_free (GstZbRequest * r);
typedef enum
{
  GST_ZB_CONNECT_OK,
  GST_ZB_CONNECT_NONE,          /* no server; pass the buffer through */
  GST_ZB_CONNECT_FLUSHING,
  GST_ZB_CONNECT_ERROR          /* error posted */
} GstZbConnectResult;

GstZbConnectResult gst_zb_filter_ensure_connected (GstZbFilter * self);
void gst_zb_filter_disconnect (GstZbFilter * self);
gboolean gst_zb_filter_server_alive (GstZbFilter * self);
gboolean gst_zb_filter_is_lost_error (int ret);
GstFlowReturn gst_zb_filter_server_lost (GstZbFilter * self, int err);

/* gstzbfiltercodec.c */
void gst_zb_filter_unpin (GstZbFilter * self, const gchar * why);
int gst_zb_filter_send_request (GstZbFilter * self, GstBuffer * buf,
    guint64 * sequence);
GstBuffer *gst_zb_filter_slot_buffer (GstZbFilter * self, gsize size,
    gsize align, gboolean video_meta);

typedef enum
{
  GST_ZB_NEXT_OUTPUT,           /* *out is set */
  GST_ZB_NEXT_AGAIN,            /* progress without output: call again */
  GST_ZB_NEXT_NONE,             /* nothing ready */
  GST_ZB_NEXT_FLOW              /* stop with *flow */
} GstZbNextResult;

GstZbNextResult gst_zb_filter_next_output (GstZbFilter * self,
    gboolean block, GstBuffer ** out, GstFlowReturn * flow);
GstClockTime gst_zb_filter_round_trip_latency (GstZbFilter * self);

G_END_DECLS
#endif /* __GST_ZB_FILTER_PRIV_H__ */
