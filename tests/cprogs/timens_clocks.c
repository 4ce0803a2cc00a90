/* Time namespaces (time_namespaces(7)): unshare(CLONE_NEWTIME) for the caller's children,
 * /proc/self/timens_offsets (format, EINVAL, ERANGE, EACCES once entered, EPERM without
 * CAP_SYS_TIME), the clocks a child reads (MONOTONIC, _RAW, _COARSE, BOOTTIME, REALTIME),
 * absolute clock_nanosleep, timerfd and POSIX timers, /proc/uptime and sysinfo, setns(2)
 * with /proc/PID/ns/time (EINVAL, EUSERS), clone3(CLONE_NEWTIME), and entering at execve.
 * Prints only offsets and outcomes, so a native run (as root) and a sandboxed one must match. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "timens_check.h"

static double now(clockid_t clock) {
    struct timespec ts;
    if (clock_gettime(clock, &ts) != 0)
        return -1;
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double uptime(void) {
    double up = -1;
    FILE *f = fopen("/proc/uptime", "r");
    if (f) {
        if (fscanf(f, "%lf", &up) != 1)
            up = -1;
        fclose(f);
    }
    return up;
}

static long sysinfo_uptime(void) {
    struct sysinfo info;
    return sysinfo(&info) == 0 ? info.uptime : -1;
}

static void show_offsets(const char *label) {
    char buf[256] = "";
    int fd = open("/proc/self/timens_offsets", O_RDONLY);
    ssize_t n = read(fd, buf, sizeof buf - 1);
    buf[n < 0 ? 0 : n] = 0;
    close(fd);
    printf("%s:\n%s", label, buf);
}

static long write_offsets(const char *text) {
    int fd = open("/proc/self/timens_offsets", O_WRONLY);
    if (fd < 0)
        return -1;
    long rc = write(fd, text, strlen(text));
    int saved = errno;
    close(fd);
    errno = saved;
    return rc;
}

/* Rounded seconds between what the child and its parent read: the offset. */
static long offset_of(double child, double parent) {
    return (long)(child - parent + (child >= parent ? 0.5 : -0.5));
}

struct readings { double mono, raw, coarse, boot, real, up; long sys_up; };

static void read_all(struct readings *r) {
    r->mono = now(CLOCK_MONOTONIC);
    r->raw = now(CLOCK_MONOTONIC_RAW);
    r->coarse = now(CLOCK_MONOTONIC_COARSE);
    r->boot = now(CLOCK_BOOTTIME);
    r->real = now(CLOCK_REALTIME);
    r->up = uptime();
    r->sys_up = sysinfo_uptime();
}

static void print_offsets_seen(const char *label, struct readings *child, struct readings *parent) {
    printf("%s: monotonic %ld raw %ld coarse %ld boottime %ld realtime %ld /proc/uptime %ld sysinfo +1000 %d\n",
           label, offset_of(child->mono, parent->mono), offset_of(child->raw, parent->raw),
           offset_of(child->coarse, parent->coarse), offset_of(child->boot, parent->boot),
           offset_of(child->real, parent->real), offset_of(child->up, parent->up),
           child->sys_up - parent->sys_up >= 999 && child->sys_up - parent->sys_up <= 1002);
}

/* Timers set with absolute times of the child's clocks fire after the relative time, not 500 s
 * early or late. */
