/* pidfds: pidfd_open, pidfd_send_signal, pidfd_getfd, clone/clone3 with CLONE_PIDFD and
 * waitid(P_PIDFD), with what a pidfd looks like (fstat, fcntl, /proc/self/fd, fdinfo, poll).
 * Linux 6.9+ behaviour (PIDFD_THREAD, signal scopes), the kernel this runs against. */
#include "check.h"
#include "children.h"
#include <fcntl.h>
#include <linux/sched.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

#define PIDFD_NONBLOCK O_NONBLOCK
#define PIDFD_THREAD O_EXCL
#define PIDFD_SIGNAL_THREAD 1
#define PIDFD_SIGNAL_THREAD_GROUP 2
#define PIDFD_SIGNAL_PROCESS_GROUP 4
#ifndef P_PIDFD
#define P_PIDFD 3
#endif

static int pidfd_open(pid_t pid, unsigned flags) { return sys(SYS_pidfd_open, pid, flags); }

static short revents(int fd)
{
    struct pollfd p = {fd, POLLIN | POLLRDNORM | POLLOUT | POLLPRI, 0};
    return poll(&p, 1, 0) < 0 ? -1 : p.revents;
}

static int fdinfo_pid(int fd)
{
    char path[64], text[512];
    snprintf(path, sizeof path, "/proc/self/fdinfo/%d", fd);
    int info = open(path, O_RDONLY);
    ssize_t n = info < 0 ? -1 : read(info, text, sizeof text - 1);
    close(info);
    if (n <= 0)
        return -100;
    text[n] = 0;
    char *line = strstr(text, "\nPid:\t");
    return line ? atoi(line + 6) : -101;
}

static void the_file_itself(void)
{
    int fd = pidfd_open(getpid(), 0);
    CHECK(fd >= 0);
    struct stat sb;
    CHECK_OK(fstat(fd, &sb));
    CHECK(sb.st_mode == 0700 && sb.st_nlink == 1 && sb.st_size == 0);
    CHECK_RET(fcntl(fd, F_GETFL), O_RDWR);
    CHECK_RET(fcntl(fd, F_GETFD), FD_CLOEXEC);
    char buf[64];
    CHECK_ERR(read(fd, buf, 8), EINVAL);
    CHECK_ERR(write(fd, buf, 8), EINVAL);
    CHECK_ERR(lseek(fd, 0, SEEK_SET), ESPIPE);
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(path, buf, sizeof buf - 1);
    buf[n > 0 ? n : 0] = 0;
    CHECK(strcmp(buf, "anon_inode:[pidfd]") == 0);
    CHECK(fdinfo_pid(fd) == getpid());
    CHECK_RET(revents(fd), 0);
    int nonblocking = pidfd_open(getpid(), PIDFD_NONBLOCK);
    CHECK_RET(fcntl(nonblocking, F_GETFL), O_RDWR | O_NONBLOCK);
    close(nonblocking);
    close(fd);
}

static void opening(void)
{
    CHECK_ERR(pidfd_open(getpid(), 4), EINVAL);
    CHECK_ERR(pidfd_open(0, 0), EINVAL);
    CHECK_ERR(pidfd_open(-1, 0), EINVAL);
    CHECK_ERR(pidfd_open(4000000, 0), ESRCH);
    pid_t thread_tid = sleeping_thread();
    CHECK_ERR(pidfd_open(thread_tid, 0), ENOENT);
    int fd = pidfd_open(thread_tid, PIDFD_THREAD);
    CHECK(fd >= 0);
    CHECK_RET(fcntl(fd, F_GETFL), O_RDWR | O_EXCL);
    CHECK(fdinfo_pid(fd) == thread_tid);
    CHECK_RET(revents(fd), 0);
    close(fd);
    int leader = pidfd_open(getpid(), PIDFD_THREAD);
    CHECK(leader >= 0);
    close(leader);
}

