/* Shared helpers of the element tests. */

#include "zbtest.h"
#include "zbframe.h"

#include <zerobuffer/zerobuffer.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib/gstdio.h>

static gchar *tmp_dir;
static gint name_counter;

gchar *
zbt_name (void)
{
  return g_strdup_printf ("zbt-gst-%d-%d", (int) getpid (),
      g_atomic_int_add (&name_counter, 1));
}

static gchar **
object_paths (const gchar * name)
{
  gchar **paths = g_new0 (gchar *, 5);

  paths[0] = g_strdup_printf ("/dev/shm/%s", name);
  paths[1] = g_strdup_printf ("/dev/shm/sem.sem-w-%s", name);
  paths[2] = g_strdup_printf ("/dev/shm/sem.sem-r-%s", name);
  paths[3] = g_strdup_printf ("/tmp/zerobuffer/%s.lock", name);
  return paths;
}

gboolean
zbt_no_leftovers (const gchar * name)
{
  gchar **paths = object_paths (name);
  gboolean ret = TRUE;
  gint i;

  for (i = 0; paths[i]; i++) {
    if (g_file_test (paths[i], G_FILE_TEST_EXISTS)) {
      GST_WARNING ("left over: %s", paths[i]);
      ret = FALSE;
    }
  }
  g_strfreev (paths);
  return ret;
}

void
zbt_remove_leftovers (const gchar * name)
{
  gchar **paths = object_paths (name);
  gint i;

  for (i = 0; paths[i]; i++)
    g_unlink (paths[i]);
  g_strfreev (paths);
}

GstMessage *
zbt_pop (GstBus * bus, GstMessageType types, gint timeout_ms)
{
  return gst_bus_timed_pop_filtered (bus, timeout_ms * GST_MSECOND, types);
}

GstMessage *
zbt_pop_element (GstBus * bus, const gchar * name, gint timeout_ms)
{
  gint64 end = g_get_monotonic_time () + (gint64) timeout_ms * 1000;

  for (;;) {
    gint64 left = end - g_get_monotonic_time ();
    GstMessage *msg;

    if (left <= 0)
      return NULL;
    msg = gst_bus_timed_pop_filtered (bus, left * GST_USECOND,
        GST_MESSAGE_ELEMENT | GST_MESSAGE_ERROR);
    if (msg == NULL)
      return NULL;
    if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ERROR) {
      GError *err = NULL;
      gchar *dbg = NULL;

      gst_message_parse_error (msg, &err, &dbg);
      fail ("error while waiting for %s: %s (%s)", name, err->message,
          GST_STR_NULL (dbg));
    }
    if (gst_message_has_name (msg, name))
      return msg;
    gst_message_unref (msg);
  }
}

guint64
zbt_stat_u64 (GstElement * element, const gchar * field)
{
  GstElementFactory *f = gst_element_get_factory (element);
  gchar *want = g_strdup_printf ("%s-stats", f ? GST_OBJECT_NAME (f) : "?");
  GstStructure *stats = NULL;
  guint64 v = 0;

  g_object_get (element, "stats", &stats, NULL);
  fail_unless (stats != NULL, "%s has no stats", GST_OBJECT_NAME (element));
  fail_unless (gst_structure_has_name (stats, want), "stats %"
      GST_PTR_FORMAT " not named %s", stats, want);
  g_free (want);
  fail_unless (gst_structure_get_uint64 (stats, field, &v),
      "no %s in %" GST_PTR_FORMAT, field, stats);
  gst_structure_free (stats);
  return v;
}

void
zbt_assert_no_error (GstBus * bus)
{
  GstMessage *msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);

  if (msg) {
    GError *err = NULL;
    gchar *dbg = NULL;

    gst_message_parse_error (msg, &err, &dbg);
    fail ("unexpected error from %s: %s (%s)", GST_OBJECT_NAME
        (GST_MESSAGE_SRC (msg)), err->message, GST_STR_NULL (dbg));
  }
}

void
zbt_wait_progress (gint * got, gint * bad, guint n, const gsize * sizes,
    gint stall_ms)
{
  gint last = -1;
  gint64 since = g_get_monotonic_time ();

  for (;;) {
    gint now = g_atomic_int_get (got);

    if (now != last) {
      last = now;
      since = g_get_monotonic_time ();
    }
    fail_unless (g_atomic_int_get (bad) == 0, "buffer %d is wrong",
        g_atomic_int_get (bad) - 1);
    if ((guint) now >= n)
      break;
    fail_unless (g_get_monotonic_time () - since < stall_ms * (gint64) 1000,
        "buffer %d of %u (%" G_GSIZE_FORMAT " bytes) did not arrive within "
        "%d ms", now, n, sizes ? sizes[now] : 0, stall_ms);
    g_usleep (1000);
  }
}

