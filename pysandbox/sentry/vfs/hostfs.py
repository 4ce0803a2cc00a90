"""The host directory tree that is the sandbox's root filesystem, reached only through dir fds.

Every host access is a single-component *at() call relative to an O_PATH
fd this module holds, with O_NOFOLLOW: symlinks are read, never followed by
the host, and `..` is resolved by the sentry. So nothing outside the rootfs
directory can be reached, whatever the guest's paths or symlinks say.
"""
import errno
import os
import stat as st

from ..errors import SyscallError
from .dirfile import DirFile
from .file import host_errors
from .hostfile import HostFile
from .inode import DirEntry, Inode
from .stat import StatResult, dirent_type

_OPEN_PATH = os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC
_OPEN_FILE = os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NOCTTY
# Open flags passed on to the host; O_APPEND and O_NONBLOCK are the File's business.
_HOST_OPEN_FLAGS = os.O_ACCMODE | os.O_TRUNC | os.O_SYNC | os.O_DSYNC
RENAME_EXCHANGE = 2
EXT4_SUPER_MAGIC = 0xEF53


class HostFS:
    """A host directory used as a filesystem; `read_only` makes every change EROFS."""

    def __init__(self, host_path, read_only):
        self.read_only = read_only
        with host_errors():
            fd = os.open(host_path, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        self.root = HostInode(self, fd, None, b"/", os.fstat(fd).st_mode)


class HostInode(Inode):
    def __init__(self, fs, fd, parent, name, mode):
        self.fs = fs
        self.fd = fd          # O_PATH, owned by this inode
        self.parent = parent  # the HostInode whose fd `name` is relative to (None for the root)
        self.name = name
        self.mode = mode

    def __del__(self):
        try:
            os.close(self.fd)
        except (OSError, TypeError):
            pass

    @property
    def read_only(self):
        return self.fs.read_only

    def _check_writable(self):
        if self.fs.read_only:
            raise SyscallError(errno.EROFS)

    def _location(self):
        """(dir_fd, name) that names this inode for the host's *at() calls."""
        if self.is_dir or self.parent is None:
            return self.fd, b"."
        return self.parent.fd, self.name

    def stat(self):
        with host_errors():
            return StatResult.from_host(os.fstat(self.fd))

    def statfs(self):
        with host_errors():
            s = os.fstatvfs(self.fd)
        flags = 1 if self.fs.read_only else 0  # ST_RDONLY
        return (EXT4_SUPER_MAGIC, s.f_bsize, s.f_blocks, s.f_bfree, s.f_bavail, s.f_files,
                s.f_ffree, s.f_namemax, s.f_frsize, flags)

    def readlink(self, t):
        if not self.is_symlink:
            raise SyscallError(errno.EINVAL)
        with host_errors():
            return os.readlink(self.name, dir_fd=self.parent.fd)

    def open(self, t, dentry, flags):
        if self.is_dir:
            return DirFile(flags, dentry)
        if not self.is_regular:
            raise SyscallError(errno.EACCES)  # device nodes and FIFOs of the rootfs: as on a nodev mount
        if flags & (os.O_ACCMODE | os.O_TRUNC) != os.O_RDONLY:
            self._check_writable()
        with host_errors():
            host_fd = os.open(self.name, (flags & _HOST_OPEN_FLAGS) | _OPEN_FILE, dir_fd=self.parent.fd)
        return HostFile(flags, dentry, host_fd)

    def setattr(self, mode=None, uid=None, gid=None, size=None, atime_ns=None, mtime_ns=None):
        self._check_writable()
        dir_fd, name = self._location()
        with host_errors():
            if size is not None:
                fd = os.open(name, os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
                try:
                    os.ftruncate(fd, size)
                finally:
                    os.close(fd)
            if mode is not None:
                if self.is_symlink:
                    raise SyscallError(errno.EOPNOTSUPP)
                os.chmod(name, mode & 0o7777, dir_fd=dir_fd)
            if uid is not None or gid is not None:
                os.chown(name, -1 if uid is None else uid, -1 if gid is None else gid,
                         dir_fd=dir_fd, follow_symlinks=False)
            if atime_ns is not None or mtime_ns is not None:
                current = os.fstat(self.fd)
                times = (current.st_atime_ns if atime_ns is None else atime_ns,
                         current.st_mtime_ns if mtime_ns is None else mtime_ns)
                os.utime(name, ns=times, dir_fd=dir_fd, follow_symlinks=False)

    # --- directories ---

    def lookup(self, name):
        if name in (b".", b"..") or b"/" in name:
            raise SyscallError(errno.ENOENT)  # path resolution never asks this; the host must not see it
        with host_errors():
            fd = os.open(name, _OPEN_PATH, dir_fd=self.fd)
        try:
            mode = os.fstat(fd).st_mode
        except OSError as error:
            os.close(fd)
            raise SyscallError(error.errno) from error
        return HostInode(self.fs, fd, self, name, mode)

    def list(self):
        with host_errors():
            fd = os.open(b".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=self.fd)
            try:
                with os.scandir(fd) as entries:
                    return [DirEntry(os.fsencode(entry.name), entry.inode(), _entry_type(entry))
                            for entry in entries]
            finally:
                os.close(fd)

    def create(self, name, mode, uid, gid):
        self._check_writable()
        with host_errors():
            fd = os.open(name, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC,
                         mode & 0o7777, dir_fd=self.fd)
            try:
                os.fchmod(fd, mode & 0o7777)  # the sentry's own umask must not apply
                _chown_best_effort(lambda: os.fchown(fd, uid, gid))
            finally:
                os.close(fd)
        return self.lookup(name)

    def mknod(self, name, mode, rdev, uid, gid):
        """Regular files and socket nodes (bind(2) of an AF_UNIX socket); the sentry makes no
        device or FIFO nodes on the host."""
        if st.S_ISREG(mode):
            return self.create(name, mode, uid, gid)
        if not st.S_ISSOCK(mode):
            raise SyscallError(errno.EPERM)
        self._check_writable()
        with host_errors():
            os.mknod(name, st.S_IFSOCK | (mode & 0o7777), dir_fd=self.fd)
            os.chmod(name, mode & 0o7777, dir_fd=self.fd, follow_symlinks=False)
            _chown_best_effort(lambda: os.chown(name, uid, gid, dir_fd=self.fd, follow_symlinks=False))
        return self.lookup(name)

    def mkdir(self, name, mode, uid, gid):
        self._check_writable()
        with host_errors():
            os.mkdir(name, mode & 0o7777, dir_fd=self.fd)
            os.chmod(name, mode & 0o7777, dir_fd=self.fd)
            _chown_best_effort(lambda: os.chown(name, uid, gid, dir_fd=self.fd, follow_symlinks=False))
        return self.lookup(name)

    def symlink(self, name, target, uid, gid):
        self._check_writable()
        with host_errors():
            os.symlink(target, name, dir_fd=self.fd)
            _chown_best_effort(lambda: os.chown(name, uid, gid, dir_fd=self.fd, follow_symlinks=False))
        return self.lookup(name)

    def link(self, name, inode):
        self._check_writable()
        if not isinstance(inode, HostInode) or inode.fs is not self.fs:
            raise SyscallError(errno.EXDEV)
        with host_errors():
            os.link(inode.name, name, src_dir_fd=inode.parent.fd, dst_dir_fd=self.fd, follow_symlinks=False)

    def unlink(self, name):
        self._check_writable()
        with host_errors():
            os.unlink(name, dir_fd=self.fd)

    def rmdir(self, name):
        self._check_writable()
        with host_errors():
            os.rmdir(name, dir_fd=self.fd)

    def rename(self, name, child, new_dir, new_name, replaced):
        self._check_writable()
        self._check_same_fs(new_dir)
        with host_errors():
            os.rename(name, new_name, src_dir_fd=self.fd, dst_dir_fd=new_dir.fd)

    def exchange(self, name, child, new_dir, new_name, other):
        self._check_writable()
        self._check_same_fs(new_dir)
        if _renameat2(self.fd, name, new_dir.fd, new_name, RENAME_EXCHANGE) != 0:
            import ctypes
            raise SyscallError(ctypes.get_errno())

    def _check_same_fs(self, other):
        if not isinstance(other, HostInode) or other.fs is not self.fs:
            raise SyscallError(errno.EXDEV)

    def moved_to(self, new_parent, new_name):
        self.parent, self.name = new_parent, new_name


def _entry_type(entry):
    if entry.is_symlink():
        return dirent_type(st.S_IFLNK)
    if entry.is_dir(follow_symlinks=False):
        return dirent_type(st.S_IFDIR)
    if entry.is_file(follow_symlinks=False):
        return dirent_type(st.S_IFREG)
    return dirent_type(entry.stat(follow_symlinks=False).st_mode)


def _chown_best_effort(chown):
    """Give a new host file the guest's owner where the host lets us (not in every user namespace)."""
    try:
        chown()
    except OSError:
        pass


def _renameat2(*args):
    """renameat2(2), which the os module lacks; ctypes is loaded only when it is needed."""
    import ctypes
    return ctypes.CDLL(None, use_errno=True).renameat2(*args)
