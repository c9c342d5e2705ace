/* zerobuffer command-line tool - reader: create a buffer, read frames */

#include "zb-stream.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* Exit codes of the reference test applications. */
#define READER_EXIT_CREATE 1
#define READER_EXIT_READ 2
#define READER_EXIT_USAGE 3
#define READER_EXIT_VERIFY 4

#define MAX_CHECKSUMS 100

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
    STREAM_COMMON_LONGOPTS
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
  ErrorList errors = { {0}, 0 };
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
        if (zb_cli_opt_count (cmd, "--frames", optarg, -1, &frames) < 0)
          return READER_EXIT_USAGE;
        if (frames < 0)
          frames = 0;
        break;
      case 's':
        if (zb_stream_opt_frame_size (cmd, optarg, &expected_size) < 0)
          return READER_EXIT_USAGE;
        size_set = 1;
        break;
      case OPT_TIMEOUT:
        if (zb_stream_opt_ms (cmd, "--timeout-ms", optarg, &timeout_ms) < 0)
          return READER_EXIT_USAGE;
        break;
      case OPT_WAIT_WRITER:
        if (zb_stream_opt_ms (cmd, "--wait-writer-ms", optarg,
                &wait_writer_ms) < 0)
          return READER_EXIT_USAGE;
        break;
      case OPT_VERIFY:
        if (zb_pattern_parse (optarg, 1, &verify) < 0) {
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
        if (zb_cli_opt_count (cmd, "--batch-size", optarg, 1, &batch) < 0)
          return READER_EXIT_USAGE;
        break;
      case OPT_METADATA_SIZE:
        if (zb_stream_opt_buffer_size (cmd, "--metadata-size", optarg, 0,
                &metadata_size) < 0)
          return READER_EXIT_USAGE;
        break;
      case OPT_PAYLOAD_SIZE:
        if (zb_stream_opt_buffer_size (cmd, "--payload-size", optarg, 1,
                &payload_size) < 0)
          return READER_EXIT_USAGE;
        break;
      case OPT_MODE:
        if (zb_stream_opt_mode (cmd, optarg, &mode) < 0)
          return READER_EXIT_USAGE;
        break;
      case OPT_CREATE:
      case OPT_VALIDATE:
        break;
      default:
        ret =
            zb_stream_opt_common (cmd, c, argv, reader_usage, READER_EXIT_USAGE,
            &json, &verbose);
        if (ret >= 0)
          return ret;
        break;
    }
  }
  name = zb_cli_one_name (cmd, argc, argv);
  if (name == NULL || zb_cli_check_name (cmd, name) < 0)
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
    zb_errors_fail (&errors, cmd, "cannot create buffer '%s': %s", name,
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
    ret = zb_stream_read (r, read == 0 ? wait_writer_ms : timeout_ms, &f);
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
      zb_errors_add (&errors, "frame %" PRIu64 ": sequence %" PRIu64
          ", expected %" PRIu64, read, f.sequence, read + 1);
    }
    if (f.size != expected_size) {
      size_errors++;
      zb_errors_add (&errors, "frame %" PRIu64 ": expected size %" PRIu64
          ", got %zu", read, expected_size, f.size);
    }
    if (verify != PATTERN_NONE) {
      if (verify == PATTERN_SEQUENTIAL && f.size > seq_size) {
        free (seq);
        seq = zb_pattern_table (f.size);
        seq_size = seq ? f.size : 0;
      }
      if (!zb_pattern_verify (data, f.size, read, verify, seq)) {
        verify_errors++;
        if (verbose && !json)
          printf ("[READER] frame %" PRIu64 ": verification failed\n", read);
      }
    }
    if (checksum && read < MAX_CHECKSUMS)
      sums[read] = zb_frame_checksum (data, f.size);
    bytes += f.size;
    read++;
    t1 = zb_cli_now_us ();
    ret = zb_reader_release (r, &f);
    if (ret < 0) {
      zb_errors_add (&errors, "frame %" PRIu64 ": release failed: %s", read - 1,
          zb_strerror (ret));
      break;
    }
    if (verbose && !json && (read == 1 || read % 100 == 0))
      printf ("[READER] read frame %" PRIu64 "\n", read);
  }
  end_reason = zb_stream_end_reason (ret);
  switch (zb_stream_end (ret, read, frames)) {
    case END_OK:
      break;
    case END_NO_FRAME:
      zb_errors_add (&errors, "no frame within %d ms", wait_writer_ms);
      zb_cli_error (cmd, "no frame arrived within %d ms", wait_writer_ms);
      status = READER_EXIT_READ;
      break;
    case END_SHORT:
      zb_errors_add (&errors, "read %" PRIu64 " of %lld frames (%s)", read,
          frames, end_reason);
      zb_cli_error (cmd, "read only %" PRIu64 " of %lld frames (%s)", read,
          frames, end_reason);
      status = READER_EXIT_READ;
      break;
    case END_FAILED:
      zb_errors_add (&errors, "frame %" PRIu64 ": %s", read, zb_strerror (ret));
      zb_cli_error (cmd, "read failed at frame %" PRIu64 ": %s", read,
          zb_strerror (ret));
      status = READER_EXIT_READ;
      break;
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
    zb_json_double (&j, "throughput_mbps", zb_mib_per_s (bytes, duration));
    zb_json_double (&j, "average_latency_us",
        read > 1 ? duration * 1e6 / (double) (read - 1) : 0);
    zb_json_string (&j, "verify", zb_pattern_names[verify]);
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
    zb_errors_json (&j, &errors);
    zb_json_end_object (&j);
    zb_json_finish (&j);
  } else if (status != READER_EXIT_CREATE) {
    printf ("[READER] read %" PRIu64 " frames (%" PRIu64 " bytes) in %.3f s "
        "(%.1f MB/s), ended by %s\n", read, bytes, duration,
        zb_mib_per_s (bytes, duration), end_reason);
    if (verify != PATTERN_NONE)
      printf ("[READER] verification errors: %" PRIu64 "\n", verify_errors);
    if (checksum) {
      uint64_t i;

      for (i = 0; i < read && i < MAX_CHECKSUMS; i++)
        printf ("[READER] frame %" PRIu64 " checksum %" PRIx64 "\n", i,
            sums[i]);
    }
  }
  zb_errors_free (&errors);
  free (seq);
  return status;
}