void
zbt_wait_eos (GstElement * pipeline, gint timeout_ms)
{
  GstBus *bus = gst_element_get_bus (pipeline);
  GstMessage *msg = zbt_pop (bus, GST_MESSAGE_EOS | GST_MESSAGE_ERROR,
      timeout_ms);

  fail_unless (msg != NULL, "no EOS within %d ms", timeout_ms);
  if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ERROR) {
    GError *err = NULL;
    gchar *dbg = NULL;

    gst_message_parse_error (msg, &err, &dbg);
    fail ("error instead of EOS: %s (%s)", err->message, GST_STR_NULL (dbg));
  }
  gst_message_unref (msg);
  gst_object_unref (bus);
}

void
zbt_stop_and_free (GstElement * pipeline)
{
  GstBus *bus = gst_element_get_bus (pipeline);

  fail_unless_equals_int (zbt_set_state (pipeline, GST_STATE_NULL),
      GST_STATE_CHANGE_SUCCESS);
  /* no spurious error on a clean stop */
  zbt_assert_no_error (bus);
  gst_object_unref (bus);
  gst_object_unref (pipeline);
}

GstElement *
zbt_pipeline (const gchar * format, ...)
{
  GError *err = NULL;
  GstElement *p;
  va_list args;
  gchar *desc;

  va_start (args, format);
  desc = g_strdup_vprintf (format, args);
  va_end (args);
  p = gst_parse_launch (desc, &err);
  fail_unless (p != NULL && err == NULL, "cannot parse '%s': %s", desc,
      err ? err->message : "?");
  g_free (desc);
  return p;
}

GstStateChangeReturn
zbt_set_state (GstElement * pipeline, GstState state)
{
  GstStateChangeReturn ret = gst_element_set_state (pipeline, state);

  if (ret == GST_STATE_CHANGE_ASYNC)
    ret = gst_element_get_state (pipeline, NULL, NULL, 10 * GST_SECOND);
  return ret;
}

gchar *
zbt_tmp_path (const gchar * file)
{
  gchar *name = g_strdup_printf ("%d-%s", (int) getpid (), file);
  gchar *path = g_build_filename (tmp_dir ? tmp_dir : g_get_tmp_dir (),
      name, NULL);

  g_free (name);
  return path;
}

const gchar *
zbt_tmp_dir (void)
{
  return tmp_dir ? tmp_dir : g_get_tmp_dir ();
}

gchar **
zbt_launch_argv (const gchar * desc)
{
  gchar **words = g_strsplit (desc, " ", -1);
  GPtrArray *argv = g_ptr_array_new ();
  gint i;

  g_ptr_array_add (argv, g_strdup ("gst-launch-1.0"));
  g_ptr_array_add (argv, g_strdup ("-q"));
  for (i = 0; words[i]; i++)
    if (*words[i])
      g_ptr_array_add (argv, g_strdup (words[i]));
  g_ptr_array_add (argv, NULL);
  g_strfreev (words);
  return (gchar **) g_ptr_array_free (argv, FALSE);
}

/* fork + exec @argv (looked up in PATH unless a path), its output appended
 * to @log; it gets @deathsig when the test process exits */
static GPid
spawn_logged (const gchar * const *argv, const gchar * log, gint deathsig)
{
  gint fd = g_open (log, O_WRONLY | O_CREAT | O_APPEND, 0600);
  GPid pid;

  pid = fork ();
  if (pid == 0) {
    /* a test that fails exits at once: take the child with it */
    prctl (PR_SET_PDEATHSIG, deathsig);
    if (fd >= 0) {
      dup2 (fd, 1);
      dup2 (fd, 2);
    }
    execvp (argv[0], (char **) argv);
    _exit (127);
  }
  if (fd >= 0)
    close (fd);
  fail_unless (pid > 0, "fork failed");
  return pid;
}

GPid
zbt_spawn_launch (const gchar * desc)
{
  gchar **argv = zbt_launch_argv (desc);
  gchar *log = g_build_filename (zbt_tmp_dir (), "launch.log", NULL);
  GPid pid = spawn_logged ((const gchar * const *) argv, log, SIGKILL);

  GST_INFO ("spawned %d: %s", (int) pid, desc);
  g_strfreev (argv);
  g_free (log);
  return pid;
}

/* Is @pid the live reader of @req? */
static gboolean
serves (const gchar * req, GPid pid)
{
  zb_status st;

  return zb_inspect (req, &st, NULL, 0, NULL) == 0 && st.reader_alive &&
      st.reader_pid == (guint64) pid;
}

void
zbt_wait_server (const gchar * channel, GPid pid)
{
  gchar *req = g_strdup_printf ("%s_request", channel);
  gint64 end = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;

  while (g_get_monotonic_time () < end && !serves (req, pid))
    g_usleep (5 * 1000);
  fail_unless (serves (req, pid), "no server on %s", req);
  GST_INFO ("server %d of %s ready", (int) pid, req);
  g_free (req);
}

