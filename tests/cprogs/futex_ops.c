#define _GNU_SOURCE
/* futex(2) operations against real waiters: WAIT/WAKE and their errors,
 * relative and absolute timeouts, bitsets, REQUEUE/CMP_REQUEUE, WAKE_OP,
 * shared futexes across fork, and EINTR from a signal handler. */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long futex(uint32_t *uaddr, int op, uint32_t val, const struct timespec *timeout, uint32_t *uaddr2,
                  uint32_t val3)
{
    return syscall(SYS_futex, uaddr, op, val, timeout, uaddr2, val3);
}

/* FUTEX_REQUEUE and friends take their second count in the timeout argument. */
static long futex_requeue(uint32_t *uaddr, int op, uint32_t wake, uint32_t requeue, uint32_t *uaddr2,
                          uint32_t val3)
{
    return syscall(SYS_futex, uaddr, op, wake, (unsigned long)requeue, uaddr2, val3);
}

static void show(const char *what, long ret)
{
    if (ret < 0)
        printf("%s: -1 %s\n", what, strerrorname_np(errno));
    else
        printf("%s: %ld\n", what, ret);
}

static double now(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static struct timespec in_ms(clockid_t clock, long ms)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    ts.tv_nsec += ms * 1000000L;
    ts.tv_sec += ts.tv_nsec / 1000000000L;
    ts.tv_nsec %= 1000000000L;
    return ts;
}

static const char *waited_about(double start, double seconds)
{
    double waited = now(CLOCK_MONOTONIC) - start;
    return waited >= seconds - 0.001 && waited < seconds + 0.45 ? "yes" : "no";
}

/* How many tasks wait on `word` (a requeue onto itself moves nobody). */
static long waiters_on(uint32_t *word, int private_flag)
{
    return futex_requeue(word, FUTEX_CMP_REQUEUE | private_flag, 0, INT_MAX, word, *word);
}

static void await_waiters(uint32_t *word, int private_flag, long n)
{
    for (int i = 0; i < 2000 && waiters_on(word, private_flag) < n; i++)
        usleep(1000);
}

struct waiter {
    uint32_t *word;
    uint32_t bitset;
    long result;
    int error;
    pthread_t thread;
};

static void *wait_on_word(void *arg)
{
    struct waiter *w = arg;
    w->result = futex(w->word, FUTEX_WAIT_BITSET_PRIVATE, *w->word, NULL, NULL, w->bitset);
    w->error = w->result < 0 ? errno : 0;
    return NULL;
}

static void start_waiters(struct waiter *w, int n, uint32_t *word, uint32_t bitset)
{
    for (int i = 0; i < n; i++) {
        w[i] = (struct waiter){.word = word, .bitset = bitset};
        pthread_create(&w[i].thread, NULL, wait_on_word, &w[i]);
    }
}

static int join_waiters(struct waiter *w, int n)
{
    int ok = 0;
    for (int i = 0; i < n; i++) {
        pthread_join(w[i].thread, NULL);
        ok += w[i].result == 0;
    }
    return ok;
}

static void errors_and_timeouts(void)
{
    static uint32_t word = 1;
    struct timespec rel = {0, 50 * 1000000L}, bad = {0, 1000000000L}, abs_ts;
    double start;

    show("WAIT with a different value", futex(&word, FUTEX_WAIT_PRIVATE, 2, NULL, NULL, 0));
    show("WAIT unaligned address", futex((uint32_t *)((char *)&word + 1), FUTEX_WAIT_PRIVATE, 1, NULL, NULL, 0));
    show("WAKE unaligned address", futex((uint32_t *)((char *)&word + 2), FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0));
    show("WAIT on unmapped memory", futex((uint32_t *)8, FUTEX_WAIT_PRIVATE, 1, NULL, NULL, 0));
    show("private WAKE on unmapped memory", futex((uint32_t *)8, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0));
    show("shared WAKE on unmapped memory", futex((uint32_t *)8, FUTEX_WAKE, 1, NULL, NULL, 0));
    show("REQUEUE with a negative count", futex_requeue(&word, FUTEX_REQUEUE_PRIVATE, 1, -1, &word, 0));
    show("WAIT with tv_nsec 1e9", futex(&word, FUTEX_WAIT_PRIVATE, 1, &bad, NULL, 0));
    show("WAIT_BITSET with bitset 0", futex(&word, FUTEX_WAIT_BITSET_PRIVATE, 1, NULL, NULL, 0));
    show("unknown op 99", futex(&word, 99, 1, NULL, NULL, 0));
    show("WAKE with no waiters", futex(&word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0));

    start = now(CLOCK_MONOTONIC);
    show("WAIT relative 50ms", futex(&word, FUTEX_WAIT_PRIVATE, 1, &rel, NULL, 0));
    printf("  waited 50ms to 500ms: %s\n", waited_about(start, 0.05));

    start = now(CLOCK_MONOTONIC);
    abs_ts = in_ms(CLOCK_MONOTONIC, 50);
    show("WAIT_BITSET absolute CLOCK_MONOTONIC +50ms",
         futex(&word, FUTEX_WAIT_BITSET_PRIVATE, 1, &abs_ts, NULL, FUTEX_BITSET_MATCH_ANY));
    printf("  waited 50ms to 500ms: %s\n", waited_about(start, 0.05));

    start = now(CLOCK_MONOTONIC);
    abs_ts = in_ms(CLOCK_REALTIME, 50);
    show("WAIT_BITSET absolute CLOCK_REALTIME +50ms",
         futex(&word, FUTEX_WAIT_BITSET_PRIVATE | FUTEX_CLOCK_REALTIME, 1, &abs_ts, NULL, FUTEX_BITSET_MATCH_ANY));
    printf("  waited 50ms to 500ms: %s\n", waited_about(start, 0.05));

    start = now(CLOCK_MONOTONIC);
    show("WAIT relative 50ms with FUTEX_CLOCK_REALTIME",
         futex(&word, FUTEX_WAIT_PRIVATE | FUTEX_CLOCK_REALTIME, 1, &rel, NULL, 0));
    printf("  waited 50ms to 500ms: %s\n", waited_about(start, 0.05));

    abs_ts = (struct timespec){0, 1};
    show("WAIT_BITSET absolute deadline in the past",
         futex(&word, FUTEX_WAIT_BITSET_PRIVATE, 1, &abs_ts, NULL, FUTEX_BITSET_MATCH_ANY));
}

