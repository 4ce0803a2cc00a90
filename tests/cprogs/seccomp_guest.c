/* seccomp(2) filters installed by the workload itself: run natively and under pysandbox, the
 * two must print the same and end the same way. argv[1] names the scenario. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <ucontext.h>
#include <unistd.h>

#include "seccomp_show.h"

#define LEN(a) (sizeof(a) / sizeof((a)[0]))
#define LOAD_NR BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr))
#define LOAD_ARCH BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch))
#define ON_NR(nr, ret) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 1), BPF_STMT(BPF_RET | BPF_K, (ret))
#define RET(ret) BPF_STMT(BPF_RET | BPF_K, (ret))

static long install_flags(struct sock_filter *insns, unsigned short n, unsigned flags)
{
    struct sock_fprog prog = {.len = n, .filter = insns};
    return syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog);
}

static long install(struct sock_filter *insns, unsigned short n)
{
    return install_flags(insns, n, 0);
}


static void show_status_lines(const char *who)
{
    char line[256];
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) {
        printf("%s: no /proc/self/status\n", who);
        return;
    }
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "Seccomp", 7) || !strncmp(line, "NoNewPrivs", 10))
            printf("%s %s", who, line);
    fclose(f);
    fflush(stdout);
}

static void show_wait(const char *what, pid_t pid)
{
    int status;
    waitpid(pid, &status, 0);
    if (WIFEXITED(status))
        printf("%s: exited %d\n", what, WEXITSTATUS(status));
    else
        printf("%s: killed by %s\n", what, sigabbrev_np(WTERMSIG(status)));
    fflush(stdout);
}

static int strict(int misbehave)
{
    show("PR_GET_SECCOMP before", prctl(PR_GET_SECCOMP));
    show("strict with flags", syscall(SYS_seccomp, SECCOMP_SET_MODE_STRICT, 1, NULL));
    show("strict with args", syscall(SYS_seccomp, SECCOMP_SET_MODE_STRICT, 0, (void *)8));
    if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_STRICT, 0, 0, 0) != 0)
        return 1;
    static const char msg[] = "in strict mode\n";
    char buf[4];
    syscall(SYS_write, 1, msg, sizeof msg - 1);
    syscall(SYS_read, 99, buf, 1);         /* allowed, fails with EBADF */
    if (misbehave)
        syscall(SYS_getpid);               /* SIGKILL */
    syscall(SYS_exit, 3);                  /* exit_group would be killed */
    return 99;
}

static int errno_and_kill(void)
{
    struct sock_filter insns[] = {
        LOAD_ARCH,
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
        RET(SECCOMP_RET_KILL_PROCESS),
        LOAD_NR,
        ON_NR(SYS_getpid, SECCOMP_RET_ERRNO | EACCES),
        ON_NR(SYS_getuid, SECCOMP_RET_ERRNO | 5000),          /* capped to MAX_ERRNO */
        ON_NR(SYS_getgid, SECCOMP_RET_ERRNO | 0),             /* "succeeds" with 0, not run */
        ON_NR(SYS_getppid, SECCOMP_RET_KILL_PROCESS),
        RET(SECCOMP_RET_ALLOW),
    };
    show("PR_SET_NO_NEW_PRIVS", prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0));
    show("install", install(insns, LEN(insns)));
    show("PR_GET_SECCOMP", prctl(PR_GET_SECCOMP));
    show("getpid", syscall(SYS_getpid));
    long r = syscall(SYS_getuid);
    printf("getuid: %ld errno %d\n", r, errno);
    show("getgid", syscall(SYS_getgid));
    show("geteuid", syscall(SYS_geteuid));
    show_status_lines("status");
    syscall(SYS_getppid);
    printf("not reached\n");
    return 0;
}

static void on_sigsys(int signo, siginfo_t *info, void *context)
{
    ucontext_t *uc = context;
    printf("SIGSYS signo=%d code=%d errno=%d syscall=%d arch=%#x call_addr_is_rip=%d rax=%lld\n", signo,
           info->si_code, info->si_errno, info->si_syscall, info->si_arch,
           info->si_call_addr == (void *)uc->uc_mcontext.gregs[REG_RIP], uc->uc_mcontext.gregs[REG_RAX]);
    fflush(stdout);
    uc->uc_mcontext.gregs[REG_RAX] = 4242;  /* what the trapped syscall returns */
}

