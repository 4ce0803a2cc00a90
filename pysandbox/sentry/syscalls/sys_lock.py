"""Advisory locks: flock(2) and fcntl(2)'s record-lock commands (F_GETLK, F_SETLK(W), F_OFD_*)."""
import errno
import struct

from ..errors import SyscallError
from ..vfs.file import SEEK_CUR, SEEK_END, SEEK_SET
from ..vfs.lock import F_RDLCK, F_UNLCK, F_WRLCK, LOCKS, OFFSET_MAX, lock_range

LOCK_SH, LOCK_EX, LOCK_NB, LOCK_UN = 1, 2, 4, 8
F_GETLK, F_SETLK, F_SETLKW = 5, 6, 7
F_OFD_GETLK, F_OFD_SETLK, F_OFD_SETLKW = 36, 37, 38
RECORD_LOCK_COMMANDS = (F_GETLK, F_SETLK, F_SETLKW, F_OFD_GETLK, F_OFD_SETLK, F_OFD_SETLKW)

# struct flock: l_type, l_whence (shorts), l_start, l_len (off_t), l_pid.
_FLOCK = struct.Struct("<hhxxxxqqi4x")


def flock(t, fd, operation):
    """flock(2)."""
    file = t.fds.get(fd)
    if file.is_path_only:
        raise SyscallError(errno.EBADF)
    command = operation & ~LOCK_NB
    if command == LOCK_UN:
        LOCKS.flock_unlock(file)
        return 0
    if command not in (LOCK_SH, LOCK_EX):
        raise SyscallError(errno.EINVAL)
    LOCKS.flock(file, F_RDLCK if command == LOCK_SH else F_WRLCK, wait=not operation & LOCK_NB)
    return 0


def record_lock(t, file, cmd, arg):
    """fcntl(2)'s F_GETLK, F_SETLK, F_SETLKW and their F_OFD_* forms on `file`."""
    lock_type, whence, start, length, pid = _FLOCK.unpack(t.copy_in(arg, _FLOCK.size))
    ofd = cmd in (F_OFD_GETLK, F_OFD_SETLK, F_OFD_SETLKW)
    if ofd and pid != 0:
        raise SyscallError(errno.EINVAL)
    first, last = lock_range(_whence_base(file, whence), start, length)
    owner = file if ofd else t.fds.lock_owner
    if cmd in (F_GETLK, F_OFD_GETLK):
        if lock_type not in (F_RDLCK, F_WRLCK):
            raise SyscallError(errno.EINVAL)
        blocker = LOCKS.get_record(file, owner, lock_type, first, last)
        if blocker is None:
            reply = _FLOCK.pack(F_UNLCK, whence, start, length, pid)
        else:
            blocker_length = 0 if blocker.end == OFFSET_MAX else blocker.end - blocker.start + 1
            reply = _FLOCK.pack(blocker.type, SEEK_SET, blocker.start, blocker_length, blocker.pid)
        t.copy_out(arg, reply)
        return 0
    if lock_type not in (F_RDLCK, F_WRLCK, F_UNLCK):
        raise SyscallError(errno.EINVAL)
    if lock_type == F_RDLCK and not file.readable or lock_type == F_WRLCK and not file.writable:
        raise SyscallError(errno.EBADF)
    LOCKS.set_record(t, file, owner, lock_type, first, last, wait=cmd in (F_SETLKW, F_OFD_SETLKW),
                     pid=-1 if ofd else t.tg.tgid)
    return 0


def _whence_base(file, whence):
    if whence == SEEK_SET:
        return 0
    if whence == SEEK_CUR:
        return file.seek(0, SEEK_CUR)
    if whence == SEEK_END:
        return file.size()
    raise SyscallError(errno.EINVAL)
