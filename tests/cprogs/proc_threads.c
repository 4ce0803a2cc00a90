#define _GNU_SOURCE
/* Threads: many pthread_create/join, ids seen from threads, pthread_exit of
 * the main thread, exit_group from a thread, and execve from a thread that is
 * not the main one. Each scenario runs in its own child process. */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NTHREADS 64

static pid_t main_pid;
static char *self_path;

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int count_threads(void)
{
    char line[256];
    int n = -1;
    FILE *status = fopen("/proc/self/status", "r");
    if (status == NULL)
        return -1;
    while (fgets(line, sizeof line, status) != NULL)
        if (sscanf(line, "Threads: %d", &n) == 1)
            break;
    fclose(status);
    return n;
}

struct ids {
    pid_t pid, tid;
};

static void *report_ids(void *arg)
{
    struct ids *ids = arg;
    ids->pid = getpid();
    ids->tid = gettid();
    return (void *)(intptr_t)(ids->tid % 1000 + 1);
}

static void many_threads(void)
{
    pthread_t threads[NTHREADS];
    struct ids ids[NTHREADS];
    int same_pid = 1, distinct_tids = 1, results_ok = 1;

    for (int i = 0; i < NTHREADS; i++)
        if (pthread_create(&threads[i], NULL, report_ids, &ids[i]) != 0) {
            printf("pthread_create %d failed\n", i);
            exit(1);
        }
    for (int i = 0; i < NTHREADS; i++) {
        void *result;
        pthread_join(threads[i], &result);
        results_ok &= (intptr_t)result == ids[i].tid % 1000 + 1;
        same_pid &= ids[i].pid == getpid();
        distinct_tids &= ids[i].tid != getpid();
        for (int j = 0; j < i; j++)
            distinct_tids &= ids[j].tid != ids[i].tid;
    }
    printf("%d threads: joined with their results %s, getpid() same in all %s, "
           "gettid() distinct and != getpid() %s, main gettid() == getpid() %s\n",
           NTHREADS, results_ok ? "yes" : "no", same_pid ? "yes" : "no",
           distinct_tids ? "yes" : "no", gettid() == getpid() ? "yes" : "no");
}

static void *outlive_main(void *arg)
{
    (void)arg;
    sleep_ms(50);
    printf("main thread gone, worker still runs: getpid() unchanged %s\n",
           getpid() == main_pid ? "yes" : "no");
    exit(7);
}

static void main_pthread_exit(void)
{
    pthread_t thread;
    main_pid = getpid();
    pthread_create(&thread, NULL, outlive_main, NULL);
    pthread_exit(NULL);
}

static void *exit_whole_process(void *arg)
{
    (void)arg;
    sleep_ms(20);
    syscall(SYS_exit_group, 9);
    return NULL;
}

static void *block_forever(void *arg)
{
    (void)arg;
    for (;;)
        pause();
    return NULL;
}

static void exit_group_from_thread(void)
{
    pthread_t thread, sleeper;
    pthread_create(&sleeper, NULL, block_forever, NULL);
    pthread_create(&thread, NULL, exit_whole_process, NULL);
    pthread_join(thread, NULL);
    printf("exit_group from a thread: main thread still running?!\n");
}

static void *exit_only_this_thread(void *arg)
{
    (void)arg;
    syscall(SYS_exit, 99);
    return NULL;
}

static void thread_exit_keeps_process(void)
{
    pthread_t thread;
    pthread_create(&thread, NULL, exit_only_this_thread, NULL);
    pthread_join(thread, NULL);
    printf("SYS_exit in a thread leaves the process running: yes\n");
    exit(0);
}

static void *exit_last_with_5(void *arg)
{
    (void)arg;
    sleep_ms(30);
    syscall(SYS_exit, 5);
    return NULL;
}

/* Every thread ends with SYS_exit: the process's status is the last one's code. */
static void every_thread_exits_alone(void)
{
    pthread_t thread;
    pthread_create(&thread, NULL, exit_last_with_5, NULL);
    syscall(SYS_exit, 3);
}

static void *exec_from_thread(void *arg)
{
    char pid_text[32];
    (void)arg;
    snprintf(pid_text, sizeof pid_text, "%d", getpid());
    execl(self_path, self_path, "after-exec", pid_text, (char *)NULL);
    printf("execve from a thread failed: %s\n", strerrorname_np(errno));
    exit(1);
}

static void execve_from_thread(void)
{
    pthread_t threads[3];
    pthread_create(&threads[0], NULL, block_forever, NULL);
    pthread_create(&threads[1], NULL, block_forever, NULL);
    sleep_ms(10);
    printf("before execve: %d threads\n", count_threads());
    pthread_create(&threads[2], NULL, exec_from_thread, NULL);
    for (;;)
        pause();
}

static int after_exec(const char *old_pid)
{
    printf("after execve from a thread: getpid() is the old pid %s, gettid() == getpid() %s, "
           "%d thread(s) left\n",
           getpid() == atoi(old_pid) ? "yes" : "no", gettid() == getpid() ? "yes" : "no",
           count_threads());
    return 5;
}

static void run_in_child(const char *name, void (*scenario)(void))
{
    int status;
    pid_t pid = fork();
    if (pid == 0) {
        scenario();
        exit(0);
    }
    waitpid(pid, &status, 0);
    if (WIFEXITED(status))
        printf("%s: exit status %d\n", name, WEXITSTATUS(status));
    else
        printf("%s: killed by signal %d\n", name, WTERMSIG(status));
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    self_path = argv[0];
    if (argc == 3 && strcmp(argv[1], "after-exec") == 0)
        return after_exec(argv[2]);
    many_threads();
    run_in_child("pthread_exit in main", main_pthread_exit);
    run_in_child("exit_group from a thread", exit_group_from_thread);
    run_in_child("SYS_exit in a thread", thread_exit_keeps_process);
    run_in_child("SYS_exit in every thread, main first", every_thread_exits_alone);
    run_in_child("execve from a thread", execve_from_thread);
    return 0;
}
