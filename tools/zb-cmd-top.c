/* zerobuffer command-line tool - top: a live view of every buffer
 *
 * Read-only like inspect and list. This file sorts, filters and draws the
 * rows (text, JSON, a terminal with keys); zb-top-sample.c finds the
 * buffers and computes their rates.
 */

#include "zb-top.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

static const char *const sort_names[N_SORT] = {
  "name", "state", "fps", "mibps", "fill", "queued", "held", "drops"
};

static const char *const drops_state_names[] = {
  "none", "published", "writer gone", "refused"
};

static void
top_usage (FILE * out)
{
  fputs ("Usage: zerobuffer top [options]\n"
      "\n"
      "A live view of every ZeroBuffer buffer on the machine, refreshed "
      "every second:\nstate, reader and writer pids (dead ones marked), "
      "frames/s, MiB/s, ring fill,\nframes queued, bytes held by the "
      "reader, frames the writer dropped, and the type\nand caps of the "
      "writer's metadata. "
      "Read-only: it never changes a buffer.\n"
      "\n"
      "Options:\n"
      "  -d, --delay SECONDS    refresh interval (default 1)\n"
      "  -n, --iterations N     stop after N refreshes\n"
      "      --once             one refresh (rates over one interval), "
      "then exit\n"
      "  -b, --batch            plain text, no screen control or keys "
      "(default when\n"
      "                         stdin or stdout is not a terminal)\n"
      "      --json             print JSON instead (one document per "
      "refresh, one line\n"
      "                         each with -n; --once when no -n is "
      "given)\n"
      "  -s, --sort KEY         name, state, fps, mibps, fill, queued, "
      "held or drops\n"
      "                         (numbers largest first)\n"
      "  -r, --reverse          reverse the order\n"
      "  -f, --filter TEXT      only buffers whose name contains TEXT\n"
      "  -a, --active           only active buffers (not stale or "
      "orphaned)\n"
      "  -h, --help             show this help\n"
      "\n"
      "Keys: q quit (or Ctrl-C), n s f m u Q H d sort by name, state, fps, "
      "MiB/s, fill,\nqueued, held, drops; r reverse; / filter (Enter "
      "applies, Esc cancels); a active\nonly; space refresh now.\n"
      "\n"
      "A rate is '-' until a buffer has been seen for one whole interval. "
      "A pid shown\nas PID(dead) belongs to a process that is gone. DROPS is "
      "what the writer\npublishes beside the buffer (our writers do, for "
      "the current connection); '-'\nfor a writer that publishes nothing, "
      "such as the reference implementations.\n"
      "Exit status: 0 success, 1 " ZB_CLI_SHM_DIR " unreadable, 2 invalid "
      "arguments.\n", out);
}

/* ------------------------------------------------------------------ */
/* Derived values */

static uint64_t
row_used (const Row * r)
{
  return r->st.payload_free_bytes <= r->st.payload_size ?
      r->st.payload_size - r->st.payload_free_bytes : 0;
}

static uint64_t
row_queued (const Row * r)
{
  return r->st.written_count >= r->st.read_count ?
      r->st.written_count - r->st.read_count : 0;
}

/* Read by the reader and not yet released: used bytes that are not
 * between read_pos and write_pos. */
static uint64_t
row_held (const Row * r)
{
  uint64_t p = r->st.payload_size, unread = 0, used = row_used (r);

  if (p == 0)
    return 0;
  if (r->st.written_count != r->st.read_count && r->st.write_pos <= p
      && r->st.read_pos <= p) {
    unread = (r->st.write_pos + p - r->st.read_pos) % p;
    if (unread == 0)
      unread = p;
  }
  return used > unread ? used - unread : 0;
}

static State
row_state (const Row * r)
{
  return zb_admin_state (&r->e);
}

static double
row_fill (const Row * r)
{
  return r->have_status ? zb_admin_utilisation (r->st.payload_size,
      r->st.payload_free_bytes) : -1;
}

