/*
 * nullfs.c - the floor for enqueue latency: a FUSE filesystem that does
 * nothing.
 *
 * Its root holds one file, `new`, that accepts open+write+close (and
 * create of any other name) and keeps nothing, with the same FUSE setup
 * as actorfs (low-level API, multi-threaded loop, default_permissions,
 * direct_io, no extended attributes, the same cache timeouts for the root
 * and `new`: entry and attributes 1 s).  What `echo > new` costs here is
 * what the kernel and libfuse cost; the rest of an actorfs enqueue is
 * actorfs.
 *
 * With --flush-us N its flush keeps the CPU busy N µs before it answers,
 * as a daemon that commits in flush does: on a machine where a sleeping
 * CPU is slow to wake, an answer that comes late costs more than the work
 * itself, and this floor shows how much for any daemon, not only actorfs.
 *
 * With --io-uring it takes its requests over io_uring where the kernel
 * offers that (fs/uring.c), as actorfs --io-uring does.  With
 * --reply-later it answers each write from another thread, as libfuse
 * allows and actorfs never does: tests/fs/io_uring.sh uses it to cover
 * that path of fs/uring.c.
 *
 *   nullfs [--io-uring] [--reply-later] [--flush-us N] MOUNTPOINT
 *                           (foreground; stop with fusermount3 -u)
 */
#include "uring.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define NULLFS_NEW 2 /* the inode of `new`; created files get 3 */

static void nullfs_stat(fuse_ino_t ino, struct stat *sb)
{
    memset(sb, 0, sizeof(*sb));
    sb->st_ino = ino;
    sb->st_uid = getuid();
    sb->st_gid = getgid();
    if (ino == FUSE_ROOT_ID) {
        sb->st_mode = S_IFDIR | 0755;
        sb->st_nlink = 2;
    } else {
        sb->st_mode = S_IFREG | 0200;
        sb->st_nlink = 1;
    }
}

static void nullfs_entry(fuse_req_t req, fuse_ino_t ino)
{
    struct fuse_entry_param e;
    memset(&e, 0, sizeof(e));
    e.ino = ino;
    e.entry_timeout = e.attr_timeout = 1.0;
    nullfs_stat(ino, &e.attr);
    fuse_reply_entry(req, &e);
}

static void nullfs_init(void *ud, struct fuse_conn_info *conn)
{
    (void)ud;
    if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC)
        conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
}

static void nullfs_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    if (parent == FUSE_ROOT_ID && strcmp(name, "new") == 0)
        nullfs_entry(req, NULLFS_NEW);
    else
        fuse_reply_err(req, ENOENT);
}

static void nullfs_getattr(fuse_req_t req, fuse_ino_t ino,
                           struct fuse_file_info *fi)
{
    (void)fi;
    struct stat sb;
    nullfs_stat(ino, &sb);
    int fixed = ino == FUSE_ROOT_ID || ino == NULLFS_NEW;
    fuse_reply_attr(req, &sb, fixed ? 1.0 : 0.0);
}

static void nullfs_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
                           int to_set, struct fuse_file_info *fi)
{
    (void)attr;
    (void)to_set;
    nullfs_getattr(req, ino, fi);
}

static void nullfs_open(fuse_req_t req, fuse_ino_t ino,
                        struct fuse_file_info *fi)
{
    (void)ino;
    fi->direct_io = 1;
    fuse_reply_open(req, fi);
}

static void nullfs_create(fuse_req_t req, fuse_ino_t parent, const char *name,
                          mode_t mode, struct fuse_file_info *fi)
{
    (void)parent;
    (void)name;
    (void)mode;
    struct fuse_entry_param e;
    memset(&e, 0, sizeof(e));
    e.ino = NULLFS_NEW + 1;
    nullfs_stat(e.ino, &e.attr);
    fi->direct_io = 1;
    fuse_reply_create(req, &e, fi);
}

static int reply_later;

typedef struct {
    fuse_req_t req;
    size_t size;
} nullfs_later;

