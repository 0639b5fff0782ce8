/*
 * init.c - actorfs-vminit, pid 1 of a VM's persistent sandbox.
 *
 * The daemon starts one bubblewrap per VM with this program as its init
 * (bwrap --as-pid-1) and sends it commands over the socket on fd 3
 * (vminit.h).  Each command is forked into a session and process group of
 * its own and held on a pipe until the daemon has put it into its
 * cgroups, so nothing it forks escapes the limits; then it execs.  When a
 * command exits, init kills what is left of its process group and tells
 * the daemon its status.  As pid 1 it reaps every orphan.
 *
 * The socket is also the lifeline: when it reads EOF the daemon is gone
 * (or closed the VM), and init kills every process in the sandbox and
 * exits, which ends the PID namespace.  The sandbox's processes run as
 * init's uid but cannot signal it (the kernel shields a namespace's init
 * from its own namespace), and it is not dumpable, so they cannot
 * ptrace it either.
 */
#include "vminit.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

typedef struct {
    uint32_t id;
    pid_t pid;
    int go; /* write end of the hold pipe; -1 once released */
} kid;

static kid *kids;
static size_t nkids, capkids;
static sigset_t old_mask;

static void send_msg(uint32_t type, uint32_t id, int32_t value, int fd)
{
    vm__msg m = {.type = type, .id = id, .value = value};
    struct iovec iov = {.iov_base = &m, .iov_len = sizeof m};
    /* Zeroed: the kernel is handed the padding after the fd too. */
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } u = {{0}};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
    if (fd >= 0) {
        mh.msg_control = u.buf;
        mh.msg_controllen = sizeof u.buf;
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &fd, sizeof fd);
    }
    /* A failure means the daemon is gone: the next read sees EOF. */
    while (sendmsg(VM__INIT_FD, &mh, MSG_NOSIGNAL) < 0 && errno == EINTR)
        ;
}

static kid *find(uint32_t id)
{
    for (size_t i = 0; i < nkids; i++)
        if (kids[i].id == id)
            return &kids[i];
    return NULL;
}

static void release(kid *k, int run)
{
    if (k->go < 0)
        return;
    if (run && write(k->go, "1", 1) != 1)
        kill(k->pid, SIGKILL);
    close(k->go);
    k->go = -1;
}

/* The child: its own session, the daemon's stdio, held until GO (EOF
 * instead means it was killed before it ran). */
static void child(int hold, int *fds, const char *cwd, char **argv, char **env)
{
    char b;
    sigprocmask(SIG_SETMASK, &old_mask, NULL);
    signal(SIGPIPE, SIG_DFL);
    setsid();
    for (int i = 0; i < 3; i++)
        if (dup2(fds[i], i) < 0)
            _exit(126);
    if (read(hold, &b, 1) != 1)
        _exit(137);
    if (chdir(cwd) < 0)
        dprintf(2, "actorfs: cd %s: %s\n", cwd, strerror(errno));
    environ = env;
    execvp(argv[0], argv);
    dprintf(2, "actorfs: %s: %s\n", argv[0], strerror(errno));
    _exit(errno == ENOENT ? 127 : 126);
}

/* Splits RUN's payload into cwd, argv and env (pointers into it). */
static int parse_run(char *p, size_t n, char **cwd, char ***argv, char ***env)
{
    if (n == 0 || p[n - 1] != '\0')
        return -EINVAL;
    size_t count = 0;
    for (size_t i = 0; i < n; i++)
        count += p[i] == '\0';
    char **v = calloc(count + 2, sizeof *v);
    if (v == NULL)
        return -ENOMEM;
    char *s = p, *end = p + n;
    *cwd = s;
    s += strlen(s) + 1;
    size_t k = 0;
    while (s < end && *s != '\0') {
        v[k++] = s;
        s += strlen(s) + 1;
    }
    if (k == 0 || s >= end) {
        free(v);
        return -EINVAL;
    }
    v[k++] = NULL;
    s++;
    *argv = v;
    *env = v + k;
    while (s < end) {
        v[k++] = s;
        s += strlen(s) + 1;
    }
    v[k] = NULL;
    return 0;
}

