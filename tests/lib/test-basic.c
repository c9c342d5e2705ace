/* Conformance groups 1 (basic communication), 3 (error handling) and
 * 4 (edge cases), plus our stricter wrap cases (★). */

#include "zbtest.h"

/* 1.1: metadata 1 KiB, payload 10 KiB, 100 bytes of metadata, one 1024-byte
 * frame with sequence 1, content checked, released. */
static void
test_1_1 (void)
{
  const char *name = zbt_name ();
  static const size_t sizes[] = { 1024 };
  zbt_writer_job j = { name, 100, sizes, 1, 1, 0, 0, 0, 0 };
  zb_reader *r = zbt_reader (name, 1024, 10240);
  pid_t pid = zbt_fork (zbt_writer_job_run, &j);
  zb_frame f;
  const void *md;
  size_t mdsize;
  zb_status st;

  zbt_read_check (r, 5000, 1, 1024, &f);
  ZBT_ASSERT (f.flags & ZB_FRAME_NEW_WRITER);
  ZBT_OK (zb_reader_get_metadata (r, &md, &mdsize));
  ZBT_EQ (mdsize, 100);
  ZBT_PATTERN (md, 100, 0);
  st = zbt_status (r);
  ZBT_EQU (st.payload_free_bytes, 10240 - 1040);
  ZBT_OK (zb_reader_release (r, &f));
  st = zbt_status (r);
  ZBT_EQU (st.payload_free_bytes, 10240);
  ZBT_EQU (st.metadata_size, 1024);
  ZBT_EQU (st.payload_size, 10240);
  ZBT_WAIT_OK (pid, 5000);
  ZBT_ERR (zb_reader_read (r, 3000, &f), -EPIPE);
  zb_reader_destroy (r);
  ZBT_EQ (zbt_objects (name), 0);
}

/* 1.2: three frames read in order as 1, 2, 3. */
static void
test_1_2 (void)
{
  static const size_t sizes[] = { 5120 };
  zbt_writer_job j = { zbt_name (), 200, sizes, 1, 3, 0, 0, 0, 0 };

  zbt_writer_job_check (&j, 1024, 102400, 0, 5000);
}

/* 1.3: writing until full gives "buffer full" after the write timeout;
 * after one read + release the next write succeeds at once. */
static void
test_1_3 (void)
{
  const char *name = zbt_name ();
  zb_reader *r = zbt_reader (name, 0, 10240);
  zb_writer *w = zbt_writer (name, 300);
  int64_t t0;
  uint64_t i;

  for (i = 1; i <= 9; i++)
    ZBT_OK (zbt_write (w, 1024, i));
  t0 = zbt_now_ms ();
  ZBT_ERR (zbt_write (w, 1024, 10), -ENOBUFS);
  t0 = zbt_now_ms () - t0;
  if (t0 < 250 || t0 > 2000)
    ZBT_FAIL ("buffer full reported after %d ms, write timeout 300 ms",
        (int) t0);
  zbt_read_release (r, 0, 1, 1024);
  t0 = zbt_now_ms ();
  ZBT_OK (zbt_write (w, 1024, 10));
  t0 = zbt_now_ms () - t0;
  if (t0 > 100)
    ZBT_FAIL ("write after a release took %d ms", (int) t0);
  for (i = 2; i <= 10; i++)
    zbt_read_release (r, 0, i, 1024);
  /* the timeout changed while connected applies from the next write */
  for (i = 11; i <= 19; i++)
    ZBT_OK (zbt_write (w, 1024, i));
  ZBT_ERR (zb_writer_set_write_timeout (w, -1), -EINVAL);
  ZBT_OK (zb_writer_set_write_timeout (w, 1200));
  t0 = zbt_now_ms ();
  ZBT_ERR (zbt_write (w, 1024, 20), -ENOBUFS);
  t0 = zbt_now_ms () - t0;
  if (t0 < 1100 || t0 > 3000)
    ZBT_FAIL ("buffer full reported after %d ms, write timeout set to "
        "1200 ms", (int) t0);
  ZBT_OK (zb_writer_set_write_timeout (w, 20));
  t0 = zbt_now_ms ();
  ZBT_ERR (zbt_write (w, 1024, 20), -ENOBUFS);
  t0 = zbt_now_ms () - t0;
  if (t0 > 250)
    ZBT_FAIL ("buffer full reported after %d ms, write timeout set to "
        "20 ms", (int) t0);
  for (i = 11; i <= 19; i++)
    zbt_read_release (r, 0, i, 1024);
  zb_writer_disconnect (w);
  zb_reader_destroy (r);
}

