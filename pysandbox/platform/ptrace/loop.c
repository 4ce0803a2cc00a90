/* The ptrace stop/resume loop of pysandbox. Semantics stay in Python; this file only moves
 * registers and waits. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hostcall.h"

#ifndef PTRACE_SYSEMU
#define PTRACE_SYSEMU 31
#endif

#define REG_SLOTS 8192

struct reg_slot { int tid; struct user_regs_struct *regs; };
static struct reg_slot slots[REG_SLOTS];

static struct reg_slot *slot_for(int tid, int create)
{
    unsigned h = ((unsigned)tid * 2654435761u) % REG_SLOTS;
    for (int i = 0; i < REG_SLOTS; i++) {
        struct reg_slot *s = &slots[(h + i) % REG_SLOTS];
        if (s->tid == tid) return s;
        if (s->tid == 0) return create ? s : NULL;
    }
    return NULL;
}

/* Where the registers of `tid` are copied at each of its stops. */
int psb_register(int tid, struct user_regs_struct *regs)
{
    struct reg_slot *s = slot_for(tid, 1);
    if (!s) return -ENOSPC;
    s->tid = tid;
    s->regs = regs;
    return 0;
}

void psb_unregister(int tid)
{
    struct reg_slot *s = slot_for(tid, 0);
    if (!s) return;
    /* Re-insert the rest of the probe chain so lookups keep working. */
    s->tid = 0; s->regs = NULL;
    unsigned idx = (unsigned)(s - slots);
    for (unsigned i = 1; i < REG_SLOTS; i++) {
        struct reg_slot *n = &slots[(idx + i) % REG_SLOTS];
        if (n->tid == 0) break;
        struct reg_slot moved = *n;
        n->tid = 0; n->regs = NULL;
        struct reg_slot *d = slot_for(moved.tid, 1);
        *d = moved;
    }
}

/* What the child of psb_spawn_stub needs, on a stack of its own (it shares the sentry's memory). */
struct stub_spawn { int exe_fd, channel_fd, cpu; };
static char stub_spawn_stack[64 * 1024] __attribute__((aligned(16)));

static int stub_spawn_child(void *arg)
{
    const struct stub_spawn *spawn = arg;
    if (spawn->cpu >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(spawn->cpu, &set);
        sched_setaffinity(0, sizeof(set), &set);
    }
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    /* Handlers first, then the mask: a handler of the sentry's must never run in this child. */
    for (int sig = 1; sig < NSIG; sig++) signal(sig, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    int exe_fd = spawn->exe_fd, channel_fd = spawn->channel_fd;
    if (exe_fd < 3 || channel_fd < 3 || dup2(channel_fd, 0) < 0) _exit(125);
    for (int fd = 1; fd < 3; fd++) close(fd);
    int low = exe_fd < channel_fd ? exe_fd : channel_fd, high = exe_fd ^ channel_fd ^ low;
    syscall(SYS_close_range, 3, low - 1, 0);
    if (high > low + 1) syscall(SYS_close_range, low + 1, high - 1, 0);
    syscall(SYS_close_range, high + 1, ~0U, 0);
    close(channel_fd);
    fcntl(exe_fd, F_SETFD, FD_CLOEXEC);
    if (ptrace(PTRACE_TRACEME, 0, 0, 0) < 0) _exit(126);
    char *argv[] = {"pysandbox-stub", NULL};
    char *envp[] = {NULL};
    fexecve(exe_fd, argv, envp);
    _exit(127);
}

/* Start a stub from the executable `exe_fd`: pinned, dies with its tracer, traced from its
 * first instruction, holding one fd: `channel_fd` as fd 0 (how the sentry passes it files).
 * The child shares the sentry's memory until its execve (CLONE_VM | CLONE_VFORK, as
 * posix_spawn does): a fork would copy the sentry's page tables and leave every page it
 * touches afterwards to a copy-on-write fault, about 1 ms of a sandbox's start here. All
 * signals stay blocked in between, so that no handler of the sentry's runs in the child. */
int psb_spawn_stub(int exe_fd, int channel_fd, int cpu)
{
    struct stub_spawn spawn = {exe_fd, channel_fd, cpu};
    sigset_t all, previous;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &previous);
    pid_t pid = clone(stub_spawn_child, stub_spawn_stack + sizeof(stub_spawn_stack),
                      CLONE_VM | CLONE_VFORK | SIGCHLD, &spawn);
    int clone_errno = errno;
    pthread_sigmask(SIG_SETMASK, &previous, NULL);
    if (pid < 0) return -clone_errno;
    int status;
    while (waitpid(pid, &status, __WALL) < 0)
        if (errno != EINTR) return -errno;
    if (!WIFSTOPPED(status)) return -ECHILD;
    long opts = PTRACE_O_TRACESYSGOOD | PTRACE_O_TRACECLONE | PTRACE_O_TRACEFORK |
                PTRACE_O_TRACEVFORK | PTRACE_O_EXITKILL;
    if (ptrace(PTRACE_SETOPTIONS, pid, 0, opts) < 0) {
        int err = errno;
        kill(pid, SIGKILL);
        waitpid(pid, &status, __WALL);
        return -err;
    }
    return pid;
}

