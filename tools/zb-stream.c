/* zerobuffer command-line tool - test patterns, error list, options and
 * the read and connect loops of reader, writer and relay */

#include "zb-stream.h"

#include <errno.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define READ_SLICE_MS 100
#define MAX_FRAME_SIZE ((uint64_t) 1 << 40)

const char *const zb_pattern_names[] = {
  "none", "sequential", "random", "zero", "ones"
};

int
zb_pattern_parse (const char *s, int allow_none, Pattern * out)
{
  int i;

  for (i = allow_none ? 0 : 1; i <= PATTERN_ONES; i++) {
    if (strcmp (s, zb_pattern_names[i]) == 0) {
      *out = (Pattern) i;
      return 0;
    }
  }
  return -1;
}

/* Byte i of 0-based frame k is (k + i) % 256: a table of size + 256 bytes
 * holds every frame at offset k % 256. */
uint8_t *
zb_pattern_table (size_t size)
{
  uint8_t *t = malloc (size + 256);
  size_t i;

  if (t == NULL)
    return NULL;
  for (i = 0; i < size + 256; i++)
    t[i] = (uint8_t) (i & 0xff);
  return t;
}

/* "random": glibc srand (k) / rand () % 256 for frame k, as the reference
 * C++ writer does on Linux. */
void
zb_pattern_fill (uint8_t * dst, size_t size, uint64_t k, Pattern pattern,
    const uint8_t * seq)
{
  size_t i;

  switch (pattern) {
    case PATTERN_SEQUENTIAL:
      memcpy (dst, seq + (k & 0xff), size);
      break;
    case PATTERN_RANDOM:
      srand ((unsigned int) k);
      for (i = 0; i < size; i++)
        dst[i] = (uint8_t) (rand () % 256);
      break;
    case PATTERN_ZERO:
      memset (dst, 0, size);
      break;
    case PATTERN_ONES:
      memset (dst, 0xff, size);
      break;
    case PATTERN_NONE:
      break;
  }
}

int
zb_pattern_verify (const uint8_t * data, size_t size, uint64_t k,
    Pattern pattern, const uint8_t * seq)
{
  size_t i;

  switch (pattern) {
    case PATTERN_NONE:
      return 1;
    case PATTERN_SEQUENTIAL:
      if (seq)
        return memcmp (data, seq + (k & 0xff), size) == 0;
      for (i = 0; i < size; i++) {
        if (data[i] != (uint8_t) ((k + i) & 0xff))
          return 0;
      }
      return 1;
    case PATTERN_RANDOM:
      srand ((unsigned int) k);
      for (i = 0; i < size; i++) {
        if (data[i] != (uint8_t) (rand () % 256))
          return 0;
      }
      return 1;
    case PATTERN_ZERO:
    case PATTERN_ONES:
      for (i = 0; i < size; i++) {
        if (data[i] != (pattern == PATTERN_ZERO ? 0x00 : 0xff))
          return 0;
      }
      return 1;
  }
  return 0;
}

/* The reference C++ reader's checksum: h = h * 31 + byte over size_t. */
uint64_t
zb_frame_checksum (const uint8_t * data, size_t size)
{
  uint64_t h = 0;
  size_t i;

  for (i = 0; i < size; i++)
    h = h * 31 + data[i];
  return h;
}

static void errors_add_va (ErrorList * e, const char *format, va_list args)
    __attribute__((format (printf, 2, 0)));

static void
errors_add_va (ErrorList * e, const char *format, va_list args)
{
  char buf[512];

  if (e->n >= MAX_ERRORS)
    return;
  vsnprintf (buf, sizeof (buf), format, args);
  e->items[e->n] = strdup (buf);
  if (e->items[e->n])
    e->n++;
}

void
zb_errors_add (ErrorList * e, const char *format, ...)
{
  va_list args;

  va_start (args, format);
  errors_add_va (e, format, args);
  va_end (args);
}

void
zb_errors_fail (ErrorList * e, const char *cmd, const char *format, ...)
{
  va_list args;

  va_start (args, format);
  errors_add_va (e, format, args);
  va_end (args);
  va_start (args, format);
  zb_cli_error_va (cmd, format, args);
  va_end (args);
}