/* 1.4: zero-copy write of 4096 bytes; the reader checks the pattern. */
static void
writer_1_4 (void *arg)
{
  zb_writer *w = zbt_writer (arg, 0);
  void *p = NULL, *q = NULL;

  ZBT_ERR (zb_writer_commit (w), -EINVAL);
  ZBT_OK (zb_writer_acquire (w, 4096, &p));
  ZBT_ASSERT (p != NULL);
  ZBT_ERR (zb_writer_acquire (w, 16, &q), -EALREADY);
  zbt_fill (p, 4096, 1);
  ZBT_OK (zb_writer_commit (w));
  ZBT_ERR (zb_writer_commit (w), -EINVAL);
  ZBT_OK (zb_writer_acquire (w, 10, &p));
  zbt_fill (p, 10, 2);
  ZBT_OK (zb_writer_commit (w));
  zb_writer_disconnect (w);
}

static void
test_1_4 (void)
{
  const char *name = zbt_name ();
  zb_reader *r = zbt_reader (name, 64, 65536);
  pid_t pid = zbt_fork (writer_1_4, (void *) name);
  zb_frame f;

  zbt_read_release (r, 5000, 1, 4096);
  zbt_read_release (r, 5000, 2, 10);
  ZBT_WAIT_OK (pid, 5000);
  ZBT_ERR (zb_reader_read (r, 3000, &f), -EPIPE);
  zb_reader_destroy (r);
}

/* 1.5: mixed sizes 100, 1024, 10240, 1 come back in order. */
static void
test_1_5 (void)
{
  static const size_t sizes[] = { 100, 1024, 10240, 1 };
  zbt_writer_job j = { zbt_name (), 0, sizes, 4, 4, 0, 0, 0, 0 };

  zbt_writer_job_check (&j, 0, 65536, 0, 5000);
}

/* 1.6: slow reader (100 ms per frame), fast writer, 20 x 1 KiB through a
 * 10 KiB ring with 64 bytes of metadata: all arrive in sequence. */
static void
test_1_6 (void)
{
  static const size_t sizes[] = { 1024 };
  zbt_writer_job j = { zbt_name (), 32, sizes, 1, 20, 0, 0, 0, 0 };

  zbt_writer_job_check (&j, 64, 10240, 100, 5000);
}

/* 1.7: 5000 frames through a 10 KiB ring without delay (2 KiB frames make
 * about 1250 wraps): no sequence error; the counters agree with the
 * protocol's placement rules. */
static void
test_1_7 (void)
{
  const char *name = zbt_name ();
  static const size_t sizes[] = { 2048 };
  zbt_writer_job j = { name, 0, sizes, 1, 5000, 0, 0, 0, 0 };
  zb_reader *r = zbt_reader (name, 0, 10240);
  pid_t pid = zbt_fork (zbt_writer_job_run, &j);
  uint64_t wp = 0, wraps = 0, i;
  zb_status st;

  zbt_reader_job (r, &j, 0);
  ZBT_WAIT_OK (pid, 10000);
  for (i = 0; i < 5000; i++)
    wraps += zbt_model_place (10240, &wp, 2048 + 16);
  st = zbt_status (r);
  ZBT_ASSERT (wraps > 1000);
  ZBT_EQU (st.written_count, 5000 + wraps);
  ZBT_EQU (st.read_count, 5000 + wraps);
  ZBT_EQU (st.write_pos, wp);
  ZBT_EQU (st.read_pos, wp);
  ZBT_EQU (st.payload_free_bytes, 10240);
  zb_reader_destroy (r);
}

/* 3.1: metadata is write-once; the second write fails, the first stays. */
static void
test_3_1 (void)
{
  const char *name = zbt_name ();
  zb_reader *r = zbt_reader (name, 1024, 10240);
  zb_writer *w = zbt_writer (name, 0);
  static const char first[] = "first metadata", second[] = "SECOND";
  const void *md;
  size_t mdsize;
  zb_status st;

  ZBT_OK (zb_writer_set_metadata (w, first, sizeof first - 1));
  ZBT_ERR (zb_writer_set_metadata (w, second, sizeof second - 1), -EALREADY);
  ZBT_OK (zbt_write (w, 10, 1));
  zbt_read_release (r, 1000, 1, 10);
  ZBT_OK (zb_reader_get_metadata (r, &md, &mdsize));
  ZBT_EQ (mdsize, sizeof first - 1);
  ZBT_ASSERT (memcmp (md, first, mdsize) == 0);
  st = zbt_status (r);
  ZBT_EQU (st.metadata_written_bytes, 8 + sizeof first - 1);
  zb_writer_disconnect (w);
  zb_reader_destroy (r);
}

/* 3.2: 2048 bytes of metadata into a 1024-byte block fail with a size
 * error; so does 1017 (8 + 1017 > 1024); 1016 fits exactly. */
