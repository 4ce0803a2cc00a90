/* Huge mappings of which little is touched, as Go, the JVM, V8, ASan and Chrome make them:
 * each step prints what it saw, for comparison with a native run. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define GiB (1UL << 30)
#define TiB (1UL << 40)
#define PAGE 4096UL

static void report(const char *what, long result)
{
    printf("%s: %ld%s%s\n", what, result, result < 0 ? " " : "", result < 0 ? strerror(errno) : "");
    fflush(stdout);
}

/* The signal (or exit status) of a child that does `access` at `at`: 0 read, 1 write. */
static int access_in_child(volatile char *at, int write)
{
    pid_t pid = fork();
    if (pid == 0) {
        if (write)
            *at = 9;
        else
            (void)*at;
        _exit(0);
    }
    int status;
    waitpid(pid, &status, 0);
    return WIFSIGNALED(status) ? WTERMSIG(status) : 100 + WEXITSTATUS(status);
}

int main(void)
{
    /* 64 GiB of lazily backed memory, first and last pages touched. */
    size_t big = 64 * GiB;
    char *p = mmap(0, big, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    report("mmap 64GiB", p == MAP_FAILED ? -1 : 0);
    if (p == MAP_FAILED)
        return 1;
    p[0] = 1;
    p[big - 1] = 2;
    printf("first %d last %d middle %d\n", p[0], p[big - 1], p[big / 2]);

    /* A read(2) into an untouched page: the kernel's copy-out gives it memory. */
    int pipefd[2];
    if (pipe(pipefd) == 0) {
        report("write pipe", write(pipefd[1], "hello", 5));
        report("read into untouched page", read(pipefd[0], p + 32 * GiB + 100, 5));
        printf("got %.5s\n", p + 32 * GiB + 100);
        close(pipefd[0]);
        close(pipefd[1]);
    }

    /* fork: the child sees the parent's values; its writes stay its own. */
    pid_t pid = fork();
    if (pid == 0) {
        int seen = p[0] == 1 && p[big - 1] == 2 && p[big / 2] == 0;
        p[0] = 7;
        p[big - 1] = 8;
        p[big / 4] = 9;
        _exit(seen && p[0] == 7 && p[big - 1] == 8 && p[big / 4] == 9 ? 0 : 1);
    }
    int status;
    waitpid(pid, &status, 0);
    printf("child status %d; parent sees first %d last %d quarter %d\n",
           WIFEXITED(status) ? WEXITSTATUS(status) : -1, p[0], p[big - 1], p[big / 4]);

    /* mremap: grow the sparse mapping to 128 GiB (it moves), then shrink it in place. */
    char *r = mremap(p, big, 2 * big, MREMAP_MAYMOVE);
    report("mremap grow to 128GiB", r == MAP_FAILED ? -1 : 0);
    if (r != MAP_FAILED) {
        printf("after grow: first %d old last %d new last %d\n", r[0], r[big - 1], r[2 * big - 1]);
        r[2 * big - 1] = 3;
        char *s = mremap(r, 2 * big, GiB, 0);
        report("mremap shrink to 1GiB", s == MAP_FAILED ? -1 : (long)(s == r));
        printf("after shrink: first %d\n", r[0]);
        report("munmap 1GiB", munmap(r, GiB));
    }

    /* A 1 TiB PROT_NONE reservation; pieces made accessible, touched, and taken back. */
    char *q = mmap(0, TiB, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    report("mmap 1TiB PROT_NONE", q == MAP_FAILED ? -1 : 0);
    if (q == MAP_FAILED)
        return 1;
    report("mprotect 1GiB rw", mprotect(q, GiB, PROT_READ | PROT_WRITE));
    q[5] = 1;
    q[GiB - 1] = 2;
    report("mprotect 3 pages at 512GiB rw", mprotect(q + 512 * GiB, 3 * PAGE, PROT_READ | PROT_WRITE));
    q[512 * GiB + PAGE] = 4;
    report("mprotect 1 page at 512GiB+4KiB read-only", mprotect(q + 512 * GiB + PAGE, PAGE, PROT_READ));
    printf("values %d %d %d\n", q[5], q[GiB - 1], q[512 * GiB + PAGE]);
    printf("write to read-only page: signal %d\n", access_in_child(q + 512 * GiB + PAGE, 1));
    printf("write to the page after it: signal %d\n", access_in_child(q + 512 * GiB + 2 * PAGE, 1));
    printf("read of PROT_NONE past 1GiB: signal %d\n", access_in_child(q + GiB, 0));
    printf("read of PROT_NONE at 1TiB-1: signal %d\n", access_in_child(q + TiB - 1, 0));

    /* Commit pieces of the reservation with MAP_FIXED, as Go and V8 do. */
    char *piece = mmap(q + 700 * GiB, 2 * GiB, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0);
    report("mmap MAP_FIXED 2GiB inside", piece == q + 700 * GiB ? 0 : -1);
    piece[2 * GiB - 1] = 5;
    printf("piece last %d first %d\n", piece[2 * GiB - 1], piece[0]);
    report("mprotect whole 1TiB none", mprotect(q, TiB, PROT_NONE));
    printf("read after mprotect none: signal %d\n", access_in_child(q + 5, 0));
    report("mprotect whole 1TiB rw", mprotect(q, TiB, PROT_READ | PROT_WRITE));
    printf("values kept %d %d %d\n", q[5], q[512 * GiB + PAGE], piece[2 * GiB - 1]);
    q[TiB - 1] = 6;
    printf("last of 1TiB %d\n", q[TiB - 1]);

    /* munmap of the reservation, then of the same (now empty) range and a huge empty one. */
    report("munmap 1TiB", munmap(q, TiB));
    report("munmap 1TiB again (nothing there)", munmap(q, TiB));
    printf("read of unmapped: signal %d\n", access_in_child(q + 5, 0));
    report("munmap the old 64GiB range", munmap(p, big));

    /* 64 GiB of shared anonymous memory: a fork's writes are the parent's too. */
    char *sh = mmap(0, big, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    report("mmap 64GiB shared", sh == MAP_FAILED ? -1 : 0);
    if (sh == MAP_FAILED)
        return 1;
    sh[0] = 1;
    pid = fork();
    if (pid == 0) {
        int seen = sh[0] == 1;
        sh[0] = 2;
        sh[big / 2] = 3;
        sh[big - 1] = 4;
        _exit(seen ? 0 : 1);
    }
    waitpid(pid, &status, 0);
    printf("shared: child status %d; parent sees %d %d %d\n", WIFEXITED(status) ? WEXITSTATUS(status) : -1,
           sh[0], sh[big / 2], sh[big - 1]);
    char *again = mremap(sh, 0, GiB, MREMAP_MAYMOVE);       /* the same pages mapped twice */
    report("mremap old length 0", again == MAP_FAILED ? -1 : 0);
    if (again != MAP_FAILED) {
        again[1] = 5;
        printf("second mapping sees %d, first sees %d\n", again[0], sh[1]);
        munmap(again, GiB);
    }
    char *grown = mremap(sh, big, big + GiB, MREMAP_MAYMOVE);
    report("mremap grow shared", grown == MAP_FAILED ? -1 : 0);
    if (grown != MAP_FAILED) {
        printf("after grow: %d %d; past the object: signal %d\n", grown[0], grown[big - 1],
               access_in_child(grown + big + 4096, 0));
        report("munmap shared", munmap(grown, big + GiB));
    }

    /* Many 1 GiB mappings touched once each. */
    for (int i = 0; i < 16; i++) {
        char *m = mmap(0, GiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (m == MAP_FAILED) {
            report("mmap 1GiB", -1);
            return 1;
        }
        m[GiB / 2] = (char)i;
        if (m[GiB / 2] != i || munmap(m, GiB) != 0)
            return 2;
    }
    printf("16 x 1GiB ok\n");
    return 0;
}
