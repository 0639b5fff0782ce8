/*
 * proc.c - one sandboxed process on the VM loop, a sandbox of its own:
 * an agent session's (exec runs in the VM's shared sandbox, box.c).
 * bubblewrap spawned as the unprivileged sandbox uid, its stdio pipes,
 * its cgroups, its death.
 *
 * The order matters for limits: bubblewrap reports the sandbox's pid on
 * fd 3 and then blocks reading fd 4; the process is moved into its
 * cgroups before the byte that releases it is written, so nothing it
 * forks escapes them.  A kill ends the whole tree three ways: cgroup.kill
 * where it exists, SIGKILL to the PID namespace's init (through a pidfd
 * taken while it was held, so the pid cannot have been reused), which
 * takes every process of the namespace with it, and SIGKILL to the outer
 * bubblewrap.  `done` is called once every handle is closed, so the
 * owner may free the process in it.
 *
 * Every sandbox gets the read end of one lifeline pipe (sandbox.c says
 * what watches it).  Its write end is close-on-exec and made at the first
 * spawn, on this thread: the announcer (fs/announce.c) is forked without
 * exec after vm_register, and a copy of the write end in it would keep
 * the sandboxes alive after the daemon died.
 */
#include "vm_int.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

struct vm__proc {
    uv_process_t proc;
    uv_pipe_t in, out, err, info;
    uv_timer_t drain;
    int has_in;
    int block_fd;
    int init_fd; /* pidfd of the sandbox's PID-namespace init */
    vm__cg *cg;
    vm__buf infobuf;
    int pending; /* handles not yet closed */
    int exited;
    int64_t status;
    int sig;
    int oom;
    int orphan; /* spawn failed: nobody waits, free on close */
    vm__proc_cbs cbs;
    struct vm__proc *next, **prev; /* the live list, loop thread only */
};

/* Every process not yet done, so shutdown can end them all; after that
 * no new one starts. */
static vm__proc *live;
static int closing;
static int lifeline[2] = {-1, -1};

static int lifeline_open(char *err, size_t errlen)
{
    if (lifeline[1] >= 0)
        return 0;
    if (pipe2(lifeline, O_CLOEXEC) < 0) {
        int rc = -errno;
        vm__err(err, errlen, "pipe: %s", strerror(errno));
        return rc;
    }
    return 0;
}

static void lifeline_close(void)
{
    for (int i = 0; i < 2; i++) {
        if (lifeline[i] >= 0)
            close(lifeline[i]);
        lifeline[i] = -1;
    }
}

void vm__proc_accept(void)
{
    closing = 0;
}

int vm__proc_closing(void)
{
    return closing;
}

static void live_unlink(vm__proc *p)
{
    if (p->prev == NULL)
        return;
    *p->prev = p->next;
    if (p->next)
        p->next->prev = p->prev;
    p->prev = NULL;
}

typedef struct {
    uv_write_t req;
    char *data;
} wreq;

static void release_block(vm__proc *p)
{
    if (p->block_fd >= 0) {
        if (write(p->block_fd, "1", 1) < 0 && errno != EPIPE)
            eng_log("vm: releasing the sandbox: %s", strerror(errno));
        close(p->block_fd);
        p->block_fd = -1;
    }
}

static void on_closed(uv_handle_t *h)
{
    vm__proc *p = h->data;
    if (--p->pending > 0)
        return;
    live_unlink(p);
    if (p->init_fd >= 0) {
        close(p->init_fd);
        p->init_fd = -1;
    }
    if (p->orphan) {
        vm__cg_destroy(p->cg);
        free(p);
        return;
    }
    p->oom = vm__cg_oom(p->cg);
    vm__cg_destroy(p->cg);
    p->cg = NULL;
    p->cbs.done(p->cbs.ud, p->status, p->sig, p->oom);
}

static void close_h(vm__proc *p, uv_handle_t *h)
{
    h->data = p;
    if (!uv_is_closing(h))
        uv_close(h, on_closed);
}

/* After exit: close what is finished; the drain timer bounds the wait
 * for the pipes' last bytes. */
static void settle(vm__proc *p)
{
    if (!p->exited)
        return;
    if (p->has_in)
        close_h(p, (uv_handle_t *)&p->in);
    if (uv_is_closing((uv_handle_t *)&p->out) && uv_is_closing((uv_handle_t *)&p->err))
        close_h(p, (uv_handle_t *)&p->drain);
}

static void read_out(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    vm__proc *p = s->data;
    if (n > 0) {
        p->cbs.out(p->cbs.ud, buf->base, (size_t)n);
    } else if (n < 0) {
        close_h(p, (uv_handle_t *)s);
        settle(p);
    }
}

