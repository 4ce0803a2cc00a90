"""POSIX message queues: mq_open(2), mq_unlink(2), mq_timedsend(2), mq_timedreceive(2),
mq_notify(2) and mq_getsetattr(2), with checks in the order of Linux's ipc/mqueue.c.

glibc's mq_open(3) and mq_unlink(3) strip the leading '/' before the kernel sees a name.
"""
import errno
import os
import struct
import time

from ..errors import SyscallError, WouldBlock
from ..signals import NSIG
from .. import sysv_ipc
from ..vfs.inode import PATH_MAX
from ..vfs.mqueue import (MQ_PRIO_MAX, NOTIFY_COOKIE_LEN, SIGEV_NONE, SIGEV_SIGNAL, SIGEV_THREAD,
                          MessageQueueFile, Notification)
from ..vfs.netlink import AF_NETLINK
from ..vfs.socket import SocketFile
from .sys_time import CLOCK_REALTIME, _copy_in_timespec_ns, clock_now_ns

# struct mq_attr: mq_flags, mq_maxmsg, mq_msgsize, mq_curmsgs, and four reserved longs.
_MQ_ATTR = struct.Struct("<qqqq32x")
# struct sigevent: sigev_value, sigev_signo, sigev_notify, then a 48-byte union.
_SIGEVENT = struct.Struct("<qii48x")


def _name(t, name):
    """getname(): EFAULT, ENAMETOOLONG beyond PATH_MAX, ENOENT for an empty name."""
    text = t.copy_in_str(name, PATH_MAX)
    if not text:
        raise SyscallError(errno.ENOENT)
    return text


def _queues(t):
    return sysv_ipc.namespace_of(t).mqueues


def _queue_file(t, mqdes):
    return t.fds.get_of_kind(mqdes, MessageQueueFile, errno.EBADF)


def _deadline(t, abs_timeout):
    """The host monotonic time an absolute CLOCK_REALTIME timeout ends at (None: no timeout)."""
    if not abs_timeout:
        return None
    remaining_ns = _copy_in_timespec_ns(t, abs_timeout) - clock_now_ns(t, CLOCK_REALTIME)
    return time.monotonic() + remaining_ns / 1e9


def _wait(t, file, waiters, deadline):
    if file.nonblocking:
        raise SyscallError(errno.EAGAIN)
    if t.timed_out() or deadline is not None and deadline <= time.monotonic():
        raise SyscallError(errno.ETIMEDOUT)
    raise WouldBlock(waiters, deadline=deadline)


def mq_open(t, name, oflag, mode, attr):
    """mq_open(2): the attributes are read before the name, and only matter for a new queue.
    Queue descriptors are always close-on-exec."""
    attributes = None
    if attr:
        _, maxmsg, msgsize, _ = _MQ_ATTR.unpack(t.copy_in(attr, _MQ_ATTR.size))
        attributes = (maxmsg, msgsize)
    text = _name(t, name)
    file = _queues(t).open(t, text, oflag, mode, attributes)
    return t.fds.install(file, cloexec=True)


def mq_unlink(t, name):
    """mq_unlink(2)."""
    _queues(t).unlink(t, _name(t, name))
    return 0


def mq_timedsend(t, mqdes, msg_ptr, msg_len, msg_prio, abs_timeout):
    """mq_timedsend(2): waits for room unless the descriptor is non-blocking."""
    if msg_prio >= MQ_PRIO_MAX:
        raise SyscallError(errno.EINVAL)
    deadline = _deadline(t, abs_timeout)
    file = _queue_file(t, mqdes)
    if not file.writable:
        raise SyscallError(errno.EBADF)
    queue = file.queue
    if msg_len > queue.msgsize:
        raise SyscallError(errno.EMSGSIZE)
    text = t.copy_in(msg_ptr, msg_len) if msg_len else b""
    if queue.full:
        _wait(t, file, queue.senders, deadline)
    queue.send(t, text, msg_prio)
    return 0


def mq_timedreceive(t, mqdes, msg_ptr, msg_len, msg_prio, abs_timeout):
    """mq_timedreceive(2): the message is taken even if storing it faults (EFAULT)."""
    deadline = _deadline(t, abs_timeout)
    file = _queue_file(t, mqdes)
    if not file.readable:
        raise SyscallError(errno.EBADF)
    queue = file.queue
    if msg_len < queue.msgsize:
        raise SyscallError(errno.EMSGSIZE)
    if not queue.messages:
        _wait(t, file, queue.receivers, deadline)
    text, priority = queue.receive()
    if msg_prio:
        t.copy_out_u32(msg_prio, priority)
    if text:
        t.copy_out(msg_ptr, text)
    return len(text)


def mq_notify(t, mqdes, sevp):
    """mq_notify(2): one process at a time may ask to hear of a message reaching the empty
    queue. SIGEV_THREAD is glibc's: sigev_signo is a netlink socket, and sival_ptr points at a
    cookie the sentry sends to it when the time comes (the loopback network's NETLINK_ROUTE
    sockets take it; with --network host it is ENOSYS)."""
    notification = None
    if sevp:
        value, signo, kind = _SIGEVENT.unpack(t.copy_in(sevp, _SIGEVENT.size))
        if kind not in (SIGEV_NONE, SIGEV_SIGNAL, SIGEV_THREAD):
            raise SyscallError(errno.EINVAL)
        if kind == SIGEV_SIGNAL and not 0 <= signo <= NSIG:
            raise SyscallError(errno.EINVAL)
        cookie = t.copy_in(value, NOTIFY_COOKIE_LEN) if kind == SIGEV_THREAD else b""
        socket = _netlink_socket(t, signo) if kind == SIGEV_THREAD else None
        notification = Notification(t.tg, t.fds.lock_owner, kind, signo, value, socket, cookie)
    queue = _queue_file(t, mqdes).queue
    current = queue.notification
    if notification is None:
        if current is not None and current.owner is t.tg:
            queue.unregister()
            queue.touch()
        return 0
    if current is not None:
        raise SyscallError(errno.EBUSY)
    if notification.socket is not None:
        notification.socket.incref()
    queue.notification = notification
    queue.touch()
    return 0


def _netlink_socket(t, fd):
    """netlink_getsockbyfd(): EBADF, ENOTSOCK, EINVAL for another family."""
    file = t.fds.get_of_kind(fd, SocketFile, errno.ENOTSOCK)
    if file.family != AF_NETLINK:
        raise SyscallError(errno.EINVAL)
    if not hasattr(file, "replies"):
        raise SyscallError(errno.ENOSYS)  # the host's NETLINK_ROUTE (--network host) takes no cookie
    return file


def mq_getsetattr(t, mqdes, newattr, oldattr):
    """mq_getsetattr(2): only O_NONBLOCK can change."""
    new_flags = None
    if newattr:
        new_flags = _MQ_ATTR.unpack(t.copy_in(newattr, _MQ_ATTR.size))[0]
        if new_flags & ~os.O_NONBLOCK:
            raise SyscallError(errno.EINVAL)
    file = _queue_file(t, mqdes)
    queue = file.queue
    old = _MQ_ATTR.pack(file.flags & os.O_NONBLOCK, queue.maxmsg, queue.msgsize, len(queue.messages))
    if new_flags is not None:
        file.flags = file.flags & ~os.O_NONBLOCK | new_flags
    if oldattr:
        t.copy_out(oldattr, old)
    return 0
