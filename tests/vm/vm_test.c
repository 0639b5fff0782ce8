/*
 * vm_test.c - the VM backend through a real engine: each test opens an
 * engine on a fresh data dir, registers the vm type (and a small workflow
 * that calls it from a step), and drives the actions as steps and the
 * filesystem do.  Each test is its own Check case, run in its own process
 * (ctest runs one case per test, see CMakeLists.txt).
 *
 * The sandbox runs with small limits here (64 pids, 128 MiB) so that the
 * fork bomb and the memory hog meet them quickly.
 */
#include "vm.h"

#include <arpa/inet.h>
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static eng *E;
static char DIR_[256];  /* the test's temporary directory */
static char DATA[300];  /* the engine's data dir */
static char HOST[300];  /* a host directory outside every VM */
static char LOGF[300];  /* the daemon's log (stderr) */
static int saved_stderr = -1;

/* ---- helpers ----------------------------------------------------------- */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void write_host(const char *path, const char *text, mode_t mode)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
    chmod(path, mode);
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    size_t r;
    while ((r = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += r;
        if (cap - n < 2)
            buf = realloc(buf, cap *= 2);
    }
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* Runs ACTION on vm@VM with JSON args; err gets the reason. */
static int act(const char *vm, const char *action, const char *args,
               cJSON **res, char *err, size_t errlen)
{
    cJSON *a = args ? cJSON_Parse(args) : NULL;
    if (args != NULL)
        ck_assert_msg(a != NULL, "bad test JSON: %s", args);
    *res = NULL;
    err[0] = '\0';
    int rc = eng_action(E, "vm", vm, action, a, res, err, errlen);
    cJSON_Delete(a);
    return rc;
}

/* exec CMD in vm@VM; must succeed as an action. */
static cJSON *run(const char *vm, const char *cmd, int timeout_ms)
{
    cJSON *a = cJSON_CreateObject(), *res = NULL;
    char err[1024];
    cJSON_AddStringToObject(a, "cmd", cmd);
    if (timeout_ms > 0)
        cJSON_AddNumberToObject(a, "timeoutMs", timeout_ms);
    int rc = eng_action(E, "vm", vm, "exec", a, &res, err, sizeof err);
    cJSON_Delete(a);
    ck_assert_msg(rc == 0, "exec %s: %d %s", cmd, rc, err);
    return res;
}

static int code_of(const cJSON *r)
{
    return cJSON_GetObjectItem(r, "exitCode")->valueint;
}

static const char *out_of(const cJSON *r)
{
    return cJSON_GetObjectItem(r, "stdout")->valuestring;
}

static const char *err_of(const cJSON *r)
{
    return cJSON_GetObjectItem(r, "stderr")->valuestring;
}

static char *create_session(const char *vm, const char *agent, const char *extra)
{
    char args[512], err[1024];
    cJSON *res;
    snprintf(args, sizeof args, "{\"agent\":\"%s\"%s%s}", agent, extra ? "," : "",
             extra ? extra : "");
    int rc = act(vm, "createSession", args, &res, err, sizeof err);
    ck_assert_msg(rc == 0, "createSession %s: %d %s", agent, rc, err);
    char *id = strdup(cJSON_GetObjectItem(res, "sessionId")->valuestring);
    cJSON_Delete(res);
    return id;
}

static cJSON *prompt(const char *vm, const char *id, const char *text)
{
    cJSON *a = cJSON_CreateObject(), *res = NULL;
    char err[1024];
    cJSON_AddStringToObject(a, "sessionId", id);
    cJSON_AddStringToObject(a, "text", text);
    int rc = eng_action(E, "vm", vm, "sendPrompt", a, &res, err, sizeof err);
    cJSON_Delete(a);
    ck_assert_msg(rc == 0, "sendPrompt: %d %s", rc, err);
    return res;
}

static void close_session(const char *vm, const char *id)
{
    char args[256], err[512];
    cJSON *res;
    snprintf(args, sizeof args, "{\"sessionId\":\"%s\"}", id);
    ck_assert_int_eq(act(vm, "closeSession", args, &res, err, sizeof err), 0);
    cJSON_Delete(res);
}

static char *session_file(const char *vm, const char *id, const char *file)
{
    char path[1024], dir[700];
    ck_assert_int_eq(vm_sessions_path(DATA, vm, dir, sizeof dir), 0);
    snprintf(path, sizeof path, "%s/%s/%s", dir, id, file);
    return slurp(path);
}

/* The pid of a process whose command line contains NEEDLE (or, with
 * at_start, begins with it: the command itself, not the bwrap that will
 * run it), 0 if there is none. */
static pid_t process_matching(const char *needle, int at_start)
{
    DIR *d = opendir("/proc");
    struct dirent *de;
    pid_t found = 0;
    while (d != NULL && (de = readdir(d)) != NULL && !found) {
        char path[300], buf[4096];
        if (de->d_name[0] < '0' || de->d_name[0] > '9')
            continue;
        snprintf(path, sizeof path, "/proc/%s/cmdline", de->d_name);
        int fd = open(path, O_RDONLY);
        if (fd < 0)
            continue;
        ssize_t n = read(fd, buf, sizeof buf - 1);
        close(fd);
        for (ssize_t i = 0; i < n; i++)
            if (buf[i] == '\0')
                buf[i] = ' ';
        buf[n > 0 ? n : 0] = '\0';
        char *at = strstr(buf, needle);
        if (at != NULL && (!at_start || at == buf))
            found = (pid_t)atoi(de->d_name);
    }
    if (d != NULL)
        closedir(d);
    return found;
}

static int process_with(const char *needle)
{
    return process_matching(needle, 0);
}

static pid_t command_running(const char *cmdline)
{
    return process_matching(cmdline, 1);
}

static int gone_within(const char *needle, int ms)
{
    int64_t end = now_ms() + ms;
    while (process_with(needle)) {
        if (now_ms() > end)
            return 0;
        struct timespec ts = {0, 20 * 1000000};
        nanosleep(&ts, NULL);
    }
    return 1;
}

/* The host pid of the VM init of this process's sandbox (the child of a
 * bubblewrap this process started), or 0. */
static pid_t vm_init_pid(void)
{
    DIR *d = opendir("/proc");
    struct dirent *de;
    pid_t found = 0;
    while (d != NULL && (de = readdir(d)) != NULL && found == 0) {
        char path[300], buf[4096];
        if (de->d_name[0] < '0' || de->d_name[0] > '9')
            continue;
        snprintf(path, sizeof path, "/proc/%s/cmdline", de->d_name);
        int fd = open(path, O_RDONLY);
        if (fd < 0)
            continue;
        ssize_t n = read(fd, buf, sizeof buf - 1);
        close(fd);
        buf[n > 0 ? n : 0] = '\0';
        if (strcmp(buf, "/opt/actorfs/init") != 0)
            continue;
        snprintf(path, sizeof path, "/proc/%s/stat", de->d_name);
        char *st = slurp(path);
        int ppid = 0, gppid = 0;
        char *close_paren = st ? strrchr(st, ')') : NULL;
        if (close_paren != NULL && sscanf(close_paren + 2, "%*c %d", &ppid) == 1) {
            free(st);
            snprintf(path, sizeof path, "/proc/%d/stat", ppid);
            st = slurp(path);
            close_paren = st ? strrchr(st, ')') : NULL;
            if (close_paren != NULL && sscanf(close_paren + 2, "%*c %d", &gppid) == 1 &&
                gppid == (int)getpid())
                found = (pid_t)atoi(de->d_name);
        }
        free(st);
    }
    if (d != NULL)
        closedir(d);
    return found;
}

static int no_vm_init_within(int ms)
{
    int64_t end = now_ms() + ms;
    while (vm_init_pid() != 0) {
        if (now_ms() > end)
            return 0;
        struct timespec ts = {0, 20 * 1000000};
        nanosleep(&ts, NULL);
    }
    return 1;
}

/* A TCP listener on 127.0.0.1 of the host; returns its fd, *port. */
static int listener(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    ck_assert_int_eq(listen(fd, 8), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

/* ---- a workflow that reaches the VM from a step, for cancellation ---- */

static int call_step(eng_sctx *s, const cJSON *in, cJSON **out)
{
    const char *kind = cJSON_GetObjectItem(in, "kind")->valuestring;
    cJSON *res = NULL, *a = cJSON_CreateObject();
    int rc;
    if (strcmp(kind, "exec") == 0) {
        cJSON_AddStringToObject(a, "cmd", cJSON_GetObjectItem(in, "cmd")->valuestring);
        rc = eng_call(s, "vm", "t", "exec", a, &res);
    } else {
        cJSON_AddStringToObject(a, "agent", "test");
        rc = eng_call(s, "vm", "t", "createSession", a, &res);
        if (rc == 0) {
            cJSON *p = cJSON_CreateObject();
            cJSON_AddStringToObject(p, "sessionId",
                                    cJSON_GetObjectItem(res, "sessionId")->valuestring);
            cJSON_AddStringToObject(p, "text", "sleep 20000");
            cJSON_Delete(res);
            res = NULL;
            rc = eng_call(s, "vm", "t", "sendPrompt", p, &res);
            cJSON_Delete(p);
        }
    }
    cJSON_Delete(a);
    cJSON_Delete(res);
    *out = NULL;
    return rc;
}

static int caller_run(eng_ctx *c)
{
    const cJSON *msg;
    ENG_TRY(eng_queue_next(c, "wait-go", "go", -1, &msg));
    eng_step_opts o = {.max_attempts = 1, .timeout_ms = 60000};
    return eng_step(c, "call", call_step, msg, &o, NULL);
}

static const eng_queue_def caller_queues[] = {{"go", NULL, 0}};
static const eng_type caller_type = {
    .name = "vmcaller",
    .initial_state = "{}",
    .queues = caller_queues,
    .nqueues = 1,
    .run = caller_run,
};

/* ---- fixture ------------------------------------------------------------ */

static int fault_hook(const char *site, void *ud)
{
    (void)ud;
    return strcmp(site, "spawn") == 0 ? -EAGAIN : 0;
}

/* Fails the cgroup step named by UD. */
static int cgroup_fault(const char *site, void *ud)
{
    return strcmp(site, ud) == 0 ? -EACCES : 0;
}

static void setup(void)
{
    char err[512];
    snprintf(DIR_, sizeof DIR_, "/tmp/actorfs-vmtest.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(DIR_));
    snprintf(DATA, sizeof DATA, "%s/data", DIR_);
    snprintf(HOST, sizeof HOST, "%s/host", DIR_);
    snprintf(LOGF, sizeof LOGF, "%s/log", DIR_);
    ck_assert_int_eq(mkdir(HOST, 0755), 0);
    chmod(DIR_, 0755);
    char secret[400];
    snprintf(secret, sizeof secret, "%s/secret.txt", HOST);
    write_host(secret, "host-secret\n", 0644);
    /* The daemon's log is its stderr: keep it to search it. */
    fflush(stderr);
    saved_stderr = dup(2);
    int lf = open(LOGF, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(lf, 2);
    close(lf);
    setenv("ACTORFS_VM_PIDS", "64", 1);
    setenv("ACTORFS_VM_MEMORY_MB", "128", 1);
    static const char *agents[] = {"claude=test", "missing=no-such-agent-command",
                                   "realclaude=claude-agent-acp", "fake=sh /tmp/fake.sh",
                                   "splitter=sh /tmp/split.sh"};
    static const char *net[] = {"netvm"};
    static char ro_host[300];
    snprintf(ro_host, sizeof ro_host, "%s", HOST);
    static vm_mount mounts[1];
    mounts[0] = (vm_mount){"*", ro_host, "/srv/ro"};
    vm_config vc = {.data_dir = DATA, .agents = agents, .nagents = 5,
                    .net_vms = net, .nnet_vms = 1, .mounts = mounts, .nmounts = 1};
    eng_config ec = {.data_dir = DATA, .durability = ENG_DURABILITY_NORMAL};
    ck_assert_int_eq(eng_open(&ec, &E, err, sizeof err), 0);
    ck_assert_msg(vm_register(E, &vc, err, sizeof err) == 0, "vm_register: %s", err);
    ck_assert_int_eq(eng_register(E, &caller_type), 0);
    ck_assert_msg(eng_start(E, err, sizeof err) == 0, "eng_start: %s", err);
    ck_assert_msg(eng_actor_create(E, "vm", "t", err, sizeof err) == 0, "%s", err);
}

static int rm_cb(const char *p, const struct stat *st, int f, struct FTW *w)
{
    (void)st;
    (void)w;
    return f == FTW_DP ? rmdir(p) : unlink(p);
}

static void teardown(void)
{
    eng_fault_set(NULL, NULL);
    eng_close(E);
    vm_shutdown();
    E = NULL;
    fflush(stderr);
    if (saved_stderr >= 0) {
        dup2(saved_stderr, 2);
        close(saved_stderr);
        saved_stderr = -1;
    }
    nftw(DIR_, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- exec results ------------------------------------------------------- */

START_TEST(exec_exit_code_and_output)
{
    cJSON *r = run("t", "echo out; echo err >&2; exit 7", 0);
    ck_assert_int_eq(code_of(r), 7);
    ck_assert_str_eq(out_of(r), "out\n");
    ck_assert_str_eq(err_of(r), "err\n");
    ck_assert(cJSON_IsFalse(cJSON_GetObjectItem(r, "timedOut")));
    cJSON_Delete(r);
    r = run("t", "pwd; echo $HOME; id -un", 0);
    ck_assert_int_eq(code_of(r), 0);
    ck_assert_str_eq(out_of(r), "/home/user\n/home/user\nuser\n");
    cJSON_Delete(r);
}
END_TEST

START_TEST(exec_output_cap_marks_truncation)
{
    cJSON *r = run("t", "head -c 3000000 /dev/zero | tr '\\0' a; echo done >&2", 0);
    const char *out = out_of(r);
    ck_assert_int_eq(code_of(r), 0);
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(r, "truncated")));
    ck_assert_int_gt(strlen(out), 1024 * 1024);
    ck_assert_int_lt(strlen(out), 1024 * 1024 + 200);
    ck_assert_ptr_nonnull(strstr(out, "[actorfs: output truncated at 1048576 bytes]\n"));
    ck_assert_str_eq(err_of(r), "done\n");
    cJSON_Delete(r);
    r = run("t", "echo small", 0);
    ck_assert_ptr_null(cJSON_GetObjectItem(r, "truncated"));
    cJSON_Delete(r);
}
END_TEST

START_TEST(exec_timeout_kills_the_tree)
{
    int64_t t0 = now_ms();
    cJSON *r = run("t", "sleep 1234.5 & sleep 1234.6; echo never", 300);
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(r, "timedOut")));
    ck_assert_int_eq(code_of(r), 137);
    ck_assert_str_eq(out_of(r), "");
    ck_assert_int_lt(now_ms() - t0, 5000);
    ck_assert(gone_within("1234.5", 2000));
    ck_assert(gone_within("1234.6", 2000));
    cJSON_Delete(r);
}
END_TEST

START_TEST(exec_leftovers_end_with_the_command)
{
    int64_t t0 = now_ms();
    cJSON *r = run("t", "sleep 1234.1 & setsid sleep 1234.2 & echo started", 0);
    ck_assert_int_eq(code_of(r), 0);
    ck_assert_str_eq(out_of(r), "started\n");
    /* Not the 2 s the daemon waits for output after an exit. */
    ck_assert_int_lt(now_ms() - t0, 1500);
    ck_assert(gone_within("sleep 1234.1", 2000));
    ck_assert(gone_within("sleep 1234.2", 2000));
    cJSON_Delete(r);
}
END_TEST

typedef struct {
    const char *cmd;
    cJSON *res;
    int rc;
} bg_exec;

static void *bg_exec_main(void *arg)
{
    bg_exec *b = arg;
    char err[512];
    cJSON *a = cJSON_CreateObject();
    cJSON_AddStringToObject(a, "cmd", b->cmd);
    b->rc = eng_action(E, "vm", "t", "exec", a, &b->res, err, sizeof err);
    cJSON_Delete(a);
    return NULL;
}

START_TEST(vm_sandbox_restarts_after_its_init_dies)
{
    /* Commands of a VM share its sandbox, whose pid 1 is the VM init. */
    cJSON *r = run("t", "cat /proc/1/comm", 0);
    ck_assert_str_eq(out_of(r), "init\n");
    cJSON_Delete(r);
    pid_t init = vm_init_pid();
    ck_assert_int_gt(init, 0);
    bg_exec b = {.cmd = "sleep 1234.4"};
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, bg_exec_main, &b), 0);
    int64_t end = now_ms() + 30000;
    while (!command_running("sleep 1234.4")) {
        ck_assert_msg(now_ms() < end, "the command never started");
        struct timespec ts = {0, 10 * 1000000};
        nanosleep(&ts, NULL);
    }
    ck_assert_int_eq(kill(init, SIGKILL), 0);
    pthread_join(th, NULL);
    ck_assert_int_eq(b.rc, 0);
    ck_assert_int_eq(code_of(b.res), 137);
    cJSON_Delete(b.res);
    ck_assert(gone_within("sleep 1234.4", 2000));
    r = run("t", "echo again", 0);
    ck_assert_str_eq(out_of(r), "again\n");
    cJSON_Delete(r);
    pid_t again = vm_init_pid();
    ck_assert_int_gt(again, 0);
    ck_assert_int_ne(again, init);
}
END_TEST

START_TEST(exec_many_at_once_in_one_vm)
{
    enum { N = 16 };
    bg_exec b[N];
    char cmds[N][64];
    pthread_t th[N];
    for (int i = 0; i < N; i++) {
        snprintf(cmds[i], sizeof cmds[i], "sleep 0.%d; echo %d; exit %d", i % 3, i, i);
        b[i] = (bg_exec){.cmd = cmds[i]};
        ck_assert_int_eq(pthread_create(&th[i], NULL, bg_exec_main, &b[i]), 0);
    }
    for (int i = 0; i < N; i++) {
        char want[16];
        pthread_join(th[i], NULL);
        ck_assert_int_eq(b[i].rc, 0);
        snprintf(want, sizeof want, "%d\n", i);
        ck_assert_str_eq(out_of(b[i].res), want);
        ck_assert_int_eq(code_of(b[i].res), i);
        cJSON_Delete(b[i].res);
    }
}
END_TEST

START_TEST(vm_sandbox_stops_when_idle)
{
    char err[512];
    eng_close(E);
    vm_shutdown();
    setenv("ACTORFS_VM_IDLE_S", "1", 1);
    eng_config ec = {.data_dir = DATA, .durability = ENG_DURABILITY_NORMAL};
    vm_config vc = {.data_dir = DATA};
    ck_assert_int_eq(eng_open(&ec, &E, err, sizeof err), 0);
    ck_assert_msg(vm_register(E, &vc, err, sizeof err) == 0, "vm_register: %s", err);
    ck_assert_msg(eng_start(E, err, sizeof err) == 0, "eng_start: %s", err);
    /* A command longer than the idle time keeps the sandbox. */
    cJSON *r = run("t", "sleep 1.5; echo held", 0);
    ck_assert_str_eq(out_of(r), "held\n");
    cJSON_Delete(r);
    ck_assert_int_gt(vm_init_pid(), 0);
    ck_assert_msg(no_vm_init_within(5000), "an idle VM kept its sandbox");
    r = run("t", "echo back", 0);
    ck_assert_str_eq(out_of(r), "back\n");
    cJSON_Delete(r);
}
END_TEST

START_TEST(exec_too_long_is_refused_and_the_vm_goes_on)
{
    size_t n = 300 * 1024;
    char *cmd = malloc(n + 1);
    memset(cmd, ':', n);
    cmd[n] = '\0';
    cJSON *a = cJSON_CreateObject(), *res = NULL;
    char err[512];
    cJSON_AddStringToObject(a, "cmd", cmd);
    free(cmd);
    int rc = eng_action(E, "vm", "t", "exec", a, &res, err, sizeof err);
    cJSON_Delete(a);
    ck_assert_int_lt(rc, 0);
    ck_assert_msg(strstr(err, "too long") != NULL, "%s", err);
    cJSON *r = run("t", "echo fine", 0);
    ck_assert_str_eq(out_of(r), "fine\n");
    cJSON_Delete(r);
}
END_TEST

START_TEST(exec_bad_args_are_refused)
{
    cJSON *res;
    char err[512];
    ck_assert_int_eq(act("t", "exec", "{}", &res, err, sizeof err), -EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "cmd"));
    ck_assert_int_eq(act("t", "exec", "{\"cmd\":\"true\",\"timeoutMs\":-1}", &res, err,
                         sizeof err),
                     -EINVAL);
}
END_TEST

