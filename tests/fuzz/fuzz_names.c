/*
 * fuzz_names.c - libFuzzer target for the names users supply (actor
 * directory names TYPE@KEY, keys, queue names, idempotency keys):
 * eng_name_ok and eng_actor_parse.  They stand between user input and
 * paths, log lines and SQL, so the oracle is the contract in eng.h:
 * a name is 1..200 bytes, no '/', no control characters, not "." or "..";
 * a parsed directory name splits into a type [A-Za-z0-9_-]+ and a valid
 * key (or none) that join back to the input.
 */
#include "fz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fz__rule_ok(const char *s, int *ascii)
{
    size_t n = strlen(s);
    *ascii = 1;
    if (n < 1 || n > 200 || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
        return 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '/' || *p < 0x20 || *p == 0x7f)
            return 0;
        if (*p >= 0x80)
            *ascii = 0;
    }
    return 1;
}

static int fz__type_ok(const char *t)
{
    if (*t == '\0')
        return 0;
    return strspn(t, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                     "0123456789_-") == strlen(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fz_cstr(data, size);
    int ascii;
    int rule = fz__rule_ok(s, &ascii);
    int ok = eng_name_ok(s);
    if (ok && !rule)
        fz_fail("eng_name_ok accepted a name that breaks the rules");
    if (!ok && rule && ascii)
        fz_fail("eng_name_ok refused a valid ASCII name");

    char type[256], key[512];
    if (eng_actor_parse(s, type, sizeof type, key, sizeof key) == 0) {
        if (!fz__type_ok(type))
            fz_fail("eng_actor_parse gave a malformed type");
        if (key[0] != '\0' && !eng_name_ok(key))
            fz_fail("eng_actor_parse gave a key eng_name_ok refuses");
        char back[1024];
        snprintf(back, sizeof back, key[0] ? "%s@%s" : "%s%s", type, key);
        if (strcmp(back, s) != 0)
            fz_fail("eng_actor_parse's parts do not join back to the name");
    }
    free(s);
    return 0;
}
