"""MemoryManager: a process's address space as the sentry sees it.

The VmaSet is the truth (it decides what the guest may touch and what
/proc/PID/maps says); the platform AddressSpace mirrors it on the host.
"""
import errno
import itertools

from pysandbox.platform.ptrace.stub import GUEST_ADDRESS_LIMIT
from pysandbox.sentry.errors import SyscallError
from pysandbox.sentry.vma import PAGE_SIZE, Vma, VmaSet, page_round_down, page_round_up
from pysandbox.sentry.weakrefs import WeakOrderedSet

PROT_READ, PROT_WRITE, PROT_EXEC = 1, 2, 4
PROT_MASK = PROT_READ | PROT_WRITE | PROT_EXEC
PROT_GROWSDOWN, PROT_GROWSUP = 0x01000000, 0x02000000
MAP_SHARED, MAP_PRIVATE, MAP_SHARED_VALIDATE = 0x01, 0x02, 0x03
MAP_TYPE = 0x0F
MAP_FIXED, MAP_ANONYMOUS = 0x10, 0x20
MAP_GROWSDOWN, MAP_DENYWRITE, MAP_EXECUTABLE, MAP_LOCKED = 0x100, 0x800, 0x1000, 0x2000
MAP_NORESERVE, MAP_POPULATE, MAP_NONBLOCK, MAP_STACK, MAP_HUGETLB = 0x4000, 0x8000, 0x10000, 0x20000, 0x40000
MAP_SYNC, MAP_FIXED_NOREPLACE, MAP_UNINITIALIZED = 0x80000, 0x100000, 0x4000000
MAP_32BIT = 0x40
PROT_SEM = 0x8
MREMAP_MAYMOVE, MREMAP_FIXED, MREMAP_DONTUNMAP = 1, 2, 4
MADV_DONTNEED, MADV_FREE, MADV_COLD, MADV_PAGEOUT, MADV_DONTNEED_LOCKED = 4, 8, 20, 21, 24
# Advice Linux refuses for mlock()ed memory (can_madv_lru_vma: locked pages stay resident).
MADV_NOT_FOR_LOCKED = {MADV_DONTNEED, MADV_FREE, MADV_COLD, MADV_PAGEOUT}
SIGBUS, SIGSEGV, BUS_ADRERR = 7, 11, 2
SEGV_MAPERR, SEGV_ACCERR = 1, 2

MIN_ADDRESS = 0x10000                      # vm.mmap_min_addr
USER_ADDRESS_END = 0x7FFFFFFFF000          # Linux's TASK_SIZE: the bound its argument checks use
# Host files at least this large are mapped by the platform from their fd (the host shares
# their pages and does copy-on-write); smaller ones are cheaper to copy in.
MAP_FROM_FD_MIN = 64 * 1024
STACK_TOP = GUEST_ADDRESS_LIMIT - 0x1000000
MMAP_BASE = STACK_TOP - 0x8000000          # 8 MiB stack + a gap, like Linux's mmap_base

_shared_ids = itertools.count(1)
# Address spaces that copied files through mappings of their own (platform/ptrace's windows),
# told by forget_file() when such a file is closed.
_SPACES_WITH_FILE_WINDOWS = WeakOrderedSet()


def forget_file(file):
    """An open file was closed: address spaces drop what they mapped of it to copy from it."""
    for space in _SPACES_WITH_FILE_WINDOWS:          # (iterates over a snapshot)
        space.drop_file_windows(file)


