/*
 * opts.h - the actorfs command line.
 */
#ifndef FS_OPTS_H
#define FS_OPTS_H

#include "vm.h"

#include <stddef.h>
#include <stdio.h>

#define FS_EXIT_OK 0
#define FS_EXIT_USAGE 100
#define FS_EXIT_SYSTEM 111

typedef struct {
    char *mountpoint; /* as given */
    char *data_dir;   /* as given, or the default; NULL if none */
    char **loads;
    size_t nloads;
    int durability; /* ENG_DURABILITY_* */
    size_t max_message_bytes;
    char **agents;
    size_t nagents;
    char **net_vms;
    size_t nnet_vms;
    vm_mount *mounts; /* strings owned by mount_strs */
    char **mount_strs;
    size_t nmounts;
    char *agents_conf;
    int foreground;
    int io_uring; /* FUSE requests over io_uring where offered */
    char *fuse_opts; /* the -o options, comma-joined; NULL if none */
    int help;
} fs_opts;

/* Parses argv; -EINVAL with a reason for a usage error. */
int fs_opts_parse(int argc, char **argv, fs_opts *o, char *err,
                  size_t errlen);
/* Makes --load, --agents-conf and --vm-ro host paths absolute. */
int fs_opts_absolute(fs_opts *o);
void fs_opts_free(fs_opts *o);
void fs_opts_usage(FILE *f);

#endif