START_TEST(exec_spawn_fault_fails_with_its_errno)
{
    cJSON *res;
    char err[512];
    eng_fault_set(fault_hook, NULL);
    ck_assert_int_eq(act("t", "exec", "{\"cmd\":\"true\"}", &res, err, sizeof err), -EAGAIN);
    ck_assert_ptr_nonnull(strstr(err, "spawn"));
    eng_fault_set(NULL, NULL);
    cJSON *r = run("t", "true", 0);
    ck_assert_int_eq(code_of(r), 0);
    cJSON_Delete(r);
}
END_TEST

/* Where a sandbox's cgroups cannot be made or joined it must not run at
 * all: neither a command nor an agent, and the user is told why. */
START_TEST(nothing_runs_outside_its_cgroups)
{
    static const char *sites[] = {"cgroup-create", "cgroup-attach"};
    cJSON *res;
    char err[1024];
    fflush(stderr);
    char *log = slurp(LOGF);
    int limited = strstr(log, "WARNING: no writable cgroup controller") == NULL;
    free(log);
    ck_assert_msg(limited, "this host has no cgroups to attach to");
    for (size_t i = 0; i < sizeof sites / sizeof sites[0]; i++) {
        eng_fault_set(cgroup_fault, (void *)sites[i]);
        cJSON *r = run("t", "touch /home/user/ran", 0);
        ck_assert_int_ne(code_of(r), 0);
        ck_assert_msg(strstr(err_of(r), "cgroups") && strstr(err_of(r), "did not run"), "%s: %s",
                      sites[i], err_of(r));
        cJSON_Delete(r);
        ck_assert_int_lt(act("t", "createSession", "{\"agent\":\"test\"}", &res, err,
                             sizeof err),
                         0);
        ck_assert_msg(strstr(err, "cgroups") && strstr(err, "did not run"), "%s: %s", sites[i],
                      err);
        eng_fault_set(NULL, NULL);
        r = run("t", "test -e /home/user/ran || echo never ran", 0);
        ck_assert_str_eq(out_of(r), "never ran\n");
        cJSON_Delete(r);
        free(create_session("t", "test", NULL));
    }
}
END_TEST

