"""VFS: the sandbox's filesystem namespace and the path-based operations syscalls use."""
import errno
import os
import stat as st

from ..credentials import CAP_CHOWN, CAP_FOWNER, CAP_FSETID, CAP_MKNOD, access_check_credentials, capable
from ..errors import SandboxError, SyscallError
from .devfs import build_devfs, console_dentry
from .devpts import devpts_root
from .file import File
from . import fsnotify
from .hostfile import HostStreamFile
from .hostfs import HostFS
from .mount import (MS_NOEXEC, MS_RDONLY, PROPAGATION_OPTIONS, MountSpec, cgroup_root, check_destination,
                    is_bind, parse_options, tmpfs_root)
from .mountns import MountNamespace, mount_of
from .inode import now_ns
from .overlay import OverlayInode
from .procfs import ProcFS
from .resolve import AT_FDCWD, PathWalk
from .stat import DAC_OVERRIDE, MAY_EXEC, MAY_READ, MAY_WRITE, SEARCH_ANY_DIRECTORY, may_access
from .sysfs import sysfs_root
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
    """A task's root, working directory, umask and mount namespace (shared by CLONE_FS, copied
    otherwise; a new mount namespace never shares it, as Linux's fs_struct)."""

    def __init__(self, root, cwd, umask=0o022, mntns=None):
        self.root = root
        self.cwd = cwd
        self.umask = umask
        self.mntns = mntns

    def fork(self):
        return FSContext(self.root, self.cwd, self.umask, self.mntns)


# The mounts every sandbox has unless its configuration mounts something at the same place.
DEFAULT_MOUNTS = (
    MountSpec("/proc", "proc", "proc", ["nosuid", "nodev", "noexec"]),
    MountSpec("/dev", "tmpfs", "tmpfs", ["nosuid", "mode=755"]),
    MountSpec("/dev/pts", "devpts", "devpts", ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620",
                                               "gid=5"]),
    MountSpec("/sys", "sysfs", "sysfs", ["ro", "nosuid", "nodev", "noexec"]),
)
# After the gofer dies the workload sees EIO for this long, then the sandbox is stopped.
GOFER_DEATH_GRACE = 1.0


