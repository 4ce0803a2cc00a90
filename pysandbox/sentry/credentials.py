"""Credentials: who a task is inside the sandbox, and its Linux capabilities (capabilities(7)).

The five capability sets, the securebits and no_new_privs follow Linux's rules: set*id(2)
transitions (cap_emulate_setxuid), execve(2) without file capabilities (root gets its bounding
and inheritable sets, others keep only their ambient set), and fork copies. Privilege checks
ask `capable(t, CAP_X)` (the effective set), never the uid.
"""

CAPABILITY_NAMES = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
    "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT",
    "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
    "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN",
    "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
)
CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER = 0, 1, 2, 3
CAP_FSETID, CAP_KILL, CAP_SETGID, CAP_SETUID = 4, 5, 6, 7
CAP_SETPCAP, CAP_LINUX_IMMUTABLE, CAP_NET_BIND_SERVICE, CAP_NET_BROADCAST = 8, 9, 10, 11
CAP_NET_ADMIN, CAP_NET_RAW, CAP_IPC_LOCK, CAP_IPC_OWNER = 12, 13, 14, 15
CAP_SYS_MODULE, CAP_SYS_RAWIO, CAP_SYS_CHROOT, CAP_SYS_PTRACE = 16, 17, 18, 19
CAP_SYS_PACCT, CAP_SYS_ADMIN, CAP_SYS_BOOT, CAP_SYS_NICE = 20, 21, 22, 23
CAP_SYS_RESOURCE, CAP_SYS_TIME, CAP_SYS_TTY_CONFIG, CAP_MKNOD = 24, 25, 26, 27
CAP_LEASE, CAP_AUDIT_WRITE, CAP_AUDIT_CONTROL, CAP_SETFCAP = 28, 29, 30, 31
CAP_MAC_OVERRIDE, CAP_MAC_ADMIN, CAP_SYSLOG, CAP_WAKE_ALARM = 32, 33, 34, 35
CAP_BLOCK_SUSPEND, CAP_AUDIT_READ, CAP_PERFMON, CAP_BPF = 36, 37, 38, 39
CAP_CHECKPOINT_RESTORE = 40
CAPABILITY_NUMBERS = {name: number for number, name in enumerate(CAPABILITY_NAMES)}
CAP_LAST_CAP = len(CAPABILITY_NAMES) - 1
ALL_CAPABILITIES = (1 << len(CAPABILITY_NAMES)) - 1

# The capabilities that follow the fsuid (CAP_FS_SET in include/linux/capability.h).
FS_CAPABILITIES = sum(1 << CAPABILITY_NUMBERS[name] for name in (
    "CAP_CHOWN", "CAP_MKNOD", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
    "CAP_MAC_OVERRIDE", "CAP_LINUX_IMMUTABLE"))

# securebits (include/uapi/linux/securebits.h): each bit has a "locked" bit just above it.
SECBIT_NOROOT, SECBIT_NOROOT_LOCKED = 1 << 0, 1 << 1
SECBIT_NO_SETUID_FIXUP, SECBIT_NO_SETUID_FIXUP_LOCKED = 1 << 2, 1 << 3
SECBIT_KEEP_CAPS, SECBIT_KEEP_CAPS_LOCKED = 1 << 4, 1 << 5
SECBIT_NO_CAP_AMBIENT_RAISE, SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED = 1 << 6, 1 << 7
SECURE_ALL_BITS = SECBIT_NOROOT | SECBIT_NO_SETUID_FIXUP | SECBIT_KEEP_CAPS | SECBIT_NO_CAP_AMBIENT_RAISE
SECURE_ALL_LOCKS = SECURE_ALL_BITS << 1


def capability_mask(names):
    """The bit mask of capability names (CAP_X or X); KeyError names the unknown one."""
    mask = 0
    for name in names:
        name = name.upper()
        mask |= 1 << CAPABILITY_NUMBERS[name if name.startswith("CAP_") else "CAP_" + name]
    return mask


def capability_names(mask):
    return [name for number, name in enumerate(CAPABILITY_NAMES) if mask >> number & 1]


