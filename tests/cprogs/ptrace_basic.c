/* ptrace(2) as debuggers use it: TRACEME + raise(SIGSTOP), memory and registers, syscall
 * stops (counting, changing and skipping calls), fork/exec/exit events, attach and seize, and
 * the errors of misuse. Prints only what native Linux and the sandbox must agree on. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>
#include <elf.h>
#include <linux/audit.h>
#include <linux/ptrace.h>
#include "ptrace_check.h"

/* Print the errno `call` leaves behind (0 when it succeeds). */
#define SHOW_ERRNO(what, call) \
    do { \
        errno = 0; \
        (void)(call); \
        printf("%s: errno %d\n", what, errno); \
    } while (0)

static volatile long word = 0x1122334455667788L;

/* The value of a "Name:" line of /proc/PID/status, e.g. status_field(pid, "State:"). */
static const char *status_field(pid_t pid, const char *name, char *value, size_t size)
{
    char path[64], line[256];
    if (pid == 0)
        snprintf(path, sizeof path, "/proc/self/status");
    else
        snprintf(path, sizeof path, "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    snprintf(value, size, "(none)");
    if (f == NULL)
        return value;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, name, strlen(name)) == 0) {
            char *start = line + strlen(name);
            start += strspn(start, " \t");
            start[strcspn(start, "\n")] = 0;
            snprintf(value, size, "%s", start);
        }
    fclose(f);
    return value;
}

static void show_status(const char *who, int status)
{
    char buf[80];
    printf("%s: %s\n", who, describe(status, buf, sizeof buf));
    fflush(stdout);
}

