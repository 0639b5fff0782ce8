/*
 * tortureflow.c - the workflow the crash torture kills under load, built
 * as a --load plugin (it includes only eng.h and links no engine: the
 * actorfs executable exports eng_*).
 *
 * Type "torture", queue "job" {"id": string, "n": number, "slowMs"?}.
 * Each message goes through a loop iteration with every kind of journal
 * entry the engine has: a queue wait, a step, a durable sleep, a join of
 * two branches (one of them a slow step, so that a kill can land while a
 * step is running) and a final step that changes the state.  Every step
 * execution appends one line "STEP ID TOKEN PID" to DATA/torture-effects.log
 * and returns {"token": TOKEN} (TOKEN is tPIDxNONCE.SEQ); the token is unique per execution, so the
 * driver can tell from the database which execution the journal recorded
 * and whether a journaled step ever ran again.  The slow step also writes
 * "begin slow ID TOKEN PID" when it starts, so a kill can be aimed at it.
 *
 * It also installs a fault hook (eng_fault_set) that fails every Nth
 * commit with EIO while the file DATA/torture-fault-commit holds N: the
 * I/O fault test turns commit failures on and off at run time, after the
 * daemon has started (ACTORFS_FAULT_COMMIT counts from the first commit,
 * so a low N fails the start itself).
 */
#include "eng.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define TF_SLICE_MS 5

static atomic_long tf__seq;
/* Set once at registration: with the pid it keeps tokens unique even when
 * a later run of the daemon gets a recycled pid. */
static int64_t tf__nonce;

/* Appends one line with a single write: O_APPEND keeps lines from several
 * worker threads whole, and a SIGKILL loses nothing already written. */
static int tf__append(eng_sctx *s, const char *line, size_t len)
{
    char path[4096];
    int n = snprintf(path, sizeof path, "%s/torture-effects.log",
                     eng_data_dir(eng_sctx_engine(s)));
    if (n < 0 || (size_t)n >= sizeof path) {
        eng_sctx_error(s, "effects path too long");
        return -ENAMETOOLONG;
    }
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        int rc = -errno;
        eng_sctx_error(s, "open %s: %s", path, strerror(errno));
        return rc;
    }
    ssize_t w = write(fd, line, len);
    int rc = 0;
    if (w < 0 || (size_t)w != len) {
        rc = w < 0 ? -errno : -EIO;
        eng_sctx_error(s, "write %s: %s", path, strerror(-rc));
    }
    if (close(fd) != 0 && rc == 0) {
        rc = -errno;
        eng_sctx_error(s, "close %s: %s", path, strerror(errno));
    }
    return rc;
}

static const char *tf__id(const cJSON *msg)
{
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(msg, "id");
    return cJSON_IsString(id) ? id->valuestring : "?";
}

/* Records one execution of STEP for the message and sets *output to its
 * token. */
static int tf__effect(eng_sctx *s, const char *step, const char *token,
                      const cJSON *msg, cJSON **output)
{
    char line[512];
    int n = snprintf(line, sizeof line, "%s %s %s %d\n", step, tf__id(msg),
                     token, (int)getpid());
    if (n < 0 || (size_t)n >= sizeof line) {
        eng_sctx_error(s, "effect line too long");
        return -EINVAL;
    }
    int rc = tf__append(s, line, (size_t)n);
    if (rc != 0)
        return rc;
    *output = cJSON_CreateObject();
    if (*output == NULL || cJSON_AddStringToObject(*output, "token", token) == NULL) {
        cJSON_Delete(*output);
        *output = NULL;
        eng_sctx_error(s, "out of memory");
        return -ENOMEM;
    }
    return 0;
}

static void tf__token(char *buf, size_t len)
{
    snprintf(buf, len, "t%dx%lld.%ld", (int)getpid(), (long long)tf__nonce,
             atomic_fetch_add(&tf__seq, 1) + 1);
}

static int tf__plain(eng_sctx *s, const char *step, const cJSON *msg, cJSON **output)
{
    char token[64];
    tf__token(token, sizeof token);
    return tf__effect(s, step, token, msg, output);
}

static int tf__prepare(eng_sctx *s, const cJSON *msg, cJSON **output)
{
    return tf__plain(s, "prepare", msg, output);
}

static int tf__left(eng_sctx *s, const cJSON *msg, cJSON **output)
{
    return tf__plain(s, "left", msg, output);
}

