"""File: an open file description, shared by every fd (in any process) that refers to it."""
import errno
import os
import select

from .. import signals
from ..errors import SyscallError
from ..waiter import WaitQueue
from . import fsnotify
from .inode import new_synthetic_dev
from .lock import LOCKS
from .stat import StatResult

O_ACCMODE = os.O_ACCMODE
# Flags F_SETFL may change (fcntl(2)); O_DIRECT and O_NOATIME are accepted and ignored.
SETFL_FLAGS = os.O_APPEND | os.O_NONBLOCK | os.O_ASYNC | os.O_DIRECT | os.O_NOATIME
# Flags an open file description keeps (the creation-only ones are dropped).
_CREATION_FLAGS = os.O_CREAT | os.O_EXCL | os.O_NOCTTY | os.O_TRUNC | os.O_CLOEXEC | os.O_NOFOLLOW

ANON_DEV = new_synthetic_dev()  # st_dev of files that belong to no filesystem

POLLIN, POLLPRI, POLLOUT, POLLERR, POLLHUP, POLLNVAL = 0x1, 0x2, 0x4, 0x8, 0x10, 0x20
POLLRDNORM, POLLRDBAND, POLLWRNORM, POLLWRBAND = 0x40, 0x80, 0x100, 0x200
POLLRDHUP = 0x2000

SEEK_SET, SEEK_CUR, SEEK_END, SEEK_DATA, SEEK_HOLE = 0, 1, 2, 3, 4
MAX_OFFSET = (1 << 63) - 1


class File:
    """Base open file description. Subclasses override what their kind supports.

    The defaults are what Linux answers for an object that lacks the
    operation: ESPIPE for positioned I/O and seeking, ENOTDIR for getdents,
    ENOTTY for ioctl, EINVAL for truncate.
    """

    def __init__(self, flags, dentry=None, path=b""):
        self.flags = flags & ~_CREATION_FLAGS
        self.dentry = dentry
        self._path = path
        self.refs = 1
        self.wait_queue = WaitQueue()

    # --- reference counting (shared by dup'd and inherited fds) ---

    def incref(self):
        self.refs += 1
        return self

    holds_locks = False  # set once flock(2) or an OFD lock was taken through this description
    flushes = False  # whether flush() hears of every close of an fd of this description

    def flush(self, files):
        """An fd of this description was closed through fd table `files` (Linux's f_op->flush)."""

    def decref(self):
        self.refs -= 1
        if self.refs == 0:
            if self.holds_locks:
                LOCKS.file_released(self)
            if fsnotify.WATCHES:
                fsnotify.closed(self)
            self.release()

    def release(self):
        """The last reference is gone: free host resources."""

    # --- flags ---

    @property
    def readable(self):
        return self.flags & O_ACCMODE in (os.O_RDONLY, os.O_RDWR) and not self.is_path_only

    @property
    def writable(self):
        return self.flags & O_ACCMODE in (os.O_WRONLY, os.O_RDWR) and not self.is_path_only

    @property
    def is_path_only(self):
        return bool(self.flags & os.O_PATH)

    @property
    def nonblocking(self):
        return bool(self.flags & os.O_NONBLOCK)

    def set_status_flags(self, flags):
        """F_SETFL: only the changeable status flags are replaced."""
        self.flags = (self.flags & ~SETFL_FLAGS) | (flags & SETFL_FLAGS)

    @property
    def path(self):
        """The sandbox path (str) shown in /proc/<pid>/fd and /proc/<pid>/maps."""
        if self._path or self.dentry is None:
            return os.fsdecode(self._path)
        return os.fsdecode(self.dentry.path())

    @property
    def inode(self):
        """The inode number, for /proc/<pid>/maps."""
        try:
            return self.stat().ino
        except SyscallError:
            return 0

    def is_mappable(self):
        """Whether mmap(2) may map this file (by reading it with pread)."""
        return False

    # --- I/O ---

    def read(self, t, n):
        raise SyscallError(errno.EINVAL)

    def write(self, t, data):
        raise SyscallError(errno.EINVAL)

    def pread(self, offset, n):
        raise SyscallError(errno.ESPIPE)

    def pwrite(self, offset, data):
        raise SyscallError(errno.ESPIPE)

    def seek(self, offset, whence):
        raise SyscallError(errno.ESPIPE)

    def getdents(self, t, capacity, record_size):
        raise SyscallError(errno.ENOTDIR)

    def ioctl(self, t, cmd, arg):
        raise SyscallError(errno.ENOTTY)

    def bytes_available(self):
        """FIONREAD."""
        raise SyscallError(errno.ENOTTY)

    def truncate(self, size):
        raise SyscallError(errno.EINVAL)

    def sync(self):
        raise SyscallError(errno.EINVAL)

    def size(self):
        return self.stat().size

    def stat(self):
        if self.dentry is None:
            return StatResult(dev=ANON_DEV, ino=id(self) & 0xFFFFFFFF, mode=0o600)
        return self.dentry.inode.stat()

    # --- readiness (poll, select, epoll) ---

    def poll_events(self):
        """The POLL* events ready now; regular files are always ready."""
        return POLLIN | POLLOUT | POLLRDNORM | POLLWRNORM

    def readiness_queue(self, t, events):
        """The WaitQueue notified when poll_events() may have changed."""
        return self.wait_queue

    def prepare_to_wait(self, t):
        """An epoll watching this file is about to park a task: a file whose changes come from the
        host (host sockets) starts watching the host now."""

    def __repr__(self):
        return f"<{type(self).__name__} {self.path!r} refs={self.refs}>"


