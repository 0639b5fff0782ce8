/*
 * eng.h - the whole public interface of the actorfs workflow engine.
 *
 * The engine runs durable workflow actors: each actor is an instance
 * (TYPE, KEY) of a type registered from C, with JSON state, queues,
 * actions and a run function.  The run function is ordinary C that is
 * *replayed*: every workflow call (eng_step, eng_queue_next, eng_sleep,
 * eng_loop, eng_join, eng_race) first looks in the actor's journal.  A
 * call whose entry is completed returns the recorded result at once; a
 * call that must wait schedules its work and returns ENG_SUSPEND, which
 * the run function passes straight up (ENG_TRY does that).  When the work
 * is done the engine calls the run function again from the top.  So a
 * run function must be deterministic between workflow calls and must not
 * keep pointers to journal results across a return.
 *
 * Commits are pipelined: a step's result and a taken message are used as
 * soon as they are in memory, and their journal writes follow in order,
 * several steps to one commit.  The store always holds an in-order prefix
 * of each actor's writes, so after a crash the state is the state after
 * the last journaled step, a journaled step never runs again, and a step
 * whose completion was not yet journaled runs again (at-least-once, as for
 * a step interrupted mid-run).  An acknowledged enqueue is durable.
 *
 * Threads: run functions and loop bodies run on the engine's libuv loop
 * thread.  Step functions and actions run on worker threads.  Every other
 * function here may be called from any thread.
 *
 * Errors are negative errno values.  Where an error needs words the caller
 * passes a buffer (err, errlen) and gets a one-line reason.
 *
 * Shared objects given to `actorfs --load` include only this header and
 * export `int actorfs_register(eng *e)`, which calls eng_register.
 */
#ifndef ENG_H
#define ENG_H

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

typedef struct eng eng;           /* one engine: store, loop, committer */
typedef struct eng_ctx eng_ctx;   /* a workflow's context, loop thread */
typedef struct eng_sctx eng_sctx; /* a running step, worker thread */
typedef struct eng_actx eng_actx; /* a running action, caller's thread */

/* Positive results of workflow calls (never errors). */
#define ENG_SUSPEND 1 /* the call waits: return it from the run function */
#define ENG_BREAK 2   /* returned by a loop body: leave the loop */

/* Pass ENG_SUSPEND and errors up to the caller; go on with 0. */
#define ENG_TRY(expr)                                                        \
    do {                                                                     \
        int eng__rc = (expr);                                                \
        if (eng__rc != 0)                                                    \
            return eng__rc;                                                  \
    } while (0)

/* ---- types, registered before eng_start ------------------------------ */

/* A required field of a queue message: its name and cJSON type
 * (cJSON_String, cJSON_Number, cJSON_Object, cJSON_Array, cJSON_True for
 * any boolean, cJSON_NULL). */
typedef struct {
    const char *name;
    int type;
} eng_field;

typedef struct {
    const char *name;
    const eng_field *fields; /* may be NULL */
    size_t nfields;
} eng_queue_def;

/* An action: called with JSON args (cJSON NULL when none), sets *result
 * to a new cJSON the engine frees.  Returns 0 or -errno (reason through
 * eng_actx_error). */
typedef int (*eng_action_fn)(eng_actx *a, const cJSON *args, cJSON **result);

typedef struct {
    const char *name;
    eng_action_fn fn;
    int takes_args; /* 1: a transaction file (write args, read result) */
} eng_action_def;

typedef int (*eng_run_fn)(eng_ctx *c);

typedef struct {
    const char *name;          /* [A-Za-z0-9_-]+, no '@' */
    const char *initial_state; /* JSON text */
    const eng_queue_def *queues;
    size_t nqueues;
    const eng_action_def *actions;
    size_t nactions;
    eng_run_fn run; /* NULL: the actor has no workflow */
    void *ud;       /* handed back by eng_*_type_ud */
    /* Optional hooks, called on the caller's thread when an instance is
     * created (get-or-create made it) or is about to be destroyed (may
     * refuse with -EBUSY, reason in err). */
    int (*on_create)(eng *e, const char *key, void *ud, char *err, size_t errlen);
    int (*on_destroy)(eng *e, const char *key, void *ud, char *err, size_t errlen);
    /* 1: no default instance is made at start (the vm type). */
    int no_default_instance;
} eng_type;

