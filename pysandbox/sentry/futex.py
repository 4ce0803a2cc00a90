"""Futex wait queues, keyed like Linux: private futexes by (mm, address),
shared ones by the memory object and offset behind the address."""
import collections

from pysandbox.sentry.waiter import WaitQueue

FUTEX_BITSET_MATCH_ANY = 0xFFFFFFFF

_buckets = collections.defaultdict(list)      # key -> [Waiter]


class Waiter:
    __slots__ = ("key", "bitset", "queue", "woken")

    def __init__(self, key, bitset):
        self.key = key
        self.bitset = bitset
        self.queue = WaitQueue()
        self.woken = False


def key_for(t, addr, private):
    if not private:
        vma = t.mm.vmas.find(addr)
        if vma is not None and vma.shared:
            backing = vma.anon_shared_id if vma.file is None else id(vma.file)
            return ("shared", backing, vma.offset + (addr - vma.start))
    return ("private", id(t.mm), addr)


def enqueue(key, bitset):
    waiter = Waiter(key, bitset)
    _buckets[key].append(waiter)
    return waiter


def dequeue(waiter):
    bucket = _buckets.get(waiter.key)
    if bucket and waiter in bucket:
        bucket.remove(waiter)
        if not bucket:
            del _buckets[waiter.key]


def wake(key, count, bitset=FUTEX_BITSET_MATCH_ANY):
    bucket = _buckets.get(key)
    if not bucket:
        return 0
    woken = 0
    for waiter in list(bucket):
        if woken >= count:
            break
        if waiter.bitset & bitset:
            bucket.remove(waiter)
            waiter.woken = True
            waiter.queue.notify()
            woken += 1
    if not bucket:
        _buckets.pop(key, None)
    return woken


def requeue(key, new_key, wake_count, requeue_count):
    woken = wake(key, wake_count)
    bucket = _buckets.get(key, [])
    moved = 0
    while bucket and moved < requeue_count:
        waiter = bucket.pop(0)
        waiter.key = new_key
        _buckets[new_key].append(waiter)
        moved += 1
    if not bucket:
        _buckets.pop(key, None)
    return woken + moved


def wake_address(t, addr, count):
    """Wake waiters on `addr` (CLONE_CHILD_CLEARTID): a shared wake also reaches private waiters
    of private memory, because both key by (mm, address) there."""
    return wake(key_for(t, addr, private=False), count)
