/* Dereferences NULL with no handler installed: must die of SIGSEGV (139). */
#include <stdio.h>

int main(void)
{
    printf("about to dereference NULL\n");
    fflush(stdout);
    volatile int *p = (volatile int *)0;
    return *p;
}