static void read_err(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    vm__proc *p = s->data;
    if (n > 0) {
        p->cbs.err(p->cbs.ud, buf->base, (size_t)n);
    } else if (n < 0) {
        close_h(p, (uv_handle_t *)s);
        settle(p);
    }
}

static void read_info(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    vm__proc *p = s->data;
    if (n > 0) {
        if (vm__buf_add(&p->infobuf, buf->base, (size_t)n) < 0)
            n = UV_ENOMEM;
        else
            return;
    }
    if (n == 0)
        return;
    /* bubblewrap closed the info fd: the sandbox is blocked on fd 4. */
    cJSON *j = p->infobuf.p ? cJSON_Parse(p->infobuf.p) : NULL;
    const cJSON *pid = cJSON_GetObjectItemCaseSensitive(j, "child-pid");
    if (cJSON_IsNumber(pid)) {
        /* Held before the sandbox is released, so a kill always reaches
         * its init, even before it has armed --die-with-parent. */
        long fd = syscall(SYS_pidfd_open, (pid_t)pid->valueint, 0);
        p->init_fd = fd < 0 ? -1 : (int)fd;
        if (p->cg != NULL && (vm__cg_attach(p->cg, (pid_t)pid->valueint) < 0 ||
                              vm__cg_attach(p->cg, (pid_t)p->proc.pid) < 0)) {
            /* Never let it run outside its limits; killed while still
             * held, so nothing of it ran. */
            static const char why[] = "actorfs: the sandbox could not be put into its "
                                      "cgroups, so it did not run (the daemon's log says why)\n";
            p->cbs.err(p->cbs.ud, why, sizeof why - 1);
            vm__proc_kill(p);
        }
    }
    cJSON_Delete(j);
    vm__buf_free(&p->infobuf);
    release_block(p);
    close_h(p, (uv_handle_t *)s);
}

static void drain_fire(uv_timer_t *t)
{
    vm__proc *p = t->data;
    close_h(p, (uv_handle_t *)&p->out);
    close_h(p, (uv_handle_t *)&p->err);
    settle(p);
}

static void on_exit_cb(uv_process_t *h, int64_t status, int sig)
{
    vm__proc *p = h->data;
    p->exited = 1;
    p->status = status;
    p->sig = sig;
    release_block(p);
    close_h(p, (uv_handle_t *)h);
    if (!uv_is_closing((uv_handle_t *)&p->drain))
        uv_timer_start(&p->drain, drain_fire, 2000, 0);
    settle(p);
}

