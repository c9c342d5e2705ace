/* Shared helpers of the library tests, part 2: where frames land by the
 * protocol's rules, helper processes and the file system, a private
 * /dev/shm. Included by zbtest.h at this point; not on its own. */

#ifndef ZBTEST_PEERS_H
#define ZBTEST_PEERS_H

/* ------------------------------------------------------------------ */
/* Where a frame of T bytes (header included) lands by the protocol's
 * rules, with our early wrap: returns 1 when the writer wraps first. */
static inline int
zbt_model_place (uint64_t payload_size, uint64_t *write_pos, uint64_t total)
{
  uint64_t end = payload_size - *write_pos;
  int wrapped = 0;

  if (end < total || (end > total && end - total < 16)) {
    wrapped = 1;
    *write_pos = 0;
  }
  *write_pos += total;
  if (*write_pos == payload_size)
    *write_pos = 0;
  return wrapped;
}

/* A writer process: connect, optional metadata, @count pattern frames with
 * sizes cycling through @sizes, optional delay, then disconnect. */
typedef struct
{
  const char *name;
  size_t metadata_size;         /* 0: none; else pattern of seq 0 */
  const size_t *sizes;
  size_t nsizes;
  uint64_t count;
  int delay_ms;                 /* after each frame */
  int write_timeout_ms;         /* 0: default */
  int zero_copy;
  int min_elapsed_ms;           /* the writer must have blocked this long */
} zbt_writer_job;

static inline void
zbt_writer_job_run (void *arg)
{
  const zbt_writer_job *j = arg;
  zb_writer_config cfg = { 3000, j->write_timeout_ms };
  zb_writer *w = NULL;
  int64_t t0 = zbt_now_ms ();
  uint64_t i;

  ZBT_OK (zb_writer_connect (j->name, &cfg, &w));
  if (j->metadata_size > 0) {
    uint8_t *md = malloc (j->metadata_size);

    zbt_fill (md, j->metadata_size, 0);
    ZBT_OK (zb_writer_set_metadata (w, md, j->metadata_size));
    free (md);
  }
  for (i = 0; i < j->count; i++) {
    size_t size = j->sizes[i % j->nsizes];

    if (j->zero_copy) {
      void *p = NULL;

      ZBT_OK (zb_writer_acquire (w, size, &p));
      zbt_fill (p, size, i + 1);
      ZBT_OK (zb_writer_commit (w));
    } else {
      int r = zbt_write (w, size, i + 1);

      if (r != 0)
        ZBT_FAIL ("frame %" PRIu64 " (%zu bytes): %d (%s)", i + 1, size, r,
            zb_strerror (r));
    }
    if (j->delay_ms > 0)
      zbt_sleep_ms (j->delay_ms);
  }
  ZBT_EQU (zb_writer_frames_written (w), j->count);
  if (j->min_elapsed_ms > 0 && zbt_now_ms () - t0 < j->min_elapsed_ms)
    ZBT_FAIL ("writer finished in %d ms: it never blocked",
        (int) (zbt_now_ms () - t0));
  zb_writer_disconnect (w);
}

/* Reader side of a writer job: read and check every frame, then expect the
 * writer's departure (-EPIPE). */
static inline void
zbt_reader_job (zb_reader * r, const zbt_writer_job * j, int delay_ms)
{
  uint64_t i;

  for (i = 0; i < j->count; i++) {
    zb_frame f;
    int ret = zb_reader_read (r, 5000, &f);

    if (ret != 0)
      ZBT_FAIL ("reading frame %" PRIu64 ": %d (%s)", i + 1, ret,
          zb_strerror (ret));
    ZBT_EQU (f.sequence, i + 1);
    ZBT_EQU (f.size, j->sizes[i % j->nsizes]);
    ZBT_PATTERN (f.data, f.size, i + 1);
    if (i == 0 && j->metadata_size > 0) {
      const void *md;
      size_t mdsize;

      ZBT_OK (zb_reader_get_metadata (r, &md, &mdsize));
      ZBT_EQU (mdsize, j->metadata_size);
      ZBT_PATTERN (md, mdsize, 0);
    }
    if (delay_ms > 0)
      zbt_sleep_ms (delay_ms);
    ZBT_OK (zb_reader_release (r, &f));
  }
}

