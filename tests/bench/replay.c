/*
 * replay.c - replay cost against history length, with compaction on.  One
 * actor runs a loop (queue "work" -> step "record") for 10, 100, 1,000 and
 * 10,000 iterations.  At each length it is timed on K more messages, each
 * from enqueue until its state changes: once with the actor kept in memory
 * ("warm"), once with the engine reopened in evict-always mode, where every
 * suspension evicts the actor and every message replays it from the
 * journal ("evict").  Their difference is the replay; compaction keeps
 * finished iterations out of it, so it must not grow with the length.
 *
 *   replay [--lengths 10,100,1000,10000] [--samples K] [--data DIR]
 *
 * Prints one JSON line per length; exits 0, 100 on bad usage, 111 on a
 * failure (every message must be processed, or the run fails).
 */
#include "bench_util.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REPLAY_MAX_LENGTHS 16
#define REPLAY_DEADLINE_NS (600LL * 1000000000)
#define REPLAY_SAMPLE_DEADLINE_NS (10LL * 1000000000)

static int replay_record(eng_sctx *s, const cJSON *input, cJSON **output)
{
    (void)input;
    *output = NULL;
    cJSON *count = cJSON_GetObjectItemCaseSensitive(eng_sctx_state(s), "count");
    if (!cJSON_IsNumber(count)) {
        eng_sctx_error(s, "record: state.count is not a number");
        return -EINVAL;
    }
    cJSON_SetNumberValue(count, count->valuedouble + 1);
    return 0;
}

static int replay_iteration(eng_ctx *c, void *arg)
{
    (void)arg;
    const cJSON *msg;
    ENG_TRY(eng_queue_next(c, "wait", "work", -1, &msg));
    return eng_step(c, "record", replay_record, NULL, NULL, NULL);
}

static int replay_run(eng_ctx *c)
{
    return eng_loop(c, "loop", replay_iteration, NULL);
}

static const eng_queue_def replay_queues[] = {{"work", NULL, 0}};
static const eng_type replay_type = {
    .name = "rloop",
    .initial_state = "{\"count\":0}",
    .queues = replay_queues,
    .nqueues = 1,
    .run = replay_run,
    .no_default_instance = 1,
};

typedef struct {
    long lengths[REPLAY_MAX_LENGTHS];
    size_t nlengths;
    long samples;
    const char *data;
} replay_opts;

static void replay_usage(void)
{
    fprintf(stderr, "usage: replay [--lengths N,N,...] [--samples K] [--data DIR]\n");
    exit(100);
}

static void replay_parse(int argc, char **argv, replay_opts *o)
{
    static const struct option lo[] = {
        {"lengths", required_argument, NULL, 'l'},
        {"samples", required_argument, NULL, 's'},
        {"data", required_argument, NULL, 'D'},
        {NULL, 0, NULL, 0},
    };
    *o = (replay_opts){.lengths = {10, 100, 1000, 10000}, .nlengths = 4,
                       .samples = 101};
    int ch;
    while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (ch) {
        case 'l': {
            o->nlengths = 0;
            char *p = optarg, *end;
            while (*p != '\0' && o->nlengths < REPLAY_MAX_LENGTHS) {
                long v = strtol(p, &end, 10);
                if (end == p || v < 1 ||
                    (o->nlengths > 0 && v <= o->lengths[o->nlengths - 1]))
                    replay_usage();
                o->lengths[o->nlengths++] = v;
                p = *end == ',' ? end + 1 : end;
                if (*end != ',' && *end != '\0')
                    replay_usage();
            }
            break;
        }
        case 's': o->samples = strtol(optarg, NULL, 10); break;
        case 'D': o->data = optarg; break;
        default: replay_usage();
        }
    }
    if (optind != argc || o->nlengths == 0 || o->samples < 1)
        replay_usage();
}

typedef struct {
    eng *e;
    bench_track t;
    size_t n; /* actors "x0".."x<n-1>" may exist */
} replay_run_ctx;

static void replay_open(replay_run_ctx *r, const char *dir, int evict)
{
    eng_config cfg = {.data_dir = dir, .durability = ENG_DURABILITY_NORMAL,
                      .evict_always = evict};
    char err[512] = "";
    int rc = bench_track_init(&r->t, "rloop", "x", r->n);
    if (rc < 0)
        bench_die(rc, "tracker");
    if (eng_open(&cfg, &r->e, err, sizeof err) < 0) {
        fprintf(stderr, "replay: eng_open: %s\n", err);
        exit(111);
    }
    if ((rc = eng_register(r->e, &replay_type)) < 0)
        bench_die(rc, "eng_register");
    eng_watch(r->e, bench_track_cb, &r->t);
    if (eng_start(r->e, err, sizeof err) < 0) {
        fprintf(stderr, "replay: eng_start: %s\n", err);
        exit(111);
    }
}

