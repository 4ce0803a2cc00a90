"""eventfd(2): a 64-bit counter that readers take and writers add to."""
import errno
import os
import struct

from ..errors import SyscallError, WouldBlock
from ..waiter import WaitQueue
from .file import POLLIN, POLLOUT, File

EFD_SEMAPHORE = 1
EFD_CLOEXEC = os.O_CLOEXEC
EFD_NONBLOCK = os.O_NONBLOCK
COUNTER_SIZE = 8
ULLONG_MAX = (1 << 64) - 1
# The counter never holds ULLONG_MAX itself: a write that would reach it waits for a read.
COUNTER_MAX = ULLONG_MAX - 1
_COUNTER = struct.Struct("<Q")


class EventFile(File):
    """The open eventfd: its counter, and one queue per direction so that a write wakes only
    readers and a read only writers (edge-triggered epoll sees just the event that happened)."""

    def __init__(self, initial_value, flags):
        super().__init__(os.O_RDWR | (flags & EFD_NONBLOCK), path=b"anon_inode:[eventfd]")
        self.counter = initial_value
        self.semaphore = bool(flags & EFD_SEMAPHORE)
        self.counter_grew = WaitQueue()
        self.counter_shrank = WaitQueue()

    def read(self, t, n):
        if n < COUNTER_SIZE:
            raise SyscallError(errno.EINVAL)
        if self.counter == 0:
            self._wait(self.counter_grew)
        taken = 1 if self.semaphore else self.counter
        self.counter -= taken
        self._notify(self.counter_shrank)
        return _COUNTER.pack(taken)

    def write(self, t, data):
        # Exactly 8 bytes since Linux 6.10; a read only needs room for them.
        if len(data) != COUNTER_SIZE:
            raise SyscallError(errno.EINVAL)
        added = _COUNTER.unpack_from(data)[0]
        if added == ULLONG_MAX:
            raise SyscallError(errno.EINVAL)
        if added > COUNTER_MAX - self.counter:
            self._wait(self.counter_shrank)
        self.counter += added
        self._notify(self.counter_grew)
        return COUNTER_SIZE

    def _wait(self, queue):
        if self.nonblocking:
            raise SyscallError(errno.EAGAIN)
        raise WouldBlock(queue)

    def _notify(self, queue):
        queue.notify()
        self.wait_queue.notify()

    def poll_events(self):
        events = 0
        if self.counter > 0:
            events |= POLLIN
        if self.counter < COUNTER_MAX:
            events |= POLLOUT
        return events

    def readiness_queue(self, t, events):
        if not events & POLLOUT:
            return self.counter_grew
        if not events & POLLIN:
            return self.counter_shrank
        return self.wait_queue
