/* Passing descriptors (SCM_RIGHTS) and credentials (SCM_CREDENTIALS) over AF_UNIX sockets:
 * a pipe and an open file handed from a child to its parent, control buffers too short for
 * what arrives (MSG_CTRUNC), MSG_CMSG_CLOEXEC, MSG_PEEK, bad control messages, and the
 * credentials a receiver with SO_PASSCRED sees, forged ones included. argv[1] is an empty
 * directory to work in. */
#include "epoll_check.h"
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

static int send_fds(int sock, const char *data, const int *fds, int count, int flags)
{
    char control[CMSG_SPACE(sizeof(int) * 8)] = {0};
    struct iovec iov = {(void *)data, strlen(data)};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
    if (count) {
        msg.msg_control = control;
        msg.msg_controllen = CMSG_SPACE(sizeof(int) * count);
        struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
        cmsg->cmsg_level = SOL_SOCKET;
        cmsg->cmsg_type = SCM_RIGHTS;
        cmsg->cmsg_len = CMSG_LEN(sizeof(int) * count);
        memcpy(CMSG_DATA(cmsg), fds, sizeof(int) * count);
    }
    return sendmsg(sock, &msg, flags);
}

static pid_t child;

static const char *relation(pid_t pid)
{
    return pid == getpid() ? "self" : pid == 0 ? "0" : pid == child ? "child" : "other";
}

/* recvmsg with `room` bytes of control buffer; prints what came and returns the first fd. */
static int receive(const char *what, int sock, size_t room, int flags)
{
    char data[32] = "";
    char control[256];
    memset(control, 0x55, sizeof control);
    struct iovec iov = {data, sizeof data - 1};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = room ? control : NULL,
                         .msg_controllen = room};
    int n = recvmsg(sock, &msg, flags);
    if (n < 0) {
        printf("%s: recvmsg -1 %s\n", what, strerrorname_np(errno));
        return -1;
    }
    printf("%s: %d bytes '%s' flags 0x%x controllen %zu\n", what, n, data, msg.msg_flags, msg.msg_controllen);
    int first = -1;
    for (struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg); cmsg; cmsg = CMSG_NXTHDR(&msg, cmsg)) {
        printf("  cmsg level %d type %d len %zu", cmsg->cmsg_level, cmsg->cmsg_type, cmsg->cmsg_len);
        if (cmsg->cmsg_type == SCM_RIGHTS) {
            int count = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            for (int i = 0; i < count; i++) {
                int fd;
                memcpy(&fd, CMSG_DATA(cmsg) + i * sizeof(int), sizeof fd);
                printf(" fd %d (cloexec %d)", fd, fcntl(fd, F_GETFD));
                if (first < 0)
                    first = fd;
            }
        } else if (cmsg->cmsg_type == SCM_CREDENTIALS && cmsg->cmsg_len >= CMSG_LEN(sizeof(struct ucred))) {
            struct ucred cred;
            memcpy(&cred, CMSG_DATA(cmsg), sizeof cred);
            printf(" pid %s uid %d gid %d", relation(cred.pid), (int)cred.uid, (int)cred.gid);
        }
        printf("\n");
    }
    return first;
}

static int open_fds(void)
{
    int count = 0;
    for (int fd = 0; fd < 64; fd++)
        if (fcntl(fd, F_GETFD) >= 0)
            count++;
    return count;
}

