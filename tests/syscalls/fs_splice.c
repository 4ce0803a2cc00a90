/* Moving data between files without user buffers, and newer open/sync calls: splice, tee,
 * vmsplice, copy_file_range, sync_file_range, openat2. */
#include "check.h"
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/uio.h>

int main(void)
{
    enter_scratch();
    char buf[64];
    int file = open("data", O_CREAT | O_RDWR | O_TRUNC, 0644);
    CHECK_RET(write(file, "0123456789", 10), 10);
    int p[2], q[2];
    CHECK_RET(pipe(p), 0);
    CHECK_RET(pipe(q), 0);

    loff_t off = 2;
    CHECK_RET(sys(SYS_splice, file, &off, p[1], NULL, 5, 0), 5);
    CHECK(off == 7);
    CHECK_RET(sys(SYS_tee, p[0], q[1], 100, 0), 5);
    CHECK_RET(read(q[0], buf, sizeof buf), 5);
    CHECK(memcmp(buf, "23456", 5) == 0);
    int out = open("out", O_CREAT | O_RDWR | O_TRUNC, 0644);
    CHECK_RET(sys(SYS_splice, p[0], NULL, out, NULL, 100, 0), 5);
    CHECK_RET(pread(out, buf, sizeof buf, 0), 5);
    CHECK(memcmp(buf, "23456", 5) == 0);
    CHECK_ERR(sys(SYS_splice, file, NULL, out, NULL, 5, 0), EINVAL);
    CHECK_ERR(sys(SYS_splice, p[0], &off, out, NULL, 5, 0), ESPIPE);
    CHECK_ERR(sys(SYS_splice, 999, NULL, p[1], NULL, 5, 0), EBADF);
    CHECK_ERR(sys(SYS_splice, file, NULL, p[1], NULL, 5, 0x100), EINVAL);
    CHECK_ERR(sys(SYS_tee, file, q[1], 5, 0), EINVAL);
    CHECK_ERR(sys(SYS_tee, p[0], p[1], 5, 0), EINVAL);
    CHECK_RET(sys(SYS_splice, p[0], NULL, out, NULL, 5, SPLICE_F_NONBLOCK), -1);
    CHECK(errno == EAGAIN);

    struct iovec iov[2] = {{"ab", 2}, {"cde", 3}};
    CHECK_RET(sys(SYS_vmsplice, p[1], iov, 2, 0), 5);
    CHECK_RET(read(p[0], buf, sizeof buf), 5);
    CHECK(memcmp(buf, "abcde", 5) == 0);
    CHECK_ERR(sys(SYS_vmsplice, file, iov, 2, 0), EBADF);

    loff_t in_off = 0, out_off = 3;
    CHECK_RET(sys(SYS_copy_file_range, file, &in_off, out, &out_off, 4, 0), 4);
    CHECK(in_off == 4 && out_off == 7);
    CHECK_RET(pread(out, buf, sizeof buf, 0), 7);
    CHECK(memcmp(buf, "2340123", 7) == 0);
    CHECK_RET(lseek(file, 8, SEEK_SET), 8);
    CHECK_RET(sys(SYS_copy_file_range, file, NULL, out, NULL, 100, 0), 2);
    CHECK_RET(sys(SYS_copy_file_range, file, NULL, out, NULL, 100, 0), 0);
    CHECK_ERR(sys(SYS_copy_file_range, file, NULL, out, NULL, 1, 1), EINVAL);
    CHECK_ERR(sys(SYS_copy_file_range, p[0], NULL, out, NULL, 1, 0), EINVAL);
    int rd = open("data", O_RDONLY);
    CHECK_ERR(sys(SYS_copy_file_range, file, NULL, rd, NULL, 1, 0), EBADF);

    CHECK_RET(sys(SYS_sync_file_range, file, 0L, 0L, SYNC_FILE_RANGE_WRITE), 0);
    CHECK_ERR(sys(SYS_sync_file_range, file, -1L, 0L, 0), EINVAL);
    CHECK_ERR(sys(SYS_sync_file_range, file, 0L, 0L, 8), EINVAL);
    CHECK_ERR(sys(SYS_sync_file_range, p[0], 0L, 0L, 0), ESPIPE);
    CHECK_ERR(sys(SYS_sync_file_range, 999, 0L, 0L, 0), EBADF);

    struct open_how how = {.flags = O_RDONLY};
    CHECK_OK(sys(SYS_openat2, AT_FDCWD, "data", &how, sizeof how));
    how.mode = 0600;
    CHECK_ERR(sys(SYS_openat2, AT_FDCWD, "data", &how, sizeof how), EINVAL);
    how.mode = 0;
    CHECK_ERR(sys(SYS_openat2, AT_FDCWD, "data", &how, 8), EINVAL);
    symlink("data", "link");
    mkdir("dir", 0755);
    how.resolve = RESOLVE_NO_SYMLINKS;
    CHECK_ERR(sys(SYS_openat2, AT_FDCWD, "link", &how, sizeof how), ELOOP);
    int dir = open("dir", O_RDONLY | O_DIRECTORY);
    how.resolve = RESOLVE_BENEATH;
    CHECK_ERR(sys(SYS_openat2, dir, "../data", &how, sizeof how), EXDEV);
    CHECK_ERR(sys(SYS_openat2, dir, "/etc/passwd", &how, sizeof how), EXDEV);
    how.resolve = RESOLVE_IN_ROOT;
    CHECK_ERR(sys(SYS_openat2, dir, "../data", &how, sizeof how), ENOENT);
    how.resolve = 0x100;
    CHECK_ERR(sys(SYS_openat2, AT_FDCWD, "data", &how, sizeof how), EINVAL);
    struct { struct open_how how; unsigned long extra; } bigger = {{.flags = O_RDONLY}, 1};
    CHECK_ERR(sys(SYS_openat2, AT_FDCWD, "data", &bigger, sizeof bigger), E2BIG);
    bigger.extra = 0;
    CHECK_OK(sys(SYS_openat2, AT_FDCWD, "data", &bigger, sizeof bigger));
    return done();
}
