"""Time namespaces (time_namespaces(7)): per-namespace offsets of CLOCK_MONOTONIC and CLOCK_BOOTTIME.

A task has two: `time_ns`, whose offsets its clocks read with, and `time_ns_for_children`, the
one its children start in. unshare(CLONE_NEWTIME) changes only the second; the caller's next
child (or its own execve, as since Linux 6.0) enters it. The offsets are set through
/proc/PID/timens_offsets, and only until a process has entered the namespace. None on a Task
stands for the sandbox's first namespace, whose offsets are 0 and fixed.

Everything that reads a monotonic or boot-time clock goes through sys_time.clock_now_ns, so
clock_gettime(2), absolute clock_nanosleep(2), absolute timerfd and POSIX timers, and futex
deadlines all see the offsets. The guest has no vDSO on either platform (the loader gives no
AT_SYSINFO_EHDR), so clock_gettime is always a system call and no host time reaches it directly.
"""
import errno
import re
import stat

from .credentials import CAP_SYS_TIME, capable
from .errors import SyscallError
from .vfs.file import ContentFile
from .vfs.procfs import ProcInode
from .nsfs import InitialNamespaces, Namespace, new_inode_number
from .syscalls.sys_time import (CLOCK_BOOTTIME, CLOCK_BOOTTIME_ALARM, CLOCK_MONOTONIC, CLOCK_MONOTONIC_COARSE,
                                CLOCK_MONOTONIC_RAW, NSEC_PER_SEC, sandbox_monotonic_ns)

INITIAL_TIME_INO = 0xEFFFFFFA     # PROC_TIME_INIT_INO
KTIME_SEC_MAX = (1 << 63) // NSEC_PER_SEC - 1
_CLOCK_NAMES = {b"monotonic": CLOCK_MONOTONIC, b"1": CLOCK_MONOTONIC, b"boottime": CLOCK_BOOTTIME,
                b"7": CLOCK_BOOTTIME}
# Which offset a clock id reads with: the MONOTONIC family, then the BOOTTIME one.
_OFFSET_OF_CLOCK = {CLOCK_MONOTONIC: CLOCK_MONOTONIC, CLOCK_MONOTONIC_RAW: CLOCK_MONOTONIC,
                    CLOCK_MONOTONIC_COARSE: CLOCK_MONOTONIC, CLOCK_BOOTTIME: CLOCK_BOOTTIME,
                    CLOCK_BOOTTIME_ALARM: CLOCK_BOOTTIME}
_MAX_OFFSETS = 2                  # one write sets at most two clocks, as Linux reads them
# sscanf("%9s %lld %lu"): up to nine non-blank characters, then two numbers after optional blanks.
_OFFSET_LINE = re.compile(rb"[ \t\v\f\r]*([^ \t\v\f\r]{1,9}+)[ \t\v\f\r]*([+-]?\d+)[ \t\v\f\r]*(\+?\d+)")


class TimeNamespace(Namespace):
    kind = b"time"

    def __init__(self, ino, offsets=None, frozen=False):
        super().__init__(ino)
        self.offsets = dict(offsets or {CLOCK_MONOTONIC: 0, CLOCK_BOOTTIME: 0})   # clock -> ns
        self.frozen = frozen      # a process is in it: its offsets can no longer change

    def offset_ns(self, clockid):
        return self.offsets[_OFFSET_OF_CLOCK[clockid]]

    def render_offsets(self):
        """/proc/PID/timens_offsets as Linux prints it ("%-10s %10lld %9ld")."""
        lines = []
        for name, clock in ((b"monotonic", CLOCK_MONOTONIC), (b"boottime", CLOCK_BOOTTIME)):
            seconds, nanoseconds = divmod(self.offsets[clock], NSEC_PER_SEC)
            lines.append(b"%-10s %10d %9d\n" % (name, seconds, nanoseconds))
        return b"".join(lines)

    def set_offsets(self, t, offsets):
        """Store parsed offsets [(clock, ns)], as proc_timens_set_offset(): ERANGE for an offset
        that would take the clock below 0 or past KTIME_SEC_MAX / 2, then EACCES once entered."""
        now_ns = sandbox_monotonic_ns(t.kernel)
        for _, offset in offsets:
            seconds = offset // NSEC_PER_SEC
            if not -KTIME_SEC_MAX <= seconds <= KTIME_SEC_MAX:
                raise SyscallError(errno.ERANGE)
            shifted = (now_ns + offset) // NSEC_PER_SEC
            if shifted < 0 or shifted > KTIME_SEC_MAX // 2:
                raise SyscallError(errno.ERANGE)
        if self.frozen:
            raise SyscallError(errno.EACCES)
        for clock, offset in offsets:
            self.offsets[clock] = offset