void
zb_errors_json (zb_json * j, const ErrorList * e)
{
  unsigned int i;

  zb_json_begin_array (j, "errors");
  for (i = 0; i < e->n; i++)
    zb_json_string (j, NULL, e->items[i]);
  zb_json_end_array (j);
}

void
zb_errors_free (ErrorList * e)
{
  unsigned int i;

  for (i = 0; i < e->n; i++)
    free (e->items[i]);
  e->n = 0;
}

double
zb_mib_per_s (uint64_t bytes, double seconds)
{
  return seconds > 0 ? (double) bytes / (1024.0 * 1024.0) / seconds : 0;
}

int
zb_stream_read (zb_reader * r, int timeout_ms, zb_frame * f)
{
  int64_t deadline = zb_cli_now_us () + (int64_t) timeout_ms * 1000;

  for (;;) {
    int slice = READ_SLICE_MS;
    int ret;

    if (timeout_ms >= 0) {
      int64_t left = (deadline - zb_cli_now_us ()) / 1000;

      if (left < slice)
        slice = left > 0 ? (int) left : 0;
    }
    ret = zb_reader_read (r, slice, f);
    if (ret != -ETIMEDOUT && ret != -EAGAIN)
      return ret;
    if (zb_cli_stop)
      return -EINTR;
    if (timeout_ms >= 0 && zb_cli_now_us () >= deadline)
      return -ETIMEDOUT;
  }
}

/* A segment whose reader is still initialising it has no valid OIEB yet,
 * and the library only waits while the buffer is missing. */
int
zb_stream_connect (const char *name, const zb_writer_config * config,
    zb_writer ** w)
{
  int64_t deadline = zb_cli_now_us () +
      (int64_t) config->connect_timeout_ms * 1000;

  for (;;) {
    zb_writer_config c = *config;
    int64_t left = (deadline - zb_cli_now_us ()) / 1000;
    int ret;

    if (config->connect_timeout_ms > 0)
      c.connect_timeout_ms = left > 0 ? (int) left : 0;
    ret = zb_writer_connect (name, &c, w);
    if (ret != -EPROTO || config->connect_timeout_ms == 0 || zb_cli_stop)
      return ret;
    if (config->connect_timeout_ms > 0 && zb_cli_now_us () >= deadline)
      return ret;
    zb_cli_sleep_ms (10);
  }
}

EndKind
zb_stream_end (int ret, uint64_t count, long long frames)
{
  if (ret != 0 && ret != -EPIPE && ret != -EOWNERDEAD && ret != -ETIMEDOUT
      && ret != -EINTR)
    return END_FAILED;
  if (count == 0 && ret == -ETIMEDOUT)
    return END_NO_FRAME;
  if (frames > 0 && count < (uint64_t) frames)
    return END_SHORT;
  return END_OK;
}

const char *
zb_stream_end_reason (int ret)
{
  switch (ret) {
    case 0:
      return "frame-count";
    case -EPIPE:
      return "writer-closed";
    case -EOWNERDEAD:
      return "writer-died";
    case -ETIMEDOUT:
      return "timeout";
    case -EINTR:
      return "interrupted";
    default:
      return "error";
  }
}

int
zb_stream_opt_common (const char *cmd, int c, char **argv,
    void (*usage) (FILE * out), int usage_exit, int *json, int *verbose)
{
  switch (c) {
    case OPT_JSON_OUTPUT:
      *json = 1;
      return -1;
    case 'v':
      *verbose = 1;
      return -1;
    case 'h':
      usage (stdout);
      return 0;
    default:
      return zb_cli_bad_option (cmd, argv, usage_exit);
  }
}

int
zb_stream_opt_buffer_size (const char *cmd, const char *opt, const char *arg,
    uint64_t min, uint64_t * out)
{
  if (zb_cli_parse_size (arg, min, (uint64_t) 1 << 40, out) < 0) {
    zb_cli_error (cmd, "invalid value '%s' for %s (expected a byte count "
        "such as 4096, 64K or 256M)", arg, opt);
    return -1;
  }
  return 0;
}

