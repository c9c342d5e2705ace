/* zerobuffer command-line tool - shared helpers */

#ifndef ZB_CLI_H
#define ZB_CLI_H

#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <zerobuffer/zerobuffer.h>

/* Where the reference implementations put the OS objects (Linux). */
#define ZB_CLI_SHM_DIR "/dev/shm"
#define ZB_CLI_LOCK_DIR "/tmp/zerobuffer"

/* Set by SIGINT, SIGTERM and SIGHUP once zb_cli_catch_signals() ran. */
extern volatile sig_atomic_t zb_cli_stop;

void zb_cli_catch_signals (void);

/* "zerobuffer CMD: message" on stderr, one line. */
void zb_cli_error (const char *cmd, const char *format, ...)
    __attribute__ ((format (printf, 2, 3)));
void zb_cli_error_va (const char *cmd, const char *format, va_list args)
    __attribute__ ((format (printf, 2, 0)));

/* After getopt_long() (with opterr = 0) returned '?' or ':': the error
 * message for the option it refused; returns @exit_code. */
int zb_cli_bad_option (const char *cmd, char **argv, int exit_code);
/* After the options: the one buffer name, or NULL after an error message
 * when it is missing or followed by another argument. */
const char *zb_cli_one_name (const char *cmd, int argc, char **argv);
/* zb_name_check() with an error message: 0, or -1. */
int zb_cli_check_name (const char *cmd, const char *name);
/* Integer option @opt >= @min: 0, or -1 after an error message. */
int zb_cli_opt_count (const char *cmd, const char *opt, const char *arg,
    long long min, long long *out);

/* Strict number parsing; 0 on success, -1 when @s is not a valid value. */
int zb_cli_parse_int (const char *s, long long min, long long max,
    long long *out);
/* Byte counts with an optional binary suffix: K, KB, KiB, M, MB, MiB, G... */
int zb_cli_parse_size (const char *s, uint64_t min, uint64_t max,
    uint64_t * out);
/* Seconds, fractional allowed ("0.5"); > 0. */
int zb_cli_parse_seconds (const char *s, double *out);

int64_t zb_cli_now_us (void);
void zb_cli_sleep_ms (double ms);

/* Minimal JSON emitter: pretty (2-space indent) or compact on one line. */
typedef struct
{
  FILE *out;
  int pretty;
  int depth;
  int first[32];
} zb_json;

void zb_json_init (zb_json * j, FILE * out, int pretty);
void zb_json_begin_object (zb_json * j, const char *key);
void zb_json_end_object (zb_json * j);
void zb_json_begin_array (zb_json * j, const char *key);
void zb_json_end_array (zb_json * j);
void zb_json_string (zb_json * j, const char *key, const char *value);
void zb_json_string_len (zb_json * j, const char *key, const char *value,
    size_t len);
void zb_json_uint (zb_json * j, const char *key, uint64_t value);
void zb_json_int (zb_json * j, const char *key, int64_t value);
void zb_json_double (zb_json * j, const char *key, double value);
void zb_json_bool (zb_json * j, const char *key, int value);
void zb_json_null (zb_json * j, const char *key);
/* Ends the document with a newline and flushes. */
void zb_json_finish (zb_json * j);

/* Printable copy of @len bytes: non-printable ASCII becomes '.', at most
 * @out_size - 1 characters. */
void zb_cli_printable (char *out, size_t out_size, const void *data,
    size_t len);

/* Subcommands; each returns the process exit status. */
int zb_cmd_reader (int argc, char **argv);
int zb_cmd_writer (int argc, char **argv);
int zb_cmd_relay (int argc, char **argv);
int zb_cmd_inspect (int argc, char **argv);
int zb_cmd_list (int argc, char **argv);
int zb_cmd_top (int argc, char **argv);
int zb_cmd_clean (int argc, char **argv);

#endif /* ZB_CLI_H */
