"""The sentry's seccomp-bpf filter: the one list of host syscalls the sentry may make once the
workload runs, with argument checks wherever seccomp can express them.

A feature that needs another host syscall adds it to SENTRY_RULES (or to its own group below)
here, nowhere else; `pysandbox footprint` and tests/test_footprint.py read this module.
Anything outside the list kills the sandbox: the SIGSYS is caught just long enough to write
one log line naming the syscall, then the sentry exits with status 159 (128 + SIGSYS).
With `--seccomp debug` the line is written and the call fails with ENOSYS instead, so that
every missing entry shows up in one run.
"""
import errno
import os
import struct
from collections import namedtuple

from pysandbox import starttrace

AUDIT_ARCH_X86_64 = 0xC000003E
X32_SYSCALL_BIT = 0x40000000
SECCOMP_RET_KILL_PROCESS, SECCOMP_RET_TRAP = 0x80000000, 0x00030000
SECCOMP_RET_ERRNO, SECCOMP_RET_ALLOW = 0x00050000, 0x7FFF0000
SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC = 1, 1
PR_SET_NO_NEW_PRIVS = 38
SYS_SECCOMP = 317
SYS_PRCTL = 157
SIGSYS = 31
KILLED_STATUS = 128 + SIGSYS

_LD_W_ABS, _JEQ_K, _JGE_K, _JSET_K, _RET_K = 0x20, 0x15, 0x35, 0x45, 0x06
_DATA_NR, _DATA_ARCH, _DATA_ARGS = 0, 4, 16

PROT_EXEC = 0x4
CLONE_NAMESPACES = 0x7E020080   # NEWNS NEWCGROUP NEWUTS NEWIPC NEWUSER NEWPID NEWNET NEWTIME
AF_UNIX, AF_INET, AF_INET6, AF_NETLINK = 1, 2, 10, 16

# ptrace requests the platform's C loop and the sentry make on their own stubs.
PTRACE_REQUESTS = {
    "PTRACE_PEEKUSER": 3, "PTRACE_CONT": 7, "PTRACE_KILL": 8, "PTRACE_GETREGS": 12, "PTRACE_SETREGS": 13,
    "PTRACE_GETFPREGS": 14, "PTRACE_SETFPREGS": 15, "PTRACE_DETACH": 17, "PTRACE_SYSEMU": 31,
    "PTRACE_SETOPTIONS": 0x4200, "PTRACE_GETEVENTMSG": 0x4201, "PTRACE_GETSIGINFO": 0x4202,
    "PTRACE_GETREGSET": 0x4204, "PTRACE_SETREGSET": 0x4205, "PTRACE_INTERRUPT": 0x4207,
}
# ioctls on host fds: the terminal the sandbox's stdio is (sentry/vfs/tty.py) and FIONREAD.
# TIOCSTI, TIOCLINUX and every other tty or device ioctl stay out.
IOCTL_REQUESTS = {
    "TCGETS": 0x5401, "TCSETS": 0x5402, "TCSETSW": 0x5403, "TCSETSF": 0x5404, "TCSBRK": 0x5409,
    "TCXONC": 0x540A, "TCFLSH": 0x540B, "TIOCGPGRP": 0x540F, "TIOCSPGRP": 0x5410, "TIOCGWINSZ": 0x5413,
    "TIOCSWINSZ": 0x5414, "FIONREAD": 0x541B, "FIONBIO": 0x5421, "FIONCLEX": 0x5450, "FIOCLEX": 0x5451,
}


class ArgCheck(namedtuple("ArgCheck", "index kind values mask what", defaults=((), 0, ""))):
    """A condition on the low 32 bits of argument `index` (the high ones must be 0 for 'one_of').
    kind 'one_of': the argument is one of `values`; 'clear': none of the bits in `mask` is set;
    'positive': a positive 32-bit value (a pid, not a process group, 0 or -1)."""
    __slots__ = ()

    def describe(self):
        if self.kind == "positive":
            return f"arg{self.index} ({self.what}) a single process: no group, not -1, not 0"
        if self.kind == "one_of":
            return f"arg{self.index} ({self.what}) one of {len(self.values)} values"
        return f"arg{self.index} ({self.what}) without bits {self.mask:#x}"


Rule = namedtuple("Rule", "name checks reason", defaults=((), ""))


