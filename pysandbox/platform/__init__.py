"""The seam between the sentry and the hardware (see docs/ARCHITECTURE.md).

A platform runs guest code and reports why it stopped. The sentry never asks
which platform it has; it only uses the classes below.
"""
from collections import namedtuple

from pysandbox.sentry.errors import SandboxError


class _Singleton:
    """An event without fields: every instance is equal to every other."""
    __slots__ = ()

    def __eq__(self, other):
        return type(other) is type(self)

    def __hash__(self):
        return hash(type(self))

    def __repr__(self):
        return f"{type(self).__name__}()"


class Syscall(_Singleton):
    """The guest executed `syscall`; the number and arguments are in the registers."""
    __slots__ = ()


class Fault(namedtuple("Fault", "signo code addr trapno error_code", defaults=(0, 0))):
    """The guest faulted: the signal the host CPU raised, its si_code and address."""
    __slots__ = ()


class Interrupted(_Singleton):
    """The guest was stopped on request (Context.interrupt) or by a stray host signal."""
    __slots__ = ()


class Exited(namedtuple("Exited", "status")):
    """The host thread backing the context is gone."""
    __slots__ = ()


SYSCALL = Syscall()
INTERRUPTED = Interrupted()


class Platform:
    name = "abstract"

    def new_process(self):
        """A fresh, empty address space and its first (stopped) Context."""
        raise NotImplementedError

    def wait(self, timeout):
        """Block until a context stops, a watched fd is ready or `timeout` seconds pass.
        Returns a list of (context, event) pairs and a list of ready host fds."""
        raise NotImplementedError

    def confine_threads(self, mode, log_fd):
        """Once the sentry's own seccomp filter holds (mode 'kill' or 'debug'; 'off': nothing):
        give the platform's host threads their smaller filters (log_fd: where a refused call is
        reported). The ptrace stubs have theirs from the start; KVM's vCPU threads get theirs
        here (platform/kvm)."""

    # Host fds the sentry waits on: platforms keep them in an epoll set (self._epoll, self._watched).
    def watch_fd(self, fd, events):
        if fd in self._watched:
            self._epoll.modify(fd, events)
        else:
            self._epoll.register(fd, events)
            self._watched.add(fd)

    def unwatch_fd(self, fd):
        if fd in self._watched:
            self._watched.discard(fd)
            try:
                self._epoll.unregister(fd)
            except OSError:
                pass


def timeout_ms(timeout):
    """epoll's timeout: milliseconds rounded up, -1 for none. It is a C int: a far-off timer
    (alarm(UINT_MAX)) just wakes the loop early."""
    return -1 if timeout is None else min(max(0, int(timeout * 1000 + 0.999)), 0x7FFFFFFF)


PLATFORMS = ("ptrace", "kvm")


def get_platform(name, **options):
    if name == "ptrace":
        from pysandbox.platform.ptrace.platform import PtracePlatform
        return PtracePlatform(**options)
    if name == "kvm":
        from pysandbox.platform.kvm.machine import KvmPlatform
        return KvmPlatform(**options)
    raise SandboxError(f"unknown platform {name!r} (choose from: {', '.join(PLATFORMS)})", 2)


def probe_platforms():
    """(name, usable, reason) for every platform on this host."""
    results = []
    try:
        from pysandbox.platform.ptrace import platform as _  # noqa: F401
        results.append(("ptrace", True, "PTRACE_SYSEMU stubs, C loop built"))
    except ImportError as exc:
        results.append(("ptrace", False, f"C loop not built ({exc}); run pip install -e ."))
    try:
        from pysandbox.platform.kvm.machine import host_support
        results.append(("kvm", *host_support()))
    except ImportError as exc:
        results.append(("kvm", False, f"vCPU loop not built ({exc}); run pip install -e ."))
    return results
