/*
 * step.c - running steps and actions.
 *
 * A step attempt runs on a libuv worker thread with a copy of its input.
 * Its outcome is decided back on the loop thread: success is applied in
 * memory and the workflow moves on at once, while its journal entry (with
 * the state it changed, in the same transaction) is queued to the
 * committer; failure becomes a retry after backoff, or fails the workflow
 * once attempts are exhausted.  So a step whose completion is not yet
 * journaled may run again after a crash (at-least-once), never a
 * journaled one; and before a step reaches another actor (eng_call) the
 * writes it depends on are made durable.  A timeout concludes
 * the attempt at once and flags the worker cancelled; its late result is
 * dropped.  Actions run synchronously on the caller's thread against a
 * snapshot of the committed state.
 */
#include "eng_int.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void free_handle(uv_handle_t *h)
{
    free(h);
}

static void sctx_free(struct eng_sctx *s)
{
    cJSON_Delete(s->input);
    cJSON_Delete(s->output);
    cJSON_Delete(s->state_copy);
    free(s->errmsg);
    free(s->path);
    free(s);
}

static void unlink_step(eng__actor *a, struct eng_sctx *s)
{
    for (struct eng_sctx **p = &a->steps; *p; p = &(*p)->next)
        if (*p == s) {
            *p = s->next;
            break;
        }
}

static void drop_lock(struct eng_sctx *s)
{
    if (s->has_lock) {
        cJSON_Delete(s->state_copy);
        s->state_copy = NULL;
        s->has_lock = 0;
        eng__state_unlock(s->a);
    }
}

static int64_t backoff(const eng_step_opts *o, int attempt)
{
    double d = (double)o->backoff_initial_ms * pow(o->backoff_factor, attempt - 1);
    if (d > (double)o->backoff_max_ms)
        d = (double)o->backoff_max_ms;
    return (int64_t)d;
}

/* A completed attempt is applied in memory at once: the state it changed
 * becomes the actor's, its lock is released and the workflow moves on.
 * Its journal write is queued behind the actor's earlier writes, so the
 * store always holds an in-order prefix of what the actor did. */
static void apply_success(struct eng_sctx *s)
{
    eng__actor *a = s->a;
    if (s->has_lock) {
        pthread_mutex_lock(&a->smu);
        if (s->state_copy) {
            cJSON_Delete(a->state);
            a->state = s->state_copy;
            s->state_copy = NULL;
        }
        a->state_locked = 0;
        s->has_lock = 0;
        pthread_cond_broadcast(&a->scv);
        pthread_mutex_unlock(&a->smu);
    }
    sctx_free(s);
    eng__actor_schedule(a);
}

static void retry_done(eng *e, eng__wreq *r)
{
    (void)e;
    if (r->run != r->a->run || !r->a->loaded)
        return;
    eng__centry *ce = eng__cache_get(r->a, eng__wreq_last(r, ENG__OP_ENTRY)->e.path);
    if (ce)
        ce->busy = 0;
    if (r->rc == 0)
        eng__actor_schedule(r->a);
}

static cJSON *error_obj(const char *msg, const char *key, int n)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "message", msg);
    if (key)
        cJSON_AddNumberToObject(j, key, n);
    return j;
}

static char *print_free(cJSON *j)
{
    char *t = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    if (!t)
        abort();
    return t;
}

/* Decides an attempt's outcome (loop thread).  From the timeout the worker
 * still owns s; from the worker's completion s is ours. */
