"""The host operations behind a host filesystem, one name at a time.

Every call names a file as (directory fd, single component) and is made with
O_NOFOLLOW or AT_SYMLINK_NOFOLLOW, so the host never resolves a path and never
follows a symlink: whatever the names and links inside the tree say, nothing
outside the directory fds this process was given can be reached. The gofer
serves these operations over its socket; in directfs mode the sentry makes
them itself on directory fds the gofer donated, all but the xattr calls
(HostXattrs), which stay with the gofer.
"""
import errno
import os
import stat as st
import struct

from pysandbox.security import hostproc
from pysandbox.sentry.errors import SyscallError, host_errors
from pysandbox.sentry.vfs.stat import NAME_MAX, DirEntry, StatResult, dirent_type

OPEN_PATH = os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC
_OPEN_FILE = os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NOCTTY
# Open flags passed on to the host; O_APPEND and O_NONBLOCK are the sentry File's business.
HOST_OPEN_FLAGS = os.O_ACCMODE | os.O_TRUNC | os.O_SYNC | os.O_DSYNC
AT_REMOVEDIR = 0x200
AT_RECURSIVE = 0x8000
RENAME_NOREPLACE, RENAME_EXCHANGE = 1, 2


def check_name(name):
    """A single path component, as the host may be asked about it."""
    if not isinstance(name, bytes) or not name or name in (b".", b"..") or b"/" in name or b"\0" in name:
        raise SyscallError(errno.EINVAL)
    if len(name) > NAME_MAX:
        raise SyscallError(errno.ENAMETOOLONG)


def _open_root_tree(path, read_only):
    """An O_PATH fd of configured host path `path`. Where the host allows (open_tree(2) needs
    CAP_SYS_ADMIN, which the gofer has until it serves), it is the root of a detached copy of the
    path's mount tree, so `..` from it stays at it: whoever holds the fd (the gofer, or the sentry
    in directfs mode) reaches that tree and nothing above it. The copy of a `read_only` root is a
    read-only mount, so the host refuses changes whoever asks. The host's / needs no copy: `..`
    of a mount namespace's root is the root itself."""
    if os.path.normpath(path) not in ("/", b"/"):
        from pysandbox.security.imports import (AT_EMPTY_PATH, AT_FDCWD, MOUNT_ATTR_RDONLY, OPEN_TREE_CLOEXEC,
                                                OPEN_TREE_CLONE, SYS_MOUNT_SETATTR, SYS_OPEN_TREE)
        from pysandbox.security.seccomp import host_syscall
        try:
            fd = host_syscall(SYS_OPEN_TREE, AT_FDCWD, os.fsencode(path) + b"\0",
                              OPEN_TREE_CLONE | AT_RECURSIVE | OPEN_TREE_CLOEXEC)
        except OSError as error:
            if error.errno not in (errno.EPERM, errno.ENOSYS):
                raise
        else:
            if read_only:
                attributes = struct.pack("=4Q", MOUNT_ATTR_RDONLY, 0, 0, 0)      # struct mount_attr
                try:
                    host_syscall(SYS_MOUNT_SETATTR, fd, b"\0", AT_EMPTY_PATH | AT_RECURSIVE, attributes,
                                 len(attributes))
                except OSError:
                    os.close(fd)
                    raise
            return fd
    return os.open(path, os.O_PATH | os.O_CLOEXEC)


class HostXattrs:
    """Extended attributes of `name` in directory fd `dir_fd`, or with name b"." of the file
    `dir_fd` itself (a directory, or the file of a file bind mount), served by the gofer alone.
    A name is resolved under the directory's /proc/self/fd link with the l*xattr calls: the
    magic link to the fd held, then one component, never followed; b"." is the magic link alone."""

    @staticmethod
    def _target(fd, name):
        """(path, follow_symlinks) naming the file for the host."""
        if name == b".":
            return hostproc.fd_link(fd), True
        check_name(name)
        return hostproc.fd_link(fd, name), False

    @staticmethod
    def get(fd, name, key):
        path, follow = HostXattrs._target(fd, name)
        with host_errors():
            return os.getxattr(path, key, follow_symlinks=follow)

    @staticmethod
    def list(fd, name):
        path, follow = HostXattrs._target(fd, name)
        with host_errors():
            return [os.fsencode(key) for key in os.listxattr(path, follow_symlinks=follow)]

    @staticmethod
    def set(fd, name, key, value, flags):
        path, follow = HostXattrs._target(fd, name)
        with host_errors():
            os.setxattr(path, key, value, flags, follow_symlinks=follow)

    @staticmethod
    def remove(fd, name, key):
        path, follow = HostXattrs._target(fd, name)
        with host_errors():
            os.removexattr(path, key, follow_symlinks=follow)


