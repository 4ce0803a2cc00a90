/* pidfd_wait_loop N: fork a child that exits at once, then wait for it the pidfd way (as
 * asyncio's PidfdChildWatcher and Go's os/exec do): pidfd_open, poll until readable,
 * waitid(P_PIDFD), close; N times. */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: pidfd_wait_loop N\n");
        return 2;
    }
    long n = atol(argv[1]);
    for (long i = 0; i < n; i++) {
        pid_t pid = fork();
        if (pid < 0) {
            perror("fork");
            return 1;
        }
        if (pid == 0)
            _exit(0);
        int fd = syscall(SYS_pidfd_open, pid, 0);
        if (fd < 0) {
            perror("pidfd_open");
            return 1;
        }
        struct pollfd ready = {fd, POLLIN, 0};
        siginfo_t info;
        if (poll(&ready, 1, -1) != 1 || waitid(P_PIDFD, fd, &info, WEXITED) != 0) {
            perror("poll/waitid");
            return 1;
        }
        if (info.si_code != CLD_EXITED || info.si_status != 0) {
            fprintf(stderr, "child failed: code %d status %d\n", info.si_code, info.si_status);
            return 1;
        }
        close(fd);
    }
    printf("ok %ld\n", n);
    return 0;
}
