"""Pseudo-terminals made inside the sandbox (devpts, /dev/ptmx): each program runs natively and
under pysandbox, and what it prints must be the same.

The sandbox's pairs are its own (sentry/vfs/devpts.py); none of it reaches a host pty.
"""
import os
import pty
import termios
import textwrap

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hs

import rootfs as rootfs_mod
from helpers import PYTHON, TEST_ENV, compare_with_native, run_sandbox
from test_terminal import _read_until

from pysandbox.sentry.vfs.devpts import Devpts, Pty

PYTHON3 = "/usr/bin/python3"
HERE = os.path.dirname(os.path.abspath(__file__))
PTY_EDGES = os.path.join(HERE, "pyprogs", "pty_edges.py")


@pytest.fixture(scope="module")
def busybox():
    if not os.path.exists(rootfs_mod.BUSYBOX):
        pytest.fail(f"{rootfs_mod.BUSYBOX} is missing: run scripts/install.sh", pytrace=False)
    return rootfs_mod.BUSYBOX


def _script(tmp_path, text):
    path = tmp_path / "program.py"
    path.write_text(textwrap.dedent(text))
    os.chmod(tmp_path, 0o755)
    return str(path)


def test_os_openpty_line_discipline(tmp_path):
    """os.openpty(): ttyname, echo with ONLCR, raw mode, window size, EIO once the replica closed."""
    program = _script(tmp_path, """
        import fcntl, os, re, struct, termios, tty
        m, s = os.openpty()
        print("ttyname", re.sub(r"[0-9]+$", "N", os.ttyname(s)))
        print("isatty", os.isatty(m), os.isatty(s))
        os.write(m, b"hello\\n")
        print(os.read(s, 100), os.read(m, 100))
        os.write(s, b"out\\n")
        print(os.read(m, 100))
        print(termios.tcgetattr(s)[:6])
        tty.setraw(s)
        os.write(m, b"x\\r")
        print(os.read(s, 100))
        fcntl.ioctl(s, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
        print(struct.unpack("HHHH", fcntl.ioctl(m, termios.TIOCGWINSZ, bytes(8))))
        print(os.path.basename(os.ttyname(s)) in os.listdir("/dev/pts"))
        os.close(s)
        try:
            os.read(m, 10)
        except OSError as error:
            print("read master", error.errno)
    """)
    compare_with_native([PYTHON3, program])


def test_pty_fork_runs_stty_under_a_controlling_terminal(tmp_path):
    """pty.fork(): the child is a session leader on the new terminal; `stty -a` there, /dev/tty."""
    program = _script(tmp_path, """
        import os, pty
        pid, fd = pty.fork()
        if pid == 0:
            with open("/dev/tty", "w") as tty:
                print("session leader:", os.getsid(0) == os.getpid(), "foreground:",
                      os.tcgetpgrp(0) == os.getpgrp(), file=tty)
            os.execv("/bin/sh", ["sh", "-c", "stty -a; stty cols 100 rows 7 -echo; stty -a; exit 5"])
        def read_some():
            try:
                return os.read(fd, 4096)
            except OSError:  # EIO: the child and its terminal are gone
                return b""
        out = b"".join(iter(read_some, b""))
        print(out.decode())
        print("status", os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
    """)
    out = compare_with_native([PYTHON3, program]).out
    assert "status 5" in out and "rows 7; columns 100" in out


def test_pty_edge_cases_match_linux():
    """Locking, ENOTTY/EPERM/ESRCH of the session requests, canonical and raw reads, VMIN/VTIME,
    ONLCR, TIOCGPTPEER, hangups from either side, TIOCSCTTY, /proc tty_nr, /dev/tty, TIOCNOTTY."""
    compare_with_native([PYTHON3, PTY_EDGES])


