"""The KVM platform (pysandbox/platform/kvm): host detection, faults compared
with native runs and with ptrace, and its page tables checked against a model
of the address space by hypothesis.

The workload tests themselves run on kvm through the each_platform fixture
(tests/test_workloads_*.py, tests/test_faults.py)."""
import errno
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import platform_support, run_native, run_pysandbox, run_sandbox
from oci_fixtures import bundle, runtime  # noqa: F401  (fixtures)
from pysandbox.platform import INTERRUPTED, SYSCALL, Fault, get_platform
from pysandbox.sentry.errors import SandboxError, SyscallError

KVM_USABLE, KVM_REASON = platform_support("kvm")
needs_kvm = pytest.mark.skipif(not KVM_USABLE, reason=f"kvm unavailable here: {KVM_REASON}")


@pytest.fixture
def platform():
    """The kvm platform, closed after the test."""
    platform = get_platform("kvm")
    yield platform
    platform.close()


def test_platforms_command_says_whether_kvm_works_and_why():
    result = run_pysandbox(["platforms"])
    line = next(line for line in result.out.splitlines() if line.startswith("kvm"))
    assert line == f"kvm: {KVM_REASON}" + ("" if KVM_USABLE else " (unavailable)")
    if os.path.exists("/sys/module/kvm_pvm") and KVM_USABLE:
        assert line == "kvm: PVM host, supported"
    if not os.path.exists("/dev/kvm"):
        assert line == "kvm: /dev/kvm missing (unavailable)"


def test_kvm_without_dev_kvm_fails_with_one_clear_line(monkeypatch):
    from pysandbox.platform.kvm import machine
    real_exists = os.path.exists
    monkeypatch.setattr(machine.os.path, "exists", lambda p: False if p == "/dev/kvm" else real_exists(p))
    assert machine.host_support() == (False, "/dev/kvm missing")
    with pytest.raises(SandboxError) as raised:
        get_platform("kvm")
    assert str(raised.value) == "kvm: /dev/kvm missing (use --platform=ptrace)"
    assert raised.value.exit_status == 2


@pytest.mark.parametrize("kind", ["rodata", "jump", "ud2", "int3", "div0", "exec_nx", "out", "in"])
def test_a_fault_gets_the_native_signal_and_exit_status(cprog, each_platform, kind):
    program = cprog("kvm_faults", static=True)
    native = run_native([program, kind])
    sandboxed = run_sandbox([program, kind], platform=each_platform)
    assert native.status > 128
    assert (sandboxed.status, sandboxed.out) == (native.status, native.out)


@pytest.mark.parametrize("mode", ["alarm", "thread", "kill"])
def test_a_signal_reaches_a_thread_spinning_in_guest_code(cprog, each_platform, mode):
    program = cprog("kvm_interrupt")
    native = run_native([program, mode])
    sandboxed = run_sandbox([program, mode], platform=each_platform)
    assert native.status in (3, 4, 5)
    assert (sandboxed.status, sandboxed.out) == (native.status, native.out)


@needs_kvm
def test_oci_verbs_run_a_container_on_kvm(runtime, bundle):
    """`--platform kvm` on the OCI verbs: the container's workload runs on the KVM platform."""
    runtime.global_flags += ["--platform", "kvm"]
    b = bundle(["sh", "-c", "read line; echo got $line; ls / | wc -l; exit 3"])
    result = runtime.run("run", "--bundle", b, "on-kvm", stdin="hello\n")
    assert result.status == 3 and result.out.startswith("got hello\n"), result
    assert runtime.ids() == []


