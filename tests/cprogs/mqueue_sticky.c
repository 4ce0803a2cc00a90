/* mq_unlink(3) in the mqueue filesystem's sticky root: a queue goes only at the hand of its
 * owner, of the root directory's owner, or of a task with CAP_FOWNER (Linux's check_sticky),
 * whatever the task's uid: root is no exception. Runs as root; natively in an IPC and mount
 * namespace of its own. argv[1]: an empty directory to mount the mqueue filesystem on. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <mqueue.h>
#include <stdio.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fs_check.h"

/* CAP_FOWNER in the effective set, or not (the permitted set keeps it). */
static void set_fowner(int on) {
    struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2];
    syscall(SYS_capget, &header, data);
    data[0].effective = on ? data[0].permitted : data[0].permitted & ~(1u << CAP_FOWNER);
    data[1].effective = data[1].permitted;
    if (syscall(SYS_capset, &header, data) < 0)
        perror("capset");
}

/* A queue owned by `uid` (a queue's owner is its creator's fsuid). */
static void make_queue(const char *name, uid_t uid) {
    setfsuid(uid);
    mqd_t queue = mq_open(name, O_CREAT | O_RDWR, 0666, NULL);
    if (queue == (mqd_t)-1)
        perror(name);
    mq_close(queue);
    setfsuid(0);
    set_fowner(1);
}

static void unlink_as(const char *label, const char *name, uid_t fsuid, int fowner) {
    setfsuid(fsuid);
    set_fowner(fowner);
    report(label, syscall(SYS_mq_unlink, name + 1));  /* glibc's mq_unlink turns EPERM into EACCES */
    setfsuid(0);
    set_fowner(1);
    mq_unlink(name);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: mqueue_sticky DIR\n");
        return 2;
    }
    const char *names[] = {"/sticky-a", "/sticky-b", "/sticky-c", "/sticky-d", "/sticky-e", "/sticky-f"};
    for (int i = 0; i < 6; i++)
        make_queue(names[i], 1000);
    unlink_as("root without CAP_FOWNER, the root directory's owner", names[0], 0, 0);
    unlink_as("uid 2000 with CAP_FOWNER", names[1], 2000, 1);
    unlink_as("uid 2000 without CAP_FOWNER", names[2], 2000, 0);
    unlink_as("uid 1000, the owner, without CAP_FOWNER", names[3], 1000, 0);
    unlink_as("root with CAP_FOWNER", names[4], 0, 1);
    mkdir(argv[1], 0755);
    report("mount mqueue", mount("mqueue", argv[1], "mqueue", 0, NULL));
    report("chown the root directory to uid 3000", chown(argv[1], 3000, 3000));
    unlink_as("root without CAP_FOWNER, the root directory uid 3000's", names[5], 0, 0);
    report("chown the root directory back", chown(argv[1], 0, 0));
    return 0;
}
