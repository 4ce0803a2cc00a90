"""File change notification: the VFS reports what happened here, and inotify watches hear it.

A watch names a file by identity (st_dev, st_ino), so it sees the file
under any name. The reporting functions do nothing while no watch exists,
so the cost without inotify is one check. Events a watched directory gets
about its children carry the child's name.
"""
import collections
import itertools

from ..errors import SyscallError

IN_ACCESS, IN_MODIFY, IN_ATTRIB, IN_CLOSE_WRITE = 0x1, 0x2, 0x4, 0x8
IN_CLOSE_NOWRITE, IN_OPEN, IN_MOVED_FROM, IN_MOVED_TO = 0x10, 0x20, 0x40, 0x80
IN_CREATE, IN_DELETE, IN_DELETE_SELF, IN_MOVE_SELF = 0x100, 0x200, 0x400, 0x800
IN_UNMOUNT, IN_Q_OVERFLOW, IN_IGNORED = 0x2000, 0x4000, 0x8000
IN_ONLYDIR, IN_DONT_FOLLOW, IN_EXCL_UNLINK = 0x01000000, 0x02000000, 0x04000000
IN_MASK_CREATE, IN_MASK_ADD, IN_ISDIR, IN_ONESHOT = 0x10000000, 0x20000000, 0x40000000, 0x80000000
IN_ALL_EVENTS = 0xFFF
VALID_WATCH_FLAGS = (IN_ALL_EVENTS | IN_ONLYDIR | IN_DONT_FOLLOW | IN_EXCL_UNLINK | IN_MASK_CREATE
                     | IN_MASK_ADD | IN_ONESHOT)
# Events that a directory's watch also gets for its children.
_CHILD_EVENTS = IN_ALL_EVENTS & ~(IN_DELETE_SELF | IN_MOVE_SELF)

_cookies = itertools.count(1)


class Watch:
    __slots__ = ("instance", "wd", "mask", "key")

    def __init__(self, instance, wd, mask, key):
        self.instance = instance
        self.wd = wd
        self.mask = mask
        self.key = key


class WatchRegistry:
    """Every watch of the sandbox, by the watched file's identity."""

    def __init__(self):
        self.by_key = collections.defaultdict(list)

    def __bool__(self):
        return bool(self.by_key)

    def add(self, watch):
        self.by_key[watch.key].append(watch)

    def remove(self, watch):
        watches = self.by_key.get(watch.key)
        if watches and watch in watches:
            watches.remove(watch)
            if not watches:
                del self.by_key[watch.key]

    def deliver(self, key, mask, name=b"", cookie=0, as_parent=False):
        for watch in list(self.by_key.get(key, ())):
            if as_parent and not mask & _CHILD_EVENTS:
                continue
            if watch.mask & mask & IN_ALL_EVENTS or mask & IN_IGNORED:
                watch.instance.queue_event(watch, mask, cookie, name)
                if watch.mask & IN_ONESHOT:
                    watch.instance.drop_watch(watch)


WATCHES = WatchRegistry()


# --- what the VFS reports (no-ops while nothing is watched) ---

def _key(dentry):
    try:
        attrs = dentry.inode.stat()
    except SyscallError:
        return None
    return attrs.dev, attrs.ino


def _dir_flag(dentry):
    return IN_ISDIR if dentry.inode.is_dir else 0


def file_event(dentry, mask):
    """Something happened to the file at `dentry`: its directory's watches hear of it first, with
    the file's name, then the file's own (the order Linux queues them in)."""
    if not WATCHES or dentry is None:
        return
    mask |= _dir_flag(dentry)
    if dentry.parent is not None:
        parent_key = _key(dentry.parent)
        if parent_key is not None:
            WATCHES.deliver(parent_key, mask, dentry.name, as_parent=True)
    key = _key(dentry)
    if key is not None:
        WATCHES.deliver(key, mask)


