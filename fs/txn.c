/*
 * txn.c - transaction files: actions/NAME and a VM's exec.
 *
 * A descriptor writes its request (JSON arguments, or a command line for
 * exec), then reads the response from its first byte whatever the file
 * offset, then end of file.  The request and response live in the
 * handle, so two descriptors never see each other's.  The call runs at
 * the first read, or at close if nobody read, so `echo CMD > exec` runs
 * CMD too.  A write after a response starts a new transaction.
 */
#include "fs.h"
#include "jsonscan.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fs__txn_fail(fs_state *st, fs_fh *h, int rc, const char *what,
                        const char *reason)
{
    char key[FS_ERRKEY_MAX];
    fs_node_error_key(&h->node, key, sizeof(key));
    fs_error_set(st, key, rc, "%s: %s", what,
                 reason[0] ? reason : strerror(-rc));
    return rc;
}

static const char *fs__txn_name(const fs_fh *h)
{
    return h->node.kind == FS_N_EXEC ? "exec" : h->node.name;
}

int fs_txn_write(fs_state *st, fs_fh *h, const char *buf, size_t len)
{
    if (h->has_resp) {
        free(h->resp);
        h->resp = NULL;
        h->resp_len = h->resp_pos = 0;
        h->resp_err = 0;
        h->has_resp = 0;
        h->refused = 0;
        h->len = 0;
    }
    if (h->refused)
        return h->refused;
    if (h->len + len > st->max_message_bytes) {
        h->refused = fs__txn_fail(st, h, -EFBIG, fs__txn_name(h),
                                  "request over the message size limit");
        return h->refused;
    }
    int rc = fs_fh_put(h, buf, len, (off_t)h->len);
    if (rc < 0)
        return rc;
    size_t where = 0;
    if (h->node.kind == FS_N_ACTION &&
        fs_jsonscan(h->buf, h->len, &where) == FS_JSON_INVALID) {
        char reason[64];
        snprintf(reason, sizeof(reason), "invalid JSON at byte %zu", where);
        h->refused = fs__txn_fail(st, h, -EINVAL, fs__txn_name(h), reason);
        return h->refused;
    }
    return (int)len;
}

static int fs__txn_args(fs_state *st, fs_fh *h, cJSON **args)
{
    *args = NULL;
    if (h->node.kind == FS_N_EXEC) {
        size_t n = h->len;
        if (n > 0 && h->buf[n - 1] == '\n')
            h->buf[--n] = '\0';
        if (n == 0)
            return fs__txn_fail(st, h, -EINVAL, "exec",
                                "write a command line to exec first");
        *args = cJSON_CreateObject();
        if (!*args || !cJSON_AddStringToObject(*args, "cmd", h->buf)) {
            cJSON_Delete(*args);
            *args = NULL;
            return -ENOMEM;
        }
        return 0;
    }
    if (h->len == 0)
        return 0;
    *args = cJSON_ParseWithLength(h->buf, h->len);
    if (!*args)
        return fs__txn_fail(st, h, -EINVAL, h->node.name,
                            "arguments are not complete JSON");
    return 0;
}

int fs_txn_run(fs_state *st, fs_fh *h)
{
    if (h->has_resp)
        return h->resp_err;
    if (h->refused)
        return h->refused;
    cJSON *args = NULL;
    cJSON *result = NULL;
    char reason[512] = "";
    const char *action = fs__txn_name(h);
    int rc = fs__txn_args(st, h, &args);
    if (rc == 0) {
        rc = eng_action(st->e, h->node.type, h->node.key, action, args,
                        &result, reason, sizeof(reason));
        if (rc < 0)
            fs__txn_fail(st, h, rc, action, reason);
    }
    cJSON_Delete(args);
    if (rc == 0) {
        char *text = result ? cJSON_PrintUnformatted(result)
                            : strdup("null");
        size_t n = text ? strlen(text) : 0;
        char *resp = text ? realloc(text, n + 2) : NULL;
        if (!resp) {
            free(text);
            rc = -ENOMEM;
        } else {
            resp[n++] = '\n';
            resp[n] = '\0';
            h->resp = resp;
            h->resp_len = n;
        }
    }
    cJSON_Delete(result);
    h->resp_pos = 0;
    h->resp_err = rc;
    h->has_resp = 1;
    return rc;
}