# -- the address space against a model ----------------------------------------------------
CODE = 0x20000000
WINDOW = 0x100000000000           # 16 TiB: room for ranges of TiBs on either side
PAGES = 4                        # few pages, so that operations meet on the same ones
# Huge ranges around the window, as Go, the JVM, V8 and ASan reserve: pages reach 1 GiB or
# 1 TiB beyond it on either side, and the model watches the far ends too.
SPANS = st.sampled_from([0, 1 << 18, 1 << 28])
FAR_PAGES = (-(1 << 28), -(1 << 18), PAGES + (1 << 18) - 1, PAGES + (1 << 28) - 1)
REMAP_SHIFT = 1 << 30             # pages: a huge range moves 4 TiB up or down, clear of the others
PROT_NONE, PROT_READ, PROT_WRITE, PROT_EXEC = 0, 1, 2, 4
SIGSEGV = 11
# syscall; test rsi,rsi; jnz store; mov rax,[rdi]; jmp 0; store: mov [rdi],rdx; jmp 0
GUEST_LOOP = bytes.fromhex("0f05 4885f6 7505 488b07 ebf4 488917 ebef")

prots = st.sampled_from([PROT_NONE, PROT_READ, PROT_READ | PROT_WRITE])
pages = st.integers(0, PAGES - 1)
operations = st.one_of(
    st.tuples(st.just("map"), pages, st.integers(1, 2), prots),
    st.tuples(st.just("unmap"), pages, st.integers(1, 2)),
    st.tuples(st.just("protect"), pages, st.integers(1, 2), prots),
    st.tuples(st.just("fork")),
    st.tuples(st.just("thread")),
    st.tuples(st.just("switch"), st.integers(0, 3)),
    st.tuples(st.just("write"), pages, st.integers(1, 2**63)),
    st.tuples(st.just("read"), pages),
    st.tuples(st.just("write"), pages, st.integers(1, 2**63)),     # accesses twice as often
    st.tuples(st.just("map_huge"), pages, st.integers(1, 2), prots, SPANS, SPANS, st.booleans()),
    st.tuples(st.just("unmap_huge"), pages, st.integers(1, 2), SPANS, SPANS),
    st.tuples(st.just("protect_huge"), pages, st.integers(1, 2), prots, SPANS, SPANS),
    st.tuples(st.just("remap_huge"), pages, st.integers(1, 2), SPANS, SPANS, st.sampled_from([-1, 1])),
    st.tuples(st.just("write"), st.sampled_from(FAR_PAGES), st.integers(1, 2**63)),
    st.tuples(st.just("read"), st.sampled_from(FAR_PAGES)),
    st.tuples(st.just("touch_known"), st.integers(0, 50), st.integers(1, 2**63)),
    st.tuples(st.just("read"), pages),
)


def _value(entry):
    """The word a model entry [prot, value] says its page holds; value is a one-item list,
    the same in every process, for a page of shared memory."""
    return entry[1][0] if isinstance(entry[1], list) else entry[1]


def _store(entry, value):
    if isinstance(entry[1], list):
        entry[1][0] = value
    else:
        entry[1] = value


class Guest:
    """A guest process that loads or stores one word per request, and the model of what it
    must see: page -> [prot, first word]."""

    def __init__(self, context, model):
        self.context = context
        self.model = model

    def access(self, platform, page, value=None):
        regs = self.context.regs
        regs.rdi, regs.rsi, regs.rdx = WINDOW + page * 4096, int(value is not None), value or 0
        event = _next_event(platform, self.context)
        if event is SYSCALL:
            return regs.orig_rax
        assert isinstance(event, Fault), event
        regs.rip = CODE
        assert _next_event(platform, self.context) is SYSCALL
        return event


def _next_event(platform, context):
    while True:
        events, _ = platform.resume_and_wait(context)
        for stopped, event in events:
            if stopped is context and event is not INTERRUPTED:
                return event


def _start(platform):
    context = platform.new_process()
    space = context.address_space
    space.map(CODE, 4096, PROT_READ | PROT_EXEC)
    space.write(CODE, GUEST_LOOP)
    context.regs.rip = CODE
    assert _next_event(platform, context) is SYSCALL
    return Guest(context, {})


