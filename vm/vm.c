/*
 * vm.c - the "vm" actor type: registration, the VM's life (create,
 * destroy), the count of live commands and sessions that keeps a busy VM
 * from being destroyed, and the public path helpers.
 *
 * A VM has no workflow and no default instance; it is made by
 * get_or_create (eng_call from a step, or mkdir vm@NAME) and its state
 * stays {}: everything it has is on disk under DATA/vm/NAME.
 */
#include "vm_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct live {
    char *vm;
    int n;
    struct live *next;
} live;

static pthread_mutex_t live_mu = PTHREAD_MUTEX_INITIALIZER;
static live *lives;
static char disabled[512];
static int registered;

const char *vm__disabled(void) { return disabled[0] ? disabled : NULL; }

void vm__live_add(const char *vm, int delta)
{
    pthread_mutex_lock(&live_mu);
    live **pp = &lives;
    while (*pp != NULL && strcmp((*pp)->vm, vm) != 0)
        pp = &(*pp)->next;
    if (*pp == NULL && delta > 0) {
        live *l = calloc(1, sizeof *l);
        if (l != NULL && (l->vm = strdup(vm)) != NULL)
            *pp = l;
        else
            free(l);
    }
    if (*pp != NULL) {
        (*pp)->n += delta;
        if ((*pp)->n <= 0) {
            live *l = *pp;
            *pp = l->next;
            free(l->vm);
            free(l);
        }
    }
    pthread_mutex_unlock(&live_mu);
}

int vm__live_count(const char *vm)
{
    pthread_mutex_lock(&live_mu);
    int n = 0;
    for (live *l = lives; l != NULL; l = l->next)
        if (strcmp(l->vm, vm) == 0)
            n = l->n;
    pthread_mutex_unlock(&live_mu);
    return n;
}

static int on_create(eng *e, const char *key, void *ud, char *err, size_t errlen)
{
    (void)e;
    (void)ud;
    if (key == NULL || key[0] == '\0') {
        vm__err(err, errlen, "a VM needs a name: vm@NAME");
        return -EINVAL;
    }
    return vm__dirs_create(key, err, errlen);
}

static int on_destroy(eng *e, const char *key, void *ud, char *err, size_t errlen)
{
    (void)e;
    (void)ud;
    int n = vm__live_count(key);
    if (n > 0) {
        vm__err(err, errlen, "vm@%s is busy: %d command(s) or session(s) still "
                "running; close its sessions first", key, n);
        return -EBUSY;
    }
    vm__loop_call(vm__box_stop, (void *)key);
    return vm__dirs_remove(key, err, errlen);
}

static const eng_action_def actions[] = {
    {"exec", vm__exec_action, 1},
    {"readFile", vm__read_action, 1},
    {"writeFile", vm__write_action, 1},
    {"createSession", vm__session_create_action, 1},
    {"sendPrompt", vm__session_prompt_action, 1},
    {"closeSession", vm__session_close_action, 1},
};

static const eng_type vm_type = {
    .name = "vm",
    .initial_state = "{}",
    .actions = actions,
    .nactions = sizeof actions / sizeof actions[0],
    .on_create = on_create,
    .on_destroy = on_destroy,
    .no_default_instance = 1,
};

int vm_register(eng *e, const vm_config *cfg, char *err, size_t errlen)
{
    if (registered) {
        vm__err(err, errlen, "vm: already registered (call vm_shutdown first)");
        return -EBUSY;
    }
    int rc = vm__conf_load(cfg, err, errlen);
    if (rc < 0) {
        vm__conf_free();
        return rc;
    }
    disabled[0] = '\0';
    if (vm__conf_bwrap() == NULL) {
        snprintf(disabled, sizeof disabled, "bubblewrap (bwrap) is not installed; "
                 "install it with: apt-get install bubblewrap");
        eng_log("vm: WARNING: %s", disabled);
    }
    char why[512] = "";
    vm__proc_accept();
    if ((rc = vm__loop_start(why, sizeof why)) < 0) {
        if (rc == -EPERM || rc == -EACCES) {
            if (!disabled[0])
                snprintf(disabled, sizeof disabled, "%s", why);
            eng_log("vm: WARNING: VMs cannot run: %s", why);
        } else {
            vm__err(err, errlen, "%s", why);
            vm__conf_free();
            return rc;
        }
    }
    vm__cg_init();
    vm__sessions_recover();
    if ((rc = eng_register(e, &vm_type)) < 0) {
        vm__err(err, errlen, "vm: registering the type: %s", strerror(-rc));
        vm__loop_stop();
        vm__cg_shutdown();
        vm__conf_free();
        return rc;
    }
    registered = 1;
    return 0;
}

void vm_shutdown(void)
{
    if (!registered)
        return;
    vm__sessions_shutdown();
    /* Commands still running end now; their actions get their results
     * (killed) as the loop drains before it stops. */
    vm__loop_call(vm__proc_kill_all, NULL);
    vm__loop_call(vm__box_stop_all, NULL);
    vm__loop_stop();
    vm__cg_shutdown();
    vm__conf_free();
    pthread_mutex_lock(&live_mu);
    while (lives != NULL) {
        live *l = lives;
        lives = l->next;
        free(l->vm);
        free(l);
    }
    pthread_mutex_unlock(&live_mu);
    registered = 0;
}

int vm_root_path(const char *data_dir, const char *name, char *buf, size_t len)
{
    int n = snprintf(buf, len, "%s/vm/%s/root", data_dir, name);
    return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int vm_sessions_path(const char *data_dir, const char *name, char *buf,
                     size_t len)
{
    int n = snprintf(buf, len, "%s/vm/%s/sessions", data_dir, name);
    return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}
