"""Memory syscalls: brk(2), mmap(2), munmap(2), mprotect(2), mremap(2), madvise(2) and friends."""
import errno

from pysandbox.sentry.credentials import CAP_IPC_LOCK, capable
from pysandbox.sentry.errors import SyscallError
from pysandbox.sentry.mm import (MAP_32BIT, MAP_ANONYMOUS, MAP_DENYWRITE, MAP_EXECUTABLE, MAP_FIXED,
                                 MAP_GROWSDOWN, MAP_HUGETLB, MAP_LOCKED, MAP_NONBLOCK, MAP_NORESERVE,
                                 MAP_POPULATE, MAP_PRIVATE, MAP_SHARED, MAP_SHARED_VALIDATE, MAP_STACK,
                                 MAP_TYPE, MAP_UNINITIALIZED, PROT_WRITE)
from pysandbox.sentry.task import RLIMIT_MEMLOCK
from pysandbox.sentry.vma import PAGE_SIZE, page_round_up

from .sys_memfd import may_write_through, write_sealed
from .sys_personality import implied_prot

O_ACCMODE, O_RDONLY, O_WRONLY, O_RDWR = 3, 0, 1, 2
MAP_ABOVE4G, MAP_HUGE_2MB, MAP_HUGE_1GB = 0x80, 21 << 26, 30 << 26
# The flags MAP_SHARED_VALIDATE accepts for a file that supports nothing more (LEGACY_MAP_MASK).
MAP_LEGACY_FLAGS = (MAP_SHARED | MAP_PRIVATE | MAP_FIXED | MAP_ANONYMOUS | MAP_DENYWRITE | MAP_EXECUTABLE
                    | MAP_UNINITIALIZED | MAP_GROWSDOWN | MAP_LOCKED | MAP_NORESERVE | MAP_POPULATE
                    | MAP_NONBLOCK | MAP_STACK | MAP_HUGETLB | MAP_32BIT | MAP_ABOVE4G | MAP_HUGE_2MB
                    | MAP_HUGE_1GB)
MS_ASYNC, MS_INVALIDATE, MS_SYNC = 1, 2, 4
MADV_KNOWN = {0, 1, 2, 3, 4, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 100, 101}


def brk(t, addr):
    """brk(2): the raw syscall returns the new break, or the old one on failure."""
    return t.mm.set_brk(addr)


def mmap(t, addr, length, prot, flags, fd, offset):
    """mmap(2). The file checks come in Linux's order, after the offset and the fd."""
    if offset % PAGE_SIZE:
        raise SyscallError(errno.EINVAL)
    _check_locked_mapping(t, length, flags)
    prot = implied_prot(t, prot)
    if flags & MAP_ANONYMOUS:
        return t.mm.mmap(addr, length, prot, flags)
    file = t.fds.get(fd)
    if length == 0:
        raise SyscallError(errno.EINVAL)
    kind = flags & MAP_TYPE
    if kind not in (MAP_SHARED, MAP_PRIVATE, MAP_SHARED_VALIDATE):
        raise SyscallError(errno.EINVAL)
    if kind == MAP_SHARED_VALIDATE and flags & ~MAP_LEGACY_FLAGS:
        raise SyscallError(errno.EOPNOTSUPP)
    access = file.flags & O_ACCMODE
    if kind != MAP_PRIVATE and prot & PROT_WRITE and access != O_RDWR:
        raise SyscallError(errno.EACCES)
    if access == O_WRONLY:
        raise SyscallError(errno.EACCES)
    if not hasattr(file, "pread") or not file.is_mappable():
        raise SyscallError(errno.ENODEV)
    if kind != MAP_PRIVATE and prot & PROT_WRITE and write_sealed(file):
        raise SyscallError(errno.EPERM)
    return t.mm.mmap(addr, length, prot, flags, file=file, offset=offset, name=file.path)


def munmap(t, addr, length):
    """munmap(2)."""
    t.mm.munmap(addr, length)
    return 0


def mprotect(t, addr, length, prot):
    """mprotect(2). A shared file mapping becomes writable only if it may write through
    (EACCES for a file opened read-only, or mapped read-only after a write seal)."""
    if prot & PROT_WRITE and not addr % PAGE_SIZE:
        for vma in t.mm.vmas.overlapping(addr, addr + page_round_up(length)):
            if vma.shared and vma.file is not None and not may_write_through(vma):
                raise SyscallError(errno.EACCES)
    t.mm.mprotect(addr, length, implied_prot(t, prot))
    return 0


def mremap(t, old_address, old_size, new_size, flags, new_address):
    """mremap(2)."""
    return t.mm.mremap(old_address, old_size, new_size, flags, new_address)


