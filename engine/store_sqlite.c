/*
 * store_sqlite.c - the embedded SQLite backend of store.h.
 *
 * One database file DATA/actorfs.db in WAL mode: the committer's write
 * connection and a small pool of read connections, so readers never wait
 * behind an fsync.  The schema is versioned with PRAGMA user_version and
 * upgraded by the migrations below, one step per version.  Statements are
 * prepared once per connection and cached by index.
 */
#include "eng_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sqlite3.h>
#include <sys/stat.h>

#define READER_POOL 8

enum {
    S_BEGIN, S_COMMIT, S_ROLLBACK, S_SAVE, S_RELEASE, S_ROLLTO,
    S_ACTOR_INS, S_ACTOR_ID, S_STATE_INS,
    S_DEL_ACTOR, S_DEL_STATE, S_DEL_JOURNAL, S_DEL_MSGS, S_DEL_TIMERS,
    S_DEL_EVENTS,
    S_STATUS_PUT, S_STATE_PUT, S_ENTRY_PUT, S_TREE_DEL, S_TREE_DEL_T,
    S_TIMER_PUT, S_TIMER_DEL,
    S_MSG_INS, S_MSG_PICK, S_MSG_MARK, S_MSG_MARK_ID, S_MSG_PRUNE, S_MSG_GET, S_MSG_DEL,
    S_MSG_HWM,
    S_EV_END, S_EV_INS,
    S_R_ACTORS, S_R_STATUS, S_R_STATE, S_R_ENTRIES, S_R_ENTRY, S_R_CHILDREN,
    S_R_EV_FIRST, S_R_EV_FROM, S_R_PENDING, S_R_NEXT, S_R_IDEM, S_R_PCOUNT, S_R_ACTIVE,
    S_N
};

static const char *const sql[S_N] = {
    [S_BEGIN] = "BEGIN",
    [S_COMMIT] = "COMMIT",
    [S_ROLLBACK] = "ROLLBACK",
    [S_SAVE] = "SAVEPOINT req",
    [S_RELEASE] = "RELEASE req",
    [S_ROLLTO] = "ROLLBACK TO req",
    [S_ACTOR_INS] = "INSERT OR IGNORE INTO actors(type,key,created_at) "
                    "VALUES(?,?,?)",
    [S_ACTOR_ID] = "SELECT id FROM actors WHERE type=? AND key=?",
    [S_STATE_INS] = "INSERT OR IGNORE INTO state(actor,json) VALUES(?,?)",
    [S_DEL_ACTOR] = "DELETE FROM actors WHERE id=?",
    [S_DEL_STATE] = "DELETE FROM state WHERE actor=?",
    [S_DEL_JOURNAL] = "DELETE FROM journal WHERE actor=?",
    [S_DEL_MSGS] = "DELETE FROM messages WHERE actor=?",
    [S_DEL_TIMERS] = "DELETE FROM timers WHERE actor=?",
    [S_DEL_EVENTS] = "DELETE FROM events WHERE actor=?",
    [S_STATUS_PUT] = "UPDATE actors SET run=?,status=?,attempt=?,"
                     "waiting_on=?,step=?,error=? WHERE id=?",
    [S_STATE_PUT] = "INSERT OR REPLACE INTO state(actor,json) VALUES(?,?)",
    [S_ENTRY_PUT] = "INSERT OR REPLACE INTO journal(actor,run,path,parent,"
                    "seq,name,kind,status,attempts,output,error,started_at,"
                    "finished_at,deadline,iter) "
                    "VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
    [S_TREE_DEL] = "DELETE FROM journal WHERE actor=?1 AND run=?2 AND "
                   "(path=?3 OR (path>=?3||'/' AND path<?3||'0'))",
    [S_TREE_DEL_T] = "DELETE FROM timers WHERE actor=?1 AND run=?2 AND "
                     "(path=?3 OR (path>=?3||'/' AND path<?3||'0'))",
    [S_TIMER_PUT] = "INSERT OR REPLACE INTO timers(actor,run,path,deadline) "
                    "VALUES(?,?,?,?)",
    [S_TIMER_DEL] = "DELETE FROM timers WHERE actor=? AND run=? AND path=?",
    /* A new id is above every id the table holds and every id a delete
     * took from its top (S_MSG_HWM): no id is ever given twice. */
    [S_MSG_INS] = "INSERT INTO messages(id,actor,queue,body,idem,created_at) "
                  "VALUES(max(coalesce((SELECT max(id) FROM messages),0),"
                  "coalesce((SELECT v FROM meta WHERE k='msg_hwm'),0))+1,"
                  "?,?,?,?,?)",
    [S_MSG_PICK] = "SELECT id,body FROM messages WHERE actor=? AND queue=? "
                   "AND taken=0 ORDER BY id LIMIT ?",
    [S_MSG_MARK] = "UPDATE messages SET taken=1,taken_at=?,body=NULL "
                   "WHERE id=?",
    [S_MSG_MARK_ID] = "UPDATE messages SET taken=1,taken_at=?,body=NULL "
                      "WHERE id=? AND actor=? AND queue=? AND taken=0",
    [S_MSG_PRUNE] = "DELETE FROM messages WHERE actor=?1 AND queue=?2 AND "
                    "taken=1 AND id<(SELECT id FROM messages WHERE actor=?1 "
                    "AND queue=?2 AND taken=1 ORDER BY id DESC "
                    "LIMIT 1 OFFSET 999)",
    [S_MSG_GET] = "SELECT taken,body FROM messages WHERE id=? AND actor=? "
                  "AND queue=?",
    [S_MSG_DEL] = "DELETE FROM messages WHERE id=?",
    [S_MSG_HWM] = "INSERT INTO meta(k,v) SELECT 'msg_hwm',m FROM "
                  "(SELECT max(id) AS m FROM messages) WHERE m IS NOT NULL "
                  "ON CONFLICT(k) DO UPDATE SET v=max(v,excluded.v)",
    [S_EV_END] = "SELECT off+length(CAST(line AS BLOB)) FROM events "
                 "WHERE actor=? ORDER BY off DESC LIMIT 1",
    [S_EV_INS] = "INSERT INTO events(actor,off,line) VALUES(?,?,?)",
    [S_R_ACTORS] = "SELECT id,type,key,run,status,attempt,waiting_on,step,"
                   "error FROM actors ORDER BY type,key",
    [S_R_STATUS] = "SELECT run,status,attempt,waiting_on,step,error "
                   "FROM actors WHERE id=?",
    [S_R_STATE] = "SELECT json FROM state WHERE actor=?",
    [S_R_ENTRIES] = "SELECT path,parent,name,seq,kind,status,attempts,"
                    "output,error,started_at,finished_at,deadline,iter "
                    "FROM journal WHERE actor=? AND run=?",
    [S_R_ENTRY] = "SELECT path,parent,name,seq,kind,status,attempts,"
                  "output,error,started_at,finished_at,deadline,iter "
                  "FROM journal WHERE actor=? AND run=? AND path=?",
    [S_R_CHILDREN] = "SELECT path,parent,name,seq,kind,status,attempts,"
                     "output,error,started_at,finished_at,deadline,iter "
                     "FROM journal WHERE actor=? AND run=? AND parent=? "
                     "ORDER BY seq",
    [S_R_EV_FIRST] = "SELECT off FROM events WHERE actor=? AND off<=? "
                     "ORDER BY off DESC LIMIT 1",
    [S_R_EV_FROM] = "SELECT off,line FROM events WHERE actor=? AND off>=? "
                    "ORDER BY off",
    [S_R_PENDING] = "SELECT id FROM messages WHERE actor=? AND queue=? AND "
                    "taken=0 ORDER BY id",
    [S_R_NEXT] = "SELECT id,body FROM messages WHERE actor=? AND queue=? "
                 "AND taken=0 AND id>? ORDER BY id LIMIT ?",
    [S_R_IDEM] = "SELECT 1 FROM messages WHERE actor=? AND queue=? AND idem=?",
    [S_R_PCOUNT] = "SELECT count(*) FROM messages WHERE actor=? AND taken=0",
    [S_R_ACTIVE] = "SELECT (SELECT count(*) FROM timers WHERE actor=?1 AND "
                   "run=?2) + (SELECT count(*) FROM journal WHERE actor=?1 "
                   "AND run=?2 AND kind=0 AND status IN (0,3))",
};

