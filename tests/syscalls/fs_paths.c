/* Paths and metadata: stat/fstat/lstat/newfstatat, access/faccessat/faccessat2, getcwd,
 * chdir/fchdir, mkdir/mkdirat/rmdir, rename/renameat, link/linkat, unlink/unlinkat,
 * symlink/symlinkat, readlink/readlinkat, chmod/fchmod/fchmodat, chown/fchown/lchown/fchownat,
 * umask, utime/utimes/utimensat, openat, getdents/getdents64, chroot. */
#include "check.h"
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <utime.h>
#include <dirent.h>

struct old_dirent {
    unsigned long d_ino;
    unsigned long d_off;
    unsigned short d_reclen;
    char d_name[];
};

static int count_entries64(int fd)
{
    char buf[4096];
    int n = 0;
    for (;;) {
        long got = sys(SYS_getdents64, fd, buf, sizeof buf);
        if (got <= 0)
            return got < 0 ? -1 : n;
        for (long at = 0; at < got; at += ((struct dirent64 *)(buf + at))->d_reclen)
            n++;
    }
}

static int count_entries_old(int fd, int *saw_type)
{
    char buf[4096];
    int n = 0;
    for (;;) {
        long got = sys(SYS_getdents, fd, buf, sizeof buf);
        if (got <= 0)
            return got < 0 ? -1 : n;
        for (long at = 0; at < got;) {
            struct old_dirent *d = (struct old_dirent *)(buf + at);
            if (strcmp(d->d_name, "file") == 0)
                *saw_type = buf[at + d->d_reclen - 1] == DT_REG;
            at += d->d_reclen;
            n++;
        }
    }
}

static int in_chroot(void)
{
    REQUIRE(sys(SYS_chroot, "dir") == 0);
    REQUIRE(chdir("/") == 0);
    struct stat st;
    REQUIRE(stat("/inner", &st) == 0 && S_ISREG(st.st_mode));
    REQUIRE(stat("/../inner", &st) == 0);
    REQUIRE(sys(SYS_chroot, "missing") == -1 && errno == ENOENT);
    REQUIRE(sys(SYS_chroot, "inner") == -1 && errno == ENOTDIR);
    return 0;
}

static int as_nobody(void)
{
    REQUIRE(setgid(65534) == 0 && setuid(65534) == 0);
    REQUIRE(sys(SYS_access, "secret", R_OK) == -1 && errno == EACCES);
    REQUIRE(sys(SYS_chmod, "secret", 0777) == -1 && errno == EPERM);
    REQUIRE(sys(SYS_chown, "secret", 65534, -1) == -1 && errno == EPERM);
    REQUIRE(sys(SYS_chroot, ".") == -1 && errno == EPERM);
    return 0;
}

