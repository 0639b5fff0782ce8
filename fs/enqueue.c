/*
 * enqueue.c - writing a message into queues/NAME/ (new or a key file).
 *
 * The bytes of one message arrive in several write()s, so they collect in
 * the handle.  write() refuses at once what can never be a valid message
 * (invalid JSON, a complete message that breaks the queue's fields, too
 * many bytes): that is the only error bash reports.  flush (close) enqueues
 * the message with eng_enqueue, which returns once it is committed, so
 * close() returning 0 is the acknowledgement.  Dup'd descriptors share the
 * handle and flush more than once: the message is enqueued once.
 */
#include "fs.h"
#include "jsonscan.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static int fs__refuse(fs_state *st, fs_fh *h, int rc, const char *reason)
{
    char key[FS_ERRKEY_MAX];
    fs_node_error_key(&h->node, key, sizeof(key));
    fs_error_set(st, key, rc, "%s", reason);
    h->refused = rc;
    return rc;
}

int fs_enqueue_key_check(fs_state *st, const fs_node *n)
{
    int rc = eng_key_check(st->e, n->type, n->key, n->name, n->sub);
    if (rc < 0) {
        char key[FS_ERRKEY_MAX];
        fs_node_error_key(n, key, sizeof(key));
        fs_error_set(st, key, rc,
                     "idempotency key \"%s\" is already used on queue %s",
                     n->sub, n->name);
    }
    return rc;
}

int fs_enqueue_write(fs_state *st, fs_fh *h, const char *buf, size_t len,
                     off_t off)
{
    char reason[512];
    if (h->refused)
        return h->refused;
    if (h->done) {
        /* The message went at an earlier close; these bytes start the
         * next one. */
        h->done = 0;
        h->len = 0;
    }
    if ((size_t)off + len > st->max_message_bytes) {
        snprintf(reason, sizeof(reason),
                 "message too big: over %zu bytes (the limit is %zu, "
                 "--max-message-bytes)",
                 (size_t)off + len, st->max_message_bytes);
        return fs__refuse(st, h, -EFBIG, reason);
    }
    int rc = fs_fh_put(h, buf, len, off);
    if (rc < 0)
        return rc;
    size_t where = 0;
    switch (fs_jsonscan(h->buf, h->len, &where)) {
    case FS_JSON_INVALID:
        snprintf(reason, sizeof(reason), "invalid JSON at byte %zu", where);
        return fs__refuse(st, h, -EINVAL, reason);
    case FS_JSON_COMPLETE:
        rc = eng_message_check(st->e, h->node.type, h->node.name, h->buf,
                               h->len, reason, sizeof(reason));
        if (rc < 0)
            return fs__refuse(st, h, rc, reason);
        break;
    default:
        break;
    }
    return (int)len;
}

int fs_enqueue_flush(fs_state *st, fs_fh *h)
{
    char reason[512];
    if (h->refused)
        return h->refused;
    if (h->done || h->len == 0)
        return 0;
    if (fs_jsonscan(h->buf, h->len, NULL) != FS_JSON_COMPLETE) {
        snprintf(reason, sizeof(reason),
                 "incomplete JSON message (%zu bytes) at close", h->len);
        return fs__refuse(st, h, -EINVAL, reason);
    }
    int64_t id = 0;
    reason[0] = '\0';
    int rc = eng_enqueue(st->e, h->node.type, h->node.key, h->node.name,
                         h->buf, h->len,
                         h->node.kind == FS_N_QKEY ? h->node.sub : NULL, &id,
                         reason, sizeof(reason));
    if (rc < 0)
        return fs__refuse(st, h, rc, reason[0] ? reason : strerror(-rc));
    h->done = 1;
    return 0;
}