static void wake_counts(void)
{
    static uint32_t word;
    struct waiter w[4];
    start_waiters(w, 4, &word, FUTEX_BITSET_MATCH_ANY);
    await_waiters(&word, FUTEX_PRIVATE_FLAG, 4);
    show("waiters counted by a requeue onto the same word", waiters_on(&word, FUTEX_PRIVATE_FLAG));
    show("WAKE 1 of 4", futex(&word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0));
    show("WAKE 0 of 3 (Linux wakes one)", futex(&word, FUTEX_WAKE_PRIVATE, 0, NULL, NULL, 0));
    show("WAKE INT_MAX of 2", futex(&word, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0));
    printf("  waiters returned 0: %d\n", join_waiters(w, 4));
}

static void wake_bitset(void)
{
    static uint32_t word;
    struct waiter low[1], high[1];
    start_waiters(low, 1, &word, 0x1);
    start_waiters(high, 1, &word, 0x2);
    await_waiters(&word, FUTEX_PRIVATE_FLAG, 2);
    show("WAKE_BITSET 0x2 with waiters on 0x1 and 0x2",
         futex(&word, FUTEX_WAKE_BITSET_PRIVATE, INT_MAX, NULL, NULL, 0x2));
    pthread_join(high[0].thread, NULL);
    show("WAKE_BITSET 0x4", futex(&word, FUTEX_WAKE_BITSET_PRIVATE, INT_MAX, NULL, NULL, 0x4));
    show("WAKE_BITSET 0", futex(&word, FUTEX_WAKE_BITSET_PRIVATE, INT_MAX, NULL, NULL, 0));
    show("WAKE (any bitset)", futex(&word, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0));
    pthread_join(low[0].thread, NULL);
}

static void requeue(void)
{
    static uint32_t from = 7, to;
    struct waiter w[3];
    start_waiters(w, 3, &from, FUTEX_BITSET_MATCH_ANY);
    await_waiters(&from, FUTEX_PRIVATE_FLAG, 3);
    show("CMP_REQUEUE with a stale value", futex_requeue(&from, FUTEX_CMP_REQUEUE_PRIVATE, 1, 1, &to, 8));
    show("REQUEUE wake 1, move 1", futex_requeue(&from, FUTEX_REQUEUE_PRIVATE, 1, 1, &to, 0));
    show("  left on the first word", waiters_on(&from, FUTEX_PRIVATE_FLAG));
    show("  now on the second word", waiters_on(&to, FUTEX_PRIVATE_FLAG));
    show("CMP_REQUEUE wake 0, move all", futex_requeue(&from, FUTEX_CMP_REQUEUE_PRIVATE, 0, INT_MAX, &to, 7));
    show("WAKE the second word", futex(&to, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0));
    printf("  waiters returned 0: %d\n", join_waiters(w, 3));
}

static void wake_op(void)
{
    static uint32_t first, second = 5;
    struct waiter a[1], b[1];
    start_waiters(a, 1, &first, FUTEX_BITSET_MATCH_ANY);
    start_waiters(b, 1, &second, FUTEX_BITSET_MATCH_ANY);
    await_waiters(&first, FUTEX_PRIVATE_FLAG, 1);
    await_waiters(&second, FUTEX_PRIVATE_FLAG, 1);
    show("WAKE_OP add 3 if old == 6 (false)",
         futex_requeue(&first, FUTEX_WAKE_OP_PRIVATE, 0, 1, &second, FUTEX_OP(FUTEX_OP_ADD, 3, FUTEX_OP_CMP_EQ, 6)));
    printf("  second word now %u\n", second);
    show("WAKE_OP or 1<<4 if old > 7 (true)",
         futex_requeue(&first, FUTEX_WAKE_OP_PRIVATE, 1, 1, &second,
                       FUTEX_OP((FUTEX_OP_OR | FUTEX_OP_OPARG_SHIFT), 4, FUTEX_OP_CMP_GT, 7)));
    printf("  second word now %u\n", second);
    printf("  waiters returned 0: %d\n", join_waiters(a, 1) + join_waiters(b, 1));
    show("WAKE_OP with an unknown op", futex_requeue(&first, FUTEX_WAKE_OP_PRIVATE, 1, 1, &second,
                                                    FUTEX_OP(7, 0, FUTEX_OP_CMP_EQ, 0)));
}

