/* AF_UNIX sockets bound to paths (argv[1] is an empty directory to work in): a stream server
 * and its clients across fork, the socket file, the listen backlog, accept4 flags, the
 * connection errors, SO_PEERCRED as relations between pids, and datagram servers. */
#include "epoll_check.h"
#include <fcntl.h>
#include <stddef.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

static socklen_t address(struct sockaddr_un *sun, const char *path)
{
    memset(sun, 0, sizeof *sun);
    sun->sun_family = AF_UNIX;
    strcpy(sun->sun_path, path);
    return offsetof(struct sockaddr_un, sun_path) + strlen(path);
}

static int bind_to(int fd, const char *path)
{
    struct sockaddr_un sun;
    return bind(fd, (struct sockaddr *)&sun, address(&sun, path));
}

static int connect_to(int fd, const char *path)
{
    struct sockaddr_un sun;
    return connect(fd, (struct sockaddr *)&sun, address(&sun, path));
}

static void show_name(const char *what, int fd, int peer)
{
    struct sockaddr_un sun;
    memset(&sun, 0, sizeof sun);
    socklen_t length = sizeof sun;
    int r = (peer ? getpeername : getsockname)(fd, (struct sockaddr *)&sun, &length);
    if (r < 0)
        printf("%s: -1 %s\n", what, strerrorname_np(errno));
    else
        printf("%s: length %u path '%s'\n", what, length, sun.sun_path);
}

static const char *relation(pid_t pid)
{
    if (pid == getpid())
        return "self";
    if (pid == getppid())
        return "parent";
    if (pid == 0)
        return "none";
    return "other";
}

static void show_peer(const char *what, int fd, pid_t child)
{
    struct ucred cred;
    socklen_t length = sizeof cred;
    getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &length);
    printf("%s: peer is %s uid %d gid %d\n", what, cred.pid == child && child ? "the child" : relation(cred.pid),
           (int)cred.uid, (int)cred.gid);
}

static void stream_server(void)
{
    section("stream server");
    int server = SHOW(socket(AF_UNIX, SOCK_STREAM, 0));
    SHOW(listen(server, 5));
    SHOW(bind_to(server, "server.sock"));
    show_name("bound", server, 0);
    struct stat st;
    SHOW(stat("server.sock", &st));
    printf("socket file: S_ISSOCK %d mode %o\n", S_ISSOCK(st.st_mode), st.st_mode & 0777);
    SHOW(open("server.sock", O_RDONLY));
    SHOW(bind_to(server, "other.sock"));
    SHOW(access("other.sock", F_OK));
    int second = socket(AF_UNIX, SOCK_STREAM, 0);
    SHOW(bind_to(second, "server.sock"));
    SHOW(connect_to(second, "server.sock"));
    close(second);
    SHOW(listen(server, 5));
    printf("acceptconn %d\n", ({ int v; socklen_t l = sizeof v; getsockopt(server, SOL_SOCKET, SO_ACCEPTCONN, &v, &l); v; }));
    pid_t child = fork();
    if (child == 0) {
        /* The child prints only once the parent waits for it. */
        int client = socket(AF_UNIX, SOCK_STREAM, 0);
        if (connect_to(client, "server.sock") < 0)
            _exit(1);
        write(client, "ping", 4);
        char buf[16] = "";
        read(client, buf, sizeof buf);
        printf("client got %s\n", buf);
        show_peer("client", client, 0);
        show_name("client's peer", client, 1);
        show_name("client's name", client, 0);
        _exit(0);
    }
    struct sockaddr_un peer;
    socklen_t length = sizeof peer;
    memset(&peer, 0x55, sizeof peer);
    int connection = SHOW(accept(server, (struct sockaddr *)&peer, &length));
    printf("accepted: length %u family %d\n", length, peer.sun_family);
    show_peer("server", connection, child);
    show_name("accepted's name", connection, 0);
    show_name("accepted's peer", connection, 1);
    char buf[16] = "";
    SHOW(read(connection, buf, sizeof buf));
    printf("server got %s\n", buf);
    write(connection, "pong", 5);
    int status;
    waitpid(child, &status, 0);
    printf("child exited %d\n", WEXITSTATUS(status));
    SHOW(read(connection, buf, sizeof buf));
    close(connection);

    section("backlog");
    SHOW(listen(server, 1));
    int clients[4];
    for (int i = 0; i < 4; i++) {
        clients[i] = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
        printf("client %d: ", i);
        SHOW(connect_to(clients[i], "server.sock"));
    }
    SHOW(write(clients[0], "early", 5));
    SHOW(connect_to(clients[0], "server.sock"));
    connection = SHOW(accept4(server, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC));
    SHOW(fcntl(connection, F_GETFD));
    SHOW(fcntl(connection, F_GETFL) & O_NONBLOCK);
    SHOW(read(connection, buf, sizeof buf));
    SHOW(read(connection, buf, sizeof buf));
    close(connection);
    SHOW(accept4(server, NULL, NULL, 0x100));
    connection = SHOW(accept(server, NULL, NULL));
    close(connection);
    SHOW(connect_to(server, "server.sock"));
    SHOW(connect_to(clients[0], "server.sock"));
    fcntl(server, F_SETFL, O_NONBLOCK);
    SHOW(accept(server, NULL, NULL));
    for (int i = 0; i < 4; i++)
        close(clients[i]);

    section("refused");
    int dgram = socket(AF_UNIX, SOCK_DGRAM, 0);
    SHOW(connect_to(dgram, "server.sock"));
    int client = socket(AF_UNIX, SOCK_STREAM, 0);
    close(server);
    SHOW(connect_to(client, "server.sock"));
    SHOW(connect_to(client, "missing.sock"));
    SHOW(connect_to(client, "missing/x.sock"));
    close(open("plain", O_CREAT | O_WRONLY, 0644));
    SHOW(connect_to(client, "plain"));
    SHOW(bind_to(client, "plain"));
    SHOW(bind_to(client, "missing/x.sock"));
    SHOW(unlink("server.sock"));
    SHOW(connect_to(client, "server.sock"));
    SHOW(connect(client, (struct sockaddr *)&(struct sockaddr_un){AF_UNIX, "x"}, 2));
    SHOW(connect(client, (struct sockaddr *)&(struct sockaddr_un){AF_INET, "x"}, 4));
    SHOW(connect(client, (struct sockaddr *)&(struct sockaddr_un){AF_UNIX, "x"}, 111));
    SHOW(connect(client, (struct sockaddr *)&(struct sockaddr_un){AF_UNIX, "x"}, 129));
    SHOW(connect(client, (struct sockaddr *)8, 4));
    close(client);
    close(dgram);
}

