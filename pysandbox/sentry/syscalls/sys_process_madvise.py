"""process_madvise(2) and process_mrelease(2): advice on, and early release of, the memory of
a process named by a pidfd."""
import errno

from pysandbox.sentry.credentials import CAP_SYS_NICE, capable
from pysandbox.sentry.errors import SyscallError
from pysandbox.sentry.mm import MADV_COLD, MADV_PAGEOUT
from pysandbox.sentry.syscalls.sys_pidfd import pidfd_of, ptrace_may_access
from pysandbox.sentry.syscalls.sys_read_write import read_iovecs

MADV_WILLNEED = 3
# Linux 6.1's advice for another process: none that destroys data.
PROCESS_MADVISE_ADVICE = {MADV_WILLNEED, MADV_COLD, MADV_PAGEOUT}


def _pidfd_task(t, pidfd):
    """The process a pidfd names (Linux's pidfd_get_task): EBADF for another kind of fd, ESRCH
    once it was reaped. A zombie's leader is returned; it has no memory left."""
    file = pidfd_of(t, pidfd)
    leader = file.tg.leader
    if file.tg.reaped or leader is None:
        raise SyscallError(errno.ESRCH)
    return leader


def _has_memory(task):
    return task.alive and not task.tg.zombie


def process_madvise(t, pidfd, iovec, vlen, advice, flags):
    """Process_madvise implements Linux syscall process_madvise(2): returns the bytes of the
    ranges advised before the first that failed (that one's error when it is the first)."""
    if flags:
        raise SyscallError(errno.EINVAL)
    ranges = read_iovecs(t, iovec, vlen)
    target = _pidfd_task(t, pidfd)
    if advice not in PROCESS_MADVISE_ADVICE:
        raise SyscallError(errno.EINVAL)
    if not _has_memory(target):
        raise SyscallError(errno.ESRCH)
    own = target.mm is t.mm
    if not own and not ptrace_may_access(t, target):
        raise SyscallError(errno.EACCES)     # PTRACE_MODE_READ: ASLR is not to leak
    if not own and not capable(t, CAP_SYS_NICE):
        raise SyscallError(errno.EPERM)
    advised = 0
    for base, length in ranges:
        try:
            target.mm.madvise(base, length, advice)
        except SyscallError:
            if advised:
                return advised
            raise
        advised += length
    return advised


def process_mrelease(t, pidfd, flags):
    """Process_mrelease implements Linux syscall process_mrelease(2): the memory of a process
    that is being killed goes at once. Only a dying process qualifies (EINVAL otherwise); the
    sentry frees a process's memory as it dies, so there is nothing left to do then."""
    if flags:
        raise SyscallError(errno.EINVAL)
    target = _pidfd_task(t, pidfd)
    if not _has_memory(target):
        raise SyscallError(errno.ESRCH)
    if not target.tg.exiting:
        raise SyscallError(errno.EINVAL)
    return 0