static void
test_3_2 (void)
{
  const char *name = zbt_name ();
  zb_reader *r = zbt_reader (name, 1024, 10240);
  zb_writer *w = zbt_writer (name, 0);
  static uint8_t big[2048];
  const void *md;
  size_t mdsize;
  zb_status st;

  zbt_fill (big, sizeof big, 0);
  ZBT_ERR (zb_writer_set_metadata (w, big, 2048), -EMSGSIZE);
  ZBT_ERR (zb_writer_set_metadata (w, big, 1017), -EMSGSIZE);
  st = zbt_status (r);
  ZBT_EQU (st.metadata_written_bytes, 0);
  ZBT_OK (zb_writer_set_metadata (w, big, 1016));
  st = zbt_status (r);
  ZBT_EQU (st.metadata_written_bytes, 1024);
  ZBT_OK (zbt_write (w, 1, 1));
  zbt_read_release (r, 1000, 1, 1);
  ZBT_OK (zb_reader_get_metadata (r, &md, &mdsize));
  ZBT_EQ (mdsize, 1016);
  ZBT_PATTERN (md, 1016, 0);
  zb_writer_disconnect (w);
  zb_reader_destroy (r);
}

/* 3.3: no metadata at all: frames still work; the reader sees none. */
static void
test_3_3 (void)
{
  const char *name = zbt_name ();
  static const size_t sizes[] = { 300, 7 };
  zbt_writer_job j = { name, 0, sizes, 2, 10, 0, 0, 0, 0 };
  zb_reader *r = zbt_reader (name, 1024, 10240);
  pid_t pid = zbt_fork (zbt_writer_job_run, &j);
  const void *md;
  size_t mdsize;
  zb_frame f;

  zbt_read_check (r, 5000, 1, 300, &f);
  ZBT_ERR (zb_reader_get_metadata (r, &md, &mdsize), -ENODATA);
  ZBT_OK (zb_reader_release (r, &f));
  {
    uint64_t i;

    for (i = 2; i <= 10; i++)
      zbt_read_release (r, 5000, i, sizes[(i - 1) % 2]);
  }
  ZBT_WAIT_OK (pid, 5000);
  zb_reader_destroy (r);
}

/* 4.1: a frame of 90 % of the ring, then 1 byte, then 90 % again: wraps
 * without deadlock. */
static void
test_4_1 (void)
{
  static const size_t sizes[] = { 9216, 1, 9216, 1, 9216 };
  zbt_writer_job j = { zbt_name (), 0, sizes, 5, 5, 0, 2000, 0, 0 };

  zbt_writer_job_check (&j, 0, 10240, 0, 5000);
}

/* 4.2: ten frames written while nothing is consumed: the "data available"
 * semaphore counts exactly the ten pending frames, and all ten are read. */
static void
test_4_2 (void)
{
  const char *name = zbt_name ();
  zb_reader *r = zbt_reader (name, 0, 10240);
  zb_writer *w = zbt_writer (name, 0);
  zb_frame f;
  uint64_t i;

  for (i = 1; i <= 10; i++)
    ZBT_OK (zbt_write (w, 100 * i, i));
  ZBT_EQ (zbt_sem_value (name, 'w'), 10);
  for (i = 1; i <= 10; i++)
    zbt_read_release (r, 0, i, 100 * i);
  ZBT_EQ (zbt_sem_value (name, 'w'), 0);
  ZBT_ERR (zb_reader_read (r, 0, &f), -EAGAIN);
  zb_writer_disconnect (w);
  zb_reader_destroy (r);
}

/* 4.3: a metadata block of size 0: the metadata write fails, frames work. */
static void
test_4_3 (void)
{
  const char *name = zbt_name ();
  zb_reader *r = zbt_reader (name, 0, 4096);
  zb_writer *w = zbt_writer (name, 0);
  const void *md;
  size_t mdsize;
  zb_status st;

  st = zbt_status (r);
  ZBT_EQU (st.metadata_size, 0);
  ZBT_ERR (zb_writer_set_metadata (w, "x", 1), -EMSGSIZE);
  ZBT_OK (zbt_write (w, 1000, 1));
  zbt_read_release (r, 1000, 1, 1000);
  ZBT_ERR (zb_reader_get_metadata (r, &md, &mdsize), -ENODATA);
  zb_writer_disconnect (w);
  zb_reader_destroy (r);
}

/* 4.4: payload 64, metadata 0: 48 bytes fill the ring exactly; a 1-byte
 * frame fits; 49 bytes (65 > 64) is "frame too large" at once. */