static void absolute_timers(void) {
    struct timespec start, deadline, end;
    clock_gettime(CLOCK_MONOTONIC, &start);
    deadline = start;
    deadline.tv_nsec += 100 * 1000 * 1000;
    if (deadline.tv_nsec >= 1000000000) { deadline.tv_sec++; deadline.tv_nsec -= 1000000000; }
    double real_start = now(CLOCK_REALTIME);
    int rc = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &deadline, NULL);
    double slept = now(CLOCK_REALTIME) - real_start;
    clock_gettime(CLOCK_MONOTONIC, &end);
    printf("absolute clock_nanosleep: rc %d, woke after the deadline %d, slept under 10 s %d, at least 50 ms %d\n",
           rc, end.tv_sec > deadline.tv_sec || (end.tv_sec == deadline.tv_sec && end.tv_nsec >= deadline.tv_nsec),
           slept < 10, slept >= 0.05);

    clockid_t clocks[] = {CLOCK_MONOTONIC, CLOCK_BOOTTIME};
    const char *names[] = {"monotonic", "boottime"};
    for (int i = 0; i < 2; i++) {
        int tfd = timerfd_create(clocks[i], 0);
        struct itimerspec spec = {0};
        clock_gettime(clocks[i], &spec.it_value);
        spec.it_value.tv_sec += 1;      /* one second from now, as this namespace counts */
        int set = timerfd_settime(tfd, TFD_TIMER_ABSTIME, &spec, NULL);
        struct itimerspec left;
        timerfd_gettime(tfd, &left);
        printf("timerfd %s absolute: set %d, remaining at most 1 s and not yet 0 %d\n", names[i], set,
               (left.it_value.tv_sec == 0 && left.it_value.tv_nsec > 0) ||
               (left.it_value.tv_sec == 1 && left.it_value.tv_nsec == 0));
        spec.it_value.tv_sec -= 1;
        spec.it_value.tv_nsec = 0;      /* already past: fires at once */
        timerfd_settime(tfd, TFD_TIMER_ABSTIME, &spec, NULL);
        uint64_t expirations = 0;
        ssize_t n = read(tfd, &expirations, sizeof expirations);
        printf("timerfd %s past absolute time: read %zd, expirations %llu\n", names[i], n,
               (unsigned long long)expirations);
        close(tfd);
    }

    timer_t timer;
    struct sigevent event = {.sigev_notify = SIGEV_NONE};
    timer_create(CLOCK_MONOTONIC, &event, &timer);
    struct itimerspec spec = {0}, left;
    clock_gettime(CLOCK_MONOTONIC, &spec.it_value);
    spec.it_value.tv_sec += 100;
    timer_settime(timer, TIMER_ABSTIME, &spec, NULL);
    timer_gettime(timer, &left);
    printf("posix timer absolute +100 s: remaining between 90 and 100 s %d\n",
           left.it_value.tv_sec >= 90 && left.it_value.tv_sec < 100 + (left.it_value.tv_nsec == 0));
    timer_delete(timer);
}

static void *sleeper(void *arg) {
    (void)arg;
    pause();
    return NULL;
}

