/* A writer stalled by buffers that zbsrc's downstream holds (issue 14 E,
 * docs/elements.md "Held buffers and a stalled writer"): zbsrc moves held
 * buffers that nobody has mapped out of the ring after stall-timeout, so
 * that the writer goes on; a mapped buffer stays until it is unmapped.
 *
 * The pin: space returns to the writer in ring order, and a sink keeps its
 * newest buffer (fakesink enable-last-sample=true, the default) until the
 * next one arrives. With 300, 300, 300 then 800 bytes into a 2048-byte
 * ring, the third buffer (ring bytes 792..1188) is kept, and the 800-byte
 * buffer (896 bytes with the headers) fits neither in the 860 bytes up to
 * the end nor in [0, 792). Before zbsrc moved held buffers, 3 buffers
 * arrived and the writer waited for ever. */

#include "zbtest.h"

#include <gst/app/gstappsrc.h>
#include <gst/check/gstharness.h>
#include <string.h>
#include <sys/wait.h>

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
  return buf;
}

static gboolean
check_bytes (const guint8 * data, gsize size, guint n)
{
  gsize i;

  for (i = 0; i < size; i++)
    if (data[i] != (guint8) (i * 7 + n))
      return FALSE;
  return TRUE;
}

static gboolean
check_buffer (GstBuffer * buf, gsize size, guint n)
{
  GstMapInfo map;
  gboolean ok;

  if (gst_buffer_get_size (buf) != size)
    return FALSE;
  fail_unless (gst_buffer_map (buf, &map, GST_MAP_READ));
  ok = check_bytes (map.data, map.size, n);
  gst_buffer_unmap (buf, &map);
  return ok;
}

static const gsize pattern[] = { 300, 300, 300, 800, 100, 900 };

#define N_BUFFERS 60

static gsize
size_of (guint i)
{
  return pattern[i % G_N_ELEMENTS (pattern)];
}

/* ------------------------------------------------------------------ */
/* The user's case: every buffer arrives at a reader that keeps its last
 * sample. */

static struct
{
  gint got;                     /* atomic */
  gint bad;                     /* atomic: 1 + index of a wrong buffer */
} seen;

static void
on_handoff (GstElement * sink, GstBuffer * buf, GstPad * pad, gpointer data)
{
  guint i = (guint) g_atomic_int_get (&seen.got);

  if (i >= N_BUFFERS || !check_buffer (buf, size_of (i), i))
    g_atomic_int_compare_and_exchange (&seen.bad, 0, (gint) i + 1);
  g_atomic_int_inc (&seen.got);
}

/* Each buffer within 5 s of the one before (a stall fails here). */
static void
wait_all_seen (void)
{
  gsize sizes[N_BUFFERS];
  guint i;

  for (i = 0; i < N_BUFFERS; i++)
    sizes[i] = size_of (i);
  zbt_wait_progress (&seen.got, &seen.bad, N_BUFFERS, sizes, 5000);
}

/* appsrc ! zbsink buffer-name=X (defaults) into zbsrc buffer-name=X
 * payload-size=2048 ! fakesink (defaults: it keeps its last sample), in
 * this process so that every buffer is checked. */
