/* Time and memory: nanosleep, gettimeofday, time, clock_getres, adjtimex, clock_adjtime;
 * mprotect, munmap, brk, mlock, mlock2, munlock, mlockall, munlockall. */
#include "check.h"
#include <signal.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <time.h>
#include <sys/timex.h>
#include <sys/resource.h>

static int tune_as_nobody(void)
{
    struct timex tx = {.modes = ADJ_FREQUENCY};
    REQUIRE(setgid(65534) == 0 && setuid(65534) == 0);
    REQUIRE(sys(SYS_adjtimex, &tx) == -1 && errno == EPERM);
    tx.modes = ADJ_OFFSET_SINGLESHOT;
    REQUIRE(sys(SYS_adjtimex, &tx) == -1 && errno == EPERM);
    tx.modes = ADJ_OFFSET_SS_READ;
    REQUIRE(sys(SYS_adjtimex, &tx) >= 0 && tx.offset == 0);
    tx.modes = ADJ_STATUS;
    REQUIRE(sys(SYS_clock_adjtime, CLOCK_REALTIME, &tx) == -1 && errno == EPERM);
    return 0;
}

static int lock_limits(void)
{
    long page = sysconf(_SC_PAGESIZE);
    char *area = mmap(NULL, 8 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    struct rlimit limit = {4 * page, 4 * page};
    REQUIRE(setrlimit(RLIMIT_MEMLOCK, &limit) == 0);
    REQUIRE(setgid(65534) == 0 && setuid(65534) == 0);
    REQUIRE(mlock(area, 3 * page) == 0);
    REQUIRE(mlock(area, 4 * page) == 0);                   /* the first three are locked already */
    REQUIRE(mlock(area + 4 * page, page) == -1 && errno == ENOMEM);
    REQUIRE(munlock(area, 2 * page) == 0);
    REQUIRE(mlock(area + 4 * page, 2 * page) == 0);
    REQUIRE(mmap(NULL, 4 * page, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_LOCKED, -1, 0) == MAP_FAILED
            && errno == EAGAIN);
    REQUIRE(mlockall(MCL_CURRENT) == -1 && errno == ENOMEM);
    REQUIRE(munlockall() == 0);
    REQUIRE(mlockall(MCL_FUTURE) == 0);
    REQUIRE(mmap(NULL, 5 * page, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) == MAP_FAILED && errno == EAGAIN);
    void *small = mmap(NULL, page, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    REQUIRE(small != MAP_FAILED);
    REQUIRE(munlockall() == 0);
    fflush(stdout);
    pid_t child = fork();
    if (child == 0) {
        struct rlimit none = {0, 0};
        setrlimit(RLIMIT_MEMLOCK, &none);
        _exit(mlock(area, page) == -1 && errno == EPERM && mlockall(MCL_CURRENT) == -1 && errno == EPERM ? 0 : 1);
    }
    int status;
    REQUIRE(waitpid(child, &status, 0) == child && WIFEXITED(status) && WEXITSTATUS(status) == 0);
    return 0;
}

int main(void)
{
    struct timespec req = {0, 10000000}, rem, before, after;
    clock_gettime(CLOCK_MONOTONIC, &before);
    CHECK_RET(sys(SYS_nanosleep, &req, &rem), 0);
    clock_gettime(CLOCK_MONOTONIC, &after);
    CHECK((after.tv_sec - before.tv_sec) * 1000000000L + after.tv_nsec - before.tv_nsec >= 10000000L);
    req.tv_nsec = 1000000000;
    CHECK_ERR(sys(SYS_nanosleep, &req, NULL), EINVAL);
    req.tv_sec = -1;
    req.tv_nsec = 0;
    CHECK_ERR(sys(SYS_nanosleep, &req, NULL), EINVAL);
    CHECK_ERR(sys(SYS_nanosleep, (void *)8, NULL), EFAULT);

    struct timeval tv;
    CHECK_RET(sys(SYS_gettimeofday, &tv, NULL), 0);
    time_t t1 = 0;
    CHECK_OK(sys(SYS_time, &t1));
    CHECK(last == t1 && t1 - tv.tv_sec >= 0 && t1 - tv.tv_sec < 5);
    CHECK(t1 > 1600000000);
    CHECK_OK(sys(SYS_time, NULL));
    CHECK(tv.tv_usec >= 0 && tv.tv_usec < 1000000);
    CHECK_ERR(sys(SYS_gettimeofday, (void *)8, NULL), EFAULT);

    struct timespec res;
    CHECK_RET(sys(SYS_clock_getres, CLOCK_MONOTONIC, &res), 0);
    CHECK(res.tv_sec == 0 && res.tv_nsec == 1);
    CHECK_RET(sys(SYS_clock_getres, CLOCK_REALTIME_COARSE, &res), 0);
    CHECK(res.tv_sec == 0 && res.tv_nsec > 1);
    CHECK_RET(sys(SYS_clock_getres, CLOCK_PROCESS_CPUTIME_ID, NULL), 0);
    CHECK_ERR(sys(SYS_clock_getres, 99, &res), EINVAL);

    struct timex tx = {.modes = 0};
    CHECK_OK(sys(SYS_adjtimex, &tx));
    CHECK(tx.time.tv_sec - time(NULL) <= 1 && time(NULL) - tx.time.tv_sec <= 1 && tx.tick > 0);
    CHECK_OK(sys(SYS_clock_adjtime, CLOCK_REALTIME, &tx));
    CHECK_ERR(sys(SYS_clock_adjtime, CLOCK_MONOTONIC, &tx), EOPNOTSUPP);
    CHECK_ERR(sys(SYS_clock_adjtime, 99, &tx), EINVAL);
    CHECK_ERR(sys(SYS_adjtimex, (void *)8), EFAULT);
    IN_CHILD(tune_as_nobody);

    long page = sysconf(_SC_PAGESIZE);
    char *area = mmap(NULL, 4 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(area != MAP_FAILED);
    area[0] = 1;
    CHECK_RET(sys(SYS_mprotect, area, page, PROT_READ), 0);
    CHECK_ERR(sys(SYS_mprotect, area + 1, page, PROT_READ), EINVAL);
    CHECK_ERR(sys(SYS_mprotect, area, page, 0x100), EINVAL);
    CHECK_RET(sys(SYS_munmap, area + 2 * page, page), 0);
    CHECK_ERR(sys(SYS_mprotect, area, 4 * page, PROT_READ), ENOMEM);
    CHECK_RET(sys(SYS_munmap, area + 2 * page, page), 0);
    CHECK_ERR(sys(SYS_munmap, area + 1, page), EINVAL);
    CHECK_ERR(sys(SYS_munmap, area, 0), EINVAL);
    CHECK_RET(sys(SYS_mlock, area + 1, page), 0);
    CHECK_RET(sys(SYS_munlock, area, page), 0);
    CHECK_ERR(sys(SYS_munlock, area + 2 * page, page), ENOMEM);
    CHECK_ERR(sys(SYS_mlock, area + 2 * page, page), ENOMEM);
    CHECK_RET(sys(SYS_mlock, area, 0), 0);
    CHECK_RET(sys(SYS_mlock2, area, page, MLOCK_ONFAULT), 0);
    CHECK_ERR(sys(SYS_mlock2, area, page, 2), EINVAL);
    CHECK_ERR(sys(SYS_mlockall, 0), EINVAL);
    CHECK_ERR(sys(SYS_mlockall, MCL_ONFAULT), EINVAL);
    CHECK_ERR(sys(SYS_mlockall, 8), EINVAL);
    IN_CHILD(lock_limits);
    CHECK_RET(sys(SYS_munlockall), 0);
    CHECK(area[0] == 1);

    long start = sys(SYS_brk, 0);
    CHECK(start > 0);
    CHECK_RET(sys(SYS_brk, start + 3 * page), start + 3 * page);
    ((char *)start)[3 * page - 1] = 7;
    CHECK_RET(sys(SYS_brk, start + page), start + page);
    CHECK_RET(sys(SYS_brk, 1), start + page);
    CHECK_RET(sys(SYS_brk, start), start);
    return done();
}
