/* frame-format=raw carries raw video with its rows packed tightly (stride =
 * the bytes of the row's pixels, planes back to back), the layout the
 * protocol's reference readers expect (docs/frame-format.md, "The raw
 * frame format"), in every element: what zbsink writes (read here with
 * the library), what zbsrc reads (with a GstVideoMeta, or repacked when
 * downstream does not read the meta) and what zbfilter sends and reads.
 * Odd sizes in packed and planar formats; the expected packed rows come
 * from a table here, not from the plugin's code. */

#include "zbtest.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gst/app/gstappsink.h>
#include <gst/video/video.h>
#include <zerobuffer/zerobuffer.h>

typedef struct
{
  const gchar *format;
  gint w, h;
} Case;

static const Case cases[] = {
  {"RGB", 321, 241}, {"RGB", 17, 9},
  {"BGRx", 321, 241}, {"BGRx", 17, 9},
  {"RGBA", 321, 241}, {"RGBA", 17, 9},
  {"GRAY8", 321, 241}, {"GRAY8", 17, 9},
  {"I420", 321, 241}, {"I420", 17, 9},
  {"NV12", 321, 241}, {"NV12", 17, 9},
  {"YUY2", 321, 241}, {"YUY2", 17, 9},
  {"v210", 321, 241}, {"v210", 17, 9},
};

/* Under valgrind (ZBT_VALGRIND, set by scripts/test.sh) the small size of
 * one packed and one planar format: the whole matrix takes over 10 min. */
static const guint valgrind_cases[] = { 1, 9 };

static guint n_cases = G_N_ELEMENTS (cases);

static const Case *
case_at (guint k)
{
  return &cases[n_cases < G_N_ELEMENTS (cases) ? valgrind_cases[k] : k];
}

#define N_FRAMES 3

/* The packed layout by hand: plane p has rows[p] rows of row[p] bytes.
 * Returns the number of planes, 0 for a format that keeps GStreamer's
 * default layout (v210: 6 pixels in 16 bytes). */
static guint
packed_planes (const Case * c, gint row[3], gint rows[3])
{
  gint cw = (c->w + 1) / 2, ch = (c->h + 1) / 2;

  if (!strcmp (c->format, "RGB")) {
    row[0] = 3 * c->w;
    rows[0] = c->h;
    return 1;
  }
  if (!strcmp (c->format, "BGRx") || !strcmp (c->format, "RGBA")) {
    row[0] = 4 * c->w;
    rows[0] = c->h;
    return 1;
  }
  if (!strcmp (c->format, "GRAY8")) {
    row[0] = c->w;
    rows[0] = c->h;
    return 1;
  }
  if (!strcmp (c->format, "I420")) {
    row[0] = c->w;
    rows[0] = c->h;
    row[1] = row[2] = cw;
    rows[1] = rows[2] = ch;
    return 3;
  }
  if (!strcmp (c->format, "NV12")) {
    row[0] = c->w;
    rows[0] = c->h;
    row[1] = 2 * cw;
    rows[1] = ch;
    return 2;
  }
  if (!strcmp (c->format, "YUY2")) {
    /* whole macropixels: the last one of an odd row keeps its V */
    row[0] = 4 * cw;
    rows[0] = c->h;
    return 1;
  }
  return 0;
}

static gchar *
caps_of (const Case * c)
{
  return g_strdup_printf ("video/x-raw,format=%s,width=%d,height=%d,"
      "framerate=30/1", c->format, c->w, c->h);
}

/* The frame @c as a reader of the raw format gets it, made from @ref (a
 * buffer of videotestsrc for the same caps). */
