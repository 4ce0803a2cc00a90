/* What the platforms' C modules share (ptrace/loop.c, kvm/vcpu.c): a raw host syscall, and
 * the one-line report of a host syscall a seccomp filter refused, made from the SIGSYS handler
 * of the thread that made it. Compiled into each module (hostcall.c, the builders' sources). */
#ifndef PYSANDBOX_HOSTCALL_H
#define PYSANDBOX_HOSTCALL_H

#include <signal.h>

#define HOSTCALL_INTERNAL __attribute__((visibility("hidden")))

/* Host syscall `nr`, made by this thread with the `syscall` instruction: the kernel's result
 * (-errno on failure); errno is left alone. Async-signal-safe. */
HOSTCALL_INTERNAL long host_syscall6(long nr, long a0, long a1, long a2, long a3, long a4, long a5);

/* The line: `before` NAME (NUMBER) `after`, NAME from a table indexed by number (an empty or
 * missing entry reads syscall_NUMBER), written to `fd`; then exit_group(`exit_status`), or with
 * `keep_going` the refused call fails with ENOSYS. security/seccomp.py's denial_line is the text. */
struct refusal_report {
    int fd, keep_going, exit_status, name_count;
    const char *before, *after;
    const char **name_at;
};

/* A report in one allocation, copying `before`, `after` and `names` (`name_count` NUL-separated
 * names in `names_size` bytes); NULL when out of memory. A module keeps the one its handler
 * uses and never frees one it replaces: a handler on another thread may still be reading it. */
HOSTCALL_INTERNAL struct refusal_report *refusal_report_new(int fd, const char *before, const char *names,
                                                            int names_size, int name_count, const char *after,
                                                            int keep_going, int exit_status);

/* In a SIGSYS handler: report the refused call `info` tells of, then end the process or set the
 * call's result in `context` to -ENOSYS. Async-signal-safe: no stdio, no allocation; its only
 * syscalls are write and exit_group, which every filter of pysandbox's allows. */
HOSTCALL_INTERNAL void refusal_report_handle(const struct refusal_report *report, const siginfo_t *info,
                                             void *context);

#endif
