/* unix_bind_path: bind(2) to a path makes a socket node there, unlink removes it. */
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
int main(void) {
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    strcpy(a.sun_path, "/data/sock");
    unlink(a.sun_path);
    int r = bind(s, (struct sockaddr *)&a, sizeof a);
    struct stat sb; stat(a.sun_path, &sb);
    printf("bind %d socket-node %d\n", r, S_ISSOCK(sb.st_mode));
    unlink(a.sun_path);
    return 0;
}
