/*
 * ops_change.c - operations that change names: mkdir, rmdir, unlink,
 * mknod, symlink, rename, link.
 *
 * At the root, mkdir TYPE@KEY gets-or-creates an actor and rmdir destroys
 * an idle one; in a queue, rm cancels a pending message; under a VM's fs/
 * everything passes through.  Anything else is EPERM.  Requests from the
 * announcer helper succeed without changing anything: the change they
 * announce has already happened in the engine.
 */
#include "fs.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* Parses the child NAME of PARENT into n and path; replies on error. */
static int fs__child(fuse_req_t req, fs_state *st, fuse_ino_t parent,
                     const char *name, char *path, size_t len, fs_node *n,
                     int *parse_rc)
{
    char dir[PATH_MAX];
    if (fs_req_path(req, st, parent, dir, sizeof(dir)) < 0)
        return -1;
    int rc = fs_path_join(dir, name, path, len);
    if (rc < 0) {
        fuse_reply_err(req, -rc);
        return -1;
    }
    *parse_rc = fs_node_parse(st, path, n);
    return 0;
}

/* 1 if the request is the helper's, answered with success. */
static int fs__helper_change(fuse_req_t req, fs_state *st, const char *path,
                             int is_dir, int entry)
{
    fs_ann_op op;
    char apath[PATH_MAX];
    if (!fs_announce_req(st, req, &op, apath, sizeof(apath)))
        return 0;
    if (!entry) {
        fuse_reply_err(req, 0);
        return 1;
    }
    fs_node n;
    struct stat sb;
    if (fs_node_parse(st, path, &n) < 0 || fs_node_stat(st, &n, &sb) < 0 ||
        (S_ISDIR(sb.st_mode) != 0) != is_dir) {
        memset(&sb, 0, sizeof(sb));
        sb.st_mode = is_dir ? (S_IFDIR | 0755) : (S_IFREG | 0444);
        sb.st_nlink = is_dir ? 2 : 1;
        sb.st_uid = st->uid;
        sb.st_gid = st->gid;
        sb.st_mtim = sb.st_ctim = sb.st_atim = st->start;
    }
    fs_reply_entry(req, st, path, NULL, &sb);
    return 1;
}

static void fs__reply_new(fuse_req_t req, fs_state *st, const char *path,
                          const fs_node *n, int rc)
{
    struct stat sb;
    if (rc == 0)
        rc = fs_node_stat(st, n, &sb);
    if (rc < 0)
        fuse_reply_err(req, -rc);
    else
        fs_reply_entry(req, st, path, n, &sb);
}

void fs_op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
                 mode_t mode, dev_t rdev)
{
    (void)rdev;
    fs_state *st = fuse_req_userdata(req);
    char path[PATH_MAX];
    fs_node n;
    int prc;
    if (fs__child(req, st, parent, name, path, sizeof(path), &n, &prc) < 0)
        return;
    if (fs__helper_change(req, st, path, 0, 1))
        return;
    if (prc == 0 && n.kind == FS_N_VMFS) {
        fs__reply_new(req, st, path, &n, fs_vmfs_mknod(st, &n, mode));
        return;
    }
    fuse_reply_err(req, prc == -ENAMETOOLONG ? ENAMETOOLONG : EPERM);
}

static int fs__actor_create(fs_state *st, const char *name)
{
    char type[FS_NAME_MAX], key[FS_NAME_MAX], reason[512] = "", shown[1200];
    fs_printable(name, shown, sizeof(shown));
    int rc = eng_actor_parse(name, type, sizeof(type), key, sizeof(key));
    if (rc < 0) {
        const char *at = strchr(name, '@');
        int too_long = at ? strlen(at + 1) > 200 || (size_t)(at - name) > 200
                          : strlen(name) > 200;
        eng_log("mkdir %s refused: %s", shown,
                too_long ? "name over 200 bytes" : "not TYPE or TYPE@KEY");
        return too_long ? -ENAMETOOLONG : -EINVAL;
    }
    rc = eng_actor_create(st->e, type, key, reason, sizeof(reason));
    if (rc < 0) {
        eng_log("mkdir %s refused: %s", shown,
                reason[0] ? reason : strerror(-rc));
        return rc;
    }
    fs_notify_suppress(st, name);
    return 0;
}

void fs_op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
                 mode_t mode)
{
    fs_state *st = fuse_req_userdata(req);
    char path[PATH_MAX];
    fs_node n;
    int prc;
    if (fs__child(req, st, parent, name, path, sizeof(path), &n, &prc) < 0)
        return;
    if (fs__helper_change(req, st, path, 1, 1))
        return;
    if (parent == FUSE_ROOT_ID) {
        int rc = fs__actor_create(st, name);
        if (rc == 0)
            rc = fs_node_parse(st, path, &n);
        fs__reply_new(req, st, path, &n, rc);
        return;
    }
    if (prc == 0 && n.kind == FS_N_VMFS) {
        fs__reply_new(req, st, path, &n, fs_vmfs_mkdir(st, &n, mode));
        return;
    }
    fuse_reply_err(req, prc == -ENAMETOOLONG ? ENAMETOOLONG : EPERM);
}

