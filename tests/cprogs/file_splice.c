/* splice(2), tee(2), vmsplice(2), copy_file_range(2) and sendfile(2) between files and
 * pipes: counts, offsets, EOF, EAGAIN, and the errnos of bad combinations.
 * argv[1] is a writable directory. */
#include "fs_check.h"
#include <fcntl.h>
#include <stdlib.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

static char path_a[256], path_b[256];

static void show_file(const char *what, const char *path) {
    char buf[256] = {0};
    int fd = open(path, O_RDONLY);
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    printf("%s: %zd [%s]\n", what, n, buf);
}

int main(int argc, char **argv) {
    snprintf(path_a, sizeof path_a, "%s/splice-a", argv[1]);
    snprintf(path_b, sizeof path_b, "%s/splice-b", argv[1]);
    int a = open(path_a, O_RDWR | O_CREAT | O_TRUNC, 0644);
    write(a, "0123456789abcdefghij", 20);
    int b = open(path_b, O_RDWR | O_CREAT | O_TRUNC, 0644);
    int p[2], q[2];
    pipe(p);
    pipe(q);

    /* file -> pipe with an offset, then from the file position */
    loff_t off = 5;
    R("splice file->pipe at 5", splice(a, &off, p[1], NULL, 4, 0));
    printf("offset now %lld, file position %ld\n", (long long)off, (long)lseek(a, 0, SEEK_CUR));
    lseek(a, 2, SEEK_SET);
    R("splice file->pipe at position", splice(a, NULL, p[1], NULL, 3, 0));
    printf("file position %ld\n", (long)lseek(a, 0, SEEK_CUR));
    /* tee copies without consuming */
    R("tee p->q", tee(p[0], q[1], 100, 0));
    R("tee same pipe", tee(p[0], p[1], 1, 0));
    /* pipe -> file at an offset */
    loff_t out = 3;
    R("splice pipe->file at 3", splice(p[0], NULL, b, &out, 5, 0));
    printf("out offset %lld\n", (long long)out);
    R("splice pipe->file at position", splice(p[0], NULL, b, NULL, 100, 0));
    show_file("b", path_b);
    /* pipe -> pipe */
    int r[2];
    pipe(r);
    R("splice pipe->pipe", splice(q[0], NULL, r[1], NULL, 4, 0));
    char buf[64] = {0};
    R("read moved bytes", read(r[0], buf, sizeof buf));
    printf("moved [%s]\n", buf);
    /* empty pipe: EAGAIN with SPLICE_F_NONBLOCK; EOF once no writer is left */
    R("splice empty nonblock", splice(r[0], NULL, b, NULL, 10, SPLICE_F_NONBLOCK));
    close(r[1]);
    R("splice empty no writers", splice(r[0], NULL, b, NULL, 10, 0));
    /* bad combinations */
    R("splice file->file", splice(a, NULL, b, NULL, 4, 0));
    loff_t zero = 0;
    R("splice offset on pipe", splice(q[0], &zero, b, NULL, 1, 0));
    R("splice bad flags", splice(a, NULL, p[1], NULL, 1, 0x100));
    R("splice bad fd", splice(99, NULL, p[1], NULL, 1, 0));
    R("splice to read end", splice(a, NULL, p[0], NULL, 1, 0));
    R("splice zero length", splice(a, NULL, p[1], NULL, 0, 0));
    int append = open(path_b, O_WRONLY | O_APPEND);
    write(q[1], "x", 1);
    R("splice to O_APPEND", splice(q[0], NULL, append, NULL, 1, 0));
    loff_t *volatile badoff = (loff_t *)8;
    R("splice bad offset pointer", splice(a, badoff, p[1], NULL, 1, 0));
    /* splice that waits for a writer */
    int s[2];
    pipe(s);
    if (fork() == 0) {
        usleep(50000);
        write(s[1], "late", 4);
        _exit(0);
    }
    R("splice waits for data", splice(s[0], NULL, b, NULL, 10, 0));
    wait(NULL);
    /* vmsplice */
    struct iovec iov[2] = {{"vm", 2}, {"splice", 6}};
    R("vmsplice into pipe", vmsplice(s[1], iov, 2, 0));
    char got[16] = {0};
    struct iovec into = {got, sizeof got - 1};
    R("vmsplice out of pipe", vmsplice(s[0], &into, 1, 0));
    printf("vmspliced [%s]\n", got);
    R("vmsplice on a file", vmsplice(a, iov, 1, 0));

    /* copy_file_range */
    ftruncate(b, 0);
    loff_t in_off = 10, out_off = 0;
    R("copy_file_range 10->0", copy_file_range(a, &in_off, b, &out_off, 6, 0));
    printf("offsets %lld %lld\n", (long long)in_off, (long long)out_off);
    lseek(a, 0, SEEK_SET);
    lseek(b, 6, SEEK_SET);
    R("copy_file_range at positions", copy_file_range(a, NULL, b, NULL, 3, 0));
    printf("positions %ld %ld\n", (long)lseek(a, 0, SEEK_CUR), (long)lseek(b, 0, SEEK_CUR));
    in_off = 18;
    R("copy_file_range at EOF", copy_file_range(a, &in_off, b, NULL, 10, 0));
    in_off = 40;
    R("copy_file_range past EOF", copy_file_range(a, &in_off, b, NULL, 10, 0));
    show_file("b", path_b);
    R("copy_file_range flags", copy_file_range(a, NULL, b, NULL, 1, 1));
    R("copy_file_range to O_APPEND", copy_file_range(a, NULL, append, NULL, 1, 0));
    R("copy_file_range from pipe", copy_file_range(p[0], NULL, b, NULL, 1, 0));
    int dir = open(argv[1], O_RDONLY | O_DIRECTORY);
    R("copy_file_range from dir", copy_file_range(dir, NULL, b, NULL, 1, 0));
    in_off = 0, out_off = 2;
    R("copy_file_range overlapping", copy_file_range(a, &in_off, a, &out_off, 5, 0));
    int rdonly = open(path_a, O_RDONLY);
    R("copy_file_range to O_RDONLY", copy_file_range(a, NULL, rdonly, NULL, 1, 0));

    /* sendfile */
    off_t send_off = 4;
    R("sendfile file->pipe", sendfile(q[1], a, &send_off, 5));
    printf("sendfile offset %ld\n", (long)send_off);
    R("sendfile to O_APPEND", sendfile(append, a, NULL, 1));

    /* a packet pipe (O_DIRECT): splicing part of a packet leaves its rest as a packet */
    int packets[2];
    pipe2(packets, O_DIRECT);
    write(packets[1], "abcdef", 6);
    write(packets[1], "ghi", 3);
    ftruncate(b, 0);
    R("splice part of a packet", splice(packets[0], NULL, b, NULL, 4, 0));
    char packet[16] = {0};
    R("read the packet's rest", read(packets[0], packet, sizeof packet - 1));
    printf("rest [%s]\n", packet);
    memset(packet, 0, sizeof packet);
    R("read the next packet", read(packets[0], packet, sizeof packet - 1));
    printf("next [%s]\n", packet);
    unlink(path_a);
    unlink(path_b);
    return 0;
}
