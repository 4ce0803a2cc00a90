"""timerfd_create(2): a timer whose expirations are counted and read from a file.

Times here are nanoseconds on the host's monotonic clock, which the kernel's timers
run on; the syscall handlers convert from the timer's own clock. The kernel timer is
only armed while nothing unread is counted, as in Linux, where a periodic timer is
restarted by the read that consumes its expirations: until then, more expirations are
counted arithmetically without waking anyone again.
"""
import errno
import os
import struct
from time import monotonic_ns

from ..errors import SyscallError, WouldBlock
from .file import POLLIN, File

TFD_CLOEXEC = os.O_CLOEXEC
TFD_NONBLOCK = os.O_NONBLOCK
TFD_TIMER_ABSTIME = 1
TFD_TIMER_CANCEL_ON_SET = 2
TFD_IOC_SET_TICKS = 0x40085400        # _IOW('T', 0, u64)
NSEC_PER_SEC = 1_000_000_000
_TICKS = struct.Struct("<Q")


class TimerFile(File):
    """The open timerfd: its schedule and the count of expirations not yet read."""

    def __init__(self, kernel, clockid, flags):
        super().__init__(os.O_RDWR | (flags & TFD_NONBLOCK), path=b"anon_inode:[timerfd]")
        self.kernel = kernel
        self.clockid = clockid
        self.interval_ns = 0
        self._next_expiry_ns = None       # the next expiration not yet counted; None when disarmed
        self._ticks = 0                   # expirations counted and not yet read
        self._kernel_timer = None

    def set(self, expiry_ns, interval_ns):
        """Arm for `expiry_ns` (None disarms), then every `interval_ns` (0: once).
        The unread expirations are dropped. Returns the previous get()."""
        previous = self.get()
        self.kernel.cancel_timer(self._kernel_timer)
        self._kernel_timer = None
        self._ticks = 0
        self.interval_ns = interval_ns
        self._next_expiry_ns = expiry_ns
        self._start_kernel_timer()
        return previous

    def get(self):
        """(nanoseconds until the next expiration, 0 when disarmed; the interval)."""
        now = monotonic_ns()
        self._count_expirations(now)
        if self._next_expiry_ns is None:
            return 0, self.interval_ns
        return max(0, self._next_expiry_ns - now), self.interval_ns

    def _count_expirations(self, now):
        expiry = self._next_expiry_ns
        if expiry is None or now < expiry:
            return
        if self.interval_ns:
            expired = (now - expiry) // self.interval_ns + 1
            self._next_expiry_ns = expiry + expired * self.interval_ns
        else:
            expired = 1
            self._next_expiry_ns = None
        self._ticks += expired

    def _start_kernel_timer(self):
        if self._kernel_timer is None and self._next_expiry_ns is not None and not self._ticks:
            deadline_ns = self._next_expiry_ns
            self._kernel_timer = self.kernel.add_timer(deadline_ns / NSEC_PER_SEC,
                                                       lambda: self._expire(deadline_ns))

    def _expire(self, deadline_ns):
        self._kernel_timer = None
        # The kernel's float deadline may round a little early: the expiry has come all the same.
        self._count_expirations(max(monotonic_ns(), deadline_ns))
        self.wait_queue.notify()

    def release(self):
        self.kernel.cancel_timer(self._kernel_timer)
        self._kernel_timer = None

    def read(self, t, n):
        if n < _TICKS.size:
            raise SyscallError(errno.EINVAL)
        self._count_expirations(monotonic_ns())
        if not self._ticks:
            if self.nonblocking:
                raise SyscallError(errno.EAGAIN)
            raise WouldBlock(self.wait_queue)
        ticks, self._ticks = self._ticks, 0
        self._start_kernel_timer()
        return _TICKS.pack(ticks)

    def ioctl(self, t, cmd, arg):
        """TFD_IOC_SET_TICKS (for checkpoint/restore): set the count of unread expirations."""
        if cmd != TFD_IOC_SET_TICKS:
            raise SyscallError(errno.ENOTTY)
        ticks = t.copy_in_u64(arg)
        if not ticks:
            raise SyscallError(errno.EINVAL)
        self._ticks = ticks
        self.wait_queue.notify()
        return 0

    def poll_events(self):
        self._count_expirations(monotonic_ns())
        return POLLIN if self._ticks else 0
