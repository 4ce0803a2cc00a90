"""futex(2)."""
import errno
import struct
import time

from pysandbox.sentry import futex as futexes
from pysandbox.sentry.errors import RESTART_BLOCK, RESTART_SYS, SyscallError, WouldBlock
from pysandbox.sentry.syscalls.sys_time import CLOCK_MONOTONIC, CLOCK_REALTIME, clock_now_ns

FUTEX_WAIT, FUTEX_WAKE, FUTEX_FD, FUTEX_REQUEUE, FUTEX_CMP_REQUEUE, FUTEX_WAKE_OP = 0, 1, 2, 3, 4, 5
FUTEX_LOCK_PI, FUTEX_UNLOCK_PI, FUTEX_TRYLOCK_PI, FUTEX_WAIT_BITSET, FUTEX_WAKE_BITSET = 6, 7, 8, 9, 10
FUTEX_WAIT_REQUEUE_PI, FUTEX_CMP_REQUEUE_PI, FUTEX_LOCK_PI2 = 11, 12, 13
FUTEX_PRIVATE_FLAG, FUTEX_CLOCK_REALTIME = 128, 256
FUTEX_OP_SET, FUTEX_OP_ADD, FUTEX_OP_OR, FUTEX_OP_ANDN, FUTEX_OP_XOR = 0, 1, 2, 3, 4
FUTEX_OP_OPARG_SHIFT = 8
FUTEX_OP_CMP_EQ, FUTEX_OP_CMP_NE, FUTEX_OP_CMP_LT, FUTEX_OP_CMP_LE, FUTEX_OP_CMP_GT, FUTEX_OP_CMP_GE = range(6)
NSEC = 1_000_000_000

_TIMED_WAITS = (FUTEX_WAIT, FUTEX_WAIT_BITSET)
_REALTIME_CAPABLE = (FUTEX_WAIT_BITSET, FUTEX_WAIT_REQUEUE_PI, FUTEX_LOCK_PI2)

_WAKE_OPS = {
    FUTEX_OP_SET: lambda old, arg: arg,
    FUTEX_OP_ADD: lambda old, arg: old + arg,
    FUTEX_OP_OR: lambda old, arg: old | arg,
    FUTEX_OP_ANDN: lambda old, arg: old & ~arg,
    FUTEX_OP_XOR: lambda old, arg: old ^ arg,
}
_WAKE_OP_COMPARISONS = {
    FUTEX_OP_CMP_EQ: lambda old, arg: old == arg,
    FUTEX_OP_CMP_NE: lambda old, arg: old != arg,
    FUTEX_OP_CMP_LT: lambda old, arg: old < arg,
    FUTEX_OP_CMP_LE: lambda old, arg: old <= arg,
    FUTEX_OP_CMP_GT: lambda old, arg: old > arg,
    FUTEX_OP_CMP_GE: lambda old, arg: old >= arg,
}


def futex(t, uaddr, futex_op, val, timeout, uaddr2, val3):
    """futex(2). REQUEUE, CMP_REQUEUE and WAKE_OP take their second count (val2) in the
    timeout argument; counts are C ints, so Linux's quirks with 0 and negatives carry over."""
    cmd = futex_op & ~(FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME)
    private = bool(futex_op & FUTEX_PRIVATE_FLAG)
    realtime = bool(futex_op & FUTEX_CLOCK_REALTIME)
    if cmd in _TIMED_WAITS and "futex_deadline" not in t.syscall_state:
        # Kept across re-runs, and across restart_syscall(2) after a signal.
        t.syscall_state["futex_deadline"] = (
            _deadline(t, timeout, relative=cmd == FUTEX_WAIT, realtime=realtime) if timeout else None)
    if realtime and cmd not in _REALTIME_CAPABLE:
        raise SyscallError(errno.ENOSYS)
    count, count2 = _c_int(val), _c_int(timeout)
    if cmd == FUTEX_WAIT:
        return _wait(t, uaddr, private, val, futexes.FUTEX_BITSET_MATCH_ANY)
    if cmd == FUTEX_WAIT_BITSET:
        return _wait(t, uaddr, private, val, val3)
    if cmd == FUTEX_WAKE:
        return futexes.wake(futexes.key_for(t, uaddr, private), count)
    if cmd == FUTEX_WAKE_BITSET:
        if val3 == 0:
            raise SyscallError(errno.EINVAL)
        return futexes.wake(futexes.key_for(t, uaddr, private), count, val3)
    if cmd in (FUTEX_REQUEUE, FUTEX_CMP_REQUEUE):
        return _requeue(t, uaddr, uaddr2, private, count, count2,
                        expected=val3 if cmd == FUTEX_CMP_REQUEUE else None)
    if cmd == FUTEX_WAKE_OP:
        return _wake_op(t, uaddr, uaddr2, private, count, count2, val3)
    raise SyscallError(errno.ENOSYS)


