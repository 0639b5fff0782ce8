/*
 * listing.c - the entries of each directory of the tree.
 *
 * opendir takes one listing and readdir serves it, so a directory read
 * while entries come and go (messages taken, iterations compacted) is one
 * consistent snapshot with stable offsets.
 */
#include "fs.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    eng_dirent *v;
    size_t n;
    size_t cap;
} fs__list;

static int fs__add(fs__list *l, const char *name, int is_dir)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        eng_dirent *v = realloc(l->v, cap * sizeof(*v));
        if (!v)
            return -ENOMEM;
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n].name = strdup(name);
    if (!l->v[l->n].name)
        return -ENOMEM;
    l->v[l->n++].is_dir = is_dir;
    return 0;
}

static int fs__list_actor(const fs_node *n, fs__list *l)
{
    static const char *const files[] = {"type", "state.json", "status",
                                        "error"};
    static const char *const wf_files[] = {"events", "ctl"};
    static const char *const wf_dirs[] = {"queues", "steps", "actions"};
    static const char *const vm_files[] = {"exec"};
    static const char *const vm_dirs[] = {"fs", "sessions"};
    int rc = 0;
    for (size_t i = 0; i < 4 && rc == 0; i++)
        rc = fs__add(l, files[i], 0);
    if (n->is_vm) {
        for (size_t i = 0; i < 1 && rc == 0; i++)
            rc = fs__add(l, vm_files[i], 0);
        for (size_t i = 0; i < 2 && rc == 0; i++)
            rc = fs__add(l, vm_dirs[i], 1);
        return rc;
    }
    for (size_t i = 0; i < 2 && rc == 0; i++)
        rc = fs__add(l, wf_files[i], 0);
    for (size_t i = 0; i < 3 && rc == 0; i++)
        rc = fs__add(l, wf_dirs[i], 1);
    return rc;
}

static int fs__list_queue(fs_state *st, const fs_node *n, fs__list *l)
{
    int64_t *ids = NULL;
    size_t count = 0;
    int rc = eng_messages_list(st->e, n->type, n->key, n->name, &ids, &count);
    if (rc < 0)
        return rc;
    rc = fs__add(l, "new", 0);
    if (rc == 0)
        rc = fs__add(l, "error", 0);
    for (size_t i = 0; i < count && rc == 0; i++) {
        char name[32];
        snprintf(name, sizeof(name), "%" PRId64 ".json", ids[i]);
        rc = fs__add(l, name, 0);
    }
    free(ids);
    return rc;
}

static int fs__list_strv(int rc, eng_strv *sv, int is_dir, fs__list *l)
{
    for (size_t i = 0; i < sv->n && rc == 0; i++)
        rc = fs__add(l, sv->v[i], is_dir);
    eng_strv_free(sv);
    return rc;
}

int fs_list(fs_state *st, const fs_node *n, eng_dirent **ents, size_t *count)
{
    fs__list l = {0};
    int rc = 0;
    const eng_type *t = n->kind == FS_N_ROOT ? NULL
                                             : eng_type_find(st->e, n->type);
    switch (n->kind) {
    case FS_N_ROOT: {
        eng_strv sv = {0};
        rc = eng_actor_list(st->e, &sv);
        if (rc == 0)
            rc = fs__list_strv(rc, &sv, 1, &l);
        break;
    }
    case FS_N_ACTOR:
        rc = fs__list_actor(n, &l);
        break;
    case FS_N_QUEUES:
        for (size_t i = 0; t && i < t->nqueues && rc == 0; i++)
            rc = fs__add(&l, t->queues[i].name, 1);
        break;
    case FS_N_QUEUE:
        rc = fs__list_queue(st, n, &l);
        break;
    case FS_N_ACTIONS:
        for (size_t i = 0; t && i < t->nactions && rc == 0; i++)
            rc = fs__add(&l, t->actions[i].name, 0);
        break;
    case FS_N_STEP:
        return eng_steps_list(st->e, n->type, n->key, n->sub, ents, count);
    case FS_N_VMFS:
        return fs_vmfs_list(st, n, ents, count);
    case FS_N_SESSIONS:
    case FS_N_SESSION:
        return fs_session_list(st, n, ents, count);
    default:
        return -ENOTDIR;
    }
    if (rc < 0) {
        eng_dirents_free(l.v, l.n);
        return rc;
    }
    *ents = l.v;
    *count = l.n;
    return 0;
}
