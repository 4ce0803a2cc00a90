/* Timers far faster than anything can keep up with: a 1 us periodic POSIX timer, setitimer
 * and timerfd, and what Linux does with their signals (overruns, re-arm on dequeue, dropped
 * and ignored timer signals). Prints only facts that hold natively whatever the host's speed.
 *
 *   timer_storm posix      1 us CLOCK_MONOTONIC timer, SIGALRM handler, spin 300 ms
 *   timer_storm spin       "ready", then the same timer without end: until killed (SIGTERM from outside)
 *   timer_storm itimer     setitimer(ITIMER_REAL) every 1 us, spin 300 ms
 *   timer_storm cputime    1 us CLOCK_PROCESS_CPUTIME_ID timer, spin 300 ms
 *   timer_storm timerfd    timerfd every 1 us, sleep 50 ms, read the count
 *   timer_storm none       SIGEV_NONE timer every 1 us: timer_gettime after 20 ms
 *   timer_storm blocked    expired timers whose signals are blocked: what the getters read
 *   timer_storm stale      timer_settime while its signal is pending: the signal is dropped
 *   timer_storm ignored    a periodic timer with its signal ignored, then a handler installed
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t signals_taken;
static volatile int max_si_overrun, max_getoverrun, wrong_info;
static volatile int first_si_overrun = -1;  /* of the first timer signal taken */
static timer_t timer;
static double storm_end;          /* when a storm's handler stops its timer, 0: never */
static volatile sig_atomic_t storm_stopped;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* With a 1 us period Linux may deliver the next signal on every return from a handler, so
 * the code a handler interrupted might never run again: the handler ends the storm itself,
 * as stress-ng's does. */
static void stop_storm_in_handler(int itimer)
{
    if (storm_end == 0 || now() < storm_end)
        return;
    storm_stopped = 1;
    if (itimer) {
        struct itimerval off = {{0, 0}, {0, 0}};
        setitimer(ITIMER_REAL, &off, NULL);
    } else {
        struct itimerspec off = {{0, 0}, {0, 0}};
        timer_settime(timer, 0, &off, NULL);
    }
}

static void on_timer(int signo, siginfo_t *info, void *context)
{
    (void)context;
    signals_taken++;
    if (info->si_code != SI_TIMER || info->si_signo != signo)
        wrong_info = 1;
    if (info->si_overrun > max_si_overrun)
        max_si_overrun = info->si_overrun;
    if (first_si_overrun < 0)
        first_si_overrun = info->si_overrun;
    int overrun = timer_getoverrun(timer);
    if (overrun > max_getoverrun)
        max_getoverrun = overrun;
    if (overrun != info->si_overrun)
        wrong_info = 1;
    stop_storm_in_handler(0);
}

static void on_alarm(int signo)
{
    (void)signo;
    signals_taken++;
    stop_storm_in_handler(1);
}

static void handle(int signo, int siginfo)
{
    struct sigaction action;
    memset(&action, 0, sizeof(action));
    if (siginfo) {
        action.sa_sigaction = on_timer;
        action.sa_flags = SA_SIGINFO;
    } else {
        action.sa_handler = on_alarm;
    }
    if (sigaction(signo, &action, NULL) != 0) {
        perror("sigaction");
        exit(1);
    }
}

static void spin(double seconds)
{
    double end = now() + seconds;
    while (now() < end)
        ;
}

static void nap(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static void make_timer_on(clockid_t clock, int signo, int notify)
{
    struct sigevent event;
    memset(&event, 0, sizeof(event));
    event.sigev_notify = notify;
    event.sigev_signo = signo;
    if (timer_create(clock, &event, &timer) != 0) {
        perror("timer_create");
        exit(1);
    }
}

static void make_timer(int signo, int notify)
{
    make_timer_on(CLOCK_MONOTONIC, signo, notify);
}

static void set_timer(long value_ns, long interval_ns)
{
    struct itimerspec spec = {{0, interval_ns}, {0, value_ns}};
    if (timer_settime(timer, 0, &spec, NULL) != 0) {
        perror("timer_settime");
        exit(1);
    }
}

static void block(int signo, int how)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, signo);
    sigprocmask(how, &set, NULL);
}

static int pending(int signo)
{
    sigset_t set;
    sigpending(&set);
    return sigismember(&set, signo);
}

