/* zerobuffer GStreamer plugin - the duplex channel on the GStreamer side
 *
 * SPDX-License-Identifier: MIT
 */

#ifndef __GST_ZB_CHANNEL_H__
#define __GST_ZB_CHANNEL_H__

#include <gst/gst.h>

G_BEGIN_DECLS

/* Duplex channel, GStreamer side (docs/duplex.md): zbsrc channel-name=X
 * stamps every request it reads with a GstZbRequestMeta; zbsink
 * channel-name=X checks that each buffer answers the next request of the
 * current client. The meta has no tags, so transforms copy it to their
 * output buffers. */

/* What a zbsrc channel-name=X knows about its client, shared with every
 * request it stamps: which client it serves now. A zbsink learns from the
 * meta of the buffers it answers whether their client is still there; no
 * table keyed by name links unrelated pipelines. Thread-safe,
 * reference-counted. */
typedef struct _GstZbChannel GstZbChannel;

/* @name: the channel (NAME or NAME@ID), whose NAME_response the answers
 * go to. */
GstZbChannel *gst_zb_channel_new (const gchar * name);
GstZbChannel *gst_zb_channel_ref (GstZbChannel * channel);
void gst_zb_channel_unref (GstZbChannel * channel);

/* The generation of the client served now; 0: none (it left, or zbsrc
 * stopped). */
void gst_zb_channel_set_client (GstZbChannel * channel, guint64 generation);
guint64 gst_zb_channel_get_client (GstZbChannel * channel);

/* The channel's name, as given to new(); valid while @channel is. */
const gchar *gst_zb_channel_get_name (GstZbChannel * channel);

/* A new generation number, never returned before in this process. */
guint64 gst_zb_channel_next_generation (void);

typedef struct
{
  GstMeta meta;

  GstZbChannel *channel;        /* a reference: the zbsrc's channel */
  guint64 generation;           /* client connection, unique in the process */
  guint64 sequence;             /* request sequence on it, from 1 */
} GstZbRequestMeta;

#define GST_ZB_REQUEST_META_API_TYPE (gst_zb_request_meta_api_get_type ())
#define GST_ZB_REQUEST_META_INFO (gst_zb_request_meta_get_info ())
GType gst_zb_request_meta_api_get_type (void);
const GstMetaInfo *gst_zb_request_meta_get_info (void);

GstZbRequestMeta *gst_buffer_add_zb_request_meta (GstBuffer * buffer,
    GstZbChannel * channel, guint64 generation, guint64 sequence);
#define gst_buffer_get_zb_request_meta(b) \
    ((GstZbRequestMeta *) gst_buffer_get_meta ((b), \
        GST_ZB_REQUEST_META_API_TYPE))

G_END_DECLS
#endif /* __GST_ZB_CHANNEL_H__ */
