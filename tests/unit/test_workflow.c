/*
 * test_workflow.c - the workflow API's promises, one test each: retries
 * and backoff, exhausted attempts and ctl retry, step timeouts, history
 * divergence (top level and nested), durable sleeps across a restart,
 * join, race with its losers cancelled, queue timeouts and batches, a
 * 10,000-iteration loop whose journal stays bounded, cancel/restart,
 * destroy, and eng_call between actors (which waits until the caller's
 * earlier steps are committed).
 */
#include "helpers.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static eng *E;
static atomic_int runs_a, runs_b, fail_until, saw_cancel;
static atomic_llong attempt_at[8];
static int variant;
static int loop_iters;

static int ok_step(eng_sctx *s, const cJSON *in, cJSON **out)
{
    (void)s;
    atomic_fetch_add(&runs_a, 1);
    *out = in ? cJSON_Duplicate(in, 1) : cJSON_CreateString("a");
    return 0;
}

static int flaky_step(eng_sctx *s, const cJSON *in, cJSON **out)
{
    (void)in;
    int n = atomic_fetch_add(&runs_b, 1) + 1;
    if (n < 8)
        attempt_at[n] = eng_now_ms();
    if (n <= atomic_load(&fail_until)) {
        eng_sctx_error(s, "flaky failure %d", n);
        return -EIO;
    }
    *out = cJSON_CreateNumber(n);
    return 0;
}

static int slow_step(eng_sctx *s, const cJSON *in, cJSON **out)
{
    (void)in;
    atomic_fetch_add(&runs_b, 1);
    for (int i = 0; i < 2500 && !eng_sctx_cancelled(s); i++)
        usleep(2000);
    if (eng_sctx_cancelled(s)) {
        atomic_store(&saw_cancel, 1);
        return -ECANCELED;
    }
    *out = cJSON_CreateString("slow");
    return 0;
}

static int count_step(eng_sctx *s, const cJSON *in, cJSON **out)
{
    (void)in;
    cJSON *st = eng_sctx_state(s);
    cJSON *n = cJSON_GetObjectItem(st, "n");
    double v = (cJSON_IsNumber(n) ? n->valuedouble : 0) + 1;
    cJSON_DeleteItemFromObject(st, "n");
    cJSON_AddNumberToObject(st, "n", v);
    *out = NULL;
    return 0;
}

/* ---- run functions, chosen by the test ---- */

static int run_retry(eng_ctx *c)
{
    eng_step_opts o = {.max_attempts = 3, .backoff_initial_ms = 40,
                       .backoff_factor = 2, .timeout_ms = -1};
    ENG_TRY(eng_step(c, "first", ok_step, NULL, NULL, NULL));
    return eng_step(c, "flaky", flaky_step, NULL, &o, NULL);
}

static int run_timeout(eng_ctx *c)
{
    eng_step_opts o = {.max_attempts = 1, .timeout_ms = 50};
    return eng_step(c, "slow", slow_step, NULL, &o, NULL);
}

static int div_body(eng_ctx *c, void *arg)
{
    (void)arg;
    const cJSON *m;
    ENG_TRY(eng_step(c, variant ? "renamed" : "inner", ok_step, NULL, NULL,
                     NULL));
    ENG_TRY(eng_queue_next(c, "wait", "q", -1, &m));
    return ENG_BREAK;
}

static int run_diverge_top(eng_ctx *c)
{
    const cJSON *m;
    ENG_TRY(eng_step(c, variant ? "x" : "a", ok_step, NULL, NULL, NULL));
    return eng_queue_next(c, "wait", "q", -1, &m);
}

static int run_diverge_nested(eng_ctx *c)
{
    return eng_loop(c, "L", div_body, NULL);
}

static int run_sleep(eng_ctx *c)
{
    ENG_TRY(eng_sleep(c, "nap", 400));
    return eng_step(c, "after", ok_step, NULL, NULL, NULL);
}

static int branch_a(eng_ctx *c, void *arg)
{
    (void)arg;
    return eng_step(c, "s", ok_step, NULL, NULL, NULL);
}

