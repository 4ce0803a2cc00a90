/* The KVM platform's hot loop: one host thread per vCPU runs KVM_RUN; stops are
 * posted to the sentry through a ring and a semaphore eventfd. Registers move
 * through the kvm_run sync area, so a syscall round trip is one KVM_RUN.
 * Python decides everything else (pysandbox/platform/kvm/machine.py). */

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <linux/futex.h>
#include <linux/filter.h>
#include <linux/kvm.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "hostcall.h"

struct user_regs_struct {
    unsigned long r15, r14, r13, r12, rbp, rbx, r11, r10, r9, r8;
    unsigned long rax, rcx, rdx, rsi, rdi, orig_rax, rip, cs, eflags, rsp, ss;
    unsigned long fs_base, gs_base, ds, es, fs, gs;
};

#define MAX_VCPUS 256
#define STOP_SYSCALL 1
#define STOP_FAULT 2
#define STOP_INTERRUPTED 3
#define STOP_FATAL 4
#define IDLE 0
#define GO 1
#define RUNNING 2
#define QUIT 3
#define SYSCALL_PORT 0x10
#define FAULT_PORT_BASE 0x80
#define USER_CS 0x33
#define USER_DS 0x2b

struct vcpu {
    int fd;
    struct kvm_run *run;
    pthread_t thread;
    int started;
    volatile int state;
    struct user_regs_struct *regs;
    uint8_t *kstack;            /* the sentry's view of this vCPU's kernel stack page */
    uint64_t kstack_va;         /* its guest address */
    int sregs_dirty;
    volatile int in_guest;      /* between its pause check and the end of KVM_RUN */
    int stop;
    uint64_t vector, error_code, fault_addr, exit_reason;
    uint64_t run_ns;            /* guest time of the runs that ended */
    uint64_t run_start;         /* when the run in progress began; 0 between runs */
    uint32_t run_seq;           /* odd while run_ns and run_start change (psk_run_ns) */
    struct sock_fprog filter;   /* the thread's own seccomp filter (psk_confine) */
    volatile int filter_state;  /* FILTER_NONE, FILTER_PENDING, FILTER_INSTALLED or -errno */
    long test_syscall;          /* test-only: a host syscall the thread makes once confined */
};

#define FILTER_NONE 0
#define FILTER_PENDING 1
#define FILTER_INSTALLED 2

static struct vcpu vcpus[MAX_VCPUS];
static uint64_t lstar_stub, fault_stubs, iret_gadget;
static int event_fd = -1;
static int kick_signal;
static volatile int paused;     /* psk_pause_all: no vCPU may enter the guest */
static pthread_mutex_t ring_lock = PTHREAD_MUTEX_INITIALIZER;
static int ring[MAX_VCPUS + 1];
static unsigned ring_head, ring_tail;

/* Arguments widened to long: the vCPU threads' filter checks the futex op as a 64-bit value. */
static void futex_wait(volatile int *addr, int value)
{
    syscall(SYS_futex, addr, (long)FUTEX_WAIT_PRIVATE, (long)value, NULL, NULL, 0L);
}

