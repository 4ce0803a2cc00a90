/* madvise(2) and process_madvise(2) on mlock()ed memory: advice that would drop or age
   pages (DONTNEED, FREE, COLD, PAGEOUT) is EINVAL for a locked mapping; the mappings of the
   range before it are acted on first; a locked mapping after a hole wins over ENOMEM. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#ifndef MLOCK_ONFAULT
#define MLOCK_ONFAULT 1
#endif
#ifndef MADV_DONTNEED_LOCKED
#define MADV_DONTNEED_LOCKED 24
#endif

static void show(const char *what, long r)
{
    printf("%s: %ld %s\n", what, r, r < 0 ? strerrorname_np(errno) : "");
}

int main(void)
{
    long page = sysconf(_SC_PAGESIZE);
    char *p = mmap(NULL, 4 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED || mlock(p + 2 * page, page) != 0) {
        perror("setup");
        return 1;
    }
    static const struct { int advice; const char *name; } advice[] = {
        {MADV_COLD, "MADV_COLD"}, {MADV_PAGEOUT, "MADV_PAGEOUT"}, {MADV_DONTNEED, "MADV_DONTNEED"},
        {MADV_FREE, "MADV_FREE"}, {MADV_WILLNEED, "MADV_WILLNEED"}, {MADV_NORMAL, "MADV_NORMAL"},
    };
    char what[96];
    for (unsigned i = 0; i < sizeof advice / sizeof advice[0]; i++) {
        memset(p, 1, 4 * page);
        snprintf(what, sizeof what, "%s of the locked page", advice[i].name);
        show(what, madvise(p + 2 * page, page, advice[i].advice));
        snprintf(what, sizeof what, "%s of an unlocked page", advice[i].name);
        show(what, madvise(p, page, advice[i].advice));
        snprintf(what, sizeof what, "%s of unlocked, locked, unlocked", advice[i].name);
        show(what, madvise(p, 4 * page, advice[i].advice));
        if (advice[i].advice == MADV_DONTNEED)
            printf("  page before dropped: %s, locked page kept: %s, page after kept: %s\n",
                   p[0] == 0 ? "yes" : "no", p[2 * page] == 1 ? "yes" : "no",
                   p[3 * page] == 1 ? "yes" : "no");
    }

    char *q = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (q == MAP_FAILED || syscall(SYS_mlock2, q, page, MLOCK_ONFAULT) != 0) {
        perror("mlock2");
        return 1;
    }
    show("MADV_PAGEOUT of a page locked on fault", madvise(q, page, MADV_PAGEOUT));
    memset(q, 1, page);
    show("MADV_DONTNEED_LOCKED of a locked page", madvise(q, page, MADV_DONTNEED_LOCKED));
    printf("  locked page dropped: %s\n", q[0] == 0 ? "yes" : "no");
    memset(q, 1, 2 * page);
    show("MADV_DONTNEED_LOCKED of locked and unlocked", madvise(q, 2 * page, MADV_DONTNEED_LOCKED));
    printf("  both dropped: %s\n", q[0] == 0 && q[page] == 0 ? "yes" : "no");
    munlock(q, page);
    show("MADV_PAGEOUT after munlock", madvise(q, page, MADV_PAGEOUT));

    munmap(p + page, page);
    show("MADV_COLD over a hole and then a locked page", madvise(p, 3 * page, MADV_COLD));
    show("MADV_COLD over a hole only", madvise(p, 2 * page, MADV_COLD));

    int pidfd = syscall(SYS_pidfd_open, getpid(), 0);
    struct iovec locked = {p + 2 * page, page};
    show("process_madvise MADV_COLD of the locked page",
         syscall(SYS_process_madvise, pidfd, &locked, 1, MADV_COLD, 0));
    struct iovec unlocked_first[2] = {{p, page}, {p + 2 * page, page}};
    show("process_madvise MADV_PAGEOUT of unlocked, locked",
         syscall(SYS_process_madvise, pidfd, unlocked_first, 2, MADV_PAGEOUT, 0));
    struct iovec locked_first[2] = {{p + 2 * page, page}, {p, page}};
    show("process_madvise MADV_PAGEOUT of locked, unlocked",
         syscall(SYS_process_madvise, pidfd, locked_first, 2, MADV_PAGEOUT, 0));
    return 0;
}
