/* kernel.msgmax and kernel.msgmnb, written through /proc/sys, limit SysV message queues; raising
 * a queue's msg_qbytes past msgmnb needs CAP_SYS_RESOURCE. Natively it must run in an IPC
 * namespace of its own (unshare --ipc), whose sysctls these are. */
#include "fs_check.h"
#include <fcntl.h>
#include <linux/capability.h>
#include <sys/msg.h>
#include <sys/syscall.h>
#include <unistd.h>

static long write_sysctl(const char *path, const char *value) {
    int fd = open(path, O_WRONLY);
    if (fd < 0)
        return -1;
    long rc = write(fd, value, strlen(value));
    close(fd);
    return rc;
}

int main(void) {
    struct { long type; char text[512]; } message = {1, {0}};
    struct msqid_ds stat;
    report("msgmax=100", write_sysctl("/proc/sys/kernel/msgmax", "100\n"));
    report("msgmnb=300", write_sysctl("/proc/sys/kernel/msgmnb", "300\n"));
    int queue = msgget(IPC_PRIVATE, 0600);
    report("send 200 bytes", msgsnd(queue, &message, 200, IPC_NOWAIT));
    report("send 100 bytes", msgsnd(queue, &message, 100, IPC_NOWAIT));
    report("IPC_STAT", msgctl(queue, IPC_STAT, &stat));
    printf("msg_qbytes %lu\n", (unsigned long)stat.msg_qbytes);

    struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2];
    syscall(SYS_capget, &header, data);
    data[0].effective &= ~(1u << CAP_SYS_RESOURCE);
    syscall(SYS_capset, &header, data);
    stat.msg_qbytes = 400;
    report("raise msg_qbytes past msgmnb without CAP_SYS_RESOURCE", msgctl(queue, IPC_SET, &stat));
    stat.msg_qbytes = 250;
    report("lower msg_qbytes", msgctl(queue, IPC_SET, &stat));
    report("IPC_RMID", msgctl(queue, IPC_RMID, NULL));
    return 0;
}
