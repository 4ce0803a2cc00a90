"""Open files backed by host fds: files of the rootfs, and the stdio the sandbox inherited."""
import errno
import fcntl
import os
import stat as st
import struct

from ..errors import SyscallError, WouldBlock, host_errors
from ..mm import forget_file
from .file import (POLLERR, POLLHUP, POLLIN, POLLOUT, POLLRDNORM, POLLWRNORM, File, SeekableFile,
                   host_fd_ready, on_broken_pipe)
from .inode import Dentry, Inode
from .stat import StatResult
from .tty import FIONREAD

# Reads are capped so that a huge count does not make the sentry allocate it (short reads are legal).
MAX_READ = 1 << 22
PIPE_BUF = 4096


FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE, FALLOC_FL_COLLAPSE_RANGE = 0x1, 0x2, 0x8
FALLOC_FL_ZERO_RANGE, FALLOC_FL_INSERT_RANGE = 0x10, 0x20
_ZEROS = bytes(1 << 20)


def write_zeros(host_fd, start, end):
    """Zero bytes [start, end) of a host file, a megabyte at a time."""
    while start < end:
        start += os.pwrite(host_fd, _ZEROS[:min(len(_ZEROS), end - start)], start)


class HostFile(SeekableFile):
    """A regular file of the rootfs, read and written at this description's own offset."""

    def __init__(self, flags, dentry, host_fd):
        super().__init__(flags, dentry)
        self.host_fd = host_fd

    def release(self):
        forget_file(self)
        os.close(self.host_fd)

    def is_mappable(self):
        return True

    def pread(self, offset, n):
        with host_errors():
            return os.pread(self.host_fd, min(n, MAX_READ), offset)

    def pwrite(self, offset, data):
        with host_errors():
            return os.pwrite(self.host_fd, data, offset)

    def host_source(self, offset):
        """(host fd, bytes from `offset` to the end): where a large read can be copied from
        straight into guest memory."""
        with host_errors():
            return self.host_fd, os.fstat(self.host_fd).st_size - offset

    def size(self):
        with host_errors():
            return os.fstat(self.host_fd).st_size

    def stat(self):
        with host_errors():
            return StatResult.from_host(os.fstat(self.host_fd))

    def truncate(self, size):
        with host_errors():
            os.ftruncate(self.host_fd, size)

    def fallocate(self, mode, offset, length):
        """fallocate(2) is not on the sentry's host allowlist (docs/FILES.md), so the modes are
        made of ftruncate, reads and writes, with ext4's checks: allocation sets the size,
        PUNCH_HOLE and ZERO_RANGE write zeros, COLLAPSE_RANGE and INSERT_RANGE move the tail by
        whole blocks. The contents and size are Linux's; blocks are neither reserved nor freed."""
        end = offset + length
        with host_errors():
            attrs = os.fstat(self.host_fd)
            size, block = attrs.st_size, attrs.st_blksize
            if mode & (FALLOC_FL_COLLAPSE_RANGE | FALLOC_FL_INSERT_RANGE):
                if offset % block or length % block:
                    raise SyscallError(errno.EINVAL)
                if mode & FALLOC_FL_COLLAPSE_RANGE:
                    if end >= size:
                        raise SyscallError(errno.EINVAL)
                    self._move(end, size, -length)
                    os.ftruncate(self.host_fd, size - length)
                else:
                    if offset >= size:
                        raise SyscallError(errno.EINVAL)
                    os.ftruncate(self.host_fd, size + length)
                    self._move(offset, size, length)
                    write_zeros(self.host_fd, offset, end)
                return
            if mode & ~(FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE):
                raise SyscallError(errno.EOPNOTSUPP)
            if mode & (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE):
                write_zeros(self.host_fd, offset, min(end, size))
            if not mode & FALLOC_FL_KEEP_SIZE and end > size:
                os.ftruncate(self.host_fd, end)

    def _move(self, start, end, shift):
        """Copy bytes [start, end) by `shift`, a megabyte at a time, in the order that never
        overwrites what is still to be copied."""
        chunk = len(_ZEROS)
        positions = range(start, end, chunk) if shift < 0 else reversed(range(start, end, chunk))
        for position in positions:
            data = os.pread(self.host_fd, min(chunk, end - position), position)
            os.pwrite(self.host_fd, data, position + shift)

    def sync(self):
        with host_errors():
            os.fsync(self.host_fd)


