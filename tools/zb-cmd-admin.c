/* zerobuffer command-line tool - inspect, list and clean
 *
 * A ZeroBuffer buffer NAME consists of /dev/shm/NAME (128-byte OIEB,
 * metadata block, payload ring), the semaphores /dev/shm/sem.sem-w-NAME and
 * /dev/shm/sem.sem-r-NAME and the lock file /tmp/zerobuffer/NAME.lock that
 * its reader holds with flock() for its whole life.
 */

#include "zb-cli.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#define EXIT_FAIL 1
#define EXIT_USAGE 2

#define SEM_W_PREFIX "sem.sem-w-"
#define SEM_R_PREFIX "sem.sem-r-"
#define LOCK_SUFFIX ".lock"
#define PREVIEW_MAX 4096
#define METADATA_CAP (64 * 1024)

/* The OIEB as found in the segment (little-endian, we only build for
 * little-endian hosts). */
typedef struct
{
  uint32_t oieb_size;
  uint8_t version[4];
  uint64_t metadata_size;
  uint64_t metadata_free_bytes;
  uint64_t metadata_written_bytes;
  uint64_t payload_size;
  uint64_t payload_free_bytes;
  uint64_t payload_write_pos;
  uint64_t payload_read_pos;
  uint64_t payload_written_count;
  uint64_t payload_read_count;
  uint64_t writer_pid;
  uint64_t reader_pid;
  uint64_t reserved[4];
} RawOieb;

/* Everything found on disk for one name. */
typedef struct
{
  char *name;
  int has_shm;                  /* /dev/shm/NAME is a regular file */
  int valid;                    /* ... whose first 128 bytes are an OIEB */
  uint64_t file_size;
  RawOieb oieb;
  int has_sem_w;
  int has_sem_r;
  int has_lock;
  int lock_held;
  long lock_pid;
  int reader_alive;
  int writer_alive;
} Entry;

typedef enum
{
  STATE_NONE,
  STATE_ACTIVE,
  STATE_STALE,
  STATE_ORPHANED
} State;

static const char *const state_names[] = {
  "none", "active", "stale", "orphaned"
};

static uint64_t
le64 (const uint8_t * p)
{
  uint64_t v;

  memcpy (&v, p, 8);
  return v;
}

static void
oieb_decode (const uint8_t * b, RawOieb * o)
{
  int i;

  memcpy (&o->oieb_size, b, 4);
  memcpy (o->version, b + 0x04, 4);
  o->metadata_size = le64 (b + 0x08);
  o->metadata_free_bytes = le64 (b + 0x10);
  o->metadata_written_bytes = le64 (b + 0x18);
  o->payload_size = le64 (b + 0x20);
  o->payload_free_bytes = le64 (b + 0x28);
  o->payload_write_pos = le64 (b + 0x30);
  o->payload_read_pos = le64 (b + 0x38);
  o->payload_written_count = le64 (b + 0x40);
  o->payload_read_count = le64 (b + 0x48);
  o->writer_pid = le64 (b + 0x50);
  o->reader_pid = le64 (b + 0x58);
  for (i = 0; i < 4; i++)
    o->reserved[i] = le64 (b + 0x60 + 8 * i);
}

static int
oieb_valid (const RawOieb * o, uint64_t file_size)
{
  if (o->oieb_size != ZB_CLI_OIEB_SIZE || o->version[0] != 1)
    return 0;
  if (o->payload_size == 0 || o->metadata_size > file_size
      || o->payload_size > file_size
      || ZB_CLI_OIEB_SIZE + o->metadata_size + o->payload_size > file_size)
    return 0;
  if (o->payload_write_pos > o->payload_size
      || o->payload_read_pos > o->payload_size
      || o->payload_free_bytes > o->payload_size
      || o->metadata_written_bytes > o->metadata_size)
    return 0;
  return 1;
}

