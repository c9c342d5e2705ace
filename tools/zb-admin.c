/* zerobuffer command-line tool - the objects of a buffer on disk: probe
 * one name, scan for all */

#include "zb-admin.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

const char *const zb_admin_state_names[] = {
  "none", "active", "stale", "orphaned"
};

int
zb_admin_lock_dir (const char *cmd, const char *consequence)
{
  int fd = zb_lock_dir_open ();

  if (fd < 0 && fd != -ENOENT && consequence != NULL)
    zb_cli_error (cmd, "lock directory " ZB_CLI_LOCK_DIR " refused: %s%s; %s",
        zb_strerror (fd), fd == -EACCES ? " (it must be a directory, not a "
        "symlink, owned by root or by us, and sticky if others may write to "
        "it)" : "", consequence);
  return fd;
}

void
zb_admin_lock_bad (const char *cmd, const char *name, const Entry * e,
    const char *consequence)
{
  zb_cli_error (cmd, ZB_CLI_LOCK_DIR "/%s" LOCK_SUFFIX " is %s, never "
      "followed: %s", name, S_ISLNK (e->lock_bad) ? "a symlink" :
      "not a regular file", consequence);
}

static int
oieb_valid (const zb_oieb * o, uint64_t file_size)
{
  if (o->oieb_size != ZB_OIEB_SIZE || o->version[0] != 1)
    return 0;
  if (o->payload_size == 0 || o->metadata_size > file_size
      || o->payload_size > file_size
      || ZB_OIEB_SIZE + o->metadata_size + o->payload_size > file_size)
    return 0;
  if (o->payload_write_pos > o->payload_size
      || o->payload_read_pos > o->payload_size
      || o->payload_free_bytes > o->payload_size
      || o->metadata_written_bytes > o->metadata_size)
    return 0;
  return 1;
}

/* Read the OIEB of /dev/shm/@name without mapping or locking anything. */
static void
read_segment (const char *name, Entry * e)
{
  char path[PATH_MAX];
  uint8_t buf[ZB_OIEB_SIZE];
  struct stat st;
  ssize_t n;
  int fd;

  snprintf (path, sizeof (path), ZB_CLI_SHM_DIR "/%s", name);
  fd = open (path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0)
    return;
  if (fstat (fd, &st) < 0 || !S_ISREG (st.st_mode)) {
    close (fd);
    return;
  }
  e->has_shm = 1;
  e->file_size = (uint64_t) st.st_size;
  if (st.st_size >= ZB_OIEB_SIZE) {
    n = pread (fd, buf, sizeof (buf), 0);
    if (n == (ssize_t) sizeof (buf)) {
      memcpy (&e->oieb, buf, sizeof (e->oieb));
      e->valid = oieb_valid (&e->oieb, e->file_size);
    }
  }
  close (fd);
}

/* Is there a lock file, and is it held? Only ever relative to the trusted
 * @lock_dir, never followed. /proc/locks lists every flock() with the
 * device and inode it locks; reading it takes no lock itself, so a reader
 * that starts now is never disturbed. */
static void
check_lock (int lock_dir, const char *name, Entry * e)
{
  char file[NAME_MAX + 1], line[512];
  struct stat st;
  FILE *f;

  if (lock_dir < 0)
    return;
  snprintf (file, sizeof (file), "%s" LOCK_SUFFIX, name);
  if (fstatat (lock_dir, file, &st, AT_SYMLINK_NOFOLLOW) < 0)
    return;
  if (!S_ISREG (st.st_mode)) {
    e->lock_bad = st.st_mode & S_IFMT;
    return;
  }
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

void
zb_admin_probe (int lock_dir, const char *name, Entry * e)
{
  char *keep = e->name;

  memset (e, 0, sizeof (*e));
  e->name = keep;
  read_segment (name, e);
  e->has_sem_w = file_exists (ZB_CLI_SHM_DIR, SEM_W_PREFIX, name);
  e->has_sem_r = file_exists (ZB_CLI_SHM_DIR, SEM_R_PREFIX, name);
  check_lock (lock_dir, name, e);
  /* The library's liveness: a zombie is dead. */
  if (e->valid) {
    zb_status st;

    if (zb_inspect (name, &st, NULL, 0, NULL) == 0) {
      e->reader_alive = st.reader_alive;
      e->writer_alive = st.writer_alive;
    }
  }
}

State
zb_admin_state (const Entry * e)
{
  if (e->valid)
    return (e->lock_held || e->reader_alive || e->writer_alive) ?
        STATE_ACTIVE : STATE_STALE;
  if (e->has_sem_w || e->has_sem_r || e->has_lock)
    return STATE_ORPHANED;
  return STATE_NONE;
}

double
zb_admin_utilisation (uint64_t size, uint64_t free_bytes)
{
  if (size == 0 || free_bytes > size)
    return 0;
  return (double) (size - free_bytes) / (double) size;
}

const char *
zb_admin_health (double u)
{
  if (u < 0.80)
    return "healthy";
  if (u < 0.95)
    return "degraded";
  return "critical";
}

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

void
zb_admin_free (EntryList * l)
{
  size_t i;

  for (i = 0; i < l->n; i++)
    free (l->items[i].name);
  free (l->items);
  memset (l, 0, sizeof (*l));
}

/* The names of the lock files in @lock_dir, into @all. */
static void
scan_lock_dir (int lock_dir, EntryList * all)
{
  int fd = dup (lock_dir);
  DIR *d = fd >= 0 ? fdopendir (fd) : NULL;
  struct dirent *de;

  if (d == NULL) {
    if (fd >= 0)
      close (fd);
    return;
  }
  rewinddir (d);
  while ((de = readdir (d)) != NULL) {
    size_t len = strlen (de->d_name);
    size_t sl = strlen (LOCK_SUFFIX);
    char buf[NAME_MAX + 1];

    if (de->d_name[0] == '.' || len <= sl
        || strcmp (de->d_name + len - sl, LOCK_SUFFIX) != 0)
      continue;
    memcpy (buf, de->d_name, len - sl);
    buf[len - sl] = '\0';
    entry_get (all, buf);
  }
  closedir (d);
}

/* Collect every name with a segment, a semaphore or a lock file, then
 * probe each; only names that are ZeroBuffer objects stay. */
int
zb_admin_scan (const char *cmd, int lock_dir, EntryList * l)
{
  DIR *d;
  struct dirent *de;
  EntryList all = { NULL, 0, 0 };
  size_t i;

  d = opendir (ZB_CLI_SHM_DIR);
  if (d == NULL) {
    zb_cli_error (cmd, "cannot read " ZB_CLI_SHM_DIR ": %s", strerror (errno));
    return -1;
  }
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

  if (lock_dir >= 0)
    scan_lock_dir (lock_dir, &all);

  for (i = 0; i < all.n; i++) {
    Entry *e = &all.items[i];
    Entry *kept;

    zb_admin_probe (lock_dir, e->name, e);
    if (e->lock_bad)
      zb_admin_lock_bad (cmd, e->name, e, "skipped");
    if (zb_admin_state (e) == STATE_NONE)
      continue;
    kept = entry_get (l, e->name);
    if (kept) {
      char *name = kept->name;

      *kept = *e;
      kept->name = name;
    }
  }
  zb_admin_free (&all);
  if (l->n > 1)
    qsort (l->items, l->n, sizeof (Entry), entry_cmp);
  return 0;
}
