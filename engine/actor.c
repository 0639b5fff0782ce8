/*
 * actor.c - actors in memory: the actor table, the journal cache, running
 * and re-running the run function, status, eviction and startup resume.
 *
 * An actor is either loaded (journal cache and state in memory) or a stub
 * (id, type, key, what it waits on).  A run function is simply called
 * again from the top whenever something it waits for is done (a step's
 * result or a taken message is in the cache; its journal write may still
 * be on its way to the committer); its workflow calls answer from the
 * cache.  An actor is evicted only when it is idle: not running, no step
 * on a worker, no write of its own still uncommitted, so a reload from
 * the store always sees everything it did.
 */
#include "eng_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *eng__seqkey(const char *parent, int seq)
{
    char *s;
    if (asprintf(&s, "%s\x1f%d", parent ? parent : "", seq) < 0)
        abort();
    return s;
}

eng__actor *eng__actor_new(eng *e, int64_t id, const char *type,
                           const char *key, const eng_type *t)
{
    eng__actor *a = calloc(1, sizeof *a);
    if (!a)
        abort();
    a->e = e;
    a->id = id;
    a->type = strdup(type);
    a->key = strdup(key);
    if (!a->type || !a->key)
        abort();
    a->t = t;
    a->run = 1;
    a->wait_until = -1;
    pthread_mutex_init(&a->smu, NULL);
    pthread_cond_init(&a->scv, NULL);
    return a;
}

static void centry_free(eng__centry *ce)
{
    eng__entry_clear(&ce->e);
    cJSON_Delete(ce->out);
    free(ce);
}

static int drop_all(const char *k, void *v, void *ud)
{
    (void)k;
    (void)v;
    (void)ud;
    return 1;
}

static int free_centry(const char *k, void *v, void *ud)
{
    (void)k;
    (void)ud;
    centry_free(v);
    return 1;
}

void eng__cache_clear(eng__actor *a)
{
    eng__map_filter(&a->seqs, drop_all, NULL);
    eng__map_filter(&a->cache, free_centry, NULL);
    eng__map_free(&a->seqs);
    eng__map_free(&a->cache);
}

static void free_handle(uv_handle_t *h)
{
    free(h);
}

void eng__actor_free(eng__actor *a)
{
    if (!a)
        return;
    eng__take_marks_clear(a);
    eng__cache_clear(a);
    eng__map_free(&a->empty);
    if (a->timer)
        uv_close((uv_handle_t *)a->timer, free_handle);
    cJSON_Delete(a->state);
    eng__status_clear(&a->last);
    free(a->error);
    free(a->cur_step);
    free(a->wait_queue);
    free(a->type);
    free(a->key);
    pthread_mutex_destroy(&a->smu);
    pthread_cond_destroy(&a->scv);
    free(a);
}

int eng__actor_id(eng *e, const char *type, const char *key, int64_t *id)
{
    if (!type || !eng_type_find(e, type))
        return -ENOENT;
    char *name = eng__actor_name(type, key ? key : "");
    pthread_mutex_lock(&e->amu);
    eng__actor *a = eng__map_get(&e->actors, name);
    if (a && !a->destroyed)
        *id = a->id;
    pthread_mutex_unlock(&e->amu);
    free(name);
    return a && !a->destroyed ? 0 : -ENOENT;
}

eng__actor *eng__actor_get(eng *e, const char *type, const char *key)
{
    char *name = eng__actor_name(type, key);
    pthread_mutex_lock(&e->amu);
    eng__actor *a = eng__map_get(&e->actors, name);
    pthread_mutex_unlock(&e->amu);
    free(name);
    return a;
}

/* ---- the journal cache ---- */

eng__centry *eng__cache_get(eng__actor *a, const char *path)
{
    return eng__map_get(&a->cache, path);
}

