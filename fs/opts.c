/*
 * opts.c - parsing the actorfs command line.
 *
 * Pure parsing: nothing is opened or created here, so every mistake is a
 * usage error (exit 100) reported before anything happens.  Options may
 * come before or after the mount point; each value is copied, so the
 * result owns its strings.
 */
#include "opts.h"

#include "eng.h"

#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum {
    O_DATA = 1000,
    O_LOAD,
    O_DURABILITY,
    O_AGENT,
    O_MAXMSG,
    O_VMNET,
    O_VMRO,
    O_AGENTSCONF,
    O_IOURING,
};

void fs_opts_usage(FILE *f)
{
    fputs(
        "usage: actorfs MOUNTPOINT [options]\n"
        "\n"
        "Runs durable workflow actors and shows them as a filesystem.\n"
        "\n"
        "  --data DIR               database and VM roots (default\n"
        "                           $XDG_STATE_HOME/actorfs, else\n"
        "                           ~/.local/state/actorfs)\n"
        "  --load LIB.so            load actor types from a shared object\n"
        "                           (calls its actorfs_register); repeatable\n"
        "  --durability full|normal fsync every commit (full, default) or\n"
        "                           not (normal: survives crashes, not power\n"
        "                           loss)\n"
        "  --max-message-bytes N    largest queue message (default 1048576)\n"
        "  --agent NAME=COMMAND     an ACP agent for VM sessions; repeatable\n"
        "  --agents-conf FILE       agents, one NAME=COMMAND a line (default\n"
        "                           DATA/agents.conf if it exists)\n"
        "  --vm-net NAME            give VM NAME the host network; repeatable\n"
        "  --vm-ro NAME=HOSTDIR:VMDIR\n"
        "                           show HOSTDIR read-only at VMDIR in VM NAME\n"
        "                           (NAME * for every VM); repeatable\n"
        "  --io-uring               take FUSE requests over io_uring where the\n"
        "                           kernel offers it (Linux 6.14+, fuse module\n"
        "                           parameter enable_uring=Y): each served on\n"
        "                           the CPU that made it\n"
        "  -f                       stay in the foreground, log to stderr\n"
        "                           (else: daemon, log in DATA/actorfs.log)\n"
        "  -o OPT[,OPT...]          FUSE mount options (e.g. allow_other)\n"
        "  -h, --help               this help\n"
        "\n"
        "Stop with SIGTERM, SIGINT or `fusermount3 -u MOUNTPOINT`.\n"
        "\n"
        "Exit codes: 0 clean shutdown, 100 usage error, 111 system error\n"
        "(cannot open the data, load a plugin or mount).\n",
        f);
}

static int fs__push(char ***v, size_t *n, const char *s)
{
    char **nv = realloc(*v, (*n + 1) * sizeof(**v));
    if (!nv)
        return -ENOMEM;
    *v = nv;
    if (!(nv[*n] = strdup(s)))
        return -ENOMEM;
    (*n)++;
    return 0;
}

static int fs__vm_ro(fs_opts *o, const char *arg, char *err, size_t errlen)
{
    const char *eq = strchr(arg, '=');
    const char *colon = eq ? strrchr(eq, ':') : NULL;
    if (!eq || eq == arg || !colon || colon == eq + 1 || colon[1] != '/') {
        snprintf(err, errlen,
                 "--vm-ro wants NAME=HOSTDIR:VMDIR (VMDIR absolute), not %s",
                 arg);
        return -EINVAL;
    }
    size_t base = o->nmounts * 3;
    char *parts[3] = {strndup(arg, (size_t)(eq - arg)),
                      strndup(eq + 1, (size_t)(colon - eq - 1)),
                      strdup(colon + 1)};
    vm_mount *m = realloc(o->mounts, (o->nmounts + 1) * sizeof(*m));
    char **s = realloc(o->mount_strs, (base + 3) * sizeof(*s));
    if (m)
        o->mounts = m;
    if (s)
        o->mount_strs = s;
    if (!m || !s || !parts[0] || !parts[1] || !parts[2]) {
        for (int i = 0; i < 3; i++)
            free(parts[i]);
        return -ENOMEM;
    }
    for (int i = 0; i < 3; i++)
        s[base + (size_t)i] = parts[i];
    m[o->nmounts++] =
        (vm_mount){.name = parts[0], .host_dir = parts[1], .vm_dir = parts[2]};
    return 0;
}

static int fs__fuse_opt(fs_opts *o, const char *arg)
{
    size_t old = o->fuse_opts ? strlen(o->fuse_opts) : 0;
    char *p = realloc(o->fuse_opts, old + strlen(arg) + 2);
    if (!p)
        return -ENOMEM;
    if (old)
        p[old++] = ',';
    strcpy(p + old, arg);
    o->fuse_opts = p;
    return 0;
}

static int fs__default_data(fs_opts *o)
{
    const char *xdg = getenv("XDG_STATE_HOME");
    const char *home = getenv("HOME");
    int r;
    if (xdg && xdg[0] == '/')
        r = asprintf(&o->data_dir, "%s/actorfs", xdg);
    else if (home && home[0])
        r = asprintf(&o->data_dir, "%s/.local/state/actorfs", home);
    else
        return 0;
    if (r < 0) {
        o->data_dir = NULL;
        return -ENOMEM;
    }
    return 0;
}

