/* AF_UNIX socketpair(2) for each socket type: byte streams with partial reads, message
 * boundaries, MSG_PEEK, MSG_TRUNC, MSG_WAITALL, end of file, the socket options and ioctls
 * that describe a socket, buffer sizes, and the argument errors of socket(2). */
#include "epoll_check.h"
#include <fcntl.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

static char big[1 << 20];
static int *volatile bad_pointer = (int *)8;

static int option(int fd, int name)
{
    int value = -1;
    socklen_t length = sizeof value;
    if (getsockopt(fd, SOL_SOCKET, name, &value, &length) < 0)
        return -errno;
    return value;
}

static void show_pending(const char *what, int fd)
{
    int inq = -1, outq = -1;
    ioctl(fd, SIOCINQ, &inq);
    ioctl(fd, SIOCOUTQ, &outq);
    printf("%s: SIOCINQ %d SIOCOUTQ %d\n", what, inq, outq);
}

static void creation_errors(void)
{
    section("creation errors");
    SHOW(socket(AF_UNIX, SOCK_STREAM | 0x100, 0));
    SHOW(socket(AF_UNIX, 12, 0));
    SHOW(socket(AF_UNIX, SOCK_RDM, 0));
    SHOW(socket(AF_UNIX, SOCK_STREAM, 7));
    SHOW(socket(99, SOCK_STREAM, 0));
    int fd = SHOW(socket(AF_UNIX, SOCK_STREAM, PF_UNIX));
    close(fd);
    fd = SHOW(socket(AF_UNIX, SOCK_RAW, 0));
    SHOW(option(fd, SO_TYPE));
    close(fd);
    fd = SHOW(socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    SHOW(fcntl(fd, F_GETFD));
    SHOW(fcntl(fd, F_GETFL) & (O_NONBLOCK | O_ACCMODE));
    close(fd);
    int sv[2];
    SHOW(socketpair(AF_UNIX, SOCK_STREAM | 0x100, 0, sv));
    SHOW(socketpair(AF_UNIX, SOCK_STREAM, 0, bad_pointer));
    SHOW(socketpair(99, SOCK_STREAM, 0, sv));
    int pipefd[2];
    pipe(pipefd);
    SHOW(listen(pipefd[0], 1));
    SHOW(shutdown(pipefd[0], SHUT_RD));
    SHOW(shutdown(99, SHUT_RD));
    close(pipefd[0]);
    close(pipefd[1]);
}

static void describe(const char *what, int fd)
{
    printf("%s: type %d domain %d protocol %d acceptconn %d error %d passcred %d rcvlowat %d\n", what,
           option(fd, SO_TYPE), option(fd, SO_DOMAIN), option(fd, SO_PROTOCOL), option(fd, SO_ACCEPTCONN),
           option(fd, SO_ERROR), option(fd, SO_PASSCRED), option(fd, SO_RCVLOWAT));
    struct sockaddr_un name;
    socklen_t length = sizeof name;
    memset(&name, 0x55, sizeof name);
    int r = getsockname(fd, (struct sockaddr *)&name, &length);
    printf("  getsockname %d length %u family %d\n", r, length, name.sun_family);
    length = sizeof name;
    r = getpeername(fd, (struct sockaddr *)&name, &length);
    printf("  getpeername %d length %u\n", r, length);
    length = 1;
    r = getsockname(fd, (struct sockaddr *)&name, &length);
    printf("  getsockname with 1 byte of room %d length %u\n", r, length);
    struct stat st;
    fstat(fd, &st);
    printf("  S_ISSOCK %d mode %o\n", S_ISSOCK(st.st_mode), st.st_mode & 0777);
    char path[64], link[64] = "";
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    readlink(path, link, sizeof link - 1);
    printf("  link starts %.8s\n", link);
}

static void stream(void)
{
    section("stream");
    int sv[2];
    SHOW(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    describe("stream", sv[0]);
    char buf[64] = "";
    SHOW(write(sv[0], "hello", 5));
    SHOW(write(sv[0], " world", 6));
    show_pending("after two writes", sv[1]);
    show_pending("writer", sv[0]);
    SHOW(recv(sv[1], buf, 3, MSG_PEEK));
    SHOW(read(sv[1], buf, 3));
    printf("read %.3s\n", buf);
    SHOW(recv(sv[1], buf, sizeof buf, 0));
    printf("recv %.8s\n", buf);
    show_pending("drained", sv[0]);
    SHOW(recv(sv[1], buf, sizeof buf, MSG_DONTWAIT));
    SHOW(recv(sv[1], buf, 0, MSG_DONTWAIT));
    SHOW(read(sv[1], buf, 0));
    SHOW(write(sv[0], "abc", 3));
    SHOW(recv(sv[1], buf, 2, MSG_TRUNC));
    SHOW(recv(sv[1], buf, 0, 0));
    SHOW(recv(sv[1], buf, sizeof buf, 0));
    SHOW(sendto(sv[0], "x", 1, 0, (struct sockaddr *)&(struct sockaddr_un){AF_UNIX, "x"}, 4));
    SHOW(listen(sv[0], 1));
    SHOW(accept(sv[0], NULL, NULL));
    /* MSG_WAITALL gathers writes made by a child */
    pid_t child = fork();
    if (child == 0) {
        for (int i = 0; i < 4; i++) {
            usleep(20000);
            write(sv[0], "wait", 4);
        }
        _exit(0);
    }
    SHOW(recv(sv[1], buf, 16, MSG_WAITALL));
    printf("waitall %.16s\n", buf);
    waitpid(child, NULL, 0);
    SHOW(shutdown(sv[0], SHUT_WR));
    SHOW(recv(sv[1], buf, 16, MSG_WAITALL));
    SHOW(write(sv[1], "back", 4));
    SHOW(read(sv[0], buf, sizeof buf));
    close(sv[1]);
    SHOW(read(sv[0], buf, sizeof buf));
    close(sv[0]);
}

static void capacity(int type, const char *name, int size)
{
    int sv[2];
    socketpair(AF_UNIX, type | SOCK_NONBLOCK, 0, sv);
    long total = 0, count = 0;
    ssize_t n;
    while ((n = send(sv[0], big, size, 0)) > 0) {
        total += n;
        count++;
    }
    printf("%s of %d bytes: %ld sends, %ld bytes, then %s\n", name, size, count, total, strerrorname_np(errno));
    show_pending(name, sv[0]);
    show_pending(name, sv[1]);
    close(sv[0]);
    close(sv[1]);
}

static void buffers(void)
{
    section("buffers");
    int sv[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    printf("sndbuf %d rcvbuf %d\n", option(sv[0], SO_SNDBUF), option(sv[0], SO_RCVBUF));
    int value = 65536;
    SHOW(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &value, sizeof value));
    SHOW(setsockopt(sv[0], SOL_SOCKET, SO_RCVBUF, &value, sizeof value));
    printf("sndbuf %d rcvbuf %d\n", option(sv[0], SO_SNDBUF), option(sv[0], SO_RCVBUF));
    value = 100;
    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &value, sizeof value);
    setsockopt(sv[0], SOL_SOCKET, SO_RCVBUF, &value, sizeof value);
    printf("sndbuf %d rcvbuf %d (floors)\n", option(sv[0], SO_SNDBUF), option(sv[0], SO_RCVBUF));
    SHOW(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &value, 2));
    SHOW(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, bad_pointer, 4));
    SHOW(setsockopt(sv[0], SOL_SOCKET, SO_TYPE, &value, 4));
    SHOW(setsockopt(sv[0], SOL_SOCKET, 999, &value, 4));
    SHOW(setsockopt(sv[0], SOL_SOCKET, SO_REUSEPORT, &value, 4));
    SHOW(setsockopt(sv[0], 6, 1, &value, 4));
    SHOW(setsockopt(sv[0], SOL_SOCKET, SO_KEEPALIVE, &value, 4));
    SHOW(setsockopt(sv[0], SOL_SOCKET, SO_REUSEADDR, &value, 4));
    printf("keepalive %d reuseaddr %d\n", option(sv[0], SO_KEEPALIVE), option(sv[0], SO_REUSEADDR));
    struct linger linger = {1, 5};
    SHOW(setsockopt(sv[0], SOL_SOCKET, SO_LINGER, &linger, 4));
    SHOW(setsockopt(sv[0], SOL_SOCKET, SO_LINGER, &linger, sizeof linger));
    socklen_t length = sizeof linger;
    memset(&linger, 0, sizeof linger);
    SHOW(getsockopt(sv[0], SOL_SOCKET, SO_LINGER, &linger, &length));
    printf("linger %d %d length %u\n", linger.l_onoff, linger.l_linger, length);
    struct timeval tv = {1, 1500};
    SHOW(setsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &tv, 8));
    tv.tv_usec = 1000000;
    SHOW(setsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv));
    tv.tv_usec = 1500;
    SHOW(setsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv));
    length = sizeof tv;
    SHOW(getsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &tv, &length));
    printf("rcvtimeo %ld.%06ld length %u\n", (long)tv.tv_sec, (long)tv.tv_usec, length);
    length = 2;
    value = 0;
    SHOW(getsockopt(sv[0], SOL_SOCKET, SO_TYPE, &value, &length));
    printf("two bytes of SO_TYPE: %d length %u\n", value, length);
    length = -1;
    SHOW(getsockopt(sv[0], SOL_SOCKET, SO_TYPE, &value, &length));
    length = 4;
    SHOW(getsockopt(sv[0], SOL_SOCKET, 999, &value, &length));
    SHOW(getsockopt(sv[0], 6, 1, &value, &length));
    SHOW(getsockopt(sv[0], SOL_SOCKET, SO_TYPE, &value, (socklen_t *)bad_pointer));
    close(sv[0]);
    close(sv[1]);
    capacity(SOCK_STREAM, "stream", sizeof big);
    capacity(SOCK_STREAM, "stream", 1);
    capacity(SOCK_STREAM, "stream", 5000);
    capacity(SOCK_DGRAM, "dgram", 1);
    capacity(SOCK_DGRAM, "dgram", 1000);
    capacity(SOCK_DGRAM, "dgram", 20000);
    capacity(SOCK_SEQPACKET, "seqpacket", 3000);
    socketpair(AF_UNIX, SOCK_DGRAM, 0, sv);
    SHOW(send(sv[0], big, 300000, 0));
    SHOW(send(sv[0], big, 212960, MSG_DONTWAIT));
    SHOW(recv(sv[1], big, sizeof big, MSG_TRUNC));
    close(sv[0]);
    close(sv[1]);
}

