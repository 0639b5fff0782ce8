/*
 * cgroup.c - memory, pids and cpu limits for each sandboxed process, and
 * killing a whole process tree at once.
 *
 * Hosts differ: a systemd host has one cgroup v2 hierarchy with every
 * controller; others (this one) keep memory, pids and cpu on v1 mounts
 * and a controller-less cgroup2 beside them, whose cgroup.kill still
 * works.  So each controller is detected on its own (v2 first, then v1)
 * from /proc/self/mountinfo, and the groups are made under the daemon's
 * own cgroup in each hierarchy, in a directory private to this daemon.
 * Where nothing is writable the sandboxes run without limits and the log
 * says so once.
 *
 * A daemon killed with -9 cannot remove its directory.  Named by pid
 * alone, a later daemon given the same pid (pid_max is 32768 here) found
 * it with its groups still there, could not make its own, and ran its
 * commands without the cgroup that kills what they leave behind.  So
 * the name carries the process's start time as well, and each daemon
 * removes, when it starts, the directories of daemons no longer running.
 */
#include "vm_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum { C_MEMORY, C_PIDS, C_CPU, C_N };
static const char *const cname[C_N] = {"memory", "pids", "cpu"};

#define MAX_H 4

typedef struct {
    char base[1024]; /* our directory in this hierarchy */
    int v2;
    int ctl[C_N]; /* controllers limited here */
    int kill;     /* has cgroup.kill */
} hier;

static struct {
    hier h[MAX_H];
    int nh;
    int inited;
    unsigned long seq;
    char summary[256];
    pthread_mutex_t mu;
} G = {.mu = PTHREAD_MUTEX_INITIALIZER};

struct vm__cg {
    char dir[MAX_H][1100];
    int used[MAX_H];
};

static int write_file(const char *dir, const char *file, const char *text)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    ssize_t n = write(fd, text, strlen(text));
    int e = errno;
    close(fd);
    return n < 0 ? -e : 0;
}

/* The start of a small file, NUL-terminated; -errno if it cannot be opened. */
static int read_head(const char *path, char *buf, size_t len)
{
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return -errno;
    size_t n = fread(buf, 1, len - 1, f);
    fclose(f);
    buf[n] = '\0';
    return 0;
}

static int file_has_word(const char *path, const char *word)
{
    char buf[1024];
    if (read_head(path, buf, sizeof buf) < 0)
        return 0;
    for (char *save, *t = strtok_r(buf, " \n", &save); t; t = strtok_r(NULL, " \n", &save))
        if (strcmp(t, word) == 0)
            return 1;
    return 0;
}

/* The daemon's own cgroup path in the v1 hierarchy of CTL ("" for v2). */
static int own_cgroup(const char *ctl, char *out, size_t len)
{
    FILE *f = fopen("/proc/self/cgroup", "re");
    if (f == NULL)
        return -errno;
    char line[1024];
    int rc = -ENOENT;
    while (fgets(line, sizeof line, f) != NULL) {
        char *a = strchr(line, ':'), *b = a ? strchr(a + 1, ':') : NULL;
        if (b == NULL)
            continue;
        *a = *b = '\0';
        b[1 + strcspn(b + 1, "\n")] = '\0';
        int match = 0;
        if (ctl[0] == '\0') {
            match = a[1] == '\0';
        } else {
            for (char *save, *t = strtok_r(a + 1, ",", &save); t; t = strtok_r(NULL, ",", &save))
                if (strcmp(t, ctl) == 0)
                    match = 1;
        }
        if (match) {
            snprintf(out, len, "%s", strcmp(b + 1, "/") == 0 ? "" : b + 1);
            rc = 0;
            break;
        }
    }
    fclose(f);
    return rc;
}

static hier *hier_get(const char *base, int v2)
{
    for (int i = 0; i < G.nh; i++)
        if (strcmp(G.h[i].base, base) == 0)
            return &G.h[i];
    if (G.nh == MAX_H)
        return NULL;
    hier *h = &G.h[G.nh++];
    memset(h, 0, sizeof *h);
    snprintf(h->base, sizeof h->base, "%s", base);
    h->v2 = v2;
    return h;
}

#define BASE_PREFIX "actorfs-vm-"

/* A process's start time in clock ticks since boot (field 22 of its
 * stat), 0 when there is no such process. */
