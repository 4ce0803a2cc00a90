"""Syscalls on names and attributes of files: open(2), mkdir(2), unlink(2), rename(2), chmod(2)..."""
import errno
import os
import stat
import struct

from ..credentials import CAP_SYS_CHROOT, capable
from ..errors import SyscallError
from ..vfs import fsnotify
from ..vfs.file import MAX_OFFSET
from ..vfs.hostfile import (FALLOC_FL_COLLAPSE_RANGE, FALLOC_FL_INSERT_RANGE, FALLOC_FL_KEEP_SIZE,
                             FALLOC_FL_PUNCH_HOLE, FALLOC_FL_ZERO_RANGE)
from ..vfs.pipe import PipeFile
from ..vfs.resolve import AT_FDCWD
from ..vfs.scoped_walk import RESOLVE_BENEATH, RESOLVE_CACHED, RESOLVE_IN_ROOT, VALID_RESOLVE_FLAGS, ScopedWalk
from ..vfs.vfs import AT_EACCESS, AT_EMPTY_PATH, AT_REMOVEDIR, AT_SYMLINK_FOLLOW, AT_SYMLINK_NOFOLLOW

CLOSE_RANGE_UNSHARE, CLOSE_RANGE_CLOEXEC = 2, 4
_OPEN_HOW = struct.Struct("<QQQ")  # struct open_how: flags, mode, resolve
OPEN_HOW_SIZE_MAX = 4096           # a larger struct is E2BIG (one page, as Linux)
O_TMPFILE_BIT = 0o20000000
VALID_OPEN_FLAGS = (os.O_ACCMODE | os.O_CREAT | os.O_EXCL | os.O_NOCTTY | os.O_TRUNC | os.O_APPEND
                    | os.O_NONBLOCK | os.O_SYNC | os.O_DSYNC | os.O_ASYNC | os.O_DIRECT | os.O_LARGEFILE
                    | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_NOATIME | os.O_CLOEXEC | os.O_PATH
                    | O_TMPFILE_BIT)
_O_PATH_COMPANIONS = os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
POSIX_FADV_NOREUSE = 5
FALLOC_FL_UNSHARE_RANGE, FALLOC_FL_WRITE_ZEROES = 0x40, 0x80
FALLOC_FL_MODE_MASK = (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_COLLAPSE_RANGE | FALLOC_FL_ZERO_RANGE | FALLOC_FL_INSERT_RANGE
                       | FALLOC_FL_UNSHARE_RANGE | FALLOC_FL_WRITE_ZEROES)
# One mode at a time (plain allocation is 0); the ones that move the end of the file refuse KEEP_SIZE.
_FALLOC_MODES = (0, FALLOC_FL_PUNCH_HOLE, FALLOC_FL_COLLAPSE_RANGE, FALLOC_FL_ZERO_RANGE, FALLOC_FL_INSERT_RANGE,
                 FALLOC_FL_UNSHARE_RANGE, FALLOC_FL_WRITE_ZEROES)
_FALLOC_MODES_CHANGING_SIZE = (FALLOC_FL_COLLAPSE_RANGE, FALLOC_FL_INSERT_RANGE, FALLOC_FL_WRITE_ZEROES)
SYNC_FILE_RANGE_FLAGS = 7  # WAIT_BEFORE | WRITE | WAIT_AFTER
_STATFS = struct.Struct("<qqQQQQQiiqqq32x")
_TIMESPEC_PAIR = struct.Struct("<qqqq")
_TIMEVAL_PAIR = struct.Struct("<qqqq")
_UTIMBUF = struct.Struct("<qq")


def _vfs(t):
    return t.kernel.vfs


def _path(t, pathname):
    return t.copy_in_str(pathname)


def _dentry_of_fd(t, fd):
    """The dentry behind `fd` for f*() calls (anonymous ones for pipes and sockets)."""
    file = t.fds.get(fd)
    if file.dentry is None:
        raise SyscallError(errno.EBADF)
    return file.dentry


# --- opening and closing ---

def open(t, pathname, flags, mode):
    """open(2)."""
    return openat(t, AT_FDCWD, pathname, flags, mode)


def openat(t, dirfd, pathname, flags, mode):
    """openat(2)."""
    path = _path(t, pathname)
    file = _vfs(t).open(t, dirfd, path, flags, mode)
    return t.fds.install(file, cloexec=flags & os.O_CLOEXEC)


