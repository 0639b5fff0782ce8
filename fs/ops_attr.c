/*
 * ops_attr.c - looking names up and answering for their attributes.
 *
 * lookup, getattr and setattr also recognise the announcer helper
 * (announce.c): while it announces a new entry its lookup must miss, so
 * that the kernel really creates it (IN_CREATE); while it announces a
 * removal its lookup must hit; its truncate changes nothing.
 */
#include "fs.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

static void fs__fake_stat(fs_state *st, int is_dir, struct stat *sb)
{
    memset(sb, 0, sizeof(*sb));
    sb->st_mode = is_dir ? (S_IFDIR | 0755) : (S_IFREG | 0444);
    sb->st_nlink = is_dir ? 2 : 1;
    sb->st_uid = st->uid;
    sb->st_gid = st->gid;
    sb->st_atim = sb->st_mtim = sb->st_ctim = st->start;
}

/* The helper asks about PATH: 1 if answered here. */
static int fs__helper_lookup(fuse_req_t req, fs_state *st, const char *path)
{
    fs_ann_op op;
    char apath[PATH_MAX];
    if (!fs_announce_req(st, req, &op, apath, sizeof(apath)) ||
        strcmp(apath, path) != 0)
        return 0;
    if (op == FS_ANN_CREATE || op == FS_ANN_MKDIR) {
        fuse_reply_err(req, ENOENT);
        return 1;
    }
    if (op == FS_ANN_UNLINK || op == FS_ANN_RMDIR) {
        struct stat sb;
        fs__fake_stat(st, op == FS_ANN_RMDIR, &sb);
        fs_reply_entry(req, st, path, NULL, &sb);
        return 1;
    }
    return 0;
}

/* A user looked N (at PATH) up or stat'ed it; the helper does not count. */
static void fs__seen(fuse_req_t req, fs_state *st, const fs_node *n,
                     const char *path)
{
    fs_ann_op op;
    char apath[PATH_MAX];
    if (!fs_node_watchable(n) ||
        fs_announce_req(st, req, &op, apath, sizeof(apath)))
        return;
    fuse_ino_t ino = fs_ino_get(st->inodes, path);
    if (ino)
        fs_ino_seen(st->inodes, ino, fuse_req_ctx(req)->pid);
}

void fs_op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    fs_state *st = fuse_req_userdata(req);
    char dir[PATH_MAX], path[PATH_MAX];
    if (fs_req_path(req, st, parent, dir, sizeof(dir)) < 0)
        return;
    int rc = fs_path_join(dir, name, path, sizeof(path));
    if (rc < 0) {
        fuse_reply_err(req, -rc);
        return;
    }
    if (fs__helper_lookup(req, st, path))
        return;
    fs_node n;
    struct stat sb;
    rc = fs_node_parse(st, path, &n);
    if (rc == 0 && n.kind == FS_N_QKEY)
        rc = -ENOENT;
    if (rc == 0)
        rc = fs_node_stat(st, &n, &sb);
    if (rc < 0) {
        fuse_reply_err(req, rc == -EINVAL ? ENOENT : -rc);
        return;
    }
    fs__seen(req, st, &n, path);
    fs_reply_entry(req, st, path, &n, &sb);
}

void fs_op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
    (void)ino;
    (void)nlookup;
    fuse_reply_none(req);
}

void fs_op_forget_multi(fuse_req_t req, size_t count,
                        struct fuse_forget_data *forgets)
{
    (void)count;
    (void)forgets;
    fuse_reply_none(req);
}

/* Stats INO into sb; -errno. */
static int fs__stat_ino(fs_state *st, fuse_ino_t ino, fs_node *n,
                        struct stat *sb)
{
    char path[PATH_MAX];
    int rc = fs_ino_path(st->inodes, ino, path, sizeof(path));
    if (rc == 0)
        rc = fs_node_parse(st, path, n);
    if (rc == 0)
        rc = fs_node_stat(st, n, sb);
    if (rc == 0)
        sb->st_ino = ino;
    return rc == -EINVAL ? -ENOENT : rc;
}

void fs_op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    (void)fi;
    fs_state *st = fuse_req_userdata(req);
    fs_node n;
    struct stat sb;
    int rc = fs__stat_ino(st, ino, &n, &sb);
    if (rc < 0) {
        fuse_reply_err(req, -rc);
        return;
    }
    fs_ann_op op;
    char apath[PATH_MAX];
    if (fs_node_watchable(&n) &&
        !fs_announce_req(st, req, &op, apath, sizeof(apath)))
        fs_ino_seen(st->inodes, ino, fuse_req_ctx(req)->pid);
    fuse_reply_attr(req, &sb, fs_cache_ttl(&n));
}

