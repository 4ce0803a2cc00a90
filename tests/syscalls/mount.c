/* Mounts: umount2 and pivot_root's errnos (with mount to have something to unmount). Natively the
 * test runs in its own mount namespace, so the host's mounts are never touched; the sandbox's are
 * its own anyway. */
#include "check.h"
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <fcntl.h>

int main(void)
{
    isolate(CLONE_NEWNS, "mounts");
    if (errno == 0)
        mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL);
    enter_scratch();
    CHECK_RET(mkdir("mnt", 0755), 0);
    CHECK_RET(mount("none", "mnt", "tmpfs", 0, NULL), 0);
    CHECK_RET(close(open("mnt/file", O_CREAT | O_WRONLY, 0600)), 0);
    CHECK_ERR(sys(SYS_umount2, "mnt", 0x100), EINVAL);
    CHECK_ERR(sys(SYS_umount2, "missing", 0), ENOENT);
    CHECK_ERR(sys(SYS_umount2, ".", 0), EINVAL);
    CHECK_ERR(sys(SYS_umount2, "mnt", MNT_EXPIRE | MNT_FORCE), EINVAL);
    CHECK_ERR(sys(SYS_umount2, "mnt", MNT_EXPIRE), EAGAIN);
    CHECK_OK(open("mnt", O_RDONLY | O_DIRECTORY));
    int inside = (int)last;
    CHECK_ERR(sys(SYS_umount2, "mnt/file", 0), EINVAL);
    CHECK_RET(mkdir("mnt/sub", 0755), 0);
    CHECK_ERR(sys(SYS_pivot_root, "missing", "mnt"), ENOENT);
    CHECK_ERR(sys(SYS_pivot_root, "mnt/file", "mnt"), ENOTDIR);
    CHECK_ERR(sys(SYS_pivot_root, "mnt/sub", "mnt/sub"), EINVAL);  /* not a mount point */
    CHECK_RET(sys(SYS_umount2, "mnt", MNT_DETACH), 0);
    struct stat st;
    CHECK_ERR(stat("mnt/file", &st), ENOENT);
    CHECK_RET(fstatat(inside, "file", &st, 0), 0);
    CHECK_ERR(sys(SYS_umount2, "mnt", 0), EINVAL);
    close(inside);
    CHECK_RET(mount("none", "mnt", "tmpfs", 0, NULL), 0);
    CHECK_RET(sys(SYS_umount2, "mnt", UMOUNT_NOFOLLOW), 0);
    return done();
}
