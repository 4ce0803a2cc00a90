#define _GNU_SOURCE
/* Zombies, automatic reaping (SIGCHLD ignored or SA_NOCLDWAIT), orphans
 * adopted by another process, and PR_SET_PDEATHSIG. Results of grandchildren
 * come back to the first process through a pipe. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t sigchld_count;
static volatile sig_atomic_t death_signal, death_code;
static volatile pid_t death_sender;

static void count_sigchld(int signo)
{
    (void)signo;
    sigchld_count++;
}

static void note_death_signal(int signo, siginfo_t *info, void *context)
{
    (void)context;
    death_signal = signo;
    death_code = info->si_code;
    death_sender = info->si_pid;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Print, from any process, a line that the first process relays. */
static void send_line(int fd, const char *line)
{
    write(fd, line, strlen(line));
}

static void relay_lines(int fd)
{
    char buf[512];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0)
        fwrite(buf, 1, n, stdout);
}

static void zombie_until_waited(void)
{
    struct sigaction sa = {.sa_handler = count_sigchld};
    sigset_t block, old;

    sigaction(SIGCHLD, &sa, NULL);
    sigemptyset(&block);
    sigaddset(&block, SIGCHLD);
    sigprocmask(SIG_BLOCK, &block, &old);
    sigchld_count = 0;
    pid_t pid = fork();
    if (pid == 0)
        _exit(0);
    while (!sigchld_count)
        sigsuspend(&old);
    sigprocmask(SIG_SETMASK, &old, NULL);
    printf("exited child is a zombie until waited: %s\n", kill(pid, 0) == 0 ? "yes" : "no");
    printf("wait reaps it: %s\n", waitpid(pid, NULL, 0) == pid ? "yes" : "no");
    printf("then it is gone: %s\n", kill(pid, 0) == 0 ? "no" : strerrorname_np(errno));
    signal(SIGCHLD, SIG_DFL);
}

static void automatic_reaping(const char *how, struct sigaction *sa)
{
    sigchld_count = 0;
    sigaction(SIGCHLD, sa, NULL);
    pid_t quick = fork();
    if (quick == 0)
        _exit(0);
    pid_t slow = fork();
    if (slow == 0) {
        sleep_ms(50);
        _exit(0);
    }
    errno = 0;
    int ret = wait(NULL);
    int wait_errno = errno;
    printf("%s: wait returns %d %s after both exited, SIGCHLD handler ran: %s, children gone: %s\n",
           how, ret, strerrorname_np(wait_errno), sigchld_count ? "yes" : "no",
           kill(quick, 0) != 0 && kill(slow, 0) != 0 ? "yes" : "no");
    signal(SIGCHLD, SIG_DFL);
}

static void orphan_is_adopted(void)
{
    int fds[2];
    pipe(fds);
    pid_t middle = fork();
    if (middle == 0) {
        pid_t original = getpid();
        close(fds[0]);
        if (fork() == 0) {
            char line[128];
            for (int i = 0; i < 500 && getppid() == original; i++)
                sleep_ms(10);
            snprintf(line, sizeof line, "orphan: getppid() changed away from its dead parent: %s\n",
                     getppid() != original ? "yes" : "no");
            send_line(fds[1], line);
            _exit(0);
        }
        _exit(0);
    }
    close(fds[1]);
    waitpid(middle, NULL, 0);
    relay_lines(fds[0]);
    close(fds[0]);
}

/* A PR_SET_CHILD_SUBREAPER process adopts its orphaned descendants, and can wait for them. */
static void subreaper_adopts(void)
{
    pid_t subreaper = fork();
    if (subreaper == 0) {
        int status = -1, fds[2];
        pid_t reaper_pid = getpid(), grandchild;
        prctl(PR_SET_CHILD_SUBREAPER, 1);
        pipe(fds);
        pid_t middle = fork();
        if (middle == 0) {
            pid_t original = getpid();
            if (fork() == 0) {
                for (int i = 0; i < 500 && getppid() == original; i++)
                    sleep_ms(10);
                _exit(getppid() == reaper_pid ? 21 : 22);
            }
            _exit(0);
        }
        waitpid(middle, NULL, 0);
        grandchild = wait(&status);
        printf("subreaper: adopted orphan waited for: %s, its status %d\n",
               grandchild > 0 && grandchild != middle ? "yes" : "no", WEXITSTATUS(status));
        _exit(0);
    }
    waitpid(subreaper, NULL, 0);
}

