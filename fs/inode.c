/*
 * inode.c - inode numbers as interned paths.
 *
 * Everything actorfs shows is named by a path that the engine or the VM
 * root resolves on each request, so an inode only has to remember its
 * path.  Numbers are never reused while the daemon runs (the kernel may
 * still hold an old one) and the table is freed whole at shutdown, which
 * is why FORGET has nothing to do.  Rename (VM files only) rewrites the
 * paths of the moved entry and everything below it.
 *
 * An inode also remembers whether a user stat'ed or listed it: inotify
 * watchers (inotifywait, tail -f, ls) do, while a process that only opens
 * a path (an enqueue) does not, so the notifier announces changes only
 * where someone may be looking.  The kernel cannot tell us which: the
 * GETATTR it sends to check a directory's permissions on the way to
 * queues/Q/new looks exactly like a watcher's stat.  So a lookup or stat
 * is first only a sighting by the calling thread; the thread's open of a
 * message or ctl file right after withdraws its sightings (it was walking
 * a path to write), and a sighting that stands for a second becomes a
 * mark.  Until then it counts as a mark already, so a watcher misses
 * nothing meanwhile.
 */
#include "fs.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FS__SIGHTINGS 128
#define FS__SIGHTING_MS 1000

typedef struct {
    char *path;
    uint64_t hash;
    fuse_ino_t next; /* chain in the bucket; 0 ends it */
    int watched;     /* someone stat'ed or listed it: it may be watched */
    int below;       /* an actor directory: it or something in it is
                      * marked */
} fs__inode;

typedef struct {
    fuse_ino_t ino;   /* 0: free */
    fuse_ino_t actor; /* the actor directory it is in, or 0 */
    pid_t tid;
    int64_t at;
} fs__sighting;

struct fs_inodes {
    pthread_mutex_t mu;
    fs__sighting seen[FS__SIGHTINGS];
    fs__inode *v; /* v[ino - 1] */
    size_t n;
    size_t cap;
    fuse_ino_t *buckets;
    size_t nbuckets; /* a power of two */
};

static uint64_t fs__hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

static void fs__link(fs_inodes *t, fuse_ino_t ino)
{
    size_t b = t->v[ino - 1].hash & (t->nbuckets - 1);
    t->v[ino - 1].next = t->buckets[b];
    t->buckets[b] = ino;
}

static void fs__unlink(fs_inodes *t, fuse_ino_t ino)
{
    size_t b = t->v[ino - 1].hash & (t->nbuckets - 1);
    fuse_ino_t *p = &t->buckets[b];
    while (*p && *p != ino)
        p = &t->v[*p - 1].next;
    if (*p)
        *p = t->v[ino - 1].next;
}

static int fs__grow_buckets(fs_inodes *t)
{
    size_t nb = t->nbuckets ? t->nbuckets * 2 : 1024;
    fuse_ino_t *b = calloc(nb, sizeof(*b));
    if (!b)
        return -ENOMEM;
    free(t->buckets);
    t->buckets = b;
    t->nbuckets = nb;
    for (size_t i = 0; i < t->n; i++)
        fs__link(t, (fuse_ino_t)i + 1);
    return 0;
}

static fuse_ino_t fs__find(fs_inodes *t, const char *path, uint64_t h)
{
    fuse_ino_t ino = t->buckets[h & (t->nbuckets - 1)];
    while (ino) {
        const fs__inode *in = &t->v[ino - 1];
        if (in->hash == h && strcmp(in->path, path) == 0)
            return ino;
        ino = in->next;
    }
    return 0;
}

static fuse_ino_t fs__add(fs_inodes *t, const char *path, uint64_t h)
{
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 1024;
        fs__inode *v = realloc(t->v, cap * sizeof(*v));
        if (!v)
            return 0;
        t->v = v;
        t->cap = cap;
    }
    char *copy = strdup(path);
    if (!copy)
        return 0;
    t->v[t->n] = (fs__inode){.path = copy, .hash = h};
    t->n++;
    fuse_ino_t ino = (fuse_ino_t)t->n;
    if (t->n > t->nbuckets * 2 && fs__grow_buckets(t) == 0)
        return ino; /* grow_buckets linked every inode, this one too */
    fs__link(t, ino);
    return ino;
}

