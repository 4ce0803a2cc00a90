"""MemoryManager: a process's address space as the sentry sees it.

The VmaSet is the truth (it decides what the guest may touch and what
/proc/PID/maps says); the platform AddressSpace mirrors it on the host.
"""
import dataclasses
import errno
import itertools

from pysandbox.platform.ptrace.stub import GUEST_ADDRESS_LIMIT
from pysandbox.sentry.errors import SyscallError
from pysandbox.sentry.vma import PAGE_SIZE, Vma, VmaSet, page_round_down, page_round_up

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
MREMAP_MAYMOVE, MREMAP_FIXED, MREMAP_DONTUNMAP = 1, 2, 4
MADV_DONTNEED, MADV_FREE = 4, 8
SIGBUS, SIGSEGV, BUS_ADRERR = 7, 11, 2

MIN_ADDRESS = 0x10000                      # vm.mmap_min_addr
# Host files at least this large are mapped by the platform from their fd (the host shares
# their pages and does copy-on-write); smaller ones are cheaper to copy in.
MAP_FROM_FD_MIN = 64 * 1024
STACK_TOP = GUEST_ADDRESS_LIMIT - 0x1000000
MMAP_BASE = STACK_TOP - 0x8000000          # 8 MiB stack + a gap, like Linux's mmap_base

_shared_ids = itertools.count(1)


