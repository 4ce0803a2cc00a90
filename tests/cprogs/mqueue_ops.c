/* POSIX message queues (mq_overview(7)) call by call: names, attributes and limits,
 * priorities, blocking and timeouts, mq_notify, poll, and the mqueue filesystem.
 * argv[1]: an empty directory to mount an mqueue filesystem on.
 * Run natively inside `unshare --ipc --mount` so the queues and the mount stay private. */
#include "fs_check.h"
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <mqueue.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t got_signo, got_code, got_value, got_pid_is_sender;
static pid_t sender_pid;

static void on_signal(int signo, siginfo_t *info, void *context) {
    (void)context;
    got_signo = signo;
    got_code = info->si_code;
    got_value = info->si_value.sival_int;
    got_pid_is_sender = info->si_pid == sender_pid;
}

static long raw_open(const char *name, int flags, mode_t mode, struct mq_attr *attr) {
    return syscall(SYS_mq_open, name, flags, mode, attr);
}

static void show_attr(const char *what, mqd_t q) {
    struct mq_attr a;
    if (mq_getattr(q, &a) < 0) {
        R(what, -1);
        return;
    }
    printf("%s: flags=%s maxmsg=%ld msgsize=%ld curmsgs=%ld\n", what,
           a.mq_flags & O_NONBLOCK ? "NONBLOCK" : "0", a.mq_maxmsg, a.mq_msgsize, a.mq_curmsgs);
}

static void show_file(const char *dir, const char *name) {
    char path[PATH_MAX], text[256] = {0};
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        R(name, -1);
        return;
    }
    ssize_t n = read(fd, text, sizeof text - 1);
    close(fd);
    char *pid_field = strstr(text, "NOTIFY_PID:");
    if (pid_field != NULL && atoi(pid_field + 11) == getpid())
        memcpy(pid_field + 11, "self  ", 6);   /* pids differ between the two runs */
    printf("file %s (%zd bytes): %s", name, n, text);
}

static void show_poll(const char *what, mqd_t q) {
    struct pollfd p = {.fd = q, .events = POLLIN | POLLOUT | POLLRDNORM | POLLWRNORM};
    int n = poll(&p, 1, 0);
    printf("%s: poll %d revents %#x\n", what, n, p.revents);
}

static struct timespec in_past(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec -= 1;
    return ts;
}

static struct timespec soon(long ms) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += ms * 1000000;
    ts.tv_sec += ts.tv_nsec / 1000000000;
    ts.tv_nsec %= 1000000000;
    return ts;
}

