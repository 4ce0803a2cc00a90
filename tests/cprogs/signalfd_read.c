/* signalfd: argument errors, reading blocked signals as signalfd_siginfo records (kill,
 * tgkill, sigqueue, SIGCHLD), changing the mask, several records per read, blocking,
 * poll and epoll readiness. */
#include "epoll_check.h"
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/wait.h>

static void print_record(const struct signalfd_siginfo *info, pid_t sender)
{
    printf("  signo %u code %d errno %d from sender %d same uid %d", info->ssi_signo, info->ssi_code,
           info->ssi_errno, (pid_t)info->ssi_pid == sender, info->ssi_uid == getuid());
    if (info->ssi_code == SI_QUEUE)
        printf(" int %d ptr 0x%llx", info->ssi_int, (unsigned long long)info->ssi_ptr);
    if (info->ssi_signo == SIGCHLD)
        printf(" status %d", info->ssi_status);
    printf("\n");
}

/* Read up to `capacity` records; print them, and return how many bytes came. */
static long take(int fd, int capacity, pid_t sender)
{
    struct signalfd_siginfo records[4];
    long result = read(fd, records, capacity * sizeof records[0]);
    for (long i = 0; i < result / (long)sizeof records[0]; i++)
        print_record(&records[i], sender);
    return result;
}

static void send_usr2(long pid)
{
    kill((pid_t)pid, SIGUSR2);
}

static int poll_in(int fd)
{
    struct pollfd pfd = {.fd = fd, .events = POLLIN | POLLOUT};
    poll(&pfd, 1, 0);
    return pfd.revents;
}

int main(void)
{
    sigset_t blocked, usr1, none;
    sigemptyset(&blocked);
    sigaddset(&blocked, SIGUSR1);
    sigaddset(&blocked, SIGUSR2);
    sigaddset(&blocked, SIGRTMIN);
    sigaddset(&blocked, SIGCHLD);
    sigprocmask(SIG_BLOCK, &blocked, NULL);
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    sigaddset(&usr1, SIGKILL);
    sigemptyset(&none);
    pid_t self = getpid();

    section("errors");
    SHOW(syscall(SYS_signalfd4, -1, &usr1, 4, 0));
    SHOW(syscall(SYS_signalfd4, -1, (void *)8, 8, 0));
    SHOW(signalfd(-1, &usr1, 0x10));
    SHOW(signalfd(99, &usr1, 0));
    SHOW(signalfd(0, &usr1, 0));
    SHOW(signalfd(-2, &usr1, 0));
    int fd = SHOW(signalfd(-1, &usr1, SFD_NONBLOCK | SFD_CLOEXEC));
    SHOW(fcntl(fd, F_GETFD));
    SHOW(fcntl(fd, F_GETFL) & (O_NONBLOCK | O_ACCMODE));
    char link[64] = "";
    char path[32];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    SHOW(readlink(path, link, sizeof link - 1));
    printf("link %s\n", link);
    char small[100];
    SHOW(read(fd, small, sizeof small));
    SHOW(take(fd, 1, self));
    SHOW(write(fd, small, 8));

    section("reading");
    printf("poll 0x%x\n", poll_in(fd));
    raise(SIGUSR1);
    raise(SIGUSR2);
    printf("poll 0x%x\n", poll_in(fd));
    SHOW(take(fd, 2, self));
    SHOW(take(fd, 1, self));
    sigset_t usr2 = none;
    sigaddset(&usr2, SIGUSR2);
    SHOW(signalfd(fd, &usr2, 0) == fd);
    printf("poll 0x%x\n", poll_in(fd));
    SHOW(take(fd, 2, self));
    sigset_t pending;
    sigpending(&pending);
    printf("nothing pending: %d\n", sigisemptyset(&pending));

    section("queued");
    sigset_t many = none;
    sigaddset(&many, SIGRTMIN);
    sigaddset(&many, SIGUSR1);
    SHOW(signalfd(fd, &many, 0));
    union sigval value = {.sival_int = 42};
    sigqueue(self, SIGRTMIN, value);
    value.sival_int = 43;
    sigqueue(self, SIGRTMIN, value);
    kill(self, SIGUSR1);
    SHOW(take(fd, 4, self));
    SHOW(take(fd, 4, self));

    section("child exit");
    int children = signalfd(-1, &blocked, 0);
    fflush(stdout);
    pid_t child = fork();
    if (child == 0)
        _exit(7);
    SHOW(take(children, 1, child));
    int status;
    waitpid(child, &status, 0);
    printf("exit status %d\n", WEXITSTATUS(status));

    section("blocking");
    child = later(30, send_usr2, self);
    SHOW(take(children, 1, child));
    waitpid(child, &status, 0);
    SHOW(take(children, 1, child));

    section("epoll");
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 9};
    SHOW(epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev));
    SHOW(epoll_wait(ep, &ev, 1, 0));
    kill(self, SIGUSR1);
    SHOW(epoll_wait(ep, &ev, 1, 0));
    printf("[0x%x %llu]\n", ev.events, (unsigned long long)ev.data.u64);
    SHOW(take(fd, 1, self));
    SHOW(epoll_wait(ep, &ev, 1, 0));
    SHOW(signalfd(fd, &usr2, 0) == fd);
    child = later(30, send_usr2, self);
    SHOW(epoll_wait(ep, &ev, 1, 5000));
    waitpid(child, &status, 0);
    SHOW(take(fd, 1, child));
    close(ep);
    close(children);
    close(fd);
    return 0;
}