class SeekableFile(File):
    """A file with its own offset, reading and writing through pread/pwrite."""

    def __init__(self, flags, dentry=None, path=b""):
        super().__init__(flags, dentry, path)
        self.offset = 0

    def read(self, t, n):
        data = self.pread(self.offset, n)
        self.offset += len(data)
        return data

    def write(self, t, data):
        if self.flags & os.O_APPEND:
            self.offset = self.size()
        if self.offset + len(data) > MAX_OFFSET:
            raise SyscallError(errno.EFBIG)
        written = self.pwrite(self.offset, data)
        self.offset += written
        return written

    def seek(self, offset, whence):
        if whence == SEEK_SET:
            base = 0
        elif whence == SEEK_CUR:
            base = self.offset
        elif whence == SEEK_END:
            base = self.size()
        elif whence == SEEK_DATA:
            if offset >= self.size():
                raise SyscallError(errno.ENXIO)
            base = 0
        elif whence == SEEK_HOLE:
            if offset >= self.size():
                raise SyscallError(errno.ENXIO)
            offset, base = self.size(), 0
        else:
            raise SyscallError(errno.EINVAL)
        new_offset = base + offset
        if new_offset < 0 or new_offset > MAX_OFFSET:
            raise SyscallError(errno.EINVAL)
        self.offset = new_offset
        return new_offset

    def bytes_available(self):
        return max(0, self.size() - self.offset)

    def sync(self):
        pass


class ContentFile(SeekableFile):
    """A read-only file whose bytes were generated when it was opened (/proc files)."""

    def __init__(self, flags, dentry, path, content):
        super().__init__(flags, dentry, path)
        self.content = content

    def pread(self, offset, n):
        return self.content[offset:offset + n]

    def is_mappable(self):
        return True

    def size(self):
        return len(self.content)

    def stat(self):
        return self.dentry.inode.stat().copy(size=len(self.content))


def host_fd_ready(host_fd, events):
    """Poll one host fd without waiting: the ready POLL* events."""
    poller = select.poll()
    poller.register(host_fd, events)
    ready = poller.poll(0)
    return ready[0][1] if ready else 0


def on_broken_pipe(t):
    """A write found no reader: the writer gets SIGPIPE and EPIPE (pipe(7))."""
    signals.send_signal(t, signals.SigInfo.user(signals.SIGPIPE, t))
    raise SyscallError(errno.EPIPE)
