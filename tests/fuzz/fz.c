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

static int fz__wait(eng_ctx *c)
{
    const cJSON *m;
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
    nftw(fz__dir, fz__rm, 16, FTW_DEPTH | FTW_PHYS);
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

eng *fz_engine(void)
{
    if (fz__e)
        return fz__e;
    if (mkdtemp(fz__dir) == NULL)
        fz_fail("mkdtemp: %s", strerror(errno));
    eng_config cfg = {.data_dir = fz__dir, .durability = ENG_DURABILITY_NORMAL};
    char err[256];
    if (eng_open(&cfg, &fz__e, err, sizeof err) != 0)
        fz_fail("eng_open: %s", err);
    static const eng_type t = {
        .name = "fz",
        .initial_state = "{}",
        .queues = fz__queues,
        .nqueues = 2,
        .actions = fz__actions,
        .nactions = 1,
        .run = fz__wait,
    };
    if (eng_register(fz__e, &t) != 0)
        fz_fail("eng_register failed");
    if (eng_start(fz__e, err, sizeof err) != 0)
        fz_fail("eng_start: %s", err);
    atexit(fz__close);
    return fz__e;
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
