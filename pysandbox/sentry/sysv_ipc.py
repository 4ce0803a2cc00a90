"""System V IPC objects (sysvipc(7)): message queues and semaphore sets, in the sandbox's own
IPC namespace.

Ids are made as Linux makes them: a slot index handed out cyclically, plus a sequence number
(times 32768) that grows each time allocation wraps back to a lower slot.
"""
import errno
import weakref

from pysandbox.sentry.credentials import CAP_IPC_OWNER, CAP_SYS_ADMIN, has_capability
from pysandbox.sentry.errors import SyscallError, WouldBlock
from pysandbox.sentry.waiter import WaitQueue

IPC_PRIVATE = 0
IPC_CREAT, IPC_EXCL, IPC_NOWAIT = 0o1000, 0o2000, 0o4000
IPC_RMID, IPC_SET, IPC_STAT, IPC_INFO = 0, 1, 2, 3
READ, WRITE = 0o4, 0o2         # the permission bits ipcperms() checks
MSGMAX, MSGMNB, MSGMNI = 8192, 16384, 32000
SEMMSL, SEMMNI, SEMMNS, SEMOPM, SEMVMX, SEMAEM = 32000, 32000, 1024000000, 500, 32767, 32767
SEQ_MULTIPLIER = 32768
MAX_SEQ = (1 << 16) - 1


class Permissions:
    """struct ipc_perm: the key, the owner and creator, and the mode's nine permission bits."""

    def __init__(self, key, creds, mode):
        self.key = key
        self.uid = self.cuid = creds.euid
        self.gid = self.cgid = creds.egid
        self.mode = mode & 0o777

    def allows(self, creds, wanted):
        """ipcperms(): owner, group or other bits by who asks; CAP_IPC_OWNER passes."""
        if has_capability(creds, CAP_IPC_OWNER):
            return True
        if creds.euid in (self.uid, self.cuid):
            granted = self.mode >> 6
        elif creds.egid in (self.gid, self.cgid) or {self.gid, self.cgid} & set(creds.groups):
            granted = self.mode >> 3
        else:
            granted = self.mode
        return wanted & ~granted & 0o7 == 0

    def owned_by(self, creds):
        """May change or remove the object: its owner, its creator, or CAP_SYS_ADMIN."""
        return creds.euid in (self.uid, self.cuid) or has_capability(creds, CAP_SYS_ADMIN)


class Message:
    __slots__ = ("type", "text")

    def __init__(self, msg_type, text):
        self.type, self.text = msg_type, text


class IpcObject:
    """What every IPC object has: its id, permissions, change time, and whether it is gone."""

    def __init__(self, ipc_id, key, creds, mode, now):
        self.id = ipc_id
        self.perm = Permissions(key, creds, mode)
        self.change_time = now
        self.removed = False
        self.queue = WaitQueue()        # those waiting on it (senders, receivers, semop)

    @property
    def seq(self):
        return self.id // SEQ_MULTIPLIER


class MessageQueue(IpcObject):
    def __init__(self, ipc_id, key, creds, mode, now):
        super().__init__(ipc_id, key, creds, mode, now)
        self.messages = []
        self.bytes = 0
        self.max_bytes = MSGMNB
        self.send_time = self.receive_time = 0
        self.last_sender = self.last_receiver = 0

    def has_room(self, size):
        return self.bytes + size <= self.max_bytes and len(self.messages) + 1 <= self.max_bytes


class Semaphore:
    __slots__ = ("value", "pid", "waiting_for_more", "waiting_for_zero")

    def __init__(self):
        self.value = self.pid = self.waiting_for_more = self.waiting_for_zero = 0


class SemaphoreSet(IpcObject):
    def __init__(self, ipc_id, key, creds, mode, now, count):
        super().__init__(ipc_id, key, creds, mode, now)
        self.semaphores = [Semaphore() for _ in range(count)]
        self.op_time = 0