class MemoryManager:
    def __init__(self, address_space):
        self.space = address_space
        self.vmas = VmaSet()
        self.brk_start = self.brk = 0
        self.mmap_base = MMAP_BASE
        self.stack_top = STACK_TOP
        self.users = 1                      # tasks sharing it (CLONE_VM)

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

    def copy_in_str(self, addr, limit):
        """A NUL-terminated string of at most `limit` bytes (ENAMETOOLONG beyond)."""
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
        raise SyscallError(errno.ENAMETOOLONG)

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
        kind = flags & MAP_TYPE
        if length == 0 or kind not in (MAP_SHARED, MAP_PRIVATE, MAP_SHARED_VALIDATE):
            raise SyscallError(errno.EINVAL)
        if offset % PAGE_SIZE or offset < 0:
            raise SyscallError(errno.EINVAL)
        length = page_round_up(length)
        if length == 0 or length > GUEST_ADDRESS_LIMIT:
            raise SyscallError(errno.ENOMEM)
        shared = kind != MAP_PRIVATE
        prot &= PROT_MASK
        addr = self._pick_address(addr, length, flags)
        if flags & MAP_ANONYMOUS:
            file = None
        vma = Vma(addr, addr + length, prot, shared=shared, file=file,
                  file_size=file.size() if file is not None else 0,
                  offset=offset if file is not None else 0,
                  name=name or (getattr(file, "path", "") if file is not None else ""),
                  anon_shared_id=next(_shared_ids) if shared and file is None else None)
        self._install(vma)
        return addr

    def _install(self, vma):
        host_fd = getattr(vma.file, "host_fd", None)
        if host_fd is not None and (vma.length >= MAP_FROM_FD_MIN or vma.shared):
            self.space.map_file(vma.start, vma.length, vma.prot, host_fd, vma.offset, shared=vma.shared)
            self.vmas.insert(vma)
            return
        self.space.map(vma.start, vma.length, vma.prot, shared=vma.shared and vma.file is None)
        self.vmas.insert(vma)
        if vma.file is not None:
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
        if addr % PAGE_SIZE or length == 0:
            raise SyscallError(errno.EINVAL)
        length = page_round_up(length)
        if addr + length > GUEST_ADDRESS_LIMIT or addr + length < addr:
            raise SyscallError(errno.EINVAL)
        if self.vmas.overlapping(addr, addr + length):
            self.vmas.remove(addr, addr + length)
            self.space.unmap(addr, length)

    def mprotect(self, addr, length, prot):
        if addr % PAGE_SIZE or prot & ~(PROT_MASK | PROT_GROWSDOWN | PROT_GROWSUP):
            raise SyscallError(errno.EINVAL)
        length = page_round_up(length)
        if length == 0:
            return
        if addr + length > GUEST_ADDRESS_LIMIT or not self.vmas.is_fully_mapped(addr, addr + length):
            raise SyscallError(errno.ENOMEM)
        prot &= PROT_MASK
        self.space.protect(addr, length, prot)
        self.vmas.protect(addr, addr + length, prot)
        for vma in self.vmas.overlapping(addr, addr + length):
            if vma.file is not None:
                self._fence_beyond_eof(vma)

    def mremap(self, old_addr, old_length, new_length, flags, new_addr):
        if flags & ~(MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP) or old_addr % PAGE_SIZE:
            raise SyscallError(errno.EINVAL)
        if flags & MREMAP_FIXED and not flags & MREMAP_MAYMOVE:
            raise SyscallError(errno.EINVAL)
        old_length, new_length = page_round_up(old_length), page_round_up(new_length)
        if new_length == 0:
            raise SyscallError(errno.EINVAL)
        vma = self.vmas.find(old_addr)
        if vma is None or old_length and old_addr + old_length > vma.end:
            raise SyscallError(errno.EFAULT)
        if old_length == 0 and not vma.shared:
            raise SyscallError(errno.EINVAL)
        if not flags & MREMAP_FIXED:
            if new_length <= old_length:
                if new_length < old_length:
                    self.munmap(old_addr + new_length, old_length - new_length)
                return old_addr
            tail = old_addr + old_length
            if (old_addr + new_length <= GUEST_ADDRESS_LIMIT
                    and not self.vmas.overlapping(tail, old_addr + new_length)
                    and old_addr + old_length == vma.end):
                grown = vma.slice(vma.start, vma.end)
                extra = dataclasses.replace(grown, start=tail, end=old_addr + new_length,
                                            offset=grown.offset + (tail - grown.start) if grown.file else 0)
                self._install(extra)
                return old_addr
            if not flags & MREMAP_MAYMOVE:
                raise SyscallError(errno.ENOMEM)
            new_addr = self._pick_address(0, new_length, 0)
        else:
            if new_addr % PAGE_SIZE:
                raise SyscallError(errno.EINVAL)
            if new_addr < old_addr + max(old_length, 1) and old_addr < new_addr + new_length:
                raise SyscallError(errno.EINVAL)
            new_addr = self._pick_address(new_addr, new_length, MAP_FIXED)
        return self._move(vma, old_addr, old_length or new_length, new_length, new_addr)

    def _move(self, vma, old_addr, old_length, new_length, new_addr):
        keep = min(old_length, new_length)
        data = self.space.read(old_addr, keep)
        piece = vma.slice(old_addr, old_addr + keep)
        moved = dataclasses.replace(piece, start=new_addr, end=new_addr + new_length, file=None,
                                    offset=0) if vma.file is None else dataclasses.replace(
                                        piece, start=new_addr, end=new_addr + new_length)
        if self.vmas.overlapping(new_addr, new_addr + new_length):
            self.munmap(new_addr, new_length)
        self.space.map(new_addr, new_length, moved.prot, shared=moved.shared and moved.file is None)
        self.vmas.insert(moved)
        self.space.write(new_addr, data)
        self.munmap(old_addr, old_length)
        return new_addr

    def madvise(self, addr, length, advice):
        if addr % PAGE_SIZE:
            raise SyscallError(errno.EINVAL)
        length = page_round_up(length)
        if length and not self.vmas.is_fully_mapped(addr, addr + length):
            raise SyscallError(errno.ENOMEM)
        if advice in (MADV_DONTNEED, MADV_FREE) and length:
            for vma in self.vmas.overlapping(addr, addr + length):
                start, end = max(vma.start, addr), min(vma.end, addr + length)
                self.space.discard(start, end - start)
                if vma.file is not None and not vma.shared:
                    self._fill_from_file(vma.slice(start, end))

    def set_brk(self, new_brk):
        """brk(2): returns the new break, or the old one when it cannot move."""
        if new_brk < self.brk_start:
            return self.brk
        old_top, new_top = page_round_up(self.brk), page_round_up(new_brk)
        if new_top > old_top:
            if new_top > self.mmap_base or self.vmas.overlapping(old_top, new_top):
                return self.brk
            self._install(Vma(old_top, new_top, PROT_READ | PROT_WRITE, name="[heap]"))
        elif new_top < old_top:
            self.vmas.remove(new_top, old_top)
            self.space.unmap(new_top, old_top - new_top)
        self.brk = new_brk
        return self.brk

    # -- lifetime ---------------------------------------------------------
    def fork(self, address_space):
        """The child's MemoryManager after the platform copied the address space."""
        child = MemoryManager(address_space)
        child.vmas = self.vmas.copy()
        child.brk_start, child.brk = self.brk_start, self.brk
        child.mmap_base, child.stack_top = self.mmap_base, self.stack_top
        return child

    def release(self):
        self.users -= 1
        if self.users <= 0:
            self.space.release()

    def render_maps(self):
        lines = []
        for vma in self.vmas:
            perms = "".join(flag if vma.prot & bit else "-" for flag, bit in
                            (("r", PROT_READ), ("w", PROT_WRITE), ("x", PROT_EXEC)))
            perms += "s" if vma.shared else "p"
            inode = getattr(vma.file, "inode", 0) if vma.file is not None else 0
            device = "08:01" if vma.file is not None else "00:00"
            name = vma.name
            line = f"{vma.start:08x}-{vma.end:08x} {perms} {vma.offset:08x} {device} {inode}"
            lines.append(f"{line:<72} {name}".rstrip() if name else line)
        return "\n".join(lines) + "\n"
