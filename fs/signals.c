/*
 * signals.c - SIGTERM, SIGINT and SIGHUP end the FUSE loop, whichever
 * thread the kernel would have picked.
 *
 * libfuse's own handlers only set a flag, which the loop sees when one of
 * its threads wakes; a signal taken by an engine or libuv thread (they may
 * be created from FUSE threads and inherit their mask) would leave an idle
 * daemon running.  So the signals stay blocked everywhere and one thread
 * takes them with sigwait(), ends the session and pokes the main thread
 * (blocked in the loop's sem_wait) with SIGUSR2 until the loop returns.
 */
#include "fs.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct fs_signals {
    pthread_t thread;
    pthread_t main;
    struct fuse_session *se;
    pthread_mutex_t mu;
    int loop_done;
    int caught;
};

static void fs__poke(int sig)
{
    (void)sig; /* only interrupts sem_wait */
}

static void fs__sigset(sigset_t *s)
{
    sigemptyset(s);
    sigaddset(s, SIGTERM);
    sigaddset(s, SIGINT);
    sigaddset(s, SIGHUP);
}

static void *fs__thread(void *arg)
{
    fs_signals *s = arg;
    sigset_t set;
    fs__sigset(&set);
    int sig = 0;
    while (sigwait(&set, &sig) != 0)
        ;
    pthread_mutex_lock(&s->mu);
    int stopping = s->loop_done;
    if (!stopping)
        s->caught = sig;
    pthread_mutex_unlock(&s->mu);
    if (stopping)
        return NULL;
    fuse_session_exit(s->se);
    for (;;) {
        pthread_mutex_lock(&s->mu);
        int done = s->loop_done;
        pthread_mutex_unlock(&s->mu);
        if (done)
            return NULL;
        pthread_kill(s->main, SIGUSR2);
        struct timespec ts = {0, 50 * 1000000};
        nanosleep(&ts, NULL);
    }
}

int fs_signals_start(struct fuse_session *se, fs_signals **out)
{
    fs_signals *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    s->se = se;
    s->main = pthread_self();
    pthread_mutex_init(&s->mu, NULL);
    /* A shell starts background jobs with SIGINT ignored, and an ignored
     * signal never reaches sigwait: kill -INT must work. */
    signal(SIGTERM, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    signal(SIGHUP, SIG_DFL);
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = fs__poke; /* no SA_RESTART: sem_wait returns */
    sigaction(SIGUSR2, &sa, NULL);
    int rc = pthread_create(&s->thread, NULL, fs__thread, s);
    if (rc != 0) {
        pthread_mutex_destroy(&s->mu);
        free(s);
        return -rc;
    }
    *out = s;
    return 0;
}

int fs_signals_stop(fs_signals *s)
{
    pthread_mutex_lock(&s->mu);
    s->loop_done = 1;
    int caught = s->caught;
    pthread_mutex_unlock(&s->mu);
    if (!caught)
        pthread_kill(s->thread, SIGTERM); /* ends its sigwait */
    pthread_join(s->thread, NULL);
    pthread_mutex_lock(&s->mu);
    caught = s->caught;
    pthread_mutex_unlock(&s->mu);
    pthread_mutex_destroy(&s->mu);
    free(s);
    return caught;
}
