"""System V shared memory: shmget(2), shmat(2), shmdt(2), shmctl(2); checks in the order of
Linux's ipc/shm.c. The segments and their attachments are in sentry/sysv_shm.py."""
import errno
import os
import struct
import time

from ..credentials import CAP_IPC_LOCK, capable
from ..errors import SyscallError
from ..mm import MAP_FIXED, MAP_SHARED, PROT_EXEC, PROT_READ, PROT_WRITE
from ..sysv_ipc import IPC_INFO, IPC_RMID, IPC_SET, IPC_STAT, IPCMNI, READ, WRITE, namespace_of, setting
from ..sysv_shm import (SHM_DEST, SHM_LOCKED, SHMLBA, SHMMIN, Attachment, SharedMemorySegment, refresh,
                        settle)
from ..task import RLIMIT_MEMLOCK
from ..vma import PAGE_SIZE, page_round_up

SHM_HUGETLB, SHM_NORESERVE = 0o4000, 0o10000
SHM_RDONLY, SHM_RND, SHM_REMAP, SHM_EXEC = 0o10000, 0o20000, 0o40000, 0o100000
SHM_LOCK, SHM_UNLOCK = 11, 12
SHM_STAT, SHM_INFO, SHM_STAT_ANY = 13, 14, 15

EXECUTE = 0o1
NO_ID = 0xFFFFFFFF                  # (uid_t)-1: not a valid owner for IPC_SET
USER_ADDRESS_END = 0x7FFFFFFFF000
MAX_LFS_FILESIZE = (1 << 63) - 1
HOST_PAGES = os.sysconf("SC_PHYS_PAGES")

# struct shmid64_ds: ipc64_perm (key, uid, gid, cuid, cgid, mode, seq), shm_segsz, shm_atime,
# shm_dtime, shm_ctime, shm_cpid, shm_lpid, shm_nattch.
_SHMID_DS = struct.Struct("<iIIIIIH2x4x16xQqqqiiQ16x")
_SHMINFO = struct.Struct("<9Q")      # struct shminfo64: shmmax, shmmin, shmmni, shmseg, shmall
_SHM_INFO = struct.Struct("<i4x5Q")  # struct shm_info: used_ids, shm_tot, shm_rss, shm_swp, ...


def _segments(t):
    """The caller's namespace's segments, counted and with the ones due destroyed."""
    segments = namespace_of(t).shared_memory
    refresh(segments)
    return segments


def _max_segments(t):
    return min(setting(t, "kernel.shmmni"), IPCMNI)


def shmget(t, key, size, shmflg):
    """shmget(2)."""
    segments = _segments(t)

    def create():
        pages = page_round_up(size) // PAGE_SIZE
        if size < SHMMIN or size > setting(t, "kernel.shmmax"):
            raise SyscallError(errno.EINVAL)
        if page_round_up(size) < size:
            raise SyscallError(errno.ENOSPC)
        total = sum(segment.pages for segment in segments.by_slot.values())
        if total + pages > setting(t, "kernel.shmall"):
            raise SyscallError(errno.ENOSPC)
        if shmflg & SHM_HUGETLB:
            raise SyscallError(errno.ENOMEM)    # the sandbox has no huge page pool
        if size > MAX_LFS_FILESIZE:
            raise SyscallError(errno.EINVAL)
        if not shmflg & SHM_NORESERVE and pages > HOST_PAGES:
            raise SyscallError(errno.ENOMEM)    # the overcommit heuristic: more than all the RAM
        namespace, now = namespace_of(t), int(time.time())
        made = segments.create(lambda ipc_id: SharedMemorySegment(namespace, ipc_id, key, t.creds, shmflg, now,
                                                                  size, t.tg.tgid, t), key, _max_segments(t))
        if made is None:
            raise SyscallError(errno.ENOSPC)
        return made

    def check_existing(found):
        if found.size < size:
            raise SyscallError(errno.EINVAL)
    return segments.get(t, key, shmflg, create, check_existing)


def shmat(t, shmid, shmaddr, shmflg):
    """shmat(2): returns the address the segment is attached at."""
    if shmid < 0:
        raise SyscallError(errno.EINVAL)
    addr, flags = shmaddr, MAP_SHARED
    if addr:
        if addr % SHMLBA:
            if not shmflg & SHM_RND:
                raise SyscallError(errno.EINVAL)
            addr -= addr % SHMLBA
            if not addr and shmflg & SHM_REMAP:
                raise SyscallError(errno.EINVAL)
        flags |= MAP_FIXED
    elif shmflg & SHM_REMAP:
        raise SyscallError(errno.EINVAL)
    if shmflg & SHM_RDONLY:
        prot, wanted, open_flags = PROT_READ, READ, os.O_RDONLY
    else:
        prot, wanted, open_flags = PROT_READ | PROT_WRITE, READ | WRITE, os.O_RDWR
    if shmflg & SHM_EXEC:
        prot, wanted = prot | PROT_EXEC, wanted | EXECUTE
    segment = _segments(t).find(shmid)
    if segment is None:
        raise SyscallError(errno.EINVAL)
    if not segment.perm.allows(t.creds, wanted):
        raise SyscallError(errno.EACCES)
    size = segment.size
    if addr and not shmflg & SHM_REMAP and (addr + size >= 1 << 64 or t.mm.vmas.overlapping(addr, addr + size)):
        raise SyscallError(errno.EINVAL)
    attachment = Attachment(segment, open_flags)
    addr = t.mm.mmap(addr, size, prot, flags, file=attachment, name=attachment.path)
    segment.attached_by(t.mm, t.tg.tgid, vma=t.mm.vmas.find(addr))
    return addr