static void shared_across_fork(void)
{
    uint32_t *word = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    int status;
    *word = 0;
    pid_t pid = fork();
    if (pid == 0) {
        while (*word == 0)
            futex(word, FUTEX_WAIT, 0, NULL, NULL, 0);
        _exit(*word);
    }
    await_waiters(word, 0, 1);
    show("shared: child waiting on MAP_SHARED memory", waiters_on(word, 0));
    show("shared: private WAKE misses it", futex(word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0));
    *word = 33;
    show("shared: WAKE from the parent", futex(word, FUTEX_WAKE, 1, NULL, NULL, 0));
    waitpid(pid, &status, 0);
    printf("  child woke and exited %d\n", WEXITSTATUS(status));
    munmap(word, 4096);
}

static volatile sig_atomic_t handled;

static void on_alarm(int signo)
{
    (void)signo;
    handled++;
}

struct delayed_signal {
    pthread_t target;
    long ms;
};

static void *send_sigalrm_later(void *arg)
{
    struct delayed_signal *request = arg;
    usleep(request->ms * 1000);
    pthread_kill(request->target, SIGALRM);
    return NULL;
}

/* SIGALRM to the calling thread in `ms` milliseconds (setitimer without the timer). */
static pthread_t alarm_me_in_ms(struct delayed_signal *request, long ms)
{
    pthread_t thread;
    *request = (struct delayed_signal){pthread_self(), ms};
    pthread_create(&thread, NULL, send_sigalrm_later, request);
    return thread;
}

static void *wake_after_handler(void *arg)
{
    uint32_t *word = arg;
    while (!handled)
        usleep(1000);
    usleep(20000);
    *word = 1;
    futex(word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
    return NULL;
}

static void interrupted_by_signal(void)
{
    static uint32_t word;
    struct sigaction sa = {.sa_handler = on_alarm};
    struct timespec long_wait = {2, 0};
    struct delayed_signal request;
    pthread_t signaller, waker;

    sigaction(SIGALRM, &sa, NULL);
    handled = 0;
    signaller = alarm_me_in_ms(&request, 50);
    show("WAIT without timeout, handler without SA_RESTART",
         futex(&word, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0));
    printf("  handler ran: %d\n", handled);
    pthread_join(signaller, NULL);

    sa.sa_flags = SA_RESTART;
    sigaction(SIGALRM, &sa, NULL);
    handled = 0;
    signaller = alarm_me_in_ms(&request, 50);
    show("WAIT with timeout, SA_RESTART handler", futex(&word, FUTEX_WAIT_PRIVATE, 0, &long_wait, NULL, 0));
    printf("  handler ran: %d\n", handled);
    pthread_join(signaller, NULL);

    handled = 0;
    pthread_create(&waker, NULL, wake_after_handler, &word);
    signaller = alarm_me_in_ms(&request, 50);
    show("WAIT without timeout, SA_RESTART handler, then woken", futex(&word, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0));
    printf("  handler ran: %d, word %u\n", handled, word);
    pthread_join(signaller, NULL);
    pthread_join(waker, NULL);
    signal(SIGALRM, SIG_DFL);
}

/* A stop in the middle of a timed wait restarts it (restart_syscall) with the same deadline. */
static void timed_wait_across_stop_and_continue(void)
{
    int status;
    pid_t pid = fork();
    if (pid == 0) {
        static uint32_t word;
        struct timespec timeout = {0, 300 * 1000000L};
        double start = now(CLOCK_MONOTONIC);
        long ret = futex(&word, FUTEX_WAIT_PRIVATE, 0, &timeout, NULL, 0);
        int timed_out = ret < 0 && errno == ETIMEDOUT;
        _exit(timed_out && strcmp(waited_about(start, 0.3), "yes") == 0 ? 0 : 1);
    }
    usleep(50000);
    kill(pid, SIGSTOP);
    waitpid(pid, &status, WUNTRACED);
    usleep(50000);
    kill(pid, SIGCONT);
    waitpid(pid, &status, 0);
    printf("timed WAIT stopped and continued: ETIMEDOUT after 300ms: %s\n",
           WIFEXITED(status) && WEXITSTATUS(status) == 0 ? "yes" : "no");
}

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    errors_and_timeouts();
    wake_counts();
    wake_bitset();
    requeue();
    wake_op();
    shared_across_fork();
    interrupted_by_signal();
    timed_wait_across_stop_and_continue();
    return 0;
}
