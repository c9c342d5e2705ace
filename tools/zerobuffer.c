/* zerobuffer - command-line tool for ZeroBuffer v1.0 shared-memory buffers
 *
 *   zerobuffer reader NAME [options]     create NAME and read frames
 *   zerobuffer writer NAME [options]     connect to NAME and write frames
 *   zerobuffer relay IN OUT [options]    copy frames from IN to OUT
 *   zerobuffer inspect NAME [options]    show the state of NAME
 *   zerobuffer list [--json]             every buffer in /dev/shm
 *   zerobuffer top [options]             live view of every buffer
 *   zerobuffer clean NAME...|--stale     remove stale buffers
 */

#include "zb-cli.h"

#include <string.h>

/* Unknown subcommand or none: the reference multi-command tool returns 3. */
#define EXIT_BAD_COMMAND 3

static const struct
{
  const char *name;
  int (*run) (int argc, char **argv);
  const char *summary;
} commands[] = {
  {"reader", zb_cmd_reader, "create a buffer and read frames from it"},
  {"writer", zb_cmd_writer, "connect to a buffer and write frames"},
  {"relay", zb_cmd_relay, "read frames from one buffer, write to another"},
  {"inspect", zb_cmd_inspect, "show the state of a buffer"},
  {"list", zb_cmd_list, "list buffers and orphaned objects in /dev/shm"},
  {"top", zb_cmd_top, "live view of every buffer: rates, fill, peers"},
  {"clean", zb_cmd_clean, "remove stale buffers (never a live one)"},
};

static void
usage (FILE * out)
{
  size_t i;

  fputs ("Usage: zerobuffer COMMAND [options]\n\nCommands:\n", out);
  for (i = 0; i < sizeof (commands) / sizeof (commands[0]); i++)
    fprintf (out, "  %-9s %s\n", commands[i].name, commands[i].summary);
  fputs ("\n'zerobuffer COMMAND --help' describes each command.\n", out);
  fprintf (out, "Protocol version %d.%d.%d.\n", ZB_VERSION_MAJOR,
      ZB_VERSION_MINOR, ZB_VERSION_PATCH);
}

int
main (int argc, char **argv)
{
  const char *base = argv[0] ? strrchr (argv[0], '/') : NULL;
  size_t i;

  /* Installed as zerobuffer-test-reader, -writer, -relay too: the names of
   * the reference test applications, so that their scripts run as is. */
  base = base ? base + 1 : argv[0];
  if (base && strncmp (base, "zerobuffer-test-", 16) == 0) {
    for (i = 0; i < 3; i++) {
      if (strcmp (base + 16, commands[i].name) == 0)
        return commands[i].run (argc, argv);
    }
  }

  if (argc < 2) {
    zb_cli_error (NULL, "missing command (try 'zerobuffer --help')");
    return EXIT_BAD_COMMAND;
  }
  if (strcmp (argv[1], "-h") == 0 || strcmp (argv[1], "--help") == 0
      || strcmp (argv[1], "help") == 0) {
    usage (stdout);
    return 0;
  }
  if (strcmp (argv[1], "--version") == 0) {
    printf ("zerobuffer %d.%d.%d\n", ZB_VERSION_MAJOR, ZB_VERSION_MINOR,
        ZB_VERSION_PATCH);
    return 0;
  }
  for (i = 0; i < sizeof (commands) / sizeof (commands[0]); i++) {
    if (strcmp (argv[1], commands[i].name) == 0)
      return commands[i].run (argc - 1, argv + 1);
  }
  zb_cli_error (NULL, "unknown command '%s' (try 'zerobuffer --help')",
      argv[1]);
  return EXIT_BAD_COMMAND;
}
