"""Advisory file locks inside the sandbox: flock(2), and fcntl(2) record locks (POSIX and OFD).

Locks belong to a file's identity (st_dev, st_ino), so every name and every
open of a file sees the same locks, whichever Inode object the lookup made.

* flock locks belong to an open file description (a File): dup'd and
  inherited fds share them, and they go when the last reference does.
* POSIX record locks belong to a descriptor table (Linux's files_struct,
  shared by threads): a process holds them until it closes *any* fd of the
  file, or exits. F_GETLK reports the holder's pid.
* OFD record locks (F_OFD_*) belong to an open file description, and
  conflict with POSIX ones on the same bytes.
flock locks and record locks never conflict with each other, as on Linux.
"""
import errno

from ..errors import SyscallError, WouldBlock
from ..waiter import WaitQueue

F_RDLCK, F_WRLCK, F_UNLCK = 0, 1, 2
OFFSET_MAX = (1 << 63) - 1


class RecordLock:
    """One owner's lock on bytes [start, end] (end inclusive, OFFSET_MAX = to end of file)."""

    __slots__ = ("owner", "type", "start", "end", "pid")

    def __init__(self, owner, lock_type, start, end, pid):
        self.owner = owner
        self.type = lock_type
        self.start = start
        self.end = end
        self.pid = pid

    def overlaps(self, start, end):
        return self.start <= end and start <= self.end

    def conflicts_with(self, owner, lock_type, start, end):
        return (self.owner is not owner and self.overlaps(start, end)
                and F_WRLCK in (self.type, lock_type))


class FileLocks:
    """The flock and record locks of one file."""

    def __init__(self):
        self.flock_holders = {}  # File -> F_RDLCK / F_WRLCK
        self.records = []        # RecordLock, in no particular order
        self.queue = WaitQueue()  # notified whenever a lock goes away or shrinks

    @property
    def unused(self):
        return not self.flock_holders and not self.records and not len(self.queue)

    # --- flock ---

    def flock(self, file, lock_type, wait):
        current = self.flock_holders.get(file)
        if current == lock_type:
            return
        if current is not None:
            # Converting a lock is not atomic on Linux: the old one goes first.
            del self.flock_holders[file]
            self.queue.notify()
        for holder, held_type in self.flock_holders.items():
            if holder is not file and F_WRLCK in (held_type, lock_type):
                if not wait:
                    raise SyscallError(errno.EWOULDBLOCK)
                raise WouldBlock(self.queue)
        self.flock_holders[file] = lock_type

    def flock_unlock(self, file):
        if self.flock_holders.pop(file, None) is not None:
            self.queue.notify()

    # --- record locks ---

    def conflict(self, owner, lock_type, start, end):
        """The first lock of another owner that a lock of `lock_type` on [start, end] would hit."""
        for lock in self.records:
            if lock.conflicts_with(owner, lock_type, start, end):
                return lock
        return None

    def set_record(self, owner, lock_type, start, end, pid):
        """Apply a lock (or F_UNLCK) of `owner` to [start, end]; conflicts are the caller's check."""
        kept = []
        for lock in self.records:
            if lock.owner is not owner or not lock.overlaps(start, end):
                kept.append(lock)
                continue
            if lock.start < start:
                kept.append(RecordLock(owner, lock.type, lock.start, start - 1, lock.pid))
            if lock.end > end:
                kept.append(RecordLock(owner, lock.type, end + 1, lock.end, lock.pid))
        if lock_type != F_UNLCK:
            kept.append(RecordLock(owner, lock_type, start, end, pid))
        self.records = _merge_adjacent(kept, owner)
        self.queue.notify()

    def release_owner(self, owner):
        before = len(self.records)
        self.records = [lock for lock in self.records if lock.owner is not owner]
        if len(self.records) != before:
            self.queue.notify()


def _merge_adjacent(records, owner):
    """Coalesce `owner`'s touching or overlapping locks of the same type, as Linux does."""
    mine = sorted((lock for lock in records if lock.owner is owner), key=lambda lock: lock.start)
    others = [lock for lock in records if lock.owner is not owner]
    merged = []
    for lock in mine:
        last = merged[-1] if merged else None
        if last is not None and last.type == lock.type and last.end != OFFSET_MAX \
                and lock.start <= last.end + 1:
            last.end = max(last.end, lock.end)
        else:
            merged.append(lock)
    return others + merged


