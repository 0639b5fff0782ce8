/*
 * queue.c - the enqueue side of actor queues: validation with a readable
 * reason, durable enqueue (acknowledged only after its commit), idempotency
 * keys, the pending-message view that queues/NAME/ shows, and takes made
 * ahead of their commit.
 *
 * A workflow takes a message the store already holds without waiting for
 * the committer: the loop thread reads the oldest pending messages above
 * the last one it took (its takes that are not committed yet are still
 * pending in the store), marks them, and queues a TAKE of those ids behind
 * the actor's other writes.  A cancel holds the marks' lock across its
 * commit, so a message is either taken or cancelled, never both.
 */
#include "eng_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *type_word(int type)
{
    switch (type) {
    case cJSON_String:
        return "string";
    case cJSON_Number:
        return "number";
    case cJSON_Object:
        return "object";
    case cJSON_Array:
        return "array";
    case cJSON_True:
    case cJSON_False:
        return "boolean";
    case cJSON_NULL:
        return "null";
    default:
        return "value";
    }
}

static int type_ok(const cJSON *v, int type)
{
    if (type == cJSON_True || type == cJSON_False)
        return cJSON_IsBool(v);
    return (v->type & 0xff) == type;
}

/* Parses and checks BODY; on success [*from, *to) are the bytes of its
 * JSON value, without the space around it. */
static int check(eng *e, const char *type, const char *queue, const char *body,
                 size_t len, char *err, size_t errlen, size_t *from, size_t *to)
{
    const eng_type *t = eng_type_find(e, type);
    if (!t) {
        snprintf(err, errlen, "unknown actor type '%s'", type ? type : "");
        return -ENOENT;
    }
    const eng_queue_def *q = eng__queue_find(t, queue);
    if (!q) {
        snprintf(err, errlen, "%s has no queue '%s'", type, queue ? queue : "");
        return -ENOENT;
    }
    if (len > e->cfg.max_message_bytes) {
        snprintf(err, errlen, "message is %zu bytes; the limit is %zu bytes",
                 len, e->cfg.max_message_bytes);
        return -EFBIG;
    }
    size_t i = 0;
    while (i < len && (body[i] == ' ' || body[i] == '\n' || body[i] == '\t' ||
                       body[i] == '\r'))
        i++;
    if (i == len) {
        snprintf(err, errlen, "empty message: write one JSON value");
        return -EINVAL;
    }
    const char *end = NULL;
    cJSON *m = cJSON_ParseWithLengthOpts(body, len, &end, 0);
    if (!m) {
        size_t at = end && end >= body ? (size_t)(end - body) : 0;
        snprintf(err, errlen, "invalid JSON at byte %zu", at);
        return -EINVAL;
    }
    size_t at = (size_t)(end - body);
    /* The message is kept as a C string: a NUL inside it (cJSON takes one
     * in a string) would cut it short. */
    const char *nul = memchr(body + i, '\0', at - i);
    if (nul) {
        snprintf(err, errlen, "invalid JSON at byte %zu: a NUL byte",
                 (size_t)(nul - body));
        cJSON_Delete(m);
        return -EINVAL;
    }
    *from = i;
    *to = at;
    while (at < len && (body[at] == ' ' || body[at] == '\n' ||
                        body[at] == '\t' || body[at] == '\r' || body[at] == 0))
        at++;
    if (at < len) {
        snprintf(err, errlen, "invalid JSON at byte %zu: trailing data", at);
        cJSON_Delete(m);
        return -EINVAL;
    }
    if (q->nfields > 0 && !cJSON_IsObject(m)) {
        snprintf(err, errlen, "queue %s takes a JSON object (required: %s %s%s)",
                 queue, q->fields[0].name, type_word(q->fields[0].type),
                 q->nfields > 1 ? ", ..." : "");
        cJSON_Delete(m);
        return -EINVAL;
    }
    for (size_t k = 0; k < q->nfields; k++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(m, q->fields[k].name);
        if (!v) {
            snprintf(err, errlen, "missing required field '%s' (%s)",
                     q->fields[k].name, type_word(q->fields[k].type));
            cJSON_Delete(m);
            return -EINVAL;
        }
        if (!type_ok(v, q->fields[k].type)) {
            snprintf(err, errlen, "field '%s' must be a %s, not a %s",
                     q->fields[k].name, type_word(q->fields[k].type),
                     type_word(v->type & 0xff));
            cJSON_Delete(m);
            return -EINVAL;
        }
    }
    cJSON_Delete(m);
    return 0;
}

