/*
 * hello_plugin.c - a --load plugin that exists only for the tests: a type
 * that nothing compiled into actorfs provides, so its directory in the
 * mount proves the plugin was loaded and its workflow runs with the
 * executable's engine.  Queue "greet" {name}; step "greet" appends the
 * name to state.greeted.
 */
#include "eng.h"

#include <errno.h>

int actorfs_register(eng *e);

static int hello_greet(eng_sctx *s, const cJSON *input, cJSON **output)
{
    *output = NULL;
    cJSON *greeted = cJSON_GetObjectItemCaseSensitive(eng_sctx_state(s), "greeted");
    cJSON *name = cJSON_Duplicate(input, 1);
    if (!cJSON_IsArray(greeted) || name == NULL || !cJSON_AddItemToArray(greeted, name)) {
        cJSON_Delete(name);
        eng_sctx_error(s, "greet: state.greeted is not an array, or out of memory");
        return -EINVAL;
    }
    return 0;
}

static int hello_iteration(eng_ctx *c, void *arg)
{
    (void)arg;
    const cJSON *msg;
    ENG_TRY(eng_queue_next(c, "wait-greet", "greet", -1, &msg));
    return eng_step(c, "greet", hello_greet,
                    cJSON_GetObjectItemCaseSensitive(msg, "name"), NULL, NULL);
}

static int hello_run(eng_ctx *c)
{
    return eng_loop(c, "greet-loop", hello_iteration, NULL);
}

static const eng_field hello_fields[] = {{"name", cJSON_String}};
static const eng_queue_def hello_queues[] = {{"greet", hello_fields, 1}};

int actorfs_register(eng *e)
{
    static const eng_type t = {
        .name = "hello",
        .initial_state = "{\"greeted\":[]}",
        .queues = hello_queues,
        .nqueues = 1,
        .run = hello_run,
    };
    return eng_register(e, &t);
}
