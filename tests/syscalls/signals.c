/* Signals: rt_sigaction, rt_sigprocmask, rt_sigreturn, rt_sigpending, rt_sigtimedwait,
 * rt_sigqueueinfo, rt_tgsigqueueinfo, rt_sigsuspend, sigaltstack, pause, alarm, kill, tkill,
 * tgkill. */
#include "check.h"
#include <signal.h>
#include <time.h>
#include <pthread.h>
#include <sys/time.h>

static volatile sig_atomic_t got_signal, got_value, on_altstack;
static char altstack[65536];

static void handler(int signo, siginfo_t *info, void *context)
{
    (void)context;
    got_signal = signo;
    got_value = info->si_value.sival_int;
    char here;
    on_altstack = &here >= altstack && &here < altstack + sizeof altstack;
}

#define KSIGSET 8
#define BIG_WRITE 300000

static int drain_fd;
static void *drain(void *arg)
{
    static char sink[4096];
    long total = 0, got;
    while ((got = read(drain_fd, sink, sizeof sink)) > 0)
        total += got;
    *(long *)arg = total;
    return NULL;
}

int main(void)
{
    pid_t me = getpid();
    struct sigaction sa = {0}, old;
    sa.sa_sigaction = handler;
    sa.sa_flags = SA_SIGINFO;
    CHECK_RET(sigaction(SIGUSR1, &sa, NULL), 0);
    CHECK_RET(sys(SYS_rt_sigaction, SIGUSR1, NULL, &old, KSIGSET), 0);
    CHECK_ERR(sys(SYS_rt_sigaction, SIGUSR1, NULL, &old, 4), EINVAL);
    CHECK_ERR(sys(SYS_rt_sigaction, SIGKILL, &old, NULL, KSIGSET), EINVAL);
    CHECK_ERR(sys(SYS_rt_sigaction, 65, NULL, &old, KSIGSET), EINVAL);
    CHECK_ERR(sys(SYS_rt_sigaction, 0, NULL, &old, KSIGSET), EINVAL);
    CHECK_ERR(sys(SYS_rt_sigaction, SIGUSR1, (void *)8, NULL, KSIGSET), EFAULT);

    CHECK_RET(sys(SYS_kill, me, SIGUSR1), 0);
    CHECK(got_signal == SIGUSR1);
    got_signal = 0;
    CHECK_RET(sys(SYS_tkill, sys(SYS_gettid), SIGUSR1), 0);
    CHECK(got_signal == SIGUSR1);
    got_signal = 0;
    CHECK_RET(sys(SYS_tgkill, me, sys(SYS_gettid), SIGUSR1), 0);
    CHECK(got_signal == SIGUSR1);
    CHECK_ERR(sys(SYS_kill, me, 65), EINVAL);
    CHECK_ERR(sys(SYS_kill, 999999, 0), ESRCH);
    CHECK_RET(sys(SYS_kill, me, 0), 0);
    CHECK_ERR(sys(SYS_tgkill, 999999, me, SIGUSR1), ESRCH);
    CHECK_ERR(sys(SYS_tgkill, me, 0, SIGUSR1), EINVAL);
    CHECK_ERR(sys(SYS_tkill, -1, SIGUSR1), EINVAL);

    sigset_t set, oldset, pending;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    CHECK_RET(sys(SYS_rt_sigprocmask, SIG_BLOCK, &set, &oldset, KSIGSET), 0);
    CHECK_ERR(sys(SYS_rt_sigprocmask, 7, &set, NULL, KSIGSET), EINVAL);
    CHECK_ERR(sys(SYS_rt_sigprocmask, SIG_BLOCK, &set, NULL, 16), EINVAL);
    got_signal = 0;
    kill(me, SIGUSR1);
    CHECK(got_signal == 0);
    sigemptyset(&pending);
    CHECK_RET(sys(SYS_rt_sigpending, &pending, KSIGSET), 0);
    CHECK(sigismember(&pending, SIGUSR1));
    CHECK_ERR(sys(SYS_rt_sigpending, &pending, 16), EINVAL);
    siginfo_t info;
    struct timespec zero = {0, 0};
    CHECK_RET(sys(SYS_rt_sigtimedwait, &set, &info, &zero, KSIGSET), SIGUSR1);
    CHECK(info.si_signo == SIGUSR1 && info.si_code == SI_USER && info.si_pid == me);
    CHECK_ERR(sys(SYS_rt_sigtimedwait, &set, &info, &zero, KSIGSET), EAGAIN);
    struct timespec bad = {0, 1000000000};
    CHECK_ERR(sys(SYS_rt_sigtimedwait, &set, &info, &bad, KSIGSET), EINVAL);
    struct timespec short_wait = {0, 20000000};
    CHECK_ERR(sys(SYS_rt_sigtimedwait, &set, &info, &short_wait, KSIGSET), EAGAIN);

    siginfo_t queued = {0};
    queued.si_code = SI_QUEUE;
    queued.si_pid = me;
    queued.si_uid = getuid();
    queued.si_value.sival_int = 1234;
    CHECK_RET(sys(SYS_rt_sigqueueinfo, me, SIGUSR1, &queued), 0);
    CHECK_RET(sys(SYS_rt_sigtimedwait, &set, &info, &zero, KSIGSET), SIGUSR1);
    CHECK(info.si_code == SI_QUEUE && info.si_value.sival_int == 1234);
    queued.si_value.sival_int = 99;
    CHECK_RET(sys(SYS_rt_tgsigqueueinfo, me, sys(SYS_gettid), SIGUSR1, &queued), 0);
    CHECK_RET(sys(SYS_rt_sigtimedwait, &set, &info, &zero, KSIGSET), SIGUSR1);
    CHECK(info.si_value.sival_int == 99);
    CHECK_ERR(sys(SYS_rt_sigqueueinfo, 999999, SIGUSR1, &queued), ESRCH);
    queued.si_code = SI_KERNEL;
    CHECK_ERR(sys(SYS_rt_sigqueueinfo, getppid(), 0, &queued), EPERM);

    sigset_t empty;
    sigemptyset(&empty);
    kill(me, SIGUSR1);
    got_signal = 0;
    CHECK_ERR(sys(SYS_rt_sigsuspend, &empty, KSIGSET), EINTR);
    CHECK(got_signal == SIGUSR1);
    CHECK_RET(sys(SYS_rt_sigprocmask, SIG_SETMASK, NULL, &oldset, KSIGSET), 0);
    CHECK(sigismember(&oldset, SIGUSR1));
    CHECK_ERR(sys(SYS_rt_sigsuspend, &empty, 4), EINVAL);
    CHECK_RET(sys(SYS_rt_sigprocmask, SIG_UNBLOCK, &set, NULL, KSIGSET), 0);

    stack_t ss = {.ss_sp = altstack, .ss_size = sizeof altstack, .ss_flags = 0}, oss;
    CHECK_RET(sys(SYS_sigaltstack, &ss, &oss), 0);
    CHECK(oss.ss_flags == SS_DISABLE);
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigaction(SIGUSR2, &sa, NULL);
    kill(me, SIGUSR2);
    CHECK(got_signal == SIGUSR2 && on_altstack);
    CHECK_RET(sys(SYS_sigaltstack, NULL, &oss), 0);
    CHECK(oss.ss_sp == altstack && oss.ss_size == sizeof altstack && oss.ss_flags == 0);
    ss.ss_size = 100;
    CHECK_ERR(sys(SYS_sigaltstack, &ss, NULL), ENOMEM);
    ss.ss_flags = 0x1234;
    CHECK_ERR(sys(SYS_sigaltstack, &ss, NULL), EINVAL);
    ss.ss_flags = SS_DISABLE;
    CHECK_RET(sys(SYS_sigaltstack, &ss, NULL), 0);

    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGALRM, &sa, NULL);
    CHECK_RET(sys(SYS_alarm, 5), 0);
    CHECK_RET(sys(SYS_alarm, 0), 5);
    got_signal = 0;
    CHECK_RET(sys(SYS_alarm, 1), 0);
    CHECK_ERR(sys(SYS_pause), EINTR);
    CHECK(got_signal == SIGALRM);

    /* A blocking pipe write returns when all of it is written; a signal ends it with the count. */
    static char big[BIG_WRITE];
    int p[2];
    pipe(p);
    drain_fd = p[0];
    long drained = 0;
    pthread_t reader;
    pthread_create(&reader, NULL, drain, &drained);
    CHECK_RET(write(p[1], big, BIG_WRITE), BIG_WRITE);
    close(p[1]);
    pthread_join(reader, NULL);
    CHECK(drained == BIG_WRITE);
    pipe(p);
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGALRM, &sa, NULL);
    struct itimerval soon = {{0, 0}, {0, 100000}};
    setitimer(ITIMER_REAL, &soon, NULL);
    got_signal = 0;
    CHECK_OK(write(p[1], big, BIG_WRITE));
    CHECK(got_signal == SIGALRM && last >= 4096 && last < BIG_WRITE);
    soon.it_value.tv_usec = 100000;
    setitimer(ITIMER_REAL, &soon, NULL);
    CHECK_ERR(write(p[1], big, BIG_WRITE), EINTR);

    /* A handler returns through rt_sigreturn: the interrupted registers come back. */
    volatile long before = 0x1122334455667788L;
    kill(me, SIGUSR1);
    CHECK(before == 0x1122334455667788L);
    return done();
}