static void messages(int type, const char *name)
{
    section(name);
    int sv[2];
    SHOW(socketpair(AF_UNIX, type, 0, sv));
    describe(name, sv[1]);
    char buf[64] = "";
    SHOW(send(sv[0], "first", 5, 0));
    SHOW(send(sv[0], "second message", 14, 0));
    SHOW(send(sv[0], "", 0, 0));
    show_pending(name, sv[1]);
    SHOW(recv(sv[1], buf, 3, MSG_PEEK));
    SHOW(recv(sv[1], buf, 3, MSG_PEEK | MSG_TRUNC));
    SHOW(recv(sv[1], buf, sizeof buf, 0));
    printf("got %.5s\n", buf);
    struct iovec iov = {buf, 6};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
    SHOW(recvmsg(sv[1], &msg, 0));
    printf("msg_flags 0x%x got %.6s\n", msg.msg_flags, buf);
    SHOW(recv(sv[1], buf, sizeof buf, MSG_DONTWAIT));
    SHOW(recv(sv[1], buf, sizeof buf, MSG_DONTWAIT));
    SHOW(write(sv[1], "reply", 5));
    SHOW(read(sv[0], buf, 2));
    SHOW(recv(sv[0], buf, 2, MSG_DONTWAIT));
    SHOW(shutdown(sv[0], SHUT_WR));
    SHOW(send(sv[0], "x", 1, MSG_NOSIGNAL));
    SHOW(recv(sv[1], buf, sizeof buf, MSG_DONTWAIT));
    SHOW(shutdown(sv[1], SHUT_RD));
    SHOW(recv(sv[1], buf, sizeof buf, 0));
    SHOW(send(sv[0], "x", 1, MSG_OOB));
    close(sv[0]);
    close(sv[1]);
}

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    creation_errors();
    stream();
    buffers();
    messages(SOCK_DGRAM, "dgram");
    messages(SOCK_SEQPACKET, "seqpacket");
    return 0;
}
