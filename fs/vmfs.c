/*
 * vmfs.c - vm@NAME/fs/ and vm@NAME/sessions/: views of the VM's files.
 *
 * fs/ passes reads and writes through to the VM root (DATA/vm/NAME/root).
 * Every path is resolved with openat2(RESOLVE_BENEATH|RESOLVE_NO_MAGICLINKS)
 * from a descriptor of the root, and every change to a directory entry is
 * made with the *at() call on such a resolved parent and a single name, so
 * no "..", absolute symlink or rename reaches outside the root: the VM's
 * own symlinks make sense inside the VM only.  sessions/ shows the VM
 * backend's session files read-only.
 */
#include "fs.h"
#include "vm.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

static int fs__root_open(fs_state *st, const fs_node *n)
{
    char root[PATH_MAX];
    int rc = vm_root_path(st->data_dir, n->key, root, sizeof(root));
    if (rc < 0)
        return rc;
    int fd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

/* Resolves REL beneath ROOTFD; escaping is EACCES. */
static int fs__beneath(int rootfd, const char *rel, int flags, mode_t mode)
{
    /* openat2 refuses bits it does not know, and FUSE passes some. */
    flags &= O_ACCMODE | O_CREAT | O_EXCL | O_TRUNC | O_APPEND | O_NONBLOCK |
             O_DSYNC | O_SYNC | O_NOFOLLOW | O_DIRECTORY | O_NOATIME |
             O_PATH | O_LARGEFILE | O_NOCTTY;
    mode &= 07777;
    struct open_how how = {
        .flags = (uint64_t)(flags | O_CLOEXEC),
        .mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0,
        .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
    };
    long fd = syscall(SYS_openat2, rootfd, rel[0] ? rel : ".", &how,
                      sizeof(how));
    if (fd < 0)
        return errno == EXDEV ? -EACCES : -errno;
    return (int)fd;
}

/* Opens the parent of N's path beneath the root; *name is the last part. */
static int fs__parent(fs_state *st, const fs_node *n, int *rootfd,
                      const char **name)
{
    if (!n->sub[0])
        return -EBUSY; /* the root itself */
    int r = fs__root_open(st, n);
    if (r < 0)
        return r;
    char dir[PATH_MAX];
    const char *slash = strrchr(n->sub, '/');
    if (slash) {
        memcpy(dir, n->sub, (size_t)(slash - n->sub));
        dir[slash - n->sub] = '\0';
        *name = slash + 1;
    } else {
        dir[0] = '\0';
        *name = n->sub;
    }
    int fd = fs__beneath(r, dir, O_PATH | O_DIRECTORY, 0);
    if (rootfd)
        *rootfd = r;
    else
        close(r);
    return fd;
}

static int fs__errno(int rc)
{
    return rc < 0 ? -errno : 0;
}

int fs_vmfs_stat(fs_state *st, const fs_node *n, struct stat *sb)
{
    int root = fs__root_open(st, n);
    if (root < 0)
        return root;
    int fd = fs__beneath(root, n->sub, O_PATH | O_NOFOLLOW, 0);
    close(root);
    if (fd < 0)
        return fd;
    int rc = fs__errno(fstatat(fd, "", sb, AT_EMPTY_PATH));
    close(fd);
    return rc;
}

/* What the daemon creates in a VM must belong to the VM's user, or the
 * sandbox (uid VM_OWNER_UID on the host) could not change it. */
static int fs__give_to_vm(int dfd, const char *name)
{
    return fs__errno(fchownat(dfd, name, VM_OWNER_UID, VM_OWNER_GID,
                              AT_SYMLINK_NOFOLLOW | (name[0] ? 0 : AT_EMPTY_PATH)));
}

int fs_vmfs_open(fs_state *st, const fs_node *n, int flags, mode_t mode,
                 int *fd)
{
    int root = fs__root_open(st, n);
    if (root < 0)
        return root;
    /* The kernel passes each write's offset, O_APPEND included. */
    *fd = fs__beneath(root, n->sub, flags & ~O_APPEND, mode);
    close(root);
    if (*fd < 0)
        return *fd;
    /* Everything in a VM root belongs to the VM: a root-owned file here
     * is one this open has just created. */
    struct stat sb;
    if ((flags & O_CREAT) && fstat(*fd, &sb) == 0 && sb.st_uid == 0) {
        int rc = fs__give_to_vm(*fd, "");
        if (rc < 0) {
            close(*fd);
            *fd = -1;
            return rc;
        }
    }
    return 0;
}

int fs_vmfs_mknod(fs_state *st, const fs_node *n, mode_t mode)
{
    if (!S_ISREG(mode) && !S_ISFIFO(mode) && !S_ISSOCK(mode))
        return -EPERM;
    const char *name;
    int dfd = fs__parent(st, n, NULL, &name);
    if (dfd < 0)
        return dfd;
    int rc = fs__errno(mknodat(dfd, name, mode, 0));
    if (rc == 0)
        rc = fs__give_to_vm(dfd, name);
    close(dfd);
    return rc;
}

int fs_vmfs_mkdir(fs_state *st, const fs_node *n, mode_t mode)
{
    const char *name;
    int dfd = fs__parent(st, n, NULL, &name);
    if (dfd < 0)
        return dfd;
    int rc = fs__errno(mkdirat(dfd, name, mode));
    if (rc == 0)
        rc = fs__give_to_vm(dfd, name);
    close(dfd);
    return rc;
}

int fs_vmfs_unlink(fs_state *st, const fs_node *n, int dir)
{
    const char *name;
    int dfd = fs__parent(st, n, NULL, &name);
    if (dfd < 0)
        return dfd;
    int rc = fs__errno(unlinkat(dfd, name, dir ? AT_REMOVEDIR : 0));
    close(dfd);
    return rc;
}

int fs_vmfs_symlink(fs_state *st, const char *target, const fs_node *n)
{
    const char *name;
    int dfd = fs__parent(st, n, NULL, &name);
    if (dfd < 0)
        return dfd;
    int rc = fs__errno(symlinkat(target, dfd, name));
    if (rc == 0)
        rc = fs__give_to_vm(dfd, name);
    close(dfd);
    return rc;
}

/* Appends the components of P to the stack S (depth *d), as a chroot
 * does: ".." stops at the root. */
static void fs__walk(char *p, char **s, size_t *d, size_t max)
{
    char *save = NULL;
    for (char *c = strtok_r(p, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
        if (strcmp(c, ".") == 0)
            continue;
        if (strcmp(c, "..") == 0) {
            if (*d > 0)
                (*d)--;
        } else if (*d < max) {
            s[(*d)++] = c;
        }
    }
}

/* The kernel follows a symlink itself, from the caller's point of view:
 * so the target is shown rewritten as the VM sees it (absolute targets
 * from the VM root, ".." clamped at it), relative to the link's
 * directory, and never leads out of fs/. */
static int fs__confine_link(const char *sub, const char *target, char *buf,
                            size_t len)
{
    char dir[PATH_MAX], tgt[PATH_MAX];
    char *stack[PATH_MAX / 2];
    size_t depth = 0, up = 0;
    snprintf(dir, sizeof(dir), "%s", sub);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    else
        dir[0] = '\0';
    for (const char *p = dir; *p; p++)
        up += *p == '/';
    up += dir[0] != '\0';
    snprintf(tgt, sizeof(tgt), "%s", target);
    size_t max = sizeof(stack) / sizeof(stack[0]);
    if (target[0] != '/')
        fs__walk(dir, stack, &depth, max);
    fs__walk(tgt, stack, &depth, max);
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < up; i++)
        used += (size_t)snprintf(buf + used, used < len ? len - used : 0,
                                 "%s..", i ? "/" : "");
    for (size_t i = 0; i < depth; i++)
        used += (size_t)snprintf(buf + used, used < len ? len - used : 0,
                                 "%s%s", used ? "/" : "", stack[i]);
    if (used == 0)
        used = (size_t)snprintf(buf, len, ".");
    return used < len ? 0 : -ENAMETOOLONG;
}

int fs_vmfs_readlink(fs_state *st, const fs_node *n, char *buf, size_t len)
{
    const char *name;
    char raw[PATH_MAX];
    int dfd = fs__parent(st, n, NULL, &name);
    if (dfd < 0)
        return dfd;
    ssize_t r = readlinkat(dfd, name, raw, sizeof(raw) - 1);
    int rc = r < 0 ? -errno : 0;
    close(dfd);
    if (rc < 0)
        return rc;
    raw[r] = '\0';
    return fs__confine_link(n->sub, raw, buf, len);
}

int fs_vmfs_rename(fs_state *st, const fs_node *from, const fs_node *to,
                   unsigned int flags)
{
    if (strcmp(from->key, to->key) != 0)
        return -EXDEV;
    const char *fname, *tname;
    int ffd = fs__parent(st, from, NULL, &fname);
    if (ffd < 0)
        return ffd;
    int tfd = fs__parent(st, to, NULL, &tname);
    if (tfd < 0) {
        close(ffd);
        return tfd;
    }
    int rc = fs__errno(renameat2(ffd, fname, tfd, tname, flags));
    close(ffd);
    close(tfd);
    return rc;
}

int fs_vmfs_link(fs_state *st, const fs_node *from, const fs_node *to)
{
    if (strcmp(from->key, to->key) != 0)
        return -EXDEV;
    const char *fname, *tname;
    int ffd = fs__parent(st, from, NULL, &fname);
    if (ffd < 0)
        return ffd;
    int tfd = fs__parent(st, to, NULL, &tname);
    if (tfd < 0) {
        close(ffd);
        return tfd;
    }
    int rc = fs__errno(linkat(ffd, fname, tfd, tname, 0));
    close(ffd);
    close(tfd);
    return rc;
}

static struct timespec fs__when(int to_set, int now_bit, int set_bit,
                                struct timespec t)
{
    if (to_set & now_bit)
        return (struct timespec){.tv_nsec = UTIME_NOW};
    if (to_set & set_bit)
        return t;
    return (struct timespec){.tv_nsec = UTIME_OMIT};
}

int fs_vmfs_setattr(fs_state *st, const fs_node *n, int fd,
                    const struct stat *attr, int to_set)
{
    int root = fs__root_open(st, n);
    if (root < 0)
        return root;
    int pfd = fs__beneath(root, n->sub, O_PATH, 0);
    close(root);
    if (pfd < 0)
        return pfd;
    /* An O_PATH descriptor reaches chmod and utimensat through its
     * /proc/self/fd link: already resolved beneath the root. */
    char self[64];
    snprintf(self, sizeof(self), "/proc/self/fd/%d", pfd);
    int rc = 0;
    if (to_set & FUSE_SET_ATTR_MODE)
        rc = fs__errno(chmod(self, attr->st_mode & 07777));
    if (rc == 0 && (to_set & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)))
        rc = fs__errno(fchownat(
            pfd, "", (to_set & FUSE_SET_ATTR_UID) ? attr->st_uid : (uid_t)-1,
            (to_set & FUSE_SET_ATTR_GID) ? attr->st_gid : (gid_t)-1,
            AT_EMPTY_PATH));
    if (rc == 0 && (to_set & FUSE_SET_ATTR_SIZE)) {
        int wfd = fd;
        if (wfd < 0)
            wfd = open(self, O_WRONLY | O_CLOEXEC);
        rc = wfd < 0 ? -errno : fs__errno(ftruncate(wfd, attr->st_size));
        if (wfd >= 0 && wfd != fd)
            close(wfd);
    }
    if (rc == 0 && (to_set & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME |
                              FUSE_SET_ATTR_ATIME_NOW |
                              FUSE_SET_ATTR_MTIME_NOW))) {
        struct timespec ts[2] = {
            fs__when(to_set, FUSE_SET_ATTR_ATIME_NOW, FUSE_SET_ATTR_ATIME,
                     attr->st_atim),
            fs__when(to_set, FUSE_SET_ATTR_MTIME_NOW, FUSE_SET_ATTR_MTIME,
                     attr->st_mtim),
        };
        rc = fs__errno(utimensat(AT_FDCWD, self, ts, 0));
    }
    close(pfd);
    return rc;
}