static int trap(void)
{
    struct sigaction sa = {.sa_sigaction = on_sigsys, .sa_flags = SA_SIGINFO};
    sigaction(SIGSYS, &sa, NULL);
    struct sock_filter insns[] = {
        LOAD_NR,
        ON_NR(SYS_getuid, SECCOMP_RET_TRAP | 0x42),
        ON_NR(SYS_getgid, SECCOMP_RET_TRAP | 7),
        RET(SECCOMP_RET_ALLOW),
    };
    show("install", install(insns, LEN(insns)));
    show("getuid", syscall(SYS_getuid, 1, 2, 3));
    /* A blocked SIGSYS is unblocked by the trap, as a fault's signal is. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGSYS);
    sigprocmask(SIG_BLOCK, &set, NULL);
    show("getgid with SIGSYS blocked", syscall(SYS_getgid));
    /* Without a handler, the trap's SIGSYS kills (core dump style). */
    signal(SIGSYS, SIG_DFL);
    syscall(SYS_getuid);
    printf("not reached\n");
    return 0;
}

/* The newest filter's data wins among equal actions; the lowest action wins overall. */
static int chain(void)
{
    struct sock_filter first[] = {
        LOAD_NR,
        ON_NR(SYS_getpid, SECCOMP_RET_ERRNO | 1),
        ON_NR(SYS_getuid, SECCOMP_RET_TRACE),
        ON_NR(SYS_getgid, SECCOMP_RET_LOG),
        ON_NR(SYS_geteuid, SECCOMP_RET_TRACE | 3),
        ON_NR(SYS_getegid, SECCOMP_RET_USER_NOTIF),
        ON_NR(SYS_getpgrp, SECCOMP_RET_LOG),
        RET(SECCOMP_RET_ALLOW),
    };
    struct sock_filter second[] = {
        LOAD_NR,
        ON_NR(SYS_getpid, SECCOMP_RET_ERRNO | 2),
        ON_NR(SYS_getuid, SECCOMP_RET_ERRNO | 7),
        ON_NR(SYS_getgid, SECCOMP_RET_ALLOW),
        ON_NR(SYS_getpgrp, SECCOMP_RET_ERRNO | 9),
        /* sched_yield: A = nr | ERRNO, returned as is */
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_sched_yield, 0, 2),
        BPF_STMT(BPF_ALU | BPF_OR | BPF_K, SECCOMP_RET_ERRNO),
        BPF_STMT(BPF_RET | BPF_A, 0),
        /* umask: ERRNO with data from the low 16 bits of args[0] * 2, through X and M[3] */
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_umask, 0, 8),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0])),
        BPF_STMT(BPF_ALU | BPF_LSH | BPF_K, 1),
        BPF_STMT(BPF_ALU | BPF_AND | BPF_K, 0xffff),
        BPF_STMT(BPF_ST, 3),
        BPF_STMT(BPF_LDX | BPF_MEM, 3),
        BPF_STMT(BPF_LD | BPF_IMM, SECCOMP_RET_ERRNO),
        BPF_STMT(BPF_ALU | BPF_OR | BPF_X, 0),
        BPF_STMT(BPF_RET | BPF_A, 0),
        /* getsid with args[1] high word 1: unknown action, kills the process */
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_getsid, 0, 3),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[1]) + 4),
        BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, 1, 0, 1),
        RET(0x00010000),
        RET(SECCOMP_RET_ALLOW),
    };
    show("install first", install(first, LEN(first)));
    show("install second", install(second, LEN(second)));
    show("getpid (ERRNO 1, then ERRNO 2)", syscall(SYS_getpid));
    show("getuid (TRACE, ERRNO 7)", syscall(SYS_getuid));
    show("getgid (LOG, ALLOW)", syscall(SYS_getgid));
    show("geteuid (TRACE, no tracer)", syscall(SYS_geteuid));
    show("getegid (USER_NOTIF, no listener)", syscall(SYS_getegid));
    show("getpgrp (LOG, ERRNO 9)", syscall(SYS_getpgrp) > 0 ? 1 : -1);
    show("sched_yield (RET A)", syscall(SYS_sched_yield));
    show("umask(0x1234)", syscall(SYS_umask, 0x1234));
    show("umask(0x8001)", syscall(SYS_umask, 0x8001));
    show("getsid(0, 0)", syscall(SYS_getsid, 0, 0) > 0 ? 1 : -1);
    show_status_lines("status");
    syscall(SYS_getsid, 0, 1UL << 32);
    printf("not reached\n");
    return 0;
}