void eng__cache_put(eng__actor *a, const eng__entry *en, int busy)
{
    eng__centry *ce = eng__map_get(&a->cache, en->path);
    if (!ce) {
        ce = calloc(1, sizeof *ce);
        if (!ce || eng__map_put(&a->cache, en->path, ce) < 0)
            abort();
    } else {
        char *old = eng__seqkey(ce->e.parent, ce->e.seq);
        eng__map_del(&a->seqs, old);
        free(old);
        eng__entry_clear(&ce->e);
        cJSON_Delete(ce->out);
        ce->out = NULL;
    }
    ce->e = *en;
    ce->e.path = strdup(en->path);
    ce->e.parent = strdup(en->parent ? en->parent : "");
    ce->e.name = strdup(en->name ? en->name : "");
    ce->e.output = en->output ? strdup(en->output) : NULL;
    ce->e.error = en->error ? strdup(en->error) : NULL;
    ce->out = en->output ? eng__parse_or_null(en->output) : NULL;
    ce->busy = busy;
    char *k = eng__seqkey(ce->e.parent, ce->e.seq);
    if (eng__map_put(&a->seqs, k, ce) < 0)
        abort();
    free(k);
}

struct tree_ctx {
    eng__actor *a;
    const char *path;
    size_t len;
};

static int under(const char *key, const char *path, size_t len)
{
    return strncmp(key, path, len) == 0 && (key[len] == 0 || key[len] == '/');
}

static int drop_tree(const char *k, void *v, void *ud)
{
    struct tree_ctx *t = ud;
    if (!under(k, t->path, t->len))
        return 0;
    eng__centry *ce = v;
    char *sk = eng__seqkey(ce->e.parent, ce->e.seq);
    if (eng__map_get(&t->a->seqs, sk) == ce)
        eng__map_del(&t->a->seqs, sk);
    free(sk);
    centry_free(ce);
    return 1;
}

void eng__cache_del_tree(eng__actor *a, const char *path)
{
    struct tree_ctx t = {a, path, strlen(path)};
    eng__map_filter(&a->cache, drop_tree, &t);
}

/* ---- load and evict ---- */

int eng__actor_load(eng__actor *a)
{
    eng *e = a->e;
    eng__take_marks_clear(a);
    eng__conn *c;
    int rc = e->so->rget(e->st, &c);
    if (rc < 0)
        return rc;
    eng__status st = {0};
    char *state = NULL;
    eng__entry *ents = NULL;
    size_t n = 0;
    rc = e->so->r_status(c, a->id, &st);
    if (rc == 0)
        rc = e->so->r_state(c, a->id, &state);
    if (rc == 0)
        rc = e->so->r_entries(c, a->id, st.run, &ents, &n);
    e->so->rput(e->st, c);
    if (rc < 0) {
        eng__status_clear(&st);
        free(state);
        return rc;
    }
    eng__cache_clear(a);
    for (size_t i = 0; i < n; i++)
        eng__cache_put(a, &ents[i], 0);
    eng__entries_free(ents, n);
    cJSON *js = cJSON_Parse(state);
    free(state);
    if (!js)
        js = cJSON_CreateObject();
    pthread_mutex_lock(&a->smu);
    cJSON_Delete(a->state);
    a->state = js;
    pthread_mutex_unlock(&a->smu);
    a->run = st.run;
    a->wst = st.status;
    free(a->error);
    a->error = st.error ? strdup(st.error) : NULL;
    free(a->cur_step);
    a->cur_step = st.step ? strdup(st.step) : NULL;
    a->cur_attempt = st.attempt;
    eng__status_clear(&a->last);
    a->last = st;
    if (!a->loaded)
        a->e->nloaded++;
    a->loaded = 1;
    return 0;
}

static void actor_evict(eng__actor *a)
{
    eng__take_marks_clear(a);
    eng__cache_clear(a);
    pthread_mutex_lock(&a->smu);
    cJSON_Delete(a->state);
    a->state = NULL;
    pthread_mutex_unlock(&a->smu);
    free(a->error);
    a->error = NULL;
    free(a->cur_step);
    a->cur_step = NULL;
    eng__status_clear(&a->last);
    if (a->loaded)
        a->e->nloaded--;
    a->loaded = 0;
}

/* Idle actors kept in memory beyond this many are evicted at once, so many
 * idle actors cost only their stubs. */
#define ENG__MAX_LOADED 512

static int terminal(int wst)
{
    return wst == ENG__W_FAILED || wst == ENG__W_COMPLETED ||
           wst == ENG__W_CANCELLED;
}

static void on_timer(uv_timer_t *h)
{
    eng__actor_schedule(h->data);
}

