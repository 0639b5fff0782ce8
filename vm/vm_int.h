/*
 * vm_int.h - what the files of vm/ share and nothing outside uses.
 *
 * The VM backend is one libuv loop thread (loop.c) that owns every child
 * process, pipe and timer; action threads post work to it and wait on a
 * condition variable.  conf.c holds the configuration, stage.c the loop
 * thread's private mount namespace, cgroup.c the resource limits,
 * sandbox.c the bubblewrap command line, proc.c a sandboxed process on
 * the loop (an agent session), box.c a VM's persistent sandbox whose
 * init (init.c) runs its commands, path.c file access confined to a VM
 * root, exec.c and
 * session.c/acp.c the actions, redact.c the credential filter.
 */
#ifndef VM_INT_H
#define VM_INT_H

#include "vm.h"

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

/* The host uid/gid the sandboxes run as, and the uid they see inside. */
#define VM__HOST_UID VM_OWNER_UID
#define VM__HOST_GID VM_OWNER_GID
#define VM__SANDBOX_UID 1000
#define VM__OUTPUT_CAP (1024 * 1024)
#define VM__FILE_CAP (16 * 1024 * 1024)
#define VM__AGENT_MOUNT "/opt/actorfs/agent"

/* ---- util.c: growable buffers and text ------------------------------ */

typedef struct {
    char *p;
    size_t n, cap;
} vm__buf;

int vm__buf_add(vm__buf *b, const void *data, size_t n);
/* libuv alloc_cb for reads on the VM loop thread. */
void vm__alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *buf);
int vm__buf_str(vm__buf *b, const char *s);
void vm__buf_free(vm__buf *b);
/* A malloc'd copy of DATA[0..n) as valid UTF-8 text: NUL bytes and invalid
 * sequences become U+FFFD, so it can travel in a JSON string. */
char *vm__utf8_clean(const char *data, size_t n);
void vm__err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int64_t vm__mono_ms(void);

/* ---- conf.c: the configuration vm_register received ----------------- */

typedef struct {
    uint64_t memory_bytes; /* 0: no limit */
    uint64_t pids;
    uint64_t cpu_quota_us; /* per 100 ms period; 0: no limit */
} vm__limits;

int vm__conf_load(const vm_config *cfg, char *err, size_t errlen);
void vm__conf_free(void);
const char *vm__conf_data_dir(void);
const char *vm__conf_bwrap(void);   /* NULL: not installed */
const char *vm__conf_agent_dir(void);
int vm__conf_net(const char *vm);
const vm__limits *vm__conf_limits(void);
/* How long a VM's sandbox may sit without commands; 0: for ever. */
uint64_t vm__conf_idle_ms(void);
/* Each read-only mount of VM (its own and the "*" ones): index i. */
size_t vm__conf_nmounts(void);
const vm_mount *vm__conf_mount(size_t i);
int vm__conf_mount_applies(size_t i, const char *vm);
/* Resolves an agent name through aliases to its command (malloc'd).
 * -ENOENT with a readable reason for an unknown name. */
int vm__conf_agent(const char *name, char **command, char *err, size_t errlen);
/* How to install the command of agent NAME, or NULL. */
const char *vm__conf_install_hint(const char *command);

/* ---- stage.c: the loop thread's private mount namespace ------------- */

/* Makes host directories reachable to the unprivileged bubblewrap: a
 * tmpfs at VM__STAGE with vm/ (DATA/vm), agent/ and ro/N bound in, and
 * etc/passwd, etc/group.  Runs on the loop thread. */
#define VM__STAGE "/run/actorfs-vm"
int vm__stage_setup(char *err, size_t errlen);
/* The VM init (actorfs-vminit) is copied to VM__STAGE/init; if that
 * failed, why. */
const char *vm__stage_init_error(void);
/* The staged path of SUB ("/home/user", "/tmp") of VM's root. */
int vm__stage_vm_path(const char *vm, const char *sub, char *buf, size_t len);

/* ---- cgroup.c: memory, pids and cpu limits; kill the whole tree ------ */

typedef struct vm__cg vm__cg;
/* Detects controllers (v2 or v1, each) and logs what is missing. */
void vm__cg_init(void);
void vm__cg_shutdown(void);
/* A fresh group with the configured limits in *OUT; NULL and 0 when no
 * controller is usable (the process runs unlimited, as logged at start).
 * -errno (logged) when the group cannot be made: the process must not
 * run. */
int vm__cg_create(vm__cg **out);
int vm__cg_attach(vm__cg *g, pid_t pid);
/* Kills every process in the group where a kill file exists; 1 if done. */
int vm__cg_kill(vm__cg *g);
/* 1 when the memory limit killed something in the group. */
int vm__cg_oom(vm__cg *g);
void vm__cg_destroy(vm__cg *g);

/* ---- loop.c: the VM loop thread ------------------------------------- */

typedef void (*vm__loop_fn)(void *arg);
int vm__loop_start(char *err, size_t errlen);
void vm__loop_stop(void);
uv_loop_t *vm__loop(void);
/* Runs fn(arg) on the loop thread and waits until it returned. */
int vm__loop_call(vm__loop_fn fn, void *arg);
/* Runs fn(arg) on the loop thread later; does not wait. */
int vm__loop_post(vm__loop_fn fn, void *arg);