static pthread_barrier_t ready, installed;

static int thread_errno[2];

static void *tsync_thread(void *arg)
{
    pthread_barrier_wait(&ready);
    pthread_barrier_wait(&installed);
    thread_errno[(long)arg] = syscall(SYS_getpid) == -1 ? errno : 0;
    return NULL;
}

static pid_t diverged_tid;

static void *diverging_thread(void *arg)
{
    struct sock_filter own[] = {RET(SECCOMP_RET_ALLOW)};
    diverged_tid = gettid();
    show("thread installs its own filter", install(own, LEN(own)));
    pthread_barrier_wait(&ready);
    pthread_barrier_wait(&installed);
    return NULL;
}

static void *killed_thread(void *arg)
{
    syscall(SYS_getgid);                   /* KILL_THREAD: only this thread ends */
    printf("not reached\n");
    return NULL;
}

static int tsync(void)
{
    struct sock_filter deny_getpid[] = {LOAD_NR, ON_NR(SYS_getpid, SECCOMP_RET_ERRNO | EPERM), RET(SECCOMP_RET_ALLOW)};
    struct sock_filter kill_getgid[] = {LOAD_NR, ON_NR(SYS_getgid, SECCOMP_RET_KILL_THREAD), RET(SECCOMP_RET_ALLOW)};
    pthread_t threads[2];

    pthread_barrier_init(&ready, NULL, 3);
    pthread_barrier_init(&installed, NULL, 3);
    for (long i = 0; i < 2; i++)
        pthread_create(&threads[i], NULL, tsync_thread, (void *)i);
    pthread_barrier_wait(&ready);
    show("TSYNC install", install_flags(deny_getpid, LEN(deny_getpid), SECCOMP_FILTER_FLAG_TSYNC));
    pthread_barrier_wait(&installed);
    for (int i = 0; i < 2; i++) {
        pthread_join(threads[i], NULL);
        printf("thread %d getpid: %s\n", i, strerrorname_np(thread_errno[i]));
    }
    show_status_lines("main");

    /* A thread whose chain is not an ancestor of ours blocks TSYNC: its tid comes back. */
    pthread_t other;
    pthread_barrier_init(&ready, NULL, 2);
    pthread_barrier_init(&installed, NULL, 2);
    pthread_create(&other, NULL, diverging_thread, NULL);
    pthread_barrier_wait(&ready);
    long r = install_flags(deny_getpid, LEN(deny_getpid), SECCOMP_FILTER_FLAG_TSYNC);
    printf("TSYNC against a diverged thread returns its tid: %d\n", r == diverged_tid);
    show("TSYNC|TSYNC_ESRCH against it",
         install_flags(deny_getpid, LEN(deny_getpid), SECCOMP_FILTER_FLAG_TSYNC | SECCOMP_FILTER_FLAG_TSYNC_ESRCH));
    show("TSYNC|NEW_LISTENER", install_flags(deny_getpid, LEN(deny_getpid),
                                             SECCOMP_FILTER_FLAG_TSYNC | SECCOMP_FILTER_FLAG_NEW_LISTENER));
    pthread_barrier_wait(&installed);
    pthread_join(other, NULL);
    show_status_lines("main");

    show("install KILL_THREAD for getgid", install(kill_getgid, LEN(kill_getgid)));
    pthread_create(&other, NULL, killed_thread, NULL);
    pthread_join(other, NULL);
    printf("main thread survives its thread's KILL_THREAD\n");
    fflush(stdout);
    syscall(SYS_getgid);                   /* the last thread: the process dies by SIGSYS */
    printf("not reached\n");
    return 0;
}

