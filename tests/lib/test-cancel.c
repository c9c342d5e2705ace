/* zb_writer_cancel(): an acquired frame given up is never published; the
 * next acquire may return the same bytes; a wrap the acquire took stays
 * taken; a writer killed with an acquire pending leaves the reader
 * consistent. Real readers and writers (forked), real shared memory. */

#include "zbtest.h"

/* The writer of test_cancel_same_bytes: frame 1; then an acquire filled
 * with garbage and given up, and an acquire of the same bytes committed
 * as frame 2; then one of 500 bytes given up and one of 700 committed as
 * frame 3 at the same place. Nothing is left pending at the end. */
static void
writer_same_bytes (void *arg)
{
  zb_writer *w = zbt_writer (arg, 2000);
  void *p = NULL, *q = NULL;

  ZBT_ERR (zb_writer_cancel (NULL), -EINVAL);
  ZBT_ERR (zb_writer_cancel (w), -EINVAL);      /* nothing acquired */
  ZBT_OK (zbt_write (w, 1000, 1));
  ZBT_OK (zb_writer_acquire (w, 1000, &p));
  memset (p, 0xee, 1000);
  ZBT_OK (zb_writer_cancel (w));
  ZBT_ERR (zb_writer_cancel (w), -EINVAL);      /* given up already */
  ZBT_ERR (zb_writer_commit (w), -EINVAL);      /* nothing to publish */
  ZBT_OK (zb_writer_acquire (w, 1000, &q));
  ZBT_ASSERT (q == p);
  zbt_fill (q, 1000, 2);
  ZBT_OK (zb_writer_commit (w));
  ZBT_OK (zb_writer_acquire (w, 500, &p));
  memset (p, 0xdd, 500);
  ZBT_OK (zb_writer_cancel (w));
  ZBT_OK (zb_writer_acquire (w, 700, &q));
  ZBT_ASSERT (q == p);
  zbt_fill (q, 700, 3);
  ZBT_OK (zb_writer_commit (w));
  ZBT_EQU (zb_writer_frames_written (w), 3);
  zb_writer_disconnect (w);
}

/* Cancel, then acquire: the same pointer; the reader gets frames 1, 2, 3
 * with their own bytes (no frame for the given-up acquires, no gap in the
 * sequence), then the writer's disconnect; the ring is whole again. */
static void
test_cancel_same_bytes (void)
{
  const char *name = zbt_name ();
  zb_reader *r = zbt_reader (name, 0, 10240);
  pid_t pid = zbt_fork (writer_same_bytes, (void *) name);
  zb_frame f;
  zb_status st;

  zbt_read_release (r, 5000, 1, 1000);
  zbt_read_release (r, 5000, 2, 1000);
  zbt_read_release (r, 5000, 3, 700);
  ZBT_WAIT_OK (pid, 5000);
  ZBT_ERR (zb_reader_read (r, 3000, &f), -EPIPE);
  st = zbt_status (r);
  ZBT_EQU (st.written_count, 3);
  ZBT_EQU (st.read_count, 3);
  ZBT_EQU (st.payload_free_bytes, 10240);
  zb_reader_destroy (r);
}

/* An acquire that wrapped (the frame did not fit before the end of the
 * ring), then given up: the marker stays (counted, write position 0), the
 * next acquire returns the same bytes at the ring's start, and the reader
 * steps over the marker to the frame at offset 0, in sequence. */
static void
test_cancel_after_wrap (void)
{
  const char *name = zbt_name ();
  zb_reader *r = zbt_reader (name, 0, 10240);
  zb_writer *w = zbt_writer (name, 300);
  void *p = NULL, *q = NULL;
  zb_status st;
  zb_frame f;

  ZBT_OK (zbt_write (w, 6000, 1));
  zbt_read_release (r, 0, 1, 6000);
  /* 4224 bytes to the end: 16 + 5000 goes after a wrap */
  ZBT_OK (zb_writer_acquire (w, 5000, &p));
  memset (p, 0xee, 5000);
  st = zbt_status (r);
  ZBT_EQU (st.write_pos, 0);
  ZBT_EQU (st.written_count, 2);        /* frame 1 and the marker */
  ZBT_EQU (st.payload_free_bytes, 10240 - 4224);
  ZBT_OK (zb_writer_cancel (w));
  st = zbt_status (r);
  ZBT_EQU (st.write_pos, 0);
  ZBT_EQU (st.written_count, 2);
  ZBT_EQU (st.payload_free_bytes, 10240 - 4224);
  /* nothing to read yet: the marker alone is not a frame */
  ZBT_ERR (zb_reader_read (r, 0, &f), -EAGAIN);
  ZBT_OK (zb_writer_acquire (w, 3000, &q));
  ZBT_ASSERT (q == p);
  zbt_fill (q, 3000, 2);
  ZBT_OK (zb_writer_commit (w));
  zbt_read_check (r, 1000, 2, 3000, &f);
  st = zbt_status (r);
  ZBT_EQU (st.read_pos, 3016);
  ZBT_EQU (st.read_count, 3);
  ZBT_OK (zb_reader_release (r, &f));
  st = zbt_status (r);
  ZBT_EQU (st.payload_free_bytes, 10240);
  ZBT_EQU (zb_reader_held_bytes (r), 0);
  /* and on from there */
  ZBT_OK (zbt_write (w, 4000, 3));
  zbt_read_release (r, 1000, 3, 4000);
  zb_writer_disconnect (w);
  ZBT_ERR (zb_reader_read (r, 1000, &f), -EPIPE);
  zb_reader_destroy (r);
}

