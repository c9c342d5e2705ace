/* Bad input: every call returns its documented error, nothing crashes,
 * nothing is left behind (the harness checks /dev/shm and the lock
 * directory after every case). */

#include "zbtest.h"

#include <limits.h>

/* Names: empty, "/", containing '/', 246 characters, ".", "..", NULL. */
static void
test_names (void)
{
  char long_name[ZB_NAME_MAX + 2];
  const char *bad[] = { "", "/", "a/b", "/zbt-lead", "zbt-trail/", ".",
    "..", long_name, NULL
  };
  size_t i;

  memset (long_name, 'n', ZB_NAME_MAX + 1);
  long_name[ZB_NAME_MAX + 1] = '\0';
  for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
    zbt_expect_name_refused (bad[i],
        bad[i] == long_name ? -ENAMETOOLONG : -EINVAL);
  ZBT_ASSERT (zbt_path_exists ("/dev/shm"));
}

/* Reader configuration: payload 0, absurd sizes, NULL out-pointer. */
static void
test_reader_config (void)
{
  const char *name = zbt_name ();
  zb_reader_config zero = { 0, 0, 0 };
  zb_reader_config huge_p = { 0, SIZE_MAX, 0 };
  zb_reader_config huge_m = { SIZE_MAX, 4096, 0 };
  zb_reader_config huge_both = { SIZE_MAX / 2, SIZE_MAX / 2, 0 };
  zb_reader *r = NULL;
  int ret;

  ZBT_ERR (zb_reader_create (name, &zero, &r), -EINVAL);
  ret = zb_reader_create (name, &huge_p, &r);
  ZBT_ASSERT (ret < 0);
  ret = zb_reader_create (name, &huge_m, &r);
  ZBT_ASSERT (ret < 0);
  ret = zb_reader_create (name, &huge_both, &r);
  ZBT_ASSERT (ret < 0);
  ZBT_ASSERT (r == NULL);
  ZBT_ERR (zb_reader_create (name, &zero, NULL), -EINVAL);
  ZBT_EQ (zbt_objects (name), 0);
}

/* Frames: size 0, NULL data, oversized, sizes whose header would overflow
 * the arithmetic. */
static void
test_frames (void)
{
  const char *name = zbt_name ();
  zb_reader *r = zbt_reader (name, 64, 1024);
  zb_writer *w = zbt_writer (name, 100);
  static uint8_t buf[2048];
  void *p = NULL;
  zb_frame f;

  ZBT_ERR (zb_writer_write (w, buf, 0), -EINVAL);
  ZBT_ERR (zb_writer_write (w, NULL, 10), -EINVAL);
  ZBT_ERR (zb_writer_write (w, buf, 1009), -EMSGSIZE);
  ZBT_ERR (zb_writer_write (w, buf, 2048), -EMSGSIZE);
  ZBT_ERR (zb_writer_acquire (w, SIZE_MAX, &p), -EMSGSIZE);
  ZBT_ERR (zb_writer_acquire (w, SIZE_MAX - 15, &p), -EMSGSIZE);
  ZBT_ERR (zb_writer_acquire (w, SIZE_MAX - 16, &p), -EMSGSIZE);
  ZBT_ERR (zb_writer_acquire (w, 0, &p), -EINVAL);
  ZBT_ERR (zb_writer_acquire (w, 10, NULL), -EINVAL);
  ZBT_ERR (zb_writer_commit (w), -EINVAL);
  ZBT_ERR (zb_reader_read (r, 0, &f), -EAGAIN);
  ZBT_EQU (zb_writer_frames_written (w), 0);
  /* Still works afterwards. */
  ZBT_OK (zbt_write (w, 1008, 1));
  zbt_read_release (r, 0, 1, 1008);
  zb_writer_disconnect (w);
  zb_reader_destroy (r);
}

/* Metadata: too large (also so large that 8 + size overflows), size 0,
 * NULL data. */
static void
test_metadata (void)
{
  const char *name = zbt_name ();
  zb_reader *r = zbt_reader (name, 64, 1024);
  zb_writer *w = zbt_writer (name, 100);
  static uint8_t buf[128];

  ZBT_ERR (zb_writer_set_metadata (w, buf, 57), -EMSGSIZE);
  ZBT_ERR (zb_writer_set_metadata (w, buf, SIZE_MAX), -EMSGSIZE);
  ZBT_ERR (zb_writer_set_metadata (w, buf, SIZE_MAX - 7), -EMSGSIZE);
  ZBT_ERR (zb_writer_set_metadata (w, buf, 0), -EINVAL);
  ZBT_ERR (zb_writer_set_metadata (w, NULL, 10), -EINVAL);
  ZBT_OK (zb_writer_set_metadata (w, buf, 56));
  ZBT_ERR (zb_writer_set_metadata (w, buf, 1), -EALREADY);
  zb_writer_disconnect (w);
  zb_reader_destroy (r);
}

