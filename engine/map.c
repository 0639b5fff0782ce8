/*
 * map.c - the string hash map of map.h: FNV-1a, chained buckets, doubled
 * when the load passes 1.  Small and boring on purpose: the engine's hot
 * paths are a lookup by journal path and a lookup by actor name.
 */
#include "map.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static size_t hash(const char *s)
{
    size_t h = 1469598103934665603ULL;
    while (*s)
        h = (h ^ (unsigned char)*s++) * 1099511628211ULL;
    return h;
}

void *eng__map_get(const eng__map *m, const char *key)
{
    if (!m->nb)
        return NULL;
    size_t h = hash(key);
    for (eng__mnode *n = m->b[h & (m->nb - 1)]; n; n = n->next)
        if (n->hash == h && strcmp(n->key, key) == 0)
            return n->val;
    return NULL;
}

static int grow(eng__map *m)
{
    size_t nb = m->nb ? m->nb * 2 : 8;
    eng__mnode **b = calloc(nb, sizeof *b);
    if (!b)
        return -ENOMEM;
    for (size_t i = 0; i < m->nb; i++) {
        eng__mnode *n = m->b[i];
        while (n) {
            eng__mnode *next = n->next;
            n->next = b[n->hash & (nb - 1)];
            b[n->hash & (nb - 1)] = n;
            n = next;
        }
    }
    free(m->b);
    m->b = b;
    m->nb = nb;
    return 0;
}

int eng__map_put(eng__map *m, const char *key, void *val)
{
    size_t h = hash(key);
    if (m->nb) {
        for (eng__mnode *n = m->b[h & (m->nb - 1)]; n; n = n->next)
            if (n->hash == h && strcmp(n->key, key) == 0) {
                n->val = val;
                return 0;
            }
    }
    if (m->n >= m->nb && grow(m) < 0)
        return -ENOMEM;
    size_t kl = strlen(key) + 1;
    eng__mnode *n = malloc(sizeof *n + kl);
    if (!n)
        return -ENOMEM;
    memcpy(n->key, key, kl);
    n->hash = h;
    n->val = val;
    n->next = m->b[h & (m->nb - 1)];
    m->b[h & (m->nb - 1)] = n;
    m->n++;
    return 0;
}

void *eng__map_del(eng__map *m, const char *key)
{
    if (!m->nb)
        return NULL;
    size_t h = hash(key);
    for (eng__mnode **p = &m->b[h & (m->nb - 1)]; *p; p = &(*p)->next) {
        eng__mnode *n = *p;
        if (n->hash == h && strcmp(n->key, key) == 0) {
            void *v = n->val;
            *p = n->next;
            free(n);
            m->n--;
            return v;
        }
    }
    return NULL;
}

void eng__map_filter(eng__map *m, int (*fn)(const char *key, void *val, void *ud),
                     void *ud)
{
    for (size_t i = 0; i < m->nb; i++) {
        eng__mnode **p = &m->b[i];
        while (*p) {
            eng__mnode *n = *p;
            if (fn(n->key, n->val, ud)) {
                *p = n->next;
                free(n);
                m->n--;
            } else
                p = &n->next;
        }
    }
}

void eng__map_free(eng__map *m)
{
    for (size_t i = 0; i < m->nb; i++) {
        eng__mnode *n = m->b[i];
        while (n) {
            eng__mnode *next = n->next;
            free(n);
            n = next;
        }
    }
    free(m->b);
    m->b = NULL;
    m->nb = m->n = 0;
}