static int branch_b(eng_ctx *c, void *arg)
{
    (void)arg;
    eng_step_opts o = {.max_attempts = 1, .timeout_ms = -1};
    return eng_step(c, "s", slow_step, NULL, &o, NULL);
}

static int branch_c(eng_ctx *c, void *arg)
{
    (void)arg;
    ENG_TRY(eng_step(c, "s1", count_step, NULL, NULL, NULL));
    return eng_step(c, "s2", count_step, NULL, NULL, NULL);
}

static int run_join(eng_ctx *c)
{
    eng_branch b[] = {{"A", branch_a, NULL}, {"C", branch_c, NULL}};
    ENG_TRY(eng_join(c, "j", b, 2));
    return eng_step(c, "after", ok_step, NULL, NULL, NULL);
}

static size_t race_winner = 99;

static int run_race(eng_ctx *c)
{
    eng_branch b[] = {{"fast", branch_a, NULL}, {"slow", branch_b, NULL}};
    size_t w;
    ENG_TRY(eng_race(c, "r", b, 2, &w));
    race_winner = w;
    cJSON *in = cJSON_CreateNumber((double)w);
    int rc = eng_step(c, "after", ok_step, in, NULL, NULL);
    cJSON_Delete(in);
    return rc;
}

static int run_qtimeout(eng_ctx *c)
{
    const cJSON *m, *batch;
    ENG_TRY(eng_queue_next(c, "wait", "q", 500, &m));
    ENG_TRY(eng_step(c, "got", ok_step, m, NULL, NULL));
    ENG_TRY(eng_queue_next_batch(c, "batch", "b", 2, -1, &batch));
    return eng_step(c, "gotbatch", ok_step, batch, NULL, NULL);
}

static int long_body(eng_ctx *c, void *arg)
{
    (void)arg;
    ENG_TRY(eng_step(c, "s", count_step, NULL, NULL, NULL));
    const cJSON *out;
    ENG_TRY(eng_step(c, "check", ok_step, NULL, NULL, &out));
    return --loop_iters <= 0 ? ENG_BREAK : 0;
}

static int run_long(eng_ctx *c)
{
    return eng_loop(c, "L", long_body, NULL);
}

static int wait_body(eng_ctx *c, void *arg)
{
    (void)arg;
    const cJSON *m;
    ENG_TRY(eng_queue_next(c, "wait", "q", -1, &m));
    return eng_step(c, "s", count_step, NULL, NULL, NULL);
}

static int run_waitloop(eng_ctx *c)
{
    return eng_loop(c, "L", wait_body, NULL);
}

/* Commits held: the fault hook, asked before each commit, waits while
 * held is set. */
static pthread_mutex_t hold_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t hold_cv = PTHREAD_COND_INITIALIZER;
static int held;
static atomic_int calling;

static int hold_commits(const char *site, void *ud)
{
    (void)ud;
    pthread_mutex_lock(&hold_mu);
    while (held && strcmp(site, "commit") == 0)
        pthread_cond_wait(&hold_cv, &hold_mu);
    pthread_mutex_unlock(&hold_mu);
    return 0;
}

static void set_held(int v)
{
    pthread_mutex_lock(&hold_mu);
    held = v;
    pthread_cond_broadcast(&hold_cv);
    pthread_mutex_unlock(&hold_mu);
}

static int call_step(eng_sctx *s, const cJSON *in, cJSON **out)
{
    (void)in;
    atomic_store(&calling, 1);
    cJSON *args = cJSON_CreateObject();
    cJSON_AddStringToObject(args, "hello", "world");
    int rc = eng_call(s, "svc", "x", "echo", args, out);
    cJSON_Delete(args);
    return rc;
}

/* Makes the callee (so the call itself commits nothing), then holds
 * every commit: "marked" cannot be committed until the test lets go. */
static int mark_step(eng_sctx *s, const cJSON *in, cJSON **out)
{
    (void)in;
    char err[256];
    int rc = eng_actor_create(eng_sctx_engine(s), "svc", "x", err, sizeof err);
    if (rc < 0) {
        eng_sctx_error(s, "%s", err);
        return rc;
    }
    eng_fault_set(hold_commits, NULL);
    set_held(1);
    cJSON_AddTrueToObject(eng_sctx_state(s), "marked");
    *out = NULL;
    return 0;
}