class MemoryManager:
    def __init__(self, address_space):
        self.space = address_space
        self.vmas = VmaSet()
        self.brk_start = self.brk = 0
        self.mmap_base = MMAP_BASE
        self.stack_top = STACK_TOP
        self.users = 1                      # tasks sharing it (CLONE_VM)
        self.lock_future = False            # mlockall(MCL_FUTURE): new mappings come locked
        self.release_hooks = []             # hook(mm) when its last user goes (exit, exec): SysV shm

    # -- guest memory access (copy-in / copy-out) -------------------------
    def _check_access(self, addr, length, prot):
        if length == 0:
            return
        end = addr + length
        if addr < MIN_ADDRESS or end > GUEST_ADDRESS_LIMIT or end < addr:
            raise SyscallError(errno.EFAULT)
        vma = self.vmas.find(addr)
        if vma is not None and end <= vma.end:
            if vma.prot & prot != prot:
                raise SyscallError(errno.EFAULT)
            return
        position = addr
        while position < end:
            vma = self.vmas.find(position)
            if vma is None or vma.prot & prot != prot:
                raise SyscallError(errno.EFAULT)
            position = vma.end

    def accessible_length(self, addr, length, prot):
        """How many bytes from `addr` on (at most `length`) the guest may access with `prot`:
        where a copy into or out of a buffer stops when the buffer runs into a page it can't use."""
        if addr < MIN_ADDRESS:
            return 0
        return max(0, self._mapped_until(addr, min(addr + length, GUEST_ADDRESS_LIMIT), prot) - addr)

    def copy_in(self, addr, length):
        self._check_access(addr, length, PROT_READ)
        return self.space.read(addr, length) if length else b""

    def copy_out(self, addr, data, force=False):
        if not force:
            self._check_access(addr, len(data), PROT_WRITE)
        elif not self.vmas.is_fully_mapped(page_round_down(addr), page_round_up(addr + len(data))):
            raise SyscallError(errno.EFAULT)
        if data:
            self.space.write(addr, data)

    def copy_from_file(self, addr, file, host_fd, offset, n, ahead):
        """Copy `n` bytes of open file `file`, whose bytes host file `host_fd` holds, from `offset`
        (`ahead` bytes from there to its end) into guest memory at `addr`, which the caller checked
        the guest may write: the platform moves them without the sentry holding them. Returns the
        count copied (short where the buffer runs into a page the host can't write), or None when
        the platform can't or it would not pay, and the caller copies. Closing `file` must call
        forget_file(file)."""
        space = self.space
        copy = getattr(space, "copy_from_file", None)
        if copy is None:
            return None
        if hasattr(space, "drop_file_windows"):
            _SPACES_WITH_FILE_WINDOWS.add(space)
        try:
            return copy(addr, host_fd, offset, n, ahead, file)
        except SyscallError:
            return None                     # a file the host can't map (or read) this way

    def view_for_host(self, addr, n):
        """Up to `n` bytes of guest memory at `addr`, which the caller checked the guest may read,
        as a buffer to hand to a host call, valid until the next call: the guest's pages
        themselves (kvm), or the stub's copy of them in its staging buffer (ptrace), so the sentry
        never copies them in. Short where a page can't be read on the host (or, on kvm, where the
        pages stop being contiguous); None when the platform can't, and the caller copies in."""
        copy = getattr(self.space, "view_for_host", None)
        if copy is None:
            return None
        try:
            return copy(addr, n)
        except SyscallError:
            return None                     # no staging buffer could be made

    def copy_in_str(self, addr, limit, too_long=errno.ENAMETOOLONG):
        """A NUL-terminated string of at most `limit` bytes (the errno `too_long` beyond)."""
        chunks = []
        total = 0
        while total < limit:
            vma = self.vmas.find(addr)
            if vma is None or not vma.prot & PROT_READ or addr < MIN_ADDRESS:
                raise SyscallError(errno.EFAULT)
            size = min(PAGE_SIZE - (addr % PAGE_SIZE), limit - total, vma.end - addr)
            chunk = self.space.read(addr, size)
            nul = chunk.find(b"\0")
            if nul >= 0:
                chunks.append(chunk[:nul])
                return b"".join(chunks)
            chunks.append(chunk)
            total += size
            addr += size
        raise SyscallError(too_long)

    # -- mmap(2) and friends ---------------------------------------------
    def _pick_address(self, addr, length, flags):
        if flags & MAP_FIXED or flags & MAP_FIXED_NOREPLACE:
            if addr % PAGE_SIZE:
                raise SyscallError(errno.EINVAL)
            if addr < MIN_ADDRESS and flags & MAP_FIXED:
                raise SyscallError(errno.EPERM)
            if addr + length > GUEST_ADDRESS_LIMIT or addr < MIN_ADDRESS:
                raise SyscallError(errno.ENOMEM)
            if flags & MAP_FIXED_NOREPLACE and not flags & MAP_FIXED and self.vmas.overlapping(addr, addr + length):
                raise SyscallError(errno.EEXIST)
            return addr
        hint = page_round_down(addr)
        hi = 0x80000000 if flags & MAP_32BIT else self.mmap_base
        found = self.vmas.find_free(length, MIN_ADDRESS, GUEST_ADDRESS_LIMIT if hint else hi, hint)
        if found is not None and (not hint or found == hint):
            return found
        found = self.vmas.find_free(length, MIN_ADDRESS, hi)
        if found is None:
            raise SyscallError(errno.ENOMEM)
        return found

    def mmap(self, addr, length, prot, flags, file=None, offset=0, name=""):
        """mmap(2) without the fd lookup: returns the address of the new mapping."""
        if length == 0 or offset % PAGE_SIZE or offset < 0:
            raise SyscallError(errno.EINVAL)
        length = page_round_up(length)
        if length == 0 or length > GUEST_ADDRESS_LIMIT:
            raise SyscallError(errno.ENOMEM)
        addr = self._pick_address(addr, length, flags)
        if flags & MAP_ANONYMOUS:
            file = None
        kind = flags & MAP_TYPE
        # MAP_SHARED_VALIDATE asks a file to check the flags; anonymous memory knows only these two.
        if kind not in ((MAP_SHARED, MAP_PRIVATE) if file is None else (MAP_SHARED, MAP_PRIVATE, MAP_SHARED_VALIDATE)):
            raise SyscallError(errno.EINVAL)
        shared = kind != MAP_PRIVATE
        prot &= PROT_MASK
        vma = Vma(addr, addr + length, prot, shared=shared, file=file,
                  file_size=file.size() if file is not None else 0,
                  offset=offset if file is not None else 0,
                  name=name or (getattr(file, "path", "") if file is not None else ""),
                  anon_shared_id=next(_shared_ids) if shared and file is None else None,
                  locked=self.lock_future or bool(flags & MAP_LOCKED))
        self._install(vma)
        return addr

    @staticmethod
    def _maps_from_fd(vma):
        """Whether the host maps `vma`'s file itself (sharing its pages) rather than a copy."""
        return getattr(vma.file, "host_fd", None) is not None and (vma.length >= MAP_FROM_FD_MIN or vma.shared)

    def _install(self, vma, insert=True):
        """Map `vma` on the host (anew, over whatever is there) and, with insert, record it."""
        from_fd = self._maps_from_fd(vma)
        if from_fd:
            self.space.map_file(vma.start, vma.length, vma.prot, vma.file.host_fd, vma.offset, shared=vma.shared)
        else:
            self.space.map(vma.start, vma.length, vma.prot, shared=vma.shared and vma.file is None)
        if insert:
            self.vmas.insert(vma)
        if vma.file is not None and not from_fd:
            self._fill_from_file(vma)
            self._fence_beyond_eof(vma)

    @staticmethod
    def _end_of_file_pages(vma):
        """The first address of `vma` whose page lies wholly past the end of its file."""
        return min(vma.end, vma.start + max(0, page_round_up(vma.file_size - vma.offset)))

    def _fence_beyond_eof(self, vma):
        """Pages past a file's end are inaccessible on the host, so touching them faults and
        classify_fault() can turn the fault into SIGBUS, as Linux does."""
        end = self._end_of_file_pages(vma)
        if end < vma.end and vma.prot:
            self.space.protect(end, vma.end - end, 0)

    def classify_fault(self, signo, code, addr):
        """(signo, code) for a host fault at `addr`: an access the VMA allows to a page past
        the end of its file is SIGBUS/BUS_ADRERR; anything else stays as the CPU reported it."""
        vma = self.vmas.find(addr)
        if (signo == SIGSEGV and vma is not None and vma.file is not None and vma.prot
                and addr >= self._end_of_file_pages(vma)):
            return SIGBUS, BUS_ADRERR
        if signo == SIGSEGV and code in (SEGV_MAPERR, SEGV_ACCERR):
            # A page fault: the VMAs, not the platform's page tables, say whether anything is mapped.
            return signo, SEGV_ACCERR if vma is not None else SEGV_MAPERR
        return signo, code

    def _fill_from_file(self, vma):
        wanted = max(0, min(vma.length, vma.file_size - vma.offset))
        position = 0
        while position < wanted:
            try:
                chunk = vma.file.pread(vma.offset + position, min(wanted - position, 1 << 20))
            except (SyscallError, OSError):
                break           # the file was closed since it was mapped: VMAs hold no reference yet
            if not chunk:
                break
            self.space.write(vma.start + position, chunk)
            position += len(chunk)

    def munmap(self, addr, length):
        """munmap(2): unmapping a range with nothing in it is not an error."""
        if addr % PAGE_SIZE or addr > USER_ADDRESS_END or length > USER_ADDRESS_END - addr:
            raise SyscallError(errno.EINVAL)
        end = addr + page_round_up(length)
        if end == addr:
            raise SyscallError(errno.EINVAL)
        removed = self.vmas.remove(addr, end)
        if removed:
            # Only where the guest had mappings: the stub's own pages lie above them.
            self.space.unmap(removed[0].start, removed[-1].end - removed[0].start)

    def _mapped_until(self, start, end, prot=0):
        """Where the run of mapped pages from `start` (allowing `prot`) stops (at most `end`)."""
        position = start
        for vma in self.vmas.overlapping(start, end):
            if vma.start > position or vma.prot & prot != prot:
                break
            position = vma.end
        return min(position, end)

    def mprotect(self, addr, length, prot):
        """mprotect(2). As in Linux, the mapped pages before the first hole change before ENOMEM."""
        if addr % PAGE_SIZE:
            raise SyscallError(errno.EINVAL)
        if length == 0:
            return
        end = addr + page_round_up(length)
        if end <= addr:
            raise SyscallError(errno.ENOMEM)
        growth = prot & (PROT_GROWSDOWN | PROT_GROWSUP)
        if prot & ~(PROT_MASK | PROT_SEM | growth) or growth == PROT_GROWSDOWN | PROT_GROWSUP:
            raise SyscallError(errno.EINVAL)
        prot &= PROT_MASK
        changed_end = self._mapped_until(addr, end)
        if changed_end > addr:
            self.space.protect(addr, changed_end - addr, prot)
            self.vmas.protect(addr, changed_end, prot)
            for vma in self.vmas.overlapping(addr, changed_end):
                if vma.file is not None:
                    self._fence_beyond_eof(vma)
        if changed_end < end:
            raise SyscallError(errno.ENOMEM)

    def _mapping_end(self, vma):
        """The end of the one mapping Linux would see `vma` as part of: the VmaSet never merges
        neighbours, Linux does."""
        last = vma
        for following in self.vmas.overlapping(vma.end, GUEST_ADDRESS_LIMIT):
            if not _mergeable(last, following):
                break
            last = following
        return last.end

    def mremap(self, old_addr, old_length, new_length, flags, new_addr):
        """mremap(2), with the checks in Linux's order."""
        if flags & ~(MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP):
            raise SyscallError(errno.EINVAL)
        if flags & MREMAP_FIXED and not flags & MREMAP_MAYMOVE:
            raise SyscallError(errno.EINVAL)
        # MREMAP_DONTUNMAP is always a move and does not resize.
        if flags & MREMAP_DONTUNMAP and (not flags & MREMAP_MAYMOVE or old_length != new_length):
            raise SyscallError(errno.EINVAL)
        if old_addr % PAGE_SIZE:
            raise SyscallError(errno.EINVAL)
        old_length, new_length = page_round_up(old_length), page_round_up(new_length)
        if new_length == 0:
            raise SyscallError(errno.EINVAL)
        if self.vmas.find(old_addr) is None:
            raise SyscallError(errno.EFAULT)
        if flags & (MREMAP_FIXED | MREMAP_DONTUNMAP):
            return self._remap_to(old_addr, old_length, new_length, new_addr, flags)
        if old_length >= new_length:
            if old_length > new_length:
                self.munmap(old_addr + new_length, old_length - new_length)
            return old_addr
        vma = self._resizable(old_addr, old_length)
        old_end, new_end = old_addr + old_length, old_addr + new_length
        if (old_end == self._mapping_end(vma) and new_end <= GUEST_ADDRESS_LIMIT
                and not self.vmas.overlapping(old_end, new_end)):
            self._grow_in_place(old_end, new_end)
            return old_addr
        if not flags & MREMAP_MAYMOVE:
            raise SyscallError(errno.ENOMEM)
        return self._move(old_addr, old_length, new_length, self._pick_address(0, new_length, 0))

    def _remap_to(self, old_addr, old_length, new_length, new_addr, flags):
        """mremap with MREMAP_FIXED or MREMAP_DONTUNMAP: always a move (Linux's mremap_to).
        Without MREMAP_FIXED, new_addr is a hint, but it is checked all the same."""
        if new_addr % PAGE_SIZE:
            raise SyscallError(errno.EINVAL)
        if new_length > USER_ADDRESS_END or new_addr > USER_ADDRESS_END - new_length:
            raise SyscallError(errno.EINVAL)
        if old_addr + old_length > new_addr and new_addr + new_length > old_addr:
            raise SyscallError(errno.EINVAL)
        if flags & MREMAP_FIXED:
            self._pick_address(new_addr, new_length, MAP_FIXED)
            self.munmap(new_addr, new_length)
        if old_length > new_length:
            self.munmap(old_addr + new_length, old_length - new_length)
            old_length = new_length
        self._resizable(old_addr, old_length)
        destination = new_addr if flags & MREMAP_FIXED else self._pick_address(new_addr, new_length, 0)
        return self._move(old_addr, old_length, new_length, destination,
                          keep_old=bool(flags & MREMAP_DONTUNMAP))

    def _resizable(self, old_addr, old_length):
        """The VMA at `old_addr` if [old_addr, old_addr + old_length) may be resized or moved
        (Linux's vma_to_resize): EFAULT across mappings, EINVAL for copying a private one."""
        vma = self.vmas.find(old_addr)
        if vma is None:
            raise SyscallError(errno.EFAULT)
        if old_length == 0 and not vma.shared:
            raise SyscallError(errno.EINVAL)
        if old_addr + old_length > self._mapping_end(vma):
            raise SyscallError(errno.EFAULT)
        return vma

    def _grow_in_place(self, old_end, new_end):
        last = self.vmas.find(old_end - 1)
        grown = last.replace(end=new_end)
        if last.file is None:
            self.space.remap(last.start, last.length, grown.length)
        else:
            self._install(grown.slice(old_end, new_end))
        self.vmas.insert(grown)

    def _move(self, old_addr, old_length, new_length, new_addr, keep_old=False):
        """Move the pages of [old_addr, old_addr + old_length) to new_addr, the last piece growing
        to make new_length; keep_old: MREMAP_DONTUNMAP. Anonymous memory moves on the host, so
        shared memory stays shared; file mappings are mapped again at the new place."""
        if old_length == 0:
            return self._duplicate_shared(old_addr, new_length, new_addr)
        end = old_addr + old_length
        pieces = [vma.slice(max(vma.start, old_addr), min(vma.end, end)) for vma in self.vmas.overlapping(old_addr, end)]
        for piece in pieces:
            destination = new_addr + (piece.start - old_addr)
            growth = new_length - old_length if piece is pieces[-1] else 0
            moved = piece.replace(start=destination, end=destination + piece.length + growth)
            if piece.file is None:
                self.space.remap(piece.start, piece.length, moved.length, destination, keep_old=keep_old)
                self.vmas.insert(moved)
            else:
                self._move_file_piece(piece, moved, keep_old)
        if not keep_old:
            self.vmas.remove(old_addr, end)
        return new_addr

    def _move_file_piece(self, piece, moved, keep_old):
        # Private pages (and the sandbox's own copy of a shared file) carry what the guest wrote.
        carried = b""
        if not (piece.shared and self._maps_from_fd(piece)):
            carried = self.space.read(piece.start, self._end_of_file_pages(piece) - piece.start)
        self._install(moved)
        if carried:
            self.space.write(moved.start, carried)
        if keep_old:
            self._drop_pages(piece)
        else:
            self.space.unmap(piece.start, piece.length)

    def _duplicate_shared(self, old_addr, new_length, new_addr):
        """mremap with old_size 0: a second mapping of the same shared memory."""
        vma = self.vmas.find(old_addr)
        copy = vma.slice(old_addr, vma.end).replace(start=new_addr, end=new_addr + new_length)
        if vma.file is not None:
            self._install(copy)
        else:
            self.space.remap(old_addr, 0, new_length, new_addr)
            self.vmas.insert(copy)
        return new_addr

    def madvise(self, addr, length, advice):
        """madvise(2): MADV_DONTNEED, MADV_FREE and MADV_DONTNEED_LOCKED (which locked mappings
        allow) drop pages, other advice changes nothing here.
        As in Linux, the mapped parts of a range with holes are acted on before ENOMEM, and the
        mappings before one that refuses the advice (EINVAL) are acted on before it."""
        if addr % PAGE_SIZE:
            raise SyscallError(errno.EINVAL)
        end = addr + page_round_up(length)
        if end < addr or (length and end == addr):
            raise SyscallError(errno.EINVAL)
        if end == addr:
            return
        for vma in self.vmas.overlapping(addr, end):
            if advice in MADV_NOT_FOR_LOCKED and vma.locked:
                raise SyscallError(errno.EINVAL)
            if advice == MADV_FREE and (vma.shared or vma.file is not None):
                raise SyscallError(errno.EINVAL)       # only private anonymous memory can be freed
            if advice in (MADV_DONTNEED, MADV_FREE, MADV_DONTNEED_LOCKED):
                self._drop_pages(vma.slice(max(vma.start, addr), min(vma.end, end)))
        if not self.vmas.is_fully_mapped(addr, end):
            raise SyscallError(errno.ENOMEM)

    def _drop_pages(self, piece):
        """MADV_DONTNEED: private pages start over (zero, or the file's content) by mapping the
        piece anew, which spares the stubs a madvise(2) of their own; shared pages stay, as the
        file or the shared memory holds them."""
        if piece.shared:
            return
        self._install(piece, insert=False)

    def set_brk(self, new_brk):
        """brk(2): returns the new break, or the old one when it cannot move."""
        if new_brk < self.brk_start:
            return self.brk
        old_top, new_top = page_round_up(self.brk), page_round_up(new_brk)
        if new_top > old_top:
            # Linux keeps a page free between the heap and the next mapping.
            if new_top > self.mmap_base or self.vmas.overlapping(old_top, new_top + PAGE_SIZE):
                return self.brk
            self._install(Vma(old_top, new_top, PROT_READ | PROT_WRITE, name="[heap]", locked=self.lock_future))
        elif new_top < old_top:
            self.vmas.remove(new_top, old_top)
            self.space.unmap(new_top, old_top - new_top)
        self.brk = new_brk
        return self.brk

    # -- lifetime ---------------------------------------------------------
    def locked_bytes(self):
        """What mlock(2) has locked (Linux's locked_vm), in bytes."""
        return sum(vma.length for vma in self.vmas if vma.locked)

    def fork(self, address_space):
        """The child's MemoryManager after the platform copied the address space."""
        child = MemoryManager(address_space)
        child.vmas = self.vmas.copy()
        if self.space in _SPACES_WITH_FILE_WINDOWS:
            _SPACES_WITH_FILE_WINDOWS.add(address_space)      # the platform's copy has them too
        for vma in [vma for vma in child.vmas if vma.locked]:
            child.vmas.update(vma.start, vma.end, locked=False)     # memory locks are not inherited
        child.brk_start, child.brk = self.brk_start, self.brk
        child.mmap_base, child.stack_top = self.mmap_base, self.stack_top
        return child

    def release(self):
        self.users -= 1
        if self.users <= 0:
            self.space.release()
            for hook in list(self.release_hooks):    # a hook may take itself off the list
                hook(self)

    def render_maps(self):
        """/proc/PID/maps, with neighbours Linux would have merged shown as one line."""
        runs = []
        for vma in self.vmas:
            if runs and _mergeable(runs[-1], vma):
                runs[-1] = runs[-1].replace(end=vma.end)
            else:
                runs.append(vma)
        lines = []
        for vma in runs:
            perms = "".join(flag if vma.prot & bit else "-" for flag, bit in
                            (("r", PROT_READ), ("w", PROT_WRITE), ("x", PROT_EXEC)))
            perms += "s" if vma.shared else "p"
            inode = getattr(vma.file, "inode", 0) if vma.file is not None else 0
            device = "08:01" if vma.file is not None else "00:00"
            name = vma.name
            line = f"{vma.start:08x}-{vma.end:08x} {perms} {vma.offset:08x} {device} {inode}"
            lines.append(f"{line:<72} {name}".rstrip() if name else line)
        return "\n".join(lines) + "\n"


def _mergeable(a, b):
    """Whether Linux would keep neighbours `a` and `b` as one mapping: same kind of memory, same
    protection and NUMA policy, and for a file the next offset."""
    return (a.end == b.start and a.prot == b.prot and a.shared == b.shared and a.name == b.name
            and a.file is b.file and a.anon_shared_id == b.anon_shared_id and a.policy == b.policy
            and (a.file is None or b.offset == a.offset + a.length))
