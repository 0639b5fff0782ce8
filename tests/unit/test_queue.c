/*
 * test_queue.c - the enqueue side: bad input is refused with the right
 * errno and a readable reason and changes nothing; idempotency keys;
 * cancelling pending messages; and an injected commit failure is reported
 * as -EIO, never as success, while the engine keeps serving.  Also what
 * pipelined commits promise: with every commit held, a workflow still
 * takes its message and moves from step to step, the store shows none of
 * it, and the message it took ahead cannot be cancelled.
 */
#include "examples.h"
#include "helpers.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static eng *E;
static const char *D;

static void start(void)
{
    D = t_tmpdir();
    E = t_open(D, counter_register, ENG_DURABILITY_NORMAL);
}

static void finish(void)
{
    eng_close(E);
    t_rmrf(D);
}

static int count_is(void *ud)
{
    return t_state_num(E, "counter", "", "count") == *(double *)ud;
}

/* Enqueues and expects rc with a reason containing want. */
static void refused(const char *type, const char *key, const char *queue,
                    const char *body, size_t len, int rc, const char *want)
{
    char err[256] = "";
    int64_t msgs = t_count(E, "messages"), evs = t_count(E, "events");
    int got = eng_enqueue(E, type, key, queue, body, len, NULL, NULL, err,
                          sizeof err);
    ck_assert_msg(got == rc, "enqueue: got %d (%s), want %d", got, err, rc);
    ck_assert_msg(strstr(err, want), "reason '%s' lacks '%s'", err, want);
    char err2[256] = "";
    if (rc != -ENOENT || strcmp(type, "counter") != 0 || key[0] == 0) {
        got = eng_message_check(E, type, queue, body, len, err2, sizeof err2);
        ck_assert_int_eq(got, rc);
    }
    ck_assert_int_eq(t_count(E, "messages"), msgs);
    ck_assert_int_eq(t_count(E, "events"), evs);
}

static int waiting(void *ud)
{
    char buf[32];
    (void)ud;
    return strcmp(t_status(E, "counter", "", buf, sizeof buf), "waiting") == 0;
}

START_TEST(bad_input_changes_nothing)
{
    start();
    ck_assert(t_wait(waiting, NULL, 5000));
    const char *bad = "{\"n\": 1,,}";
    refused("counter", "", "add", bad, strlen(bad), -EINVAL,
            "invalid JSON at byte ");
    refused("counter", "", "add", "{\"n\":1} x", 9, -EINVAL, "trailing");
    refused("counter", "", "add", "{\"n\":1,\"s\":\"a\0b\"}", 18, -EINVAL,
            "at byte 13: a NUL byte");
    refused("counter", "", "add", "   ", 3, -EINVAL, "empty");
    refused("counter", "", "add", "[1]", 3, -EINVAL, "JSON object");
    refused("counter", "", "add", "{\"m\":1}", 7, -EINVAL,
            "missing required field 'n' (number)");
    refused("counter", "", "add", "{\"n\":\"1\"}", 9, -EINVAL,
            "field 'n' must be a number, not a string");
    size_t big = (1 << 20) + 1;
    char *huge = malloc(big + 1);
    memset(huge, ' ', big);
    memcpy(huge, "{\"n\":1}", 7);
    huge[big] = 0;
    refused("counter", "", "add", huge, big, -EFBIG, "limit is 1048576");
    free(huge);
    refused("nosuch", "", "add", "{\"n\":1}", 7, -ENOENT, "unknown actor type");
    refused("counter", "", "nosuch", "{\"n\":1}", 7, -ENOENT, "no queue");
    refused("counter", "ghost", "add", "{\"n\":1}", 7, -ENOENT, "no actor");
    /* and the state never moved */
    ck_assert_int_eq((int)t_state_num(E, "counter", "", "count"), 0);
    t_enqueue(E, "counter", "", "add", "{\"n\":2}\n", NULL, 0);
    double want = 1;
    ck_assert(t_wait(count_is, &want, 5000));
    finish();
}
END_TEST