static int run_call(eng_ctx *c)
{
    ENG_TRY(eng_step(c, "mark", mark_step, NULL, NULL, NULL));
    return eng_step(c, "call", call_step, NULL, NULL, NULL);
}

/* Echoes its args and whether the caller's committed state has "marked". */
static int echo_action(eng_actx *a, const cJSON *args, cJSON **result)
{
    char *json;
    size_t n;
    int rc = eng_state_json(eng_actx_engine(a), "wf", "", &json, &n);
    if (rc < 0)
        return rc;
    cJSON *caller = cJSON_Parse(json);
    free(json);
    *result = cJSON_CreateObject();
    cJSON_AddItemToObject(*result, "args", cJSON_Duplicate(args, 1));
    cJSON_AddStringToObject(*result, "key", eng_actx_key(a));
    cJSON_AddBoolToObject(*result, "callerMarked",
                          cJSON_IsTrue(cJSON_GetObjectItem(caller, "marked")));
    cJSON_Delete(caller);
    return 0;
}

static eng_run_fn chosen;
static int run_chosen(eng_ctx *c)
{
    return chosen(c);
}

static const eng_queue_def wf_queues[] = {{"q", NULL, 0}, {"b", NULL, 0}};
static const eng_action_def svc_actions[] = {{"echo", echo_action, 1}};

static int reg(eng *e)
{
    eng_type t = {.name = "wf", .initial_state = "{}", .queues = wf_queues,
                  .nqueues = 2, .run = run_chosen};
    eng_type svc = {.name = "svc", .initial_state = "{\"svc\":true}",
                    .actions = svc_actions, .nactions = 1};
    int rc = eng_register(e, &t);
    return rc ? rc : eng_register(e, &svc);
}

static const char *status_of(void)
{
    static char buf[64];
    return t_status(E, "wf", "", buf, sizeof buf);
}

static int status_is(void *ud)
{
    return strcmp(status_of(), ud) == 0;
}

static cJSON *status_obj(void)
{
    char *json;
    size_t n;
    ck_assert_int_eq(eng_status_json(E, "wf", "", &json, &n), 0);
    cJSON *j = cJSON_Parse(json);
    free(json);
    return j;
}

static cJSON *entry(const char *path)
{
    char *json;
    size_t n;
    int rc = eng_steps_read(E, "wf", "", path, &json, &n);
    ck_assert_msg(rc == 0, "read %s: %d", path, rc);
    cJSON *j = cJSON_Parse(json);
    free(json);
    return j;
}

static const char *D;

static void open_with(eng_run_fn fn)
{
    chosen = fn;
    D = D ? D : t_tmpdir();
    E = t_open(D, reg, ENG_DURABILITY_NORMAL);
}

static void finish(void)
{
    eng_close(E);
    t_rmrf(D);
    D = NULL;
}

START_TEST(retry_with_backoff)
{
    atomic_store(&fail_until, 2);
    open_with(run_retry);
    ck_assert(t_wait(status_is, "completed", 10000));
    ck_assert_int_eq(atomic_load(&runs_b), 3);
    ck_assert_int_eq(atomic_load(&runs_a), 1);
    ck_assert_int_ge(attempt_at[2] - attempt_at[1], 40);
    ck_assert_int_ge(attempt_at[3] - attempt_at[2], 80);
    cJSON *j = entry("flaky");
    ck_assert_int_eq(cJSON_GetObjectItem(j, "attempts")->valueint, 3);
    ck_assert_str_eq(cJSON_GetObjectItem(j, "status")->valuestring,
                     "completed");
    cJSON_Delete(j);
    finish();
}
END_TEST

