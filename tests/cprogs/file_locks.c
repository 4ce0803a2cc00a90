/* flock(2) and fcntl(2) record locks between processes: conflicts, waits,
 * F_GETLK answers, splitting and merging, release on close, OFD locks and
 * EDEADLK. Prints one line per check; the sandbox must print the same. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *path;

static void result(const char *what, int rc) {
    if (rc < 0)
        printf("%s: %s\n", what, strerrorname_np(errno));
    else
        printf("%s: ok\n", what);
    fflush(stdout);
}

static int setlk(int fd, int cmd, short type, off_t start, off_t len) {
    struct flock fl = {.l_type = type, .l_whence = SEEK_SET, .l_start = start, .l_len = len};
    return fcntl(fd, cmd, &fl);
}

static void getlk(const char *what, int fd, int cmd, short type, off_t start, off_t len, pid_t expect) {
    struct flock fl = {.l_type = type, .l_whence = SEEK_SET, .l_start = start, .l_len = len};
    if (fcntl(fd, cmd, &fl) < 0) {
        printf("%s: %s\n", what, strerrorname_np(errno));
        return;
    }
    const char *types[] = {"RD", "WR", "UN"};
    printf("%s: type=%s start=%lld len=%lld pid=%s\n", what, types[fl.l_type], (long long)fl.l_start,
           (long long)fl.l_len, fl.l_type == F_UNLCK ? "-" : fl.l_pid == expect ? "holder" : fl.l_pid == -1 ? "-1" : "other");
    fflush(stdout);
}

/* Waits for a child that exits with 0 or the errno of its one check, and prints that check:
 * the child must not print itself, or the order of its line and the parent's would be a race. */
static void child_result(const char *what, pid_t pid) {
    int status;
    waitpid(pid, &status, 0);
    errno = WEXITSTATUS(status);
    result(what, errno ? -1 : 0);
}

/* Runs fn in a child and waits for it; the child's own checks print. */
static void in_child(void (*fn)(void)) {
    pid_t pid = fork();
    if (pid == 0) {
        fn();
        _exit(0);
    }
    waitpid(pid, NULL, 0);
}

static void child_flock_probe(void) {
    int fd = open(path, O_RDWR);
    result("child flock EX|NB", flock(fd, LOCK_EX | LOCK_NB));
    result("child flock SH|NB", flock(fd, LOCK_SH | LOCK_NB));
}

static void child_record_probe(void) {
    int fd = open(path, O_RDWR);
    getlk("child getlk WR 0-99", fd, F_GETLK, F_WRLCK, 0, 100, getppid());
    getlk("child getlk RD 20-29", fd, F_GETLK, F_RDLCK, 20, 10, getppid());
    getlk("child getlk WR 50-59", fd, F_GETLK, F_WRLCK, 50, 10, getppid());
    result("child setlk WR 10-19", setlk(fd, F_SETLK, F_WRLCK, 10, 10));
    result("child setlk RD 20-29", setlk(fd, F_SETLK, F_RDLCK, 20, 10));
    result("child setlk WR 45-49", setlk(fd, F_SETLK, F_WRLCK, 45, 5));
    result("child ofd WR 45-49", setlk(fd, F_OFD_SETLK, F_WRLCK, 45, 5));
}

