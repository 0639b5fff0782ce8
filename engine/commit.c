/*
 * commit.c - the committer: the only writer of the store.
 *
 * Every durable change is a write request (a list of ops) handed here.
 * The committer thread takes all requests queued at that moment and
 * applies them in one transaction, each inside its own SAVEPOINT so a
 * refused request (a duplicate idempotency key) does not undo the others;
 * then one COMMIT, so one fsync covers the group.  A caller that waits for
 * its request and finds nothing queued or being applied applies it itself
 * (submit_self), still one group at a time.  Only after the commit are the
 * watcher told, the loop thread's completions posted and waiting callers
 * woken, in that order, so a woken caller's follow-up is always seen after
 * the loop has learnt what the same commit did.
 */
#include "eng_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GROUP_MAX 512

static char *dup0(const char *s)
{
    return s ? strdup(s) : NULL;
}

eng__wreq *eng__wreq_new(int64_t actor, int run, const char *type,
                         const char *key)
{
    eng__wreq *r = calloc(1, sizeof *r);
    if (!r)
        abort();
    r->actor = actor;
    r->run = run;
    r->type = dup0(type);
    r->key = dup0(key);
    r->tail = &r->ops;
    r->evtail = &r->evs;
    r->now = eng_now_ms();
    return r;
}

static void op_free(eng__op *o)
{
    eng__entry_clear(&o->e);
    eng__status_clear(&o->st);
    free(o->s1);
    free(o->s2);
    free(o->s3);
    free(o->ids);
    free(o);
}

static void wevs_free(eng__wreq *r)
{
    while (r->evs) {
        eng__wev *w = r->evs;
        r->evs = w->next;
        free(w->path);
        free(w);
    }
    r->evtail = &r->evs;
}

void eng__wreq_free(eng__wreq *r)
{
    if (!r)
        return;
    while (r->ops) {
        eng__op *o = r->ops;
        r->ops = o->next;
        op_free(o);
    }
    wevs_free(r);
    free(r->type);
    free(r->key);
    free(r);
}

eng__op *eng__op_add(eng__wreq *r, int kind)
{
    eng__op *o = calloc(1, sizeof *o);
    if (!o)
        abort();
    o->kind = kind;
    o->e.deadline = o->e.started_at = o->e.finished_at = -1;
    *r->tail = o;
    r->tail = &o->next;
    return o;
}

void eng__entry_copy(eng__entry *d, const eng__entry *s)
{
    *d = *s;
    d->path = dup0(s->path);
    d->parent = dup0(s->parent);
    d->name = dup0(s->name);
    d->output = dup0(s->output);
    d->error = dup0(s->error);
}

eng__op *eng__wreq_last(eng__wreq *r, int kind)
{
    eng__op *last = NULL;
    for (eng__op *o = r->ops; o; o = o->next)
        if (o->kind == kind)
            last = o;
    return last;
}

eng__op *eng__op_entry(eng__wreq *r, const eng__entry *e, int created)
{
    eng__op *o = eng__op_add(r, ENG__OP_ENTRY);
    eng__entry_copy(&o->e, e);
    o->created = created;
    return o;
}

void eng__ev_int(cJSON *fields, const char *name, int64_t v)
{
    char buf[24];
    snprintf(buf, sizeof buf, "%lld", (long long)v);
    if (!cJSON_AddRawToObject(fields, name, buf))
        abort();
}

/* TYPE is one of the engine's own event names (no JSON escapes); the
 * timestamp is printed as an integer, which cJSON would print as a double
 * through two printf calls and a strtod. */
void eng__op_event(eng__wreq *r, const char *type, cJSON *fields)
{
    char *rest = fields ? cJSON_PrintUnformatted(fields) : NULL;
    cJSON_Delete(fields);
    if (fields && !rest)
        abort();
    /* rest is "{}" or "{...}": its fields follow ours */
    const char *more = rest && rest[1] != '}' ? rest + 1 : "}";
    eng__op *o = eng__op_add(r, ENG__OP_EVENT);
    if (asprintf(&o->s1, "{\"ts\":%lld,\"type\":\"%s\"%s%s\n",
                 (long long)r->now, type, *more == '}' ? "" : ",", more) < 0)
        abort();
    free(rest);
}

void eng__wev_add(eng__wreq *r, eng_ev_kind kind, const char *path,
                  int64_t msg_id)
{
    eng__wev *w = calloc(1, sizeof *w);
    if (!w)
        abort();
    w->kind = kind;
    w->path = dup0(path);
    w->msg_id = msg_id;
    *r->evtail = w;
    r->evtail = &w->next;
}

/* A TAKE: takes messages if any, else times the wait out or leaves the
 * entry running with its deadline and the actor "waiting".  A TAKE that
 * comes with ids marks those (the loop thread took them ahead and made
 * the entry already). */
