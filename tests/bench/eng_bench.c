/*
 * eng_bench.c - the engine's own benchmark, through the C API only.
 *
 * A loop of queue_next + 3 no-op steps + 1 state step (RivetKit's
 * queue.next + 4 steps), fed 1,000 messages, for each durability (full,
 * normal) and for 1 actor and for 100 actors (10 messages each).  It
 * prints a table and, for scripts/bench, one JSON line per row:
 * messages/s, ms per step, and journal bytes per step: the growth of the
 * database and its WAL divided by the steps (the WAL is reused after each
 * checkpoint, so this is a bound on disk use), and the bytes this process
 * wrote to storage per step (/proc/self/io write_bytes: WAL frames and
 * checkpoints, what the disk really sees).  Not a ctest test.
 *
 *   eng_bench [--messages N] [--durability full|normal] [--actors 1|100]
 *   eng_bench --enqueue [--messages N] [--durability full|normal]
 *
 * --durability and --actors keep only the rows asked for (to profile one).
 * --enqueue instead times one caller's eng_enqueue calls (latency
 * percentiles) into an actor of a type with a queue and no workflow: the
 * engine's share of `echo > queues/in/new`, with no FUSE around it.
 */
#include "eng.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <ftw.h>

#define STEPS_PER_MSG 4

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static long states;

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int noop(eng_sctx *s, const cJSON *in, cJSON **out)
{
    (void)s;
    (void)in;
    *out = NULL;
    return 0;
}

static int bump(eng_sctx *s, const cJSON *in, cJSON **out)
{
    (void)in;
    cJSON *st = eng_sctx_state(s);
    cJSON *n = cJSON_GetObjectItem(st, "n");
    cJSON_SetNumberValue(n, n->valuedouble + 1);
    *out = NULL;
    return 0;
}

static int body(eng_ctx *c, void *arg)
{
    (void)arg;
    const cJSON *m;
    ENG_TRY(eng_queue_next(c, "wait", "q", -1, &m));
    ENG_TRY(eng_step(c, "s1", noop, NULL, NULL, NULL));
    ENG_TRY(eng_step(c, "s2", noop, NULL, NULL, NULL));
    ENG_TRY(eng_step(c, "s3", noop, NULL, NULL, NULL));
    return eng_step(c, "state", bump, NULL, NULL, NULL);
}

static int run(eng_ctx *c)
{
    return eng_loop(c, "L", body, NULL);
}

static void on_change(const eng_event *ev, void *ud)
{
    (void)ud;
    if (ev->kind != ENG_EV_STATE)
        return;
    pthread_mutex_lock(&mu);
    states++;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
}

static const eng_queue_def queues[] = {{"q", NULL, 0}};

struct feeder {
    eng *e;
    int first, count, actors;
};

static void *feed(void *arg)
{
    struct feeder *f = arg;
    for (int i = f->first; i < f->first + f->count; i++) {
        char key[32], err[256];
        snprintf(key, sizeof key, "a%d", i % f->actors);
        int rc = eng_enqueue(f->e, "b", key, "q", "{\"x\":1}", 7, NULL, NULL,
                             err, sizeof err);
        if (rc < 0) {
            fprintf(stderr, "eng_bench: enqueue: %s\n", err);
            exit(111);
        }
    }
    return NULL;
}

static off_t fsize(const char *dir, const char *name)
{
    char p[512];
    struct stat st;
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return stat(p, &st) == 0 ? st.st_size : 0;
}

static int rm_one(const char *p, const struct stat *sb, int flag,
                  struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

/* Every actor parked on its first queue wait, so only the messages are
 * timed. */
static void wait_all_waiting(eng *e, int actors)
{
    int64_t deadline = now_ns() + 60 * (int64_t)1000000000;
    for (int i = 0; i < actors; i++) {
        char key[32];
        snprintf(key, sizeof key, "a%d", i);
        for (;;) {
            char *json;
            size_t n;
            int ok = eng_status_json(e, "b", key, &json, &n) == 0 &&
                     strstr(json, "\"waiting\"");
            if (ok || now_ns() > deadline) {
                if (ok)
                    free(json);
                break;
            }
            free(json);
            usleep(1000);
        }
    }
}

struct result {
    double msgs_per_s, ms_per_step, bytes_per_step, written_per_step, secs;
};

static long long written_bytes(void)
{
    FILE *f = fopen("/proc/self/io", "r");
    char line[128];
    long long v = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "write_bytes: %lld", &v) == 1)
            break;
    if (f)
        fclose(f);
    return v;
}

