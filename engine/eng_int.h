/*
 * eng_int.h - the engine's internals, shared by the files of engine/ and
 * by the engine's own unit tests; never by other modules.
 *
 * Threads and ownership:
 *  - the loop thread (libuv) owns every eng__actor's workflow fields, the
 *    journal caches, and runs run functions;
 *  - the committer thread owns the store's write connection and applies
 *    write requests (eng__wreq) in groups;
 *  - worker threads run steps; they touch an actor only through its state
 *    lock (smu) and the step's own eng_sctx;
 *  - any thread may look an actor up by name in the actor table (amu) but
 *    copies what it needs out under the lock.
 */
#ifndef ENG_INT_H
#define ENG_INT_H

#include "eng.h"
#include "map.h"
#include "store.h"

#include <pthread.h>
#include <stdatomic.h>
#include <uv.h>

/* journal entry kinds; the numbers are stored */
enum { ENG__K_STEP, ENG__K_QUEUE, ENG__K_SLEEP, ENG__K_LOOP, ENG__K_ITER,
       ENG__K_JOIN, ENG__K_RACE, ENG__K_BRANCH };
/* journal entry statuses; stored */
enum { ENG__E_RUNNING, ENG__E_COMPLETED, ENG__E_FAILED, ENG__E_RETRYING };
/* workflow statuses; stored */
enum { ENG__W_RUNNING, ENG__W_WAITING, ENG__W_SLEEPING, ENG__W_FAILED,
       ENG__W_COMPLETED, ENG__W_CANCELLED };

const char *eng__kind_name(int kind);
const char *eng__estatus_name(int st);
const char *eng__wstatus_name(int st);
int eng__kind_is_dir(int kind);

/* ---- loop-thread jobs ---- */

typedef struct eng__job {
    struct eng__job *next;
    void (*fn)(eng *e, struct eng__job *j);
} eng__job;

/* Queues a job for the loop thread (any thread). */
void eng__post(eng *e, eng__job *j);

/* A caller-thread wait for work done on the loop or committer thread. */
typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done, rc;
} eng__sync;
void eng__sync_init(eng__sync *s);
void eng__sync_destroy(eng__sync *s);
void eng__sync_wait(eng__sync *s);
void eng__sync_done(eng__sync *s, int rc);

/* ---- write requests ---- */

enum { ENG__OP_ENTRY, ENG__OP_TREE_DEL, ENG__OP_STATE, ENG__OP_STATUS,
       ENG__OP_EVENT, ENG__OP_TIMER_PUT, ENG__OP_TIMER_DEL, ENG__OP_TAKE,
       ENG__OP_MSG_INSERT, ENG__OP_MSG_CANCEL, ENG__OP_ACTOR_INSERT,
       ENG__OP_ACTOR_DELETE,
       ENG__OP_NONE /* superseded by a later op of the same request */ };

typedef struct eng__op {
    struct eng__op *next;
    int kind;
    eng__entry e;  /* ENTRY; TAKE: the template, filled with the outcome */
    int created;   /* ENTRY/TAKE: a new entry (ENTRY_CREATED) */
    eng__status st;
    char *s1, *s2, *s3;
    int64_t i1;
    int i2;
    /* TAKE of messages the loop thread already took (eng__take_ahead) */
    int64_t *ids;
    size_t nids;
    /* TAKE outcome */
    int took;      /* messages taken */
    int waiting;   /* queue empty, entry left running */
} eng__op;

typedef struct eng__wev {
    struct eng__wev *next;
    eng_ev_kind kind;
    char *path;
    int64_t msg_id;
} eng__wev;

typedef struct eng__wreq {
    eng__job job; /* first: posted to the loop thread when done */
    struct eng__wreq *qnext;
    int64_t actor;
    int run;
    char *type, *key;
    eng__op *ops, **tail;
    eng__wev *evs, **evtail;
    eng__op *status_op; /* the last STATUS op, superseded by the next */
    int rc;
    int64_t msg_id; /* MSG_INSERT */
    int created;    /* ACTOR_INSERT */
    int64_t now;
    /* completion: on the loop thread (loop_done) or a waiting caller */
    void (*loop_done)(eng *e, struct eng__wreq *r);
    eng__sync *sync;
    void *ud;
    struct eng__actor *a; /* counts in a->pending when set */
} eng__wreq;

eng__wreq *eng__wreq_new(int64_t actor, int run, const char *type,
                         const char *key);
