/*
 * box.c - a VM's persistent sandbox and the commands run in it.
 *
 * A bubblewrap per command cost about 5 ms of namespaces and mounts
 * before `true` ran.  So each VM gets one sandbox, started at its first
 * exec (sandbox.c's command line, same isolation), whose pid 1 is
 * actorfs-vminit (init.c); a command is a message to it (vminit.h) with
 * its stdio pipes, and costs a fork and an exec.  Its order keeps the
 * limits: init forks the command and holds it; the daemon moves it into a
 * fresh cgroup of its own (found through the pidfd init sends, so the pid
 * is this namespace's and cannot have been reused) and only then
 * releases it.  A kill (timeout, cancel, shutdown) ends the command's
 * whole tree: cgroup.kill where it exists, and init kills its process
 * group.  Without cgroup.kill a process that left the group (setsid)
 * survives the kill until the VM's sandbox ends.  When a command exits,
 * init kills its group and the daemon its cgroup, so what it started in
 * the background ends with it, as it did when each had its own sandbox.
 *
 * Commands of one VM share its PID namespace.  The sandbox ends when the
 * daemon goes (init reads EOF on its socket: nothing needs the daemon to
 * have had a chance), on rmdir vm@NAME, at shutdown, and after a while
 * without commands (ACTORFS_VM_IDLE_S), so idle VMs hold no processes; if
 * it dies anyway, its commands end killed.  The next exec starts it again.
 * Everything here runs on the loop thread.
 */
#include "vm_int.h"
#include "vminit.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct box box;

struct vm__run {
    box *b; /* NULL once its sandbox is gone */
    uint32_t id;
    uv_pipe_t out, err;
    uv_timer_t drain;
    int pending; /* handles not yet closed */
    int exited;
    int64_t status;
    int sig;
    int pidfd;
    vm__cg *cg;
    int cg_err; /* the group could not be made: the command must not run */
    vm__proc_cbs cbs;
    struct vm__run *next;
};

struct box {
    char *vm;
    uv_process_t proc;
    uv_poll_t poll;
    uv_timer_t idle;
    int ctl;
    int pending; /* proc, poll and idle */
    int ended;
    uint32_t seq;
    vm__run *runs;
    box *next;
};

static box *boxes;

static void box_end(box *b);

/* ---- a command ---------------------------------------------------------- */

typedef struct {
    uv_work_t req;
    vm__cg *cg;
} cg_work;

/* Removing a cgroup waits for it to empty: not on this thread. */
static void cg_work_run(uv_work_t *w)
{
    vm__cg_destroy(((cg_work *)w)->cg);
}

static void cg_work_done(uv_work_t *w, int status)
{
    (void)status;
    free(w);
}

static void cg_release(vm__cg *g)
{
    cg_work *w = g ? calloc(1, sizeof *w) : NULL;
    if (w != NULL) {
        w->cg = g;
        if (uv_queue_work(vm__loop(), &w->req, cg_work_run, cg_work_done) == 0)
            return;
        free(w);
    }
    vm__cg_destroy(g);
}

static void box_idle(uv_timer_t *t)
{
    box *b = t->data;
    eng_log("vm@%s: no command for %llu s: its sandbox stops until the next one",
            b->vm, (unsigned long long)(vm__conf_idle_ms() / 1000));
    box_end(b);
}

static void run_unlink(vm__run *r)
{
    box *b = r->b;
    if (b == NULL)
        return;
    for (vm__run **pp = &b->runs; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == r) {
            *pp = r->next;
            break;
        }
    }
    r->b = NULL;
    if (b->runs == NULL && vm__conf_idle_ms() > 0)
        uv_timer_start(&b->idle, box_idle, vm__conf_idle_ms(), 0);
}

