"""File attributes: StatResult, the x86_64 `struct stat` / `struct statx` layouts, permission checks."""
import errno
import os
import stat as st
import struct
from collections import namedtuple

from ..credentials import CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
from ..errors import SyscallError

# x86_64 struct stat (144 bytes).
_STAT = struct.Struct("<QQQIIIiQqqq" "qqqqqq" "24x")
# struct statx (256 bytes): the header up to stx_dev_minor, then stx_mnt_id and padding.
_STATX_HEAD = struct.Struct("<IIQIIIH2xQQQQ")
_STATX_TIME = struct.Struct("<qIi")
_STATX_DEVS = struct.Struct("<IIIIQ")
STATX_SIZE = 256
_NS = 1_000_000_000

STATX_TYPE = 0x1
STATX_MODE = 0x2
STATX_NLINK = 0x4
STATX_UID = 0x8
STATX_GID = 0x10
STATX_ATIME = 0x20
STATX_MTIME = 0x40
STATX_CTIME = 0x80
STATX_INO = 0x100
STATX_SIZE_MASK = 0x200
STATX_BLOCKS = 0x400
STATX_BASIC_STATS = 0x7FF
STATX__RESERVED = 0x80000000

# d_type values of linux_dirent64.
DT_UNKNOWN, DT_FIFO, DT_CHR, DT_DIR, DT_BLK, DT_REG, DT_LNK, DT_SOCK = 0, 1, 2, 4, 6, 8, 10, 12

_DT_BY_FORMAT = {
    st.S_IFIFO: DT_FIFO, st.S_IFCHR: DT_CHR, st.S_IFDIR: DT_DIR, st.S_IFBLK: DT_BLK,
    st.S_IFREG: DT_REG, st.S_IFLNK: DT_LNK, st.S_IFSOCK: DT_SOCK,
}

BLOCK_SIZE = 4096
NAME_MAX = 255
PATH_MAX = 4096

# One directory entry as getdents64(2) reports it; type is a DT_* value.
DirEntry = namedtuple("DirEntry", "name ino type")


def dirent_type(mode):
    return _DT_BY_FORMAT.get(st.S_IFMT(mode), DT_UNKNOWN)


def makedev(major, minor):
    return os.makedev(major, minor)


class StatResult:
    """What stat(2) reports about one inode (times in nanoseconds)."""
    __slots__ = ("dev", "ino", "mode", "nlink", "uid", "gid", "rdev", "size", "blksize", "blocks",
                 "atime_ns", "mtime_ns", "ctime_ns")

    def __init__(self, dev, ino, mode, nlink=1, uid=0, gid=0, rdev=0, size=0, blksize=BLOCK_SIZE,
                 blocks=0, atime_ns=0, mtime_ns=0, ctime_ns=0):
        self.dev, self.ino, self.mode, self.nlink = dev, ino, mode, nlink
        self.uid, self.gid, self.rdev = uid, gid, rdev
        self.size, self.blksize, self.blocks = size, blksize, blocks
        self.atime_ns, self.mtime_ns, self.ctime_ns = atime_ns, mtime_ns, ctime_ns

    def _fields(self):
        return tuple(getattr(self, name) for name in self.__slots__)

    def __eq__(self, other):
        return self._fields() == other._fields() if type(other) is StatResult else NotImplemented

    __hash__ = None  # mutable

    def __repr__(self):
        return "StatResult(" + ", ".join(f"{n}={getattr(self, n)!r}" for n in self.__slots__) + ")"

    @classmethod
    def from_host(cls, s):
        return cls(s.st_dev, s.st_ino, s.st_mode, s.st_nlink, s.st_uid, s.st_gid, s.st_rdev, s.st_size,
                   s.st_blksize, s.st_blocks, s.st_atime_ns, s.st_mtime_ns, s.st_ctime_ns)

    def copy(self, **changes):
        return StatResult(**dict(zip(self.__slots__, self._fields()), **changes))

    @property
    def format(self):
        return st.S_IFMT(self.mode)

    def pack_stat(self):
        """The 144-byte x86_64 `struct stat`."""
        atime, mtime, ctime = self.atime_ns, self.mtime_ns, self.ctime_ns
        return _STAT.pack(
            self.dev, self.ino, self.nlink, self.mode, self.uid, self.gid, 0, self.rdev,
            self.size, self.blksize, self.blocks,
            atime // _NS, atime % _NS, mtime // _NS, mtime % _NS, ctime // _NS, ctime % _NS)

    def pack_statx(self):
        """The 256-byte `struct statx`, filling STATX_BASIC_STATS."""
        head = _STATX_HEAD.pack(
            STATX_BASIC_STATS, self.blksize, 0, self.nlink, self.uid, self.gid,
            self.mode & 0xFFFF, self.ino, self.size, self.blocks, 0)
        times = b"".join(_STATX_TIME.pack(*_split_ns(ns), 0) for ns in
                         (self.atime_ns, 0, self.ctime_ns, self.mtime_ns))  # atime, btime, ctime, mtime
        devs = _STATX_DEVS.pack(os.major(self.rdev), os.minor(self.rdev),
                                os.major(self.dev), os.minor(self.dev), 0)
        return (head + times + devs).ljust(STATX_SIZE, b"\0")


def _split_ns(ns):
    return divmod(ns, 1_000_000_000)


def blocks_for(size):
    """st_blocks (512-byte units) of a file of `size` bytes held in whole pages."""
    return (size + BLOCK_SIZE - 1) // BLOCK_SIZE * (BLOCK_SIZE // 512)


# Access bits, as in access(2).
MAY_EXEC, MAY_WRITE, MAY_READ = 1, 2, 4


def may_access(attrs, creds, mask):
    """Unix permission check of `mask` (MAY_*) on `attrs` for `creds`; raises EACCES.

    Past the mode bits (generic_permission()): CAP_DAC_OVERRIDE grants reading and writing,
    and executing when some execute bit is set or the file is a directory;
    CAP_DAC_READ_SEARCH grants reading, and searching directories.
    """
    uid, gid, capabilities = creds.fsuid, creds.fsgid, creds.effective
    if uid == attrs.uid:
        granted = (attrs.mode >> 6) & 7
    elif gid == attrs.gid or attrs.gid in creds.groups:
        granted = (attrs.mode >> 3) & 7
    else:
        granted = attrs.mode & 7
    if not mask & ~granted:
        return
    is_dir = attrs.format == st.S_IFDIR
    if capabilities & DAC_OVERRIDE and (not mask & MAY_EXEC or is_dir or attrs.mode & 0o111):
        return
    if capabilities & DAC_READ_SEARCH and not mask & MAY_WRITE and (is_dir or not mask & MAY_EXEC):
        return
    raise SyscallError(errno.EACCES)


DAC_OVERRIDE = 1 << CAP_DAC_OVERRIDE
DAC_READ_SEARCH = 1 << CAP_DAC_READ_SEARCH
# Either one lets a task search any directory: the path walk need not stat them.
SEARCH_ANY_DIRECTORY = DAC_OVERRIDE | DAC_READ_SEARCH
