"""System V message queues: msgget(2), msgsnd(2), msgrcv(2), msgctl(2); checks in the order of
Linux's ipc/msg.c, limits from the IPC namespace's kernel.msgmax, kernel.msgmnb and kernel.msgmni."""
import errno
import struct
import time

from ..credentials import CAP_SYS_RESOURCE, capable
from ..errors import RESTART_ALWAYS, SyscallError
from ..sysv_ipc import (IPC_INFO, IPC_NOWAIT, IPC_RMID, IPC_SET, IPC_STAT, READ, WRITE, Message, MessageQueue,
                        namespace_of, setting, wait)

MSG_STAT, MSG_INFO, MSG_STAT_ANY = 11, 12, 13
MSG_NOERROR, MSG_EXCEPT, MSG_COPY = 0o10000, 0o20000, 0o40000
# <linux/msg.h>'s fixed values, which IPC_INFO reports whatever the sysctls are.
MSGMNI, MSGMNB = 32000, 16384
MSGPOOL, MSGMAP, MSGTQL = MSGMNI * MSGMNB // 1024, MSGMNB, MSGMNB
MSGSSZ, MSGSEG = 16, 0xFFFF

# struct msqid64_ds: ipc64_perm (key, uid, gid, cuid, cgid, mode, seq), stime, rtime, ctime,
# cbytes, qnum, qbytes, lspid, lrpid.
_MSQID_DS = struct.Struct("<iIIIIIH2x4x16xqqqQQQii16x")
_MSGINFO = struct.Struct("<7iH2x")
_MTYPE = struct.Struct("<q")


def _queues(t):
    return namespace_of(t).messages


def msgget(t, key, msgflg):
    """msgget(2)."""
    namespace = namespace_of(t)
    queues = namespace.messages

    def create():
        now, max_bytes = int(time.time()), namespace.setting("kernel.msgmnb")
        queue = queues.create(lambda ipc_id: MessageQueue(ipc_id, key, t.creds, msgflg, now, max_bytes), key,
                              namespace.setting("kernel.msgmni"))
        if queue is None:
            raise SyscallError(errno.ENOSPC)
        return queue
    return queues.get(t, key, msgflg, create)


def _queue(t, msqid):
    return _queues(t).lookup(t, msqid)


def _wait(t, queue):
    wait(t, queue, RESTART_ALWAYS)


def msgsnd(t, msqid, msgp, msgsz, msgflg):
    """msgsnd(2): waits for room unless IPC_NOWAIT; a signal handler ends the wait with EINTR."""
    if msgsz > setting(t, "kernel.msgmax") or msgsz < 0 or msqid < 0:
        raise SyscallError(errno.EINVAL)
    msg_type = _MTYPE.unpack(t.copy_in(msgp, _MTYPE.size))[0]
    if msg_type < 1:
        raise SyscallError(errno.EINVAL)
    text = t.copy_in(msgp + _MTYPE.size, msgsz)
    queue = _queue(t, msqid)
    if not queue.perm.allows(t.creds, WRITE):
        raise SyscallError(errno.EACCES)
    if not queue.has_room(msgsz):
        if msgflg & IPC_NOWAIT:
            raise SyscallError(errno.EAGAIN)
        _wait(t, queue)
    queue.messages.append(Message(msg_type, text))
    queue.bytes += msgsz
    queue.last_sender = t.tg.tgid
    queue.send_time = int(time.time())
    queue.queue.notify()
    return 0


def _find(queue, msgtyp, msgflg):
    """The message msgrcv takes: by position for MSG_COPY, else the first of the type asked for
    (the lowest type up to -msgtyp for a negative msgtyp, any other type with MSG_EXCEPT)."""
    messages = queue.messages
    if msgflg & MSG_COPY:
        return messages[msgtyp] if 0 <= msgtyp < len(messages) else None
    if msgtyp == 0:
        return messages[0] if messages else None
    if msgtyp < 0:
        candidates = [message for message in messages if message.type <= -msgtyp]   # no overflow in Python
        return min(candidates, key=lambda message: message.type) if candidates else None
    if msgflg & MSG_EXCEPT:
        return next((message for message in messages if message.type != msgtyp), None)
    return next((message for message in messages if message.type == msgtyp), None)


