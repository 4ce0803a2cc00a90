/* Host devices and kernel interfaces:
 *   dev_mem        open /dev/mem (no write is made)
 *   dev_kmsg       write a marker to the kernel log (the harness looks for it on the host)
 *   sysrq_trigger  write 'h' (print help to the kernel log) to /proc/sysrq-trigger
 *   tiocsti        push input into the controlling terminal (stdin) with TIOCSTI */
#include "attack.h"
#include <sys/ioctl.h>
#include <sys/sysmacros.h>

static int open_device(const char *path, int major_nr, int minor_nr, int flags)
{
    int fd = open(path, flags);
    if (fd < 0 && errno == ENOENT) {
        /* Make the node ourselves, as a root user with CAP_MKNOD might. */
        mkdir("/tmp", 01777);
        unlink("/tmp/psb-dev");
        if (mknod("/tmp/psb-dev", S_IFCHR | 0600, makedev(major_nr, minor_nr)) == 0)
            fd = open("/tmp/psb-dev", flags);
    }
    return fd;
}

int main(int argc, char **argv)
{
    const char *how = argc > 1 ? argv[1] : "";
    if (!strcmp(how, "dev_mem")) {
        int fd = open_device("/dev/mem", 1, 1, O_RDWR);
        char byte;
        if (fd >= 0 && pread(fd, &byte, 1, 0x100000) == 1)
            evidence("opened /dev/mem for writing and read physical memory");
        else
            blocked("/dev/mem: %s", strerror(errno));
    } else if (!strcmp(how, "dev_kmsg")) {
        int fd = open_device("/dev/kmsg", 1, 11, O_WRONLY);
        const char *marker = need_env("KMSG_MARKER");
        char line[256];
        int len = snprintf(line, sizeof(line), "%s\n", marker);
        if (fd >= 0 && write(fd, line, len) == len)
            say("info", "wrote the marker to kmsg");
        else
            blocked("/dev/kmsg: %s", strerror(errno));
    } else if (!strcmp(how, "sysrq_trigger")) {
        int fd = open("/proc/sysrq-trigger", O_WRONLY);
        if (fd >= 0 && write(fd, "h", 1) == 1)
            evidence("wrote to /proc/sysrq-trigger");
        else
            blocked("/proc/sysrq-trigger: %s", strerror(errno));
    } else if (!strcmp(how, "tiocsti")) {
        const char *text = need_env("TIOCSTI_MARKER");
        int pushed = 0;
        for (const char *c = text; *c; c++)
            if (ioctl(0, TIOCSTI, c) == 0)
                pushed++;
        if (pushed)
            say("info", "TIOCSTI pushed %d bytes", pushed);
        else
            blocked("TIOCSTI: %s", strerror(errno));
    } else {
        return 2;
    }
    return 0;
}