/* Version N of the schema is reached by running migrations[N-1]; a new
 * version is a new entry at the end, never an edit of an old one. */
static const char *const migrations[] = {
    "CREATE TABLE actors(id INTEGER PRIMARY KEY, type TEXT NOT NULL,"
    " key TEXT NOT NULL, run INTEGER NOT NULL DEFAULT 1,"
    " status INTEGER NOT NULL DEFAULT 0, attempt INTEGER NOT NULL DEFAULT 0,"
    " waiting_on TEXT, step TEXT, error TEXT, created_at INTEGER NOT NULL,"
    " UNIQUE(type,key));"
    "CREATE TABLE state(actor INTEGER PRIMARY KEY, json TEXT NOT NULL);"
    "CREATE TABLE messages(id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " actor INTEGER NOT NULL, queue TEXT NOT NULL, body TEXT, idem TEXT,"
    " taken INTEGER NOT NULL DEFAULT 0, created_at INTEGER NOT NULL,"
    " taken_at INTEGER);"
    "CREATE INDEX messages_q ON messages(actor,queue,taken,id);"
    "CREATE UNIQUE INDEX messages_idem ON messages(actor,queue,idem)"
    " WHERE idem IS NOT NULL;"
    "CREATE TABLE journal(actor INTEGER NOT NULL, run INTEGER NOT NULL,"
    " path TEXT NOT NULL, parent TEXT NOT NULL, seq INTEGER NOT NULL,"
    " name TEXT NOT NULL, kind INTEGER NOT NULL, status INTEGER NOT NULL,"
    " attempts INTEGER NOT NULL, output TEXT, error TEXT,"
    " started_at INTEGER, finished_at INTEGER, deadline INTEGER,"
    " iter INTEGER NOT NULL DEFAULT 0,"
    " PRIMARY KEY(actor,run,path)) WITHOUT ROWID;"
    "CREATE INDEX journal_parent ON journal(actor,run,parent,seq);"
    "CREATE TABLE timers(actor INTEGER NOT NULL, run INTEGER NOT NULL,"
    " path TEXT NOT NULL, deadline INTEGER NOT NULL,"
    " PRIMARY KEY(actor,run,path)) WITHOUT ROWID;"
    "CREATE TABLE events(actor INTEGER NOT NULL, off INTEGER NOT NULL,"
    " line TEXT NOT NULL, PRIMARY KEY(actor,off)) WITHOUT ROWID;",
    /* 2: an actor's journal is bounded by compaction, so listing a
     * directory scans it by primary key; the index cost a page per commit. */
    "DROP INDEX journal_parent;",
    /* 3: AUTOINCREMENT cost a page (sqlite_sequence) in every enqueue's
     * commit; ids stay unique through msg_hwm, kept by the deletes that
     * can remove the highest id (cancel, actor delete; a prune keeps each
     * queue's newest taken message). */
    "CREATE TABLE meta(k TEXT PRIMARY KEY, v INTEGER NOT NULL) WITHOUT ROWID;"
    "INSERT INTO meta(k,v) SELECT 'msg_hwm',seq FROM sqlite_sequence"
    " WHERE name='messages';"
    "CREATE TABLE messages3(id INTEGER PRIMARY KEY,"
    " actor INTEGER NOT NULL, queue TEXT NOT NULL, body TEXT, idem TEXT,"
    " taken INTEGER NOT NULL DEFAULT 0, created_at INTEGER NOT NULL,"
    " taken_at INTEGER);"
    "INSERT INTO messages3 SELECT id,actor,queue,body,idem,taken,created_at,"
    " taken_at FROM messages;"
    "DROP TABLE messages;"
    "ALTER TABLE messages3 RENAME TO messages;"
    "CREATE INDEX messages_q ON messages(actor,queue,taken,id);"
    "CREATE UNIQUE INDEX messages_idem ON messages(actor,queue,idem)"
    " WHERE idem IS NOT NULL;",
};
#define NMIGRATIONS ((int)(sizeof migrations / sizeof migrations[0]))

