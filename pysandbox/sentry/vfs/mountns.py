"""Mount namespaces (mount_namespaces(7)): each task sees one tree of mounts.

Every mount of every namespace has a root dentry of its own (`MountRoot`), and
the dentries below it belong to that mount alone. So a copied namespace is
new mount roots over the same inodes, hung at the same names, and a dentry
names a (mount, file) pair the way Linux's `struct path` does: which mount a
dentry is on is found by walking up to its MountRoot.

Propagation follows Linux's peer groups: a mount made under a shared mount
is copied to that mount's peers (which share the new mount too) and to its
slaves (which receive it as slaves); an unmount there is propagated the same
way. Private mounts (the default) propagate nothing; unbindable ones are
also refused as a bind source.
"""
import itertools
import os

from . import fsnotify
from .inode import Dentry
from .mount import Mount
from ..errors import SyscallError
from ..weakrefs import WeakOrderedSet

FIRST_NAMESPACE_INODE = 4026531841
FIRST_MOUNT_ID = 20


class MountRoot(Dentry):
    """The root dentry of one mount in one namespace."""

    __slots__ = ("vfsmount",)

    def __init__(self, inode, parent=None, name=b"/", vfsmount=None):
        super().__init__(inode, parent, name)
        self.vfsmount = vfsmount


def mount_of(dentry, default=None):
    """The Mount `dentry` is on (`default` for an anonymous dentry: a pipe, a socket)."""
    while type(dentry) is not MountRoot:
        dentry = dentry.parent
        if dentry is None:
            return default
    return dentry.vfsmount


class PeerGroup:
    """Mounts that propagate mounts and unmounts to each other (mountinfo's shared:N), and
    the mounts that receive them without sending any back (master:N)."""

    def __init__(self, group_id):
        self.id = group_id
        # Weak: a namespace no task uses any more goes, and its mounts with it.
        self.members = WeakOrderedSet()
        self.slaves = WeakOrderedSet()


class MountIds:
    """Mount ids, peer group ids and namespace inode numbers: one sequence per sandbox."""

    def __init__(self):
        self.mount_ids = itertools.count(FIRST_MOUNT_ID)
        self.group_ids = itertools.count(1)
        self.namespace_inodes = itertools.count(FIRST_NAMESPACE_INODE)
        self.namespaces = WeakOrderedSet()  # the namespaces alive, for the last-unmount check

    def new_group(self):
        return PeerGroup(next(self.group_ids))


