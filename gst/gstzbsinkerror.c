/* zerobuffer GStreamer plugin - zbsink: what its pipeline's bus says
 *
 * Errors. A recorder that reads a zbsink's stream must be able to tell a stream
 * that ended (EOS record) from one whose writer failed. zbsink watches the
 * ERROR messages of its top-level pipeline (sync-message emission on that
 * bus, so no main loop is needed and the application's own bus handling
 * is untouched) and keeps the first one. When it stops without having
 * delivered EOS, it writes that error as an error record (type 6,
 * docs/frame-format.md) before it leaves the reader's buffer; zbsrc posts
 * it as an error or a warning (on-writer-error).
 *
 * Interrupts. gst-launch-1.0 -e answers Ctrl-C by sending EOS to the
 * sources, which waits for their streaming threads; a zbsink that waits
 * for its first reader holds the thread, so the EOS never came and Ctrl-C
 * was ignored. On the "GstLaunchInterrupt" message that gst-launch-1.0
 * posts first, zbsink stops waiting for a reader: buffers (and EOS) with
 * no reader are dropped, a connected reader still gets everything.
 */

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstzbsinkpriv.h"

#include <string.h>

#define GST_CAT_DEFAULT gst_zb_sink_debug

/* How long the error record may wait for ring space: the writer is
 * stopping, and a reader that reads nothing must not hold it up. */
#define ERROR_WRITE_TIMEOUT_MS 200

/* Any thread: the thread of the element that posted @message. */
static void
on_sync_error (GstBus * bus, GstMessage * message, GstZbSink * self)
{
  GError *err = NULL;
  gchar *debug = NULL, *text, *src;

  GST_OBJECT_LOCK (self);
  if (self->pipeline_error) {
    /* the first error is the cause, the later ones its consequences
     * ("Internal data stream error") */
    GST_OBJECT_UNLOCK (self);
    return;
  }
  GST_OBJECT_UNLOCK (self);

  gst_message_parse_error (message, &err, &debug);
  src = GST_MESSAGE_SRC (message) ?
      gst_object_get_path_string (GST_MESSAGE_SRC (message)) : g_strdup ("?");
  text = g_strdup_printf ("%s: %s", src, err ? err->message : "error");
  GST_INFO_OBJECT (self, "pipeline error: %s", text);

  GST_OBJECT_LOCK (self);
  if (self->pipeline_error == NULL) {
    self->pipeline_error = text;
    self->pipeline_error_debug = debug;
    text = NULL;
    debug = NULL;
  }
  GST_OBJECT_UNLOCK (self);
  g_free (text);
  g_free (debug);
  g_free (src);
  g_clear_error (&err);
}

/* Any thread. */
static void
on_sync_application (GstBus * bus, GstMessage * message, GstZbSink * self)
{
  const GstStructure *s = gst_message_get_structure (message);

  if (s == NULL || !gst_structure_has_name (s, "GstLaunchInterrupt"))
    return;
  GST_INFO_OBJECT (self, "interrupted: no more waiting for a reader");
  GST_OBJECT_LOCK (self);
  self->interrupted = TRUE;
  /* ends a wait for the reader's buffer to appear */
  if (self->watch)
    gst_zb_shm_watch_set_flushing (self->watch, TRUE);
  GST_OBJECT_UNLOCK (self);
}

gboolean
gst_zb_sink_is_interrupted (GstZbSink * self)
{
  gboolean interrupted;

  GST_OBJECT_LOCK (self);
  interrupted = self->interrupted;
  GST_OBJECT_UNLOCK (self);
  return interrupted;
}

void
gst_zb_sink_error_watch_start (GstZbSink * self)
{
  GstObject *top = gst_object_ref (GST_OBJECT (self)), *parent;
  GstBus *bus;

  while ((parent = gst_object_get_parent (top))) {
    gst_object_unref (top);
    top = parent;
  }
  bus = gst_element_get_bus (GST_ELEMENT (top));
  gst_object_unref (top);
  if (bus == NULL)
    return;
  gst_bus_enable_sync_message_emission (bus);
  self->error_handler = g_signal_connect (bus, "sync-message::error",
      G_CALLBACK (on_sync_error), self);
  self->interrupt_handler = g_signal_connect (bus,
      "sync-message::application", G_CALLBACK (on_sync_application), self);
  self->error_bus = bus;
}

