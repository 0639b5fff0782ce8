/*
 * conf.c - the VM backend's configuration: agents by name (defaults, the
 * agents.conf file, --agent, aliases), VMs with network, read-only host
 * mounts, resource limits and where bubblewrap and the test agent are.
 *
 * It is read once in vm_register and never changes afterwards, so the
 * loop thread and action threads read it without a lock.
 */
#include "vm_int.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef ACTORFS_AGENT_DIR
#define ACTORFS_AGENT_DIR "vm/agent"
#endif

typedef struct {
    char *name;
    char *command;
} agent_def;

static struct {
    char *data_dir;
    char *bwrap;
    char *agent_dir;
    agent_def *agents;
    size_t nagents;
    char **net;
    size_t nnet;
    vm_mount *mounts;
    size_t nmounts;
    vm__limits limits;
    uint64_t idle_ms;
} conf;

static const struct {
    const char *name, *command;
} default_agents[] = {
    {"claude", "claude-agent-acp"},
    {"gemini", "gemini --acp"},
    {"pi", "pi-acp"},
    {"test", "node " VM__AGENT_MOUNT "/agent.mjs"},
};

static const struct {
    const char *program, *hint;
} install_hints[] = {
    {"claude-agent-acp", "npm install -g @agentclientprotocol/claude-agent-acp"},
    {"gemini", "npm install -g @google/gemini-cli"},
    {"pi-acp", "npm install -g pi-acp"},
    {"node", "apt-get install nodejs (and run scripts/deps for the test agent)"},
};

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    return s;
}

/* Adds or replaces NAME's command: later definitions win. */
static int agent_set(const char *name, const char *command)
{
    for (size_t i = 0; i < conf.nagents; i++) {
        if (strcmp(conf.agents[i].name, name) == 0) {
            char *c = strdup(command);
            if (c == NULL)
                return -ENOMEM;
            free(conf.agents[i].command);
            conf.agents[i].command = c;
            return 0;
        }
    }
    agent_def *a = realloc(conf.agents, (conf.nagents + 1) * sizeof *a);
    if (a == NULL)
        return -ENOMEM;
    conf.agents = a;
    a[conf.nagents].name = strdup(name);
    a[conf.nagents].command = strdup(command);
    if (a[conf.nagents].name == NULL || a[conf.nagents].command == NULL) {
        free(a[conf.nagents].name);
        free(a[conf.nagents].command);
        return -ENOMEM;
    }
    conf.nagents++;
    return 0;
}

/* "NAME=COMMAND" from --agent or one line of agents.conf. */
static int agent_parse(const char *spec, const char *where, char *err,
                       size_t errlen)
{
    char *copy = strdup(spec);
    if (copy == NULL)
        return -ENOMEM;
    char *eq = strchr(copy, '=');
    int rc = 0;
    if (eq == NULL) {
        vm__err(err, errlen, "%s: '%s' is not NAME=COMMAND", where, spec);
        rc = -EINVAL;
    } else {
        *eq = '\0';
        char *name = trim(copy), *cmd = trim(eq + 1);
        if (name[0] == '\0' || cmd[0] == '\0' || strchr(name, ' ') != NULL) {
            vm__err(err, errlen, "%s: '%s' needs a NAME and a COMMAND", where,
                    spec);
            rc = -EINVAL;
        } else {
            rc = agent_set(name, cmd);
        }
    }
    free(copy);
    return rc;
}

static int agents_file(const char *path, int must_exist, char *err,
                       size_t errlen)
{
    FILE *f = fopen(path, "re");
    if (f == NULL) {
        if (errno == ENOENT && !must_exist)
            return 0;
        int e = errno;
        vm__err(err, errlen, "agents config %s: %s", path, strerror(e));
        return -e;
    }
    char line[4096];
    int lineno = 0, rc = 0;
    while (rc == 0 && fgets(line, sizeof line, f) != NULL) {
        lineno++;
        char *l = trim(line);
        if (l[0] == '\0' || l[0] == '#')
            continue;
        char where[300];
        snprintf(where, sizeof where, "%s:%d", path, lineno);
        rc = agent_parse(l, where, err, errlen);
    }
    fclose(f);
    return rc;
}

