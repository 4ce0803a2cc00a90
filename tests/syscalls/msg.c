/* System V message queues: msgget, msgsnd, msgrcv, msgctl. Natively the test runs in its own IPC
 * namespace, so ids start from 0 as in the sandbox's. */
#include "check.h"
#include <sched.h>
#include <signal.h>
#include <sys/ipc.h>
#include <sys/msg.h>

struct message {
    long type;
    char text[64];
};

static int send(int id, long type, const char *text, int flags)
{
    struct message m = {type, ""};
    strcpy(m.text, text);
    return msgsnd(id, &m, strlen(text), flags);
}

static int as_nobody(void)
{
    int id = msgget(77, 0);
    struct message m;
    struct msqid_ds ds;
    REQUIRE(setgid(65534) == 0 && setuid(65534) == 0);
    REQUIRE(msgget(77, 0) == id);
    REQUIRE(msgget(77, 0400) == -1 && errno == EACCES);
    REQUIRE(msgrcv(id, &m, sizeof m.text, 0, IPC_NOWAIT) == -1 && errno == EACCES);
    REQUIRE(send(id, 1, "x", IPC_NOWAIT) == -1 && errno == EACCES);
    REQUIRE(msgctl(id, IPC_STAT, &ds) == -1 && errno == EACCES);
    REQUIRE(msgctl(id, MSG_STAT_ANY, &ds) == id);
    REQUIRE(msgctl(id, IPC_RMID, NULL) == -1 && errno == EPERM);
    return 0;
}

static void on_alarm(int signo) { (void)signo; }

