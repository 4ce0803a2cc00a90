#define _GNU_SOURCE
/* vfork(2), clone(2) and clone3(2): what is shared (memory, fd table, cwd),
 * flag combinations Linux refuses, the tid words CLONE_*_SETTID/CLEARTID
 * maintain, and children that do not send SIGCHLD. */
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define STACK_SIZE (256 * 1024)

static volatile int shared_value;
static int fd_from_child = -1;
static pid_t child_tid_word, parent_tid_word;

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void vfork_shares_memory_and_suspends_parent(const char *self)
{
    volatile int written_by_child = 0;
    pid_t pid = vfork();
    if (pid == 0) {
        sleep_ms(50);                 /* the parent must not run meanwhile */
        written_by_child = 1;
        _exit(3);
    }
    int status;
    printf("vfork: parent resumed after the child wrote: %s\n", written_by_child ? "yes" : "no");
    waitpid(pid, &status, 0);
    printf("vfork: child exit status %d\n", WEXITSTATUS(status));

    written_by_child = 0;
    pid = vfork();
    if (pid == 0) {
        written_by_child = 1;
        execl(self, self, "exit-with", "6", (char *)NULL);
        _exit(127);
    }
    printf("vfork+execve: parent resumed, saw the write before exec: %s\n", written_by_child ? "yes" : "no");
    waitpid(pid, &status, 0);
    printf("vfork+execve: child exit status %d\n", WEXITSTATUS(status));
}

static volatile sig_atomic_t usr1_handled;

static void on_usr1(int signo)
{
    (void)signo;
    usr1_handled++;
}

/* A signal for the suspended parent waits until the child is done with its stack. */
static void vfork_parent_signalled_meanwhile(void)
{
    struct sigaction sa = {.sa_handler = on_usr1, .sa_flags = SA_RESTART};
    volatile int children = 0;
    pid_t parent = getpid();
    int status;

    sigaction(SIGUSR1, &sa, NULL);
    pid_t pid = vfork();
    if (pid == 0) {
        children++;
        kill(parent, SIGUSR1);
        sleep_ms(30);
        _exit(4);
    }
    int handled_when_resumed = usr1_handled;
    waitpid(pid, &status, 0);
    printf("vfork, signal for the parent meanwhile: one child %s, handler ran once after vfork returned %s, "
           "child exit %d\n", children == 1 && waitpid(-1, NULL, WNOHANG) < 0 ? "yes" : "no",
           usr1_handled == 1 && handled_when_resumed == 1 ? "yes" : "no", WEXITSTATUS(status));
    signal(SIGUSR1, SIG_DFL);
}

static int child_opens_and_chdirs(void *arg)
{
    (void)arg;
    shared_value = 42;
    fd_from_child = open("/dev/null", O_RDONLY);
    chdir("/tmp");
    return 0;
}

static void clone_sharing(const char *what, int flags)
{
    char *stack = malloc(STACK_SIZE);
    char cwd[256];
    shared_value = 0;
    fd_from_child = -1;
    chdir("/");
    pid_t pid = clone(child_opens_and_chdirs, stack + STACK_SIZE, flags | SIGCHLD, NULL);
    int status;
    waitpid(pid, &status, 0);
    getcwd(cwd, sizeof cwd);
    printf("%s: memory shared %s, fd opened by child valid in parent %s, cwd %s\n", what,
           shared_value == 42 ? "yes" : "no",
           fd_from_child >= 0 && fcntl(fd_from_child, F_GETFD) >= 0 ? "yes" : "no", cwd);
    if (fd_from_child >= 0)
        close(fd_from_child);
    chdir("/");
    free(stack);
}

static int closer(void *arg)
{
    close(*(int *)arg);
    return 0;
}

static void clone_files_both_ways(void)
{
    char *stack = malloc(STACK_SIZE);
    int fds[2];
    pipe(fds);
    pid_t pid = clone(closer, stack + STACK_SIZE, CLONE_VM | CLONE_FILES | SIGCHLD, &fds[0]);
    waitpid(pid, NULL, 0);
    errno = 0;
    int ret = fcntl(fds[0], F_GETFD);
    printf("CLONE_FILES: fd closed by child is closed in parent: %s (%s)\n", ret < 0 ? "yes" : "no",
           strerrorname_np(errno));
    close(fds[1]);
    free(stack);
}

static void clone_flag_errors(void)
{
    static const struct { const char *name; unsigned long flags; } cases[] = {
        {"CLONE_SIGHAND without CLONE_VM", CLONE_SIGHAND},
        {"CLONE_THREAD without CLONE_SIGHAND", CLONE_VM | CLONE_THREAD},
        {"CLONE_FS with CLONE_NEWNS", CLONE_FS | CLONE_NEWNS},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        errno = 0;
        long ret = syscall(SYS_clone, cases[i].flags | SIGCHLD, 0, 0, 0, 0);
        if (ret == 0)
            _exit(0);
        printf("clone %s: %ld %s\n", cases[i].name, ret, strerrorname_np(errno));
    }
}

