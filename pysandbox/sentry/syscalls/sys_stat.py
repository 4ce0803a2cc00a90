"""stat(2), fstat(2), lstat(2), newfstatat(2) and statx(2)."""
import errno

from ..errors import SyscallError
from ..vfs.resolve import AT_FDCWD
from ..vfs.stat import STATX__RESERVED
from ..vfs.vfs import AT_EMPTY_PATH, AT_NO_AUTOMOUNT, AT_SYMLINK_NOFOLLOW

AT_STATX_SYNC_TYPE = 0x6000
_FSTATAT_FLAGS = AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH | AT_NO_AUTOMOUNT


def stat(t, pathname, statbuf):
    """stat(2)."""
    return newfstatat(t, AT_FDCWD, pathname, statbuf, 0)


def lstat(t, pathname, statbuf):
    """lstat(2)."""
    return newfstatat(t, AT_FDCWD, pathname, statbuf, AT_SYMLINK_NOFOLLOW)


def fstat(t, fd, statbuf):
    """fstat(2)."""
    t.copy_out(statbuf, t.fds.get(fd).stat().pack_stat())
    return 0


def newfstatat(t, dirfd, pathname, statbuf, flags):
    """fstatat(2)."""
    if flags & ~_FSTATAT_FLAGS:
        raise SyscallError(errno.EINVAL)
    attrs = t.kernel.vfs.stat(t, dirfd, t.copy_in_str(pathname), flags)
    t.copy_out(statbuf, attrs.pack_stat())
    return 0


def statx(t, dirfd, pathname, flags, mask, statxbuf):
    """statx(2): fills STATX_BASIC_STATS whatever `mask` asks for."""
    if flags & ~(_FSTATAT_FLAGS | AT_STATX_SYNC_TYPE) or flags & AT_STATX_SYNC_TYPE == AT_STATX_SYNC_TYPE \
            or mask & STATX__RESERVED:
        raise SyscallError(errno.EINVAL)
    attrs = t.kernel.vfs.stat(t, dirfd, t.copy_in_str(pathname), flags & _FSTATAT_FLAGS)
    t.copy_out(statxbuf, attrs.pack_statx())
    return 0
