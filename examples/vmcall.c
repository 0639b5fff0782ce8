/*
 * vmcall.c - the examples' client for the "vm" actor: exec, one agent
 * turn (create, prompt, close) and readFile, over eng_call.
 *
 * It owns the translation between the step's C values and the VM
 * actions' JSON, and the rule that a session never outlives the step
 * that opened it: sessions are ephemeral and would not survive a replay,
 * so a step that fails half-way must still close what it opened.
 */
#include "vmcall.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* eng_call plus ownership of ARGS, so callers can build args inline. */
static int vm__call(eng_sctx *s, const char *vm, const char *action,
                    cJSON *args, cJSON **result)
{
    *result = NULL;
    if (args == NULL) {
        eng_sctx_error(s, "%s on vm@%s: out of memory", action, vm);
        return -ENOMEM;
    }
    int rc = eng_call(s, "vm", vm, action, args, result);
    cJSON_Delete(args);
    if (rc < 0) {
        cJSON_Delete(*result);
        *result = NULL;
    }
    return rc;
}

static char *vm__strdup_field(const cJSON *obj, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    return strdup(cJSON_IsString(v) ? v->valuestring : "");
}

int ex_vm_exec(eng_sctx *s, const char *vm, const char *cmd,
               int64_t timeout_ms, ex_exec_result *r)
{
    memset(r, 0, sizeof *r);
    cJSON *args = cJSON_CreateObject();
    if (args != NULL && (cJSON_AddStringToObject(args, "cmd", cmd) == NULL ||
                         (timeout_ms > 0 &&
                          cJSON_AddNumberToObject(args, "timeoutMs",
                                                  (double)timeout_ms) == NULL))) {
        cJSON_Delete(args);
        args = NULL;
    }
    cJSON *res;
    int rc = vm__call(s, vm, "exec", args, &res);
    if (rc < 0)
        return rc;
    const cJSON *code = cJSON_GetObjectItemCaseSensitive(res, "exitCode");
    if (!cJSON_IsNumber(code)) {
        eng_sctx_error(s, "exec on vm@%s: the result has no exitCode", vm);
        cJSON_Delete(res);
        return -EPROTO;
    }
    r->exit_code = code->valueint;
    r->timed_out = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(res, "timedOut"));
    r->out = vm__strdup_field(res, "stdout");
    r->err = vm__strdup_field(res, "stderr");
    cJSON_Delete(res);
    if (r->out == NULL || r->err == NULL) {
        ex_exec_result_free(r);
        eng_sctx_error(s, "exec on vm@%s: out of memory", vm);
        return -ENOMEM;
    }
    return 0;
}

void ex_exec_result_free(ex_exec_result *r)
{
    free(r->out);
    free(r->err);
    r->out = r->err = NULL;
}

/* {"agent":AGENT,"env":{...}}: the key is read when the step runs, not at
 * registration, so a daemon restarted with a new key uses it. */
static cJSON *vm__session_args(const char *agent)
{
    cJSON *args = cJSON_CreateObject();
    cJSON *env = cJSON_AddObjectToObject(args, "env");
    if (env == NULL || cJSON_AddStringToObject(args, "agent", agent) == NULL) {
        cJSON_Delete(args);
        return NULL;
    }
    const char *key = getenv("ANTHROPIC_API_KEY");
    if (key != NULL && cJSON_AddStringToObject(env, "ANTHROPIC_API_KEY", key) == NULL) {
        cJSON_Delete(args);
        return NULL;
    }
    return args;
}

static cJSON *vm__session_id_args(const char *id)
{
    cJSON *args = cJSON_CreateObject();
    if (args != NULL && cJSON_AddStringToObject(args, "sessionId", id) == NULL) {
        cJSON_Delete(args);
        return NULL;
    }
    return args;
}

