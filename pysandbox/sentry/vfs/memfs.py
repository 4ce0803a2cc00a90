"""An in-memory filesystem (tmpfs): the overlay's upper layer, /dev and /dev/shm."""
import errno
import itertools
import os
import stat as st
import weakref

from ..errors import SyscallError
from .dirfile import DirFile
from .file import SeekableFile, host_errors
from .inode import DirEntry, Inode, new_synthetic_dev, now_ns
from .pipe import Pipe
from .stat import StatResult, blocks_for, dirent_type

# In an overlay's upper directory, a name mapped to WHITEOUT hides the lower layer's entry.
WHITEOUT = object()

_inode_numbers = itertools.count(2)
# Files in memory are not sparse: bigger sizes are refused (ENOSPC, as a full tmpfs) so that a
# guest's truncate or far-off write cannot make the sentry allocate without bound.
MAX_MEM_FILE_SIZE = 1 << 32


class MemInode(Inode):
    """Attributes every in-memory inode keeps itself."""

    def __init__(self, mode, uid=0, gid=0, dev=None, ino=None, rdev=0):
        self.mode = mode
        self.uid = uid
        self.gid = gid
        self.dev = MEM_DEV if dev is None else dev
        self.ino = next(_inode_numbers) if ino is None else ino
        self.rdev = rdev
        self.nlink = 1
        self.atime_ns = self.mtime_ns = self.ctime_ns = now_ns()

    def content_size(self):
        return 0

    def stat(self):
        size = self.content_size()
        return StatResult(dev=self.dev, ino=self.ino, mode=self.mode, nlink=self.nlink, uid=self.uid,
                          gid=self.gid, rdev=self.rdev, size=size, blocks=blocks_for(size),
                          atime_ns=self.atime_ns, mtime_ns=self.mtime_ns, ctime_ns=self.ctime_ns)

    def copy_attributes_from(self, attrs):
        """Take over a lower inode's identity and attributes (overlay copy-up)."""
        self.dev, self.ino = attrs.dev, attrs.ino
        self.uid, self.gid = attrs.uid, attrs.gid
        self.atime_ns, self.mtime_ns, self.ctime_ns = attrs.atime_ns, attrs.mtime_ns, attrs.ctime_ns

    def setattr(self, mode=None, uid=None, gid=None, size=None, atime_ns=None, mtime_ns=None):
        if size is not None:
            self.truncate(size)
        if mode is not None:
            self.mode = st.S_IFMT(self.mode) | (mode & 0o7777)
        if uid is not None:
            self.uid = uid
        if gid is not None:
            self.gid = gid
        if atime_ns is not None:
            self.atime_ns = atime_ns
        if mtime_ns is not None:
            self.mtime_ns = mtime_ns
        self.ctime_ns = now_ns()

    def truncate(self, size):
        raise SyscallError(errno.EINVAL)

    def touch(self):
        self.mtime_ns = self.ctime_ns = now_ns()


MEM_DEV = new_synthetic_dev()


class MemFile(MemInode):
    """A regular file in memory. Its bytes live in a host memfd, so that processes of the
    sandbox can map it MAP_SHARED through their stubs and see each other's writes."""

    def __init__(self, mode, uid=0, gid=0, data=b""):
        super().__init__(st.S_IFREG | (mode & 0o7777), uid, gid)
        self.host_fd = os.memfd_create("pysandbox-tmpfs", os.MFD_CLOEXEC)
        weakref.finalize(self, os.close, self.host_fd)
        if data:
            os.pwrite(self.host_fd, data, 0)

    def content_size(self):
        return os.fstat(self.host_fd).st_size

    def read(self, offset, n):
        return os.pread(self.host_fd, n, offset)

    def write(self, offset, data):
        if offset + len(data) > MAX_MEM_FILE_SIZE:
            raise SyscallError(errno.ENOSPC)
        with host_errors():
            written = os.pwrite(self.host_fd, data, offset)
        self.touch()
        return written

    def truncate(self, size):
        if size > MAX_MEM_FILE_SIZE:
            raise SyscallError(errno.ENOSPC)
        with host_errors():
            os.ftruncate(self.host_fd, size)
        self.touch()

    def open(self, t, dentry, flags):
        if flags & os.O_TRUNC and flags & os.O_ACCMODE != os.O_RDONLY:
            self.truncate(0)
        return MemFileDescription(flags, dentry, self)