static void pass_from_child(void)
{
    section("a pipe and a file from a child");
    int sv[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    child = fork();
    if (child == 0) {
        close(sv[0]);
        int pipefd[2];
        pipe(pipefd);
        write(pipefd[1], "through the pipe", 16);
        int file = open("passed.txt", O_CREAT | O_RDWR | O_TRUNC, 0644);
        write(file, "file contents", 13);
        lseek(file, 5, SEEK_SET);
        int fds[2] = {pipefd[0], file};
        send_fds(sv[1], "fds", fds, 2, 0);
        close(pipefd[0]);
        close(file);
        /* The pipe's write end stays here until the parent has read. */
        char buf[4];
        read(sv[1], buf, sizeof buf);
        close(pipefd[1]);
        _exit(0);
    }
    close(sv[1]);
    int before = open_fds();
    int pipe_read = receive("parent", sv[0], 64, 0);
    printf("new descriptors: %d\n", open_fds() - before);
    int file = pipe_read + 1;
    char buf[32] = "";
    SHOW(read(pipe_read, buf, sizeof buf));
    printf("pipe: %s\n", buf);
    memset(buf, 0, sizeof buf);
    SHOW(read(file, buf, sizeof buf));
    printf("file from offset 5: %s\n", buf);
    write(sv[0], "done", 4);
    waitpid(child, NULL, 0);
    SHOW(read(pipe_read, buf, sizeof buf));
    close(pipe_read);
    close(file);
    close(sv[0]);
}

static void truncation(void)
{
    section("short control buffers");
    int sv[2];
    socketpair(AF_UNIX, SOCK_DGRAM, 0, sv);
    int fds[3] = {0, 1, 2};
    int before = open_fds();
    SHOW(send_fds(sv[0], "none", fds, 3, 0));
    receive("no control buffer", sv[1], 0, 0);
    SHOW(send_fds(sv[0], "header", fds, 3, 0));
    receive("room for the header", sv[1], sizeof(struct cmsghdr), 0);
    SHOW(send_fds(sv[0], "one", fds, 3, 0));
    receive("room for one fd", sv[1], CMSG_LEN(sizeof(int)), 0);
    SHOW(send_fds(sv[0], "two", fds, 3, 0));
    receive("room for two fds", sv[1], CMSG_SPACE(2 * sizeof(int)), 0);
    SHOW(send_fds(sv[0], "all", fds, 3, 0));
    receive("room for all", sv[1], CMSG_SPACE(3 * sizeof(int)), MSG_CMSG_CLOEXEC);
    printf("new descriptors: %d\n", open_fds() - before);
    for (int fd = 3; fd < 64; fd++)
        if (fd != sv[0] && fd != sv[1] && fcntl(fd, F_GETFD) >= 0)
            close(fd);

    section("peeking");
    SHOW(send_fds(sv[0], "peek", fds, 1, 0));
    receive("peek", sv[1], 64, MSG_PEEK);
    receive("read", sv[1], 64, 0);
    printf("new descriptors: %d\n", open_fds() - before);
    for (int fd = 3; fd < 64; fd++)
        if (fd != sv[0] && fd != sv[1] && fcntl(fd, F_GETFD) >= 0)
            close(fd);
    close(sv[0]);
    close(sv[1]);

    section("stream boundaries");
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    SHOW(write(sv[0], "ab", 2));
    SHOW(send_fds(sv[0], "cd", fds, 1, 0));
    SHOW(write(sv[0], "ef", 2));
    int fd = receive("stops after the fds", sv[1], 64, 0);
    close(fd);
    receive("the rest", sv[1], 64, 0);
    close(sv[0]);
    close(sv[1]);
}

static void bad_control(void)
{
    section("bad control messages");
    int sv[2];
    socketpair(AF_UNIX, SOCK_DGRAM, 0, sv);
    int fds[2] = {0, 99};
    SHOW(send_fds(sv[0], "x", fds, 2, 0));
    fds[1] = -1;
    SHOW(send_fds(sv[0], "x", fds, 2, 0));
    struct {
        struct cmsghdr header;
        int fd;
    } control = {{CMSG_LEN(sizeof(int)), SOL_SOCKET, SCM_RIGHTS}, 0};
    struct iovec iov = {"x", 1};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = &control, .msg_controllen = sizeof control};
    control.header.cmsg_len = 200;
    SHOW(sendmsg(sv[0], &msg, 0));
    control.header.cmsg_len = 8;
    SHOW(sendmsg(sv[0], &msg, 0));
    control.header.cmsg_len = CMSG_LEN(sizeof(int));
    control.header.cmsg_type = 99;
    SHOW(sendmsg(sv[0], &msg, 0));
    control.header.cmsg_level = 6;
    SHOW(sendmsg(sv[0], &msg, 0));
    control.header.cmsg_level = SOL_SOCKET;
    control.header.cmsg_type = SCM_RIGHTS;
    msg.msg_controllen = 4;
    SHOW(sendmsg(sv[0], &msg, 0));
    msg.msg_controllen = 1 << 20;
    SHOW(sendmsg(sv[0], &msg, 0));
    msg.msg_controllen = sizeof control;
    msg.msg_control = (void *)8;
    SHOW(sendmsg(sv[0], &msg, 0));
    msg.msg_iovlen = 2000;
    SHOW(sendmsg(sv[0], &msg, 0));
    SHOW(sendmsg(sv[0], &msg, 0x80000000));
    char buf[8];
    int n;
    while ((n = recv(sv[1], buf, sizeof buf, MSG_DONTWAIT)) > 0)
        printf("received a message of %d\n", n);
    close(sv[0]);
    close(sv[1]);
}

