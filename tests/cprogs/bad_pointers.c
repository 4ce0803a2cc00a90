/* System calls given bad pointers must fail with EFAULT, and the program
 * (and the sandbox) must go on running. Raw syscall(2) is used throughout so
 * that libc (or the vDSO) never touches the pointer itself. stdin must hold
 * some data, so that read(2) really has something to copy out. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define BAD ((void *)1)
#define KERNEL ((void *)0xffff880000000000UL)

static int failures;

static void check(const char *what, long r)
{
    int e = errno;
    if (r == -1)
        printf("%-28s -> -%d (%s)\n", what, e, e == EFAULT ? "EFAULT" : strerror(e));
    else
        printf("%-28s -> %ld (expected EFAULT)\n", what, r);
    if (r != -1 || e != EFAULT)
        failures++;
    fflush(stdout);
}

#define TRY(what, call) do { errno = 0; check(what, (long)(call)); } while (0)

int main(void)
{
    struct iovec bad_iov[1] = {{BAD, 10}};
    int fds[2];

    TRY("read(0, 1, 10)", syscall(SYS_read, 0, BAD, 10));
    TRY("write(1, 1, 10)", syscall(SYS_write, 1, BAD, 10));
    TRY("write(1, kernel, 10)", syscall(SYS_write, 1, KERNEL, 10));
    TRY("open(1, O_RDONLY)", syscall(SYS_open, BAD, O_RDONLY));
    TRY("openat(AT_FDCWD, 1)", syscall(SYS_openat, AT_FDCWD, BAD, O_RDONLY));
    TRY("stat(1, buf)", syscall(SYS_stat, BAD, BAD));
    TRY("stat(\"/\", 1)", syscall(SYS_stat, "/", BAD));
    TRY("fstat(1, 1)", syscall(SYS_fstat, 1, BAD));
    TRY("writev(1, {1, 10}, 1)", syscall(SYS_writev, 1, bad_iov, 1));
    TRY("writev(1, 1, 1)", syscall(SYS_writev, 1, BAD, 1));
    TRY("pipe(1)", syscall(SYS_pipe, BAD));
    TRY("uname(1)", syscall(SYS_uname, BAD));
    TRY("clock_gettime(MONO, 1)", syscall(SYS_clock_gettime, CLOCK_MONOTONIC, BAD));
    TRY("gettimeofday(1, 0)", syscall(SYS_gettimeofday, BAD, NULL));
    TRY("nanosleep(1, 0)", syscall(SYS_nanosleep, BAD, NULL));
    TRY("getcwd(1, 100)", syscall(SYS_getcwd, BAD, 100));
    TRY("rt_sigaction(USR1, 1, 0)", syscall(SYS_rt_sigaction, SIGUSR1, BAD, NULL, 8));
    TRY("rt_sigprocmask(BLOCK, 1)", syscall(SYS_rt_sigprocmask, SIG_BLOCK, BAD, NULL, 8));
    TRY("execve(1, 0, 0)", syscall(SYS_execve, BAD, NULL, NULL));
    TRY("getrandom(1, 8, 0)", syscall(SYS_getrandom, BAD, 8, 0));

    /* Still alive and working: a real pipe round trip. */
    char buf[16] = {0};
    if (pipe(fds) == 0 && write(fds[1], "alive", 5) == 5 && read(fds[0], buf, 5) == 5)
        printf("after all that: %s\n", buf);
    else
        printf("after all that: broken (%s)\n", strerror(errno));
    printf("failures %d\n", failures);
    return failures ? 1 : 0;
}
