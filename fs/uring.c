/*
 * uring.c - FUSE requests over io_uring, where the kernel offers them.
 *
 * On /dev/fuse a request wakes whichever daemon thread has waited
 * longest, on a CPU the scheduler picks, and its reply wakes the caller
 * back.  Where waking a sleeping CPU is slow (a virtual machine whose
 * guest halts at once: tests/bench/floors.c measures a round trip between
 * two threads at ~2 µs on one CPU and 40-70 µs across two here), a request
 * that crosses CPUs costs more than the work it asks for.  FUSE over
 * io_uring (Linux 6.14, fuse module parameter enable_uring) queues each
 * request on the ring of the CPU that made it; served by threads bound to
 * that CPU, request and reply stay on one CPU.
 *
 * libfuse 3.14 does not speak it, so this takes over the session's reads
 * and writes (fuse_session_custom_io): the read of INIT says whether the
 * kernel offers io_uring, the write of INIT's reply accepts it, and then
 * each CPU gets threads bound to it, each with a ring holding one entry.
 * A request that arrives in an entry is laid out as /dev/fuse would have
 * delivered it (in header, the operation's own header, the payload) and
 * handed to fuse_session_process_buf; its reply comes back through the
 * same write hook, goes into the entry and is committed, which also asks
 * for the next request.  Only the entry's own thread submits to its ring
 * (the kernel delivers the next request to the task that asked for it),
 * so a reply made on another thread is handed to it.
 *
 * An entry holds its request until the reply: an exec running its
 * command holds one for as long.  So while all of a CPU's threads are
 * busy another starts.  But the kernel (6.18) gives a newly registered
 * entry only requests that arrive after it; one queued while every entry
 * was busy waits until one of those commits, which for an exec may be
 * minutes (a burst of 8 execs on one CPU ran 4 or 5 at once).  So once a
 * grown thread's entry is registered, the thread kicks its CPU's queue:
 * it asks the kernel, over /dev/fuse, to retrieve nothing of a file one
 * of the CPU's busy entries is serving (FUSE_NOTIFY_RETRIEVE takes
 * regular files only, and that request keeps the file's inode while it
 * waits).  The kernel answers with a request of its own
 * (FUSE_NOTIFY_REPLY) on the queue of the CPU that asked, which the new
 * entry takes; committing it, with nothing, fetches the oldest request
 * waiting; if that one holds the entry, the CPU is busy again and the
 * next thread kicks for the next.  Every grown thread kicks: one that did
 * not left requests waiting beside an idle entry (12 of 16 ran).  If no
 * busy entry serves a file, they are all short, and their commits fetch
 * what waits.  A kick touches neither the mount (a stat of it from a
 * helper thread did, and made `fusermount3 -u` fail as busy now and
 * then) nor libfuse.
 *
 * The ABI (struct layouts, command numbers, the INIT flag) is the
 * kernel's (include/uapi/linux/fuse.h, protocol 7.42); Debian 12's
 * headers predate it, so it is spelled out here.
 */
#include "uring.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fuse.h>
#include <linux/io_uring.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

/* FUSE_OVER_IO_URING is bit 41 of the INIT flags: bit 9 of flags2. */
#define FS__OVER_IO_URING2 (1u << (41 - 32))
#define FS__CMD_REGISTER 1
#define FS__CMD_COMMIT 2
#define FS__OP_IN_MAX 128
#define FS__SQE_SIZE 128 /* IORING_SETUP_SQE128: the command needs 24 bytes */
#define FS__UD_ENTRY 1
#define FS__UD_STOP 2
/* The kernel numbers its requests 2, 4, 6...; a kick's is even too (bit
 * 0 marks interrupts) and far above them. */
#define FS__KICK_UNIQUE (1ULL << 62)

struct fs__ent_in_out {
    uint64_t flags;
    uint64_t commit_id;
    uint32_t payload_sz;
    uint32_t padding;
    uint64_t reserved;
};

struct fs__req_header {
    char in_out[128]; /* fuse_in_header in, fuse_out_header out */
    char op_in[FS__OP_IN_MAX];
    struct fs__ent_in_out ent;
};

struct fs__cmd_req {
    uint64_t flags;
    uint64_t commit_id;
    uint16_t qid;
    uint8_t padding[6];
};

