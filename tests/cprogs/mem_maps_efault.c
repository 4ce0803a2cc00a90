#define _GNU_SOURCE
/* /proc/self/maps following mmap/mprotect/munmap of the program's own
 * mapping, and read(2)/write(2) with buffers running into a PROT_NONE page:
 * EFAULT when nothing could be copied, a short count when some could. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#define PAGE 4096L

/* The distinct permission strings of the maps lines that overlap [start, end). */
static void show_perms(const char *what, char *start, char *end)
{
    char line[512], seen[8][5] = {{0}};
    int n = 0;
    FILE *maps = fopen("/proc/self/maps", "r");
    while (fgets(line, sizeof line, maps) != NULL) {
        uintptr_t lo, hi;
        char perms[5];
        if (sscanf(line, "%lx-%lx %4s", &lo, &hi, perms) != 3)
            continue;
        if (hi <= (uintptr_t)start || lo >= (uintptr_t)end)
            continue;
        int known = 0;
        for (int i = 0; i < n; i++)
            known |= strcmp(seen[i], perms) == 0;
        if (!known && n < 8)
            strcpy(seen[n++], perms);
    }
    fclose(maps);
    qsort(seen, n, sizeof seen[0], (int (*)(const void *, const void *))strcmp);
    printf("%s:", what);
    for (int i = 0; i < n; i++)
        printf(" %s", seen[i]);
    printf("%s\n", n ? "" : " (not in maps)");
}

static void maps_follow_changes(void)
{
    char *map = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    char *end = map + 4 * PAGE;
    show_perms("after mmap", map, end);
    mprotect(map + PAGE, PAGE, PROT_READ);
    mprotect(map + 2 * PAGE, PAGE, PROT_NONE);
    show_perms("after mprotect of two pages", map, end);
    show_perms("  the PROT_NONE page alone", map + 2 * PAGE, map + 3 * PAGE);
    mprotect(map + PAGE, 2 * PAGE, PROT_READ | PROT_WRITE);
    show_perms("after mprotect back", map, end);
    munmap(map + 3 * PAGE, PAGE);
    show_perms("after munmap of the last page", map + 3 * PAGE, end);
    munmap(map, 3 * PAGE);
    show_perms("after munmap of the rest", map, end);

    char *shared = mmap(NULL, PAGE, PROT_READ | PROT_EXEC, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    show_perms("shared anonymous r-x", shared, shared + PAGE);
    munmap(shared, PAGE);

    int fd = open("/proc/self/exe", O_RDONLY);
    char *file = mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE, fd, 0);
    char line[512], wanted[32];
    int named = 0;
    snprintf(wanted, sizeof wanted, "%lx-", (unsigned long)file);
    FILE *maps = fopen("/proc/self/maps", "r");
    while (fgets(line, sizeof line, maps) != NULL)
        if (strncmp(line, wanted, strlen(wanted)) == 0)
            named = strstr(line, "mem_maps_efault") != NULL && strstr(line, " 00000000 ") != NULL;
    fclose(maps);
    printf("file mapping line shows offset 0 and the file's path: %s\n", named ? "yes" : "no");
    munmap(file, PAGE);
    close(fd);
}

static void show_io(const char *what, ssize_t ret)
{
    if (ret < 0)
        printf("%s: -1 %s\n", what, strerrorname_np(errno));
    else
        printf("%s: %zd\n", what, ret);
}

static void io_into_protected_page(const char *path)
{
    char *buf = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    char data[256];
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    int pipes[2];

    memset(data, 'z', sizeof data);
    write(fd, data, sizeof data);
    mprotect(buf + PAGE, PAGE, PROT_NONE);

    lseek(fd, 0, SEEK_SET);
    show_io("read into a PROT_NONE page", read(fd, buf + PAGE, 100));
    show_io("  file offset after it", lseek(fd, 0, SEEK_CUR));
    lseek(fd, 0, SEEK_SET);
    show_io("read of 100 bytes with 10 before the PROT_NONE page", read(fd, buf + PAGE - 10, 100));
    show_io("  file offset after it", lseek(fd, 0, SEEK_CUR));
    printf("  the 10 bytes arrived: %s\n", memcmp(buf + PAGE - 10, data, 10) == 0 ? "yes" : "no");
    show_io("pread of 100 bytes with 10 before the PROT_NONE page", pread(fd, buf + PAGE - 10, 100, 0));

    memset(buf, 'w', PAGE);
    lseek(fd, 0, SEEK_SET);
    show_io("write of 100 bytes with 10 before the PROT_NONE page", write(fd, buf + PAGE - 10, 100));
    show_io("  file offset after it", lseek(fd, 0, SEEK_CUR));
    show_io("write from a PROT_NONE page", write(fd, buf + PAGE, 10));

    struct iovec iov[2] = {{buf + PAGE - 20, 20}, {buf + PAGE, 20}};
    lseek(fd, 0, SEEK_SET);
    show_io("readv whose second buffer is PROT_NONE", readv(fd, iov, 2));

    pipe(pipes);
    write(pipes[1], data, 50);
    show_io("pipe read into a PROT_NONE page", read(pipes[0], buf + PAGE, 50));
    show_io("  the data stays in the pipe", read(pipes[0], data, sizeof data));
    close(pipes[0]);
    close(pipes[1]);
    close(fd);
    unlink(path);
    munmap(buf, 2 * PAGE);
}

int main(void)
{
    char path[] = "/tmp/mem_efault.XXXXXX";
    setvbuf(stdout, NULL, _IONBF, 0);
    close(mkstemp(path));
    maps_follow_changes();
    io_into_protected_page(path);
    return 0;
}