static GBytes *
expected_packed (const Case * c, GstBuffer * ref)
{
  GstVideoInfo info;
  GstVideoFrame vf;
  GByteArray *out = g_byte_array_new ();
  GstCaps *caps;
  gchar *str = caps_of (c);
  gint row[3], rows[3];
  guint n, p;
  gint y;

  caps = gst_caps_from_string (str);
  fail_unless (gst_video_info_from_caps (&info, caps));
  fail_unless (gst_video_frame_map (&vf, &info, ref, GST_MAP_READ));
  n = packed_planes (c, row, rows);
  if (n == 0) {
    /* the default layout, unchanged */
    GstMapInfo map;

    gst_video_frame_unmap (&vf);
    gst_buffer_map (ref, &map, GST_MAP_READ);
    g_byte_array_append (out, map.data, GST_VIDEO_INFO_SIZE (&info));
    gst_buffer_unmap (ref, &map);
  } else {
    fail_unless_equals_int (n, GST_VIDEO_FRAME_N_PLANES (&vf));
    for (p = 0; p < n; p++)
      for (y = 0; y < rows[p]; y++)
        g_byte_array_append (out, (guint8 *) GST_VIDEO_FRAME_PLANE_DATA (&vf,
                p) + y * GST_VIDEO_FRAME_PLANE_STRIDE (&vf, p), row[p]);
    gst_video_frame_unmap (&vf);
  }
  gst_caps_unref (caps);
  g_free (str);
  return g_byte_array_free_to_bytes (out);
}

/* The offset of the first byte where packed frames @a and @b of @c differ,
 * -1 when they do not. YUY2 at an odd width: the last macropixel's second
 * Y is no pixel, and videotestsrc leaves it unwritten (GStreamer 1.26:
 * whatever the allocation held), so that byte of every row is skipped. */
static gssize
first_difference (const Case * c, const guint8 * a, const guint8 * b,
    gsize size)
{
  gsize skip_at = G_MAXSIZE, row = 1, i;

  if (!strcmp (c->format, "YUY2") && c->w % 2 == 1) {
    row = 4 * ((c->w + 1) / 2);
    skip_at = 2 * c->w;
  }
  for (i = 0; i < size; i++)
    if (a[i] != b[i] && (row == 1 || i % row != skip_at))
      return (gssize) i;
  return -1;
}

static GstElement *
get (GstElement * p, const gchar * name)
{
  GstElement *e = gst_bin_get_by_name (GST_BIN (p), name);

  gst_object_unref (e);         /* the bin keeps it */
  return e;
}

/* Pull @n samples from appsink "sink" of @p (a pipeline in PLAYING). */
static GPtrArray *
pull (GstElement * p, guint n)
{
  GPtrArray *a = g_ptr_array_new_with_free_func ((GDestroyNotify)
      gst_sample_unref);
  guint i;

  for (i = 0; i < n; i++) {
    GstSample *s = gst_app_sink_try_pull_sample (GST_APP_SINK (get (p,
                "sink")), 10 * GST_SECOND);

    fail_unless (s != NULL, "sample %u of %u missing", i, n);
    g_ptr_array_add (a, s);
  }
  return a;
}

/* @n buffers of videotestsrc (pattern smpte, frames 0..) in @c's caps,
 * then @tail: the reference of every test. */
static GPtrArray *
reference (const Case * c, const gchar * tail, guint n)
{
  gchar *caps = caps_of (c);
  GstElement *p = zbt_pipeline ("videotestsrc num-buffers=%u ! %s%s ! "
      "appsink name=sink sync=false", n, caps, tail);
  GPtrArray *a;

  zbt_set_state (p, GST_STATE_PLAYING);
  a = pull (p, n);
  zbt_wait_eos (p, 10000);
  zbt_stop_and_free (p);
  g_free (caps);
  return a;
}

static GstBuffer *
sample_buf (GPtrArray * a, guint i)
{
  return gst_sample_get_buffer (g_ptr_array_index (a, i));
}

/* The planes of @buf and @ref (both @info, any layout) hold the same
 * pixels: compare the meaningful bytes of each row. */
