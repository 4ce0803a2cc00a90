"""Descriptor syscalls: dup(2), dup2(2), dup3(2), fcntl(2), flock(2)."""
import errno
import os
import struct

from ..errors import SyscallError
from ..fdtable import FD_CLOEXEC
from ..vfs.pipe import PIPE_CAPACITY, PipeFile

F_DUPFD, F_GETFD, F_SETFD, F_GETFL, F_SETFL = 0, 1, 2, 3, 4
F_GETLK, F_SETLK, F_SETLKW = 5, 6, 7
F_SETOWN, F_GETOWN, F_SETSIG, F_GETSIG = 8, 9, 10, 11
F_SETOWN_EX, F_GETOWN_EX = 15, 16
F_OFD_GETLK, F_OFD_SETLK, F_OFD_SETLKW = 36, 37, 38
F_SETLEASE, F_GETLEASE, F_NOTIFY = 1024, 1025, 1026
F_DUPFD_CLOEXEC = 1030
F_SETPIPE_SZ, F_GETPIPE_SZ = 1031, 1032
F_RDLCK, F_WRLCK, F_UNLCK = 0, 1, 2
LOCK_SH, LOCK_EX, LOCK_NB, LOCK_UN = 1, 2, 4, 8

# struct flock: l_type, l_whence (shorts), l_start, l_len (off_t), l_pid.
_FLOCK = struct.Struct("<hhxxxxqqi4x")
# The only commands an O_PATH descriptor accepts.
_PATH_FD_COMMANDS = {F_DUPFD, F_DUPFD_CLOEXEC, F_GETFD, F_SETFD, F_GETFL}


def dup(t, oldfd):
    """dup(2)."""
    return t.fds.install(t.fds.get(oldfd).incref())


def dup2(t, oldfd, newfd):
    """dup2(2)."""
    file = t.fds.get(oldfd)
    if oldfd == newfd:
        return newfd
    return t.fds.install_at(newfd, file.incref())


def dup3(t, oldfd, newfd, flags):
    """dup3(2)."""
    if flags & ~os.O_CLOEXEC or oldfd == newfd:
        raise SyscallError(errno.EINVAL)
    file = t.fds.get(oldfd)
    return t.fds.install_at(newfd, file.incref(), cloexec=bool(flags & os.O_CLOEXEC))


def fcntl(t, fd, cmd, arg):
    """fcntl(2). Record locks always succeed: the sandbox's processes are its only users."""
    file = t.fds.get(fd)
    if file.is_path_only and cmd not in _PATH_FD_COMMANDS:
        raise SyscallError(errno.EBADF)
    if cmd in (F_DUPFD, F_DUPFD_CLOEXEC):
        return t.fds.install(file.incref(), cloexec=cmd == F_DUPFD_CLOEXEC, min_fd=_as_int(arg))
    if cmd == F_GETFD:
        return FD_CLOEXEC if t.fds.get_cloexec(fd) else 0
    if cmd == F_SETFD:
        t.fds.set_cloexec(fd, arg & FD_CLOEXEC)
        return 0
    if cmd == F_GETFL:
        return file.flags
    if cmd == F_SETFL:
        file.set_status_flags(arg)
        return 0
    if cmd in (F_GETLK, F_OFD_GETLK):
        return _get_lock(t, arg)
    if cmd in (F_SETLK, F_SETLKW, F_OFD_SETLK, F_OFD_SETLKW):
        return _set_lock(t, file, arg)
    if cmd in (F_GETPIPE_SZ, F_SETPIPE_SZ):
        if not isinstance(file, PipeFile):
            raise SyscallError(errno.EBADF)
        return PIPE_CAPACITY
    if cmd in (F_GETOWN, F_SETOWN, F_GETSIG, F_SETSIG, F_NOTIFY):
        return 0
    if cmd == F_GETLEASE:
        return F_UNLCK
    if cmd == F_SETLEASE:
        if arg not in (F_RDLCK, F_WRLCK, F_UNLCK):
            raise SyscallError(errno.EINVAL)
        return 0
    raise SyscallError(errno.EINVAL)


def _get_lock(t, arg):
    """F_GETLK: every lock could be placed, so the answer is F_UNLCK."""
    lock_type, whence, start, length, _ = _FLOCK.unpack(t.copy_in(arg, _FLOCK.size))
    if lock_type not in (F_RDLCK, F_WRLCK):
        raise SyscallError(errno.EINVAL)
    t.copy_out(arg, _FLOCK.pack(F_UNLCK, whence, start, length, 0))
    return 0


def _set_lock(t, file, arg):
    lock_type = _FLOCK.unpack(t.copy_in(arg, _FLOCK.size))[0]
    if lock_type not in (F_RDLCK, F_WRLCK, F_UNLCK):
        raise SyscallError(errno.EINVAL)
    if lock_type == F_RDLCK and not file.readable or lock_type == F_WRLCK and not file.writable:
        raise SyscallError(errno.EBADF)
    return 0


def flock(t, fd, operation):
    """flock(2): locks always succeed (see fcntl)."""
    t.fds.get(fd)
    if operation & ~LOCK_NB not in (LOCK_SH, LOCK_EX, LOCK_UN):
        raise SyscallError(errno.EINVAL)
    return 0


def _as_int(value):
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value & 0x80000000 else value