static void run_closed(uv_handle_t *h)
{
    vm__run *r = h->data;
    if (--r->pending > 0)
        return;
    run_unlink(r);
    if (r->pidfd >= 0)
        close(r->pidfd);
    int oom = vm__cg_oom(r->cg);
    vm__cg *cg = r->cg;
    r->cbs.done(r->cbs.ud, r->status, r->sig, oom);
    free(r);
    cg_release(cg);
}

static void run_close(uv_handle_t *h)
{
    if (!uv_is_closing(h))
        uv_close(h, run_closed);
}

static void run_settle(vm__run *r)
{
    if (r->exited && uv_is_closing((uv_handle_t *)&r->out) &&
        uv_is_closing((uv_handle_t *)&r->err))
        run_close((uv_handle_t *)&r->drain);
}

static void read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    vm__run *r = s->data;
    if (n > 0) {
        if (s == (uv_stream_t *)&r->out)
            r->cbs.out(r->cbs.ud, buf->base, (size_t)n);
        else
            r->cbs.err(r->cbs.ud, buf->base, (size_t)n);
    } else if (n < 0) {
        run_close((uv_handle_t *)s);
        run_settle(r);
    }
}

static void drain_fire(uv_timer_t *t)
{
    vm__run *r = t->data;
    run_close((uv_handle_t *)&r->out);
    run_close((uv_handle_t *)&r->err);
    run_settle(r);
}

static void run_exited(vm__run *r, int64_t status, int sig)
{
    if (r->exited)
        return;
    r->exited = 1;
    r->status = status;
    r->sig = sig;
    vm__cg_kill(r->cg);
    uv_timer_start(&r->drain, drain_fire, 2000, 0);
    run_settle(r);
}

static int send_msg(box *b, uint32_t type, uint32_t id, const void *payload,
                    size_t n, const int *fds, int nfds)
{
    vm__msg m = {.type = type, .id = id};
    struct iovec iov[2] = {{.iov_base = &m, .iov_len = sizeof m},
                           {.iov_base = (void *)payload, .iov_len = n}};
    /* Zeroed: the kernel is handed the padding after the fds too. */
    union {
        char buf[CMSG_SPACE(3 * sizeof(int))];
        struct cmsghdr align;
    } u = {{0}};
    struct msghdr mh = {.msg_iov = iov, .msg_iovlen = n ? 2 : 1};
    if (nfds > 0) {
        mh.msg_control = u.buf;
        mh.msg_controllen = CMSG_SPACE((size_t)nfds * sizeof(int));
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN((size_t)nfds * sizeof(int));
        memcpy(CMSG_DATA(c), fds, (size_t)nfds * sizeof(int));
    }
    return sendmsg(b->ctl, &mh, MSG_DONTWAIT | MSG_NOSIGNAL) < 0 ? -errno : 0;
}

/* The pid of a pidfd in our PID namespace, or -1. */
static pid_t pidfd_pid(int fd)
{
    char path[64], line[128];
    pid_t pid = -1;
    snprintf(path, sizeof path, "/proc/self/fdinfo/%d", fd);
    FILE *f = fopen(path, "re");
    while (f != NULL && fgets(line, sizeof line, f) != NULL)
        if (strncmp(line, "Pid:", 4) == 0)
            pid = (pid_t)atoi(line + 4);
    if (f != NULL)
        fclose(f);
    return pid;
}

static void on_started(box *b, vm__run *r, int fd)
{
    if (r == NULL || r->pidfd >= 0) {
        if (fd >= 0)
            close(fd);
        return;
    }
    r->pidfd = fd;
    pid_t pid = fd >= 0 ? pidfd_pid(fd) : -1;
    if (pid <= 0 || r->cg_err < 0 || (r->cg != NULL && vm__cg_attach(r->cg, pid) < 0)) {
        /* Never let it run outside its limits. */
        static const char why[] = "actorfs: the command could not be put into its "
                                  "cgroups, so it did not run (the daemon's log says why)\n";
        r->cbs.err(r->cbs.ud, why, sizeof why - 1);
        send_msg(b, VM__MSG_KILL, r->id, NULL, 0, NULL, 0);
        return;
    }
    if (send_msg(b, VM__MSG_GO, r->id, NULL, 0, NULL, 0) < 0)
        box_end(b);
}

