/* Reach the host's canary process (its pid and name are known to the attacker):
 *   see     find it in /proc
 *   signal  kill it (the harness checks it is still alive)
 *   ptrace  attach to it and read its memory */
#include "attack.h"
#include <dirent.h>
#include <signal.h>
#include <sys/ptrace.h>
#include <sys/wait.h>

static int is_canary(int pid)
{
    char path[64], comm[64] = "";
    snprintf(path, sizeof(path), "/proc/%d/comm", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    if (!fgets(comm, sizeof(comm), f))
        comm[0] = 0;
    fclose(f);
    comm[strcspn(comm, "\n")] = 0;
    return !strcmp(comm, canary_comm());
}

static void see(void)
{
    if (is_canary(canary_pid()))
        evidence("/proc/%d is the host's canary process", canary_pid());
    else
        blocked("/proc/%d: not the canary", canary_pid());
    DIR *proc = opendir("/proc");
    struct dirent *d;
    while (proc && (d = readdir(proc)))
        if (d->d_name[0] >= '1' && d->d_name[0] <= '9' && is_canary(atoi(d->d_name)))
            evidence("found the host's canary process in /proc as %s", d->d_name);
}

static void signal_it(void)
{
    if (kill(canary_pid(), SIGKILL) == 0)
        say("info", "kill(%d, SIGKILL) returned 0", canary_pid());
    else
        blocked("kill(%d): %s", canary_pid(), strerror(errno));
}

static void trace(void)
{
    int pid = canary_pid();
    if (ptrace(PTRACE_ATTACH, pid, 0, 0) < 0) {
        blocked("ptrace(PTRACE_ATTACH, %d): %s", pid, strerror(errno));
        return;
    }
    int status;
    if (waitpid(pid, &status, __WALL) == pid && is_canary(pid)) {
        errno = 0;
        long word = ptrace(PTRACE_PEEKUSER, pid, 0, 0);
        evidence("attached to the host's canary process %d (peeked %lx, %s)", pid, word, strerror(errno));
    } else {
        blocked("attached to %d, but it is not the canary", pid);
    }
    ptrace(PTRACE_DETACH, pid, 0, 0);
}

int main(int argc, char **argv)
{
    const char *how = argc > 1 ? argv[1] : "";
    if (!strcmp(how, "see"))
        see();
    else if (!strcmp(how, "signal"))
        signal_it();
    else if (!strcmp(how, "ptrace"))
        trace();
    else
        return 2;
    return 0;
}
