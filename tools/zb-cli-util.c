/* zerobuffer command-line tool - errors, argument parsing, JSON, signals,
 * time */

#include "zb-cli.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

volatile sig_atomic_t zb_cli_stop = 0;

static void
on_signal (int sig)
{
  zb_cli_stop = sig;
}

void
zb_cli_catch_signals (void)
{
  struct sigaction sa;

  memset (&sa, 0, sizeof (sa));
  sa.sa_handler = on_signal;
  sigemptyset (&sa.sa_mask);
  /* no SA_RESTART: blocking calls return early and the loops look at the
   * flag */
  sigaction (SIGINT, &sa, NULL);
  sigaction (SIGTERM, &sa, NULL);
  sigaction (SIGHUP, &sa, NULL);
  signal (SIGPIPE, SIG_IGN);
}

void
zb_cli_error_va (const char *cmd, const char *format, va_list args)
{
  fflush (stdout);
  if (cmd)
    fprintf (stderr, "zerobuffer %s: ", cmd);
  else
    fprintf (stderr, "zerobuffer: ");
  vfprintf (stderr, format, args);
  fputc ('\n', stderr);
}

void
zb_cli_error (const char *cmd, const char *format, ...)
{
  va_list args;

  va_start (args, format);
  zb_cli_error_va (cmd, format, args);
  va_end (args);
}

int
zb_cli_bad_option (const char *cmd, char **argv, int exit_code)
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
  return exit_code;
}

const char *
zb_cli_one_name (const char *cmd, int argc, char **argv)
{
  if (optind >= argc) {
    zb_cli_error (cmd, "missing buffer name (try 'zerobuffer %s --help')", cmd);
    return NULL;
  }
  if (optind + 1 < argc) {
    zb_cli_error (cmd, "unexpected argument '%s'", argv[optind + 1]);
    return NULL;
  }
  return argv[optind];
}

int
zb_cli_check_name (const char *cmd, const char *name)
{
  int ret = zb_name_check (name);

  if (ret < 0) {
    zb_cli_error (cmd, "invalid buffer name '%s': %s", name, zb_strerror (ret));
    return -1;
  }
  return 0;
}

int
zb_cli_opt_count (const char *cmd, const char *opt, const char *arg,
    long long min, long long *out)
{
  if (zb_cli_parse_int (arg, min, INT64_MAX, out) < 0) {
    zb_cli_error (cmd, "invalid value '%s' for %s (expected an integer >= "
        "%lld)", arg, opt, min);
    return -1;
  }
  return 0;
}

int
zb_cli_parse_int (const char *s, long long min, long long max, long long *out)
{
  char *end;
  long long v;

  if (s == NULL || *s == '\0' || isspace ((unsigned char) *s))
    return -1;
  errno = 0;
  v = strtoll (s, &end, 10);
  if (errno != 0 || *end != '\0' || v < min || v > max)
    return -1;
  *out = v;
  return 0;
}

int
zb_cli_parse_size (const char *s, uint64_t min, uint64_t max, uint64_t * out)
{
  static const struct
  {
    const char *suffix;
    unsigned int shift;
  } suffixes[] = {
    {"", 0}, {"B", 0},
    {"K", 10}, {"KB", 10}, {"KiB", 10}, {"k", 10}, {"kB", 10},
    {"M", 20}, {"MB", 20}, {"MiB", 20},
    {"G", 30}, {"GB", 30}, {"GiB", 30},
  };
  char *end;
  unsigned long long v;
  size_t i;

  if (s == NULL || !isdigit ((unsigned char) *s))
    return -1;
  errno = 0;
  v = strtoull (s, &end, 10);
  if (errno != 0)
    return -1;
  for (i = 0; i < sizeof (suffixes) / sizeof (suffixes[0]); i++) {
    if (strcmp (end, suffixes[i].suffix) == 0) {
      if (suffixes[i].shift && v > (UINT64_MAX >> suffixes[i].shift))
        return -1;
      v <<= suffixes[i].shift;
      if (v < min || v > max)
        return -1;
      *out = v;
      return 0;
    }
  }
  return -1;
}

int
zb_cli_parse_seconds (const char *s, double *out)
{
  char *end;
  double v;

  if (s == NULL || *s == '\0' || isspace ((unsigned char) *s))
    return -1;
  errno = 0;
  v = strtod (s, &end);
  if (errno != 0 || *end != '\0' || !isfinite (v) || v <= 0 || v > 86400)
    return -1;
  *out = v;
  return 0;
}

