"""The seam between the sentry and the hardware (see docs/ARCHITECTURE.md).

A platform runs guest code and reports why it stopped. The sentry never asks
which platform it has; it only uses the classes below.
"""
from dataclasses import dataclass

from pysandbox.sentry.errors import SandboxError


@dataclass(frozen=True)
class Syscall:
    """The guest executed `syscall`; the number and arguments are in the registers."""


@dataclass(frozen=True)
class Fault:
    """The guest faulted: the signal the host CPU raised, its si_code and address."""
    signo: int
    code: int
    addr: int
    trapno: int = 0
    error_code: int = 0


@dataclass(frozen=True)
class Interrupted:
    """The guest was stopped on request (Context.interrupt) or by a stray host signal."""


@dataclass(frozen=True)
class Exited:
    """The host thread backing the context is gone."""
    status: int


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

    def watch_fd(self, fd, events):
        raise NotImplementedError

    def unwatch_fd(self, fd):
        raise NotImplementedError


PLATFORMS = ("ptrace", "kvm")


def get_platform(name, **options):
    if name == "ptrace":
        from pysandbox.platform.ptrace.platform import PtracePlatform
        return PtracePlatform(**options)
    if name == "kvm":
        raise SandboxError("kvm: platform not implemented yet (use --platform=ptrace)", 2)
    raise SandboxError(f"unknown platform {name!r} (choose from: {', '.join(PLATFORMS)})", 2)


def probe_platforms():
    """(name, usable, reason) for every platform on this host."""
    import os
    results = []
    try:
        from pysandbox.platform.ptrace import platform as _  # noqa: F401
        results.append(("ptrace", True, "PTRACE_SYSEMU stubs, C loop built"))
    except ImportError as exc:
        results.append(("ptrace", False, f"C loop not built ({exc}); run pip install -e ."))
    if not os.path.exists("/dev/kvm"):
        results.append(("kvm", False, "/dev/kvm missing"))
    else:
        host = "PVM host" if os.path.exists("/sys/module/kvm_pvm") else "hardware virtualisation host"
        results.append(("kvm", False, f"{host}, platform not implemented yet"))
    return results