static int apply_take(eng *e, eng__wreq *r, eng__op *o)
{
    const eng__store_ops *so = e->so;
    const char *queue = o->s1;
    int batch = o->i2 > 0;
    int max = batch ? o->i2 : 1;
    eng__msg *msgs = NULL;
    size_t n = o->nids;
    int rc = n > 0 ? so->msg_take_ids(e->st, r->actor, queue, o->ids, n, r->now)
                   : so->msg_take(e->st, r->actor, queue, max, r->now, &msgs,
                                  &n);
    if (rc < 0)
        return rc;
    int timed_out = n == 0 && o->e.deadline >= 0 && r->now >= o->e.deadline;
    cJSON *ev;
    if ((n > 0 && !o->nids) || timed_out) {
        cJSON *out = batch ? cJSON_CreateArray() : NULL;
        for (size_t i = 0; i < n; i++) {
            cJSON *b = cJSON_Parse(msgs[i].body);
            if (!b)
                b = cJSON_CreateNull();
            if (batch)
                cJSON_AddItemToArray(out, b);
            else
                out = b;
        }
        if (!out)
            out = cJSON_CreateNull();
        free(o->e.output);
        o->e.output = cJSON_PrintUnformatted(out);
        cJSON_Delete(out);
        o->e.status = ENG__E_COMPLETED;
        o->e.finished_at = r->now;
    } else if (n == 0) {
        o->waiting = 1;
        o->e.status = ENG__E_RUNNING;
    }
    o->took = (int)n;
    if (!o->waiting || o->created)
        rc = so->entry_put(e->st, r->actor, r->run, &o->e);
    if (rc == 0 && o->e.deadline >= 0)
        rc = o->waiting ? so->timer_put(e->st, r->actor, r->run, o->e.path,
                                         o->e.deadline)
                        : so->timer_delete(e->st, r->actor, r->run, o->e.path);
    /* A take leaves "waiting" in the same transaction, so a status that
     * still says waiting means no message was taken. */
    if (rc == 0 && !o->waiting) {
        eng__status st = {.run = r->run, .status = ENG__W_RUNNING,
                          .step = o->e.path};
        rc = so->status_put(e->st, r->actor, &st);
    }
    for (size_t i = 0; i < n && rc == 0; i++) {
        int64_t mid = o->nids ? o->ids[i] : msgs[i].id;
        ev = cJSON_CreateObject();
        cJSON_AddStringToObject(ev, "path", o->e.path);
        cJSON_AddStringToObject(ev, "queue", queue);
        eng__ev_int(ev, "id", mid);
        eng__wreq tmp = {.now = r->now, .tail = &tmp.ops};
        eng__op_event(&tmp, "message.consumed", ev);
        rc = so->event_append(e->st, r->actor, tmp.ops->s1);
        op_free(tmp.ops);
        eng__wev_add(r, ENG_EV_MESSAGE_REMOVED, queue, mid);
    }
    if (rc == 0 && (o->created || !o->waiting)) {
        const char *type = o->waiting ? "queue.waiting"
                           : timed_out ? "queue.timeout" : "queue.completed";
        ev = cJSON_CreateObject();
        cJSON_AddStringToObject(ev, "path", o->e.path);
        cJSON_AddStringToObject(ev, "queue", queue);
        eng__wreq tmp = {.now = r->now, .tail = &tmp.ops};
        eng__op_event(&tmp, type, ev);
        rc = so->event_append(e->st, r->actor, tmp.ops->s1);
        op_free(tmp.ops);
        eng__wev_add(r, o->created ? ENG_EV_ENTRY_CREATED
                                   : ENG_EV_ENTRY_UPDATED,
                     o->e.path, 0);
        eng__wev_add(r, ENG_EV_EVENTS, NULL, 0);
    }
    if (!o->waiting)
        eng__wev_add(r, ENG_EV_STATUS, NULL, 0);
    for (size_t i = 0; msgs && i < n; i++)
        free(msgs[i].body);
    free(msgs);
    return rc;
}

