/* Mount namespaces, propagation, setns, pivot_root and lazy unmounts, as container runtimes use
 * them. Run as root with `/` a mount point of its own (natively: unshare -m, a bind mount of the
 * rootfs on itself, proc on its /proc, chroot), and compared with Linux line by line.
 * argv[1]: where this rootfs is seen from its mount namespace's root ("/" in the sandbox). */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *ns_root_path;

static void report(const char *what, long rc)
{
    printf("%s: %s\n", what, rc < 0 ? strerrorname_np(errno) : "ok");
}

static int pivot(const char *new_root, const char *put_old)
{
    return syscall(SYS_pivot_root, new_root, put_old);
}

static void touch(const char *path)
{
    int fd = open(path, O_CREAT | O_WRONLY, 0644);
    if (fd >= 0) close(fd);
}

static const char *exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? "present" : strerrorname_np(errno);
}

/* How `pid` sees mount point `point`: absent, private, shared, master or shared+master. */
static const char *propagation(const char *pid, const char *point)
{
    static char result[64];
    char path[64], line[1024];
    snprintf(path, sizeof path, "/proc/%s/mountinfo", pid);
    FILE *f = fopen(path, "r");
    strcpy(result, "absent");
    while (f && fgets(line, sizeof line, f)) {
        char mpoint[256];
        if (sscanf(line, "%*d %*d %*s %*s %255s", mpoint) != 1 || strcmp(mpoint, point) != 0)
            continue;
        int shared = strstr(line, " shared:") != NULL, master = strstr(line, " master:") != NULL;
        snprintf(result, sizeof result, "%s", shared && master ? "shared+master" : shared ? "shared"
                 : master ? "master" : strstr(line, " unbindable ") ? "unbindable" : "private");
    }
    if (f) fclose(f);
    return result;
}

/* The mount points (and filesystem types) of our mountinfo, except those under `skip`. */
static int proc_fd = -1;  /* /proc, opened before pivot_root moves it away */

static void show_points(const char *when, const char *skip)
{
    int fd = openat(proc_fd, "self/mountinfo", O_RDONLY);
    FILE *f = fd >= 0 ? fdopen(fd, "r") : NULL;
    char line[1024];
    printf("-- mounts %s:", when);
    while (f && fgets(line, sizeof line, f)) {
        char point[256], fstype[64];
        if (sscanf(line, "%*d %*d %*s %*s %255s %*s%*[^-]- %63s", point, fstype) != 2)
            continue;
        if (skip && strncmp(point, skip, strlen(skip)) == 0)
            continue;
        printf(" %s(%s)", point, strcmp(fstype, "tmpfs") ? "other" : fstype);
    }
    printf("\n");
    if (f) fclose(f);
}

static void list_dir(const char *path)
{
    struct dirent **names;
    int n = scandir(path, &names, NULL, alphasort);
    printf("ls %s:", path);
    for (int i = 0; i < n; i++) {
        if (strcmp(names[i]->d_name, ".") && strcmp(names[i]->d_name, ".."))
            printf(" %s", names[i]->d_name);
        free(names[i]);
    }
    printf(n < 0 ? " %s\n" : "\n", strerrorname_np(errno));
    free(names);
}

static void ns_link(const char *pid, char *out, size_t size)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%s/ns/mnt", pid);
    ssize_t n = readlink(path, out, size - 1);
    out[n < 0 ? 0 : n] = 0;
}

/* Runs `body` in a child and waits for it (each part leaves the rest of the run as it was). */
static void in_child(void (*body)(void))
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        body();
        fflush(stdout);
        _exit(0);
    }
    int status;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status))
        printf("child ended with status %#x\n", status);
}

static int to_child[2], to_parent[2];

static void wait_for(int fd)
{
    char c;
    if (read(fd, &c, 1) != 1) _exit(3);
}

static void signal_to(int fd)
{
    if (write(fd, "x", 1) != 1) _exit(3);
}

