/* epoll on pipes: argument errors, level- and edge-triggered readiness, EPOLLONESHOT,
 * the ready list's round-robin order, hang-ups, and what closing a watched fd does. */
#include "epoll_check.h"
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/wait.h>

static struct epoll_event events[8];

/* epoll_wait with a 0 timeout, printing what it reports. */
static int show_ready(const char *what, int ep, int maxevents)
{
    int n = epoll_wait(ep, events, maxevents, 0);
    printf("%s: %d", what, n);
    if (n < 0)
        printf(" %s", strerrorname_np(errno));
    for (int i = 0; i < n; i++)
        printf(" [0x%x %llx]", events[i].events, (unsigned long long)events[i].data.u64);
    printf("\n");
    return n;
}

static int add(int ep, int fd, uint32_t flags, uint64_t data)
{
    struct epoll_event ev = {.events = flags, .data.u64 = data};
    return epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
}

static int mod(int ep, int fd, uint32_t flags, uint64_t data)
{
    struct epoll_event ev = {.events = flags, .data.u64 = data};
    return epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev);
}

static void drain(int fd, int n)
{
    char buf[64];
    if (read(fd, buf, n) != n)
        printf("short read\n");
}

static void creation(void)
{
    section("creation");
    SHOW(epoll_create(0));
    SHOW(epoll_create(-1));
    SHOW(epoll_create1(1));
    int ep = epoll_create1(EPOLL_CLOEXEC);
    SHOW(fcntl(ep, F_GETFD));
    close(ep);
    ep = SHOW(epoll_create(1));
    SHOW(fcntl(ep, F_GETFD));
    char link[64] = "";
    char path[32];
    snprintf(path, sizeof path, "/proc/self/fd/%d", ep);
    SHOW(readlink(path, link, sizeof link - 1));
    printf("link %s\n", link);
    char buf[8];
    SHOW(read(ep, buf, sizeof buf));
    close(ep);
}

static void control_errors(const char *self)
{
    section("epoll_ctl errors");
    int ep = epoll_create1(0);
    int p[2];
    pipe(p);
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 1};
    int file = open(self, O_RDONLY);
    int dir = open("/", O_RDONLY | O_DIRECTORY);
    int null = open("/dev/null", O_RDWR);
    int path_only = open("/", O_PATH);
    SHOW(epoll_ctl(ep, EPOLL_CTL_ADD, p[0], (struct epoll_event *)8));
    SHOW(epoll_ctl(99, EPOLL_CTL_ADD, p[0], &ev));
    SHOW(epoll_ctl(ep, EPOLL_CTL_ADD, 99, &ev));
    SHOW(epoll_ctl(ep, EPOLL_CTL_ADD, file, &ev));
    SHOW(epoll_ctl(ep, EPOLL_CTL_ADD, dir, &ev));
    SHOW(epoll_ctl(ep, EPOLL_CTL_ADD, null, &ev));
    SHOW(epoll_ctl(ep, EPOLL_CTL_ADD, path_only, &ev));
    SHOW(epoll_ctl(ep, EPOLL_CTL_ADD, ep, &ev));
    SHOW(epoll_ctl(p[0], EPOLL_CTL_ADD, p[1], &ev));
    SHOW(epoll_ctl(ep, 99, p[0], &ev));
    SHOW(epoll_ctl(ep, EPOLL_CTL_MOD, p[0], &ev));
    SHOW(epoll_ctl(ep, EPOLL_CTL_DEL, p[0], NULL));
    SHOW(epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev));
    SHOW(epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev));
    SHOW(epoll_ctl(ep, EPOLL_CTL_DEL, p[0], NULL));
    SHOW(add(ep, p[0], EPOLLIN | EPOLLEXCLUSIVE | EPOLLONESHOT, 1));
    SHOW(add(ep, p[0], EPOLLIN | EPOLLEXCLUSIVE, 1));
    SHOW(mod(ep, p[0], EPOLLIN, 2));
    SHOW(mod(ep, p[0], EPOLLIN | EPOLLEXCLUSIVE, 2));
    SHOW(epoll_ctl(ep, EPOLL_CTL_DEL, p[0], NULL));
    section("epoll_wait errors");
    SHOW(epoll_wait(ep, events, 0, 0));
    /* Raw syscalls where glibc's declarations would reject the arguments at compile time. */
    SHOW(syscall(SYS_epoll_wait, ep, events, -1, 0));
    SHOW(epoll_wait(p[0], events, 1, 0));
    SHOW(epoll_wait(99, events, 1, 0));
    SHOW(epoll_wait(ep, (struct epoll_event *)0xffff800000000000, 1, 0));
    SHOW(syscall(SYS_epoll_wait, ep, NULL, 1, 0));
    write(p[1], "x", 1);
    SHOW(add(ep, p[0], EPOLLIN | EPOLLET, 7));
    SHOW(syscall(SYS_epoll_wait, ep, NULL, 1, 0));
    show_ready("edge kept after EFAULT", ep, 8);
    close(file);
    close(dir);
    close(null);
    close(path_only);
    close(p[0]);
    close(p[1]);
    close(ep);
}

