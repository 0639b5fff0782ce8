/*
 * session.c - agent sessions: the createSession, sendPrompt and
 * closeSession actions, the registry of live sessions and their files.
 *
 * A session is one agent process speaking ACP (acp.c) in a sandbox of
 * its own (proc.c) that sees the VM's files; its environment holds the
 * session's credentials, which the VM's exec commands, in the VM's
 * shared sandbox (box.c), must not see.  It lives in memory only: it ends with closeSession, when the
 * daemon stops, or after an hour unused (a step that died between
 * createSession and closeSession must not leave its agent running
 * forever; steps open and close their sessions, so a replay never needs
 * an old one).  Its files are DATA/vm/NAME/sessions/ID/info
 * (JSON, replaced atomically) and transcript (JSON lines, appended and
 * flushed as they come so `tail -f` follows).  The session's env values
 * are its credentials: they reach the agent's environment and nothing
 * else (redact.c).
 */
#include "vm_acp.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

typedef struct sess {
    char id[48];
    char *vm, *agent, *command;
    vm__acp *acp;
    vm__redact red;
    int tfd;
    int busy;
    int prompts;
    const char *status;
    char *stop_reason;
    char *error;
    int64_t created_ms;
    int64_t used_ms; /* when an action last had it */
    struct sess *next;
} sess;

#define IDLE_MS (3600 * 1000)

static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static sess *reg;

static const char *const base_env[] = {
    "HOME=/home/user",
    "PATH=/home/user/.local/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "USER=user",
    "LOGNAME=user",
    "SHELL=/bin/sh",
    "LANG=C.UTF-8",
    "TMPDIR=/tmp",
};

static void iso_time(int64_t ms, char *buf, size_t len)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    size_t n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, len - n, ".%03dZ", (int)(ms % 1000));
}

