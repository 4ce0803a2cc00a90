"""WaitQueue: the one blocking primitive of the sentry."""


class WaitQueue:
    """Tasks (or any callbacks) waiting for something to change.

    Objects that can block a task own a WaitQueue and call notify() when their
    state changes (data arrived, a child exited, a futex was woken...). The
    kernel registers parked tasks with add(); notify() wakes them all and they
    re-run their syscall handler, which checks the state again.
    """

    __slots__ = ("_waiters",)

    def __init__(self):
        self._waiters = []

    def add(self, callback):
        self._waiters.append(callback)

    def remove(self, callback):
        try:
            self._waiters.remove(callback)
        except ValueError:
            pass

    def notify(self):
        if not self._waiters:
            return
        waiters, self._waiters = self._waiters, []
        for callback in waiters:
            callback()

    def __len__(self):
        return len(self._waiters)
