/* Interval timers: getitimer, setitimer (ITIMER_REAL, shared with alarm; ITIMER_VIRTUAL and
 * ITIMER_PROF, on CPU time). */
#include "check.h"
#include <signal.h>
#include <sys/time.h>

static volatile sig_atomic_t alarms, vtalarms, profs;

static void on_signal(int signo)
{
    if (signo == SIGALRM)
        alarms++;
    else if (signo == SIGVTALRM)
        vtalarms++;
    else
        profs++;
}

static int spin_until(volatile sig_atomic_t *counter, int count)
{
    for (long i = 0; i < 4000000000L && *counter < count; i++)
        ;
    return *counter >= count;
}

int main(void)
{
    signal(SIGALRM, on_signal);
    signal(SIGVTALRM, on_signal);
    signal(SIGPROF, on_signal);
    struct itimerval set = {{0, 0}, {5, 0}}, got;

    CHECK_RET(sys(SYS_getitimer, ITIMER_REAL, &got), 0);
    CHECK(got.it_value.tv_sec == 0 && got.it_value.tv_usec == 0 && got.it_interval.tv_sec == 0);
    CHECK_RET(sys(SYS_setitimer, ITIMER_REAL, &set, NULL), 0);
    CHECK_RET(sys(SYS_getitimer, ITIMER_REAL, &got), 0);
    CHECK(got.it_value.tv_sec == 4 || (got.it_value.tv_sec == 5 && got.it_value.tv_usec == 0));
    CHECK_RET(alarm(0), 5);
    CHECK_RET(alarm(7), 0);
    CHECK_RET(sys(SYS_getitimer, ITIMER_REAL, &got), 0);
    CHECK(got.it_value.tv_sec == 6 || got.it_value.tv_sec == 7);
    struct itimerval periodic = {{0, 20000}, {0, 30000}};
    CHECK_RET(sys(SYS_setitimer, ITIMER_REAL, &periodic, &got), 0);
    CHECK(got.it_value.tv_sec == 6 || got.it_value.tv_sec == 7);
    while (alarms < 3)
        pause();
    CHECK(alarms >= 3);
    CHECK_RET(sys(SYS_getitimer, ITIMER_REAL, &got), 0);
    CHECK(got.it_interval.tv_sec == 0 && got.it_interval.tv_usec == 20000);
    CHECK(got.it_value.tv_sec == 0 && got.it_value.tv_usec > 0 && got.it_value.tv_usec <= 20000);
    CHECK_RET(sys(SYS_setitimer, ITIMER_REAL, NULL, &got), 0);
    CHECK(got.it_interval.tv_usec == 20000);
    CHECK_RET(sys(SYS_getitimer, ITIMER_REAL, &got), 0);
    CHECK(got.it_value.tv_sec == 0 && got.it_value.tv_usec == 0 && got.it_interval.tv_usec == 0);

    struct itimerval cpu = {{0, 0}, {0, 50000}};
    CHECK_RET(sys(SYS_setitimer, ITIMER_VIRTUAL, &cpu, NULL), 0);
    CHECK_RET(sys(SYS_getitimer, ITIMER_VIRTUAL, &got), 0);
    /* Linux adds a scheduler tick (1 to 10 ms) to a CPU timer it arms. */
    CHECK(got.it_value.tv_sec == 0 && got.it_value.tv_usec > 0 && got.it_value.tv_usec <= 60000);
    CHECK(spin_until(&vtalarms, 1));
    CHECK_RET(sys(SYS_getitimer, ITIMER_VIRTUAL, &got), 0);
    CHECK(got.it_value.tv_sec == 0 && got.it_value.tv_usec == 0);
    cpu.it_interval.tv_usec = 30000;
    CHECK_RET(sys(SYS_setitimer, ITIMER_PROF, &cpu, NULL), 0);
    CHECK(spin_until(&profs, 2));
    CHECK_RET(sys(SYS_getitimer, ITIMER_PROF, &got), 0);
    CHECK(got.it_interval.tv_usec == 30000 && (got.it_value.tv_sec || got.it_value.tv_usec));
    struct itimerval off = {{0, 0}, {0, 0}};
    CHECK_RET(sys(SYS_setitimer, ITIMER_PROF, &off, &got), 0);
    CHECK(got.it_interval.tv_usec == 30000);

    CHECK_ERR(sys(SYS_getitimer, 3, &got), EINVAL);
    CHECK_ERR(sys(SYS_setitimer, 3, &set, NULL), EINVAL);
    struct itimerval bad = {{0, 0}, {0, 1000000}};
    CHECK_ERR(sys(SYS_setitimer, ITIMER_REAL, &bad, NULL), EINVAL);
    bad.it_value.tv_usec = 0;
    bad.it_interval.tv_sec = -1;
    CHECK_ERR(sys(SYS_setitimer, ITIMER_REAL, &bad, NULL), EINVAL);
    CHECK_ERR(sys(SYS_getitimer, ITIMER_REAL, (void *)8), EFAULT);
    CHECK_ERR(sys(SYS_setitimer, ITIMER_REAL, (void *)8, NULL), EFAULT);
    return done();
}
