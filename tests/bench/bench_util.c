/*
 * bench_util.c - the helpers of bench_util.h.  The tracker is fed by the
 * engine's single watcher callback, on an engine thread that must not
 * block: it takes a mutex only long enough to count and signal.
 */
#include "bench_util.h"

#include <errno.h>
#include <ftw.h>
#include <malloc.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

long bench_rss_kb(void)
{
    FILE *f = fopen("/proc/self/status", "re");
    if (f == NULL)
        return -errno;
    char line[256];
    long kb = -ENOENT;
    while (fgets(line, sizeof line, f) != NULL) {
        if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
            break;
    }
    fclose(f);
    return kb;
}

size_t bench_heap_bytes(void)
{
    struct mallinfo2 mi = mallinfo2();
    return mi.uordblks + mi.hblkhd;
}

static int bench__cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double bench_percentile(double *v, size_t n, double p)
{
    if (n == 0)
        return 0;
    qsort(v, n, sizeof *v, bench__cmp_double);
    size_t i = (size_t)(p / 100.0 * (double)(n - 1) + 0.5);
    return v[i < n ? i : n - 1];
}

int bench_tmpdir(char *buf, size_t len, const char *tag)
{
    const char *base = getenv("TMPDIR");
    int n = snprintf(buf, len, "%s/actorfs-bench-%s-XXXXXX",
                     base != NULL && *base != '\0' ? base : "/tmp", tag);
    if (n < 0 || (size_t)n >= len)
        return -ENAMETOOLONG;
    return mkdtemp(buf) != NULL ? 0 : -errno;
}

static int bench__rm_one(const char *path, const struct stat *st, int flag,
                         struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path) == 0 ? 0 : -errno;
}

int bench_rmtree(const char *path)
{
    int rc = nftw(path, bench__rm_one, 16, FTW_DEPTH | FTW_PHYS);
    return rc < 0 ? -errno : rc;
}

void bench_die(int rc, const char *what)
{
    fprintf(stderr, "%s: %s\n", what, strerror(rc < 0 ? -rc : rc));
    exit(111);
}

typedef struct {
    long n;
    bench_item_fn fn;
    void *ud;
    atomic_long next;
    atomic_int rc;
} bench__par;

static void *bench__par_main(void *arg)
{
    bench__par *p = arg;
    for (;;) {
        long i = atomic_fetch_add(&p->next, 1);
        if (i >= p->n || atomic_load(&p->rc) != 0)
            return NULL;
        int rc = p->fn(i, p->ud);
        if (rc < 0) {
            int zero = 0;
            atomic_compare_exchange_strong(&p->rc, &zero, rc);
        }
    }
}

int bench_parallel(long n, int nthreads, bench_item_fn fn, void *ud)
{
    bench__par p = {.n = n, .fn = fn, .ud = ud};
    atomic_init(&p.next, 0);
    atomic_init(&p.rc, 0);
    pthread_t thr[64];
    if (nthreads < 1)
        nthreads = 1;
    if (nthreads > 64)
        nthreads = 64;
    int started = 0;
    for (; started < nthreads; started++) {
        int rc = pthread_create(&thr[started], NULL, bench__par_main, &p);
        if (rc != 0) {
            int zero = 0;
            atomic_compare_exchange_strong(&p.rc, &zero, -rc);
            break;
        }
    }
    for (int i = 0; i < started; i++)
        pthread_join(thr[i], NULL);
    return atomic_load(&p.rc);
}

int bench_track_init(bench_track *t, const char *type, const char *prefix,
                     size_t n)
{
    memset(t, 0, sizeof *t);
    t->changes = calloc(n, sizeof *t->changes);
    if (t->changes == NULL)
        return -ENOMEM;
    int rc = pthread_mutex_init(&t->mu, NULL);
    if (rc != 0) {
        free(t->changes);
        return -rc;
    }
    pthread_condattr_t ca;
    if ((rc = pthread_condattr_init(&ca)) != 0 ||
        (rc = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC)) != 0 ||
        (rc = pthread_cond_init(&t->cv, &ca)) != 0) {
        pthread_mutex_destroy(&t->mu);
        free(t->changes);
        return -rc;
    }
    pthread_condattr_destroy(&ca);
    t->type = type;
    t->prefix = prefix;
    t->n = n;
    return 0;
}

void bench_track_fini(bench_track *t)
{
    pthread_cond_destroy(&t->cv);
    pthread_mutex_destroy(&t->mu);
    free(t->changes);
    t->changes = NULL;
}

void bench_track_cb(const eng_event *ev, void *ud)
{
    bench_track *t = ud;
    if (ev->kind != ENG_EV_STATE || ev->type == NULL || ev->key == NULL ||
        strcmp(ev->type, t->type) != 0)
        return;
    size_t plen = strlen(t->prefix);
    if (strncmp(ev->key, t->prefix, plen) != 0)
        return;
    char *end;
    unsigned long i = strtoul(ev->key + plen, &end, 10);
    if (*end != '\0' || end == ev->key + plen || i >= t->n)
        return;
    pthread_mutex_lock(&t->mu);
    if (t->changes[i]++ == 0)
        t->touched++;
    pthread_cond_broadcast(&t->cv);
    pthread_mutex_unlock(&t->mu);
}

static int bench__wait(bench_track *t, int64_t deadline_ns)
{
    struct timespec ts = {.tv_sec = deadline_ns / 1000000000,
                          .tv_nsec = deadline_ns % 1000000000};
    return pthread_cond_timedwait(&t->cv, &t->mu, &ts);
}

long bench_track_wait_one(bench_track *t, size_t i, uint32_t seen,
                          int64_t deadline_ns)
{
    long rc = 0;
    pthread_mutex_lock(&t->mu);
    while (t->changes[i] <= seen) {
        if (bench__wait(t, deadline_ns) == ETIMEDOUT) {
            rc = -ETIMEDOUT;
            break;
        }
    }
    if (rc == 0)
        rc = t->changes[i];
    pthread_mutex_unlock(&t->mu);
    return rc;
}

int bench_track_wait_touched(bench_track *t, size_t want, int64_t deadline_ns)
{
    int rc = 0;
    pthread_mutex_lock(&t->mu);
    while (t->touched < want) {
        if (bench__wait(t, deadline_ns) == ETIMEDOUT) {
            rc = -ETIMEDOUT;
            break;
        }
    }
    pthread_mutex_unlock(&t->mu);
    return rc;
}

uint32_t bench_track_changes(bench_track *t, size_t i)
{
    pthread_mutex_lock(&t->mu);
    uint32_t c = t->changes[i];
    pthread_mutex_unlock(&t->mu);
    return c;
}
