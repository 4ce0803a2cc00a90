"""The virtual memory areas of one address space: a pure interval structure, no I/O.

A `VmaSet` plays the part of Linux's VMA tree. Entries are sorted, never overlap,
are never empty and start and end on page boundaries. Neighbouring entries with
equal attributes are kept apart (nothing merges them).
"""
import bisect
from collections import namedtuple
from collections.abc import Iterator

PAGE_SIZE = 4096


def page_round_down(x: int) -> int:
    return x & ~(PAGE_SIZE - 1)


def page_round_up(x: int) -> int:
    return (x + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1)


def _check_page_range(start: int, end: int) -> None:
    if start % PAGE_SIZE or end % PAGE_SIZE:
        raise ValueError(f"range {start:#x}-{end:#x} is not page aligned")
    if start > end:
        raise ValueError(f"range {start:#x}-{end:#x} ends before it starts")


_VMA_FIELDS = (
    "start",           # [start, end): page aligned
    "end",
    "prot",            # PROT_* bits
    "shared",          # MAP_SHARED
    "file",            # the backing file object, None when anonymous
    "offset",          # file offset that `start` maps
    "name",            # '[heap]', '[stack]', a path, or '' when anonymous
    "anon_shared_id",  # identifies a shared anonymous region, else None
    "file_size",       # the file's size when it was mapped (pages past it give SIGBUS)
    "locked",          # mlock(2)ed (VM_LOCKED): counted against RLIMIT_MEMLOCK, not inherited by fork
    "policy",          # mbind(2)'s NUMA policy (sys_numa.MemPolicy), None for the default
)


class Vma(namedtuple("Vma", _VMA_FIELDS, defaults=(False, None, 0, "", None, 0, False, None))):
    """One mapping, covering [start, end). Immutable: `replace` makes a changed copy."""
    __slots__ = ()

    def replace(self, **changes) -> "Vma":
        return self._replace(**changes)

    @property
    def length(self) -> int:
        return self.end - self.start

    def slice(self, start: int, end: int) -> "Vma":
        """The part of this mapping covering [start, end), which must lie inside it."""
        if not self.start <= start < end <= self.end:
            raise ValueError(f"{start:#x}-{end:#x} is not inside {self.start:#x}-{self.end:#x}")
        offset = self.offset + (start - self.start) if self.file is not None else self.offset
        return self._replace(start=start, end=end, offset=offset)

    def __repr__(self) -> str:
        label = f" {self.name}" if self.name else ""
        return f"<Vma {self.start:#x}-{self.end:#x} prot={self.prot}{label}>"


class VmaSet:
    """Sorted, non-overlapping VMAs with O(log n + k) lookups (k = entries touched)."""

    def __init__(self) -> None:
        self._starts: list[int] = []
        self._vmas: list[Vma] = []

    def __iter__(self) -> Iterator[Vma]:
        return iter(list(self._vmas))

    def __len__(self) -> int:
        return len(self._vmas)

    def __repr__(self) -> str:
        return f"VmaSet({self._vmas!r})"

    def copy(self) -> "VmaSet":
        clone = VmaSet()
        clone._starts = list(self._starts)
        clone._vmas = list(self._vmas)
        return clone

    def _span(self, start: int, end: int) -> tuple[int, int]:
        """Indexes [first, last) of the entries that intersect [start, end)."""
        if start >= end:
            return 0, 0
        first = bisect.bisect_right(self._starts, start) - 1
        if first < 0 or self._vmas[first].end <= start:
            first += 1
        last = bisect.bisect_left(self._starts, end, lo=first)
        return first, last

    def _replace(self, first: int, last: int, vmas: list[Vma]) -> None:
        self._vmas[first:last] = vmas
        self._starts[first:last] = [vma.start for vma in vmas]

    def find(self, addr: int) -> Vma | None:
        """The mapping that contains addr, if any."""
        index = bisect.bisect_right(self._starts, addr) - 1
        if index >= 0 and addr < self._vmas[index].end:
            return self._vmas[index]
        return None

    def overlapping(self, start: int, end: int) -> list[Vma]:
        """Whole entries that intersect [start, end), in address order."""
        first, last = self._span(start, end)
        return self._vmas[first:last]

    def is_fully_mapped(self, start: int, end: int) -> bool:
        """Whether every byte of [start, end) belongs to some mapping."""
        covered_to = start
        for vma in self.overlapping(start, end):
            if vma.start > covered_to:
                return False
            covered_to = vma.end
        return covered_to >= end

    def insert(self, vma: Vma) -> None:
        """Add vma, replacing whatever it overlaps (MAP_FIXED semantics)."""
        _check_page_range(vma.start, vma.end)
        if vma.start == vma.end:
            raise ValueError(f"empty mapping at {vma.start:#x}")
        self.remove(vma.start, vma.end)
        index = bisect.bisect_left(self._starts, vma.start)
        self._replace(index, index, [vma])

    def remove(self, start: int, end: int) -> list[Vma]:
        """Unmap [start, end); returns the pieces that were removed, in address order."""
        _check_page_range(start, end)
        first, last = self._span(start, end)
        removed, kept = [], []
        for vma in self._vmas[first:last]:
            if vma.start < start:
                kept.append(vma.slice(vma.start, start))
            removed.append(vma.slice(max(vma.start, start), min(vma.end, end)))
            if vma.end > end:
                kept.append(vma.slice(end, vma.end))
        self._replace(first, last, kept)
        return removed

    def protect(self, start: int, end: int, prot: int) -> None:
        """Set the protection of every mapped page in [start, end), splitting entries at the edges."""
        self.update(start, end, prot=prot)

    def update(self, start: int, end: int, **changes) -> None:
        """Change attributes (prot, locked, policy) of every mapped page in [start, end), splitting
        entries at the edges; an entry that has them already stays whole, as Linux's mprotect_fixup
        leaves such a VMA."""
        _check_page_range(start, end)
        first, last = self._span(start, end)
        pieces = []
        for vma in self._vmas[first:last]:
            if all(getattr(vma, name) == value for name, value in changes.items()):
                pieces.append(vma)
                continue
            inner_start, inner_end = max(vma.start, start), min(vma.end, end)
            if vma.start < inner_start:
                pieces.append(vma.slice(vma.start, inner_start))
            pieces.append(vma.slice(inner_start, inner_end).replace(**changes))
            if inner_end < vma.end:
                pieces.append(vma.slice(inner_end, vma.end))
        self._replace(first, last, pieces)

    def find_free(self, length: int, lo: int, hi: int, hint: int = 0) -> int | None:
        """A page-aligned start of `length` free bytes inside [lo, hi), or None.

        A non-zero, page-aligned hint whose range is free wins; otherwise the
        highest fitting gap is used, the way Linux allocates down from mmap_base.
        """
        if length <= 0:
            raise ValueError(f"bad length {length}")
        length = page_round_up(length)
        lo, hi = page_round_up(lo), page_round_down(hi)
        if (hint and hint % PAGE_SIZE == 0 and lo <= hint and hint + length <= hi
                and not self.overlapping(hint, hint + length)):
            return hint
        ceiling = hi
        index = bisect.bisect_left(self._starts, hi) - 1
        while ceiling - lo >= length:
            below = self._vmas[index] if index >= 0 else None
            floor = max(below.end, lo) if below else lo
            if ceiling - floor >= length:
                return ceiling - length
            if below is None:
                break
            ceiling = min(ceiling, below.start)
            index -= 1
        return None
