/*
 * counter.c - the hello world of actorfs (SPEC section 8).
 *
 * Queue "add" takes {"n": <number>}; a loop takes each message
 * ("wait-add") and the step "add" adds n to state.total and 1 to
 * state.count, so the state is journaled together with the step.
 *
 *   echo '{"n":5}' > /mnt/wf/counter/queues/add/new
 *   cat /mnt/wf/counter/state.json        -> {"total":5,"count":1}
 */
#include "examples.h"

#include <errno.h>

static int add_step(eng_sctx *s, const cJSON *input, cJSON **output)
{
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(input, "n");
    if (!cJSON_IsNumber(n)) {
        eng_sctx_error(s, "message has no number n");
        return -EINVAL;
    }
    cJSON *st = eng_sctx_state(s);
    cJSON *total = cJSON_GetObjectItemCaseSensitive(st, "total");
    cJSON *count = cJSON_GetObjectItemCaseSensitive(st, "count");
    double t = (cJSON_IsNumber(total) ? total->valuedouble : 0) + n->valuedouble;
    double c = (cJSON_IsNumber(count) ? count->valuedouble : 0) + 1;
    cJSON_DeleteItemFromObjectCaseSensitive(st, "total");
    cJSON_DeleteItemFromObjectCaseSensitive(st, "count");
    cJSON_AddNumberToObject(st, "total", t);
    cJSON_AddNumberToObject(st, "count", c);
    *output = cJSON_CreateNumber(t);
    return 0;
}

static int add_loop(eng_ctx *c, void *arg)
{
    (void)arg;
    const cJSON *msg;
    ENG_TRY(eng_queue_next(c, "wait-add", "add", -1, &msg));
    return eng_step(c, "add", add_step, msg, NULL, NULL);
}

static int counter_run(eng_ctx *c)
{
    return eng_loop(c, "add-loop", add_loop, NULL);
}

static int get_state(eng_actx *a, const cJSON *args, cJSON **result)
{
    (void)args;
    *result = cJSON_Duplicate(eng_actx_state(a), 1);
    return *result ? 0 : -ENOMEM;
}

static const eng_field add_fields[] = {{"n", cJSON_Number}};
static const eng_queue_def counter_queues[] = {{"add", add_fields, 1}};
static const eng_action_def counter_actions[] = {{"getState", get_state, 0}};

int counter_register(eng *e)
{
    static const eng_type t = {
        .name = "counter",
        .initial_state = "{\"total\":0,\"count\":0}",
        .queues = counter_queues,
        .nqueues = 1,
        .actions = counter_actions,
        .nactions = 1,
        .run = counter_run,
    };
    return eng_register(e, &t);
}
