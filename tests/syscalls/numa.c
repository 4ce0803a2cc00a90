/* NUMA memory policy on a one-node machine: set_mempolicy, get_mempolicy, mbind,
 * migrate_pages, move_pages, set_mempolicy_home_node; and process_madvise and
 * process_mrelease, which act on another process's memory through a pidfd.
 * The checks keep to what Linux 6.1 and the host's newer kernel agree on. */
#include "check.h"
#include <linux/capability.h>
#include <linux/mempolicy.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/uio.h>

#ifndef MPOL_PREFERRED_MANY
#define MPOL_PREFERRED_MANY 5
#endif
#ifndef MPOL_F_NUMA_BALANCING
#define MPOL_F_NUMA_BALANCING (1 << 13)
#endif
#ifndef SYS_set_mempolicy_home_node
#define SYS_set_mempolicy_home_node 450
#endif
#ifndef MADV_COLD
#define MADV_COLD 20
#define MADV_PAGEOUT 21
#endif

static unsigned long mask[520];
static int mode;

static long setpol(int m, unsigned long bits, unsigned long maxnode)
{
    memset(mask, 0, sizeof mask);
    mask[0] = bits;
    return sys(SYS_set_mempolicy, m, mask, maxnode);
}

/* The policy get_mempolicy reports, as "mode/mask". */
static const char *policy_at(unsigned long addr, unsigned long flags)
{
    static char text[64];
    unsigned long nodes[2] = {~0UL, ~0UL};
    mode = -1;
    if (sys(SYS_get_mempolicy, &mode, nodes, 128UL, addr, flags) != 0)
        snprintf(text, sizeof text, "error %s", strerrorname_np(errno));
    else
        snprintf(text, sizeof text, "%d/%lx/%lx", mode, nodes[0], nodes[1]);
    return text;
}

/* The number of lines of /proc/self/maps that overlap [start, end). */
static int maps_lines(char *start, char *end)
{
    FILE *maps = fopen("/proc/self/maps", "r");
    char line[512];
    int lines = 0;
    while (fgets(line, sizeof line, maps)) {
        unsigned long from, to;
        if (sscanf(line, "%lx-%lx", &from, &to) == 2 && from < (unsigned long)end && to > (unsigned long)start)
            lines++;
    }
    fclose(maps);
    return lines;
}