static const char *yes(int condition)
{
    return condition ? "yes" : "no";
}

static void report_storm(void)
{
    printf("signals taken: %s\n", yes(signals_taken > 0));
    printf("si_overrun > 0: %s\n", yes(max_si_overrun > 0));
    printf("siginfo consistent: %s\n", yes(!wrong_info));
}

static int posix_storm(void)
{
    handle(SIGALRM, 1);
    make_timer(SIGALRM, SIGEV_SIGNAL);
    storm_end = now() + 0.3;
    set_timer(1000, 1000);
    spin(0.3);
    set_timer(0, 0);
    report_storm();
    printf("timer_getoverrun > 0: %s\n", yes(max_getoverrun > 0));
    return 0;
}

static int cputime_storm(void)
{
    handle(SIGALRM, 1);
    make_timer_on(CLOCK_PROCESS_CPUTIME_ID, SIGALRM, SIGEV_SIGNAL);
    storm_end = now() + 0.3;
    set_timer(1000, 1000);
    /* Mostly CPU time: a syscall costs the sandbox more CPU than the task is charged for.
     * One every ~1 ms ends a KVM vCPU run, where its time is counted. */
    for (int chunk = 0; chunk < 10000 && !storm_stopped; chunk++) {
        for (volatile long i = 0; i < 500000; i++)
            ;
        getppid();
    }
    set_timer(0, 0);
    report_storm();
    return 0;
}

static int spin_until_killed(void)
{
    handle(SIGALRM, 1);
    make_timer(SIGALRM, SIGEV_SIGNAL);
    printf("ready\n");
    fflush(stdout);
    set_timer(1000, 1000);
    for (;;)
        spin(1);
    return 0;
}

static int itimer_storm(void)
{
    handle(SIGALRM, 0);
    struct itimerval value = {{0, 1}, {0, 1}};
    storm_end = now() + 0.3;
    setitimer(ITIMER_REAL, &value, NULL);
    spin(0.3);
    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &off, NULL);
    printf("SIGALRMs taken: %s\n", yes(signals_taken > 0));
    return 0;
}

static int timerfd_storm(void)
{
    int fd = timerfd_create(CLOCK_MONOTONIC, 0);
    struct itimerspec spec = {{0, 1000}, {0, 1000}};
    double armed = now();
    timerfd_settime(fd, 0, &spec, NULL);
    nap(50);
    uint64_t ticks = 0;
    if (read(fd, &ticks, sizeof(ticks)) != sizeof(ticks)) {
        perror("read");
        return 1;
    }
    double elapsed_us = (now() - armed) * 1e6;
    /* 50 ms of 1 us periods: about 50000 expirations, never more than the periods elapsed. */
    printf("expirations > 10000: %s\n", yes(ticks > 10000));
    printf("expirations <= elapsed periods: %s\n", yes(ticks <= elapsed_us + 1));
    struct itimerspec left;
    timerfd_gettime(fd, &left);
    printf("gettime: interval %ld ns, next within a period: %s\n", left.it_interval.tv_nsec,
           yes(left.it_value.tv_sec == 0 && left.it_value.tv_nsec <= 1000));
    return 0;
}

static int sigev_none(void)
{
    make_timer(0, SIGEV_NONE);
    set_timer(1000, 1000);
    nap(20);
    struct itimerspec left;
    timer_gettime(timer, &left);
    printf("periodic: interval %ld ns, next within a period: %s\n", left.it_interval.tv_nsec,
           yes(left.it_value.tv_sec == 0 && left.it_value.tv_nsec > 0 && left.it_value.tv_nsec <= 1000));
    set_timer(1000, 0);
    nap(5);
    timer_gettime(timer, &left);
    printf("one-shot expired: %ld.%09ld\n", (long)left.it_value.tv_sec, left.it_value.tv_nsec);
    printf("timer_getoverrun: %d\n", timer_getoverrun(timer));
    return 0;
}