static void names(void) {
    struct mq_attr attr = {.mq_maxmsg = 4, .mq_msgsize = 16};
    R("open missing", mq_open("/mq-missing", O_RDWR));
    R("raw open name with slash", raw_open("a/b", O_RDWR | O_CREAT, 0600, NULL));
    R("raw open empty name", raw_open("", O_RDWR | O_CREAT, 0600, NULL));
    R("raw open dot", raw_open(".", O_RDWR | O_CREAT, 0600, NULL));
    R("raw open dotdot", raw_open("..", O_RDWR | O_CREAT, 0600, NULL));
    char long_name[300] = "/";
    memset(long_name + 1, 'n', 256);
    R("open long name", mq_open(long_name, O_RDWR | O_CREAT, 0600, &attr));
    R("raw open bad pointer", raw_open((const char *)8, O_RDWR, 0, NULL));
    struct mq_attr bad = {.mq_maxmsg = 0, .mq_msgsize = 16};
    R("maxmsg 0", mq_open("/mq-bad", O_RDWR | O_CREAT, 0600, &bad));
    bad = (struct mq_attr){.mq_maxmsg = 4, .mq_msgsize = 0};
    R("msgsize 0", mq_open("/mq-bad", O_RDWR | O_CREAT, 0600, &bad));
    bad = (struct mq_attr){.mq_maxmsg = -1, .mq_msgsize = 16};
    R("maxmsg -1", mq_open("/mq-bad", O_RDWR | O_CREAT, 0600, &bad));
    bad = (struct mq_attr){.mq_maxmsg = 70000, .mq_msgsize = 16};
    R("maxmsg over the hard limit", mq_open("/mq-bad", O_RDWR | O_CREAT, 0600, &bad));
    R("bad access mode", raw_open("mq-bad", O_WRONLY | O_RDWR | O_CREAT, 0600, NULL));
    R("raw open bad attr pointer", raw_open("mq-bad", O_RDWR | O_CREAT, 0600, (struct mq_attr *)8));
    R("access mode 3 made it", mq_open("/mq-bad", O_RDWR) >= 0);

    mqd_t q = mq_open("/mq-names", O_RDWR | O_CREAT | O_EXCL, 0640, NULL);
    R("create default attrs", q >= 0);
    show_attr("default attrs", q);
    R("create excl again", mq_open("/mq-names", O_RDWR | O_CREAT | O_EXCL, 0600, NULL));
    mqd_t again = mq_open("/mq-names", O_RDONLY | O_CREAT, 0600, &attr);
    R("create existing (attrs ignored)", again >= 0);
    show_attr("existing attrs", again);
    struct stat s;
    R("fstat", fstat(q, &s));
    printf("fstat mode %o size %ld nlink %ld\n", s.st_mode, (long)s.st_size, (long)s.st_nlink);
    R("unlink", mq_unlink("/mq-names"));
    R("unlink again", mq_unlink("/mq-names"));
    R("raw unlink bad pointer", syscall(SYS_mq_unlink, (const char *)8));
    R("send after unlink", mq_send(q, "still here", 10, 0));
    char buf[8192];
    R("receive after unlink", mq_receive(again, buf, sizeof buf, NULL));
    R("close", mq_close(q));
    R("close other", mq_close(again));
}