@needs_kvm
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(operations, min_size=1, max_size=30))
def test_the_guest_sees_what_the_model_of_its_address_space_predicts(ops):
    platform = get_platform("kvm")
    try:
        guests = [_start(platform)]
        current = guests[0]
        for op in ops:
            space, model = current.context.address_space, current.model
            kind = op[0]
            if kind == "map":
                _, first, count, prot = op
                count = min(count, PAGES - first)
                space.map(WINDOW + first * 4096, count * 4096, prot)
                for page in range(first, first + count):
                    model[page] = [prot, 0]
            elif kind == "unmap":
                _, first, count = op
                space.unmap(WINDOW + first * 4096, min(count, PAGES - first) * 4096)
                for page in range(first, first + count):
                    model.pop(page, None)
            elif kind == "protect":
                _, first, count, prot = op
                for page in range(first, min(first + count, PAGES)):
                    if page in model:            # the sentry protects mapped pages only
                        space.protect(WINDOW + page * 4096, 4096, prot)
                        model[page][0] = prot
            elif kind in ("map_huge", "unmap_huge", "protect_huge", "remap_huge"):
                _, first, count, *rest = op
                prot = rest.pop(0) if kind in ("map_huge", "protect_huge") else None
                below, above = rest[0], rest[1]
                start, end = first - below, first + count + above
                inside = [page for page in set(model) | set(range(PAGES)) | set(FAR_PAGES) if start <= page < end]
                addr, length = WINDOW + start * 4096, (end - start) * 4096
                if kind == "map_huge":
                    shared = rest[2]
                    space.map(addr, length, prot, shared=shared)
                    model.update((page, [prot, [0] if shared else 0]) for page in inside)
                elif kind == "unmap_huge":
                    space.unmap(addr, length)
                    for page in inside:
                        model.pop(page, None)
                elif kind == "protect_huge":
                    if all(page in model for page in inside):    # the sentry protects mapped pages only
                        space.protect(addr, length, prot)
                        for page in inside:
                            model[page][0] = prot
                else:
                    shift = rest[2] * REMAP_SHIFT
                    space.remap(addr, length, length, WINDOW + (start + shift) * 4096)
                    moved = {page + shift: model.pop(page) for page in inside if page in model}
                    for page in [page for page in model if start + shift <= page < end + shift]:
                        del model[page]
                    model.update(moved)
            elif kind == "touch_known":                      # any page the model knows, moved ones too
                if model:
                    page = sorted(model)[op[1] % len(model)]
                    outcome = current.access(platform, page, op[2])
                    if model[page][0] & PROT_WRITE:
                        assert not isinstance(outcome, Fault), outcome
                        _store(model[page], op[2])
                    else:
                        assert isinstance(outcome, Fault) and outcome.signo == SIGSEGV
            elif kind == "fork":
                child = current.context.fork()
                guests.append(Guest(child, {page: list(entry) for page, entry in model.items()}))
            elif kind == "thread":                   # another vCPU in the same address space
                guests.append(Guest(current.context.clone_thread(), model))
            elif kind == "switch":
                current = guests[op[1] % len(guests)]
            elif kind == "write":
                _, page, value = op
                outcome = current.access(platform, page, value)
                if page in model and model[page][0] & PROT_WRITE:
                    assert not isinstance(outcome, Fault), outcome
                    _store(model[page], value)
                else:
                    assert isinstance(outcome, Fault) and outcome.signo == SIGSEGV
                    assert outcome.addr == WINDOW + page * 4096
            elif kind == "read":
                _, page = op
                outcome = current.access(platform, page)
                if page in model and model[page][0] & PROT_READ:
                    assert outcome == _value(model[page])
                else:
                    assert isinstance(outcome, Fault) and outcome.signo == SIGSEGV
                    assert outcome.addr == WINDOW + page * 4096
        for guest in guests:                       # the sentry's copy-in agrees with the guest
            for page, entry in guest.model.items():
                if entry[0]:
                    data = guest.context.address_space.read(WINDOW + page * 4096, 8)
                    assert int.from_bytes(data, "little") == _value(entry)
    finally:
        platform.close()


