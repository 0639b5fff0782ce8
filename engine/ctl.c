/*
 * ctl.c - commands on a whole actor: the ctl file's retry, cancel and
 * restart, and destroying an actor (rmdir).  The caller's thread posts a
 * job to the loop thread, which owns the workflow, and waits until the
 * change is committed.
 */
#include "eng_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { CTL_RETRY, CTL_CANCEL, CTL_RESTART, CTL_DESTROY_CHECK,
       CTL_DESTROY_UNDO, CTL_DESTROY_FREE };

struct ctl_job {
    eng__job j;
    int cmd;
    char *type, *key;
    char *err;
    size_t errlen;
    eng__sync sync;
};

static int restart_drop(const char *k, void *v, void *ud)
{
    (void)k;
    (void)v;
    (void)ud;
    return 1;
}

static void ctl_done(eng *e, eng__wreq *r)
{
    (void)e;
    struct ctl_job *cj = r->ud;
    if (r->rc < 0)
        snprintf(cj->err, cj->errlen, "not stored: %s", strerror(-r->rc));
    else
        eng__actor_schedule(r->a);
    eng__sync_done(&cj->sync, r->rc);
}

static int status_req(eng__actor *a, struct ctl_job *cj, const char *what)
{
    eng__wreq *r = eng__actor_req(a);
    eng__op *o = eng__op_add(r, ENG__OP_STATUS);
    o->st.run = a->run;
    o->st.status = a->wst;
    o->st.error = a->error ? strdup(a->error) : NULL;
    cJSON *f = cJSON_CreateObject();
    cJSON_AddStringToObject(f, "status", eng__wstatus_name(a->wst));
    eng__ev_int(f, "run", a->run);
    cJSON_AddStringToObject(f, "command", what);
    eng__op_event(r, "workflow.status", f);
    eng__status_clear(&a->last);
    a->last.run = a->run;
    a->last.status = a->wst;
    a->last.error = a->error ? strdup(a->error) : NULL;
    r->loop_done = ctl_done;
    r->ud = cj;
    eng__submit(a->e, r);
    return 1;
}

/* Returns 1 when the answer comes with a commit, else the answer. */
static int ctl_apply(eng *e, struct ctl_job *cj)
{
    eng__actor *a = eng__actor_get(e, cj->type, cj->key);
    if (!a || a->destroyed) {
        snprintf(cj->err, cj->errlen, "no such actor");
        return -ENOENT;
    }
    if (cj->cmd == CTL_DESTROY_CHECK) {
        if (a->nsteps > 0) {
            snprintf(cj->err, cj->errlen, "busy: a step is running (%s)",
                     a->cur_step ? a->cur_step : "?");
            return -EBUSY;
        }
        pthread_mutex_lock(&e->amu);
        a->destroyed = 1;
        pthread_mutex_unlock(&e->amu);
        /* Its queued writes go to the committer ahead of the delete that
         * follows, never after it (they would leave rows of no actor). */
        eng__actor_flush(a);
        return 0;
    }
    if (!a->t || !a->t->run) {
        snprintf(cj->err, cj->errlen, "%s has no workflow", a->type);
        return -EINVAL;
    }
    if (!a->loaded) {
        int rc = eng__actor_load(a);
        if (rc < 0) {
            snprintf(cj->err, cj->errlen, "cannot load: %s", strerror(-rc));
            return rc;
        }
    }
    const char *st = eng__wstatus_name(a->wst);
    if (cj->cmd == CTL_RETRY) {
        if (a->wst != ENG__W_FAILED) {
            snprintf(cj->err, cj->errlen,
                     "retry applies to a failed workflow; this one is %s", st);
            return -EINVAL;
        }
        eng__centry *ce = a->cur_step ? eng__cache_get(a, a->cur_step) : NULL;
        eng__wreq *r = NULL;
        if (ce && ce->e.status == ENG__E_FAILED) {
            ce->e.status = ENG__E_RETRYING;
            ce->e.attempts = 0;
            ce->e.deadline = 0;
            ce->e.finished_at = -1;
            r = eng__actor_req(a);
            eng__op_entry(r, &ce->e, 0);
            eng__submit(e, r);
        }
        a->wst = ENG__W_RUNNING;
        free(a->error);
        a->error = NULL;
        return status_req(a, cj, "retry");
    }
    if (cj->cmd == CTL_CANCEL) {
        if (a->wst == ENG__W_COMPLETED || a->wst == ENG__W_CANCELLED) {
            snprintf(cj->err, cj->errlen,
                     "cancel applies to an unfinished workflow; this one is %s",
                     st);
            return -EINVAL;
        }
        a->gen++;
        eng__actor_cancel_steps(a, NULL, 0);
        a->wst = ENG__W_CANCELLED;
        free(a->error);
        a->error = NULL;
        return status_req(a, cj, "cancel");
    }
    /* restart: a new run, the old run's journal stays in the store */
    a->gen++;
    eng__actor_cancel_steps(a, NULL, 0);
    eng__cache_clear(a);
    eng__map_filter(&a->empty, restart_drop, NULL);
    a->run++;
    a->wst = ENG__W_RUNNING;
    free(a->error);
    a->error = NULL;
    free(a->cur_step);
    a->cur_step = NULL;
    a->cur_attempt = 0;
    return status_req(a, cj, "restart");
}