struct eng__conn {
    sqlite3 *db;
    sqlite3_stmt *st[S_N];
    eng__conn *next;
};

struct eng__store {
    eng__conn *w;
    /* The end of the last events file appended to, so that a run of
     * appends to one actor looks it up once; forgotten on any rollback. */
    int64_t ev_actor;
    uint64_t ev_end;
    char *path;
    pthread_mutex_t mu; /* the reader pool */
    eng__conn *idle;
    int nidle;
};

static int rc_errno(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_OK:
    case SQLITE_ROW:
    case SQLITE_DONE:
        return 0;
    case SQLITE_FULL:
        return -ENOSPC;
    case SQLITE_CONSTRAINT:
        return -EEXIST;
    case SQLITE_NOMEM:
        return -ENOMEM;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return -EBUSY;
    default:
        return -EIO;
    }
}

static int fail(eng__conn *c, int rc, const char *what)
{
    int e = rc_errno(rc);
    if (e != -EEXIST)
        eng_log("store: %s: %s", what, sqlite3_errmsg(c->db));
    return e;
}

static sqlite3_stmt *stmt(eng__conn *c, int i)
{
    if (!c->st[i]) {
        int rc = sqlite3_prepare_v3(c->db, sql[i], -1, SQLITE_PREPARE_PERSISTENT,
                                    &c->st[i], NULL);
        if (rc != SQLITE_OK) {
            eng_log("store: prepare %d: %s", i, sqlite3_errmsg(c->db));
            return NULL;
        }
    }
    return c->st[i];
}

static void conn_close(eng__conn *c)
{
    if (!c)
        return;
    for (int i = 0; i < S_N; i++)
        sqlite3_finalize(c->st[i]);
    sqlite3_close(c->db);
    free(c);
}

static int conn_open(const char *path, int durability, eng__conn **out,
                     char *err, size_t errlen)
{
    eng__conn *c = calloc(1, sizeof *c);
    if (!c)
        return -ENOMEM;
    int rc = sqlite3_open_v2(path, &c->db,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                                 SQLITE_OPEN_NOMUTEX,
                             NULL);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "cannot open %s: %s", path,
                 c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
        conn_close(c);
        return -EIO;
    }
    sqlite3_busy_timeout(c->db, 10000);
    /* 1 KiB pages (for a new database; an existing one keeps its size):
     * an enqueue or a step writes three or four small rows, each on its
     * own b-tree page, and every page of a commit is copied, checksummed
     * and written to the WAL whole, so 4 KiB pages cost a third more per
     * commit and twice the bytes. */
    char prag[160];
    snprintf(prag, sizeof prag,
             "PRAGMA page_size=1024; PRAGMA journal_mode=WAL;"
             "PRAGMA synchronous=%s; PRAGMA foreign_keys=OFF;",
             durability == ENG_DURABILITY_NORMAL ? "NORMAL" : "FULL");
    char *msg = NULL;
    rc = sqlite3_exec(c->db, prag, NULL, NULL, &msg);
    /* The checkpoint threshold is in pages: keep the WAL near SQLite's
     * usual 4 MB whatever the page size (a checkpoint costs two fsyncs). */
    sqlite3_stmt *ps = NULL;
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(c->db, "PRAGMA page_size", -1, &ps, NULL);
    if (rc == SQLITE_OK) {
        int page = sqlite3_step(ps) == SQLITE_ROW ? sqlite3_column_int(ps, 0) : 0;
        rc = sqlite3_finalize(ps);
        if (rc == SQLITE_OK && page > 0)
            rc = sqlite3_wal_autocheckpoint(c->db, (4 << 20) / page);
    }
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "cannot set up %s: %s", path,
                 msg ? msg : sqlite3_errstr(rc));
        sqlite3_free(msg);
        conn_close(c);
        return rc_errno(rc) ? rc_errno(rc) : -EIO;
    }
    *out = c;
    return 0;
}

static int migrate(eng__conn *c, char *err, size_t errlen)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(c->db, "PRAGMA user_version", -1, &st, NULL);
    if (rc != SQLITE_OK)
        goto bad;
    int version = 0;
    if (sqlite3_step(st) == SQLITE_ROW)
        version = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    if (version > NMIGRATIONS) {
        snprintf(err, errlen,
                 "database schema version %d is newer than this actorfs (%d)",
                 version, NMIGRATIONS);
        return -EPROTO;
    }
    for (int v = version; v < NMIGRATIONS; v++) {
        char buf[64];
        char *msg = NULL;
        snprintf(buf, sizeof buf, "PRAGMA user_version=%d;", v + 1);
        rc = sqlite3_exec(c->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
        if (rc == SQLITE_OK)
            rc = sqlite3_exec(c->db, migrations[v], NULL, NULL, &msg);
        if (rc == SQLITE_OK)
            rc = sqlite3_exec(c->db, buf, NULL, NULL, &msg);
        if (rc == SQLITE_OK)
            rc = sqlite3_exec(c->db, "COMMIT", NULL, NULL, &msg);
        if (rc != SQLITE_OK) {
            snprintf(err, errlen, "schema migration to version %d: %s", v + 1,
                     msg ? msg : sqlite3_errmsg(c->db));
            sqlite3_free(msg);
            sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
            return -EIO;
        }
    }
    return 0;
bad:
    snprintf(err, errlen, "reading schema version: %s", sqlite3_errmsg(c->db));
    return -EIO;
}