int64_t
zb_cli_now_us (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void
zb_cli_sleep_ms (double ms)
{
  struct timespec ts;

  if (ms <= 0)
    return;
  ts.tv_sec = (time_t) (ms / 1000);
  ts.tv_nsec = (long) ((ms - (double) ts.tv_sec * 1000) * 1e6);
  if (ts.tv_nsec >= 1000000000)
    ts.tv_nsec = 999999999;
  /* a signal ends the sleep early; the caller looks at zb_cli_stop */
  nanosleep (&ts, NULL);
}

/* ------------------------------------------------------------------ */
/* JSON */

void
zb_json_init (zb_json * j, FILE * out, int pretty)
{
  memset (j, 0, sizeof (*j));
  j->out = out;
  j->pretty = pretty;
  j->first[0] = 1;
}

static void
json_escaped (FILE * out, const char *s, size_t len)
{
  const unsigned char *p = (const unsigned char *) s;
  size_t i = 0;

  fputc ('"', out);
  while (i < len) {
    unsigned char c = p[i];
    size_t n = 0, k;

    if (c == '"' || c == '\\') {
      fputc ('\\', out);
      fputc (c, out);
      i++;
      continue;
    }
    if (c < 0x20 || c == 0x7f) {
      switch (c) {
        case '\n':
          fputs ("\\n", out);
          break;
        case '\t':
          fputs ("\\t", out);
          break;
        case '\r':
          fputs ("\\r", out);
          break;
        default:
          fprintf (out, "\\u%04x", c);
          break;
      }
      i++;
      continue;
    }
    if (c < 0x80) {
      fputc (c, out);
      i++;
      continue;
    }
    /* pass valid UTF-8 through, replace anything else with U+FFFD */
    if (c >= 0xc2 && c <= 0xdf)
      n = 1;
    else if (c >= 0xe0 && c <= 0xef)
      n = 2;
    else if (c >= 0xf0 && c <= 0xf4)
      n = 3;
    if (n == 0 || i + n >= len) {
      fputs ("\\ufffd", out);
      i++;
      continue;
    }
    for (k = 1; k <= n; k++) {
      if ((p[i + k] & 0xc0) != 0x80)
        break;
    }
    /* no overlong forms, surrogates or code points past U+10FFFF */
    if (k <= n || (c == 0xe0 && p[i + 1] < 0xa0)
        || (c == 0xed && p[i + 1] >= 0xa0)
        || (c == 0xf0 && p[i + 1] < 0x90)
        || (c == 0xf4 && p[i + 1] >= 0x90)) {
      fputs ("\\ufffd", out);
      i++;
      continue;
    }
    fwrite (p + i, 1, n + 1, out);
    i += n + 1;
  }
  fputc ('"', out);
}

static void
json_item (zb_json * j, const char *key)
{
  int d;

  if (!j->first[j->depth])
    fputc (',', j->out);
  j->first[j->depth] = 0;
  if (j->pretty && j->depth > 0) {
    fputc ('\n', j->out);
    for (d = 0; d < j->depth; d++)
      fputs ("  ", j->out);
  }
  if (key) {
    json_escaped (j->out, key, strlen (key));
    fputs (j->pretty ? ": " : ":", j->out);
  }
}

static void
json_open (zb_json * j, const char *key, char c)
{
  json_item (j, key);
  fputc (c, j->out);
  if (j->depth < 31)
    j->depth++;
  j->first[j->depth] = 1;
}

static void
json_close (zb_json * j, char c)
{
  int empty = j->first[j->depth];
  int d;

  if (j->depth > 0)
    j->depth--;
  if (j->pretty && !empty) {
    fputc ('\n', j->out);
    for (d = 0; d < j->depth; d++)
      fputs ("  ", j->out);
  }
  fputc (c, j->out);
}

void
zb_json_begin_object (zb_json * j, const char *key)
{
  json_open (j, key, '{');
}

void
zb_json_end_object (zb_json * j)
{
  json_close (j, '}');
}

void
zb_json_begin_array (zb_json * j, const char *key)
{
  json_open (j, key, '[');
}

void
zb_json_end_array (zb_json * j)
{
  json_close (j, ']');
}

void
zb_json_string_len (zb_json * j, const char *key, const char *value, size_t len)
{
  json_item (j, key);
  json_escaped (j->out, value, len);
}

void
zb_json_string (zb_json * j, const char *key, const char *value)
{
  if (value == NULL) {
    zb_json_null (j, key);
    return;
  }
  zb_json_string_len (j, key, value, strlen (value));
}

void
zb_json_uint (zb_json * j, const char *key, uint64_t value)
{
  json_item (j, key);
  fprintf (j->out, "%llu", (unsigned long long) value);
}

void
zb_json_int (zb_json * j, const char *key, int64_t value)
{
  json_item (j, key);
  fprintf (j->out, "%lld", (long long) value);
}

void
zb_json_double (zb_json * j, const char *key, double value)
{
  json_item (j, key);
  if (!isfinite (value))
    value = 0;
  fprintf (j->out, "%.6f", value);
}

void
zb_json_bool (zb_json * j, const char *key, int value)
{
  json_item (j, key);
  fputs (value ? "true" : "false", j->out);
}

void
zb_json_null (zb_json * j, const char *key)
{
  json_item (j, key);
  fputs ("null", j->out);
}

void
zb_json_finish (zb_json * j)
{
  fputc ('\n', j->out);
  fflush (j->out);
}

void
zb_cli_printable (char *out, size_t out_size, const void *data, size_t len)
{
  const unsigned char *p = data;
  size_t i;

  if (out_size == 0)
    return;
  for (i = 0; i < len && i + 1 < out_size; i++)
    out[i] = (p[i] >= 0x20 && p[i] < 0x7f) ? (char) p[i] : '.';
  out[i] = '\0';
}
