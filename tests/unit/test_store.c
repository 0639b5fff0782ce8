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
    ck_assert_int_eq(v, 3);
    /* back to version 1's shape: its index, its AUTOINCREMENT messages
     * (whose counter says ids up to 40 were given), no meta, its number */
    static const char *const v1[] = {
        "CREATE INDEX journal_parent ON journal(actor,run,parent,seq)",
        "CREATE TABLE m1(id INTEGER PRIMARY KEY AUTOINCREMENT,"
        " actor INTEGER NOT NULL, queue TEXT NOT NULL, body TEXT, idem TEXT,"
        " taken INTEGER NOT NULL DEFAULT 0, created_at INTEGER NOT NULL,"
        " taken_at INTEGER)",
        "INSERT INTO m1 SELECT * FROM messages",
        "UPDATE sqlite_sequence SET seq=40 WHERE name='m1'",
        "DROP TABLE messages",
        "ALTER TABLE m1 RENAME TO messages",
        "CREATE INDEX messages_q ON messages(actor,queue,taken,id)",
        "CREATE UNIQUE INDEX messages_idem ON messages(actor,queue,idem)"
        " WHERE idem IS NOT NULL",
        "DROP TABLE meta",
        "PRAGMA user_version=1",
    };
    for (size_t i = 0; i < sizeof v1 / sizeof v1[0]; i++)
        ck_assert_int_eq(exec(dir, v1[i], NULL), SQLITE_DONE);
    e = t_open(dir, counter_register, ENG_DURABILITY_NORMAL);
    char err[256];
    int64_t id;
    ck_assert_int_eq(eng_enqueue(e, "counter", "", "add", "{\"n\":5}", 7,
                                 NULL, &id, err, sizeof err),
                     0);
    ck_assert_int_eq(id, 41);
    eng_close(e);
    exec(dir, "PRAGMA user_version", &v);
    ck_assert_int_eq(v, 3);
    exec(dir,
         "SELECT count(*) FROM sqlite_master WHERE name='journal_parent'", &n);
    ck_assert_int_eq(n, 0);
    exec(dir,
         "SELECT count(*) FROM sqlite_master WHERE sql LIKE '%AUTOINCREMENT%'",
         &n);
    ck_assert_int_eq(n, 0);
    exec(dir, "SELECT count(*) FROM messages", &n);
    ck_assert_int_eq(n, 2);

    exec(dir, "PRAGMA user_version=99", NULL);
    eng_config cfg = {.data_dir = dir};
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