int eng_message_check(eng *e, const char *type, const char *queue,
                      const char *body, size_t len, char *err, size_t errlen)
{
    size_t from, to;
    return check(e, type, queue, body, len, err, errlen, &from, &to);
}

static int with_reader(eng *e, eng__conn **c)
{
    return e->so->rget(e->st, c);
}

int eng_key_check(eng *e, const char *type, const char *key, const char *queue,
                  const char *idem_key)
{
    int64_t id;
    int rc = eng__actor_id(e, type, key, &id);
    if (rc < 0)
        return rc;
    eng__conn *c;
    if ((rc = with_reader(e, &c)) < 0)
        return rc;
    rc = e->so->r_idem_exists(c, id, queue, idem_key);
    e->so->rput(e->st, c);
    return rc < 0 ? rc : rc ? -EEXIST : 0;
}

int eng_enqueue(eng *e, const char *type, const char *key, const char *queue,
                const char *body, size_t len, const char *idem_key,
                int64_t *id, char *err, size_t errlen)
{
    size_t from, to;
    int rc = check(e, type, queue, body, len, err, errlen, &from, &to);
    if (rc < 0)
        return rc;
    if (idem_key && !eng_name_ok(idem_key)) {
        snprintf(err, errlen, "invalid idempotency key");
        return -EINVAL;
    }
    int64_t aid;
    if (eng__actor_id(e, type, key, &aid) < 0) {
        snprintf(err, errlen, "no actor %s%s%s", type, key && *key ? "@" : "",
                 key ? key : "");
        return -ENOENT;
    }
    eng__wreq *r = eng__wreq_new(aid, 0, type, key ? key : "");
    eng__op *o = eng__op_add(r, ENG__OP_MSG_INSERT);
    o->s1 = strdup(queue);
    /* Stored as written, so the pending file reads back the user's bytes
     * (and printing would format every number twice over). */
    o->s2 = strndup(body + from, to - from);
    o->s3 = idem_key ? strdup(idem_key) : NULL;
    if (!o->s1 || !o->s2)
        abort();
    rc = eng__submit_wait(e, r);
    int64_t mid = r->msg_id;
    eng__wreq_free(r);
    if (rc == -EEXIST) {
        snprintf(err, errlen,
                 "idempotency key '%s' is pending or was recently used on "
                 "queue %s", idem_key ? idem_key : "", queue);
        return rc;
    }
    if (rc < 0) {
        snprintf(err, errlen, "message not stored: %s", strerror(-rc));
        eng_log("%s: enqueue on %s failed: %s", type, queue, strerror(-rc));
        return rc;
    }
    if (id)
        *id = mid;
    eng__enqueued(e, type, key ? key : "", queue);
    return 0;
}

static char *mark_key(int64_t aid, const char *queue)
{
    char *k;
    if (asprintf(&k, "%lld\x1f%s", (long long)aid, queue) < 0)
        abort();
    return k;
}

int eng__take_ahead(eng__actor *a, const char *queue, int max, eng__msg **msgs,
                    size_t *n)
{
    eng *e = a->e;
    char *k = mark_key(a->id, queue);
    *msgs = NULL;
    *n = 0;
    pthread_mutex_lock(&e->tmu);
    int64_t *mark = eng__map_get(&e->took, k);
    eng__conn *c;
    int rc = e->so->rget(e->st, &c);
    if (rc == 0) {
        rc = e->so->r_msgs_next(c, a->id, queue, mark ? *mark : 0,
                                max > 0 ? max : 1, msgs, n);
        e->so->rput(e->st, c);
    }
    if (rc == 0 && *n > 0) {
        if (!mark) {
            mark = malloc(sizeof *mark);
            if (!mark || eng__map_put(&e->took, k, mark) < 0)
                abort();
        }
        *mark = (*msgs)[*n - 1].id;
    }
    pthread_mutex_unlock(&e->tmu);
    free(k);
    return rc;
}

