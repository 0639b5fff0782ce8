/*
 * engine.c - the engine's lifecycle: eng_open, eng_register, eng_start,
 * eng_close, the loop thread and its inbox, and the watcher.
 *
 * The loop thread runs a libuv loop that owns every actor's workflow:
 * other threads never call into an actor directly, they post a job to the
 * inbox (a mutex-protected list woken by uv_async) and, when they need an
 * answer, wait on an eng__sync.  Jobs run in the order they were posted.
 */
#include "eng_int.h"

#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int mkdir_p(const char *dir)
{
    char *p = strdup(dir);
    if (!p)
        return -ENOMEM;
    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = 0;
        if (mkdir(p, 0755) < 0 && errno != EEXIST) {
            int rc = -errno;
            free(p);
            return rc;
        }
        *s = '/';
    }
    int rc = mkdir(p, 0755) < 0 && errno != EEXIST ? -errno : 0;
    free(p);
    return rc;
}

static void inbox_drain(uv_async_t *h)
{
    eng *e = h->data;
    for (;;) {
        pthread_mutex_lock(&e->imu);
        eng__job *j = e->in_head;
        e->in_head = NULL;
        e->in_tail = &e->in_head;
        pthread_mutex_unlock(&e->imu);
        if (!j)
            break;
        while (j) {
            eng__job *next = j->next;
            j->fn(e, j);
            j = next;
        }
    }
    eng__run_ready(e);
}

void eng__post(eng *e, eng__job *j)
{
    j->next = NULL;
    pthread_mutex_lock(&e->imu);
    *e->in_tail = j;
    e->in_tail = &j->next;
    pthread_mutex_unlock(&e->imu);
    uv_async_send(&e->async);
}

static int sweep_one(const char *k, void *v, void *ud)
{
    (void)k;
    int64_t *now = ud;
    eng__actor *a = v;
    if (a->loaded && !a->in_run && !a->ready && a->pending == 0 &&
        a->nsteps == 0 && a->idle_since > 0 && *now - a->idle_since > 30000)
        eng__actor_idle_check(a);
    return 0;
}

/* Evicts actors idle for 30 s so that many idle actors cost only stubs. */
static void on_sweep(uv_timer_t *h)
{
    eng *e = h->data;
    int64_t now = eng_now_ms();
    long before = e->nloaded;
    pthread_mutex_lock(&e->amu);
    eng__map_filter(&e->actors, sweep_one, &now);
    pthread_mutex_unlock(&e->amu);
    /* Give the evicted journals' memory back to the system. */
    if (e->nloaded < before)
        malloc_trim(0);
}

int eng_open(const eng_config *cfg, eng **out, char *err, size_t errlen)
{
    if (!cfg || !cfg->data_dir || !*cfg->data_dir) {
        snprintf(err, errlen, "no data directory given");
        return -EINVAL;
    }
    eng__fault_env_load();
    if (!getenv("UV_THREADPOOL_SIZE"))
        setenv("UV_THREADPOOL_SIZE", "16", 0);
    int rc = mkdir_p(cfg->data_dir);
    if (rc < 0) {
        snprintf(err, errlen, "cannot create %s: %s", cfg->data_dir,
                 strerror(-rc));
        return rc;
    }
    eng *e = calloc(1, sizeof *e);
    if (!e)
        return -ENOMEM;
    e->cfg = *cfg;
    e->data_dir = strdup(cfg->data_dir);
    e->cfg.data_dir = e->data_dir;
    if (!e->cfg.max_message_bytes)
        e->cfg.max_message_bytes = 1 << 20;
    if (e->cfg.keep_iterations <= 0)
        e->cfg.keep_iterations = 5;
    const char *ev = getenv("ACTORFS_EVICT_ALWAYS");
    if (ev && strcmp(ev, "1") == 0)
        e->cfg.evict_always = 1;
    e->so = &eng__sqlite_ops;
    pthread_mutex_init(&e->amu, NULL);
    pthread_mutex_init(&e->imu, NULL);
    pthread_mutex_init(&e->cmu, NULL);
    pthread_mutex_init(&e->wmu, NULL);
    pthread_mutex_init(&e->tmu, NULL);
    pthread_cond_init(&e->ccv, NULL);
    e->in_tail = &e->in_head;
    e->q_tail = &e->q_head;
    rc = e->so->open(e->data_dir, e->cfg.durability, &e->st, err, errlen);
    if (rc == 0) {
        rc = uv_loop_init(&e->loop);
        e->loop_ok = rc == 0;
        if (rc < 0)
            snprintf(err, errlen, "event loop: %s", uv_strerror(rc));
    }
    if (rc == 0) {
        uv_async_init(&e->loop, &e->async, inbox_drain);
        e->async.data = e;
        uv_idle_init(&e->loop, &e->idle);
        e->idle.data = e;
        uv_timer_init(&e->loop, &e->sweep);
        e->sweep.data = e;
        uv_timer_init(&e->loop, &e->flush);
        e->flush.data = e;
        rc = eng__committer_start(e);
        if (rc < 0)
            snprintf(err, errlen, "committer thread: %s", strerror(-rc));
    }
    if (rc < 0) {
        eng_close(e);
        return rc;
    }
    *out = e;
    return 0;
}

