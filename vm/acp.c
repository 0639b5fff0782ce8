/*
 * acp.c - an Agent Client Protocol client: JSON-RPC 2.0, one message a
 * line, over the stdio of an agent running in the VM's sandbox.
 *
 * The loop thread reads the agent's lines and classifies them by shape
 * (method+id: the agent asks us; method only: a notification; id with
 * result or error: the answer to our request), because the agent's
 * request ids overlap ours.  It answers the agent's requests itself:
 * session/request_permission by the session's policy, fs/read_text_file
 * and fs/write_text_file inside the VM (path.c), anything else -32601.
 * Every message is recorded for the transcript, credentials redacted.
 * Action threads send one request at a time and wait for its answer, as
 * the protocol wants (the official SDK refuses session/new before the
 * initialize answer); a cancelled prompt sends session/cancel and waits
 * for the agent's "cancelled".
 */
#include "vm_acp.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define POLL_MS 20
#define START_TIMEOUT_MS 60000
#define CANCEL_GRACE_MS 10000
#define ERRTAIL 2048
#define LINE_CAP (64 * 1024 * 1024)

struct vm__acp {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    char *vm, *agent, *command, *policy;
    const vm__redact *red;
    vm__acp_record_fn record;
    void *ud;
    vm__proc *p;
    vm__buf line;
    vm__buf errtail;
    vm__buf text, held;
    int64_t next_id;
    int64_t wait_id;
    int wait_done;
    cJSON *wait_msg;
    int exited;
    int64_t status;
    int sig;
    char *agent_sid;
};

typedef struct {
    vm__acp *c;
    cJSON *msg;
    char **env;
    int rc;
    char err[512];
} call;

/* ---- recording and sending (loop thread) ------------------------------ */

static void record_json(vm__acp *c, const cJSON *msg)
{
    char *s = cJSON_PrintUnformatted(msg);
    char *r = s ? vm__redact_str(c->red, s) : NULL;
    if (r != NULL)
        c->record(c->ud, r);
    free(s);
    free(r);
}

static void send_msg(vm__acp *c, cJSON *msg)
{
    char *s = cJSON_PrintUnformatted(msg);
    if (s == NULL)
        return;
    size_t n = strlen(s);
    s[n] = '\n';
    if (c->p != NULL)
        vm__proc_write(c->p, s, n + 1);
    s[n] = '\0';
    record_json(c, msg);
    free(s);
}

static void reply(vm__acp *c, const cJSON *id, cJSON *result, int code,
                  const char *message)
{
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "jsonrpc", "2.0");
    cJSON_AddItemToObject(m, "id", cJSON_Duplicate(id, 1));
    if (result != NULL) {
        cJSON_AddItemToObject(m, "result", result);
    } else {
        cJSON *e = cJSON_AddObjectToObject(m, "error");
        cJSON_AddNumberToObject(e, "code", code);
        cJSON_AddStringToObject(e, "message", message);
    }
    send_msg(c, m);
    cJSON_Delete(m);
}

/* ---- the agent's requests (loop thread) ------------------------------ */

static int vm_path_inside(const char *p)
{
    return p[0] == '/' && strstr(p, "/../") == NULL &&
           (strcmp(p, "/home/user") == 0 || strncmp(p, "/home/user/", 11) == 0 ||
            strcmp(p, "/tmp") == 0 || strncmp(p, "/tmp/", 5) == 0);
}

/* "inside": allowed when every path the tool call names is in the VM's
 * writable part; the agent runs sandboxed, so nothing else can be hurt. */
static int permission_inside(const cJSON *tool)
{
    const cJSON *loc, *locs = cJSON_GetObjectItemCaseSensitive(tool, "locations");
    cJSON_ArrayForEach(loc, locs) {
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(loc, "path");
        if (cJSON_IsString(p) && !vm_path_inside(p->valuestring))
            return 0;
    }
    const cJSON *raw = cJSON_GetObjectItemCaseSensitive(tool, "rawInput");
    static const char *const keys[] = {"path", "file_path", "filePath"};
    for (size_t i = 0; i < 3; i++) {
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(raw, keys[i]);
        if (cJSON_IsString(p) && !vm_path_inside(p->valuestring))
            return 0;
    }
    return 1;
}

static const char *option_of_kind(const cJSON *options, const char *kind)
{
    const cJSON *o;
    cJSON_ArrayForEach(o, options) {
        const cJSON *k = cJSON_GetObjectItemCaseSensitive(o, "kind");
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(o, "optionId");
        if (cJSON_IsString(k) && cJSON_IsString(id) && strcmp(k->valuestring, kind) == 0)
            return id->valuestring;
    }
    return NULL;
}

