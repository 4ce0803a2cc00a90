/* reboot(2) in a pid namespace: EPERM without CAP_SYS_BOOT, EINVAL for bad magic or a command a
 * namespace refuses, and power-off ends the namespace (its init dies of SIGINT). Natively it
 * must only ever run as the init of a new pid namespace (unshare --pid --fork). */
#define _GNU_SOURCE
#include <stdio.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <sys/prctl.h>
#include <linux/capability.h>
#include <linux/reboot.h>
int main(int argc, char **argv) {
    struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct d[2];
    syscall(SYS_capget, &h, d);
    d[0].effective &= ~(1u << CAP_SYS_BOOT);
    syscall(SYS_capset, &h, d);
    long r = syscall(SYS_reboot, LINUX_REBOOT_MAGIC1, LINUX_REBOOT_MAGIC2, LINUX_REBOOT_CMD_RESTART, 0);
    printf("without CAP_SYS_BOOT: %ld %s\n", r, strerrorname_np(errno));
    fflush(stdout);
    if (argc > 1) {
        d[0].effective |= 1u << CAP_SYS_BOOT;
        syscall(SYS_capset, &h, d);
        r = syscall(SYS_reboot, LINUX_REBOOT_MAGIC1, 1, LINUX_REBOOT_CMD_RESTART, 0);
        printf("bad magic: %ld %s\n", r, strerrorname_np(errno));
        r = syscall(SYS_reboot, LINUX_REBOOT_MAGIC1, LINUX_REBOOT_MAGIC2, LINUX_REBOOT_CMD_CAD_ON, 0);
        printf("cad on: %ld %s\n", r, strerrorname_np(errno));
        fflush(stdout);
        syscall(SYS_reboot, LINUX_REBOOT_MAGIC1, LINUX_REBOOT_MAGIC2, LINUX_REBOOT_CMD_POWER_OFF, 0);
        printf("still here\n");
    }
    return 0;
}