void fs_op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
                   int to_set, struct fuse_file_info *fi)
{
    fs_state *st = fuse_req_userdata(req);
    fs_node n;
    struct stat sb;
    fs_ann_op op;
    char apath[PATH_MAX];
    if (fs_announce_req(st, req, &op, apath, sizeof(apath))) {
        /* The helper's truncate to the same size: an IN_MODIFY only. */
        if (fs__stat_ino(st, ino, &n, &sb) < 0) {
            fs__fake_stat(st, 0, &sb);
            sb.st_ino = ino;
        }
        fuse_reply_attr(req, &sb, 0.0);
        return;
    }
    char path[PATH_MAX];
    int rc = fs_ino_path(st->inodes, ino, path, sizeof(path));
    if (rc == 0)
        rc = fs_node_parse(st, path, &n);
    if (rc < 0) {
        fuse_reply_err(req, rc == -EINVAL ? ENOENT : -rc);
        return;
    }
    if (n.kind == FS_N_VMFS) {
        fs_fh *h = fi ? fs_fh_of(fi) : NULL;
        rc = fs_vmfs_setattr(st, &n, h ? h->fd : -1, attr, to_set);
    } else if (to_set & (FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID |
                         FUSE_SET_ATTR_GID)) {
        rc = -EPERM;
    } else if ((to_set & FUSE_SET_ATTR_SIZE) && !fs_node_writable(st, &n)) {
        char key[FS_ERRKEY_MAX];
        fs_node_error_key(&n, key, sizeof(key));
        fs_error_set(st, key, -EACCES, "%s is read-only", path);
        rc = -EACCES;
    }
    /* Times on the computed files are not stored: touch succeeds. */
    if (rc == 0)
        rc = fs_node_stat(st, &n, &sb);
    if (rc < 0) {
        fuse_reply_err(req, -rc);
        return;
    }
    sb.st_ino = ino;
    fuse_reply_attr(req, &sb, fs_cache_ttl(&n));
}

void fs_op_readlink(fuse_req_t req, fuse_ino_t ino)
{
    fs_state *st = fuse_req_userdata(req);
    char path[PATH_MAX], target[PATH_MAX];
    fs_node n;
    if (fs_req_path(req, st, ino, path, sizeof(path)) < 0)
        return;
    int rc = fs_node_parse(st, path, &n);
    if (rc == 0)
        rc = n.kind == FS_N_VMFS
                 ? fs_vmfs_readlink(st, &n, target, sizeof(target))
                 : -EINVAL;
    if (rc < 0)
        fuse_reply_err(req, -rc);
    else
        fuse_reply_readlink(req, target);
}

void fs_op_statfs(fuse_req_t req, fuse_ino_t ino)
{
    fs_state *st = fuse_req_userdata(req);
    char path[PATH_MAX];
    fs_node n;
    struct statvfs sv;
    memset(&sv, 0, sizeof(sv));
    if (fs_req_path(req, st, ino, path, sizeof(path)) < 0)
        return;
    if (fs_node_parse(st, path, &n) == 0 && n.kind == FS_N_VMFS &&
        fs_vmfs_statfs(st, &n, &sv) == 0) {
        fuse_reply_statfs(req, &sv);
        return;
    }
    sv.f_bsize = sv.f_frsize = 4096;
    sv.f_namemax = 255;
    fuse_reply_statfs(req, &sv);
}

void fs_op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
                    const char *value, size_t size, int flags)
{
    (void)ino;
    (void)name;
    (void)value;
    (void)size;
    (void)flags;
    fuse_reply_err(req, ENOTSUP);
}

/* No file has extended attributes.  ENOSYS tells the kernel so once: it
 * then answers EOPNOTSUPP itself, instead of asking us for
 * security.capability at every write (a round trip per enqueue). */
void fs_op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
                    size_t size)
{
    (void)ino;
    (void)name;
    (void)size;
    fuse_reply_err(req, ENOSYS);
}

void fs_op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
    (void)ino;
    if (size == 0)
        fuse_reply_xattr(req, 0);
    else
        fuse_reply_buf(req, NULL, 0);
}

void fs_op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
    (void)ino;
    (void)name;
    fuse_reply_err(req, ENODATA);
}
