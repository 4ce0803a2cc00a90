"""seccomp(2) and prctl(2)'s PR_SET_SECCOMP / PR_GET_SECCOMP: the workload's own filters
(sentry/seccomp_guest.py runs them; docs/SECCOMP_GUEST.md)."""
import errno
import struct

from pysandbox.sentry import seccomp_guest
from pysandbox.sentry.errors import SyscallError
from pysandbox.sentry.seccomp_guest import (KNOWN_ACTIONS, MAX_INSNS_PER_PATH, SECCOMP_MODE_DISABLED,
                                            SECCOMP_MODE_FILTER, SECCOMP_MODE_STRICT, Filter, Listener,
                                            SeccompState)

SECCOMP_SET_MODE_STRICT, SECCOMP_SET_MODE_FILTER, SECCOMP_GET_ACTION_AVAIL, SECCOMP_GET_NOTIF_SIZES = 0, 1, 2, 3

SECCOMP_FILTER_FLAG_TSYNC = 1 << 0
SECCOMP_FILTER_FLAG_LOG = 1 << 1
SECCOMP_FILTER_FLAG_SPEC_ALLOW = 1 << 2
SECCOMP_FILTER_FLAG_NEW_LISTENER = 1 << 3
SECCOMP_FILTER_FLAG_TSYNC_ESRCH = 1 << 4
SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV = 1 << 5
SUPPORTED_FILTER_FLAGS = (SECCOMP_FILTER_FLAG_TSYNC | SECCOMP_FILTER_FLAG_LOG | SECCOMP_FILTER_FLAG_SPEC_ALLOW
                          | SECCOMP_FILTER_FLAG_NEW_LISTENER | SECCOMP_FILTER_FLAG_TSYNC_ESRCH
                          | SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV)

# struct seccomp_notif_sizes: seccomp_notif, seccomp_notif_resp, seccomp_data.
_NOTIF_SIZES = struct.pack("<HHH", 80, 24, 64)


def seccomp(t, operation, flags, args):
    """Implements Linux syscall seccomp(2)."""
    if operation == SECCOMP_SET_MODE_STRICT:
        if flags != 0 or args != 0:
            raise SyscallError(errno.EINVAL)
        return set_mode_strict(t)
    if operation == SECCOMP_SET_MODE_FILTER:
        return set_mode_filter(t, flags, args)
    if operation == SECCOMP_GET_ACTION_AVAIL:
        if flags != 0:
            raise SyscallError(errno.EINVAL)
        action = t.copy_in_u32(args)
        if action not in KNOWN_ACTIONS:
            raise SyscallError(errno.EOPNOTSUPP)
        return 0
    if operation == SECCOMP_GET_NOTIF_SIZES:
        if flags != 0:
            raise SyscallError(errno.EINVAL)
        t.copy_out(args, _NOTIF_SIZES)
        return 0
    raise SyscallError(errno.EINVAL)


def set_mode_strict(t):
    """SECCOMP_SET_MODE_STRICT: only read, write, _exit and rt_sigreturn from now on."""
    if seccomp_guest.mode_of(t) != SECCOMP_MODE_DISABLED:
        raise SyscallError(errno.EINVAL)
    t.seccomp = SeccompState(SECCOMP_MODE_STRICT)
    return 0


def set_mode_filter(t, flags, fprog_addr):
    """SECCOMP_SET_MODE_FILTER: attach the program at `fprog_addr` to t's chain (and with TSYNC
    to every thread of its process). Checks in seccomp_set_mode_filter's order. Returns 0, or
    with NEW_LISTENER the listener's fd."""
    if flags & ~SUPPORTED_FILTER_FLAGS:
        raise SyscallError(errno.EINVAL)
    both = SECCOMP_FILTER_FLAG_TSYNC | SECCOMP_FILTER_FLAG_NEW_LISTENER
    if flags & both == both and not flags & SECCOMP_FILTER_FLAG_TSYNC_ESRCH:
        raise SyscallError(errno.EINVAL)          # a tid and an fd could not be told apart
    if flags & SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV and not flags & SECCOMP_FILTER_FLAG_NEW_LISTENER:
        raise SyscallError(errno.EINVAL)
    insns = seccomp_guest.copy_in_program(t, fprog_addr)
    seccomp_guest.check_program(insns)
    if seccomp_guest.mode_of(t) not in (SECCOMP_MODE_DISABLED, SECCOMP_MODE_FILTER):
        raise SyscallError(errno.EINVAL)
    current = t.seccomp or SeccompState(SECCOMP_MODE_FILTER)
    if flags & SECCOMP_FILTER_FLAG_NEW_LISTENER and any(f.listener is not None for f in current.filters):
        raise SyscallError(errno.EBUSY)
    if len(insns) + current.instruction_count() > MAX_INSNS_PER_PATH:
        raise SyscallError(errno.ENOMEM)
    if flags & SECCOMP_FILTER_FLAG_TSYNC:
        blocker = _thread_that_cannot_sync(t)
        if blocker is not None:
            if flags & SECCOMP_FILTER_FLAG_TSYNC_ESRCH:
                raise SyscallError(errno.ESRCH)
            return blocker.tid
    new_filter = Filter(insns, log=bool(flags & SECCOMP_FILTER_FLAG_LOG),
                        wait_killable=bool(flags & SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV))
    listener_fd = 0
    if flags & SECCOMP_FILTER_FLAG_NEW_LISTENER:
        new_filter.listener = Listener(new_filter, t.kernel)
        listener_fd = t.fds.install(new_filter.listener, cloexec=True)
    t.seccomp = current.with_filter(new_filter)
    if flags & SECCOMP_FILTER_FLAG_TSYNC:
        _sync_threads(t)
    return listener_fd


def _thread_that_cannot_sync(t):
    """The first other thread whose filters are not an ancestor of t's (seccomp_can_sync_threads)."""
    mine = t.seccomp
    for thread in t.tg.tasks:
        if thread is t or not thread.alive:
            continue
        theirs = thread.seccomp
        if theirs is None:
            continue
        if theirs.mode == SECCOMP_MODE_FILTER and mine is not None and mine.descends_from(theirs):
            continue
        return thread
    return None


def _sync_threads(t):
    """Every other thread gets t's chain, and t's no_new_privs (seccomp_sync_threads)."""
    for thread in t.tg.tasks:
        if thread is t or not thread.alive:
            continue
        thread.seccomp = t.seccomp
        if t.creds.no_new_privs and not thread.creds.no_new_privs:
            creds = thread.creds.copy()
            creds.no_new_privs = True
            thread.creds = creds


def prctl_get_seccomp(t):
    """prctl(PR_GET_SECCOMP): the mode (in strict mode, the call itself kills)."""
    return seccomp_guest.mode_of(t)


def prctl_set_seccomp(t, mode, filter_addr):
    """prctl(PR_SET_SECCOMP, mode, filter): seccomp(2) without flags; strict mode ignores the filter."""
    if mode == SECCOMP_MODE_STRICT:
        return seccomp(t, SECCOMP_SET_MODE_STRICT, 0, 0)
    if mode == SECCOMP_MODE_FILTER:
        return seccomp(t, SECCOMP_SET_MODE_FILTER, 0, filter_addr)
    raise SyscallError(errno.EINVAL)
