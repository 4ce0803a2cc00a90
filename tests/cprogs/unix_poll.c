/* Waiting on AF_UNIX sockets: poll, select and epoll (level- and edge-triggered) readiness as
 * data, connections and hang-ups arrive from another process; blocked readers, writers,
 * connectors and acceptors woken by their peers; SO_RCVTIMEO/SO_SNDTIMEO; and what a signal
 * does to a blocked call with and without SA_RESTART. */
#include "epoll_check.h"
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

static char big[1 << 18];

static void close_fd(long fd)
{
    close(fd);
}

static void drain_big(long fd)
{
    while (recv(fd, big, sizeof big, MSG_DONTWAIT) > 0)
        ;
}

static int fill(int fd)
{
    int flags = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, flags | O_NONBLOCK);
    int total = 0, n;
    while ((n = send(fd, big, sizeof big, 0)) > 0)
        total += n;
    fcntl(fd, F_SETFL, flags);
    return total;
}

static void with_poll(void)
{
    section("poll and select");
    int sv[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    pid_t child = later(50, write_byte, sv[0]);
    struct pollfd p = {sv[1], POLLIN, 0};
    SHOW(poll(&p, 1, 5000));
    printf("revents 0x%x\n", p.revents);
    char buf[8];
    read(sv[1], buf, 1);
    waitpid(child, NULL, 0);
    child = later(50, write_byte, sv[0]);
    fd_set readable;
    FD_ZERO(&readable);
    FD_SET(sv[1], &readable);
    struct timeval tv = {5, 0};
    SHOW(select(sv[1] + 1, &readable, NULL, NULL, &tv));
    printf("readable %d\n", FD_ISSET(sv[1], &readable));
    read(sv[1], buf, 1);
    waitpid(child, NULL, 0);
    child = later(50, close_fd, sv[0]);
    close(sv[0]);
    p.events = POLLIN | POLLRDHUP;
    SHOW(poll(&p, 1, 5000));
    printf("revents 0x%x\n", p.revents);
    waitpid(child, NULL, 0);
    close(sv[1]);

    section("a full writer");
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    printf("filled %d\n", fill(sv[0]));
    p = (struct pollfd){sv[0], POLLOUT, 0};
    SHOW(poll(&p, 1, 0));
    child = later(50, drain_big, sv[1]);
    SHOW(poll(&p, 1, 5000));
    printf("revents 0x%x\n", p.revents);
    waitpid(child, NULL, 0);
    fill(sv[0]);
    child = later(50, drain_big, sv[1]);
    SHOW(send(sv[0], big, 1000, 0));
    waitpid(child, NULL, 0);
    close(sv[0]);
    close(sv[1]);

    section("a full datagram receiver");
    int receiver = socket(AF_UNIX, SOCK_DGRAM, 0);
    sa_family_t family = AF_UNIX;
    bind(receiver, (struct sockaddr *)&family, sizeof family);
    struct sockaddr_un name;
    socklen_t length = sizeof name;
    getsockname(receiver, (struct sockaddr *)&name, &length);
    int sender = socket(AF_UNIX, SOCK_DGRAM, 0);
    connect(sender, (struct sockaddr *)&name, length);
    int queued = 0;
    while (send(sender, "d", 1, MSG_DONTWAIT) == 1)
        queued++;
    printf("queued %d\n", queued);
    p = (struct pollfd){sender, POLLOUT, 0};
    SHOW(poll(&p, 1, 0));
    child = fork();
    if (child == 0) {
        usleep(50000);
        recv(receiver, buf, sizeof buf, 0);
        _exit(0);
    }
    SHOW(poll(&p, 1, 5000));
    printf("revents 0x%x\n", p.revents);
    waitpid(child, NULL, 0);
    child = fork();
    if (child == 0) {
        usleep(50000);
        recv(receiver, buf, sizeof buf, 0);
        _exit(0);
    }
    SHOW(send(sender, "blocking", 8, 0));
    SHOW(send(sender, "d", 1, MSG_DONTWAIT));
    waitpid(child, NULL, 0);
    close(sender);
    close(receiver);
}

static void show_epoll(const char *what, int ep)
{
    struct epoll_event events[4];
    int n = epoll_wait(ep, events, 4, 0);
    printf("%s: %d", what, n);
    for (int i = 0; i < n; i++)
        printf(" [0x%x %llu]", events[i].events, (unsigned long long)events[i].data.u64);
    printf("\n");
}

static void with_epoll(void)
{
    section("epoll");
    int ep = epoll_create1(0);
    int listener = socket(AF_UNIX, SOCK_STREAM, 0);
    sa_family_t family = AF_UNIX;
    bind(listener, (struct sockaddr *)&family, sizeof family);
    listen(listener, 4);
    struct sockaddr_un name;
    socklen_t length = sizeof name;
    getsockname(listener, (struct sockaddr *)&name, &length);
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 1};
    SHOW(epoll_ctl(ep, EPOLL_CTL_ADD, listener, &ev));
    show_epoll("idle listener", ep);
    pid_t child = fork();
    if (child == 0) {
        usleep(50000);
        int client = socket(AF_UNIX, SOCK_STREAM, 0);
        connect(client, (struct sockaddr *)&name, length);
        write(client, "hi", 2);
        usleep(100000);
        write(client, "there", 5);
        usleep(100000);
        _exit(0);
    }
    struct epoll_event event;
    SHOW(epoll_wait(ep, &event, 1, 5000));
    printf("event 0x%x %llu\n", event.events, (unsigned long long)event.data.u64);
    int connection = SHOW(accept(listener, NULL, NULL));
    show_epoll("after accept", ep);
    ev = (struct epoll_event){.events = EPOLLIN | EPOLLRDHUP | EPOLLET, .data.u64 = 2};
    SHOW(epoll_ctl(ep, EPOLL_CTL_ADD, connection, &ev));
    SHOW(epoll_wait(ep, &event, 1, 5000));
    printf("event 0x%x %llu\n", event.events, (unsigned long long)event.data.u64);
    show_epoll("edge already reported", ep);
    char buf[16];
    SHOW(recv(connection, buf, 1, 0));
    show_epoll("own partial read", ep);
    SHOW(epoll_wait(ep, &event, 1, 5000));
    printf("event 0x%x %llu\n", event.events, (unsigned long long)event.data.u64);
    SHOW(recv(connection, buf, sizeof buf, 0));
    SHOW(epoll_wait(ep, &event, 1, 5000));
    printf("event 0x%x %llu\n", event.events, (unsigned long long)event.data.u64);
    waitpid(child, NULL, 0);
    close(connection);
    close(listener);
    close(ep);
}

