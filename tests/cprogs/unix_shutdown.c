/* shutdown(2) and close(2) on AF_UNIX sockets, seen from both ends: end of file, EPIPE with
 * and without SIGPIPE (MSG_NOSIGNAL), ECONNRESET when a peer dies with unread data, SO_ERROR,
 * and the poll(2) events (POLLIN, POLLOUT, POLLHUP, POLLRDHUP, POLLERR) of each state. */
#include "epoll_check.h"
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>

static volatile sig_atomic_t sigpipes;

static void on_sigpipe(int signo)
{
    sigpipes++;
}

static void show_events(const char *what, int fd)
{
    struct pollfd p = {fd, POLLIN | POLLOUT | POLLRDHUP | POLLPRI, 0};
    poll(&p, 1, 0);
    printf("%s:%s%s%s%s%s%s\n", what, p.revents & POLLIN ? " IN" : "", p.revents & POLLOUT ? " OUT" : "",
           p.revents & POLLHUP ? " HUP" : "", p.revents & POLLRDHUP ? " RDHUP" : "",
           p.revents & POLLERR ? " ERR" : "", p.revents & POLLPRI ? " PRI" : "");
}

static int so_error(int fd)
{
    int value = -1;
    socklen_t length = sizeof value;
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &value, &length);
    return value;
}

static void shut_write(int type, const char *name)
{
    section(name);
    int sv[2];
    socketpair(AF_UNIX, type, 0, sv);
    show_events("connected", sv[0]);
    SHOW(write(sv[0], "data", 4));
    show_events("reader with data", sv[1]);
    SHOW(shutdown(sv[0], SHUT_WR));
    show_events("after SHUT_WR", sv[0]);
    show_events("its peer", sv[1]);
    char buf[16];
    SHOW(read(sv[1], buf, sizeof buf));
    SHOW(recv(sv[1], buf, sizeof buf, MSG_DONTWAIT));
    show_events("peer drained", sv[1]);
    sigpipes = 0;
    SHOW(write(sv[0], "more", 4));
    printf("SIGPIPE %d\n", (int)sigpipes);
    SHOW(send(sv[0], "more", 4, MSG_NOSIGNAL));
    printf("SIGPIPE %d\n", (int)sigpipes);
    SHOW(write(sv[1], "back", 4));
    SHOW(read(sv[0], buf, sizeof buf));
    SHOW(shutdown(sv[0], SHUT_RD));
    show_events("after SHUT_RD too", sv[0]);
    SHOW(read(sv[0], buf, sizeof buf));
    sigpipes = 0;
    SHOW(write(sv[1], "back", 4));
    printf("SIGPIPE %d\n", (int)sigpipes);
    show_events("peer of a shut down end", sv[1]);
    SHOW(shutdown(sv[0], 3));
    SHOW(shutdown(sv[0], -1));
    close(sv[0]);
    close(sv[1]);
}

static void peer_closes(int type, const char *name)
{
    section(name);
    int sv[2];
    char buf[16];
    socketpair(AF_UNIX, type, 0, sv);
    SHOW(write(sv[0], "unread", 6));
    SHOW(write(sv[1], "for the closer", 14));
    close(sv[0]);
    show_events("after the peer closed with unread data", sv[1]);
    SHOW(so_error(sv[1]));
    show_events("after SO_ERROR", sv[1]);
    SHOW(recv(sv[1], buf, sizeof buf, MSG_DONTWAIT));
    SHOW(recv(sv[1], buf, sizeof buf, MSG_DONTWAIT));
    sigpipes = 0;
    SHOW(write(sv[1], "x", 1));
    printf("SIGPIPE %d\n", (int)sigpipes);
    close(sv[1]);

    socketpair(AF_UNIX, type, 0, sv);
    SHOW(write(sv[0], "unread", 6));
    SHOW(write(sv[1], "for the closer", 14));
    close(sv[0]);
    SHOW(recv(sv[1], buf, sizeof buf, MSG_DONTWAIT));
    SHOW(recv(sv[1], buf, sizeof buf, MSG_DONTWAIT));
    SHOW(recv(sv[1], buf, sizeof buf, MSG_DONTWAIT));
    close(sv[1]);

    socketpair(AF_UNIX, type, 0, sv);
    close(sv[1]);
    show_events("after the peer closed cleanly", sv[0]);
    SHOW(so_error(sv[0]));
    SHOW(recv(sv[0], buf, sizeof buf, MSG_DONTWAIT));
    sigpipes = 0;
    SHOW(send(sv[0], "x", 1, MSG_DONTWAIT));
    printf("SIGPIPE %d\n", (int)sigpipes);
    close(sv[0]);
}

static void fresh_sockets(void)
{
    section("fresh sockets");
    int stream = socket(AF_UNIX, SOCK_STREAM, 0);
    show_events("unconnected stream", stream);
    SHOW(shutdown(stream, SHUT_RDWR));
    show_events("unconnected stream shut down", stream);
    int dgram = socket(AF_UNIX, SOCK_DGRAM, 0);
    show_events("unconnected dgram", dgram);
    int seqpacket = socket(AF_UNIX, SOCK_SEQPACKET, 0);
    show_events("unconnected seqpacket", seqpacket);
    char buf[4];
    SHOW(recv(seqpacket, buf, sizeof buf, MSG_DONTWAIT));
    SHOW(send(seqpacket, buf, sizeof buf, MSG_DONTWAIT));
    SHOW(write(stream, "x", 1));
    sa_family_t family = AF_UNIX;
    bind(stream, (struct sockaddr *)&family, sizeof family);
    int listener = socket(AF_UNIX, SOCK_STREAM, 0);
    bind(listener, (struct sockaddr *)&family, sizeof family);
    listen(listener, 1);
    show_events("listening", listener);
    SHOW(shutdown(listener, SHUT_RD));
    show_events("listening, shut down for reading", listener);
    SHOW(accept(listener, NULL, NULL));
    close(stream);
    close(dgram);
    close(seqpacket);
    close(listener);
}

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    signal(SIGPIPE, on_sigpipe);
    shut_write(SOCK_STREAM, "stream");
    shut_write(SOCK_SEQPACKET, "seqpacket");
    shut_write(SOCK_DGRAM, "dgram");
    peer_closes(SOCK_STREAM, "stream peer closes");
    peer_closes(SOCK_SEQPACKET, "seqpacket peer closes");
    peer_closes(SOCK_DGRAM, "dgram peer closes");
    fresh_sockets();
    section("default SIGPIPE action");
    signal(SIGPIPE, SIG_DFL);
    int sv[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    close(sv[1]);
    write(sv[0], "x", 1);
    printf("not reached\n");
    return 0;
}
