/*
 * log.c - the daemon's log: one timestamped line per call on stderr
 * (which the daemon points at DATA/actorfs.log), serialised by a mutex so
 * lines from the loop, committer, worker and FUSE threads never mix.
 */
#include "eng_int.h"

#include <pthread.h>
#include <stdio.h>
#include <time.h>

static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;

int64_t eng_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

char *eng__iso_time(int64_t ms, char *buf, size_t len)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    char tmp[32];
    strftime(tmp, sizeof tmp, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, len, "%s.%03dZ", tmp, (int)(ms % 1000));
    return buf;
}

void eng_log(const char *fmt, ...)
{
    char ts[40];
    eng__iso_time(eng_now_ms(), ts, sizeof ts);
    va_list ap;
    va_start(ap, fmt);
    pthread_mutex_lock(&log_mu);
    fprintf(stderr, "%s actorfs: ", ts);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    fflush(stderr);
    pthread_mutex_unlock(&log_mu);
    va_end(ap);
}
