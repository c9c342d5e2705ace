/* zerobuffer GStreamer plugin - the duplex channel on the GStreamer side
 *
 * SPDX-License-Identifier: MIT
 */

#ifndef __GST_ZB_CHANNEL_H__
#define __GST_ZB_CHANNEL_H__

#include <gst/gst.h>

G_BEGIN_DECLS

/* Duplex channel, GStreamer side (docs/duplex.md): zbsrc channel-name=X
 * stamps every request it reads with this meta; zbsink channel-name=X
 * checks that each buffer answers the next request of the current client.
 * The meta has no tags, so transforms copy it to their output buffers. */
typedef struct
{
  GstMeta meta;

  guint64 generation;           /* client connection, unique in the process */
  guint64 sequence;             /* request sequence on it, from 1 */
} GstZbRequestMeta;

#define GST_ZB_REQUEST_META_API_TYPE (gst_zb_request_meta_api_get_type ())
#define GST_ZB_REQUEST_META_INFO (gst_zb_request_meta_get_info ())
GType gst_zb_request_meta_api_get_type (void);
const GstMetaInfo *gst_zb_request_meta_get_info (void);

GstZbRequestMeta *gst_buffer_add_zb_request_meta (GstBuffer * buffer,
    guint64 generation, guint64 sequence);
#define gst_buffer_get_zb_request_meta(b) \
    ((GstZbRequestMeta *) gst_buffer_get_meta ((b), \
        GST_ZB_REQUEST_META_API_TYPE))

/* A new generation number, never returned before in this process. */
guint64 gst_zb_channel_next_generation (void);

/* Process-wide table: the generation of the client that zbsrc
 * channel-name=@channel currently serves (0: none, the client left).
 * Thread-safe. */
void gst_zb_channel_publish (const gchar * channel, guint64 generation);
void gst_zb_channel_unpublish (const gchar * channel);

/* TRUE and *@generation set when a zbsrc of this process serves
 * @channel; FALSE when none does (it may run in another process). */
gboolean gst_zb_channel_lookup (const gchar * channel, guint64 * generation);

G_END_DECLS
#endif /* __GST_ZB_CHANNEL_H__ */