static cJSON *answer_permission(vm__acp *c, const cJSON *params)
{
    const cJSON *options = cJSON_GetObjectItemCaseSensitive(params, "options");
    int allow = strcmp(c->policy, "allow") == 0 ||
                (strcmp(c->policy, "inside") == 0 &&
                 permission_inside(cJSON_GetObjectItemCaseSensitive(params, "toolCall")));
    const char *id = allow ? option_of_kind(options, "allow_once") : option_of_kind(options, "reject_once");
    if (id == NULL)
        id = allow ? option_of_kind(options, "allow_always")
                   : option_of_kind(options, "reject_always");
    cJSON *r = cJSON_CreateObject();
    cJSON *o = cJSON_AddObjectToObject(r, "outcome");
    if (id != NULL) {
        cJSON_AddStringToObject(o, "outcome", "selected");
        cJSON_AddStringToObject(o, "optionId", id);
    } else {
        cJSON_AddStringToObject(o, "outcome", "cancelled");
    }
    return r;
}

/* Lines [line, line+limit) of TEXT (1-based), as the ACP schema says. */
static char *slice_lines(const char *text, const cJSON *line, const cJSON *limit)
{
    long first = cJSON_IsNumber(line) && line->valuedouble >= 1 ? (long)line->valuedouble : 1;
    long max = cJSON_IsNumber(limit) && limit->valuedouble >= 0 ? (long)limit->valuedouble : -1;
    const char *p = text;
    for (long i = 1; i < first && *p; i++) {
        const char *nl = strchr(p, '\n');
        p = nl ? nl + 1 : p + strlen(p);
    }
    const char *end = p;
    for (long i = 0; *end && (max < 0 || i < max); i++) {
        const char *nl = strchr(end, '\n');
        end = nl ? nl + 1 : end + strlen(end);
    }
    return strndup(p, (size_t)(end - p));
}

static void handle_request(vm__acp *c, const cJSON *msg)
{
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(msg, "id");
    const char *method = cJSON_GetObjectItemCaseSensitive(msg, "method")->valuestring;
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(msg, "params");
    const cJSON *path = cJSON_GetObjectItemCaseSensitive(params, "path");
    char err[600];
    if (strcmp(method, "session/request_permission") == 0) {
        reply(c, id, answer_permission(c, params), 0, NULL);
    } else if (strcmp(method, "fs/read_text_file") == 0) {
        char *data = NULL, *text = NULL;
        size_t len;
        int rc = cJSON_IsString(path)
                     ? vm__file_read(c->vm, path->valuestring, &data, &len, err, sizeof err)
                     : (snprintf(err, sizeof err, "params.path is required"), -EINVAL);
        if (rc == 0 && (text = vm__utf8_clean(data, len)) != NULL) {
            char *part = slice_lines(text, cJSON_GetObjectItemCaseSensitive(params, "line"),
                                     cJSON_GetObjectItemCaseSensitive(params, "limit"));
            cJSON *r = cJSON_CreateObject();
            cJSON_AddStringToObject(r, "content", part ? part : "");
            reply(c, id, r, 0, NULL);
            free(part);
        } else {
            reply(c, id, NULL, rc == -ENOENT ? -32002 : -32603, rc ? err : "out of memory");
        }
        free(data);
        free(text);
    } else if (strcmp(method, "fs/write_text_file") == 0) {
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(params, "content");
        int rc = cJSON_IsString(path) && cJSON_IsString(content)
                     ? vm__file_write(c->vm, path->valuestring, content->valuestring,
                                      strlen(content->valuestring), err, sizeof err)
                     : (snprintf(err, sizeof err, "params.path and params.content are required"),
                        -EINVAL);
        if (rc == 0)
            reply(c, id, cJSON_CreateObject(), 0, NULL);
        else
            reply(c, id, NULL, -32603, err);
    } else {
        char m[300];
        snprintf(m, sizeof m, "Method not found: %s", method);
        reply(c, id, NULL, -32601, m);
    }
}

/* ---- notifications and responses (loop thread) ----------------------- */