int main(void)
{
    isolate(CLONE_NEWIPC, "System V IPC");
    struct message m;
    struct msqid_ds ds;
    CHECK_RET(sys(SYS_msgget, IPC_PRIVATE, 0600), 0);
    CHECK_RET(sys(SYS_msgget, 77, IPC_CREAT | 0640), 1);
    CHECK_RET(sys(SYS_msgget, 77, 0), 1);
    CHECK_RET(sys(SYS_msgget, 77, IPC_CREAT), 1);
    CHECK_ERR(sys(SYS_msgget, 77, IPC_CREAT | IPC_EXCL), EEXIST);
    CHECK_ERR(sys(SYS_msgget, 78, 0), ENOENT);
    int id = 1;

    CHECK_RET(send(id, 5, "five", 0), 0);
    CHECK_RET(send(id, 2, "two", 0), 0);
    CHECK_RET(send(id, 9, "nine", 0), 0);
    CHECK_RET(send(id, 2, "two again", 0), 0);
    CHECK_RET(sys(SYS_msgctl, id, IPC_STAT, &ds), 0);
    CHECK(ds.msg_qnum == 4 && ds.msg_cbytes == 20 && ds.msg_qbytes == 16384 && ds.msg_lspid == getpid());
    CHECK(ds.msg_perm.__key == 77 && (ds.msg_perm.mode & 0777) == 0640 && ds.msg_perm.uid == 0);
    CHECK(ds.msg_stime > 0 && ds.msg_rtime == 0 && ds.msg_ctime > 0);

    memset(&m, 0, sizeof m);
    CHECK_RET(sys(SYS_msgrcv, id, &m, sizeof m.text, 1L, IPC_NOWAIT | MSG_COPY), 3);
    CHECK(m.type == 2 && memcmp(m.text, "two", 3) == 0);
    CHECK_RET(sys(SYS_msgrcv, id, &m, sizeof m.text, 9L, IPC_NOWAIT | MSG_COPY), -1);
    CHECK(errno == ENOMSG);
    CHECK_ERR(sys(SYS_msgrcv, id, &m, sizeof m.text, 0L, MSG_COPY), EINVAL);
    CHECK_RET(sys(SYS_msgrcv, id, &m, sizeof m.text, -4L, 0), 3);
    CHECK(m.type == 2 && memcmp(m.text, "two", 3) == 0);
    CHECK_RET(sys(SYS_msgrcv, id, &m, sizeof m.text, 2L, MSG_EXCEPT), 4);
    CHECK(m.type == 5 && memcmp(m.text, "five", 4) == 0);
    CHECK_ERR(sys(SYS_msgrcv, id, &m, 3L, 9L, 0), E2BIG);
    CHECK_RET(sys(SYS_msgrcv, id, &m, 3L, 9L, MSG_NOERROR), 3);
    CHECK(memcmp(m.text, "nin", 3) == 0);
    CHECK_RET(sys(SYS_msgrcv, id, &m, sizeof m.text, 0L, 0), 9);
    CHECK_ERR(sys(SYS_msgrcv, id, &m, sizeof m.text, 0L, IPC_NOWAIT), ENOMSG);
    CHECK_ERR(sys(SYS_msgrcv, id, &m, -1L, 0L, IPC_NOWAIT), EINVAL);
    CHECK_ERR(sys(SYS_msgrcv, 12345, &m, sizeof m.text, 0L, IPC_NOWAIT), EINVAL);
    CHECK_RET(sys(SYS_msgctl, id, IPC_STAT, &ds), 0);
    CHECK(ds.msg_qnum == 0 && ds.msg_cbytes == 0 && ds.msg_lrpid == getpid() && ds.msg_rtime > 0);

    m.type = 0;
    CHECK_ERR(sys(SYS_msgsnd, id, &m, 1L, 0), EINVAL);
    m.type = 1;
    CHECK_ERR(sys(SYS_msgsnd, id, &m, 8193L, 0), EINVAL);
    CHECK_ERR(sys(SYS_msgsnd, id, &m, -1L, 0), EINVAL);
    CHECK_ERR(sys(SYS_msgsnd, id, (void *)8, 1L, 0), EFAULT);
    CHECK_ERR(sys(SYS_msgsnd, 12345, &m, 1L, 0), EINVAL);

    ds.msg_qbytes = 8;
    CHECK_RET(sys(SYS_msgctl, id, IPC_SET, &ds), 0);
    CHECK_RET(send(id, 1, "12345678", IPC_NOWAIT), 0);
    CHECK_ERR(send(id, 1, "x", IPC_NOWAIT), EAGAIN);
    struct sigaction sa = {.sa_handler = on_alarm};
    sigaction(SIGALRM, &sa, NULL);
    alarm(1);
    CHECK_ERR(send(id, 1, "x", 0), EINTR);
    fflush(stdout);
    pid_t child = fork();
    if (child == 0) {
        struct message got;
        usleep(50000);
        _exit(msgrcv(id, &got, sizeof got.text, 0, 0) == 8 ? 0 : 1);
    }
    CHECK_RET(send(id, 3, "waits", 0), 0);
    int status;
    waitpid(child, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK_RET(sys(SYS_msgrcv, id, &m, sizeof m.text, 3L, IPC_NOWAIT), 5);

    struct msginfo info;
    CHECK_RET(sys(SYS_msgctl, 0, IPC_INFO, &info), 1);
    CHECK(info.msgmax == 8192 && info.msgmnb == 16384 && info.msgmni == 32000 && info.msgpool == 512000);
    CHECK_RET(send(id, 4, "abc", 0), 0);
    CHECK_RET(sys(SYS_msgctl, 0, MSG_INFO, &info), 1);
    CHECK(info.msgpool == 2 && info.msgmap == 1 && info.msgtql == 3);
    CHECK_RET(sys(SYS_msgctl, 1, MSG_STAT, &ds), 1);
    CHECK_ERR(sys(SYS_msgctl, 5, MSG_STAT, &ds), EINVAL);
    CHECK_ERR(sys(SYS_msgctl, id, 99, &ds), EINVAL);
    CHECK_ERR(sys(SYS_msgctl, id, IPC_STAT, (void *)8), EFAULT);
    ds.msg_qbytes = 16384;
    CHECK_RET(sys(SYS_msgctl, id, IPC_SET, &ds), 0);
    IN_CHILD(as_nobody);

    child = fork();
    if (child == 0) {
        struct message got;
        _exit(msgrcv(0, &got, sizeof got.text, 0, 0) == -1 && errno == EIDRM ? 0 : 1);
    }
    usleep(50000);
    CHECK_RET(sys(SYS_msgctl, 0, IPC_RMID, NULL), 0);
    waitpid(child, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK_ERR(sys(SYS_msgctl, 0, IPC_STAT, &ds), EINVAL);
    CHECK_RET(sys(SYS_msgget, IPC_PRIVATE, 0600), 2);
    CHECK_RET(sys(SYS_msgctl, id, IPC_RMID, NULL), 0);
    CHECK_RET(sys(SYS_msgget, IPC_PRIVATE, 0600), 3);     /* slots are handed out cyclically */
    return done();
}
