/* mem_shared_file DIR: a file created by the program, mapped MAP_SHARED before a fork: the
 * child's writes reach the parent's mapping and the file; a MAP_PRIVATE one's writes stay out
 * of the file. (Whether untouched private pages show later file writes is unspecified.) */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/shared-file", argc > 1 ? argv[1] : "/tmp");
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || ftruncate(fd, 8192) < 0) return 2;
    char *shared = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    char *private = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    if (shared == MAP_FAILED || private == MAP_FAILED) return 3;
    private[0] = 'p';
    pid_t child = fork();
    if (child == 0) {
        strcpy(shared + 4096, "written by the child");
        _exit(0);
    }
    waitpid(child, NULL, 0);
    char from_file[32] = {0}, first = 1;
    pread(fd, from_file, 20, 4096);
    pread(fd, &first, 1, 0);
    printf("parent's shared mapping: %s\n", shared + 4096);
    printf("the file: %s\n", from_file);
    printf("private write kept out of the file: %s\n", first == 0 && shared[0] == 0 ? "yes" : "no");
    unlink(path);
    return 0;
}