static void *exec_thread(void *arg)
{
    cJSON **res = arg;
    char err[512];
    cJSON *a = cJSON_CreateObject();
    cJSON_AddStringToObject(a, "cmd", "sleep 1234.3");
    int rc = eng_action(E, "vm", "t", "exec", a, res, err, sizeof err);
    cJSON_Delete(a);
    return (void *)(intptr_t)rc;
}

START_TEST(shutdown_ends_running_commands)
{
    pthread_t th;
    cJSON *res = NULL;
    ck_assert_int_eq(pthread_create(&th, NULL, exec_thread, &res), 0);
    int64_t end = now_ms() + 30000;
    while (!command_running("sleep 1234.3")) {
        ck_assert_msg(now_ms() < end, "the command never started");
        struct timespec ts = {0, 10 * 1000000};
        nanosleep(&ts, NULL);
    }
    int64_t t0 = now_ms();
    vm_shutdown();
    void *rc;
    pthread_join(th, &rc);
    ck_assert_int_lt(now_ms() - t0, 10000);
    ck_assert_int_eq((int)(intptr_t)rc, 0);
    ck_assert_int_eq(code_of(res), 137);
    cJSON_Delete(res);
    ck_assert(gone_within("sleep 1234.3", 5000));
}
END_TEST

/* A daemon in a process of its own (this binary again, VMTEST_DAEMON set
 * to its directory): it runs VMTEST_SLEEP (`sleep 1234.9` unless set)
 * through exec and an agent session whose environment holds the
 * directory's name, says "ready" on stdout once both run, and waits to be
 * killed. */
static const char *daemon_cmd(void)
{
    const char *cmd = getenv("VMTEST_SLEEP");
    return cmd != NULL ? cmd : "sleep 1234.9";
}

static void *daemon_exec(void *arg)
{
    (void)arg;
    cJSON *a = cJSON_CreateObject(), *res = NULL;
    char err[512];
    cJSON_AddStringToObject(a, "cmd", daemon_cmd());
    eng_action(E, "vm", "k", "exec", a, &res, err, sizeof err);
    return NULL;
}

static int daemon_main(const char *dir)
{
    char err[512], args[512];
    static const char *agents[] = {"claude=test"};
    snprintf(DATA, sizeof DATA, "%s/data", dir);
    eng_config ec = {.data_dir = DATA, .durability = ENG_DURABILITY_NORMAL};
    vm_config vc = {.data_dir = DATA, .agents = agents, .nagents = 1};
    cJSON *res = NULL;
    pthread_t th;
    if (mkdir(DATA, 0755) < 0 || eng_open(&ec, &E, err, sizeof err) < 0 ||
        vm_register(E, &vc, err, sizeof err) < 0 || eng_start(E, err, sizeof err) < 0 ||
        eng_actor_create(E, "vm", "k", err, sizeof err) < 0) {
        fprintf(stderr, "daemon: %s\n", err);
        return 1;
    }
    snprintf(args, sizeof args, "{\"agent\":\"claude\",\"env\":{\"MARK\":\"%s\"}}", dir);
    cJSON *a = cJSON_Parse(args);
    if (eng_action(E, "vm", "k", "createSession", a, &res, err, sizeof err) < 0) {
        fprintf(stderr, "daemon: createSession: %s\n", err);
        return 1;
    }
    if (pthread_create(&th, NULL, daemon_exec, NULL) != 0)
        return 1;
    while (!command_running(daemon_cmd())) {
        struct timespec ts = {0, 10 * 1000000};
        nanosleep(&ts, NULL);
    }
    if (write(1, "ready\n", 6) != 6)
        return 1;
    for (;;)
        pause();
}

