/*
 * read.c - what the filesystem reads: state.json, status, the steps/ tree,
 * the events file.  Every call borrows a read connection and answers from
 * one read transaction, so each result is one consistent snapshot, and
 * never waits behind the committer's fsync.
 */
#include "eng_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

cJSON *eng__parse_or_null(const char *text)
{
    cJSON *j = text ? cJSON_Parse(text) : NULL;
    return j ? j : cJSON_CreateNull();
}

static int finish(cJSON *j, char **json, size_t *len)
{
    char *t = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    if (!t)
        return -ENOMEM;
    size_t n = strlen(t);
    char *out = realloc(t, n + 2);
    if (!out) {
        free(t);
        return -ENOMEM;
    }
    out[n] = '\n';
    out[n + 1] = 0;
    *json = out;
    *len = n + 1;
    return 0;
}

static int open_actor(eng *e, const char *type, const char *key, int64_t *id,
                      eng__conn **c)
{
    int rc = eng__actor_id(e, type, key, id);
    if (rc < 0)
        return rc;
    return e->so->rget(e->st, c);
}

int eng_state_json(eng *e, const char *type, const char *key, char **json,
                   size_t *len)
{
    int64_t id;
    eng__conn *c;
    int rc = open_actor(e, type, key, &id, &c);
    if (rc < 0)
        return rc;
    char *txt = NULL;
    rc = e->so->r_state(c, id, &txt);
    e->so->rput(e->st, c);
    if (rc < 0)
        return rc;
    cJSON *j = eng__parse_or_null(txt);
    free(txt);
    return finish(j, json, len);
}

int eng_status_json(eng *e, const char *type, const char *key, char **json,
                    size_t *len)
{
    int64_t id;
    eng__conn *c;
    int rc = open_actor(e, type, key, &id, &c);
    if (rc < 0)
        return rc;
    eng__status st = {0};
    rc = e->so->r_status(c, id, &st);
    e->so->rput(e->st, c);
    if (rc < 0)
        return rc;
    cJSON *j = cJSON_CreateObject();
    const eng_type *t = eng_type_find(e, type);
    cJSON_AddStringToObject(j, "status",
                            t && !t->run ? "idle" : eng__wstatus_name(st.status));
    if (st.waiting_on)
        cJSON_AddStringToObject(j, "waitingOn", st.waiting_on);
    else
        cJSON_AddNullToObject(j, "waitingOn");
    if (st.step)
        cJSON_AddStringToObject(j, "step", st.step);
    else
        cJSON_AddNullToObject(j, "step");
    cJSON_AddItemToObject(j, "error", eng__parse_or_null(st.error));
    cJSON_AddNumberToObject(j, "attempt", st.attempt);
    cJSON_AddNumberToObject(j, "run", st.run);
    eng__status_clear(&st);
    return finish(j, json, len);
}

static int run_of(eng *e, eng__conn *c, int64_t id, int *run)
{
    eng__status st = {0};
    int rc = e->so->r_status(c, id, &st);
    *run = st.run;
    eng__status_clear(&st);
    return rc;
}

/* "a/b/" -> "a/b"; the steps/ root is "". */
static char *norm(const char *path)
{
    char *p = strdup(path ? path : "");
    if (!p)
        abort();
    size_t n = strlen(p);
    while (n > 0 && p[n - 1] == '/')
        p[--n] = 0;
    return p;
}