static void timer_arm(eng__actor *a, int64_t at)
{
    if (at < 0) {
        if (a->timer)
            uv_timer_stop(a->timer);
        return;
    }
    if (!a->timer) {
        a->timer = calloc(1, sizeof *a->timer);
        if (!a->timer)
            abort();
        uv_timer_init(&a->e->loop, a->timer);
        a->timer->data = a;
    }
    int64_t d = at - eng_now_ms();
    uv_timer_start(a->timer, on_timer, d > 0 ? (uint64_t)d : 0, 0);
    a->timer_at = at;
}

void eng__actor_idle_check(eng__actor *a)
{
    eng *e = a->e;
    if (a->in_run || a->ready || a->pending > 0 || a->nsteps > 0) {
        eng__maybe_finish(e);
        return;
    }
    if (a->destroyed == 2) {
        eng__actor_free(a);
        eng__maybe_finish(e);
        return;
    }
    int64_t now = eng_now_ms();
    if (a->broken && !e->stopping) {
        eng_log("%s%s%s: reloading from the store after a failed commit",
                ENG__LBL(a));
        actor_evict(a);
        a->broken = 0;
        /* No request of the actor is left (pending is 0): what the store
         * holds is all a replay sees, so its writes may commit again. */
        atomic_store(&a->wfail, 0);
        timer_arm(a, now + 200);
    } else if (a->loaded &&
               (e->cfg.evict_always || terminal(a->wst) ||
                e->nloaded > ENG__MAX_LOADED ||
                (a->idle_since > 0 && now - a->idle_since > 30000)))
        actor_evict(a);
    if (!a->idle_since)
        a->idle_since = now;
    eng__maybe_finish(e);
}

/* ---- requests on behalf of an actor ---- */

static void req_noop(eng *e, eng__wreq *r)
{
    (void)e;
    (void)r;
}

static eng__wreq *req_new(eng__actor *a)
{
    eng__wreq *r = eng__wreq_new(a->id, a->run, a->type, a->key);
    r->a = a;
    r->loop_done = req_noop;
    a->pending++;
    return r;
}

static void deferred_unlink(eng__actor *a)
{
    if (a->dprev) {
        *a->dprev = a->dnext;
        if (a->dnext)
            a->dnext->dprev = a->dprev;
    }
    a->dnext = NULL;
    a->dprev = NULL;
}

eng__wreq *eng__actor_req(eng__actor *a)
{
    eng__wreq *r = a->deferred;
    if (!r || r->run != a->run)
        eng__actor_flush(a);
    else {
        a->deferred = NULL;
        a->dseq++;
        deferred_unlink(a);
        return r;
    }
    return req_new(a);
}

static void on_flush(uv_timer_t *h)
{
    eng__flush_all(h->data);
}

eng__wreq *eng__actor_req_lazy(eng__actor *a)
{
    eng *e = a->e;
    if (a->deferred && a->deferred->run != a->run)
        eng__actor_flush(a);
    if (!a->deferred) {
        a->deferred = req_new(a);
        a->dseq++;
        a->dnext = e->deferred;
        if (a->dnext)
            a->dnext->dprev = &a->dnext;
        a->dprev = &e->deferred;
        e->deferred = a;
        if (!uv_is_active((uv_handle_t *)&e->flush))
            uv_timer_start(&e->flush, on_flush, 3, 0);
    }
    return a->deferred;
}

void eng__actor_flush(eng__actor *a)
{
    eng__wreq *r = a->deferred;
    if (!r)
        return;
    a->deferred = NULL;
    a->dseq++;
    deferred_unlink(a);
    eng__submit(a->e, r);
}

void eng__flush_all(eng *e)
{
    while (e->deferred)
        eng__actor_flush(e->deferred);
}

void eng__actor_req_done(eng__actor *a, eng__wreq *r)
{
    a->pending--;
    if (r->rc < 0 && !a->broken) {
        eng_log("%s%s%s: commit failed: %s", ENG__LBL(a), strerror(-r->rc));
        a->broken = 1;
    }
}

/* ---- status ---- */

static int str_eq(const char *x, const char *y)
{
    return (!x && !y) || (x && y && strcmp(x, y) == 0);
}