def msgrcv(t, msqid, msgp, msgsz, msgtyp, msgflg):
    """msgrcv(2)."""
    if msqid < 0 or msgsz < 0:
        raise SyscallError(errno.EINVAL)
    if msgflg & MSG_COPY and (msgflg & MSG_EXCEPT or not msgflg & IPC_NOWAIT):
        raise SyscallError(errno.EINVAL)
    queue = _queue(t, msqid)
    if not queue.perm.allows(t.creds, READ):
        raise SyscallError(errno.EACCES)
    message = _find(queue, msgtyp, msgflg)
    if message is None:
        if msgflg & IPC_NOWAIT:
            raise SyscallError(errno.ENOMSG)
        _wait(t, queue)
    if len(message.text) > msgsz and not msgflg & MSG_NOERROR:
        raise SyscallError(errno.E2BIG)
    text = message.text[:msgsz]
    t.copy_out(msgp, _MTYPE.pack(message.type) + text)
    if not msgflg & MSG_COPY:
        queue.messages.remove(message)
        queue.bytes -= len(message.text)
        queue.last_receiver = t.tg.tgid
        queue.receive_time = int(time.time())
        queue.queue.notify()
    return len(text)


def _stat_bytes(queue):
    perm = queue.perm
    return _MSQID_DS.pack(perm.key, perm.uid, perm.gid, perm.cuid, perm.cgid, perm.mode, queue.seq,
                          queue.send_time, queue.receive_time, queue.change_time, queue.bytes,
                          len(queue.messages), queue.max_bytes, queue.last_sender, queue.last_receiver)


def msgctl(t, msqid, cmd, buf):
    """msgctl(2) (x86_64 has no IPC_64 flag: the structures are always the 64-bit ones)."""
    if msqid < 0 or cmd < 0:
        raise SyscallError(errno.EINVAL)
    namespace = namespace_of(t)
    queues = namespace.messages
    if cmd in (IPC_INFO, MSG_INFO):
        if cmd == IPC_INFO:
            pool, messages, total = MSGPOOL, MSGMAP, MSGTQL
        else:
            pool = len(queues.by_slot)
            messages = sum(len(q.messages) for q in queues.by_slot.values())
            total = sum(q.bytes for q in queues.by_slot.values())
        t.copy_out(buf, _MSGINFO.pack(pool, messages, namespace.setting("kernel.msgmax"),
                                      namespace.setting("kernel.msgmnb"), namespace.setting("kernel.msgmni"),
                                      MSGSSZ, total, MSGSEG))
        return queues.highest_slot
    if cmd in (IPC_STAT, MSG_STAT, MSG_STAT_ANY):
        queue = queues.for_stat(t, msqid, cmd, check_read=cmd != MSG_STAT_ANY)
        t.copy_out(buf, _stat_bytes(queue))
        return 0 if cmd == IPC_STAT else queue.id
    if cmd not in (IPC_SET, IPC_RMID):
        raise SyscallError(errno.EINVAL)
    new = _MSQID_DS.unpack(t.copy_in(buf, _MSQID_DS.size)) if cmd == IPC_SET else None
    queue = queues.for_change(t, msqid)
    if cmd == IPC_RMID:
        queues.remove(queue)
        return 0
    uid, gid, mode, max_bytes = new[1], new[2], new[5], new[12]
    if max_bytes > setting(t, "kernel.msgmnb") and not capable(t, CAP_SYS_RESOURCE):
        raise SyscallError(errno.EPERM)
    queue.max_bytes = max_bytes
    queue.perm.uid, queue.perm.gid = uid, gid
    queue.perm.mode = mode & 0o777
    queue.change_time = int(time.time())
    queue.queue.notify()
    return 0