static int s_open(const char *dir, int durability, eng__store **out, char *err,
                  size_t errlen)
{
    eng__store *s = calloc(1, sizeof *s);
    if (!s)
        return -ENOMEM;
    if (asprintf(&s->path, "%s/actorfs.db", dir) < 0) {
        free(s);
        return -ENOMEM;
    }
    pthread_mutex_init(&s->mu, NULL);
    int rc = conn_open(s->path, durability, &s->w, err, errlen);
    if (rc == 0)
        rc = migrate(s->w, err, errlen);
    if (rc < 0) {
        conn_close(s->w);
        pthread_mutex_destroy(&s->mu);
        free(s->path);
        free(s);
        return rc;
    }
    *out = s;
    return 0;
}

static void s_close(eng__store *s)
{
    if (!s)
        return;
    while (s->idle) {
        eng__conn *c = s->idle;
        s->idle = c->next;
        conn_close(c);
    }
    conn_close(s->w);
    pthread_mutex_destroy(&s->mu);
    free(s->path);
    free(s);
}

/* Runs a statement that returns no rows; resets it. */
static int run(eng__conn *c, sqlite3_stmt *st, const char *what)
{
    if (!st)
        return -EIO;
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        return fail(c, rc, what);
    return 0;
}

static int simple(eng__store *s, int i)
{
    return run(s->w, stmt(s->w, i), sql[i]);
}

static int s_begin(eng__store *s) { return simple(s, S_BEGIN); }
static int s_commit(eng__store *s) { return simple(s, S_COMMIT); }
static int s_savepoint(eng__store *s) { return simple(s, S_SAVE); }
static int s_release(eng__store *s) { return simple(s, S_RELEASE); }

static void s_rollback(eng__store *s)
{
    s->ev_actor = 0;
    if (!sqlite3_get_autocommit(s->w->db))
        simple(s, S_ROLLBACK);
}

static void s_rollback_to(eng__store *s)
{
    s->ev_actor = 0;
    simple(s, S_ROLLTO);
    simple(s, S_RELEASE);
}

static void bind_text(sqlite3_stmt *st, int i, const char *v)
{
    if (v)
        sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

static void bind_opt64(sqlite3_stmt *st, int i, int64_t v)
{
    if (v < 0)
        sqlite3_bind_null(st, i);
    else
        sqlite3_bind_int64(st, i, v);
}

static int s_actor_insert(eng__store *s, const char *type, const char *key,
                          const char *state, int64_t now, int64_t *id,
                          int *created)
{
    eng__conn *c = s->w;
    sqlite3_stmt *st = stmt(c, S_ACTOR_INS);
    if (!st)
        return -EIO;
    bind_text(st, 1, type);
    bind_text(st, 2, key);
    sqlite3_bind_int64(st, 3, now);
    int rc = run(c, st, "insert actor");
    if (rc < 0)
        return rc;
    *created = sqlite3_changes(c->db) > 0;
    st = stmt(c, S_ACTOR_ID);
    if (!st)
        return -EIO;
    bind_text(st, 1, type);
    bind_text(st, 2, key);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *id = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc != SQLITE_ROW)
        return fail(c, rc, "actor id");
    if (!*created)
        return 0;
    st = stmt(c, S_STATE_INS);
    if (!st)
        return -EIO;
    sqlite3_bind_int64(st, 1, *id);
    bind_text(st, 2, state);
    return run(c, st, "insert state");
}

