/* Fault injection for tests/fault/test-steps.c: the ZB_FAULT (STEP) points
 * of a library built with ZB_FAULT_INJECTION call this. */

#include "zb-private.h"

#include <signal.h>
#include <string.h>

void zbfault_arm (const char *step, long count);

static const char *armed_step;
static long armed_count;

/* Die by SIGKILL on the @count-th pass through @step (in this process). */
void
zbfault_arm (const char *step, long count)
{
  armed_step = step;
  armed_count = count;
}

void
zb_fault_point (const char *step)
{
  if (armed_step != NULL && strcmp (step, armed_step) == 0
      && --armed_count == 0)
    raise (SIGKILL);
}
