"""epoll_create(2), epoll_create1(2), epoll_ctl(2), epoll_wait(2), epoll_pwait(2), epoll_pwait2(2).

The interest and ready lists are in vfs/epoll.py. A wait that finds nothing parks on
the epoll's queue until an interest becomes ready or the deadline (kept in
t.syscall_state across re-runs) passes. Linux never restarts an epoll wait that a
signal handler interrupted: it fails with EINTR whatever SA_RESTART says.
"""
import errno
import time

from .. import signals
from ..errors import RESTART_NEVER, SyscallError, WouldBlock
from ..vfs.epoll import (EP_MAX_EVENTS, EPOLL_CLOEXEC, EPOLL_CTL_DEL, EPOLL_CTL_MOD, EPOLL_EVENT,
                         EPOLLEXCLUSIVE, EPOLLEXCLUSIVE_OK_BITS, EPOLLIN, EpollFile, can_poll, pack_events)
from .sys_time import NSEC_PER_SEC, _copy_in_timespec_ns

NSEC_PER_MSEC = 1_000_000
SIGSET_SIZE = 8
TASK_SIZE_MAX = (1 << 47) - 4096          # the end of x86_64 user space, as access_ok() checks it


def epoll_create(t, size):
    """epoll_create(2): `size` must be positive; Linux has ignored it otherwise since 2.6.8."""
    if size <= 0:
        raise SyscallError(errno.EINVAL)
    return epoll_create1(t, 0)


def epoll_create1(t, flags):
    """epoll_create1(2)."""
    if flags & ~EPOLL_CLOEXEC:
        raise SyscallError(errno.EINVAL)
    return t.fds.install(EpollFile(), cloexec=bool(flags & EPOLL_CLOEXEC))


def epoll_ctl(t, epfd, op, fd, event):
    """epoll_ctl(2). EPOLL_CTL_DEL ignores `event`."""
    events = data = 0
    if op != EPOLL_CTL_DEL:
        events, data = EPOLL_EVENT.unpack(t.copy_in(event, EPOLL_EVENT.size))
    epoll = _file(t, epfd)
    target = _file(t, fd)
    if not can_poll(target):
        raise SyscallError(errno.EPERM)
    if target is epoll or not isinstance(epoll, EpollFile):
        raise SyscallError(errno.EINVAL)
    if op != EPOLL_CTL_DEL and events & EPOLLEXCLUSIVE:
        if op == EPOLL_CTL_MOD or isinstance(target, EpollFile) or events & ~EPOLLEXCLUSIVE_OK_BITS:
            raise SyscallError(errno.EINVAL)
    epoll.control(t, op, target, fd, events, data)
    return 0


def epoll_wait(t, epfd, events, maxevents, timeout):
    """epoll_wait(2): `timeout` in milliseconds, negative to wait without one."""
    return _wait(t, epfd, events, maxevents, _milliseconds_to_ns(timeout))


def epoll_pwait(t, epfd, events, maxevents, timeout, sigmask, sigsetsize):
    """epoll_pwait(2)."""
    return _wait_with_sigmask(t, sigmask, sigsetsize,
                              lambda: _wait(t, epfd, events, maxevents, _milliseconds_to_ns(timeout)))


def epoll_pwait2(t, epfd, events, maxevents, timeout, sigmask, sigsetsize):
    """epoll_pwait2(2): `timeout` points at a struct timespec, NULL to wait without one."""
    timeout_ns = _copy_in_timespec_ns(t, timeout) if timeout else None
    return _wait_with_sigmask(t, sigmask, sigsetsize, lambda: _wait(t, epfd, events, maxevents, timeout_ns))


def _milliseconds_to_ns(timeout):
    return None if timeout < 0 else timeout * NSEC_PER_MSEC


def _file(t, fd):
    """The file at `fd`; an O_PATH descriptor is no file for epoll (fdget())."""
    file = t.fds.get(fd)
    if file.is_path_only:
        raise SyscallError(errno.EBADF)
    return file


def _wait(t, epfd, events, maxevents, timeout_ns):
    if maxevents <= 0 or maxevents > EP_MAX_EVENTS:
        raise SyscallError(errno.EINVAL)
    if events + maxevents * EPOLL_EVENT.size > TASK_SIZE_MAX:
        raise SyscallError(errno.EFAULT)
    epoll = _file(t, epfd)
    if not isinstance(epoll, EpollFile):
        raise SyscallError(errno.EINVAL)
    deadline = _deadline(t, timeout_ns)
    ready = epoll.ready_events(maxevents)
    if ready:
        t.copy_out(events, pack_events(ready))
        epoll.mark_reported(ready)
        return len(ready)
    if timeout_ns == 0 or t.timed_out():
        return 0
    raise WouldBlock(epoll.readiness_queue(t, EPOLLIN), deadline=deadline, restart=RESTART_NEVER)


def _deadline(t, timeout_ns):
    """The monotonic deadline of this wait, fixed when it starts (None: no timeout)."""
    state = t.syscall_state
    if "deadline" not in state:
        state["deadline"] = None if timeout_ns is None else time.monotonic() + timeout_ns / NSEC_PER_SEC
    return state["deadline"]


def _wait_with_sigmask(t, sigmask, sigsetsize, wait):
    """Wait with the signal mask `sigmask` in force. The caller's mask comes back when the wait
    ends, except when a signal interrupts it: then the handler runs first (restore_saved_sigmask_unless)."""
    if sigmask:
        if sigsetsize != SIGSET_SIZE:
            raise SyscallError(errno.EINVAL)
        signals.set_temporary_sigmask(t, t.copy_in_u64(sigmask))
    try:
        ready = wait()
    except SyscallError:
        signals.restore_temporary_sigmask(t)
        raise
    signals.restore_temporary_sigmask(t)
    return ready