static int fs__cancel(fs_state *st, const fs_node *n, const char *path)
{
    char reason[512] = "";
    int rc = eng_message_cancel(st->e, n->type, n->key, n->name, n->msg_id,
                                reason, sizeof(reason));
    if (rc < 0) {
        char key[FS_ERRKEY_MAX];
        fs_node_error_key(n, key, sizeof(key));
        fs_error_set(st, key, rc, "rm %s: %s", path,
                     reason[0]    ? reason
                     : rc == -EBUSY ? "the workflow has already taken it"
                                    : strerror(-rc));
        return rc;
    }
    fs_notify_suppress(st, path);
    return 0;
}

void fs_op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    fs_state *st = fuse_req_userdata(req);
    char path[PATH_MAX];
    fs_node n;
    int prc;
    if (fs__child(req, st, parent, name, path, sizeof(path), &n, &prc) < 0)
        return;
    if (fs__helper_change(req, st, path, 0, 0))
        return;
    int rc = prc;
    if (rc == 0) {
        if (n.kind == FS_N_QMSG || n.kind == FS_N_QTAKEN)
            rc = fs__cancel(st, &n, path);
        else if (n.kind == FS_N_VMFS)
            rc = fs_vmfs_unlink(st, &n, 0);
        else
            rc = n.kind == FS_N_QKEY ? -ENOENT : -EPERM;
    }
    fuse_reply_err(req, rc == -EINVAL ? ENOENT : -rc);
}

static int fs__actor_destroy(fs_state *st, const fs_node *n)
{
    char reason[512] = "";
    int rc = eng_actor_destroy(st->e, n->type, n->key, reason, sizeof(reason));
    if (rc < 0) {
        fs_error_set(st, n->actor, rc, "rmdir %s: %s", n->actor,
                     reason[0] ? reason : strerror(-rc));
        return rc;
    }
    fs_error_forget(st->errors, n->actor);
    fs_notify_suppress(st, n->actor);
    return 0;
}

void fs_op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    fs_state *st = fuse_req_userdata(req);
    char path[PATH_MAX];
    fs_node n;
    int prc;
    if (fs__child(req, st, parent, name, path, sizeof(path), &n, &prc) < 0)
        return;
    if (fs__helper_change(req, st, path, 1, 0))
        return;
    int rc = prc;
    if (rc == 0) {
        if (n.kind == FS_N_ACTOR)
            rc = fs__actor_destroy(st, &n);
        else if (n.kind == FS_N_VMFS)
            rc = fs_vmfs_unlink(st, &n, 1);
        else
            rc = -EPERM;
    }
    fuse_reply_err(req, rc == -EINVAL ? ENOENT : -rc);
}

void fs_op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
                   const char *name)
{
    fs_state *st = fuse_req_userdata(req);
    char path[PATH_MAX];
    fs_node n;
    int prc;
    if (fs__child(req, st, parent, name, path, sizeof(path), &n, &prc) < 0)
        return;
    if (prc == 0 && n.kind == FS_N_VMFS)
        fs__reply_new(req, st, path, &n, fs_vmfs_symlink(st, link, &n));
    else
        fuse_reply_err(req, EPERM);
}

void fs_op_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
                  fuse_ino_t newparent, const char *newname,
                  unsigned int flags)
{
    fs_state *st = fuse_req_userdata(req);
    char from[PATH_MAX], to[PATH_MAX];
    fs_node a, b;
    int arc, brc;
    if (fs__child(req, st, parent, name, from, sizeof(from), &a, &arc) < 0 ||
        fs__child(req, st, newparent, newname, to, sizeof(to), &b, &brc) < 0)
        return;
    int rc = -EPERM;
    if (arc == 0 && brc == 0 && a.kind == FS_N_VMFS && b.kind == FS_N_VMFS) {
        rc = fs_vmfs_rename(st, &a, &b, flags);
        if (rc == 0)
            rc = fs_ino_rename(st->inodes, from, to);
    } else if ((arc == 0 && a.kind == FS_N_VMFS) ||
               (brc == 0 && b.kind == FS_N_VMFS)) {
        rc = -EXDEV;
    }
    fuse_reply_err(req, -rc);
}

void fs_op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
                const char *newname)
{
    fs_state *st = fuse_req_userdata(req);
    char from[PATH_MAX], to[PATH_MAX];
    fs_node a, b;
    int brc;
    if (fs_req_path(req, st, ino, from, sizeof(from)) < 0 ||
        fs__child(req, st, newparent, newname, to, sizeof(to), &b, &brc) < 0)
        return;
    int rc = fs_node_parse(st, from, &a);
    if (rc == 0 && brc == 0 && a.kind == FS_N_VMFS && b.kind == FS_N_VMFS)
        fs__reply_new(req, st, to, &b, fs_vmfs_link(st, &a, &b));
    else
        fuse_reply_err(req, EPERM);
}