/* -- memory, registers, siginfo ------------------------------------------------------------- */
static void memory_and_registers(void)
{
    section("memory and registers");
    pid_t pid = fork();
    if (pid == 0) {
        if (ptrace(PTRACE_TRACEME, 0, 0, 0) != 0)
            _exit(90);
        errno = 0;
        say("child: second TRACEME errno %ld\n", ptrace(PTRACE_TRACEME, 0, 0, 0) == -1 ? errno : 0);
        raise(SIGSTOP);
        char tracer[32];
        status_field(0, "TracerPid:", tracer, sizeof tracer);
        say("child: TracerPid is the parent: %ld\n", atoi(tracer) == getppid());
        say("child: word is %#lx\n", word);
        say("child: getpid() == getppid(): %ld\n", syscall(SYS_getpid) == getppid());
        _exit(7);
    }
    int status = must_wait(pid, 0);
    show_status("parent", status);
    char state[64];
    printf("state of the stopped child: %s\n", status_field(pid, "State:", state, sizeof state));

    siginfo_t info;
    ptrace(PTRACE_GETSIGINFO, pid, 0, &info);
    printf("siginfo: signo %d code %d pid-matches %d\n", info.si_signo, info.si_code, info.si_pid == pid);

    errno = 0;
    long peeked = ptrace(PTRACE_PEEKDATA, pid, (void *)&word, 0);
    printf("peekdata: %#lx errno %d\n", peeked, errno);
    printf("pokedata: %ld\n", ptrace(PTRACE_POKEDATA, pid, (void *)&word, (void *)0x1234));
    errno = 0;
    printf("peektext of main's code is readable: %d\n",
           ptrace(PTRACE_PEEKTEXT, pid, (void *)&memory_and_registers, 0) != -1 || errno == 0);
    char mem_path[64];
    snprintf(mem_path, sizeof mem_path, "/proc/%d/mem", pid);
    int mem = open(mem_path, O_RDWR);
    long through_mem = 0;
    ssize_t got = pread(mem, &through_mem, 8, (off_t)&word);
    printf("/proc/PID/mem pread: %zd value %#lx\n", got, through_mem);
    errno = 0;
    got = pread(mem, &through_mem, 8, 8);
    printf("/proc/PID/mem pread of page zero: %zd errno %d\n", got, errno);
    unsigned char code;
    pread(mem, &code, 1, (off_t)&memory_and_registers);
    got = pwrite(mem, &code, 1, (off_t)&memory_and_registers);
    printf("/proc/PID/mem pwrite of read-only code: %zd\n", got);
    close(mem);
    SHOW_ERRNO("peekdata of page zero", ptrace(PTRACE_PEEKDATA, pid, (void *)8, 0));
    SHOW_ERRNO("pokedata of page zero", ptrace(PTRACE_POKEDATA, pid, (void *)8, 0));

    struct user_regs_struct regs;
    errno = 0;
    long bad = ptrace(PTRACE_GETREGS, pid, 0, (void *)8);
    printf("getregs to a bad pointer: %ld errno %d\n", bad, errno);
    printf("getregs: %ld\n", ptrace(PTRACE_GETREGS, pid, 0, &regs));
    printf("orig_rax is tgkill: %d, rax: %lld\n", regs.orig_rax == SYS_tgkill, (long long)regs.rax);
    errno = 0;
    long rip = ptrace(PTRACE_PEEKUSER, pid, (void *)offsetof(struct user_regs_struct, rip), 0);
    printf("peekuser rip matches getregs: %d\n", rip == (long)regs.rip);
    SHOW_ERRNO("peekuser unaligned", ptrace(PTRACE_PEEKUSER, pid, (void *)3, 0));
    SHOW_ERRNO("peekuser at glibc's sizeof(struct user)", ptrace(PTRACE_PEEKUSER, pid, (void *)sizeof(struct user), 0));
    SHOW_ERRNO("peekuser past the kernel's struct user", ptrace(PTRACE_PEEKUSER, pid, (void *)(offsetof(struct user, u_debugreg) + 8 * 8 + 16), 0));
    errno = 0;
    printf("peekuser debugreg7: %ld errno %d\n",
           ptrace(PTRACE_PEEKUSER, pid, (void *)(offsetof(struct user, u_debugreg) + 7 * 8), 0), errno);

    struct user_regs_struct copy = regs;
    copy.cs = 0;
    errno = 0;
    long result = ptrace(PTRACE_SETREGS, pid, 0, &copy);
    printf("setregs with kernel cs: %ld errno %d\n", result, errno);
    copy = regs;
    copy.r12 = 0xabcdef;
    printf("setregs: %ld\n", ptrace(PTRACE_SETREGS, pid, 0, &copy));
    printf("peekuser r12: %#lx\n",
           ptrace(PTRACE_PEEKUSER, pid, (void *)offsetof(struct user_regs_struct, r12), 0));
    ptrace(PTRACE_POKEUSER, pid, (void *)offsetof(struct user_regs_struct, r12), (void *)regs.r12);

    struct user_regs_struct set;
    struct iovec iov = { &set, sizeof set };
    printf("getregset prstatus: %ld len %zu\n", ptrace(PTRACE_GETREGSET, pid, (void *)NT_PRSTATUS, &iov),
           iov.iov_len);
    printf("regset rip matches: %d\n", set.rip == regs.rip);
    iov.iov_len = 16;
    ptrace(PTRACE_GETREGSET, pid, (void *)NT_PRSTATUS, &iov);
    printf("short regset len %zu\n", iov.iov_len);
    errno = 0;
    iov.iov_len = sizeof set;
    ptrace(PTRACE_GETREGSET, pid, (void *)0x4711, &iov);
    printf("unknown regset: errno %d\n", errno);

    struct user_fpregs_struct fp;
    printf("getfpregs: %ld\n", ptrace(PTRACE_GETFPREGS, pid, 0, &fp));

    unsigned long event = 99;
    printf("geteventmsg: %ld value %lu\n", ptrace(PTRACE_GETEVENTMSG, pid, 0, &event), event);
    SHOW_ERRNO("setoptions unknown", ptrace(PTRACE_SETOPTIONS, pid, 0, (void *)0x80000000UL));
    SHOW_ERRNO("unknown request", ptrace(0x7777, pid, 0, 0));

    /* Stop the child at its getpid and turn it into getppid. */
    ptrace(PTRACE_SETOPTIONS, pid, 0, (void *)PTRACE_O_TRACESYSGOOD);
    for (;;) {
        ptrace(PTRACE_SYSCALL, pid, 0, 0);
        status = must_wait(pid, 0);
        if (!WIFSTOPPED(status))
            break;
        ptrace(PTRACE_GETREGS, pid, 0, &regs);
        if (regs.orig_rax == SYS_getpid) {
            regs.orig_rax = SYS_getppid;
            ptrace(PTRACE_SETREGS, pid, 0, &regs);
            ptrace(PTRACE_CONT, pid, 0, 0);
            status = must_wait(pid, 0);
            break;
        }
    }
    show_status("parent", status);
}

