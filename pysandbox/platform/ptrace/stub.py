"""The stub: a tiny static ELF whose only job is to own an address space.

It never runs code of its own. The sentry points it at the `syscall; int3`
gadget to make host syscalls (mmap, munmap, mprotect, clone) on its behalf;
the workload's own syscalls are caught by PTRACE_SYSEMU before they run.
"""
import os
import struct

STUB_BASE = 0x7FF000000000          # the guest may use addresses below this
GUEST_ADDRESS_LIMIT = STUB_BASE

_EHDR_SIZE = 64
_PHDR_SIZE = 56
_CODE_OFFSET = _EHDR_SIZE + _PHDR_SIZE
_GADGET = bytes([0x0F, 0x05, 0xCC])   # syscall; int3
_NAME = b"pysandbox-stub\0"

GADGET_ADDR = STUB_BASE + _CODE_OFFSET
NAME_ADDR = GADGET_ADDR + len(_GADGET)


def stub_elf_bytes():
    size = _CODE_OFFSET + len(_GADGET) + len(_NAME)
    entry = GADGET_ADDR + 2            # the int3: never reached, the tracer holds it at exec
    ident = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)
    ehdr = ident + struct.pack("<HHIQQQIHHHHHH", 2, 0x3E, 1, entry, _EHDR_SIZE, 0, 0,
                               _EHDR_SIZE, _PHDR_SIZE, 1, 0, 0, 0)
    phdr = struct.pack("<IIQQQQQQ", 1, 5, 0, STUB_BASE, STUB_BASE, size, size, 0x1000)
    return ehdr + phdr + _GADGET + _NAME


def stub_memfd():
    """An executable memfd holding the stub, so nothing is written to disk."""
    fd = os.memfd_create("pysandbox-stub", 0)
    os.write(fd, stub_elf_bytes())
    return fd
