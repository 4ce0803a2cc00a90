"""Who and where the process is: uname(2), credentials (getuid(2), setresuid(2), ...),
getrandom(2) and sysinfo(2).

Changing ids needs CAP_SETUID or CAP_SETGID (CAP_SYS_ADMIN for the UTS names), and a uid change
moves the capability sets as capabilities(7) says (Credentials.fix_after_setuid). Credential
changes install a changed copy of the Credentials, so tasks that shared the old object (as
Linux shares struct cred) keep theirs.
"""
import errno
import os
import struct
from collections import namedtuple

from ..credentials import CAP_SETGID, CAP_SETUID, CAP_SYS_ADMIN, capable, change_credentials
from .. import utsns
from ..errors import SyscallError
from ..sysctl import UTS_NAME_MAX
from ..version import MACHINE as UTS_MACHINE, RELEASE as UTS_RELEASE, SYSNAME as UTS_SYSNAME
from ..version import VERSION as UTS_VERSION
from .sys_personality import machine_for
from .sys_time import CLOCK_BOOTTIME, NSEC_PER_SEC, clock_now_ns

UTS_FIELD_SIZE = UTS_NAME_MAX + 1    # __NEW_UTS_LEN + 1

NO_ID = 0xFFFFFFFF                   # (uid_t)-1: "leave unchanged", and never a valid id
NGROUPS_MAX = 65536

GRND_NONBLOCK = 0x1
GRND_RANDOM = 0x2
GRND_INSECURE = 0x4
GETRANDOM_MAX = 32 << 20

_U32 = struct.Struct("<I")
_SYSINFO = struct.Struct("<q3Q6QHH4xQQI4x")          # struct sysinfo, 112 bytes


# The names of the four ids of one kind in a Credentials object.
_IdFields = namedtuple("_IdFields", "real effective saved fs")


_UIDS = _IdFields("uid", "euid", "suid", "fsuid")
_GIDS = _IdFields("gid", "egid", "sgid", "fsgid")
_SET_ID_CAPABILITY = {_UIDS: CAP_SETUID, _GIDS: CAP_SETGID}


# uname(2), sethostname(2), setdomainname(2)

def _uts_field(text):
    return text.encode(errors="surrogateescape")[:UTS_NAME_MAX].ljust(UTS_FIELD_SIZE, b"\0")


def uname(t, buf):
    """uname(2)."""
    names = utsns.of(t)
    fields = (UTS_SYSNAME, names.hostname, UTS_RELEASE, UTS_VERSION, machine_for(t, UTS_MACHINE),
              names.domainname)
    t.copy_out(buf, b"".join(_uts_field(field) for field in fields))
    return 0


def _set_uts_name(t, attribute, name, length):
    if not capable(t, CAP_SYS_ADMIN):
        raise SyscallError(errno.EPERM)
    if not 0 <= length <= UTS_NAME_MAX:
        raise SyscallError(errno.EINVAL)
    setattr(utsns.of(t), attribute, t.copy_in(name, length).decode(errors="surrogateescape"))
    return 0


def sethostname(t, name, length):
    """sethostname(2)."""
    return _set_uts_name(t, "hostname", name, length)


def setdomainname(t, name, length):
    """setdomainname(2)."""
    return _set_uts_name(t, "domainname", name, length)


# getuid(2) and friends

def getuid(t):
    """getuid(2)."""
    return t.creds.uid


def geteuid(t):
    """geteuid(2)."""
    return t.creds.euid


def getgid(t):
    """getgid(2)."""
    return t.creds.gid


def getegid(t):
    """getegid(2)."""
    return t.creds.egid


def _getres(t, fields, real_ptr, effective_ptr, saved_ptr):
    creds = t.creds
    for ptr, name in ((real_ptr, fields.real), (effective_ptr, fields.effective), (saved_ptr, fields.saved)):
        t.copy_out(ptr, _U32.pack(getattr(creds, name)))
    return 0


def getresuid(t, ruid, euid, suid):
    """getresuid(2)."""
    return _getres(t, _UIDS, ruid, euid, suid)


def getresgid(t, rgid, egid, sgid):
    """getresgid(2)."""
    return _getres(t, _GIDS, rgid, egid, sgid)


# setuid(2) and friends: the same rules for user and group ids

def _setid(t, fields, new_id):
    if new_id == NO_ID:
        raise SyscallError(errno.EINVAL)
    creds = t.creds
    if capable(t, _SET_ID_CAPABILITY[fields]):
        change_credentials(t, **dict.fromkeys(fields, new_id))
    elif new_id in (getattr(creds, fields.real), getattr(creds, fields.saved)):
        change_credentials(t, **{fields.effective: new_id, fields.fs: new_id})
    else:
        raise SyscallError(errno.EPERM)
    return 0