static void level_triggered(void)
{
    section("level-triggered");
    int ep = epoll_create1(0);
    int p[2];
    pipe(p);
    SHOW(add(ep, p[0], EPOLLIN | EPOLLRDHUP, 0x1122334455667788ULL));
    SHOW(add(ep, p[1], EPOLLOUT, 0xfedcba9876543210ULL));
    show_ready("writable", ep, 8);
    SHOW(epoll_ctl(ep, EPOLL_CTL_DEL, p[1], NULL));
    show_ready("empty", ep, 8);
    write(p[1], "abc", 3);
    show_ready("data", ep, 8);
    show_ready("still", ep, 8);
    drain(p[0], 2);
    show_ready("part read", ep, 8);
    drain(p[0], 1);
    show_ready("drained", ep, 8);
    SHOW(mod(ep, p[0], EPOLLIN, 42));
    write(p[1], "d", 1);
    show_ready("new data", ep, 8);
    close(p[1]);
    show_ready("writer gone", ep, 8);
    drain(p[0], 1);
    show_ready("hang-up only", ep, 8);
    close(p[0]);
    close(ep);
}

static void edge_triggered(void)
{
    section("edge-triggered");
    int ep = epoll_create1(0);
    int p[2];
    pipe(p);
    SHOW(add(ep, p[0], EPOLLIN | EPOLLET, 5));
    show_ready("empty", ep, 8);
    write(p[1], "ab", 2);
    show_ready("write", ep, 8);
    show_ready("again", ep, 8);
    drain(p[0], 1);
    show_ready("own partial read", ep, 8);
    write(p[1], "c", 1);
    show_ready("another write", ep, 8);
    drain(p[0], 2);
    write(p[1], "d", 1);
    show_ready("drained then write", ep, 8);
    SHOW(mod(ep, p[0], EPOLLIN | EPOLLET, 6));
    show_ready("after MOD", ep, 8);
    SHOW(add(ep, p[1], EPOLLOUT | EPOLLET, 9));
    show_ready("write end", ep, 8);
    show_ready("write end again", ep, 8);
    close(p[0]);
    show_ready("reader gone", ep, 8);
    close(p[1]);
    close(ep);
}

static void one_shot(void)
{
    section("oneshot");
    int ep = epoll_create1(0);
    int p[2];
    pipe(p);
    SHOW(add(ep, p[0], EPOLLIN | EPOLLONESHOT, 11));
    write(p[1], "a", 1);
    show_ready("first", ep, 8);
    show_ready("disabled", ep, 8);
    write(p[1], "b", 1);
    show_ready("disabled after write", ep, 8);
    SHOW(mod(ep, p[0], EPOLLIN | EPOLLONESHOT, 12));
    show_ready("re-armed", ep, 8);
    show_ready("disabled again", ep, 8);
    SHOW(add(ep, p[0], EPOLLIN, 1));
    SHOW(epoll_ctl(ep, EPOLL_CTL_DEL, p[0], NULL));
    SHOW(epoll_ctl(ep, EPOLL_CTL_DEL, p[0], NULL));
    close(p[0]);
    close(p[1]);
    close(ep);
}

static void round_robin(void)
{
    section("round robin");
    int ep = epoll_create1(0);
    int p[3][2];
    for (int i = 0; i < 3; i++) {
        pipe(p[i]);
        add(ep, p[i][0], EPOLLIN, 100 + i);
    }
    write(p[1][1], "x", 1);
    write(p[0][1], "x", 1);
    write(p[2][1], "x", 1);
    show_ready("two", ep, 2);
    show_ready("two more", ep, 2);
    show_ready("one", ep, 1);
    show_ready("all", ep, 8);
    for (int i = 0; i < 3; i++) {
        close(p[i][0]);
        close(p[i][1]);
    }
    close(ep);
}

static void closing(void)
{
    section("closing watched fds");
    int ep = epoll_create1(0);
    int p[2];
    pipe(p);
    int reader = p[0];
    SHOW(add(ep, reader, EPOLLIN, 21));
    write(p[1], "x", 1);
    close(reader);
    show_ready("closed", ep, 8);
    close(p[1]);
    pipe(p);
    printf("same fd number: %d\n", p[0] == reader);
    SHOW(add(ep, p[0], EPOLLIN, 22));
    int copy = dup(p[0]);
    close(p[0]);
    write(p[1], "x", 1);
    show_ready("duplicate open", ep, 8);
    SHOW(epoll_ctl(ep, EPOLL_CTL_DEL, reader, NULL));
    SHOW(epoll_ctl(ep, EPOLL_CTL_DEL, copy, NULL));
    SHOW(add(ep, copy, EPOLLIN, 23));
    show_ready("both keys", ep, 8);
    close(copy);
    show_ready("all closed", ep, 8);
    close(p[1]);
    close(ep);
}

static void inherited(void)
{
    section("shared with a child");
    int ep = epoll_create1(0);
    int p[2];
    pipe(p);
    add(ep, p[0], EPOLLIN, 31);
    fflush(stdout);
    pid_t child = fork();
    if (child == 0) {
        struct epoll_event ev;
        int n = epoll_wait(ep, &ev, 1, 5000);
        printf("child saw %d [0x%x %llu]\n", n, ev.events, (unsigned long long)ev.data.u64);
        fflush(stdout);
        _exit(0);
    }
    usleep(20000);
    write(p[1], "x", 1);
    int status;
    waitpid(child, &status, 0);
    show_ready("parent", ep, 8);
    close(p[0]);
    close(p[1]);
    close(ep);
}

int main(int argc, char **argv)
{
    (void)argc;
    creation();
    control_errors(argv[0]);
    level_triggered();
    edge_triggered();
    one_shot();
    round_robin();
    closing();
    inherited();
    return 0;
}