START_TEST(exhausted_then_ctl_retry)
{
    atomic_store(&fail_until, 1000);
    open_with(run_retry);
    ck_assert(t_wait(status_is, "failed", 10000));
    cJSON *st = status_obj();
    cJSON *err = cJSON_GetObjectItem(st, "error");
    ck_assert_str_eq(cJSON_GetObjectItem(err, "step")->valuestring, "flaky");
    ck_assert_int_eq(cJSON_GetObjectItem(err, "attempts")->valueint, 3);
    ck_assert_str_eq(cJSON_GetObjectItem(err, "message")->valuestring,
                     "flaky failure 3");
    cJSON_Delete(st);
    char e[128];
    ck_assert_int_eq(eng_ctl(E, "wf", "", "restartx\n", e, sizeof e), -EINVAL);
    atomic_store(&fail_until, 0);
    ck_assert_int_eq(eng_ctl(E, "wf", "", "retry\n", e, sizeof e), 0);
    ck_assert(t_wait(status_is, "completed", 10000));
    ck_assert_int_eq(atomic_load(&runs_a), 1);
    ck_assert_int_eq(atomic_load(&runs_b), 4);
    ck_assert_int_eq(eng_ctl(E, "wf", "", "retry", e, sizeof e), -EINVAL);
    finish();
}
END_TEST

START_TEST(step_timeout)
{
    open_with(run_timeout);
    ck_assert(t_wait(status_is, "failed", 10000));
    cJSON *st = status_obj();
    cJSON *err = cJSON_GetObjectItem(st, "error");
    ck_assert_str_eq(cJSON_GetObjectItem(err, "message")->valuestring,
                     "timed out after 50 ms");
    cJSON_Delete(st);
    finish();
    ck_assert_int_eq(atomic_load(&saw_cancel), 1);
}
END_TEST

static void divergence(eng_run_fn fn, const char *want)
{
    variant = 0;
    open_with(fn);
    ck_assert(t_wait(status_is, "waiting", 10000));
    eng_close(E);
    variant = 1;
    E = t_open(D, reg, ENG_DURABILITY_NORMAL);
    /* an idle waiting actor is replayed when a message wakes it */
    t_enqueue(E, "wf", "", "q", "{}", NULL, 0);
    ck_assert(t_wait(status_is, "failed", 10000));
    cJSON *st = status_obj();
    cJSON *err = cJSON_GetObjectItem(st, "error");
    ck_assert_str_eq(cJSON_GetObjectItem(err, "message")->valuestring, want);
    cJSON_Delete(st);
    ck_assert_int_eq(atomic_load(&runs_a), 1);
    finish();
}

START_TEST(divergence_top_level)
{
    divergence(run_diverge_top,
               "history divergence at x: journal has 'a', code asks for 'x'");
}
END_TEST

START_TEST(divergence_nested)
{
    divergence(run_diverge_nested, "history divergence at L/0/renamed: "
                                   "journal has 'inner', code asks for "
                                   "'renamed'");
}
END_TEST

START_TEST(sleep_survives_restart)
{
    int64_t t0 = eng_now_ms();
    open_with(run_sleep);
    ck_assert(t_wait(status_is, "sleeping", 5000));
    cJSON *st = status_obj();
    ck_assert_int_eq(strncmp(cJSON_GetObjectItem(st, "waitingOn")->valuestring,
                             "timer:", 6),
                     0);
    cJSON_Delete(st);
    eng_close(E);
    ck_assert_int_eq(atomic_load(&runs_a), 0);
    E = t_open(D, reg, ENG_DURABILITY_NORMAL);
    ck_assert(t_wait(status_is, "completed", 10000));
    ck_assert_int_ge(eng_now_ms() - t0, 400);
    ck_assert_int_lt(eng_now_ms() - t0, 5000);
    ck_assert_int_eq(atomic_load(&runs_a), 1);
    finish();
}
END_TEST

