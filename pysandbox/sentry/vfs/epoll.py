"""epoll(7): an interest list of (file, fd) pairs and a ready list, as Linux's eventpoll.

Each Interest stays subscribed to its file's readiness queue. When the queue fires,
the interest looks at the file, and if the change is one epoll_wait must report it
goes on the ready list (at the tail, once) and the epoll's own queue is notified:
that wakes epoll_wait, poll(2) on the epoll fd and epolls watching this one.
epoll_wait then takes the ready list in order, polling each file again as Linux does
(ep_send_events): an interest no longer ready is dropped, a level-triggered one goes
back to the tail, an edge-triggered one waits for the next change, a one-shot one is
disabled until EPOLL_CTL_MOD.

Linux tells epoll which events a wake-up was about; a WaitQueue does not (a pipe's
queue fires for reads and writes alike). So for edge-triggered interests a wake-up
counts only if a readiness bit appeared or, for EPOLLIN, the bytes waiting grew:
the reader's own partial read is not a new edge, a writer's write is.

Inherited host fds (HostStreamFile) are different: their queue is the kernel's host-fd
queue, which fires while the fd is ready rather than when it changes, so following it
continuously would spin. They (and epolls watching them) are subscribed only while
someone waits on the epoll, and otherwise looked at whenever the epoll is.
"""
import errno
import os
import struct

from ..errors import SyscallError
from .file import POLLIN, POLLRDNORM, File
from .hostfile import HostStreamFile

EPOLLIN, EPOLLPRI, EPOLLOUT, EPOLLERR, EPOLLHUP = 0x1, 0x2, 0x4, 0x8, 0x10
EPOLLRDHUP = 0x2000
EPOLLEXCLUSIVE, EPOLLWAKEUP, EPOLLONESHOT, EPOLLET = 1 << 28, 1 << 29, 1 << 30, 1 << 31
# Flags about the interest itself rather than events of the file.
EP_PRIVATE_BITS = EPOLLWAKEUP | EPOLLONESHOT | EPOLLET | EPOLLEXCLUSIVE
EPOLLEXCLUSIVE_OK_BITS = EPOLLIN | EPOLLOUT | EPOLLERR | EPOLLHUP | EPOLLWAKEUP | EPOLLET | EPOLLEXCLUSIVE
EPOLL_CTL_ADD, EPOLL_CTL_DEL, EPOLL_CTL_MOD = 1, 2, 3
EPOLL_CLOEXEC = os.O_CLOEXEC
EP_MAX_NESTS = 4
EPOLL_EVENT = struct.Struct("<IQ")        # struct epoll_event is packed on x86_64: 12 bytes
EP_MAX_EVENTS = 0x7FFFFFFF // EPOLL_EVENT.size
POLL_EVENT_BITS = 0xFFFF                  # the events poll(2) can ask for (a short)


def can_poll(file):
    """Whether `file` has a poll operation of its own (Linux's file_can_poll). File's default,
    always ready, stands for none: regular files, directories and most devices."""
    if isinstance(file, HostStreamFile):
        return not file.is_regular
    return type(file).poll_events is not File.poll_events


def _follows_changes(file):
    """Whether the file's readiness queue fires on changes (see the module's docstring)."""
    if isinstance(file, HostStreamFile):
        return False
    if isinstance(file, EpollFile):
        return all(interest.follows_changes for interest in file.interests.values())
    return True


def _bytes_waiting(file):
    try:
        return file.bytes_available()
    except SyscallError:
        return None


class Interest:
    """One (file, fd) pair on an epoll's interest list (Linux's epitem)."""

    def __init__(self, epoll, file, fd):
        self.epoll = epoll
        self.file = file
        self.fd = fd
        self.events = 0
        self.data = 0
        self.task = None                  # whose view of the file to wait for (signalfd), kept fresh
        self._queue = None                # the readiness queue subscribed to, if any
        self._last_events = 0             # what the file looked like when last looked at
        self._last_bytes = None

    @property
    def follows_changes(self):
        return _follows_changes(self.file)

    @property
    def watched(self):
        """The file's events this interest reports: none once a one-shot has fired."""
        return self.events & ~EP_PRIVATE_BITS

    @property
    def closed(self):
        """The watched file's last fd was closed: Linux forgets it then (eventpoll_release)."""
        return self.file.refs <= 0

    def reset(self, t, events, data):
        """EPOLL_CTL_ADD and EPOLL_CTL_MOD: new settings, and the file looked at afresh, so that
        a ready file is reported at once. Returns whether it is ready."""
        self.unsubscribe()
        self.events, self.data, self.task = events, data, t
        self._last_events, self._last_bytes = 0, None
        if self.follows_changes:
            self.subscribe(t)
        return self.look()

    def ready_events(self):
        return self.file.poll_events() & self.watched

    def look(self):
        """Poll the file: whether it changed in a way epoll_wait must report."""
        now = self.ready_events()
        waiting = _bytes_waiting(self.file) if self.events & EPOLLET else None
        if self.events & EPOLLET:
            news = bool(now & ~self._last_events) or bool(now & EPOLLIN and self._more_input(waiting))
        else:
            news = bool(now)
        self._last_events, self._last_bytes = now, waiting
        return news

    def _more_input(self, waiting):
        if waiting is None or self._last_bytes is None:
            return True                   # nothing to compare: every wake-up is news
        if self.follows_changes:
            return waiting > self._last_bytes
        # Seen only now and then: any change means reads and writes happened in between.
        return waiting != self._last_bytes

    def subscribe(self, t=None):
        if t is not None:
            self.task = t
        if self._queue is None and self.watched:
            self._queue = self.file.readiness_queue(self.task, self.watched & POLL_EVENT_BITS)
            self._queue.add(self._on_wake_up)

    def unsubscribe(self):
        if self._queue is not None:
            self._queue.remove(self._on_wake_up)
            self._queue = None

    def _on_wake_up(self):
        self._queue = None
        if self.closed:
            self.epoll.forget(self)
            return
        if self.follows_changes:
            self.subscribe()
        if self.look():
            self.epoll.make_ready(self)
        elif not self.follows_changes:
            self.epoll.wait_queue.notify()     # waiters look again, and subscribe it again
        elif len(self.epoll.wait_queue):
            # No news for a task that still waits: no task parks again, so the file must go on
            # watching the host for it now (an edge of a host socket would be lost otherwise).
            self.file.prepare_to_wait(self.task)