/* 1 if a process has MARK in its environment. */
static int process_with_env(const char *mark)
{
    DIR *d = opendir("/proc");
    struct dirent *de;
    int found = 0;
    size_t ml = strlen(mark);
    while (d != NULL && (de = readdir(d)) != NULL && !found) {
        char path[300];
        static char buf[65536];
        if (de->d_name[0] < '0' || de->d_name[0] > '9')
            continue;
        snprintf(path, sizeof path, "/proc/%s/environ", de->d_name);
        int fd = open(path, O_RDONLY);
        if (fd < 0)
            continue;
        ssize_t n = read(fd, buf, sizeof buf);
        close(fd);
        for (ssize_t i = 0; i + (ssize_t)ml <= n && !found; i++)
            found = memcmp(buf + i, mark, ml) == 0;
    }
    if (d != NULL)
        closedir(d);
    return found;
}

/* Starts daemon_main in a process of its own, in DIR_/NAME, running CMD,
 * and returns its pid once it says it is ready. */
static pid_t spawn_daemon(const char *name, const char *cmd)
{
    char dir[400], line[16] = "";
    int out[2];
    snprintf(dir, sizeof dir, "%s/%s", DIR_, name);
    ck_assert_int_eq(mkdir(dir, 0755), 0);
    ck_assert_int_eq(pipe(out), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        dup2(out[1], 1);
        close(out[0]);
        close(out[1]);
        setenv("VMTEST_DAEMON", dir, 1);
        setenv("VMTEST_SLEEP", cmd, 1);
        execl("/proc/self/exe", "vm_test", (char *)NULL);
        _exit(127);
    }
    close(out[1]);
    struct pollfd pf = {.fd = out[0], .events = POLLIN};
    ck_assert_msg(poll(&pf, 1, 60000) == 1 && read(out[0], line, sizeof line - 1) > 0,
                  "the daemon never got its command and session running");
    close(out[0]);
    ck_assert_str_eq(line, "ready\n");
    return pid;
}

static void kill_daemon(pid_t pid, const char *cmd)
{
    ck_assert_int_eq(kill(pid, SIGKILL), 0);
    ck_assert_int_eq(waitpid(pid, NULL, 0), pid);
    ck_assert_msg(gone_within(cmd, 5000), "the command outlived the daemon");
}

START_TEST(sandboxes_die_with_a_killed_daemon)
{
    char mark[420];
    snprintf(mark, sizeof mark, "MARK=%s/killed", DIR_);
    pid_t pid = spawn_daemon("killed", "sleep 1234.9");
    ck_assert(process_with_env(mark));
    kill_daemon(pid, "sleep 1234.9");
    int64_t end = now_ms() + 5000;
    while (process_with_env(mark) && now_ms() < end) {
        struct timespec ts = {0, 20 * 1000000};
        nanosleep(&ts, NULL);
    }
    ck_assert_msg(!process_with_env(mark), "the agent outlived the daemon");
}
END_TEST

/* The directory of PID's cgroup in the cgroup2 hierarchy, "" if it has
 * none there. */
static void cgroup2_dir(pid_t pid, char *out, size_t len)
{
    char path[64], line[2048], mnt[512] = "", rel[1024] = "";
    out[0] = '\0';
    FILE *f = fopen("/proc/self/mountinfo", "r");
    while (f != NULL && mnt[0] == '\0' && fgets(line, sizeof line, f) != NULL)
        if (strstr(line, " - cgroup2 ") == NULL || sscanf(line, "%*s %*s %*s %*s %511s", mnt) != 1)
            mnt[0] = '\0';
    if (f != NULL)
        fclose(f);
    snprintf(path, sizeof path, "/proc/%d/cgroup", (int)pid);
    f = fopen(path, "r");
    while (f != NULL && fgets(line, sizeof line, f) != NULL)
        if (strncmp(line, "0::", 3) == 0 && sscanf(line + 3, "%1023s", rel) == 1)
            break;
    if (f != NULL)
        fclose(f);
    if (mnt[0] != '\0' && rel[0] != '\0')
        snprintf(out, len, "%s%s", mnt, rel);
}

/* A daemon killed with -9 leaves its cgroup directory; the next daemon
 * removes it (a later daemon with the same pid could not make its own
 * groups, and its commands ran without the kill that ends what they
 * leave behind). */
START_TEST(cgroups_of_a_killed_daemon_are_removed_by_the_next)
{
    const char *cmd = "sleep 4321.1";
    pid_t pid = spawn_daemon("first", cmd);
    char group[1200], base[1200];
    cgroup2_dir(command_running(cmd), group, sizeof group);
    ck_assert_msg(group[0] != '\0', "the command is in no cgroup2 group");
    /* The command's group is GROUP; the daemon's directory holds it. */
    snprintf(base, sizeof base, "%s", group);
    *strrchr(base, '/') = '\0';
    ck_assert_msg(strstr(base, "/actorfs-vm-") != NULL, "the command runs in %s", group);
    kill_daemon(pid, cmd);
    struct stat st;
    ck_assert_msg(stat(base, &st) == 0, "%s went with the daemon: nothing to remove", base);
    pid = spawn_daemon("second", cmd);
    ck_assert_msg(stat(base, &st) < 0 && errno == ENOENT, "%s is still there", base);
    kill_daemon(pid, cmd);
}
END_TEST

/* ---- escape attempts ---------------------------------------------------- */

START_TEST(escape_read_host_file)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "cat %s/secret.txt", HOST);
    cJSON *r = run("t", cmd, 0);
    ck_assert_int_ne(code_of(r), 0);
    ck_assert_ptr_null(strstr(out_of(r), "host-secret"));
    cJSON_Delete(r);
    r = run("t", "cat /proc/1/root/etc/hostname /proc/1/environ 2>/dev/null; ls / ", 0);
    ck_assert_ptr_null(strstr(out_of(r), "actorfs-vmtest"));
    ck_assert_ptr_null(strstr(out_of(r), "root\n"));
    cJSON_Delete(r);
}
END_TEST

START_TEST(escape_read_etc_shadow)
{
    cJSON *r = run("t", "cat /etc/shadow", 0);
    ck_assert_int_ne(code_of(r), 0);
    ck_assert_ptr_null(strstr(out_of(r), "root:"));
    cJSON_Delete(r);
    r = run("t", "ls /etc", 0);
    ck_assert_ptr_null(strstr(out_of(r), "shadow"));
    cJSON_Delete(r);
}
END_TEST

START_TEST(escape_write_usr)
{
    cJSON *r = run("t", "echo x > /usr/actorfs-pwned; touch /usr/bin/actorfs-pwned", 0);
    ck_assert_int_ne(code_of(r), 0);
    ck_assert_ptr_nonnull(strstr(err_of(r), "Read-only file system"));
    ck_assert_int_ne(access("/usr/actorfs-pwned", F_OK), 0);
    ck_assert_int_ne(access("/usr/bin/actorfs-pwned", F_OK), 0);
    cJSON_Delete(r);
}
END_TEST

static const char *connect_js =
    "node -e \"require('net').connect(%d,'127.0.0.1')"
    ".on('connect',()=>{console.log('CONNECTED');process.exit(0)})"
    ".on('error',e=>{console.log('ERR',e.code);process.exit(1)})\"";

START_TEST(sandbox_root_is_read_only)
{
    /* A VM's sandbox outlives its commands: only its home, /tmp (both on
     * disk) and a bounded /dev/shm take writes. */
    cJSON *r = run("t", "touch /x 2>/dev/null; echo $?; touch /var/x 2>/dev/null; echo $?; "
                        "touch /home/user/y /tmp/y /dev/shm/y && echo ok; "
                        "df -k /dev/shm | awk 'NR == 2 { print $2 }'", 0);
    ck_assert_str_eq(out_of(r), "1\n1\nok\n65536\n");
    cJSON_Delete(r);
}
END_TEST

START_TEST(escape_reach_host_localhost)
{
    int port, fd = listener(&port);
    char cmd[600];
    snprintf(cmd, sizeof cmd, connect_js, port);
    cJSON *r = run("t", cmd, 20000);
    ck_assert_msg(code_of(r) != 0, "stdout: %s", out_of(r));
    ck_assert_ptr_null(strstr(out_of(r), "CONNECTED"));
    ck_assert_int_lt(accept(fd, NULL, NULL), 0);
    cJSON_Delete(r);
    r = run("t", "cat /proc/net/dev | tail -n +3 | cut -d: -f1", 0);
    ck_assert_str_eq(out_of(r), "    lo\n");
    cJSON_Delete(r);
    close(fd);
}
END_TEST

