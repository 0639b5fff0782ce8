/*
 * fs.h - the parts of the actorfs FUSE daemon that its files share.
 *
 * The daemon maps paths under the mount to engine calls.  A path is first
 * classified into an fs_node (node.c), inodes are interned paths (inode.c),
 * open files carry an fs_fh (handle.c), and the FUSE operations live in
 * ops_*.c.  Engine changes reach watchers through notify.c, which drives
 * the announcer helper process (announce.c).  Everything is reached from
 * one fs_state, the FUSE session's userdata.
 */
#ifndef FS_H
#define FS_H

#define FUSE_USE_VERSION 312

#include "eng.h"

#include <fuse_lowlevel.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#define FS_NAME_MAX 256 /* a type, key, queue, action or file name */
#define FS_ERRKEY_MAX (4 * FS_NAME_MAX) /* "ACTOR/queues/QUEUE" */

typedef struct fs_inodes fs_inodes;
typedef struct fs_errors fs_errors;
typedef struct fs_notify fs_notify;
typedef struct fs_announce fs_announce;

typedef struct {
    eng *e;
    const char *data_dir;
    const char *mountpoint; /* absolute */
    struct fuse_session *se;
    size_t max_message_bytes;
    uid_t uid;
    gid_t gid;
    struct timespec start;
    fs_inodes *inodes;
    fs_errors *errors;
    fs_notify *notify;
    fs_announce *announce;
    pthread_mutex_t fh_mu; /* the open handles, freed at shutdown even if
                            * the kernel never sent their RELEASE */
    struct fs_fh *fh_head;
} fs_state;

/* ---- nodes: what a path names (node.c) -------------------------------- */

typedef enum {
    FS_N_ROOT,
    FS_N_ACTOR,
    FS_N_TYPE,
    FS_N_STATE,
    FS_N_STATUS,
    FS_N_EVENTS,
    FS_N_CTL,
    FS_N_ERROR,
    FS_N_QUEUES,
    FS_N_QUEUE,
    FS_N_QNEW,
    FS_N_QKEY, /* a name that is not there yet: an idempotency key */
    FS_N_QMSG,
    FS_N_QTAKEN, /* a message the workflow took lately: rm says EBUSY */
    FS_N_QERROR,
    FS_N_STEP, /* steps/ itself (sub "") and everything under it */
    FS_N_ACTIONS,
    FS_N_ACTION,
    FS_N_VMFS, /* vm@NAME/fs and below: sub is the path under the root */
    FS_N_EXEC,
    FS_N_SESSIONS,
    FS_N_SESSION,
    FS_N_SINFO,
    FS_N_STRANS,
} fs_kind;

typedef struct {
    fs_kind kind;
    int is_vm;
    char type[FS_NAME_MAX];
    char key[FS_NAME_MAX];
    char actor[2 * FS_NAME_MAX]; /* the actor's directory name */
    char name[FS_NAME_MAX];      /* queue, action or session id */
    char sub[PATH_MAX];          /* steps path, vm path or idempotency key */
    int64_t msg_id;
} fs_node;

/* Classifies PATH (relative to the mount, "" the root).  Checks what the
 * engine knows cheaply (actor, queue, action); -ENOENT otherwise. */
int fs_node_parse(fs_state *st, const char *path, fs_node *n);
/* Fills *sb for an existing node; -ENOENT if it is not there now. */
int fs_node_stat(fs_state *st, const fs_node *n, struct stat *sb);
int fs_node_is_dir(const fs_node *n);
/* 1 if the node accepts writes (checked in open: root bypasses modes). */
int fs_node_writable(fs_state *st, const fs_node *n);
/* The error file a refusal on N is reported in: "ACTOR" or "ACTOR/queues/Q". */
void fs_node_error_key(const fs_node *n, char *buf, size_t len);
/* The JSON (or text) a read-only file shows, fetched whole. */
int fs_node_content(fs_state *st, const fs_node *n, char **buf, size_t *len);
/* The action NAME of type T, or NULL. */
const eng_action_def *fs__action(const eng_type *t, const char *name);
/* "TYPE" or "TYPE@KEY". */
void fs_actor_dirname(const char *type, const char *key, char *buf,
                      size_t len);