def _rule(name, reason, *checks):
    return Rule(name, tuple(checks), reason)


# The sentry's allowlist, most frequent first (the filter tests them in this order).
SENTRY_RULES = [
    _rule("ptrace", "drive the stubs", ArgCheck(0, "one_of", tuple(PTRACE_REQUESTS.values()), what="request")),
    _rule("wait4", "stub stops"),
    _rule("waitid", "the gofer's exit"),
    _rule("pread64", "guest memory through /proc/PID/mem; files"),
    _rule("pwrite64", "guest memory through /proc/PID/mem; files"),
    _rule("process_vm_writev", "large copies into guest memory (platform/ptrace: PtraceAddressSpace.write)"),
    _rule("read", "files, pipes, the stdio"),
    _rule("write", "files, pipes, the stdio, the log"),
    _rule("epoll_wait", "the event loop"),
    _rule("epoll_ctl", "the event loop"),
    _rule("poll", "waits on host fds (the gofer's channel, stubs' exits at the end)"),
    _rule("kill", "stop or end stubs", ArgCheck(0, "positive", what="pid")),
    _rule("tgkill", "interrupt a stub thread", ArgCheck(0, "positive", what="tgid")),
    _rule("openat", "host files of the rootfs (component by component, O_NOFOLLOW), /proc/PID/mem"),
    _rule("close", ""),
    _rule("newfstatat", "stat of host files"),
    _rule("fstatfs", "statfs(2) of host files (directfs: hostops.statfs)"),
    _rule("lseek", ""),
    _rule("getdents64", "host directories"),
    _rule("readlinkat", "host symlinks"),
    _rule("fcntl", "fd flags, file locks"),
    _rule("ioctl", "the host terminal", ArgCheck(1, "one_of", tuple(IOCTL_REQUESTS.values()), what="request")),
    _rule("sendmsg", "pass files to stubs (SCM_RIGHTS)"),
    _rule("recvmsg", ""),
    _rule("mmap", "Python's allocator; never executable", ArgCheck(2, "clear", mask=PROT_EXEC, what="prot")),
    _rule("munmap", "Python's allocator"),
    _rule("mprotect", "never executable", ArgCheck(2, "clear", mask=PROT_EXEC, what="prot")),
    _rule("mremap", "Python's allocator"),
    _rule("madvise", "Python's allocator"),
    _rule("brk", "Python's allocator"),
    _rule("futex", "Python's locks"),
    _rule("getrandom", "the guest's getrandom(2), AT_RANDOM"),
    _rule("memfd_create", "in-memory files"),
    _rule("ftruncate", "in-memory files"),
    _rule("dup3", ""),
    _rule("clone", "a new template stub or a helper thread; never a namespace",
          ArgCheck(0, "clear", mask=CLONE_NAMESPACES, what="flags")),
    _rule("execve", "the child of clone becomes a stub (the stub's own filter follows)"),
    _rule("rt_sigaction", ""),
    _rule("rt_sigprocmask", ""),
    _rule("rt_sigreturn", ""),
    _rule("getpid", ""),
    _rule("sysinfo", "the guest's sysinfo(2)"),
    _rule("exit", ""),
    _rule("exit_group", ""),
    _rule("set_robust_list", "new threads"),
    _rule("rseq", "new threads"),
    _rule("clock_nanosleep", ""),
    _rule("mkdirat", "writes to a --rootfs directory"),
    _rule("unlinkat", "writes to a --rootfs directory"),
    _rule("renameat2", "writes to a --rootfs directory"),
    _rule("symlinkat", "writes to a --rootfs directory"),
    _rule("linkat", "writes to a --rootfs directory"),
    _rule("fchmod", "writes to a --rootfs directory"),
    _rule("fchown", "writes to a --rootfs directory"),
    _rule("fchownat", "writes to a --rootfs directory"),
    _rule("renameat", "writes to a --rootfs directory"),
    _rule("utimensat", "writes to a --rootfs directory"),
    _rule("fsync", "fsync(2) and fdatasync(2) of host files (redis SAVE)"),
    _rule("mknodat", "bind(2) of AF_UNIX sockets and mknod(2) in a --rootfs directory"),
    _rule("fchmodat", "mode changes of O_PATH fds through their proc fd link (hostfs)"),
]

