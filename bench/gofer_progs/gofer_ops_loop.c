/* gofer_ops_loop N OP DIR: N host-file operations of kind OP on files under DIR.
 *   stat      stat(DIR/file)
 *   openread  open, read 4 KiB, close DIR/file
 *   create    create and close DIR/new/fI, then unlink it (one op = the pair)
 *   readdir   list DIR/many (64 entries) */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: gofer_ops_loop N OP DIR\n");
        return 2;
    }
    long n = atol(argv[1]);
    const char *op = argv[2], *dir = argv[3];
    char path[4096], buf[4096];
    snprintf(path, sizeof path, "%s/file", dir);
    for (long i = 0; i < n; i++) {
        if (strcmp(op, "stat") == 0) {
            struct stat st;
            if (stat(path, &st) != 0) { perror("stat"); return 1; }
        } else if (strcmp(op, "openread") == 0) {
            int fd = open(path, O_RDONLY);
            if (fd < 0 || read(fd, buf, sizeof buf) < 0) { perror("open/read"); return 1; }
            close(fd);
        } else if (strcmp(op, "create") == 0) {
            char name[4200];
            snprintf(name, sizeof name, "%s/new/f%ld", dir, i);
            int fd = open(name, O_CREAT | O_WRONLY | O_EXCL, 0644);
            if (fd < 0) { perror("create"); return 1; }
            close(fd);
            if (unlink(name) != 0) { perror("unlink"); return 1; }
        } else if (strcmp(op, "readdir") == 0) {
            char many[4200];
            snprintf(many, sizeof many, "%s/many", dir);
            DIR *d = opendir(many);
            if (!d) { perror("opendir"); return 1; }
            while (readdir(d)) {}
            closedir(d);
        } else {
            fprintf(stderr, "unknown op %s\n", op);
            return 2;
        }
    }
    printf("ok %ld\n", n);
    return 0;
}