/* ---- the engine ------------------------------------------------------ */

enum { ENG_DURABILITY_FULL = 0, ENG_DURABILITY_NORMAL = 1 };

typedef struct {
    const char *data_dir;     /* created if missing; holds actorfs.db */
    int durability;           /* ENG_DURABILITY_* */
    size_t max_message_bytes; /* 0: 1 MiB */
    int evict_always;         /* also set by ACTORFS_EVICT_ALWAYS=1 */
    int keep_iterations;      /* finished loop iterations kept; 0: 5 */
} eng_config;

int eng_open(const eng_config *cfg, eng **out, char *err, size_t errlen);
/* Registers a type; a later registration of the same name replaces it.
 * -EINVAL for a bad definition, -EBUSY after eng_start. */
int eng_register(eng *e, const eng_type *t);
/* Makes the default instances, resumes unfinished workflows, starts the
 * loop and worker threads. */
int eng_start(eng *e, char *err, size_t errlen);
/* Stops everything, waits for running steps, closes the store, frees. */
void eng_close(eng *e);
const char *eng_data_dir(const eng *e);
/* The daemon's log: one line, timestamped, to stderr (the daemon points
 * stderr at DATA/actorfs.log).  Thread-safe.  Never pass credentials. */
void eng_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int64_t eng_now_ms(void); /* wall clock, ms since the epoch */

/* ---- the workflow API: only inside a run function -------------------- */

typedef struct {
    int max_attempts;            /* 0: 3 */
    int64_t backoff_initial_ms;  /* 0: 100 */
    double backoff_factor;       /* 0: 2 */
    int64_t backoff_max_ms;      /* 0: 30000 */
    int64_t timeout_ms;          /* 0: 30000; <0: none */
} eng_step_opts;

/* Runs on a worker thread.  Sets *output to a new cJSON (NULL means JSON
 * null) and returns 0, or returns -errno with a reason (eng_sctx_error). */
typedef int (*eng_step_fn)(eng_sctx *s, const cJSON *input, cJSON **output);

/* Runs fn(input) and journals its result; once journaled it never runs
 * again (see commits, above).  input is copied.  *out (may be NULL) is
 * the recorded output, owned by the engine, valid until the run function
 * returns.  opts NULL: the defaults. */
int eng_step(eng_ctx *c, const char *name, eng_step_fn fn, const cJSON *input,
             const eng_step_opts *opts, const cJSON **out);

/* A loop body: 0 = next iteration, ENG_BREAK = leave, ENG_SUSPEND, -errno. */
typedef int (*eng_loop_fn)(eng_ctx *c, void *arg);
/* Entries of iteration N live under NAME/N/.  Finished iterations are
 * compacted (the last keep_iterations stay visible) and never replayed. */
int eng_loop(eng_ctx *c, const char *name, eng_loop_fn body, void *arg);

/* Takes the next message of QUEUE; a take not yet journaled at a crash
 * is made again after it.  *msg is its body.
 * timeout_ms < 0 waits forever; on timeout *msg is a cJSON null. */
int eng_queue_next(eng_ctx *c, const char *name, const char *queue,
                   int64_t timeout_ms, const cJSON **msg);
/* Up to max messages as a JSON array; empty array on timeout. */
int eng_queue_next_batch(eng_ctx *c, const char *name, const char *queue,
                         int max, int64_t timeout_ms, const cJSON **msgs);

int eng_sleep(eng_ctx *c, const char *name, int64_t ms);
int eng_sleep_until(eng_ctx *c, const char *name, int64_t epoch_ms);

typedef int (*eng_branch_fn)(eng_ctx *c, void *arg);
typedef struct {
    const char *name;
    eng_branch_fn fn;
    void *arg;
} eng_branch;
/* Runs the branches concurrently; entries live under NAME/BRANCH/.
 * 0 when all completed; the first failure fails the join. */
int eng_join(eng_ctx *c, const char *name, const eng_branch *b, size_t n);
/* 0 when the first branch completes (*winner its index); the others are
 * cancelled: their running steps see eng_sctx_cancelled, their waits end. */
