/*
 * daemon.h - running actorfs once its command line is parsed.
 */
#ifndef FS_DAEMON_H
#define FS_DAEMON_H

#include "opts.h"

/* Mounts, serves until unmounted or signalled, cleans up; returns the
 * exit code (FS_EXIT_*). */
int fs_daemon_run(const fs_opts *o);

#endif