typedef struct {
    int fd;
    void *sq_map, *cq_map, *sqe_map;
    size_t sq_len, cq_len, sqe_len;
    _Atomic unsigned *sq_tail, *cq_head, *cq_tail;
    unsigned *sq_mask, *sq_array, *cq_mask;
    struct io_uring_cqe *cqes;
    unsigned to_submit;
} fs__ring;

/* One thread, its ring and the one entry it serves. */
typedef struct {
    fs_uring *u;
    int qid;
    pthread_t thread;
    _Atomic int started;
    fs__ring ring;
    struct fs__req_header *hdr;
    char *payload;
    char *flat; /* the request as /dev/fuse lays it out */
    struct iovec iov[2];
    /* the request being served; replied when its reply is in the entry */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint64_t unique;
    int busy, replied;
    unsigned last_op; /* resubmitted if the kernel says "again" */
    uint64_t last_commit;
    uint32_t op;  /* the request being served: its opcode and node */
    uint64_t node;
    int kick; /* started for a busy CPU: kick its queue once registered */
} fs__ent;

/* A CPU's threads: more start while all are busy (a request that waits,
 * such as an exec running its command, holds its thread), up to
 * FS__THREADS_MAX; they stay until the end. */
#define FS__THREADS_MAX 32

typedef struct {
    pthread_mutex_t mu;
    int started, busy;
} fs__cpu;

struct fs_uring {
    struct fuse_session *se;
    int fd;
    int threads; /* to begin with, per CPU */
    int ncpu;
    fs__cpu *cpus;
    size_t payload_max;
    int stop_fd;
    _Atomic int stopping, kicked;
    _Atomic uint64_t kicks;
    pthread_mutex_t mu;
    uint64_t init_unique;
    int offered;
    /* the entries exist: a reply may be for one (set before the first
     * thread starts, since the kernel uses the rings as soon as every CPU
     * has one entry, which may be before the rest have started) */
    _Atomic int rings;
    char status[160];
    void (*log)(const char *status);
    _Atomic unsigned long served;
    fs__ent *ents;
    size_t nents;
};

/* The custom io callbacks get the session's user data, which is the
 * filesystem's, so the one transport of the process is found here. */
static fs_uring *fs__uring;
/* The entry the calling thread is serving, if it is a ring thread. */
static __thread fs__ent *fs__cur;

static void fs__ring_free(fs__ring *r)
{
    if (r->sqe_map)
        munmap(r->sqe_map, r->sqe_len);
    if (r->cq_map && r->cq_map != r->sq_map)
        munmap(r->cq_map, r->cq_len);
    if (r->sq_map)
        munmap(r->sq_map, r->sq_len);
    if (r->fd >= 0)
        close(r->fd);
    r->fd = -1;
}

static int fs__ring_init(fs__ring *r, unsigned entries)
{
    struct io_uring_params p;
    memset(&p, 0, sizeof(p));
    p.flags = IORING_SETUP_SQE128;
    memset(r, 0, sizeof(*r));
    r->fd = (int)syscall(__NR_io_uring_setup, entries, &p);
    if (r->fd < 0)
        return -errno;
    r->sq_len = p.sq_off.array + p.sq_entries * sizeof(unsigned);
    r->cq_len = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
    if (p.features & IORING_FEAT_SINGLE_MMAP) {
        if (r->cq_len > r->sq_len)
            r->sq_len = r->cq_len;
        r->cq_len = r->sq_len;
    }
    r->sq_map = mmap(NULL, r->sq_len, PROT_READ | PROT_WRITE,
                     MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_SQ_RING);
    if (r->sq_map == MAP_FAILED) {
        r->sq_map = NULL;
        goto fail;
    }
    if (p.features & IORING_FEAT_SINGLE_MMAP)
        r->cq_map = r->sq_map;
    else {
        r->cq_map = mmap(NULL, r->cq_len, PROT_READ | PROT_WRITE,
                         MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_CQ_RING);
        if (r->cq_map == MAP_FAILED) {
            r->cq_map = NULL;
            goto fail;
        }
    }
    r->sqe_len = p.sq_entries * FS__SQE_SIZE;
    r->sqe_map = mmap(NULL, r->sqe_len, PROT_READ | PROT_WRITE,
                      MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_SQES);
    if (r->sqe_map == MAP_FAILED) {
        r->sqe_map = NULL;
        goto fail;
    }
    char *sq = r->sq_map, *cq = r->cq_map;
    r->sq_tail = (_Atomic unsigned *)(sq + p.sq_off.tail);
    r->sq_mask = (unsigned *)(sq + p.sq_off.ring_mask);
    r->sq_array = (unsigned *)(sq + p.sq_off.array);
    r->cq_head = (_Atomic unsigned *)(cq + p.cq_off.head);
    r->cq_tail = (_Atomic unsigned *)(cq + p.cq_off.tail);
    r->cq_mask = (unsigned *)(cq + p.cq_off.ring_mask);
    r->cqes = (struct io_uring_cqe *)(cq + p.cq_off.cqes);
    return 0;
fail:;
    int rc = -errno;
    fs__ring_free(r);
    return rc;
}

