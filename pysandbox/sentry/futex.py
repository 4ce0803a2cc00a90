"""Futex wait queues, keyed the way Linux's get_futex_key keys them:

  * a private futex (FUTEX_PRIVATE_FLAG) by (mm, address);
  * a shared futex in a private mapping by (mm, address) as well, but apart from
    private ones, so a shared wake doesn't reach a private waiter;
  * a shared futex in a shared mapping by the memory behind it and the offset, so
    processes mapping the same memory at different addresses meet.

Each key keeps its waiters in arrival order.
"""
import collections
import errno

from pysandbox.sentry.errors import SyscallError
from pysandbox.sentry.waiter import WaitQueue

FUTEX_BITSET_MATCH_ANY = 0xFFFFFFFF
FUTEX_WORD_SIZE = 4

_buckets = collections.defaultdict(list)      # key -> [Waiter], oldest first


class Waiter:
    """One task blocked in FUTEX_WAIT: `queue` fires when it is woken."""

    __slots__ = ("key", "bitset", "queue", "woken")

    def __init__(self, key, bitset):
        self.key = key
        self.bitset = bitset
        self.queue = WaitQueue()
        self.woken = False


def key_for(t, addr, private):
    """The key of the futex word at `addr`: EINVAL when it is not 4-byte aligned, EFAULT when a
    shared futex is not mapped (a private one is only looked at by the operation itself)."""
    if addr % FUTEX_WORD_SIZE:
        raise SyscallError(errno.EINVAL)
    if private:
        return ("private", t.mm, addr)
    vma = t.mm.vmas.find(addr)
    if vma is None:
        raise SyscallError(errno.EFAULT)
    if not vma.shared:
        return ("mm", t.mm, addr)
    backing = ("anon", vma.anon_shared_id) if vma.file is None else ("file", vma.file)
    return ("shared", backing, vma.offset + (addr - vma.start))


def enqueue(key, bitset):
    waiter = Waiter(key, bitset)
    _buckets[key].append(waiter)
    return waiter


def dequeue(waiter):
    bucket = _buckets.get(waiter.key)
    if bucket is not None and waiter in bucket:
        bucket.remove(waiter)
        if not bucket:
            del _buckets[waiter.key]


def _wake(waiter):
    dequeue(waiter)
    waiter.woken = True
    waiter.queue.notify()


def _move(waiter, key):
    if waiter.key != key:
        dequeue(waiter)
        waiter.key = key
        _buckets[key].append(waiter)


def wake(key, count, bitset=FUTEX_BITSET_MATCH_ANY):
    """Wake up to `count` waiters of `key` whose bitset shares a bit with `bitset`, oldest first.
    As in Linux, the first match is woken even when `count` is 0 or negative. Returns how many
    were woken."""
    woken = 0
    for waiter in list(_buckets.get(key, ())):
        if waiter.bitset & bitset:
            _wake(waiter)
            woken += 1
            if woken >= count:
                break
    return woken


def requeue(key, new_key, wake_count, requeue_count):
    """Wake up to `wake_count` waiters of `key` and move up to `requeue_count` of the others to
    `new_key` (which may be `key` itself). Returns the number woken plus the number moved."""
    handled = 0
    for waiter in list(_buckets.get(key, ())):
        if handled - wake_count >= requeue_count:
            break
        handled += 1
        if handled <= wake_count:
            _wake(waiter)
        else:
            _move(waiter, new_key)
    return handled


def wake_address(t, addr, count):
    """The FUTEX_WAKE a thread's exit makes on its CLONE_CHILD_CLEARTID word (a shared one, as
    in Linux: pthread_join waits on that word without FUTEX_PRIVATE_FLAG)."""
    return wake(key_for(t, addr, private=False), count)
