/* openat2(2): struct checks (size, unknown bits, mode without O_CREAT), and each RESOLVE_*
 * flag against symlinks, `..`, absolute paths and mount crossings.
 * argv[1] is a writable directory; argv[2] a directory on another mount. */
#include "fs_check.h"
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static long open2(int dirfd, const char *path, uint64_t flags, uint64_t mode, uint64_t resolve) {
    struct open_how how = {.flags = flags, .mode = mode, .resolve = resolve};
    long fd = syscall(SYS_openat2, dirfd, path, &how, sizeof how);
    if (fd >= 0) close(fd);
    return fd >= 0 ? 0 : -1;
}

int main(int argc, char **argv) {
    char base[256];
    snprintf(base, sizeof base, "%s/openat2-test", argv[1]);
    mkdir(base, 0755);
    int dir = open(base, O_RDONLY | O_DIRECTORY);
    mkdirat(dir, "sub", 0755);
    close(openat(dir, "sub/file", O_CREAT | O_WRONLY, 0644));
    symlinkat("sub/file", dir, "rel-link");
    symlinkat("/etc", dir, "abs-link");
    symlinkat("../..", dir, "up-link");
    symlinkat(argv[2], dir, "other-mount");

    R("plain", open2(dir, "sub/file", O_RDONLY, 0, 0));
    R("beneath ok", open2(dir, "sub/file", O_RDONLY, 0, RESOLVE_BENEATH));
    R("beneath dotdot inside", open2(dir, "sub/../sub/file", O_RDONLY, 0, RESOLVE_BENEATH));
    R("beneath dotdot out", open2(dir, "../openat2-test/sub/file", O_RDONLY, 0, RESOLVE_BENEATH));
    R("beneath absolute", open2(dir, "/etc", O_RDONLY, 0, RESOLVE_BENEATH));
    R("beneath abs link", open2(dir, "abs-link", O_RDONLY, 0, RESOLVE_BENEATH));
    R("beneath up link", open2(dir, "up-link", O_RDONLY, 0, RESOLVE_BENEATH));
    R("beneath rel link", open2(dir, "rel-link", O_RDONLY, 0, RESOLVE_BENEATH));
    R("in_root absolute", open2(dir, "/sub/file", O_RDONLY, 0, RESOLVE_IN_ROOT));
    R("in_root dotdot clamps", open2(dir, "../../../sub/file", O_RDONLY, 0, RESOLVE_IN_ROOT));
    R("in_root abs link", open2(dir, "abs-link", O_RDONLY, 0, RESOLVE_IN_ROOT));
    R("in_root up link", open2(dir, "up-link/sub/file", O_RDONLY, 0, RESOLVE_IN_ROOT));
    R("no_symlinks rel link", open2(dir, "rel-link", O_RDONLY, 0, RESOLVE_NO_SYMLINKS));
    R("no_symlinks nofollow path", open2(dir, "rel-link", O_PATH | O_NOFOLLOW, 0, RESOLVE_NO_SYMLINKS));
    R("no_symlinks creat via link", open2(dir, "rel-link", O_WRONLY | O_CREAT, 0644, RESOLVE_NO_SYMLINKS));
    R("no_xdev inside", open2(dir, "sub/file", O_RDONLY, 0, RESOLVE_NO_XDEV));
    R("no_xdev to other mount", open2(dir, "other-mount", O_RDONLY | O_DIRECTORY, 0, RESOLVE_NO_XDEV));
    R("other mount without flag", open2(dir, "other-mount", O_RDONLY | O_DIRECTORY, 0, 0));
    int self = open("/proc/self/fd", O_RDONLY | O_DIRECTORY);
    if (self >= 0) {
        char name[16];
        snprintf(name, sizeof name, "%d", dir);
        R("magic link plain", open2(self, name, O_RDONLY | O_DIRECTORY, 0, 0));
        R("no_magiclinks", open2(self, name, O_RDONLY | O_DIRECTORY, 0, RESOLVE_NO_MAGICLINKS));
        R("beneath magic", open2(self, name, O_RDONLY | O_DIRECTORY, 0, RESOLVE_BENEATH));
    }
    R("cached creat", open2(dir, "new", O_CREAT | O_WRONLY, 0644, RESOLVE_CACHED));
    R("cached read", open2(dir, "sub/file", O_RDONLY, 0, RESOLVE_CACHED) == 0 || errno == EAGAIN ? 0 : -1);
    R("beneath+in_root", open2(dir, "sub/file", O_RDONLY, 0, RESOLVE_BENEATH | RESOLVE_IN_ROOT));
    R("unknown resolve", open2(dir, "sub/file", O_RDONLY, 0, 0x1000));
    R("unknown flag bit", open2(dir, "sub/file", O_RDONLY | (1ULL << 40), 0, 0));
    R("mode without creat", open2(dir, "sub/file", O_RDONLY, 0644, 0));
    R("mode too big", open2(dir, "x", O_CREAT | O_WRONLY, 010000, 0));
    R("O_PATH with O_RDWR", open2(dir, "sub/file", O_PATH | O_RDWR, 0, 0));

    struct { struct open_how how; char extra[16]; } big = {{.flags = O_RDONLY}, {0}};
    R("larger zeroed struct", syscall(SYS_openat2, dir, "sub/file", &big, sizeof big) >= 0 ? 0 : -1);
    big.extra[3] = 1;
    R("larger struct with bits", syscall(SYS_openat2, dir, "sub/file", &big, sizeof big));
    R("size too small", syscall(SYS_openat2, dir, "sub/file", &big, 16));
    R("size over a page", syscall(SYS_openat2, dir, "sub/file", &big, 8192));
    void *volatile bad = (void *)8;
    R("bad how pointer", syscall(SYS_openat2, dir, "sub/file", bad, sizeof(struct open_how)));

    unlinkat(dir, "new", 0);
    unlinkat(dir, "rel-link", 0);
    unlinkat(dir, "abs-link", 0);
    unlinkat(dir, "up-link", 0);
    unlinkat(dir, "other-mount", 0);
    unlinkat(dir, "sub/file", 0);
    unlinkat(dir, "sub", AT_REMOVEDIR);
    rmdir(base);
    return 0;
}
