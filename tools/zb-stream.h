/* zerobuffer command-line tool - what reader, writer and relay share
 *
 * Options, defaults, patterns, JSON keys and exit codes follow the protocol
 * authors' cross-platform test applications (zerobuffer-test-reader,
 * -writer, -relay), so that scripts written for those run against this tool.
 */

#ifndef ZB_STREAM_H
#define ZB_STREAM_H

#include "zb-cli.h"

#include <getopt.h>
#include <sys/types.h>

#define DEFAULT_METADATA_SIZE 4096
#define DEFAULT_PAYLOAD_SIZE (256 * 1024 * 1024)
#define DEFAULT_TIMEOUT_MS 5000
#define DEFAULT_WAIT_WRITER_MS 30000
#define MAX_ERRORS 100

/* getopt_long() values of the long options without a short form. */
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
  OPT_ALLOW_UID,
  OPT_FANOUT,
  OPT_POLICY,
  OPT_MAX_READERS,
  OPT_MIN_READERS
};

/* ------------------------------------------------------------------ */
/* Test patterns: what the writer puts in frame k, what the reader checks */

typedef enum
{
  PATTERN_NONE,
  PATTERN_SEQUENTIAL,
  PATTERN_RANDOM,
  PATTERN_ZERO,
  PATTERN_ONES
} Pattern;

extern const char *const zb_pattern_names[];

/* 0, or -1 when @s names no pattern ("none" only with @allow_none). */
int zb_pattern_parse (const char *s, int allow_none, Pattern * out);
/* The sequential pattern of every frame of up to @size bytes (free()). */
uint8_t *zb_pattern_table (size_t size);
/* Frame @k (from 0); @seq is zb_pattern_table() for PATTERN_SEQUENTIAL. */
void zb_pattern_fill (uint8_t * dst, size_t size, uint64_t k,
    Pattern pattern, const uint8_t * seq);
/* 1 when frame @k holds @pattern; @seq may be NULL. */
int zb_pattern_verify (const uint8_t * data, size_t size, uint64_t k,
    Pattern pattern, const uint8_t * seq);
/* The reference C++ reader's checksum. */
uint64_t zb_frame_checksum (const uint8_t * data, size_t size);

/* ------------------------------------------------------------------ */
/* The JSON "errors" array: the first MAX_ERRORS messages */

typedef struct
{
  char *items[MAX_ERRORS];
  unsigned int n;
} ErrorList;

void zb_errors_add (ErrorList * e, const char *format, ...)
    __attribute__ ((format (printf, 2, 3)));
/* zb_errors_add() and the same message on stderr (zb_cli_error()). */
void zb_errors_fail (ErrorList * e, const char *cmd, const char *format, ...)
    __attribute__ ((format (printf, 3, 4)));
void zb_errors_json (zb_json * j, const ErrorList * e);
void zb_errors_free (ErrorList * e);

/* ------------------------------------------------------------------ */
/* Options; each returns 0, or -1 after an error message */

/* A getopt_long() result @c that none of the command's own options took:
 * --json-output (sets *@json), -v (*@verbose), -h (prints @usage), else
 * an invalid option. Returns -1 to go on, or the exit status for the
 * command to return: 0 after -h, @usage_exit after an invalid option. */
int zb_stream_opt_common (const char *cmd, int c, char **argv,
    void (*usage) (FILE * out), int usage_exit, int *json, int *verbose);

/* The long options zb_stream_opt_common() takes, and the end of the
 * table. */
#define STREAM_COMMON_LONGOPTS                                        \
  {"json-output", no_argument, NULL, OPT_JSON_OUTPUT},                \
  {"verbose", no_argument, NULL, 'v'},                                \
  {"help", no_argument, NULL, 'h'},                                   \
  {NULL, 0, NULL, 0}

/* A buffer's metadata or payload size (up to 1 TiB, >= @min). */
int zb_stream_opt_buffer_size (const char *cmd, const char *opt,
    const char *arg, uint64_t min, uint64_t * out);
/* -s, --size: bytes per frame. */
int zb_stream_opt_frame_size (const char *cmd, const char *arg,
    uint64_t * out);
/* Milliseconds, -1 for no limit. */
int zb_stream_opt_ms (const char *cmd, const char *opt, const char *arg,
    int *out);
