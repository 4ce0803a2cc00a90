"""eventfd(2) and eventfd2(2)."""
import errno

from ..errors import SyscallError
from ..vfs.eventfd import EFD_CLOEXEC, EFD_NONBLOCK, EFD_SEMAPHORE, EventFile


def eventfd(t, initval):
    """eventfd(2), the original form without flags."""
    return eventfd2(t, initval, 0)


def eventfd2(t, initval, flags):
    """eventfd2(2)."""
    if flags & ~(EFD_SEMAPHORE | EFD_CLOEXEC | EFD_NONBLOCK):
        raise SyscallError(errno.EINVAL)
    return t.fds.install(EventFile(initval, flags), cloexec=bool(flags & EFD_CLOEXEC))