void eng__wreq_free(eng__wreq *r);
eng__op *eng__op_add(eng__wreq *r, int kind);
/* The last op of KIND in r (requests may carry deferred ops first). */
eng__op *eng__wreq_last(eng__wreq *r, int kind);
/* Adds an ENTRY op holding a copy of e. */
eng__op *eng__op_entry(eng__wreq *r, const eng__entry *e, int created);
/* Adds an EVENT op: {"ts":..,"type":TYPE,..fields} (fields consumed). */
void eng__op_event(eng__wreq *r, const char *type, cJSON *fields);
/* Adds an integer to an event's fields, printed as one: cJSON prints
 * every number with %g and checks it back with sscanf. */
void eng__ev_int(cJSON *fields, const char *name, int64_t v);
void eng__wev_add(eng__wreq *r, eng_ev_kind kind, const char *path,
                  int64_t msg_id);
/* Hands r to the committer.  With r->sync the caller then waits on it. */
void eng__submit(eng *e, eng__wreq *r);
/* Submits and waits; returns r->rc (r is still the caller's). */
int eng__submit_wait(eng *e, eng__wreq *r);
int eng__committer_start(eng *e);
void eng__committer_stop(eng *e);

/* ---- actors ---- */

typedef struct eng__centry {
    eng__entry e;
    cJSON *out; /* parsed e.output */
    int busy;   /* a worker or a waited commit (a take the committer makes,
                   a failed attempt's entry) is in flight for it */
} eng__centry;

typedef struct eng__actor {
    eng *e;
    int64_t id;
    char *type, *key;
    const eng_type *t;

    /* loop thread */
    int run, wst, gen;
    char *error;     /* the workflow error JSON (failed) */
    char *cur_step;  /* last step started */
    int cur_attempt;
    int loaded, ready, in_run, halted, broken, destroyed, nsteps, pending;
    struct eng__actor *rnext; /* ready list */
    eng__wreq *deferred;      /* no-wait writes not yet handed over */
    unsigned dseq;            /* changes whenever deferred does */
    /* actors with deferred writes: a list any member leaves in O(1) */
    struct eng__actor *dnext, **dprev;
    eng__map cache;           /* path -> centry */
    eng__map seqs;            /* "parent\x1fseq" -> centry */
    eng__map empty;           /* queues found empty since the last enqueue */
    char *wait_queue;         /* first queue waited on, for status */
    int wait_any;             /* waits on some queue */
    int64_t wait_until;       /* earliest timer, -1 none */
    int wait_retry;           /* the timer is a step's backoff */
    uv_timer_t *timer;
    int64_t timer_at;
    int64_t idle_since;
    struct eng_sctx *steps;   /* in flight */
    eng__status last;         /* last status written */

    /* set by the committer when a request of the actor fails (the
     * -errno), cleared by the loop thread on the reload that follows: its
     * requests in between are refused with it (commit.c) */
    atomic_int wfail;

    /* state: any thread under smu */
    pthread_mutex_t smu;
    pthread_cond_t scv;
    cJSON *state;
    int state_locked;
} eng__actor;

/* A scope of the run function: the top level, an iteration or a branch. */
typedef struct {
    const char *prefix; /* "" or "loop/3/" */
    const char *parent; /* "" or "loop/3" */
    int seq;            /* next ordinal */
} eng__scope;

struct eng_ctx {
    eng__actor *a;
    eng__scope *sc;
};

struct eng_sctx {
    eng__actor *a;
    eng *e;
    char *path;
    int attempt, gen, max_attempts;
    eng_step_fn fn;
    cJSON *input;
    eng_step_opts opts;
    atomic_int cancelled;
    int concluded; /* timed out or abandoned: the worker's result is dropped */
    int lost;      /* its branch lost a race */
    uv_work_t work;
    uv_timer_t *tmo;
    int rc;
    cJSON *output;
    char *errmsg;
    cJSON *state_copy;
    int has_lock;
    /* the ENTRY op that journals the start, while it is still in the
     * actor's deferred request number start_dseq: the completion then
     * replaces it instead of writing the row twice */
    eng__op *start_op;
    unsigned start_dseq;
    struct eng_sctx *next;
};

struct eng_actx {
    eng *e;
    const char *key;
    void *ud;
    cJSON *state;
    const atomic_int *cancel;
    char *errmsg;
};

/* printf arguments for "%s%s%s": TYPE or TYPE@KEY */
#define ENG__LBL(a) (a)->type, *(a)->key ? "@" : "", (a)->key

/* ---- the engine ---- */

typedef struct {
    eng_type t;
    char *name;
} eng__type;

struct eng {
    eng_config cfg;
    char *data_dir;
    const eng__store_ops *so;
    eng__store *st;

    eng__type **types;
    size_t ntypes;
    atomic_int started, stopping;

