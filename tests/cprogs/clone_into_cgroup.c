/* clone3(2) with CLONE_INTO_CGROUP: the child starts in the cgroup whose directory fd is
 * passed (O_PATH too), shows it in /proc/self/cgroup and cgroup.procs, and its pidfd's
 * PIDFD_GET_INFO cgroupid is that directory's inode number; a grandchild inherits it. The
 * errors of clone3's argument checks and of cgroup_can_fork(): EINVAL, EBADF, ENOENT, EACCES,
 * EOPNOTSUPP. argv[1] is where a cgroup2 hierarchy is mounted. Cgroup paths are printed below
 * the directory the program makes, so the output does not depend on where it runs. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif
struct pidfd_info_v0 {
    uint64_t mask, cgroupid;
    uint32_t pid, tgid, ppid, ruid, rgid, euid, egid, suid, sgid, fsuid, fsgid;
    int32_t exit_code;
};
#define PIDFD_GET_INFO_V0 _IOWR(0xFF, 11, struct pidfd_info_v0)
#define PIDFD_INFO_CGROUPID 4
#define PIDFD_INFO_EXIT 8

static char own_path[4096];     /* this process's cgroup, from /proc/self/cgroup */
static char top[4096];          /* the directory made for the test, in the mounted hierarchy */
static size_t own_prefix_len;   /* length of own_path + "/pysandbox-into-PID" */

static const char *err_name(int e)
{
    switch (e) {
    case 0: return "ok";
    case EINVAL: return "EINVAL";
    case EBADF: return "EBADF";
    case ENOENT: return "ENOENT";
    case EACCES: return "EACCES";
    case EPERM: return "EPERM";
    case EBUSY: return "EBUSY";
    case EOPNOTSUPP: return "EOPNOTSUPP";
    case E2BIG: return "E2BIG";
    default: return strerror(e);
    }
}

static void read_cgroup_of(const char *proc_file, char *out, size_t size)
{
    char line[4096];
    FILE *f = fopen(proc_file, "r");
    out[0] = 0;
    if (!f)
        return;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "0::", 3) == 0) {
            line[strcspn(line, "\n")] = 0;
            snprintf(out, size, "%s", line + 3);
        }
    fclose(f);
}

/* The calling process's cgroup below the test's directory ("(outside)" if not below it). */
static void print_own_cgroup(const char *who)
{
    char path[4096];
    read_cgroup_of("/proc/self/cgroup", path, sizeof path);
    printf("%s cgroup: %s\n", who, strcmp(path, own_path) == 0 ? "(the program's own)"
           : strlen(path) >= own_prefix_len ? path + own_prefix_len : "(outside)");
}

static long clone3_raw(uint64_t flags, int pidfd_store_wanted, int *pidfd, uint64_t cgroup_fd, size_t size,
                       void *stack, size_t stack_size)
{
    struct clone_args args;
    memset(&args, 0, sizeof args);
    args.flags = flags;
    if (pidfd_store_wanted)
        args.pidfd = (uintptr_t)pidfd;
    args.exit_signal = (flags & CLONE_THREAD) ? 0 : SIGCHLD;
    args.cgroup = cgroup_fd;
    args.stack = (uintptr_t)stack;
    args.stack_size = stack_size;
    return syscall(SYS_clone3, &args, size);
}

/* clone3 into the cgroup at fd `cgfd`: "ok" or the errno. A child made exits at once. */
static void try_clone(const char *what, uint64_t flags, uint64_t cgfd, size_t size)
{
    long pid = clone3_raw(CLONE_INTO_CGROUP | flags, 0, NULL, cgfd, size, NULL, 0);
    if (pid == 0)
        _exit(0);
    printf("%s: %s\n", what, err_name(pid < 0 ? errno : 0));
    if (pid > 0)
        waitpid(pid, NULL, 0);
}

static void path_in_top(char *out, size_t size, const char *name)
{
    if (snprintf(out, size, "%s/%s", top, name) >= (int)size)
        exit(1);
}

static int open_in_top(const char *name, int flags)
{
    char path[4096];
    path_in_top(path, sizeof path, name);
    int fd = open(path, flags);
    if (fd < 0) {
        printf("open %s: %s\n", name, strerror(errno));
        exit(1);
    }
    return fd;
}

static ino_t inode_in_top(const char *name)
{
    char path[4096];
    struct stat st;
    path_in_top(path, sizeof path, name);
    return stat(path, &st) == 0 ? st.st_ino : 0;
}

