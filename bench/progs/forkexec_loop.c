/* forkexec_loop N PROG: fork, execve PROG, and wait for it, N times. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: forkexec_loop N PROG\n");
        return 2;
    }
    long n = atol(argv[1]);
    char *const child_argv[] = {argv[2], NULL};
    char *const child_envp[] = {NULL};
    for (long i = 0; i < n; i++) {
        pid_t pid = fork();
        if (pid < 0) {
            perror("fork");
            return 1;
        }
        if (pid == 0) {
            execve(argv[2], child_argv, child_envp);
            _exit(127);
        }
        int status;
        if (waitpid(pid, &status, 0) < 0) {
            perror("waitpid");
            return 1;
        }
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            fprintf(stderr, "child failed: status %#x\n", status);
            return 1;
        }
    }
    printf("ok %ld\n", n);
    return 0;
}