static void take_text(vm__acp *c, const char *text)
{
    vm__buf_str(&c->held, text);
    size_t safe = vm__redact_safe_len(c->red, c->held.p, c->held.n);
    char *part = strndup(c->held.p, safe);
    char *clean = part ? vm__redact_str(c->red, part) : NULL;
    if (clean != NULL)
        vm__buf_str(&c->text, clean);
    memmove(c->held.p, c->held.p + safe, c->held.n - safe + 1);
    c->held.n -= safe;
    free(part);
    free(clean);
}

static void handle_update(vm__acp *c, cJSON *msg)
{
    cJSON *update = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(msg, "params"), "update");
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(update, "sessionUpdate");
    cJSON *content = cJSON_GetObjectItemCaseSensitive(update, "content");
    cJSON *text = cJSON_GetObjectItemCaseSensitive(content, "text");
    if (cJSON_IsString(kind) && strcmp(kind->valuestring, "agent_message_chunk") == 0 &&
        cJSON_IsString(text)) {
        /* Re-chunk the text so no secret crosses a line of the transcript. */
        size_t before = c->text.n;
        pthread_mutex_lock(&c->mu);
        take_text(c, text->valuestring);
        pthread_mutex_unlock(&c->mu);
        cJSON_ReplaceItemInObjectCaseSensitive(
            content, "text", cJSON_CreateString(c->text.p ? c->text.p + before : ""));
    }
    record_json(c, msg);
}

/* The tail held back for redaction is flushed at the end of a turn. */
static void flush_held(vm__acp *c)
{
    if (c->held.n == 0)
        return;
    char *clean = vm__redact_str(c->red, c->held.p);
    c->held.n = 0;
    c->held.p[0] = '\0';
    if (clean == NULL)
        return;
    vm__buf_str(&c->text, clean);
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "jsonrpc", "2.0");
    cJSON_AddStringToObject(m, "method", "session/update");
    cJSON *p = cJSON_AddObjectToObject(m, "params");
    cJSON_AddStringToObject(p, "sessionId", c->agent_sid ? c->agent_sid : "");
    cJSON *u = cJSON_AddObjectToObject(p, "update");
    cJSON_AddStringToObject(u, "sessionUpdate", "agent_message_chunk");
    cJSON *ct = cJSON_AddObjectToObject(u, "content");
    cJSON_AddStringToObject(ct, "type", "text");
    cJSON_AddStringToObject(ct, "text", clean);
    record_json(c, m);
    cJSON_Delete(m);
    free(clean);
}

static void handle_line(vm__acp *c, const char *line)
{
    cJSON *msg = cJSON_Parse(line);
    if (!cJSON_IsObject(msg)) {
        cJSON_Delete(msg);
        char *r = vm__redact_str(c->red, line);
        eng_log("vm@%s: agent '%s' wrote a line that is not JSON-RPC: %.200s",
                c->vm, c->agent, r ? r : "");
        free(r);
        return;
    }
    const cJSON *method = cJSON_GetObjectItemCaseSensitive(msg, "method");
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(msg, "id");
    if (cJSON_IsString(method) && id != NULL) {
        record_json(c, msg);
        handle_request(c, msg);
    } else if (cJSON_IsString(method)) {
        if (strcmp(method->valuestring, "session/update") == 0)
            handle_update(c, msg);
        else
            record_json(c, msg);
    } else if (cJSON_IsNumber(id)) {
        pthread_mutex_lock(&c->mu);
        int mine = !c->wait_done && (int64_t)id->valuedouble == c->wait_id;
        pthread_mutex_unlock(&c->mu);
        flush_held(c);
        record_json(c, msg);
        if (mine) {
            pthread_mutex_lock(&c->mu);
            c->wait_msg = msg;
            msg = NULL;
            c->wait_done = 1;
            pthread_cond_broadcast(&c->cv);
            pthread_mutex_unlock(&c->mu);
        }
    }
    cJSON_Delete(msg);
}

/* Splits the agent's stdout into lines; a line beyond the cap (no
 * newline for 64 MiB) is dropped whole rather than held in memory. */
static void on_out(void *ud, const char *buf, size_t n)
{
    vm__acp *c = ud;
    while (n > 0) {
        const char *nl = memchr(buf, '\n', n);
        size_t len = nl ? (size_t)(nl - buf) : n;
        if (c->line.n + len > LINE_CAP) {
            if (c->line.n <= LINE_CAP)
                eng_log("vm@%s: agent '%s' wrote a line over %d bytes; dropped", c->vm,
                        c->agent, LINE_CAP);
            c->line.n = LINE_CAP + 1;
        } else if (vm__buf_add(&c->line, buf, len) < 0) {
            c->line.n = LINE_CAP + 1;
        }
        if (nl == NULL)
            return;
        if (c->line.n > 0 && c->line.n <= LINE_CAP)
            handle_line(c, c->line.p);
        c->line.n = 0;
        buf = nl + 1;
        n -= len + 1;
    }
}