static void
assert_same_frame (const GstVideoInfo * info, GstBuffer * buf,
    GstBuffer * ref, const gchar * what)
{
  GstVideoFrame a, b;
  guint p;
  gint y;

  /* GStreamer 1.18's gst_video_frame_map() takes a GstVideoInfo that is
   * not const */
  fail_unless (gst_video_frame_map (&a, (GstVideoInfo *) info, buf,
          GST_MAP_READ), "%s: cannot map the frame", what);
  fail_unless (gst_video_frame_map (&b, (GstVideoInfo *) info, ref,
          GST_MAP_READ));
  for (p = 0; p < GST_VIDEO_FRAME_N_PLANES (&a); p++) {
    gint comps[GST_VIDEO_MAX_COMPONENTS];
    gint rows, bytes;

    gst_video_format_info_component (info->finfo, p, comps);
    rows = GST_VIDEO_FRAME_COMP_HEIGHT (&a, comps[0]);
    bytes = MIN (GST_VIDEO_FRAME_PLANE_STRIDE (&a, p),
        GST_VIDEO_FRAME_PLANE_STRIDE (&b, p));
    if (GST_VIDEO_FRAME_COMP_PSTRIDE (&a, comps[0]) > 0)
      bytes = MIN (bytes, GST_VIDEO_FRAME_COMP_WIDTH (&a, comps[0]) *
          GST_VIDEO_FRAME_COMP_PSTRIDE (&a, comps[0]));
    /* v210: 16 bytes per 6 pixels; the rest of the row is padding, which
     * nobody writes (a request that upstream filled in zbfilter's pool
     * keeps there what the ring held before) */
    if (GST_VIDEO_INFO_FORMAT (info) == GST_VIDEO_FORMAT_v210)
      bytes = MIN (bytes, (GST_VIDEO_INFO_WIDTH (info) + 5) / 6 * 16);
    for (y = 0; y < rows; y++) {
      const guint8 *ra = (guint8 *) GST_VIDEO_FRAME_PLANE_DATA (&a, p) +
          y * GST_VIDEO_FRAME_PLANE_STRIDE (&a, p);
      const guint8 *rb = (guint8 *) GST_VIDEO_FRAME_PLANE_DATA (&b, p) +
          y * GST_VIDEO_FRAME_PLANE_STRIDE (&b, p);

      if (memcmp (ra, rb, bytes) != 0)
        fail ("%s: plane %u row %d differs", what, p, y);
    }
  }
  gst_video_frame_unmap (&a);
  gst_video_frame_unmap (&b);
}

static void
info_of (const gchar * caps_str, GstVideoInfo * info)
{
  GstCaps *caps = gst_caps_from_string (caps_str);

  fail_unless (gst_video_info_from_caps (info, caps));
  gst_caps_unref (caps);
}

/* ------------------------------------------------------------------ */
/* zbsink writes packed rows */

GST_START_TEST (test_sink_writes_packed)
{
  const Case *c = case_at ((guint) __i__);
  gchar *name = zbt_name ();
  gchar *caps = caps_of (c);
  zb_reader_config cfg = {.metadata_size = 4096,.payload_size = 4 << 20 };
  GPtrArray *ref = reference (c, "", N_FRAMES);
  GstElement *w;
  zb_reader *r;
  gint row[3], rows[3];
  guint i;

  fail_unless_equals_int (zb_reader_create (name, &cfg, &r), 0);
  w = zbt_pipeline ("videotestsrc num-buffers=%d ! %s ! zbsink "
      "buffer-name=%s frame-format=raw sync=false", N_FRAMES, caps, name);
  zbt_set_state (w, GST_STATE_PLAYING);
  for (i = 0; i < N_FRAMES; i++) {
    GBytes *want = expected_packed (c, sample_buf (ref, i));
    zb_frame f;
    int ret = zb_reader_read (r, 10000, &f);

    fail_unless_equals_int (ret, 0);
    fail_unless_equals_int (f.size, g_bytes_get_size (want));
    if (packed_planes (c, row, rows) == 0) {
      /* v210, default layout: the row padding is not the frame's */
      gint stride = (c->w + 47) / 48 * 128, y;

      for (y = 0; y < c->h; y++)
        fail_unless (memcmp ((guint8 *) f.data + y * stride,
                (guint8 *) g_bytes_get_data (want, NULL) + y * stride,
                (c->w + 5) / 6 * 16) == 0, "%s %dx%d: frame %u row %d "
            "differs", c->format, c->w, c->h, i, y);
    } else {
      gssize off = first_difference (c, f.data, g_bytes_get_data (want,
              NULL), f.size);

      fail_unless (off < 0, "%s %dx%d: frame %u is not the packed "
          "reference (byte %" G_GSSIZE_FORMAT ")", c->format, c->w, c->h, i,
          off);
    }
    zb_reader_release (r, &f);
    g_bytes_unref (want);
  }
  zbt_wait_eos (w, 10000);
  zbt_stop_and_free (w);
  zb_reader_destroy (r);
  fail_unless (zbt_no_leftovers (name));
  g_ptr_array_unref (ref);
  g_free (caps);
  g_free (name);
}

