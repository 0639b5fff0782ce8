/*
 * daemon.c - bringing actorfs up and down.
 *
 * Up: data directory, (daemon: fork and detach, log to DATA/actorfs.log),
 * the announcer helper (forked while there is still one thread), the FUSE
 * session, the engine with the examples, the VM backend and --load
 * plugins, the mount, the notifier, then the multi-threaded FUSE loop.
 * The parent of a daemon waits until the mount is up and exits with the
 * child's status, so `actorfs MNT && ls MNT` works and a failure is
 * reported on the terminal with its exit code.
 *
 * Down (SIGTERM/SIGINT/SIGHUP or fusermount3 -u end the loop): unmount,
 * stop announcing, close the engine (it waits for running steps and
 * commits), free everything, exit 0.
 */
#include "daemon.h"

#include "examples.h"
#include "fs.h"
#include "uring.h"
#include "vm.h"

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    int report_fd; /* daemon: pipe to the waiting parent; else -1 */
    void **plugins;
    size_t nplugins;
} fs__run;

/* Tells the user (terminal or waiting parent) and returns CODE. */
static int fs__fail(fs__run *r, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fs__fail(fs__run *r, int code, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (r->report_fd < 0) {
        fprintf(stderr, "actorfs: %s\n", msg);
        return code;
    }
    char out[PIPE_BUF];
    int n = snprintf(out, sizeof(out), "%c%s", code, msg);
    if (n >= (int)sizeof(out))
        n = (int)sizeof(out) - 1;
    if (write(r->report_fd, out, (size_t)n) < 0)
        eng_log("cannot report to the parent: %s", strerror(errno));
    close(r->report_fd);
    r->report_fd = -1;
    eng_log("%s", msg);
    return code;
}

static int fs__mkdirs(const char *path)
{
    char buf[PATH_MAX];
    if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
        return -ENAMETOOLONG;
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0700) < 0 && errno != EEXIST)
            return -errno;
        *p = '/';
    }
    if (mkdir(buf, 0700) < 0 && errno != EEXIST)
        return -errno;
    return 0;
}

/* Parent side of the fork: waits for the child's verdict, one write of
 * at most PIPE_BUF bytes (so one read; no EOF to wait for, since the
 * announcer helper inherits the pipe). */
static int fs__parent_wait(int fd)
{
    char buf[1200];
    ssize_t n;
    while ((n = read(fd, buf, sizeof(buf) - 1)) < 0 && errno == EINTR)
        ;
    if (n <= 0) {
        fprintf(stderr, "actorfs: the daemon exited during startup (see "
                        "its log)\n");
        return FS_EXIT_SYSTEM;
    }
    buf[n] = '\0';
    if (buf[0] != 0)
        fprintf(stderr, "actorfs: %s\n", buf + 1);
    return (unsigned char)buf[0];
}

/* Forks; the parent returns its exit code (>= 0), the child -1. */
static int fs__daemonize(fs__run *r, const char *data)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0) {
        fprintf(stderr, "actorfs: pipe: %s\n", strerror(errno));
        return FS_EXIT_SYSTEM;
    }
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "actorfs: fork: %s\n", strerror(errno));
        return FS_EXIT_SYSTEM;
    }
    if (pid > 0) {
        close(p[1]);
        int code = fs__parent_wait(p[0]);
        close(p[0]);
        return code;
    }
    close(p[0]);
    r->report_fd = p[1];
    setsid();
    char log[PATH_MAX + 16];
    snprintf(log, sizeof(log), "%s/actorfs.log", data);
    int lfd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    int nfd = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (lfd < 0 || nfd < 0) {
        fs__fail(r, FS_EXIT_SYSTEM, "cannot open %s: %s", log,
                 strerror(errno));
        _exit(FS_EXIT_SYSTEM);
    }
    dup2(nfd, STDIN_FILENO);
    dup2(nfd, STDOUT_FILENO);
    dup2(lfd, STDERR_FILENO);
    close(nfd);
    close(lfd);
    if (chdir("/") < 0)
        eng_log("chdir /: %s", strerror(errno));
    return -1;
}

