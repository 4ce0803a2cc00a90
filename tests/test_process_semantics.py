"""Processes and threads against native Linux: wait4/waitid, zombies and
reparenting, PR_SET_PDEATHSIG, vfork/clone/clone3, and pthreads.

Each C program in tests/cprogs prints pid-independent facts; the sandboxed
output must equal the native one. A few lines are also pinned here, so that
the tests say what Linux does and keep saying it if both runs drifted.
"""

from __future__ import annotations

import os


from helpers import compare_program_output


def test_wait4_selects_children_and_reports_their_status(build):
    out = compare_program_output([build("proc_wait")])
    for line in [
        "no children: returned -1 errno ECHILD",
        "specific pid exit 3: returned child exited 3",
        "pid -1 reaped both: yes",
        "pid 0 while only child is in another group: returned -1 errno ECHILD",
        "-pgid: returned child exited 5",
        "WNOHANG while running: returned 0",
        "wait4 with rusage: returned child exited 4",
        "WUNTRACED after SIGSTOP: returned child stopped 19",
        "WCONTINUED after SIGCONT: returned child continued",
        "stopped child without WUNTRACED: returned 0",
        "SIGSEGV, RLIMIT_CORE 0: returned child signaled 11 core 0",
        "unknown option bit: returned -1 errno EINVAL",
        "wait4 rusage of a child that spun 100ms: at least 80ms of CPU yes",
        "__WNOTHREAD, child of another thread: returned -1 errno ECHILD",
    ]:
        assert line + "\n" in out


def test_waitid_siginfo_wnowait_and_errors(build):
    out = compare_program_output([build("proc_waitid")])
    for line in [
        "P_PID WNOWAIT: 0 si_signo 17 si_code CLD_EXITED si_status 42 si_pid child si_uid mine",
        "zombie still there after WNOWAIT: yes",
        "waitpid after waitid reaped: -1 ECHILD",
        "P_PGID: 0 si_signo 17 si_code CLD_EXITED si_status 9 si_pid child si_uid mine",
        "WNOHANG while running: 0, nothing to report (si_pid 0)",
        "WSTOPPED: 0 si_signo 17 si_code CLD_STOPPED si_status 19 si_pid child si_uid mine",
        "WCONTINUED: 0 si_signo 17 si_code CLD_CONTINUED si_status 18 si_pid child si_uid mine",
        "killed by SIGTERM: 0 si_signo 17 si_code CLD_KILLED si_status 15 si_pid child si_uid mine",
        "no WEXITED/WSTOPPED/WCONTINUED: -1 errno EINVAL",
        "bad idtype: -1 errno EINVAL",
    ]:
        assert line + "\n" in out


def test_zombies_reaping_reparenting_and_pdeathsig(build):
    out = compare_program_output([build("proc_orphans")])
    for line in [
        "exited child is a zombie until waited: yes",
        "SIGCHLD SIG_IGN: wait returns -1 ECHILD after both exited, SIGCHLD handler ran: no, children gone: yes",
        "SA_NOCLDWAIT with a handler: wait returns -1 ECHILD after both exited, "
        "SIGCHLD handler ran: yes, children gone: yes",
        "orphan: getppid() changed away from its dead parent: yes",
        "subreaper: adopted orphan waited for: yes, its status 21",
        "pdeathsig after fork: parent 12, child 0",
        "pdeathsig: PR_GET_PDEATHSIG 10, got signal 10 si_code SI_USER si_pid is the dead parent: yes, "
        "still its child: no",
        # Linux sends it when the *thread* that forked exits, though its process lives on.
        "pdeathsig: PR_GET_PDEATHSIG 10, got signal 10 si_code SI_USER si_pid is the dead parent: yes, "
        "still its child: yes",
    ]:
        assert line + "\n" in out


def test_vfork_clone_and_clone3(build):
    out = compare_program_output([build("proc_clone")])
    for line in [
        "vfork: parent resumed after the child wrote: yes",
        "vfork+execve: child exit status 6",
        "vfork, signal for the parent meanwhile: one child yes, handler ran once after vfork returned yes, "
        "child exit 4",
        "CLONE_VM|CLONE_FS|CLONE_FILES: memory shared yes, fd opened by child valid in parent yes, cwd /tmp",
        "no sharing: memory shared no, fd opened by child valid in parent no, cwd /",
        "CLONE_FILES: fd closed by child is closed in parent: yes (EBADF)",
        "clone CLONE_SIGHAND without CLONE_VM: -1 EINVAL",
        "clone CLONE_THREAD without CLONE_SIGHAND: -1 EINVAL",
        "settid: parent word holds the tid yes",
        "clone3 exit_signal 0: waitpid without __WALL -1 ECHILD, with __WALL child exit 13",
        "clone3 nonzero bytes past the struct: -1 E2BIG",
    ]:
        assert line + "\n" in out


def test_threads_ids_exits_and_execve_from_a_thread(build):
    out = compare_program_output([build("proc_threads")])
    for line in [
        "pthread_exit in main: exit status 7",
        "exit_group from a thread: exit status 9",
        "SYS_exit in a thread: exit status 0",
        "SYS_exit in every thread, main first: exit status 5",
        "before execve: 3 threads",
        "after execve from a thread: getpid() is the old pid yes, gettid() == getpid() yes, 1 thread(s) left",
        "execve from a thread: exit status 5",
    ]:
        assert line + "\n" in out


def test_process_groups_and_sessions(build):
    out = compare_program_output([build("proc_sessions")])
    for line in [
        "setsid as a session leader: -1 EPERM",
        "setpgid(child, child): ok",
        "setpgid(child, a group that does not exist): -1 EPERM",
        "setpgid of an unknown process: -1 ESRCH",
        "setpgid of a child after its execve: -1 EACCES",
        "setsid in a child: new session and group led by it yes",
        "setpgid of a child in another session: -1 EPERM",
    ]:
        assert line + "\n" in out


def test_the_sandbox_counts_the_hosts_cpus_though_the_sentry_is_pinned():
    """nproc (sched_getaffinity), /proc/cpuinfo and /sys's online list show the host's CPUs,
    not the one CPU the sentry pins itself to before its syscall modules are loaded."""
    out = compare_program_output(["/bin/sh", "-c", "nproc; grep -c ^processor /proc/cpuinfo; "
                                                   "cat /sys/devices/system/cpu/online"])
    assert out.splitlines()[0] == str(len(os.sched_getaffinity(0)))
