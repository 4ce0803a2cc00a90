"""Confining the sandbox process itself, once the sandbox is set up and before the workload's
first instruction: the seccomp filter (security/seccomp.py), and what must happen first."""
import errno
import os
import select
import struct
import _signal as signal  # the C module: `signal` adds enum's import, ~2 ms of every start
import sys

from pysandbox.security import hostproc, imports, seccomp
from pysandbox.sentry.errors import SandboxError
from pysandbox.starttrace import mark, profiled

MODES = ("kill", "debug", "off")
DEFAULT_MODE = os.environ.get("PYSANDBOX_SECCOMP", "kill")
# C extensions the sentry may import late (on a rare path): loading one needs an executable
# mapping, which the filter refuses, so they are loaded before it. Pure-Python modules may still
# be imported later (reading files is allowed). Found by importing every sentry module
# (tests/test_security_seccomp.py). The C modules themselves are named (_socket, not socket):
# their Python wrappers cost start-up time and need no executable mapping. (`socket` is not
# one of them: importing it imports selectors, which creates an epoll to see what the host
# offers; only --network host uses it, and imports it before the chroot.)
LATE_IMPORTS = ("select", "fcntl", "termios", "resource", "array", "_socket", "mmap",
                "pysandbox.platform.ptrace._loop")


def _load_c_extensions():
    """Before the seccomp filter and before the chroot: after the chroot only pure-Python
    modules can be found (security/imports.py)."""
    for name in LATE_IMPORTS:
        try:
            __import__(name)
        except ImportError:
            pass


def confine_sentry(mode, network="none", log_fd=2, platform="ptrace", extra_rules=()):
    """Install the sentry's filter (mode 'kill' or 'debug'; 'off' does nothing)."""
    if mode == "off":
        return
    # A module imported later (handlers are loaded on first use) must not try to write its
    # bytecode cache: that takes calls (rename) the sentry has no other use for.
    sys.dont_write_bytecode = True
    _load_c_extensions()
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
CLONE_NEWPID = 0x20000000
PR_SET_PDEATHSIG, PR_CAPBSET_DROP, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 1, 24, 47, 4
SI_KERNEL = 0x80
MS_REC, MS_PRIVATE = 0x4000, 0x40000
_LINUX_CAPABILITY_VERSION_3 = 0x20080522
LAST_CAP = 40
# What the sandbox process still needs from root: reading and writing the rootfs's files
# whatever their owner and mode (the sandbox's own root may), and giving them owners.
KEPT_CAPABILITIES = {
    "CAP_CHOWN": 0, "CAP_DAC_OVERRIDE": 1, "CAP_DAC_READ_SEARCH": 2, "CAP_FOWNER": 3, "CAP_FSETID": 4,
    "CAP_NET_BIND_SERVICE": 10,
}
# Kept only until the chroot into an empty directory (chroot_sentry), which needs the first, and
# the gofer's detached copies of its roots, which need the third; then dropped from every set,
# the bounding set too (which needs the second).
CHROOT_CAPABILITIES = {"CAP_SYS_CHROOT": 18, "CAP_SETPCAP": 8, "CAP_SYS_ADMIN": 21}


def isolate_sandbox_process(network="none"):
    """Before the gofer and any stub exist: new mount (private), UTS, IPC and cgroup namespaces
    for the sandbox process (and a new network namespace unless the sandbox uses the host's),
    then every capability but
    KEPT_CAPABILITIES dropped, from the bounding set too. Returns the namespaces it could make
    (none when not root)."""
    made = 0
    libc = seccomp.libc
    if os.geteuid() == 0:
        for flag in (CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWCGROUP):
            if libc.unshare(flag) == 0:
                made |= flag
        if made & CLONE_NEWNS:
            # Nothing mounted on the host from now on shows up here, and nothing the sandbox
            # process could mount would show up on the host.
            libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None)
            if os.getpid() == 1:         # pid 1 of its own pid namespace (fork_pid_namespace_init)
                prepare_chroot(libc)
        if network == "none" and (_enter_offered_net_namespace(libc) or libc.unshare(CLONE_NEWNET) == 0):
            made |= CLONE_NEWNET
        _drop_capabilities(libc, (KEPT_CAPABILITIES | CHROOT_CAPABILITIES) if made & CLONE_NEWNS
                           else KEPT_CAPABILITIES)
    _net_namespace_offer.close()
    return made


