/* cpu_time: the CPU-time clocks and counters see a busy loop, in this process and, once
 * waited for, in a child. Prints only whether each figure moved. */
#include <stdio.h>
#include <sys/resource.h>
#include <sys/times.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void spin(void)
{
    volatile unsigned long x = 0;
    for (unsigned long i = 0; i < 600000000UL; i++) x += i;
}

static const char *moved(double seconds) { return seconds > 0.05 ? "busy" : "idle"; }

int main(void)
{
    long hz = sysconf(_SC_CLK_TCK);
    struct tms before;
    times(&before);
    printf("at start: %s\n", moved((double)before.tms_utime / hz));
    spin();
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    struct rusage self;
    getrusage(RUSAGE_SELF, &self);
    printf("process clock %s, rusage %s\n", moved(ts.tv_sec + ts.tv_nsec / 1e9),
           moved(self.ru_utime.tv_sec + self.ru_utime.tv_usec / 1e6));
    pid_t child = fork();
    if (child == 0) {
        spin();
        _exit(0);
    }
    struct tms mid;
    times(&mid);
    printf("children before wait: %s\n", moved((double)mid.tms_cutime / hz));
    waitpid(child, NULL, 0);
    struct tms after;
    times(&after);
    struct rusage children;
    getrusage(RUSAGE_CHILDREN, &children);
    printf("children after wait: %s, rusage %s\n", moved((double)after.tms_cutime / hz),
           moved(children.ru_utime.tv_sec + children.ru_utime.tv_usec / 1e6));
    return 0;
}
