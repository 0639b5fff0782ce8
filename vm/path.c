/*
 * path.c - files of a VM, reached from the daemon (readFile, writeFile,
 * the agent's fs/read_text_file and fs/write_text_file), and the VM's
 * directories on disk.
 *
 * The daemon runs as root, so a symlink planted inside a VM must never
 * lead it outside: a path is resolved with openat2(RESOLVE_BENEATH |
 * RESOLVE_NO_MAGICLINKS) from the directory that holds it on the host
 * (the VM's home, its /tmp, or a read-only mount for reads), so ".." and
 * symlinks that leave it fail with EXDEV.  What the daemon creates there
 * belongs to the sandbox user.
 */
#include "vm_int.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static int openat2_in(int dirfd, const char *rel, int flags, mode_t mode)
{
    struct open_how how = {
        .flags = (uint64_t)(flags | O_CLOEXEC),
        .mode = (flags & O_CREAT) ? mode : 0,
        .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
    };
    long fd = syscall(SYS_openat2, dirfd, rel[0] ? rel : ".", &how, sizeof how);
    return fd < 0 ? -errno : (int)fd;
}

static int vm_dir(const char *vm, const char *sub, char *buf, size_t len)
{
    int n = snprintf(buf, len, "%s/vm/%s%s", vm__conf_data_dir(), vm, sub);
    return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* Checks a VM path: absolute, no "..", no empty name. */
static int path_ok(const char *path, char *err, size_t errlen)
{
    if (path == NULL || path[0] != '/') {
        vm__err(err, errlen, "path '%s' must be absolute (as the VM sees it, "
                "e.g. /home/user/file)", path ? path : "");
        return -EINVAL;
    }
    for (const char *p = path; (p = strstr(p, "..")) != NULL; p += 2) {
        if (p[-1] == '/' && (p[2] == '/' || p[2] == '\0')) {
            vm__err(err, errlen, "path '%s' must not contain '..'", path);
            return -EINVAL;
        }
    }
    return 0;
}

static int under(const char *path, const char *dir)
{
    size_t n = strlen(dir);
    return strncmp(path, dir, n) == 0 && (path[n] == '/' || path[n] == '\0');
}

int vm__dirs_create(const char *vm, char *err, size_t errlen)
{
    static const struct {
        const char *sub;
        mode_t mode;
        int owned;
    } dirs[] = {
        {"", 0711, 0},          {"/root", 0711, 0}, {"/root/home", 0755, 0},
        {"/root/home/user", 0755, 1}, {"/root/tmp", 01777, 1},
        {"/sessions", 0755, 0},
    };
    char path[4096];
    snprintf(path, sizeof path, "%s/vm", vm__conf_data_dir());
    if (mkdir(path, 0711) < 0 && errno != EEXIST) {
        int e = errno;
        vm__err(err, errlen, "mkdir %s: %s", path, strerror(e));
        return -e;
    }
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
        if (vm_dir(vm, dirs[i].sub, path, sizeof path) < 0) {
            vm__err(err, errlen, "VM name too long");
            return -ENAMETOOLONG;
        }
        if (mkdir(path, dirs[i].mode) < 0) {
            if (errno == EEXIST)
                continue;
            int e = errno;
            vm__err(err, errlen, "mkdir %s: %s", path, strerror(e));
            return -e;
        }
        if ((chmod(path, dirs[i].mode) < 0) ||
            (dirs[i].owned && lchown(path, VM__HOST_UID, VM__HOST_GID) < 0)) {
            int e = errno;
            vm__err(err, errlen, "chmod/chown %s: %s", path, strerror(e));
            return -e;
        }
    }
    return 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag,
                    struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    int rc = (flag == FTW_DP) ? rmdir(path) : unlink(path);
    if (rc < 0 && errno != ENOENT)
        eng_log("vm: removing %s: %s", path, strerror(errno));
    return 0;
}

int vm__dirs_remove(const char *vm, char *err, size_t errlen)
{
    char path[4096];
    if (vm_dir(vm, "", path, sizeof path) < 0) {
        vm__err(err, errlen, "VM name too long");
        return -ENAMETOOLONG;
    }
    if (nftw(path, rm_entry, 32, FTW_DEPTH | FTW_PHYS | FTW_MOUNT) < 0 &&
        errno != ENOENT) {
        int e = errno;
        vm__err(err, errlen, "removing %s: %s", path, strerror(e));
        return -e;
    }
    return 0;
}

/* The host directory a VM path lives in (home, /tmp, or for reads a
 * read-only mount) and the path relative to it. */
static int base_of(const char *vm, const char *path, int for_write,
                   char *base, size_t blen, const char **rel, char *err,
                   size_t errlen)
{
    static const char *const own[] = {"/home/user", "/tmp"};
    for (size_t i = 0; i < 2; i++) {
        if (under(path, own[i])) {
            *rel = path + strlen(own[i]);
            while (**rel == '/')
                (*rel)++;
            char sub[32];
            snprintf(sub, sizeof sub, "/root%s", own[i]);
            return vm_dir(vm, sub, base, blen);
        }
    }
    for (size_t i = 0; !for_write && i < vm__conf_nmounts(); i++) {
        const vm_mount *m = vm__conf_mount(i);
        if (vm__conf_mount_applies(i, vm) && under(path, m->vm_dir)) {
            snprintf(base, blen, "%s", m->host_dir);
            *rel = path + strlen(m->vm_dir);
            while (**rel == '/')
                (*rel)++;
            return 0;
        }
    }
    if (for_write) {
        vm__err(err, errlen, "%s: only /home/user and /tmp are writable in a VM", path);
        return -EACCES;
    }
    vm__err(err, errlen, "%s: not in the VM's own files (/home/user, /tmp or a "
            "read-only mount)", path);
    return -ENOENT;
}