static int procs_lists(const char *name, long pid)
{
    char path[4096];
    long listed;
    int found = 0;
    if (snprintf(path, sizeof path, "%s/%s/cgroup.procs", top, name) >= (int)sizeof path)
        exit(1);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    while (fscanf(f, "%ld", &listed) == 1)
        found |= listed == pid;
    fclose(f);
    return found;
}

static uint64_t pidfd_cgroupid(int pidfd, uint64_t mask)
{
    struct pidfd_info_v0 info;
    memset(&info, 0, sizeof info);
    info.mask = mask;
    if (ioctl(pidfd, PIDFD_GET_INFO_V0, &info) < 0) {
        printf("PIDFD_GET_INFO: %s\n", err_name(errno));
        return 0;
    }
    return (info.mask & PIDFD_INFO_CGROUPID) ? info.cgroupid : 0;
}

/* A child in cgroup `name` (fd opened with `open_flags`): it and a grandchild report their
 * cgroup, the parent looks at cgroup.procs, the pidfd's cgroupid and rmdir while it is there. */
static void child_into(const char *name, int open_flags, const char *how)
{
    int cgfd = open_in_top(name, open_flags), go[2], ready[2], pidfd = -1;
    char path[4096], byte;
    if (pipe(go) < 0 || pipe(ready) < 0)
        exit(1);
    long pid = clone3_raw(CLONE_INTO_CGROUP | CLONE_PIDFD, 1, &pidfd, cgfd, sizeof(struct clone_args), NULL, 0);
    if (pid < 0) {
        printf("clone3 into %s (%s): %s\n", name, how, err_name(errno));
        close(cgfd);
        return;
    }
    if (pid == 0) {
        print_own_cgroup("  child");
        pid_t grandchild = fork();
        if (grandchild == 0) {
            print_own_cgroup("  grandchild");
            _exit(0);
        }
        waitpid(grandchild, NULL, 0);
        close(go[1]);
        close(ready[1]);         /* tells the parent both have reported */
        _exit(read(go[0], &byte, 1) == 0 ? 0 : 1);
    }
    close(go[0]);
    close(ready[1]);
    if (read(ready[0], &byte, 1) != 0)
        exit(1);
    close(ready[0]);
    printf("clone3 into %s (%s): ok\n", name, how);
    char seen[4096];
    snprintf(path, sizeof path, "/proc/%ld/cgroup", pid);
    read_cgroup_of(path, seen, sizeof seen);
    printf("  /proc/PID/cgroup: %s\n", strlen(seen) >= own_prefix_len ? seen + own_prefix_len : "(outside)");
    printf("  listed in %s/cgroup.procs: %d, in the parent's: %d\n", name, procs_lists(name, pid),
           procs_lists(".", pid));
    printf("  pidfd cgroupid is %s's inode: %d\n", name, pidfd_cgroupid(pidfd, PIDFD_INFO_CGROUPID) == (uint64_t)inode_in_top(name));
    path_in_top(path, sizeof path, name);
    printf("  rmdir while the child is there: %s\n", err_name(rmdir(path) == 0 ? 0 : errno));
    close(go[1]);
    int status;
    waitpid(pid, &status, 0);
    printf("  child exit status %d; reaped pidfd cgroupid is %s's inode: %d\n", WEXITSTATUS(status), name,
           pidfd_cgroupid(pidfd, PIDFD_INFO_CGROUPID | PIDFD_INFO_EXIT) == (uint64_t)inode_in_top(name));
    close(pidfd);
    close(cgfd);
}

static int write_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY);
    if (fd < 0)
        return errno;
    int result = write(fd, text, strlen(text)) < 0 ? errno : 0;
    close(fd);
    return result;
}

/* What the file says, with the controller's name shown as CTRL. */
static void print_controllers(const char *what, const char *name, const char *controller)
{
    char path[4096], text[256] = "", shown[300] = "";
    path_in_top(path, sizeof path, name);
    FILE *f = fopen(path, "r");
    if (f) {
        if (!fgets(text, sizeof text, f))
            text[0] = 0;
        fclose(f);
    }
    text[strcspn(text, "\n")] = 0;
    char *at = strstr(text, controller);
    if (at)
        snprintf(shown, sizeof shown, "%.*sCTRL%s", (int)(at - text), text, at + strlen(controller));
    else
        snprintf(shown, sizeof shown, "%s", text);
    printf("%s: \"%s\"\n", what, shown);
}

/* cgroup v2's "no internal processes" rule with a domain controller (one the hierarchy's root
 * offers: memory, io or hugetlb), enabled for the test's directory's children on the way. */