static int s_actor_delete(eng__store *s, int64_t id)
{
    s->ev_actor = 0;
    static const int dels[] = {S_DEL_ACTOR, S_DEL_STATE, S_DEL_JOURNAL,
                               S_MSG_HWM, S_DEL_MSGS, S_DEL_TIMERS,
                               S_DEL_EVENTS};
    for (size_t i = 0; i < sizeof dels / sizeof dels[0]; i++) {
        sqlite3_stmt *st = stmt(s->w, dels[i]);
        if (!st)
            return -EIO;
        if (dels[i] != S_MSG_HWM)
            sqlite3_bind_int64(st, 1, id);
        int rc = run(s->w, st, "delete actor");
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int s_status_put(eng__store *s, int64_t id, const eng__status *v)
{
    sqlite3_stmt *st = stmt(s->w, S_STATUS_PUT);
    if (!st)
        return -EIO;
    sqlite3_bind_int(st, 1, v->run);
    sqlite3_bind_int(st, 2, v->status);
    sqlite3_bind_int(st, 3, v->attempt);
    bind_text(st, 4, v->waiting_on);
    bind_text(st, 5, v->step);
    bind_text(st, 6, v->error);
    sqlite3_bind_int64(st, 7, id);
    return run(s->w, st, "put status");
}

static int s_state_put(eng__store *s, int64_t id, const char *json)
{
    sqlite3_stmt *st = stmt(s->w, S_STATE_PUT);
    if (!st)
        return -EIO;
    sqlite3_bind_int64(st, 1, id);
    bind_text(st, 2, json);
    return run(s->w, st, "put state");
}

static int s_entry_put(eng__store *s, int64_t id, int run_no,
                       const eng__entry *e)
{
    sqlite3_stmt *st = stmt(s->w, S_ENTRY_PUT);
    if (!st)
        return -EIO;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int(st, 2, run_no);
    bind_text(st, 3, e->path);
    bind_text(st, 4, e->parent);
    sqlite3_bind_int(st, 5, e->seq);
    bind_text(st, 6, e->name);
    sqlite3_bind_int(st, 7, e->kind);
    sqlite3_bind_int(st, 8, e->status);
    sqlite3_bind_int(st, 9, e->attempts);
    bind_text(st, 10, e->output);
    bind_text(st, 11, e->error);
    bind_opt64(st, 12, e->started_at);
    bind_opt64(st, 13, e->finished_at);
    bind_opt64(st, 14, e->deadline);
    sqlite3_bind_int64(st, 15, e->iter);
    return run(s->w, st, "put journal entry");
}

static int s_tree_delete(eng__store *s, int64_t id, int run_no,
                         const char *path)
{
    static const int dels[] = {S_TREE_DEL, S_TREE_DEL_T};
    for (size_t i = 0; i < 2; i++) {
        sqlite3_stmt *st = stmt(s->w, dels[i]);
        if (!st)
            return -EIO;
        sqlite3_bind_int64(st, 1, id);
        sqlite3_bind_int(st, 2, run_no);
        bind_text(st, 3, path);
        int rc = run(s->w, st, "delete journal tree");
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int s_timer_put(eng__store *s, int64_t id, int run_no, const char *path,
                       int64_t deadline)
{
    sqlite3_stmt *st = stmt(s->w, S_TIMER_PUT);
    if (!st)
        return -EIO;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int(st, 2, run_no);
    bind_text(st, 3, path);
    sqlite3_bind_int64(st, 4, deadline);
    return run(s->w, st, "put timer");
}

static int s_timer_delete(eng__store *s, int64_t id, int run_no,
                          const char *path)
{
    sqlite3_stmt *st = stmt(s->w, S_TIMER_DEL);
    if (!st)
        return -EIO;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int(st, 2, run_no);
    bind_text(st, 3, path);
    return run(s->w, st, "delete timer");
}

static int s_msg_insert(eng__store *s, int64_t id, const char *queue,
                        const char *body, const char *idem, int64_t now,
                        int64_t *msg_id)
{
    sqlite3_stmt *st = stmt(s->w, S_MSG_INS);
    if (!st)
        return -EIO;
    sqlite3_bind_int64(st, 1, id);
    bind_text(st, 2, queue);
    bind_text(st, 3, body);
    bind_text(st, 4, idem);
    sqlite3_bind_int64(st, 5, now);
    int rc = run(s->w, st, "insert message");
    if (rc == 0)
        *msg_id = sqlite3_last_insert_rowid(s->w->db);
    return rc;
}

/* Keeps the last 1,000 taken messages of a queue: their idempotency keys
 * still refuse duplicates.  Finding the 1,000th walks that many index
 * entries, so it is done only when a take includes an id that is a
 * multiple of PRUNE_EVERY: a few dozen more may linger in between. */
#define PRUNE_EVERY 32

static int prune_due(const int64_t *ids, const eng__msg *msgs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((ids ? ids[i] : msgs[i].id) % PRUNE_EVERY == 0)
            return 1;
    return 0;
}

static int msg_prune(eng__conn *c, int64_t id, const char *queue)
{
    sqlite3_stmt *st = stmt(c, S_MSG_PRUNE);
    if (!st)
        return -EIO;
    sqlite3_bind_int64(st, 1, id);
    bind_text(st, 2, queue);
    return run(c, st, "prune taken messages");
}

static int s_msg_take_ids(eng__store *s, int64_t id, const char *queue,
                          const int64_t *ids, size_t n, int64_t now)
{
    eng__conn *c = s->w;
    for (size_t i = 0; i < n; i++) {
        sqlite3_stmt *st = stmt(c, S_MSG_MARK_ID);
        if (!st)
            return -EIO;
        sqlite3_bind_int64(st, 1, now);
        sqlite3_bind_int64(st, 2, ids[i]);
        sqlite3_bind_int64(st, 3, id);
        bind_text(st, 4, queue);
        int rc = run(c, st, "take message");
        if (rc < 0)
            return rc;
        if (sqlite3_changes(c->db) != 1) {
            eng_log("store: message %lld is no longer pending on queue %s",
                    (long long)ids[i], queue);
            return -ESTALE;
        }
    }
    return prune_due(ids, NULL, n) ? msg_prune(c, id, queue) : 0;
}

static void msgs_free(eng__msg *v, size_t k)
{
    for (size_t i = 0; i < k; i++)
        free(v[i].body);
    free(v);
}

/* Up to max (id, body) rows of a bound statement, which is then reset. */
static int msgs_read(eng__conn *c, sqlite3_stmt *st, int max, const char *what,
                     eng__msg **out, size_t *n)
{
    size_t k = 0;
    int rc = SQLITE_DONE, err = 0;
    eng__msg *v = calloc((size_t)max, sizeof *v);
    if (!v)
        err = -ENOMEM;
    while (!err && k < (size_t)max && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        v[k].id = sqlite3_column_int64(st, 0);
        const char *b = (const char *)sqlite3_column_text(st, 1);
        if (!(v[k].body = strdup(b ? b : "null")))
            err = -ENOMEM;
        else
            k++;
    }
    if (!err && k < (size_t)max && rc != SQLITE_DONE)
        err = fail(c, rc, what);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (err) {
        if (v)
            msgs_free(v, k);
        return err;
    }
    *out = v;
    *n = k;
    return 0;
}

static int s_msg_take(eng__store *s, int64_t id, const char *queue, int max,
                      int64_t now, eng__msg **out, size_t *n)
{
    eng__conn *c = s->w;
    sqlite3_stmt *st = stmt(c, S_MSG_PICK);
    *out = NULL;
    *n = 0;
    if (!st)
        return -EIO;
    sqlite3_bind_int64(st, 1, id);
    bind_text(st, 2, queue);
    sqlite3_bind_int(st, 3, max);
    eng__msg *v;
    size_t k;
    int err = msgs_read(c, st, max, "pick message", &v, &k);
    if (err)
        return err;
    for (size_t i = 0; i < k && !err; i++) {
        st = stmt(c, S_MSG_MARK);
        if (!st) {
            err = -EIO;
            break;
        }
        sqlite3_bind_int64(st, 1, now);
        sqlite3_bind_int64(st, 2, v[i].id);
        err = run(c, st, "take message");
    }
    if (!err && prune_due(NULL, v, k))
        err = msg_prune(c, id, queue);
    if (err) {
        msgs_free(v, k);
        return err;
    }
    *out = v;
    *n = k;
    return 0;
}

static int msg_get(eng__conn *c, int64_t id, const char *queue, int64_t msg_id,
                   char **body)
{
    sqlite3_stmt *st = stmt(c, S_MSG_GET);
    if (!st)
        return -EIO;
    sqlite3_bind_int64(st, 1, msg_id);
    sqlite3_bind_int64(st, 2, id);
    bind_text(st, 3, queue);
    int rc = sqlite3_step(st), ret;
    if (rc == SQLITE_ROW) {
        ret = sqlite3_column_int(st, 0) ? -EBUSY : 0;
        if (ret == 0 && body) {
            const char *b = (const char *)sqlite3_column_text(st, 1);
            *body = strdup(b ? b : "null");
            if (!*body)
                ret = -ENOMEM;
        }
    } else if (rc == SQLITE_DONE)
        ret = -ENOENT;
    else
        ret = fail(c, rc, "read message");
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return ret;
}

static int s_msg_cancel(eng__store *s, int64_t id, const char *queue,
                        int64_t msg_id)
{
    int rc = msg_get(s->w, id, queue, msg_id, NULL);
    if (rc == 0)
        rc = simple(s, S_MSG_HWM);
    if (rc < 0)
        return rc;
    sqlite3_stmt *st = stmt(s->w, S_MSG_DEL);
    if (!st)
        return -EIO;
    sqlite3_bind_int64(st, 1, msg_id);
    return run(s->w, st, "cancel message");
}

static int events_end(eng__conn *c, int64_t id, uint64_t *end)
{
    sqlite3_stmt *st = stmt(c, S_EV_END);
    if (!st)
        return -EIO;
    sqlite3_bind_int64(st, 1, id);
    int rc = sqlite3_step(st), ret = 0;
    *end = 0;
    if (rc == SQLITE_ROW)
        *end = (uint64_t)sqlite3_column_int64(st, 0);
    else if (rc != SQLITE_DONE)
        ret = fail(c, rc, "events size");
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return ret;
}

static int s_event_append(eng__store *s, int64_t id, const char *line)
{
    uint64_t end = s->ev_end;
    int rc = 0;
    if (s->ev_actor != id)
        rc = events_end(s->w, id, &end);
    s->ev_actor = 0;
    if (rc < 0)
        return rc;
    sqlite3_stmt *st = stmt(s->w, S_EV_INS);
    if (!st)
        return -EIO;
    size_t len = strlen(line);
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, (int64_t)end);
    sqlite3_bind_text(st, 3, line, (int)len, SQLITE_STATIC);
    rc = run(s->w, st, "append event");
    if (rc == 0) {
        s->ev_actor = id;
        s->ev_end = end + len;
    }
    return rc;
}

/* ---- read side ---- */

static int s_rget(eng__store *s, eng__conn **out)
{
    pthread_mutex_lock(&s->mu);
    eng__conn *c = s->idle;
    if (c) {
        s->idle = c->next;
        s->nidle--;
    }
    pthread_mutex_unlock(&s->mu);
    if (!c) {
        char err[256];
        int rc = conn_open(s->path, ENG_DURABILITY_FULL, &c, err, sizeof err);
        if (rc < 0) {
            eng_log("store: reader: %s", err);
            return rc;
        }
    }
    int rc = run(c, stmt(c, S_BEGIN), "begin read");
    if (rc < 0) {
        conn_close(c);
        return rc;
    }
    *out = c;
    return 0;
}

static void s_rput(eng__store *s, eng__conn *c)
{
    if (run(c, stmt(c, S_COMMIT), "end read") < 0) {
        conn_close(c);
        return;
    }
    pthread_mutex_lock(&s->mu);
    if (s->nidle < READER_POOL) {
        c->next = s->idle;
        s->idle = c;
        s->nidle++;
        c = NULL;
    }
    pthread_mutex_unlock(&s->mu);
    conn_close(c);
}

static char *col_dup(sqlite3_stmt *st, int i)
{
    const char *t = (const char *)sqlite3_column_text(st, i);
    return t ? strdup(t) : NULL;
}

static int64_t col_opt64(sqlite3_stmt *st, int i)
{
    return sqlite3_column_type(st, i) == SQLITE_NULL
               ? -1
               : sqlite3_column_int64(st, i);
}

static int r_actor_id(eng__conn *c, const char *type, const char *key,
                      int64_t *id)
{
    sqlite3_stmt *st = stmt(c, S_ACTOR_ID);
    if (!st)
        return -EIO;
    bind_text(st, 1, type);
    bind_text(st, 2, key);
    int rc = sqlite3_step(st), ret = 0;
    if (rc == SQLITE_ROW)
        *id = sqlite3_column_int64(st, 0);
    else
        ret = rc == SQLITE_DONE ? -ENOENT : fail(c, rc, "actor id");
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return ret;
}

static int status_row(sqlite3_stmt *st, int i, eng__status *v)
{
    v->run = sqlite3_column_int(st, i);
    v->status = sqlite3_column_int(st, i + 1);
    v->attempt = sqlite3_column_int(st, i + 2);
    v->waiting_on = col_dup(st, i + 3);
    v->step = col_dup(st, i + 4);
    v->error = col_dup(st, i + 5);
    return 0;
}

static int r_actors(eng__conn *c, eng__actor_row **rows, size_t *n)
{
    sqlite3_stmt *st = stmt(c, S_R_ACTORS);
    if (!st)
        return -EIO;
    size_t cap = 0, k = 0;
    eng__actor_row *v = NULL;
    int rc, err = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (k == cap) {
            cap = cap ? cap * 2 : 16;
            eng__actor_row *nv = realloc(v, cap * sizeof *v);
            if (!nv) {
                err = -ENOMEM;
                break;
            }
            v = nv;
        }
        eng__actor_row *r = &v[k++];
        memset(r, 0, sizeof *r);
        r->id = sqlite3_column_int64(st, 0);
        r->type = col_dup(st, 1);
        r->key = col_dup(st, 2);
        status_row(st, 3, &r->st);
    }
    if (!err && rc != SQLITE_DONE)
        err = fail(c, rc, "list actors");
    sqlite3_reset(st);
    if (err) {
        for (size_t i = 0; i < k; i++) {
            free(v[i].type);
            free(v[i].key);
            eng__status_clear(&v[i].st);
        }
        free(v);
        return err;
    }
    *rows = v;
    *n = k;
    return 0;
}

static int r_status(eng__conn *c, int64_t id, eng__status *v)
{
    sqlite3_stmt *st = stmt(c, S_R_STATUS);
    if (!st)
        return -EIO;
    sqlite3_bind_int64(st, 1, id);
    int rc = sqlite3_step(st), ret = 0;
    if (rc == SQLITE_ROW)
        status_row(st, 0, v);
    else
        ret = rc == SQLITE_DONE ? -ENOENT : fail(c, rc, "read status");
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return ret;
}

static int r_state(eng__conn *c, int64_t id, char **json)
{
    sqlite3_stmt *st = stmt(c, S_R_STATE);
    if (!st)
        return -EIO;
    sqlite3_bind_int64(st, 1, id);
    int rc = sqlite3_step(st), ret = 0;
    if (rc == SQLITE_ROW) {
        *json = col_dup(st, 0);
        if (!*json)
            ret = -ENOMEM;
    } else
        ret = rc == SQLITE_DONE ? -ENOENT : fail(c, rc, "read state");
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return ret;
}

static void entry_row(sqlite3_stmt *st, eng__entry *e)
{
    e->path = col_dup(st, 0);
    e->parent = col_dup(st, 1);
    e->name = col_dup(st, 2);
    e->seq = sqlite3_column_int(st, 3);
    e->kind = sqlite3_column_int(st, 4);
    e->status = sqlite3_column_int(st, 5);
    e->attempts = sqlite3_column_int(st, 6);
    e->output = col_dup(st, 7);
    e->error = col_dup(st, 8);
    e->started_at = col_opt64(st, 9);
    e->finished_at = col_opt64(st, 10);
    e->deadline = col_opt64(st, 11);
    e->iter = sqlite3_column_int64(st, 12);
}

static int entries_collect(eng__conn *c, sqlite3_stmt *st, eng__entry **ents,
                           size_t *n)
{
    size_t cap = 0, k = 0;
    eng__entry *v = NULL;
    int rc, err = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (k == cap) {
            cap = cap ? cap * 2 : 16;
            eng__entry *nv = realloc(v, cap * sizeof *v);
            if (!nv) {
                err = -ENOMEM;
                break;
            }
            v = nv;
        }
        memset(&v[k], 0, sizeof v[k]);
        entry_row(st, &v[k++]);
    }
    if (!err && rc != SQLITE_DONE)
        err = fail(c, rc, "read journal");
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (err) {
        eng__entries_free(v, k);
        return err;
    }
    *ents = v;
    *n = k;
    return 0;
}

static int r_entries(eng__conn *c, int64_t id, int run_no, eng__entry **ents,
                     size_t *n)
{
    sqlite3_stmt *st = stmt(c, S_R_ENTRIES);
    if (!st)
        return -EIO;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int(st, 2, run_no);
    return entries_collect(c, st, ents, n);
}

static int r_entry(eng__conn *c, int64_t id, int run_no, const char *path,
                   eng__entry *e)
{
    sqlite3_stmt *st = stmt(c, S_R_ENTRY);
    if (!st)
        return -EIO;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int(st, 2, run_no);
    bind_text(st, 3, path);
    int rc = sqlite3_step(st), ret = 0;
    if (rc == SQLITE_ROW)
        entry_row(st, e);
    else
        ret = rc == SQLITE_DONE ? -ENOENT : fail(c, rc, "read entry");
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return ret;
}

static int r_children(eng__conn *c, int64_t id, int run_no, const char *parent,
                      eng__entry **ents, size_t *n)
{
    sqlite3_stmt *st = stmt(c, S_R_CHILDREN);
    if (!st)
        return -EIO;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int(st, 2, run_no);
    bind_text(st, 3, parent);
    return entries_collect(c, st, ents, n);
}

static int r_events_size(eng__conn *c, int64_t id, uint64_t *size)
{
    return events_end(c, id, size);
}

static int r_events_read(eng__conn *c, int64_t id, uint64_t off, size_t max,
                         char **buf, size_t *len)
{
    sqlite3_stmt *st = stmt(c, S_R_EV_FIRST);
    if (!st)
        return -EIO;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, (int64_t)off);
    int rc = sqlite3_step(st);
    int64_t first = 0;
    if (rc == SQLITE_ROW)
        first = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return fail(c, rc, "read events");
    char *out = malloc(max ? max : 1);
    if (!out)
        return -ENOMEM;
    size_t k = 0;
    st = stmt(c, S_R_EV_FROM);
    if (!st) {
        free(out);
        return -EIO;
    }
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, first);
    while (k < max && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        uint64_t loff = (uint64_t)sqlite3_column_int64(st, 0);
        const char *line = (const char *)sqlite3_column_text(st, 1);
        size_t ll = (size_t)sqlite3_column_bytes(st, 1);
        if (loff + ll <= off)
            continue;
        size_t skip = off > loff ? (size_t)(off - loff) : 0;
        size_t take = ll - skip;
        if (take > max - k)
            take = max - k;
        memcpy(out + k, line + skip, take);
        k += take;
    }
    if (k < max && rc != SQLITE_DONE && rc != SQLITE_ROW) {
        sqlite3_reset(st);
        free(out);
        return fail(c, rc, "read events");
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    *buf = out;
    *len = k;
    return 0;
}

