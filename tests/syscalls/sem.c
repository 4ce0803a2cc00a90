/* System V semaphores: semget, semop, semtimedop, semctl (SEM_UNDO, waiting counts, timeouts).
 * Natively the test runs in its own IPC namespace, so ids start from 0 as in the sandbox's. */
#include "check.h"
#include <sched.h>
#include <signal.h>
#include <sys/ipc.h>
#include <sys/sem.h>
#include <time.h>

union semun { int val; struct semid_ds *buf; unsigned short *array; struct seminfo *info; };

static int op(int id, unsigned short num, short change, short flags)
{
    struct sembuf sop = {num, change, flags};
    return sys(SYS_semop, id, &sop, 1);
}

static int as_nobody(void)
{
    struct semid_ds ds;
    REQUIRE(setgid(65534) == 0 && setuid(65534) == 0);
    REQUIRE(semget(55, 0, 0400) == 1);
    REQUIRE(semget(55, 0, 0200) == -1 && errno == EACCES);
    REQUIRE(op(1, 0, 1, IPC_NOWAIT) == -1 && errno == EACCES);
    REQUIRE(semctl(1, 0, SETVAL, 1) == -1 && errno == EACCES);
    REQUIRE(semctl(1, 0, GETVAL) == 0);
    REQUIRE(semctl(1, 0, IPC_STAT, &ds) == 0);
    REQUIRE(semctl(1, 0, SEM_STAT_ANY, &ds) == 1);
    REQUIRE(semctl(1, 0, IPC_RMID) == -1 && errno == EPERM);
    return 0;
}

static void on_alarm(int signo) { (void)signo; }

