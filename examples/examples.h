/*
 * examples.h - the workflows compiled into actorfs: counter (the hello
 * world), bugFixer and codeReviewer (the seed's two).  They use only the
 * public workflow API (eng.h); each also builds as a --load plugin.
 */
#ifndef EXAMPLES_H
#define EXAMPLES_H

#include "eng.h"

int counter_register(eng *e);
int bugFixer_register(eng *e);
int codeReviewer_register(eng *e);
/* All of the above. */
int examples_register(eng *e);

#endif
