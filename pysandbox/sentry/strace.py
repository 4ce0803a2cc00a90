"""--strace: one line per syscall, formatted from the syscall table the way strace(1) does.

    [pid 3] openat(AT_FDCWD, "/etc/passwd", O_RDONLY|O_CLOEXEC) = 3 <0.000021>
    [pid 3] openat(AT_FDCWD, "/nope", O_RDONLY) = -1 ENOENT (No such file or directory) <0.000009>

`args` are the handler's decoded arguments and `result` the signed return value (-errno
for an error, None for a call that does not return). `memory` reads guest memory: it
has copy_in_str(addr) and copy_in(addr, n), raising SyscallError when it cannot (the
Task has both); an argument it cannot read is shown as its address.

A call that completed: format_call(tid, entry, args, result, elapsed, task).
A call that may block, in two steps, so that input arguments are read before the
handler runs (execve replaces the memory they are in) and output buffers after:

    call = strace.begin(tid, entry, args, task)     # before the handler
    log(call.unfinished())                          # when it parks: "read(0, <unfinished ...>"
    log(call.finish(result, elapsed))               # "<... read resumed>..." after unfinished()
"""
import errno
import os

from .errors import SyscallError

STRING_LIMIT = 32          # bytes of a buffer or string shown before "..."
ARGV_LIMIT = 32            # elements of an argv array shown before "..."

_O_CREAT = 0o100
_O_TMPFILE = 0o20000000

_ACCESS_MODES = ("O_RDONLY", "O_WRONLY", "O_RDWR", "O_ACCMODE")
# Multi-bit flags come before the single bits they contain.
_OPEN_FLAGS = (
    (0o4010000, "O_SYNC"), (0o20200000, "O_TMPFILE"),
    (0o100, "O_CREAT"), (0o200, "O_EXCL"), (0o400, "O_NOCTTY"), (0o1000, "O_TRUNC"), (0o2000, "O_APPEND"),
    (0o4000, "O_NONBLOCK"), (0o10000, "O_DSYNC"), (0o20000, "O_ASYNC"), (0o40000, "O_DIRECT"),
    (0o100000, "O_LARGEFILE"), (0o200000, "O_DIRECTORY"), (0o400000, "O_NOFOLLOW"), (0o1000000, "O_NOATIME"),
    (0o2000000, "O_CLOEXEC"), (0o10000000, "O_PATH"),
)
_PROT_FLAGS = ((0x1, "PROT_READ"), (0x2, "PROT_WRITE"), (0x4, "PROT_EXEC"),
               (0x01000000, "PROT_GROWSDOWN"), (0x02000000, "PROT_GROWSUP"))
_MAP_TYPE_MASK = 0xF
_MAP_TYPES = {0x1: "MAP_SHARED", 0x2: "MAP_PRIVATE", 0x3: "MAP_SHARED_VALIDATE"}
_MAP_FLAGS = (
    (0x10, "MAP_FIXED"), (0x20, "MAP_ANONYMOUS"), (0x40, "MAP_32BIT"), (0x100, "MAP_GROWSDOWN"),
    (0x800, "MAP_DENYWRITE"), (0x1000, "MAP_EXECUTABLE"), (0x2000, "MAP_LOCKED"), (0x4000, "MAP_NORESERVE"),
    (0x8000, "MAP_POPULATE"), (0x10000, "MAP_NONBLOCK"), (0x20000, "MAP_STACK"), (0x40000, "MAP_HUGETLB"),
    (0x80000, "MAP_SYNC"), (0x100000, "MAP_FIXED_NOREPLACE"), (0x4000000, "MAP_UNINITIALIZED"),
)
_CLONE_SIGNAL_MASK = 0xFF
_CLONE_FLAGS = (
    (0x100, "CLONE_VM"), (0x200, "CLONE_FS"), (0x400, "CLONE_FILES"), (0x800, "CLONE_SIGHAND"),
    (0x1000, "CLONE_PIDFD"), (0x2000, "CLONE_PTRACE"), (0x4000, "CLONE_VFORK"), (0x8000, "CLONE_PARENT"),
    (0x10000, "CLONE_THREAD"), (0x20000, "CLONE_NEWNS"), (0x40000, "CLONE_SYSVSEM"), (0x80000, "CLONE_SETTLS"),
    (0x100000, "CLONE_PARENT_SETTID"), (0x200000, "CLONE_CHILD_CLEARTID"), (0x400000, "CLONE_DETACHED"),
    (0x800000, "CLONE_UNTRACED"), (0x1000000, "CLONE_CHILD_SETTID"), (0x2000000, "CLONE_NEWCGROUP"),
    (0x4000000, "CLONE_NEWUTS"), (0x8000000, "CLONE_NEWIPC"), (0x10000000, "CLONE_NEWUSER"),
    (0x20000000, "CLONE_NEWPID"), (0x40000000, "CLONE_NEWNET"), (0x80000000, "CLONE_IO"),
)
_SIGNAL_NAMES = (
    "0", "SIGHUP", "SIGINT", "SIGQUIT", "SIGILL", "SIGTRAP", "SIGABRT", "SIGBUS", "SIGFPE", "SIGKILL",
    "SIGUSR1", "SIGSEGV", "SIGUSR2", "SIGPIPE", "SIGALRM", "SIGTERM", "SIGSTKFLT", "SIGCHLD", "SIGCONT",
    "SIGSTOP", "SIGTSTP", "SIGTTIN", "SIGTTOU", "SIGURG", "SIGXCPU", "SIGXFSZ", "SIGVTALRM", "SIGPROF",
    "SIGWINCH", "SIGIO", "SIGPWR", "SIGSYS",
)
_SIGRTMIN = 32
_SIGRTMAX = 64
_CLOCK_NAMES = {
    0: "CLOCK_REALTIME", 1: "CLOCK_MONOTONIC", 2: "CLOCK_PROCESS_CPUTIME_ID", 3: "CLOCK_THREAD_CPUTIME_ID",
    4: "CLOCK_MONOTONIC_RAW", 5: "CLOCK_REALTIME_COARSE", 6: "CLOCK_MONOTONIC_COARSE", 7: "CLOCK_BOOTTIME",
    8: "CLOCK_REALTIME_ALARM", 9: "CLOCK_BOOTTIME_ALARM", 11: "CLOCK_TAI",
}
_AT_FDCWD = -100
_MAX_ERRNO = 4095
_MASK64 = 0xFFFFFFFFFFFFFFFF

