"""VFS: the sandbox's filesystem namespace and the path-based operations syscalls use."""
import errno
import os
import stat as st

from ..errors import SyscallError
from .devfs import build_devfs
from .file import File
from .hostfile import HostStreamFile
from .hostfs import HostFS
from .inode import Dentry, now_ns
from .overlay import OverlayInode
from .procfs import ProcDir, ProcFS
from .resolve import AT_FDCWD, PathWalk
from .stat import MAY_EXEC, MAY_READ, MAY_WRITE, may_access
from .tty import Terminal

AT_SYMLINK_NOFOLLOW = 0x100
AT_REMOVEDIR = 0x200
AT_EACCESS = 0x200
AT_SYMLINK_FOLLOW = 0x400
AT_NO_AUTOMOUNT = 0x800
AT_EMPTY_PATH = 0x1000
RENAME_NOREPLACE, RENAME_EXCHANGE, RENAME_WHITEOUT = 1, 2, 4
UTIME_NOW = (1 << 30) - 1
UTIME_OMIT = (1 << 30) - 2
NO_CHANGE_ID = 0xFFFFFFFF  # chown's -1
O_TMPFILE = 0o20000000 | os.O_DIRECTORY

_ACCESS_BY_MODE = {os.O_RDONLY: MAY_READ, os.O_WRONLY: MAY_WRITE, os.O_RDWR: MAY_READ | MAY_WRITE}


class FSContext:
    """A task's root, working directory and umask (shared by CLONE_FS, copied otherwise)."""

    def __init__(self, root, cwd, umask=0o022):
        self.root = root
        self.cwd = cwd
        self.umask = umask

    def fork(self):
        return FSContext(self.root, self.cwd, self.umask)