static int sess_dir(const sess *s, const char *file, char *buf, size_t len)
{
    int n = snprintf(buf, len, "%s/vm/%s/sessions/%s%s%s", vm__conf_data_dir(),
                     s->vm, s->id, file ? "/" : "", file ? file : "");
    return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* info: written aside and renamed, so a reader sees old or new. */
static void write_info(sess *s)
{
    char path[4096], tmp[4200], t1[40], t2[40];
    cJSON *j = cJSON_CreateObject();
    iso_time(s->created_ms, t1, sizeof t1);
    iso_time(eng_now_ms(), t2, sizeof t2);
    cJSON_AddStringToObject(j, "id", s->id);
    cJSON_AddStringToObject(j, "vm", s->vm);
    cJSON_AddStringToObject(j, "agent", s->agent);
    cJSON_AddStringToObject(j, "command", s->command ? s->command : "");
    cJSON_AddStringToObject(j, "status", s->status);
    if (s->stop_reason)
        cJSON_AddStringToObject(j, "stopReason", s->stop_reason);
    else
        cJSON_AddNullToObject(j, "stopReason");
    cJSON_AddNumberToObject(j, "prompts", s->prompts);
    if (s->error)
        cJSON_AddStringToObject(j, "error", s->error);
    else
        cJSON_AddNullToObject(j, "error");
    cJSON_AddStringToObject(j, "createdAt", t1);
    cJSON_AddStringToObject(j, "updatedAt", t2);
    char *text = cJSON_Print(j);
    cJSON_Delete(j);
    char *clean = text ? vm__redact_str(&s->red, text) : NULL;
    free(text);
    if (clean == NULL || sess_dir(s, "info", path, sizeof path) < 0) {
        free(clean);
        return;
    }
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    size_t n = strlen(clean);
    clean[n] = '\n';
    int ok = fd >= 0 && write(fd, clean, n + 1) == (ssize_t)(n + 1);
    if (fd >= 0 && close(fd) < 0)
        ok = 0;
    if (!ok || rename(tmp, path) < 0)
        eng_log("vm@%s: session %s: writing info: %s", s->vm, s->id, strerror(errno));
    free(clean);
}

static void record(void *ud, const char *line)
{
    sess *s = ud;
    size_t n = strlen(line);
    char *buf = malloc(n + 1);
    if (buf == NULL)
        return;
    memcpy(buf, line, n);
    buf[n] = '\n';
    /* One write per line with O_APPEND: `tail -f` never sees half a line. */
    if (s->tfd >= 0 && write(s->tfd, buf, n + 1) < 0)
        eng_log("vm@%s: session %s: transcript: %s", s->vm, s->id, strerror(errno));
    free(buf);
}

static void sess_free(sess *s)
{
    if (s->tfd >= 0)
        close(s->tfd);
    vm__redact_free(&s->red);
    free(s->vm);
    free(s->agent);
    free(s->command);
    free(s->stop_reason);
    free(s->error);
    free(s);
}

static void set_error(sess *s, const char *status, const char *error)
{
    s->status = status;
    free(s->error);
    s->error = error ? vm__redact_str(&s->red, error) : NULL;
    write_info(s);
}

static int make_id(char *buf, size_t len)
{
    unsigned char r[3];
    if (getrandom(r, sizeof r, 0) != sizeof r)
        return -errno;
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    size_t n = strftime(buf, len, "%Y%m%d-%H%M%S", &tm);
    snprintf(buf + n, len - n, "-%02x%02x%02x", r[0], r[1], r[2]);
    return 0;
}

/* The agent's environment: the sandbox's, then the session's env. */
static int build_env(sess *s, const cJSON *env, char ***out, char *err, size_t errlen)
{
    size_t nb = sizeof base_env / sizeof base_env[0];
    size_t n = nb + (size_t)cJSON_GetArraySize(env);
    char **v = calloc(n + 1, sizeof *v);
    if (v == NULL)
        return -ENOMEM;
    size_t k = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, env) {
        if (!cJSON_IsString(e) || e->string[0] == '\0' || strchr(e->string, '=')) {
            vm__err(err, errlen, "createSession: env must map names to strings");
            goto bad;
        }
        if (vm__redact_add(&s->red, e->valuestring) < 0 ||
            asprintf(&v[k++], "%s=%s", e->string, e->valuestring) < 0)
            goto oom;
    }
    for (size_t i = 0; i < nb; i++) {
        size_t kl = strcspn(base_env[i], "=") + 1;
        int overridden = 0;
        for (size_t j = 0; j < k && !overridden; j++)
            overridden = strncmp(v[j], base_env[i], kl) == 0;
        if (!overridden && (v[k++] = strdup(base_env[i])) == NULL)
            goto oom;
    }
    *out = v;
    return 0;
oom:
    vm__err(err, errlen, "out of memory");
bad:
    for (size_t i = 0; i < n; i++) {
        if (v[i] != NULL)
            memset(v[i], 0, strlen(v[i]));
        free(v[i]);
    }
    free(v);
    return -EINVAL;
}

static void env_free(char **v)
{
    for (size_t i = 0; v != NULL && v[i] != NULL; i++) {
        memset(v[i], 0, strlen(v[i]));
        free(v[i]);
    }
    free(v);
}

static const char *policy_of(const cJSON *args, char *err, size_t errlen)
{
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(args, "permission");
    const char *v = cJSON_IsString(p) ? p->valuestring : getenv("ACTORFS_PERMISSION");
    if (v == NULL || v[0] == '\0')
        return "inside";
    if (strcmp(v, "inside") == 0 || strcmp(v, "allow") == 0 || strcmp(v, "deny") == 0)
        return v;
    vm__err(err, errlen, "permission policy '%s': use inside, allow or deny", v);
    return NULL;
}

static void end_session(sess *s, const char *status);

/* Ends the sessions nobody used for IDLE_MS (checked when a new one is
 * made: that is when their agents would pile up). */
static void reap_idle(void)
{
    int64_t now = vm__mono_ms();
    sess *idle = NULL;
    pthread_mutex_lock(&reg_mu);
    for (sess **pp = &reg; *pp != NULL;) {
        sess *s = *pp;
        if (!s->busy && now - s->used_ms > IDLE_MS) {
            *pp = s->next;
            s->next = idle;
            idle = s;
        } else {
            pp = &s->next;
        }
    }
    pthread_mutex_unlock(&reg_mu);
    while (idle != NULL) {
        sess *next = idle->next;
        eng_log("vm@%s: session %s unused for an hour: closing it", idle->vm, idle->id);
        end_session(idle, "expired");
        idle = next;
    }
}