GPid
zbt_start_server (const gchar * const *argv, const gchar * channel,
    const gchar * log)
{
  GPid pid = spawn_logged (argv, log, SIGTERM);

  zbt_wait_server (channel, pid);
  return pid;
}

static GPid server_pid;
static gchar *server_channel;

const gchar *
zbt_server_channel (void)
{
  if (server_channel == NULL)
    server_channel = zbt_name ();
  return server_channel;
}

void
zbt_server_set_channel (const gchar * channel)
{
  g_free (server_channel);
  server_channel = g_strdup (channel);
}

void
zbt_server_kill (void)
{
  if (server_pid > 0) {
    zbt_kill (server_pid, SIGTERM, 5000);
    server_pid = 0;
  }
}

void
zbt_server_stop (void)
{
  zbt_server_kill ();
  if (server_channel) {
    zbt_cleanup_channel (server_channel);
    g_free (server_channel);
    server_channel = NULL;
  }
}

GPid
zbt_server_start (const gchar * const *argv, const gchar * log)
{
  static gboolean registered;

  if (!registered) {
    atexit (zbt_server_stop);
    registered = TRUE;
  }
  server_pid = zbt_start_server (argv, zbt_server_channel (), log);
  return server_pid;
}

GPid
zbt_server_take (void)
{
  GPid pid = server_pid;

  server_pid = 0;
  return pid;
}

gint
zbt_wait_pid (GPid pid, gint timeout_ms)
{
  gint64 end = g_get_monotonic_time () + (gint64) timeout_ms * 1000;
  int status;

  do {
    pid_t r = waitpid (pid, &status, WNOHANG);

    if (r == pid)
      return status;
    if (r < 0)
      return -1;
    g_usleep (5000);
  } while (g_get_monotonic_time () < end);
  return -1;
}

gint
zbt_kill (GPid pid, gint sig, gint timeout_ms)
{
  gint status;

  kill (pid, sig);
  status = zbt_wait_pid (pid, timeout_ms);
  if (status == -1) {
    kill (pid, SIGKILL);
    status = zbt_wait_pid (pid, 5000);
  }
  return status;
}

void
zbt_env_init (void)
{
  gchar *reg;

  tmp_dir = g_dir_make_tmp ("zbt-gst-XXXXXX", NULL);
  g_assert (tmp_dir != NULL);
  reg = g_build_filename (tmp_dir, "registry.bin", NULL);
  g_setenv ("GST_REGISTRY", reg, TRUE);
  g_setenv ("GST_REGISTRY_1_0", reg, TRUE);
  g_free (reg);
}

void
zbt_env_cleanup (void)
{
  GDir *dir;
  const gchar *f;

  if (tmp_dir == NULL)
    return;
  dir = g_dir_open (tmp_dir, 0, NULL);
  while (dir && (f = g_dir_read_name (dir))) {
    gchar *p = g_build_filename (tmp_dir, f, NULL);

    if (g_str_equal (f, "launch.log") && g_getenv ("ZBT_KEEP_LOG") == NULL)
      g_unlink (p);
    else if (!g_str_equal (f, "launch.log"))
      g_unlink (p);
    g_free (p);
  }
  if (dir)
    g_dir_close (dir);
  if (g_rmdir (tmp_dir) != 0 && g_getenv ("ZBT_KEEP_LOG"))
    g_printerr ("gst-launch output kept in %s/launch.log\n", tmp_dir);
  g_free (tmp_dir);
  tmp_dir = NULL;
}

guint64
zbt_hash_bytes (const guint8 * data, gsize size)
{
  guint64 h = 14695981039346656037ULL;
  gsize i;

  /* FNV-1a */
  for (i = 0; i < size; i++) {
    h ^= data[i];
    h *= 1099511628211ULL;
  }
  return h ^ size;
}

guint64
zbt_hash_buffer (GstBuffer * buf)
{
  GstMapInfo map;
  guint64 h;

  fail_unless (gst_buffer_map (buf, &map, GST_MAP_READ));
  h = zbt_hash_bytes (map.data, map.size);
  gst_buffer_unmap (buf, &map);
  return h;
}

/* One block of zbsink's pool (gst/gstzbsinkpool.c)? */
static gboolean
is_pool_block (GstBuffer * buf)
{
  GstMemory *mem;

  if (gst_buffer_n_memory (buf) != 1)
    return FALSE;
  mem = gst_buffer_peek_memory (buf, 0);
  return mem->allocator && g_strcmp0 (mem->allocator->mem_type,
      "ZbPoolMemory") == 0;
}

