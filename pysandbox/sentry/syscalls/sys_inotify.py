"""inotify_init(2), inotify_init1(2), inotify_add_watch(2), inotify_rm_watch(2)."""
import errno
import os

from ..errors import SyscallError
from ..vfs.fsnotify import IN_ALL_EVENTS, IN_DONT_FOLLOW, IN_MASK_ADD, IN_MASK_CREATE, VALID_WATCH_FLAGS
from ..vfs.inotify import InotifyFile
from ..vfs.resolve import AT_FDCWD
from ..vfs.stat import MAY_READ, may_access

IN_CLOEXEC, IN_NONBLOCK = os.O_CLOEXEC, os.O_NONBLOCK


def inotify_init(t):
    """inotify_init(2)."""
    return inotify_init1(t, 0)


def inotify_init1(t, flags):
    """inotify_init1(2)."""
    if flags & ~(IN_CLOEXEC | IN_NONBLOCK):
        raise SyscallError(errno.EINVAL)
    return t.fds.install(InotifyFile(flags & IN_NONBLOCK), cloexec=bool(flags & IN_CLOEXEC))


def inotify_add_watch(t, fd, pathname, mask):
    """inotify_add_watch(2)."""
    if not mask & IN_ALL_EVENTS or mask & ~VALID_WATCH_FLAGS \
            or mask & IN_MASK_ADD and mask & IN_MASK_CREATE:
        raise SyscallError(errno.EINVAL)
    instance = t.fds.get_of_kind(fd, InotifyFile)
    dentry = t.kernel.vfs.lookup(t, AT_FDCWD, t.copy_in_str(pathname), follow=not mask & IN_DONT_FOLLOW)
    attrs = dentry.inode.stat()
    may_access(attrs, t.creds, MAY_READ)
    return instance.add_watch((attrs.dev, attrs.ino), mask, dentry.inode.is_dir)


def inotify_rm_watch(t, fd, wd):
    """inotify_rm_watch(2)."""
    t.fds.get_of_kind(fd, InotifyFile).remove_watch(wd)
    return 0
