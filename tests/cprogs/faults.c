/* faults KIND: raise one CPU fault and report the signal, si_code and si_addr relative
 * to the faulting object, from an SA_SIGINFO handler. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static sigjmp_buf back;
static volatile uintptr_t expected_addr;
static volatile int check_addr = 1;
extern char ud2_here[];

static void on_fault(int sig, siginfo_t *info, void *ucontext)
{
    (void)ucontext;
    printf("signal %s code %d addr %s\n", strsignal(sig), info->si_code,
           !check_addr ? "not checked" :
           (uintptr_t)info->si_addr == expected_addr ? "as expected" : "unexpected");
    siglongjmp(back, 1);
}

int main(int argc, char **argv)
{
    const char *kind = argc > 1 ? argv[1] : "segv";
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO;
    for (int s = 1; s < 32; s++) sigaction(s, &sa, NULL);
    if (sigsetjmp(back, 1)) {
        printf("recovered\n");
        return 0;
    }
    if (!strcmp(kind, "segv")) {
        expected_addr = 0x1000;
        *(volatile int *)0x1000 = 1;
    } else if (!strcmp(kind, "accerr")) {
        char *page = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        expected_addr = (uintptr_t)page + 8;
        page[8] = 1;
    } else if (!strcmp(kind, "bus")) {
        char path[] = "/tmp/faults-XXXXXX";
        int fd = mkstemp(path);
        unlink(path);
        if (write(fd, "x", 1) != 1) return 2;
        char *map = mmap(NULL, 8192, PROT_READ, MAP_PRIVATE, fd, 0);
        expected_addr = (uintptr_t)map + 4096;
        printf("inside the file's last page: %d\n", map[100]);
        return map[4096];
    } else if (!strcmp(kind, "ill")) {
        expected_addr = (uintptr_t)ud2_here;
        __asm__ volatile(".globl ud2_here\nud2_here: ud2");
    } else if (!strcmp(kind, "fpe")) {
        check_addr = 0;
        __asm__ volatile("xor %%edx, %%edx\n\tmov $1, %%eax\n\txor %%ecx, %%ecx\n\tdiv %%ecx"
                         ::: "eax", "ecx", "edx");
    } else if (!strcmp(kind, "trap")) {
        check_addr = 0;
        __asm__ volatile("int3");
        printf("after int3\n");
        return 0;
    }
    printf("no fault\n");
    return 1;
}