/* -- syscall stops ------------------------------------------------------------------------------- */
static void syscall_stops(void)
{
    section("syscall stops");
    pid_t pid = fork();
    if (pid == 0) {
        ptrace(PTRACE_TRACEME, 0, 0, 0);
        raise(SIGSTOP);
        long skipped = syscall(SYS_getppid);
        for (int i = 0; i < 4; i++)
            syscall(SYS_getppid);
        say("child: the skipped getppid returned %ld\n", skipped);
        syscall(SYS_exit_group, 0);
    }
    int status = must_wait(pid, 0);
    ptrace(PTRACE_SETOPTIONS, pid, 0, (void *)PTRACE_O_TRACESYSGOOD);
    int getppid_entries = 0, write_entries = 0, exits = 0, enosys_at_entry = 1, info_ok = 1, skipped = 0;
    for (;;) {
        ptrace(PTRACE_SYSCALL, pid, 0, 0);
        status = must_wait(pid, 0);
        if (!WIFSTOPPED(status))
            break;
        if (WSTOPSIG(status) != (SIGTRAP | 0x80)) {
            printf("unexpected stop %d\n", WSTOPSIG(status));
            continue;
        }
        struct ptrace_syscall_info info;
        long size = ptrace(PTRACE_GET_SYSCALL_INFO, pid, (void *)sizeof info, &info);
        struct user_regs_struct regs;
        ptrace(PTRACE_GETREGS, pid, 0, &regs);
        if (info.op == PTRACE_SYSCALL_INFO_ENTRY) {
            if (size != offsetof(struct ptrace_syscall_info, entry.args) + sizeof info.entry.args)
                info_ok = 0;
            if (info.entry.nr != regs.orig_rax || info.arch != AUDIT_ARCH_X86_64 || info.instruction_pointer != regs.rip)
                info_ok = 0;
            if ((long)regs.rax != -ENOSYS)
                enosys_at_entry = 0;
            if (regs.orig_rax == SYS_getppid) {
                getppid_entries++;
                if (!skipped) {
                    skipped = 1;
                    regs.orig_rax = -1;
                    ptrace(PTRACE_SETREGS, pid, 0, &regs);
                }
            }
            if (regs.orig_rax == SYS_write)
                write_entries++;
            if (regs.orig_rax == SYS_exit_group)
                printf("exit_group entry, arg %lld\n", (long long)info.entry.args[0]);
        } else if (info.op == PTRACE_SYSCALL_INFO_EXIT) {
            exits++;
            if (size != offsetof(struct ptrace_syscall_info, exit.is_error) + 1)
                info_ok = 0;
            if (regs.orig_rax == (unsigned long long)-1 && skipped == 1) {
                skipped = 2;
                printf("skipped call exit: rval %lld is_error %d\n", (long long)info.exit.rval, info.exit.is_error);
                regs.rax = 4242;
                ptrace(PTRACE_SETREGS, pid, 0, &regs);
            }
        } else {
            printf("op %d\n", info.op);
        }
    }
    show_status("parent", status);
    printf("getppid entries %d, write entries %d, -ENOSYS at entry %d, syscall info ok %d, exits>0 %d\n",
           getppid_entries, write_entries, enosys_at_entry, info_ok, exits > 0);
}