/* NULL handles and arguments; zb_strerror of anything. */
static void
test_null (void)
{
  const char *name = zbt_name ();
  zb_reader *r = zbt_reader (name, 64, 1024);
  zb_frame f;
  zb_status st;
  const void *md;
  size_t mdsize;
  static const int codes[] = { 0, -EINVAL, -ENAMETOOLONG, -ENOENT, -EEXIST,
    -EBUSY, -EPROTO, -EBADMSG, -EILSEQ, -EMSGSIZE, -E2BIG, -ENOBUFS,
    -ETIMEDOUT, -EAGAIN, -EPIPE, -EOWNERDEAD, -EALREADY, -ENODATA, -EINTR,
    -ENOSPC, -EACCES, -EPERM, -ENOLCK, 1, -9999, INT_MIN, INT_MAX
  };
  size_t i;

  ZBT_ERR (zb_reader_read (NULL, 0, &f), -EINVAL);
  ZBT_ERR (zb_reader_read (r, 0, NULL), -EINVAL);
  ZBT_ERR (zb_reader_release (NULL, &f), -EINVAL);
  ZBT_ERR (zb_reader_release (r, NULL), -EINVAL);
  ZBT_ERR (zb_reader_get_status (NULL, &st), -EINVAL);
  ZBT_ERR (zb_reader_get_status (r, NULL), -EINVAL);
  ZBT_ERR (zb_reader_get_metadata (NULL, &md, &mdsize), -EINVAL);
  ZBT_ERR (zb_writer_write (NULL, "x", 1), -EINVAL);
  ZBT_ERR (zb_writer_set_metadata (NULL, "x", 1), -EINVAL);
  ZBT_ERR (zb_writer_commit (NULL), -EINVAL);
  ZBT_ERR (zb_writer_get_status (NULL, &st), -EINVAL);
  ZBT_ERR (zb_writer_connect (name, NULL, NULL), -EINVAL);
  zb_reader_destroy (NULL);
  zb_writer_disconnect (NULL);
  zb_reader_wakeup (NULL);
  zb_writer_wakeup (NULL);
  ZBT_EQ (zb_reader_held_bytes (NULL), 0);
  ZBT_EQU (zb_writer_frames_written (NULL), 0);
  ZBT_EQU (zb_writer_max_size (NULL), 0);
  ZBT_EQU (zb_writer_space_to_end (NULL), 0);
  ZBT_EQU (zb_max_size_always (0), 0);
  ZBT_EQU (zb_max_size_always (64), 8);
  for (i = 0; i < sizeof codes / sizeof codes[0]; i++) {
    const char *s = zb_strerror (codes[i]);

    ZBT_ASSERT (s != NULL && s[0] != '\0');
  }
  /* Releases of frames that are not held. */
  memset (&f, 0, sizeof f);
  ZBT_ERR (zb_reader_release (r, &f), -EINVAL);
  f.id = 12345;
  ZBT_ERR (zb_reader_release (r, &f), -EINVAL);
  zb_reader_destroy (r);
}

/* Corrupt OIEB: wrong oieb_size, wrong major version, sizes past the file,
 * a file shorter than the OIEB: writers and zb_inspect say -EPROTO (as in
 * test-corruption 5.1). */
typedef struct
{
  const char *what;
  size_t off;
  int width;                    /* 4 or 8 bytes, 1 for a byte */
  uint64_t value;
} poke;

static void
test_oieb (void)
{
  const poke pokes[] = {
    {"oieb_size 0", 0, 4, 0},
    {"oieb_size 127", 0, 4, 127},
    {"oieb_size 129", 0, 4, 129},
    {"oieb_size 2^32 - 1", 0, 4, 0xffffffff},
    {"major version 0", 4, 1, 0},
    {"major version 2", 4, 1, 2},
    {"metadata_size past the file", ZBT_OIEB_MD_SIZE, 8, 4096},
    {"metadata_size 2^63", ZBT_OIEB_MD_SIZE, 8, 1ull << 63},
    {"payload_size past the file", ZBT_OIEB_P_SIZE, 8, 2048},
    {"payload_size 0", ZBT_OIEB_P_SIZE, 8, 0},
    {"payload_size 2^64 - 1", ZBT_OIEB_P_SIZE, 8, ~0ull},
    {"metadata + payload overflow", ZBT_OIEB_MD_SIZE, 8, ~0ull - 1023},
  };
  size_t i;

  for (i = 0; i < sizeof pokes / sizeof pokes[0]; i++)
    zbt_expect_bad_oieb (pokes[i].what, pokes[i].off, pokes[i].width,
        pokes[i].value);
  /* A segment file shorter than an OIEB (a hostile or half-made file). */
  {
    const char *name = zbt_name ();
    zb_reader *r = zbt_reader (name, 64, 1024);
    zb_writer *w = NULL;
    zb_status st;
    char p[512];
    int ret;

    zbt_shm_path (p, sizeof p, name);
    ZBT_OK (truncate (p, 100));
    /* A short file is also what a writer sees while a reader is still
     * creating the buffer, so "not found (yet)" is as right as "invalid". */
    ret = zb_writer_connect (name, NULL, &w);
    ZBT_ASSERT (ret == -EPROTO || ret == -ENOENT);
    ZBT_ASSERT (w == NULL);
    ret = zb_inspect (name, &st, NULL, 0, NULL);
    ZBT_ASSERT (ret == -EPROTO || ret == -ENOENT);
    zb_reader_destroy (r);
  }
}