/* The next free SQE, zeroed; the ring has room (one entry, one poll). */
static struct io_uring_sqe *fs__sqe(fs__ring *r)
{
    unsigned tail = atomic_load_explicit(r->sq_tail, memory_order_relaxed) +
                    r->to_submit;
    unsigned idx = tail & *r->sq_mask;
    struct io_uring_sqe *sqe =
        (struct io_uring_sqe *)((char *)r->sqe_map + idx * FS__SQE_SIZE);
    memset(sqe, 0, FS__SQE_SIZE);
    r->sq_array[idx] = idx;
    r->to_submit++;
    return sqe;
}

/* Submits what fs__sqe made and, with WAIT, waits for a completion. */
static int fs__enter(fs__ring *r, int wait)
{
    unsigned n = r->to_submit;
    atomic_store_explicit(
        r->sq_tail, atomic_load_explicit(r->sq_tail, memory_order_relaxed) + n,
        memory_order_release);
    r->to_submit = 0;
    for (;;) {
        long rc = syscall(__NR_io_uring_enter, r->fd, n, wait ? 1 : 0,
                          wait ? IORING_ENTER_GETEVENTS : 0, NULL, 0);
        if (rc >= 0)
            return 0;
        if (errno != EINTR)
            return -errno;
    }
}

static void fs__ring_cmd(fs__ent *t, unsigned op, uint64_t commit_id)
{
    t->last_op = op;
    t->last_commit = commit_id;
    struct io_uring_sqe *sqe = fs__sqe(&t->ring);
    sqe->opcode = IORING_OP_URING_CMD;
    sqe->fd = t->u->fd;
    sqe->cmd_op = op;
    sqe->user_data = FS__UD_ENTRY;
    if (op == FS__CMD_REGISTER) {
        sqe->addr = (uint64_t)(uintptr_t)t->iov;
        sqe->len = 2;
    }
    struct fs__cmd_req *c = (struct fs__cmd_req *)sqe->cmd;
    c->qid = (uint16_t)t->qid;
    c->commit_id = commit_id;
}

/* Stops every ring thread; WHY, when given, is an error that ends the
 * session too: a queue left without its threads would hang its CPU's
 * requests, so failing loudly is the safe way out. */
static void fs__stop_all(fs_uring *u, const char *why, int err)
{
    atomic_store(&u->stopping, 1);
    if (why) {
        fprintf(stderr, "actorfs: io_uring: %s: %s; unmounting\n", why,
                strerror(err));
        fuse_session_exit(u->se);
    }
    if (u->stop_fd < 0 || atomic_exchange(&u->kicked, 1))
        return;
    uint64_t one = 1;
    if (write(u->stop_fd, &one, sizeof(one)) < 0)
        fprintf(stderr, "actorfs: io_uring: stop: %s\n", strerror(errno));
}

/* Puts the reply in IOV into T's entry; one that does not fit becomes
 * EIO, as the request must be answered either way. */
static ssize_t fs__put_reply(fs__ent *t, const struct iovec *iov, int count)
{
    struct fuse_out_header oh;
    memcpy(&oh, iov[0].iov_base, sizeof(oh));
    size_t total = 0;
    for (int i = 1; i < count; i++) {
        if (total + iov[i].iov_len > t->u->payload_max) {
            oh.error = -EIO;
            total = 0;
            break;
        }
        memcpy(t->payload + total, iov[i].iov_base, iov[i].iov_len);
        total += iov[i].iov_len;
    }
    oh.len = (uint32_t)(sizeof(oh) + total);
    memcpy(t->hdr->in_out, &oh, sizeof(oh));
    t->hdr->ent.payload_sz = (uint32_t)total;
    return (ssize_t)oh.len;
}