static int fs__option(fs_opts *o, int c, const char *arg, char *err,
                      size_t errlen)
{
    char *end;
    switch (c) {
    case 'f':
        o->foreground = 1;
        return 0;
    case 'h':
        o->help = 1;
        return 0;
    case 'o':
        return fs__fuse_opt(o, arg);
    case O_DATA:
        free(o->data_dir);
        o->data_dir = strdup(arg);
        return o->data_dir ? 0 : -ENOMEM;
    case O_LOAD:
        return fs__push(&o->loads, &o->nloads, arg);
    case O_DURABILITY:
        if (strcmp(arg, "full") == 0)
            o->durability = ENG_DURABILITY_FULL;
        else if (strcmp(arg, "normal") == 0)
            o->durability = ENG_DURABILITY_NORMAL;
        else {
            snprintf(err, errlen, "--durability is full or normal, not %s",
                     arg);
            return -EINVAL;
        }
        return 0;
    case O_AGENT:
        if (!strchr(arg, '=') || arg[0] == '=') {
            snprintf(err, errlen, "--agent wants NAME=COMMAND, not %s", arg);
            return -EINVAL;
        }
        return fs__push(&o->agents, &o->nagents, arg);
    case O_MAXMSG: {
        errno = 0;
        unsigned long long v = strtoull(arg, &end, 10);
        if (errno || end == arg || *end || v == 0 || v > SIZE_MAX / 2 ||
            arg[0] == '-') {
            snprintf(err, errlen,
                     "--max-message-bytes wants a positive number, not %s",
                     arg);
            return -EINVAL;
        }
        o->max_message_bytes = (size_t)v;
        return 0;
    }
    case O_VMNET:
        return fs__push(&o->net_vms, &o->nnet_vms, arg);
    case O_VMRO:
        return fs__vm_ro(o, arg, err, errlen);
    case O_IOURING:
        o->io_uring = 1;
        return 0;
    case O_AGENTSCONF:
        free(o->agents_conf);
        o->agents_conf = strdup(arg);
        return o->agents_conf ? 0 : -ENOMEM;
    default:
        snprintf(err, errlen, "unknown option (see --help)");
        return -EINVAL;
    }
}

int fs_opts_parse(int argc, char **argv, fs_opts *o, char *err,
                  size_t errlen)
{
    static const struct option longs[] = {
        {"data", required_argument, NULL, O_DATA},
        {"load", required_argument, NULL, O_LOAD},
        {"durability", required_argument, NULL, O_DURABILITY},
        {"agent", required_argument, NULL, O_AGENT},
        {"max-message-bytes", required_argument, NULL, O_MAXMSG},
        {"vm-net", required_argument, NULL, O_VMNET},
        {"vm-ro", required_argument, NULL, O_VMRO},
        {"agents-conf", required_argument, NULL, O_AGENTSCONF},
        {"io-uring", no_argument, NULL, O_IOURING},
        {"foreground", no_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    memset(o, 0, sizeof(*o));
    o->durability = ENG_DURABILITY_FULL;
    o->max_message_bytes = 1024 * 1024;
    err[0] = '\0';
    opterr = 0;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, ":fho:", longs, NULL)) != -1) {
        if (c == '?' || c == ':') {
            const char *name = argv[optind - 1];
            snprintf(err, errlen, "%s: %s (see --help)", name,
                     c == ':' ? "needs a value" : "unknown option");
            return -EINVAL;
        }
        int rc = fs__option(o, c, optarg, err, errlen);
        if (rc < 0) {
            if (!err[0])
                snprintf(err, errlen, "%s", strerror(-rc));
            return rc == -ENOMEM ? rc : -EINVAL;
        }
    }
    if (o->help)
        return 0;
    if (optind != argc - 1) {
        snprintf(err, errlen, optind >= argc
                                  ? "no MOUNTPOINT given (see --help)"
                                  : "only one MOUNTPOINT, got %s too",
                 optind < argc ? argv[optind + 1] : "");
        return -EINVAL;
    }
    if (!(o->mountpoint = strdup(argv[optind])))
        return -ENOMEM;
    if (!o->data_dir && fs__default_data(o) < 0)
        return -ENOMEM;
    if (!o->data_dir) {
        snprintf(err, errlen, "no --data and no HOME for the default");
        return -EINVAL;
    }
    return 0;
}

/* *P made absolute (a daemon works from /); left as is if it does not
 * resolve, so the later error names what the user typed. */
static int fs__absolute(char **p)
{
    if (!*p || (*p)[0] == '/' || !strchr(*p, '/'))
        return 0; /* absolute, or a bare name dlopen looks up itself */
    char *abs = realpath(*p, NULL);
    if (!abs)
        return errno == ENOMEM ? -ENOMEM : 0;
    free(*p);
    *p = abs;
    return 0;
}

int fs_opts_absolute(fs_opts *o)
{
    int rc = fs__absolute(&o->agents_conf);
    for (size_t i = 0; i < o->nloads && rc == 0; i++)
        rc = fs__absolute(&o->loads[i]);
    for (size_t i = 0; i < o->nmounts && rc == 0; i++) {
        char **host = &o->mount_strs[i * 3 + 1];
        if ((*host)[0] != '/' && !strchr(*host, '/')) {
            char *dotted = NULL;
            if (asprintf(&dotted, "./%s", *host) < 0)
                return -ENOMEM;
            free(*host);
            *host = dotted;
        }
        rc = fs__absolute(host);
        o->mounts[i].host_dir = *host;
    }
    return rc;
}

static void fs__free_strv(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

void fs_opts_free(fs_opts *o)
{
    free(o->mountpoint);
    free(o->data_dir);
    fs__free_strv(o->loads, o->nloads);
    fs__free_strv(o->agents, o->nagents);
    fs__free_strv(o->net_vms, o->nnet_vms);
    fs__free_strv(o->mount_strs, o->nmounts * 3);
    free(o->mounts);
    free(o->agents_conf);
    free(o->fuse_opts);
    memset(o, 0, sizeof(*o));
}
