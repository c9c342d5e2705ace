/* zerobuffer GStreamer plugin - pool segments in /dev/shm
 *
 * SPDX-License-Identifier: MIT
 *
 * zbsink's buffer pool (gstzbsinkpool.c) keeps the bytes of the buffers
 * it hands upstream in shared memory objects of its own, "pool segments"
 * named by zb_gst_pool_name() (zbframe.h), and sends a pool record
 * (docs/frame-format.md) for each; zbsrc maps them read-only. What both
 * sides do with the objects themselves is here: creating one (writer),
 * opening and checking one a record names (reader), and removing those a
 * dead writer left behind (both).
 */

#ifndef __GST_ZB_POOL_SHM_H__
#define __GST_ZB_POOL_SHM_H__

#include <gst/gst.h>

G_BEGIN_DECLS

/* Writer: create the object @name (no leading '/'), mode 0600, exclusive,
 * @size bytes backed by real pages (posix_fallocate: a full /dev/shm
 * fails here with -ENOSPC instead of a SIGBUS later), and map it
 * read-write at *@base. 0 or a negative errno (nothing is left behind). */
gint gst_zb_pool_shm_create (const gchar * name, gsize size, guint8 ** base);

/* Remove pool segments from /dev/shm that belong to us (our uid) and
 * that no writer holds locked (gst_zb_pool_shm_create() locks each for
 * its writer's life): of buffer @buffer and writer @pid (one known dead),
 * or with @pid 0 those of every dead writer of any buffer, and their
 * statistics objects too (zb_cleanup_writer_objects()). Returns how many
 * were removed. Never blocks for long (one directory scan). */
guint gst_zb_pool_shm_sweep (const gchar * buffer, guint64 pid);

/* Reader: a read-only mapping of one pool segment, shared by the
 * memories that wrap its blocks. */
typedef struct
{
  gint refcount;                /* atomic */
  gchar *name;
  const guint8 *base;
  gsize size;
} GstZbPoolMap;

/* Open and map @name read-only after checking that it is a regular file
 * of our uid, not writable by group or others, of exactly @size bytes.
 * NULL with *@why (static text) when not. */
GstZbPoolMap *gst_zb_pool_map_open (const gchar * name, guint64 size,
    const gchar ** why);
GstZbPoolMap *gst_zb_pool_map_ref (GstZbPoolMap * map);
/* Accepts NULL. */
void gst_zb_pool_map_unref (GstZbPoolMap * map);

G_END_DECLS
#endif /* __GST_ZB_POOL_SHM_H__ */
