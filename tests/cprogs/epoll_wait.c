/* Waiting in epoll: timeouts, wake-ups from another process, signals (epoll_wait is never
 * restarted, epoll_pwait's temporary mask), epoll_pwait2, and epolls nested in epolls. */
#include "epoll_check.h"
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/wait.h>

static volatile sig_atomic_t handled;

static void on_signal(int signo)
{
    handled = signo;
}

static void send_sigusr1(long pid)
{
    kill((pid_t)pid, SIGUSR1);
}

static int add(int ep, int fd, uint32_t flags, uint64_t data)
{
    struct epoll_event ev = {.events = flags, .data.u64 = data};
    return epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
}

static void reap(pid_t child)
{
    int status;
    waitpid(child, &status, 0);
}

static void timeouts(int ep)
{
    section("timeouts");
    struct epoll_event ev;
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    SHOW(epoll_wait(ep, &ev, 1, 50));
    printf("waited at least 50 ms: %d\n", elapsed_ms(&start) >= 50);
    struct timespec timeout = {0, 30 * 1000000};
    clock_gettime(CLOCK_MONOTONIC, &start);
    SHOW(syscall(SYS_epoll_pwait2, ep, &ev, 1, &timeout, NULL, 8));
    printf("waited at least 30 ms: %d\n", elapsed_ms(&start) >= 30);
    struct timespec zero = {0, 0};
    SHOW(syscall(SYS_epoll_pwait2, ep, &ev, 1, &zero, NULL, 8));
    struct timespec bad = {0, 1000000000};
    SHOW(syscall(SYS_epoll_pwait2, ep, &ev, 1, &bad, NULL, 8));
    SHOW(syscall(SYS_epoll_pwait2, ep, &ev, 1, (void *)8, NULL, 8));
}

static void wake_ups(int ep, int p[2])
{
    section("woken by another process");
    struct epoll_event ev;
    pid_t child = later(30, write_byte, p[1]);
    SHOW(epoll_wait(ep, &ev, 1, -1));
    printf("[0x%x %llu]\n", ev.events, (unsigned long long)ev.data.u64);
    reap(child);
    char byte;
    read(p[0], &byte, 1);
    child = later(30, write_byte, p[1]);
    SHOW(syscall(SYS_epoll_pwait2, ep, &ev, 1, NULL, NULL, 8));
    reap(child);
    read(p[0], &byte, 1);
    child = later(30, write_byte, p[1]);
    SHOW(epoll_wait(ep, &ev, 1, 5000));
    reap(child);
    read(p[0], &byte, 1);
}

static void signals(int ep)
{
    section("signals");
    struct sigaction action = {.sa_handler = on_signal, .sa_flags = SA_RESTART};
    sigaction(SIGUSR1, &action, NULL);
    struct epoll_event ev;

    pid_t child = later(30, send_sigusr1, getpid());
    handled = 0;
    SHOW(epoll_wait(ep, &ev, 1, -1));
    printf("handled %d (SA_RESTART does not restart epoll_wait)\n", handled);
    reap(child);

    sigset_t usr1, empty, now;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    sigemptyset(&empty);
    sigprocmask(SIG_BLOCK, &usr1, NULL);
    handled = 0;
    raise(SIGUSR1);
    SHOW(epoll_pwait(ep, &ev, 1, 0, &usr1));
    printf("handled %d with it blocked\n", handled);
    SHOW(syscall(SYS_epoll_pwait, ep, &ev, 1, -1, &empty, 4));
    SHOW(syscall(SYS_epoll_pwait, ep, &ev, 1, -1, (void *)8, 8));
    SHOW(epoll_pwait(ep, &ev, 1, -1, &empty));
    printf("handled %d by the temporary mask\n", handled);
    sigprocmask(SIG_BLOCK, NULL, &now);
    printf("blocked again after: %d\n", sigismember(&now, SIGUSR1));

    child = later(30, send_sigusr1, getpid());
    handled = 0;
    SHOW(epoll_pwait(ep, &ev, 1, 200, &usr1));
    printf("handled %d while masked\n", handled);
    reap(child);
    sigprocmask(SIG_UNBLOCK, &usr1, NULL);
    printf("handled %d once unblocked\n", handled);
}

static void nested(int inner, int p[2])
{
    section("nested");
    int outer = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN | EPOLLEXCLUSIVE};
    SHOW(epoll_ctl(outer, EPOLL_CTL_ADD, inner, &ev));
    SHOW(add(outer, inner, EPOLLIN, 77));
    SHOW(add(inner, outer, EPOLLIN, 88));
    int third = epoll_create1(0);
    SHOW(add(third, outer, EPOLLIN, 99));
    SHOW(add(inner, third, EPOLLIN, 66));
    struct pollfd pfd = {.fd = inner, .events = POLLIN};
    SHOW(poll(&pfd, 1, 0));
    SHOW(epoll_wait(outer, &ev, 1, 0));
    write(p[1], "x", 1);
    SHOW(poll(&pfd, 1, 0));
    printf("revents 0x%x\n", pfd.revents);
    SHOW(epoll_wait(outer, &ev, 1, 0));
    printf("[0x%x %llu]\n", ev.events, (unsigned long long)ev.data.u64);
    SHOW(epoll_wait(third, &ev, 1, 0));
    printf("[0x%x %llu]\n", ev.events, (unsigned long long)ev.data.u64);
    char byte;
    read(p[0], &byte, 1);
    SHOW(epoll_wait(third, &ev, 1, 0));

    pid_t child = later(30, write_byte, p[1]);
    SHOW(epoll_wait(third, &ev, 1, 5000));
    printf("[0x%x %llu]\n", ev.events, (unsigned long long)ev.data.u64);
    reap(child);
    read(p[0], &byte, 1);

    int edge = epoll_create1(0);
    SHOW(add(edge, inner, EPOLLIN | EPOLLET, 55));
    write(p[1], "x", 1);
    SHOW(epoll_wait(edge, &ev, 1, 0));
    SHOW(epoll_wait(edge, &ev, 1, 0));
    write(p[1], "x", 1);
    SHOW(epoll_wait(edge, &ev, 1, 0));
    read(p[0], &byte, 1);
    read(p[0], &byte, 1);
    close(edge);
    close(third);
    close(outer);
}

int main(void)
{
    int ep = epoll_create1(0);
    int p[2];
    pipe(p);
    add(ep, p[0], EPOLLIN, 7);
    timeouts(ep);
    wake_ups(ep, p);
    signals(ep);
    nested(ep, p);
    return 0;
}
