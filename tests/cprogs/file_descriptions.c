/* Open file descriptions are shared by dup and fork: one offset, one set of status flags
 * (O_APPEND, O_NONBLOCK), while FD_CLOEXEC belongs to each descriptor and exec honours it.
 * argv[1] is a writable directory; with argv[2] == "exec-check" the program only reports
 * which of fds 3..9 are open (run after an exec). */
#include "fs_check.h"
#include <fcntl.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc > 2 && !strcmp(argv[2], "exec-check")) {
        for (int fd = 3; fd < 10; fd++)
            printf("after exec fd %d: %s\n", fd, fcntl(fd, F_GETFD) < 0 ? "closed" : "open");
        return 0;
    }
    char path[300];
    snprintf(path, sizeof path, "%s/descriptions-%d", argv[1], (int)getpid());
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    write(fd, "0123456789", 10);
    lseek(fd, 2, SEEK_SET);
    int copy = dup(fd);
    R("offset through the dup", lseek(copy, 0, SEEK_CUR));
    char c;
    read(copy, &c, 1);
    R("offset after reading the dup", lseek(fd, 0, SEEK_CUR));
    pid_t child = fork();
    if (child == 0) {
        lseek(fd, 7, SEEK_SET);
        fcntl(fd, F_SETFL, O_APPEND | O_NONBLOCK);
        _exit(0);
    }
    waitpid(child, NULL, 0);
    R("offset moved by the child", lseek(copy, 0, SEEK_CUR));
    int flags = fcntl(copy, F_GETFL);
    printf("flags set by the child: append %d nonblock %d\n", !!(flags & O_APPEND), !!(flags & O_NONBLOCK));
    lseek(fd, 0, SEEK_SET);
    write(copy, "A", 1);
    R("O_APPEND write lands at the end", lseek(fd, 0, SEEK_CUR));
    int other = open(path, O_RDWR);
    R("another open has its own offset", lseek(other, 0, SEEK_CUR));
    R("and its own flags", fcntl(other, F_GETFL) & O_APPEND);
    pwrite(other, "Z", 1, 0);
    char buf[16] = {0};
    pread(fd, buf, 11, 0);
    printf("contents %s\n", buf);

    fcntl(fd, F_SETFD, FD_CLOEXEC);
    R("cloexec is per descriptor", fcntl(copy, F_GETFD));
    int high = fcntl(other, F_DUPFD_CLOEXEC, 8);
    R("F_DUPFD_CLOEXEC", fcntl(high, F_GETFD));
    dup2(other, 9);
    dup3(other, 7, O_CLOEXEC);
    fflush(stdout);
    child = fork();
    if (child == 0) {
        execl("/proc/self/exe", argv[0], argv[1], "exec-check", (char *)NULL);
        _exit(127);
    }
    int status;
    waitpid(child, &status, 0);
    printf("exec'd child status %d\n", WEXITSTATUS(status));
    unlink(path);
    return 0;
}
