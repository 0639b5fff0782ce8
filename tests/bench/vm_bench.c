/*
 * vm_bench.c - what a VM costs: the median latency of exec `true` in the
 * VM's running sandbox (through the engine's action path, as a step or
 * the exec file pays it) against a bare `sh -c true` spawned the same way
 * (libuv, the sandbox's uid, stdout and stderr pipes) in the same run; a
 * VM's first exec, which starts its sandbox; and an agent session's start
 * and one prompt with the offline test agent.
 *
 *   bench_vm [--runs N] [--sessions N]
 *
 * Prints a table; exits non-zero if any measured operation failed.
 */
#include "vm.h"

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static double pct(double *v, int n, double p)
{
    qsort(v, (size_t)n, sizeof *v, cmp);
    int i = (int)(p / 100.0 * (n - 1) + 0.5);
    return v[i];
}

/* ---- bare: sh -c true through uv_spawn, like the sandbox's spawn ------ */

static void on_exit_cb(uv_process_t *p, int64_t status, int sig)
{
    (void)sig;
    *(int64_t *)p->data = status;
    uv_close((uv_handle_t *)p, NULL);
}

static void alloc_cb(uv_handle_t *h, size_t n, uv_buf_t *b)
{
    (void)h;
    (void)n;
    static char mem[4096];
    *b = uv_buf_init(mem, sizeof mem);
}

static void read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    (void)b;
    if (n < 0)
        uv_close((uv_handle_t *)s, NULL);
}

static int bare_once(uv_loop_t *loop)
{
    uv_process_t p;
    uv_pipe_t out, err;
    int64_t status = -1;
    char *args[] = {"sh", "-c", "true", NULL};
    uv_pipe_init(loop, &out, 0);
    uv_pipe_init(loop, &err, 0);
    uv_stdio_container_t stdio[3] = {
        {.flags = UV_IGNORE},
        {.flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE, .data.stream = (uv_stream_t *)&out},
        {.flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE, .data.stream = (uv_stream_t *)&err},
    };
    uv_process_options_t o = {.exit_cb = on_exit_cb, .file = "/bin/sh", .args = args,
                              .cwd = "/", .stdio = stdio, .stdio_count = 3,
                              .flags = UV_PROCESS_SETUID | UV_PROCESS_SETGID,
                              .uid = 100000, .gid = 100000};
    p.data = &status;
    int rc = uv_spawn(loop, &p, &o);
    if (rc < 0) {
        uv_close((uv_handle_t *)&p, NULL);
        uv_close((uv_handle_t *)&out, NULL);
        uv_close((uv_handle_t *)&err, NULL);
        uv_run(loop, UV_RUN_DEFAULT);
        return rc;
    }
    uv_read_start((uv_stream_t *)&out, alloc_cb, read_cb);
    uv_read_start((uv_stream_t *)&err, alloc_cb, read_cb);
    uv_run(loop, UV_RUN_DEFAULT);
    return status == 0 ? 0 : -EIO;
}

/* ---- the VM through the engine ---------------------------------------- */

static eng *E;

static int action(const char *name, cJSON *args, cJSON **res)
{
    char err[1024];
    *res = NULL;
    int rc = eng_action(E, "vm", "bench", name, args, res, err, sizeof err);
    if (rc < 0)
        fprintf(stderr, "bench_vm: %s: %s\n", name, err);
    cJSON_Delete(args);
    return rc;
}

static int sandbox_once(void)
{
    cJSON *a = cJSON_CreateObject(), *res;
    cJSON_AddStringToObject(a, "cmd", "true");
    int rc = action("exec", a, &res);
    if (rc == 0 && cJSON_GetObjectItem(res, "exitCode")->valueint != 0)
        rc = -EIO;
    cJSON_Delete(res);
    return rc;
}

/* An action that spawns nothing: the engine's and the VM's own path. */
static int read_once(void)
{
    cJSON *a = cJSON_CreateObject(), *res;
    cJSON_AddStringToObject(a, "path", "/home/user/n.txt");
    int rc = action("readFile", a, &res);
    cJSON_Delete(res);
    return rc;
}

/* exec `true` in a new VM, which starts its sandbox; the VM is removed
 * after. */
static int first_exec(int i, double *ms)
{
    char name[32], err[512];
    cJSON *a = cJSON_CreateObject(), *res = NULL;
    snprintf(name, sizeof name, "first%d", i);
    cJSON_AddStringToObject(a, "cmd", "true");
    int rc = eng_actor_create(E, "vm", name, err, sizeof err);
    double t0 = now_ms();
    if (rc == 0)
        rc = eng_action(E, "vm", name, "exec", a, &res, err, sizeof err);
    *ms = now_ms() - t0;
    if (rc == 0 && cJSON_GetObjectItem(res, "exitCode")->valueint != 0)
        rc = -EIO;
    if (rc == 0)
        rc = eng_actor_destroy(E, "vm", name, err, sizeof err);
    if (rc < 0)
        fprintf(stderr, "bench_vm: first exec in vm@%s: %s\n", name, err);
    cJSON_Delete(a);
    cJSON_Delete(res);
    return rc;
}

