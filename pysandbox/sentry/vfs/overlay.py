"""An overlay of an in-memory upper layer on a read-only lower layer (the host's /).

Every change lands in the upper layer and is thrown away when the sandbox
exits: modifying a lower file first copies it up, removing a lower entry
leaves a WHITEOUT in the upper directory, and a directory created over a
whiteout is opaque so the lower one stays hidden. Renaming a directory
that has lower contents answers EXDEV, as overlayfs does without
redirect_dir; mv(1) then copies.
"""
import errno
import os
import stat as st

from ..errors import SyscallError
from .dirfile import DirFile
from .inode import Inode
from .memfs import WHITEOUT, XATTR_NAMESPACES, MemDir, MemFifo, MemFile, MemSymlink

OVERLAYFS_SUPER_MAGIC = 0x794C7630
_WRITE_OPEN_FLAGS = os.O_ACCMODE | os.O_TRUNC


class OverlayInode(Inode):
    def __init__(self, parent, name, upper, lower):
        self.parent = parent  # OverlayInode, None for the root
        self.name = name
        self.upper = upper    # MemInode or None
        self.lower = lower    # lower-layer Inode or None
        self.mode = (upper or lower).mode

    @classmethod
    def root(cls, lower_root):
        upper = MemDir()
        upper.copy_attributes_from(lower_root.stat())
        upper.mode = lower_root.mode
        return cls(None, b"/", upper, lower_root)

    @property
    def top(self):
        return self.upper or self.lower

    def stat(self):
        return self.top.stat()

    def statfs(self):
        return (OVERLAYFS_SUPER_MAGIC,) + self.lower.statfs()[1:] if self.lower else self.upper.statfs()

    def readlink(self, t):
        return self.top.readlink(t)

    def open(self, t, dentry, flags):
        if self.is_dir:
            return DirFile(flags, dentry)
        if flags & _WRITE_OPEN_FLAGS != os.O_RDONLY and self.is_regular:
            self.copy_up()  # a FIFO or device is opened where it is: there is no data to copy
        return self.top.open(t, dentry, flags)

    def setattr(self, **changes):
        self.copy_up()
        self.upper.setattr(**changes)

    # --- extended attributes: kept in the upper layer; before a copy-up, the lower layer's show ---

    def getxattr(self, name, creds_root):
        if self.upper is not None:
            return self.upper.getxattr(name, creds_root)
        if not name.startswith(XATTR_NAMESPACES):
            raise SyscallError(errno.EOPNOTSUPP)
        try:
            return self.lower.getxattr(name, creds_root)
        except SyscallError as error:
            if error.errno == errno.EOPNOTSUPP:  # a lower layer without xattrs has none to show
                raise SyscallError(errno.ENODATA) from None
            raise

    def listxattr(self, creds_root):
        return (self.upper or self.lower).listxattr(creds_root)

    def setxattr(self, name, value, flags, creds_root):
        self.copy_up()
        self.upper.setxattr(name, value, flags, creds_root)

    def removexattr(self, name, creds_root):
        self.copy_up()
        self.upper.removexattr(name, creds_root)

    # --- copy-up ---

    def copy_up(self):
        """Make this inode (and its ancestors) exist in the upper layer."""
        if self.upper is not None:
            return
        self.parent.copy_up()
        existing = self.parent.upper.children.get(self.name)
        if existing is not None and existing is not WHITEOUT:
            self.upper = existing  # copied up through another name of this path
            return
        attrs = self.lower.stat()
        if self.is_dir:
            upper = MemDir(attrs.mode)
        elif self.is_symlink:
            upper = MemSymlink(self.lower.readlink(None))
        elif self.is_regular:
            upper = MemFile(attrs.mode, data=_read_all(self.lower))
        elif st.S_ISFIFO(self.mode):
            upper = MemFifo(attrs.mode)
        else:
            raise SyscallError(errno.EPERM)
        upper.copy_attributes_from(attrs)
        xattrs = {}
        for key in self.lower.listxattr(True):  # as overlayfs's copy-up, every namespace the lower has
            try:
                xattrs[key] = self.lower.getxattr(key, True)
            except SyscallError:
                pass
        upper.xattrs = xattrs or None
        self.parent.upper.children[self.name] = upper
        self.upper = upper

    # --- directories ---

    def lookup(self, name):
        upper_child = self.upper.children.get(name) if self.upper is not None else None
        if upper_child is WHITEOUT:
            raise SyscallError(errno.ENOENT)
        lower_child = None
        if upper_child is None or upper_child.is_dir and not upper_child.opaque:
            lower_child = self._lower_child(name)
            if upper_child is not None and lower_child is not None and not lower_child.is_dir:
                lower_child = None
        if upper_child is None and lower_child is None:
            raise SyscallError(errno.ENOENT)
        return OverlayInode(self, name, upper_child, lower_child)

    def _lower_child(self, name):
        """The lower layer's entry `name` if this directory shows it, else None."""
        if not self._lower_visible():
            return None
        try:
            return self.lower.lookup(name)
        except SyscallError as error:
            if error.errno == errno.ENOENT:
                return None
            raise

    def _lower_visible(self):
        return self.lower is not None and (self.upper is None or not self.upper.opaque)

    def list(self):
        entries = {}
        if self._lower_visible():
            entries = {entry.name: entry for entry in self.lower.list()}
        if self.upper is not None:
            for name, child in self.upper.children.items():
                if child is WHITEOUT:
                    entries.pop(name, None)
            entries.update((entry.name, entry) for entry in self.upper.list())
        return list(entries.values())

    def _lower_has(self, name):
        return self._lower_child(name) is not None

    def _add(self, name, make):
        """Create an upper entry `name` with make(upper_dir); opaque if it replaces a whiteout."""
        self.copy_up()
        replaced_whiteout = self.upper.children.get(name) is WHITEOUT
        if not replaced_whiteout and self._lower_has(name):
            raise SyscallError(errno.EEXIST)
        created = make(self.upper)
        if replaced_whiteout and created.is_dir:
            created.opaque = True
        return OverlayInode(self, name, created, None)

    def create(self, name, mode, uid, gid):
        return self._add(name, lambda upper: upper.create(name, mode, uid, gid))

    def mkdir(self, name, mode, uid, gid):
        return self._add(name, lambda upper: upper.mkdir(name, mode, uid, gid))

    def symlink(self, name, target, uid, gid):
        return self._add(name, lambda upper: upper.symlink(name, target, uid, gid))

    def mknod(self, name, mode, rdev, uid, gid):
        return self._add(name, lambda upper: upper.mknod(name, mode, rdev, uid, gid))

    def link(self, name, inode):
        inode.copy_up()
        self._add(name, lambda upper: (upper.link(name, inode.upper), inode.upper)[1])

    def _remove(self, name, child):
        """Take `name` out of the merged view, leaving a whiteout if the lower layer has it."""
        self.copy_up()
        if child.upper is not None:
            self.upper.remove(name)
        if child.lower is not None or self._lower_has(name):
            self.upper.children[name] = WHITEOUT
        self.upper.touch()

    def unlink(self, name):
        self._remove(name, self.lookup(name))

    def rmdir(self, name):
        child = self.lookup(name)
        if child.list():
            raise SyscallError(errno.ENOTEMPTY)
        self._remove(name, child)

    def rename(self, name, child, new_dir, new_name, replaced):
        if not isinstance(new_dir, OverlayInode):
            raise SyscallError(errno.EXDEV)
        if child.is_dir and child.lower is not None:
            raise SyscallError(errno.EXDEV)
        child.copy_up()
        new_dir.copy_up()
        if replaced is not None:
            new_dir._remove(new_name, replaced)
        new_dir.upper.children[new_name] = child.upper
        if child.is_dir:
            child.upper.opaque = True  # it must not show a lower directory of the same name
        self.upper.children.pop(name)
        if child.lower is not None or self._lower_has(name):
            self.upper.children[name] = WHITEOUT
        self.upper.touch()
        new_dir.upper.touch()

    def exchange(self, name, child, new_dir, new_name, other):
        if not isinstance(new_dir, OverlayInode):
            raise SyscallError(errno.EXDEV)
        for inode in (child, other):
            if inode.is_dir and inode.lower is not None:
                raise SyscallError(errno.EXDEV)
            inode.copy_up()
        new_dir.copy_up()
        self.upper.children[name], new_dir.upper.children[new_name] = other.upper, child.upper
        for inode in (child, other):
            if inode.is_dir:
                inode.upper.opaque = True
        self.upper.touch()
        new_dir.upper.touch()

    def moved_to(self, new_parent, new_name):
        self.parent, self.name = new_parent, new_name
        self.lower = None


def _read_all(inode):
    file = inode.open(None, None, os.O_RDONLY)
    try:
        chunks = []
        offset = 0
        while chunk := file.pread(offset, 1 << 20):
            chunks.append(chunk)
            offset += len(chunk)
        return b"".join(chunks)
    finally:
        file.decref()