/* Puts a reply to a request that came over io_uring into its entry, and
 * wakes the entry's thread if another thread made the reply; the entry's
 * thread commits it (fs__ring_serve).  0 if UNIQUE came over /dev/fuse. */
static ssize_t fs__ring_reply(fs_uring *u, uint64_t unique,
                              struct iovec *iov, int count)
{
    fs__ent *t = fs__cur && fs__cur->unique == unique ? fs__cur : NULL;
    for (size_t i = 0; !t && i < u->nents; i++) {
        fs__ent *c = &u->ents[i];
        if (!atomic_load(&c->started))
            continue;
        pthread_mutex_lock(&c->mu);
        if (c->busy && !c->replied && c->unique == unique)
            t = c;
        pthread_mutex_unlock(&c->mu);
    }
    if (!t)
        return 0;
    pthread_mutex_lock(&t->mu);
    ssize_t n = fs__put_reply(t, iov, count);
    t->replied = 1;
    pthread_cond_signal(&t->cv);
    pthread_mutex_unlock(&t->mu);
    return n;
}

static void fs__thread_grow(fs_uring *u, int qid);

/* A file one of CPU QID's entries is serving a request for, or 0. */
static uint64_t fs__busy_file(fs_uring *u, int qid)
{
    uint64_t node = 0;
    for (int k = 0; !node && k < FS__THREADS_MAX; k++) {
        fs__ent *c = &u->ents[(size_t)qid * FS__THREADS_MAX + (size_t)k];
        if (!atomic_load(&c->started))
            break;
        pthread_mutex_lock(&c->mu);
        if (c->busy && !c->replied &&
            (c->op == FUSE_OPEN || c->op == FUSE_READ || c->op == FUSE_WRITE ||
             c->op == FUSE_FLUSH || c->op == FUSE_FSYNC))
            node = c->node;
        pthread_mutex_unlock(&c->mu);
    }
    return node;
}

/* From T's thread, on T's CPU: a request from the kernel on this CPU's
 * queue, for T's new entry.  Failing leaves what waits to the next
 * commit. */
static void fs__kick(fs__ent *t)
{
    struct fuse_notify_retrieve_out r = {
        .notify_unique = FS__KICK_UNIQUE + 2 * atomic_fetch_add(&t->u->kicks, 1),
        .nodeid = fs__busy_file(t->u, t->qid),
    };
    if (!r.nodeid)
        return;
    struct fuse_out_header oh = {.len = sizeof(oh) + sizeof(r),
                                 .error = FUSE_NOTIFY_RETRIEVE};
    struct iovec iov[2] = {{&oh, sizeof(oh)}, {&r, sizeof(r)}};
    if (writev(t->u->fd, iov, 2) < 0)
        fprintf(stderr, "actorfs: io_uring: kicking CPU %d: %s\n", t->qid,
                strerror(errno));
}