static unsigned long long start_time(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    if (read_head(path, buf, sizeof buf) < 0)
        return 0;
    /* The command name may hold spaces and parentheses: skip past its
     * last ')' to field 3. */
    char *p = strrchr(buf, ')');
    unsigned long long t = 0;
    if (p != NULL && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u "
                                   "%*d %*d %*d %*d %*d %*d %llu", &t) != 1)
        t = 0;
    return t;
}

/* Our directory under the daemon's cgroup in a hierarchy mounted at MNT. */
static int make_base(const char *mnt, const char *own, char *base, size_t len)
{
    pid_t me = getpid();
    int n = snprintf(base, len, "%s%s/" BASE_PREFIX "%d-%llu", mnt, own, (int)me,
                     start_time(me));
    if (n < 0 || (size_t)n >= len)
        return -ENAMETOOLONG;
    if (mkdir(base, 0755) < 0 && errno != EEXIST)
        return -errno;
    return 0;
}

static void detect_v2(const char *mnt)
{
    char own[512], base[1024], path[1100];
    if (own_cgroup("", own, sizeof own) < 0)
        return;
    if (make_base(mnt, own, base, sizeof base) < 0)
        return;
    hier *h = hier_get(base, 1);
    if (h == NULL)
        return;
    snprintf(path, sizeof path, "%s/cgroup.kill", base);
    h->kill = access(path, W_OK) == 0;
    for (int c = 0; c < C_N; c++) {
        char parent[1024], word[16];
        snprintf(parent, sizeof parent, "%s%s", mnt, own);
        snprintf(path, sizeof path, "%s/cgroup.controllers", parent);
        if (!file_has_word(path, cname[c]))
            continue;
        snprintf(word, sizeof word, "+%s", cname[c]);
        /* The daemon's own cgroup must delegate the controller to ours. */
        if (write_file(parent, "cgroup.subtree_control", word) < 0 ||
            write_file(base, "cgroup.subtree_control", word) < 0)
            continue;
        h->ctl[c] = 1;
    }
}

static void detect_v1(const char *mnt, const char *opts)
{
    for (int c = 0; c < C_N; c++) {
        int has = 0;
        char copy[512];
        snprintf(copy, sizeof copy, "%s", opts);
        for (char *save, *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save))
            if (strcmp(t, cname[c]) == 0)
                has = 1;
        if (!has)
            continue;
        int done = 0;
        for (int i = 0; i < G.nh; i++)
            done |= G.h[i].ctl[c];
        if (done)
            continue;
        char own[512], base[1024];
        if (own_cgroup(cname[c], own, sizeof own) < 0 ||
            make_base(mnt, own, base, sizeof base) < 0)
            continue;
        hier *h = hier_get(base, 0);
        if (h != NULL)
            h->ctl[c] = 1;
    }
}

