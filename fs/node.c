/*
 * node.c - what a path under the mount names, and its attributes.
 *
 * The tree of SPEC section 2 is computed, not stored: a path is split
 * into an actor directory (TYPE or TYPE@KEY) and what lies under it, and
 * each request asks the engine (or the VM root on disk) whether that is
 * there now.  Keeping the whole classification in one place means every
 * operation agrees on what a name is, and user-supplied names are checked
 * once (eng_actor_parse, eng_name_ok) before they reach the engine.
 */
#include "fs.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void fs_actor_dirname(const char *type, const char *key, char *buf,
                      size_t len)
{
    if (key[0])
        snprintf(buf, len, "%s@%s", type, key);
    else
        snprintf(buf, len, "%s", type);
}

static int fs__copy(char *dst, size_t len, const char *src, size_t n)
{
    if (n >= len)
        return -ENAMETOOLONG;
    memcpy(dst, src, n);
    dst[n] = '\0';
    return 0;
}

/* The next component of *p into buf; 0 at the end of the path. */
static int fs__next(const char **p, char *buf, size_t len)
{
    const char *s = *p;
    if (!*s)
        return 0;
    const char *slash = strchr(s, '/');
    size_t n = slash ? (size_t)(slash - s) : strlen(s);
    if (fs__copy(buf, len, s, n) < 0)
        return -ENAMETOOLONG;
    *p = slash ? slash + 1 : s + n;
    return 1;
}

static int fs__has_queue(const eng_type *t, const char *q)
{
    for (size_t i = 0; i < t->nqueues; i++)
        if (strcmp(t->queues[i].name, q) == 0)
            return 1;
    return 0;
}

const eng_action_def *fs__action(const eng_type *t, const char *a)
{
    for (size_t i = 0; i < t->nactions; i++)
        if (strcmp(t->actions[i].name, a) == 0)
            return &t->actions[i];
    return NULL;
}

/* "<digits>.json" -> id, else -1. */
static int64_t fs__msg_id(const char *name)
{
    const char *dot = strchr(name, '.');
    if (!dot || dot == name || strcmp(dot, ".json") != 0 || dot - name > 18)
        return -1;
    int64_t id = 0;
    for (const char *p = name; p < dot; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        id = id * 10 + (*p - '0');
    }
    return id;
}

static int fs__parse_queue(fs_state *st, const eng_type *t, const char *rest,
                           fs_node *n)
{
    char c[FS_NAME_MAX];
    int r = fs__next(&rest, c, sizeof(c));
    if (r < 0)
        return r;
    if (r == 0) {
        n->kind = FS_N_QUEUES;
        return 0;
    }
    if (!fs__has_queue(t, c))
        return -ENOENT;
    strcpy(n->name, c);
    r = fs__next(&rest, c, sizeof(c));
    if (r < 0)
        return r;
    if (r == 0) {
        n->kind = FS_N_QUEUE;
        return 0;
    }
    if (*rest)
        return -ENOENT;
    if (strcmp(c, "new") == 0) {
        n->kind = FS_N_QNEW;
        return 0;
    }
    if (strcmp(c, "error") == 0) {
        n->kind = FS_N_QERROR;
        return 0;
    }
    int64_t id = fs__msg_id(c);
    if (id >= 0) {
        char *json = NULL;
        size_t len = 0;
        if (eng_message_read(st->e, n->type, n->key, n->name, id, &json,
                             &len) == 0) {
            free(json);
            n->kind = FS_N_QMSG;
            n->msg_id = id;
            return 0;
        }
        char path[PATH_MAX];
        snprintf(path, sizeof(path), "%s/queues/%s/%s", n->actor, n->name, c);
        if (fs_notify_taken(st, path)) {
            n->kind = FS_N_QTAKEN;
            n->msg_id = id;
            return 0;
        }
    }
    if (!eng_name_ok(c))
        return strlen(c) > 200 ? -ENAMETOOLONG : -EINVAL;
    n->kind = FS_N_QKEY;
    strcpy(n->sub, c);
    return 0;
}