int eng_steps_list(eng *e, const char *type, const char *key, const char *path,
                   eng_dirent **ents, size_t *n)
{
    *ents = NULL;
    *n = 0;
    int64_t id;
    eng__conn *c;
    int rc = open_actor(e, type, key, &id, &c);
    if (rc < 0)
        return rc;
    char *p = norm(path);
    int run;
    eng__entry *v = NULL;
    size_t k = 0;
    rc = run_of(e, c, id, &run);
    if (rc == 0 && *p) {
        eng__entry self = {0};
        rc = e->so->r_entry(c, id, run, p, &self);
        if (rc == 0 && !eng__kind_is_dir(self.kind))
            rc = -ENOTDIR;
        eng__entry_clear(&self);
    }
    if (rc == 0)
        rc = e->so->r_children(c, id, run, p, &v, &k);
    e->so->rput(e->st, c);
    free(p);
    if (rc < 0)
        return rc;
    eng_dirent *out = calloc(k ? k : 1, sizeof *out);
    if (!out) {
        eng__entries_free(v, k);
        return -ENOMEM;
    }
    for (size_t i = 0; i < k; i++) {
        out[i].name = v[i].name;
        v[i].name = NULL;
        out[i].is_dir = eng__kind_is_dir(v[i].kind);
    }
    eng__entries_free(v, k);
    *ents = out;
    *n = k;
    return 0;
}

static int entry_at(eng *e, const char *type, const char *key, const char *path,
                    eng__entry *en)
{
    int64_t id;
    eng__conn *c;
    int rc = open_actor(e, type, key, &id, &c);
    if (rc < 0)
        return rc;
    char *p = norm(path);
    int run;
    rc = run_of(e, c, id, &run);
    if (rc == 0)
        rc = e->so->r_entry(c, id, run, p, en);
    e->so->rput(e->st, c);
    free(p);
    return rc;
}

int eng_steps_stat(eng *e, const char *type, const char *key, const char *path,
                   int *is_dir)
{
    if (!path || !*path) {
        int64_t id;
        int rc = eng__actor_id(e, type, key, &id);
        if (rc == 0)
            *is_dir = 1;
        return rc;
    }
    eng__entry en = {0};
    int rc = entry_at(e, type, key, path, &en);
    if (rc == 0)
        *is_dir = eng__kind_is_dir(en.kind);
    eng__entry_clear(&en);
    return rc;
}

static void add_time(cJSON *j, const char *name, int64_t ms)
{
    char iso[40];
    if (ms < 0)
        cJSON_AddNullToObject(j, name);
    else
        cJSON_AddStringToObject(j, name, eng__iso_time(ms, iso, sizeof iso));
}

int eng_steps_read(eng *e, const char *type, const char *key, const char *path,
                   char **json, size_t *len)
{
    if (!path || !*path)
        return -EISDIR;
    eng__entry en = {0};
    int rc = entry_at(e, type, key, path, &en);
    if (rc < 0)
        return rc;
    if (eng__kind_is_dir(en.kind)) {
        eng__entry_clear(&en);
        return -EISDIR;
    }
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "kind", eng__kind_name(en.kind));
    cJSON_AddStringToObject(j, "name", en.name ? en.name : "");
    cJSON_AddStringToObject(j, "status", eng__estatus_name(en.status));
    cJSON_AddNumberToObject(j, "attempts", en.attempts);
    cJSON_AddItemToObject(j, "output", eng__parse_or_null(en.output));
    cJSON_AddItemToObject(j, "error", eng__parse_or_null(en.error));
    add_time(j, "startedAt", en.started_at);
    add_time(j, "finishedAt", en.finished_at);
    if (en.kind != ENG__K_STEP && en.deadline >= 0 &&
        en.status != ENG__E_COMPLETED)
        add_time(j, "until", en.deadline);
    eng__entry_clear(&en);
    return finish(j, json, len);
}

int eng_events_size(eng *e, const char *type, const char *key, uint64_t *size)
{
    int64_t id;
    eng__conn *c;
    int rc = open_actor(e, type, key, &id, &c);
    if (rc < 0)
        return rc;
    rc = e->so->r_events_size(c, id, size);
    e->so->rput(e->st, c);
    return rc;
}

int eng_events_read(eng *e, const char *type, const char *key, uint64_t off,
                    size_t max, char **buf, size_t *len)
{
    int64_t id;
    eng__conn *c;
    int rc = open_actor(e, type, key, &id, &c);
    if (rc < 0)
        return rc;
    rc = e->so->r_events_read(c, id, off, max, buf, len);
    e->so->rput(e->st, c);
    return rc;
}
