/* Loads each classic BPF program given on the command line as a seccomp filter and reports,
 * for a fixed set of probe syscalls, what the filter did. One child per (program, probe): it
 * installs the program, makes the probe, and leaves what happened in shared memory, since the
 * filter may forbid every syscall it could report with.
 *
 * usage: seccomp_bpf_driver PROGRAM...   with PROGRAM = "code,jt,jf,k;code,jt,jf,k;..."
 * Build it static (fixed instruction pointers, for programs that load them). */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

struct report {
    long install;          /* seccomp(2)'s return value, or -errno */
    int probed;            /* the probe returned */
    long result;           /* raw return value of the probe */
    int trapped;
    int trap_errno, trap_syscall;
    unsigned trap_arch;
};

static struct report *shared;

static const struct {
    long nr;
    unsigned long args[6];
} probes[] = {
    {SYS_getuid, {0, 0, 0, 0, 0, 0}},
    {SYS_geteuid, {1, 0x100000002UL, 3, 0xffffffff00000000UL, 5, 6}},
    {SYS_sched_yield, {0x7fffffff, 0x80000000, 2, 2, 0, 1UL << 63}},
    {SYS_umask, {022, 0, 0, 0, 0, 0}},
    {SYS_getgid, {12, 34, 56, 78, 90, 0x1234567890UL}},
};

static long raw_syscall(long nr, const unsigned long *a)
{
    long ret;
    register unsigned long r10 asm("r10") = a[3];
    register unsigned long r8 asm("r8") = a[4];
    register unsigned long r9 asm("r9") = a[5];
    asm volatile("syscall"
                 : "=a"(ret)
                 : "a"(nr), "D"(a[0]), "S"(a[1]), "d"(a[2]), "r"(r10), "r"(r8), "r"(r9)
                 : "rcx", "r11", "memory");
    return ret;
}

static void on_sigsys(int signo, siginfo_t *info, void *context)
{
    shared->trapped = 1;
    shared->trap_errno = info->si_errno;
    shared->trap_syscall = info->si_syscall;
    shared->trap_arch = info->si_arch;
}

static int parse(const char *text, struct sock_filter *out, int max)
{
    int n = 0;
    while (*text && n < max) {
        unsigned code, jt, jf;
        unsigned long k;
        int used;
        if (sscanf(text, "%u,%u,%u,%lu%n", &code, &jt, &jf, &k, &used) != 4)
            break;
        out[n++] = (struct sock_filter){code, jt, jf, k};
        text += used;
        if (*text == ';')
            text++;
    }
    return n;
}

int main(int argc, char **argv)
{
    static struct sock_filter insns[BPF_MAXINSNS];
    shared = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    for (int p = 1; p < argc; p++) {
        int n = parse(argv[p], insns, BPF_MAXINSNS);
        for (unsigned probe = 0; probe < sizeof probes / sizeof probes[0]; probe++) {
            memset(shared, 0, sizeof *shared);
            fflush(stdout);
            pid_t pid = fork();
            if (pid == 0) {
                struct sigaction sa = {.sa_sigaction = on_sigsys, .sa_flags = SA_SIGINFO};
                sigaction(SIGSYS, &sa, NULL);
                struct sock_fprog prog = {.len = n, .filter = insns};
                unsigned long install_args[6] = {SECCOMP_SET_MODE_FILTER, 0, (unsigned long)&prog};
                shared->install = raw_syscall(SYS_seccomp, install_args);
                shared->result = raw_syscall(probes[probe].nr, probes[probe].args);
                shared->probed = 1;
                unsigned long none[6] = {0};
                raw_syscall(SYS_exit_group, none);
                raw_syscall(SYS_exit, none);
                *(volatile int *)0 = 0;    /* both exits refused: end by a fault */
                _exit(1);
            }
            int status;
            waitpid(pid, &status, 0);
            printf("program %d probe %u: install %ld", p, probe, shared->install);
            if (shared->trapped)
                printf(" trap errno=%d syscall=%d arch=%#x", shared->trap_errno, shared->trap_syscall,
                       shared->trap_arch);
            if (shared->probed)
                printf(" result %ld", shared->probed ? shared->result : 0);
            if (WIFEXITED(status))
                printf(" exit %d\n", WEXITSTATUS(status));
            else
                printf(" signal %d\n", WTERMSIG(status));
        }
    }
    return 0;
}