static void conclude(struct eng_sctx *s, int rc, const char *msg,
                     int from_worker)
{
    eng__actor *a = s->a;
    eng__centry *ce = eng__cache_get(a, s->path);
    int loser = from_worker && s->lost && !s->concluded;
    s->concluded = 1;
    if (!ce) {
        if (from_worker) {
            drop_lock(s);
            sctx_free(s);
        }
        return;
    }
    int64_t now = eng_now_ms();
    cJSON *f = cJSON_CreateObject();
    cJSON_AddStringToObject(f, "path", s->path);
    eng__ev_int(f, "attempt", s->attempt);
    eng__wreq *r;
    if (rc == 0 && !loser) {
        /* Nobody waits for this write: it rides with the actor's next
         * commit, and several steps share one fsync. */
        r = eng__actor_req_lazy(a);
        ce->e.status = ENG__E_COMPLETED;
        ce->e.finished_at = now;
        free(ce->e.output);
        ce->e.output = s->output ? cJSON_PrintUnformatted(s->output)
                                 : strdup("null");
        free(ce->e.error);
        ce->e.error = NULL;
        cJSON_Delete(ce->out);
        ce->out = s->output ? s->output : cJSON_CreateNull();
        s->output = NULL;
        ce->busy = 0;
        if (s->start_op && s->start_dseq == a->dseq) {
            eng__entry_clear(&s->start_op->e);
            eng__entry_copy(&s->start_op->e, &ce->e);
        } else
            eng__op_entry(r, &ce->e, 0);
        if (s->state_copy) {
            eng__op_add(r, ENG__OP_STATE)->s1 =
                cJSON_PrintUnformatted(s->state_copy);
            cJSON *sf = cJSON_CreateObject();
            cJSON_AddStringToObject(sf, "path", s->path);
            eng__op_event(r, "state.changed", sf);
        }
        eng__op_event(r, "step.completed", f);
        apply_success(s);
        return;
    }
    r = eng__actor_req(a);
    free(ce->e.error);
    if (loser) {
        ce->e.status = ENG__E_FAILED;
        ce->e.finished_at = now;
        ce->e.error = print_free(error_obj("cancelled: another branch won", NULL, 0));
        eng__op_entry(r, &ce->e, 0);
        eng__op_event(r, "step.cancelled", f);
        r->loop_done = retry_done;
    } else if (s->attempt < s->max_attempts) {
        ce->e.status = ENG__E_RETRYING;
        ce->e.deadline = now + backoff(&s->opts, s->attempt);
        ce->e.error = print_free(error_obj(msg, "attempt", s->attempt));
        eng__op_entry(r, &ce->e, 0);
        cJSON_AddStringToObject(f, "error", msg);
        eng__op_event(r, "step.retrying", f);
        r->loop_done = retry_done;
    } else {
        ce->e.status = ENG__E_FAILED;
        ce->e.finished_at = now;
        ce->e.error = print_free(error_obj(msg, "attempts", s->attempt));
        eng__op_entry(r, &ce->e, 0);
        cJSON_AddStringToObject(f, "error", msg);
        eng__op_event(r, "step.failed", f);
        cJSON *err = error_obj(msg, "attempts", s->attempt);
        cJSON_AddStringToObject(err, "step", s->path);
        free(a->cur_step);
        a->cur_step = strdup(s->path);
        a->cur_attempt = s->attempt;
        eng__actor_fail(a, err);
        r->loop_done = retry_done;
    }
    ce->busy = 1;
    eng__submit(a->e, r);
    if (a->wst == ENG__W_FAILED)
        eng__actor_status_sync(a);
    if (from_worker) {
        drop_lock(s);
        sctx_free(s);
    }
}

static void on_timeout(uv_timer_t *h)
{
    struct eng_sctx *s = h->data;
    if (s->concluded || s->gen != s->a->gen || s->e->stopping)
        return;
    atomic_store(&s->cancelled, 1);
    char msg[64];
    snprintf(msg, sizeof msg, "timed out after %lld ms",
             (long long)s->opts.timeout_ms);
    eng_log("%s%s%s: step %s attempt %d %s", ENG__LBL(s->a), s->path,
            s->attempt, msg);
    conclude(s, -ETIMEDOUT, msg, 0);
}

static void work_cb(uv_work_t *w)
{
    struct eng_sctx *s = w->data;
    s->output = NULL;
    s->rc = s->fn(s, s->input, &s->output);
}

static void after_cb(uv_work_t *w, int status)
{
    (void)status;
    struct eng_sctx *s = w->data;
    eng__actor *a = s->a;
    unlink_step(a, s);
    a->nsteps--;
    if (s->tmo) {
        uv_close((uv_handle_t *)s->tmo, free_handle);
        s->tmo = NULL;
    }
    /* While stopping, a success is still journaled (it happened) but a
     * failure, likely from the cancellation, does not cost an attempt. */
    if (s->concluded || s->gen != a->gen || a->destroyed || !a->loaded ||
        (a->e->stopping && s->rc != 0)) {
        drop_lock(s);
        sctx_free(s);
    } else {
        char buf[300];
        const char *msg = s->errmsg;
        if (s->rc != 0 && !msg) {
            snprintf(buf, sizeof buf, "step failed: %s",
                     s->rc < 0 ? strerror(-s->rc) : "bad return value");
            msg = buf;
        }
        conclude(s, s->rc, msg, 1);
    }
    eng__actor_idle_check(a);
}