static int apply_op(eng *e, eng__wreq *r, eng__op *o)
{
    const eng__store_ops *so = e->so;
    int rc;
    switch (o->kind) {
    case ENG__OP_ENTRY:
        rc = so->entry_put(e->st, r->actor, r->run, &o->e);
        if (rc == 0)
            eng__wev_add(r, o->created ? ENG_EV_ENTRY_CREATED
                                       : ENG_EV_ENTRY_UPDATED,
                         o->e.path, 0);
        return rc;
    case ENG__OP_TREE_DEL:
        rc = so->tree_delete(e->st, r->actor, r->run, o->s1);
        if (rc == 0)
            eng__wev_add(r, ENG_EV_ENTRY_DELETED, o->s1, 0);
        return rc;
    case ENG__OP_STATE:
        rc = so->state_put(e->st, r->actor, o->s1);
        if (rc == 0)
            eng__wev_add(r, ENG_EV_STATE, NULL, 0);
        return rc;
    case ENG__OP_STATUS:
        rc = so->status_put(e->st, r->actor, &o->st);
        if (rc == 0)
            eng__wev_add(r, ENG_EV_STATUS, NULL, 0);
        return rc;
    case ENG__OP_EVENT:
        rc = so->event_append(e->st, r->actor, o->s1);
        if (rc == 0)
            eng__wev_add(r, ENG_EV_EVENTS, NULL, 0);
        return rc;
    case ENG__OP_TIMER_PUT:
        return so->timer_put(e->st, r->actor, r->run, o->s1, o->i1);
    case ENG__OP_TIMER_DEL:
        return so->timer_delete(e->st, r->actor, r->run, o->s1);
    case ENG__OP_TAKE:
        return apply_take(e, r, o);
    case ENG__OP_MSG_INSERT:
        rc = so->msg_insert(e->st, r->actor, o->s1, o->s2, o->s3, r->now,
                            &r->msg_id);
        if (rc == 0) {
            cJSON *ev = cJSON_CreateObject();
            cJSON_AddStringToObject(ev, "queue", o->s1);
            eng__ev_int(ev, "id", r->msg_id);
            eng__wreq tmp = {.now = r->now, .tail = &tmp.ops};
            eng__op_event(&tmp, "message.enqueued", ev);
            rc = so->event_append(e->st, r->actor, tmp.ops->s1);
            op_free(tmp.ops);
            eng__wev_add(r, ENG_EV_MESSAGE_ADDED, o->s1, r->msg_id);
            eng__wev_add(r, ENG_EV_EVENTS, NULL, 0);
        }
        return rc;
    case ENG__OP_MSG_CANCEL:
        rc = so->msg_cancel(e->st, r->actor, o->s1, o->i1);
        if (rc == 0)
            eng__wev_add(r, ENG_EV_MESSAGE_REMOVED, o->s1, o->i1);
        return rc;
    case ENG__OP_ACTOR_INSERT:
        rc = so->actor_insert(e->st, r->type, r->key, o->s1, r->now, &r->actor,
                              &r->created);
        if (rc == 0 && r->created)
            eng__wev_add(r, ENG_EV_ACTOR_CREATED, NULL, 0);
        return rc;
    case ENG__OP_ACTOR_DELETE:
        rc = so->actor_delete(e->st, r->actor);
        if (rc == 0)
            eng__wev_add(r, ENG_EV_ACTOR_DESTROYED, NULL, 0);
        return rc;
    case ENG__OP_NONE:
        return 0;
    }
    return -EINVAL;
}