static int
row_visible (const Top * t, const Row * r)
{
  if (t->active_only && row_state (r) != STATE_ACTIVE)
    return 0;
  return t->filter[0] == '\0' || strstr (r->name, t->filter) != NULL;
}

static const Top *sort_top;

static int
cmp_double (double a, double b)
{
  return a < b ? -1 : a > b ? 1 : 0;
}

static int
row_cmp (const void *pa, const void *pb)
{
  const Row *a = pa, *b = pb;
  int c = 0;

  switch (sort_top->sort) {
    case SORT_NAME:
      break;
    case SORT_STATE:
      c = (int) row_state (a) - (int) row_state (b);
      break;
    case SORT_FPS:
      c = -cmp_double (a->rates_known ? a->fps : -1,
          b->rates_known ? b->fps : -1);
      break;
    case SORT_MIBPS:
      c = -cmp_double (a->rates_known ? a->mibps : -1,
          b->rates_known ? b->mibps : -1);
      break;
    case SORT_FILL:
      c = -cmp_double (row_fill (a), row_fill (b));
      break;
    case SORT_QUEUED:
      c = -cmp_double ((double) row_queued (a), (double) row_queued (b));
      break;
    case SORT_HELD:
      c = -cmp_double ((double) row_held (a), (double) row_held (b));
      break;
    case SORT_DROPS:
      c = -cmp_double (a->drops_state == DROPS_PUBLISHED ? (double) a->drops
          : -1, b->drops_state == DROPS_PUBLISHED ? (double) b->drops : -1);
      break;
    default:
      break;
  }
  if (c == 0)
    c = strcmp (a->name, b->name);
  return sort_top->reverse ? -c : c;
}

static void
top_sort (Top * t)
{
  sort_top = t;
  if (t->n > 1)
    qsort (t->rows, t->n, sizeof (Row), row_cmp);
}

/* ------------------------------------------------------------------ */
/* Output */

static void
print_json (const Top * t, int pretty)
{
  zb_json j;
  struct timespec now;
  size_t i, shown = 0;

  for (i = 0; i < t->n; i++)
    shown += row_visible (t, &t->rows[i]);
  clock_gettime (CLOCK_REALTIME, &now);
  zb_json_init (&j, stdout, pretty);
  zb_json_begin_object (&j, NULL);
  zb_json_double (&j, "timestamp", now.tv_sec + now.tv_nsec / 1e9);
  zb_json_double (&j, "interval_seconds", t->interval);
  zb_json_string (&j, "sort", sort_names[t->sort]);
  zb_json_uint (&j, "count", shown);
  zb_json_begin_array (&j, "buffers");
  for (i = 0; i < t->n; i++) {
    const Row *r = &t->rows[i];

    if (!row_visible (t, r))
      continue;
    zb_json_begin_object (&j, NULL);
    zb_json_string (&j, "name", r->name);
    zb_json_string (&j, "state", zb_admin_state_names[row_state (r)]);
    zb_json_bool (&j, "lock_held", r->e.lock_held);
    if (r->have_status) {
      double u = row_fill (r);

      zb_json_uint (&j, "reader_pid", r->st.reader_pid);
      zb_json_bool (&j, "reader_alive", r->st.reader_alive);
      zb_json_uint (&j, "writer_pid", r->st.writer_pid);
      zb_json_bool (&j, "writer_alive", r->st.writer_alive);
      if (r->rates_known) {
        zb_json_double (&j, "frames_per_second", r->fps);
        zb_json_double (&j, "mib_per_second", r->mibps);
      } else {
        zb_json_null (&j, "frames_per_second");
        zb_json_null (&j, "mib_per_second");
      }
      zb_json_uint (&j, "payload_size", r->st.payload_size);
      zb_json_uint (&j, "payload_used_bytes", row_used (r));
      zb_json_double (&j, "utilisation_percent", u * 100);
      zb_json_string (&j, "health", zb_admin_health (u));
      zb_json_uint (&j, "written_count", r->st.written_count);
      zb_json_uint (&j, "read_count", r->st.read_count);
      zb_json_uint (&j, "queued_frames", row_queued (r));
      zb_json_uint (&j, "held_bytes", row_held (r));
      if (r->drops_state == DROPS_PUBLISHED)
        zb_json_uint (&j, "drops", r->drops);
      else
        zb_json_null (&j, "drops");
      zb_json_string (&j, "drops_source", drops_state_names[r->drops_state]);
      zb_json_uint (&j, "metadata_length", r->meta_len);
      if (r->type[0])
        zb_json_string (&j, "metadata_type", r->type);
      else
        zb_json_null (&j, "metadata_type");
      if (r->caps[0])
        zb_json_string (&j, "metadata_caps", r->caps);
      else
        zb_json_null (&j, "metadata_caps");
    } else {
      static const char *const nulls[] = {
        "reader_pid", "reader_alive", "writer_pid", "writer_alive",
        "frames_per_second", "mib_per_second", "payload_size",
        "payload_used_bytes", "utilisation_percent", "health",
        "written_count", "read_count", "queued_frames", "held_bytes",
        "drops", "drops_source", "metadata_length", "metadata_type",
        "metadata_caps"
      };
      size_t k;

      for (k = 0; k < sizeof (nulls) / sizeof (nulls[0]); k++)
        zb_json_null (&j, nulls[k]);
    }
    zb_json_end_object (&j);
  }
  zb_json_end_array (&j);
  zb_json_end_object (&j);
  zb_json_finish (&j);
}