int psb_getregs(int tid, struct user_regs_struct *regs)
{
    return ptrace(PTRACE_GETREGS, tid, 0, regs) < 0 ? -errno : 0;
}

int psb_setregs(int tid, struct user_regs_struct *regs)
{
    return ptrace(PTRACE_SETREGS, tid, 0, regs) < 0 ? -errno : 0;
}

int psb_getfpregs(int tid, void *buf512)
{
    return ptrace(PTRACE_GETFPREGS, tid, 0, buf512) < 0 ? -errno : 0;
}

int psb_setfpregs(int tid, void *buf512)
{
    return ptrace(PTRACE_SETFPREGS, tid, 0, buf512) < 0 ? -errno : 0;
}

#ifndef NT_X86_XSTATE
#define NT_X86_XSTATE 0x202
#endif

/* The full XSAVE image (x87, SSE, AVX, ...); returns its length or -errno. */
long psb_getxstate(int tid, void *buf, unsigned long size)
{
    struct iovec iov = {buf, size};
    if (ptrace(PTRACE_GETREGSET, tid, (void *)NT_X86_XSTATE, &iov) < 0) return -errno;
    return (long)iov.iov_len;
}

long psb_setxstate(int tid, void *buf, unsigned long size)
{
    struct iovec iov = {buf, size};
    return ptrace(PTRACE_SETREGSET, tid, (void *)NT_X86_XSTATE, &iov) < 0 ? -errno : 0;
}

long psb_geteventmsg(int tid)
{
    unsigned long msg = 0;
    if (ptrace(PTRACE_GETEVENTMSG, tid, 0, &msg) < 0) return -errno;
    return (long)msg;
}

/* Run `tid` with its registers until its next syscall (SYSEMU) or signal. */
int psb_resume(int tid, struct user_regs_struct *regs, int sig)
{
    if (regs && ptrace(PTRACE_SETREGS, tid, 0, regs) < 0) return -errno;
    return ptrace(PTRACE_SYSEMU, tid, 0, (long)sig) < 0 ? -errno : 0;
}

static int collect(int tid, int status)
{
    if (WIFSTOPPED(status)) {
        struct reg_slot *s = slot_for(tid, 0);
        if (s && ptrace(PTRACE_GETREGS, tid, 0, s->regs) < 0) return -errno;
    }
    return 0;
}

/* Wait for the next stop or exit of any tracee. Blocks when `block` is set. */
int psb_wait(int *status, int block)
{
    for (;;) {
        int tid = waitpid(-1, status, __WALL | (block ? 0 : WNOHANG));
        if (tid < 0)
            return -errno;      /* EINTR included: Python must get to run its signal handlers */
        if (tid > 0) {
            int err = collect(tid, *status);
            if (err == -ESRCH) {       /* killed between the stop and GETREGS */
                continue;
            }
        }
        return tid;
    }
}

/* Resume one tracee and wait for whichever stops next: the hot path. */
int psb_resume_wait(int tid, struct user_regs_struct *regs, int *status)
{
    if (ptrace(PTRACE_SETREGS, tid, 0, regs) < 0) return -errno;
    if (ptrace(PTRACE_SYSEMU, tid, 0, 0) < 0) return -errno;
    return psb_wait(status, 1);
}

/* A signalfd that reports SIGCHLD, for an event loop that also waits on fds and timers. */
int psb_sigchld_fd(void)
{
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGCHLD);
    if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0) return -errno;
    int fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

/* Wait for a tracee stop, or for one of the epoll fds, or the timeout.
 * Returns a tid (>0), 0 when fds are ready or time ran out, or -errno. */