static int rmdir_wait(const char *dir)
{
    /* A group empties a moment after its last process is reaped. */
    for (int i = 0; i < 200; i++) {
        if (rmdir(dir) == 0)
            return 0;
        if (errno != EBUSY)
            return -errno;
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    return -EBUSY;
}

/* Removes a group and the groups under it, ending what still runs there
 * (nothing of a sandbox may outlive its daemon; where cgroup.kill is
 * missing the v2 pass has killed them). */
static int remove_tree(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return -errno;
    int rc = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (e->d_type != DT_DIR || strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char sub[1200];
        if (snprintf(sub, sizeof sub, "%s/%s", dir, e->d_name) >= (int)sizeof sub)
            continue;
        int r = remove_tree(sub);
        rc = rc < 0 ? rc : r;
    }
    closedir(d);
    write_file(dir, "cgroup.kill", "1");
    int r = rmdir_wait(dir);
    return rc < 0 ? rc : r;
}

/* Whether NAME (a sibling of our base) belongs to a daemon that is not
 * running: its pid is gone, or now names a process started at another
 * time.  Names without a start time come from releases that had none. */
static int stale_base(const char *name)
{
    unsigned long long pid, t = 0;
    int n = sscanf(name + strlen(BASE_PREFIX), "%llu-%llu", &pid, &t);
    if (n < 1 || pid == 0 || pid > INT32_MAX)
        return 0;
    unsigned long long now = start_time((pid_t)pid);
    if (now == 0)
        return kill((pid_t)pid, 0) < 0 && errno == ESRCH;
    return n == 2 && now != t;
}

/* Removes what killed daemons left beside our base in each hierarchy. */
static void sweep(void)
{
    int removed = 0, failed = 0;
    for (int i = 0; i < G.nh; i++) {
        char parent[1024];
        snprintf(parent, sizeof parent, "%s", G.h[i].base);
        char *slash = strrchr(parent, '/');
        if (slash == NULL)
            continue;
        *slash = '\0';
        DIR *d = opendir(parent);
        if (d == NULL)
            continue;
        for (struct dirent *e; (e = readdir(d)) != NULL;) {
            if (e->d_type != DT_DIR || strncmp(e->d_name, BASE_PREFIX, strlen(BASE_PREFIX)) != 0 ||
                !stale_base(e->d_name))
                continue;
            char dir[1200];
            if (snprintf(dir, sizeof dir, "%s/%s", parent, e->d_name) >= (int)sizeof dir)
                continue;
            int rc = remove_tree(dir);
            if (rc == 0)
                removed++;
            else if (rc == -ENOENT) /* its daemon's own shutdown was first */
                continue;
            else if (failed++ == 0)
                eng_log("vm: cannot remove %s, left by a daemon no longer running: %s", dir,
                        strerror(-rc));
        }
        closedir(d);
    }
    if (removed > 0)
        eng_log("vm: removed %d cgroup directories left by daemons no longer running",
                removed);
    if (failed > 1)
        eng_log("vm: %d cgroup directories left by daemons no longer running could not "
                "be removed", failed);
}

void vm__cg_init(void)
{
    pthread_mutex_lock(&G.mu);
    if (G.inited) {
        pthread_mutex_unlock(&G.mu);
        return;
    }
    G.inited = 1;
    G.nh = 0;
    FILE *f = fopen("/proc/self/mountinfo", "re");
    char line[2048];
    char v1mnt[8][512], v1opt[8][512];
    int nv1 = 0;
    while (f != NULL && fgets(line, sizeof line, f) != NULL) {
        /* id parent dev root MOUNT opts [tags] - FSTYPE SOURCE SUPEROPTS */
        char *sep = strstr(line, " - ");
        char mnt[512], fstype[64], src[256], sopts[512];
        if (sep == NULL || sscanf(line, "%*s %*s %*s %*s %511s", mnt) != 1 ||
            sscanf(sep + 3, "%63s %255s %511s", fstype, src, sopts) != 3)
            continue;
        if (strcmp(fstype, "cgroup2") == 0)
            detect_v2(mnt);
        else if (strcmp(fstype, "cgroup") == 0 && nv1 < 8) {
            snprintf(v1mnt[nv1], sizeof v1mnt[nv1], "%s", mnt);
            snprintf(v1opt[nv1], sizeof v1opt[nv1], "%s", sopts);
            nv1++;
        }
    }
    if (f != NULL)
        fclose(f);
    for (int i = 0; i < nv1; i++)
        detect_v1(v1mnt[i], v1opt[i]);
    char *s = G.summary;
    size_t left = sizeof G.summary;
    int any = 0;
    for (int c = 0; c < C_N; c++) {
        const char *how = "none";
        for (int i = 0; i < G.nh; i++)
            if (G.h[i].ctl[c])
                how = G.h[i].v2 ? "v2" : "v1";
        int n = snprintf(s, left, "%s%s=%s", c ? " " : "", cname[c], how);
        s += n, left -= (size_t)n;
        any |= strcmp(how, "none") != 0;
    }
    int kill = 0;
    for (int i = 0; i < G.nh; i++)
        kill |= G.h[i].kill;
    snprintf(s, left, " kill=%s", kill ? "cgroup.kill" : "signal");
    sweep();
    pthread_mutex_unlock(&G.mu);
    if (!any)
        eng_log("vm: WARNING: no writable cgroup controller (v2 or v1): "
                "sandboxes run without memory, pids and cpu limits");
    eng_log("vm: cgroups: %s", G.summary);
}

void vm__cg_shutdown(void)
{
    pthread_mutex_lock(&G.mu);
    /* Whatever escaped its own kill is in our subtree: end it too. */
    for (int i = 0; i < G.nh; i++)
        if (G.h[i].kill)
            write_file(G.h[i].base, "cgroup.kill", "1");
    for (int i = 0; i < G.nh; i++)
        rmdir_wait(G.h[i].base);
    G.nh = 0;
    G.inited = 0;
    pthread_mutex_unlock(&G.mu);
}

static void set_limits(const hier *h, const char *dir)
{
    const vm__limits *l = vm__conf_limits();
    char v[64];
    if (h->ctl[C_MEMORY] && l->memory_bytes > 0) {
        snprintf(v, sizeof v, "%llu", (unsigned long long)l->memory_bytes);
        if (h->v2) {
            write_file(dir, "memory.max", v);
            write_file(dir, "memory.swap.max", "0");
        } else {
            write_file(dir, "memory.limit_in_bytes", v);
            write_file(dir, "memory.memsw.limit_in_bytes", v);
        }
    }
    if (h->ctl[C_PIDS] && l->pids > 0) {
        snprintf(v, sizeof v, "%llu", (unsigned long long)l->pids);
        write_file(dir, "pids.max", v);
    }
    if (h->ctl[C_CPU] && l->cpu_quota_us > 0) {
        if (h->v2) {
            snprintf(v, sizeof v, "%llu 100000", (unsigned long long)l->cpu_quota_us);
            write_file(dir, "cpu.max", v);
        } else {
            write_file(dir, "cpu.cfs_period_us", "100000");
            snprintf(v, sizeof v, "%llu", (unsigned long long)l->cpu_quota_us);
            write_file(dir, "cpu.cfs_quota_us", v);
        }
    }
}

int vm__cg_create(vm__cg **out)
{
    *out = NULL;
    if (G.nh == 0)
        return 0;
    int rc = eng_fault("cgroup-create");
    if (rc < 0) {
        eng_log("vm: a command's cgroups: %s (fault injected)", strerror(-rc));
        return rc;
    }
    vm__cg *g = calloc(1, sizeof *g);
    if (g == NULL) {
        eng_log("vm: a command's cgroups: out of memory");
        return -ENOMEM;
    }
    pthread_mutex_lock(&G.mu);
    unsigned long id = ++G.seq;
    pthread_mutex_unlock(&G.mu);
    for (int i = 0; i < G.nh; i++) {
        snprintf(g->dir[i], sizeof g->dir[i], "%s/%lu", G.h[i].base, id);
        if (mkdir(g->dir[i], 0755) < 0) {
            rc = -errno;
            eng_log("vm: mkdir %s: %s", g->dir[i], strerror(errno));
            vm__cg_destroy(g);
            return rc;
        }
        g->used[i] = 1;
        set_limits(&G.h[i], g->dir[i]);
    }
    *out = g;
    return 0;
}

int vm__cg_attach(vm__cg *g, pid_t pid)
{
    char v[32];
    int rc = eng_fault("cgroup-attach");
    if (rc < 0) {
        eng_log("vm: attach %d: %s (fault injected)", (int)pid, strerror(-rc));
        return rc;
    }
    snprintf(v, sizeof v, "%d", (int)pid);
    for (int i = 0; g != NULL && i < MAX_H; i++) {
        if (!g->used[i])
            continue;
        int r = write_file(g->dir[i], "cgroup.procs", v);
        if (r < 0 && r != -ESRCH) {
            eng_log("vm: attach %d to %s: %s", (int)pid, g->dir[i], strerror(-r));
            rc = r;
        }
    }
    return rc;
}

int vm__cg_kill(vm__cg *g)
{
    int done = 0;
    for (int i = 0; g != NULL && i < MAX_H; i++)
        if (g->used[i] && G.h[i].kill && write_file(g->dir[i], "cgroup.kill", "1") == 0)
            done = 1;
    return done;
}

static long long read_key(const char *dir, const char *file, const char *key)
{
    char path[1200], line[256];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    FILE *f = fopen(path, "re");
    long long v = -1;
    size_t kl = strlen(key);
    while (f != NULL && fgets(line, sizeof line, f) != NULL)
        if (strncmp(line, key, kl) == 0 && line[kl] == ' ')
            v = atoll(line + kl + 1);
    if (f != NULL)
        fclose(f);
    return v;
}

int vm__cg_oom(vm__cg *g)
{
    for (int i = 0; g != NULL && i < MAX_H; i++) {
        if (!g->used[i] || !G.h[i].ctl[C_MEMORY])
            continue;
        long long n = G.h[i].v2 ? read_key(g->dir[i], "memory.events", "oom_kill")
                                : read_key(g->dir[i], "memory.oom_control", "oom_kill");
        if (n > 0)
            return 1;
    }
    return 0;
}

void vm__cg_destroy(vm__cg *g)
{
    if (g == NULL)
        return;
    for (int i = 0; i < MAX_H; i++)
        if (g->used[i])
            rmdir_wait(g->dir[i]);
    free(g);
}
