/* An unknown system call number must fail with ENOSYS. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(void)
{
    errno = 0;
    long r = syscall(1000, 1, 2, 3);
    int e = errno;
    printf("syscall(1000) = %ld errno %d (%s)\n", r, e, e == ENOSYS ? "ENOSYS" : strerror(e));
    return r == -1 && e == ENOSYS ? 0 : 1;
}