def _c_int(value):
    """The low 32 bits of a register as a C int."""
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value & 0x80000000 else value


def _deadline(t, timeout, relative, realtime):
    """The host monotonic time at which a wait with this timespec ends: relative waits count
    on CLOCK_MONOTONIC, absolute ones on CLOCK_MONOTONIC or (FUTEX_CLOCK_REALTIME) CLOCK_REALTIME."""
    tv_sec, tv_nsec = struct.unpack("<qq", t.copy_in(timeout, 16))
    if tv_sec < 0 or not 0 <= tv_nsec < NSEC:
        raise SyscallError(errno.EINVAL)
    requested_ns = tv_sec * NSEC + tv_nsec
    if not relative:
        requested_ns -= clock_now_ns(t, CLOCK_REALTIME if realtime else CLOCK_MONOTONIC)
    return time.monotonic() + requested_ns / NSEC


def _wait(t, uaddr, private, val, bitset):
    """FUTEX_WAIT(_BITSET): sleep while the word at `uaddr` holds `val`, until a matching wake."""
    if bitset == 0:
        raise SyscallError(errno.EINVAL)
    state = t.syscall_state
    waiter = state.get("futex_waiter")
    if waiter is None:
        key = futexes.key_for(t, uaddr, private)
        if t.copy_in_u32(uaddr) != val & 0xFFFFFFFF:
            raise SyscallError(errno.EAGAIN)
        waiter = state["futex_waiter"] = futexes.enqueue(key, bitset)

        def cancel():
            futexes.dequeue(waiter)
            del state["futex_waiter"]
        state["on_cancel"] = cancel
    if waiter.woken:
        return 0
    deadline = state["futex_deadline"]
    if t.timed_out():
        futexes.dequeue(waiter)
        raise SyscallError(errno.ETIMEDOUT)
    # With a timeout, a handler ends the wait with EINTR; without, SA_RESTART restarts it.
    raise WouldBlock(waiter.queue, deadline=deadline, restart=RESTART_SYS if deadline is None else RESTART_BLOCK)


def _requeue(t, uaddr, uaddr2, private, wake_count, requeue_count, expected):
    """FUTEX_REQUEUE, and FUTEX_CMP_REQUEUE when `expected` is given: EAGAIN unless the word
    at `uaddr` still holds it."""
    if wake_count < 0 or requeue_count < 0:
        raise SyscallError(errno.EINVAL)
    key = futexes.key_for(t, uaddr, private)
    new_key = futexes.key_for(t, uaddr2, private)
    if expected is not None and t.copy_in_u32(uaddr) != expected & 0xFFFFFFFF:
        raise SyscallError(errno.EAGAIN)
    return futexes.requeue(key, new_key, wake_count, requeue_count)


def _wake_op(t, uaddr, uaddr2, private, count, count2, encoded_op):
    """FUTEX_WAKE_OP: change the word at `uaddr2` by the encoded operation, wake waiters of
    `uaddr`, and those of `uaddr2` too if its old value passes the encoded comparison."""
    key = futexes.key_for(t, uaddr, private)
    key2 = futexes.key_for(t, uaddr2, private)
    op = (encoded_op >> 28) & 0x7
    cmp = (encoded_op >> 24) & 0xF
    oparg = _sign_extend_12((encoded_op >> 12) & 0xFFF)
    cmparg = _sign_extend_12(encoded_op & 0xFFF)
    if encoded_op & (FUTEX_OP_OPARG_SHIFT << 28):
        oparg = 1 << (oparg & 31)
    operation = _WAKE_OPS.get(op)
    if operation is None:
        raise SyscallError(errno.ENOSYS)
    old = _c_int(t.copy_in_u32(uaddr2))
    t.copy_out_u32(uaddr2, operation(old, oparg))
    comparison = _WAKE_OP_COMPARISONS.get(cmp)
    if comparison is None:
        raise SyscallError(errno.ENOSYS)          # after the write, as in Linux
    woken = futexes.wake(key, count)
    if comparison(old, cmparg):
        woken += futexes.wake(key2, count2)
    return woken


def _sign_extend_12(value):
    return value - 0x1000 if value & 0x800 else value