/* The reader side of a whole writer job: a reader of @metadata_size and
 * @payload_size bytes on @j->name, the writer forked, every frame read and
 * checked (@reader_delay_ms per frame), the writer reaped within @wait_ms
 * with exit code 0, the reader destroyed. */
static inline void
zbt_writer_job_check (const zbt_writer_job * j, size_t metadata_size,
    size_t payload_size, int reader_delay_ms, int wait_ms)
{
  zb_reader *r = zbt_reader (j->name, metadata_size, payload_size);
  pid_t pid = zbt_fork (zbt_writer_job_run, (void *) j);

  zbt_reader_job (r, j, reader_delay_ms);
  ZBT_WAIT_OK (pid, wait_ms);
  zb_reader_destroy (r);
}

/* A writer on @name (write timeout 0: the default) writes one frame of
 * @size bytes with sequence 1, @r reads it back within @timeout_ms, checks
 * and releases it, and the writer disconnects: the buffer works. */
static inline void
zbt_one_frame (zb_reader * r, const char *name, size_t size, int timeout_ms)
{
  zb_writer *w = zbt_writer (name, 0);

  ZBT_OK (zbt_write (w, size, 1));
  zbt_read_release (r, timeout_ms, 1, size);
  zb_writer_disconnect (w);
}

/* A buffer, its writer and a raw mapping of its segment, for the cases
 * that damage the segment by hand. */
typedef struct
{
  const char *name;
  zb_reader *r;
  zb_writer *w;                 /* NULL when opened without one */
  uint8_t *m;                   /* NULL until zbt_buf_map () */
  size_t msize;
} zbt_buf;

/* A fresh name, its reader and, when @write_timeout_ms >= 0, a writer with
 * that write timeout. */
static inline void
zbt_buf_open (zbt_buf * b, size_t metadata_size, size_t payload_size,
    int write_timeout_ms)
{
  b->name = zbt_name ();
  b->r = zbt_reader (b->name, metadata_size, payload_size);
  b->w = write_timeout_ms >= 0 ? zbt_writer (b->name, write_timeout_ms) : NULL;
  b->m = NULL;
  b->msize = 0;
}

/* Map the segment read/write (once); returns the mapping. */
static inline uint8_t *
zbt_buf_map (zbt_buf * b)
{
  if (b->m == NULL)
    b->m = zbt_map (b->name, &b->msize);
  return b->m;
}

/* Unmap, disconnect the writer, destroy the reader. */
static inline void
zbt_buf_close (zbt_buf * b)
{
  if (b->m != NULL)
    munmap (b->m, b->msize);
  zb_writer_disconnect (b->w);
  zb_reader_destroy (b->r);
}

/* Store @value in the @width bytes (1, 4 or 8) at @off of a mapping. */
static inline void
zbt_poke (uint8_t * m, size_t off, int width, uint64_t value)
{
  if (width == 1)
    m[off] = (uint8_t) value;
  else if (width == 4) {
    uint32_t v = (uint32_t) value;

    memcpy (m + off, &v, 4);
  } else
    zbt_put64 (m, off, value);
}

/* A buffer (metadata 64, payload 1024) whose OIEB got @value in the
 * @width bytes at @off (@what says which): a writer and zb_inspect refuse
 * it with -EPROTO, and destroying the reader leaves nothing. */
static inline void
zbt_expect_bad_oieb (const char *what, size_t off, int width, uint64_t value)
{
  zbt_buf b;
  zb_writer *w = NULL;
  zb_status st;
  int ret;

  zbt_buf_open (&b, 64, 1024, -1);
  zbt_poke (zbt_buf_map (&b), off, width, value);
  ret = zb_writer_connect (b.name, NULL, &w);
  if (ret != -EPROTO)
    ZBT_FAIL ("%s: connect returned %d (%s), want -EPROTO", what, ret,
        zb_strerror (ret));
  ZBT_ASSERT (w == NULL);
  ret = zb_inspect (b.name, &st, NULL, 0, NULL);
  if (ret != -EPROTO)
    ZBT_FAIL ("%s: inspect returned %d (%s), want -EPROTO", what, ret,
        zb_strerror (ret));
  zbt_buf_close (&b);
  ZBT_EQ (zbt_objects (b.name), 0);
}