static void on_err(void *ud, const char *buf, size_t n)
{
    vm__acp *c = ud;
    pthread_mutex_lock(&c->mu);
    vm__buf_add(&c->errtail, buf, n);
    if (c->errtail.n > ERRTAIL) {
        size_t cut = c->errtail.n - ERRTAIL;
        memmove(c->errtail.p, c->errtail.p + cut, ERRTAIL + 1);
        c->errtail.n = ERRTAIL;
    }
    pthread_mutex_unlock(&c->mu);
}

static void on_done(void *ud, int64_t status, int sig, int oom)
{
    (void)oom;
    vm__acp *c = ud;
    vm__proc_free(c->p);
    pthread_mutex_lock(&c->mu);
    c->p = NULL;
    c->exited = 1;
    c->status = status;
    c->sig = sig;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

/* ---- the action threads' side ---------------------------------------- */

static void spawn_fn(void *arg)
{
    call *k = arg;
    vm__acp *c = k->c;
    char *cmdline = malloc(strlen(c->command) + 6);
    if (cmdline == NULL) {
        k->rc = -ENOMEM;
        return;
    }
    sprintf(cmdline, "exec %s", c->command);
    const char *cmd[] = {"sh", "-c", cmdline, NULL};
    vm__sandbox_spec spec = {.vm = c->vm, .cmd = cmd, .agent_dir = 1};
    vm__proc_cbs cbs = {on_out, on_err, on_done, c};
    k->rc = vm__proc_spawn(&spec, k->env, 1, &cbs, &c->p, k->err, sizeof k->err);
    free(cmdline);
}

static void send_fn(void *arg)
{
    call *k = arg;
    send_msg(k->c, k->msg);
}

static void kill_fn(void *arg)
{
    vm__acp *c = arg;
    vm__proc_kill(c->p);
}

static void notify(vm__acp *c, const char *method, cJSON *params)
{
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "jsonrpc", "2.0");
    cJSON_AddStringToObject(m, "method", method);
    cJSON_AddItemToObject(m, "params", params);
    call k = {.c = c, .msg = m};
    vm__loop_call(send_fn, &k);
    cJSON_Delete(m);
}

/* Why the agent is gone, with the end of its stderr (redacted). */
static void exit_reason(vm__acp *c, const char *when, char *err, size_t errlen)
{
    char tail[ERRTAIL + 1];
    pthread_mutex_lock(&c->mu);
    snprintf(tail, sizeof tail, "%s", c->errtail.p ? c->errtail.p : "");
    int64_t status = c->status;
    int sig = c->sig;
    pthread_mutex_unlock(&c->mu);
    size_t n = strlen(tail);
    while (n > 0 && (tail[n - 1] == '\n' || tail[n - 1] == ' '))
        tail[--n] = '\0';
    char *clean = vm__redact_str(c->red, tail);
    const char *hint = vm__conf_install_hint(c->command);
    if (!sig && status == 127) {
        int cl = (int)strcspn(c->command, " \t");
        char how[300];
        if (hint)
            snprintf(how, sizeof how, "install it with: %s, or ", hint);
        else
            snprintf(how, sizeof how, "install it where the VM sees it (/usr), or ");
        vm__err(err, errlen, "agent '%s': command '%.*s' not found in the VM; %s"
                "run actorfs with --agent %s=test for the offline test agent",
                c->agent, cl, c->command, how, c->agent);
    } else if (sig) {
        vm__err(err, errlen, "agent '%s' was killed by signal %d %s%s%s", c->agent,
                sig, when, clean && clean[0] ? "; its last output: " : "",
                clean ? clean : "");
    } else {
        vm__err(err, errlen, "agent '%s' exited with code %d %s%s%s", c->agent,
                (int)status, when, clean && clean[0] ? "; its last output: " : "",
                clean ? clean : "");
    }
    free(clean);
}

static int wait_until(pthread_cond_t *cv, pthread_mutex_t *mu, int ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_nsec += ms * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return pthread_cond_timedwait(cv, mu, &ts);
}

/* Sends METHOD and waits for its answer.  is_prompt: a cancelled action
 * cancels the turn (and waits for the agent to say so); otherwise a
 * cancelled action or the timeout ends the agent. */
