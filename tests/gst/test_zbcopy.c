/* zbsink's copier of large frames (gst/gstzbcopy.c) on its own: every byte
 * of frames copied by three threads, plane by plane with strides or flat,
 * and when the helpers are asked to take part. */

#include <string.h>

#include <gst/check/gstcheck.h>

#include "gstzbcopy.h"
#include "zbtest.h"

/* 1080p I420 with padded source rows, copied to the default layout */
#define W 1920
#define H 1080
#define SRC_STRIDE(p) ((p) ? W / 2 + 32 : W + 64)
#define DST_STRIDE(p) ((p) ? W / 2 : W)
#define ROWS(p) ((p) ? H / 2 : H)
#define ROW_BYTES(p) ((p) ? W / 2 : W)
#define FRAMES 6

typedef struct
{
  guint8 *src[3];
  guint8 *dst[3];
} Frame;

static guint8
byte_at (gint n, gint p, gint y, gint x)
{
  return (guint8) (n * 31 + p * 50 + y * 3 + x);
}

static void
frame_init (Frame * f, gint n)
{
  gint p, y, x;

  for (p = 0; p < 3; p++) {
    f->src[p] = g_malloc ((gsize) SRC_STRIDE (p) * ROWS (p));
    f->dst[p] = g_malloc0 ((gsize) DST_STRIDE (p) * ROWS (p));
    for (y = 0; y < ROWS (p); y++)
      for (x = 0; x < SRC_STRIDE (p); x++)
        f->src[p][(gsize) y * SRC_STRIDE (p) + x] = x < ROW_BYTES (p) ?
            byte_at (n, p, y, x) : 0xee;
  }
}

static gboolean
frame_copy (GstZbCopier * c, Frame * f)
{
  GstZbCopyPlane planes[3];
  gint p;

  for (p = 0; p < 3; p++) {
    planes[p].dst = f->dst[p];
    planes[p].src = f->src[p];
    planes[p].dst_stride = DST_STRIDE (p);
    planes[p].src_stride = SRC_STRIDE (p);
    planes[p].row_bytes = ROW_BYTES (p);
    planes[p].rows = ROWS (p);
  }
  return gst_zb_copier_run (c, planes, 3);
}

static void
frame_check (Frame * f, gint n)
{
  gint p, y, x;

  for (p = 0; p < 3; p++)
    for (y = 0; y < ROWS (p); y++)
      for (x = 0; x < DST_STRIDE (p); x++)
        if (f->dst[p][(gsize) y * DST_STRIDE (p) + x] != byte_at (n, p, y, x))
          fail ("frame %d plane %d row %d byte %d is %u, want %u", n, p, y, x,
              f->dst[p][(gsize) y * DST_STRIDE (p) + x], byte_at (n, p, y, x));
}

static void
frame_clear (Frame * f)
{
  gint p;

  for (p = 0; p < 3; p++) {
    g_free (f->src[p]);
    g_free (f->dst[p]);
  }
}

/* Frames back to back are shared with the helpers (all but the first,
 * which follows no copy); each arrives whole, row by row. */
GST_START_TEST (test_back_to_back_shared)
{
  GstZbCopier *c = gst_zb_copier_new (3);
  Frame f[FRAMES];
  gboolean shared[FRAMES];
  gint n;

  for (n = 0; n < FRAMES; n++)
    frame_init (&f[n], n);
  for (n = 0; n < FRAMES; n++)
    shared[n] = frame_copy (c, &f[n]);
  gst_zb_copier_free (c);

  fail_if (shared[0], "the first copy was shared");
  for (n = 1; n < FRAMES; n++)
    fail_unless (shared[n], "copy %d, back to back, was not shared", n);
  for (n = 0; n < FRAMES; n++) {
    frame_check (&f[n], n);
    frame_clear (&f[n]);
  }
}

GST_END_TEST;

/* A copy after a pause stays in the calling thread; the next one, right
 * behind it, is shared again. */
GST_START_TEST (test_after_pause_alone)
{
  GstZbCopier *c = gst_zb_copier_new (2);
  Frame f[3];
  gboolean shared[3];
  gint n;

  for (n = 0; n < 3; n++)
    frame_init (&f[n], n);
  frame_copy (c, &f[0]);
  g_usleep (20 * 1000);
  shared[1] = frame_copy (c, &f[1]);
  shared[2] = frame_copy (c, &f[2]);
  gst_zb_copier_free (c);

  fail_if (shared[1], "a copy 20 ms after the last one was shared");
  fail_unless (shared[2], "a copy right after the last one was not shared");
  for (n = 0; n < 3; n++) {
    frame_check (&f[n], n);
    frame_clear (&f[n]);
  }
}

GST_END_TEST;

/* Contiguous bytes: rows of 64 KiB and a tail; small copies and a copier
 * of one thread never share. */
