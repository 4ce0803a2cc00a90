"""Waiting for descriptors: poll(2), ppoll(2), select(2), pselect6(2).

Readiness comes from File.poll_events(); when nothing is ready the task is
parked on every file's readiness queue and the handler runs again when one
fires or the deadline passes (kept in t.syscall_state across those runs).
"""
import errno
import struct
import time

from .. import signals
from ..errors import RESTART_ALWAYS, SyscallError, WouldBlock
from ..vfs.file import POLLERR, POLLHUP, POLLIN, POLLNVAL, POLLOUT, POLLPRI, POLLRDNORM, POLLWRNORM

_POLLFD = struct.Struct("<ihh")
_TIMESPEC = struct.Struct("<qq")
_TIMEVAL = struct.Struct("<qq")
_SIGSET_ARG = struct.Struct("<QQ")  # pselect6's {const sigset_t *ss; size_t ss_len}
SIGSET_SIZE = 8
_ALWAYS_REPORTED = POLLERR | POLLHUP | POLLNVAL
_SELECT_READ = POLLIN | POLLRDNORM | POLLHUP | POLLERR
_SELECT_WRITE = POLLOUT | POLLWRNORM | POLLERR
_SELECT_EXCEPT = POLLPRI


# --- poll ---

def poll(t, fds, nfds, timeout):
    """poll(2): timeout in milliseconds, negative for none."""
    return _poll(t, fds, nfds, None if timeout < 0 else timeout / 1000)


def ppoll(t, fds, nfds, tmo_p, sigmask, sigsetsize):
    """ppoll(2)."""
    timeout = _copy_in_timespec(t, tmo_p) if tmo_p else None
    _apply_temporary_sigmask(t, sigmask, sigsetsize)
    return _finish(t, _poll(t, fds, nfds, timeout))


def _poll(t, fds, nfds, timeout):
    if nfds > t.fds.max_fds:
        raise SyscallError(errno.EINVAL)
    raw = t.copy_in(fds, nfds * _POLLFD.size) if nfds else b""
    entries = [_POLLFD.unpack_from(raw, i * _POLLFD.size) for i in range(nfds)]
    deadline = _deadline(t, timeout)
    results = []
    waiting = []
    for fd, events, _ in entries:
        events &= 0xFFFF
        if fd < 0:
            results.append(0)
            continue
        try:
            file = t.fds.get(fd)
        except SyscallError:
            results.append(POLLNVAL)
            continue
        results.append(file.poll_events() & (events | _ALWAYS_REPORTED))
        waiting.append((file, events))
    ready = sum(1 for revents in results if revents)
    if ready or timeout == 0 or t.timed_out():
        out = b"".join(_POLLFD.pack(fd, events, revents)
                       for (fd, events, _), revents in zip(entries, results))
        if out:
            t.copy_out(fds, out)
        return ready
    _block(t, waiting, deadline)


# --- select ---

def select(t, nfds, readfds, writefds, exceptfds, timeout):
    """select(2): the timeval is updated with the time left, as Linux does."""
    limit = _copy_in_timeval(t, timeout) if timeout else None
    ready = _select(t, nfds, readfds, writefds, exceptfds, limit)
    if timeout:
        t.copy_out(timeout, _TIMEVAL.pack(*_split(_time_left(t), 1_000_000)))
    return ready


def pselect6(t, nfds, readfds, writefds, exceptfds, timeout, sigmask_arg):
    """pselect6(2): the raw syscall's last argument points at {sigset pointer, size}."""
    limit = _copy_in_timespec(t, timeout) if timeout else None
    if sigmask_arg:
        sigmask, sigsetsize = _SIGSET_ARG.unpack(t.copy_in(sigmask_arg, _SIGSET_ARG.size))
        _apply_temporary_sigmask(t, sigmask, sigsetsize)
    ready = _finish(t, _select(t, nfds, readfds, writefds, exceptfds, limit))
    if timeout:
        t.copy_out(timeout, _TIMESPEC.pack(*_split(_time_left(t), 1_000_000_000)))
    return ready


def _select(t, nfds, readfds, writefds, exceptfds, timeout):
    if nfds < 0 or nfds > t.fds.max_fds:
        raise SyscallError(errno.EINVAL)
    size = (nfds + 63) // 64 * 8
    sets = [(address, _copy_in_fd_set(t, address, size, nfds), mask) for address, mask in
            ((readfds, _SELECT_READ), (writefds, _SELECT_WRITE), (exceptfds, _SELECT_EXCEPT))]
    deadline = _deadline(t, timeout)
    files = {}
    for _, wanted, _ in sets:
        for fd in wanted:
            if fd not in files:
                files[fd] = t.fds.get(fd)
    events = {fd: file.poll_events() for fd, file in files.items()}
    results = [(address, {fd for fd in wanted if events[fd] & mask}) for address, wanted, mask in sets]
    ready = sum(len(ready_fds) for _, ready_fds in results)
    if ready or timeout == 0 or t.timed_out():
        for address, ready_fds in results:
            if address:
                t.copy_out(address, _pack_fd_set(ready_fds, size))
        return ready
    waiting = [(file, POLLIN | POLLOUT | POLLPRI) for file in files.values()]
    _block(t, waiting, deadline)


def _copy_in_fd_set(t, address, size, nfds):
    if not address or not size:
        return set()
    bits = int.from_bytes(t.copy_in(address, size), "little")
    return {fd for fd in range(nfds) if bits >> fd & 1}


def _pack_fd_set(fds, size):
    bits = 0
    for fd in fds:
        bits |= 1 << fd
    return bits.to_bytes(size, "little")


# --- shared ---

def _deadline(t, timeout):
    """The absolute deadline, fixed at the first run of this call."""
    state = t.syscall_state
    if "deadline" not in state:
        state["deadline"] = None if timeout is None else time.monotonic() + timeout
    return state["deadline"]


def _time_left(t):
    deadline = t.syscall_state.get("deadline")
    return 0.0 if deadline is None else max(0.0, deadline - time.monotonic())


def _block(t, waiting, deadline):
    queues = {id(queue): queue for queue in (file.readiness_queue(t, events) for file, events in waiting)}
    raise WouldBlock(*queues.values(), deadline=deadline, restart=RESTART_ALWAYS)


def _copy_in_timespec(t, address):
    seconds, nanoseconds = _TIMESPEC.unpack(t.copy_in(address, _TIMESPEC.size))
    if seconds < 0 or not 0 <= nanoseconds < 1_000_000_000:
        raise SyscallError(errno.EINVAL)
    return seconds + nanoseconds / 1e9


def _copy_in_timeval(t, address):
    seconds, microseconds = _TIMEVAL.unpack(t.copy_in(address, _TIMEVAL.size))
    if seconds < 0 or not 0 <= microseconds < 1_000_000:
        raise SyscallError(errno.EINVAL)
    return seconds + microseconds / 1e6


def _split(seconds, units_per_second):
    whole = int(seconds)
    return whole, int((seconds - whole) * units_per_second)


def _apply_temporary_sigmask(t, sigmask, sigsetsize):
    """ppoll/pselect: block `sigmask` while waiting (see signals.set_temporary_sigmask)."""
    if not sigmask:
        return
    if sigsetsize != SIGSET_SIZE:
        raise SyscallError(errno.EINVAL)
    signals.set_temporary_sigmask(t, struct.unpack("<Q", t.copy_in(sigmask, SIGSET_SIZE))[0])


def _finish(t, ready):
    """The call completed without a signal: the caller's signal mask comes back."""
    signals.restore_temporary_sigmask(t)
    return ready
