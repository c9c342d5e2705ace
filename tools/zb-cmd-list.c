/* zerobuffer command-line tool - list: every buffer and orphaned object */

#include "zb-admin.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>

/* The paths of the objects of @e that exist. */
static void
entry_objects (const Entry * e, char paths[4][PATH_MAX + 16], int *n)
{
  *n = 0;
  if (e->valid)
    snprintf (paths[(*n)++], PATH_MAX + 16, ZB_CLI_SHM_DIR "/%s", e->name);
  if (e->has_sem_w)
    snprintf (paths[(*n)++], PATH_MAX + 16, ZB_CLI_SHM_DIR "/" SEM_W_PREFIX
        "%s", e->name);
  if (e->has_sem_r)
    snprintf (paths[(*n)++], PATH_MAX + 16, ZB_CLI_SHM_DIR "/" SEM_R_PREFIX
        "%s", e->name);
  if (e->has_lock)
    snprintf (paths[(*n)++], PATH_MAX + 16, ZB_CLI_LOCK_DIR "/%s"
        LOCK_SUFFIX, e->name);
}

static void
list_usage (FILE * out)
{
  fputs ("Usage: zerobuffer list [--json]\n"
      "\n"
      "List every ZeroBuffer buffer in " ZB_CLI_SHM_DIR " (a file whose "
      "first 128 bytes\nare a valid OIEB) and every orphaned semaphore or "
      "lock file, with its state:\n"
      "  active    a live process uses it (reader or writer alive, or the "
      "lock held)\n"
      "  stale     nobody uses it; 'zerobuffer clean' removes it\n"
      "  orphaned  semaphores or lock file without a segment\n"
      "\n"
      "Options:\n"
      "      --json     print JSON\n"
      "  -h, --help     show this help\n"
      "\n"
      "Exit status: 0 success, 1 " ZB_CLI_SHM_DIR " unreadable or the "
      "lock directory\n" ZB_CLI_LOCK_DIR " refused (then the list has no "
      "lock files), 2 invalid arguments.\n", out);
}

int
zb_cmd_list (int argc, char **argv)
{
  static const struct option longopts[] = {
    {"json", no_argument, NULL, 'j'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0}
  };
  const char *cmd = "list";
  EntryList l = { NULL, 0, 0 };
  int json = 0, c, ret, lock_dir, status = 0;
  size_t i;

  opterr = 0;
  while ((c = getopt_long (argc, argv, "h", longopts, NULL)) != -1) {
    switch (c) {
      case 'j':
        json = 1;
        break;
      case 'h':
        list_usage (stdout);
        return 0;
      default:
        return zb_cli_bad_option (cmd, argv, EXIT_USAGE);
    }
  }
  if (optind < argc) {
    zb_cli_error (cmd, "unexpected argument '%s'", argv[optind]);
    return EXIT_USAGE;
  }
  lock_dir = zb_admin_lock_dir (cmd, "its lock files are not listed");
  if (lock_dir < 0 && lock_dir != -ENOENT)
    status = EXIT_FAIL;
  ret = zb_admin_scan (cmd, lock_dir, &l);
  if (lock_dir >= 0)
    close (lock_dir);
  if (ret < 0)
    return EXIT_FAIL;

  if (json) {
    zb_json j;

    zb_json_init (&j, stdout, 1);
    zb_json_begin_object (&j, NULL);
    zb_json_uint (&j, "count", l.n);
    zb_json_begin_array (&j, "buffers");
    for (i = 0; i < l.n; i++) {
      const Entry *e = &l.items[i];
      char paths[4][PATH_MAX + 16];
      int n, k;
      double u = zb_admin_utilisation (e->oieb.payload_size,
          e->oieb.payload_free_bytes);

      entry_objects (e, paths, &n);
      zb_json_begin_object (&j, NULL);
      zb_json_string (&j, "name", e->name);
      zb_json_string (&j, "state", zb_admin_state_names[zb_admin_state (e)]);
      if (e->valid) {
        zb_json_uint (&j, "reader_pid", e->oieb.reader_pid);
        zb_json_bool (&j, "reader_alive", e->reader_alive);
        zb_json_uint (&j, "writer_pid", e->oieb.writer_pid);
        zb_json_bool (&j, "writer_alive", e->writer_alive);
        zb_json_uint (&j, "metadata_size", e->oieb.metadata_size);
        zb_json_uint (&j, "payload_size", e->oieb.payload_size);
        zb_json_double (&j, "utilisation_percent", u * 100);
        zb_json_string (&j, "health", zb_admin_health (u));
      } else {
        zb_json_null (&j, "reader_pid");
        zb_json_bool (&j, "reader_alive", 0);
        zb_json_null (&j, "writer_pid");
        zb_json_bool (&j, "writer_alive", 0);
        zb_json_null (&j, "metadata_size");
        zb_json_null (&j, "payload_size");
        zb_json_null (&j, "utilisation_percent");
        zb_json_null (&j, "health");
      }
      zb_json_bool (&j, "lock_held", e->lock_held);
      zb_json_begin_array (&j, "objects");
      for (k = 0; k < n; k++)
        zb_json_string (&j, NULL, paths[k]);
      zb_json_end_array (&j);
      zb_json_end_object (&j);
    }
    zb_json_end_array (&j);
    zb_json_end_object (&j);
    zb_json_finish (&j);
  } else {
    printf ("%-32s %-9s %-8s %-8s %12s %7s %-9s\n", "NAME", "STATE",
        "READER", "WRITER", "PAYLOAD", "USED", "HEALTH");
    for (i = 0; i < l.n; i++) {
      const Entry *e = &l.items[i];
      char rd[32], wr[32];

      if (e->valid) {
        double u = zb_admin_utilisation (e->oieb.payload_size,
            e->oieb.payload_free_bytes);

        snprintf (rd, sizeof (rd), "%" PRIu64 "%s", e->oieb.reader_pid,
            e->oieb.reader_pid && !e->reader_alive ? "+" : "");
        snprintf (wr, sizeof (wr), "%" PRIu64 "%s", e->oieb.writer_pid,
            e->oieb.writer_pid && !e->writer_alive ? "+" : "");
        printf ("%-32s %-9s %-8s %-8s %12" PRIu64 " %6.1f%% %-9s\n",
            e->name, zb_admin_state_names[zb_admin_state (e)], rd, wr,
            e->oieb.payload_size, u * 100, zb_admin_health (u));
      } else {
        printf ("%-32s %-9s %-8s %-8s %12s %7s %-9s (%s%s%s)\n", e->name,
            zb_admin_state_names[zb_admin_state (e)], "-", "-", "-", "-", "-",
            e->has_sem_w ? "sem-w " : "", e->has_sem_r ? "sem-r " : "",
            e->has_lock ? "lock" : "");
      }
    }
    if (l.n == 0)
      printf ("(no ZeroBuffer objects)\n");
    else
      printf ("(a pid followed by + is dead)\n");
  }
  zb_admin_free (&l);
  return status;
}
