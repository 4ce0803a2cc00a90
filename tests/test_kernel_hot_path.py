"""The kernel's hot path (Kernel._run_alone) stays on while timers are live and host fds are
watched, so it must end its wait on time by itself: a thread parked on a timed futex wait or a
nanosleep, an interval timer, and a UDP datagram for a thread blocked in recv(2) are all
served while the main thread spins, with syscalls and without (tests/cprogs/hot_path.c).
The same program checks that reads copied into guest memory through the fast path still fail
with EFAULT, or stop short, at pages the process may not write, as on Linux.
"""

from __future__ import annotations

import os

import pytest

from helpers import assert_same, run_native, run_sandbox

# Run on every platform the host offers (tests/conftest.py: each_platform).
pytestmark = pytest.mark.usefixtures("each_platform")

# A host file of at least 256 KiB that the sandbox (the host's / read-only) sees too.
BIG_FILE = os.path.realpath("/usr/bin/python3")


@pytest.mark.parametrize("static", [False, True], ids=["dynamic", "static"])
def test_timers_and_host_sockets_stay_on_time_under_the_hot_path(cprog, static):
    assert os.path.getsize(BIG_FILE) >= 256 * 1024
    path = cprog("hot_path", static=static)
    native = run_native([path, BIG_FILE])
    sandboxed = run_sandbox([path, BIG_FILE], flags=["--network=host"])
    assert_same(native, sandboxed)
    assert sandboxed.status == 0
    assert "MISSED" not in sandboxed.out
    for line in [
        "timed futex wait in another thread, main thread spinning without syscalls: in time",
        "udp datagram to a blocked thread, main thread spinning on getppid: in time",
        "SIGALRM of setitimer, spinning without syscalls: in time",
        "read 256 KiB into a PROT_READ buffer: -1 EFAULT",
        "pread 256 KiB into 64 KiB writable then read-only: 65536",
        "  the read-only part is untouched: yes",
        "  same bytes as a second read: yes",
    ]:
        assert line in sandboxed.out.splitlines(), line

