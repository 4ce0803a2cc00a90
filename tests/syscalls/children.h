/* Helpers of the C tests that need another process or thread to look at. */
#ifndef SYSCALL_CHILDREN_H
#define SYSCALL_CHILDREN_H
#include <pthread.h>
#include <sched.h>
#include <unistd.h>

/* A child that waits for a byte on gate[1] (the caller's end), then exits with `code`. */
__attribute__((unused)) static pid_t gated_child(int gate[2], int code)
{
    pipe(gate);
    fflush(stdout);
    pid_t child = fork();
    if (child == 0) {
        char byte;
        close(gate[1]);
        read(gate[0], &byte, 1);
        _exit(code);
    }
    close(gate[0]);
    return child;
}

static volatile pid_t sleeping_tid;
static void *sleep_forever(void *arg)
{
    (void)arg;
    sleeping_tid = gettid();
    pause();
    return NULL;
}

/* A second thread of this process that only sleeps; returns its thread id. */
__attribute__((unused)) static pid_t sleeping_thread(void)
{
    pthread_t thread;
    pthread_create(&thread, NULL, sleep_forever, NULL);
    while (!sleeping_tid)
        sched_yield();
    return sleeping_tid;
}
#endif
