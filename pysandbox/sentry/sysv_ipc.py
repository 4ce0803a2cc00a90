"""System V IPC objects (sysvipc(7)): message queues, semaphore sets and shared memory segments
(sysv_shm.py), kept per IPC namespace, with the limits of the namespace's sysctls (kernel.msgmni,
kernel.sem, ...).

Ids are made as Linux makes them (ipc/util.c): a slot index handed out cyclically below
max(1.5 * objects in use, 64), plus a sequence number (times 32768) that grows each time
allocation wraps back to a lower slot.
"""
import errno
from collections import namedtuple

from pysandbox.sentry.credentials import CAP_IPC_OWNER, CAP_SYS_ADMIN, has_capability
from pysandbox.sentry.errors import SyscallError, WouldBlock
from pysandbox.sentry.nsfs import INITIAL_IPC_INO, InitialNamespaces, Namespace, new_inode_number
from pysandbox.sentry.vma import PAGE_SIZE
from pysandbox.sentry.waiter import WaitQueue

IPC_PRIVATE = 0
IPC_CREAT, IPC_EXCL, IPC_NOWAIT = 0o1000, 0o2000, 0o4000
IPC_RMID, IPC_SET, IPC_STAT, IPC_INFO = 0, 1, 2, 3
READ, WRITE = 0o4, 0o2         # the permission bits ipcperms() checks
IPCMNI = 32768                 # the most objects of a kind, whatever the sysctls say
SEQ_MULTIPLIER = IPCMNI
SEQ_LIMIT = (1 << 31) // SEQ_MULTIPLIER - 1    # ipcid_seq_max(): the sequence restarts at 0 there
MIN_CYCLE = 64                 # ipc_min_cycle: slots below this are handed out before any is reused

