"""An in-memory filesystem (tmpfs): the overlay's upper layer, /dev, /dev/shm and memfds.

Each TmpFS is one superblock with its own st_dev and, optionally, Linux's
tmpfs limits: `size=` (bytes, counted in whole pages) and `nr_inodes=`.
A write that finds no room writes what fits and returns the short count,
or fails with ENOSPC when nothing fits, as tmpfs does.
"""
import errno
import itertools
import os
import stat as st

from ..errors import SyscallError, host_errors
from ..mm import forget_file
from .dirfile import DirFile
from .file import SeekableFile
from .hostfile import FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE, write_zeros
from .inode import NAME_MAX, DirEntry, Inode, new_synthetic_dev, now_ns
from .pipe import Pipe
from .stat import BLOCK_SIZE, StatResult, blocks_for, dirent_type

# In an overlay's upper directory, a name mapped to WHITEOUT hides the lower layer's entry.
WHITEOUT = object()

_inode_numbers = itertools.count(2)
# Files in memory are not sparse: bigger sizes are refused (ENOSPC, as a full tmpfs) so that a
# guest's truncate or far-off write cannot make the sentry allocate without bound.
MAX_MEM_FILE_SIZE = 1 << 32
SMALL_FILE_MAX = 64 * 1024  # a file up to this size that was never mapped stays in sentry memory
PAGE_SIZE = 4096
TMPFS_MAGIC = 0x01021994
XATTR_CREATE, XATTR_REPLACE = 1, 2
# Namespaces tmpfs stores; "user." only on regular files and directories (xattr(7)).
XATTR_NAMESPACES = (b"user.", b"trusted.", b"security.")


def _pages(size):
    return (size + PAGE_SIZE - 1) // PAGE_SIZE


class TmpFS:
    """One tmpfs superblock: its device number and its limits (None = unlimited)."""

    def __init__(self, size=None, nr_inodes=None):
        self.dev = new_synthetic_dev()
        self.max_pages = None if size is None else _pages(size)
        self.max_inodes = nr_inodes
        self.used_pages = 0
        self.used_inodes = 0

    @classmethod
    def from_options(cls, options):
        """A tmpfs for mount(2)'s data, e.g. b"size=1m,nr_inodes=100,mode=1777": (TmpFS, root MemDir).

        Unknown options and malformed numbers are EINVAL, as Linux's tmpfs answers.
        """
        size = nr_inodes = None
        mode, uid, gid = 0o1777, 0, 0
        for option in filter(None, options.split(b",")):
            key, _, value = option.partition(b"=")
            if key == b"size":
                size = parse_tmpfs_size(value, percent_of=_physical_memory())
            elif key == b"nr_inodes":
                nr_inodes = parse_tmpfs_size(value)
            elif key == b"mode" and 1 <= len(value) <= 4 and not value.strip(b"01234567"):
                mode = int(value, 8)
            elif key in (b"uid", b"gid") and value.isdigit():
                uid, gid = (int(value), gid) if key == b"uid" else (uid, int(value))
            elif key not in (b"rw", b"ro", b"nosuid", b"nodev", b"noexec", b"relatime", b"noatime",
                             b"strictatime", b"inode64", b"huge"):
                raise SyscallError(errno.EINVAL)
        fs = cls(size or None, nr_inodes or None)
        return fs, MemDir(mode, uid, gid, fs=fs)

    def charge_inode(self):
        if self.max_inodes is not None and self.used_inodes >= self.max_inodes:
            raise SyscallError(errno.ENOSPC)
        self.used_inodes += 1

    def release_inode(self):
        self.used_inodes -= 1

    def pages_available(self):
        return None if self.max_pages is None else self.max_pages - self.used_pages

    def statfs(self):
        """statfs(2)'s figures: 0 blocks and 0 inodes for an unlimited tmpfs, as Linux reports."""
        blocks = self.max_pages or 0
        files = self.max_inodes or 0
        return (TMPFS_MAGIC, PAGE_SIZE, blocks, max(0, blocks - self.used_pages) if blocks else 0,
                max(0, blocks - self.used_pages) if blocks else 0, files,
                max(0, files - self.used_inodes) if files else 0, NAME_MAX, PAGE_SIZE, 0)