GST_START_TEST (test_flat_and_small)
{
  gsize sizes[] = { 3 * 1024 * 1024 + 4321, 3 * 1024 * 1024 + 4321,
    512 * 1024, 512 * 1024
  };
  GstZbCopier *c = gst_zb_copier_new (4);
  GstZbCopier *one = gst_zb_copier_new (1);
  guint8 *src[G_N_ELEMENTS (sizes)], *dst[G_N_ELEMENTS (sizes)];
  gboolean shared[G_N_ELEMENTS (sizes)];
  guint i;
  gsize k;

  for (i = 0; i < G_N_ELEMENTS (sizes); i++) {
    src[i] = g_malloc (sizes[i]);
    dst[i] = g_malloc0 (sizes[i]);
    for (k = 0; k < sizes[i]; k++)
      src[i][k] = (guint8) (k * 7 + i + (k >> 16));
  }
  for (i = 0; i < G_N_ELEMENTS (sizes); i++)
    shared[i] = gst_zb_copier_copy (c, dst[i], src[i], sizes[i]);
  fail_unless (shared[1], "a large copy back to back was not shared");
  fail_if (shared[2] || shared[3], "a copy of 512 KiB was shared");
  fail_if (gst_zb_copier_copy (one, dst[0], src[0], sizes[0]) ||
      gst_zb_copier_copy (one, dst[0], src[0], sizes[0]),
      "a copier of one thread shared");
  gst_zb_copier_free (c);
  gst_zb_copier_free (one);

  for (i = 0; i < G_N_ELEMENTS (sizes); i++) {
    fail_unless (memcmp (dst[i], src[i], sizes[i]) == 0, "copy %u differs", i);
    g_free (src[i]);
    g_free (dst[i]);
  }
}

GST_END_TEST;

/* Copies of at least 8 MiB use streaming stores (gst_zb_copier_get_streamed
 * counts them), smaller ones do not; either way every byte arrives, at
 * any alignment of source and destination, with a tail shorter than a
 * store, flat and with strides (a 4K I420 frame with padded source rows),
 * alone and shared with helpers. */
GST_START_TEST (test_streamed)
{
  const gsize big = 12 * 1024 * 1024 + 77, small = 3 * 1024 * 1024 + 5;
  GstZbCopier *one = gst_zb_copier_new (1);
  GstZbCopier *two = gst_zb_copier_new (2);
  guint8 *src = g_malloc (big + 64), *dst = g_malloc (big + 64);
  GstZbCopyPlane planes[3];
  guint a, p;
  gsize k;

  for (k = 0; k < big + 64; k++)
    src[k] = (guint8) (k * 13 + (k >> 12));
  for (a = 0; a < 3; a++) {
    /* destination off a 16-byte boundary by 0, 3 and 15 */
    gsize doff = a == 0 ? 0 : (a == 1 ? 3 : 15), soff = 7 * a;

    memset (dst, 0, big + 64);
    gst_zb_copier_copy (one, dst + doff, src + soff, big);
    fail_unless (memcmp (dst + doff, src + soff, big) == 0, "offset %u", a);
    fail_unless (dst[doff + big] == 0, "wrote past the end");
  }
  fail_unless_equals_uint64 (gst_zb_copier_get_streamed (one), 3);
  gst_zb_copier_copy (one, dst, src, small);
  fail_unless (memcmp (dst, src, small) == 0);
  fail_unless_equals_uint64 (gst_zb_copier_get_streamed (one), 3);

  /* 4K I420, source rows 64 bytes longer: row by row, twice back to
   * back so that the second is shared with the helper */
  memset (dst, 0, big + 64);
  for (p = 0, k = 0; p < 3; p++) {
    guint w = p ? 1920 : 3840, h = p ? 1080 : 2160;

    planes[p].dst = dst + k;
    planes[p].src = src + k + 1;
    planes[p].dst_stride = w;
    planes[p].src_stride = w + 64;
    planes[p].row_bytes = w;
    planes[p].rows = h;
    k += (gsize) w *h;
  }
  fail_if (gst_zb_copier_run (two, planes, 3));
  fail_unless (gst_zb_copier_run (two, planes, 3), "not shared");
  for (p = 0; p < 3; p++)
    for (k = 0; k < planes[p].rows; k++)
      fail_unless (memcmp (planes[p].dst + k * planes[p].dst_stride,
              planes[p].src + k * planes[p].src_stride,
              planes[p].row_bytes) == 0, "plane %u row %" G_GSIZE_FORMAT, p, k);
  fail_unless_equals_uint64 (gst_zb_copier_get_streamed (two), 2);
  gst_zb_copier_free (one);
  gst_zb_copier_free (two);
  g_free (src);
  g_free (dst);
}

GST_END_TEST;

static Suite *
zbcopy_suite (void)
{
  Suite *s = suite_create ("zbcopy");
  TCase *tc = tcase_create ("general");

  tcase_add_test (tc, test_back_to_back_shared);
  tcase_add_test (tc, test_after_pause_alone);
  tcase_add_test (tc, test_flat_and_small);
  tcase_add_test (tc, test_streamed);
  suite_add_tcase (s, tc);
  return s;
}

ZBT_MAIN (zbcopy_suite);
