/*
 * sandbox.c - the bubblewrap command line of a VM: what a sandboxed
 * process sees and what it may do.
 *
 * Own mount, PID, IPC, UTS, cgroup, user and (unless --vm-net) network
 * namespaces; /usr and the merged-/usr symlinks read-only; from /etc only
 * what commands need (never shadow; see stage.c); a fresh /proc, a
 * minimal /dev with the usual devices (no ptys) and its own 64 MiB
 * /dev/shm; the VM's home and /tmp writable and the rest read-only (a
 * VM's sandbox outlives its commands: nothing may pile up in its
 * memory); read-only host directories where configured; no capabilities
 * and no further user namespaces.  bubblewrap itself runs as
 * VM__HOST_UID, so the sandbox's `user` is that uid outside.  Paths on
 * the host side are the staged ones (stage.c).
 *
 * A VM's sandbox (box.c) runs our init as its pid 1, bound read-only
 * from the stage; its socket on fd 3 is its lifeline.
 *
 * An agent's sandbox (proc.c) runs one command: fd 3 gets bubblewrap's
 * info (the sandbox's pid) and fd 4 holds the sandbox until the process
 * is in its cgroups.  fd 5 is its lifeline: a pipe whose write end only
 * the daemon holds.  The command runs under a watcher that kills
 * everything in the sandbox when the lifeline reads EOF, that is when
 * the daemon is gone, however it died.  bubblewrap's --die-with-parent
 * alone is not enough: the parent-death signal is cleared when
 * bubblewrap changes credentials, and a daemon killed before it released
 * fd 4 lets the sandbox go on.  kill -1 in the PID namespace reaches
 * every process but its init and the watcher; the init exits when its
 * command has died, and the namespace with it.
 */
#include "vm_int.h"
#include "vminit.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Docker's default: a VM's /dev/shm lives as long as its sandbox, so it
 * must not grow to half the host's memory. */
#define SHM_SIZE "67108864"

static const char *const top_dirs[] = {"bin", "sbin", "lib", "lib32", "lib64",
                                       "libx32"};

typedef struct {
    char **v;
    size_t n, cap;
    int oom;
} argv_b;

static void add(argv_b *a, const char *s)
{
    if (a->oom)
        return;
    if (a->n + 2 > a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 64;
        char **v = realloc(a->v, cap * sizeof *v);
        if (v == NULL) {
            a->oom = 1;
            return;
        }
        a->v = v;
        a->cap = cap;
    }
    if ((a->v[a->n] = strdup(s)) == NULL) {
        a->oom = 1;
        return;
    }
    a->v[++a->n] = NULL;
}

static void add3(argv_b *a, const char *x, const char *y, const char *z)
{
    add(a, x);
    add(a, y);
    add(a, z);
}

void vm__argv_free(char **argv)
{
    for (size_t i = 0; argv != NULL && argv[i] != NULL; i++)
        free(argv[i]);
    free(argv);
}

/* The sandbox's hostname: the VM name when it is a valid one. */
static void hostname_of(const char *vm, char *buf, size_t len)
{
    size_t n = strlen(vm);
    int ok = n > 0 && n <= 63;
    for (size_t i = 0; ok && i < n; i++)
        ok = isalnum((unsigned char)vm[i]) || vm[i] == '-';
    snprintf(buf, len, "%s", ok ? vm : "vm");
}

