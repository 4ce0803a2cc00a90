"""read(2), write(2) and their positioned and vectored forms, lseek(2)."""
import errno
import struct
from os import O_APPEND

from ..errors import SyscallError
from ..mm import PROT_READ, PROT_WRITE
from ..vfs import fsnotify
from ..vfs.file import SEEK_HOLE, SeekableFile
from ..vfs.pipe import PIPE_BUF, PipeFile

MAX_RW_COUNT = 0x7FFFF000  # Linux caps one transfer at this many bytes
MAX_WRITE_CHUNK = 1 << 24  # what the sentry copies in at once; larger writes return short
UIO_MAXIOV = 1024
_IOVEC = struct.Struct("<QQ")
RWF_SUPPORTED = 0x1F       # RWF_HIPRI | RWF_DSYNC | RWF_SYNC | RWF_NOWAIT | RWF_APPEND
# Reads of at least this many bytes from a file a host file holds go from that file straight
# into guest memory (copied once, by the platform); smaller ones cost less through the sentry.
DIRECT_READ_MIN = 256 * 1024
DIRECT_READ_MAX = 1 << 24  # bytes one such read copies at most (the rest is a short read)
DIRECT_WRITE_MIN = DIRECT_READ_MIN  # writes this large to such files go through the platform's staging


def _readable(t, fd):
    file = t.fds.get(fd)
    if not file.readable:
        raise SyscallError(errno.EBADF)
    return file


def _writable(t, fd):
    file = t.fds.get(fd)
    if not file.writable:
        raise SyscallError(errno.EBADF)
    return file


def read_iovecs(t, iov, iovcnt):
    """[(base, length)] of a struct iovec array."""
    if iovcnt < 0 or iovcnt > UIO_MAXIOV:
        raise SyscallError(errno.EINVAL)
    raw = t.copy_in(iov, iovcnt * _IOVEC.size) if iovcnt else b""
    vectors = [_IOVEC.unpack_from(raw, i * _IOVEC.size) for i in range(iovcnt)]
    total = 0
    for _, length in vectors:
        total += length
        if length > MAX_RW_COUNT * 2 or total > 0x7FFFFFFFFFFFFFFF:
            raise SyscallError(errno.EINVAL)
    return vectors


def _accessible_vectors(t, vectors, prot):
    """The leading buffers of an iovec array, cut at the first page the call can't use."""
    usable = []
    for base, length in vectors:
        accessible = t.accessible_length(base, length, prot)
        if accessible:
            usable.append((base, accessible))
        if accessible < length:
            break
    return usable


def _read_vectors(t, file, vectors, consumes=True):
    """The buffers a read fills. As Linux's copies do, the transfer stops at the first page the
    guest can't write. When not one byte fits, a file with data ready fails with EFAULT without
    losing it; otherwise the file is asked for everything, so that EOF, EAGAIN or blocking come
    first and the copy faults only once there is data. `consumes`: reading moves the offset."""
    usable = _accessible_vectors(t, vectors, PROT_WRITE)
    if usable or not total_length(vectors):
        return usable
    if consumes and _has_data_ready(file):
        raise SyscallError(errno.EFAULT)
    return vectors


def _has_data_ready(file):
    try:
        return file.bytes_available() > 0
    except SyscallError:
        return False


def _write_vectors(t, vectors):
    """The buffers a write takes: up to the first page the guest can't read, EFAULT when that
    is none of them."""
    usable = _accessible_vectors(t, vectors, PROT_READ)
    if total_length(vectors) and not usable:
        raise SyscallError(errno.EFAULT)
    return usable


def scatter_vectors(t, vectors, data):
    """Copy `data` out across the buffers of `vectors`."""
    position = 0
    for base, length in vectors:
        if position >= len(data):
            break
        piece = data[position:position + length]
        t.copy_out(base, piece)
        position += len(piece)
    return len(data)


def gather_vectors(t, vectors):
    chunks = []
    total = 0
    for base, length in vectors:
        length = min(length, MAX_WRITE_CHUNK - total)
        if length:
            chunks.append(t.copy_in(base, length))
            total += length
    return b"".join(chunks)


def total_length(vectors):
    return min(sum(length for _, length in vectors), MAX_RW_COUNT)