int psb_wait_event(int epfd, int sigfd, int timeout_ms, int *status, int *ready_fds, int max_ready, int *n_ready)
{
    struct epoll_event events[64];
    *n_ready = 0;
    for (;;) {
        int tid = psb_wait(status, 0);
        if (tid != 0) return tid;
        int n = epoll_wait(epfd, events, max_ready < 64 ? max_ready : 64, timeout_ms);
        if (n < 0)
            return -errno;
        int saw_child = 0;
        for (int i = 0; i < n; i++) {
            if (events[i].data.fd == sigfd) {
                struct signalfd_siginfo si;
                while (read(sigfd, &si, sizeof si) == sizeof si) {}
                saw_child = 1;
            } else {
                ready_fds[(*n_ready)++] = events[i].data.fd;
            }
        }
        if (*n_ready > 0 || n == 0) {
            if (saw_child) {
                tid = psb_wait(status, 0);
                if (tid != 0) return tid;
            }
            return 0;
        }
    }
}

/* psb_resume_wait that also ends when `timeout_ms` passes or a watched fd is ready
 * (returning 0, the tracee still running): timers and host fds stay on time while the
 * kernel answers one task's syscalls on its hot path. */
int psb_resume_wait_event(int tid, struct user_regs_struct *regs, int *status, int epfd, int sigfd,
                          int timeout_ms, int *ready_fds, int max_ready, int *n_ready)
{
    *n_ready = 0;
    if (ptrace(PTRACE_SETREGS, tid, 0, regs) < 0) return -errno;
    if (ptrace(PTRACE_SYSEMU, tid, 0, 0) < 0) return -errno;
    return psb_wait_event(epfd, sigfd, timeout_ms, status, ready_fds, max_ready, n_ready);
}

/* Copy `n` bytes to a stopped tracee's memory with process_vm_writev: one copy, but it
 * honours page protections (a read-only page ends the copy short). Returns the bytes written
 * or -errno. */
long psb_write_mem(int pid, unsigned long addr, const void *buf, unsigned long n)
{
    struct iovec local = {(void *)buf, n}, remote = {(void *)addr, n};
    long r = process_vm_writev(pid, &local, 1, &remote, 1, 0);
    return r < 0 ? -errno : r;
}

/* Run a stopped tracee from `regs` until its gadget's int3 stops it (or, with faults_end, a
 * SIGSEGV or SIGBUS, which is discarded); other stops (fork/clone events, signals) are let go.
 * `regs` receives the registers at that stop, and `saved` is put back. 0 or -errno. */
static int run_gadget(int tid, struct user_regs_struct *regs, const struct user_regs_struct *saved, int faults_end)
{
    int status;
    if (ptrace(PTRACE_SETREGS, tid, 0, regs) < 0) return -errno;
    if (ptrace(PTRACE_CONT, tid, 0, 0) < 0) return -errno;
    for (;;) {
        /* A signal to the sentry must not end the wait: the tracee is running with our registers. */
        if (waitpid(tid, &status, __WALL) < 0) {
            if (errno == EINTR) continue;
            return -errno;
        }
        if (!WIFSTOPPED(status)) return -ESRCH;
        int sig = WSTOPSIG(status);
        if (sig == SIGTRAP && (status >> 16) == 0) break;
        if (faults_end && (sig == SIGSEGV || sig == SIGBUS)) break;
        if (ptrace(PTRACE_CONT, tid, 0, 0) < 0) return -errno;
    }
    if (ptrace(PTRACE_GETREGS, tid, 0, regs) < 0) return -errno;
    if (ptrace(PTRACE_SETREGS, tid, 0, saved) < 0) return -errno;
    return 0;
}

/* Make a stopped tracee run one host syscall through the stub's `syscall; int3` gadget.
 * Registers are restored afterwards. Returns the syscall's result (or -errno of ptrace). */
long psb_inject(int tid, unsigned long gadget, long nr, long a0, long a1, long a2, long a3, long a4, long a5)
{
    struct user_regs_struct saved, regs;
    if (ptrace(PTRACE_GETREGS, tid, 0, &saved) < 0) return -errno;
    regs = saved;
    regs.rax = nr; regs.orig_rax = -1;
    regs.rdi = a0; regs.rsi = a1; regs.rdx = a2; regs.r10 = a3; regs.r8 = a4; regs.r9 = a5;
    regs.rip = gadget;
    int err = run_gadget(tid, &regs, &saved, 0);
    return err < 0 ? err : (long)regs.rax;
}