START_TEST(net_vm_reaches_host_localhost)
{
    int port, fd = listener(&port);
    char cmd[600], err[256];
    snprintf(cmd, sizeof cmd, connect_js, port);
    ck_assert_int_eq(eng_actor_create(E, "vm", "netvm", err, sizeof err), 0);
    cJSON *r = run("netvm", cmd, 20000);
    ck_assert_msg(code_of(r) == 0, "stdout: %s stderr: %s", out_of(r), err_of(r));
    ck_assert_ptr_nonnull(strstr(out_of(r), "CONNECTED"));
    cJSON_Delete(r);
    close(fd);
}
END_TEST

START_TEST(escape_see_host_processes)
{
    char cmd[300];
    /* The test process itself is a host process the VM must not see. */
    snprintf(cmd, sizeof cmd, "ls /proc | grep -c '^[0-9]'; cat /proc/%d/cmdline",
             (int)getpid());
    cJSON *r = run("t", cmd, 0);
    ck_assert_int_le(atoi(out_of(r)), 8);
    ck_assert_ptr_null(strstr(out_of(r), "vm_test"));
    cJSON_Delete(r);
}
END_TEST

START_TEST(escape_fork_bomb_meets_pids_limit)
{
    cJSON *r = run("t", "for i in $(seq 200); do sleep 1234.7 & done; wait", 20000);
    ck_assert_ptr_nonnull(strstr(err_of(r), "fork"));
    cJSON_Delete(r);
    r = run("t", "b() { b | b & }; b", 3000);
    cJSON_Delete(r);
    ck_assert(gone_within("1234.7", 3000));
    r = run("t", "echo still usable", 0);
    ck_assert_int_eq(code_of(r), 0);
    ck_assert_str_eq(out_of(r), "still usable\n");
    cJSON_Delete(r);
}
END_TEST

START_TEST(escape_memory_hog_meets_memory_limit)
{
    cJSON *r = run("t", "python3 -c 'x = bytearray(600 * 1024 * 1024); print(len(x))'", 30000);
    ck_assert_int_ne(code_of(r), 0);
    ck_assert_ptr_null(strstr(out_of(r), "629145600"));
    ck_assert(cJSON_IsFalse(cJSON_GetObjectItem(r, "timedOut")));
    /* Where the host has a memory controller, the limit is what killed it. */
    fflush(stderr);
    char *log = slurp(LOGF);
    if (strstr(log, "memory=v1") != NULL || strstr(log, "memory=v2") != NULL)
        ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(r, "oomKilled")));
    free(log);
    cJSON_Delete(r);
    r = run("t", "echo alive", 0);
    ck_assert_str_eq(out_of(r), "alive\n");
    cJSON_Delete(r);
}
END_TEST

START_TEST(escape_symlink_through_writefile)
{
    char cmd[700], args[800], err[512], target[400];
    cJSON *res;
    snprintf(cmd, sizeof cmd, "ln -s %s/planted /home/user/evil && ln -s / /home/user/r "
             "&& ln -s ../../.. /home/user/up", HOST);
    cJSON *r = run("t", cmd, 0);
    ck_assert_int_eq(code_of(r), 0);
    cJSON_Delete(r);
    ck_assert_int_lt(act("t", "writeFile", "{\"path\":\"/home/user/evil\",\"content\":\"x\"}",
                         &res, err, sizeof err), 0);
    snprintf(args, sizeof args,
             "{\"path\":\"/home/user/r%s/planted2\",\"content\":\"x\"}", HOST);
    ck_assert_int_lt(act("t", "writeFile", args, &res, err, sizeof err), 0);
    snprintf(args, sizeof args, "{\"path\":\"/home/user/up%s/planted3\",\"content\":\"x\"}",
             HOST);
    ck_assert_int_lt(act("t", "writeFile", args, &res, err, sizeof err), 0);
    ck_assert_int_lt(act("t", "writeFile", "{\"path\":\"/home/user/../../x\",\"content\":\"x\"}",
                         &res, err, sizeof err), 0);
    for (int i = 0; i < 3; i++) {
        snprintf(target, sizeof target, "%s/planted%s", HOST, i ? (i == 1 ? "2" : "3") : "");
        ck_assert_msg(access(target, F_OK) != 0, "%s was written", target);
    }
    snprintf(args, sizeof args, "{\"path\":\"/home/user/r%s/secret.txt\"}", HOST);
    ck_assert_int_lt(act("t", "readFile", args, &res, err, sizeof err), 0);
    ck_assert_ptr_nonnull(strstr(err, "outside"));
}
END_TEST

START_TEST(escape_symlink_through_agent_write)
{
    char cmd[700], text[700], target[400];
    snprintf(cmd, sizeof cmd, "ln -s %s /home/user/evil && "
             "printf 'a = 1 // FIXME: replace \"1\" with \"2\"\\n' > /home/user/code.js", HOST);
    cJSON *r = run("t", cmd, 0);
    ck_assert_int_eq(code_of(r), 0);
    cJSON_Delete(r);
    char *id = create_session("t", "test", NULL);
    snprintf(text, sizeof text, "Review the code at /home/user/code.js and write "
             "your findings to /home/user/evil/review.md");
    r = prompt("t", id, text);
    ck_assert_str_eq(cJSON_GetObjectItem(r, "stopReason")->valuestring, "end_turn");
    cJSON_Delete(r);
    snprintf(text, sizeof text, "replace \"host\" with \"pwned\" in /home/user/evil/secret.txt");
    r = prompt("t", id, text);
    cJSON_Delete(r);
    close_session("t", id);
    snprintf(target, sizeof target, "%s/review.md", HOST);
    ck_assert_int_ne(access(target, F_OK), 0);
    snprintf(target, sizeof target, "%s/secret.txt", HOST);
    char *s = slurp(target);
    ck_assert_str_eq(s, "host-secret\n");
    free(s);
    s = session_file("t", id, "transcript");
    ck_assert_ptr_nonnull(strstr(s, "fs/write_text_file"));
    ck_assert_ptr_nonnull(strstr(s, "leads outside"));
    free(s);
    free(id);
}
END_TEST

START_TEST(escape_uid_outside_is_not_root)
{
    cJSON *r = run("t", "id -u; echo x > /home/user/mine; grep CapEff /proc/self/status", 0);
    ck_assert_str_eq(out_of(r), "1000\nCapEff:\t0000000000000000\n");
    cJSON_Delete(r);
    char root[600], path[700];
    struct stat st;
    ck_assert_int_eq(vm_root_path(DATA, "t", root, sizeof root), 0);
    snprintf(path, sizeof path, "%s/home/user/mine", root);
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_ne(st.st_uid, 0);
    ck_assert_int_ne(st.st_gid, 0);
    /* No way back to privileges: no new user namespaces. */
    r = run("t", "unshare -U true 2>&1; echo rc=$?", 0);
    ck_assert_ptr_nonnull(strstr(out_of(r), "rc=1"));
    cJSON_Delete(r);
}
END_TEST

START_TEST(readonly_mount_is_readable_not_writable)
{
    cJSON *r = run("t", "cat /srv/ro/secret.txt; touch /srv/ro/x", 0);
    ck_assert_str_eq(out_of(r), "host-secret\n");
    ck_assert_int_ne(code_of(r), 0);
    cJSON_Delete(r);
    cJSON *res;
    char err[512];
    ck_assert_int_eq(act("t", "readFile", "{\"path\":\"/srv/ro/secret.txt\"}", &res, err,
                         sizeof err),
                     0);
    ck_assert_str_eq(cJSON_GetObjectItem(res, "content")->valuestring, "host-secret\n");
    cJSON_Delete(res);
    ck_assert_int_eq(act("t", "writeFile", "{\"path\":\"/srv/ro/x\",\"content\":\"\"}", &res,
                         err, sizeof err),
                     -EACCES);
}
END_TEST

/* ---- files and the VM's life ------------------------------------------- */

START_TEST(files_round_trip_and_belong_to_the_vm)
{
    cJSON *res;
    char err[512];
    ck_assert_int_eq(act("t", "writeFile",
                         "{\"path\":\"/home/user/d/e/f.txt\",\"content\":\"héllo\\n\"}", &res,
                         err, sizeof err),
                     0);
    cJSON_Delete(res);
    cJSON *r = run("t", "cat /home/user/d/e/f.txt && echo more >> /home/user/d/e/f.txt "
                        "&& touch /home/user/d/e/g", 0);
    ck_assert_int_eq(code_of(r), 0);
    ck_assert_str_eq(out_of(r), "héllo\n");
    cJSON_Delete(r);
    ck_assert_int_eq(act("t", "readFile", "{\"path\":\"/home/user/d/e/f.txt\"}", &res, err,
                         sizeof err),
                     0);
    ck_assert_str_eq(cJSON_GetObjectItem(res, "content")->valuestring, "héllo\nmore\n");
    cJSON_Delete(res);
    ck_assert_int_eq(act("t", "readFile", "{\"path\":\"/home/user/nope\"}", &res, err,
                         sizeof err),
                     -ENOENT);
    ck_assert_int_eq(act("t", "writeFile", "{\"path\":\"/etc/x\",\"content\":\"\"}", &res, err,
                         sizeof err),
                     -EACCES);
    ck_assert_ptr_nonnull(strstr(err, "writable"));
}
END_TEST