/* ---- the sandbox -------------------------------------------------------- */

static void box_closed(uv_handle_t *h)
{
    box *b = h->data;
    if (--b->pending > 0)
        return;
    free(b->vm);
    free(b);
}

static void box_read(uv_poll_t *h, int status, int events)
{
    box *b = h->data;
    (void)events;
    /* A bounded batch, so one busy sandbox cannot starve the loop; the
     * poll calls again for the rest. */
    for (int i = 0; status == 0; i++) {
        if (i == 64)
            return;
        union {
            char buf[CMSG_SPACE(sizeof(int))];
            struct cmsghdr align;
        } u;
        vm__msg m;
        struct iovec iov = {.iov_base = &m, .iov_len = sizeof m};
        struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
                            .msg_controllen = sizeof u.buf};
        ssize_t n = recvmsg(b->ctl, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        if (n <= 0)
            break;
        int fd = -1;
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
        if (c != NULL && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
            c->cmsg_len == CMSG_LEN(sizeof(int)))
            memcpy(&fd, CMSG_DATA(c), sizeof fd);
        vm__run *r = b->runs;
        while (r != NULL && r->id != m.id)
            r = r->next;
        if (n != (ssize_t)sizeof m || m.type != VM__MSG_STARTED) {
            if (fd >= 0)
                close(fd);
            fd = -1;
        }
        if (n != (ssize_t)sizeof m)
            continue;
        if (m.type == VM__MSG_STARTED) {
            on_started(b, r, fd);
        } else if (r == NULL) {
            continue;
        } else if (m.type == VM__MSG_EXITED) {
            int st = m.value;
            run_exited(r, WIFEXITED(st) ? WEXITSTATUS(st) : 0,
                       WIFSIGNALED(st) ? WTERMSIG(st) : 0);
        } else if (m.type == VM__MSG_FAILED) {
            char msg[160];
            int k = snprintf(msg, sizeof msg, "actorfs: cannot start the command: %s\n",
                             strerror(m.value));
            r->cbs.err(r->cbs.ud, msg, (size_t)k);
            run_exited(r, 126, 0);
        }
    }
    eng_log("vm@%s: the VM's init is gone: its sandbox stopped", b->vm);
    box_end(b);
}

static void box_exit(uv_process_t *p, int64_t status, int sig)
{
    box *b = p->data;
    if (!b->ended)
        eng_log("vm@%s: the VM's sandbox ended (status %lld, signal %d)", b->vm,
                (long long)status, sig);
    box_end(b);
    uv_close((uv_handle_t *)p, box_closed);
}

/* Ends the sandbox: its init kills everything when its socket closes;
 * commands still running end as killed. */
static void box_end(box *b)
{
    if (b->ended)
        return;
    b->ended = 1;
    for (box **pp = &boxes; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == b) {
            *pp = b->next;
            break;
        }
    }
    uv_close((uv_handle_t *)&b->poll, box_closed);
    uv_close((uv_handle_t *)&b->idle, box_closed);
    close(b->ctl);
    uv_process_kill(&b->proc, SIGKILL);
    while (b->runs != NULL) {
        vm__run *r = b->runs;
        b->runs = r->next;
        r->b = NULL;
        if (r->pidfd < 0 && !r->exited) {
            static const char why[] = "actorfs: the VM's sandbox ended before the "
                                      "command started (the daemon's log says why)\n";
            r->cbs.err(r->cbs.ud, why, sizeof why - 1);
        }
        vm__cg_kill(r->cg);
        if (r->pidfd >= 0)
            syscall(SYS_pidfd_send_signal, r->pidfd, SIGKILL, NULL, 0);
        run_exited(r, 0, SIGKILL);
    }
}

