#include "zbtest.h"
static Suite *
s_ (void)
{
  return suite_create ("x");
}

ZBT_MAIN (s_);
