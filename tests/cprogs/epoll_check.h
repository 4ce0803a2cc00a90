/* Shared by the epoll_*, eventfd_*, timerfd_* and signalfd_* test programs: print each
 * call's result as "call = value" or "call = -1 ERRNAME", so that a native run and a
 * sandboxed run can be compared line by line. */
#ifndef EPOLL_CHECK_H
#define EPOLL_CHECK_H
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define SHOW(call) show(#call, (long)(call))

static inline long show(const char *call, long result)
{
    if (result < 0)
        printf("%s = -1 %s\n", call, strerrorname_np(errno));
    else
        printf("%s = %ld\n", call, result);
    return result;
}

static inline void section(const char *name)
{
    printf("-- %s\n", name);
}

static inline long elapsed_ms(const struct timespec *start)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (now.tv_sec - start->tv_sec) * 1000 + (now.tv_nsec - start->tv_nsec) / 1000000;
}

/* Fork a child that sleeps `delay_ms`, then runs `action(arg)` and exits. */
static inline pid_t later(int delay_ms, void (*action)(long), long arg)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        usleep(delay_ms * 1000);
        action(arg);
        _exit(0);
    }
    return pid;
}

static inline void write_byte(long fd)
{
    if (write((int)fd, "x", 1) != 1)
        _exit(1);
}

#endif