START_TEST(vm_root_persists_and_rmdir_removes_it)
{
    char err[512], root[600];
    cJSON *r = run("t", "echo kept > /home/user/k; echo tmp > /tmp/t", 0);
    cJSON_Delete(r);
    r = run("t", "cat /home/user/k /tmp/t", 0);
    ck_assert_str_eq(out_of(r), "kept\ntmp\n");
    cJSON_Delete(r);
    ck_assert_int_eq(vm_root_path(DATA, "t", root, sizeof root), 0);
    ck_assert_int_eq(access(root, F_OK), 0);
    char *id = create_session("t", "test", NULL);
    ck_assert_int_eq(eng_actor_destroy(E, "vm", "t", err, sizeof err), -EBUSY);
    ck_assert_ptr_nonnull(strstr(err, "busy"));
    close_session("t", id);
    free(id);
    ck_assert_int_gt(vm_init_pid(), 0);
    ck_assert_msg(eng_actor_destroy(E, "vm", "t", err, sizeof err) == 0, "%s", err);
    ck_assert_int_ne(access(root, F_OK), 0);
    ck_assert_msg(no_vm_init_within(2000), "the VM's sandbox outlived rmdir");
}
END_TEST

/* ---- ACP sessions with the test agent ----------------------------------- */

START_TEST(acp_prompt_edits_a_file)
{
    cJSON *res;
    char err[512];
    ck_assert_int_eq(act("t", "writeFile",
                         "{\"path\":\"/home/user/calc.js\",\"content\":\"a - b; a - c\\n\"}", &res,
                         err, sizeof err),
                     0);
    cJSON_Delete(res);
    char *id = create_session("t", "claude", NULL);
    cJSON *r = prompt("t", id, "Please replace \"a - \" with \"a + \" in /home/user/calc.js.");
    ck_assert_str_eq(cJSON_GetObjectItem(r, "stopReason")->valuestring, "end_turn");
    ck_assert_ptr_nonnull(strstr(cJSON_GetObjectItem(r, "text")->valuestring, "Replaced 2"));
    cJSON_Delete(r);
    ck_assert_int_eq(act("t", "readFile", "{\"path\":\"/home/user/calc.js\"}", &res, err,
                         sizeof err),
                     0);
    ck_assert_str_eq(cJSON_GetObjectItem(res, "content")->valuestring, "a + b; a + c\n");
    cJSON_Delete(res);
    r = prompt("t", id, "replace \"zzz\" with \"y\" in /home/user/calc.js");
    ck_assert_ptr_nonnull(strstr(cJSON_GetObjectItem(r, "text")->valuestring, "not found"));
    cJSON_Delete(r);
    char *t = session_file("t", id, "transcript");
    ck_assert_ptr_nonnull(strstr(t, "\"agent_message_chunk\""));
    ck_assert_ptr_nonnull(strstr(t, "fs/read_text_file"));
    /* Every line is one JSON object. */
    for (char *line = strtok(t, "\n"); line != NULL; line = strtok(NULL, "\n")) {
        cJSON *j = cJSON_Parse(line);
        ck_assert_msg(cJSON_IsObject(j), "bad transcript line: %s", line);
        cJSON_Delete(j);
    }
    free(t);
    char *info = session_file("t", id, "info");
    cJSON *j = cJSON_Parse(info);
    ck_assert_str_eq(cJSON_GetObjectItem(j, "status")->valuestring, "ready");
    ck_assert_str_eq(cJSON_GetObjectItem(j, "stopReason")->valuestring, "end_turn");
    ck_assert_str_eq(cJSON_GetObjectItem(j, "agent")->valuestring, "claude");
    cJSON_Delete(j);
    free(info);
    close_session("t", id);
    info = session_file("t", id, "info");
    ck_assert_ptr_nonnull(strstr(info, "\"closed\""));
    free(info);
    ck_assert_int_eq(act("t", "sendPrompt", "{\"sessionId\":\"nope\",\"text\":\"x\"}", &res, err,
                         sizeof err),
                     -ENOENT);
    free(id);
}
END_TEST

START_TEST(acp_permission_is_answered_by_policy)
{
    cJSON *res;
    char err[512];
    ck_assert_int_eq(act("t", "writeFile", "{\"path\":\"/tmp/p.txt\",\"content\":\"old\"}", &res,
                         err, sizeof err),
                     0);
    cJSON_Delete(res);
    char *id = create_session("t", "test", NULL);
    cJSON *r = prompt("t", id, "replace \"old\" with \"new\" in /tmp/p.txt");
    cJSON_Delete(r);
    char *t = session_file("t", id, "transcript");
    ck_assert_ptr_nonnull(strstr(t, "\"session/request_permission\""));
    ck_assert_ptr_nonnull(strstr(t, "{\"outcome\":{\"outcome\":\"selected\",\"optionId\":\"allow\"}}"));
    free(t);
    close_session("t", id);
    free(id);
    /* The deny policy refuses, and nothing changes. */
    id = create_session("t", "test", "\"permission\":\"deny\"");
    r = prompt("t", id, "replace \"new\" with \"newer\" in /tmp/p.txt");
    ck_assert_ptr_nonnull(strstr(cJSON_GetObjectItem(r, "text")->valuestring, "refused"));
    cJSON_Delete(r);
    t = session_file("t", id, "transcript");
    ck_assert_ptr_nonnull(strstr(t, "\"optionId\":\"reject\""));
    free(t);
    close_session("t", id);
    free(id);
    ck_assert_int_eq(act("t", "readFile", "{\"path\":\"/tmp/p.txt\"}", &res, err, sizeof err), 0);
    ck_assert_str_eq(cJSON_GetObjectItem(res, "content")->valuestring, "new");
    cJSON_Delete(res);
}
END_TEST

static int info_says(const char *id, const char *what)
{
    char *s = session_file("t", id, "info");
    int yes = s != NULL && strstr(s, what) != NULL;
    free(s);
    return yes;
}

/* The one session of vm@t, once it exists (the workflow made it). */
static char *only_session(int ms)
{
    char dir[700];
    int64_t end = now_ms() + ms;
    ck_assert_int_eq(vm_sessions_path(DATA, "t", dir, sizeof dir), 0);
    for (;;) {
        DIR *d = opendir(dir);
        struct dirent *de;
        char *id = NULL;
        while (d != NULL && (de = readdir(d)) != NULL)
            if (de->d_name[0] != '.')
                id = strdup(de->d_name);
        if (d != NULL)
            closedir(d);
        if (id != NULL)
            return id;
        ck_assert_msg(now_ms() < end, "no session appeared");
        struct timespec ts = {0, 20 * 1000000};
        nanosleep(&ts, NULL);
    }
}

START_TEST(acp_cancel_mid_turn)
{
    char err[512];
    const char *go = "{\"kind\":\"prompt\"}";
    ck_assert_int_eq(eng_enqueue(E, "vmcaller", "", "go", go, strlen(go), NULL, NULL, err,
                                 sizeof err),
                     0);
    char *id = only_session(30000);
    /* Wait until the turn is under way, then cancel the workflow: the
     * step's cancellation reaches sendPrompt, which cancels the turn. */
    int64_t end = now_ms() + 30000;
    for (;;) {
        char *t = session_file("t", id, "transcript");
        int sleeping = t != NULL && strstr(t, "Sleeping 20000 ms") != NULL;
        free(t);
        if (sleeping)
            break;
        ck_assert_msg(now_ms() < end, "the turn never started");
        struct timespec ts = {0, 20 * 1000000};
        nanosleep(&ts, NULL);
    }
    int64_t t0 = now_ms();
    ck_assert_msg(eng_ctl(E, "vmcaller", "", "cancel", err, sizeof err) == 0, "%s", err);
    end = now_ms() + 15000;
    while (!info_says(id, "\"stopReason\":\t\"cancelled\"")) {
        ck_assert_msg(now_ms() < end, "the turn was not cancelled");
        struct timespec ts = {0, 20 * 1000000};
        nanosleep(&ts, NULL);
    }
    ck_assert_int_lt(now_ms() - t0, 15000);
    char *t = session_file("t", id, "transcript");
    ck_assert_ptr_nonnull(strstr(t, "\"session/cancel\""));
    ck_assert_ptr_nonnull(strstr(t, "{\"stopReason\":\"cancelled\"}"));
    free(t);
    free(id);
}
END_TEST

