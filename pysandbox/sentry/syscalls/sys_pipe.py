"""pipe(2) and pipe2(2)."""
import errno
import os
import struct

from ..errors import SyscallError
from ..vfs.pipe import new_pipe


def pipe(t, pipefd):
    """pipe(2)."""
    return pipe2(t, pipefd, 0)


def pipe2(t, pipefd, flags):
    """pipe2(2)."""
    if flags & ~(os.O_CLOEXEC | os.O_NONBLOCK | os.O_DIRECT):
        raise SyscallError(errno.EINVAL)
    read_end, write_end = new_pipe(flags)
    cloexec = bool(flags & os.O_CLOEXEC)
    try:
        read_fd = t.fds.install(read_end, cloexec)
    except SyscallError:
        write_end.decref()
        raise
    try:
        write_fd = t.fds.install(write_end, cloexec)
    except SyscallError:
        t.fds.close(read_fd)
        raise
    try:
        t.copy_out(pipefd, struct.pack("<ii", read_fd, write_fd))
    except SyscallError:
        t.fds.close(read_fd)
        t.fds.close(write_fd)
        raise
    return 0
