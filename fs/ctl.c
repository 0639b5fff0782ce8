/*
 * ctl.c - the `ctl` file: newline-terminated text commands.
 *
 * Each complete line written is handed to eng_ctl at once, so an unknown
 * or inapplicable command fails the write() that carried it (bash prints
 * the error); a last line without its newline runs at close.
 */
#include "fs.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static int fs__ctl_run(fs_state *st, fs_fh *h, const char *cmd)
{
    char reason[512] = "";
    int rc = eng_ctl(st->e, h->node.type, h->node.key, cmd, reason,
                     sizeof(reason));
    if (rc < 0) {
        char key[FS_ERRKEY_MAX];
        fs_node_error_key(&h->node, key, sizeof(key));
        fs_error_set(st, key, rc, "ctl \"%s\": %s", cmd,
                     reason[0] ? reason : strerror(-rc));
        h->refused = rc;
    }
    return rc;
}

int fs_ctl_write(fs_state *st, fs_fh *h, const char *buf, size_t len)
{
    if (h->refused)
        return h->refused;
    if (h->len + len > 4096) {
        h->len = 0;
        return fs__ctl_run(st, h, "(a command of over 4096 bytes)");
    }
    int rc = fs_fh_put(h, buf, len, (off_t)h->len);
    if (rc < 0)
        return rc;
    char *nl;
    while ((nl = memchr(h->buf, '\n', h->len)) != NULL) {
        size_t n = (size_t)(nl - h->buf);
        *nl = '\0';
        if (n > 0 && (rc = fs__ctl_run(st, h, h->buf)) < 0) {
            h->len = 0;
            return rc;
        }
        memmove(h->buf, nl + 1, h->len - n - 1);
        h->len -= n + 1;
        h->buf[h->len] = '\0';
    }
    return (int)len;
}

int fs_ctl_flush(fs_state *st, fs_fh *h)
{
    if (h->refused)
        return h->refused;
    if (h->len == 0)
        return 0;
    h->len = 0;
    return fs__ctl_run(st, h, h->buf);
}