def test_script_drives_busybox_sh_through_the_master(cprog, busybox):
    """posix_openpt/grantpt/unlockpt/ptsname, fork, setsid, TIOCSCTTY, then busybox sh -i driven
    through the master: echo, erase and kill, ^D to cat, ^C to the foreground job, a resize
    (SIGWINCH and stty size), raw mode, and EIO on the master once the shell exited."""
    out = compare_with_native([cprog("pty_script"), busybox, "session"]).out
    assert "got=ac" in out and "WINCH" in out and "30 100" in out and "master read: Input/output error" in out


def test_master_close_hangs_up_the_session(cprog, busybox):
    """Closing the master: SIGHUP to the session leader, whose exit hangs up the foreground job."""
    out = compare_with_native([cprog("pty_script"), busybox, "hangup"]).out
    assert "shell killed by Hangup" in out and "job killed by Hangup" in out


def test_util_linux_script_runs_a_command_on_a_new_pty():
    """util-linux's `script -qc` (when the host has it), as on Linux."""
    if not os.path.exists("/usr/bin/script"):
        pytest.skip("the host lacks util-linux's script")
    out = compare_with_native(["/usr/bin/script", "-qc", "tty | sed s/[0-9]*$/N/; stty -a | head -2; echo done",
                               "/dev/null"]).out
    assert "/dev/pts/N" in out and "done" in out


def test_cpython_test_pty_passes():
    """CPython's own test_pty (libpython3.11-testsuite), as on Linux."""
    if not os.path.exists("/usr/lib/python3.11/test/test_pty.py"):
        pytest.skip("the host lacks libpython3.11-testsuite (CPython's test package)")
    result = run_sandbox(["/usr/bin/python3.11", "-m", "test", "test_pty"], timeout=120)
    assert result.status == 0 and "Tests result: SUCCESS" in result.out, result


def test_devpts_mount_is_what_runc_makes():
    """/dev/pts is a devpts mount with runc's options; /dev/ptmx leads to it; replicas are 0620 group 5."""
    program = textwrap.dedent("""
        import os, stat
        print([line.split()[2:4] for line in open("/proc/mounts") if line.split()[1] == "/dev/pts"])
        print(os.readlink("/dev/ptmx"), oct(os.stat("/dev/pts/ptmx").st_mode))
        master, replica = os.openpty()
        info = os.stat(os.ttyname(replica))
        print(oct(info.st_mode), info.st_gid, os.ttyname(replica))
    """)
    result = run_sandbox([PYTHON3, "-c", program])
    assert result.status == 0, result
    assert result.out.splitlines() == [
        "[['devpts', 'rw,nosuid,noexec,newinstance,ptmxmode=0666,mode=0620,gid=5']]",
        "pts/ptmx 0o20666",
        "0o20620 5 /dev/pts/0",
    ], result


def test_devpts_mount_options_are_checked():
    """mount(2) of devpts inside the sandbox: a new instance with its own numbering; an unknown
    option is EINVAL."""
    program = textwrap.dedent("""
        import ctypes, os
        libc = ctypes.CDLL(None, use_errno=True)
        os.makedirs("/tmp/pts2", exist_ok=True)
        def mount(options):
            if libc.mount(b"devpts", b"/tmp/pts2", b"devpts", 0, options) != 0:
                return os.strerror(ctypes.get_errno())
            return "ok"
        print(mount(b"newinstance,bogus=1"))
        print(mount(b"newinstance,ptmxmode=0600,mode=0600"))
        fd = os.open("/tmp/pts2/ptmx", os.O_RDWR | os.O_NOCTTY)
        print(sorted(os.listdir("/tmp/pts2")), oct(os.stat("/tmp/pts2/ptmx").st_mode))
    """)
    result = run_sandbox([PYTHON3, "-c", program])
    assert result.status == 0, result
    assert result.out.splitlines() == ["Invalid argument", "ok", "['0', 'ptmx'] 0o20600"], result