/* Serves the request in T's entry. */
static void fs__ring_serve(fs__ent *t)
{
    const struct fuse_in_header *in = (const void *)t->hdr->in_out;
    if (in->opcode == FUSE_NOTIFY_REPLY && in->unique >= FS__KICK_UNIQUE) {
        /* A kick wants no answer, but only a commit fetches the next. */
        struct fuse_out_header oh = {.len = sizeof(oh), .unique = in->unique};
        struct iovec v = {&oh, sizeof(oh)};
        t->unique = t->hdr->ent.commit_id;
        fs__put_reply(t, &v, 1);
        fs__ring_cmd(t, FS__CMD_COMMIT, t->unique);
        return;
    }
    fs__cpu *cpu = &t->u->cpus[t->qid];
    pthread_mutex_lock(&cpu->mu);
    int grow = ++cpu->busy == cpu->started && cpu->started < FS__THREADS_MAX;
    pthread_mutex_unlock(&cpu->mu);
    if (grow)
        fs__thread_grow(t->u, t->qid);
    uint32_t payload = t->hdr->ent.payload_sz;
    size_t fixed = sizeof(*in) + payload;
    if (in->len < fixed || in->len - fixed > FS__OP_IN_MAX ||
        payload > t->u->payload_max) {
        fs__stop_all(t->u, "a request that does not add up", EPROTO);
        pthread_mutex_lock(&cpu->mu);
        cpu->busy--;
        pthread_mutex_unlock(&cpu->mu);
        return;
    }
    size_t op = in->len - fixed;
    memcpy(t->flat, in, sizeof(*in));
    memcpy(t->flat + sizeof(*in), t->hdr->op_in, op);
    memcpy(t->flat + sizeof(*in) + op, t->payload, payload);
    pthread_mutex_lock(&t->mu);
    t->unique = t->hdr->ent.commit_id;
    t->op = in->opcode;
    t->node = in->nodeid;
    t->busy = 1;
    t->replied = 0;
    pthread_mutex_unlock(&t->mu);
    struct fuse_buf buf = {.mem = t->flat, .size = in->len};
    atomic_fetch_add_explicit(&t->u->served, 1, memory_order_relaxed);
    fs__cur = t;
    fuse_session_process_buf(t->u->se, &buf);
    fs__cur = NULL;
    pthread_mutex_lock(&t->mu);
    while (!t->replied && !atomic_load(&t->u->stopping))
        pthread_cond_wait(&t->cv, &t->mu);
    t->busy = 0;
    int replied = t->replied;
    pthread_mutex_unlock(&t->mu);
    pthread_mutex_lock(&cpu->mu);
    cpu->busy--;
    pthread_mutex_unlock(&cpu->mu);
    /* Submitted with the wait for the next request (fs__ring_main). */
    if (replied)
        fs__ring_cmd(t, FS__CMD_COMMIT, t->unique);
}

/*
 * Waiting as SCHED_IDLE.  A reply wakes its caller while this thread is
 * still running on the caller's CPU, so the scheduler moves the caller to
 * the idle CPU, whose wake-up costs what io_uring saved.  A CPU whose only
 * runnable thread is SCHED_IDLE counts as idle: the caller stays and this
 * thread steps aside.  But a SCHED_IDLE thread never preempts anyone, so
 * on a CPU kept busy by other work a request could wait milliseconds for
 * it; so each thread watches its own wait for a CPU (schedstat: time
 * runnable but not running, per time slice) and, when it grows past
 * FS__HINT_DELAY_NS, waits as an ordinary thread for a while, twice as
 * long each time the CPU is still busy when it tries again.
 */
#define FS__HINT_SAMPLE_NS 2000000LL
#define FS__HINT_DELAY_NS 200000ULL
#define FS__HINT_BACKOFF_NS 1000000000LL
#define FS__HINT_BACKOFF_MAX_NS 64000000000LL

typedef struct {
    int fd; /* /proc/thread-self/schedstat, or -1: never as SCHED_IDLE */
    int64_t next_sample, off_until, backoff;
    unsigned long long delay, slices;
} fs__hint;

static int64_t fs__now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int fs__hint_read(fs__hint *h, unsigned long long *delay,
                         unsigned long long *slices)
{
    char buf[128];
    ssize_t n = pread(h->fd, buf, sizeof(buf) - 1, 0);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    unsigned long long ran;
    return sscanf(buf, "%llu %llu %llu", &ran, delay, slices) == 3 ? 0 : -1;
}

static void fs__hint_init(fs__hint *h)
{
    struct sched_param sp = {0};
    memset(h, 0, sizeof(*h));
    h->fd = -1;
    h->backoff = FS__HINT_BACKOFF_NS;
    /* Back from SCHED_IDLE needs privilege or RLIMIT_NICE: without it the
     * thread would stay SCHED_IDLE for good, so it never leaves. */
    if (sched_setscheduler(0, SCHED_IDLE, &sp) != 0)
        return;
    if (sched_setscheduler(0, SCHED_OTHER, &sp) != 0)
        return;
    h->fd = open("/proc/thread-self/schedstat", O_RDONLY | O_CLOEXEC);
    if (h->fd >= 0 && fs__hint_read(h, &h->delay, &h->slices) < 0) {
        close(h->fd);
        h->fd = -1;
    }
}