static void
test_4_4 (void)
{
  const char *name = zbt_name ();
  zb_reader *r = zbt_reader (name, 0, 64);
  zb_writer *w = zbt_writer (name, 2000);
  int64_t t0;

  ZBT_OK (zbt_write (w, 48, 1));
  zbt_read_release (r, 0, 1, 48);
  ZBT_OK (zbt_write (w, 1, 2));
  t0 = zbt_now_ms ();
  ZBT_ERR (zbt_write (w, 49, 3), -EMSGSIZE);
  ZBT_ASSERT (zbt_now_ms () - t0 < 100);
  zbt_read_release (r, 0, 2, 1);
  zb_writer_disconnect (w);
  zb_reader_destroy (r);
}

/* 4.5: payload 1 KiB, reader 50 ms per frame, 100 frames: none lost and
 * the writer blocks (it cannot finish faster than the reader). */
static void
test_4_5 (void)
{
  static const size_t sizes[] = { 200 };
  zbt_writer_job j = { zbt_name (), 0, sizes, 1, 100, 0, 0, 0, 4000 };

  zbt_writer_job_check (&j, 0, 1024, 50, 5000);
}

/* 4.6: a frame of exactly payload - 16 fills the ring (write_pos is stored
 * as 0, not P); further writes block until a read + release. */
static void
test_4_6 (void)
{
  const char *name = zbt_name ();
  zb_reader *r = zbt_reader (name, 0, 1024);
  zb_writer *w = zbt_writer (name, 200);
  zb_status st;

  ZBT_OK (zbt_write (w, 1008, 1));
  st = zbt_status (r);
  ZBT_EQU (st.payload_free_bytes, 0);
  ZBT_EQU (st.write_pos, 0);
  ZBT_ERR (zbt_write (w, 1, 2), -ENOBUFS);
  zbt_read_release (r, 0, 1, 1008);
  ZBT_OK (zbt_write (w, 1, 2));
  zbt_read_release (r, 0, 2, 1);
  zb_writer_disconnect (w);
  zb_reader_destroy (r);
}

/* 4.7: size 0 is rejected, size 1 works, the overhead is 16 bytes. */
static void
test_4_7 (void)
{
  const char *name = zbt_name ();
  zb_reader *r = zbt_reader (name, 0, 1024);
  zb_writer *w = zbt_writer (name, 200);
  void *p;

  ZBT_ERR (zb_writer_write (w, "", 0), -EINVAL);
  ZBT_ERR (zb_writer_acquire (w, 0, &p), -EINVAL);
  ZBT_OK (zbt_write (w, 1, 1));
  ZBT_WRITE_STATE (r, 17, 1, 1024 - 17);
  zbt_read_release (r, 0, 1, 1);
  zb_writer_disconnect (w);
  zb_reader_destroy (r);
}

/* 4.8: a frame that does not fit before the end waits for space and then
 * lands at offset 0. (The scenario's literal numbers - 6144 released, then
 * 7168 in a 10 KiB ring - can never be placed: wrapping needs 4080 + 7184
 * > 10240 free bytes. We keep its point with numbers that can.) Ring
 * 10240: 6144 and 2048 written and held; 7168 waits (needs 2016 + 7184);
 * releasing 6144 is not enough; releasing 2048 lets it land at 0. */
typedef struct
{
  const char *name;
  volatile int done;
  int result;
} job_4_8;

static void
writer_4_8 (void *arg)
{
  job_4_8 *j = arg;
  zb_writer *w = zbt_writer (j->name, 5000);

  ZBT_OK (zbt_write (w, 6144, 1));
  ZBT_OK (zbt_write (w, 2048, 2));
  j->result = zbt_write (w, 7168, 3);
  j->done = 1;
  zb_writer_disconnect (w);
}

static void
test_4_8 (void)
{
  job_4_8 *j = zbt_shared (sizeof *j);
  zb_reader *r;
  zb_frame f1, f2;
  zb_status st;
  pid_t pid;

  j->name = zbt_name ();
  r = zbt_reader (j->name, 0, 10240);
  pid = zbt_fork (writer_4_8, j);
  zbt_read_check (r, 3000, 1, 6144, &f1);
  zbt_read_check (r, 3000, 2, 2048, &f2);
  zbt_sleep_ms (300);
  ZBT_EQ (j->done, 0);
  ZBT_OK (zb_reader_release (r, &f1));
  zbt_sleep_ms (300);
  ZBT_EQ (j->done, 0);
  ZBT_OK (zb_reader_release (r, &f2));
  zbt_read_release (r, 3000, 3, 7168);
  ZBT_WAIT_OK (pid, 3000);
  ZBT_EQ (j->result, 0);
  st = zbt_status (r);
  ZBT_EQU (st.write_pos, 7184);
  ZBT_EQU (st.written_count, 4);
  zb_reader_destroy (r);
}