/* -- fork, exec and exit events ---------------------------------------------------------------------- */
static void events(const char *self)
{
    section("events");
    pid_t pid = fork();
    if (pid == 0) {
        ptrace(PTRACE_TRACEME, 0, 0, 0);
        raise(SIGSTOP);
        pid_t grandchild = fork();
        if (grandchild == 0) {
            execl(self, self, "exec-target", (char *)NULL);
            _exit(98);
        }
        int status;
        while (waitpid(grandchild, &status, 0) < 0 && errno == EINTR)
            ;
        say("child: grandchild exit status %ld\n", WEXITSTATUS(status));
        exit(5);
    }
    must_wait(pid, 0);
    ptrace(PTRACE_SETOPTIONS, pid, 0,
           (void *)(PTRACE_O_TRACEFORK | PTRACE_O_TRACEEXEC | PTRACE_O_TRACEEXIT));
    ptrace(PTRACE_CONT, pid, 0, 0);
    char child_log[512] = "", grandchild_log[512] = "";
    pid_t grandchild = 0;
    int live = 2;
    while (live > 0) {
        int status;
        pid_t who = wait_any(&status);
        if (who < 0)
            break;
        if (grandchild == 0 && who != pid)
            grandchild = who;            /* its first stop may come before the fork event */
        char *log = who == pid ? child_log : grandchild_log;
        char line[128], buf[64];
        describe(status, buf, sizeof buf);
        int sig = 0;
        if (WIFSTOPPED(status)) {
            int event = status >> 16;
            unsigned long msg = 0;
            ptrace(PTRACE_GETEVENTMSG, who, 0, &msg);
            if (event == PTRACE_EVENT_FORK)
                snprintf(line, sizeof line, "%s (fork, message names the new task: %d); ", buf,
                         grandchild == 0 || (pid_t)msg == grandchild);
            else if (event == PTRACE_EVENT_EXEC)
                snprintf(line, sizeof line, "%s (exec, former pid %d); ", buf, (pid_t)msg == who);
            else if (event == PTRACE_EVENT_EXIT)
                snprintf(line, sizeof line, "%s (exit, status %lu); ", buf, msg >> 8);
            else {
                snprintf(line, sizeof line, "%s; ", buf);
                if (WSTOPSIG(status) != SIGSTOP)
                    sig = WSTOPSIG(status);
            }
            if (event == PTRACE_EVENT_FORK && grandchild == 0)
                grandchild = msg;
            ptrace(PTRACE_CONT, who, 0, (void *)(long)sig);
        } else {
            snprintf(line, sizeof line, "%s", buf);
            live--;
        }
        strncat(log, line, sizeof child_log - strlen(log) - 1);
    }
    printf("child: %s\ngrandchild: %s\n", child_log, grandchild_log);
}

/* -- single-stepping ------------------------------------------------------------------------------ */
static void single_step(void)
{
    section("single-step");
    pid_t pid = fork();
    if (pid == 0) {
        ptrace(PTRACE_TRACEME, 0, 0, 0);
        raise(SIGSTOP);
        volatile int sum = 0;
        for (int i = 0; i < 100; i++)
            sum += i;
        _exit(sum == 4950 ? 0 : 1);
    }
    int status = must_wait(pid, 0), traps = 0, moved = 0;
    struct user_regs_struct regs;
    ptrace(PTRACE_GETREGS, pid, 0, &regs);
    unsigned long long last = regs.rip;
    for (int i = 0; i < 20; i++) {
        ptrace(PTRACE_SINGLESTEP, pid, 0, 0);
        status = must_wait(pid, 0);
        traps += WIFSTOPPED(status) && WSTOPSIG(status) == SIGTRAP;
        ptrace(PTRACE_GETREGS, pid, 0, &regs);
        moved += regs.rip != last;
        last = regs.rip;
    }
    siginfo_t info;
    ptrace(PTRACE_GETSIGINFO, pid, 0, &info);
    printf("steps that trapped %d, moved rip %d, si_code %d, trap flag shown %d\n", traps, moved,
           info.si_code, (regs.eflags & 0x100) != 0);
    ptrace(PTRACE_CONT, pid, 0, 0);
    show_status("stepped child", must_wait(pid, 0));
}

/* -- the tracer decides which signal is delivered; group-stops ---------------------------------- */
static void on_signal(int signo)
{
    say("child: handler of signal %ld\n", signo);
}

static void signals_and_group_stop(void)
{
    section("signals and group-stop");
    pid_t pid = fork();
    if (pid == 0) {
        signal(SIGUSR1, on_signal);
        signal(SIGUSR2, on_signal);
        ptrace(PTRACE_TRACEME, 0, 0, 0);
        raise(SIGUSR1);                  /* suppressed by the tracer */
        raise(SIGUSR1);                  /* turned into SIGUSR2 */
        raise(SIGUSR1);                  /* its siginfo rewritten: SIGUSR2 again */
        raise(SIGSTOP);                  /* let through: a group-stop */
        say("child: running again\n", 0);
        _exit(0);
    }
    int status = must_wait(pid, 0);
    show_status("first", status);
    ptrace(PTRACE_CONT, pid, 0, 0);
    status = must_wait(pid, 0);
    show_status("second", status);
    ptrace(PTRACE_CONT, pid, 0, (void *)SIGUSR2);
    status = must_wait(pid, 0);
    show_status("third", status);
    siginfo_t info;
    ptrace(PTRACE_GETSIGINFO, pid, 0, &info);
    info.si_signo = SIGUSR2;
    printf("setsiginfo: %ld\n", ptrace(PTRACE_SETSIGINFO, pid, 0, &info));
    ptrace(PTRACE_CONT, pid, 0, (void *)SIGUSR2);
    status = must_wait(pid, 0);
    show_status("fourth", status);
    SHOW_ERRNO("cont with signal 100", ptrace(PTRACE_CONT, pid, 0, (void *)100));
    ptrace(PTRACE_CONT, pid, 0, (void *)SIGSTOP);
    status = must_wait(pid, 0);
    show_status("group-stop", status);
    SHOW_ERRNO("getsiginfo at a group-stop", ptrace(PTRACE_GETSIGINFO, pid, 0, &info));
    ptrace(PTRACE_CONT, pid, 0, 0);
    show_status("end", must_wait(pid, 0));
}