/* A private mount namespace and a shared mount between it and its parent. */
static void private_and_shared(void)
{
    char mine[64], child_link[64], pid[16];
    ns_link("self", mine, sizeof mine);
    unsigned long inode;
    printf("ns link format: %s\n", sscanf(mine, "mnt:[%lu]", &inode) == 1 ? "ok" : mine);
    mkdir("/mnt/private", 0755);
    mkdir("/mnt/shared", 0755);
    mkdir("/mnt/inherited", 0755);
    report("mount inherited", mount("tmpfs", "/mnt/inherited", "tmpfs", 0, NULL));
    report("mount shared", mount("tmpfs", "/mnt/shared", "tmpfs", 0, NULL));
    report("make shared", mount(NULL, "/mnt/shared", NULL, MS_SHARED, NULL));
    printf("parent /mnt/shared: %s\n", propagation("self", "/mnt/shared"));
    mkdir("/mnt/shared/from-parent", 0755);
    mkdir("/mnt/shared/from-child", 0755);
    mkdir("/mnt/shared/slave-only", 0755);
    mkdir("/mnt/shared/after-slave", 0755);
    if (pipe(to_child) || pipe(to_parent)) return;
    fflush(stdout);
    pid_t child = fork();
    if (child == 0) {
        char link[64];
        report("child unshare(CLONE_NEWNS)", unshare(CLONE_NEWNS));
        ns_link("self", link, sizeof link);
        printf("child ns differs from parent's: %s\n", strcmp(link, mine) ? "yes" : "no");
        printf("child /mnt/shared: %s, /mnt/inherited: %s\n", propagation("self", "/mnt/shared"),
               exists("/mnt/inherited"));
        report("child mount private", mount("tmpfs", "/mnt/private", "tmpfs", 0, NULL));
        touch("/mnt/private/only-in-child");
        report("child umount inherited", umount2("/mnt/inherited", 0));
        report("child mount under shared", mount("tmpfs", "/mnt/shared/from-child", "tmpfs", 0, NULL));
        touch("/mnt/shared/from-child/marker");
        signal_to(to_parent[1]);
        wait_for(to_child[0]);  /* the parent mounted /mnt/shared/from-parent */
        printf("child sees parent's mount: %s\n", exists("/mnt/shared/from-parent/marker"));
        printf("child /mnt/shared/from-parent: %s\n", propagation("self", "/mnt/shared/from-parent"));
        report("child make slave", mount(NULL, "/mnt/shared", NULL, MS_SLAVE, NULL));
        printf("child /mnt/shared now: %s\n", propagation("self", "/mnt/shared"));
        report("child mount as slave", mount("tmpfs", "/mnt/shared/slave-only", "tmpfs", 0, NULL));
        touch("/mnt/shared/slave-only/marker");
        signal_to(to_parent[1]);
        wait_for(to_child[0]);  /* the parent unmounted from-parent and mounted after-slave */
        printf("child after parent's umount: %s\n", exists("/mnt/shared/from-parent/marker"));
        printf("child sees mount made after it became a slave: %s\n",
               exists("/mnt/shared/after-slave/marker"));
        signal_to(to_parent[1]);
        wait_for(to_child[0]);  /* setns checks done */
        fflush(stdout);
        _exit(0);
    }
    wait_for(to_parent[0]);
    snprintf(pid, sizeof pid, "%d", child);
    ns_link(pid, child_link, sizeof child_link);
    printf("/proc/CHILD/ns/mnt differs from parent's: %s\n", strcmp(child_link, mine) ? "yes" : "no");
    printf("parent sees child's private mount: %s\n", exists("/mnt/private/only-in-child"));
    printf("parent still has inherited: %s\n", exists("/mnt/inherited"));
    printf("parent sees child's mount under shared: %s\n", exists("/mnt/shared/from-child/marker"));
    printf("child's /mnt/private in /proc/CHILD/mountinfo: %s\n", propagation(pid, "/mnt/private"));
    printf("parent's /mnt/private: %s\n", propagation("self", "/mnt/private"));
    report("parent mount under shared", mount("tmpfs", "/mnt/shared/from-parent", "tmpfs", 0, NULL));
    touch("/mnt/shared/from-parent/marker");
    signal_to(to_child[1]);
    wait_for(to_parent[0]);
    printf("parent sees slave's mount: %s\n", exists("/mnt/shared/slave-only/marker"));
    report("parent umount under shared", umount2("/mnt/shared/from-parent", 0));
    report("parent mount after slave", mount("tmpfs", "/mnt/shared/after-slave", "tmpfs", 0, NULL));
    touch("/mnt/shared/after-slave/marker");
    signal_to(to_child[1]);
    wait_for(to_parent[0]);

    /* setns into the child's namespace from a grandchild, and the errnos of bad calls. */
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/ns/mnt", child);
    int nsfd = open(path, O_RDONLY);
    report("open /proc/CHILD/ns/mnt", nsfd);
    int plain = open("/mnt", O_RDONLY);
    fflush(stdout);
    if (fork() == 0) {
        report("setns(bad fd)", setns(1000, CLONE_NEWNS));
        report("setns(directory fd)", setns(plain, CLONE_NEWNS));
        report("setns(mnt fd, CLONE_NEWUTS)", setns(nsfd, CLONE_NEWUTS));
        report("setns(mnt fd, CLONE_NEWNS)", setns(nsfd, CLONE_NEWNS));
        char link[64];
        ns_link("self", link, sizeof link);
        printf("now in the child's namespace: %s\n", strcmp(link, child_link) == 0 ? "yes" : "no");
        report("chroot back to the rootfs", chroot(ns_root_path));
        report("chdir /", chdir("/"));
        printf("grandchild sees child's private mount: %s\n", exists("/mnt/private/only-in-child"));
        fflush(stdout);
        _exit(0);
    }
    wait(NULL);
    if (fork() == 0) {
        report("setuid(1000)", setuid(1000));
        report("setns unprivileged", setns(nsfd, 0));
        report("unshare unprivileged", unshare(CLONE_NEWNS));
        report("pivot_root unprivileged", pivot("/mnt", "/mnt"));
        fflush(stdout);
        _exit(0);
    }
    wait(NULL);
    close(nsfd);
    close(plain);
    signal_to(to_child[1]);
    waitpid(child, NULL, 0);
    umount2("/mnt/shared/from-child", MNT_DETACH);
    umount2("/mnt/shared/slave-only", MNT_DETACH);
    umount2("/mnt/shared/after-slave", MNT_DETACH);
    umount2("/mnt/shared", MNT_DETACH);
    umount2("/mnt/inherited", MNT_DETACH);
}