static void set_and_get_mempolicy(void)
{
    CHECK_RET(setpol(MPOL_BIND, 1, 2), 0);
    CHECK(strcmp(policy_at(0, 0), "2/1/0") == 0);
    CHECK_RET(setpol(MPOL_INTERLEAVE, 1, 64), 0);
    CHECK(strcmp(policy_at(0, 0), "3/1/0") == 0);
    CHECK(strcmp(policy_at(0, MPOL_F_NODE), "0/1/0") == 0);          /* the next interleave node */
    CHECK_RET(setpol(MPOL_PREFERRED, 1, 2), 0);
    CHECK(strcmp(policy_at(0, 0), "1/1/0") == 0);
    CHECK_ERR(sys(SYS_get_mempolicy, &mode, NULL, 0UL, 0UL, (unsigned long)MPOL_F_NODE), EINVAL);
    CHECK_RET(setpol(MPOL_PREFERRED, 0, 2), 0);                       /* empty: local allocation */
    CHECK(strcmp(policy_at(0, 0), "4/0/0") == 0);
    CHECK_RET(setpol(MPOL_PREFERRED_MANY, 1, 2), 0);
    CHECK(strcmp(policy_at(0, 0), "5/1/0") == 0);
    CHECK_RET(setpol(MPOL_LOCAL, 0, 2), 0);
    CHECK(strcmp(policy_at(0, 0), "4/0/0") == 0);
    CHECK_RET(setpol(MPOL_BIND | MPOL_F_RELATIVE_NODES, 1UL << 5, 64), 0);  /* folds onto node 0 */
    CHECK(strcmp(policy_at(0, 0), "16386/20/0") == 0);
    CHECK_RET(setpol(MPOL_BIND | MPOL_F_STATIC_NODES, 3, 64), 0);
    CHECK(strcmp(policy_at(0, 0), "32770/3/0") == 0);
    CHECK_RET(setpol(MPOL_BIND | MPOL_F_NUMA_BALANCING, 1, 64), 0);
    CHECK(strcmp(policy_at(0, 0), "8194/1/0") == 0);
    CHECK_RET(setpol(MPOL_DEFAULT, 0, 64), 0);
    CHECK(strcmp(policy_at(0, 0), "0/0/0") == 0);
    CHECK_RET(sys(SYS_set_mempolicy, MPOL_BIND, NULL, 0UL), -1);
    CHECK_RET(sys(SYS_set_mempolicy, MPOL_DEFAULT, NULL, 0UL), 0);

    /* Modes, flags and node masks Linux refuses. */
    CHECK_ERR(setpol(7, 1, 2), EINVAL);
    CHECK_ERR(setpol(-1, 1, 2), EINVAL);
    CHECK_ERR(setpol(MPOL_BIND | MPOL_F_STATIC_NODES | MPOL_F_RELATIVE_NODES, 1, 2), EINVAL);
    CHECK_ERR(setpol(MPOL_INTERLEAVE | MPOL_F_NUMA_BALANCING, 1, 2), EINVAL);
    CHECK_ERR(setpol(MPOL_DEFAULT, 1, 2), EINVAL);
    CHECK_ERR(setpol(MPOL_LOCAL, 1, 2), EINVAL);
    CHECK_ERR(setpol(MPOL_LOCAL | MPOL_F_STATIC_NODES, 0, 2), EINVAL);
    CHECK_ERR(setpol(MPOL_PREFERRED | MPOL_F_STATIC_NODES, 0, 2), EINVAL);
    CHECK_ERR(setpol(MPOL_BIND, 0, 2), EINVAL);
    CHECK_ERR(setpol(MPOL_BIND, 1, 1), EINVAL);                      /* maxnode - 1 bits: none */
    CHECK_ERR(setpol(MPOL_BIND, 2, 64), EINVAL);                     /* node 1 is not there */
    CHECK_ERR(setpol(MPOL_BIND | MPOL_F_STATIC_NODES, 2, 64), EINVAL);
    CHECK_ERR(setpol(MPOL_INTERLEAVE, 1, 0), EINVAL);                /* maxnode 0 with a mask */
    CHECK_ERR(setpol(MPOL_BIND, 1, 4096 * 8 + 2), EINVAL);
    CHECK_RET(setpol(MPOL_BIND, 1, 4096 * 8 + 1), 0);
    mask[1000 / 64] = 1UL << (1000 % 64);
    CHECK_RET(sys(SYS_set_mempolicy, MPOL_BIND | MPOL_F_RELATIVE_NODES, mask, 1100UL), 0);
    mask[1000 / 64] = 0;
    mask[1030 / 64] = 1UL << (1030 % 64);                            /* past MAX_NUMNODES */
    CHECK_ERR(sys(SYS_set_mempolicy, MPOL_BIND | MPOL_F_RELATIVE_NODES, mask, 1100UL), EINVAL);
    CHECK_ERR(sys(SYS_set_mempolicy, MPOL_BIND, (void *)8, 64UL), EFAULT);
    CHECK_RET(sys(SYS_set_mempolicy, MPOL_DEFAULT, (void *)8, 1UL), 0);   /* nothing read */

    /* get_mempolicy's flags and node mask sizes. */
    unsigned long nodes[4] = {~0UL, ~0UL, ~0UL, ~0UL};
    CHECK_ERR(sys(SYS_get_mempolicy, &mode, nodes, 0UL, 0UL, 0UL), EINVAL);
    CHECK_RET(sys(SYS_get_mempolicy, &mode, nodes, 1UL, 0UL, (unsigned long)MPOL_F_MEMS_ALLOWED), 0);
    CHECK(nodes[0] == ~0UL);                                         /* maxnode 1: nothing written */
    CHECK_RET(sys(SYS_get_mempolicy, &mode, nodes, 200UL, 0UL, (unsigned long)MPOL_F_MEMS_ALLOWED), 0);
    CHECK(nodes[0] == 1 && nodes[1] == 0 && nodes[2] == 0 && nodes[3] == 0 && mode == 0);
    CHECK_ERR(sys(SYS_get_mempolicy, &mode, nodes, 4096UL * 8 + 66, 0UL, 0UL), EINVAL);
    CHECK_ERR(sys(SYS_get_mempolicy, &mode, NULL, 0UL, 0UL, 8UL), EINVAL);
    CHECK_ERR(sys(SYS_get_mempolicy, &mode, NULL, 0UL, 0UL, (unsigned long)(MPOL_F_MEMS_ALLOWED | MPOL_F_NODE)), EINVAL);
    CHECK_ERR(sys(SYS_get_mempolicy, &mode, NULL, 0UL, 4096UL, 0UL), EINVAL);
    CHECK_ERR(sys(SYS_get_mempolicy, (int *)8, NULL, 0UL, 0UL, 0UL), EFAULT);
    CHECK_ERR(sys(SYS_get_mempolicy, &mode, (void *)8, 64UL, 0UL, 0UL), EFAULT);
    CHECK_RET(sys(SYS_get_mempolicy, NULL, NULL, 0UL, 0UL, 0UL), 0);
}

