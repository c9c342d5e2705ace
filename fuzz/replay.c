/* Runs a fuzz target over files, without libFuzzer: the regression test
 * that replays the seed corpus and every crash found so far. */

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput (const uint8_t * data, size_t size);

static int
run_file (const char *path)
{
  FILE *f = fopen (path, "rb");
  uint8_t *buf;
  long n;

  if (f == NULL) {
    perror (path);
    return 1;
  }
  fseek (f, 0, SEEK_END);
  n = ftell (f);
  fseek (f, 0, SEEK_SET);
  buf = malloc (n > 0 ? n : 1);
  if (buf == NULL || fread (buf, 1, n, f) != (size_t) n) {
    fclose (f);
    free (buf);
    return 1;
  }
  fclose (f);
  LLVMFuzzerTestOneInput (buf, n);
  free (buf);
  return 0;
}

int
main (int argc, char **argv)
{
  int i, files = 0, failed = 0;

  for (i = 1; i < argc; i++) {
    struct stat st;
    DIR *d;
    struct dirent *e;

    if (stat (argv[i], &st) < 0 || !S_ISDIR (st.st_mode)) {
      failed |= run_file (argv[i]);
      files++;
      continue;
    }
    d = opendir (argv[i]);
    while (d != NULL && (e = readdir (d)) != NULL) {
      char path[4096];

      if (e->d_name[0] == '.')
        continue;
      snprintf (path, sizeof (path), "%s/%s", argv[i], e->d_name);
      failed |= run_file (path);
      files++;
    }
    if (d != NULL)
      closedir (d);
  }
  printf ("%d inputs replayed\n", files);
  return failed || files == 0;
}