static void messages(void) {
    struct mq_attr attr = {.mq_maxmsg = 3, .mq_msgsize = 16};
    mqd_t q = mq_open("/mq-msgs", O_RDWR | O_CREAT | O_EXCL, 0600, &attr);
    show_attr("attrs", q);
    show_poll("empty", q);
    char buf[64];
    unsigned prio = 99;
    R("send too long", mq_send(q, "0123456789abcdefg", 17, 0));
    R("send prio too high", mq_send(q, "x", 1, 32768));
    R("send prio max", mq_send(q, "max", 3, 32767));
    R("receive small buffer", mq_receive(q, buf, 15, &prio));
    R("receive max", mq_receive(q, buf, sizeof buf, &prio));
    printf("prio %u\n", prio);
    R("send one/1", mq_send(q, "one", 3, 1));
    R("send five/5", mq_send(q, "five", 4, 5));
    R("send five-b/5", mq_send(q, "five-b", 6, 5));
    show_attr("full attrs", q);
    show_poll("full", q);
    R("send full timed out", mq_timedsend(q, "x", 1, 0, &(struct timespec){in_past().tv_sec, 0}));
    struct timespec bad = {.tv_sec = 0, .tv_nsec = 1000000000};
    R("send full bad timeout", mq_timedsend(q, "x", 1, 0, &bad));
    R("raw send bad buffer", syscall(SYS_mq_timedsend, q, (const char *)8, 1, 0, NULL));
    struct mq_attr nonblock = {.mq_flags = O_NONBLOCK}, old;
    R("setattr nonblock", mq_setattr(q, &nonblock, &old));
    printf("old flags %s\n", old.mq_flags & O_NONBLOCK ? "NONBLOCK" : "0");
    R("send full nonblocking", mq_send(q, "x", 1, 0));
    struct mq_attr junk = {.mq_flags = O_NONBLOCK | O_APPEND};
    R("setattr other flags", mq_setattr(q, &junk, NULL));
    R("raw getsetattr bad pointer", syscall(SYS_mq_getsetattr, q, (struct mq_attr *)8, NULL));
    for (int i = 0; i < 3; i++) {
        memset(buf, 0, sizeof buf);
        ssize_t n = mq_receive(q, buf, sizeof buf, &prio);
        printf("received %zd '%s' prio %u\n", n, buf, prio);
    }
    R("receive empty nonblocking", mq_receive(q, buf, sizeof buf, &prio));
    R("setattr blocking", mq_setattr(q, &(struct mq_attr){.mq_flags = 0}, NULL));
    R("receive empty timed out", mq_timedreceive(q, buf, sizeof buf, &prio, &(struct timespec){in_past().tv_sec, 0}));
    struct timespec deadline = soon(50);
    R("receive empty 50ms", mq_timedreceive(q, buf, sizeof buf, &prio, &deadline));
    R("receive bad timeout", mq_timedreceive(q, buf, sizeof buf, &prio, &bad));
    R("send empty message", mq_send(q, "", 0, 7));
    R("receive empty message", mq_receive(q, buf, sizeof buf, &prio));
    printf("prio %u\n", prio);

    int p[2];
    pipe(p);
    R("send on a pipe", mq_send(p[1], "x", 1, 0));
    R("receive on a pipe", mq_receive(p[0], buf, sizeof buf, NULL));
    R("getattr on a pipe", mq_getattr(p[0], &old));
    R("send bad fd", mq_send(999, "x", 1, 0));
    mqd_t reader = mq_open("/mq-msgs", O_RDONLY);
    R("send on read-only", mq_send(reader, "x", 1, 0));
    mqd_t writer = mq_open("/mq-msgs", O_WRONLY);
    R("receive on write-only", mq_receive(writer, buf, sizeof buf, NULL));

    /* A blocked receiver is woken by a sender in another process. */
    pid_t child = fork();
    if (child == 0) {
        usleep(50000);
        mq_send(writer, "from child", 10, 3);
        _exit(0);
    }
    memset(buf, 0, sizeof buf);
    ssize_t n = mq_receive(reader, buf, sizeof buf, &prio);
    printf("blocking receive %zd '%s' prio %u\n", n, buf, prio);
    waitpid(child, NULL, 0);

    /* select and epoll see the queue too. */
    fd_set readable;
    FD_ZERO(&readable);
    FD_SET(reader, &readable);
    R("select empty", select(reader + 1, &readable, NULL, NULL, &(struct timeval){0, 0}));
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = 42}, out;
    R("epoll add", epoll_ctl(ep, EPOLL_CTL_ADD, reader, &ev));
    R("epoll empty", epoll_wait(ep, &out, 1, 0));
    mq_send(writer, "hi", 2, 0);
    R("epoll after send", epoll_wait(ep, &out, 1, 1000));
    printf("epoll events %#x data %u\n", out.events, out.data.u32);
    FD_SET(reader, &readable);
    R("select after send", select(reader + 1, &readable, NULL, NULL, &(struct timeval){0, 0}));
    mq_close(reader);
    mq_close(writer);
    mq_close(q);
    close(ep);
}