def _read_direct(t, file, buf, count, offset):
    """A large read of a file whose bytes a host file holds: copied from there straight to the
    guest's buffer by the platform. The count, or None when the ordinary path should read."""
    if count < DIRECT_READ_MIN:
        return None
    host_source = getattr(file, "host_source", None)
    source = host_source(offset) if host_source is not None else None
    if source is None:
        return None
    host_fd, available = source
    # pread(2) asks the file first even when the buffer can't take a byte (the copy then
    # faults): only what the guest may write goes to the platform.
    wanted = min(count, available, DIRECT_READ_MAX, t.accessible_length(buf, count, PROT_WRITE))
    if wanted < DIRECT_READ_MIN:
        return None
    copied = t.mm.copy_from_file(buf, file, host_fd, offset, wanted, available)
    if copied == 0:
        raise SyscallError(errno.EFAULT)
    return copied


def _read_direct_vectors(t, file, vectors, offset):
    """readv(2) and its kin, when one of the buffers takes a large read: buffer by buffer, the
    large ones copied by the platform, the others through the sentry. The count, or None when
    no buffer is large enough or the file has no host file behind it."""
    if (getattr(file, "host_source", None) is None
            or not any(length >= DIRECT_READ_MIN for _, length in vectors)):
        return None
    done = 0
    for base, length in vectors:
        length = min(length, MAX_RW_COUNT - done)
        try:
            got = _read_direct(t, file, base, length, offset + done)
            if got is None:
                data = file.pread(offset + done, length)
                t.copy_out(base, data)
                got = len(data)
        except SyscallError:
            if done:
                break                       # a fault after some bytes: their count
            raise
        done += got
        if got < length:
            break
    return done


def read(t, fd, buf, count):
    """read(2)."""
    file = _readable(t, fd)
    count = total_length(_read_vectors(t, file, [(buf, count)]))
    if count >= DIRECT_READ_MIN:
        copied = _read_direct(t, file, buf, count, getattr(file, "offset", 0))
        if copied is not None:
            file.offset += copied
            return _accessed(file, copied)
    data = file.read(t, count)
    t.copy_out(buf, data)
    return _accessed(file, len(data))


def _write_staged(t, file, vectors, offset=None):
    """A large write to a file a host file holds: the guest's bytes reach the file through the
    platform's staging buffer, piece by piece, instead of being copied in whole first (`offset`:
    pwrite's, else the file's). The count, or None when the ordinary path should write."""
    if (len(vectors) != 1 or vectors[0][1] < DIRECT_WRITE_MIN
            or getattr(file, "host_source", None) is None):
        return None
    base, length = vectors[0]
    length = min(length, MAX_WRITE_CHUNK)
    done = 0
    while done < length:
        data = t.mm.view_for_host(base + done, length - done)
        try:
            if data is None and not done:
                return None
            if not data:
                raise SyscallError(errno.EFAULT)
            written = file.write(t, data) if offset is None else _positioned_write(file, offset + done, data)
        except SyscallError:
            if done:
                break                       # an error after some bytes went in: their count
            raise
        done += written
        if written < len(data):
            break
    return done


def write(t, fd, buf, count):
    """write(2)."""
    file = _writable(t, fd)
    vectors = _write_vectors(t, [(buf, count)])
    written = _write_staged(t, file, vectors)
    if written is None:
        written = _write(t, file, gather_vectors(t, vectors))
    return _wrote(file, written)


def _write(t, file, data):
    """A blocking write to a pipe returns only when all of it is in the pipe (pipe(7)); one a
    signal interrupts after some bytes went in returns that count. The bytes written so far
    are kept across the handler's re-runs while it waits."""
    if not isinstance(file, PipeFile) or file.nonblocking or len(data) <= PIPE_BUF:
        return file.write(t, data)
    state = t.syscall_state
    done = state.get("pipe_written", 0)
    try:
        while done < len(data):
            done += file.write(t, data[done:])
            state["pipe_written"] = state["interrupted_result"] = done
    except SyscallError:
        if done:
            return done            # EPIPE after a partial write: the count (SIGPIPE was sent)
        raise
    return done


def pread64(t, fd, buf, count, offset):
    """pread(2)."""
    if offset < 0:
        raise SyscallError(errno.EINVAL)
    file = _readable(t, fd)
    count = total_length(_read_vectors(t, file, [(buf, count)], consumes=False))
    copied = _read_direct(t, file, buf, count, offset)
    if copied is not None:
        return _accessed(file, copied)
    data = file.pread(offset, count)
    t.copy_out(buf, data)
    return _accessed(file, len(data))


