"""Mounting inside the sandbox: mount(2) and umount2(2).

The sandbox has one mount namespace, its mount table (sentry/vfs/mount.py).
CAP_SYS_ADMIN is modelled as the effective uid 0, as in the rest of the
sentry's credential model. New filesystems are the sentry's own (tmpfs,
proc, sysfs, devpts, mqueue, cgroup2); bind mounts take paths already
inside the sandbox, so nothing of the host is reachable through them.
"""
import errno
import os

from ..errors import SyscallError
from ..vfs.mount import (FLAG_OPTIONS, MS_BIND, MS_MOVE, MS_NOATIME, MS_NOUSER, MS_PROPAGATION, MS_RDONLY,
                         MS_REC, MS_RELATIME, MS_REMOUNT, MS_SILENT, MS_STRICTATIME, PER_MOUNT_FLAGS)
from ..vfs.memfs import _parse_size
from ..vfs.resolve import AT_FDCWD
from ..vma import PAGE_SIZE

MS_MGC_MSK, MS_MGC_VAL = 0xFFFF0000, 0xC0ED0000
MNT_FORCE, MNT_DETACH, MNT_EXPIRE, UMOUNT_NOFOLLOW = 1, 2, 4, 8
FS_TYPE_MAX = 256


def _capable_sys_admin(t):
    return t.creds.euid == 0


def _copy_mount_string(t, addr, limit=PAGE_SIZE):
    """A string argument of mount(2): None for NULL; EINVAL when longer than `limit` (strndup_user)."""
    if addr == 0:
        return None
    try:
        return t.copy_in_str(addr, limit)
    except SyscallError as error:
        if error.errno == errno.ENAMETOOLONG:
            raise SyscallError(errno.EINVAL) from None
        raise


def _copy_mount_options(t, addr):
    """mount(2)'s data: up to a page, stopping at its NUL (Linux copies what it can of the page)."""
    if addr == 0:
        return b""
    length = t.accessible_length(addr, PAGE_SIZE, 1)  # PROT_READ
    if length == 0:
        raise SyscallError(errno.EFAULT)
    return t.copy_in(addr, length).split(b"\0", 1)[0]


def _mount_flags(flags):
    """The per-mount flags mount(2)'s `flags` ask for; relatime unless told otherwise, as Linux."""
    mount_flags = flags & PER_MOUNT_FLAGS
    if not flags & (MS_NOATIME | MS_STRICTATIME):
        mount_flags |= MS_RELATIME
    return mount_flags & ~MS_STRICTATIME


def _data_options(data):
    """The filesystem options of mount(2)'s data string, without the per-mount words."""
    return [option for option in os.fsdecode(data).split(",") if option and option not in FLAG_OPTIONS]


def mount(t, source, target, filesystemtype, mountflags, data):
    """Mount implements Linux syscall mount(2)."""
    fstype = _copy_mount_string(t, filesystemtype, FS_TYPE_MAX)
    source_name = _copy_mount_string(t, source)
    options = _copy_mount_options(t, data)
    vfs = t.kernel.vfs
    point = vfs.lookup(t, AT_FDCWD, t.copy_in_str(target))
    flags = mountflags & ~MS_MGC_MSK if mountflags & MS_MGC_MSK == MS_MGC_VAL else mountflags
    if flags & MS_NOUSER:
        raise SyscallError(errno.EINVAL)
    if not _capable_sys_admin(t):
        raise SyscallError(errno.EPERM)
    table = vfs.mount_table
    if flags & (MS_REMOUNT | MS_BIND) == MS_REMOUNT | MS_BIND:
        return _reconfigure(table, point, _mount_flags(flags))
    if flags & MS_REMOUNT:
        return _reconfigure(table, point, _mount_flags(flags), _data_options(options))
    if flags & MS_BIND:
        return _bind(t, vfs, point, source_name, recursive=bool(flags & MS_REC))
    if flags & MS_PROPAGATION:
        return _change_propagation(table, point, flags)
    if flags & MS_MOVE:
        return _move(t, vfs, point, source_name)
    if not fstype:
        raise SyscallError(errno.EINVAL)
    fstype = os.fsdecode(fstype)
    data_options = _data_options(options)
    root_inode = vfs.new_filesystem(fstype, data_options)
    if not point.inode.is_dir:
        raise SyscallError(errno.ENOTDIR)
    _attach(table, point, root_inode, fstype, os.fsdecode(source_name or b"none"), _mount_flags(flags),
            _shown_options(fstype, data_options))
    return 0


def _shown_options(fstype, data):
    """The options /proc shows for a filesystem mount(2) made: tmpfs's as Linux prints them
    (size in KiB, mode in octal when not 1777, ids when not root), others as given."""
    if fstype != "tmpfs":
        return data
    try:
        return _tmpfs_options_shown(data)
    except (ValueError, SyscallError):  # a size in % of memory: shown as given
        return data


