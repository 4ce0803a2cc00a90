"""The mount table: which filesystem is mounted where, with which flags and options.

`MountSpec` is one OCI-style mount (config.json's `mounts` entries, or the
`--volume`/`--tmpfs` flags of `pysandbox do`); `VFS.for_rootfs(..., mounts=)`
applies a list of them in order. A `Mount` renders its lines of
/proc/<pid>/mounts and /proc/<pid>/mountinfo; the tree of mounts each task
sees is its mount namespace (mountns.py).
"""
import os
from collections import namedtuple

from ..errors import SandboxError
from .memfs import TmpFS

# mount(2) flags.
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_SYNCHRONOUS, MS_REMOUNT = 1, 2, 4, 8, 16, 32
MS_MANDLOCK, MS_DIRSYNC, MS_NOSYMFOLLOW, MS_NOATIME, MS_NODIRATIME = 64, 128, 256, 1024, 2048
MS_BIND, MS_MOVE, MS_REC, MS_SILENT = 4096, 8192, 16384, 32768
MS_UNBINDABLE, MS_PRIVATE, MS_SLAVE, MS_SHARED = 1 << 17, 1 << 18, 1 << 19, 1 << 20
MS_RELATIME, MS_STRICTATIME, MS_LAZYTIME, MS_NOUSER = 1 << 21, 1 << 24, 1 << 25, 1 << 31
MS_PROPAGATION = MS_SHARED | MS_PRIVATE | MS_SLAVE | MS_UNBINDABLE
# The flags that belong to one mount (the rest are the filesystem's).
PER_MOUNT_FLAGS = MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOATIME | MS_NODIRATIME | \
    MS_RELATIME | MS_STRICTATIME | MS_NOSYMFOLLOW

# OCI/mount(8) option words -> (flags set, flags cleared), in /proc's spelling order.
FLAG_OPTIONS = {
    "ro": (MS_RDONLY, 0), "rw": (0, MS_RDONLY),
    "nosuid": (MS_NOSUID, 0), "suid": (0, MS_NOSUID),
    "nodev": (MS_NODEV, 0), "dev": (0, MS_NODEV),
    "noexec": (MS_NOEXEC, 0), "exec": (0, MS_NOEXEC),
    "sync": (MS_SYNCHRONOUS, 0), "async": (0, MS_SYNCHRONOUS),
    "dirsync": (MS_DIRSYNC, 0), "mand": (MS_MANDLOCK, 0), "nomand": (0, MS_MANDLOCK),
    "noatime": (MS_NOATIME, 0), "atime": (0, MS_NOATIME),
    "nodiratime": (MS_NODIRATIME, 0), "diratime": (0, MS_NODIRATIME),
    "relatime": (MS_RELATIME, 0), "norelatime": (0, MS_RELATIME),
    "strictatime": (MS_STRICTATIME, 0), "nostrictatime": (0, MS_STRICTATIME),
    "lazytime": (MS_LAZYTIME, 0), "nolazytime": (0, MS_LAZYTIME),
    "nosymfollow": (MS_NOSYMFOLLOW, 0), "symfollow": (0, MS_NOSYMFOLLOW),
}
BIND_OPTIONS = {"bind": MS_BIND, "rbind": MS_BIND | MS_REC}
# statfs(2)'s f_flags for the per-mount flags (ST_* in <sys/statvfs.h>); ST_VALID is always set.
ST_VALID = 0x20
_STATFS_FLAGS = ((MS_RDONLY, 0x1), (MS_NOSUID, 0x2), (MS_NODEV, 0x4), (MS_NOEXEC, 0x8),
                 (MS_SYNCHRONOUS, 0x10), (MS_MANDLOCK, 0x40), (MS_NOATIME, 0x400), (MS_NODIRATIME, 0x800),
                 (MS_RELATIME, 0x1000), (MS_NOSYMFOLLOW, 0x2000))
PROPAGATION_OPTIONS = {"private", "rprivate", "shared", "rshared", "slave", "rslave",
                       "unbindable", "runbindable"}
# How /proc names the per-mount flags, in the kernel's order.
_FLAG_WORDS = ((MS_NOSUID, "nosuid"), (MS_NODEV, "nodev"), (MS_NOEXEC, "noexec"),
               (MS_NOATIME, "noatime"), (MS_NODIRATIME, "nodiratime"), (MS_RELATIME, "relatime"),
               (MS_NOSYMFOLLOW, "nosymfollow"))
FILESYSTEM_TYPES = ("tmpfs", "proc", "sysfs", "devpts", "mqueue", "cgroup", "cgroup2", "bind", "none")


class MountSpec(namedtuple("MountSpec", "destination type source options", defaults=("", ()))):
    """One mount as OCI's config.json states it (options: a list of OCI/mount(8) words)."""
    __slots__ = ()


def is_bind(spec):
    """Whether `spec` binds a host path (OCI says so by type "bind" or a bind/rbind option)."""
    return spec.type == "bind" or any(option in BIND_OPTIONS for option in spec.options)


def volume_spec(text):
    """`pysandbox do -v SRC:DST[:OPTS]` (Docker's syntax) as a MountSpec; ValueError if malformed."""
    parts = text.split(":")
    if len(parts) not in (2, 3) or not parts[0] or not parts[1]:
        raise ValueError(f"--volume takes SRC:DST[:ro|rw], got {text!r}")
    options = ["rbind"] + (parts[2].split(",") if len(parts) == 3 else [])
    if not os.path.isabs(parts[0]) or not os.path.isabs(parts[1]):
        raise ValueError(f"--volume {text}: SRC and DST must be absolute paths")
    return MountSpec(parts[1], "bind", parts[0], options)


