/*
 * floors.c - what the disk costs on its own, measured in the same run as
 * everything else so that actorfs's figures can be read against it: an
 * append of a small record followed by fdatasync (what one durable commit
 * cannot beat), and a one-row SQLite transaction in WAL mode with
 * synchronous FULL and NORMAL (what the engine's store pays per commit
 * before any grouping); and what waking a thread costs: two threads
 * passing a byte back and forth over pipes, both on one CPU, then on two.
 * Every FUSE request and reply is such a wake-up; where waking a sleeping
 * CPU is slow (a virtual machine whose guest halts at once), a round trip
 * that crosses CPUs costs many times one that does not.
 *
 *   floors [--count N] [--dir DIR]
 *
 * Prints one JSON line per floor (median µs); exits 0, 100 on bad usage,
 * 111 on a failure.
 */
#include "bench_util.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <sched.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void floors_usage(void)
{
    fprintf(stderr, "usage: floors [--count N] [--dir DIR]\n");
    exit(100);
}

static void floors_print(const char *name, const char *label, double *us,
                         long n)
{
    double p50 = bench_percentile(us, (size_t)n, 50);
    double p99 = bench_percentile(us, (size_t)n, 99);
    printf("{\"bench\":\"floor\",\"name\":\"%s\",\"label\":\"%s\",\"count\":%ld,"
           "\"us\":%.1f,\"us_p99\":%.1f}\n", name, label, n, p50, p99);
    fflush(stdout);
}

static void floors_fdatasync(const char *dir, double *us, long n)
{
    char path[4200];
    if (snprintf(path, sizeof path, "%s/append.log", dir) >= (int)sizeof path)
        bench_die(-ENAMETOOLONG, dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0)
        bench_die(-errno, path);
    static const char rec[] = "{\"n\":1,\"padding\":\"0123456789abcdef\"}\n";
    for (long i = 0; i < n; i++) {
        int64_t s = bench_now_ns();
        if (write(fd, rec, sizeof rec - 1) != (ssize_t)(sizeof rec - 1))
            bench_die(-errno, "write");
        if (fdatasync(fd) < 0)
            bench_die(-errno, "fdatasync");
        us[i] = (double)(bench_now_ns() - s) / 1e3;
    }
    if (close(fd) < 0)
        bench_die(-errno, "close");
    unlink(path);
}

static void floors_sqlite_check(sqlite3 *db, int rc, const char *what)
{
    if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW) {
        fprintf(stderr, "floors: %s: %s\n", what, sqlite3_errmsg(db));
        exit(111);
    }
}

static void floors_sqlite(const char *dir, const char *sync, double *us, long n)
{
    char path[4200];
    if (snprintf(path, sizeof path, "%s/floor-%s.db", dir, sync) >= (int)sizeof path)
        bench_die(-ENAMETOOLONG, dir);
    sqlite3 *db;
    int rc = sqlite3_open(path, &db);
    floors_sqlite_check(db, rc, path);
    char sql[256];
    snprintf(sql, sizeof sql,
             "PRAGMA journal_mode=WAL; PRAGMA synchronous=%s;"
             "CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT);", sync);
    floors_sqlite_check(db, sqlite3_exec(db, sql, NULL, NULL, NULL), "setup");
    sqlite3_stmt *ins;
    floors_sqlite_check(db, sqlite3_prepare_v2(db, "INSERT INTO t (body) VALUES (?)",
                                               -1, &ins, NULL), "prepare");
    for (long i = 0; i < n; i++) {
        int64_t s = bench_now_ns();
        floors_sqlite_check(db, sqlite3_bind_text(ins, 1, "{\"n\":1}", -1, SQLITE_STATIC), "bind");
        floors_sqlite_check(db, sqlite3_step(ins), "insert");
        floors_sqlite_check(db, sqlite3_reset(ins), "reset");
        us[i] = (double)(bench_now_ns() - s) / 1e3;
    }
    sqlite3_finalize(ins);
    floors_sqlite_check(db, sqlite3_close(db), "close");
    static const char *const files[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        char f[4300];
        if (snprintf(f, sizeof f, "%s%s", path, files[i]) < (int)sizeof f)
            unlink(f);
    }
}

