/* POSIX message queues: mq_open, mq_unlink, mq_timedsend, mq_timedreceive, mq_notify and
 * mq_getsetattr, called raw. Natively the test runs in its own IPC namespace, as the sandbox is. */
#include "check.h"
#include <fcntl.h>
#include <mqueue.h>
#include <signal.h>
#include <time.h>

static volatile sig_atomic_t notified;

static void on_usr1(int signo) { (void)signo; notified = 1; }

int main(void)
{
    isolate(CLONE_NEWIPC, "POSIX message queues");
    struct mq_attr attr = {.mq_maxmsg = 2, .mq_msgsize = 16}, got;
    CHECK_ERR(sys(SYS_mq_open, "q", O_RDWR, 0, NULL), ENOENT);
    CHECK_ERR(sys(SYS_mq_open, "a/b", O_RDWR | O_CREAT, 0600, NULL), EACCES);
    CHECK_OK(sys(SYS_mq_open, "q", O_RDWR | O_CREAT | O_EXCL, 0600, &attr));
    int q = (int)last;
    CHECK_ERR(sys(SYS_mq_open, "q", O_RDWR | O_CREAT | O_EXCL, 0600, &attr), EEXIST);
    CHECK_RET(sys(SYS_mq_getsetattr, q, NULL, &got), 0);
    CHECK(got.mq_maxmsg == 2 && got.mq_msgsize == 16 && got.mq_curmsgs == 0 && got.mq_flags == 0);

    signal(SIGUSR1, on_usr1);
    struct sigevent sev = {.sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGUSR1};
    CHECK_RET(sys(SYS_mq_notify, q, &sev), 0);
    CHECK_ERR(sys(SYS_mq_notify, q, &sev), EBUSY);
    CHECK_RET(sys(SYS_mq_timedsend, q, "low", 3, 1, NULL), 0);
    CHECK(notified == 1);
    CHECK_RET(sys(SYS_mq_timedsend, q, "high", 4, 9, NULL), 0);
    CHECK_ERR(sys(SYS_mq_timedsend, q, "toolong-toolong-x", 17, 0, NULL), EMSGSIZE);
    struct timespec past = {1, 0};
    CHECK_ERR(sys(SYS_mq_timedsend, q, "x", 1, 0, &past), ETIMEDOUT);
    struct mq_attr nonblock = {.mq_flags = O_NONBLOCK};
    CHECK_RET(sys(SYS_mq_getsetattr, q, &nonblock, NULL), 0);
    CHECK_ERR(sys(SYS_mq_timedsend, q, "x", 1, 0, NULL), EAGAIN);

    char buf[16];
    unsigned prio = 0;
    CHECK_ERR(sys(SYS_mq_timedreceive, q, buf, 8, &prio, NULL), EMSGSIZE);
    CHECK_RET(sys(SYS_mq_timedreceive, q, buf, sizeof buf, &prio, NULL), 4);
    CHECK(prio == 9 && memcmp(buf, "high", 4) == 0);
    CHECK_RET(sys(SYS_mq_timedreceive, q, buf, sizeof buf, &prio, NULL), 3);
    CHECK(prio == 1);
    CHECK_ERR(sys(SYS_mq_timedreceive, q, buf, sizeof buf, &prio, NULL), EAGAIN);
    CHECK_ERR(sys(SYS_mq_timedreceive, 0, buf, sizeof buf, &prio, NULL), EBADF);

    CHECK_RET(sys(SYS_mq_unlink, "q"), 0);
    CHECK_ERR(sys(SYS_mq_unlink, "q"), ENOENT);
    close(q);
    return done();
}