/* Lists directory descriptor FD (closed here). */
static int fs__list_fd(int fd, int dirs_only, eng_dirent **ents,
                       size_t *count)
{
    DIR *d = fdopendir(fd);
    if (!d) {
        int rc = -errno;
        close(fd);
        return rc;
    }
    eng_dirent *v = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    struct dirent *de;
    errno = 0;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        int is_dir = de->d_type == DT_DIR;
        if (dirs_only && !is_dir)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 32;
            eng_dirent *nv = realloc(v, cap * sizeof(*v));
            if (!nv) {
                rc = -ENOMEM;
                break;
            }
            v = nv;
        }
        v[n].name = strdup(de->d_name);
        if (!v[n].name) {
            rc = -ENOMEM;
            break;
        }
        v[n++].is_dir = is_dir;
    }
    closedir(d);
    if (rc < 0) {
        eng_dirents_free(v, n);
        return rc;
    }
    *ents = v;
    *count = n;
    return 0;
}

int fs_vmfs_list(fs_state *st, const fs_node *n, eng_dirent **ents,
                 size_t *count)
{
    int root = fs__root_open(st, n);
    if (root < 0)
        return root;
    int fd = fs__beneath(root, n->sub, O_RDONLY | O_DIRECTORY, 0);
    close(root);
    if (fd < 0)
        return fd;
    return fs__list_fd(fd, 0, ents, count);
}

