"""ioctl(2): descriptor-level requests here, the rest (terminal requests) by the file."""
import errno
import os

from ..errors import SyscallError
from ..vfs.tty import FIOCLEX, FIONBIO, FIONCLEX, FIONREAD

FIOASYNC = 0x5452


def ioctl(t, fd, cmd, arg):
    """ioctl(2)."""
    file = t.fds.get(fd)
    if file.is_path_only:
        raise SyscallError(errno.EBADF)
    cmd &= 0xFFFFFFFF
    if cmd in (FIOCLEX, FIONCLEX):
        t.fds.set_cloexec(fd, cmd == FIOCLEX)
        return 0
    if cmd == FIONBIO:
        _set_status_flag(file, os.O_NONBLOCK, t.copy_in_u32(arg))
        return 0
    if cmd == FIOASYNC:
        _set_status_flag(file, os.O_ASYNC, t.copy_in_u32(arg))
        return 0
    if cmd == FIONREAD:
        t.copy_out_u32(arg, file.bytes_available())
        return 0
    return file.ioctl(t, cmd, arg)


def _set_status_flag(file, flag, enable):
    file.set_status_flags(file.flags | flag if enable else file.flags & ~flag)
