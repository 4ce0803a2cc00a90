/* Helpers of the ptrace test programs (ptrace_basic.c, ptrace_events.c): output written at
 * once, waitpid through EINTR, and a wait status in words. */
#ifndef PTRACE_CHECK_H
#define PTRACE_CHECK_H
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static void say(const char *fmt, long value)
{
    char buf[160];
    int n = snprintf(buf, sizeof buf, fmt, value);
    if (write(1, buf, n) != n)
        _exit(99);
}

static void section(const char *name)
{
    printf("== %s\n", name);
    fflush(stdout);
}

static int must_wait(pid_t pid, int options)
{
    int status;
    pid_t got;
    do
        got = waitpid(pid, &status, options);
    while (got < 0 && errno == EINTR);
    if (got < 0) {
        perror("waitpid");
        exit(1);
    }
    return status;
}

static const char *describe(int status, char *buf, size_t size)
{
    if (WIFEXITED(status))
        snprintf(buf, size, "exited %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(buf, size, "killed by %d", WTERMSIG(status));
    else if (WIFSTOPPED(status))
        snprintf(buf, size, "stopped sig %d event %d", WSTOPSIG(status) & 0x7f, status >> 16);
    else
        snprintf(buf, size, "other %#x", status);
    return buf;
}

/* waitpid(-1, .., __WALL) through EINTR: the next stop or exit of any tracee or child; -1
 * (reported) when there is none. */
static pid_t wait_any(int *status)
{
    pid_t who;
    do
        who = waitpid(-1, status, __WALL);
    while (who < 0 && errno == EINTR);
    if (who < 0)
        perror("waitpid");
    return who;
}

#endif