# kernel.sem, in its order.
SemLimits = namedtuple("SemLimits", "semmsl semmns semopm semmni")


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
    def __init__(self, ipc_id, key, creds, mode, now, max_bytes):
        super().__init__(ipc_id, key, creds, mode, now)
        self.messages = []
        self.bytes = 0
        self.max_bytes = max_bytes      # msg_qbytes: kernel.msgmnb when the queue was made
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
        """A new object made by make(id), or None when `limit` (the namespace's sysctl, at most
        IPCMNI) objects exist already."""
        in_use = len(self.by_slot)
        if in_use >= min(limit, IPCMNI):
            return None
        end = min(max(in_use * 3 // 2, MIN_CYCLE), IPCMNI)
        slot = next((s for s in range(self._last_slot + 1, end) if s not in self.by_slot), None)
        if slot is None:
            slot = next(s for s in range(end) if s not in self.by_slot)
        if slot <= self._last_slot:
            self._seq = (self._seq + 1) % SEQ_LIMIT
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
        if check_existing is not None:
            check_existing(found)           # before the permissions, as ipcget_public() checks
        asked = (flags >> 6) & 0o7 | (flags >> 3) & 0o7 | flags & 0o7
        if not found.perm.allows(t.creds, asked):
            raise SyscallError(errno.EACCES)
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

    def make_private(self, kept):
        """The object stays (by id) but its key no longer finds it, and reads as IPC_PRIVATE."""
        if self.by_key.get(kept.perm.key) is kept:
            del self.by_key[kept.perm.key]
        kept.perm.key = IPC_PRIVATE

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


class IpcNamespace(Namespace):
    """One IPC namespace (ipc_namespaces(7)): its SysV message queues, semaphore sets and shared
    memory segments, its POSIX message queues, and its IPC sysctls."""

    kind = b"ipc"

    def __init__(self, ino, mqueues, sysctl_values=None, sysctls=None):
        super().__init__(ino)
        self.messages = IpcIds()
        self.semaphores = IpcIds()
        self.shared_memory = IpcIds()
        self.mqueues = mqueues                  # vfs/mqueue.py's MqueueNamespace
        self.sysctl_values = sysctl_values      # name -> text; None: the kernel's (the first namespace)
        self._sysctls = sysctls                 # the kernel's Sysctls, for the first namespace

    def setting(self, name):
        """IPC sysctl `name` (kernel.msgmax, kernel.shmmax, ...) of this namespace, as an int."""
        return int(self._sysctl_text(name).split()[0])

    def sem_limits(self):
        """kernel.sem of this namespace: SEMMSL, SEMMNS, SEMOPM and SEMMNI."""
        return SemLimits(*map(int, self._sysctl_text("kernel.sem").split()))

    def _sysctl_text(self, name):
        if self.sysctl_values is not None:
            return self.sysctl_values[name]
        if self._sysctls is not None:
            return self._sysctls.get(name)
        from .sysctl import KNOWN                # a test's stand-in kernel without sysctls
        return KNOWN[name][1]


def _initial_namespace(kernel):
    from .vfs import mqueue
    return IpcNamespace(INITIAL_IPC_INO, mqueue.namespace(kernel.vfs), sysctls=getattr(kernel, "sysctls", None))


_INITIAL = InitialNamespaces(_initial_namespace)


def namespace_of(t):
    """The IPC namespace task `t` is in."""
    return getattr(t, "ipc_ns", None) or _INITIAL.of(t.kernel)


def new_namespace(t):
    """clone(2) or unshare(2) with CLONE_NEWIPC: a namespace with no objects, and its sysctls at
    their defaults (a fresh Linux namespace's)."""
    from .sysctl import IPC_SYSCTLS, KNOWN
    from .vfs.mqueue import MqueueNamespace
    values = {name: KNOWN[name][1] for name in KNOWN if name in IPC_SYSCTLS or name.startswith("fs.mqueue.")}
    made = IpcNamespace(new_inode_number(t), None, values)
    made.mqueues = MqueueNamespace(t.kernel.vfs, made)
    return made


def setting(t, name):
    """IPC sysctl `name` (kernel.msgmax, kernel.shmmax, ...) of `t`'s namespace, as an int."""
    return namespace_of(t).setting(name)


def sem_limits(t):
    """kernel.sem of `t`'s namespace (a SemLimits)."""
    return namespace_of(t).sem_limits()


# /proc/sysvipc/{msg,sem,shm}: a header, then a line for each object, as ipc/util.c prints them.
_PROC_FORMATS = {
    "msg": ("       key      msqid perms      cbytes       qnum lspid lrpid   uid   gid  cuid  cgid"
            "      stime      rtime      ctime\n",
            "{key:10d} {id:10d}  {mode:4o}  {o.bytes:10d} {count:10d} {o.last_sender:5d} {o.last_receiver:5d}"
            " {p.uid:5d} {p.gid:5d} {p.cuid:5d} {p.cgid:5d} {o.send_time:10d} {o.receive_time:10d}"
            " {o.change_time:10d}\n"),
    "sem": ("       key      semid perms      nsems   uid   gid  cuid  cgid      otime      ctime\n",
            "{key:10d} {id:10d}  {mode:4o} {count:10d} {p.uid:5d} {p.gid:5d} {p.cuid:5d} {p.cgid:5d}"
            " {o.op_time:10d} {o.change_time:10d}\n"),
    "shm": ("       key      shmid perms                  size  cpid  lpid nattch   uid   gid  cuid  cgid"
            "      atime      dtime      ctime                   rss                  swap\n",
            "{key:10d} {id:10d}  {mode:4o} {o.size:21d} {o.creator:5d} {o.last_pid:5d}  {count:5d}"
            " {p.uid:5d} {p.gid:5d} {p.cuid:5d} {p.cgid:5d} {o.attach_time:10d} {o.detach_time:10d}"
            " {o.change_time:10d} {rss:21d} {swap:21d}\n"),
}


def render_proc(t, kind):
    """/proc/sysvipc/`kind` as task `t` reads it: the objects of its IPC namespace."""
    namespace = namespace_of(t)
    header, line = _PROC_FORMATS[kind]
    if kind == "shm":
        from .sysv_shm import refresh
        objects = namespace.shared_memory
        refresh(objects)
    else:
        objects = namespace.messages if kind == "msg" else namespace.semaphores
    lines = [header]
    for slot in sorted(objects.by_slot):
        found = objects.by_slot[slot]
        perm = found.perm
        if kind == "msg":
            count, rss = len(found.messages), 0
        elif kind == "sem":
            count, rss = len(found.semaphores), 0
        else:
            count, rss = found.attach_count, found.resident_pages() * PAGE_SIZE
        lines.append(line.format(key=perm.key, id=found.id, mode=perm.mode | getattr(found, "status", 0),
                                 o=found, p=perm, count=count, rss=rss, swap=0))
    return "".join(lines)
