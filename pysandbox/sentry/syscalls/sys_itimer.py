"""getitimer(2) and setitimer(2): ITIMER_REAL (shared with alarm(2)), ITIMER_VIRTUAL and
ITIMER_PROF."""
import errno
import struct

from .. import signals
from ..cputimer import ITIMER_PROF, ITIMER_REAL, ITIMER_VIRTUAL, cpu_timer
from ..errors import SyscallError

_ITIMERVAL = struct.Struct("<qqqq")        # it_interval {tv_sec, tv_usec}, it_value {tv_sec, tv_usec}
_USEC = 1_000_000


def _timer(tg, which):
    if which == ITIMER_REAL:
        return signals.real_timer(tg)
    if which in (ITIMER_VIRTUAL, ITIMER_PROF):
        return cpu_timer(tg, which)
    raise SyscallError(errno.EINVAL)


def _to_timeval(seconds):
    """Seconds as (tv_sec, tv_usec), rounded up to the next microsecond, as Linux reports timers."""
    usec = -(-round(seconds * 1e9) // 1000)
    return divmod(usec, _USEC)


def _pack(value, interval):
    return _ITIMERVAL.pack(*_to_timeval(interval), *_to_timeval(value))


def getitimer(t, which, curr_value):
    """getitimer(2)."""
    value, interval = _timer(t.tg, which).get()
    t.copy_out(curr_value, _pack(value, interval))
    return 0


def setitimer(t, which, new_value, old_value):
    """setitimer(2): a NULL new_value disarms, as Linux allows; microseconds must be 0..999999."""
    timer = _timer(t.tg, which)
    interval_sec = interval_usec = value_sec = value_usec = 0
    if new_value:
        interval_sec, interval_usec, value_sec, value_usec = _ITIMERVAL.unpack(t.copy_in(new_value, _ITIMERVAL.size))
    for sec, usec in ((interval_sec, interval_usec), (value_sec, value_usec)):
        if sec < 0 or not 0 <= usec < _USEC:
            raise SyscallError(errno.EINVAL)
    old = timer.set(value_sec + value_usec / _USEC, interval_sec + interval_usec / _USEC)
    if old_value:
        t.copy_out(old_value, _pack(*old))
    return 0
