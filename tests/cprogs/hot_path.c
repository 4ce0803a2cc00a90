/* While one thread runs (spinning with no syscalls, or making syscalls as fast as it can),
 * the others' timers and host sockets must still be served on time: a timed futex wait, a
 * nanosleep, an interval timer's SIGALRM, a UDP datagram. Then read(2) into buffers the
 * process may not write. Prints what happened; the test compares it with a native run. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/futex.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <x86intrin.h>
#include <fcntl.h>

/* About 5 s at 1 GHz (less on faster CPUs): far beyond the 50 ms the events are due in,
 * short enough that a missed event ends the run instead of hanging it. */
#define SPIN_LIMIT_CYCLES 5000000000ULL

static volatile int done;

enum spin { NO_SYSCALLS, WITH_SYSCALLS };

/* Spin until `done`; returns 1 when it came before the limit. */
static int spin_until_done(enum spin how)
{
    unsigned long long start = __rdtsc();
    while (!__atomic_load_n(&done, __ATOMIC_SEQ_CST)) {
        if (how == WITH_SYSCALLS)
            syscall(SYS_getppid);
        if (__rdtsc() - start > SPIN_LIMIT_CYCLES)
            return 0;
    }
    return 1;
}

static void *timed_futex_wait(void *arg)
{
    (void)arg;
    int word = 0;
    struct timespec timeout = {0, 50 * 1000 * 1000};
    long r = syscall(SYS_futex, &word, FUTEX_WAIT_PRIVATE, 0, &timeout, NULL, 0);
    if (r == -1 && errno == ETIMEDOUT)
        __atomic_store_n(&done, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

static void *short_sleep(void *arg)
{
    (void)arg;
    struct timespec pause = {0, 50 * 1000 * 1000};
    if (nanosleep(&pause, NULL) == 0)
        __atomic_store_n(&done, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

static int receiver;

static void *receive_datagram(void *arg)
{
    (void)arg;
    char buf[16];
    ssize_t n = recv(receiver, buf, sizeof buf, 0);
    if (n == 5 && memcmp(buf, "hello", 5) == 0)
        __atomic_store_n(&done, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

static void run_with_thread(const char *what, void *(*body)(void *), enum spin how)
{
    pthread_t thread;
    done = 0;
    pthread_create(&thread, NULL, body, NULL);
    int in_time = spin_until_done(how);
    printf("%s, main thread spinning %s: %s\n", what,
           how == NO_SYSCALLS ? "without syscalls" : "on getppid", in_time ? "in time" : "MISSED");
    pthread_join(thread, NULL);
}

static void datagram_while_spinning(enum spin how)
{
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof addr;
    receiver = socket(AF_INET, SOCK_DGRAM, 0);
    int sender = socket(AF_INET, SOCK_DGRAM, 0);
    if (receiver < 0 || sender < 0 || bind(receiver, (struct sockaddr *)&addr, sizeof addr) < 0
        || getsockname(receiver, (struct sockaddr *)&addr, &len) < 0) {
        printf("udp sockets: %s\n", strerror(errno));
        return;
    }
    pthread_t thread;
    done = 0;
    pthread_create(&thread, NULL, receive_datagram, NULL);
    /* Let the receiver block first, so that the datagram arrives while it waits. */
    struct timespec pause = {0, 20 * 1000 * 1000};
    nanosleep(&pause, NULL);
    sendto(sender, "hello", 5, 0, (struct sockaddr *)&addr, sizeof addr);
    int in_time = spin_until_done(how);
    printf("udp datagram to a blocked thread, main thread spinning %s: %s\n",
           how == NO_SYSCALLS ? "without syscalls" : "on getppid", in_time ? "in time" : "MISSED");
    pthread_join(thread, NULL);
    close(sender);
    close(receiver);
}

static void on_alarm(int sig)
{
    (void)sig;
    __atomic_store_n(&done, 1, __ATOMIC_SEQ_CST);
}

static void interval_timer(enum spin how)
{
    struct sigaction action = {.sa_handler = on_alarm};
    sigaction(SIGALRM, &action, NULL);
    struct itimerval timer = {.it_value = {0, 50 * 1000}};
    done = 0;
    setitimer(ITIMER_REAL, &timer, NULL);
    int in_time = spin_until_done(how);
    printf("SIGALRM of setitimer, spinning %s: %s\n",
           how == NO_SYSCALLS ? "without syscalls" : "on getppid", in_time ? "in time" : "MISSED");
}

static void show_read(const char *what, ssize_t r)
{
    if (r < 0)
        printf("%s: -1 %s\n", what, strerrorname_np(errno));
    else
        printf("%s: %zd\n", what, r);
}

/* read(2) of a large file into memory the process may not write: EFAULT, or a short count
 * when the buffer runs into such a page after some writable bytes. */
static void read_into_protected_buffers(const char *path)
{
    long page = sysconf(_SC_PAGESIZE);
    size_t size = 64 * page;
    int fd = open(path, O_RDONLY);
    char *ro = mmap(NULL, size, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    show_read("read 256 KiB into a PROT_READ buffer", read(fd, ro, size));
    show_read("pread 256 KiB into a PROT_READ buffer", pread(fd, ro, size, 0));
    char *mixed = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    mprotect(mixed + 16 * page, size - 16 * page, PROT_READ);
    show_read("pread 256 KiB into 64 KiB writable then read-only", pread(fd, mixed, size, 0));
    char check[64];
    pread(fd, check, sizeof check, 0);
    printf("  the writable part holds the file: %s\n", memcmp(check, mixed, sizeof check) == 0 ? "yes" : "no");
    printf("  the read-only part is untouched: %s\n", mixed[16 * page] == 0 ? "yes" : "no");
    char *writable = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    show_read("pread 256 KiB into a writable buffer", pread(fd, writable, size, 0));
    char *again = malloc(size);
    pread(fd, again, size, 0);
    printf("  same bytes as a second read: %s\n", memcmp(again, writable, size) == 0 ? "yes" : "no");
    close(fd);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: hot_path FILE-OF-256-KIB-OR-MORE\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IONBF, 0);
    for (enum spin how = NO_SYSCALLS; how <= WITH_SYSCALLS; how++) {
        run_with_thread("timed futex wait in another thread", timed_futex_wait, how);
        run_with_thread("nanosleep in another thread", short_sleep, how);
        datagram_while_spinning(how);
        interval_timer(how);
    }
    read_into_protected_buffers(argv[1]);
    return 0;
}
