/* zerobuffer GStreamer plugin - what zbsink, zbsrc and zbfilter share
 *
 * SPDX-License-Identifier: MIT
 *
 * The enums of their properties, the metadata JSON object (writing and
 * reading it), the gst record of a buffer and the element messages about
 * peers (docs/elements.md, "Bus messages").
 */

#ifndef __GST_ZB_COMMON_H__
#define __GST_ZB_COMMON_H__

#include <gst/gst.h>

#include "gstzbcompat.h"
#include "zbframe.h"

G_BEGIN_DECLS

/* The author field of the elements' metadata. */
#define GST_ZB_AUTHOR \
    "zerobuffer maintainers <maintainers@users.noreply.b-seed-962542cd.example>"

/**
 * GstZbFrameFormat:
 * @GST_ZB_FRAME_FORMAT_GST: an 80-byte header with timestamps and flags
 *   before every buffer; caps changes and EOS travel in-band
 * @GST_ZB_FRAME_FORMAT_RAW: bare buffer bytes, raw video rows packed
 *   tightly, for the reference implementations' readers
 *
 * The frame-format property of zbsink and zbfilter
 * (docs/frame-format.md).
 *
 * Since: 0.1
 */
typedef enum
{
  GST_ZB_FRAME_FORMAT_GST,
  GST_ZB_FRAME_FORMAT_RAW
} GstZbFrameFormat;

/**
 * GstZbReaderLost:
 * @GST_ZB_READER_LOST_WAIT: block until a new reader appears, reconnect
 * @GST_ZB_READER_LOST_DROP: drop buffers until a new reader appears
 * @GST_ZB_READER_LOST_ERROR: post an error
 * @GST_ZB_READER_LOST_AUTO: drop when upstream is live, else wait (Since:
 *   0.2)
 *
 * What zbsink does while it has no reader: before the first one appears
 * (error: wait, up to connect-timeout) and after a reader stops or dies.
 *
 * Since: 0.1
 */
typedef enum
{
  GST_ZB_READER_LOST_WAIT,
  GST_ZB_READER_LOST_DROP,
  GST_ZB_READER_LOST_ERROR,
  GST_ZB_READER_LOST_AUTO
} GstZbReaderLost;

/**
 * GstZbWriterLost:
 * @GST_ZB_WRITER_LOST_WAIT: keep running and wait for a new writer
 * @GST_ZB_WRITER_LOST_EOS: push EOS
 * @GST_ZB_WRITER_LOST_ERROR: post an error
 *
 * What zbsrc does when its writer leaves, dies or times out.
 *
 * Since: 0.1
 */
typedef enum
{
  GST_ZB_WRITER_LOST_WAIT,
  GST_ZB_WRITER_LOST_EOS,
  GST_ZB_WRITER_LOST_ERROR
} GstZbWriterLost;

/**
 * GstZbWriterError:
 * @GST_ZB_WRITER_ERROR_ERROR: post the writer's error as an error
 * @GST_ZB_WRITER_ERROR_WARNING: post it as a warning and go on as if the
 *     writer had left (on-writer-lost)
 *
 * What zbsrc does when its writer's pipeline failed (an error record).
 *
 * Since: 0.2
 */
typedef enum
{
  GST_ZB_WRITER_ERROR_ERROR,
  GST_ZB_WRITER_ERROR_WARNING
} GstZbWriterError;

/**
 * GstZbTimestampMode:
 * @GST_ZB_TIMESTAMP_CLOCK: reproduce the writer's running time through
 *   CLOCK_MONOTONIC
 * @GST_ZB_TIMESTAMP_PASSTHROUGH: the writer's PTS and DTS unchanged, in a
 *   new segment for every writer
 * @GST_ZB_TIMESTAMP_ARRIVAL: running time at arrival
 *
 * How zbsrc timestamps the buffers it pushes (docs/frame-format.md,
 * "Timestamps").
 *
 * Since: 0.1
 */
typedef enum
{
  GST_ZB_TIMESTAMP_CLOCK,
  GST_ZB_TIMESTAMP_PASSTHROUGH,
  GST_ZB_TIMESTAMP_ARRIVAL
} GstZbTimestampMode;

/**
 * GstZbServerLost:
 * @GST_ZB_SERVER_LOST_WAIT: drop the requests in flight, wait for a new
 *   server, reconnect
 * @GST_ZB_SERVER_LOST_ERROR: post an error
 * @GST_ZB_SERVER_LOST_PASSTHROUGH: push buffers unchanged until a new
 *   server appears
 *
 * What zbfilter does when its duplex server stops or dies.
 *
 * Since: 0.1
 */
