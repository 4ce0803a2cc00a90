"""Moving data between files inside the sentry: splice(2), tee(2), vmsplice(2), copy_file_range(2)."""
import errno
import os

from ..errors import SyscallError, WouldBlock
from ..vfs import fsnotify
from ..vfs.file import MAX_OFFSET, SEEK_CUR, SEEK_SET, on_broken_pipe
from ..vfs.pipe import PipeFile
from . import sys_read_write

SPLICE_F_MOVE, SPLICE_F_NONBLOCK, SPLICE_F_MORE, SPLICE_F_GIFT = 1, 2, 4, 8
_SPLICE_FLAGS = SPLICE_F_MOVE | SPLICE_F_NONBLOCK | SPLICE_F_MORE | SPLICE_F_GIFT
MAX_COPY_CHUNK = 1 << 22  # one copy_file_range moves at most this much; callers loop on short counts


def splice(t, fd_in, off_in, fd_out, off_out, length, flags):
    """splice(2): one end must be a pipe; the bytes never pass through the guest."""
    if flags & ~_SPLICE_FLAGS:
        raise SyscallError(errno.EINVAL)
    source, sink = t.fds.get(fd_in), t.fds.get(fd_out)
    if not source.readable or not sink.writable:
        raise SyscallError(errno.EBADF)
    source_is_pipe, sink_is_pipe = isinstance(source, PipeFile), isinstance(sink, PipeFile)
    if not source_is_pipe and not sink_is_pipe:
        raise SyscallError(errno.EINVAL)
    if source_is_pipe and off_in or sink_is_pipe and off_out:
        raise SyscallError(errno.ESPIPE)
    if source_is_pipe and sink_is_pipe and source.pipe is sink.pipe:
        raise SyscallError(errno.EINVAL)
    if sink.flags & os.O_APPEND:
        raise SyscallError(errno.EINVAL)
    in_offset = _copy_in_offset(t, off_in)
    out_offset = _copy_in_offset(t, off_out)
    if length == 0:
        return 0
    nonblocking = bool(flags & SPLICE_F_NONBLOCK)
    if source_is_pipe:
        if not source.wait_for_data(nonblocking):
            return 0
        data = source.pipe.peek(length)
        if sink_is_pipe:
            _wait_for_room(t, sink, nonblocking)
            data = data[:sink.pipe.free_space]
            written = sink.write(t, data)
        else:
            written = _write_at(t, sink, out_offset, data)
            if out_offset is not None:
                t.copy_out_u64(off_out, out_offset + written)
        source.pipe.discard(written)
        if written and not sink_is_pipe:
            fsnotify.modified(sink.dentry)
        return written
    _wait_for_room(t, sink, nonblocking)
    want = min(length, sink.pipe.free_space)
    if in_offset is None:
        data = source.read(t, want)
    else:
        data = source.pread(in_offset, want)
        t.copy_out_u64(off_in, in_offset + len(data))
    if data:
        sink.pipe.put(data)
        fsnotify.accessed(source.dentry)
    return len(data)


def tee(t, fd_in, fd_out, length, flags):
    """tee(2): copy bytes from one pipe to another without consuming them."""
    if flags & ~_SPLICE_FLAGS:
        raise SyscallError(errno.EINVAL)
    source, sink = t.fds.get(fd_in), t.fds.get(fd_out)
    if not source.readable or not sink.writable:
        raise SyscallError(errno.EBADF)
    if not isinstance(source, PipeFile) or not isinstance(sink, PipeFile) or source.pipe is sink.pipe:
        raise SyscallError(errno.EINVAL)
    if length == 0:
        return 0
    nonblocking = bool(flags & SPLICE_F_NONBLOCK)
    if not source.wait_for_data(nonblocking):
        return 0
    _wait_for_room(t, sink, nonblocking)
    data = source.pipe.peek(min(length, sink.pipe.free_space))
    sink.pipe.put(data)
    return len(data)


def vmsplice(t, fd, iov, nr_segs, flags):
    """vmsplice(2): guest memory into a pipe's write end, or a pipe's read end into guest memory.
    The pages are copied, which SPLICE_F_GIFT allows."""
    if flags & ~_SPLICE_FLAGS:
        raise SyscallError(errno.EINVAL)
    file = t.fds.get_of_kind(fd, PipeFile, errno.EBADF)
    if file.writable:
        return sys_read_write.writev(t, fd, iov, nr_segs)
    return sys_read_write.readv(t, fd, iov, nr_segs)


def copy_file_range(t, fd_in, off_in, fd_out, off_out, length, flags):
    """copy_file_range(2) between regular files, whatever filesystems they are on."""
    if flags:
        raise SyscallError(errno.EINVAL)
    source, sink = t.fds.get(fd_in), t.fds.get(fd_out)
    if not source.readable or not sink.writable or sink.flags & os.O_APPEND:
        raise SyscallError(errno.EBADF)
    for file in (source, sink):
        inode = file.dentry.inode if file.dentry is not None else None
        if inode is not None and inode.is_dir:
            raise SyscallError(errno.EISDIR)
        if inode is None or not inode.is_regular:
            raise SyscallError(errno.EINVAL)
    in_offset = _copy_in_offset(t, off_in)
    out_offset = _copy_in_offset(t, off_out)
    read_at = source.seek(0, SEEK_CUR) if in_offset is None else in_offset
    write_at = sink.seek(0, SEEK_CUR) if out_offset is None else out_offset
    count = min(length, MAX_COPY_CHUNK)
    if read_at + count > MAX_OFFSET or write_at + count > MAX_OFFSET:
        raise SyscallError(errno.EOVERFLOW)
    source_attrs, sink_attrs = source.stat(), sink.stat()
    same_file = (source_attrs.dev, source_attrs.ino) == (sink_attrs.dev, sink_attrs.ino)
    if same_file and read_at < write_at + count and write_at < read_at + count:
        raise SyscallError(errno.EINVAL)
    data = source.pread(read_at, count) if count else b""
    written = sink.pwrite(write_at, data) if data else 0
    if in_offset is None:
        source.seek(read_at + written, SEEK_SET)
    else:
        t.copy_out_u64(off_in, read_at + written)
    if out_offset is None:
        sink.seek(write_at + written, SEEK_SET)
    else:
        t.copy_out_u64(off_out, write_at + written)
    if written:
        fsnotify.accessed(source.dentry)
        fsnotify.modified(sink.dentry)
    return written


# --- helpers ---

def _copy_in_offset(t, pointer):
    """The loff_t a splice-style call was handed, None for a NULL pointer (use the file position)."""
    if not pointer:
        return None
    offset = t.copy_in_u64(pointer)
    if offset > MAX_OFFSET:
        raise SyscallError(errno.EINVAL)
    return offset


def _wait_for_room(t, pipe_end, nonblocking):
    pipe = pipe_end.pipe
    if pipe.readers == 0:
        on_broken_pipe(t)
    if pipe.free_space == 0:
        if nonblocking or pipe_end.nonblocking:
            raise SyscallError(errno.EAGAIN)
        raise WouldBlock(pipe.queue)


def _write_at(t, file, offset, data):
    if offset is None:
        return file.write(t, data)
    return file.pwrite(offset, data)