static void waiting(void)
{
    int gate[2];
    pid_t child = gated_child(gate, 7);
    int fd = pidfd_open(child, PIDFD_NONBLOCK);
    CHECK(fd >= 0);
    siginfo_t info;
    CHECK_ERR(waitid(P_PIDFD, fd, &info, WEXITED), EAGAIN);
    memset(&info, 0xff, sizeof info);
    CHECK_RET(waitid(P_PIDFD, fd, &info, WEXITED | WNOHANG), 0);
    CHECK(info.si_pid == 0 && info.si_signo == 0);
    CHECK_RET(revents(fd), 0);
    write(gate[1], "x", 1);
    struct pollfd p = {fd, POLLIN, 0};
    CHECK_RET(poll(&p, 1, 10000), 1);
    CHECK_RET(p.revents, POLLIN);
    CHECK_RET(revents(fd), POLLIN | POLLRDNORM);
    CHECK(fdinfo_pid(fd) == child);
    CHECK_RET(waitid(P_PIDFD, fd, &info, WEXITED | WNOWAIT), 0);
    CHECK(info.si_pid == child && info.si_code == CLD_EXITED && info.si_status == 7);
    CHECK_RET(sys(SYS_pidfd_send_signal, fd, 0, NULL, 0), 0);       /* a zombie may still be signalled */
    CHECK_ERR(sys(SYS_pidfd_getfd, fd, 0, 0), ESRCH);
    CHECK_RET(waitid(P_PIDFD, fd, &info, WEXITED), 0);
    CHECK(info.si_pid == child && info.si_status == 7);
    CHECK_RET(revents(fd), POLLIN | POLLRDNORM | POLLHUP);
    CHECK_RET(fdinfo_pid(fd), -1);
    CHECK_ERR(waitid(P_PIDFD, fd, &info, WEXITED), ECHILD);
    CHECK_ERR(sys(SYS_pidfd_send_signal, fd, 0, NULL, 0), ESRCH);
    CHECK_ERR(sys(SYS_pidfd_getfd, fd, 0, 0), ESRCH);
    close(fd);

    int self = pidfd_open(getpid(), 0);
    CHECK_ERR(waitid(P_PIDFD, self, &info, WEXITED | WNOHANG), ECHILD);
    CHECK_ERR(waitid(P_PIDFD, 0, &info, WEXITED | WNOHANG), EBADF);
    CHECK_ERR(waitid(P_PIDFD, 1000, &info, WEXITED | WNOHANG), EBADF);
    CHECK_ERR(waitid(P_PIDFD, -1, &info, WEXITED | WNOHANG), EINVAL);
    CHECK_ERR(waitid(P_PIDFD, self, &info, WNOHANG), EINVAL);
    close(self);
}