int vm__session_create_action(eng_actx *a, const cJSON *args, cJSON **result)
{
    const char *vm = eng_actx_key(a);
    const cJSON *agent = cJSON_GetObjectItemCaseSensitive(args, "agent");
    const cJSON *env = cJSON_GetObjectItemCaseSensitive(args, "env");
    char err[1024] = "", path[4096];
    if (!cJSON_IsString(agent) || agent->valuestring[0] == '\0') {
        eng_actx_error(a, "createSession needs {\"agent\":\"NAME\"}");
        return -EINVAL;
    }
    if (env != NULL && !cJSON_IsObject(env) && !cJSON_IsNull(env)) {
        eng_actx_error(a, "createSession: env must be an object of strings");
        return -EINVAL;
    }
    const char *policy = policy_of(args, err, sizeof err);
    if (policy == NULL) {
        eng_actx_error(a, "%s", err);
        return -EINVAL;
    }
    if (vm__disabled() != NULL) {
        eng_actx_error(a, "vm@%s: %s", vm, vm__disabled());
        return -ENOSYS;
    }
    int rc = vm__dirs_create(vm, err, sizeof err);
    if (rc < 0) {
        eng_actx_error(a, "vm@%s: %s", vm, err);
        return rc;
    }
    reap_idle();
    char *command = NULL;
    if ((rc = vm__conf_agent(agent->valuestring, &command, err, sizeof err)) < 0) {
        eng_actx_error(a, "%s", err);
        return rc;
    }
    if (strstr(command, VM__AGENT_MOUNT) != NULL) {
        snprintf(path, sizeof path, "%s/node_modules/@agentclientprotocol/sdk/package.json",
                 vm__conf_agent_dir());
        if (access(path, R_OK) != 0) {
            free(command);
            eng_actx_error(a, "agent '%s': the test agent's ACP SDK is not installed "
                           "in %s; run scripts/deps (or: cd vm/agent && npm install)",
                           agent->valuestring, vm__conf_agent_dir());
            return -ENOENT;
        }
    }
    if ((rc = eng_fault("spawn")) != 0) {
        free(command);
        eng_actx_error(a, "vm@%s: starting agent '%s' failed: %s (fault injected)", vm,
                       agent->valuestring, strerror(-rc));
        return rc;
    }
    sess *s = calloc(1, sizeof *s);
    if (s == NULL) {
        free(command);
        return -ENOMEM;
    }
    s->tfd = -1;
    s->vm = strdup(vm);
    s->agent = strdup(agent->valuestring);
    s->command = command;
    s->status = "starting";
    s->created_ms = eng_now_ms();
    s->used_ms = vm__mono_ms();
    char **envv = NULL;
    if (s->vm == NULL || s->agent == NULL || make_id(s->id, sizeof s->id) < 0 ||
        sess_dir(s, NULL, path, sizeof path) < 0) {
        sess_free(s);
        eng_actx_error(a, "vm@%s: cannot make a session id", vm);
        return -ENOMEM;
    }
    if (mkdir(path, 0755) < 0) {
        rc = -errno;
        eng_actx_error(a, "vm@%s: mkdir %s: %s", vm, path, strerror(errno));
        sess_free(s);
        return rc;
    }
    if (sess_dir(s, "transcript", path, sizeof path) < 0) {
        eng_actx_error(a, "vm@%s: session path too long", vm);
        sess_free(s);
        return -ENAMETOOLONG;
    }
    s->tfd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (s->tfd < 0) {
        rc = -errno;
        eng_actx_error(a, "vm@%s: %s: %s", vm, path, strerror(errno));
        sess_free(s);
        return rc;
    }
    if ((rc = build_env(s, env, &envv, err, sizeof err)) < 0) {
        eng_actx_error(a, "%s", err);
        sess_free(s);
        return rc;
    }
    write_info(s);
    vm__live_add(vm, 1);
    vm__acp_opts o = {.vm = vm, .agent = s->agent, .command = s->command,
                      .policy = policy, .env = envv, .red = &s->red,
                      .record = record, .ud = s};
    rc = vm__acp_start(&o, a, &s->acp, err, sizeof err);
    env_free(envv);
    if (rc < 0) {
        vm__acp_close(s->acp);
        s->acp = NULL;
        set_error(s, "failed", err);
        char *clean = vm__redact_str(&s->red, err);
        eng_actx_error(a, "vm@%s: %s", vm, clean ? clean : "agent failed");
        eng_log("vm@%s: session %s: %s", vm, s->id, clean ? clean : "agent failed");
        free(clean);
        vm__live_add(vm, -1);
        sess_free(s);
        return rc;
    }
    s->status = "ready";
    write_info(s);
    eng_log("vm@%s: session %s started (agent %s)", vm, s->id, s->agent);
    cJSON *r = cJSON_CreateObject();
    if (r == NULL || cJSON_AddStringToObject(r, "sessionId", s->id) == NULL) {
        cJSON_Delete(r);
        vm__acp_close(s->acp);
        vm__live_add(vm, -1);
        sess_free(s);
        return -ENOMEM;
    }
    pthread_mutex_lock(&reg_mu);
    s->next = reg;
    reg = s;
    pthread_mutex_unlock(&reg_mu);
    *result = r;
    return 0;
}

