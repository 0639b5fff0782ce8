/*
 * test_crash.c - SIGKILL at many points, then recovery.
 *
 * A child process runs a queue-driven workflow (synchronous=FULL) and is
 * killed with SIGKILL just before or just after its Nth commit
 * (ACTORFS_FAULT_KILL) for a range of N, or in the middle of a step.  A
 * second child then reopens the data directory and checks SPEC section 6:
 * every acknowledged message is processed exactly once, no step whose
 * completion was journaled before the crash runs again (each run appends
 * "ID PID" to a side-effect file), the state is exactly the state after
 * the last journaled step, and the unfinished workflow resumed.
 */
#include "helpers.h"

#include <errno.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define MSGS 4

static char effects[300], acked_path[300];
static eng *E;

static int work_step(eng_sctx *s, const cJSON *in, cJSON **out)
{
    int id = cJSON_GetObjectItem(in, "id")->valueint;
    char line[64];
    snprintf(line, sizeof line, "%d %d", id, (int)getpid());
    t_append_line(effects, line);
    const char *mid = getenv("CRASH_MID_STEP");
    if (mid && atoi(mid) == id)
        kill(getpid(), SIGKILL);
    cJSON *st = eng_sctx_state(s);
    cJSON *seen = cJSON_GetObjectItem(st, "seen");
    cJSON_AddItemToArray(seen, cJSON_CreateNumber(id));
    cJSON *t = cJSON_GetObjectItem(st, "total");
    double total = t->valuedouble + id;
    cJSON_DeleteItemFromObject(st, "total");
    cJSON_AddNumberToObject(st, "total", total);
    *out = cJSON_CreateNumber(id);
    return 0;
}

static int body(eng_ctx *c, void *arg)
{
    (void)arg;
    const cJSON *m;
    ENG_TRY(eng_queue_next(c, "wait", "q", -1, &m));
    return eng_step(c, "work", work_step, m, NULL, NULL);
}

static int run(eng_ctx *c)
{
    return eng_loop(c, "L", body, NULL);
}

static const eng_field fields[] = {{"id", cJSON_Number}};
static const eng_queue_def queues[] = {{"q", fields, 1}};

static int reg(eng *e)
{
    eng_type t = {.name = "cr", .initial_state = "{\"seen\":[],\"total\":0}",
                  .queues = queues, .nqueues = 1, .run = run};
    return eng_register(e, &t);
}

static int seen_count(void *ud)
{
    char *json;
    size_t n;
    if (eng_state_json(E, "cr", "", &json, &n) < 0)
        return 0;
    cJSON *j = cJSON_Parse(json);
    free(json);
    int k = cJSON_GetArraySize(cJSON_GetObjectItem(j, "seen"));
    cJSON_Delete(j);
    return k >= *(int *)ud;
}

static eng *open_full(const char *dir)
{
    eng_config cfg = {.data_dir = dir, .durability = ENG_DURABILITY_FULL};
    char err[256];
    eng *e;
    if (eng_open(&cfg, &e, err, sizeof err) < 0 || reg(e) < 0 ||
        eng_start(e, err, sizeof err) < 0) {
        fprintf(stderr, "open: %s\n", err);
        _exit(3);
    }
    return e;
}

/* The child that gets killed. */
static void crash_run(const char *dir)
{
    E = open_full(dir);
    for (int id = 1; id <= MSGS; id++) {
        char body[32], err[256];
        snprintf(body, sizeof body, "{\"id\":%d}", id);
        if (eng_enqueue(E, "cr", "", "q", body, strlen(body), NULL, NULL, err,
                        sizeof err) == 0) {
            char line[16];
            snprintf(line, sizeof line, "%d", id);
            t_append_line(acked_path, line);
        }
    }
    int want = MSGS;
    t_wait(seen_count, &want, 10000);
    eng_close(E);
    _exit(0);
}

static int ids_in(const char *path, int pid_filter, int *count, int max)
{
    memset(count, 0, sizeof(int) * (size_t)(max + 1));
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    int id, pid, n = 0;
    char line[64];
    while (fgets(line, sizeof line, f)) {
        int k = sscanf(line, "%d %d", &id, &pid);
        if (k >= 1 && id >= 1 && id <= max &&
            (pid_filter == 0 || (k == 2 && pid == pid_filter))) {
            count[id]++;
            n++;
        }
    }
    fclose(f);
    return n;
}

#define CHECK(cond, ...)                                                     \
    do {                                                                     \
        if (!(cond)) {                                                       \
            fprintf(stderr, __VA_ARGS__);                                    \
            fputc('\n', stderr);                                             \
            _exit(1);                                                        \
        }                                                                    \
    } while (0)

/* Ids whose "work" step completion is in the journal, read before any
 * recovery runs. */