/* Every entry point taking a buffer name refuses @name with @want (a
 * negative errno) and hands out no handle. */
static inline void
zbt_expect_name_refused (const char *name, int want)
{
  zb_reader_config cfg = { 0, 4096, 0 };
  zb_reader *r = NULL;
  zb_writer *w = NULL;
  zb_status st;

  ZBT_ERR (zb_name_check (name), want);
  ZBT_ERR (zb_reader_create (name, &cfg, &r), want);
  ZBT_ASSERT (r == NULL);
  ZBT_ERR (zb_writer_connect (name, NULL, &w), want);
  ZBT_ASSERT (w == NULL);
  ZBT_ERR (zb_inspect (name, &st, NULL, 0, NULL), want);
  ZBT_ERR (zb_cleanup (name), want);
}

/* A second reader for the live buffer @arg (its name) is refused with
 * -EEXIST and gets no handle. Also a zbt_fork () target: a reader never
 * counts its own pid as a live owner, so run it in another process too. */
static inline void
zbt_second_reader_refused (void *arg)
{
  zb_reader_config cfg = { 0, 4096, 0 };
  zb_reader *r = NULL;

  ZBT_ERR (zb_reader_create (arg, &cfg, &r), -EEXIST);
  ZBT_ASSERT (r == NULL);
}

/* The writer side of a ring as the reader's status shows it. */
#define ZBT_WRITE_STATE(r, pos, count, free) do {                      \
    zb_status zbt__st = zbt_status (r);                                \
    ZBT_EQU (zbt__st.write_pos, (pos));                                \
    ZBT_EQU (zbt__st.written_count, (count));                          \
    ZBT_EQU (zbt__st.payload_free_bytes, (free));                      \
  } while (0)

/* The reader side of a ring as the reader's status shows it. */
#define ZBT_READ_STATE(r, pos, count, free) do {                       \
    zb_status zbt__st = zbt_status (r);                                \
    ZBT_EQU (zbt__st.read_pos, (pos));                                 \
    ZBT_EQU (zbt__st.read_count, (count));                             \
    ZBT_EQU (zbt__st.payload_free_bytes, (free));                      \
  } while (0)

/* ------------------------------------------------------------------ */
/* Helper processes and the file system */

/* Fork @fn (@arg) and wait until it writes a byte to *@fd, which is set
 * here to the write end of a fresh pipe before the fork; returns its pid
 * with the pipe closed in this process. */
static inline pid_t
zbt_fork_ready (void (*fn) (void *), void *arg, int *fd)
{
  int fds[2];
  pid_t pid;

  zbt_pipe (fds);
  *fd = fds[1];
  pid = zbt_fork (fn, arg);
  zbt_await (fds[0], 5000);
  close (fds[0]);
  close (fds[1]);
  return pid;
}

/* A reader process that creates @name, reports that it did and waits to
 * be killed; returns its pid once the buffer exists. */
typedef struct
{
  const char *name;
  size_t metadata_size;
  size_t payload_size;
  int fd;
} zbt_holder;

static inline void
zbt_holder_run (void *arg)
{
  zbt_holder *h = arg;
  zb_reader *r = zbt_reader (h->name, h->metadata_size, h->payload_size);

  zbt_signal (h->fd, 'c');
  for (;;)
    pause ();
  zb_reader_destroy (r);
}

static inline pid_t
zbt_holder_start (const char *name, size_t metadata_size, size_t payload_size)
{
  static zbt_holder h;

  h.name = name;
  h.metadata_size = metadata_size;
  h.payload_size = payload_size;
  return zbt_fork_ready (zbt_holder_run, &h, &h.fd);
}

/* Fails the case unless @path has the permission bits @want. */
static inline void
zbt_check_mode (const char *path, mode_t want)
{
  struct stat st;

  if (stat (path, &st) < 0)
    ZBT_FAIL ("stat %s: %s", path, strerror (errno));
  if ((st.st_mode & 0777) != want)
    ZBT_FAIL ("%s has mode %03o, want %03o", path, st.st_mode & 0777,
        (unsigned) want);
}

/* The segment and both semaphores of @name (and its lock file when
 * @with_lock) have the permission bits @want. */
