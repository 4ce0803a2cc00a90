"""POSIX timers: timer_create(2), timer_settime(2), timer_gettime(2), timer_getoverrun(2),
timer_delete(2)."""
import errno
import struct

from .. import posix_timers
from ..credentials import CAP_WAKE_ALARM, capable
from ..errors import SyscallError
from ..posix_timers import SIGEV_NONE, SIGEV_SIGNAL, SIGEV_THREAD, SIGEV_THREAD_ID, PosixTimer
from ..signals import SIGALRM
from .sys_time import (CLOCK_BOOTTIME, CLOCK_BOOTTIME_ALARM, CLOCK_MONOTONIC, CLOCK_PROCESS_CPUTIME_ID,
                       CLOCK_REALTIME, CLOCK_REALTIME_ALARM, CLOCK_TAI, CLOCK_THREAD_CPUTIME_ID, TIMER_ABSTIME,
                       clock_now_ns)
from .sys_timerfd import copy_in_itimerspec, copy_out_itimerspec

_SIGEVENT = struct.Struct("<qiii")          # sigev_value, sigev_signo, sigev_notify, sigev_notify_thread_id
_SIGEVENT_SIZE = 64
_SIGRTMAX = 64
_WALL_CLOCKS = (CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_BOOTTIME, CLOCK_TAI, CLOCK_REALTIME_ALARM,
                CLOCK_BOOTTIME_ALARM)
_ALARM_CLOCKS = (CLOCK_REALTIME_ALARM, CLOCK_BOOTTIME_ALARM)
_CPU_CLOCKS = (CLOCK_PROCESS_CPUTIME_ID, CLOCK_THREAD_CPUTIME_ID)
_TIMER_MAX = 1 << 15


def _clock_reader(t, clockid):
    """A function reading the timer's clock; EINVAL for clocks without timers (MONOTONIC_RAW, the
    coarse clocks) and unknown ones."""
    if clockid in _WALL_CLOCKS:
        plain = {CLOCK_REALTIME_ALARM: CLOCK_REALTIME, CLOCK_BOOTTIME_ALARM: CLOCK_BOOTTIME}.get(clockid, clockid)
        return lambda: clock_now_ns(t, plain), False
    if clockid in _CPU_CLOCKS or clockid < 0:
        clock_now_ns(t, clockid)            # ESRCH/EINVAL for a bad dynamic CPU clock
        return lambda: clock_now_ns(t, clockid), True
    raise SyscallError(errno.EINVAL)


def timer_create(t, clockid, sevp, timerid):
    """timer_create(2): a NULL sevp means SIGEV_SIGNAL with SIGALRM and the timer id as value.
    As in Linux, the id is taken before the sigevent is checked and the id written out, so a
    create failing there uses one up."""
    read_clock, cpu_clock = _clock_reader(t, clockid)
    if clockid in _ALARM_CLOCKS and not capable(t, CAP_WAKE_ALARM):
        raise SyscallError(errno.EPERM)
    event = _SIGEVENT.unpack(t.copy_in(sevp, _SIGEVENT.size)) if sevp else None
    tg = t.tg
    if len(tg.posix_timers) >= _TIMER_MAX:
        raise SyscallError(errno.EAGAIN)
    timer_id = posix_timers.allocate_id(tg)
    notify, signo, value, thread = SIGEV_SIGNAL, SIGALRM, timer_id, None
    if event is not None:
        value, signo, notify, thread_id = event
        if notify == SIGEV_SIGNAL | SIGEV_THREAD_ID:
            thread = t.kernel.tasks.get(thread_id)
            if thread is None or thread.tg is not tg or not thread.alive:
                raise SyscallError(errno.EINVAL)
        elif notify not in (SIGEV_SIGNAL, SIGEV_THREAD, SIGEV_NONE):
            raise SyscallError(errno.EINVAL)      # SIGEV_THREAD is signalled as SIGEV_SIGNAL
        if notify != SIGEV_NONE and not 0 < signo <= _SIGRTMAX:
            raise SyscallError(errno.EINVAL)
    t.copy_out_i32(timerid, timer_id)
    tg.posix_timers[timer_id] = PosixTimer(tg, timer_id, read_clock, cpu_clock, notify, signo, value, thread)
    return 0


def _timer(t, timerid):
    timer = t.tg.posix_timers.get(timerid)
    if timer is None:
        raise SyscallError(errno.EINVAL)
    return timer


def timer_settime(t, timerid, flags, new_value, old_value):
    """timer_settime(2)."""
    timer = _timer(t, timerid)
    if not new_value:
        raise SyscallError(errno.EINVAL)
    interval, value = copy_in_itimerspec(t, new_value)
    old = timer.set(value, interval, absolute=bool(flags & TIMER_ABSTIME))
    if old_value:
        copy_out_itimerspec(t, old_value, old)
    return 0


def timer_gettime(t, timerid, curr_value):
    """timer_gettime(2)."""
    copy_out_itimerspec(t, curr_value, _timer(t, timerid).get())
    return 0


def timer_getoverrun(t, timerid):
    """timer_getoverrun(2)."""
    return _timer(t, timerid).overrun()


def timer_delete(t, timerid):
    """timer_delete(2)."""
    _timer(t, timerid).delete()
    del t.tg.posix_timers[timerid]
    return 0