# Host sockets, for --network host only (sentry/vfs/hostinet.py): its calls, and its socket
# ioctls (SIOCOUTQ, SIOCATMARK, SIOCOUTQNSD, SIOCGIFCONF and the SIOCGIF* getters).
NETWORK_IOCTLS = {0x5411, 0x8905, 0x894B, 0x8912, 0x8910, 0x8913, 0x8915, 0x8917, 0x8919, 0x891B, 0x891D, 0x8921,
                  0x8927, 0x8933, 0x8942}
NETWORK_RULES = [
    _rule("socket", "host sockets; netlink for the interface list",
          ArgCheck(0, "one_of", (AF_INET, AF_INET6, AF_NETLINK), what="domain")),
    _rule("connect", ""), _rule("bind", ""), _rule("listen", ""), _rule("accept4", ""),
    _rule("sendto", ""), _rule("recvfrom", ""), _rule("setsockopt", ""), _rule("getsockopt", ""),
    _rule("getsockname", ""), _rule("getpeername", ""), _rule("shutdown", ""),
]

# The gofer (pysandbox/gofer/server.py) serving requests on its socket: host file operations
# relative to the directory fds it holds, and nothing that reaches other processes (no
# ptrace, kill, clone, execve, sockets).
GOFER_RULES = [
    _rule("recvmsg", "requests"), _rule("sendmsg", "replies and fds"),
    _rule("newfstatat", ""), _rule("openat", "one component at a time, O_NOFOLLOW"), _rule("close", ""),
    _rule("fcntl", ""), _rule("getdents64", ""), _rule("lseek", ""), _rule("readlinkat", ""),
    _rule("fstatfs", ""), _rule("mkdirat", ""), _rule("mknodat", ""), _rule("unlinkat", ""),
    _rule("renameat", ""), _rule("renameat2", ""), _rule("symlinkat", ""), _rule("linkat", ""),
    _rule("fchmod", ""), _rule("fchmodat", "O_PATH fds through /proc/self/fd"), _rule("fchown", ""),
    _rule("fchownat", ""), _rule("utimensat", ""), _rule("ftruncate", ""), _rule("fsync", ""),
    _rule("lgetxattr", "xattrs, one name under a /proc/self/fd directory link"), _rule("lsetxattr", ""),
    _rule("llistxattr", ""), _rule("lremovexattr", ""),
    _rule("getxattr", "xattrs of a held fd, through its /proc/self/fd link"), _rule("setxattr", ""),
    _rule("listxattr", ""), _rule("removexattr", ""),
    _rule("mmap", "Python's allocator; never executable", ArgCheck(2, "clear", mask=PROT_EXEC, what="prot")),
    _rule("mprotect", "never executable", ArgCheck(2, "clear", mask=PROT_EXEC, what="prot")),
    _rule("munmap", ""), _rule("brk", ""), _rule("mremap", ""), _rule("madvise", ""), _rule("futex", ""),
    _rule("rt_sigaction", ""), _rule("rt_sigprocmask", ""), _rule("rt_sigreturn", ""), _rule("write", "its one log line"),
    _rule("exit_group", ""),
]

# The OCI sandbox process (ocishim/sandbox.py): its control socket.
OCI_RULES = [_rule("accept4", "the control socket of an OCI container's sandbox process"),
             _rule("getsockname", "socket.accept() checks the accepted control connection")]

# The outer process (security/confine.py, confine_outer_process): the process `pysandbox do` or an
# OCI container's pid runs as, which forks the sandbox process into a pid namespace of its own and,
# as runsc's outer sandbox process, only waits for it, passes signals on to it, then reports the
# host's OOM kills and removes the sandbox's host cgroups. Everything it touches after its filter
# it opened before (HostCgroup.hold_for_close), so the checks name its fds and its child's pid:
# no path-based call is left.
AT_REMOVEDIR = 0x200


