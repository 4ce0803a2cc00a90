/* eventfd: counter and semaphore reads, overflow rules, blocking in both directions,
 * poll readiness and edge-triggered epoll. */
#include "epoll_check.h"
#include <fcntl.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/wait.h>

static uint64_t value;

static long put(int fd, uint64_t n)
{
    return write(fd, &n, sizeof n);
}

static long take(int fd)
{
    value = 0;
    long result = read(fd, &value, sizeof value);
    printf("  read %ld value %llu\n", result, (unsigned long long)value);
    return result;
}

static void read_one(long fd)
{
    uint64_t n;
    if (read((int)fd, &n, sizeof n) != sizeof n)
        _exit(1);
}

static void add_three(long fd)
{
    put((int)fd, 3);
}

static int poll_events(int fd)
{
    struct pollfd pfd = {.fd = fd, .events = POLLIN | POLLOUT};
    poll(&pfd, 1, 0);
    return pfd.revents;
}

static void reap(pid_t child)
{
    int status;
    waitpid(child, &status, 0);
}

int main(void)
{
    section("flags");
    SHOW(eventfd(0, 0x1000));
    int fd = SHOW(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    SHOW(fcntl(fd, F_GETFD));
    SHOW(fcntl(fd, F_GETFL) & (O_NONBLOCK | O_ACCMODE));
    char link[64] = "";
    char path[32];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    SHOW(readlink(path, link, sizeof link - 1));
    printf("link %s\n", link);
    close(fd);

    section("counter");
    fd = eventfd(3, EFD_NONBLOCK);
    SHOW(take(fd));
    SHOW(take(fd));
    SHOW(put(fd, 5));
    SHOW(put(fd, 0));
    SHOW(put(fd, 2));
    SHOW(take(fd));
    char small[4] = {0};
    SHOW(read(fd, small, sizeof small));
    SHOW(write(fd, small, sizeof small));
    char large[16] = {0};
    SHOW(put(fd, 1));
    SHOW(read(fd, large, sizeof large));
    SHOW(write(fd, large, sizeof large));
    SHOW(syscall(SYS_read, fd, 8, 8));
    close(fd);

    section("semaphore");
    fd = eventfd(2, EFD_SEMAPHORE | EFD_NONBLOCK);
    SHOW(take(fd));
    SHOW(take(fd));
    SHOW(take(fd));
    close(fd);

    section("overflow");
    fd = eventfd(0, EFD_NONBLOCK);
    SHOW(put(fd, UINT64_MAX));
    printf("poll 0x%x\n", poll_events(fd));
    SHOW(put(fd, UINT64_MAX - 1));
    printf("poll 0x%x\n", poll_events(fd));
    SHOW(put(fd, 1));
    SHOW(put(fd, 0));
    SHOW(take(fd));
    printf("poll 0x%x\n", poll_events(fd));
    close(fd);

    section("blocking");
    fd = eventfd(0, 0);
    pid_t child = later(30, add_three, fd);
    SHOW(take(fd));
    reap(child);
    SHOW(put(fd, UINT64_MAX - 1));
    child = later(30, read_one, fd);
    SHOW(put(fd, 7));
    reap(child);
    SHOW(take(fd));
    close(fd);

    section("epoll");
    fd = eventfd(0, EFD_NONBLOCK);
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN | EPOLLET, .data.u64 = 12};
    SHOW(epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev));
    SHOW(epoll_wait(ep, &ev, 1, 0));
    SHOW(put(fd, 1));
    SHOW(epoll_wait(ep, &ev, 1, 0));
    printf("[0x%x %llu]\n", ev.events, (unsigned long long)ev.data.u64);
    SHOW(epoll_wait(ep, &ev, 1, 0));
    SHOW(put(fd, 1));
    SHOW(epoll_wait(ep, &ev, 1, 0));
    SHOW(take(fd));
    SHOW(epoll_wait(ep, &ev, 1, 0));
    ev.events = EPOLLIN | EPOLLOUT;
    SHOW(epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev));
    SHOW(epoll_wait(ep, &ev, 1, 0));
    printf("[0x%x %llu]\n", ev.events, (unsigned long long)ev.data.u64);
    child = later(30, add_three, fd);
    ev.events = EPOLLIN;
    SHOW(epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev));
    SHOW(epoll_wait(ep, &ev, 1, 5000));
    reap(child);
    SHOW(take(fd));
    close(ep);
    close(fd);
    return 0;
}
