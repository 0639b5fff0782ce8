/*
 * stage.c - the loop thread's private mount namespace, where the host
 * directories a sandbox needs become reachable to an unprivileged user.
 *
 * Sandboxes run bubblewrap as an unprivileged host uid (VM__HOST_UID), so
 * that a process escaping every namespace is still nobody on the host.
 * bubblewrap 0.8 resolves every bind source with realpath(), even the
 * /proc/self/fd/N of --bind-fd, so it must be able to walk the path: the
 * data dir usually sits under root's 0700 home.  So the loop thread
 * unshares its mount namespace (children inherit it, the rest of the
 * daemon does not see it) and mounts a small tmpfs at VM__STAGE holding:
 *   vm/     a bind of DATA/vm (0711: traversable, not listable)
 *   agent/  a bind of the test agent's directory
 *   ro/N    a bind of the Nth --vm-ro host directory
 *   init    a copy of actorfs-vminit (init.c), pid 1 of each VM's sandbox
 *   etc/    the sandbox's /etc: passwd and group with its `user`, a
 *           gitconfig, and
 *           binds of the few host files commands need (never shadow)
 *   dev/    a minimal /dev (its own tmpfs, root's and read-only to the
 *           sandbox): null, zero, full, random, urandom, tty bound from
 *           the host, the fd symlinks, and shm/ where each sandbox
 *           mounts its own tmpfs
 * A sandbox binds etc/ and dev/ whole: two mounts instead of thirty,
 * which matters because bubblewrap rereads the mount table after each
 * one (it made an exec a third slower).
 * Nothing is left on the host when the daemon dies: the namespace goes
 * with it.  The copy of the host's mounts it starts from must not hold
 * other FUSE filesystems (another actorfs, say): a FUSE daemon learns it
 * was unmounted only when the last copy of its mount goes, so those are
 * detached here first.
 */
#include "vm_int.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

static const char passwd_text[] =
    "root:x:0:0:root:/root:/usr/sbin/nologin\n"
    "user:x:1000:1000:user:/home/user:/bin/sh\n"
    "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n";
static const char group_text[] =
    "root:x:0:\n"
    "user:x:1000:\n"
    "nogroup:x:65534:\n";
/* git refuses repositories another user owns ("dubious ownership"), and
 * in a VM every read-only host directory (--vm-ro) is another user's: the
 * sandbox runs as an unprivileged uid.  The check protects one user from
 * another on a shared host; a VM has one user, and what it can see was
 * put there on purpose, so the VM trusts it. */
static const char gitconfig_text[] =
    "[safe]\n"
    "\tdirectory = *\n";

/* Undoes mountinfo's octal escapes (\040 for a space) in place. */
static void unescape(char *s)
{
    char *out = s;
    for (char *in = s; *in; out++) {
        if (in[0] == '\\' && in[1] >= '0' && in[1] <= '7' && in[2] && in[3]) {
            *out = (char)((in[1] - '0') * 64 + (in[2] - '0') * 8 + (in[3] - '0'));
            in += 4;
        } else {
            *out = *in++;
        }
    }
    *out = '\0';
}

