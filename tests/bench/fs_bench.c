/*
 * fs_bench.c - enqueue through the actorfs mount, beside its floors.
 *
 * In one run, on the same disk: an append+fdatasync of a small record (the
 * disk's floor for a durable write), open+write+close of `new` on nullfs
 * (the FUSE floor), and open+write+close into two actorfs queues,
 * durability full and normal: counter/queues/add/new, whose workflow
 * consumes each message (competing with the writer for the CPUs), and
 * sink/queues/in/new (the seedloop plugin's type with no workflow), the
 * enqueue alone.  close() returning 0 is the acknowledgement, so the
 * latency is open to close returning.
 *
 * One writer: the null floor, the sink and the counter take turns, ROUNDS
 * rounds with nullfs mounted beside actorfs, and each figure is the median
 * of its rounds.  Taking turns matters on a virtual machine, where a
 * sleeping CPU is slow to wake and the cost of a FUSE round trip drifts by
 * 2x or more within a minute: a floor measured apart would compare two
 * machines.  After each counter turn the workflow is let finish its
 * backlog, so it never runs into the next turn.  Then 4 and 16 writers.
 * First, though, the turns run with the writer and both daemons pinned to
 * one CPU (normal): with no CPU to wake, what is left is the software's
 * own cost, and what the sink costs there beyond the floor is actorfs's
 * own time per enqueue.  The unpinned turns then include a second floor,
 * nullfs whose flush keeps its CPU busy that long: what the same round
 * trips cost any daemon that works as long as actorfs before it answers.
 * Where the kernel has FUSE over io_uring (switched on for the run if need
 * be, and put back), nullfs and actorfs with --io-uring take their turns
 * too, in normal mode; then the null floor and both sinks once more while
 * a spinning thread per CPU keeps every CPU busy.
 *
 * Prints a table; with --json FILE also appends one JSON line per figure
 * for tests/bench/report.py.
 *
 *   fs_bench [--messages N] [--rounds R] [--json FILE] [--actorfs BIN]
 *            [--nullfs BIN] [--plugin LIB.so]
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sched.h>
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

/* Runs the calling thread, and what it forks, on CPU (-1: on any). */
static void fsb_pin(int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    for (long c = 0; c < n && c < CPU_SETSIZE; c++)
        if (cpu < 0 || c == cpu)
            CPU_SET(c, &set);
    if (sched_setaffinity(0, sizeof(set), &set) < 0)
        fsb_die("sched_setaffinity");
}

/* Starts ARGV (a FUSE daemon in the foreground) on CPU (-1: any) and
 * waits for MNT. */
