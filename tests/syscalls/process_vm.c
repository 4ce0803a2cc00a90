/* Another process's memory and where a thread runs: process_vm_readv, process_vm_writev,
 * getcpu, readahead. */
#include "check.h"
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/uio.h>

static char shared_text[32] = "remote text, fixed address";

int main(void)
{
    enter_scratch();
    long page = sysconf(_SC_PAGESIZE);
    char *area = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    memcpy(area + page - 4, "edge", 4);
    mprotect(area + page, page, PROT_NONE);
    int ready[2];
    pipe(ready);
    fflush(stdout);
    pid_t child = fork();
    if (child == 0) {
        strcpy(shared_text, "child's copy of the text");
        write(ready[1], "x", 1);
        pause();
        _exit(0);
    }
    char byte;
    read(ready[0], &byte, 1);

    char a[8] = {0}, b[32] = {0};
    struct iovec local[2] = {{a, 5}, {b, sizeof b}};
    struct iovec remote[1] = {{shared_text, 24}};
    CHECK_RET(sys(SYS_process_vm_readv, child, local, 2, remote, 1, 0), 24);
    CHECK(memcmp(a, "child", 5) == 0 && memcmp(b, "'s copy of the text", 19) == 0);
    struct iovec edge[1] = {{area + page - 4, 8}};
    struct iovec into[1] = {{b, 8}};
    CHECK_RET(sys(SYS_process_vm_readv, child, into, 1, edge, 1, 0), 4);
    CHECK(memcmp(b, "edge", 4) == 0);
    struct iovec beyond[1] = {{area + page, 8}};
    CHECK_ERR(sys(SYS_process_vm_readv, child, into, 1, beyond, 1, 0), EFAULT);
    struct iovec bad_local[1] = {{(void *)8, 4}};
    CHECK_ERR(sys(SYS_process_vm_readv, child, bad_local, 1, remote, 1, 0), EFAULT);
    CHECK_RET(sys(SYS_process_vm_readv, child, local, 0, remote, 1, 0), 0);
    CHECK_RET(sys(SYS_process_vm_readv, 999999, local, 0, remote, 1, 0), 0);
    CHECK_ERR(sys(SYS_process_vm_readv, child, local, 2, remote, 1, 1), EINVAL);
    CHECK_ERR(sys(SYS_process_vm_readv, child, local, 1025, remote, 1, 0), EINVAL);
    CHECK_ERR(sys(SYS_process_vm_readv, 999999, local, 2, remote, 1, 0), ESRCH);
    CHECK_ERR(sys(SYS_process_vm_readv, child, (void *)8, 2, remote, 1, 0), EFAULT);

    struct iovec out[1] = {{"written", 7}};
    CHECK_RET(sys(SYS_process_vm_writev, child, out, 1, remote, 1, 0), 7);
    CHECK_RET(sys(SYS_process_vm_readv, child, into, 1, remote, 1, 0), 8);
    CHECK(memcmp(b, "written ", 8) == 0);
    CHECK(strcmp(shared_text, "remote text, fixed address") == 0);
    struct iovec readonly[1] = {{(void *)main, 4}};
    CHECK_ERR(sys(SYS_process_vm_writev, child, out, 1, readonly, 1, 0), EFAULT);
    CHECK_ERR(sys(SYS_process_vm_writev, child, out, 1, remote, 1, 2), EINVAL);
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    CHECK_ERR(sys(SYS_process_vm_readv, child, local, 2, remote, 1, 0), ESRCH);

    unsigned cpu = 999, node = 999;
    CHECK_RET(sys(SYS_getcpu, &cpu, &node, NULL), 0);
    cpu_set_t set;
    sched_getaffinity(0, sizeof set, &set);
    CHECK(cpu < CPU_SETSIZE && CPU_ISSET(cpu, &set) && node == 0);
    CHECK_RET(sys(SYS_getcpu, NULL, NULL, NULL), 0);
    CHECK_ERR(sys(SYS_getcpu, (void *)8, NULL, NULL), EFAULT);

    int fd = open("file", O_CREAT | O_RDWR, 0600);
    write(fd, "data", 4);
    CHECK_RET(sys(SYS_readahead, fd, 0L, 4096L), 0);
    CHECK_RET(sys(SYS_readahead, fd, 1L << 40, 4096L), 0);
    int wr = open("file", O_WRONLY);
    CHECK_ERR(sys(SYS_readahead, wr, 0L, 4096L), EBADF);
    CHECK_ERR(sys(SYS_readahead, 999, 0L, 4096L), EBADF);
    int p[2];
    pipe(p);
    CHECK_ERR(sys(SYS_readahead, p[0], 0L, 4096L), EINVAL);
    int dir = open(".", O_RDONLY | O_DIRECTORY);
    CHECK_ERR(sys(SYS_readahead, dir, 0L, 4096L), EINVAL);
    return done();
}
