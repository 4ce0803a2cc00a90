"""Why a case or sub-test gives a different result in the sandbox than natively.

Keys are "suite/case" or "suite/case:Class.test"; the conformance report prints the
reason next to the difference. Reasons are facts found by reading the test and the
sandbox's behaviour, not guesses: a difference not listed here shows as "reason not yet
known".
"""

_PTY = ("The sandbox has no pseudo-terminals yet: /dev/ptmx is missing, so openpty() fails "
        "(os.openpty, pty.fork, pty.spawn).")
_LOCKF = ("Record locks are being reworked (sentry/vfs/lock.py, in progress in this build): closing a "
          "file holding a lockf() lock hits an internal error (KeyError), so close() fails with EINVAL.")
_PIDFD = "pidfd_open and pidfd_send_signal are not implemented (ENOSYS): the test skips itself."

# Problems the suites found that are not one test's difference (docs/coverage.md lists them).
KNOWN_PROBLEMS = [
    "pidfds (pidfd_open, pidfd_send_signal, pidfd_getfd, waitid's P_PIDFD, CLONE_PIDFD) are not "
    "implemented.",
    "The workload's CPU time counts only what its own code runs; the sentry's work on its behalf is "
    "not charged, so CPU-time clocks and timers run slow for syscall-heavy code.",
]

REASONS = {
    "cpython/test_pty": _PTY,
    "cpython/test_signal:ItimerTest.test_itimer_virtual": (
        "The test spins calling getitimer() until 0.7 s of ITIMER_VIRTUAL (user CPU) time has passed; "
        "in the sandbox most of each iteration is the sentry's work, which is not charged to the process, "
        "so the time does not pass within the test's wait and it skips itself ('machine too slow')."),
    "cpython/test_mmap:LargeMmapTests.test_around_4GB": (
        "The sandbox's /tmp is its in-memory overlay, which refuses a file reaching 4 GiB (EFBIG): the "
        "test cannot make its sparse file and skips itself ('no largefile support')."),
    "cpython/test_mmap:LargeMmapTests.test_large_filesize": (
        "The sandbox's /tmp is its in-memory overlay, which refuses a file reaching 4 GiB (EFBIG)."),
    "cpython/test_mmap:LargeMmapTests.test_large_offset": (
        "The sandbox's /tmp is its in-memory overlay, which refuses a file reaching 4 GiB (EFBIG)."),
    "cpython/test_subprocess:POSIXProcessTestCase.test_preexec_fork_failure": (
        "Skipped natively, run in the sandbox: Linux exempts uid 0 from RLIMIT_NPROC, the sandbox applies "
        "it to root too (so that a fork bomb stops)."),
    "cpython/test_subprocess:ProcessTestCase.test_no_leaking": (
        "Skipped natively, run in the sandbox: the host's test runner has RLIMIT_NOFILE 20000, which the "
        "test cannot reach; the sandbox starts processes with 1024, as Linux and Docker do."),
    "cpython/test_subprocess:ProcessTestCaseNoPoll.test_no_leaking": (
        "Skipped natively, run in the sandbox: RLIMIT_NOFILE is 20000 on the host, 1024 in the sandbox."),
    "cpython/test_os:FDInheritanceTests.test_openpty": _PTY,
    "cpython/test_posix:PosixTester.test_lockf": _LOCKF,
    "cpython/test_fcntl:TestFcntl.test_lockf_exclusive": _LOCKF,
    "cpython/test_fcntl:TestFcntl.test_lockf_share": _LOCKF,
    "cpython/test_posix:PosixTester.test_pidfd_open": _PIDFD,
    "cpython/test_signal:PidfdSignalTest.test_pidfd_send_signal": _PIDFD,
    "cpython/test_epoll:TestEPoll.test_control_and_wait": (
        "A non-blocking AF_INET connect() to a local listener: the sandbox's network stack (issue 8, "
        "in progress) does not report the client's EPOLLOUT|EPOLLET edge when the connection completes."),
    "cpython/test_sqlite3": "Debian's libpython3.11-testsuite does not ship test_sqlite3, so it cannot "
                            "run natively either (No module named 'test.test_sqlite3').",
}


def reason_for(suite, case, test=None):
    if test is not None:
        found = REASONS.get(f"{suite}/{case}:{test}")
        if found:
            return found
    return REASONS.get(f"{suite}/{case}")