static inline void
zbt_check_modes (const char *name, mode_t want, int with_lock)
{
  char p[512];

  zbt_shm_path (p, sizeof p, name);
  zbt_check_mode (p, want);
  zbt_sem_path (p, sizeof p, 'w', name);
  zbt_check_mode (p, want);
  zbt_sem_path (p, sizeof p, 'r', name);
  zbt_check_mode (p, want);
  if (with_lock) {
    zbt_lock_path (p, sizeof p, name);
    zbt_check_mode (p, want);
  }
}

/* Squat @path with a directory, which neither O_EXCL creation nor unlink
 * can get past. */
static inline void
zbt_squat (const char *path)
{
  if (mkdir (path, 0700) < 0)
    ZBT_FAIL ("mkdir %s: %s", path, strerror (errno));
}

/* With @path, one object of @name (@what in the diagnostic), squatted by
 * a directory, creating the buffer fails, gives no handle and leaves
 * exactly the objects @mask (zbt_objects bits: the squatter, nothing of
 * what the failed creation made); then the squatter is removed. */
static inline void
zbt_expect_create_squatted (const char *name, const char *path,
    const char *what, int mask)
{
  zb_reader_config cfg = { 0, 4096, 0 };
  zb_reader *r = NULL;
  int ret;

  zbt_squat (path);
  ret = zb_reader_create (name, &cfg, &r);
  zbt_diag ("create with %s squatted: %d (%s)", what, ret, zb_strerror (ret));
  ZBT_ASSERT (ret < 0);
  ZBT_ASSERT (r == NULL);
  ZBT_EQ (zbt_objects (name), mask);
  ZBT_OK (rmdir (path));
}

/* The user nobody, or the case is skipped: needs root (to drop a forked
 * child to it) and a nobody that is not root. */
static inline struct passwd *
zbt_nobody_or_skip (void)
{
  struct passwd *pw;

  if (geteuid () != 0)
    ZBT_SKIP ("needs root (to run a peer as user nobody)");
  pw = getpwnam ("nobody");
  if (pw == NULL)
    ZBT_SKIP ("no user nobody");
  if (pw->pw_uid == 0)
    ZBT_SKIP ("user nobody is root here");
  return pw;
}

/* Drop this process to @pw for good (groups, gid, then uid). */
static inline void
zbt_become (const struct passwd *pw)
{
  if (setgroups (0, NULL) < 0 || setgid (pw->pw_gid) < 0
      || setuid (pw->pw_uid) < 0)
    ZBT_FAIL ("dropping to %s: %s", pw->pw_name, strerror (errno));
  ZBT_ASSERT (getuid () == pw->pw_uid);
  ZBT_ASSERT (geteuid () == pw->pw_uid);
}

/* ------------------------------------------------------------------ */
/* A private /dev/shm */

/* Run @fn in a child with a private mount namespace whose /dev/shm is a
 * fresh tmpfs of @size (so that exhausting it harms nobody). */
static inline void
zbt_with_tiny_shm (const char *size, void (*fn) (void *), void *arg)
{
  pid_t pid;

  fflush (stdout);
  pid = fork ();
  if (pid == 0) {
    char opts[64];

    if (unshare (CLONE_NEWNS) < 0)
      ZBT_SKIP ("unshare (CLONE_NEWNS): %s", strerror (errno));
    if (mount (NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
      ZBT_SKIP ("mount --make-rprivate /: %s", strerror (errno));
    snprintf (opts, sizeof opts, "size=%s,mode=1777", size);
    if (mount ("tmpfs", "/dev/shm", "tmpfs", 0, opts) < 0)
      ZBT_SKIP ("mount tmpfs: %s", strerror (errno));
    fn (arg);
    _exit (0);
  }
  {
    int st = zbt_wait (pid, 20000);

    if (st == ZBT_SKIP_CODE)
      _exit (ZBT_SKIP_CODE);
    if (st != 0)
      ZBT_FAIL ("child in a private /dev/shm ended with %d", st);
  }
}

static inline int
zbt_shm_entries (void)
{
  DIR *d = opendir ("/dev/shm");
  struct dirent *e;
  int n = 0;

  while ((e = readdir (d)) != NULL)
    if (e->d_name[0] != '.')
      n++;
  closedir (d);
  return n;
}

#endif /* ZBTEST_PEERS_H */
