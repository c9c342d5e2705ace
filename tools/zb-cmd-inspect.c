/* zerobuffer command-line tool - inspect: the state of one buffer */

#include "zb-admin.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PREVIEW_MAX 4096
#define METADATA_CAP (64 * 1024)

static void
inspect_usage (FILE * out)
{
  fputs ("Usage: zerobuffer inspect NAME [options]\n"
      "\n"
      "Show the state of buffer NAME without joining it: every OIEB field,\n"
      "utilisation and health, reader and writer, metadata preview.\n"
      "\n"
      "Options:\n"
      "      --json             print JSON (one line per sample with "
      "--watch)\n"
      "      --watch SECONDS    repeat every SECONDS (fractions allowed) "
      "until\n"
      "                         interrupted or the buffer is gone\n"
      "      --count N          with --watch: stop after N samples\n"
      "  -h, --help             show this help\n"
      "\n"
      "Health: healthy below 80 % utilisation, degraded below 95 %, "
      "critical above.\n"
      "Exit status: 0 success, 1 buffer not found or unreadable, 2 invalid "
      "arguments.\n", out);
}

static void
inspect_print (const char *name, const zb_status * st, const Entry * e,
    const uint8_t * meta, size_t meta_len, int json, int pretty)
{
  double u = st->utilisation;
  char *preview;
  size_t shown = meta_len < PREVIEW_MAX ? meta_len : PREVIEW_MAX;
  uint64_t meta_free, used;
  uint32_t oieb_size = ZB_OIEB_SIZE;
  int has_raw = e->valid;
  State state;
  struct timespec now;
  int i;

  if (shown > METADATA_CAP)
    shown = METADATA_CAP;
  preview = malloc (shown + 1);
  if (preview)
    zb_cli_printable (preview, shown + 1, meta, shown);
  if (u < 0 || u > 1)
    u = zb_admin_utilisation (st->payload_size, st->payload_free_bytes);
  used = st->payload_free_bytes <= st->payload_size ?
      st->payload_size - st->payload_free_bytes : 0;
  meta_free = has_raw ? e->oieb.metadata_free_bytes :
      st->metadata_size - st->metadata_written_bytes;
  if (has_raw)
    oieb_size = e->oieb.oieb_size;
  if (st->reader_alive || st->writer_alive || e->lock_held)
    state = STATE_ACTIVE;
  else
    state = STATE_STALE;
  clock_gettime (CLOCK_REALTIME, &now);

  if (json) {
    zb_json j;
    char version[32];

    snprintf (version, sizeof (version), "%u.%u.%u", st->version[0],
        st->version[1], st->version[2]);
    zb_json_init (&j, stdout, pretty);
    zb_json_begin_object (&j, NULL);
    zb_json_string (&j, "name", name);
    zb_json_double (&j, "timestamp",
        (double) now.tv_sec + (double) now.tv_nsec / 1e9);
    zb_json_string (&j, "state", zb_admin_state_names[state]);
    zb_json_string (&j, "health", zb_admin_health (u));
    zb_json_double (&j, "utilisation_percent", u * 100);
    zb_json_uint (&j, "oieb_size", oieb_size);
    zb_json_string (&j, "version", version);
    zb_json_uint (&j, "metadata_size", st->metadata_size);
    zb_json_uint (&j, "metadata_free_bytes", meta_free);
    zb_json_uint (&j, "metadata_written_bytes", st->metadata_written_bytes);
    zb_json_uint (&j, "payload_size", st->payload_size);
    zb_json_uint (&j, "payload_free_bytes", st->payload_free_bytes);
    zb_json_uint (&j, "payload_used_bytes", used);
    zb_json_uint (&j, "payload_write_pos", st->write_pos);
    zb_json_uint (&j, "payload_read_pos", st->read_pos);
    zb_json_uint (&j, "payload_written_count", st->written_count);
    zb_json_uint (&j, "payload_read_count", st->read_count);
    zb_json_uint (&j, "writer_pid", st->writer_pid);
    zb_json_bool (&j, "writer_alive", st->writer_alive);
    zb_json_uint (&j, "reader_pid", st->reader_pid);
    zb_json_bool (&j, "reader_alive", st->reader_alive);
    zb_json_begin_array (&j, "reserved");
    for (i = 0; i < 4; i++)
      zb_json_uint (&j, NULL, has_raw ? e->oieb.reserved[i] : 0);
    zb_json_end_array (&j);
    zb_json_bool (&j, "lock_file", e->has_lock);
    zb_json_bool (&j, "lock_held", e->lock_held);
    zb_json_uint (&j, "metadata_length", meta_len);
    zb_json_string (&j, "metadata_preview", preview ? preview : "");
    zb_json_bool (&j, "metadata_truncated", shown < meta_len);
    zb_json_end_object (&j);
    zb_json_finish (&j);
  } else {
    printf ("buffer:                 %s\n", name);
    printf ("state:                  %s\n", zb_admin_state_names[state]);
    printf ("health:                 %s (%.2f %% used)\n", zb_admin_health (u),
        u * 100);
    printf ("oieb_size:              %u\n", oieb_size);
    printf ("version:                %u.%u.%u\n", st->version[0],
        st->version[1], st->version[2]);
    printf ("metadata_size:          %" PRIu64 "\n", st->metadata_size);
    printf ("metadata_free_bytes:    %" PRIu64 "\n", meta_free);
    printf ("metadata_written_bytes: %" PRIu64 "\n",
        st->metadata_written_bytes);
    printf ("payload_size:           %" PRIu64 "\n", st->payload_size);
    printf ("payload_free_bytes:     %" PRIu64 "\n", st->payload_free_bytes);
    printf ("payload_write_pos:      %" PRIu64 "\n", st->write_pos);
    printf ("payload_read_pos:       %" PRIu64 "\n", st->read_pos);
    printf ("payload_written_count:  %" PRIu64 "\n", st->written_count);
    printf ("payload_read_count:     %" PRIu64 "\n", st->read_count);
    printf ("writer_pid:             %" PRIu64 " (%s)\n", st->writer_pid,
        st->writer_pid == 0 ? "none" : st->writer_alive ? "alive" : "dead");
    printf ("reader_pid:             %" PRIu64 " (%s)\n", st->reader_pid,
        st->reader_pid == 0 ? "none" : st->reader_alive ? "alive" : "dead");
    printf ("lock:                   %s\n", !e->has_lock ? "missing" :
        e->lock_held ? "held" : "free");
    if (meta_len == 0) {
      printf ("metadata:               none\n");
    } else {
      printf ("metadata:               %zu bytes%s\n", meta_len,
          shown < meta_len ? " (preview truncated)" : "");
      printf ("  %s\n", preview ? preview : "");
    }
    fflush (stdout);
  }
  free (preview);
}