static void on_alarm(int signo)
{
}

static void alarm_parent(long pid)
{
    kill(pid, SIGALRM);
}

static void blocking(void)
{
    section("blocking calls woken by peers");
    int listener = socket(AF_UNIX, SOCK_SEQPACKET, 0);
    sa_family_t family = AF_UNIX;
    bind(listener, (struct sockaddr *)&family, sizeof family);
    listen(listener, 0);
    struct sockaddr_un name;
    socklen_t length = sizeof name;
    getsockname(listener, (struct sockaddr *)&name, &length);
    pid_t child = fork();
    if (child == 0) {
        usleep(50000);
        int clients[3], connected = 0;
        for (int i = 0; i < 3; i++) {
            clients[i] = socket(AF_UNIX, SOCK_SEQPACKET, 0);
            connected += connect(clients[i], (struct sockaddr *)&name, length) == 0;
        }
        _exit(connected);
    }
    int connection = SHOW(accept(listener, NULL, NULL));
    close(connection);
    usleep(100000);
    connection = SHOW(accept(listener, NULL, NULL));
    close(connection);
    connection = SHOW(accept(listener, NULL, NULL));
    close(connection);
    int status;
    waitpid(child, &status, 0);
    printf("the child connected %d times\n", WEXITSTATUS(status));
    close(listener);

    section("timeouts");
    int sv[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    struct timeval tv = {0, 100000};
    setsockopt(sv[1], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    char buf[8];
    SHOW(recv(sv[1], buf, sizeof buf, 0));
    long ms = elapsed_ms(&start);
    printf("waited about 100 ms: %d\n", ms >= 90 && ms < 1000);
    setsockopt(sv[0], SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    fill(sv[0]);
    clock_gettime(CLOCK_MONOTONIC, &start);
    SHOW(send(sv[0], big, 10, 0));
    ms = elapsed_ms(&start);
    printf("waited about 100 ms: %d\n", ms >= 90 && ms < 1000);

    section("signals");
    struct sigaction action = {.sa_handler = on_alarm};
    sigaction(SIGALRM, &action, NULL);
    close(sv[0]);
    close(sv[1]);
    socketpair(AF_UNIX, SOCK_DGRAM, 0, sv);
    pid_t alarmer = later(50, alarm_parent, getpid());
    SHOW(recv(sv[1], buf, sizeof buf, 0));
    waitpid(alarmer, NULL, 0);
    action.sa_flags = SA_RESTART;
    sigaction(SIGALRM, &action, NULL);
    alarmer = later(50, alarm_parent, getpid());
    child = later(150, write_byte, sv[0]);
    SHOW(recv(sv[1], buf, sizeof buf, 0));
    waitpid(alarmer, NULL, 0);
    waitpid(child, NULL, 0);
    tv.tv_sec = 5;
    setsockopt(sv[1], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    alarmer = later(50, alarm_parent, getpid());
    SHOW(recv(sv[1], buf, sizeof buf, 0));
    waitpid(alarmer, NULL, 0);
    close(sv[0]);
    close(sv[1]);
}

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    with_poll();
    with_epoll();
    blocking();
    return 0;
}