/* Each part below works in a namespace of its own, on a new tmpfs at `dir`. */
static void tmpfs_in_new_namespace(const char *dir)
{
    char what[64];
    report("unshare", unshare(CLONE_NEWNS));
    mkdir(dir, 0755);
    snprintf(what, sizeof what, "mount %s", dir);
    report(what, mount("tmpfs", dir, "tmpfs", 0, NULL));
}

/* Propagation inside one namespace: a bind mount of a shared mount is its peer; unbindable
 * mounts refuse to be bound and are left out of recursive binds. */
static void binds_and_propagation(void)
{
    tmpfs_in_new_namespace("/binds");
    mkdir("/binds/a", 0755);
    mkdir("/binds/b", 0755);
    mkdir("/binds/c", 0755);
    report("mount /binds/a", mount("tmpfs", "/binds/a", "tmpfs", 0, NULL));
    report("make /binds/a shared", mount(NULL, "/binds/a", NULL, MS_SHARED, NULL));
    mkdir("/binds/a/sub", 0755);
    mkdir("/binds/a/deep", 0755);
    report("bind /binds/a on /binds/b", mount("/binds/a", "/binds/b", NULL, MS_BIND, NULL));
    printf("/binds/b: %s\n", propagation("self", "/binds/b"));
    report("mount /binds/a/sub", mount("tmpfs", "/binds/a/sub", "tmpfs", 0, NULL));
    touch("/binds/a/sub/marker");
    printf("seen through the peer: %s, as %s\n", exists("/binds/b/sub/marker"),
           propagation("self", "/binds/b/sub"));
    report("umount through the peer", umount2("/binds/b/sub", 0));
    printf("gone from the first: %s\n", exists("/binds/a/sub/marker"));
    report("mount /binds/a/sub again", mount("tmpfs", "/binds/a/sub", "tmpfs", 0, NULL));
    report("move a mount away from under a shared one",
           mount("/binds/a/sub", "/binds/c", NULL, MS_MOVE, NULL));
    report("umount2 /binds/a/sub", umount2("/binds/a/sub", 0));
    report("make /binds/b private", mount(NULL, "/binds/b", NULL, MS_PRIVATE, NULL));
    report("mount /binds/a/deep", mount("tmpfs", "/binds/a/deep", "tmpfs", 0, NULL));
    report("make /binds/a/deep unbindable", mount(NULL, "/binds/a/deep", NULL, MS_UNBINDABLE, NULL));
    printf("/binds/a/deep: %s\n", propagation("self", "/binds/a/deep"));
    report("bind an unbindable mount", mount("/binds/a/deep", "/binds/c", NULL, MS_BIND, NULL));
    report("rbind above it", mount("/binds/a", "/binds/c", NULL, MS_BIND | MS_REC, NULL));
    printf("/binds/c/deep in the rbind: %s\n", propagation("self", "/binds/c/deep"));
    report("propagation flag on no mount point", mount(NULL, "/binds/a/sub", NULL, MS_SHARED, NULL));
    report("two propagation flags", mount(NULL, "/binds/a", NULL, MS_SHARED | MS_PRIVATE, NULL));
}