static void notify(void) {
    struct sigaction sa = {.sa_sigaction = on_signal, .sa_flags = SA_SIGINFO};
    sigaction(SIGUSR1, &sa, NULL);
    struct mq_attr attr = {.mq_maxmsg = 4, .mq_msgsize = 32};
    mqd_t q = mq_open("/mq-notify", O_RDWR | O_CREAT, 0600, &attr);
    struct sigevent sev = {.sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGUSR1};
    sev.sigev_value.sival_int = 1234;
    R("notify bad signal", mq_notify(q, &(struct sigevent){.sigev_notify = SIGEV_SIGNAL, .sigev_signo = 99}));
    R("notify bad kind", mq_notify(q, &(struct sigevent){.sigev_notify = 7}));
    R("unregister with nothing registered", mq_notify(q, NULL));
    R("notify", mq_notify(q, &sev));
    R("notify twice", mq_notify(q, &sev));
    R("raw notify bad pointer", syscall(SYS_mq_notify, q, (struct sigevent *)8));
    R("notify on a pipe", mq_notify(0, &sev));
    pid_t child = fork();
    if (child == 0) {
        R("child notify while parent registered", mq_notify(q, &sev));
        _exit(0);
    }
    waitpid(child, NULL, 0);

    sender_pid = getpid();
    R("send (notifies)", mq_send(q, "a", 1, 0));
    printf("signal %d code %s value %d pid is sender %d\n", got_signo,
           got_code == SI_MESGQ ? "SI_MESGQ" : "other", got_value, got_pid_is_sender);
    got_signo = 0;
    R("send again (registration gone)", mq_send(q, "b", 1, 0));
    printf("signal %d\n", got_signo);
    R("notify again", mq_notify(q, &sev));
    R("send to non-empty queue", mq_send(q, "c", 1, 0));
    printf("signal %d\n", got_signo);
    char buf[64];
    while (mq_timedreceive(q, buf, sizeof buf, NULL, &(struct timespec){0, 0}) >= 0)
        ;
    child = fork();
    if (child == 0) {
        sender_pid = getpid();
        usleep(20000);
        mq_send(q, "from child", 10, 0);
        _exit(0);
    }
    sender_pid = child;
    waitpid(child, NULL, 0);
    printf("signal %d from child %d\n", got_signo, got_pid_is_sender);
    got_signo = 0;

    R("notify none", mq_notify(q, &(struct sigevent){.sigev_notify = SIGEV_NONE}));
    while (mq_timedreceive(q, buf, sizeof buf, NULL, &(struct timespec){0, 0}) >= 0)
        ;
    R("send with SIGEV_NONE", mq_send(q, "d", 1, 0));
    printf("signal %d\n", got_signo);
    R("notify after SIGEV_NONE fired", mq_notify(q, &sev));
    R("unregister", mq_notify(q, NULL));
    R("notify once more", mq_notify(q, &sev));
    R("close drops the registration", mq_close(q));
    q = mq_open("/mq-notify", O_RDWR);
    R("notify after close", mq_notify(q, &sev));
    mq_close(q);
    mq_unlink("/mq-notify");
}

static int thread_pipe[2];

static void on_message(union sigval value) {
    char note[64];
    int n = snprintf(note, sizeof note, "thread got value %d", value.sival_int);
    write(thread_pipe[1], note, n);
}

static void notify_thread(void) {
    pipe(thread_pipe);
    struct mq_attr attr = {.mq_maxmsg = 2, .mq_msgsize = 8};
    mqd_t q = mq_open("/mq-thread", O_RDWR | O_CREAT, 0600, &attr);
    struct sigevent sev = {.sigev_notify = SIGEV_THREAD, .sigev_notify_function = on_message};
    sev.sigev_value.sival_int = 77;
    R("notify thread", mq_notify(q, &sev));
    R("notify thread twice", mq_notify(q, &sev));
    R("send (starts the thread)", mq_send(q, "t", 1, 0));
    char note[64] = {0};
    R("thread wrote", read(thread_pipe[0], note, sizeof note - 1) > 0);
    printf("%s\n", note);
    R("notify thread again", mq_notify(q, &sev));
    R("unregister the thread", mq_notify(q, NULL));
    R("notify thread after unregistering", mq_notify(q, &sev));
    mq_close(q);
    mq_unlink("/mq-thread");
    int sock_pair[2];
    socketpair(AF_UNIX, SOCK_DGRAM, 0, sock_pair);
    q = mq_open("/mq-thread2", O_RDWR | O_CREAT, 0600, &attr);
    char cookie[32] = {0};
    struct sigevent raw = {.sigev_notify = SIGEV_THREAD, .sigev_signo = sock_pair[0]};
    raw.sigev_value.sival_ptr = cookie;
    R("raw thread notify on a unix socket", syscall(SYS_mq_notify, q, &raw));
    raw.sigev_signo = thread_pipe[0];
    R("raw thread notify on a pipe", syscall(SYS_mq_notify, q, &raw));
    raw.sigev_signo = 999;
    R("raw thread notify on a bad fd", syscall(SYS_mq_notify, q, &raw));
    raw.sigev_value.sival_ptr = (void *)8;
    R("raw thread notify bad cookie", syscall(SYS_mq_notify, q, &raw));
    mq_close(q);
    mq_unlink("/mq-thread2");
}