/* Read the OIEB of /dev/shm/@name without mapping or locking anything. */
static int
read_segment (const char *name, Entry * e)
{
  char path[PATH_MAX];
  uint8_t buf[ZB_CLI_OIEB_SIZE];
  struct stat st;
  ssize_t n;
  int fd;

  snprintf (path, sizeof (path), ZB_CLI_SHM_DIR "/%s", name);
  fd = open (path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0)
    return -errno;
  if (fstat (fd, &st) < 0 || !S_ISREG (st.st_mode)) {
    close (fd);
    return -EINVAL;
  }
  e->has_shm = 1;
  e->file_size = (uint64_t) st.st_size;
  if (st.st_size >= ZB_CLI_OIEB_SIZE) {
    n = pread (fd, buf, sizeof (buf), 0);
    if (n == (ssize_t) sizeof (buf)) {
      oieb_decode (buf, &e->oieb);
      e->valid = oieb_valid (&e->oieb, e->file_size);
    }
  }
  close (fd);
  return 0;
}

/* Is the lock file held? /proc/locks lists every flock() with the device
 * and inode it locks; reading it takes no lock itself, so a reader that
 * starts now is never disturbed. */
static void
check_lock (const char *name, Entry * e)
{
  char path[PATH_MAX], line[512];
  struct stat st;
  FILE *f;

  snprintf (path, sizeof (path), ZB_CLI_LOCK_DIR "/%s" LOCK_SUFFIX, name);
  if (lstat (path, &st) < 0 || !S_ISREG (st.st_mode))
    return;
  e->has_lock = 1;
  f = fopen ("/proc/locks", "re");
  if (f == NULL)
    return;
  while (fgets (line, sizeof (line), f)) {
    char type[16], adv[16], mode[16];
    unsigned int maj, min;
    unsigned long ino;
    long pid;
    const char *p = strchr (line, ':');

    if (p == NULL || strstr (line, "->"))
      continue;
    if (sscanf (p + 1, "%15s %15s %15s %ld %x:%x:%lu", type, adv, mode,
            &pid, &maj, &min, &ino) != 7)
      continue;
    if (strcmp (type, "FLOCK") == 0 && maj == major (st.st_dev)
        && min == minor (st.st_dev) && ino == (unsigned long) st.st_ino) {
      e->lock_held = 1;
      e->lock_pid = pid;
      break;
    }
  }
  fclose (f);
}

static int
file_exists (const char *dir, const char *prefix, const char *name)
{
  char path[PATH_MAX];
  struct stat st;

  snprintf (path, sizeof (path), "%s/%s%s", dir, prefix, name);
  return lstat (path, &st) == 0;
}

/* Fill @e for @name: segment, semaphores, lock file, liveness. */
static void
probe (const char *name, Entry * e)
{
  char *keep = e->name;

  memset (e, 0, sizeof (*e));
  e->name = keep;
  read_segment (name, e);
  e->has_sem_w = file_exists (ZB_CLI_SHM_DIR, SEM_W_PREFIX, name);
  e->has_sem_r = file_exists (ZB_CLI_SHM_DIR, SEM_R_PREFIX, name);
  check_lock (name, e);
  /* The library's liveness: a zombie is dead. */
  if (e->valid) {
    zb_status st;

    if (zb_inspect (name, &st, NULL, 0, NULL) == 0) {
      e->reader_alive = st.reader_alive;
      e->writer_alive = st.writer_alive;
    }
  }
}

static State
entry_state (const Entry * e)
{
  if (e->valid)
    return (e->lock_held || e->reader_alive || e->writer_alive) ?
        STATE_ACTIVE : STATE_STALE;
  if (e->has_sem_w || e->has_sem_r || e->has_lock)
    return STATE_ORPHANED;
  return STATE_NONE;
}

static double
utilisation (uint64_t size, uint64_t free_bytes)
{
  if (size == 0 || free_bytes > size)
    return 0;
  return (double) (size - free_bytes) / (double) size;
}

static const char *
health_name (double u)
{
  if (u < 0.80)
    return "healthy";
  if (u < 0.95)
    return "degraded";
  return "critical";
}

static int
check_name (const char *cmd, const char *name)
{
  int ret = zb_name_check (name);

  if (ret < 0) {
    zb_cli_error (cmd, "invalid buffer name '%s': %s", name, zb_strerror (ret));
    return -1;
  }
  return 0;
}

static int
bad_option (const char *cmd, char **argv)
{
  int bad = optind - 1;

  if (bad < 1 || argv[bad] == NULL)
    bad = 1;
  if (optopt && optopt < 256)
    zb_cli_error (cmd, "invalid option or missing value for '-%c' (try "
        "'zerobuffer %s --help')", optopt, cmd);
  else
    zb_cli_error (cmd, "invalid option or missing value: '%s' (try "
        "'zerobuffer %s --help')", argv[bad], cmd);
  return EXIT_USAGE;
}