@needs_kvm
def test_taking_access_away_is_seen_by_a_guest_that_used_the_page(platform):
    """The cases KVM's shadow page tables hide unless the platform replaces the tables."""
    guest = _start(platform)
    space = guest.context.address_space
    space.map(WINDOW, 4096, PROT_READ | PROT_WRITE)
    assert not isinstance(guest.access(platform, 0, 5), Fault)
    assert guest.access(platform, 0) == 5
    space.protect(WINDOW, 4096, PROT_READ)
    assert guest.access(platform, 0) == 5
    refused = guest.access(platform, 0, 9)
    assert isinstance(refused, Fault) and refused.signo == SIGSEGV and refused.error_code & 2
    space.unmap(WINDOW, 4096)
    gone = guest.access(platform, 0)
    assert isinstance(gone, Fault) and gone.addr == WINDOW


@needs_kvm
def test_private_file_pages_are_the_files_until_written(tmp_path):
    """MAP_PRIVATE of a file maps the file's own pages; the first write copies one, and every
    thread sees the copy while the file and a forked child keep the original."""
    path = tmp_path / "data"
    path.write_bytes((7).to_bytes(8, "little") * 512)
    fd = os.open(path, os.O_RDONLY)
    platform = get_platform("kvm")
    try:
        guest = _start(platform)
        space = guest.context.address_space
        space.map_file(WINDOW, 4096, PROT_READ | PROT_WRITE, fd, 0, shared=False)
        assert guest.access(platform, 0) == 7
        child = Guest(guest.context.fork(), {})
        assert not isinstance(guest.access(platform, 0, 99), Fault)
        thread = Guest(guest.context.clone_thread(), {})
        assert (guest.access(platform, 0), thread.access(platform, 0), child.access(platform, 0)) == (99, 99, 7)
        assert int.from_bytes(space.read(WINDOW, 8), "little") == 99
        assert path.read_bytes()[:8] == (7).to_bytes(8, "little")
        space.protect(WINDOW, 4096, PROT_READ)
        refused = guest.access(platform, 0, 5)
        assert isinstance(refused, Fault) and refused.signo == SIGSEGV
    finally:
        platform.close()
        os.close(fd)


@needs_kvm
def test_a_full_memory_file_is_a_fault_for_the_guest_not_a_sentry_crash(monkeypatch):
    from pysandbox.platform.kvm import memory
    monkeypatch.setattr(memory, "MEMORY_SIZE", 4 << 20)
    platform = get_platform("kvm")
    try:
        guest = _start(platform)
        guest.context.address_space.map(WINDOW, 8 << 20, PROT_READ | PROT_WRITE)
        outcomes = [guest.access(platform, page, 1) for page in range(0, 2048, 16)]
        faults = [o for o in outcomes if isinstance(o, Fault)]
        assert faults and all(f.signo == SIGSEGV for f in faults)
        assert not isinstance(outcomes[0], Fault)
    finally:
        platform.close()


