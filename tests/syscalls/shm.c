/* System V shared memory: shmget, shmat, shmdt, shmctl. Natively the test runs in its own IPC
 * namespace, so ids start from 0 as in the sandbox's. tests/cprogs/sysv_shm.c goes further. */
#include "check.h"
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/shm.h>

#define PAGE 4096

static int as_nobody(void)
{
    int id = shmget(88, 0, 0);
    struct shmid_ds ds;
    REQUIRE(setgid(65534) == 0 && setuid(65534) == 0);
    REQUIRE(shmget(88, 0, 0) == id);
    REQUIRE(shmget(88, 0, 0600) == -1 && errno == EACCES);
    REQUIRE(shmat(id, NULL, SHM_RDONLY) != (void *)-1);
    REQUIRE(shmat(id, NULL, 0) == (void *)-1 && errno == EACCES);
    REQUIRE(shmctl(id, IPC_STAT, &ds) == 0 && ds.shm_nattch == 3);
    REQUIRE(shmctl(id % 32768, SHM_STAT_ANY, &ds) == id);
    REQUIRE(shmctl(id, IPC_RMID, NULL) == -1 && errno == EPERM);
    return 0;
}

int main(void)
{
    isolate(CLONE_NEWIPC, "System V IPC");
    struct shmid_ds ds;
    CHECK_ERR(sys(SYS_shmget, IPC_PRIVATE, 0L, 0600), EINVAL);
    CHECK_RET(sys(SYS_shmget, IPC_PRIVATE, 5000L, 0600), 0);
    CHECK_RET(sys(SYS_shmget, 88, 3L * PAGE, IPC_CREAT | 0640), 1);
    CHECK_RET(sys(SYS_shmget, 88, 100L, 0), 1);
    CHECK_ERR(sys(SYS_shmget, 88, 4L * PAGE, 0), EINVAL);
    CHECK_ERR(sys(SYS_shmget, 88, 100L, IPC_CREAT | IPC_EXCL), EEXIST);
    CHECK_ERR(sys(SYS_shmget, 89, 100L, 0), ENOENT);
    int id = 1;

    CHECK_OK(sys(SYS_shmat, id, 0L, 0));
    char *memory = (char *)last;
    strcpy(memory + 2 * PAGE, "shared");
    CHECK_OK(sys(SYS_shmat, id, 0L, SHM_RDONLY));
    char *view = (char *)last;
    CHECK(strcmp(view + 2 * PAGE, "shared") == 0);
    CHECK_ERR(sys(SYS_shmat, id, 0L, SHM_REMAP), EINVAL);
    CHECK_ERR(sys(SYS_shmat, id, memory + 1, 0), EINVAL);
    CHECK_ERR(sys(SYS_shmat, id, memory, 0), EINVAL);
    CHECK_RET(sys(SYS_shmat, id, memory + 1, SHM_RND | SHM_REMAP), (long)memory);
    CHECK_ERR(sys(SYS_shmat, 12345, 0L, 0), EINVAL);
    CHECK_RET(sys(SYS_shmctl, id, IPC_STAT, &ds), 0);
    CHECK(ds.shm_segsz == 3 * PAGE && ds.shm_nattch == 2 && ds.shm_cpid == getpid() && ds.shm_lpid == getpid());
    CHECK(ds.shm_perm.__key == 88 && ds.shm_perm.mode == 0640 && ds.shm_atime > 0 && ds.shm_dtime > 0);

    fflush(stdout);
    pid_t child = fork();
    if (child == 0) {
        strcpy(memory, "from the child");
        _exit(shmctl(id, IPC_STAT, &ds) == 0 && ds.shm_nattch == 4 ? 0 : 1);
    }
    int status;
    waitpid(child, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK(strcmp(view, "from the child") == 0);
    CHECK_RET(sys(SYS_shmctl, id, IPC_STAT, &ds), 0);
    CHECK(ds.shm_nattch == 2 && ds.shm_lpid == child && ds.shm_dtime > 0);

    CHECK_ERR(sys(SYS_shmdt, memory + 1), EINVAL);
    CHECK_ERR(sys(SYS_shmdt, memory + PAGE), EINVAL);
    CHECK_RET(sys(SYS_mprotect, memory + PAGE, (long)PAGE, PROT_READ), 0);
    CHECK_RET(sys(SYS_shmctl, id, IPC_STAT, &ds), 0);
    CHECK(ds.shm_nattch == 4);
    CHECK_RET(sys(SYS_shmdt, memory), 0);
    CHECK_ERR(sys(SYS_shmdt, memory), EINVAL);
    CHECK_RET(sys(SYS_shmctl, id, IPC_STAT, &ds), 0);
    CHECK(ds.shm_nattch == 1);

    struct shminfo info;
    CHECK_RET(sys(SYS_shmctl, 0, IPC_INFO, &info), 1);
    CHECK(info.shmmin == 1 && info.shmmni == 4096 && info.shmseg == 4096 && info.shmmax == 18446744073692774399UL);
    struct shm_info usage;
    CHECK_RET(sys(SYS_shmctl, 0, SHM_INFO, &usage), 1);
    CHECK(usage.used_ids == 2 && usage.shm_tot == 5);
    CHECK_RET(sys(SYS_shmctl, 1, SHM_STAT, &ds), id);
    CHECK_ERR(sys(SYS_shmctl, 2, SHM_STAT, &ds), EINVAL);
    CHECK_ERR(sys(SYS_shmctl, id, 99, &ds), EINVAL);
    CHECK_ERR(sys(SYS_shmctl, -1, IPC_STAT, &ds), EINVAL);
    CHECK_ERR(sys(SYS_shmctl, id, IPC_STAT, (void *)8), EFAULT);
    CHECK_RET(sys(SYS_shmctl, id, SHM_LOCK, NULL), 0);
    CHECK_RET(sys(SYS_shmctl, id, IPC_STAT, &ds), 0);
    CHECK(ds.shm_perm.mode == (0640 | SHM_LOCKED));
    CHECK_RET(sys(SYS_shmctl, id, SHM_UNLOCK, NULL), 0);
    ds.shm_perm.mode = 0604;
    CHECK_RET(sys(SYS_shmctl, id, IPC_SET, &ds), 0);
    IN_CHILD(as_nobody);

    CHECK_RET(sys(SYS_shmctl, id, IPC_RMID, NULL), 0);
    CHECK_RET(sys(SYS_shmctl, id, IPC_STAT, &ds), 0);
    CHECK(ds.shm_perm.__key == 0 && ds.shm_perm.mode == (0604 | SHM_DEST));
    CHECK_ERR(sys(SYS_shmget, 88, 0L, 0), ENOENT);
    CHECK_RET(sys(SYS_shmdt, view), 0);
    CHECK_ERR(sys(SYS_shmctl, id, IPC_STAT, &ds), EINVAL);
    CHECK_RET(sys(SYS_shmctl, 0, IPC_RMID, NULL), 0);
    return done();
}
