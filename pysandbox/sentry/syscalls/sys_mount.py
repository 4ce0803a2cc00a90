"""Mounting inside the sandbox: mount(2), umount2(2) and pivot_root(2).

Each task works on its own mount namespace (t.fs.mntns, sentry/vfs/mountns.py);
a mount point must be in it (EINVAL otherwise, as Linux's check_mnt).
All three need CAP_SYS_ADMIN in the caller's effective set. New filesystems
are the sentry's own (tmpfs, proc, sysfs, devpts, mqueue, cgroup2); bind
mounts take paths already inside the sandbox, so nothing of the host is
reachable through them.
"""
import errno
import os

from ..credentials import CAP_SYS_ADMIN, capable
from ..errors import SyscallError
from ..vfs.mount import (FLAG_OPTIONS, MS_BIND, MS_MOVE, MS_NOATIME, MS_NOUSER, MS_PRIVATE, MS_PROPAGATION,
                         MS_RDONLY, MS_REC, MS_RELATIME, MS_REMOUNT, MS_SHARED, MS_SILENT, MS_SLAVE,
                         MS_STRICTATIME, MS_UNBINDABLE, PER_MOUNT_FLAGS)
from ..vfs.memfs import parse_tmpfs_size
from ..vfs.mountns import mount_of, names_below, path_in_filesystem, share_propagation
from ..vfs.resolve import AT_FDCWD
from ..vma import PAGE_SIZE

MS_MGC_MSK, MS_MGC_VAL = 0xFFFF0000, 0xC0ED0000
MNT_FORCE, MNT_DETACH, MNT_EXPIRE, UMOUNT_NOFOLLOW = 1, 2, 4, 8
FS_TYPE_MAX = 256


