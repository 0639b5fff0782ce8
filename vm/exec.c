/*
 * exec.c - the exec, readFile and writeFile actions.
 *
 * exec runs `sh -c CMD` in the VM's sandbox (box.c) from the loop thread
 * and waits for it here, on the action's thread, polling its deadline and
 * the action's cancellation (a step timeout or cancel) so that either
 * kills the whole process tree.  stdout and stderr are kept up to 1 MiB each;
 * beyond that the result says "truncated" and the text ends with a marker
 * line.
 */
#include "vm_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DEFAULT_TIMEOUT_MS 300000
#define POLL_MS 20

static char *exec_env[] = {
    "HOME=/home/user",
    "PATH=/home/user/.local/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "USER=user",
    "LOGNAME=user",
    "SHELL=/bin/sh",
    "LANG=C.UTF-8",
    "TMPDIR=/tmp",
    NULL,
};

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    const char *vm;
    const char *cmd;
    vm__run *r;
    vm__buf out, err;
    int out_trunc, err_trunc;
    int done;
    int64_t status;
    int sig, oom;
    int spawn_rc;
    char reason[512];
} job;

static void keep(vm__buf *b, int *trunc, const char *buf, size_t n)
{
    if (b->n + n > VM__OUTPUT_CAP) {
        *trunc = 1;
        n = VM__OUTPUT_CAP - b->n;
    }
    if (n > 0 && vm__buf_add(b, buf, n) < 0)
        *trunc = 1;
}

static void on_out(void *ud, const char *buf, size_t n)
{
    job *j = ud;
    keep(&j->out, &j->out_trunc, buf, n);
}

static void on_err(void *ud, const char *buf, size_t n)
{
    job *j = ud;
    keep(&j->err, &j->err_trunc, buf, n);
}

static void on_done(void *ud, int64_t status, int sig, int oom)
{
    job *j = ud;
    pthread_mutex_lock(&j->mu);
    j->r = NULL;
    j->status = status;
    j->sig = sig;
    j->oom = oom;
    j->done = 1;
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&j->mu);
}

static void start(void *arg)
{
    job *j = arg;
    const char *cmd[] = {"sh", "-c", j->cmd, NULL};
    vm__proc_cbs cbs = {on_out, on_err, on_done, j};
    j->spawn_rc = vm__box_run(j->vm, cmd, exec_env, &cbs, &j->r, j->reason,
                              sizeof j->reason);
    if (j->spawn_rc < 0) {
        pthread_mutex_lock(&j->mu);
        j->done = 1;
        pthread_mutex_unlock(&j->mu);
    }
}

static void kill_job(void *arg)
{
    job *j = arg;
    vm__box_kill(j->r);
}

static cJSON *text_of(vm__buf *b, int trunc)
{
    if (trunc) {
        char mark[128];
        snprintf(mark, sizeof mark, "%s[actorfs: output truncated at %d bytes]\n",
                 b->n > 0 && b->p[b->n - 1] != '\n' ? "\n" : "", VM__OUTPUT_CAP);
        vm__buf_str(b, mark);
    }
    char *s = vm__utf8_clean(b->p ? b->p : "", b->n);
    cJSON *j = s ? cJSON_CreateString(s) : NULL;
    free(s);
    return j;
}

static int vm_ready(eng_actx *a, const char *vm)
{
    char err[512];
    int rc = vm__dirs_create(vm, err, sizeof err);
    if (rc < 0)
        eng_actx_error(a, "vm@%s: %s", vm, err);
    return rc;
}


