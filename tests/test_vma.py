"""VmaSet: example tests plus a state machine checked against a page-by-page model."""
import mmap

import pytest
from hypothesis import settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from pysandbox.sentry.vma import PAGE_SIZE, Vma, VmaSet, page_round_down, page_round_up

PROT_NONE = 0  # the mmap module has no PROT_NONE
RW = mmap.PROT_READ | mmap.PROT_WRITE
BASE = 0x10000


def page(n):
    return BASE + n * PAGE_SIZE


def anon(first_page, last_page, prot=RW, name=""):
    return Vma(page(first_page), page(last_page), prot, name=name)


def test_page_rounding():
    assert page_round_down(0x1fff) == 0x1000
    assert page_round_up(0x1001) == 0x2000
    assert page_round_up(0x2000) == 0x2000
    assert page_round_down(0) == page_round_up(0) == 0


def test_slice_keeps_file_offset_consistent():
    backing = object()
    vma = Vma(0x400000, 0x404000, mmap.PROT_READ, file=backing, offset=0x2000, name="/bin/x")
    middle = vma.slice(0x401000, 0x403000)
    assert (middle.start, middle.end, middle.offset, middle.name) == (0x401000, 0x403000, 0x3000, "/bin/x")
    assert anon(0, 4).slice(page(1), page(2)).offset == 0
    with pytest.raises(ValueError):
        vma.slice(0x3ff000, 0x401000)


def test_insert_splits_neighbours_and_find():
    vmas = VmaSet()
    vmas.insert(anon(0, 10, name="a"))
    vmas.insert(anon(3, 5, prot=mmap.PROT_READ, name="b"))
    assert [(v.start, v.end, v.name) for v in vmas] == [
        (page(0), page(3), "a"), (page(3), page(5), "b"), (page(5), page(10), "a")]
    assert vmas.find(page(4) + 17).name == "b"
    assert vmas.find(page(10)) is None
    assert vmas.find(page(0) - 1) is None


def test_remove_returns_removed_pieces():
    vmas = VmaSet()
    vmas.insert(anon(0, 4, name="a"))
    vmas.insert(anon(6, 8, name="b"))
    removed = vmas.remove(page(2), page(7))
    assert [(v.start, v.end, v.name) for v in removed] == [(page(2), page(4), "a"), (page(6), page(7), "b")]
    assert [(v.start, v.end) for v in vmas] == [(page(0), page(2)), (page(7), page(8))]
    assert vmas.remove(page(20), page(30)) == []


def test_protect_splits_only_what_is_covered():
    vmas = VmaSet()
    vmas.insert(anon(0, 8))
    vmas.protect(page(2), page(4), PROT_NONE)
    assert [(v.start, v.end, v.prot) for v in vmas] == [
        (page(0), page(2), RW), (page(2), page(4), PROT_NONE), (page(4), page(8), RW)]


def test_is_fully_mapped_and_overlapping():
    vmas = VmaSet()
    vmas.insert(anon(0, 2))
    vmas.insert(anon(2, 4))
    vmas.insert(anon(5, 6))
    assert vmas.is_fully_mapped(page(0), page(4))
    assert vmas.is_fully_mapped(page(1) + 5, page(3) + 9)
    assert not vmas.is_fully_mapped(page(3), page(6))
    assert not vmas.is_fully_mapped(page(6), page(7))
    assert vmas.is_fully_mapped(page(9), page(9))
    assert [v.start for v in vmas.overlapping(page(1), page(5) + 1)] == [page(0), page(2), page(5)]


def test_find_free_prefers_hint_then_goes_top_down():
    vmas = VmaSet()
    vmas.insert(anon(10, 12))
    vmas.insert(anon(14, 16))
    assert vmas.find_free(PAGE_SIZE, page(0), page(16), hint=page(3)) == page(3)
    assert vmas.find_free(PAGE_SIZE, page(0), page(16), hint=page(3) + 1) == page(13)
    assert vmas.find_free(2 * PAGE_SIZE, page(0), page(16), hint=page(11)) == page(12)
    assert vmas.find_free(3 * PAGE_SIZE, page(0), page(16)) == page(7)
    assert vmas.find_free(PAGE_SIZE, page(0), page(20)) == page(19)
    assert vmas.find_free(11 * PAGE_SIZE, page(0), page(16)) is None
    assert vmas.find_free(10 * PAGE_SIZE, page(0), page(16)) == page(0)


def test_copy_is_independent():
    vmas = VmaSet()
    vmas.insert(anon(0, 4))
    clone = vmas.copy()
    clone.remove(page(0), page(4))
    assert len(vmas) == 1 and len(clone) == 0


