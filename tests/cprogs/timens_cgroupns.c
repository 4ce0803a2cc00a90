/* Cgroup namespaces (cgroup_namespaces(7)), next to the time namespace tests: unshare(2),
 * clone(2) and setns(2) with CLONE_NEWCGROUP, /proc/PID/ns/cgroup, the cgroup v2 line of
 * /proc/self/cgroup as each namespace sees it, a cgroup2 mount made inside the namespace
 * (its root in mountinfo), EPERM without CAP_SYS_ADMIN, setns with a pidfd for both cgroup
 * and time namespaces. Prints only outcomes, so native (as root) and sandboxed runs match. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "timens_check.h"

static void v2_line(const char *label, const char *path) {
    char line[512];
    FILE *f = fopen(path, "r");
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "0::", 3) == 0)
            printf("%s: %s", label, line);
    if (f)
        fclose(f);
}

static void cgroup2_mount_root(const char *where) {
    char line[1024];
    FILE *f = fopen("/proc/self/mountinfo", "r");
    while (f && fgets(line, sizeof line, f)) {
        char root[256], point[256];
        if (sscanf(line, "%*d %*d %*s %255s %255s", root, point) == 2 && strcmp(point, where) == 0)
            printf("cgroup2 mount in the namespace: root %s\n", root);
    }
    if (f)
        fclose(f);
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    char first[64], link[64];
    link_of("/proc/self/ns/cgroup", first, sizeof first);
    int first_fd = open("/proc/self/ns/cgroup", O_RDONLY);
    v2_line("first namespace", "/proc/self/cgroup");

    result("unshare(CLONE_NEWCGROUP)", unshare(CLONE_NEWCGROUP | CLONE_NEWNS));
    link_of("/proc/self/ns/cgroup", link, sizeof link);
    printf("after unshare: link differs %d\n", strcmp(link, first) != 0);
    v2_line("new namespace", "/proc/self/cgroup");
    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL);
    mkdir("/tmp/cgns-mnt", 0700);
    result("mount cgroup2", mount("none", "/tmp/cgns-mnt", "cgroup2", 0, NULL));
    cgroup2_mount_root("/tmp/cgns-mnt");
    umount("/tmp/cgns-mnt");
    rmdir("/tmp/cgns-mnt");
    int second_fd = open("/proc/self/ns/cgroup", O_RDONLY);

    int ready[2];
    pipe(ready);
    pid_t pid = syscall(SYS_clone, CLONE_NEWCGROUP | SIGCHLD, 0, 0, 0, 0);
    if (pid == 0) {
        char mine[64];
        link_of("/proc/self/ns/cgroup", mine, sizeof mine);
        printf("clone(CLONE_NEWCGROUP) child: own namespace %d\n", strcmp(mine, link) != 0 && strcmp(mine, first) != 0);
        v2_line("clone child", "/proc/self/cgroup");
        write(ready[1], "x", 1);
        pause();
        _exit(0);
    }
    char c;
    read(ready[0], &c, 1);
    result("setns(cgroup fd, CLONE_NEWUTS)", setns(first_fd, CLONE_NEWUTS));
    result("setns(first cgroup namespace, CLONE_NEWCGROUP)", setns(first_fd, CLONE_NEWCGROUP));
    link_of("/proc/self/ns/cgroup", link, sizeof link);
    printf("back in the first: %d\n", strcmp(link, first) == 0);
    result("setns(second, 0)", setns(second_fd, 0));

    unshare(CLONE_NEWTIME);
    int pidfd = syscall(SYS_pidfd_open, pid, 0);
    char child_cgroup[64], child_time[64], path[64];
    snprintf(path, sizeof path, "/proc/%d/ns/cgroup", pid);
    link_of(path, child_cgroup, sizeof child_cgroup);
    snprintf(path, sizeof path, "/proc/%d/ns/time", pid);
    link_of(path, child_time, sizeof child_time);
    result("setns(pidfd, CLONE_NEWCGROUP|CLONE_NEWTIME)", setns(pidfd, CLONE_NEWCGROUP | CLONE_NEWTIME));
    char cgroup_now[64], time_now[64], time_children[64];
    link_of("/proc/self/ns/cgroup", cgroup_now, sizeof cgroup_now);
    link_of("/proc/self/ns/time", time_now, sizeof time_now);
    link_of("/proc/self/ns/time_for_children", time_children, sizeof time_children);
    printf("joined by pidfd: cgroup %d, time %d, time for children %d\n", strcmp(cgroup_now, child_cgroup) == 0,
           strcmp(time_now, child_time) == 0, strcmp(time_children, child_time) == 0);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);

    pid = fork();
    if (pid == 0) {
        if (setresuid(65534, 65534, 65534) != 0)
            _exit(1);
        result("unprivileged unshare(CLONE_NEWCGROUP)", unshare(CLONE_NEWCGROUP));
        result("unprivileged setns(cgroup)", setns(first_fd, CLONE_NEWCGROUP));
        result("unprivileged clone(CLONE_NEWCGROUP)", syscall(SYS_clone, CLONE_NEWCGROUP | SIGCHLD, 0, 0, 0, 0));
        _exit(0);
    }
    waitpid(pid, NULL, 0);
    return 0;
}
