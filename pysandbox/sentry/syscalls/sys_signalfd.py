"""signalfd(2) and signalfd4(2)."""
import errno

from ..errors import SyscallError
from ..vfs.signalfd import SFD_CLOEXEC, SFD_NONBLOCK, SIGSET_SIZE, SignalFile

NEW_SIGNALFD = -1


def signalfd(t, fd, mask, sizemask):
    """signalfd(2), the original form without flags."""
    return signalfd4(t, fd, mask, sizemask, 0)


def signalfd4(t, fd, mask, sizemask, flags):
    """signalfd4(2): a new signalfd for fd -1, else a new mask for the signalfd `fd`."""
    if sizemask != SIGSET_SIZE:
        raise SyscallError(errno.EINVAL)
    wanted = t.copy_in_u64(mask)
    if flags & ~(SFD_CLOEXEC | SFD_NONBLOCK):
        raise SyscallError(errno.EINVAL)
    if fd == NEW_SIGNALFD:
        return t.fds.install(SignalFile(t, wanted, flags), cloexec=bool(flags & SFD_CLOEXEC))
    t.fds.get_of_kind(fd, SignalFile).set_mask(wanted)
    return fd
