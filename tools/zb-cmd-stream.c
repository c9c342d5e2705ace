/* zerobuffer command-line tool - reader, writer and relay
 *
 * Options, defaults, patterns, JSON keys and exit codes follow the protocol
 * authors' cross-platform test applications (zerobuffer-test-reader,
 * -writer, -relay), so that scripts written for those run against this tool.
 */

#include "zb-cli.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* Exit codes of the reference test applications. */
#define WRITER_EXIT_CONNECT 1
#define WRITER_EXIT_WRITE 2
#define WRITER_EXIT_USAGE 3

#define READER_EXIT_CREATE 1
#define READER_EXIT_READ 2
#define READER_EXIT_USAGE 3
#define READER_EXIT_VERIFY 4

#define RELAY_EXIT_INPUT 1
#define RELAY_EXIT_OUTPUT 2
#define RELAY_EXIT_RELAY 3
#define RELAY_EXIT_USAGE 4

#define DEFAULT_METADATA_SIZE 4096
#define DEFAULT_PAYLOAD_SIZE (256 * 1024 * 1024)
#define DEFAULT_TIMEOUT_MS 5000
#define DEFAULT_WAIT_WRITER_MS 30000
#define DEFAULT_RELAY_CONNECT_MS 5000
#define MAX_ERRORS 100
#define MAX_CHECKSUMS 100
#define READ_SLICE_MS 100
#define MAX_FRAME_SIZE ((uint64_t) 1 << 40)
#define MAX_METADATA_FILE (64 * 1024 * 1024)

typedef enum
{
  PATTERN_NONE,
  PATTERN_SEQUENTIAL,
  PATTERN_RANDOM,
  PATTERN_ZERO,
  PATTERN_ONES
} Pattern;

static const char *const pattern_names[] = {
  "none", "sequential", "random", "zero", "ones"
};

static int
parse_pattern (const char *s, int allow_none, Pattern * out)
{
  int i;

  for (i = allow_none ? 0 : 1; i <= PATTERN_ONES; i++) {
    if (strcmp (s, pattern_names[i]) == 0) {
      *out = (Pattern) i;
      return 0;
    }
  }
  return -1;
}

/* Byte i of 0-based frame k is (k + i) % 256: a table of size + 256 bytes
 * holds every frame at offset k % 256. */