class Credentials:
    """A task's ids, capability sets, securebits and no_new_privs (root with every capability
    by default, as runsc do gives). Tasks never change a Credentials in place: a change installs
    a changed copy, so tasks that shared the old one (as Linux shares struct cred) keep theirs."""

    __slots__ = ("uid", "euid", "suid", "fsuid", "gid", "egid", "sgid", "fsgid", "groups",
                 "permitted", "effective", "inheritable", "bounding", "ambient", "securebits",
                 "no_new_privs")

    def __init__(self, uid=0, gid=0, groups=()):
        self.uid = self.euid = self.suid = self.fsuid = uid
        self.gid = self.egid = self.sgid = self.fsgid = gid
        self.groups = list(groups)
        self.bounding = ALL_CAPABILITIES
        self.inheritable = self.ambient = 0
        self.permitted = self.effective = ALL_CAPABILITIES if uid == 0 else 0
        self.securebits = 0
        self.no_new_privs = False

    def copy(self):
        clone = Credentials.__new__(Credentials)
        for name in self.__slots__:
            value = getattr(self, name)
            setattr(clone, name, list(value) if name == "groups" else value)
        return clone

    # -- capabilities(7)'s transitions, applied to a fresh copy -------------------------------
    def fix_after_setuid(self, old):
        """cap_emulate_setxuid(): this copy got new real/effective/saved uids from `old`."""
        if self.securebits & SECBIT_NO_SETUID_FIXUP:
            return
        had_root = 0 in (old.uid, old.euid, old.suid)
        has_root = 0 in (self.uid, self.euid, self.suid)
        if had_root and not has_root:
            if not self.securebits & SECBIT_KEEP_CAPS:
                self.permitted = self.effective = 0
            self.ambient = 0
        if old.euid == 0 and self.euid != 0:
            self.effective = 0
        if old.euid != 0 and self.euid == 0:
            self.effective = self.permitted

    def fix_after_setfsuid(self, old):
        """The filesystem capabilities follow the fsuid leaving or reaching 0."""
        if self.securebits & SECBIT_NO_SETUID_FIXUP:
            return
        if old.fsuid == 0 and self.fsuid != 0:
            self.effective &= ~FS_CAPABILITIES
        elif old.fsuid != 0 and self.fsuid == 0:
            self.effective |= self.permitted & FS_CAPABILITIES

    def exec_transition(self, setuid=None, setgid=None):
        """execve(2) of a file without file capabilities (cap_bprm_creds_from_file); `setuid` and
        `setgid` are the file's owner and group when its set-id bits apply. Returns the new
        Credentials."""
        new = self.copy()
        if setuid is not None:
            new.euid = setuid
        if setgid is not None:
            new.egid = setgid
        root_effective = False
        if not self.securebits & SECBIT_NOROOT and 0 in (new.uid, new.euid):
            new.permitted = self.bounding | self.inheritable
            root_effective = new.euid == 0
        else:
            new.permitted = 0
        if new.euid != self.uid or new.egid != self.gid:
            new.ambient = 0
        new.suid = new.fsuid = new.euid
        new.sgid = new.fsgid = new.egid
        new.permitted |= new.ambient
        new.effective = new.permitted if root_effective else new.ambient
        new.securebits &= ~SECBIT_KEEP_CAPS
        return new

    def secure_after_exec(self, old):
        """AT_SECURE for an execve that turned `old` into these credentials: the effective ids
        differ from the old real ones (a set-id exec, as Linux counts it) or the exec changed
        them, as measured on Linux 6.18."""
        return (self.euid != old.uid or self.egid != old.gid or self.euid != old.euid
                or self.egid != old.egid)

    @classmethod
    def from_oci(cls, uid, gid, groups, sets, no_new_privs=False):
        """What an OCI runtime (runc) leaves before it execs the container's process: the
        configured sets under the configured user (`sets` maps bounding, effective, inheritable,
        permitted and ambient to masks); the exec transition then applies."""
        creds = cls(uid, gid, groups)
        creds.bounding = sets.get("bounding", 0)
        creds.permitted = sets.get("permitted", 0)
        creds.effective = sets.get("effective", 0) & creds.permitted
        creds.inheritable = sets.get("inheritable", 0)
        creds.ambient = sets.get("ambient", 0) & creds.permitted & creds.inheritable
        creds.no_new_privs = no_new_privs
        return creds.exec_transition()


def change_credentials(t, **changes):
    """Install a copy of t's credentials with `changes` (attribute -> value); a uid change moves
    the capability sets as capabilities(7) says."""
    old = t.creds
    new = old.copy()
    for name, value in changes.items():
        setattr(new, name, value)
    if "euid" in changes:
        new.fix_after_setuid(old)
    elif "fsuid" in changes:
        new.fix_after_setfsuid(old)
    t.creds = new
    return 0


def access_check_credentials(creds):
    """The credentials access(2) checks with (do_faccessat's override_creds): the real ids as
    the filesystem ids, and the permitted set as effective for a real uid of 0, none otherwise."""
    checker = creds.copy()
    checker.fsuid, checker.fsgid = creds.uid, creds.gid
    if not creds.securebits & SECBIT_NO_SETUID_FIXUP:
        checker.effective = creds.permitted if creds.uid == 0 else 0
    return checker


def has_capability(creds, capability):
    """Whether `creds` hold `capability` (CAP_X) in their effective set."""
    return creds.effective >> capability & 1 == 1


def capable(t, capability):
    """Whether task `t` holds `capability` (CAP_X) in its effective set."""
    return has_capability(t.creds, capability)