int main(int argc, char **argv) {
    path = argc > 1 ? argv[1] : "/tmp/locks.dat";
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || write(fd, "0123456789", 10) != 10) {
        perror("setup");
        return 1;
    }

    /* flock: owned by the open file description. */
    result("flock EX", flock(fd, LOCK_EX));
    in_child(child_flock_probe);
    result("flock SH (convert)", flock(fd, LOCK_SH));
    in_child(child_flock_probe);
    int dupfd = dup(fd);
    result("flock UN through a dup", flock(dupfd, LOCK_UN));
    in_child(child_flock_probe);
    result("flock bad op", flock(fd, 3));
    result("flock on a closed fd", flock(99, LOCK_SH));

    /* A blocking flock waits until the holder lets go. */
    result("flock EX again", flock(fd, LOCK_EX));
    int ready[2];
    pipe(ready);
    pid_t waiter = fork();
    if (waiter == 0) {
        int own = open(path, O_RDWR);
        write(ready[1], "x", 1);
        _exit(flock(own, LOCK_EX) == 0 ? 0 : errno);
    }
    char c;
    read(ready[0], &c, 1);
    usleep(100000);
    result("parent flock UN", flock(fd, LOCK_UN));
    child_result("child blocking flock EX", waiter);

    /* Record locks: ranges, splitting, F_GETLK. */
    result("setlk WR 0-99", setlk(fd, F_SETLK, F_WRLCK, 0, 100));
    result("setlk UN 30-39 (split)", setlk(fd, F_SETLK, F_UNLCK, 30, 10));
    result("setlk RD 20-29 (convert part)", setlk(fd, F_SETLK, F_RDLCK, 20, 10));
    in_child(child_record_probe);
    getlk("own getlk never conflicts", fd, F_GETLK, F_WRLCK, 0, 0, getpid());

    /* Closing any fd of the file drops the process's POSIX locks. */
    int other = open(path, O_RDONLY);
    close(other);
    in_child(child_record_probe);

    /* Bad requests. */
    result("setlk bad type", setlk(fd, F_SETLK, 7, 0, 1));
    result("setlk negative start", setlk(fd, F_SETLK, F_WRLCK, -5, 1));
    result("setlk negative len below 0", setlk(fd, F_SETLK, F_WRLCK, 2, -5));
    int rdonly = open(path, O_RDONLY);
    result("setlk WR on O_RDONLY", setlk(rdonly, F_SETLK, F_WRLCK, 0, 1));
    struct flock with_pid = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_pid = 1};
    result("ofd setlk with l_pid", fcntl(fd, F_OFD_SETLK, &with_pid));
    struct flock bad_whence = {.l_type = F_WRLCK, .l_whence = 9};
    result("setlk bad whence", fcntl(fd, F_SETLK, &bad_whence));
    result("setlk bad pointer", fcntl(fd, F_SETLK, (void *)8));

    /* OFD locks conflict with another description's, even in the same process. */
    int ofd1 = open(path, O_RDWR), ofd2 = open(path, O_RDWR);
    result("ofd WR 200-209 on ofd1", setlk(ofd1, F_OFD_SETLK, F_WRLCK, 200, 10));
    result("ofd WR 205-214 on ofd2", setlk(ofd2, F_OFD_SETLK, F_WRLCK, 205, 10));
    getlk("ofd getlk on ofd2", ofd2, F_OFD_GETLK, F_RDLCK, 200, 1, 0);
    close(ofd1);
    result("ofd WR 205-214 after close", setlk(ofd2, F_OFD_SETLK, F_WRLCK, 205, 10));

    /* EDEADLK: parent holds A waits for B, child holds B waits for A. */
    int to_child[2], to_parent[2];
    pipe(to_child);
    pipe(to_parent);
    result("setlk WR 1000 (A)", setlk(fd, F_SETLK, F_WRLCK, 1000, 1));
    pid_t partner = fork();
    if (partner == 0) {
        int own = open(path, O_RDWR);
        setlk(own, F_SETLK, F_WRLCK, 2000, 1); /* B */
        write(to_parent[1], "x", 1);
        read(to_child[0], &c, 1);
        _exit(setlk(own, F_SETLKW, F_WRLCK, 1000, 1) == 0 ? 0 : errno);
    }
    read(to_parent[0], &c, 1);
    write(to_child[1], "x", 1);
    usleep(200000);
    result("parent setlkw B", setlk(fd, F_SETLKW, F_WRLCK, 2000, 1));
    result("parent UN A", setlk(fd, F_SETLK, F_UNLCK, 1000, 1));
    child_result("child setlkw A (parent waits for B)", partner);
    result("parent setlkw B after child exit", setlk(fd, F_SETLKW, F_WRLCK, 2000, 1));

    /* A file whose every lock was unlocked again is closed like any other. */
    int again = open(path, O_RDWR);
    result("lock a fresh range", setlk(again, F_SETLK, F_WRLCK, 5000, 10));
    result("unlock it", setlk(again, F_SETLK, F_UNLCK, 5000, 10));
    setlk(fd, F_SETLK, F_UNLCK, 0, 0);
    result("close after unlocking everything", close(again));
    unlink(path);
    return 0;
}
