/* show(): one line "what: result", with the errno's name for a failure (-1), flushed at once
 * so that the lines of a parent and its children come out in the order they happened. */
#ifndef SECCOMP_SHOW_H
#define SECCOMP_SHOW_H
#include <errno.h>
#include <stdio.h>
#include <string.h>

static void show(const char *what, long ret)
{
    if (ret == -1)
        printf("%s: -1 %s\n", what, strerrorname_np(errno));
    else
        printf("%s: %ld\n", what, ret);
    fflush(stdout);
}

#endif
