/*
 * idle.c - what an idle actor costs: N counter actors (examples/counter,
 * whose loop waits on queue "add") are created and left parked, then the
 * process's RSS growth is divided by N; then W random ones are woken by an
 * enqueue and timed until their state changes (the engine's ENG_EV_STATE
 * notification), which includes replaying an evicted actor.
 *
 * RSS is taken twice: as soon as every actor is parked, and after
 * --settle seconds more, because the engine evicts an actor only once it
 * has been idle a while (30 s); no API tells when that has happened, so
 * this one wait is a fixed time, not a condition.
 *
 *   idle [--actors N] [--wakes W] [--settle S] [--durability full|normal]
 *        [--data DIR]
 *
 * Prints one JSON line; exits 0, 100 on bad usage, 111 on a failure
 * (every wake must be seen, or the run fails).
 */
#include "bench_util.h"
#include "examples.h"

#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define IDLE_DEADLINE_NS (600LL * 1000000000)
#define IDLE_WAKE_DEADLINE_NS (10LL * 1000000000)
#define IDLE_CREATORS 8

typedef struct {
    long actors;
    long wakes;
    long settle;
    int durability;
    const char *data;
} idle_opts;

static void idle_usage(void)
{
    fprintf(stderr, "usage: idle [--actors N] [--wakes W] [--settle S] "
                    "[--durability full|normal] [--data DIR]\n");
    exit(100);
}

static void idle_parse(int argc, char **argv, idle_opts *o)
{
    static const struct option lo[] = {
        {"actors", required_argument, NULL, 'a'},
        {"wakes", required_argument, NULL, 'w'},
        {"settle", required_argument, NULL, 's'},
        {"durability", required_argument, NULL, 'd'},
        {"data", required_argument, NULL, 'D'},
        {NULL, 0, NULL, 0},
    };
    *o = (idle_opts){.actors = 100000, .wakes = 1000,
                     .durability = ENG_DURABILITY_NORMAL};
    int ch;
    while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (ch) {
        case 'a': o->actors = strtol(optarg, NULL, 10); break;
        case 'w': o->wakes = strtol(optarg, NULL, 10); break;
        case 's': o->settle = strtol(optarg, NULL, 10); break;
        case 'd':
            if (strcmp(optarg, "full") == 0)
                o->durability = ENG_DURABILITY_FULL;
            else if (strcmp(optarg, "normal") == 0)
                o->durability = ENG_DURABILITY_NORMAL;
            else
                idle_usage();
            break;
        case 'D': o->data = optarg; break;
        default: idle_usage();
        }
    }
    if (optind != argc || o->actors < 1 || o->wakes < 1 || o->settle < 0 ||
        o->actors > 10000000)
        idle_usage();
}

static void idle_key(char *buf, size_t len, long i)
{
    snprintf(buf, len, "i%ld", i);
}

/* Creates counter@i<i>; several threads at once, so commits group. */
static int idle_create(long i, void *ud)
{
    char key[32], err[512] = "";
    idle_key(key, sizeof key, i);
    int rc = eng_actor_create(ud, "counter", key, err, sizeof err);
    if (rc < 0)
        fprintf(stderr, "idle: create counter@%s: %s\n", key, err);
    return rc;
}

/* Polls each actor's status until it is parked on its queue: the engine
 * gives no "all idle" signal, so this is a condition with a deadline. */
static void idle_wait_parked(eng *e, long n, int64_t deadline)
{
    struct timespec pause = {0, 1000000};
    for (long i = 0; i < n; i++) {
        char key[32];
        idle_key(key, sizeof key, i);
        for (;;) {
            char *json;
            size_t len;
            int rc = eng_status_json(e, "counter", key, &json, &len);
            if (rc < 0)
                bench_die(rc, "status");
            int parked = strstr(json, "\"waiting\"") != NULL;
            free(json);
            if (parked)
                break;
            if (bench_now_ns() > deadline) {
                fprintf(stderr, "idle: counter@%s never parked\n", key);
                exit(111);
            }
            nanosleep(&pause, NULL);
        }
    }
}

