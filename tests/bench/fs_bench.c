/*
 * fs_bench.c - enqueue through the actorfs mount, beside its floors.
 *
 * In one run, on the same disk: an append+fdatasync of a small record (the
 * disk's floor for a durable write), open+write+close of `new` on nullfs
 * (the FUSE floor), and open+write+close of counter/queues/add/new on
 * actorfs, durability full and normal, with 1, 4 and 16 concurrent
 * writers.  close() returning 0 is the acknowledgement, so the latency is
 * open to close returning.  Then the same into sink/queues/in/new (the
 * seedloop plugin's type with no workflow), 1 and 16 writers: the
 * enqueue alone, without the counter's workflow competing for the CPUs.
 * Prints a table; with --json FILE also appends one JSON line per figure
 * of the counter and the floors for tests/bench/report.py.
 *
 *   fs_bench [--messages N] [--json FILE] [--actorfs BIN] [--nullfs BIN]
 *            [--plugin LIB.so]
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    const char *path;
    long count;
    double *lat_us; /* one per operation */
    int err;        /* errno of the first failure */
} fsb_writer;

typedef struct {
    double p50, p99, msgs_per_s;
    long ops;
} fsb_result;

static FILE *json;

static int64_t fsb_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int fsb_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void fsb_die(const char *what)
{
    fprintf(stderr, "fs_bench: %s: %s\n", what, strerror(errno));
    exit(111);
}

static int fsb_mounted(const char *mnt)
{
    FILE *f = fopen("/proc/self/mounts", "r");
    char line[4096];
    int hit = 0;
    size_t n = strlen(mnt);
    while (f && !hit && fgets(line, sizeof(line), f)) {
        char *sp = strchr(line, ' ');
        hit = sp && strncmp(sp + 1, mnt, n) == 0 && sp[1 + n] == ' ';
    }
    if (f)
        fclose(f);
    return hit;
}

/* Starts ARGV (a FUSE daemon in the foreground) and waits for MNT. */
static pid_t fsb_mount(char *const argv[], const char *mnt, const char *log)
{
    pid_t pid = fork();
    if (pid < 0)
        fsb_die("fork");
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (fd >= 0)
            dup2(fd, STDERR_FILENO);
        execv(argv[0], argv);
        _exit(127);
    }
    int64_t deadline = fsb_now_ns() + 30LL * 1000000000;
    while (!fsb_mounted(mnt)) {
        if (waitpid(pid, NULL, WNOHANG) == pid || fsb_now_ns() > deadline) {
            fprintf(stderr, "fs_bench: %s did not mount %s (see %s)\n",
                    argv[0], mnt, log);
            exit(111);
        }
        struct timespec ts = {0, 10 * 1000000};
        nanosleep(&ts, NULL);
    }
    return pid;
}

/* SIGTERM rather than fusermount3 -u, which says "busy" while the
 * workflow is still busy with the messages. */
static void fsb_unmount(pid_t pid, const char *mnt)
{
    (void)mnt;
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
}

static void *fsb_write_loop(void *arg)
{
    fsb_writer *w = arg;
    static const char msg[] = "{\"n\": 1}\n";
    for (long i = 0; i < w->count; i++) {
        int64_t t0 = fsb_now_ns();
        int fd = open(w->path, O_WRONLY | O_TRUNC | O_CLOEXEC);
        if (fd < 0 || write(fd, msg, sizeof(msg) - 1) != sizeof(msg) - 1 ||
            close(fd) != 0) {
            w->err = errno;
            return NULL;
        }
        w->lat_us[i] = (double)(fsb_now_ns() - t0) / 1000.0;
    }
    return NULL;
}

/* NWRITERS threads write TOTAL messages to PATH between them. */
static fsb_result fsb_writers(const char *path, int nwriters, long total)
{
    fsb_writer w[64];
    pthread_t t[64];
    long per = total / nwriters;
    double *all = calloc((size_t)(per * nwriters), sizeof(double));
    if (!all)
        fsb_die("calloc");
    int64_t t0 = fsb_now_ns();
    for (int i = 0; i < nwriters; i++) {
        w[i] = (fsb_writer){.path = path, .count = per,
                            .lat_us = all + per * i};
        if (pthread_create(&t[i], NULL, fsb_write_loop, &w[i]) != 0)
            fsb_die("pthread_create");
    }
    for (int i = 0; i < nwriters; i++)
        pthread_join(t[i], NULL);
    double secs = (double)(fsb_now_ns() - t0) / 1e9;
    for (int i = 0; i < nwriters; i++)
        if (w[i].err) {
            errno = w[i].err;
            fsb_die(path);
        }
    long n = per * nwriters;
    qsort(all, (size_t)n, sizeof(double), fsb_cmp);
    fsb_result r = {.p50 = all[n / 2], .p99 = all[n * 99 / 100],
                    .msgs_per_s = (double)n / secs, .ops = n};
    free(all);
    return r;
}