_ESCAPES = {ord("\t"): "\\t", ord("\n"): "\\n", ord("\v"): "\\v", ord("\f"): "\\f", ord("\r"): "\\r",
            ord('"'): '\\"', ord("\\"): "\\\\"}
_BYTE_TEXT = tuple(_ESCAPES.get(byte, chr(byte) if 0x20 <= byte < 0x7F else f"\\{byte:03o}")
                   for byte in range(256))


def _quote(data, truncated=False):
    return '"' + "".join(_BYTE_TEXT[byte] for byte in data) + ('"...' if truncated else '"')


def _quote_limited(data):
    return _quote(data[:STRING_LIMIT], len(data) > STRING_LIMIT)


def _bit_names(value, names):
    parts = []
    for bits, name in names:
        if value & bits == bits:
            parts.append(name)
            value &= ~bits
    if value:
        parts.append(hex(value))
    return parts


def _hex_or_zero(value):
    return hex(value) if value else "0"


def _pointer(value):
    return hex(value) if value else "NULL"


def _fd(value):
    return "AT_FDCWD" if value == _AT_FDCWD else str(value)


def _signal_name(signo):
    if 0 <= signo < len(_SIGNAL_NAMES):
        return _SIGNAL_NAMES[signo]
    if signo == _SIGRTMIN:
        return "SIGRTMIN"
    if _SIGRTMIN < signo <= _SIGRTMAX:
        return f"SIGRT_{signo - _SIGRTMIN}"
    return str(signo)


def _clock(clockid):
    return _CLOCK_NAMES.get(clockid, str(clockid))


def _open_flags(flags):
    return "|".join([_ACCESS_MODES[flags & 3], *_bit_names(flags & ~3, _OPEN_FLAGS)])


def _mmap_flags(flags):
    map_type = flags & _MAP_TYPE_MASK
    return "|".join([_MAP_TYPES.get(map_type, hex(map_type)), *_bit_names(flags & ~_MAP_TYPE_MASK, _MAP_FLAGS)])


def _prot(prot):
    return "|".join(_bit_names(prot, _PROT_FLAGS)) if prot else "PROT_NONE"


def _clone_flags(flags):
    parts = _bit_names(flags & ~_CLONE_SIGNAL_MASK, _CLONE_FLAGS)
    if flags & _CLONE_SIGNAL_MASK:
        parts.append(_signal_name(flags & _CLONE_SIGNAL_MASK))
    return "|".join(parts) or "0"


def _open_uses_mode(flags):
    """Like strace, show open's mode argument only when the flags make the kernel use it."""
    return flags & (_O_CREAT | _O_TMPFILE)


def _mode(mode):
    return f"0{mode:03o}"


# Arguments shown from their value alone.
_VALUE_FORMATTERS = {
    "int": str, "uint": str, "long": str, "ulong": str, "size": str, "pid": str,
    "ptr": _pointer, "fd": _fd, "sig": _signal_name, "clockid": _clock, "flags": _hex_or_zero,
    "flags_open": _open_flags, "flags_mmap": _mmap_flags, "flags_clone": _clone_flags, "prot": _prot,
    "mode": _mode,
}


def format_value(arg_type, value):
    """One argument shown from its value alone (a flags word, a clock, a signal...), as in a trace line."""
    return _VALUE_FORMATTERS.get(arg_type, str)(value)


