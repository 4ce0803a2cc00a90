/* SO_TIMESTAMP and SO_TIMESTAMPNS (socket(7)) on UDP, TCP and unix sockets: the options'
 * values as set and cleared, and the SCM_TIMESTAMP / SCM_TIMESTAMPNS control message a
 * recvmsg(2) gets, whose time must lie between the send and the receive. */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void show_options(const char *what, int fd)
{
    int stamp = -1, stamp_ns = -1;
    socklen_t length = sizeof stamp;
    getsockopt(fd, SOL_SOCKET, SO_TIMESTAMP, &stamp, &length);
    length = sizeof stamp_ns;
    getsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &stamp_ns, &length);
    printf("  %s: SO_TIMESTAMP %d SO_TIMESTAMPNS %d\n", what, stamp, stamp_ns);
}

static void set_option(int fd, int name, int value)
{
    if (setsockopt(fd, SOL_SOCKET, name, &value, sizeof value) != 0)
        printf("  setsockopt %d: %s\n", name, strerrorname_np(errno));
}

/* When the oldest message not yet received was sent (the receive's earliest possible stamp). */
static long long pending_since;

/* A send (unless only_receive) and a recvmsg (flags), printing the control messages; a stamp
 * must lie between the send of the oldest message pending and the end of the receive. */
static void exchange(int sender, int receiver, int flags, int only_receive)
{
    char data[16], control[256];
    struct iovec iov = {data, sizeof data};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control,
                         .msg_controllen = sizeof control};
    if (!only_receive) {
        if (!pending_since)
            pending_since = now_ns();
        if (send(sender, "stamp", 5, 0) != 5)
            printf("  send: %s\n", strerrorname_np(errno));
        usleep(20000);
    }
    long long before = pending_since;
    ssize_t got = recvmsg(receiver, &msg, flags);
    long long after = now_ns();
    if (got < 0) {
        printf("  recvmsg: %s\n", strerrorname_np(errno));
        return;
    }
    if (!(flags & MSG_PEEK))
        pending_since = 0;
    printf("  recvmsg %zd bytes, msg_flags %#x, controllen %zu\n", got, msg.msg_flags, (size_t)msg.msg_controllen);
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        long long stamp = -1;
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMP) {
            struct timeval tv;
            memcpy(&tv, CMSG_DATA(c), sizeof tv);
            stamp = tv.tv_sec * 1000000000LL + tv.tv_usec * 1000LL;
            before -= before % 1000;
        } else if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
            struct timespec ts;
            memcpy(&ts, CMSG_DATA(c), sizeof ts);
            stamp = ts.tv_sec * 1000000000LL + ts.tv_nsec;
        }
        printf("  cmsg level %d type %d len %zu%s\n", c->cmsg_level, c->cmsg_type, (size_t)c->cmsg_len,
               stamp < 0 ? "" : before <= stamp && stamp <= after ? ": between send and receive" : ": OUT OF RANGE");
    }
}

static void pair_of(int kind, int fds[2])
{
    if (kind == 0 || kind == 1) {                  /* UDP over loopback, v4 or v6 */
        int family = kind == 0 ? AF_INET : AF_INET6;
        struct sockaddr_storage address = {0};
        socklen_t length;
        if (family == AF_INET) {
            struct sockaddr_in *in = (void *)&address;
            in->sin_family = AF_INET;
            in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            length = sizeof *in;
        } else {
            struct sockaddr_in6 *in6 = (void *)&address;
            in6->sin6_family = AF_INET6;
            in6->sin6_addr = in6addr_loopback;
            length = sizeof *in6;
        }
        fds[1] = socket(family, SOCK_DGRAM, 0);
        bind(fds[1], (void *)&address, length);
        getsockname(fds[1], (void *)&address, &length);
        fds[0] = socket(family, SOCK_DGRAM, 0);
        connect(fds[0], (void *)&address, length);
    } else if (kind == 2) {                        /* TCP over loopback */
        struct sockaddr_in address = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t length = sizeof address;
        int listener = socket(AF_INET, SOCK_STREAM, 0);
        bind(listener, (void *)&address, length);
        listen(listener, 1);
        getsockname(listener, (void *)&address, &length);
        fds[0] = socket(AF_INET, SOCK_STREAM, 0);
        connect(fds[0], (void *)&address, length);
        fds[1] = accept(listener, NULL, NULL);
        close(listener);
    } else {
        int type = kind == 3 ? SOCK_DGRAM : kind == 4 ? SOCK_STREAM : SOCK_SEQPACKET;
        socketpair(AF_UNIX, type, 0, fds);
    }
}

int main(void)
{
    /* Linux turns its receive timestamps on (a static key) from a work queue, some time after
     * the first socket asks: one socket that asks all along keeps them on from the start. */
    int keeper = socket(AF_INET, SOCK_DGRAM, 0);
    set_option(keeper, SO_TIMESTAMP, 1);
    usleep(100000);
    static const char *const names[] = {"udp4", "udp6", "tcp", "unix dgram", "unix stream", "unix seqpacket"};
    for (int kind = 0; kind < 6; kind++) {
        int fds[2];
        pair_of(kind, fds);
        printf("%s\n", names[kind]);
        show_options("fresh", fds[1]);
        exchange(fds[0], fds[1], 0, 0);
        set_option(fds[1], SO_TIMESTAMP, 1);
        show_options("SO_TIMESTAMP on", fds[1]);
        exchange(fds[0], fds[1], MSG_PEEK, 0);
        exchange(fds[0], fds[1], 0, 1);        /* the peeked message again */
        exchange(fds[0], fds[1], 0, 0);
        set_option(fds[1], SO_TIMESTAMPNS, 7);
        show_options("SO_TIMESTAMPNS on", fds[1]);
        exchange(fds[0], fds[1], 0, 0);
        set_option(fds[1], SO_TIMESTAMP, 0);   /* clears both */
        show_options("SO_TIMESTAMP off", fds[1]);
        exchange(fds[0], fds[1], 0, 0);
        set_option(fds[1], SO_TIMESTAMPNS, 1);
        set_option(fds[1], SO_TIMESTAMPNS, 0);
        show_options("SO_TIMESTAMPNS on and off", fds[1]);
        close(fds[0]);
        close(fds[1]);
    }
    close(keeper);
    return 0;
}