GST_END_TEST;

/* ------------------------------------------------------------------ */
/* zbsrc reads packed rows */

/* zbsink raw -> zbsrc -> videoconvert: the same RGBA pixels as without
 * the two */
GST_START_TEST (test_roundtrip_videoconvert)
{
  const Case *c = case_at ((guint) __i__);
  gchar *name = zbt_name ();
  gchar *caps = caps_of (c);
  gchar *rgba = g_strdup_printf ("video/x-raw,format=RGBA,width=%d,height=%d,"
      "framerate=30/1", c->w, c->h);
  gchar *tail = g_strdup_printf (" ! videoconvert ! %s", rgba);
  GPtrArray *ref = reference (c, tail, N_FRAMES), *got;
  GstElement *rd, *w;
  GstVideoInfo info;
  guint i;

  rd = zbt_pipeline ("zbsrc buffer-name=%s on-writer-lost=eos "
      "payload-size=4194304 ! videoconvert ! %s ! appsink name=sink "
      "sync=false", name, rgba);
  /* live: no preroll to wait for */
  fail_if (gst_element_set_state (rd, GST_STATE_PLAYING) ==
      GST_STATE_CHANGE_FAILURE);
  w = zbt_pipeline ("videotestsrc num-buffers=%d ! %s ! zbsink "
      "buffer-name=%s frame-format=raw sync=false", N_FRAMES, caps, name);
  zbt_set_state (w, GST_STATE_PLAYING);

  got = pull (rd, N_FRAMES);
  info_of (rgba, &info);
  for (i = 0; i < N_FRAMES; i++) {
    gchar *what = g_strdup_printf ("%s %dx%d frame %u", c->format, c->w,
        c->h, i);

    assert_same_frame (&info, sample_buf (got, i), sample_buf (ref, i), what);
    g_free (what);
  }
  g_ptr_array_unref (got);
  zbt_wait_eos (w, 10000);
  zbt_stop_and_free (w);
  zbt_wait_eos (rd, 10000);
  zbt_stop_and_free (rd);
  fail_unless (zbt_no_leftovers (name));
  g_ptr_array_unref (ref);
  g_free (tail);
  g_free (rgba);
  g_free (caps);
  g_free (name);
}

GST_END_TEST;

/* The ALLOCATION query at appsink: answered here, with or without
 * GstVideoMeta, whatever appsink itself would say. */
static GstPadProbeReturn
allocation_probe (GstPad * pad, GstPadProbeInfo * pinfo, gpointer data)
{
  GstQuery *q = GST_PAD_PROBE_INFO_QUERY (pinfo);
  gboolean with_meta = GPOINTER_TO_INT (data);

  if (GST_QUERY_TYPE (q) != GST_QUERY_ALLOCATION)
    return GST_PAD_PROBE_OK;
  if (with_meta)
    gst_query_add_allocation_meta (q, GST_VIDEO_META_API_TYPE, NULL);
  return GST_PAD_PROBE_HANDLED;
}