@needs_kvm
def test_memory_the_guest_unmaps_goes_back_to_the_host(platform):
    guest = _start(platform)
    size = 4 << 20
    guest.context.address_space.map(WINDOW, size, PROT_READ | PROT_WRITE)
    for page in range(size // 4096):
        assert not isinstance(guest.access(platform, page, page + 1), Fault)
    held = os.fstat(platform.memory.fd).st_blocks * 512
    assert held >= size
    guest.context.address_space.unmap(WINDOW, size)
    assert os.fstat(platform.memory.fd).st_blocks * 512 <= held - size * 3 // 4     # page tables stay
    guest.context.address_space.map(WINDOW, 4096, PROT_READ | PROT_WRITE)
    assert guest.access(platform, 0) == 0          # a page given back reads as zero


@needs_kvm
def test_copy_in_of_unmapped_memory_is_efault(platform):
    space = platform.new_process().address_space
    with pytest.raises(SyscallError) as raised:
        space.read(WINDOW, 8)
    assert raised.value.errno == errno.EFAULT


def test_private_memory_after_fork_is_each_processs_own(cprog, each_platform):
    """Copy-on-write fork: parent, child, a thread of the parent and a grandchild write to the
    same private pages in turn, and a child read(2)s a file into memory shared since the fork;
    each sees what it would natively."""
    program = cprog("kvm_cow_fork")
    native = run_native([program, "/bin/busybox"])
    assert native.status == 0, native
    sandboxed = run_sandbox([program, "/bin/busybox"], platform=each_platform)
    assert (sandboxed.status, sandboxed.out) == (native.status, native.out)


@needs_kvm
def test_fork_shares_the_pages_until_one_side_writes(platform):
    """The child gets the parent's pages themselves, read-only in both; a write copies the page
    for the writer while another process holds it, and takes it back (no copy) once none does."""
    parent = _start(platform)
    space = parent.context.address_space
    space.map(WINDOW, 2 * 4096, PROT_READ | PROT_WRITE)
    for page in (0, 1):
        assert not isinstance(parent.access(platform, page, 10 + page), Fault)
    before = [space.pages[(WINDOW >> 12) + page][0] for page in (0, 1)]
    child = Guest(parent.context.fork(), {})
    child_space = child.context.address_space
    assert [child_space.pages[(WINDOW >> 12) + page][0] for page in (0, 1)] == before     # no copy made
    assert [platform.memory.fork_refs[page] for page in before] == [2, 2]
    assert not isinstance(parent.access(platform, 0, 20), Fault)
    assert (parent.access(platform, 0), child.access(platform, 0)) == (20, 10)
    assert space.pages[WINDOW >> 12][0] != before[0] and child_space.pages[WINDOW >> 12][0] == before[0]
    assert not isinstance(child.access(platform, 0, 30), Fault)      # the last holder: its page back
    assert child_space.pages[WINDOW >> 12][0] == before[0] and before[0] not in platform.memory.fork_refs
    assert (parent.access(platform, 0), child.access(platform, 0)) == (20, 30)
    child_space.release()
    assert platform.memory.fork_refs[before[1]] == 1          # the parent alone holds it now
    assert not isinstance(parent.access(platform, 1, 40), Fault)
    assert space.pages[(WINDOW >> 12) + 1][0] == before[1] and before[1] not in platform.memory.fork_refs
    assert (parent.access(platform, 0), parent.access(platform, 1)) == (20, 40)
    space.write(WINDOW, (50).to_bytes(8, "little"))       # the sentry's copy-out of a page no one shares
    assert parent.access(platform, 0) == 50


@needs_kvm
def test_after_fork_every_thread_sees_its_processs_copy(platform):
    """A thread that read a page before the fork (KVM caches that translation) reads what
    another thread of its process wrote after it: the copy, not the page the child keeps."""
    writer = _start(platform)
    space = writer.context.address_space
    space.map(WINDOW, 4096, PROT_READ | PROT_WRITE)
    assert not isinstance(writer.access(platform, 0, 1), Fault)
    reader = Guest(writer.context.clone_thread(), {})
    assert reader.access(platform, 0) == 1
    child = Guest(writer.context.fork(), {})
    assert not isinstance(writer.access(platform, 0, 2), Fault)
    assert (reader.access(platform, 0), writer.access(platform, 0), child.access(platform, 0)) == (2, 2, 1)
    assert not isinstance(reader.access(platform, 0, 3), Fault)
    assert (writer.access(platform, 0), child.access(platform, 0)) == (3, 1)
