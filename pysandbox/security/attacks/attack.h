/* Shared by the attack programs of `pysandbox security-bench`.
 *
 * Every attack prints what it tried, one line each:
 *   "evidence: ..."  something reached the host (the harness checks its canaries too)
 *   "blocked: ..."   the step failed, with the errno
 * and prints the canary file's content whenever it manages to read it, so the harness can
 * look for the secret token. Attacks are bounded: they stop by themselves. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

static inline void say(const char *kind, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("%s: ", kind);
    vprintf(fmt, ap);
    printf("\n");
    fflush(stdout);
    va_end(ap);
}

#define evidence(...) say("evidence", __VA_ARGS__)
#define blocked(...) say("blocked", __VA_ARGS__)

static inline const char *need_env(const char *name)
{
    const char *value = getenv(name);
    if (!value) {
        fprintf(stderr, "attack: %s is not set\n", name);
        exit(2);
    }
    return value;
}

static inline const char *canary_path(void) { return need_env("CANARY_PATH"); }
static inline int canary_pid(void) { return atoi(need_env("CANARY_PID")); }
static inline const char *canary_comm(void) { return need_env("CANARY_COMM"); }

/* Read the canary through fd (printing its content) and append a mark to it. */
static inline int use_canary_fd(int fd, const char *how)
{
    char buf[256];
    ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
    if (n < 0) {
        blocked("%s: read: %s", how, strerror(errno));
        return 0;
    }
    buf[n] = 0;
    printf("canary read via %s: %s\n", how, buf);
    fflush(stdout);
    return 1;
}

/* Open path (relative to dirfd) for reading and writing; read it and mark it. */
static inline int try_canary_at(int dirfd, const char *path, const char *how)
{
    int fd = openat(dirfd, path, O_RDWR | O_APPEND);
    if (fd < 0)
        fd = openat(dirfd, path, O_RDONLY);
    if (fd < 0) {
        blocked("%s: open %s: %s", how, path, strerror(errno));
        return 0;
    }
    int got = use_canary_fd(fd, how);
    char mark[128];
    int len = snprintf(mark, sizeof(mark), "written via %s\n", how);
    if (write(fd, mark, len) == len)
        evidence("%s: wrote to %s", how, path);
    close(fd);
    return got;
}

static inline int try_canary(const char *path, const char *how)
{
    return try_canary_at(AT_FDCWD, path, how);
}