static void *nullfs_reply_later(void *arg)
{
    nullfs_later *l = arg;
    fuse_reply_write(l->req, l->size);
    free(l);
    return NULL;
}

static void nullfs_write(fuse_req_t req, fuse_ino_t ino, const char *buf,
                         size_t size, off_t off, struct fuse_file_info *fi)
{
    (void)ino;
    (void)buf;
    (void)off;
    (void)fi;
    nullfs_later *l = reply_later ? malloc(sizeof(*l)) : NULL;
    pthread_t t;
    if (l) {
        *l = (nullfs_later){req, size};
        if (pthread_create(&t, NULL, nullfs_reply_later, l) == 0) {
            pthread_detach(t);
            return;
        }
        free(l);
    }
    fuse_reply_write(req, size);
}

static void nullfs_ok(fuse_req_t req, fuse_ino_t ino,
                      struct fuse_file_info *fi)
{
    (void)ino;
    (void)fi;
    fuse_reply_err(req, 0);
}

static long flush_ns;

static int64_t nullfs_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Busy, not asleep: sleeping would let this CPU halt too. */
static void nullfs_flush(fuse_req_t req, fuse_ino_t ino,
                         struct fuse_file_info *fi)
{
    int64_t until = nullfs_now_ns() + flush_ns;
    while (nullfs_now_ns() < until)
        ;
    nullfs_ok(req, ino, fi);
}

static void nullfs_forget(fuse_req_t req, fuse_ino_t ino, uint64_t n)
{
    (void)ino;
    (void)n;
    fuse_reply_none(req);
}

static const struct fuse_lowlevel_ops nullfs_ops = {
    .init = nullfs_init,
    .lookup = nullfs_lookup,
    .forget = nullfs_forget,
    .getattr = nullfs_getattr,
    .setattr = nullfs_setattr,
    .open = nullfs_open,
    .create = nullfs_create,
    .write = nullfs_write,
    .flush = nullfs_flush,
    .release = nullfs_ok,
};

int main(int argc, char **argv)
{
    int at = 1, uring = 0;
    for (; at < argc && argv[at][0] == '-'; at++) {
        char *end = NULL;
        if (strcmp(argv[at], "--io-uring") == 0)
            uring = 1;
        else if (strcmp(argv[at], "--reply-later") == 0)
            reply_later = 1;
        else if (strcmp(argv[at], "--flush-us") == 0 && at + 1 < argc) {
            double us = strtod(argv[++at], &end);
            flush_ns = (long)(us * 1000);
            if (*end || us < 0 || us > 1e6)
                break;
        } else
            break;
    }
    if (argc != at + 1 || argv[at][0] == '-') {
        fprintf(stderr, "usage: nullfs [--io-uring] [--reply-later] "
                        "[--flush-us N] MOUNTPOINT\n");
        return 100;
    }
    char *fargv[] = {argv[0], "-o", "default_permissions,fsname=nullfs", NULL};
    struct fuse_args args = FUSE_ARGS_INIT(3, fargv);
    struct fuse_session *se =
        fuse_session_new(&args, &nullfs_ops, sizeof(nullfs_ops), NULL);
    fuse_opt_free_args(&args);
    if (!se)
        return 111;
    int rc = 111;
    fs_uring *u = NULL;
    if (fuse_set_signal_handlers(se) == 0 &&
        fuse_session_mount(se, argv[at]) == 0 &&
        (!uring || fs_uring_attach(se, 2, NULL, &u) == 0)) {
        struct fuse_loop_config *lc = fuse_loop_cfg_create();
        fuse_loop_cfg_set_max_threads(lc, 64);
        fuse_loop_cfg_set_idle_threads(lc, 16);
        rc = fuse_session_loop_mt(se, lc) < 0 ? 111 : 0;
        fuse_loop_cfg_destroy(lc);
        fuse_session_unmount(se);
        if (u)
            fprintf(stderr, "nullfs: io_uring %s, %lu served\n",
                    fs_uring_status(u), fs_uring_served(u));
        fs_uring_detach(u);
        fuse_remove_signal_handlers(se);
    }
    fuse_session_destroy(se);
    return rc;
}
