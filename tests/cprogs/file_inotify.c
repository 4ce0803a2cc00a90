/* inotify: events of a watched directory and a watched file for create, write, close,
 * chmod, rename, unlink and rmdir; oneshot, rm_watch, IN_MASK_CREATE, nonblocking reads,
 * FIONREAD and the errnos of bad calls. argv[1] is a writable directory. */
#include "fs_check.h"
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

static int wd_dir, wd_file;

static const char *names[] = {"ACCESS", "MODIFY", "ATTRIB", "CLOSE_WRITE", "CLOSE_NOWRITE", "OPEN",
                              "MOVED_FROM", "MOVED_TO", "CREATE", "DELETE", "DELETE_SELF", "MOVE_SELF"};

static void drain(int fd, const char *when) {
    char buf[4096] __attribute__((aligned(8)));
    uint32_t last_cookie = 0;
    printf("-- %s\n", when);
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n < 0) {
            if (errno != EAGAIN) printf("read: %s\n", strerrorname_np(errno));
            return;
        }
        for (char *p = buf; p < buf + n;) {
            struct inotify_event *e = (struct inotify_event *)p;
            printf("%s", e->wd == wd_dir ? "dir" : e->wd == wd_file ? "file" : "other");
            for (int i = 0; i < 12; i++)
                if (e->mask & (1u << i)) printf(" %s", names[i]);
            if (e->mask & IN_ISDIR) printf(" ISDIR");
            if (e->mask & IN_IGNORED) printf(" IGNORED");
            if (e->mask & IN_Q_OVERFLOW) printf(" OVERFLOW");
            if (e->cookie) printf(" cookie%s", last_cookie == e->cookie ? "=prev" : "");
            last_cookie = e->cookie;
            printf(" %s\n", e->len ? e->name : "");
            p += sizeof *e + e->len;
        }
    }
}

int main(int argc, char **argv) {
    char dir[256], file[300], other[300], sub[300];
    snprintf(dir, sizeof dir, "%s/inotify-test-%d", argv[1], (int)getpid());
    snprintf(file, sizeof file, "%s/file", dir);
    snprintf(other, sizeof other, "%s/renamed", dir);
    snprintf(sub, sizeof sub, "%s/sub", dir);
    mkdir(dir, 0755);
    int in = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    R("fd flags cloexec", fcntl(in, F_GETFD));
    wd_dir = inotify_add_watch(in, dir, IN_ALL_EVENTS & ~IN_ACCESS);
    R("watch dir", wd_dir);
    drain(in, "nothing yet");

    int fd = open(file, O_CREAT | O_WRONLY, 0644);
    write(fd, "hello", 5);
    close(fd);
    drain(in, "create, write, close");

    wd_file = inotify_add_watch(in, file, IN_MODIFY | IN_ATTRIB | IN_CLOSE | IN_OPEN | IN_DELETE_SELF | IN_MOVE_SELF);
    R("watch file", wd_file);
    R("watch file again, MASK_CREATE", inotify_add_watch(in, file, IN_MODIFY | IN_MASK_CREATE));
    R("same wd when re-added", inotify_add_watch(in, file, IN_MODIFY | IN_ATTRIB | IN_CLOSE | IN_OPEN | IN_DELETE_SELF | IN_MOVE_SELF) == wd_file);
    chmod(file, 0600);
    fd = open(file, O_RDONLY);
    close(fd);
    fd = open(file, O_WRONLY | O_TRUNC);
    close(fd);
    drain(in, "chmod, open/close ro, open O_TRUNC");
    int pending = -1;
    fd = open(file, O_WRONLY);
    write(fd, "x", 1);
    R("FIONREAD", ioctl(in, FIONREAD, &pending));
    printf("pending bytes %d\n", pending);
    close(fd);
    drain(in, "write");

    rename(file, other);
    mkdir(sub, 0755);
    rmdir(sub);
    drain(in, "rename, mkdir, rmdir");
    link(other, file);
    unlink(other);
    drain(in, "link, unlink one name");
    unlink(file);
    drain(in, "unlink the last name");

    int once = inotify_add_watch(in, dir, IN_CREATE | IN_ONESHOT);
    R("oneshot re-watch", once == wd_dir);
    close(open(file, O_CREAT | O_WRONLY, 0644));
    close(open(other, O_CREAT | O_WRONLY, 0644));
    drain(in, "oneshot");
    wd_dir = inotify_add_watch(in, dir, IN_DELETE);
    R("rm_watch", inotify_rm_watch(in, wd_dir));
    R("rm_watch again", inotify_rm_watch(in, wd_dir));
    drain(in, "after rm_watch");

    char small[8];
    wd_dir = inotify_add_watch(in, dir, IN_DELETE);
    unlink(file);
    R("read into a small buffer", read(in, small, sizeof small));
    drain(in, "after small read");
    R("no events", inotify_add_watch(in, dir, 0));
    R("bad mask bits", inotify_add_watch(in, dir, IN_MODIFY | 0x00800000));
    R("add and create", inotify_add_watch(in, dir, IN_MODIFY | IN_MASK_ADD | IN_MASK_CREATE));
    R("onlydir on a file", inotify_add_watch(in, other, IN_MODIFY | IN_ONLYDIR));
    R("missing path", inotify_add_watch(in, "/nonexistent", IN_MODIFY));
    R("not an inotify fd", inotify_add_watch(0, dir, IN_MODIFY));
    R("bad fd", inotify_add_watch(99, dir, IN_MODIFY));
    R("init1 bad flags", inotify_init1(1));
    unlink(other);
    rmdir(dir);
    drain(in, "cleanup");
    return 0;
}
