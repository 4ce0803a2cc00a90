/* memfd_create(2) flags and names, and F_ADD_SEALS / F_GET_SEALS enforcement. */
#include "fs_check.h"
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int main(void) {
    int fd = memfd_create("test", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    struct stat s; fstat(fd, &s);
    printf("mode %o nlink %ld size %ld fdflags %d\n", s.st_mode, (long)s.st_nlink, (long)s.st_size, fcntl(fd, F_GETFD));
    R("write", write(fd, "hello world", 11));
    R("get seals", fcntl(fd, F_GET_SEALS));
    R("add shrink|grow", fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW));
    R("truncate smaller", ftruncate(fd, 5));
    R("truncate bigger", ftruncate(fd, 50));
    R("overwrite in place", pwrite(fd, "HELLO", 5, 0));
    R("append", pwrite(fd, "!", 1, 11));
    R("add write", fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE));
    R("write sealed", pwrite(fd, "x", 1, 0));
    R("add seal", fcntl(fd, F_ADD_SEALS, F_SEAL_SEAL));
    R("add after seal", fcntl(fd, F_ADD_SEALS, F_SEAL_GROW));
    R("get seals", fcntl(fd, F_GET_SEALS));
    char buf[32] = {0}; R("pread", pread(fd, buf, 31, 0)); printf("data %s\n", buf);
    int plain = memfd_create("plain", 0);
    R("plain get seals", fcntl(plain, F_GET_SEALS));
    R("plain add seals", fcntl(plain, F_ADD_SEALS, F_SEAL_WRITE));
    R("bad flags", memfd_create("x", 0x100));
    char longname[300]; memset(longname, 'a', 299); longname[299] = 0;
    R("long name", memfd_create(longname, 0));
    char *volatile bad = (char *)8;
    R("bad name ptr", memfd_create(bad, 0));
    int p[2];
    pipe(p);
    R("seals on a pipe", fcntl(p[0], F_GET_SEALS));
    int tmp = open("/tmp", O_RDONLY);
    R("seals on a dir", fcntl(tmp, F_GET_SEALS));
    return 0;
}
