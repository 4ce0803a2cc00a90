"""One guest address space on the KVM platform: its 4-level page tables in the memory file,
and how changes to them reach vCPUs whose KVM shadows cache the old entries (docs/KVM.md)."""
import array
import bisect
import errno
import itertools
import os

from pysandbox.platform.kvm._vcpu import lib
from pysandbox.platform.kvm.memory import (FORKED, MEMORY_PAGES, PAGE, PAGE_SHIFT, RELEASE_AT_LEAST, CopyOnWrite,
                                           FileSlot, SharedSinceFork, fd_readable, pread_to_address)
from pysandbox.sentry.errors import SyscallError

# The sandbox's own pages (machine.py) sit at and above this address, the guest's limit.
PLATFORM_BASE = 0x7FF000000000
PTE_PRESENT, PTE_WRITE, PTE_USER, PTE_ACCESSED = 1, 2, 4, 0x20
PTE_NX = 1 << 63
TABLE_ENTRY = PTE_PRESENT | PTE_WRITE | PTE_USER
PROT_READ, PROT_WRITE, PROT_EXEC = 1, 2, 4
PF_PROTECTION, PF_WRITE, PF_FETCH = 1, 2, 16
FAULT_AROUND_AHEAD, FAULT_AROUND_BEHIND = 64, 8      # pages given memory with a faulting one
PAST_END = "past the end of its shared object"      # the kind of a page that has none
COPY_ON_WRITE_KINDS = (CopyOnWrite, SharedSinceFork)   # pages a write must copy (or take back) first


class SharedAnonymous:
    """MAP_SHARED anonymous memory: its pages by index, given at the first touch in any process
    that maps it (a fork's, or an mremap of old length 0), so that all see the same page. A
    lazy run of it says (prot, (this, delta)): page vpn is index vpn + delta. It holds one
    reference (shared_refs) to each of its pages; when no run refers to it, it is gone and those
    pages with no other holder become orphans."""

    def __init__(self, space):
        self.pages = {}
        self.shared_refs = space.shared_refs
        self.orphans = space.orphans

    def page(self, index, memory):
        page = self.pages.get(index)
        if page is None:
            page = self.pages[index] = memory.alloc_page()
            self.shared_refs[page] = 1
        return page

    def __del__(self):
        for page in self.pages.values():
            left = self.shared_refs.get(page, 1) - 1
            if left > 0:
                self.shared_refs[page] = left
            else:
                self.shared_refs.pop(page, None)
                self.orphans.append(page)


def _refuses(prot, error_code):
    """Whether protection `prot` refuses the access of a page fault with `error_code`."""
    return not prot or (error_code & PF_WRITE and not prot & PROT_WRITE) \
        or (error_code & PF_FETCH and not prot & PROT_EXEC)


def _shifted(value, shift):
    """A lazy run's (prot, kind) after its pages move up by `shift`."""
    prot, kind = value
    return (prot, (kind[0], kind[1] - shift)) if type(kind) is tuple else value


