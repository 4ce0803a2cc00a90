/* memfd seals against shared mappings: F_SEAL_WRITE is EBUSY while a writable shared mapping
 * exists and refuses new ones; F_SEAL_FUTURE_WRITE lets existing mappings write on; F_SEAL_GROW,
 * F_SEAL_SHRINK and the write seals against fallocate. */
#include "fs_check.h"
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define PAGE 4096

static int sealable(const char *name) {
    int fd = memfd_create(name, MFD_ALLOW_SEALING);
    ftruncate(fd, 2 * PAGE);
    return fd;
}

static long map_result(void *p) {
    return p == MAP_FAILED ? -1 : 0;
}

static void write_seal(void) {
    int fd = sealable("write");
    char *shared = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    R("map shared writable", map_result(shared));
    R("seal write while mapped", fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE));
    shared[0] = 'a';
    R("munmap", munmap(shared, PAGE));
    char *read_only = mmap(NULL, PAGE, PROT_READ, MAP_SHARED, fd, 0);
    R("map shared read-only", map_result(read_only));
    R("seal write with a read-only shared map", fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE));
    R("munmap read-only", munmap(read_only, PAGE));
    R("seal write unmapped", fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE));
    read_only = mmap(NULL, PAGE, PROT_READ, MAP_SHARED, fd, 0);
    R("map shared read-only after seal", map_result(read_only));
    R("mprotect it writable", mprotect(read_only, PAGE, PROT_READ | PROT_WRITE));
    R("map shared writable after seal", map_result(mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)));
    char *private_map = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    R("map private writable after seal", map_result(private_map));
    private_map[0] = 'p';
    printf("file still has %c\n", read_only[0]);
    R("write after seal", pwrite(fd, "x", 1, 0));
    R("truncate bigger after write seal", ftruncate(fd, 3 * PAGE));
    R("fallocate after write seal", fallocate(fd, 0, 0, 5 * PAGE));
    R("punch hole after write seal", fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, PAGE));
    close(fd);
}

static void private_then_seal(void) {
    int fd = sealable("private");
    char *private_map = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    R("seal write with only a private map", fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE));
    private_map[0] = 'q';
    munmap(private_map, PAGE);
    close(fd);
    fd = sealable("forked");
    char *shared = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    pid_t child = fork();
    if (child == 0) {
        munmap(shared, PAGE);
        R("child: seal write while the parent maps it", fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE));
        _exit(0);
    }
    waitpid(child, NULL, 0);
    munmap(shared, PAGE);
    R("seal write once unmapped everywhere", fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE));
    close(fd);
}

static void future_write(void) {
    int fd = sealable("future");
    char *shared = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    R("seal future write while mapped", fcntl(fd, F_ADD_SEALS, F_SEAL_FUTURE_WRITE));
    shared[1] = 'b';
    char c = 0;
    pread(fd, &c, 1, 1);
    printf("old mapping still writes: %c\n", c);
    R("write after future seal", pwrite(fd, "x", 1, 0));
    R("map shared writable after future seal", map_result(mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)));
    char *read_only = mmap(NULL, PAGE, PROT_READ, MAP_SHARED, fd, 0);
    R("map shared read-only after future seal", map_result(read_only));
    R("mprotect it writable", mprotect(read_only, PAGE, PROT_READ | PROT_WRITE));
    R("map private writable after future seal", map_result(mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0)));
    R("get seals", fcntl(fd, F_GET_SEALS));
    R("seal write over future write with the old map", fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE));
    munmap(shared, PAGE);
    munmap(read_only, PAGE);
    R("seal write over future write unmapped", fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE));
    int readonly_fd = open("/proc/self/fd/3", O_RDONLY);
    R("reopen read-only", readonly_fd >= 0);
    R("seal through a read-only fd", fcntl(readonly_fd, F_ADD_SEALS, F_SEAL_GROW));
    close(readonly_fd);
    close(fd);
}

static void readonly_file_mapping(void) {
    int fd = sealable("plain");
    int readonly_fd = open("/proc/self/fd/3", O_RDONLY);
    char *shared = mmap(NULL, PAGE, PROT_READ, MAP_SHARED, readonly_fd, 0);
    R("map read-only fd shared", map_result(shared));
    R("mprotect that writable", mprotect(shared, PAGE, PROT_READ | PROT_WRITE));
    char *private_map = mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE, readonly_fd, 0);
    R("mprotect a private map of it writable", mprotect(private_map, PAGE, PROT_READ | PROT_WRITE));
    close(readonly_fd);
    close(fd);
}

static void grow_shrink(void) {
    int fd = sealable("grow");
    R("seal grow|shrink", fcntl(fd, F_ADD_SEALS, F_SEAL_GROW | F_SEAL_SHRINK));
    R("fallocate inside", fallocate(fd, 0, 0, PAGE));
    R("fallocate beyond", fallocate(fd, 0, PAGE, 2 * PAGE));
    R("fallocate keep size beyond", fallocate(fd, FALLOC_FL_KEEP_SIZE, PAGE, 2 * PAGE));
    R("punch hole", fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, PAGE));
    R("zero range beyond", fallocate(fd, FALLOC_FL_ZERO_RANGE, PAGE, 2 * PAGE));
    R("write beyond", pwrite(fd, "x", 1, 2 * PAGE));
    struct stat s;
    fstat(fd, &s);
    printf("size %ld\n", (long)s.st_size);
    close(fd);
}

int main(void) {
    write_seal();
    private_then_seal();
    future_write();
    grow_shrink();
    readonly_file_mapping();
    return 0;
}
