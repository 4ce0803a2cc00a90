"""The ptrace platform on its own: stubs, injected syscalls, the stub's seccomp filter."""
import errno
import os
import signal

import pytest

from pysandbox.platform import Fault, Syscall
from pysandbox.platform.ptrace import _loop
from pysandbox.platform.ptrace.platform import PtracePlatform
from pysandbox.platform.ptrace.stub import (GADGET_ADDR, SCRATCH_ADDR, STUB_BASE, STUB_END, STUB_SYSCALLS,
                                            seccomp_filter)

CODE_ADDR = 0x400000
PROT_RWX = 7
SYS_GETPID, SYS_GETPPID = 39, 110
# mov eax, 110 (getppid); syscall; jmp back to the mov
GETPPID_LOOP = bytes([0xB8, SYS_GETPPID, 0, 0, 0, 0x0F, 0x05, 0xEB, 0xF7])
NULL_STORE = bytes([0x48, 0x31, 0xC0, 0x48, 0x89, 0x00])    # xor rax, rax; mov [rax], rax


@pytest.fixture
def platform():
    platform = PtracePlatform(cpu=None)
    yield platform
    platform.close()


def _stub_with_code(platform, code):
    context = platform.new_process()
    context.address_space.map(CODE_ADDR, 0x1000, PROT_RWX)
    context.address_space.write(CODE_ADDR, code)
    context.regs.rip = CODE_ADDR
    return context


def _maps(pid):
    with open(f"/proc/{pid}/maps") as maps:
        return maps.read()


def test_a_new_stub_holds_only_its_own_page(platform):
    context = platform.new_process()
    regions = [line.split()[0] for line in _maps(context.pid).splitlines() if "vsyscall" not in line]
    assert regions == [f"{STUB_BASE:x}-{STUB_BASE + 0x1000:x}", f"{SCRATCH_ADDR:x}-{STUB_END:x}"]
    with open(f"/proc/{context.pid}/comm") as comm:
        assert comm.read().strip() == "pysandbox-stub"
    with open(f"/proc/{context.pid}/status") as status:
        assert "Seccomp:\t2" in status.read()


def test_guest_syscalls_stop_in_the_sentry_and_never_run(platform):
    context = _stub_with_code(platform, GETPPID_LOOP)
    for _ in range(3):
        events, _ready = platform.resume_and_wait(context)
        assert events == [(context, Syscall())]
        assert context.regs.orig_rax == SYS_GETPPID
        context.regs.rax = 12345                      # the sentry's answer
    assert context.regs.rip == CODE_ADDR + 7


def test_a_fault_is_reported_with_its_address(platform):
    context = _stub_with_code(platform, NULL_STORE)
    events, _ready = platform.resume_and_wait(context)
    [(got_context, event)] = events
    assert got_context is context
    assert event == Fault(signal.SIGSEGV, 1, 0)


def test_memory_reads_and_writes_ignore_protection_but_not_holes(platform):
    context = platform.new_process()
    space = context.address_space
    space.map(CODE_ADDR, 0x2000, 1)                    # read-only
    space.write(CODE_ADDR + 10, b"written")
    assert space.read(CODE_ADDR + 10, 7) == b"written"
    from pysandbox.sentry.errors import SyscallError
    with pytest.raises(SyscallError):
        space.read(CODE_ADDR + 0x3000, 4)


def test_fork_copies_memory_and_threads_share_it(platform):
    context = _stub_with_code(platform, GETPPID_LOOP)
    child = context.fork()
    assert child.pid != context.pid
    child.address_space.write(CODE_ADDR + 0x100, b"child")
    assert context.address_space.read(CODE_ADDR + 0x100, 5) == bytes(5)
    thread = context.clone_thread()
    assert thread.pid == context.pid and thread.tid != context.tid
    context.address_space.write(CODE_ADDR + 0x200, b"shared")
    assert thread.address_space.read(CODE_ADDR + 0x200, 6) == b"shared"


def test_a_stub_maps_a_host_file_it_receives(platform, tmp_path):
    path = tmp_path / "data"
    path.write_bytes(b"A" * 4096 + b"B" * 4096)
    context = platform.new_process()
    fd = os.open(path, os.O_RDONLY)
    try:
        context.address_space.map_file(CODE_ADDR, 0x2000, 1, fd, 0x1000)
        context.address_space.map_file(CODE_ADDR + 0x2000, 0x1000, 1, fd, 0)
    finally:
        os.close(fd)
    assert context.address_space.read(CODE_ADDR, 4) == b"BBBB"
    assert context.address_space.read(CODE_ADDR + 0x2000, 4) == b"AAAA"
    with open(f"/proc/{context.pid}/maps") as maps:
        assert str(path) in maps.read()
    assert sorted(os.listdir(f"/proc/{context.pid}/fd")) == ["0"]     # only its channel


def test_a_stub_making_a_forbidden_syscall_is_killed(platform):
    context = platform.new_process()
    pid = context.pid
    result = _loop.lib.psb_inject(context.tid, GADGET_ADDR, SYS_GETPID, 0, 0, 0, 0, 0, 0)
    assert result == -errno.ESRCH                      # it died (and was reaped) instead of answering
    assert not os.path.exists(f"/proc/{pid}")


def test_the_filter_allows_exactly_the_injected_calls():
    program = seccomp_filter()
    assert len(program) // 8 == 4 + len(STUB_SYSCALLS) + 2
    assert len(STUB_SYSCALLS) <= 8


def test_large_writes_reach_read_only_pages(platform):
    """AddressSpace.write ignores protections: process_vm_writev stops at the first read-only
    page and /proc/PID/mem writes the rest (the loader fills read-only segments this way)."""
    prot_read, prot_read_write, base = 1, 3, 0x500000
    space = platform.new_process().address_space
    space.map(base, 0x4000, prot_read_write)
    space.protect(base + 0x2000, 0x2000, prot_read)
    data = os.urandom(0x4000)
    space.write(base, data)
    assert space.read(base, 0x4000) == data
    space.protect(base, 0x4000, prot_read)
    space.write(base + 0x800, bytes(0x3000))
    assert space.read(base, 0x4000) == data[:0x800] + bytes(0x3000) + data[0x3800:]