START_TEST(join_runs_all)
{
    open_with(run_join);
    ck_assert(t_wait(status_is, "completed", 10000));
    ck_assert_int_eq((int)t_state_num(E, "wf", "", "n"), 2);
    eng_dirent *d;
    size_t n;
    ck_assert_int_eq(eng_steps_list(E, "wf", "", "j", &d, &n), 0);
    ck_assert_int_eq(n, 2);
    ck_assert_str_eq(d[0].name, "A");
    ck_assert_str_eq(d[1].name, "C");
    ck_assert(d[0].is_dir && d[1].is_dir);
    eng_dirents_free(d, n);
    cJSON *j = entry("j/C/s2");
    ck_assert_str_eq(cJSON_GetObjectItem(j, "status")->valuestring,
                     "completed");
    cJSON_Delete(j);
    int is_dir = 0;
    ck_assert_int_eq(eng_steps_stat(E, "wf", "", "j/A", &is_dir), 0);
    ck_assert_int_eq(is_dir, 1);
    char *json;
    size_t len;
    ck_assert_int_eq(eng_steps_read(E, "wf", "", "j", &json, &len), -EISDIR);
    finish();
}
END_TEST

START_TEST(race_cancels_losers)
{
    open_with(run_race);
    ck_assert(t_wait(status_is, "completed", 10000));
    cJSON *j = entry("after");
    ck_assert_int_eq(cJSON_GetObjectItem(j, "output")->valueint, 0);
    cJSON_Delete(j);
    finish();
    ck_assert_int_eq(atomic_load(&saw_cancel), 1);
}
END_TEST

START_TEST(queue_timeout_and_batch)
{
    open_with(run_qtimeout);
    /* queued before the batch wait starts (after the 500 ms timeout) */
    t_enqueue(E, "wf", "", "b", "{\"i\":1}", NULL, 0);
    t_enqueue(E, "wf", "", "b", "{\"i\":2}", NULL, 0);
    t_enqueue(E, "wf", "", "b", "{\"i\":3}", NULL, 0);
    ck_assert(t_wait(status_is, "completed", 10000));
    cJSON *j = entry("got");
    ck_assert(cJSON_IsNull(cJSON_GetObjectItem(j, "output")));
    cJSON_Delete(j);
    j = entry("gotbatch");
    cJSON *out = cJSON_GetObjectItem(j, "output");
    ck_assert_int_eq(cJSON_GetArraySize(out), 2);
    ck_assert_int_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(out, 1), "i")->valueint,
                     2);
    cJSON_Delete(j);
    int64_t *ids;
    size_t n;
    ck_assert_int_eq(eng_messages_list(E, "wf", "", "b", &ids, &n), 0);
    ck_assert_int_eq(n, 1);
    free(ids);
    finish();
}
END_TEST

static int n_is(void *ud)
{
    return t_state_num(E, "wf", "", "n") >= *(int *)ud;
}

START_TEST(long_loop_stays_bounded)
{
    loop_iters = 10000;
    open_with(run_long);
    int want = 10000;
    ck_assert(t_wait(n_is, &want, 240000));
    ck_assert(t_wait(status_is, "completed", 10000));
    ck_assert_int_eq((int)t_state_num(E, "wf", "", "n"), 10000);
    /* the loop, 5 kept iterations and the last: each 3 entries */
    int64_t rows = t_count(E, "journal");
    ck_assert_int_le(rows, 1 + 6 * 3);
    eng_dirent *d;
    size_t n;
    ck_assert_int_eq(eng_steps_list(E, "wf", "", "L", &d, &n), 0);
    ck_assert_int_le(n, 6);
    ck_assert_str_eq(d[n - 1].name, "9999");
    eng_dirents_free(d, n);
    finish();
}
END_TEST

START_TEST(cancel_and_restart)
{
    open_with(run_waitloop);
    ck_assert(t_wait(status_is, "waiting", 10000));
    t_enqueue(E, "wf", "", "q", "{}", NULL, 0);
    int want = 1;
    ck_assert(t_wait(n_is, &want, 10000));
    ck_assert(t_wait(status_is, "waiting", 10000));
    char err[128];
    ck_assert_int_eq(eng_ctl(E, "wf", "", "cancel\n", err, sizeof err), 0);
    ck_assert_str_eq(status_of(), "cancelled");
    t_enqueue(E, "wf", "", "q", "{}", NULL, 0);
    ck_assert_int_eq(eng_ctl(E, "wf", "", "cancel", err, sizeof err), -EINVAL);
    int64_t before = t_count(E, "journal");
    ck_assert_int_eq(eng_ctl(E, "wf", "", "restart\n", err, sizeof err), 0);
    want = 2;
    ck_assert(t_wait(n_is, &want, 10000));
    ck_assert(t_wait(status_is, "waiting", 10000));
    cJSON *st = status_obj();
    ck_assert_int_eq(cJSON_GetObjectItem(st, "run")->valueint, 2);
    cJSON_Delete(st);
    ck_assert_int_gt(t_count(E, "journal"), before);
    finish();
}
END_TEST