/* Finds VM's session ID and marks it busy (one action at a time). */
static sess *take(eng_actx *a, const cJSON *args, const char *action, int *rc)
{
    const char *vm = eng_actx_key(a);
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(args, "sessionId");
    if (!cJSON_IsString(id)) {
        eng_actx_error(a, "%s needs {\"sessionId\":\"...\"}", action);
        *rc = -EINVAL;
        return NULL;
    }
    pthread_mutex_lock(&reg_mu);
    sess *s = reg;
    while (s != NULL && (strcmp(s->id, id->valuestring) != 0 || strcmp(s->vm, vm) != 0))
        s = s->next;
    if (s != NULL && s->busy) {
        pthread_mutex_unlock(&reg_mu);
        eng_actx_error(a, "vm@%s: session %s is busy with another prompt", vm,
                       id->valuestring);
        *rc = -EBUSY;
        return NULL;
    }
    if (s != NULL) {
        s->busy = 1;
        s->used_ms = vm__mono_ms();
    }
    pthread_mutex_unlock(&reg_mu);
    if (s == NULL) {
        eng_actx_error(a, "vm@%s: no live session '%s' (sessions end with "
                       "closeSession or when the daemon stops)", vm, id->valuestring);
        *rc = -ENOENT;
    }
    return s;
}

static void give_back(sess *s)
{
    pthread_mutex_lock(&reg_mu);
    s->busy = 0;
    s->used_ms = vm__mono_ms();
    pthread_mutex_unlock(&reg_mu);
}

int vm__session_prompt_action(eng_actx *a, const cJSON *args, cJSON **result)
{
    const cJSON *text = cJSON_GetObjectItemCaseSensitive(args, "text");
    int rc = 0;
    if (!cJSON_IsString(text)) {
        eng_actx_error(a, "sendPrompt needs {\"sessionId\":\"...\",\"text\":\"...\"}");
        return -EINVAL;
    }
    sess *s = take(a, args, "sendPrompt", &rc);
    if (s == NULL)
        return rc;
    char err[1024] = "";
    char *stop = NULL, *reply = NULL;
    s->status = "prompting";
    s->prompts++;
    write_info(s);
    rc = vm__acp_prompt(s->acp, text->valuestring, a, &stop, &reply, err, sizeof err);
    if (rc < 0) {
        set_error(s, vm__acp_alive(s->acp) ? "ready" : "failed", err);
        char *clean = vm__redact_str(&s->red, err);
        eng_actx_error(a, "vm@%s: session %s: %s", s->vm, s->id, clean ? clean : "failed");
        free(clean);
    } else {
        free(s->stop_reason);
        s->stop_reason = strdup(stop);
        s->status = vm__acp_alive(s->acp) ? "ready" : "failed";
        write_info(s);
        cJSON *r = cJSON_CreateObject();
        if (r == NULL || cJSON_AddStringToObject(r, "stopReason", stop) == NULL ||
            cJSON_AddStringToObject(r, "text", reply) == NULL) {
            cJSON_Delete(r);
            rc = -ENOMEM;
        } else {
            *result = r;
        }
    }
    free(stop);
    free(reply);
    give_back(s);
    return rc;
}

