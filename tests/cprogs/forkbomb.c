/* A fork bomb held back by RLIMIT_NPROC.
 *
 * Root is exempt from RLIMIT_NPROC (Linux skips the check for
 * CAP_SYS_RESOURCE/CAP_SYS_ADMIN), so the program first becomes nobody
 * (65534). It then sets RLIMIT_NPROC to 20 and forks children, each of which
 * forks again (a tree), until fork fails. The first failure must be EAGAIN.
 * Everything is bounded (MAX_PROCS) so that even an unenforced limit cannot
 * flood the host. Prints the errno seen and exits 0 when it was EAGAIN. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#define LIMIT 20
#define MAX_PROCS 200

struct shared {
    volatile int procs;         /* processes created, bounded by MAX_PROCS */
    volatile int fail_errno;    /* first fork errno seen */
    volatile int failures;
};

static struct shared *sh;

/* Fork until failure or the cap; children recurse. Each process waits for all
 * of its children before it exits. */
static void bomb(int depth)
{
    pid_t kids[MAX_PROCS];
    int nkids = 0;
    while (__atomic_load_n(&sh->procs, __ATOMIC_SEQ_CST) < MAX_PROCS && depth < 8) {
        pid_t pid = fork();
        if (pid < 0) {
            int e = errno;
            int zero = 0;
            __atomic_compare_exchange_n(&sh->fail_errno, &zero, e, 0,
                                        __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
            __atomic_add_fetch(&sh->failures, 1, __ATOMIC_SEQ_CST);
            break;
        }
        if (pid == 0) {
            __atomic_add_fetch(&sh->procs, 1, __ATOMIC_SEQ_CST);
            nkids = 0;
            depth++;
            continue;           /* the child goes on forking too */
        }
        kids[nkids++] = pid;
        if (nkids >= 4)         /* each process makes a few children */
            break;
    }
    for (int i = 0; i < nkids; i++)
        waitpid(kids[i], NULL, 0);
}

int main(void)
{
    sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sh == MAP_FAILED) {
        perror("mmap");
        return 2;
    }
    if (getuid() == 0) {
        if (setgid(65534) != 0 || setuid(65534) != 0) {
            printf("cannot drop root: %s\n", strerror(errno));
            return 2;
        }
    }
    struct rlimit rl = {LIMIT, LIMIT};
    if (setrlimit(RLIMIT_NPROC, &rl) != 0) {
        printf("setrlimit: %s\n", strerror(errno));
        return 2;
    }
    pid_t top = getpid();
    bomb(0);
    if (getpid() != top)
        _exit(0);
    while (wait(NULL) > 0)
        ;
    int e = sh->fail_errno;
    printf("fork failed: %s\n", e == EAGAIN ? "EAGAIN" : e ? strerror(e) : "never");
    return e == EAGAIN ? 0 : 1;
}