static int policy_is_inherited(void)
{
    REQUIRE(strcmp(policy_at(0, 0), "3/1/0") == 0);
    return 0;
}

static void *thread_sets_its_own(void *arg)
{
    (void)arg;
    static char seen[2][64];
    strcpy(seen[0], policy_at(0, 0));                                /* its creator's */
    setpol(MPOL_PREFERRED, 1, 2);
    strcpy(seen[1], policy_at(0, 0));
    return seen;
}

/* The policy is a thread's own: a new thread starts with its creator's, and what it sets
 * stays its own. */
static void per_thread_policy(void)
{
    pthread_t thread;
    char (*seen)[64];
    CHECK_RET(setpol(MPOL_BIND, 1, 2), 0);
    pthread_create(&thread, NULL, thread_sets_its_own, NULL);
    pthread_join(thread, (void **)&seen);
    CHECK(strcmp(seen[0], "2/1/0") == 0 && strcmp(seen[1], "1/1/0") == 0);
    CHECK(strcmp(policy_at(0, 0), "2/1/0") == 0);
    CHECK_RET(setpol(MPOL_DEFAULT, 0, 2), 0);
}

static void mbind_ranges(void)
{
    long page = sysconf(_SC_PAGESIZE);
    char *area = mmap(NULL, 8 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    unsigned long one = 1;
    CHECK_RET(sys(SYS_mbind, area + 2 * page, 2 * page, MPOL_BIND, &one, 2UL, 0), 0);
    CHECK(strcmp(policy_at((unsigned long)area + 2 * page, MPOL_F_ADDR), "2/1/0") == 0);
    CHECK(strcmp(policy_at((unsigned long)area + 4 * page - 1, MPOL_F_ADDR), "2/1/0") == 0);
    CHECK(strcmp(policy_at((unsigned long)area + page, MPOL_F_ADDR), "0/0/0") == 0);
    CHECK(strcmp(policy_at((unsigned long)area + 4 * page, MPOL_F_ADDR), "0/0/0") == 0);
    CHECK(strcmp(policy_at((unsigned long)area, MPOL_F_ADDR | MPOL_F_NODE), "0/0/0") == 0);
    CHECK_RET(maps_lines(area, area + 8 * page), 3);                  /* the mapping was split */
    CHECK_RET(sys(SYS_mbind, area + 3 * page, 1, MPOL_INTERLEAVE | MPOL_F_STATIC_NODES, &one, 2UL,
                  MPOL_MF_STRICT | MPOL_MF_MOVE), 0);                 /* length rounds up to a page */
    CHECK(strcmp(policy_at((unsigned long)area + 3 * page, MPOL_F_ADDR), "32771/1/0") == 0);
    CHECK(strcmp(policy_at((unsigned long)area + 2 * page, MPOL_F_ADDR), "2/1/0") == 0);
    CHECK_RET(maps_lines(area, area + 8 * page), 4);
    CHECK_RET(sys(SYS_mbind, area, 8 * page, MPOL_DEFAULT, NULL, 0UL, 0), 0);
    CHECK(strcmp(policy_at((unsigned long)area + 3 * page, MPOL_F_ADDR), "0/0/0") == 0);
    CHECK_RET(maps_lines(area, area + 8 * page), 1);                  /* and merged again */
    CHECK_RET(sys(SYS_mbind, area, 0UL, MPOL_BIND, &one, 2UL, 0), 0);
    CHECK_RET(sys(SYS_mbind, area, -1UL, MPOL_BIND, &one, 2UL, 0), 0);  /* rounds up to 0 */

    CHECK_ERR(sys(SYS_mbind, area + 1, page, MPOL_BIND, &one, 2UL, 0), EINVAL);
    CHECK_ERR(sys(SYS_mbind, area, page, MPOL_BIND, &one, 2UL, 8), EINVAL);
    CHECK_ERR(sys(SYS_mbind, area, page, 9, &one, 2UL, 0), EINVAL);
    CHECK_ERR(sys(SYS_mbind, area, page, MPOL_BIND, NULL, 0UL, 0), EINVAL);
    CHECK_ERR(sys(SYS_mbind, area, page, MPOL_BIND, (void *)8, 2UL, 0), EFAULT);
    CHECK_ERR(sys(SYS_mbind, area, -2 * page, MPOL_BIND, &one, 2UL, 0), EINVAL);

    /* Holes: only the default may span them, and not a range with no mapping at all. */
    munmap(area + 5 * page, page);
    CHECK_ERR(sys(SYS_mbind, area + 4 * page, 3 * page, MPOL_BIND, &one, 2UL, 0), EFAULT);
    CHECK(strcmp(policy_at((unsigned long)area + 4 * page, MPOL_F_ADDR), "0/0/0") == 0);
    CHECK_RET(sys(SYS_mbind, area + 4 * page, 3 * page, MPOL_DEFAULT, NULL, 0UL, 0), 0);
    CHECK_ERR(sys(SYS_mbind, area + 5 * page, page, MPOL_DEFAULT, NULL, 0UL, 0), EFAULT);
    CHECK_ERR(sys(SYS_get_mempolicy, &mode, NULL, 0UL, (unsigned long)area + 5 * page,
                  (unsigned long)MPOL_F_ADDR), EFAULT);

    /* mremap carries the policy along; the page of a PROT_NONE mapping can't be read for its node. */
    CHECK_RET(sys(SYS_mbind, area + 3 * page, page, MPOL_INTERLEAVE | MPOL_F_STATIC_NODES, &one, 2UL, 0), 0);
    char *moved = mremap(area + 3 * page, page, page, MREMAP_MAYMOVE | MREMAP_FIXED, area + 5 * page);
    CHECK(moved == area + 5 * page);
    CHECK(strcmp(policy_at((unsigned long)moved, MPOL_F_ADDR), "32771/1/0") == 0);
    mprotect(moved, page, PROT_NONE);
    CHECK_ERR(sys(SYS_get_mempolicy, &mode, NULL, 0UL, (unsigned long)moved,
                  (unsigned long)(MPOL_F_ADDR | MPOL_F_NODE)), EFAULT);
    CHECK_RET(sys(SYS_get_mempolicy, &mode, NULL, 0UL, (unsigned long)moved, (unsigned long)MPOL_F_ADDR), 0);
    mmap(area + 3 * page, 3 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    CHECK(strcmp(policy_at((unsigned long)moved, MPOL_F_ADDR), "0/0/0") == 0);   /* a new mapping */
    munmap(area + 5 * page, page);

    /* set_mempolicy_home_node: only over BIND and PREFERRED_MANY policies. */
    CHECK_ERR(sys(SYS_set_mempolicy_home_node, area, page, 0UL, 0UL), ENOENT);
    CHECK_RET(sys(SYS_mbind, area, 2 * page, MPOL_BIND, &one, 2UL, 0), 0);
    CHECK_RET(sys(SYS_mbind, area + 2 * page, page, MPOL_PREFERRED_MANY, &one, 2UL, 0), 0);
    CHECK_RET(sys(SYS_mbind, area + 3 * page, page, MPOL_PREFERRED, &one, 2UL, 0), 0);
    CHECK_RET(sys(SYS_set_mempolicy_home_node, area, 3 * page, 0UL, 0UL), 0);
    CHECK_ERR(sys(SYS_set_mempolicy_home_node, area, 4 * page, 0UL, 0UL), EOPNOTSUPP);
    CHECK_ERR(sys(SYS_set_mempolicy_home_node, area + 1, page, 0UL, 0UL), EINVAL);
    CHECK_ERR(sys(SYS_set_mempolicy_home_node, area, page, 1UL, 0UL), EINVAL);
    CHECK_ERR(sys(SYS_set_mempolicy_home_node, area, page, 0UL, 1UL), EINVAL);
    CHECK_RET(sys(SYS_set_mempolicy_home_node, area, 0UL, 0UL, 0UL), 0);
    CHECK(strcmp(policy_at((unsigned long)area, MPOL_F_ADDR), "2/1/0") == 0);

    /* A child has copies of the mappings' policies. */
    fflush(stdout);
    pid_t child = fork();
    if (child == 0)
        _exit(strcmp(policy_at((unsigned long)area + 2 * page, MPOL_F_ADDR), "5/1/0") != 0);
    int status;
    waitpid(child, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    munmap(area, 8 * page);
}

static void page_migration(void)
{
    long page = sysconf(_SC_PAGESIZE);
    char *area = mmap(NULL, 4 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    memset(area, 1, 4 * page);
    munmap(area + 2 * page, page);
    void *pages[4] = {area, area + page + 17, area + 2 * page, area + 3 * page};
    int status[4] = {9, 9, 9, 9}, nodes[4] = {0, 0, 0, 0};
    CHECK_RET(sys(SYS_move_pages, 0, 4UL, pages, NULL, status, 0), 0);
    CHECK(status[0] == 0 && status[1] == 0 && status[2] == -EFAULT && status[3] == 0);
    memset(status, 9, sizeof status);
    CHECK_RET(sys(SYS_move_pages, getpid(), 4UL, pages, nodes, status, MPOL_MF_MOVE), 0);
    CHECK(status[0] == 0 && status[1] == 0 && status[2] == -EFAULT && status[3] == 0);
    nodes[1] = 1;
    CHECK_ERR(sys(SYS_move_pages, 0, 4UL, pages, nodes, status, 0), ENODEV);
    nodes[1] = -1;
    CHECK_ERR(sys(SYS_move_pages, 0, 4UL, pages, nodes, status, 0), ENODEV);
    CHECK_RET(sys(SYS_move_pages, 0, 0UL, pages, NULL, status, 0), 0);
    CHECK_ERR(sys(SYS_move_pages, 0, 4UL, pages, NULL, status, 8), EINVAL);
    CHECK_ERR(sys(SYS_move_pages, 0, 4UL, (void *)8, NULL, status, 0), EFAULT);
    CHECK_ERR(sys(SYS_move_pages, 0, 4UL, pages, NULL, (void *)8, 0), EFAULT);
    CHECK_ERR(sys(SYS_move_pages, 999999, 4UL, pages, NULL, status, 0), ESRCH);

    unsigned long one = 1, two = 2;
    CHECK_RET(sys(SYS_migrate_pages, 0, 2UL, &one, &one), 0);
    CHECK_RET(sys(SYS_migrate_pages, getpid(), 64UL, &one, &one), 0);
    CHECK_ERR(sys(SYS_migrate_pages, 0, 2UL, &one, NULL), EINVAL);       /* no node to move to */
    CHECK_ERR(sys(SYS_migrate_pages, 0, 64UL, &one, &two), EINVAL);
    CHECK_ERR(sys(SYS_migrate_pages, 999999, 2UL, &one, &one), ESRCH);
    CHECK_ERR(sys(SYS_migrate_pages, 0, 2UL, (void *)8, &one), EFAULT);
    CHECK_ERR(sys(SYS_migrate_pages, 0, 4096UL * 8 + 2, &one, &one), EINVAL);

    /* A zombie has no memory left. */
    fflush(stdout);
    pid_t child = fork();
    if (child == 0)
        _exit(0);
    siginfo_t info;
    waitid(P_PID, child, &info, WEXITED | WNOWAIT);
    CHECK_ERR(sys(SYS_migrate_pages, child, 2UL, &one, &one), EINVAL);
    CHECK_ERR(sys(SYS_move_pages, child, 1UL, pages, NULL, status, 0), EINVAL);
    waitpid(child, NULL, 0);
    munmap(area, 4 * page);
}

/* A child that unmaps [unmap, unmap + length) of its copy of the memory and locks the page at
 * `lock`, then waits to be killed. */
static pid_t paused_child(char *unmap, long length, char *lock)
{
    int ready[2];
    char byte;
    pipe(ready);
    fflush(stdout);
    pid_t child = fork();
    if (child == 0) {
        if (unmap)
            munmap(unmap, length);
        if (lock)
            mlock(lock, sysconf(_SC_PAGESIZE));
        write(ready[1], "x", 1);
        pause();
        _exit(0);
    }
    read(ready[0], &byte, 1);
    close(ready[0]);
    close(ready[1]);
    return child;
}

static void process_memory(void)
{
    long page = sysconf(_SC_PAGESIZE);
    char *area = mmap(NULL, 5 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    memset(area, 1, 5 * page);
    pid_t child = paused_child(area + 2 * page, page, area + 4 * page);
    int pidfd = sys(SYS_pidfd_open, child, 0);
    struct iovec ranges[2] = {{area, 2 * page}, {area + 3 * page, page}};
    CHECK_RET(sys(SYS_process_madvise, pidfd, ranges, 2UL, MADV_COLD, 0U), 3 * page);
    CHECK_RET(sys(SYS_process_madvise, pidfd, ranges, 1UL, MADV_PAGEOUT, 0U), 2 * page);
    CHECK_RET(sys(SYS_process_madvise, pidfd, ranges, 2UL, MADV_WILLNEED, 0U), 3 * page);
    struct iovec holes[2] = {{area, page}, {area + 2 * page, 2 * page}};
    CHECK_RET(sys(SYS_process_madvise, pidfd, holes, 2UL, MADV_COLD, 0U), page);
    CHECK_ERR(sys(SYS_process_madvise, pidfd, holes + 1, 1UL, MADV_COLD, 0U), ENOMEM);
    struct iovec locked[1] = {{area + 4 * page, page}};                /* COLD and PAGEOUT: not mlocked memory */
    CHECK_ERR(sys(SYS_process_madvise, pidfd, locked, 1UL, MADV_PAGEOUT, 0U), EINVAL);
    CHECK_RET(sys(SYS_process_madvise, pidfd, locked, 1UL, MADV_WILLNEED, 0U), page);
    struct iovec unaligned[1] = {{area + 1, page}};
    CHECK_ERR(sys(SYS_process_madvise, pidfd, unaligned, 1UL, MADV_COLD, 0U), EINVAL);
    CHECK_ERR(sys(SYS_process_madvise, pidfd, ranges, 2UL, MADV_DONTNEED, 0U), EINVAL);
    CHECK_ERR(sys(SYS_process_madvise, pidfd, ranges, 2UL, MADV_COLD, 1U), EINVAL);
    CHECK_ERR(sys(SYS_process_madvise, pidfd, ranges, 1025UL, MADV_COLD, 0U), EINVAL);
    CHECK_ERR(sys(SYS_process_madvise, pidfd, (void *)8, 2UL, MADV_COLD, 0U), EFAULT);
    CHECK_ERR(sys(SYS_process_madvise, 0, ranges, 2UL, MADV_COLD, 0U), EBADF);
    CHECK_ERR(sys(SYS_process_madvise, 999, ranges, 2UL, MADV_COLD, 0U), EBADF);
    CHECK_RET(sys(SYS_process_madvise, pidfd, ranges, 0UL, MADV_COLD, 0U), 0);

    CHECK_ERR(sys(SYS_process_mrelease, pidfd, 0U), EINVAL);          /* alive, not dying */
    CHECK_ERR(sys(SYS_process_mrelease, pidfd, 1U), EINVAL);
    CHECK_ERR(sys(SYS_process_mrelease, 0, 0U), EBADF);
    kill(child, SIGKILL);
    siginfo_t info;
    waitid(P_PID, child, &info, WEXITED | WNOWAIT);
    CHECK_ERR(sys(SYS_process_mrelease, pidfd, 0U), ESRCH);           /* a zombie: nothing left */
    CHECK_ERR(sys(SYS_process_madvise, pidfd, ranges, 2UL, MADV_COLD, 0U), ESRCH);
    waitpid(child, NULL, 0);
    CHECK_ERR(sys(SYS_process_mrelease, pidfd, 0U), ESRCH);
    close(pidfd);
    munmap(area, 5 * page);
}

/* Without CAP_SYS_NICE: moving every page, nodes outside one's own, another process's memory. */
static int without_cap_sys_nice(void)
{
    struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct caps[2];
    REQUIRE(sys(SYS_capget, &header, caps) == 0);
    caps[CAP_SYS_NICE / 32].effective &= ~(1U << (CAP_SYS_NICE % 32));
    REQUIRE(sys(SYS_capset, &header, caps) == 0);
    long page = sysconf(_SC_PAGESIZE);
    char *area = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    unsigned long one = 1, two = 2;
    void *pages[1] = {area};
    int status[1];
    REQUIRE(sys(SYS_mbind, area, page, MPOL_BIND, &one, 2UL, MPOL_MF_MOVE_ALL) == -1 && errno == EPERM);
    REQUIRE(sys(SYS_mbind, area, page, MPOL_BIND, &one, 2UL, MPOL_MF_MOVE) == 0);
    REQUIRE(sys(SYS_move_pages, 0, 1UL, pages, NULL, status, MPOL_MF_MOVE_ALL) == -1 && errno == EPERM);
    REQUIRE(sys(SYS_migrate_pages, 0, 64UL, &one, &two) == -1 && errno == EPERM);
    REQUIRE(sys(SYS_migrate_pages, 0, 64UL, &one, &one) == 0);
    struct iovec range[1] = {{area, page}};
    int own = sys(SYS_pidfd_open, getpid(), 0);
    REQUIRE(sys(SYS_process_madvise, own, range, 1UL, MADV_COLD, 0U) == page);
    pid_t sibling = paused_child(NULL, 0, NULL);
    int other = sys(SYS_pidfd_open, sibling, 0);
    long advised = sys(SYS_process_madvise, other, range, 1UL, MADV_COLD, 0U);
    int error = errno;
    kill(sibling, SIGKILL);
    waitpid(sibling, NULL, 0);
    REQUIRE(advised == -1 && error == EPERM);
    return 0;
}

/* Another user's process: no ptrace access, so no access to its memory either. */
static int as_another_user(void)
{
    pid_t parent = getppid();
    int pidfd = sys(SYS_pidfd_open, parent, 0);
    REQUIRE(pidfd >= 0);
    REQUIRE(setresgid(65534, 65534, 65534) == 0 && setresuid(65534, 65534, 65534) == 0);
    static char buffer[4096] __attribute__((aligned(4096)));
    struct iovec range[1] = {{buffer, sizeof buffer}};
    unsigned long one = 1;
    void *pages[1] = {buffer};
    int status[1];
    REQUIRE(sys(SYS_process_madvise, pidfd, range, 1UL, MADV_COLD, 0U) == -1 && errno == EACCES);
    REQUIRE(sys(SYS_migrate_pages, parent, 2UL, &one, &one) == -1 && errno == EPERM);
    REQUIRE(sys(SYS_move_pages, parent, 1UL, pages, NULL, status, 0) == -1 && errno == EPERM);
    return 0;
}

int main(void)
{
    set_and_get_mempolicy();
    CHECK_RET(setpol(MPOL_INTERLEAVE, 1, 2), 0);
    IN_CHILD(policy_is_inherited);
    CHECK_RET(setpol(MPOL_DEFAULT, 0, 2), 0);
    per_thread_policy();
    mbind_ranges();
    page_migration();
    process_memory();
    IN_CHILD(without_cap_sys_nice);
    IN_CHILD(as_another_user);
    return done();
}
