/* Checks for the syscall conformance tests: each prints one TAP line ("ok N - what" or
 * "not ok N - what: got ..."), and the program's exit status is the number of failures
 * (capped at 100). A test run natively and in the sandbox must print the same lines.
 *
 *   CHECK(cond)                 the condition holds
 *   CHECK_OK(call)              the call returns >= 0 (its value is kept in `last`)
 *   CHECK_RET(call, value)      the call returns exactly value
 *   CHECK_ERR(call, ERRNO)      the call returns -1 with errno == ERRNO
 *
 * Raw syscalls go through sys(), so a test reaches the very syscall it names even where
 * libc would pick another one (open -> openat, stat -> newfstatat).
 */
#ifndef SYSCALL_CHECK_H
#define SYSCALL_CHECK_H
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* Numbers newer than the kernel headers installed here (Linux 6.1). */
#ifndef SYS_fchmodat2
#define SYS_fchmodat2 452
#endif

static int checks_run, checks_failed;
static long last;

#define sys(...) syscall(__VA_ARGS__)

static void report(int passed, const char *what, const char *detail)
{
    checks_run++;
    if (!passed)
        checks_failed++;
    printf("%sok %d - %s%s%s\n", passed ? "" : "not ", checks_run, what, detail[0] ? ": " : "", detail);
    fflush(stdout);
}

#define CHECK(cond) report((cond) ? 1 : 0, #cond, "")

#define CHECK_OK(call) do { \
        errno = 0; last = (long)(call); int err_ = errno; char d_[96] = ""; \
        if (last < 0) snprintf(d_, sizeof d_, "got %ld (%s)", last, strerrorname_np(err_) ?: "?"); \
        report(last >= 0, #call, d_); \
    } while (0)

#define CHECK_RET(call, value) do { \
        errno = 0; last = (long)(call); int err_ = errno; long want_ = (long)(value); char d_[96] = ""; \
        if (last != want_) snprintf(d_, sizeof d_, "got %ld (%s), want %ld", last, \
                                    last < 0 ? (strerrorname_np(err_) ?: "?") : "-", want_); \
        report(last == want_, #call " == " #value, d_); \
    } while (0)

#define CHECK_ERR(call, error) do { \
        errno = 0; last = (long)(call); int err_ = errno; char d_[96] = ""; \
        int ok_ = last == -1 && err_ == (error); \
        if (!ok_) snprintf(d_, sizeof d_, "got %ld (%s)", last, last < 0 ? (strerrorname_np(err_) ?: "?") : "-"); \
        report(ok_, #call " fails with " #error, d_); \
    } while (0)

/* Run fn in a child process and check that it exits with status 0 (for checks that change
 * the process itself: credentials, signal dispositions, the working directory). */
#define IN_CHILD(fn) do { \
        fflush(stdout); pid_t c_ = fork(); \
        if (c_ == 0) { _exit(fn()); } \
        int st_ = -1; waitpid(c_, &st_, 0); \
        char d_[64] = ""; if (!(WIFEXITED(st_) && WEXITSTATUS(st_) == 0)) snprintf(d_, sizeof d_, "status 0x%x", st_); \
        report(WIFEXITED(st_) && WEXITSTATUS(st_) == 0, "child " #fn, d_); \
    } while (0)

/* In a child function: fail (exit status 1) with a comment line saying which condition. */
#define REQUIRE(cond) do { if (!(cond)) { \
        printf("# %s:%d: %s failed (errno %s)\n", __FILE__, __LINE__, #cond, strerrorname_np(errno) ?: "0"); \
        fflush(stdout); return 1; } } while (0)

/* Natively, move into a new namespace of this kind (the test runs as root), so that what the
 * test changes (mounts, the hostname, System V IPC objects) stays its own; in the sandbox,
 * whose namespaces are its own already, it makes one too (mount, UTS, IPC) or answers EPERM. */
__attribute__((unused)) static void isolate(int kind, const char *what)
{
    errno = 0;
    if (unshare(kind) != 0 && errno != ENOSYS && errno != EPERM) {
        printf("# cannot isolate %s\n", what);
        exit(100);
    }
}

/* A fresh scratch directory (the sandbox's /tmp is its own, the host's is the host's). */
static char scratch[64];
__attribute__((unused)) static void enter_scratch(void)
{
    strcpy(scratch, "/tmp/syscall-test-XXXXXX");
    if (!mkdtemp(scratch) || chdir(scratch) != 0) {
        perror("scratch directory");
        exit(100);
    }
}

#include <ftw.h>
static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st; (void)flag; (void)ftw;
    return remove(path);
}

static int done(void)
{
    if (scratch[0]) {
        if (chdir("/") == 0)
            nftw(scratch, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    }
    printf("1..%d\n", checks_run);
    return checks_failed > 100 ? 100 : checks_failed;
}
#endif