class LockTable:
    """Every file lock of the sandbox, and who waits for whom (for EDEADLK)."""

    def __init__(self):
        self.files = {}            # (dev, ino) -> FileLocks
        self.posix_owners = {}     # descriptor-table owner -> set of (dev, ino) it holds locks on
        self.waiting = {}          # POSIX owner -> (task, lock it waits behind)

    def locks_of(self, key):
        locks = self.files.get(key)
        if locks is None:
            locks = self.files[key] = FileLocks()
        return locks

    def _tidy(self, key):
        locks = self.files.get(key)
        if locks is not None and locks.unused:
            del self.files[key]

    # --- flock(2) ---

    def flock(self, file, lock_type, wait):
        key = file_key(file)
        locks = self.locks_of(key)
        try:
            locks.flock(file, lock_type, wait)
        finally:
            self._tidy(key)
        file.holds_locks = True

    def flock_unlock(self, file):
        key = file_key(file)
        locks = self.files.get(key)
        if locks is not None:
            locks.flock_unlock(file)
            self._tidy(key)

    # --- fcntl(2) record locks ---

    def get_record(self, file, owner, lock_type, start, end):
        """F_GETLK: the lock that would block this one, or None."""
        locks = self.files.get(file_key(file))
        return locks.conflict(owner, lock_type, start, end) if locks is not None else None

    def set_record(self, t, file, owner, lock_type, start, end, wait, pid):
        """F_SETLK(W) / F_OFD_SETLK(W) for `owner` (a descriptor table or a File)."""
        key = file_key(file)
        locks = self.locks_of(key)
        try:
            if lock_type != F_UNLCK:
                blocker = locks.conflict(owner, lock_type, start, end)
                if blocker is not None:
                    if not wait:
                        raise SyscallError(errno.EAGAIN)
                    if self._would_deadlock(owner, blocker.owner):
                        raise SyscallError(errno.EDEADLK)
                    entry = (t, blocker)
                    t.syscall_state["record_lock_wait"] = entry
                    self.waiting[owner] = entry
                    raise WouldBlock(locks.queue)
            self.waiting.pop(owner, None)
            locks.set_record(owner, lock_type, start, end, pid)
        finally:
            self._tidy(key)
        if owner is file:
            file.holds_locks = True
        elif lock_type != F_UNLCK:
            self.posix_owners.setdefault(owner, set()).add(key)

    def _would_deadlock(self, owner, holder):
        """Whether `holder` waits, directly or through others, for a lock `owner` holds.

        Only POSIX waits are followed, as Linux does; a waiter whose syscall has
        ended (interrupted, say) no longer counts."""
        seen = set()
        while holder not in seen:
            if holder is owner:
                return True
            seen.add(holder)
            entry = self.waiting.get(holder)
            if entry is None:
                return False
            task, blocker = entry
            if task.syscall_state.get("record_lock_wait") is not entry:
                del self.waiting[holder]
                return False
            holder = blocker.owner
        return False

    # --- releases ---

    def fd_closed(self, owner, file):
        """A process closed an fd of `file`: its POSIX locks on the file go (fcntl(2))."""
        keys = self.posix_owners.get(owner)
        if not keys:
            return
        key = file_key(file)
        if key in keys:
            keys.discard(key)
            if not keys:
                del self.posix_owners[owner]
            locks = self.files.get(key)
            if locks is not None:  # gone if every lock was already unlocked
                locks.release_owner(owner)
                self._tidy(key)

    def file_released(self, file):
        """The last reference to an open file description is gone: its flock and OFD locks go."""
        key = file_key(file)
        locks = self.files.get(key)
        if locks is not None:
            locks.flock_unlock(file)
            locks.release_owner(file)
            self._tidy(key)


def file_key(file):
    attrs = file.stat()
    return attrs.dev, attrs.ino


# One sentry runs one sandbox, so one table serves all of its files.
LOCKS = LockTable()


def lock_range(whence_base, start, length):
    """(first, last) byte of a struct flock range: EINVAL when it starts before 0, EOVERFLOW past the end."""
    first = whence_base + start
    if length > 0:
        last = first + length - 1
    elif length < 0:
        first, last = first + length, first - 1
    else:
        last = OFFSET_MAX
    if first < 0:
        raise SyscallError(errno.EINVAL)
    if last > OFFSET_MAX:
        raise SyscallError(errno.EOVERFLOW)
    return first, last
