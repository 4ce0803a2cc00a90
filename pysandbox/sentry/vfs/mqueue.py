"""POSIX message queues (mq_overview(7)) and the mqueue filesystem that holds them.

Each IPC namespace (one per sandbox) has one mqueue filesystem: mq_open(3)
looks names up in its root, and every `mount -t mqueue` of the namespace shows
that same root, where each queue is a file whose contents are a status line.
"""
import errno
import heapq
import itertools
import os
import stat as st
import weakref

from .. import signals
from ..credentials import CAP_FOWNER, CAP_SYS_RESOURCE, capable
from ..errors import SyscallError
from ..sysctl import KNOWN as SYSCTLS
from ..task import RLIMIT_MSGQUEUE
from ..waiter import WaitQueue
from .file import POLLIN, POLLOUT, POLLRDNORM, POLLWRNORM, File
from .inode import Dentry, DirEntry
from .memfs import MemDir, MemInode, TmpFS
from .stat import MAY_EXEC, MAY_READ, MAY_WRITE, dirent_type, may_access

MQUEUE_MAGIC = 0x19800202
MQ_PRIO_MAX = 32768
HARD_MSGMAX, HARD_MSGSIZEMAX = 65536, 16 << 20
STATUS_FILE_SIZE = 80  # st_size of a queue file (Linux's FILENT_SIZE)
# What Linux charges against RLIMIT_MSGQUEUE per message slot beyond its text: a struct msg_msg
# and a priority tree node.
_MSG_OVERHEAD, _TREE_NODE_SIZE = 48, 48
ULONG_MAX = (1 << 64) - 1

SIGEV_SIGNAL, SIGEV_NONE, SIGEV_THREAD = 0, 1, 2
# SIGEV_THREAD: the kernel sends the registrant's 32-byte cookie to its netlink socket, the
# last byte saying why (glibc's helper thread starts the function on NOTIFY_WOKENUP).
NOTIFY_COOKIE_LEN, NOTIFY_NONE, NOTIFY_WOKENUP, NOTIFY_REMOVED = 32, 0, 1, 2


def queue_bytes(maxmsg, msgsize):
    """What a queue of these attributes charges to its creator's RLIMIT_MSGQUEUE."""
    return maxmsg * msgsize + maxmsg * _MSG_OVERHEAD + min(maxmsg, MQ_PRIO_MAX) * _TREE_NODE_SIZE


class Notification:
    """An mq_notify(3) registration: who asked, and what to send."""
    __slots__ = ("owner", "files", "kind", "signo", "value", "socket", "cookie")

    def __init__(self, owner, files, kind, signo, value, socket=None, cookie=b""):
        self.owner = owner      # the registering ThreadGroup
        self.files = files      # its fd table (closing a queue fd through it unregisters)
        self.kind = kind
        self.signo = signo
        self.value = value
        self.socket = socket    # SIGEV_THREAD: the netlink socket (a reference of its own) and cookie
        self.cookie = cookie

    def send_cookie(self, why):
        """SIGEV_THREAD: the cookie goes to the socket, which this registration then lets go."""
        if self.socket is not None:
            self.socket.replies.append(self.cookie[:NOTIFY_COOKIE_LEN - 1] + bytes([why]))
            self.socket.wait_queue.notify()
            self.socket.decref()
            self.socket = None