static int send_credentials(int sock, pid_t pid, uid_t uid, gid_t gid)
{
    struct {
        struct cmsghdr header;
        struct ucred cred;
    } control = {{CMSG_LEN(sizeof(struct ucred)), SOL_SOCKET, SCM_CREDENTIALS}, {pid, uid, gid}};
    struct iovec iov = {"c", 1};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = &control,
                         .msg_controllen = sizeof control};
    return sendmsg(sock, &msg, 0);
}

static void credentials(void)
{
    section("credentials");
    int sv[2];
    socketpair(AF_UNIX, SOCK_DGRAM, 0, sv);
    SHOW(write(sv[0], "before", 6));
    int one = 1;
    SHOW(setsockopt(sv[1], SOL_SOCKET, SO_PASSCRED, &one, sizeof one));
    receive("sent before SO_PASSCRED", sv[1], 64, 0);
    SHOW(write(sv[0], "after", 5));
    receive("sent after", sv[1], 64, 0);
    SHOW(write(sv[0], "short", 5));
    receive("no room", sv[1], 20, 0);
    int fds[1] = {0};
    SHOW(send_fds(sv[0], "both", fds, 1, 0));
    int fd = receive("with a file", sv[1], 64, 0);
    close(fd);
    SHOW(send_credentials(sv[0], getpid(), getuid(), getgid()));
    receive("own credentials", sv[1], 64, 0);
    child = fork();
    if (child == 0) {
        pause();
        _exit(0);
    }
    SHOW(send_credentials(sv[0], child, 0, 0));
    receive("root claims another pid", sv[1], 64, 0);
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    SHOW(send_credentials(sv[0], 999999, 0, 0));
    SHOW(send_credentials(sv[0], getpid(), -1, 0));
    child = fork();
    if (child == 0) {
        setgid(65534);
        setuid(65534);
        printf("as nobody: ");
        SHOW(send_credentials(sv[0], getpid(), 65534, 65534));
        printf("as nobody: ");
        SHOW(send_credentials(sv[0], getpid(), 0, 65534));
        printf("as nobody: ");
        SHOW(send_credentials(sv[0], getppid(), 65534, 65534));
        printf("as nobody: ");
        SHOW(write(sv[0], "plain", 5));
        _exit(0);
    }
    waitpid(child, NULL, 0);
    receive("from nobody", sv[1], 64, 0);
    receive("from nobody, plain", sv[1], 64, 0);
    close(sv[0]);
    close(sv[1]);

    section("credentials on a stream");
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    setsockopt(sv[1], SOL_SOCKET, SO_PASSCRED, &one, sizeof one);
    SHOW(write(sv[0], "mine", 4));
    child = fork();
    if (child == 0) {
        write(sv[0], "child's", 7);
        _exit(0);
    }
    waitpid(child, NULL, 0);
    receive("not glued to another writer's", sv[1], 64, 0);
    receive("the child's", sv[1], 64, 0);
    SHOW(shutdown(sv[0], SHUT_WR));
    receive("end of file", sv[1], 64, 0);
    close(sv[0]);
    close(sv[1]);
}

static void socket_over_itself(void)
{
    section("a socket passed over itself");
    int sv[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    SHOW(send_fds(sv[0], "self", &sv[1], 1, 0));
    int copy = receive("got", sv[1], 64, 0);
    SHOW(write(sv[0], "again", 5));
    char buf[8] = "";
    SHOW(read(copy, buf, sizeof buf));
    close(copy);
    close(sv[0]);
    close(sv[1]);
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc < 2 || chdir(argv[1]) < 0) {
        fprintf(stderr, "usage: unix_rights EMPTY-DIRECTORY\n");
        return 2;
    }
    pass_from_child();
    truncation();
    bad_control();
    credentials();
    socket_over_itself();
    return 0;
}