static int request(vm__acp *c, const char *method, cJSON *params, eng_actx *a,
                   int is_prompt, cJSON **result, int *cancelled, char *err,
                   size_t errlen)
{
    pthread_mutex_lock(&c->mu);
    int64_t id = ++c->next_id;
    c->wait_id = id;
    c->wait_done = 0;
    c->wait_msg = NULL;
    int exited = c->exited;
    pthread_mutex_unlock(&c->mu);
    if (exited) {
        cJSON_Delete(params);
        exit_reason(c, "before this request", err, errlen);
        return -EPIPE;
    }
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "jsonrpc", "2.0");
    cJSON_AddNumberToObject(m, "id", (double)id);
    cJSON_AddStringToObject(m, "method", method);
    cJSON_AddItemToObject(m, "params", params);
    call k = {.c = c, .msg = m};
    vm__loop_call(send_fn, &k);
    cJSON_Delete(m);
    int64_t start = vm__mono_ms(), cancel_at = 0;
    int killed = 0;
    pthread_mutex_lock(&c->mu);
    while (!c->wait_done && !c->exited) {
        wait_until(&c->cv, &c->mu, POLL_MS);
        if (c->wait_done || c->exited || killed)
            continue;
        int64_t now = vm__mono_ms();
        int cancel = a != NULL && eng_actx_cancelled(a);
        int kill = 0;
        if (cancel && is_prompt && cancel_at == 0) {
            cancel_at = now;
            *cancelled = 1;
            pthread_mutex_unlock(&c->mu);
            cJSON *p = cJSON_CreateObject();
            cJSON_AddStringToObject(p, "sessionId", c->agent_sid ? c->agent_sid : "");
            notify(c, "session/cancel", p);
            pthread_mutex_lock(&c->mu);
        } else if (cancel_at && now - cancel_at > CANCEL_GRACE_MS) {
            kill = 1;
        } else if (!is_prompt && (cancel || now - start > START_TIMEOUT_MS)) {
            kill = 1;
            if (cancel)
                *cancelled = 1;
        }
        if (kill) {
            killed = 1;
            pthread_mutex_unlock(&c->mu);
            vm__loop_call(kill_fn, c);
            pthread_mutex_lock(&c->mu);
        }
    }
    cJSON *msg = c->wait_done ? c->wait_msg : NULL;
    c->wait_msg = NULL;
    pthread_mutex_unlock(&c->mu);
    if (msg == NULL) {
        if (killed && !*cancelled)
            vm__err(err, errlen, "agent '%s' did not answer %s within %d s", c->agent,
                    method, START_TIMEOUT_MS / 1000);
        else if (killed)
            vm__err(err, errlen, "agent '%s' was stopped: the action was cancelled",
                    c->agent);
        else
            exit_reason(c, is_prompt ? "during the turn" : "while starting", err, errlen);
        return killed && *cancelled ? -ECANCELED : -EPIPE;
    }
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(msg, "error");
    if (e != NULL) {
        const cJSON *em = cJSON_GetObjectItemCaseSensitive(e, "message");
        char *clean = vm__redact_str(c->red, cJSON_IsString(em) ? em->valuestring : "?");
        vm__err(err, errlen, "agent '%s' refused %s: %s", c->agent, method,
                clean ? clean : "?");
        free(clean);
        cJSON_Delete(msg);
        return -EPROTO;
    }
    *result = cJSON_DetachItemFromObjectCaseSensitive(msg, "result");
    cJSON_Delete(msg);
    return 0;
}