def outer_rules(sandbox_pid, write_fds, read_fds=(), directory_fds=(), truncated_fds=()):
    """The outer process's allowlist. write_fds: the log, stderr, cgroup.procs of the cgroups it
    goes back to, an OCI container's exit-status file; read_fds: the OOM-kill counters;
    directory_fds: the parents of the cgroups it removes; truncated_fds: the exit-status file."""
    rules = [
        _rule("rt_sigtimedwait", "wait for a signal to pass on, or SIGCHLD"),
        _rule("wait4", "the sandbox process's end",
              ArgCheck(0, "one_of", (sandbox_pid,), what="pid: the sandbox process")),
        _rule("kill", "pass a signal on", ArgCheck(0, "one_of", (sandbox_pid,), what="pid: the sandbox process")),
        _rule("write", "the log; its pid into the cgroup it goes back to; the exit status",
              ArgCheck(0, "one_of", tuple(write_fds), what="fd: log, stderr, cgroup.procs, exit status")),
    ]
    if read_fds:
        rules.append(_rule("pread64", "the host's OOM-kill count of the sandbox's cgroup",
                           ArgCheck(0, "one_of", tuple(read_fds), what="fd: OOM-kill counters")))
    if directory_fds:
        rules.append(_rule("unlinkat", "rmdir of the sandbox's cgroups",
                           ArgCheck(0, "one_of", tuple(directory_fds), what="fd: a held cgroup parent"),
                           ArgCheck(2, "one_of", (AT_REMOVEDIR,), what="flags: AT_REMOVEDIR")))
    if truncated_fds:
        rules.append(_rule("ftruncate", "the exit-status file after its write",
                           ArgCheck(0, "one_of", tuple(truncated_fds), what="fd: exit status")))
    return rules + [
        _rule("close", ""),
        _rule("getpid", "HostCgroup.close: only the process that made the cgroups removes them"),
        _rule("rt_sigreturn", "the end of the SIGSYS report's handler (--seccomp debug)"),
        _rule("mmap", "Python's allocator; never executable", ArgCheck(2, "clear", mask=PROT_EXEC, what="prot")),
        _rule("munmap", "Python's allocator"), _rule("brk", "Python's allocator"),
        _rule("exit_group", ""),
    ]


# Calls that fail instead of killing: glibc tries them first and falls back.
FALLBACK_ERRNOS = {"clone3": errno.ENOSYS}


def _numbers():
    from pysandbox.sentry.syscalls.linux64 import TABLE
    return {entry.name: number for number, entry in TABLE.items()}


def syscall_name(number):
    from pysandbox.sentry.syscalls.linux64 import TABLE
    entry = TABLE.get(number)
    return entry.name if entry is not None else f"syscall_{number}"


# The KVM platform's ioctls on its /dev/kvm, VM and vCPU fds: seccomp cannot tell those fds
# from a terminal, so on KVM the ioctl request is not checked. A vCPU thread adds its own
# filter (below) with seccomp(2), without TSYNC: it holds for that thread alone.
KVM_RULES = [_rule("ioctl", "KVM_RUN and the other KVM ioctls; the host terminal"),
             _rule("seccomp", "a vCPU thread's own filter, on top of this one",
                   ArgCheck(0, "one_of", (SECCOMP_SET_MODE_FILTER,), what="operation"),
                   ArgCheck(1, "one_of", (0,), what="flags"))]

# A KVM vCPU thread (platform/kvm/vcpu.c) under its own filter, on top of the sentry's: it runs
# its one vCPU and posts its stops, nothing else. Its SIGSYS carries VCPU_FILTER_DATA: the
# platform's own handler writes the report (denial_line) from that thread, since Python's
# handler would need calls the thread may not make.
KVM_RUN = 0xAE80
FUTEX_WAIT_PRIVATE, FUTEX_WAKE_PRIVATE = 128, 129
MADV_DONTNEED = 4
VCPU_FILTER_DATA = 1


def vcpu_rules(vcpu_fd, event_fd, log_fd):
    """The allowlist of the thread running the vCPU whose fd is `vcpu_fd`."""
    return [
        _rule("ioctl", "KVM_RUN on its own vCPU", ArgCheck(0, "one_of", (vcpu_fd,), what="fd: its vCPU"),
              ArgCheck(1, "one_of", (KVM_RUN,), what="request: KVM_RUN")),
        _rule("futex", "wait to be resumed; the stop ring's lock",
              ArgCheck(1, "one_of", (FUTEX_WAIT_PRIVATE, FUTEX_WAKE_PRIVATE), what="op: private wait, wake")),
        _rule("write", "post a stop to the sentry's eventfd; the log line of a refused call",
              ArgCheck(0, "one_of", (event_fd, log_fd), what="fd: the eventfd, the log")),
        _rule("rt_sigreturn", "the end of the kick signal, which interrupts KVM_RUN"),
        _rule("clock_gettime", "the vCPU's run time (when the vDSO falls back to the syscall)"),
        _rule("rt_sigprocmask", "glibc's thread exit"),
        _rule("madvise", "glibc's thread exit frees its stack",
              ArgCheck(2, "one_of", (MADV_DONTNEED,), what="advice: MADV_DONTNEED")),
        _rule("exit", "the thread's end"),
        _rule("exit_group", "the end of the sandbox after a refused call"),
    ]