int eng_race(eng_ctx *c, const char *name, const eng_branch *b, size_t n,
             size_t *winner);

const char *eng_ctx_key(const eng_ctx *c);
void *eng_ctx_type_ud(const eng_ctx *c);

/* ---- inside a step --------------------------------------------------- */

/* The actor's state, mutable.  The first call locks the actor's state for
 * the rest of the step; changes commit atomically with the step's entry
 * and are dropped if the step fails. */
cJSON *eng_sctx_state(eng_sctx *s);
int eng_sctx_cancelled(const eng_sctx *s); /* timed out, raced or cancelled */
int eng_sctx_attempt(const eng_sctx *s);   /* 1, 2, ... */
const char *eng_sctx_key(const eng_sctx *s);
void *eng_sctx_type_ud(const eng_sctx *s);
eng *eng_sctx_engine(const eng_sctx *s);
void eng_sctx_error(eng_sctx *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Reaches another actor: get-or-creates (TYPE, KEY) and runs its action.
 * It first waits until the calling actor's earlier journal writes are
 * committed, so the other actor never acts on steps a crash could undo.
 * The step's cancellation reaches the action (eng_actx_cancelled).  On
 * failure the reason is already in the step's error. */
int eng_call(eng_sctx *s, const char *type, const char *key,
             const char *action, const cJSON *args, cJSON **result);

/* ---- inside an action ------------------------------------------------ */

const cJSON *eng_actx_state(const eng_actx *a); /* a snapshot */
int eng_actx_cancelled(const eng_actx *a);
const char *eng_actx_key(const eng_actx *a);
void *eng_actx_type_ud(const eng_actx *a);
eng *eng_actx_engine(const eng_actx *a);
void eng_actx_error(eng_actx *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ---- what the filesystem needs (any thread) -------------------------- */

typedef struct {
    char **v;
    size_t n;
} eng_strv;
void eng_strv_free(eng_strv *sv);

/* Directory names of all actors: "TYPE" for the default key, else
 * "TYPE@KEY", sorted. */
int eng_actor_list(eng *e, eng_strv *out);
/* Splits a directory name into type and key (key "" = default).
 * -EINVAL for a malformed name (see eng_name_ok). */
int eng_actor_parse(const char *dirname, char *type, size_t tlen, char *key,
                    size_t klen);
/* 1 if NAME may be a key, queue name or idempotency key: 1..200 bytes,
 * no '/', no NUL, no control characters, not "." or "..". */
int eng_name_ok(const char *name);
/* 0 if the actor exists, -ENOENT if it or its type does not. */
int eng_actor_exists(eng *e, const char *type, const char *key);
/* Get-or-create: 0 (created or already there), -ENOENT unknown type. */
int eng_actor_create(eng *e, const char *type, const char *key, char *err,
                     size_t errlen);
/* Destroys an idle actor and its journal; -EBUSY if it is busy. */
int eng_actor_destroy(eng *e, const char *type, const char *key, char *err,
                      size_t errlen);
/* The registered type, or NULL.  Valid until eng_close. */
const eng_type *eng_type_find(eng *e, const char *type);

/* Each returns malloc'd JSON text ending in "\n" (*len without the NUL),
 * one consistent snapshot. */
int eng_state_json(eng *e, const char *type, const char *key, char **json,
                   size_t *len);
int eng_status_json(eng *e, const char *type, const char *key, char **json,
                    size_t *len);

/* The steps/ tree.  PATH is relative to steps/ ("" is steps/ itself, e.g.
 * "fix-bug-loop/3").  A node is a directory (loop, iteration, join, race,
 * branch) or a file (step, queue wait, sleep). */
typedef struct {
    char *name;
    int is_dir;
} eng_dirent;
int eng_steps_list(eng *e, const char *type, const char *key, const char *path,
                   eng_dirent **ents, size_t *n);
void eng_dirents_free(eng_dirent *ents, size_t n);
/* 0 with *is_dir, or -ENOENT. */
int eng_steps_stat(eng *e, const char *type, const char *key, const char *path,
                   int *is_dir);
/* A file's content: {"kind","name","status","attempts","output","error",
 * "startedAt","finishedAt"}\n.  -EISDIR for a directory. */
int eng_steps_read(eng *e, const char *type, const char *key, const char *path,
                   char **json, size_t *len);

/* The events file: one JSON line per change.  Its size is its true length. */
int eng_events_size(eng *e, const char *type, const char *key, uint64_t *size);
int eng_events_read(eng *e, const char *type, const char *key, uint64_t off,
                    size_t max, char **buf, size_t *len);

/* Queues.  Messages are named by id; pending ones are listed in order. */
int eng_messages_list(eng *e, const char *type, const char *key,
                      const char *queue, int64_t **ids, size_t *n);
int eng_message_read(eng *e, const char *type, const char *key,
                     const char *queue, int64_t id, char **json, size_t *len);
/* 0, -ENOENT (not pending and never was), -EBUSY (taken). */
int eng_message_cancel(eng *e, const char *type, const char *key,
                       const char *queue, int64_t id, char *err, size_t errlen);
/* Checks a message without enqueueing: -EINVAL invalid JSON or breaks the
 * queue's fields, -EFBIG too big, -ENOENT unknown type or queue. */
int eng_message_check(eng *e, const char *type, const char *queue,
                      const char *body, size_t len, char *err, size_t errlen);
/* -EEXIST if KEY is pending or recently taken on that queue, else 0. */
int eng_key_check(eng *e, const char *type, const char *key, const char *queue,
                  const char *idem_key);
/* Enqueues durably: returns 0 only once the message is committed.
 * idem_key NULL: none.  -EEXIST duplicate key, -EIO/-ENOSPC store failure,
 * and the eng_message_check errors.  *id may be NULL. */
int eng_enqueue(eng *e, const char *type, const char *key, const char *queue,
                const char *body, size_t len, const char *idem_key,
                int64_t *id, char *err, size_t errlen);

/* Runs an action from outside a workflow (cat actions/NAME). */
int eng_action(eng *e, const char *type, const char *key, const char *action,
               const cJSON *args, cJSON **result, char *err, size_t errlen);

/* "retry", "cancel" or "restart" (trailing newline allowed); -EINVAL
 * for anything else or a command that does not apply now. */
int eng_ctl(eng *e, const char *type, const char *key, const char *cmd,
            char *err, size_t errlen);

/* ---- change notification: the one interface fs/ subscribes to -------- */

typedef enum {
    ENG_EV_ACTOR_CREATED,
    ENG_EV_ACTOR_DESTROYED,
    ENG_EV_ENTRY_CREATED, /* path: the steps/ path of the new entry */
    ENG_EV_ENTRY_UPDATED,
    ENG_EV_ENTRY_DELETED, /* compaction removed it (path may be a dir) */
    ENG_EV_STATE,
    ENG_EV_STATUS,
    ENG_EV_EVENTS,        /* events grew */
    ENG_EV_MESSAGE_ADDED, /* path: queue name, msg_id */
    ENG_EV_MESSAGE_REMOVED,
} eng_ev_kind;

typedef struct {
    eng_ev_kind kind;
    const char *type;
    const char *key;
    const char *path;
    int64_t msg_id;
} eng_event;

/* Called after the change is committed, on an engine thread or on the
 * thread whose call made the change (an eng_enqueue that found the
 * committer idle commits itself); it must not block or call back into the
 * engine.  One watcher. */
typedef void (*eng_watch_fn)(const eng_event *ev, void *ud);
void eng_watch(eng *e, eng_watch_fn fn, void *ud);

/* ---- fault injection (SQLite's sqlite3FaultSim is the model) --------- */

/* Before each commit ("commit") and each sandbox spawn ("spawn") the hook
 * is asked; a non-zero return is the -errno that operation fails with.
 * Also from the environment: ACTORFS_FAULT_COMMIT=N fails every Nth
 * commit with -EIO; ACTORFS_FAULT_KILL=before:N|after:N kills the process
 * with SIGKILL just before / just after the Nth commit. */
typedef int (*eng_fault_fn)(const char *site, void *ud);
void eng_fault_set(eng_fault_fn fn, void *ud);
int eng_fault(const char *site); /* 0 or the -errno to fail with */

#endif
