"""Host directories as sandbox filesystems (the rootfs and bind mounts), reached one name at a time.

A HostInode holds a handle on its host file and asks its filesystem's host
operations about single names in it: in gofer mode the handle is a node
number of the gofer process, which does the work; in directfs mode it is an
O_PATH fd the gofer donated, on which the sentry makes the *at() calls
itself (pysandbox/gofer/hostops.py), and asks the gofer only about extended
attributes. Either way every call has O_NOFOLLOW and `..` is resolved by the
sentry, so nothing outside the host directory can be reached, whatever the
guest's paths or symlinks say. The root of a file bind mount is the file
itself: its filesystem has no directory at all.
"""
import errno
import os
import stat as st

from ..errors import SyscallError
from .dirfile import DirFile
from .fifo import open_host_fifo
from .hostfile import HostFile
from .inode import Inode

RENAME_EXCHANGE = 2
EXT4_SUPER_MAGIC = 0xEF53


class HostFS:
    """A host directory (or the single file of a file bind mount) used as a filesystem;
    `read_only` makes every change EROFS.

    `ops` is the host operations object (DirectfsHost or GoferHost), `root_handle` and
    `root_mode` the root's handle and st_mode from the gofer.
    """

    def __init__(self, ops, root_handle, root_mode, read_only, exclusive=False):
        self.ops = ops
        self.read_only = read_only
        # `exclusive`: nothing changes the host tree while the sandbox runs (gVisor's
        # --file-access=exclusive), so an inode's attributes are read from the host once.
        # Only the overlay's lower layer is exclusive by contract; other host trees are fstat'ed
        # on every stat, as they may be shared with the host.
        self.exclusive = exclusive and read_only
        self.root = HostInode(self, root_handle, None, b"/", root_mode)


class HostInode(Inode):
    def __init__(self, fs, handle, parent, name, mode):
        self.fs = fs
        self.handle = handle  # owned by this inode
        self.parent = parent  # the HostInode whose handle `name` is relative to (None for the root)
        self.name = name
        self.mode = mode
        self._attrs = None    # the StatResult, kept when the filesystem is exclusive

    def __del__(self):
        try:
            self.fs.ops.release(self.handle)
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass

    @property
    def read_only(self):
        return self.fs.read_only

    def _check_writable(self):
        if self.fs.read_only:
            raise SyscallError(errno.EROFS)

    def _location(self):
        """(directory handle, name) that names this inode for the host's *at() calls; name b"."
        is the handle's file itself (a directory, or the root of a file bind mount)."""
        if self.is_dir or self.parent is None:
            return self.handle, b"."
        return self.parent.handle, self.name

    def stat(self):
        attrs = self._attrs
        if attrs is None:
            attrs = self.fs.ops.stat(self.handle)
            if self.fs.exclusive:
                self._attrs = attrs
        return attrs

    def statfs(self):
        bsize, blocks, bfree, bavail, files, ffree, namemax, frsize = self.fs.ops.statfs(self.handle)
        flags = 1 if self.fs.read_only else 0  # ST_RDONLY
        return (EXT4_SUPER_MAGIC, bsize, blocks, bfree, bavail, files, ffree, namemax, frsize, flags)

    def readlink(self, t):
        if not self.is_symlink:
            raise SyscallError(errno.EINVAL)
        return self.fs.ops.readlink(self.parent.handle, self.name)

    def open(self, t, dentry, flags):
        if self.is_dir:
            return DirFile(flags, dentry)
        if st.S_ISFIFO(self.mode):
            return open_host_fifo(t, dentry, self.stat(), flags)
        if not self.is_regular:
            raise SyscallError(errno.EACCES)  # device nodes and FIFOs of the rootfs: as on a nodev mount
        if flags & (os.O_ACCMODE | os.O_TRUNC) != os.O_RDONLY:
            self._check_writable()
        return HostFile(flags, dentry, self.fs.ops.open(*self._location(), flags))

    def setattr(self, mode=None, uid=None, gid=None, size=None, atime_ns=None, mtime_ns=None):
        self._check_writable()
        if mode is not None and self.is_symlink:
            raise SyscallError(errno.EOPNOTSUPP)
        dir_handle, name = self._location()
        self.fs.ops.setattr(dir_handle, name, mode=mode, uid=uid, gid=gid, size=size,
                            atime_ns=atime_ns, mtime_ns=mtime_ns)

    # --- extended attributes: made by the gofer in both modes ---

    def getxattr(self, name, creds_root):
        if name.startswith(b"trusted.") and not creds_root:
            raise SyscallError(errno.ENODATA)
        return self.fs.ops.getxattr(*self._location(), name)

    def listxattr(self, creds_root):
        names = self.fs.ops.listxattr(*self._location())
        return [name for name in names if creds_root or not name.startswith(b"trusted.")]

    def setxattr(self, name, value, flags, creds_root):
        self._check_writable()
        if name.startswith(b"trusted.") and not creds_root:
            raise SyscallError(errno.EPERM)
        self.fs.ops.setxattr(*self._location(), name, value, flags)

    def removexattr(self, name, creds_root):
        self._check_writable()
        if name.startswith(b"trusted.") and not creds_root:
            raise SyscallError(errno.EPERM)
        self.fs.ops.removexattr(*self._location(), name)

    # --- directories ---

    def lookup(self, name):
        if name in (b".", b"..") or b"/" in name:
            raise SyscallError(errno.ENOENT)  # path resolution never asks this; the host must not see it
        handle, mode = self.fs.ops.walk(self.handle, name)
        return HostInode(self.fs, handle, self, name, mode)

    def list(self):
        return self.fs.ops.list(self.handle)

    def create(self, name, mode, uid, gid):
        self._check_writable()
        self.fs.ops.create(self.handle, name, mode, uid, gid)
        return self.lookup(name)

    def mknod(self, name, mode, rdev, uid, gid):
        """Regular files, FIFOs and socket nodes (bind(2) of an AF_UNIX socket); the sentry
        makes no device nodes on the host."""
        self._check_writable()
        self.fs.ops.mknod(self.handle, name, mode, uid, gid)
        return self.lookup(name)

    def mkdir(self, name, mode, uid, gid):
        self._check_writable()
        self.fs.ops.mkdir(self.handle, name, mode, uid, gid)
        return self.lookup(name)

    def symlink(self, name, target, uid, gid):
        self._check_writable()
        self.fs.ops.symlink(self.handle, name, target, uid, gid)
        return self.lookup(name)

    def link(self, name, inode):
        self._check_writable()
        self._check_same_fs(inode)
        self.fs.ops.link(inode.parent.handle, inode.name, self.handle, name)

    def unlink(self, name):
        self._check_writable()
        self.fs.ops.unlink(self.handle, name, 0)

    def rmdir(self, name):
        self._check_writable()
        self.fs.ops.unlink(self.handle, name, 0x200)  # AT_REMOVEDIR

    def rename(self, name, child, new_dir, new_name, replaced):
        self._check_writable()
        self._check_same_fs(new_dir)
        self.fs.ops.rename(self.handle, name, new_dir.handle, new_name, 0)

    def exchange(self, name, child, new_dir, new_name, other):
        self._check_writable()
        self._check_same_fs(new_dir)
        self.fs.ops.rename(self.handle, name, new_dir.handle, new_name, RENAME_EXCHANGE)

    def _check_same_fs(self, other):
        if not isinstance(other, HostInode) or other.fs is not self.fs:
            raise SyscallError(errno.EXDEV)

    def moved_to(self, new_parent, new_name):
        self.parent, self.name = new_parent, new_name