class HostStreamFile(File):
    """A host fd the sandbox inherited (stdio): a tty, a pipe, a socket or a file.

    The host fd stays blocking (it may be shared with processes outside the
    sandbox), so readiness is checked with a zero-timeout poll first and the
    task waits on the kernel's host-fd queue instead of the sentry blocking.
    """

    def __init__(self, host_fd, flags, dentry=None, path=b"", terminal=None):
        with host_errors():
            mode = os.fstat(host_fd).st_mode
        if dentry is None:
            dentry = Dentry(HostStreamInode(host_fd, mode), None, path)
        super().__init__(flags, dentry, path)
        self.host_fd = host_fd
        self.terminal = terminal
        self.is_regular = st.S_ISREG(mode)

    @classmethod
    def from_host_fd(cls, host_fd, dentry=None, terminal=None, flags=None):
        """Wrap a duplicate of `host_fd`, with `flags` or else the ones the host has for it."""
        with host_errors():
            host_flags = fcntl.fcntl(host_fd, fcntl.F_GETFL)
            own_fd = fcntl.fcntl(host_fd, fcntl.F_DUPFD_CLOEXEC, 3)
            mode = os.fstat(own_fd).st_mode
        if flags is None:
            flags = host_flags & ~os.O_NONBLOCK
        return cls(own_fd, flags, dentry, b"" if dentry is not None else _describe(own_fd, mode), terminal)

    def release(self):
        os.close(self.host_fd)

    def read(self, t, n):
        if not self.is_regular:
            self._wait_until_ready(t, POLLIN)
        with host_errors():
            return os.read(self.host_fd, min(n, MAX_READ))

    def write(self, t, data):
        if self.is_regular:
            return self._host_write(t, data)
        self._wait_until_ready(t, POLLOUT)
        # A blocking host write larger than the free space would block the sentry:
        # write PIPE_BUF-sized pieces while the host says there is room.
        written = 0
        while written < len(data):
            if written and not host_fd_ready(self.host_fd, POLLOUT) & POLLOUT:
                break
            written += self._host_write(t, data[written:written + PIPE_BUF])
        return written

    def _host_write(self, t, data):
        try:
            return os.write(self.host_fd, data)
        except BrokenPipeError:
            on_broken_pipe(t)
        except OSError as error:
            raise SyscallError(error.errno) from error

    def _wait_until_ready(self, t, event):
        if host_fd_ready(self.host_fd, event) & (event | POLLHUP | POLLERR):
            return
        if self.nonblocking:
            raise SyscallError(errno.EAGAIN)
        raise WouldBlock(t.kernel.host_fd_queue(self.host_fd, event))

    def pread(self, offset, n):
        if not self.is_regular:
            raise SyscallError(errno.ESPIPE)
        with host_errors():
            return os.pread(self.host_fd, min(n, MAX_READ), offset)

    def pwrite(self, offset, data):
        if not self.is_regular:
            raise SyscallError(errno.ESPIPE)
        with host_errors():
            return os.pwrite(self.host_fd, data, offset)

    def seek(self, offset, whence):
        if not self.is_regular:
            raise SyscallError(errno.ESPIPE)
        with host_errors():
            return os.lseek(self.host_fd, offset, whence)

    def stat(self):
        with host_errors():
            return StatResult.from_host(os.fstat(self.host_fd))

    def size(self):
        return self.stat().size

    def truncate(self, size):
        if not self.is_regular:
            raise SyscallError(errno.EINVAL)
        with host_errors():
            os.ftruncate(self.host_fd, size)

    def sync(self):
        if not self.is_regular:
            raise SyscallError(errno.EINVAL)
        with host_errors():
            os.fsync(self.host_fd)

    def ioctl(self, t, cmd, arg):
        if self.terminal is None:
            raise SyscallError(errno.ENOTTY)
        return self.terminal.ioctl(t, cmd, arg)

    def bytes_available(self):
        if self.is_regular:
            with host_errors():
                return max(0, os.fstat(self.host_fd).st_size - os.lseek(self.host_fd, 0, os.SEEK_CUR))
        with host_errors():
            return struct.unpack("i", fcntl.ioctl(self.host_fd, FIONREAD, bytes(4)))[0]

    def poll_events(self):
        if self.is_regular:
            return super().poll_events()
        ready = host_fd_ready(self.host_fd, POLLIN | POLLOUT)
        if ready & POLLIN:
            ready |= POLLRDNORM
        if ready & POLLOUT:
            ready |= POLLWRNORM
        return ready

    def readiness_queue(self, t, events):
        if self.is_regular:
            return self.wait_queue
        return t.kernel.host_fd_queue(self.host_fd, events)


class HostStreamInode(Inode):
    """What /proc/<pid>/fd/N leads to for an inherited host fd: reopening it duplicates the fd."""

    def __init__(self, host_fd, mode):
        self.host_fd = host_fd
        self.mode = mode

    def stat(self):
        with host_errors():
            return StatResult.from_host(os.fstat(self.host_fd))

    def open(self, t, dentry, flags):
        return HostStreamFile.from_host_fd(self.host_fd, dentry, flags=flags)


def _describe(host_fd, mode):
    """What /proc/<pid>/fd shows for an inherited host fd."""
    if os.isatty(host_fd):
        return b"/dev/console"
    if st.S_ISFIFO(mode):
        return b"pipe:[%d]" % os.fstat(host_fd).st_ino
    if st.S_ISSOCK(mode):
        return b"socket:[%d]" % os.fstat(host_fd).st_ino
    if st.S_ISCHR(mode) and os.fstat(host_fd).st_rdev == os.makedev(1, 3):
        return b"/dev/null"
    return b"/dev/stdin"
