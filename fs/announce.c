/*
 * announce.c - the helper process that makes inotify see engine changes.
 *
 * The kernel sends no inotify event for fuse_lowlevel_notify_*, only for
 * operations made through the mount.  So a helper performs them: truncate
 * to the same size (IN_MODIFY), mknod / mkdir (IN_CREATE), unlink / rmdir
 * (IN_DELETE), and the daemon answers those requests without changing
 * anything (ops_attr.c, ops_change.c), recognising the helper by the pid
 * in the request (a single-threaded process, so pid == tid).
 *
 * It is a forked process, not a thread: a thread of the daemon blocked on
 * the daemon's own mount would keep a kill -9'd daemon from ever exiting.
 * It dies with the daemon (PR_SET_PDEATHSIG), ignores terminal signals,
 * and before each operation checks that the mount point is still our FUSE
 * mount, so it never touches the directory underneath: statfs says FUSE
 * the first time, and from then on the device number must be the one
 * seen then (a stat of the root, which the kernel answers from its cache,
 * where a statfs would be a round trip to the daemon each time).  It takes
 * one command at a time over a socketpair and answers with the errno.
 */
#include "fs.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

#define FS__FUSE_MAGIC 0x65735546
#define FS__ANNOUNCE_TIMEOUT_MS 2000

struct fs_announce {
    pid_t pid;
    int sock;
    pthread_mutex_t mu;     /* one announcement at a time */
    pthread_mutex_t cur_mu; /* what the current one is */
    int busy;
    int stopped;
    unsigned seq;
    fs_ann_op op;
    char path[PATH_MAX];
};

typedef struct {
    int op;
    unsigned seq;
    char path[PATH_MAX];
} fs__cmd;

typedef struct {
    int err;
    unsigned seq; /* a reply that came after its timeout is skipped */
} fs__reply;

/* In the helper: 0 if ROOT is the root of our mount. */
static int fs__our_mount(int root)
{
    static dev_t dev;
    static int known;
    struct stat sb;
    if (fstat(root, &sb) < 0)
        return errno;
    if (known)
        return sb.st_dev == dev ? 0 : ENOTCONN;
    struct statfs sf;
    if (fstatfs(root, &sf) < 0 || sf.f_type != FS__FUSE_MAGIC)
        return ENOTCONN;
    dev = sb.st_dev;
    known = 1;
    return 0;
}

/* In the helper: performs CMD beneath the mount; returns an errno. */
static int fs__perform(const char *mnt, const fs__cmd *c)
{
    int root = open(mnt, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (root < 0)
        return errno;
    int rc = fs__our_mount(root);
    if (rc != 0) {
        close(root);
        return rc;
    }
    struct stat sb;
    switch (c->op) {
    case FS_ANN_MODIFY: {
        int fd = openat(root, c->path, O_PATH | O_CLOEXEC);
        char self[64];
        if (fd < 0 || fstat(fd, &sb) < 0) {
            rc = errno;
        } else {
            snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);
            rc = truncate(self, sb.st_size) < 0 ? errno : 0;
        }
        if (fd >= 0)
            close(fd);
        break;
    }
    case FS_ANN_CREATE:
        rc = mknodat(root, c->path, S_IFREG | 0444, 0) < 0 ? errno : 0;
        break;
    case FS_ANN_MKDIR:
        rc = mkdirat(root, c->path, 0755) < 0 ? errno : 0;
        break;
    case FS_ANN_UNLINK:
        rc = unlinkat(root, c->path, 0) < 0 ? errno : 0;
        break;
    case FS_ANN_RMDIR:
        rc = unlinkat(root, c->path, AT_REMOVEDIR) < 0 ? errno : 0;
        break;
    default:
        rc = EINVAL;
    }
    close(root);
    return rc;
}

