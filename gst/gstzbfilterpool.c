/* zerobuffer GStreamer plugin - zbfilter's buffer pool
 *
 * SPDX-License-Identifier: MIT
 *
 * Upstream fills the request where it will be sent from: a buffer of this
 * pool is, when zbfilter can give one (connected, room in the request
 * ring, no other such buffer out, the layout of the request), a slot of
 * the request ring acquired for the next request, and zbfilter sends it
 * without a copy when it comes back as the next buffer, held by nobody
 * else (gstzbfiltercodec.c). Only when no other buffer of the pool is on
 * its way to zbfilter (in a queue, say): one that comes first would have
 * to move the slot out of the ring (a copy) before it can be sent. Every
 * other buffer is an ordinary one of the base class, reused as usual. A slot buffer is never reused: once sent,
 * its bytes belong to the request; given back unsent, its slot goes back
 * to the ring (the ring memory's release, gstzbfilterconn.c).
 */

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstzbfilterpool.h"
#include "gstzbfilterpriv.h"

#include <gst/video/gstvideopool.h>

typedef struct
{
  GstBufferPool parent;

  GWeakRef filter;
  /* set_config() */
  guint size;
  gsize align;
  gboolean video_meta;
  /* atomic: buffers handed out that have neither reached zbfilter
   * (gst_zb_filter_pool_arrived()) nor come back */
  gint in_transit;
} GstZbFilterPool;

typedef struct
{
  GstBufferPoolClass parent_class;
} GstZbFilterPoolClass;

static GType gst_zb_filter_pool_get_type (void);
G_DEFINE_TYPE (GstZbFilterPool, gst_zb_filter_pool, GST_TYPE_BUFFER_POOL);

static GQuark slot_quark;
static GQuark arrived_quark;

/* Mark @buffer as arrived; TRUE if it was not yet. */
static gboolean
mark_arrived (GstBuffer * buffer)
{
  GstMiniObject *obj = GST_MINI_OBJECT_CAST (buffer);

  if (gst_mini_object_get_qdata (obj, arrived_quark))
    return FALSE;
  gst_mini_object_set_qdata (obj, arrived_quark, GINT_TO_POINTER (1), NULL);
  return TRUE;
}

void
gst_zb_filter_pool_arrived (GstBuffer * buffer)
{
  GstBufferPool *pool = buffer->pool;

  if (pool == NULL || !G_TYPE_CHECK_INSTANCE_TYPE (pool,
          gst_zb_filter_pool_get_type ()))
    return;
  if (mark_arrived (buffer))
    g_atomic_int_add (&((GstZbFilterPool *) pool)->in_transit, -1);
}

static const gchar **
pool_get_options (GstBufferPool * pool)
{
  static const gchar *options[] = { GST_BUFFER_POOL_OPTION_VIDEO_META, NULL };

  return options;
}

static gboolean
pool_set_config (GstBufferPool * pool, GstStructure * config)
{
  GstZbFilterPool *self = (GstZbFilterPool *) pool;
  GstAllocationParams params;
  GstCaps *caps;
  guint size, min, max;

  if (!gst_buffer_pool_config_get_params (config, &caps, &size, &min, &max))
    return FALSE;
  if (!gst_buffer_pool_config_get_allocator (config, NULL, &params))
    gst_allocation_params_init (&params);
  GST_OBJECT_LOCK (pool);
  self->size = size;
  self->align = params.align;
  self->video_meta = gst_buffer_pool_config_has_option (config,
      GST_BUFFER_POOL_OPTION_VIDEO_META);
  GST_OBJECT_UNLOCK (pool);
  return GST_BUFFER_POOL_CLASS (gst_zb_filter_pool_parent_class)->set_config
      (pool, config);
}

static GstFlowReturn
pool_acquire_buffer (GstBufferPool * pool, GstBuffer ** buffer,
    GstBufferPoolAcquireParams * params)
{
  GstZbFilterPool *self = (GstZbFilterPool *) pool;
  GstZbFilter *filter = g_weak_ref_get (&self->filter);
  GstFlowReturn ret;
  gboolean video_meta;
  gsize align;
  guint size;

  *buffer = NULL;
  /* a buffer on its way would come first */
  if (filter && g_atomic_int_get (&self->in_transit) == 0) {
    GST_OBJECT_LOCK (pool);
    size = self->size;
    align = self->align;
    video_meta = self->video_meta;
    GST_OBJECT_UNLOCK (pool);
    *buffer = gst_zb_filter_slot_buffer (filter, size, align, video_meta);
    if (*buffer)
      gst_mini_object_set_qdata (GST_MINI_OBJECT_CAST (*buffer), slot_quark,
          GINT_TO_POINTER (1), NULL);
  }
  if (filter)
    gst_object_unref (filter);
  if (*buffer == NULL && (ret = GST_BUFFER_POOL_CLASS
          (gst_zb_filter_pool_parent_class)->acquire_buffer (pool, buffer,
              params)) != GST_FLOW_OK)
    return ret;
  g_atomic_int_inc (&self->in_transit);
  return GST_FLOW_OK;
}

static void
pool_release_buffer (GstBufferPool * pool, GstBuffer * buffer)
{
  GstZbFilterPool *self = (GstZbFilterPool *) pool;

  /* back without reaching zbfilter (dropped on the way) */
  if (mark_arrived (buffer))
    g_atomic_int_add (&self->in_transit, -1);
  gst_mini_object_set_qdata (GST_MINI_OBJECT_CAST (buffer), arrived_quark,
      NULL, NULL);
  /* a slot is never reused */
  if (gst_mini_object_get_qdata (GST_MINI_OBJECT_CAST (buffer), slot_quark))
    GST_BUFFER_POOL_CLASS (gst_zb_filter_pool_parent_class)->free_buffer
        (pool, buffer);
  else
    GST_BUFFER_POOL_CLASS (gst_zb_filter_pool_parent_class)->release_buffer
        (pool, buffer);
}

static void
gst_zb_filter_pool_finalize (GObject * object)
{
  GstZbFilterPool *self = (GstZbFilterPool *) object;

  g_weak_ref_clear (&self->filter);
  G_OBJECT_CLASS (gst_zb_filter_pool_parent_class)->finalize (object);
}

static void
gst_zb_filter_pool_class_init (GstZbFilterPoolClass * klass)
{
  GstBufferPoolClass *pool_class = GST_BUFFER_POOL_CLASS (klass);

  G_OBJECT_CLASS (klass)->finalize = gst_zb_filter_pool_finalize;
  pool_class->get_options = pool_get_options;
  pool_class->set_config = pool_set_config;
  pool_class->acquire_buffer = pool_acquire_buffer;
  pool_class->release_buffer = pool_release_buffer;
  slot_quark = g_quark_from_static_string ("GstZbFilterPoolSlot");
  arrived_quark = g_quark_from_static_string ("GstZbFilterPoolArrived");
}

static void
gst_zb_filter_pool_init (GstZbFilterPool * self)
{
  g_weak_ref_init (&self->filter, NULL);
}

GstBufferPool *
gst_zb_filter_pool_new (GstZbFilter * filter)
{
  GstZbFilterPool *self = g_object_new (gst_zb_filter_pool_get_type (), NULL);

  gst_object_ref_sink (self);
  g_weak_ref_set (&self->filter, filter);
  return GST_BUFFER_POOL_CAST (self);
}
