/* zerobuffer command-line tool - writer: connect to a buffer, write frames */

#include "zb-stream.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* Exit codes of the reference test applications. */
#define WRITER_EXIT_CONNECT 1
#define WRITER_EXIT_WRITE 2
#define WRITER_EXIT_USAGE 3

#define MAX_METADATA_FILE (64 * 1024 * 1024)

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
      FANOUT_USAGE
      "      --json-output          print the result as JSON\n"
      "  -v, --verbose              progress messages\n"
      "  -h, --help                 show this help\n"
      "\n"
      "With --fanout, NAME is not one buffer: every frame goes to buffer "
      "NAME and to\nevery buffer NAME@ID (e.g. 'zerobuffer reader "
      "NAME@rec') whose reader is\nalive, found as they come and go.\n"
      "\n"
      "Exit status: 0 all frames written, 1 connection failed (with "
      "--fanout: fewer\nthan --min-readers readers in time), 2 write "
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
    FANOUT_LONGOPTS,
    STREAM_COMMON_LONGOPTS
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
  zb_fanout *fan = NULL;
  FanoutOpts fo;
  uint8_t *seq = NULL, *frame_buf = NULL;
  ErrorList errors = { {0}, 0 };
  long long written = 0;
  uint64_t deliveries = 0;
  int64_t t0 = 0, t1 = 0;
  double duration;

  zb_stream_fanout_init (&fo);
  while ((c = zb_stream_getopt (cmd, argc, argv, "n:s:m:vh", longopts, &fo,
              &frames)) != -1) {
    switch (c) {
      case ZB_STREAM_OPT_BAD:
        return WRITER_EXIT_USAGE;
      case 's':
        if (zb_stream_opt_frame_size (cmd, optarg, &frame_size) < 0)
          return WRITER_EXIT_USAGE;
        break;
      case 'm':
        metadata = optarg;
        break;
      case OPT_METADATA_FILE:
        metadata_file = optarg;
        break;
      case OPT_PATTERN:
        if (zb_pattern_parse (optarg, 0, &pattern) < 0) {
          zb_cli_error (cmd, "invalid pattern '%s' (expected sequential, "
              "random, zero or ones)", optarg);
          return WRITER_EXIT_USAGE;
        }
        break;
      case OPT_DELAY_MS:
        if (zb_cli_opt_count (cmd, "--delay-ms", optarg, 0, &delay_ms) < 0)
          return WRITER_EXIT_USAGE;
        break;
      case OPT_BATCH_SIZE:
        if (zb_cli_opt_count (cmd, "--batch-size", optarg, 1, &batch) < 0)
          return WRITER_EXIT_USAGE;
        break;
      case OPT_CONNECT_TIMEOUT:
        if (zb_stream_opt_ms (cmd, "--connect-timeout-ms", optarg,
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
        if (zb_stream_opt_uid (cmd, optarg, &config.allow_uid) < 0)
          return WRITER_EXIT_USAGE;
        break;
      default:
        ret =
            zb_stream_opt_common (cmd, c, argv, writer_usage, WRITER_EXIT_USAGE,
            &json, &verbose);
        if (ret >= 0)
          return ret;
        break;
    }
  }
  name = zb_cli_one_name (cmd, argc, argv);
  if (name == NULL || zb_cli_check_name (cmd, name) < 0
      || zb_stream_fanout_check (cmd, &fo) < 0)
    return WRITER_EXIT_USAGE;
  if (fo.enabled && strchr (name, '@') != NULL) {
    zb_cli_error (cmd, "a --fanout name has no '@' (its readers are NAME "
        "and NAME@ID)");
    return WRITER_EXIT_USAGE;
  }
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
    seq = zb_pattern_table ((size_t) frame_size);
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
        zb_pattern_names[pattern]);

  if (fo.enabled) {
    frame_buf = malloc ((size_t) frame_size);
    if (frame_buf == NULL) {
      zb_cli_error (cmd, "out of memory for %" PRIu64 "-byte frames",
          frame_size);
      free (seq);
      free (metadata_buf);
      return WRITER_EXIT_WRITE;
    }
    ret = zb_stream_fanout_open (name, &fo, config.write_timeout_ms,
        config.allow_uid, config.connect_timeout_ms,
        verbose && !json ? "WRITER" : NULL, &fan);
    if (ret < 0) {
      if (ret == -ETIMEDOUT)
        zb_errors_fail (&errors, cmd, "fewer than %lld readers of '%s' "
            "within %d ms", fo.min_readers, name, config.connect_timeout_ms);
      else
        zb_errors_fail (&errors, cmd, "cannot write to the readers of "
            "'%s': %s", name, zb_strerror (ret));
      status = WRITER_EXIT_CONNECT;
      goto done;
    }
    if (metadata_len > 0) {
      ret = zb_fanout_set_metadata (fan, metadata, metadata_len);
      if (ret < 0) {
        zb_errors_fail (&errors, cmd, "cannot keep %zu bytes of metadata: "
            "%s", metadata_len, zb_strerror (ret));
        status = WRITER_EXIT_WRITE;
        goto done;
      }
    }
  } else
    ret = zb_stream_connect (name, &config, &w);
  if (ret < 0) {
    zb_errors_fail (&errors, cmd, "cannot connect to buffer '%s': %s", name,
        zb_strerror (ret));
    status = WRITER_EXIT_CONNECT;
    goto done;
  }

  if (metadata_len > 0 && w != NULL) {
    ret = zb_writer_set_metadata (w, metadata, metadata_len);
    if (ret < 0) {
      zb_errors_fail (&errors, cmd, "cannot write %zu bytes of metadata: %s",
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
      zb_errors_add (&errors, "interrupted by signal %d after %lld frames",
          (int) zb_cli_stop, written);
      zb_cli_error (cmd, "interrupted after %lld of %lld frames", written,
          frames);
      status = WRITER_EXIT_WRITE;
      break;
    }
    if (fan != NULL) {
      /* to every reader: a copy each, from here */
      zb_pattern_fill (frame_buf, (size_t) frame_size, (uint64_t) written,
          pattern, seq);
      ret = zb_fanout_write (fan, frame_buf, (size_t) frame_size);
      if (ret > 0)
        deliveries += (uint64_t) ret;
    } else {
      ret = zb_writer_acquire (w, (size_t) frame_size, &dst);
      if (ret == 0) {
        zb_pattern_fill (dst, (size_t) frame_size, (uint64_t) written,
            pattern, seq);
        ret = zb_writer_commit (w);
      }
    }
    if (ret < 0) {
      zb_errors_add (&errors, "frame %lld: %s", written, zb_strerror (ret));
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
    zb_json_string (&j, "pattern", zb_pattern_names[pattern]);
    zb_json_double (&j, "duration_seconds", duration);
    zb_json_double (&j, "throughput_mbps",
        zb_mib_per_s ((uint64_t) written * frame_size, duration));
    zb_json_double (&j, "frames_per_second",
        duration > 0 ? (double) written / duration : 0);
    if (fo.enabled) {
      zb_json_bool (&j, "fanout", 1);
      zb_json_uint (&j, "deliveries", deliveries);
      zb_stream_fanout_json (&j, fan);
    }
    zb_errors_json (&j, &errors);
    zb_json_end_object (&j);
    zb_json_finish (&j);
  } else if (status == 0 && fan != NULL) {
    printf ("[WRITER] wrote %lld frames of %" PRIu64 " bytes in %.3f s to "
        "%d readers (%" PRIu64 " deliveries)\n", written, frame_size,
        duration, zb_fanout_readers (fan, NULL, 0), deliveries);
  } else if (status == 0) {
    printf ("[WRITER] wrote %lld frames of %" PRIu64 " bytes in %.3f s "
        "(%.1f MB/s)\n", written, frame_size, duration,
        zb_mib_per_s ((uint64_t) written * frame_size, duration));
  }
  /* after the JSON: its reader list is that of the last frame */
  zb_fanout_close (fan);
  zb_errors_free (&errors);
  free (seq);
  free (frame_buf);
  free (metadata_buf);
  return status;
}
