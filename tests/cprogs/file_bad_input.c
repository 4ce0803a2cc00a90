/* Bad arguments to file syscalls get Linux's errno: paths longer than PATH_MAX, names
 * longer than NAME_MAX, bad pointers, bad flags, wrong file types. argv[1] is writable. */
#include "fs_check.h"
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <unistd.h>

int main(int argc, char **argv) {
    char *volatile bad = (char *)8;
    static char long_path[PATH_MAX + 10], long_name[NAME_MAX + 10], ok_name[NAME_MAX + 1];
    char base[256], file[300];
    snprintf(base, sizeof base, "%s/bad-input-%d", argv[1], (int)getpid());
    mkdir(base, 0755);
    snprintf(file, sizeof file, "%s/file", base);
    close(open(file, O_CREAT | O_WRONLY, 0644));

    memset(long_path, 'p', PATH_MAX + 5);
    for (int i = 1; i < PATH_MAX + 5; i += 2) long_path[i] = '/';
    R("open path > PATH_MAX", open(long_path, O_RDONLY));
    R("stat path > PATH_MAX", ({ struct stat s; stat(long_path, &s); }));
    R("mkdir path > PATH_MAX", mkdir(long_path, 0755));
    memset(long_name, 'n', NAME_MAX + 1);
    char in_dir[PATH_MAX];
    snprintf(in_dir, sizeof in_dir, "%s/%s", base, long_name);
    R("create name > NAME_MAX", open(in_dir, O_CREAT | O_WRONLY, 0644));
    R("mkdir name > NAME_MAX", mkdir(in_dir, 0755));
    R("stat name > NAME_MAX", ({ struct stat s; stat(in_dir, &s); }));
    R("rename to name > NAME_MAX", rename(file, in_dir));
    R("symlink at name > NAME_MAX", symlink("x", in_dir));
    memset(ok_name, 'k', NAME_MAX);
    snprintf(in_dir, sizeof in_dir, "%s/%s", base, ok_name);
    int fd = open(in_dir, O_CREAT | O_WRONLY, 0644);
    R("create name == NAME_MAX", fd >= 0 ? 0 : -1);
    close(fd);
    R("unlink name == NAME_MAX", unlink(in_dir));
    R("empty path", open("", O_RDONLY));

    R("open bad pointer", open(bad, O_RDONLY));
    R("stat bad path", ({ struct stat s; stat(bad, &s); }));
    R("stat bad buffer", stat(file, (struct stat *)bad));
    R("fstatat bad flags", ({ struct stat s; fstatat(AT_FDCWD, file, &s, 0x4000000); }));
    R("mkdir bad pointer", mkdir(bad, 0755));
    R("rename bad old", rename(bad, file));
    R("rename bad new", rename(file, bad));
    R("link bad pointer", link(file, bad));
    R("symlink bad target", symlink(bad, file));
    R("readlink bad buffer", ({ char t[300]; snprintf(t, sizeof t, "%s/l", base); symlink("file", t); long r = readlink(t, bad, 10); int e = errno; unlink(t); errno = e; r; }));
    R("readlink zero size", readlink(file, in_dir, 0));
    R("readlink not a link", readlink(file, in_dir, 10));
    R("getcwd bad buffer", syscall(SYS_getcwd, bad, 100));
    R("getcwd too small", syscall(SYS_getcwd, in_dir, 1));
    R("statfs bad buffer", statfs(file, (struct statfs *)bad));
    R("utimes bad times", syscall(SYS_utimes, file, bad));
    R("utimensat bad nsec", ({ struct timespec ts[2] = {{0, 2000000000}, {0, 0}}; utimensat(AT_FDCWD, file, ts, 0); }));
    R("utimensat bad flags", utimensat(AT_FDCWD, file, NULL, 0x8));
    R("truncate negative", truncate(file, -1));
    R("truncate a directory", truncate(base, 0));
    R("ftruncate O_RDONLY", ({ int r = open(file, O_RDONLY); long x = ftruncate(r, 0); int e = errno; close(r); errno = e; x; }));
    R("fallocate bad mode", ({ int w = open(file, O_WRONLY); long x = fallocate(w, 0x100, 0, 10); int e = errno; close(w); errno = e; x; }));
    R("fallocate zero length", ({ int w = open(file, O_WRONLY); long x = fallocate(w, 0, 0, 0); int e = errno; close(w); errno = e; x; }));
    R("fallocate O_RDONLY", ({ int r = open(file, O_RDONLY); long x = fallocate(r, 0, 0, 10); int e = errno; close(r); errno = e; x; }));
    R("fallocate grows", ({ int w = open(file, O_WRONLY); long x = fallocate(w, 0, 0, 5000); close(w); struct stat s; stat(file, &s); x < 0 ? x : s.st_size; }));
    R("fallocate keep size", ({ int w = open(file, O_WRONLY); long x = fallocate(w, FALLOC_FL_KEEP_SIZE, 0, 9000); close(w); struct stat s; stat(file, &s); x < 0 ? x : s.st_size; }));
    R("unlinkat bad flags", unlinkat(AT_FDCWD, file, 0x1));
    R("unlink a directory", unlink(base));
    R("rmdir a file", rmdir(file));
    R("rmdir non-empty", rmdir(base));
    R("rmdir dot", ({ char d[300]; snprintf(d, sizeof d, "%s/.", base); rmdir(d); }));
    R("mkdir existing", mkdir(base, 0755));
    R("open dir for writing", open(base, O_WRONLY));
    R("O_DIRECTORY on a file", open(file, O_RDONLY | O_DIRECTORY));
    R("trailing slash on a file", ({ char t[320]; snprintf(t, sizeof t, "%s/", file); open(t, O_RDONLY); }));
    R("O_CREAT|O_EXCL existing", open(file, O_CREAT | O_EXCL | O_WRONLY, 0644));
    R("renameat2 bad flags", syscall(SYS_renameat2, AT_FDCWD, file, AT_FDCWD, file, 8));
    R("renameat2 exchange+noreplace", syscall(SYS_renameat2, AT_FDCWD, file, AT_FDCWD, base, 3));
    R("rename dir into itself", ({ char t[300]; snprintf(t, sizeof t, "%s/sub", base); rename(base, t); }));
    R("link to a directory", ({ char t[300]; snprintf(t, sizeof t, "%s/dirlink", base); link(base, t); }));
    R("chmod bad pointer", chmod(bad, 0644));
    R("fchmodat bad fd", fchmodat(99, "x", 0644, 0));
    R("openat dirfd not a dir", ({ int f = open(file, O_RDONLY); long x = openat(f, "x", O_RDONLY); int e = errno; close(f); errno = e; x; }));
    R("close_range bad flags", syscall(SYS_close_range, 3, 10, 1));
    R("close_range first > last", syscall(SYS_close_range, 10, 3, 0));
    R("fadvise bad advice", posix_fadvise(0, 0, 0, 99) ? (errno = posix_fadvise(0, 0, 0, 99), -1) : 0);

    unlink(file);
    rmdir(base);
    return 0;
}
