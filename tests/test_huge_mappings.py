"""Huge mappings cost what the workload touches, not what it maps (both platforms).

Go, the JVM, V8, ASan and Chrome reserve GiBs to TiBs of address space and touch little of
it. On kvm the address space keeps untouched memory as runs of pages (LazyRanges), so
mapping, protecting, unmapping, forking and moving a huge range is quick; on ptrace the
stub's host mappings are MAP_NORESERVE, so the host's overcommit heuristic never refuses
one that Linux would give the workload. Each run is bounded by a timeout: a regression
fails instead of hanging."""
import contextlib
import signal
import subprocess
import sys

import pytest

from helpers import (StrayProcesses, assert_same, collect_strays, descendants, format_procs, platform_support,
                     run_native, sandbox_argv)
from pysandbox.platform import Fault, get_platform
from pysandbox.platform.kvm.address_space import LazyRanges

KVM_USABLE, KVM_REASON = platform_support("kvm")
needs_kvm = pytest.mark.skipif(not KVM_USABLE, reason=f"kvm unavailable here: {KVM_REASON}")

GiB, TiB = 1 << 30, 1 << 40
PROT_NONE, PROT_READ, PROT_WRITE = 0, 1, 2
RW = PROT_READ | PROT_WRITE
BASE = 0x100000000000              # 16 TiB: far from the loader's and the platform's pages
RUN_TIMEOUT = 60                   # seconds; each run takes well under one
SENTRY_RSS_LIMIT_KB = 200 * 1024

# Runs `argv` and prints the largest resident set of its descendants (KiB) on stderr last:
# the sandbox's own (sentry, stubs), whatever the workload maps.
_PEAK_RSS = ("import resource, subprocess, sys\n"
             "done = subprocess.run(sys.argv[1:])\n"
             "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)\n"
             "sys.exit(done.returncode)\n")


def test_huge_sparse_mappings_behave_as_natively_in_little_memory(cprog, each_platform):
    """64 GiB touched at its ends, forked, read(2) into, grown to 128 GiB by mremap and shrunk;
    a 1 TiB PROT_NONE reservation made accessible in pieces, committed with MAP_FIXED,
    protected whole, unmapped twice: the same output as natively, and the sandbox's resident
    memory stays small."""
    program = cprog("mem_huge_mappings")
    native = run_native([program], timeout=RUN_TIMEOUT)
    assert native.status == 0, native
    argv = sandbox_argv([program], platform=each_platform)
    before = set(descendants())
    done = subprocess.run([sys.executable, "-c", _PEAK_RSS, *argv], capture_output=True,
                          text=True, timeout=RUN_TIMEOUT, cwd="/")
    err_lines = done.stderr.splitlines()
    peak_kb = int(err_lines[-1])
    strays = collect_strays(before)
    if strays:
        raise StrayProcesses(f"host processes left behind: {format_procs(strays)}")
    sandboxed = native._replace(status=done.returncode, out=done.stdout, err="\n".join(err_lines[:-1]))
    assert_same(native, sandboxed, each_platform)
    assert peak_kb < SENTRY_RSS_LIMIT_KB, f"the sandbox held {peak_kb} KiB"


@contextlib.contextmanager
def deadline(seconds):
    """Fail (not hang) when the block takes longer than `seconds`."""
    def expired(_signo, _frame):
        raise TimeoutError(f"took more than {seconds} s: the cost follows the size of the range")
    previous = signal.signal(signal.SIGALRM, expired)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGALRM})
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture
def platform():
    platform = get_platform("kvm")
    yield platform
    platform.close()


