/*
 * fuzz_ctl.c - libFuzzer target for ctl commands (eng_ctl on an actor
 * whose workflow waits on a queue): anything written to ctl reaches it.
 * The oracle: only "retry", "cancel" and "restart" (trailing newlines and
 * carriage returns allowed: echo and CRLF tools) may succeed; anything
 * else is -EINVAL with a reason.
 */
#include "fz.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int fz__known(const char *s)
{
    static const char *const cmds[] = {"retry", "cancel", "restart"};
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r'))
        n--;
    for (size_t i = 0; i < 3; i++)
        if (strlen(cmds[i]) == n && strncmp(cmds[i], s, n) == 0)
            return 1;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    eng *e = fz_engine();
    char *cmd = fz_cstr(data, size);
    char err[256] = "";
    int rc = eng_ctl(e, "fz", "", cmd, err, sizeof err);
    if (rc == 0 && !fz__known(cmd))
        fz_fail("ctl accepted an unknown command");
    if (!fz__known(cmd) && rc != -EINVAL)
        fz_fail("ctl: unknown command gave %d, not -EINVAL", rc);
    if (rc != 0 && (err[0] == '\0' || memchr(err, '\0', sizeof err) == NULL))
        fz_fail("ctl refused (%d) without a reason", rc);
    free(cmd);
    return 0;
}
