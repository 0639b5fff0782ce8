/*
 * wf.c - the workflow API of eng.h as seen by a run function: step, loop,
 * queue_next(_batch), sleep(_until), join and race.
 *
 * Each call names an entry at its location (scope prefix + name) and takes
 * the next ordinal of its scope; the journal must agree on both, which is
 * how a changed workflow is caught as a history divergence instead of
 * silently reusing someone else's result.  A completed entry answers at
 * once; anything else schedules its work and answers ENG_SUSPEND.
 */
#include "eng_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The -errno workflow calls give once the workflow has stopped. */
#define HALT (-ECANCELED)

static void fail_msg(eng__actor *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void fail_msg(eng__actor *a, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    cJSON *err = cJSON_CreateObject();
    cJSON_AddStringToObject(err, "message", msg);
    eng__actor_fail(a, err);
}

static char *join_path(const char *prefix, const char *name)
{
    char *p;
    if (asprintf(&p, "%s%s", prefix, name) < 0)
        abort();
    return p;
}

static const char *label(const eng__centry *ce, int kind, const char *name,
                         char *buf, size_t len)
{
    if (ce && ce->e.kind != kind && strcmp(ce->e.name, name) == 0)
        snprintf(buf, len, "%s %s", eng__kind_name(ce->e.kind), ce->e.name);
    else
        snprintf(buf, len, "%s", ce ? ce->e.name : "(nothing)");
    return buf;
}

/* Names the entry for the next call of KIND in the current scope and checks
 * it against the journal.  *ce is the journaled entry or NULL. */
static int enter(eng_ctx *c, const char *name, int kind, char **path,
                 eng__centry **ce, int *seq)
{
    eng__actor *a = c->a;
    *path = NULL;
    *ce = NULL;
    if (a->halted)
        return HALT;
    if (!eng__step_name_ok(name)) {
        fail_msg(a, "invalid workflow entry name '%s' in %s", name ? name : "",
                 *c->sc->parent ? c->sc->parent : "the top level");
        return HALT;
    }
    *seq = c->sc->seq++;
    char *p = join_path(c->sc->prefix, name);
    char *sk = eng__seqkey(c->sc->parent, *seq);
    eng__centry *at = eng__map_get(&a->seqs, sk);
    free(sk);
    eng__centry *byname = eng__cache_get(a, p);
    if ((at && at != byname) || (byname && byname != at) ||
        (at && at->e.kind != kind)) {
        char has[300], asks[300];
        label(at, kind, name, has, sizeof has);
        if (at && at->e.kind != kind && strcmp(at->e.name, name) == 0)
            snprintf(asks, sizeof asks, "%s %s", eng__kind_name(kind), name);
        else
            snprintf(asks, sizeof asks, "%s", name);
        fail_msg(a, "history divergence at %s: journal has '%s', code asks "
                    "for '%s'",
                 p, has, asks);
        free(p);
        return HALT;
    }
    *path = p;
    *ce = byname;
    return 0;
}

static eng__entry new_entry(eng_ctx *c, const char *path, const char *name,
                            int kind, int seq)
{
    eng__entry en = {0};
    en.path = (char *)path;
    en.parent = (char *)c->sc->parent;
    en.name = (char *)name;
    en.seq = seq;
    en.kind = kind;
    en.status = ENG__E_RUNNING;
    en.started_at = eng_now_ms();
    en.finished_at = -1;
    en.deadline = -1;
    return en;
}

static void add_timer(eng__actor *a, int64_t at, int retry)
{
    if (a->wait_until < 0 || at < a->wait_until) {
        a->wait_until = at;
        a->wait_retry = retry;
    }
}

/* ---- step ---- */

int eng_step(eng_ctx *c, const char *name, eng_step_fn fn, const cJSON *input,
             const eng_step_opts *opts, const cJSON **out)
{
    eng__actor *a = c->a;
    char *path;
    eng__centry *ce;
    int seq;
    if (out)
        *out = NULL;
    int rc = enter(c, name, ENG__K_STEP, &path, &ce, &seq);
    if (rc)
        return rc;
    if (ce && ce->e.status == ENG__E_COMPLETED) {
        if (out)
            *out = ce->out;
        free(path);
        return 0;
    }
    if (ce && ce->busy) {
        free(path);
        return ENG_SUSPEND;
    }
    if (ce && ce->e.status == ENG__E_FAILED) {
        if (a->wst != ENG__W_FAILED) {
            cJSON *err = eng__parse_or_null(ce->e.error);
            eng__actor_fail(a, err);
        }
        a->halted = 1;
        free(path);
        return HALT;
    }
    if (ce && ce->e.status == ENG__E_RETRYING && ce->e.deadline > eng_now_ms()) {
        add_timer(a, ce->e.deadline, 1);
        free(path);
        return ENG_SUSPEND;
    }
    if (!ce) {
        eng__entry en = new_entry(c, path, name, ENG__K_STEP, seq);
        eng__cache_put(a, &en, 0);
        ce = eng__cache_get(a, path);
        ce->e.attempts = 0;
    }
    free(path);
    rc = eng__step_start(a, ce, fn, input, opts);
    return rc < 0 ? rc : ENG_SUSPEND;
}

/* ---- loop ---- */

static char *iter_path(const char *loop, int64_t n)
{
    char *p;
    if (asprintf(&p, "%s/%lld", loop, (long long)n) < 0)
        abort();
    return p;
}

static void loop_advance(eng_ctx *c, eng__centry *ce, int64_t n, int brk)
{
    eng__actor *a = c->a;
    eng__wreq *r = eng__actor_req_lazy(a);
    char iname[32];
    char *ipath = iter_path(ce->e.path, n);
    int64_t now = eng_now_ms();
    eng__centry *it = eng__cache_get(a, ipath);
    free(ipath);
    if (it) {
        it->e.status = ENG__E_COMPLETED;
        it->e.finished_at = now;
        eng__op_entry(r, &it->e, 0);
    }
    cJSON *f = cJSON_CreateObject();
    cJSON_AddStringToObject(f, "path", ce->e.path);
    eng__ev_int(f, "iteration", n);
    if (brk) {
        ce->e.status = ENG__E_COMPLETED;
        ce->e.finished_at = now;
        eng__op_entry(r, &ce->e, 0);
        eng__op_event(r, "loop.completed", f);
    } else {
        ce->e.iter = n + 1;
        eng__op_entry(r, &ce->e, 0);
        snprintf(iname, sizeof iname, "%lld", (long long)(n + 1));
        ipath = iter_path(ce->e.path, n + 1);
        eng__entry en = {.path = ipath, .parent = ce->e.path, .name = iname,
                         .seq = (int)(n + 1), .kind = ENG__K_ITER,
                         .status = ENG__E_RUNNING, .started_at = now,
                         .finished_at = -1, .deadline = -1};
        eng__cache_put(a, &en, 0);
        eng__op_entry(r, &en, 1);
        eng__op_event(r, "loop.iteration", f);
        free(ipath);
        int64_t old = n - a->e->cfg.keep_iterations;
        if (old >= 0) {
            ipath = iter_path(ce->e.path, old);
            eng__cache_del_tree(a, ipath);
            eng__op_add(r, ENG__OP_TREE_DEL)->s1 = ipath;
        }
    }
}

int eng_loop(eng_ctx *c, const char *name, eng_loop_fn body, void *arg)
{
    eng__actor *a = c->a;
    char *path;
    eng__centry *ce;
    int seq;
    int rc = enter(c, name, ENG__K_LOOP, &path, &ce, &seq);
    if (rc)
        return rc;
    if (!ce) {
        eng__entry en = new_entry(c, path, name, ENG__K_LOOP, seq);
        eng__cache_put(a, &en, 0);
        ce = eng__cache_get(a, path);
        char *ipath = iter_path(path, 0);
        eng__entry it = {.path = ipath, .parent = path, .name = "0",
                         .seq = 0, .kind = ENG__K_ITER,
                         .status = ENG__E_RUNNING, .started_at = en.started_at,
                         .finished_at = -1, .deadline = -1};
        eng__cache_put(a, &it, 0);
        eng__wreq *r = eng__actor_req_lazy(a);
        eng__op_entry(r, &ce->e, 1);
        eng__op_entry(r, &it, 1);
        cJSON *f = cJSON_CreateObject();
        cJSON_AddStringToObject(f, "path", path);
        eng__op_event(r, "loop.started", f);
        free(ipath);
    }
    free(path);
    eng__scope *outer = c->sc;
    for (;;) {
        if (ce->e.status == ENG__E_COMPLETED)
            return 0;
        int64_t n = ce->e.iter;
        char *prefix, *parent;
        if (asprintf(&parent, "%s/%lld", ce->e.path, (long long)n) < 0 ||
            asprintf(&prefix, "%s/", parent) < 0)
            abort();
        eng__scope sc = {prefix, parent, 0};
        c->sc = &sc;
        rc = body(c, arg);
        c->sc = outer;
        free(prefix);
        free(parent);
        if (a->halted)
            return HALT;
        if (rc == ENG_SUSPEND || rc < 0)
            return rc;
        if (rc != 0 && rc != ENG_BREAK)
            return -EINVAL;
        /* The cache entry may have moved if the body re-put it. */
        ce = eng__cache_get(a, ce->e.path);
        loop_advance(c, ce, n, rc == ENG_BREAK);
    }
}

/* ---- queues ---- */

static void take_done(eng *e, eng__wreq *r)
{
    (void)e;
    eng__actor *a = r->a;
    eng__op *o = eng__wreq_last(r, ENG__OP_TAKE);
    if (r->run != a->run || a->destroyed || !a->loaded)
        return;
    eng__centry *ce = eng__cache_get(a, o->e.path);
    if (ce)
        ce->busy = 0;
    if (r->rc < 0)
        return;
    eng__cache_put(a, &o->e, 0);
    if (o->waiting) {
        if (eng__map_put(&a->empty, o->s1, a) < 0)
            abort();
    }
    eng__actor_schedule(a);
}

/* Completes the wait at once with messages eng__take_ahead took (msgs
 * consumed); the TAKE that journals it rides with the actor's next
 * commit. */
static void took_ahead(eng_ctx *c, eng__centry *ce, const char *path,
                       const char *name, int seq, const char *queue, int max,
                       int64_t deadline, eng__msg *msgs, size_t n)
{
    eng__actor *a = c->a;
    eng__wreq *r = eng__actor_req_lazy(a);
    eng__op *o = eng__op_add(r, ENG__OP_TAKE);
    eng__entry en = ce ? ce->e : new_entry(c, path, name, ENG__K_QUEUE, seq);
    en.deadline = deadline;
    en.status = ENG__E_COMPLETED;
    en.finished_at = eng_now_ms();
    en.output = NULL;
    eng__entry_copy(&o->e, &en);
    o->created = !ce;
    o->s1 = strdup(queue);
    o->i2 = max;
    o->ids = malloc(n * sizeof *o->ids);
    if (!o->ids)
        abort();
    o->nids = n;
    size_t len = 2;
    for (size_t i = 0; i < n; i++) {
        o->ids[i] = msgs[i].id;
        len += strlen(msgs[i].body) + 1;
    }
    if (max == 0) {
        o->e.output = msgs[0].body;
        msgs[0].body = NULL;
    } else {
        char *out = malloc(len + 1), *p = out;
        if (!out)
            abort();
        *p++ = '[';
        for (size_t i = 0; i < n; i++) {
            if (i)
                *p++ = ',';
            size_t bl = strlen(msgs[i].body);
            memcpy(p, msgs[i].body, bl);
            p += bl;
        }
        *p++ = ']';
        *p = 0;
        o->e.output = out;
    }
    for (size_t i = 0; i < n; i++)
        free(msgs[i].body);
    free(msgs);
    eng__cache_put(a, &o->e, 0);
}

static int queue_wait(eng_ctx *c, const char *name, const char *queue, int max,
                      int64_t timeout_ms, const cJSON **msg)
{
    eng__actor *a = c->a;
    char *path;
    eng__centry *ce;
    int seq;
    if (msg)
        *msg = NULL;
    int rc = enter(c, name, ENG__K_QUEUE, &path, &ce, &seq);
    if (rc)
        return rc;
    if (!eng__queue_find(a->t, queue)) {
        fail_msg(a, "%s waits on unknown queue '%s'", path,
                 queue ? queue : "");
        free(path);
        return HALT;
    }
    if (ce && ce->e.status == ENG__E_COMPLETED) {
        if (msg)
            *msg = ce->out;
        free(path);
        return 0;
    }
    if (ce && ce->busy) {
        free(path);
        return ENG_SUSPEND;
    }
    int64_t now = eng_now_ms();
    int64_t deadline = ce ? ce->e.deadline
                          : (timeout_ms < 0 ? -1 : now + timeout_ms);
    if (eng__map_get(&a->empty, queue) && (deadline < 0 || now < deadline)) {
        if (!a->wait_any) {
            a->wait_any = 1;
            a->wait_queue = strdup(queue);
        }
        if (deadline >= 0)
            add_timer(a, deadline, 0);
        free(path);
        return ENG_SUSPEND;
    }
    eng__msg *msgs;
    size_t n;
    if (eng__take_ahead(a, queue, max, &msgs, &n) == 0 && n > 0) {
        took_ahead(c, ce, path, name, seq, queue, max, deadline, msgs, n);
        if (msg)
            *msg = eng__cache_get(a, path)->out;
        free(path);
        return 0;
    }
    free(msgs);
    eng__wreq *r = eng__actor_req(a);
    eng__op *o = eng__op_add(r, ENG__OP_TAKE);
    eng__entry en = ce ? ce->e : new_entry(c, path, name, ENG__K_QUEUE, seq);
    en.deadline = deadline;
    eng__entry_copy(&o->e, &en);
    o->created = !ce;
    o->s1 = strdup(queue);
    o->i2 = max;
    r->loop_done = take_done;
    if (!ce)
        eng__cache_put(a, &en, 1);
    else {
        ce->e.deadline = deadline;
        ce->busy = 1;
    }
    free(path);
    eng__submit(a->e, r);
    return ENG_SUSPEND;
}

int eng_queue_next(eng_ctx *c, const char *name, const char *queue,
                   int64_t timeout_ms, const cJSON **msg)
{
    return queue_wait(c, name, queue, 0, timeout_ms, msg);
}

int eng_queue_next_batch(eng_ctx *c, const char *name, const char *queue,
                         int max, int64_t timeout_ms, const cJSON **msgs)
{
    return queue_wait(c, name, queue, max > 0 ? max : 1, timeout_ms, msgs);
}

/* ---- sleep ---- */

int eng_sleep_until(eng_ctx *c, const char *name, int64_t epoch_ms)
{
    eng__actor *a = c->a;
    char *path;
    eng__centry *ce;
    int seq;
    int rc = enter(c, name, ENG__K_SLEEP, &path, &ce, &seq);
    if (rc)
        return rc;
    if (ce && ce->e.status == ENG__E_COMPLETED) {
        free(path);
        return 0;
    }
    int64_t now = eng_now_ms();
    if (!ce) {
        eng__entry en = new_entry(c, path, name, ENG__K_SLEEP, seq);
        en.deadline = epoch_ms;
        eng__cache_put(a, &en, 0);
        ce = eng__cache_get(a, path);
        eng__wreq *r = eng__actor_req_lazy(a);
        eng__op_entry(r, &en, 1);
        eng__op *t = eng__op_add(r, ENG__OP_TIMER_PUT);
        t->s1 = strdup(path);
        t->i1 = epoch_ms;
        cJSON *f = cJSON_CreateObject();
        cJSON_AddStringToObject(f, "path", path);
        eng__ev_int(f, "until", epoch_ms);
        eng__op_event(r, "sleep.started", f);
    }
    if (now < ce->e.deadline) {
        add_timer(a, ce->e.deadline, 0);
        free(path);
        return ENG_SUSPEND;
    }
    /* Lost in a crash, this completion is simply made again on replay. */
    ce->e.status = ENG__E_COMPLETED;
    ce->e.finished_at = now;
    eng__wreq *r = eng__actor_req_lazy(a);
    eng__op_entry(r, &ce->e, 0);
    eng__op_add(r, ENG__OP_TIMER_DEL)->s1 = strdup(path);
    cJSON *f = cJSON_CreateObject();
    cJSON_AddStringToObject(f, "path", path);
    eng__op_event(r, "sleep.completed", f);
    free(path);
    return 0;
}

int eng_sleep(eng_ctx *c, const char *name, int64_t ms)
{
    eng__actor *a = c->a;
    /* The deadline is fixed by the first run; later runs reuse it. */
    char *sk = eng__seqkey(c->sc->parent, c->sc->seq);
    eng__centry *at = eng__map_get(&a->seqs, sk);
    free(sk);
    int64_t until = at && at->e.kind == ENG__K_SLEEP ? at->e.deadline
                                                      : eng_now_ms() + ms;
    return eng_sleep_until(c, name, until);
}

/* ---- join and race ---- */

static void entry_done(eng__actor *a, eng__centry *ce, const char *type,
                       int64_t iter)
{
    ce->e.status = ENG__E_COMPLETED;
    ce->e.finished_at = eng_now_ms();
    ce->e.iter = iter;
    eng__wreq *r = eng__actor_req_lazy(a);
    eng__op_entry(r, &ce->e, 0);
    cJSON *f = cJSON_CreateObject();
    cJSON_AddStringToObject(f, "path", ce->e.path);
    eng__op_event(r, type, f);
}

static eng__centry *make_entry(eng_ctx *c, const char *path, const char *name,
                               int kind, int seq)
{
    eng__actor *a = c->a;
    eng__entry en = new_entry(c, path, name, kind, seq);
    eng__cache_put(a, &en, 0);
    eng__wreq *r = eng__actor_req_lazy(a);
    eng__op_entry(r, &en, 1);
    return eng__cache_get(a, path);
}

static int branches(eng_ctx *c, const char *name, const eng_branch *b,
                    size_t n, int race, size_t *winner)
{
    eng__actor *a = c->a;
    char *path;
    eng__centry *ce;
    int seq;
    int rc = enter(c, name, race ? ENG__K_RACE : ENG__K_JOIN, &path, &ce, &seq);
    if (rc)
        return rc;
    if (!ce)
        ce = make_entry(c, path, name, race ? ENG__K_RACE : ENG__K_JOIN, seq);
    if (ce->e.status == ENG__E_COMPLETED) {
        if (winner)
            *winner = (size_t)ce->e.iter;
        free(path);
        return 0;
    }
    eng__scope *outer = c->sc;
    char *prefix;
    if (asprintf(&prefix, "%s/", path) < 0)
        abort();
    eng__scope bs = {prefix, path, 0};
    int done = 0;
    long won = -1;
    rc = 0;
    for (size_t i = 0; i < n && rc >= 0 && won < 0; i++) {
        c->sc = &bs;
        char *bpath;
        eng__centry *bce;
        int bseq;
        rc = enter(c, b[i].name, ENG__K_BRANCH, &bpath, &bce, &bseq);
        c->sc = outer;
        if (rc)
            break;
        if (!bce) {
            c->sc = &bs;
            bce = make_entry(c, bpath, b[i].name, ENG__K_BRANCH, bseq);
            c->sc = outer;
        }
        if (bce->e.status != ENG__E_COMPLETED) {
            char *bprefix;
            if (asprintf(&bprefix, "%s/", bpath) < 0)
                abort();
            eng__scope inner = {bprefix, bpath, 0};
            c->sc = &inner;
            int brc = b[i].fn(c, b[i].arg);
            c->sc = outer;
            free(bprefix);
            if (a->halted)
                rc = HALT;
            else if (brc < 0)
                rc = brc;
            else if (brc != ENG_SUSPEND) {
                bce = eng__cache_get(a, bpath);
                entry_done(a, bce, "branch.completed", 0);
            }
        }
        if (rc >= 0 && bce && bce->e.status == ENG__E_COMPLETED) {
            done++;
            if (race)
                won = (long)i;
        }
        free(bpath);
    }
    free(prefix);
    if (rc < 0) {
        free(path);
        return rc;
    }
    ce = eng__cache_get(a, path);
    if (race && won >= 0) {
        for (size_t i = 0; i < n; i++)
            if ((long)i != won) {
                char *lp;
                if (asprintf(&lp, "%s/%s", path, b[i].name) < 0)
                    abort();
                eng__actor_cancel_steps(a, lp, 1);
                free(lp);
            }
        entry_done(a, ce, "race.completed", won);
        if (winner)
            *winner = (size_t)won;
        free(path);
        return 0;
    }
    if (!race && done == (int)n) {
        entry_done(a, ce, "join.completed", 0);
        free(path);
        return 0;
    }
    free(path);
    return ENG_SUSPEND;
}

int eng_join(eng_ctx *c, const char *name, const eng_branch *b, size_t n)
{
    return branches(c, name, b, n, 0, NULL);
}

int eng_race(eng_ctx *c, const char *name, const eng_branch *b, size_t n,
             size_t *winner)
{
    return branches(c, name, b, n, 1, winner);
}

const char *eng_ctx_key(const eng_ctx *c)
{
    return c->a->key;
}

void *eng_ctx_type_ud(const eng_ctx *c)
{
    return c->a->t ? c->a->t->ud : NULL;
}
