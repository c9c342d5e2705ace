/* Shared helpers of the element tests. */

#ifndef ZBTEST_H
#define ZBTEST_H

#include <gst/gst.h>
#include <gst/check/gstcheck.h>
#include <stdio.h>
#include <unistd.h>

/* the newer GLib and GStreamer API for the oldest versions we support */
#include "gstzbcompat.h"

G_BEGIN_DECLS

/* A buffer name unique to this process and call: "zbt-gst-PID-N". */
gchar *zbt_name (void);

/* TRUE when no OS object of buffer @name exists (shm, both semaphores,
 * lock file). */
gboolean zbt_no_leftovers (const gchar * name);
/* Remove the buffers of duplex channel @channel (CHANNEL_request, which a
 * server killed with SIGKILL leaves behind, and CHANNEL_response). */
void zbt_cleanup_channel (const gchar * channel);

/* Remove whatever a failed test left of @name (only objects of that
 * name). */
void zbt_remove_leftovers (const gchar * name);

/* Pop the first message of @types from @bus within @timeout_ms; NULL on
 * timeout. */
GstMessage *zbt_pop (GstBus * bus, GstMessageType types, gint timeout_ms);

/* Pop element messages until one whose structure is named @name arrives;
 * NULL on timeout. Fails the test if an ERROR message arrives first. */
GstMessage *zbt_pop_element (GstBus * bus, const gchar * name,
    gint timeout_ms);

/* The unsigned 64-bit field @field of @element's "stats" structure (named
 * FACTORY-stats, e.g. zbsink-stats); fails the test when there is no such
 * field. */
guint64 zbt_stat_u64 (GstElement * element, const gchar * field);

/* Assert that no ERROR message is queued on @bus. */
void zbt_assert_no_error (GstBus * bus);

/* Wait up to @timeout_ms for EOS on @pipeline's bus; fail the test on
 * an ERROR message or a timeout. */
/* Wait until *@got reaches @n, each step within @stall_ms of the one
 * before (a stall fails the test, naming the buffer and its @sizes entry
 * when @sizes is not NULL); fails at once when *@bad is set (1 + the index
 * of a wrong buffer). @got and @bad are updated atomically by a streaming
 * thread. */
void zbt_wait_progress (gint * got, gint * bad, guint n, const gsize * sizes,
    gint stall_ms);
void zbt_wait_eos (GstElement * pipeline, gint timeout_ms);

/* Set @pipeline to NULL, fail the test if that fails or an ERROR message
 * is queued, and unref it. */
void zbt_stop_and_free (GstElement * pipeline);

/* Build a pipeline from a printf-style description, fail the test on
 * parse errors. */
GstElement *zbt_pipeline (const gchar * format, ...) G_GNUC_PRINTF (1, 2);

/* Set @pipeline to @state and wait up to 10 s for it to get there. */
GstStateChangeReturn zbt_set_state (GstElement * pipeline, GstState state);

/* A path for @file in this test binary's private temporary directory
 * (removed when the binary ends), made unique to the calling process (a
 * test case runs in a process of its own): never shared with another
 * test or another run. */
gchar *zbt_tmp_path (const gchar * file);

/* Spawn gst-launch-1.0 with the pipeline @desc (split at spaces, so no
 * quoting). Returns the pid. Its output goes to a log file in the test's
 * temporary directory. */
GPid zbt_spawn_launch (const gchar * desc);

/* The argv of gst-launch-1.0 -q with the pipeline @desc split at spaces
 * (as zbt_spawn_launch() runs it); g_strfreev() it. */
gchar **zbt_launch_argv (const gchar * desc);

/* Wait up to 10 s until process @pid serves duplex channel @channel (it
 * is the live reader of CHANNEL_request); fails the test otherwise. */
void zbt_wait_server (const gchar * channel, GPid pid);

/* Spawn the duplex server @argv (argv[0]: a path, or a program in PATH,
 * e.g. ZB_DUPLEX_INVERT or gst-launch-1.0), its output appended to @log;
 * it gets SIGTERM when the test process exits (also when the test
 * fails). Then wait up to 10 s until it serves channel @channel (it is
 * the live reader of CHANNEL_request); fails the test otherwise. Returns
 * its pid, for the caller to stop (zbt_kill()). */
GPid zbt_start_server (const gchar * const *argv, const gchar * channel,
    const gchar * log);