/* ---- sandbox.c: the bubblewrap command line ------------------------- */

typedef struct {
    const char *vm;
    const char *const *cmd; /* argv inside the sandbox, NULL-terminated */
    int agent_dir;          /* bind the test agent's directory */
    int box;                /* a VM's persistent sandbox: cmd is its init */
} vm__sandbox_spec;

/* A NULL-terminated malloc'd argv (each string malloc'd). */
int vm__sandbox_argv(const vm__sandbox_spec *s, char ***argv, char *err,
                     size_t errlen);
void vm__argv_free(char **argv);
/* Starts bubblewrap (argv) on the VM loop as the sandbox's host uid. */
int vm__sandbox_spawn(uv_process_t *proc, char **argv, char **env,
                      uv_stdio_container_t *stdio, int nstdio,
                      uv_exit_cb exit_cb);

/* ---- proc.c: a process in a sandbox of its own (agent sessions) ----- */

typedef struct vm__proc vm__proc;
typedef struct {
    void (*out)(void *ud, const char *buf, size_t n); /* stdout data */
    void (*err)(void *ud, const char *buf, size_t n); /* stderr data */
    /* The process exited and its output is drained; p may be freed. */
    void (*done)(void *ud, int64_t exit_status, int term_signal, int oom);
    void *ud;
} vm__proc_cbs;

/* Loop thread.  env: NULL-terminated "K=V" strings for the command. */
int vm__proc_spawn(const vm__sandbox_spec *s, char **env, int want_stdin,
                   const vm__proc_cbs *cbs, vm__proc **out, char *err,
                   size_t errlen);
int vm__proc_write(vm__proc *p, const char *buf, size_t n);
void vm__proc_kill(vm__proc *p);
/* Frees after done (loop thread). */
void vm__proc_free(vm__proc *p);
/* Kills every live process and refuses new ones (loop thread; a
 * vm__loop_fn for shutdown); vm__proc_accept undoes the refusal. */
void vm__proc_kill_all(void *unused);
void vm__proc_accept(void);
int vm__proc_closing(void);

/* ---- box.c: a VM's persistent sandbox and its commands -------------- */

typedef struct vm__run vm__run;
/* Loop thread: runs CMD (argv) with ENV in VM's sandbox, starting the
 * sandbox if it is not running.  cbs as for vm__proc_spawn; the run is
 * freed right after done returns. */
int vm__box_run(const char *vm, const char *const *cmd, char **env,
                const vm__proc_cbs *cbs, vm__run **out, char *err,
                size_t errlen);
/* Kills the command's whole tree (NULL: nothing). */
void vm__box_kill(vm__run *r);
/* vm__loop_fns: end VM's sandbox (arg: its name) or every sandbox. */
void vm__box_stop(void *vm);
void vm__box_stop_all(void *unused);

/* ---- path.c: file access beneath a VM root -------------------------- */

/* Opens VM path PATH ("/home/user/x") beneath the VM's root, read-only
 * mounts included for reading; never follows anything outside. */
int vm__file_read(const char *vm, const char *path, char **data, size_t *len,
                  char *err, size_t errlen);
int vm__file_write(const char *vm, const char *path, const char *data,
                   size_t len, char *err, size_t errlen);
int vm__dirs_create(const char *vm, char *err, size_t errlen);
int vm__dirs_remove(const char *vm, char *err, size_t errlen);

/* ---- redact.c: credentials never leave ------------------------------ */

typedef struct {
    char **secrets;
    size_t n;
    size_t maxlen;
} vm__redact;

int vm__redact_add(vm__redact *r, const char *value);
void vm__redact_free(vm__redact *r);
/* A malloc'd copy of S with every secret replaced by "[REDACTED]". */
char *vm__redact_str(const vm__redact *r, const char *s);
/* Streaming: how many leading bytes of S (length n) are safe to emit now,
 * holding back a tail that could begin a secret. */
size_t vm__redact_safe_len(const vm__redact *r, const char *s, size_t n);

/* ---- exec.c and session.c: the actions ------------------------------ */

int vm__exec_action(eng_actx *a, const cJSON *args, cJSON **result);
int vm__read_action(eng_actx *a, const cJSON *args, cJSON **result);
int vm__write_action(eng_actx *a, const cJSON *args, cJSON **result);
int vm__session_create_action(eng_actx *a, const cJSON *args, cJSON **result);
int vm__session_prompt_action(eng_actx *a, const cJSON *args, cJSON **result);
int vm__session_close_action(eng_actx *a, const cJSON *args, cJSON **result);
/* Live commands and sessions per VM: on_destroy refuses while busy. */
void vm__live_add(const char *vm, int delta);
int vm__live_count(const char *vm);
void vm__sessions_shutdown(void);
/* At start: sessions that were live when the daemon stopped are ended. */
void vm__sessions_recover(void);

const char *vm__disabled(void); /* NULL, or why VMs cannot run here */

#endif
