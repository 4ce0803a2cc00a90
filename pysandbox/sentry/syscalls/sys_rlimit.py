"""Resource limits and usage: getrlimit(2), setrlimit(2), prlimit64(2), getrusage(2).

Limits live in ThreadGroup.rlimits, a dict resource -> [soft, hard] (task.default_rlimits()
for the first process). Each subsystem enforces the limits it consults (the fd table
RLIMIT_NOFILE, clone RLIMIT_NPROC, ...); this module only keeps them.
"""
import errno
import struct

from ..credentials import CAP_SYS_RESOURCE, capable
from ..errors import SyscallError
from ..task import RLIMIT_NOFILE
from .sys_time import seconds_to_ns, timeval_bytes

RLIM_NLIMITS = 16
NR_OPEN = 1 << 20                    # fs.nr_open: the highest RLIMIT_NOFILE hard limit

RUSAGE_SELF = 0
RUSAGE_CHILDREN = -1
RUSAGE_THREAD = 1

_RLIMIT = struct.Struct("<QQ")
_RUSAGE_COUNTERS_SIZE = 14 * 8       # ru_maxrss .. ru_nivcsw, after the two timevals


def _may_act_on(t, target):
    """prlimit(2): the caller's ids match all of the target's, or the caller has CAP_SYS_RESOURCE."""
    if target is t:
        return True
    caller, other = t.creds, target.creds
    return capable(t, CAP_SYS_RESOURCE) or (caller.uid == other.uid == other.euid == other.suid
                                and caller.gid == other.gid == other.egid == other.sgid)


def _do_prlimit(t, tg, resource, new_limits):
    """Replace tg's limits for `resource` with new_limits (unless None); return the old ones."""
    if resource >= RLIM_NLIMITS:
        raise SyscallError(errno.EINVAL)
    old_limits = tuple(tg.rlimits[resource])
    if new_limits is not None:
        soft, hard = new_limits
        if soft > hard:
            raise SyscallError(errno.EINVAL)
        if resource == RLIMIT_NOFILE and hard > NR_OPEN:
            raise SyscallError(errno.EPERM)
        if hard > old_limits[1] and not capable(t, CAP_SYS_RESOURCE):
            raise SyscallError(errno.EPERM)
        tg.rlimits[resource] = [soft, hard]
    return old_limits


def getrlimit(t, resource, rlim):
    """getrlimit(2)."""
    t.copy_out(rlim, _RLIMIT.pack(*_do_prlimit(t, t.tg, resource, None)))
    return 0


def setrlimit(t, resource, rlim):
    """setrlimit(2)."""
    if resource >= RLIM_NLIMITS:
        raise SyscallError(errno.EINVAL)
    _do_prlimit(t, t.tg, resource, _RLIMIT.unpack(t.copy_in(rlim, _RLIMIT.size)))
    return 0


def prlimit64(t, pid, resource, new_limit, old_limit):
    """prlimit64(2), the system call behind prlimit(2)."""
    new_limits = _RLIMIT.unpack(t.copy_in(new_limit, _RLIMIT.size)) if new_limit else None
    target = t if pid == 0 else t.kernel.tasks.get(pid)
    if target is None:
        raise SyscallError(errno.ESRCH)
    if not _may_act_on(t, target):
        raise SyscallError(errno.EPERM)
    old_limits = _do_prlimit(t, target.tg, resource, new_limits)
    if old_limit:
        t.copy_out(old_limit, _RLIMIT.pack(*old_limits))
    return 0


def getrusage(t, who, usage):
    """getrusage(2)."""
    tg = t.tg
    if who in (RUSAGE_SELF, RUSAGE_THREAD):    # threads have no CPU time of their own yet
        user, system = tg.cpu_times()
    elif who == RUSAGE_CHILDREN:
        user, system = tg.cutime, tg.cstime
    else:
        raise SyscallError(errno.EINVAL)
    t.copy_out(usage, timeval_bytes(seconds_to_ns(user)) + timeval_bytes(seconds_to_ns(system))
               + bytes(_RUSAGE_COUNTERS_SIZE))
    return 0