START_TEST(idempotency_keys)
{
    start();
    ck_assert_int_eq(eng_key_check(E, "counter", "", "add", "job-1"), 0);
    t_enqueue(E, "counter", "", "add", "{\"n\":1}", "job-1", 0);
    t_enqueue(E, "counter", "", "add", "{\"n\":1}", "job-1", -EEXIST);
    double want = 1;
    ck_assert(t_wait(count_is, &want, 5000));
    /* taken, still remembered */
    ck_assert_int_eq(eng_key_check(E, "counter", "", "add", "job-1"), -EEXIST);
    t_enqueue(E, "counter", "", "add", "{\"n\":1}", "job-1", -EEXIST);
    t_enqueue(E, "counter", "", "add", "{\"n\":1}", "job-2", 0);
    want = 2;
    ck_assert(t_wait(count_is, &want, 5000));
    t_enqueue(E, "counter", "", "add", "{\"n\":1}", "bad/key", -EINVAL);
    ck_assert_int_eq((int)t_state_num(E, "counter", "", "total"), 2);
    finish();
}
END_TEST

static int cancel_reg(eng *e)
{
    /* counter without a workflow: messages stay pending */
    static const eng_field f[] = {{"n", cJSON_Number}};
    static const eng_queue_def q[] = {{"add", f, 1}};
    eng_type t = {.name = "counter", .initial_state = "{}", .queues = q,
                  .nqueues = 1};
    return eng_register(e, &t);
}

START_TEST(cancel_pending)
{
    D = t_tmpdir();
    E = t_open(D, cancel_reg, ENG_DURABILITY_NORMAL);
    char err[256];
    int64_t id1, id2;
    ck_assert_int_eq(eng_enqueue(E, "counter", "", "add", "{\"n\":1}", 7, NULL,
                                 &id1, err, sizeof err),
                     0);
    /* The space around the value goes; the value is kept as written. */
    ck_assert_int_eq(eng_enqueue(E, "counter", "", "add", " {\"n\": 2}\n", 10,
                                 "k", &id2, err, sizeof err),
                     0);
    ck_assert_int_gt(id2, id1);
    int64_t *ids;
    size_t n;
    ck_assert_int_eq(eng_messages_list(E, "counter", "", "add", &ids, &n), 0);
    ck_assert_int_eq(n, 2);
    ck_assert_int_eq(ids[0], id1);
    free(ids);
    char *json;
    size_t len;
    ck_assert_int_eq(eng_message_read(E, "counter", "", "add", id2, &json, &len),
                     0);
    ck_assert_str_eq(json, "{\"n\": 2}\n");
    ck_assert_uint_eq(len, 9);
    free(json);
    ck_assert_int_eq(eng_message_cancel(E, "counter", "", "add", id2, err,
                                        sizeof err),
                     0);
    ck_assert_int_eq(eng_message_cancel(E, "counter", "", "add", id2, err,
                                        sizeof err),
                     -ENOENT);
    ck_assert_int_eq(eng_message_read(E, "counter", "", "add", id2, &json, &len),
                     -ENOENT);
    /* the key of a cancelled message is free again */
    ck_assert_int_eq(eng_key_check(E, "counter", "", "add", "k"), 0);
    ck_assert_int_eq(eng_messages_list(E, "counter", "", "add", &ids, &n), 0);
    ck_assert_int_eq(n, 1);
    free(ids);
    eng_close(E);
    t_rmrf(D);
}
END_TEST

/* Message ids name messages in the events journal and under queues/, so
 * the id of a cancelled newest message is never given again, not even
 * after a restart (the store no longer uses AUTOINCREMENT). */
START_TEST(cancelled_ids_are_not_reused)
{
    D = t_tmpdir();
    E = t_open(D, cancel_reg, ENG_DURABILITY_NORMAL);
    char err[256];
    int64_t id1, id2, id3;
    ck_assert_int_eq(eng_enqueue(E, "counter", "", "add", "{\"n\":1}", 7, NULL,
                                 &id1, err, sizeof err),
                     0);
    ck_assert_int_eq(eng_message_cancel(E, "counter", "", "add", id1, err,
                                        sizeof err),
                     0);
    ck_assert_int_eq(eng_enqueue(E, "counter", "", "add", "{\"n\":2}", 7, NULL,
                                 &id2, err, sizeof err),
                     0);
    ck_assert_int_gt(id2, id1);
    ck_assert_int_eq(eng_message_cancel(E, "counter", "", "add", id2, err,
                                        sizeof err),
                     0);
    eng_close(E);
    E = t_open(D, cancel_reg, ENG_DURABILITY_NORMAL);
    ck_assert_int_eq(eng_enqueue(E, "counter", "", "add", "{\"n\":3}", 7, NULL,
                                 &id3, err, sizeof err),
                     0);
    ck_assert_int_gt(id3, id2);
    eng_close(E);
    t_rmrf(D);
}
END_TEST

