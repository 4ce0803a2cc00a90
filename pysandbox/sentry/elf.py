"""Parsing of x86_64 ELF64 executables: the file header and program headers (pure).

Only what execve needs is read; section headers are ignored, as the kernel does.
"""
import os
import struct
from collections import namedtuple
from collections.abc import Callable

ELF_MAGIC = b"\x7fELF"
ELFCLASS64 = 2
ELFDATA2LSB = 1
EM_X86_64 = 62

ET_EXEC = 2
ET_DYN = 3

PT_LOAD = 1
PT_DYNAMIC = 2
PT_INTERP = 3
PT_PHDR = 6
PT_GNU_STACK = 0x6474E551

PF_X = 1
PF_W = 2
PF_R = 4

_EHDR = struct.Struct("<16sHHIQQQIHHHHHH")
_PHDR = struct.Struct("<IIQQQQQQ")
EHDR_SIZE = _EHDR.size    # 64
PHDR_SIZE = _PHDR.size    # 56

# Linux refuses a program header table larger than one page (binfmt_elf's load_elf_phdrs).
MAX_PHDR_TABLE = 4096
PATH_MAX = 4096
_PAGE_SIZE = 4096


class ElfError(Exception):
    """The bytes are not a loadable x86_64 ELF64 executable."""


ProgramHeader = namedtuple("ProgramHeader", "p_type p_flags p_offset p_vaddr p_filesz p_memsz p_align")


_ELF_INFO_FIELDS = (
    "e_type", "e_entry", "e_phoff", "e_phentsize", "e_phnum",
    "phdrs",             # tuple of ProgramHeader
    "interp",            # PT_INTERP path, None for a static executable
    "phdr_vaddr",        # where the program headers sit in memory, before any load bias; or None
    "stack_executable",  # PT_GNU_STACK asks for an executable stack
)


class ElfInfo(namedtuple("ElfInfo", _ELF_INFO_FIELDS)):
    __slots__ = ()

    @property
    def load_segments(self) -> list[ProgramHeader]:
        return [ph for ph in self.phdrs if ph.p_type == PT_LOAD]


def _exact_reader(read: Callable[[int, int], bytes]) -> Callable[[int, int], bytes]:
    def read_exactly(offset: int, size: int) -> bytes:
        data = read(offset, size)
        if len(data) != size:
            raise ElfError(f"file is truncated: wanted {size} bytes at offset {offset:#x}")
        return data
    return read_exactly


def _check_class_and_machine(ident: bytes, e_machine: int) -> None:
    if ident[4] != ELFCLASS64:
        raise ElfError("not a 64-bit ELF file")
    if ident[5] != ELFDATA2LSB:
        raise ElfError("not a little-endian ELF file")
    if e_machine != EM_X86_64:
        raise ElfError(f"ELF machine {e_machine} is not x86_64")


def _check_load_segment(ph: ProgramHeader) -> None:
    if ph.p_filesz > ph.p_memsz:
        raise ElfError(f"PT_LOAD at {ph.p_vaddr:#x} has filesz > memsz")
    if (ph.p_vaddr - ph.p_offset) % _PAGE_SIZE:
        raise ElfError(f"PT_LOAD at {ph.p_vaddr:#x}: vaddr and offset differ modulo the page size")
    if ph.p_vaddr + ph.p_memsz >= 1 << 64:
        raise ElfError(f"PT_LOAD at {ph.p_vaddr:#x} wraps around the address space")


def _read_interp(ph: ProgramHeader, read_exactly: Callable[[int, int], bytes]) -> str:
    if not 2 <= ph.p_filesz <= PATH_MAX:
        raise ElfError(f"PT_INTERP has a bad size ({ph.p_filesz})")
    raw = read_exactly(ph.p_offset, ph.p_filesz)
    if raw[-1] != 0:
        raise ElfError("PT_INTERP path is not NUL-terminated")
    return os.fsdecode(raw.split(b"\0", 1)[0])


def _phdr_vaddr(e_phoff: int, phdrs: tuple[ProgramHeader, ...]) -> int | None:
    for ph in phdrs:
        if ph.p_type == PT_PHDR:
            return ph.p_vaddr
    for ph in phdrs:
        if ph.p_type == PT_LOAD and ph.p_offset <= e_phoff < ph.p_offset + ph.p_filesz:
            return ph.p_vaddr + (e_phoff - ph.p_offset)
    return None


def parse_elf(data: bytes, read: Callable[[int, int], bytes] | None = None) -> ElfInfo:
    """Parse the ELF header at the start of `data`.

    `read(offset, size) -> bytes` fetches further parts of the file (the
    program headers and the PT_INTERP path); without it they must lie in `data`.
    """
    if data[:4] != ELF_MAGIC:
        raise ElfError("not an ELF file (bad magic)")
    if len(data) < EHDR_SIZE:
        raise ElfError("ELF header is truncated")
    read_exactly = _exact_reader(read or (lambda offset, size: data[offset:offset + size]))
    (ident, e_type, e_machine, _version, e_entry, e_phoff, _shoff, _flags, _ehsize,
     e_phentsize, e_phnum, _shentsize, _shnum, _shstrndx) = _EHDR.unpack_from(data)
    _check_class_and_machine(ident, e_machine)
    if e_type not in (ET_EXEC, ET_DYN):
        raise ElfError(f"ELF type {e_type} is neither ET_EXEC nor ET_DYN")
    if e_phentsize != PHDR_SIZE:
        raise ElfError(f"program header size {e_phentsize} is not {PHDR_SIZE}")
    if not 1 <= e_phnum * PHDR_SIZE <= MAX_PHDR_TABLE:
        raise ElfError(f"bad program header count {e_phnum}")

    table = read_exactly(e_phoff, e_phnum * PHDR_SIZE)
    phdrs = tuple(ProgramHeader(p_type, p_flags, p_offset, p_vaddr, p_filesz, p_memsz, p_align)
             for p_type, p_flags, p_offset, p_vaddr, _paddr, p_filesz, p_memsz, p_align
             in _PHDR.iter_unpack(table))

    interp = None
    stack_executable = False
    for ph in phdrs:
        if ph.p_type == PT_LOAD:
            _check_load_segment(ph)
        elif ph.p_type == PT_INTERP and interp is None:
            interp = _read_interp(ph, read_exactly)
        elif ph.p_type == PT_GNU_STACK:
            stack_executable = bool(ph.p_flags & PF_X)
    if not any(ph.p_type == PT_LOAD for ph in phdrs):
        raise ElfError("no PT_LOAD segment")

    return ElfInfo(e_type=e_type, e_entry=e_entry, e_phoff=e_phoff, e_phentsize=e_phentsize,
                   e_phnum=e_phnum, phdrs=phdrs, interp=interp,
                   phdr_vaddr=_phdr_vaddr(e_phoff, phdrs), stack_executable=stack_executable)
