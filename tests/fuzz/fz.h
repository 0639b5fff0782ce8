/*
 * fz.h - the engine every libFuzzer target drives: one per process, on a
 * temporary data dir, with a type "fz" whose queue "q" declares fields of
 * every JSON type and whose action "echo" takes arguments.  Made on first
 * use, closed and removed at exit so LeakSanitizer sees a clean shutdown.
 */
#ifndef FZ_H
#define FZ_H

#include "eng.h"

#include <stddef.h>
#include <stdint.h>

eng *fz_engine(void);
/* Opens, registers "fz" and starts an engine on DIR (for targets that
 * need a fresh engine per input). */
int fz_open(const char *dir, eng **out, char *err, size_t errlen);
void fz_rmtree(const char *dir);
/* A NUL-terminated copy of the input (the engine's string APIs take C
 * strings); the caller frees it. */
char *fz_cstr(const uint8_t *data, size_t size);
/* Stops the process with a message libFuzzer reports as a crash. */
void fz_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
