/* timerfd: argument errors, one-shot and periodic timers, absolute times, missed
 * expirations counted at read, gettime/settime's old value, poll and epoll readiness.
 * Times are checked against bounds wide enough for a loaded machine. */
#include "epoll_check.h"
#include <fcntl.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>

#define MS 1000000L

static long expirations(int fd)
{
    uint64_t count = 0;
    long result = read(fd, &count, sizeof count);
    return result < 0 ? result : (long)count;
}

static int set(int fd, int flags, long value_ns, long interval_ns)
{
    struct itimerspec spec = {
        .it_interval = {interval_ns / 1000000000L, interval_ns % 1000000000L},
        .it_value = {value_ns / 1000000000L, value_ns % 1000000000L},
    };
    return timerfd_settime(fd, flags, &spec, NULL);
}

static long ns(const struct timespec *ts)
{
    return ts->tv_sec * 1000000000L + ts->tv_nsec;
}

static void show_between(const char *what, long value, long low, long high)
{
    printf("%s in [%ld, %ld]: %d\n", what, low, high, value >= low && value <= high);
}

static void errors(void)
{
    section("errors");
    SHOW(timerfd_create(99, 0));
    SHOW(timerfd_create(CLOCK_PROCESS_CPUTIME_ID, 0));
    SHOW(timerfd_create(CLOCK_MONOTONIC, 0x8000));
    int fd = SHOW(timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK));
    SHOW(fcntl(fd, F_GETFD));
    SHOW(fcntl(fd, F_GETFL) & (O_NONBLOCK | O_ACCMODE));
    struct itimerspec spec = {{0, 0}, {1, 0}};
    SHOW(timerfd_settime(fd, 4, &spec, NULL));
    spec.it_value.tv_nsec = 1000000000;
    SHOW(timerfd_settime(fd, 0, &spec, NULL));
    spec.it_value.tv_nsec = 0;
    spec.it_interval.tv_sec = -1;
    SHOW(timerfd_settime(fd, 0, &spec, NULL));
    SHOW(timerfd_settime(fd, 0, (struct itimerspec *)8, NULL));
    spec.it_interval.tv_sec = 0;
    SHOW(timerfd_settime(99, 0, &spec, NULL));
    SHOW(timerfd_settime(0, 0, &spec, NULL));
    SHOW(timerfd_gettime(0, &spec));
    SHOW(timerfd_gettime(fd, (struct itimerspec *)8));
    char small[4];
    SHOW(read(fd, small, sizeof small));
    SHOW(expirations(fd));
    SHOW(write(fd, small, sizeof small));
    SHOW(timerfd_gettime(fd, &spec));
    printf("disarmed: %ld %ld\n", ns(&spec.it_value), ns(&spec.it_interval));
    SHOW(set(fd, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET, 0, 0));
    close(fd);
    int clocks[] = {CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_BOOTTIME, CLOCK_REALTIME_ALARM, CLOCK_BOOTTIME_ALARM};
    for (unsigned i = 0; i < sizeof clocks / sizeof clocks[0]; i++) {
        fd = timerfd_create(clocks[i], 0);
        printf("clock %d: %s\n", clocks[i], fd >= 0 ? "ok" : strerrorname_np(errno));
        close(fd);
    }
}

static void one_shot(void)
{
    section("one-shot");
    int fd = timerfd_create(CLOCK_MONOTONIC, 0);
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    SHOW(set(fd, 0, 40 * MS, 0));
    struct itimerspec spec;
    timerfd_gettime(fd, &spec);
    show_between("remaining ms", ns(&spec.it_value) / MS, 0, 40);
    SHOW(expirations(fd));
    show_between("waited ms", elapsed_ms(&start), 40, 2000);
    timerfd_gettime(fd, &spec);
    printf("after: %ld %ld\n", ns(&spec.it_value), ns(&spec.it_interval));
    fcntl(fd, F_SETFL, O_NONBLOCK);
    SHOW(expirations(fd));
    SHOW(set(fd, 0, 1, 0));
    usleep(10000);
    SHOW(expirations(fd));
    close(fd);
}

static void periodic(void)
{
    section("periodic");
    int fd = timerfd_create(CLOCK_BOOTTIME, TFD_NONBLOCK);
    SHOW(set(fd, 0, 20 * MS, 20 * MS));
    SHOW(expirations(fd));
    usleep(110 * 1000);
    show_between("expirations", expirations(fd), 4, 8);
    struct itimerspec spec;
    timerfd_gettime(fd, &spec);
    show_between("interval ms", ns(&spec.it_interval) / MS, 20, 20);
    show_between("next in ms", ns(&spec.it_value) / MS, 0, 20);
    struct itimerspec old, disarm = {{0, 0}, {0, 0}};
    SHOW(timerfd_settime(fd, 0, &disarm, &old));
    show_between("old interval ms", ns(&old.it_interval) / MS, 20, 20);
    show_between("old next in ms", ns(&old.it_value) / MS, 0, 20);
    usleep(50 * 1000);
    SHOW(expirations(fd));
    close(fd);
}

static void absolute(void)
{
    section("absolute");
    int fd = timerfd_create(CLOCK_MONOTONIC, 0);
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    struct timespec start = now;
    SHOW(set(fd, TFD_TIMER_ABSTIME, ns(&now) + 30 * MS, 0));
    SHOW(expirations(fd));
    show_between("waited ms", elapsed_ms(&start), 30, 2000);
    clock_gettime(CLOCK_MONOTONIC, &now);
    SHOW(set(fd, TFD_TIMER_ABSTIME, ns(&now) - 100 * MS, 10 * MS));
    show_between("missed expirations", expirations(fd), 10, 20);
    close(fd);

    fd = timerfd_create(CLOCK_REALTIME, 0);
    clock_gettime(CLOCK_REALTIME, &now);
    clock_gettime(CLOCK_MONOTONIC, &start);
    SHOW(set(fd, TFD_TIMER_ABSTIME, ns(&now) + 30 * MS, 0));
    SHOW(expirations(fd));
    show_between("waited ms", elapsed_ms(&start), 25, 2000);
    close(fd);
}

static void readiness(void)
{
    section("readiness");
    int fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN | EPOLLET, .data.u64 = 3};
    SHOW(epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev));
    struct pollfd pfd = {.fd = fd, .events = POLLIN | POLLOUT};
    SHOW(poll(&pfd, 1, 0));
    SHOW(set(fd, 0, 30 * MS, 30 * MS));
    SHOW(epoll_wait(ep, &ev, 1, 2000));
    printf("[0x%x %llu]\n", ev.events, (unsigned long long)ev.data.u64);
    SHOW(poll(&pfd, 1, 0));
    printf("revents 0x%x\n", pfd.revents);
    SHOW(epoll_wait(ep, &ev, 1, 0));
    SHOW(expirations(fd) > 0);
    SHOW(epoll_wait(ep, &ev, 1, 2000));
    SHOW(poll(&pfd, 1, 2000));
    close(ep);
    close(fd);
}

int main(void)
{
    errors();
    one_shot();
    periodic();
    absolute();
    readiness();
    return 0;
}