class LazyRanges:
    """Runs of virtual pages mapped without memory yet, each with one (prot, kind): kind False
    for private anonymous memory given at the first touch, (SharedAnonymous, delta) for shared
    anonymous memory, PAST_END for shared memory grown past its object. Sorted, non-overlapping
    [start, end) page runs, so that mapping, protecting or unmapping a huge range costs the
    number of runs it meets, not of pages."""

    def __init__(self):
        self.starts, self.ends, self.values = [], [], []

    def copy(self):
        other = LazyRanges()
        other.starts, other.ends, other.values = self.starts[:], self.ends[:], self.values[:]
        return other

    def __len__(self):
        return len(self.starts)

    def run_of(self, vpn):
        """(start, end, (prot, kind)) of the run holding page `vpn`, or None."""
        i = bisect.bisect_right(self.starts, vpn) - 1
        if i >= 0 and vpn < self.ends[i]:
            return self.starts[i], self.ends[i], self.values[i]
        return None

    def get(self, vpn):
        run = self.run_of(vpn)
        return None if run is None else run[2]

    def _overlapping(self, first, end):
        return bisect.bisect_right(self.ends, first), bisect.bisect_left(self.starts, end)

    def pieces(self, first, end):
        """The runs within [first, end), cut to it."""
        lo, hi = self._overlapping(first, end)
        return [(max(first, self.starts[i]), min(end, self.ends[i]), self.values[i]) for i in range(lo, hi)]

    def clear(self, first, end):
        lo, hi = self._overlapping(first, end)
        if lo >= hi:
            return
        kept = []
        if self.starts[lo] < first:
            kept.append((self.starts[lo], first, self.values[lo]))
        if self.ends[hi - 1] > end:
            kept.append((end, self.ends[hi - 1], self.values[hi - 1]))
        self.starts[lo:hi] = [run[0] for run in kept]
        self.ends[lo:hi] = [run[1] for run in kept]
        self.values[lo:hi] = [run[2] for run in kept]

    def assign(self, first, end, value):
        """Pages [first, end) become one run of `value`, joined to equal neighbours."""
        if first >= end:
            return
        self.clear(first, end)
        i = bisect.bisect_left(self.starts, first)
        if i > 0 and self.ends[i - 1] == first and self.values[i - 1] == value:
            i -= 1
            first = self.starts[i]
            del self.starts[i], self.ends[i], self.values[i]
        if i < len(self.starts) and self.starts[i] == end and self.values[i] == value:
            end = self.ends[i]
            del self.starts[i], self.ends[i], self.values[i]
        self.starts.insert(i, first)
        self.ends.insert(i, end)
        self.values.insert(i, value)