/* 4.9: 10000 x 1 KiB through 10 KiB: order correct, nothing lost. */
static void
test_4_9 (void)
{
  static const size_t sizes[] = { 1024 };
  zbt_writer_job j = { zbt_name (), 0, sizes, 1, 10000, 0, 0, 0, 0 };

  zbt_writer_job_check (&j, 0, 10240, 0, 10000);
}

/* 4.10: with the ring 80 % full a second writer is rejected; filling it to
 * 100 % makes the next write block ("buffer full" after the timeout). */
static void
writer2_4_10 (void *arg)
{
  zb_writer *w = NULL;

  ZBT_ERR (zb_writer_connect (arg, NULL, &w), -EBUSY);
  ZBT_ASSERT (w == NULL);
}

static void
test_4_10 (void)
{
  const char *name = zbt_name ();
  zb_reader *r = zbt_reader (name, 0, 10240);
  zb_writer *w = zbt_writer (name, 300);
  zb_status st;
  uint64_t i;

  for (i = 1; i <= 8; i++)
    ZBT_OK (zbt_write (w, 1008, i));
  st = zbt_status (r);
  ZBT_EQU (st.payload_free_bytes, 2048);
  ZBT_ASSERT (st.utilisation > 0.79 && st.utilisation < 0.81);
  ZBT_WAIT_OK (zbt_fork (writer2_4_10, (void *) name), 5000);
  ZBT_OK (zbt_write (w, 1008, 9));
  ZBT_OK (zbt_write (w, 1008, 10));
  st = zbt_status (r);
  ZBT_EQU (st.payload_free_bytes, 0);
  ZBT_ERR (zbt_write (w, 1, 11), -ENOBUFS);
  for (i = 1; i <= 10; i++)
    zbt_read_release (r, 0, i, 1008);
  zb_writer_disconnect (w);
  zb_reader_destroy (r);
}

/* 4.11: two readers create the same name at once: exactly one wins (the
 * other gets -EEXIST), and the winner's buffer works. 20 rounds. */
typedef struct
{
  const char *name;
  volatile int ready;
  volatile int go;
  volatile int result[2];
  volatile int reported;
} race_4_11;

static race_4_11 *race;

static void
racer_4_11 (void *arg)
{
  int me = (int) (intptr_t) arg;
  zb_reader_config cfg = { 0, 4096, 0 };
  zb_reader *r = NULL;
  int ret;

  __atomic_add_fetch (&race->ready, 1, __ATOMIC_SEQ_CST);
  while (!race->go);
  ret = zb_reader_create (race->name, &cfg, &r);
  race->result[me] = ret;
  __atomic_add_fetch (&race->reported, 1, __ATOMIC_SEQ_CST);
  if (ret == 0) {
    zbt_read_release (r, 5000, 1, 100);
    zb_reader_destroy (r);
  }
}

static void
test_4_11 (void)
{
  int round;

  race = zbt_shared (sizeof *race);
  for (round = 0; round < 20; round++) {
    pid_t a, b;
    zb_writer *w;
    int wins;

    memset ((void *) race, 0, sizeof *race);
    race->name = zbt_name ();
    race->result[0] = race->result[1] = 1;
    a = zbt_fork (racer_4_11, (void *) (intptr_t) 0);
    b = zbt_fork (racer_4_11, (void *) (intptr_t) 1);
    while (race->ready < 2);
    race->go = 1;
    while (race->reported < 2)
      zbt_sleep_ms (1);
    wins = (race->result[0] == 0) + (race->result[1] == 0);
    if (wins != 1 || (race->result[0] != -EEXIST && race->result[1] != -EEXIST))
      ZBT_FAIL ("round %d: results %d (%s) and %d (%s)", round,
          race->result[0], zb_strerror (race->result[0]), race->result[1],
          zb_strerror (race->result[1]));
    w = zbt_writer (race->name, 0);
    ZBT_OK (zbt_write (w, 100, 1));
    zb_writer_disconnect (w);
    ZBT_WAIT_OK (a, 5000);
    ZBT_WAIT_OK (b, 5000);
    ZBT_EQ (zbt_objects (race->name), 0);
  }
}

/* 4.12: a writer before any reader gets "not found"; with a connect
 * timeout it waits for the reader to appear. */
static void
late_reader_4_12 (void *arg)
{
  zb_reader *r;

  zbt_sleep_ms (300);
  r = zbt_reader (arg, 0, 4096);
  zbt_read_release (r, 5000, 1, 10);
  zb_reader_destroy (r);
}

