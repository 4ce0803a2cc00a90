"""The stub: a tiny static ELF whose only job is to own an address space.

It never runs code of its own. The sentry points it at the `syscall; int3`
gadget to make host syscalls (mmap, munmap, mprotect, clone) on its behalf;
the workload's own syscalls are caught by PTRACE_SYSEMU before they run, so
they never reach the host. The image also carries the seccomp filter the
sentry installs in every stub: anything but the injected calls kills it.
"""
import os
import struct

from pysandbox.security.seccomp import (_DATA_ARCH, _DATA_NR, _JEQ_K, _JGE_K, _LD_W_ABS, _RET_K,
                                        AUDIT_ARCH_X86_64, SECCOMP_RET_ALLOW, SECCOMP_RET_KILL_PROCESS,
                                        X32_SYSCALL_BIT, _insn)

STUB_BASE = 0x7FF000000000          # the guest may use addresses below this
GUEST_ADDRESS_LIMIT = STUB_BASE

# The host syscalls a stub may make: only those the sentry injects. Dropping pages
# (MADV_DONTNEED) is done by mapping them anew, so madvise(2) is not among them.
STUB_SYSCALLS = {
    "close": 3, "mmap": 9, "mprotect": 10, "munmap": 11, "mremap": 25,
    "clone": 56, "recvmsg": 47, "exit": 60,
}

# A writable page after the code page: the recvmsg(2) arguments with which a stub takes a
# file the sentry sends over its channel (fd 0), so that it can map the file itself.
SCRATCH_ADDR = STUB_BASE + 0x1000
STUB_END = SCRATCH_ADDR + 0x1000
CHANNEL_FD = 0
MSGHDR_ADDR = SCRATCH_ADDR
_IOVEC_ADDR = SCRATCH_ADDR + 64
CMSG_ADDR = SCRATCH_ADDR + 96
CMSG_SPACE_ONE_FD = 24
TAG_ADDR = SCRATCH_ADDR + 128           # the 8-byte tag that travels with each fd
CMSG_FD_OFFSET = 16


def scratch_page_init():
    """The msghdr, iovec and control buffer a stub's injected recvmsg uses (written once)."""
    msghdr = struct.pack("<QIxxxxQQQQixxxx", 0, 0, _IOVEC_ADDR, 1, CMSG_ADDR, CMSG_SPACE_ONE_FD, 0)
    iovec = struct.pack("<QQ", TAG_ADDR, 8)
    return msghdr.ljust(64, b"\0") + iovec


_EHDR_SIZE = 64
_PHDR_SIZE = 56
_GADGET = bytes([0x0F, 0x05, 0xCC])   # syscall; int3
# cld; rep movsb; int3: the stub copies within its own memory for the sentry (large reads).
_COPY_GADGET = bytes([0xFC, 0xF3, 0xA4, 0xCC])
_NAME = b"pysandbox-stub\0"


def seccomp_filter(allowed=STUB_SYSCALLS.values()):
    """A classic BPF program: allow `allowed` x86_64 syscalls, kill the process on anything else."""
    allowed = sorted(allowed)
    # Jump offsets count from the next instruction. Layout: 4 header instructions,
    # one comparison per allowed syscall, then KILL, then ALLOW.
    kill = 4 + len(allowed)
    allow = kill + 1
    program = [
        _insn(_LD_W_ABS, _DATA_ARCH),
        _insn(_JEQ_K, AUDIT_ARCH_X86_64, 0, kill - 2),
        _insn(_LD_W_ABS, _DATA_NR),
        _insn(_JGE_K, X32_SYSCALL_BIT, kill - 4, 0),
    ]
    for index, number in enumerate(allowed):
        position = 4 + index
        program.append(_insn(_JEQ_K, number, allow - position - 1, 0))
    program.append(_insn(_RET_K, SECCOMP_RET_KILL_PROCESS))
    program.append(_insn(_RET_K, SECCOMP_RET_ALLOW))
    return b"".join(program)


def _layout():
    gadget = _EHDR_SIZE + 2 * _PHDR_SIZE
    name = gadget + len(_GADGET) + len(_COPY_GADGET)
    fprog = (name + len(_NAME) + 7) & ~7
    filter_ = fprog + 16
    return gadget, name, fprog, filter_


_GADGET_OFFSET, _NAME_OFFSET, _FPROG_OFFSET, _FILTER_OFFSET = _layout()
GADGET_ADDR = STUB_BASE + _GADGET_OFFSET
COPY_GADGET_ADDR = GADGET_ADDR + len(_GADGET)
NAME_ADDR = STUB_BASE + _NAME_OFFSET
SECCOMP_FPROG_ADDR = STUB_BASE + _FPROG_OFFSET


def stub_elf_bytes():
    program = seccomp_filter()
    fprog = struct.pack("<HxxxxxxQ", len(program) // 8, STUB_BASE + _FILTER_OFFSET)
    body = bytearray(_FILTER_OFFSET + len(program))
    body[_GADGET_OFFSET:_GADGET_OFFSET + len(_GADGET) + len(_COPY_GADGET)] = _GADGET + _COPY_GADGET
    body[_NAME_OFFSET:_NAME_OFFSET + len(_NAME)] = _NAME
    body[_FPROG_OFFSET:_FPROG_OFFSET + len(fprog)] = fprog
    body[_FILTER_OFFSET:] = program
    size = len(body)
    entry = GADGET_ADDR + 2            # the int3: never reached, the tracer holds it at exec
    ident = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)
    body[:_EHDR_SIZE] = ident + struct.pack("<HHIQQQIHHHHHH", 2, 0x3E, 1, entry, _EHDR_SIZE, 0, 0,
                                            _EHDR_SIZE, _PHDR_SIZE, 2, 0, 0, 0)
    code = struct.pack("<IIQQQQQQ", 1, 5, 0, STUB_BASE, STUB_BASE, size, size, 0x1000)
    scratch = struct.pack("<IIQQQQQQ", 1, 6, 0, SCRATCH_ADDR, SCRATCH_ADDR, 0, 0x1000, 0x1000)
    return bytes(body[:_EHDR_SIZE]) + code + scratch + bytes(body[_EHDR_SIZE + 2 * _PHDR_SIZE:])


def stub_memfd():
    """An executable memfd holding the stub, so nothing is written to disk."""
    fd = os.memfd_create("pysandbox-stub", 0)
    os.write(fd, stub_elf_bytes())
    return fd