static int fs__parse_vm(const char *c, const char *rest, fs_node *n)
{
    if (strcmp(c, "exec") == 0 && !*rest) {
        n->kind = FS_N_EXEC;
        return 0;
    }
    if (strcmp(c, "fs") == 0) {
        n->kind = FS_N_VMFS;
        return fs__copy(n->sub, sizeof(n->sub), rest, strlen(rest));
    }
    if (strcmp(c, "sessions") != 0)
        return -ENOENT;
    char id[FS_NAME_MAX];
    int r = fs__next(&rest, id, sizeof(id));
    if (r <= 0) {
        n->kind = FS_N_SESSIONS;
        return r;
    }
    if (!eng_name_ok(id))
        return -ENOENT;
    strcpy(n->name, id);
    char f[FS_NAME_MAX];
    r = fs__next(&rest, f, sizeof(f));
    if (r <= 0) {
        n->kind = FS_N_SESSION;
        return r;
    }
    if (*rest)
        return -ENOENT;
    if (strcmp(f, "info") == 0)
        n->kind = FS_N_SINFO;
    else if (strcmp(f, "transcript") == 0)
        n->kind = FS_N_STRANS;
    else
        return -ENOENT;
    return 0;
}

int fs_node_parse(fs_state *st, const char *path, fs_node *n)
{
    memset(n, 0, offsetof(fs_node, sub) + 1);
    n->msg_id = -1;
    const char *rest = path;
    int r = fs__next(&rest, n->actor, sizeof(n->actor));
    if (r < 0)
        return r;
    if (r == 0) {
        n->kind = FS_N_ROOT;
        return 0;
    }
    if (eng_actor_parse(n->actor, n->type, sizeof(n->type), n->key,
                        sizeof(n->key)) < 0)
        return -ENOENT;
    if (eng_actor_exists(st->e, n->type, n->key) < 0)
        return -ENOENT;
    const eng_type *t = eng_type_find(st->e, n->type);
    if (!t)
        return -ENOENT;
    n->is_vm = strcmp(n->type, "vm") == 0;
    char c[FS_NAME_MAX];
    r = fs__next(&rest, c, sizeof(c));
    if (r < 0)
        return r;
    if (r == 0) {
        n->kind = FS_N_ACTOR;
        return 0;
    }
    static const struct {
        const char *name;
        fs_kind kind;
        int vm; /* 0 any actor, 1 vm only, -1 not vm */
    } files[] = {
        {"type", FS_N_TYPE, 0},      {"state.json", FS_N_STATE, 0},
        {"status", FS_N_STATUS, 0},  {"error", FS_N_ERROR, 0},
        {"events", FS_N_EVENTS, -1}, {"ctl", FS_N_CTL, -1},
    };
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        if (strcmp(c, files[i].name) != 0)
            continue;
        if (*rest || (files[i].vm == -1 && n->is_vm))
            return -ENOENT;
        n->kind = files[i].kind;
        return 0;
    }
    if (n->is_vm)
        return fs__parse_vm(c, rest, n);
    if (strcmp(c, "queues") == 0)
        return fs__parse_queue(st, t, rest, n);
    if (strcmp(c, "steps") == 0) {
        n->kind = FS_N_STEP;
        return fs__copy(n->sub, sizeof(n->sub), rest, strlen(rest));
    }
    if (strcmp(c, "actions") != 0)
        return -ENOENT;
    r = fs__next(&rest, c, sizeof(c));
    if (r <= 0) {
        n->kind = FS_N_ACTIONS;
        return r;
    }
    if (*rest || !fs__action(t, c))
        return -ENOENT;
    strcpy(n->name, c);
    n->kind = FS_N_ACTION;
    return 0;
}

int fs_node_is_dir(const fs_node *n)
{
    switch (n->kind) {
    case FS_N_ROOT:
    case FS_N_ACTOR:
    case FS_N_QUEUES:
    case FS_N_QUEUE:
    case FS_N_ACTIONS:
    case FS_N_SESSIONS:
    case FS_N_SESSION:
        return 1;
    default:
        return 0;
    }
}

int fs_node_writable(fs_state *st, const fs_node *n)
{
    switch (n->kind) {
    case FS_N_QNEW:
    case FS_N_QKEY:
    case FS_N_CTL:
    case FS_N_EXEC:
    case FS_N_VMFS:
        return 1;
    case FS_N_ACTION: {
        const eng_type *t = eng_type_find(st->e, n->type);
        const eng_action_def *a = t ? fs__action(t, n->name) : NULL;
        return a && a->takes_args;
    }
    default:
        return 0;
    }
}

