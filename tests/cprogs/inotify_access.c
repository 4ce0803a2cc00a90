/* inotify's read-side events: IN_OPEN, IN_ACCESS and IN_CLOSE_NOWRITE from read(2), pread(2),
 * readv(2), sendfile(2), splice(2), copy_file_range(2) and getdents(2), as a watched directory
 * and a watched file see them. argv[1]: a scratch directory. */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/sendfile.h>
#include <sys/uio.h>
#include <unistd.h>

static int in;
static int dir_wd, file_wd;

static void name_mask(unsigned mask) {
    static const struct { unsigned bit; const char *name; } names[] = {
        {IN_ACCESS, "ACCESS"}, {IN_MODIFY, "MODIFY"}, {IN_ATTRIB, "ATTRIB"},
        {IN_CLOSE_WRITE, "CLOSE_WRITE"}, {IN_CLOSE_NOWRITE, "CLOSE_NOWRITE"}, {IN_OPEN, "OPEN"},
        {IN_CREATE, "CREATE"}, {IN_DELETE, "DELETE"}, {IN_ISDIR, "ISDIR"}, {IN_IGNORED, "IGNORED"},
    };
    const char *sep = "";
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (mask & names[i].bit) {
            printf("%s%s", sep, names[i].name);
            sep = "|";
        }
}

static void drain(const char *step) {
    char buf[4096] __attribute__((aligned(8)));
    printf("%s:", step);
    ssize_t n;
    while ((n = read(in, buf, sizeof buf)) > 0) {
        for (char *p = buf; p < buf + n;) {
            struct inotify_event *e = (struct inotify_event *)p;
            printf(" %s:", e->wd == dir_wd ? "dir" : e->wd == file_wd ? "file" : "?");
            name_mask(e->mask);
            if (e->len)
                printf("(%s)", e->name);
            p += sizeof *e + e->len;
        }
    }
    printf("\n");
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: inotify_access DIR\n");
        return 2;
    }
    char path[4096], copy[4096];
    snprintf(path, sizeof path, "%s/watched", argv[1]);
    snprintf(copy, sizeof copy, "%s/copy", argv[1]);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    write(fd, "0123456789", 10);
    close(fd);
    int out = open(copy, O_WRONLY | O_CREAT | O_TRUNC, 0644);

    in = inotify_init1(IN_NONBLOCK);
    dir_wd = inotify_add_watch(in, argv[1], IN_ACCESS | IN_OPEN | IN_CLOSE_NOWRITE | IN_CLOSE_WRITE);
    file_wd = inotify_add_watch(in, path, IN_ALL_EVENTS);
    drain("watching");

    char buf[64];
    fd = open(path, O_RDONLY);
    drain("open");
    read(fd, buf, 4);
    drain("read 4");
    read(fd, buf, 4);
    read(fd, buf, 4);
    drain("read twice more");
    read(fd, buf, 4);
    drain("read at the end");
    pread(fd, buf, 3, 1);
    drain("pread");
    struct iovec iov[2] = {{buf, 2}, {buf + 2, 2}};
    lseek(fd, 0, SEEK_SET);
    readv(fd, iov, 2);
    drain("readv");
    off_t offset = 0;
    sendfile(out, fd, &offset, 5);
    drain("sendfile");
    int p[2];
    pipe(p);
    loff_t splice_from = 0;
    splice(fd, &splice_from, p[1], NULL, 4, 0);
    drain("splice to a pipe");
    loff_t from = 0, to = 0;
    copy_file_range(fd, &from, out, &to, 4, 0);
    drain("copy_file_range");
    close(fd);
    drain("close");
    fd = open(path, O_RDWR);
    read(fd, buf, 2);
    close(fd);
    drain("read-write open, read, close");
    DIR *d = opendir(argv[1]);
    while (readdir(d) != NULL)
        ;
    closedir(d);
    drain("list the directory");
    close(out);
    drain("close the copy");
    unlink(path);
    unlink(copy);
    return 0;
}
