"""NUMA memory policy with real programs: Debian's numactl (libnuma) and migratepages, and the
/sys/devices/system/node tree they read, compared with the host, which has one node too.
The syscalls' own edge cases are tests/syscalls/numa.c."""
import errno
import os
import shutil

import pytest
from hypothesis import settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from helpers import assert_same, compare_program_output, run_native, run_sandbox
from pysandbox.sentry.errors import SyscallError
from pysandbox.sentry.mm import MemoryManager
from pysandbox.sentry.syscalls import sys_numa
from pysandbox.sentry.vma import PAGE_SIZE, Vma

on_each_platform = pytest.mark.usefixtures("each_platform")

NUMACTL = shutil.which("numactl")
needs_numactl = pytest.mark.skipif(NUMACTL is None,
                                   reason="numactl is not installed (scripts/install.sh installs it)")
NODES = "/sys/devices/system/node"
ONE_NODE = os.path.isdir(f"{NODES}/node0") and not os.path.isdir(f"{NODES}/node1")
needs_one_node = pytest.mark.skipif(not ONE_NODE, reason="the host is not a one-node machine, as the sandbox is")


def _without_free_memory(text):
    """numactl --hardware's lines but the one with free memory, which changes from run to run."""
    return [line for line in text.splitlines() if " free: " not in line]


@needs_numactl
@needs_one_node
@on_each_platform
def test_numactl_hardware_shows_one_node_with_every_cpu_and_the_memory():
    native, sandboxed = run_native([NUMACTL, "--hardware"]), run_sandbox([NUMACTL, "--hardware"])
    assert native.status == sandboxed.status == 0, sandboxed
    assert _without_free_memory(sandboxed.out) == _without_free_memory(native.out)
    assert sandboxed.out.startswith("available: 1 nodes (0)\n")


@needs_numactl
@needs_one_node
@on_each_platform
@pytest.mark.parametrize("policy", [[], ["--interleave=all"], ["--membind=0"], ["--preferred=0"],
                                    ["--localalloc"], ["--cpunodebind=0", "--interleave=0"]])
def test_numactl_sets_a_policy_that_execve_keeps(policy):
    """numactl sets the policy with set_mempolicy and runs the program; the policy outlives
    execve, so the numactl it runs shows it with get_mempolicy."""
    out = compare_program_output([NUMACTL, *policy, NUMACTL, "--show"])
    assert "policy: " in out


@needs_numactl
@needs_one_node
@on_each_platform
def test_numactl_refuses_a_node_that_is_not_there():
    native = run_native([NUMACTL, "--membind=1", "true"])
    sandboxed = run_sandbox([NUMACTL, "--membind=1", "true"])
    assert native.status != 0
    assert_same(native, sandboxed)


@needs_numactl
@needs_one_node
@on_each_platform
def test_migratepages_moves_a_process_between_its_nodes():
    migratepages = shutil.which("migratepages")
    if migratepages is None:
        pytest.skip("migratepages is not installed (Debian's numactl has it)")
    script = f"{migratepages} $$ 0 0; echo $?; {migratepages} 999999 0 0; echo $?"
    out = compare_program_output(["sh", "-c", script])
    assert out.splitlines()[0] == "0"


@needs_one_node
@on_each_platform
def test_sysfs_node_tree_matches_the_host():
    files = ["online", "possible", "has_cpu", "has_memory", "has_normal_memory",
             "node0/cpulist", "node0/distance"]
    script = ("cd /sys/devices/system/node && for f in " + " ".join(files) + "; do echo $f: $(cat $f); done; "
              "grep MemTotal node0/meminfo; readlink node0/cpu0; ls -d node*")
    compare_program_output(["sh", "-c", script])


# -- mbind against a page-by-page model ----------------------------------------------------

BASE, PAGES, NODE0_MASK = 0x100000, 12, 0x5000
MODES = [sys_numa.MPOL_DEFAULT, sys_numa.MPOL_PREFERRED, sys_numa.MPOL_BIND, sys_numa.MPOL_INTERLEAVE,
         sys_numa.MPOL_LOCAL, sys_numa.MPOL_PREFERRED_MANY]


class _Task:
    """What mbind uses of a task: its memory map and the node mask {0} at NODE0_MASK."""

    def __init__(self):
        self.mm = MemoryManager(None)

    def copy_in(self, addr, length):
        assert addr == NODE0_MASK
        return (1).to_bytes(length, "little")


class MbindModel(RuleBasedStateMachine):
    """Random mmaps, munmaps and mbinds: every page has the policy a page-by-page model says,
    a failed mbind changes nothing, and /proc/PID/maps has one line per run of pages that Linux
    would keep as one VMA (contiguous, same policy)."""

    def __init__(self):
        super().__init__()
        self.task = _Task()
        self.mapped = set()
        self.policy = {}                     # page -> mode, for pages with a policy

    @rule(first=st.integers(0, PAGES - 1), count=st.integers(1, 4))
    def mmap(self, first, count):
        pages = range(first, min(first + count, PAGES))
        self.task.mm.vmas.insert(Vma(BASE + pages[0] * PAGE_SIZE, BASE + (pages[-1] + 1) * PAGE_SIZE, 3))
        self.mapped.update(pages)
        for page in pages:
            self.policy.pop(page, None)

    @rule(first=st.integers(0, PAGES - 1), count=st.integers(1, 4))
    def munmap(self, first, count):
        pages = range(first, min(first + count, PAGES))
        self.task.mm.vmas.remove(BASE + pages[0] * PAGE_SIZE, BASE + (pages[-1] + 1) * PAGE_SIZE)
        self.mapped.difference_update(pages)
        for page in pages:
            self.policy.pop(page, None)

    @rule(first=st.integers(0, PAGES - 1), count=st.integers(1, 5), mode=st.sampled_from(MODES))
    def mbind(self, first, count, mode):
        pages = set(range(first, first + count))
        nodes = NODE0_MASK if mode not in (sys_numa.MPOL_DEFAULT, sys_numa.MPOL_LOCAL) else 0
        holes = not pages <= self.mapped
        expected_fault = not pages & self.mapped or (mode != sys_numa.MPOL_DEFAULT and holes)
        try:
            sys_numa.mbind(self.task, BASE + first * PAGE_SIZE, count * PAGE_SIZE, mode, nodes, 2, 0)
        except SyscallError as error:
            assert expected_fault and error.errno == errno.EFAULT
            return
        assert not expected_fault
        for page in pages & self.mapped:
            if mode == sys_numa.MPOL_DEFAULT:
                self.policy.pop(page, None)
            else:
                self.policy[page] = mode

    @invariant()
    def policies_match_the_model(self):
        for page in range(PAGES):
            vma = self.task.mm.vmas.find(BASE + page * PAGE_SIZE)
            assert (vma is not None) == (page in self.mapped)
            if vma is not None:
                assert (vma.policy.mode if vma.policy else None) == self.policy.get(page)

    @invariant()
    def maps_has_a_line_per_run(self):
        runs = sum(1 for page in self.mapped
                   if page - 1 not in self.mapped or self.policy.get(page - 1) != self.policy.get(page))
        lines = self.task.mm.render_maps().splitlines() if self.mapped else []
        assert len(lines) == runs


TestMbindModel = MbindModel.TestCase
TestMbindModel.settings = settings(max_examples=60, stateful_step_count=25, deadline=None)