int eng__step_start(eng__actor *a, eng__centry *ce, eng_step_fn fn,
                    const cJSON *input, const eng_step_opts *opts)
{
    struct eng_sctx *s = calloc(1, sizeof *s);
    if (!s)
        abort();
    s->a = a;
    s->e = a->e;
    s->path = strdup(ce->e.path);
    s->attempt = ce->e.attempts + 1;
    s->gen = a->gen;
    s->fn = fn;
    s->input = input ? cJSON_Duplicate(input, 1) : NULL;
    if (opts)
        s->opts = *opts;
    if (s->opts.max_attempts <= 0)
        s->opts.max_attempts = 3;
    if (s->opts.backoff_initial_ms <= 0)
        s->opts.backoff_initial_ms = 100;
    if (s->opts.backoff_factor <= 0)
        s->opts.backoff_factor = 2;
    if (s->opts.backoff_max_ms <= 0)
        s->opts.backoff_max_ms = 30000;
    if (s->opts.timeout_ms == 0)
        s->opts.timeout_ms = 30000;
    s->max_attempts = s->opts.max_attempts;
    s->work.data = s;

    int created = ce->e.attempts == 0 && ce->e.status == ENG__E_RUNNING;
    ce->e.attempts = s->attempt;
    ce->e.status = ENG__E_RUNNING;
    ce->e.deadline = -1;
    if (ce->e.started_at < 0)
        ce->e.started_at = eng_now_ms();
    ce->busy = 1;
    eng__wreq *r = eng__actor_req_lazy(a);
    s->start_op = eng__op_entry(r, &ce->e, created);
    s->start_dseq = a->dseq;
    cJSON *f = cJSON_CreateObject();
    cJSON_AddStringToObject(f, "path", s->path);
    eng__ev_int(f, "attempt", s->attempt);
    eng__op_event(r, "step.started", f);

    free(a->cur_step);
    a->cur_step = strdup(s->path);
    a->cur_attempt = s->attempt;
    s->next = a->steps;
    a->steps = s;
    a->nsteps++;
    int rc = uv_queue_work(&a->e->loop, &s->work, work_cb, after_cb);
    if (rc < 0) {
        eng_log("cannot queue step %s: %s", s->path, uv_strerror(rc));
        unlink_step(a, s);
        a->nsteps--;
        ce->busy = 0;
        sctx_free(s);
        return -EAGAIN;
    }
    if (s->opts.timeout_ms > 0) {
        s->tmo = calloc(1, sizeof *s->tmo);
        if (!s->tmo)
            abort();
        uv_timer_init(&a->e->loop, s->tmo);
        s->tmo->data = s;
        uv_timer_start(s->tmo, on_timeout, (uint64_t)s->opts.timeout_ms, 0);
    }
    return 0;
}

/* ---- inside a step ---- */

cJSON *eng_sctx_state(eng_sctx *s)
{
    if (s->has_lock)
        return s->state_copy;
    eng__actor *a = s->a;
    pthread_mutex_lock(&a->smu);
    while (a->state_locked)
        pthread_cond_wait(&a->scv, &a->smu);
    a->state_locked = 1;
    s->state_copy = a->state ? cJSON_Duplicate(a->state, 1)
                             : cJSON_CreateObject();
    pthread_mutex_unlock(&a->smu);
    s->has_lock = 1;
    return s->state_copy;
}

int eng_sctx_cancelled(const eng_sctx *s)
{
    return atomic_load(&s->cancelled);
}

int eng_sctx_attempt(const eng_sctx *s)
{
    return s->attempt;
}

const char *eng_sctx_key(const eng_sctx *s)
{
    return s->a->key;
}

void *eng_sctx_type_ud(const eng_sctx *s)
{
    return s->a->t ? s->a->t->ud : NULL;
}

eng *eng_sctx_engine(const eng_sctx *s)
{
    return s->e;
}

void eng_sctx_error(eng_sctx *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    free(s->errmsg);
    if (vasprintf(&s->errmsg, fmt, ap) < 0)
        s->errmsg = NULL;
    va_end(ap);
}

struct barrier {
    eng__job j;
    eng__actor *a;
    eng__wreq *r;
};

static void barrier_job(eng *e, eng__job *j)
{
    struct barrier *b = (struct barrier *)j;
    eng__actor_flush(b->a);
    eng__submit(e, b->r);
    free(b);
}

/* Waits until every write the actor queued before now is committed: the
 * committer applies requests in order, so an empty request submitted
 * after the actor's deferred ones completes after them.  -EIO if one of
 * them failed (the actor then reloads from the store). */