int
zb_stream_opt_frame_size (const char *cmd, const char *arg, uint64_t * out)
{
  if (zb_cli_parse_size (arg, 1, MAX_FRAME_SIZE, out) < 0) {
    zb_cli_error (cmd, "invalid value '%s' for --size (expected a byte "
        "count >= 1)", arg);
    return -1;
  }
  return 0;
}

int
zb_stream_opt_ms (const char *cmd, const char *opt, const char *arg, int *out)
{
  long long v;

  if (zb_cli_parse_int (arg, -1, INT32_MAX, &v) < 0) {
    zb_cli_error (cmd, "invalid value '%s' for %s (expected milliseconds, "
        "-1 for no limit)", arg, opt);
    return -1;
  }
  *out = (int) v;
  return 0;
}

int
zb_stream_opt_uid (const char *cmd, const char *arg, uid_t * out)
{
  struct passwd *pw;
  long long v;

  if (zb_cli_parse_int (arg, 0, UINT32_MAX - 1, &v) == 0) {
    *out = (uid_t) v;
    return 0;
  }
  pw = getpwnam (arg);
  if (pw == NULL) {
    zb_cli_error (cmd, "invalid value '%s' for --allow-uid (expected a user "
        "name or a numeric uid)", arg);
    return -1;
  }
  *out = pw->pw_uid;
  return 0;
}

int
zb_stream_opt_mode (const char *cmd, const char *arg, mode_t * out)
{
  char *end;
  long v;

  errno = 0;
  v = strtol (arg, &end, 8);
  if (*arg == '\0' || *end != '\0' || errno || v < 0 || v > 0777) {
    zb_cli_error (cmd, "invalid value '%s' for --mode (expected octal "
        "permissions such as 600 or 666)", arg);
    return -1;
  }
  *out = (mode_t) v;
  return 0;
}

/* ------------------------------------------------------------------ */
/* --fanout */

void
zb_stream_fanout_init (FanoutOpts * o)
{
  memset (o, 0, sizeof (*o));
  o->policy = ZB_FANOUT_DROP;
  o->min_readers = FANOUT_DEFAULT_MIN_READERS;
}

/* A getopt_long() result @c: 1 when it was a fan-out option (taken), 0
 * when not, -1 after an error message. */
static int
opt_fanout (const char *cmd, int c, const char *arg, FanoutOpts * o)
{
  switch (c) {
    case OPT_FANOUT:
      o->enabled = 1;
      return 1;
    case OPT_POLICY:
      o->given = 1;
      if (strcmp (arg, "drop") == 0)
        o->policy = ZB_FANOUT_DROP;
      else if (strcmp (arg, "block") == 0)
        o->policy = ZB_FANOUT_BLOCK;
      else {
        zb_cli_error (cmd, "invalid value '%s' for --policy (expected drop "
            "or block)", arg);
        return -1;
      }
      return 1;
    case OPT_MAX_READERS:
      o->given = 1;
      if (zb_cli_parse_int (arg, 1, ZB_FANOUT_MAX_READERS, &o->max_readers) < 0) {
        zb_cli_error (cmd, "invalid value '%s' for --max-readers (expected "
            "1 to %d)", arg, ZB_FANOUT_MAX_READERS);
        return -1;
      }
      return 1;
    case OPT_MIN_READERS:
      o->given = 1;
      if (zb_cli_parse_int (arg, 0, ZB_FANOUT_MAX_READERS, &o->min_readers) < 0) {
        zb_cli_error (cmd, "invalid value '%s' for --min-readers (expected "
            "0 to %d)", arg, ZB_FANOUT_MAX_READERS);
        return -1;
      }
      return 1;
    default:
      return 0;
  }
}