/* -- attach, seize, interrupt, detach, and misuse --------------------------------------------------- */
static pid_t sleeper(void)
{
    pid_t pid = fork();
    if (pid == 0) {
        for (;;)
            pause();
    }
    return pid;
}

static void attach_and_seize(void)
{
    section("attach and seize");
    SHOW_ERRNO("attach to self", ptrace(PTRACE_ATTACH, getpid(), 0, 0));
    SHOW_ERRNO("cont of no such pid", ptrace(PTRACE_CONT, 999999, 0, 0));

    pid_t pid = sleeper();
    SHOW_ERRNO("cont of an untraced child", ptrace(PTRACE_CONT, pid, 0, 0));
    printf("attach: %ld\n", ptrace(PTRACE_ATTACH, pid, 0, 0));
    SHOW_ERRNO("attach again", ptrace(PTRACE_ATTACH, pid, 0, 0));
    int status = must_wait(pid, 0);
    show_status("attached", status);
    siginfo_t info;
    ptrace(PTRACE_GETSIGINFO, pid, 0, &info);
    printf("attach siginfo: signo %d code %#x\n", info.si_signo, info.si_code);
    SHOW_ERRNO("interrupt after attach", ptrace(PTRACE_INTERRUPT, pid, 0, 0));
    printf("detach: %ld\n", ptrace(PTRACE_DETACH, pid, 0, 0));
    SHOW_ERRNO("cont after detach", ptrace(PTRACE_CONT, pid, 0, 0));

    SHOW_ERRNO("seize with unknown options", ptrace(PTRACE_SEIZE, pid, 0, (void *)0x80000000UL));
    SHOW_ERRNO("seize with addr", ptrace(PTRACE_SEIZE, pid, (void *)1, 0));
    printf("seize: %ld\n", ptrace(PTRACE_SEIZE, pid, 0, (void *)PTRACE_O_TRACESYSGOOD));
    SHOW_ERRNO("getregs of a running tracee", ptrace(PTRACE_GETREGS, pid, 0, &info));
    printf("waitpid WNOHANG while it runs: %d\n", waitpid(pid, &status, WNOHANG | __WALL));
    printf("interrupt: %ld\n", ptrace(PTRACE_INTERRUPT, pid, 0, 0));
    status = must_wait(pid, 0);
    show_status("interrupted", status);
    /* the interrupted pause() restarts when it goes on */
    struct user_regs_struct regs;
    ptrace(PTRACE_GETREGS, pid, 0, &regs);
    printf("kill after interrupt: %ld\n", ptrace(PTRACE_KILL, pid, 0, 0));
    status = must_wait(pid, 0);
    show_status("killed", status);
}

/* A tracer that exits while its tracee runs: PTRACE_O_EXITKILL ends the tracee. */
static void exitkill(void)
{
    section("exitkill");
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    int fds[2];
    if (pipe(fds) != 0)
        exit(1);
    pid_t tracer = fork();
    if (tracer == 0) {
        pid_t pid = sleeper();
        if (write(fds[1], &pid, sizeof pid) != sizeof pid)
            _exit(1);
        ptrace(PTRACE_SEIZE, pid, 0, (void *)PTRACE_O_EXITKILL);
        _exit(0);
    }
    pid_t tracee;
    if (read(fds[0], &tracee, sizeof tracee) != sizeof tracee)
        exit(1);
    show_status("tracer", must_wait(tracer, 0));
    /* The tracee is the tracer's orphan, ours now (a subreaper). */
    show_status("tracee", must_wait(tracee, 0));
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "exec-target") == 0)
        return 3;
    setvbuf(stdout, NULL, _IOLBF, 0);
    memory_and_registers();
    syscall_stops();
    events(argv[0]);
    signals_and_group_stop();
    single_step();
    attach_and_seize();
    exitkill();
    return 0;
}