def parse_tmpfs_size(text, percent_of=None):
    """memparse(): a number with an optional k/m/g/t suffix (or %, of `percent_of`)."""
    import re  # here, not at the top: `re` costs every `pysandbox do` ~2 ms
    match = re.fullmatch(rb"(\d+)([kKmMgGtT%]?)", text)
    if match is None or match.group(2) == b"%" and percent_of is None:
        raise SyscallError(errno.EINVAL)
    number, suffix = int(match.group(1)), match.group(2).lower()
    if suffix == b"%":
        return percent_of * number // 100
    return number << {b"": 0, b"k": 10, b"m": 20, b"g": 30, b"t": 40}[suffix]


def _physical_memory():
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


# The overlay's upper layer, /dev and anything else made without a superblock of its own.
UNLIMITED = TmpFS()


class MemInode(Inode):
    """Attributes every in-memory inode keeps itself."""

    def __init__(self, mode, uid=0, gid=0, dev=None, ino=None, rdev=0, fs=None):
        self.mode = mode
        self.uid = uid
        self.gid = gid
        self.fs = fs or UNLIMITED
        self.dev = self.fs.dev if dev is None else dev
        self.ino = next(_inode_numbers) if ino is None else ino
        self.rdev = rdev
        self.nlink = 1
        self.atime_ns = self.mtime_ns = self.ctime_ns = now_ns()
        self.xattrs = None  # name -> value, once one is set
        self.fs.charge_inode()

    def dropped(self):
        """Its last link is gone: it no longer counts against the tmpfs's nr_inodes."""
        self.fs.release_inode()
        self.fs = UNLIMITED

    def statfs(self):
        return self.fs.statfs()

    # --- extended attributes (user., trusted. and security., as tmpfs) ---

    def _check_xattr_name(self, name, creds_root):
        if not name.startswith(XATTR_NAMESPACES):
            raise SyscallError(errno.EOPNOTSUPP)
        if name.startswith(b"trusted.") and not creds_root:
            return False
        if name.startswith(b"user.") and not (self.is_regular or self.is_dir):
            return False
        return True

    def getxattr(self, name, creds_root):
        if not self._check_xattr_name(name, creds_root) or not self.xattrs or name not in self.xattrs:
            raise SyscallError(errno.ENODATA)
        return self.xattrs[name]

    def listxattr(self, creds_root):
        return [name for name in (self.xattrs or ())
                if creds_root or not name.startswith(b"trusted.")]

    def setxattr(self, name, value, flags, creds_root):
        if not self._check_xattr_name(name, creds_root):
            raise SyscallError(errno.EPERM)
        present = self.xattrs is not None and name in self.xattrs
        if flags & XATTR_CREATE and present:
            raise SyscallError(errno.EEXIST)
        if flags & XATTR_REPLACE and not present:
            raise SyscallError(errno.ENODATA)
        if self.xattrs is None:
            self.xattrs = {}
        self.xattrs[name] = value
        self.ctime_ns = now_ns()

    def removexattr(self, name, creds_root):
        if not self._check_xattr_name(name, creds_root):
            raise SyscallError(errno.EPERM)
        if not self.xattrs or name not in self.xattrs:
            raise SyscallError(errno.ENODATA)
        del self.xattrs[name]
        self.ctime_ns = now_ns()

    def content_size(self):
        return 0

    def stat(self):
        size = self.content_size()
        return StatResult(self.dev, self.ino, self.mode, self.nlink, self.uid, self.gid, self.rdev, size,
                          BLOCK_SIZE, blocks_for(size), self.atime_ns, self.mtime_ns, self.ctime_ns)

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


MEM_DEV = UNLIMITED.dev

F_SEAL_SEAL, F_SEAL_SHRINK, F_SEAL_GROW, F_SEAL_WRITE, F_SEAL_FUTURE_WRITE = 1, 2, 4, 8, 0x10