/* Whether to wait as SCHED_IDLE now; samples the CPU's business. */
static int fs__hint_on(fs__hint *h)
{
    if (h->fd < 0)
        return 0;
    int64_t now = fs__now_ns();
    if (now >= h->next_sample) {
        unsigned long long d, sl;
        if (fs__hint_read(h, &d, &sl) == 0) {
            if (sl > h->slices && (d - h->delay) / (sl - h->slices) >
                                      FS__HINT_DELAY_NS) {
                h->off_until = now + h->backoff;
                if (h->backoff < FS__HINT_BACKOFF_MAX_NS)
                    h->backoff *= 2;
            } else if (now >= h->off_until)
                h->backoff = FS__HINT_BACKOFF_NS;
            h->delay = d;
            h->slices = sl;
        }
        h->next_sample = now + FS__HINT_SAMPLE_NS;
    }
    return now >= h->off_until;
}

static void *fs__ring_main(void *arg)
{
    fs__ent *t = arg;
    fs_uring *u = t->u;
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(t->qid, &one);
    /* A CPU this process may not use still gets its queue served, from
     * elsewhere. */
    (void)sched_setaffinity(0, sizeof(one), &one);
    fs__hint hint;
    fs__hint_init(&hint);
    struct sched_param sp = {0};
    fs__ring_cmd(t, FS__CMD_REGISTER, 0);
    struct io_uring_sqe *sqe = fs__sqe(&t->ring);
    sqe->opcode = IORING_OP_POLL_ADD;
    sqe->fd = u->stop_fd;
    sqe->poll32_events = POLLIN;
    sqe->user_data = FS__UD_STOP;
    if (t->kick) {
        /* Registered once submitted; only then may the kick come. */
        int rc = fs__enter(&t->ring, 0);
        if (rc < 0)
            fs__stop_all(u, "register", -rc);
        else
            fs__kick(t);
    }
    while (!atomic_load(&u->stopping)) {
        int idle = fs__hint_on(&hint) &&
                   sched_setscheduler(0, SCHED_IDLE, &sp) == 0;
        int rc = fs__enter(&t->ring, 1);
        if (idle)
            sched_setscheduler(0, SCHED_OTHER, &sp);
        if (rc < 0) {
            fs__stop_all(u, "wait", -rc);
            break;
        }
        unsigned head = atomic_load_explicit(t->ring.cq_head,
                                             memory_order_relaxed);
        unsigned tail = atomic_load_explicit(t->ring.cq_tail,
                                             memory_order_acquire);
        for (; head != tail; head++) {
            struct io_uring_cqe c = t->ring.cqes[head & *t->ring.cq_mask];
            atomic_store_explicit(t->ring.cq_head, head + 1,
                                  memory_order_release);
            if (c.user_data == FS__UD_STOP)
                atomic_store(&u->stopping, 1);
            else if (c.res == -EINTR || c.res == -EAGAIN)
                fs__ring_cmd(t, t->last_op, t->last_commit);
            else if (c.res == -ENOTCONN || c.res == -ECANCELED)
                atomic_store(&u->stopping, 1); /* unmounted */
            else if (c.res < 0)
                fs__stop_all(u, "a request", -c.res);
            else
                fs__ring_serve(t);
            if (atomic_load(&u->stopping))
                break;
        }
    }
    if (hint.fd >= 0)
        close(hint.fd);
    /* Wakes the others, whatever stopped this one. */
    fs__stop_all(u, NULL, 0);
    return NULL;
}

static int fs__ent_init(fs_uring *u, fs__ent *t)
{
    free(t->hdr);
    free(t->payload);
    free(t->flat);
    t->hdr = NULL;
    t->payload = t->flat = NULL;
    /* Page-aligned: the kernel pins the header's page. */
    long page = sysconf(_SC_PAGESIZE);
    if (posix_memalign((void **)&t->hdr, (size_t)page, sizeof(*t->hdr)) != 0)
        return -ENOMEM;
    memset(t->hdr, 0, sizeof(*t->hdr));
    t->payload = malloc(u->payload_max);
    t->flat = malloc(sizeof(struct fuse_in_header) + FS__OP_IN_MAX +
                     u->payload_max);
    if (!t->payload || !t->flat)
        return -ENOMEM;
    t->iov[0] = (struct iovec){t->hdr, sizeof(*t->hdr)};
    t->iov[1] = (struct iovec){t->payload, u->payload_max};
    return fs__ring_init(&t->ring, 4);
}