static void ctl_job_fn(eng *e, eng__job *j)
{
    struct ctl_job *cj = (struct ctl_job *)j;
    if (e->stopping) {
        snprintf(cj->err, cj->errlen, "shutting down");
        eng__sync_done(&cj->sync, -ESHUTDOWN);
        return;
    }
    if (cj->cmd == CTL_DESTROY_UNDO || cj->cmd == CTL_DESTROY_FREE) {
        eng__actor *a = eng__actor_get(e, cj->type, cj->key);
        if (a && cj->cmd == CTL_DESTROY_UNDO) {
            pthread_mutex_lock(&e->amu);
            a->destroyed = 0;
            pthread_mutex_unlock(&e->amu);
            eng__actor_schedule(a);
        } else if (a) {
            char *name = eng__actor_name(a->type, a->key);
            pthread_mutex_lock(&e->amu);
            eng__map_del(&e->actors, name);
            pthread_mutex_unlock(&e->amu);
            free(name);
            a->destroyed = 2;
            eng__actor_idle_check(a);
        }
        eng__sync_done(&cj->sync, 0);
        return;
    }
    int rc = ctl_apply(e, cj);
    if (rc != 1)
        eng__sync_done(&cj->sync, rc);
}

static int ctl_run(eng *e, int cmd, const char *type, const char *key,
                   char *err, size_t errlen)
{
    if (!e->started) {
        snprintf(err, errlen, "engine not started");
        return -EAGAIN;
    }
    struct ctl_job cj = {.j.fn = ctl_job_fn, .cmd = cmd, .type = (char *)type,
                         .key = (char *)(key ? key : ""), .err = err,
                         .errlen = errlen};
    eng__sync_init(&cj.sync);
    eng__post(e, &cj.j);
    eng__sync_wait(&cj.sync);
    eng__sync_destroy(&cj.sync);
    return cj.sync.rc;
}

int eng_ctl(eng *e, const char *type, const char *key, const char *cmd,
            char *err, size_t errlen)
{
    char buf[32];
    size_t n = cmd ? strlen(cmd) : 0;
    while (n > 0 && (cmd[n - 1] == '\n' || cmd[n - 1] == '\r'))
        n--;
    if (n >= sizeof buf) {
        snprintf(err, errlen, "unknown command; use retry, cancel or restart");
        return -EINVAL;
    }
    memcpy(buf, cmd ? cmd : "", n);
    buf[n] = 0;
    int c = strcmp(buf, "retry") == 0     ? CTL_RETRY
            : strcmp(buf, "cancel") == 0  ? CTL_CANCEL
            : strcmp(buf, "restart") == 0 ? CTL_RESTART
                                          : -1;
    if (c < 0) {
        snprintf(err, errlen, "unknown command '%s'; use retry, cancel or "
                              "restart", buf);
        return -EINVAL;
    }
    int64_t id;
    if (eng__actor_id(e, type, key, &id) < 0) {
        snprintf(err, errlen, "no such actor");
        return -ENOENT;
    }
    return ctl_run(e, c, type, key, err, errlen);
}

int eng_actor_destroy(eng *e, const char *type, const char *key, char *err,
                      size_t errlen)
{
    const eng_type *t = eng_type_find(e, type);
    int64_t id;
    if (!t || eng__actor_id(e, type, key, &id) < 0) {
        snprintf(err, errlen, "no such actor");
        return -ENOENT;
    }
    if (!key)
        key = "";
    int rc = ctl_run(e, CTL_DESTROY_CHECK, type, key, err, errlen);
    if (rc < 0)
        return rc;
    if (t->on_destroy) {
        rc = t->on_destroy(e, key, t->ud, err, errlen);
        if (rc < 0) {
            ctl_run(e, CTL_DESTROY_UNDO, type, key, err, errlen);
            return rc;
        }
    }
    eng__wreq *r = eng__wreq_new(id, 0, type, key);
    eng__op_add(r, ENG__OP_ACTOR_DELETE);
    rc = eng__submit_wait(e, r);
    eng__wreq_free(r);
    if (rc < 0) {
        snprintf(err, errlen, "not stored: %s", strerror(-rc));
        char tmp[128];
        ctl_run(e, CTL_DESTROY_UNDO, type, key, tmp, sizeof tmp);
        return rc;
    }
    char tmp[128];
    ctl_run(e, CTL_DESTROY_FREE, type, key, tmp, sizeof tmp);
    return 0;
}
