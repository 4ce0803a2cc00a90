"""getdents64(2) and getdents(2): directory entries as linux_dirent64 / linux_dirent records."""
import errno
import struct

from ..errors import SyscallError
from ..vfs import fsnotify

_DIRENT64_HEAD = struct.Struct("<QqHB")   # d_ino, d_off, d_reclen, d_type, then d_name
_DIRENT_HEAD = struct.Struct("<QQH")      # d_ino, d_off, d_reclen, then d_name, NUL, d_type last


def _align8(n):
    return (n + 7) & ~7


def pack_dirent64(entry, next_offset):
    record_length = _align8(_DIRENT64_HEAD.size + len(entry.name) + 1)
    head = _DIRENT64_HEAD.pack(entry.ino, next_offset, record_length, entry.type)
    return (head + entry.name).ljust(record_length, b"\0")


def pack_dirent(entry, next_offset):
    record_length = _align8(_DIRENT_HEAD.size + len(entry.name) + 2)
    head = _DIRENT_HEAD.pack(entry.ino, next_offset, record_length)
    return (head + entry.name).ljust(record_length - 1, b"\0") + bytes([entry.type])


def getdents64(t, fd, dirp, count):
    """getdents64(2)."""
    return _getdents(t, fd, dirp, count, pack_dirent64)


def getdents(t, fd, dirp, count):
    """getdents(2)."""
    return _getdents(t, fd, dirp, count, pack_dirent)


def _getdents(t, fd, dirp, count, pack):
    file = t.fds.get(fd)
    if file.is_path_only:
        raise SyscallError(errno.EBADF)
    records = file.getdents(t, min(count, 0x7FFFFFFF), pack)
    t.copy_out(dirp, records)
    if fsnotify.WATCHES:
        fsnotify.accessed(file.dentry)  # every call, the last one at the end too, as Linux's iterate_dir
    return len(records)