int eng_register(eng *e, const eng_type *t)
{
    if (!e || !t || !t->name)
        return -EINVAL;
    if (e->started)
        return -EBUSY;
    char tb[256], kb[8];
    if (eng_actor_parse(t->name, tb, sizeof tb, kb, sizeof kb) < 0 ||
        strcmp(tb, t->name) != 0)
        return -EINVAL;
    cJSON *init = cJSON_Parse(t->initial_state ? t->initial_state : "{}");
    if (!init)
        return -EINVAL;
    cJSON_Delete(init);
    for (size_t i = 0; i < t->nqueues; i++)
        if (!t->queues || !eng_name_ok(t->queues[i].name))
            return -EINVAL;
    for (size_t i = 0; i < t->nactions; i++)
        if (!t->actions || !eng_name_ok(t->actions[i].name) ||
            !t->actions[i].fn)
            return -EINVAL;
    for (size_t i = 0; i < e->ntypes; i++)
        if (strcmp(e->types[i]->name, t->name) == 0) {
            e->types[i]->t = *t;
            e->types[i]->t.name = e->types[i]->name;
            return 0;
        }
    eng__type **v = realloc(e->types, (e->ntypes + 1) * sizeof *v);
    if (!v)
        return -ENOMEM;
    e->types = v;
    eng__type *nt = calloc(1, sizeof *nt);
    if (!nt || !(nt->name = strdup(t->name))) {
        free(nt);
        return -ENOMEM;
    }
    nt->t = *t;
    nt->t.name = nt->name;
    e->types[e->ntypes++] = nt;
    return 0;
}

const eng_type *eng_type_find(eng *e, const char *type)
{
    for (size_t i = 0; e && type && i < e->ntypes; i++)
        if (strcmp(e->types[i]->name, type) == 0)
            return &e->types[i]->t;
    return NULL;
}

static void *loop_main(void *arg)
{
    eng *e = arg;
    uv_run(&e->loop, UV_RUN_DEFAULT);
    return NULL;
}

int eng_start(eng *e, char *err, size_t errlen)
{
    if (e->started)
        return -EBUSY;
    for (size_t i = 0; i < e->ntypes; i++) {
        const eng_type *t = &e->types[i]->t;
        if (t->nqueues == 0 || t->no_default_instance)
            continue;
        int rc = eng_actor_create(e, t->name, "", err, errlen);
        if (rc < 0)
            return rc;
    }
    int rc = eng__actors_resume(e);
    if (rc < 0) {
        snprintf(err, errlen, "resuming workflows: %s", strerror(-rc));
        return rc;
    }
    uv_timer_start(&e->sweep, on_sweep, 5000, 5000);
    e->started = 1;
    rc = pthread_create(&e->loop_thr, NULL, loop_main, e);
    if (rc != 0) {
        e->started = 0;
        snprintf(err, errlen, "loop thread: %s", strerror(rc));
        return -rc;
    }
    return 0;
}