/* Sleeps slowMs in slices so that a cancelled step ends early. */
static int tf__slow(eng_sctx *s, const cJSON *msg, cJSON **output)
{
    char token[64];
    tf__token(token, sizeof token);
    char line[512];
    int n = snprintf(line, sizeof line, "begin slow %s %s %d\n", tf__id(msg),
                     token, (int)getpid());
    if (n < 0 || (size_t)n >= sizeof line) {
        eng_sctx_error(s, "begin line too long");
        return -EINVAL;
    }
    int rc = tf__append(s, line, (size_t)n);
    if (rc != 0)
        return rc;
    const cJSON *ms = cJSON_GetObjectItemCaseSensitive(msg, "slowMs");
    double left = cJSON_IsNumber(ms) ? ms->valuedouble : 0;
    while (left > 0 && !eng_sctx_cancelled(s)) {
        struct timespec ts = {0, TF_SLICE_MS * 1000000L};
        nanosleep(&ts, NULL);
        left -= TF_SLICE_MS;
    }
    if (eng_sctx_cancelled(s)) {
        eng_sctx_error(s, "slow step cancelled");
        return -ECANCELED;
    }
    return tf__effect(s, "slow", token, msg, output);
}

/* The only step that changes the state: count and sum let the driver
 * check that each message was applied exactly once. */
static int tf__finish(eng_sctx *s, const cJSON *msg, cJSON **output)
{
    cJSON *st = eng_sctx_state(s);
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(msg, "n");
    cJSON *count = cJSON_GetObjectItemCaseSensitive(st, "count");
    cJSON *sum = cJSON_GetObjectItemCaseSensitive(st, "sum");
    if (!cJSON_IsNumber(count) || !cJSON_IsNumber(sum) || !cJSON_IsNumber(n)) {
        eng_sctx_error(s, "state or message lacks count, sum or n");
        return -EINVAL;
    }
    int rc = tf__plain(s, "finish", msg, output);
    if (rc != 0)
        return rc;
    cJSON_SetNumberValue(count, count->valuedouble + 1);
    cJSON_SetNumberValue(sum, sum->valuedouble + n->valuedouble);
    return 0;
}

/* Asked before each commit, on the engine's committer thread. */
static int tf__fault(const char *site, void *ud)
{
    static atomic_long asks;
    const char *path = ud;
    if (strcmp(site, "commit") != 0)
        return 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    char buf[32];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    long every = strtol(buf, NULL, 10);
    if (every > 0 && (atomic_fetch_add(&asks, 1) + 1) % every == 0)
        return -EIO;
    return 0;
}

static int tf__branch_left(eng_ctx *c, void *arg)
{
    return eng_step(c, "left", tf__left, arg, NULL, NULL);
}

static int tf__branch_slow(eng_ctx *c, void *arg)
{
    return eng_step(c, "slow", tf__slow, arg, NULL, NULL);
}

static int tf__iteration(eng_ctx *c, void *arg)
{
    (void)arg;
    const cJSON *msg;
    ENG_TRY(eng_queue_next(c, "wait-job", "job", -1, &msg));
    ENG_TRY(eng_step(c, "prepare", tf__prepare, msg, NULL, NULL));
    ENG_TRY(eng_sleep(c, "nap", 5));
    /* msg belongs to the engine until the run function returns, longer
     * than the branches use it; they only read it. */
    eng_branch b[] = {{"left", tf__branch_left, (void *)msg},
                      {"right", tf__branch_slow, (void *)msg}};
    ENG_TRY(eng_join(c, "both", b, 2));
    return eng_step(c, "finish", tf__finish, msg, NULL, NULL);
}

static int tf__run(eng_ctx *c)
{
    return eng_loop(c, "jobs", tf__iteration, NULL);
}

static const eng_field tf__fields[] = {{"id", cJSON_String}, {"n", cJSON_Number}};
static const eng_queue_def tf__queues[] = {{"job", tf__fields, 2}};

int actorfs_register(eng *e);

int actorfs_register(eng *e)
{
    static const eng_type t = {
        .name = "torture",
        .initial_state = "{\"count\":0,\"sum\":0}",
        .queues = tf__queues,
        .nqueues = 1,
        .run = tf__run,
    };
    static char fault_path[4096];
    tf__nonce = eng_now_ms() % 1000000000;
    int n = snprintf(fault_path, sizeof fault_path, "%s/torture-fault-commit",
                     eng_data_dir(e));
    if (n < 0 || (size_t)n >= sizeof fault_path)
        return -ENAMETOOLONG;
    eng_fault_set(tf__fault, fault_path);
    return eng_register(e, &t);
}