static void journaled(const char *dir, int *done)
{
    memset(done, 0, sizeof(int) * (MSGS + 1));
    char db[300];
    snprintf(db, sizeof db, "%s/actorfs.db", dir);
    sqlite3 *h;
    if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
        sqlite3_close(h);
        return;
    }
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(h,
                           "SELECT output FROM journal WHERE kind=0 AND "
                           "status=1 AND name='work'",
                           -1, &st, NULL) == SQLITE_OK) {
        while (sqlite3_step(st) == SQLITE_ROW) {
            int id = sqlite3_column_int(st, 0);
            if (id >= 1 && id <= MSGS)
                done[id] = 1;
        }
    }
    sqlite3_finalize(st);
    sqlite3_close(h);
}

static int pending_none(void *ud)
{
    (void)ud;
    int64_t *ids;
    size_t n;
    if (eng_messages_list(E, "cr", "", "q", &ids, &n) < 0)
        return 0;
    free(ids);
    char buf[32];
    return n == 0 &&
           strcmp(t_status(E, "cr", "", buf, sizeof buf), "waiting") == 0;
}

/* The child that recovers and checks. */
static void recover_and_check(const char *dir)
{
    int before[MSGS + 1], acked[MSGS + 1], effects_by_me[MSGS + 1];
    journaled(dir, before);
    ids_in(acked_path, 0, acked, MSGS);
    E = open_full(dir);
    CHECK(t_wait(pending_none, NULL, 20000), "workflow did not resume");
    char *json;
    size_t n;
    CHECK(eng_state_json(E, "cr", "", &json, &n) == 0, "state");
    cJSON *j = cJSON_Parse(json);
    free(json);
    int seen[MSGS + 1] = {0}, sum = 0;
    cJSON *it;
    cJSON_ArrayForEach(it, cJSON_GetObjectItem(j, "seen"))
    {
        CHECK(it->valueint >= 1 && it->valueint <= MSGS, "bad id");
        seen[it->valueint]++;
        sum += it->valueint;
    }
    CHECK(cJSON_GetObjectItem(j, "total")->valueint == sum,
          "state total %d is not the sum %d of its steps",
          cJSON_GetObjectItem(j, "total")->valueint, sum);
    cJSON_Delete(j);
    ids_in(effects, (int)getpid(), effects_by_me, MSGS);
    for (int id = 1; id <= MSGS; id++) {
        CHECK(seen[id] <= 1, "message %d processed %d times", id, seen[id]);
        CHECK(!acked[id] || seen[id] == 1, "acknowledged message %d lost", id);
        CHECK(!before[id] || effects_by_me[id] == 0,
              "journaled step for %d ran again", id);
    }
    eng_close(E);
    _exit(0);
}

static int wait_child(pid_t pid)
{
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    return st;
}

/* One crash and recovery; returns 1 if the crash child was killed. */
static int crash_once(const char *fault, const char *mid)
{
    const char *dir = t_tmpdir();
    snprintf(effects, sizeof effects, "%s/effects", dir);
    snprintf(acked_path, sizeof acked_path, "%s/acked", dir);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        if (fault)
            setenv("ACTORFS_FAULT_KILL", fault, 1);
        if (mid)
            setenv("CRASH_MID_STEP", mid, 1);
        crash_run(dir);
    }
    int st = wait_child(pid);
    int killed = WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL;
    ck_assert_msg(killed || (WIFEXITED(st) && WEXITSTATUS(st) == 0),
                  "crash child %s: status %d", fault ? fault : mid, st);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        unsetenv("ACTORFS_FAULT_KILL");
        unsetenv("CRASH_MID_STEP");
        recover_and_check(dir);
    }
    st = wait_child(pid);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
                  "recovery after %s failed (status %d)", fault ? fault : mid,
                  st);
    t_rmrf(dir);
    return killed;
}

/* Kills at commit 1, 2, ... 40.  Successive steps share commits, so the
 * run makes a dozen or so (at least one per enqueue); a run that lives
 * past the last kill point shows that every commit it makes was one. */
static void kill_range(const char *when)
{
    int kills = 0;
    for (int n = 1; n <= 40; n++) {
        char fault[32];
        snprintf(fault, sizeof fault, "%s:%d", when, n);
        kills += crash_once(fault, NULL);
    }
    ck_assert_int_ge(kills, MSGS);
    ck_assert_int_lt(kills, 40);
}

START_TEST(kill_before_commits)
{
    kill_range("before");
}
END_TEST

START_TEST(kill_after_commits)
{
    kill_range("after");
}
END_TEST

START_TEST(kill_mid_step)
{
    for (int id = 1; id <= MSGS; id++) {
        char mid[8];
        snprintf(mid, sizeof mid, "%d", id);
        ck_assert_int_eq(crash_once(NULL, mid), 1);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("crash");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 400);
    tcase_add_test(tc, kill_before_commits);
    tcase_add_test(tc, kill_after_commits);
    tcase_add_test(tc, kill_mid_step);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