def entry_added(parent, name):
    """`name` appeared in directory `parent` (creat, mkdir, mknod, symlink, link)."""
    if not WATCHES:
        return
    flag = 0
    child = parent.cached_child(name)
    if child is not None:
        flag = _dir_flag(child)
    else:
        try:
            flag = IN_ISDIR if parent.inode.lookup(name).is_dir else 0
        except SyscallError:
            pass
    parent_key = _key(parent)
    if parent_key is not None:
        WATCHES.deliver(parent_key, IN_CREATE | flag, name)


def before_removal(child):
    """The identity of a file about to lose a name, while it can still be asked (None: unwatched)."""
    return _key(child) if WATCHES else None


def entry_removed(parent, name, child, child_key, is_dir):
    """`name` (the file `child_key`) left directory `parent` (unlink, rmdir): the file hears of
    its link count (IN_ATTRIB) and, with its last link gone, of its deletion; then the directory."""
    if not WATCHES:
        return
    if child_key is not None:
        if not is_dir:
            WATCHES.deliver(child_key, IN_ATTRIB)
        try:
            still_linked = not is_dir and child.inode.stat().nlink > 0
        except SyscallError:
            still_linked = False
        if not still_linked:
            _deleted(child_key)
    parent_key = _key(parent)
    if parent_key is not None:
        WATCHES.deliver(parent_key, IN_DELETE | (IN_ISDIR if is_dir else 0), name)


def _deleted(key):
    WATCHES.deliver(key, IN_DELETE_SELF)
    for watch in list(WATCHES.by_key.get(key, ())):
        watch.instance.drop_watch(watch)


def entry_moved(old_parent, old_name, new_parent, new_name, moved, replaced_key):
    """rename(2) moved `moved` from old_parent/old_name to new_parent/new_name."""
    if not WATCHES:
        return
    flag = _dir_flag(moved)
    cookie = next(_cookies) & 0xFFFFFFFF
    old_key, new_key, moved_key = _key(old_parent), _key(new_parent), _key(moved)
    if old_key is not None:
        WATCHES.deliver(old_key, IN_MOVED_FROM | flag, old_name, cookie)
    if new_key is not None:
        WATCHES.deliver(new_key, IN_MOVED_TO | flag, new_name, cookie)
    if moved_key is not None:
        WATCHES.deliver(moved_key, IN_MOVE_SELF | flag)
    if replaced_key is not None and replaced_key != moved_key:
        _deleted(replaced_key)


def attributes_changed(dentry):
    """chmod, chown, utimes, xattrs: IN_ATTRIB for the file and its directory."""
    file_event(dentry, IN_ATTRIB)


def link_count_changed(dentry):
    """link(2) added a name: IN_ATTRIB for the file's own watches only."""
    if WATCHES:
        key = _key(dentry)
        if key is not None:
            WATCHES.deliver(key, IN_ATTRIB | _dir_flag(dentry))


def opened(file, truncated):
    """open(2) gave `file`; `truncated`: O_TRUNC emptied an existing file."""
    if WATCHES and file.dentry is not None and not file.is_path_only:
        file_event(file.dentry, IN_OPEN)
        if truncated:
            file_event(file.dentry, IN_MODIFY)


def closed(file):
    if WATCHES and file.dentry is not None and not file.is_path_only:
        file_event(file.dentry, IN_CLOSE_WRITE if file.writable else IN_CLOSE_NOWRITE)


def modified(dentry):
    """The file's data changed (write, truncate, fallocate, copy_file_range...)."""
    if WATCHES and dentry is not None:
        file_event(dentry, IN_MODIFY)


def accessed(dentry):
    """The file's data was read (read, pread, readv, sendfile's and splice's source, getdents)."""
    if WATCHES and dentry is not None:
        file_event(dentry, IN_ACCESS)


def unmounted(dev, directories):
    """The last mount of filesystem `dev` went away: each watch on one of its files hears
    IN_UNMOUNT (whatever its mask; with IN_ISDIR for the keys in `directories`) and ends
    with IN_IGNORED."""
    if not WATCHES:
        return
    for key in [key for key in WATCHES.by_key if key[0] == dev]:
        flag = IN_ISDIR if key in directories else 0
        for watch in list(WATCHES.by_key.get(key, ())):
            watch.instance.queue_event(watch, IN_UNMOUNT | flag, 0, b"")
            watch.instance.drop_watch(watch)