/* Detaches every FUSE mount from this thread's copy of the mount table. */
static void drop_fuse_mounts(void)
{
    FILE *f = fopen("/proc/thread-self/mountinfo", "re");
    char line[4096], mnt[4096], fstype[256];
    while (f != NULL && fgets(line, sizeof line, f) != NULL) {
        char *sep = strstr(line, " - ");
        if (sep == NULL || sscanf(line, "%*s %*s %*s %*s %4095s", mnt) != 1 ||
            sscanf(sep + 3, "%255s", fstype) != 1 || strncmp(fstype, "fuse", 4) != 0)
            continue;
        unescape(mnt);
        if (umount2(mnt, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
            eng_log("vm: detaching %s from the VM loop's mounts: %s", mnt, strerror(errno));
    }
    if (f != NULL)
        fclose(f);
}

static const char *const etc_files[] = {
    "resolv.conf", "hosts", "nsswitch.conf", "host.conf", "gai.conf",
    "ssl", "ca-certificates", "ca-certificates.conf", "alternatives",
    "ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "protocols",
    "services", "mime.types", "os-release", "npmrc",
};

static int mkdir_ok(const char *path, mode_t mode)
{
    if (mkdir(path, mode) < 0 && errno != EEXIST)
        return -errno;
    return 0;
}

static int write_text(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    size_t n = strlen(text);
    ssize_t w = write(fd, text, n);
    int e = errno;
    close(fd);
    if (w != (ssize_t)n)
        return w < 0 ? -e : -EIO;
    return 0;
}

static int bind_ro(const char *src, const char *dst, int ro, char *err,
                   size_t errlen)
{
    int rc = mkdir_ok(dst, 0755);
    if (rc < 0) {
        vm__err(err, errlen, "vm: mkdir %s: %s", dst, strerror(-rc));
        return rc;
    }
    if (mount(src, dst, NULL, MS_BIND | MS_REC, NULL) < 0) {
        rc = -errno;
        vm__err(err, errlen, "vm: bind %s: %s", src, strerror(errno));
        return rc;
    }
    if (ro && mount(NULL, dst, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL) < 0) {
        rc = -errno;
        vm__err(err, errlen, "vm: read-only %s: %s", dst, strerror(errno));
        return rc;
    }
    return 0;
}

static int stage_dev(char *err, size_t errlen)
{
    static const char *const nodes[] = {"null", "zero", "full", "random", "urandom", "tty"};
    static const char *const links[][2] = {{"/proc/self/fd", "fd"},
                                           {"/proc/self/fd/0", "stdin"},
                                           {"/proc/self/fd/1", "stdout"},
                                           {"/proc/self/fd/2", "stderr"}};
    char src[64], dst[128];
    int rc = mkdir_ok(VM__STAGE "/dev", 0755);
    if (rc == 0 && mount("actorfs-vm-dev", VM__STAGE "/dev", "tmpfs", MS_NOSUID | MS_NOEXEC,
                         "mode=0755,size=64k") < 0)
        rc = -errno;
    for (size_t i = 0; rc == 0 && i < sizeof nodes / sizeof nodes[0]; i++) {
        snprintf(src, sizeof src, "/dev/%s", nodes[i]);
        snprintf(dst, sizeof dst, VM__STAGE "/dev/%s", nodes[i]);
        if ((rc = write_text(dst, "")) == 0 && mount(src, dst, NULL, MS_BIND, NULL) < 0)
            rc = -errno;
    }
    for (size_t i = 0; rc == 0 && i < sizeof links / sizeof links[0]; i++) {
        snprintf(dst, sizeof dst, VM__STAGE "/dev/%s", links[i][1]);
        if (symlink(links[i][0], dst) < 0)
            rc = -errno;
    }
    if (rc == 0)
        rc = mkdir_ok(VM__STAGE "/dev/shm", 0755);
    if (rc < 0)
        vm__err(err, errlen, "vm: staging /dev: %s", strerror(-rc));
    return rc;
}

static char init_error[512];

const char *vm__stage_init_error(void)
{
    return init_error;
}

/* A copy, not a bind: the build tree may be under a directory the
 * sandbox's uid cannot walk.  Missing, it only disables exec (said then). */
static void stage_init(void)
{
    char buf[65536];
    ssize_t n = 0;
    int in = open(ACTORFS_VMINIT, O_RDONLY | O_CLOEXEC);
    int out = in < 0 ? -1 : open(VM__STAGE "/init", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
    while (out >= 0 && (n = read(in, buf, sizeof buf)) > 0)
        if (write(out, buf, (size_t)n) != n)
            n = -1;
    if (in < 0 || out < 0 || n < 0)
        snprintf(init_error, sizeof init_error, "copying %s: %s", ACTORFS_VMINIT,
                 strerror(errno));
    if (out >= 0 && close(out) < 0)
        snprintf(init_error, sizeof init_error, "copying %s: %s", ACTORFS_VMINIT,
                 strerror(errno));
    if (in >= 0)
        close(in);
    if (init_error[0]) {
        unlink(VM__STAGE "/init");
        eng_log("vm: WARNING: %s", init_error);
    }
}

/* Binds each host /etc entry a command may need into the staged etc/,
 * following symlinks (os-release, resolv.conf often are). */
static int stage_etc(char *err, size_t errlen)
{
    char src[300], dst[300];
    for (size_t i = 0; i < sizeof etc_files / sizeof etc_files[0]; i++) {
        struct stat st;
        snprintf(src, sizeof src, "/etc/%s", etc_files[i]);
        snprintf(dst, sizeof dst, VM__STAGE "/etc/%s", etc_files[i]);
        if (stat(src, &st) < 0)
            continue;
        int rc = S_ISDIR(st.st_mode) ? mkdir_ok(dst, 0755) : write_text(dst, "");
        if (rc < 0 || mount(src, dst, NULL, MS_BIND | MS_REC, NULL) < 0) {
            rc = rc < 0 ? rc : -errno;
            vm__err(err, errlen, "vm: staging %s: %s", src, strerror(-rc));
            return rc;
        }
    }
    return 0;
}

int vm__stage_setup(char *err, size_t errlen)
{
    char path[4096];
    int rc;
    if (unshare(CLONE_NEWNS) < 0) {
        rc = -errno;
        vm__err(err, errlen, "vm: cannot make a private mount namespace "
                "(unshare: %s); the VM backend needs root", strerror(errno));
        return rc;
    }
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
        rc = -errno;
        vm__err(err, errlen, "vm: make mounts private: %s", strerror(errno));
        return rc;
    }
    drop_fuse_mounts();
    if ((rc = mkdir_ok(VM__STAGE, 0755)) < 0) {
        vm__err(err, errlen, "vm: mkdir %s: %s", VM__STAGE, strerror(-rc));
        return rc;
    }
    if (mount("actorfs-vm", VM__STAGE, "tmpfs", MS_NOSUID | MS_NODEV,
              "mode=0755,size=1m") < 0) {
        rc = -errno;
        vm__err(err, errlen, "vm: mount tmpfs on %s: %s", VM__STAGE,
                strerror(errno));
        return rc;
    }
    snprintf(path, sizeof path, "%s/vm", vm__conf_data_dir());
    if ((rc = mkdir_ok(vm__conf_data_dir(), 0711)) < 0 ||
        (rc = mkdir_ok(path, 0711)) < 0 || (chmod(path, 0711) < 0 && (rc = -errno))) {
        vm__err(err, errlen, "vm: %s: %s", path, strerror(-rc));
        return rc;
    }
    if ((rc = bind_ro(path, VM__STAGE "/vm", 0, err, errlen)) < 0)
        return rc;
    if (access(vm__conf_agent_dir(), R_OK | X_OK) == 0 &&
        (rc = bind_ro(vm__conf_agent_dir(), VM__STAGE "/agent", 1, err, errlen)) < 0)
        return rc;
    if ((rc = mkdir_ok(VM__STAGE "/ro", 0755)) < 0)
        return rc;
    for (size_t i = 0; i < vm__conf_nmounts(); i++) {
        snprintf(path, sizeof path, VM__STAGE "/ro/%zu", i);
        if ((rc = bind_ro(vm__conf_mount(i)->host_dir, path, 1, err, errlen)) < 0)
            return rc;
    }
    if ((rc = mkdir_ok(VM__STAGE "/etc", 0755)) < 0 ||
        (rc = write_text(VM__STAGE "/etc/passwd", passwd_text)) < 0 ||
        (rc = write_text(VM__STAGE "/etc/group", group_text)) < 0 ||
        (rc = write_text(VM__STAGE "/etc/gitconfig", gitconfig_text)) < 0) {
        vm__err(err, errlen, "vm: writing %s/etc: %s", VM__STAGE, strerror(-rc));
        return rc;
    }
    if ((rc = stage_etc(err, errlen)) < 0)
        return rc;
    stage_init();
    return stage_dev(err, errlen);
}

int vm__stage_vm_path(const char *vm, const char *sub, char *buf, size_t len)
{
    int n = snprintf(buf, len, VM__STAGE "/vm/%s/root%s", vm, sub);
    return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}
