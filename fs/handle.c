/*
 * handle.c - the state of one open file description.
 *
 * FUSE gives each open() a handle; every byte a descriptor reads (a
 * snapshot fetched at open) or writes (a message arriving in pieces) lives
 * here, so two descriptors never see each other's data and dup'd
 * descriptors share one.  A handle is freed once, at release.
 */
#include "fs.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

fs_fh *fs_fh_new(fs_state *st, const fs_node *n, int flags)
{
    fs_fh *h = calloc(1, sizeof(*h));
    if (!h)
        return NULL;
    h->node = *n;
    h->flags = flags;
    h->fd = -1;
    pthread_mutex_init(&h->mu, NULL);
    pthread_mutex_lock(&st->fh_mu);
    h->next = st->fh_head;
    if (h->next)
        h->next->prev = h;
    st->fh_head = h;
    pthread_mutex_unlock(&st->fh_mu);
    return h;
}

void fs_fh_free(fs_state *st, fs_fh *h)
{
    if (!h)
        return;
    pthread_mutex_lock(&st->fh_mu);
    if (h->prev)
        h->prev->next = h->next;
    else
        st->fh_head = h->next;
    if (h->next)
        h->next->prev = h->prev;
    pthread_mutex_unlock(&st->fh_mu);
    /* A read replies under the handle's lock, and the reply lets the client
     * close the file (RELEASE) before that handler has let go of it. */
    pthread_mutex_lock(&h->mu);
    pthread_mutex_unlock(&h->mu);
    if (h->fd >= 0)
        close(h->fd);
    free(h->buf);
    free(h->resp);
    free(h->path);
    eng_dirents_free(h->ents, h->nents);
    pthread_mutex_destroy(&h->mu);
    free(h);
}

void fs_fh_free_all(fs_state *st)
{
    while (st->fh_head)
        fs_fh_free(st, st->fh_head);
}

int fs_fh_put(fs_fh *h, const char *buf, size_t len, off_t off)
{
    if (off < 0)
        return -EINVAL;
    size_t end = (size_t)off + len;
    if (end + 1 > h->cap) {
        size_t cap = h->cap ? h->cap : 4096;
        while (cap < end + 1)
            cap *= 2;
        char *p = realloc(h->buf, cap);
        if (!p)
            return -ENOMEM;
        h->buf = p;
        h->cap = cap;
    }
    if ((size_t)off > h->len)
        memset(h->buf + h->len, 0, (size_t)off - h->len);
    memcpy(h->buf + off, buf, len);
    if (end > h->len)
        h->len = end;
    h->buf[h->len] = '\0';
    return 0;
}
