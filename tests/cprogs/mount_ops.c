/* mount(2) and umount2(2) as a container's root uses them: new tmpfs mounts, binds, remounts,
 * moves, EXDEV between mounts, busy mounts and the errnos of bad calls. Run in a fresh mount
 * namespace (natively: unshare -m + chroot) and compared line by line. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static void report(const char *what, int rc)
{
    printf("%s: %s\n", what, rc < 0 ? strerrorname_np(errno) : "ok");
}

/* The /mnt lines of mountinfo: root, mount point, mount options, fstype, source, fs options. */
static void show_mounts(const char *when)
{
    FILE *f = fopen("/proc/self/mountinfo", "r");
    char line[1024];
    printf("-- mounts %s\n", when);
    while (f && fgets(line, sizeof line, f)) {
        char root[256], point[256], opts[256], fstype[64], source[256], fsopts[256];
        if (sscanf(line, "%*d %*d %*s %255s %255s %255s%*[^-]- %63s %255s %255s",
                   root, point, opts, fstype, source, fsopts) == 6 && strncmp(point, "/mnt/", 5) == 0)
            printf("%s %s %s %s %s %s\n", root, point, opts, fstype, source, fsopts);
    }
    if (f) fclose(f);
}

static long fill(const char *path, size_t total)
{
    int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0644);
    if (fd < 0) return -errno;
    static char chunk[8192];
    long written = 0;
    while ((size_t)written < total) {
        ssize_t n = write(fd, chunk, sizeof chunk);
        if (n < 0) {
            printf("fill stopped: %s after %ld bytes\n", strerrorname_np(errno), written);
            break;
        }
        written += n;
    }
    close(fd);
    return written;
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    mkdir("/mnt", 0755);
    mkdir("/mnt/a", 0755);
    mkdir("/mnt/b", 0755);
    mkdir("/mnt/c", 0755);
    int fd = open("/mnt/plain", O_CREAT | O_WRONLY, 0644);
    close(fd);

    report("no type", mount("none", "/mnt/a", NULL, 0, NULL));
    report("unknown type", mount("none", "/mnt/a", "nosuchfs", 0, NULL));
    report("missing target", mount("none", "/mnt/nonexistent", "tmpfs", 0, NULL));
    report("bad tmpfs option", mount("tmpfs", "/mnt/a", "tmpfs", 0, "bogus=1"));
    report("tmpfs on a file", mount("tmpfs", "/mnt/plain", "tmpfs", 0, NULL));
    report("MS_NOUSER", mount("tmpfs", "/mnt/a", "tmpfs", MS_NOUSER, NULL));
    report("tmpfs", mount("tmpfs", "/mnt/a", "tmpfs", MS_NOSUID | MS_NODEV, "size=64k,mode=0700"));
    struct stat st;
    stat("/mnt/a", &st);
    printf("mode %o\n", st.st_mode & 07777);
    fd = open("/mnt/a/f", O_CREAT | O_WRONLY, 0644);
    report("write", (int)write(fd, "in tmpfs\n", 9));
    close(fd);
    report("rename across mounts", rename("/mnt/a/f", "/mnt/b/f"));
    report("link across mounts", link("/mnt/a/f", "/mnt/b/f"));
    printf("filled %ld\n", fill("/mnt/a/big", 128 * 1024));
    unlink("/mnt/a/big");
    show_mounts("after tmpfs");

    report("chdir in", chdir("/mnt/a"));
    report("umount busy cwd", umount("/mnt/a"));
    chdir("/");
    fd = open("/mnt/a/f", O_RDONLY);
    report("umount busy file", umount("/mnt/a"));
    close(fd);
    report("umount not a mount", umount2("/mnt/b", 0));
    report("umount bad flags", umount2("/mnt/a", 0x100));
    report("umount expire+detach", umount2("/mnt/a", MNT_EXPIRE | MNT_DETACH));

    report("bind", mount("/mnt/a", "/mnt/b", NULL, MS_BIND, NULL));
    fd = open("/mnt/b/f", O_RDONLY);
    char buf[32] = {0};
    report("read through bind", (int)read(fd, buf, sizeof buf - 1));
    printf("bind content %s", buf);
    close(fd);
    report("bind dir on file", mount("/mnt/a", "/mnt/plain", NULL, MS_BIND, NULL));
    report("bind missing source", mount("/mnt/none", "/mnt/c", NULL, MS_BIND, NULL));
    report("remount bind ro", mount(NULL, "/mnt/b", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL));
    report("create on ro bind", open("/mnt/b/g", O_CREAT | O_WRONLY, 0644));
    report("chmod on ro bind", chmod("/mnt/b/f", 0600));
    report("create on rw source", fd = open("/mnt/a/g", O_CREAT | O_WRONLY, 0644));
    close(fd);
    report("remount not a mount root", mount(NULL, "/mnt/c", NULL, MS_REMOUNT, NULL));
    report("make private", mount(NULL, "/mnt/a", NULL, MS_PRIVATE, NULL));
    report("private and shared", mount(NULL, "/mnt/a", NULL, MS_PRIVATE | MS_SHARED, NULL));
    report("private not a mount", mount(NULL, "/mnt/c", NULL, MS_PRIVATE, NULL));
    show_mounts("after bind");

    report("umount mounted-on source", umount("/mnt/a"));
    report("umount detach bind", umount2("/mnt/b", MNT_DETACH));
    report("umount tmpfs", umount("/mnt/a"));
    report("file gone", stat("/mnt/a/f", &st));

    report("tmpfs again", mount("scratch", "/mnt/a", "tmpfs", 0, NULL));
    report("move", mount("/mnt/a", "/mnt/c", NULL, MS_MOVE, NULL));
    report("move not a mount", mount("/mnt/b", "/mnt/a", NULL, MS_MOVE, NULL));
    show_mounts("after move");
    report("umount moved", umount("/mnt/c"));

    /* rbind copies the tree as it was before the call: binding a tree into its own subtree
     * must not copy the new mount into itself. */
    report("outer tmpfs", mount("outer", "/mnt/b", "tmpfs", 0, NULL));
    mkdir("/mnt/b/sub", 0755);
    mkdir("/mnt/b/dst", 0755);
    report("inner tmpfs", mount("inner", "/mnt/b/sub", "tmpfs", 0, NULL));
    report("rbind into own subtree", mount("/mnt/b", "/mnt/b/dst", NULL, MS_BIND | MS_REC, NULL));
    report("inner copy there", stat("/mnt/b/dst/sub/.", &st));
    report("no copy of the copy", stat("/mnt/b/dst/dst/sub", &st));
    show_mounts("after rbind");
    report("umount copy detach", umount2("/mnt/b/dst", MNT_DETACH));
    report("umount outer detach", umount2("/mnt/b", MNT_DETACH));

    pid_t child = fork();
    if (child == 0) {
        if (setuid(1000) != 0) return 9;
        report("mount as uid 1000", mount("tmpfs", "/mnt/a", "tmpfs", 0, NULL));
        report("umount as uid 1000", umount("/mnt/a"));
        return 0;
    }
    int status;
    waitpid(child, &status, 0);
    show_mounts("at the end");
    return 0;
}
