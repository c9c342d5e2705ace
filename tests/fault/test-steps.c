/* Kill a peer at every step of commit, wrap, read and release
 *
 * Linked against a build of the library with ZB_FAULT_INJECTION
 * (fault-point.c): zbfault_arm (STEP, N) makes the Nth pass through the
 * ZB_FAULT (STEP) point of lib/writer.c or lib/reader.c raise SIGKILL in
 * that process. Every case kills one side at one step and then checks, as
 * the survivor:
 *   - writer killed: every frame it committed (counted, token or not) is
 *     delivered once, in order, intact; none that it did not commit; the
 *     reader reports the death; frames the reader held across the kill are
 *     not overwritten; a new writer connects within its bound and every
 *     frame it writes arrives; drained, free bytes == ring size and the
 *     counters agree;
 *   - reader killed: the writer sees it die, a new reader is served by the
 *     reconnected writer, every frame intact, drained ring whole.
 * The ring is 2 KiB and the frame sizes vary, so wraps (markers and short
 * tails) come often. The harness (tests/lib/zbtest.h) fails a case that
 * leaves an object behind.
 */

#include "zbtest.h"

void zbfault_arm (const char *step, long count);

#define RING 2048
#define FIRST_FRAMES 60         /* the victim writer stops after these */
#define SECOND_FRAMES 40
#define HELD 2                  /* frames the reader keeps across a kill */
#define RESUME_LIMIT_MS 700     /* recovery wait (500 ms) and then some */

/* Varied sizes: wraps with markers and with short tails. */
static size_t
size_of (uint64_t seq)
{
  static const size_t sizes[] = { 100, 300, 50, 500, 17, 200, 333, 64, 7 };

  return sizes[seq % (sizeof sizes / sizeof sizes[0])];
}

typedef struct
{
  uint64_t in_progress;         /* frame the writer is writing */
  int64_t connect_ms;           /* how long the second writer waited */
} shared_state;

static shared_state *shared;

static void
parse_case (char *step, size_t size, long *count)
{
  /* "writer-kill STEP #N" / "reader-kill STEP #N" */
  const char *sp = strchr (zbt_case_name, ' ');
  const char *hash = strchr (zbt_case_name, '#');

  ZBT_ASSERT (sp != NULL && hash != NULL && hash > sp + 1);
  snprintf (step, size, "%.*s", (int) (hash - sp - 2), sp + 1);
  *count = atol (hash + 1);
}

/* ------------------------------------------------------------------ */
/* Writer killed */

static const char *buffer_name;
static char victim_step[64];
static long victim_count;

static void
victim_writer (void *arg)
{
  zb_writer *w = zbt_writer (buffer_name, 5000);
  uint64_t k;

  (void) arg;
  zbfault_arm (victim_step, victim_count);
  for (k = 1; k <= FIRST_FRAMES; k++) {
    __atomic_store_n (&shared->in_progress, k, __ATOMIC_SEQ_CST);
    ZBT_OK (zbt_write (w, size_of (k), k));
  }
  /* Not killed: the step was never reached, the case proves nothing. */
  _exit (3);
}

static void
second_writer (void *arg)
{
  zb_writer_config cfg = { 2000, 5000 };
  zb_writer *w = NULL;
  int64_t t0 = zbt_now_ms ();
  uint64_t k;

  (void) arg;
  ZBT_OK (zb_writer_connect (buffer_name, &cfg, &w));
  shared->connect_ms = zbt_now_ms () - t0;
  for (k = 1; k <= SECOND_FRAMES; k++)
    ZBT_OK (zbt_write (w, size_of (k), k));
  zb_writer_disconnect (w);
}

/* Steps at or after the count: the frame in progress was committed. */
static int
step_commits (const char *step)
{
  return strcmp (step, "commit-count") == 0
      || strcmp (step, "commit-post") == 0;
}

