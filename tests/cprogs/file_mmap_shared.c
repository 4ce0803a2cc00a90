/* MAP_SHARED mappings of a file: a write through one mapping shows in another process's own
 * mapping and in read(); a write(2) to the file shows in the mappings. argv[1] is a writable
 * directory. Small (8 KiB) and large (1 MiB) files. */
#include "fs_check.h"
#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

static void check(const char *dir, size_t size) {
    char path[300];
    snprintf(path, sizeof path, "%s/shared-%d-%zu", dir, (int)getpid(), size);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    ftruncate(fd, size);
    char *mine = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    pid_t child = fork();
    if (child == 0) {
        int own = open(path, O_RDWR);
        char *theirs = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, own, 0);
        memcpy(theirs + 100, "child wrote", 11);
        memcpy(theirs + size - 5, "tail", 4);
        msync(theirs, size, MS_SYNC);
        _exit(0);
    }
    waitpid(child, NULL, 0);
    printf("%zu: parent mapping sees [%.11s] [%.4s]\n", size, mine + 100, mine + size - 5);
    char buf[16] = {0};
    pread(fd, buf, 11, 100);
    printf("%zu: read() sees [%s]\n", size, buf);
    pwrite(fd, "by pwrite", 9, 200);
    printf("%zu: mapping sees pwrite [%.9s]\n", size, mine + 200);
    memcpy(mine + 300, "parent map", 10);
    int other = open(path, O_RDONLY);
    memset(buf, 0, sizeof buf);
    pread(other, buf, 10, 300);
    printf("%zu: another open reads [%s]\n", size, buf);
    munmap(mine, size);
    close(other);
    close(fd);
    unlink(path);
}

int main(int argc, char **argv) {
    check(argv[1], 8192);
    check(argv[1], 1 << 20);
    return 0;
}