static void run(uint32_t id, char *payload, size_t n, int *fds, int nfds)
{
    char *cwd, **argv = NULL, **env;
    int hold[2] = {-1, -1};
    int rc = nfds == 3 ? parse_run(payload, n, &cwd, &argv, &env) : -EINVAL;
    if (rc == 0 && nkids == capkids) {
        size_t cap = capkids ? capkids * 2 : 16;
        kid *k = realloc(kids, cap * sizeof *k);
        if (k == NULL)
            rc = -ENOMEM;
        else
            kids = k, capkids = cap;
    }
    if (rc == 0 && pipe2(hold, O_CLOEXEC) < 0)
        rc = -errno;
    pid_t pid = -1;
    if (rc == 0 && (pid = fork()) < 0)
        rc = -errno;
    if (pid == 0) {
        close(hold[1]);
        child(hold[0], fds, cwd, argv, env);
    }
    free(argv);
    for (int i = 0; i < nfds; i++)
        close(fds[i]);
    if (hold[0] >= 0)
        close(hold[0]);
    if (rc < 0) {
        if (hold[1] >= 0)
            close(hold[1]);
        send_msg(VM__MSG_FAILED, id, -rc, -1);
        return;
    }
    kids[nkids++] = (kid){.id = id, .pid = pid, .go = hold[1]};
    int pfd = (int)syscall(SYS_pidfd_open, pid, 0);
    send_msg(VM__MSG_STARTED, id, pid, pfd);
    if (pfd >= 0)
        close(pfd);
}

static void reap(void)
{
    for (;;) {
        siginfo_t si = {0};
        int st;
        if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) < 0 || si.si_pid == 0)
            return;
        pid_t pid = si.si_pid;
        size_t i = 0;
        while (i < nkids && kids[i].pid != pid)
            i++;
        /* What a command left behind in its group ends with it; killed
         * before the reap, so the group's id cannot have been reused. */
        if (i < nkids)
            kill(-pid, SIGKILL);
        if (waitpid(pid, &st, 0) < 0 || i == nkids)
            continue;
        release(&kids[i], 0);
        send_msg(VM__MSG_EXITED, kids[i].id, st, -1);
        kids[i] = kids[--nkids];
    }
}

/* One message from the daemon; 0 when the daemon is gone. */
static int handle(char *buf)
{
    union {
        char buf[CMSG_SPACE(3 * sizeof(int))];
        struct cmsghdr align;
    } u;
    struct iovec iov = {.iov_base = buf, .iov_len = sizeof(vm__msg) + VM__MSG_MAX};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
                        .msg_controllen = sizeof u.buf};
    ssize_t n = recvmsg(VM__INIT_FD, &mh, MSG_CMSG_CLOEXEC);
    if (n < 0)
        return errno == EINTR || errno == EAGAIN;
    if (n == 0)
        return 0;
    int fds[3], nfds = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c != NULL; c = CMSG_NXTHDR(&mh, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < k; i++) {
            int fd;
            memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
            if (nfds < 3)
                fds[nfds++] = fd;
            else
                close(fd);
        }
    }
    if ((size_t)n < sizeof(vm__msg)) {
        for (int i = 0; i < nfds; i++)
            close(fds[i]);
        return 1;
    }
    vm__msg m;
    memcpy(&m, buf, sizeof m);
    kid *k = find(m.id);
    if (m.type == VM__MSG_RUN) {
        run(m.id, buf + sizeof m, (size_t)n - sizeof m, fds, nfds);
        return 1;
    }
    for (int i = 0; i < nfds; i++)
        close(fds[i]);
    if (k != NULL && m.type == VM__MSG_GO) {
        release(k, 1);
    } else if (k != NULL && m.type == VM__MSG_KILL) {
        kill(-k->pid, SIGKILL);
        kill(k->pid, SIGKILL);
        release(k, 0);
    }
    return 1;
}

int main(void)
{
    sigset_t mask;
    if (getpid() != 1 || fcntl(VM__INIT_FD, F_SETFD, FD_CLOEXEC) < 0) {
        fprintf(stderr, "actorfs-vminit: run by the daemon as a sandbox's pid 1\n");
        return 100;
    }
    sigemptyset(&mask);
    sigaddset(&mask, SIGCHLD);
    int sfd = -1;
    char *buf = NULL;
    if (prctl(PR_SET_DUMPABLE, 0) < 0 || signal(SIGPIPE, SIG_IGN) == SIG_ERR ||
        sigprocmask(SIG_BLOCK, &mask, &old_mask) < 0 ||
        (sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK)) < 0 ||
        (buf = malloc(sizeof(vm__msg) + VM__MSG_MAX)) == NULL) {
        fprintf(stderr, "actorfs-vminit: %s\n", strerror(errno));
        return 111;
    }
    for (;;) {
        struct pollfd pf[2] = {{.fd = VM__INIT_FD, .events = POLLIN},
                               {.fd = sfd, .events = POLLIN}};
        if (poll(pf, 2, -1) < 0 && errno != EINTR)
            break;
        if (pf[1].revents) {
            struct signalfd_siginfo si;
            while (read(sfd, &si, sizeof si) > 0)
                ;
            reap();
        }
        if (pf[0].revents && !handle(buf))
            break;
    }
    /* The daemon is gone: nothing of this sandbox may outlive it. */
    kill(-1, SIGKILL);
    return 0;
}
