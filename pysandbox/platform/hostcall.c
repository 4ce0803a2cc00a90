/* The raw host syscall and the refused-syscall report of pysandbox's C modules (hostcall.h). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE                 /* REG_RAX */
#endif
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <ucontext.h>

#include "hostcall.h"

#if !defined(__x86_64__)
#error "pysandbox's C modules are x86-64 only"
#endif

long host_syscall6(long nr, long a0, long a1, long a2, long a3, long a4, long a5)
{
    register long r10 __asm__("r10") = a3;
    register long r8 __asm__("r8") = a4;
    register long r9 __asm__("r9") = a5;
    long result;
    __asm__ volatile("syscall"
                     : "=a"(result)
                     : "a"(nr), "D"(a0), "S"(a1), "d"(a2), "r"(r10), "r"(r8), "r"(r9)
                     : "rcx", "r11", "memory");
    return result;
}

struct refusal_report *refusal_report_new(int fd, const char *before, const char *names, int names_size,
                                          int name_count, const char *after, int keep_going, int exit_status)
{
    if (names_size < 0 || name_count < 0) return NULL;
    size_t before_size = strlen(before) + 1, after_size = strlen(after) + 1;
    size_t table_size = sizeof(char *) * (size_t)name_count;
    struct refusal_report *report = malloc(sizeof *report + table_size + before_size + after_size
                                           + (size_t)names_size);
    if (!report) return NULL;
    const char **name_at = (const char **)(report + 1);
    char *text = (char *)name_at + table_size;
    report->fd = fd;
    report->keep_going = keep_going;
    report->exit_status = exit_status;
    report->name_count = name_count;
    report->name_at = name_at;
    report->before = memcpy(text, before, before_size);
    report->after = memcpy(text + before_size, after, after_size);
    char *name = memcpy(text + before_size + after_size, names, (size_t)names_size);
    const char *end = name + names_size;
    for (int i = 0; i < name_count; i++) {
        name_at[i] = name < end ? name : "";
        if (name < end) name += strnlen(name, (size_t)(end - name)) + 1;
    }
    return report;
}

static size_t append(char *line, size_t at, size_t size, const char *text)
{
    size_t n = strlen(text);
    if (n > size - at) n = size - at;
    memcpy(line + at, text, n);
    return at + n;
}

void refusal_report_handle(const struct refusal_report *report, const siginfo_t *info, void *context)
{
    char line[1024], number[24], *digit = number + sizeof number - 1;
    int nr = info->si_syscall;
    unsigned long value = nr < 0 ? -(unsigned long)nr : (unsigned long)nr;
    *digit = 0;
    do { *--digit = (char)('0' + value % 10); value /= 10; } while (value);
    if (nr < 0) *--digit = '-';
    size_t n = append(line, 0, sizeof line, report->before);
    if (nr >= 0 && nr < report->name_count && report->name_at[nr][0])
        n = append(line, n, sizeof line, report->name_at[nr]);
    else {
        n = append(line, n, sizeof line, "syscall_");
        n = append(line, n, sizeof line, digit);
    }
    n = append(line, n, sizeof line, " (");
    n = append(line, n, sizeof line, digit);
    n = append(line, n, sizeof line, ")");
    n = append(line, n, sizeof line, report->after);
    host_syscall6(SYS_write, report->fd, (long)line, (long)n, 0, 0, 0);
    if (!report->keep_going)
        host_syscall6(SYS_exit_group, report->exit_status, 0, 0, 0, 0, 0);
    ((ucontext_t *)context)->uc_mcontext.gregs[REG_RAX] = -ENOSYS;
}