static void replay_close(replay_run_ctx *r)
{
    eng_close(r->e);
    bench_track_fini(&r->t);
}

static void replay_key(char *buf, size_t len, size_t actor)
{
    snprintf(buf, len, "x%zu", actor);
}

static void replay_enqueue(replay_run_ctx *r, size_t actor)
{
    char key[32], err[512] = "";
    replay_key(key, sizeof key, actor);
    if (eng_enqueue(r->e, "rloop", key, "work", "{}", 2, NULL, NULL, err,
                    sizeof err) < 0) {
        fprintf(stderr, "replay: enqueue to rloop@%s: %s\n", key, err);
        exit(111);
    }
}

/* Makes actor `actor` and runs its loop n times, as fast as it goes. */
static void replay_grow(replay_run_ctx *r, size_t actor, long n)
{
    char key[32], err[512] = "";
    replay_key(key, sizeof key, actor);
    if (eng_actor_create(r->e, "rloop", key, err, sizeof err) < 0) {
        fprintf(stderr, "replay: create rloop@%s: %s\n", key, err);
        exit(111);
    }
    for (long i = 0; i < n; i++)
        replay_enqueue(r, actor);
    if (bench_track_wait_one(&r->t, actor, (uint32_t)(n - 1),
                             bench_now_ns() + REPLAY_DEADLINE_NS) < 0) {
        fprintf(stderr, "replay: %ld iterations did not finish in 600 s\n", n);
        exit(111);
    }
}

/* ms from enqueue to state change of one message to `actor`. */
static double replay_once(replay_run_ctx *r, size_t actor)
{
    uint32_t seen = bench_track_changes(&r->t, actor);
    int64_t s = bench_now_ns();
    replay_enqueue(r, actor);
    if (bench_track_wait_one(&r->t, actor, seen,
                             bench_now_ns() + REPLAY_SAMPLE_DEADLINE_NS) < 0) {
        fprintf(stderr, "replay: a message was not processed in 10 s\n");
        exit(111);
    }
    return (double)(bench_now_ns() - s) / 1e6;
}

/* Times k messages to each of the n actors, taking the actors in turn so
 * that the machine's drifting load falls on every length alike; p50[i] is
 * actor i's median, in ms. */
static void replay_sample(replay_run_ctx *r, size_t n, long k, double *p50)
{
    double *lat = calloc(n * (size_t)k, sizeof *lat);
    if (lat == NULL)
        bench_die(-ENOMEM, "calloc");
    for (long j = 0; j < k; j++)
        for (size_t i = 0; i < n; i++)
            lat[i * (size_t)k + (size_t)j] = replay_once(r, i);
    for (size_t i = 0; i < n; i++)
        p50[i] = bench_percentile(lat + i * (size_t)k, (size_t)k, 50);
    free(lat);
}

int main(int argc, char **argv)
{
    replay_opts o;
    replay_parse(argc, argv, &o);
    char dir[4096];
    int rc = 0;
    if (o.data == NULL && (rc = bench_tmpdir(dir, sizeof dir, "replay")) < 0)
        bench_die(rc, "mkdtemp");
    const char *data = o.data != NULL ? o.data : dir;

    /* One actor per length, so each is measured from exactly that many
     * finished iterations: replayed first, then kept in memory. */
    size_t n = o.nlengths;
    replay_run_ctx r = {.n = n};
    replay_open(&r, data, 0);
    for (size_t i = 0; i < n; i++)
        replay_grow(&r, i, o.lengths[i]);
    replay_close(&r);

    double evict[REPLAY_MAX_LENGTHS], warm[REPLAY_MAX_LENGTHS];
    replay_open(&r, data, 1);
    replay_sample(&r, n, o.samples, evict);
    replay_close(&r);
    replay_open(&r, data, 0);
    replay_sample(&r, n, o.samples, warm);
    replay_close(&r);
    for (size_t i = 0; i < n; i++)
        printf("{\"bench\":\"replay\",\"iterations\":%ld,\"samples\":%ld,"
               "\"warm_ms_p50\":%.3f,\"evict_ms_p50\":%.3f,\"replay_ms\":%.3f}\n",
               o.lengths[i], o.samples, warm[i], evict[i], evict[i] - warm[i]);
    if (o.data == NULL && (rc = bench_rmtree(dir)) < 0)
        bench_die(rc, dir);
    return 0;
}
