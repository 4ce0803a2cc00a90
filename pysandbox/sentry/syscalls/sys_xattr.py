"""Extended attributes: getxattr(2), setxattr(2), listxattr(2), removexattr(2) and their l/f forms.

tmpfs and the overlay's upper layer keep user., trusted. and security. attributes in the
sentry (a copy-up takes the lower file's along). Host files have the host's, made by the
gofer in both modes: the sentry's host allowlist has no xattr calls, so in directfs mode
too they are requests to the gofer, carrying the sentry's fd of the file (docs/GOFER.md).
"""
import errno

from ..credentials import CAP_SYS_ADMIN, capable
from ..errors import SyscallError
from ..vfs import fsnotify
from ..vfs.resolve import AT_FDCWD
from ..vfs.stat import MAY_READ, MAY_WRITE, may_access

XATTR_NAME_MAX = 255
XATTR_SIZE_MAX = 65536
XATTR_LIST_MAX = 65536
XATTR_CREATE, XATTR_REPLACE = 1, 2


def getxattr(t, path, name, value, size):
    """getxattr(2)."""
    return _get(t, _by_path(t, path, follow=True), name, value, size)


def lgetxattr(t, path, name, value, size):
    """lgetxattr(2)."""
    return _get(t, _by_path(t, path, follow=False), name, value, size)


def fgetxattr(t, fd, name, value, size):
    """fgetxattr(2)."""
    return _get(t, _by_fd(t, fd), name, value, size)


def setxattr(t, path, name, value, size, flags):
    """setxattr(2)."""
    return _set(t, _by_path(t, path, follow=True), name, value, size, flags)


def lsetxattr(t, path, name, value, size, flags):
    """lsetxattr(2)."""
    return _set(t, _by_path(t, path, follow=False), name, value, size, flags)


def fsetxattr(t, fd, name, value, size, flags):
    """fsetxattr(2)."""
    return _set(t, _by_fd(t, fd), name, value, size, flags)


def listxattr(t, path, list, size):
    """listxattr(2)."""
    return _list(t, _by_path(t, path, follow=True), list, size)


def llistxattr(t, path, list, size):
    """llistxattr(2)."""
    return _list(t, _by_path(t, path, follow=False), list, size)


def flistxattr(t, fd, list, size):
    """flistxattr(2)."""
    return _list(t, _by_fd(t, fd), list, size)


def removexattr(t, path, name):
    """removexattr(2)."""
    return _remove(t, _by_path(t, path, follow=True), name)


def lremovexattr(t, path, name):
    """lremovexattr(2)."""
    return _remove(t, _by_path(t, path, follow=False), name)


def fremovexattr(t, fd, name):
    """fremovexattr(2)."""
    return _remove(t, _by_fd(t, fd), name)


# --- the work, shared by the three forms of each call ---

def _by_path(t, path, follow):
    return t.kernel.vfs.lookup(t, AT_FDCWD, t.copy_in_str(path), follow=follow)


def _by_fd(t, fd):
    file = t.fds.get(fd)
    if file.is_path_only or file.dentry is None:
        raise SyscallError(errno.EBADF)
    return file.dentry


def _name(t, name):
    text = t.copy_in_str(name, XATTR_NAME_MAX + 1, errno.ERANGE)
    if not text or len(text) > XATTR_NAME_MAX:
        raise SyscallError(errno.ERANGE)
    return text


def _is_root(t):
    """Whether the trusted.* names are the caller's to see and change (CAP_SYS_ADMIN)."""
    return capable(t, CAP_SYS_ADMIN)


def _get(t, dentry, name, value, size):
    inode = dentry.inode
    key = _name(t, name)
    if key.startswith(b"user."):
        may_access(inode.stat(), t.creds, MAY_READ)
    return _reply(t, value, size, inode.getxattr(key, _is_root(t)), XATTR_SIZE_MAX)


def _set(t, dentry, name, value, size, flags):
    inode = dentry.inode
    if flags & ~(XATTR_CREATE | XATTR_REPLACE):
        raise SyscallError(errno.EINVAL)
    key = _name(t, name)
    if size > XATTR_SIZE_MAX:
        raise SyscallError(errno.E2BIG)
    data = t.copy_in(value, size) if size else b""
    _check_can_change(t, inode, key)
    inode.setxattr(key, data, flags, _is_root(t))
    fsnotify.attributes_changed(dentry)
    return 0


def _remove(t, dentry, name):
    key = _name(t, name)
    _check_can_change(t, dentry.inode, key)
    dentry.inode.removexattr(key, _is_root(t))
    fsnotify.attributes_changed(dentry)
    return 0


def _check_can_change(t, inode, key):
    if inode.read_only:
        raise SyscallError(errno.EROFS)
    attrs = inode.stat()
    if key.startswith(b"user.") and (inode.is_regular or inode.is_dir):
        may_access(attrs, t.creds, MAY_WRITE)
    elif key.startswith(b"security.") and t.creds.fsuid != attrs.uid and not capable(t, CAP_SYS_ADMIN):
        raise SyscallError(errno.EPERM)


def _list(t, dentry, buffer, size):
    names = b"".join(name + b"\0" for name in dentry.inode.listxattr(_is_root(t)))
    return _reply(t, buffer, size, names, XATTR_LIST_MAX)


def _reply(t, buffer, size, data, limit):
    """The length of `data`, copied out unless size is 0 (a query); ERANGE when it does not fit."""
    if size == 0:
        return len(data)
    if len(data) > min(size, limit):
        raise SyscallError(errno.ERANGE)
    t.copy_out(buffer, data)
    return len(data)
