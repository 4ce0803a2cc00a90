"""Cgroup namespaces (cgroup_namespaces(7)) and the sandbox's cgroup v2 hierarchy they look into.

The sandbox has one hierarchy (one per VFS): a tree of cgroup directories that every cgroup
or cgroup2 mount shows, from the hierarchy's root at set-up (an OCI config's /sys/fs/cgroup)
or from the mounting task's namespace root. mkdir makes a cgroup, rmdir removes an empty one
(EBUSY while it has processes or cgroups below), writing a pid to cgroup.procs moves that
process, clone3(2)'s CLONE_INTO_CGROUP starts a child in one. Controllers are enabled for a
cgroup's children through cgroup.subtree_control with the "no internal processes" rule, but
limits are not enforced: the interface files report none (the sandbox as a whole is limited
through the host's cgroup, docs/OCI.md).

A namespace's root is the cgroup its maker was in when it made it (clone(2), clone3(2) or
unshare(2) with CLONE_NEWCGROUP). /proc/PID/cgroup shows the process's cgroup relative to the
*reader's* namespace root, with "/.." steps for a cgroup outside it, as cgroup_path_ns() does.
"""
import errno
import posixpath
import stat
import weakref

from .errors import SyscallError
from .nsfs import InitialNamespaces, Namespace, new_inode_number
from .vfs.file import ContentFile
from .vfs.memfs import MemDir, MemFile
from .vfs.procfs import ProcFile, ProcInode
from .weakrefs import WeakKeyMap

INITIAL_CGROUP_INO = 0xEFFFFFFB     # PROC_CGROUP_INIT_INO
ROOT_CGROUP_ID = 1                  # the root's kernfs id, its inode number; others count up from 2
# The interface files a cgroup shows, reporting no limits.
_INTERFACE_FILES = ((b"cpu.max", b"max 100000\n"), (b"memory.max", b"max\n"), (b"memory.current", b"0\n"),
                    (b"pids.max", b"max\n"), (b"pids.current", b"0\n"))
# Linux's cgroup v2 controllers in its order; the root offers the sandbox's; the threaded ones
# may sit beside processes (cgrp_dfl_threaded_ss_mask), the others are "domain" controllers.
KNOWN_CONTROLLERS = (b"cpuset", b"cpu", b"io", b"memory", b"hugetlb", b"pids", b"rdma", b"misc")
ROOT_CONTROLLERS = (b"cpu", b"memory", b"pids")
THREADED_CONTROLLERS = (b"cpuset", b"cpu", b"pids")


class Cgroup(MemDir):
    """One cgroup: a directory of its interface files and its child cgroups."""

    def __init__(self, hierarchy, parent, name, mode=0o755, uid=0, gid=0):
        super().__init__(mode, uid, gid)
        self.hierarchy, self.parent, self.name = hierarchy, parent, name
        self.subtree_control = set()
        for file_name, text in _INTERFACE_FILES:
            self.children[file_name] = MemFile(0o444, data=text)
        self.children[b"cgroup.procs"] = CgroupFileInode(self, ProcsFile)
        self.children[b"cgroup.controllers"] = ProcFile(lambda t: _controller_list(self.controllers()))
        self.children[b"cgroup.subtree_control"] = CgroupFileInode(self, SubtreeControlFile)

    def path(self):
        """The cgroup's absolute path in the hierarchy ("/" for the root)."""
        names = []
        cgroup = self
        while cgroup.parent is not None:
            names.append(cgroup.name)
            cgroup = cgroup.parent
        return b"/" + b"/".join(reversed(names))

    def members(self):
        """The live processes in this cgroup, by tgid."""
        kernel = self.hierarchy.vfs().kernel     # None until the first task runs
        groups = kernel.thread_groups.items() if kernel is not None else ()
        return sorted(tgid for tgid, tg in groups if not tg.zombie and (tg.cgroup or self.hierarchy.root) is self)

    @property
    def removed(self):
        """rmdir took it away (a directory fd or a cgroup.procs file may still hold it)."""
        return self.parent is None and self is not self.hierarchy.root

    def controllers(self):
        """What cgroup.controllers lists: what its parent enabled for it, or at the root all."""
        return set(ROOT_CONTROLLERS) if self.parent is None else self.parent.subtree_control

    def populated(self):
        """Some live process is in it or below (cgroup.events' populated)."""
        return bool(self.members()) or any(child.populated() for child in self.sub_cgroups())

    def can_be_thread_root(self):
        """cgroup_can_be_thread_root(): the root always; else one with no populated child
        cgroups and no domain controller enabled for its children."""
        if self.parent is None:
            return True
        return not any(child.populated() for child in self.sub_cgroups()) and \
            self.subtree_control <= set(THREADED_CONTROLLERS)

    def check_migration_into(self):
        """cgroup_migrate_vet_dst(): EBUSY for a cgroup whose controllers are enabled for its
        children, processes there would compete with them (cgroup v2's "no internal
        processes" rule), unless it could still become a threaded subtree's root."""
        if self.subtree_control and not self.can_be_thread_root():     # the cheap test first
            raise SyscallError(errno.EBUSY)

    def sub_cgroups(self):
        return [child for child in self.children.values() if isinstance(child, Cgroup)]

    def mkdir(self, name, mode, uid, gid):
        return self.add(name, Cgroup(self.hierarchy, self, name, mode, uid, gid))

    def create(self, name, mode, uid, gid):
        raise SyscallError(errno.EPERM)     # a cgroup holds only what the kernel puts there

    def symlink(self, name, target, uid, gid):
        raise SyscallError(errno.EPERM)

    def mknod(self, name, mode, rdev, uid, gid):
        raise SyscallError(errno.EPERM)

    def link(self, name, inode):
        raise SyscallError(errno.EPERM)

    def unlink(self, name):
        raise SyscallError(errno.EPERM)

    def rmdir(self, name):
        """cgroup_rmdir(): EBUSY while the cgroup has processes or cgroups of its own."""
        child = self.lookup(name)
        if not isinstance(child, Cgroup):
            raise SyscallError(errno.ENOTDIR)
        if child.members() or child.sub_cgroups():
            raise SyscallError(errno.EBUSY)
        self.remove(name)
        child.parent = None

    def rename(self, name, child, new_dir, new_name, replaced):
        """cgroup_rename(): a cgroup may change its name, never its parent (EPERM)."""
        if new_dir is not self or not isinstance(child, Cgroup):
            raise SyscallError(errno.EPERM)
        if replaced is not None:
            raise SyscallError(errno.EEXIST)
        super().rename(name, child, new_dir, new_name, None)
        child.name = new_name

    def exchange(self, name, child, new_dir, new_name, other):
        raise SyscallError(errno.EPERM)