static uint8_t *
sequential_table (size_t size)
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
static void
fill_frame (uint8_t * dst, size_t size, uint64_t k, Pattern pattern,
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

static int
verify_frame (const uint8_t * data, size_t size, uint64_t k, Pattern pattern,
    const uint8_t * seq)
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
static uint64_t
frame_checksum (const uint8_t * data, size_t size)
{
  uint64_t h = 0;
  size_t i;

  for (i = 0; i < size; i++)
    h = h * 31 + data[i];
  return h;
}

/* A list of error strings for the JSON "errors" array. */
typedef struct
{
  char *items[MAX_ERRORS];
  unsigned int n;
  uint64_t total;
} ErrorList;

static void errors_add (ErrorList * e, const char *format, ...)
    __attribute__((format (printf, 2, 3)));

static void
errors_add (ErrorList * e, const char *format, ...)
{
  va_list args;
  char buf[512];

  e->total++;
  if (e->n >= MAX_ERRORS)
    return;
  va_start (args, format);
  vsnprintf (buf, sizeof (buf), format, args);
  va_end (args);
  e->items[e->n] = strdup (buf);
  if (e->items[e->n])
    e->n++;
}

static void
errors_json (zb_json * j, const ErrorList * e)
{
  unsigned int i;

  zb_json_begin_array (j, "errors");
  for (i = 0; i < e->n; i++)
    zb_json_string (j, NULL, e->items[i]);
  zb_json_end_array (j);
}

static void
errors_free (ErrorList * e)
{
  unsigned int i;

  for (i = 0; i < e->n; i++)
    free (e->items[i]);
  e->n = 0;
}

static double
mib_per_s (uint64_t bytes, double seconds)
{
  return seconds > 0 ? (double) bytes / (1024.0 * 1024.0) / seconds : 0;
}

/* zb_reader_read() in slices so that a signal ends the wait quickly.
 * @timeout_ms < 0 waits without limit. */
static int
read_frame (zb_reader * r, int timeout_ms, zb_frame * f)
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

/* zb_writer_connect(), also waiting out -EPROTO within the connect timeout:
 * a segment whose reader is still initialising it has no valid OIEB yet,
 * and the library only waits while the buffer is missing. */
static int
connect_writer (const char *name, const zb_writer_config * config,
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

static const char *
end_reason_for (int ret)
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

/* Shared size options of the buffer a reader or relay creates. */
static int
parse_buffer_size (const char *cmd, const char *opt, const char *arg,
    uint64_t min, uint64_t * out)
{
  if (zb_cli_parse_size (arg, min, (uint64_t) 1 << 40, out) < 0) {
    zb_cli_error (cmd, "invalid value '%s' for %s (expected a byte count "
        "such as 4096, 64K or 256M)", arg, opt);
    return -1;
  }
  return 0;
}

static int
parse_ms (const char *cmd, const char *opt, const char *arg, int *out)
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

/* --allow-uid: a user name or a numeric uid. */
static int
parse_uid (const char *cmd, const char *arg, uid_t * out)
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

static int
parse_count (const char *cmd, const char *opt, const char *arg, long long min,
    long long *out)
{
  if (zb_cli_parse_int (arg, min, INT64_MAX, out) < 0) {
    zb_cli_error (cmd, "invalid value '%s' for %s (expected an integer >= "
        "%lld)", arg, opt, min);
    return -1;
  }
  return 0;
}

static int
parse_mode (const char *cmd, const char *arg, mode_t * out)
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

static int
bad_option (const char *cmd, char **argv, int exit_code)
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

static int
check_name (const char *cmd, const char *name, int exit_code)
{
  int ret = zb_name_check (name);

  if (ret < 0) {
    zb_cli_error (cmd, "invalid buffer name '%s': %s", name, zb_strerror (ret));
    return exit_code;
  }
  return 0;
}

/* ------------------------------------------------------------------ */
/* writer */

enum
{
  OPT_METADATA_FILE = 256,
  OPT_PATTERN,
  OPT_DELAY_MS,
  OPT_BATCH_SIZE,
  OPT_JSON_OUTPUT,
  OPT_CONNECT_TIMEOUT,
  OPT_WRITE_TIMEOUT,
  OPT_TIMEOUT,
  OPT_VERIFY,
  OPT_CHECKSUM,
  OPT_METADATA_SIZE,
  OPT_PAYLOAD_SIZE,
  OPT_WAIT_WRITER,
  OPT_CREATE,
  OPT_VALIDATE,
  OPT_CHECK_PATTERN,
  OPT_CREATE_OUTPUT,
  OPT_TRANSFORM,
  OPT_XOR_KEY,
  OPT_LOG_INTERVAL,
  OPT_MODE,
  OPT_ALLOW_UID
};

static void
writer_usage (FILE * out)
{
  fputs ("Usage: zerobuffer writer NAME [options]\n"
      "\n"
      "Connect to buffer NAME (created by a reader) and write frames.\n"
      "\n"
      "Options:\n"
      "  -n, --frames COUNT         frames to write (default: 1000)\n"
      "  -s, --size BYTES           bytes per frame (default: 1024)\n"
      "  -m, --metadata TEXT        metadata to write before the frames\n"
      "      --metadata-file FILE   read the metadata from FILE\n"
      "      --pattern PATTERN      sequential|random|zero|ones "
      "(default: sequential)\n"
      "      --delay-ms MS          pause after each batch (default: 0)\n"
      "      --batch-size COUNT     frames per batch (default: 1)\n"
      "      --connect-timeout-ms MS  wait for the buffer to appear "
      "(default: 0)\n"
      "      --write-timeout-ms MS  wait for space per frame "
      "(default: 5000)\n"
      "      --allow-uid USER       also write to buffers of this user "
      "(name or\n"
      "                             uid; default: only our own and "
      "root's)\n"
      "      --json-output          print the result as JSON\n"
      "  -v, --verbose              progress messages\n"
      "  -h, --help                 show this help\n"
      "\n"
      "Exit status: 0 all frames written, 1 connection failed, 2 write "
      "error,\n3 invalid arguments.\n", out);
}

static int
read_metadata_file (const char *path, char **data, size_t *size)
{
  FILE *f = fopen (path, "rb");
  char *buf;
  size_t n;

  if (f == NULL)
    return -errno;
  buf = malloc (MAX_METADATA_FILE + 1);
  if (buf == NULL) {
    fclose (f);
    return -ENOMEM;
  }
  n = fread (buf, 1, MAX_METADATA_FILE + 1, f);
  if (ferror (f)) {
    fclose (f);
    free (buf);
    return -EIO;
  }
  fclose (f);
  if (n > MAX_METADATA_FILE) {
    free (buf);
    return -EFBIG;
  }
  *data = buf;
  *size = n;
  return 0;
}

int
zb_cmd_writer (int argc, char **argv)
{
  static const struct option longopts[] = {
    {"frames", required_argument, NULL, 'n'},
    {"size", required_argument, NULL, 's'},
    {"metadata", required_argument, NULL, 'm'},
    {"metadata-file", required_argument, NULL, OPT_METADATA_FILE},
    {"pattern", required_argument, NULL, OPT_PATTERN},
    {"delay-ms", required_argument, NULL, OPT_DELAY_MS},
    {"batch-size", required_argument, NULL, OPT_BATCH_SIZE},
    {"connect-timeout-ms", required_argument, NULL, OPT_CONNECT_TIMEOUT},
    {"write-timeout-ms", required_argument, NULL, OPT_WRITE_TIMEOUT},
    {"allow-uid", required_argument, NULL, OPT_ALLOW_UID},
    {"json-output", no_argument, NULL, OPT_JSON_OUTPUT},
    {"verbose", no_argument, NULL, 'v'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0}
  };
  const char *cmd = "writer";
  long long frames = 1000, batch = 1, delay_ms = 0, v;
  uint64_t frame_size = 1024;
  const char *metadata = NULL, *metadata_file = NULL, *name;
  char *metadata_buf = NULL;
  size_t metadata_len = 0;
  Pattern pattern = PATTERN_SEQUENTIAL;
  int json = 0, verbose = 0, c, ret, status = 0;
  zb_writer_config config = { 0, DEFAULT_TIMEOUT_MS };
  zb_writer *w = NULL;
  uint8_t *seq = NULL;
  ErrorList errors = { {0}, 0, 0 };
  long long written = 0;
  int64_t t0 = 0, t1 = 0;
  double duration;

  opterr = 0;
  while ((c = getopt_long (argc, argv, "n:s:m:vh", longopts, NULL)) != -1) {
    switch (c) {
      case 'n':
        if (parse_count (cmd, "--frames", optarg, 0, &frames) < 0)
          return WRITER_EXIT_USAGE;
        break;
      case 's':
        if (zb_cli_parse_size (optarg, 1, MAX_FRAME_SIZE, &frame_size) < 0) {
          zb_cli_error (cmd, "invalid value '%s' for --size (expected a "
              "byte count >= 1)", optarg);
          return WRITER_EXIT_USAGE;
        }
        break;
      case 'm':
        metadata = optarg;
        break;
      case OPT_METADATA_FILE:
        metadata_file = optarg;
        break;
      case OPT_PATTERN:
        if (parse_pattern (optarg, 0, &pattern) < 0) {
          zb_cli_error (cmd, "invalid pattern '%s' (expected sequential, "
              "random, zero or ones)", optarg);
          return WRITER_EXIT_USAGE;
        }
        break;
      case OPT_DELAY_MS:
        if (parse_count (cmd, "--delay-ms", optarg, 0, &delay_ms) < 0)
          return WRITER_EXIT_USAGE;
        break;
      case OPT_BATCH_SIZE:
        if (parse_count (cmd, "--batch-size", optarg, 1, &batch) < 0)
          return WRITER_EXIT_USAGE;
        break;
      case OPT_CONNECT_TIMEOUT:
        if (parse_ms (cmd, "--connect-timeout-ms", optarg,
                &config.connect_timeout_ms) < 0)
          return WRITER_EXIT_USAGE;
        break;
      case OPT_WRITE_TIMEOUT:
        if (zb_cli_parse_int (optarg, 1, INT32_MAX, &v) < 0) {
          zb_cli_error (cmd, "invalid value '%s' for --write-timeout-ms "
              "(expected milliseconds >= 1)", optarg);
          return WRITER_EXIT_USAGE;
        }
        config.write_timeout_ms = (int) v;
        break;
      case OPT_ALLOW_UID:
        if (parse_uid (cmd, optarg, &config.allow_uid) < 0)
          return WRITER_EXIT_USAGE;
        break;
      case OPT_JSON_OUTPUT:
        json = 1;
        break;
      case 'v':
        verbose = 1;
        break;
      case 'h':
        writer_usage (stdout);
        return 0;
      default:
        return bad_option (cmd, argv, WRITER_EXIT_USAGE);
    }
  }
  if (optind >= argc) {
    zb_cli_error (cmd, "missing buffer name (try 'zerobuffer writer "
        "--help')");
    return WRITER_EXIT_USAGE;
  }
  if (optind + 1 < argc) {
    zb_cli_error (cmd, "unexpected argument '%s'", argv[optind + 1]);
    return WRITER_EXIT_USAGE;
  }
  name = argv[optind];
  if (check_name (cmd, name, WRITER_EXIT_USAGE))
    return WRITER_EXIT_USAGE;
  if (metadata && metadata_file) {
    zb_cli_error (cmd, "--metadata and --metadata-file exclude each other");
    return WRITER_EXIT_USAGE;
  }
  if (metadata_file) {
    ret = read_metadata_file (metadata_file, &metadata_buf, &metadata_len);
    if (ret < 0) {
      zb_cli_error (cmd, "cannot read metadata file '%s': %s", metadata_file,
          strerror (-ret));
      return WRITER_EXIT_USAGE;
    }
    if (metadata_len == 0) {
      zb_cli_error (cmd, "metadata file '%s' is empty", metadata_file);
      free (metadata_buf);
      return WRITER_EXIT_USAGE;
    }
    metadata = metadata_buf;
  } else if (metadata) {
    metadata_len = strlen (metadata);
  }

  zb_cli_catch_signals ();
  if (pattern == PATTERN_SEQUENTIAL) {
    seq = sequential_table ((size_t) frame_size);
    if (seq == NULL) {
      zb_cli_error (cmd, "out of memory for %" PRIu64 "-byte frames",
          frame_size);
      free (metadata_buf);
      return WRITER_EXIT_WRITE;
    }
  }

  if (verbose && !json)
    printf ("[WRITER] connecting to '%s': %lld frames of %" PRIu64
        " bytes, pattern %s\n", name, frames, frame_size,
        pattern_names[pattern]);

  ret = connect_writer (name, &config, &w);
  if (ret < 0) {
    errors_add (&errors, "cannot connect to buffer '%s': %s", name,
        zb_strerror (ret));
    zb_cli_error (cmd, "cannot connect to buffer '%s': %s", name,
        zb_strerror (ret));
    status = WRITER_EXIT_CONNECT;
    goto done;
  }

  if (metadata_len > 0) {
    ret = zb_writer_set_metadata (w, metadata, metadata_len);
    if (ret < 0) {
      errors_add (&errors, "cannot write %zu bytes of metadata: %s",
          metadata_len, zb_strerror (ret));
      zb_cli_error (cmd, "cannot write %zu bytes of metadata: %s",
          metadata_len, zb_strerror (ret));
      status = WRITER_EXIT_WRITE;
      goto done;
    }
    if (verbose && !json)
      printf ("[WRITER] wrote %zu bytes of metadata\n", metadata_len);
  }

  t0 = zb_cli_now_us ();
  while (written < frames) {
    void *dst;

    if (zb_cli_stop) {
      errors_add (&errors, "interrupted by signal %d after %lld frames",
          (int) zb_cli_stop, written);
      zb_cli_error (cmd, "interrupted after %lld of %lld frames", written,
          frames);
      status = WRITER_EXIT_WRITE;
      break;
    }
    ret = zb_writer_acquire (w, (size_t) frame_size, &dst);
    if (ret == 0) {
      fill_frame (dst, (size_t) frame_size, (uint64_t) written, pattern, seq);
      ret = zb_writer_commit (w);
    }
    if (ret < 0) {
      errors_add (&errors, "frame %lld: %s", written, zb_strerror (ret));
      zb_cli_error (cmd, "write failed at frame %lld of %lld: %s", written,
          frames, zb_strerror (ret));
      status = WRITER_EXIT_WRITE;
      break;
    }
    written++;
    if (verbose && !json && (written == 1 || written % 100 == 0
            || written == frames))
      printf ("[WRITER] wrote frame %lld/%lld\n", written, frames);
    if (delay_ms > 0 && written < frames && written % batch == 0)
      zb_cli_sleep_ms ((double) delay_ms);
  }
  t1 = zb_cli_now_us ();

done:
  zb_writer_disconnect (w);
  duration = t1 > t0 ? (double) (t1 - t0) / 1e6 : 0;

  if (json) {
    zb_json j;

    zb_json_init (&j, stdout, 1);
    zb_json_begin_object (&j, NULL);
    zb_json_string (&j, "operation", "write");
    zb_json_string (&j, "buffer_name", name);
    zb_json_int (&j, "frames_written", written);
    zb_json_uint (&j, "frame_size", frame_size);
    zb_json_uint (&j, "metadata_size", status == WRITER_EXIT_CONNECT ? 0 :
        metadata_len);
    zb_json_uint (&j, "bytes_written", (uint64_t) written * frame_size);
    zb_json_string (&j, "pattern", pattern_names[pattern]);
    zb_json_double (&j, "duration_seconds", duration);
    zb_json_double (&j, "throughput_mbps",
        mib_per_s ((uint64_t) written * frame_size, duration));
    zb_json_double (&j, "frames_per_second",
        duration > 0 ? (double) written / duration : 0);
    errors_json (&j, &errors);
    zb_json_end_object (&j);
    zb_json_finish (&j);
  } else if (status == 0) {
    printf ("[WRITER] wrote %lld frames of %" PRIu64 " bytes in %.3f s "
        "(%.1f MB/s)\n", written, frame_size, duration,
        mib_per_s ((uint64_t) written * frame_size, duration));
  }
  errors_free (&errors);
  free (seq);
  free (metadata_buf);
  return status;
}

/* ------------------------------------------------------------------ */
/* reader */

static void
reader_usage (FILE * out)
{
  fputs ("Usage: zerobuffer reader NAME [options]\n"
      "\n"
      "Create buffer NAME, read frames from its writer, remove it on exit.\n"
      "\n"
      "Options:\n"
      "  -n, --frames COUNT         frames to read, 0 = until the writer "
      "leaves\n"
      "                             (default: 0)\n"
      "  -s, --size BYTES           expected frame size (default: the "
      "first frame's)\n"
      "      --timeout-ms MS        wait per frame, -1 = no limit "
      "(default: 5000)\n"
      "      --wait-writer-ms MS    wait for the first frame, -1 = no limit\n"
      "                             (default: 30000)\n"
      "      --verify PATTERN       none|sequential|random|zero|ones "
      "(default: none)\n"
      "      --check-pattern        same as --verify sequential\n"
      "      --checksum             report a checksum per frame (first 100)\n"
      "      --batch-size COUNT     accepted for compatibility (default: 1)\n"
      "      --metadata-size BYTES  metadata block (default: 4096)\n"
      "      --payload-size BYTES   payload ring (default: 256M); alias "
      "--buffer-size\n"
      "      --mode OCTAL           permissions of the objects (default: 600)\n"
      "      --create, --validate   accepted for compatibility (always on)\n"
      "      --json-output          print the result as JSON\n"
      "  -v, --verbose              progress messages\n"
      "  -h, --help                 show this help\n"
      "\n"
      "The reader stops after COUNT frames, when the writer has left and "
      "every\nframe it wrote was read, or after a timeout.\n"
      "Exit status: 0 success, 1 buffer creation failed, 2 read error, "
      "timeout\nor fewer frames than COUNT, 3 invalid arguments, "
      "4 verification error.\n", out);
}

int
zb_cmd_reader (int argc, char **argv)
{
  static const struct option longopts[] = {
    {"frames", required_argument, NULL, 'n'},
    {"size", required_argument, NULL, 's'},
    {"timeout-ms", required_argument, NULL, OPT_TIMEOUT},
    {"wait-writer-ms", required_argument, NULL, OPT_WAIT_WRITER},
    {"verify", required_argument, NULL, OPT_VERIFY},
    {"check-pattern", no_argument, NULL, OPT_CHECK_PATTERN},
    {"checksum", no_argument, NULL, OPT_CHECKSUM},
    {"batch-size", required_argument, NULL, OPT_BATCH_SIZE},
    {"metadata-size", required_argument, NULL, OPT_METADATA_SIZE},
    {"payload-size", required_argument, NULL, OPT_PAYLOAD_SIZE},
    {"buffer-size", required_argument, NULL, OPT_PAYLOAD_SIZE},
    {"mode", required_argument, NULL, OPT_MODE},
    {"create", no_argument, NULL, OPT_CREATE},
    {"validate", no_argument, NULL, OPT_VALIDATE},
    {"json-output", no_argument, NULL, OPT_JSON_OUTPUT},
    {"verbose", no_argument, NULL, 'v'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0}
  };
  const char *cmd = "reader";
  long long frames = 0, batch = 1;
  uint64_t expected_size = 0, metadata_size = DEFAULT_METADATA_SIZE;
  uint64_t payload_size = DEFAULT_PAYLOAD_SIZE;
  int size_set = 0, verify_set = 0, check_pattern = 0, checksum = 0;
  int timeout_ms = DEFAULT_TIMEOUT_MS, wait_writer_ms = DEFAULT_WAIT_WRITER_MS;
  Pattern verify = PATTERN_NONE;
  mode_t mode = 0;
  int json = 0, verbose = 0, c, ret, status = 0;
  const char *name;
  zb_reader_config config;
  zb_reader *r = NULL;
  ErrorList errors = { {0}, 0, 0 };
  uint64_t read = 0, bytes = 0, verify_errors = 0, size_errors = 0;
  uint64_t seq_errors = 0, meta_len = 0;
  uint64_t sums[MAX_CHECKSUMS];
  uint8_t *seq = NULL;
  size_t seq_size = 0;
  int64_t t0 = 0, t1 = 0;
  double duration;
  const char *end_reason = "error";

  opterr = 0;
  while ((c = getopt_long (argc, argv, "n:s:vh", longopts, NULL)) != -1) {
    switch (c) {
      case 'n':
        if (parse_count (cmd, "--frames", optarg, -1, &frames) < 0)
          return READER_EXIT_USAGE;
        if (frames < 0)
          frames = 0;
        break;
      case 's':
        if (zb_cli_parse_size (optarg, 1, MAX_FRAME_SIZE, &expected_size)
            < 0) {
          zb_cli_error (cmd, "invalid value '%s' for --size (expected a "
              "byte count >= 1)", optarg);
          return READER_EXIT_USAGE;
        }
        size_set = 1;
        break;
      case OPT_TIMEOUT:
        if (parse_ms (cmd, "--timeout-ms", optarg, &timeout_ms) < 0)
          return READER_EXIT_USAGE;
        break;
      case OPT_WAIT_WRITER:
        if (parse_ms (cmd, "--wait-writer-ms", optarg, &wait_writer_ms) < 0)
          return READER_EXIT_USAGE;
        break;
      case OPT_VERIFY:
        if (parse_pattern (optarg, 1, &verify) < 0) {
          zb_cli_error (cmd, "invalid pattern '%s' for --verify (expected "
              "none, sequential, random, zero or ones)", optarg);
          return READER_EXIT_USAGE;
        }
        verify_set = 1;
        break;
      case OPT_CHECK_PATTERN:
        check_pattern = 1;
        break;
      case OPT_CHECKSUM:
        checksum = 1;
        break;
      case OPT_BATCH_SIZE:
        if (parse_count (cmd, "--batch-size", optarg, 1, &batch) < 0)
          return READER_EXIT_USAGE;
        break;
      case OPT_METADATA_SIZE:
        if (parse_buffer_size (cmd, "--metadata-size", optarg, 0,
                &metadata_size) < 0)
          return READER_EXIT_USAGE;
        break;
      case OPT_PAYLOAD_SIZE:
        if (parse_buffer_size (cmd, "--payload-size", optarg, 1,
                &payload_size) < 0)
          return READER_EXIT_USAGE;
        break;
      case OPT_MODE:
        if (parse_mode (cmd, optarg, &mode) < 0)
          return READER_EXIT_USAGE;
        break;
      case OPT_CREATE:
      case OPT_VALIDATE:
        break;
      case OPT_JSON_OUTPUT:
        json = 1;
        break;
      case 'v':
        verbose = 1;
        break;
      case 'h':
        reader_usage (stdout);
        return 0;
      default:
        return bad_option (cmd, argv, READER_EXIT_USAGE);
    }
  }
  if (optind >= argc) {
    zb_cli_error (cmd, "missing buffer name (try 'zerobuffer reader "
        "--help')");
    return READER_EXIT_USAGE;
  }
  if (optind + 1 < argc) {
    zb_cli_error (cmd, "unexpected argument '%s'", argv[optind + 1]);
    return READER_EXIT_USAGE;
  }
  name = argv[optind];
  if (check_name (cmd, name, READER_EXIT_USAGE))
    return READER_EXIT_USAGE;
  if (check_pattern && !verify_set)
    verify = PATTERN_SEQUENTIAL;

  zb_cli_catch_signals ();
  memset (&config, 0, sizeof (config));
  config.metadata_size = (size_t) metadata_size;
  config.payload_size = (size_t) payload_size;
  config.mode = mode;

  if (verbose && !json)
    printf ("[READER] creating '%s': metadata %" PRIu64 " bytes, payload %"
        PRIu64 " bytes\n", name, metadata_size, payload_size);
  ret = zb_reader_create (name, &config, &r);
  if (ret < 0) {
    errors_add (&errors, "cannot create buffer '%s': %s", name,
        zb_strerror (ret));
    zb_cli_error (cmd, "cannot create buffer '%s': %s", name,
        zb_strerror (ret));
    status = READER_EXIT_CREATE;
    goto done;
  }
  if (verbose && !json)
    printf ("[READER] waiting for a writer\n");

  for (;;) {
    zb_frame f;
    const uint8_t *data;

    if (frames > 0 && read >= (uint64_t) frames) {
      ret = 0;
      break;
    }
    ret = read_frame (r, read == 0 ? wait_writer_ms : timeout_ms, &f);
    if (ret < 0)
      break;
    if (read == 0) {
      const void *m;
      size_t ms;

      t0 = zb_cli_now_us ();
      if (zb_reader_get_metadata (r, &m, &ms) == 0)
        meta_len = ms;
      if (!size_set)
        expected_size = f.size;
      if (verbose && !json)
        printf ("[READER] first frame: %zu bytes, metadata %" PRIu64
            " bytes\n", f.size, meta_len);
    }
    data = f.data;
    if (f.sequence != read + 1) {
      /* the library checks the order; count anything it lets through */
      seq_errors++;
      errors_add (&errors, "frame %" PRIu64 ": sequence %" PRIu64
          ", expected %" PRIu64, read, f.sequence, read + 1);
    }
    if (f.size != expected_size) {
      size_errors++;
      errors_add (&errors, "frame %" PRIu64 ": expected size %" PRIu64
          ", got %zu", read, expected_size, f.size);
    }
    if (verify != PATTERN_NONE) {
      if (verify == PATTERN_SEQUENTIAL && f.size > seq_size) {
        free (seq);
        seq = sequential_table (f.size);
        seq_size = seq ? f.size : 0;
      }
      if (!verify_frame (data, f.size, read, verify, seq)) {
        verify_errors++;
        if (verbose && !json)
          printf ("[READER] frame %" PRIu64 ": verification failed\n", read);
      }
    }
    if (checksum && read < MAX_CHECKSUMS)
      sums[read] = frame_checksum (data, f.size);
    bytes += f.size;
    read++;
    t1 = zb_cli_now_us ();
    ret = zb_reader_release (r, &f);
    if (ret < 0) {
      errors_add (&errors, "frame %" PRIu64 ": release failed: %s", read - 1,
          zb_strerror (ret));
      break;
    }
    if (verbose && !json && (read == 1 || read % 100 == 0))
      printf ("[READER] read frame %" PRIu64 "\n", read);
  }
  end_reason = end_reason_for (ret);

  if (ret == -EPIPE || ret == -EOWNERDEAD || ret == -ETIMEDOUT
      || ret == -EINTR || ret == 0) {
    if (read == 0 && ret == -ETIMEDOUT) {
      errors_add (&errors, "no frame within %d ms", wait_writer_ms);
      zb_cli_error (cmd, "no frame arrived within %d ms", wait_writer_ms);
      status = READER_EXIT_READ;
    } else if (frames > 0 && read < (uint64_t) frames) {
      errors_add (&errors, "read %" PRIu64 " of %lld frames (%s)", read,
          frames, end_reason);
      zb_cli_error (cmd, "read only %" PRIu64 " of %lld frames (%s)", read,
          frames, end_reason);
      status = READER_EXIT_READ;
    }
  } else {
    errors_add (&errors, "frame %" PRIu64 ": %s", read, zb_strerror (ret));
    zb_cli_error (cmd, "read failed at frame %" PRIu64 ": %s", read,
        zb_strerror (ret));
    status = READER_EXIT_READ;
  }
  if (status == 0 && (verify_errors || size_errors || seq_errors)) {
    zb_cli_error (cmd, "%" PRIu64 " of %" PRIu64 " frames failed "
        "verification (%" PRIu64 " pattern, %" PRIu64 " size, %" PRIu64
        " sequence)", verify_errors + size_errors + seq_errors, read,
        verify_errors, size_errors, seq_errors);
    status = READER_EXIT_VERIFY;
  }

done:
  zb_reader_destroy (r);
  duration = t1 > t0 ? (double) (t1 - t0) / 1e6 : 0;

  if (json) {
    zb_json j;
    uint64_t i;

    zb_json_init (&j, stdout, 1);
    zb_json_begin_object (&j, NULL);
    zb_json_string (&j, "operation", "read");
    zb_json_string (&j, "buffer_name", name);
    zb_json_uint (&j, "frames_read", read);
    zb_json_uint (&j, "frame_size", expected_size);
    zb_json_uint (&j, "metadata_size", meta_len);
    zb_json_uint (&j, "bytes_read", bytes);
    zb_json_double (&j, "duration_seconds", duration);
    zb_json_double (&j, "throughput_mbps", mib_per_s (bytes, duration));
    zb_json_double (&j, "average_latency_us",
        read > 1 ? duration * 1e6 / (double) (read - 1) : 0);
    zb_json_string (&j, "verify", pattern_names[verify]);
    zb_json_uint (&j, "verification_errors", verify_errors);
    zb_json_uint (&j, "pattern_errors", verify_errors);
    zb_json_uint (&j, "sequence_errors", seq_errors);
    zb_json_uint (&j, "size_errors", size_errors);
    zb_json_string (&j, "end_reason", end_reason);
    zb_json_begin_array (&j, "checksums");
    for (i = 0; checksum && i < read && i < MAX_CHECKSUMS; i++) {
      char hex[24];

      snprintf (hex, sizeof (hex), "%" PRIx64, sums[i]);
      zb_json_begin_object (&j, NULL);
      zb_json_uint (&j, "frame", i);
      zb_json_string (&j, "checksum", hex);
      zb_json_end_object (&j);
    }
    zb_json_end_array (&j);
    errors_json (&j, &errors);
    zb_json_end_object (&j);
    zb_json_finish (&j);
  } else if (status != READER_EXIT_CREATE) {
    printf ("[READER] read %" PRIu64 " frames (%" PRIu64 " bytes) in %.3f s "
        "(%.1f MB/s), ended by %s\n", read, bytes, duration,
        mib_per_s (bytes, duration), end_reason);
    if (verify != PATTERN_NONE)
      printf ("[READER] verification errors: %" PRIu64 "\n", verify_errors);
    if (checksum) {
      uint64_t i;

      for (i = 0; i < read && i < MAX_CHECKSUMS; i++)
        printf ("[READER] frame %" PRIu64 " checksum %" PRIx64 "\n", i,
            sums[i]);
    }
  }
  errors_free (&errors);
  free (seq);
  return status;
}

/* ------------------------------------------------------------------ */
/* relay */

typedef enum
{
  TRANSFORM_NONE,
  TRANSFORM_REVERSE,
  TRANSFORM_XOR,
  TRANSFORM_UPPER
} Transform;

static const char *const transform_names[] = {
  "none", "reverse", "xor", "upper"
};

static void
relay_usage (FILE * out)
{
  fputs ("Usage: zerobuffer relay IN OUT [options]\n"
      "\n"
      "Create buffer IN, connect to buffer OUT as its writer, and copy every "
      "frame\n(and the metadata) from IN to OUT, optionally transformed.\n"
      "\n"
      "Options:\n"
      "  -n, --frames COUNT         frames to relay, 0 = until IN's writer "
      "leaves\n"
      "                             (default: 0)\n"
      "      --buffer-size BYTES    payload ring of IN (default: 256M); "
      "alias\n"
      "                             --payload-size\n"
      "      --metadata-size BYTES  metadata block of IN (default: 4096)\n"
      "      --mode OCTAL           permissions of IN's objects (default: "
      "600)\n"
      "      --timeout-ms MS        wait per frame, -1 = no limit "
      "(default: 5000)\n"
      "      --wait-writer-ms MS    wait for IN's first frame (default: "
      "30000)\n"
      "      --connect-timeout-ms MS  wait for OUT to appear "
      "(default: 5000)\n"
      "      --allow-uid USER       OUT may belong to this user (name or "
      "uid;\n"
      "                             default: only our own and root's)\n"
      "      --transform T          none|reverse|xor|upper (default: none)\n"
      "      --xor-key BYTE         key of the xor transform, 0-255 or 0x00-"
      "0xff\n"
      "                             (default: 255)\n"
      "      --log-interval COUNT   progress every COUNT frames with -v "
      "(default: 100)\n"
      "      --create-output        accepted for compatibility (OUT is "
      "always created\n"
      "                             by its own reader)\n"
      "      --json-output          print the result as JSON\n"
      "  -v, --verbose              progress messages\n"
      "  -h, --help                 show this help\n"
      "\n"
      "Exit status: 0 success, 1 IN could not be created, 2 OUT could not "
      "be\nreached, 3 relay error (read, write, timeout or fewer frames than "
      "COUNT),\n4 invalid arguments.\n", out);
}

static void
transform_copy (uint8_t * dst, const uint8_t * src, size_t size, Transform t,
    uint8_t key)
{
  size_t i;

  switch (t) {
    case TRANSFORM_NONE:
      memcpy (dst, src, size);
      break;
    case TRANSFORM_REVERSE:
      for (i = 0; i < size; i++)
        dst[i] = src[size - 1 - i];
      break;
    case TRANSFORM_XOR:
      for (i = 0; i < size; i++)
        dst[i] = src[i] ^ key;
      break;
    case TRANSFORM_UPPER:
      for (i = 0; i < size; i++)
        dst[i] = (src[i] >= 'a' && src[i] <= 'z') ? src[i] - 'a' + 'A' : src[i];
      break;
  }
}

int
zb_cmd_relay (int argc, char **argv)
{
  static const struct option longopts[] = {
    {"frames", required_argument, NULL, 'n'},
    {"create-output", no_argument, NULL, OPT_CREATE_OUTPUT},
    {"buffer-size", required_argument, NULL, OPT_PAYLOAD_SIZE},
    {"payload-size", required_argument, NULL, OPT_PAYLOAD_SIZE},
    {"metadata-size", required_argument, NULL, OPT_METADATA_SIZE},
    {"mode", required_argument, NULL, OPT_MODE},
    {"timeout-ms", required_argument, NULL, OPT_TIMEOUT},
    {"wait-writer-ms", required_argument, NULL, OPT_WAIT_WRITER},
    {"connect-timeout-ms", required_argument, NULL, OPT_CONNECT_TIMEOUT},
    {"allow-uid", required_argument, NULL, OPT_ALLOW_UID},
    {"transform", required_argument, NULL, OPT_TRANSFORM},
    {"xor-key", required_argument, NULL, OPT_XOR_KEY},
    {"log-interval", required_argument, NULL, OPT_LOG_INTERVAL},
    {"json-output", no_argument, NULL, OPT_JSON_OUTPUT},
    {"verbose", no_argument, NULL, 'v'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0}
  };
  const char *cmd = "relay";
  long long frames = 0, log_interval = 100;
  uint64_t metadata_size = DEFAULT_METADATA_SIZE;
  uint64_t payload_size = DEFAULT_PAYLOAD_SIZE;
  int timeout_ms = DEFAULT_TIMEOUT_MS, wait_writer_ms = DEFAULT_WAIT_WRITER_MS;
  Transform transform = TRANSFORM_NONE;
  uint8_t xor_key = 0xff;
  mode_t mode = 0;
  int json = 0, verbose = 0, c, ret, status = 0, i;
  const char *in_name, *out_name, *end_reason = "error";
  zb_reader_config rconfig;
  zb_writer_config wconfig = { DEFAULT_RELAY_CONNECT_MS, DEFAULT_TIMEOUT_MS };
  zb_reader *r = NULL;
  zb_writer *w = NULL;
  ErrorList errors = { {0}, 0, 0 };
  uint64_t relayed = 0, bytes = 0, meta_len = 0;
  int metadata_relayed = 0;
  int64_t t0 = 0, t1 = 0;
  double duration;

  opterr = 0;
  while ((c = getopt_long (argc, argv, "n:vh", longopts, NULL)) != -1) {
    switch (c) {
      case 'n':
        if (parse_count (cmd, "--frames", optarg, 0, &frames) < 0)
          return RELAY_EXIT_USAGE;
        break;
      case OPT_CREATE_OUTPUT:
        break;
      case OPT_MODE:
        if (parse_mode (cmd, optarg, &mode) < 0)
          return RELAY_EXIT_USAGE;
        break;
      case OPT_PAYLOAD_SIZE:
        if (parse_buffer_size (cmd, "--buffer-size", optarg, 1,
                &payload_size) < 0)
          return RELAY_EXIT_USAGE;
        break;
      case OPT_METADATA_SIZE:
        if (parse_buffer_size (cmd, "--metadata-size", optarg, 0,
                &metadata_size) < 0)
          return RELAY_EXIT_USAGE;
        break;
      case OPT_TIMEOUT:
        if (parse_ms (cmd, "--timeout-ms", optarg, &timeout_ms) < 0)
          return RELAY_EXIT_USAGE;
        break;
      case OPT_WAIT_WRITER:
        if (parse_ms (cmd, "--wait-writer-ms", optarg, &wait_writer_ms) < 0)
          return RELAY_EXIT_USAGE;
        break;
      case OPT_CONNECT_TIMEOUT:
        if (parse_ms (cmd, "--connect-timeout-ms", optarg,
                &wconfig.connect_timeout_ms) < 0)
          return RELAY_EXIT_USAGE;
        break;
      case OPT_ALLOW_UID:
        if (parse_uid (cmd, optarg, &wconfig.allow_uid) < 0)
          return RELAY_EXIT_USAGE;
        break;
      case OPT_TRANSFORM:
        for (i = 0; i <= TRANSFORM_UPPER; i++) {
          if (strcmp (optarg, transform_names[i]) == 0)
            break;
        }
        if (i > TRANSFORM_UPPER) {
          zb_cli_error (cmd, "invalid transform '%s' (expected none, "
              "reverse, xor or upper)", optarg);
          return RELAY_EXIT_USAGE;
        }
        transform = (Transform) i;
        break;
      case OPT_XOR_KEY:{
        char *end;
        long v;

        errno = 0;
        v = strtol (optarg, &end, 0);
        if (*optarg == '\0' || *end != '\0' || errno || v < 0 || v > 255) {
          zb_cli_error (cmd, "invalid value '%s' for --xor-key (expected "
              "0-255 or 0x00-0xff)", optarg);
          return RELAY_EXIT_USAGE;
        }
        xor_key = (uint8_t) v;
        break;
      }
      case OPT_LOG_INTERVAL:
        if (parse_count (cmd, "--log-interval", optarg, 1, &log_interval) < 0)
          return RELAY_EXIT_USAGE;
        break;
      case OPT_JSON_OUTPUT:
        json = 1;
        break;
      case 'v':
        verbose = 1;
        break;
      case 'h':
        relay_usage (stdout);
        return 0;
      default:
        return bad_option (cmd, argv, RELAY_EXIT_USAGE);
    }
  }
  if (argc - optind < 2) {
    zb_cli_error (cmd, "missing %s buffer name (try 'zerobuffer relay "
        "--help')", argc - optind == 0 ? "input" : "output");
    return RELAY_EXIT_USAGE;
  }
  if (argc - optind > 2) {
    zb_cli_error (cmd, "unexpected argument '%s'", argv[optind + 2]);
    return RELAY_EXIT_USAGE;
  }
  in_name = argv[optind];
  out_name = argv[optind + 1];
  if (check_name (cmd, in_name, RELAY_EXIT_USAGE)
      || check_name (cmd, out_name, RELAY_EXIT_USAGE))
    return RELAY_EXIT_USAGE;
  if (strcmp (in_name, out_name) == 0) {
    zb_cli_error (cmd, "input and output buffer must differ");
    return RELAY_EXIT_USAGE;
  }

  zb_cli_catch_signals ();
  memset (&rconfig, 0, sizeof (rconfig));
  rconfig.metadata_size = (size_t) metadata_size;
  rconfig.payload_size = (size_t) payload_size;
  rconfig.mode = mode;

  ret = zb_reader_create (in_name, &rconfig, &r);
  if (ret < 0) {
    errors_add (&errors, "cannot create input buffer '%s': %s", in_name,
        zb_strerror (ret));
    zb_cli_error (cmd, "cannot create input buffer '%s': %s", in_name,
        zb_strerror (ret));
    status = RELAY_EXIT_INPUT;
    goto done;
  }
  if (verbose && !json)
    printf ("[RELAY] created input buffer '%s'\n", in_name);

  ret = connect_writer (out_name, &wconfig, &w);
  if (ret < 0) {
    errors_add (&errors, "cannot connect to output buffer '%s': %s",
        out_name, zb_strerror (ret));
    zb_cli_error (cmd, "cannot connect to output buffer '%s': %s", out_name,
        zb_strerror (ret));
    status = RELAY_EXIT_OUTPUT;
    goto done;
  }
  if (verbose && !json)
    printf ("[RELAY] connected to output buffer '%s', transform %s\n",
        out_name, transform_names[transform]);

  for (;;) {
    zb_frame f;
    void *dst;

    if (frames > 0 && relayed >= (uint64_t) frames) {
      ret = 0;
      break;
    }
    ret = read_frame (r, relayed == 0 ? wait_writer_ms : timeout_ms, &f);
    if (ret < 0)
      break;
    if (relayed == 0) {
      const void *m;
      size_t ms;

      t0 = zb_cli_now_us ();
      /* metadata is visible once the first frame is */
      if (zb_reader_get_metadata (r, &m, &ms) == 0 && ms > 0) {
        meta_len = ms;
        ret = zb_writer_set_metadata (w, m, ms);
        if (ret < 0) {
          zb_reader_release (r, &f);
          errors_add (&errors, "cannot relay %zu bytes of metadata: %s", ms,
              zb_strerror (ret));
          zb_cli_error (cmd, "cannot relay %zu bytes of metadata: %s", ms,
              zb_strerror (ret));
          status = RELAY_EXIT_RELAY;
          break;
        }
        metadata_relayed = 1;
      }
    }
    ret = zb_writer_acquire (w, f.size, &dst);
    if (ret == 0) {
      transform_copy (dst, f.data, f.size, transform, xor_key);
      ret = zb_writer_commit (w);
    }
    zb_reader_release (r, &f);
    if (ret < 0) {
      errors_add (&errors, "frame %" PRIu64 ": output: %s", relayed,
          zb_strerror (ret));
      zb_cli_error (cmd, "writing frame %" PRIu64 " to '%s' failed: %s",
          relayed, out_name, zb_strerror (ret));
      status = RELAY_EXIT_RELAY;
      break;
    }
    relayed++;
    bytes += f.size;
    t1 = zb_cli_now_us ();
    if (verbose && !json && relayed % (uint64_t) log_interval == 0)
      printf ("[RELAY] %" PRIu64 " frames, %.2f MB, %.1f MB/s\n", relayed,
          (double) bytes / (1024.0 * 1024.0),
          mib_per_s (bytes, (double) (t1 - t0) / 1e6));
  }
  if (status == 0) {
    end_reason = end_reason_for (ret);
    if (ret == -EPIPE || ret == -EOWNERDEAD || ret == -ETIMEDOUT
        || ret == -EINTR || ret == 0) {
      if (relayed == 0 && ret == -ETIMEDOUT) {
        errors_add (&errors, "no input frame within %d ms", wait_writer_ms);
        zb_cli_error (cmd, "no frame arrived on '%s' within %d ms", in_name,
            wait_writer_ms);
        status = RELAY_EXIT_RELAY;
      } else if (frames > 0 && relayed < (uint64_t) frames) {
        errors_add (&errors, "relayed %" PRIu64 " of %lld frames (%s)",
            relayed, frames, end_reason);
        zb_cli_error (cmd, "relayed only %" PRIu64 " of %lld frames (%s)",
            relayed, frames, end_reason);
        status = RELAY_EXIT_RELAY;
      }
    } else {
      errors_add (&errors, "frame %" PRIu64 ": input: %s", relayed,
          zb_strerror (ret));
      zb_cli_error (cmd, "reading frame %" PRIu64 " from '%s' failed: %s",
          relayed, in_name, zb_strerror (ret));
      status = RELAY_EXIT_RELAY;
    }
  }

done:
  /* leaving OUT first lets its reader see the end after the last frame */
  zb_writer_disconnect (w);
  zb_reader_destroy (r);
  duration = t1 > t0 ? (double) (t1 - t0) / 1e6 : 0;

  if (json) {
    zb_json j;

    zb_json_init (&j, stdout, 1);
    zb_json_begin_object (&j, NULL);
    zb_json_string (&j, "operation", "relay");
    zb_json_string (&j, "input_buffer", in_name);
    zb_json_string (&j, "output_buffer", out_name);
    zb_json_uint (&j, "frames_relayed", relayed);
    zb_json_uint (&j, "bytes_relayed", bytes);
    zb_json_bool (&j, "metadata_relayed", metadata_relayed);
    zb_json_uint (&j, "metadata_size", meta_len);
    zb_json_double (&j, "duration_seconds", duration);
    zb_json_double (&j, "fps", duration > 0 ? (double) relayed / duration : 0);
    zb_json_double (&j, "throughput_mbps", mib_per_s (bytes, duration));
    zb_json_double (&j, "average_latency_us",
        relayed > 1 ? duration * 1e6 / (double) (relayed - 1) : 0);
    zb_json_string (&j, "transform", transform_names[transform]);
    zb_json_string (&j, "end_reason", end_reason);
    errors_json (&j, &errors);
    zb_json_end_object (&j);
    zb_json_finish (&j);
  } else if (status == 0) {
    printf ("[RELAY] relayed %" PRIu64 " frames (%" PRIu64 " bytes) in "
        "%.3f s (%.1f MB/s), transform %s, ended by %s\n", relayed, bytes,
        duration, mib_per_s (bytes, duration), transform_names[transform],
        end_reason);
  }
  errors_free (&errors);
  return status;
}