/* Starts the next thread of CPU QID (its entry, ring and thread); KICK:
 * for a busy CPU, whose queue may hold requests already. */
static int fs__thread_add(fs_uring *u, int qid, int kick)
{
    fs__cpu *cpu = &u->cpus[qid];
    fs__ent *t = &u->ents[(size_t)qid * FS__THREADS_MAX + (size_t)cpu->started];
    t->kick = kick;
    int rc = fs__ent_init(u, t);
    if (rc == 0)
        rc = -pthread_create(&t->thread, NULL, fs__ring_main, t);
    if (rc < 0) {
        fs__ring_free(&t->ring);
        return rc;
    }
    atomic_store(&t->started, 1);
    cpu->started++;
    return 0;
}

static void fs__thread_grow(fs_uring *u, int qid)
{
    fs__cpu *cpu = &u->cpus[qid];
    pthread_mutex_lock(&cpu->mu);
    int rc = cpu->busy >= cpu->started && cpu->started < FS__THREADS_MAX
                 ? fs__thread_add(u, qid, 1) : 0;
    pthread_mutex_unlock(&cpu->mu);
    /* The CPU's threads serve on, one more would only have helped. */
    if (rc < 0)
        fprintf(stderr, "actorfs: io_uring: one more thread for CPU %d: %s\n",
                qid, strerror(-rc));
}

/* After the kernel took INIT's reply: threads for every CPU the kernel
 * may queue on (every configured one), each with its ring. */
static void fs__start(fs_uring *u)
{
    u->ncpu = get_nprocs_conf();
    u->nents = (size_t)u->ncpu * FS__THREADS_MAX;
    u->stop_fd = eventfd(0, EFD_CLOEXEC);
    u->ents = calloc(u->nents, sizeof(*u->ents));
    u->cpus = calloc((size_t)u->ncpu, sizeof(*u->cpus));
    if (u->stop_fd < 0 || !u->ents || !u->cpus) {
        snprintf(u->status, sizeof(u->status), "off: %s", strerror(errno));
        u->nents = 0;
        return;
    }
    for (size_t i = 0; i < u->nents; i++) {
        fs__ent *t = &u->ents[i];
        t->u = u;
        t->qid = (int)(i / FS__THREADS_MAX);
        t->ring.fd = -1;
        pthread_mutex_init(&t->mu, NULL);
        pthread_cond_init(&t->cv, NULL);
    }
    for (int q = 0; q < u->ncpu; q++)
        pthread_mutex_init(&u->cpus[q].mu, NULL);
    atomic_store(&u->rings, 1);
    for (int q = 0; q < u->ncpu; q++)
        for (int k = 0; k < u->threads; k++) {
            /* The CPU's first threads may be serving, and growing. */
            pthread_mutex_lock(&u->cpus[q].mu);
            int rc = fs__thread_add(u, q, 0);
            pthread_mutex_unlock(&u->cpus[q].mu);
            if (rc < 0) {
                /* Until every CPU has one, the kernel uses none. */
                snprintf(u->status, sizeof(u->status), "%s: CPU %d: %s",
                         q > 0 || k > 0 ? "failed" : "off", q, strerror(-rc));
                if (q > 0 || k > 0)
                    fs__stop_all(u, "starting the rings", -rc);
                return;
            }
        }
    snprintf(u->status, sizeof(u->status),
             "on: %d CPUs, %d threads each (up to %d while all are busy)",
             u->ncpu, u->threads, FS__THREADS_MAX);
}

static ssize_t fs__read(int fd, void *buf, size_t len, void *ud)
{
    (void)ud;
    fs_uring *u = fs__uring;
    ssize_t n = read(fd, buf, len);
    const struct fuse_in_header *in = buf;
    if (n >= (ssize_t)(sizeof(*in) + sizeof(struct fuse_init_in)) &&
        in->opcode == FUSE_INIT) {
        const struct fuse_init_in *ii = (const void *)(in + 1);
        pthread_mutex_lock(&u->mu);
        u->init_unique = in->unique;
        u->offered = (ii->flags & FUSE_INIT_EXT) &&
                     (ii->flags2 & FS__OVER_IO_URING2);
        pthread_mutex_unlock(&u->mu);
    }
    return n;
}

