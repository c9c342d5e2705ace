/* zerobuffer GStreamer plugin - the duplex channel on the GStreamer side
 *
 * SPDX-License-Identifier: MIT
 */

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstzbchannel.h"

/* ------------------------------------------------------------------ */
/* Request meta */

GType
gst_zb_request_meta_api_get_type (void)
{
  static GType type = 0;
  static const gchar *tags[] = { NULL };

  if (g_once_init_enter (&type)) {
    GType t = gst_meta_api_type_register ("GstZbRequestMetaAPI", tags);
    g_once_init_leave (&type, t);
  }
  return type;
}

static gboolean
request_meta_init (GstMeta * meta, gpointer params, GstBuffer * buffer)
{
  GstZbRequestMeta *m = (GstZbRequestMeta *) meta;

  m->channel = NULL;
  m->generation = 0;
  m->sequence = 0;
  return TRUE;
}

static void
request_meta_free (GstMeta * meta, GstBuffer * buffer)
{
  GstZbRequestMeta *m = (GstZbRequestMeta *) meta;

  if (m->channel)
    gst_zb_channel_unref (m->channel);
}

/* Every transform (copy, scale, conversion) answers the same request. */
static gboolean
request_meta_transform (GstBuffer * dest, GstMeta * meta, GstBuffer * buffer,
    GQuark type, gpointer data)
{
  GstZbRequestMeta *m = (GstZbRequestMeta *) meta;

  return gst_buffer_add_zb_request_meta (dest, m->channel, m->generation,
      m->sequence) != NULL;
}

const GstMetaInfo *
gst_zb_request_meta_get_info (void)
{
  static const GstMetaInfo *info = NULL;

  if (g_once_init_enter ((GstMetaInfo **) & info)) {
    const GstMetaInfo *i = gst_meta_register (GST_ZB_REQUEST_META_API_TYPE,
        "GstZbRequestMeta", sizeof (GstZbRequestMeta), request_meta_init,
        request_meta_free, request_meta_transform);
    g_once_init_leave ((GstMetaInfo **) & info, (GstMetaInfo *) i);
  }
  return info;
}

GstZbRequestMeta *
gst_buffer_add_zb_request_meta (GstBuffer * buffer, GstZbChannel * channel,
    guint64 generation, guint64 sequence)
{
  GstZbRequestMeta *m;

  g_return_val_if_fail (GST_IS_BUFFER (buffer), NULL);
  m = (GstZbRequestMeta *) gst_buffer_add_meta (buffer,
      GST_ZB_REQUEST_META_INFO, NULL);
  if (m) {
    m->channel = channel ? gst_zb_channel_ref (channel) : NULL;
    m->generation = generation;
    m->sequence = sequence;
  }
  return m;
}

/* ------------------------------------------------------------------ */
/* Channel */

struct _GstZbChannel
{
  guint64 client;               /* atomic */
  gchar *name;                  /* immutable */
};

static guint64 last_generation; /* atomic */

GstZbChannel *
gst_zb_channel_new (const gchar * name)
{
  GstZbChannel *channel = g_atomic_rc_box_new0 (GstZbChannel);

  channel->name = g_strdup (name);
  return channel;
}

static void
channel_clear (gpointer data)
{
  GstZbChannel *channel = data;

  g_free (channel->name);
}

GstZbChannel *
gst_zb_channel_ref (GstZbChannel * channel)
{
  return g_atomic_rc_box_acquire (channel);
}

void
gst_zb_channel_unref (GstZbChannel * channel)
{
  g_atomic_rc_box_release_full (channel, channel_clear);
}

void
gst_zb_channel_set_client (GstZbChannel * channel, guint64 generation)
{
  __atomic_store_n (&channel->client, generation, __ATOMIC_RELEASE);
}

guint64
gst_zb_channel_get_client (GstZbChannel * channel)
{
  return __atomic_load_n (&channel->client, __ATOMIC_ACQUIRE);
}

const gchar *
gst_zb_channel_get_name (GstZbChannel * channel)
{
  return channel->name;
}

guint64
gst_zb_channel_next_generation (void)
{
  return __atomic_add_fetch (&last_generation, 1, __ATOMIC_RELAXED);
}
