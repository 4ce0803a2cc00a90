/* Replays a script of mount operations across several mount namespaces, for the hypothesis
 * model in tests/test_mount_ns.py. One process moves between namespaces with setns(2).
 * After every operation it prints the errno and, for each namespace, the mounts under /m
 * with their propagation (shared, master, shared+master, unbindable or private), sorted.
 *
 * Script lines (stdin):  unshare | enter K | mount P | umount P | detach P | bind S P |
 *                        rbind S P | move S P | shared P | private P | slave P | unbindable P |
 *                        rshared P ...
 * argv[1]: where this rootfs is seen from a namespace's root ("/" in the sandbox). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_NAMESPACES 8

static int namespaces[MAX_NAMESPACES], count, current;
static const char *root_path;

static int enter(int index)
{
    if (setns(namespaces[index], CLONE_NEWNS) != 0 || chroot(root_path) != 0 || chdir("/") != 0)
        return -1;
    current = index;
    return 0;
}

static void show(void)
{
    int here = current;
    for (int k = 0; k < count; k++) {
        char line[1024];
        if (enter(k) != 0) {
            printf("  ns%d: cannot enter: %s\n", k, strerrorname_np(errno));
            continue;
        }
        FILE *f = fopen("/proc/self/mountinfo", "r");
        char seen[64][300];
        int n = 0;
        while (f && fgets(line, sizeof line, f) && n < 64) {
            char point[256];
            if (sscanf(line, "%*d %*d %*s %*s %255s", point) != 1 || strncmp(point, "/m/", 3) != 0)
                continue;
            int shared = strstr(line, " shared:") != NULL, master = strstr(line, " master:") != NULL;
            snprintf(seen[n++], sizeof seen[0], "%s=%s", point, shared && master ? "shared+master"
                     : shared ? "shared" : master ? "master"
                     : strstr(line, " unbindable ") ? "unbindable" : "private");
        }
        if (f) fclose(f);
        /* Sorted: the order Linux lists copies made by propagation in is its own business. */
        qsort(seen, n, sizeof seen[0], (int (*)(const void *, const void *))strcmp);
        printf("  ns%d:", k);
        for (int i = 0; i < n; i++)
            printf(" %s", seen[i]);
        printf("\n");
    }
    enter(here);
}

static unsigned long propagation_flag(const char *word)
{
    int recursive = word[0] == 'r' && strcmp(word, "rbind") != 0;
    const char *kind = recursive ? word + 1 : word;
    unsigned long flag = !strcmp(kind, "shared") ? MS_SHARED : !strcmp(kind, "private") ? MS_PRIVATE
                         : !strcmp(kind, "slave") ? MS_SLAVE
                         : !strcmp(kind, "unbindable") ? MS_UNBINDABLE : 0;
    return flag ? flag | (recursive ? MS_REC : 0) : 0;
}

static long run(const char *op, const char *a, const char *b)
{
    if (!strcmp(op, "unshare")) {
        if (count == MAX_NAMESPACES || unshare(CLONE_NEWNS) != 0)
            return -1;
        namespaces[count] = open("/proc/self/ns/mnt", O_RDONLY);
        current = count++;
        return 0;
    }
    if (!strcmp(op, "enter"))
        return enter(atoi(a) % count);
    if (!strcmp(op, "mount")) {
        if (mount("tmpfs", a, "tmpfs", 0, NULL) != 0)
            return -1;
        char sub[256];
        snprintf(sub, sizeof sub, "%s/s", a);
        mkdir(sub, 0755);
        return 0;
    }
    if (!strcmp(op, "umount"))
        return umount2(a, 0);
    if (!strcmp(op, "detach"))
        return umount2(a, MNT_DETACH);
    if (!strcmp(op, "bind"))
        return mount(a, b, NULL, MS_BIND, NULL);
    if (!strcmp(op, "rbind"))
        return mount(a, b, NULL, MS_BIND | MS_REC, NULL);
    if (!strcmp(op, "move"))
        return mount(a, b, NULL, MS_MOVE, NULL);
    unsigned long flag = propagation_flag(op);
    if (flag)
        return mount(NULL, a, NULL, flag, NULL);
    errno = ENOSYS;
    return -1;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    root_path = argc > 1 ? argv[1] : "/";
    mkdir("/m", 0755);
    if (mount("tmpfs", "/m", "tmpfs", 0, NULL) != 0) {
        perror("mount /m");
        return 1;
    }
    mkdir("/m/a", 0755);
    mkdir("/m/b", 0755);
    namespaces[count++] = open("/proc/self/ns/mnt", O_RDONLY);
    char line[512];
    while (fgets(line, sizeof line, stdin)) {
        char op[32] = "", a[256] = "", b[256] = "";
        if (sscanf(line, "%31s %255s %255s", op, a, b) < 1)
            continue;
        long rc = run(op, a, b);
        printf("ns%d %s %s %s: %s\n", current, op, a, b, rc < 0 ? strerrorname_np(errno) : "ok");
        show();
    }
    return 0;
}