static long clone3_newtime(void) {
    struct clone_args args = {.flags = CLONE_NEWTIME, .exit_signal = SIGCHLD};
    return syscall(SYS_clone3, &args, sizeof args);
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "after-exec") == 0) {
        char time_link[64], children_link[64];
        link_of("/proc/self/ns/time", time_link, sizeof time_link);
        link_of("/proc/self/ns/time_for_children", children_link, sizeof children_link);
        printf("after exec: in the namespace for children %d, both links agree %d\n",
               strcmp(time_link, argv[2]) == 0, strcmp(time_link, children_link) == 0);
        show_offsets("after exec, offsets");
        return 0;
    }
    setvbuf(stdout, NULL, _IONBF, 0);
    char first[64], link[64], children_link[64];
    link_of("/proc/self/ns/time", first, sizeof first);
    link_of("/proc/self/ns/time_for_children", children_link, sizeof children_link);
    printf("first namespace: links agree %d\n", strcmp(first, children_link) == 0);
    show_offsets("first namespace offsets");
    result("write offsets of the first namespace", write_offsets("monotonic 1 0\n"));
    int first_fd = open("/proc/self/ns/time", O_RDONLY);

    result("unshare(CLONE_NEWTIME)", unshare(CLONE_NEWTIME));
    link_of("/proc/self/ns/time", link, sizeof link);
    link_of("/proc/self/ns/time_for_children", children_link, sizeof children_link);
    printf("after unshare: caller stays %d, children's differs %d\n", strcmp(link, first) == 0,
           strcmp(children_link, first) != 0);
    result("offsets: nanoseconds 1000000000", write_offsets("monotonic 1 1000000000\n"));
    result("offsets: realtime", write_offsets("realtime 1 0\n"));
    result("offsets: missing number", write_offsets("monotonic 1\n"));
    result("offsets: blank second line", write_offsets("monotonic 1 0\n\n"));
    result("offsets: monotonic below zero", write_offsets("monotonic -100000000 0\n"));
    result("offsets: boottime past KTIME_SEC_MAX/2", write_offsets("boottime 4611686018 0\n"));
    result("offsets: by number", write_offsets("1 7 0\n7 8 0\n"));
    show_offsets("offsets by number");
    result("offsets: three lines (two taken)", write_offsets("monotonic 500 0\nboottime 1000 0\nbogus\n"));
    show_offsets("offsets set");
    result("offsets: negative with nanoseconds", write_offsets("boottime -1 500000000\n"));
    show_offsets("negative offset");
    result("offsets: again", write_offsets("boottime 1000 0\n"));

    struct readings parent, child;
    int pipefd[2];
    pipe(pipefd);
    read_all(&parent);
    pid_t pid = fork();
    if (pid == 0) {
        read_all(&child);
        print_offsets_seen("child sees", &child, &parent);
        char child_link[64];
        link_of("/proc/self/ns/time", child_link, sizeof child_link);
        printf("child is in the parent's namespace for children %d\n", strcmp(child_link, children_link) == 0);
        absolute_timers();
        char c;
        read(pipefd[0], &c, 1);         /* stay alive while the parent joins our namespace */
        _exit(0);
    }
    usleep(200 * 1000);
    result("offsets after a child entered", write_offsets("monotonic 1 0\n"));

    char path[64];
    snprintf(path, sizeof path, "/proc/%d/ns/time", pid);
    int child_fd = open(path, O_RDONLY);
    result("setns(time fd, CLONE_NEWNS)", setns(child_fd, CLONE_NEWNS));
    double before = now(CLOCK_MONOTONIC);
    result("setns(time fd, CLONE_NEWTIME)", setns(child_fd, CLONE_NEWTIME));
    printf("after setns: monotonic jumped %ld s, links agree %d\n", offset_of(now(CLOCK_MONOTONIC), before),
           (link_of("/proc/self/ns/time", link, sizeof link), link_of("/proc/self/ns/time_for_children",
            children_link, sizeof children_link), strcmp(link, children_link) == 0));
    result("setns(first namespace, 0)", setns(first_fd, 0));
    printf("back: monotonic moved %ld s\n", offset_of(now(CLOCK_MONOTONIC), before));
    write(pipefd[1], "x", 1);
    int status;
    waitpid(pid, &status, 0);

    pthread_t thread;
    pthread_create(&thread, NULL, sleeper, NULL);
    result("setns(time) with two threads", setns(child_fd, CLONE_NEWTIME));

    pid = fork();                       /* a fresh single-threaded process for the rest */
    if (pid == 0) {
        char before_link[64], new_link[64];
        result("unshare(CLONE_NEWTIME) again", unshare(CLONE_NEWTIME));
        link_of("/proc/self/ns/time_for_children", before_link, sizeof before_link);
        write_offsets("monotonic 42 0\n");
        long child = clone3_newtime();
        if (child == 0) {
            link_of("/proc/self/ns/time", new_link, sizeof new_link);
            printf("clone3 child: own namespace %d, new one %d\n", strcmp(new_link, before_link) != 0,
                   strcmp(new_link, first) != 0);
            show_offsets("clone3 child offsets (inherited)");
            result("clone3 child writes offsets", write_offsets("monotonic 2 0\n"));
            _exit(0);
        }
        if (child < 0)
            result("clone3(CLONE_NEWTIME)", child);
        waitpid(child, &status, 0);
        result("offsets still settable after clone3", write_offsets("monotonic 7 0\n"));
        char self[64];
        snprintf(self, sizeof self, "/proc/%d/exe", getpid());
        char exe[256];
        ssize_t n = readlink(self, exe, sizeof exe - 1);
        exe[n < 0 ? 0 : n] = 0;
        execl(exe, exe, "after-exec", before_link, (char *)NULL);
        _exit(127);
    }
    waitpid(pid, &status, 0);

    pid = fork();
    if (pid == 0) {
        int fd = open("/proc/self/timens_offsets", O_WRONLY);
        unshare(CLONE_NEWTIME);
        if (setresuid(65534, 65534, 65534) != 0)
            _exit(1);
        prctl(PR_SET_DUMPABLE, 1);      /* /proc/self stays the process's own after the uid change */
        result("unprivileged unshare(CLONE_NEWTIME)", unshare(CLONE_NEWTIME));
        result("unprivileged setns(time)", setns(first_fd, CLONE_NEWTIME));
        int mine = open("/proc/self/timens_offsets", O_WRONLY);
        result("unprivileged opener writes offsets", write(mine, "monotonic 1 0\n", 14));
        result("privileged opener's fd writes offsets", write(fd, "monotonic 1 0\n", 14));
        _exit(0);
    }
    waitpid(pid, &status, 0);

    pid = fork();
    if (pid == 0) {                     /* setns into one's own namespace for children */
        unshare(CLONE_NEWTIME);
        write_offsets("boottime 5 0\n");
        int fd = open("/proc/self/ns/time_for_children", O_RDONLY);
        double before_boot = now(CLOCK_BOOTTIME);
        result("setns(time_for_children)", setns(fd, CLONE_NEWTIME));
        printf("boottime jumped %ld s\n", offset_of(now(CLOCK_BOOTTIME), before_boot));
        result("offsets once entered by setns", write_offsets("boottime 6 0\n"));
        _exit(0);
    }
    waitpid(pid, &status, 0);
    return 0;
}