static void
fmt_pid (char *out, size_t size, uint64_t pid, int alive)
{
  if (pid == 0)
    snprintf (out, size, "-");
  else
    snprintf (out, size, "%" PRIu64 "%s", pid, alive ? "" : "(dead)");
}

static void
fmt_bytes (char *out, size_t size, uint64_t b)
{
  if (b < 10 * 1024)
    snprintf (out, size, "%" PRIu64, b);
  else if (b < 10 * 1024 * 1024)
    snprintf (out, size, "%.0fK", b / 1024.0);
  else if (b < 10ull * 1024 * 1024 * 1024)
    snprintf (out, size, "%.0fM", b / (1024.0 * 1024.0));
  else
    snprintf (out, size, "%.0fG", b / (1024.0 * 1024.0 * 1024.0));
}

/* One line of at most @width columns (0: no limit), ending in a newline;
 * with @clear, the rest of the terminal line erased. */
static void
put_line (const char *s, int width, int clear)
{
  if (width > 0)
    printf ("%.*s", width, s);
  else
    fputs (s, stdout);
  fputs (clear ? "\033[K\n" : "\n", stdout);
}

static void
print_table (const Top * t, int tty, int width, const char *prompt)
{
  char line[2048], rd[40], wr[40], fps[24], mib[24], fill[16], queued[24],
      held[16], drops[24];
  size_t i, counts[4] = { 0, 0, 0, 0 }, shown = 0;
  time_t now = time (NULL);
  struct tm tm;

  for (i = 0; i < t->n; i++) {
    counts[row_state (&t->rows[i])]++;
    shown += row_visible (t, &t->rows[i]);
  }
  localtime_r (&now, &tm);
  if (tty)
    fputs ("\033[H", stdout);
  snprintf (line, sizeof (line), "zerobuffer top - %02d:%02d:%02d  "
      "%zu buffers: %zu active, %zu stale, %zu orphaned  every %.1f s  "
      "sort %s%s%s%s%s%s", tm.tm_hour, tm.tm_min, tm.tm_sec, t->n,
      counts[STATE_ACTIVE], counts[STATE_STALE], counts[STATE_ORPHANED],
      t->interval, sort_names[t->sort], t->reverse ? " (reversed)" : "",
      t->filter[0] ? "  filter '" : "", t->filter,
      t->filter[0] ? "'" : "", t->active_only ? "  active only" : "");
  put_line (line, width, tty);
  put_line ("", width, tty);
  snprintf (line, sizeof (line), "%-24s %-8s %-12s %-12s %9s %8s %6s %7s "
      "%7s %7s %-16s %s", "NAME", "STATE", "READER", "WRITER", "FRAMES/S",
      "MIB/S", "FILL%", "QUEUED", "HELD", "DROPS", "TYPE", "CAPS");
  put_line (line, width, tty);
  for (i = 0; i < t->n; i++) {
    const Row *r = &t->rows[i];

    if (!row_visible (t, r))
      continue;
    if (r->have_status) {
      fmt_pid (rd, sizeof (rd), r->st.reader_pid, r->st.reader_alive);
      fmt_pid (wr, sizeof (wr), r->st.writer_pid, r->st.writer_alive);
      if (r->rates_known) {
        snprintf (fps, sizeof (fps), "%.1f", r->fps);
        snprintf (mib, sizeof (mib), "%.2f", r->mibps);
      } else {
        snprintf (fps, sizeof (fps), "-");
        snprintf (mib, sizeof (mib), "-");
      }
      snprintf (fill, sizeof (fill), "%.1f", row_fill (r) * 100);
      snprintf (queued, sizeof (queued), "%" PRIu64, row_queued (r));
      fmt_bytes (held, sizeof (held), row_held (r));
      if (r->drops_state == DROPS_PUBLISHED)
        snprintf (drops, sizeof (drops), "%" PRIu64, r->drops);
      else
        snprintf (drops, sizeof (drops), "-");
    } else {
      snprintf (rd, sizeof (rd), "-");
      snprintf (wr, sizeof (wr), "-");
      snprintf (fps, sizeof (fps), "-");
      snprintf (mib, sizeof (mib), "-");
      snprintf (fill, sizeof (fill), "-");
      snprintf (queued, sizeof (queued), "-");
      snprintf (held, sizeof (held), "-");
      snprintf (drops, sizeof (drops), "-");
    }
    snprintf (line, sizeof (line), "%-24s %-8s %-12s %-12s %9s %8s %6s %7s "
        "%7s %7s %-16s %s", r->name, zb_admin_state_names[row_state (r)], rd,
        wr, fps, mib, fill, queued, held, drops, r->type[0] ? r->type : "-",
        r->caps[0] ? r->caps : "-");
    put_line (line, width, tty);
  }
  if (shown == 0)
    put_line (t->n ? "(no buffer matches)" : "(no ZeroBuffer objects)",
        width, tty);
  if (tty) {
    put_line ("", width, tty);
    put_line (prompt ? prompt : "q quit  n/s/f/m/u/Q/H/d sort by name/state/"
        "fps/MiB/s/fill/queued/held/drops  r reverse  / filter  a active only",
        width, tty);
    fputs ("\033[J", stdout);   /* erase what is below */
  } else {
    fputs ("\n", stdout);
  }
  fflush (stdout);
}