static void
test_4_12 (void)
{
  const char *name = zbt_name ();
  zb_writer_config cfg = { 3000, 0 };
  zb_writer *w = NULL;
  int64_t t0 = zbt_now_ms ();
  pid_t pid;

  ZBT_ERR (zb_writer_connect (name, NULL, &w), -ENOENT);
  ZBT_ASSERT (w == NULL);
  ZBT_ASSERT (zbt_now_ms () - t0 < 100);
  ZBT_EQ (zbt_objects (name), 0);
  pid = zbt_fork (late_reader_4_12, (void *) name);
  t0 = zbt_now_ms ();
  ZBT_OK (zb_writer_connect (name, &cfg, &w));
  ZBT_ASSERT (zbt_now_ms () - t0 >= 250);
  ZBT_OK (zbt_write (w, 10, 1));
  ZBT_WAIT_OK (pid, 5000);
  zb_writer_disconnect (w);
}

/* Frames of 64 KiB and more go back to the start of the ring as soon as
 * the reader has freed it (docs/protocol.md step 2), so that they stay in
 * the CPU caches; the skipped tail is not counted as bytes the reader
 * holds (zbsrc copies frames when downstream holds too much, and a tail is
 * nothing downstream holds). A frame that ends exactly at the end of the
 * ring (zbsink's pad records) is never wrapped early. */
static void
test_hot_wrap (void)
{
  const size_t size = 100000, t = 16 + 100000, p = 1024 * 1024;
  const size_t end = 300000;    /* a frame of this total fills up to P */
  const char *name = zbt_name ();
  zb_reader *r = zbt_reader (name, 0, p);
  zb_writer *w = zbt_writer (name, 300);
  zb_frame b, d, e;
  zb_status st;

  ZBT_OK (zbt_write (w, size, 1));
  zbt_read_release (r, 0, 1, size);
  /* the ring is empty: frame 2 goes back to 0 at once */
  ZBT_OK (zbt_write (w, size, 2));
  st = zbt_status (r);
  ZBT_EQU (st.write_pos, t);
  zbt_read_check (r, 0, 2, size, &b);
  /* frame 2 held at the start: frame 3 follows it */
  ZBT_OK (zbt_write (w, size, 3));
  st = zbt_status (r);
  ZBT_EQU (st.write_pos, 2 * t);
  zbt_read_check (r, 0, 3, size, &d);
  ZBT_OK (zb_reader_release (r, &b));
  /* frame 3 held, the start free again: frame 4 goes to 0, the reader
   * holding its newest frame (3) until frame 4 arrives */
  ZBT_OK (zbt_write (w, size, 4));
  st = zbt_status (r);
  ZBT_EQU (st.write_pos, t);
  ZBT_EQU (st.payload_free_bytes, p - t - (p - 2 * t) - t);
  zbt_read_check (r, 0, 4, size, &e);
  ZBT_EQU (zb_reader_held_bytes (r), 2 * t);
  ZBT_OK (zb_reader_release (r, &d));
  ZBT_EQU (zb_reader_held_bytes (r), t);
  ZBT_OK (zb_reader_release (r, &e));
  ZBT_EQU (zb_reader_held_bytes (r), 0);
  st = zbt_status (r);
  ZBT_EQU (st.payload_free_bytes, p);

  /* from t, a frame up to the end of the ring stays there, though the
   * empty ring would take it at 0 */
  ZBT_OK (zbt_write (w, p - end - t - 16, 5));
  zbt_read_release (r, 0, 5, p - end - t - 16);
  ZBT_OK (zbt_write (w, end - 16, 6));
  st = zbt_status (r);
  ZBT_EQU (st.write_pos, 0);
  zbt_read_release (r, 0, 6, end - 16);
  st = zbt_status (r);
  ZBT_EQU (st.payload_free_bytes, p);
  zb_writer_disconnect (w);
  zb_reader_destroy (r);
}

/* ★ Frame sizes that would leave a 1..15-byte tail: the writer wraps
 * early (marker, waste charged), every frame arrives. First the example
 * from the checklist (payload 65536, frames of 16366: four frames would
 * leave 8 bytes), then every tail length 1..15 in a 1024-byte ring. */
static void
test_tail_65536 (void)
{
  const char *name = zbt_name ();
  zb_reader *r = zbt_reader (name, 0, 65536);
  zb_writer *w = zbt_writer (name, 300);
  uint8_t *m;
  size_t msize;
  zb_status st;

  ZBT_OK (zbt_write (w, 16366, 1));
  ZBT_OK (zbt_write (w, 16366, 2));
  ZBT_OK (zbt_write (w, 16366, 3));
  st = zbt_status (r);
  ZBT_EQU (st.write_pos, 3 * 16382);
  /* Frame 4 needs 8 + 16382 more: impossible until 1 and 2 are back. */
  ZBT_ERR (zbt_write (w, 16366, 4), -ENOBUFS);
  zbt_read_release (r, 0, 1, 16366);
  zbt_read_release (r, 0, 2, 16366);
  ZBT_OK (zbt_write (w, 16366, 4));
  ZBT_WRITE_STATE (r, 16382, 5, 65536 - 16382 - 16390 - 16382);
  m = zbt_map (name, &msize);
  ZBT_EQU (zbt_get64 (m, 128 + 3 * 16382), 0);
  ZBT_EQU (zbt_get64 (m, 128 + 3 * 16382 + 8), 0);
  munmap (m, msize);
  zbt_read_release (r, 0, 3, 16366);
  zbt_read_release (r, 0, 4, 16366);
  ZBT_READ_STATE (r, 16382, 5, 65536);
  zb_writer_disconnect (w);
  zb_reader_destroy (r);
}