typedef struct {
    int ask[2], answer[2];
    int cpu;
} floors_pong;

static void floors_pin(int cpu)
{
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    if (sched_setaffinity(0, sizeof one, &one) < 0)
        bench_die(-errno, "sched_setaffinity");
}

static void *floors_ponger(void *arg)
{
    floors_pong *p = arg;
    floors_pin(p->cpu);
    char c;
    while (read(p->ask[0], &c, 1) == 1)
        if (write(p->answer[1], &c, 1) != 1)
            break;
    return NULL;
}

/* The I-th CPU this process may run on, or -1. */
static int floors_cpu(const cpu_set_t *set, int i)
{
    for (int c = 0; c < CPU_SETSIZE; c++)
        if (CPU_ISSET(c, set) && i-- == 0)
            return c;
    return -1;
}

/* Round trips between this thread and another, on one CPU (CROSS 0) or
 * on two; returns -1 when there is no second CPU to run on. */
static int floors_wake(int cross, double *us, long n)
{
    cpu_set_t all;
    if (sched_getaffinity(0, sizeof all, &all) < 0)
        bench_die(-errno, "sched_getaffinity");
    floors_pong p = {.cpu = floors_cpu(&all, cross ? 1 : 0)};
    if (p.cpu < 0)
        return -1;
    if (pipe(p.ask) < 0 || pipe(p.answer) < 0)
        bench_die(-errno, "pipe");
    floors_pin(floors_cpu(&all, 0));
    pthread_t t;
    int rc = pthread_create(&t, NULL, floors_ponger, &p);
    if (rc != 0)
        bench_die(-rc, "pthread_create");
    char c = 'x';
    for (long i = 0; i < n; i++) {
        int64_t s = bench_now_ns();
        if (write(p.ask[1], &c, 1) != 1 || read(p.answer[0], &c, 1) != 1)
            bench_die(-errno, "pipe round trip");
        us[i] = (double)(bench_now_ns() - s) / 1e3;
    }
    close(p.ask[1]);
    pthread_join(t, NULL);
    close(p.ask[0]);
    close(p.answer[0]);
    close(p.answer[1]);
    if (sched_setaffinity(0, sizeof all, &all) < 0)
        bench_die(-errno, "sched_setaffinity");
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option lo[] = {
        {"count", required_argument, NULL, 'n'},
        {"dir", required_argument, NULL, 'D'},
        {NULL, 0, NULL, 0},
    };
    long n = 1000;
    const char *dir = NULL;
    int ch;
    while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (ch) {
        case 'n': n = strtol(optarg, NULL, 10); break;
        case 'D': dir = optarg; break;
        default: floors_usage();
        }
    }
    if (optind != argc || n < 1)
        floors_usage();
    char tmp[4096];
    int rc;
    if (dir == NULL) {
        if ((rc = bench_tmpdir(tmp, sizeof tmp, "floors")) < 0)
            bench_die(rc, "mkdtemp");
    } else if (snprintf(tmp, sizeof tmp, "%s", dir) >= (int)sizeof tmp) {
        floors_usage();
    }
    double *us = calloc((size_t)n, sizeof *us);
    if (us == NULL)
        bench_die(-ENOMEM, "calloc");
    floors_fdatasync(tmp, us, n);
    floors_print("fdatasync", "append 40 bytes + fdatasync", us, n);
    floors_sqlite(tmp, "FULL", us, n);
    floors_print("sqlite_full", "SQLite WAL one-row commit, synchronous FULL", us, n);
    floors_sqlite(tmp, "NORMAL", us, n);
    floors_print("sqlite_normal", "SQLite WAL one-row commit, synchronous NORMAL", us, n);
    floors_wake(0, us, n);
    floors_print("wake_same_cpu",
                 "thread round trip over pipes, both threads on one CPU", us, n);
    if (floors_wake(1, us, n) == 0)
        floors_print("wake_cross_cpu",
                     "thread round trip over pipes, the threads on two CPUs",
                     us, n);
    free(us);
    if (dir == NULL && (rc = bench_rmtree(tmp)) < 0)
        bench_die(rc, tmp);
    return 0;
}
