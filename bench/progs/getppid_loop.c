/* getppid_loop N: make N raw getppid system calls (no libc caching). */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 0;
    long acc = 0;
    for (long i = 0; i < n; i++)
        acc += syscall(SYS_getppid);
    printf("ok %ld %ld\n", n, acc > 0 ? 1L : 0L);
    return 0;
}
