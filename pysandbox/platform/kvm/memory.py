"""The KVM platform's guest-physical memory: the memory file (memslot 0), handed out a page
at a time, and the memslots that map host files into the guest (docs/KVM.md)."""
import ctypes
import errno
import fcntl
import mmap
import os

from pysandbox.platform.kvm import bindings as kvm
from pysandbox.platform.kvm._vcpu import lib
from pysandbox.sentry.errors import SyscallError

PAGE = 4096
PAGE_SHIFT = 12
MEMORY_SIZE = 8 << 30                     # sparse: the host backs only the pages the guest uses
ZERO_PAGE = bytes(PAGE)
MEMORY_PAGES = MEMORY_SIZE >> PAGE_SHIFT
FILE_SLOT_ALIGN = 2 << 20
RELEASE_AT_LEAST = 256                    # pages: fewer freed at once stay for reuse


class PhysicalMemory:
    """The memory file: guest-physical pages, handed out one at a time.

    Pages that held page tables are only reused after a flush (re-adding the
    memslot), since KVM's shadow of a table outlives the table otherwise."""

    def __init__(self, vm_fd):
        self._vm = vm_fd
        self.fd = os.memfd_create("pysandbox-memory", os.MFD_CLOEXEC)
        os.ftruncate(self.fd, MEMORY_SIZE)
        self.map = mmap.mmap(self.fd, MEMORY_SIZE, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        self.view = memoryview(self.map)
        self.words = self.view.cast("Q")
        self.address = ctypes.addressof(ctypes.c_char.from_buffer(self.map))
        self._next = 1                      # page 0 stays unused
        self._free = []                     # free pages that may hold old data
        self._released = []                 # free pages given back to the host (see release_pages)
        self._retired_tables = []
        self.flushes = 0
        self.shared_refs = {}
        self.fork_refs = {}                 # page -> processes holding it since a fork (FORKED)
        # Pages of shared anonymous memory that no mapping refers to any more (SharedAnonymous):
        # freed by the next address space operation, after its _commit.
        self.orphans = []
        self._slots = []                    # FileSlot, memslots 1...
        self._file_slots = {}               # (st_dev, st_ino) -> [FileSlot]
        self._next_slot_base = MEMORY_SIZE
        self._region = kvm.kvm_userspace_memory_region(0, 0, 0, MEMORY_SIZE, self.address)
        kvm.ioctl(self._vm, kvm.KVM_SET_USER_MEMORY_REGION, self._region)

    def alloc_page(self, zero=True):
        if self._free:
            page = self._free.pop()
            if zero:
                self.view[page << PAGE_SHIFT:(page + 1) << PAGE_SHIFT] = ZERO_PAGE
            return page
        if self._released:
            return self._released.pop()      # given back to the host: zero already
        if (self._next + 1) << PAGE_SHIFT > MEMORY_SIZE:
            if self._retired_tables:
                self.flush()
                return self.alloc_page(zero)
            raise SyscallError(errno.ENOMEM)
        page = self._next
        self._next += 1
        return page

    alloc_table = alloc_page

    def free_page(self, page):
        self._free.append(page)

    def release_pages(self, pages):
        """Free `pages` and give their memory back to the host (MADV_REMOVE punches a hole in
        the memory file: KVM drops its mappings of them, and they read as zero when next used)."""
        pages = sorted(pages)
        start = 0
        for i in range(1, len(pages) + 1):
            if i == len(pages) or pages[i] != pages[i - 1] + 1:
                try:
                    self.map.madvise(mmap.MADV_REMOVE, pages[start] << PAGE_SHIFT, (i - start) << PAGE_SHIFT)
                    self._released.extend(pages[start:i])
                except OSError:
                    self._free.extend(pages[start:i])        # no hole: they stay ours, to be zeroed
                start = i

    def retire_table(self, page):
        self._retired_tables.append(page)

    def set_entry(self, table, index, value):
        self.words[(table << 9) + index] = value

    def write_page(self, page, data):
        self.view[page << PAGE_SHIFT:(page << PAGE_SHIFT) + len(data)] = data

    def copy_page(self, source, destination):
        self.view[destination << PAGE_SHIFT:(destination + 1) << PAGE_SHIFT] = \
            self.view[source << PAGE_SHIFT:(source + 1) << PAGE_SHIFT]

    def flush(self):
        """Make every vCPU forget the translations it cached: KVM drops its shadow page
        tables when the memslot goes, and builds them again from ours afterwards."""
        self.flushes += 1
        empty = kvm.kvm_userspace_memory_region(0, 0, 0, 0, self.address)
        # A vCPU in the guest between the two calls would find no memory at all.
        lib.psk_pause_all()
        try:
            kvm.ioctl(self._vm, kvm.KVM_SET_USER_MEMORY_REGION, empty)
            kvm.ioctl(self._vm, kvm.KVM_SET_USER_MEMORY_REGION, self._region)
        finally:
            lib.psk_unpause_all()
        self._free.extend(self._retired_tables)
        self._retired_tables.clear()

    def file_slot(self, host_fd, offset, length):
        """A memslot holding the pages of host file `host_fd` around [offset, offset + length):
        the host's page cache itself, so the guest shares them with every other mapping of
        the file. Slots of one file are reused while they cover the range asked for."""
        info = os.fstat(host_fd)
        key = (info.st_dev, info.st_ino)
        for slot in self._file_slots.get(key, ()):
            if slot.size >= offset + length:
                return slot
        size = max(offset + length, (info.st_size + PAGE - 1) & ~(PAGE - 1))
        size = (size + FILE_SLOT_ALIGN - 1) & ~(FILE_SLOT_ALIGN - 1)
        writable = fd_writable(host_fd)
        slot = FileSlot(host_fd, size, writable, self._next_slot_base, len(self._slots) + 1)
        flags = 0 if writable else kvm.KVM_MEM_READONLY
        region = kvm.kvm_userspace_memory_region(slot.number, flags, slot.base, size, slot.address)
        try:
            kvm.ioctl(self._vm, kvm.KVM_SET_USER_MEMORY_REGION, region)
        except OSError as error:
            slot.close()
            raise SyscallError(error.errno or errno.ENOMEM) from None
        self._next_slot_base += size
        self._slots.append(slot)
        self._file_slots.setdefault(key, []).append(slot)
        return slot

    def locate(self, page):
        """(view, byte offset) of guest-physical page `page`."""
        if page < MEMORY_PAGES:
            return self.view, page << PAGE_SHIFT
        address = page << PAGE_SHIFT
        for slot in self._slots:
            if slot.base <= address < slot.base + slot.size:
                return slot.view, address - slot.base
        raise SyscallError(errno.EFAULT)

    def address_of(self, view):
        """The host address where `view` (the memory file's or a file slot's, as locate() gives) starts."""
        if view is self.view:
            return self.address
        return next(slot.address for slot in self._slots if slot.view is view)

    def close(self):
        for slot in self._slots:
            slot.close()
        self.words.release()
        self.view.release()
        try:
            self.map.close()
        except BufferError:
            pass        # a view of guest memory handed to a host write is still referenced: it goes with it
        os.close(self.fd)


def fd_writable(host_fd):
    return fcntl.fcntl(host_fd, fcntl.F_GETFL) & os.O_ACCMODE == os.O_RDWR


def fd_readable(host_fd):
    return fcntl.fcntl(host_fd, fcntl.F_GETFL) & os.O_ACCMODE in (os.O_RDONLY, os.O_RDWR)


class CopyOnWrite:
    """The kind of a page of a private file mapping still backed by the file (read-only)."""

    def __init__(self, slot):
        self.slot = slot


class SharedSinceFork(CopyOnWrite):
    """The kind of a private anonymous page a fork left to several processes: read-only in
    each until one of them writes to it; PhysicalMemory.fork_refs counts its holders."""


FORKED = SharedSinceFork(None)


class FileSlot:
    """A host file mapped shared into the sentry and given to KVM as a memslot. libc's mmap,
    not Python's: the slot may reach past the end of the file (those pages are never put in
    a page table)."""

    def __init__(self, host_fd, size, writable, base, number):
        self.size, self.base, self.number, self.writable = size, base, number, writable
        self.copy_on_write = CopyOnWrite(self)
        prot = mmap.PROT_READ | (mmap.PROT_WRITE if writable else 0)
        address = _libc.mmap(None, size, prot, mmap.MAP_SHARED, host_fd, 0)
        if address in (None, ctypes.c_void_p(-1).value):
            raise SyscallError(ctypes.get_errno() or errno.ENOMEM)
        self.address = address
        self.view = memoryview((ctypes.c_char * size).from_address(address)).cast("B")

    def close(self):
        self.view.release()
        _libc.munmap(ctypes.c_void_p(self.address), self.size)


_libc = ctypes.CDLL(None, use_errno=True)
_libc.mmap.restype = ctypes.c_void_p
_libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
_libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
_libc.pread.restype = ctypes.c_ssize_t
_libc.pread.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_long]


def pread_to_address(host_fd, address, size, offset):
    """pread(2) into sentry memory at `address` (Python's os.pread can only return new bytes)."""
    got = _libc.pread(host_fd, address, size, offset)
    if got < 0:
        raise SyscallError(ctypes.get_errno() or errno.EIO)
    return got
