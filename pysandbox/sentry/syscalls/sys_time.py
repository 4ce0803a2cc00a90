"""Clocks and sleeping: clock_gettime(2), nanosleep(2), times(2) and their relatives.

The sandbox's clocks: CLOCK_REALTIME is the host's wall clock. CLOCK_MONOTONIC and
CLOCK_BOOTTIME count from the sandbox's boot (kernel.boot_time), so uptime starts near 0
as on a freshly booted machine. CPU-time clocks read the process's utime and stime
(seconds, ThreadGroup attributes kept by the kernel); threads have no CPU time of their
own yet, so a thread's CPU clock reads its process's.

A sleep computes its deadline once, keeps it in t.syscall_state and raises WouldBlock
until the deadline has passed. Its "on_cancel" callback, which the kernel runs when a
signal ends the wait, writes the unslept time to `rem` (write_remaining).
"""
import errno
import struct
from time import monotonic, monotonic_ns, time_ns

from ..errors import RESTART_ALWAYS, RESTART_BLOCK, SyscallError, WouldBlock

CLOCK_REALTIME = 0
CLOCK_MONOTONIC = 1
CLOCK_PROCESS_CPUTIME_ID = 2
CLOCK_THREAD_CPUTIME_ID = 3
CLOCK_MONOTONIC_RAW = 4
CLOCK_REALTIME_COARSE = 5
CLOCK_MONOTONIC_COARSE = 6
CLOCK_BOOTTIME = 7
CLOCK_REALTIME_ALARM = 8
CLOCK_BOOTTIME_ALARM = 9
CLOCK_TAI = 11

TIMER_ABSTIME = 1

NSEC_PER_SEC = 1_000_000_000
NSEC_PER_USEC = 1_000
USER_HZ = 100                       # clock_t ticks per second (times(2))
COARSE_RESOLUTION_NS = 4_000_000    # one jiffy at HZ=250

# CLOCK_MONOTONIC at the sandbox's boot: small like a real machine's, but not 0, which
# some programs take for "unset".
UPTIME_AT_BOOT_NS = NSEC_PER_SEC

# Dynamic CPU clocks (clock_getcpuclockid(3), pthread_getcpuclockid(3)) encode a pid
# as ~pid << 3, a per-thread bit and which time to count.
_CPUCLOCK_WHICH_MASK = 3
_CPUCLOCK_VIRT = 1                  # user time only; PROF and SCHED count user + system
_CPUCLOCK_FD = 3                    # posix clock devices, which the sandbox has none of
_CPUCLOCK_PERTHREAD = 4

_REALTIME_CLOCKS = frozenset({CLOCK_REALTIME, CLOCK_REALTIME_COARSE, CLOCK_TAI})
_MONOTONIC_CLOCKS = frozenset({CLOCK_MONOTONIC, CLOCK_MONOTONIC_RAW, CLOCK_MONOTONIC_COARSE, CLOCK_BOOTTIME})
_COARSE_CLOCKS = frozenset({CLOCK_REALTIME_COARSE, CLOCK_MONOTONIC_COARSE})
_SLEEP_CLOCKS = frozenset({CLOCK_REALTIME, CLOCK_TAI, CLOCK_MONOTONIC, CLOCK_BOOTTIME})
# Clocks Linux knows but cannot sleep on (EOPNOTSUPP). The alarm clocks need an RTC
# wake-up device, which the sandbox has none of, so reading them is EINVAL as on such hosts.
_CLOCKS_WITHOUT_SLEEP = frozenset({CLOCK_MONOTONIC_RAW, CLOCK_REALTIME_COARSE, CLOCK_MONOTONIC_COARSE,
                                   CLOCK_REALTIME_ALARM, CLOCK_BOOTTIME_ALARM, CLOCK_PROCESS_CPUTIME_ID})

_TIMESPEC = struct.Struct("<qq")
_TIMEVAL = struct.Struct("<qq")
_TIMEZONE = struct.Struct("<ii")
_TIME_T = struct.Struct("<q")
_TMS = struct.Struct("<qqqq")


def sandbox_monotonic_ns(kernel):
    """The sandbox's CLOCK_MONOTONIC (and CLOCK_BOOTTIME) in nanoseconds."""
    return monotonic_ns() - round(kernel.boot_time * NSEC_PER_SEC) + UPTIME_AT_BOOT_NS


