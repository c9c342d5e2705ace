/* Frames that do not fit from the ring's write position (issue 14 E,
 * docs/frame-format.md "Pad records", docs/protocol.md §4): in the gst
 * format zbsink pads the ring up to its end and every buffer arrives; in
 * the raw format it posts a clear error (or, leaky, drops the frame with a
 * warning), and never hangs or blames the reader.
 *
 * The writer is appsrc ! zbsink, the reader zbsrc payload-size=2048 !
 * fakesink enable-last-sample=false (checking each buffer in its handoff),
 * both in this process. The reader does not keep its newest frame (appsink
 * keeps the last pulled sample, fakesink its last sample by default): a
 * frame held in the ring can leave no room for the next one anywhere, which
 * no writer can help and zbsrc only resolves after its stall-timeout
 * (test_zbstall.c); here every frame must pass without that. */

#include "zbtest.h"

#include <gst/app/gstappsrc.h>
#include <errno.h>
#include <string.h>

#define RING 2048

static GstBuffer *
make_buffer (gsize size, guint n)
{
  GstBuffer *buf = gst_buffer_new_allocate (NULL, size, NULL);
  GstMapInfo map;
  gsize i;

  gst_buffer_map (buf, &map, GST_MAP_WRITE);
  for (i = 0; i < size; i++)
    map.data[i] = (guint8) (i * 7 + n);
  gst_buffer_unmap (buf, &map);
  GST_BUFFER_OFFSET (buf) = n;
  return buf;
}

static struct
{
  const gsize *sizes;
  guint n, first;               /* buffer numbers first.. first+n-1 */
  gint got;                     /* atomic */
  gint bad;                     /* atomic: 1 + index of a wrong buffer */
} expect;

static void
on_handoff (GstElement * sink, GstBuffer * buf, GstPad * pad, gpointer data)
{
  guint i = (guint) g_atomic_int_get (&expect.got);
  GstMapInfo map;
  gsize k;

  if (i >= expect.n || gst_buffer_get_size (buf) != expect.sizes[i]) {
    g_atomic_int_compare_and_exchange (&expect.bad, 0, (gint) i + 1);
    g_atomic_int_inc (&expect.got);
    return;
  }
  gst_buffer_map (buf, &map, GST_MAP_READ);
  for (k = 0; k < map.size; k++)
    if (map.data[k] != (guint8) (k * 7 + expect.first + i))
      break;
  if (k != map.size)
    g_atomic_int_compare_and_exchange (&expect.bad, 0, (gint) i + 1);
  gst_buffer_unmap (buf, &map);
  g_atomic_int_inc (&expect.got);
}

typedef struct
{
  gchar *name;
  gchar *checked;               /* the buffer of the reader checked */
  GstElement *rp, *wp;
  GstElement *in, *out;
} fit_pipes;

/* @reader_id NULL: the reader checked is that of NAME; else it is the
 * reader of NAME@ID (the writer's outputs, gstzbsinkoutput.c) and a
 * reader of NAME with a large ring runs beside it. */