static void
test_tail_each (void)
{
  uint64_t t;

  for (t = 1; t <= 15; t++) {
    const char *name = zbt_name ();
    zb_reader *r = zbt_reader (name, 0, 1024);
    zb_writer *w = zbt_writer (name, 300);
    uint64_t tb = 64 - t;       /* frame B: header + payload */
    zb_status st;

    ZBT_OK (zbt_write (w, 1024 - 64 - 16, 1));
    zbt_read_release (r, 0, 1, 1024 - 64 - 16);
    ZBT_OK (zbt_write (w, tb - 16, 2));
    st = zbt_status (r);
    if (st.write_pos != tb)
      ZBT_FAIL ("tail %" PRIu64 ": write_pos %" PRIu64 ", want %" PRIu64
          " (frame placed at 0 after a marker)", t, st.write_pos, tb);
    ZBT_EQU (st.written_count, 3);
    ZBT_EQU (st.payload_free_bytes, 1024 - 64 - tb);
    zbt_read_release (r, 0, 2, tb - 16);
    ZBT_READ_STATE (r, tb, 3, 1024);
    zb_writer_disconnect (w);
    zb_reader_destroy (r);
  }
}

/* ★ A foreign writer (C++/Python reference) may leave write_pos == P after
 * a frame that ends exactly at the end of the ring, and may leave a tail
 * shorter than 16 bytes with no marker. We play that writer by hand on the
 * mapping, then let our own writer take over. */
static void
foreign_frame (uint8_t * m, uint64_t ring_off, uint64_t pos, uint64_t size,
    uint64_t seq)
{
  zbt_put64 (m, ring_off + pos, size);
  zbt_put64 (m, ring_off + pos + 8, seq);
  zbt_fill (m + ring_off + pos + 16, size, seq);
}

/* ... and publishes what it wrote: the OIEB's write_pos, free bytes and
 * written count, then a post of "data available". */
static void
foreign_publish (uint8_t * m, const char *name, uint64_t write_pos,
    uint64_t free_bytes, uint64_t written_count)
{
  zbt_put64 (m, ZBT_OIEB_WRITE_POS, write_pos);
  zbt_put64 (m, ZBT_OIEB_P_FREE, free_bytes);
  zbt_put64 (m, ZBT_OIEB_WRITTEN_COUNT, written_count);
  zbt_sem_post (name, 'w');
}

static void
test_foreign_write_pos_p (void)
{
  const char *name = zbt_name ();
  zb_reader *r = zbt_reader (name, 0, 1024);
  uint8_t *m;
  size_t msize;
  zb_frame f;
  zb_writer *w;
  uint64_t i;

  m = zbt_map (name, &msize);
  /* Foreign writer: one frame that fills the ring and write_pos = P. */
  zbt_put64 (m, ZBT_OIEB_WRITER_PID, (uint64_t) getpid ());
  foreign_frame (m, 128, 0, 1008, 1);
  foreign_publish (m, name, 1024, 0, 1);
  zbt_read_check (r, 1000, 1, 1008, &f);
  ZBT_ASSERT (f.flags & ZB_FRAME_NEW_WRITER);
  ZBT_OK (zb_reader_release (r, &f));
  ZBT_EQU (zbt_get64 (m, ZBT_OIEB_P_FREE), 1024);
  /* It leaves. */
  zbt_put64 (m, ZBT_OIEB_WRITER_PID, 0);
  ZBT_ERR (zb_reader_read (r, 2000, &f), -EPIPE);
  /* Our writer takes over from write_pos == P. */
  w = zbt_writer (name, 500);
  for (i = 1; i <= 3; i++)
    ZBT_OK (zbt_write (w, 100, i));
  for (i = 1; i <= 3; i++) {
    zbt_read_check (r, 1000, i, 100, &f);
    if (i == 1)
      ZBT_ASSERT (f.flags & ZB_FRAME_NEW_WRITER);
    else
      ZBT_ASSERT (!(f.flags & ZB_FRAME_NEW_WRITER));
    ZBT_OK (zb_reader_release (r, &f));
  }
  for (i = 4; i <= 30; i++) {
    ZBT_OK (zbt_write (w, 100, i));
    zbt_read_release (r, 1000, i, 100);
  }
  zb_writer_disconnect (w);
  ZBT_ERR (zb_reader_read (r, 2000, &f), -EPIPE);
  munmap (m, msize);
  zb_reader_destroy (r);
}

