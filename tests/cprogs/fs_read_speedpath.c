/* Large reads and writes, the way the sentry copies them between host files and guest memory
 * (docs/FILES.md, "Large reads"): contents, counts and offsets of sequential reads, reads
 * across the 32 MiB window boundary, pread at the end of the file, buffers that run into
 * unmapped, read-only or beyond-EOF pages, O_DIRECT, a description shared with a forked child,
 * a file changed, truncated or replaced between reads, nothing of the files left readable
 * where pysandbox's ptrace stubs map them once they are closed, and large writes (pwrite past the
 * end, O_APPEND, buffers with holes, more than the stub's 4 MiB staging buffer, a forked child
 * that must not see its parent's staging buffer). Run natively and in the sandbox;
 * the outputs must be identical.
 *
 *   fs_read_speedpath make DIR    write DIR/big (deterministic bytes)
 *   fs_read_speedpath check DIR   the checks (DIR must be writable for the last ones) */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#define MIB (1L << 20)
#define BIG_SIZE (34 * MIB + 4321)

static char buf[4 * MIB] __attribute__((aligned(4096)));
static char path[4096];

static uint64_t checksum(const void *data, long n)
{
    const unsigned char *p = data;
    uint64_t h = 1469598103934665603ULL;
    for (long i = 0; i < n; i++)
        h = (h ^ p[i]) * 1099511628211ULL;
    return h;
}

static void fill(char *dst, long n, uint64_t seed)
{
    uint64_t x = seed * 2654435761ULL + 88172645463325252ULL;
    for (long i = 0; i < n; i++) {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        dst[i] = (char)x;
    }
}

static void make_file(const char *name, long size, uint64_t seed)
{
    int fd = open(name, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) { perror("make"); exit(1); }
    for (long done = 0; done < size; ) {
        long n = size - done < MIB ? size - done : MIB;
        fill(buf, n, seed + done / MIB);
        if (write(fd, buf, n) != n) { perror("make write"); exit(1); }
        done += n;
    }
    close(fd);
}

static void report(const char *what, long got, const void *data, int fd)
{
    if (got < 0)
        printf("%s: -1 %s", what, strerrorname_np(errno));
    else
        printf("%s: %ld sum %016llx", what, got, (unsigned long long)checksum(data, got));
    if (fd >= 0)
        printf(" offset %ld", (long)lseek(fd, 0, SEEK_CUR));
    printf("\n");
}

static void sequential(int fd)
{
    uint64_t h = 0;
    long total = 0, got, reads = 0;
    lseek(fd, 0, SEEK_SET);
    while ((got = read(fd, buf, MIB)) > 0) {
        h = h * 31 + checksum(buf, got);
        total += got;
        reads++;
    }
    printf("sequential: %ld bytes in %ld reads, last %ld, sum %016llx offset %ld\n", total, reads, got,
           (unsigned long long)h, (long)lseek(fd, 0, SEEK_CUR));
}

static void odd_reads(int fd)
{
    lseek(fd, 32 * MIB - 100000, SEEK_SET);
    report("across the window boundary, odd buffer", read(fd, buf + 123, 3 * MIB + 777), buf + 123, fd);
    report("pread to the end", pread(fd, buf, 2 * MIB, BIG_SIZE - 300000), buf, fd);
    report("pread past the end", pread(fd, buf, 2 * MIB, BIG_SIZE + 5), buf, fd);
    lseek(fd, 0, SEEK_END);
    report("read at the end", read(fd, buf, 2 * MIB), buf, fd);
    lseek(fd, MIB, SEEK_SET);
}