GST_START_TEST (test_last_sample_reader_gets_every_buffer)
{
  gchar *name = zbt_name ();
  GstElement *rp, *wp, *in, *out, *src;
  guint64 migrations = 0;
  guint i;

  g_atomic_int_set (&seen.got, 0);
  g_atomic_int_set (&seen.bad, 0);
  rp = zbt_pipeline ("zbsrc name=src buffer-name=%s payload-size=%d ! "
      "fakesink name=out signal-handoffs=true", name, RING);
  wp = zbt_pipeline ("appsrc name=in ! zbsink buffer-name=%s", name);
  in = gst_bin_get_by_name (GST_BIN (wp), "in");
  out = gst_bin_get_by_name (GST_BIN (rp), "out");
  src = gst_bin_get_by_name (GST_BIN (rp), "src");
  g_signal_connect (out, "handoff", G_CALLBACK (on_handoff), NULL);
  fail_unless (gst_element_set_state (rp, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  /* not zbt_set_state (): zbsink prerolls on the first buffer */
  fail_unless (gst_element_set_state (wp, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);

  for (i = 0; i < N_BUFFERS; i++)
    fail_unless_equals_int (gst_app_src_push_buffer (GST_APP_SRC (in),
            make_buffer (size_of (i), i)), GST_FLOW_OK);
  wait_all_seen ();

  migrations = zbt_stat_u64 (src, "migrations");
  GST_INFO ("migrations: %" G_GUINT64_FORMAT, migrations);
  fail_unless (migrations >= 1);
  zbt_assert_no_error (GST_ELEMENT_BUS (wp));
  zbt_assert_no_error (GST_ELEMENT_BUS (rp));

  gst_object_unref (in);
  gst_object_unref (out);
  gst_object_unref (src);
  zbt_stop_and_free (wp);
  zbt_stop_and_free (rp);
  fail_unless (zbt_no_leftovers (name));
  g_free (name);
}

GST_END_TEST;

/* The same with the reader as the user ran it, a gst-launch-1.0 process
 * (zbsrc buffer-name=X payload-size=2048 ! fakesink): the writer's 60
 * buffers and its EOS get through, and the reader exits on that EOS. */
GST_START_TEST (test_last_sample_reader_process)
{
  gchar *name = zbt_name ();
  gchar *desc;
  GstElement *wp, *in;
  GstMessage *msg;
  gboolean eos;
  GPid pid;
  gint status;
  guint i;

  desc = g_strdup_printf ("zbsrc buffer-name=%s payload-size=%d ! fakesink",
      name, RING);
  pid = zbt_spawn_launch (desc);
  wp = zbt_pipeline ("appsrc name=in ! zbsink buffer-name=%s", name);
  in = gst_bin_get_by_name (GST_BIN (wp), "in");
  fail_unless (gst_element_set_state (wp, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  for (i = 0; i < N_BUFFERS; i++)
    fail_unless_equals_int (gst_app_src_push_buffer (GST_APP_SRC (in),
            make_buffer (size_of (i), i)), GST_FLOW_OK);
  fail_unless_equals_int (gst_app_src_end_of_stream (GST_APP_SRC (in)),
      GST_FLOW_OK);
  /* 10 stalls of about 100 ms each; the reader is killed on failure */
  msg = zbt_pop (GST_ELEMENT_BUS (wp), GST_MESSAGE_EOS | GST_MESSAGE_ERROR,
      15000);
  eos = msg && GST_MESSAGE_TYPE (msg) == GST_MESSAGE_EOS;
  if (msg)
    gst_message_unref (msg);
  status = eos ? zbt_wait_pid (pid, 10000) : -1;
  if (status == -1) {
    zbt_kill (pid, SIGKILL, 5000);
    gst_element_set_state (wp, GST_STATE_NULL);
    zbt_remove_leftovers (name);
  }
  fail_unless (eos, "the writer did not finish within 15 s");
  fail_unless (status != -1 && WIFEXITED (status) &&
      WEXITSTATUS (status) == 0, "reader status %d", status);

  gst_object_unref (in);
  zbt_stop_and_free (wp);
  fail_unless (zbt_no_leftovers (name));
  g_free (desc);
  g_free (name);
}

GST_END_TEST;

/* ------------------------------------------------------------------ */
/* zbsrc in a GstHarness (the test holds what it pulls), the writer
 * appsrc ! zbsink in this process. */

typedef struct
{
  gchar *name;
  GstHarness *h;
  GstElement *wp, *in;
} Stall;

static void
stall_start (Stall * s)
{
  GstElement *e = gst_element_factory_make ("zbsrc", NULL);

  s->name = zbt_name ();
  fail_unless (e != NULL);
  /* stall-timeout=0 until the held buffer is set up as each test wants */
  g_object_set (e, "buffer-name", s->name, "payload-size", (guint64) RING,
      "stall-timeout", 0, NULL);
  s->h = gst_harness_new_with_element (e, NULL, "src");
  gst_object_unref (e);
  gst_harness_play (s->h);
  s->wp = zbt_pipeline ("appsrc name=in ! zbsink buffer-name=%s sync=false",
      s->name);
  s->in = gst_bin_get_by_name (GST_BIN (s->wp), "in");
  fail_unless (gst_element_set_state (s->wp, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
}

static void
stall_stop (Stall * s)
{
  zbt_assert_no_error (GST_ELEMENT_BUS (s->wp));
  gst_object_unref (s->in);
  zbt_stop_and_free (s->wp);
  gst_harness_teardown (s->h);
  fail_unless (zbt_no_leftovers (s->name));
  g_free (s->name);
}

static void
push (Stall * s, guint n)
{
  fail_unless_equals_int (gst_app_src_push_buffer (GST_APP_SRC (s->in),
          make_buffer (size_of (n), n)), GST_FLOW_OK);
}

/* The next buffer within @ms, or NULL. */
static GstBuffer *
pull_within (Stall * s, gint ms)
{
  gint64 end = g_get_monotonic_time () + (gint64) ms * 1000;
  GstBuffer *buf;

  while ((buf = gst_harness_try_pull (s->h)) == NULL
      && g_get_monotonic_time () < end)
    g_usleep (2000);
  return buf;
}

static guint64
prop (Stall * s, const gchar * name)
{
  return zbt_stat_u64 (s->h->element, name);
}

/* Buffers 0 (held), 1 and 2 (freed) are read; buffer 3 (800 bytes) is
 * pushed and cannot be written while buffer 0 pins the ring. */
static GstBuffer *
hold_first_and_stall (Stall * s)
{
  GstBuffer *held, *buf;
  guint i;

  push (s, 0);
  held = pull_within (s, 5000);
  fail_unless (held != NULL);
  fail_unless (check_buffer (held, size_of (0), 0));
  for (i = 1; i < 3; i++) {
    push (s, i);
    buf = pull_within (s, 5000);
    fail_unless (buf != NULL);
    fail_unless (check_buffer (buf, size_of (i), i));
    gst_buffer_unref (buf);
  }
  push (s, 3);
  return held;
}

static void
pull_and_check (Stall * s, guint n, gint ms)
{
  GstBuffer *buf = pull_within (s, ms);

  fail_unless (buf != NULL, "buffer %u did not arrive within %d ms", n, ms);
  fail_unless (check_buffer (buf, size_of (n), n));
  gst_buffer_unref (buf);
}

/* An unmapped held buffer is moved out of the ring: its bytes stay
 * intact, held-bytes drops, the writer goes on. */
GST_START_TEST (test_unmapped_held_buffer_moves)
{
  Stall s;
  GstBuffer *held;

  stall_start (&s);
  held = hold_first_and_stall (&s);
  /* the stall is real: without the breaker nothing comes */
  fail_unless (pull_within (&s, 300) == NULL);
  fail_unless (prop (&s, "held-bytes") >= 16 + 80 + size_of (0));
  fail_unless_equals_uint64 (prop (&s, "migrations"), 0);

  g_object_set (s.h->element, "stall-timeout", 100, NULL);
  pull_and_check (&s, 3, 5000);
  /* (and buffer 3 too if this thread was slow to pull it) */
  fail_unless (prop (&s, "migrations") >= 1);
  /* nothing of the ring is held any more, yet the buffer lives */
  fail_unless_equals_uint64 (prop (&s, "held-bytes"), 0);
  fail_unless (check_buffer (held, size_of (0), 0));
  fail_unless (GST_MEMORY_FLAG_IS_SET (gst_buffer_peek_memory (held, 0),
          GST_MEMORY_FLAG_READONLY));
  push (&s, 4);
  pull_and_check (&s, 4, 5000);
  fail_unless (check_buffer (held, size_of (0), 0));
  gst_buffer_unref (held);
  stall_stop (&s);
}

GST_END_TEST;

/* A mapped held buffer stays in the ring (its pointer and bytes stay
 * valid) however long the writer waits; after it is unmapped the next
 * stall moves it. A sub-buffer (shared memory) that is mapped pins its
 * parent the same way. A write map of the read-only memory fails. */
GST_START_TEST (test_mapped_held_buffer_stays)
{
  Stall s;
  GstBuffer *held, *sub;
  GstMapInfo map, sub_map, again;
  GstMemory *mem;
  const guint8 *ptr;

  stall_start (&s);
  held = hold_first_and_stall (&s);
  mem = gst_buffer_peek_memory (held, 0);
  fail_if (gst_memory_map (mem, &map, GST_MAP_WRITE));
  fail_unless (gst_buffer_map (held, &map, GST_MAP_READ));
  ptr = map.data;
  sub = gst_buffer_copy_region (held, GST_BUFFER_COPY_MEMORY, 100, 50);
  fail_unless (gst_buffer_peek_memory (sub, 0)->parent == mem);

  g_object_set (s.h->element, "stall-timeout", 50, NULL);
  fail_unless (pull_within (&s, 600) == NULL);
  fail_unless_equals_uint64 (prop (&s, "migrations"), 0);
  fail_unless (prop (&s, "held-bytes") >= 16 + 80 + size_of (0));
  fail_unless (check_bytes (map.data, map.size, 0));

  /* unmapped, but its sub-buffer is mapped: still pinned */
  fail_unless (gst_buffer_map (sub, &sub_map, GST_MAP_READ));
  fail_unless (sub_map.data == ptr + 100);
  gst_buffer_unmap (held, &map);
  fail_unless (pull_within (&s, 400) == NULL);
  fail_unless_equals_uint64 (prop (&s, "migrations"), 0);
  /* byte 100 + i of buffer 0 */
  fail_unless (check_bytes (sub_map.data, 50, 100 * 7));
  gst_buffer_unmap (sub, &sub_map);

  /* nothing mapped: moved at the next stall */
  pull_and_check (&s, 3, 5000);
  /* (and buffer 3 too if this thread was slow to pull it) */
  fail_unless (prop (&s, "migrations") >= 1);
  fail_unless_equals_uint64 (prop (&s, "held-bytes"), 0);
  fail_unless (gst_buffer_map (held, &again, GST_MAP_READ));
  fail_unless (again.data != ptr);
  fail_unless (check_bytes (again.data, again.size, 0));
  gst_buffer_unmap (held, &again);
  fail_unless (gst_buffer_map (sub, &sub_map, GST_MAP_READ));
  fail_unless_equals_int (sub_map.size, 50);
  fail_unless (memcmp (sub_map.data, again.data + 100, 50) == 0);
  gst_buffer_unmap (sub, &sub_map);

  /* the root lives as long as the sub-buffer */
  gst_buffer_unref (held);
  fail_unless (gst_buffer_map (sub, &sub_map, GST_MAP_READ));
  fail_unless (check_bytes (sub_map.data, 50, 100 * 7));
  gst_buffer_unmap (sub, &sub_map);
  gst_buffer_unref (sub);
  stall_stop (&s);
}

GST_END_TEST;

/* A copy of a held ring buffer (writable) is a heap copy; the original
 * still moves at a stall. */
GST_START_TEST (test_writable_copy_of_held_buffer)
{
  Stall s;
  GstBuffer *held, *w;
  GstMapInfo map;

  stall_start (&s);
  held = hold_first_and_stall (&s);
  w = gst_buffer_make_writable (gst_buffer_ref (held));
  fail_unless (w != held);
  fail_unless (gst_buffer_map (w, &map, GST_MAP_WRITE));
  fail_unless (check_bytes (map.data, map.size, 0));
  map.data[0] ^= 0xff;
  gst_buffer_unmap (w, &map);
  gst_buffer_unref (w);
  g_object_set (s.h->element, "stall-timeout", 100, NULL);
  pull_and_check (&s, 3, 5000);
  fail_unless (check_buffer (held, size_of (0), 0));
  gst_buffer_unref (held);
  stall_stop (&s);
}

GST_END_TEST;

static Suite *
zbstall_suite (void)
{
  Suite *s = suite_create ("zbstall");
  TCase *tc = tcase_create ("general");

  tcase_set_timeout (tc, 60);
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_last_sample_reader_gets_every_buffer);
  tcase_add_test (tc, test_last_sample_reader_process);
  tcase_add_test (tc, test_unmapped_held_buffer_moves);
  tcase_add_test (tc, test_mapped_held_buffer_stays);
  tcase_add_test (tc, test_writable_copy_of_held_buffer);
  return s;
}

ZBT_MAIN (zbstall_suite);