class MountNamespace:
    """One namespace's mounts, in the order they were made, and the root mount of its tree."""

    def __init__(self, ids=None):
        self.ids = ids or MountIds()
        self.ino = next(self.ids.namespace_inodes)
        self.mounts = []
        self.root_mount = None
        self._ns_file = None
        self.ids.namespaces.add(self)

    @property
    def root(self):
        return self.root_mount.root

    # --- making and removing mounts ---

    def add_root(self, root_inode, fstype, source, flags, data):
        mount = self._new_mount(None, root_inode, fstype, source, flags, data)
        self.root_mount = mount
        return mount

    def _new_mount(self, parent, root_inode, fstype, source, flags, data, root_path=b"/"):
        root = MountRoot(root_inode)
        mount = Mount(next(self.ids.mount_ids), parent, root, fstype, source, flags, data, root_path)
        root.vfsmount = mount
        mount.ns = self
        self.mounts.append(mount)
        return mount

    def _new_copy(self, template, parent):
        """A new mount like `template`: the same filesystem, root, flags and options (a copy is
        never unbindable, as on Linux)."""
        mount = self._new_mount(parent, template.root.inode, template.fstype, template.source, template.flags,
                                template.data, template.root_path)
        mount.fs_read_only = template.fs_read_only
        return mount

    @staticmethod
    def _parent_at(parent_dentry, name):
        """The Mount a new mount at parent_dentry/name hangs on: over a mount already there, that
        mount, as on Linux (mounted on its root)."""
        covered = parent_dentry.mounts.get(name)
        return covered.vfsmount if covered is not None else mount_of(parent_dentry)

    def attach(self, parent_dentry, name, root_inode, fstype, source, flags, data, root_path=b"/"):
        """Mount `root_inode` on `parent_dentry`'s child `name`."""
        mount = self._new_mount(self._parent_at(parent_dentry, name), root_inode, fstype, source, flags, data,
                                root_path)
        self._hang(mount, parent_dentry, name)
        return mount

    def attach_like(self, template, parent_dentry, name):
        """A copy of mount `template` at parent_dentry/name."""
        mount = self._new_copy(template, self._parent_at(parent_dentry, name))
        self._hang(mount, parent_dentry, name)
        return mount

    def _hang(self, mount, holder, name):
        """Put mount's root at holder/name, on top of what is there; a `holder` of None stacks it
        on mount.parent's root, which hangs nowhere (pivot_root(".", ".") puts the old root so)."""
        root = mount.root
        if holder is None:
            mount.covered = mount.parent.root
            root.parent, root.name = None, b"/"
            return
        mount.covered = holder.mounts.get(name)
        root.parent, root.name = holder, name
        holder.mounts[name] = root

    @staticmethod
    def _unhang(mount):
        """Take mount's root off its mount point, showing again what it covered."""
        root = mount.root
        holder = root.parent
        if holder is not None and holder.mounts.get(root.name) is root:
            if mount.covered is not None and mount.covered.parent is holder:
                holder.mounts[root.name] = mount.covered
            else:
                holder.mounts.pop(root.name, None)
        mount.covered = None

    def detach(self, mount):
        """Take `mount` and every mount under it out of the namespace (umount2, lazily or not).
        Files and working directories still in it keep working, as after MNT_DETACH on Linux;
        its root no longer hangs anywhere, so `..` stops there."""
        for child in self.children(mount):
            self.detach(child)
        self._unhang(mount)
        self.mounts.remove(mount)
        mount.ns = None
        _leave_propagation(mount)
        mount.root.parent, mount.root.name = None, b"/"
        self._report_unmount(mount)

    def _report_unmount(self, mount):
        """inotify's IN_UNMOUNT, once the filesystem's last mount in any namespace is gone."""
        if not fsnotify.WATCHES:
            return
        dev = _dev(mount)
        if dev is None or self.mounts_of_filesystem(mount):
            return
        fsnotify.unmounted(dev, _directory_keys(mount.root))

    def mounts_of_filesystem(self, mount):
        """The mounts, in every namespace, of the filesystem `mount` shows (`mount` too while
        it is in one)."""
        dev = _dev(mount)
        return [other for ns in list(self.ids.namespaces) for other in ns.mounts
                if other.root.inode is mount.root.inode or (dev is not None and _dev(other) == dev)]

    def move(self, mount, point):
        """MS_MOVE: `mount`, with everything mounted below it, now hangs on dentry `point` (on the
        root itself too, as switch_root moves the new root onto `/`)."""
        self._unhang(mount)
        mount.parent = mount_of(point)
        self._hang(mount, point.parent, point.name)

    def pivot(self, root_mount, new_mount, put_old):
        """pivot_root(2): `new_mount` takes the place of `root_mount`, which goes on `put_old`."""
        old_mount = mount_of(put_old)
        holder, name, covered, parent = (root_mount.root.parent, root_mount.root.name, root_mount.covered,
                                         root_mount.parent)
        self._unhang(new_mount)
        self._unhang(root_mount)
        new_mount.parent = parent
        new_root = new_mount.root
        if root_mount is self.root_mount:
            new_root.parent, new_root.name = None, b"/"
            self.root_mount = new_mount
        else:
            new_root.parent, new_root.name = holder, name
            holder.mounts[name] = new_root
            new_mount.covered = covered
        root_mount.parent = old_mount
        self._hang(root_mount, put_old.parent, put_old.name)

    # --- looking mounts up ---

    def mount_at(self, dentry):
        """The Mount of this namespace whose root `dentry` is, or None."""
        if type(dentry) is MountRoot and dentry.vfsmount.ns is self:
            return dentry.vfsmount
        return None

    def topmost(self, dentry):
        """What is mounted on top of `dentry`, all the way up (a path's last component is `.`, or
        the cwd, and something was mounted over it since)."""
        while True:
            above = None
            holder = dentry.parent
            if holder is not None and holder.mounts.get(dentry.name) not in (None, dentry):
                above = holder.mounts[dentry.name]
            else:
                for mount in self.mounts:
                    if mount.covered is dentry and mount.root.parent is None:
                        above = mount.root
            if above is None:
                return dentry
            dentry = above

    def children(self, mount):
        return [child for child in self.mounts if child.parent is mount]

    def subtree(self, mount):
        """`mount` and every mount below it, depth first in the order they were made (the order
        Linux copies a tree in, so a copied namespace lists its mounts so)."""
        found = [mount]
        for child in self.children(mount):
            found.extend(self.subtree(child))
        return found

    def contains(self, mount):
        return mount is not None and mount.ns is self

    # --- /proc/<pid>/mounts and mountinfo ---

    def render(self, task_root, info):
        """/proc/<pid>/mounts (or mountinfo with `info`) as seen from root dentry `task_root`."""
        lines = []
        for mount in self.mounts:
            point = self._point(mount, task_root)
            if point is not None:
                lines.append(mount.mountinfo_line(point) if info else mount.mounts_line(point))
        return "".join(lines)

    def _point(self, mount, task_root):
        """The mount point as a path from `task_root`, None when it is not below it."""
        if mount.root is task_root:
            return "/"
        if mount.root.parent is None and mount is not self.root_mount:
            return self._point(mount.parent, task_root)  # stacked on its parent's root
        if not task_root.is_ancestor_of(mount.root):
            return None
        if mount.parent is None:
            return "/"
        return os.fsdecode(mount.root.path(task_root))

    # --- namespaces ---

    def copy(self):
        """clone(CLONE_NEWNS), unshare(CLONE_NEWNS): a new namespace with a copy of every mount,
        and {original Mount: its copy}. Shared mounts' copies are their peers, slaves' copies
        slaves of the same master."""
        new = MountNamespace(self.ids)
        new.root_mount = new._new_copy(self.root_mount, None)
        return new, new._copy_subtree(self.root_mount, new.root_mount, as_peer=True)

    def link_target(self):
        """What readlink(2) of /proc/<pid>/ns/mnt gives: "mnt:[4026531841]"."""
        return b"mnt:[%d]" % self.ino

    def ns_file_dentry(self):
        """The dentry /proc/<pid>/ns/mnt leads to (one per namespace, as nsfs has)."""
        if self._ns_file is None:
            from ..nsfs import NamespaceInode
            self._ns_file = Dentry(NamespaceInode(self), None, self.link_target())
        return self._ns_file

    # --- propagation ---

    def set_propagation(self, mount, kind):
        """MS_SHARED, MS_SLAVE, MS_PRIVATE or MS_UNBINDABLE (as "shared", ...) for one mount."""
        if kind == "shared":
            if mount.peers is None:
                mount.peers = self.ids.new_group()
                mount.peers.members.add(mount)
            mount.unbindable = False
            return
        _make_slave(mount)
        if kind != "slave":
            if mount.master is not None:
                mount.master.slaves.discard(mount)
                mount.master = None
            mount.unbindable = kind == "unbindable"

    def propagate_mount(self, new):
        """A mount just made under a shared mount appears under that mount's peers and slaves,
        and itself becomes shared with the copies made under peers."""
        parent = new.parent
        if parent is None or parent.peers is None:
            return
        if new.peers is None:
            for mount in self.subtree(new):
                self.set_propagation(mount, "shared")
        names = _mountpoint_names(new)
        tree = self.subtree(new)
        for receiver, as_peer in _receivers(parent):
            if receiver in tree:
                continue  # a bind of the parent's own peer: never into itself
            place = _place_in(receiver, names)
            if place is not None:
                receiver.ns._copy_subtree(new, receiver.ns.attach_like(new, *place), as_peer)

    def _copy_subtree(self, source, source_copy, as_peer):
        """Copies in this namespace, below `source_copy` (made already), of the mounts below
        `source`, at the same places; each copy shares its original's propagation. Returns
        {original Mount: its copy}."""
        copies = {}
        for mount in source.ns.subtree(source):
            if mount is source:
                copy = source_copy
            elif mount.root.parent is None:  # stacked on its parent's root
                copy = self._new_copy(mount, copies[mount.parent])
                self._hang(copy, None, None)
            else:
                holder = translate(mount.root.parent, copies)
                if holder is None:
                    continue
                copy = self.attach_like(mount, holder, mount.root.name)
            share_propagation(mount, copy, as_peer)
            copies[mount] = copy
        return copies

    def unmount(self, mount):
        """umount2: detach `mount` with what is below it. Each of those that hangs under a shared
        mount takes its copies under that mount's peers and slaves along, unless something
        else than what goes is mounted below a copy (Linux's propagate_umount)."""
        doomed = self.subtree(mount)
        plans = [(each, _mountpoint_names(each), _receivers(each.parent)) for each in doomed
                 if each.parent is not None and each.parent.peers is not None]
        self.detach(mount)
        doomed_inodes = {id(each.root.inode) for each in doomed}
        for each, names, receivers in plans:
            for receiver, _ in receivers:
                place = _place_in(receiver, names) if receiver.ns is not None else None
                top = place[0].mounts.get(place[1]) if place is not None else None
                copy = top.vfsmount if top is not None else None
                if copy is None or copy.ns is None or copy.root.inode is not each.root.inode:
                    continue
                if all(id(child.root.inode) in doomed_inodes for child in copy.ns.children(copy)):
                    copy.ns.detach(copy)


