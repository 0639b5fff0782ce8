/*
 * ops_io.c - open files: open, create, read, write, flush, release, poll.
 *
 * open() decides what a descriptor is: a snapshot of a JSON file (fetched
 * whole, so a reader never sees a torn document), the live events file, a
 * message being written, a ctl or transaction file, or a real file of a
 * VM.  Access modes are checked here rather than by mode bits, because
 * root passes those.  Dynamic files use direct_io so reads reach us
 * whatever size the kernel last saw.
 */
#include "fs.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int fs__snapshot_kind(fs_kind k)
{
    switch (k) {
    case FS_N_TYPE:
    case FS_N_STATE:
    case FS_N_STATUS:
    case FS_N_ERROR:
    case FS_N_QERROR:
    case FS_N_QMSG:
    case FS_N_STEP:
        return 1;
    default:
        return 0;
    }
}

static int fs__write_only(fs_kind k)
{
    return k == FS_N_QNEW || k == FS_N_QKEY || k == FS_N_CTL;
}

/* Makes the handle for an open of N with FLAGS into fi; -errno. */
static int fs__open_node(fs_state *st, const fs_node *n, const char *path,
                         struct fuse_file_info *fi, int create, mode_t mode)
{
    int acc = fi->flags & O_ACCMODE;
    int writes = acc != O_RDONLY || (fi->flags & O_TRUNC);
    if (fs_node_is_dir(n) || (n->kind == FS_N_STEP && !n->sub[0]))
        return -EISDIR;
    if (writes && !fs_node_writable(st, n)) {
        char key[FS_ERRKEY_MAX];
        fs_node_error_key(n, key, sizeof(key));
        fs_error_set(st, key, -EACCES, "%s is read-only", path);
        return -EACCES;
    }
    if (n->kind == FS_N_QTAKEN)
        return -EBUSY; /* its body went to the workflow */
    if (acc == O_RDONLY && fs__write_only(n->kind))
        return n->kind == FS_N_QKEY ? -ENOENT : -EACCES;
    fs_fh *h = fs_fh_new(st, n, fi->flags);
    if (!h)
        return -ENOMEM;
    int rc = 0;
    fi->direct_io = 1;
    /* Read-only files have nothing to do at close: spare `cat` and `jq`
     * the FLUSH round trip. */
    fi->noflush = fs__snapshot_kind(n->kind) || n->kind == FS_N_EVENTS ||
                  n->kind == FS_N_SINFO || n->kind == FS_N_STRANS;
    if (fs__snapshot_kind(n->kind)) {
        rc = fs_node_content(st, n, &h->buf, &h->len);
        h->cap = h->len;
    } else if (n->kind == FS_N_VMFS) {
        fi->direct_io = 0;
        rc = fs_vmfs_open(st, n, fi->flags | (create ? O_CREAT : 0), mode,
                          &h->fd);
    } else if (n->kind == FS_N_SINFO || n->kind == FS_N_STRANS) {
        rc = fs_session_open(st, n, &h->fd);
    }
    if (rc < 0) {
        fs_fh_free(st, h);
        return rc;
    }
    fi->fh = (uintptr_t)h;
    return 0;
}

void fs_op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    fs_state *st = fuse_req_userdata(req);
    char path[PATH_MAX];
    fs_node n;
    if (fs_req_path(req, st, ino, path, sizeof(path)) < 0)
        return;
    int rc = fs_node_parse(st, path, &n);
    if (rc == 0 && fs__write_only(n.kind))
        fs_ino_seen_withdraw(st->inodes, fuse_req_ctx(req)->pid);
    if (rc == 0 && n.kind == FS_N_QKEY)
        rc = fs_enqueue_key_check(st, &n);
    if (rc == 0)
        rc = fs__open_node(st, &n, path, fi, 0, 0);
    if (rc < 0) {
        fuse_reply_err(req, rc == -EINVAL ? ENOENT : -rc);
        return;
    }
    if (fuse_reply_open(req, fi) != 0)
        fs_fh_free(st, fs_fh_of(fi));
}

