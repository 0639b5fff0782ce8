/*
 * fuzz_journal.c - libFuzzer target for journal entry decoding: what the
 * engine does with a journal row it reads back from disk, on replay and
 * when the filesystem shows it (steps/, status, events).
 *
 * eng.h offers no decoder to call directly, so the target goes through
 * the database file, as a damaged or hand-edited one would reach the
 * engine: a template data dir is made once (actor "fz" whose workflow ran
 * its step "s" and waits on a queue); for each input a copy of it gets
 * the fuzzed values in the row of "s" (kind, status, attempts, iteration,
 * output and error text) plus one fuzzed extra row, and a fresh engine
 * starts on it, replays, and serves every steps/ entry, the status, the
 * state and the events.  The oracle: no crash, no sanitizer report, and
 * whatever is served is one valid JSON value.
 */
#include "fz.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char tmpl[] = "/tmp/actorfs-fuzzj.XXXXXX";
static char work[4096];
static int have_template;

static void fz__cp(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb");
    if (in == NULL)
        return; /* no -wal: the template was checkpointed */
    FILE *out = fopen(to, "wb");
    if (out == NULL)
        fz_fail("fopen %s: %s", to, strerror(errno));
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        if (fwrite(buf, 1, n, out) != n)
            fz_fail("fwrite %s: %s", to, strerror(errno));
    if (ferror(in) || fclose(out) != 0)
        fz_fail("copying %s: %s", from, strerror(errno));
    fclose(in);
}

static int64_t fz__ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits (bounded) until the workflow has left "running", so replay has
 * decoded the journal before the engine is closed. */
static void fz__settle(eng *e)
{
    int64_t end = fz__ms() + 500;
    while (fz__ms() < end) {
        char *js = NULL;
        size_t len;
        if (eng_status_json(e, "fz", "", &js, &len) != 0)
            return;
        cJSON *st = cJSON_Parse(js);
        free(js);
        if (st == NULL)
            fz_fail("status is not JSON");
        const cJSON *s = cJSON_GetObjectItemCaseSensitive(st, "status");
        int running = cJSON_IsString(s) && strcmp(s->valuestring, "running") == 0;
        cJSON_Delete(st);
        if (!running)
            return;
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
    }
}

static void fz__json_ok(const char *what, const char *js, size_t len)
{
    cJSON *v = cJSON_ParseWithLength(js, len);
    if (v == NULL)
        fz_fail("%s is not valid JSON: %.*s", what, (int)(len > 200 ? 200 : len), js);
    cJSON_Delete(v);
}

static void fz__walk(eng *e, const char *path, int depth)
{
    eng_dirent *ents = NULL;
    size_t n = 0;
    if (depth > 8 || eng_steps_list(e, "fz", "", path, &ents, &n) != 0)
        return;
    for (size_t i = 0; i < n; i++) {
        char sub[1024];
        snprintf(sub, sizeof sub, "%s%s%s", path, *path ? "/" : "", ents[i].name);
        int is_dir;
        if (eng_steps_stat(e, "fz", "", sub, &is_dir) != 0)
            continue;
        if (is_dir) {
            fz__walk(e, sub, depth + 1);
            continue;
        }
        char *js = NULL;
        size_t len;
        if (eng_steps_read(e, "fz", "", sub, &js, &len) == 0)
            fz__json_ok("a steps/ entry", js, len);
        free(js);
    }
    eng_dirents_free(ents, n);
}

static void fz__template(void)
{
    if (mkdtemp(tmpl) == NULL)
        fz_fail("mkdtemp: %s", strerror(errno));
    char err[256] = "";
    eng *e;
    if (fz_open(tmpl, &e, err, sizeof err) != 0)
        fz_fail("template engine: %s", err);
    fz__settle(e);
    eng_close(e);
    snprintf(work, sizeof work, "%s/work", tmpl);
}

static void fz__cleanup(void)
{
    fz_rmtree(tmpl);
}

/* Input: kind, status, attempts, iter bytes, then output NUL error NUL
 * extra-path NUL extra-output. */