int
zb_cmd_inspect (int argc, char **argv)
{
  static const struct option longopts[] = {
    {"json", no_argument, NULL, 'j'},
    {"watch", required_argument, NULL, 'w'},
    {"count", required_argument, NULL, 'c'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0}
  };
  const char *cmd = "inspect", *name;
  int json = 0, c, ret, samples = 0, lock_dir;
  double interval = 0;
  long long count = 0;
  uint8_t *meta;

  opterr = 0;
  while ((c = getopt_long (argc, argv, "h", longopts, NULL)) != -1) {
    switch (c) {
      case 'j':
        json = 1;
        break;
      case 'w':
        if (zb_cli_parse_seconds (optarg, &interval) < 0) {
          zb_cli_error (cmd, "invalid value '%s' for --watch (expected "
              "seconds > 0)", optarg);
          return EXIT_USAGE;
        }
        break;
      case 'c':
        if (zb_cli_opt_count (cmd, "--count", optarg, 1, &count) < 0)
          return EXIT_USAGE;
        break;
      case 'h':
        inspect_usage (stdout);
        return 0;
      default:
        return zb_cli_bad_option (cmd, argv, EXIT_USAGE);
    }
  }
  name = zb_cli_one_name (cmd, argc, argv);
  if (name == NULL)
    return EXIT_USAGE;
  if (count && interval == 0) {
    zb_cli_error (cmd, "--count needs --watch");
    return EXIT_USAGE;
  }
  if (zb_cli_check_name (cmd, name) < 0)
    return EXIT_USAGE;
  meta = malloc (METADATA_CAP);
  if (meta == NULL) {
    zb_cli_error (cmd, "out of memory");
    return EXIT_FAIL;
  }
  if (interval > 0)
    zb_cli_catch_signals ();

  for (;;) {
    zb_status st;
    size_t meta_len = 0;
    Entry e;

    memset (&st, 0, sizeof (st));
    ret = zb_inspect (name, &st, meta, METADATA_CAP, &meta_len);
    if (ret < 0) {
      if (samples == 0) {
        zb_cli_error (cmd, "cannot inspect buffer '%s': %s", name,
            zb_strerror (ret));
        free (meta);
        return EXIT_FAIL;
      }
      zb_cli_error (cmd, "buffer '%s' is gone: %s", name, zb_strerror (ret));
      break;
    }
    memset (&e, 0, sizeof (e));
    lock_dir = zb_admin_lock_dir (cmd, samples == 0 ?
        "its lock file is not looked at" : NULL);
    zb_admin_probe (lock_dir, name, &e);
    if (lock_dir >= 0)
      close (lock_dir);
    if (e.lock_bad && samples == 0)
      zb_admin_lock_bad (cmd, name, &e, "shown as missing");
    if (e.valid && e.oieb.payload_size != st.payload_size)
      e.valid = 0;              /* replaced in between: trust zb_inspect */
    if (samples > 0 && !json)
      printf ("\n");
    inspect_print (name, &st, &e, meta,
        meta_len < METADATA_CAP ? meta_len : METADATA_CAP, json, interval == 0);
    samples++;
    if (interval == 0 || (count && samples >= count) || zb_cli_stop)
      break;
    zb_cli_sleep_ms (interval * 1000);
    if (zb_cli_stop)
      break;
  }
  free (meta);
  return 0;
}