class CgroupFileInode(ProcInode):
    """A cgroup's writable interface file: its text is made when it is opened, by `file_class`,
    which also takes the writes."""

    def __init__(self, cgroup, file_class):
        super().__init__(stat.S_IFREG | 0o644)
        self.cgroup, self.file_class = cgroup, file_class

    def open(self, t, dentry, flags):
        return self.file_class(flags, dentry, self.cgroup)


class ProcsFile(ContentFile):
    """cgroup.procs: the cgroup's processes; writing a pid ("0": the writer) moves that process."""

    def __init__(self, flags, dentry, cgroup):
        super().__init__(flags, dentry, b"", b"".join(b"%d\n" % tgid for tgid in cgroup.members()))
        self.cgroup = cgroup

    def write(self, t, data):
        """cgroup_procs_write(): EINVAL for what is not a number, ESRCH for no such process,
        ENODEV for a cgroup removed meanwhile. The hierarchy behaves as one mounted without
        nsdelegate (Linux's default): a namespace does not fence what root may move where."""
        try:
            pid = int(data.strip())
        except ValueError:
            raise SyscallError(errno.EINVAL) from None
        tg = t.tg if pid == 0 else t.kernel.thread_groups.get(pid)
        if pid < 0 or tg is None or tg.zombie:
            raise SyscallError(errno.ESRCH)
        if self.cgroup.removed:
            raise SyscallError(errno.ENODEV)
        self.cgroup.check_migration_into()
        place(tg, self.cgroup)
        return len(data)


def _controller_list(names):
    """cgroup.controllers and cgroup.subtree_control: the names in Linux's order, one line."""
    return b" ".join(name for name in KNOWN_CONTROLLERS if name in names) + b"\n"


class SubtreeControlFile(ContentFile):
    """cgroup.subtree_control: the controllers enabled for the cgroup's children; writing
    "+name" or "-name" words enables or disables them."""

    def __init__(self, flags, dentry, cgroup):
        super().__init__(flags, dentry, b"", _controller_list(cgroup.subtree_control))
        self.cgroup = cgroup

    def write(self, t, data):
        """cgroup_subtree_control_write(): EINVAL for a word that is not +/- and a controller
        Linux knows; ENODEV for a removed cgroup; ENOENT to enable one the cgroup is not offered
        (cgroup.controllers); EBUSY to disable one a child still enables, or to enable a domain
        controller for a cgroup other than the root with processes of its own."""
        enable, disable = set(), set()
        for word in filter(None, data.strip().split(b" ")):
            name = word[1:]
            if name not in KNOWN_CONTROLLERS or word[:1] not in (b"+", b"-"):
                raise SyscallError(errno.EINVAL)
            (enable if word[:1] == b"+" else disable).add(name)
            (disable if word[:1] == b"+" else enable).discard(name)
        cgroup = self.cgroup
        if cgroup.removed:
            raise SyscallError(errno.ENODEV)
        enable -= cgroup.subtree_control
        disable &= cgroup.subtree_control
        if enable - cgroup.controllers():
            raise SyscallError(errno.ENOENT)
        if any(disable & child.subtree_control for child in cgroup.sub_cgroups()):
            raise SyscallError(errno.EBUSY)
        if enable and cgroup.parent is not None and cgroup.members():
            if enable - set(THREADED_CONTROLLERS) or not cgroup.can_be_thread_root():
                raise SyscallError(errno.EBUSY)
        cgroup.subtree_control |= enable
        cgroup.subtree_control -= disable
        return len(data)


