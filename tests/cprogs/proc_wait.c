#define _GNU_SOURCE
/* wait4(2)/waitpid(2) as the man page describes them: which children a pid
 * argument selects, WNOHANG, ECHILD, stopped/continued children, and the
 * status macros. Prints pid-independent facts only. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void report(const char *what, pid_t child, pid_t got, int status)
{
    printf("%s: returned %s", what, got == child ? "child" : got == 0 ? "0" : got < 0 ? "-1" : "other");
    if (got < 0)
        printf(" errno %s", strerrorname_np(errno));
    else if (got > 0) {
        if (WIFEXITED(status))
            printf(" exited %d", WEXITSTATUS(status));
        if (WIFSIGNALED(status))
            printf(" signaled %d core %d", WTERMSIG(status), WCOREDUMP(status) ? 1 : 0);
        if (WIFSTOPPED(status))
            printf(" stopped %d", WSTOPSIG(status));
        if (WIFCONTINUED(status))
            printf(" continued");
    }
    printf("\n");
}

static pid_t child_exiting(int code)
{
    pid_t pid = fork();
    if (pid == 0)
        _exit(code);
    return pid;
}

/* A child blocked until the parent closes the pipe's write end. */
static pid_t child_waiting_on_pipe(int *release_fd)
{
    int fds[2];
    if (pipe(fds) != 0)
        exit(99);
    pid_t pid = fork();
    if (pid == 0) {
        char c;
        close(fds[1]);
        while (read(fds[0], &c, 1) > 0)
            ;
        _exit(4);
    }
    close(fds[0]);
    *release_fd = fds[1];
    return pid;
}

static pid_t child_dying_of(int signo)
{
    pid_t pid = fork();
    if (pid == 0) {
        signal(signo, SIG_DFL);
        raise(signo);
        _exit(100);
    }
    return pid;
}

/* The CPU time of a child that spun for 100ms of its own CPU time shows in wait4's rusage.
   The child watches its CPU clock, not the wall clock, so a busy machine can't starve it. */
static void rusage_of_a_busy_child(void)
{
    struct rusage usage;
    int status;
    pid_t pid = fork();
    if (pid == 0) {
        struct timespec start, now;
        volatile unsigned long spins = 0;
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &start);
        do {
            for (int i = 0; i < 1000000; i++)
                spins++;
            clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now);
        } while ((now.tv_sec - start.tv_sec) * 1000000000L + now.tv_nsec - start.tv_nsec < 100000000L);
        _exit(0);
    }
    memset(&usage, 0, sizeof usage);
    wait4(pid, &status, 0, &usage);
    long cpu_us = (usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) * 1000000L + usage.ru_utime.tv_usec
                  + usage.ru_stime.tv_usec;
    printf("wait4 rusage of a child that spun 100ms: at least 80ms of CPU %s\n", cpu_us >= 80000 ? "yes" : "no");
}

struct forking_thread {
    pid_t child;
    int done_fd;
};

static void *fork_and_linger(void *arg)
{
    struct forking_thread *thread = arg;
    char c;
    thread->child = fork();
    if (thread->child == 0)
        _exit(8);
    read(thread->done_fd, &c, 1);
    return NULL;
}

/* __WNOTHREAD: only children of the calling thread (while the thread that forked lives). */
static void wait_for_another_threads_child(void)
{
    pthread_t thread;
    int done[2], status;
    struct forking_thread forker = {0, 0};

    pipe(done);
    forker.done_fd = done[0];
    pthread_create(&thread, NULL, fork_and_linger, &forker);
    while (forker.child == 0)
        usleep(1000);
    pid_t got = waitpid(forker.child, &status, __WNOTHREAD);
    report("__WNOTHREAD, child of another thread", forker.child, got, status);
    got = waitpid(forker.child, &status, 0);
    report("same child without __WNOTHREAD", forker.child, got, status);
    close(done[1]);
    pthread_join(thread, NULL);
    close(done[0]);
}

