/* Scheduling attributes: getpriority/setpriority, sched_setscheduler/sched_getscheduler,
 * sched_setparam/sched_getparam, sched_get_priority_max/min, sched_rr_get_interval,
 * ioprio_set/ioprio_get. Everything that changes a value runs in a child. */
#include "check.h"
#include <sched.h>
#include <sys/resource.h>
#include <time.h>

#define IOPRIO_VALUE(class, level) (((class) << 13) | (level))

struct attr {
    unsigned size, policy;
    unsigned long long flags;
    int nice;
    unsigned priority;
    unsigned long long runtime, deadline, period;
    unsigned util_min, util_max;
};

static int deadline_task(void)
{
    struct attr a = {.size = 48, .policy = SCHED_DEADLINE, .runtime = 10000000, .deadline = 30000000,
                     .period = 100000000};
    REQUIRE(sys(SYS_sched_setattr, 0, &a, 0) == 0);
    memset(&a, 0, sizeof a);
    REQUIRE(sys(SYS_sched_getattr, 0, &a, 48, 0) == 0);
    REQUIRE(a.size == 48 && a.policy == SCHED_DEADLINE && a.runtime == 10000000 && a.deadline == 30000000);
    REQUIRE(a.period == 100000000 && a.flags == 0);
    REQUIRE(sys(SYS_getpriority, PRIO_PROCESS, 0) == 20);
    REQUIRE(fork() == -1 && errno == EAGAIN);
    struct attr greedy = {.size = 48, .policy = SCHED_DEADLINE, .runtime = 99000000, .deadline = 100000000,
                          .period = 100000000};
    REQUIRE(sys(SYS_sched_setattr, 0, &greedy, 0) == 0);
    struct attr keep = {.size = 48, .flags = 0x08 | 0x01};
    REQUIRE(sys(SYS_sched_setattr, 0, &keep, 0) == -1 && errno == EINVAL);
    keep.flags = 0x08 | 0x10 | 0x01;          /* keeping the policy keeps SCHED_RESET_ON_FORK too */
    REQUIRE(sys(SYS_sched_setattr, 0, &keep, 0) == 0);
    REQUIRE(sys(SYS_sched_getscheduler, 0) == SCHED_DEADLINE);
    struct attr reset = {.size = 48, .policy = SCHED_DEADLINE, .flags = 0x10 | 0x01};
    REQUIRE(sys(SYS_sched_setattr, 0, &reset, 0) == 0);
    REQUIRE(sys(SYS_sched_getscheduler, 0) == (SCHED_DEADLINE | SCHED_RESET_ON_FORK));
    pid_t child = fork();
    if (child == 0)
        _exit(sys(SYS_sched_getscheduler, 0) == SCHED_OTHER ? 0 : 1);
    int status;
    REQUIRE(child > 0 && waitpid(child, &status, 0) == child && WIFEXITED(status) && WEXITSTATUS(status) == 0);
    return 0;
}

static int attr_as_nobody(void)
{
    struct attr a = {.size = 48, .policy = SCHED_DEADLINE, .runtime = 10000000, .deadline = 30000000};
    REQUIRE(setgid(65534) == 0 && setuid(65534) == 0);
    REQUIRE(sys(SYS_sched_setattr, 0, &a, 0) == -1 && errno == EPERM);
    struct attr nicer = {.size = 48, .policy = SCHED_OTHER, .nice = -1};
    REQUIRE(sys(SYS_sched_setattr, 0, &nicer, 0) == -1 && errno == EPERM);
    nicer.nice = 3;
    REQUIRE(sys(SYS_sched_setattr, 0, &nicer, 0) == 0 && sys(SYS_getpriority, PRIO_PROCESS, 0) == 17);
    return 0;
}

