/* openread_loop N PATH: open, read and close PATH N times. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: openread_loop N PATH\n");
        return 2;
    }
    long n = atol(argv[1]);
    long total = 0;
    char buf[4096];
    for (long i = 0; i < n; i++) {
        int fd = open(argv[2], O_RDONLY);
        if (fd < 0) {
            perror("open");
            return 1;
        }
        ssize_t r = read(fd, buf, sizeof buf);
        if (r < 0) {
            perror("read");
            return 1;
        }
        total += r;
        close(fd);
    }
    printf("ok %ld %ld\n", n, total);
    return 0;
}
