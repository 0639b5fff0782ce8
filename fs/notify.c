/*
 * notify.c - from engine changes to inotify events and poll(2) wakeups.
 *
 * The engine calls fs_notify_engine on its own threads after each
 * committed change; that must not block, so the change is only queued,
 * and only if someone looked at the actor at all (most enqueues go to
 * actors nobody watches: then it costs a lookup and nothing else).
 * One notifier thread (which serves no FUSE request, so notifying cannot
 * deadlock) takes the queue in batches at most every 10 ms, turns each
 * change into entry operations on mount paths, drops what nobody can be
 * watching (nobody stat'ed or listed the directory or file: see
 * inode.c), coalesces repeated
 * IN_MODIFYs of a file to one per batch, invalidates the kernel's view
 * and has the helper (announce.c) perform the operation.  Changes the
 * user made through the mount already produced their events and are
 * suppressed.  Under a heavy backlog a message that arrives and is taken
 * within one batch is not announced at all.
 */
#include "fs.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FS__BATCH_MS 10
#define FS__SUPPRESS_MS 5000
#define FS__BACKLOG 64
#define FS__TAKEN 256

typedef struct fs__ev {
    struct fs__ev *next;
    eng_ev_kind kind;
    char *type;
    char *key;
    char *steps; /* the steps/ path, for entries */
    char *path;  /* the mount path */
} fs__ev;

typedef struct fs__mark {
    struct fs__mark *next;
    char *path;
    int64_t until;
    struct fuse_pollhandle *ph;
} fs__mark;

typedef struct {
    fs_ann_op op;
    char *path; /* borrowed from an fs__ev */
    int skip;
} fs__op;

struct fs_notify {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t thread;
    int started;
    int stop;
    int idle; /* the thread waits for a change (not out its rate limit) */
    fs__ev *head;
    fs__ev **tail;
    size_t queued;
    fs__mark *suppress; /* paths the user changed himself */
    fs__mark *polls;    /* path = actor directory */
    fs__mark *dirs;     /* steps directories known to exist (thread only) */
    char *taken[FS__TAKEN]; /* messages the workflow took, most recent */
    size_t ntaken;
};

static void fs__ev_free(fs__ev *e)
{
    free(e->type);
    free(e->key);
    free(e->steps);
    free(e->path);
    free(e);
}

static void fs__marks_free(fs__mark *m)
{
    while (m) {
        fs__mark *next = m->next;
        if (m->ph)
            fuse_pollhandle_destroy(m->ph);
        free(m->path);
        free(m);
        m = next;
    }
}

static fs__mark *fs__mark_new(const char *path)
{
    fs__mark *m = calloc(1, sizeof(*m));
    if (m && !(m->path = strdup(path))) {
        free(m);
        m = NULL;
    }
    return m;
}

