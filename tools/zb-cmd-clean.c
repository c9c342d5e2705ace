/* zerobuffer command-line tool - clean: remove stale buffers */

#include "zb-admin.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <string.h>
#include <unistd.h>

static void
clean_usage (FILE * out)
{
  fputs ("Usage: zerobuffer clean NAME...\n"
      "       zerobuffer clean --stale\n"
      "\n"
      "Remove the objects of stale buffers (segment, semaphores, lock file) "
      "and\norphaned semaphores or lock files. A buffer that a live process "
      "still\nuses is never touched. Every run also removes what dead "
      "writers of ours left\nbeside any buffer: zbsink's pool segments "
      "(zbpool-*) and writers' statistics\n(zbstats-*); never a live "
      "writer's (docs/protocol.md).\n"
      "\n"
      "Options:\n"
      "      --stale    remove every stale buffer and orphaned object found "
      "by\n"
      "                 'zerobuffer list'\n"
      "  -h, --help     show this help\n"
      "\n"
      "Exit status: 0 success, 1 a named buffer is in use, does not exist or "
      "could\nnot be removed, or the lock directory " ZB_CLI_LOCK_DIR
      " is refused, 2 invalid\narguments.\n", out);
}

static int
describe_busy (const Entry * e, char *buf, size_t size)
{
  if (e->reader_alive)
    return snprintf (buf, size, "reader pid %" PRIu64 " is alive",
        e->oieb.reader_pid);
  if (e->writer_alive)
    return snprintf (buf, size, "writer pid %" PRIu64 " is alive",
        e->oieb.writer_pid);
  if (e->lock_held)
    return snprintf (buf, size, "its lock is held by pid %ld", e->lock_pid);
  return snprintf (buf, size, "a live process uses it");
}

/* 0 removed, -EBUSY in use, -ENOENT nothing there, other < 0 failure.
 * Everything is removed by zb_cleanup(), under the buffer's lock file in
 * the trusted lock directory. */
static int
clean_one (const char *cmd, int lock_dir, const char *name, int quiet_busy)
{
  Entry e;
  char why[128];
  int ret;

  memset (&e, 0, sizeof (e));
  zb_admin_probe (lock_dir, name, &e);
  if (e.lock_bad) {
    zb_admin_lock_bad (cmd, name, &e, "not removed");
    return -EACCES;
  }
  switch (zb_admin_state (&e)) {
    case STATE_NONE:
      if (e.has_shm) {
        zb_cli_error (cmd, "'%s' is not a ZeroBuffer buffer; not removed",
            name);
        return -EPROTO;
      }
      zb_cli_error (cmd, "no buffer named '%s'", name);
      return -ENOENT;
    case STATE_ACTIVE:
      describe_busy (&e, why, sizeof (why));
      if (!quiet_busy)
        zb_cli_error (cmd, "buffer '%s' is in use (%s); not removed", name,
            why);
      return -EBUSY;
    case STATE_STALE:
    case STATE_ORPHANED:
      break;
  }
  ret = zb_cleanup (name);
  if (ret == -EBUSY) {
    if (!quiet_busy)
      zb_cli_error (cmd, "buffer '%s' is in use; not removed", name);
    return -EBUSY;
  }
  if (ret == -EPROTO) {
    zb_cli_error (cmd, ZB_CLI_SHM_DIR "/%s is not a ZeroBuffer segment; "
        "nothing of '%s' removed", name, name);
    return ret;
  }
  if (ret < 0 && ret != -ENOENT) {
    zb_cli_error (cmd, "cannot remove buffer '%s': %s", name,
        zb_strerror (ret));
    return ret;
  }
  zb_admin_probe (lock_dir, name, &e);
  if (zb_admin_state (&e) != STATE_NONE) {
    zb_cli_error (cmd, "objects of '%s' remain after cleaning (state %s)",
        name, zb_admin_state_names[zb_admin_state (&e)]);
    return -EIO;
  }
  printf ("removed %s\n", name);
  return 0;
}

/* --stale: every stale buffer and orphaned object that list finds. */
static int
clean_stale (const char *cmd, int lock_dir)
{
  EntryList l = { NULL, 0, 0 };
  size_t k, removed = 0;
  int ret, status = 0;

  if (zb_admin_scan (cmd, lock_dir, &l) < 0)
    return EXIT_FAIL;
  for (k = 0; k < l.n; k++) {
    State s = zb_admin_state (&l.items[k]);

    /* the scan said why it skips a buffer with a bad lock file */
    if ((s != STATE_STALE && s != STATE_ORPHANED) || l.items[k].lock_bad)
      continue;
    /* a buffer that became live since the scan is skipped silently */
    ret = clean_one (cmd, lock_dir, l.items[k].name, 1);
    if (ret == 0)
      removed++;
    else if (ret != -EBUSY && ret != -ENOENT)
      status = EXIT_FAIL;
  }
  printf ("%zu stale buffer%s removed\n", removed, removed == 1 ? "" : "s");
  zb_admin_free (&l);
  return status;
}

int
zb_cmd_clean (int argc, char **argv)
{
  static const struct option longopts[] = {
    {"stale", no_argument, NULL, 's'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0}
  };
  const char *cmd = "clean";
  int stale = 0, c, i, status = 0, lock_dir, removed;

  opterr = 0;
  while ((c = getopt_long (argc, argv, "h", longopts, NULL)) != -1) {
    switch (c) {
      case 's':
        stale = 1;
        break;
      case 'h':
        clean_usage (stdout);
        return 0;
      default:
        return zb_cli_bad_option (cmd, argv, EXIT_USAGE);
    }
  }
  if (stale && optind < argc) {
    zb_cli_error (cmd, "give either buffer names or --stale, not both");
    return EXIT_USAGE;
  }
  if (!stale && optind >= argc) {
    zb_cli_error (cmd, "missing buffer name or --stale (try 'zerobuffer "
        "clean --help')");
    return EXIT_USAGE;
  }
  for (i = optind; i < argc; i++) {
    if (zb_cli_check_name (cmd, argv[i]) < 0)
      return EXIT_USAGE;
  }

  /* Everything goes through the lock directory: refuse an untrusted one */
  lock_dir = zb_admin_lock_dir (cmd, "nothing removed");
  if (lock_dir < 0 && lock_dir != -ENOENT)
    return EXIT_FAIL;

  /* what dead writers left beside any buffer: only dead, unlocked
   * objects of ours (zb_cleanup_writer_objects()) */
  removed = zb_cleanup_writer_objects ();
  if (removed > 0)
    printf ("removed %d object%s of dead writers\n", removed,
        removed == 1 ? "" : "s");

  if (stale) {
    status = clean_stale (cmd, lock_dir);
  } else {
    for (i = optind; i < argc; i++) {
      if (clean_one (cmd, lock_dir, argv[i], 0) < 0)
        status = EXIT_FAIL;
    }
  }
  if (lock_dir >= 0)
    close (lock_dir);
  return status;
}
