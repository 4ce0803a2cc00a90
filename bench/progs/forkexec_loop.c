/* forkexec_loop N PROG [MIB]: fork, execve PROG, and wait for it, N times; with MIB, from a
 * process that has first touched MIB MiB of private memory, and writes to one page of it after
 * each fork, as programs do (bench/kvm.py's forkbig). */
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: forkexec_loop N PROG [MIB]\n");
        return 2;
    }
    long n = atol(argv[1]);
    size_t size = argc > 3 ? (size_t)atol(argv[3]) << 20 : 0;
    char *memory = NULL;
    if (size) {
        memory = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (memory == MAP_FAILED) {
            perror("mmap");
            return 1;
        }
        for (size_t offset = 0; offset < size; offset += 4096)
            memory[offset] = 1;
    }
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
        if (size)
            memory[(i * 4096) % size] = 2;
    }
    printf("ok %ld\n", n);
    return 0;
}
