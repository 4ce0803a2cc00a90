"""POSIX per-process timers (timer_create(2)): a clock, a notification, and an expiry that
repeats every interval.

Timers on the wall clocks (REALTIME, MONOTONIC, BOOTTIME, TAI and the alarm clocks, which act
as their plain clocks) run on the kernel's timers. Timers on CPU-time clocks look at the
process's CPU time on a kernel timer, as setitimer's CPU timers do. An expiry whose signal
is still pending is counted as an overrun of that signal instead of queueing another.
"""
from pysandbox.sentry import signals
from pysandbox.sentry.cputimer import poll_delay

SIGEV_SIGNAL, SIGEV_NONE, SIGEV_THREAD, SIGEV_THREAD_ID = 0, 1, 2, 4
DELAYTIMER_MAX = 0x7FFFFFFF
NSEC_PER_SEC = 1_000_000_000


class PosixTimer:
    def __init__(self, tg, timer_id, read_clock, cpu_clock, notify, signo, value, target_thread):
        self.tg = tg
        self.id = timer_id
        self._read_clock = read_clock           # () -> nanoseconds on the timer's clock
        self._cpu_clock = cpu_clock
        self.notify = notify
        self.signo = signo
        self.value = value
        self.target_thread = target_thread      # SIGEV_THREAD_ID: the Task to signal
        self.interval = 0
        self.expires = None                     # nanoseconds on the timer's clock, or None
        self._handle = None
        self._info = None                       # the last signal sent, while it may still be pending
        self.overrun_last = 0

    def get(self):
        """(nanoseconds to the next expiry, interval); 0 for a disarmed timer."""
        if self.expires is None:
            return 0, self.interval
        return max(self.expires - self._read_clock(), 1), self.interval

    def set(self, value, interval, absolute):
        """Arm (value 0 disarms); returns the old get()."""
        old = self.get()
        self.delete()
        self.interval = interval if value else 0
        if value:
            self.expires = value if absolute else self._read_clock() + value
            self._schedule()
        return old

    def delete(self):
        self.tg.kernel.cancel_timer(self._handle)
        self._handle = self.expires = None

    def _schedule(self):
        kernel = self.tg.kernel
        left = (self.expires - self._read_clock()) / NSEC_PER_SEC
        if self._cpu_clock:
            left = poll_delay(left)
        self._handle = kernel.add_timer(kernel.now() + max(left, 0), self._check)

    def _check(self):
        self._handle = None
        if self.expires is None or self.tg.exiting:
            return
        now = self._read_clock()
        if now < self.expires:
            self._schedule()
            return
        missed = 0
        if self.interval:
            missed = (now - self.expires) // self.interval
            self.expires += (missed + 1) * self.interval
        else:
            self.expires = None
        self._fire(missed)
        if self.expires is not None:
            self._schedule()

    def _fire(self, missed):
        if self.notify == SIGEV_NONE:
            return
        target = self.target_thread or self.tg
        if target is None or (target is not self.tg and not target.alive):
            return
        info = self._info
        if info is not None and target.pending.holds(info):
            info.overrun = min(info.overrun + 1 + missed, DELAYTIMER_MAX)
            return
        if info is not None:
            self.overrun_last = info.overrun
        self._info = signals.SigInfo(self.signo, signals.SI_TIMER, timer_id=self.id, overrun=missed,
                                     value=self.value)
        signals.send_signal(target, self._info)

    def overrun(self):
        """timer_getoverrun(2): the overruns counted for the last signal delivered."""
        info = self._info
        if info is not None and not (self.target_thread or self.tg).pending.holds(info):
            return info.overrun
        return self.overrun_last


def allocate_id(tg):
    """The next id after the last one handed out (from 0, wrapping at INT_MAX), skipping ids in
    use, as Linux counts them."""
    timer_id = tg.next_posix_timer_id
    while timer_id in tg.posix_timers:
        timer_id = (timer_id + 1) & 0x7FFFFFFF
    tg.next_posix_timer_id = (timer_id + 1) & 0x7FFFFFFF
    return timer_id


def delete_all(tg):
    """execve(2) and exit: a process's timers go with its image."""
    for timer in tg.posix_timers.values():
        timer.delete()
    tg.posix_timers.clear()