static int fs__under(const char *path, const char *dir)
{
    size_t n = strlen(dir);
    return strncmp(path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

static int fs__suppressed(fs_notify *nt, const char *path);
static void fs__taken_add(fs_notify *nt, const char *path);

/* ---- the engine side: queue the change -------------------------------- */

static char *fs__ev_path(const eng_event *ev, const char *actor)
{
    char *p = NULL;
    int r = -1;
    switch (ev->kind) {
    case ENG_EV_ACTOR_CREATED:
    case ENG_EV_ACTOR_DESTROYED:
        r = asprintf(&p, "%s", actor);
        break;
    case ENG_EV_ENTRY_CREATED:
    case ENG_EV_ENTRY_UPDATED:
    case ENG_EV_ENTRY_DELETED:
        r = asprintf(&p, "%s/steps/%s", actor, ev->path ? ev->path : "");
        break;
    case ENG_EV_STATE:
        r = asprintf(&p, "%s/state.json", actor);
        break;
    case ENG_EV_STATUS:
        r = asprintf(&p, "%s/status", actor);
        break;
    case ENG_EV_EVENTS:
        r = asprintf(&p, "%s/events", actor);
        break;
    case ENG_EV_MESSAGE_ADDED:
    case ENG_EV_MESSAGE_REMOVED:
        r = asprintf(&p, "%s/queues/%s/%" PRId64 ".json", actor,
                     ev->path ? ev->path : "", ev->msg_id);
        break;
    }
    return r < 0 ? NULL : p;
}

/* 1 if someone looked at ACTOR's directory or inside it, or polls its
 * events file. */
static int fs__anyone_looks(fs_state *st, const char *actor)
{
    if (fs_ino_actor_watched(st->inodes, actor))
        return 1;
    fs_notify *nt = st->notify;
    int hit = 0;
    pthread_mutex_lock(&nt->mu);
    for (fs__mark *m = nt->polls; m && !hit; m = m->next)
        hit = strcmp(m->path, actor) == 0;
    pthread_mutex_unlock(&nt->mu);
    return hit;
}

void fs_notify_engine(const eng_event *ev, void *ud)
{
    fs_state *st = ud;
    fs_notify *nt = st->notify;
    if (!ev->type)
        return;
    const char *key = ev->key ? ev->key : "";
    int is_vm = strcmp(ev->type, "vm") == 0;
    if (is_vm && ev->kind != ENG_EV_ACTOR_CREATED &&
        ev->kind != ENG_EV_ACTOR_DESTROYED && ev->kind != ENG_EV_STATE &&
        ev->kind != ENG_EV_STATUS)
        return;
    char actor[2 * FS_NAME_MAX];
    fs_actor_dirname(ev->type, key, actor, sizeof(actor));
    if (ev->kind != ENG_EV_ACTOR_CREATED &&
        ev->kind != ENG_EV_ACTOR_DESTROYED && !fs__anyone_looks(st, actor)) {
        /* Nothing to announce; only rm must learn that it was taken. */
        if (ev->kind == ENG_EV_MESSAGE_REMOVED) {
            char *path = fs__ev_path(ev, actor);
            if (path && !fs__suppressed(nt, path))
                fs__taken_add(nt, path);
            free(path);
        }
        return;
    }
    fs__ev *e = calloc(1, sizeof(*e));
    if (!e)
        return;
    e->kind = ev->kind;
    e->type = strdup(ev->type);
    e->key = strdup(key);
    e->steps = strdup(ev->path ? ev->path : "");
    e->path = fs__ev_path(ev, actor);
    if (!e->type || !e->key || !e->steps || !e->path) {
        fs__ev_free(e);
        return;
    }
    pthread_mutex_lock(&nt->mu);
    if (nt->stop || !nt->started) {
        pthread_mutex_unlock(&nt->mu);
        fs__ev_free(e);
        return;
    }
    *nt->tail = e;
    nt->tail = &e->next;
    nt->queued++;
    /* Called on the committer's thread before it acknowledges: waking the
     * notifier for each change would cost every enqueue a context switch,
     * so only an idle notifier is woken; a busy one takes the change with
     * its next batch. */
    if (nt->idle)
        pthread_cond_signal(&nt->cv);
    pthread_mutex_unlock(&nt->mu);
}

void fs_notify_suppress(fs_state *st, const char *path)
{
    fs_notify *nt = st->notify;
    fs__mark *m = fs__mark_new(path);
    if (!m)
        return;
    m->until = eng_now_ms() + FS__SUPPRESS_MS;
    pthread_mutex_lock(&nt->mu);
    m->next = nt->suppress;
    nt->suppress = m;
    pthread_mutex_unlock(&nt->mu);
}

void fs_notify_poll_add(fs_state *st, const char *actor,
                        struct fuse_pollhandle *ph)
{
    fs_notify *nt = st->notify;
    fs__mark *m = fs__mark_new(actor);
    if (!m) {
        fuse_pollhandle_destroy(ph);
        return;
    }
    m->ph = ph;
    pthread_mutex_lock(&nt->mu);
    m->next = nt->polls;
    nt->polls = m;
    pthread_mutex_unlock(&nt->mu);
}

int fs_notify_taken(fs_state *st, const char *path)
{
    fs_notify *nt = st->notify;
    int hit = 0;
    pthread_mutex_lock(&nt->mu);
    for (size_t i = 0; i < FS__TAKEN && !hit; i++)
        hit = nt->taken[i] && strcmp(nt->taken[i], path) == 0;
    pthread_mutex_unlock(&nt->mu);
    return hit;
}

static void fs__taken_add(fs_notify *nt, const char *path)
{
    char *copy = strdup(path);
    if (!copy)
        return;
    pthread_mutex_lock(&nt->mu);
    size_t i = nt->ntaken++ % FS__TAKEN;
    free(nt->taken[i]);
    nt->taken[i] = copy;
    pthread_mutex_unlock(&nt->mu);
}

/* ---- the notifier thread ---------------------------------------------- */

static int fs__suppressed(fs_notify *nt, const char *path)
{
    int64_t now = eng_now_ms();
    int hit = 0;
    pthread_mutex_lock(&nt->mu);
    fs__mark **p = &nt->suppress;
    while (*p) {
        fs__mark *m = *p;
        if (!hit && strcmp(m->path, path) == 0) {
            hit = 1;
            m->until = 0;
        }
        if (m->until <= now) {
            *p = m->next;
            free(m->path);
            free(m);
        } else {
            p = &m->next;
        }
    }
    pthread_mutex_unlock(&nt->mu);
    return hit;
}

static void fs__wake_polls(fs_notify *nt, const char *actor)
{
    fs__mark *woken = NULL;
    pthread_mutex_lock(&nt->mu);
    fs__mark **p = &nt->polls;
    while (*p) {
        fs__mark *m = *p;
        if (strcmp(m->path, actor) == 0) {
            *p = m->next;
            m->next = woken;
            woken = m;
        } else {
            p = &m->next;
        }
    }
    pthread_mutex_unlock(&nt->mu);
    for (fs__mark *m = woken; m; m = m->next)
        fuse_lowlevel_notify_poll(m->ph);
    fs__marks_free(woken);
}

static int fs__dir_known(fs_notify *nt, const char *path)
{
    for (fs__mark *m = nt->dirs; m; m = m->next)
        if (strcmp(m->path, path) == 0)
            return 1;
    return 0;
}

static void fs__dir_add(fs_notify *nt, const char *path)
{
    fs__mark *m = fs__mark_new(path);
    if (m) {
        m->next = nt->dirs;
        nt->dirs = m;
    }
}

/* Forgets DIR and everything below it; 1 if DIR itself was known. */
static int fs__dir_forget(fs_notify *nt, const char *dir)
{
    int was = 0;
    fs__mark **p = &nt->dirs;
    while (*p) {
        fs__mark *m = *p;
        if (fs__under(m->path, dir)) {
            was |= strcmp(m->path, dir) == 0;
            *p = m->next;
            free(m->path);
            free(m);
        } else {
            p = &m->next;
        }
    }
    return was;
}

typedef struct {
    fs__op *v;
    size_t n;
    size_t cap;
    char **owned; /* paths made here (parent directories) */
    size_t nowned;
} fs__ops;

static void fs__op_add(fs__ops *o, fs_ann_op op, char *path)
{
    if (o->n == o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 64;
        fs__op *v = realloc(o->v, cap * sizeof(*v));
        if (!v)
            return;
        o->v = v;
        o->cap = cap;
    }
    o->v[o->n++] = (fs__op){.op = op, .path = path};
}

static void fs__op_add_copy(fs__ops *o, fs_ann_op op, const char *path)
{
    char **owned = realloc(o->owned, (o->nowned + 1) * sizeof(*owned));
    if (!owned)
        return;
    o->owned = owned;
    char *copy = strdup(path);
    if (!copy)
        return;
    o->owned[o->nowned++] = copy;
    fs__op_add(o, op, copy);
}

/* A new steps entry: its not-yet-announced directories first. */
/* 1 if someone looked at a directory on the way to the entry at PATH
 * (from its parent up to the actor's steps/). */
static int fs__entry_watched(fs_state *st, char *path, size_t base)
{
    int watched = 0;
    char *end = path + strlen(path);
    for (char *s = strrchr(path, '/'); s && !watched && s >= path + base;
         s = strrchr(path, '/')) {
        *s = '\0';
        watched = fs_ino_watched(st->inodes, path);
    }
    for (char *p = path; p < end; p++)
        if (*p == '\0')
            *p = '/';
    return watched;
}

static void fs__entry_created(fs_state *st, fs__ops *o, fs__ev *e)
{
    fs_notify *nt = st->notify;
    int is_dir = 0;
    char *steps_root = strstr(e->path, "/steps/");
    if (!steps_root)
        return;
    size_t base = (size_t)(steps_root - e->path) + strlen("/steps");
    if (!fs__entry_watched(st, e->path, base))
        return; /* nobody looks: not even worth a journal read */
    if (eng_steps_stat(st->e, e->type, e->key, e->steps, &is_dir) < 0)
        return; /* already gone: nothing to show */
    for (char *s = strchr(e->path + base + 1, '/'); s; s = strchr(s + 1, '/')) {
        *s = '\0';
        if (!fs__dir_known(nt, e->path)) {
            fs__dir_add(nt, e->path);
            fs__op_add_copy(o, FS_ANN_MKDIR, e->path);
        }
        *s = '/';
    }
    if (!is_dir) {
        fs__op_add(o, FS_ANN_CREATE, e->path);
    } else if (!fs__dir_known(nt, e->path)) {
        fs__dir_add(nt, e->path);
        fs__op_add(o, FS_ANN_MKDIR, e->path);
    }
}

static int fs__numeric_tail(const char *path)
{
    const char *s = strrchr(path, '/');
    s = s ? s + 1 : path;
    if (!*s)
        return 0;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return 0;
    return 1;
}

static void fs__plan(fs_state *st, fs__ev *batch, fs__ops *o)
{
    fs_notify *nt = st->notify;
    for (fs__ev *e = batch; e; e = e->next) {
        switch (e->kind) {
        case ENG_EV_ACTOR_CREATED:
            fs__op_add(o, FS_ANN_MKDIR, e->path);
            break;
        case ENG_EV_ACTOR_DESTROYED:
            fs__dir_forget(nt, e->path);
            fs__op_add(o, FS_ANN_RMDIR, e->path);
            break;
        case ENG_EV_ENTRY_CREATED:
            fs__entry_created(st, o, e);
            break;
        case ENG_EV_ENTRY_DELETED: {
            int was_dir = fs__dir_forget(nt, e->path);
            fs__op_add(o,
                       was_dir || fs__numeric_tail(e->path) ? FS_ANN_RMDIR
                                                            : FS_ANN_UNLINK,
                       e->path);
            break;
        }
        case ENG_EV_MESSAGE_ADDED:
            fs__op_add(o, FS_ANN_CREATE, e->path);
            break;
        case ENG_EV_MESSAGE_REMOVED:
            /* Not cancelled by rm, so taken: rm of it is EBUSY now. */
            if (!fs__suppressed(nt, e->path)) {
                fs__taken_add(nt, e->path);
                fs__op_add(o, FS_ANN_UNLINK, e->path);
            }
            break;
        case ENG_EV_EVENTS: {
            char *slash = strrchr(e->path, '/');
            *slash = '\0';
            fs__wake_polls(nt, e->path);
            *slash = '/';
        }
            /* fall through */
        case ENG_EV_ENTRY_UPDATED:
        case ENG_EV_STATE:
        case ENG_EV_STATUS:
            fs__op_add(o, FS_ANN_MODIFY, e->path);
            break;
        }
    }
}

static int fs__by_path(const void *a, const void *b, void *ud)
{
    const fs__ops *o = ud;
    size_t i = *(const size_t *)a, j = *(const size_t *)b;
    int c = strcmp(o->v[i].path, o->v[j].path);
    return c ? c : (i > j) - (i < j);
}

/* One IN_MODIFY per file per batch (the last, after the creates); under
 * a backlog, a file created and removed within the batch not at all.
 * Sorted by path, so a batch of any size costs n log n. */
static void fs__coalesce(fs__ops *o, int backlog)
{
    size_t *ix = malloc(o->n * sizeof(*ix));
    if (!ix)
        return;
    for (size_t i = 0; i < o->n; i++)
        ix[i] = i;
    qsort_r(ix, o->n, sizeof(*ix), fs__by_path, o);
    for (size_t k = 0; k + 1 < o->n; k++) {
        fs__op *a = &o->v[ix[k]];
        fs__op *b = &o->v[ix[k + 1]];
        if (strcmp(a->path, b->path) != 0 || a->skip)
            continue;
        if (a->op == FS_ANN_MODIFY && b->op == FS_ANN_MODIFY)
            a->skip = 1;
        else if (backlog && a->op == FS_ANN_CREATE && b->op == FS_ANN_UNLINK)
            a->skip = b->skip = 1;
    }
    free(ix);
}

static int fs__stopping(fs_notify *nt)
{
    pthread_mutex_lock(&nt->mu);
    int stop = nt->stop;
    pthread_mutex_unlock(&nt->mu);
    return stop;
}

static void fs__perform(fs_state *st, const fs__op *op)
{
    fs_notify *nt = st->notify;
    char parent[PATH_MAX];
    snprintf(parent, sizeof(parent), "%s", op->path);
    char *slash = strrchr(parent, '/');
    const char *name = slash ? slash + 1 : parent;
    if (slash)
        *slash = '\0';
    fuse_ino_t pino = slash ? fs_ino_find(st->inodes, parent) : FUSE_ROOT_ID;
    int parent_watched = !slash || fs_ino_watched(st->inodes, parent);
    if (op->op == FS_ANN_MODIFY) {
        fuse_ino_t ino = fs_ino_find(st->inodes, op->path);
        if (!ino || (!parent_watched && !fs_ino_watched(st->inodes, op->path)))
            return;
        fuse_lowlevel_notify_inval_inode(st->se, ino, 0, 0);
    } else {
        if (!pino || !parent_watched || fs__suppressed(nt, op->path))
            return;
        /* Only actor directories are cached (entry_timeout 1 s); every
         * name below them has timeout 0, so the helper's own lookup
         * already revalidates it.  Invalidating an entry takes the parent
         * directory's lock in the kernel: if the daemon is SIGKILLed while
         * a client's create in that directory waits for a reply, the
         * invalidation never returns, the dying daemon keeps /dev/fuse
         * open and the mount hangs for good.  So invalidate only where it
         * is needed. */
        if (!slash)
            fuse_lowlevel_notify_inval_entry(st->se, pino, name, strlen(name));
    }
    if (fs_announce_op(st, op->op, op->path) == 0 && op->op == FS_ANN_MKDIR) {
        /* inotifywait -r is about to watch it: so are we, at once, so
         * that entries made in it right after are not missed. */
        fuse_ino_t ino = fs_ino_find(st->inodes, op->path);
        if (ino)
            fs_ino_watched_set(st->inodes, ino);
    }
}

static void fs__process(fs_state *st, fs__ev *batch, size_t count)
{
    fs__ops o = {0};
    fs__plan(st, batch, &o);
    fs__coalesce(&o, count > FS__BACKLOG);
    for (size_t i = 0; i < o.n && !fs__stopping(st->notify); i++)
        if (!o.v[i].skip)
            fs__perform(st, &o.v[i]);
    for (size_t i = 0; i < o.nowned; i++)
        free(o.owned[i]);
    free(o.owned);
    free(o.v);
}

static void fs__deadline(struct timespec *ts, int64_t ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (ms % 1000) * 1000000;
    if (ts->tv_nsec >= 1000000000) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000;
    }
}

static void *fs__thread(void *arg)
{
    fs_state *st = arg;
    fs_notify *nt = st->notify;
    pthread_mutex_lock(&nt->mu);
    while (!nt->stop) {
        if (!nt->head) {
            nt->idle = 1;
            pthread_cond_wait(&nt->cv, &nt->mu);
            nt->idle = 0;
            continue;
        }
        struct timespec next;
        fs__deadline(&next, FS__BATCH_MS);
        fs__ev *batch = nt->head;
        size_t count = nt->queued;
        nt->head = NULL;
        nt->tail = &nt->head;
        nt->queued = 0;
        pthread_mutex_unlock(&nt->mu);
        fs__process(st, batch, count);
        while (batch) {
            fs__ev *next_ev = batch->next;
            fs__ev_free(batch);
            batch = next_ev;
        }
        pthread_mutex_lock(&nt->mu);
        /* Rate limit: what arrives meanwhile waits for the next batch. */
        while (!nt->stop &&
               pthread_cond_timedwait(&nt->cv, &nt->mu, &next) != ETIMEDOUT)
            ;
    }
    pthread_mutex_unlock(&nt->mu);
    return NULL;
}

int fs_notify_new(fs_state *st)
{
    fs_notify *nt = calloc(1, sizeof(*nt));
    if (!nt)
        return -ENOMEM;
    pthread_mutex_init(&nt->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&nt->cv, &ca);
    pthread_condattr_destroy(&ca);
    nt->tail = &nt->head;
    st->notify = nt;
    return 0;
}

int fs_notify_start(fs_state *st)
{
    fs_notify *nt = st->notify;
    int rc = pthread_create(&nt->thread, NULL, fs__thread, st);
    if (rc != 0)
        return -rc;
    pthread_mutex_lock(&nt->mu);
    nt->started = 1;
    pthread_mutex_unlock(&nt->mu);
    return 0;
}

void fs_notify_stop(fs_state *st)
{
    fs_notify *nt = st->notify;
    if (!nt)
        return;
    pthread_mutex_lock(&nt->mu);
    nt->stop = 1;
    int started = nt->started;
    pthread_cond_signal(&nt->cv);
    pthread_mutex_unlock(&nt->mu);
    if (started)
        pthread_join(nt->thread, NULL);
    pthread_mutex_lock(&nt->mu);
    nt->started = 0;
    pthread_mutex_unlock(&nt->mu);
}

void fs_notify_free(fs_state *st)
{
    fs_notify *nt = st->notify;
    if (!nt)
        return;
    while (nt->head) {
        fs__ev *e = nt->head;
        nt->head = e->next;
        fs__ev_free(e);
    }
    fs__marks_free(nt->suppress);
    fs__marks_free(nt->polls);
    fs__marks_free(nt->dirs);
    for (size_t i = 0; i < FS__TAKEN; i++)
        free(nt->taken[i]);
    pthread_cond_destroy(&nt->cv);
    pthread_mutex_destroy(&nt->mu);
    free(nt);
    st->notify = NULL;
}