/* ------------------------------------------------------------------ */
/* inspect */

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
  uint32_t oieb_size = ZB_CLI_OIEB_SIZE;
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
    u = utilisation (st->payload_size, st->payload_free_bytes);
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
    zb_json_string (&j, "state", state_names[state]);
    zb_json_string (&j, "health", health_name (u));
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
    printf ("state:                  %s\n", state_names[state]);
    printf ("health:                 %s (%.2f %% used)\n", health_name (u),
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
  int json = 0, c, ret, samples = 0;
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
        if (zb_cli_parse_int (optarg, 1, INT64_MAX, &count) < 0) {
          zb_cli_error (cmd, "invalid value '%s' for --count (expected an "
              "integer >= 1)", optarg);
          return EXIT_USAGE;
        }
        break;
      case 'h':
        inspect_usage (stdout);
        return 0;
      default:
        return bad_option (cmd, argv);
    }
  }
  if (optind >= argc) {
    zb_cli_error (cmd, "missing buffer name (try 'zerobuffer inspect "
        "--help')");
    return EXIT_USAGE;
  }
  if (optind + 1 < argc) {
    zb_cli_error (cmd, "unexpected argument '%s'", argv[optind + 1]);
    return EXIT_USAGE;
  }
  if (count && interval == 0) {
    zb_cli_error (cmd, "--count needs --watch");
    return EXIT_USAGE;
  }
  name = argv[optind];
  if (check_name (cmd, name) < 0)
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
    probe (name, &e);
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

/* ------------------------------------------------------------------ */
/* scanning */

typedef struct
{
  Entry *items;
  size_t n, cap;
} EntryList;

static Entry *
entry_get (EntryList * l, const char *name)
{
  size_t i;
  Entry *e;

  if (zb_name_check (name) < 0)
    return NULL;
  for (i = 0; i < l->n; i++) {
    if (strcmp (l->items[i].name, name) == 0)
      return &l->items[i];
  }
  if (l->n == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 32;
    Entry *items = realloc (l->items, cap * sizeof (Entry));

    if (items == NULL)
      return NULL;
    l->items = items;
    l->cap = cap;
  }
  e = &l->items[l->n];
  memset (e, 0, sizeof (*e));
  e->name = strdup (name);
  if (e->name == NULL)
    return NULL;
  l->n++;
  return e;
}

static int
entry_cmp (const void *a, const void *b)
{
  return strcmp (((const Entry *) a)->name, ((const Entry *) b)->name);
}

static void
entries_free (EntryList * l)
{
  size_t i;

  for (i = 0; i < l->n; i++)
    free (l->items[i].name);
  free (l->items);
  memset (l, 0, sizeof (*l));
}

/* Collect every name with a segment, a semaphore or a lock file, then
 * probe each; only names that are ZeroBuffer objects stay. */
static int
scan (EntryList * l)
{
  DIR *d;
  struct dirent *de;
  EntryList all = { NULL, 0, 0 };
  size_t i;

  d = opendir (ZB_CLI_SHM_DIR);
  if (d == NULL)
    return -errno;
  while ((de = readdir (d)) != NULL) {
    const char *n = de->d_name;

    if (n[0] == '.')
      continue;
    if (strncmp (n, SEM_W_PREFIX, strlen (SEM_W_PREFIX)) == 0)
      entry_get (&all, n + strlen (SEM_W_PREFIX));
    else if (strncmp (n, SEM_R_PREFIX, strlen (SEM_R_PREFIX)) == 0)
      entry_get (&all, n + strlen (SEM_R_PREFIX));
    else if (strncmp (n, "sem.", 4) != 0)
      entry_get (&all, n);
  }
  closedir (d);

  d = opendir (ZB_CLI_LOCK_DIR);
  if (d) {
    while ((de = readdir (d)) != NULL) {
      size_t len = strlen (de->d_name);
      size_t sl = strlen (LOCK_SUFFIX);
      char buf[NAME_MAX + 1];

      if (de->d_name[0] == '.' || len <= sl
          || strcmp (de->d_name + len - sl, LOCK_SUFFIX) != 0)
        continue;
      memcpy (buf, de->d_name, len - sl);
      buf[len - sl] = '\0';
      entry_get (&all, buf);
    }
    closedir (d);
  }

  for (i = 0; i < all.n; i++) {
    Entry *e = &all.items[i];
    Entry *kept;

    probe (e->name, e);
    if (entry_state (e) == STATE_NONE)
      continue;
    kept = entry_get (l, e->name);
    if (kept) {
      char *name = kept->name;

      *kept = *e;
      kept->name = name;
    }
  }
  entries_free (&all);
  if (l->n > 1)
    qsort (l->items, l->n, sizeof (Entry), entry_cmp);
  return 0;
}

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