static pid_t fsb_mount(char *const argv[], const char *mnt, const char *log,
                       int cpu)
{
    pid_t pid = fork();
    if (pid < 0)
        fsb_die("fork");
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (fd >= 0)
            dup2(fd, STDERR_FILENO);
        if (cpu >= 0)
            fsb_pin(cpu);
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

static void fsb_print(const char *what, const char *dur, int writers,
                      fsb_result r, const char *note)
{
    printf("%-46s %7d %10s %8ld %10.1f %10.1f %12.0f%s\n", what, writers,
           dur ? dur : "-", r.ops, r.p50, r.p99, r.msgs_per_s, note);
    fflush(stdout);
}

/* One JSON line of an enqueue figure: SRC is fs_bench (the counter),
 * fs_bench_sink, or either with _pinned or _uring. */
static void fsb_json_enqueue(const char *src, const char *dur, int writers,
                             fsb_result r)
{
    if (!json)
        return;
    int sink = strstr(src, "sink") != NULL;
    int pinned = strstr(src, "pinned") != NULL;
    int uring = strstr(src, "uring") != NULL;
    int busy = strstr(src, "busy") != NULL;
    fprintf(json,
            "{\"bench\":\"enqueue\",\"source\":\"%s\",\"label\":"
            "\"enqueue through the mount%s, %d writer%s%s%s%s\",\"durability\":"
            "\"%s\",\"writers\":%d,\"us\":%.2f,\"p99_us\":%.2f,"
            "\"msgs_per_s\":%.1f}\n",
            src, sink ? " into a queue nothing takes from" : "", writers,
            writers > 1 ? "s" : "",
            pinned ? ", writer and daemon on one CPU" : "",
            uring ? ", requests over io_uring (--io-uring)" : "",
            busy ? ", every CPU kept busy by other threads" : "", dur, writers,
            r.p50, r.p99, r.msgs_per_s);
    if (writers > 1)
        fprintf(json,
                "{\"bench\":\"mount_writers\",\"source\":\"%s\","
                "\"durability\":\"%s\",\"writers\":%d,\"messages\":%ld,"
                "\"msgs_per_s\":%.1f}\n",
                src, dur, writers, r.ops, r.msgs_per_s);
    fflush(json);
}

static void fsb_json_floor(const char *name, const char *label, fsb_result r)
{
    if (!json)
        return;
    fprintf(json,
            "{\"bench\":\"floor\",\"name\":\"%s\",\"label\":\"%s\","
            "\"us\":%.2f,\"p99_us\":%.2f}\n",
            name, label, r.p50, r.p99);
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

/* The counter's count in MNT/counter/state.json, or -1. */
static long fsb_counted(const char *mnt)
{
    char path[4300], buf[512];
    snprintf(path, sizeof(path), "%s/counter/state.json", mnt);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    const char *c = strstr(buf, "\"count\":");
    return c ? strtol(c + 8, NULL, 10) : -1;
}

/* Waits until the counter's workflow has taken all WANT messages, so that
 * it does not run into the next measurement. */
static void fsb_drain(const char *mnt, long want)
{
    int64_t deadline = fsb_now_ns() + 300LL * 1000000000;
    while (fsb_counted(mnt) < want) {
        if (fsb_now_ns() > deadline) {
            fprintf(stderr, "fs_bench: the counter took %ld of %ld messages "
                            "in 300 s\n", fsb_counted(mnt), want);
            exit(111);
        }
        struct timespec ts = {0, 20 * 1000000};
        nanosleep(&ts, NULL);
    }
}

static int fsb_cmp_p50(const void *a, const void *b)
{
    return fsb_cmp(&((const fsb_result *)a)->p50,
                   &((const fsb_result *)b)->p50);
}

#define FSB_ROUNDS_MAX 64

static atomic_int fsb_hogs_stop;

static void *fsb_hog(void *arg)
{
    (void)arg;
    while (!atomic_load_explicit(&fsb_hogs_stop, memory_order_relaxed))
        ;
    return NULL;
}

/* One busy thread per CPU (N > 0), or stops them (N == 0). */
static void fsb_hogs(int n)
{
    static pthread_t t[256];
    static int running;
    if (n == 0) {
        atomic_store(&fsb_hogs_stop, 1);
        for (int i = 0; i < running; i++)
            pthread_join(t[i], NULL);
        running = 0;
        return;
    }
    atomic_store(&fsb_hogs_stop, 0);
    for (running = 0; running < n && running < 256; running++)
        if (pthread_create(&t[running], NULL, fsb_hog, NULL) != 0)
            fsb_die("pthread_create");
}

/* One writer's turn: a floor (FLOOR names it in the JSON) or an enqueue
 * figure (SOURCE); a counter's turn drains its workflow after each round
 * (MNT is its actorfs mount). */
typedef struct {
    char what[64];
    char path[4300];
    const char *floor, *floor_label;
    char source[40]; /* empty for a floor */
    const char *mnt;
    long counted;
    double p50; /* median of the rounds */
} fsb_turn;

#define FSB_TURNS_MAX 8

static void fsb_turn_floor(fsb_turn *t, const char *what, const char *mnt,
                           const char *floor, const char *label)
{
    memset(t, 0, sizeof(*t));
    snprintf(t->what, sizeof(t->what), "%s", what);
    snprintf(t->path, sizeof(t->path), "%s/new", mnt);
    t->floor = floor;
    t->floor_label = label;
}

/* The sink's and the counter's turns on the actorfs mounted at MNT. */
static void fsb_turn_actorfs(fsb_turn *t, const char *mnt, const char *src,
                             const char *tag)
{
    memset(t, 0, 2 * sizeof(*t));
    snprintf(t[0].what, sizeof(t[0].what), "actorfs: enqueue, nothing takes%s",
             tag);
    snprintf(t[0].path, sizeof(t[0].path), "%s/sink/queues/in/new", mnt);
    snprintf(t[1].what, sizeof(t[1].what), "actorfs: enqueue (echo > new)%s",
             tag);
    snprintf(t[1].path, sizeof(t[1].path), "%s/counter/queues/add/new", mnt);
    t[1].mnt = mnt;
    snprintf(t[0].source, sizeof(t[0].source), "fs_bench_sink%s", src);
    snprintf(t[1].source, sizeof(t[1].source), "fs_bench%s", src);
}

/* ROUNDS rounds of PER messages, each turn in turn; prints the medians
 * (with their ratio to the first turn, the floor) and emits each round's
 * figures. */
static void fsb_turns(fsb_turn *t, int n, const char *dur, int rounds,
                      long per)
{
    fsb_result res[FSB_TURNS_MAX][FSB_ROUNDS_MAX];
    for (int r = 0; r < rounds; r++)
        for (int k = 0; k < n; k++) {
            res[k][r] = fsb_writers(t[k].path, 1, per);
            if (t[k].mnt) {
                t[k].counted += res[k][r].ops;
                fsb_drain(t[k].mnt, t[k].counted);
            }
        }
    int normal = strcmp(dur, "normal") == 0;
    for (int k = 0; k < n; k++) {
        for (int r = 0; r < rounds; r++) {
            if (t[k].source[0])
                fsb_json_enqueue(t[k].source, dur, 1, res[k][r]);
            else if (normal)
                fsb_json_floor(t[k].floor, t[k].floor_label, res[k][r]);
        }
        fsb_result m[FSB_ROUNDS_MAX];
        memcpy(m, res[k], sizeof(fsb_result) * (size_t)rounds);
        qsort(m, (size_t)rounds, sizeof(fsb_result), fsb_cmp_p50);
        fsb_result med = m[rounds / 2];
        t[k].p50 = med.p50;
        char note[64] = "";
        if (k > 0 && t[0].p50 > 0)
            snprintf(note, sizeof(note), "  %.2fx the floor",
                     med.p50 / t[0].p50);
        fsb_print(t[k].what, t[k].source[0] ? dur : NULL, 1, med, note);
    }
}

/* actorfs at DIR/mnt-TAG, data in DIR/data-TAG; --io-uring with URING. */
static pid_t fsb_mount_actorfs(const char *actorfs, const char *plugin,
                               const char *dir, const char *dur,
                               const char *tag, int cpu, int uring, char *mnt,
                               size_t mntlen)
{
    char data[4300], log[4300];
    snprintf(mnt, mntlen, "%s/mnt-%s", dir, tag);
    snprintf(data, sizeof(data), "%s/data-%s", dir, tag);
    snprintf(log, sizeof(log), "%s/actorfs-%s.log", dir, tag);
    mkdir(mnt, 0700);
    char *aargv[] = {(char *)actorfs, mnt,          "--data",
                     data,            "-f",         "--durability",
                     (char *)dur,     "--load",     (char *)plugin,
                     uring ? "--io-uring" : NULL, NULL};
    return fsb_mount(aargv, mnt, log, cpu);
}

/* nullfs at DIR/null-TAG; its flush busy FLUSH_US (0: a plain floor);
 * over io_uring with URING. */
static pid_t fsb_mount_null(const char *nullfs, const char *dir,
                            const char *tag, int cpu, double flush_us,
                            int uring, char *mnt, size_t mntlen)
{
    char log[4300], us[32];
    snprintf(mnt, mntlen, "%s/null-%s", dir, tag);
    snprintf(log, sizeof(log), "%s/nullfs-%s.log", dir, tag);
    snprintf(us, sizeof(us), "%.1f", flush_us);
    mkdir(mnt, 0700);
    char *nargv[] = {(char *)nullfs, "--flush-us", us, mnt, NULL, NULL};
    if (uring) {
        memmove(nargv + 2, nargv + 1, 3 * sizeof(*nargv));
        nargv[1] = "--io-uring";
    }
    return fsb_mount(nargv, mnt, log, cpu);
}

#define FSB_URING "/sys/module/fuse/parameters/enable_uring"

/* No io_uring turns, and REASON why: on stdout and in the JSON. */
static int fsb_uring_skip(const char *reason)
{
    printf("(no io_uring turns: %s)\n", reason);
    if (json)
        fprintf(json, "{\"bench\":\"skip\",\"what\":\"io_uring\","
                      "\"reason\":\"%s\"}\n", reason);
    return 0;
}

/* Whether FUSE over io_uring can be had: switched on if need be (root),
 * its old value in WAS ("" if untouched). */
static int fsb_uring_on(char *was, size_t waslen)
{
    was[0] = '\0';
    char v[8] = "";
    FILE *f = fopen(FSB_URING, "r");
    if (!f || !fgets(v, sizeof(v), f)) {
        if (f)
            fclose(f);
        return fsb_uring_skip("the kernel has no FUSE over io_uring "
                              "(no enable_uring parameter)");
    }
    fclose(f);
    if (v[0] == 'Y')
        return 1;
    f = fopen(FSB_URING, "w");
    if (!f || fputs("Y", f) < 0 || fclose(f) != 0)
        return fsb_uring_skip("enable_uring is off and cannot be switched "
                              "on (not root?)");
    snprintf(was, waslen, "%c", v[0]);
    return 1;
}

static void fsb_uring_restore(const char *was)
{
    if (!was[0])
        return;
    FILE *f = fopen(FSB_URING, "w");
    int ok = f && fputs(was, f) >= 0;
    if (f && fclose(f) != 0)
        ok = 0;
    if (!ok)
        fprintf(stderr, "fs_bench: cannot put %s back to %s\n", FSB_URING,
                was);
}

int main(int argc, char **argv)
{
    const char *actorfs = FSB_ACTORFS;
    const char *nullfs = FSB_NULLFS;
    const char *plugin = FSB_PLUGIN;
    long messages = 2000;
    int rounds = 5;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--messages") == 0 && i + 1 < argc)
            messages = atol(argv[++i]);
        else if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc)
            rounds = atoi(argv[++i]);
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
            fprintf(stderr, "usage: fs_bench [--messages N] [--rounds R] "
                            "[--json FILE] [--actorfs BIN] [--nullfs BIN] "
                            "[--plugin LIB.so]\n");
            return 100;
        }
    }
    if (rounds < 1 || rounds > FSB_ROUNDS_MAX) {
        fprintf(stderr, "fs_bench: --rounds is 1 to %d\n", FSB_ROUNDS_MAX);
        return 100;
    }
    if (messages < 16 * rounds)
        messages = 16 * rounds;
    const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s/fs_bench.XXXXXX", tmp);
    if (!mkdtemp(dir))
        fsb_die("mkdtemp");
    printf("%-46s %7s %10s %8s %10s %10s %12s\n", "what", "writers",
           "durability", "ops", "p50 us", "p99 us", "ops/s");
    fsb_result fd = fsb_fdatasync(dir, messages / 4);
    fsb_print("append 64 B + fdatasync", NULL, 1, fd, "");
    fsb_json_floor("fdatasync", "append 64 B + fdatasync", fd);

    char nullmnt[4200], workmnt[4200], ringnull[4200], mnt[4200],
        ringmnt[4200], path[4300];
    long per = messages / rounds;
    fsb_turn t[FSB_TURNS_MAX];

    /* Pinned first: this thread (the writer) and both daemons on CPU 0.
     * What the sink costs there beyond the floor is actorfs's own time per
     * enqueue, given to the working floor below. */
    fsb_pin(0);
    pid_t npid = fsb_mount_null(nullfs, dir, "cpu0", 0, 0, 0, nullmnt,
                                sizeof(nullmnt));
    pid_t pid = fsb_mount_actorfs(actorfs, plugin, dir, "normal", "cpu0", 0,
                                  0, mnt, sizeof(mnt));
    fsb_turn_floor(&t[0], "null FUSE: open+write+close [1 CPU]", nullmnt,
                   "nullfs_pinned",
                   "null FUSE: open+write+close, writer and daemon on one CPU");
    fsb_turn_actorfs(&t[1], mnt, "_pinned", " [1 CPU]");
    fsb_turns(t, 3, "normal", rounds, per);
    fsb_unmount(pid, mnt);
    fsb_unmount(npid, nullmnt);
    fsb_pin(-1);
    double work_us = t[1].p50 > t[0].p50 ? t[1].p50 - t[0].p50 : 0;

    char was[8];
    int uring = fsb_uring_on(was, sizeof(was));
    npid = fsb_mount_null(nullfs, dir, "any", -1, 0, 0, nullmnt,
                          sizeof(nullmnt));
    pid_t wpid = fsb_mount_null(nullfs, dir, "work", -1, work_us, 0, workmnt,
                                sizeof(workmnt));
    pid_t rnpid = uring ? fsb_mount_null(nullfs, dir, "uring", -1, 0, 1,
                                         ringnull, sizeof(ringnull))
                        : -1;
    snprintf(path, sizeof(path), "%s/new", nullmnt);
    static const int many[] = {4, 16};
    for (size_t w = 0; w < 2; w++)
        fsb_print("null FUSE: open+write+close", NULL, many[w],
                  fsb_writers(path, many[w], messages), "");

    char work_what[64], work_label[160];
    snprintf(work_what, sizeof(work_what), "null FUSE, flush busy %.1f us",
             work_us);
    snprintf(work_label, sizeof(work_label),
             "null FUSE: open+write+close, its flush busy %.1f µs (actorfs's "
             "own time per enqueue, measured on one CPU)", work_us);
    static const char *const durs[] = {"full", "normal"};
    for (size_t d = 0; d < 2; d++) {
        int normal = d == 1;
        pid = fsb_mount_actorfs(actorfs, plugin, dir, durs[d], durs[d], -1, 0,
                                mnt, sizeof(mnt));
        pid_t rpid = normal && uring
                         ? fsb_mount_actorfs(actorfs, plugin, dir, durs[d],
                                             "uring", -1, 1, ringmnt,
                                             sizeof(ringmnt))
                         : -1;
        int n = 0;
        fsb_turn_floor(&t[n++], "null FUSE: open+write+close", nullmnt,
                       "nullfs", "null FUSE: open+write+close");
        if (normal)
            fsb_turn_floor(&t[n++], work_what, workmnt, "nullfs_work",
                           work_label);
        fsb_turn_actorfs(&t[n], mnt, "", "");
        n += 2;
        if (rpid > 0) {
            fsb_turn_floor(&t[n++], "null FUSE over io_uring", ringnull,
                           "nullfs_uring",
                           "null FUSE over io_uring: open+write+close");
            fsb_turn_actorfs(&t[n], ringmnt, "_uring", " [io_uring]");
            n += 2;
        }
        fsb_turns(t, n, durs[d], rounds, per);
        if (rpid > 0) {
            /* The same, with every CPU kept busy by a spinning thread: a
             * ring thread that waits as SCHED_IDLE must not starve. */
            fsb_turn b[3], sink[2];
            fsb_turn_floor(&b[0], "null FUSE, CPUs busy", nullmnt,
                           "nullfs_busy",
                           "null FUSE: open+write+close, every CPU kept busy "
                           "by other threads");
            fsb_turn_actorfs(sink, mnt, "_busy", " [busy]");
            b[1] = sink[0];
            fsb_turn_actorfs(sink, ringmnt, "_uring_busy",
                             " [io_uring, busy]");
            b[2] = sink[0];
            fsb_hogs((int)sysconf(_SC_NPROCESSORS_ONLN));
            /* Longer than a turn: the rings' threads take a few ms to
             * see that their CPU is busy. */
            fsb_turns(b, 3, durs[d], 1, messages);
            fsb_hogs(0);
        }
        long counted = 0;
        for (int k = 0; k < n; k++)
            if (t[k].mnt == mnt)
                counted = t[k].counted;
        snprintf(path, sizeof(path), "%s/counter/queues/add/new", mnt);
        for (size_t w = 0; w < 2; w++) {
            fsb_result r = fsb_writers(path, many[w], messages);
            fsb_print("actorfs: enqueue (echo > new)", durs[d], many[w], r, "");
            fsb_json_enqueue("fs_bench", durs[d], many[w], r);
            counted += r.ops;
            fsb_drain(mnt, counted);
        }
        snprintf(path, sizeof(path), "%s/sink/queues/in/new", mnt);
        fsb_result r = fsb_writers(path, 16, messages);
        fsb_print("actorfs: enqueue, nothing takes", durs[d], 16, r, "");
        fsb_json_enqueue("fs_bench_sink", durs[d], 16, r);
        if (rpid > 0)
            fsb_unmount(rpid, ringmnt);
        fsb_unmount(pid, mnt);
    }
    if (rnpid > 0)
        fsb_unmount(rnpid, ringnull);
    fsb_unmount(wpid, workmnt);
    fsb_unmount(npid, nullmnt);
    fsb_uring_restore(was);

    printf("(latency: open to close returning 0, i.e. acknowledged; one "
           "writer: median of %d rounds, the floor taking turns with actorfs; "
           "work under %s)\n", rounds, dir);
    if (json)
        fclose(json);
    return 0;
}
