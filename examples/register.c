/*
 * register.c - the workflows compiled into actorfs.  The daemon calls
 * examples_register before the --load plugins, so a plugin registering
 * the same type name replaces the compiled-in one.
 */
#include "examples.h"

int examples_register(eng *e)
{
    int rc = counter_register(e);
    if (rc == 0)
        rc = bugFixer_register(e);
    if (rc == 0)
        rc = codeReviewer_register(e);
    return rc;
}
