/* The SysV IPC limits of an IPC namespace, written through /proc/sys/kernel/{msgmax,msgmnb,
 * msgmni,sem}: what msgget(2), msgsnd(2), semget(2) and semop(2) refuse beyond them, and what
 * msgctl/semctl IPC_INFO, MSG_INFO and SEM_INFO report. Natively it must run as root in an IPC
 * namespace of its own (unshare --ipc), whose sysctls and ids these are; it prints nothing that
 * differs between runs. With the argument "info" it only prints the *_INFO of the limits as
 * they are. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <unistd.h>

union semun {
    int val;
    struct semid_ds *buf;
    unsigned short *array;
    struct seminfo *__buf;
};

static void result(const char *label, long rc) {
    if (rc < 0)
        printf("%s: %s\n", label, strerrorname_np(errno));
    else
        printf("%s: %ld\n", label, rc);
}

static void write_sysctl(const char *name, const char *value) {
    char path[64], shown[128] = "";
    snprintf(path, sizeof path, "/proc/sys/kernel/%s", name);
    int fd = open(path, O_WRONLY);
    long rc = fd < 0 ? -1 : write(fd, value, strlen(value));
    int saved = errno;
    if (fd >= 0)
        close(fd);
    fd = open(path, O_RDONLY);
    long got = fd < 0 ? -1 : read(fd, shown, sizeof shown - 1);
    if (fd >= 0)
        close(fd);
    shown[got > 0 ? got - 1 : 0] = 0;              /* without the newline */
    for (char *tab = strchr(shown, '\t'); tab; tab = strchr(tab, '\t'))
        *tab = ' ';
    errno = saved;
    printf("write %s=\"%s\": ", name, value);
    if (rc < 0)
        printf("%s", strerrorname_np(errno));
    else
        printf("%ld", rc);
    printf(", reads \"%s\"\n", shown);
}

static void msg_info(const char *label) {
    struct msginfo info;
    int ipc = msgctl(0, IPC_INFO, (struct msqid_ds *)&info);
    printf("%s IPC_INFO=%d: pool %d map %d max %d mnb %d mni %d ssz %d tql %d seg %d\n", label, ipc,
           info.msgpool, info.msgmap, info.msgmax, info.msgmnb, info.msgmni, info.msgssz, info.msgtql, info.msgseg);
    int in_use = msgctl(0, MSG_INFO, (struct msqid_ds *)&info);
    printf("%s MSG_INFO=%d: pool %d map %d max %d mnb %d mni %d ssz %d tql %d seg %d\n", label, in_use,
           info.msgpool, info.msgmap, info.msgmax, info.msgmnb, info.msgmni, info.msgssz, info.msgtql, info.msgseg);
}

static void sem_info(const char *label) {
    struct seminfo info;
    for (int cmd = IPC_INFO; cmd; cmd = cmd == IPC_INFO ? SEM_INFO : 0) {
        int rc = semctl(0, 0, cmd, (union semun){.__buf = &info});
        printf("%s %s=%d: map %d mni %d mns %d mnu %d msl %d opm %d ume %d usz %d vmx %d aem %d\n", label,
               cmd == IPC_INFO ? "IPC_INFO" : "SEM_INFO", rc, info.semmap, info.semmni, info.semmns, info.semmnu,
               info.semmsl, info.semopm, info.semume, info.semusz, info.semvmx, info.semaem);
    }
}

struct message {
    long type;
    char text[400];
};

static void message_queues(void) {
    struct message message = {.type = 1};
    struct msqid_ds stat;
    char label[80];

    msg_info("defaults");
    write_sysctl("msgmax", "100");
    write_sysctl("msgmnb", "250");
    write_sysctl("msgmni", "2");
    msg_info("lowered");

    int first = msgget(IPC_PRIVATE, 0600);
    result("msgget 1 of 2", first);
    msgctl(first, IPC_STAT, &stat);
    printf("msg_qbytes at creation: %lu\n", (unsigned long)stat.msg_qbytes);
    result("msgsnd 101 bytes > msgmax", msgsnd(first, &message, 101, IPC_NOWAIT));
    result("msgsnd 100 bytes", msgsnd(first, &message, 100, IPC_NOWAIT));
    result("msgsnd 100 bytes", msgsnd(first, &message, 100, IPC_NOWAIT));
    result("msgsnd 100 bytes, queue full at 250", msgsnd(first, &message, 100, IPC_NOWAIT));
    result("msgsnd 50 bytes", msgsnd(first, &message, 50, IPC_NOWAIT));
    result("msgget 2 of 2", msgget(0x5157, IPC_CREAT | 0600));
    result("msgget 3 of 2", msgget(IPC_PRIVATE, 0600));
    result("msgget of an existing key at the limit", msgget(0x5157, IPC_CREAT | 0600));
    msg_info("full");

    write_sysctl("msgmnb", "1000");
    msgctl(first, IPC_STAT, &stat);
    printf("msg_qbytes after msgmnb=1000: %lu\n", (unsigned long)stat.msg_qbytes);
    result("msgsnd 100 bytes, still full", msgsnd(first, &message, 100, IPC_NOWAIT));
    write_sysctl("msgmax", "0");
    result("msgsnd 0 bytes, msgmax 0", msgsnd(first, &message, 0, IPC_NOWAIT));
    result("msgsnd 1 byte, msgmax 0", msgsnd(first, &message, 1, IPC_NOWAIT));
    write_sysctl("msgmax", "8192");

    result("msgctl IPC_RMID the first", msgctl(first, IPC_RMID, NULL));
    write_sysctl("msgmni", "3");
    int made[3];
    for (int i = 0; i < 3; i++) {
        snprintf(label, sizeof label, "msgget with msgmni 3, %d in use", 1 + i);
        result(label, made[i] = msgget(IPC_PRIVATE, 0600));
    }
    msgctl(made[0], IPC_STAT, &stat);
    printf("msg_qbytes of a queue made at msgmnb=1000: %lu\n", (unsigned long)stat.msg_qbytes);
    write_sysctl("msgmni", "0");
    result("msgget with msgmni 0", msgget(IPC_PRIVATE, 0600));
    write_sysctl("msgmni", "32769");
    write_sysctl("msgmni", "32768");
    msg_info("after");
}