/* ------------------------------------------------------------------ */
/* The terminal */

static struct termios saved_termios;
static int termios_saved;

static void
terminal_restore (void)
{
  if (termios_saved) {
    tcsetattr (STDIN_FILENO, TCSAFLUSH, &saved_termios);
    termios_saved = 0;
  }
}

/* Keys one at a time, no echo; Ctrl-C still a signal. */
static void
terminal_raw (void)
{
  struct termios raw;

  if (tcgetattr (STDIN_FILENO, &saved_termios) < 0)
    return;
  termios_saved = 1;
  raw = saved_termios;
  raw.c_lflag &= ~(ICANON | ECHO);
  raw.c_cc[VMIN] = 0;
  raw.c_cc[VTIME] = 0;
  tcsetattr (STDIN_FILENO, TCSAFLUSH, &raw);
}

static int
terminal_width (void)
{
  struct winsize ws;

  if (ioctl (STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
    return ws.ws_col;
  return 80;
}

enum
{
  KEY_NONE,
  KEY_QUIT,
  KEY_REDRAW,
  KEY_REFRESH
};

/* Handle the key @c: sort, filter, quit. */
static int
top_key (Top * t, int c, int *editing, char *edit, size_t *edit_len)
{
  if (*editing) {
    if (c == '\n' || c == '\r') {
      memcpy (t->filter, edit, *edit_len);
      t->filter[*edit_len] = '\0';
      *editing = 0;
    } else if (c == 27) {
      *editing = 0;
    } else if ((c == 127 || c == 8) && *edit_len > 0) {
      (*edit_len)--;
    } else if (c >= 0x20 && c < 0x7f && *edit_len + 1 < TEXT_MAX) {
      edit[(*edit_len)++] = (char) c;
    }
    edit[*edit_len] = '\0';
    return KEY_REDRAW;
  }
  switch (c) {
    case 'q':
      return KEY_QUIT;
    case 'n':
      t->sort = SORT_NAME;
      break;
    case 's':
      t->sort = SORT_STATE;
      break;
    case 'f':
      t->sort = SORT_FPS;
      break;
    case 'm':
      t->sort = SORT_MIBPS;
      break;
    case 'u':
      t->sort = SORT_FILL;
      break;
    case 'Q':
      t->sort = SORT_QUEUED;
      break;
    case 'H':
      t->sort = SORT_HELD;
      break;
    case 'd':
      t->sort = SORT_DROPS;
      break;
    case 'r':
      t->reverse = !t->reverse;
      break;
    case 'a':
      t->active_only = !t->active_only;
      break;
    case '/':
      *editing = 1;
      *edit_len = strlen (t->filter);
      memcpy (edit, t->filter, *edit_len + 1);
      break;
    case ' ':
      return KEY_REFRESH;
    default:
      return KEY_NONE;
  }
  return KEY_REDRAW;
}

/* ------------------------------------------------------------------ */

static int
parse_sort (const char *s, SortKey * out)
{
  int i;

  for (i = 0; i < N_SORT; i++) {
    if (strcmp (s, sort_names[i]) == 0) {
      *out = (SortKey) i;
      return 0;
    }
  }
  return -1;
}

int
zb_cmd_top (int argc, char **argv)
{
  static const struct option longopts[] = {
    {"delay", required_argument, NULL, 'd'},
    {"iterations", required_argument, NULL, 'n'},
    {"once", no_argument, NULL, 'o'},
    {"batch", no_argument, NULL, 'b'},
    {"json", no_argument, NULL, 'j'},
    {"sort", required_argument, NULL, 's'},
    {"reverse", no_argument, NULL, 'r'},
    {"filter", required_argument, NULL, 'f'},
    {"active", no_argument, NULL, 'a'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0}
  };
  const char *cmd = "top";
  Top t;
  long long iterations = 0;
  int json = 0, batch = 0, once = 0, tty, c, status = 0, done = 0;
  int editing = 0, width = 0;
  long long n = 0;
  char edit[TEXT_MAX], prompt[TEXT_MAX + 32];
  size_t edit_len = 0, i;
  uint8_t *meta;

  memset (&t, 0, sizeof (t));
  t.interval = 1.0;
  edit[0] = '\0';
  opterr = 0;
  while ((c = getopt_long (argc, argv, "d:n:bs:rf:ah", longopts, NULL)) != -1) {
    switch (c) {
      case 'd':
        if (zb_cli_parse_seconds (optarg, &t.interval) < 0) {
          zb_cli_error (cmd, "invalid value '%s' for --delay (expected "
              "seconds > 0)", optarg);
          return EXIT_USAGE;
        }
        break;
      case 'n':
        if (zb_cli_opt_count (cmd, "--iterations", optarg, 1, &iterations) < 0)
          return EXIT_USAGE;
        break;
      case 'o':
        once = 1;
        break;
      case 'b':
        batch = 1;
        break;
      case 'j':
        json = 1;
        break;
      case 's':
        if (parse_sort (optarg, &t.sort) < 0) {
          zb_cli_error (cmd, "invalid value '%s' for --sort (expected name, "
              "state, fps, mibps, fill, queued or held)", optarg);
          return EXIT_USAGE;
        }
        break;
      case 'r':
        t.reverse = 1;
        break;
      case 'f':
        snprintf (t.filter, sizeof (t.filter), "%s", optarg);
        break;
      case 'a':
        t.active_only = 1;
        break;
      case 'h':
        top_usage (stdout);
        return 0;
      default:
        return zb_cli_bad_option (cmd, argv, EXIT_USAGE);
    }
  }
  if (optind < argc) {
    zb_cli_error (cmd, "unexpected argument '%s'", argv[optind]);
    return EXIT_USAGE;
  }
  if (once) {
    if (iterations > 1) {
      zb_cli_error (cmd, "--once and --iterations %lld contradict", iterations);
      return EXIT_USAGE;
    }
    iterations = 1;
  }
  if (json && iterations == 0)
    iterations = 1;
  tty = !json && !batch && !once && isatty (STDIN_FILENO)
      && isatty (STDOUT_FILENO);

  meta = malloc (META_CAP);
  if (meta == NULL) {
    zb_cli_error (cmd, "out of memory");
    return EXIT_FAIL;
  }
  zb_cli_catch_signals ();
  if (tty) {
    terminal_raw ();
    fputs ("\033[H\033[2J", stdout);
  }

  /* the baseline: every buffer seen once, no rates yet */
  t.period_start_us = zb_cli_now_us ();
  if (top_refresh (&t, meta) < 0) {
    status = EXIT_FAIL;
    goto out;
  }
  if (tty) {
    width = terminal_width ();
    top_sort (&t);
    print_table (&t, 1, width, NULL);
  }

  while (!done && !zb_cli_stop) {
    int64_t end = t.period_start_us + (int64_t) (t.interval * 1e6);
    int refresh_now = 0;

    /* sample until the end of the period, reading keys meanwhile */
    for (;;) {
      int64_t left = end - zb_cli_now_us ();
      int wait_ms = left <= 0 ? 0 : left / 1000 < SAMPLE_MS ?
          (int) (left / 1000) : SAMPLE_MS;

      if (left <= 0 || zb_cli_stop || refresh_now)
        break;
      if (tty) {
        struct pollfd pfd = { STDIN_FILENO, POLLIN, 0 };

        if (poll (&pfd, 1, wait_ms) > 0) {
          char ch;

          if (read (STDIN_FILENO, &ch, 1) == 1) {
            int k = top_key (&t, (unsigned char) ch, &editing, edit,
                &edit_len);

            if (k == KEY_QUIT) {
              done = 1;
              break;
            }
            if (k == KEY_REFRESH)
              refresh_now = 1;
            if (k == KEY_REDRAW) {
              snprintf (prompt, sizeof (prompt), "filter (Enter, Esc): %s",
                  edit);
              top_sort (&t);
              print_table (&t, 1, width, editing ? prompt : NULL);
            }
            continue;
          }
        }
      } else {
        zb_cli_sleep_ms (wait_ms);
      }
      top_sample (&t);
    }
    if (done || zb_cli_stop)
      break;
    if (top_refresh (&t, meta) < 0) {
      status = EXIT_FAIL;
      break;
    }
    top_sort (&t);
    if (json) {
      print_json (&t, iterations == 1);
    } else if (tty) {
      width = terminal_width ();
      snprintf (prompt, sizeof (prompt), "filter (Enter, Esc): %s", edit);
      print_table (&t, 1, width, editing ? prompt : NULL);
    } else {
      print_table (&t, 0, 0, NULL);
    }
    if (iterations && ++n >= iterations)
      break;
  }

out:
  if (tty) {
    terminal_restore ();
    fputs ("\n", stdout);
    fflush (stdout);
  }
  for (i = 0; i < t.n; i++)
    free (t.rows[i].name);
  free (t.rows);
  free (meta);
  return status;
}
