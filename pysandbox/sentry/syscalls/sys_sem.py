"""System V semaphores: semget(2), semop(2), semtimedop(2), semctl(2); checks in the order of
Linux's ipc/sem.c, limits from the IPC namespace's kernel.sem. SEM_UNDO adjustments are kept
per process and applied when it exits."""
import errno
import struct
import time

from ..errors import RESTART_NEVER, SyscallError
from ..sysv_ipc import (IPC_INFO, IPC_NOWAIT, IPC_RMID, IPC_SET, IPC_STAT, READ, WRITE, SemaphoreSet,
                        namespace_of, sem_limits, wait)

GETPID, GETVAL, GETALL, GETNCNT, GETZCNT, SETVAL, SETALL = 11, 12, 13, 14, 15, 16, 17
SEM_STAT, SEM_INFO, SEM_STAT_ANY = 18, 19, 20
SEM_UNDO = 0x1000
SEMVMX, SEMAEM = 32767, 32767            # the largest value, and the largest SEM_UNDO adjustment
# <linux/sem.h>'s fixed values, which IPC_INFO reports whatever kernel.sem says.
SEMMNS, SEMOPM = 1024000000, 500
SEMMAP, SEMMNU, SEMUME, SEMUSZ = SEMMNS, SEMMNS, SEMOPM, 20

_SEMBUF = struct.Struct("<HhH")                       # sem_num, sem_op, sem_flg
_TIMESPEC = struct.Struct("<qq")
# struct semid64_ds: ipc64_perm (key, uid, gid, cuid, cgid, mode, seq), sem_otime, sem_ctime, sem_nsems.
_SEMID_DS = struct.Struct("<iIIIIIH2x4x16xq8xq8xQ16x")
_SEMINFO = struct.Struct("<10i")


def _sets(t):
    return namespace_of(t).semaphores


def semget(t, key, nsems, semflg):
    """semget(2)."""
    limits = sem_limits(t)
    if nsems < 0 or nsems > limits.semmsl:
        raise SyscallError(errno.EINVAL)
    sets = _sets(t)

    def create():
        if nsems == 0:
            raise SyscallError(errno.EINVAL)
        if _semaphores_in_use(sets) + nsems > limits.semmns:
            raise SyscallError(errno.ENOSPC)
        now = int(time.time())
        made = sets.create(lambda ipc_id: SemaphoreSet(ipc_id, key, t.creds, semflg, now, nsems), key,
                           limits.semmni)
        if made is None:
            raise SyscallError(errno.ENOSPC)
        return made

    def check_existing(found):
        if nsems > len(found.semaphores):
            raise SyscallError(errno.EINVAL)
    return sets.get(t, key, semflg, create, check_existing)


def _semaphores_in_use(sets):
    return sum(len(each.semaphores) for each in sets.by_slot.values())


def _set(t, semid):
    return _sets(t).lookup(t, semid)


def semop(t, semid, sops, nsops):
    """semop(2)."""
    return semtimedop(t, semid, sops, nsops, 0)


def _stop_waiting(t):
    waiting = t.syscall_state.pop("sem_waiting", None)
    if waiting is not None:
        semaphore, for_zero = waiting
        if for_zero:
            semaphore.waiting_for_zero -= 1
        else:
            semaphore.waiting_for_more -= 1


def semtimedop(t, semid, sops, nsops, timeout):
    """semtimedop(2): all operations happen at once or none; a call that must wait sleeps until
    the set changes, the timeout passes (EAGAIN) or a signal handler runs (EINTR)."""
    state = t.syscall_state
    _stop_waiting(t)
    if nsops < 1 or semid < 0:
        raise SyscallError(errno.EINVAL)
    if nsops > sem_limits(t).semopm:
        raise SyscallError(errno.E2BIG)
    raw = t.copy_in(sops, nsops * _SEMBUF.size)
    ops = [_SEMBUF.unpack_from(raw, i * _SEMBUF.size) for i in range(nsops)]
    if timeout and "sem_deadline" not in state:
        seconds, nanoseconds = _TIMESPEC.unpack(t.copy_in(timeout, _TIMESPEC.size))
        if seconds < 0 or not 0 <= nanoseconds < 1_000_000_000:
            raise SyscallError(errno.EINVAL)
        state["sem_deadline"] = t.kernel.now() + seconds + nanoseconds / 1e9
    semaphores = _set(t, semid)
    if max(num for num, _, _ in ops) >= len(semaphores.semaphores):
        raise SyscallError(errno.EFBIG)
    altering = any(op for _, op, _ in ops)
    if not semaphores.perm.allows(t.creds, WRITE if altering else READ):
        raise SyscallError(errno.EACCES)
    undo = t.tg.sem_undo
    values = [semaphore.value for semaphore in semaphores.semaphores]
    for num, op, flags in ops:
        value = values[num] + op
        if op < 0 and value < 0 or op == 0 and values[num] != 0:
            if flags & IPC_NOWAIT:
                raise SyscallError(errno.EAGAIN)
            if state.get("sem_deadline") is not None and t.timed_out():
                raise SyscallError(errno.EAGAIN)
            return _wait(t, semaphores, semaphores.semaphores[num], for_zero=op == 0)
        if value > SEMVMX:
            raise SyscallError(errno.ERANGE)
        if flags & SEM_UNDO and not -SEMAEM - 1 <= undo.get((semaphores, num), 0) - op <= SEMAEM:
            raise SyscallError(errno.ERANGE)
        values[num] = value
    for num, op, flags in ops:
        semaphore = semaphores.semaphores[num]
        semaphore.value = values[num]
        semaphore.pid = t.tg.tgid
        if flags & SEM_UNDO and op:
            undo[(semaphores, num)] = undo.get((semaphores, num), 0) - op
    semaphores.op_time = int(time.time())
    if altering:
        semaphores.queue.notify()
    return 0