def _copy_mount_string(t, addr, limit=PAGE_SIZE):
    """A string argument of mount(2): None for NULL; EINVAL when longer than `limit` (strndup_user)."""
    if addr == 0:
        return None
    return t.copy_in_str(addr, limit, errno.EINVAL)


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
    if not capable(t, CAP_SYS_ADMIN):
        raise SyscallError(errno.EPERM)
    ns = t.fs.mntns
    if flags & (MS_REMOUNT | MS_BIND) == MS_REMOUNT | MS_BIND:
        return _reconfigure(ns, point, _mount_flags(flags))
    if flags & MS_REMOUNT:
        return _reconfigure(ns, point, _mount_flags(flags), _data_options(options))
    if flags & MS_BIND:
        return _bind(t, vfs, ns, ns.topmost(point), source_name, recursive=bool(flags & MS_REC))
    if flags & MS_PROPAGATION:
        return _change_propagation(ns, point, flags)
    if flags & MS_MOVE:
        return _move(t, vfs, ns, ns.topmost(point), source_name)
    if not fstype:
        raise SyscallError(errno.EINVAL)
    fstype = os.fsdecode(fstype)
    data_options = _data_options(options)
    point = ns.topmost(point)
    if not ns.contains(mount_of(point)):
        raise SyscallError(errno.EINVAL)
    root_inode = vfs.new_filesystem(fstype, data_options, task=t)
    if not point.inode.is_dir:
        raise SyscallError(errno.ENOTDIR)
    new = _attach(ns, point, root_inode, fstype, os.fsdecode(source_name or b"none"), _mount_flags(flags),
                  _shown_options(fstype, data_options))
    ns.propagate_mount(new)
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
        pages = -(-parse_tmpfs_size(os.fsencode(given["size"])) // PAGE_SIZE)
        shown.append(f"size={pages * PAGE_SIZE // 1024}k")
    if given.get("nr_inodes"):
        shown.append(f"nr_inodes={parse_tmpfs_size(os.fsencode(given['nr_inodes']))}")
    mode = int(given.get("mode") or "1777", 8)
    if mode != 0o1777:
        shown.append(f"mode={mode:03o}")
    for key in ("uid", "gid"):
        if given.get(key, "0") != "0":
            shown.append(f"{key}={given[key]}")
    return shown


def _attach(ns, point, root_inode, fstype, source, flags, data, root_path=b"/"):
    if point.parent is None:
        raise SyscallError(errno.EBUSY)  # over the namespace's own root
    return ns.attach(point.parent, point.name, root_inode, fstype, source, flags, data, root_path)


def _reconfigure(ns, point, flags, data=None):
    """MS_REMOUNT of the mount whose root is `point`; with MS_BIND (data None) its per-mount
    flags only, otherwise the filesystem's read-only state and options too."""
    mount = ns.mount_at(point)
    if mount is None:
        raise SyscallError(errno.EINVAL)
    mount.flags = flags
    if data is not None:
        mount.fs_read_only = bool(flags & MS_RDONLY)
        if data:
            mount.data = _shown_options(mount.fstype, data)
    return 0


def _bind(t, vfs, ns, point, source_name, recursive):
    """MS_BIND: `source_name`'s tree (and with MS_REC the mounts under it) also appears at `point`.
    A bind of a shared mount is its peer, of a slave a slave of the same master."""
    if source_name is None:
        raise SyscallError(errno.EFAULT)
    source = vfs.lookup(t, AT_FDCWD, source_name)
    source_mount = mount_of(source)
    if not ns.contains(mount_of(point)) or source_mount.unbindable or not ns.contains(source_mount):
        raise SyscallError(errno.EINVAL)
    if source.inode.is_dir != point.inode.is_dir:
        raise SyscallError(errno.ENOTDIR)
    mounts_before = list(ns.mounts)  # rbind copies the tree as it was: never the new mount itself
    new = _attach(ns, point, source.inode, source_mount.fstype, source_mount.source, source_mount.flags,
                  source_mount.data, path_in_filesystem(source, source_mount))
    share_propagation(source_mount, new, as_peer=True)
    if recursive:
        _copy_submounts(ns, mounts_before, source, new.root)
    ns.propagate_mount(new)
    return 0


def _copy_submounts(ns, mounts, source, copy_root):
    """rbind: the mounts (of `mounts`) below `source`, mounted again at the same places below
    `copy_root`; unbindable ones are left out, with what is below them."""
    for mount in mounts:
        holder = mount.root.parent
        if holder is None or not source.is_ancestor_of(holder) or mount.root is source or mount.unbindable:
            continue
        if mount_of(holder) is not mount_of(source) and holder is not source:
            continue  # nested deeper: copied when its own parent mount is
        target = copy_root
        for name in names_below(source, holder):
            target = target.lookup(name)
        copy = ns.attach_like(mount, target, mount.root.name)
        share_propagation(mount, copy, as_peer=True)
        _copy_submounts(ns, mounts, mount.root, copy.root)


_PROPAGATION_KINDS = {MS_SHARED: "shared", MS_SLAVE: "slave", MS_PRIVATE: "private",
                      MS_UNBINDABLE: "unbindable"}


def _change_propagation(ns, point, flags):
    """MS_SHARED/MS_PRIVATE/MS_SLAVE/MS_UNBINDABLE: exactly one, on a mount root of the caller's
    namespace; with MS_REC on every mount below it too."""
    kind = flags & MS_PROPAGATION
    if kind & (kind - 1) or flags & ~(MS_PROPAGATION | MS_REC | MS_SILENT):
        raise SyscallError(errno.EINVAL)
    mount = ns.mount_at(point)
    if mount is None:
        raise SyscallError(errno.EINVAL)
    for each in ns.subtree(mount) if flags & MS_REC else [mount]:
        ns.set_propagation(each, _PROPAGATION_KINDS[kind])
    return 0


def _move(t, vfs, ns, point, source_name):
    """MS_MOVE: the mount whose root is `source_name` now hangs at `point`."""
    if source_name is None:
        raise SyscallError(errno.EFAULT)
    source = vfs.lookup(t, AT_FDCWD, source_name)
    mount = ns.mount_at(source)
    if mount is None or mount.parent is None or not ns.contains(mount_of(point)):
        raise SyscallError(errno.EINVAL)
    if mount.parent.peers is not None:
        raise SyscallError(errno.EINVAL)  # a mount under a shared mount may not move
    if mount.root.is_ancestor_of(point):
        raise SyscallError(errno.ELOOP)
    if source.inode.is_dir != point.inode.is_dir:
        raise SyscallError(errno.ENOTDIR)
    ns.move(mount, point)
    ns.propagate_mount(mount)
    return 0


def umount2(t, target, flags):
    """Umount2 implements Linux syscall umount2(2)."""
    if flags & ~(MNT_FORCE | MNT_DETACH | MNT_EXPIRE | UMOUNT_NOFOLLOW):
        raise SyscallError(errno.EINVAL)
    vfs = t.kernel.vfs
    point = vfs.lookup(t, AT_FDCWD, t.copy_in_str(target), follow=not flags & UMOUNT_NOFOLLOW)
    if not capable(t, CAP_SYS_ADMIN):
        raise SyscallError(errno.EPERM)
    ns = t.fs.mntns
    mount = ns.mount_at(ns.topmost(point))
    if mount is None:
        raise SyscallError(errno.EINVAL)
    is_root = mount is mount_of(t.fs.root)
    if flags & MNT_EXPIRE and (is_root or flags & (MNT_FORCE | MNT_DETACH)):
        raise SyscallError(errno.EINVAL)
    if is_root and not flags & MNT_DETACH:
        # Linux "unmounts" the caller's root by remounting its filesystem read-only.
        for each in ns.mounts_of_filesystem(mount):
            each.fs_read_only = True
        return 0
    if mount.parent is None and not flags & MNT_DETACH:
        raise SyscallError(errno.EBUSY)  # the namespace's first root, over its invisible rootfs
    if flags & MNT_EXPIRE:
        raise SyscallError(errno.EAGAIN)  # not marked yet: a second call would be needed
    if not flags & MNT_DETACH and _busy(t, ns, mount):
        raise SyscallError(errno.EBUSY)
    ns.unmount(mount)
    return 0


def _busy(t, ns, mount):
    """Whether anything still uses `mount`: mounts on it, a cwd or root in it, an open file on it."""
    if ns.children(mount):
        return True
    for task in t.kernel.tasks.values():
        dentries = [task.fs.cwd, task.fs.root]
        dentries += [file.dentry for _, file in task.fds if getattr(file, "dentry", None) is not None]
        if any(mount_of(dentry) is mount for dentry in dentries):
            return True
    return False


def pivot_root(t, new_root, put_old):
    """PivotRoot implements Linux syscall pivot_root(2)."""
    if not capable(t, CAP_SYS_ADMIN):
        raise SyscallError(errno.EPERM)
    vfs = t.kernel.vfs
    new = _directory(t, vfs, new_root)
    ns = t.fs.mntns
    old = ns.topmost(_directory(t, vfs, put_old))
    root = t.fs.root
    new_mount, root_mount, old_mount = mount_of(new), mount_of(root), mount_of(old)
    if _shared(old_mount) or _shared(new_mount.parent) or _shared(root_mount.parent):
        raise SyscallError(errno.EINVAL)
    if not ns.contains(root_mount) or not ns.contains(new_mount):
        raise SyscallError(errno.EINVAL)
    if new_mount is root_mount or old_mount is root_mount:
        raise SyscallError(errno.EBUSY)
    if root is not root_mount.root or new is not new_mount.root or new_mount.parent is None:
        raise SyscallError(errno.EINVAL)  # the root and new_root must both be mount points
    if not new.is_ancestor_of(old) or not root.is_ancestor_of(new):
        raise SyscallError(errno.EINVAL)
    ns.pivot(root_mount, new_mount, old)
    for task in t.kernel.tasks.values():
        if task.fs.root is root:
            task.fs.root = new
        if task.fs.cwd is root:
            task.fs.cwd = new
    return 0


def _directory(t, vfs, path):
    dentry = vfs.lookup(t, AT_FDCWD, t.copy_in_str(path))
    if not dentry.inode.is_dir:
        raise SyscallError(errno.ENOTDIR)
    return dentry


def _shared(mount):
    return mount is not None and mount.peers is not None