int fs_vmfs_statfs(fs_state *st, const fs_node *n, struct statvfs *sv)
{
    int root = fs__root_open(st, n);
    if (root < 0)
        return root;
    int rc = fs__errno(fstatvfs(root, sv));
    close(root);
    return rc;
}

/* DATA/vm/NAME/sessions[/ID[/FILE]] for N. */
static int fs__session_path(fs_state *st, const fs_node *n, char *buf,
                            size_t len)
{
    int rc = vm_sessions_path(st->data_dir, n->key, buf, len);
    if (rc < 0)
        return rc;
    size_t used = strlen(buf);
    const char *file = n->kind == FS_N_SINFO    ? "/info"
                       : n->kind == FS_N_STRANS ? "/transcript"
                                                : "";
    int w = n->kind == FS_N_SESSIONS
                ? 0
                : snprintf(buf + used, len - used, "/%s%s", n->name, file);
    if (w < 0 || (size_t)w >= len - used)
        return -ENAMETOOLONG;
    return 0;
}

int fs_session_open(fs_state *st, const fs_node *n, int *fd)
{
    char path[PATH_MAX];
    int rc = fs__session_path(st, n, path, sizeof(path));
    if (rc < 0)
        return rc;
    *fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    return *fd < 0 ? -errno : 0;
}