class Hierarchy:
    """The sandbox's cgroup v2 tree."""

    def __init__(self, vfs):
        self.vfs = weakref.ref(vfs)     # the map of hierarchies holds its VFS weakly
        self.root = Cgroup(self, None, b"")
        self.root.ino = ROOT_CGROUP_ID


_HIERARCHIES = WeakKeyMap()


def hierarchy(vfs):
    found = _HIERARCHIES.get(vfs)
    if found is None:
        found = _HIERARCHIES[vfs] = Hierarchy(vfs)
    return found


class CgroupNamespace(Namespace):
    kind = b"cgroup"

    def __init__(self, ino, root):
        super().__init__(ino)
        self.root = root            # the Cgroup it shows as "/"


_INITIAL = InitialNamespaces(lambda kernel: CgroupNamespace(INITIAL_CGROUP_INO, hierarchy(kernel.vfs).root))


def of(t):
    """The cgroup namespace task `t` is in."""
    return getattr(t, "cgroup_ns", None) or _INITIAL.of(t.kernel)


def cgroup_of(t):
    """The cgroup task `t`'s process is in."""
    return t.tg.cgroup or hierarchy(t.kernel.vfs).root


def place(tg, cgroup):
    """Put process `tg` into `cgroup`."""
    tg.cgroup = None if cgroup is cgroup.hierarchy.root else cgroup


def cgroup_id(tg):
    """The id of process `tg`'s cgroup (PIDFD_GET_INFO's cgroupid): its directory's inode number."""
    return tg.cgroup.ino if tg.cgroup is not None else ROOT_CGROUP_ID


def clone_target(t, fd, into_thread_group):
    """clone3(2)'s CLONE_INTO_CGROUP: the Cgroup whose directory `fd` is open on (O_PATH too),
    checked as cgroup_css_set_fork() does. EBADF for no such fd or one that is not a cgroup
    directory, ENOENT for a cgroup already removed, EACCES unless the caller may write
    cgroup.procs of the cgroup both its own and the target are below (cgroup_procs_write_permission),
    EOPNOTSUPP for a thread (CLONE_THREAD) into another cgroup than its process's."""
    from .vfs.stat import MAY_WRITE, may_access
    dentry = t.fds.get(fd).dentry
    target = dentry.inode if dentry is not None else None
    if not isinstance(target, Cgroup):
        raise SyscallError(errno.EBADF)
    if target.removed:
        raise SyscallError(errno.ENOENT)
    own = cgroup_of(t)
    common = own
    while not _is_below(target, common):
        common = common.parent
    may_access(common.lookup(b"cgroup.procs").stat(), t.creds, MAY_WRITE)
    target.check_migration_into()
    if not into_thread_group and target is not own:
        raise SyscallError(errno.EOPNOTSUPP)
    return target


def _is_below(cgroup, ancestor):
    while cgroup is not None and cgroup is not ancestor:
        cgroup = cgroup.parent
    return cgroup is ancestor


def new_namespace(t):
    """clone(2) or unshare(2) with CLONE_NEWCGROUP: rooted at the caller's cgroup."""
    return CgroupNamespace(new_inode_number(t), cgroup_of(t))


def path_from(root, cgroup):
    """`cgroup` as seen from namespace root `root` (both absolute paths): "/" + its path below
    the root, or a "/.." for each step up from the root to their common ancestor, then down."""
    root_parts = [part for part in root.split(b"/") if part]
    parts = [part for part in cgroup.split(b"/") if part]
    common = 0
    while common < min(len(root_parts), len(parts)) and root_parts[common] == parts[common]:
        common += 1
    steps = [b".."] * (len(root_parts) - common) + parts[common:]
    return posixpath.join(b"/", *steps)


def render_proc_cgroup(reader, task):
    """/proc/PID/cgroup for `task` as `reader` sees it: the v2 hierarchy's one line."""
    return b"0::%s\n" % path_from(of(reader).root.path(), cgroup_of(task).path())
