/* Resource exhaustion, bounded so that a native run cannot hurt the host: each attack stops
 * as soon as it has taken more than the bench's limit (LIMIT, given by the harness), and
 * reports an escape if it got there.
 *   fork_bomb      processes (LIMIT = the pids limit)
 *   memory_bomb    anonymous memory touched (LIMIT in MiB)
 *   fd_exhaustion  open file descriptors, after raising RLIMIT_NOFILE as far as allowed (LIMIT files);
 *                  the harness counts the host's open files meanwhile
 *   fill_tmpfs     bytes written to /dev/shm (LIMIT in MiB) */
#include "attack.h"
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>

static long limit(void) { return atol(need_env("LIMIT")); }

static void fork_bomb(void)
{
    long want = limit() + 1, made = 0;
    int pipefd[2];
    pipe(pipefd);
    for (; made < want; made++) {
        pid_t pid = fork();
        if (pid < 0)
            break;
        if (pid == 0) {
            char c;
            close(pipefd[1]);
            read(pipefd[0], &c, 1);          /* live until the parent is done */
            _exit(0);
        }
    }
    int err = errno;
    close(pipefd[1]);
    while (wait(NULL) > 0)
        ;
    if (made >= want)
        evidence("made %ld processes, past the limit of %ld", made, limit());
    else
        blocked("fork failed after %ld processes: %s", made, strerror(err));
}

static void memory_bomb(void)
{
    long want = limit() + 64, got = 0;
    for (; got < want; got++) {
        char *p = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
            break;
        memset(p, 1, 1 << 20);
    }
    if (got >= want)
        evidence("touched %ld MiB, past the limit of %ld MiB", got, limit());
    else
        blocked("mmap failed after %ld MiB: %s", got, strerror(errno));
}

static void fd_exhaustion(void)
{
    struct rlimit rl = {1 << 20, 1 << 20};
    if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
        getrlimit(RLIMIT_NOFILE, &rl);
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    long want = limit() + 1, got = 0;
    for (; got < want; got++)
        if (open("/", O_RDONLY) < 0)
            break;
    /* Whether these are host files the harness sees in the host's file count meanwhile. */
    say("info", "holding %ld open files (%s)", got, got < want ? strerror(errno) : "no error");
    usleep(600000);
}

static void fill_tmpfs(void)
{
    long want = limit() + 64, got = 0;
    static char chunk[1 << 20];
    memset(chunk, 'x', sizeof(chunk));
    int fd = open("/dev/shm/psb-bench-fill", O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) {
        blocked("/dev/shm: %s", strerror(errno));
        return;
    }
    for (; got < want; got++)
        if (write(fd, chunk, sizeof(chunk)) != sizeof(chunk))
            break;
    if (got >= want)
        evidence("wrote %ld MiB to /dev/shm, past the limit of %ld MiB", got, limit());
    else
        blocked("write failed after %ld MiB: %s", got, strerror(errno));
    unlink("/dev/shm/psb-bench-fill");
}

int main(int argc, char **argv)
{
    const char *how = argc > 1 ? argv[1] : "";
    say("info", "%s: up to %ld", how, limit() + 1);
    if (!strcmp(how, "fork_bomb"))
        fork_bomb();
    else if (!strcmp(how, "memory_bomb"))
        memory_bomb();
    else if (!strcmp(how, "fd_exhaustion"))
        fd_exhaustion();
    else if (!strcmp(how, "fill_tmpfs"))
        fill_tmpfs();
    else
        return 2;
    return 0;
}