static void no_internal_processes(const char *mount)
{
    char root_control[4096], path[4096], word[64], available[512] = "";
    const char *candidates[] = {"memory", "io", "hugetlb"}, *controller = NULL;
    snprintf(root_control, sizeof root_control, "%s/cgroup.controllers", mount);
    FILE *f = fopen(root_control, "r");
    if (f) {
        if (!fgets(available, sizeof available, f))
            available[0] = 0;
        fclose(f);
    }
    for (size_t i = 0; i < 3 && !controller; i++)
        for (char *at = strstr(available, candidates[i]); at && !controller; at = strstr(at + 1, candidates[i]))
            if ((at == available || at[-1] == ' ') && strchr(" \n", at[strlen(candidates[i])]))
                controller = candidates[i];
    if (strcmp(own_path, "/") != 0 || !controller) {
        printf("no domain controller at the root, or not run at the root: no EBUSY checks\n");
        return;
    }
    snprintf(root_control, sizeof root_control, "%s/cgroup.subtree_control", mount);
    char enabled_before[512] = "";
    if ((f = fopen(root_control, "r"))) {
        if (!fgets(enabled_before, sizeof enabled_before, f))
            enabled_before[0] = 0;
        fclose(f);
    }
    snprintf(word, sizeof word, "+%s", controller);
    int root_had_it = strstr(enabled_before, controller) != NULL;
    if (!root_had_it && write_file(root_control, word)) {
        printf("could not enable a controller at the root: no EBUSY checks\n");
        return;
    }
    path_in_top(path, sizeof path, "cgroup.subtree_control");
    printf("enable CTRL below the test's directory: %s\n", err_name(write_file(path, word)));
    print_controllers("busy's cgroup.controllers", "busy/cgroup.controllers", controller);
    path_in_top(path, sizeof path, "busy/cgroup.subtree_control");
    printf("enable CTRL in empty busy: %s\n", err_name(write_file(path, word)));
    printf("enable it again: %s\n", err_name(write_file(path, word)));
    print_controllers("busy's cgroup.subtree_control", "busy/cgroup.subtree_control", controller);
    print_controllers("busy/leaf's cgroup.controllers", "busy/leaf/cgroup.controllers", controller);
    printf("enable pids, not offered to busy: %s\n", err_name(write_file(path, "+pids")));
    printf("a word without + or -: %s\n", err_name(write_file(path, controller)));
    printf("a controller Linux does not have: %s\n", err_name(write_file(path, "+nosuch")));

    int busy = open_in_top("busy", O_PATH), leaf = open_in_top("busy/leaf", O_PATH);
    try_clone("clone3 into busy, its controllers enabled for its children", 0, busy, sizeof(struct clone_args));
    try_clone("clone3 into busy/leaf", 0, leaf, sizeof(struct clone_args));
    path_in_top(path, sizeof path, "busy/cgroup.procs");
    char pid_text[32];
    snprintf(pid_text, sizeof pid_text, "%d", (int)getpid());
    printf("move into busy through cgroup.procs: %s\n", err_name(write_file(path, pid_text)));
    snprintf(word, sizeof word, "-%s", controller);
    path_in_top(path, sizeof path, "cgroup.subtree_control");
    printf("disable CTRL above busy, which enables it: %s\n", err_name(write_file(path, word)));

    /* a cgroup with a process of its own: a domain controller may not be enabled there */
    int a = open_in_top("a", O_PATH), go[2], pidfd;
    if (pipe(go) < 0)
        exit(1);
    long pid = clone3_raw(CLONE_INTO_CGROUP | CLONE_PIDFD, 1, &pidfd, a, sizeof(struct clone_args), NULL, 0);
    if (pid == 0) {
        char byte;
        close(go[1]);
        _exit(read(go[0], &byte, 1) == 0 ? 0 : 1);
    }
    close(go[0]);
    snprintf(word, sizeof word, "+%s", controller);
    path_in_top(path, sizeof path, "a/cgroup.subtree_control");
    printf("enable CTRL in a, which has a process: %s\n", err_name(write_file(path, word)));
    close(go[1]);
    waitpid(pid, NULL, 0);
    close(pidfd);
    printf("enable CTRL in a once it is empty: %s\n", err_name(write_file(path, word)));
    snprintf(word, sizeof word, "-%s", controller);
    printf("disable it in a: %s\n", err_name(write_file(path, word)));
    path_in_top(path, sizeof path, "busy/cgroup.subtree_control");
    printf("disable it in busy: %s\n", err_name(write_file(path, word)));
    path_in_top(path, sizeof path, "cgroup.subtree_control");
    printf("disable it above busy: %s\n", err_name(write_file(path, word)));
    if (!root_had_it)
        write_file(root_control, word);
    close(a);
    close(busy);
    close(leaf);
}

