/*
 * test_replay.c - replay must agree with in-memory continuation.  One
 * workflow using every kind of suspension (queue wait, step with state,
 * sleep, join, loop, a final step) runs three ways: straight through;
 * closed and reopened after every bit of progress (so it is replayed
 * from the journal at each suspension point); and with evict_always (so
 * every suspension evicts and replays).  All three must end with the same
 * journal and state, and no step may run twice.
 */
#include "helpers.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static eng *E;
static atomic_int step_runs;
static atomic_int progress;

static int add_step(eng_sctx *s, const cJSON *in, cJSON **out)
{
    atomic_fetch_add(&step_runs, 1);
    cJSON *st = eng_sctx_state(s);
    const cJSON *n = cJSON_GetObjectItem(in, "n");
    cJSON *t = cJSON_GetObjectItem(st, "total");
    double total = (cJSON_IsNumber(t) ? t->valuedouble : 0) + n->valuedouble;
    cJSON_DeleteItemFromObject(st, "total");
    cJSON_AddNumberToObject(st, "total", total);
    *out = cJSON_CreateNumber(total);
    return 0;
}

static int tag_step(eng_sctx *s, const cJSON *in, cJSON **out)
{
    (void)s;
    atomic_fetch_add(&step_runs, 1);
    *out = cJSON_Duplicate(in, 1);
    return 0;
}

/* Adds IN to the state's log, kept sorted: the join's two branches push
 * at the same time, so the order they finish in is not the workflow's,
 * and runs compared with each other must not depend on it. */
static int push_step(eng_sctx *s, const cJSON *in, cJSON **out)
{
    atomic_fetch_add(&step_runs, 1);
    cJSON *st = eng_sctx_state(s);
    const cJSON *log = cJSON_GetObjectItem(st, "log");
    cJSON *sorted = cJSON_CreateArray();
    int placed = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, log)
    {
        if (!placed && strcmp(e->valuestring, in->valuestring) > 0) {
            cJSON_AddItemToArray(sorted, cJSON_Duplicate(in, 1));
            placed = 1;
        }
        cJSON_AddItemToArray(sorted, cJSON_Duplicate(e, 1));
    }
    if (!placed)
        cJSON_AddItemToArray(sorted, cJSON_Duplicate(in, 1));
    cJSON_DeleteItemFromObject(st, "log");
    cJSON_AddItemToObject(st, "log", sorted);
    *out = NULL;
    return 0;
}

static int br_a(eng_ctx *c, void *arg)
{
    cJSON *in = cJSON_CreateString((const char *)arg);
    int rc = eng_step(c, "a", push_step, in, NULL, NULL);
    cJSON_Delete(in);
    return rc;
}

static int br_b(eng_ctx *c, void *arg)
{
    (void)arg;
    cJSON *in = cJSON_CreateString("b1");
    int rc = eng_step(c, "b1", tag_step, in, NULL, NULL);
    cJSON_Delete(in);
    if (rc)
        return rc;
    in = cJSON_CreateString("b2");
    rc = eng_step(c, "b2", push_step, in, NULL, NULL);
    cJSON_Delete(in);
    return rc;
}

static int body(eng_ctx *c, void *arg)
{
    (void)arg;
    const cJSON *msg;
    ENG_TRY(eng_queue_next(c, "wait", "q", -1, &msg));
    const cJSON *total;
    ENG_TRY(eng_step(c, "add", add_step, msg, NULL, &total));
    ENG_TRY(eng_sleep(c, "nap", 5));
    eng_branch b[] = {{"A", br_a, "a"}, {"B", br_b, NULL}};
    ENG_TRY(eng_join(c, "j", b, 2));
    return cJSON_IsTrue(cJSON_GetObjectItem(msg, "last")) ? ENG_BREAK : 0;
}

static int run(eng_ctx *c)
{
    ENG_TRY(eng_loop(c, "L", body, NULL));
    cJSON *in = cJSON_CreateString("done");
    int rc = eng_step(c, "final", push_step, in, NULL, NULL);
    cJSON_Delete(in);
    return rc;
}

static const eng_queue_def queues[] = {{"q", NULL, 0}};

static int reg(eng *e)
{
    eng_type t = {.name = "rp", .initial_state = "{\"total\":0}",
                  .queues = queues, .nqueues = 1, .run = run};
    return eng_register(e, &t);
}

static void on_watch(const eng_event *ev, void *ud)
{
    (void)ud;
    if (ev->kind == ENG_EV_ENTRY_UPDATED || ev->kind == ENG_EV_ENTRY_CREATED)
        atomic_fetch_add(&progress, 1);
}

