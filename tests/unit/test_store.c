/*
 * test_store.c - the SQLite store's schema is versioned (PRAGMA
 * user_version) and migrated forward at open; a database from a newer
 * actorfs is refused with a reason instead of being misread.
 */
#include "examples.h"
#include "helpers.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

static int exec(const char *dir, const char *sql, int *out)
{
    char db[300];
    snprintf(db, sizeof db, "%s/actorfs.db", dir);
    sqlite3 *h;
    ck_assert_int_eq(sqlite3_open(db, &h), SQLITE_OK);
    sqlite3_stmt *st;
    ck_assert_int_eq(sqlite3_prepare_v2(h, sql, -1, &st, NULL), SQLITE_OK);
    int rc = sqlite3_step(st);
    if (out)
        *out = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : -1;
    sqlite3_finalize(st);
    sqlite3_close(h);
    return rc;
}

START_TEST(schema_migrates_forward)
{
    const char *dir = t_tmpdir();
    eng *e = t_open(dir, counter_register, ENG_DURABILITY_NORMAL);
    t_enqueue(e, "counter", "", "add", "{\"n\":4}", NULL, 0);
    eng_close(e);
    int v, n;
    exec(dir, "PRAGMA user_version", &v);
    ck_assert_int_eq(v, 2);
    /* back to version 1's shape: its index, its number */
    exec(dir, "CREATE INDEX journal_parent ON journal(actor,run,parent,seq)",
         NULL);
    exec(dir, "PRAGMA user_version=1", NULL);
    e = t_open(dir, counter_register, ENG_DURABILITY_NORMAL);
    eng_close(e);
    exec(dir, "PRAGMA user_version", &v);
    ck_assert_int_eq(v, 2);
    exec(dir,
         "SELECT count(*) FROM sqlite_master WHERE name='journal_parent'", &n);
    ck_assert_int_eq(n, 0);
    exec(dir, "SELECT count(*) FROM messages", &n);
    ck_assert_int_eq(n, 1);

    exec(dir, "PRAGMA user_version=99", NULL);
    eng_config cfg = {.data_dir = dir};
    char err[256] = "";
    ck_assert_int_eq(eng_open(&cfg, &e, err, sizeof err), -EPROTO);
    ck_assert_ptr_nonnull(strstr(err, "newer than this actorfs"));
    t_rmrf(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("store");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, schema_migrates_forward);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
