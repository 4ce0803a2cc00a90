"""signalfd(2): pending signals read as struct signalfd_siginfo records.

A read takes the reading task's pending signals that are in the file's mask (its own
queue first, then its process's), whoever created the file. Readiness for poll and
epoll is the same test, made for the task that last read or waited on the file:
File.poll_events() is not told who is asking.
"""
import errno
import os
import struct

from .. import signals
from ..errors import SyscallError, WouldBlock
from .file import POLLIN, File

SFD_CLOEXEC = os.O_CLOEXEC
SFD_NONBLOCK = os.O_NONBLOCK
SIGSET_SIZE = 8

# struct signalfd_siginfo: signo errno code pid uid fd tid band overrun trapno status int
# ptr utime stime addr addr_lsb __pad2 syscall call_addr arch __pad[28] (128 bytes).
_SIGNALFD_SIGINFO = struct.Struct("<IiiIIiIIIIiiQQQQHHiQI28x")
SIGNALFD_SIGINFO_SIZE = _SIGNALFD_SIGINFO.size
_FIELDS = ("signo errno code pid uid fd tid band overrun trapno status int ptr utime stime addr addr_lsb pad2 "
           "syscall call_addr arch").split()
_MASK32 = 0xFFFFFFFF
_MASK64 = (1 << 64) - 1


def pack_signalfd_siginfo(info):
    """The record for `info`: the union member its layout selects, copied field by field (signalfd_copyinfo)."""
    fields = dict.fromkeys(_FIELDS, 0)
    fields.update(signo=info.signo, errno=info.errno, code=info.code)
    layout = info.layout
    if layout in ("kill", "rt", "chld"):
        fields.update(pid=info.pid, uid=info.uid)
    if layout in ("rt", "timer"):
        fields.update(ptr=info.value & _MASK64, int=_signed32(info.value))
    if layout == "timer":
        fields.update(tid=info.timer_id & _MASK32, overrun=info.overrun & _MASK32)
    elif layout == "chld":
        fields.update(status=info.status, utime=info.utime, stime=info.stime)
    elif layout == "fault":
        fields.update(addr=info.addr & _MASK64)
    elif layout == "poll":
        fields.update(band=info.band & _MASK32, fd=info.fd)
    elif layout == "sys":
        fields.update(call_addr=info.addr & _MASK64, syscall=info.syscall, arch=info.arch)
    return _SIGNALFD_SIGINFO.pack(*(fields[name] for name in _FIELDS))


def _acceptable(wanted):
    """SIGKILL and SIGSTOP are never read from a signalfd."""
    return wanted & signals.ALL_SIGNALS & ~signals.UNBLOCKABLE


def _signed32(value):
    value &= _MASK32
    return value - (1 << 32) if value & 0x80000000 else value


class SignalFile(File):
    """The open signalfd: the set of signals it takes (never SIGKILL or SIGSTOP)."""

    def __init__(self, task, wanted, flags):
        super().__init__(os.O_RDWR | (flags & SFD_NONBLOCK), path=b"anon_inode:[signalfd]")
        self.wanted = _acceptable(wanted)
        self._task = task
        self._relays = {}                 # id(arrivals queue) -> (queue, callback) while subscribed

    def set_mask(self, wanted):
        """signalfd4(2) on an existing file replaces the set of signals it accepts."""
        self.wanted = _acceptable(wanted)
        self.wait_queue.notify()

    def read(self, t, n):
        capacity = n // SIGNALFD_SIGINFO_SIZE
        if not capacity:
            raise SyscallError(errno.EINVAL)
        self._task = t
        records = []
        while len(records) < capacity:
            info = signals.dequeue_signal(t, ~self.wanted)
            if info is None:
                break
            records.append(pack_signalfd_siginfo(info))
        if records:
            return b"".join(records)
        if self.nonblocking:
            raise SyscallError(errno.EAGAIN)
        raise WouldBlock(t.pending.arrivals, t.tg.pending.arrivals)

    def poll_events(self):
        task = self._task
        return POLLIN if (task.pending.signals | task.tg.pending.signals) & self.wanted else 0

    def readiness_queue(self, t, events):
        """Signals arrive on the task's and its process's queues; each arrival is relayed once to
        this file's own queue (a waiter that parks again asks again)."""
        self._task = t
        for arrivals in (t.pending.arrivals, t.tg.pending.arrivals):
            if id(arrivals) not in self._relays:
                self._relay_once(arrivals)
        return self.wait_queue

    def _relay_once(self, arrivals):
        def relay():
            self._relays.pop(id(arrivals), None)
            self.wait_queue.notify()
        self._relays[id(arrivals)] = (arrivals, relay)
        arrivals.add(relay)

    def release(self):
        for arrivals, relay in self._relays.values():
            arrivals.remove(relay)
        self._relays.clear()
