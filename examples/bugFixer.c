/*
 * bugFixer.c - the seed's first workflow, step for step: take a
 * {repo, issue} message from queue fixBug, clone the repo into vm@bug-fixer,
 * let an agent fix the bug, run the tests, record the result.
 *
 * It is also the reference for writing a workflow in C.  Three rules
 * matter, and the comments below point at each where it applies:
 *
 * - Replay.  bf_run is not run once: the engine calls it again from the
 *   top whenever a wait ends, after a restart, and (with
 *   ACTORFS_EVICT_ALWAYS=1) at every suspension.  Each eng_* call first
 *   looks in the journal and returns the recorded result at once, so the
 *   code between those calls must be deterministic and cheap: no clock, no
 *   I/O, no randomness outside a step.  Side effects live in step
 *   functions, which run on worker threads.
 * - Stable names.  Journal entries are matched by name at their place
 *   ("fix-bug-loop/3/clone-repo").  Renaming or reordering steps under
 *   running actors is a "history divergence" failure, never a silent
 *   mix-up; pick names once and keep them.
 * - Idempotent steps.  A step whose result was journaled never runs again,
 *   but one interrupted mid-run (kill -9, timeout, a failed attempt) runs
 *   again from its start.  So each step must be safe to run twice: the
 *   clone removes any earlier checkout, the agent's session lives and
 *   dies inside its step.
 */
#include "examples.h"
#include "vmcall.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BF_VM "bug-fixer"
#define BF_AGENT "claude"
#define BF_REPO_DIR "/home/user/repo"

/* A real agent's turn takes minutes, so the engine's 30 s default (the
 * same as RivetKit's) would kill it: agent steps get 30 minutes.  Clones
 * and test runs get 10 minutes, and the exec inside ends a little earlier
 * so its own timeout (timedOut, a readable reason) wins the race. */
#define BF_AGENT_TIMEOUT_MS (30 * 60 * 1000)
#define BF_EXEC_TIMEOUT_MS (10 * 60 * 1000)
#define BF_EXEC_SLACK_MS (5 * 1000)

static const eng_step_opts bf_agent_opts = {.timeout_ms = BF_AGENT_TIMEOUT_MS};
static const eng_step_opts bf_exec_opts = {.timeout_ms = BF_EXEC_TIMEOUT_MS};

/* Step "clone-repo", input: the repo URL or path.  Runs again after a
 * crash, so it starts by removing what an earlier attempt (or an earlier
 * message for the same repo) left behind. */
static int bf_clone_repo(eng_sctx *s, const cJSON *input, cJSON **output)
{
    *output = NULL;
    if (!cJSON_IsString(input)) {
        eng_sctx_error(s, "clone-repo: the message has no repo string");
        return -EINVAL;
    }
    /* "--" keeps a repo string starting with "-" from being an option. */
    char *repo = ex_sh_quote(input->valuestring);
    char *cmd = NULL;
    if (repo == NULL ||
        asprintf(&cmd, "rm -rf " BF_REPO_DIR " && git clone -q -- %s " BF_REPO_DIR,
                 repo) < 0) {
        free(repo);
        eng_sctx_error(s, "clone-repo: out of memory");
        return -ENOMEM;
    }
    free(repo);

    ex_exec_result r;
    int rc = ex_vm_exec(s, BF_VM, cmd, BF_EXEC_TIMEOUT_MS - BF_EXEC_SLACK_MS, &r);
    free(cmd);
    if (rc < 0)
        return rc;
    if (r.exit_code != 0 || r.timed_out) {
        eng_sctx_error(s, "git clone %s (exit %d): %s",
                       r.timed_out ? "timed out" : "failed", r.exit_code, r.err);
        rc = r.timed_out ? -ETIMEDOUT : -EIO;
    }
    ex_exec_result_free(&r);
    return rc;
}

/* Step "fix-bug", input: the issue text.  The session is created and
 * closed inside the step: it would not survive a replay.  The output names
 * the session, so its transcript can be found under vm@bug-fixer/sessions/. */
static int bf_fix_bug(eng_sctx *s, const cJSON *input, cJSON **output)
{
    *output = NULL;
    if (!cJSON_IsString(input)) {
        eng_sctx_error(s, "fix-bug: the message has no issue string");
        return -EINVAL;
    }
    const char *issue = input->valuestring;
    char *prompt;
    if (asprintf(&prompt, "Fix the bug described in issue: %s", issue) < 0) {
        eng_sctx_error(s, "fix-bug: out of memory");
        return -ENOMEM;
    }
    int rc = ex_vm_agent_turn(s, BF_VM, BF_AGENT, prompt, output);
    free(prompt);
    return rc;
}