static int writes_durable(eng_sctx *s)
{
    eng__sync sy;
    eng__sync_init(&sy);
    struct barrier *b = calloc(1, sizeof *b);
    if (!b)
        abort();
    b->j.fn = barrier_job;
    b->a = s->a;
    b->r = eng__wreq_new(0, 0, NULL, NULL);
    b->r->sync = &sy;
    eng__wreq *r = b->r;
    eng__post(s->e, &b->j);
    eng__sync_wait(&sy);
    eng__sync_destroy(&sy);
    int rc = r->rc;
    eng__wreq_free(r);
    if (rc == 0 && atomic_load(&s->a->wfail) != 0)
        rc = -EIO;
    return rc;
}

int eng_call(eng_sctx *s, const char *type, const char *key,
             const char *action, const cJSON *args, cJSON **result)
{
    char err[512] = "";
    *result = NULL;
    /* What the other actor sees or does must not rest on steps of this
     * actor that a crash could still undo. */
    int rc = writes_durable(s);
    if (rc < 0)
        snprintf(err, sizeof err, "journaling earlier steps: %s",
                 strerror(-rc));
    if (rc == 0)
        rc = eng_actor_create(s->e, type, key, err, sizeof err);
    if (rc == 0)
        rc = eng__action_run(s->e, type, key, action, args, result,
                             &s->cancelled, err, sizeof err);
    if (rc < 0)
        eng_sctx_error(s, "%s%s%s %s: %s", type, key && *key ? "@" : "",
                       key ? key : "", action,
                       *err ? err : strerror(-rc));
    return rc;
}

/* ---- actions ---- */

int eng__action_run(eng *e, const char *type, const char *key,
                    const char *action, const cJSON *args, cJSON **result,
                    const atomic_int *cancel, char *err, size_t errlen)
{
    *result = NULL;
    const eng_type *t = eng_type_find(e, type);
    if (!t) {
        snprintf(err, errlen, "unknown actor type '%s'", type ? type : "");
        return -ENOENT;
    }
    const eng_action_def *ad = NULL;
    for (size_t i = 0; action && i < t->nactions; i++)
        if (strcmp(t->actions[i].name, action) == 0)
            ad = &t->actions[i];
    if (!ad) {
        snprintf(err, errlen, "%s has no action '%s'", type,
                 action ? action : "");
        return -ENOENT;
    }
    int64_t id;
    if (eng__actor_id(e, type, key, &id) < 0) {
        snprintf(err, errlen, "no actor %s%s%s", type, key && *key ? "@" : "",
                 key ? key : "");
        return -ENOENT;
    }
    eng__conn *c;
    char *json = NULL;
    int rc = e->so->rget(e->st, &c);
    if (rc == 0) {
        rc = e->so->r_state(c, id, &json);
        e->so->rput(e->st, c);
    }
    if (rc < 0) {
        snprintf(err, errlen, "reading state: %s", strerror(-rc));
        return rc;
    }
    eng_actx ax = {.e = e, .key = key ? key : "", .ud = t->ud,
                   .state = eng__parse_or_null(json), .cancel = cancel};
    free(json);
    rc = ad->fn(&ax, args, result);
    if (rc < 0) {
        snprintf(err, errlen, "%s", ax.errmsg ? ax.errmsg : strerror(-rc));
        cJSON_Delete(*result);
        *result = NULL;
    }
    free(ax.errmsg);
    cJSON_Delete(ax.state);
    return rc;
}

int eng_action(eng *e, const char *type, const char *key, const char *action,
               const cJSON *args, cJSON **result, char *err, size_t errlen)
{
    return eng__action_run(e, type, key, action, args, result, NULL, err,
                           errlen);
}

const cJSON *eng_actx_state(const eng_actx *a)
{
    return a->state;
}

int eng_actx_cancelled(const eng_actx *a)
{
    return a->cancel ? atomic_load(a->cancel) : 0;
}

const char *eng_actx_key(const eng_actx *a)
{
    return a->key;
}

void *eng_actx_type_ud(const eng_actx *a)
{
    return a->ud;
}

eng *eng_actx_engine(const eng_actx *a)
{
    return a->e;
}

void eng_actx_error(eng_actx *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    free(a->errmsg);
    if (vasprintf(&a->errmsg, fmt, ap) < 0)
        a->errmsg = NULL;
    va_end(ap);
}