int main(int argc, char **argv)
{
    idle_opts o;
    idle_parse(argc, argv, &o);

    char dir[4096];
    int rc = 0;
    if (o.data == NULL && (rc = bench_tmpdir(dir, sizeof dir, "idle")) < 0)
        bench_die(rc, "mkdtemp");
    eng_config cfg = {.data_dir = o.data != NULL ? o.data : dir,
                      .durability = o.durability};
    char err[512] = "";
    eng *e;
    if ((rc = eng_open(&cfg, &e, err, sizeof err)) < 0) {
        fprintf(stderr, "idle: eng_open: %s\n", err);
        return 111;
    }
    if ((rc = counter_register(e)) < 0)
        bench_die(rc, "counter_register");
    bench_track t;
    if ((rc = bench_track_init(&t, "counter", "i", (size_t)o.actors)) < 0)
        bench_die(rc, "tracker");
    eng_watch(e, bench_track_cb, &t);
    if ((rc = eng_start(e, err, sizeof err)) < 0) {
        fprintf(stderr, "idle: eng_start: %s\n", err);
        return 111;
    }
    long rss0 = bench_rss_kb();

    int64_t t0 = bench_now_ns();
    if ((rc = bench_parallel(o.actors, IDLE_CREATORS, idle_create, e)) < 0)
        return 111;
    int64_t t1 = bench_now_ns();
    idle_wait_parked(e, o.actors, t1 + IDLE_DEADLINE_NS);
    int64_t t2 = bench_now_ns();
    long rss_parked = bench_rss_kb();
    size_t heap_parked = bench_heap_bytes();
    struct timespec settle = {o.settle, 0};
    while (nanosleep(&settle, &settle) < 0 && errno == EINTR)
        ;
    long rss1 = bench_rss_kb();
    size_t heap1 = bench_heap_bytes();
    /* A diagnostic for the engine's owners, not the figure: how much of
     * RSS is memory the engine has freed but malloc still holds. */
    malloc_trim(0);
    long rss_trim = bench_rss_kb();

    double *lat = calloc((size_t)o.wakes, sizeof *lat);
    if (lat == NULL)
        bench_die(-ENOMEM, "calloc");
    unsigned seed = 7;
    for (long w = 0; w < o.wakes; w++) {
        long i = rand_r(&seed) % o.actors;
        char key[32];
        idle_key(key, sizeof key, i);
        uint32_t seen = bench_track_changes(&t, (size_t)i);
        int64_t s = bench_now_ns();
        if ((rc = eng_enqueue(e, "counter", key, "add", "{\"n\":1}", 7, NULL,
                              NULL, err, sizeof err)) < 0) {
            fprintf(stderr, "idle: enqueue to counter@%s: %s\n", key, err);
            return 111;
        }
        long c = bench_track_wait_one(&t, (size_t)i, seen,
                                      bench_now_ns() + IDLE_WAKE_DEADLINE_NS);
        if (c < 0) {
            fprintf(stderr, "idle: counter@%s did not wake within 10 s\n", key);
            return 111;
        }
        lat[w] = (double)(bench_now_ns() - s) / 1e6;
    }
    double p50 = bench_percentile(lat, (size_t)o.wakes, 50);
    double p99 = bench_percentile(lat, (size_t)o.wakes, 99);
    free(lat);

    printf("{\"bench\":\"idle\",\"actors\":%ld,\"durability\":\"%s\","
           "\"rss_base_kb\":%ld,\"rss_parked_kb\":%ld,\"settle_s\":%ld,"
           "\"rss_kb\":%ld,\"rss_mb\":%.1f,\"heap_parked_mb\":%.1f,"
           "\"heap_mb\":%.1f,\"rss_after_trim_kb\":%ld,"
           "\"bytes_per_actor\":%.0f,\"create_s\":%.2f,\"park_s\":%.2f,"
           "\"wakes\":%ld,\"wake_p50_ms\":%.3f,\"wake_p99_ms\":%.3f}\n",
           o.actors, o.durability == ENG_DURABILITY_FULL ? "full" : "normal",
           rss0, rss_parked, o.settle, rss1, (double)rss1 / 1024.0,
           (double)heap_parked / 1048576.0, (double)heap1 / 1048576.0, rss_trim,
           (double)(rss1 - rss0) * 1024.0 / (double)o.actors,
           (double)(t1 - t0) / 1e9, (double)(t2 - t1) / 1e9, o.wakes, p50, p99);
    fflush(stdout);
    eng_close(e);
    bench_track_fini(&t);
    if (o.data == NULL && (rc = bench_rmtree(dir)) < 0)
        bench_die(rc, dir);
    return 0;
}
