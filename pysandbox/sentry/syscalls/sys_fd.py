"""Descriptor syscalls: dup(2), dup2(2), dup3(2), fcntl(2) (record locks in sys_lock)."""
import errno
import os

from ..credentials import CAP_SYS_RESOURCE, capable
from ..errors import SyscallError
from ..fdtable import FD_CLOEXEC
from ..vfs.pipe import PipeFile
from .sys_lock import RECORD_LOCK_COMMANDS, record_lock
from .sys_memfd import F_ADD_SEALS, F_GET_SEALS, seals_command

F_DUPFD, F_GETFD, F_SETFD, F_GETFL, F_SETFL = 0, 1, 2, 3, 4
F_SETOWN, F_GETOWN, F_SETSIG, F_GETSIG = 8, 9, 10, 11
F_SETOWN_EX, F_GETOWN_EX = 15, 16
F_SETLEASE, F_GETLEASE, F_NOTIFY = 1024, 1025, 1026
F_DUPFD_CLOEXEC = 1030
F_SETPIPE_SZ, F_GETPIPE_SZ = 1031, 1032
F_RDLCK, F_WRLCK, F_UNLCK = 0, 1, 2

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
    """fcntl(2)."""
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
    if cmd in RECORD_LOCK_COMMANDS:
        return record_lock(t, file, cmd, arg)
    if cmd in (F_ADD_SEALS, F_GET_SEALS):
        return seals_command(t, file, cmd, arg & 0xFFFFFFFF)
    if cmd in (F_GETPIPE_SZ, F_SETPIPE_SZ):
        file = t.fds.get_of_kind(fd, PipeFile, errno.EBADF)
        if cmd == F_SETPIPE_SZ:
            return file.pipe.resize(arg & 0xFFFFFFFF, privileged=capable(t, CAP_SYS_RESOURCE))
        return file.pipe.capacity
    if cmd in (F_GETOWN, F_SETOWN, F_GETSIG, F_SETSIG, F_NOTIFY):
        return 0
    if cmd == F_GETLEASE:
        return F_UNLCK
    if cmd == F_SETLEASE:
        if arg not in (F_RDLCK, F_WRLCK, F_UNLCK):
            raise SyscallError(errno.EINVAL)
        return 0
    raise SyscallError(errno.EINVAL)


def _as_int(value):
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value & 0x80000000 else value
