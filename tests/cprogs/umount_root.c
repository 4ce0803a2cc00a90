/* umount2(2) on the task's root: Linux "unmounts" it by remounting its filesystem read-only
 * (unless MNT_DETACH, which takes the mount out of the namespace like any other), and refuses
 * MNT_EXPIRE there. Run as root, chrooted to a tmpfs of its own (never a host filesystem: the
 * read-only remount is the filesystem's: it refuses any other root unless argv[1] is
 * "--any-root", for the sandbox, whose filesystems are its own), with proc on its /proc. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/magic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fs_check.h"

static void set_sys_admin(int on)
{
    struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2];
    syscall(SYS_capget, &header, data);
    data[0].effective = on ? data[0].permitted : data[0].permitted & ~(1u << CAP_SYS_ADMIN);
    data[1].effective = data[1].permitted;
    syscall(SYS_capset, &header, data);
}

/* What the root looks like: writable or not, statvfs's ST_RDONLY, and mountinfo's options of
 * the mount at "/" (per-mount, then the filesystem's). */
static void show_root(const char *when)
{
    struct statvfs figures;
    char line[1024], mount_options[256], fs_options[256], point[256];
    int fd = open("/probe", O_CREAT | O_WRONLY, 0644);
    printf("%s: create %s", when, fd < 0 ? strerrorname_np(errno) : "ok");
    if (fd >= 0) {
        close(fd);
        unlink("/probe");
    }
    if (statvfs("/", &figures) == 0)
        printf(", statvfs %s", figures.f_flag & ST_RDONLY ? "ro" : "rw");
    FILE *f = fopen("/proc/self/mountinfo", "r");
    if (f == NULL)
        printf(", mountinfo %s", strerrorname_np(errno));
    while (f && fgets(line, sizeof line, f)) {
        const char *after = strstr(line, " - ");
        if (sscanf(line, "%*d %*d %*s %*s %255s %255s", point, mount_options) == 2 && after
                && strcmp(point, "/") == 0 && sscanf(after, " - %*s %*s %255s", fs_options) == 1)
            printf(", mountinfo / %s %s", mount_options, fs_options);
    }
    if (f)
        fclose(f);
    printf("\n");
}

int main(int argc, char **argv)
{
    struct statfs root_fs;
    int any_root = argc > 1 && strcmp(argv[1], "--any-root") == 0;
    if (!any_root && (statfs("/", &root_fs) != 0 || root_fs.f_type != TMPFS_MAGIC)) {
        fprintf(stderr, "umount_root: / is no tmpfs: refusing to remount it read-only\n");
        return 2;
    }
    show_root("at first");
    report("umount2 / bad flags", umount2("/", 0x100));
    report("umount2 / MNT_EXPIRE", umount2("/", MNT_EXPIRE));
    report("umount2 / MNT_EXPIRE|MNT_DETACH", umount2("/", MNT_EXPIRE | MNT_DETACH));
    set_sys_admin(0);
    report("umount2 / without CAP_SYS_ADMIN", umount2("/", 0));
    report("umount2 / MNT_DETACH without CAP_SYS_ADMIN", umount2("/", MNT_DETACH));
    set_sys_admin(1);
    show_root("still");
    report("umount2 /", umount2("/", 0));
    show_root("after umount2 /");
    report("umount2 / again", umount2("/", 0));
    report("remount / rw", mount(NULL, "/", NULL, MS_REMOUNT, NULL));
    show_root("after remount rw");
    report("umount2 / MNT_FORCE", umount2("/", MNT_FORCE));
    show_root("after MNT_FORCE");
    report("remount / rw", mount(NULL, "/", NULL, MS_REMOUNT, NULL));
    report("umount2 . (the root)", chdir("/") == 0 ? umount2(".", 0) : -1);
    show_root("after umount2 .");
    report("remount / rw", mount(NULL, "/", NULL, MS_REMOUNT, NULL));
    report("umount2 / MNT_DETACH", umount2("/", MNT_DETACH));
    show_root("after MNT_DETACH");
    report("umount2 / once detached", umount2("/", 0));
    report("umount2 / MNT_DETACH once detached", umount2("/", MNT_DETACH));
    return 0;
}