static void
pipes_start (fit_pipes * f, const gchar * sink_props, const gchar * reader_id)
{
  f->name = zbt_name ();
  if (reader_id) {
    f->checked = g_strdup_printf ("%s@%s", f->name, reader_id);
    f->rp = zbt_pipeline ("zbsrc buffer-name=%s ! fakesink sync=false "
        "enable-last-sample=false zbsrc buffer-name=%s reader-id=%s "
        "payload-size=%d ! fakesink name=out sync=false "
        "enable-last-sample=false signal-handoffs=true", f->name, f->name,
        reader_id, RING);
  } else {
    f->checked = g_strdup (f->name);
    f->rp = zbt_pipeline ("zbsrc buffer-name=%s payload-size=%d ! "
        "fakesink name=out sync=false enable-last-sample=false "
        "signal-handoffs=true", f->name, RING);
  }
  /* caps: zbsink writes a NAME@ID reader's metadata (and with it the
   * frame format) only once it has caps */
  f->wp = zbt_pipeline ("appsrc name=in format=bytes%s ! zbsink "
      "buffer-name=%s sync=false %s", reader_id ?
      " caps=application/x-test" : "", f->name, sink_props);
  f->in = gst_bin_get_by_name (GST_BIN (f->wp), "in");
  f->out = gst_bin_get_by_name (GST_BIN (f->rp), "out");
  g_signal_connect (f->out, "handoff", G_CALLBACK (on_handoff), NULL);
  fail_unless (gst_element_set_state (f->rp, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  /* not zbt_set_state (): zbsink prerolls on the first buffer */
  fail_unless (gst_element_set_state (f->wp, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  if (reader_id) {
    /* the reader of NAME@ID gets the frames from when it joined */
    GstMessage *msg = zbt_pop_element (GST_ELEMENT_BUS (f->wp),
        "zbsink-reader-joined", 10000);

    fail_unless (msg != NULL, "%s did not join", f->checked);
    gst_message_unref (msg);
  }
}

static void
pipes_stop (fit_pipes * f)
{
  gst_object_unref (f->in);
  gst_object_unref (f->out);
  zbt_stop_and_free (f->wp);
  zbt_stop_and_free (f->rp);
  fail_unless (zbt_no_leftovers (f->name));
  fail_unless (zbt_no_leftovers (f->checked));
  g_free (f->checked);
  g_free (f->name);
}

static void
expect_buffers (fit_pipes * f, const gsize * sizes, guint n, guint first)
{
  expect.sizes = sizes;
  expect.n = n;
  expect.first = first;
  g_atomic_int_set (&expect.got, 0);
  g_atomic_int_set (&expect.bad, 0);
}

/* Wait until every expected buffer arrived, each within 5 s of the one
 * before (a stall fails here), intact and in order. */
static void
wait_buffers (void)
{
  zbt_wait_progress (&expect.got, &expect.bad, expect.n, expect.sizes, 5000);
}

/* Push @n buffers of @sizes and check that each arrives. */
static void
push_and_check (fit_pipes * f, const gsize * sizes, guint n)
{
  guint i;

  expect_buffers (f, sizes, n, 0);
  for (i = 0; i < n; i++)
    fail_unless_equals_int (gst_app_src_push_buffer (GST_APP_SRC (f->in),
            make_buffer (sizes[i], i)), GST_FLOW_OK);
  wait_buffers ();
}

/* 300, 300, 300, 1200, 100, 900, ... with a 2048-byte ring: the 1200-byte
 * buffer (1296 bytes with both headers) fits neither in the 860 bytes up
 * to the end nor in front of position 1188. Before the fix 3 buffers
 * arrived and zbsink retried -ENOBUFS for ever (write-timeout=0). To the
 * reader of NAME, or of NAME@ID with @reader_id. */
static void
check_varying_sizes (const gchar * reader_id)
{
  static const gsize pattern[] = { 300, 300, 300, 1200, 100, 900 };
  gsize sizes[60];
  fit_pipes f;
  guint i;

  for (i = 0; i < G_N_ELEMENTS (sizes); i++)
    sizes[i] = pattern[i % G_N_ELEMENTS (pattern)];
  pipes_start (&f, "", reader_id);
  push_and_check (&f, sizes, G_N_ELEMENTS (sizes));
  zbt_assert_no_error (GST_ELEMENT_BUS (f.wp));
  zbt_assert_no_error (GST_ELEMENT_BUS (f.rp));
  pipes_stop (&f);
}

GST_START_TEST (test_gst_varying_sizes)
{
  check_varying_sizes (NULL);
}

GST_END_TEST;

/* The same for a reader of NAME@ID: zbsink pads its ring as it pads
 * NAME's (one frame writer, gstzbsinkframe.c), every buffer arrives. */
GST_START_TEST (test_gst_varying_sizes_reader_id)
{
  check_varying_sizes ("x");
}

GST_END_TEST;

/* Random sizes (seeded; the seed is printed, ZBT_SEED=N replays it) up to
 * the largest buffer of the ring (16 + 80 + size <= P - 16). */
GST_START_TEST (test_gst_random_sizes)
{
  const gchar *env = g_getenv ("ZBT_SEED");
  guint32 seed = env ? (guint32) g_ascii_strtoull (env, NULL, 0) :
      g_random_int ();
  GRand *rand = g_rand_new_with_seed (seed);
  gsize sizes[300];
  fit_pipes f;
  guint i;

  g_print ("test_gst_random_sizes: seed %u (replay with ZBT_SEED=%u)\n",
      seed, seed);
  for (i = 0; i < G_N_ELEMENTS (sizes); i++)
    sizes[i] = g_rand_int_range (rand, 1, g_rand_boolean (rand) ? 100 :
        RING - 16 - 96 + 1);
  g_rand_free (rand);
  pipes_start (&f, "", NULL);
  push_and_check (&f, sizes, G_N_ELEMENTS (sizes));
  zbt_assert_no_error (GST_ELEMENT_BUS (f.wp));
  pipes_stop (&f);
}

GST_END_TEST;

/* Raw: 300, 300, 300, then 1200 bytes, which fits the 2048-byte ring but
 * neither before its end (948 + 1216 > 2048) nor in front of position 948:
 * a clear error at once, not a hang and not "freed no space". */
GST_START_TEST (test_raw_no_fit_error)
{
  static const gsize sizes[] = { 300, 300, 300 };
  fit_pipes f;
  GstMessage *msg;
  GError *err = NULL;
  gchar *dbg = NULL;

  pipes_start (&f, "frame-format=raw write-timeout=3000", NULL);
  push_and_check (&f, sizes, G_N_ELEMENTS (sizes));
  fail_unless_equals_int (gst_app_src_push_buffer (GST_APP_SRC (f.in),
          make_buffer (1200, 3)), GST_FLOW_OK);
  msg = zbt_pop (GST_ELEMENT_BUS (f.wp), GST_MESSAGE_ERROR, 2000);
  fail_unless (msg != NULL, "no error within 2 s");
  gst_message_parse_error (msg, &err, &dbg);
  GST_INFO ("error: %s (%s)", err->message, dbg);
  fail_unless (g_error_matches (err, GST_RESOURCE_ERROR,
          GST_RESOURCE_ERROR_NO_SPACE_LEFT), "%s", err->message);
  fail_unless (strstr (err->message, "A frame of 1200 bytes cannot be "
          "written at the current position of the ring") != NULL, "%s",
      err->message);
  fail_unless (strstr (err->message, "at most 1084 bytes fit") != NULL, "%s",
      err->message);
  fail_unless (strstr (err->message, "up to 1000 bytes always fit") != NULL,
      "%s", err->message);
  fail_unless (strstr (err->message, "freed no space") == NULL);
  g_error_free (err);
  g_free (dbg);
  gst_message_unref (msg);
  gst_element_set_state (f.wp, GST_STATE_NULL);
  gst_object_unref (f.in);
  gst_object_unref (f.out);
  gst_object_unref (f.wp);
  zbt_stop_and_free (f.rp);
  fail_unless (zbt_no_leftovers (f.name));
  g_free (f.checked);
  g_free (f.name);
}

GST_END_TEST;

/* Raw and leaky: the frame that does not fit is dropped with one warning,
 * the smaller ones after it arrive. */
GST_START_TEST (test_raw_no_fit_leaky_drops)
{
  static const gsize before[] = { 300, 300, 300 };
  static const gsize after[] = { 100, 200 };
  fit_pipes f;
  GstMessage *msg;
  guint64 drops = 0;
  guint i;
  GstElement *sink;

  pipes_start (&f, "frame-format=raw leaky=true name=sink", NULL);
  push_and_check (&f, before, G_N_ELEMENTS (before));
  expect_buffers (&f, after, G_N_ELEMENTS (after), 4);
  fail_unless_equals_int (gst_app_src_push_buffer (GST_APP_SRC (f.in),
          make_buffer (1200, 3)), GST_FLOW_OK);
  for (i = 0; i < G_N_ELEMENTS (after); i++)
    fail_unless_equals_int (gst_app_src_push_buffer (GST_APP_SRC (f.in),
            make_buffer (after[i], 4 + i)), GST_FLOW_OK);
  wait_buffers ();
  msg = zbt_pop (GST_ELEMENT_BUS (f.wp), GST_MESSAGE_WARNING, 2000);
  fail_unless (msg != NULL, "no warning");
  gst_message_unref (msg);
  sink = gst_bin_get_by_name (GST_BIN (f.wp), "sink");
  drops = zbt_stat_u64 (sink, "drops");
  fail_unless_equals_int (drops, 1);
  gst_object_unref (sink);
  pipes_stop (&f);
}

GST_END_TEST;

static Suite *
zbfit_suite (void)
{
  Suite *s = suite_create ("zbfit");
  TCase *tc = tcase_create ("general");

  tcase_set_timeout (tc, 60);
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_gst_varying_sizes);
  tcase_add_test (tc, test_gst_varying_sizes_reader_id);
  tcase_add_test (tc, test_gst_random_sizes);
  tcase_add_test (tc, test_raw_no_fit_error);
  tcase_add_test (tc, test_raw_no_fit_leaky_drops);
  return s;
}

ZBT_MAIN (zbfit_suite);