int main(int argc, char **argv)
{
    char path[4096];
    static char stack[65536];
    if (argc != 2) {
        fprintf(stderr, "usage: clone_into_cgroup CGROUP2-MOUNT\n");
        return 2;
    }
    read_cgroup_of("/proc/self/cgroup", own_path, sizeof own_path);
    if (snprintf(top, sizeof top, "%s%s/pysandbox-into-%d", argv[1], strcmp(own_path, "/") ? own_path : "",
                 (int)getpid()) >= (int)sizeof top)
        return 1;
    setvbuf(stdout, NULL, _IONBF, 0);
    own_prefix_len = strlen(top) - strlen(argv[1]);
    const char *dirs[] = {"", "/a", "/a/inner", "/b", "/gone", "/busy", "/busy/leaf"};
    for (size_t i = 0; i < sizeof dirs / sizeof *dirs; i++) {
        snprintf(path, sizeof path, "%s%s", top, dirs[i]);
        if (mkdir(path, 0755) < 0) {
            printf("mkdir %s: %s\n", path, strerror(errno));
            return 1;
        }
    }
    print_own_cgroup("parent");
    int self_pidfd = syscall(SYS_pidfd_open, getpid(), 0);
    snprintf(path, sizeof path, "%s%s", argv[1], strcmp(own_path, "/") ? own_path : "");
    struct stat own_dir;
    printf("own pidfd cgroupid is its cgroup's inode: %d\n",
           stat(path, &own_dir) == 0 && pidfd_cgroupid(self_pidfd, PIDFD_INFO_CGROUPID) == (uint64_t)own_dir.st_ino);

    child_into("a", O_RDONLY | O_DIRECTORY, "O_DIRECTORY");
    child_into("b", O_PATH, "O_PATH");
    child_into("a/inner", O_PATH | O_DIRECTORY, "nested");
    print_own_cgroup("parent after");

    int a = open_in_top("a", O_RDONLY | O_DIRECTORY);
    int procs = open_in_top("a/cgroup.procs", O_RDONLY);
    int gone = open_in_top("gone", O_PATH);
    path_in_top(path, sizeof path, "gone");
    rmdir(path);
    int tmp = open("/tmp", O_RDONLY | O_DIRECTORY);
    int closed = dup(a);
    close(closed);
    try_clone("cgroup fd above INT_MAX", 0, 0x80000000ULL, sizeof(struct clone_args));
    try_clone("size without the cgroup field (64)", 0, a, 64);
    try_clone("size 80", 0, a, 80);
    try_clone("size 88", 0, a, 88);
    try_clone("closed fd", 0, closed, sizeof(struct clone_args));
    try_clone("fd of a directory that is no cgroup", 0, tmp, sizeof(struct clone_args));
    try_clone("fd of cgroup.procs", 0, procs, sizeof(struct clone_args));
    try_clone("fd of a removed cgroup", 0, gone, sizeof(struct clone_args));
    try_clone("bad flags win over a bad fd (CLONE_SIGHAND without CLONE_VM)", CLONE_SIGHAND, closed,
              sizeof(struct clone_args));
    long tid = clone3_raw(CLONE_INTO_CGROUP | CLONE_THREAD | CLONE_SIGHAND | CLONE_VM, 0, NULL, a,
                          sizeof(struct clone_args), stack, sizeof stack);
    if (tid == 0)
        syscall(SYS_exit, 0);      /* not reached when refused; exits the thread otherwise */
    printf("thread into another cgroup: %s\n", err_name(tid < 0 ? errno : 0));
    fflush(stdout);

    pid_t unprivileged = fork();
    if (unprivileged == 0) {
        if (setresgid(65534, 65534, 65534) < 0 || setresuid(65534, 65534, 65534) < 0)
            _exit(1);
        try_clone("unprivileged, into a cgroup root may write to", 0, a, sizeof(struct clone_args));
        _exit(0);
    }
    waitpid(unprivileged, NULL, 0);
    no_internal_processes(argv[1]);

    close(a);
    close(procs);
    close(gone);
    close(tmp);
    const char *remove[] = {"/a/inner", "/a", "/b", "/busy/leaf", "/busy", ""};
    int removed = 1;
    for (size_t i = 0; i < sizeof remove / sizeof *remove; i++) {
        snprintf(path, sizeof path, "%s%s", top, remove[i]);
        removed &= rmdir(path) == 0;
    }
    printf("cleaned up: %d\n", removed);
    return 0;
}