    pthread_mutex_t amu;
    eng__map actors; /* "type\x1fkey" -> eng__actor */

    uv_loop_t loop;
    int loop_ok;
    uv_async_t async;
    uv_idle_t idle;
    uv_timer_t sweep;
    pthread_t loop_thr;
    pthread_mutex_t imu;
    eng__job *in_head, **in_tail;
    eng__actor *ready;
    eng__actor *deferred; /* actors holding lazy writes */
    long nloaded;         /* actors with their journal in memory */
    uv_timer_t flush;

    pthread_t com_thr;
    pthread_mutex_t cmu;
    pthread_cond_t ccv;
    eng__wreq *q_head, **q_tail;
    int com_stop, com_running;
    int com_busy; /* a group is being applied, by the committer or a caller */

    /* "actor\x1fqueue" -> the id of the last message the loop thread took
     * ahead of its commit (int64_t *); under tmu */
    pthread_mutex_t tmu;
    eng__map took;

    pthread_mutex_t wmu;
    eng_watch_fn watch;
    void *watch_ud;
};

/* names.c */
char *eng__actor_name(const char *type, const char *key); /* "type\x1fkey" */
int eng__step_name_ok(const char *name);
const eng_queue_def *eng__queue_find(const eng_type *t, const char *queue);

/* actor.c (loop thread unless said) */
eng__actor *eng__actor_new(eng *e, int64_t id, const char *type,
                           const char *key, const eng_type *t);
void eng__actor_free(eng__actor *a);
int eng__actor_load(eng__actor *a);
/* Any thread: the actor's id, -ENOENT if the actor or its type is unknown. */
int eng__actor_id(eng *e, const char *type, const char *key, int64_t *id);
eng__actor *eng__actor_get(eng *e, const char *type, const char *key);
void eng__actor_schedule(eng__actor *a);
void eng__run_ready(eng *e);
void eng__actor_idle_check(eng__actor *a);
void eng__actor_req_done(eng__actor *a, eng__wreq *r);
/* A request for a change whose completion the actor waits for; it
 * carries the actor's deferred writes first. */
eng__wreq *eng__actor_req(eng__actor *a);
/* A request for a change nobody waits for: held a few milliseconds so it
 * rides with the next waited commit instead of costing its own fsync. */
eng__wreq *eng__actor_req_lazy(eng__actor *a);
void eng__actor_flush(eng__actor *a);
void eng__flush_all(eng *e);
void eng__actor_fail(eng__actor *a, cJSON *error);
void eng__actor_status_sync(eng__actor *a);
/* Flags the steps under PREFIX (NULL: all) cancelled; lost: a race
 * loser's, whose result is then journaled as cancelled. */
void eng__actor_cancel_steps(eng__actor *a, const char *prefix, int lost);
void eng__state_unlock(eng__actor *a);
void eng__cache_put(eng__actor *a, const eng__entry *e, int busy);
eng__centry *eng__cache_get(eng__actor *a, const char *path);
/* The key of a scope position in a->seqs: "parent\x1fseq" (malloc'd). */
char *eng__seqkey(const char *parent, int seq);
void eng__cache_del_tree(eng__actor *a, const char *path);
void eng__cache_clear(eng__actor *a);
int eng__actors_resume(eng *e);
void eng__enqueued(eng *e, const char *type, const char *key,
                   const char *queue);
void eng__watch_emit(eng *e, const eng_event *ev);
void eng__maybe_finish(eng *e);

/* step.c */
int eng__step_start(eng__actor *a, eng__centry *ce, eng_step_fn fn,
                    const cJSON *input, const eng_step_opts *opts);
int eng__action_run(eng *e, const char *type, const char *key,
                    const char *action, const cJSON *args, cJSON **result,
                    const atomic_int *cancel, char *err, size_t errlen);

/* queue.c */
/* Loop thread: takes up to max (at least 1) pending messages of QUEUE
 * from the committed store, above those it already took, and marks them
 * taken in memory; 0 and *n == 0 when there are none.  The caller then
 * queues a TAKE of the same ids. */
int eng__take_ahead(eng__actor *a, const char *queue, int max, eng__msg **msgs,
                    size_t *n);
/* Loop thread: forgets the actor's marks (nothing of it is uncommitted). */
void eng__take_marks_clear(eng__actor *a);

/* fault.c */
void eng__fault_env_load(void);
int eng__fault_kill_before(void);
void eng__fault_kill_after(void);

/* read.c: a JSON text as cJSON, or JSON null when NULL/invalid */
cJSON *eng__parse_or_null(const char *text);
char *eng__iso_time(int64_t ms, char *buf, size_t len);

#endif
