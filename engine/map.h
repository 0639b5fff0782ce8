/*
 * map.h - a string-keyed hash map (chained, growing) used for the actor
 * table and each actor's journal cache.  Keys are copied; values are the
 * caller's.  Not thread-safe: each map has one owner or one lock.
 */
#ifndef ENG_MAP_H
#define ENG_MAP_H

#include <stddef.h>

typedef struct eng__mnode {
    struct eng__mnode *next;
    size_t hash;
    void *val;
    char key[];
} eng__mnode;

typedef struct {
    eng__mnode **b;
    size_t nb, n;
} eng__map;

void *eng__map_get(const eng__map *m, const char *key);
/* Inserts or replaces; returns 0 or -ENOMEM. */
int eng__map_put(eng__map *m, const char *key, void *val);
/* Removes KEY and returns its value (NULL if absent). */
void *eng__map_del(eng__map *m, const char *key);
/* Calls fn for each entry; fn returning 1 removes the entry. */
void eng__map_filter(eng__map *m, int (*fn)(const char *key, void *val, void *ud),
                     void *ud);
void eng__map_free(eng__map *m);

#endif