def openat2(t, dirfd, pathname, how, size):
    """openat2(2): openat with a struct open_how, checked strictly, and RESOLVE_* restrictions."""
    if size < _OPEN_HOW.size:
        raise SyscallError(errno.EINVAL)
    if size > OPEN_HOW_SIZE_MAX:
        raise SyscallError(errno.E2BIG)
    raw = t.copy_in(how, size)
    if any(raw[_OPEN_HOW.size:]):
        raise SyscallError(errno.E2BIG)
    flags, mode, resolve = _OPEN_HOW.unpack_from(raw)
    if flags & ~VALID_OPEN_FLAGS or resolve & ~VALID_RESOLVE_FLAGS or mode & ~0o7777:
        raise SyscallError(errno.EINVAL)
    if mode and not flags & (os.O_CREAT | O_TMPFILE_BIT):
        raise SyscallError(errno.EINVAL)
    if flags & os.O_PATH and flags & ~_O_PATH_COMPANIONS:
        raise SyscallError(errno.EINVAL)
    if resolve & RESOLVE_BENEATH and resolve & RESOLVE_IN_ROOT:
        raise SyscallError(errno.EINVAL)
    if resolve & RESOLVE_CACHED and flags & (os.O_CREAT | os.O_TRUNC | O_TMPFILE_BIT):
        raise SyscallError(errno.EAGAIN)
    path = _path(t, pathname)
    file = _vfs(t).open(t, dirfd, path, flags, mode, walk=ScopedWalk(t, dirfd, resolve))
    return t.fds.install(file, cloexec=flags & os.O_CLOEXEC)


def creat(t, pathname, mode):
    """creat(2)."""
    return openat(t, AT_FDCWD, pathname, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, mode)


def close(t, fd):
    """close(2)."""
    t.fds.close(fd)
    return 0


def close_range(t, first, last, flags):
    """close_range(2)."""
    if flags & ~(CLOSE_RANGE_UNSHARE | CLOSE_RANGE_CLOEXEC) or first > last:
        raise SyscallError(errno.EINVAL)
    if flags & CLOSE_RANGE_UNSHARE:
        t.fds.unshare()
    t.fds.close_range(first, last, cloexec_only=bool(flags & CLOSE_RANGE_CLOEXEC))
    return 0


# --- access ---

def access(t, pathname, mode):
    """access(2)."""
    return faccessat2(t, AT_FDCWD, pathname, mode, 0)


def faccessat(t, dirfd, pathname, mode):
    """faccessat(2) (the syscall has no flags argument)."""
    return faccessat2(t, dirfd, pathname, mode, 0)


def faccessat2(t, dirfd, pathname, mode, flags):
    """faccessat2(2)."""
    if mode & ~7 or flags & ~(AT_EACCESS | AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH):
        raise SyscallError(errno.EINVAL)
    _vfs(t).access(t, dirfd, _path(t, pathname), mode, flags)
    return 0


# --- creating and removing names ---

def mkdir(t, pathname, mode):
    """mkdir(2)."""
    return mkdirat(t, AT_FDCWD, pathname, mode)


def mkdirat(t, dirfd, pathname, mode):
    """mkdirat(2)."""
    _vfs(t).mkdir(t, dirfd, _path(t, pathname), mode)
    return 0


def mknod(t, pathname, mode, dev):
    """mknod(2): regular files only; devices and FIFOs are refused with EPERM."""
    return mknodat(t, AT_FDCWD, pathname, mode, dev)


def mknodat(t, dirfd, pathname, mode, dev):
    """mknodat(2)."""
    _vfs(t).mknod(t, dirfd, _path(t, pathname), mode, dev)
    return 0


def unlink(t, pathname):
    """unlink(2)."""
    return unlinkat(t, AT_FDCWD, pathname, 0)


def unlinkat(t, dirfd, pathname, flags):
    """unlinkat(2)."""
    if flags & ~AT_REMOVEDIR:
        raise SyscallError(errno.EINVAL)
    path = _path(t, pathname)
    if flags & AT_REMOVEDIR:
        _vfs(t).rmdir(t, dirfd, path)
    else:
        _vfs(t).unlink(t, dirfd, path)
    return 0


def rmdir(t, pathname):
    """rmdir(2)."""
    return unlinkat(t, AT_FDCWD, pathname, AT_REMOVEDIR)