def shmdt(t, shmaddr):
    """shmdt(2): unmaps the attachment that starts at `shmaddr`, with the pieces mprotect(2) or
    munmap(2) left of it up to the segment's size from there."""
    if shmaddr % PAGE_SIZE:
        raise SyscallError(errno.EINVAL)
    mm = t.mm
    following = [vma for vma in mm.vmas.overlapping(shmaddr, USER_ADDRESS_END) if vma.end > shmaddr]

    def starts_attachment(vma):
        return isinstance(vma.file, Attachment) and vma.start - shmaddr == vma.offset

    first = next((index for index, vma in enumerate(following) if starts_attachment(vma)), None)
    if first is None:
        raise SyscallError(errno.EINVAL)
    attachment = following[first].file
    span = page_round_up(attachment.segment.size)
    mm.munmap(following[first].start, following[first].length)
    for vma in following[first + 1:]:
        if vma.end - shmaddr > span:
            break
        if vma.file is attachment and starts_attachment(vma):
            mm.munmap(vma.start, vma.length)
    attachment.segment.detached_by(t.tg.tgid)
    settle(attachment.segment)
    return 0


def _stat_bytes(segment):
    perm = segment.perm
    return _SHMID_DS.pack(perm.key, perm.uid, perm.gid, perm.cuid, perm.cgid, perm.mode | segment.status,
                          segment.seq, segment.size, segment.attach_time, segment.detach_time,
                          segment.change_time, segment.creator, segment.last_pid, segment.attach_count)


def shmctl(t, shmid, cmd, buf):
    """shmctl(2) (x86_64 has no IPC_64 flag: the structures are always the 64-bit ones)."""
    if cmd < 0 or shmid < 0:
        raise SyscallError(errno.EINVAL)
    segments = _segments(t)
    if cmd == IPC_INFO:
        limit = _max_segments(t)
        t.copy_out(buf, _SHMINFO.pack(setting(t, "kernel.shmmax"), SHMMIN, limit, limit,
                                      setting(t, "kernel.shmall"), 0, 0, 0, 0))
        return segments.highest_slot
    if cmd == SHM_INFO:
        present = segments.by_slot.values()
        t.copy_out(buf, _SHM_INFO.pack(len(present), sum(segment.pages for segment in present),
                                       sum(segment.resident_pages() for segment in present), 0, 0, 0))
        return segments.highest_slot
    if cmd in (IPC_STAT, SHM_STAT, SHM_STAT_ANY):
        segment = segments.for_stat(t, shmid, IPC_STAT if cmd == IPC_STAT else SHM_STAT,
                                    check_read=cmd != SHM_STAT_ANY)
        t.copy_out(buf, _stat_bytes(segment))
        return 0 if cmd == IPC_STAT else segment.id
    if cmd in (IPC_SET, IPC_RMID):
        return _change(t, segments, shmid, cmd, buf)
    if cmd in (SHM_LOCK, SHM_UNLOCK):
        return _lock(t, segments, shmid, cmd)
    raise SyscallError(errno.EINVAL)


def _change(t, segments, shmid, cmd, buf):
    """IPC_SET and IPC_RMID: the segment's owner, creator or CAP_SYS_ADMIN only. A segment still
    attached is only marked SHM_DEST and made private: it goes with its last detach."""
    new = _SHMID_DS.unpack(t.copy_in(buf, _SHMID_DS.size)) if cmd == IPC_SET else None
    segment = segments.for_change(t, shmid)
    if cmd == IPC_RMID:
        if segment.attach_count:
            segment.status |= SHM_DEST
            segments.make_private(segment)
        else:
            segments.remove(segment)
        return 0
    uid, gid, mode = new[1], new[2], new[5]
    if NO_ID in (uid, gid):
        raise SyscallError(errno.EINVAL)
    segment.perm.uid, segment.perm.gid = uid, gid
    segment.perm.mode = mode & 0o777
    segment.change_time = int(time.time())
    return 0


def _lock(t, segments, shmid, cmd):
    """SHM_LOCK and SHM_UNLOCK: the sandbox never swaps, so they only set and clear SHM_LOCKED,
    with Linux's checks: without CAP_IPC_LOCK only the owner or creator, and SHM_LOCK within
    RLIMIT_MEMLOCK."""
    segment = segments.lookup(t, shmid)
    if not capable(t, CAP_IPC_LOCK):
        if t.creds.euid not in (segment.perm.uid, segment.perm.cuid):
            raise SyscallError(errno.EPERM)
        memlock = t.tg.rlimits[RLIMIT_MEMLOCK][0]
        if cmd == SHM_LOCK and memlock == 0:
            raise SyscallError(errno.EPERM)
        if cmd == SHM_LOCK and not segment.status & SHM_LOCKED and page_round_up(segment.size) > memlock:
            raise SyscallError(errno.ENOMEM)
    if cmd == SHM_LOCK:
        segment.status |= SHM_LOCKED
    else:
        segment.status &= ~SHM_LOCKED
    return 0