/* ------------------------------------------------------------------ */
/* list */

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
      "Exit status: 0 success, 1 " ZB_CLI_SHM_DIR " unreadable, 2 invalid "
      "arguments.\n", out);
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
  int json = 0, c, ret;
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
        return bad_option (cmd, argv);
    }
  }
  if (optind < argc) {
    zb_cli_error (cmd, "unexpected argument '%s'", argv[optind]);
    return EXIT_USAGE;
  }
  ret = scan (&l);
  if (ret < 0) {
    zb_cli_error (cmd, "cannot read " ZB_CLI_SHM_DIR ": %s", strerror (-ret));
    return EXIT_FAIL;
  }

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
      double u = utilisation (e->oieb.payload_size,
          e->oieb.payload_free_bytes);

      entry_objects (e, paths, &n);
      zb_json_begin_object (&j, NULL);
      zb_json_string (&j, "name", e->name);
      zb_json_string (&j, "state", state_names[entry_state (e)]);
      if (e->valid) {
        zb_json_uint (&j, "reader_pid", e->oieb.reader_pid);
        zb_json_bool (&j, "reader_alive", e->reader_alive);
        zb_json_uint (&j, "writer_pid", e->oieb.writer_pid);
        zb_json_bool (&j, "writer_alive", e->writer_alive);
        zb_json_uint (&j, "metadata_size", e->oieb.metadata_size);
        zb_json_uint (&j, "payload_size", e->oieb.payload_size);
        zb_json_double (&j, "utilisation_percent", u * 100);
        zb_json_string (&j, "health", health_name (u));
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
        double u = utilisation (e->oieb.payload_size,
            e->oieb.payload_free_bytes);

        snprintf (rd, sizeof (rd), "%" PRIu64 "%s", e->oieb.reader_pid,
            e->oieb.reader_pid && !e->reader_alive ? "+" : "");
        snprintf (wr, sizeof (wr), "%" PRIu64 "%s", e->oieb.writer_pid,
            e->oieb.writer_pid && !e->writer_alive ? "+" : "");
        printf ("%-32s %-9s %-8s %-8s %12" PRIu64 " %6.1f%% %-9s\n",
            e->name, state_names[entry_state (e)], rd, wr,
            e->oieb.payload_size, u * 100, health_name (u));
      } else {
        printf ("%-32s %-9s %-8s %-8s %12s %7s %-9s (%s%s%s)\n", e->name,
            state_names[entry_state (e)], "-", "-", "-", "-", "-",
            e->has_sem_w ? "sem-w " : "", e->has_sem_r ? "sem-r " : "",
            e->has_lock ? "lock" : "");
      }
    }
    if (l.n == 0)
      printf ("(no ZeroBuffer objects)\n");
    else
      printf ("(a pid followed by + is dead)\n");
  }
  entries_free (&l);
  return 0;
}

/* ------------------------------------------------------------------ */
/* clean */

static void
clean_usage (FILE * out)
{
  fputs ("Usage: zerobuffer clean NAME...\n"
      "       zerobuffer clean --stale\n"
      "\n"
      "Remove the objects of stale buffers (segment, semaphores, lock file) "
      "and\norphaned semaphores or lock files. A buffer that a live process "
      "still\nuses is never touched.\n"
      "\n"
      "Options:\n"
      "      --stale    remove every stale buffer and orphaned object found "
      "by\n"
      "                 'zerobuffer list'\n"
      "  -h, --help     show this help\n"
      "\n"
      "Exit status: 0 success, 1 a named buffer is in use, does not exist or "
      "could\nnot be removed, 2 invalid arguments.\n", out);
}

/* Semaphores and lock file without a segment. We take the lock ourselves
 * (creating the file if needed) so that no reader starts on this name while
 * we unlink; a held lock means a reader is being created right now. */
