/* fs_ops_loop N OP DIR: N repetitions of one file operation on DIR, for bench/fs.py.
 *   stat      stat(DIR/file)
 *   openread  open(DIR/file), read 4 KiB, close
 *   bigread   read DIR/big from start to end in 1 MiB chunks (N passes)
 *   bigwrite  write 64 MiB to a file under DIR in 1 MiB chunks (N passes over the same file)
 *   create    create N small files in a fresh directory under DIR, then delete them all
 * Prints "ok N OP" on success. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char buf[1 << 20];

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: fs_ops_loop N stat|openread|bigread|bigwrite|create DIR\n");
        return 2;
    }
    long n = atol(argv[1]);
    const char *op = argv[2], *dir = argv[3];
    char path[4096];
    if (!strcmp(op, "stat") || !strcmp(op, "openread")) {
        snprintf(path, sizeof path, "%s/file", dir);
        struct stat s;
        for (long i = 0; i < n; i++) {
            if (op[0] == 's') {
                if (stat(path, &s) < 0) { perror("stat"); return 1; }
            } else {
                int fd = open(path, O_RDONLY);
                if (fd < 0 || read(fd, buf, 4096) != 4096) { perror("openread"); return 1; }
                close(fd);
            }
        }
    } else if (!strcmp(op, "bigread")) {
        snprintf(path, sizeof path, "%s/big", dir);
        for (long i = 0; i < n; i++) {
            int fd = open(path, O_RDONLY);
            ssize_t got;
            while ((got = read(fd, buf, sizeof buf)) > 0) {}
            if (fd < 0 || got < 0) { perror("bigread"); return 1; }
            close(fd);
        }
    } else if (!strcmp(op, "create")) {
        char base[4096];
        snprintf(base, sizeof base, "%s/create.%d", dir, (int)getpid());
        if (mkdir(base, 0755) < 0) { perror("mkdir"); return 1; }
        for (long i = 0; i < n; i++) {
            snprintf(path, sizeof path, "%s/f%ld", base, i);
            int fd = open(path, O_CREAT | O_WRONLY | O_EXCL, 0644);
            if (fd < 0 || write(fd, "small file\n", 11) != 11) { perror("create"); return 1; }
            close(fd);
        }
        for (long i = 0; i < n; i++) {
            snprintf(path, sizeof path, "%s/f%ld", base, i);
            if (unlink(path) < 0) { perror("unlink"); return 1; }
        }
        rmdir(base);
    } else if (!strcmp(op, "bigwrite")) {
        snprintf(path, sizeof path, "%s/written.%d", dir, (int)getpid());
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0) { perror("bigwrite"); return 1; }
        memset(buf, 'w', sizeof buf);
        for (long i = 0; i < n; i++) {
            lseek(fd, 0, SEEK_SET);
            for (int chunk = 0; chunk < 64; chunk++)
                if (write(fd, buf, sizeof buf) != sizeof buf) { perror("bigwrite"); return 1; }
        }
        close(fd);
        unlink(path);
    } else {
        fprintf(stderr, "fs_ops_loop: unknown operation %s\n", op);
        return 2;
    }
    printf("ok %ld %s\n", n, op);
    return 0;
}