def rename(t, oldpath, newpath):
    """rename(2)."""
    return renameat2(t, AT_FDCWD, oldpath, AT_FDCWD, newpath, 0)


def renameat(t, olddirfd, oldpath, newdirfd, newpath):
    """renameat(2)."""
    return renameat2(t, olddirfd, oldpath, newdirfd, newpath, 0)


def renameat2(t, olddirfd, oldpath, newdirfd, newpath, flags):
    """renameat2(2): RENAME_NOREPLACE and RENAME_EXCHANGE."""
    old, new = _path(t, oldpath), _path(t, newpath)
    _vfs(t).rename(t, olddirfd, old, newdirfd, new, flags)
    return 0


def symlink(t, target, linkpath):
    """symlink(2)."""
    return symlinkat(t, target, AT_FDCWD, linkpath)


def symlinkat(t, target, newdirfd, linkpath):
    """symlinkat(2)."""
    _vfs(t).symlink(t, _path(t, target), newdirfd, _path(t, linkpath))
    return 0


def link(t, oldpath, newpath):
    """link(2)."""
    return linkat(t, AT_FDCWD, oldpath, AT_FDCWD, newpath, 0)


def linkat(t, olddirfd, oldpath, newdirfd, newpath, flags):
    """linkat(2)."""
    if flags & ~(AT_SYMLINK_FOLLOW | AT_EMPTY_PATH):
        raise SyscallError(errno.EINVAL)
    old, new = _path(t, oldpath), _path(t, newpath)
    _vfs(t).link(t, olddirfd, old, newdirfd, new, flags)
    return 0


def readlink(t, pathname, buf, bufsiz):
    """readlink(2)."""
    return readlinkat(t, AT_FDCWD, pathname, buf, bufsiz)


def readlinkat(t, dirfd, pathname, buf, bufsiz):
    """readlinkat(2): the target, truncated to bufsiz bytes, without a NUL."""
    if bufsiz <= 0 or bufsiz > 0x7FFFFFFF:
        raise SyscallError(errno.EINVAL)
    target = _vfs(t).readlink(t, dirfd, _path(t, pathname))[:bufsiz]
    t.copy_out(buf, target)
    return len(target)


# --- working directory, root, umask ---

def getcwd(t, buf, size):
    """getcwd(2): the raw syscall returns the length including the NUL."""
    path = _vfs(t).getcwd(t) + b"\0"
    if size < len(path):
        raise SyscallError(errno.ERANGE)
    t.copy_out(buf, path)
    return len(path)


def chdir(t, pathname):
    """chdir(2)."""
    vfs = _vfs(t)
    vfs.chdir(t, vfs.lookup(t, AT_FDCWD, _path(t, pathname)))
    return 0


def fchdir(t, fd):
    """fchdir(2)."""
    file = t.fds.get(fd)
    if file.dentry is None:
        raise SyscallError(errno.ENOTDIR)
    _vfs(t).chdir(t, file.dentry)
    return 0


def chroot(t, pathname):
    """chroot(2)."""
    if not capable(t, CAP_SYS_CHROOT):
        raise SyscallError(errno.EPERM)
    vfs = _vfs(t)
    dentry = vfs.lookup(t, AT_FDCWD, _path(t, pathname))
    if not dentry.inode.is_dir:
        raise SyscallError(errno.ENOTDIR)
    t.fs.root = dentry
    return 0


def umask(t, mask):
    """umask(2)."""
    old = t.fs.umask
    t.fs.umask = mask & 0o777
    return old


# --- permissions and ownership ---

def chmod(t, pathname, mode):
    """chmod(2)."""
    return fchmodat(t, AT_FDCWD, pathname, mode)


def fchmod(t, fd, mode):
    """fchmod(2)."""
    _vfs(t).chmod(t, _dentry_of_fd(t, fd), mode)
    return 0


def fchmodat(t, dirfd, pathname, mode):
    """fchmodat(2) (the syscall has no flags argument)."""
    return fchmodat2(t, dirfd, pathname, mode, 0)


