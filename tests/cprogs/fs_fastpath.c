/* fs_fastpath DIR: the cases the sentry's metadata fast paths must keep right, printed so
 * that a native run and a sandboxed one can be compared line by line.
 *   - small in-memory files: holes, truncation, growth past the size where the sentry moves
 *     them to a memfd, a MAP_SHARED mapping of a small file seen by read() and write();
 *   - one file reached by many spellings of its path (//, ., .., symlinks, trailing slash);
 *   - cached names after rename, unlink, rmdir and re-creation. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <grp.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char dir[2048];

static const char *at(const char *name) {
    static char paths[8][4096];
    static int next;
    char *path = paths[next++ % 8];
    snprintf(path, sizeof paths[0], "%s/%s", dir, name);
    return path;
}

static void show_stat(const char *label, const char *path, int follow) {
    struct stat s;
    int rc = follow ? stat(path, &s) : lstat(path, &s);
    if (rc < 0) {
        printf("%s: errno %d\n", label, errno);
        return;
    }
    printf("%s: mode %o size %lld nlink %lu\n", label, s.st_mode, (long long)s.st_size,
           (unsigned long)s.st_nlink);
}

static unsigned long checksum(int fd, off_t size) {
    unsigned long sum = 0;
    unsigned char buf[4096];
    for (off_t pos = 0; pos < size;) {
        ssize_t got = pread(fd, buf, sizeof buf, pos);
        if (got <= 0) return (unsigned long)-1;
        for (ssize_t i = 0; i < got; i++) sum = sum * 31 + buf[i] + (unsigned long)(pos + i);
        pos += got;
    }
    return sum;
}

static void small_files(void) {
    int fd = open(at("small"), O_CREAT | O_RDWR | O_EXCL, 0640);
    char buf[256];
    if (write(fd, "hello", 5) != 5) printf("write failed %d\n", errno);
    ftruncate(fd, 10);
    ssize_t got = pread(fd, buf, sizeof buf, 0);
    printf("after growing truncate: %zd bytes, tail zero %d\n", got, buf[7] == 0 && buf[9] == 0);
    ftruncate(fd, 3);
    got = pread(fd, buf, sizeof buf, 0);
    printf("after shrinking truncate: %zd bytes %.3s\n", got, buf);
    pwrite(fd, "Z", 1, 100);
    got = pread(fd, buf, sizeof buf, 0);
    printf("after write past the end: %zd bytes, hole zero %d, last %c\n", got, buf[50] == 0, buf[100]);
    show_stat("small", at("small"), 1);

    char *map = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (map == MAP_FAILED) {
        printf("mmap errno %d\n", errno);
    } else {
        map[0] = 'M';
        pread(fd, buf, 1, 0);
        printf("read sees the mapping's write: %c\n", buf[0]);
        pwrite(fd, "W", 1, 1);
        printf("mapping sees write(): %c\n", map[1]);
        munmap(map, 4096);
    }
    close(fd);

    fd = open(at("growing"), O_CREAT | O_RDWR | O_TRUNC, 0600);
    char chunk[1000];
    for (int i = 0; i < 70; i++) {
        memset(chunk, 'a' + i % 26, sizeof chunk);
        if (write(fd, chunk, sizeof chunk) != sizeof chunk) printf("write %d failed %d\n", i, errno);
    }
    printf("grown to 70000: checksum %lu\n", checksum(fd, 70000));
    ftruncate(fd, 100);
    pwrite(fd, "end", 3, 197);
    printf("shrunk and regrown: size %lld checksum %lu\n", (long long)lseek(fd, 0, SEEK_END),
           checksum(fd, 200));
    close(fd);
    unlink(at("growing"));
}

static void spellings(void) {
    mkdir(at("d"), 0755);
    mkdir(at("d/sub"), 0755);
    close(open(at("d/sub/f"), O_CREAT | O_WRONLY, 0644));
    symlink("sub", at("d/link"));
    symlink("link/f", at("d/flink"));
    symlink("../sub", at("d/sub/back"));
    const char *names[] = {"d/sub/f", "d//sub///f", "d/./sub/./f", "d/sub/../sub/f", "d/link/f",
                           "d/flink", "d/sub/back/back/f", "d/sub/f/", "d/link/", "d/flink/",
                           "d/nope/f", "d/sub/f/x", NULL};
    for (int i = 0; names[i]; i++) show_stat(names[i], at(names[i]), 1);
    show_stat("lstat d/flink", at("d/flink"), 0);
    show_stat("lstat d/link/", at("d/link/"), 0);
}

static void cached_names(void) {
    show_stat("before rename", at("d/sub/f"), 1);
    rename(at("d/sub/f"), at("d/g"));
    show_stat("old name", at("d/sub/f"), 1);
    show_stat("new name", at("d/g"), 1);
    show_stat("through link", at("d/link/f"), 1);
    int fd = open(at("d/g"), O_RDONLY);
    unlink(at("d/g"));
    struct stat s;
    fstat(fd, &s);
    printf("open after unlink: nlink %lu\n", (unsigned long)s.st_nlink);
    show_stat("unlinked", at("d/g"), 1);
    close(fd);
    mkdir(at("d/g"), 0700);
    show_stat("re-created as a directory", at("d/g"), 1);
    rmdir(at("d/g"));
    show_stat("removed", at("d/g/"), 1);
    int sub = open(at("d/sub"), O_RDONLY | O_DIRECTORY);
    struct stat via_fd;
    if (fstatat(sub, "back/../sub/back/f2", &via_fd, AT_SYMLINK_NOFOLLOW) < 0)
        printf("fstatat from a dirfd: errno %d\n", errno);
    if (fstatat(sub, "back/../link/", &via_fd, 0) == 0)
        printf("fstatat from a dirfd: mode %o\n", via_fd.st_mode);
    close(sub);
}

static void report(const char *label, int rc) {
    printf("%s: %s\n", label, rc < 0 ? strerror(errno) : "ok");
}

/* What the root-only shortcuts skip must still be checked for everyone else. */
static void permissions(void) {
    mkdir(at("locked"), 0700);
    close(open(at("locked/f"), O_CREAT | O_WRONLY, 0644));
    mkdir(at("sticky"), 0777);
    chmod(at("sticky"), 01777);
    close(open(at("readable"), O_CREAT | O_WRONLY, 0644));
    close(open(at("sticky/theirs"), O_CREAT | O_WRONLY, 0644));
    chown(at("sticky/theirs"), 2000, 2000);
    close(open(at("sticky/mine"), O_CREAT | O_WRONLY, 0644));
    chown(at("sticky/mine"), 1000, 1000);
    close(open(at("sticky/roots"), O_CREAT | O_WRONLY, 0644));
    mkdir(at("setgid"), 02775);
    chown(at("setgid"), 0, 3000);
    chmod(at("setgid"), 02777);
    chmod(dir, 0755);
    fflush(stdout);
    pid_t child = fork();
    if (child == 0) {
        if (setgroups(0, NULL) < 0 || setresgid(1000, 1000, 1000) < 0 || setresuid(1000, 1000, 1000) < 0) {
            printf("dropping privileges: %s\n", strerror(errno));
            _exit(1);
        }
        struct stat s;
        report("user: stat in a 0700 directory", stat(at("locked/f"), &s));
        report("user: create in a 0755 root directory", open(at("new"), O_CREAT | O_WRONLY, 0644));
        report("user: open a root 0644 file for writing", open(at("readable"), O_WRONLY));
        report("user: open a root 0644 file for reading", open(at("readable"), O_RDONLY));
        report("user: open a root 0640 file for reading", open(at("small"), O_RDONLY));
        report("user: unlink another user's file in a sticky directory", unlink(at("sticky/theirs")));
        report("user: unlink root's file in a sticky directory", unlink(at("sticky/roots")));
        report("user: unlink own file in a sticky directory", unlink(at("sticky/mine")));
        int fd = open(at("setgid/f"), O_CREAT | O_WRONLY, 0644);
        report("user: create in a setgid directory", fd);
        if (fd >= 0 && fstat(fd, &s) == 0) printf("its group: %u\n", (unsigned)s.st_gid);
        fflush(stdout);
        _exit(0);
    }
    int status;
    waitpid(child, &status, 0);
    printf("child status %d\n", status);
    report("root: stat in a 0700 directory", access(at("locked/f"), F_OK));
    report("root: unlink another user's file in a sticky directory", unlink(at("sticky/theirs")));
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: fs_fastpath DIR\n");
        return 2;
    }
    umask(022);
    snprintf(dir, sizeof dir, "%s/fastpath.XXXXXX", argv[1]);
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    small_files();
    spellings();
    cached_names();
    permissions();
    return 0;
}