void fs_node_error_key(const fs_node *n, char *buf, size_t len)
{
    switch (n->kind) {
    case FS_N_QUEUE:
    case FS_N_QNEW:
    case FS_N_QKEY:
    case FS_N_QMSG:
    case FS_N_QTAKEN:
    case FS_N_QERROR:
        snprintf(buf, len, "%s/queues/%s", n->actor, n->name);
        break;
    default:
        snprintf(buf, len, "%s", n->actor);
    }
}

static int fs__with_newline(char **buf, size_t *len)
{
    if (*len > 0 && (*buf)[*len - 1] == '\n')
        return 0;
    char *p = realloc(*buf, *len + 2);
    if (!p)
        return -ENOMEM;
    p[(*len)++] = '\n';
    p[*len] = '\0';
    *buf = p;
    return 0;
}

int fs_node_content(fs_state *st, const fs_node *n, char **buf, size_t *len)
{
    char key[FS_ERRKEY_MAX];
    int rc;
    *buf = NULL;
    *len = 0;
    switch (n->kind) {
    case FS_N_TYPE:
        if (asprintf(buf, "%s\n", n->type) < 0)
            return -ENOMEM;
        *len = strlen(*buf);
        return 0;
    case FS_N_STATE:
        return eng_state_json(st->e, n->type, n->key, buf, len);
    case FS_N_STATUS:
        return eng_status_json(st->e, n->type, n->key, buf, len);
    case FS_N_STEP:
        return eng_steps_read(st->e, n->type, n->key, n->sub, buf, len);
    case FS_N_QMSG:
        rc = eng_message_read(st->e, n->type, n->key, n->name, n->msg_id, buf,
                              len);
        if (rc == 0 && (rc = fs__with_newline(buf, len)) < 0) {
            free(*buf);
            *buf = NULL;
        }
        return rc;
    case FS_N_ERROR:
    case FS_N_QERROR:
        fs_node_error_key(n, key, sizeof(key));
        return fs_error_get(st->errors, key, buf, len);
    default:
        return -EINVAL;
    }
}

static mode_t fs__mode(fs_state *st, const fs_node *n)
{
    if (fs_node_is_dir(n))
        return S_IFDIR | 0755;
    switch (n->kind) {
    case FS_N_QNEW:
    case FS_N_QKEY:
    case FS_N_CTL:
        return S_IFREG | 0200;
    case FS_N_EXEC:
        return S_IFREG | 0600;
    case FS_N_ACTION:
        return S_IFREG | (fs_node_writable(st, n) ? 0600 : 0444);
    default:
        return S_IFREG | 0444;
    }
}

int fs_node_stat(fs_state *st, const fs_node *n, struct stat *sb)
{
    memset(sb, 0, sizeof(*sb));
    if (n->kind == FS_N_VMFS)
        return fs_vmfs_stat(st, n, sb);
    if (n->kind == FS_N_SESSION || n->kind == FS_N_SINFO ||
        n->kind == FS_N_STRANS)
        return fs_session_stat(st, n, sb);
    sb->st_uid = st->uid;
    sb->st_gid = st->gid;
    sb->st_atim = sb->st_mtim = sb->st_ctim = st->start;
    sb->st_blksize = 4096;
    sb->st_mode = fs__mode(st, n);
    if (n->kind == FS_N_STEP) {
        int is_dir = 1;
        if (n->sub[0]) {
            int rc = eng_steps_stat(st->e, n->type, n->key, n->sub, &is_dir);
            if (rc < 0)
                return rc;
        }
        sb->st_mode = is_dir ? (S_IFDIR | 0755) : (S_IFREG | 0444);
    }
    sb->st_nlink = S_ISDIR(sb->st_mode) ? 2 : 1;
    if (S_ISDIR(sb->st_mode))
        return 0;
    if (n->kind == FS_N_EVENTS) {
        uint64_t size = 0;
        int rc = eng_events_size(st->e, n->type, n->key, &size);
        if (rc < 0)
            return rc;
        sb->st_size = (off_t)size;
    } else if (n->kind != FS_N_QNEW && n->kind != FS_N_QKEY &&
               n->kind != FS_N_CTL && n->kind != FS_N_EXEC &&
               n->kind != FS_N_ACTION && n->kind != FS_N_QTAKEN) {
        char *buf;
        size_t len;
        int rc = fs_node_content(st, n, &buf, &len);
        if (rc < 0)
            return rc;
        free(buf);
        sb->st_size = (off_t)len;
    }
    sb->st_blocks = (sb->st_size + 511) / 512;
    return 0;
}