static void
writer_kill_case (void)
{
  zb_frame held[HELD + 1];
  size_t nheld = 0, i;
  uint64_t last = 0, committed;
  pid_t victim, second = -1;
  zb_reader *r;
  zb_status st;
  int ret, status;

  parse_case (victim_step, sizeof victim_step, &victim_count);
  shared = zbt_shared (sizeof *shared);
  buffer_name = zbt_name ();
  r = zbt_reader (buffer_name, 256, RING);
  victim = zbt_fork (victim_writer, NULL);

  /* Read the first writer's frames, holding the newest HELD, and start
   * the second writer the moment the first one is dead (before the
   * reader has noticed: it must wait for the recovery, not race it). */
  for (;;) {
    zb_frame f;

    if (second < 0 && waitpid (victim, &status, WNOHANG) == victim) {
      if (!WIFSIGNALED (status) || WTERMSIG (status) != SIGKILL)
        ZBT_FAIL ("the writer was not killed at %s #%ld (exit %d)",
            victim_step, victim_count, WIFEXITED (status) ?
            WEXITSTATUS (status) : -1);
      second = zbt_fork (second_writer, NULL);
    }
    ret = zb_reader_read (r, 20, &f);
    if (ret == -ETIMEDOUT)
      continue;
    if (ret == -EOWNERDEAD)
      break;
    ZBT_OK (ret);
    ZBT_EQU (f.sequence, last + 1);
    ZBT_EQU (f.size, size_of (f.sequence));
    ZBT_PATTERN (f.data, f.size, f.sequence);
    last = f.sequence;
    held[nheld++] = f;
    if (nheld > HELD) {
      ZBT_OK (zb_reader_release (r, &held[0]));
      memmove (held, held + 1, HELD * sizeof held[0]);
      nheld--;
    }
  }
  if (second < 0) {
    /* The reader saw the death before we did. */
    while (waitpid (victim, &status, 0) < 0 && errno == EINTR);
    if (!WIFSIGNALED (status) || WTERMSIG (status) != SIGKILL)
      ZBT_FAIL ("the writer was not killed at %s #%ld", victim_step,
          victim_count);
    second = zbt_fork (second_writer, NULL);
  }
  committed = shared->in_progress - (step_commits (victim_step) ? 0 : 1);
  ZBT_EQU (last, committed);

  /* The second writer's frames, all of them; the held ones stay until its
   * first frames are in (a reader that holds frames for good stalls any
   * ring, so they go then). */
  for (last = 0; last < SECOND_FRAMES;) {
    zb_frame f;

    ret = zb_reader_read (r, 3000, &f);
    ZBT_OK (ret);
    ZBT_EQU (f.sequence, last + 1);
    if (f.sequence == 1)
      ZBT_ASSERT (f.flags & ZB_FRAME_NEW_WRITER);
    ZBT_EQU (f.size, size_of (f.sequence));
    ZBT_PATTERN (f.data, f.size, f.sequence);
    last = f.sequence;
    ZBT_OK (zb_reader_release (r, &f));
    if (last == 2) {
      for (i = 0; i < nheld; i++) {
        ZBT_PATTERN (held[i].data, held[i].size, held[i].sequence);
        ZBT_OK (zb_reader_release (r, &held[i]));
      }
      nheld = 0;
    }
  }
  ZBT_EQ (zb_reader_read (r, 3000, &held[HELD]), -EPIPE);
  ZBT_WAIT_OK (second, 5000);
  if (shared->connect_ms > RESUME_LIMIT_MS)
    ZBT_FAIL ("the new writer waited %lld ms to connect",
        (long long) shared->connect_ms);

  st = zbt_status (r);
  ZBT_EQU (st.payload_free_bytes, st.payload_size);
  ZBT_EQU (st.written_count, st.read_count);
  ZBT_EQU (st.write_pos, st.read_pos);
  zb_reader_destroy (r);
}

/* ------------------------------------------------------------------ */
/* Reader killed */

static void
victim_reader (void *arg)
{
  zb_reader *r = zbt_reader (buffer_name, 256, RING);
  zb_frame held[HELD + 1];
  size_t nheld = 0;
  uint64_t last = 0;

  (void) arg;
  zbfault_arm (victim_step, victim_count);
  for (;;) {
    zb_frame f;

    ZBT_OK (zb_reader_read (r, 5000, &f));
    ZBT_EQU (f.sequence, last + 1);
    ZBT_PATTERN (f.data, f.size, f.sequence);
    last = f.sequence;
    held[nheld++] = f;
    if (nheld > HELD) {
      ZBT_OK (zb_reader_release (r, &held[0]));
      memmove (held, held + 1, HELD * sizeof held[0]);
      nheld--;
    }
  }
}