int fs_inodes_new(fs_inodes **out)
{
    fs_inodes *t = calloc(1, sizeof(*t));
    if (!t)
        return -ENOMEM;
    pthread_mutex_init(&t->mu, NULL);
    if (fs__grow_buckets(t) < 0) {
        free(t);
        return -ENOMEM;
    }
    /* Inode 1 is the root, FUSE_ROOT_ID. */
    if (fs__add(t, "", fs__hash("")) != FUSE_ROOT_ID) {
        fs_inodes_free(t);
        return -ENOMEM;
    }
    *out = t;
    return 0;
}

void fs_inodes_free(fs_inodes *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->n; i++)
        free(t->v[i].path);
    free(t->v);
    free(t->buckets);
    pthread_mutex_destroy(&t->mu);
    free(t);
}

fuse_ino_t fs_ino_get(fs_inodes *t, const char *path)
{
    uint64_t h = fs__hash(path);
    pthread_mutex_lock(&t->mu);
    fuse_ino_t ino = fs__find(t, path, h);
    if (!ino)
        ino = fs__add(t, path, h);
    pthread_mutex_unlock(&t->mu);
    return ino;
}

fuse_ino_t fs_ino_find(fs_inodes *t, const char *path)
{
    uint64_t h = fs__hash(path);
    pthread_mutex_lock(&t->mu);
    fuse_ino_t ino = fs__find(t, path, h);
    pthread_mutex_unlock(&t->mu);
    return ino;
}

int fs_ino_path(fs_inodes *t, fuse_ino_t ino, char *buf, size_t len)
{
    int rc = 0;
    pthread_mutex_lock(&t->mu);
    if (ino == 0 || ino > t->n)
        rc = -ENOENT;
    else if (strlen(t->v[ino - 1].path) >= len)
        rc = -ENAMETOOLONG;
    else
        strcpy(buf, t->v[ino - 1].path);
    pthread_mutex_unlock(&t->mu);
    return rc;
}

/* The inode of the actor directory PATH is in (its first component), or
 * 0; with the lock held. */
static fuse_ino_t fs__actor_of(fs_inodes *t, const char *path)
{
    char actor[NAME_MAX + 1];
    size_t n = strcspn(path, "/");
    if (n == 0 || n > NAME_MAX)
        return 0;
    memcpy(actor, path, n);
    actor[n] = '\0';
    return fs__find(t, actor, fs__hash(actor));
}

/* With the lock held. */
static void fs__mark(fs_inodes *t, fuse_ino_t ino)
{
    t->v[ino - 1].watched = 1;
    fuse_ino_t actor = fs__actor_of(t, t->v[ino - 1].path);
    if (actor)
        t->v[actor - 1].below = 1;
}

void fs_ino_watched_set(fs_inodes *t, fuse_ino_t ino)
{
    pthread_mutex_lock(&t->mu);
    if (ino > 0 && ino <= t->n)
        fs__mark(t, ino);
    pthread_mutex_unlock(&t->mu);
}

/* Sightings that stood long enough become marks; with the lock held. */
static void fs__sightings_settle(fs_inodes *t, int64_t now)
{
    for (size_t i = 0; i < FS__SIGHTINGS; i++) {
        fs__sighting *s = &t->seen[i];
        if (s->ino && now - s->at >= FS__SIGHTING_MS) {
            fs__mark(t, s->ino);
            s->ino = 0;
        }
    }
}