static box *box_start(const char *vm, char **env, char *err, size_t errlen)
{
    const char *cmd[] = {VM__INIT_PATH, NULL};
    vm__sandbox_spec spec = {.vm = vm, .cmd = cmd, .box = 1};
    char **argv = NULL;
    int sv[2];
    if (access(VM__STAGE "/init", X_OK) < 0) {
        vm__err(err, errlen, "the VM init (actorfs-vminit) is missing: %s",
                vm__stage_init_error());
        return NULL;
    }
    int rc = vm__sandbox_argv(&spec, &argv, err, errlen);
    if (rc < 0)
        return NULL;
    box *b = calloc(1, sizeof *b);
    if (b == NULL || (b->vm = strdup(vm)) == NULL) {
        vm__argv_free(argv);
        free(b);
        vm__err(err, errlen, "out of memory");
        return NULL;
    }
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
        vm__err(err, errlen, "socketpair: %s", strerror(errno));
        vm__argv_free(argv);
        free(b->vm);
        free(b);
        return NULL;
    }
    /* Room for the largest command in one packet (root may force it). */
    int sz = 2 * VM__MSG_MAX;
    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof sz);
    uv_stdio_container_t stdio[4] = {
        {.flags = UV_IGNORE},
        {.flags = UV_IGNORE},
        {.flags = UV_INHERIT_FD, .data.fd = 2},
        {.flags = UV_INHERIT_FD, .data.fd = sv[1]},
    };
    b->proc.data = b;
    rc = vm__sandbox_spawn(&b->proc, argv, env, stdio, 4, box_exit);
    vm__argv_free(argv);
    close(sv[1]);
    if (rc < 0) {
        vm__err(err, errlen, "cannot start the sandbox (%s): %s", vm__conf_bwrap(),
                uv_strerror(rc));
        close(sv[0]);
        b->pending = 1;
        uv_close((uv_handle_t *)&b->proc, box_closed);
        return NULL;
    }
    b->ctl = sv[0];
    b->poll.data = b;
    if (uv_poll_init(vm__loop(), &b->poll, b->ctl) < 0) {
        /* Only the process handle exists: its exit frees b. */
        vm__err(err, errlen, "cannot watch the VM's sandbox");
        b->ended = 1;
        b->pending = 1;
        close(b->ctl);
        uv_process_kill(&b->proc, SIGKILL);
        return NULL;
    }
    uv_timer_init(vm__loop(), &b->idle);
    b->idle.data = b;
    b->pending = 3;
    if (vm__conf_idle_ms() > 0)
        uv_timer_start(&b->idle, box_idle, vm__conf_idle_ms(), 0);
    if (uv_poll_start(&b->poll, UV_READABLE | UV_DISCONNECT, box_read) < 0) {
        vm__err(err, errlen, "cannot watch the VM's sandbox");
        box_end(b);
        return NULL;
    }
    b->next = boxes;
    boxes = b;
    return b;
}

/* ---- the interface ------------------------------------------------------ */

