/* Tries to reach a host file outside the sandbox's root by every path trick it knows.
 * usage: escape_probe SECRET_HOST_PATH RACE_ROUNDS
 * For each attempt it prints "label: <errno name>" or "label: read <text>", then tries to
 * write, truncate, chmod, rename, unlink and hard-link the same path. The test checks that
 * the secret's contents never appear and that the host file is unchanged afterwards. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *secret;

static void show_read(const char *label, int fd)
{
    char buf[128];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    if (n < 0) {
        printf("%s: read %s\n", label, strerrorname_np(errno));
        return;
    }
    buf[n] = 0;
    for (ssize_t i = 0; i < n; i++)
        if (buf[i] == '\n') buf[i] = ' ';
    printf("%s: read %s\n", label, buf);
}

static void result(const char *label, const char *what, int rc)
{
    printf("%s: %s %s\n", label, what, rc < 0 ? strerrorname_np(errno) : "ok");
}

/* Every way of touching `path`: read it, then try to change it. */
static void attack(const char *label, const char *path)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        printf("%s: open %s\n", label, strerrorname_np(errno));
    else {
        show_read(label, fd);
        close(fd);
    }
    fd = open(path, O_WRONLY | O_APPEND);
    if (fd >= 0) {
        result(label, "append", (int)write(fd, "PWNED\n", 6));
        close(fd);
    } else {
        result(label, "append", -1);
    }
    result(label, "truncate", truncate(path, 0));
    result(label, "chmod", chmod(path, 0777));
    result(label, "link", link(path, "/stolen-link"));
    unlink("/stolen-link");
    result(label, "rename", rename(path, "/stolen"));
    rename("/stolen", path);
    result(label, "unlink", unlink(path));
}

static char *join(const char *a, const char *b)
{
    char *out = malloc(strlen(a) + strlen(b) + 1);
    strcpy(out, a);
    strcat(out, b);
    return out;
}

static void openat2_attack(const char *label, int dirfd, const char *path, unsigned long long resolve)
{
    struct open_how how = { .flags = O_RDONLY, .resolve = resolve };
    int fd = (int)syscall(SYS_openat2, dirfd, path, &how, sizeof how);
    if (fd < 0) {
        printf("%s: openat2 %s\n", label, strerrorname_np(errno));
        return;
    }
    show_read(label, fd);
    close(fd);
}

/* One process keeps swapping `real` (a directory holding a decoy secret.txt, or the decoy
 * file itself) and `link` (a symlink pointing out of the root), the other opens `path`
 * through the swapped name: whichever it meets, it must never leave the sandbox. */
static void rename_race(const char *label, const char *real, const char *link, const char *path, int rounds)
{
    char tmp[256];
    snprintf(tmp, sizeof tmp, "%s.tmp", real);
    pid_t swapper = fork();
    if (swapper == 0) {
        for (;;) {
            rename(real, tmp);
            rename(link, real);
            rename(real, link);
            rename(tmp, real);
        }
    }
    int others = 0, decoys = 0, refused = 0;
    for (int i = 0; i < rounds; i++) {
        int fd = open(path, O_RDONLY);
        if (fd < 0) {
            refused++;
            continue;
        }
        char buf[64] = {0};
        ssize_t n = read(fd, buf, sizeof buf - 1);
        close(fd);
        if (n == 6 && memcmp(buf, "decoy\n", 6) == 0) {
            decoys++;
        } else {
            others++;
            printf("%s: read %s\n", label, buf);
        }
    }
    kill(swapper, SIGKILL);
    waitpid(swapper, NULL, 0);
    printf("race %s: %d rounds, other contents %d\n", label, rounds, others);
    fprintf(stderr, "race %s: decoy %d, refused %d\n", label, decoys, refused);
}

static void write_decoy(const char *path)
{
    int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0644);
    if (fd < 0 || write(fd, "decoy\n", 6) != 6) perror(path);
    close(fd);
}

static void rename_races(int rounds)
{
    char *outside = strdup(secret);
    *strrchr(outside, '/') = 0;
    /* a directory on the way swapped with ../-laden and absolute links to the secret's directory */
    mkdir("/race", 0755);
    mkdir("/race/dir", 0755);
    write_decoy("/race/dir/secret.txt");
    symlink(join("../../../../../../../..", outside), "/race/link");
    rename_race("dir-dotdot", "/race/dir", "/race/link", "/race/dir/secret.txt", rounds);
    symlink(outside, "/race/abs");
    rename_race("dir-absolute", "/race/dir", "/race/abs", "/race/dir/secret.txt", rounds);
    /* the last component swapped with an absolute link to the secret itself */
    write_decoy("/race/file");
    symlink(secret, "/race/filelink");
    rename_race("file-absolute", "/race/file", "/race/filelink", "/race/file", rounds);
    /* inside the bind mount, where the host's own ../ from the link does lead to the secret */
    mkdir("/data/dir", 0755);
    write_decoy("/data/dir/secret.txt");
    rename_race("bind-dir-relative", "/data/dir", "/data/up", "/data/dir/secret.txt", rounds);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: escape_probe SECRET_HOST_PATH RACE_ROUNDS\n");
        return 2;
    }
    secret = argv[1];
    setvbuf(stdout, NULL, _IOLBF, 0);

    result("hardlink-host-path", "link", link(secret, "/hardlink"));
    result("hardlink-follow", "linkat",
           linkat(AT_FDCWD, "/link_abs", AT_FDCWD, "/hardlink2", AT_SYMLINK_FOLLOW));
    attack("absolute", secret);
    attack("dotdot-above-root", join("/../../../../../../..", secret));
    attack("symlink-to-root", join("/link_root", secret));
    attack("symlink-dotdot", join("/link_up", secret));
    attack("symlink-absolute", "/link_abs");
    attack("symlink-outside-dir", "/link_dir/secret.txt");
    attack("proc-self-root", join("/proc/self/root", secret));
    attack("proc-self-root-dotdot", join("/proc/self/root/../../../..", secret));
    attack("proc-1-root", join("/proc/1/root", secret));
    attack("proc-self-cwd-dotdot", join("/proc/self/cwd/../../../..", secret));
    attack("bind-mount-dotdot", "/data/../secret/secret.txt");
    attack("bind-mount-symlink", "/data/up/secret.txt");

    if (chdir("/data") == 0) {
        for (int i = 0; i < 20; i++)
            if (chdir("..") != 0) break;
        attack("chdir-dotdot", join(".", secret));
    }
    chdir("/");

    int sub = open("/data", O_PATH | O_DIRECTORY);
    openat2_attack("openat2-beneath", sub, "../../../../../..", RESOLVE_BENEATH);
    openat2_attack("openat2-beneath-secret", sub, join("../../../../../..", secret), RESOLVE_BENEATH);
    openat2_attack("openat2-in-root", sub, join("../../../../../..", secret), RESOLVE_IN_ROOT);
    openat2_attack("openat2-in-root-symlink", sub, "up/secret.txt", RESOLVE_IN_ROOT);
    openat2_attack("openat2-no-magiclinks", AT_FDCWD, join("/proc/self/root", secret), RESOLVE_NO_MAGICLINKS);
    openat2_attack("openat2-no-xdev", AT_FDCWD, join("/proc/1/root", secret), RESOLVE_NO_XDEV);
    close(sub);

    rename_races(atoi(argv[2]));
    return 0;
}