class MemFile(MemInode):
    """A regular file in memory. Its bytes live in a host memfd, so that processes of the
    sandbox can map it MAP_SHARED through their stubs and see each other's writes.
    A small file that was never mapped keeps its bytes in the sentry instead: most
    files are, and a memfd costs host syscalls to make, fill and close.

    Its size is kept here too: only write and truncate change it (a shared mapping
    cannot grow a file), and the tmpfs charges whole pages of it.
    """

    def __init__(self, mode, uid=0, gid=0, data=b"", fs=None):
        super().__init__(st.S_IFREG | (mode & 0o7777), uid, gid, fs=fs)
        self._memfd = None
        self._small = bytearray()  # the file's bytes until it has a memfd
        self.size = 0
        self.seals = F_SEAL_SEAL  # memfd_create(MFD_ALLOW_SEALING) clears it; files never do
        if data:
            self.write(0, data)

    def content_size(self):
        return self.size

    @property
    def host_fd(self):
        """The memfd holding the file, made when first needed (a mapping, or outgrowing SMALL_FILE_MAX)."""
        if self._memfd is None:
            with host_errors():
                fd = os.memfd_create("pysandbox-tmpfs", os.MFD_CLOEXEC)
                import weakref           # finalize: only for files that get a memfd
                weakref.finalize(self, os.close, fd)
                os.ftruncate(fd, self.size)
                if self._small:
                    os.pwrite(fd, self._small, 0)
            self._memfd, self._small = fd, None
        return self._memfd

    def read(self, offset, n):
        if self._memfd is None:
            return bytes(self._small[offset:offset + n])
        return os.pread(self._memfd, n, offset)

    def write(self, offset, data):
        if not data:                # Linux's generic_write_checks end here: no seal, size or time change
            return 0
        if self.seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE):
            raise SyscallError(errno.EPERM)
        end = offset + len(data)
        if end > MAX_MEM_FILE_SIZE:
            raise SyscallError(errno.EFBIG if offset >= MAX_MEM_FILE_SIZE else errno.ENOSPC)
        if end > self.size:
            if self.seals & F_SEAL_GROW:
                raise SyscallError(errno.EPERM)
            end = self._charge_growth(offset, end)
            data = data[:end - offset]
        if self._memfd is None and offset + len(data) <= SMALL_FILE_MAX:
            small = self._small
            if offset > len(small):
                small.extend(bytes(offset - len(small)))
            small[offset:offset + len(data)] = data
            written = len(data)
        else:
            with host_errors():
                written = os.pwrite(self.host_fd, data, offset)
        self.size = max(self.size, offset + written)
        self.touch()
        return written

    def _charge_growth(self, offset, end):
        """Charge the pages from the current size to `end`; returns how far the fs lets the file grow."""
        available = self.fs.pages_available()
        added = _pages(end) - _pages(self.size)
        if available is not None and added > available:
            end = min(end, (_pages(self.size) + available) * PAGE_SIZE)
            if end <= offset:
                raise SyscallError(errno.ENOSPC)
            added = _pages(end) - _pages(self.size)
        self.fs.used_pages += added
        return end

    def truncate(self, size):
        if size > MAX_MEM_FILE_SIZE:
            raise SyscallError(errno.EFBIG)
        if size < self.size and self.seals & F_SEAL_SHRINK or size > self.size and self.seals & F_SEAL_GROW:
            raise SyscallError(errno.EPERM)
        if size > self.size:
            available = self.fs.pages_available()
            if available is not None and _pages(size) - _pages(self.size) > available:
                raise SyscallError(errno.ENOSPC)
        self.fs.used_pages += _pages(size) - _pages(self.size)
        if self._memfd is None and size <= SMALL_FILE_MAX:
            small = self._small
            if size < len(small):
                del small[size:]
            else:
                small.extend(bytes(size - len(small)))
        else:
            with host_errors():
                os.ftruncate(self.host_fd, size)
        self.size = size
        self.touch()

    def fallocate(self, mode, offset, length):
        """tmpfs's fallocate: allocation (pages past the end are not kept: only the size is) and
        FALLOC_FL_PUNCH_HOLE, which zeroes the range; nothing else (EOPNOTSUPP)."""
        if mode & ~(FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE):
            raise SyscallError(errno.EOPNOTSUPP)
        end = offset + length
        if mode & FALLOC_FL_PUNCH_HOLE:
            if self.seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE):
                raise SyscallError(errno.EPERM)
            self._zero(offset, min(end, self.size))
            return
        if self.seals & F_SEAL_GROW and end > self.size:
            raise SyscallError(errno.EPERM)
        available = self.fs.pages_available()
        if end > MAX_MEM_FILE_SIZE or available is not None and _pages(end) - _pages(self.size) > available:
            raise SyscallError(errno.ENOSPC)
        if not mode & FALLOC_FL_KEEP_SIZE and end > self.size:
            self.truncate(end)

    def _zero(self, start, end):
        if start >= end:
            return
        if self._memfd is None:
            self._small[start:end] = bytes(end - start)
        else:
            with host_errors():
                write_zeros(self._memfd, start, end)
        self.touch()

    def dropped(self):
        """The last name went: the pages go back to the tmpfs. What an open description still
        writes is no longer charged to it (Linux charges until the last close)."""
        self.fs.used_pages -= _pages(self.size)
        super().dropped()

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

    def host_source(self, offset):
        """(memfd, bytes from `offset` to the end) for a large read copied straight into guest
        memory; None while the bytes are in the sentry."""
        node = self.node
        return None if node._memfd is None else (node._memfd, node.size - offset)

    def release(self):
        forget_file(self)

    def size(self):
        return self.node.content_size()

    def is_mappable(self):
        return True

    def truncate(self, size):
        self.node.truncate(size)

    def fallocate(self, mode, offset, length):
        self.node.fallocate(mode, offset, length)

    def stat(self):
        return self.node.stat()


