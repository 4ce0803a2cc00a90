"""Pipes made by pipe(2): a 64 KiB buffer inside the sentry, see pipe(7)."""
import errno
import itertools
import os
import stat as st

from ..errors import SyscallError, WouldBlock
from ..waiter import WaitQueue
from .file import POLLERR, POLLHUP, POLLIN, POLLOUT, POLLRDNORM, POLLWRNORM, File, on_broken_pipe
from .inode import Dentry, Inode, new_synthetic_dev, now_ns
from .stat import StatResult

PIPE_CAPACITY = 65536
PIPE_BUF = 4096  # writes up to this size are atomic
PIPEFS_DEV = new_synthetic_dev()
_pipe_numbers = itertools.count(1000)


class Pipe:
    def __init__(self, dentry=None):
        self.buffer = bytearray()
        self.readers = 0
        self.writers = 0
        self.reader_opens = 0     # how many times each end was ever opened, so that a FIFO
        self.writer_opens = 0     # opener that waited sees a partner that came and went
        self.queue = WaitQueue()  # notified on every change, for both ends
        self.inode = PipeInode(self)
        self.dentry = dentry or Dentry(self.inode, None, b"pipe:[%d]" % self.inode.ino)

    def open_end(self, flags, dentry=None):
        """A new file description on this pipe with access mode `flags & O_ACCMODE`."""
        end = PipeFile(self, flags, dentry)
        if end.readable:
            self.readers += 1
            self.reader_opens += 1
        if end.writable:
            self.writers += 1
            self.writer_opens += 1
        self.queue.notify()
        return end

    def open_fifo(self, t, dentry, flags):
        """open(2) of a named pipe: one end waits for the other unless O_NONBLOCK or O_RDWR (fifo(7))."""
        access = flags & os.O_ACCMODE
        if access == os.O_RDWR:
            return self.open_end(flags, dentry)
        reading = access == os.O_RDONLY
        partners, partner_opens = ((self.writers, self.writer_opens) if reading
                                   else (self.readers, self.reader_opens))
        if partners == 0 and flags & os.O_NONBLOCK and not reading:
            raise SyscallError(errno.ENXIO)
        first_seen = t.syscall_state.setdefault("fifo_partner_opens", partner_opens)
        if partners == 0 and partner_opens == first_seen and not flags & os.O_NONBLOCK:
            raise WouldBlock(self.queue)
        return self.open_end(flags, dentry)

    @property
    def free_space(self):
        return PIPE_CAPACITY - len(self.buffer)


class PipeInode(Inode):
    """The pipe as seen through /proc/<pid>/fd: reopening it gives another end of the same pipe."""

    def __init__(self, pipe):
        self.pipe = pipe
        self.ino = next(_pipe_numbers)
        self.mode = st.S_IFIFO | 0o600
        self.ctime_ns = now_ns()

    def stat(self):
        return StatResult(dev=PIPEFS_DEV, ino=self.ino, mode=self.mode, blksize=PIPE_BUF,
                          atime_ns=self.ctime_ns, mtime_ns=self.ctime_ns, ctime_ns=self.ctime_ns)

    def open(self, t, dentry, flags):
        return self.pipe.open_end(flags)


class PipeFile(File):
    """One end of a pipe (an O_RDWR reopen through /proc is both ends)."""

    def __init__(self, pipe, flags, dentry=None):
        super().__init__(flags, dentry or pipe.dentry)
        self.pipe = pipe
        self.wait_queue = pipe.queue

    def release(self):
        pipe = self.pipe
        if self.readable:
            pipe.readers -= 1
        if self.writable:
            pipe.writers -= 1
        if pipe.readers == pipe.writers == 0:
            pipe.buffer.clear()  # a FIFO's data does not outlive its last opener
        pipe.queue.notify()

    def read(self, t, n):
        pipe = self.pipe
        if pipe.buffer:
            data = bytes(pipe.buffer[:n])
            del pipe.buffer[:n]
            pipe.queue.notify()
            return data
        if pipe.writers == 0 or n == 0:
            return b""
        if self.nonblocking:
            raise SyscallError(errno.EAGAIN)
        raise WouldBlock(pipe.queue)

    def write(self, t, data):
        pipe = self.pipe
        if pipe.readers == 0:
            on_broken_pipe(t)
        if not data:
            return 0
        must_be_atomic = len(data) <= PIPE_BUF
        if pipe.free_space == 0 or must_be_atomic and pipe.free_space < len(data):
            if self.nonblocking:
                raise SyscallError(errno.EAGAIN)
            raise WouldBlock(pipe.queue)
        # A larger write takes what fits now and returns short; callers loop on short writes.
        written = min(pipe.free_space, len(data))
        pipe.buffer += data[:written]
        pipe.queue.notify()
        return written

    def poll_events(self):
        pipe = self.pipe
        events = 0
        if self.readable:
            if pipe.buffer:
                events |= POLLIN | POLLRDNORM
            if pipe.writers == 0:
                events |= POLLHUP
        if self.writable:
            if pipe.free_space >= PIPE_BUF:
                events |= POLLOUT | POLLWRNORM
            if pipe.readers == 0:
                events |= POLLERR
        return events

    def bytes_available(self):
        return len(self.pipe.buffer)

    def size(self):
        return 0


def new_pipe(flags):
    """pipe2(2): (read end, write end) with the status flags `flags` (O_NONBLOCK, O_DIRECT)."""
    pipe = Pipe()
    status = flags & (os.O_NONBLOCK | os.O_DIRECT)
    return pipe.open_end(os.O_RDONLY | status), pipe.open_end(os.O_WRONLY | status)