static void renamed_socket_file(void)
{
    section("renamed socket file");
    int server = socket(AF_UNIX, SOCK_STREAM, 0);
    bind_to(server, "before.sock");
    listen(server, 1);
    SHOW(rename("before.sock", "after.sock"));
    SHOW(link("after.sock", "linked.sock"));
    int client = socket(AF_UNIX, SOCK_STREAM, 0);
    SHOW(connect_to(client, "linked.sock"));
    show_name("still named", server, 0);
    close(client);
    close(server);
    client = socket(AF_UNIX, SOCK_STREAM, 0);
    SHOW(connect_to(client, "after.sock"));
    close(client);
}

static void datagram_server(void)
{
    section("datagram server");
    int server = socket(AF_UNIX, SOCK_DGRAM, 0);
    SHOW(bind_to(server, "dgram.sock"));
    int anonymous = socket(AF_UNIX, SOCK_DGRAM, 0);
    struct sockaddr_un sun;
    socklen_t length = address(&sun, "dgram.sock");
    SHOW(sendto(anonymous, "one", 3, 0, (struct sockaddr *)&sun, length));
    int named = socket(AF_UNIX, SOCK_DGRAM, 0);
    SHOW(bind_to(named, "client.sock"));
    SHOW(sendto(named, "two", 3, 0, (struct sockaddr *)&sun, length));
    int stream = socket(AF_UNIX, SOCK_STREAM, 0);
    SHOW(sendto(stream, "x", 1, 0, (struct sockaddr *)&sun, length));
    SHOW(connect_to(stream, "dgram.sock"));
    char buf[16] = "";
    struct sockaddr_un from;
    for (int i = 0; i < 2; i++) {
        socklen_t from_length = sizeof from;
        memset(&from, 0, sizeof from);
        SHOW(recvfrom(server, buf, sizeof buf, 0, (struct sockaddr *)&from, &from_length));
        printf("from length %u path '%s'\n", from_length, from.sun_path);
    }
    show_name("unbound sender's name", anonymous, 0);
    SHOW(send(anonymous, "x", 1, 0));
    SHOW(connect_to(named, "dgram.sock"));
    show_name("connected's peer", named, 1);
    SHOW(send(named, "three", 5, 0));
    SHOW(recv(server, buf, sizeof buf, 0));
    SHOW(connect_to(server, "client.sock"));
    SHOW(sendto(anonymous, "four", 4, 0, (struct sockaddr *)&sun, length));
    SHOW(send(named, "five", 4, 0));
    SHOW(recv(server, buf, sizeof buf, 0));
    printf("got %.4s\n", buf);
    struct sockaddr unspec = {AF_UNSPEC};
    SHOW(connect(server, &unspec, sizeof unspec));
    show_name("disconnected's peer", server, 1);
    SHOW(sendto(anonymous, "six", 3, 0, (struct sockaddr *)&sun, length));
    close(server);
    SHOW(send(named, "seven", 5, 0));
    SHOW(send(named, "eight", 5, 0));
    SHOW(sendto(anonymous, "nine", 4, 0, (struct sockaddr *)&sun, length));

    section("datagram queue limit");
    server = socket(AF_UNIX, SOCK_DGRAM, 0);
    SHOW(bind_to(server, "queue.sock"));
    length = address(&sun, "queue.sock");
    int sender = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    int sent = 0;
    while (sendto(sender, "q", 1, 0, (struct sockaddr *)&sun, length) == 1)
        sent++;
    printf("queued %d, then %s\n", sent, strerrorname_np(errno));
    SHOW(recv(server, buf, sizeof buf, 0));
    SHOW(sendto(sender, "q", 1, 0, (struct sockaddr *)&sun, length));
    SHOW(sendto(sender, "q", 1, 0, (struct sockaddr *)&sun, length));
    close(sender);
    close(server);
    close(anonymous);
    close(named);
    close(stream);
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc < 2 || chdir(argv[1]) < 0) {
        fprintf(stderr, "usage: unix_server EMPTY-DIRECTORY\n");
        return 2;
    }
    umask(022);
    stream_server();
    renamed_socket_file();
    datagram_server();
    return 0;
}