const char *eng_data_dir(const eng *e)
{
    return e->data_dir;
}

void eng_watch(eng *e, eng_watch_fn fn, void *ud)
{
    pthread_mutex_lock(&e->wmu);
    e->watch = fn;
    e->watch_ud = ud;
    pthread_mutex_unlock(&e->wmu);
}

void eng__watch_emit(eng *e, const eng_event *ev)
{
    pthread_mutex_lock(&e->wmu);
    eng_watch_fn fn = e->watch;
    void *ud = e->watch_ud;
    pthread_mutex_unlock(&e->wmu);
    if (fn)
        fn(ev, ud);
}

static int free_actor(const char *k, void *v, void *ud)
{
    (void)k;
    (void)ud;
    eng__actor_free(v);
    return 1;
}

static int free_mark(const char *k, void *v, void *ud)
{
    (void)k;
    (void)ud;
    free(v);
    return 1;
}

static void close_walk(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

/* The stop job: no new work; handles close once nothing is in flight. */
static void stop_job(eng *e, eng__job *j)
{
    free(j);
    e->stopping = 1;
    eng__flush_all(e);
    pthread_mutex_lock(&e->amu);
    for (size_t i = 0; i < e->actors.nb; i++)
        for (eng__mnode *n = e->actors.b[i]; n; n = n->next)
            eng__actor_cancel_steps(n->val, NULL, 0);
    pthread_mutex_unlock(&e->amu);
    eng__maybe_finish(e);
}

/* Called on the loop thread after anything finished while stopping. */
void eng__maybe_finish(eng *e)
{
    if (!e->stopping)
        return;
    int busy = 0;
    pthread_mutex_lock(&e->amu);
    for (size_t i = 0; i < e->actors.nb && !busy; i++)
        for (eng__mnode *n = e->actors.b[i]; n && !busy; n = n->next) {
            eng__actor *a = n->val;
            busy = a->pending > 0 || a->nsteps > 0;
        }
    pthread_mutex_unlock(&e->amu);
    if (!busy)
        uv_stop(&e->loop);
}

void eng_close(eng *e)
{
    if (!e)
        return;
    if (e->started) {
        eng__job *j = calloc(1, sizeof *j);
        if (!j)
            abort();
        j->fn = stop_job;
        eng__post(e, j);
        pthread_join(e->loop_thr, NULL);
        e->started = 0;
    }
    e->stopping = 1;
    eng__committer_stop(e);
    /* Jobs posted after the loop stopped (completions of the last group)
     * still own memory: run them now, the engine being quiet. */
    for (;;) {
        pthread_mutex_lock(&e->imu);
        eng__job *j = e->in_head;
        e->in_head = NULL;
        e->in_tail = &e->in_head;
        pthread_mutex_unlock(&e->imu);
        if (!j)
            break;
        while (j) {
            eng__job *next = j->next;
            j->fn(e, j);
            j = next;
        }
    }
    pthread_mutex_lock(&e->amu);
    eng__map_filter(&e->actors, free_actor, NULL);
    eng__map_free(&e->actors);
    pthread_mutex_unlock(&e->amu);
    if (e->loop_ok) {
        uv_walk(&e->loop, close_walk, NULL);
        uv_run(&e->loop, UV_RUN_DEFAULT);
        uv_loop_close(&e->loop);
    }
    eng__map_filter(&e->took, free_mark, NULL);
    eng__map_free(&e->took);
    e->so->close(e->st);
    for (size_t i = 0; i < e->ntypes; i++) {
        free(e->types[i]->name);
        free(e->types[i]);
    }
    free(e->types);
    pthread_mutex_destroy(&e->amu);
    pthread_mutex_destroy(&e->imu);
    pthread_mutex_destroy(&e->cmu);
    pthread_mutex_destroy(&e->wmu);
    pthread_mutex_destroy(&e->tmu);
    pthread_cond_destroy(&e->ccv);
    free(e->data_dir);
    free(e);
}