class MessageQueue(MemInode):
    """One queue: messages by priority (first in, first out within one), its attributes and
    who waits on it. Its file reads as a status line."""

    def __init__(self, namespace, mode, uid, gid, maxmsg, msgsize):
        super().__init__(st.S_IFREG | (mode & 0o7777), uid, gid, fs=namespace.fs)
        self.namespace = namespace
        self.maxmsg, self.msgsize = maxmsg, msgsize
        self.messages = []      # heap of (-priority, arrival, text)
        self._arrivals = itertools.count()
        self.qsize = 0          # bytes of text queued
        self.notification = None
        self.receivers = WaitQueue()   # tasks waiting for a message
        self.senders = WaitQueue()     # tasks waiting for room
        self.changed = WaitQueue()     # poll, select and epoll
        self.charged_uid, self.charged_bytes = uid, 0
        self.open_files = 0

    def content_size(self):
        return STATUS_FILE_SIZE

    @property
    def full(self):
        return len(self.messages) >= self.maxmsg

    def status_line(self):
        """The file's contents: QSIZE, and the registration (its process, if any)."""
        notification = self.notification
        kind = notification.kind if notification else 0
        signo = notification.signo if notification and notification.kind == SIGEV_SIGNAL else 0
        pid = notification.owner.tgid if notification and not notification.owner.exiting else 0
        return b"QSIZE:%-10d NOTIFY:%-5d SIGNO:%-5d NOTIFY_PID:%-6d\n" % (self.qsize, kind, signo, pid)

    def send(self, t, text, priority):
        """Queue `text`; the registered process hears of a message reaching an empty queue
        unless a receiver is already waiting for it."""
        heapq.heappush(self.messages, (-priority, next(self._arrivals), text))
        self.qsize += len(text)
        if len(self.messages) == 1 and not len(self.receivers):
            self._notify(t)
        self.touch()
        self.receivers.notify()
        self.changed.notify()

    def receive(self):
        """(text, priority) of the oldest message of the highest priority."""
        negative_priority, _, text = heapq.heappop(self.messages)
        self.qsize -= len(text)
        self.touch()
        self.senders.notify()
        self.changed.notify()
        return text, -negative_priority

    def unregister(self):
        """The registration goes (mq_notify(NULL), a close by its process): a SIGEV_THREAD
        registrant hears NOTIFY_REMOVED."""
        notification, self.notification = self.notification, None
        if notification is not None:
            notification.send_cookie(NOTIFY_REMOVED)

    def _notify(self, sender):
        notification, self.notification = self.notification, None
        if notification is None:
            return
        notification.send_cookie(NOTIFY_WOKENUP)
        if notification.kind != SIGEV_SIGNAL or notification.signo == 0 or notification.owner.exiting:
            return
        info = signals.SigInfo(notification.signo, signals.SI_MESGQ, pid=sender.tg.tgid,
                               uid=sender.creds.uid, value=notification.value)
        try:
            signals.send_signal(notification.owner, info)
        except SyscallError:
            pass  # a real-time signal that doesn't fit in the queue is lost, as in Linux

    def file_opened(self):
        self.open_files += 1

    def file_closed(self):
        self.open_files -= 1
        self._release_if_gone()

    def dropped(self):
        super().dropped()
        self.namespace.queue_count -= 1
        self._release_if_gone()

    def _release_if_gone(self):
        """The last name and the last open file are gone: the queue's bytes go back to its
        owner, and a SIGEV_THREAD registration lets its socket go."""
        if self.nlink == 0 and self.open_files == 0:
            if self.notification is not None:
                self.unregister()
            if self.charged_bytes:
                self.namespace.uncharge(self.charged_uid, self.charged_bytes)
                self.charged_bytes = 0

    def open(self, t, dentry, flags):
        return MessageQueueFile(flags, dentry, self)


class MessageQueueFile(File):
    """An open queue: an mq_open(3) descriptor, or a queue file opened in an mqueue mount."""

    flushes = True

    def __init__(self, flags, dentry, queue):
        super().__init__(flags, dentry)
        self.queue = queue
        self.offset = 0
        queue.file_opened()

    def read(self, t, n):
        text = self.queue.status_line()
        data = text[self.offset:self.offset + n]
        self.offset += len(data)
        return data

    def flush(self, files):
        """An fd of this file was closed: a registration made through that fd table goes."""
        notification = self.queue.notification
        if notification is not None and notification.files is files:
            self.queue.unregister()

    def release(self):
        self.queue.file_closed()

    def poll_events(self):
        queue = self.queue
        events = 0
        if queue.messages:
            events |= POLLIN | POLLRDNORM
        if not queue.full:
            events |= POLLOUT | POLLWRNORM
        return events

    def readiness_queue(self, t, events):
        return self.queue.changed

    def stat(self):
        return self.queue.stat()


class MqueueRoot(MemDir):
    """The root of an mqueue filesystem: queues only. open(O_CREAT) makes a queue of the default
    attributes; there are no subdirectories, links or device nodes."""

    def __init__(self, namespace):
        super().__init__(0o1777, fs=namespace.fs)
        self.namespace = namespace

    def statfs(self):
        return (MQUEUE_MAGIC, 4096, 0, 0, 0, 0, 0, 255, 4096, 0)

    def list(self):
        # Newest first, as Linux's dcache lists a directory.
        return [DirEntry(name, child.ino, dirent_type(child.mode))
                for name, child in reversed(self.children.items())]

    def create(self, name, mode, uid, gid):
        namespace = self.namespace
        return namespace.create(name, mode, uid, gid, namespace.setting("msg_default"),
                                namespace.setting("msgsize_default"), limit=None)

    def _not_permitted(self, *args, **kwargs):
        raise SyscallError(errno.EPERM)

    mkdir = symlink = mknod = link = rename = exchange = _not_permitted