def madvise(t, addr, length, advice):
    """madvise(2): MADV_DONTNEED, MADV_FREE and MADV_DONTNEED_LOCKED drop pages; other advice is
    accepted and ignored."""
    if advice not in MADV_KNOWN:
        raise SyscallError(errno.EINVAL)
    t.mm.madvise(addr, length, advice)
    return 0


def msync(t, addr, length, flags):
    """msync(2): shared file mappings are copies here, so there is nothing to write back."""
    if addr % PAGE_SIZE or flags & ~(MS_ASYNC | MS_INVALIDATE | MS_SYNC):
        raise SyscallError(errno.EINVAL)
    if flags & MS_ASYNC and flags & MS_SYNC:
        raise SyscallError(errno.EINVAL)
    length = page_round_up(length)
    if length and not t.mm.vmas.is_fully_mapped(addr, addr + length):
        raise SyscallError(errno.ENOMEM)
    return 0


def mincore(t, addr, length, vec):
    """mincore(2): every mapped page is reported resident."""
    if addr % PAGE_SIZE:
        raise SyscallError(errno.EINVAL)
    length = page_round_up(length)
    if not t.mm.vmas.is_fully_mapped(addr, addr + length):
        raise SyscallError(errno.ENOMEM)
    t.copy_out(vec, b"\x01" * (length // PAGE_SIZE))
    return 0


MLOCK_ONFAULT = 1
MCL_CURRENT, MCL_FUTURE, MCL_ONFAULT = 1, 2, 4


def _memlock_limit(t):
    """RLIMIT_MEMLOCK in bytes, or None for a task with CAP_IPC_LOCK."""
    return None if capable(t, CAP_IPC_LOCK) else t.tg.rlimits[RLIMIT_MEMLOCK][0]


def _lock_range(t, addr, length, locked):
    """mlock/munlock's range: page-aligned, EINVAL if it wraps, ENOMEM unless all of it is mapped."""
    start = addr & ~(PAGE_SIZE - 1)
    end = page_round_up(addr + length)
    if end < start or addr + length > (1 << 64) - 1:
        raise SyscallError(errno.EINVAL)
    if end == start:
        return 0
    if not t.mm.vmas.is_fully_mapped(start, end):
        raise SyscallError(errno.ENOMEM)
    if locked:
        limit = _memlock_limit(t)
        if limit == 0:
            raise SyscallError(errno.EPERM)
        already = sum(min(vma.end, end) - max(vma.start, start) for vma in t.mm.vmas.overlapping(start, end)
                      if vma.locked)
        if limit is not None and t.mm.locked_bytes() + (end - start) - already > limit:
            raise SyscallError(errno.ENOMEM)
    t.mm.vmas.update(start, end, locked=locked)
    return 0


def mlock(t, addr, length):
    """mlock(2): locked pages count against RLIMIT_MEMLOCK (without CAP_IPC_LOCK); the sandbox
    never swaps, so locking changes nothing else."""
    return _lock_range(t, addr, length, True)


def mlock2(t, addr, length, flags):
    """mlock2(2): MLOCK_ONFAULT locks pages as they are touched; they count the same."""
    if flags & ~MLOCK_ONFAULT:
        raise SyscallError(errno.EINVAL)
    return _lock_range(t, addr, length, True)


def munlock(t, addr, length):
    """munlock(2)."""
    return _lock_range(t, addr, length, False)


def mlockall(t, flags):
    """mlockall(2): MCL_CURRENT locks every mapping, MCL_FUTURE the ones made from now on."""
    if not flags or flags & ~(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT) or flags == MCL_ONFAULT:
        raise SyscallError(errno.EINVAL)
    limit = _memlock_limit(t)
    if limit == 0:
        raise SyscallError(errno.EPERM)
    mm = t.mm
    if flags & MCL_CURRENT and limit is not None and sum(vma.length for vma in mm.vmas) > limit:
        raise SyscallError(errno.ENOMEM)
    mm.lock_future = bool(flags & MCL_FUTURE)
    if flags & MCL_CURRENT:
        for vma in [vma for vma in mm.vmas if not vma.locked]:
            mm.vmas.update(vma.start, vma.end, locked=True)
    return 0


def munlockall(t):
    """munlockall(2)."""
    mm = t.mm
    mm.lock_future = False
    for vma in [vma for vma in mm.vmas if vma.locked]:
        mm.vmas.update(vma.start, vma.end, locked=False)
    return 0


def _check_locked_mapping(t, length, flags):
    """A mapping that will come locked (MAP_LOCKED, mlockall(MCL_FUTURE)) must fit RLIMIT_MEMLOCK."""
    if flags & MAP_LOCKED or t.mm.lock_future:
        limit = _memlock_limit(t)
        if limit is not None and t.mm.locked_bytes() + page_round_up(length) > limit:
            raise SyscallError(errno.EAGAIN)