/* Step "run-tests": the exit code is the output, failing tests included:
 * a red test suite is a result to record, not a reason to retry. */
static int bf_run_tests(eng_sctx *s, const cJSON *input, cJSON **output)
{
    (void)input;
    *output = NULL;
    ex_exec_result r;
    int rc = ex_vm_exec(s, BF_VM, "cd " BF_REPO_DIR " && npm test",
                        BF_EXEC_TIMEOUT_MS - BF_EXEC_SLACK_MS, &r);
    if (rc < 0)
        return rc;
    *output = cJSON_CreateNumber(r.exit_code);
    ex_exec_result_free(&r);
    if (*output == NULL) {
        eng_sctx_error(s, "run-tests: out of memory");
        return -ENOMEM;
    }
    return 0;
}

static int bf_set(cJSON *state, const char *name, cJSON *value)
{
    if (value == NULL)
        return -ENOMEM;
    if (cJSON_HasObjectItem(state, name))
        return cJSON_ReplaceItemInObjectCaseSensitive(state, name, value) ? 0 : -ENOMEM;
    return cJSON_AddItemToObject(state, name, value) ? 0 : -ENOMEM;
}

/* Step "record-result", input {"issue","exitCode"}.  State changes only
 * inside a step: they commit with the step's journal entry, so a replay
 * neither loses nor repeats them. */
static int bf_record_result(eng_sctx *s, const cJSON *input, cJSON **output)
{
    *output = NULL;
    cJSON *state = eng_sctx_state(s);
    const cJSON *issue = cJSON_GetObjectItemCaseSensitive(input, "issue");
    const cJSON *code = cJSON_GetObjectItemCaseSensitive(input, "exitCode");
    if (bf_set(state, "lastIssue", cJSON_Duplicate(issue, 1)) < 0 ||
        bf_set(state, "lastExitCode", cJSON_Duplicate(code, 1)) < 0) {
        eng_sctx_error(s, "record-result: out of memory");
        return -ENOMEM;
    }
    return 0;
}

/* One iteration of "fix-bug-loop".  Pointers the engine hands back (msg,
 * code) are valid only until this returns; inputs are copied by eng_step. */
static int bf_iteration(eng_ctx *c, void *arg)
{
    (void)arg;
    const cJSON *msg;
    ENG_TRY(eng_queue_next(c, "wait-fix-bug", "fixBug", -1, &msg));
    /* The queue's declared fields guarantee both are strings. */
    const cJSON *repo = cJSON_GetObjectItemCaseSensitive(msg, "repo");
    const cJSON *issue = cJSON_GetObjectItemCaseSensitive(msg, "issue");

    ENG_TRY(eng_step(c, "clone-repo", bf_clone_repo, repo, &bf_exec_opts, NULL));
    ENG_TRY(eng_step(c, "fix-bug", bf_fix_bug, issue, &bf_agent_opts, NULL));
    const cJSON *code;
    ENG_TRY(eng_step(c, "run-tests", bf_run_tests, NULL, &bf_exec_opts, &code));

    cJSON *in = cJSON_CreateObject();
    if (in == NULL || cJSON_AddItemToObject(in, "issue", cJSON_Duplicate(issue, 1)) == 0 ||
        cJSON_AddItemToObject(in, "exitCode", cJSON_Duplicate(code, 1)) == 0) {
        cJSON_Delete(in);
        return -ENOMEM;
    }
    int rc = eng_step(c, "record-result", bf_record_result, in, NULL, NULL);
    cJSON_Delete(in);
    return rc;
}

static int bf_run(eng_ctx *c)
{
    return eng_loop(c, "fix-bug-loop", bf_iteration, NULL);
}

static int bf_get_state(eng_actx *a, const cJSON *args, cJSON **result)
{
    (void)args;
    *result = cJSON_Duplicate(eng_actx_state(a), 1);
    if (*result == NULL) {
        eng_actx_error(a, "getState: out of memory");
        return -ENOMEM;
    }
    return 0;
}

static const eng_field bf_fix_bug_fields[] = {
    {"repo", cJSON_String},
    {"issue", cJSON_String},
};

static const eng_queue_def bf_queues[] = {
    {"fixBug", bf_fix_bug_fields, 2},
};

static const eng_action_def bf_actions[] = {
    {"getState", bf_get_state, 0},
};

int bugFixer_register(eng *e)
{
    static const eng_type t = {
        .name = "bugFixer",
        .initial_state = "{\"lastIssue\":null,\"lastExitCode\":null}",
        .queues = bf_queues,
        .nqueues = 1,
        .actions = bf_actions,
        .nactions = 1,
        .run = bf_run,
    };
    return eng_register(e, &t);
}