def sentry_rules(network="none", platform="ptrace"):
    """The sentry's allowlist for this configuration."""
    rules = list(SENTRY_RULES)
    if platform == "kvm":
        replaced = {rule.name for rule in KVM_RULES}
        rules = [rule for rule in rules if rule.name not in replaced] + KVM_RULES
    if network != "host":
        return rules
    return [_with_network_ioctls(rule) for rule in rules] + NETWORK_RULES


def _with_network_ioctls(rule):
    if rule.name != "ioctl" or not rule.checks:
        return rule
    check = rule.checks[0]
    return rule._replace(checks=(check._replace(values=tuple(sorted(set(check.values) | NETWORK_IOCTLS))),))


def _insn(code, k, jt=0, jf=0):
    return struct.pack("<HBBI", code, jt, jf, k)


def _check_block(check, deny):
    """Instructions that fall through when `check` holds and return `deny` when it doesn't."""
    offset = _DATA_ARGS + 8 * check.index
    if check.kind == "positive":
        return [_insn(_LD_W_ABS, offset + 4), _insn(_JEQ_K, 0, 1, 0), _insn(_RET_K, deny),
                _insn(_LD_W_ABS, offset), _insn(_JSET_K, 0x80000000, 0, 1), _insn(_RET_K, deny),
                _insn(_JEQ_K, 0, 0, 1), _insn(_RET_K, deny)]
    if check.kind == "one_of":
        values = sorted(set(check.values))
        block = [_insn(_LD_W_ABS, offset + 4), _insn(_JEQ_K, 0, 1, 0), _insn(_RET_K, deny),
                 _insn(_LD_W_ABS, offset)]
        for i, value in enumerate(values):
            # a match jumps over the remaining comparisons and the deny
            block.append(_insn(_JEQ_K, value, len(values) - i, 0))
        block.append(_insn(_RET_K, deny))
        return block
    return [_insn(_LD_W_ABS, offset), _insn(_JSET_K, check.mask, 0, 1), _insn(_RET_K, deny)]


def compile_filter(rules, deny=SECCOMP_RET_KILL_PROCESS, fallback_errnos=FALLBACK_ERRNOS):
    """A classic BPF program: allow `rules` (with their argument checks), `deny` anything else."""
    numbers = _numbers()
    program = [_insn(_LD_W_ABS, _DATA_ARCH), _insn(_JEQ_K, AUDIT_ARCH_X86_64, 1, 0), _insn(_RET_K, deny),
               _insn(_LD_W_ABS, _DATA_NR), _insn(_JGE_K, X32_SYSCALL_BIT, 0, 1), _insn(_RET_K, deny)]
    for name, error in fallback_errnos.items():
        program += [_insn(_JEQ_K, numbers[name], 0, 1), _insn(_RET_K, SECCOMP_RET_ERRNO | error)]
    for rule in rules:
        block = []
        for check in rule.checks:
            block += _check_block(check, deny)
            block.append(None)               # marks: the syscall number must be reloaded after
        body = []
        for insn in block:
            body.append(insn if insn is not None else _insn(_LD_W_ABS, _DATA_NR))
        if body:
            body.pop()                       # no reload needed before the final allow
        body.append(_insn(_RET_K, SECCOMP_RET_ALLOW))
        if len(body) > 255:
            raise ValueError(f"seccomp rule {rule.name}: argument check too long")
        program.append(_insn(_JEQ_K, numbers[rule.name], 0, len(body)))
        program += body
    program.append(_insn(_RET_K, deny))
    if len(program) > 4096:
        raise ValueError("seccomp filter longer than BPF_MAXINSNS")
    return b"".join(program)


# -- installing it ----------------------------------------------------------------------------

