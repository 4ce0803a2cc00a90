/* Extended attributes on a tmpfs file, directory and symlink: set/get/list/remove,
 * XATTR_CREATE/REPLACE, size probing, ERANGE, namespaces and bad arguments.
 * argv[1] is a directory on a tmpfs (a scratch directory is made in it). */
#include "fs_check.h"
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

static void show_list(const char *what, const char *path) {
    char names[1024];
    ssize_t n = listxattr(path, names, sizeof names);
    printf("%s:", what);
    if (n < 0) {
        printf(" %s\n", strerrorname_np(errno));
        return;
    }
    /* Names come in no promised order: print them sorted. */
    const char *items[64];
    int count = 0;
    for (ssize_t i = 0; i < n; i += strlen(names + i) + 1) items[count++] = names + i;
    for (int i = 0; i < count; i++)
        for (int j = i + 1; j < count; j++)
            if (strcmp(items[i], items[j]) > 0) { const char *x = items[i]; items[i] = items[j]; items[j] = x; }
    for (int i = 0; i < count; i++) printf(" %s", items[i]);
    printf("\n");
}

int main(int argc, char **argv) {
    char base[256], file[300], dir[300], link[300];
    snprintf(base, sizeof base, "%s/xattr-test-%d", argv[1], (int)getpid());
    mkdir(base, 0755);
    snprintf(file, sizeof file, "%s/file", base);
    snprintf(dir, sizeof dir, "%s/dir", base);
    snprintf(link, sizeof link, "%s/link", base);
    close(open(file, O_CREAT | O_WRONLY, 0644));
    mkdir(dir, 0755);
    symlink("xattr-file", link);

    R("set user.a", setxattr(file, "user.a", "alpha", 5, 0));
    R("set user.b create", setxattr(file, "user.b", "", 0, XATTR_CREATE));
    R("set user.a create again", setxattr(file, "user.a", "x", 1, XATTR_CREATE));
    R("replace missing", setxattr(file, "user.zz", "x", 1, XATTR_REPLACE));
    R("replace user.a", setxattr(file, "user.a", "ALPHA!", 6, XATTR_REPLACE));
    R("bad flags", setxattr(file, "user.c", "x", 1, 4));
    R("size probe", getxattr(file, "user.a", NULL, 0));
    char value[64] = {0};
    R("get user.a", getxattr(file, "user.a", value, sizeof value));
    printf("value %s\n", value);
    R("get too small", getxattr(file, "user.a", value, 3));
    R("get empty value", getxattr(file, "user.b", value, sizeof value));
    R("get missing", getxattr(file, "user.nope", value, sizeof value));
    R("unknown namespace", setxattr(file, "bogus.a", "x", 1, 0));
    R("get unknown namespace", getxattr(file, "bogus.a", value, sizeof value));
    R("no namespace", setxattr(file, "plain", "x", 1, 0));
    R("empty name", setxattr(file, "", "x", 1, 0));
    char longname[300] = "user.";
    memset(longname + 5, 'n', 260);
    R("long name", setxattr(file, longname, "x", 1, 0));
    static char big[70000];
    R("too big value", setxattr(file, "user.big", big, sizeof big, 0));
    void *volatile bad = (void *)8;
    R("bad value pointer", setxattr(file, "user.c", bad, 4, 0));
    R("bad name pointer", setxattr(file, bad, "x", 1, 0));
    R("trusted as root", setxattr(file, "trusted.t", "t", 1, 0));
    show_list("list file", file);
    R("list size probe", listxattr(file, NULL, 0));
    char small[4];
    R("list too small", listxattr(file, small, sizeof small));

    R("set on dir", setxattr(dir, "user.d", "dir", 3, 0));
    show_list("list dir", dir);
    R("user. on symlink (l)", lsetxattr(link, "user.l", "x", 1, 0));
    R("user. through symlink", setxattr(link, "user.via", "v", 1, 0));
    R("lget through link", lgetxattr(link, "user.via", value, sizeof value));
    show_list("list file again", file);

    int fd = open(file, O_RDONLY);
    R("fget", fgetxattr(fd, "user.a", value, sizeof value));
    R("fset on O_RDONLY fd", fsetxattr(fd, "user.f", "f", 1, 0));
    R("fremove", fremovexattr(fd, "user.f"));
    R("fremove missing", fremovexattr(fd, "user.f"));
    R("fget bad fd", fgetxattr(99, "user.a", value, sizeof value));
    R("remove user.a", removexattr(file, "user.a"));
    R("get removed", getxattr(file, "user.a", value, sizeof value));
    R("missing file", getxattr("/nonexistent/x", "user.a", value, sizeof value));

    unlink(link);
    unlink(file);
    rmdir(dir);
    rmdir(base);
    return 0;
}