void eng__actor_status_sync(eng__actor *a)
{
    if (!a->loaded || a->destroyed)
        return;
    eng__status st = {.run = a->run, .status = a->wst};
    char buf[300];
    if (terminal(a->wst)) {
        st.error = a->error;
        if (a->wst == ENG__W_FAILED) {
            st.step = a->cur_step;
            st.attempt = a->cur_attempt;
        }
    } else if (a->nsteps > 0 || a->wait_retry) {
        st.status = ENG__W_RUNNING;
        st.step = a->cur_step;
        st.attempt = a->cur_attempt;
    } else if (a->wait_any) {
        st.status = ENG__W_WAITING;
        snprintf(buf, sizeof buf, "queue:%s", a->wait_queue);
        st.waiting_on = buf;
    } else if (a->wait_until >= 0) {
        char iso[40];
        st.status = ENG__W_SLEEPING;
        snprintf(buf, sizeof buf, "timer:%s",
                 eng__iso_time(a->wait_until, iso, sizeof iso));
        st.waiting_on = buf;
    } else {
        st.status = ENG__W_RUNNING;
        st.step = a->cur_step;
        st.attempt = a->cur_attempt;
    }
    a->wst = st.status;
    eng__status *l = &a->last;
    if (l->run == st.run && l->status == st.status &&
        l->attempt == st.attempt && str_eq(l->waiting_on, st.waiting_on) &&
        str_eq(l->step, st.step) && str_eq(l->error, st.error))
        return;
    eng__wreq *r = eng__actor_req_lazy(a);
    /* The row is overwritten: an earlier write of the same commit is
     * dropped (the later one comes after anything else that writes it). */
    if (r->status_op)
        r->status_op->kind = ENG__OP_NONE;
    eng__op *o = eng__op_add(r, ENG__OP_STATUS);
    r->status_op = o;
    o->st.run = st.run;
    o->st.status = st.status;
    o->st.attempt = st.attempt;
    o->st.waiting_on = st.waiting_on ? strdup(st.waiting_on) : NULL;
    o->st.step = st.step ? strdup(st.step) : NULL;
    o->st.error = st.error ? strdup(st.error) : NULL;
    if (l->status != st.status || l->run != st.run) {
        cJSON *f = cJSON_CreateObject();
        cJSON_AddStringToObject(f, "status", eng__wstatus_name(st.status));
        eng__ev_int(f, "run", st.run);
        if (st.error)
            cJSON_AddItemToObject(f, "error", eng__parse_or_null(st.error));
        eng__op_event(r, "workflow.status", f);
    }
    eng__status_clear(l);
    l->run = st.run;
    l->status = st.status;
    l->attempt = st.attempt;
    l->waiting_on = st.waiting_on ? strdup(st.waiting_on) : NULL;
    l->step = st.step ? strdup(st.step) : NULL;
    l->error = st.error ? strdup(st.error) : NULL;
}

void eng__actor_fail(eng__actor *a, cJSON *error)
{
    char *txt = cJSON_PrintUnformatted(error);
    cJSON_Delete(error);
    if (!txt)
        abort();
    eng_log("%s%s%s: workflow failed: %s", ENG__LBL(a), txt);
    free(a->error);
    a->error = txt;
    a->wst = ENG__W_FAILED;
    a->halted = 1;
}

void eng__actor_cancel_steps(eng__actor *a, const char *prefix, int lost)
{
    size_t n = prefix ? strlen(prefix) : 0;
    for (struct eng_sctx *s = a->steps; s; s = s->next)
        if (!prefix || !n || under(s->path, prefix, n)) {
            atomic_store(&s->cancelled, 1);
            s->lost |= lost;
        }
}

void eng__state_unlock(eng__actor *a)
{
    pthread_mutex_lock(&a->smu);
    a->state_locked = 0;
    pthread_cond_broadcast(&a->scv);
    pthread_mutex_unlock(&a->smu);
}

/* ---- running ---- */

static void on_idle_run(uv_idle_t *h);

void eng__actor_schedule(eng__actor *a)
{
    eng *e = a->e;
    if (e->stopping || a->destroyed || a->ready)
        return;
    a->ready = 1;
    a->rnext = e->ready;
    e->ready = a;
    uv_idle_start(&e->idle, on_idle_run);
}

static void on_idle_run(uv_idle_t *h)
{
    eng__run_ready(h->data);
}