static void
check_src_output (gboolean with_meta)
{
  const Case *c;
  guint k;

  for (k = 0; k < n_cases; k++) {
    gchar *name = zbt_name ();
    gchar *caps, *what;
    GPtrArray *ref, *got;
    GstElement *rd, *w;
    GstVideoInfo info;
    GstPad *pad;
    gint row[3], rows[3];
    guint n, i, p;

    c = case_at (k);
    caps = caps_of (c);
    ref = reference (c, "", N_FRAMES);
    info_of (caps, &info);
    n = packed_planes (c, row, rows);

    rd = zbt_pipeline ("zbsrc buffer-name=%s on-writer-lost=eos "
        "payload-size=4194304 ! appsink name=sink sync=false", name);
    pad = gst_element_get_static_pad (get (rd, "sink"), "sink");
    gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_QUERY_DOWNSTREAM,
        allocation_probe, GINT_TO_POINTER (with_meta), NULL);
    gst_object_unref (pad);
    /* live: no preroll to wait for */
    fail_if (gst_element_set_state (rd, GST_STATE_PLAYING) ==
        GST_STATE_CHANGE_FAILURE);
    w = zbt_pipeline ("videotestsrc num-buffers=%d ! %s ! zbsink "
        "buffer-name=%s frame-format=raw sync=false", N_FRAMES, caps, name);
    zbt_set_state (w, GST_STATE_PLAYING);

    got = pull (rd, N_FRAMES);
    for (i = 0; i < N_FRAMES; i++) {
      GstBuffer *buf = sample_buf (got, i);
      GstVideoMeta *vm = gst_buffer_get_video_meta (buf);
      gsize packed_size = 0;

      what = g_strdup_printf ("%s %dx%d frame %u (%s meta)", c->format, c->w,
          c->h, i, with_meta ? "with" : "without");

      for (p = 0; p < n; p++)
        packed_size += (gsize) row[p] * rows[p];
      if (n == 0 || packed_size == GST_VIDEO_INFO_SIZE (&info)) {
        /* the default layout is the raw layout: nothing to describe */
        fail_unless (vm == NULL, "%s: a video meta", what);
        fail_unless_equals_int (gst_buffer_get_size (buf),
            GST_VIDEO_INFO_SIZE (&info));
      } else if (with_meta) {
        gsize off = 0;

        fail_unless (vm != NULL, "%s: no video meta", what);
        fail_unless_equals_int (vm->n_planes, n);
        for (p = 0; p < n; p++) {
          fail_unless_equals_int (vm->stride[p], row[p]);
          fail_unless_equals_int (vm->offset[p], off);
          off += (gsize) row[p] * rows[p];
        }
        fail_unless_equals_int (gst_buffer_get_size (buf), off);
      } else {
        /* repacked into the default layout */
        fail_unless (vm == NULL, "%s: a video meta", what);
        fail_unless_equals_int (gst_buffer_get_size (buf),
            GST_VIDEO_INFO_SIZE (&info));
      }
      assert_same_frame (&info, buf, sample_buf (ref, i), what);
      g_free (what);
    }
    g_ptr_array_unref (got);
    zbt_wait_eos (w, 10000);
    zbt_stop_and_free (w);
    zbt_wait_eos (rd, 10000);
    zbt_stop_and_free (rd);
    fail_unless (zbt_no_leftovers (name));
    g_ptr_array_unref (ref);
    g_free (caps);
    g_free (name);
  }
}

/* downstream reads GstVideoMeta: the ring's packed frames, described */
GST_START_TEST (test_src_video_meta)
{
  check_src_output (TRUE);
}

GST_END_TEST;

/* downstream does not: zbsrc repacks into the default layout */
GST_START_TEST (test_src_repack_without_meta)
{
  check_src_output (FALSE);
}

GST_END_TEST;

/* ------------------------------------------------------------------ */
/* zbfilter */

typedef struct
{
  int fd;                       /* each request's size goes here */
} EchoServer;

static int
echo (zb_duplex_server * server, const zb_frame * request, void *user_data)
{
  EchoServer *s = user_data;
  guint64 size = request->size;

  if (write (s->fd, &size, sizeof (size)) != sizeof (size))
    return -EIO;
  return zb_duplex_server_respond (server, request->data, request->size);
}

/* A forked server that answers every request with its bytes and reports
 * each request's size on a pipe; stopped with SIGKILL. */
