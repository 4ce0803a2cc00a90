"""The sandbox's sysctls: what /proc/sys shows and what writes to it change.

Values are the sandbox's own: a write (or an OCI config's linux.sysctl) changes the
sandbox's view and never the host's. kernel.hostname and kernel.domainname are the
kernel's UTS names; net.ipv4.ip_unprivileged_port_start decides which ports bind(2)
reserves for CAP_NET_BIND_SERVICE. Writing needs CAP_NET_ADMIN for net.* and
CAP_SYS_ADMIN for the rest.
"""
import errno

from . import version
from .credentials import CAP_LAST_CAP, CAP_NET_ADMIN, CAP_SYS_ADMIN, capable
from .errors import SyscallError

INT, INTS, TEXT = "int", "ints", "text"
UTS_NAME_MAX = 64                    # __NEW_UTS_LEN

# name -> (kind, default, writable); the values are what a fresh Linux 6.1 network namespace,
# IPC namespace and UTS namespace show.
KNOWN = {
    "kernel.hostname": (TEXT, None, True),
    "kernel.domainname": (TEXT, None, True),
    "kernel.osrelease": (TEXT, None, False),
    "kernel.version": (TEXT, None, False),
    "kernel.ostype": (TEXT, version.SYSNAME, False),
    "kernel.pid_max": (INT, "4194304", False),
    "kernel.ngroups_max": (INT, "65536", False),
    "kernel.cap_last_cap": (INT, None, False),
    "kernel.msgmax": (INT, "8192", True),
    "kernel.msgmnb": (INT, "16384", True),
    "kernel.msgmni": (INT, "32000", True),
    "kernel.sem": (INTS, "32000\t1024000000\t500\t32000", True),
    "kernel.shmall": (INT, "18446744073692774399", True),
    "kernel.shmmax": (INT, "18446744073692774399", True),
    "kernel.shmmni": (INT, "4096", True),
    "kernel.shm_rmid_forced": (INT, "0", True),
    "fs.mqueue.msg_default": (INT, "10", True),
    "fs.mqueue.msg_max": (INT, "10", True),
    "fs.mqueue.msgsize_default": (INT, "8192", True),
    "fs.mqueue.msgsize_max": (INT, "8192", True),
    "fs.mqueue.queues_max": (INT, "256", True),
    "vm.overcommit_memory": (INT, "0", False),
    "net.core.somaxconn": (INT, "4096", True),
    "net.ipv4.ip_forward": (INT, "0", True),
    "net.ipv4.ip_local_port_range": (INTS, "32768\t60999", True),
    "net.ipv4.ip_unprivileged_port_start": (INT, "1024", True),
    # Not Linux's "1 0" (nobody) but what Docker configures for a container, and what runsc,
    # which never checks the range, behaves as: every group may make ping sockets (vfs/icmp.py).
    "net.ipv4.ping_group_range": (INTS, "0\t2147483647", True),
    "net.ipv4.tcp_syncookies": (INT, "1", True),
    "net.ipv4.tcp_keepalive_time": (INT, "7200", True),
    "net.ipv4.tcp_fin_timeout": (INT, "60", True),
    "net.ipv6.conf.all.disable_ipv6": (INT, "0", True),
    "net.ipv6.conf.default.disable_ipv6": (INT, "0", True),
}

# The sysctls that belong to a namespace an OCI container gets, as runc decides it
# (libcontainer/configs/validate): IPC ones, net.*, and kernel.domainname.
IPC_SYSCTLS = {"kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall", "kernel.shmmax",
               "kernel.shmmni", "kernel.shm_rmid_forced"}
# The bounds ipc/ipc_sysctl.c gives the IPC sysctls (EINVAL outside them); IPCMNI is 32768.
IPC_SYSCTL_RANGES = {"kernel.msgmax": (0, (1 << 31) - 1), "kernel.msgmnb": (0, (1 << 31) - 1),
                     "kernel.msgmni": (0, 32768), "kernel.shmmni": (0, 32768), "kernel.shm_rmid_forced": (0, 1),
                     "kernel.shmmax": (0, (1 << 64) - 1), "kernel.shmall": (0, (1 << 64) - 1)}
