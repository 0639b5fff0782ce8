/*
 * store.h - the one narrow interface between the engine and its storage.
 *
 * Everything durable (actors, state, queue messages, the journal, timers,
 * the events file) goes through this vtable so that a second backend
 * (PostgreSQL) can follow the embedded SQLite one (store_sqlite.c).  A
 * store has exactly one write connection, owned by the committer thread,
 * and a pool of read connections that any thread borrows; each read
 * function runs inside a read transaction opened by rbegin, so a caller
 * sees one consistent snapshot across several calls.
 */
#ifndef ENG_STORE_H
#define ENG_STORE_H

#include <stddef.h>
#include <stdint.h>

typedef struct eng__store eng__store; /* the backend, write side */
typedef struct eng__conn eng__conn;   /* a borrowed read connection */

/* One journal entry as stored; text fields are JSON or plain strings. */
typedef struct {
    char *path;   /* "loop/3/step" */
    char *parent; /* "loop/3" ("" at top level) */
    char *name;   /* last path component */
    int seq;      /* ordinal within parent */
    int kind;     /* ENG__K_* */
    int status;   /* ENG__E_* */
    int attempts;
    char *output; /* JSON text or NULL */
    char *error;  /* JSON text or NULL */
    int64_t started_at, finished_at;
    int64_t deadline; /* sleep/queue deadline, retry time; -1 none */
    int64_t iter;     /* loop: current iteration; race: winner */
} eng__entry;

/* The workflow status row of an actor. */
typedef struct {
    int run;
    int status; /* ENG__W_* */
    int attempt;
    char *waiting_on; /* NULL or "queue:X" / "timer:..." */
    char *step;       /* NULL or a path */
    char *error;      /* NULL or JSON text */
} eng__status;

/* A row of the actors table as the startup scan sees it. */
typedef struct {
    int64_t id;
    char *type, *key;
    eng__status st;
} eng__actor_row;

typedef struct {
    int64_t id;
    char *body;
} eng__msg;

typedef struct {
    /* lifecycle */
    int (*open)(const char *dir, int durability, eng__store **out, char *err,
                size_t errlen);
    void (*close)(eng__store *s);

    /* write side: the committer thread only */
    int (*begin)(eng__store *s);
    int (*commit)(eng__store *s);
    void (*rollback)(eng__store *s);
    int (*savepoint)(eng__store *s);
    int (*release)(eng__store *s);
    void (*rollback_to)(eng__store *s);

    int (*actor_insert)(eng__store *s, const char *type, const char *key,
                        const char *state, int64_t now, int64_t *id,
                        int *created);
    int (*actor_delete)(eng__store *s, int64_t id);
    int (*status_put)(eng__store *s, int64_t id, const eng__status *st);
    int (*state_put)(eng__store *s, int64_t id, const char *json);
    int (*entry_put)(eng__store *s, int64_t id, int run, const eng__entry *e);
    /* Deletes PATH and everything under PATH/. */
    int (*tree_delete)(eng__store *s, int64_t id, int run, const char *path);
    int (*timer_put)(eng__store *s, int64_t id, int run, const char *path,
                     int64_t deadline);
    int (*timer_delete)(eng__store *s, int64_t id, int run, const char *path);
    /* -EEXIST when idem is pending or among the recently taken. */
    int (*msg_insert)(eng__store *s, int64_t id, const char *queue,
                      const char *body, const char *idem, int64_t now,
                      int64_t *msg_id);
    /* Marks up to max oldest pending messages taken; *out malloc'd. */
    int (*msg_take)(eng__store *s, int64_t id, const char *queue, int max,
                    int64_t now, eng__msg **out, size_t *n);
    /* Marks the messages IDS (taken ahead by the loop thread) taken;
     * -ESTALE if one of them is no longer pending. */
    int (*msg_take_ids)(eng__store *s, int64_t id, const char *queue,
                        const int64_t *ids, size_t n, int64_t now);
    /* 0, -ENOENT, -EBUSY (taken). */
    int (*msg_cancel)(eng__store *s, int64_t id, const char *queue,
                      int64_t msg_id);
    int (*event_append)(eng__store *s, int64_t id, const char *line);

    /* read side: any thread */
    int (*rget)(eng__store *s, eng__conn **c); /* borrow + BEGIN */
    void (*rput)(eng__store *s, eng__conn *c); /* COMMIT + return */
    int (*r_actor_id)(eng__conn *c, const char *type, const char *key,
                      int64_t *id);
    int (*r_actors)(eng__conn *c, eng__actor_row **rows, size_t *n);
    int (*r_status)(eng__conn *c, int64_t id, eng__status *st);
    int (*r_state)(eng__conn *c, int64_t id, char **json);
    int (*r_entries)(eng__conn *c, int64_t id, int run, eng__entry **ents,
                     size_t *n);
    int (*r_entry)(eng__conn *c, int64_t id, int run, const char *path,
                   eng__entry *e);
    int (*r_children)(eng__conn *c, int64_t id, int run, const char *parent,
                      eng__entry **ents, size_t *n);
    int (*r_events_size)(eng__conn *c, int64_t id, uint64_t *size);
    int (*r_events_read)(eng__conn *c, int64_t id, uint64_t off, size_t max,
                         char **buf, size_t *len);
    int (*r_msgs_pending)(eng__conn *c, int64_t id, const char *queue,
                          int64_t **ids, size_t *n);
    /* Up to max oldest pending messages with an id above AFTER. */
    int (*r_msgs_next)(eng__conn *c, int64_t id, const char *queue,
                       int64_t after, int max, eng__msg **out, size_t *n);
    /* 0 pending (*body set), -EBUSY taken, -ENOENT. */
    int (*r_msg)(eng__conn *c, int64_t id, const char *queue, int64_t msg_id,
                 char **body);
    int (*r_idem_exists)(eng__conn *c, int64_t id, const char *queue,
                         const char *idem);
    int (*r_pending_count)(eng__conn *c, int64_t id, int64_t *n);
    /* Timers plus running or retrying steps of the run: work that needs
     * the actor loaded even when no message arrives. */
    int (*r_active)(eng__conn *c, int64_t id, int run, int64_t *n);
    int (*r_count)(eng__conn *c, const char *table, int64_t id, int64_t *n);
} eng__store_ops;

extern const eng__store_ops eng__sqlite_ops;

void eng__entry_clear(eng__entry *e);
void eng__entry_copy(eng__entry *dst, const eng__entry *src);
void eng__status_clear(eng__status *st);
void eng__entries_free(eng__entry *ents, size_t n);

#endif