START_TEST(exec_cancelled_with_its_step)
{
    char err[512];
    const char *go = "{\"kind\":\"exec\",\"cmd\":\"sleep 1234.9; echo never\"}";
    ck_assert_int_eq(eng_enqueue(E, "vmcaller", "", "go", go, strlen(go), NULL, NULL, err,
                                 sizeof err),
                     0);
    int64_t end = now_ms() + 30000;
    while (!command_running("sleep 1234.9")) {
        ck_assert_msg(now_ms() < end, "the command never started");
        struct timespec ts = {0, 10 * 1000000};
        nanosleep(&ts, NULL);
    }
    /* Cancelling the workflow cancels the step and its exec: the whole
     * process tree is killed. */
    ck_assert_msg(eng_ctl(E, "vmcaller", "", "cancel", err, sizeof err) == 0, "%s", err);
    ck_assert(gone_within("sleep 1234.9", 8000));
}
END_TEST

START_TEST(acp_unknown_agent)
{
    cJSON *res;
    char err[512];
    ck_assert_int_eq(act("t", "createSession", "{\"agent\":\"nobody\"}", &res, err, sizeof err),
                     -ENOENT);
    ck_assert_ptr_nonnull(strstr(err, "unknown agent 'nobody'"));
    ck_assert_ptr_nonnull(strstr(err, "--agent"));
}
END_TEST

START_TEST(acp_missing_agent_command)
{
    cJSON *res;
    char err[1024];
    int64_t t0 = now_ms();
    ck_assert_int_lt(act("t", "createSession", "{\"agent\":\"missing\"}", &res, err, sizeof err),
                     0);
    ck_assert_ptr_nonnull(strstr(err, "'no-such-agent-command' not found"));
    ck_assert_ptr_nonnull(strstr(err, "--agent missing=test"));
    ck_assert_int_lt(act("t", "createSession", "{\"agent\":\"realclaude\"}", &res, err,
                         sizeof err),
                     0);
    ck_assert_msg(strstr(err, "npm install -g @agentclientprotocol/claude-agent-acp") != NULL,
                  "%s", err);
    ck_assert_int_lt(now_ms() - t0, 20000);
}
END_TEST

START_TEST(acp_crashing_agent)
{
    cJSON *res;
    char err[1024], args[256];
    char *id = create_session("t", "test", NULL);
    int64_t t0 = now_ms();
    snprintf(args, sizeof args, "{\"sessionId\":\"%s\",\"text\":\"crash\"}", id);
    ck_assert_int_lt(act("t", "sendPrompt", args, &res, err, sizeof err), 0);
    ck_assert_ptr_nonnull(strstr(err, "exited with code 3"));
    ck_assert_int_lt(now_ms() - t0, 10000);
    ck_assert(info_says(id, "\"failed\""));
    /* The session is dead: another prompt fails at once, close works. */
    ck_assert_int_lt(act("t", "sendPrompt", args, &res, err, sizeof err), 0);
    close_session("t", id);
    free(id);
}
END_TEST

static const char *needle_;
static int found_;
static int grep_cb(const char *p, const struct stat *st, int f, struct FTW *w)
{
    (void)w;
    if (f != FTW_F || !S_ISREG(st->st_mode))
        return 0;
    int fd = open(p, O_RDONLY);
    if (fd < 0)
        return 0;
    size_t nl = strlen(needle_);
    char buf[65536 + 256];
    size_t keep = 0;
    ssize_t n;
    while ((n = read(fd, buf + keep, 65536)) > 0) {
        size_t len = keep + (size_t)n;
        if (memmem(buf, len, needle_, nl) != NULL) {
            found_ = 1;
            fprintf(stderr, "canary found in %s\n", p);
        }
        keep = len < nl ? len : nl - 1;
        memmove(buf, buf + len - keep, keep);
    }
    close(fd);
    return 0;
}

static int grep_tree(const char *dir, const char *needle)
{
    needle_ = needle;
    found_ = 0;
    nftw(dir, grep_cb, 16, FTW_PHYS);
    return found_;
}

START_TEST(escape_exec_cannot_read_a_session_credential)
{
    char canary[64], extra[200];
    snprintf(canary, sizeof canary, "canary-%d-%ld", (int)getpid(), (long)now_ms());
    snprintf(extra, sizeof extra, "\"env\":{\"ANTHROPIC_API_KEY\":\"%s\"}", canary);
    char *id = create_session("t", "test", extra);
    /* The agent runs while a command of the same VM looks for it. */
    cJSON *r = run("t", "cat /proc/[0-9]*/environ 2>/dev/null | tr '\\0' '\\n' | "
                        "grep -c ANTHROPIC_API_KEY", 0);
    ck_assert_str_eq(out_of(r), "0\n");
    cJSON_Delete(r);
    close_session("t", id);
    free(id);
}
END_TEST

START_TEST(acp_canary_credential_stays_secret)
{
    char canary[64], extra[200];
    snprintf(canary, sizeof canary, "canary-%d-%ld", (int)getpid(), (long)now_ms());
    snprintf(extra, sizeof extra, "\"env\":{\"ANTHROPIC_API_KEY\":\"%s\",\"X\":\"short\"}",
             canary);
    char *id = create_session("t", "test", extra);
    /* The agent saw it: its env reaches the sandbox, nothing else. */
    char text[300];
    snprintf(text, sizeof text, "please say %s back", canary);
    cJSON *r = prompt("t", id, text);
    char *rs = cJSON_PrintUnformatted(r);
    ck_assert_ptr_null(strstr(rs, canary));
    free(rs);
    cJSON_Delete(r);
    close_session("t", id);
    free(id);
    eng_close(E);
    E = NULL;
    vm_shutdown();
    fflush(stderr);
    ck_assert_msg(!grep_tree(DATA, canary), "the canary is in a file under DATA");
    ck_assert_msg(!grep_tree(LOGF, canary), "the canary is in the log");
    /* teardown closes E again: make that a no-op engine. */
    char err[256];
    eng_config ec = {.data_dir = DATA};
    ck_assert_int_eq(eng_open(&ec, &E, err, sizeof err), 0);
}
END_TEST

/* A scripted agent: it asks the client a method nobody knows, with the
 * same id as the client's request still waiting for its answer. */
static const char *fake_agent =
    "read -r init\n"
    "echo '{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"protocolVersion\":1}}'\n"
    "read -r new\n"
    "echo '{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"weird/thing\",\"params\":{}}'\n"
    "read -r answer\n"
    "printf '%s\\n' \"$answer\" > /tmp/answer.json\n"
    "echo '{\"jsonrpc\":\"2.0\",\"method\":\"session/update\",\"params\":{\"sessionId\":\"s\","
    "\"update\":{\"sessionUpdate\":\"agent_message_chunk\",\"content\":{\"type\":\"text\","
    "\"text\":\"early\"}}}}'\n"
    "echo '{\"jsonrpc\":\"2.0\",\"id\":2,\"result\":{\"sessionId\":\"s\"}}'\n"
    "read -r prompt\n"
    "echo '{\"jsonrpc\":\"2.0\",\"method\":\"session/update\",\"params\":{\"sessionId\":\"s\","
    "\"update\":{\"sessionUpdate\":\"agent_message_chunk\",\"content\":{\"type\":\"text\","
    "\"text\":\"done\"}}}}'\n"
    "echo '{\"jsonrpc\":\"2.0\",\"id\":3,\"result\":{\"stopReason\":\"end_turn\"}}'\n"
    "read -r never\n";

START_TEST(acp_agent_messages_classified_by_shape)
{
    cJSON *a = cJSON_CreateObject(), *res;
    char err[512];
    cJSON_AddStringToObject(a, "path", "/tmp/fake.sh");
    cJSON_AddStringToObject(a, "content", fake_agent);
    ck_assert_int_eq(eng_action(E, "vm", "t", "writeFile", a, &res, err, sizeof err), 0);
    cJSON_Delete(a);
    cJSON_Delete(res);
    char *id = create_session("t", "fake", NULL);
    ck_assert_int_eq(act("t", "readFile", "{\"path\":\"/tmp/answer.json\"}", &res, err,
                         sizeof err),
                     0);
    cJSON *ans = cJSON_Parse(cJSON_GetObjectItem(res, "content")->valuestring);
    cJSON_Delete(res);
    ck_assert_int_eq(cJSON_GetObjectItem(ans, "id")->valueint, 2);
    ck_assert_int_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(ans, "error"), "code")->valueint,
                     -32601);
    cJSON_Delete(ans);
    cJSON *r = prompt("t", id, "anything");
    ck_assert_str_eq(cJSON_GetObjectItem(r, "stopReason")->valuestring, "end_turn");
    ck_assert_str_eq(cJSON_GetObjectItem(r, "text")->valuestring, "done");
    cJSON_Delete(r);
    close_session("t", id);
    free(id);
}
END_TEST