static void actor_run(eng__actor *a)
{
    eng *e = a->e;
    a->ready = 0;
    if (e->stopping || a->destroyed || a->broken || !a->t || !a->t->run) {
        eng__actor_idle_check(a);
        return;
    }
    if (!a->loaded) {
        int rc = eng__actor_load(a);
        if (rc < 0) {
            eng_log("%s%s%s: cannot load: %s", ENG__LBL(a), strerror(-rc));
            a->broken = 1;
            eng__actor_idle_check(a);
            return;
        }
    }
    a->idle_since = 0;
    if (terminal(a->wst)) {
        eng__actor_idle_check(a);
        return;
    }
    a->wait_any = 0;
    free(a->wait_queue);
    a->wait_queue = NULL;
    a->wait_until = -1;
    a->wait_retry = 0;
    a->halted = 0;
    eng__scope top = {"", "", 0};
    eng_ctx c = {.a = a, .sc = &top};
    a->in_run = 1;
    int rc = a->t->run(&c);
    a->in_run = 0;
    if (!a->halted && rc != ENG_SUSPEND) {
        if (rc == 0 || rc == ENG_BREAK) {
            a->wst = ENG__W_COMPLETED;
            free(a->error);
            a->error = NULL;
        } else {
            cJSON *err = cJSON_CreateObject();
            char msg[256];
            snprintf(msg, sizeof msg, "run function failed: %s",
                     rc < 0 ? strerror(-rc) : "unexpected return value");
            cJSON_AddStringToObject(err, "message", msg);
            eng__actor_fail(a, err);
        }
    }
    timer_arm(a, terminal(a->wst) ? -1 : a->wait_until);
    eng__actor_status_sync(a);
    eng__actor_idle_check(a);
}

void eng__run_ready(eng *e)
{
    eng__actor *list = e->ready;
    e->ready = NULL;
    if (!list)
        uv_idle_stop(&e->idle);
    while (list) {
        eng__actor *a = list;
        list = a->rnext;
        a->rnext = NULL;
        actor_run(a);
    }
}

/* ---- creation, startup, wakeups ---- */

struct name_job {
    eng__job j;
    char *type, *key, *queue;
};

static void name_job_free(struct name_job *n)
{
    free(n->type);
    free(n->key);
    free(n->queue);
    free(n);
}

static struct name_job *name_job_new(void (*fn)(eng *, eng__job *),
                                     const char *type, const char *key,
                                     const char *queue)
{
    struct name_job *n = calloc(1, sizeof *n);
    if (!n)
        abort();
    n->j.fn = fn;
    n->type = strdup(type);
    n->key = strdup(key);
    n->queue = queue ? strdup(queue) : NULL;
    return n;
}

static void start_job(eng *e, eng__job *j)
{
    struct name_job *n = (struct name_job *)j;
    eng__actor *a = eng__actor_get(e, n->type, n->key);
    if (a)
        eng__actor_schedule(a);
    name_job_free(n);
}

static void enqueued_job(eng *e, eng__job *j)
{
    struct name_job *n = (struct name_job *)j;
    eng__actor *a = eng__actor_get(e, n->type, n->key);
    if (a) {
        eng__map_del(&a->empty, n->queue);
        if (a->t && a->t->run && !terminal(a->wst) && a->nsteps == 0)
            eng__actor_schedule(a);
    }
    name_job_free(n);
}

void eng__enqueued(eng *e, const char *type, const char *key,
                   const char *queue)
{
    /* Only a workflow waits on a queue or marks one empty: for a type with
     * none, waking the loop thread would cost a thread hand-off for
     * nothing. */
    const eng_type *t = eng_type_find(e, type);
    if (!e->started || !t || !t->run)
        return;
    eng__post(e, &name_job_new(enqueued_job, type, key, queue)->j);
}

static eng__actor *table_add(eng *e, int64_t id, const char *type,
                             const char *key, int *added)
{
    const eng_type *t = eng_type_find(e, type);
    char *name = eng__actor_name(type, key);
    pthread_mutex_lock(&e->amu);
    eng__actor *a = eng__map_get(&e->actors, name);
    *added = 0;
    if (!a) {
        a = eng__actor_new(e, id, type, key, t);
        if (eng__map_put(&e->actors, name, a) < 0)
            abort();
        *added = 1;
    }
    pthread_mutex_unlock(&e->amu);
    free(name);
    return a;
}