static int blocked(void)
{
    handle(SIGRTMIN, 1);
    block(SIGRTMIN, SIG_BLOCK);
    make_timer(SIGRTMIN, SIGEV_SIGNAL);
    set_timer(1000000, 1000000);           /* every 1 ms */
    nap(30);
    struct itimerspec left;
    timer_gettime(timer, &left);
    printf("pending: %s\n", yes(pending(SIGRTMIN)));
    printf("posix timer, signal pending: next in %ld.%09ld or less: %s\n", 0L, 1000000L,
           yes(left.it_value.tv_sec == 0 && left.it_value.tv_nsec > 0 && left.it_value.tv_nsec <= 1000000));
    printf("timer_getoverrun before the signal is taken: %d\n", timer_getoverrun(timer));
    block(SIGRTMIN, SIG_UNBLOCK);
    set_timer(0, 0);
    printf("taken once unblocked: %s\n", yes(signals_taken >= 1));
    printf("its si_overrun counts the 30 ms: %s\n", yes(first_si_overrun >= 20 && first_si_overrun < 1000));
    printf("timer_getoverrun agreed in the handler: %s\n", yes(!wrong_info));

    handle(SIGALRM, 0);
    block(SIGALRM, SIG_BLOCK);
    struct itimerval value = {{0, 1000}, {0, 1000}};
    setitimer(ITIMER_REAL, &value, NULL);
    nap(20);
    struct itimerval now_value;
    getitimer(ITIMER_REAL, &now_value);
    printf("itimer expired, SIGALRM blocked: value %ld.%06ld interval %ld.%06ld\n",
           (long)now_value.it_value.tv_sec, (long)now_value.it_value.tv_usec,
           (long)now_value.it_interval.tv_sec, (long)now_value.it_interval.tv_usec);
    signals_taken = 0;
    block(SIGALRM, SIG_UNBLOCK);
    getitimer(ITIMER_REAL, &now_value);
    printf("after SIGALRM was taken: taken %s, re-armed: %s\n", yes(signals_taken >= 1),
           yes(now_value.it_value.tv_usec > 0 && now_value.it_value.tv_usec <= 1000));
    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &off, NULL);
    return 0;
}

static int stale(void)
{
    handle(SIGRTMIN, 1);
    block(SIGRTMIN, SIG_BLOCK);
    make_timer(SIGRTMIN, SIGEV_SIGNAL);
    set_timer(1000000, 0);
    nap(10);
    printf("pending after expiry: %s\n", yes(pending(SIGRTMIN)));
    set_timer(0, 0);
    printf("pending after disarm: %s\n", yes(pending(SIGRTMIN)));
    block(SIGRTMIN, SIG_UNBLOCK);
    printf("signals taken: %d\n", (int)signals_taken);

    block(SIGRTMIN, SIG_BLOCK);
    set_timer(1000000, 0);
    nap(10);
    timer_delete(timer);
    block(SIGRTMIN, SIG_UNBLOCK);
    printf("signals taken after timer_delete: %d\n", (int)signals_taken);
    return 0;
}

static int ignored(void)
{
    signal(SIGRTMIN, SIG_IGN);
    make_timer(SIGRTMIN, SIGEV_SIGNAL);
    set_timer(1000000, 1000000);
    nap(20);
    printf("left out of the pending set while ignored: %s\n", yes(!pending(SIGRTMIN)));
    handle(SIGRTMIN, 1);
    int taken_at_once = signals_taken;
    nap(20);
    set_timer(0, 0);
    printf("taken as soon as a handler is installed: %s\n", yes(taken_at_once >= 1));
    /* The first signal's si_overrun counts the periods that passed while it was ignored. */
    printf("si_overrun counts the ignored periods: %s\n", yes(max_si_overrun >= 10 && max_si_overrun < 1000));
    return 0;
}

static const struct {
    const char *name;
    int (*run)(void);
} modes[] = {
    {"posix", posix_storm}, {"spin", spin_until_killed}, {"itimer", itimer_storm}, {"cputime", cputime_storm},
    {"timerfd", timerfd_storm}, {"none", sigev_none}, {"blocked", blocked},
    {"stale", stale}, {"ignored", ignored},
};

int main(int argc, char **argv)
{
    for (size_t i = 0; argc > 1 && i < sizeof(modes) / sizeof(modes[0]); i++)
        if (!strcmp(argv[1], modes[i].name))
            return modes[i].run();
    fprintf(stderr, "usage: timer_storm posix|spin|itimer|cputime|timerfd|none|blocked|stale|ignored\n");
    return 2;
}