int vm__sandbox_argv(const vm__sandbox_spec *s, char ***argv, char *err,
                     size_t errlen)
{
    argv_b a = {0};
    char buf[4096], buf2[4096], host[64];
    struct stat st;
    if (vm__conf_bwrap() == NULL) {
        vm__err(err, errlen, "bubblewrap (bwrap) is not installed; install it "
                "with: apt-get install bubblewrap");
        return -ENOENT;
    }
    add(&a, vm__conf_bwrap());
    add(&a, "--unshare-all");
    add(&a, "--unshare-user");
    if (vm__conf_net(s->vm))
        add(&a, "--share-net");
    add(&a, "--die-with-parent");
    add(&a, "--new-session");
    add(&a, "--cap-drop");
    add(&a, "ALL");
    add(&a, "--disable-userns");
    snprintf(buf, sizeof buf, "%d", VM__SANDBOX_UID);
    add3(&a, "--uid", buf, "--gid");
    add(&a, buf);
    hostname_of(s->vm, host, sizeof host);
    add(&a, "--hostname");
    add(&a, host);
    add3(&a, "--ro-bind", "/usr", "/usr");
    for (size_t i = 0; i < sizeof top_dirs / sizeof top_dirs[0]; i++) {
        snprintf(buf, sizeof buf, "/%s", top_dirs[i]);
        ssize_t n = readlink(buf, buf2, sizeof buf2 - 1);
        if (n > 0) {
            buf2[n] = '\0';
            add3(&a, "--symlink", buf2, buf);
        } else if (stat(buf, &st) == 0 && S_ISDIR(st.st_mode)) {
            add3(&a, "--ro-bind", buf, buf);
        }
    }
    add3(&a, "--proc", "/proc", "--dev-bind");
    add3(&a, VM__STAGE "/dev", "/dev", "--size");
    add3(&a, SHM_SIZE, "--tmpfs", "/dev/shm");
    add3(&a, "--ro-bind", VM__STAGE "/etc", "/etc");
    add3(&a, "--dir", "/var", "--symlink");
    add(&a, "../tmp");
    add(&a, "/var/tmp");
    if (vm__stage_vm_path(s->vm, "/home/user", buf, sizeof buf) < 0 ||
        vm__stage_vm_path(s->vm, "/tmp", buf2, sizeof buf2) < 0) {
        vm__argv_free(a.v);
        vm__err(err, errlen, "VM name too long");
        return -ENAMETOOLONG;
    }
    add3(&a, "--bind", buf, "/home/user");
    add3(&a, "--bind", buf2, "/tmp");
    for (size_t i = 0; i < vm__conf_nmounts(); i++) {
        if (!vm__conf_mount_applies(i, s->vm))
            continue;
        snprintf(buf, sizeof buf, VM__STAGE "/ro/%zu", i);
        add3(&a, "--ro-bind", buf, vm__conf_mount(i)->vm_dir);
    }
    if (s->agent_dir)
        add3(&a, "--ro-bind-try", VM__STAGE "/agent", VM__AGENT_MOUNT);
    if (s->box)
        add3(&a, "--ro-bind", VM__STAGE "/init", VM__INIT_PATH);
    add3(&a, "--remount-ro", "/", "--chdir");
    add(&a, "/home/user");
    if (s->box) {
        add(&a, "--as-pid-1");
        add(&a, "--");
    } else {
        add3(&a, "--info-fd", "3", "--block-fd");
        add3(&a, "4", "--", "/bin/sh");
        add(&a, "-c");
        add(&a, "(read x <&5; kill -KILL -1) </dev/null >/dev/null 2>&1 & "
                "exec 5<&-; exec \"$@\"");
        add(&a, "actorfs");
    }
    for (size_t i = 0; s->cmd[i] != NULL; i++)
        add(&a, s->cmd[i]);
    if (a.oom) {
        vm__argv_free(a.v);
        return -ENOMEM;
    }
    *argv = a.v;
    return 0;
}

int vm__sandbox_spawn(uv_process_t *proc, char **argv, char **env,
                      uv_stdio_container_t *stdio, int nstdio,
                      uv_exit_cb exit_cb)
{
    uv_process_options_t o = {0};
    o.exit_cb = exit_cb;
    o.file = argv[0];
    o.args = argv;
    o.env = env;
    o.cwd = "/";
    o.flags = UV_PROCESS_SETUID | UV_PROCESS_SETGID;
    o.uid = VM__HOST_UID;
    o.gid = VM__HOST_GID;
    o.stdio = stdio;
    o.stdio_count = nstdio;
    return uv_spawn(vm__loop(), proc, &o);
}