static eng *open_at(const char *dir, int evict)
{
    eng_config cfg = {.data_dir = dir, .durability = ENG_DURABILITY_NORMAL,
                      .evict_always = evict};
    char err[256];
    eng *e;
    ck_assert_int_eq(eng_open(&cfg, &e, err, sizeof err), 0);
    ck_assert_int_eq(reg(e), 0);
    eng_watch(e, on_watch, NULL);
    ck_assert_int_eq(eng_start(e, err, sizeof err), 0);
    return e;
}

static int completed(void *ud)
{
    (void)ud;
    char buf[32];
    return strcmp(t_status(E, "rp", "", buf, sizeof buf), "completed") == 0;
}

static int moved(void *ud)
{
    return atomic_load(&progress) > *(int *)ud || completed(NULL);
}

static int cmp(const void *x, const void *y)
{
    return strcmp(*(char *const *)x, *(char *const *)y);
}

/* The journal of the current run, without timestamps, plus the state. */
static char *dump(eng *e)
{
    eng__conn *c;
    ck_assert_int_eq(e->so->rget(e->st, &c), 0);
    int64_t id;
    ck_assert_int_eq(e->so->r_actor_id(c, "rp", "", &id), 0);
    eng__status st = {0};
    ck_assert_int_eq(e->so->r_status(c, id, &st), 0);
    eng__entry *v;
    size_t n;
    ck_assert_int_eq(e->so->r_entries(c, id, st.run, &v, &n), 0);
    char *state;
    ck_assert_int_eq(e->so->r_state(c, id, &state), 0);
    e->so->rput(e->st, c);
    char **lines = calloc(n, sizeof *lines);
    size_t total = strlen(state) + 2;
    for (size_t i = 0; i < n; i++) {
        ck_assert_int_ge(asprintf(&lines[i], "%s|%d|%d|%d|%d|%s|%lld\n",
                                  v[i].path, v[i].seq, v[i].kind, v[i].status,
                                  v[i].attempts,
                                  v[i].output ? v[i].output : "-",
                                  (long long)v[i].iter),
                         0);
        total += strlen(lines[i]);
    }
    qsort(lines, n, sizeof *lines, cmp);
    char *out = calloc(1, total);
    for (size_t i = 0; i < n; i++) {
        strcat(out, lines[i]);
        free(lines[i]);
    }
    strcat(out, state);
    free(lines);
    free(state);
    eng__entries_free(v, n);
    eng__status_clear(&st);
    return out;
}

static const char *const msgs[] = {"{\"n\":1}", "{\"n\":2}",
                                   "{\"n\":3,\"last\":true}"};

static void feed(eng *e)
{
    for (int i = 0; i < 3; i++)
        t_enqueue(e, "rp", "", "q", msgs[i], NULL, 0);
}

static char *straight(int evict)
{
    const char *dir = t_tmpdir();
    E = open_at(dir, evict);
    feed(E);
    ck_assert(t_wait(completed, NULL, 20000));
    char *d = dump(E);
    eng_close(E);
    t_rmrf(dir);
    return d;
}

/* three iterations of add, a, b1, b2; then final */
#define STEPS 13

START_TEST(replay_matches_straight_run)
{
    char *ref = straight(0);
    ck_assert_int_eq(atomic_load(&step_runs), STEPS);
    ck_assert_ptr_nonnull(strstr(ref, "\"total\":6"));
    ck_assert_ptr_nonnull(strstr(ref, "L/2/j/B/b2|"));

    atomic_store(&step_runs, 0);
    char *ev = straight(1);
    ck_assert_str_eq(ev, ref);
    ck_assert_int_eq(atomic_load(&step_runs), STEPS);
    free(ev);

    atomic_store(&step_runs, 0);
    const char *dir = t_tmpdir();
    int reopens = 0;
    /* A run goes on without waiting for its commits, so one life can get
     * far: each of the first three lives gets one message, so every
     * iteration starts in a life that replayed the journal. */
    for (;;) {
        E = open_at(dir, 0);
        if (reopens < 3)
            t_enqueue(E, "rp", "", "q", msgs[reopens], NULL, 0);
        int before = atomic_load(&progress);
        ck_assert(t_wait(moved, &before, 20000));
        int done = completed(NULL);
        if (done) {
            char *d = dump(E);
            ck_assert_str_eq(d, ref);
            free(d);
        }
        eng_close(E);
        reopens++;
        if (done)
            break;
        ck_assert_int_lt(reopens, 500);
    }
    ck_assert_int_eq(atomic_load(&step_runs), STEPS);
    t_rmrf(dir);
    free(ref);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("replay");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, replay_matches_straight_run);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