/* Runs in a child that asks for SIGUSR1 when its parent dies, and reports what arrived. */
static void await_parent_death(int report_fd, int ready_fd)
{
    struct sigaction sa = {.sa_sigaction = note_death_signal, .sa_flags = SA_SIGINFO};
    pid_t parent = getppid();
    int got = -1;
    char line[256];

    sigaction(SIGUSR1, &sa, NULL);
    prctl(PR_SET_PDEATHSIG, SIGUSR1);
    prctl(PR_GET_PDEATHSIG, &got);
    write(ready_fd, "r", 1);
    for (int i = 0; i < 500 && !death_signal; i++)
        sleep_ms(10);
    snprintf(line, sizeof line,
             "pdeathsig: PR_GET_PDEATHSIG %d, got signal %d si_code %s si_pid is the dead parent: %s, "
             "still its child: %s\n",
             got, death_signal, death_code == SI_USER ? "SI_USER" : "other",
             death_sender == parent ? "yes" : "no", getppid() == parent ? "yes" : "no");
    send_line(report_fd, line);
    _exit(0);
}

static void pdeathsig_when_parent_exits(void)
{
    int report[2], ready[2];
    pipe(report);
    pipe(ready);
    pid_t middle = fork();
    if (middle == 0) {
        char c;
        close(report[0]);
        if (fork() == 0)
            await_parent_death(report[1], ready[1]);
        close(report[1]);
        read(ready[0], &c, 1);
        _exit(0);
    }
    close(report[1]);
    close(ready[1]);
    waitpid(middle, NULL, 0);
    relay_lines(report[0]);
    close(report[0]);
    close(ready[0]);
}

struct forking_thread_args {
    int report_fd, ready_write_fd, ready_read_fd;
};

static void *fork_then_exit(void *arg)
{
    struct forking_thread_args *args = arg;
    char c;
    if (fork() == 0)
        await_parent_death(args->report_fd, args->ready_write_fd);
    read(args->ready_read_fd, &c, 1);
    return NULL;
}

/* Linux sends the parent-death signal when the *thread* that forked exits. */
static void pdeathsig_when_forking_thread_exits(void)
{
    int report[2], ready[2];
    pipe(report);
    pipe(ready);
    pid_t middle = fork();
    if (middle == 0) {
        pthread_t thread;
        struct forking_thread_args args = {report[1], ready[1], ready[0]};
        close(report[0]);
        pthread_create(&thread, NULL, fork_then_exit, &args);
        pthread_join(thread, NULL);
        close(report[1]);
        wait(NULL);
        _exit(0);
    }
    close(report[1]);
    close(ready[1]);
    relay_lines(report[0]);
    waitpid(middle, NULL, 0);
    close(report[0]);
    close(ready[0]);
}

static void pdeathsig_not_inherited(void)
{
    int value = -1;
    prctl(PR_SET_PDEATHSIG, SIGUSR2);
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_GET_PDEATHSIG, &value);
        _exit(value);
    }
    int status;
    waitpid(pid, &status, 0);
    prctl(PR_GET_PDEATHSIG, &value);
    printf("pdeathsig after fork: parent %d, child %d\n", value, WEXITSTATUS(status));
    int ret = prctl(PR_SET_PDEATHSIG, 65);
    printf("PR_SET_PDEATHSIG 65: %d %s\n", ret, strerrorname_np(errno));
    prctl(PR_SET_PDEATHSIG, 0);
}

int main(void)
{
    struct sigaction ignore = {.sa_handler = SIG_IGN};
    struct sigaction nocldwait = {.sa_handler = count_sigchld,
                                  .sa_flags = SA_NOCLDWAIT | SA_RESTART};

    setvbuf(stdout, NULL, _IONBF, 0);
    zombie_until_waited();
    automatic_reaping("SIGCHLD SIG_IGN", &ignore);
    automatic_reaping("SA_NOCLDWAIT with a handler", &nocldwait);
    orphan_is_adopted();
    subreaper_adopts();
    pdeathsig_not_inherited();
    pdeathsig_when_parent_exits();
    pdeathsig_when_forking_thread_exits();
    return 0;
}