_INITIAL = InitialNamespaces(lambda kernel: TimeNamespace(INITIAL_TIME_INO, frozen=True))


def of(t):
    """The time namespace task `t` reads its clocks in."""
    return getattr(t, "time_ns", None) or _INITIAL.of(t.kernel)


def for_children(t):
    """The time namespace `t`'s children will start in."""
    return getattr(t, "time_ns_for_children", None) or of(t)


def unshare(t):
    """unshare(CLONE_NEWTIME): a namespace with the offsets of the one children would have
    entered, for the caller's children; the caller stays where it is."""
    t.time_ns_for_children = _new_for_children(t)


def _new_for_children(t):
    """A new namespace starting from the offsets of the one `t`'s children would enter."""
    return TimeNamespace(new_inode_number(t), for_children(t).offsets)


def child_namespaces(t, new_namespace, shares_memory):
    """(time_ns, time_ns_for_children) of a child of `t`: clone3(CLONE_NEWTIME) makes a new one
    first; a child with its own memory enters the one for children, a CLONE_VM one stays in
    its parent's (it shares the parent's clocks page on Linux)."""
    children = _new_for_children(t) if new_namespace else t.time_ns_for_children
    if shares_memory:
        return t.time_ns, children
    if children is not None:
        children.frozen = True
    return children, children


def enter(t, namespace):
    """`t` reads its clocks in `namespace` and its children start there: setns(2), or execve into
    the namespace for children (Linux 6.0, timens_on_fork at exec). Its offsets are fixed from now."""
    namespace.frozen = True
    t.time_ns = t.time_ns_for_children = namespace


def parse_offsets(data):
    """([(clock, offset ns)], bytes taken) of a write to timens_offsets: lines
    "<clock> <secs> <nsecs>" read as Linux's sscanf("%9s %lld %lu") does, at most two (the rest
    is left unwritten); EINVAL for a malformed line or an unknown clock."""
    data = data.split(b"\0", 1)[0]
    offsets, position = [], 0
    while True:
        end = data.find(b"\n", position)
        line = data[position:] if end < 0 else data[position:end]
        position = len(data) if end < 0 or end + 1 == len(data) else end + 1
        offsets.append(_parse_offset_line(line))
        if position == len(data):
            return offsets, len(data)
        if len(offsets) == _MAX_OFFSETS:
            return offsets, position


def _parse_offset_line(line):
    match = _OFFSET_LINE.match(line)
    if match is None:
        raise SyscallError(errno.EINVAL)
    name, seconds, nanoseconds = match.group(1), int(match.group(2)), int(match.group(3))
    if nanoseconds >= NSEC_PER_SEC or name not in _CLOCK_NAMES:
        raise SyscallError(errno.EINVAL)
    return _CLOCK_NAMES[name], seconds * NSEC_PER_SEC + nanoseconds



class OffsetsInode(ProcInode):
    """/proc/PID/timens_offsets: the offsets of the process's namespace for children.
    `task_of()`: the process's leader (SyscallError(ESRCH) once it is gone)."""

    def __init__(self, task_of, owner):
        super().__init__(stat.S_IFREG | 0o644, owner)
        self.task_of = task_of

    def open(self, t, dentry, flags):
        return OffsetsFile(flags, dentry, self.task_of, capable(t, CAP_SYS_TIME))


class OffsetsFile(ContentFile):
    def __init__(self, flags, dentry, task_of, opener_may_set):
        super().__init__(flags, dentry, b"", for_children(task_of()).render_offsets())
        self.task_of = task_of
        self.opener_may_set = opener_may_set      # file_ns_capable(): the opener's CAP_SYS_TIME

    def write(self, t, data):
        """proc_timens_set_offset(): EINVAL, ESRCH, EPERM, ERANGE, then EACCES, in that order."""
        offsets, taken = parse_offsets(data)
        namespace = for_children(self.task_of())
        if not self.opener_may_set:
            raise SyscallError(errno.EPERM)
        namespace.set_offsets(t, offsets)
        return taken
