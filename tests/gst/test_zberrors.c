/* Every error case gives a GST_ELEMENT_ERROR on the bus that names the
 * buffer, and leaves nothing in /dev/shm. */

#include <dlfcn.h>
#include <errno.h>
#include <grp.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib/gstdio.h>
#include <gst/check/gstcheck.h>
#include <zerobuffer/zerobuffer.h>

#include "zbframe.h"
#include "zbtest.h"

/* Wait for an ERROR from @pipeline whose message mentions @needle and
 * belongs to @domain/@code. */
static void
expect_error (GstElement * pipeline, GQuark domain, gint code,
    const gchar * needle, gint timeout_ms)
{
  GstBus *bus = gst_element_get_bus (pipeline);
  GstMessage *msg = zbt_pop (bus, GST_MESSAGE_ERROR, timeout_ms);
  GError *err = NULL;
  gchar *dbg = NULL;

  fail_unless (msg != NULL, "no error within %d ms", timeout_ms);
  gst_message_parse_error (msg, &err, &dbg);
  GST_INFO ("error: %s (%s)", err->message, dbg);
  fail_unless (g_error_matches (err, domain, code), "error %s:%d %s",
      g_quark_to_string (err->domain), err->code, err->message);
  fail_unless (strstr (err->message, needle) != NULL,
      "'%s' does not mention '%s'", err->message, needle);
  g_error_free (err);
  g_free (dbg);
  gst_message_unref (msg);
  gst_object_unref (bus);
}

static void
shutdown (GstElement * pipeline)
{
  fail_unless_equals_int (zbt_set_state (pipeline, GST_STATE_NULL),
      GST_STATE_CHANGE_SUCCESS);
  gst_object_unref (pipeline);
}

