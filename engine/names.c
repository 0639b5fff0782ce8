/*
 * names.c - names and small shared values: actor directory names
 * (TYPE or TYPE@KEY), the name rules for keys, queues and step names, the
 * stored enum spellings, the caller-thread sync object and string vectors.
 */
#include "eng_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int eng_name_ok(const char *name)
{
    if (!name)
        return 0;
    size_t n = strlen(name);
    if (n == 0 || n > 200 || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)name[i];
        if (ch == '/' || ch < 0x20 || ch == 0x7f)
            return 0;
    }
    return 1;
}

/* Step names also become path components of steps/. */
int eng__step_name_ok(const char *name)
{
    return eng_name_ok(name);
}

static int type_name_ok(const char *s, size_t n)
{
    if (n == 0 || n > 200)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
              (ch >= '0' && ch <= '9') || ch == '_' || ch == '-'))
            return 0;
    }
    return 1;
}

int eng_actor_parse(const char *dirname, char *type, size_t tlen, char *key,
                    size_t klen)
{
    if (!dirname)
        return -EINVAL;
    const char *at = strchr(dirname, '@');
    size_t tl = at ? (size_t)(at - dirname) : strlen(dirname);
    const char *k = at ? at + 1 : "";
    if (tl > 200 || strlen(k) > 200)
        return -ENAMETOOLONG;
    if (!type_name_ok(dirname, tl))
        return -EINVAL;
    if (at && !eng_name_ok(k))
        return -EINVAL;
    if (tl + 1 > tlen || strlen(k) + 1 > klen)
        return -ENAMETOOLONG;
    memcpy(type, dirname, tl);
    type[tl] = 0;
    strcpy(key, k);
    return 0;
}

char *eng__actor_name(const char *type, const char *key)
{
    char *s;
    if (asprintf(&s, "%s\x1f%s", type, key ? key : "") < 0)
        abort();
    return s;
}

const eng_queue_def *eng__queue_find(const eng_type *t, const char *queue)
{
    for (size_t i = 0; t && queue && i < t->nqueues; i++)
        if (strcmp(t->queues[i].name, queue) == 0)
            return &t->queues[i];
    return NULL;
}

const char *eng__kind_name(int kind)
{
    static const char *const n[] = {"step", "queue", "sleep", "loop",
                                    "iteration", "join", "race", "branch"};
    return kind >= 0 && kind < 8 ? n[kind] : "unknown";
}

int eng__kind_is_dir(int kind)
{
    return kind == ENG__K_LOOP || kind == ENG__K_ITER || kind == ENG__K_JOIN ||
           kind == ENG__K_RACE || kind == ENG__K_BRANCH;
}

const char *eng__estatus_name(int st)
{
    static const char *const n[] = {"running", "completed", "failed",
                                    "retrying"};
    return st >= 0 && st < 4 ? n[st] : "unknown";
}

const char *eng__wstatus_name(int st)
{
    static const char *const n[] = {"running",   "waiting",   "sleeping",
                                    "failed",    "completed", "cancelled"};
    return st >= 0 && st < 6 ? n[st] : "unknown";
}

void eng__sync_init(eng__sync *s)
{
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    s->done = 0;
    s->rc = 0;
}

void eng__sync_destroy(eng__sync *s)
{
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
}

void eng__sync_wait(eng__sync *s)
{
    pthread_mutex_lock(&s->mu);
    while (!s->done)
        pthread_cond_wait(&s->cv, &s->mu);
    pthread_mutex_unlock(&s->mu);
}

void eng__sync_done(eng__sync *s, int rc)
{
    pthread_mutex_lock(&s->mu);
    s->rc = rc;
    s->done = 1;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

void eng_strv_free(eng_strv *sv)
{
    if (!sv)
        return;
    for (size_t i = 0; i < sv->n; i++)
        free(sv->v[i]);
    free(sv->v);
    sv->v = NULL;
    sv->n = 0;
}

void eng_dirents_free(eng_dirent *ents, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(ents[i].name);
    free(ents);
}

void eng__entry_clear(eng__entry *e)
{
    free(e->path);
    free(e->parent);
    free(e->name);
    free(e->output);
    free(e->error);
    memset(e, 0, sizeof *e);
}

void eng__status_clear(eng__status *st)
{
    free(st->waiting_on);
    free(st->step);
    free(st->error);
    memset(st, 0, sizeof *st);
}

void eng__entries_free(eng__entry *ents, size_t n)
{
    for (size_t i = 0; i < n; i++)
        eng__entry_clear(&ents[i]);
    free(ents);
}
