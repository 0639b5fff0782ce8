/*
 * redact.c - keeps a session's credentials out of everything the daemon
 * writes or returns.
 *
 * Every env value of a session at least 8 bytes long is a secret; it is
 * replaced by [REDACTED] in transcripts, info, results, errors and the
 * log.  Streamed text arrives in chunks that may split a secret, so the
 * streaming form holds back any tail that could be the start of one until
 * the next chunk shows whether it is.
 */
#include "vm_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define MARK "[REDACTED]"
#define MIN_SECRET 8

int vm__redact_add(vm__redact *r, const char *value)
{
    size_t n = strlen(value);
    if (n < MIN_SECRET)
        return 0;
    char **v = realloc(r->secrets, (r->n + 1) * sizeof *v);
    if (v == NULL)
        return -ENOMEM;
    r->secrets = v;
    if ((v[r->n] = strdup(value)) == NULL)
        return -ENOMEM;
    r->n++;
    if (n > r->maxlen)
        r->maxlen = n;
    return 0;
}

void vm__redact_free(vm__redact *r)
{
    for (size_t i = 0; i < r->n; i++) {
        /* Do not leave the secret in freed memory either. */
        memset(r->secrets[i], 0, strlen(r->secrets[i]));
        free(r->secrets[i]);
    }
    free(r->secrets);
    memset(r, 0, sizeof *r);
}

char *vm__redact_str(const vm__redact *r, const char *s)
{
    vm__buf b = {0};
    if (vm__buf_add(&b, "", 0) < 0)
        return NULL;
    const char *p = s;
    while (*p) {
        size_t hit = 0;
        for (size_t i = 0; i < r->n && hit == 0; i++) {
            size_t n = strlen(r->secrets[i]);
            if (strncmp(p, r->secrets[i], n) == 0)
                hit = n;
        }
        int rc = hit ? vm__buf_str(&b, MARK) : vm__buf_add(&b, p, 1);
        if (rc < 0) {
            vm__buf_free(&b);
            return NULL;
        }
        p += hit ? hit : 1;
    }
    return b.p;
}

size_t vm__redact_safe_len(const vm__redact *r, const char *s, size_t n)
{
    /* The longest tail of s that is a proper prefix of a secret. */
    size_t hold = 0;
    for (size_t i = 0; i < r->n; i++) {
        size_t sl = strlen(r->secrets[i]);
        for (size_t k = sl - 1 < n ? sl - 1 : n; k > hold; k--) {
            if (memcmp(s + n - k, r->secrets[i], k) == 0) {
                hold = k;
                break;
            }
        }
    }
    return n - hold;
}