/* The test's server, one at a time, on the test's channel: both are
 * stopped and removed when the test process exits, also when the test
 * fails (check exits the forked process). zbt_server_channel() is the
 * channel (set by zbt_server_set_channel(), a new zbt_name() when none
 * is set); zbt_server_start() runs @argv there as zbt_start_server()
 * does. zbt_server_kill() ends the server with SIGTERM and keeps the
 * channel (to start another on it); zbt_server_stop() also removes the
 * channel's objects and forgets it; zbt_server_take() hands the running
 * server's pid to the caller, who ends it. */
const gchar *zbt_server_channel (void);
void zbt_server_set_channel (const gchar * channel);
GPid zbt_server_start (const gchar * const *argv, const gchar * log);
GPid zbt_server_take (void);
void zbt_server_kill (void);
void zbt_server_stop (void);

/* The test binary's temporary directory (removed with its files at the
 * end). */
const gchar *zbt_tmp_dir (void);

/* Send @sig to @pid and reap it within @timeout_ms (SIGKILL after that).
 * Returns the wait status. */
gint zbt_kill (GPid pid, gint sig, gint timeout_ms);

/* Wait for @pid to exit within @timeout_ms; returns the wait status or -1
 * on timeout (the process is then left running). */
gint zbt_wait_pid (GPid pid, gint timeout_ms);

/* A hash of @size bytes at @data (FNV-1a, and the size): tells frames
 * apart. */
guint64 zbt_hash_bytes (const guint8 * data, gsize size);

/* The same of @buf's bytes; fails the test if it cannot be mapped. */
guint64 zbt_hash_buffer (GstBuffer * buf);

/* A hash of every buffer that reaches an element's sink pad, in arrival
 * order. The streaming thread adds to it: read the fields under @lock
 * while it runs (zbt_hash_log_len()), directly once it stopped. */
typedef struct
{
  GMutex lock;
  GArray *hashes;               /* guint64 */
  guint pool_blocks;            /* of them, buffers of one block of
                                 * zbsink's pool (ZbPoolMemory) */
} ZbtHashLog;

/* Log the buffers reaching the sink pad of @element in @bin (fails the
 * test without one). Free it after the pipeline stopped. */
ZbtHashLog *zbt_hash_log_new (GstElement * bin, const gchar * element);
guint zbt_hash_log_len (ZbtHashLog * log);
void zbt_hash_log_free (ZbtHashLog * log);

/* The frames in file @path (@frame bytes each, e.g. a reader's filesink)
 * are those of @in, in order; fails the test naming the first that
 * differs. */
void zbt_assert_file_frames (const gchar * path, gsize frame,
    ZbtHashLog * in);

/* @out logged the frames of @in, all and in order. */
void zbt_assert_same_frames (ZbtHashLog * in, ZbtHashLog * out);

/* How many pool segments of buffer @name (zbsink's, of any writer) are in
 * /dev/shm; a name with an '@' is hashed (zb_gst_pool_name()). */
guint zbt_pool_segments (const gchar * name);

/* Wait up to @timeout_ms until none is left; fails the test after. */
void zbt_wait_no_pool_segments (const gchar * name, gint timeout_ms);

/* The end of a test whose reader process (@pid) writes the I420 frames
 * (@frame bytes each) it gets to file @path while pipeline @wp writes
 * buffer @name: the reader exits 0 within @timeout_ms, @path holds the
 * frames @in logged, and once @wp stopped nothing of @name is left in
 * /dev/shm (pool segments included). Frees @wp and @in, removes @path. */
void zbt_finish_file_reader (GstElement * wp, GPid pid, gint timeout_ms,
    const gchar * path, gsize frame, ZbtHashLog * in, const gchar * name);

/* Test binaries call these around srunner_run_all(): a private registry
 * in a fresh temporary directory (GST_REGISTRY) per binary. */
void zbt_env_init (void);
void zbt_env_cleanup (void);

#define ZBT_MAIN(suite_fn) \
int \
main (int argc, char **argv) \
{ \
  Suite *s; \
  SRunner *sr; \
  int nf; \
  zbt_env_init (); \
  gst_check_init (&argc, &argv); \
  /* each result as it comes (CK_VERBOSITY=verbose), also when a hung \
   * run is killed */ \
  setvbuf (stdout, NULL, _IOLBF, 0); \
  s = suite_fn (); \
  sr = srunner_create (s); \
  srunner_run_all (sr, CK_ENV); \
  nf = srunner_ntests_failed (sr); \
  srunner_free (sr); \
  zbt_env_cleanup (); \
  /* in-process (CK_FORK=no) a failed test may have left a pipeline \
   * running, whose threads gst_deinit() at exit would wait for forever */ \
  if (nf != 0) { \
    fflush (stdout); \
    _exit (1); \
  } \
  return 0; \
}

G_END_DECLS
#endif /* ZBTEST_H */
