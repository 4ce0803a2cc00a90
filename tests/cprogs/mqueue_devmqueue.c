/* The OCI config's /dev/mqueue: a queue made with mq_open(3) shows up there as a status file. */
#include "fs_check.h"
#include <dirent.h>
#include <fcntl.h>
#include <mqueue.h>
#include <stdlib.h>
#include <unistd.h>

int main(void) {
    mqd_t q = mq_open("/oci-queue", O_RDWR | O_CREAT, 0600, NULL);
    R("mq_open", q >= 0);
    R("mq_send", mq_send(q, "hello", 5, 3));
    int fd = open("/dev/mqueue/oci-queue", O_RDONLY);
    char status[128] = {0};
    R("read status", read(fd, status, sizeof status - 1));
    printf("%s", status);
    DIR *d = opendir("/dev/mqueue");
    struct dirent *e;
    while (d != NULL && (e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            printf("entry %s\n", e->d_name);
    R("unlink in /dev/mqueue", unlink("/dev/mqueue/oci-queue"));
    R("gone", mq_open("/oci-queue", O_RDONLY));
    char limit[16] = {0};
    int sysctl = open("/proc/sys/fs/mqueue/msg_max", O_RDONLY);
    R("read msg_max", read(sysctl, limit, sizeof limit - 1));
    printf("msg_max %s", limit);
    int at_most = atoi(limit);
    struct mq_attr attr = {.mq_maxmsg = at_most, .mq_msgsize = 16};
    R("maxmsg at msg_max", mq_open("/oci-big", O_RDWR | O_CREAT, 0600, &attr) >= 0);
    attr.mq_maxmsg = at_most + 1;
    R("maxmsg past msg_max", mq_open("/oci-bigger", O_RDWR | O_CREAT, 0600, &attr));
    return 0;
}