static struct result one(int durability, int actors, int messages)
{
    char dir[] = "/tmp/eng-bench-XXXXXX";
    if (!mkdtemp(dir)) {
        perror("eng_bench: mkdtemp");
        exit(111);
    }
    eng_config cfg = {.data_dir = dir, .durability = durability};
    eng *e;
    char err[256];
    if (eng_open(&cfg, &e, err, sizeof err) < 0) {
        fprintf(stderr, "eng_bench: %s\n", err);
        exit(111);
    }
    eng_type t = {.name = "b", .initial_state = "{\"n\":0}", .queues = queues,
                  .nqueues = 1, .run = run, .no_default_instance = 1};
    eng_register(e, &t);
    eng_watch(e, on_change, NULL);
    if (eng_start(e, err, sizeof err) < 0) {
        fprintf(stderr, "eng_bench: %s\n", err);
        exit(111);
    }
    for (int i = 0; i < actors; i++) {
        char key[32];
        snprintf(key, sizeof key, "a%d", i);
        if (eng_actor_create(e, "b", key, err, sizeof err) < 0) {
            fprintf(stderr, "eng_bench: %s\n", err);
            exit(111);
        }
    }
    wait_all_waiting(e, actors);
    off_t before = fsize(dir, "actorfs.db") + fsize(dir, "actorfs.db-wal");
    long long wr0 = written_bytes();
    pthread_mutex_lock(&mu);
    states = 0;
    pthread_mutex_unlock(&mu);

    int64_t t0 = now_ns();
    enum { FEEDERS = 4 };
    pthread_t th[FEEDERS];
    struct feeder f[FEEDERS];
    for (int i = 0; i < FEEDERS; i++) {
        f[i] = (struct feeder){e, i * messages / FEEDERS, messages / FEEDERS,
                               actors};
        pthread_create(&th[i], NULL, feed, &f[i]);
    }
    for (int i = 0; i < FEEDERS; i++)
        pthread_join(th[i], NULL);
    pthread_mutex_lock(&mu);
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += 600;
    while (states < messages)
        if (pthread_cond_timedwait(&cv, &mu, &dl) == ETIMEDOUT)
            break;
    long done = states;
    pthread_mutex_unlock(&mu);
    int64_t t1 = now_ns();
    if (done < messages) {
        fprintf(stderr, "eng_bench: only %ld of %d messages processed\n", done,
                messages);
        exit(1);
    }
    off_t after = fsize(dir, "actorfs.db") + fsize(dir, "actorfs.db-wal");
    long long wr1 = written_bytes();
    eng_close(e);
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);

    struct result r;
    r.secs = (double)(t1 - t0) / 1e9;
    r.msgs_per_s = messages / r.secs;
    r.ms_per_step = r.secs * 1000 / ((double)messages * STEPS_PER_MSG);
    r.bytes_per_step = (double)(after - before) / ((double)messages * STEPS_PER_MSG);
    r.written_per_step = wr0 < 0 || wr1 < 0 ? -1
                         : (double)(wr1 - wr0) / ((double)messages * STEPS_PER_MSG);
    return r;
}

static const eng_queue_def sink_queues[] = {{"in", NULL, 0}};