int vm__proc_spawn(const vm__sandbox_spec *s, char **env, int want_stdin,
                   const vm__proc_cbs *cbs, vm__proc **out, char *err,
                   size_t errlen)
{
    char **argv = NULL;
    if (closing) {
        vm__err(err, errlen, "the daemon is stopping");
        return -ESHUTDOWN;
    }
    int rc = lifeline_open(err, errlen);
    if (rc < 0)
        return rc;
    if ((rc = vm__sandbox_argv(s, &argv, err, errlen)) < 0)
        return rc;
    vm__proc *p = calloc(1, sizeof *p);
    int info[2] = {-1, -1}, block[2] = {-1, -1};
    if (p == NULL) {
        vm__argv_free(argv);
        return -ENOMEM;
    }
    p->cbs = *cbs;
    p->block_fd = -1;
    p->init_fd = -1;
    if ((rc = vm__cg_create(&p->cg)) < 0) {
        vm__err(err, errlen, "the sandbox's cgroups could not be made (%s), so it did not run",
                strerror(-rc));
        goto fail_fds;
    }
    if (pipe2(info, O_CLOEXEC) < 0 || pipe2(block, O_CLOEXEC) < 0) {
        rc = -errno;
        vm__err(err, errlen, "pipe: %s", strerror(errno));
        goto fail_fds;
    }
    uv_loop_t *loop = vm__loop();
    p->has_in = want_stdin;
    uv_pipe_init(loop, &p->out, 0);
    uv_pipe_init(loop, &p->err, 0);
    uv_timer_init(loop, &p->drain);
    p->pending = 4; /* process, out, err, drain */
    if (want_stdin) {
        uv_pipe_init(loop, &p->in, 0);
        p->pending++;
    }
    uv_stdio_container_t stdio[6];
    stdio[0].flags = want_stdin ? UV_CREATE_PIPE | UV_READABLE_PIPE : UV_IGNORE;
    stdio[0].data.stream = (uv_stream_t *)&p->in;
    stdio[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
    stdio[1].data.stream = (uv_stream_t *)&p->out;
    stdio[2].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
    stdio[2].data.stream = (uv_stream_t *)&p->err;
    stdio[3].flags = UV_INHERIT_FD;
    stdio[3].data.fd = info[1];
    stdio[4].flags = UV_INHERIT_FD;
    stdio[4].data.fd = block[0];
    stdio[5].flags = UV_INHERIT_FD;
    stdio[5].data.fd = lifeline[0];
    p->proc.data = p;
    rc = vm__sandbox_spawn(&p->proc, argv, env, stdio, 6, on_exit_cb);
    vm__argv_free(argv);
    close(info[1]);
    close(block[0]);
    p->block_fd = block[1];
    if (rc < 0) {
        vm__err(err, errlen, "cannot start the sandbox (%s): %s",
                vm__conf_bwrap(), uv_strerror(rc));
        close(info[0]);
        release_block(p);
        p->exited = 1;
        /* The handles exist: closing them frees p. */
        p->orphan = 1;
        close_h(p, (uv_handle_t *)&p->proc);
        close_h(p, (uv_handle_t *)&p->out);
        close_h(p, (uv_handle_t *)&p->err);
        close_h(p, (uv_handle_t *)&p->drain);
        if (want_stdin)
            close_h(p, (uv_handle_t *)&p->in);
        *out = NULL;
        return rc;
    }
    uv_pipe_init(loop, &p->info, 0);
    p->pending++;
    p->info.data = p;
    p->out.data = p;
    p->err.data = p;
    p->drain.data = p;
    if (uv_pipe_open(&p->info, info[0]) < 0) {
        close(info[0]);
        release_block(p);
        close_h(p, (uv_handle_t *)&p->info);
    } else {
        uv_read_start((uv_stream_t *)&p->info, vm__alloc_cb, read_info);
    }
    uv_read_start((uv_stream_t *)&p->out, vm__alloc_cb, read_out);
    uv_read_start((uv_stream_t *)&p->err, vm__alloc_cb, read_err);
    p->next = live;
    if (live)
        live->prev = &p->next;
    p->prev = &live;
    live = p;
    *out = p;
    return 0;
fail_fds:
    vm__cg_destroy(p->cg);
    vm__argv_free(argv);
    for (int i = 0; i < 2; i++) {
        if (info[i] >= 0)
            close(info[i]);
        if (block[i] >= 0)
            close(block[i]);
    }
    free(p);
    return rc;
}

static void write_done(uv_write_t *req, int status)
{
    (void)status;
    wreq *w = (wreq *)req;
    free(w->data);
    free(w);
}

int vm__proc_write(vm__proc *p, const char *buf, size_t n)
{
    if (!p->has_in || p->exited || uv_is_closing((uv_handle_t *)&p->in))
        return -EPIPE;
    wreq *w = calloc(1, sizeof *w);
    if (w == NULL || (w->data = malloc(n)) == NULL) {
        free(w);
        return -ENOMEM;
    }
    memcpy(w->data, buf, n);
    uv_buf_t b = uv_buf_init(w->data, (unsigned)n);
    int rc = uv_write(&w->req, (uv_stream_t *)&p->in, &b, 1, write_done);
    if (rc < 0) {
        free(w->data);
        free(w);
    }
    return rc;
}

/* Before bubblewrap reported its sandbox, the sandbox's init is found as
 * the outer process's child: it cannot be reaped (and its pid reused)
 * while the outer one lives. */
static void kill_children(pid_t pid)
{
    char path[64], buf[256];
    snprintf(path, sizeof path, "/proc/%d/task/%d/children", (int)pid, (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    buf[n > 0 ? n : 0] = '\0';
    for (char *save, *t = strtok_r(buf, " \n", &save); t; t = strtok_r(NULL, " \n", &save))
        kill((pid_t)atoi(t), SIGKILL);
}

void vm__proc_kill(vm__proc *p)
{
    if (p == NULL || p->exited)
        return;
    vm__cg_kill(p->cg);
    if (p->init_fd < 0)
        kill_children(p->proc.pid);
    if (p->init_fd >= 0)
        syscall(SYS_pidfd_send_signal, p->init_fd, SIGKILL, NULL, 0);
    uv_process_kill(&p->proc, SIGKILL);
}

void vm__proc_kill_all(void *unused)
{
    (void)unused;
    closing = 1;
    for (vm__proc *p = live; p != NULL; p = p->next)
        vm__proc_kill(p);
    lifeline_close();
}

void vm__proc_free(vm__proc *p)
{
    if (p == NULL)
        return;
    vm__buf_free(&p->infobuf);
    free(p);
}
