"""Confining the sandbox process itself, once the sandbox is set up and before the workload's
first instruction: the seccomp filter (security/seccomp.py), and what must happen first."""
import ctypes
import importlib
import os
import sys

from pysandbox.security import seccomp
from pysandbox.sentry.errors import SandboxError

MODES = ("kill", "debug", "off")
DEFAULT_MODE = os.environ.get("PYSANDBOX_SECCOMP", "kill")
# C extensions the sentry may import late (on a rare path): loading one needs an executable
# mapping, which the filter refuses, so they are loaded before it. Pure-Python modules may still
# be imported later (reading files is allowed). Found by importing every sentry module. The C
# modules themselves are named (_json, not json): their Python wrappers cost start-up time
# and need no executable mapping. selectors is the exception: importing it creates an epoll
# (to see what the host offers), and `socket` imports it.
LATE_IMPORTS = ("_json", "select", "fcntl", "termios", "resource", "math", "binascii", "array", "_socket",
                "selectors")


def confine_sentry(mode, network="none", log_fd=2, platform="ptrace", extra_rules=()):
    """Install the sentry's filter (mode 'kill' or 'debug'; 'off' does nothing)."""
    if mode == "off":
        return
    # A module imported later (handlers are loaded on first use) must not try to write its
    # bytecode cache: that takes calls (rename) the sentry has no other use for.
    sys.dont_write_bytecode = True
    for name in LATE_IMPORTS:
        try:
            importlib.import_module(name)
        except ImportError:
            pass
    try:
        seccomp.install(seccomp.sentry_rules(network, platform) + list(extra_rules), mode, log_fd)
    except OSError as error:
        raise SandboxError(f"cannot install the sentry's seccomp filter ({error.strerror}); "
                           f"--seccomp off runs without it", 125) from None
    forbidden = os.environ.get("PYSANDBOX_TEST_SENTRY_SYSCALL")
    if forbidden:                        # test-only: show that the filter holds, and how it reports
        seccomp.make_host_syscall(int(forbidden))


def confine_gofer(mode=None, log_fd=2):
    """The gofer's own filter (seccomp.GOFER_RULES), once it holds its roots."""
    mode = mode or DEFAULT_MODE
    if mode == "off":
        return
    sys.dont_write_bytecode = True
    try:
        seccomp.install(seccomp.GOFER_RULES, mode, log_fd)
    except OSError as error:
        os.write(log_fd, f"pysandbox: the gofer cannot install its seccomp filter: {error}\n".encode())
        raise


CLONE_NEWNS, CLONE_NEWCGROUP, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWNET = (0x20000, 0x02000000, 0x04000000,
                                                                         0x08000000, 0x40000000)
PR_CAPBSET_DROP, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 24, 47, 4
MS_REC, MS_PRIVATE = 0x4000, 0x40000
_LINUX_CAPABILITY_VERSION_3 = 0x20080522
LAST_CAP = 40
# What the sandbox process still needs from root: reading and writing the rootfs's files
# whatever their owner and mode (the sandbox's own root may), and giving them owners.
KEPT_CAPABILITIES = {
    "CAP_CHOWN": 0, "CAP_DAC_OVERRIDE": 1, "CAP_DAC_READ_SEARCH": 2, "CAP_FOWNER": 3, "CAP_FSETID": 4,
    "CAP_NET_BIND_SERVICE": 10,
}


def isolate_sandbox_process(network="none"):
    """Before the gofer and any stub exist: new mount (private), UTS, IPC and cgroup namespaces
    for the sandbox process (and a new network namespace unless the sandbox uses the host's),
    then every capability but
    KEPT_CAPABILITIES dropped, from the bounding set too. Returns the namespaces it could make
    (none when not root)."""
    flags = (CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWCGROUP
             | (CLONE_NEWNET if network == "none" else 0))
    made = 0
    libc = seccomp._libc
    if os.geteuid() == 0:
        for flag in (CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWCGROUP, CLONE_NEWNET):
            if flags & flag and libc.unshare(flag) == 0:
                made |= flag
        if made & CLONE_NEWNS:
            # Nothing mounted on the host from now on shows up here, and nothing the sandbox
            # process could mount would show up on the host.
            libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None)
        _drop_capabilities(libc)
    return made


def _drop_capabilities(libc):
    kept = 0
    for number in KEPT_CAPABILITIES.values():
        kept |= 1 << number
    for number in range(LAST_CAP + 1):
        if not kept & (1 << number):
            libc.prctl(PR_CAPBSET_DROP, number, 0, 0, 0)
    libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    header = (ctypes.c_uint32 * 2)(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (ctypes.c_uint32 * 6)(kept & 0xFFFFFFFF, kept & 0xFFFFFFFF, 0, kept >> 32, kept >> 32, 0)
    if libc.capset(header, data) != 0:
        raise OSError(ctypes.get_errno(), "capset")