/* A scripted agent that streams its environment's secret in two chunks,
 * split in the middle. */
static const char *split_agent =
    "read -r init\n"
    "echo '{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"protocolVersion\":1}}'\n"
    "read -r new\n"
    "echo '{\"jsonrpc\":\"2.0\",\"id\":2,\"result\":{\"sessionId\":\"s\"}}'\n"
    "read -r prompt\n"
    "a=${TOKEN%${TOKEN#?????????????}}; b=${TOKEN#?????????????}\n"
    "for t in \"key: $a\" \"$b, bye\"; do\n"
    "  echo '{\"jsonrpc\":\"2.0\",\"method\":\"session/update\",\"params\":{\"sessionId\":\"s\","
    "\"update\":{\"sessionUpdate\":\"agent_message_chunk\",\"content\":{\"type\":\"text\","
    "\"text\":\"'\"$t\"'\"}}}}'\n"
    "done\n"
    "echo '{\"jsonrpc\":\"2.0\",\"id\":3,\"result\":{\"stopReason\":\"end_turn\"}}'\n"
    "read -r never\n";

START_TEST(acp_secret_split_across_chunks_is_redacted)
{
    cJSON *a = cJSON_CreateObject(), *res;
    char err[512];
    const char *token = "tok-0123456789abcdef";
    cJSON_AddStringToObject(a, "path", "/tmp/split.sh");
    cJSON_AddStringToObject(a, "content", split_agent);
    ck_assert_int_eq(eng_action(E, "vm", "t", "writeFile", a, &res, err, sizeof err), 0);
    cJSON_Delete(a);
    cJSON_Delete(res);
    char *id = create_session("t", "splitter", "\"env\":{\"TOKEN\":\"tok-0123456789abcdef\"}");
    cJSON *r = prompt("t", id, "go");
    ck_assert_str_eq(cJSON_GetObjectItem(r, "text")->valuestring, "key: [REDACTED], bye");
    cJSON_Delete(r);
    close_session("t", id);
    char *t = session_file("t", id, "transcript");
    /* Neither the secret nor its first half, which would betray it. */
    ck_assert_ptr_null(strstr(t, token));
    ck_assert_ptr_null(strstr(t, "tok-012345678"));
    ck_assert_ptr_nonnull(strstr(t, "[REDACTED]"));
    free(t);
    free(id);
}
END_TEST

START_TEST(acp_stale_session_marked_ended)
{
    char dir[700], path[800], err[256];
    ck_assert_int_eq(vm_sessions_path(DATA, "t", dir, sizeof dir), 0);
    snprintf(path, sizeof path, "%s/old", dir);
    ck_assert_int_eq(mkdir(path, 0755), 0);
    snprintf(path, sizeof path, "%s/old/info", dir);
    eng_close(E);
    vm_shutdown();
    /* As a kill -9 leaves it: the session was live. */
    write_host(path, "{\"id\":\"old\",\"status\":\"ready\",\"error\":null}\n", 0644);
    eng_config ec = {.data_dir = DATA};
    vm_config vc = {.data_dir = DATA};
    ck_assert_int_eq(eng_open(&ec, &E, err, sizeof err), 0);
    ck_assert_int_eq(vm_register(E, &vc, err, sizeof err), 0);
    char *s = slurp(path);
    cJSON *j = cJSON_Parse(s);
    ck_assert_str_eq(cJSON_GetObjectItem(j, "status")->valuestring, "ended");
    ck_assert_ptr_nonnull(strstr(cJSON_GetObjectItem(j, "error")->valuestring, "daemon stopped"));
    cJSON_Delete(j);
    free(s);
}
END_TEST

/* ---- internals ---------------------------------------------------------- */

START_TEST(session_files_are_where_fs_shows_them)
{
    char buf[64];
    ck_assert_int_eq(vm_root_path("/d", "x", buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "/d/vm/x/root");
    ck_assert_int_eq(vm_sessions_path("/d", "x", buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "/d/vm/x/sessions");
    ck_assert_int_eq(vm_root_path("/d", "x", buf, 5), -ENAMETOOLONG);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("vm");
    struct {
        const char *name;
        const TTest *t;
        int timeout;
    } tests[] = {
        {"exec_exit_code_and_output", exec_exit_code_and_output, 60},
        {"exec_output_cap_marks_truncation", exec_output_cap_marks_truncation, 60},
        {"exec_timeout_kills_the_tree", exec_timeout_kills_the_tree, 60},
        {"exec_leftovers_end_with_the_command", exec_leftovers_end_with_the_command, 60},
        {"vm_sandbox_restarts_after_its_init_dies", vm_sandbox_restarts_after_its_init_dies, 60},
        {"exec_many_at_once_in_one_vm", exec_many_at_once_in_one_vm, 60},
        {"vm_sandbox_stops_when_idle", vm_sandbox_stops_when_idle, 60},
        {"exec_too_long_is_refused_and_the_vm_goes_on",
         exec_too_long_is_refused_and_the_vm_goes_on, 60},
        {"exec_bad_args_are_refused", exec_bad_args_are_refused, 60},
        {"exec_spawn_fault_fails_with_its_errno", exec_spawn_fault_fails_with_its_errno, 60},
        {"nothing_runs_outside_its_cgroups", nothing_runs_outside_its_cgroups, 60},
        {"exec_cancelled_with_its_step", exec_cancelled_with_its_step, 60},
        {"shutdown_ends_running_commands", shutdown_ends_running_commands, 60},
        {"sandboxes_die_with_a_killed_daemon", sandboxes_die_with_a_killed_daemon, 90},
        {"cgroups_of_a_killed_daemon_are_removed_by_the_next",
         cgroups_of_a_killed_daemon_are_removed_by_the_next, 90},
        {"escape_read_host_file", escape_read_host_file, 60},
        {"escape_read_etc_shadow", escape_read_etc_shadow, 60},
        {"escape_write_usr", escape_write_usr, 60},
        {"sandbox_root_is_read_only", sandbox_root_is_read_only, 60},
        {"escape_reach_host_localhost", escape_reach_host_localhost, 60},
        {"net_vm_reaches_host_localhost", net_vm_reaches_host_localhost, 60},
        {"escape_see_host_processes", escape_see_host_processes, 60},
        {"escape_fork_bomb_meets_pids_limit", escape_fork_bomb_meets_pids_limit, 90},
        {"escape_memory_hog_meets_memory_limit", escape_memory_hog_meets_memory_limit, 90},
        {"escape_symlink_through_writefile", escape_symlink_through_writefile, 60},
        {"escape_symlink_through_agent_write", escape_symlink_through_agent_write, 60},
        {"escape_uid_outside_is_not_root", escape_uid_outside_is_not_root, 60},
        {"readonly_mount_is_readable_not_writable", readonly_mount_is_readable_not_writable, 60},
        {"files_round_trip_and_belong_to_the_vm", files_round_trip_and_belong_to_the_vm, 60},
        {"vm_root_persists_and_rmdir_removes_it", vm_root_persists_and_rmdir_removes_it, 60},
        {"acp_prompt_edits_a_file", acp_prompt_edits_a_file, 60},
        {"acp_permission_is_answered_by_policy", acp_permission_is_answered_by_policy, 60},
        {"acp_cancel_mid_turn", acp_cancel_mid_turn, 60},
        {"acp_unknown_agent", acp_unknown_agent, 60},
        {"acp_missing_agent_command", acp_missing_agent_command, 60},
        {"acp_crashing_agent", acp_crashing_agent, 60},
        {"acp_canary_credential_stays_secret", acp_canary_credential_stays_secret, 60},
        {"escape_exec_cannot_read_a_session_credential",
         escape_exec_cannot_read_a_session_credential, 60},
        {"acp_agent_messages_classified_by_shape", acp_agent_messages_classified_by_shape, 60},
        {"acp_stale_session_marked_ended", acp_stale_session_marked_ended, 60},
        {"acp_secret_split_across_chunks_is_redacted",
         acp_secret_split_across_chunks_is_redacted, 60},
    };
    for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++) {
        TCase *tc = tcase_create(tests[i].name);
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, tests[i].timeout);
        tcase_add_test(tc, tests[i].t);
        suite_add_tcase(s, tc);
    }
    TCase *tc = tcase_create("session_files_are_where_fs_shows_them");
    tcase_add_test(tc, session_files_are_where_fs_shows_them);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    if (getenv("VMTEST_DAEMON") != NULL)
        return daemon_main(getenv("VMTEST_DAEMON"));
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