static void
second_reader (void *arg)
{
  zb_reader *r = zbt_reader (buffer_name, 256, RING);
  uint64_t k;
  zb_status st;

  (void) arg;
  for (k = 1; k <= SECOND_FRAMES; k++)
    zbt_read_release (r, 5000, k, size_of (k));
  ZBT_EQ (zb_reader_read (r, 5000, &(zb_frame) {
          0}
      ), -EPIPE);
  st = zbt_status (r);
  ZBT_EQU (st.payload_free_bytes, st.payload_size);
  ZBT_EQU (st.written_count, st.read_count);
  zb_reader_destroy (r);
}

static void
reader_kill_case (void)
{
  zb_writer_config cfg = { 3000, 200 };
  zb_writer *w = NULL;
  pid_t victim, second;
  uint64_t k = 0;
  int ret, status;
  int64_t t0;

  parse_case (victim_step, sizeof victim_step, &victim_count);
  shared = zbt_shared (sizeof *shared);
  buffer_name = zbt_name ();
  victim = zbt_fork (victim_reader, NULL);
  ZBT_OK (zb_writer_connect (buffer_name, &cfg, &w));
  /* Write until the reader dies (it must, at the armed step). */
  t0 = zbt_now_ms ();
  for (;;) {
    k++;
    ret = zbt_write (w, size_of (k), k);
    if (ret == -EOWNERDEAD)
      break;
    if (ret == -ENOBUFS)
      ret = zb_writer_check_reader (w);
    if (ret == -EOWNERDEAD)
      break;
    ZBT_OK (ret);
    if (zbt_now_ms () - t0 > 5000)
      ZBT_FAIL ("the reader was not killed at %s #%ld", victim_step,
          victim_count);
  }
  while (waitpid (victim, &status, 0) < 0 && errno == EINTR);
  if (!WIFSIGNALED (status) || WTERMSIG (status) != SIGKILL)
    ZBT_FAIL ("the reader ended otherwise than killed (status %d)", status);
  zb_writer_disconnect (w);

  /* A new reader, the same writer process reconnecting. */
  second = zbt_fork (second_reader, NULL);
  ZBT_OK (zb_writer_connect (buffer_name, &cfg, &w));
  for (k = 1; k <= SECOND_FRAMES; k++)
    ZBT_OK (zbt_write (w, size_of (k), k));
  zb_writer_disconnect (w);
  ZBT_WAIT_OK (second, 8000);
}

/* ------------------------------------------------------------------ */

#define W(step, n) { "writer-kill " step " #" #n, writer_kill_case, 30 }
#define R(step, n) { "reader-kill " step " #" #n, reader_kill_case, 30 }

static const zbt_case cases[] = {
  W ("commit-header", 1), W ("commit-header", 9), W ("commit-header", 31),
  W ("commit-free", 1), W ("commit-free", 9), W ("commit-free", 31),
  W ("commit-pos", 1), W ("commit-pos", 9), W ("commit-pos", 31),
  W ("commit-count", 1), W ("commit-count", 9), W ("commit-count", 31),
  W ("commit-post", 1), W ("commit-post", 9), W ("commit-post", 31),
  W ("wrap-marker", 1), W ("wrap-marker", 3),
  W ("wrap-free", 1), W ("wrap-free", 3),
  W ("wrap-pos", 1), W ("wrap-pos", 3),
  W ("wrap-count", 1), W ("wrap-count", 3),
  R ("take-holds", 1), R ("take-holds", 13),
  R ("take-pos", 1), R ("take-pos", 13),
  R ("take-count", 1), R ("take-count", 13),
  R ("release-credit", 1), R ("release-credit", 13),
  R ("release-post", 1), R ("release-post", 13),
};

int
main (int argc, char **argv)
{
  return zbt_main (cases, sizeof cases / sizeof cases[0], argc, argv);
}
