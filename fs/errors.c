/*
 * errors.c - the `error` files: why the last refusal was a refusal.
 *
 * A refused write, ctl command, action or rmdir returns an errno, which
 * says little; the words go here, keyed by the error file that shows them
 * ("ACTOR" for ACTOR/error, "ACTOR/queues/Q" for its queue's error), and
 * to the daemon's log.  A reason stays until the next refusal replaces it:
 * a user who looks after the fact still finds it.  Kept in memory only;
 * the log is the durable record.
 */
#include "fs.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct fs__reason {
    struct fs__reason *next;
    char *key;
    char *text;
} fs__reason;

struct fs_errors {
    pthread_mutex_t mu;
    fs__reason *head;
};

int fs_errors_new(fs_errors **out)
{
    fs_errors *t = calloc(1, sizeof(*t));
    if (!t)
        return -ENOMEM;
    pthread_mutex_init(&t->mu, NULL);
    *out = t;
    return 0;
}

void fs_errors_free(fs_errors *t)
{
    if (!t)
        return;
    while (t->head) {
        fs__reason *r = t->head;
        t->head = r->next;
        free(r->key);
        free(r->text);
        free(r);
    }
    pthread_mutex_destroy(&t->mu);
    free(t);
}

static void fs__store(fs_errors *t, const char *key, const char *text)
{
    char *copy = strdup(text);
    if (!copy)
        return;
    pthread_mutex_lock(&t->mu);
    fs__reason *r = t->head;
    while (r && strcmp(r->key, key) != 0)
        r = r->next;
    if (!r) {
        r = calloc(1, sizeof(*r));
        if (r)
            r->key = strdup(key);
        if (!r || !r->key) {
            free(r);
            free(copy);
            pthread_mutex_unlock(&t->mu);
            return;
        }
        r->next = t->head;
        t->head = r;
    }
    free(r->text);
    r->text = copy;
    pthread_mutex_unlock(&t->mu);
}

void fs_printable(const char *in, char *out, size_t len)
{
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)in; *p && o + 5 < len;
         p++) {
        if (*p < 0x20 || *p == 0x7f)
            o += (size_t)snprintf(out + o, len - o, "\\x%02x", *p);
        else
            out[o++] = (char)*p;
    }
    out[o] = '\0';
}

void fs_error_set(fs_state *st, const char *key, int err, const char *fmt,
                  ...)
{
    char raw[1024], text[4096], k[4 * FS_ERRKEY_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(raw, sizeof(raw), fmt, ap);
    va_end(ap);
    /* One line per reason, and a name a user made up cannot forge a line
     * of the log or a terminal escape: control bytes are shown as \xNN. */
    fs_printable(raw, text, sizeof(text));
    fs_printable(key, k, sizeof(k));
    fs__store(st->errors, key, text);
    eng_log("refused (%s) on %s: %s", strerror(-err), k, text);
}

int fs_error_get(fs_errors *t, const char *key, char **buf, size_t *len)
{
    pthread_mutex_lock(&t->mu);
    const fs__reason *r = t->head;
    while (r && strcmp(r->key, key) != 0)
        r = r->next;
    size_t n = r ? strlen(r->text) : 0;
    char *out = malloc(n + 2);
    if (out) {
        if (r) {
            memcpy(out, r->text, n);
            out[n++] = '\n';
        }
        out[n] = '\0';
    }
    pthread_mutex_unlock(&t->mu);
    if (!out)
        return -ENOMEM;
    *buf = out;
    *len = n;
    return 0;
}

void fs_error_forget(fs_errors *t, const char *key)
{
    size_t kl = strlen(key);
    pthread_mutex_lock(&t->mu);
    fs__reason **p = &t->head;
    while (*p) {
        fs__reason *r = *p;
        if (strncmp(r->key, key, kl) == 0 &&
            (r->key[kl] == '\0' || r->key[kl] == '/')) {
            *p = r->next;
            free(r->key);
            free(r->text);
            free(r);
        } else {
            p = &r->next;
        }
    }
    pthread_mutex_unlock(&t->mu);
}