static int inherit(const char *self)
{
    struct sock_filter insns[] = {LOAD_NR, ON_NR(SYS_getpid, SECCOMP_RET_ERRNO | ENOTSUP), RET(SECCOMP_RET_ALLOW)};
    show("install", install(insns, LEN(insns)));
    pid_t pid = fork();
    if (pid == 0) {
        show("forked child getpid", syscall(SYS_getpid));
        show_status_lines("child");
        execl(self, self, "after-exec", (char *)NULL);
        _exit(127);
    }
    show_wait("child", pid);
    /* A filter can't be removed: a new one only adds to the chain. */
    struct sock_filter allow[] = {RET(SECCOMP_RET_ALLOW)};
    show("install ALLOW", install(allow, LEN(allow)));
    show("getpid still denied", syscall(SYS_getpid));
    show("strict on top of a filter", prctl(PR_SET_SECCOMP, SECCOMP_MODE_STRICT, 0, 0, 0));
    show("PR_SET_SECCOMP bad mode", prctl(PR_SET_SECCOMP, 7, 0, 0, 0));
    return 0;
}

static int after_exec(void)
{
    show("exec'd getpid", syscall(SYS_getpid));
    show_status_lines("exec'd");
    return 0;
}

static void try_program(const char *what, struct sock_filter *insns, unsigned short n)
{
    show(what, install(insns, n));
}

static int validation(void)
{
    static struct sock_filter big[BPF_MAXINSNS + 1];
    for (int i = 0; i < BPF_MAXINSNS + 1; i++)
        big[i] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_IMM, i);
    big[BPF_MAXINSNS - 1] = (struct sock_filter)RET(SECCOMP_RET_ALLOW);
    big[BPF_MAXINSNS] = (struct sock_filter)RET(SECCOMP_RET_ALLOW);

    struct sock_filter bad_code[] = {{0xff, 0, 0, 0}, RET(SECCOMP_RET_ALLOW)};
    struct sock_filter mod[] = {BPF_STMT(BPF_ALU | BPF_MOD | BPF_K, 3), RET(SECCOMP_RET_ALLOW)};
    struct sock_filter far_jump[] = {LOAD_NR, BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 1, 2, 0), RET(SECCOMP_RET_ALLOW)};
    struct sock_filter far_ja[] = {BPF_STMT(BPF_JMP | BPF_JA, 1), RET(SECCOMP_RET_ALLOW)};
    struct sock_filter no_ret[] = {RET(SECCOMP_RET_ALLOW), LOAD_NR};
    struct sock_filter misaligned[] = {BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 2), RET(SECCOMP_RET_ALLOW)};
    struct sock_filter past_end[] = {BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 64), RET(SECCOMP_RET_ALLOW)};
    struct sock_filter half_word[] = {BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 0), RET(SECCOMP_RET_ALLOW)};
    struct sock_filter indirect[] = {BPF_STMT(BPF_LD | BPF_W | BPF_IND, 0), RET(SECCOMP_RET_ALLOW)};
    struct sock_filter ancillary[] = {BPF_STMT(BPF_LD | BPF_W | BPF_ABS, SKF_AD_OFF + SKF_AD_CPU), RET(SECCOMP_RET_ALLOW)};
    struct sock_filter unset_memory[] = {BPF_STMT(BPF_LD | BPF_MEM, 0), RET(SECCOMP_RET_ALLOW)};
    struct sock_filter memory_on_one_path[] = {
        LOAD_NR, BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 1, 0, 1), BPF_STMT(BPF_ST, 2),
        BPF_STMT(BPF_LD | BPF_MEM, 2), RET(SECCOMP_RET_ALLOW)};
    struct sock_filter memory_ok[] = {BPF_STMT(BPF_ST, 2), BPF_STMT(BPF_LDX | BPF_MEM, 2), BPF_STMT(BPF_MISC | BPF_TXA, 0),
                                      BPF_STMT(BPF_LD | BPF_W | BPF_LEN, 0), RET(SECCOMP_RET_ALLOW)};
    struct sock_filter memory_index[] = {BPF_STMT(BPF_ST, 16), RET(SECCOMP_RET_ALLOW)};
    struct sock_filter divide_by_zero[] = {BPF_STMT(BPF_ALU | BPF_DIV | BPF_K, 0), RET(SECCOMP_RET_ALLOW)};
    struct sock_filter shift_32[] = {BPF_STMT(BPF_ALU | BPF_LSH | BPF_K, 32), RET(SECCOMP_RET_ALLOW)};
    struct sock_filter allow[] = {RET(SECCOMP_RET_ALLOW)};

    try_program("bad opcode", bad_code, LEN(bad_code));
    try_program("BPF_MOD", mod, LEN(mod));
    try_program("jump past the end", far_jump, LEN(far_jump));
    try_program("BPF_JA past the end", far_ja, LEN(far_ja));
    try_program("no RET at the end", no_ret, LEN(no_ret));
    try_program("misaligned load", misaligned, LEN(misaligned));
    try_program("load past seccomp_data", past_end, LEN(past_end));
    try_program("half-word load", half_word, LEN(half_word));
    try_program("indirect load", indirect, LEN(indirect));
    try_program("ancillary load", ancillary, LEN(ancillary));
    try_program("scratch word never stored", unset_memory, LEN(unset_memory));
    try_program("scratch word stored on one path", memory_on_one_path, LEN(memory_on_one_path));
    try_program("scratch index 16", memory_index, LEN(memory_index));
    try_program("division by constant 0", divide_by_zero, LEN(divide_by_zero));
    try_program("shift by 32", shift_32, LEN(shift_32));
    try_program("empty", allow, 0);
    try_program("BPF_MAXINSNS + 1", big, BPF_MAXINSNS + 1);
    show("bad sock_fprog pointer", syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, (void *)8));
    struct sock_fprog dangling = {.len = 1, .filter = (void *)8};
    show("bad filter pointer", syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &dangling));
    show("unknown flag", install_flags(allow, 1, 1U << 12));
    show("unknown operation", syscall(SYS_seccomp, 99, 0, NULL));
    show("PR_GET_SECCOMP (nothing installed yet)", prctl(PR_GET_SECCOMP));

    /* Chain length: each earlier filter counts 4 more instructions; over 32768 is ENOMEM. */
    pid_t pid = fork();
    if (pid == 0) {
        int i;
        long r = 0;
        for (i = 0; i < 10 && r == 0; i++)
            r = install(big, BPF_MAXINSNS);
        printf("filters of 4096 accepted: %d, then %s\n", i - 1, strerrorname_np(errno));
        show("one more of 1 instruction", install(allow, 1));
        _exit(0);
    }
    show_wait("chain child", pid);
    show("accepted after that", install(memory_ok, LEN(memory_ok)));
    show_status_lines("status");
    return 0;
}

