/* Bad input to inet socket calls, and readiness of a loopback TCP connection.
 * Prints one line per check with the errno name (or "ok"), so native and sandboxed runs compare.
 * Only loopback addresses are used. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#define BAD ((void *)8)

static const char *name(int e) {
    switch (e) {
    case 0: return "ok";
    case EINVAL: return "EINVAL";
    case EFAULT: return "EFAULT";
    case EAFNOSUPPORT: return "EAFNOSUPPORT";
    case EPROTONOSUPPORT: return "EPROTONOSUPPORT";
    case ESOCKTNOSUPPORT: return "ESOCKTNOSUPPORT";
    case EOPNOTSUPP: return "EOPNOTSUPP";
    case ENOPROTOOPT: return "ENOPROTOOPT";
    case ECONNREFUSED: return "ECONNREFUSED";
    case EINPROGRESS: return "EINPROGRESS";
    case EISCONN: return "EISCONN";
    case ENOTCONN: return "ENOTCONN";
    case EPIPE: return "EPIPE";
    case EADDRINUSE: return "EADDRINUSE";
    case EADDRNOTAVAIL: return "EADDRNOTAVAIL";
    case EAGAIN: return "EAGAIN";
    case EDESTADDRREQ: return "EDESTADDRREQ";
    case ENOTSOCK: return "ENOTSOCK";
    case EBADF: return "EBADF";
    default: return strerror(e);
    }
}

static void check(const char *what, long result) {
    printf("%-40s %s\n", what, result < 0 ? name(errno) : "ok");
}

static struct sockaddr_in loopback(int port) {
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

static int free_port(void) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = loopback(0);
    socklen_t len = sizeof a;
    bind(s, (struct sockaddr *)&a, sizeof a);
    getsockname(s, (struct sockaddr *)&a, &len);
    close(s);
    return ntohs(a.sin_port);
}

int main(void) {
    int one = 1, value = 0, pair[2];
    socklen_t len;
    signal(SIGPIPE, SIG_IGN);
    setvbuf(stdout, NULL, _IONBF, 0);

    check("socket(99)", socket(99, SOCK_STREAM, 0));
    check("socket(AF_INET, STREAM, UDP)", socket(AF_INET, SOCK_STREAM, IPPROTO_UDP));
    check("socket(AF_INET, DGRAM, TCP)", socket(AF_INET, SOCK_DGRAM, IPPROTO_TCP));
    check("socket(AF_INET, SOCK_RDM)", socket(AF_INET, SOCK_RDM, 0));
    check("socket(AF_INET, STREAM, 300)", socket(AF_INET, SOCK_STREAM, 300));
    check("socket(AF_INET, 1|0x1000)", socket(AF_INET, SOCK_STREAM | 0x1000, 0));
    check("socketpair(AF_INET)", socketpair(AF_INET, SOCK_STREAM, 0, pair));

    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = loopback(0);
    struct sockaddr_in6 a6 = {.sin6_family = AF_INET6};
    check("bind len 4", bind(s, (struct sockaddr *)&a, 4));
    check("bind len 200", bind(s, (struct sockaddr *)&a, 200));
    check("bind len -1", bind(s, (struct sockaddr *)&a, -1));
    check("bind inet6 address", bind(s, (struct sockaddr *)&a6, sizeof a));
    check("bind bad pointer", bind(s, BAD, sizeof a));
    check("connect bad pointer", connect(s, BAD, sizeof a));
    check("connect len 3", connect(s, (struct sockaddr *)&a, 3));
    check("setsockopt bad pointer", setsockopt(s, SOL_SOCKET, SO_REUSEADDR, BAD, 4));
    check("setsockopt short", setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, 2));
    check("setsockopt negative length", setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, -1));
    check("setsockopt TCP_NODELAY", setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one));
    check("setsockopt IPV6_V6ONLY on inet", setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one));
    check("setsockopt unknown level", setsockopt(s, 999, 1, &one, sizeof one));
    len = sizeof value;
    check("getsockopt bad value", getsockopt(s, SOL_SOCKET, SO_TYPE, BAD, &len));
    check("getsockopt bad length", getsockopt(s, SOL_SOCKET, SO_TYPE, &value, BAD));
    len = sizeof value;
    getsockopt(s, IPPROTO_TCP, TCP_NODELAY, &value, &len);
    printf("%-40s %d %d\n", "TCP_NODELAY", value != 0, (int)len);
    len = sizeof value;
    getsockopt(s, SOL_SOCKET, SO_TYPE, &value, &len);
    printf("%-40s %d\n", "SO_TYPE", value);
    check("getsockname bad pointer", getsockname(s, BAD, &len));
    check("send unconnected", send(s, "x", 1, 0));
    check("recv unconnected", recv(s, &value, 1, MSG_DONTWAIT));
    check("getpeername unconnected", getpeername(s, (struct sockaddr *)&a, &len));
    check("accept not listening", accept(s, NULL, NULL));
    check("shutdown unconnected", shutdown(s, SHUT_RDWR));
    check("shutdown bad how", shutdown(s, 7));

    struct sockaddr_in refused = loopback(free_port());
    check("connect closed port", connect(s, (struct sockaddr *)&refused, sizeof refused));
    close(s);
    s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    check("nonblocking connect closed port", connect(s, (struct sockaddr *)&refused, sizeof refused));
    struct pollfd p = {.fd = s, .events = POLLOUT};
    poll(&p, 1, 2000);
    len = sizeof value;
    getsockopt(s, SOL_SOCKET, SO_ERROR, &value, &len);
    printf("%-40s %s\n", "SO_ERROR after refusal", name(value));
    close(s);

    /* A listener, a connection, and readiness through epoll (edge-triggered). */
    int listener = socket(AF_INET, SOCK_STREAM, 0);
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    a = loopback(0);
    check("bind loopback", bind(listener, (struct sockaddr *)&a, sizeof a));
    len = sizeof a;
    getsockname(listener, (struct sockaddr *)&a, &len);
    int second = socket(AF_INET, SOCK_STREAM, 0);
    check("bind same port", bind(second, (struct sockaddr *)&a, sizeof a));
    close(second);
    check("listen", listen(listener, 8));
    int zero = 0;
    ioctl(listener, FIONBIO, &one);
    check("accept with FIONBIO, nobody connecting", accept(listener, NULL, NULL));
    ioctl(listener, FIONBIO, &zero);
    check("FIONREAD on a listener", ioctl(listener, FIONREAD, &value));
    int client = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int rc = connect(client, (struct sockaddr *)&a, sizeof a);
    printf("%-40s %s\n", "nonblocking connect", rc == 0 || errno == EINPROGRESS ? "started" : name(errno));
    p.fd = client;
    p.events = POLLOUT;
    poll(&p, 1, 2000);
    check("connect again", connect(client, (struct sockaddr *)&a, sizeof a));
    int server = accept(listener, NULL, NULL);
    check("accept", server);
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN | EPOLLET, .data.fd = server}, out[4];
    epoll_ctl(ep, EPOLL_CTL_ADD, server, &ev);
    printf("%-40s %d\n", "epoll before data", epoll_wait(ep, out, 4, 0));
    write(client, "hello", 5);
    printf("%-40s %d\n", "epoll after data", epoll_wait(ep, out, 4, 2000));
    printf("%-40s %d\n", "epoll edge consumed", epoll_wait(ep, out, 4, 0));
    ioctl(server, FIONREAD, &value);
    printf("%-40s %d\n", "FIONREAD", value);
    char buf[16];
    printf("%-40s %zd\n", "read", read(server, buf, sizeof buf));
    write(client, "again", 5);
    printf("%-40s %d\n", "epoll after more data", epoll_wait(ep, out, 4, 2000));
    printf("%-40s %zd\n", "read", read(server, buf, sizeof buf));
    shutdown(client, SHUT_WR);
    printf("%-40s %d\n", "epoll after half-close", epoll_wait(ep, out, 4, 2000));
    printf("%-40s %zd\n", "read at end", read(server, buf, sizeof buf));
    printf("%-40s %zd\n", "write after peer half-close", write(server, "back", 4));
    printf("%-40s %zd\n", "client reads", read(client, buf, sizeof buf));
    close(server);
    close(client);

    int udp = socket(AF_INET, SOCK_DGRAM, 0);
    check("udp send without address", send(udp, "x", 1, 0));
    check("udp sendto len 3", sendto(udp, "x", 1, 0, (struct sockaddr *)&a, 3));
    check("udp connect", connect(udp, (struct sockaddr *)&refused, sizeof refused));
    check("udp send to closed port", send(udp, "x", 1, 0));
    usleep(100000);
    check("udp send again", send(udp, "x", 1, 0));
    return 0;
}