START_TEST(cancel_taken_is_busy)
{
    start();
    char err[256];
    int64_t id;
    ck_assert_int_eq(eng_enqueue(E, "counter", "", "add", "{\"n\":1}", 7, NULL,
                                 &id, err, sizeof err),
                     0);
    double want = 1;
    ck_assert(t_wait(count_is, &want, 5000));
    ck_assert_int_eq(eng_message_cancel(E, "counter", "", "add", id, err,
                                        sizeof err),
                     -EBUSY);
    ck_assert_ptr_nonnull(strstr(err, "already taken"));
    finish();
}
END_TEST

static int fail_commits;
static int fault(const char *site, void *ud)
{
    (void)ud;
    return fail_commits && strcmp(site, "commit") == 0 ? -EIO : 0;
}

START_TEST(commit_failure_is_eio)
{
    start();
    eng_fault_set(fault, NULL);
    fail_commits = 1;
    char err[256] = "";
    int rc = eng_enqueue(E, "counter", "", "add", "{\"n\":5}", 7, "once", NULL,
                         err, sizeof err);
    ck_assert_int_eq(rc, -EIO);
    ck_assert_ptr_nonnull(strstr(err, "not stored"));
    fail_commits = 0;
    ck_assert_int_eq(t_count(E, "messages"), 0);
    /* the key was not used: the refused message does not exist */
    t_enqueue(E, "counter", "", "add", "{\"n\":3}", "once", 0);
    double want = 1;
    ck_assert(t_wait(count_is, &want, 5000));
    ck_assert_int_eq((int)t_state_num(E, "counter", "", "total"), 3);
    eng_fault_set(NULL, NULL);
    finish();
}
END_TEST

/* Every 3rd commit fails: each acknowledged message counts exactly once,
 * each refused one not at all, and the workflow recovers by itself. */
START_TEST(every_third_commit_fails)
{
    setenv("ACTORFS_FAULT_COMMIT", "3", 1);
    start();
    int acked = 0, total = 0;
    for (int i = 1; i <= 15; i++) {
        char body[32], err[256];
        snprintf(body, sizeof body, "{\"n\":%d}", i);
        int rc = eng_enqueue(E, "counter", "", "add", body, strlen(body), NULL,
                             NULL, err, sizeof err);
        ck_assert_msg(rc == 0 || rc == -EIO, "enqueue: %d", rc);
        if (rc == 0) {
            acked++;
            total += i;
        }
    }
    ck_assert_int_gt(acked, 0);
    ck_assert_int_lt(acked, 15);
    /* A deterministic fault pattern can starve the workflow's own commits;
     * reopened without faults it must finish exactly the acked work. */
    eng_close(E);
    unsetenv("ACTORFS_FAULT_COMMIT");
    E = t_open(D, counter_register, ENG_DURABILITY_NORMAL);
    double want = acked;
    ck_assert(t_wait(count_is, &want, 30000));
    ck_assert_int_eq((int)t_state_num(E, "counter", "", "total"), total);
    finish();
}
END_TEST

/* Commits held: the fault hook, asked before each commit, waits while
 * held is set. */
static pthread_mutex_t hold_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t hold_cv = PTHREAD_COND_INITIALIZER;
static int held;
static atomic_int ran_one, ran_two;