/* Without no_new_privs: root (CAP_SYS_ADMIN) may, another uid gets EACCES. */
static int privileges(void)
{
    struct sock_filter allow[] = {RET(SECCOMP_RET_ALLOW)};
    show("NoNewPrivs", prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0));
    show("root without no_new_privs", install(allow, 1));
    pid_t pid = fork();
    if (pid == 0) {
        show("setresuid(65534)", setresuid(65534, 65534, 65534));
        show("uid 65534 without no_new_privs", install(allow, 1));
        show("bad length is checked first", install(allow, 0));
        show("PR_SET_SECCOMP likewise", prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &(struct sock_fprog){1, allow}));
        show("PR_SET_NO_NEW_PRIVS", prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0));
        show("uid 65534 with no_new_privs", install(allow, 1));
        show_status_lines("child");
        _exit(0);
    }
    show_wait("child", pid);
    return 0;
}

static int actions(void)
{
    static const struct {
        const char *name;
        unsigned action;
    } known[] = {
        {"KILL_PROCESS", SECCOMP_RET_KILL_PROCESS}, {"KILL_THREAD", SECCOMP_RET_KILL_THREAD},
        {"TRAP", SECCOMP_RET_TRAP}, {"ERRNO", SECCOMP_RET_ERRNO}, {"TRACE", SECCOMP_RET_TRACE},
        {"LOG", SECCOMP_RET_LOG}, {"ALLOW", SECCOMP_RET_ALLOW}, {"0x00010000", 0x00010000},
        {"ERRNO|5", SECCOMP_RET_ERRNO | 5},
    };
    for (unsigned i = 0; i < LEN(known); i++) {
        char what[64];
        snprintf(what, sizeof what, "GET_ACTION_AVAIL %s", known[i].name);
        show(what, syscall(SYS_seccomp, SECCOMP_GET_ACTION_AVAIL, 0, &known[i].action));
    }
    show("GET_ACTION_AVAIL with flags", syscall(SYS_seccomp, SECCOMP_GET_ACTION_AVAIL, 1, &known[0].action));
    show("GET_ACTION_AVAIL bad pointer", syscall(SYS_seccomp, SECCOMP_GET_ACTION_AVAIL, 0, (void *)8));
    struct seccomp_notif_sizes sizes;
    show("GET_NOTIF_SIZES", syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &sizes));
    printf("sizes: notif %u resp %u data %u\n", sizes.seccomp_notif, sizes.seccomp_notif_resp, sizes.seccomp_data);
    show("GET_NOTIF_SIZES bad pointer", syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, (void *)8));
    struct sock_filter allow[] = {RET(SECCOMP_RET_ALLOW)};
    show("flags LOG|SPEC_ALLOW", install_flags(allow, 1, SECCOMP_FILTER_FLAG_LOG | SECCOMP_FILTER_FLAG_SPEC_ALLOW));
    return 0;
}