static int fs__plugins(fs__run *r, eng *e, const fs_opts *o)
{
    r->plugins = calloc(o->nloads ? o->nloads : 1, sizeof(void *));
    if (!r->plugins)
        return fs__fail(r, FS_EXIT_SYSTEM, "out of memory");
    for (size_t i = 0; i < o->nloads; i++) {
        void *h = dlopen(o->loads[i], RTLD_NOW | RTLD_LOCAL);
        if (!h)
            return fs__fail(r, FS_EXIT_SYSTEM, "--load %s: %s", o->loads[i],
                            dlerror());
        r->plugins[r->nplugins++] = h;
        int (*reg)(eng *) = (int (*)(eng *))dlsym(h, "actorfs_register");
        if (!reg)
            return fs__fail(r, FS_EXIT_SYSTEM, "--load %s: %s", o->loads[i],
                            dlerror());
        int rc = reg(e);
        if (rc != 0)
            return fs__fail(r, FS_EXIT_SYSTEM,
                            "--load %s: actorfs_register failed: %s",
                            o->loads[i], strerror(rc < 0 ? -rc : rc));
        eng_log("loaded %s", o->loads[i]);
    }
    return 0;
}

static struct fuse_session *fs__session(fs__run *r, fs_state *st,
                                        const fs_opts *o)
{
    char *mopts = NULL;
    if (asprintf(&mopts, "default_permissions,fsname=actorfs,subtype=actorfs%s%s",
                 o->fuse_opts ? "," : "", o->fuse_opts ? o->fuse_opts : "") <
        0) {
        fs__fail(r, FS_EXIT_SYSTEM, "out of memory");
        return NULL;
    }
    char *argv[] = {"actorfs", "-o", mopts, NULL};
    struct fuse_args args = FUSE_ARGS_INIT(3, argv);
    struct fuse_session *se =
        fuse_session_new(&args, &fs_ops, sizeof(fs_ops), st);
    fuse_opt_free_args(&args);
    free(mopts);
    if (!se)
        fs__fail(r, FS_EXIT_USAGE, "bad -o options: %s", o->fuse_opts);
    return se;
}

/* Threads per CPU serving io_uring requests to begin with; more start
 * while all of a CPU's are busy (fs/uring.c). */
#define FS_URING_THREADS 2

static void fs__ring_log(const char *status)
{
    eng_log("requests over io_uring: %s", status);
}

/* Everything after the session exists; returns the exit code. */
static int fs__serve(fs__run *r, fs_state *st, const fs_opts *o)
{
    char err[512] = "";
    eng_config cfg = {
        .data_dir = st->data_dir,
        .durability = o->durability,
        .max_message_bytes = o->max_message_bytes,
    };
    int rc = eng_open(&cfg, &st->e, err, sizeof(err));
    if (rc < 0)
        return fs__fail(r, FS_EXIT_SYSTEM, "cannot open the engine in %s: %s",
                        st->data_dir, err[0] ? err : strerror(-rc));
    rc = examples_register(st->e);
    if (rc < 0)
        return fs__fail(r, FS_EXIT_SYSTEM, "cannot register the examples: %s",
                        strerror(-rc));
    vm_config vc = {
        .data_dir = st->data_dir,
        .agents = (const char *const *)o->agents,
        .nagents = o->nagents,
        .agents_conf = o->agents_conf,
        .net_vms = (const char *const *)o->net_vms,
        .nnet_vms = o->nnet_vms,
        .mounts = o->mounts,
        .nmounts = o->nmounts,
    };
    rc = vm_register(st->e, &vc, err, sizeof(err));
    if (rc < 0)
        return fs__fail(r, FS_EXIT_SYSTEM, "cannot set up the VM backend: %s",
                        err[0] ? err : strerror(-rc));
    if ((rc = fs__plugins(r, st->e, o)) != 0)
        return rc;
    eng_watch(st->e, fs_notify_engine, st);
    rc = eng_start(st->e, err, sizeof(err));
    if (rc < 0)
        return fs__fail(r, FS_EXIT_SYSTEM, "cannot start the engine: %s",
                        err[0] ? err : strerror(-rc));
    if (fuse_session_mount(st->se, st->mountpoint) != 0)
        return fs__fail(r, FS_EXIT_SYSTEM,
                        "cannot mount on %s (is /dev/fuse there? see the log)",
                        st->mountpoint);
    rc = fs_notify_start(st);
    if (rc < 0) {
        fuse_session_unmount(st->se);
        return fs__fail(r, FS_EXIT_SYSTEM, "cannot start the notifier: %s",
                        strerror(-rc));
    }
    fs_signals *sigs;
    rc = fs_signals_start(st->se, &sigs);
    if (rc < 0) {
        fs_announce_stop(st);
        fs_notify_stop(st);
        fuse_session_unmount(st->se);
        return fs__fail(r, FS_EXIT_SYSTEM, "cannot start the signal thread: %s",
                        strerror(-rc));
    }
    eng_log("mounted on %s, data in %s", st->mountpoint,
            st->data_dir);
    if (r->report_fd >= 0) {
        char ok = 0;
        if (write(r->report_fd, &ok, 1) < 0)
            eng_log("cannot report to the parent: %s", strerror(errno));
        close(r->report_fd);
        r->report_fd = -1;
    }
    fs_uring *ring = NULL;
    if (o->io_uring &&
        (rc = fs_uring_attach(st->se, FS_URING_THREADS, fs__ring_log, &ring)) <
            0)
        eng_log("io_uring: %s; requests come over /dev/fuse", strerror(-rc));
    struct fuse_loop_config *lc = fuse_loop_cfg_create();
    if (lc) {
        fuse_loop_cfg_set_max_threads(lc, 64);
        fuse_loop_cfg_set_idle_threads(lc, 16);
    }
    rc = lc ? fuse_session_loop_mt(st->se, lc) : -ENOMEM;
    fuse_loop_cfg_destroy(lc);
    int caught = fs_signals_stop(sigs);
    /* Announcing ends before the session's descriptor goes away. */
    fs_announce_stop(st);
    fs_notify_stop(st);
    fuse_session_unmount(st->se);
    if (ring)
        eng_log("requests over io_uring: %lu served", fs_uring_served(ring));
    fs_uring_detach(ring);
    eng_log("unmounted (%s)", caught     ? strsignal(caught)
                              : rc < 0 ? strerror(-rc)
                                       : "fusermount3 -u");
    return rc < 0 ? FS_EXIT_SYSTEM : FS_EXIT_OK;
}