/* Corrupt metadata length: the reader says -EPROTO, not garbage. */
static void
test_metadata_corrupt (void)
{
  zbt_buf b;
  uint8_t *m;
  const void *md;
  size_t mdsize;

  zbt_buf_open (&b, 64, 1024, 0);
  ZBT_OK (zb_writer_set_metadata (b.w, "abc", 3));
  ZBT_OK (zbt_write (b.w, 10, 1));
  zbt_read_release (b.r, 0, 1, 10);
  m = zbt_buf_map (&b);
  zbt_put64 (m, 128, 57);
  ZBT_ERR (zb_reader_get_metadata (b.r, &md, &mdsize), -EPROTO);
  zbt_put64 (m, 128, ~0ull - 3);
  ZBT_ERR (zb_reader_get_metadata (b.r, &md, &mdsize), -EPROTO);
  zbt_put64 (m, 128, 56);
  ZBT_OK (zb_reader_get_metadata (b.r, &md, &mdsize));
  ZBT_EQ (mdsize, 56);
  zbt_buf_close (&b);
}

/* Corrupt frame headers: in test-corruption 10.2. */

/* Missing buffer, and one whose reader is gone. */
static void
test_missing (void)
{
  const char *name = zbt_name ();
  zb_writer_config cfg = { 200, 0 };
  zb_writer *w = NULL;
  zb_status st;
  int64_t t0;

  ZBT_ERR (zb_writer_connect (name, NULL, &w), -ENOENT);
  t0 = zbt_now_ms ();
  ZBT_ERR (zb_writer_connect (name, &cfg, &w), -ENOENT);
  t0 = zbt_now_ms () - t0;
  ZBT_ASSERT (t0 >= 150 && t0 < 2000);
  ZBT_ASSERT (w == NULL);
  ZBT_ERR (zb_inspect (name, &st, NULL, 0, NULL), -ENOENT);
  ZBT_ERR (zb_cleanup (name), -ENOENT);
  ZBT_EQ (zbt_objects (name), 0);
}

/* A second reader for a live name: -EEXIST, in this process and in
 * another; the first reader is not disturbed. */
static void
second_reader (void *arg)
{
  zbt_second_reader_refused (arg);
  ZBT_ERR (zb_cleanup (arg), -EBUSY);
}

static void
test_second_reader (void)
{
  const char *name = zbt_name ();
  zb_reader *r = zbt_reader (name, 0, 4096);

  second_reader ((void *) name);
  ZBT_WAIT_OK (zbt_fork (second_reader, (void *) name), 5000);
  ZBT_EQ (zbt_objects (name), 15);
  zbt_one_frame (r, name, 10, 0);
  zb_reader_destroy (r);
}

/* A second writer: -EBUSY in this process and in another; the first
 * writer is not disturbed. */
static void
second_writer (void *arg)
{
  zb_writer *w = NULL;

  ZBT_ERR (zb_writer_connect (arg, NULL, &w), -EBUSY);
  ZBT_ASSERT (w == NULL);
}

static void
test_second_writer (void)
{
  const char *name = zbt_name ();
  zb_reader *r = zbt_reader (name, 0, 4096);
  zb_writer *w = zbt_writer (name, 0);

  second_writer ((void *) name);
  ZBT_WAIT_OK (zbt_fork (second_writer, (void *) name), 5000);
  ZBT_OK (zbt_write (w, 10, 1));
  zbt_read_release (r, 0, 1, 10);
  zb_writer_disconnect (w);
  zb_reader_destroy (r);
}

static const zbt_case cases[] = {
  {"bad names: empty, /, a/b, 246 chars, ., .., NULL", test_names, 10},
  {"bad reader sizes", test_reader_config, 10},
  {"bad frames: 0, NULL, oversized, overflowing", test_frames, 10},
  {"bad metadata: too large, overflowing, empty, NULL", test_metadata, 10},
  {"NULL handles and zb_strerror of anything", test_null, 10},
  {"5.1 corrupt OIEB: size, version, sizes past the file", test_oieb, 20},
  {"corrupt metadata length", test_metadata_corrupt, 10},
  {"4.12 missing buffer", test_missing, 10},
  {"4.11 second reader", test_second_reader, 10},
  {"2.4 second writer", test_second_writer, 10},
};

int
main (int argc, char **argv)
{
  return zbt_main (cases, sizeof cases / sizeof cases[0], argc, argv);
}
