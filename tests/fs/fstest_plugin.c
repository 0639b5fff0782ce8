/*
 * fstest_plugin.c - an actor type for the filesystem tests (--load).
 *
 * The counter takes every message at once; the tests also need messages
 * that stay pending, a workflow that fails on demand (ctl retry) and an
 * action with arguments (a transaction file).  Type "fstest":
 *   queue "hold" {"id": string}: only taken when a "go" message says take
 *   queue "go": step "work" records the message in state.last and counts
 *     state.n; {"fail":true} fails the step while the failure switch is on;
 *     {"take":true} then takes one "hold" message ("wait-hold") into
 *     state.held
 *   actions: peek (the state), echo (args -> {"args": args}),
 *     setFail ({"on": bool} -> the failure switch)
 */
#include "eng.h"

#include <errno.h>
#include <stdatomic.h>

static atomic_int fail_on;

static int work_step(eng_sctx *s, const cJSON *input, cJSON **output)
{
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(input, "fail")) &&
        atomic_load(&fail_on)) {
        eng_sctx_error(s, "failing on purpose (setFail)");
        return -EIO;
    }
    cJSON *st = eng_sctx_state(s);
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(st, "n");
    double count = cJSON_IsNumber(n) ? n->valuedouble + 1 : 1;
    cJSON_DeleteItemFromObjectCaseSensitive(st, "n");
    cJSON_DeleteItemFromObjectCaseSensitive(st, "last");
    cJSON_AddNumberToObject(st, "n", count);
    cJSON_AddItemToObject(st, "last", cJSON_Duplicate(input, 1));
    *output = cJSON_CreateNumber(count);
    return 0;
}

static int took_step(eng_sctx *s, const cJSON *input, cJSON **output)
{
    cJSON *st = eng_sctx_state(s);
    cJSON_DeleteItemFromObjectCaseSensitive(st, "held");
    cJSON_AddItemToObject(st, "held", cJSON_Duplicate(input, 1));
    *output = NULL;
    return 0;
}

static int go_loop(eng_ctx *c, void *arg)
{
    (void)arg;
    const cJSON *msg;
    static const eng_step_opts once = {.max_attempts = 1};
    ENG_TRY(eng_queue_next(c, "wait-go", "go", -1, &msg));
    int take = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(msg, "take"));
    ENG_TRY(eng_step(c, "work", work_step, msg, &once, NULL));
    if (!take)
        return 0;
    const cJSON *held;
    ENG_TRY(eng_queue_next(c, "wait-hold", "hold", -1, &held));
    return eng_step(c, "took", took_step, held, NULL, NULL);
}

static int fstest_run(eng_ctx *c)
{
    return eng_loop(c, "go-loop", go_loop, NULL);
}

static int peek(eng_actx *a, const cJSON *args, cJSON **result)
{
    (void)args;
    *result = cJSON_Duplicate(eng_actx_state(a), 1);
    return *result ? 0 : -ENOMEM;
}

static int echo(eng_actx *a, const cJSON *args, cJSON **result)
{
    (void)a;
    *result = cJSON_CreateObject();
    if (!*result)
        return -ENOMEM;
    cJSON_AddItemToObject(*result, "args",
                          args ? cJSON_Duplicate(args, 1) : cJSON_CreateNull());
    return 0;
}

static int set_fail(eng_actx *a, const cJSON *args, cJSON **result)
{
    const cJSON *on = cJSON_GetObjectItemCaseSensitive(args, "on");
    if (!cJSON_IsBool(on)) {
        eng_actx_error(a, "setFail wants {\"on\": true|false}");
        return -EINVAL;
    }
    atomic_store(&fail_on, cJSON_IsTrue(on));
    *result = cJSON_CreateObject();
    return *result ? 0 : -ENOMEM;
}

static const eng_field hold_fields[] = {{"id", cJSON_String}};
static const eng_queue_def queues[] = {{"hold", hold_fields, 1},
                                       {"go", NULL, 0}};
static const eng_action_def actions[] = {
    {"peek", peek, 0}, {"echo", echo, 1}, {"setFail", set_fail, 1}};

int actorfs_register(eng *e)
{
    static const eng_type t = {
        .name = "fstest",
        .initial_state = "{\"n\":0}",
        .queues = queues,
        .nqueues = 2,
        .actions = actions,
        .nactions = 3,
        .run = fstest_run,
    };
    return eng_register(e, &t);
}
