/* kvm_interrupt MODE: a signal must reach a thread that runs guest code without making
 * syscalls. alarm: the only thread spins until SIGALRM; thread: a second thread spins until
 * the main thread signals it; kill: a spinning process is killed by its parent. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static void *spin(void *arg)
{
    (void)arg;
    while (!stop)
        ;
    return NULL;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    signal(SIGALRM, on_signal);
    signal(SIGUSR1, on_signal);
    if (!strcmp(mode, "alarm")) {
        alarm(1);
        spin(NULL);
        printf("alarm interrupted the spin\n");
        return 3;
    }
    if (!strcmp(mode, "thread")) {
        pthread_t thread;
        pthread_create(&thread, NULL, spin, NULL);
        usleep(200000);
        pthread_kill(thread, SIGUSR1);
        pthread_join(thread, NULL);
        printf("the spinning thread saw its signal\n");
        return 4;
    }
    if (!strcmp(mode, "kill")) {
        pid_t child = fork();
        if (child == 0) {
            signal(SIGUSR1, SIG_DFL);
            for (;;)
                ;
        }
        usleep(200000);
        kill(child, SIGKILL);
        int status;
        waitpid(child, &status, 0);
        printf("child killed by %d\n", WIFSIGNALED(status) ? WTERMSIG(status) : 0);
        return 5;
    }
    return 1;
}
