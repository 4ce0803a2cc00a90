/* fuzz_driver: the syscall fuzzer's driver (tests/test_fuzz_syscalls.py).
 *
 * stdin holds records of 7 little-endian u64: a syscall number and six arguments. An
 * argument may name one of the driver's own addresses instead of a value:
 *   0xf00d0000000000XX  ARG_* below (a writable buffer, a read-only page, an unmapped page,
 *                       a buffer running into an unmapped page)
 * Each call runs in a child of its own, so that a call that exits, unmaps the code or blocks
 * harms only that child (it is stopped after a second). The driver prints one line per call:
 *   "NR ret VALUE" (the raw return value, -errno on failure) or "NR status STATUS"
 * then "done N". fd 0 is /dev/null and fd 3 /dev/zero. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAGIC 0xf00d000000000000ULL
enum { ARG_BUFFER = 1, ARG_READ_ONLY, ARG_UNMAPPED, ARG_TO_HOLE, ARG_STRING };

static char *buffer, *read_only, *unmapped, *to_hole;
static volatile pid_t child;

static uint64_t resolve(uint64_t arg)
{
    if ((arg & 0xffffffffffffff00ULL) != MAGIC)
        return arg;
    switch (arg & 0xff) {
    case ARG_BUFFER: return (uint64_t)buffer;
    case ARG_READ_ONLY: return (uint64_t)read_only;
    case ARG_UNMAPPED: return (uint64_t)unmapped;
    case ARG_TO_HOLE: return (uint64_t)(to_hole + 4096 - 16);
    case ARG_STRING: return (uint64_t)"/tmp/fuzz-file";
    }
    return arg;
}

/* The raw syscall instruction: rax exactly as the kernel left it. */
static int64_t raw_syscall(uint64_t nr, uint64_t a, uint64_t b, uint64_t c, uint64_t d, uint64_t e, uint64_t f)
{
    int64_t ret;
    register uint64_t r10 __asm__("r10") = d, r8 __asm__("r8") = e, r9 __asm__("r9") = f;
    __asm__ volatile("syscall" : "=a"(ret) : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                     : "rcx", "r11", "memory");
    return ret;
}

static void stop_child(int sig)
{
    (void)sig;
    if (child > 0)
        kill(child, SIGKILL);
}

int main(void)
{
    buffer = mmap(NULL, 65536, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    read_only = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    unmapped = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    munmap(unmapped, 4096);
    to_hole = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    munmap(to_hole + 4096, 4096);
    memset(buffer, 'A', 65536);
    signal(SIGALRM, stop_child);
    /* Read every record first: the calls may read, close or replace stdin. */
    static uint64_t records[4096][7];
    long count = fread(records, sizeof(records[0]), 4096, stdin), calls = 0;
    freopen("/dev/null", "r", stdin);
    if (open("/dev/zero", O_RDONLY) != 3)          /* fd 3: something to read from */
        return 5;
    for (long i = 0; i < count; i++) {
        uint64_t *record = records[i];
        int pipefd[2];
        if (pipe(pipefd) < 0)
            return 3;
        fflush(stdout);
        child = fork();
        if (child < 0)
            return 4;
        if (child == 0) {
            close(pipefd[0]);
            signal(SIGALRM, SIG_DFL);
            alarm(1);
            int64_t ret = raw_syscall(record[0], resolve(record[1]), resolve(record[2]), resolve(record[3]),
                                      resolve(record[4]), resolve(record[5]), resolve(record[6]));
            write(pipefd[1], &ret, sizeof(ret));
            _exit(0);
        }
        close(pipefd[1]);
        alarm(3);
        int status;
        while (waitpid(child, &status, WUNTRACED) < 0)
            ;
        if (WIFSTOPPED(status)) {
            kill(child, SIGKILL);
            waitpid(child, &status, 0);
        }
        alarm(0);
        int64_t ret;
        if (read(pipefd[0], &ret, sizeof(ret)) == sizeof(ret))
            printf("%lu ret %ld\n", (unsigned long)record[0], (long)ret);
        else
            printf("%lu status %d\n", (unsigned long)record[0], status);
        close(pipefd[0]);
        calls++;
    }
    printf("done %ld\n", calls);
    return 0;
}