int fs_session_stat(fs_state *st, const fs_node *n, struct stat *sb)
{
    char path[PATH_MAX];
    int rc = fs__session_path(st, n, path, sizeof(path));
    if (rc < 0)
        return rc;
    if (lstat(path, sb) < 0)
        return -errno;
    if (n->kind == FS_N_SESSION ? !S_ISDIR(sb->st_mode)
                                : !S_ISREG(sb->st_mode))
        return -ENOENT;
    sb->st_mode = (sb->st_mode & S_IFMT) | (S_ISDIR(sb->st_mode) ? 0555
                                                                  : 0444);
    sb->st_uid = st->uid;
    sb->st_gid = st->gid;
    return 0;
}

int fs_session_list(fs_state *st, const fs_node *n, eng_dirent **ents,
                    size_t *count)
{
    char path[PATH_MAX];
    int rc = fs__session_path(st, n, path, sizeof(path));
    if (rc < 0)
        return rc;
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT && n->kind == FS_N_SESSIONS) {
        *ents = NULL; /* no session yet */
        *count = 0;
        return 0;
    }
    if (fd < 0)
        return -errno;
    rc = fs__list_fd(fd, n->kind == FS_N_SESSIONS, ents, count);
    if (rc < 0 || n->kind == FS_N_SESSIONS)
        return rc;
    /* Only the two files the tree promises. */
    size_t k = 0;
    for (size_t i = 0; i < *count; i++) {
        eng_dirent *e = &(*ents)[i];
        if (!e->is_dir && (strcmp(e->name, "info") == 0 ||
                           strcmp(e->name, "transcript") == 0))
            (*ents)[k++] = *e;
        else
            free(e->name);
    }
    *count = k;
    return 0;
}