class MemFifo(MemInode):
    """A named pipe (mkfifo(3)): its pipe lives as long as the inode."""

    def __init__(self, mode, uid=0, gid=0, fs=None):
        super().__init__(st.S_IFIFO | (mode & 0o7777), uid, gid, fs=fs)
        self.pipe = Pipe()

    def open(self, t, dentry, flags):
        return self.pipe.open_fifo(t, dentry, flags)


class MemSymlink(MemInode):
    def __init__(self, target, uid=0, gid=0, fs=None):
        super().__init__(st.S_IFLNK | 0o777, uid, gid, fs=fs)
        self.target = target

    def content_size(self):
        return len(self.target)

    def readlink(self, t):
        return self.target


class Children(dict):
    """A directory's name -> inode (or WHITEOUT) map that counts its subdirectories as it
    changes, so that stat's link count does not walk a large directory."""

    __slots__ = ("subdirectories",)

    def __init__(self):
        super().__init__()
        self.subdirectories = 0

    @staticmethod
    def _is_dir(inode):
        return inode is not None and inode is not WHITEOUT and inode.is_dir

    def __setitem__(self, name, inode):
        self.subdirectories += self._is_dir(inode) - self._is_dir(self.get(name))
        super().__setitem__(name, inode)

    def __delitem__(self, name):
        self.subdirectories -= self._is_dir(self.get(name))
        super().__delitem__(name)

    def pop(self, name, *default):
        present = name in self
        inode = super().pop(name, *default)
        if present:
            self.subdirectories -= self._is_dir(inode)
        return inode


class MemDir(MemInode):
    def __init__(self, mode=0o755, uid=0, gid=0, fs=None):
        super().__init__(st.S_IFDIR | (mode & 0o7777), uid, gid, fs=fs)
        self.children = Children()
        self.opaque = False  # overlay: hides the whole lower directory

    def stat(self):
        attrs = super().stat()
        attrs.nlink = 2 + self.children.subdirectories
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
        return self.add(name, MemFile(mode, uid, gid, fs=self.fs))

    def mkdir(self, name, mode, uid, gid):
        return self.add(name, MemDir(mode, uid, gid, fs=self.fs))

    def symlink(self, name, target, uid, gid):
        return self.add(name, MemSymlink(target, uid, gid, fs=self.fs))

    def mknod(self, name, mode, rdev, uid, gid):
        if st.S_ISFIFO(mode):
            return self.add(name, MemFifo(mode, uid, gid, fs=self.fs))
        if st.S_ISSOCK(mode):
            return self.add(name, MemInode(mode, uid, gid, fs=self.fs))  # a name for bind(2); opening it is ENXIO
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
        _unlinked(child)
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
            _unlinked(replaced)
        new_dir.children[new_name] = child
        self.touch()
        new_dir.touch()

    def exchange(self, name, child, new_dir, new_name, other):
        if not isinstance(new_dir, MemDir):
            raise SyscallError(errno.EXDEV)
        self.children[name], new_dir.children[new_name] = new_dir.children[new_name], self.children[name]
        self.touch()
        new_dir.touch()


def _unlinked(inode):
    inode.nlink -= 1
    if inode.nlink == 0:
        inode.dropped()