static void futex_wake(volatile int *addr)
{
    syscall(SYS_futex, addr, (long)FUTEX_WAKE_PRIVATE, 1L, NULL, NULL, 0L);
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

/* Runs are timed by their thread; psk_run_ns reads the time from the sentry's, also while a
 * run goes on, so that CPU-time clocks and timers advance during a long stretch of guest code. */
static void begin_run(struct vcpu *v, uint64_t start)
{
    __atomic_add_fetch(&v->run_seq, 1, __ATOMIC_SEQ_CST);
    __atomic_store_n(&v->run_start, start, __ATOMIC_SEQ_CST);
    __atomic_add_fetch(&v->run_seq, 1, __ATOMIC_SEQ_CST);
}

static void end_run(struct vcpu *v, uint64_t start)
{
    uint64_t end = now_ns();
    __atomic_add_fetch(&v->run_seq, 1, __ATOMIC_SEQ_CST);
    __atomic_store_n(&v->run_ns, v->run_ns + end - start, __ATOMIC_SEQ_CST);
    __atomic_store_n(&v->run_start, 0, __ATOMIC_SEQ_CST);
    __atomic_add_fetch(&v->run_seq, 1, __ATOMIC_SEQ_CST);
}

static void on_kick(int signo, siginfo_t *info, void *context) { (void)signo; (void)info; (void)context; }

/* `handler` for signal `signo` in the whole process (the one before in `previous`, if given). */
static int set_handler(int signo, void (*handler)(int, siginfo_t *, void *), int flags, struct sigaction *previous)
{
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_sigaction = handler;
    action.sa_flags = SA_SIGINFO | flags;
    sigemptyset(&action.sa_mask);
    return sigaction(signo, &action, previous) < 0 ? -errno : 0;
}

int psk_init(int efd, uint64_t lstar, uint64_t faults, uint64_t iret, int signo)
{
    event_fd = efd;
    lstar_stub = lstar;
    fault_stubs = faults;
    iret_gadget = iret;
    kick_signal = signo;
    return set_handler(signo, on_kick, 0, NULL);
}

static void post(int index)
{
    uint64_t one = 1;
    pthread_mutex_lock(&ring_lock);
    ring[ring_tail % (MAX_VCPUS + 1)] = index;
    ring_tail++;
    pthread_mutex_unlock(&ring_lock);
    if (write(event_fd, &one, sizeof one) < 0) { /* the counter cannot overflow here */ }
}

static int ring_pop(void)
{
    int index = -1;
    pthread_mutex_lock(&ring_lock);
    if (ring_head != ring_tail) {
        index = ring[ring_head % (MAX_VCPUS + 1)];
        ring_head++;
    }
    pthread_mutex_unlock(&ring_lock);
    return index;
}

/* The next stopped vCPU, or -1 when none is queued. The eventfd counts the ring's entries. */
int psk_take(void)
{
    int index = ring_pop();
    if (index >= 0) {
        uint64_t count;
        if (read(event_fd, &count, sizeof count) < 0) { /* a semaphore eventfd: one per post */ }
    }
    return index;
}

static void user_regs_from_kvm(struct vcpu *v, const struct kvm_regs *k)
{
    struct user_regs_struct *r = v->regs;
    r->rax = k->rax; r->rbx = k->rbx; r->rcx = k->rcx; r->rdx = k->rdx;
    r->rsi = k->rsi; r->rdi = k->rdi; r->rsp = k->rsp; r->rbp = k->rbp;
    r->r8 = k->r8; r->r9 = k->r9; r->r10 = k->r10; r->r11 = k->r11;
    r->r12 = k->r12; r->r13 = k->r13; r->r14 = k->r14; r->r15 = k->r15;
    r->rip = k->rip; r->eflags = k->rflags;
    r->cs = USER_CS; r->ss = USER_DS;
    r->fs_base = v->run->s.regs.sregs.fs.base;
    r->gs_base = v->run->s.regs.sregs.gs.base;
}

/* The interrupt frame the CPU pushed on this vCPU's kernel stack: err, rip, cs, rflags, rsp, ss. */
static uint64_t *frame_at(struct vcpu *v, uint64_t rsp, int words)
{
    if (rsp < v->kstack_va || rsp + 8 * words > v->kstack_va + 4096)
        return NULL;
    return (uint64_t *)(v->kstack + (rsp - v->kstack_va));
}

static int in_ring0(struct vcpu *v)
{
    return (v->run->s.regs.sregs.cs.selector & 3) == 0;
}

/* Returns 1 when the stop must be reported, 0 to enter the guest again. */
static int classify(struct vcpu *v, int rc, int err)
{
    struct kvm_run *run = v->run;
    struct kvm_regs *k = &run->s.regs.regs;
    v->exit_reason = rc < 0 ? 0 : run->exit_reason;
    if (rc < 0) {
        if (err != EINTR && err != EAGAIN) {
            v->stop = STOP_FATAL;
            v->exit_reason = 1000 + err;
            return 1;
        }
        run->immediate_exit = 0;
        if (in_ring0(v)) {
            if (k->rip >= fault_stubs && k->rip < fault_stubs + 32 * 16)
                return 0;                       /* the next instruction exits anyway */
            uint64_t *frame = frame_at(v, k->rsp, 5);
            if (k->rip != iret_gadget || frame == NULL) {
                v->stop = STOP_FATAL;
                return 1;
            }
            user_regs_from_kvm(v, k);
            v->regs->rip = frame[0];
            v->regs->eflags = frame[2];
            v->regs->rsp = frame[3];
        } else {
            if (k->rip == lstar_stub)
                return 0;
            user_regs_from_kvm(v, k);
        }
        v->stop = STOP_INTERRUPTED;
        return 1;
    }
    if (run->exit_reason == KVM_EXIT_IO) {
        int port = run->io.direction == KVM_EXIT_IO_OUT ? run->io.port : -1;
        if (port == SYSCALL_PORT && k->rip == lstar_stub + 2) {   /* ring 3 on PVM, ring 0 on VMX/SVM */
            user_regs_from_kvm(v, k);
            v->regs->rip = k->rcx;
            v->regs->eflags = k->r11;
            v->regs->orig_rax = k->rax;
            v->regs->rax = (unsigned long)-ENOSYS;
            v->stop = STOP_SYSCALL;
            return 1;
        }
        if (port >= FAULT_PORT_BASE && port < FAULT_PORT_BASE + 32 && in_ring0(v)) {
            uint64_t *frame = frame_at(v, k->rsp, 6);
            if (frame == NULL || (frame[2] & 3) != 3) {
                v->stop = STOP_FATAL;
                return 1;
            }
            user_regs_from_kvm(v, k);
            v->vector = port - FAULT_PORT_BASE;
            v->error_code = frame[0];
            v->regs->rip = frame[1];
            v->regs->eflags = frame[3];
            v->regs->rsp = frame[4];
            v->fault_addr = run->s.regs.sregs.cr2;
            v->stop = STOP_FAULT;
            return 1;
        }
        /* an `in` or `out` the guest made itself: a general protection fault, as on Linux
         * (rip is already past the instruction) */
        user_regs_from_kvm(v, k);
        v->vector = 13;
        v->error_code = 0;
        v->fault_addr = 0;
        v->stop = STOP_FAULT;
        return 1;
    }
    v->stop = STOP_FATAL;
    return 1;
}

static void load_regs(struct vcpu *v)
{
    struct kvm_run *run = v->run;
    struct kvm_regs *k = &run->s.regs.regs;
    struct kvm_sregs *s = &run->s.regs.sregs;
    const struct user_regs_struct *r = v->regs;
    k->rax = r->rax; k->rbx = r->rbx; k->rcx = r->rcx; k->rdx = r->rdx;
    k->rsi = r->rsi; k->rdi = r->rdi; k->rsp = r->rsp; k->rbp = r->rbp;
    k->r8 = r->r8; k->r9 = r->r9; k->r10 = r->r10; k->r11 = r->r11;
    k->r12 = r->r12; k->r13 = r->r13; k->r14 = r->r14; k->r15 = r->r15;
    k->rip = r->rip; k->rflags = (r->eflags & 0x3f7fd5) | 0x202;
    if (in_ring0(v)) {
        /* back to ring 3 through iretq, which takes rip, cs, rflags, rsp and ss from the stack */
        uint64_t top = v->kstack_va + 4096 - 5 * 8;
        uint64_t *frame = frame_at(v, top, 5);
        frame[0] = k->rip; frame[1] = USER_CS; frame[2] = k->rflags; frame[3] = r->rsp; frame[4] = USER_DS;
        k->rip = iret_gadget;
        k->rsp = top;
    }
    if (s->fs.base != r->fs_base || s->gs.base != r->gs_base) {
        s->fs.base = r->fs_base;
        s->gs.base = r->gs_base;
        v->sregs_dirty = 1;
    }
    run->kvm_dirty_regs = KVM_SYNC_X86_REGS | (v->sregs_dirty ? KVM_SYNC_X86_SREGS : 0);
    v->sregs_dirty = 0;
    run->kvm_valid_regs = KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS;
}

/* A host syscall a vCPU thread's filter refused (its SIGSYS carries the filter's data in
 * si_errno): this handler reports it from the thread itself (hostcall.h's line); every other
 * SIGSYS goes to the handler installed before (the sentry's). */
static struct sigaction previous_sigsys;
static struct refusal_report *vcpu_report;
static int vcpu_filter_data;

static void on_sigsys(int signo, siginfo_t *info, void *context)
{
    if (info->si_errno != vcpu_filter_data) {
        if (previous_sigsys.sa_flags & SA_SIGINFO)
            previous_sigsys.sa_sigaction(signo, info, context);
        else if (previous_sigsys.sa_handler != SIG_DFL && previous_sigsys.sa_handler != SIG_IGN)
            previous_sigsys.sa_handler(signo);
        return;
    }
    refusal_report_handle(__atomic_load_n(&vcpu_report, __ATOMIC_ACQUIRE), info, context);
}

/* Once, before the first psk_confine: the report of a refused call, `before` NAME (NUMBER)
 * `after` with NAME from `names` (`name_count` NUL-separated names in `names_size` bytes,
 * indexed by number); `data` is what the vCPU threads' filter puts in si_errno, `status` the
 * sandbox's exit status after a refusal (unless `keep_going`). */
int psk_confine_setup(int log_fd, const char *before, const char *names, int names_size, int name_count,
                      const char *after, int keep_going, int data, int status)
{
    struct refusal_report *report = refusal_report_new(log_fd, before, names, names_size, name_count, after,
                                                       keep_going, status);
    if (!report)
        return -ENOMEM;
    __atomic_store_n(&vcpu_report, report, __ATOMIC_RELEASE);
    vcpu_filter_data = data;
    struct sigaction current;
    if (sigaction(SIGSYS, NULL, &current) == 0 && (current.sa_flags & SA_SIGINFO)
        && current.sa_sigaction == on_sigsys)
        return 0;                       /* already in front (a second platform in this process) */
    return set_handler(SIGSYS, on_sigsys, SA_RESTART, &previous_sigsys);
}

/* On the vCPU's own thread: its filter, on top of the sentry's (seccomp filters without
 * TSYNC hold for the calling thread only). */
static void install_filter(struct vcpu *v)
{
    int state = FILTER_INSTALLED;
    if (syscall(SYS_seccomp, (long)SECCOMP_SET_MODE_FILTER, 0L, &v->filter) < 0)
        state = -errno;
    if (state == FILTER_INSTALLED && v->test_syscall >= 0)
        syscall(v->test_syscall, 0L, 0L, 0L, 0L, 0L, 0L);
    __atomic_store_n(&v->filter_state, state, __ATOMIC_SEQ_CST);
    futex_wake(&v->filter_state);
}

static void *vcpu_thread(void *arg)
{
    struct vcpu *v = arg;
    int index = (int)(v - vcpus);
    for (;;) {
        int state;
        while ((state = v->state) != GO) {
            if (state == QUIT)
                return NULL;
            if (v->filter_state == FILTER_PENDING)
                install_filter(v);
            futex_wait(&v->state, state);
        }
        if (v->filter_state == FILTER_PENDING)
            install_filter(v);              /* before any guest code runs on this thread */
        int go = GO;
        if (!__atomic_compare_exchange_n(&v->state, &go, RUNNING, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
            continue;
        uint64_t start = now_ns();
        begin_run(v, start);
        for (;;) {
            __atomic_store_n(&v->in_guest, 1, __ATOMIC_SEQ_CST);
            if (__atomic_load_n(&paused, __ATOMIC_SEQ_CST)) {
                __atomic_store_n(&v->in_guest, 0, __ATOMIC_SEQ_CST);
                while (paused)
                    futex_wait(&paused, 1);
                continue;
            }
            int rc = ioctl(v->fd, KVM_RUN, 0);
            __atomic_store_n(&v->in_guest, 0, __ATOMIC_SEQ_CST);
            if (classify(v, rc, rc < 0 ? errno : 0))
                break;          /* KVM cleared the dirty bits it loaded; psk_set_cr3 may set more */
        }
        end_run(v, start);
        int expected = RUNNING;
        if (!__atomic_compare_exchange_n(&v->state, &expected, IDLE, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
            return NULL;                            /* told to quit while it ran */
        post(index);
    }
}

int psk_vcpu_start(int index, int fd, void *run, void *kstack, uint64_t kstack_va)
{
    struct vcpu *v;
    sigset_t all, old;
    int err;
    if (index < 0 || index >= MAX_VCPUS)
        return -EINVAL;
    v = &vcpus[index];
    v->fd = fd;
    v->run = run;
    v->kstack = kstack;
    v->kstack_va = kstack_va;
    v->state = IDLE;
    v->filter_state = FILTER_NONE;
    v->run->kvm_valid_regs = KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS;
    if (ioctl(fd, KVM_GET_REGS, &v->run->s.regs.regs) < 0 || ioctl(fd, KVM_GET_SREGS, &v->run->s.regs.sregs) < 0)
        return -errno;
    /* vCPU threads take no host signals but the kick, which ends KVM_RUN, and the SIGSYS
     * of their seccomp filter (security/seccomp.py reports it) */
    sigfillset(&all);
    sigdelset(&all, kick_signal);
    sigdelset(&all, SIGSYS);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    err = pthread_create(&v->thread, NULL, vcpu_thread, v);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (err)
        return -err;
    v->started = 1;
    return 0;
}

/* Confine vCPU `index`'s thread with the BPF program `code` (`count` instructions, kept
 * alive by the caller) before it next runs guest code; waits until the thread has it. Only
 * while the vCPU is stopped. Returns 0 or -errno. */
int psk_confine(int index, void *code, int count, long test_syscall)
{
    struct vcpu *v = &vcpus[index];
    int state;
    struct timespec poll = {0, 1000000};
    v->filter.len = (unsigned short)count;
    v->filter.filter = code;
    v->test_syscall = test_syscall;
    __atomic_store_n(&v->filter_state, FILTER_PENDING, __ATOMIC_SEQ_CST);
    /* the thread may be between its check and its wait: wake it until it answers */
    while ((state = __atomic_load_n(&v->filter_state, __ATOMIC_SEQ_CST)) == FILTER_PENDING) {
        futex_wake(&v->state);
        syscall(SYS_futex, &v->filter_state, (long)FUTEX_WAIT_PRIVATE, (long)FILTER_PENDING, &poll, NULL, 0L);
    }
    return state == FILTER_INSTALLED ? 0 : state;
}

void psk_set_regs(int index, struct user_regs_struct *regs) { vcpus[index].regs = regs; }

/* A new root table for this vCPU's address space: loaded on its next entry. Only while the
 * vCPU is stopped or held out of the guest (psk_pause_all). */
void psk_set_cr3(int index, uint64_t cr3)
{
    vcpus[index].run->s.regs.sregs.cr3 = cr3;
    vcpus[index].sregs_dirty = 1;
    /* a vCPU held by psk_pause_all enters again without load_regs */
    __atomic_or_fetch(&vcpus[index].run->kvm_dirty_regs, KVM_SYNC_X86_SREGS, __ATOMIC_SEQ_CST);
}

int psk_resume(int index)
{
    struct vcpu *v = &vcpus[index];
    if (v->state != IDLE)
        return -EBUSY;
    load_regs(v);
    __atomic_store_n(&v->state, GO, __ATOMIC_SEQ_CST);
    futex_wake(&v->state);
    return 0;
}

/* Run vCPU `index` on the calling thread (the sentry's) until it stops; returns the kind
 * of stop (STOP_SYSCALL, ...) or -errno.
 * Only while no other vCPU runs: then nothing else can stop meanwhile, and the hand-off to
 * and from the vCPU's own thread is saved. */
int psk_run_inline(int index)
{
    struct vcpu *v = &vcpus[index];
    int expected = IDLE;
    if (!__atomic_compare_exchange_n(&v->state, &expected, RUNNING, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
        return -EBUSY;
    load_regs(v);
    uint64_t start = now_ns();
    begin_run(v, start);
    for (;;) {
        int rc = ioctl(v->fd, KVM_RUN, 0);
        if (classify(v, rc, rc < 0 ? errno : 0))
            break;
    }
    end_run(v, start);
    __atomic_store_n(&v->state, IDLE, __ATOMIC_SEQ_CST);
    return v->stop;
}

/* Block until some vCPU stops; returns its index (-EINTR when a host signal came first). */
int psk_wait(void)
{
    uint64_t count;
    if (read(event_fd, &count, sizeof count) < 0)   /* blocks for one post */
        return -errno;
    return ring_pop();
}

int psk_resume_wait(int index)
{
    int err = psk_resume(index);
    if (err < 0)
        return err;
    return psk_wait();
}

int psk_wait_event(int epfd, int timeout_ms, int *ready_fds, int max_ready, int *n_ready)
{
    struct epoll_event events[64];
    int n, i, count = 0;
    if (max_ready > 64)
        max_ready = 64;
    n = epoll_wait(epfd, events, max_ready, timeout_ms);
    if (n < 0)
        n = 0;
    for (i = 0; i < n; i++)
        if (events[i].data.fd != event_fd)
            ready_fds[count++] = events[i].data.fd;
    *n_ready = count;
    return n;
}

void psk_kick(int index)
{
    struct vcpu *v = &vcpus[index];
    v->run->immediate_exit = 1;
    if (v->state == RUNNING || v->state == GO)
        pthread_kill(v->thread, kick_signal);
}

int psk_stop(int index) { return vcpus[index].stop; }
uint64_t psk_vector(int index) { return vcpus[index].vector; }
uint64_t psk_error_code(int index) { return vcpus[index].error_code; }
uint64_t psk_fault_addr(int index) { return vcpus[index].fault_addr; }
uint64_t psk_exit_reason(int index) { return vcpus[index].exit_reason; }
uint64_t psk_run_ns(int index)
{
    struct vcpu *v = &vcpus[index];
    for (;;) {
        uint32_t seq = __atomic_load_n(&v->run_seq, __ATOMIC_SEQ_CST);
        uint64_t done = __atomic_load_n(&v->run_ns, __ATOMIC_SEQ_CST);
        uint64_t start = __atomic_load_n(&v->run_start, __ATOMIC_SEQ_CST);
        uint64_t now = start ? now_ns() : 0;
        if (!(seq & 1) && __atomic_load_n(&v->run_seq, __ATOMIC_SEQ_CST) == seq)
            return done + (start ? now - start : 0);
    }
}
void psk_reset_run_ns(int index) { vcpus[index].run_ns = 0; }

/* Hold every vCPU out of the guest (for a memslot change), until psk_unpause_all. */
void psk_pause_all(void)
{
    int i;
    __atomic_store_n(&paused, 1, __ATOMIC_SEQ_CST);
    for (i = 0; i < MAX_VCPUS; i++) {
        struct vcpu *v = &vcpus[i];
        if (!v->started)
            continue;
        while (__atomic_load_n(&v->in_guest, __ATOMIC_SEQ_CST)) {
            v->run->immediate_exit = 1;
            pthread_kill(v->thread, kick_signal);
            struct timespec pause = {0, 20000};
            nanosleep(&pause, NULL);
        }
    }
}

void psk_unpause_all(void)
{
    __atomic_store_n(&paused, 0, __ATOMIC_SEQ_CST);
    syscall(SYS_futex, &paused, FUTEX_WAKE_PRIVATE, MAX_VCPUS, NULL, NULL, 0);
}

void psk_shutdown(void)
{
    int i;
    for (i = 0; i < MAX_VCPUS; i++) {
        struct vcpu *v = &vcpus[i];
        if (!v->started)
            continue;
        psk_kick(i);
        __atomic_store_n(&v->state, QUIT, __ATOMIC_SEQ_CST);
        futex_wake(&v->state);
    }
    for (i = 0; i < MAX_VCPUS; i++) {
        struct vcpu *v = &vcpus[i];
        if (!v->started)
            continue;
        pthread_join(v->thread, NULL);
        v->started = 0;
    }
    ring_head = ring_tail = 0;
}