class VFS:
    """The mount tree: a root filesystem with /proc, /dev, /sys and the configured mounts over it."""

    def __init__(self, root_inode, fstype, source, flags=0, data=()):
        self.mount_table = MountNamespace()  # the first task's mount namespace
        self.mount_table.add_root(root_inode, fstype, source, flags, data)
        self.root = self.mount_table.root
        self.kernel = None    # bound to the first caller's kernel, for /proc
        self.terminal = None  # the host tty the sandbox's stdio is on, for /dev/tty
        self.gofer = None     # the GoferClient (in directfs mode it has handed the roots over)
        self.failure = None   # why the sandbox had to stop (the gofer died), else None

    @classmethod
    def for_rootfs(cls, path, read_only=False, overlay=True, mounts=(), gofer_mode=None, gofer=None):
        """The namespace for host directory `path` as `/`, with `mounts` (MountSpecs) applied in order.

        overlay: the host tree is read-only and changes live in memory until exit.
        Otherwise changes go to the host, or fail with EROFS when `read_only`.
        Host directories (the rootfs and bind mount sources) are opened by a gofer
        process; gofer_mode is "directfs" (default) or "gofer" (see docs/GOFER.md). `gofer`: one
        forked for these roots earlier (gofer/start.py), taken over if it fits.
        """
        from ...gofer.client import DEFAULT_GOFER_MODE, connect_roots  # the gofer imports the VFS's types
        mounts = list(mounts)
        for spec in mounts:
            check_destination(spec.destination)
        binds = [spec for spec in mounts if is_bind(spec)]
        roots = [(os.fsencode(path), read_only or overlay)]
        roots += [(os.fsencode(spec.source), bool(parse_options(spec.options)[0] & MS_RDONLY)) for spec in binds]
        ops, attached, client = connect_roots(roots, gofer_mode or DEFAULT_GOFER_MODE, gofer)
        try:
            root_handle, root_mode = attached[0]
            if not st.S_ISDIR(root_mode):
                raise SandboxError(f"{path}: not a directory", 125)
            host = HostFS(ops, root_handle, root_mode, read_only=read_only or overlay, exclusive=overlay)
            if overlay:
                vfs = cls(OverlayInode.root(host.root), "overlay", "overlay")
            else:
                vfs = cls(host.root, "ext4", "rootfs", MS_RDONLY if read_only else 0)
            vfs.gofer = client
            client.on_death.append(vfs._gofer_died)
            bind_roots = {id(spec): (ops, root) for spec, root in zip(binds, attached[1:])}
            configured = {os.path.normpath(spec.destination) for spec in mounts}
            for spec in [spec for spec in DEFAULT_MOUNTS if spec.destination not in configured] + mounts:
                vfs._apply_mount(spec, bind_roots.get(id(spec)))
        except BaseException:
            client.close()
            raise
        return vfs

    def _apply_mount(self, spec, bind_root):
        """Mount one MountSpec at setup (as the sandbox's root, before any task runs)."""
        flags, bind, data = parse_options(spec.options)
        fstype = spec.type or "none"
        try:
            if bind_root is not None:
                ops, (handle, mode) = bind_root     # a directory, or the file of a file bind
                inode = HostFS(ops, handle, mode, read_only=bool(flags & MS_RDONLY)).root
            else:
                inode = self.new_filesystem(fstype, data, spec.destination)
                if fstype in ("cgroup", "cgroup2"):
                    flags |= MS_RDONLY
            parent, name = self._setup_mount_point(spec.destination, inode.is_dir,
                                                   create=spec not in DEFAULT_MOUNTS)
            mount = self.mount_table.attach(parent, name, inode, fstype, spec.source, flags, data)
            for option in spec.options:
                if option in PROPAGATION_OPTIONS:  # OCI's "rshared", "slave", ...
                    self.mount_table.set_propagation(mount, option.removeprefix("r"))
        except SyscallError as error:
            raise SandboxError(f"mount {spec.destination} ({fstype}): {os.strerror(error.errno).lower()}",
                               125) from None

    def new_filesystem(self, fstype, data, destination=None, task=None):
        """The root inode of a new filesystem of type `fstype` (ENODEV for a type there is none of);
        `task`: who mounts it (an mqueue filesystem shows its IPC namespace's queues)."""
        if fstype == "tmpfs" and os.path.normpath(destination or "") == "/dev":
            return build_devfs(self)  # /dev is a tmpfs of device nodes, as container runtimes fill it
        if fstype == "tmpfs":
            return tmpfs_root(data)
        if fstype == "proc":
            return ProcFS(self).root
        if fstype == "sysfs":
            return sysfs_root()
        if fstype in ("cgroup", "cgroup2"):
            return cgroup_root(self, task)
        if fstype == "devpts":
            return devpts_root(data)
        if fstype == "mqueue":
            if task is not None:
                from ..sysv_ipc import namespace_of
                return namespace_of(task).mqueues.root
            from . import mqueue  # few sandboxes mount one: not imported at every start
            return mqueue.namespace(self).root
        raise SyscallError(errno.ENODEV)

    def _setup_mount_point(self, destination, is_dir, create=True):
        """(parent dentry, name) where a configured mount goes. Symlinks on the way are resolved
        inside the sandbox and missing directories on the way are made, as runc does. A missing
        last component is made too (a directory, or a file for a file bind) where the
        filesystem is writable and `create`; otherwise it is a mount point of its own."""
        walk = PathWalk(_SetupTask(self))
        components = [name for name in os.fsencode(destination).split(b"/") if name]
        current = self.root
        for index, name in enumerate(components):
            child = walk.find(current, name)
            if index == len(components) - 1:
                if child is not None and child.inode.is_symlink:
                    child = walk.follow_link(current, child)
                if child is not None and child.inode.is_dir != is_dir:
                    raise SyscallError(errno.ENOTDIR)
                if child is not None and child.parent is None:
                    raise SyscallError(errno.EBUSY)  # a link to the root itself
                if child is None and create:
                    _make_mount_point(current, name, is_dir)
                return (child.parent, child.name) if child is not None else (current, name)
            if child is None:
                current.inode.mkdir(name, 0o755, 0, 0)
                current.forget(name)
            current = walk.step(current, name, follow=True, must_be_dir=True)
        raise SyscallError(errno.EINVAL)

    # --- mounts ---

    def mount_of(self, dentry):
        """The Mount `dentry` is on, in whichever namespace (anonymous dentries: the first root)."""
        return mount_of(dentry, self.mount_table.root_mount)

    def read_only_mount(self, dentry):
        """Whether `dentry` is on a read-only mount."""
        return self.mount_of(dentry).read_only

    def statfs(self, dentry):
        """statfs(2)'s figures for `dentry`: its filesystem's, with its mount's flags in f_flags."""
        figures = dentry.inode.statfs()
        return figures[:-1] + (figures[-1] | self.mount_of(dentry).statfs_flags(),)

    def check_mount_writable(self, dentry):
        if dentry.inode.read_only or self.mount_of(dentry).read_only:
            raise SyscallError(errno.EROFS)

    def render_mounts(self, t=None, info=False):
        """/proc/<pid>/mounts, or /proc/<pid>/mountinfo with `info`, for task `t`."""
        if t is None:
            return self.mount_table.render(self.root, info)
        return t.fs.mntns.render(t.fs.root, info)

    def _gofer_died(self):
        self.failure = "the gofer process died: host files failed with EIO and the sandbox was stopped"
        kernel = self.kernel
        if kernel is not None:
            kernel.log("the gofer process died: host files fail with EIO; stopping the sandbox")
            kernel.add_timer(kernel.now() + GOFER_DEATH_GRACE, lambda: _kill_init(kernel))

    def close(self, wait=True):
        """Stop the gofer (at the sandbox's end); with `wait`, collect it too."""
        if self.gofer is not None:
            self.gofer.close(wait)

    def new_fs_context(self):
        """The FSContext of the sandbox's first task: root and cwd at `/`, umask 022."""
        return FSContext(self.root, self.root, mntns=self.mount_table)

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
                dentry = console_dentry(self)
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

    def open(self, t, dirfd, path, flags, mode, walk=None):
        """openat(2): a new File for `path`; `walk` restricts resolution (openat2's ScopedWalk)."""
        if flags & O_TMPFILE == O_TMPFILE:
            raise SyscallError(errno.EOPNOTSUPP)
        walk = walk or self._walk(t)
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
            if not t.creds.effective & DAC_OVERRIDE:  # it may read and write anything: skip the stat
                may_access(inode.stat(), t.creds, wanted)
            if wanted & MAY_WRITE and (inode.is_regular or inode.is_dir) and \
                    (inode.read_only or self.read_only_mount(dentry)):
                raise SyscallError(errno.EROFS)
        file = inode.open(t, dentry, flags & ~os.O_TRUNC if created else flags)
        fsnotify.opened(file, truncated=flags & os.O_TRUNC and not created)
        return file

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
            fsnotify.entry_added(parent, name)
            return parent.lookup(name), True
        if flags & os.O_EXCL:
            raise SyscallError(errno.EEXIST)
        if existing.inode.is_symlink and not flags & os.O_NOFOLLOW:
            walk.permit_link(existing)
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
        if not inode.is_regular or self.mount_of(dentry).flags & MS_NOEXEC:
            raise SyscallError(errno.EACCES)
        may_access(inode.stat(), t.creds, MAY_EXEC)
        file = inode.open(t, dentry, os.O_RDONLY)
        return file, os.fsdecode(dentry.path())

    # --- directory changes ---

    def _check_can_add(self, t, parent):
        if parent.inode.read_only or self.read_only_mount(parent):
            raise SyscallError(errno.EROFS)
        if not t.creds.effective & DAC_OVERRIDE:  # it may write and search any directory: skip the stat
            may_access(parent.inode.stat(), t.creds, MAY_WRITE | MAY_EXEC)

    def _check_can_remove(self, t, parent, child):
        self._check_can_add(t, parent)
        if child in parent.mounts.values() or child is t.fs.root or child is self.root:
            raise SyscallError(errno.EBUSY)
        fsuid = t.creds.fsuid
        if capable(t, CAP_FOWNER):  # the sticky bit does not bind it
            return
        parent_attrs = parent.inode.stat()
        if parent_attrs.mode & st.S_ISVTX and fsuid not in (parent_attrs.uid, child.inode.stat().uid):
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
        fsnotify.entry_added(parent, name)

    def mknod(self, t, dirfd, path, mode, rdev):
        if st.S_IFMT(mode) == st.S_IFDIR:
            raise SyscallError(errno.EPERM)
        _, parent, name = self._new_entry(t, dirfd, path)
        if st.S_IFMT(mode) in (st.S_IFCHR, st.S_IFBLK) and not capable(t, CAP_MKNOD):
            raise SyscallError(errno.EPERM)
        uid, gid = self._new_owner(t, parent)
        file_mode = (st.S_IFMT(mode) or st.S_IFREG) | (mode & ~t.fs.umask & 0o7777)
        parent.inode.mknod(name, file_mode, rdev, uid, gid)
        parent.forget(name)
        fsnotify.entry_added(parent, name)

    def symlink(self, t, target, dirfd, path):
        if not target:
            raise SyscallError(errno.ENOENT)
        _, parent, name = self._new_entry(t, dirfd, path)
        uid, gid = self._new_owner(t, parent)
        parent.inode.symlink(name, target, uid, gid)
        parent.forget(name)
        fsnotify.entry_added(parent, name)

    def link(self, t, old_dirfd, old_path, new_dirfd, new_path, flags):
        source = self._at_flags_lookup(t, old_dirfd, old_path, flags, follow_by_default=False)
        _, parent, name = self._new_entry(t, new_dirfd, new_path)
        if self.mount_of(source) is not self.mount_of(parent):
            raise SyscallError(errno.EXDEV)
        if source.inode.is_dir:
            raise SyscallError(errno.EPERM)
        parent.inode.link(name, source.inode)
        parent.forget(name)
        fsnotify.link_count_changed(source)
        fsnotify.entry_added(parent, name)

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
        child_key = fsnotify.before_removal(child)
        parent.inode.unlink(name)
        parent.forget(name)
        fsnotify.entry_removed(parent, name, child, child_key, is_dir=False)

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
        child_key = fsnotify.before_removal(child)
        parent.inode.rmdir(name)
        parent.forget(name)
        fsnotify.entry_removed(parent, name, child, child_key, is_dir=True)

    def rename(self, t, old_dirfd, old_path, new_dirfd, new_path, flags):
        if flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE | RENAME_WHITEOUT) or \
                flags & RENAME_EXCHANGE and flags & (RENAME_NOREPLACE | RENAME_WHITEOUT):
            raise SyscallError(errno.EINVAL)
        if flags & RENAME_WHITEOUT:
            raise SyscallError(errno.EPERM)
        # Both parents are resolved before either last component is looked up, as Linux does.
        old_walk = self._walk(t)
        old_parent, old_name, old_slash = old_walk.walk_parent(old_walk.start(old_dirfd, old_path), old_path)
        walk = self._walk(t)
        new_parent, new_name, new_slash = walk.walk_parent(walk.start(new_dirfd, new_path), new_path)
        if self.mount_of(old_parent) is not self.mount_of(new_parent):
            raise SyscallError(errno.EXDEV)
        if old_name in (None, b".", b"..") or new_name in (None, b".", b".."):
            raise SyscallError(errno.EBUSY)
        source = old_walk.child(old_parent, old_name)
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
        replaced_key = fsnotify.before_removal(target) if target is not None else None
        if flags & RENAME_EXCHANGE:
            old_parent.inode.exchange(old_name, source.inode, new_parent.inode, new_name, target.inode)
            target.move_to(old_parent, old_name)
            target.inode.moved_to(old_parent.inode, old_name)
        else:
            old_parent.inode.rename(old_name, source.inode, new_parent.inode, new_name,
                                    target.inode if target is not None else None)
        source.move_to(new_parent, new_name)
        source.inode.moved_to(new_parent.inode, new_name)
        if flags & RENAME_EXCHANGE:
            fsnotify.entry_moved(new_parent, new_name, old_parent, old_name, target, None)
            replaced_key = None
        fsnotify.entry_moved(old_parent, old_name, new_parent, new_name, source, replaced_key)

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
        """faccessat(2): the whole lookup runs with the real ids unless AT_EACCESS (override_creds)."""
        own_creds = t.creds
        if not flags & AT_EACCESS:
            t.creds = access_check_credentials(own_creds)
        try:
            dentry = self._at_flags_lookup(t, dirfd, path, flags)
            if mode == 0:  # F_OK
                return
            inode = dentry.inode
            if mode & MAY_WRITE and (inode.is_regular or inode.is_dir or inode.is_symlink) and \
                    (inode.read_only or self.read_only_mount(dentry)):
                raise SyscallError(errno.EROFS)
            may_access(inode.stat(), t.creds, mode)
        finally:
            t.creds = own_creds

    # --- changing attributes ---

    @staticmethod
    def _check_owner(t, attrs):
        if t.creds.fsuid != attrs.uid and not capable(t, CAP_FOWNER):
            raise SyscallError(errno.EPERM)

    def chmod(self, t, dentry, mode):
        self.check_mount_writable(dentry)
        attrs = dentry.inode.stat()
        self._check_owner(t, attrs)
        creds = t.creds
        if attrs.gid != creds.fsgid and attrs.gid not in creds.groups and not capable(t, CAP_FSETID):
            mode &= ~st.S_ISGID
        dentry.inode.setattr(mode=mode & 0o7777)
        fsnotify.attributes_changed(dentry)

    def chown(self, t, dentry, uid, gid):
        uid = None if uid in (NO_CHANGE_ID, -1) else uid
        gid = None if gid in (NO_CHANGE_ID, -1) else gid
        self.check_mount_writable(dentry)
        attrs = dentry.inode.stat()
        creds = t.creds
        if not capable(t, CAP_CHOWN):
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
        fsnotify.attributes_changed(dentry)

    def utimens(self, t, dentry, times):
        """utimensat(2): `times` is None (now) or ((sec, nsec), (sec, nsec)) for atime, mtime."""
        inode = dentry.inode
        attrs = inode.stat()
        now = now_ns()
        if times is None or all(nsec == UTIME_NOW for _, nsec in times):
            self.check_mount_writable(dentry)
            if t.creds.fsuid != attrs.uid and not capable(t, CAP_FOWNER):
                may_access(attrs, t.creds, MAY_WRITE)
            inode.setattr(atime_ns=now, mtime_ns=now)
            fsnotify.attributes_changed(dentry)
            return
        for _, nsec in times:
            if not (0 <= nsec < 1_000_000_000 or nsec in (UTIME_NOW, UTIME_OMIT)):
                raise SyscallError(errno.EINVAL)
        if all(nsec == UTIME_OMIT for _, nsec in times):
            return
        self.check_mount_writable(dentry)
        self._check_owner(t, attrs)
        atime, mtime = (None if nsec == UTIME_OMIT else now if nsec == UTIME_NOW
                        else _clamp_ns(sec * 1_000_000_000 + nsec) for sec, nsec in times)
        inode.setattr(atime_ns=atime, mtime_ns=mtime)
        fsnotify.attributes_changed(dentry)

    def truncate(self, t, dentry, size):
        inode = dentry.inode
        if size < 0:
            raise SyscallError(errno.EINVAL)
        if inode.is_dir:
            raise SyscallError(errno.EISDIR)
        if not inode.is_regular:
            raise SyscallError(errno.EINVAL)
        self.check_mount_writable(dentry)
        may_access(inode.stat(), t.creds, MAY_WRITE)
        inode.setattr(size=size)
        fsnotify.modified(dentry)

    # --- working directory ---

    def getcwd(self, t):
        cwd, root = t.fs.cwd, t.fs.root
        if not root.is_ancestor_of(cwd):
            return b"(unreachable)" + cwd.path()
        return cwd.path(root)

    def chdir(self, t, dentry):
        if not dentry.inode.is_dir:
            raise SyscallError(errno.ENOTDIR)
        if not t.creds.effective & SEARCH_ANY_DIRECTORY:
            may_access(dentry.inode.stat(), t.creds, MAY_EXEC)
        t.fs.cwd = dentry