class EpollFile(File):
    """An epoll instance (Linux's struct eventpoll)."""

    def __init__(self):
        super().__init__(os.O_RDWR, path=b"anon_inode:[eventpoll]")
        self.interests = {}               # (file, fd) -> Interest
        self._ready = {}                  # Interest -> None, in the order they became ready
        self.watchers = set()             # the interests of epolls watching this one

    # -- epoll_ctl(2) -----------------------------------------------------------------------
    def control(self, t, op, file, fd, events, data):
        """ADD, MOD or DEL the interest in (file, fd); the caller has checked the descriptors."""
        if op == EPOLL_CTL_ADD and isinstance(file, EpollFile):
            file.check_nesting_under(self)
        # Interests of closed files are dropped at the next wait, not here: scanning them all at
        # every call made registering n files take n^2 steps. A closed file can't be passed in.
        interest = self.interests.get((file, fd))
        if op == EPOLL_CTL_ADD:
            if interest is not None:
                raise SyscallError(errno.EEXIST)
            interest = self.interests[(file, fd)] = Interest(self, file, fd)
            if isinstance(file, EpollFile):
                file.watchers.add(interest)
            self._reset(t, interest, events, data)
        elif op == EPOLL_CTL_DEL:
            if interest is None:
                raise SyscallError(errno.ENOENT)
            self.forget(interest)
        elif op == EPOLL_CTL_MOD:
            if interest is None:
                raise SyscallError(errno.ENOENT)
            if interest.events & EPOLLEXCLUSIVE:
                raise SyscallError(errno.EINVAL)
            self._reset(t, interest, events, data)
        else:
            raise SyscallError(errno.EINVAL)

    def _reset(self, t, interest, events, data):
        # Errors and hang-ups are always reported.
        if interest.reset(t, events | EPOLLERR | EPOLLHUP, data):
            self.make_ready(interest)

    def check_nesting_under(self, parent):
        """ELOOP if `parent` watching this epoll would close a cycle, or make a chain of epolls
        watching epolls more than EP_MAX_NESTS long (ep_loop_check)."""
        if self._depth_below(parent, {}) + 1 + parent._depth_above({}) > EP_MAX_NESTS:
            raise SyscallError(errno.ELOOP)

    def _depth_below(self, parent, known):
        """The longest chain of epolls this one watches; past the limit if `parent` is in it."""
        if self not in known:
            depth = 0
            for nested in self._watched_epolls():
                depth = max(depth, EP_MAX_NESTS + 1 if nested is parent else nested._depth_below(parent, known) + 1)
                if depth > EP_MAX_NESTS:
                    break
            known[self] = depth
        return known[self]

    def _depth_above(self, known):
        """The longest chain of epolls watching this one."""
        if self not in known:
            known[self] = max((interest.epoll._depth_above(known) + 1 for interest in self.watchers), default=0)
        return known[self]

    def _watched_epolls(self):
        return [interest.file for interest in self.interests.values()
                if isinstance(interest.file, EpollFile) and not interest.closed]

    def forget(self, interest):
        interest.unsubscribe()
        if isinstance(interest.file, EpollFile):
            interest.file.watchers.discard(interest)
        self.interests.pop((interest.file, interest.fd), None)
        self._ready.pop(interest, None)

    # -- the ready list ---------------------------------------------------------------------
    def make_ready(self, interest):
        self._ready.setdefault(interest)
        self.wait_queue.notify()

    def ready_events(self, maxevents):
        """Up to `maxevents` (interest, events) pairs, in ready-list order, without taking them;
        interests found no longer ready leave the list."""
        for interest in list(self.interests.values()):
            if interest.closed:
                self.forget(interest)
            elif not interest.follows_changes and interest.look():
                self._ready.setdefault(interest)
        found = []
        for interest in list(self._ready):
            if len(found) == maxevents:
                break
            events = interest.ready_events()
            if events:
                found.append((interest, events))
            else:
                del self._ready[interest]
        return found

    def mark_reported(self, reported):
        """The events of ready_events() reached epoll_wait's caller."""
        for interest, _ in reported:
            del self._ready[interest]
            if interest.events & EPOLLONESHOT:
                interest.events &= EP_PRIVATE_BITS
            elif not interest.events & EPOLLET:
                self._ready[interest] = None      # level-triggered: still ready, after the others

    # -- the epoll file itself --------------------------------------------------------------
    def poll_events(self):
        return POLLIN | POLLRDNORM if self.ready_events(1) else 0

    def readiness_queue(self, t, events):
        """Someone is about to wait: host fds are subscribed for the length of that wait."""
        self.prepare_to_wait(t)
        return self.wait_queue

    def prepare_to_wait(self, t):
        for interest in self.interests.values():
            if not interest.closed:
                interest.subscribe(t)
                interest.file.prepare_to_wait(t)

    def release(self):
        for interest in list(self.interests.values()):
            self.forget(interest)


def pack_events(reported):
    """struct epoll_event records for (interest, events) pairs: the events, and the data verbatim."""
    return b"".join(EPOLL_EVENT.pack(events, interest.data) for interest, events in reported)