static void signalling(void)
{
    int self = pidfd_open(getpid(), 0);
    CHECK_ERR(sys(SYS_pidfd_send_signal, self, 0, NULL, 8), EINVAL);
    CHECK_ERR(sys(SYS_pidfd_send_signal, self, 0, NULL, PIDFD_SIGNAL_THREAD | PIDFD_SIGNAL_THREAD_GROUP), EINVAL);
    CHECK_ERR(sys(SYS_pidfd_send_signal, 0, 0, NULL, 0), EBADF);
    CHECK_ERR(sys(SYS_pidfd_send_signal, 999, 0, NULL, 0), EBADF);
    CHECK_ERR(sys(SYS_pidfd_send_signal, self, 65, NULL, 0), EINVAL);
    CHECK_RET(sys(SYS_pidfd_send_signal, self, 0, NULL, PIDFD_SIGNAL_THREAD), 0);
    CHECK_RET(sys(SYS_pidfd_send_signal, self, 0, NULL, PIDFD_SIGNAL_PROCESS_GROUP), 0);
    CHECK_RET(sys(SYS_pidfd_send_signal, -10000, 0, NULL, 0), 0);       /* PIDFD_SELF_THREAD */
    CHECK_RET(sys(SYS_pidfd_send_signal, -10001, 0, NULL, 0), 0);       /* PIDFD_SELF_THREAD_GROUP */
    CHECK_ERR(sys(SYS_pidfd_send_signal, -10002, 0, NULL, 0), EBADF);
    int proc_dir = open("/proc/self", O_RDONLY | O_DIRECTORY);      /* /proc/<pid> names the process too */
    CHECK_RET(sys(SYS_pidfd_send_signal, proc_dir, 0, NULL, 0), 0);
    close(proc_dir);
    proc_dir = open("/proc/self/task", O_RDONLY | O_DIRECTORY);
    CHECK_ERR(sys(SYS_pidfd_send_signal, proc_dir, 0, NULL, 0), EBADF);
    close(proc_dir);
    proc_dir = open("/proc", O_RDONLY | O_DIRECTORY);
    CHECK_ERR(sys(SYS_pidfd_send_signal, proc_dir, 0, NULL, 0), EBADF);
    close(proc_dir);

    /* A queued signal with its siginfo, to oneself. */
    sigset_t usr1;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    siginfo_t info;
    memset(&info, 0, sizeof info);
    info.si_signo = SIGUSR1;
    info.si_code = SI_QUEUE;
    info.si_value.sival_int = 42;
    CHECK_ERR(sys(SYS_pidfd_send_signal, self, SIGUSR2, &info, 0), EINVAL);
    CHECK_ERR(sys(SYS_pidfd_send_signal, self, SIGUSR1, (void *)8, 0), EFAULT);
    CHECK_RET(sys(SYS_pidfd_send_signal, self, SIGUSR1, &info, 0), 0);
    siginfo_t got;
    struct timespec zero = {0, 0};
    CHECK_RET(sigtimedwait(&usr1, &got, &zero), SIGUSR1);
    CHECK(got.si_code == SI_QUEUE && got.si_value.sival_int == 42);
    CHECK_RET(sys(SYS_pidfd_send_signal, self, SIGUSR1, NULL, 0), 0);
    CHECK_RET(sigtimedwait(&usr1, &got, &zero), SIGUSR1);
    CHECK(got.si_code == SI_USER && got.si_pid == getpid());
    CHECK_RET(sys(SYS_pidfd_send_signal, self, SIGUSR1, NULL, PIDFD_SIGNAL_THREAD), 0);
    CHECK_RET(sigtimedwait(&usr1, &got, &zero), SIGUSR1);
    CHECK(got.si_code == SI_USER);

    /* Another process: no pretending to be the kernel, but SIGTERM kills it. */
    int gate[2];
    pid_t child = gated_child(gate, 0);
    int fd = pidfd_open(child, 0);
    info.si_code = SI_KERNEL;
    CHECK_ERR(sys(SYS_pidfd_send_signal, fd, SIGUSR1, &info, 0), EPERM);
    info.si_code = SI_QUEUE;
    CHECK_ERR(sys(SYS_pidfd_send_signal, fd, SIGUSR1, &info, PIDFD_SIGNAL_PROCESS_GROUP), ESRCH);  /* no such group */
    CHECK_RET(sys(SYS_pidfd_send_signal, fd, SIGTERM, NULL, 0), 0);
    siginfo_t status;
    CHECK_RET(waitid(P_PIDFD, fd, &status, WEXITED), 0);
    CHECK(status.si_code == CLD_KILLED && status.si_status == SIGTERM);
    CHECK_ERR(waitid(P_PIDFD, fd, &status, WEXITED), ECHILD);

    /* An fd of /proc/<pid>, opened while the process lived, signals it; once reaped, ESRCH. */
    child = gated_child(gate, 0);
    char path[32];
    snprintf(path, sizeof path, "/proc/%d", child);
    proc_dir = open(path, O_RDONLY | O_DIRECTORY);
    CHECK_ERR(waitid(P_PIDFD, proc_dir, &status, WEXITED | WNOHANG), EBADF);
    CHECK_RET(sys(SYS_pidfd_send_signal, proc_dir, SIGKILL, NULL, 0), 0);
    CHECK_RET(waitpid(child, NULL, 0), child);
    CHECK_ERR(sys(SYS_pidfd_send_signal, proc_dir, 0, NULL, 0), ESRCH);
    close(proc_dir);
    close(gate[1]);
    close(fd);
    close(self);
}

/* Another user may neither signal this process nor take its fds through a pidfd. */
static int parent_fd = -1;
static int another_user(void)
{
    REQUIRE(setresgid(1000, 1000, 1000) == 0 && setresuid(1000, 1000, 1000) == 0);
    REQUIRE(sys(SYS_pidfd_send_signal, parent_fd, 0, NULL, 0) == -1 && errno == EPERM);
    REQUIRE(sys(SYS_pidfd_send_signal, parent_fd, SIGTERM, NULL, 0) == -1 && errno == EPERM);
    REQUIRE(sys(SYS_pidfd_getfd, parent_fd, 0, 0) == -1 && errno == EPERM);
    REQUIRE(sys(SYS_pidfd_getfd, parent_fd, 999, 0) == -1 && errno == EPERM);
    int self = pidfd_open(getpid(), 0);
    REQUIRE(sys(SYS_pidfd_getfd, self, self, 0) > self);
    return 0;
}

