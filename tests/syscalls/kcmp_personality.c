/* kcmp(2): which kernel resources two processes or threads share; personality(2): the
 * execution domain, inherited by children and shown in /proc/self/personality. */
#include "check.h"
#include "children.h"
#include <fcntl.h>
#include <linux/kcmp.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/personality.h>
#include <sys/utsname.h>

static long kcmp(pid_t a, pid_t b, int type, unsigned long x, unsigned long y)
{
    return sys(SYS_kcmp, a, b, type, x, y);
}

/* kcmp's order is 1 one way round and 2 the other for resources that differ. */
static int differ(pid_t a, pid_t b, int type, unsigned long x, unsigned long y)
{
    long there = kcmp(a, b, type, x, y), back = kcmp(b, a, type, y, x);
    return (there == 1 && back == 2) || (there == 2 && back == 1);
}

static int gate[2];

static int unprivileged_kcmp(void)
{
    pid_t parent = getppid();
    REQUIRE(setresuid(1000, 1000, 1000) == 0);
    REQUIRE(kcmp(getpid(), getpid(), KCMP_VM, 0, 0) == 0);
    REQUIRE(kcmp(getpid(), parent, KCMP_VM, 0, 0) == -1 && errno == EPERM);
    return 0;
}

static void comparing(void)
{
    pid_t me = getpid();
    int types[] = {KCMP_VM, KCMP_FILES, KCMP_FS, KCMP_SIGHAND, KCMP_IO, KCMP_SYSVSEM};
    for (unsigned i = 0; i < sizeof types / sizeof *types; i++)
        CHECK_RET(kcmp(me, me, types[i], 0, 0), 0);

    int file = open("/proc/self/status", O_RDONLY), copy = dup(file), other = open("/proc/self/status", O_RDONLY);
    CHECK_RET(kcmp(me, me, KCMP_FILE, file, copy), 0);
    CHECK(differ(me, me, KCMP_FILE, file, other));
    CHECK_ERR(kcmp(me, me, KCMP_FILE, file, 999), EBADF);
    CHECK_ERR(kcmp(me, me, KCMP_FILE, 999, file), EBADF);

    pid_t thread_tid = sleeping_thread();
    for (unsigned i = 0; i < sizeof types / sizeof *types; i++)
        CHECK_RET(kcmp(me, thread_tid, types[i], 0, 0), 0);
    CHECK_RET(kcmp(me, thread_tid, KCMP_FILE, file, copy), 0);

    pid_t child = gated_child(gate, 0);
    CHECK(differ(me, child, KCMP_VM, 0, 0));
    CHECK(differ(me, child, KCMP_FILES, 0, 0));
    CHECK(differ(me, child, KCMP_FS, 0, 0));
    CHECK(differ(me, child, KCMP_SIGHAND, 0, 0));
    CHECK_RET(kcmp(me, child, KCMP_IO, 0, 0), 0);
    CHECK_RET(kcmp(me, child, KCMP_FILE, file, file), 0);       /* inherited: the same open file */
    CHECK(differ(me, child, KCMP_FILE, file, other) );
    CHECK(differ(thread_tid, child, KCMP_VM, 0, 0));

    CHECK_ERR(kcmp(me, 4000000, KCMP_VM, 0, 0), ESRCH);
    CHECK_ERR(kcmp(4000000, me, KCMP_VM, 0, 0), ESRCH);
    CHECK_ERR(kcmp(me, me, 8, 0, 0), EINVAL);
    CHECK_ERR(kcmp(me, me, -1, 0, 0), EINVAL);
    CHECK_ERR(kcmp(4000000, me, 8, 0, 0), ESRCH);
    IN_CHILD(unprivileged_kcmp);

    /* KCMP_EPOLL_TFD: is this fd the file an epoll watches? */
    int pipes[2];
    pipe(pipes);
    int epoll = epoll_create1(0);
    struct epoll_event event = {.events = EPOLLIN};
    epoll_ctl(epoll, EPOLL_CTL_ADD, pipes[0], &event);
    struct kcmp_epoll_slot slot = {.efd = epoll, .tfd = pipes[0], .toff = 0};
    CHECK_RET(kcmp(me, me, KCMP_EPOLL_TFD, pipes[0], (unsigned long)&slot), 0);
    CHECK_ERR(kcmp(me, child, KCMP_EPOLL_TFD, pipes[0], (unsigned long)&slot), EBADF);  /* made after the fork */
    long order = kcmp(me, me, KCMP_EPOLL_TFD, pipes[1], (unsigned long)&slot);
    CHECK(order == 1 || order == 2);
    slot.toff = 1;
    CHECK_ERR(kcmp(me, me, KCMP_EPOLL_TFD, pipes[0], (unsigned long)&slot), ENOENT);
    slot.toff = 0;
    slot.tfd = pipes[1];
    CHECK_ERR(kcmp(me, me, KCMP_EPOLL_TFD, pipes[0], (unsigned long)&slot), ENOENT);
    slot.efd = pipes[0];
    CHECK_ERR(kcmp(me, me, KCMP_EPOLL_TFD, pipes[0], (unsigned long)&slot), EINVAL);
    slot.efd = 999;
    CHECK_ERR(kcmp(me, me, KCMP_EPOLL_TFD, pipes[0], (unsigned long)&slot), EBADF);
    CHECK_ERR(kcmp(me, me, KCMP_EPOLL_TFD, 999, (unsigned long)&slot), EBADF);
    CHECK_ERR(kcmp(me, me, KCMP_EPOLL_TFD, pipes[0], 8), EFAULT);

    write(gate[1], "x", 1);
    waitpid(child, NULL, 0);
}

