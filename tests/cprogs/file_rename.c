/* rename(2)/renameat2(2) edge cases in a directory: RENAME_EXCHANGE and RENAME_NOREPLACE,
 * replacing files and directories, hard links of one file, and a rename to another mount.
 * argv[1] is a writable directory, argv[2] one on another filesystem. */
#include "fs_check.h"
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static char base[256];

static const char *at(const char *name) {
    static char paths[8][300];
    static int next;
    char *p = paths[next++ % 8];
    snprintf(p, 300, "%s/%s", base, name);
    return p;
}

static void put(const char *name, const char *text) {
    int fd = open(at(name), O_CREAT | O_WRONLY | O_TRUNC, 0644);
    write(fd, text, strlen(text));
    close(fd);
}

static void show(const char *name) {
    char buf[64] = {0};
    struct stat s;
    if (lstat(at(name), &s) < 0) {
        printf("  %s: missing\n", name);
        return;
    }
    int fd = open(at(name), O_RDONLY);
    if (S_ISREG(s.st_mode)) read(fd, buf, sizeof buf - 1);
    close(fd);
    printf("  %s: %s nlink %ld [%s]\n", name, S_ISDIR(s.st_mode) ? "dir" : "file", (long)s.st_nlink, buf);
}

static long rename2(const char *a, const char *b, unsigned flags) {
    return syscall(SYS_renameat2, AT_FDCWD, at(a), AT_FDCWD, at(b), flags);
}

int main(int argc, char **argv) {
    snprintf(base, sizeof base, "%s/rename-%d", argv[1], (int)getpid());
    mkdir(base, 0755);
    put("a", "alpha");
    put("b", "beta");
    mkdir(at("d"), 0755);
    mkdir(at("e"), 0755);
    put("e/inner", "inner");
    R("exchange files", rename2("a", "b", RENAME_EXCHANGE));
    show("a"); show("b");
    R("exchange file and dir", rename2("a", "d", RENAME_EXCHANGE));
    show("a"); show("d");
    R("exchange back", rename2("a", "d", RENAME_EXCHANGE));
    R("exchange with missing", rename2("a", "zz", RENAME_EXCHANGE));
    R("noreplace onto existing", rename2("a", "b", RENAME_NOREPLACE));
    R("noreplace onto new", rename2("a", "c", RENAME_NOREPLACE));
    show("a"); show("c");
    R("file over file", rename(at("c"), at("b")));
    show("b"); show("c");
    R("file over dir", rename(at("b"), at("d")));
    R("dir over file", rename(at("d"), at("b")));
    R("dir over non-empty dir", rename(at("d"), at("e")));
    R("dir over empty dir", rename(at("e"), at("d")));
    show("d/inner"); show("e");
    R("dir into its own subdir", rename(at("d"), at("d/sub")));
    link(at("b"), at("hard"));
    R("rename onto its own hard link", rename(at("b"), at("hard")));
    show("b"); show("hard");
    R("rename to itself", rename(at("b"), at("b")));
    R("missing source", rename(at("nope"), at("x")));
    R("trailing slash on a file", rename(at("b"), at("x/")));
    char other[300];
    snprintf(other, sizeof other, "%s/moved-%d", argv[2], (int)getpid());
    R("to another mount", rename(at("b"), other));
    R("exchange into another mount", syscall(SYS_renameat2, AT_FDCWD, at("b"), AT_FDCWD, argv[2], RENAME_EXCHANGE));
    unlink(at("b")); unlink(at("hard")); unlink(at("d/inner")); rmdir(at("d"));
    R("cleanup", rmdir(base));
    return 0;
}