int vm__acp_start(const vm__acp_opts *o, eng_actx *a, vm__acp **out, char *err,
                  size_t errlen)
{
    vm__acp *c = calloc(1, sizeof *c);
    if (c == NULL)
        return -ENOMEM;
    pthread_mutex_init(&c->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&c->cv, &ca);
    pthread_condattr_destroy(&ca);
    c->vm = strdup(o->vm);
    c->agent = strdup(o->agent);
    c->command = strdup(o->command);
    c->policy = strdup(o->policy);
    c->red = o->red;
    c->record = o->record;
    c->ud = o->ud;
    *out = c;
    if (!c->vm || !c->agent || !c->command || !c->policy)
        return -ENOMEM;
    call k = {.c = c, .env = o->env};
    int rc = vm__loop_call(spawn_fn, &k);
    if (rc == 0 && k.rc < 0)
        rc = k.rc;
    if (rc < 0) {
        c->exited = 1;
        vm__err(err, errlen, "agent '%s': %s", c->agent, k.err[0] ? k.err : strerror(-rc));
        return rc;
    }
    cJSON *p = cJSON_CreateObject(), *res = NULL;
    cJSON_AddNumberToObject(p, "protocolVersion", 1);
    cJSON *caps = cJSON_AddObjectToObject(p, "clientCapabilities");
    cJSON *fs = cJSON_AddObjectToObject(caps, "fs");
    cJSON_AddBoolToObject(fs, "readTextFile", 1);
    cJSON_AddBoolToObject(fs, "writeTextFile", 1);
    cJSON_AddBoolToObject(caps, "terminal", 0);
    cJSON *info = cJSON_AddObjectToObject(p, "clientInfo");
    cJSON_AddStringToObject(info, "name", "actorfs");
    cJSON_AddStringToObject(info, "version", "1.0.0");
    int cancelled = 0;
    if ((rc = request(c, "initialize", p, a, 0, &res, &cancelled, err, errlen)) < 0)
        return rc;
    cJSON_Delete(res);
    res = NULL;
    p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "cwd", "/home/user");
    cJSON_AddArrayToObject(p, "mcpServers");
    if ((rc = request(c, "session/new", p, a, 0, &res, &cancelled, err, errlen)) < 0)
        return rc;
    const cJSON *sid = cJSON_GetObjectItemCaseSensitive(res, "sessionId");
    if (!cJSON_IsString(sid)) {
        cJSON_Delete(res);
        vm__err(err, errlen, "agent '%s' answered session/new without a sessionId",
                c->agent);
        return -EPROTO;
    }
    c->agent_sid = strdup(sid->valuestring);
    cJSON_Delete(res);
    return c->agent_sid ? 0 : -ENOMEM;
}

int vm__acp_prompt(vm__acp *c, const char *text, eng_actx *a, char **stop_reason,
                   char **reply_text, char *err, size_t errlen)
{
    pthread_mutex_lock(&c->mu);
    c->text.n = 0;
    if (c->text.p)
        c->text.p[0] = '\0';
    pthread_mutex_unlock(&c->mu);
    cJSON *p = cJSON_CreateObject(), *res = NULL;
    cJSON_AddStringToObject(p, "sessionId", c->agent_sid);
    cJSON *blocks = cJSON_AddArrayToObject(p, "prompt");
    cJSON *b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "type", "text");
    cJSON_AddStringToObject(b, "text", text);
    cJSON_AddItemToArray(blocks, b);
    int cancelled = 0;
    int rc = request(c, "session/prompt", p, a, 1, &res, &cancelled, err, errlen);
    if (rc == -ECANCELED || (rc == -EPIPE && cancelled)) {
        *stop_reason = strdup("cancelled");
        rc = 0;
    } else if (rc < 0) {
        return rc;
    } else {
        const cJSON *sr = cJSON_GetObjectItemCaseSensitive(res, "stopReason");
        *stop_reason = strdup(cJSON_IsString(sr) ? sr->valuestring : "end_turn");
    }
    cJSON_Delete(res);
    pthread_mutex_lock(&c->mu);
    *reply_text = strdup(c->text.p ? c->text.p : "");
    pthread_mutex_unlock(&c->mu);
    return *stop_reason && *reply_text ? 0 : -ENOMEM;
}

int vm__acp_alive(vm__acp *c)
{
    pthread_mutex_lock(&c->mu);
    int alive = !c->exited;
    pthread_mutex_unlock(&c->mu);
    return alive;
}

void vm__acp_close(vm__acp *c)
{
    if (c == NULL)
        return;
    pthread_mutex_lock(&c->mu);
    while (!c->exited) {
        pthread_mutex_unlock(&c->mu);
        if (vm__loop_call(kill_fn, c) < 0) {
            pthread_mutex_lock(&c->mu);
            break;
        }
        pthread_mutex_lock(&c->mu);
        if (!c->exited)
            wait_until(&c->cv, &c->mu, 200);
    }
    pthread_mutex_unlock(&c->mu);
    cJSON_Delete(c->wait_msg);
    vm__buf_free(&c->line);
    vm__buf_free(&c->errtail);
    vm__buf_free(&c->text);
    vm__buf_free(&c->held);
    free(c->vm);
    free(c->agent);
    free(c->command);
    free(c->policy);
    free(c->agent_sid);
    pthread_cond_destroy(&c->cv);
    pthread_mutex_destroy(&c->mu);
    free(c);
}