class MemFileDescription(SeekableFile):
    def __init__(self, flags, dentry, inode):
        super().__init__(flags, dentry)
        self.node = inode

    @property
    def host_fd(self):
        """The memfd holding the file, for the platform to map."""
        return self.node.host_fd

    def pread(self, offset, n):
        return self.node.read(offset, n)

    def pwrite(self, offset, data):
        return self.node.write(offset, data)

    def size(self):
        return self.node.content_size()

    def is_mappable(self):
        return True

    def truncate(self, size):
        self.node.truncate(size)

    def stat(self):
        return self.node.stat()


class MemFifo(MemInode):
    """A named pipe (mkfifo(3)): its pipe lives as long as the inode."""

    def __init__(self, mode, uid=0, gid=0):
        super().__init__(st.S_IFIFO | (mode & 0o7777), uid, gid)
        self.pipe = Pipe()

    def open(self, t, dentry, flags):
        return self.pipe.open_fifo(t, dentry, flags)


class MemSymlink(MemInode):
    def __init__(self, target, uid=0, gid=0):
        super().__init__(st.S_IFLNK | 0o777, uid, gid)
        self.target = target

    def content_size(self):
        return len(self.target)

    def readlink(self, t):
        return self.target


class MemDir(MemInode):
    def __init__(self, mode=0o755, uid=0, gid=0):
        super().__init__(st.S_IFDIR | (mode & 0o7777), uid, gid)
        self.children = {}
        self.opaque = False  # overlay: hides the whole lower directory

    def stat(self):
        attrs = super().stat()
        attrs.nlink = 2 + sum(1 for child in self.children.values()
                              if child is not WHITEOUT and child.is_dir)
        attrs.size = 4096
        attrs.blocks = 8
        return attrs

    def open(self, t, dentry, flags):
        return DirFile(flags, dentry)

    def lookup(self, name):
        child = self.children.get(name)
        if child is None or child is WHITEOUT:
            raise SyscallError(errno.ENOENT)
        return child

    def list(self):
        return [DirEntry(name, child.ino, dirent_type(child.mode))
                for name, child in self.children.items() if child is not WHITEOUT]

    def add(self, name, inode):
        """Link `inode` under `name` (replacing a whiteout)."""
        existing = self.children.get(name)
        if existing is not None and existing is not WHITEOUT:
            raise SyscallError(errno.EEXIST)
        self.children[name] = inode
        self.touch()
        return inode

    def create(self, name, mode, uid, gid):
        return self.add(name, MemFile(mode, uid, gid))

    def mkdir(self, name, mode, uid, gid):
        return self.add(name, MemDir(mode, uid, gid))

    def symlink(self, name, target, uid, gid):
        return self.add(name, MemSymlink(target, uid, gid))

    def mknod(self, name, mode, rdev, uid, gid):
        if st.S_ISFIFO(mode):
            return self.add(name, MemFifo(mode, uid, gid))
        if st.S_ISSOCK(mode):
            return self.add(name, MemInode(mode, uid, gid))  # a name for bind(2); opening it is ENXIO
        if not st.S_ISREG(mode):
            raise SyscallError(errno.EPERM)
        return self.create(name, mode, uid, gid)

    def link(self, name, inode):
        if not isinstance(inode, MemInode):
            raise SyscallError(errno.EXDEV)
        self.add(name, inode)
        inode.nlink += 1
        inode.ctime_ns = now_ns()

    def remove(self, name):
        """Unlink child `name` (any kind) and return it."""
        child = self.children.pop(name)
        child.nlink -= 1
        self.touch()
        return child

    def unlink(self, name):
        self.remove(name)

    def rmdir(self, name):
        if self.lookup(name).children_visible():
            raise SyscallError(errno.ENOTEMPTY)
        self.remove(name)

    def children_visible(self):
        return any(child is not WHITEOUT for child in self.children.values())

    def rename(self, name, child, new_dir, new_name, replaced):
        if not isinstance(new_dir, MemDir):
            raise SyscallError(errno.EXDEV)
        child = self.children.pop(name)
        if replaced is not None:
            new_dir.children.pop(new_name, None)
            replaced.nlink -= 1
        new_dir.children[new_name] = child
        self.touch()
        new_dir.touch()

    def exchange(self, name, child, new_dir, new_name, other):
        if not isinstance(new_dir, MemDir):
            raise SyscallError(errno.EXDEV)
        self.children[name], new_dir.children[new_name] = new_dir.children[new_name], self.children[name]
        self.touch()
        new_dir.touch()