class IpcIds:
    """One kind of IPC object in the namespace: key -> object, slot -> object."""

    def __init__(self):
        self.by_slot = {}
        self.by_key = {}
        self._last_slot = -1
        self._seq = 0

    def create(self, make, key, limit):
        """A new object made by make(id), or None when `limit` objects exist already."""
        if len(self.by_slot) >= limit:
            return None
        slot = next((s for s in range(self._last_slot + 1, limit) if s not in self.by_slot), None)
        if slot is None:
            slot = next(s for s in range(limit) if s not in self.by_slot)
        if slot <= self._last_slot:
            self._seq = 0 if self._seq >= MAX_SEQ else self._seq + 1
        self._last_slot = slot
        made = make(self._seq * SEQ_MULTIPLIER + slot)
        self.by_slot[slot] = made
        if key != IPC_PRIVATE:
            self.by_key[key] = made
        return made

    def get(self, t, key, flags, create, check_existing=None):
        """msgget/semget: the id of the object for `key`, made by create() when there is none and
        flags allow; an existing one must not be IPC_EXCL'd and must grant the mode asked for."""
        found = None if key == IPC_PRIVATE else self.by_key.get(key)
        if found is None:
            if key != IPC_PRIVATE and not flags & IPC_CREAT:
                raise SyscallError(errno.ENOENT)
            return create().id
        if flags & IPC_CREAT and flags & IPC_EXCL:
            raise SyscallError(errno.EEXIST)
        asked = (flags >> 6) & 0o7 | (flags >> 3) & 0o7 | flags & 0o7
        if not found.perm.allows(t.creds, asked):
            raise SyscallError(errno.EACCES)
        if check_existing is not None:
            check_existing(found)
        return found.id

    def lookup(self, t, ipc_id):
        """The object `ipc_id` names: EINVAL if none, EIDRM if it was removed while the call waited."""
        found = self.find(ipc_id)
        if found is None:
            raise SyscallError(errno.EIDRM if t.syscall_state.get("ipc_waited") else errno.EINVAL)
        return found

    def for_stat(self, t, ipc_id, cmd, check_read=True):
        """The object IPC_STAT (by id) or MSG_STAT/SEM_STAT (by slot) reports on: EINVAL if none,
        EACCES without read permission unless check_read is off (*_STAT_ANY)."""
        found = self.find(ipc_id) if cmd == IPC_STAT else self.by_slot.get(ipc_id)
        if found is None:
            raise SyscallError(errno.EINVAL)
        if check_read and not found.perm.allows(t.creds, READ):
            raise SyscallError(errno.EACCES)
        return found

    def for_change(self, t, ipc_id):
        """The object IPC_SET or IPC_RMID acts on, which the caller must own (EPERM)."""
        found = self.lookup(t, ipc_id)
        if not found.perm.owned_by(t.creds):
            raise SyscallError(errno.EPERM)
        return found

    def find(self, ipc_id):
        """The object with this id (EINVAL to the caller when None)."""
        if ipc_id < 0:
            return None
        found = self.by_slot.get(ipc_id % SEQ_MULTIPLIER)
        return found if found is not None and found.id == ipc_id else None

    def remove(self, gone):
        gone.removed = True
        del self.by_slot[gone.id % SEQ_MULTIPLIER]
        if self.by_key.get(gone.perm.key) is gone:
            del self.by_key[gone.perm.key]
        gone.queue.notify()

    @property
    def highest_slot(self):
        return max(self.by_slot, default=0)


def wait(t, ipc_object, restart, deadline=None):
    """Sleep until the object changes (or goes: the call then finds it gone and says EIDRM)."""
    t.syscall_state["ipc_waited"] = True
    raise WouldBlock(ipc_object.queue, deadline=deadline, restart=restart)


class IpcNamespace:
    def __init__(self):
        self.messages = IpcIds()
        self.semaphores = IpcIds()


_NAMESPACES = weakref.WeakKeyDictionary()


def namespace(kernel):
    """The sandbox's IPC namespace (one per sandbox)."""
    found = _NAMESPACES.get(kernel)
    if found is None:
        found = _NAMESPACES[kernel] = IpcNamespace()
    return found