SEM_FIELDS, SEMMNI_RANGE = 4, (0, 32768)      # kernel.sem: SEMMSL SEMMNS SEMOPM SEMMNI, C ints
GID_RANGE = (0, (1 << 32) - 2)                 # ping_group_range's bounds: a valid gid_t
INT_RANGE = (-(1 << 31), (1 << 31) - 1)


def namespace_problem(name, namespaces):
    """Why an OCI runtime refuses sysctl `name` for a container with `namespaces` (types), or None."""
    if name in IPC_SYSCTLS or name.startswith("fs.mqueue."):
        return None if "ipc" in namespaces else f"sysctl {name!r} is not allowed in the host's ipc namespace"
    if name.startswith("net."):
        return None if "network" in namespaces else f"sysctl {name!r} is not allowed in the host's network namespace"
    if "uts" in namespaces:
        if name == "kernel.domainname":
            return None
        if name == "kernel.hostname":
            return f"sysctl {name!r} is not allowed as it conflicts with the OCI \"hostname\" field"
    return f"sysctl {name!r} is not in a separate kernel namespace"


def value_problem(name, value):
    """Why `value` cannot be sysctl `name`'s (a config's linux.sysctl), or None."""
    try:
        if name in _PARTIAL_WRITES and _PARTIAL_WRITES[name](KNOWN[name][1], value)[1]:
            raise SyscallError(errno.EINVAL)
        _normalised(_kind(name), value)
    except SyscallError:
        return f"sysctl {name}={value!r}: not a valid value"
    return None


def _kind(name):
    """INT, INTS or TEXT: how sysctl `name`'s values read (TEXT for names the table does not know)."""
    return KNOWN.get(name, (TEXT,))[0]


def _normalised(kind, text):
    """The value as /proc/sys shows it, from what was written or configured; EINVAL if malformed."""
    words = text.split()
    if kind == TEXT:
        value = text[:-1] if text.endswith("\n") else text
        if len(value.encode()) > UTS_NAME_MAX:
            raise SyscallError(errno.EINVAL)
        return value
    if not words or kind == INT and len(words) != 1:
        raise SyscallError(errno.EINVAL)
    try:
        numbers = [int(word) for word in words]
    except ValueError:
        raise SyscallError(errno.EINVAL) from None
    return "\t".join(map(str, numbers))


def _sem_after_write(current, text):
    """kernel.sem after a write of `text` (proc_ipc_sem_dointvec), the errno the write fails
    with (or 0) and how much of `text` it took. The numbers given replace SEMMSL, SEMMNS, SEMOPM
    and SEMMNI in that order; the write takes what follows the fourth no more. A malformed or
    out-of-int number ends it with EINVAL, those before kept; a SEMMNI outside 0..32768 is
    ERANGE and SEMMNI stays as it was."""
    values = current.split()
    old_semmni = values[-1]
    words = text.split()[:SEM_FIELDS]
    if not words:
        return current, errno.EINVAL, 0
    taken = 0
    for index, word in enumerate(words):
        try:
            number = int(word)
        except ValueError:
            number = None
        if number is None or not INT_RANGE[0] <= number <= INT_RANGE[1]:
            return "\t".join(values), errno.EINVAL, 0
        values[index] = str(number)
        taken = text.index(word, taken) + len(word)
    if not SEMMNI_RANGE[0] <= int(values[-1]) <= SEMMNI_RANGE[1]:
        values[-1] = old_semmni
        return "\t".join(values), errno.ERANGE, 0
    return "\t".join(values), 0, len(text) - len(text[taken:].lstrip())


