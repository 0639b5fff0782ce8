/*
 * test_fault.c - a failed commit loses nothing.  A short loop workflow (a
 * queue wait, a durable sleep and a step that changes the state) works
 * through a few messages while exactly one commit fails, at each position
 * in turn.  The failing commit is held a moment after the actor is woken,
 * as a message arriving just then would wake it, so a run from memory
 * races the failure: a run that took the failed step completion for done
 * used to advance the loop durably and lose the step.  Every acknowledged
 * message must be counted exactly once and every iteration's step
 * journaled as completed.
 */
#include "helpers.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NMSG 3

static eng *E;
static atomic_int asks;    /* commits asked about since armed */
static atomic_int fail_at; /* the commit that fails; 0: none */

static int add_step(eng_sctx *s, const cJSON *in, cJSON **out)
{
    cJSON *st = eng_sctx_state(s);
    cJSON *count = cJSON_GetObjectItem(st, "count");
    cJSON *sum = cJSON_GetObjectItem(st, "sum");
    const cJSON *n = cJSON_GetObjectItem(in, "n");
    cJSON_SetNumberValue(count, count->valuedouble + 1);
    cJSON_SetNumberValue(sum, sum->valuedouble + n->valuedouble);
    *out = NULL;
    return 0;
}

static int body(eng_ctx *c, void *arg)
{
    (void)arg;
    const cJSON *msg;
    ENG_TRY(eng_queue_next(c, "wait", "job", -1, &msg));
    ENG_TRY(eng_sleep(c, "nap", 1));
    return eng_step(c, "add", add_step, msg, NULL, NULL);
}

static int run(eng_ctx *c)
{
    return eng_loop(c, "jobs", body, NULL);
}

static int reg(eng *e)
{
    static const eng_field f[] = {{"n", cJSON_Number}};
    static const eng_queue_def q[] = {{"job", f, 1}};
    static const eng_type t = {.name = "tally",
                               .initial_state = "{\"count\":0,\"sum\":0}",
                               .queues = q,
                               .nqueues = 1,
                               .run = run};
    return eng_register(e, &t);
}

static int queued(void)
{
    pthread_mutex_lock(&E->cmu);
    int q = E->q_head != NULL;
    pthread_mutex_unlock(&E->cmu);
    return q;
}

/* On the committer thread, before each commit. */
static int fault(const char *site, void *ud)
{
    (void)ud;
    if (strcmp(site, "commit") != 0 ||
        atomic_fetch_add(&asks, 1) + 1 != atomic_load(&fail_at))
        return 0;
    eng__enqueued(E, "tally", "", "job");
    /* Up to 200 ms for the woken run to hand over its writes, so they
     * are queued behind the commit that is about to fail. */
    for (int i = 0; i < 100 && !queued(); i++)
        nanosleep(&(struct timespec){0, 2000000}, NULL);
    return -EIO;
}

static int waiting(void *ud)
{
    char buf[32];
    (void)ud;
    return strcmp(t_status(E, "tally", "", buf, sizeof buf), "waiting") == 0;
}

static int count_is(void *ud)
{
    return t_state_num(E, "tally", "", "count") == *(int *)ud;
}

/* Occurrences of NEEDLE in the actor's events. */
static int events_with(const char *needle)
{
    uint64_t size;
    ck_assert_int_eq(eng_events_size(E, "tally", "", &size), 0);
    char *buf;
    size_t len;
    ck_assert_int_eq(eng_events_read(E, "tally", "", 0, (size_t)size, &buf,
                                     &len),
                     0);
    char *txt = strndup(buf, len);
    free(buf);
    int n = 0;
    for (const char *p = txt; (p = strstr(p, needle)); p++)
        n++;
    free(txt);
    return n;
}

/* Runs NMSG messages with commit FAIL (0: none) failing; returns how many
 * commits were asked for. */
static int run_with_fault(int fail)
{
    const char *dir = t_tmpdir();
    E = t_open(dir, reg, ENG_DURABILITY_NORMAL);
    ck_assert(t_wait(waiting, NULL, 5000));
    atomic_store(&asks, 0);
    atomic_store(&fail_at, fail);
    eng_fault_set(fault, NULL);
    int acked = 0, sum = 0;
    for (int i = 0; i < NMSG; i++) {
        char b[32], err[256] = "";
        int n = 1 << i;
        snprintf(b, sizeof b, "{\"n\":%d}", n);
        int rc = eng_enqueue(E, "tally", "", "job", b, strlen(b), NULL, NULL,
                             err, sizeof err);
        ck_assert_msg(rc == 0 || rc == -EIO, "enqueue: %d (%s)", rc, err);
        if (rc == 0) {
            acked++;
            sum += n;
        }
    }
    ck_assert_msg(t_wait(count_is, &acked, 10000),
                  "commit %d failed: count %g, %d acknowledged", fail,
                  t_state_num(E, "tally", "", "count"), acked);
    ck_assert(t_wait(waiting, NULL, 5000));
    ck_assert_int_eq((int)t_state_num(E, "tally", "", "count"), acked);
    ck_assert_int_eq((int)t_state_num(E, "tally", "", "sum"), sum);
    ck_assert_int_eq(events_with("\"type\":\"state.changed\""), acked);
    for (int i = 0; i < acked; i++) {
        char done[96];
        snprintf(done, sizeof done,
                 "\"type\":\"step.completed\",\"path\":\"jobs/%d/add\"", i);
        ck_assert_msg(events_with(done) == 1,
                      "commit %d failed: jobs/%d/add completed %d times", fail,
                      i, events_with(done));
    }
    eng_fault_set(NULL, NULL);
    int n = atomic_load(&asks);
    eng_close(E);
    t_rmrf(dir);
    return n;
}

START_TEST(one_failed_commit_at_each_position)
{
    int commits = run_with_fault(0);
    ck_assert_int_gt(commits, NMSG);
    for (int n = 1; n <= commits; n++)
        run_with_fault(n);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("fault");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, one_failed_commit_at_each_position);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
