/*
 * util.c - small helpers the VM backend shares: a growable byte buffer,
 * the UTF-8 cleaning that lets arbitrary command output travel in JSON,
 * formatted error reasons and a monotonic clock.
 */
#include "vm_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int vm__buf_add(vm__buf *b, const void *data, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (p == NULL)
            return -ENOMEM;
        b->p = p;
        b->cap = cap;
    }
    if (n > 0)
        memcpy(b->p + b->n, data, n);
    b->n += n;
    b->p[b->n] = '\0';
    return 0;
}

int vm__buf_str(vm__buf *b, const char *s)
{
    return vm__buf_add(b, s, strlen(s));
}

void vm__buf_free(vm__buf *b)
{
    free(b->p);
    b->p = NULL;
    b->n = b->cap = 0;
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), 0 if none. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len;
    unsigned int min;
    unsigned int cp;
    if (c < 0x80)
        return c == 0 ? 0 : 1;
    if ((c & 0xE0) == 0xC0) {
        len = 2, min = 0x80, cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
        len = 3, min = 0x800, cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
        len = 4, min = 0x10000, cp = c & 0x07;
    } else {
        return 0;
    }
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

char *vm__utf8_clean(const char *data, size_t n)
{
    vm__buf b = {0};
    const unsigned char *s = (const unsigned char *)data;
    size_t i = 0;
    if (vm__buf_add(&b, "", 0) < 0)
        return NULL;
    while (i < n) {
        size_t run = i;
        size_t len;
        while (run < n && (len = utf8_seq(s + run, n - run)) > 0)
            run += len;
        if (vm__buf_add(&b, s + i, run - i) < 0)
            goto oom;
        i = run;
        if (i < n) {
            if (vm__buf_add(&b, "\xEF\xBF\xBD", 3) < 0)
                goto oom;
            i++;
        }
    }
    return b.p;
oom:
    vm__buf_free(&b);
    return NULL;
}

void vm__err(char *err, size_t errlen, const char *fmt, ...)
{
    if (err == NULL || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

int64_t vm__mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void vm__alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    (void)h;
    (void)hint;
    static char mem[65536];
    /* Every read on the VM loop is consumed before the next one starts:
     * one buffer serves them all. */
    buf->base = mem;
    buf->len = sizeof mem;
}