def _ping_group_range_after_write(current, text):
    """net.ipv4.ping_group_range after a write (ipv4_ping_group_range), as _sem_after_write: the
    numbers given replace low then high (none: no change); one outside a gid_t is EINVAL; high
    below low means nobody ("1 0")."""
    values = current.split()
    words = text.split()[:2]
    for index, word in enumerate(words):
        try:
            number = int(word)
        except ValueError:
            raise SyscallError(errno.EINVAL) from None
        if not GID_RANGE[0] <= number <= GID_RANGE[1]:
            raise SyscallError(errno.EINVAL)
        values[index] = str(number)
    if int(values[1]) < int(values[0]):
        values = ["1", "0"]
    return "\t".join(values), 0, None


# The sysctls a write may set part of: name -> f(current, text) giving (value, errno or 0, chars taken
# or None for all).
_PARTIAL_WRITES = {"kernel.sem": _sem_after_write, "net.ipv4.ping_group_range": _ping_group_range_after_write}


class Sysctls:
    """One sandbox's sysctl values, by dotted name."""

    def __init__(self, kernel):
        self.kernel = kernel
        self.values = {name: default for name, (_, default, _) in KNOWN.items() if default is not None}
        self.extra = set()           # configured names the table does not know: shown, kept as text

    def configure(self, settings):
        """linux.sysctl of an OCI config (already checked against the namespaces)."""
        for name, value in settings.items():
            if name not in KNOWN:
                self.extra.add(name)
            if name in _PARTIAL_WRITES:
                self._store(name, _PARTIAL_WRITES[name](self.values[name], value)[0])
            else:
                self._store(name, _normalised(_kind(name), value))

    def names(self):
        return sorted(set(KNOWN) | self.extra)

    def get(self, name, t=None):
        """The value task `t` reads (its UTS and IPC namespaces' own; the sandbox's first ones'
        without a task)."""
        if name in ("kernel.hostname", "kernel.domainname"):
            from . import utsns              # the UTS namespaces: made on first use
            names = self.kernel if t is None else utsns.of(t)
            return names.hostname if name == "kernel.hostname" else names.domainname
        own = self._namespace_values(t, name)
        if own is not None:
            return own[name]
        if name == "kernel.osrelease":
            return version.RELEASE
        if name == "kernel.version":
            return version.VERSION
        if name == "kernel.cap_last_cap":
            return str(CAP_LAST_CAP)
        return self.values.get(name, "")

    def int_value(self, name):
        return int(self.get(name).split()[0])

    def writable(self, name):
        return KNOWN.get(name, (TEXT, None, True))[2]

    def write(self, t, name, text):
        """A write(2) to /proc/sys/<name> by task `t`: how much of `text` it took (None: all)."""
        if not capable(t, CAP_NET_ADMIN if name.startswith("net.") else CAP_SYS_ADMIN):
            raise SyscallError(errno.EPERM)
        if name in _PARTIAL_WRITES:
            value, error, taken = _PARTIAL_WRITES[name](self.get(name, t), text)
            self._set(t, name, value)
            if error:
                raise SyscallError(error)
            return taken
        value = _normalised(_kind(name), text)
        low, high = IPC_SYSCTL_RANGES.get(name, (None, None))
        if low is not None and not low <= int(value) <= high:
            raise SyscallError(errno.EINVAL)
        self._set(t, name, value)

    def _set(self, t, name, value):
        own = self._namespace_values(t, name)
        if name in ("kernel.hostname", "kernel.domainname"):
            from . import utsns
            setattr(utsns.of(t), name.removeprefix("kernel."), value)
        elif own is not None:
            own[name] = value
        else:
            self._store(name, value)

    @staticmethod
    def _namespace_values(t, name):
        """The IPC sysctls of a task's IPC namespace made after the first (None: the kernel's)."""
        if t is None or name not in IPC_SYSCTLS and not name.startswith("fs.mqueue."):
            return None
        from .sysv_ipc import namespace_of
        return namespace_of(t).sysctl_values

    def _store(self, name, value):
        if name == "kernel.hostname":
            self.kernel.hostname = value
        elif name == "kernel.domainname":
            self.kernel.domainname = value
        else:
            self.values[name] = value