int main(void)
{
    isolate(CLONE_NEWIPC, "System V IPC");
    struct semid_ds ds;
    CHECK_RET(sys(SYS_semget, IPC_PRIVATE, 2, 0600), 0);
    CHECK_RET(sys(SYS_semget, 55, 3, IPC_CREAT | 0640), 1);
    CHECK_RET(sys(SYS_semget, 55, 2, 0), 1);
    CHECK_ERR(sys(SYS_semget, 55, 4, 0), EINVAL);
    CHECK_ERR(sys(SYS_semget, 55, 3, IPC_CREAT | IPC_EXCL), EEXIST);
    CHECK_ERR(sys(SYS_semget, 56, 1, 0), ENOENT);
    CHECK_ERR(sys(SYS_semget, IPC_PRIVATE, 0, 0600), EINVAL);
    CHECK_ERR(sys(SYS_semget, IPC_PRIVATE, 32001, 0600), EINVAL);
    int id = 1;

    CHECK_RET(sys(SYS_semctl, id, 0, GETVAL, 0), 0);
    CHECK_RET(sys(SYS_semctl, id, 1, SETVAL, 5), 0);
    CHECK_RET(sys(SYS_semctl, id, 1, GETVAL, 0), 5);
    CHECK_RET(sys(SYS_semctl, id, 1, GETPID, 0), getpid());
    CHECK_ERR(sys(SYS_semctl, id, 1, SETVAL, 32768), ERANGE);
    CHECK_ERR(sys(SYS_semctl, id, 1, SETVAL, -1), ERANGE);
    CHECK_ERR(sys(SYS_semctl, id, 3, GETVAL, 0), EINVAL);
    CHECK_ERR(sys(SYS_semctl, id, 0, 99, 0), EINVAL);
    unsigned short all[3] = {1, 2, 3}, got[3];
    CHECK_RET(sys(SYS_semctl, id, 0, SETALL, all), 0);
    CHECK_RET(sys(SYS_semctl, id, 0, GETALL, got), 0);
    CHECK(got[0] == 1 && got[1] == 2 && got[2] == 3);
    all[2] = 40000;
    CHECK_ERR(sys(SYS_semctl, id, 0, SETALL, all), ERANGE);
    CHECK_ERR(sys(SYS_semctl, id, 0, GETALL, (void *)8), EFAULT);

    struct sembuf two[2] = {{0, -1, 0}, {2, 2, 0}};
    CHECK_RET(sys(SYS_semop, id, two, 2), 0);
    CHECK_RET(sys(SYS_semctl, id, 0, GETALL, got), 0);
    CHECK(got[0] == 0 && got[1] == 2 && got[2] == 5);
    struct sembuf blocked[2] = {{2, -1, 0}, {0, -1, IPC_NOWAIT}};
    CHECK_ERR(sys(SYS_semop, id, blocked, 2), EAGAIN);
    CHECK_RET(sys(SYS_semctl, id, 2, GETVAL, 0), 5);
    CHECK_ERR(op(id, 1, 0, IPC_NOWAIT), EAGAIN);
    CHECK_ERR(op(id, 3, 1, 0), EFBIG);
    CHECK_ERR(op(id, 1, 32767, 0), ERANGE);
    CHECK_ERR(sys(SYS_semop, id, two, 0), EINVAL);
    CHECK_ERR(sys(SYS_semop, id, two, 501), E2BIG);
    CHECK_ERR(sys(SYS_semop, id, (void *)8, 1), EFAULT);
    CHECK_ERR(sys(SYS_semop, 12345, two, 1), EINVAL);
    struct timespec short_wait = {0, 30000000}, bad = {0, -1};
    CHECK_ERR(sys(SYS_semtimedop, id, two, 1, &short_wait), EAGAIN);
    CHECK_ERR(sys(SYS_semtimedop, id, two, 1, &bad), EINVAL);
    struct sigaction sa = {.sa_handler = on_alarm};
    sigaction(SIGALRM, &sa, NULL);
    alarm(1);
    CHECK_ERR(op(id, 0, -1, 0), EINTR);

    fflush(stdout);
    pid_t child = fork();
    if (child == 0)
        _exit(op(id, 0, -2, 0) == 0 ? 0 : 1);
    while (sys(SYS_semctl, id, 0, GETNCNT, 0) == 0)
        usleep(1000);
    CHECK_RET(sys(SYS_semctl, id, 0, GETNCNT, 0), 1);
    CHECK_RET(op(id, 0, 2, 0), 0);
    int status;
    waitpid(child, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK_RET(sys(SYS_semctl, id, 0, GETNCNT, 0), 0);
    CHECK_RET(sys(SYS_semctl, id, 0, GETVAL, 0), 0);

    child = fork();
    if (child == 0)
        _exit(op(id, 1, 0, 0) == 0 ? 0 : 1);
    while (sys(SYS_semctl, id, 1, GETZCNT, 0) == 0)
        usleep(1000);
    CHECK_RET(sys(SYS_semctl, id, 1, GETZCNT, 0), 1);
    CHECK_RET(op(id, 1, -2, 0), 0);
    waitpid(child, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);

    child = fork();
    if (child == 0)
        _exit(op(id, 2, -3, SEM_UNDO) == 0 && op(id, 1, 4, SEM_UNDO) == 0 ? 0 : 1);
    waitpid(child, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK_RET(sys(SYS_semctl, id, 2, GETVAL, 0), 5);
    CHECK_RET(sys(SYS_semctl, id, 1, GETVAL, 0), 0);

    CHECK_RET(sys(SYS_semctl, id, 0, IPC_STAT, &ds), 0);
    CHECK(ds.sem_nsems == 3 && ds.sem_perm.__key == 55 && (ds.sem_perm.mode & 0777) == 0640);
    CHECK(ds.sem_otime > 0 && ds.sem_ctime > 0);
    CHECK_RET(sys(SYS_semctl, 1, 0, SEM_STAT, &ds), 1);
    CHECK_ERR(sys(SYS_semctl, 7, 0, SEM_STAT, &ds), EINVAL);
    struct seminfo info;
    CHECK_RET(sys(SYS_semctl, 0, 0, IPC_INFO, &info), 1);
    CHECK(info.semmsl == 32000 && info.semopm == 500 && info.semvmx == 32767 && info.semusz == 20);
    CHECK_RET(sys(SYS_semctl, 0, 0, SEM_INFO, &info), 1);
    CHECK(info.semusz == 2 && info.semaem == 5);
    ds.sem_perm.mode = 0644;
    CHECK_RET(sys(SYS_semctl, id, 0, IPC_SET, &ds), 0);
    CHECK_RET(sys(SYS_semctl, id, 0, IPC_STAT, &ds), 0);
    CHECK((ds.sem_perm.mode & 0777) == 0644);
    IN_CHILD(as_nobody);

    child = fork();
    if (child == 0)
        _exit(op(0, 0, -1, 0) == -1 && errno == EIDRM ? 0 : 1);
    while (sys(SYS_semctl, 0, 0, GETNCNT, 0) == 0)
        usleep(1000);
    CHECK_RET(sys(SYS_semctl, 0, 0, IPC_RMID, 0), 0);
    waitpid(child, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK_ERR(sys(SYS_semctl, 0, 0, GETVAL, 0), EINVAL);
    return done();
}