static void pivot_errors(void)
{
    report("unshare", unshare(CLONE_NEWNS));
    mkdir("/newroot", 0755);
    touch("/pivot-file");
    report("pivot_root missing", pivot("/missing", "/newroot"));
    report("pivot_root onto a file", pivot("/pivot-file", "/newroot"));
    report("pivot_root put_old a file", pivot("/newroot", "/pivot-file"));
    report("pivot_root plain dir on the root mount", pivot("/newroot", "/newroot"));
    report("mount /newroot", mount("tmpfs", "/newroot", "tmpfs", 0, NULL));
    mkdir("/newroot/sub", 0755);
    mkdir("/newroot/sub/inner", 0755);
    mkdir("/other", 0755);
    report("mount /other", mount("tmpfs", "/other", "tmpfs", 0, NULL));
    report("pivot_root new_root not a mount point", pivot("/newroot/sub", "/newroot/sub"));
    report("pivot_root put_old not under new_root", pivot("/newroot", "/other"));
    report("pivot_root put_old on the root mount", pivot("/newroot", "/"));
    report("make / shared", mount(NULL, "/", NULL, MS_SHARED, NULL));
    report("pivot_root under a shared mount", pivot("/newroot", "/newroot"));
    report("make / private", mount(NULL, "/", NULL, MS_PRIVATE, NULL));
    report("mount inner", mount("tmpfs", "/newroot/sub/inner", "tmpfs", 0, NULL));
    report("chroot /newroot/sub", chroot("/newroot/sub"));
    report("pivot_root from a chroot that is no mount point", pivot("/inner", "/inner"));
}

static void pivot_into_prepared_dir(void)
{
    tmpfs_in_new_namespace("/newroot");
    mkdir("/newroot/oldroot", 0755);
    mkdir("/newroot/etc", 0755);
    touch("/newroot/etc/hostname");
    int busy = open("/mnt/hold-me", O_CREAT | O_RDWR, 0644);
    report("pivot_root /newroot /newroot/oldroot", pivot("/newroot", "/newroot/oldroot"));
    char cwd[256];
    printf("cwd: %s\n", getcwd(cwd, sizeof cwd) ? cwd : strerrorname_np(errno));
    list_dir("/");
    printf("old root under put_old: %s\n", exists("/oldroot/mnt/hold-me"));
    show_points("after pivot_root", "/oldroot/");
    report("umount2 /oldroot", umount2("/oldroot", 0));
    report("umount2 /oldroot MNT_DETACH", umount2("/oldroot", MNT_DETACH));
    show_points("after detaching the old root", NULL);
    list_dir("/oldroot");
    report("write to a file of the detached root", write(busy, "still here\n", 11));
    close(busy);
    report("chdir /..", chdir("/.."));
    printf("cwd: %s\n", getcwd(cwd, sizeof cwd) ? cwd : strerrorname_np(errno));
}