int main(void)
{
    enter_scratch();
    struct stat st, st2;
    char buf[256];

    CHECK_RET(sys(SYS_umask, 022), 022);
    CHECK_RET(sys(SYS_umask, 022), 022);
    CHECK_RET(sys(SYS_mkdir, "dir", 0777), 0);
    CHECK(stat("dir", &st) == 0 && (st.st_mode & 0777) == 0755 && S_ISDIR(st.st_mode));
    CHECK_ERR(sys(SYS_mkdir, "dir", 0777), EEXIST);
    CHECK_ERR(sys(SYS_mkdir, "nope/dir", 0777), ENOENT);
    CHECK_OK(sys(SYS_open, ".", O_RDONLY | O_DIRECTORY));
    int here = (int)last;
    CHECK_RET(sys(SYS_mkdirat, here, "dir2", 0700), 0);
    CHECK_ERR(sys(SYS_mkdirat, 999, "dir3", 0700), EBADF);
    CHECK_RET(sys(SYS_rmdir, "dir2"), 0);
    CHECK_ERR(sys(SYS_rmdir, "dir2"), ENOENT);
    CHECK_ERR(sys(SYS_rmdir, "."), EINVAL);

    CHECK_OK(sys(SYS_openat, here, "file", O_CREAT | O_WRONLY, 0666));
    int fd = (int)last;
    CHECK_RET(write(fd, "12345", 5), 5);
    CHECK_OK(sys(SYS_openat, AT_FDCWD, "dir/inner", O_CREAT | O_WRONLY, 0600));
    CHECK_ERR(sys(SYS_openat, fd, "x", O_RDONLY), ENOTDIR);
    CHECK_ERR(sys(SYS_openat, 999, "x", O_RDONLY), EBADF);
    CHECK_OK(sys(SYS_openat, 999, "/tmp", O_RDONLY));

    CHECK_RET(sys(SYS_stat, "file", &st), 0);
    CHECK(st.st_size == 5 && S_ISREG(st.st_mode) && (st.st_mode & 0777) == 0644 && st.st_nlink == 1);
    CHECK_RET(sys(SYS_fstat, fd, &st2), 0);
    CHECK(st.st_ino == st2.st_ino && st.st_dev == st2.st_dev);
    CHECK_ERR(sys(SYS_stat, "missing", &st), ENOENT);
    CHECK_ERR(sys(SYS_stat, "file/x", &st), ENOTDIR);
    CHECK_ERR(sys(SYS_stat, "", &st), ENOENT);
    CHECK_ERR(sys(SYS_stat, "file", (void *)8), EFAULT);
    CHECK_ERR(sys(SYS_fstat, 999, &st), EBADF);

    CHECK_RET(sys(SYS_symlink, "file", "link"), 0);
    CHECK_ERR(sys(SYS_symlink, "file", "link"), EEXIST);
    CHECK_RET(sys(SYS_lstat, "link", &st), 0);
    CHECK(S_ISLNK(st.st_mode) && st.st_size == 4);
    CHECK_RET(sys(SYS_stat, "link", &st), 0);
    CHECK(S_ISREG(st.st_mode));
    CHECK_RET(sys(SYS_newfstatat, here, "link", &st, AT_SYMLINK_NOFOLLOW), 0);
    CHECK(S_ISLNK(st.st_mode));
    CHECK_RET(sys(SYS_newfstatat, fd, "", &st, AT_EMPTY_PATH), 0);
    CHECK(S_ISREG(st.st_mode) && st.st_size == 5);
    CHECK_ERR(sys(SYS_newfstatat, here, "file", &st, 0x4000000), EINVAL);
    CHECK_RET(sys(SYS_symlinkat, "dir", here, "dlink"), 0);
    CHECK_RET(sys(SYS_readlink, "link", buf, sizeof buf), 4);
    CHECK(memcmp(buf, "file", 4) == 0);
    CHECK_RET(sys(SYS_readlink, "link", buf, 2), 2);
    CHECK_ERR(sys(SYS_readlink, "file", buf, sizeof buf), EINVAL);
    CHECK_ERR(sys(SYS_readlink, "link", buf, 0), EINVAL);
    CHECK_RET(sys(SYS_readlinkat, here, "dlink", buf, sizeof buf), 3);
    CHECK_ERR(sys(SYS_symlink, "a", "dir/../missing/x"), ENOENT);

    CHECK_RET(sys(SYS_access, "file", R_OK | W_OK), 0);
    CHECK_ERR(sys(SYS_access, "file", X_OK), EACCES);
    CHECK_ERR(sys(SYS_access, "missing", F_OK), ENOENT);
    CHECK_ERR(sys(SYS_access, "file", 8), EINVAL);
    CHECK_RET(sys(SYS_faccessat, here, "dir", X_OK), 0);
    CHECK_RET(sys(SYS_faccessat2, here, "link", F_OK, AT_SYMLINK_NOFOLLOW), 0);
    CHECK_RET(sys(SYS_faccessat2, here, "file", R_OK, AT_EACCESS), 0);
    CHECK_ERR(sys(SYS_faccessat2, here, "file", R_OK, 0x1), EINVAL);

    CHECK_RET(sys(SYS_link, "file", "hard"), 0);
    CHECK(stat("file", &st) == 0 && st.st_nlink == 2);
    CHECK_ERR(sys(SYS_link, "file", "hard"), EEXIST);
    CHECK_ERR(sys(SYS_link, "dir", "dirlink"), EPERM);
    CHECK_RET(sys(SYS_linkat, here, "link", here, "hard2", 0), 0);
    CHECK(lstat("hard2", &st) == 0 && S_ISLNK(st.st_mode));
    CHECK_RET(sys(SYS_linkat, here, "link", here, "hard3", AT_SYMLINK_FOLLOW), 0);
    CHECK(lstat("hard3", &st) == 0 && S_ISREG(st.st_mode));
    CHECK_ERR(sys(SYS_linkat, here, "file", here, "h4", 0x1), EINVAL);
    CHECK_RET(sys(SYS_unlink, "hard"), 0);
    CHECK_RET(sys(SYS_unlink, "hard2"), 0);
    CHECK_ERR(sys(SYS_unlink, "hard"), ENOENT);
    CHECK_ERR(sys(SYS_unlink, "dir"), EISDIR);
    CHECK_RET(sys(SYS_unlinkat, here, "hard3", 0), 0);
    CHECK_ERR(sys(SYS_unlinkat, here, "file", AT_REMOVEDIR), ENOTDIR);
    CHECK_ERR(sys(SYS_unlinkat, here, "dir", 0x1), EINVAL);

    CHECK_RET(sys(SYS_rename, "file", "file2"), 0);
    CHECK_ERR(sys(SYS_stat, "file", &st), ENOENT);
    CHECK_RET(sys(SYS_renameat, here, "file2", here, "file"), 0);
    CHECK_ERR(sys(SYS_rename, "missing", "x"), ENOENT);
    CHECK_ERR(sys(SYS_rename, "dir", "dir/sub"), EINVAL);
    CHECK_ERR(sys(SYS_rename, "file", "dir"), EISDIR);
    CHECK_ERR(sys(SYS_rename, "dir", "file"), ENOTDIR);
    CHECK_RET(sys(SYS_rename, "file", "file"), 0);

    CHECK_RET(sys(SYS_chmod, "file", 0600), 0);
    CHECK(stat("file", &st) == 0 && (st.st_mode & 07777) == 0600);
    CHECK_RET(sys(SYS_fchmod, fd, 04755), 0);
    CHECK(stat("file", &st) == 0 && (st.st_mode & 07777) == 04755);
    CHECK_RET(sys(SYS_fchmodat, here, "file", 0640), 0);
    CHECK(stat("file", &st) == 0 && (st.st_mode & 07777) == 0640);
    CHECK_ERR(sys(SYS_fchmod, 999, 0600), EBADF);
    CHECK_RET(sys(SYS_fchmodat2, here, "link", 0604, 0), 0);
    CHECK(stat("file", &st) == 0 && (st.st_mode & 07777) == 0604);
    CHECK_ERR(sys(SYS_fchmodat2, here, "link", 0600, AT_SYMLINK_NOFOLLOW), EOPNOTSUPP);
    CHECK_RET(sys(SYS_fchmodat2, fd, "", 0640, AT_EMPTY_PATH), 0);
    CHECK(stat("file", &st) == 0 && (st.st_mode & 07777) == 0640);
    CHECK_ERR(sys(SYS_fchmodat2, here, "file", 0600, 0x2), EINVAL);
    CHECK_ERR(sys(SYS_fchmodat2, here, "", 0600, 0), ENOENT);
    CHECK_ERR(sys(SYS_fchmodat2, here, "missing", 0600, AT_SYMLINK_NOFOLLOW), ENOENT);
    CHECK_ERR(sys(SYS_chmod, "missing", 0600), ENOENT);

    CHECK_RET(sys(SYS_chown, "file", 1, 2), 0);
    CHECK(stat("file", &st) == 0 && st.st_uid == 1 && st.st_gid == 2);
    CHECK_RET(sys(SYS_fchown, fd, -1, 3), 0);
    CHECK(stat("file", &st) == 0 && st.st_uid == 1 && st.st_gid == 3);
    CHECK_RET(sys(SYS_lchown, "link", 4, 4), 0);
    CHECK(lstat("link", &st) == 0 && st.st_uid == 4);
    CHECK(stat("file", &st) == 0 && st.st_uid == 1);
    CHECK_RET(sys(SYS_fchownat, here, "file", 0, 0, 0), 0);
    CHECK_RET(sys(SYS_fchownat, fd, "", 5, 5, AT_EMPTY_PATH), 0);
    CHECK(stat("file", &st) == 0 && st.st_uid == 5);
    CHECK_ERR(sys(SYS_fchownat, here, "file", 0, 0, 0x1), EINVAL);
    CHECK_RET(sys(SYS_chmod, "file", 0600), 0);
    CHECK_RET(open("secret", O_CREAT | O_WRONLY, 0600) >= 0, 1);
    CHECK_RET(chmod(".", 0755), 0);
    IN_CHILD(as_nobody);

    struct utimbuf times = {1000000000, 1200000000};
    CHECK_RET(sys(SYS_utime, "file", &times), 0);
    CHECK(stat("file", &st) == 0 && st.st_atime == 1000000000 && st.st_mtime == 1200000000);
    struct timeval tv[2] = {{1300000000, 5}, {1400000000, 7}};
    CHECK_RET(sys(SYS_utimes, "file", tv), 0);
    CHECK(stat("file", &st) == 0 && st.st_mtime == 1400000000 && st.st_mtim.tv_nsec == 7000);
    tv[0].tv_usec = 1000000;
    CHECK_ERR(sys(SYS_utimes, "file", tv), EINVAL);
    struct timespec ts[2] = {{1500000000, 1}, {0, UTIME_OMIT}};
    CHECK_RET(sys(SYS_utimensat, here, "file", ts, 0), 0);
    CHECK(stat("file", &st) == 0 && st.st_atime == 1500000000 && st.st_atim.tv_nsec == 1 && st.st_mtime == 1400000000);
    CHECK_RET(sys(SYS_utimensat, fd, NULL, ts, 0), 0);
    CHECK_RET(sys(SYS_utimensat, here, "link", ts, AT_SYMLINK_NOFOLLOW), 0);
    ts[1].tv_nsec = 1000000000;
    CHECK_ERR(sys(SYS_utimensat, here, "file", ts, 0), EINVAL);
    CHECK_ERR(sys(SYS_utimensat, here, "file", NULL, 0x1), EINVAL);
    CHECK_ERR(sys(SYS_utime, "missing", NULL), ENOENT);
    tv[0].tv_usec = 3;
    CHECK_RET(sys(SYS_futimesat, here, "file", tv), 0);
    CHECK(stat("file", &st) == 0 && st.st_atime == 1300000000 && st.st_atim.tv_nsec == 3000);
    CHECK_RET(sys(SYS_futimesat, fd, NULL, NULL), 0);
    CHECK_ERR(sys(SYS_futimesat, AT_FDCWD, NULL, NULL), EFAULT);
    CHECK_ERR(sys(SYS_futimesat, 999, "file", NULL), EBADF);
    CHECK_ERR(sys(SYS_futimesat, here, "missing", NULL), ENOENT);
    tv[1].tv_usec = -1;
    CHECK_ERR(sys(SYS_futimesat, here, "file", tv), EINVAL);

    CHECK_RET(sys(SYS_getcwd, buf, sizeof buf), (long)strlen(scratch) + 1);
    CHECK(strcmp(buf, scratch) == 0);
    CHECK_ERR(sys(SYS_getcwd, buf, 3), ERANGE);
    CHECK_RET(sys(SYS_chdir, "dir"), 0);
    CHECK(getcwd(buf, sizeof buf) && strcmp(buf + strlen(scratch), "/dir") == 0);
    CHECK_ERR(sys(SYS_chdir, "missing"), ENOENT);
    CHECK_ERR(sys(SYS_chdir, "inner"), ENOTDIR);
    CHECK_RET(sys(SYS_fchdir, here), 0);
    CHECK(getcwd(buf, sizeof buf) && strcmp(buf, scratch) == 0);
    CHECK_ERR(sys(SYS_fchdir, fd), ENOTDIR);
    CHECK_ERR(sys(SYS_fchdir, 999), EBADF);

    CHECK_OK(open("dir", O_RDONLY | O_DIRECTORY));
    int dir = (int)last;
    CHECK_RET(count_entries64(dir), 3);
    CHECK_RET(lseek(dir, 0, SEEK_SET), 0);
    int saw_type = 0;
    CHECK_RET(count_entries_old(here, &saw_type), 7);
    CHECK(saw_type);
    CHECK_ERR(sys(SYS_getdents64, fd, buf, sizeof buf), ENOTDIR);
    CHECK_ERR(sys(SYS_getdents64, 999, buf, sizeof buf), EBADF);
    CHECK_RET(lseek(dir, 0, SEEK_SET), 0);
    CHECK_ERR(sys(SYS_getdents64, dir, buf, 4), EINVAL);
    CHECK_ERR(sys(SYS_getdents, dir, buf, 4), EINVAL);

    IN_CHILD(in_chroot);
    return done();
}
