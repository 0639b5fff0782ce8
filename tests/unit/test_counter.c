/*
 * test_counter.c - the counter example end to end through the engine's
 * public interface: enqueue, the loop/queue/step journal, state, status,
 * the steps/ tree, events, actions; then the same after a reopen.
 */
#include "examples.h"
#include "helpers.h"

#include <stdlib.h>
#include <string.h>

static eng *E;

static int count_is(void *ud)
{
    return t_state_num(E, "counter", "", "count") == *(double *)ud;
}

START_TEST(counter_adds)
{
    const char *dir = t_tmpdir();
    E = t_open(dir, counter_register, ENG_DURABILITY_NORMAL);
    t_enqueue(E, "counter", "", "add", "{\"n\":5}", NULL, 0);
    t_enqueue(E, "counter", "", "add", "{\"n\":7}", NULL, 0);
    double want = 2;
    ck_assert(t_wait(count_is, &want, 5000));
    ck_assert_int_eq((int)t_state_num(E, "counter", "", "total"), 12);

    eng_dirent *d;
    size_t n;
    ck_assert_int_eq(eng_steps_list(E, "counter", "", "", &d, &n), 0);
    ck_assert_int_eq(n, 1);
    ck_assert_str_eq(d[0].name, "add-loop");
    ck_assert_int_eq(d[0].is_dir, 1);
    eng_dirents_free(d, n);
    char *json;
    size_t len;
    ck_assert_int_eq(eng_steps_read(E, "counter", "", "add-loop/0/add", &json,
                                    &len),
                     0);
    cJSON *j = cJSON_Parse(json);
    ck_assert_str_eq(cJSON_GetObjectItem(j, "status")->valuestring,
                     "completed");
    ck_assert_int_eq(cJSON_GetObjectItem(j, "output")->valueint, 5);
    ck_assert_int_eq(json[len - 1], '\n');
    cJSON_Delete(j);
    free(json);

    cJSON *res = NULL;
    char err[128];
    ck_assert_int_eq(eng_action(E, "counter", "", "getState", NULL, &res, err,
                                sizeof err),
                     0);
    ck_assert_int_eq(cJSON_GetObjectItem(res, "total")->valueint, 12);
    cJSON_Delete(res);

    uint64_t size;
    ck_assert_int_eq(eng_events_size(E, "counter", "", &size), 0);
    char *buf;
    /* the size is the true length: that many bytes read back, whole lines */
    ck_assert_int_eq(eng_events_read(E, "counter", "", 0, size, &buf, &len),
                     0);
    ck_assert_uint_eq(len, size);
    ck_assert_int_eq(buf[len - 1], '\n');
    ck_assert_ptr_nonnull(strstr(buf, "\"step.completed\""));
    free(buf);
    eng_close(E);

    E = t_open(dir, counter_register, ENG_DURABILITY_NORMAL);
    t_enqueue(E, "counter", "", "add", "{\"n\":1}", NULL, 0);
    want = 3;
    ck_assert(t_wait(count_is, &want, 5000));
    ck_assert_int_eq((int)t_state_num(E, "counter", "", "total"), 13);
    eng_close(E);
    t_rmrf(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("counter");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, counter_adds);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