static void fs__helper_main(int sock, pid_t parent, const char *mnt)
{
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
        _exit(0);
    signal(SIGINT, SIG_IGN);
    signal(SIGTERM, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    signal(SIGPIPE, SIG_IGN);
    static fs__cmd c;
    for (;;) {
        ssize_t n = recv(sock, &c, sizeof(c), 0);
        if (n <= 0) {
            if (n < 0 && errno == EINTR)
                continue;
            _exit(0);
        }
        c.path[sizeof(c.path) - 1] = '\0';
        fs__reply r = {.err = fs__perform(mnt, &c), .seq = c.seq};
        if (send(sock, &r, sizeof(r), MSG_NOSIGNAL) != sizeof(r))
            _exit(0);
    }
}

int fs_announce_start(fs_state *st, char *err, size_t errlen)
{
    fs_announce *a = calloc(1, sizeof(*a));
    if (!a) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
        int rc = -errno;
        snprintf(err, errlen, "socketpair: %s", strerror(errno));
        free(a);
        return rc;
    }
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        int rc = -errno;
        snprintf(err, errlen, "fork: %s", strerror(errno));
        close(sv[0]);
        close(sv[1]);
        free(a);
        return rc;
    }
    if (pid == 0) {
        close(sv[0]);
        fs__helper_main(sv[1], parent, st->mountpoint);
    }
    close(sv[1]);
    a->pid = pid;
    a->sock = sv[0];
    pthread_mutex_init(&a->mu, NULL);
    pthread_mutex_init(&a->cur_mu, NULL);
    st->announce = a;
    return 0;
}

void fs_announce_stop(fs_state *st)
{
    fs_announce *a = st->announce;
    if (!a || a->pid <= 0 || a->stopped)
        return;
    a->stopped = 1;
    /* Killed, not asked: it may be blocked in a request nobody serves. */
    kill(a->pid, SIGKILL);
    shutdown(a->sock, SHUT_RDWR);
}

void fs_announce_free(fs_state *st)
{
    fs_announce *a = st->announce;
    if (!a)
        return;
    if (a->pid > 0)
        while (waitpid(a->pid, NULL, 0) < 0 && errno == EINTR)
            ;
    close(a->sock);
    pthread_mutex_destroy(&a->mu);
    pthread_mutex_destroy(&a->cur_mu);
    free(a);
    st->announce = NULL;
}

int fs_announce_op(fs_state *st, fs_ann_op op, const char *path)
{
    fs_announce *a = st->announce;
    static __thread fs__cmd c;
    if (strlen(path) >= sizeof(c.path))
        return -ENAMETOOLONG;
    c.op = (int)op;
    strcpy(c.path, path);
    pthread_mutex_lock(&a->mu);
    pthread_mutex_lock(&a->cur_mu);
    a->busy = 1;
    a->op = op;
    strcpy(a->path, path);
    pthread_mutex_unlock(&a->cur_mu);
    c.seq = ++a->seq;
    int rc = -EIO;
    if (send(a->sock, &c, sizeof(c), MSG_NOSIGNAL) == sizeof(c)) {
        struct pollfd p = {.fd = a->sock, .events = POLLIN};
        int64_t deadline = eng_now_ms() + FS__ANNOUNCE_TIMEOUT_MS;
        rc = -ETIMEDOUT;
        for (;;) {
            int64_t left = deadline - eng_now_ms();
            fs__reply r;
            if (left <= 0 || poll(&p, 1, (int)left) != 1 ||
                recv(a->sock, &r, sizeof(r), 0) != sizeof(r))
                break;
            if (r.seq == c.seq) {
                rc = -r.err;
                break;
            }
        }
    }
    pthread_mutex_lock(&a->cur_mu);
    a->busy = 0;
    pthread_mutex_unlock(&a->cur_mu);
    pthread_mutex_unlock(&a->mu);
    return rc;
}

int fs_announce_req(fs_state *st, fuse_req_t req, fs_ann_op *op, char *path,
                    size_t len)
{
    fs_announce *a = st->announce;
    if (!a || fuse_req_ctx(req)->pid != a->pid)
        return 0;
    pthread_mutex_lock(&a->cur_mu);
    int busy = a->busy;
    if (busy) {
        *op = a->op;
        snprintf(path, len, "%s", a->path);
    }
    pthread_mutex_unlock(&a->cur_mu);
    return busy;
}