static ssize_t fs__writev(int fd, struct iovec *iov, int count, void *ud)
{
    (void)ud;
    fs_uring *u = fs__uring;
    struct fuse_out_header oh;
    if (count < 1 || iov[0].iov_len < sizeof(oh))
        return writev(fd, iov, count);
    memcpy(&oh, iov[0].iov_base, sizeof(oh));
    if (oh.unique != 0 && atomic_load(&u->rings)) {
        ssize_t n = fs__ring_reply(u, oh.unique, iov, count);
        if (n != 0)
            return n;
    }
    pthread_mutex_lock(&u->mu);
    int init = oh.unique != 0 && oh.unique == u->init_unique &&
               !atomic_load(&u->rings);
    if (init && !u->offered)
        snprintf(u->status, sizeof(u->status),
                 "off: the kernel does not offer it (it needs Linux 6.14 "
                 "and /sys/module/fuse/parameters/enable_uring set to Y)");
    if (init && u->offered && oh.error == 0 && count >= 2 &&
        iov[1].iov_len >= sizeof(struct fuse_init_out)) {
        struct fuse_init_out *io = iov[1].iov_base;
        io->flags |= FUSE_INIT_EXT;
        io->flags2 |= FS__OVER_IO_URING2;
        size_t pages = (io->flags & FUSE_MAX_PAGES) ? io->max_pages : 32;
        size_t max = (size_t)io->max_write;
        if (max < pages * (size_t)sysconf(_SC_PAGESIZE))
            max = pages * (size_t)sysconf(_SC_PAGESIZE);
        u->payload_max = max < 8192 ? 8192 : max;
    } else
        init = 0;
    pthread_mutex_unlock(&u->mu);
    int settled = oh.unique != 0 && oh.unique == u->init_unique;
    ssize_t n = writev(fd, iov, count);
    if (init && n >= 0)
        fs__start(u);
    if (settled && u->log)
        u->log(u->status);
    return n;
}

int fs_uring_attach(struct fuse_session *se, int threads,
                    void (*log)(const char *status), fs_uring **out)
{
    if (fs__uring)
        return -EBUSY;
    fs_uring *u = calloc(1, sizeof(*u));
    if (!u)
        return -ENOMEM;
    u->se = se;
    u->fd = fuse_session_fd(se);
    u->threads = threads > 0 ? threads : 1;
    u->log = log;
    u->stop_fd = -1;
    pthread_mutex_init(&u->mu, NULL);
    snprintf(u->status, sizeof(u->status), "off: no INIT seen");
    static const struct fuse_custom_io io = {.read = fs__read,
                                             .writev = fs__writev};
    fs__uring = u;
    if (fuse_session_custom_io(se, &io, u->fd) != 0) {
        fs__uring = NULL;
        pthread_mutex_destroy(&u->mu);
        free(u);
        return -EINVAL;
    }
    *out = u;
    return 0;
}

void fs_uring_detach(fs_uring *u)
{
    if (!u)
        return;
    if (u->stop_fd >= 0)
        fs__stop_all(u, NULL, 0);
    for (size_t i = 0; i < u->nents; i++) {
        fs__ent *t = &u->ents[i];
        if (atomic_load(&t->started)) {
            pthread_mutex_lock(&t->mu);
            pthread_cond_signal(&t->cv);
            pthread_mutex_unlock(&t->mu);
            pthread_join(t->thread, NULL);
        }
        fs__ring_free(&t->ring);
        free(t->hdr);
        free(t->payload);
        free(t->flat);
        pthread_mutex_destroy(&t->mu);
        pthread_cond_destroy(&t->cv);
    }
    free(u->ents);
    for (int q = 0; u->cpus && q < u->ncpu; q++)
        pthread_mutex_destroy(&u->cpus[q].mu);
    free(u->cpus);
    if (u->stop_fd >= 0)
        close(u->stop_fd);
    pthread_mutex_destroy(&u->mu);
    fs__uring = NULL;
    free(u);
}

const char *fs_uring_status(const fs_uring *u)
{
    return u ? u->status : "off";
}

unsigned long fs_uring_served(const fs_uring *u)
{
    return u ? atomic_load(&u->served) : 0;
}