def namespace_of(file):
    """The MountNamespace an open /proc/<pid>/ns/mnt file names, else None."""
    from ..nsfs import NamespaceInode
    dentry = getattr(file, "dentry", None)
    inode = dentry.inode if dentry is not None else None
    return inode.namespace if isinstance(inode, NamespaceInode) else None


def translate(dentry, copies):
    """The dentry at the same place as `dentry` in the mounts' copies ({Mount: copy}), or None."""
    mount = mount_of(dentry)
    copy = copies.get(mount)
    if copy is None:
        return None
    return _walk_names(copy.root, names_below(mount.root, dentry))


def names_below(top, dentry):
    """The names leading from `top` down to `dentry`, one of its descendants."""
    names = []
    while dentry is not top:
        names.append(dentry.name)
        dentry = dentry.parent
    return names[::-1]


def _walk_names(dentry, names):
    """Follow `names` from `dentry` inside its own mount (never into a mount on the way)."""
    for name in names:
        child = dentry.cached_child(name)
        if child is None:
            if name in dentry.mounts:
                return None
            try:
                child = dentry.lookup(name)
            except SyscallError:
                return None
        dentry = child
    return dentry


def _path_in_filesystem(dentry, mount):
    """Where `dentry` (on `mount`) is inside the mount's filesystem, as a list of names."""
    above = [name for name in mount.root_path.split(b"/") if name]
    return above + names_below(mount.root, dentry)


