"""Cgroup namespaces (cgroup_namespaces(7)) and the sandbox's cgroup v2 hierarchy they look into.

The sandbox has one hierarchy (one per VFS): a tree of cgroup directories that every cgroup
or cgroup2 mount shows, from the hierarchy's root at set-up (an OCI config's /sys/fs/cgroup)
or from the mounting task's namespace root. mkdir makes a cgroup, rmdir removes an empty one
(EBUSY while it has processes or cgroups below), writing a pid to cgroup.procs moves that
process. Limits are not enforced: the interface files report none (the sandbox as a whole is
limited through the host's cgroup, docs/OCI.md).

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
from .vfs.procfs import ProcInode
from .weakrefs import WeakKeyMap

INITIAL_CGROUP_INO = 0xEFFFFFFB     # PROC_CGROUP_INIT_INO
# The interface files a cgroup shows, reporting no limits.
_INTERFACE_FILES = ((b"cgroup.controllers", b"cpu memory pids\n"), (b"cgroup.subtree_control", b""),
                    (b"cpu.max", b"max 100000\n"), (b"memory.max", b"max\n"), (b"memory.current", b"0\n"),
                    (b"pids.max", b"max\n"), (b"pids.current", b"0\n"))


class Cgroup(MemDir):
    """One cgroup: a directory of its interface files and its child cgroups."""

    def __init__(self, hierarchy, parent, name, mode=0o755, uid=0, gid=0):
        super().__init__(mode, uid, gid)
        self.hierarchy, self.parent, self.name = hierarchy, parent, name
        for file_name, text in _INTERFACE_FILES:
            self.children[file_name] = MemFile(0o444, data=text)
        self.children[b"cgroup.procs"] = ProcsInode(self)

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


class ProcsInode(ProcInode):
    """cgroup.procs: the cgroup's processes; writing a pid ("0": the writer) moves that process."""

    def __init__(self, cgroup):
        super().__init__(stat.S_IFREG | 0o644)
        self.cgroup = cgroup

    def open(self, t, dentry, flags):
        return ProcsFile(flags, dentry, self.cgroup)


class ProcsFile(ContentFile):
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
        if self.cgroup.parent is None and self.cgroup is not self.cgroup.hierarchy.root:
            raise SyscallError(errno.ENODEV)
        tg.cgroup = None if self.cgroup is self.cgroup.hierarchy.root else self.cgroup
        return len(data)


class Hierarchy:
    """The sandbox's cgroup v2 tree."""

    def __init__(self, vfs):
        self.vfs = weakref.ref(vfs)     # the map of hierarchies holds its VFS weakly
        self.root = Cgroup(self, None, b"")


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
