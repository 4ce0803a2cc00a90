/* fallocate(2) modes and errors on a file in argv[1]: plain allocation, KEEP_SIZE, PUNCH_HOLE,
 * ZERO_RANGE, COLLAPSE_RANGE, INSERT_RANGE (each as the filesystem supports it), and the checks
 * every filesystem shares. Prints sizes and a digest of the contents after each change. */
#include "fs_check.h"
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define BLOCK 4096

static int fd;

static void show(const char *what) {
    struct stat s;
    fstat(fd, &s);
    uint32_t digest = 2166136261u;
    unsigned char buf[BLOCK];
    ssize_t n;
    off_t at = 0;
    while ((n = pread(fd, buf, sizeof buf, at)) > 0) {
        for (ssize_t i = 0; i < n; i++)
            digest = (digest ^ buf[i]) * 16777619u;
        at += n;
    }
    printf("%s: size %ld digest %08x\n", what, (long)s.st_size, digest);
}

static void fill(void) {
    unsigned char buf[4 * BLOCK];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = 'a' + i / 512 % 26;
    ftruncate(fd, 0);
    pwrite(fd, buf, sizeof buf, 0);
}

#define F(what, mode, offset, length) do { R(what, fallocate(fd, mode, offset, length)); show(what); } while (0)

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: fallocate_modes DIR\n");
        return 2;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/fallocate.dat", argv[1]);
    unlink(path);
    fd = open(path, O_RDWR | O_CREAT, 0644);
    fill();
    show("start");
    F("allocate inside", 0, 0, BLOCK);
    F("allocate beyond", 0, 2 * BLOCK, 4 * BLOCK);
    F("keep size beyond", FALLOC_FL_KEEP_SIZE, 6 * BLOCK, 4 * BLOCK);
    F("punch without keep size", FALLOC_FL_PUNCH_HOLE, 0, BLOCK);
    F("punch a block", FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, BLOCK, BLOCK);
    F("punch unaligned", FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 100, 300);
    F("punch past the end", FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 5 * BLOCK, 10 * BLOCK);
    F("punch and zero", FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, 0, BLOCK);
    fill();
    F("zero range", FALLOC_FL_ZERO_RANGE, 1000, 2000);
    F("zero range growing", FALLOC_FL_ZERO_RANGE, 3 * BLOCK, 3 * BLOCK);
    F("zero range keep size", FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, 5 * BLOCK, 3 * BLOCK);
    fill();
    F("collapse a block", FALLOC_FL_COLLAPSE_RANGE, BLOCK, BLOCK);
    F("collapse unaligned", FALLOC_FL_COLLAPSE_RANGE, 100, BLOCK);
    F("collapse to the end", FALLOC_FL_COLLAPSE_RANGE, BLOCK, 2 * BLOCK);
    F("collapse with keep size", FALLOC_FL_COLLAPSE_RANGE | FALLOC_FL_KEEP_SIZE, 0, BLOCK);
    fill();
    F("insert a block", FALLOC_FL_INSERT_RANGE, BLOCK, BLOCK);
    F("insert at the end", FALLOC_FL_INSERT_RANGE, 5 * BLOCK, BLOCK);
    F("insert unaligned", FALLOC_FL_INSERT_RANGE, 0, 100);
    F("unknown mode", 0x1000, 0, BLOCK);
    F("negative offset", 0, -1, BLOCK);
    F("zero length", 0, 0, 0);
    F("wrapping", 0, INT64_MAX - 10, 100);
    F("huge", FALLOC_FL_KEEP_SIZE, INT64_MAX / 2, INT64_MAX / 2);

    int readonly = open(path, O_RDONLY);
    R("read-only fd", fallocate(readonly, 0, 0, BLOCK));
    R("read-only fd, bad mode", fallocate(readonly, 0x1000, 0, BLOCK));
    R("read-only fd, bad length", fallocate(readonly, 0, 0, 0));
    int path_fd = open(path, O_PATH);
    R("O_PATH fd", fallocate(path_fd, 0, 0, BLOCK));
    R("bad fd", fallocate(999, 0, 0, BLOCK));
    int p[2];
    pipe(p);
    R("pipe", fallocate(p[1], 0, 0, BLOCK));
    int s[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, s);
    R("socket", fallocate(s[0], 0, 0, BLOCK));
    int dir = open(argv[1], O_RDONLY | O_DIRECTORY);
    R("directory", fallocate(dir, 0, 0, BLOCK));
    int null = open("/dev/null", O_WRONLY);
    R("/dev/null", fallocate(null, 0, 0, BLOCK));
    close(fd);
    unlink(path);
    return 0;
}
