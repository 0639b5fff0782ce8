/*
 * fuzz_action.c - libFuzzer target for action calls (eng_action), the
 * path behind actions/NAME transaction files.  The input is "NAME\nARGS":
 * NAME is the action (the whole input is ARGS for "echo" when there is no
 * newline), ARGS are parsed as JSON the way the filesystem hands them
 * over.  The oracle: "echo" returns its arguments (compared as printed
 * JSON: cJSON_Compare never finds an infinite number equal to itself);
 * any other name fails with a reason and no result.
 */
#include "fz.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    eng *e = fz_engine();
    const uint8_t *nl = memchr(data, '\n', size);
    char *name = nl ? fz_cstr(data, (size_t)(nl - data)) : fz_cstr((const uint8_t *)"echo", 4);
    const uint8_t *a = nl ? nl + 1 : data;
    size_t alen = size - (size_t)(a - data);
    cJSON *args = cJSON_ParseWithLength((const char *)a, alen);
    cJSON *result = NULL;
    char err[256] = "";
    int rc = eng_action(e, "fz", "", name, args, &result, err, sizeof err);
    if (strcmp(name, "echo") == 0) {
        if (rc != 0)
            fz_fail("echo failed: %d %s", rc, err);
        if (result == NULL)
            fz_fail("echo gave no result");
        char *want = args ? cJSON_PrintUnformatted(args) : NULL;
        char *got = cJSON_PrintUnformatted(result);
        if (got == NULL || (args && want == NULL))
            fz_fail("out of memory");
        if (strcmp(want ? want : "null", got) != 0)
            fz_fail("echo returned %.100s for %.100s", got, want ? want : "null");
        free(want);
        free(got);
    } else {
        if (rc == 0)
            fz_fail("an unknown action succeeded");
        if (rc > 0)
            fz_fail("an unknown action returned positive %d", rc);
        if (err[0] == '\0' || memchr(err, '\0', sizeof err) == NULL)
            fz_fail("an unknown action failed (%d) without a reason", rc);
    }
    cJSON_Delete(result);
    cJSON_Delete(args);
    free(name);
    return 0;
}
