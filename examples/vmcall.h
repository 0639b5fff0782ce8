/*
 * vmcall.h - how the example workflows reach a VM from inside a step.
 *
 * The seed's steps call `vm.getOrCreate(NAME).exec(...)` and friends; in C
 * a step reaches another actor only through eng_call, with JSON in and
 * JSON out.  These helpers wrap the VM actions the examples use (see the
 * action list in vm/vm.h's header comment, which the examples never
 * include) so each step reads like its TypeScript original.  Every helper
 * returns 0 or -errno; on failure the reason is already the step's error.
 */
#ifndef VMCALL_H
#define VMCALL_H

#include "eng.h"

/* An exec's outcome, with the stdout/stderr text owned by *r. */
typedef struct {
    int exit_code;
    int timed_out;
    char *out;
    char *err;
} ex_exec_result;

/* Runs `sh -c CMD` in vm@VM; a non-zero exit is not an error here. */
int ex_vm_exec(eng_sctx *s, const char *vm, const char *cmd,
               int64_t timeout_ms, ex_exec_result *r);
void ex_exec_result_free(ex_exec_result *r);

/* One agent turn, scoped to the step as the seed wants: creates a session
 * of AGENT in vm@VM (ANTHROPIC_API_KEY from the daemon's environment, if
 * set), sends PROMPT, and closes the session, also when the prompt failed.
 * *result (may be NULL) gets {"sessionId","stopReason"} for the journal:
 * enough to find the transcript under vm@VM/sessions/, never credentials. */
int ex_vm_agent_turn(eng_sctx *s, const char *vm, const char *agent,
                     const char *prompt, cJSON **result);

/* The text of PATH in vm@VM, malloc'd. */
int ex_vm_read_file(eng_sctx *s, const char *vm, const char *path,
                    char **content);

/* S as one single-quoted sh word, malloc'd; NULL when out of memory. */
char *ex_sh_quote(const char *s);

#endif
