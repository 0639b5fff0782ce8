/*
 * vm_acp.h - the ACP client (acp.c) as session.c uses it.
 */
#ifndef VM_ACP_H
#define VM_ACP_H

#include "vm_int.h"

typedef struct vm__acp vm__acp;
typedef void (*vm__acp_record_fn)(void *ud, const char *line);

typedef struct {
    const char *vm, *agent, *command;
    const char *policy;     /* "inside", "allow" or "deny" */
    char **env;             /* the agent's environment, "K=V" */
    const vm__redact *red;  /* outlives the client */
    vm__acp_record_fn record; /* a transcript line, loop thread */
    void *ud;
} vm__acp_opts;

/* Starts the agent in the VM's sandbox, then initialize and session/new.
 * *out is set even on failure (close it). */
int vm__acp_start(const vm__acp_opts *o, eng_actx *a, vm__acp **out, char *err,
                  size_t errlen);
/* One turn; *stop_reason and *reply_text are malloc'd. */
int vm__acp_prompt(vm__acp *c, const char *text, eng_actx *a, char **stop_reason,
                   char **reply_text, char *err, size_t errlen);
int vm__acp_alive(vm__acp *c);
/* Ends the agent (if alive) and frees. */
void vm__acp_close(vm__acp *c);

#endif