static int as_root(void)
{
    struct sched_param param = {.sched_priority = 10};
    REQUIRE(setpgid(0, 0) == 0);
    REQUIRE(sys(SYS_setpriority, PRIO_PROCESS, 0, -5) == 0);
    REQUIRE(sys(SYS_getpriority, PRIO_PROCESS, 0) == 25);
    REQUIRE(sys(SYS_setpriority, PRIO_PROCESS, 0, 100) == 0);
    REQUIRE(sys(SYS_getpriority, PRIO_PROCESS, 0) == 1);
    REQUIRE(sys(SYS_setpriority, PRIO_PGRP, 0, -100) == 0);
    REQUIRE(sys(SYS_getpriority, PRIO_PROCESS, 0) == 40);
    REQUIRE(sys(SYS_setpriority, PRIO_PROCESS, 0, 0) == 0);
    REQUIRE(sys(SYS_sched_setscheduler, 0, SCHED_FIFO, &param) == 0);
    REQUIRE(sys(SYS_sched_getscheduler, 0) == SCHED_FIFO);
    param.sched_priority = 0;
    REQUIRE(sys(SYS_sched_getparam, 0, &param) == 0 && param.sched_priority == 10);
    struct timespec ts = {5, 5};
    REQUIRE(sys(SYS_sched_rr_get_interval, 0, &ts) == 0 && ts.tv_sec == 0 && ts.tv_nsec == 0);
    param.sched_priority = 20;
    REQUIRE(sys(SYS_sched_setparam, 0, &param) == 0);
    param.sched_priority = 0;
    REQUIRE(sys(SYS_sched_setparam, 0, &param) == -1 && errno == EINVAL);
    param.sched_priority = 5;
    REQUIRE(sys(SYS_sched_setscheduler, 0, SCHED_RR | SCHED_RESET_ON_FORK, &param) == 0);
    REQUIRE(sys(SYS_sched_getscheduler, 0) == (SCHED_RR | SCHED_RESET_ON_FORK));
    REQUIRE(sys(SYS_sched_rr_get_interval, 0, &ts) == 0 && ts.tv_sec == 0 && ts.tv_nsec == 100000000);
    fflush(stdout);
    pid_t child = fork();
    if (child == 0)
        _exit(sys(SYS_sched_getscheduler, 0) == SCHED_OTHER ? 0 : 1);
    int status;
    waitpid(child, &status, 0);
    REQUIRE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    param.sched_priority = 0;
    REQUIRE(sys(SYS_sched_setscheduler, 0, SCHED_BATCH, &param) == 0);
    REQUIRE(sys(SYS_sched_getscheduler, 0) == SCHED_BATCH);
    REQUIRE(sys(SYS_ioprio_set, 1, 0, IOPRIO_VALUE(1, 3)) == 0);
    REQUIRE(sys(SYS_ioprio_get, 1, 0) == IOPRIO_VALUE(1, 3));
    return 0;
}

static int as_nobody(void)
{
    struct sched_param param = {.sched_priority = 10};
    REQUIRE(sys(SYS_setpriority, PRIO_PROCESS, 0, 5) == 0);
    REQUIRE(sys(SYS_setpriority, PRIO_PROCESS, 0, 10) == 0);
    REQUIRE(setgid(65534) == 0 && setuid(65534) == 0);
    REQUIRE(sys(SYS_setpriority, PRIO_PROCESS, 0, 15) == 0);
    REQUIRE(sys(SYS_setpriority, PRIO_PROCESS, 0, 12) == -1 && errno == EACCES);
    REQUIRE(sys(SYS_getpriority, PRIO_PROCESS, 0) == 5);
    REQUIRE(sys(SYS_setpriority, PRIO_PROCESS, getppid(), 19) == -1 && errno == EPERM);
    REQUIRE(sys(SYS_sched_setscheduler, 0, SCHED_FIFO, &param) == -1 && errno == EPERM);
    param.sched_priority = 0;
    REQUIRE(sys(SYS_sched_setscheduler, 0, SCHED_IDLE, &param) == 0);
    REQUIRE(sys(SYS_sched_getscheduler, 0) == SCHED_IDLE);
    REQUIRE(sys(SYS_sched_setscheduler, getppid(), SCHED_OTHER, &param) == -1 && errno == EPERM);
    REQUIRE(sys(SYS_ioprio_set, 1, 0, IOPRIO_VALUE(1, 3)) == -1 && errno == EPERM);
    REQUIRE(sys(SYS_ioprio_set, 1, 0, IOPRIO_VALUE(2, 7)) == 0);
    REQUIRE(sys(SYS_ioprio_set, 1, getppid(), IOPRIO_VALUE(2, 7)) == -1 && errno == EPERM);
    return 0;
}