int main(void)
{
    int status, release;
    pid_t pid, got;
    struct rusage usage;
    struct rlimit no_core = {0, 0};

    setvbuf(stdout, NULL, _IONBF, 0);
    setrlimit(RLIMIT_CORE, &no_core);

    got = waitpid(-1, &status, 0);
    report("no children", 0, got, status);
    got = waitpid(-1, &status, WNOHANG);
    report("no children WNOHANG", 0, got, status);

    pid = child_exiting(3);
    got = waitpid(pid, &status, 0);
    report("specific pid exit 3", pid, got, status);
    got = waitpid(pid, &status, 0);
    report("same pid again", pid, got, status);

    pid_t first = child_exiting(0), second = child_exiting(255);
    int seen = 0;
    for (int i = 0; i < 2; i++) {
        got = waitpid(-1, &status, 0);
        if (got == first && WIFEXITED(status) && WEXITSTATUS(status) == 0)
            seen |= 1;
        if (got == second && WIFEXITED(status) && WEXITSTATUS(status) == 255)
            seen |= 2;
    }
    printf("pid -1 reaped both: %s\n", seen == 3 ? "yes" : "no");

    pid = child_exiting(256 + 7);
    got = waitpid(0, &status, 0);
    report("pid 0 (own group), exit 263", pid, got, status);

    /* A child in its own process group is found by -pgid, not by 0. */
    int go[2];
    pipe(go);
    pid = fork();
    if (pid == 0) {
        char c;
        setpgid(0, 0);
        close(go[1]);
        read(go[0], &c, 1);
        _exit(5);
    }
    setpgid(pid, pid);
    close(go[0]);
    got = waitpid(0, &status, WNOHANG);
    report("pid 0 while only child is in another group", pid, got, status);
    close(go[1]);
    got = waitpid(-pid, &status, 0);
    report("-pgid", pid, got, status);
    errno = 0;
    printf("getpgid of reaped child: %d", getpgid(pid));
    printf(" %s\n", strerrorname_np(errno));

    pid = child_waiting_on_pipe(&release);
    got = waitpid(pid, &status, WNOHANG);
    report("WNOHANG while running", pid, got, status);
    close(release);
    got = wait4(pid, &status, 0, &usage);
    report("wait4 with rusage", pid, got, status);

    pid = child_waiting_on_pipe(&release);
    kill(pid, SIGSTOP);
    got = waitpid(pid, &status, WUNTRACED);
    report("WUNTRACED after SIGSTOP", pid, got, status);
    got = waitpid(pid, &status, WUNTRACED | WNOHANG);
    report("stop reported only once", pid, got, status);
    kill(pid, SIGCONT);
    got = waitpid(pid, &status, WCONTINUED);
    report("WCONTINUED after SIGCONT", pid, got, status);
    got = waitpid(pid, &status, WCONTINUED | WNOHANG);
    report("continue reported only once", pid, got, status);
    kill(pid, SIGSTOP);
    got = waitpid(pid, &status, WNOHANG);
    report("stopped child without WUNTRACED", pid, got, status);
    kill(pid, SIGKILL);
    got = waitpid(pid, &status, 0);
    report("SIGKILL while stopped", pid, got, status);
    close(release);

    pid = child_dying_of(SIGTERM);
    got = waitpid(pid, &status, 0);
    report("SIGTERM", pid, got, status);
    pid = child_dying_of(SIGSEGV);
    got = waitpid(pid, &status, 0);
    report("SIGSEGV, RLIMIT_CORE 0", pid, got, status);
    pid = child_dying_of(SIGABRT);
    got = waitpid(pid, &status, 0);
    report("SIGABRT, RLIMIT_CORE 0", pid, got, status);

    pid = child_exiting(1);
    got = waitpid(pid, &status, 0x1000);
    report("unknown option bit", pid, got, status);
    got = waitpid(pid, NULL, 0);
    report("NULL status pointer", pid, got, 0);

    rusage_of_a_busy_child();
    wait_for_another_threads_child();
    return 0;
}