static void fz__damage(const char *db, const uint8_t *data, size_t size)
{
    uint8_t hdr[4] = {0};
    memcpy(hdr, data, size < 4 ? size : 4);
    const char *p = size > 4 ? (const char *)data + 4 : "";
    size_t left = size > 4 ? size - 4 : 0;
    const char *part[4] = {"", "", "", ""};
    size_t plen[4] = {0, 0, 0, 0};
    for (int i = 0; i < 4 && left > 0; i++) {
        const char *z = memchr(p, '\0', left);
        part[i] = p;
        plen[i] = z ? (size_t)(z - p) : left;
        size_t used = plen[i] + (z ? 1 : 0);
        p += used;
        left -= used;
    }
    sqlite3 *h;
    if (sqlite3_open(db, &h) != SQLITE_OK)
        fz_fail("sqlite3_open %s: %s", db, sqlite3_errmsg(h));
    sqlite3_stmt *st;
    const char *sql =
        "UPDATE journal SET kind=?1, status=?2, attempts=?3, iter=?4,"
        " output=?5, error=?6 WHERE path='s';"
        "INSERT OR REPLACE INTO journal(actor,run,path,parent,seq,name,kind,"
        "status,attempts,output,error,started_at,finished_at,deadline,iter)"
        " SELECT actor, run, ?7, '', 7, ?7, ?1 % 8, ?2 % 4, 1, ?8, NULL, 0, 0,"
        " -1, ?4 FROM journal WHERE path='s';";
    const char *tail = sql;
    for (int stmt = 0; stmt < 2; stmt++) {
        if (sqlite3_prepare_v2(h, tail, -1, &st, &tail) != SQLITE_OK)
            fz_fail("prepare: %s", sqlite3_errmsg(h));
        sqlite3_bind_int(st, 1, hdr[0] % 10);
        sqlite3_bind_int(st, 2, hdr[1] % 6);
        sqlite3_bind_int(st, 3, (int8_t)hdr[2]);
        sqlite3_bind_int(st, 4, (int8_t)hdr[3]);
        sqlite3_bind_text(st, 5, part[0], (int)plen[0], SQLITE_TRANSIENT);
        if (plen[1] > 0)
            sqlite3_bind_text(st, 6, part[1], (int)plen[1], SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 7, plen[2] ? part[2] : "x", plen[2] ? (int)plen[2] : 1,
                          SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 8, part[3], (int)plen[3], SQLITE_TRANSIENT);
        int rc = sqlite3_step(st);
        if (rc != SQLITE_DONE)
            fz_fail("damaging the journal: %s", sqlite3_errmsg(h));
        sqlite3_finalize(st);
    }
    if (sqlite3_close(h) != SQLITE_OK)
        fz_fail("sqlite3_close: %s", sqlite3_errmsg(h));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!have_template) {
        fz__template();
        atexit(fz__cleanup);
        have_template = 1;
    }
    fz_rmtree(work);
    if (mkdir(work, 0700) != 0)
        fz_fail("mkdir %s: %s", work, strerror(errno));
    char from[4200], to[4200];
    static const char *const files[] = {"actorfs.db", "actorfs.db-wal"};
    for (int i = 0; i < 2; i++) {
        snprintf(from, sizeof from, "%s/%s", tmpl, files[i]);
        snprintf(to, sizeof to, "%s/%s", work, files[i]);
        fz__cp(from, to);
    }
    snprintf(to, sizeof to, "%s/actorfs.db", work);
    fz__damage(to, data, size);

    eng *e;
    char err[256] = "";
    if (fz_open(work, &e, err, sizeof err) != 0) {
        if (err[0] == '\0')
            fz_fail("the engine refused a damaged journal without a reason");
        return 0;
    }
    fz__settle(e);
    fz__walk(e, "", 0);
    char *js = NULL;
    size_t len;
    if (eng_status_json(e, "fz", "", &js, &len) == 0)
        fz__json_ok("status", js, len);
    free(js);
    js = NULL;
    if (eng_state_json(e, "fz", "", &js, &len) == 0)
        fz__json_ok("state.json", js, len);
    free(js);
    js = NULL;
    if (eng_events_read(e, "fz", "", 0, 1 << 20, &js, &len) == 0) {
        for (char *line = js, *nl; line < js + len; line = nl + 1) {
            nl = memchr(line, '\n', (size_t)(js + len - line));
            if (nl == NULL)
                fz_fail("events does not end in a newline");
            fz__json_ok("an events line", line, (size_t)(nl - line));
        }
    }
    free(js);
    eng_close(e);
    return 0;
}