static void end_session(sess *s, const char *status)
{
    vm__acp_close(s->acp);
    s->acp = NULL;
    s->status = status;
    write_info(s);
    vm__live_add(s->vm, -1);
    sess_free(s);
}

int vm__session_close_action(eng_actx *a, const cJSON *args, cJSON **result)
{
    int rc = 0;
    sess *s = take(a, args, "closeSession", &rc);
    if (s == NULL)
        return rc;
    pthread_mutex_lock(&reg_mu);
    sess **pp = &reg;
    while (*pp != s)
        pp = &(*pp)->next;
    *pp = s->next;
    pthread_mutex_unlock(&reg_mu);
    end_session(s, "closed");
    *result = cJSON_CreateObject();
    return *result ? 0 : -ENOMEM;
}

void vm__sessions_shutdown(void)
{
    pthread_mutex_lock(&reg_mu);
    sess *s = reg;
    reg = NULL;
    pthread_mutex_unlock(&reg_mu);
    while (s != NULL) {
        sess *next = s->next;
        end_session(s, "ended");
        s = next;
    }
}

/* Marks one info file of a session that was live when the daemon
 * stopped: its agent is gone, and info should say so. */
static void recover_info(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    char buf[8192];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return;
    buf[n] = '\0';
    cJSON *j = cJSON_Parse(buf);
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(j, "status");
    if (cJSON_IsString(st) && (strcmp(st->valuestring, "starting") == 0 ||
                               strcmp(st->valuestring, "ready") == 0 ||
                               strcmp(st->valuestring, "prompting") == 0)) {
        char tmp[4200], now[40];
        iso_time(eng_now_ms(), now, sizeof now);
        const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
        int keep_error = cJSON_IsString(e);
        cJSON_DeleteItemFromObjectCaseSensitive(j, "status");
        cJSON_DeleteItemFromObjectCaseSensitive(j, "updatedAt");
        cJSON_AddStringToObject(j, "status", "ended");
        cJSON_AddStringToObject(j, "updatedAt", now);
        if (!keep_error) {
            cJSON_DeleteItemFromObjectCaseSensitive(j, "error");
            cJSON_AddStringToObject(j, "error", "the daemon stopped while the session was live");
        }
        char *text = cJSON_Print(j);
        snprintf(tmp, sizeof tmp, "%s.tmp", path);
        int out = text ? open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644) : -1;
        int ok = out >= 0 && write(out, text, strlen(text)) == (ssize_t)strlen(text) &&
                 write(out, "\n", 1) == 1;
        if (out >= 0 && close(out) < 0)
            ok = 0;
        if (!ok || rename(tmp, path) < 0)
            eng_log("vm: marking %s ended: %s", path, strerror(errno));
        free(text);
    }
    cJSON_Delete(j);
}

void vm__sessions_recover(void)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/vm", vm__conf_data_dir());
    DIR *vms = opendir(path);
    struct dirent *v;
    while (vms != NULL && (v = readdir(vms)) != NULL) {
        if (v->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/vm/%s/sessions", vm__conf_data_dir(), v->d_name);
        DIR *ss = opendir(path);
        struct dirent *s;
        while (ss != NULL && (s = readdir(ss)) != NULL) {
            char info[4096];
            if (s->d_name[0] == '.')
                continue;
            int len = snprintf(info, sizeof info, "%s/vm/%s/sessions/%s/info",
                               vm__conf_data_dir(), v->d_name, s->d_name);
            if (len > 0 && (size_t)len < sizeof info)
                recover_info(info);
        }
        if (ss != NULL)
            closedir(ss);
    }
    if (vms != NULL)
        closedir(vms);
}
