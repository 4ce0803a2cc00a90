"""inotify(7) instances: their watches and their queues of events (the events come from fsnotify)."""
import collections
import errno
import itertools
import os
import struct

from ..errors import SyscallError, WouldBlock
from .file import POLLIN, POLLRDNORM, File
from .fsnotify import IN_IGNORED, IN_MASK_ADD, IN_MASK_CREATE, IN_ONLYDIR, IN_Q_OVERFLOW, WATCHES, Watch

MAX_QUEUED_EVENTS = 16384  # /proc/sys/fs/inotify/max_queued_events
_EVENT_HEAD = struct.Struct("<iIII")  # wd, mask, cookie, len, then the NUL-padded name
FIONREAD = 0x541B


class InotifyFile(File):
    """An inotify instance (inotify_init1(2)): its watches and its queue of packed events."""

    def __init__(self, flags):
        super().__init__(os.O_RDONLY | flags, path=b"anon_inode:inotify")
        self.watches = {}   # wd -> Watch
        self.by_key = {}    # watched file identity -> Watch
        self.events = collections.deque()
        self.queued_bytes = 0
        self._next_wd = itertools.count(1)

    # --- watches ---

    def add_watch(self, key, mask, is_dir):
        if mask & IN_ONLYDIR and not is_dir:
            raise SyscallError(errno.ENOTDIR)
        watch = self.by_key.get(key)
        if watch is not None:
            if mask & IN_MASK_CREATE:
                raise SyscallError(errno.EEXIST)
            watch.mask = (watch.mask | mask if mask & IN_MASK_ADD else mask) & ~(IN_MASK_ADD | IN_MASK_CREATE)
            return watch.wd
        watch = Watch(self, next(self._next_wd), mask & ~(IN_MASK_ADD | IN_MASK_CREATE), key)
        self.watches[watch.wd] = watch
        self.by_key[key] = watch
        WATCHES.add(watch)
        return watch.wd

    def remove_watch(self, wd):
        watch = self.watches.get(wd)
        if watch is None:
            raise SyscallError(errno.EINVAL)
        self.drop_watch(watch)

    def drop_watch(self, watch):
        """The watch ends: IN_IGNORED is the last event it queues."""
        if self.watches.pop(watch.wd, None) is None:
            return
        self.by_key.pop(watch.key, None)
        WATCHES.remove(watch)
        self.queue_event(watch, IN_IGNORED, 0, b"")

    def release(self):
        for watch in list(self.watches.values()):
            WATCHES.remove(watch)
        self.watches.clear()
        self.by_key.clear()

    # --- the event queue ---

    def queue_event(self, watch, mask, cookie, name):
        padded = _padded_name(name)
        record = _EVENT_HEAD.pack(watch.wd, mask, cookie, len(padded)) + padded
        if self.events and self.events[-1] == record:
            return  # Linux merges an event identical to the last one queued
        if len(self.events) >= MAX_QUEUED_EVENTS:
            record = _EVENT_HEAD.pack(-1, IN_Q_OVERFLOW, 0, 0)
            if self.events[-1] == record:
                return
        self.events.append(record)
        self.queued_bytes += len(record)
        self.wait_queue.notify()

    def read(self, t, n):
        if not self.events:
            if self.nonblocking:
                raise SyscallError(errno.EAGAIN)
            raise WouldBlock(self.wait_queue)
        if len(self.events[0]) > n:
            raise SyscallError(errno.EINVAL)
        records = []
        used = 0
        while self.events and used + len(self.events[0]) <= n:
            record = self.events.popleft()
            records.append(record)
            used += len(record)
        self.queued_bytes -= used
        return b"".join(records)

    def poll_events(self):
        return POLLIN | POLLRDNORM if self.events else 0

    def bytes_available(self):
        return self.queued_bytes

    def ioctl(self, t, cmd, arg):
        if cmd == FIONREAD:
            t.copy_out_u32(arg, self.queued_bytes)
            return 0
        raise SyscallError(errno.ENOTTY)


def _padded_name(name):
    if not name:
        return b""
    length = (len(name) + 1 + _EVENT_HEAD.size - 1) // _EVENT_HEAD.size * _EVENT_HEAD.size
    return name.ljust(length, b"\0")