/* ---- inodes: interned paths (inode.c) --------------------------------- */

int fs_inodes_new(fs_inodes **out);
void fs_inodes_free(fs_inodes *t);
/* The inode of PATH, made if new; 0 when out of memory. */
fuse_ino_t fs_ino_get(fs_inodes *t, const char *path);
/* The inode of PATH if one was made, else 0. */
fuse_ino_t fs_ino_find(fs_inodes *t, const char *path);
/* Copies the path of INO; -ENOENT unknown, -ENAMETOOLONG. */
int fs_ino_path(fs_inodes *t, fuse_ino_t ino, char *buf, size_t len);
/* PATH of a child: "" + name = name. -ENAMETOOLONG. */
int fs_path_join(const char *dir, const char *name, char *buf, size_t len);
/* Marks INO as possibly watched (a user listed it). */
void fs_ino_watched_set(fs_inodes *t, fuse_ino_t ino);
/* Thread TID looked INO up or stat'ed it: a mark unless withdrawn. */
void fs_ino_seen(fs_inodes *t, fuse_ino_t ino, pid_t tid);
/* Thread TID opens a file to write into it: what it looked at on the way
 * was its path walk, not a watch. */
void fs_ino_seen_withdraw(fs_inodes *t, pid_t tid);
/* 1 if PATH has an inode marked, or seen, as possibly watched. */
int fs_ino_watched(fs_inodes *t, const char *path);
/* 1 if the directory of ACTOR or anything in it may be watched. */
int fs_ino_actor_watched(fs_inodes *t, const char *actor);
/* Renames FROM (and everything below it) to TO. */
int fs_ino_rename(fs_inodes *t, const char *from, const char *to);

/* ---- error files (errors.c) ------------------------------------------- */

int fs_errors_new(fs_errors **out);
void fs_errors_free(fs_errors *t);
/* Records REASON as the last refusal under KEY and logs it. */
void fs_error_set(fs_state *st, const char *key, int err, const char *fmt,
                  ...) __attribute__((format(printf, 4, 5)));
/* IN with control bytes written as \xNN, for the log and error files. */
void fs_printable(const char *in, char *out, size_t len);
/* A copy of the reason under KEY plus "\n", or "" when none. */
int fs_error_get(fs_errors *t, const char *key, char **buf, size_t *len);
/* Forgets reasons under KEY (an actor destroyed). */
void fs_error_forget(fs_errors *t, const char *key);

/* ---- open files (handle.c) -------------------------------------------- */

typedef struct fs_fh {
    struct fs_fh *prev;
    struct fs_fh *next;
    fs_node node;
    pthread_mutex_t mu;
    int flags;    /* open flags */
    char *buf;    /* snapshot, or the bytes written so far */
    size_t len;
    size_t cap;
    int refused;  /* -errno of a refused write: flush enqueues nothing */
    int done;     /* enqueued / ran: dup'd descriptors act once */
    char *resp;   /* a transaction's response */
    size_t resp_len;
    size_t resp_pos;
    int resp_err; /* -errno the transaction failed with */
    int has_resp;
    int fd;       /* vm files and session files; -1 */
    uint64_t pos; /* events: where this descriptor has read up to */
    char *path;   /* a directory's path */
    eng_dirent *ents; /* a directory's listing, taken at opendir */
    size_t nents;
} fs_fh;

fs_fh *fs_fh_new(fs_state *st, const fs_node *n, int flags);
void fs_fh_free(fs_state *st, fs_fh *h);
/* At shutdown: the handles the kernel did not release. */
void fs_fh_free_all(fs_state *st);
/* Stores BUF at OFF in the handle's buffer; -ENOMEM. */
int fs_fh_put(fs_fh *h, const char *buf, size_t len, off_t off);
static inline fs_fh *fs_fh_of(struct fuse_file_info *fi)
{
    return (fs_fh *)(uintptr_t)fi->fh;
}

