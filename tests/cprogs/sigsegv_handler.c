/* A SA_SIGINFO handler for SIGSEGV reports si_signo, si_code and si_addr of
 * a write to the unmapped address 0x1234, then exits 0. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void handler(int sig, siginfo_t *si, void *uctx)
{
    (void)uctx;
    char buf[128];
    int n = snprintf(buf, sizeof buf, "caught signal %d si_signo %d si_code %d si_addr %p\n",
                     sig, si->si_signo, si->si_code, si->si_addr);
    write(1, buf, n);
    _exit(0);
}

int main(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = handler;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGSEGV, &sa, NULL) != 0) {
        perror("sigaction");
        return 2;
    }
    printf("writing to 0x1234\n");
    fflush(stdout);
    *(volatile int *)0x1234 = 42;
    printf("still running after the fault?\n");
    return 1;
}