class MqueueNamespace:
    """The queues of one IPC namespace, and what each user's queues charge."""

    def __init__(self, vfs=None, ipc=None):
        self._vfs = weakref.ref(vfs) if vfs is not None else lambda: None
        self._settings = getattr(ipc, "sysctl_values", None)    # a new IPC namespace's own sysctls
        self.fs = TmpFS()
        self.root = MqueueRoot(self)
        self.root_dentry = Dentry(self.root, None, b"/")
        self.queue_count = 0
        self.bytes_by_uid = {}

    def setting(self, name):
        """/proc/sys/fs/mqueue/`name` (sentry/sysctl.py) of the sandbox, its default before a
        kernel exists: the limits without CAP_SYS_RESOURCE, and a default queue's attributes."""
        name = "fs.mqueue." + name
        if self._settings is not None:
            return int(self._settings[name])
        vfs = self._vfs()
        sysctls = getattr(getattr(vfs, "kernel", None), "sysctls", None)
        return int(SYSCTLS[name][1]) if sysctls is None else sysctls.int_value(name)

    def check_attributes(self, t, maxmsg, msgsize):
        """mq_attr_ok(): EINVAL for attributes a new queue may not have."""
        if maxmsg <= 0 or msgsize <= 0:
            raise SyscallError(errno.EINVAL)
        if capable(t, CAP_SYS_RESOURCE):
            if maxmsg > HARD_MSGMAX or msgsize > HARD_MSGSIZEMAX:
                raise SyscallError(errno.EINVAL)
        elif maxmsg > self.setting("msg_max") or msgsize > self.setting("msgsize_max"):
            raise SyscallError(errno.EINVAL)

    def create(self, name, mode, uid, gid, maxmsg, msgsize, limit, privileged=False):
        """A new queue `name`; `limit`: the creator's RLIMIT_MSGQUEUE (None: not checked);
        `privileged`: CAP_SYS_RESOURCE lets it pass queues_max."""
        if self.queue_count >= self.setting("queues_max") and not privileged:
            raise SyscallError(errno.ENOSPC)
        charged = queue_bytes(maxmsg, msgsize)
        used = self.bytes_by_uid.get(uid, 0)
        if limit is not None and used + charged > limit:
            raise SyscallError(errno.EMFILE)
        queue = MessageQueue(self, mode, uid, gid, maxmsg, msgsize)
        self.root.add(name, queue)
        self.queue_count += 1
        self.bytes_by_uid[uid] = used + charged
        queue.charged_bytes = charged
        return queue

    def uncharge(self, uid, amount):
        self.bytes_by_uid[uid] = self.bytes_by_uid.get(uid, 0) - amount

    def lookup(self, name):
        """The dentry of queue `name` (lookup_one_len's checks), None if there is none."""
        if b"/" in name or name in (b".", b".."):
            raise SyscallError(errno.EACCES)
        if len(name) > 255:
            raise SyscallError(errno.ENAMETOOLONG)
        queue = self.root.children.get(name)
        return None if queue is None else Dentry(queue, self.root_dentry, name)

    def open(self, t, name, flags, mode, attributes):
        """mq_open(3): `attributes` is (maxmsg, msgsize) or None for the defaults."""
        dentry = self.lookup(name)
        if dentry is None:
            if not flags & os.O_CREAT:
                raise SyscallError(errno.ENOENT)
            maxmsg, msgsize = attributes or (self.setting("msg_default"), self.setting("msgsize_default"))
            if attributes is not None:
                self.check_attributes(t, maxmsg, msgsize)
            limit = t.tg.rlimits[RLIMIT_MSGQUEUE][0]
            queue = self.create(name, mode & ~t.fs.umask, t.creds.fsuid, t.creds.fsgid,
                                maxmsg, msgsize, limit, privileged=capable(t, CAP_SYS_RESOURCE))
            dentry = Dentry(queue, self.root_dentry, name)
        else:
            if flags & (os.O_CREAT | os.O_EXCL) == os.O_CREAT | os.O_EXCL:
                raise SyscallError(errno.EEXIST)
            access = flags & os.O_ACCMODE
            if access == os.O_ACCMODE:
                raise SyscallError(errno.EINVAL)
            may_access(dentry.inode.stat(), t.creds, (MAY_READ, MAY_WRITE, MAY_READ | MAY_WRITE)[access])
        return dentry.inode.open(t, dentry, flags & ~(os.O_CREAT | os.O_EXCL | os.O_TRUNC))

    def unlink(self, t, name):
        """mq_unlink(3): in the sticky root only the queue's owner, the root's owner or a task
        with CAP_FOWNER removes a queue (may_delete's check_sticky)."""
        dentry = self.lookup(name)
        if dentry is None:
            raise SyscallError(errno.ENOENT)
        root_attrs = self.root.stat()
        may_access(root_attrs, t.creds, MAY_WRITE | MAY_EXEC)
        if (root_attrs.mode & st.S_ISVTX and t.creds.fsuid not in (dentry.inode.uid, root_attrs.uid)
                and not capable(t, CAP_FOWNER)):
            raise SyscallError(errno.EPERM)
        self.root.unlink(name)


_NAMESPACES = weakref.WeakKeyDictionary()


def namespace(vfs):
    """The mqueue namespace of the first IPC namespace of the sandbox whose VFS is `vfs` (the
    mounts of its configuration come before its kernel; sysv_ipc.py makes those of the others)."""
    found = _NAMESPACES.get(vfs)
    if found is None:
        found = _NAMESPACES[vfs] = MqueueNamespace(vfs)
    return found
