/*
 * helpers.h - what the engine's unit tests share: a fresh data directory
 * per test, opening an engine with the test's types, and waiting for a
 * condition with a deadline instead of sleeping.
 */
#ifndef T_HELPERS_H
#define T_HELPERS_H

#include "eng.h"
#include "eng_int.h"

#include <check.h>

/* A new empty directory under /tmp; the path is static per process. */
const char *t_tmpdir(void);
void t_rmrf(const char *dir);
/* Opens an engine on DIR, calls reg(e) and starts it; fails the test on
 * error. */
eng *t_open(const char *dir, int (*reg)(eng *e), int durability);
/* Polls cond(ud) every 2 ms until it holds or ms pass; returns cond's last
 * value. */
int t_wait(int (*cond)(void *ud), void *ud, int ms);
/* The status field of the actor's status JSON ("" on error). */
const char *t_status(eng *e, const char *type, const char *key, char *buf,
                     size_t len);
/* A field of state.json as a number (-1 if absent). */
double t_state_num(eng *e, const char *type, const char *key,
                   const char *field);
int64_t t_count(eng *e, const char *table);
/* Enqueues a JSON text; fails the test unless the result is want. */
void t_enqueue(eng *e, const char *type, const char *key, const char *queue,
               const char *body, const char *idem, int want);
/* Lines in a file (0 if missing). */
int t_lines(const char *path);
void t_append_line(const char *path, const char *line);

#endif