static char *find_program(const char *name)
{
    const char *path = getenv("PATH");
    char buf[4096];
    if (path == NULL || path[0] == '\0')
        path = "/usr/local/bin:/usr/bin:/bin";
    while (*path) {
        const char *end = strchrnul(path, ':');
        snprintf(buf, sizeof buf, "%.*s/%s", (int)(end - path), path, name);
        if (access(buf, X_OK) == 0)
            return strdup(buf);
        path = *end ? end + 1 : end;
    }
    return NULL;
}

static uint64_t env_u64(const char *name, uint64_t def)
{
    const char *v = getenv(name);
    if (v == NULL || v[0] == '\0')
        return def;
    char *end;
    errno = 0;
    unsigned long long x = strtoull(v, &end, 10);
    if (errno != 0 || *end != '\0') {
        eng_log("vm: ignoring %s=%s (not a number)", name, v);
        return def;
    }
    return x;
}

static int mounts_copy(const vm_config *cfg, char *err, size_t errlen)
{
    if (cfg->nmounts == 0)
        return 0;
    conf.mounts = calloc(cfg->nmounts, sizeof *conf.mounts);
    if (conf.mounts == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < cfg->nmounts; i++) {
        const vm_mount *m = &cfg->mounts[i];
        struct stat st;
        if (m->name == NULL || m->host_dir == NULL || m->vm_dir == NULL ||
            m->vm_dir[0] != '/' || strcmp(m->vm_dir, "/") == 0 ||
            strstr(m->vm_dir, "..") != NULL) {
            vm__err(err, errlen, "--vm-ro: VMDIR must be an absolute path "
                    "other than /, without '..'");
            return -EINVAL;
        }
        if (strcmp(m->vm_dir, "/home/user") == 0 || strcmp(m->vm_dir, "/tmp") == 0 ||
            strncmp(m->vm_dir, "/proc", 5) == 0 || strncmp(m->vm_dir, "/dev", 4) == 0) {
            vm__err(err, errlen, "--vm-ro: %s is taken by the VM itself", m->vm_dir);
            return -EINVAL;
        }
        if (stat(m->host_dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
            vm__err(err, errlen, "--vm-ro %s: %s is not a directory", m->name,
                    m->host_dir);
            return -EINVAL;
        }
        conf.mounts[i].name = strdup(m->name);
        conf.mounts[i].host_dir = strdup(m->host_dir);
        conf.mounts[i].vm_dir = strdup(m->vm_dir);
        conf.nmounts = i + 1;
        if (!conf.mounts[i].name || !conf.mounts[i].host_dir || !conf.mounts[i].vm_dir)
            return -ENOMEM;
    }
    return 0;
}

int vm__conf_load(const vm_config *cfg, char *err, size_t errlen)
{
    int rc;
    vm__conf_free();
    if (cfg == NULL || cfg->data_dir == NULL) {
        vm__err(err, errlen, "vm: no data directory");
        return -EINVAL;
    }
    conf.data_dir = strdup(cfg->data_dir);
    const char *ad = getenv("ACTORFS_AGENT_DIR");
    conf.agent_dir = strdup(ad != NULL && ad[0] ? ad : ACTORFS_AGENT_DIR);
    const char *bw = getenv("ACTORFS_BWRAP");
    conf.bwrap = bw != NULL && bw[0] ? strdup(bw) : find_program("bwrap");
    if (conf.data_dir == NULL || conf.agent_dir == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < sizeof default_agents / sizeof default_agents[0]; i++)
        if ((rc = agent_set(default_agents[i].name, default_agents[i].command)) < 0)
            return rc;
    if (cfg->agents_conf != NULL) {
        rc = agents_file(cfg->agents_conf, 1, err, errlen);
    } else {
        char path[4096];
        snprintf(path, sizeof path, "%s/agents.conf", cfg->data_dir);
        rc = agents_file(path, 0, err, errlen);
    }
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < cfg->nagents; i++)
        if ((rc = agent_parse(cfg->agents[i], "--agent", err, errlen)) < 0)
            return rc;
    if (cfg->nnet_vms > 0) {
        conf.net = calloc(cfg->nnet_vms, sizeof *conf.net);
        if (conf.net == NULL)
            return -ENOMEM;
        for (size_t i = 0; i < cfg->nnet_vms; i++, conf.nnet++)
            if ((conf.net[i] = strdup(cfg->net_vms[i])) == NULL)
                return -ENOMEM;
    }
    if ((rc = mounts_copy(cfg, err, errlen)) < 0)
        return rc;
    conf.limits.memory_bytes = env_u64("ACTORFS_VM_MEMORY_MB", 2048) * 1024 * 1024;
    conf.limits.pids = env_u64("ACTORFS_VM_PIDS", 1024);
    conf.limits.cpu_quota_us = env_u64("ACTORFS_VM_CPU_PERCENT", 100) * 1000;
    conf.idle_ms = env_u64("ACTORFS_VM_IDLE_S", 600) * 1000;
    return 0;
}

