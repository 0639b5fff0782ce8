/*
 * test_jsonscan.c - unit tests of the JSON prefix scanner (fs/jsonscan.c).
 *
 * write() refuses what fs_jsonscan calls invalid and close() refuses what
 * is still a prefix, so each class is pinned here, including every split
 * point of valid documents: any prefix of valid JSON must be "prefix" or
 * "complete", never "invalid".
 */
#include "jsonscan.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

static int scan(const char *s)
{
    return fs_jsonscan(s, strlen(s), NULL);
}

START_TEST(complete_values)
{
    static const char *const ok[] = {
        "{}", "[]", "{\"n\":1}\n", " {\"a\":[1,2,{\"b\":null}]} ", "\"x\"",
        "true", "false", "null", "0", "-12.5e+3", "[\"\\u00e9\\n\\\"\"]",
        "{\"a\":{\"b\":{\"c\":[true,false]}}}", "1e5", "[0.5,-0]"};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        ck_assert_msg(scan(ok[i]) == FS_JSON_COMPLETE, "%s", ok[i]);
}
END_TEST

START_TEST(prefixes)
{
    static const char *const pre[] = {
        "",     "  \n", "{",    "{\"n\"", "{\"n\":", "{\"n\":1", "[1,",
        "\"ab", "\"\\", "\"\\u00", "tr",  "nul",    "-",       "1.",
        "1e",   "1e+",  "[[[[", "{\"a\":[1,2,{\"b\":nu"};
    for (size_t i = 0; i < sizeof(pre) / sizeof(pre[0]); i++)
        ck_assert_msg(scan(pre[i]) == FS_JSON_PREFIX, "%s", pre[i]);
}
END_TEST

START_TEST(invalid)
{
    static const char *const bad[] = {
        "x",       "{]",     "[}",       "{\"a\" 1}", "{\"a\":1,}",
        "[1,]",    "{}{}",   "{} x",     "trux",      "nulll",
        "01",      "1.e",    "--1",      "\"\\q\"",   "\"\\u12g4\"",
        "{a:1}",   "[1 2]",  "\"a\nb\"", "+1",        ",",
        "{\"a\"}", "]"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(scan(bad[i]) == FS_JSON_INVALID, "%s", bad[i]);
}
END_TEST

START_TEST(where_points_at_the_bad_byte)
{
    size_t where = 99;
    ck_assert_int_eq(fs_jsonscan("{\"n\": x}", 8, &where), FS_JSON_INVALID);
    ck_assert_uint_eq(where, 6);
    ck_assert_int_eq(fs_jsonscan("[1,2]]", 6, &where), FS_JSON_INVALID);
    ck_assert_uint_eq(where, 5);
}
END_TEST

START_TEST(every_split_of_valid_json_is_a_prefix)
{
    static const char *const docs[] = {
        "{\"repo\":\"/tmp/r\",\"issue\":\"fix \\\"x\\\" \\u0041\",\"n\":-1.5e-3,"
        "\"ok\":[true,false,null,{}]}",
        "[[1,2],[3,[4,[5]]],\"\\\\\"]"};
    for (size_t d = 0; d < 2; d++) {
        size_t n = strlen(docs[d]);
        for (size_t k = 0; k < n; k++) {
            int r = fs_jsonscan(docs[d], k, NULL);
            ck_assert_msg(r == FS_JSON_PREFIX, "doc %zu cut at %zu: %d", d, k,
                          r);
        }
        ck_assert_int_eq(fs_jsonscan(docs[d], n, NULL), FS_JSON_COMPLETE);
    }
}
END_TEST

START_TEST(depth_is_bounded)
{
    size_t n = FS_JSON_MAX_DEPTH + 1;
    char *s = malloc(n + 1);
    ck_assert_ptr_nonnull(s);
    memset(s, '[', n);
    s[n] = '\0';
    ck_assert_int_eq(fs_jsonscan(s, n - 1, NULL), FS_JSON_PREFIX);
    ck_assert_int_eq(fs_jsonscan(s, n, NULL), FS_JSON_INVALID);
    free(s);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("jsonscan");
    TCase *tc = tcase_create("scan");
    tcase_add_test(tc, complete_values);
    tcase_add_test(tc, prefixes);
    tcase_add_test(tc, invalid);
    tcase_add_test(tc, where_points_at_the_bad_byte);
    tcase_add_test(tc, every_split_of_valid_json_is_a_prefix);
    tcase_add_test(tc, depth_is_bounded);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