static void taking_fds(void)
{
    int self = pidfd_open(getpid(), 0);
    CHECK_ERR(sys(SYS_pidfd_getfd, self, 1, 1), EINVAL);
    CHECK_ERR(sys(SYS_pidfd_getfd, 0, 1, 0), EBADF);
    CHECK_ERR(sys(SYS_pidfd_getfd, self, 999, 0), EBADF);
    int copy = sys(SYS_pidfd_getfd, self, self, 0);
    CHECK(copy > self);
    CHECK_RET(fcntl(copy, F_GETFD), FD_CLOEXEC);
    close(copy);

    int data[2], gate[2];
    pipe(data);
    pid_t child = gated_child(gate, 0);
    close(data[1]);
    int fd = pidfd_open(child, 0);
    int theirs = sys(SYS_pidfd_getfd, fd, data[1], 0);
    CHECK(theirs >= 0);
    CHECK_RET(write(theirs, "hello", 5), 5);
    close(theirs);
    char text[8] = {0};
    CHECK_RET(read(data[0], text, sizeof text), 5);
    CHECK(strcmp(text, "hello") == 0);
    write(gate[1], "x", 1);
    waitid(P_PIDFD, fd, &(siginfo_t){0}, WEXITED);
    close(data[0]);
    close(fd);
    parent_fd = self;
    IN_CHILD(another_user);
    close(self);
}

/* clone3 that starts a thread on `args`' stack which exits at once (raw exit(2), no libc). */
static long clone3_exiting_thread(struct clone_args *args)
{
    long result;
    __asm__ volatile("syscall\n\t"
                     "test %%rax, %%rax\n\t"
                     "jnz 1f\n\t"
                     "mov $60, %%eax\n\t"
                     "xor %%edi, %%edi\n\t"
                     "syscall\n\t"
                     "1:"
                     : "=a"(result)
                     : "0"((long)SYS_clone3), "D"(args), "S"(sizeof *args)
                     : "rcx", "r11", "memory");
    return result;
}

static void thread_pidfd(void)
{
    static char stack[16384] __attribute__((aligned(16)));
    uint64_t field = 0;
    struct clone_args args = {
        .flags = CLONE_PIDFD | CLONE_THREAD | CLONE_SIGHAND | CLONE_VM | CLONE_FS | CLONE_FILES,
        .pidfd = (uintptr_t)&field, .stack = (uintptr_t)stack, .stack_size = sizeof stack,
    };
    long tid = clone3_exiting_thread(&args);
    CHECK(tid > 0);
    int fd = (int)field;
    CHECK_RET(fcntl(fd, F_GETFL), O_RDWR | O_EXCL);                /* a PIDFD_THREAD pidfd */
    struct pollfd p = {fd, POLLIN, 0};
    CHECK_RET(poll(&p, 1, 10000), 1);
    CHECK_RET(revents(fd), POLLIN | POLLRDNORM | POLLHUP);          /* a thread leaves no zombie */
    CHECK_RET(fdinfo_pid(fd), -1);
    siginfo_t info;
    CHECK_ERR(waitid(P_PIDFD, fd, &info, WEXITED | WNOHANG), ECHILD);
    CHECK_ERR(sys(SYS_pidfd_send_signal, fd, 0, NULL, 0), ESRCH);
    close(fd);
}

struct pidfd_info {
    uint64_t mask, cgroupid;
    uint32_t pid, tgid, ppid, ruid, rgid, euid, egid, suid, sgid, fsuid, fsgid;
    int32_t exit_code;
    uint32_t coredump_mask, spare;
};
#define PIDFD_GET_INFO _IOWR(0xFF, 11, struct pidfd_info)
#define PIDFD_INFO_PID 1
#define PIDFD_INFO_CREDS 2
#define PIDFD_INFO_CGROUPID 4
#define PIDFD_INFO_EXIT 8
#define PIDFD_INFO_COREDUMP 16