class KvmAddressSpace:
    """One guest address space: its page tables and the guest-physical page behind each
    virtual page that has memory (`pages`), and the runs of pages mapped that have none yet
    (`lazy`, which `pages` overrides where both hold a page): range operations cost the pages
    touched and the runs met, never the size of the range."""

    def __init__(self, platform):
        self.platform = platform
        self.memory = platform.memory
        self.root = self.memory.alloc_table()
        self.tables = {}                # (level, va >> shift) -> table page, for levels 3..1
        self.pages = {}                 # vpn -> [physical page, prot, shared]
        self.lazy = LazyRanges()        # pages mapped without memory yet
        self.orphans = platform.memory.orphans             # pages freed after the next _commit
        self.shared_refs = platform.memory.shared_refs     # page -> mappings of shared anonymous memory
        self.fork_refs = platform.memory.fork_refs         # page -> processes sharing it since a fork
        self.contexts = set()
        self.released = False
        self.past_run_ns = 0
        self._stale_tables = set()          # keys of leaf tables whose old entries a vCPU may cache
        self._dropped = []                  # pages to free at the end of the operation
        self._table(PLATFORM_BASE, 3)
        upper = self.tables[(3, PLATFORM_BASE >> 39)]
        self.memory.set_entry(upper, (PLATFORM_BASE >> 30) & 511,
                              (platform._shared_directory << PAGE_SHIFT) | TABLE_ENTRY)

    # -- page tables -------------------------------------------------------------------
    def _table(self, va, level):
        """The table of `level` (3: PDPT, 2: PD, 1: PT) covering `va`, made as needed."""
        key = (level, va >> (12 + 9 * level))
        table = self.tables.get(key)
        if table is not None:
            return table
        parent = self.root if level == 3 else self._table(va, level + 1)
        table = self.memory.alloc_table()
        self.memory.set_entry(parent, (va >> (12 + 9 * level)) & 511, (table << PAGE_SHIFT) | TABLE_ENTRY)
        self.tables[key] = table
        return table

    def _set_pte(self, vpn, value, invalidate=True):
        """Write the leaf entry of page `vpn`. A vCPU may have cached the old entry when its
        Accessed bit is set: then its table is marked for _commit() to replace."""
        va = vpn << PAGE_SHIFT
        key = (1, va >> 21)
        table = self.tables.get(key)
        if table is None:
            if not value:
                return
            table = self._table(va, 1)
        index = (table << 9) + (vpn & 511)
        old = self.memory.words[index]
        if old & PTE_ACCESSED:
            if invalidate:
                self._stale_tables.add(key)
            elif value:
                value |= PTE_ACCESSED         # KVM may still cache the old entry: keep saying so
        self.memory.words[index] = value

    def _set_ptes(self, first, values):
        """_set_pte for the run of pages first, first + 1, ...: one table's part at a time."""
        words = self.memory.words
        position = 0
        while position < len(values):
            vpn = first + position
            count = min(len(values) - position, 512 - (vpn & 511))
            chunk = values[position:position + count]
            position += count
            key = (1, vpn >> 9)
            table = self.tables.get(key)
            if table is None:
                if not any(chunk):
                    continue
                table = self._table(vpn << PAGE_SHIFT, 1)
            start = (table << 9) + (vpn & 511)
            if any(old & PTE_ACCESSED for old in words[start:start + count]):
                self._stale_tables.add(key)
            words[start:start + count] = array.array("Q", chunk)

    def _commit(self):
        """Make the guest see the entries that took something away. KVM keeps its shadow of a
        table until the guest stops using it, and reads ours again only for tables it has
        never seen: so each changed table moves to a fresh page, with the tables above it up
        to a new root, and this address space's vCPUs load the new root (measured: a CR3
        reload alone is not enough on PVM; see docs/KVM.md)."""
        if not self._stale_tables:
            self._free_dropped()
            return
        memory = self.memory
        changed = set(self._stale_tables)
        for key in list(changed):
            level, index = key
            while level < 3:
                level, index = level + 1, index >> 9
                changed.add((level, index))
        self._stale_tables.clear()
        new_root = memory.alloc_page(zero=False)
        memory.copy_page(self.root, new_root)
        memory.retire_table(self.root)
        self.root = new_root
        for level in (3, 2, 1):
            for key in sorted(k for k in changed if k[0] == level):
                old = self.tables[key]
                new = memory.alloc_page(zero=False)
                memory.copy_page(old, new)
                memory.retire_table(old)
                self.tables[key] = new
                parent = self.root if level == 3 else self.tables[(level + 1, key[1] >> 9)]
                memory.set_entry(parent, key[1] & 511, (new << PAGE_SHIFT) | TABLE_ENTRY)
        self.platform.load_root(self)
        self._free_dropped()

    def _free_dropped(self):
        """Pages unmapped by this operation become free only now: until the vCPUs had the new
        tables, a thread running guest code could still have reached them."""
        if self.orphans:
            self._dropped.extend(self.orphans)
            self.orphans.clear()
        if len(self._dropped) >= RELEASE_AT_LEAST:
            self.memory.release_pages(self._dropped)
        else:
            for page in self._dropped:
                self.memory.free_page(page)
        self._dropped.clear()

    @staticmethod
    def _pte(page, prot, kind=False):
        if not prot or page is None:
            return 0
        value = (page << PAGE_SHIFT) | PTE_PRESENT | PTE_USER
        if prot & PROT_WRITE and not isinstance(kind, CopyOnWrite):
            value |= PTE_WRITE
        if not prot & PROT_EXEC:
            value |= PTE_NX
        return value

    def _vpns_in(self, first, end):
        """The pages of [first, end) that have an entry, in order: by the range or by the
        entries, whichever is fewer."""
        pages = self.pages
        if end - first <= len(pages):
            return [vpn for vpn in range(first, end) if vpn in pages]
        return sorted(vpn for vpn in pages if first <= vpn < end)

    def _clear(self, first, end):
        """Pages [first, end) no longer mapped (the work of the caller's _commit)."""
        for vpn in self._vpns_in(first, end):
            self._drop(vpn)
        self.lazy.clear(first, end)

    def past_end(self, addr):
        """Whether `addr` is in shared memory grown past the end of its object (SIGBUS)."""
        value = self.lazy.get(addr >> PAGE_SHIFT)
        return addr >> PAGE_SHIFT not in self.pages and value is not None and value[1] is PAST_END

    def _drop(self, vpn):
        entry = self.pages.pop(vpn, None)
        if entry is None:
            return
        self._release_page(entry)
        self._set_pte(vpn, 0)

    def _release_page(self, entry):
        page, _prot, shared = entry
        if shared is FORKED:
            left = self.fork_refs[page] - 1
            if left:
                self.fork_refs[page] = left
                return
            del self.fork_refs[page]
        elif isinstance(shared, (FileSlot, CopyOnWrite)):
            return                          # the file's page, not ours
        elif shared:
            left = self.shared_refs.get(page, 1) - 1
            if left > 0:
                self.shared_refs[page] = left
                return
            self.shared_refs.pop(page, None)
        self._dropped.append(page)

    # -- the AddressSpace interface ------------------------------------------------------
    def map(self, addr, length, prot, shared=False):
        """Anonymous memory. Pages get their memory at the first touch (a page fault the
        platform answers itself); shared ones from their SharedAnonymous, so that every
        process mapping it sees the same page."""
        first, end = addr >> PAGE_SHIFT, (addr + length) >> PAGE_SHIFT
        self._clear(first, end)
        if shared:
            self.lazy.assign(first, end, (prot, (SharedAnonymous(self), -first)))
        elif prot:
            self.lazy.assign(first, end, (prot, False))
        self._commit()

    def _copy_private(self, vpn, entry, invalidate=True):
        """A file page of a private mapping, or a page shared since a fork, becomes the
        process's own: a copy, or the page itself when no other process holds it any more."""
        if entry[2] is FORKED:
            holders = self.fork_refs[entry[0]]
            if holders == 1:
                self._take_back(vpn, entry)
                return
            self.fork_refs[entry[0]] = holders - 1
        copy = self.memory.alloc_page(zero=False)
        view, start = self.memory.locate(entry[0])
        self.memory.view[copy << PAGE_SHIFT:(copy + 1) << PAGE_SHIFT] = view[start:start + PAGE]
        entry[0], entry[2] = copy, False
        self._set_pte(vpn, self._pte(copy, entry[1]), invalidate=invalidate)

    def _take_back(self, vpn, entry):
        """A page shared since a fork that this process alone holds now: writable again (more
        access: KVM sees it at its next fault, without a commit)."""
        del self.fork_refs[entry[0]]
        entry[2] = False
        self._set_pte(vpn, self._pte(entry[0], entry[1]), invalidate=False)

    def _take_back_around(self, vpn):
        """Fault around for _take_back: after a fork and an exec, the parent holds its pages
        alone again, and each write fault would otherwise cost an exit."""
        pages, fork_refs = self.pages, self.fork_refs
        for neighbour in itertools.chain(range(vpn + 1, vpn + FAULT_AROUND_AHEAD),
                                         range(vpn - 1, vpn - FAULT_AROUND_BEHIND, -1)):
            other = pages.get(neighbour)
            if other is not None and other[2] is FORKED and other[1] & PROT_WRITE and fork_refs[other[0]] == 1:
                self._take_back(neighbour, other)

    def _materialize(self, vpn, prot, kind=False):
        """Give a lazily mapped page its memory (a new entry: KVM sees it without a commit)."""
        if kind is False:
            entry = [self.memory.alloc_page(), prot, False]
        else:
            shared, delta = kind
            page = shared.page(vpn + delta, self.memory)
            self.shared_refs[page] += 1
            entry = [page, prot, True]
        self.pages[vpn] = entry
        self._set_pte(vpn, self._pte(entry[0], prot))
        return entry

    def fix_fault(self, addr, error_code):
        """A page fault on a page mapped lazily that its protection allows, or a write to a file
        page of a private mapping: give it memory and say so (the guest runs on); False for a
        fault the workload must get (also when the memory file is full: SIGSEGV, not a crash)."""
        try:
            return self._fix_fault(addr, error_code)
        except SyscallError:
            return False

    def _fix_fault(self, addr, error_code):
        vpn = addr >> PAGE_SHIFT
        entry = self.pages.get(vpn)
        if entry is None:
            return self._fix_lazy_fault(vpn, error_code)
        _page, prot, kind = entry
        if _refuses(prot, error_code):
            return False
        if error_code & PF_WRITE and isinstance(kind, CopyOnWrite):
            # No commit: KVM reads the new entry when the write faults again in its shadow.
            self._copy_private(vpn, entry, invalidate=False)
            self._take_back_around(vpn)
        # Otherwise the entry allows the access already: another vCPU faulted on the same
        # page first, and this fault was taken before that one was answered. Run it again.
        return True

    def _fix_lazy_fault(self, vpn, error_code):
        run = self.lazy.run_of(vpn)
        if run is None:
            return False
        start, end, (prot, kind) = run
        if kind is PAST_END or error_code & PF_PROTECTION or _refuses(prot, error_code):
            return False
        self._materialize(vpn, prot, kind)
        # Fault around, within the page's run: an exit costs tens of µs here, giving a page
        # memory about one, and memory is mostly touched in runs.
        pages = self.pages
        for neighbour in itertools.chain(range(vpn + 1, min(end, vpn + FAULT_AROUND_AHEAD)),
                                         range(vpn - 1, max(start - 1, vpn - FAULT_AROUND_BEHIND), -1)):
            if neighbour in pages:
                continue
            try:
                self._materialize(neighbour, prot, kind)
            except SyscallError:
                break
        return True

    def map_file(self, addr, length, prot, host_fd, offset, shared=False):
        """MAP_SHARED: the file's own pages, through a memslot; MAP_PRIVATE: a copy of them.
        Pages past the end of the file are left out, so touching them faults (SIGBUS)."""
        size = os.fstat(host_fd).st_size
        if shared or fd_readable(host_fd):
            self._map_file_pages(addr, length, prot, host_fd, offset, size, shared)
            return
        self.map(addr, length, prot or PROT_READ)           # lazily: the copy below touches the file's part
        if not prot:
            self.protect(addr, length, 0)
        wanted = max(0, min(length, size - offset))
        position = 0
        while position < wanted:
            chunk = os.pread(host_fd, min(wanted - position, 1 << 20), offset + position)
            if not chunk:
                break
            self.write(addr + position, chunk)
            position += len(chunk)
        end = addr + ((max(0, size - offset) + PAGE - 1) & ~(PAGE - 1))
        if end < addr + length:
            self.protect(end, addr + length - end, 0)

    def _map_file_pages(self, addr, length, prot, host_fd, offset, size, shared):
        """The file's own pages, through its memslot: shared, or copied at the first write."""
        slot = self.memory.file_slot(host_fd, offset, length)
        if shared and prot & PROT_WRITE and not slot.writable:
            raise SyscallError(errno.EACCES)
        kind = slot if shared else slot.copy_on_write
        in_file = max(0, min(length, ((size - offset + PAGE - 1) & ~(PAGE - 1)))) >> PAGE_SHIFT
        first, count = addr >> PAGE_SHIFT, length >> PAGE_SHIFT
        pages = self.pages
        self._clear(first, first + count)
        base = slot.base + offset >> PAGE_SHIFT
        pages.update((first + i, [base + i, prot, kind]) for i in range(in_file))
        flags = self._pte(0, prot, kind)            # the entry of page 0: its flags alone
        self._set_ptes(first, [(base + i) << PAGE_SHIFT | flags for i in range(in_file)] if flags else [0] * in_file)
        self._commit()

    def unmap(self, addr, length):
        self._clear(addr >> PAGE_SHIFT, (addr + length) >> PAGE_SHIFT)
        self._commit()

    def protect(self, addr, length, prot):
        """Pages with memory get new entries; lazy runs a new protection (and pages of the range
        mapped by nothing become lazy ones, unless `prot` is none)."""
        first, end = addr >> PAGE_SHIFT, (addr + length) >> PAGE_SHIFT
        vpns = self._vpns_in(first, end)
        pages, lazy = self.pages, self.lazy
        if prot & PROT_WRITE and any(isinstance(pages[vpn][2], FileSlot) and not pages[vpn][2].writable
                                     for vpn in vpns):
            raise SyscallError(errno.EACCES)          # MAP_SHARED of a file opened read-only
        runs = lazy.pieces(first, end)
        if prot:
            lazy.assign(first, end, (prot, False))
        for start, stop, (_old, kind) in runs:
            if kind is not False or not prot:
                lazy.assign(start, stop, (prot, kind))
        for vpn in vpns:
            entry = pages[vpn]
            old_prot = entry[1]
            entry[1] = prot
            # More access is seen by KVM at its next fault; less must be committed.
            self._set_pte(vpn, self._pte(entry[0], prot, entry[2]), invalidate=bool(old_prot & ~prot))
        self._commit()

    def remap(self, addr, length, new_length, new_addr=None, keep_old=False):
        """mremap: move the pages of [addr, addr + length) to new_addr (or grow in place);
        a growing tail gets fresh pages. old length 0 maps the same shared pages again."""
        destination = addr if new_addr is None else new_addr
        first, count = addr >> PAGE_SHIFT, length >> PAGE_SHIFT
        target, new_count = destination >> PAGE_SHIFT, new_length >> PAGE_SHIFT
        pages, lazy = self.pages, self.lazy
        if length == 0:
            moved = [(vpn - first, pages[vpn]) for vpn in self._vpns_in(first, first + new_count)]
            runs = [(start - first, stop - first, value)
                    for start, stop, value in lazy.pieces(first, first + new_count)]
            for start, stop, value in runs:
                self._clear(target + start, target + stop)
                lazy.assign(target + start, target + stop, _shifted(value, target - first))
            for i, entry in moved:
                kind = entry[2] if isinstance(entry[2], (FileSlot, CopyOnWrite)) else True
                if kind is FORKED:
                    self.fork_refs[entry[0]] += 1
                elif kind is True:
                    self.shared_refs[entry[0]] = self.shared_refs.get(entry[0], 1) + 1
                self._drop(target + i)
                pages[target + i] = [entry[0], entry[1], kind]
                self._set_pte(target + i, self._pte(entry[0], entry[1], kind))
            self._commit()
            return
        moved = [(vpn - first, pages.pop(vpn)) for vpn in self._vpns_in(first, first + count)]
        for i, _entry in moved:
            self._set_pte(first + i, 0)
        runs = [(start - first, stop - first, value) for start, stop, value in lazy.pieces(first, first + count)]
        lazy.clear(first, first + count)
        # The protection of the last page mapped decides the growing tail's.
        prot, shared = PROT_READ | PROT_WRITE, False
        if moved and (not runs or moved[-1][0] >= runs[-1][1] - 1):
            prot, shared = moved[-1][1][1], moved[-1][1][2] is True
        elif runs:
            prot, shared = runs[-1][2][0], type(runs[-1][2][1]) is tuple
        kept = count
        if new_addr is not None and new_length < length:
            kept = new_count
            for i, entry in moved:
                if i >= kept:
                    self._release_page(entry)
            moved = [(i, entry) for i, entry in moved if i < kept]
            runs = [(start, min(stop, kept), value) for start, stop, value in runs if start < kept]
        self._clear(target, target + max(kept, new_count))
        for start, stop, value in runs:
            lazy.assign(target + start, target + stop, _shifted(value, target - first))
        for i, entry in moved:
            pages[target + i] = entry
            self._set_pte(target + i, self._pte(*entry))
        # Growing shared memory reaches past the end of its object: SIGBUS there, as on Linux.
        lazy.assign(target + kept, target + new_count, (prot, PAST_END if shared else False))
        if keep_old:
            for start, stop, (old_prot, _kind) in runs:
                lazy.assign(first + start, first + stop, (old_prot, False))
            for i, entry in moved:
                lazy.assign(first + i, first + i + 1, (entry[1], False))
        self._commit()

    def _spans(self, addr, n, writing=False):
        """(view, start, size) of each page's piece of [addr, addr + n), in order; EFAULT at the
        first page with nothing mapped (or, for writing, mapped from a read-only file)."""
        while n > 0:
            entry = self.pages.get(addr >> PAGE_SHIFT)
            if entry is None:
                value = self.lazy.get(addr >> PAGE_SHIFT)
                if value is None or value[1] is PAST_END:
                    raise SyscallError(errno.EFAULT)
                entry = self._materialize(addr >> PAGE_SHIFT, *value)
            elif writing and isinstance(entry[2], CopyOnWrite):
                self._copy_private(addr >> PAGE_SHIFT, entry)
            offset = addr & (PAGE - 1)
            size = min(n, PAGE - offset)
            if entry[0] < MEMORY_PAGES:
                yield self.memory.view, (entry[0] << PAGE_SHIFT) + offset, size
            else:
                if writing and not entry[2].writable:
                    raise SyscallError(errno.EFAULT)
                view, start = self.memory.locate(entry[0])
                yield view, start + offset, size
            addr += size
            n -= size

    def read(self, addr, n):
        return b"".join([view[start:start + size] for view, start, size in self._spans(addr, n)])

    def write(self, addr, data):
        data = memoryview(data).cast("B")
        position = 0
        try:
            for view, start, size in self._spans(addr, len(data), writing=True):
                view[start:start + size] = data[position:position + size]
                position += size
        finally:
            self._commit()                  # pages copied for the write replace file pages

    def copy_from_file(self, addr, host_fd, offset, n, ahead, owner):
        """Read `n` bytes of host file `host_fd` from `offset` straight into the guest's pages at
        `addr` (the memory file the sentry maps): one copy, as a native read makes. Returns the
        count read: short where the buffer runs into a page that can't be written. (`ahead`, the
        bytes left in the file, and `owner` matter only to platforms that map the file first.)"""
        done = 0
        for address, size in self._writable_runs(addr, n):
            try:
                got = pread_to_address(host_fd, address, size, offset + done)
            except SyscallError:
                if done:
                    break
                raise
            done += got
            if got < size:
                break
        return done

    def view_for_host(self, addr, n):
        """The guest's own pages holding the first bytes of [addr, addr + n), as many as are
        physically contiguous in the memory file: a large write goes from there to the host file
        with no copy in between. A page of a file mapping comes alone; empty when the first page
        can't be read."""
        first, last = addr >> PAGE_SHIFT, (addr + n - 1) >> PAGE_SHIFT
        entries = list(map(self.pages.get, range(first, last + 1)))
        if None in entries:
            try:
                for _ in self._spans(addr, n):      # pages never touched get their memory
                    pass
            except SyscallError:
                pass                                # up to the first hole
            entries = list(map(self.pages.get, range(first, last + 1)))
        physical = [None if entry is None else entry[0] for entry in entries]
        if None in physical:                        # up to a page that has no memory (a hole)
            physical = physical[:physical.index(None)]
            n = min(n, ((first + len(physical)) << PAGE_SHIFT) - addr)
        if not physical:
            return memoryview(b"")
        if max(physical) >= MEMORY_PAGES:
            view, start, size = next(self._spans(addr, min(n, PAGE - (addr & (PAGE - 1)))))
            return view[start:start + size]
        address, size = self._runs_of(addr, n, physical)[0]
        start = address - self.memory.address
        return self.memory.view[start:start + size]

    def _writable_runs(self, addr, n):
        """[host address, size] of the physically contiguous pieces of [addr, addr + n), up to the
        first page that can't be written. When every page has memory of its own (the common
        case) they are found with list operations rather than a loop in Python per page; else
        page by page through _spans, which gives pages memory or copies them."""
        first, last = addr >> PAGE_SHIFT, (addr + n - 1) >> PAGE_SHIFT
        entries = list(map(self.pages.get, range(first, last + 1)))
        if None not in entries:
            physical = [entry[0] for entry in entries]
            if (None not in physical and max(physical) < MEMORY_PAGES
                    and {type(entry[2]) for entry in entries}.isdisjoint(COPY_ON_WRITE_KINDS)):
                return self._runs_of(addr, n, physical)
        runs = []
        try:
            for view, start, size in self._spans(addr, n, writing=True):
                address = self.memory.address_of(view) + start
                if runs and runs[-1][0] + runs[-1][1] == address:
                    runs[-1][1] += size
                else:
                    runs.append([address, size])
        except SyscallError:
            pass                            # read up to the page that can't be written
        finally:
            self._commit()
        return runs

    def _runs_of(self, addr, n, physical):
        """The contiguous runs of the memory file's pages `physical`, which hold [addr, addr + n)."""
        base = self.memory.address
        breaks = [i for i in range(1, len(physical)) if physical[i] != physical[i - 1] + 1]
        runs = []
        position = addr
        for start, stop in zip([0] + breaks, breaks + [len(physical)]):
            end = min(addr + n, (addr & ~(PAGE - 1)) + (stop << PAGE_SHIFT))
            runs.append([base + (physical[start] << PAGE_SHIFT) + (position & (PAGE - 1)), end - position])
            position = end
        return runs

    def fork(self):
        """A copy-on-write child: each private page this process has touched is shared, read-only
        in both, until one of them writes to it (_fix_fault); shared pages stay shared. The
        child's page tables start as copies of this process's."""
        child = KvmAddressSpace(self.platform)
        fork_refs, shared_refs = self.fork_refs, self.shared_refs
        for vpn, entry in self.pages.items():
            page, prot, kind = entry
            if kind is FORKED:
                fork_refs[page] += 1
            elif kind is False:
                fork_refs[page] = 2
                entry[2] = FORKED
                if prot & PROT_WRITE:
                    self._set_pte(vpn, self._pte(page, prot, FORKED))
            elif kind is True:
                shared_refs[page] = shared_refs.get(page, 1) + 1
        child.pages = {vpn: entry.copy() for vpn, entry in self.pages.items()}
        child.lazy = self.lazy.copy()
        child._copy_tables(self)
        self._commit()                    # this process's writable entries became read-only
        return child

    def _copy_tables(self, parent):
        """Make this (new) address space's tables copies of `parent`'s, upper levels first, each
        entry pointing to this one's copy below it. Accessed bits are cleared in the copies:
        KVM has never seen them."""
        memory, words = self.memory, self.memory.words
        for key in sorted(parent.tables, reverse=True):
            level, index = key
            table = self.tables.get(key)
            if table is None:
                table = self.tables[key] = memory.alloc_page(zero=False)
            source = parent.tables[key] << 9
            if level == 1:
                words[table << 9:(table + 1) << 9] = array.array(
                    "Q", [word & ~PTE_ACCESSED for word in words[source:source + 512]])
            else:
                words[table << 9:(table + 1) << 9] = words[source:source + 512]
            above = self.root if level == 3 else self.tables[(level + 1, index >> 9)]
            memory.set_entry(above, index & 511, (table << PAGE_SHIFT) | TABLE_ENTRY)

    def cpu_seconds(self):
        running = sum(lib.psk_run_ns(c.vcpu.index) for c in self.contexts if c.vcpu is not None)
        return (self.past_run_ns + running) / 1e9

    def release(self):
        if self.released:
            return
        self.released = True
        for context in list(self.contexts):
            context.kill_process()
        # No flush: translations KVM still caches for these pages hang off this address
        # space's tables, which no vCPU loads again and which are reused only after a flush.
        for entry in self.pages.values():
            self._release_page(entry)
        self.pages.clear()
        self.lazy = LazyRanges()
        self._free_dropped()
        for table in self.tables.values():
            self.memory.retire_table(table)
        self.memory.retire_table(self.root)
        self.tables.clear()