static int thread_reporting_tid(void *arg)
{
    pid_t *seen = arg;
    seen[0] = syscall(SYS_gettid);
    seen[1] = child_tid_word;
    sleep_ms(20);
    return 0;
}

/* The clone(2) that pthread_create makes: pthread_join waits on the CLEARTID word. */
static void clone_tid_words(void)
{
    char *stack = malloc(STACK_SIZE);
    pid_t seen[2] = {0, 0};
    int flags = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM
                | CLONE_PARENT_SETTID | CLONE_CHILD_SETTID | CLONE_CHILD_CLEARTID;
    child_tid_word = parent_tid_word = -1;
    pid_t tid = clone(thread_reporting_tid, stack + STACK_SIZE, flags, seen, &parent_tid_word, NULL,
                      &child_tid_word);
    printf("settid: parent word holds the tid %s\n", parent_tid_word == tid ? "yes" : "no");
    for (;;) {
        pid_t word = child_tid_word;
        if (word == 0)
            break;
        syscall(SYS_futex, &child_tid_word, FUTEX_WAIT, word, NULL, NULL, 0);
    }
    printf("settid: child saw its tid %s in its own word %s; the word is 0 after its exit, "
           "thread tid differs from pid %s\n",
           seen[0] == tid ? "yes" : "no", seen[1] == tid ? "yes" : "no", tid != getpid() ? "yes" : "no");
    free(stack);
}

static long clone3(struct clone_args *args)
{
    return syscall(SYS_clone3, args, sizeof *args);
}

static void clone3_cases(void)
{
    struct clone_args args;
    int status;
    pid_t parent = getpid(), tid_word = 0;

    memset(&args, 0, sizeof args);
    args.exit_signal = SIGCHLD;
    args.flags = CLONE_PARENT_SETTID;
    args.parent_tid = (uintptr_t)&tid_word;
    long pid = clone3(&args);
    if (pid == 0)
        _exit(getppid() == parent ? 11 : 12);
    waitpid(pid, &status, 0);
    printf("clone3 like fork: child exit %d, parent_tid word is the pid %s\n", WEXITSTATUS(status),
           tid_word == pid ? "yes" : "no");

    memset(&args, 0, sizeof args);
    args.exit_signal = 0;
    pid = clone3(&args);
    if (pid == 0) {
        sleep_ms(20);
        _exit(13);
    }
    errno = 0;
    int ret = waitpid(pid, &status, 0);
    printf("clone3 exit_signal 0: waitpid without __WALL %d %s", ret, strerrorname_np(errno));
    ret = waitpid(pid, &status, __WALL);
    printf(", with __WALL %s exit %d\n", ret == pid ? "child" : "other", WEXITSTATUS(status));

    pid = clone3(&args);
    if (pid == 0)
        _exit(14);
    ret = waitpid(pid, &status, __WCLONE);
    printf("clone3 exit_signal 0: __WCLONE finds it %s exit %d\n", ret == pid ? "yes" : "no",
           WEXITSTATUS(status));

    errno = 0;
    printf("clone3 size 32: %ld", syscall(SYS_clone3, &args, 32));
    printf(" %s\n", strerrorname_np(errno));
    char big[sizeof args + 8];
    memset(big, 0, sizeof big);
    memcpy(big, &args, sizeof args);
    big[sizeof args + 3] = 1;
    errno = 0;
    printf("clone3 nonzero bytes past the struct: %ld", syscall(SYS_clone3, big, sizeof big));
    printf(" %s\n", strerrorname_np(errno));
    memset(&args, 0, sizeof args);
    args.flags = CLONE_SIGHAND;
    errno = 0;
    printf("clone3 CLONE_SIGHAND without CLONE_VM: %ld", clone3(&args));
    printf(" %s\n", strerrorname_np(errno));
    memset(&args, 0, sizeof args);
    args.exit_signal = 65;
    errno = 0;
    printf("clone3 exit_signal 65: %ld", clone3(&args));
    printf(" %s\n", strerrorname_np(errno));
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "exit-with") == 0)
        return atoi(argv[2]);
    setvbuf(stdout, NULL, _IONBF, 0);
    vfork_shares_memory_and_suspends_parent(argv[0]);
    vfork_parent_signalled_meanwhile();
    clone_sharing("CLONE_VM|CLONE_FS|CLONE_FILES", CLONE_VM | CLONE_FS | CLONE_FILES);
    clone_sharing("CLONE_VM only", CLONE_VM);
    clone_sharing("no sharing", 0);
    clone_files_both_ways();
    clone_flag_errors();
    clone_tid_words();
    clone3_cases();
    return 0;
}
