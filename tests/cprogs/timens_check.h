/* Shared by tests/cprogs/timens_*.c: print a call's outcome as "label: value" or
 * "label: ERRNAME", and read a /proc/PID/ns link, so native and sandboxed runs compare line
 * by line. */
#ifndef TIMENS_CHECK_H
#define TIMENS_CHECK_H
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x80
#endif

static void result(const char *label, long rc) {
    if (rc < 0)
        printf("%s: %s\n", label, strerrorname_np(errno));
    else
        printf("%s: %ld\n", label, rc);
}

static void link_of(const char *path, char *out, size_t size) {
    ssize_t n = readlink(path, out, size - 1);
    out[n < 0 ? 0 : n] = 0;
}
#endif
