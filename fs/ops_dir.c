/*
 * ops_dir.c - reading directories.
 *
 * opendir snapshots the listing (listing.c) into the handle; readdir
 * serves it with the entry's index as its d_off cookie, so a reader that
 * stops and resumes, or rewinds, sees the same entries in the same order
 * however the engine changes meanwhile.
 */
#include "fs.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void fs_op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    fs_state *st = fuse_req_userdata(req);
    char path[PATH_MAX];
    if (fs_req_path(req, st, ino, path, sizeof(path)) < 0)
        return;
    fs_ino_watched_set(st->inodes, ino);
    fs_node n;
    struct stat sb;
    int rc = fs_node_parse(st, path, &n);
    if (rc == 0)
        rc = fs_node_stat(st, &n, &sb);
    if (rc == 0 && !S_ISDIR(sb.st_mode))
        rc = -ENOTDIR;
    fs_fh *d = rc == 0 ? fs_fh_new(st, &n, fi->flags) : NULL;
    if (rc == 0 && (!d || !(d->path = strdup(path))))
        rc = -ENOMEM;
    if (rc == 0)
        rc = fs_list(st, &n, &d->ents, &d->nents);
    if (rc < 0) {
        fs_fh_free(st, d);
        fuse_reply_err(req, rc == -EINVAL ? ENOENT : -rc);
        return;
    }
    fi->fh = (uintptr_t)d;
    fi->cache_readdir = 0;
    fi->keep_cache = 0;
    if (fuse_reply_open(req, fi) != 0)
        fs_fh_free(st, d);
}

void fs_op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                   struct fuse_file_info *fi)
{
    fs_state *st = fuse_req_userdata(req);
    fs_fh *d = fs_fh_of(fi);
    char *buf = malloc(size);
    if (!buf) {
        fuse_reply_err(req, ENOMEM);
        return;
    }
    size_t used = 0;
    /* Offsets: 1 ".", 2 "..", 3.. the entries. */
    for (size_t i = (size_t)off; i < d->nents + 2; i++) {
        struct stat sb;
        memset(&sb, 0, sizeof(sb));
        const char *name;
        if (i < 2) {
            name = i == 0 ? "." : "..";
            sb.st_ino = ino;
            sb.st_mode = S_IFDIR;
        } else {
            char child[PATH_MAX];
            name = d->ents[i - 2].name;
            if (fs_path_join(d->path, name, child, sizeof(child)) < 0)
                continue;
            sb.st_ino = fs_ino_get(st->inodes, child);
            sb.st_mode = d->ents[i - 2].is_dir ? S_IFDIR : S_IFREG;
        }
        size_t need = fuse_add_direntry(req, buf + used, size - used, name,
                                        &sb, (off_t)i + 1);
        if (need > size - used)
            break;
        used += need;
    }
    fuse_reply_buf(req, buf, used);
    free(buf);
}

void fs_op_releasedir(fuse_req_t req, fuse_ino_t ino,
                      struct fuse_file_info *fi)
{
    (void)ino;
    fs_fh_free(fuse_req_userdata(req), fs_fh_of(fi));
    fuse_reply_err(req, 0);
}

void fs_op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync,
                    struct fuse_file_info *fi)
{
    (void)ino;
    (void)datasync;
    (void)fi;
    fuse_reply_err(req, 0);
}