static int
remove_orphans (const char *name)
{
  char lock[PATH_MAX], path[PATH_MAX];
  struct stat st;
  int fd = -1;
  Entry e;

  snprintf (lock, sizeof (lock), ZB_CLI_LOCK_DIR "/%s" LOCK_SUFFIX, name);
  if (lstat (ZB_CLI_LOCK_DIR, &st) == 0 && S_ISDIR (st.st_mode)) {
    fd = open (lock, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0 && errno != ENOENT)
      return -errno;
    if (fd >= 0) {
      if (fstat (fd, &st) < 0 || !S_ISREG (st.st_mode)) {
        close (fd);
        return -EINVAL;
      }
      if (flock (fd, LOCK_EX | LOCK_NB) < 0) {
        close (fd);
        return -EBUSY;
      }
    }
  }
  memset (&e, 0, sizeof (e));
  read_segment (name, &e);
  if (e.valid) {
    /* a reader created the buffer meanwhile: not an orphan any more */
    if (fd >= 0)
      close (fd);
    return -EBUSY;
  }
  snprintf (path, sizeof (path), ZB_CLI_SHM_DIR "/" SEM_W_PREFIX "%s", name);
  unlink (path);
  snprintf (path, sizeof (path), ZB_CLI_SHM_DIR "/" SEM_R_PREFIX "%s", name);
  unlink (path);
  if (fd >= 0) {
    /* unlink while holding the lock, as the library's stale cleanup does */
    unlink (lock);
    close (fd);
  }
  return 0;
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

/* 0 removed, -EBUSY in use, -ENOENT nothing there, other < 0 failure. */
static int
clean_one (const char *cmd, const char *name, int quiet_busy)
{
  Entry e;
  char why[128];
  int ret;

  memset (&e, 0, sizeof (e));
  probe (name, &e);
  switch (entry_state (&e)) {
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
      ret = zb_cleanup (name);
      if (ret == -EBUSY) {
        if (!quiet_busy)
          zb_cli_error (cmd, "buffer '%s' is in use; not removed", name);
        return -EBUSY;
      }
      if (ret < 0 && ret != -ENOENT) {
        zb_cli_error (cmd, "cannot remove buffer '%s': %s", name,
            zb_strerror (ret));
        return ret;
      }
      break;
    case STATE_ORPHANED:
      break;
  }
  /* whatever is left without a segment: orphaned semaphores, lock file */
  probe (name, &e);
  if (entry_state (&e) == STATE_ORPHANED) {
    ret = remove_orphans (name);
    if (ret == -EBUSY) {
      if (!quiet_busy)
        zb_cli_error (cmd, "objects of '%s' are in use; not removed", name);
      return ret;
    }
    if (ret < 0) {
      zb_cli_error (cmd, "cannot remove objects of '%s': %s", name,
          strerror (-ret));
      return ret;
    }
    probe (name, &e);
  }
  if (entry_state (&e) != STATE_NONE) {
    zb_cli_error (cmd, "objects of '%s' remain after cleaning (state %s)",
        name, state_names[entry_state (&e)]);
    return -EIO;
  }
  printf ("removed %s\n", name);
  return 0;
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
  int stale = 0, c, i, status = 0;

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
        return bad_option (cmd, argv);
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
    if (check_name (cmd, argv[i]) < 0)
      return EXIT_USAGE;
  }

  if (stale) {
    EntryList l = { NULL, 0, 0 };
    size_t k, removed = 0;
    int ret = scan (&l);

    if (ret < 0) {
      zb_cli_error (cmd, "cannot read " ZB_CLI_SHM_DIR ": %s", strerror (-ret));
      return EXIT_FAIL;
    }
    for (k = 0; k < l.n; k++) {
      State s = entry_state (&l.items[k]);

      if (s != STATE_STALE && s != STATE_ORPHANED)
        continue;
      /* a buffer that became live since the scan is skipped silently */
      ret = clean_one (cmd, l.items[k].name, 1);
      if (ret == 0)
        removed++;
      else if (ret != -EBUSY && ret != -ENOENT)
        status = EXIT_FAIL;
    }
    printf ("%zu stale buffer%s removed\n", removed, removed == 1 ? "" : "s");
    entries_free (&l);
    return status;
  }

  for (i = optind; i < argc; i++) {
    if (clean_one (cmd, argv[i], 0) < 0)
      status = EXIT_FAIL;
  }
  return status;
}