def test_stdio_terminal_shows_as_dev_pts_0():
    """On a terminal (docker run -t), `tty` prints /dev/pts/0 as under runc; the sandbox's own
    pairs take the next numbers."""
    pid, fd = pty.fork()
    if pid == 0:
        os.execve(PYTHON, [PYTHON, "-m", "pysandbox", "do", "--", "/bin/sh", "-c",
                           "tty; ls /dev/pts; readlink /proc/self/fd/0; "
                           "python3 -c 'import os; m, s = os.openpty(); print(os.ttyname(s))'"], TEST_ENV)
    try:
        output = _read_until(fd, b"\0")  # a byte the output never holds: read to the end
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    assert status == 0, output
    assert output.decode().replace("\r", "").split() == ["/dev/pts/0", "0", "ptmx", "/dev/pts/0", "/dev/pts/1"], output


# --- the line discipline against Linux's n_tty, in-process -------------------------------------

_LFLAGS = (termios.ISIG | termios.ICANON | termios.ECHO | termios.ECHOE | termios.ECHOK | termios.ECHONL
           | termios.NOFLSH | termios.ECHOCTL | termios.ECHOKE | termios.IEXTEN)
_IFLAGS = termios.INLCR | termios.IGNCR | termios.ICRNL | termios.IXON | termios.IXANY
_OFLAGS = termios.OPOST | termios.ONLCR | termios.OCRNL | termios.ONOCR | termios.ONLRET
# Plain text and every character the line discipline treats specially by default: ^A, ^C, ^D,
# ^Q, ^S, ^R, ^U, ^V, ^W, ^Z, ^\, DEL, CR, NL, and tabs (erased by columns).
_KEYS = b"ab _.\t\x01\x11\x13\x03\x04\x12\x15\x16\x17\x1a\x1c\x7f\r\n"
_TYPED = hs.lists(hs.lists(hs.sampled_from(_KEYS), min_size=1, max_size=12).map(bytes), min_size=1, max_size=4)


def _drain(fd):
    """Non-blocking reads until EAGAIN. Linux moves bytes between the two ends in a work queue;
    a read that finds nothing first runs what is pending (n_tty_read), so this sees all of it."""
    reads = []
    while True:
        try:
            reads.append(os.read(fd, 1000))
        except BlockingIOError:
            return reads


def _through_linux(iflag, oflag, lflag, chunks):
    """What a Linux pty pair makes of `chunks` typed at the master, each read at once by a program
    on the replica: the replica's reads, and the echo the master reads."""
    master, replica = os.openpty()
    try:
        attrs = termios.tcgetattr(replica)
        attrs[0], attrs[1], attrs[3] = iflag, oflag, lflag
        termios.tcsetattr(replica, termios.TCSANOW, attrs)
        os.set_blocking(master, False)
        os.set_blocking(replica, False)
        reads, echo = [], b""
        for chunk in chunks:
            os.write(master, chunk)
            reads += _drain(replica)
            echo += b"".join(_drain(master))
        return _as_read(lflag, reads), echo
    finally:
        os.close(master)
        os.close(replica)


def _through_the_sentry(iflag, oflag, lflag, chunks):
    pair = Pty(Devpts(), 0, None, 0, 0)
    pair.termios.iflag, pair.termios.oflag, pair.termios.lflag = iflag, oflag, lflag
    reads = []
    for chunk in chunks:
        pair.receive(chunk)
        while pair.input_ready():
            reads.append(pair.take_input(1000))
    return _as_read(lflag, reads), bytes(pair.output)


def _as_read(lflag, reads):
    """Canonical reads come a line each; raw ones as the bytes happened to arrive."""
    return reads if lflag & termios.ICANON else b"".join(reads)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(iflag=hs.integers(0, _IFLAGS).map(lambda bits: bits & _IFLAGS),
       oflag=hs.integers(0, _OFLAGS).map(lambda bits: bits & _OFLAGS),
       lflag=hs.integers(0, _LFLAGS).map(lambda bits: bits & _LFLAGS),
       chunks=_TYPED)
def test_line_discipline_matches_linux_n_tty(iflag, oflag, lflag, chunks):
    """Random typing under random termios flags: the replica's reads and the echo are Linux's."""
    assert _through_the_sentry(iflag, oflag, lflag, chunks) == _through_linux(iflag, oflag, lflag, chunks)