static int session_once(double *start_ms, double *prompt_ms)
{
    cJSON *a = cJSON_CreateObject(), *res;
    cJSON_AddStringToObject(a, "agent", "test");
    double t0 = now_ms();
    int rc = action("createSession", a, &res);
    if (rc < 0)
        return rc;
    *start_ms = now_ms() - t0;
    char *id = strdup(cJSON_GetObjectItem(res, "sessionId")->valuestring);
    cJSON_Delete(res);
    a = cJSON_CreateObject();
    cJSON_AddStringToObject(a, "sessionId", id);
    cJSON_AddStringToObject(a, "text", "replace \"1\" with \"2\" in /home/user/n.txt");
    t0 = now_ms();
    rc = action("sendPrompt", a, &res);
    *prompt_ms = now_ms() - t0;
    if (rc == 0 && strstr(cJSON_GetObjectItem(res, "text")->valuestring, "Replaced") == NULL)
        rc = -EIO;
    cJSON_Delete(res);
    a = cJSON_CreateObject();
    cJSON_AddStringToObject(a, "sessionId", id);
    if (action("closeSession", a, &res) == 0)
        cJSON_Delete(res);
    free(id);
    return rc;
}

static int rm_cb(const char *p, const struct stat *st, int f, struct FTW *w)
{
    (void)st;
    (void)w;
    return f == FTW_DP ? rmdir(p) : unlink(p);
}

int main(int argc, char **argv)
{
    int runs = 30, sessions = 5;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--runs") == 0)
            runs = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--sessions") == 0)
            sessions = atoi(argv[i + 1]);
    }
    if (runs < 1 || sessions < 1) {
        fprintf(stderr, "usage: bench_vm [--runs N] [--sessions N]\n");
        return 100;
    }
    char dir[] = "/tmp/actorfs-vmbench.XXXXXX", data[64], err[512];
    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return 111;
    }
    snprintf(data, sizeof data, "%s/data", dir);
    eng_config ec = {.data_dir = data, .durability = ENG_DURABILITY_NORMAL};
    vm_config vc = {.data_dir = data};
    if (eng_open(&ec, &E, err, sizeof err) < 0 || vm_register(E, &vc, err, sizeof err) < 0 ||
        eng_start(E, err, sizeof err) < 0 || eng_actor_create(E, "vm", "bench", err, sizeof err) < 0) {
        fprintf(stderr, "bench_vm: %s\n", err);
        return 111;
    }
    double *bare = calloc((size_t)runs, sizeof *bare), *box = calloc((size_t)runs, sizeof *box);
    double *rd = calloc((size_t)runs, sizeof *rd);
    int nfirst = runs < 10 ? runs : 10;
    double *first = calloc((size_t)nfirst, sizeof *first);
    double *st = calloc((size_t)sessions, sizeof *st), *pr = calloc((size_t)sessions, sizeof *pr);
    uv_loop_t loop;
    uv_loop_init(&loop);
    int failed = 0;
    /* One warm-up of each, then interleaved so both see the same machine. */
    failed |= bare_once(&loop) < 0 || sandbox_once() < 0;
    for (int i = 0; i < runs; i++) {
        double t0 = now_ms();
        failed |= bare_once(&loop) < 0;
        bare[i] = now_ms() - t0;
        t0 = now_ms();
        failed |= sandbox_once() < 0;
        box[i] = now_ms() - t0;
    }
    uv_loop_close(&loop);
    cJSON *w = cJSON_CreateObject(), *wr;
    cJSON_AddStringToObject(w, "path", "/home/user/n.txt");
    cJSON_AddStringToObject(w, "content", "1\n");
    failed |= action("writeFile", w, &wr) < 0;
    cJSON_Delete(wr);
    for (int i = 0; i < runs; i++) {
        double t0 = now_ms();
        failed |= read_once() < 0;
        rd[i] = now_ms() - t0;
    }
    for (int i = 0; i < nfirst; i++)
        failed |= first_exec(i, &first[i]) < 0;
    for (int i = 0; i < sessions; i++) {
        cJSON *a = cJSON_CreateObject(), *res;
        cJSON_AddStringToObject(a, "path", "/home/user/n.txt");
        cJSON_AddStringToObject(a, "content", "1\n");
        failed |= action("writeFile", a, &res) < 0;
        cJSON_Delete(res);
        failed |= session_once(&st[i], &pr[i]) < 0;
    }
    double mb = median(bare, runs), ms = median(box, runs);
    printf("%-40s %10s %10s %6s\n", "operation", "median ms", "p90 ms", "runs");
    printf("%-40s %10.2f %10.2f %6d\n", "bare sh -c true (uv_spawn, same uid)", mb,
           pct(bare, runs, 90), runs);
    printf("%-40s %10.2f %10.2f %6d\n", "vm exec true (sandbox, via eng_action)", ms,
           pct(box, runs, 90), runs);
    printf("%-40s %10.2f %10s %6s\n", "ratio sandbox / bare", ms / mb, "", "");
    printf("%-40s %10.2f %10.2f %6d\n", "vm first exec true (starts its sandbox)",
           median(first, nfirst), pct(first, nfirst, 90), nfirst);
    printf("%-40s %10.2f %10.2f %6d\n", "vm readFile (an action, no spawn)", median(rd, runs),
           pct(rd, runs, 90), runs);
    printf("%-40s %10.2f %10.2f %6d\n", "session start (test agent)", median(st, sessions),
           pct(st, sessions, 90), sessions);
    printf("%-40s %10.2f %10.2f %6d\n", "one prompt (edit a file)", median(pr, sessions),
           pct(pr, sessions, 90), sessions);
    eng_close(E);
    vm_shutdown();
    free(rd);
    free(first);
    free(bare);
    free(box);
    free(st);
    free(pr);
    nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    if (failed)
        fprintf(stderr, "bench_vm: some operations failed\n");
    return failed ? 1 : 0;
}