def host_syscall(number, *args):
    """Host syscall `number` made by this process, through the ptrace platform's C module (ctypes
    would cost every start ~2 ms): its result, or OSError. Bytes-like arguments go by address."""
    from pysandbox.platform.ptrace._loop import ffi, lib
    buffers = [ffi.from_buffer(arg) for arg in args if not isinstance(arg, int)]
    buffer_at = iter(buffers)
    values = [arg if isinstance(arg, int) else int(ffi.cast("intptr_t", next(buffer_at))) for arg in args]
    result = lib.psb_host_syscall(number, *values, *[0] * (6 - len(values)))
    if result < 0:
        raise OSError(-result, os.strerror(-result))
    return result


class HostLibc:
    """The libc calls the sandbox process makes to set itself up, called as ctypes' CDLL calls
    them (0, or -1 with the error in `errno`; None for NULL; bytes as C strings) but made through
    the C module: importing ctypes would cost every start ~1.3 ms."""
    SYSCALLS = {"capget": 125, "capset": 126, "prctl": 157, "mount": 165, "umount2": 166, "unshare": 272,
                "setns": 308, "renameat2": 316}

    def __init__(self):
        self.errno = 0

    def __getattr__(self, name):
        if name not in self.SYSCALLS:
            raise AttributeError(name)
        number = self.SYSCALLS[name]

        def call(*args):
            try:
                return host_syscall(number, *(0 if arg is None else arg + b"\0" if isinstance(arg, bytes) else arg
                                              for arg in args))
            except OSError as error:
                self.errno = error.errno
                return -1
        return call


libc = HostLibc()


def denial_line(name, number, keep_going, who="the sentry", rules=""):
    """The one log line for a host syscall a filter refused."""
    tail = "; it fails with ENOSYS (--seccomp debug)" if keep_going else "; the sandbox is killed"
    return (f"pysandbox: seccomp: {who} made host syscall {name} ({number}), which "
            f"pysandbox/security/seccomp.py{rules} does not allow{tail}\n")


REPORT_NAMES = 512                  # syscall numbers the C report names (others: syscall_NUMBER)


def denial_report(keep_going, who="the sentry", rules=""):
    """denial_line in the pieces platform/hostcall.c's SIGSYS handler puts together (it runs with
    the filter on): the text before and after NAME (NUMBER), and the names of syscalls 0 to
    REPORT_NAMES - 1, NUL-separated (empty where the table has none)."""
    from pysandbox.sentry.syscalls.linux64 import TABLE
    before, after = denial_line("{name}", "{number}", keep_going, who, rules).split("{name} ({number})")
    names = b"\0".join(entry.name.encode() if entry else b""
                       for entry in map(TABLE.get, range(REPORT_NAMES))) + b"\0"
    return before.encode(), names, after.encode()


def _install_sigsys_handler(log_fd, keep_going, who="the sentry", rules=""):
    """Report a denied host syscall in one line; then end the sandbox, or (debug) fail the call
    (the handler is C, loop.c's psb_report_refused_syscalls: it runs with the filter on)."""
    from pysandbox.platform.ptrace._loop import lib
    before, names, after = denial_report(keep_going, who, rules)
    error = lib.psb_report_refused_syscalls(log_fd, before, names, len(names), REPORT_NAMES, after, keep_going)
    if error < 0:
        raise OSError(-error, "sigaction(SIGSYS)")


def install(rules, mode="kill", log_fd=2, who="the sentry", rules_name=""):
    """Confine this process (all its threads): no_new_privs, then the filter. mode 'kill' or
    'debug'. Everything Python will need must be imported before: a module loaded later may
    need a call (an executable mapping) the filter refuses. `who` and `rules_name` (" (NAME)")
    say in the report whose filter refused a call."""
    _install_sigsys_handler(log_fd, (mode == "debug"), who, rules_name)
    starttrace.faults_readable = False
    load_filter(compile_filter(rules, deny=SECCOMP_RET_TRAP))


def load_filter(program):
    """no_new_privs, then the BPF program `program` on every thread of this process."""
    from pysandbox.platform.ptrace._loop import ffi
    buffer = ffi.from_buffer(program)
    fprog = struct.pack("=H6xQ", len(program) // 8, int(ffi.cast("intptr_t", buffer)))
    host_syscall(SYS_PRCTL, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    host_syscall(SYS_SECCOMP, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, fprog)


def make_host_syscall(number):
    """Test-only: make host syscall `number` from the sentry (it must be denied)."""
    try:
        return host_syscall(number)
    except OSError as error:
        return -error.errno
