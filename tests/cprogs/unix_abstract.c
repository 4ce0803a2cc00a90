/* AF_UNIX abstract names (a leading NUL byte, no file) and autobind: a server and a client
 * across fork, names per socket type, address lengths, and SO_PASSCRED binding on connect. */
#include "epoll_check.h"
#include <ctype.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

/* An abstract address: a NUL, then `name` (without its own NUL). */
static socklen_t abstract(struct sockaddr_un *sun, const char *name)
{
    memset(sun, 0, sizeof *sun);
    sun->sun_family = AF_UNIX;
    memcpy(sun->sun_path + 1, name, strlen(name));
    return offsetof(struct sockaddr_un, sun_path) + 1 + strlen(name);
}

static int bind_abstract(int fd, const char *name)
{
    struct sockaddr_un sun;
    return bind(fd, (struct sockaddr *)&sun, abstract(&sun, name));
}

static int connect_abstract(int fd, const char *name)
{
    struct sockaddr_un sun;
    return connect(fd, (struct sockaddr *)&sun, abstract(&sun, name));
}

/* Print a name with its NUL bytes as '@', as /proc/net/unix does, an autobound name's five
 * (random) hex digits as 'h' and other digits (of pids) as '#'. */
static void show_name(const char *what, int fd, int peer)
{
    struct sockaddr_un sun;
    socklen_t length = sizeof sun;
    memset(&sun, 0, sizeof sun);
    if ((peer ? getpeername : getsockname)(fd, (struct sockaddr *)&sun, &length) < 0) {
        printf("%s: -1 %s\n", what, strerrorname_np(errno));
        return;
    }
    int path_length = length - offsetof(struct sockaddr_un, sun_path);
    int autobound = path_length == 6 && sun.sun_path[0] == 0;
    printf("%s: length %u '", what, length);
    for (int i = 0; i < path_length; i++) {
        char c = sun.sun_path[i];
        putchar(c == 0 ? '@' : autobound && isxdigit((unsigned char)c) ? 'h' : isdigit((unsigned char)c) ? '#' : c);
    }
    printf("'\n");
}

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    char unique[32];
    snprintf(unique, sizeof unique, "pysandbox-test-%08d", getpid());  /* shown with '#' for digits */

    section("abstract stream server");
    int server = socket(AF_UNIX, SOCK_STREAM, 0);
    SHOW(bind_abstract(server, unique));
    int name_length = strlen(unique);
    show_name("server", server, 0);
    SHOW(listen(server, 4));
    int taken = socket(AF_UNIX, SOCK_STREAM, 0);
    SHOW(bind_abstract(taken, unique));
    int dgram = socket(AF_UNIX, SOCK_DGRAM, 0);
    SHOW(bind_abstract(dgram, unique));
    show_name("same name, other type", dgram, 0);
    close(dgram);
    pid_t child = fork();
    if (child == 0) {
        int client = socket(AF_UNIX, SOCK_STREAM, 0);
        if (connect_abstract(client, unique) < 0)
            _exit(1);
        write(client, "hello", 5);
        char buf[16] = "";
        read(client, buf, sizeof buf);
        printf("client got %s\n", buf);
        show_name("client's peer", client, 1);
        _exit(0);
    }
    int connection = SHOW(accept(server, NULL, NULL));
    char buf[16] = "";
    SHOW(read(connection, buf, sizeof buf));
    show_name("accepted", connection, 0);
    write(connection, "world", 6);
    int status;
    waitpid(child, &status, 0);
    printf("child exited %d\n", WEXITSTATUS(status));
    close(connection);
    int client = socket(AF_UNIX, SOCK_STREAM, 0);
    char shorter[32];
    snprintf(shorter, sizeof shorter, "%.*s", name_length - 1, unique);
    SHOW(connect_abstract(client, shorter));
    dgram = socket(AF_UNIX, SOCK_DGRAM, 0);
    SHOW(connect_abstract(dgram, unique));
    close(server);
    SHOW(connect_abstract(client, unique));
    server = socket(AF_UNIX, SOCK_STREAM, 0);
    SHOW(bind_abstract(server, unique));
    close(server);
    close(client);
    close(taken);

    section("autobind");
    int bound = socket(AF_UNIX, SOCK_STREAM, 0);
    sa_family_t family = AF_UNIX;
    SHOW(bind(bound, (struct sockaddr *)&family, sizeof family));
    show_name("autobound", bound, 0);
    struct sockaddr_un first;
    socklen_t first_length = sizeof first;
    getsockname(bound, (struct sockaddr *)&first, &first_length);
    SHOW(bind(bound, (struct sockaddr *)&family, sizeof family));
    struct sockaddr_un again;
    socklen_t again_length = sizeof again;
    getsockname(bound, (struct sockaddr *)&again, &again_length);
    printf("same name after a second autobind: %d\n", first_length == again_length && !memcmp(&first, &again, first_length));
    SHOW(bind_abstract(bound, "another"));
    family = AF_INET;
    SHOW(bind(socket(AF_UNIX, SOCK_STREAM, 0), (struct sockaddr *)&family, sizeof family));
    SHOW(bind(socket(AF_UNIX, SOCK_STREAM, 0), (struct sockaddr *)&family, 1));
    SHOW(listen(bound, 1));
    client = socket(AF_UNIX, SOCK_STREAM, 0);
    SHOW(connect(client, (struct sockaddr *)&first, first_length));
    show_name("connected to autobound", client, 1);
    show_name("client without SO_PASSCRED", client, 0);
    int passcred = socket(AF_UNIX, SOCK_STREAM, 0);
    int one = 1;
    SHOW(setsockopt(passcred, SOL_SOCKET, SO_PASSCRED, &one, sizeof one));
    SHOW(connect(passcred, (struct sockaddr *)&first, first_length));
    show_name("client with SO_PASSCRED", passcred, 0);
    connection = accept(bound, NULL, NULL);
    show_name("first accepted's peer", connection, 1);
    close(connection);
    connection = accept(bound, NULL, NULL);
    show_name("second accepted's peer", connection, 1);
    close(connection);

    section("datagrams to abstract names");
    int receiver = socket(AF_UNIX, SOCK_DGRAM, 0);
    SHOW(bind_abstract(receiver, unique));
    int sender = socket(AF_UNIX, SOCK_DGRAM, 0);
    SHOW(setsockopt(sender, SOL_SOCKET, SO_PASSCRED, &one, sizeof one));
    struct sockaddr_un sun;
    socklen_t length = abstract(&sun, unique);
    SHOW(sendto(sender, "dgram", 5, 0, (struct sockaddr *)&sun, length));
    show_name("sender with SO_PASSCRED", sender, 0);
    struct sockaddr_un from;
    socklen_t from_length = sizeof from;
    SHOW(recvfrom(receiver, buf, sizeof buf, 0, (struct sockaddr *)&from, &from_length));
    printf("from length %u\n", from_length);
    int plain = socket(AF_UNIX, SOCK_DGRAM, 0);
    SHOW(connect(plain, (struct sockaddr *)&sun, length));
    show_name("plain sender after connect", plain, 0);
    SHOW(send(plain, "x", 1, 0));
    from_length = sizeof from;
    SHOW(recvfrom(receiver, buf, sizeof buf, 0, (struct sockaddr *)&from, &from_length));
    printf("from length %u\n", from_length);
    return 0;
}
