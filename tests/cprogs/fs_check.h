/* One line per call: "what: result" or "what: ERRNONAME", for comparison with native runs. */
#ifndef FS_CHECK_H
#define FS_CHECK_H
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>

static inline void report(const char *what, long rc) {
    if (rc < 0)
        printf("%s: %s\n", what, strerrorname_np(errno));
    else
        printf("%s: %ld\n", what, rc);
    fflush(stdout);
}
#define R(what, call) report(what, (long)(call))
#endif
