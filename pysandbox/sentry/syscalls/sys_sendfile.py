"""sendfile(2)."""
import errno
import os

from ..errors import SyscallError, WouldBlock
from ..vfs import fsnotify
from ..vfs.file import POLLOUT, SEEK_CUR, SEEK_SET
from ..vfs.pipe import PIPE_BUF

MAX_CHUNK = 1 << 22  # one call moves at most this much; callers loop on short counts


def sendfile(t, out_fd, in_fd, offset, count):
    """sendfile(2): copy from in_fd (at *offset if given) to out_fd."""
    in_file = t.fds.get(in_fd)
    out_file = t.fds.get(out_fd)
    if not in_file.readable or not out_file.writable:
        raise SyscallError(errno.EBADF)
    if out_file.flags & os.O_APPEND:
        raise SyscallError(errno.EINVAL)
    written = _send(t, in_file, out_file, offset, min(count, MAX_CHUNK))
    if written:
        fsnotify.accessed(in_file.dentry)
        fsnotify.modified(out_file.dentry)
    return written


def _send(t, in_file, out_file, offset, count):
    """The transfer itself: from *offset (which it advances), else from in_file's position."""
    if offset:
        position = t.copy_in_u64(offset)
        if position >= 1 << 63:
            raise SyscallError(errno.EINVAL)
        written = out_file.write(t, in_file.pread(position, count)) if count else 0
        t.copy_out_u64(offset, position + written)
        return written
    if count == 0:
        return 0
    try:
        position = in_file.seek(0, SEEK_CUR)
    except SyscallError as error:
        if error.errno != errno.ESPIPE:
            raise
        return _send_unseekable(t, in_file, out_file, count)
    written = out_file.write(t, in_file.pread(position, count))
    in_file.seek(position + written, SEEK_SET)
    return written


def _send_unseekable(t, in_file, out_file, count):
    """From a pipe: read only what the output takes whole once it is ready, so nothing read is lost."""
    if not out_file.poll_events() & POLLOUT:
        if out_file.nonblocking:
            raise SyscallError(errno.EAGAIN)
        raise WouldBlock(out_file.readiness_queue(t, POLLOUT))
    return out_file.write(t, in_file.read(t, min(count, PIPE_BUF)))
