"""Forking the gofer, from a module light enough to import before the sentry's own.

`pysandbox do` forks the directfs gofer before the sentry imports its modules and moves it to
another CPU: the gofer imports the few it needs (gofer/server.py, hostops, protocol, the syscall
names) and opens the roots and hands them over there while the sentry imports its own and starts
its platform (runner._start_gofer). The sentry takes the started gofer over in VFS.for_rootfs
(GoferClient(started=...)), which reads its ready message.
"""
import os
import _signal as signal  # the C module: `signal` adds enum's import, ~2 ms of every start
import _socket  # the C module: `socket` would add ~3 ms of enum set-up to every start

DIRECTFS, GOFER = "directfs", "gofer"
MODES = (DIRECTFS, GOFER)
# Chosen by measurement (docs/GOFER.md, bench/fs_gofer.py); PYSANDBOX_GOFER_MODE overrides it.
DEFAULT_GOFER_MODE = os.environ.get("PYSANDBOX_GOFER_MODE") or DIRECTFS


class StartedGofer:
    """A forked gofer for `roots` whose ready message has not been read yet."""

    __slots__ = ("roots", "hand_over", "pid", "sock")

    def __init__(self, roots, hand_over, pid, sock):
        self.roots, self.hand_over, self.pid, self.sock = roots, hand_over, pid, sock

    def take(self, roots, hand_over):
        """(pid, socket) for the GoferClient of `roots`, or None when this gofer was started for
        other roots or another mode (it is ended then). Only the first call gets them."""
        if self.sock is None:
            return None
        if (self.roots, self.hand_over) != (roots, hand_over):
            self.abandon()
            return None
        taken = self.pid, self.sock
        self.sock = None
        return taken

    def abandon(self):
        """End and collect a gofer nobody took over (the sandbox's set-up failed before)."""
        if self.sock is None:
            return
        self.sock.close()
        self.sock = None
        try:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass


def fork_gofer(roots, hand_over=False, cpus=None):
    """Fork the gofer for `roots` ((host path, read-only) pairs); returns (pid, the sentry's end
    of its socket). With `cpus`, the child is moved to those CPUs before it first runs (it
    stays on the caller's if the host refuses), and then lets itself run on any: if another
    process keeps those CPUs busy, the scheduler may still move it."""
    ours, theirs = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_SEQPACKET)
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:
        try:
            ours.close()
            if cpus:
                allow_every_cpu()
            # Imported by the child: the sentry's modules may not be imported yet. Its seccomp
            # report names syscalls from the table, after its chroot (security/seccomp.py).
            from pysandbox.sentry.syscalls import linux64  # noqa: F401
            from .server import run_in_child
            run_in_child(roots, theirs, hand_over, parent)
        finally:
            os._exit(1)                  # nothing may unwind into the forked copy of the caller
    theirs.close()
    if cpus:
        try:
            os.sched_setaffinity(pid, cpus)
        except OSError:
            pass
    return pid, ours


def allow_every_cpu(pid=0):
    """Let process `pid` (0: this one) run on any CPU, if the host lets it."""
    try:
        os.sched_setaffinity(pid, range(os.cpu_count() or 1))
    except OSError:
        pass


def start_gofer(roots, hand_over, cpus=None):
    """fork_gofer's gofer as a StartedGofer, for GoferClient to take over later."""
    return StartedGofer(roots, hand_over, *fork_gofer(roots, hand_over, cpus))