GST_START_TEST (test_name_in_use_by_live_reader)
{
  gchar *name = zbt_name ();
  GstElement *r1, *r2;

  r1 = zbt_pipeline ("zbsrc buffer-name=%s ! fakesink", name);
  r2 = zbt_pipeline ("zbsrc buffer-name=%s ! fakesink", name);
  fail_unless (gst_element_set_state (r1, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  fail_unless_equals_int (gst_element_set_state (r2, GST_STATE_PLAYING),
      GST_STATE_CHANGE_FAILURE);
  expect_error (r2, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_BUSY, name, 1000);
  shutdown (r2);
  /* the first reader's buffer is untouched */
  fail_unless (!zbt_no_leftovers (name));
  shutdown (r1);
  fail_unless (zbt_no_leftovers (name));
  g_free (name);
}

GST_END_TEST;

GST_START_TEST (test_invalid_name)
{
  GstElement *r, *w;

  r = zbt_pipeline ("zbsrc buffer-name=a/b ! fakesink");
  fail_unless_equals_int (gst_element_set_state (r, GST_STATE_PLAYING),
      GST_STATE_CHANGE_FAILURE);
  expect_error (r, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_SETTINGS, "a/b",
      1000);
  shutdown (r);

  w = zbt_pipeline ("fakesrc ! zbsink buffer-name=a/b");
  fail_unless_equals_int (gst_element_set_state (w, GST_STATE_PLAYING),
      GST_STATE_CHANGE_FAILURE);
  expect_error (w, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_SETTINGS, "a/b",
      1000);
  shutdown (w);

  r = zbt_pipeline ("zbsrc ! fakesink");
  fail_unless_equals_int (gst_element_set_state (r, GST_STATE_PLAYING),
      GST_STATE_CHANGE_FAILURE);
  expect_error (r, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_SETTINGS,
      "buffer-name", 1000);
  shutdown (r);
}

GST_END_TEST;

GST_START_TEST (test_frame_larger_than_ring)
{
  gchar *name = zbt_name ();
  GstElement *r, *w;

  r = zbt_pipeline ("zbsrc buffer-name=%s payload-size=65536 ! fakesink", name);
  /* copied into the ring (a block of zbsink's pool would go as a small
   * pool record) */
  w = zbt_pipeline ("videotestsrc ! video/x-raw,format=RGB,width=320,"
      "height=240 ! zbsink buffer-name=%s zero-copy=false", name);
  fail_unless (gst_element_set_state (r, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  fail_unless (gst_element_set_state (w, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  expect_error (w, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_NO_SPACE_LEFT, name,
      5000);
  shutdown (w);
  shutdown (r);
  fail_unless (zbt_no_leftovers (name));
  g_free (name);
}

GST_END_TEST;

GST_START_TEST (test_connect_timeout)
{
  gchar *name = zbt_name ();
  GstElement *w;
  gint64 t0 = g_get_monotonic_time ();

  w = zbt_pipeline ("videotestsrc ! zbsink buffer-name=%s connect-timeout=300",
      name);
  fail_unless (gst_element_set_state (w, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  expect_error (w, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_NOT_FOUND, name,
      5000);
  fail_unless (g_get_monotonic_time () - t0 >= 300 * 1000);
  shutdown (w);
  fail_unless (zbt_no_leftovers (name));
  g_free (name);
}

GST_END_TEST;

/* The default connect wait is indefinite but interruptible: a state change
 * to NULL returns promptly. */
GST_START_TEST (test_connect_wait_interruptible)
{
  gchar *name = zbt_name ();
  GstElement *w;
  gint64 t0;

  w = zbt_pipeline ("videotestsrc is-live=true ! zbsink buffer-name=%s", name);
  fail_unless (gst_element_set_state (w, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  g_usleep (300 * 1000);
  t0 = g_get_monotonic_time ();
  shutdown (w);
  fail_unless (g_get_monotonic_time () - t0 < 500 * 1000);
  g_free (name);
}

GST_END_TEST;

GST_START_TEST (test_caps_reader_cannot_use)
{
  gchar *name = zbt_name ();
  GstElement *r, *w;

  r = zbt_pipeline ("zbsrc buffer-name=%s ! audio/x-raw ! fakesink", name);
  w = zbt_pipeline ("videotestsrc ! video/x-raw,width=64,height=48 ! "
      "zbsink buffer-name=%s", name);
  fail_unless (gst_element_set_state (r, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  fail_unless (gst_element_set_state (w, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  expect_error (r, GST_CORE_ERROR, GST_CORE_ERROR_NEGOTIATION, name, 5000);
  shutdown (w);
  shutdown (r);
  fail_unless (zbt_no_leftovers (name));
  g_free (name);
}

GST_END_TEST;

GST_START_TEST (test_dead_writer_error)
{
  gchar *name = zbt_name ();
  gchar *desc;
  GstElement *r;
  GPid pid;

  r = zbt_pipeline ("zbsrc name=src buffer-name=%s on-writer-lost=error ! "
      "fakesink", name);
  fail_unless (gst_element_set_state (r, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  desc = g_strdup_printf ("videotestsrc is-live=true ! "
      "video/x-raw,width=64,height=48 ! zbsink buffer-name=%s", name);
  pid = zbt_spawn_launch (desc);
  g_usleep (500 * 1000);
  zbt_kill (pid, SIGKILL, 5000);
  expect_error (r, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_READ, name, 5000);
  shutdown (r);
  fail_unless (zbt_no_leftovers (name));
  g_free (desc);
  g_free (name);
}

GST_END_TEST;

GST_START_TEST (test_dead_reader_error)
{
  gchar *name = zbt_name ();
  gchar *desc;
  GstElement *w;
  GPid pid;

  desc = g_strdup_printf ("zbsrc buffer-name=%s ! fakesink", name);
  pid = zbt_spawn_launch (desc);
  w = zbt_pipeline ("videotestsrc is-live=true ! "
      "video/x-raw,width=64,height=48 ! zbsink buffer-name=%s "
      "on-reader-lost=error", name);
  fail_unless (gst_element_set_state (w, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  g_usleep (500 * 1000);
  zbt_kill (pid, SIGKILL, 5000);
  expect_error (w, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_WRITE, name, 5000);
  shutdown (w);
  /* a reader killed with -9 leaves its objects for the next reader or the
   * writer to remove */
  zbt_remove_leftovers (name);
  g_free (desc);
  g_free (name);
}

GST_END_TEST;

GST_START_TEST (test_raw_caps_change)
{
  gchar *name = zbt_name ();
  GstElement *r, *w, *cf;
  GstCaps *caps;

  r = zbt_pipeline ("zbsrc buffer-name=%s ! fakesink", name);
  w = zbt_pipeline ("videotestsrc is-live=true ! capsfilter name=cf "
      "caps=video/x-raw,width=64,height=48 ! zbsink buffer-name=%s "
      "frame-format=raw", name);
  fail_unless (gst_element_set_state (r, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  fail_unless (gst_element_set_state (w, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  g_usleep (300 * 1000);
  cf = gst_bin_get_by_name (GST_BIN (w), "cf");
  caps = gst_caps_from_string ("video/x-raw,width=32,height=48");
  g_object_set (cf, "caps", caps, NULL);
  gst_caps_unref (caps);
  gst_object_unref (cf);
  expect_error (w, GST_CORE_ERROR, GST_CORE_ERROR_NEGOTIATION,
      "frame-format=raw", 5000);
  shutdown (w);
  shutdown (r);
  fail_unless (zbt_no_leftovers (name));
  g_free (name);
}

GST_END_TEST;

/* OIEB fields (lib/zb-private.h; protocol section 3): little-endian u64 */
#define OIEB_METADATA_SIZE 0x08
#define OIEB_PAYLOAD_WRITE_POS 0x30
#define OIEB_SIZE 128

static guint64
oieb_u64 (const guint8 * base, gsize offset)
{
  guint64 v;

  memcpy (&v, base + offset, sizeof (v));
  return v;
}

/* A library writer writes a valid frame and a second one whose header the
 * test then corrupts in /dev/shm/NAME, while zbsrc (live) is still in
 * PAUSED and reads nothing; in PLAYING the first frame goes through and
 * the second fails with the library's error. */
GST_START_TEST (test_read_corrupt_frame)
{
  gint variant;

  for (variant = 0; variant < 2; variant++) {
    const gchar *meta = "{\"caps\":\"application/x-zbt\","
        "\"frame_format\":\"raw\"}";
    gchar *name = zbt_name ();
    gchar *path = g_strdup_printf ("/dev/shm/%s", name);
    gchar *msg = g_strdup_printf ("Could not read from buffer \"%s\".", name);
    zb_writer_config wc = { 2000, 0 };
    zb_writer *w = NULL;
    guint8 frame[100], *base;
    guint64 pos, v;
    struct stat st;
    GstElement *r;
    gint fd;

    memset (frame, 0x5a, sizeof (frame));
    r = zbt_pipeline ("zbsrc buffer-name=%s payload-size=65536 ! fakesink",
        name);
    fail_unless_equals_int (gst_element_set_state (r, GST_STATE_PAUSED),
        GST_STATE_CHANGE_NO_PREROLL);
    fail_unless_equals_int (zb_writer_connect (name, &wc, &w), 0);
    fail_unless_equals_int (zb_writer_set_metadata (w, meta, strlen (meta)), 0);
    fail_unless_equals_int (zb_writer_write (w, frame, sizeof (frame)), 0);

    fd = open (path, O_RDWR);
    fail_unless (fd >= 0 && fstat (fd, &st) == 0, "%s: %s", path,
        g_strerror (errno));
    base = mmap (NULL, st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close (fd);
    fail_unless (base != MAP_FAILED);
    pos = oieb_u64 (base, OIEB_PAYLOAD_WRITE_POS);
    fail_unless_equals_int (zb_writer_write (w, frame, sizeof (frame)), 0);
    /* the header of frame 2: { u64 size, u64 sequence } */
    if (variant == 0) {
      v = 7;                    /* sequence 7 where 2 is due */
      memcpy (base + OIEB_SIZE + oieb_u64 (base, OIEB_METADATA_SIZE) + pos +
          8, &v, sizeof (v));
    } else {
      v = 1 << 20;              /* a size past the 64 KiB ring */
      memcpy (base + OIEB_SIZE + oieb_u64 (base, OIEB_METADATA_SIZE) + pos,
          &v, sizeof (v));
    }
    munmap (base, st.st_size);

    fail_unless (gst_element_set_state (r, GST_STATE_PLAYING) !=
        GST_STATE_CHANGE_FAILURE);
    {
      GstBus *bus = gst_element_get_bus (r);
      GstMessage *m = zbt_pop (bus, GST_MESSAGE_ERROR, 5000);
      GError *err = NULL;
      gchar *dbg = NULL;
      const gchar *want = zb_strerror (variant == 0 ? -EILSEQ : -EBADMSG);

      fail_unless (m != NULL, "no error");
      gst_message_parse_error (m, &err, &dbg);
      GST_INFO ("error: %s (%s)", err->message, dbg);
      fail_unless (g_error_matches (err, GST_RESOURCE_ERROR,
              GST_RESOURCE_ERROR_READ), "error %s:%d %s",
          g_quark_to_string (err->domain), err->code, err->message);
      fail_unless_equals_string (err->message, msg);
      fail_unless (dbg && strstr (dbg, want), "debug '%s' lacks '%s'", dbg,
          want);
      g_error_free (err);
      g_free (dbg);
      gst_message_unref (m);
      gst_object_unref (bus);
    }
    zb_writer_disconnect (w);
    shutdown (r);
    fail_unless (zbt_no_leftovers (name));
    g_free (msg);
    g_free (path);
    g_free (name);
  }
}

GST_END_TEST;

/* Remove @path and everything below it (directories are entered only when
 * lstat() says they are directories, so a symlink is removed, not
 * followed). */
static void
remove_tree (const gchar * path)
{
  GStatBuf st;

  if (g_lstat (path, &st) != 0)
    return;
  if (S_ISDIR (st.st_mode)) {
    GDir *dir = g_dir_open (path, 0, NULL);
    const gchar *f;

    while (dir && (f = g_dir_read_name (dir))) {
      gchar *p = g_build_filename (path, f, NULL);

      remove_tree (p);
      g_free (p);
    }
    if (dir)
      g_dir_close (dir);
    g_rmdir (path);
  } else {
    g_unlink (path);
  }
}

/* Copy @src to @dir/@subdir/basename(@src), mode 0644; @subdir is created
 * 0755. */
static gboolean
copy_into (const gchar * src, const gchar * dir, const gchar * subdir,
    GError ** error)
{
  gchar *contents = NULL, *base, *sub, *dst;
  gsize len = 0;
  gboolean ok = FALSE;

  base = g_path_get_basename (src);
  sub = g_build_filename (dir, subdir, NULL);
  dst = g_build_filename (sub, base, NULL);
  if (g_mkdir_with_parents (sub, 0755) == 0 && chmod (sub, 0755) == 0 &&
      g_file_get_contents (src, &contents, &len, error))
    ok = g_file_set_contents_full (dst, contents, len,
        G_FILE_SET_CONTENTS_NONE, 0644, error);
  else if (error && *error == NULL)
    g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (errno),
        "%s: %s", sub, g_strerror (errno));
  g_free (contents);
  g_free (dst);
  g_free (sub);
  g_free (base);
  return ok;
}

/* zbsink as user nobody against a 0600 buffer of root's: gst-launch-1.0
 * under setpriv.
 *
 * nobody runs our plugin from a copy, not from the build tree: a clone
 * in /root/... or in any 0700 directory (mktemp -d, a CI workspace of
 * unknown mode) is out of nobody's reach, and gst-launch-1.0 would only
 * say 'no element "zbsink"'. The copy is a fresh temporary directory
 * (0755, root's): gst/ holds the plugin this test loaded (from the
 * registry) and lib/ the libzerobuffer.so.N this program runs with (from
 * dladdr), which the plugin finds through its RUNPATH $ORIGIN/../lib
 * (and LD_LIBRARY_PATH, put first). Under ASan the runtimes come with
 * LD_PRELOAD from the system, as for any gst-launch-1.0. nobody's
 * registry, HOME and cache are in home/, a subdirectory that nobody
 * owns. Everything is removed before the first assertion, so also when
 * the test fails. tests/fault/nobody-0700.sh runs this test from behind
 * a 0700 directory. */
GST_START_TEST (test_sink_permission_denied)
{
  gchar *name = zbt_name ();
  gchar *setpriv = g_find_program_in_path ("setpriv");
  struct passwd *pw = getpwnam ("nobody");
  zb_reader_config rc = { 4096, 65536, 0600 };
  zb_reader *reader = NULL;
  GstPlugin *plugin;
  Dl_info dl;
  gchar *dir, *home = NULL, *reg = NULL, *log = NULL, *gstdir = NULL;
  gchar *libdir = NULL, *ldpath = NULL, *sinkarg, *out = NULL, *msg;
  gchar *problem = NULL;
  gchar **envp;
  GError *error = NULL;
  GPid pid = 0;
  gint status = -1, logfd = -1, created;
  const gchar *argv[] = { NULL, "--reuid=nobody", "--regid=nogroup",
    "--clear-groups", "gst-launch-1.0", "fakesrc", "num-buffers=1", "!",
    "zbsink", NULL, "connect-timeout=1000", NULL
  };

  if (setpriv == NULL || pw == NULL || geteuid () != 0) {
    g_printerr ("SKIP test_sink_permission_denied: needs root, setpriv and "
        "user nobody (%s)\n", geteuid () != 0 ? "not root" :
        setpriv == NULL ? "no setpriv in PATH" : "no user nobody");
    g_free (setpriv);
    g_free (name);
    return;
  }
  plugin = gst_registry_find_plugin (gst_registry_get (), "zerobuffer");
  fail_unless (plugin != NULL && gst_plugin_get_filename (plugin) != NULL,
      "plugin zerobuffer not in the registry");
  fail_unless (dladdr ((void *) zb_reader_create, &dl) != 0 &&
      dl.dli_fname != NULL);

  dir = g_dir_make_tmp ("zbt-nobody-XXXXXX", NULL);
  fail_unless (dir != NULL);
  if (chmod (dir, 0755) != 0)
    problem = g_strdup_printf ("chmod %s: %s", dir, g_strerror (errno));
  if (problem == NULL && !copy_into (gst_plugin_get_filename (plugin), dir,
          "gst", &error))
    problem = g_strdup_printf ("copying the plugin: %s", error->message);
  /* libzerobuffer linked statically into the plugin: nothing to copy */
  if (problem == NULL && g_str_has_prefix (strrchr (dl.dli_fname, '/') ?
          strrchr (dl.dli_fname, '/') + 1 : dl.dli_fname, "libzerobuffer")
      && !copy_into (dl.dli_fname, dir, "lib", &error))
    problem = g_strdup_printf ("copying %s: %s", dl.dli_fname, error->message);
  home = g_build_filename (dir, "home", NULL);
  if (problem == NULL && (g_mkdir (home, 0700) != 0 ||
          chown (home, pw->pw_uid, pw->pw_gid) != 0))
    problem = g_strdup_printf ("%s: %s", home, g_strerror (errno));
  gst_object_unref (plugin);

  gstdir = g_build_filename (dir, "gst", NULL);
  libdir = g_build_filename (dir, "lib", NULL);
  reg = g_build_filename (home, "registry.bin", NULL);
  log = g_build_filename (dir, "launch.log", NULL);
  ldpath = g_getenv ("LD_LIBRARY_PATH") ?
      g_strdup_printf ("%s:%s", libdir, g_getenv ("LD_LIBRARY_PATH")) :
      g_strdup (libdir);
  envp = g_get_environ ();
  envp = g_environ_setenv (envp, "GST_PLUGIN_PATH_1_0", gstdir, TRUE);
  envp = g_environ_unsetenv (envp, "GST_PLUGIN_PATH");
  envp = g_environ_setenv (envp, "LD_LIBRARY_PATH", ldpath, TRUE);
  envp = g_environ_setenv (envp, "GST_REGISTRY", reg, TRUE);
  envp = g_environ_setenv (envp, "GST_REGISTRY_1_0", reg, TRUE);
  envp = g_environ_setenv (envp, "HOME", home, TRUE);
  envp = g_environ_setenv (envp, "XDG_CACHE_HOME", home, TRUE);
  sinkarg = g_strdup_printf ("buffer-name=%s", name);
  argv[0] = setpriv;
  argv[9] = sinkarg;

  created = zb_reader_create (name, &rc, &reader);
  if (problem == NULL && created != 0)
    problem = g_strdup_printf ("zb_reader_create: %s", zb_strerror (created));
  if (problem == NULL) {
    logfd = g_open (log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (logfd < 0)
      problem = g_strdup_printf ("%s: %s", log, g_strerror (errno));
  }
  if (problem == NULL && !g_spawn_async_with_fds (dir, (gchar **) argv, envp,
          G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL, &pid, -1, logfd, logfd,
          &error))
    problem = g_strdup_printf ("spawn: %s", error->message);
  if (pid > 0) {
    /* connect-timeout=1000: it fails at once (or after 1 s); 20 s bound */
    status = zbt_wait_pid (pid, 20000);
    if (status == -1) {
      zbt_kill (pid, SIGKILL, 5000);
      problem = g_strdup ("gst-launch-1.0 as nobody still running after "
          "20 s (killed)");
    }
    g_spawn_close_pid (pid);
  }
  if (logfd >= 0)
    close (logfd);
  g_file_get_contents (log, &out, NULL, NULL);
  GST_INFO ("gst-launch as nobody: %s", out ? out : "(no output)");
  if (reader)
    zb_reader_destroy (reader);
  remove_tree (dir);

  msg = g_strdup_printf ("Permission denied opening buffer \"%s\" in "
      "/dev/shm.", name);
  fail_unless (problem == NULL, "%s", problem);
  fail_unless (out != NULL && strstr (out, msg) != NULL, "no '%s' in: %s",
      msg, out ? out : "(no output)");
  fail_unless (!(WIFEXITED (status) && WEXITSTATUS (status) == 0));
  fail_unless (!g_file_test (dir, G_FILE_TEST_EXISTS), "%s left", dir);
  fail_unless (zbt_no_leftovers (name));

  g_clear_error (&error);
  g_strfreev (envp);
  g_free (msg);
  g_free (out);
  g_free (sinkarg);
  g_free (ldpath);
  g_free (log);
  g_free (reg);
  g_free (libdir);
  g_free (gstdir);
  g_free (home);
  g_free (dir);
  g_free (setpriv);
  g_free (name);
}

GST_END_TEST;

/* A buffer created by another user (nobody, mode 0666) is refused by
 * default (frames never go to a squatter); allow-uid lets it through, with
 * the frames copied: the writer's pool segments are its own user's (0600),
 * so no pool record may go to that reader. */
static void
nobody_reader (const gchar * name, gint ready_fd)
{
  struct passwd *pw = getpwnam ("nobody");
  zb_reader_config rc = { 4096, 1 << 20, 0666 };
  zb_reader *reader = NULL;
  zb_frame f;
  zb_gst_record rec;
  const void *payload;
  int ret, frames = 0, pool_records = 0;
  char c;

  if (setgroups (0, NULL) < 0 || setgid (pw->pw_gid) < 0
      || setuid (pw->pw_uid) < 0)
    _exit (2);
  umask (0);
  if (zb_reader_create (name, &rc, &reader) < 0)
    _exit (3);
  if (write (ready_fd, "r", 1) != 1)
    _exit (4);
  /* Every frame (a caps record, the buffer, EOS) until the writer leaves;
   * long enough for two pipelines under valgrind. */
  while ((ret = zb_reader_read (reader, 60000, &f)) == 0) {
    frames++;
    if (zb_gst_record_decode (f.data, f.size, &rec, &payload) == 0 &&
        rec.type == ZB_GST_RECORD_POOL)
      pool_records++;
    zb_reader_release (reader, &f);
  }
  zb_reader_destroy (reader);
  /* The verdict goes through the pipe; the end is SIGKILL, so that no exit
   * handler runs in this copy of a threaded process (and valgrind does not
   * count the parent's threads' memory as this child's leaks). */
  c = pool_records > 0 ? 'p' : frames > 0 && ret == -EPIPE ? 'o' : 'f';
  if (write (ready_fd, &c, 1) != 1)
    _exit (5);
  raise (SIGKILL);
}

GST_START_TEST (test_sink_foreign_user)
{
  gchar *name = zbt_name ();
  struct passwd *pw = getpwnam ("nobody");
  GstElement *p;
  GPid pid;
  gint fds[2];
  gchar c;

  if (pw == NULL || pw->pw_uid == 0 || geteuid () != 0) {
    g_printerr ("SKIP test_sink_foreign_user: needs root and user nobody\n");
    g_free (name);
    return;
  }
  fail_unless (pipe (fds) == 0);
  pid = fork ();
  if (pid == 0)
    nobody_reader (name, fds[1]);
  close (fds[1]);
  fail_unless (read (fds[0], &c, 1) == 1, "nobody's reader did not start");

  p = zbt_pipeline ("videotestsrc num-buffers=1 ! video/x-raw,width=16,"
      "height=16 ! zbsink buffer-name=%s connect-timeout=1000", name);
  gst_element_set_state (p, GST_STATE_PLAYING);
  expect_error (p, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_OPEN_WRITE,
      "belongs to another user", 3000);
  shutdown (p);

  p = zbt_pipeline ("videotestsrc num-buffers=1 ! video/x-raw,format=I420,"
      "width=16,height=16 ! zbsink buffer-name=%s connect-timeout=5000 "
      "allow-uid=%d", name, (gint) pw->pw_uid);
  gst_element_set_state (p, GST_STATE_PLAYING);
  zbt_wait_eos (p, 10000);
  zbt_stop_and_free (p);
  fail_unless (read (fds[0], &c, 1) == 1, "no verdict from nobody's reader");
  fail_if (c == 'p', "a pool record went to another user's reader");
  fail_unless (c == 'o',
      "nobody's reader did not get the frames and the writer's exit");
  fail_unless_equals_int (zbt_wait_pid (pid, 10000), SIGKILL);
  close (fds[0]);
  fail_unless (zbt_no_leftovers (name));
  g_free (name);
}

GST_END_TEST;

static Suite *
zberrors_suite (void)
{
  Suite *s = suite_create ("zberrors");
  TCase *tc = tcase_create ("general");

  tcase_set_timeout (tc, 30);
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_name_in_use_by_live_reader);
  tcase_add_test (tc, test_invalid_name);
  tcase_add_test (tc, test_frame_larger_than_ring);
  tcase_add_test (tc, test_connect_timeout);
  tcase_add_test (tc, test_connect_wait_interruptible);
  tcase_add_test (tc, test_caps_reader_cannot_use);
  tcase_add_test (tc, test_dead_writer_error);
  tcase_add_test (tc, test_dead_reader_error);
  tcase_add_test (tc, test_raw_caps_change);
  tcase_add_test (tc, test_read_corrupt_frame);
  tcase_add_test (tc, test_sink_permission_denied);
  tcase_add_test (tc, test_sink_foreign_user);
  return s;
}

ZBT_MAIN (zberrors_suite);
