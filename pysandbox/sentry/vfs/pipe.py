"""Pipes made by pipe(2): a 64 KiB buffer inside the sentry, see pipe(7)."""
import collections
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
PIPE_MAX_SIZE = 1 << 20   # /proc/sys/fs/pipe-max-size
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
        self.capacity = PIPE_CAPACITY  # F_SETPIPE_SZ changes it
        self.on_last_close = None      # called once neither end is open any more
        # [length, is_packet] of the buffer's contents, kept once an O_DIRECT end wrote to it: each
        # packet takes a page slot of its own and is read whole or cut (pipe2(2), O_DIRECT).
        self.segments = collections.deque()
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
        """open(2) of a named pipe: one end waits for the other unless O_NONBLOCK or O_RDWR (fifo(7)).

        As on Linux, a waiting end already counts as open, so the partner that comes
        later does not wait for it, and what that partner writes stays in the pipe.
        """
        access = flags & os.O_ACCMODE
        if access == os.O_RDWR:
            return self.open_end(flags, dentry)
        reading = access == os.O_RDONLY
        state = t.syscall_state
        waiting = state.get("fifo_end")
        if waiting is not None:
            if self._partner_opens(reading) == state["fifo_partner_opens"]:
                raise WouldBlock(self.queue)
            del state["fifo_end"], state["on_cancel"]
            return waiting
        partners = self.writers if reading else self.readers
        if partners == 0 and flags & os.O_NONBLOCK and not reading:
            raise SyscallError(errno.ENXIO)
        end = self.open_end(flags, dentry)
        if partners or flags & os.O_NONBLOCK:
            return end
        state["fifo_end"] = end
        state["fifo_partner_opens"] = self._partner_opens(reading)
        state["on_cancel"] = end.decref  # a signal ended the wait: this end closes again
        raise WouldBlock(self.queue)

    def _partner_opens(self, reading):
        return self.writer_opens if reading else self.reader_opens

    @property
    def free_space(self):
        if not self.segments:
            return max(0, self.capacity - len(self.buffer))
        slots = self.capacity // PIPE_BUF - sum(1 if packet else -(-length // PIPE_BUF)
                                                for length, packet in self.segments)
        length, packet = self.segments[-1]
        room_in_last = 0 if packet or not length % PIPE_BUF else PIPE_BUF - length % PIPE_BUF
        return max(0, slots) * PIPE_BUF + room_in_last

    def append(self, data, packet):
        """Queue written bytes: as packets of at most PIPE_BUF bytes, or as a byte stream."""
        self.buffer += data
        if packet:
            self.segments.extend([len(data[at:at + PIPE_BUF]), True] for at in range(0, len(data), PIPE_BUF))
        elif self.segments:
            if self.segments[-1][1]:
                self.segments.append([len(data), False])
            else:
                self.segments[-1][0] += len(data)

    def peek(self, n):
        """Up to n bytes from the front, left in the pipe (tee(2), splice(2) before the write)."""
        return bytes(self.buffer[:n])

    def discard(self, n):
        """Drop n bytes from the front, as a byte stream: a packet cut short keeps its rest."""
        del self.buffer[:n]
        while n and self.segments:
            segment = self.segments[0]
            taken = min(n, segment[0])
            segment[0] -= taken
            n -= taken
            if not segment[0]:
                self.segments.popleft()
        self.queue.notify()

    def put(self, data):
        """Queue bytes that come from another file (splice(2), tee(2)) as a byte stream."""
        self.append(data, packet=False)
        self.queue.notify()

    def take(self, n):
        """Read up to n bytes; a packet ends the read, and what of it does not fit is dropped."""
        if not self.segments:
            data = bytes(self.buffer[:n])
            del self.buffer[:n]
            return data
        data = bytearray()
        while n and self.segments:
            segment = self.segments[0]
            length, packet = segment
            taken = min(n, length)
            data += self.buffer[:taken]
            del self.buffer[:length if packet else taken]
            n -= taken
            if packet or taken == length:
                self.segments.popleft()
            else:
                segment[0] -= taken
            if packet:
                break
        return bytes(data)

    def resize(self, size, privileged):
        """fcntl(F_SETPIPE_SZ): at least a page, rounded up to a power of two; above
        PIPE_MAX_SIZE only with CAP_SYS_RESOURCE; never below what the pipe holds (EBUSY)."""
        if size > 1 << 31:
            raise SyscallError(errno.EINVAL)
        size = max(PIPE_BUF, 1 << (size - 1).bit_length())
        if size > PIPE_MAX_SIZE and not privileged:
            raise SyscallError(errno.EPERM)
        if len(self.buffer) > size:
            raise SyscallError(errno.EBUSY)
        self.capacity = size
        self.queue.notify()
        return size


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
            pipe.segments.clear()
            if pipe.on_last_close is not None:
                pipe.on_last_close()
        pipe.queue.notify()

    def wait_for_data(self, nonblocking=False):
        """True once the pipe has bytes; False at end of file (no writers left)."""
        pipe = self.pipe
        if pipe.buffer:
            return True
        if pipe.writers == 0:
            return False
        if nonblocking or self.nonblocking:
            raise SyscallError(errno.EAGAIN)
        raise WouldBlock(pipe.queue)

    def read(self, t, n):
        if n == 0 or not self.wait_for_data():
            return b""
        pipe = self.pipe
        data = pipe.take(n)
        pipe.queue.notify()
        return data

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
        pipe.append(data[:written], packet=bool(self.flags & os.O_DIRECT))
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
