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

  m->generation = 0;
  m->sequence = 0;
  return TRUE;
}

/* Every transform (copy, scale, conversion) answers the same request. */
static gboolean
request_meta_transform (GstBuffer * dest, GstMeta * meta, GstBuffer * buffer,
    GQuark type, gpointer data)
{
  GstZbRequestMeta *m = (GstZbRequestMeta *) meta;

  return gst_buffer_add_zb_request_meta (dest, m->generation,
      m->sequence) != NULL;
}

const GstMetaInfo *
gst_zb_request_meta_get_info (void)
{
  static const GstMetaInfo *info = NULL;

  if (g_once_init_enter ((GstMetaInfo **) & info)) {
    const GstMetaInfo *i = gst_meta_register (GST_ZB_REQUEST_META_API_TYPE,
        "GstZbRequestMeta", sizeof (GstZbRequestMeta), request_meta_init,
        NULL, request_meta_transform);
    g_once_init_leave ((GstMetaInfo **) & info, (GstMetaInfo *) i);
  }
  return info;
}

GstZbRequestMeta *
gst_buffer_add_zb_request_meta (GstBuffer * buffer, guint64 generation,
    guint64 sequence)
{
  GstZbRequestMeta *m;

  g_return_val_if_fail (GST_IS_BUFFER (buffer), NULL);
  m = (GstZbRequestMeta *) gst_buffer_add_meta (buffer,
      GST_ZB_REQUEST_META_INFO, NULL);
  if (m) {
    m->generation = generation;
    m->sequence = sequence;
  }
  return m;
}

/* ------------------------------------------------------------------ */
/* Channel table */

static GMutex channel_lock;
static GHashTable *channels;    /* channel name -> guint64 *, channel_lock */
static guint64 last_generation; /* atomic */

guint64
gst_zb_channel_next_generation (void)
{
  return __atomic_add_fetch (&last_generation, 1, __ATOMIC_RELAXED);
}

void
gst_zb_channel_publish (const gchar * channel, guint64 generation)
{
  guint64 *g = g_new (guint64, 1);

  *g = generation;
  g_mutex_lock (&channel_lock);
  if (channels == NULL)
    channels = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  g_hash_table_replace (channels, g_strdup (channel), g);
  g_mutex_unlock (&channel_lock);
}

void
gst_zb_channel_unpublish (const gchar * channel)
{
  g_mutex_lock (&channel_lock);
  if (channels)
    g_hash_table_remove (channels, channel);
  g_mutex_unlock (&channel_lock);
}

gboolean
gst_zb_channel_lookup (const gchar * channel, guint64 * generation)
{
  guint64 *g = NULL;

  g_mutex_lock (&channel_lock);
  if (channels)
    g = g_hash_table_lookup (channels, channel);
  if (g)
    *generation = *g;
  g_mutex_unlock (&channel_lock);
  return g != NULL;
}
