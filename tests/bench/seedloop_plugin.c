/*
 * seedloop_plugin.c - the seed's loop as a --load plugin, the workload that
 * scripts/bench drives through the mount: a message on queue "work" ->
 * three no-op steps -> a step that updates the state.  It is the same loop
 * as tests/bench/rivetkit/bench.mjs runs on RivetKit's engine, so the two
 * per-step figures compare like with like.
 *
 * It also registers "sink", a type with a queue and no workflow, so that
 * the enqueue-throughput run measures acknowledged messages alone, with no
 * consumer competing for the commit.
 *
 * Like any user's plugin it includes only eng.h and is not linked with the
 * engine: eng_* resolve against the actorfs executable that loads it.
 */
#include "eng.h"

#include <errno.h>

int actorfs_register(eng *e);

static int sl_noop(eng_sctx *s, const cJSON *input, cJSON **output)
{
    (void)s;
    (void)input;
    *output = NULL;
    return 0;
}

static int sl_set_number(cJSON *obj, const char *name, double v)
{
    cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (cJSON_IsNumber(item)) {
        cJSON_SetNumberValue(item, v);
        return 0;
    }
    cJSON_DeleteItemFromObjectCaseSensitive(obj, name);
    return cJSON_AddNumberToObject(obj, name, v) ? 0 : -ENOMEM;
}

/* Step "record", input: the message's n.  count and total change with the
 * step's journal entry, atomically. */
static int sl_record(eng_sctx *s, const cJSON *input, cJSON **output)
{
    *output = NULL;
    cJSON *st = eng_sctx_state(s);
    /* cJSON gives NaN for a missing number: start such a field at 0. */
    double count = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(st, "count"));
    double total = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(st, "total"));
    if (sl_set_number(st, "count", (count == count ? count : 0) + 1) < 0 ||
        sl_set_number(st, "total", (total == total ? total : 0) +
                                       cJSON_GetNumberValue(input)) < 0) {
        eng_sctx_error(s, "record: out of memory");
        return -ENOMEM;
    }
    return 0;
}

static int sl_iteration(eng_ctx *c, void *arg)
{
    (void)arg;
    const cJSON *msg;
    ENG_TRY(eng_queue_next(c, "wait", "work", -1, &msg));
    /* n stays valid until we return; eng_step copies it. */
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(msg, "n");
    ENG_TRY(eng_step(c, "noop-1", sl_noop, NULL, NULL, NULL));
    ENG_TRY(eng_step(c, "noop-2", sl_noop, NULL, NULL, NULL));
    ENG_TRY(eng_step(c, "noop-3", sl_noop, NULL, NULL, NULL));
    return eng_step(c, "record", sl_record, n, NULL, NULL);
}

static int sl_run(eng_ctx *c)
{
    return eng_loop(c, "loop", sl_iteration, NULL);
}

static const eng_field sl_work_fields[] = {{"n", cJSON_Number}};
static const eng_queue_def sl_queues[] = {{"work", sl_work_fields, 1}};
static const eng_queue_def sink_queues[] = {{"in", NULL, 0}};

int actorfs_register(eng *e)
{
    static const eng_type seedloop = {
        .name = "seedloop",
        .initial_state = "{\"count\":0,\"total\":0}",
        .queues = sl_queues,
        .nqueues = 1,
        .run = sl_run,
    };
    static const eng_type sink = {
        .name = "sink",
        .initial_state = "{}",
        .queues = sink_queues,
        .nqueues = 1,
        .run = NULL,
    };
    int rc = eng_register(e, &seedloop);
    return rc < 0 ? rc : eng_register(e, &sink);
}