/* --allow-uid: a user name or a numeric uid. */
int zb_stream_opt_uid (const char *cmd, const char *arg, uid_t * out);
/* --mode: octal permissions. */
int zb_stream_opt_mode (const char *cmd, const char *arg, mode_t * out);

/* ------------------------------------------------------------------ */
/* --fanout: write to the readers of NAME and NAME@ID (writer, relay) */

typedef struct
{
  int enabled;                  /* --fanout */
  int given;                    /* another fan-out option was given */
  zb_fanout_policy policy;      /* --policy drop|block */
  long long max_readers;        /* --max-readers, 0: the library's */
  long long min_readers;        /* --min-readers: wait for them first */
} FanoutOpts;

#define FANOUT_DEFAULT_MIN_READERS 1

#define FANOUT_LONGOPTS                                               \
  {"fanout", no_argument, NULL, OPT_FANOUT},                          \
  {"policy", required_argument, NULL, OPT_POLICY},                    \
  {"max-readers", required_argument, NULL, OPT_MAX_READERS},          \
  {"min-readers", required_argument, NULL, OPT_MIN_READERS}

#define FANOUT_USAGE                                                  \
  "      --fanout               write to every reader of NAME and "   \
  "NAME@ID\n"                                                          \
  "      --policy drop|block    full reader: it misses the frame, or " \
  "wait up to\n"                                                       \
  "                             the write timeout (default: drop)\n"  \
  "      --max-readers COUNT    readers served at most (default: "    \
  "16)\n"                                                              \
  "      --min-readers COUNT    wait for COUNT readers first, up to "  \
  "the connect\n"                                                      \
  "                             timeout (default: 1)\n"

void zb_stream_fanout_init (FanoutOpts * o);

/* getopt_long() of the writing commands (writer, relay), opterr off: the
 * fan-out options (into @o, zb_stream_fanout_init()ed) and -n/--frames
 * (into *@frames) are taken here. Returns the next other option (what
 * getopt_long() returns), -1 after the last, or ZB_STREAM_OPT_BAD after
 * an error message (exit with the usage status). */
#define ZB_STREAM_OPT_BAD (-2)
int zb_stream_getopt (const char *cmd, int argc, char **argv,
    const char *shortopts, const struct option *longopts, FanoutOpts * o,
    long long *frames);
/* After the options: 0, or -1 after an error message (a fan-out option
 * without --fanout). */
int zb_stream_fanout_check (const char *cmd, const FanoutOpts * o);
/* Open the fan-out writer of @name and wait up to @timeout_ms (-1: no
 * limit) for o->min_readers readers; "joined"/"left" lines on stdout when
 * @verbose. Returns 0, -ETIMEDOUT (not enough readers; *@f is closed and
 * NULL) or zb_fanout_open()'s error. */
int zb_stream_fanout_open (const char *name, const FanoutOpts * o,
    int write_timeout_ms, uid_t allow_uid, int timeout_ms,
    const char *verbose_tag, zb_fanout ** f);
/* "readers": one object per connected reader (name, pid, frames, drops,
 * bytes, stalled). */
void zb_stream_fanout_json (zb_json * j, zb_fanout * f);

/* ------------------------------------------------------------------ */
/* Reading and writing */

double zb_mib_per_s (uint64_t bytes, double seconds);

/* zb_reader_read() in slices so that a signal ends the wait quickly
 * (-EINTR). @timeout_ms < 0 waits without limit. */
int zb_stream_read (zb_reader * r, int timeout_ms, zb_frame * f);

/* zb_writer_connect(), also waiting out -EPROTO within the connect
 * timeout. */
int zb_stream_connect (const char *name, const zb_writer_config * config,
    zb_writer ** w);

/* How a read loop that stopped with @ret after @count frames ended. */
typedef enum
{
  END_OK,                       /* nothing wrong: the frames asked for, or
                                 * without a count, the writer gone, a
                                 * timeout after the first frame, a signal */
  END_NO_FRAME,                 /* no first frame in time */
  END_SHORT,                    /* fewer than @frames (> 0) frames */
  END_FAILED                    /* a read error */
} EndKind;

EndKind zb_stream_end (int ret, uint64_t count, long long frames);
/* "frame-count", "writer-closed", "writer-died", "timeout", "interrupted"
 * or "error", for the JSON "end_reason". */
const char *zb_stream_end_reason (int ret);

#endif /* ZB_STREAM_H */
