/*
 * ops.c - the table of FUSE low-level operations and what they share.
 *
 * Every operation a user can reach is implemented, so none surfaces as
 * ENOSYS: what the tree does not allow is EPERM or EACCES (getxattr's
 * ENOSYS never reaches the user: the kernel says EOPNOTSUPP, ops_attr.c).
 * Only the fixed skeleton of an actor (its directory, queues/, each
 * queue, new, ctl...) is cached, entries and attributes for 1 s: it only
 * changes when the actor comes or goes, and with default_permissions the
 * kernel would otherwise ask for the attributes of every directory on the
 * way to queues/Q/new at each enqueue.  Everything else the engine
 * changes without the kernel knowing, so it is not cached (and a
 * watcher's stat must reach us, see inode.c); notify.c invalidates what
 * it announces.
 */
#include "fs.h"

#include <errno.h>
#include <string.h>

/* The parts of the tree that only change when an actor comes or goes. */
static int fs__stable(const fs_node *n)
{
    switch (n->kind) {
    case FS_N_ACTOR:
    case FS_N_QUEUES:
    case FS_N_QUEUE:
    case FS_N_QNEW:
    case FS_N_ACTIONS:
    case FS_N_ACTION:
    case FS_N_CTL:
    case FS_N_EXEC:
    case FS_N_TYPE:
        return 1;
    default:
        return 0;
    }
}

double fs_cache_ttl(const fs_node *n)
{
    return n && (n->kind == FS_N_ROOT || fs__stable(n)) ? 1.0 : 0.0;
}

int fs_node_watchable(const fs_node *n)
{
    switch (n->kind) {
    case FS_N_ACTOR:
    case FS_N_QUEUE:
    case FS_N_STATE:
    case FS_N_STATUS:
    case FS_N_EVENTS:
    case FS_N_STEP:
        return 1;
    default:
        return 0;
    }
}

void fs_reply_entry(fuse_req_t req, fs_state *st, const char *path,
                    const fs_node *n, const struct stat *sb)
{
    struct fuse_entry_param e;
    memset(&e, 0, sizeof(e));
    e.ino = fs_ino_get(st->inodes, path);
    if (!e.ino) {
        fuse_reply_err(req, ENOMEM);
        return;
    }
    e.attr = *sb;
    e.attr.st_ino = e.ino;
    e.entry_timeout = e.attr_timeout = fs_cache_ttl(n);
    fuse_reply_entry(req, &e);
}

int fs_req_path(fuse_req_t req, fs_state *st, fuse_ino_t ino, char *buf,
                size_t len)
{
    int rc = fs_ino_path(st->inodes, ino, buf, len);
    if (rc < 0) {
        fuse_reply_err(req, -rc);
        return -1;
    }
    return 0;
}

void fs_op_init(void *ud, struct fuse_conn_info *conn)
{
    (void)ud;
    /* O_TRUNC arrives with open(), so `echo > new` needs no setattr. */
    if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC)
        conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
    conn->want &= ~(unsigned)(FUSE_CAP_WRITEBACK_CACHE |
                              FUSE_CAP_SPLICE_READ | FUSE_CAP_SPLICE_WRITE |
                              FUSE_CAP_SPLICE_MOVE);
}

const struct fuse_lowlevel_ops fs_ops = {
    .init = fs_op_init,
    .lookup = fs_op_lookup,
    .forget = fs_op_forget,
    .forget_multi = fs_op_forget_multi,
    .getattr = fs_op_getattr,
    .setattr = fs_op_setattr,
    .readlink = fs_op_readlink,
    .mknod = fs_op_mknod,
    .mkdir = fs_op_mkdir,
    .unlink = fs_op_unlink,
    .rmdir = fs_op_rmdir,
    .symlink = fs_op_symlink,
    .rename = fs_op_rename,
    .link = fs_op_link,
    .open = fs_op_open,
    .read = fs_op_read,
    .write = fs_op_write,
    .flush = fs_op_flush,
    .release = fs_op_release,
    .fsync = fs_op_fsync,
    .opendir = fs_op_opendir,
    .readdir = fs_op_readdir,
    .releasedir = fs_op_releasedir,
    .fsyncdir = fs_op_fsyncdir,
    .statfs = fs_op_statfs,
    .setxattr = fs_op_setxattr,
    .getxattr = fs_op_getxattr,
    .listxattr = fs_op_listxattr,
    .removexattr = fs_op_removexattr,
    .create = fs_op_create,
    .poll = fs_op_poll,
    .fallocate = fs_op_fallocate,
};
