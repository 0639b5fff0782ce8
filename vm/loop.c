/*
 * loop.c - the VM loop thread: one libuv loop that owns every sandboxed
 * child process, its pipes and its timers.
 *
 * Action threads never touch libuv handles; they post a function with
 * vm__loop_call (and wait for it to have run) or vm__loop_post, and wait
 * for results on their own condition variables.  The thread starts by
 * entering its private mount namespace (stage.c), which every child it
 * spawns inherits.
 */
#include "vm_int.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

typedef struct job {
    vm__loop_fn fn;
    void *arg;
    int wait;
    int done;
    struct job *next;
} job;

static struct {
    uv_loop_t loop;
    uv_async_t wake;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    job *head, *tail;
    int running;
    int stopping;
    int started;
    int rc;
    char err[256];
} L = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

uv_loop_t *vm__loop(void) { return &L.loop; }

static void run_jobs(uv_async_t *h)
{
    (void)h;
    for (;;) {
        pthread_mutex_lock(&L.mu);
        job *j = L.head;
        if (j != NULL) {
            L.head = j->next;
            if (L.head == NULL)
                L.tail = NULL;
        }
        int stopping = L.stopping;
        pthread_mutex_unlock(&L.mu);
        if (j == NULL) {
            if (stopping)
                uv_close((uv_handle_t *)&L.wake, NULL);
            return;
        }
        int wait = j->wait;
        j->fn(j->arg);
        if (!wait) {
            free(j);
            continue;
        }
        /* j lives on the waiter's stack: after done it may be gone. */
        pthread_mutex_lock(&L.mu);
        j->done = 1;
        pthread_cond_broadcast(&L.cv);
        pthread_mutex_unlock(&L.mu);
    }
}

static void *thread_main(void *arg)
{
    (void)arg;
    char err[256] = "";
    /* A sandbox may die before we write to its pipes: take EPIPE, not a
     * SIGPIPE that would kill the daemon (it is thread-directed, so
     * blocking it here is enough and leaves the process's handling be). */
    sigset_t pipe_set;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, NULL);
    int rc = vm__stage_setup(err, sizeof err);
    pthread_mutex_lock(&L.mu);
    L.started = 1;
    L.rc = rc;
    snprintf(L.err, sizeof L.err, "%s", err);
    pthread_cond_broadcast(&L.cv);
    pthread_mutex_unlock(&L.mu);
    uv_run(&L.loop, UV_RUN_DEFAULT);
    return NULL;
}

int vm__loop_start(char *err, size_t errlen)
{
    int rc = uv_loop_init(&L.loop);
    if (rc < 0) {
        vm__err(err, errlen, "vm: uv_loop_init: %s", uv_strerror(rc));
        return rc;
    }
    if ((rc = uv_async_init(&L.loop, &L.wake, run_jobs)) < 0) {
        uv_loop_close(&L.loop);
        vm__err(err, errlen, "vm: uv_async_init: %s", uv_strerror(rc));
        return rc;
    }
    L.stopping = 0;
    L.started = 0;
    if ((rc = pthread_create(&L.thread, NULL, thread_main, NULL)) != 0) {
        uv_close((uv_handle_t *)&L.wake, NULL);
        uv_run(&L.loop, UV_RUN_DEFAULT);
        uv_loop_close(&L.loop);
        vm__err(err, errlen, "vm: pthread_create: %s", strerror(rc));
        return -rc;
    }
    pthread_mutex_lock(&L.mu);
    while (!L.started)
        pthread_cond_wait(&L.cv, &L.mu);
    rc = L.rc;
    pthread_mutex_unlock(&L.mu);
    L.running = 1;
    if (rc < 0) {
        vm__err(err, errlen, "%s", L.err);
        vm__loop_stop();
    }
    return rc;
}

void vm__loop_stop(void)
{
    if (!L.running)
        return;
    pthread_mutex_lock(&L.mu);
    L.stopping = 1;
    pthread_mutex_unlock(&L.mu);
    uv_async_send(&L.wake);
    pthread_join(L.thread, NULL);
    /* Whatever a late job left: close it so the loop can be closed. */
    uv_walk(&L.loop, (uv_walk_cb)uv_close, NULL);
    uv_run(&L.loop, UV_RUN_DEFAULT);
    uv_loop_close(&L.loop);
    L.running = 0;
}

static int enqueue(job *j)
{
    pthread_mutex_lock(&L.mu);
    if (!L.running || L.stopping) {
        pthread_mutex_unlock(&L.mu);
        return -ESHUTDOWN;
    }
    if (L.tail)
        L.tail->next = j;
    else
        L.head = j;
    L.tail = j;
    pthread_mutex_unlock(&L.mu);
    uv_async_send(&L.wake);
    return 0;
}

int vm__loop_call(vm__loop_fn fn, void *arg)
{
    if (L.running && pthread_equal(pthread_self(), L.thread)) {
        fn(arg);
        return 0;
    }
    job j = {.fn = fn, .arg = arg, .wait = 1};
    int rc = enqueue(&j);
    if (rc < 0)
        return rc;
    pthread_mutex_lock(&L.mu);
    while (!j.done)
        pthread_cond_wait(&L.cv, &L.mu);
    pthread_mutex_unlock(&L.mu);
    return 0;
}

int vm__loop_post(vm__loop_fn fn, void *arg)
{
    job *j = calloc(1, sizeof *j);
    if (j == NULL)
        return -ENOMEM;
    j->fn = fn;
    j->arg = arg;
    int rc = enqueue(j);
    if (rc < 0)
        free(j);
    return rc;
}