def fchmodat2(t, dirfd, pathname, mode, flags):
    """fchmodat2(2): fchmodat with AT_SYMLINK_NOFOLLOW and AT_EMPTY_PATH; a symlink itself has no
    mode to change (EOPNOTSUPP)."""
    if flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH):
        raise SyscallError(errno.EINVAL)
    vfs = _vfs(t)
    dentry = vfs.lookup(t, dirfd, _path(t, pathname), follow=not flags & AT_SYMLINK_NOFOLLOW,
                        empty_path=bool(flags & AT_EMPTY_PATH))
    if stat.S_ISLNK(dentry.inode.mode):
        raise SyscallError(errno.EOPNOTSUPP)
    vfs.chmod(t, dentry, mode)
    return 0


def chown(t, pathname, owner, group):
    """chown(2)."""
    return fchownat(t, AT_FDCWD, pathname, owner, group, 0)


def lchown(t, pathname, owner, group):
    """lchown(2)."""
    return fchownat(t, AT_FDCWD, pathname, owner, group, AT_SYMLINK_NOFOLLOW)


def fchown(t, fd, owner, group):
    """fchown(2)."""
    _vfs(t).chown(t, _dentry_of_fd(t, fd), owner, group)
    return 0


def fchownat(t, dirfd, pathname, owner, group, flags):
    """fchownat(2)."""
    if flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH):
        raise SyscallError(errno.EINVAL)
    vfs = _vfs(t)
    dentry = vfs.lookup(t, dirfd, _path(t, pathname), follow=not flags & AT_SYMLINK_NOFOLLOW,
                        empty_path=bool(flags & AT_EMPTY_PATH))
    vfs.chown(t, dentry, owner, group)
    return 0


# --- size, data and times ---

def truncate(t, pathname, length):
    """truncate(2)."""
    vfs = _vfs(t)
    vfs.truncate(t, vfs.lookup(t, AT_FDCWD, _path(t, pathname)), length)
    return 0


def ftruncate(t, fd, length):
    """ftruncate(2)."""
    if length < 0:
        raise SyscallError(errno.EINVAL)
    file = t.fds.get(fd)
    if not file.writable or file.dentry is None or not file.dentry.inode.is_regular:
        raise SyscallError(errno.EINVAL)
    file.truncate(length)
    fsnotify.modified(file.dentry)
    return 0


def fallocate(t, fd, mode, offset, length):
    """fallocate(2): the checks of Linux's vfs_fallocate(), then the file's own: tmpfs (and the
    overlay's upper layer) allocates and punches holes, host files do what their filesystem does."""
    file = t.fds.get(fd)
    if file.is_path_only:
        raise SyscallError(errno.EBADF)
    if offset < 0 or length <= 0:
        raise SyscallError(errno.EINVAL)
    kind = mode & FALLOC_FL_MODE_MASK
    if mode & ~(FALLOC_FL_MODE_MASK | FALLOC_FL_KEEP_SIZE) or kind not in _FALLOC_MODES:
        raise SyscallError(errno.EOPNOTSUPP)
    if mode & FALLOC_FL_KEEP_SIZE and kind in _FALLOC_MODES_CHANGING_SIZE or \
            kind == FALLOC_FL_PUNCH_HOLE and not mode & FALLOC_FL_KEEP_SIZE:
        raise SyscallError(errno.EOPNOTSUPP)
    if not file.writable:
        raise SyscallError(errno.EBADF)
    file_type = stat.S_IFMT(file.stat().mode) if file.dentry is not None else None
    if file_type == stat.S_IFIFO or isinstance(file, PipeFile):
        raise SyscallError(errno.ESPIPE)
    if file_type == stat.S_IFDIR:
        raise SyscallError(errno.EISDIR)
    if file_type not in (stat.S_IFREG, stat.S_IFBLK):
        raise SyscallError(errno.ENODEV)
    if offset + length > MAX_OFFSET:
        raise SyscallError(errno.EFBIG)
    allocate = getattr(file, "fallocate", None)
    if allocate is None:
        raise SyscallError(errno.EOPNOTSUPP)
    allocate(mode, offset, length)
    fsnotify.modified(file.dentry)
    return 0


def fsync(t, fd):
    """fsync(2)."""
    t.fds.get(fd).sync()
    return 0


def fdatasync(t, fd):
    """fdatasync(2)."""
    return fsync(t, fd)


def sync(t):
    """sync(2): the overlay lives in memory and host writes reach the host page cache."""
    return 0


def syncfs(t, fd):
    """syncfs(2)."""
    t.fds.get(fd)
    return 0