class VFS:
    """The mount tree: a root filesystem with /proc, /dev and an empty /sys over it."""

    def __init__(self, root_inode, description):
        self.root = Dentry(root_inode)
        self.kernel = None    # bound to the first caller's kernel, for /proc
        self.terminal = None  # the host tty the sandbox's stdio is on, for /dev/tty
        self.mounts = [description]  # /proc/mounts lines
        self._mount(b"proc", ProcFS(self).root, "proc /proc proc rw,nosuid,nodev,noexec 0 0")
        self._mount(b"dev", build_devfs(self), "tmpfs /dev tmpfs rw,nosuid,mode=755 0 0")
        self._mount(b"sys", ProcDir(dict), "sysfs /sys sysfs ro,nosuid,nodev,noexec 0 0")

    @classmethod
    def for_rootfs(cls, path, read_only=False, overlay=True):
        """The namespace for host directory `path` as `/`.

        overlay: the host tree is read-only and changes live in memory until exit.
        Otherwise changes go to the host, or fail with EROFS when `read_only`.
        """
        host = HostFS(path, read_only=read_only or overlay)
        if overlay:
            return cls(OverlayInode.root(host.root), "overlay / overlay rw 0 0")
        return cls(host.root, f"rootfs / ext4 {'ro' if read_only else 'rw'} 0 0")

    def _mount(self, name, root_inode, description):
        self.root.mount(name, root_inode)
        self.mounts.append(description)

    def render_mounts(self):
        return "".join(line + "\n" for line in self.mounts)

    def new_fs_context(self):
        """The FSContext of the sandbox's first task: root and cwd at `/`, umask 022."""
        return FSContext(self.root, self.root)

    def install_stdio(self, fds, host_fds=(0, 1, 2)):
        """Give the FDTable `fds` the sandbox's stdio: host_fds[i] becomes fd i (closed ones are skipped)."""
        terminals = {}
        for fd, host_fd in enumerate(host_fds):
            try:
                identity = os.fstat(host_fd)
            except OSError:
                continue
            if os.isatty(host_fd):
                key = (identity.st_dev, identity.st_ino)
                terminal = terminals.setdefault(key, Terminal(os.dup(host_fd)))
                self.terminal = self.terminal or terminal
                dentry = self.root.lookup(b"dev").lookup(b"console")
                fds.install_at(fd, HostStreamFile.from_host_fd(host_fd, dentry, terminal))
            else:
                fds.install_at(fd, HostStreamFile.from_host_fd(host_fd))

    # --- resolution ---

    def _walk(self, t):
        self.kernel = t.kernel
        return PathWalk(t)

    def lookup(self, t, dirfd, path, follow=True, empty_path=False):
        """The dentry `path` names from `dirfd`; with `empty_path`, b"" names dirfd itself."""
        walk = self._walk(t)
        start = walk.start(dirfd, path)
        if not path and empty_path:
            if start is None:
                raise SyscallError(errno.ENOENT)
            return start
        return walk.walk(start, path, follow)

    def _at_flags_lookup(self, t, dirfd, path, flags, follow_by_default=True):
        if follow_by_default:
            follow = not flags & AT_SYMLINK_NOFOLLOW
        else:
            follow = bool(flags & AT_SYMLINK_FOLLOW)
        return self.lookup(t, dirfd, path, follow, empty_path=bool(flags & AT_EMPTY_PATH))

    def fd_path(self, t, dirfd):
        if dirfd == AT_FDCWD:
            return os.fsdecode(t.fs.cwd.path())
        return t.fds.get(dirfd).path

    # --- open ---

    def open(self, t, dirfd, path, flags, mode):
        """openat(2): a new File for `path`."""
        if flags & O_TMPFILE == O_TMPFILE:
            raise SyscallError(errno.EOPNOTSUPP)
        walk = self._walk(t)
        start = walk.start(dirfd, path)
        created = False
        if flags & os.O_CREAT:
            dentry, created = self._open_or_create(walk, start, path, flags, mode)
        else:
            dentry = walk.walk(start, path, follow=not flags & os.O_NOFOLLOW)
        inode = dentry.inode
        if flags & os.O_PATH:
            return File(flags & (os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC), dentry)
        if inode.is_symlink:
            raise SyscallError(errno.ELOOP)
        if flags & os.O_DIRECTORY and not inode.is_dir:
            raise SyscallError(errno.ENOTDIR)
        access = flags & os.O_ACCMODE
        if access == os.O_ACCMODE:
            raise SyscallError(errno.EINVAL)
        if inode.is_dir and (access != os.O_RDONLY or flags & os.O_CREAT):
            raise SyscallError(errno.EISDIR)
        if not created:
            wanted = _ACCESS_BY_MODE[access] | (MAY_WRITE if flags & os.O_TRUNC else 0)
            may_access(inode.stat(), t.creds, wanted)
            if wanted & MAY_WRITE and inode.read_only and (inode.is_regular or inode.is_dir):
                raise SyscallError(errno.EROFS)
        return inode.open(t, dentry, flags & ~os.O_TRUNC if created else flags)

    def _open_or_create(self, walk, start, path, flags, mode):
        """O_CREAT: (dentry, whether it was created), following symlinks to a dangling target."""
        parent, name, trailing_slash = walk.walk_parent(start, path)
        if name is None or name in (b".", b"..") or trailing_slash:
            raise SyscallError(errno.EISDIR)
        existing = walk.find(parent, name)
        if existing is None:
            self._check_can_add(walk.t, parent)
            uid, gid = self._new_owner(walk.t, parent)
            parent.inode.create(name, mode & ~walk.t.fs.umask & 0o7777, uid, gid)
            parent.forget(name)
            return parent.lookup(name), True
        if flags & os.O_EXCL:
            raise SyscallError(errno.EEXIST)
        if existing.inode.is_symlink and not flags & os.O_NOFOLLOW:
            walk.links += 1
            if walk.links > 40:
                raise SyscallError(errno.ELOOP)
            jump = existing.inode.magic_link_target(walk.t)
            if jump is not None:
                return jump, False
            return self._open_or_create(walk, parent, existing.inode.readlink(walk.t), flags, mode)
        return existing, False

    def open_exec(self, t, path):
        """The file execve(2) and the ELF loader run: (File, its sandbox path as str)."""
        path = os.fsencode(path)
        dentry = self.lookup(t, AT_FDCWD, path)
        inode = dentry.inode
        if not inode.is_regular:
            raise SyscallError(errno.EACCES)
        may_access(inode.stat(), t.creds, MAY_EXEC)
        file = inode.open(t, dentry, os.O_RDONLY)
        return file, os.fsdecode(dentry.path())

    # --- directory changes ---

    def _check_can_add(self, t, parent):
        if parent.inode.read_only:
            raise SyscallError(errno.EROFS)
        may_access(parent.inode.stat(), t.creds, MAY_WRITE | MAY_EXEC)

    def _check_can_remove(self, t, parent, child):
        self._check_can_add(t, parent)
        if child in parent.mounts.values() or child is t.fs.root or child is self.root:
            raise SyscallError(errno.EBUSY)
        fsuid = t.creds.fsuid
        parent_attrs = parent.inode.stat()
        if parent_attrs.mode & st.S_ISVTX and fsuid not in (0, parent_attrs.uid, child.inode.stat().uid):
            raise SyscallError(errno.EPERM)

    @staticmethod
    def _new_owner(t, parent):
        parent_attrs = parent.inode.stat()
        gid = parent_attrs.gid if parent_attrs.mode & st.S_ISGID else t.creds.fsgid
        return t.creds.fsuid, gid

    def _new_entry(self, t, dirfd, path):
        """(walk, parent, name) for a name that must not exist yet (EEXIST)."""
        walk = self._walk(t)
        parent, name, _ = walk.walk_parent(walk.start(dirfd, path), path)
        if name is None or name in (b".", b"..") or walk.find(parent, name) is not None:
            raise SyscallError(errno.EEXIST)
        self._check_can_add(t, parent)
        return walk, parent, name

    def mkdir(self, t, dirfd, path, mode):
        _, parent, name = self._new_entry(t, dirfd, path)
        uid, gid = self._new_owner(t, parent)
        parent_setgid = parent.inode.stat().mode & st.S_ISGID
        parent.inode.mkdir(name, (mode & ~t.fs.umask & 0o1777) | parent_setgid, uid, gid)
        parent.forget(name)

    def mknod(self, t, dirfd, path, mode, rdev):
        if st.S_IFMT(mode) == st.S_IFDIR:
            raise SyscallError(errno.EPERM)
        _, parent, name = self._new_entry(t, dirfd, path)
        uid, gid = self._new_owner(t, parent)
        file_mode = (st.S_IFMT(mode) or st.S_IFREG) | (mode & ~t.fs.umask & 0o7777)
        parent.inode.mknod(name, file_mode, rdev, uid, gid)
        parent.forget(name)

    def symlink(self, t, target, dirfd, path):
        if not target:
            raise SyscallError(errno.ENOENT)
        _, parent, name = self._new_entry(t, dirfd, path)
        uid, gid = self._new_owner(t, parent)
        parent.inode.symlink(name, target, uid, gid)
        parent.forget(name)

    def link(self, t, old_dirfd, old_path, new_dirfd, new_path, flags):
        source = self._at_flags_lookup(t, old_dirfd, old_path, flags, follow_by_default=False)
        if source.inode.is_dir:
            raise SyscallError(errno.EPERM)
        _, parent, name = self._new_entry(t, new_dirfd, new_path)
        parent.inode.link(name, source.inode)
        parent.forget(name)

    def _existing_entry(self, t, dirfd, path):
        """(walk, parent, name, child, trailing slash) for an entry about to be removed or renamed."""
        walk = self._walk(t)
        parent, name, trailing_slash = walk.walk_parent(walk.start(dirfd, path), path)
        if name is None or name in (b".", b".."):
            return walk, parent, name, None, trailing_slash
        return walk, parent, name, walk.child(parent, name), trailing_slash

    def unlink(self, t, dirfd, path):
        _, parent, name, child, trailing_slash = self._existing_entry(t, dirfd, path)
        if child is None or child.inode.is_dir:
            raise SyscallError(errno.EISDIR)
        if trailing_slash:
            raise SyscallError(errno.ENOTDIR)
        self._check_can_remove(t, parent, child)
        parent.inode.unlink(name)
        parent.forget(name)

    def rmdir(self, t, dirfd, path):
        _, parent, name, child, _ = self._existing_entry(t, dirfd, path)
        if name == b".":
            raise SyscallError(errno.EINVAL)
        if name == b"..":
            raise SyscallError(errno.ENOTEMPTY)
        if child is None:
            raise SyscallError(errno.EBUSY)
        if not child.inode.is_dir:
            raise SyscallError(errno.ENOTDIR)
        self._check_can_remove(t, parent, child)
        if child.mounts:
            raise SyscallError(errno.EBUSY)
        parent.inode.rmdir(name)
        parent.forget(name)

    def rename(self, t, old_dirfd, old_path, new_dirfd, new_path, flags):
        if flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE | RENAME_WHITEOUT) or \
                flags & RENAME_EXCHANGE and flags & (RENAME_NOREPLACE | RENAME_WHITEOUT):
            raise SyscallError(errno.EINVAL)
        if flags & RENAME_WHITEOUT:
            raise SyscallError(errno.EPERM)
        _, old_parent, old_name, source, old_slash = self._existing_entry(t, old_dirfd, old_path)
        walk = self._walk(t)
        new_parent, new_name, new_slash = walk.walk_parent(walk.start(new_dirfd, new_path), new_path)
        if source is None or new_name is None or new_name in (b".", b".."):
            raise SyscallError(errno.EBUSY)
        target = walk.find(new_parent, new_name)
        if (old_slash or new_slash) and not source.inode.is_dir:
            raise SyscallError(errno.ENOTDIR)
        if flags & RENAME_EXCHANGE and target is None:
            raise SyscallError(errno.ENOENT)
        if flags & RENAME_NOREPLACE and target is not None:
            raise SyscallError(errno.EEXIST)
        if source is target or target is not None and _same_inode(source, target):
            return
        self._check_rename_kinds(source, target, new_parent, exchange=bool(flags & RENAME_EXCHANGE))
        self._check_can_remove(t, old_parent, source)
        self._check_can_add(t, new_parent)
        if target is not None:
            self._check_can_remove(t, new_parent, target)
        if flags & RENAME_EXCHANGE:
            old_parent.inode.exchange(old_name, source.inode, new_parent.inode, new_name, target.inode)
            target.move_to(old_parent, old_name)
            target.inode.moved_to(old_parent.inode, old_name)
        else:
            old_parent.inode.rename(old_name, source.inode, new_parent.inode, new_name,
                                    target.inode if target is not None else None)
        source.move_to(new_parent, new_name)
        source.inode.moved_to(new_parent.inode, new_name)

    @staticmethod
    def _check_rename_kinds(source, target, new_parent, exchange):
        if source.inode.is_dir and source.is_ancestor_of(new_parent):
            raise SyscallError(errno.EINVAL)
        if target is None:
            return
        if exchange:
            if target.inode.is_dir and target.is_ancestor_of(source.parent):
                raise SyscallError(errno.EINVAL)
            return
        if source.inode.is_dir and not target.inode.is_dir:
            raise SyscallError(errno.ENOTDIR)
        if not source.inode.is_dir and target.inode.is_dir:
            raise SyscallError(errno.EISDIR)
        if target.inode.is_dir and target.list():
            raise SyscallError(errno.ENOTEMPTY)

    # --- reading names and attributes ---

    def readlink(self, t, dirfd, path):
        dentry = self.lookup(t, dirfd, path, follow=False, empty_path=True)
        if not dentry.inode.is_symlink:
            raise SyscallError(errno.EINVAL)
        return dentry.inode.readlink(t)

    def stat(self, t, dirfd, path, flags):
        """fstatat(2) semantics, AT_EMPTY_PATH included."""
        if not path and flags & AT_EMPTY_PATH and dirfd != AT_FDCWD:
            return t.fds.get(dirfd).stat()
        return self._at_flags_lookup(t, dirfd, path, flags).inode.stat()

    def access(self, t, dirfd, path, mode, flags):
        dentry = self._at_flags_lookup(t, dirfd, path, flags)
        if mode == 0:  # F_OK
            return
        inode = dentry.inode
        if mode & MAY_WRITE and inode.read_only and (inode.is_regular or inode.is_dir or inode.is_symlink):
            raise SyscallError(errno.EROFS)
        may_access(inode.stat(), t.creds, mode, use_real_ids=not flags & AT_EACCESS)

    # --- changing attributes ---

    @staticmethod
    def _check_owner(t, attrs):
        if t.creds.fsuid not in (0, attrs.uid):
            raise SyscallError(errno.EPERM)

    def chmod(self, t, dentry, mode):
        attrs = dentry.inode.stat()
        self._check_owner(t, attrs)
        creds = t.creds
        if creds.fsuid != 0 and attrs.gid != creds.fsgid and attrs.gid not in creds.groups:
            mode &= ~st.S_ISGID
        dentry.inode.setattr(mode=mode & 0o7777)

    def chown(self, t, dentry, uid, gid):
        uid = None if uid in (NO_CHANGE_ID, -1) else uid
        gid = None if gid in (NO_CHANGE_ID, -1) else gid
        attrs = dentry.inode.stat()
        creds = t.creds
        if creds.fsuid != 0:
            if uid is not None and uid != attrs.uid or creds.fsuid != attrs.uid:
                raise SyscallError(errno.EPERM)
            if gid is not None and gid != attrs.gid and gid != creds.fsgid and gid not in creds.groups:
                raise SyscallError(errno.EPERM)
        if uid is None and gid is None:
            return
        changes = {"uid": uid, "gid": gid}
        if attrs.format == st.S_IFREG and attrs.mode & (st.S_ISUID | st.S_ISGID):
            changes["mode"] = attrs.mode & ~(st.S_ISUID | st.S_ISGID)
        dentry.inode.setattr(**changes)

    def utimens(self, t, dentry, times):
        """utimensat(2): `times` is None (now) or ((sec, nsec), (sec, nsec)) for atime, mtime."""
        inode = dentry.inode
        attrs = inode.stat()
        now = now_ns()
        if times is None or all(nsec == UTIME_NOW for _, nsec in times):
            if t.creds.fsuid not in (0, attrs.uid):
                may_access(attrs, t.creds, MAY_WRITE)
            inode.setattr(atime_ns=now, mtime_ns=now)
            return
        for _, nsec in times:
            if not (0 <= nsec < 1_000_000_000 or nsec in (UTIME_NOW, UTIME_OMIT)):
                raise SyscallError(errno.EINVAL)
        if all(nsec == UTIME_OMIT for _, nsec in times):
            return
        self._check_owner(t, attrs)
        atime, mtime = (None if nsec == UTIME_OMIT else now if nsec == UTIME_NOW
                        else _clamp_ns(sec * 1_000_000_000 + nsec) for sec, nsec in times)
        inode.setattr(atime_ns=atime, mtime_ns=mtime)

    def truncate(self, t, dentry, size):
        inode = dentry.inode
        if size < 0:
            raise SyscallError(errno.EINVAL)
        if inode.is_dir:
            raise SyscallError(errno.EISDIR)
        if not inode.is_regular:
            raise SyscallError(errno.EINVAL)
        may_access(inode.stat(), t.creds, MAY_WRITE)
        inode.setattr(size=size)

    # --- working directory ---

    def getcwd(self, t):
        cwd, root = t.fs.cwd, t.fs.root
        if not root.is_ancestor_of(cwd):
            return b"(unreachable)" + cwd.path()
        return cwd.path(root)

    def chdir(self, t, dentry):
        if not dentry.inode.is_dir:
            raise SyscallError(errno.ENOTDIR)
        if t.creds.fsuid != 0:
            may_access(dentry.inode.stat(), t.creds, MAY_EXEC)
        t.fs.cwd = dentry


def _clamp_ns(ns):
    """Timestamps beyond what 64-bit nanoseconds hold are clamped, as filesystems clamp to their range."""
    return max(-(1 << 63), min(ns, (1 << 63) - 1))


def _same_inode(a, b):
    a_attrs, b_attrs = a.inode.stat(), b.inode.stat()
    return (a_attrs.dev, a_attrs.ino) == (b_attrs.dev, b_attrs.ino)