static int r_msgs_pending(eng__conn *c, int64_t id, const char *queue,
                          int64_t **ids, size_t *n)
{
    sqlite3_stmt *st = stmt(c, S_R_PENDING);
    if (!st)
        return -EIO;
    sqlite3_bind_int64(st, 1, id);
    bind_text(st, 2, queue);
    size_t cap = 0, k = 0;
    int64_t *v = NULL;
    int rc, err = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (k == cap) {
            cap = cap ? cap * 2 : 16;
            int64_t *nv = realloc(v, cap * sizeof *v);
            if (!nv) {
                err = -ENOMEM;
                break;
            }
            v = nv;
        }
        v[k++] = sqlite3_column_int64(st, 0);
    }
    if (!err && rc != SQLITE_DONE)
        err = fail(c, rc, "list messages");
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (err) {
        free(v);
        return err;
    }
    *ids = v;
    *n = k;
    return 0;
}

static int r_msgs_next(eng__conn *c, int64_t id, const char *queue,
                       int64_t after, int max, eng__msg **out, size_t *n)
{
    sqlite3_stmt *st = stmt(c, S_R_NEXT);
    *out = NULL;
    *n = 0;
    if (!st)
        return -EIO;
    sqlite3_bind_int64(st, 1, id);
    bind_text(st, 2, queue);
    sqlite3_bind_int64(st, 3, after);
    sqlite3_bind_int(st, 4, max);
    return msgs_read(c, st, max, "next messages", out, n);
}