/* ---- writes: messages, ctl, transactions (enqueue.c, ctl.c, txn.c) ---- */

/* write() on a message file: buffers, refuses invalid JSON and too big. */
int fs_enqueue_write(fs_state *st, fs_fh *h, const char *buf, size_t len,
                     off_t off);
/* flush on a message file: enqueues once, durably. */
int fs_enqueue_flush(fs_state *st, fs_fh *h);
/* Refuses an idempotency key already used (at create). */
int fs_enqueue_key_check(fs_state *st, const fs_node *n);
int fs_ctl_write(fs_state *st, fs_fh *h, const char *buf, size_t len);
int fs_ctl_flush(fs_state *st, fs_fh *h);
int fs_txn_write(fs_state *st, fs_fh *h, const char *buf, size_t len);
/* Runs the transaction if it has not run; then the response is in h. */
int fs_txn_run(fs_state *st, fs_fh *h);

/* ---- the VM filesystem passthrough (vmfs.c) --------------------------- */

int fs_vmfs_stat(fs_state *st, const fs_node *n, struct stat *sb);
int fs_vmfs_open(fs_state *st, const fs_node *n, int flags, mode_t mode,
                 int *fd);
int fs_vmfs_mknod(fs_state *st, const fs_node *n, mode_t mode);
int fs_vmfs_mkdir(fs_state *st, const fs_node *n, mode_t mode);
int fs_vmfs_unlink(fs_state *st, const fs_node *n, int dir);
int fs_vmfs_symlink(fs_state *st, const char *target, const fs_node *n);
int fs_vmfs_readlink(fs_state *st, const fs_node *n, char *buf, size_t len);
int fs_vmfs_rename(fs_state *st, const fs_node *from, const fs_node *to,
                   unsigned int flags);
int fs_vmfs_link(fs_state *st, const fs_node *from, const fs_node *to);
int fs_vmfs_setattr(fs_state *st, const fs_node *n, int fd,
                    const struct stat *attr, int to_set);
int fs_vmfs_list(fs_state *st, const fs_node *n, eng_dirent **ents,
                 size_t *count);
int fs_vmfs_statfs(fs_state *st, const fs_node *n, struct statvfs *sv);
/* Session files: opens DATA/vm/NAME/sessions/ID/FILE read-only. */
int fs_session_open(fs_state *st, const fs_node *n, int *fd);
int fs_session_stat(fs_state *st, const fs_node *n, struct stat *sb);
int fs_session_list(fs_state *st, const fs_node *n, eng_dirent **ents,
                    size_t *count);

/* ---- directory listings (listing.c) ----------------------------------- */

int fs_list(fs_state *st, const fs_node *n, eng_dirent **ents, size_t *count);

/* ---- watchers (notify.c, announce.c) ---------------------------------- */

/* Made before eng_watch; started once mounted (nothing is announced
 * before: the mount point would still be the directory underneath). */
int fs_notify_new(fs_state *st);
int fs_notify_start(fs_state *st);
void fs_notify_stop(fs_state *st);
/* After eng_close: no engine thread calls fs_notify_engine any more. */
void fs_notify_free(fs_state *st);
/* The engine's watcher (eng_watch). */
void fs_notify_engine(const eng_event *ev, void *ud);
/* The user already made this change through the mount: do not announce
 * it again (rm of a message, mkdir/rmdir of an actor). */
void fs_notify_suppress(fs_state *st, const char *path);
/* 1 if the workflow took the message at PATH lately (rm is EBUSY). */
int fs_notify_taken(fs_state *st, const char *path);
/* An events descriptor waits in poll(2). */
void fs_notify_poll_add(fs_state *st, const char *actor,
                        struct fuse_pollhandle *ph);

