"""futex(2)."""
import errno
import struct
import time

from pysandbox.sentry import futex as futexes
from pysandbox.sentry.errors import RESTART_BLOCK, RESTART_SYS, SyscallError, WouldBlock

FUTEX_WAIT, FUTEX_WAKE, FUTEX_FD, FUTEX_REQUEUE, FUTEX_CMP_REQUEUE, FUTEX_WAKE_OP = 0, 1, 2, 3, 4, 5
FUTEX_LOCK_PI, FUTEX_UNLOCK_PI, FUTEX_TRYLOCK_PI, FUTEX_WAIT_BITSET, FUTEX_WAKE_BITSET = 6, 7, 8, 9, 10
FUTEX_WAIT_REQUEUE_PI, FUTEX_CMP_REQUEUE_PI, FUTEX_LOCK_PI2 = 11, 12, 13
FUTEX_PRIVATE_FLAG, FUTEX_CLOCK_REALTIME = 128, 256
FUTEX_OP_SET, FUTEX_OP_ADD, FUTEX_OP_OR, FUTEX_OP_ANDN, FUTEX_OP_XOR = 0, 1, 2, 3, 4
FUTEX_OP_OPARG_SHIFT = 8
NSEC = 1_000_000_000


def futex(t, uaddr, futex_op, val, timeout, uaddr2, val3):
    """futex(2)."""
    op = futex_op & ~(FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME)
    private = bool(futex_op & FUTEX_PRIVATE_FLAG)
    if futex_op & FUTEX_CLOCK_REALTIME and op not in (FUTEX_WAIT, FUTEX_WAIT_BITSET, FUTEX_WAIT_REQUEUE_PI,
                                                      FUTEX_LOCK_PI2):
        raise SyscallError(errno.ENOSYS)
    if uaddr % 4:
        raise SyscallError(errno.EINVAL)
    if op == FUTEX_WAIT:
        return _wait(t, uaddr, private, val, timeout, futexes.FUTEX_BITSET_MATCH_ANY, absolute=False,
                     realtime=bool(futex_op & FUTEX_CLOCK_REALTIME))
    if op == FUTEX_WAIT_BITSET:
        if val3 == 0:
            raise SyscallError(errno.EINVAL)
        return _wait(t, uaddr, private, val, timeout, val3, absolute=True,
                     realtime=bool(futex_op & FUTEX_CLOCK_REALTIME))
    if op == FUTEX_WAKE:
        return futexes.wake(futexes.key_for(t, uaddr, private), _count(val))
    if op == FUTEX_WAKE_BITSET:
        if val3 == 0:
            raise SyscallError(errno.EINVAL)
        return futexes.wake(futexes.key_for(t, uaddr, private), _count(val), val3)
    if op in (FUTEX_REQUEUE, FUTEX_CMP_REQUEUE):
        if uaddr2 % 4:
            raise SyscallError(errno.EINVAL)
        if op == FUTEX_CMP_REQUEUE and t.copy_in_u32(uaddr) != val3 & 0xFFFFFFFF:
            raise SyscallError(errno.EAGAIN)
        requeue_count = timeout & 0x7FFFFFFF      # val2 travels in the timeout argument
        return futexes.requeue(futexes.key_for(t, uaddr, private), futexes.key_for(t, uaddr2, private),
                               _count(val), requeue_count)
    if op == FUTEX_WAKE_OP:
        return _wake_op(t, uaddr, uaddr2, private, _count(val), timeout & 0x7FFFFFFF, val3)
    raise SyscallError(errno.ENOSYS)


def _count(val):
    value = val & 0xFFFFFFFF
    return 0x7FFFFFFF if value > 0x7FFFFFFF else value


def _deadline(t, timeout, absolute, realtime):
    tv_sec, tv_nsec = struct.unpack("<qq", t.copy_in(timeout, 16))
    if tv_sec < 0 or not 0 <= tv_nsec < NSEC:
        raise SyscallError(errno.EINVAL)
    seconds = tv_sec + tv_nsec / NSEC
    if not absolute:
        return time.monotonic() + seconds
    if realtime:
        return time.monotonic() + (seconds - time.time())
    return seconds + t.kernel.boot_time - getattr(t.kernel, "monotonic_offset", 0.0)


def _wait(t, uaddr, private, val, timeout, bitset, absolute, realtime):
    state = t.syscall_state
    waiter = state.get("futex_waiter")
    if waiter is None:
        if "futex_deadline" not in state:        # not a restart_syscall(2) of an earlier wait
            state["futex_deadline"] = _deadline(t, timeout, absolute, realtime) if timeout else None
        if t.copy_in_u32(uaddr) != val & 0xFFFFFFFF:
            raise SyscallError(errno.EAGAIN)
        waiter = futexes.enqueue(futexes.key_for(t, uaddr, private), bitset)
        state["futex_waiter"] = waiter

        def cancel():
            futexes.dequeue(waiter)
            del state["futex_waiter"]
        state["on_cancel"] = cancel
    if waiter.woken:
        return 0
    if t.timed_out():
        futexes.dequeue(waiter)
        raise SyscallError(errno.ETIMEDOUT)
    raise WouldBlock(waiter.queue, deadline=state["futex_deadline"],
                     restart=RESTART_BLOCK if timeout else RESTART_SYS)


def _wake_op(t, uaddr, uaddr2, private, count, count2, val3):
    op = (val3 >> 28) & 0xF
    cmp = (val3 >> 24) & 0xF
    oparg = (val3 >> 12) & 0xFFF
    cmparg = val3 & 0xFFF
    if oparg & 0x800:
        oparg -= 0x1000
    if cmparg & 0x800:
        cmparg -= 0x1000
    if op & FUTEX_OP_OPARG_SHIFT:
        oparg = 1 << (oparg & 31)
        op &= ~FUTEX_OP_OPARG_SHIFT
    old = t.copy_in_u32(uaddr2)
    signed_old = old - (1 << 32) if old & 0x80000000 else old
    operations = {
        FUTEX_OP_SET: lambda: oparg,
        FUTEX_OP_ADD: lambda: old + oparg,
        FUTEX_OP_OR: lambda: old | oparg,
        FUTEX_OP_ANDN: lambda: old & ~oparg,
        FUTEX_OP_XOR: lambda: old ^ oparg,
    }
    if op not in operations:
        raise SyscallError(errno.ENOSYS)
    comparisons = {
        0: signed_old == cmparg, 1: signed_old != cmparg, 2: signed_old < cmparg,
        3: signed_old <= cmparg, 4: signed_old > cmparg, 5: signed_old >= cmparg,
    }
    if cmp not in comparisons:
        raise SyscallError(errno.ENOSYS)
    t.copy_out_u32(uaddr2, operations[op]() & 0xFFFFFFFF)
    woken = futexes.wake(futexes.key_for(t, uaddr, private), count)
    if comparisons[cmp]:
        woken += futexes.wake(futexes.key_for(t, uaddr2, private), count2)
    return woken