static void show_poll(const char *what, int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN | POLLOUT};
    int n = poll(&p, 1, 0);
    printf("%s: %d%s%s%s\n", what, n, p.revents & POLLIN ? " IN" : "", p.revents & POLLOUT ? " OUT" : "",
           p.revents & POLLHUP ? " HUP" : "");
    fflush(stdout);
}

/* The supervisor receives one notification and answers it with `resp` (its id filled in). */
static void answer(int listener, pid_t child, struct seccomp_notif_resp resp)
{
    struct seccomp_notif notif;
    memset(&notif, 0, sizeof notif);
    show("NOTIF_RECV", ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, &notif));
    printf("  nr=%d arch=%#x pid_is_child=%d flags=%u\n", notif.data.nr, notif.data.arch,
           notif.pid == (unsigned)child, notif.flags);
    if (notif.data.nr == SYS_getppid)
        printf("  args=%llx,%llx\n", notif.data.args[0], notif.data.args[1]);
    show_poll("  poll after RECV", listener);
    show("  NOTIF_ID_VALID", ioctl(listener, SECCOMP_IOCTL_NOTIF_ID_VALID, &notif.id));
    unsigned long long wrong = notif.id + 1;
    show("  NOTIF_ID_VALID wrong id", ioctl(listener, SECCOMP_IOCTL_NOTIF_ID_VALID, &wrong));
    struct seccomp_notif_resp bad = {.id = notif.id, .flags = 2};
    show("  NOTIF_SEND bad flags", ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, &bad));
    bad = (struct seccomp_notif_resp){.id = notif.id, .val = 1, .flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE};
    show("  NOTIF_SEND CONTINUE with a value", ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, &bad));
    bad = (struct seccomp_notif_resp){.id = wrong};
    show("  NOTIF_SEND wrong id", ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, &bad));
    resp.id = notif.id;
    show("  NOTIF_SEND", ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, &resp));
}

static void on_usr1(int signo)
{
    static const char msg[] = "child: SIGUSR1 handler ran\n";
    write(1, msg, sizeof msg - 1);
}

/* With WAIT_KILLABLE_RECV, a received notification's wait ignores signals: the handler runs
 * once the answer came. The earlier filter's listener is closed, so a new one may be made. */
