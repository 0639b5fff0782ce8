/*
 * codeReviewer.c - the seed's second workflow, agent chaining: one agent
 * session reviews a file in vm@reviewer and writes its findings to
 * /home/user/review.md, a step reads them back, a second session applies
 * them, and the state counts the files reviewed.
 *
 * Data passes between the sessions through the VM's filesystem and a
 * step's journaled output ("read-review"), never through session state:
 * sessions end with their step.  The replay, naming and idempotency rules
 * are explained at the top of bugFixer.c; here they mean that "read-review"
 * is journaled once, so "fix" sees the same review text on every replay
 * even if review.md changes later.
 */
#include "examples.h"
#include "vmcall.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#define CR_VM "reviewer"
#define CR_AGENT "claude"
#define CR_REVIEW_PATH "/home/user/review.md"

/* Agent turns take minutes with a real agent: 30 minutes, not the 30 s
 * default (see bugFixer.c). */
static const eng_step_opts cr_agent_opts = {.timeout_ms = 30 * 60 * 1000};

/* Step "review", input: the file's path in the VM. */
static int cr_review(eng_sctx *s, const cJSON *input, cJSON **output)
{
    *output = NULL;
    if (!cJSON_IsString(input)) {
        eng_sctx_error(s, "review: the message has no filePath string");
        return -EINVAL;
    }
    char *prompt;
    if (asprintf(&prompt,
                 "Review the code at %s and write your findings to " CR_REVIEW_PATH,
                 input->valuestring) < 0) {
        eng_sctx_error(s, "review: out of memory");
        return -ENOMEM;
    }
    int rc = ex_vm_agent_turn(s, CR_VM, CR_AGENT, prompt, output);
    free(prompt);
    return rc;
}

/* Step "read-review": the file's text is the output, so it flows into the
 * next step through the journal. */
static int cr_read_review(eng_sctx *s, const cJSON *input, cJSON **output)
{
    (void)input;
    *output = NULL;
    char *text;
    int rc = ex_vm_read_file(s, CR_VM, CR_REVIEW_PATH, &text);
    if (rc < 0)
        return rc;
    *output = cJSON_CreateString(text);
    free(text);
    if (*output == NULL) {
        eng_sctx_error(s, "read-review: out of memory");
        return -ENOMEM;
    }
    return 0;
}

/* Step "fix", input: the review text. */
static int cr_fix(eng_sctx *s, const cJSON *input, cJSON **output)
{
    *output = NULL;
    if (!cJSON_IsString(input)) {
        eng_sctx_error(s, "fix: read-review gave no text");
        return -EINVAL;
    }
    char *prompt;
    if (asprintf(&prompt, "Apply the following review feedback:\n\n%s",
                 input->valuestring) < 0) {
        eng_sctx_error(s, "fix: out of memory");
        return -ENOMEM;
    }
    int rc = ex_vm_agent_turn(s, CR_VM, CR_AGENT, prompt, output);
    free(prompt);
    return rc;
}

/* Step "record-review": the only state change, inside a step so that it
 * commits with the journal entry and happens once per file. */
static int cr_record_review(eng_sctx *s, const cJSON *input, cJSON **output)
{
    (void)input;
    *output = NULL;
    cJSON *state = eng_sctx_state(s);
    cJSON *n = cJSON_GetObjectItemCaseSensitive(state, "reviewedFiles");
    if (cJSON_IsNumber(n)) {
        cJSON_SetNumberValue(n, n->valuedouble + 1);
        return 0;
    }
    if (cJSON_AddNumberToObject(state, "reviewedFiles", 1) == NULL) {
        eng_sctx_error(s, "record-review: out of memory");
        return -ENOMEM;
    }
    return 0;
}

static int cr_iteration(eng_ctx *c, void *arg)
{
    (void)arg;
    const cJSON *msg;
    ENG_TRY(eng_queue_next(c, "wait-code-review", "codeReview", -1, &msg));
    const cJSON *path = cJSON_GetObjectItemCaseSensitive(msg, "filePath");

    ENG_TRY(eng_step(c, "review", cr_review, path, &cr_agent_opts, NULL));
    const cJSON *review;
    ENG_TRY(eng_step(c, "read-review", cr_read_review, NULL, NULL, &review));
    ENG_TRY(eng_step(c, "fix", cr_fix, review, &cr_agent_opts, NULL));
    return eng_step(c, "record-review", cr_record_review, NULL, NULL, NULL);
}

static int cr_run(eng_ctx *c)
{
    return eng_loop(c, "code-review-loop", cr_iteration, NULL);
}

static int cr_get_state(eng_actx *a, const cJSON *args, cJSON **result)
{
    (void)args;
    *result = cJSON_Duplicate(eng_actx_state(a), 1);
    if (*result == NULL) {
        eng_actx_error(a, "getState: out of memory");
        return -ENOMEM;
    }
    return 0;
}

static const eng_field cr_code_review_fields[] = {
    {"filePath", cJSON_String},
};

static const eng_queue_def cr_queues[] = {
    {"codeReview", cr_code_review_fields, 1},
};

static const eng_action_def cr_actions[] = {
    {"getState", cr_get_state, 0},
};

int codeReviewer_register(eng *e)
{
    static const eng_type t = {
        .name = "codeReviewer",
        .initial_state = "{\"reviewedFiles\":0}",
        .queues = cr_queues,
        .nqueues = 1,
        .actions = cr_actions,
        .nactions = 1,
        .run = cr_run,
    };
    return eng_register(e, &t);
}