def sync_file_range(t, fd, offset, nbytes, flags):
    """sync_file_range(2): checked; data already reaches the host (or memory) on every write."""
    if flags & ~SYNC_FILE_RANGE_FLAGS or offset < 0 or nbytes < 0 or offset + nbytes < 0:
        raise SyscallError(errno.EINVAL)
    file = t.fds.get(fd)
    if file.dentry is None or not (file.dentry.inode.is_regular or file.dentry.inode.is_dir):
        raise SyscallError(errno.ESPIPE)
    return 0


def fadvise64(t, fd, offset, length, advice):
    """posix_fadvise(2): checked, then ignored."""
    file = t.fds.get(fd)
    if file.dentry is not None and stat.S_ISFIFO(file.dentry.inode.mode):
        raise SyscallError(errno.ESPIPE)
    if advice < 0 or advice > POSIX_FADV_NOREUSE or length < 0:
        raise SyscallError(errno.EINVAL)
    return 0


def readahead(t, fd, offset, count):
    """readahead(2): the page cache is the host's, so after the checks there is nothing to do."""
    file = t.fds.get(fd)
    if not file.readable:
        raise SyscallError(errno.EBADF)
    if file.dentry is None or not stat.S_ISREG(file.dentry.inode.mode):
        raise SyscallError(errno.EINVAL)
    return 0


def utimensat(t, dirfd, pathname, times, flags):
    """utimensat(2); a NULL pathname means dirfd itself (futimens)."""
    if flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH):
        raise SyscallError(errno.EINVAL)
    stamps = None
    if times:
        atime_s, atime_ns, mtime_s, mtime_ns = _TIMESPEC_PAIR.unpack(t.copy_in(times, _TIMESPEC_PAIR.size))
        stamps = ((atime_s, atime_ns), (mtime_s, mtime_ns))
    vfs = _vfs(t)
    if pathname == 0:
        dentry = _dentry_of_fd(t, dirfd)
    else:
        dentry = vfs.lookup(t, dirfd, _path(t, pathname), follow=not flags & AT_SYMLINK_NOFOLLOW,
                            empty_path=bool(flags & AT_EMPTY_PATH))
    vfs.utimens(t, dentry, stamps)
    return 0


def utimes(t, filename, times):
    """utimes(2): microsecond timevals."""
    return futimesat(t, AT_FDCWD, filename, times)


def futimesat(t, dirfd, pathname, times):
    """futimesat(2): utimes(2) relative to a directory fd; a NULL pathname means dirfd itself."""
    stamps = None
    if times:
        atime_s, atime_us, mtime_s, mtime_us = _TIMEVAL_PAIR.unpack(t.copy_in(times, _TIMEVAL_PAIR.size))
        if not (0 <= atime_us < 1_000_000 and 0 <= mtime_us < 1_000_000):
            raise SyscallError(errno.EINVAL)
        stamps = ((atime_s, atime_us * 1000), (mtime_s, mtime_us * 1000))
    vfs = _vfs(t)
    if pathname == 0 and dirfd != AT_FDCWD:
        dentry = _dentry_of_fd(t, dirfd)
    else:
        dentry = vfs.lookup(t, dirfd, _path(t, pathname))
    vfs.utimens(t, dentry, stamps)
    return 0


def utime(t, filename, times):
    """utime(2): whole seconds."""
    stamps = None
    if times:
        atime, mtime = _UTIMBUF.unpack(t.copy_in(times, _UTIMBUF.size))
        stamps = ((atime, 0), (mtime, 0))
    vfs = _vfs(t)
    vfs.utimens(t, vfs.lookup(t, AT_FDCWD, _path(t, filename)), stamps)
    return 0


# --- filesystem statistics ---

def statfs(t, pathname, buf):
    """statfs(2)."""
    vfs = _vfs(t)
    _copy_out_statfs(t, buf, vfs.lookup(t, AT_FDCWD, _path(t, pathname)))
    return 0


def fstatfs(t, fd, buf):
    """fstatfs(2)."""
    _copy_out_statfs(t, buf, _dentry_of_fd(t, fd))
    return 0


def _copy_out_statfs(t, buf, dentry):
    (fs_type, block_size, blocks, free, available, files, free_files, name_max, fragment_size,
     flags) = _vfs(t).statfs(dentry)
    t.copy_out(buf, _STATFS.pack(fs_type, block_size, blocks, free, available, files, free_files,
                                 0, 0, name_max, fragment_size, flags))
