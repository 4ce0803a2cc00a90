"""pidfds: pidfd_open(2), pidfd_send_signal(2), pidfd_getfd(2), clone/clone3 with CLONE_PIDFD and
waitid(2) with P_PIDFD, checked against the host kernel (Linux 6.9+ semantics: PIDFD_THREAD, the
signal scopes, POLLHUP once reaped) by real programs on every platform."""
import os

import pytest

from helpers import assert_same, no_traceback, run_native, run_sandbox
from pysandbox.coverage.suites import CTests

pytestmark = pytest.mark.usefixtures("each_platform")

PYPROG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pyprogs", "pidfd_python.py")
HOST_PYTHON = "/usr/bin/python3"


@pytest.fixture(scope="module")
def pidfd_checks(tmp_path_factory):
    """tests/syscalls/pidfd.c, compiled as `pysandbox conformance --suite ctests` does."""
    (case,) = CTests().cases(str(tmp_path_factory.mktemp("pidfd")), only=["pidfd"])
    return case.argv[0]


def test_pidfd_c_checks_match_native(pidfd_checks):
    native = run_native([pidfd_checks])
    assert native.status == 0 and "not ok" not in native.out, f"tests/syscalls/pidfd.c is wrong about Linux:\n{native}"
    sandboxed = run_sandbox([pidfd_checks])
    assert_same(native, sandboxed, "pidfd.c")
    assert sandboxed.out.rstrip().rsplit("\n", 1)[-1].startswith("1.."), "the checks did not run to the end"


def test_python_pidfd_poll_waitid_signal_and_asyncio_watcher():
    """os.pidfd_open + select.poll/epoll + os.waitid(P_PIDFD), signal.pidfd_send_signal and
    asyncio's PidfdChildWatcher, as CPython uses them."""
    native = run_native([HOST_PYTHON, PYPROG])
    assert native.status == 0, native
    sandboxed = run_sandbox([HOST_PYTHON, PYPROG])
    no_traceback(sandboxed)
    assert_same(native, sandboxed, "pidfd_python.py")
    assert "asyncio with PidfdChildWatcher: ([0, 3, 4], 'from the child', 0)" in sandboxed.out


def test_pidfd_fdinfo_and_link_name_the_sandbox_pid():
    """/proc/self/fdinfo shows the pid as the sandbox numbers it (pid 1 here), never the host's."""
    script = ("import os; fd = os.pidfd_open(os.getpid()); "
              "print(os.getpid(), os.readlink(f'/proc/self/fd/{fd}')); "
              "print(open(f'/proc/self/fdinfo/{fd}').read(), end='')")
    sandboxed = run_sandbox([HOST_PYTHON, "-S", "-c", script])
    assert sandboxed.status == 0, sandboxed
    lines = sandboxed.out.splitlines()
    assert lines[0] == "1 anon_inode:[pidfd]"
    assert lines[1] == "pos:\t0" and lines[2] == "flags:\t02000002", lines
    assert lines[-2:] == ["Pid:\t1", "NSpid:\t1"], lines
