/*
 * main.c - the actorfs command: parse, run, map the result to an exit
 * code (0 ok, 100 usage, 111 system), as s6 tools do.
 */
#include "daemon.h"
#include "opts.h"

#include <stdio.h>

int main(int argc, char **argv)
{
    fs_opts o;
    char err[512];
    int rc = fs_opts_parse(argc, argv, &o, err, sizeof(err));
    if (rc == 0)
        rc = fs_opts_absolute(&o);
    if (rc < 0) {
        fprintf(stderr, "actorfs: %s\n", err[0] ? err : "out of memory");
        fs_opts_free(&o);
        return FS_EXIT_USAGE;
    }
    if (o.help) {
        fs_opts_usage(stdout);
        fs_opts_free(&o);
        return FS_EXIT_OK;
    }
    int code = fs_daemon_run(&o);
    fs_opts_free(&o);
    return code;
}
