/* ptrace(2) events of vfork and seccomp: PTRACE_EVENT_VFORK_DONE (the vfork parent stops once
 * its child execed or exited) and PTRACE_EVENT_SECCOMP (a filter's SECCOMP_RET_TRACE stops the
 * tracee at syscall entry; the tracer runs, changes or skips the call). Prints only what native
 * Linux and the sandbox must agree on. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/ptrace.h>
#include <linux/seccomp.h>
#include "ptrace_check.h"

static volatile pid_t vforked;          /* the child's last vfork result, read by its tracer */

static void append(char *log, size_t size, const char *line)
{
    strncat(log, line, size - strlen(log) - 1);
}

/* -- PTRACE_EVENT_VFORK_DONE ---------------------------------------------------------------- */
static void vfork_child(const char *self)
{
    ptrace(PTRACE_TRACEME, 0, 0, 0);
    raise(SIGSTOP);                      /* round 1: TRACEVFORK | TRACEVFORKDONE */
    pid_t pid = vfork();
    if (pid == 0)
        _exit(7);
    vforked = pid;
    int status = must_wait(pid, 0);
    say("child: vfork child exit status %ld\n", WEXITSTATUS(status));
    raise(SIGSTOP);                      /* round 2: TRACEVFORKDONE only; the child execs */
    pid = vfork();
    if (pid == 0) {
        execl(self, self, "exit-now", (char *)NULL);
        _exit(98);
    }
    vforked = pid;
    status = must_wait(pid, 0);
    say("child: exec'd vfork child exit status %ld\n", WEXITSTATUS(status));
    raise(SIGSTOP);                      /* round 3: no options; a plain vfork */
    pid = vfork();
    if (pid == 0)
        _exit(9);
    vforked = pid;
    status = must_wait(pid, 0);
    say("child: untraced vfork child exit status %ld\n", WEXITSTATUS(status));
    raise(SIGSTOP);
    exit(5);
}

static void vfork_done(const char *self)
{
    section("vfork done");
    pid_t pid = fork();
    if (pid == 0)
        vfork_child(self);
    static const long round_options[] = {
        PTRACE_O_TRACEVFORK | PTRACE_O_TRACEVFORKDONE, PTRACE_O_TRACEVFORKDONE, 0, 0};
    char child_log[1024] = "", vforked_log[512] = "";
    int sigstops = 0, live = 1;
    pid_t traced_vforked = 0;
    unsigned long done_msg = 0;
    while (live > 0) {
        int status;
        pid_t who = wait_any(&status);
        if (who < 0)
            break;
        char line[160], buf[64];
        describe(status, buf, sizeof buf);
        if (who != pid) {                /* a vfork child traced from birth */
            if (vforked_log[0] == 0)
                live++;                  /* its first stop may come before the vfork event */
            snprintf(line, sizeof line, "%s; ", buf);
            append(vforked_log, sizeof vforked_log, line);
            if (WIFSTOPPED(status))
                ptrace(PTRACE_CONT, who, 0, 0);
            else
                live--;
            continue;
        }
        if (!WIFSTOPPED(status)) {
            snprintf(line, sizeof line, "%s", buf);
            append(child_log, sizeof child_log, line);
            live--;
            continue;
        }
        int event = status >> 16, sig = 0;
        unsigned long msg = 0;
        ptrace(PTRACE_GETEVENTMSG, who, 0, &msg);
        if (event == PTRACE_EVENT_VFORK) {
            traced_vforked = msg;
            snprintf(line, sizeof line, "%s (vfork); ", buf);
        } else if (event == PTRACE_EVENT_VFORK_DONE) {
            done_msg = msg;
            siginfo_t si;
            ptrace(PTRACE_GETSIGINFO, who, 0, &si);
            snprintf(line, sizeof line, "%s (vfork done, same pid as the vfork event: %d, si_code %#x); ",
                     buf, traced_vforked == 0 || (pid_t)msg == traced_vforked, si.si_code);
        } else if (WSTOPSIG(status) == SIGSTOP) {
            /* the previous round's vfork result, as the child saw it, against the event's message */
            long seen = ptrace(PTRACE_PEEKDATA, who, (void *)&vforked, 0);
            snprintf(line, sizeof line, "%s (round %d; %s); ", buf, sigstops + 1,
                     done_msg == 0 ? "no vfork done before" : (pid_t)seen == (pid_t)done_msg ?
                     "the vfork done message was the vfork result" : "the vfork done message was wrong");
            traced_vforked = 0;
            ptrace(PTRACE_SETOPTIONS, who, 0, (void *)round_options[sigstops < 3 ? sigstops : 3]);
            sigstops++;
            done_msg = 0;
        } else {
            snprintf(line, sizeof line, "%s; ", buf);
            sig = WSTOPSIG(status);
        }
        append(child_log, sizeof child_log, line);
        ptrace(PTRACE_CONT, who, 0, (void *)(long)sig);
    }
    printf("child: %s\nvfork child: %s\n", child_log, vforked_log);
    fflush(stdout);
}

/* -- PTRACE_EVENT_SECCOMP ----------------------------------------------------------------------- */
#define TRACE_NR(nr, data) \
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 1), \
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRACE | (data))

static void install_filter(void)
{
    struct sock_filter insns[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        TRACE_NR(SYS_getppid, 0x42),
        TRACE_NR(SYS_getuid, 0x43),
        TRACE_NR(SYS_getgid, 0x44),
        TRACE_NR(SYS_getpgrp, 0x45),
        TRACE_NR(SYS_sched_yield, 0x46),
        TRACE_NR(SYS_getsid, 0x47),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_getegid, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EACCES),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {sizeof insns / sizeof insns[0], insns};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
        syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0) {
        perror("seccomp");
        _exit(97);
    }
}