static void pivot_dot_dot(void)
{
    tmpfs_in_new_namespace("/nr2");
    mkdir("/nr2/etc", 0755);
    report("chdir /nr2", chdir("/nr2"));
    report("pivot_root . .", pivot(".", "."));
    list_dir("/");
    report("umount2 . MNT_DETACH", umount2(".", MNT_DETACH));
    report("chdir /", chdir("/"));
    list_dir("/");
    show_points("after the . . idiom", NULL);
}

static void switch_root_style(void)
{
    tmpfs_in_new_namespace("/nr3");
    mkdir("/nr3/sbin", 0755);
    report("chdir /nr3", chdir("/nr3"));
    report("mount --move . /", mount(".", "/", NULL, MS_MOVE, NULL));
    report("chroot .", chroot("."));
    report("chdir /", chdir("/"));
    list_dir("/");
    list_dir("/..");
    show_points("after switch_root", NULL);
}

static void lazy_unmount(void)
{
    tmpfs_in_new_namespace("/busy");
    int fd = open("/busy/file", O_CREAT | O_RDWR, 0644);
    report("write", write(fd, "kept\n", 5));
    report("umount2 busy", umount2("/busy", 0));
    report("umount2 busy MNT_DETACH", umount2("/busy", MNT_DETACH));
    printf("/busy/file after detach: %s\n", exists("/busy/file"));
    char buf[16] = {0};
    report("pread from the detached mount", pread(fd, buf, sizeof buf - 1, 0));
    printf("read back: %s", buf);
    close(fd);
    mkdir("/busy/sub", 0755);
    report("mount /busy/sub on the plain dir", mount("tmpfs", "/busy/sub", "tmpfs", 0, NULL));
    report("chdir /busy/sub", chdir("/busy/sub"));
    report("umount2 cwd", umount2("/busy/sub", 0));
    report("umount2 cwd MNT_DETACH", umount2("/busy/sub", MNT_DETACH));
    touch("still-writable");
    printf("file in the detached cwd: %s\n", exists("still-writable"));
    report("chdir ..", chdir(".."));
    list_dir(".");
}

static void unmount_events(void)
{
    tmpfs_in_new_namespace("/watched");
    touch("/watched/file");
    int in = inotify_init1(IN_NONBLOCK);
    int wd_file = inotify_add_watch(in, "/watched/file", IN_MODIFY);
    int wd_dir = inotify_add_watch(in, "/watched", IN_CREATE);
    report("umount2 /watched", umount2("/watched", 0));
    char buf[4096] __attribute__((aligned(8)));
    ssize_t n = read(in, buf, sizeof buf);
    const char *who[] = {"file", "dir"};
    for (int want = 0; want < 2; want++) {
        printf("events of the %s watch:", who[want]);
        for (char *p = buf; n > 0 && p < buf + n;) {
            struct inotify_event *event = (struct inotify_event *)p;
            if (event->wd == (want ? wd_dir : wd_file))
                printf(" %s%s%s", event->mask & IN_UNMOUNT ? "IN_UNMOUNT" : "",
                       event->mask & IN_IGNORED ? "IN_IGNORED" : "",
                       event->mask & IN_ISDIR ? "|IN_ISDIR" : "");
            p += sizeof *event + event->len;
        }
        printf("\n");
    }
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    ns_root_path = argc > 1 ? argv[1] : "/";
    mkdir("/mnt", 0755);
    proc_fd = open("/proc", O_RDONLY | O_DIRECTORY);
    printf("== private and shared\n");
    in_child(private_and_shared);
    printf("== binds and propagation\n");
    in_child(binds_and_propagation);
    printf("== pivot_root errors\n");
    in_child(pivot_errors);
    printf("== pivot_root into a prepared directory\n");
    in_child(pivot_into_prepared_dir);
    printf("== pivot_root . .\n");
    in_child(pivot_dot_dot);
    printf("== switch_root\n");
    in_child(switch_root_style);
    printf("== lazy unmount\n");
    in_child(lazy_unmount);
    printf("== IN_UNMOUNT\n");
    in_child(unmount_events);
    printf("left in the first namespace: /mnt/shared %s, /newroot %s\n", propagation("self", "/mnt/shared"),
           propagation("self", "/newroot"));
    return 0;
}
