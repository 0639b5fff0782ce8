/*
 * fuzz_message.c - libFuzzer target for message validation
 * (eng_message_check): any bytes written to queues/NAME/ reach it.  The
 * oracle: a message is accepted only if it is one whole JSON value (an
 * object carrying every declared field with its type, for queue "q"),
 * and a valid message with its fields is never refused.  A refusal is
 * -EINVAL or -EFBIG and always comes with a reason.
 */
#include "fz.h"

#include <errno.h>
#include <string.h>

static int fz__type_ok(const cJSON *v, int type)
{
    switch (type) {
    case cJSON_String:
        return cJSON_IsString(v);
    case cJSON_Number:
        return cJSON_IsNumber(v);
    case cJSON_Object:
        return cJSON_IsObject(v);
    case cJSON_Array:
        return cJSON_IsArray(v);
    case cJSON_True:
        return cJSON_IsBool(v);
    case cJSON_NULL:
        return cJSON_IsNull(v);
    }
    return 0;
}

/* The whole input as one JSON value, or NULL.  Leading whitespace is
 * what cJSON (and jq) skip, any byte up to ' '; after the value only
 * JSON's whitespace and NUL padding, which the engine accepts on
 * purpose.  A NUL inside the value (which cJSON takes in a string, and
 * JSON does not) is no message: it would be cut short where stored. */
static cJSON *fz__parse(const uint8_t *data, size_t size)
{
    const char *end = NULL;
    cJSON *v = cJSON_ParseWithLengthOpts((const char *)data, size, &end, 0);
    if (v == NULL)
        return NULL;
    const char *start = (const char *)data;
    while (start < end && (unsigned char)*start <= ' ' && *start != '\0')
        start++;
    if (memchr(start, '\0', (size_t)(end - start))) {
        cJSON_Delete(v);
        return NULL;
    }
    for (const char *p = end; p < (const char *)data + size; p++)
        if (*p != ' ' && *p != '\n' && *p != '\t' && *p != '\r' && *p != '\0') {
            cJSON_Delete(v);
            return NULL;
        }
    return v;
}

static int fz__fields_ok(const cJSON *v)
{
    static const struct {
        const char *name;
        int type;
    } f[] = {{"s", cJSON_String}, {"n", cJSON_Number}, {"o", cJSON_Object},
             {"a", cJSON_Array},  {"b", cJSON_True},   {"z", cJSON_NULL}};
    if (!cJSON_IsObject(v))
        return 0;
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        if (!fz__type_ok(cJSON_GetObjectItemCaseSensitive(v, f[i].name), f[i].type))
            return 0;
    return 1;
}

static void fz__check(eng *e, const char *queue, const uint8_t *data, size_t size,
                      const cJSON *parsed)
{
    char err[256] = "";
    int rc = eng_message_check(e, "fz", queue, (const char *)data, size, err, sizeof err);
    if (rc != 0 && rc != -EINVAL && rc != -EFBIG)
        fz_fail("queue %s: unexpected error %d (%s)", queue, rc, err);
    if (rc != 0 && (err[0] == '\0' || memchr(err, '\0', sizeof err) == NULL))
        fz_fail("queue %s: refused (%d) without a reason", queue, rc);
    int fields = strcmp(queue, "q") == 0;
    if (rc == 0 && (parsed == NULL || (fields && !fz__fields_ok(parsed))))
        fz_fail("queue %s: accepted a message that is %s", queue,
                parsed ? "missing a declared field" : "not one JSON value");
    if (rc != 0 && fields && parsed && fz__fields_ok(parsed))
        fz_fail("queue %s: refused a valid message: %s", queue, err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    eng *e = fz_engine();
    cJSON *parsed = fz__parse(data, size);
    fz__check(e, "q", data, size, parsed);
    fz__check(e, "free", data, size, parsed);
    cJSON_Delete(parsed);
    return 0;
}
