"""POSIX per-process timers (timer_create(2)): a clock, a notification, and an expiry that
repeats every interval.

Timers on the wall clocks (REALTIME, MONOTONIC, BOOTTIME, TAI and the alarm clocks, which act
as their plain clocks) run on the kernel's timers. Timers on CPU-time clocks look at the
process's CPU time on a kernel timer, as setitimer's CPU timers do. SIGEV_NONE timers run on
no kernel timer at all: timer_gettime(2) works their expiry out from the clock.

As in Linux, each timer has one siginfo of its own, and a periodic timer whose signal is
queued is not re-armed until the signal is taken (dequeue_signal calls `signal_taken`). The
periods that passed in between are counted arithmetically, as the signal's si_overrun and
timer_getoverrun(2)'s result. So a timer with a period of 1 ns costs the sentry one expiry
per signal the workload takes, never one per period. A signal taken after timer_settime(2)
or timer_delete(2) changed the timer is dropped, and a signal the process ignores waits,
not queued, until a handler is installed for it.
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
        self.expires = None                     # the next expiry (ns on the timer's clock), or None
        self._handle = None                     # the kernel timer, while one is armed
        self._requeue_pending = False           # expired; re-armed when its signal is taken
        self._overrun = -1                      # periods passed since the last expiry signalled
        self.overrun_last = 0                   # what timer_getoverrun(2) reports
        self._generation = 0                    # changes with each set, delete and re-arm
        self._info = signals.SigInfo(signo, signals.SI_TIMER, timer_id=timer_id, value=value)
        self._info.timer = self
        self._info_generation = None            # the generation the signal was sent for
        self._queued = False                    # the signal is in a pending queue
        self._ignored = False                   # the signal was due while its action ignored it

    def get(self):
        """(nanoseconds to the next expiry, interval), as timer_gettime(2) reads them: 0 for a
        disarmed timer and for an expired one-shot SIGEV_NONE timer, at least 1 ns for a timer
        whose signal is on its way. A periodic timer waiting for its signal to be taken (or
        with SIGEV_NONE) is moved past now first, its overruns counted."""
        if self.expires is None:
            return 0, self.interval
        now = self._read_clock()
        if self.interval and (self._requeue_pending or self.notify == SIGEV_NONE):
            self._overrun += self._forward(now)
        left = self.expires - now
        if left <= 0:
            return (0 if self.notify == SIGEV_NONE else 1), self.interval
        return left, self.interval

    def set(self, value, interval, absolute):
        """timer_settime(2): arm (value 0 disarms); returns the old get(). A signal of the old
        setting still queued is dropped when taken."""
        old = self.get()
        self.delete()
        self.interval = interval if value else 0
        self._overrun = -1
        self.overrun_last = 0
        if value:
            self.expires = value if absolute else self._read_clock() + value
            self._arm()
        return old

    def delete(self):
        self.tg.kernel.cancel_timer(self._handle)
        self._handle = self.expires = None
        self._requeue_pending = False
        self._generation += 1

    def _arm(self):
        if self.notify != SIGEV_NONE:
            self._schedule()

    def _schedule(self):
        kernel = self.tg.kernel
        left = (self.expires - self._read_clock()) / NSEC_PER_SEC
        if self._cpu_clock:
            left = poll_delay(left)
        self._handle = kernel.add_timer(kernel.now() + max(left, 0), self._check)

    def _forward(self, now):
        """Move a periodic expiry past `now`; returns by how many periods (hrtimer_forward)."""
        if now < self.expires:
            return 0
        periods = (now - self.expires) // self.interval + 1
        self.expires += periods * self.interval
        return periods

    def _check(self):
        self._handle = None
        if self.expires is None or self.tg.exiting:
            return
        if self._read_clock() < self.expires:
            self._schedule()
            return
        if self.interval:
            self._requeue_pending = True
        else:
            self.expires = None
        self._send()

    def _send(self):
        target = self.target_thread or self.tg
        if target is not self.tg and not target.alive:
            return
        self._info_generation = self._generation
        if self._queued:
            return                              # queued for an old setting: it stands for this one now
        self._info.overrun = 0
        self._queued = bool(signals.send_signal(target, self._info))
        self._ignored = not self._queued

    def signal_taken(self, info):
        """Its signal left the pending queue to be delivered: False to drop it (the timer
        changed since). A periodic timer is re-armed here (posixtimer_deliver_signal)."""
        self._queued = False
        if self._info_generation != self._generation:
            return False
        if not self._requeue_pending:
            return True
        self._requeue_pending = False
        self._overrun += self._forward(self._read_clock())
        self.overrun_last = self._overrun
        self._overrun = -1
        self._generation += 1
        info.overrun = min(self.overrun_last, DELAYTIMER_MAX)
        self._arm()
        return True

    def signal_discarded(self):
        """Its queued signal was discarded: the action became "ignore". It waits for a handler."""
        self._queued = False
        self._ignored = self._info_generation == self._generation

    def signal_unignored(self):
        """The signal's action stopped ignoring it: one that came due meanwhile is sent now."""
        if self._ignored:
            self._ignored = False
            if self._info_generation == self._generation:
                self._send()

    def overrun(self):
        """timer_getoverrun(2): the overruns counted for the last signal delivered."""
        return min(self.overrun_last, DELAYTIMER_MAX)


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


def signal_unignored(tg, signo):
    """sigaction(2) gave `signo` an action that doesn't ignore it."""
    for timer in tg.posix_timers.values():
        if timer.signo == signo:
            timer.signal_unignored()
