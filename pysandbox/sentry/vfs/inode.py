"""Inode (one filesystem object) and Dentry (one name of it in the sandbox's tree)."""
import collections
import errno
import itertools
import stat as st
import time

from ..errors import SyscallError
from ..weakrefs import ref
from .stat import NAME_MAX, PATH_MAX, DirEntry, dirent_type  # noqa: F401 (NAME_MAX, PATH_MAX, DirEntry: the VFS's)

_S_IFMT, _S_IFDIR, _S_IFLNK, _S_IFREG = st.S_IFMT(0o170000), st.S_IFDIR, st.S_IFLNK, st.S_IFREG

_synthetic_dev_minors = itertools.count(0x20)


def new_synthetic_dev():
    """A fresh st_dev for a filesystem the sentry makes up (tmpfs, proc, pipes)."""
    return next(_synthetic_dev_minors)


def now_ns():
    return time.time_ns()


class Inode:
    """A file, directory, symlink or device of some filesystem.

    Directory operations take single path components that path resolution
    has already checked (never b"", b".", b".." nor containing b"/").
    Operations a kind of inode does not support answer as Linux does.
    """

    mode = 0  # S_IFMT | permission bits; subclasses keep it current
    # Whether a directory's children may be cached as dentries; not for generated ones (/proc).
    cache_children = True

    # Bit tests rather than st.S_IS*(): path resolution asks these for every component.
    @property
    def is_dir(self):
        return self.mode & _S_IFMT == _S_IFDIR

    @property
    def is_symlink(self):
        return self.mode & _S_IFMT == _S_IFLNK

    @property
    def is_regular(self):
        return self.mode & _S_IFMT == _S_IFREG

    def stat(self):
        raise NotImplementedError

    def open(self, t, dentry, flags):
        """A new File for this inode (permission checks are the caller's)."""
        raise SyscallError(errno.ENXIO)

    def readlink(self, t):
        raise SyscallError(errno.EINVAL)

    def magic_link_target(self, t):
        """For /proc/<pid>/fd/N-style links: the Dentry they jump to, else None."""
        return None

    def setattr(self, mode=None, uid=None, gid=None, size=None, atime_ns=None, mtime_ns=None):
        raise SyscallError(errno.EPERM)

    # --- extended attributes: a filesystem without them answers EOPNOTSUPP ---

    def getxattr(self, name, creds_root):
        raise SyscallError(errno.EOPNOTSUPP)

    def listxattr(self, creds_root):
        return []

    def setxattr(self, name, value, flags, creds_root):
        raise SyscallError(errno.EOPNOTSUPP)

    def removexattr(self, name, creds_root):
        raise SyscallError(errno.EOPNOTSUPP)

    def statfs(self):
        """(f_type, f_bsize, f_blocks, f_bfree, f_bavail, f_files, f_ffree, f_namelen, f_frsize, f_flags)."""
        return (0x01021994, 4096, 0, 0, 0, 0, 0, NAME_MAX, 4096, 0)  # TMPFS_MAGIC

    # --- directories ---

    def _not_a_directory(self, *args, **kwargs):
        raise SyscallError(errno.ENOTDIR)

    lookup = list = create = mkdir = mknod = symlink = link = unlink = rmdir = _not_a_directory

    def rename(self, name, child, new_dir, new_name, replaced):
        """Move child `name` (inode `child`) to `new_dir`/`new_name`, replacing inode `replaced` if not None."""
        raise SyscallError(errno.ENOTDIR)

    def exchange(self, name, child, new_dir, new_name, other):
        """RENAME_EXCHANGE of child `name` (inode `child`) and `new_dir`/`new_name` (inode `other`)."""
        raise SyscallError(errno.EINVAL)

    def moved_to(self, new_parent, new_name):
        """Tell an inode that remembers its own name that it was renamed."""

    @property
    def read_only(self):
        return False


class Dentry:
    """A name in the sandbox's directory tree.

    Dentries are cached weakly per directory, so while anything holds one
    (a cwd, an open file) every lookup of that path returns the same object.
    `..` follows `parent`; a mount root's parent is the directory holding
    the mount point, so `..` crosses mounts without a mount table walk.
    """

    __slots__ = ("inode", "parent", "name", "_children", "mounts", "__weakref__")

    # Recently used dentries are kept alive so that their inodes (and host fds) are reused.
    _recent = collections.deque(maxlen=256)

    def __init__(self, inode, parent=None, name=b"/"):
        self.inode = inode
        self.parent = parent
        self.name = name
        self._children = None
        self.mounts = {}

    def lookup(self, name):
        """The child named `name` (a mount root if something is mounted there)."""
        if self.mounts:
            mounted = self.mounts.get(name)
            if mounted is not None:
                return mounted
        children = self._children
        if children is not None:
            found = children.get(name)
            child = found() if found is not None else None
            if child is not None:
                self._recent.append(child)
                return child
        child = Dentry(self.inode.lookup(name), self, name)
        if self.inode.cache_children:
            self._remember(name, child)
            self._recent.append(child)
        return child

    def _remember(self, name, child):
        """Cache `child` as `name` until nothing else holds it (a plain dict of weak references:
        cheaper to read on every lookup than a WeakValueDictionary)."""
        children = self._children
        if children is None:
            children = self._children = {}
        parent_ref = ref(self)

        def gone(dead):
            parent = parent_ref()
            if parent is not None and parent._children.get(name) is dead:
                del parent._children[name]

        children[name] = ref(child, gone)

    def cached_child(self, name):
        found = self._children.get(name) if self._children is not None else None
        return found() if found is not None else None

    def forget(self, name):
        """Drop the cached child `name` after it was removed or replaced."""
        if self._children is not None:
            self._children.pop(name, None)

    def move_to(self, new_parent, new_name):
        """d_move: this dentry now lives at new_parent/new_name."""
        self.parent.forget(self.name)
        new_parent.forget(new_name)
        self.parent, self.name = new_parent, new_name
        new_parent._remember(new_name, self)

    def list(self):
        """The directory's entries, including mount points that hide nothing."""
        entries = self.inode.list()
        if self.mounts:
            names = {entry.name for entry in entries}
            for name, root in self.mounts.items():
                if name not in names:
                    entries.append(DirEntry(name, root.inode.stat().ino, dirent_type(root.inode.mode)))
        return entries

    def path(self, root=None):
        """The absolute path of this dentry, as seen from `root` (the VFS root by default)."""
        names = []
        dentry = self
        while dentry is not root and dentry.parent is not None:
            names.append(dentry.name)
            dentry = dentry.parent
        if not names and dentry.name != b"/":
            return dentry.name  # an anonymous object such as pipe:[N]
        return b"/" + b"/".join(reversed(names))

    def is_ancestor_of(self, other):
        while other is not None:
            if other is self:
                return True
            other = other.parent
        return False

    def __repr__(self):
        return f"<Dentry {self.name!r} {type(self.inode).__name__}>"