static void show(const char *what, long result, int expected)
{
    char buf[160];
    if (result < 0)
        snprintf(buf, sizeof buf, "child: %s: errno %d\n", what, errno);
    else
        snprintf(buf, sizeof buf, "child: %s: %s\n", what, expected ? "the expected value" : "unexpected");
    say("%s", (long)buf);
}

static void seccomp_child(void)
{
    pid_t parent = getppid(), self = getpid();
    ptrace(PTRACE_TRACEME, 0, 0, 0);
    install_filter();
    kill(self, SIGSTOP);                 /* round 1: TRACESECCOMP (raise would call gettid) */
    long r = syscall(SYS_getppid);
    show("getppid, let run", r, r == parent);
    r = syscall(SYS_getuid);
    show("getuid, changed to getpid", r, r == self);
    r = syscall(SYS_getgid);
    show("getgid, skipped with rax 12345", r, r == 12345);
    errno = 0;
    r = syscall(SYS_getpgrp);
    show("getpgrp, skipped", r, 0);
    r = syscall(SYS_sched_yield);
    show("sched_yield, changed to getppid (traced too: no second stop)", r, r == parent);
    r = syscall(SYS_getsid, 0);
    show("getsid, changed to getegid (the filter's ERRNO)", r, 0);
    kill(self, SIGSTOP);                 /* round 2: resumed with PTRACE_SYSCALL */
    r = syscall(SYS_getppid);
    show("getppid under PTRACE_SYSCALL", r, r == parent);
    kill(self, SIGSTOP);                 /* round 3: no TRACESECCOMP */
    r = syscall(SYS_getppid);
    show("getppid, tracer without TRACESECCOMP", r, 0);
    pid_t pid = fork();
    if (pid == 0) {
        errno = 0;
        r = syscall(SYS_getppid);
        _exit(r < 0 ? errno : 0);
    }
    int status = must_wait(pid, 0);
    say("child: untraced child's getppid errno %ld\n", WEXITSTATUS(status));
    exit(6);
}

static void seccomp_events(void)
{
    section("seccomp events");
    pid_t pid = fork();
    if (pid == 0)
        seccomp_child();
    char log[4096] = "";
    int sigstops = 0, in_getppid = 0;
    enum __ptrace_request resume = PTRACE_CONT;
    for (;;) {
        int status = must_wait(pid, __WALL);
        char line[256], buf[64];
        describe(status, buf, sizeof buf);
        if (!WIFSTOPPED(status)) {
            append(log, sizeof log, buf);
            break;
        }
        int event = status >> 16, sig = 0;
        struct user_regs_struct regs;
        ptrace(PTRACE_GETREGS, pid, 0, &regs);
        if (event == PTRACE_EVENT_SECCOMP) {
            unsigned long msg = 0;
            siginfo_t si;
            struct ptrace_syscall_info info;
            memset(&info, 0, sizeof info);
            ptrace(PTRACE_GETEVENTMSG, pid, 0, &msg);
            ptrace(PTRACE_GETSIGINFO, pid, 0, &si);
            long size = ptrace(PTRACE_GET_SYSCALL_INFO, pid, (void *)sizeof info, &info);
            snprintf(line, sizeof line,
                     "  seccomp stop: data %#lx, nr %lld, rax %lld, si_code %#x, info op %d size %ld "
                     "nr %llu ret_data %#x\n", msg, (long long)regs.orig_rax, (long long)regs.rax,
                     si.si_code, info.op, size, (unsigned long long)info.seccomp.nr,
                     info.seccomp.ret_data);
            if (regs.orig_rax == SYS_getuid) {
                regs.orig_rax = SYS_getpid;
            } else if (regs.orig_rax == SYS_getgid) {
                regs.orig_rax = -1;
                regs.rax = 12345;
            } else if (regs.orig_rax == SYS_getpgrp) {
                regs.orig_rax = -1;
            } else if (regs.orig_rax == SYS_sched_yield) {
                regs.orig_rax = SYS_getppid;
            } else if (regs.orig_rax == SYS_getsid) {
                regs.orig_rax = SYS_getegid;
            }
            ptrace(PTRACE_SETREGS, pid, 0, &regs);
        } else if (WSTOPSIG(status) == (SIGTRAP | 0x80)) {
            if (regs.orig_rax == SYS_getppid) {
                snprintf(line, sizeof line, "  syscall-%s-stop of getppid\n", in_getppid ? "exit" : "enter");
                in_getppid = !in_getppid;
                if (!in_getppid)
                    resume = PTRACE_CONT;
            } else {
                line[0] = 0;
            }
        } else if (WSTOPSIG(status) == SIGSTOP) {
            sigstops++;
            snprintf(line, sizeof line, "round %d\n", sigstops);
            long options = sigstops < 3 ? PTRACE_O_TRACESECCOMP | PTRACE_O_TRACESYSGOOD : PTRACE_O_TRACESYSGOOD;
            ptrace(PTRACE_SETOPTIONS, pid, 0, (void *)options);
            resume = sigstops == 2 ? PTRACE_SYSCALL : PTRACE_CONT;
        } else {
            snprintf(line, sizeof line, "  %s\n", buf);
            sig = WSTOPSIG(status);
        }
        append(log, sizeof log, line);
        ptrace(resume, pid, 0, (void *)(long)sig);
    }
    printf("%s\n", log);
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "exit-now") == 0)
        return 3;
    setvbuf(stdout, NULL, _IOFBF, 1 << 16);
    vfork_done(argv[0]);
    seccomp_events();
    return 0;
}
