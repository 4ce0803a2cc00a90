/* Processes: getpid/getppid/gettid, fork/vfork, exit/exit_group, setpgid/getpgid/getpgrp,
 * setsid/getsid, sched_yield, sched_getaffinity, set_tid_address, set/get_robust_list,
 * restart_syscall. */
#include "check.h"
#include <sched.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sys/resource.h>

static int session_child(void)
{
    pid_t me = getpid();
    REQUIRE(sys(SYS_setsid) == me);
    REQUIRE(sys(SYS_getsid, 0) == me);
    REQUIRE(sys(SYS_getpgrp) == me);
    REQUIRE(sys(SYS_setsid) == -1 && errno == EPERM);
    REQUIRE(sys(SYS_setpgid, 0, 0) == -1 && errno == EPERM);
    return 0;
}

static void *thread_main(void *arg)
{
    *(long *)arg = sys(SYS_gettid);
    return NULL;
}

int main(void)
{
    pid_t me = getpid();
    CHECK_RET(sys(SYS_getpid), me);
    CHECK_RET(sys(SYS_gettid), me);
    CHECK_OK(sys(SYS_getppid));

    pthread_t thread;
    long tid = 0;
    pthread_create(&thread, NULL, thread_main, &tid);
    pthread_join(thread, NULL);
    CHECK(tid != me && tid > 0);

    fflush(stdout);
    CHECK_OK(sys(SYS_fork));
    if (last == 0) {
        if (getppid() != me)
            _exit(3);
        sys(SYS_exit_group, 5);
    }
    int status;
    CHECK_RET(waitpid((pid_t)last, &status, 0), last);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 5);

    volatile int shared = 0;
    CHECK_OK(sys(SYS_vfork));
    if (last == 0) {
        shared = 42;
        sys(SYS_exit, 9);
    }
    CHECK(shared == 42);
    CHECK_RET(waitpid((pid_t)last, &status, 0), last);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 9);
    fflush(stdout);
    CHECK_OK(sys(SYS_fork));
    if (last == 0)
        sys(SYS_exit, 7);
    CHECK_RET(waitpid((pid_t)last, &status, 0), last);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 7);

    CHECK_RET(sys(SYS_getpgid, 0), sys(SYS_getpgrp));
    CHECK_RET(sys(SYS_getpgid, me), sys(SYS_getpgrp));
    CHECK_ERR(sys(SYS_getpgid, 999999), ESRCH);
    CHECK_OK(sys(SYS_getsid, 0));
    CHECK_ERR(sys(SYS_getsid, 999999), ESRCH);
    CHECK_ERR(sys(SYS_setpgid, 0, -1), EINVAL);
    CHECK_ERR(sys(SYS_setpgid, 999999, 0), ESRCH);
    fflush(stdout);
    pid_t child = fork();
    if (child == 0) {
        pause();
        _exit(0);
    }
    CHECK_RET(sys(SYS_setpgid, child, child), 0);
    CHECK_RET(sys(SYS_getpgid, child), child);
    CHECK_ERR(sys(SYS_setpgid, child, 999999), EPERM);
    kill(child, SIGKILL);
    waitpid(child, &status, 0);
    IN_CHILD(session_child);

    CHECK_RET(sys(SYS_sched_yield), 0);
    cpu_set_t set;
    CHECK_OK(sys(SYS_sched_getaffinity, 0, sizeof set, &set));
    CHECK(last >= 8 && last <= (long)sizeof set);
    CHECK(CPU_COUNT(&set) >= 1);
    CHECK_ERR(sys(SYS_sched_getaffinity, 0, 3, &set), EINVAL);
    CHECK_ERR(sys(SYS_sched_getaffinity, 999999, sizeof set, &set), ESRCH);
    CHECK_ERR(sys(SYS_sched_getaffinity, 0, sizeof set, (void *)8), EFAULT);

    int tid_word;
    CHECK_RET(sys(SYS_set_tid_address, &tid_word), me);
    struct robust_list_head head = {{&head.list}, 0, NULL}, *got;
    size_t len;
    CHECK_RET(sys(SYS_set_robust_list, &head, sizeof head), 0);
    CHECK_ERR(sys(SYS_set_robust_list, &head, sizeof head + 1), EINVAL);
    CHECK_RET(sys(SYS_get_robust_list, 0, &got, &len), 0);
    CHECK(got == &head && len == sizeof head);
    CHECK_ERR(sys(SYS_get_robust_list, 999999, &got, &len), ESRCH);
    CHECK_ERR(sys(SYS_restart_syscall), EINTR);

    struct rlimit limit, changed;
    CHECK_RET(sys(SYS_getrlimit, RLIMIT_NOFILE, &limit), 0);
    CHECK(limit.rlim_cur <= limit.rlim_max && limit.rlim_cur >= 3);
    changed = limit;
    changed.rlim_cur = 64;
    CHECK_RET(setrlimit(RLIMIT_NOFILE, &changed), 0);
    CHECK_RET(sys(SYS_getrlimit, RLIMIT_NOFILE, &changed), 0);
    CHECK(changed.rlim_cur == 64 && changed.rlim_max == limit.rlim_max);
    CHECK_RET(setrlimit(RLIMIT_NOFILE, &limit), 0);
    CHECK_RET(sys(SYS_getrlimit, RLIMIT_CORE, &changed), 0);
    CHECK_ERR(sys(SYS_getrlimit, 16, &limit), EINVAL);
    CHECK_ERR(sys(SYS_getrlimit, -1, &limit), EINVAL);
    CHECK_ERR(sys(SYS_getrlimit, RLIMIT_NOFILE, (void *)8), EFAULT);
    return done();
}
