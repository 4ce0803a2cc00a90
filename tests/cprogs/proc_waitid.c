#define _GNU_SOURCE
/* waitid(2): P_PID, P_ALL and P_PGID; WEXITED, WSTOPPED and WCONTINUED;
 * WNOWAIT leaving the child waitable; the siginfo_t it fills; EINVAL. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *code_name(int code)
{
    switch (code) {
    case CLD_EXITED: return "CLD_EXITED";
    case CLD_KILLED: return "CLD_KILLED";
    case CLD_DUMPED: return "CLD_DUMPED";
    case CLD_STOPPED: return "CLD_STOPPED";
    case CLD_CONTINUED: return "CLD_CONTINUED";
    default: return "?";
    }
}

static void report(const char *what, pid_t child, int ret, const siginfo_t *info)
{
    printf("%s: ", what);
    if (ret < 0) {
        printf("-1 errno %s\n", strerrorname_np(errno));
        return;
    }
    if (info->si_pid == 0) {
        printf("0, nothing to report (si_pid 0)\n");
        return;
    }
    printf("%d si_signo %d si_code %s si_status %d si_pid %s si_uid %s\n", ret, info->si_signo,
           code_name(info->si_code), info->si_status, info->si_pid == child ? "child" : "other",
           info->si_uid == getuid() ? "mine" : "other");
}

static pid_t child_exiting(int code)
{
    pid_t pid = fork();
    if (pid == 0)
        _exit(code);
    return pid;
}

static pid_t child_pausing(void)
{
    pid_t pid = fork();
    if (pid == 0) {
        for (;;)
            pause();
    }
    return pid;
}

int main(void)
{
    siginfo_t info;
    pid_t pid;
    int ret;

    setvbuf(stdout, NULL, _IONBF, 0);

    memset(&info, 0, sizeof info);
    ret = waitid(P_ALL, 0, &info, WEXITED);
    report("no children", 0, ret, &info);

    pid = child_exiting(42);
    memset(&info, 0, sizeof info);
    ret = waitid(P_PID, pid, &info, WEXITED | WNOWAIT);
    report("P_PID WNOWAIT", pid, ret, &info);
    printf("zombie still there after WNOWAIT: %s\n", kill(pid, 0) == 0 ? "yes" : "no");
    memset(&info, 0, sizeof info);
    ret = waitid(P_ALL, 0, &info, WEXITED | WNOWAIT);
    report("P_ALL WNOWAIT again", pid, ret, &info);
    memset(&info, 0, sizeof info);
    ret = waitid(P_PID, pid, &info, WEXITED);
    report("P_PID reaping", pid, ret, &info);
    printf("zombie gone after reaping: %s\n", kill(pid, 0) == 0 ? "no" : strerrorname_np(errno));
    ret = waitpid(pid, NULL, 0);
    printf("waitpid after waitid reaped: %d %s\n", ret, strerrorname_np(errno));

    pid = fork();
    if (pid == 0) {
        setpgid(0, 0);
        _exit(9);
    }
    setpgid(pid, pid);
    memset(&info, 0, sizeof info);
    ret = waitid(P_PGID, pid, &info, WEXITED);
    report("P_PGID", pid, ret, &info);

    pid = child_pausing();
    memset(&info, 0, sizeof info);
    ret = waitid(P_PID, pid, &info, WEXITED | WNOHANG);
    report("WNOHANG while running", pid, ret, &info);
    kill(pid, SIGSTOP);
    memset(&info, 0, sizeof info);
    ret = waitid(P_PID, pid, &info, WSTOPPED | WNOWAIT);
    report("WSTOPPED WNOWAIT", pid, ret, &info);
    memset(&info, 0, sizeof info);
    ret = waitid(P_PID, pid, &info, WSTOPPED);
    report("WSTOPPED", pid, ret, &info);
    memset(&info, 0, sizeof info);
    ret = waitid(P_PID, pid, &info, WSTOPPED | WNOHANG);
    report("WSTOPPED again", pid, ret, &info);
    kill(pid, SIGCONT);
    memset(&info, 0, sizeof info);
    ret = waitid(P_PID, pid, &info, WCONTINUED);
    report("WCONTINUED", pid, ret, &info);
    memset(&info, 0, sizeof info);
    ret = waitid(P_PID, pid, &info, WCONTINUED | WNOHANG);
    report("WCONTINUED again", pid, ret, &info);
    kill(pid, SIGTERM);
    memset(&info, 0, sizeof info);
    ret = waitid(P_PID, pid, &info, WEXITED);
    report("killed by SIGTERM", pid, ret, &info);

    pid = fork();
    if (pid == 0) {
        signal(SIGSEGV, SIG_DFL);
        raise(SIGSEGV);
        _exit(1);
    }
    memset(&info, 0, sizeof info);
    ret = waitid(P_ALL, 0, &info, WEXITED);
    report("killed by SIGSEGV (no core)", pid, ret, &info);

    pid = child_exiting(1);
    memset(&info, 0, sizeof info);
    ret = waitid(P_PID, pid, &info, 0);
    report("no WEXITED/WSTOPPED/WCONTINUED", pid, ret, &info);
    ret = waitid(P_PID, pid, &info, WEXITED | 0x100);
    report("unknown option bit", pid, ret, &info);
    ret = waitid((idtype_t)42, pid, &info, WEXITED);
    report("bad idtype", pid, ret, &info);
    ret = waitid(P_PID, -1, &info, WEXITED);
    report("P_PID with negative id", pid, ret, &info);
    ret = waitid(P_PID, pid, &info, WEXITED);
    report("reap the last one", pid, ret, &info);
    return 0;
}