static int vm__prompt(eng_sctx *s, const char *vm, const char *id,
                      const char *prompt, char **stop_reason)
{
    cJSON *args = vm__session_id_args(id);
    if (args != NULL && cJSON_AddStringToObject(args, "text", prompt) == NULL) {
        cJSON_Delete(args);
        args = NULL;
    }
    cJSON *res;
    int rc = vm__call(s, vm, "sendPrompt", args, &res);
    if (rc < 0)
        return rc;
    *stop_reason = vm__strdup_field(res, "stopReason");
    cJSON_Delete(res);
    if (*stop_reason == NULL) {
        eng_sctx_error(s, "sendPrompt on vm@%s: out of memory", vm);
        return -ENOMEM;
    }
    /* A turn cut short by the step's own timeout or cancellation did only
     * part of the work; failing lets the engine retry the whole turn. */
    if (strcmp(*stop_reason, "cancelled") == 0 || eng_sctx_cancelled(s)) {
        eng_sctx_error(s, "the agent's turn in vm@%s was cancelled", vm);
        return -ECANCELED;
    }
    return 0;
}

int ex_vm_agent_turn(eng_sctx *s, const char *vm, const char *agent,
                     const char *prompt, cJSON **result)
{
    cJSON *res;
    int rc = vm__call(s, vm, "createSession", vm__session_args(agent), &res);
    if (rc < 0)
        return rc;
    char *id = vm__strdup_field(res, "sessionId");
    cJSON_Delete(res);
    if (id == NULL || id[0] == '\0') {
        eng_sctx_error(s, "createSession on vm@%s returned no sessionId", vm);
        free(id);
        return -EPROTO;
    }

    char *stop = NULL;
    rc = vm__prompt(s, vm, id, prompt, &stop);

    /* Closed whatever the prompt did.  The step fails with the prompt's
     * error code when both failed: that is the one a retry can cure. */
    cJSON *closed;
    int crc = vm__call(s, vm, "closeSession", vm__session_id_args(id), &closed);
    cJSON_Delete(closed);
    if (rc == 0)
        rc = crc;

    if (rc == 0 && result != NULL) {
        *result = cJSON_CreateObject();
        if (*result == NULL ||
            cJSON_AddStringToObject(*result, "sessionId", id) == NULL ||
            cJSON_AddStringToObject(*result, "stopReason", stop) == NULL) {
            cJSON_Delete(*result);
            *result = NULL;
            eng_sctx_error(s, "agent turn on vm@%s: out of memory", vm);
            rc = -ENOMEM;
        }
    }
    free(stop);
    free(id);
    return rc;
}

int ex_vm_read_file(eng_sctx *s, const char *vm, const char *path,
                    char **content)
{
    *content = NULL;
    cJSON *args = cJSON_CreateObject();
    if (args != NULL && cJSON_AddStringToObject(args, "path", path) == NULL) {
        cJSON_Delete(args);
        args = NULL;
    }
    cJSON *res;
    int rc = vm__call(s, vm, "readFile", args, &res);
    if (rc < 0)
        return rc;
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(res, "content");
    if (!cJSON_IsString(c)) {
        eng_sctx_error(s, "readFile %s on vm@%s: the result has no content",
                       path, vm);
        cJSON_Delete(res);
        return -EPROTO;
    }
    *content = strdup(c->valuestring);
    cJSON_Delete(res);
    if (*content == NULL) {
        eng_sctx_error(s, "readFile %s on vm@%s: out of memory", path, vm);
        return -ENOMEM;
    }
    return 0;
}

char *ex_sh_quote(const char *s)
{
    /* Each ' becomes '\'' (4 bytes), plus the two quotes and the NUL. */
    size_t n = 3;
    for (const char *p = s; *p; p++)
        n += *p == '\'' ? 4 : 1;
    char *q = malloc(n);
    if (q == NULL)
        return NULL;
    char *w = q;
    *w++ = '\'';
    for (const char *p = s; *p; p++) {
        if (*p == '\'') {
            memcpy(w, "'\\''", 4);
            w += 4;
        } else {
            *w++ = *p;
        }
    }
    *w++ = '\'';
    *w = '\0';
    return q;
}
