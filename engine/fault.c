/*
 * fault.c - the fault-injection seam (SQLite's sqlite3FaultSim is the
 * model).  Production code asks eng_fault(SITE) before each commit and
 * each sandbox spawn; a test installs a hook, or sets the environment:
 * ACTORFS_FAULT_COMMIT=N fails every Nth commit with -EIO, and
 * ACTORFS_FAULT_KILL=before:N|after:N SIGKILLs the process around the Nth
 * commit, which is how the crash tests stop a writer at an exact point.
 */
#include "eng_int.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static eng_fault_fn hook;
static void *hook_ud;
static long every_commit; /* ACTORFS_FAULT_COMMIT */
static long kill_at;      /* ACTORFS_FAULT_KILL's N */
static int kill_after;    /* 1: after, 0: before */
static atomic_long commits, commit_asks;

/* Read by eng_open, so each engine opened sees the environment of then. */
void eng__fault_env_load(void)
{
    const char *v = getenv("ACTORFS_FAULT_COMMIT");
    every_commit = v && *v ? strtol(v, NULL, 10) : 0;
    commit_asks = 0;
    commits = 0;
    kill_at = 0;
    v = getenv("ACTORFS_FAULT_KILL");
    if (v && *v) {
        const char *n = strchr(v, ':');
        if (n) {
            kill_after = strncmp(v, "after", 5) == 0;
            kill_at = strtol(n + 1, NULL, 10);
        }
    }
}

void eng_fault_set(eng_fault_fn fn, void *ud)
{
    pthread_mutex_lock(&mu);
    hook = fn;
    hook_ud = ud;
    pthread_mutex_unlock(&mu);
}

int eng_fault(const char *site)
{
    pthread_mutex_lock(&mu);
    eng_fault_fn fn = hook;
    void *ud = hook_ud;
    pthread_mutex_unlock(&mu);
    if (fn) {
        int rc = fn(site, ud);
        if (rc != 0)
            return rc < 0 ? rc : -rc;
    }
    if (every_commit > 0 && strcmp(site, "commit") == 0 &&
        ++commit_asks % every_commit == 0)
        return -EIO;
    return 0;
}

static void die(void)
{
    eng_log("fault injection: SIGKILL at commit %ld (%s)", kill_at,
            kill_after ? "after" : "before");
    kill(getpid(), SIGKILL);
    for (;;)
        pause();
}

int eng__fault_kill_before(void)
{
    long n = ++commits;
    if (kill_at > 0 && !kill_after && n == kill_at)
        die();
    return 0;
}

void eng__fault_kill_after(void)
{
    if (kill_at > 0 && kill_after && commits == kill_at)
        die();
}
