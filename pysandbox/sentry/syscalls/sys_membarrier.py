"""membarrier(2).

A barrier must order memory on every CPU running the process's threads. The sentry and its
stubs share one CPU (pysandbox pins them unless --no-pin), and a guest thread that was
running goes through a context switch before the sentry runs, so the barrier has happened
by the time a handler runs. Unpinned, threads on other CPUs are not interrupted (the
sentry's seccomp filter does not let it call the host's membarrier): hence "partial".
"""
import errno
import weakref

from ..errors import SyscallError

QUERY, GLOBAL, GLOBAL_EXPEDITED, REGISTER_GLOBAL_EXPEDITED = 0, 1 << 0, 1 << 1, 1 << 2
PRIVATE_EXPEDITED, REGISTER_PRIVATE_EXPEDITED = 1 << 3, 1 << 4
PRIVATE_EXPEDITED_SYNC_CORE, REGISTER_PRIVATE_EXPEDITED_SYNC_CORE = 1 << 5, 1 << 6
PRIVATE_EXPEDITED_RSEQ, REGISTER_PRIVATE_EXPEDITED_RSEQ = 1 << 7, 1 << 8
GET_REGISTRATIONS = 1 << 9
SUPPORTED = (GLOBAL | GLOBAL_EXPEDITED | REGISTER_GLOBAL_EXPEDITED | PRIVATE_EXPEDITED | REGISTER_PRIVATE_EXPEDITED
             | PRIVATE_EXPEDITED_SYNC_CORE | REGISTER_PRIVATE_EXPEDITED_SYNC_CORE | PRIVATE_EXPEDITED_RSEQ
             | REGISTER_PRIVATE_EXPEDITED_RSEQ | GET_REGISTRATIONS)
FLAG_CPU = 1
# A private command and the registration it needs.
_NEEDS = {PRIVATE_EXPEDITED: REGISTER_PRIVATE_EXPEDITED,
          PRIVATE_EXPEDITED_SYNC_CORE: REGISTER_PRIVATE_EXPEDITED_SYNC_CORE,
          PRIVATE_EXPEDITED_RSEQ: REGISTER_PRIVATE_EXPEDITED_RSEQ}
_REGISTRATIONS = weakref.WeakKeyDictionary()     # MemoryManager -> registered commands (a new mm has none)


def membarrier(t, cmd, flags, cpu_id):
    """membarrier(2)."""
    if flags and not (cmd == PRIVATE_EXPEDITED_RSEQ and flags == FLAG_CPU):
        raise SyscallError(errno.EINVAL)
    registered = _REGISTRATIONS.get(t.mm, 0)
    if cmd == QUERY:
        return SUPPORTED
    if cmd == GET_REGISTRATIONS:
        return registered
    if cmd in (REGISTER_GLOBAL_EXPEDITED, REGISTER_PRIVATE_EXPEDITED, REGISTER_PRIVATE_EXPEDITED_SYNC_CORE,
               REGISTER_PRIVATE_EXPEDITED_RSEQ):
        _REGISTRATIONS[t.mm] = registered | cmd
        return 0
    if cmd in _NEEDS:
        if not registered & _NEEDS[cmd]:
            raise SyscallError(errno.EPERM)
        return 0
    if cmd in (GLOBAL, GLOBAL_EXPEDITED):
        return 0
    raise SyscallError(errno.EINVAL)