/* A writer that commits frame 1 (of @size 6000: the next acquire wraps
 * when @wrap), then acquires 5000 bytes, fills them, reports 'a' and
 * waits to be killed with the acquire pending. */
typedef struct
{
  const char *name;
  int wrap;
  int fd;
  int go;
} pending_job;

static void
writer_pending (void *arg)
{
  pending_job *j = arg;
  zb_writer *w = zbt_writer (j->name, 2000);
  void *p;

  ZBT_OK (zbt_write (w, j->wrap ? 6000 : 1000, 1));
  /* the reader has read and released frame 1 */
  zbt_await (j->go, 5000);
  ZBT_OK (zb_writer_acquire (w, 5000, &p));
  memset (p, 0xee, 5000);
  zbt_signal (j->fd, 'a');
  for (;;)
    pause ();
}

/* SIGKILL with an acquire pending (plain, and one that wrapped): the
 * reader gets frame 1, then "writer dead", never the pending frame; its
 * ring is whole again, and a new writer's frames are read from there. */
static void
test_cancel_writer_killed (void)
{
  int wrap;

  for (wrap = 0; wrap < 2; wrap++) {
    const char *name = zbt_name ();
    zb_reader *r = zbt_reader (name, 0, 10240);
    pending_job j = { name, wrap, -1, -1 };
    int go[2], ready[2];
    pid_t pid;
    zb_writer *w;
    zb_status st;
    zb_frame f;
    uint64_t i;

    zbt_pipe (go);
    zbt_pipe (ready);
    j.go = go[0];
    j.fd = ready[1];
    pid = zbt_fork (writer_pending, &j);
    zbt_read_release (r, 5000, 1, wrap ? 6000 : 1000);
    zbt_signal (go[1], 'g');
    zbt_await (ready[0], 5000);
    if (wrap) {
      /* the acquire wrapped: its marker is counted */
      st = zbt_status (r);
      ZBT_EQU (st.written_count, 2);
      ZBT_EQU (st.write_pos, 0);
    }
    zbt_kill9 (pid);
    close (go[0]);
    close (go[1]);
    close (ready[0]);
    close (ready[1]);
    ZBT_ERR (zb_reader_read (r, 3000, &f), -EOWNERDEAD);
    ZBT_ERR (zb_reader_read (r, 200, &f), -ETIMEDOUT);
    st = zbt_status (r);
    ZBT_EQU (st.writer_pid, 0);
    ZBT_EQU (st.payload_free_bytes, 10240);
    ZBT_EQU (zb_reader_held_bytes (r), 0);
    w = zbt_writer (name, 1000);
    for (i = 1; i <= 8; i++) {
      ZBT_OK (zbt_write (w, 3000, i));
      zbt_read_check (r, 1000, i, 3000, &f);
      ZBT_EQ (!!(f.flags & ZB_FRAME_NEW_WRITER), i == 1);
      ZBT_OK (zb_reader_release (r, &f));
    }
    zb_writer_disconnect (w);
    ZBT_ERR (zb_reader_read (r, 1000, &f), -EPIPE);
    st = zbt_status (r);
    ZBT_EQU (st.payload_free_bytes, 10240);
    zb_reader_destroy (r);
  }
}

int
main (int argc, char **argv)
{
  static const zbt_case cases[] = {
    {"cancel: then acquire gives the same bytes, no phantom frame",
        test_cancel_same_bytes, 20},
    {"cancel: after a wrap, the marker stays, the frame is read at 0",
        test_cancel_after_wrap, 20},
    {"cancel: writer killed with an acquire pending",
        test_cancel_writer_killed, 30},
  };

  return zbt_main (cases, sizeof (cases) / sizeof (cases[0]), argc, argv);
}