typedef enum
{
  GST_ZB_SERVER_LOST_WAIT,
  GST_ZB_SERVER_LOST_ERROR,
  GST_ZB_SERVER_LOST_PASSTHROUGH
} GstZbServerLost;

#define GST_TYPE_ZB_FRAME_FORMAT (gst_zb_frame_format_get_type ())
GType gst_zb_frame_format_get_type (void);
#define GST_TYPE_ZB_READER_LOST (gst_zb_reader_lost_get_type ())
GType gst_zb_reader_lost_get_type (void);
#define GST_TYPE_ZB_WRITER_LOST (gst_zb_writer_lost_get_type ())
GType gst_zb_writer_lost_get_type (void);
#define GST_TYPE_ZB_WRITER_ERROR (gst_zb_writer_error_get_type ())
GType gst_zb_writer_error_get_type (void);
#define GST_TYPE_ZB_TIMESTAMP_MODE (gst_zb_timestamp_mode_get_type ())
GType gst_zb_timestamp_mode_get_type (void);
#define GST_TYPE_ZB_SERVER_LOST (gst_zb_server_lost_get_type ())
GType gst_zb_server_lost_get_type (void);

/* The metadata JSON object (docs/frame-format.md, "Metadata"): @type is
 * "gstreamer-sink" or "gstreamer-filter", @caps may be NULL. Exactly the
 * object's bytes, no NUL counted in *@len; g_free() the result. */
gchar *gst_zb_make_metadata (const gchar * type, GstCaps * caps,
    const gchar * element_name, GstZbFrameFormat format, gsize * len);

/* Read a peer's metadata block (@size bytes at @meta; @size 0 for none):
 * *@gst_format whether its frames are of the gst format; returns its
 * fixed caps, or NULL when it has none or they are not fixed. A block
 * that is not our JSON may be a bare caps string (a foreign writer's). */
GstCaps *gst_zb_parse_metadata (GstObject * self, const void *meta,
    gsize size, gboolean * gst_format);

/* The duration of one frame at @caps' framerate; NONE without one. */
GstClockTime gst_zb_caps_frame_duration (GstCaps * caps);

/* A buffer record for @buf: its timestamps, offsets and flags (no clock
 * times, no payload size). */
void gst_zb_record_from_buffer (zb_gst_record * rec, GstBuffer * buf);

/* Post an element message @name about a peer: @key (= @value, the
 * buffer or channel name), "pid" and, when not NULL, "reason", then the
 * NULL-terminated fields that follow, as for gst_structure_set(). */
void gst_zb_post_peer_message (GstElement * element, const gchar * name,
    const gchar * key, const gchar * value, guint64 pid,
    const gchar * reason, const gchar * firstfield, ...);

/* Waiting for a peer's buffer to appear without polling: an inotify watch
 * on /dev/shm for the objects of one buffer name, and a GstPoll that
 * set_flushing() wakes (an element's unlock). Without inotify (no
 * instance left) it degrades to checking every 100 ms. One waiting thread
 * at a time; set_flushing() from any thread. */
typedef struct _GstZbShmWatch GstZbShmWatch;

GstZbShmWatch *gst_zb_shm_watch_new (const gchar * name);
void gst_zb_shm_watch_free (GstZbShmWatch * watch);
void gst_zb_shm_watch_set_flushing (GstZbShmWatch * watch, gboolean flushing);

/* Wait up to @timeout for an object of the buffer to be created: 1 when
 * one was (or may have been), 0 on timeout, -1 when flushing. For 200 ms
 * after such an event it returns 1 every 5 ms: a buffer is ready only
 * after its last object appeared (the reader then stores its pid). */
gint gst_zb_shm_watch_wait (GstZbShmWatch * watch, GstClockTime timeout);

/* Without blocking: TRUE when an object of the buffer was created since
 * the last TRUE, or @recheck has passed since then (a change the watch
 * cannot see, such as a dead reader's objects that stay). */
gboolean gst_zb_shm_watch_changed (GstZbShmWatch * watch,
    GstClockTime recheck);

/* A fan-out reader id (docs/fanout.md): a reader of stream NAME with id
 * ID creates buffer NAME@ID. NULL when @id is good, else a static text
 * saying what is wrong with it. */
const gchar *gst_zb_reader_id_problem (const gchar * id);

G_END_DECLS
#endif /* __GST_ZB_COMMON_H__ */