static int hold_commits(const char *site, void *ud)
{
    (void)ud;
    if (strcmp(site, "commit") != 0)
        return 0;
    pthread_mutex_lock(&hold_mu);
    while (held)
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

/* Holds every commit from here on, so nothing after the take commits. */
static int step_one(eng_sctx *s, const cJSON *in, cJSON **out)
{
    (void)s;
    (void)in;
    set_held(1);
    atomic_fetch_add(&ran_one, 1);
    *out = NULL;
    return 0;
}

static int step_two(eng_sctx *s, const cJSON *in, cJSON **out)
{
    (void)in;
    cJSON *st = eng_sctx_state(s);
    cJSON_DeleteItemFromObject(st, "count");
    cJSON_AddNumberToObject(st, "count", 1);
    atomic_fetch_add(&ran_two, 1);
    *out = NULL;
    return 0;
}

static int pipe_body(eng_ctx *c, void *arg)
{
    (void)arg;
    const cJSON *m;
    ENG_TRY(eng_queue_next(c, "wait", "in", -1, &m));
    ENG_TRY(eng_step(c, "one", step_one, NULL, NULL, NULL));
    return eng_step(c, "two", step_two, NULL, NULL, NULL);
}

static int pipe_run(eng_ctx *c)
{
    return eng_loop(c, "L", pipe_body, NULL);
}

static int pipe_reg(eng *e)
{
    static const eng_queue_def q[] = {{"in", NULL, 0}};
    eng_type t = {.name = "pipe", .initial_state = "{\"count\":0}",
                  .queues = q, .nqueues = 1, .run = pipe_run};
    return eng_register(e, &t);
}

static int atomic_is_one(void *ud)
{
    return atomic_load((atomic_int *)ud) == 1;
}

static int pipe_waiting(void *ud)
{
    char buf[32];
    (void)ud;
    return strcmp(t_status(E, "pipe", "", buf, sizeof buf), "waiting") == 0;
}

static int pipe_count_is_one(void *ud)
{
    (void)ud;
    return t_state_num(E, "pipe", "", "count") == 1;
}

START_TEST(steps_go_on_before_their_commit)
{
    D = t_tmpdir();
    E = t_open(D, pipe_reg, ENG_DURABILITY_NORMAL);
    /* parked on its empty queue, so the message is taken ahead */
    ck_assert(t_wait(pipe_waiting, NULL, 5000));
    eng_fault_set(hold_commits, NULL);
    char err[256];
    int64_t id;
    ck_assert_int_eq(eng_enqueue(E, "pipe", "", "in", "{}", 2, NULL, &id, err,
                                 sizeof err),
                     0);
    ck_assert(t_wait(atomic_is_one, &ran_two, 5000));
    ck_assert_int_eq(atomic_load(&ran_one), 1);
    /* step two ran although step one's completion is not committed */
    ck_assert_int_eq((int)t_state_num(E, "pipe", "", "count"), 0);
    /* taken ahead of its commit: busy, answered without a commit */
    ck_assert_int_eq(eng_message_cancel(E, "pipe", "", "in", id, err,
                                        sizeof err),
                     -EBUSY);
    set_held(0);
    ck_assert(t_wait(pipe_count_is_one, NULL, 5000));
    int64_t *ids;
    size_t n;
    ck_assert_int_eq(eng_messages_list(E, "pipe", "", "in", &ids, &n), 0);
    ck_assert_uint_eq(n, 0);
    free(ids);
    eng_fault_set(NULL, NULL);
    eng_close(E);
    ck_assert_int_eq(atomic_load(&ran_one), 1);
    ck_assert_int_eq(atomic_load(&ran_two), 1);
    t_rmrf(D);
}
END_TEST

START_TEST(names)
{
    char t[64], k[64];
    ck_assert_int_eq(eng_actor_parse("bugFixer@acme", t, sizeof t, k, sizeof k),
                     0);
    ck_assert_str_eq(t, "bugFixer");
    ck_assert_str_eq(k, "acme");
    ck_assert_int_eq(eng_actor_parse("counter", t, sizeof t, k, sizeof k), 0);
    ck_assert_str_eq(k, "");
    ck_assert_int_eq(eng_actor_parse("a b", t, sizeof t, k, sizeof k), -EINVAL);
    ck_assert_int_eq(eng_actor_parse("x@", t, sizeof t, k, sizeof k), -EINVAL);
    ck_assert_int_eq(eng_actor_parse("@k", t, sizeof t, k, sizeof k), -EINVAL);
    char longname[300];
    memset(longname, 'k', sizeof longname);
    memcpy(longname, "counter@", 8);
    longname[8 + 230] = 0;
    char kb[512];
    ck_assert_int_eq(eng_actor_parse(longname, t, sizeof t, kb, sizeof kb),
                     -ENAMETOOLONG);
    ck_assert_int_eq(eng_name_ok("ok-name.json"), 1);
    ck_assert_int_eq(eng_name_ok(".."), 0);
    ck_assert_int_eq(eng_name_ok("a/b"), 0);
    ck_assert_int_eq(eng_name_ok("a\nb"), 0);
    ck_assert_int_eq(eng_name_ok(""), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("queue");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, bad_input_changes_nothing);
    tcase_add_test(tc, idempotency_keys);
    tcase_add_test(tc, cancel_pending);
    tcase_add_test(tc, cancelled_ids_are_not_reused);
    tcase_add_test(tc, cancel_taken_is_busy);
    tcase_add_test(tc, steps_go_on_before_their_commit);
    tcase_add_test(tc, commit_failure_is_eio);
    tcase_add_test(tc, every_third_commit_fails);
    tcase_add_test(tc, names);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