def pwrite64(t, fd, buf, count, offset):
    """pwrite(2)."""
    if offset < 0:
        raise SyscallError(errno.EINVAL)
    file = _writable(t, fd)
    vectors = _write_vectors(t, [(buf, count)])
    written = _write_staged(t, file, vectors, offset)
    if written is None:
        written = _positioned_write(file, offset, gather_vectors(t, vectors))
    return _wrote(file, written)


def _positioned_write(file, offset, data):
    """pwrite on an O_APPEND file appends whatever the offset, as Linux does (pwrite(2), BUGS)."""
    if file.flags & O_APPEND and isinstance(file, SeekableFile):
        offset = file.size()
    return file.pwrite(offset, data)


def readv(t, fd, iov, iovcnt):
    """readv(2)."""
    file = _readable(t, fd)
    vectors = _read_vectors(t, file, read_iovecs(t, iov, iovcnt))
    copied = _read_direct_vectors(t, file, vectors, getattr(file, "offset", 0))
    if copied is not None:
        file.offset += copied
        return _accessed(file, copied)
    return _accessed(file, scatter_vectors(t, vectors, file.read(t, total_length(vectors))))


def writev(t, fd, iov, iovcnt):
    """writev(2): the buffers are written as one write, so pipe writes stay atomic."""
    file = _writable(t, fd)
    return _wrote(file, _write(t, file, gather_vectors(t, _write_vectors(t, read_iovecs(t, iov, iovcnt)))))


def preadv(t, fd, iov, iovcnt, pos_l, pos_h):
    """preadv(2): unlike preadv2, offset -1 is no offset."""
    if _signed64(pos_l) < 0:
        raise SyscallError(errno.EINVAL)
    return preadv2(t, fd, iov, iovcnt, pos_l, pos_h, 0)


def pwritev(t, fd, iov, iovcnt, pos_l, pos_h):
    """pwritev(2): unlike pwritev2, offset -1 is no offset."""
    if _signed64(pos_l) < 0:
        raise SyscallError(errno.EINVAL)
    return pwritev2(t, fd, iov, iovcnt, pos_l, pos_h, 0)


def preadv2(t, fd, iov, iovcnt, pos_l, pos_h, flags):
    """preadv2(2): offset -1 reads at the file offset."""
    offset = _signed64(pos_l)
    if offset < -1 or flags & ~RWF_SUPPORTED:
        raise SyscallError(errno.EOPNOTSUPP if flags & ~RWF_SUPPORTED else errno.EINVAL)
    file = _readable(t, fd)
    vectors = _read_vectors(t, file, read_iovecs(t, iov, iovcnt), consumes=offset == -1)
    copied = _read_direct_vectors(t, file, vectors, getattr(file, "offset", 0) if offset == -1 else offset)
    if copied is not None:
        if offset == -1:
            file.offset += copied
        return _accessed(file, copied)
    count = total_length(vectors)
    data = file.read(t, count) if offset == -1 else file.pread(offset, count)
    return _accessed(file, scatter_vectors(t, vectors, data))


def pwritev2(t, fd, iov, iovcnt, pos_l, pos_h, flags):
    """pwritev2(2): offset -1 writes at the file offset."""
    offset = _signed64(pos_l)
    if offset < -1 or flags & ~RWF_SUPPORTED:
        raise SyscallError(errno.EOPNOTSUPP if flags & ~RWF_SUPPORTED else errno.EINVAL)
    file = _writable(t, fd)
    data = gather_vectors(t, _write_vectors(t, read_iovecs(t, iov, iovcnt)))
    return _wrote(file, file.write(t, data) if offset == -1 else _positioned_write(file, offset, data))


def lseek(t, fd, offset, whence):
    """lseek(2)."""
    file = t.fds.get(fd)
    if file.is_path_only:
        raise SyscallError(errno.EBADF)
    if whence < 0 or whence > SEEK_HOLE:
        raise SyscallError(errno.EINVAL)
    return file.seek(offset, whence)


def _accessed(file, count):
    """IN_ACCESS for a read that returned data."""
    if count and fsnotify.WATCHES:
        fsnotify.accessed(file.dentry)
    return count


def _wrote(file, count):
    """A write of `count` bytes happened: inotify's IN_MODIFY (nothing while no watch exists)."""
    if count and fsnotify.WATCHES:
        fsnotify.modified(file.dentry)
    return count


def _signed64(value):
    return value - (1 << 64) if value >= 1 << 63 else value