typedef enum {
    FS_ANN_MODIFY, /* truncate to the same size: IN_MODIFY */
    FS_ANN_CREATE, /* mknod: IN_CREATE */
    FS_ANN_MKDIR,  /* IN_CREATE|IN_ISDIR */
    FS_ANN_UNLINK, /* IN_DELETE */
    FS_ANN_RMDIR,  /* IN_DELETE|IN_ISDIR */
} fs_ann_op;

/* Forks the helper that performs announcements on the mount; before any
 * thread exists. */
int fs_announce_start(fs_state *st, char *err, size_t errlen);
/* Kills the helper (it may be blocked on a mount nobody serves). */
void fs_announce_stop(fs_state *st);
/* Reaps the helper once the FUSE session is gone, frees. */
void fs_announce_free(fs_state *st);
/* Has the helper perform OP on PATH and waits for it (bounded). */
int fs_announce_op(fs_state *st, fs_ann_op op, const char *path);
/* 1 if REQ comes from the helper; then *op and path say what it is
 * announcing. */
int fs_announce_req(fs_state *st, fuse_req_t req, fs_ann_op *op, char *path,
                    size_t len);

/* ---- signals (signals.c) ---------------------------------------------- */

typedef struct fs_signals fs_signals;
/* From the main thread, with the signals blocked, before the loop. */
int fs_signals_start(struct fuse_session *se, fs_signals **out);
/* After the loop: the signal that ended it, or 0. */
int fs_signals_stop(fs_signals *s);

/* ---- the operations (ops_*.c) ----------------------------------------- */

extern const struct fuse_lowlevel_ops fs_ops;

void fs_op_init(void *ud, struct fuse_conn_info *conn);
void fs_op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name);
void fs_op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup);
void fs_op_forget_multi(fuse_req_t req, size_t count,
                        struct fuse_forget_data *forgets);
void fs_op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
                   int to_set, struct fuse_file_info *fi);
void fs_op_readlink(fuse_req_t req, fuse_ino_t ino);
void fs_op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
                 mode_t mode, dev_t rdev);
void fs_op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
                 mode_t mode);
void fs_op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name);
void fs_op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name);
void fs_op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
                   const char *name);
void fs_op_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
                  fuse_ino_t newparent, const char *newname,
                  unsigned int flags);
void fs_op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
                const char *newname);
void fs_op_statfs(fuse_req_t req, fuse_ino_t ino);
void fs_op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                   struct fuse_file_info *fi);
void fs_op_releasedir(fuse_req_t req, fuse_ino_t ino,
                      struct fuse_file_info *fi);
void fs_op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync,
                    struct fuse_file_info *fi);
void fs_op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_op_create(fuse_req_t req, fuse_ino_t parent, const char *name,
                  mode_t mode, struct fuse_file_info *fi);
void fs_op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                struct fuse_file_info *fi);
void fs_op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size,
                 off_t off, struct fuse_file_info *fi);
void fs_op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
                 struct fuse_file_info *fi);
void fs_op_poll(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi,
                struct fuse_pollhandle *ph);
void fs_op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset,
                     off_t length, struct fuse_file_info *fi);
void fs_op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
                    const char *value, size_t size, int flags);
void fs_op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
                    size_t size);
void fs_op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size);
void fs_op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name);

/* How long the kernel may keep N's entry and attributes: 0 but for the
 * fixed skeleton of the tree. */
double fs_cache_ttl(const fs_node *n);
/* 1 if N is a directory or file whose changes are announced to inotify
 * watchers (notify.c), so whether someone looks at it matters. */
int fs_node_watchable(const fs_node *n);
/* Shared by the ops: the reply for a node that exists at PATH. */
void fs_reply_entry(fuse_req_t req, fs_state *st, const char *path,
                    const fs_node *n, const struct stat *sb);
/* The path of INO into buf, or replies the error and returns -1. */
int fs_req_path(fuse_req_t req, fs_state *st, fuse_ino_t ino, char *buf,
                size_t len);

#endif
