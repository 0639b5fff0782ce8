/*
 * vminit.h - the messages between the daemon (box.c) and actorfs-vminit
 * (init.c), the pid 1 of a VM's persistent sandbox, over one
 * SOCK_SEQPACKET socket pair: one message per packet, file descriptors
 * as SCM_RIGHTS.
 *
 *   daemon -> init
 *     RUN  id, payload "CWD\0ARG0\0...ARGn\0\0ENV0\0...ENVn\0",
 *          fds stdin, stdout, stderr: fork the command, held
 *     GO   id: release the held command (it is in its cgroups now)
 *     KILL id: SIGKILL the command's process group (and the command)
 *   init -> daemon
 *     STARTED id, value = its pid inside, fd = a pidfd of it
 *     EXITED  id, value = its wait status
 *     FAILED  id, value = errno: it could not be started
 * The daemon closing its end means "stop": init kills everything in the
 * sandbox and exits, and so does the sandbox.
 */
#ifndef VMINIT_H
#define VMINIT_H

#include <stdint.h>

/* Where the init is inside the sandbox, and its fd of the socket. */
#define VM__INIT_PATH "/opt/actorfs/init"
#define VM__INIT_FD 3
/* The largest message: a command longer than this is refused. */
#define VM__MSG_MAX (256 * 1024)

enum {
    VM__MSG_RUN = 1,
    VM__MSG_GO,
    VM__MSG_KILL,
    VM__MSG_STARTED,
    VM__MSG_EXITED,
    VM__MSG_FAILED,
};

typedef struct {
    uint32_t type;
    uint32_t id;
    int32_t value;
    uint32_t unused;
} vm__msg;

#endif
