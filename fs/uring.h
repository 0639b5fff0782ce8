/*
 * uring.h - FUSE requests over io_uring, where the kernel offers them.
 *
 * Self-contained (libfuse and the kernel only), so that the benchmarks'
 * null filesystem can serve its requests the same way.
 */
#ifndef FS_URING_H
#define FS_URING_H

#ifndef FUSE_USE_VERSION
#define FUSE_USE_VERSION 312
#endif
#include <fuse_lowlevel.h>

typedef struct fs_uring fs_uring;

/* Takes over SE's reads and writes of /dev/fuse (after fuse_session_mount,
 * before the session loop).  If the kernel offers io_uring in INIT, the
 * reply accepts it and every CPU gets THREADS threads bound to it, each
 * serving one request at a time from its own ring; whatever the kernel
 * still sends over /dev/fuse (INIT, forgets, interrupts) and the
 * daemon's notifications go through the usual loop.  LOG, if given, is
 * told the status once INIT has settled it.  One per process. */
int fs_uring_attach(struct fuse_session *se, int threads,
                    void (*log)(const char *status), fs_uring **out);

/* After the loop and the unmount: stops the threads and frees. */
void fs_uring_detach(fs_uring *u);

/* Whether requests come over io_uring, and if not, why: for the log. */
const char *fs_uring_status(const fs_uring *u);

/* Requests served over io_uring so far. */
unsigned long fs_uring_served(const fs_uring *u);

#endif
