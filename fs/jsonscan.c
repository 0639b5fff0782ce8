/*
 * jsonscan.c - a JSON prefix scanner (RFC 8259 grammar, no values built).
 *
 * One pass with an explicit stack of open containers: running out of
 * input inside a token or container is "prefix", a byte the grammar
 * cannot take is "invalid".  A top-level number that ends the input is
 * complete (more digits could follow, but a message is judged at close).
 */
#include "jsonscan.h"

enum { S_VAL, S_VAL_OR_CLOSE, S_KEY, S_KEY_OR_CLOSE, S_COLON, S_NEXT, S_END };

#define R_BAD (-1)  /* not JSON */
#define R_MORE 0    /* input ended inside the token */
#define R_DONE 1    /* token complete, *i after it */

static int is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static int is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
           (c >= 'A' && c <= 'F');
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int scan_string(const char *s, size_t n, size_t *i)
{
    size_t p = *i + 1;
    for (;;) {
        if (p >= n)
            return R_MORE;
        unsigned char c = (unsigned char)s[p];
        if (c == '"') {
            *i = p + 1;
            return R_DONE;
        }
        if (c < 0x20) {
            *i = p;
            return R_BAD;
        }
        if (c != '\\') {
            p++;
            continue;
        }
        if (++p >= n)
            return R_MORE;
        char e = s[p];
        if (e == 'u') {
            for (int k = 1; k <= 4; k++) {
                if (p + (size_t)k >= n)
                    return R_MORE;
                if (!is_hex(s[p + (size_t)k])) {
                    *i = p + (size_t)k;
                    return R_BAD;
                }
            }
            p += 5;
        } else if (e == '"' || e == '\\' || e == '/' || e == 'b' ||
                   e == 'f' || e == 'n' || e == 'r' || e == 't') {
            p++;
        } else {
            *i = p;
            return R_BAD;
        }
    }
}

/* R_DONE when a complete number ends before a non-number byte or at the
 * end of input (*at_end says which). */
static int scan_number(const char *s, size_t n, size_t *i, int *at_end)
{
    size_t p = *i;
    *at_end = 0;
    if (s[p] == '-')
        p++;
    if (p >= n)
        return R_MORE;
    if (s[p] == '0') {
        p++;
    } else if (is_digit(s[p])) {
        while (p < n && is_digit(s[p]))
            p++;
    } else {
        *i = p;
        return R_BAD;
    }
    if (p < n && s[p] == '.') {
        if (++p >= n)
            return R_MORE;
        if (!is_digit(s[p])) {
            *i = p;
            return R_BAD;
        }
        while (p < n && is_digit(s[p]))
            p++;
    }
    if (p < n && (s[p] == 'e' || s[p] == 'E')) {
        if (++p >= n)
            return R_MORE;
        if (s[p] == '+' || s[p] == '-')
            if (++p >= n)
                return R_MORE;
        if (!is_digit(s[p])) {
            *i = p;
            return R_BAD;
        }
        while (p < n && is_digit(s[p]))
            p++;
    }
    *at_end = p >= n;
    *i = p;
    return R_DONE;
}

static int scan_literal(const char *s, size_t n, size_t *i)
{
    static const char *const words[] = {"true", "false", "null"};
    for (int w = 0; w < 3; w++) {
        const char *lit = words[w];
        if (lit[0] != s[*i])
            continue;
        size_t p = *i;
        for (size_t k = 0; lit[k]; k++, p++) {
            if (p >= n)
                return R_MORE;
            if (s[p] != lit[k]) {
                *i = p;
                return R_BAD;
            }
        }
        *i = p;
        return R_DONE;
    }
    return R_BAD;
}

int fs_jsonscan(const char *s, size_t n, size_t *where)
{
    char stack[FS_JSON_MAX_DEPTH];
    int depth = 0;
    int st = S_VAL;
    size_t i = 0;
    int r;

#define FAIL()                                                               \
    do {                                                                     \
        if (where)                                                           \
            *where = i;                                                      \
        return FS_JSON_INVALID;                                              \
    } while (0)
#define AFTER_VALUE() (st = depth == 0 ? S_END : S_NEXT)

    for (;;) {
        while (i < n && is_ws(s[i]))
            i++;
        if (i >= n)
            return st == S_END ? FS_JSON_COMPLETE : FS_JSON_PREFIX;
        char c = s[i];
        switch (st) {
        case S_END:
            FAIL();
        case S_COLON:
            if (c != ':')
                FAIL();
            i++;
            st = S_VAL;
            continue;
        case S_NEXT:
            if (c == ',') {
                i++;
                st = stack[depth - 1] == '{' ? S_KEY : S_VAL;
                continue;
            }
            if (c != (stack[depth - 1] == '{' ? '}' : ']'))
                FAIL();
            depth--;
            i++;
            AFTER_VALUE();
            continue;
        case S_KEY_OR_CLOSE:
            if (c == '}') {
                depth--;
                i++;
                AFTER_VALUE();
                continue;
            }
            /* fall through */
        case S_KEY:
            if (c != '"')
                FAIL();
            r = scan_string(s, n, &i);
            if (r == R_BAD)
                FAIL();
            if (r == R_MORE)
                return FS_JSON_PREFIX;
            st = S_COLON;
            continue;
        case S_VAL_OR_CLOSE:
            if (c == ']') {
                depth--;
                i++;
                AFTER_VALUE();
                continue;
            }
            /* fall through */
        case S_VAL:
            if (c == '{' || c == '[') {
                if (depth == FS_JSON_MAX_DEPTH)
                    FAIL();
                stack[depth++] = c;
                i++;
                st = c == '{' ? S_KEY_OR_CLOSE : S_VAL_OR_CLOSE;
                continue;
            }
            if (c == '"') {
                r = scan_string(s, n, &i);
            } else if (c == '-' || is_digit(c)) {
                int at_end;
                r = scan_number(s, n, &i, &at_end);
                if (r == R_DONE && at_end)
                    return depth == 0 ? FS_JSON_COMPLETE : FS_JSON_PREFIX;
            } else {
                r = scan_literal(s, n, &i);
            }
            if (r == R_BAD)
                FAIL();
            if (r == R_MORE)
                return FS_JSON_PREFIX;
            AFTER_VALUE();
            continue;
        }
    }
#undef FAIL
#undef AFTER_VALUE
}
