/* The sandbox's boot-time clock as a program sees it four ways: /proc/uptime,
   clock_gettime(CLOCK_BOOTTIME), sysinfo(2).uptime and btime in /proc/stat, with
   time(2) and the starttime of pid 1 in /proc/1/stat. Prints raw values. */
#include <stdio.h>
#include <string.h>
#include <sys/sysinfo.h>
#include <time.h>
#include <unistd.h>

int main(void)
{
    double proc_uptime, idle;
    FILE *f = fopen("/proc/uptime", "r");
    if (!f || fscanf(f, "%lf %lf", &proc_uptime, &idle) != 2) {
        perror("/proc/uptime");
        return 1;
    }
    fclose(f);
    struct timespec boottime;
    clock_gettime(CLOCK_BOOTTIME, &boottime);
    struct sysinfo info;
    sysinfo(&info);
    long long btime = -1;
    char line[512];
    f = fopen("/proc/stat", "r");
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "btime %lld", &btime) == 1)
            break;
    if (f)
        fclose(f);
    long long now = time(NULL);
    unsigned long long starttime = 0;
    f = fopen("/proc/1/stat", "r");
    if (f && fgets(line, sizeof line, f)) {
        char *field = strrchr(line, ')') + 2;       /* field 3, state */
        for (int n = 3; n < 22; n++)
            field = strchr(field, ' ') + 1;
        sscanf(field, "%llu", &starttime);
    }
    if (f)
        fclose(f);
    printf("proc_uptime %.2f\nboottime %.9f\nsysinfo %ld\nbtime %lld\nnow %lld\npid1_start %.2f\n",
           proc_uptime, boottime.tv_sec + boottime.tv_nsec / 1e9, info.uptime, btime, now,
           (double)starttime / sysconf(_SC_CLK_TCK));
    return 0;
}
