/* Readiness and event files: pipe, poll/ppoll, select/pselect6, epoll_create/epoll_create1,
 * epoll_wait/epoll_pwait/epoll_pwait2, eventfd/eventfd2, timerfd_gettime, flock. */
#include "check.h"
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/select.h>
#include <sys/timerfd.h>

int main(void)
{
    enter_scratch();
    int p[2];
    CHECK_RET(sys(SYS_pipe, p), 0);
    CHECK_ERR(sys(SYS_pipe, (void *)8), EFAULT);
    CHECK_RET(fcntl(p[0], F_GETFL) & O_ACCMODE, O_RDONLY);
    CHECK_RET(fcntl(p[1], F_GETFL) & O_ACCMODE, O_WRONLY);

    CHECK_RET(fcntl(p[1], F_GETPIPE_SZ), 65536);
    CHECK_RET(fcntl(p[1], F_SETPIPE_SZ, 5000), 8192);
    CHECK_RET(fcntl(p[0], F_GETPIPE_SZ), 8192);
    CHECK_RET(fcntl(p[1], F_SETPIPE_SZ, 0), 4096);
    char block[4096] = {0};
    CHECK_RET(write(p[1], block, sizeof block), 4096);
    CHECK_RET(fcntl(p[1], F_SETPIPE_SZ, 4096), 4096);
    CHECK_RET(read(p[0], block, sizeof block), 4096);
    CHECK_RET(fcntl(p[1], F_SETPIPE_SZ, 65536), 65536);
    CHECK_RET(write(p[1], block, sizeof block), 4096);
    CHECK_RET(write(p[1], block, sizeof block), 4096);
    CHECK_ERR(fcntl(p[1], F_SETPIPE_SZ, 4096), EBUSY);
    CHECK_RET(read(p[0], block, sizeof block), 4096);
    CHECK_RET(read(p[0], block, sizeof block), 4096);
    CHECK_ERR(fcntl(999, F_GETPIPE_SZ), EBADF);

    int packets[2];
    CHECK_RET(sys(SYS_pipe2, packets, O_DIRECT | O_NONBLOCK), 0);
    CHECK(fcntl(packets[1], F_GETFL) & O_DIRECT);
    CHECK_RET(write(packets[1], "abc", 3), 3);
    CHECK_RET(write(packets[1], "defg", 4), 4);
    char got[8192];
    CHECK_RET(read(packets[0], got, sizeof got), 3);
    CHECK_RET(read(packets[0], got, 2), 2);
    CHECK(memcmp(got, "de", 2) == 0);
    CHECK_ERR(read(packets[0], got, sizeof got), EAGAIN);
    static char big_packet[5000];
    CHECK_RET(write(packets[1], big_packet, sizeof big_packet), 5000);
    CHECK_RET(read(packets[0], got, sizeof got), 4096);
    CHECK_RET(read(packets[0], got, sizeof got), 904);
    int slots = 0;
    while (write(packets[1], "x", 1) == 1)
        slots++;
    CHECK(slots == 16 && errno == EAGAIN);
    CHECK_RET(read(packets[0], got, sizeof got), 1);
    CHECK_RET(write(packets[1], "yz", 2), 2);
    CHECK_ERR(sys(SYS_pipe2, packets, O_DIRECT | O_APPEND), EINVAL);

    struct pollfd fds[3] = {{p[0], POLLIN, 0}, {p[1], POLLOUT, 0}, {999, POLLIN, 0}};
    CHECK_RET(sys(SYS_poll, fds, 3, 0), 2);
    CHECK(fds[0].revents == 0 && fds[1].revents == POLLOUT && fds[2].revents == POLLNVAL);
    write(p[1], "x", 1);
    CHECK_RET(sys(SYS_poll, fds, 2, 100), 2);
    CHECK(fds[0].revents == POLLIN);
    CHECK_ERR(sys(SYS_poll, (void *)8, 1, 0), EFAULT);
    CHECK_ERR(sys(SYS_poll, fds, 1 << 30, 0), EINVAL);
    struct timespec zero = {0, 0}, bad = {0, -1};
    CHECK_RET(sys(SYS_ppoll, fds, 1, &zero, NULL, 8), 1);
    CHECK_ERR(sys(SYS_ppoll, fds, 1, &bad, NULL, 8), EINVAL);
    sigset_t mask;
    sigemptyset(&mask);
    CHECK_ERR(sys(SYS_ppoll, fds, 1, &zero, &mask, 4), EINVAL);

    fd_set rd, wr;
    FD_ZERO(&rd);
    FD_ZERO(&wr);
    FD_SET(p[0], &rd);
    FD_SET(p[1], &wr);
    struct timeval tv = {0, 0};
    CHECK_RET(sys(SYS_select, p[1] + 1, &rd, &wr, NULL, &tv), 2);
    CHECK(FD_ISSET(p[0], &rd) && FD_ISSET(p[1], &wr));
    CHECK_ERR(sys(SYS_select, -1, NULL, NULL, NULL, &tv), EINVAL);
    FD_ZERO(&rd);
    FD_SET(20, &rd);
    CHECK_ERR(sys(SYS_select, 21, &rd, NULL, NULL, &tv), EBADF);
    tv.tv_usec = -1;
    FD_ZERO(&rd);
    CHECK_ERR(sys(SYS_select, 1, &rd, NULL, NULL, &tv), EINVAL);
    char drain;
    read(p[0], &drain, 1);
    FD_ZERO(&rd);
    FD_SET(p[0], &rd);
    struct timespec wait = {0, 20000000};
    struct { const sigset_t *set; size_t size; } sigarg = {&mask, 8};
    CHECK_RET(sys(SYS_pselect6, p[0] + 1, &rd, NULL, NULL, &wait, &sigarg), 0);
    CHECK(!FD_ISSET(p[0], &rd));

    CHECK_OK(sys(SYS_epoll_create, 1));
    int ep = (int)last;
    CHECK_ERR(sys(SYS_epoll_create, 0), EINVAL);
    CHECK_OK(sys(SYS_epoll_create1, EPOLL_CLOEXEC));
    int ep2 = (int)last;
    CHECK_RET(fcntl(ep2, F_GETFD), FD_CLOEXEC);
    CHECK_ERR(sys(SYS_epoll_create1, 1), EINVAL);
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 77}, out[4];
    CHECK_RET(epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev), 0);
    CHECK_RET(sys(SYS_epoll_wait, ep, out, 4, 0), 0);
    write(p[1], "y", 1);
    CHECK_RET(sys(SYS_epoll_wait, ep, out, 4, 100), 1);
    CHECK(out[0].events == EPOLLIN && out[0].data.u64 == 77);
    CHECK_ERR(sys(SYS_epoll_wait, ep, out, 0, 0), EINVAL);
    CHECK_ERR(sys(SYS_epoll_wait, p[0], out, 1, 0), EINVAL);
    CHECK_ERR(sys(SYS_epoll_wait, 999, out, 1, 0), EBADF);
    CHECK_RET(sys(SYS_epoll_pwait, ep, out, 4, 0, &mask, 8), 1);
    CHECK_ERR(sys(SYS_epoll_pwait, ep, out, 4, 0, &mask, 4), EINVAL);
    CHECK_RET(sys(SYS_epoll_pwait2, ep, out, 4, &zero, NULL, 8), 1);
    CHECK_ERR(sys(SYS_epoll_pwait2, ep, out, 4, &bad, NULL, 8), EINVAL);

    CHECK_OK(sys(SYS_eventfd, 5));
    int efd = (int)last;
    uint64_t value;
    CHECK_RET(read(efd, &value, 8), 8);
    CHECK(value == 5);
    CHECK_OK(sys(SYS_eventfd2, 0, EFD_NONBLOCK | EFD_SEMAPHORE));
    int sem = (int)last;
    CHECK_ERR(read(sem, &value, 8), EAGAIN);
    value = 2;
    CHECK_RET(write(sem, &value, 8), 8);
    CHECK_RET(read(sem, &value, 8), 8);
    CHECK(value == 1);
    CHECK_ERR(read(sem, &value, 4), EINVAL);
    CHECK_ERR(sys(SYS_eventfd2, 0, 2), EINVAL);

    int tfd = timerfd_create(CLOCK_MONOTONIC, 0);
    struct itimerspec its = {{0, 0}, {100, 0}}, cur;
    timerfd_settime(tfd, 0, &its, NULL);
    CHECK_RET(sys(SYS_timerfd_gettime, tfd, &cur), 0);
    CHECK(cur.it_value.tv_sec > 90 && cur.it_value.tv_sec <= 100 && cur.it_interval.tv_sec == 0);
    CHECK_ERR(sys(SYS_timerfd_gettime, efd, &cur), EINVAL);
    CHECK_ERR(sys(SYS_timerfd_gettime, 999, &cur), EBADF);
    CHECK_ERR(sys(SYS_timerfd_gettime, tfd, (void *)8), EFAULT);

    int f1 = open("lock", O_CREAT | O_RDWR, 0600);
    CHECK_RET(sys(SYS_flock, f1, LOCK_EX), 0);
    CHECK_RET(sys(SYS_flock, f1, LOCK_SH), 0);
    CHECK_RET(sys(SYS_flock, f1, LOCK_UN), 0);
    CHECK_ERR(sys(SYS_flock, f1, 0), EINVAL);
    CHECK_ERR(sys(SYS_flock, 999, LOCK_EX), EBADF);
    int f2 = open("lock", O_RDWR);
    CHECK_RET(sys(SYS_flock, f1, LOCK_EX), 0);
    CHECK_ERR(sys(SYS_flock, f2, LOCK_EX | LOCK_NB), EWOULDBLOCK);
    CHECK_RET(sys(SYS_flock, f1, LOCK_UN), 0);
    CHECK_RET(sys(SYS_flock, f2, LOCK_SH | LOCK_NB), 0);
    return done();
}