static int run_keyed(eng_ctx *c)
{
    if (strcmp(eng_ctx_key(c), "busy") == 0)
        return branch_b(c, NULL);
    return run_waitloop(c);
}

static int slow_started(void *ud)
{
    (void)ud;
    return atomic_load(&runs_b) >= 1;
}

START_TEST(destroy_idle_and_busy)
{
    open_with(run_keyed);
    char err[128];
    ck_assert_int_eq(eng_actor_create(E, "wf", "busy", err, sizeof err), 0);
    ck_assert(t_wait(slow_started, NULL, 10000));
    ck_assert_int_eq(eng_actor_destroy(E, "wf", "busy", err, sizeof err),
                     -EBUSY);
    ck_assert(t_wait(status_is, "waiting", 10000));
    ck_assert_int_eq(t_count(E, "actors"), 2);
    ck_assert_int_eq(eng_actor_destroy(E, "wf", "", err, sizeof err), 0);
    ck_assert_int_eq(eng_actor_exists(E, "wf", ""), -ENOENT);
    ck_assert_int_eq(eng_actor_exists(E, "wf", "busy"), 0);
    ck_assert_int_eq(t_count(E, "actors"), 1);
    ck_assert_int_eq(t_count(E, "state"), 1);
    ck_assert_int_eq(eng_actor_destroy(E, "wf", "nope", err, sizeof err),
                     -ENOENT);
    finish();
}
END_TEST

static int is_set(void *ud)
{
    return atomic_load((atomic_int *)ud) != 0;
}

START_TEST(call_other_actor)
{
    open_with(run_call);
    /* Let the commits go once the call has begun: an eng_call that did not
     * wait for them would run the action now and see no "marked". */
    ck_assert(t_wait(is_set, &calling, 10000));
    set_held(0);
    ck_assert(t_wait(status_is, "completed", 10000));
    eng_fault_set(NULL, NULL);
    cJSON *j = entry("call");
    cJSON *out = cJSON_GetObjectItem(j, "output");
    ck_assert_str_eq(cJSON_GetObjectItem(out, "key")->valuestring, "x");
    ck_assert_str_eq(
        cJSON_GetObjectItem(cJSON_GetObjectItem(out, "args"), "hello")->valuestring,
        "world");
    /* the step before the call was committed before the call */
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(out, "callerMarked")));
    cJSON_Delete(j);
    ck_assert_int_eq(eng_actor_exists(E, "svc", "x"), 0);
    eng_strv sv;
    ck_assert_int_eq(eng_actor_list(E, &sv), 0);
    ck_assert_int_eq(sv.n, 2);
    ck_assert_str_eq(sv.v[0], "svc@x");
    ck_assert_str_eq(sv.v[1], "wf");
    eng_strv_free(&sv);
    finish();
}
END_TEST

int main(void)
{
    Suite *s = suite_create("workflow");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, retry_with_backoff);
    tcase_add_test(tc, exhausted_then_ctl_retry);
    tcase_add_test(tc, step_timeout);
    tcase_add_test(tc, divergence_top_level);
    tcase_add_test(tc, divergence_nested);
    tcase_add_test(tc, sleep_survives_restart);
    tcase_add_test(tc, join_runs_all);
    tcase_add_test(tc, race_cancels_losers);
    tcase_add_test(tc, queue_timeout_and_batch);
    tcase_add_test(tc, cancel_and_restart);
    tcase_add_test(tc, destroy_idle_and_busy);
    tcase_add_test(tc, call_other_actor);
    suite_add_tcase(s, tc);
    TCase *tl = tcase_create("long");
    tcase_set_timeout(tl, 280);
    tcase_add_test(tl, long_loop_stays_bounded);
    suite_add_tcase(s, tl);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
