#define _GNU_SOURCE
/* Process groups and sessions: setpgid(2), getpgid(2), setsid(2), getsid(2)
 * and their errors, as relations between ids. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void show(const char *what, int ret)
{
    if (ret < 0)
        printf("%s: -1 %s\n", what, strerrorname_np(errno));
    else
        printf("%s: ok\n", what);
}

static int gate[2];

/* A child that waits until `gate` closes, then exits; with `exec_first`, it execs itself first. */
static pid_t waiting_child(int fd, const char *self, int exec_first)
{
    pid_t pid = fork();
    if (pid == 0) {
        char c;
        close(gate[1]);
        if (exec_first) {
            char fd_text[16];
            snprintf(fd_text, sizeof fd_text, "%d", fd);
            execl(self, self, "wait-on", fd_text, (char *)NULL);
            _exit(127);
        }
        read(fd, &c, 1);
        _exit(0);
    }
    return pid;
}

int main(int argc, char **argv)
{
    int status;
    if (argc == 3 && strcmp(argv[1], "wait-on") == 0) {
        char c;
        read(atoi(argv[2]), &c, 1);
        return 0;
    }
    setvbuf(stdout, NULL, _IONBF, 0);
    pipe(gate);

    /* Start in a session and group of our own, as a shell's job would. */
    if (getsid(0) != getpid())
        setsid();
    printf("session leader: getsid(0) == getpid() %s, getpgrp() == getpid() %s\n",
           getsid(0) == getpid() ? "yes" : "no", getpgrp() == getpid() ? "yes" : "no");
    show("setsid as a session leader", setsid());
    show("setpgid of myself, a session leader", setpgid(0, 0));

    pid_t child = waiting_child(gate[0], argv[0], 0);
    printf("child: getpgid(child) == my group %s, getsid(child) == my session %s\n",
           getpgid(child) == getpgrp() ? "yes" : "no", getsid(child) == getsid(0) ? "yes" : "no");
    show("setpgid(child, child)", setpgid(child, child));
    printf("  getpgid(child) == child %s\n", getpgid(child) == child ? "yes" : "no");
    show("setpgid(child, my group) back", setpgid(child, getpgrp()));
    show("setpgid(child, a group that does not exist)", setpgid(child, child + 1000));
    show("setpgid with a negative group", setpgid(child, -1));
    show("setpgid of an unknown process", setpgid(99999, 0));
    show("setpgid of pid 1 (not my child)", getpid() == 1 ? (errno = ESRCH, -1) : setpgid(1, 0));
    show("getpgid of an unknown process", getpgid(99999));
    show("getsid of an unknown process", getsid(99999));

    pid_t execed = waiting_child(gate[0], argv[0], 1);
    usleep(100000);
    show("setpgid of a child after its execve", setpgid(execed, execed));

    pid_t leader = fork();
    if (leader == 0) {
        pid_t sid = setsid();
        _exit(sid == getpid() && getpgrp() == getpid() && getsid(0) == getpid() ? 0 : 1);
    }
    waitpid(leader, &status, 0);
    printf("setsid in a child: new session and group led by it %s\n", WEXITSTATUS(status) == 0 ? "yes" : "no");

    pid_t other_session = fork();
    if (other_session == 0) {
        char c;
        close(gate[1]);
        setsid();
        read(gate[0], &c, 1);
        _exit(0);
    }
    usleep(50000);
    show("setpgid of a child in another session", setpgid(other_session, other_session));
    printf("getsid of that child is its pid: %s\n", getsid(other_session) == other_session ? "yes" : "no");

    close(gate[1]);
    while (wait(NULL) > 0)
        ;
    return 0;
}