static void fsb_row(const char *what, const char *name, const char *dur,
                    int writers, fsb_result r)
{
    printf("%-34s %7d %10s %8ld %10.1f %10.1f %12.0f\n", what, writers,
           dur ? dur : "-", r.ops, r.p50, r.p99, r.msgs_per_s);
    fflush(stdout);
    if (!json)
        return;
    int sink = strcmp(name, "sink") == 0;
    if (sink || strcmp(name, "enqueue") == 0) {
        /* The sink's rows have a source of their own, so that report.py
         * never takes medians across the two workloads. */
        const char *src = sink ? "fs_bench_sink" : "fs_bench";
        fprintf(json,
                "{\"bench\":\"enqueue\",\"source\":\"%s\",\"label\":"
                "\"enqueue through the mount%s, %d writer%s\",\"durability\":"
                "\"%s\",\"writers\":%d,\"us\":%.2f,\"p99_us\":%.2f,"
                "\"msgs_per_s\":%.1f}\n",
                src, sink ? " into a queue nothing takes from" : "", writers,
                writers > 1 ? "s" : "", dur, writers, r.p50, r.p99,
                r.msgs_per_s);
        if (writers > 1)
            fprintf(json,
                    "{\"bench\":\"mount_writers\",\"source\":\"%s\","
                    "\"durability\":\"%s\",\"writers\":%d,\"messages\":%ld,"
                    "\"msgs_per_s\":%.1f}\n",
                    src, dur, writers, r.ops, r.msgs_per_s);
    } else if (writers == 1) {
        fprintf(json,
                "{\"bench\":\"floor\",\"name\":\"%s\",\"label\":\"%s\","
                "\"us\":%.2f,\"p99_us\":%.2f}\n",
                name, what, r.p50, r.p99);
    }
    fflush(json);
}

static fsb_result fsb_fdatasync(const char *dir, long n)
{
    char path[4200];
    snprintf(path, sizeof(path), "%s/fdatasync.dat", dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0)
        fsb_die(path);
    double *lat = calloc((size_t)n, sizeof(double));
    if (!lat)
        fsb_die("calloc");
    static const char rec[64] = "{\"n\": 1}";
    int64_t t0 = fsb_now_ns();
    for (long i = 0; i < n; i++) {
        int64_t s = fsb_now_ns();
        if (write(fd, rec, sizeof(rec)) != sizeof(rec) || fdatasync(fd) < 0)
            fsb_die("append+fdatasync");
        lat[i] = (double)(fsb_now_ns() - s) / 1000.0;
    }
    double secs = (double)(fsb_now_ns() - t0) / 1e9;
    close(fd);
    qsort(lat, (size_t)n, sizeof(double), fsb_cmp);
    fsb_result r = {.p50 = lat[n / 2], .p99 = lat[n * 99 / 100],
                    .msgs_per_s = (double)n / secs, .ops = n};
    free(lat);
    return r;
}

int main(int argc, char **argv)
{
    const char *actorfs = FSB_ACTORFS;
    const char *nullfs = FSB_NULLFS;
    const char *plugin = FSB_PLUGIN;
    long messages = 2000;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--messages") == 0 && i + 1 < argc)
            messages = atol(argv[++i]);
        else if (strcmp(argv[i], "--json") == 0 && i + 1 < argc) {
            if (!(json = fopen(argv[++i], "a")))
                fsb_die(argv[i]);
        } else if (strcmp(argv[i], "--actorfs") == 0 && i + 1 < argc)
            actorfs = argv[++i];
        else if (strcmp(argv[i], "--nullfs") == 0 && i + 1 < argc)
            nullfs = argv[++i];
        else if (strcmp(argv[i], "--plugin") == 0 && i + 1 < argc)
            plugin = argv[++i];
        else {
            fprintf(stderr, "usage: fs_bench [--messages N] [--json FILE] "
                            "[--actorfs BIN] [--nullfs BIN] "
                            "[--plugin LIB.so]\n");
            return 100;
        }
    }
    if (messages < 16)
        messages = 16;
    const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s/fs_bench.XXXXXX", tmp);
    if (!mkdtemp(dir))
        fsb_die("mkdtemp");
    static const int writers[] = {1, 4, 16};

    printf("%-34s %7s %10s %8s %10s %10s %12s\n", "what", "writers",
           "durability", "ops", "p50 us", "p99 us", "ops/s");
    fsb_row("append 64 B + fdatasync", "fdatasync", NULL, 1,
            fsb_fdatasync(dir, messages / 4));

    char mnt[4200], path[4300], log[4300], data[4300];
    snprintf(mnt, sizeof(mnt), "%s/null", dir);
    snprintf(log, sizeof(log), "%s/nullfs.log", dir);
    mkdir(mnt, 0700);
    char *nargv[] = {(char *)nullfs, mnt, NULL};
    pid_t pid = fsb_mount(nargv, mnt, log);
    snprintf(path, sizeof(path), "%s/new", mnt);
    for (size_t w = 0; w < 3; w++)
        fsb_row("null FUSE: open+write+close", "nullfs", NULL, writers[w],
                fsb_writers(path, writers[w], messages));
    fsb_unmount(pid, mnt);

    static const char *const durs[] = {"full", "normal"};
    for (size_t d = 0; d < 2; d++) {
        snprintf(mnt, sizeof(mnt), "%s/mnt-%s", dir, durs[d]);
        snprintf(data, sizeof(data), "%s/data-%s", dir, durs[d]);
        snprintf(log, sizeof(log), "%s/actorfs-%s.log", dir, durs[d]);
        mkdir(mnt, 0700);
        char *aargv[] = {(char *)actorfs, mnt,      "--data",
                         data,            "-f",     "--durability",
                         (char *)durs[d], "--load", (char *)plugin,
                         NULL};
        pid = fsb_mount(aargv, mnt, log);
        snprintf(path, sizeof(path), "%s/counter/queues/add/new", mnt);
        for (size_t w = 0; w < 3; w++)
            fsb_row("actorfs: enqueue (echo > new)", "enqueue", durs[d],
                    writers[w], fsb_writers(path, writers[w], messages));
        snprintf(path, sizeof(path), "%s/sink/queues/in/new", mnt);
        for (size_t w = 0; w < 3; w += 2)
            fsb_row("actorfs: enqueue, nothing takes", "sink", durs[d],
                    writers[w], fsb_writers(path, writers[w], messages));
        fsb_unmount(pid, mnt);
    }
    printf("(latency: open to close returning 0, i.e. acknowledged; "
           "work under %s)\n", dir);
    if (json)
        fclose(json);
    return 0;
}
