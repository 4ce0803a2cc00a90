/* POSIX timers: timer_create, timer_settime, timer_gettime, timer_getoverrun, timer_delete. */
#include "check.h"
#include <signal.h>
#include <time.h>

static volatile sig_atomic_t fired, fired_value, fired_code, fired_timer;

static void on_timer(int signo, siginfo_t *info, void *context)
{
    (void)signo; (void)context;
    fired++;
    fired_value = info->si_value.sival_int;
    fired_code = info->si_code;
    fired_timer = info->si_timerid;
}

int main(void)
{
    struct sigaction sa = {0};
    sa.sa_sigaction = on_timer;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGALRM, &sa, NULL);
    sigaction(SIGRTMIN + 1, &sa, NULL);

    int first = -1, second = -1, cpu = -1, none = -1, spare = -1;
    CHECK_RET(sys(SYS_timer_create, CLOCK_MONOTONIC, NULL, &first), 0);
    CHECK(first == 0);
    struct sigevent ev = {0};
    ev.sigev_notify = SIGEV_SIGNAL;
    ev.sigev_signo = SIGRTMIN + 1;
    ev.sigev_value.sival_int = 4242;
    CHECK_RET(sys(SYS_timer_create, CLOCK_REALTIME, &ev, &second), 0);
    CHECK(second == 1);
    ev.sigev_notify = SIGEV_NONE;
    CHECK_RET(sys(SYS_timer_create, CLOCK_BOOTTIME, &ev, &none), 0);
    ev.sigev_notify = SIGEV_THREAD_ID;
    ev._sigev_un._tid = sys(SYS_gettid);
    ev.sigev_signo = SIGALRM;
    CHECK_RET(sys(SYS_timer_create, CLOCK_PROCESS_CPUTIME_ID, &ev, &cpu), 0);

    ev.sigev_notify = SIGEV_THREAD;
    CHECK_RET(sys(SYS_timer_create, CLOCK_MONOTONIC, &ev, &spare), 0);
    CHECK(spare == 4);
    ev.sigev_notify = 3;
    CHECK_ERR(sys(SYS_timer_create, CLOCK_MONOTONIC, &ev, &spare), EINVAL);
    ev.sigev_notify = SIGEV_SIGNAL;
    ev.sigev_signo = 65;
    CHECK_ERR(sys(SYS_timer_create, CLOCK_MONOTONIC, &ev, &first), EINVAL);
    ev.sigev_notify = SIGEV_THREAD_ID;
    ev.sigev_signo = SIGALRM;
    ev._sigev_un._tid = 999999;
    CHECK_ERR(sys(SYS_timer_create, CLOCK_MONOTONIC, &ev, &first), EINVAL);
    CHECK_ERR(sys(SYS_timer_create, 99, NULL, &first), EINVAL);
    CHECK_ERR(sys(SYS_timer_create, CLOCK_MONOTONIC, NULL, (void *)8), EFAULT);

    struct itimerspec spec = {{0, 0}, {0, 20000000}}, cur, old;
    fired = 0;
    CHECK_RET(sys(SYS_timer_settime, first, 0, &spec, &old), 0);
    CHECK(old.it_value.tv_sec == 0 && old.it_value.tv_nsec == 0);
    CHECK_RET(sys(SYS_timer_gettime, first, &cur), 0);
    CHECK(cur.it_value.tv_sec == 0 && cur.it_value.tv_nsec > 0 && cur.it_value.tv_nsec <= 20000000);
    while (!fired)
        pause();
    CHECK(fired_value == 0 && fired_code == SI_TIMER && fired_timer == 0);
    CHECK_RET(sys(SYS_timer_gettime, first, &cur), 0);
    CHECK(cur.it_value.tv_sec == 0 && cur.it_value.tv_nsec == 0);

    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    struct itimerspec absolute = {{0, 10000000}, {now.tv_sec, now.tv_nsec}};
    fired = 0;
    CHECK_RET(sys(SYS_timer_settime, second, TIMER_ABSTIME, &absolute, NULL), 0);
    while (fired < 3)
        pause();
    CHECK(fired_value == 4242 && fired_timer == 1);
    CHECK_RET(sys(SYS_timer_gettime, second, &cur), 0);
    CHECK(cur.it_interval.tv_nsec == 10000000 && cur.it_value.tv_nsec <= 10000000);
    CHECK_OK(sys(SYS_timer_getoverrun, second));

    /* Blocked, the signal stays pending and further expiries count as overruns. */
    sigset_t block;
    sigemptyset(&block);
    sigaddset(&block, SIGRTMIN + 1);
    sigprocmask(SIG_BLOCK, &block, NULL);
    struct timespec wait = {0, 80000000};
    nanosleep(&wait, NULL);
    siginfo_t info;
    struct timespec zero = {0, 0};
    CHECK_RET(sigtimedwait(&block, &info, &zero), SIGRTMIN + 1);
    CHECK(info.si_overrun >= 3 && info.si_code == SI_TIMER);
    CHECK(sys(SYS_timer_getoverrun, second) == info.si_overrun);
    struct itimerspec off = {{0, 0}, {0, 0}};
    CHECK_RET(sys(SYS_timer_settime, second, 0, &off, &old), 0);
    CHECK(old.it_interval.tv_nsec == 10000000);
    sigprocmask(SIG_UNBLOCK, &block, NULL);

    struct itimerspec long_one = {{1, 0}, {100, 0}};
    CHECK_RET(sys(SYS_timer_settime, none, 0, &long_one, NULL), 0);
    CHECK_RET(sys(SYS_timer_gettime, none, &cur), 0);
    CHECK(cur.it_value.tv_sec == 99 && cur.it_interval.tv_sec == 1);

    struct itimerspec cpu_spec = {{0, 0}, {0, 30000000}};
    fired = 0;
    CHECK_RET(sys(SYS_timer_settime, cpu, 0, &cpu_spec, NULL), 0);
    for (long i = 0; i < 4000000000L && !fired; i++)
        ;
    CHECK(fired == 1);

    struct itimerspec bad = {{0, 0}, {0, 1000000000}};
    CHECK_ERR(sys(SYS_timer_settime, first, 0, &bad, NULL), EINVAL);
    bad.it_value.tv_nsec = 0;
    bad.it_interval.tv_sec = -1;
    CHECK_ERR(sys(SYS_timer_settime, first, 0, &bad, NULL), EINVAL);
    CHECK_ERR(sys(SYS_timer_settime, first, 0, NULL, NULL), EINVAL);
    CHECK_ERR(sys(SYS_timer_settime, 77, 0, &spec, NULL), EINVAL);
    CHECK_ERR(sys(SYS_timer_gettime, 77, &cur), EINVAL);
    CHECK_ERR(sys(SYS_timer_gettime, first, (void *)8), EFAULT);
    CHECK_ERR(sys(SYS_timer_getoverrun, 77), EINVAL);
    CHECK_RET(sys(SYS_timer_delete, first), 0);
    CHECK_ERR(sys(SYS_timer_delete, first), EINVAL);
    CHECK_ERR(sys(SYS_timer_gettime, first, &cur), EINVAL);
    int again = -1;
    CHECK_RET(sys(SYS_timer_create, CLOCK_MONOTONIC, NULL, &again), 0);
    CHECK(again == 9);       /* creates failing after the id was taken (EINVAL, EFAULT) used theirs up */
    return done();
}
