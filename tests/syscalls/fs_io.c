/* File I/O: read, write, open, creat, close, lseek, pread64/pwrite64, readv/writev,
 * preadv/pwritev, dup/dup2/dup3, sendfile, fsync/fdatasync/sync/syncfs, truncate/ftruncate,
 * fadvise64, close_range. */
#include "check.h"
#include <fcntl.h>
#include <sys/sendfile.h>
#include <sys/uio.h>
#include <linux/close_range.h>

int main(void)
{
    enter_scratch();
    char buf[64];

    CHECK_OK(sys(SYS_open, "a", O_CREAT | O_RDWR | O_TRUNC, 0644));
    int fd = (int)last;
    CHECK_RET(sys(SYS_write, fd, "hello world", 11), 11);
    CHECK_RET(sys(SYS_lseek, fd, 0, SEEK_CUR), 11);
    CHECK_RET(sys(SYS_lseek, fd, 0, SEEK_SET), 0);
    CHECK_RET(sys(SYS_read, fd, buf, sizeof buf), 11);
    CHECK(memcmp(buf, "hello world", 11) == 0);
    CHECK_RET(sys(SYS_read, fd, buf, sizeof buf), 0);
    CHECK_ERR(sys(SYS_lseek, fd, -1L, SEEK_SET), EINVAL);
    CHECK_ERR(sys(SYS_lseek, fd, 0, 17), EINVAL);
    CHECK_RET(sys(SYS_lseek, fd, 100, SEEK_SET), 100);
    CHECK_RET(sys(SYS_lseek, fd, -5L, SEEK_END), 6);
    CHECK_ERR(sys(SYS_read, 999, buf, 1), EBADF);
    CHECK_ERR(sys(SYS_write, 999, buf, 1), EBADF);
    CHECK_ERR(sys(SYS_pread64, fd, (void *)8, 4, 0L), EFAULT);
    CHECK_RET(sys(SYS_write, fd, buf, 0), 0);

    CHECK_RET(sys(SYS_pread64, fd, buf, 5, 6), 5);
    CHECK(memcmp(buf, "world", 5) == 0);
    CHECK_RET(sys(SYS_pwrite64, fd, "W", 1, 6), 1);
    CHECK_RET(sys(SYS_lseek, fd, 0, SEEK_CUR), 6);
    CHECK_ERR(sys(SYS_pread64, fd, buf, 1, -1L), EINVAL);
    int pipefd[2];
    CHECK_OK(pipe(pipefd));
    CHECK_ERR(sys(SYS_pread64, pipefd[0], buf, 1, 0), ESPIPE);
    CHECK_ERR(sys(SYS_lseek, pipefd[0], 0, SEEK_SET), ESPIPE);

    char a[3], b[8];
    struct iovec iov[2] = {{a, sizeof a}, {b, sizeof b}};
    CHECK_RET(sys(SYS_lseek, fd, 0, SEEK_SET), 0);
    CHECK_RET(sys(SYS_readv, fd, iov, 2), 11);
    CHECK(memcmp(a, "hel", 3) == 0 && memcmp(b, "lo World", 8) == 0);
    struct iovec out[2] = {{"ab", 2}, {"cd", 2}};
    CHECK_RET(sys(SYS_writev, fd, out, 2), 4);
    CHECK_ERR(sys(SYS_writev, fd, out, -1), EINVAL);
    CHECK_ERR(sys(SYS_readv, fd, out, 1025), EINVAL);
    CHECK_RET(sys(SYS_preadv, fd, iov, 2, 11, 0), 4);
    CHECK(memcmp(a, "abc", 3) == 0 && b[0] == 'd');
    CHECK_RET(sys(SYS_pwritev, fd, out, 1, 0, 0), 2);
    CHECK_ERR(sys(SYS_preadv, fd, iov, 2, -1L, -1L), EINVAL);

    CHECK_OK(sys(SYS_dup, fd));
    int copy = (int)last;
    CHECK_RET(sys(SYS_lseek, copy, 3, SEEK_SET), 3);
    CHECK_RET(sys(SYS_lseek, fd, 0, SEEK_CUR), 3);
    CHECK_RET(sys(SYS_dup2, fd, 50), 50);
    CHECK_RET(sys(SYS_dup2, 50, 50), 50);
    CHECK_ERR(sys(SYS_dup2, 999, 51), EBADF);
    CHECK_RET(sys(SYS_dup3, fd, 51, O_CLOEXEC), 51);
    CHECK_RET(fcntl(51, F_GETFD), FD_CLOEXEC);
    CHECK_ERR(sys(SYS_dup3, 51, 51, 0), EINVAL);
    CHECK_ERR(sys(SYS_dup3, fd, 52, O_APPEND), EINVAL);
    CHECK_ERR(sys(SYS_dup, 999), EBADF);
    CHECK_RET(sys(SYS_close, 50), 0);
    CHECK_ERR(sys(SYS_close, 50), EBADF);

    CHECK_OK(sys(SYS_creat, "b", 0600));
    int out_fd = (int)last;
    off_t offset = 2;
    CHECK_RET(sys(SYS_sendfile, out_fd, fd, &offset, 5), 5);
    CHECK(offset == 7);
    CHECK_RET(sys(SYS_lseek, fd, 0, SEEK_CUR), 3);
    CHECK_RET(sys(SYS_sendfile, out_fd, fd, NULL, 100), 12);
    CHECK_RET(sys(SYS_lseek, out_fd, 0, SEEK_END), 17);
    CHECK_ERR(sys(SYS_sendfile, out_fd, 999, NULL, 1), EBADF);
    CHECK_ERR(sys(SYS_read, out_fd, buf, 1), EBADF);

    CHECK_RET(sys(SYS_fsync, fd), 0);
    CHECK_RET(sys(SYS_fdatasync, fd), 0);
    CHECK_ERR(sys(SYS_fsync, 999), EBADF);
    CHECK_RET(sys(SYS_syncfs, fd), 0);
    CHECK_ERR(sys(SYS_syncfs, 999), EBADF);
    CHECK_RET(sys(SYS_sync), 0);

    CHECK_RET(sys(SYS_ftruncate, fd, 4), 0);
    struct stat st;
    CHECK(fstat(fd, &st) == 0 && st.st_size == 4);
    CHECK_RET(sys(SYS_truncate, "a", 100), 0);
    CHECK(fstat(fd, &st) == 0 && st.st_size == 100);
    CHECK_ERR(sys(SYS_truncate, "a", -1L), EINVAL);
    CHECK_ERR(sys(SYS_ftruncate, fd, -1L), EINVAL);
    CHECK_ERR(sys(SYS_truncate, "missing", 0), ENOENT);
    CHECK_ERR(sys(SYS_truncate, ".", 0), EISDIR);
    CHECK_ERR(sys(SYS_ftruncate, pipefd[0], 0), EINVAL);
    int rd = open("a", O_RDONLY);
    CHECK_ERR(sys(SYS_ftruncate, rd, 0), EINVAL);

    CHECK_RET(sys(SYS_fadvise64, fd, 0, 0, POSIX_FADV_SEQUENTIAL), 0);
    CHECK_ERR(sys(SYS_fadvise64, fd, 0, 0, 99), EINVAL);
    CHECK_ERR(sys(SYS_fadvise64, pipefd[0], 0, 0, POSIX_FADV_NORMAL), ESPIPE);
    CHECK_ERR(sys(SYS_fadvise64, 999, 0, 0, POSIX_FADV_NORMAL), EBADF);

    CHECK_RET(dup2(fd, 60), 60);
    CHECK_RET(dup2(fd, 61), 61);
    CHECK_RET(dup2(fd, 62), 62);
    CHECK_RET(sys(SYS_close_range, 61, 62, CLOSE_RANGE_CLOEXEC), 0);
    CHECK_RET(fcntl(61, F_GETFD), FD_CLOEXEC);
    CHECK_RET(sys(SYS_close_range, 60, ~0U, 0), 0);
    CHECK_ERR(fcntl(60, F_GETFD), EBADF);
    CHECK_ERR(fcntl(62, F_GETFD), EBADF);
    CHECK_ERR(sys(SYS_close_range, 5, 4, 0), EINVAL);
    CHECK_ERR(sys(SYS_close_range, 0, 1, 0x80), EINVAL);

    CHECK_ERR(sys(SYS_open, "missing", O_RDONLY), ENOENT);
    CHECK_ERR(sys(SYS_open, "a", O_CREAT | O_EXCL | O_WRONLY, 0600), EEXIST);
    CHECK_ERR(sys(SYS_open, "a/x", O_RDONLY), ENOTDIR);
    CHECK_ERR(sys(SYS_open, ".", O_WRONLY), EISDIR);
    CHECK_ERR(sys(SYS_open, "a", O_RDONLY | O_DIRECTORY), ENOTDIR);
    CHECK_ERR(sys(SYS_open, (char *)8, O_RDONLY), EFAULT);
    CHECK_OK(sys(SYS_open, ".", O_RDONLY | O_DIRECTORY));
    CHECK_OK(sys(SYS_open, "c", O_WRONLY | O_CREAT | O_APPEND, 0600));
    int app = (int)last;
    CHECK_RET(write(app, "xy", 2), 2);
    CHECK_RET(sys(SYS_pwrite64, app, "z", 1, 0), 1);
    CHECK(fstat(app, &st) == 0 && st.st_size == 3);
    return done();
}
