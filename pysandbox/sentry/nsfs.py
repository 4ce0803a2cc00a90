"""nsfs: what /proc/<pid>/ns/<kind> reads as and opens for setns(2), and the namespaces a task
holds apart from its mount namespace (UTS and IPC; see utsns.py and sysv_ipc.py; mount
namespaces are vfs/mountns.py's)."""
import os

from .vfs.inode import Dentry
from .weakrefs import WeakKeyMap

# The nsfs inode numbers of Linux's initial namespaces (PROC_UTS_INIT_INO, PROC_IPC_INIT_INO).
INITIAL_UTS_INO, INITIAL_IPC_INO = 0xEFFFFFFE, 0xEFFFFFFF
NSFS_DEV = os.makedev(0, 4)  # nsfs's device on Linux
NSFS_MAGIC = 0x6E736673


class NamespaceInode:
    """What /proc/<pid>/ns/<kind> opens: a handle on a namespace (of any kind) for setns(2)."""

    cache_children = False
    is_dir = is_symlink = is_regular = False
    read_only = True
    mode = 0o100444

    def __init__(self, namespace):
        self.namespace = namespace

    def stat(self):
        from .vfs.stat import StatResult
        return StatResult(dev=NSFS_DEV, ino=self.namespace.ino, mode=self.mode, nlink=1, uid=0, gid=0,
                          atime_ns=0, mtime_ns=0, ctime_ns=0)

    def open(self, t, dentry, flags):
        from .vfs.file import File
        return File(flags, dentry)

    def magic_link_target(self, t):
        return None

    def statfs(self):
        return (NSFS_MAGIC, 4096, 0, 0, 0, 0, 0, 255, 4096, 0)


class Namespace:
    """One namespace of a kind (`kind`: b"uts", b"ipc"), known by its nsfs inode number."""

    kind = b""

    def __init__(self, ino):
        self.ino = ino
        self._ns_file = None

    def link_target(self):
        """What readlink(2) of /proc/<pid>/ns/<kind> gives: "uts:[4026531838]"."""
        return b"%s:[%d]" % (self.kind, self.ino)

    def ns_file_dentry(self):
        """The dentry the link leads to (one per namespace, as nsfs has)."""
        if self._ns_file is None:
            self._ns_file = Dentry(NamespaceInode(self), None, self.link_target())
        return self._ns_file


def new_inode_number(t):
    """An nsfs inode number for a namespace `t` makes, from the sandbox's one sequence."""
    return next(t.fs.mntns.ids.namespace_inodes)


class InitialNamespaces:
    """The sandbox's first namespace of one kind, made on first use by make(kernel)."""

    def __init__(self, make):
        self._make = make
        self._by_kernel = WeakKeyMap()

    def of(self, kernel):
        try:
            found = self._by_kernel.get(kernel)
        except TypeError:
            return self._make(kernel)   # a test's stand-in kernel that can't be referenced weakly
        if found is None:
            found = self._by_kernel[kernel] = self._make(kernel)
        return found