def path_in_filesystem(dentry, mount):
    """Where `dentry` (on `mount`) is inside the mount's filesystem: mountinfo's root of a bind
    of it."""
    return b"/" + b"/".join(_path_in_filesystem(dentry, mount))


def _mountpoint_names(mount):
    """Where `mount` sits inside its parent's filesystem, as names (none: on the parent's root)."""
    parent = mount.parent
    if mount.covered is parent.root:
        return _path_in_filesystem(parent.root, parent)
    return _path_in_filesystem(mount.root.parent, parent) + [mount.root.name]


def _place_in(mount, names):
    """(holder dentry, name) where a mount at `names` of its filesystem goes on `mount`; None when
    `mount` shows only part of the filesystem and that part does not hold the place (or the
    place is the root of a namespace)."""
    above = [name for name in mount.root_path.split(b"/") if name]
    if names[:len(above)] != above:
        return None
    rest = names[len(above):]
    if not rest:
        root = mount.root
        return (root.parent, root.name) if root.parent is not None else None
    holder = _walk_names(mount.root, rest[:-1])
    return (holder, rest[-1]) if holder is not None else None


def _receivers(mount):
    """(mount, whether a peer) for every attached mount that hears of mounts made under `mount`:
    its peers, their slaves, and so on through slaves that are shared themselves."""
    found = []
    groups, seen = [(mount.peers, True)], set()
    while groups:
        group, as_peer = groups.pop()
        if id(group) in seen:
            continue
        seen.add(id(group))
        found += [(member, as_peer) for member in list(group.members) if member is not mount and member.ns]
        for slave in list(group.slaves):
            if slave.ns is not None:
                found.append((slave, False))
                if slave.peers is not None:
                    groups.append((slave.peers, False))
    return found