static int r_msg(eng__conn *c, int64_t id, const char *queue, int64_t msg_id,
                 char **body)
{
    return msg_get(c, id, queue, msg_id, body);
}

static int r_idem_exists(eng__conn *c, int64_t id, const char *queue,
                         const char *idem)
{
    sqlite3_stmt *st = stmt(c, S_R_IDEM);
    if (!st)
        return -EIO;
    sqlite3_bind_int64(st, 1, id);
    bind_text(st, 2, queue);
    bind_text(st, 3, idem);
    int rc = sqlite3_step(st), ret;
    if (rc == SQLITE_ROW)
        ret = 1;
    else
        ret = rc == SQLITE_DONE ? 0 : fail(c, rc, "idempotency key");
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return ret;
}

static int count_query(eng__conn *c, sqlite3_stmt *st, int64_t *n)
{
    int rc = sqlite3_step(st), ret = 0;
    if (rc == SQLITE_ROW)
        *n = sqlite3_column_int64(st, 0);
    else
        ret = fail(c, rc, "count");
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return ret;
}

static int r_pending_count(eng__conn *c, int64_t id, int64_t *n)
{
    sqlite3_stmt *st = stmt(c, S_R_PCOUNT);
    if (!st)
        return -EIO;
    sqlite3_bind_int64(st, 1, id);
    return count_query(c, st, n);
}