def _make_mount_point(parent, name, is_dir):
    """Make the missing mount point `name` in `parent`, unless its filesystem is read-only."""
    try:
        if is_dir:
            parent.inode.mkdir(name, 0o755, 0, 0)
        else:
            parent.inode.create(name, 0o644, 0, 0)
    except SyscallError as error:
        if error.errno != errno.EROFS:
            raise
    parent.forget(name)


class _SetupTask:
    """Who resolves configured mount points: root, at the sandbox's root, before any task runs."""

    def __init__(self, vfs):
        from ..task import Credentials
        self.fs = vfs.new_fs_context()
        self.creds = Credentials()
        self.kernel = vfs.kernel
        self.fds = None


def _kill_init(kernel):
    from .. import signals
    if kernel.init is not None and not kernel.init.zombie:
        signals.send_signal(kernel.init, signals.SigInfo(signals.SIGKILL, signals.SI_KERNEL, forced=True))


def _clamp_ns(ns):
    """Timestamps beyond what 64-bit nanoseconds hold are clamped, as filesystems clamp to their range."""
    return max(-(1 << 63), min(ns, (1 << 63) - 1))


def _same_inode(a, b):
    a_attrs, b_attrs = a.inode.stat(), b.inode.stat()
    return (a_attrs.dev, a_attrs.ino) == (b_attrs.dev, b_attrs.ino)