def _argv(addr, memory):
    items = []
    for index in range(ARGV_LIMIT + 1):
        pointer = int.from_bytes(memory.copy_in(addr + 8 * index, 8), "little")
        if not pointer:
            break
        if index == ARGV_LIMIT:
            items.append("...")
            break
        items.append(_quote_limited(memory.copy_in_str(pointer)))
    return "[" + ", ".join(items) + "]"


def _memory_arg(arg_type, addr, length, memory):
    """An argument that points at guest memory; `length` is the buffer's size for buf_in/buf_out."""
    if not addr:
        return "NULL"
    try:
        if arg_type == "path":
            return _quote(memory.copy_in_str(addr))
        if arg_type == "str":
            return _quote_limited(memory.copy_in_str(addr))
        if arg_type == "argv":
            return _argv(addr, memory)
        shown = max(0, min(length, STRING_LIMIT))
        return _quote(memory.copy_in(addr, shown), length > STRING_LIMIT)
    except SyscallError:
        return hex(addr)


# The kernel-internal codes of a call a signal interrupted, as strace names them.
_RESTART_CODES = {
    512: "ERESTARTSYS (To be restarted if SA_RESTART is set)",
    513: "ERESTARTNOINTR (To be restarted)",
    514: "ERESTARTNOHAND (To be restarted if no handler)",
    516: "ERESTART_RESTARTBLOCK (Interrupted by signal)",
}


def _result(ret, result):
    if result is None:
        return "?"
    if -result in _RESTART_CODES:
        return f"? {_RESTART_CODES[-result]}"
    if -_MAX_ERRNO <= result < 0:
        return f"-1 {errno.errorcode.get(-result, str(-result))} ({os.strerror(-result)})"
    return hex(result) if ret == "ptr" else str(result)


def _outcome(ret, result, elapsed):
    text = f") = {_result(ret, result)}"
    return text if elapsed is None else f"{text} <{elapsed:.6f}>"


class TracedCall:
    """One syscall being traced: input arguments are formatted at begin(), outputs at finish()."""

    __slots__ = ("_prefix", "_entry", "_texts", "_outputs", "_memory", "_shown_unfinished")

    def __init__(self, task_label, entry, args, memory):
        self._prefix = f"[pid {task_label}] "
        self._entry = entry
        self._memory = memory
        self._shown_unfinished = False
        self._texts = []
        self._outputs = []             # (index in _texts, address) of buf_out arguments
        previous_type = previous_value = None
        for index, ((_, arg_type), value) in enumerate(zip(entry.args, args)):
            if arg_type == "buf_out":
                self._outputs.append((len(self._texts), value))
                self._texts.append(None)
            elif arg_type == "mode" and previous_type == "flags_open" and not _open_uses_mode(previous_value):
                pass
            elif arg_type in _VALUE_FORMATTERS:
                self._texts.append(_VALUE_FORMATTERS[arg_type](value))
            else:
                length = args[index + 1] if index + 1 < len(args) else 0
                self._texts.append(_memory_arg(arg_type, value, length, memory))
            previous_type, previous_value = arg_type, value

    def _split(self):
        """The arguments known before the call completes, and those shown after."""
        first_output = self._outputs[0][0] if self._outputs else len(self._texts)
        return self._texts[:first_output], self._texts[first_output:]

    @property
    def shown_unfinished(self):
        return self._shown_unfinished

    def unfinished(self):
        """The line shown when the call blocks: its name and input arguments."""
        self._shown_unfinished = True
        known, later = self._split()
        separator = ", " if known and later else ""
        return f"{self._prefix}{self._entry.name}({', '.join(known)}{separator} <unfinished ...>"

    def finish(self, result, elapsed=None):
        """The line shown when the call returns."""
        filled = result is not None and result >= 0
        for index, addr in self._outputs:
            self._texts[index] = _memory_arg("buf_out", addr, result, self._memory) if filled else _pointer(addr)
        outcome = _outcome(self._entry.ret, result, elapsed)
        if self._shown_unfinished:
            return f"{self._prefix}<... {self._entry.name} resumed>{', '.join(self._split()[1])}{outcome}"
        return f"{self._prefix}{self._entry.name}({', '.join(self._texts)}{outcome}"


def begin(task_label, entry, args, memory):
    """Start tracing a call of `entry` with decoded `args` by task `task_label` (its tid)."""
    return TracedCall(task_label, entry, args, memory)


def format_call(task_label, entry, args, result, elapsed, memory):
    """The whole line for a call that completed without blocking."""
    return begin(task_label, entry, args, memory).finish(result, elapsed)


def format_unknown(task_label, nr, raw_args):
    """The line for a syscall number the table does not have: syscall_1000(0x1, 0, ...) = -1 ENOSYS."""
    texts = ", ".join(_hex_or_zero(raw & _MASK64) for raw in raw_args)
    return f"[pid {task_label}] syscall_{nr}({texts}{_outcome('long', -errno.ENOSYS, None)}"