static int notify_killable(void)
{
    struct sock_filter insns[] = {LOAD_NR, ON_NR(SYS_getpgid, SECCOMP_RET_USER_NOTIF), RET(SECCOMP_RET_ALLOW)};
    show("WAIT_KILLABLE_RECV without NEW_LISTENER",
         install_flags(insns, LEN(insns), SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV));
    int listener = install_flags(insns, LEN(insns), SECCOMP_FILTER_FLAG_NEW_LISTENER |
                                 SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV);
    printf("killable listener is an fd: %d\n", listener > 2);
    int out[2];
    pipe(out);
    pid_t child = fork();
    if (child == 0) {
        close(listener);
        dup2(out[1], 1);
        struct sigaction sa = {.sa_handler = on_usr1, .sa_flags = SA_RESTART};
        sigaction(SIGUSR1, &sa, NULL);
        show("child getpgid, answered despite SIGUSR1", syscall(SYS_getpgid, 0));
        _exit(0);
    }
    struct seccomp_notif notif;
    memset(&notif, 0, sizeof notif);
    show("NOTIF_RECV", ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, &notif));
    kill(child, SIGUSR1);
    usleep(100000);                        /* time enough for the signal to interrupt, if it could */
    show("  NOTIF_ID_VALID after the signal", ioctl(listener, SECCOMP_IOCTL_NOTIF_ID_VALID, &notif.id));
    struct seccomp_notif_resp resp = {.id = notif.id, .val = 99};
    long sent = ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, &resp);
    show_wait("child", child);
    show("  NOTIF_SEND", sent);
    close(out[1]);
    char buf[256];
    ssize_t n = read(out[0], buf, sizeof buf - 1);
    printf("child said:\n%.*s", (int)(n > 0 ? n : 0), buf);
    return 0;
}