static int cmp_ns(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static void enqueue_latency(const char *name, int durability, int messages)
{
    char dir[] = "/tmp/eng-bench-XXXXXX";
    if (!mkdtemp(dir)) {
        perror("eng_bench: mkdtemp");
        exit(111);
    }
    eng_config cfg = {.data_dir = dir, .durability = durability};
    eng *e;
    char err[256];
    eng_type t = {.name = "sink", .initial_state = "{}", .queues = sink_queues,
                  .nqueues = 1, .no_default_instance = 1};
    if (eng_open(&cfg, &e, err, sizeof err) < 0 || eng_register(e, &t) < 0 ||
        eng_start(e, err, sizeof err) < 0 ||
        eng_actor_create(e, "sink", "k", err, sizeof err) < 0) {
        fprintf(stderr, "eng_bench: %s\n", err);
        exit(111);
    }
    int64_t *ns = malloc(sizeof *ns * (size_t)messages);
    if (!ns)
        exit(111);
    for (int i = 0; i < messages; i++) {
        int64_t t0 = now_ns();
        if (eng_enqueue(e, "sink", "k", "in", "{\"x\":1}\n", 8, NULL, NULL,
                        err, sizeof err) < 0) {
            fprintf(stderr, "eng_bench: enqueue: %s\n", err);
            exit(111);
        }
        ns[i] = now_ns() - t0;
    }
    eng_close(e);
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    qsort(ns, (size_t)messages, sizeof *ns, cmp_ns);
    double p50 = ns[messages / 2] / 1e3, p90 = ns[messages * 9 / 10] / 1e3,
           p99 = ns[messages * 99 / 100] / 1e3;
    free(ns);
    printf("%-10s %9d %9.1f %9.1f %9.1f\n", name, messages, p50, p90, p99);
    printf("{\"bench\":\"capi_enqueue\",\"durability\":\"%s\","
           "\"messages\":%d,\"p50_us\":%.1f,\"p90_us\":%.1f,"
           "\"p99_us\":%.1f}\n",
           name, messages, p50, p90, p99);
    fflush(stdout);
}

int main(int argc, char **argv)
{
    int messages = 1000, only_actors = 0, enqueue = 0;
    const char *only_dur = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--messages") == 0 && i + 1 < argc)
            messages = atoi(argv[++i]);
        else if (strcmp(argv[i], "--durability") == 0 && i + 1 < argc)
            only_dur = argv[++i];
        else if (strcmp(argv[i], "--actors") == 0 && i + 1 < argc)
            only_actors = atoi(argv[++i]);
        else if (strcmp(argv[i], "--enqueue") == 0)
            enqueue = 1;
        else {
            fprintf(stderr, "usage: eng_bench [--enqueue] [--messages N] "
                            "[--durability full|normal] [--actors 1|100]\n");
            return 100;
        }
    }
    if (messages < 100)
        messages = 100;
    messages -= messages % 100;
    static const struct {
        const char *name;
        int d;
    } durs[] = {{"full", ENG_DURABILITY_FULL}, {"normal", ENG_DURABILITY_NORMAL}};
    if (enqueue) {
        printf("%-10s %9s %9s %9s %9s\n", "durability", "enqueues", "p50 us",
               "p90 us", "p99 us");
        for (size_t d = 0; d < 2; d++)
            if (!only_dur || strcmp(only_dur, durs[d].name) == 0)
                enqueue_latency(durs[d].name, durs[d].d, messages);
        return 0;
    }
    printf("%-10s %7s %9s %12s %12s %14s %14s\n", "durability", "actors",
           "messages", "messages/s", "ms/step", "growth B/step",
           "written B/step");
    static const int actor_counts[] = {1, 100};
    for (size_t d = 0; d < 2; d++)
        for (size_t a = 0; a < 2; a++) {
            if ((only_dur && strcmp(only_dur, durs[d].name) != 0) ||
                (only_actors && only_actors != actor_counts[a]))
                continue;
            struct result r = one(durs[d].d, actor_counts[a], messages);
            printf("%-10s %7d %9d %12.0f %12.4f %14.0f %14.0f\n", durs[d].name,
                   actor_counts[a], messages, r.msgs_per_s, r.ms_per_step,
                   r.bytes_per_step, r.written_per_step);
            printf("{\"bench\":\"capi\",\"durability\":\"%s\",\"actors\":%d,"
                   "\"messages\":%d,\"msgs_per_s\":%.1f,\"ms_per_step\":%.4f,"
                   "\"bytes_per_step\":%.0f,\"written_per_step\":%.0f,"
                   "\"seconds\":%.3f}\n",
                   durs[d].name, actor_counts[a], messages, r.msgs_per_s,
                   r.ms_per_step, r.bytes_per_step, r.written_per_step, r.secs);
            fflush(stdout);
        }
    return 0;
}