static void
test_foreign_short_tail (void)
{
  const char *name = zbt_name ();
  zb_reader *r = zbt_reader (name, 0, 1024);
  uint8_t *m;
  size_t msize;
  zb_frame f;
  zb_writer *w;

  m = zbt_map (name, &msize);
  zbt_put64 (m, ZBT_OIEB_WRITER_PID, (uint64_t) getpid ());
  /* Frame 1 ends 8 bytes before the end of the ring. */
  foreign_frame (m, 128, 0, 1000, 1);
  foreign_publish (m, name, 1016, 8, 1);
  zbt_read_release (r, 1000, 1, 1000);
  /* Frame 2 at 0 with no marker (8 < 16 bytes left): the 8 bytes are
   * wasted and counted as a wrap, as the references do. */
  ZBT_EQU (zbt_get64 (m, ZBT_OIEB_P_FREE), 1024);
  foreign_frame (m, 128, 0, 100, 2);
  foreign_publish (m, name, 116, 1024 - 8 - 116, 3);
  zbt_read_release (r, 1000, 2, 100);
  ZBT_EQU (zbt_get64 (m, ZBT_OIEB_P_FREE), 1024);
  ZBT_EQU (zbt_get64 (m, ZBT_OIEB_READ_POS), 116);
  ZBT_EQU (zbt_get64 (m, ZBT_OIEB_READ_COUNT), 3);
  zbt_put64 (m, ZBT_OIEB_WRITER_PID, 0);
  ZBT_ERR (zb_reader_read (r, 2000, &f), -EPIPE);
  /* And our writer continues from there. */
  w = zbt_writer (name, 500);
  ZBT_OK (zbt_write (w, 800, 1));
  ZBT_OK (zbt_write (w, 100, 2));
  zbt_read_release (r, 1000, 1, 800);
  zbt_read_release (r, 1000, 2, 100);
  zb_writer_disconnect (w);
  munmap (m, msize);
  zb_reader_destroy (r);
}

static const zbt_case cases[] = {
  {"1.1 simple write-read cycle", test_1_1, 20},
  {"1.2 three frames in order", test_1_2, 20},
  {"1.3 buffer full after the write timeout, then space at once; "
        "zb_writer_set_write_timeout", test_1_3, 20},
  {"1.4 zero-copy acquire and commit", test_1_4, 20},
  {"1.5 mixed sizes 100, 1024, 10240, 1", test_1_5, 20},
  {"1.6 slow reader, fast writer, 20 frames", test_1_6, 20},
  {"1.7 5000 frames, about 1250 wraps", test_1_7, 30},
  {"3.1 metadata is write-once", test_3_1, 20},
  {"3.2 metadata too large", test_3_2, 20},
  {"3.3 no metadata", test_3_3, 20},
  {"4.1 90 %, 1 byte, 90 %: wrap without deadlock", test_4_1, 20},
  {"4.2 ten pending frames, semaphore count 10", test_4_2, 20},
  {"4.3 metadata block of size 0", test_4_3, 20},
  {"4.4 payload 64: 1 byte fits, 49 bytes too large", test_4_4, 20},
  {"4.5 payload 1 KiB, reader 50 ms per frame, 100 frames", test_4_5, 30},
  {"4.6 frame of payload - 16 fills the ring", test_4_6, 20},
  {"4.7 size 0 rejected, size 1 works, 16 bytes overhead", test_4_7, 20},
  {"4.8 a frame that must wrap waits, then lands at 0", test_4_8, 20},
  {"4.9 10000 x 1 KiB through 10 KiB", test_4_9, 30},
  {"4.10 second writer rejected at 80 %, full at 100 %", test_4_10, 20},
  {"4.11 two readers race for one name", test_4_11, 30},
  {"4.12 writer before reader: not found, or wait", test_4_12, 20},
  {"early wrap of large frames; the skipped tail is not held", test_hot_wrap,
      20},
  {"4.13★ tail of 8 bytes (payload 65536, frames 16366): early wrap",
      test_tail_65536, 20},
  {"4.13★ tails of 1..15 bytes: early wrap", test_tail_each, 20},
  {"4.14★ foreign writer left write_pos == payload_size",
      test_foreign_write_pos_p, 20},
  {"4.14★ foreign writer left a tail < 16 bytes without marker",
      test_foreign_short_tail, 20},
};

int
main (int argc, char **argv)
{
  return zbt_main (cases, sizeof cases / sizeof cases[0], argc, argv);
}
