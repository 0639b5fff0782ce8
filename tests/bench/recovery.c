/*
 * recovery.c - how long a restart takes to resume unfinished work after
 * kill -9.  A child process makes N actors of type "recov" and enqueues one
 * message to each; their step "work" cannot finish in the child (it blocks
 * until cancelled), so when the child SIGKILLs itself, right after the last
 * enqueue is acknowledged, all N workflows are unfinished: message pending,
 * or taken with the step interrupted.  The parent then reopens the same
 * data directory and times until every actor's step has run and changed
 * its state.
 *
 *   recovery [--workflows N] [--durability full|normal] [--data DIR]
 *
 * Prints one JSON line; exits 0, 100 on bad usage, 111 on a failure
 * (every workflow must resume, or the run fails).
 */
#include "bench_util.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define RECOV_DEADLINE_NS (300LL * 1000000000)
#define RECOV_MAKERS 8

/* Set in the child only: its steps must not finish before the kill. */
static atomic_int recov_block;

static int recov_work(eng_sctx *s, const cJSON *input, cJSON **output)
{
    (void)input;
    *output = NULL;
    struct timespec slice = {0, 10000000};
    while (atomic_load(&recov_block)) {
        if (eng_sctx_cancelled(s))
            return -ECANCELED;
        nanosleep(&slice, NULL);
    }
    cJSON *st = eng_sctx_state(s);
    cJSON_DeleteItemFromObjectCaseSensitive(st, "done");
    if (cJSON_AddTrueToObject(st, "done") == NULL) {
        eng_sctx_error(s, "work: out of memory");
        return -ENOMEM;
    }
    return 0;
}

/* No timeout: a slow child must not make the step fail before the kill. */
static const eng_step_opts recov_work_opts = {.timeout_ms = -1};

static int recov_run(eng_ctx *c)
{
    const cJSON *msg;
    ENG_TRY(eng_queue_next(c, "wait", "go", -1, &msg));
    return eng_step(c, "work", recov_work, NULL, &recov_work_opts, NULL);
}

static const eng_queue_def recov_queues[] = {{"go", NULL, 0}};
static const eng_type recov_type = {
    .name = "recov",
    .initial_state = "{\"done\":false}",
    .queues = recov_queues,
    .nqueues = 1,
    .run = recov_run,
    .no_default_instance = 1,
};

typedef struct {
    long n;
    int durability;
    const char *data;
} recov_opts;

static void recov_usage(void)
{
    fprintf(stderr, "usage: recovery [--workflows N] "
                    "[--durability full|normal] [--data DIR]\n");
    exit(100);
}

static void recov_parse(int argc, char **argv, recov_opts *o)
{
    static const struct option lo[] = {
        {"workflows", required_argument, NULL, 'n'},
        {"durability", required_argument, NULL, 'd'},
        {"data", required_argument, NULL, 'D'},
        {NULL, 0, NULL, 0},
    };
    *o = (recov_opts){.n = 10000, .durability = ENG_DURABILITY_NORMAL};
    int ch;
    while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (ch) {
        case 'n': o->n = strtol(optarg, NULL, 10); break;
        case 'd':
            if (strcmp(optarg, "full") == 0)
                o->durability = ENG_DURABILITY_FULL;
            else if (strcmp(optarg, "normal") == 0)
                o->durability = ENG_DURABILITY_NORMAL;
            else
                recov_usage();
            break;
        case 'D': o->data = optarg; break;
        default: recov_usage();
        }
    }
    if (optind != argc || o->n < 1 || o->n > 10000000)
        recov_usage();
}

static eng *recov_open(const recov_opts *o, const char *dir, bench_track *t)
{
    eng_config cfg = {.data_dir = dir, .durability = o->durability};
    char err[512] = "";
    eng *e;
    int rc = eng_open(&cfg, &e, err, sizeof err);
    if (rc < 0) {
        fprintf(stderr, "recovery: eng_open: %s\n", err);
        exit(111);
    }
    if ((rc = eng_register(e, &recov_type)) < 0)
        bench_die(rc, "eng_register");
    if (t != NULL)
        eng_watch(e, bench_track_cb, t);
    if ((rc = eng_start(e, err, sizeof err)) < 0) {
        fprintf(stderr, "recovery: eng_start: %s\n", err);
        exit(111);
    }
    return e;
}

/* Makes recov@r<i> and gives it its message; several threads at once, so
 * commits group. */
static int recov_make(long i, void *ud)
{
    char key[32], err[512] = "";
    snprintf(key, sizeof key, "r%ld", i);
    int rc = eng_actor_create(ud, "recov", key, err, sizeof err);
    if (rc == 0)
        rc = eng_enqueue(ud, "recov", key, "go", "{}", 2, NULL, NULL, err,
                         sizeof err);
    if (rc < 0)
        fprintf(stderr, "recovery: child: recov@%s: %s\n", key, err);
    return rc;
}

/* The child: N actors, one acknowledged message each, then kill -9. */
static void recov_child(const recov_opts *o, const char *dir)
{
    atomic_store(&recov_block, 1);
    eng *e = recov_open(o, dir, NULL);
    if (bench_parallel(o->n, RECOV_MAKERS, recov_make, e) < 0)
        _exit(111);
    raise(SIGKILL);
    _exit(111);
}

int main(int argc, char **argv)
{
    recov_opts o;
    recov_parse(argc, argv, &o);
    char dir[4096];
    int rc = 0;
    if (o.data == NULL && (rc = bench_tmpdir(dir, sizeof dir, "recovery")) < 0)
        bench_die(rc, "mkdtemp");
    const char *data = o.data != NULL ? o.data : dir;

    int64_t c0 = bench_now_ns();
    pid_t pid = fork();
    if (pid < 0)
        bench_die(-errno, "fork");
    if (pid == 0)
        recov_child(&o, data);
    int status;
    if (waitpid(pid, &status, 0) < 0)
        bench_die(-errno, "waitpid");
    if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL) {
        fprintf(stderr, "recovery: the child failed before the kill (status %d)\n",
                status);
        return 111;
    }
    int64_t c1 = bench_now_ns();

    bench_track t;
    if ((rc = bench_track_init(&t, "recov", "r", (size_t)o.n)) < 0)
        bench_die(rc, "tracker");
    int64_t t0 = bench_now_ns();
    eng *e = recov_open(&o, data, &t);
    int64_t t1 = bench_now_ns();
    if (bench_track_wait_touched(&t, (size_t)o.n, t1 + RECOV_DEADLINE_NS) < 0) {
        fprintf(stderr, "recovery: only %zu of %ld workflows resumed in 300 s\n",
                t.touched, o.n);
        return 111;
    }
    int64_t t2 = bench_now_ns();

    printf("{\"bench\":\"recovery\",\"workflows\":%ld,\"durability\":\"%s\","
           "\"setup_s\":%.2f,\"open_start_ms\":%.1f,\"resume_all_ms\":%.1f}\n",
           o.n, o.durability == ENG_DURABILITY_FULL ? "full" : "normal",
           (double)(c1 - c0) / 1e9, (double)(t1 - t0) / 1e6,
           (double)(t2 - t0) / 1e6);
    fflush(stdout);
    eng_close(e);
    bench_track_fini(&t);
    if (o.data == NULL && (rc = bench_rmtree(dir)) < 0)
        bench_die(rc, dir);
    return 0;
}
