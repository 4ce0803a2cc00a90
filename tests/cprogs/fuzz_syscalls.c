/* fuzz_syscalls SEED COUNT: make COUNT random syscalls with random arguments.
 * Run only inside the sandbox: the point is that nothing the workload passes
 * can crash the sentry. Calls that would end, block or unmap this program
 * are left out; pointers are a mix of garbage and a real scratch buffer. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>

static uint64_t state;
static uint64_t next(void)
{
    state ^= state << 13; state ^= state >> 7; state ^= state << 17;
    return state;
}

static const int skipped[] = {
    SYS_exit, SYS_exit_group, SYS_kill, SYS_tkill, SYS_tgkill, SYS_rt_sigreturn, SYS_execve,
    SYS_execveat, SYS_clone, SYS_clone3, SYS_fork, SYS_vfork, SYS_munmap, SYS_mmap, SYS_mprotect,
    SYS_mremap, SYS_brk, SYS_rt_sigaction, SYS_sigaltstack, SYS_arch_prctl, SYS_set_tid_address,
    SYS_futex, SYS_pause, SYS_rt_sigsuspend, SYS_nanosleep, SYS_clock_nanosleep, SYS_select,
    SYS_pselect6, SYS_poll, SYS_ppoll, SYS_read, SYS_readv, SYS_preadv, SYS_preadv2, SYS_wait4,
    SYS_waitid, SYS_rt_sigtimedwait, SYS_epoll_wait, SYS_epoll_pwait, SYS_epoll_pwait2, SYS_alarm,
    SYS_rt_sigprocmask, SYS_madvise, SYS_shmat, SYS_setitimer, SYS_timer_settime, SYS_accept,
    SYS_accept4, SYS_recvfrom, SYS_recvmsg, SYS_recvmmsg, SYS_msgrcv, SYS_semop, SYS_semtimedop,
    SYS_io_getevents, SYS_restart_syscall, SYS_rt_sigqueueinfo, SYS_rt_tgsigqueueinfo,
    SYS_prctl, SYS_setrlimit, SYS_prlimit64, SYS_close, SYS_close_range, SYS_dup2, SYS_dup3,
    SYS_sched_yield, SYS_exit, SYS_setuid, SYS_setgid, SYS_setresuid, SYS_setreuid, SYS_setfsuid,
    SYS_setgroups, SYS_capset, SYS_pidfd_send_signal, SYS_splice, SYS_tee, SYS_sendfile,
    SYS_write, SYS_writev, SYS_pwrite64, SYS_pwritev, SYS_pwritev2, SYS_pread64, SYS_chdir,
    SYS_fchdir, SYS_chroot, SYS_unshare, SYS_setns, SYS_pidfd_getfd, SYS_seccomp, SYS_ptrace,
    SYS_userfaultfd, SYS_signalfd, SYS_signalfd4, SYS_ioctl, SYS_rseq, SYS_set_robust_list,
    SYS_msync, SYS_mlock, SYS_mlock2, SYS_munlock, SYS_mlockall, SYS_remap_file_pages,
    SYS_pkey_mprotect, SYS_io_uring_enter, SYS_flock, SYS_fcntl, SYS_sync, SYS_syncfs,
};

static int is_skipped(long nr)
{
    for (size_t i = 0; i < sizeof skipped / sizeof skipped[0]; i++)
        if (skipped[i] == nr) return 1;
    return 0;
}

int main(int argc, char **argv)
{
    state = argc > 1 ? strtoull(argv[1], 0, 0) | 1 : 1;
    long count = argc > 2 ? atol(argv[2]) : 2000;
    static char scratch[1 << 16];
    long made = 0;
    while (made < count) {
        long nr = next() % 335;
        if (is_skipped(nr)) continue;
        long args[6];
        for (int i = 0; i < 6; i++) {
            switch (next() % 6) {
            case 0: args[i] = 0; break;
            case 1: args[i] = (long)(scratch + next() % (sizeof scratch - 512)); break;
            case 2: args[i] = (long)(next() % 64); break;
            case 3: args[i] = -(long)(next() % 5); break;
            case 4: args[i] = (long)next(); break;
            default: args[i] = (long)(next() & 0xffffffff); break;
            }
        }
        if (next() % 4 == 0) {
            for (size_t j = 0; j < 512; j++) scratch[j] = (char)next();
            scratch[next() % 512] = 0;
        }
        syscall(nr, args[0], args[1], args[2], args[3], args[4], args[5]);
        made++;
    }
    printf("made %ld syscalls\n", made);
    return 0;
}