static int r_active(eng__conn *c, int64_t id, int run_no, int64_t *n)
{
    sqlite3_stmt *st = stmt(c, S_R_ACTIVE);
    if (!st)
        return -EIO;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int(st, 2, run_no);
    return count_query(c, st, n);
}

/* Row counts for tests and the bench; table is one of ours, id < 0: all. */
static int r_count(eng__conn *c, const char *table, int64_t id, int64_t *n)
{
    static const char *const ok[] = {"actors", "state", "messages", "journal",
                                     "timers", "events"};
    int known = 0;
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        known |= strcmp(table, ok[i]) == 0;
    if (!known)
        return -EINVAL;
    char q[128];
    const char *col = strcmp(table, "actors") == 0 ? "id" : "actor";
    if (id < 0)
        snprintf(q, sizeof q, "SELECT count(*) FROM %s", table);
    else
        snprintf(q, sizeof q, "SELECT count(*) FROM %s WHERE %s=%lld", table,
                 col, (long long)id);
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(c->db, q, -1, &st, NULL);
    if (rc != SQLITE_OK)
        return fail(c, rc, "count");
    rc = count_query(c, st, n);
    sqlite3_finalize(st);
    return rc;
}

const eng__store_ops eng__sqlite_ops = {
    .open = s_open,
    .close = s_close,
    .begin = s_begin,
    .commit = s_commit,
    .rollback = s_rollback,
    .savepoint = s_savepoint,
    .release = s_release,
    .rollback_to = s_rollback_to,
    .actor_insert = s_actor_insert,
    .actor_delete = s_actor_delete,
    .status_put = s_status_put,
    .state_put = s_state_put,
    .entry_put = s_entry_put,
    .tree_delete = s_tree_delete,
    .timer_put = s_timer_put,
    .timer_delete = s_timer_delete,
    .msg_insert = s_msg_insert,
    .msg_take = s_msg_take,
    .msg_take_ids = s_msg_take_ids,
    .msg_cancel = s_msg_cancel,
    .event_append = s_event_append,
    .rget = s_rget,
    .rput = s_rput,
    .r_actor_id = r_actor_id,
    .r_actors = r_actors,
    .r_status = r_status,
    .r_state = r_state,
    .r_entries = r_entries,
    .r_entry = r_entry,
    .r_children = r_children,
    .r_events_size = r_events_size,
    .r_events_read = r_events_read,
    .r_msgs_pending = r_msgs_pending,
    .r_msgs_next = r_msgs_next,
    .r_msg = r_msg,
    .r_idem_exists = r_idem_exists,
    .r_pending_count = r_pending_count,
    .r_active = r_active,
    .r_count = r_count,
};