def test_unaligned_or_empty_ranges_are_rejected():
    vmas = VmaSet()
    with pytest.raises(ValueError):
        vmas.insert(Vma(page(0), page(0), RW))
    with pytest.raises(ValueError):
        vmas.insert(Vma(page(0) + 1, page(2), RW))
    with pytest.raises(ValueError):
        vmas.remove(page(0), page(1) + 3)


PAGES = 64
page_numbers = st.integers(min_value=0, max_value=PAGES)
prots = st.sampled_from([PROT_NONE, mmap.PROT_READ, RW, mmap.PROT_READ | mmap.PROT_EXEC])


class VmaSetMachine(RuleBasedStateMachine):
    """Random insert/remove/protect/find_free against a model: page -> (prot, tag, offset)."""

    def __init__(self):
        super().__init__()
        self.vmas = VmaSet()
        self.model = {}
        self.next_tag = 0

    @staticmethod
    def _range(a, b):
        first, last = sorted((a, b))
        return first, last + (first == last)

    @rule(a=page_numbers, b=page_numbers, prot=prots, file_backed=st.booleans())
    def insert(self, a, b, prot, file_backed):
        first, last = self._range(a, b)
        last = min(last, PAGES)
        if first == last:
            first -= 1
        self.next_tag += 1
        tag = f"m{self.next_tag}"
        file_offset = 0x100000 * self.next_tag if file_backed else 0
        self.vmas.insert(Vma(page(first), page(last), prot, file=tag if file_backed else None,
                             offset=file_offset, name=tag))
        for n in range(first, last):
            self.model[n] = (prot, tag, file_offset + (n - first) * PAGE_SIZE if file_backed else 0)

    @rule(a=page_numbers, b=page_numbers)
    def remove(self, a, b):
        first, last = sorted((a, b))
        removed = self.vmas.remove(page(first), page(last))
        removed_pages = {n for v in removed for n in range((v.start - BASE) // PAGE_SIZE,
                                                            (v.end - BASE) // PAGE_SIZE)}
        assert removed_pages == {n for n in self.model if first <= n < last}
        for n in removed_pages:
            del self.model[n]

    @rule(a=page_numbers, b=page_numbers, prot=prots)
    def protect(self, a, b, prot):
        first, last = sorted((a, b))
        expect_covered = all(n in self.model for n in range(first, last))
        assert self.vmas.is_fully_mapped(page(first), page(last)) == expect_covered
        self.vmas.protect(page(first), page(last), prot)
        for n in range(first, last):
            if n in self.model:
                _, tag, offset = self.model[n]
                self.model[n] = (prot, tag, offset)

    @rule(length=st.integers(min_value=1, max_value=8), lo=page_numbers, hi=page_numbers,
          hint=page_numbers, hint_misaligned=st.booleans())
    def find_free(self, length, lo, hi, hint, hint_misaligned):
        lo, hi = sorted((lo, hi))
        hint_addr = page(hint) + (1 if hint_misaligned else 0)
        found = self.vmas.find_free(length * PAGE_SIZE, page(lo), page(hi), hint=hint_addr)
        fits = [n for n in range(lo, hi - length + 1)
                if not any(p in self.model for p in range(n, n + length))]
        if not fits:
            assert found is None
            return
        assert found is not None and found % PAGE_SIZE == 0
        start = (found - BASE) // PAGE_SIZE
        assert start in fits
        if not hint_misaligned and hint in fits:
            assert start == hint
        else:
            assert start == max(fits)

    @rule(n=st.integers(min_value=-1, max_value=PAGES))
    def find(self, n):
        vma = self.vmas.find(page(n) + 123)
        if n in self.model:
            assert vma is not None and vma.name == self.model[n][1]
        else:
            assert vma is None

    @precondition(lambda self: len(self.vmas) > 0)
    @rule()
    def copy_matches(self):
        assert list(self.vmas.copy()) == list(self.vmas)

    @invariant()
    def sorted_non_overlapping_non_empty_aligned(self):
        previous_end = None
        for vma in self.vmas:
            assert vma.start < vma.end
            assert vma.start % PAGE_SIZE == 0 and vma.end % PAGE_SIZE == 0
            if previous_end is not None:
                assert previous_end <= vma.start
            previous_end = vma.end

    @invariant()
    def matches_model(self):
        pages = {}
        for vma in self.vmas:
            for addr in range(vma.start, vma.end, PAGE_SIZE):
                offset = vma.offset + (addr - vma.start) if vma.file is not None else 0
                pages[(addr - BASE) // PAGE_SIZE] = (vma.prot, vma.name, offset)
        assert pages == self.model
        assert len(self.vmas) == len(list(self.vmas))


VmaSetMachine.TestCase.settings = settings(max_examples=200, stateful_step_count=40, deadline=None)
TestVmaSetMachine = VmaSetMachine.TestCase