static GPid
spawn_echo_server (const gchar * channel, int *size_fd)
{
  zb_duplex_config cfg = {.payload_size = 4 << 20,.timeout_ms = 5000 };
  int fds[2];
  GPid pid;

  fail_unless (pipe (fds) == 0);
  pid = fork ();
  if (pid == 0) {
    static const char meta[] = "{\"type\":\"echo\",\"frame_format\":\"raw\"}";
    EchoServer s = { fds[1] };
    zb_duplex_server *server;

    close (fds[0]);
    if (zb_duplex_server_create (channel, &cfg, &server) < 0)
      _exit (1);
    zb_duplex_server_set_metadata (server, meta, sizeof (meta) - 1);
    zb_duplex_server_run (server, echo, &s);
    _exit (0);
  }
  fail_unless (pid > 0);
  close (fds[1]);
  *size_fd = fds[0];
  zbt_wait_server (channel, pid);
  return pid;
}

static void
remove_channel (const gchar * channel)
{
  gchar *req = g_strdup_printf ("%s_request", channel);
  gchar *resp = g_strdup_printf ("%s_response", channel);

  zb_cleanup (req);
  zb_cleanup (resp);
  fail_unless (zbt_no_leftovers (req));
  fail_unless (zbt_no_leftovers (resp));
  g_free (req);
  g_free (resp);
}

/* zbfilter frame-format=raw sends packed requests and reads the echoed
 * packed responses: downstream gets the input frames back */
GST_START_TEST (test_filter_raw_echo)
{
  const Case *c = case_at ((guint) __i__);
  gchar *channel = zbt_name ();
  gchar *caps = caps_of (c);
  GPtrArray *ref = reference (c, "", N_FRAMES), *got;
  GstElement *p;
  GstVideoInfo info;
  int size_fd;
  GPid server = spawn_echo_server (channel, &size_fd);
  gint row[3], rows[3];
  guint n = packed_planes (c, row, rows), i, k;
  gsize want = 0;

  info_of (caps, &info);
  for (k = 0; k < n; k++)
    want += (gsize) row[k] * rows[k];
  if (n == 0)
    want = GST_VIDEO_INFO_SIZE (&info);

  p = zbt_pipeline ("videotestsrc num-buffers=%d ! %s ! zbfilter "
      "channel-name=%s frame-format=raw payload-size=4194304 ! "
      "appsink name=sink sync=false", N_FRAMES, caps, channel);
  zbt_set_state (p, GST_STATE_PLAYING);
  got = pull (p, N_FRAMES);
  for (i = 0; i < N_FRAMES; i++) {
    gchar *what = g_strdup_printf ("%s %dx%d frame %u", c->format, c->w,
        c->h, i);
    guint64 size = 0;

    fail_unless (read (size_fd, &size, sizeof (size)) == sizeof (size));
    fail_unless_equals_uint64 (size, want);
    assert_same_frame (&info, sample_buf (got, i), sample_buf (ref, i), what);
    g_free (what);
  }
  g_ptr_array_unref (got);
  zbt_wait_eos (p, 10000);
  zbt_stop_and_free (p);
  zbt_kill (server, SIGKILL, 5000);
  close (size_fd);
  remove_channel (channel);
  g_ptr_array_unref (ref);
  g_free (caps);
  g_free (channel);
}

GST_END_TEST;

static Suite *
zbraw_suite (void)
{
  Suite *s = suite_create ("zbraw");
  TCase *tc = tcase_create ("raw");

  if (g_getenv ("ZBT_VALGRIND") != NULL)
    n_cases = G_N_ELEMENTS (valgrind_cases);
  tcase_set_timeout (tc, 120);
  tcase_add_loop_test (tc, test_sink_writes_packed, 0, n_cases);
  tcase_add_loop_test (tc, test_roundtrip_videoconvert, 0, n_cases);
  tcase_add_test (tc, test_src_video_meta);
  tcase_add_test (tc, test_src_repack_without_meta);
  tcase_add_loop_test (tc, test_filter_raw_echo, 0, n_cases);
  suite_add_tcase (s, tc);
  return s;
}

ZBT_MAIN (zbraw_suite);
