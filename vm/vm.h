/*
 * vm.h - the whole public interface of the VM backend.
 *
 * vm/ registers the actor type "vm".  Each instance vm@NAME owns a
 * persistent root under the data dir and runs commands and ACP agent
 * sessions in a bubblewrap sandbox.  Steps reach a VM only through the
 * engine (eng_call(s, "vm", NAME, ACTION, args, &result)); the actions and
 * their JSON are:
 *
 *   exec          {"cmd":"...", "timeoutMs":N?}
 *                 -> {"exitCode":N,"stdout":"...","stderr":"...","timedOut":bool}
 *   readFile      {"path":"/home/user/x"}            -> {"content":"..."}
 *   writeFile     {"path":"/home/user/x","content":"..."} -> {}
 *   createSession {"agent":"claude","env":{"K":"V"}}  -> {"sessionId":"..."}
 *   sendPrompt    {"sessionId":"...","text":"..."}   -> {"stopReason":"...","text":"..."}
 *   closeSession  {"sessionId":"..."}                -> {}
 *
 * On disk, under DATA/vm/NAME/:
 *   root/             the VM's filesystem: root/home/user, root/tmp
 *   sessions/ID/info        JSON: agent, status, stopReason, timestamps
 *   sessions/ID/transcript  JSON lines: every session/update, in order
 * fs/ shows root/ as vm@NAME/fs/ and sessions/ as vm@NAME/sessions/.
 */
#ifndef VM_H
#define VM_H

#include "eng.h"

#include <stddef.h>

/* Files in a VM's root belong to this host uid and gid (the sandbox's
 * `user`, uid 1000 inside); what the daemon creates there should too, or
 * the VM cannot change it. */
#define VM_OWNER_UID 100000
#define VM_OWNER_GID 100000

typedef struct {
    const char *name;     /* VM name, or "*" for every VM */
    const char *host_dir; /* read-only host directory ... */
    const char *vm_dir;   /* ... seen at this absolute path in the VM */
} vm_mount;

typedef struct {
    const char *data_dir;
    /* "NAME=COMMAND" from --agent, in order; later ones win. */
    const char *const *agents;
    size_t nagents;
    /* Agent config file (lines NAME=COMMAND); NULL: DATA/agents.conf
     * if it exists. */
    const char *agents_conf;
    /* VM names that get the host network (--vm-net NAME). */
    const char *const *net_vms;
    size_t nnet_vms;
    const vm_mount *mounts; /* --vm-ro NAME=HOSTDIR:VMDIR */
    size_t nmounts;
} vm_config;

/* Registers type "vm" with eng (before eng_start); checks bubblewrap and
 * the cgroup controllers and logs a warning where limits are unavailable. */
int vm_register(eng *e, const vm_config *cfg, char *err, size_t errlen);
/* Ends live sessions and frees what vm_register allocated. */
void vm_shutdown(void);

/* DATA/vm/NAME/root and DATA/vm/NAME/sessions; -ENAMETOOLONG. */
int vm_root_path(const char *data_dir, const char *name, char *buf, size_t len);
int vm_sessions_path(const char *data_dir, const char *name, char *buf,
                     size_t len);

#endif