static int personality_file(void)
{
    char text[32] = {0};
    int fd = open("/proc/self/personality", O_RDONLY);
    if (fd < 0 || read(fd, text, sizeof text - 1) <= 0)
        return -1;
    close(fd);
    return (int)strtol(text, NULL, 16);
}

static int child_inherits_persona(void)
{
    REQUIRE(personality(0xffffffff) == ADDR_NO_RANDOMIZE);
    REQUIRE(personality_file() == ADDR_NO_RANDOMIZE);
    return 0;
}

static void personas(void)
{
    CHECK_RET(personality(0xffffffff), PER_LINUX);
    CHECK_RET(personality_file(), 0);
    CHECK_RET(personality(ADDR_NO_RANDOMIZE), PER_LINUX);
    CHECK_RET(personality(0xffffffff), ADDR_NO_RANDOMIZE);
    CHECK_RET(personality_file(), ADDR_NO_RANDOMIZE);
    IN_CHILD(child_inherits_persona);
    CHECK_RET(personality(0x12345678), ADDR_NO_RANDOMIZE);   /* x86_64 takes any value */
    CHECK_RET(personality(0xffffffff), 0x12345678);

    struct utsname names;
    CHECK_RET(personality(PER_LINUX32), 0x12345678);
    uname(&names);
    CHECK(strcmp(names.machine, "i686") == 0);
    CHECK_RET(personality(PER_LINUX), PER_LINUX32);
    uname(&names);
    CHECK(strcmp(names.machine, "x86_64") == 0);
    CHECK_RET(personality_file(), 0);
}

/* The permissions /proc/self/maps shows for the mapping at `addr`, e.g. "r-xp". */
static const char *maps_permissions(void *addr)
{
    static char perms[8];
    char line[512];
    unsigned long start, end;
    FILE *maps = fopen("/proc/self/maps", "r");
    strcpy(perms, "none");
    while (maps && fgets(line, sizeof line, maps))
        if (sscanf(line, "%lx-%lx %4s", &start, &end, perms) == 3 && start == (unsigned long)addr)
            break;
        else
            strcpy(perms, "none");
    if (maps)
        fclose(maps);
    return perms;
}

static void read_implies_exec(void)
{
    CHECK_RET(personality(READ_IMPLIES_EXEC), PER_LINUX);
    void *readable = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(strcmp(maps_permissions(readable), "r-xp") == 0);
    void *writable = mmap(NULL, 4096, PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(strcmp(maps_permissions(writable), "-w-p") == 0);
    CHECK_OK(mprotect(writable, 4096, PROT_READ | PROT_WRITE));
    CHECK(strcmp(maps_permissions(writable), "rwxp") == 0);
    CHECK_RET(personality(PER_LINUX), READ_IMPLIES_EXEC);
    CHECK_OK(mprotect(writable, 4096, PROT_READ));
    CHECK(strcmp(maps_permissions(writable), "r--p") == 0);
    munmap(readable, 4096);
    munmap(writable, 4096);
}

int main(void)
{
    comparing();
    personas();
    read_implies_exec();
    return done();
}
