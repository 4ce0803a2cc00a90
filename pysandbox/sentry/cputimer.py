"""A process's CPU-time interval timers: ITIMER_VIRTUAL (user time, SIGVTALRM) and ITIMER_PROF
(user and system time, SIGPROF), setitimer(2).

They work as ITIMER_REAL does (signals.RealTimer) on another clock. The stubs' CPU time is
read from the host's accounting (clock ticks), so an armed timer looks at it on a kernel
timer: often enough to fire within a tick of the time it promised, and never for a process
whose timers are disarmed.
"""
from pysandbox.sentry import signals

ITIMER_REAL, ITIMER_VIRTUAL, ITIMER_PROF = 0, 1, 2
_POLL_MIN = 0.002           # seconds of wall time between two looks at an armed timer
_POLL_MAX = 0.05


def poll_delay(left):
    """Seconds of wall time until the next look at a CPU-time clock that is `left` seconds
    short of a deadline. CPU time runs at most as fast as wall time on each CPU the process
    may use, so half of what is left cannot overshoot by much."""
    return min(max(left / 2, _POLL_MIN), _POLL_MAX)


class CpuTimer(signals.RealTimer):
    def __init__(self, tg, which):
        super().__init__(tg)
        self.which = which
        self.signo = signals.SIGVTALRM if which == ITIMER_VIRTUAL else signals.SIGPROF

    def _now(self):
        return self.tg.utime if self.which == ITIMER_VIRTUAL else sum(self.tg.cpu_times())

    def _arm(self, deadline):
        self._deadline = deadline
        self._schedule(deadline - self._now())

    def _schedule(self, left):
        kernel = self.tg.kernel
        self._handle = kernel.add_timer(kernel.now() + poll_delay(left), self._check)

    def _check(self):
        self._handle = None
        if self._deadline is None or self.tg.exiting:
            return
        now = self._now()
        if now < self._deadline:
            self._schedule(self._deadline - now)
            return
        signals.send_signal(self.tg, signals.SigInfo.kernel(self.signo))
        if self.interval <= 0:
            self._deadline = None
            return
        missed = int((now - self._deadline) // self.interval)
        self._arm(self._deadline + (missed + 1) * self.interval)


def cpu_timer(tg, which):
    timers = tg.itimer_cpu
    if which not in timers:
        timers[which] = CpuTimer(tg, which)
    return timers[which]