int eng_actor_create(eng *e, const char *type, const char *key, char *err,
                     size_t errlen)
{
    const eng_type *t = eng_type_find(e, type);
    if (!t) {
        snprintf(err, errlen, "unknown actor type '%s'", type ? type : "");
        return -ENOENT;
    }
    if (!key)
        key = "";
    if (*key && !eng_name_ok(key)) {
        snprintf(err, errlen, "invalid actor key");
        return -EINVAL;
    }
    int64_t id;
    if (eng__actor_id(e, type, key, &id) == 0)
        return 0;
    eng__wreq *r = eng__wreq_new(0, 1, type, key);
    eng__op *o = eng__op_add(r, ENG__OP_ACTOR_INSERT);
    o->s1 = strdup(t->initial_state ? t->initial_state : "{}");
    int rc = eng__submit_wait(e, r);
    id = r->actor;
    int created = r->created;
    eng__wreq_free(r);
    if (rc < 0) {
        snprintf(err, errlen, "cannot store actor %s: %s", type, strerror(-rc));
        return rc;
    }
    if (created && t->on_create) {
        rc = t->on_create(e, key, t->ud, err, errlen);
        if (rc < 0) {
            r = eng__wreq_new(id, 1, type, key);
            eng__op_add(r, ENG__OP_ACTOR_DELETE);
            eng__submit_wait(e, r);
            eng__wreq_free(r);
            return rc;
        }
    }
    int added;
    table_add(e, id, type, key, &added);
    if (added && t->run && e->started)
        eng__post(e, &name_job_new(start_job, type, key, NULL)->j);
    return 0;
}

/* An actor that waits on a queue, with no message pending, no timer and
 * no step in flight, stays a stub until a message arrives.  The take of a
 * message leaves "waiting" in the same transaction, so this is safe. */
static int stays_stub(eng *e, eng__conn *c, const eng__actor_row *row)
{
    if (row->st.status != ENG__W_WAITING)
        return 0;
    int64_t pending = 1, active = 1;
    if (e->so->r_pending_count(c, row->id, &pending) < 0 ||
        e->so->r_active(c, row->id, row->st.run, &active) < 0)
        return 0;
    return pending == 0 && active == 0;
}

int eng__actors_resume(eng *e)
{
    eng__conn *c;
    int rc = e->so->rget(e->st, &c);
    if (rc < 0)
        return rc;
    eng__actor_row *rows = NULL;
    size_t n = 0;
    rc = e->so->r_actors(c, &rows, &n);
    for (size_t i = 0; i < n; i++) {
        int added;
        if (rc == 0 && eng_type_find(e, rows[i].type)) {
            eng__actor *a = table_add(e, rows[i].id, rows[i].type, rows[i].key,
                                      &added);
            a->run = rows[i].st.run;
            a->wst = rows[i].st.status;
            if (a->t && a->t->run && !terminal(a->wst)) {
                if (stays_stub(e, c, &rows[i]))
                    a->wait_any = 1;
                else
                    eng__actor_schedule(a);
            }
        }
        free(rows[i].type);
        free(rows[i].key);
        eng__status_clear(&rows[i].st);
    }
    e->so->rput(e->st, c);
    free(rows);
    return rc;
}

static int cmp_str(const void *x, const void *y)
{
    return strcmp(*(char *const *)x, *(char *const *)y);
}

int eng_actor_list(eng *e, eng_strv *out)
{
    out->v = NULL;
    out->n = 0;
    pthread_mutex_lock(&e->amu);
    size_t cap = e->actors.n, k = 0;
    char **v = calloc(cap ? cap : 1, sizeof *v);
    if (!v) {
        pthread_mutex_unlock(&e->amu);
        return -ENOMEM;
    }
    for (size_t i = 0; i < e->actors.nb; i++)
        for (eng__mnode *m = e->actors.b[i]; m; m = m->next) {
            eng__actor *a = m->val;
            if (a->destroyed || !a->t)
                continue;
            int rc = *a->key ? asprintf(&v[k], "%s@%s", a->type, a->key)
                             : asprintf(&v[k], "%s", a->type);
            if (rc < 0)
                abort();
            k++;
        }
    pthread_mutex_unlock(&e->amu);
    qsort(v, k, sizeof *v, cmp_str);
    out->v = v;
    out->n = k;
    return 0;
}

int eng_actor_exists(eng *e, const char *type, const char *key)
{
    int64_t id;
    return eng__actor_id(e, type, key, &id);
}