def _setreid(t, fields, real, effective):
    creds = t.creds
    old_real, old_effective, old_saved = (getattr(creds, name) for name in fields[:3])
    allowed = capable(t, _SET_ID_CAPABILITY[fields])
    if real != NO_ID and not (allowed or real in (old_real, old_effective)):
        raise SyscallError(errno.EPERM)
    if effective != NO_ID and not (allowed or effective in (old_real, old_effective, old_saved)):
        raise SyscallError(errno.EPERM)
    new_real = old_real if real == NO_ID else real
    new_effective = old_effective if effective == NO_ID else effective
    # The saved id follows the effective one when the real id is set, or when the
    # effective id becomes something other than the old real id.
    saved_follows = real != NO_ID or (effective != NO_ID and effective != old_real)
    change_credentials(t, **{fields.real: new_real, fields.effective: new_effective,
                        fields.saved: new_effective if saved_follows else old_saved, fields.fs: new_effective})
    return 0


def _setresid(t, fields, real, effective, saved):
    creds = t.creds
    current = tuple(getattr(creds, name) for name in fields[:3])
    requested = (real, effective, saved)
    unchanged_fs = effective == NO_ID or getattr(creds, fields.fs) == effective
    if all(new in (NO_ID, old) for new, old in zip(requested, current)) and unchanged_fs:
        return 0                       # nothing changes, not even the filesystem id
    if not capable(t, _SET_ID_CAPABILITY[fields]) and any(new not in (NO_ID, *current) for new in requested):
        raise SyscallError(errno.EPERM)
    new_real, new_effective, new_saved = (old if new == NO_ID else new for old, new in zip(current, requested))
    change_credentials(t, **{fields.real: new_real, fields.effective: new_effective,
                        fields.saved: new_saved, fields.fs: new_effective})
    return 0


def _setfsid(t, fields, new_id):
    creds = t.creds
    old_fs_id = getattr(creds, fields.fs)
    allowed = capable(t, _SET_ID_CAPABILITY[fields]) or new_id in (getattr(creds, name) for name in fields)
    if new_id != NO_ID and allowed:
        change_credentials(t, **{fields.fs: new_id})
    return old_fs_id


def setuid(t, uid):
    """setuid(2)."""
    return _setid(t, _UIDS, uid)


def setgid(t, gid):
    """setgid(2)."""
    return _setid(t, _GIDS, gid)


def setreuid(t, ruid, euid):
    """setreuid(2)."""
    return _setreid(t, _UIDS, ruid, euid)


def setregid(t, rgid, egid):
    """setregid(2)."""
    return _setreid(t, _GIDS, rgid, egid)


def setresuid(t, ruid, euid, suid):
    """setresuid(2)."""
    return _setresid(t, _UIDS, ruid, euid, suid)


def setresgid(t, rgid, egid, sgid):
    """setresgid(2)."""
    return _setresid(t, _GIDS, rgid, egid, sgid)


def setfsuid(t, fsuid):
    """setfsuid(2): returns the previous fsuid, whether or not the change was allowed."""
    return _setfsid(t, _UIDS, fsuid)


def setfsgid(t, fsgid):
    """setfsgid(2): returns the previous fsgid, whether or not the change was allowed."""
    return _setfsid(t, _GIDS, fsgid)


# getgroups(2), setgroups(2)

def getgroups(t, size, grouplist):
    """getgroups(2)."""
    groups = t.creds.groups
    if size < 0:
        raise SyscallError(errno.EINVAL)
    if size:
        if size < len(groups):
            raise SyscallError(errno.EINVAL)
        t.copy_out(grouplist, struct.pack(f"<{len(groups)}I", *groups))
    return len(groups)


def setgroups(t, size, grouplist):
    """setgroups(2)."""
    if not capable(t, CAP_SETGID):
        raise SyscallError(errno.EPERM)
    if not 0 <= size <= NGROUPS_MAX:
        raise SyscallError(errno.EINVAL)
    groups = struct.unpack(f"<{size}I", t.copy_in(grouplist, 4 * size)) if size else ()
    if NO_ID in groups:
        raise SyscallError(errno.EINVAL)
    change_credentials(t, groups=sorted(groups))
    return 0


# getrandom(2)

def getrandom(t, buf, buflen, flags):
    """getrandom(2). The host's pool is always initialised, so GRND_NONBLOCK never matters."""
    if flags & ~(GRND_NONBLOCK | GRND_RANDOM | GRND_INSECURE):
        raise SyscallError(errno.EINVAL)
    if flags & GRND_INSECURE and flags & GRND_RANDOM:
        raise SyscallError(errno.EINVAL)
    count = min(buflen, GETRANDOM_MAX)
    if count:
        t.copy_out(buf, os.urandom(count))
    return count


# sysinfo(2)

def _host_memory():
    """(total, free) bytes of RAM, read once: the sentry may not be allowed to ask again later."""
    page_size = os.sysconf("SC_PAGE_SIZE")
    return os.sysconf("SC_PHYS_PAGES") * page_size, os.sysconf("SC_AVPHYS_PAGES") * page_size


_TOTAL_RAM, _FREE_RAM = _host_memory()


def sysinfo(t, info):
    """sysinfo(2)."""
    uptime = -(-clock_now_ns(t, CLOCK_BOOTTIME) // NSEC_PER_SEC)    # Linux rounds up
    procs = min(len(t.kernel.tasks), 0xFFFF)
    t.copy_out(info, _SYSINFO.pack(uptime, 0, 0, 0, _TOTAL_RAM, _FREE_RAM, 0, 0, 0, 0, procs, 0, 0, 0, 1))
    return 0