/* ioctl(PIDFD_GET_INFO) (Linux 6.13+): ids and credentials, then the exit status once reaped. */
static void information(void)
{
    int self = pidfd_open(getpid(), 0);
    struct pidfd_info info = {.mask = 0};
    CHECK_RET(ioctl(self, PIDFD_GET_INFO, &info), 0);
    CHECK_RET(info.mask, PIDFD_INFO_PID | PIDFD_INFO_CREDS | PIDFD_INFO_CGROUPID);
    CHECK(info.pid == (uint32_t)getpid() && info.tgid == (uint32_t)getpid() && info.ppid == (uint32_t)getppid());
    CHECK(info.ruid == getuid() && info.euid == geteuid() && info.rgid == getgid() && info.fsgid == getegid());
    info.mask = PIDFD_INFO_EXIT | PIDFD_INFO_COREDUMP;
    CHECK_RET(ioctl(self, PIDFD_GET_INFO, &info), 0);
    CHECK_RET(info.mask, PIDFD_INFO_PID | PIDFD_INFO_CREDS | PIDFD_INFO_CGROUPID | PIDFD_INFO_COREDUMP);
    CHECK_RET(ioctl(self, _IOWR(0xFF, 11, char[64]), &info), 0);         /* the first version's size */
    CHECK_ERR(ioctl(self, _IOWR(0xFF, 11, char[56]), &info), ENOTTY);
    CHECK_ERR(ioctl(self, _IOWR(0xFE, 11, struct pidfd_info), &info), ENOTTY);
    CHECK_ERR(ioctl(self, PIDFD_GET_INFO, NULL), EINVAL);
    CHECK_ERR(ioctl(self, PIDFD_GET_INFO, 8), EFAULT);
    CHECK_ERR(ioctl(0, PIDFD_GET_INFO, &info), ENOTTY);

    int gate[2];
    pid_t child = gated_child(gate, 3);
    int fd = pidfd_open(child, 0);
    info.mask = PIDFD_INFO_EXIT;
    CHECK_RET(ioctl(fd, PIDFD_GET_INFO, &info), 0);
    CHECK(info.pid == (uint32_t)child && info.ppid == (uint32_t)getpid() && !(info.mask & PIDFD_INFO_EXIT));
    write(gate[1], "x", 1);
    siginfo_t status;
    CHECK_RET(waitid(P_PIDFD, fd, &status, WEXITED | WNOWAIT), 0);
    CHECK_RET(ioctl(fd, PIDFD_GET_INFO, &info), 0);                       /* a zombie: no exit yet */
    CHECK(info.pid == (uint32_t)child && !(info.mask & PIDFD_INFO_EXIT));
    CHECK_RET(waitid(P_PIDFD, fd, &status, WEXITED), 0);
    memset(&info, 0xff, sizeof info);
    info.mask = PIDFD_INFO_EXIT;
    CHECK_RET(ioctl(fd, PIDFD_GET_INFO, &info), 0);
    CHECK_RET(info.mask, PIDFD_INFO_CGROUPID | PIDFD_INFO_EXIT);
    CHECK(info.exit_code == 3 << 8 && info.pid == 0 && info.ruid == 0);
    info.mask = 0;
    CHECK_ERR(ioctl(fd, PIDFD_GET_INFO, &info), ESRCH);
    close(gate[1]);
    close(fd);
    close(self);
}

static void cloning(void)
{
    int pidfd = -1;
    CHECK_ERR(sys(SYS_clone, CLONE_PIDFD | CLONE_PARENT_SETTID | SIGCHLD, 0, &pidfd, 0, 0), EINVAL);
    CHECK_ERR(sys(SYS_clone, CLONE_PIDFD | CLONE_DETACHED | SIGCHLD, 0, &pidfd, 0, 0), EINVAL);
    CHECK_ERR(sys(SYS_clone, CLONE_PIDFD | SIGCHLD, 0, (void *)8, 0, 0), EFAULT);
    CHECK_RET(pidfd, -1);

    fflush(stdout);
    long child = sys(SYS_clone, CLONE_PIDFD | SIGCHLD, 0, &pidfd, 0, 0);
    if (child == 0)          /* the child has neither the pidfd nor its number */
        _exit(pidfd == -1 ? 3 : 4);
    CHECK(pidfd >= 0);
    CHECK_RET(fcntl(pidfd, F_GETFD), FD_CLOEXEC);
    CHECK(fdinfo_pid(pidfd) == child);
    siginfo_t info;
    CHECK_RET(waitid(P_PIDFD, pidfd, &info, WEXITED), 0);
    CHECK(info.si_pid == child && info.si_status == 3);
    close(pidfd);

    uint64_t field = 0;
    struct clone_args args = {.flags = CLONE_PIDFD, .pidfd = (uintptr_t)&field, .exit_signal = SIGCHLD};
    fflush(stdout);
    child = sys(SYS_clone3, &args, sizeof args);
    if (child == 0)
        _exit(5);
    CHECK(child > 0 && field > 2 && field < 1024);
    CHECK_RET(waitid(P_PIDFD, (int)field, &info, WEXITED), 0);
    CHECK(info.si_pid == child && info.si_status == 5);
    close((int)field);
    args.flags = CLONE_PIDFD | CLONE_PARENT_SETTID;
    args.parent_tid = args.pidfd;
    CHECK_ERR(sys(SYS_clone3, &args, sizeof args), EINVAL);
}

int main(void)
{
    sigset_t usr1;           /* blocked in every thread: the checks take SIGUSR1 with sigtimedwait */
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    sigprocmask(SIG_BLOCK, &usr1, NULL);
    setpgid(0, 0);           /* its own process group, for PIDFD_SIGNAL_PROCESS_GROUP */
    the_file_itself();
    opening();
    waiting();
    signalling();
    taking_fds();
    cloning();
    thread_pidfd();
    information();
    return done();
}
