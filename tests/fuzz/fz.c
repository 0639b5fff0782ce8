/*
 * fz.c - the shared engine of the fuzz targets (see fz.h).  The engine runs
 * with durability normal: the fuzzers exercise parsing and dispatch, not
 * fsync, and want thousands of inputs a second.
 */
#include "fz.h"

#include <errno.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static eng *fz__e;
static char fz__dir[] = "/tmp/actorfs-fuzz.XXXXXX";

static const eng_field fz__fields[] = {
    {"s", cJSON_String}, {"n", cJSON_Number}, {"o", cJSON_Object},
    {"a", cJSON_Array},  {"b", cJSON_True},   {"z", cJSON_NULL},
};
static const eng_queue_def fz__queues[] = {
    {"q", fz__fields, sizeof fz__fields / sizeof fz__fields[0]},
    {"free", NULL, 0},
};

static int fz__echo(eng_actx *a, const cJSON *args, cJSON **result)
{
    (void)a;
    *result = args ? cJSON_Duplicate(args, 1) : cJSON_CreateNull();
    return *result ? 0 : -ENOMEM;
}

static const eng_action_def fz__actions[] = {{"echo", fz__echo, 1}};

static int fz__step(eng_sctx *s, const cJSON *in, cJSON **out)
{
    (void)s;
    (void)in;
    *out = cJSON_CreateTrue();
    return *out ? 0 : -ENOMEM;
}

/* A step, then a wait: the journal holds one entry of each kind that
 * replay decodes. */
static int fz__run(eng_ctx *c)
{
    const cJSON *m;
    ENG_TRY(eng_step(c, "s", fz__step, NULL, NULL, NULL));
    return eng_queue_next(c, "wait", "free", -1, &m);
}

static int fz__rm(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void fz__close(void)
{
    eng_close(fz__e);
    fz__e = NULL;
    fz_rmtree(fz__dir);
}

void fz_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("fuzz oracle failed: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    abort();
}

int fz_open(const char *dir, eng **out, char *err, size_t errlen)
{
    eng_config cfg = {.data_dir = dir, .durability = ENG_DURABILITY_NORMAL};
    static const eng_type t = {
        .name = "fz",
        .initial_state = "{}",
        .queues = fz__queues,
        .nqueues = 2,
        .actions = fz__actions,
        .nactions = 1,
        .run = fz__run,
    };
    int rc = eng_open(&cfg, out, err, errlen);
    if (rc != 0)
        return rc;
    if ((rc = eng_register(*out, &t)) != 0 || (rc = eng_start(*out, err, errlen)) != 0) {
        if (rc != 0 && err[0] == '\0')
            snprintf(err, errlen, "eng_register: %s", strerror(-rc));
        eng_close(*out);
        *out = NULL;
    }
    return rc;
}

eng *fz_engine(void)
{
    if (fz__e)
        return fz__e;
    if (mkdtemp(fz__dir) == NULL)
        fz_fail("mkdtemp: %s", strerror(errno));
    char err[256] = "";
    if (fz_open(fz__dir, &fz__e, err, sizeof err) != 0)
        fz_fail("starting the engine: %s", err);
    atexit(fz__close);
    return fz__e;
}

void fz_rmtree(const char *dir)
{
    nftw(dir, fz__rm, 16, FTW_DEPTH | FTW_PHYS);
}

char *fz_cstr(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (s == NULL)
        fz_fail("out of memory");
    memcpy(s, data, size);
    s[size] = '\0';
    return s;
}
