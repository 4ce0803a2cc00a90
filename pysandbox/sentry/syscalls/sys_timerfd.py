"""timerfd_create(2), timerfd_settime(2), timerfd_gettime(2).

The alarm clocks are accepted as their plain clocks: the sandbox never suspends, so
waking it from suspend changes nothing. TFD_TIMER_CANCEL_ON_SET is accepted and never
cancels anything, as the sandbox's CLOCK_REALTIME can't be set (clock_settime(2) is EPERM).
"""
import errno
import struct
from time import monotonic_ns

from ..errors import SyscallError
from ..vfs.timerfd import (NSEC_PER_SEC, TFD_CLOEXEC, TFD_NONBLOCK, TFD_TIMER_ABSTIME, TFD_TIMER_CANCEL_ON_SET,
                           TimerFile)
from .sys_time import (CLOCK_BOOTTIME, CLOCK_BOOTTIME_ALARM, CLOCK_MONOTONIC, CLOCK_REALTIME, CLOCK_REALTIME_ALARM,
                       clock_now_ns)

_PLAIN_CLOCK = {
    CLOCK_REALTIME: CLOCK_REALTIME,
    CLOCK_MONOTONIC: CLOCK_MONOTONIC,
    CLOCK_BOOTTIME: CLOCK_BOOTTIME,
    CLOCK_REALTIME_ALARM: CLOCK_REALTIME,
    CLOCK_BOOTTIME_ALARM: CLOCK_BOOTTIME,
}
_ITIMERSPEC = struct.Struct("<qqqq")     # it_interval, then it_value, each a struct timespec


def timerfd_create(t, clockid, flags):
    """timerfd_create(2)."""
    if flags & ~(TFD_CLOEXEC | TFD_NONBLOCK) or clockid not in _PLAIN_CLOCK:
        raise SyscallError(errno.EINVAL)
    timer = TimerFile(t.kernel, _PLAIN_CLOCK[clockid], flags)
    return t.fds.install(timer, cloexec=bool(flags & TFD_CLOEXEC))


def timerfd_settime(t, fd, flags, new_value, old_value):
    """timerfd_settime(2)."""
    interval_ns, value_ns = copy_in_itimerspec(t, new_value)
    if flags & ~(TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET):
        raise SyscallError(errno.EINVAL)
    timer = t.fds.get_of_kind(fd, TimerFile)
    if value_ns == 0:
        expiry_ns = None
    elif flags & TFD_TIMER_ABSTIME:
        expiry_ns = monotonic_ns() + value_ns - clock_now_ns(t, timer.clockid)
    else:
        expiry_ns = monotonic_ns() + value_ns
    previous = timer.set(expiry_ns, interval_ns)
    if old_value:
        copy_out_itimerspec(t, old_value, previous)
    return 0


def timerfd_gettime(t, fd, curr_value):
    """timerfd_gettime(2)."""
    copy_out_itimerspec(t, curr_value, t.fds.get_of_kind(fd, TimerFile).get())
    return 0


def copy_in_itimerspec(t, address):
    """(interval, value) in nanoseconds: EFAULT, then EINVAL for a timespec out of range."""
    interval_s, interval_ns, value_s, value_ns = _ITIMERSPEC.unpack(t.copy_in(address, _ITIMERSPEC.size))
    for seconds, nanoseconds in ((interval_s, interval_ns), (value_s, value_ns)):
        if seconds < 0 or not 0 <= nanoseconds < NSEC_PER_SEC:
            raise SyscallError(errno.EINVAL)
    return interval_s * NSEC_PER_SEC + interval_ns, value_s * NSEC_PER_SEC + value_ns


def copy_out_itimerspec(t, address, remaining_and_interval):
    remaining_ns, interval_ns = remaining_and_interval
    t.copy_out(address, _ITIMERSPEC.pack(*divmod(interval_ns, NSEC_PER_SEC), *divmod(remaining_ns, NSEC_PER_SEC)))
