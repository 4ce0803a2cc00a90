/* Named pipes (fifo(7)) in each directory given: mkfifo, the open rules (O_NONBLOCK writer
 * without a reader is ENXIO, a blocking open waits for the other end, O_RDWR never waits),
 * data through the pipe, EOF, and stat's file type. */
#include "fs_check.h"
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static void on_alarm(int signo) { (void)signo; }

static void check_fifo(const char *dir) {
    char path[300];
    snprintf(path, sizeof path, "%s/fifo-%d", dir, (int)getpid());
    R("mkfifo", mkfifo(path, 0640));
    R("mkfifo again", mkfifo(path, 0640));
    struct stat s;
    lstat(path, &s);
    printf("is fifo %d mode %o size %ld\n", S_ISFIFO(s.st_mode), s.st_mode & 07777, (long)s.st_size);
    R("nonblocking writer, no reader", open(path, O_WRONLY | O_NONBLOCK));
    int reader = open(path, O_RDONLY | O_NONBLOCK);
    R("nonblocking reader", reader >= 0 ? 0 : -1);
    char buf[64] = {0};
    R("read with a reader and no writer", read(reader, buf, sizeof buf));
    int writer = open(path, O_WRONLY | O_NONBLOCK);
    R("nonblocking writer with a reader", writer >= 0 ? 0 : -1);
    R("read, writer present, empty", read(reader, buf, sizeof buf));
    R("write", write(writer, "through the fifo", 16));
    R("read", read(reader, buf, sizeof buf));
    printf("got [%s]\n", buf);
    close(writer);
    close(reader);

    /* A blocking open waits for the other end. */
    pid_t child = fork();
    if (child == 0) {
        int w = open(path, O_WRONLY);
        write(w, "from the child", 14);
        close(w);
        _exit(0);
    }
    usleep(50000);
    reader = open(path, O_RDONLY);
    memset(buf, 0, sizeof buf);
    ssize_t total = 0, n;
    while ((n = read(reader, buf + total, sizeof buf - 1 - total)) > 0) total += n;
    printf("blocking pair read %zd [%s], then %s\n", total, buf, n == 0 ? "EOF" : "error");
    close(reader);
    waitpid(child, NULL, 0);

    int both = open(path, O_RDWR);
    R("O_RDWR open", both >= 0 ? 0 : -1);
    R("O_RDWR write", write(both, "x", 1));
    R("O_RDWR read", read(both, buf, 1));
    close(both);
    R("lseek on a fifo", ({ int r = open(path, O_RDWR); long x = lseek(r, 0, SEEK_SET); int e = errno; close(r); errno = e; x; }));
    /* A signal ends a waiting open (no SA_RESTART): the end it counted goes away again. */
    struct sigaction action = {.sa_handler = on_alarm};
    sigaction(SIGALRM, &action, NULL);
    ualarm(50000, 0);
    R("blocking open interrupted", open(path, O_RDONLY));
    R("nonblocking writer after that", open(path, O_WRONLY | O_NONBLOCK));
    R("unlink", unlink(path));
}

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        printf("== fifo in a directory #%d\n", i);
        check_fifo(argv[i]);
    }
    return 0;
}