void fs_ino_seen(fs_inodes *t, fuse_ino_t ino, pid_t tid)
{
    int64_t now = eng_now_ms();
    pthread_mutex_lock(&t->mu);
    if (ino > 0 && ino <= t->n && !t->v[ino - 1].watched) {
        fs__sightings_settle(t, now);
        fs__sighting *slot = NULL;
        for (size_t i = 0; i < FS__SIGHTINGS; i++) {
            fs__sighting *s = &t->seen[i];
            if (s->ino == ino && s->tid == tid) {
                slot = s;
                break;
            }
            if (!s->ino && !slot)
                slot = s;
        }
        if (slot)
            *slot = (fs__sighting){
                .ino = ino,
                .actor = fs__actor_of(t, t->v[ino - 1].path),
                .tid = tid,
                .at = now,
            };
        else
            fs__mark(t, ino); /* too many to follow: assume so */
    }
    pthread_mutex_unlock(&t->mu);
}

void fs_ino_seen_withdraw(fs_inodes *t, pid_t tid)
{
    int64_t now = eng_now_ms();
    pthread_mutex_lock(&t->mu);
    fs__sightings_settle(t, now);
    for (size_t i = 0; i < FS__SIGHTINGS; i++)
        if (t->seen[i].ino && t->seen[i].tid == tid)
            t->seen[i].ino = 0;
    pthread_mutex_unlock(&t->mu);
}

int fs_ino_watched(fs_inodes *t, const char *path)
{
    uint64_t h = fs__hash(path);
    int64_t now = eng_now_ms();
    pthread_mutex_lock(&t->mu);
    fs__sightings_settle(t, now);
    fuse_ino_t ino = fs__find(t, path, h);
    int w = ino ? t->v[ino - 1].watched : 0;
    for (size_t i = 0; ino && i < FS__SIGHTINGS && !w; i++)
        w = t->seen[i].ino == ino;
    pthread_mutex_unlock(&t->mu);
    return w;
}

int fs_ino_actor_watched(fs_inodes *t, const char *actor)
{
    uint64_t h = fs__hash(actor);
    int64_t now = eng_now_ms();
    pthread_mutex_lock(&t->mu);
    fs__sightings_settle(t, now);
    fuse_ino_t ino = fs__find(t, actor, h);
    int w = ino ? t->v[ino - 1].below : 0;
    for (size_t i = 0; ino && i < FS__SIGHTINGS && !w; i++)
        w = t->seen[i].ino && t->seen[i].actor == ino;
    pthread_mutex_unlock(&t->mu);
    return w;
}

int fs_path_join(const char *dir, const char *name, char *buf, size_t len)
{
    if (strlen(name) > NAME_MAX)
        return -ENAMETOOLONG;
    int n = dir[0] ? snprintf(buf, len, "%s/%s", dir, name)
                   : snprintf(buf, len, "%s", name);
    if (n < 0 || (size_t)n >= len)
        return -ENAMETOOLONG;
    return 0;
}

int fs_ino_rename(fs_inodes *t, const char *from, const char *to)
{
    size_t fl = strlen(from);
    size_t tl = strlen(to);
    int rc = 0;
    pthread_mutex_lock(&t->mu);
    /* The target name's old inode (if any) now names nothing. */
    for (size_t i = 0; i < t->n && rc == 0; i++) {
        char *p = t->v[i].path;
        if (strncmp(p, from, fl) != 0 || (p[fl] != '\0' && p[fl] != '/'))
            continue;
        char *np = malloc(tl + strlen(p + fl) + 1);
        if (!np) {
            rc = -ENOMEM;
            break;
        }
        strcpy(np, to);
        strcat(np, p + fl);
        fuse_ino_t ino = (fuse_ino_t)i + 1;
        uint64_t nh = fs__hash(np);
        fuse_ino_t clash = fs__find(t, np, nh);
        if (clash) {
            /* Give the displaced inode an unreachable name. */
            fs__unlink(t, clash);
            t->v[clash - 1].path[0] = '\x01';
            t->v[clash - 1].path[1] = '\0';
            t->v[clash - 1].hash = fs__hash("\x01");
            fs__link(t, clash);
        }
        fs__unlink(t, ino);
        free(p);
        t->v[i].path = np;
        t->v[i].hash = nh;
        fs__link(t, ino);
    }
    pthread_mutex_unlock(&t->mu);
    return rc;
}