void vm__conf_free(void)
{
    for (size_t i = 0; i < conf.nagents; i++) {
        free(conf.agents[i].name);
        free(conf.agents[i].command);
    }
    for (size_t i = 0; i < conf.nnet; i++)
        free(conf.net[i]);
    for (size_t i = 0; i < conf.nmounts; i++) {
        free((char *)conf.mounts[i].name);
        free((char *)conf.mounts[i].host_dir);
        free((char *)conf.mounts[i].vm_dir);
    }
    free(conf.agents);
    free(conf.net);
    free(conf.mounts);
    free(conf.data_dir);
    free(conf.bwrap);
    free(conf.agent_dir);
    memset(&conf, 0, sizeof conf);
}

const char *vm__conf_data_dir(void) { return conf.data_dir; }
const char *vm__conf_bwrap(void) { return conf.bwrap; }
const char *vm__conf_agent_dir(void) { return conf.agent_dir; }
const vm__limits *vm__conf_limits(void) { return &conf.limits; }
uint64_t vm__conf_idle_ms(void) { return conf.idle_ms; }
size_t vm__conf_nmounts(void) { return conf.nmounts; }
const vm_mount *vm__conf_mount(size_t i) { return &conf.mounts[i]; }

int vm__conf_mount_applies(size_t i, const char *vm)
{
    return strcmp(conf.mounts[i].name, "*") == 0 ||
           strcmp(conf.mounts[i].name, vm) == 0;
}

int vm__conf_net(const char *vm)
{
    for (size_t i = 0; i < conf.nnet; i++)
        if (strcmp(conf.net[i], "*") == 0 || strcmp(conf.net[i], vm) == 0)
            return 1;
    return 0;
}

static const char *agent_find(const char *name)
{
    for (size_t i = 0; i < conf.nagents; i++)
        if (strcmp(conf.agents[i].name, name) == 0)
            return conf.agents[i].command;
    return NULL;
}

int vm__conf_agent(const char *name, char **command, char *err, size_t errlen)
{
    const char *cmd = agent_find(name);
    if (cmd == NULL) {
        vm__buf names = {0};
        for (size_t i = 0; i < conf.nagents; i++)
            if (vm__buf_str(&names, i ? ", " : "") < 0 ||
                vm__buf_str(&names, conf.agents[i].name) < 0)
                break;
        vm__err(err, errlen, "unknown agent '%s'; configured agents: %s "
                "(add one with --agent NAME=COMMAND or in agents.conf)",
                name, names.p ? names.p : "none");
        vm__buf_free(&names);
        return -ENOENT;
    }
    /* A command that is exactly another agent's name is an alias. */
    for (int depth = 0; agent_find(cmd) != NULL; depth++) {
        if (depth == 16) {
            vm__err(err, errlen, "agent '%s': its aliases form a loop", name);
            return -ELOOP;
        }
        cmd = agent_find(cmd);
    }
    *command = strdup(cmd);
    return *command ? 0 : -ENOMEM;
}

const char *vm__conf_install_hint(const char *command)
{
    size_t n = strcspn(command, " \t");
    for (size_t i = 0; i < sizeof install_hints / sizeof install_hints[0]; i++)
        if (strlen(install_hints[i].program) == n &&
            strncmp(install_hints[i].program, command, n) == 0)
            return install_hints[i].hint;
    return NULL;
}