int main(void)
{
    struct sched_param param = {0};
    struct timespec ts;
    CHECK_RET(sys(SYS_getpriority, PRIO_PROCESS, 0), 20);
    CHECK_RET(sys(SYS_getpriority, PRIO_PGRP, 0), 20);
    CHECK_OK(sys(SYS_getpriority, PRIO_USER, 0));
    CHECK_ERR(sys(SYS_getpriority, 3, 0), EINVAL);
    CHECK_ERR(sys(SYS_getpriority, PRIO_PROCESS, 999999), ESRCH);
    CHECK_ERR(sys(SYS_setpriority, PRIO_PROCESS, 999999, 0), ESRCH);
    CHECK_ERR(sys(SYS_setpriority, 7, 0, 0), EINVAL);
    CHECK_RET(sys(SYS_sched_getscheduler, 0), SCHED_OTHER);
    CHECK_ERR(sys(SYS_sched_getscheduler, -1), EINVAL);
    CHECK_ERR(sys(SYS_sched_getscheduler, 999999), ESRCH);
    CHECK_RET(sys(SYS_sched_getparam, 0, &param), 0);
    CHECK(param.sched_priority == 0);
    CHECK_ERR(sys(SYS_sched_getparam, 0, NULL), EINVAL);
    CHECK_ERR(sys(SYS_sched_getparam, 0, (void *)8), EFAULT);
    CHECK_ERR(sys(SYS_sched_setscheduler, 0, 4, &param), EINVAL);
    CHECK_ERR(sys(SYS_sched_setscheduler, 0, SCHED_DEADLINE, &param), EINVAL);
    CHECK_ERR(sys(SYS_sched_setscheduler, 0, SCHED_OTHER, NULL), EINVAL);
    CHECK_ERR(sys(SYS_sched_setscheduler, -1, SCHED_OTHER, &param), EINVAL);
    CHECK_ERR(sys(SYS_sched_setscheduler, 999999, SCHED_OTHER, &param), ESRCH);
    param.sched_priority = 1;
    CHECK_ERR(sys(SYS_sched_setscheduler, 0, SCHED_OTHER, &param), EINVAL);
    param.sched_priority = 100;
    CHECK_ERR(sys(SYS_sched_setscheduler, 0, SCHED_FIFO, &param), EINVAL);
    param.sched_priority = 0;
    CHECK_ERR(sys(SYS_sched_setscheduler, 0, SCHED_RR, &param), EINVAL);
    CHECK_RET(sys(SYS_sched_setparam, 0, &param), 0);
    CHECK_ERR(sys(SYS_sched_setparam, 0, NULL), EINVAL);
    CHECK_RET(sys(SYS_sched_get_priority_max, SCHED_FIFO), 99);
    CHECK_RET(sys(SYS_sched_get_priority_min, SCHED_RR), 1);
    CHECK_RET(sys(SYS_sched_get_priority_max, SCHED_OTHER), 0);
    CHECK_RET(sys(SYS_sched_get_priority_min, SCHED_IDLE), 0);
    CHECK_RET(sys(SYS_sched_get_priority_max, SCHED_DEADLINE), 0);
    CHECK_ERR(sys(SYS_sched_get_priority_max, 4), EINVAL);
    CHECK_ERR(sys(SYS_sched_get_priority_min, -1), EINVAL);
    CHECK_RET(sys(SYS_sched_rr_get_interval, 0, &ts), 0);
    CHECK(ts.tv_sec == 0 && ts.tv_nsec >= 0);
    CHECK_ERR(sys(SYS_sched_rr_get_interval, -1, &ts), EINVAL);
    CHECK_ERR(sys(SYS_sched_rr_get_interval, 999999, &ts), ESRCH);
    CHECK_ERR(sys(SYS_sched_rr_get_interval, 0, (void *)8), EFAULT);

    CHECK_RET(sys(SYS_ioprio_get, 1, 0), IOPRIO_VALUE(0, 0));
    CHECK_RET(sys(SYS_ioprio_set, 1, 0, IOPRIO_VALUE(2, 5)), 0);
    CHECK_RET(sys(SYS_ioprio_get, 1, 0), IOPRIO_VALUE(2, 5));
    CHECK_RET(sys(SYS_ioprio_set, 1, 0, IOPRIO_VALUE(3, 0)), 0);
    CHECK_RET(sys(SYS_ioprio_get, 1, 0), IOPRIO_VALUE(3, 0));
    CHECK_ERR(sys(SYS_ioprio_set, 1, 0, IOPRIO_VALUE(0, 1)), EINVAL);
    CHECK_ERR(sys(SYS_ioprio_set, 1, 0, IOPRIO_VALUE(4, 0)), EINVAL);
    CHECK_ERR(sys(SYS_ioprio_set, 4, 0, IOPRIO_VALUE(2, 0)), EINVAL);
    CHECK_ERR(sys(SYS_ioprio_get, 4, 0), EINVAL);
    CHECK_ERR(sys(SYS_ioprio_get, 1, 999999), ESRCH);
    CHECK_RET(sys(SYS_ioprio_set, 1, 0, IOPRIO_VALUE(0, 0)), 0);
    IN_CHILD(as_root);
    IN_CHILD(as_nobody);

    struct attr a;
    memset(&a, 0xff, sizeof a);
    CHECK_RET(sys(SYS_sched_getattr, 0, &a, sizeof a, 0), 0);
    CHECK(a.size == 56 && a.policy == SCHED_OTHER && a.flags == 0 && a.nice == 0 && a.priority == 0);
    CHECK(a.util_min == 0 && a.util_max == 0 && a.deadline == 0 && a.period == 0);
    long slice = a.runtime;                    /* a fair task's time slice (Linux 6.12 on), or 0 */
    CHECK(slice >= 0 && slice <= 100000000);
    struct attr custom = {.size = 48, .policy = SCHED_OTHER, .runtime = 5000000};
    CHECK_RET(sys(SYS_sched_setattr, 0, &custom, 0), 0);
    CHECK_RET(sys(SYS_sched_getattr, 0, &a, sizeof a, 0), 0);
    CHECK(slice == 0 || a.runtime == 5000000);
    custom.runtime = 0;
    CHECK_RET(sys(SYS_sched_setattr, 0, &custom, 0), 0);
    CHECK_RET(sys(SYS_sched_getattr, 0, &a, sizeof a, 0), 0);
    CHECK(a.runtime == (unsigned long long)slice);
    CHECK_RET(sys(SYS_sched_getattr, 0, &a, 48, 0), 0);
    CHECK(a.size == 48);
    CHECK_ERR(sys(SYS_sched_getattr, 0, &a, 47, 0), EINVAL);
    CHECK_ERR(sys(SYS_sched_getattr, 0, &a, 4097, 0), EINVAL);
    CHECK_ERR(sys(SYS_sched_getattr, 0, &a, 56, 1), EINVAL);
    CHECK_ERR(sys(SYS_sched_getattr, 0, NULL, 56, 0), EINVAL);
    CHECK_ERR(sys(SYS_sched_getattr, 999999, &a, 56, 0), ESRCH);
    memset(&a, 0, sizeof a);
    a.size = 47;
    CHECK_ERR(sys(SYS_sched_setattr, 0, &a, 0), E2BIG);
    CHECK(a.size == 56);
    struct { struct attr a; unsigned long extra; } longer = {{.size = sizeof longer}, 1};
    CHECK_ERR(sys(SYS_sched_setattr, 0, &longer, 0), E2BIG);
    longer.extra = 0;
    longer.a.size = sizeof longer;
    CHECK_RET(sys(SYS_sched_setattr, 0, &longer, 0), 0);
    a.size = 0;
    a.policy = SCHED_BATCH;
    CHECK_RET(sys(SYS_sched_setattr, 0, &a, 0), 0);
    CHECK_RET(sys(SYS_sched_getscheduler, 0), SCHED_BATCH);
    a.policy = SCHED_OTHER;
    CHECK_RET(sys(SYS_sched_setattr, 0, &a, 0), 0);
    CHECK_ERR(sys(SYS_sched_setattr, 0, &a, 1), EINVAL);
    CHECK_ERR(sys(SYS_sched_setattr, -1, &a, 0), EINVAL);
    CHECK_ERR(sys(SYS_sched_setattr, 0, NULL, 0), EINVAL);
    CHECK_ERR(sys(SYS_sched_setattr, 0, (void *)8, 0), EFAULT);
    a.policy = 4;
    CHECK_ERR(sys(SYS_sched_setattr, 0, &a, 0), EINVAL);
    a.policy = SCHED_FIFO;
    CHECK_ERR(sys(SYS_sched_setattr, 0, &a, 0), EINVAL);
    a.policy = SCHED_OTHER;
    a.flags = 0x80;
    CHECK_ERR(sys(SYS_sched_setattr, 0, &a, 0), EINVAL);
    a.flags = 0x20;
    a.size = 56;
    CHECK_ERR(sys(SYS_sched_setattr, 0, &a, 0), EOPNOTSUPP);
    a.size = 48;
    CHECK_ERR(sys(SYS_sched_setattr, 0, &a, 0), EINVAL);
    struct attr dl = {.size = 48, .policy = SCHED_DEADLINE, .runtime = 1000, .deadline = 30000000};
    CHECK_ERR(sys(SYS_sched_setattr, 0, &dl, 0), EINVAL);
    dl.runtime = 40000000;
    CHECK_ERR(sys(SYS_sched_setattr, 0, &dl, 0), EINVAL);
    dl.runtime = 10000000;
    dl.period = 20000000;
    CHECK_ERR(sys(SYS_sched_setattr, 0, &dl, 0), EINVAL);
    dl.period = 10000000000ULL;
    CHECK_ERR(sys(SYS_sched_setattr, 0, &dl, 0), EINVAL);
    dl.deadline = 0;
    CHECK_ERR(sys(SYS_sched_setattr, 0, &dl, 0), EINVAL);
    IN_CHILD(deadline_task);
    IN_CHILD(attr_as_nobody);
    CHECK_RET(sys(SYS_getpriority, PRIO_PROCESS, 0), 20);
    return done();
}