static void bad_buffers(int fd)
{
    char *area = mmap(NULL, 2 * MIB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    munmap(area + MIB / 2, MIB / 2 + MIB);
    report("read into a buffer unmapped after 512 KiB", read(fd, area, MIB), area, fd);
    report("pread into it", pread(fd, area, MIB, 7 * MIB + 5), area, fd);
    report("read into an unmapped buffer", read(fd, area + MIB / 2, MIB), buf, fd);
    report("pread into an unmapped buffer", pread(fd, area + MIB / 2, MIB, 0), buf, fd);
    munmap(area, MIB / 2);

    area = mmap(NULL, MIB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    mprotect(area + 384 * 1024, MIB - 384 * 1024, PROT_READ);
    report("read into a buffer read-only after 384 KiB", read(fd, area, MIB), area, fd);
    report("read into a read-only buffer", read(fd, area + 384 * 1024, 512 * 1024), buf, fd);
    munmap(area, MIB);

    /* A private mapping of a one-page file: the pages past its end fault (SIGBUS for the CPU). */
    snprintf(path + strlen(path), 64, ".page");
    make_file(path, 4096, 99);
    int small = open(path, O_RDONLY);
    area = mmap(NULL, MIB, PROT_READ | PROT_WRITE, MAP_PRIVATE, small, 0);
    report("read into a file mapping past its end", read(fd, area, MIB), area, fd);
    munmap(area, MIB);
    close(small);
    unlink(path);
    path[strlen(path) - 5] = 0;
}

static void report_vectors(const char *what, long got, struct iovec *iov, int n, int fd)
{
    printf("%s: %ld", what, got);
    for (int i = 0; i < n && got > 0; i++) {
        long piece = got < (long)iov[i].iov_len ? got : (long)iov[i].iov_len;
        printf(" %016llx", (unsigned long long)checksum(iov[i].iov_base, piece));
        got -= piece;
    }
    if (got < 0)
        printf(" %s", strerrorname_np(errno));
    printf(" offset %ld\n", (long)lseek(fd, 0, SEEK_CUR));
}

static void vectored(int fd)
{
    static char small[1024];
    lseek(fd, 5, SEEK_SET);
    struct iovec musl_like[2] = {{buf, MIB - 1}, {small, sizeof small}};
    report_vectors("readv, a large buffer and a small one", readv(fd, musl_like, 2), musl_like, 2, fd);
    struct iovec three[3] = {{buf, 4096}, {buf + 8192, 600 * 1024}, {buf + 2 * MIB, 300 * 1024}};
    report_vectors("preadv, three buffers", preadv(fd, three, 3, 123), three, 3, fd);
    report_vectors("preadv at the end", preadv(fd, three, 3, BIG_SIZE - 1000), three, 3, fd);

    char *area = mmap(NULL, 2 * MIB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    munmap(area + MIB / 2, MIB / 2 + MIB);
    struct iovec holed[2] = {{buf, 300 * 1024}, {area, MIB}};
    report_vectors("readv into a second buffer unmapped after 512 KiB", readv(fd, holed, 2), holed, 2, fd);
    struct iovec unmapped[2] = {{area + MIB / 2, MIB}, {buf, MIB}};
    report_vectors("preadv into an unmapped first buffer", preadv(fd, unmapped, 2, 0), unmapped, 2, fd);
    munmap(area, MIB / 2);
}

static void direct_io(const char *name)
{
    int fd = open(name, O_RDONLY | O_DIRECT);
    if (fd < 0) {
        printf("O_DIRECT open: %s\n", strerrorname_np(errno));
        return;
    }
    report("O_DIRECT read", read(fd, buf, 2 * MIB), buf, fd);
    close(fd);
}

static void forked(int fd)
{
    lseek(fd, 0, SEEK_SET);
    report("parent before fork", read(fd, buf, MIB), buf, fd);
    pid_t child = fork();
    if (child == 0) {
        report("child", read(fd, buf, 2 * MIB), buf, fd);
        fflush(stdout);
        _exit(0);
    }
    int status;
    waitpid(child, &status, 0);
    report("parent after the child", read(fd, buf, MIB), buf, fd);
}

static void changing_file(const char *dir)
{
    snprintf(path, sizeof path, "%s/changing", dir);
    make_file(path, 3 * MIB, 7);
    int fd = open(path, O_RDWR);
    report("first read", read(fd, buf, 4 * MIB), buf, fd);
    fill(buf, 2 * MIB, 8);
    printf("pwrite: %ld\n", (long)pwrite(fd, buf, 2 * MIB, MIB / 2));
    report("after pwrite", pread(fd, buf, 4 * MIB, 0), buf, fd);
    printf("ftruncate: %d\n", ftruncate(fd, MIB));
    report("after shrinking", pread(fd, buf, 4 * MIB, 0), buf, fd);
    fill(buf, MIB, 9);
    printf("pwrite past the end: %ld\n", (long)pwrite(fd, buf, MIB, 2 * MIB));
    report("after growing", pread(fd, buf, 4 * MIB, 0), buf, fd);
    close(fd);

    unlink(path);
    make_file(path, 3 * MIB, 10);
    fd = open(path, O_RDONLY);
    report("a new file of the same name", read(fd, buf, 4 * MIB), buf, fd);
    close(fd);
    unlink(path);
}

static sigjmp_buf probe_env;

static void report_file(const char *what, long got, int fd)
{
    struct stat st;
    fstat(fd, &st);
    uint64_t h = 0;
    for (long at = 0; at < st.st_size; at += MIB) {
        long n = pread(fd, buf, MIB, at);
        h = h * 31 + checksum(buf, n);
    }
    if (got < 0)
        printf("%s: -1 %s", what, strerrorname_np(errno));
    else
        printf("%s: %ld", what, got);
    printf(" size %ld sum %016llx offset %ld\n", (long)st.st_size, (unsigned long long)h,
           (long)lseek(fd, 0, SEEK_CUR));
}

static int probe(volatile char *p);

static void writes(const char *dir)
{
    static char source[10 * MIB];
    fill(source, sizeof source, 42);
    snprintf(path, sizeof path, "%s/written", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    report_file("write 3 MiB", write(fd, source + 7, 3 * MIB + 123), fd);
    report_file("pwrite past the end", pwrite(fd, source, MIB, 5 * MIB), fd);
    report_file("write more than the staging buffer", write(fd, source + 1, 9 * MIB + 5), fd);

    char *area = mmap(NULL, 2 * MIB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    memcpy(area, source, 2 * MIB);
    munmap(area + MIB / 2, MIB / 2 + MIB);
    report_file("write from a buffer unmapped after 512 KiB", write(fd, area, MIB), fd);
    report_file("pwrite from an unmapped buffer", pwrite(fd, area + MIB / 2, MIB, 0), fd);
    munmap(area, MIB / 2);
    close(fd);

    fd = open(path, O_WRONLY | O_APPEND);
    report_file("O_APPEND write", write(fd, source + 3, MIB + 1), fd);
    report_file("O_APPEND pwrite (appends)", pwrite(fd, source + 5, MIB, 0), fd);
    close(fd);

    fd = open(path, O_RDWR);
    pid_t child = fork();
    if (child == 0) {
        printf("child: staging buffer readable: %d\n", probe((volatile char *)0x7FF110000000UL));
        report_file("child pwrite", pwrite(fd, source + 11, 2 * MIB, MIB), fd);
        fflush(stdout);
        _exit(0);
    }
    int status;
    waitpid(child, &status, 0);
    report_file("parent after the child", write(fd, source + 13, MIB), fd);
    close(fd);
    unlink(path);
}

static void probe_fault(int sig)
{
    (void)sig;
    siglongjmp(probe_env, 1);
}

static int probe(volatile char *p)
{
    signal(SIGSEGV, probe_fault);
    signal(SIGBUS, probe_fault);
    if (sigsetjmp(probe_env, 1))
        return 0;
    (void)*p;
    return 1;
}

/* The ptrace platform's file windows (platform/ptrace: WINDOW_AREA, 8 slots of 32 MiB). */
static void probe_windows(void)
{
    int readable = 0;
    for (int slot = 0; slot < 8; slot++)
        readable += probe((volatile char *)(0x7FF100000000UL + slot * 32 * MIB));
    printf("file windows readable after close: %d\n", readable);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: fs_read_speedpath make|check DIR\n");
        return 2;
    }
    snprintf(path, sizeof path, "%s/big", argv[2]);
    if (!strcmp(argv[1], "make")) {
        make_file(path, BIG_SIZE, 1);
        return 0;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    int fd = open(path, O_RDONLY);
    if (fd < 0) { perror("open big"); return 1; }
    sequential(fd);
    odd_reads(fd);
    bad_buffers(fd);
    vectored(fd);
    direct_io(path);
    forked(fd);
    sequential(fd);
    close(fd);
    changing_file(argv[2]);
    probe_windows();
    writes(argv[2]);
    return 0;
}