static int notify(void)
{
    struct sock_filter insns[] = {
        LOAD_NR,
        ON_NR(SYS_getppid, SECCOMP_RET_USER_NOTIF),
        ON_NR(SYS_getuid, SECCOMP_RET_USER_NOTIF),
        ON_NR(SYS_getgid, SECCOMP_RET_USER_NOTIF),
        ON_NR(SYS_openat, SECCOMP_RET_USER_NOTIF),
        RET(SECCOMP_RET_ALLOW),
    };
    unsigned action = SECCOMP_RET_USER_NOTIF;
    show("GET_ACTION_AVAIL USER_NOTIF", syscall(SYS_seccomp, SECCOMP_GET_ACTION_AVAIL, 0, &action));
    int listener = install_flags(insns, LEN(insns), SECCOMP_FILTER_FLAG_NEW_LISTENER);
    printf("listener is an fd: %d, cloexec: %d\n", listener > 2, fcntl(listener, F_GETFD) == FD_CLOEXEC);
    show("second listener in the chain", install_flags(insns, LEN(insns), SECCOMP_FILTER_FLAG_NEW_LISTENER));
    show_poll("poll, nothing pending", listener);
    struct seccomp_notif dirty = {.id = 1};
    show("NOTIF_RECV with a dirty buffer", ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, &dirty));

    int out[2];
    pipe(out);
    pid_t child = fork();
    if (child == 0) {
        close(listener);
        dup2(out[1], 1);                    /* the parent shows it after the child ends */
        show("child getppid (answered 42)", syscall(SYS_getppid, 7, 8));
        show("child getuid (answered EPERM)", syscall(SYS_getuid));
        show("child getgid (CONTINUE)", syscall(SYS_getgid));
        long fd = syscall(SYS_openat, AT_FDCWD, "/nonexistent", O_RDONLY);
        char text[16] = "";
        printf("child openat gave an fd: %d, fd 50 cloexec: %d\n", fd > 2, fcntl(50, F_GETFD) == FD_CLOEXEC);
        printf("read from it: %zd %.5s\n", read(fd, text, sizeof text), text);
        printf("read from fd 50: %zd\n", read(50, text, sizeof text));
        fflush(stdout);
        struct sigaction sa = {.sa_handler = on_usr1, .sa_flags = SA_RESTART};
        sigaction(SIGUSR1, &sa, NULL);
        show("child getppid, interrupted then restarted", syscall(SYS_getppid, 1, 2));
        _exit(0);
    }
    answer(listener, child, (struct seccomp_notif_resp){.val = 42});
    answer(listener, child, (struct seccomp_notif_resp){.val = 5, .error = -EPERM});
    answer(listener, child, (struct seccomp_notif_resp){.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE});

    /* openat answered with a file of the supervisor's: NOTIF_ADDFD. */
    int data[2];
    pipe(data);
    write(data[1], "hello", 5);
    close(data[1]);
    struct seccomp_notif notif;
    memset(&notif, 0, sizeof notif);
    show("NOTIF_RECV", ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, &notif));
    printf("  nr=%d\n", notif.data.nr);
    struct seccomp_notif_addfd addfd = {.id = notif.id, .srcfd = data[0], .newfd = 50, .flags = 0};
    show("  ADDFD newfd without SETFD", ioctl(listener, SECCOMP_IOCTL_NOTIF_ADDFD, &addfd));
    addfd.flags = 4;
    show("  ADDFD unknown flag", ioctl(listener, SECCOMP_IOCTL_NOTIF_ADDFD, &addfd));
    addfd = (struct seccomp_notif_addfd){.id = notif.id, .srcfd = 99};
    show("  ADDFD bad srcfd", ioctl(listener, SECCOMP_IOCTL_NOTIF_ADDFD, &addfd));
    addfd = (struct seccomp_notif_addfd){.id = notif.id + 1, .srcfd = data[0]};
    show("  ADDFD wrong id", ioctl(listener, SECCOMP_IOCTL_NOTIF_ADDFD, &addfd));
    addfd = (struct seccomp_notif_addfd){.id = notif.id, .srcfd = data[0], .newfd = 50,
                                         .flags = SECCOMP_ADDFD_FLAG_SETFD, .newfd_flags = O_CLOEXEC};
    show("  ADDFD SETFD 50", ioctl(listener, SECCOMP_IOCTL_NOTIF_ADDFD, &addfd));
    addfd = (struct seccomp_notif_addfd){.id = notif.id, .srcfd = data[0], .flags = SECCOMP_ADDFD_FLAG_SEND};
    long sent = ioctl(listener, SECCOMP_IOCTL_NOTIF_ADDFD, &addfd);
    printf("  ADDFD SEND gave an fd: %d\n", sent > 2);
    close(data[0]);

    /* A signal ends the wait; the syscall restarts and is notified again, with a new id. */
    memset(&notif, 0, sizeof notif);
    show("NOTIF_RECV", ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, &notif));
    unsigned long long first = notif.id;
    kill(child, SIGUSR1);
    memset(&notif, 0, sizeof notif);
    show("NOTIF_RECV after the signal", ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, &notif));
    printf("  new id: %d, nr=%d\n", notif.id != first, notif.data.nr);
    show("  NOTIF_ID_VALID of the first", ioctl(listener, SECCOMP_IOCTL_NOTIF_ID_VALID, &first));
    struct seccomp_notif_resp resp = {.id = first, .val = 1};
    show("  NOTIF_SEND to the first", ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, &resp));
    resp.id = notif.id;
    resp.val = 77;
    show("  NOTIF_SEND", ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, &resp));
    show_wait("child", child);
    close(out[1]);
    char buf[1024];
    ssize_t n = read(out[0], buf, sizeof buf - 1);
    printf("child said:\n%.*s", (int)(n > 0 ? n : 0), buf);
    show_poll("poll after the child is gone (this process still runs the filter)", listener);
    close(listener);
    show("getppid once the listener is closed", syscall(SYS_getppid));
    return notify_killable();
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    const char *mode = argc > 1 ? argv[1] : "";
    if (!strcmp(mode, "strict"))
        return strict(0);
    if (!strcmp(mode, "strict-kill"))
        return strict(1);
    if (!strcmp(mode, "errno-kill"))
        return errno_and_kill();
    if (!strcmp(mode, "trap"))
        return trap();
    if (!strcmp(mode, "chain"))
        return chain();
    if (!strcmp(mode, "tsync"))
        return tsync();
    if (!strcmp(mode, "inherit"))
        return inherit(argv[0]);
    if (!strcmp(mode, "after-exec"))
        return after_exec();
    if (!strcmp(mode, "validation"))
        return validation();
    if (!strcmp(mode, "privileges"))
        return privileges();
    if (!strcmp(mode, "actions"))
        return actions();
    if (!strcmp(mode, "notify"))
        return notify();
    fprintf(stderr, "usage: %s strict|strict-kill|errno-kill|trap|chain|tsync|inherit|validation|privileges|actions\n",
            argv[0]);
    return 2;
}