def _wait(t, semaphores, semaphore, for_zero):
    state = t.syscall_state
    state["sem_waiting"] = (semaphore, for_zero)
    state["on_cancel"] = lambda: _stop_waiting(t)
    if for_zero:
        semaphore.waiting_for_zero += 1
    else:
        semaphore.waiting_for_more += 1
    wait(t, semaphores, RESTART_NEVER, deadline=state.get("sem_deadline"))


def apply_undo(tg):
    """A process exits: its SEM_UNDO adjustments are added back, clamped to 0..SEMVMX (exit_sem)."""
    for (semaphores, num), adjustment in tg.sem_undo.items():
        if semaphores.removed or not adjustment:
            continue
        semaphore = semaphores.semaphores[num]
        semaphore.value = min(max(semaphore.value + adjustment, 0), SEMVMX)
        semaphore.pid = tg.tgid
        semaphores.queue.notify()
    tg.sem_undo.clear()


def _forget_undo(t, semaphores, nums):
    """SETVAL and SETALL cancel the adjustments every process holds for those semaphores."""
    for tg in t.kernel.thread_groups.values():
        for num in nums:
            tg.sem_undo.pop((semaphores, num), None)


def _stat_bytes(semaphores):
    perm = semaphores.perm
    return _SEMID_DS.pack(perm.key, perm.uid, perm.gid, perm.cuid, perm.cgid, perm.mode, semaphores.seq,
                          semaphores.op_time, semaphores.change_time, len(semaphores.semaphores))


def semctl(t, semid, semnum, cmd, arg):
    """semctl(2); `arg` is the union semun passed by value (an int or a pointer)."""
    if semid < 0:
        raise SyscallError(errno.EINVAL)
    sets = _sets(t)
    if cmd in (IPC_INFO, SEM_INFO):
        limits = sem_limits(t)
        if cmd == SEM_INFO:
            sets_or_size, semaphores_or_adjustment = len(sets.by_slot), _semaphores_in_use(sets)
        else:
            sets_or_size, semaphores_or_adjustment = SEMUSZ, SEMAEM
        t.copy_out(arg, _SEMINFO.pack(SEMMAP, limits.semmni, limits.semmns, SEMMNU, limits.semmsl, limits.semopm,
                                      SEMUME, sets_or_size, SEMVMX, semaphores_or_adjustment))
        return sets.highest_slot
    if cmd in (IPC_STAT, SEM_STAT, SEM_STAT_ANY):
        found = sets.for_stat(t, semid, cmd, check_read=cmd != SEM_STAT_ANY)
        t.copy_out(arg, _stat_bytes(found))
        return 0 if cmd == IPC_STAT else found.id
    if cmd == SETVAL:
        value = ((arg & 0xFFFFFFFF) ^ 0x80000000) - 0x80000000
        if not 0 <= value <= SEMVMX:
            raise SyscallError(errno.ERANGE)
        semaphores = _set(t, semid)
        if not 0 <= semnum < len(semaphores.semaphores):
            raise SyscallError(errno.EINVAL)
        if not semaphores.perm.allows(t.creds, WRITE):
            raise SyscallError(errno.EACCES)
        _forget_undo(t, semaphores, [semnum])
        semaphores.semaphores[semnum].value = value
        semaphores.semaphores[semnum].pid = t.tg.tgid
        semaphores.change_time = int(time.time())
        semaphores.queue.notify()
        return 0
    if cmd in (GETALL, SETALL, GETVAL, GETPID, GETNCNT, GETZCNT):
        return _per_semaphore(t, semid, semnum, cmd, arg)
    if cmd not in (IPC_SET, IPC_RMID):
        raise SyscallError(errno.EINVAL)
    new = _SEMID_DS.unpack(t.copy_in(arg, _SEMID_DS.size)) if cmd == IPC_SET else None
    semaphores = sets.for_change(t, semid)
    if cmd == IPC_RMID:
        _forget_undo(t, semaphores, range(len(semaphores.semaphores)))
        sets.remove(semaphores)
        return 0
    semaphores.perm.uid, semaphores.perm.gid, semaphores.perm.mode = new[1], new[2], new[5] & 0o777
    semaphores.change_time = int(time.time())
    return 0


def _per_semaphore(t, semid, semnum, cmd, arg):
    semaphores = _set(t, semid)
    count = len(semaphores.semaphores)
    if not semaphores.perm.allows(t.creds, WRITE if cmd == SETALL else READ):
        raise SyscallError(errno.EACCES)
    if cmd == GETALL:
        t.copy_out(arg, struct.pack(f"<{count}H", *(s.value for s in semaphores.semaphores)))
        return 0
    if cmd == SETALL:
        values = struct.unpack(f"<{count}H", t.copy_in(arg, 2 * count))
        if max(values) > SEMVMX:
            raise SyscallError(errno.ERANGE)
        _forget_undo(t, semaphores, range(count))
        for semaphore, value in zip(semaphores.semaphores, values):
            semaphore.value, semaphore.pid = value, t.tg.tgid
        semaphores.change_time = int(time.time())
        semaphores.queue.notify()
        return 0
    if not 0 <= semnum < count:
        raise SyscallError(errno.EINVAL)
    semaphore = semaphores.semaphores[semnum]
    return {GETVAL: semaphore.value, GETPID: semaphore.pid, GETNCNT: semaphore.waiting_for_more,
            GETZCNT: semaphore.waiting_for_zero}[cmd]