/* Slots are handed out cyclically below max(1.5 * in use, 64), so ids wrap early while few
 * objects exist; the sequence number (id / 32768) grows at each wrap. */
static void ids(void) {
    int made[100];
    for (int i = 0; i < 100; i++)
        made[i] = msgget(IPC_PRIVATE, 0600);
    printf("100 queues: ids %d .. %d\n", made[0], made[99]);
    for (int i = 0; i < 100; i++)
        msgctl(made[i], IPC_RMID, NULL);
    for (int i = 0; i < 3; i++) {
        made[i] = msgget(IPC_PRIVATE, 0600);
        printf("after removing them: id %d\n", made[i]);
    }
    for (int i = 0; i < 3; i++)
        msgctl(made[i], IPC_RMID, NULL);
}

static void semaphores(void) {
    struct sembuf ops[5] = {{0, 1, 0}, {1, 1, 0}, {2, 1, 0}, {3, 1, 0}, {0, -1, 0}};
    char label[80];

    sem_info("defaults");
    write_sysctl("sem", "4 6 3 2");
    sem_info("lowered");
    result("semget 5 semaphores > SEMMSL", semget(IPC_PRIVATE, 5, 0600));
    result("semget 0 semaphores, new", semget(IPC_PRIVATE, 0, 0600));
    int first = semget(0x5e4, 4, IPC_CREAT | 0600);
    result("semget 4 semaphores", first);
    result("semget 3 more > SEMMNS", semget(IPC_PRIVATE, 3, 0600));
    result("semget 2 more", semget(IPC_PRIVATE, 2, 0600));
    result("semget a third set > SEMMNI", semget(IPC_PRIVATE, 1, 0600));
    result("semget the existing key, 4 semaphores", semget(0x5e4, 4, 0));
    result("semget the existing key, 5 semaphores", semget(0x5e4, 5, 0));
    sem_info("full");

    result("semop 4 operations > SEMOPM", semop(first, ops, 4));
    result("semop 4 operations from NULL", semop(first, NULL, 4));
    result("semop 0 operations", semop(first, ops, 0));
    result("semop 3 operations", semop(first, ops, 3));
    result("semop 4 operations on a bad id", semop(first + 1000, ops, 4));
    write_sysctl("sem", "4 6 5 2");
    result("semop 5 operations, SEMOPM 5", semop(first, ops, 5));
    printf("values: %d %d %d %d\n", semctl(first, 0, GETVAL), semctl(first, 1, GETVAL), semctl(first, 2, GETVAL),
           semctl(first, 3, GETVAL));

    write_sysctl("sem", "3 6 5 2");
    result("semget the existing 4-semaphore key with 4, SEMMSL 3", semget(0x5e4, 4, 0));
    result("semget the existing key with 0, SEMMSL 3", semget(0x5e4, 0, 0));
    result("semctl IPC_RMID the first", semctl(first, 0, IPC_RMID));
    write_sysctl("sem", "10 20");
    write_sysctl("sem", "10 20 30 40000");
    write_sysctl("sem", "10 20 30 -1");
    write_sysctl("sem", "words");
    write_sysctl("sem", "10 20 30 4 50");
    for (int i = 0; i < 3; i++) {
        snprintf(label, sizeof label, "semget 5 semaphores, %d sets in use", 1 + i);
        result(label, semget(IPC_PRIVATE, 5, 0600));
    }
    write_sysctl("sem", "-1 20 0 4");
    result("semget 1 semaphore, SEMMSL -1", semget(IPC_PRIVATE, 1, 0600));
    result("semop 1 operation, SEMOPM 0", semop(first + 1, ops, 1));
    sem_info("after");
    write_sysctl("sem", "32000 1024000000 500 32000");
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc > 1 && strcmp(argv[1], "info") == 0) {     /* only what the limits are now */
        msg_info("now");
        sem_info("now");
        return 0;
    }
    message_queues();
    ids();
    semaphores();
    return 0;
}