int
zb_stream_getopt (const char *cmd, int argc, char **argv,
    const char *shortopts, const struct option *longopts, FanoutOpts * o,
    long long *frames)
{
  int c, ret;

  opterr = 0;
  while ((c = getopt_long (argc, argv, shortopts, longopts, NULL)) != -1) {
    ret = opt_fanout (cmd, c, optarg, o);
    if (ret < 0)
      return ZB_STREAM_OPT_BAD;
    if (ret > 0)
      continue;
    if (c != 'n')
      return c;
    if (zb_cli_opt_count (cmd, "--frames", optarg, 0, frames) < 0)
      return ZB_STREAM_OPT_BAD;
  }
  return -1;
}

int
zb_stream_fanout_check (const char *cmd, const FanoutOpts * o)
{
  if (o->given && !o->enabled) {
    zb_cli_error (cmd, "--policy, --max-readers and --min-readers need "
        "--fanout");
    return -1;
  }
  if (o->enabled && o->max_readers > 0 && o->min_readers > o->max_readers) {
    zb_cli_error (cmd, "--min-readers %lld is more than --max-readers %lld",
        o->min_readers, o->max_readers);
    return -1;
  }
  return 0;
}

static void
fanout_event (const zb_fanout_event * ev, void *user_data)
{
  const char *tag = user_data;

  if (ev->joined)
    printf ("[%s] reader '%s' (pid %" PRIu64 ") joined\n", tag, ev->name,
        ev->pid);
  else
    printf ("[%s] reader '%s' (pid %" PRIu64 ") left%s%s\n", tag, ev->name,
        ev->pid, ev->reason ? ": " : "",
        ev->reason ? zb_strerror (ev->reason) : "");
  fflush (stdout);
}

int
zb_stream_fanout_open (const char *name, const FanoutOpts * o,
    int write_timeout_ms, uid_t allow_uid, int timeout_ms,
    const char *verbose_tag, zb_fanout ** f)
{
  zb_fanout_config cfg;
  int64_t deadline = zb_cli_now_us () + (int64_t) timeout_ms * 1000;
  int ret;

  memset (&cfg, 0, sizeof (cfg));
  cfg.policy = o->policy;
  cfg.write_timeout_ms = write_timeout_ms;
  cfg.max_readers = (unsigned int) o->max_readers;
  cfg.allow_uid = allow_uid;
  if (verbose_tag) {
    cfg.on_event = fanout_event;
    cfg.user_data = (void *) verbose_tag;
  }
  ret = zb_fanout_open (name, &cfg, f);
  if (ret < 0)
    return ret;
  /* In slices, so that a signal ends the wait. */
  for (;;) {
    int slice = READ_SLICE_MS;

    if (timeout_ms >= 0) {
      int64_t left = (deadline - zb_cli_now_us ()) / 1000;

      if (left < slice)
        slice = left > 0 ? (int) left : 0;
    }
    ret = zb_fanout_wait_readers (*f, (unsigned int) o->min_readers, slice);
    if (ret >= 0)
      return 0;
    if (zb_cli_stop || (timeout_ms >= 0 && zb_cli_now_us () >= deadline))
      break;
  }
  zb_fanout_close (*f);
  *f = NULL;
  return zb_cli_stop ? -EINTR : -ETIMEDOUT;
}

void
zb_stream_fanout_json (zb_json * j, zb_fanout * f)
{
  zb_fanout_reader_info *info = calloc (ZB_FANOUT_MAX_READERS,
      sizeof (*info));
  int i, n = f && info ? zb_fanout_readers (f, info,
      ZB_FANOUT_MAX_READERS) : 0;

  zb_json_begin_array (j, "readers");
  for (i = 0; i < n && i < ZB_FANOUT_MAX_READERS; i++) {
    zb_json_begin_object (j, NULL);
    zb_json_string (j, "name", info[i].name);
    zb_json_uint (j, "pid", info[i].pid);
    zb_json_uint (j, "frames", info[i].frames);
    zb_json_uint (j, "drops", info[i].drops);
    zb_json_uint (j, "bytes", info[i].bytes);
    zb_json_bool (j, "stalled", info[i].stalled);
    zb_json_end_object (j);
  }
  zb_json_end_array (j);
  free (info);
}
