/* zerobuffer command-line tool - relay: read frames from one buffer, write
 * them (optionally transformed) to another */

#include "zb-stream.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* Exit codes of the reference test applications. */
#define RELAY_EXIT_INPUT 1
#define RELAY_EXIT_OUTPUT 2
#define RELAY_EXIT_RELAY 3
#define RELAY_EXIT_USAGE 4

#define DEFAULT_RELAY_CONNECT_MS 5000

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
      FANOUT_USAGE
      "      --json-output          print the result as JSON\n"
      "  -v, --verbose              progress messages\n"
      "  -h, --help                 show this help\n"
      "\n"
      "With --fanout, OUT is not one buffer: every frame goes to buffer OUT "
      "and to\nevery buffer OUT@ID whose reader is alive, found as they "
      "come and go.\n"
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
    FANOUT_LONGOPTS,
    STREAM_COMMON_LONGOPTS
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
  zb_fanout *fan = NULL;
  FanoutOpts fo;
  uint8_t *frame_buf = NULL;
  size_t frame_buf_size = 0;
  uint64_t deliveries = 0;
  ErrorList errors = { {0}, 0 };
  uint64_t relayed = 0, bytes = 0, meta_len = 0;
  int metadata_relayed = 0;
  int64_t t0 = 0, t1 = 0;
  double duration;

  zb_stream_fanout_init (&fo);
  while ((c = zb_stream_getopt (cmd, argc, argv, "n:vh", longopts, &fo,
              &frames)) != -1) {
    switch (c) {
      case ZB_STREAM_OPT_BAD:
        return RELAY_EXIT_USAGE;
      case OPT_CREATE_OUTPUT:
        break;
      case OPT_MODE:
        if (zb_stream_opt_mode (cmd, optarg, &mode) < 0)
          return RELAY_EXIT_USAGE;
        break;
      case OPT_PAYLOAD_SIZE:
        if (zb_stream_opt_buffer_size (cmd, "--buffer-size", optarg, 1,
                &payload_size) < 0)
          return RELAY_EXIT_USAGE;
        break;
      case OPT_METADATA_SIZE:
        if (zb_stream_opt_buffer_size (cmd, "--metadata-size", optarg, 0,
                &metadata_size) < 0)
          return RELAY_EXIT_USAGE;
        break;
      case OPT_TIMEOUT:
        if (zb_stream_opt_ms (cmd, "--timeout-ms", optarg, &timeout_ms) < 0)
          return RELAY_EXIT_USAGE;
        break;
      case OPT_WAIT_WRITER:
        if (zb_stream_opt_ms (cmd, "--wait-writer-ms", optarg,
                &wait_writer_ms) < 0)
          return RELAY_EXIT_USAGE;
        break;
      case OPT_CONNECT_TIMEOUT:
        if (zb_stream_opt_ms (cmd, "--connect-timeout-ms", optarg,
                &wconfig.connect_timeout_ms) < 0)
          return RELAY_EXIT_USAGE;
        break;
      case OPT_ALLOW_UID:
        if (zb_stream_opt_uid (cmd, optarg, &wconfig.allow_uid) < 0)
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
        if (zb_cli_opt_count (cmd, "--log-interval", optarg, 1,
                &log_interval) < 0)
          return RELAY_EXIT_USAGE;
        break;
      default:
        ret =
            zb_stream_opt_common (cmd, c, argv, relay_usage, RELAY_EXIT_USAGE,
            &json, &verbose);
        if (ret >= 0)
          return ret;
        break;
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
  if (zb_cli_check_name (cmd, in_name) < 0
      || zb_cli_check_name (cmd, out_name) < 0)
    return RELAY_EXIT_USAGE;
  if (strcmp (in_name, out_name) == 0) {
    zb_cli_error (cmd, "input and output buffer must differ");
    return RELAY_EXIT_USAGE;
  }
  if (zb_stream_fanout_check (cmd, &fo) < 0)
    return RELAY_EXIT_USAGE;
  if (fo.enabled && strchr (out_name, '@') != NULL) {
    zb_cli_error (cmd, "a --fanout name has no '@' (its readers are OUT "
        "and OUT@ID)");
    return RELAY_EXIT_USAGE;
  }

  zb_cli_catch_signals ();
  memset (&rconfig, 0, sizeof (rconfig));
  rconfig.metadata_size = (size_t) metadata_size;
  rconfig.payload_size = (size_t) payload_size;
  rconfig.mode = mode;

  ret = zb_reader_create (in_name, &rconfig, &r);
  if (ret < 0) {
    zb_errors_fail (&errors, cmd, "cannot create input buffer '%s': %s",
        in_name, zb_strerror (ret));
    status = RELAY_EXIT_INPUT;
    goto done;
  }
  if (verbose && !json)
    printf ("[RELAY] created input buffer '%s'\n", in_name);

  if (fo.enabled) {
    ret = zb_stream_fanout_open (out_name, &fo, wconfig.write_timeout_ms,
        wconfig.allow_uid, wconfig.connect_timeout_ms,
        verbose && !json ? "RELAY" : NULL, &fan);
    if (ret == -ETIMEDOUT)
      ret = -ENOENT;            /* fewer readers than asked for */
  } else
    ret = zb_stream_connect (out_name, &wconfig, &w);
  if (ret < 0) {
    zb_errors_fail (&errors, cmd, "cannot connect to output buffer '%s': %s",
        out_name, zb_strerror (ret));
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
    ret = zb_stream_read (r, relayed == 0 ? wait_writer_ms : timeout_ms, &f);
    if (ret < 0)
      break;
    if (relayed == 0) {
      const void *m;
      size_t ms;

      t0 = zb_cli_now_us ();
      /* metadata is visible once the first frame is */
      if (zb_reader_get_metadata (r, &m, &ms) == 0 && ms > 0) {
        meta_len = ms;
        ret = fan ? zb_fanout_set_metadata (fan, m, ms) :
            zb_writer_set_metadata (w, m, ms);
        if (ret < 0) {
          zb_reader_release (r, &f);
          zb_errors_fail (&errors, cmd, "cannot relay %zu bytes of "
              "metadata: %s", ms, zb_strerror (ret));
          status = RELAY_EXIT_RELAY;
          break;
        }
        metadata_relayed = 1;
      }
    }
    if (fan != NULL && transform == TRANSFORM_NONE) {
      ret = zb_fanout_write (fan, f.data, f.size);
    } else if (fan != NULL) {
      if (frame_buf_size < f.size) {
        free (frame_buf);
        frame_buf = malloc (f.size);
        frame_buf_size = frame_buf ? f.size : 0;
      }
      ret = -ENOMEM;
      if (frame_buf != NULL) {
        transform_copy (frame_buf, f.data, f.size, transform, xor_key);
        ret = zb_fanout_write (fan, frame_buf, f.size);
      }
    } else {
      ret = zb_writer_acquire (w, f.size, &dst);
      if (ret == 0) {
        transform_copy (dst, f.data, f.size, transform, xor_key);
        ret = zb_writer_commit (w);
      }
    }
    if (ret > 0) {
      deliveries += (uint64_t) ret;
      ret = 0;
    }
    zb_reader_release (r, &f);
    if (ret < 0) {
      zb_errors_add (&errors, "frame %" PRIu64 ": output: %s", relayed,
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
          zb_mib_per_s (bytes, (double) (t1 - t0) / 1e6));
  }
  if (status == 0) {
    end_reason = zb_stream_end_reason (ret);
    switch (zb_stream_end (ret, relayed, frames)) {
      case END_OK:
        break;
      case END_NO_FRAME:
        zb_errors_add (&errors, "no input frame within %d ms", wait_writer_ms);
        zb_cli_error (cmd, "no frame arrived on '%s' within %d ms", in_name,
            wait_writer_ms);
        status = RELAY_EXIT_RELAY;
        break;
      case END_SHORT:
        zb_errors_add (&errors, "relayed %" PRIu64 " of %lld frames (%s)",
            relayed, frames, end_reason);
        zb_cli_error (cmd, "relayed only %" PRIu64 " of %lld frames (%s)",
            relayed, frames, end_reason);
        status = RELAY_EXIT_RELAY;
        break;
      case END_FAILED:
        zb_errors_add (&errors, "frame %" PRIu64 ": input: %s", relayed,
            zb_strerror (ret));
        zb_cli_error (cmd, "reading frame %" PRIu64 " from '%s' failed: %s",
            relayed, in_name, zb_strerror (ret));
        status = RELAY_EXIT_RELAY;
        break;
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
    zb_json_double (&j, "throughput_mbps", zb_mib_per_s (bytes, duration));
    zb_json_double (&j, "average_latency_us",
        relayed > 1 ? duration * 1e6 / (double) (relayed - 1) : 0);
    zb_json_string (&j, "transform", transform_names[transform]);
    zb_json_string (&j, "end_reason", end_reason);
    if (fo.enabled) {
      zb_json_bool (&j, "fanout", 1);
      zb_json_uint (&j, "deliveries", deliveries);
      zb_stream_fanout_json (&j, fan);
    }
    zb_errors_json (&j, &errors);
    zb_json_end_object (&j);
    zb_json_finish (&j);
  } else if (status == 0) {
    printf ("[RELAY] relayed %" PRIu64 " frames (%" PRIu64 " bytes) in "
        "%.3f s (%.1f MB/s), transform %s, ended by %s\n", relayed, bytes,
        duration, zb_mib_per_s (bytes, duration), transform_names[transform],
        end_reason);
  }
  zb_fanout_close (fan);
  free (frame_buf);
  zb_errors_free (&errors);
  return status;
}
