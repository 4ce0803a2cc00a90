"""pipe(2) and pipe2(2)."""
import errno
import os

from ..errors import SyscallError
from ..fdtable import install_pair
from ..vfs.pipe import new_pipe


def pipe(t, pipefd):
    """pipe(2)."""
    return pipe2(t, pipefd, 0)


def pipe2(t, pipefd, flags):
    """pipe2(2)."""
    if flags & ~(os.O_CLOEXEC | os.O_NONBLOCK | os.O_DIRECT):
        raise SyscallError(errno.EINVAL)
    read_end, write_end = new_pipe(flags)
    install_pair(t, read_end, write_end, bool(flags & os.O_CLOEXEC), pipefd)
    return 0