void eng__take_marks_clear(eng__actor *a)
{
    eng *e = a->e;
    pthread_mutex_lock(&e->tmu);
    for (size_t i = 0; a->t && i < a->t->nqueues; i++) {
        char *k = mark_key(a->id, a->t->queues[i].name);
        free(eng__map_del(&e->took, k));
        free(k);
    }
    pthread_mutex_unlock(&e->tmu);
}

int eng_messages_list(eng *e, const char *type, const char *key,
                      const char *queue, int64_t **ids, size_t *n)
{
    *ids = NULL;
    *n = 0;
    int64_t id;
    int rc = eng__actor_id(e, type, key, &id);
    if (rc < 0)
        return rc;
    if (!eng__queue_find(eng_type_find(e, type), queue))
        return -ENOENT;
    eng__conn *c;
    if ((rc = with_reader(e, &c)) < 0)
        return rc;
    rc = e->so->r_msgs_pending(c, id, queue, ids, n);
    e->so->rput(e->st, c);
    return rc;
}

int eng_message_read(eng *e, const char *type, const char *key,
                     const char *queue, int64_t msg_id, char **json,
                     size_t *len)
{
    int64_t id;
    int rc = eng__actor_id(e, type, key, &id);
    if (rc < 0)
        return rc;
    eng__conn *c;
    if ((rc = with_reader(e, &c)) < 0)
        return rc;
    char *body = NULL;
    rc = e->so->r_msg(c, id, queue, msg_id, &body);
    e->so->rput(e->st, c);
    if (rc == -EBUSY)
        rc = -ENOENT;
    if (rc < 0)
        return rc;
    size_t n = strlen(body);
    char *out = malloc(n + 2);
    if (!out) {
        free(body);
        return -ENOMEM;
    }
    memcpy(out, body, n);
    out[n] = '\n';
    out[n + 1] = 0;
    free(body);
    *json = out;
    *len = n + 1;
    return 0;
}

/* A message at or below the take mark: -EBUSY if it is pending (taken
 * ahead, not yet committed) or taken, -ENOENT if it never was. */
static int taken_or_gone(eng *e, int64_t aid, const char *queue,
                         int64_t msg_id)
{
    eng__conn *c;
    int rc = with_reader(e, &c);
    if (rc < 0)
        return rc;
    char *body = NULL;
    rc = e->so->r_msg(c, aid, queue, msg_id, &body);
    e->so->rput(e->st, c);
    free(body);
    return rc == 0 ? -EBUSY : rc;
}

int eng_message_cancel(eng *e, const char *type, const char *key,
                       const char *queue, int64_t msg_id, char *err,
                       size_t errlen)
{
    int64_t id;
    int rc = eng__actor_id(e, type, key, &id);
    if (rc < 0) {
        snprintf(err, errlen, "no such actor");
        return rc;
    }
    char *k = mark_key(id, queue);
    pthread_mutex_lock(&e->tmu);
    int64_t *mark = eng__map_get(&e->took, k);
    if (mark && msg_id <= *mark)
        rc = taken_or_gone(e, id, queue, msg_id);
    else {
        eng__wreq *r = eng__wreq_new(id, 0, type, key ? key : "");
        eng__op *o = eng__op_add(r, ENG__OP_MSG_CANCEL);
        o->s1 = strdup(queue);
        o->i1 = msg_id;
        rc = eng__submit_wait(e, r);
        eng__wreq_free(r);
    }
    pthread_mutex_unlock(&e->tmu);
    free(k);
    if (rc == -EBUSY)
        snprintf(err, errlen, "message %lld was already taken by the workflow",
                 (long long)msg_id);
    else if (rc == -ENOENT)
        snprintf(err, errlen, "no message %lld on queue %s",
                 (long long)msg_id, queue);
    else if (rc < 0)
        snprintf(err, errlen, "cancel not stored: %s", strerror(-rc));
    return rc;
}
