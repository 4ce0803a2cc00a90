/* A `script -qc` of its own: a shell on a new pseudo-terminal, driven through the master.
 * usage: pty_script SHELL session|hangup
 * Prints what the master reads (control characters escaped) and how the shell ended. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

static int master;

static void show(const char *what, const char *data, size_t n) {
    printf("%s: \"", what);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = data[i];
        if (c == 0x1b && i + 4 <= n && strncmp(data + i, "\x1b[6n", 4) == 0) {
            i += 3;  /* busybox's line editor asks where the cursor is: when it arrives varies */
            continue;
        }
        if (c == '\r') printf("\\r");
        else if (c == '\n') printf("\\n");
        else if (c < 0x20 || c == 0x7f) printf("\\x%02x", c);
        else putchar(c);
    }
    printf("\"\n");
    fflush(stdout);
}

/* Read from the master until `marker` was seen; returns 0, or -errno at EOF/EIO/timeout. */
static int expect(const char *marker) {
    char seen[8192];
    size_t n = 0;
    for (;;) {
        struct pollfd p = {master, POLLIN, 0};
        if (poll(&p, 1, 20000) <= 0) {
            show("timeout", seen, n);
            return -ETIMEDOUT;
        }
        ssize_t got = read(master, seen + n, sizeof seen - 1 - n);
        if (got <= 0) {
            int error = got < 0 ? errno : 0;
            show("until-eof", seen, n);
            printf("master read: %s\n", error ? strerror(error) : "end of file");
            return -error;
        }
        n += got;
        seen[n] = 0;
        if (marker && strstr(seen, marker)) {
            show("read", seen, n);
            return 0;
        }
    }
}

static void send(const char *text) {
    if (write(master, text, strlen(text)) != (ssize_t)strlen(text)) perror("write master");
}

static void report_exit(pid_t child) {
    int status;
    if (waitpid(child, &status, 0) < 0) perror("waitpid");
    else if (WIFEXITED(status)) printf("shell exited %d\n", WEXITSTATUS(status));
    else if (WIFSIGNALED(status)) printf("shell killed by %s\n", strsignal(WTERMSIG(status)));
}

int main(int argc, char **argv) {
    if (argc != 3) return 2;
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    master = posix_openpt(O_RDWR | O_NOCTTY);
    if (master < 0 || grantpt(master) || unlockpt(master)) { perror("posix_openpt"); return 1; }
    const char *name = ptsname(master);
    struct stat st;
    if (!name || stat(name, &st)) { perror("ptsname"); return 1; }
    printf("ptsname under /dev/pts: %d, character device: %d, major %u\n",
           strncmp(name, "/dev/pts/", 9) == 0, S_ISCHR(st.st_mode), major(st.st_rdev));
    struct winsize ws = {24, 80, 0, 0};
    ioctl(master, TIOCSWINSZ, &ws);
    fflush(stdout);

    pid_t child = fork();
    if (child == 0) {
        setsid();
        int replica = open(name, O_RDWR);
        if (replica < 0 || ioctl(replica, TIOCSCTTY, 0)) { perror("replica"); _exit(120); }
        dup2(replica, 0); dup2(replica, 1); dup2(replica, 2);
        close(replica);
        close(master);
        char *env[] = {"PS1=PROMPT> ", "TERM=dumb", "PATH=/bin:/usr/bin", "ENV=", NULL};
        execle(argv[1], "sh", "-i", NULL, env);
        _exit(127);
    }
    if (expect("PROMPT> ")) return 1;
    if (strcmp(argv[2], "hangup") == 0) {
        send("sh -c 'echo READY; exec sleep 30'\n");
        expect("READY\r\n");
        close(master);
        report_exit(child);
        /* The session leader's exit hangs up the foreground job (it was reparented to us). */
        int status;
        pid_t job = waitpid(-1, &status, 0);
        if (job > 0 && WIFSIGNALED(status)) printf("job killed by %s\n", strsignal(WTERMSIG(status)));
        else if (job > 0) printf("job status %d\n", status);
        return 0;
    }
    send("tty | sed s/[0-9]*$/N/; echo hi\n");
    expect("PROMPT> ");
    /* Canonical input: erase (DEL), kill (^U), CR mapped to NL, echo with ONLCR. */
    send("echo R1; read x; echo got=$x\n");
    expect("R1\r\n");
    send("ab\x7f" "c\r");
    expect("PROMPT> ");
    send("echo R2; read y; echo got=$y\n");
    expect("R2\r\n");
    send("junk\x15ok\n");
    expect("PROMPT> ");
    /* ^D ends cat's input. */
    send("echo R3; cat; echo cat=$?\n");
    expect("R3\r\n");
    send("line\n");
    expect("line\r\nline\r\n");
    send("\x04");
    expect("PROMPT> ");
    /* ^C interrupts the foreground job. */
    send("sh -c 'echo READY; exec sleep 30'; echo status=$?\n");
    expect("READY\r\n");
    send("\x03");
    expect("PROMPT> ");
    /* A resize: SIGWINCH to the foreground job, TIOCGWINSZ sees the new size. */
    send("sh -c 'trap \"echo WINCH; exit 3\" WINCH; echo READY; while :; do :; done'; echo status=$?\n");
    expect("READY\r\n");
    ws.ws_row = 30; ws.ws_col = 100;
    ioctl(master, TIOCSWINSZ, &ws);
    expect("PROMPT> ");
    send("stty size; stty -a | head -1\n");
    expect("PROMPT> ");
    /* Raw mode: no echo, no CR mapping, bytes as they come. */
    send("stty raw -echo; echo R4; dd bs=1 count=3 2>/dev/null | od -c | head -1; stty sane\n");
    expect("R4\n");
    send("a\rb");
    expect("PROMPT> ");
    /* ^D on an empty line: the shell exits, the master then reads EIO. */
    send("\x04");
    expect(NULL);
    report_exit(child);
    return 0;
}