void fs_op_create(fuse_req_t req, fuse_ino_t parent, const char *name,
                  mode_t mode, struct fuse_file_info *fi)
{
    fs_state *st = fuse_req_userdata(req);
    char dir[PATH_MAX], path[PATH_MAX];
    fs_node n;
    if (fs_req_path(req, st, parent, dir, sizeof(dir)) < 0)
        return;
    int rc = fs_path_join(dir, name, path, sizeof(path));
    if (rc == 0)
        rc = fs_node_parse(st, path, &n);
    if (rc == -ENOENT || rc == -EINVAL) {
        /* Only queues and VM files take new names. */
        fuse_reply_err(req, rc == -EINVAL ? EINVAL : EACCES);
        return;
    }
    if (rc == 0 && fs__write_only(n.kind))
        fs_ino_seen_withdraw(st->inodes, fuse_req_ctx(req)->pid);
    if (rc == 0 && n.kind == FS_N_QKEY)
        rc = fs_enqueue_key_check(st, &n);
    else if (rc == 0 && n.kind != FS_N_VMFS && (fi->flags & O_EXCL))
        rc = -EEXIST;
    if (rc == 0)
        rc = fs__open_node(st, &n, path, fi, n.kind == FS_N_VMFS, mode);
    struct stat sb;
    if (rc == 0 && (rc = fs_node_stat(st, &n, &sb)) < 0)
        fs_fh_free(st, fs_fh_of(fi));
    if (rc < 0) {
        fuse_reply_err(req, -rc);
        return;
    }
    struct fuse_entry_param e;
    memset(&e, 0, sizeof(e));
    e.ino = fs_ino_get(st->inodes, path);
    e.attr = sb;
    e.attr.st_ino = e.ino;
    if (!e.ino || fuse_reply_create(req, &e, fi) != 0) {
        if (!e.ino)
            fuse_reply_err(req, ENOMEM);
        fs_fh_free(st, fs_fh_of(fi));
    }
}

static void fs__reply_slice(fuse_req_t req, const char *buf, size_t len,
                            size_t off, size_t size)
{
    if (off >= len) {
        fuse_reply_buf(req, NULL, 0);
        return;
    }
    size_t n = len - off < size ? len - off : size;
    fuse_reply_buf(req, buf + off, n);
}

static void fs__read_fd(fuse_req_t req, int fd, size_t size, off_t off)
{
    char *buf = malloc(size ? size : 1);
    if (!buf) {
        fuse_reply_err(req, ENOMEM);
        return;
    }
    ssize_t r = pread(fd, buf, size, off);
    if (r < 0)
        fuse_reply_err(req, errno);
    else
        fuse_reply_buf(req, buf, (size_t)r);
    free(buf);
}

static void fs__read_events(fuse_req_t req, fs_state *st, fs_fh *h,
                            size_t size, off_t off)
{
    char *buf = NULL;
    size_t len = 0;
    int rc = eng_events_read(st->e, h->node.type, h->node.key, (uint64_t)off,
                             size, &buf, &len);
    if (rc < 0) {
        fuse_reply_err(req, -rc);
        return;
    }
    h->pos = (uint64_t)off + len;
    fuse_reply_buf(req, buf, len);
    free(buf);
}

void fs_op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                struct fuse_file_info *fi)
{
    (void)ino;
    fs_state *st = fuse_req_userdata(req);
    fs_fh *h = fs_fh_of(fi);
    pthread_mutex_lock(&h->mu);
    switch (h->node.kind) {
    case FS_N_EVENTS:
        fs__read_events(req, st, h, size, off);
        break;
    case FS_N_ACTION:
    case FS_N_EXEC: {
        int rc = fs_txn_run(st, h);
        if (rc < 0) {
            fuse_reply_err(req, -rc);
            break;
        }
        size_t from = h->resp_pos;
        fs__reply_slice(req, h->resp, h->resp_len, from, size);
        h->resp_pos = from + size < h->resp_len ? from + size : h->resp_len;
        break;
    }
    case FS_N_VMFS:
    case FS_N_SINFO:
    case FS_N_STRANS:
        fs__read_fd(req, h->fd, size, off);
        break;
    default:
        if (fs__snapshot_kind(h->node.kind))
            fs__reply_slice(req, h->buf, h->len, (size_t)off, size);
        else
            fuse_reply_buf(req, NULL, 0);
    }
    pthread_mutex_unlock(&h->mu);
}