static int apply(eng *e, eng__wreq *r)
{
    for (eng__op *o = r->ops; o; o = o->next) {
        int rc = apply_op(e, r, o);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static void emit(eng *e, eng__wreq *r)
{
    for (eng__wev *w = r->evs; w; w = w->next) {
        eng_event ev = {.kind = w->kind, .type = r->type, .key = r->key,
                        .path = w->path, .msg_id = w->msg_id};
        eng__watch_emit(e, &ev);
    }
}

/* An actor's request that fails leaves the loop thread's memory of that
 * actor ahead of the store: its later requests were made from that memory
 * (a run may have gone on past a step whose completion is in the failed
 * request), so they are refused too until the actor is reloaded
 * (eng__actor_idle_check).  The store then always holds a prefix of each
 * actor's writes and a replay from it loses nothing. */
static void fail(eng__wreq *r, int rc)
{
    r->rc = rc;
    if (r->a)
        atomic_store(&r->a->wfail, rc);
}

static void group(eng *e, eng__wreq *head)
{
    const eng__store_ops *so = e->so;
    int rc = so->begin(e->st);
    /* A lone request (most enqueues) needs no savepoint: if it fails, the
     * whole transaction is rolled back instead. */
    int solo = !head->qnext;
    for (eng__wreq *r = head; r; r = r->qnext) {
        int src = rc < 0 ? rc : r->a ? atomic_load(&r->a->wfail) : 0;
        if (src == 0 && !solo)
            src = so->savepoint(e->st);
        if (src < 0) {
            fail(r, src);
            continue;
        }
        r->rc = apply(e, r);
        if (r->rc < 0) {
            if (solo) {
                so->rollback(e->st);
                rc = r->rc;
            } else
                so->rollback_to(e->st);
            wevs_free(r);
            fail(r, r->rc);
        } else if (!solo && (src = so->release(e->st)) < 0)
            fail(r, src);
    }
    if (rc == 0) {
        int f = eng__fault_kill_before();
        if (f == 0)
            f = eng_fault("commit");
        if (f == 0)
            f = so->commit(e->st);
        else
            eng_log("store: commit refused by fault injection: %s",
                    strerror(-f));
        if (f < 0) {
            so->rollback(e->st);
            for (eng__wreq *r = head; r; r = r->qnext)
                if (r->rc == 0)
                    fail(r, f);
        } else
            eng__fault_kill_after();
    }
    for (eng__wreq *r = head; r; r = r->qnext)
        if (r->rc == 0)
            emit(e, r);
    /* Loop completions are posted before any waiting caller wakes; a posted
     * request belongs to the loop thread from then on. */
    eng__wreq *waiters = NULL, **wt = &waiters;
    eng__wreq *r = head;
    while (r) {
        eng__wreq *next = r->qnext;
        if (r->loop_done)
            eng__post(e, &r->job);
        else if (r->sync) {
            r->qnext = NULL;
            *wt = r;
            wt = &r->qnext;
        } else
            eng__wreq_free(r);
        r = next;
    }
    while (waiters) {
        eng__wreq *next = waiters->qnext;
        eng__sync_done(waiters->sync, waiters->rc);
        waiters = next;
    }
}

static void *committer(void *arg)
{
    eng *e = arg;
    for (;;) {
        pthread_mutex_lock(&e->cmu);
        while (e->com_busy || (!e->q_head && !e->com_stop))
            pthread_cond_wait(&e->ccv, &e->cmu);
        eng__wreq *head = e->q_head;
        eng__wreq **cut = &e->q_head;
        for (int i = 0; *cut && i < GROUP_MAX; i++)
            cut = &(*cut)->qnext;
        e->q_head = *cut;
        *cut = NULL;
        if (!e->q_head)
            e->q_tail = &e->q_head;
        int stop = e->com_stop && !head;
        e->com_busy = !stop;
        pthread_mutex_unlock(&e->cmu);
        if (stop)
            break;
        group(e, head);
        pthread_mutex_lock(&e->cmu);
        e->com_busy = 0;
        pthread_mutex_unlock(&e->cmu);
    }
    return NULL;
}

static void wreq_loop_done(eng *e, eng__job *j)
{
    eng__wreq *r = (eng__wreq *)j;
    if (r->a)
        eng__actor_req_done(r->a, r);
    r->loop_done(e, r);
    if (r->a)
        eng__actor_idle_check(r->a);
    eng__wreq_free(r);
}

void eng__submit(eng *e, eng__wreq *r)
{
    if (r->loop_done)
        r->job.fn = wreq_loop_done;
    r->qnext = NULL;
    pthread_mutex_lock(&e->cmu);
    *e->q_tail = r;
    e->q_tail = &r->qnext;
    pthread_cond_signal(&e->ccv);
    pthread_mutex_unlock(&e->cmu);
}

/* A caller that finds nothing queued and no group being applied commits
 * its request itself: waking the committer and being woken by it cost
 * two thread hand-offs, a fifth of a lone enqueue.  Requests that arrive
 * meanwhile queue up for the committer, which waits for this group. */
static int submit_self(eng *e, eng__wreq *r)
{
    pthread_mutex_lock(&e->cmu);
    int self = !e->com_busy && !e->com_stop && !e->q_head;
    if (self)
        e->com_busy = 1;
    pthread_mutex_unlock(&e->cmu);
    if (!self)
        return 0;
    r->qnext = NULL;
    group(e, r);
    pthread_mutex_lock(&e->cmu);
    e->com_busy = 0;
    if (e->q_head || e->com_stop)
        pthread_cond_signal(&e->ccv);
    pthread_mutex_unlock(&e->cmu);
    return 1;
}

int eng__submit_wait(eng *e, eng__wreq *r)
{
    eng__sync s;
    eng__sync_init(&s);
    r->sync = &s;
    if (!submit_self(e, r))
        eng__submit(e, r);
    eng__sync_wait(&s);
    eng__sync_destroy(&s);
    r->sync = NULL;
    return r->rc;
}

int eng__committer_start(eng *e)
{
    e->q_tail = &e->q_head;
    int rc = pthread_create(&e->com_thr, NULL, committer, e);
    if (rc != 0)
        return -rc;
    e->com_running = 1;
    return 0;
}

void eng__committer_stop(eng *e)
{
    if (!e->com_running)
        return;
    pthread_mutex_lock(&e->cmu);
    e->com_stop = 1;
    pthread_cond_signal(&e->ccv);
    pthread_mutex_unlock(&e->cmu);
    pthread_join(e->com_thr, NULL);
    e->com_running = 0;
}