int vm__exec_action(eng_actx *a, const cJSON *args, cJSON **result)
{
    const char *vm = eng_actx_key(a);
    const cJSON *cmd = cJSON_GetObjectItemCaseSensitive(args, "cmd");
    const cJSON *tmo = cJSON_GetObjectItemCaseSensitive(args, "timeoutMs");
    if (!cJSON_IsString(cmd) || cmd->valuestring[0] == '\0') {
        eng_actx_error(a, "exec needs {\"cmd\":\"...\"}");
        return -EINVAL;
    }
    if (tmo != NULL && (!cJSON_IsNumber(tmo) || tmo->valuedouble <= 0)) {
        eng_actx_error(a, "exec: timeoutMs must be a positive number");
        return -EINVAL;
    }
    if (vm__disabled() != NULL) {
        eng_actx_error(a, "vm@%s: %s", vm, vm__disabled());
        return -ENOSYS;
    }
    int rc = vm_ready(a, vm);
    if (rc < 0)
        return rc;
    if ((rc = eng_fault("spawn")) != 0) {
        eng_actx_error(a, "vm@%s: spawning the sandbox failed: %s (fault injected)",
                       vm, strerror(-rc));
        return rc;
    }
    int64_t timeout = tmo ? (int64_t)tmo->valuedouble : DEFAULT_TIMEOUT_MS;
    job j = {.vm = vm, .cmd = cmd->valuestring};
    pthread_mutex_init(&j.mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&j.cv, &ca);
    pthread_condattr_destroy(&ca);
    vm__live_add(vm, 1);
    int64_t deadline = vm__mono_ms() + timeout;
    int timed_out = 0, cancelled = 0;
    rc = vm__loop_call(start, &j);
    if (rc < 0) {
        j.spawn_rc = rc;
        snprintf(j.reason, sizeof j.reason, "the VM backend is shutting down");
        j.done = 1;
    }
    pthread_mutex_lock(&j.mu);
    while (!j.done) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_nsec += POLL_MS * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&j.cv, &j.mu, &ts);
        if (j.done || timed_out || cancelled)
            continue;
        if (vm__mono_ms() >= deadline)
            timed_out = 1;
        else if (eng_actx_cancelled(a))
            cancelled = 1;
        else
            continue;
        pthread_mutex_unlock(&j.mu);
        vm__loop_call(kill_job, &j);
        pthread_mutex_lock(&j.mu);
    }
    pthread_mutex_unlock(&j.mu);
    vm__live_add(vm, -1);
    if (j.spawn_rc < 0) {
        rc = j.spawn_rc;
        eng_actx_error(a, "vm@%s: %s", vm, j.reason);
    } else if (cancelled) {
        rc = -ECANCELED;
        eng_actx_error(a, "vm@%s: exec cancelled (the step timed out or was "
                       "cancelled); its processes were killed", vm);
    } else {
        cJSON *r = cJSON_CreateObject();
        int code = j.sig ? 128 + j.sig : (int)j.status;
        if (r == NULL ||
            cJSON_AddNumberToObject(r, "exitCode", code) == NULL ||
            !cJSON_AddItemToObject(r, "stdout", text_of(&j.out, j.out_trunc)) ||
            !cJSON_AddItemToObject(r, "stderr", text_of(&j.err, j.err_trunc)) ||
            cJSON_AddBoolToObject(r, "timedOut", timed_out) == NULL ||
            ((j.out_trunc || j.err_trunc) &&
             cJSON_AddBoolToObject(r, "truncated", 1) == NULL) ||
            (j.oom && cJSON_AddBoolToObject(r, "oomKilled", 1) == NULL)) {
            cJSON_Delete(r);
            eng_actx_error(a, "vm@%s: out of memory", vm);
            rc = -ENOMEM;
        } else {
            *result = r;
        }
    }
    vm__buf_free(&j.out);
    vm__buf_free(&j.err);
    pthread_cond_destroy(&j.cv);
    pthread_mutex_destroy(&j.mu);
    return rc;
}

int vm__read_action(eng_actx *a, const cJSON *args, cJSON **result)
{
    const char *vm = eng_actx_key(a);
    const cJSON *path = cJSON_GetObjectItemCaseSensitive(args, "path");
    char err[512];
    char *data;
    size_t len;
    if (!cJSON_IsString(path)) {
        eng_actx_error(a, "readFile needs {\"path\":\"/home/user/...\"}");
        return -EINVAL;
    }
    int rc = vm_ready(a, vm);
    if (rc < 0)
        return rc;
    if ((rc = vm__file_read(vm, path->valuestring, &data, &len, err, sizeof err)) < 0) {
        eng_actx_error(a, "vm@%s: readFile %s", vm, err);
        return rc;
    }
    char *text = vm__utf8_clean(data, len);
    free(data);
    cJSON *r = cJSON_CreateObject();
    if (text == NULL || r == NULL || cJSON_AddStringToObject(r, "content", text) == NULL) {
        free(text);
        cJSON_Delete(r);
        eng_actx_error(a, "vm@%s: out of memory", vm);
        return -ENOMEM;
    }
    free(text);
    *result = r;
    return 0;
}

int vm__write_action(eng_actx *a, const cJSON *args, cJSON **result)
{
    const char *vm = eng_actx_key(a);
    const cJSON *path = cJSON_GetObjectItemCaseSensitive(args, "path");
    const cJSON *content = cJSON_GetObjectItemCaseSensitive(args, "content");
    char err[512];
    if (!cJSON_IsString(path) || !cJSON_IsString(content)) {
        eng_actx_error(a, "writeFile needs {\"path\":\"/home/user/...\",\"content\":\"...\"}");
        return -EINVAL;
    }
    int rc = vm_ready(a, vm);
    if (rc < 0)
        return rc;
    rc = vm__file_write(vm, path->valuestring, content->valuestring,
                        strlen(content->valuestring), err, sizeof err);
    if (rc < 0) {
        eng_actx_error(a, "vm@%s: writeFile %s", vm, err);
        return rc;
    }
    *result = cJSON_CreateObject();
    return *result ? 0 : -ENOMEM;
}