class _NetNamespaceOffer:
    """A new network namespace made by the outer process for the sandbox process, on the other CPU
    while the sandbox process makes its other namespaces (making one costs ~0.7 ms of kernel work
    on these VMs). The outer (offer_net_namespace) makes it, enters it itself (it has no use for
    a network) and says so through a pipe; the sandbox process (_enter_offered_net_namespace)
    enters it with setns if the outer says so within OFFER_WAIT_MS, and otherwise makes its own.
    In each process `fd` is its end of the pipe, or None."""

    def __init__(self):
        self.fd = None
        self.outer_pid = None

    def close(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


_net_namespace_offer = _NetNamespaceOffer()
OFFER_WAIT_MS = 1        # what the sandbox process waits for it at most: less than making its own


def offer_net_namespace():
    """In the outer process, before its filter: make the network namespace it offers (see
    _NetNamespaceOffer). A no-op where fork_pid_namespace_init offered none."""
    offer = _net_namespace_offer
    if offer.fd is None:
        return
    try:
        if seccomp.libc.unshare(CLONE_NEWNET) == 0:
            os.write(offer.fd, b"n")
    except OSError:
        pass
    offer.close()


def _enter_offered_net_namespace(libc):
    """Whether the sandbox process entered the network namespace the outer process made for it."""
    offer = _net_namespace_offer
    if offer.fd is None:
        return False
    poller = select.poll()
    poller.register(offer.fd, select.POLLIN)
    if not poller.poll(OFFER_WAIT_MS):
        mark("sandbox: no net namespace from the outer yet")
        return False
    try:
        if os.read(offer.fd, 1) != b"n":
            return False
        namespace = os.open(f"/proc/{offer.outer_pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        entered = libc.setns(namespace, CLONE_NEWNET) == 0
    finally:
        os.close(namespace)
    mark("sandbox: the outer's net namespace" if entered else "sandbox: the outer's net namespace refused")
    return entered


# -- the sandbox process as pid 1 of a host pid namespace of its own ------------------------------------
def fork_pid_namespace_init(forwarded_signals, user_namespace=False, log=None, offer_net=False):
    """Fork the sandbox process as pid 1 of a new host pid namespace, so that its stubs and gofer
    live there too, and whatever is left of them dies with it. Returns the child's host pid in
    the parent (which then calls wait_for_sandbox_process), 0 in the child, or None without a
    fork when the host can't make the namespace. Not as root, with `user_namespace`, this process
    first enters a user namespace of its own where it is root (enter_user_namespace), as runsc
    does rootless; if the host has none, `log(line)` says so once. `forwarded_signals` are blocked
    in the parent from now on, so that none arriving before it waits is lost. With `offer_net`,
    the parent may make the child's network namespace (offer_net_namespace)."""
    libc = seccomp.libc
    if os.environ.get("PYSANDBOX_PID_NAMESPACE") == "off":
        return None
    if os.geteuid() != 0:
        refused = enter_user_namespace() if user_namespace else "not root"
        if refused is not None:
            if user_namespace and log is not None:
                log(f"pysandbox: no user namespace ({refused}): the sandbox runs without namespaces "
                    f"and chroot of its own")
            return None
    if libc.unshare(CLONE_NEWPID) != 0:
        return None
    previous_mask = signal.pthread_sigmask(signal.SIG_BLOCK, set(forwarded_signals) | {signal.SIGCHLD})
    alive_read, alive_write = os.pipe2(os.O_CLOEXEC)
    offer = _net_namespace_offer
    offer_read, offer_write = os.pipe2(os.O_CLOEXEC) if offer_net else (None, None)
    offer.outer_pid = os.getpid()
    pid = os.fork()
    if pid:
        os.close(alive_read)      # alive_write stays open until this process ends: the child polls it
        if offer_net:
            os.close(offer_read)
            offer.fd = offer_write
        return pid
    os.close(alive_write)
    if offer_net:
        os.close(offer_write)
        offer.fd = offer_read
    # The sandbox ends with its parent (`kill -9` of `pysandbox do` or of the OCI pid), and with
    # it, as pid 1, every process of its namespace: stubs and gofer.
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    poller = select.poll()
    poller.register(alive_read, select.POLLIN)
    if poller.poll(0):
        os._exit(128 + signal.SIGKILL)          # the parent died before PDEATHSIG was set
    os.close(alive_read)
    signal.pthread_sigmask(signal.SIG_SETMASK, previous_mask)
    return 0


CLONE_NEWUSER = 0x10000000


def enter_user_namespace():
    """Make this (non-root) process root of a new user namespace: the caller's uid and gid map to
    0, and setgroups(2) is refused, as an unprivileged process's gid_map requires. Namespaces and
    the chroot made from here on belong to it; files of ids outside the mapping show as the
    overflow id (nobody) and keep their host permissions. Returns None, or why the host refused
    one (SandboxError if it made one but could not map the ids)."""
    uid, gid = os.geteuid(), os.getegid()
    if seccomp.libc.unshare(CLONE_NEWUSER) != 0:
        if seccomp.libc.errno == errno.ENOSPC:
            return "the host's user.max_user_namespaces is reached"
        return os.strerror(seccomp.libc.errno).lower()
    try:
        for name, text in (("setgroups", "deny"), ("uid_map", f"0 {uid} 1"), ("gid_map", f"0 {gid} 1")):
            fd = os.open(f"/proc/self/{name}", os.O_WRONLY | os.O_CLOEXEC)
            try:
                os.write(fd, text.encode())
            finally:
                os.close(fd)
    except OSError as error:
        # Half made: this process can't leave the namespace, and without a mapping it can't even
        # make a file; a clear end rather than a sandbox that fails later.
        raise SandboxError(f"cannot map the user namespace's ids ({error.strerror.lower()}); "
                           f"PYSANDBOX_PID_NAMESPACE=off runs without namespaces", 125) from None
    return None


def wait_for_sandbox_process(pid, forwarded_signals, terminal_signals=()):
    """The parent's side, as runsc's: pass each signal it gets on to the sandbox process, and
    return that process's wait status once it has ended. Signals a terminal sent (SI_KERNEL,
    one of `terminal_signals`) reached the sandbox process directly, in the same process group."""
    waited = set(forwarded_signals) | {signal.SIGCHLD}
    while True:
        info = signal.sigwaitinfo(waited)
        if info.si_signo == signal.SIGCHLD:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done == pid:
                return status
            continue
        if info.si_code == SI_KERNEL and info.si_signo in terminal_signals:
            continue
        try:
            os.kill(pid, info.si_signo)
        except ProcessLookupError:
            pass


def confine_outer_process(sandbox_pid, mode, log_fd=2, host_cgroup=None, exit_status_fd=None, cpu=None):
    """The outer process (the parent fork_pid_namespace_init returned in), right after the fork:
    it moves off the sandbox process's CPU, holds the fds its end needs (the host cgroup's,
    HostCgroup.hold_for_close), drops every capability (the bounding set too; but see
    OUTER_CAPABILITIES) and installs its own seccomp filter (seccomp.outer_rules): from then on
    it can wait for its child, pass signals on to it, write its log and remove the cgroups,
    nothing else. mode 'off' skips the filter and keeps the capabilities; a refused call is
    reported as the sentry's are, and kills the outer process, and with it (PDEATHSIG) the
    sandbox."""
    _leave_cpu(cpu)
    offer_net_namespace()
    if mode == "off":
        return
    held = host_cgroup.hold_for_close() if host_cgroup is not None else None
    extra = (exit_status_fd,) if exit_status_fd is not None else ()
    rules = seccomp.outer_rules(sandbox_pid, sorted({log_fd, 2, *extra, *(held.write_fds() if held else ())}),
                                held.oom_counters if held else (), held.parents.values() if held else (), extra)
    try:
        if os.geteuid() == 0:
            _drop_capabilities(seccomp.libc, OUTER_CAPABILITIES if held and held.removal_needs_dac_override() else {})
        seccomp.install(rules, mode, log_fd, who="the outer process", rules_name=" (outer_rules)")
    except OSError as error:
        os.kill(sandbox_pid, signal.SIGKILL)
        os.waitpid(sandbox_pid, 0)
        raise SandboxError(f"cannot install the outer process's seccomp filter ({error.strerror}); "
                           f"--seccomp off runs without it", 125) from None
    forbidden = os.environ.get("PYSANDBOX_TEST_OUTER_SYSCALL")
    if forbidden:                        # test-only: show that the filter holds, and how it reports
        seccomp.make_host_syscall(int(forbidden))


def end_outer_process(status):
    """The outer process's end, straight to exit_group(status). It never returns to whoever called
    pysandbox: its filter allows nothing but its own work, and a caller's `sys.exit(main())` (pip's
    console script of an older install, an embedding program) would go through the interpreter's
    finalization, which resets signal handlers (rt_sigaction) and would get the sandbox's
    exit status replaced by the filter's kill. Nothing of the outer's is left to flush: it writes
    its log with os.write, and stdout written before the fork belongs to the sandbox process."""
    mark("outer: exit")
    os._exit(status)


# What the outer process keeps: none, unless it removes a cgroup from a directory only
# CAP_DAC_OVERRIDE lets root write to (HeldForClose.removal_needs_dac_override).
OUTER_CAPABILITIES = {"CAP_DAC_OVERRIDE": 1}


def _leave_cpu(cpu):
    """The outer process was pinned with the sandbox process (runner._pin_cpu): what it does now
    runs on another CPU, not in the sandbox's start-up."""
    if cpu is None:
        return
    others = set(range(os.cpu_count() or 1)) - {cpu}
    try:
        if others:
            os.sched_setaffinity(0, others)
    except OSError:
        pass


def finish_sandbox_process(body):
    """Run body() in the forked sandbox process and end the process with the exit status it
    returns, errors told the way the CLI tells them (it never returns to the caller's caller)."""
    try:
        status = profiled(body)
    except SandboxError as error:
        print(f"pysandbox: {error}", file=sys.stderr)
        status = error.exit_status
    except KeyboardInterrupt:
        status = 130
    except Exception as error:  # never a traceback for the user
        if os.environ.get("PYSANDBOX_DEBUG"):
            import traceback
            traceback.print_exc()
        print(f"pysandbox: internal error: {type(error).__name__}: {error}", file=sys.stderr)
        status = 125
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    mark("sandbox: exit")
    os._exit(status if isinstance(status, int) else 0)


# -- the sentry's root: an empty directory -------------------------------------------------------------
_module_roots = None          # {path: fd} kept for imports after the chroot (security/imports.py)


def enter_private_mount_namespace():
    """The OCI sandbox process (pid 1 of its pid namespace) in a mount namespace of its own, private,
    then prepare_chroot. Its parent stays in the container's namespaces, which hooks act on."""
    libc = seccomp.libc
    if os.geteuid() != 0 or libc.unshare(CLONE_NEWNS) != 0:
        return
    libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None)
    prepare_chroot(libc)


def prepare_chroot(libc):
    """While the sandbox process may still mount, in its private mount namespace: its pid
    namespace's /proc and the module trees, as fds of detached mounts (hostproc, imports)."""
    global _module_roots
    if not hostproc.attach():
        return
    try:
        _module_roots = imports.keep_module_roots()
    except OSError:
        _module_roots = None          # no chroot then: the host refused to copy a mount


def chroot_sentry():
    """Once everything that needs a host path is open (gofer, platform, log, control socket):
    chroot into an empty directory (one made and removed at once), keeping read-only fds to the
    Python module trees for imports on first use (security/imports.py); then CAP_SYS_CHROOT and
    CAP_SETPCAP go. Only a sandbox process with its own mount namespace (root) does it; returns
    whether it did."""
    if _module_roots is None:
        drop_chroot_capabilities()
        return False
    _load_c_extensions()
    try:
        imports.install_finder(_module_roots)
        enter_empty_root()
    except OSError as error:
        raise SandboxError(f"cannot chroot the sandbox process into an empty directory: {error}", 125) from None
    drop_chroot_capabilities()
    return True


def drop_chroot_capabilities():
    """CHROOT_CAPABILITIES, kept until the chroot (and the gofer's detached copies of its roots,
    which need CAP_SYS_ADMIN), go from every set. A no-op without them."""
    libc = seccomp.libc
    if os.geteuid() != 0:
        return
    for number in CHROOT_CAPABILITIES.values():
        libc.prctl(PR_CAPBSET_DROP, number, 0, 0, 0)
    _set_capabilities(libc, _effective_capabilities(libc) & ~_mask(CHROOT_CAPABILITIES))


def enter_empty_root():
    """chroot into an empty directory, made and removed at once: nothing can ever be created in
    it again. Needs CAP_SYS_CHROOT."""
    directory = imports.empty_directory("root")
    root = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.rmdir(directory)
        os.fchdir(root)
        os.chroot(".")
    finally:
        os.close(root)


def _effective_capabilities(libc):
    data = bytearray(24)            # two __user_cap_data_struct: effective, permitted, inheritable
    if libc.capget(struct.pack("=II", _LINUX_CAPABILITY_VERSION_3, 0), data) != 0:
        raise OSError(libc.errno, "capget")
    words = struct.unpack("=6I", data)
    return words[0] | (words[3] << 32)


def _mask(capabilities):
    kept = 0
    for number in capabilities.values():
        kept |= 1 << number
    return kept


def _drop_capabilities(libc, keep=KEPT_CAPABILITIES):
    kept = _mask(keep)
    for number in range(LAST_CAP + 1):
        if not kept & (1 << number):
            libc.prctl(PR_CAPBSET_DROP, number, 0, 0, 0)
    libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    _set_capabilities(libc, kept)


def _set_capabilities(libc, kept):
    """Permitted and effective sets `kept` (a mask), inheritable empty."""
    header = struct.pack("=II", _LINUX_CAPABILITY_VERSION_3, 0)
    data = struct.pack("=6I", kept & 0xFFFFFFFF, kept & 0xFFFFFFFF, 0, kept >> 32, kept >> 32, 0)
    if libc.capset(header, data) != 0:
        raise OSError(libc.errno, "capset")
