/*
 * helpers.c - the shared test helpers of helpers.h.
 */
#include "helpers.h"

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static char tmp[256];

const char *t_tmpdir(void)
{
    snprintf(tmp, sizeof tmp, "/tmp/actorfs-unit-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmp));
    return tmp;
}

static int rm_one(const char *p, const struct stat *sb, int flag,
                  struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    remove(p);
    return 0;
}

void t_rmrf(const char *dir)
{
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

eng *t_open(const char *dir, int (*reg)(eng *e), int durability)
{
    eng_config cfg = {.data_dir = dir, .durability = durability};
    eng *e = NULL;
    char err[256] = "";
    int rc = eng_open(&cfg, &e, err, sizeof err);
    ck_assert_msg(rc == 0, "eng_open: %s", err);
    if (reg)
        ck_assert_int_eq(reg(e), 0);
    rc = eng_start(e, err, sizeof err);
    ck_assert_msg(rc == 0, "eng_start: %s", err);
    return e;
}

int t_wait(int (*cond)(void *ud), void *ud, int ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    int64_t end = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + ms;
    for (;;) {
        int v = cond(ud);
        if (v)
            return v;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        if ((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 > end)
            return cond(ud);
        usleep(2000);
    }
}

const char *t_status(eng *e, const char *type, const char *key, char *buf,
                     size_t len)
{
    char *json;
    size_t n;
    buf[0] = 0;
    if (eng_status_json(e, type, key, &json, &n) < 0)
        return buf;
    cJSON *j = cJSON_Parse(json);
    free(json);
    const cJSON *s = cJSON_GetObjectItem(j, "status");
    if (cJSON_IsString(s))
        snprintf(buf, len, "%s", s->valuestring);
    cJSON_Delete(j);
    return buf;
}

double t_state_num(eng *e, const char *type, const char *key,
                   const char *field)
{
    char *json;
    size_t n;
    if (eng_state_json(e, type, key, &json, &n) < 0)
        return -1;
    cJSON *j = cJSON_Parse(json);
    free(json);
    const cJSON *f = cJSON_GetObjectItem(j, field);
    double v = cJSON_IsNumber(f) ? f->valuedouble : -1;
    cJSON_Delete(j);
    return v;
}

int64_t t_count(eng *e, const char *table)
{
    eng__conn *c;
    int64_t n = -1;
    ck_assert_int_eq(e->so->rget(e->st, &c), 0);
    ck_assert_int_eq(e->so->r_count(c, table, -1, &n), 0);
    e->so->rput(e->st, c);
    return n;
}

void t_enqueue(eng *e, const char *type, const char *key, const char *queue,
               const char *body, const char *idem, int want)
{
    char err[256] = "";
    int rc = eng_enqueue(e, type, key, queue, body, strlen(body), idem, NULL,
                         err, sizeof err);
    ck_assert_msg(rc == want, "enqueue %s: got %d (%s), want %d", body, rc,
                  err, want);
}

int t_lines(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    int n = 0, ch;
    while ((ch = fgetc(f)) != EOF)
        n += ch == '\n';
    fclose(f);
    return n;
}

void t_append_line(const char *path, const char *line)
{
    FILE *f = fopen(path, "a");
    if (!f)
        abort();
    fprintf(f, "%s\n", line);
    fflush(f);
    fsync(fileno(f));
    fclose(f);
}
