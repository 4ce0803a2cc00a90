/* The CVE-2019-5736 pattern: through /proc/<pid>/exe, find a binary that is not part of the
 * container (the runtime's) and open it for writing. ETXTBSY counts: the attacker keeps the
 * O_PATH handle and writes once the runtime exits. Nothing is written here. */
#include "attack.h"
#include <dirent.h>

static int same_file(int a, int b)
{
    struct stat sa, sb;
    return fstat(a, &sa) == 0 && fstat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

static int same_content(int a, int b)
{
    char ba[65536], bb[65536];
    off_t off = 0;
    for (;;) {
        ssize_t na = pread(a, ba, sizeof(ba), off), nb = pread(b, bb, sizeof(bb), off);
        if (na != nb || na < 0 || memcmp(ba, bb, na))
            return 0;
        if (na == 0)
            return 1;
        off += na;
    }
}

/* Is fd one of the container's own binaries? */
static int in_container(int fd, const char *self)
{
    const char *known[] = {self, "/bin/busybox", "/bin/sh", NULL};
    for (int i = 0; known[i]; i++) {
        int k = open(known[i], O_RDONLY);
        if (k < 0)
            continue;
        int same = same_file(fd, k) || same_content(fd, k);
        close(k);
        if (same)
            return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    DIR *proc = opendir("/proc");
    if (!proc) {
        blocked("opendir /proc: %s", strerror(errno));
        return 0;
    }
    struct dirent *d;
    int foreign = 0;
    while ((d = readdir(proc))) {
        if (d->d_name[0] < '0' || d->d_name[0] > '9')
            continue;
        char path[300];
        snprintf(path, sizeof(path), "/proc/%s/exe", d->d_name);
        int fd = open(path, O_RDONLY);
        if (fd < 0)
            continue;
        if (in_container(fd, argv[0])) {
            close(fd);
            continue;
        }
        foreign++;
        char target[512] = "";
        readlink(path, target, sizeof(target) - 1);
        char reopen[64];
        snprintf(reopen, sizeof(reopen), "/proc/self/fd/%d", fd);
        int w = open(reopen, O_WRONLY);
        if (w >= 0 || errno == ETXTBSY)
            evidence("%s -> %s is a binary from outside the container, writable%s", path, target,
                     w >= 0 ? "" : " once it exits (ETXTBSY now)");
        else
            blocked("%s -> %s: open for writing: %s", path, target, strerror(errno));
        if (w >= 0)
            close(w);
        close(fd);
    }
    if (!foreign)
        blocked("every /proc/*/exe is one of the container's own binaries");
    return 0;
}
