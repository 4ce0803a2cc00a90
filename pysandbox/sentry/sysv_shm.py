"""System V shared memory segments (shmget(2), shmop(2)) and their attachments.

A segment's bytes are a file of an internal tmpfs, as Linux keeps them on shmem: its host
memfd is what every attaching process maps MAP_SHARED, so all of them (and their forks)
see the same pages on either platform. Each shmat(2) maps a description of its own, read-only
for SHM_RDONLY, whose VMAs say where the segment is attached.

shm_nattch counts those VMAs in the address spaces that attached the segment or inherited an
attachment, as Linux counts the VMAs it opened (vm_ops open and close). The sentry's VMAs have
no such hooks, so a segment recounts when it is looked at, and when an address space that
holds it goes (exit, exec): more VMAs than before in one address space (an mprotect or munmap
split) were attaches, less of the segment covered (munmap, shmdt, a mapping over it, the
address space gone) a detach, by the process that holds it there.
"""
import os
import time
import weakref

from .errors import host_errors
from .sysv_ipc import IpcObject
from .vfs.inode import Dentry
from .vfs.memfs import MemFile, MemFileDescription, TmpFS
from .vma import PAGE_SIZE, page_round_up

SHMMIN, SHMLBA = 1, PAGE_SIZE
SHM_DEST, SHM_LOCKED = 0o1000, 0o2000      # status bits shown in shm_perm.mode

# Segments live on an internal tmpfs of their own, as Linux's do on shm_mnt.
SHM_FS = TmpFS()


class Attachment(MemFileDescription):
    """What one shmat(2) maps: the segment's file, opened read-write or read-only."""

    def __init__(self, segment, flags):
        super().__init__(flags, segment.dentry, segment.memory)
        self.segment = segment


class _Holding:
    """How one address space holds a segment: the process there, and the segment's VMAs in it
    as last counted, with the address ranges each attachment covered."""
    __slots__ = ("tgid", "count", "spans")

    def __init__(self, tgid, count, spans):
        self.tgid, self.count, self.spans = tgid, count, spans


class SharedMemorySegment(IpcObject):
    def __init__(self, namespace, ipc_id, key, creds, mode, now, size, creator, creating_task=None):
        super().__init__(ipc_id, key, creds, mode, now)
        self.namespace = namespace          # its IpcNamespace
        self.size = size
        self.memory = MemFile(mode & 0o777, creds.euid, creds.egid, fs=SHM_FS)
        with host_errors():                 # a sparse memfd: pages come as they are touched
            os.ftruncate(self.memory.host_fd, size)
        self.memory.size = size
        self.memory.nlink = 0
        self.dentry = Dentry(self.memory, None, b"/SYSV%08x (deleted)" % (key & 0xFFFFFFFF))
        self.status = 0                     # SHM_DEST, SHM_LOCKED
        self.creator = creator              # cpid
        self._creating_task = weakref.ref(creating_task) if creating_task is not None else lambda: None
        self.last_pid = 0                   # lpid: the last to attach or detach
        self.attach_time = self.detach_time = 0
        self.attached = {}                  # MemoryManager -> _Holding
        self.attach_count = 0               # shm_nattch as last counted

    @property
    def pages(self):
        return page_round_up(self.size) // PAGE_SIZE

    def orphaned(self):
        """Whether the task that made it is gone (kernel.shm_rmid_forced then destroys it once
        no one has it attached, as Linux's exit_shm and shm_destroy_orphaned do)."""
        task = self._creating_task()
        return task is None or not task.alive

    def resident_pages(self):
        """Pages the segment holds in memory (shm_rss): what its memfd has allocated."""
        return os.fstat(self.memory.host_fd).st_blocks * 512 // PAGE_SIZE

    def attached_by(self, mm, tgid, vma=None, holder=None):
        """shmat(2) by `tgid`, which mapped `vma` into `mm`; or a fork by `tgid` that copied
        the segment's VMAs into the child `holder`'s `mm`. shm_atime and shm_lpid change."""
        if mm not in self.attached:
            mm.release_hooks.append(self._address_space_gone)
        if holder is None:
            held = self.attached.get(mm) or _Holding(tgid, 0, {})
            spans = dict(held.spans)
            spans[vma.file] = [(vma.start, vma.end)]
            self.attached[mm] = _Holding(held.tgid, held.count + 1, spans)
            self.attach_count += 1
        else:
            count, spans = self._mapped_in(mm)
            self.attached[mm] = _Holding(holder, count, spans)
            self.attach_count += count
        self.attach_time = int(time.time())
        self.last_pid = tgid

    def detached_by(self, tgid):
        """shmdt(2), munmap(2), exit or exec: shm_dtime and shm_lpid change."""
        self.detach_time = int(time.time())
        self.last_pid = tgid

    def _address_space_gone(self, mm):
        if not self.removed:
            settle(self)

    def _mapped_in(self, mm):
        """(how many VMAs of `mm` map the segment, {attachment: the address ranges it covers})."""
        count, spans = 0, {}
        if mm.users <= 0:
            return count, spans
        for vma in mm.vmas:
            if getattr(vma.file, "segment", None) is self:
                count += 1
                runs = spans.setdefault(vma.file, [])
                if runs and runs[-1][1] == vma.start:
                    runs[-1] = (runs[-1][0], vma.end)
                else:
                    runs.append((vma.start, vma.end))
        return count, spans

    def count_attachments(self):
        """shm_nattch, counted anew (see the module's docstring)."""
        total = 0
        for mm, held in list(self.attached.items()):
            count, spans = self._mapped_in(mm)
            if count > held.count:
                self.attach_time = int(time.time())
                self.last_pid = held.tgid
            if not _covers(spans, held.spans):
                self.detached_by(held.tgid)
            if count:
                self.attached[mm] = _Holding(held.tgid, count, spans)
            else:
                del self.attached[mm]
                if self._address_space_gone in mm.release_hooks:
                    mm.release_hooks.remove(self._address_space_gone)
            total += count
        self.attach_count = total
        return total


def _covers(spans, before):
    """Whether each attachment still covers every range it covered before."""
    for attachment, runs in before.items():
        now = spans.get(attachment, ())
        for start, end in runs:
            if not any(left <= start and end <= right for left, right in now):
                return False
    return True


def is_attachment(vma):
    return isinstance(vma.file, Attachment)


def forked(parent_mm, child_mm, parent_tgid, child_tgid):
    """A fork copied `parent_mm`'s VMAs: the child holds each segment attached there too, and
    the attach is the parent's doing (Linux's shm_open() runs in the parent)."""
    for segment in {vma.file.segment for vma in parent_mm.vmas if is_attachment(vma)}:
        segment.attached_by(child_mm, parent_tgid, holder=child_tgid)


def settle(segment):
    """Count the segment's attachments, and destroy it if no one has it attached any more and
    it is marked for that (IPC_RMID), or its namespace's kernel.shm_rmid_forced is set and it
    was just detached or its creator is gone."""
    before = segment.attach_count
    if segment.count_attachments() == 0 and (
            segment.status & SHM_DEST or (before or segment.orphaned())
            and segment.namespace.setting("kernel.shm_rmid_forced")):
        segment.namespace.shared_memory.remove(segment)


def refresh(segments):
    """settle() every segment of a namespace's IpcIds."""
    for segment in list(segments.by_slot.values()):
        settle(segment)
