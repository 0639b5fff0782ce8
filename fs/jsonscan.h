/*
 * jsonscan.h - tells a complete JSON text from a valid prefix of one.
 *
 * A message arrives in pieces (one write() per pipe buffer), so write()
 * must refuse what can never become JSON (EINVAL at once, so bash says
 * "write error") and accept what is only unfinished (refused at close if
 * it stays so).  cJSON answers only "parses or not", hence this scanner.
 */
#ifndef FS_JSONSCAN_H
#define FS_JSONSCAN_H

#include <stddef.h>

enum {
    FS_JSON_INVALID = -1, /* no continuation makes this JSON */
    FS_JSON_PREFIX = 0,   /* a proper prefix of some JSON text (or empty) */
    FS_JSON_COMPLETE = 1, /* one JSON value, then only whitespace */
};

#define FS_JSON_MAX_DEPTH 512

/* Scans BUF[0..LEN); on FS_JSON_INVALID *where (may be NULL) is the
 * offset of the first byte that cannot fit. */
int fs_jsonscan(const char *buf, size_t len, size_t *where);

#endif