void fs_op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size,
                 off_t off, struct fuse_file_info *fi)
{
    (void)ino;
    fs_state *st = fuse_req_userdata(req);
    fs_fh *h = fs_fh_of(fi);
    int rc;
    pthread_mutex_lock(&h->mu);
    switch (h->node.kind) {
    case FS_N_QNEW:
    case FS_N_QKEY:
        rc = fs_enqueue_write(st, h, buf, size, off);
        break;
    case FS_N_CTL:
        rc = fs_ctl_write(st, h, buf, size);
        break;
    case FS_N_ACTION:
    case FS_N_EXEC:
        rc = fs_txn_write(st, h, buf, size);
        break;
    case FS_N_VMFS: {
        ssize_t w = pwrite(h->fd, buf, size, off);
        rc = w < 0 ? -errno : (int)w;
        break;
    }
    default:
        rc = -EACCES;
    }
    pthread_mutex_unlock(&h->mu);
    if (rc < 0)
        fuse_reply_err(req, -rc);
    else
        fuse_reply_write(req, (size_t)rc);
}

void fs_op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    (void)ino;
    fs_state *st = fuse_req_userdata(req);
    fs_fh *h = fs_fh_of(fi);
    int rc = 0;
    pthread_mutex_lock(&h->mu);
    switch (h->node.kind) {
    case FS_N_QNEW:
    case FS_N_QKEY:
        rc = fs_enqueue_flush(st, h);
        break;
    case FS_N_CTL:
        rc = fs_ctl_flush(st, h);
        break;
    case FS_N_ACTION:
    case FS_N_EXEC:
        if (h->len > 0 || h->refused)
            rc = fs_txn_run(st, h);
        break;
    default:
        break;
    }
    pthread_mutex_unlock(&h->mu);
    fuse_reply_err(req, -rc);
}

void fs_op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    (void)ino;
    fs_state *st = fuse_req_userdata(req);
    fs_fh_free(st, fs_fh_of(fi));
    fuse_reply_err(req, 0);
}

void fs_op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
                 struct fuse_file_info *fi)
{
    (void)ino;
    fs_fh *h = fs_fh_of(fi);
    int rc = 0;
    if (h->node.kind == FS_N_VMFS &&
        (datasync ? fdatasync(h->fd) : fsync(h->fd)) < 0)
        rc = errno;
    fuse_reply_err(req, rc);
}

void fs_op_poll(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi,
                struct fuse_pollhandle *ph)
{
    (void)ino;
    fs_state *st = fuse_req_userdata(req);
    fs_fh *h = fs_fh_of(fi);
    if (h->node.kind != FS_N_EVENTS) {
        if (ph)
            fuse_pollhandle_destroy(ph);
        fuse_reply_poll(req, POLLIN | POLLOUT);
        return;
    }
    /* Registered before looking, so growth in between still wakes. */
    if (ph)
        fs_notify_poll_add(st, h->node.actor, ph);
    uint64_t size = 0;
    pthread_mutex_lock(&h->mu);
    uint64_t pos = h->pos;
    pthread_mutex_unlock(&h->mu);
    int rc = eng_events_size(st->e, h->node.type, h->node.key, &size);
    if (rc < 0)
        fuse_reply_err(req, -rc);
    else
        fuse_reply_poll(req, size > pos ? POLLIN : 0);
}

void fs_op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset,
                     off_t length, struct fuse_file_info *fi)
{
    (void)ino;
    fs_fh *h = fs_fh_of(fi);
    int rc = EOPNOTSUPP;
    if (h->node.kind == FS_N_VMFS)
        rc = fallocate(h->fd, mode, offset, length) < 0 ? errno : 0;
    fuse_reply_err(req, rc);
}