static void filesystem(const char *dir) {
    mkdir(dir, 0755);
    R("mount mqueue", mount("mqueue", dir, "mqueue", 0, NULL));
    struct mq_attr attr = {.mq_maxmsg = 5, .mq_msgsize = 64};
    mqd_t q = mq_open("/mq-fs", O_RDWR | O_CREAT, 0620, &attr);
    mq_send(q, "hello", 5, 1);
    mq_send(q, "world!!", 7, 2);
    show_file(dir, "mq-fs");
    struct sigevent sev = {.sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGUSR2};
    mq_notify(q, &sev);
    show_file(dir, "mq-fs");
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/mq-fs", dir);
    struct stat s;
    R("stat", stat(path, &s));
    printf("stat mode %o size %ld\n", s.st_mode, (long)s.st_size);
    DIR *d = opendir(dir);
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            printf("entry %s type %d\n", e->d_name, e->d_type);
    closedir(d);
    snprintf(path, sizeof path, "%s/made-by-open", dir);
    int fd = open(path, O_RDWR | O_CREAT, 0600);
    R("open O_CREAT in the fs", fd >= 0);
    show_attr("made by open attrs", fd);
    R("send through it", mq_send(fd, "x", 1, 0));
    show_file(dir, "made-by-open");
    snprintf(path, sizeof path, "%s/subdir", dir);
    R("mkdir in the fs", mkdir(path, 0755));
    snprintf(path, sizeof path, "%s/made-by-open", dir);
    R("unlink in the fs", unlink(path));
    R("gone from the namespace", mq_open("/made-by-open", O_RDWR));
    R("read on a queue fd", read(q, path, 10) > 0);
    R("write on a queue fd", write(q, "x", 1));
    mq_close(q);
    close(fd);
    mq_unlink("/mq-fs");
}

static void permissions(void) {
    mqd_t q = mq_open("/mq-perm", O_RDWR | O_CREAT, 0640, NULL);
    mq_close(q);
    pid_t child = fork();
    if (child == 0) {
        setgid(65534);
        setuid(65534);
        R("other opens 0640 read-only", mq_open("/mq-perm", O_RDONLY));
        R("other unlinks", mq_unlink("/mq-perm"));
        mqd_t own = mq_open("/mq-other", O_RDWR | O_CREAT, 0600, NULL);
        R("other creates", own >= 0);
        struct mq_attr big = {.mq_maxmsg = 11, .mq_msgsize = 16};
        R("other maxmsg over msg_max", mq_open("/mq-big", O_RDWR | O_CREAT, 0600, &big));
        setrlimit(RLIMIT_MSGQUEUE, &(struct rlimit){100000, 100000});
        R("other second queue over RLIMIT_MSGQUEUE", mq_open("/mq-other2", O_RDWR | O_CREAT, 0600, NULL));
        R("other unlinks its own", mq_unlink("/mq-other"));
        R("other second queue while the first is open", mq_open("/mq-other2", O_RDWR | O_CREAT, 0600, NULL));
        mq_close(own);
        R("other second queue fits now", mq_open("/mq-other2", O_RDWR | O_CREAT, 0600, NULL) >= 0);
        _exit(0);
    }
    waitpid(child, NULL, 0);
    mq_unlink("/mq-perm");
    mq_unlink("/mq-other2");
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: mqueue_ops DIR\n");
        return 2;
    }
    umask(022);
    names();
    messages();
    notify();
    notify_thread();
    filesystem(argv[1]);
    permissions();
    mq_unlink("/mq-msgs");
    return 0;
}