static GstPadProbeReturn
hash_log_probe (GstPad * pad, GstPadProbeInfo * info, gpointer user_data)
{
  ZbtHashLog *log = user_data;
  GstBuffer *buf = GST_PAD_PROBE_INFO_BUFFER (info);
  guint64 h = zbt_hash_buffer (buf);

  g_mutex_lock (&log->lock);
  g_array_append_val (log->hashes, h);
  if (is_pool_block (buf))
    log->pool_blocks++;
  g_mutex_unlock (&log->lock);
  return GST_PAD_PROBE_OK;
}

ZbtHashLog *
zbt_hash_log_new (GstElement * bin, const gchar * element)
{
  ZbtHashLog *log = g_new0 (ZbtHashLog, 1);
  GstElement *e = gst_bin_get_by_name (GST_BIN (bin), element);
  GstPad *pad;

  fail_unless (e != NULL, "no element %s", element);
  pad = gst_element_get_static_pad (e, "sink");
  g_mutex_init (&log->lock);
  log->hashes = g_array_new (FALSE, FALSE, sizeof (guint64));
  gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_BUFFER, hash_log_probe, log, NULL);
  gst_object_unref (pad);
  gst_object_unref (e);
  return log;
}

guint
zbt_hash_log_len (ZbtHashLog * log)
{
  guint n;

  g_mutex_lock (&log->lock);
  n = log->hashes->len;
  g_mutex_unlock (&log->lock);
  return n;
}

void
zbt_hash_log_free (ZbtHashLog * log)
{
  g_array_unref (log->hashes);
  g_mutex_clear (&log->lock);
  g_free (log);
}

void
zbt_assert_file_frames (const gchar * path, gsize frame, ZbtHashLog * in)
{
  gchar *data = NULL;
  gsize len = 0, i;

  fail_unless (g_file_get_contents (path, &data, &len, NULL), "no %s", path);
  fail_unless_equals_uint64 (len % frame, 0);
  fail_unless_equals_uint64 (len / frame, in->hashes->len);
  for (i = 0; i < len / frame; i++)
    fail_unless (zbt_hash_bytes ((guint8 *) data + i * frame, frame) ==
        g_array_index (in->hashes, guint64, i), "%s: frame %" G_GSIZE_FORMAT
        " differs", path, i);
  g_free (data);
}

void
zbt_assert_same_frames (ZbtHashLog * in, ZbtHashLog * out)
{
  guint i;

  fail_unless_equals_int (out->hashes->len, in->hashes->len);
  for (i = 0; i < in->hashes->len; i++)
    fail_unless (g_array_index (in->hashes, guint64, i) ==
        g_array_index (out->hashes, guint64, i), "frame %u differs", i);
}

guint
zbt_pool_segments (const gchar * name)
{
  gchar buf[ZB_GST_POOL_NAME_SIZE];
  gchar *prefix;
  GDir *dir = g_dir_open ("/dev/shm", 0, NULL);
  const gchar *f;
  guint n = 0;

  /* "zbpool-PART-0-" without "0-" */
  fail_unless (zb_gst_pool_name (buf, sizeof (buf), name, 0, ZB_GST_NONE) == 0);
  prefix = g_strndup (buf, strlen (buf) - 2);
  while (dir && (f = g_dir_read_name (dir)))
    if (g_str_has_prefix (f, prefix))
      n++;
  if (dir)
    g_dir_close (dir);
  g_free (prefix);
  return n;
}

void
zbt_wait_no_pool_segments (const gchar * name, gint timeout_ms)
{
  gint64 end = g_get_monotonic_time () + timeout_ms * 1000;

  while (zbt_pool_segments (name) > 0) {
    fail_unless (g_get_monotonic_time () < end, "%u pool segments of %s "
        "left in /dev/shm", zbt_pool_segments (name), name);
    g_usleep (10000);
  }
}

void
zbt_finish_file_reader (GstElement * wp, GPid pid, gint timeout_ms,
    const gchar * path, gsize frame, ZbtHashLog * in, const gchar * name)
{
  gint status = zbt_wait_pid (pid, timeout_ms);

  fail_unless (status != -1 && WIFEXITED (status) &&
      WEXITSTATUS (status) == 0, "reader status %d", status);
  zbt_assert_file_frames (path, frame, in);
  zbt_stop_and_free (wp);
  zbt_wait_no_pool_segments (name, 2000);
  fail_unless (zbt_no_leftovers (name));
  zbt_hash_log_free (in);
  g_unlink (path);
}

void
zbt_cleanup_channel (const gchar * channel)
{
  gchar *req = g_strdup_printf ("%s_request", channel);
  gchar *resp = g_strdup_printf ("%s_response", channel);

  zb_cleanup (req);
  zb_cleanup (resp);
  g_free (req);
  g_free (resp);
}