class HostOps:
    """The operations, on host directory fds held by the caller."""

    @staticmethod
    def open_root(path, read_only):
        """An O_PATH fd of a configured host path: a directory, or the file itself for a file
        bind mount (never its parent: whoever holds the fd reaches that file and nothing beside
        it). The one full-path open there is: the path comes from the configuration."""
        with host_errors():
            return _open_root_tree(path, read_only)

    @staticmethod
    def walk(dir_fd, name):
        """(O_PATH fd, st_mode) of `name` in `dir_fd`, a symlink itself rather than its target."""
        check_name(name)
        with host_errors():
            fd = os.open(name, OPEN_PATH, dir_fd=dir_fd)
        try:
            return fd, os.fstat(fd).st_mode
        except OSError as error:
            os.close(fd)
            raise SyscallError(error.errno) from error

    @staticmethod
    def release(fd):
        try:
            os.close(fd)
        except OSError:
            pass

    @staticmethod
    def stat(fd):
        with host_errors():
            return StatResult.from_host(os.fstat(fd))

    @staticmethod
    def statfs(fd):
        """(bsize, blocks, bfree, bavail, files, ffree, namemax, frsize)."""
        with host_errors():
            s = os.fstatvfs(fd)
        return (s.f_bsize, s.f_blocks, s.f_bfree, s.f_bavail, s.f_files, s.f_ffree, s.f_namemax, s.f_frsize)

    @staticmethod
    def readlink(dir_fd, name):
        check_name(name)
        with host_errors():
            return os.readlink(name, dir_fd=dir_fd)

    @staticmethod
    def open(dir_fd, name, flags):
        """A host fd for regular file `name` in `dir_fd`, or with name b"." for the file `dir_fd`
        itself (the root of a file bind mount, reopened through its fd link), opened with the
        guest's access mode (never a symlink)."""
        with host_errors():
            if name == b".":
                # No O_NOFOLLOW: the fd link is a magic link, and it leads to that inode alone.
                fd = hostproc.reopen(dir_fd, (flags & HOST_OPEN_FLAGS) | (_OPEN_FILE & ~os.O_NOFOLLOW))
            else:
                check_name(name)
                fd = os.open(name, (flags & HOST_OPEN_FLAGS) | _OPEN_FILE, dir_fd=dir_fd)
        try:
            if not st.S_ISREG(os.fstat(fd).st_mode):
                raise SyscallError(errno.EACCES)  # swapped for a FIFO or device since the walk
        except BaseException:
            os.close(fd)
            raise
        return fd

    @staticmethod
    def list(fd):
        with host_errors():
            dir_fd = os.open(b".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=fd)
            try:
                with os.scandir(dir_fd) as entries:
                    return [DirEntry(os.fsencode(entry.name), entry.inode(), _entry_type(entry))
                            for entry in entries]
            finally:
                os.close(dir_fd)

    @staticmethod
    def create(dir_fd, name, mode, uid, gid):
        check_name(name)
        with host_errors():
            fd = os.open(name, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC,
                         mode & 0o7777, dir_fd=dir_fd)
            try:
                os.fchmod(fd, mode & 0o7777)  # this process's umask must not apply
                _chown_best_effort(lambda: os.fchown(fd, uid, gid))
            finally:
                os.close(fd)

    @staticmethod
    def mkdir(dir_fd, name, mode, uid, gid):
        check_name(name)
        with host_errors():
            os.mkdir(name, mode & 0o7777, dir_fd=dir_fd)
            _chmod_nofollow(dir_fd, name, mode & 0o7777)
            _chown_best_effort(lambda: os.chown(name, uid, gid, dir_fd=dir_fd, follow_symlinks=False))

    @classmethod
    def mknod(cls, dir_fd, name, mode, uid, gid):
        """Regular files, FIFOs and socket nodes (bind(2) of an AF_UNIX socket); no device
        nodes are made on the host."""
        if st.S_ISREG(mode):
            return cls.create(dir_fd, name, mode, uid, gid)
        if not (st.S_ISSOCK(mode) or st.S_ISFIFO(mode)):
            raise SyscallError(errno.EPERM)
        check_name(name)
        with host_errors():
            os.mknod(name, st.S_IFMT(mode) | (mode & 0o7777), dir_fd=dir_fd)
            _chmod_nofollow(dir_fd, name, mode & 0o7777)
            _chown_best_effort(lambda: os.chown(name, uid, gid, dir_fd=dir_fd, follow_symlinks=False))

    @staticmethod
    def symlink(dir_fd, name, target, uid, gid):
        check_name(name)
        if not target or b"\0" in target:
            raise SyscallError(errno.ENOENT)
        with host_errors():
            os.symlink(target, name, dir_fd=dir_fd)
            _chown_best_effort(lambda: os.chown(name, uid, gid, dir_fd=dir_fd, follow_symlinks=False))

    @staticmethod
    def link(src_dir_fd, src_name, dir_fd, name):
        check_name(src_name)
        check_name(name)
        with host_errors():
            os.link(src_name, name, src_dir_fd=src_dir_fd, dst_dir_fd=dir_fd, follow_symlinks=False)

    @staticmethod
    def unlink(dir_fd, name, flags):
        check_name(name)
        with host_errors():
            if flags & AT_REMOVEDIR:
                os.rmdir(name, dir_fd=dir_fd)
            else:
                os.unlink(name, dir_fd=dir_fd)

    @staticmethod
    def rename(dir_fd, name, new_dir_fd, new_name, flags):
        check_name(name)
        check_name(new_name)
        if flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE):
            raise SyscallError(errno.EINVAL)
        if not flags:
            with host_errors():
                os.rename(name, new_name, src_dir_fd=dir_fd, dst_dir_fd=new_dir_fd)
            return
        from pysandbox.security.seccomp import libc
        if libc.renameat2(dir_fd, name, new_dir_fd, new_name, flags) != 0:
            raise SyscallError(libc.errno)

    @staticmethod
    def setattr(dir_fd, name, mode=None, uid=None, gid=None, size=None, atime_ns=None, mtime_ns=None):
        """Change attributes of `name` in `dir_fd`, or with name b"." of the file `dir_fd` itself
        (a directory, or the file of a file bind mount)."""
        if name == b".":
            return _setattr_of_fd(dir_fd, mode, uid, gid, size, atime_ns, mtime_ns)
        check_name(name)
        with host_errors():
            if size is not None:
                fd = os.open(name, os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NOCTTY, dir_fd=dir_fd)
                try:
                    os.ftruncate(fd, size)
                finally:
                    os.close(fd)
            if mode is not None:
                _chmod_nofollow(dir_fd, name, mode & 0o7777)
            if uid is not None or gid is not None:
                os.chown(name, -1 if uid is None else uid, -1 if gid is None else gid,
                         dir_fd=dir_fd, follow_symlinks=False)
            if atime_ns is not None or mtime_ns is not None:
                current = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
                times = (current.st_atime_ns if atime_ns is None else atime_ns,
                         current.st_mtime_ns if mtime_ns is None else mtime_ns)
                os.utime(name, ns=times, dir_fd=dir_fd, follow_symlinks=False)


