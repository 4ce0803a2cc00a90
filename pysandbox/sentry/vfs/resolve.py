"""Path resolution (path_resolution(7)), done by the sentry one component at a time.

`..` never climbs above the task's root, absolute symlink targets restart
there, and a symlink's relative target is resolved from the directory that
holds it. The host is only ever asked about single names (see hostfs).
"""
import errno
import stat as st

from ..errors import SyscallError
from .inode import NAME_MAX, PATH_MAX
from .stat import MAY_EXEC, SEARCH_ANY_DIRECTORY, may_access

AT_FDCWD = -100
_SLASH = ord("/")
_S_IFMT, _S_IFDIR, _S_IFLNK = 0o170000, st.S_IFDIR, st.S_IFLNK
MAX_SYMLINKS = 40


class PathWalk:
    """One resolution on behalf of task `t`; symlinks followed are counted across its steps."""

    def __init__(self, t):
        self.t = t
        self.root = t.fs.root
        self.creds = t.creds
        self.links = 0

    def start(self, dirfd, path):
        """Where a relative `path` starts: the cwd, or the directory open as `dirfd`."""
        if path.startswith(b"/") or dirfd == AT_FDCWD:
            return self.t.fs.cwd
        dentry = self.t.fds.get(dirfd).dentry
        if path and (dentry is None or not dentry.inode.is_dir):
            raise SyscallError(errno.ENOTDIR)
        return dentry

    def walk(self, start, path, follow=True):
        """The dentry `path` names; the last component is followed if it is a symlink and `follow`."""
        parent, name, trailing_slash = self.walk_parent(start, path)
        if name is None:
            return parent
        return self.step(parent, name, follow, must_be_dir=trailing_slash)

    def walk_parent(self, start, path):
        """(directory, last component, trailing slash) for a path whose last component may not exist.

        The last component is None when the path is just slashes (the root).
        """
        if not path:
            raise SyscallError(errno.ENOENT)
        if len(path) >= PATH_MAX:
            raise SyscallError(errno.ENAMETOOLONG)
        current = self.root if path[0] == _SLASH else start
        trimmed = path.strip(b"/")
        if not trimmed:
            return current, None, True
        components = trimmed.split(b"/")
        if b"//" in trimmed:
            components = [component for component in components if component]
        last = components.pop()
        child = self.child
        for name in components:
            found = child(current, name)
            if found.inode.mode & _S_IFMT == _S_IFLNK:
                found = self.follow_link(current, found)
            current = found
        if current.inode.mode & _S_IFMT != _S_IFDIR:
            raise SyscallError(errno.ENOTDIR)
        return current, last, path[-1] == _SLASH

    def step(self, directory, name, follow, must_be_dir=False):
        """Look `name` up in `directory`, following a symlink there if `follow` or `must_be_dir`."""
        child = self.child(directory, name)
        if child.inode.is_symlink and (follow or must_be_dir):
            child = self.follow_link(directory, child)
        if must_be_dir and not child.inode.is_dir:
            raise SyscallError(errno.ENOTDIR)
        return child

    def child(self, directory, name):
        """`name` in `directory` without following it: search permission, `.` and `..` handled."""
        inode = directory.inode
        if inode.mode & _S_IFMT != _S_IFDIR:
            raise SyscallError(errno.ENOTDIR)
        if not self.creds.effective & SEARCH_ANY_DIRECTORY:
            may_access(inode.stat(), self.creds, MAY_EXEC)
        if name[:1] == b".":
            if name == b".":
                return directory
            if name == b"..":
                if directory is self.root or directory.parent is None:
                    return directory
                return directory.parent
        if len(name) > NAME_MAX:
            raise SyscallError(errno.ENAMETOOLONG)
        return directory.lookup(name)

    def permit_link(self, link):
        """Raise if symlink `link` may not be followed (openat2's RESOLVE_* flags: ScopedWalk)."""

    def follow_link(self, directory, link):
        """Where symlink `link` (found in `directory`) leads."""
        self.links += 1
        if self.links > MAX_SYMLINKS:
            raise SyscallError(errno.ELOOP)
        jump = link.inode.magic_link_target(self.t)
        if jump is not None:
            return jump
        target = link.inode.readlink(self.t)
        if not target:
            raise SyscallError(errno.ENOENT)
        return self.walk(directory, target, follow=True)

    def find(self, directory, name):
        """child(), or None when there is no such entry."""
        try:
            return self.child(directory, name)
        except SyscallError as error:
            if error.errno == errno.ENOENT:
                return None
            raise