def timeval_bytes(nanoseconds):
    """struct timeval for a non-negative time in nanoseconds (microseconds rounded down)."""
    return _TIMEVAL.pack(*divmod(nanoseconds // NSEC_PER_USEC, 1_000_000))


def _timespec_bytes(nanoseconds):
    return _TIMESPEC.pack(*divmod(nanoseconds, NSEC_PER_SEC))


def _copy_in_timespec_ns(t, addr):
    """A struct timespec from guest memory, in nanoseconds (EFAULT, then EINVAL when invalid)."""
    seconds, nanoseconds = _TIMESPEC.unpack(t.copy_in(addr, _TIMESPEC.size))
    if seconds < 0 or not 0 <= nanoseconds < NSEC_PER_SEC:
        raise SyscallError(errno.EINVAL)
    return seconds * NSEC_PER_SEC + nanoseconds


def seconds_to_ns(seconds):
    return round(seconds * NSEC_PER_SEC)


def _dynamic_cpu_clock_tg(t, clockid):
    """The thread group whose CPU time a negative (dynamic) clock id names; EINVAL if none."""
    if clockid & _CPUCLOCK_WHICH_MASK == _CPUCLOCK_FD:
        raise SyscallError(errno.EINVAL)
    pid = ~(clockid >> 3)
    if pid == 0:
        return t.tg
    if clockid & _CPUCLOCK_PERTHREAD:
        thread = t.kernel.tasks.get(pid)
        if thread is None or thread.tg is not t.tg:
            raise SyscallError(errno.EINVAL)
        return thread.tg
    tg = t.kernel.thread_groups.get(pid)
    if tg is None:
        raise SyscallError(errno.EINVAL)
    return tg


def clock_now_ns(t, clockid):
    """The current time of clock `clockid` as task t sees it, in nanoseconds (EINVAL if unknown)."""
    if clockid in _REALTIME_CLOCKS:
        return time_ns()
    if clockid in _MONOTONIC_CLOCKS:
        if t.time_ns is not None:               # a time namespace's offset (timens.py)
            return sandbox_monotonic_ns(t.kernel) + t.time_ns.offset_ns(clockid)
        return sandbox_monotonic_ns(t.kernel)
    if clockid in (CLOCK_PROCESS_CPUTIME_ID, CLOCK_THREAD_CPUTIME_ID):
        return seconds_to_ns(sum(t.tg.cpu_times()))
    if clockid < 0:
        tg = _dynamic_cpu_clock_tg(t, clockid)
        user_only = clockid & _CPUCLOCK_WHICH_MASK == _CPUCLOCK_VIRT
        return seconds_to_ns(tg.utime if user_only else sum(tg.cpu_times()))
    raise SyscallError(errno.EINVAL)


def clock_gettime(t, clockid, tp):
    """clock_gettime(2)."""
    t.copy_out(tp, _timespec_bytes(clock_now_ns(t, clockid)))
    return 0


def clock_getres(t, clockid, res):
    """clock_getres(2)."""
    clock_now_ns(t, clockid)        # EINVAL for an unknown clock
    if res:
        resolution = COARSE_RESOLUTION_NS if clockid in _COARSE_CLOCKS else 1
        t.copy_out(res, _timespec_bytes(resolution))
    return 0


def clock_settime(t, clockid, tp):
    """clock_settime(2)."""
    if clockid != CLOCK_REALTIME:
        raise SyscallError(errno.EINVAL)
    _copy_in_timespec_ns(t, tp)
    raise SyscallError(errno.EPERM)


def gettimeofday(t, tv, tz):
    """gettimeofday(2). The sandbox's timezone is UTC."""
    if tv:
        t.copy_out(tv, timeval_bytes(time_ns()))
    if tz:
        t.copy_out(tz, _TIMEZONE.pack(0, 0))
    return 0


def settimeofday(t, tv, tz):
    """settimeofday(2)."""
    if tv:
        seconds, microseconds = _TIMEVAL.unpack(t.copy_in(tv, _TIMEVAL.size))
        if seconds < 0 or not 0 <= microseconds < 1_000_000:
            raise SyscallError(errno.EINVAL)
    if tz:
        t.copy_in(tz, _TIMEZONE.size)
    raise SyscallError(errno.EPERM)


def time(t, tloc):
    """time(2)."""
    seconds = time_ns() // NSEC_PER_SEC
    if tloc:
        t.copy_out(tloc, _TIME_T.pack(seconds))
    return seconds


def _ticks(seconds):
    return int(seconds * USER_HZ)


def times(t, buf):
    """times(2)."""
    if buf:
        tg = t.tg
        user, system = tg.cpu_times()
        t.copy_out(buf, _TMS.pack(_ticks(user), _ticks(system), _ticks(tg.cutime), _ticks(tg.cstime)))
    return sandbox_monotonic_ns(t.kernel) * USER_HZ // NSEC_PER_SEC


def nanosleep(t, req, rem):
    """nanosleep(2)."""
    if "deadline" not in t.syscall_state:
        duration_ns = _copy_in_timespec_ns(t, req)
        _start_sleep(t, monotonic() + duration_ns / NSEC_PER_SEC, rem)
    return _sleep(t, RESTART_BLOCK)


def clock_nanosleep(t, clockid, flags, req, rem):
    """clock_nanosleep(2)."""
    absolute = flags & TIMER_ABSTIME
    if "deadline" not in t.syscall_state:
        if clockid not in _SLEEP_CLOCKS:
            raise SyscallError(errno.EOPNOTSUPP if clockid in _CLOCKS_WITHOUT_SLEEP else errno.EINVAL)
        request_ns = _copy_in_timespec_ns(t, req)
        if absolute:
            _start_sleep(t, monotonic() + (request_ns - clock_now_ns(t, clockid)) / NSEC_PER_SEC, 0)
        else:
            _start_sleep(t, monotonic() + request_ns / NSEC_PER_SEC, rem)
    # Linux restarts an absolute sleep as is, and a relative one for the time left.
    return _sleep(t, RESTART_ALWAYS if absolute else RESTART_BLOCK)


def _start_sleep(t, deadline, rem_ptr):
    t.syscall_state.update(deadline=deadline, rem_ptr=rem_ptr)


def _sleep(t, restart):
    state = t.syscall_state
    if monotonic() >= state["deadline"]:
        return 0
    # Set on every run: the kernel drops callbacks from the state it keeps for restart_syscall.
    state["on_cancel"] = lambda: write_remaining(t)
    raise WouldBlock(deadline=state["deadline"], restart=restart)


def write_remaining(t):
    """Write the time left of an interrupted sleep to its `rem` argument, if it gave one.

    The kernel cannot report a failure at that point, so a bad `rem` is ignored (Linux
    would return EFAULT instead of EINTR).
    """
    state = t.syscall_state
    if state["rem_ptr"]:
        remaining_ns = max(0, round((state["deadline"] - monotonic()) * NSEC_PER_SEC))
        try:
            t.copy_out(state["rem_ptr"], _timespec_bytes(remaining_ns))
        except SyscallError:
            pass


# struct timex (x86_64): modes, offset, freq, maxerror, esterror, status, constant, precision,
# tolerance, time (timeval), tick, ppsfreq, jitter, shift, stabil, jitcnt, calcnt, errcnt, stbcnt, tai.
_TIMEX = struct.Struct("<I4xqqqqi4xqqqqqqqqi4xqqqqqi44x")
ADJ_OFFSET_SINGLESHOT, ADJ_OFFSET_READONLY, ADJ_ADJTIME, ADJ_NANO = 0x0001, 0x2000, 0x8000, 0x2000
STA_UNSYNC = 0x0040
TIME_ERROR = 5
_USER_HZ_TICK_US = 10000
_MAX_TOLERANCE = 500 << 16            # 500 ppm, scaled by 2^16
_MAX_ERROR_US = 16_000_000


def _adjust_clock(t, buf):
    """adjtimex(2) on the realtime clock: reading works; any change needs CAP_SYS_TIME, which the
    sandbox never holds. The sandbox has no NTP view of the clock, so it reads as unsynchronized."""
    modes = _TIMEX.unpack(t.copy_in(buf, _TIMEX.size))[0]
    if modes & ADJ_ADJTIME:
        if not modes & ADJ_OFFSET_SINGLESHOT:
            raise SyscallError(errno.EINVAL)
        if not modes & ADJ_OFFSET_READONLY:
            raise SyscallError(errno.EPERM)
    elif modes:
        raise SyscallError(errno.EPERM)
    seconds, nanoseconds = divmod(time_ns(), 1_000_000_000)
    t.copy_out(buf, _TIMEX.pack(modes, 0, 0, _MAX_ERROR_US, _MAX_ERROR_US, STA_UNSYNC, 2, 1, _MAX_TOLERANCE,
                                seconds, nanoseconds // 1000, _USER_HZ_TICK_US, 0, 0, 0, 0, 0, 0, 0, 0, 0))
    return TIME_ERROR


def adjtimex(t, buf):
    """adjtimex(2)."""
    return _adjust_clock(t, buf)


def clock_adjtime(t, clockid, buf):
    """clock_adjtime(2): only CLOCK_REALTIME can be tuned; other clocks give EOPNOTSUPP."""
    clock_now_ns(t, clockid)        # EINVAL for an unknown clock
    if clockid != CLOCK_REALTIME:
        raise SyscallError(errno.EOPNOTSUPP)
    return _adjust_clock(t, buf)
