"""Path resolution restricted by openat2(2)'s RESOLVE_* flags."""
import errno

from ..errors import SyscallError
from .resolve import PathWalk

RESOLVE_NO_XDEV = 0x01
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_NO_SYMLINKS = 0x04
RESOLVE_BENEATH = 0x08
RESOLVE_IN_ROOT = 0x10
RESOLVE_CACHED = 0x20
VALID_RESOLVE_FLAGS = 0x3F


class ScopedWalk(PathWalk):
    """A PathWalk that refuses what `resolve` forbids.

    RESOLVE_BENEATH: the walk may not leave the starting directory: absolute
    paths, absolute symlinks and `..` above it fail with EXDEV.
    RESOLVE_IN_ROOT: the starting directory acts as `/` for this walk.
    Both refuse magic links (/proc/<pid>/fd/N) with EXDEV, as Linux does
    for scoped lookups. RESOLVE_NO_SYMLINKS and RESOLVE_NO_MAGICLINKS answer
    ELOOP; RESOLVE_NO_XDEV answers EXDEV when the walk would cross a mount.
    """

    def __init__(self, t, dirfd, resolve):
        super().__init__(t)
        self.resolve = resolve
        self.boundary = None
        if resolve & (RESOLVE_BENEATH | RESOLVE_IN_ROOT):
            self.boundary = PathWalk(t).start(dirfd, b".")  # dirfd itself, even for an absolute path
            if resolve & RESOLVE_IN_ROOT:
                self.root = self.boundary

    @property
    def scoped(self):
        return self.boundary is not None

    def start(self, dirfd, path):
        if self.resolve & RESOLVE_IN_ROOT:
            return self.boundary
        return super().start(dirfd, path)

    def walk_parent(self, start, path):
        if self.resolve & RESOLVE_BENEATH and path.startswith(b"/"):
            raise SyscallError(errno.EXDEV)
        return super().walk_parent(start, path)

    def child(self, directory, name):
        if name == b".." and self.resolve & RESOLVE_BENEATH and directory is self.boundary:
            raise SyscallError(errno.EXDEV)
        child = super().child(directory, name)
        if self.resolve & RESOLVE_NO_XDEV and _crosses_mount(directory, name, child):
            raise SyscallError(errno.EXDEV)
        return child

    def permit_link(self, link):
        if self.resolve & RESOLVE_NO_SYMLINKS:
            raise SyscallError(errno.ELOOP)
        if self.resolve & (RESOLVE_NO_MAGICLINKS | RESOLVE_BENEATH | RESOLVE_IN_ROOT) \
                and link.inode.magic_link_target(self.t) is not None:
            raise SyscallError(errno.ELOOP if self.resolve & RESOLVE_NO_MAGICLINKS else errno.EXDEV)

    def follow_link(self, directory, link):
        self.permit_link(link)
        mount_of = self.t.kernel.vfs.mount_of
        if self.resolve & RESOLVE_NO_XDEV and link.inode.readlink(self.t).startswith(b"/") \
                and mount_of(directory) is not mount_of(self.root):
            raise SyscallError(errno.EXDEV)
        return super().follow_link(directory, link)


def _is_mount_root(dentry):
    parent = dentry.parent
    return parent is None or parent.mounts.get(dentry.name) is dentry


def _crosses_mount(directory, name, child):
    if name == b"..":
        return child is not directory and _is_mount_root(directory)
    return name in directory.mounts
