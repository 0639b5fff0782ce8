/*
 * bench_util.h - what the C benchmarks (idle, recovery, replay) share: a
 * monotonic clock, the process's RSS, percentiles, one JSON result line,
 * and a tracker that learns from the engine's change notifications which
 * actors' state has changed, so that a benchmark waits on a condition
 * variable with a deadline instead of polling or sleeping.
 */
#ifndef BENCH_UTIL_H
#define BENCH_UTIL_H

#include "eng.h"

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

int64_t bench_now_ns(void);
/* Resident set size of this process in KiB, or -errno. */
long bench_rss_kb(void);
/* Bytes the allocator has handed out and not had back (mallinfo2). */
size_t bench_heap_bytes(void);
/* The p-th percentile (0..100) of v[0..n), which it sorts. */
double bench_percentile(double *v, size_t n, double p);
/* Makes a fresh directory under $TMPDIR (or /tmp) into buf; -errno. */
int bench_tmpdir(char *buf, size_t len, const char *tag);
/* Removes a directory tree; -errno of the first failure. */
int bench_rmtree(const char *path);
/* Prints "message: strerror(-rc)" to stderr and exits 111. */
void bench_die(int rc, const char *what) __attribute__((noreturn));

/* Calls fn(i, ud) for i in 0..n-1 from nthreads threads, so that the
 * engine can group their commits; returns 0 or the first -errno. */
typedef int (*bench_item_fn)(long i, void *ud);
int bench_parallel(long n, int nthreads, bench_item_fn fn, void *ud);

/* Actors named "PREFIX<index>" for index 0..n-1; counts ENG_EV_STATE per
 * actor.  Install with eng_watch(e, bench_track_cb, t). */
typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    const char *type;
    const char *prefix;
    size_t n;
    uint32_t *changes; /* per actor */
    size_t touched;    /* actors with at least one change */
} bench_track;

int bench_track_init(bench_track *t, const char *type, const char *prefix,
                     size_t n);
void bench_track_fini(bench_track *t);
void bench_track_cb(const eng_event *ev, void *ud);
/* Waits until actor i has changed more than `seen` times; returns the new
 * count, or -ETIMEDOUT at the deadline (bench_now_ns() clock). */
long bench_track_wait_one(bench_track *t, size_t i, uint32_t seen,
                          int64_t deadline_ns);
/* Waits until `want` actors have changed at least once, or -ETIMEDOUT. */
int bench_track_wait_touched(bench_track *t, size_t want, int64_t deadline_ns);
uint32_t bench_track_changes(bench_track *t, size_t i);

#endif