int fs_daemon_run(const fs_opts *o)
{
    fs__run r = {.report_fd = -1};
    char data[PATH_MAX], mnt[PATH_MAX];
    int rc = fs__mkdirs(o->data_dir);
    if (rc < 0 || !realpath(o->data_dir, data)) {
        fprintf(stderr, "actorfs: data directory %s: %s\n", o->data_dir,
                strerror(rc < 0 ? -rc : errno));
        return FS_EXIT_SYSTEM;
    }
    if (!realpath(o->mountpoint, mnt)) {
        fprintf(stderr, "actorfs: mount point %s: %s\n", o->mountpoint,
                strerror(errno));
        return FS_EXIT_SYSTEM;
    }
    if (!o->foreground && (rc = fs__daemonize(&r, data)) >= 0)
        return rc;

    /* Blocked in every thread made from here on: signals.c takes them. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    fs_state st = {
        .data_dir = data,
        .mountpoint = mnt,
        .max_message_bytes = o->max_message_bytes,
        .uid = getuid(),
        .gid = getgid(),
    };
    clock_gettime(CLOCK_REALTIME, &st.start);
    pthread_mutex_init(&st.fh_mu, NULL);
    char err[512] = "";
    int code = FS_EXIT_SYSTEM;
    if (fs_inodes_new(&st.inodes) < 0 || fs_errors_new(&st.errors) < 0 ||
        fs_notify_new(&st) < 0)
        code = fs__fail(&r, FS_EXIT_SYSTEM, "out of memory");
    else if (fs_announce_start(&st, err, sizeof(err)) < 0)
        code = fs__fail(&r, FS_EXIT_SYSTEM, "cannot start the notifier "
                                            "helper: %s", err);
    else if ((st.se = fs__session(&r, &st, o)) != NULL)
        code = fs__serve(&r, &st, o);

    fs_announce_stop(&st);
    fs_notify_stop(&st);
    if (st.se)
        fuse_session_destroy(st.se);
    fs_fh_free_all(&st);
    fs_announce_free(&st);
    if (st.e)
        eng_close(st.e);
    vm_shutdown();
    fs_notify_free(&st);
    for (size_t i = 0; i < r.nplugins; i++)
        dlclose(r.plugins[i]);
    free(r.plugins);
    fs_errors_free(st.errors);
    fs_inodes_free(st.inodes);
    pthread_mutex_destroy(&st.fh_mu);
    if (r.report_fd >= 0)
        close(r.report_fd);
    return code;
}