def tmpfs_spec(text):
    """`pysandbox do --tmpfs DST[:OPTS]` as a MountSpec; ValueError if malformed."""
    destination, _, options = text.partition(":")
    if not os.path.isabs(destination):
        raise ValueError(f"--tmpfs {text}: DST must be an absolute path")
    return MountSpec(destination, "tmpfs", "tmpfs", [option for option in options.split(",") if option])


def parse_options(options):
    """(flags, bind flags, data options) of OCI option words; data options keep their order."""
    flags = bind = 0
    data = []
    for option in options:
        if option in FLAG_OPTIONS:
            set_bits, clear_bits = FLAG_OPTIONS[option]
            flags = (flags | set_bits) & ~clear_bits
        elif option in BIND_OPTIONS:
            bind |= BIND_OPTIONS[option]
        elif option in PROPAGATION_OPTIONS or option in ("defaults", ""):
            continue
        else:
            data.append(option)
    return flags, bind, data


class Mount:
    """One mounted filesystem: its root dentry, where it hangs, and how it was configured."""

    def __init__(self, mount_id, parent, root, fstype, source, flags, data, root_path=b"/"):
        self.id = mount_id
        self.parent = parent        # the Mount it hangs on (None for /)
        self.root = root            # the Dentry of its root; root.parent/root.name is the mount point
        self.fstype = fstype
        self.source = source
        self.flags = flags
        self.data = list(data)      # filesystem options (size=, mode=, ...) as configured
        self.root_path = root_path  # mountinfo's 4th field: the path of the root inside its filesystem
        self.covered = None         # the mount root this one hides at the same point, if any
        self.fs_read_only = bool(flags & MS_RDONLY)  # the filesystem's own ro (a bind remount keeps it)
        self.ns = None              # the MountNamespace it is in; None once unmounted
        self.peers = None           # its PeerGroup when shared (mountns.py)
        self.master = None          # the PeerGroup it is a slave of
        self.unbindable = False

    @property
    def read_only(self):
        """Whether writes through this mount fail (EROFS): it, or its filesystem, is read-only."""
        return bool(self.flags & MS_RDONLY) or self.fs_read_only

    def statfs_flags(self):
        """statfs(2)'s f_flags for this mount: ST_VALID and the ST_* of its flags."""
        flags = ST_VALID | (0x1 if self.fs_read_only else 0)
        return flags | sum(bit for flag, bit in _STATFS_FLAGS if self.flags & flag)

    def flag_words(self):
        words = ["ro" if self.flags & MS_RDONLY else "rw"]
        return words + [word for bit, word in _FLAG_WORDS if self.flags & bit]

    def mounts_line(self, point):
        options = ",".join(self.flag_words() + self.data)
        return f"{self.source or 'none'} {_escape(point)} {self.fstype} {options} 0 0\n"

    def mountinfo_line(self, point):
        attrs = self.root.inode.stat()
        parent_id = self.parent.id if self.parent is not None else self.id
        super_options = ",".join(["ro" if self.fs_read_only else "rw"] + self.data)
        return (f"{self.id} {parent_id} {os.major(attrs.dev)}:{os.minor(attrs.dev)} "
                f"{_escape(os.fsdecode(self.root_path))} {_escape(point)} {','.join(self.flag_words())} "
                f"{''.join(field + ' ' for field in self.propagation_fields())}"
                f"- {self.fstype} {self.source or 'none'} {super_options}\n")

    def propagation_fields(self):
        """mountinfo's optional fields: shared:N, master:N, unbindable."""
        fields = [f"shared:{self.peers.id}"] if self.peers is not None else []
        if self.master is not None:
            fields.append(f"master:{self.master.id}")
        return fields + (["unbindable"] if self.unbindable else [])


def _escape(text):
    """Spaces, tabs, newlines and backslashes in /proc's mount files are octal escapes."""
    for char, escaped in (("\\", "\\134"), (" ", "\\040"), ("\t", "\\011"), ("\n", "\\012")):
        text = text.replace(char, escaped)
    return text


# --- filesystems a mount can make ---

def tmpfs_root(data):
    """The root of a new tmpfs for options `data` (size=, nr_inodes=, mode=, uid=, gid=);
    SyscallError(EINVAL) for an option tmpfs does not know. memfs enforces the limits."""
    _, root = TmpFS.from_options(",".join(data).encode())
    return root


def cgroup_root(vfs, task=None):
    """What a cgroup or cgroup2 mount shows: the sandbox's one cgroup v2 hierarchy, from the
    mounting task's cgroup namespace root, or at set-up (no task) from its root (cgroupns.py)."""
    from .. import cgroupns      # only a sandbox with a cgroup mount builds the tree
    return cgroupns.of(task).root if task is not None else cgroupns.hierarchy(vfs).root


def check_destination(destination):
    if not destination.startswith("/") or "\0" in destination:
        raise SandboxError(f"mount destination {destination!r}: must be an absolute path", 125)
    if os.path.normpath(destination) == "/":
        raise SandboxError("mount destination /: the root is the rootfs, not a mount", 125)