def share_propagation(original, copy, as_peer):
    """`copy` of `original` joins its peer group (as_peer) or becomes its group's slave; and a
    slave's copy is a slave of the same master."""
    if original.peers is not None:
        if as_peer:
            copy.peers = original.peers
            original.peers.members.add(copy)
        else:
            copy.master = original.peers
            original.peers.slaves.add(copy)
    if as_peer and original.master is not None:
        copy.master = original.master
        original.master.slaves.add(copy)


def _make_slave(mount):
    """MS_SLAVE (and the first half of MS_PRIVATE): leave the peer group, receiving from it from
    now on if it has other members, else keep the master mount had (Linux's do_make_slave)."""
    group = mount.peers
    if group is None:
        return
    group.members.discard(mount)
    mount.peers = None
    if group.members:
        master = group
    else:
        master = mount.master
        for slave in list(group.slaves):
            group.slaves.discard(slave)
            slave.master = master
            if master is not None:
                master.slaves.add(slave)
    if master is not None and mount.master is not master:
        if mount.master is not None:
            mount.master.slaves.discard(mount)
        mount.master = master
        master.slaves.add(mount)


def _leave_propagation(mount):
    if mount.peers is not None:
        mount.peers.members.discard(mount)
        mount.peers = None
    if mount.master is not None:
        mount.master.slaves.discard(mount)
        mount.master = None


def _directory_keys(root):
    """(dev, ino) of the directories of a mount's dentry tree still in the dentry cache."""
    keys, pending = set(), [root]
    for dentry in pending:
        if dentry.inode.is_dir:
            try:
                attrs = dentry.inode.stat()
            except SyscallError:
                continue
            keys.add((attrs.dev, attrs.ino))
            for name in list(dentry._children or ()):
                child = dentry.cached_child(name)
                if child is not None:
                    pending.append(child)
    return keys


def _dev(mount):
    try:
        return mount.root.inode.stat().dev
    except SyscallError:
        return None


def enter_copy(fs):
    """Move FSContext `fs` (no other task's) to a copy of its mount namespace, its root and
    working directory to the same places in the copy."""
    ns, copies = fs.mntns.copy()
    fs.root = translate(fs.root, copies) or fs.root
    fs.cwd = translate(fs.cwd, copies) or fs.cwd
    fs.mntns = ns


def enter(fs, ns):
    """setns(2): FSContext `fs` moves to namespace `ns`, at its root."""
    fs.mntns = ns
    fs.root = fs.cwd = ns.root