int vm__box_run(const char *vm, const char *const *cmd, char **env,
                const vm__proc_cbs *cbs, vm__run **out, char *err, size_t errlen)
{
    vm__buf msg = {0};
    if (vm__proc_closing()) {
        vm__err(err, errlen, "the daemon is stopping");
        return -ESHUTDOWN;
    }
    box *b = boxes;
    while (b != NULL && strcmp(b->vm, vm) != 0)
        b = b->next;
    if (b == NULL && (b = box_start(vm, env, err, errlen)) == NULL)
        return -EIO;
    int rc = vm__buf_add(&msg, "/home/user", sizeof "/home/user");
    for (size_t i = 0; rc == 0 && cmd[i] != NULL; i++)
        rc = vm__buf_add(&msg, cmd[i], strlen(cmd[i]) + 1);
    rc = rc < 0 ? rc : vm__buf_add(&msg, "", 1);
    for (size_t i = 0; rc == 0 && env[i] != NULL; i++)
        rc = vm__buf_add(&msg, env[i], strlen(env[i]) + 1);
    if (rc == 0 && msg.n > VM__MSG_MAX)
        rc = -E2BIG;
    if (rc < 0) {
        vm__buf_free(&msg);
        vm__err(err, errlen, rc == -E2BIG ? "the command is too long (at most %d bytes)"
                                          : "out of memory", VM__MSG_MAX);
        return rc;
    }
    int outp[2] = {-1, -1}, errp[2] = {-1, -1};
    int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (null < 0 || pipe2(outp, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0) {
        rc = -errno;
        vm__err(err, errlen, "pipe: %s", strerror(errno));
        goto fail;
    }
    vm__run *r = calloc(1, sizeof *r);
    if (r == NULL) {
        rc = -ENOMEM;
        vm__err(err, errlen, "out of memory");
        goto fail;
    }
    int fds[3] = {null, outp[1], errp[1]};
    r->id = ++b->seq;
    if ((rc = send_msg(b, VM__MSG_RUN, r->id, msg.p, msg.n, fds, 3)) < 0) {
        if (rc == -EMSGSIZE)
            vm__err(err, errlen, "the command is too long for the VM's sandbox (%zu bytes)",
                    msg.n);
        else
            vm__err(err, errlen, "the VM's sandbox does not take the command: %s",
                    strerror(-rc));
        free(r);
        /* Too long is this command's fault and full a moment's congestion;
         * anything else is a broken sandbox. */
        if (rc != -EAGAIN && rc != -EMSGSIZE)
            box_end(b);
        goto fail;
    }
    vm__buf_free(&msg);
    close(null);
    close(outp[1]);
    close(errp[1]);
    r->b = b;
    r->pidfd = -1;
    r->cbs = *cbs;
    /* Made while init forks. */
    r->cg_err = vm__cg_create(&r->cg);
    uv_loop_t *loop = vm__loop();
    uv_pipe_init(loop, &r->out, 0);
    uv_pipe_init(loop, &r->err, 0);
    uv_timer_init(loop, &r->drain);
    r->out.data = r->err.data = r->drain.data = r;
    r->pending = 3;
    if (uv_pipe_open(&r->out, outp[0]) < 0)
        close(outp[0]);
    else
        uv_read_start((uv_stream_t *)&r->out, vm__alloc_cb, read_cb);
    if (uv_pipe_open(&r->err, errp[0]) < 0)
        close(errp[0]);
    else
        uv_read_start((uv_stream_t *)&r->err, vm__alloc_cb, read_cb);
    r->next = b->runs;
    b->runs = r;
    uv_timer_stop(&b->idle);
    *out = r;
    return 0;
fail:
    vm__buf_free(&msg);
    for (int i = 0; i < 2; i++) {
        if (outp[i] >= 0)
            close(outp[i]);
        if (errp[i] >= 0)
            close(errp[i]);
    }
    if (null >= 0)
        close(null);
    return rc;
}

void vm__box_kill(vm__run *r)
{
    if (r == NULL || r->exited)
        return;
    vm__cg_kill(r->cg);
    if (r->pidfd >= 0)
        syscall(SYS_pidfd_send_signal, r->pidfd, SIGKILL, NULL, 0);
    if (r->b != NULL)
        send_msg(r->b, VM__MSG_KILL, r->id, NULL, 0, NULL, 0);
}

void vm__box_stop(void *vm)
{
    box *b = boxes;
    while (b != NULL && strcmp(b->vm, vm) != 0)
        b = b->next;
    if (b != NULL)
        box_end(b);
}

void vm__box_stop_all(void *unused)
{
    (void)unused;
    while (boxes != NULL)
        box_end(boxes);
}