void
gst_zb_sink_error_watch_stop (GstZbSink * self)
{
  if (self->error_bus == NULL)
    return;
  g_signal_handler_disconnect (self->error_bus, self->error_handler);
  g_signal_handler_disconnect (self->error_bus, self->interrupt_handler);
  gst_bus_disable_sync_message_emission (self->error_bus);
  gst_object_unref (self->error_bus);
  self->error_bus = NULL;
  self->error_handler = 0;
  self->interrupt_handler = 0;
}

void
gst_zb_sink_error_clear (GstZbSink * self)
{
  GST_OBJECT_LOCK (self);
  g_clear_pointer (&self->pipeline_error, g_free);
  g_clear_pointer (&self->pipeline_error_debug, g_free);
  self->interrupted = FALSE;
  GST_OBJECT_UNLOCK (self);
}

/* Called by stop() before it disconnects: the error record, when the
 * pipeline failed and the reader has not been sent EOS. Gives up after
 * ERROR_WRITE_TIMEOUT_MS of a full ring (the reader then sees the writer
 * leave, as before). */
void
gst_zb_sink_error_send (GstZbSink * self)
{
  zb_gst_record rec;
  GByteArray *payload;
  gchar *text, *debug;
  void *dst;
  int ret;

  if ((self->writer == NULL && gst_zb_sink_outputs_count (self->outputs) ==
          0) || self->chan_mode || self->eos_sent ||
      self->format != GST_ZB_FRAME_FORMAT_GST)
    return;
  GST_OBJECT_LOCK (self);
  text = g_strdup (self->pipeline_error);
  debug = g_strdup (self->pipeline_error_debug);
  GST_OBJECT_UNLOCK (self);
  if (text == NULL)
    return;

  /* message, NUL, debug; cut to ZB_GST_ERROR_MAX at a character */
  payload = g_byte_array_new ();
  g_byte_array_append (payload, (const guint8 *) text, strlen (text));
  if (debug) {
    g_byte_array_append (payload, (const guint8 *) "", 1);
    g_byte_array_append (payload, (const guint8 *) debug, strlen (debug));
  }
  if (payload->len > ZB_GST_ERROR_MAX) {
    const gchar *end = g_utf8_find_prev_char ((const gchar *) payload->data,
        (const gchar *) payload->data + ZB_GST_ERROR_MAX + 1);

    g_byte_array_set_size (payload, end ? end - (const gchar *)
        payload->data : 0);
  }

  zb_gst_record_init (&rec, ZB_GST_RECORD_ERROR);
  rec.payload_size = payload->len;
  /* the readers of NAME@ID (gstzbsinkoutput.c) */
  gst_zb_sink_outputs_write_record (self->outputs, &rec, payload->data,
      payload->len, ERROR_WRITE_TIMEOUT_MS);
  if (self->writer == NULL)
    goto done;
  zb_writer_set_write_timeout (self->writer, ERROR_WRITE_TIMEOUT_MS);
  ret = zb_writer_acquire (self->writer, ZB_GST_HEADER_SIZE + payload->len,
      &dst);
  if (ret == 0) {
    zb_gst_record_encode (&rec, dst);
    memcpy ((guint8 *) dst + ZB_GST_HEADER_SIZE, payload->data, payload->len);
    ret = zb_writer_commit (self->writer);
  }
  if (ret == 0)
    GST_INFO_OBJECT (self, "sent the pipeline's error to the reader: %s", text);
  else
    GST_WARNING_OBJECT (self, "could not send the pipeline's error to the "
        "reader: %s", zb_strerror (ret));
done:
  g_byte_array_unref (payload);
  g_free (text);
  g_free (debug);
}