static void resolve_err(const char *path, int rc, char *err, size_t errlen)
{
    if (rc == -EXDEV || rc == -ELOOP)
        vm__err(err, errlen, "%s: a symlink or '..' leads outside the VM's files",
                path);
    else
        vm__err(err, errlen, "%s: %s", path, strerror(-rc));
}

int vm__file_read(const char *vm, const char *path, char **data, size_t *len,
                  char *err, size_t errlen)
{
    char base[4096];
    const char *rel;
    int rc = path_ok(path, err, errlen);
    if (rc < 0)
        return rc;
    if ((rc = base_of(vm, path, 0, base, sizeof base, &rel, err, errlen)) < 0)
        return rc;
    int dfd = open(base, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) {
        rc = -errno;
        vm__err(err, errlen, "vm@%s has no filesystem yet: %s", vm, strerror(errno));
        return rc;
    }
    int fd = openat2_in(dfd, rel, O_RDONLY, 0);
    close(dfd);
    if (fd < 0) {
        resolve_err(path, fd, err, errlen);
        return fd;
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        rc = S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
        vm__err(err, errlen, "%s: not a regular file", path);
        close(fd);
        return rc;
    }
    if (st.st_size > VM__FILE_CAP) {
        vm__err(err, errlen, "%s: larger than %d bytes", path, VM__FILE_CAP);
        close(fd);
        return -EFBIG;
    }
    vm__buf b = {0};
    char chunk[65536];
    ssize_t n;
    if ((rc = vm__buf_add(&b, "", 0)) < 0) {
        close(fd);
        return rc;
    }
    while ((n = read(fd, chunk, sizeof chunk)) > 0) {
        if (b.n + (size_t)n > VM__FILE_CAP) {
            vm__err(err, errlen, "%s: larger than %d bytes", path, VM__FILE_CAP);
            rc = -EFBIG;
            break;
        }
        if ((rc = vm__buf_add(&b, chunk, (size_t)n)) < 0)
            break;
    }
    if (n < 0) {
        rc = -errno;
        vm__err(err, errlen, "%s: %s", path, strerror(errno));
    }
    close(fd);
    if (rc < 0) {
        vm__buf_free(&b);
        return rc;
    }
    *data = b.p;
    *len = b.n;
    return 0;
}

/* Opens directory REL beneath root fd RFD, creating what is missing
 * (owned by the sandbox user). */
static int open_dir_p(int rfd, const char *rel, int depth)
{
    int fd = openat2_in(rfd, rel, O_PATH | O_DIRECTORY, 0);
    if (fd != -ENOENT || depth > 64)
        return fd;
    char *copy = strdup(rel);
    if (copy == NULL)
        return -ENOMEM;
    char *slash = strrchr(copy, '/');
    const char *name = slash ? slash + 1 : copy;
    int pfd;
    if (slash) {
        *slash = '\0';
        pfd = open_dir_p(rfd, copy, depth + 1);
    } else {
        pfd = dup(rfd);
        if (pfd < 0)
            pfd = -errno;
    }
    if (pfd >= 0) {
        /* mkdirat with one name never follows a symlink of that name. */
        if (mkdirat(pfd, name, 0755) == 0)
            fchownat(pfd, name, VM__HOST_UID, VM__HOST_GID, AT_SYMLINK_NOFOLLOW);
        close(pfd);
        fd = openat2_in(rfd, rel, O_PATH | O_DIRECTORY, 0);
    } else {
        fd = pfd;
    }
    free(copy);
    return fd;
}

int vm__file_write(const char *vm, const char *path, const char *data,
                   size_t len, char *err, size_t errlen)
{
    char base[4096];
    const char *rel;
    int rc = path_ok(path, err, errlen);
    if (rc < 0)
        return rc;
    if ((rc = base_of(vm, path, 1, base, sizeof base, &rel, err, errlen)) < 0)
        return rc;
    if (rel[0] == '\0') {
        vm__err(err, errlen, "%s: is a directory", path);
        return -EISDIR;
    }
    int rfd = open(base, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (rfd < 0) {
        rc = -errno;
        vm__err(err, errlen, "vm@%s has no filesystem yet: %s", vm, strerror(errno));
        return rc;
    }
    char *parent = strdup(rel);
    if (parent == NULL) {
        close(rfd);
        return -ENOMEM;
    }
    char *slash = strrchr(parent, '/');
    if (slash != NULL) {
        *slash = '\0';
        int pfd = open_dir_p(rfd, parent, 0);
        if (pfd < 0) {
            resolve_err(path, pfd, err, errlen);
            free(parent);
            close(rfd);
            return pfd;
        }
        close(pfd);
    }
    free(parent);
    int fd = openat2_in(rfd, rel, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    close(rfd);
    if (fd < 0) {
        resolve_err(path, fd, err, errlen);
        return fd;
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        vm__err(err, errlen, "%s: not a regular file", path);
        close(fd);
        return -EINVAL;
    }
    if (st.st_uid == 0 && fchown(fd, VM__HOST_UID, VM__HOST_GID) < 0)
        eng_log("vm: chown %s in vm@%s: %s", path, vm, strerror(errno));
    size_t off = 0;
    while (off < len) {
        ssize_t n = write(fd, data + off, len - off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            rc = -errno;
            vm__err(err, errlen, "%s: %s", path, strerror(errno));
            close(fd);
            return rc;
        }
        off += (size_t)n;
    }
    if (close(fd) < 0) {
        rc = -errno;
        vm__err(err, errlen, "%s: %s", path, strerror(errno));
        return rc;
    }
    return 0;
}