def _tmpfs_options_shown(data):
    given = dict(option.partition("=")[::2] for option in data)
    shown = []
    if given.get("size"):
        pages = -(-_parse_size(os.fsencode(given["size"])) // PAGE_SIZE)
        shown.append(f"size={pages * PAGE_SIZE // 1024}k")
    if given.get("nr_inodes"):
        shown.append(f"nr_inodes={_parse_size(os.fsencode(given['nr_inodes']))}")
    mode = int(given.get("mode") or "1777", 8)
    if mode != 0o1777:
        shown.append(f"mode={mode:03o}")
    for key in ("uid", "gid"):
        if given.get(key, "0") != "0":
            shown.append(f"{key}={given[key]}")
    return shown


def _attach(table, point, root_inode, fstype, source, flags, data, root_path=b"/"):
    if point.parent is None:
        raise SyscallError(errno.EBUSY)  # over the sandbox's own root
    return table.attach(point.parent, point.name, root_inode, fstype, source, flags, data, root_path)


def _reconfigure(table, point, flags, data=None):
    """MS_REMOUNT of the mount whose root is `point`; with MS_BIND (data None) its per-mount
    flags only, otherwise the filesystem's read-only state and options too."""
    mount = table.mount_at(point)
    if mount is None:
        raise SyscallError(errno.EINVAL)
    mount.flags = flags
    if data is not None:
        mount.fs_read_only = bool(flags & MS_RDONLY)
        if data:
            mount.data = _shown_options(mount.fstype, data)
    return 0


def _bind(t, vfs, point, source_name, recursive):
    """MS_BIND: `source_name`'s tree (and with MS_REC the mounts under it) also appears at `point`."""
    if source_name is None:
        raise SyscallError(errno.EFAULT)
    source = vfs.lookup(t, AT_FDCWD, source_name)
    if source.inode.is_dir != point.inode.is_dir:
        raise SyscallError(errno.ENOTDIR)
    table = vfs.mount_table
    source_mount = table.mount_of(source)
    mounts_before = list(table.mounts)  # rbind copies the tree as it was: never the new mount itself
    new = _attach(table, point, source.inode, source_mount.fstype, source_mount.source, source_mount.flags,
                  source_mount.data, _path_in_mount(source, source_mount))
    if recursive:
        _copy_submounts(table, mounts_before, source, new.root)
    return 0


def _copy_submounts(table, mounts, source, copy_root):
    """rbind: the mounts (of `mounts`) below `source`, mounted again at the same places below `copy_root`."""
    for mount in mounts:
        holder = mount.root.parent
        if holder is None or not source.is_ancestor_of(holder) or mount.root is source:
            continue
        if table.mount_of(holder) is not table.mount_of(source) and holder is not source:
            continue  # nested deeper: copied when its own parent mount is
        names = []
        dentry = holder
        while dentry is not source:
            names.append(dentry.name)
            dentry = dentry.parent
        target = copy_root
        for name in reversed(names):
            target = target.lookup(name)
        copy = table.attach(target, mount.root.name, mount.root.inode, mount.fstype, mount.source, mount.flags,
                            mount.data, mount.root_path)
        _copy_submounts(table, mounts, mount.root, copy.root)


def _path_in_mount(dentry, mount):
    return dentry.path(mount.root) if dentry is not mount.root else b"/"


def _change_propagation(table, point, flags):
    """MS_SHARED/MS_PRIVATE/MS_SLAVE/MS_UNBINDABLE: exactly one, on a mount root. The sandbox
    has a single mount namespace, so there is nothing to propagate to."""
    kind = flags & MS_PROPAGATION
    if kind & (kind - 1) or flags & ~(MS_PROPAGATION | MS_REC | MS_SILENT):
        raise SyscallError(errno.EINVAL)
    if table.mount_at(point) is None:
        raise SyscallError(errno.EINVAL)
    return 0


def _move(t, vfs, point, source_name):
    """MS_MOVE: the mount whose root is `source_name` now hangs at `point`."""
    if source_name is None:
        raise SyscallError(errno.EFAULT)
    table = vfs.mount_table
    source = vfs.lookup(t, AT_FDCWD, source_name)
    mount = table.mount_at(source)
    if mount is None or mount.parent is None:
        raise SyscallError(errno.EINVAL)
    if mount.root.is_ancestor_of(point):
        raise SyscallError(errno.ELOOP)
    if source.inode.is_dir != point.inode.is_dir:
        raise SyscallError(errno.ENOTDIR)
    table.move(mount, point.parent, point.name)
    return 0


def umount2(t, target, flags):
    """Umount2 implements Linux syscall umount2(2)."""
    if flags & ~(MNT_FORCE | MNT_DETACH | MNT_EXPIRE | UMOUNT_NOFOLLOW):
        raise SyscallError(errno.EINVAL)
    vfs = t.kernel.vfs
    point = vfs.lookup(t, AT_FDCWD, t.copy_in_str(target), follow=not flags & UMOUNT_NOFOLLOW)
    if not _capable_sys_admin(t):
        raise SyscallError(errno.EPERM)
    table = vfs.mount_table
    mount = table.mount_at(point)
    if mount is None:
        raise SyscallError(errno.EINVAL)
    if flags & MNT_EXPIRE and flags & (MNT_FORCE | MNT_DETACH):
        raise SyscallError(errno.EINVAL)
    if mount.parent is None:
        raise SyscallError(errno.EINVAL if flags & MNT_DETACH else errno.EBUSY)
    if flags & MNT_EXPIRE:
        raise SyscallError(errno.EAGAIN)  # not marked yet: a second call would be needed
    if not flags & MNT_DETACH and _busy(t, table, mount):
        raise SyscallError(errno.EBUSY)
    table.detach(mount)
    return 0


def _busy(t, table, mount):
    """Whether anything still uses `mount`: mounts on it, a cwd or root in it, an open file on it."""
    if table.children(mount):
        return True
    for task in t.kernel.tasks.values():
        dentries = [task.fs.cwd, task.fs.root]
        dentries += [file.dentry for _, file in task.fds if getattr(file, "dentry", None) is not None]
        if any(table.mount_of(dentry) is mount for dentry in dentries):
            return True
    return False