@needs_kvm
def test_kvm_range_operations_cost_the_pages_touched(platform):
    """The address space of a process that maps 1 TiB, touches three pages, protects, forks,
    moves and unmaps it holds entries for those pages and a few runs, never one per page."""
    space = platform.new_process().address_space
    with deadline(20):
        space.map(BASE, TiB, PROT_NONE)
        space.protect(BASE, TiB, RW)
        for offset in (0, GiB, TiB - 8):
            space.write(BASE + offset, offset.to_bytes(8, "little"))
        assert len(space.pages) < 200 and len(space.lazy) <= 3
        space.protect(BASE + GiB, 4096, PROT_READ)
        child = space.fork()
        assert [int.from_bytes(child.read(BASE + offset, 8), "little") for offset in (0, GiB, TiB - 8)] \
            == [0, GiB, TiB - 8]
        child.write(BASE, b"\x07" * 8)
        assert space.read(BASE, 8) == bytes(8)                  # the child's write is its own
        space.remap(BASE, TiB, 2 * TiB, BASE + 4 * TiB)         # moved and grown
        assert int.from_bytes(space.read(BASE + 4 * TiB + TiB - 8, 8), "little") == TiB - 8
        assert space.read(BASE + 6 * TiB - 8, 8) == bytes(8)    # the grown tail: fresh memory
        space.unmap(BASE + 4 * TiB, 2 * TiB)
        space.unmap(4096, BASE)                                 # nothing there
        assert not space.pages and not space.lazy
        assert len(child.pages) < 200 and len(child.lazy) <= 3
        child.release()


@needs_kvm
def test_kvm_shared_memory_is_given_at_the_first_touch_and_freed_with_its_last_mapping(platform):
    """64 GiB of shared anonymous memory costs the pages touched, by whichever process touches
    them first; a fork and a second mapping of it (mremap of old length 0) see the same pages,
    which go back to the memory file when the last mapping of them goes."""
    space = platform.new_process().address_space
    memory = platform.memory
    with deadline(20):
        space.map(BASE, 64 * GiB, RW, shared=True)
        space.write(BASE, b"parent")
        child = space.fork()
        child.write(BASE + 64 * GiB - 5, b"child")
        space.remap(BASE, 0, GiB, BASE + TiB)
        space.write(BASE + TiB + 8, b"again")
        assert space.read(BASE + 64 * GiB - 5, 5) == b"child"
        assert (child.read(BASE, 6), child.read(BASE + 8, 5)) == (b"parent", b"again")
        held = {entry[0] for other in (space, child) for entry in other.pages.values()}
        assert 0 < len(held) < 200
        space.unmap(BASE, 64 * GiB)
        assert child.read(BASE, 6) == b"parent"          # the child's mapping keeps the pages
        assert {entry[0] for entry in child.pages.values()} <= set(memory.shared_refs)
        child.release()
        space.unmap(BASE + TiB, GiB)
        assert not held & set(memory.shared_refs)
        assert held <= set(memory._free) | set(memory._released)


@needs_kvm
def test_kvm_fault_around_stays_inside_the_mapping(platform):
    """Pages given memory with a faulting one belong to its mapping: the page below it, never
    mapped, and the page above it, mapped PROT_NONE, still fault."""
    from test_kvm_platform import WINDOW, _start
    guest = _start(platform)
    space = guest.context.address_space
    space.map(WINDOW + 4096, 2 * 4096, RW)
    space.map(WINDOW + 3 * 4096, 4096, PROT_NONE)
    assert not isinstance(guest.access(platform, 1, 5), Fault)
    assert (WINDOW >> 12) + 2 in space.pages                    # its neighbour came with it
    for page in (0, 3):
        outcome = guest.access(platform, page)
        assert isinstance(outcome, Fault) and outcome.addr == WINDOW + page * 4096
        assert (WINDOW >> 12) + page not in space.pages


def test_lazy_ranges_split_and_join_runs():
    runs = LazyRanges()
    runs.assign(10, 20, (RW, False))
    runs.assign(20, 30, (RW, False))                            # joined to the run before
    assert runs.pieces(0, 100) == [(10, 30, (RW, False))]
    runs.assign(14, 16, (PROT_READ, False))
    runs.clear(25, 27)
    assert runs.pieces(0, 100) == [(10, 14, (RW, False)), (14, 16, (PROT_READ, False)),
                                   (16, 25, (RW, False)), (27, 30, (RW, False))]
    assert runs.pieces(15, 26) == [(15, 16, (PROT_READ, False)), (16, 25, (RW, False))]
    assert (runs.get(9), runs.get(15), runs.get(26), runs.run_of(28)) == (None, (PROT_READ, False), None,
                                                                            (27, 30, (RW, False)))
    runs.assign(14, 16, (RW, False))                            # both neighbours join it
    assert runs.pieces(0, 100) == [(10, 25, (RW, False)), (27, 30, (RW, False))]
    copy = runs.copy()
    runs.clear(0, 1 << 40)
    assert len(runs) == 0 and len(copy) == 2