def _setattr_of_fd(fd, mode, uid, gid, size, atime_ns, mtime_ns):
    """HostOps.setattr of the file O_PATH descriptor `fd` names, through its fd link: the
    magic link leads to that very inode, whatever happened to its name since."""
    with host_errors():
        if size is not None:
            writable = hostproc.reopen(fd, os.O_WRONLY | os.O_CLOEXEC | os.O_NOCTTY)
            try:
                os.ftruncate(writable, size)
            finally:
                os.close(writable)
        if mode is not None:
            hostproc.chmod_through_fd_link(fd, mode & 0o7777)
        if uid is not None or gid is not None:
            owner = (-1 if uid is None else uid, -1 if gid is None else gid)
            hostproc.through_fd_link(fd, lambda proc, link: os.chown(link, *owner, dir_fd=proc))
        if atime_ns is not None or mtime_ns is not None:
            current = os.fstat(fd)
            times = (current.st_atime_ns if atime_ns is None else atime_ns,
                     current.st_mtime_ns if mtime_ns is None else mtime_ns)
            hostproc.through_fd_link(fd, lambda proc, link: os.utime(link, ns=times, dir_fd=proc))


def _chmod_nofollow(dir_fd, name, mode):
    """chmod without following a symlink, even one swapped in after a check: Linux has no
    fchmodat(AT_SYMLINK_NOFOLLOW) before 6.6, so the change goes through an fd of the file."""
    path_fd = os.open(name, OPEN_PATH, dir_fd=dir_fd)
    try:
        if st.S_ISLNK(os.fstat(path_fd).st_mode):
            raise SyscallError(errno.EOPNOTSUPP)
        try:
            fd = os.open(b".", os.O_RDONLY | os.O_CLOEXEC, dir_fd=path_fd) if name == b"." else \
                os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC,
                        dir_fd=dir_fd)
        except OSError:
            # Sockets cannot be opened: the fd's /proc link names exactly the inode we checked.
            hostproc.chmod_through_fd_link(path_fd, mode)
            return
        try:
            if os.path.sameopenfile(fd, path_fd):
                os.fchmod(fd, mode)
            else:
                raise SyscallError(errno.ENOENT)  # replaced between the two opens
        finally:
            os.close(fd)
    finally:
        os.close(path_fd)


def _entry_type(entry):
    if entry.is_symlink():
        return dirent_type(st.S_IFLNK)
    if entry.is_dir(follow_symlinks=False):
        return dirent_type(st.S_IFDIR)
    if entry.is_file(follow_symlinks=False):
        return dirent_type(st.S_IFREG)
    return dirent_type(entry.stat(follow_symlinks=False).st_mode)


def _chown_best_effort(chown):
    """Give a new host file the guest's owner where the host lets us (not in every user namespace)."""
    try:
        chown()
    except OSError:
        pass