/* Make a stopped tracee copy n bytes from src to dst inside its own address space, with the
 * stub's `cld; rep movsb; int3` gadget: one user-space copy, no host syscall. A fault ends the
 * copy where it happened. Registers are restored afterwards.
 * Returns the bytes left uncopied (0: all of them), or -errno of ptrace. */
long psb_stub_copy(int tid, unsigned long gadget, unsigned long dst, unsigned long src, unsigned long n)
{
    struct user_regs_struct saved, regs;
    if (ptrace(PTRACE_GETREGS, tid, 0, &saved) < 0) return -errno;
    regs = saved;
    regs.orig_rax = -1;
    regs.rdi = dst; regs.rsi = src; regs.rcx = n;
    regs.rip = gadget;
    int err = run_gadget(tid, &regs, &saved, 1);
    return err < 0 ? err : (long)regs.rcx;
}

/* Wait for a specific new tracee's first stop (the SIGSTOP of an auto-attached child). */
int psb_wait_new_child(int tid)
{
    int status;
    for (;;) {
        if (waitpid(tid, &status, __WALL) < 0) {
            if (errno == EINTR) continue;
            return -errno;
        }
        if (WIFSTOPPED(status)) return WSTOPSIG(status);
        return -ESRCH;
    }
}

long psb_read_siginfo(int tid, void *buf128)
{
    return ptrace(PTRACE_GETSIGINFO, tid, 0, buf128) < 0 ? -errno : 0;
}

int psb_kill_thread(int tgid, int tid, int sig)
{
    return syscall(SYS_tgkill, tgid, tid, sig) < 0 ? -errno : 0;
}

/* The channel files reach stubs through: a SOCK_SEQPACKET pair, close-on-exec. */
int psb_channel(int *fds)
{
    return socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) < 0 ? -errno : 0;
}

/* Send `fd` with an 8-byte `tag` over the channel (SCM_RIGHTS). */
int psb_send_fd(int channel, int fd, unsigned long tag)
{
    union { struct cmsghdr header; char space[CMSG_SPACE(sizeof(int))]; } control;
    struct iovec iov = {&tag, sizeof tag};
    struct msghdr msg = {0};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.space;
    msg.msg_controllen = sizeof control.space;
    struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cmsg), &fd, sizeof fd);
    return sendmsg(channel, &msg, MSG_DONTWAIT) < 0 ? -errno : 0;
}

/* Read and write guest memory of a stopped tracee. */
long psb_read_mem(int pid, unsigned long addr, void *buf, unsigned long n)
{
    struct iovec local = {buf, n}, remote = {(void *)addr, n};
    long r = process_vm_readv(pid, &local, 1, &remote, 1, 0);
    return r < 0 ? -errno : r;
}

/* Host calls the sandbox process makes to set itself up (namespaces, capabilities, its seccomp
 * filter): a raw syscall, its result or -errno. Pointers come as addresses. */
long psb_host_syscall(long nr, long a0, long a1, long a2, long a3, long a4, long a5)
{
    return host_syscall6(nr, a0, a1, a2, a3, a4, a5);
}

/* The report of a host syscall the process's seccomp filter refused (SECCOMP_RET_TRAP), on any
 * thread: hostcall.h's line, `names` indexed by number; then exit_group(128 + SIGSYS), or with
 * keep_going the call fails with ENOSYS. */
static struct refusal_report *sentry_report;

static void on_refused_syscall(int signo, siginfo_t *info, void *context)
{
    (void)signo;
    refusal_report_handle(__atomic_load_n(&sentry_report, __ATOMIC_ACQUIRE), info, context);
}

int psb_report_refused_syscalls(int log_fd, const char *before, const char *names, int names_size,
                                int name_count, const char *after, int keep_going)
{
    struct refusal_report *report = refusal_report_new(log_fd, before, names, names_size, name_count, after,
                                                       keep_going, 128 + SIGSYS);
    if (!report) return -ENOMEM;
    __atomic_store_n(&sentry_report, report, __ATOMIC_RELEASE);
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_sigaction = on_refused_syscall;
    action.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&action.sa_mask);
    return sigaction(SIGSYS, &action, NULL) < 0 ? -errno : 0;
}
