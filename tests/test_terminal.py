"""A sandbox on a terminal: ^C and ^Z reach the sandbox's foreground job, as in a real shell."""
import os
import pty
import select
import time

from helpers import PYTHON, TEST_ENV


def _read_until(fd, marker, timeout=20):
    """Output of the pty until `marker` appears (or the time runs out)."""
    seen = b""
    deadline = time.monotonic() + timeout
    while marker not in seen and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
    return seen


def _interactive_bash():
    pid, fd = pty.fork()
    if pid == 0:
        os.execve(PYTHON, [PYTHON, "-m", "pysandbox", "do", "--", "/bin/bash", "--norc", "--noprofile", "-i"],
                  dict(TEST_ENV, PS1="prompt$ ", TERM="dumb"))
    return pid, fd


def test_ctrl_c_and_ctrl_z_reach_the_foreground_job():
    pid, fd = _interactive_bash()
    try:
        assert b"prompt$ " in _read_until(fd, b"prompt$ ")
        os.write(fd, b"sleep 30\n")
        time.sleep(0.5)
        os.write(fd, b"\x03")                                   # ^C
        os.write(fd, b"echo after-int $?\n")
        assert b"after-int 130" in _read_until(fd, b"after-int 130")
        os.write(fd, b"sleep 30\n")
        time.sleep(0.5)
        os.write(fd, b"\x1a")                                   # ^Z
        assert b"Stopped" in _read_until(fd, b"Stopped")
        os.write(fd, b"kill %1; wait; echo after-stop\n")
        assert b"after-stop" in _read_until(fd, b"after-stop")
        os.write(fd, b"exit 3\n")
        _read_until(fd, b"\0", timeout=5)
        _, status = os.waitpid(pid, 0)
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 3
    finally:
        try:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
        os.close(fd)
