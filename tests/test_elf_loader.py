"""ELF parsing and the execve loader, on real host binaries and on ELF files built here.

The loader runs against FakeMM, which keeps the mappings in a VmaSet and guest
memory in a dict of page-sized bytearrays.
"""
import errno
import os
import re
import shutil
import struct
import subprocess
from types import SimpleNamespace

import pytest

from pysandbox.sentry import loader
from pysandbox.sentry.elf import (ET_DYN, ET_EXEC, PF_R, PF_W, PF_X, PT_GNU_STACK, PT_INTERP, PT_LOAD,
                                  PT_PHDR, ElfError, parse_elf)
from pysandbox.sentry.errors import SyscallError
from pysandbox.sentry.loader import (AT_BASE, AT_CLKTCK, AT_EGID, AT_ENTRY, AT_EUID, AT_EXECFN, AT_FLAGS,
                                     AT_GID, AT_HWCAP, AT_HWCAP2, AT_MINSIGSTKSZ, AT_NULL, AT_PAGESZ,
                                     AT_PHDR, AT_PHENT, AT_PHNUM, AT_PLATFORM, AT_RANDOM, AT_SECURE,
                                     AT_UID, ELF_ET_DYN_BASE, MAP_ANONYMOUS, MAP_FIXED, PROT_EXEC,
                                     PROT_READ, PROT_WRITE, STACK_SIZE, load_executable,
                                     parse_interpreter_line)
from pysandbox.sentry.vma import PAGE_SIZE, Vma, VmaSet, page_round_down, page_round_up

BUSYBOX = "/bin/busybox"
STACK_TOP = 0x7FFFFFFDE000
MMAP_BASE = 0x7FFFF7FFF000
RANDOM = bytes(range(100, 116))
CREDS = SimpleNamespace(uid=1000, euid=1001, gid=2000, egid=2001)
HWCAP = 0x178BFBFF
PIE_BIAS = ELF_ET_DYN_BASE & ~(PAGE_SIZE - 1)


class HostFile:
    def __init__(self, path):
        self.path = path
        with open(path, "rb") as f:
            self._data = f.read()

    def pread(self, offset, n):
        return self._data[offset:offset + n]

    def size(self):
        return len(self._data)


def open_host_file(path):
    """open_file for the tests: sandbox paths are host paths; execve's permission rules apply."""
    if not os.path.exists(path):
        raise SyscallError(errno.ENOENT)
    if os.path.isdir(path) or not os.access(path, os.X_OK):
        raise SyscallError(errno.EACCES)
    return HostFile(path)


class FakeMM:
    """Just enough of MemoryManager for the loader: mmap(2) and forced copy_out."""

    MIN_ADDR = 0x10000

    def __init__(self):
        self.vmas = VmaSet()
        self.pages = {}
        self.calls = []
        self.mmap_base = MMAP_BASE
        self.brk_start = self.brk = None

    def mmap(self, addr, length, prot, flags, file=None, offset=0, name=""):
        self.calls.append((addr, length, prot, flags, file, offset, name))
        assert length > 0 and length % PAGE_SIZE == 0 and offset % PAGE_SIZE == 0
        assert (file is None) == bool(flags & MAP_ANONYMOUS)
        if not flags & MAP_FIXED:
            addr = self.vmas.find_free(length, self.MIN_ADDR, self.mmap_base, hint=addr)
            if addr is None:
                raise SyscallError(errno.ENOMEM)
        assert addr % PAGE_SIZE == 0 and addr >= self.MIN_ADDR
        self.vmas.insert(Vma(addr, addr + length, prot, file=file, offset=offset, name=name))
        for page in range(addr, addr + length, PAGE_SIZE):
            self.pages.pop(page, None)
        if file is not None:
            self._write(addr, file.pread(offset, length))
        return addr

    def copy_out(self, addr, data, force=False):
        assert force
        if not self.vmas.is_fully_mapped(addr, addr + len(data)):
            raise SyscallError(errno.EFAULT)
        self._write(addr, data)

    def _write(self, addr, data):
        position = 0
        while position < len(data):
            page = page_round_down(addr + position)
            within = addr + position - page
            chunk = data[position:position + PAGE_SIZE - within]
            self.pages.setdefault(page, bytearray(PAGE_SIZE))[within:within + len(chunk)] = chunk
            position += len(chunk)

    def read(self, addr, n):
        assert self.vmas.is_fully_mapped(addr, addr + n), hex(addr)
        out = bytearray()
        while len(out) < n:
            page = page_round_down(addr + len(out))
            within = addr + len(out) - page
            data = self.pages.get(page, bytes(PAGE_SIZE))
            out += data[within:within + n - len(out)]
        return bytes(out)

    def read_u64(self, addr):
        return struct.unpack("<Q", self.read(addr, 8))[0]

    def read_cstring(self, addr):
        out = bytearray()
        while True:
            byte = self.read(addr + len(out), 1)
            if byte == b"\0":
                return bytes(out)
            out += byte


def load(path, argv=None, envp=(), mm=None, **overrides):
    mm = mm or FakeMM()
    options = dict(creds=CREDS, random_bytes=RANDOM, hwcap=HWCAP, stack_top=STACK_TOP)
    options.update(overrides)
    result = load_executable(mm, open_host_file, path, argv if argv is not None else [path],
                             list(envp), **options)
    return mm, result


def parse_file(path):
    f = HostFile(path)
    return parse_elf(f.pread(0, 256), f.pread)


def decode_stack(mm, rsp):
    """Read argc, argv, envp and auxv back from the initial stack."""
    argc = mm.read_u64(rsp)
    argv_ptrs = [mm.read_u64(rsp + 8 * (1 + i)) for i in range(argc)]
    assert mm.read_u64(rsp + 8 * (1 + argc)) == 0
    cursor = rsp + 8 * (2 + argc)
    envp_ptrs = []
    while (ptr := mm.read_u64(cursor)) != 0:
        envp_ptrs.append(ptr)
        cursor += 8
    cursor += 8
    auxv = []
    while True:
        key, value = mm.read_u64(cursor), mm.read_u64(cursor + 8)
        auxv.append((key, value))
        cursor += 16
        if key == AT_NULL:
            break
    return SimpleNamespace(argv=[mm.read_cstring(p) for p in argv_ptrs],
                           envp=[mm.read_cstring(p) for p in envp_ptrs],
                           argv_ptrs=argv_ptrs, auxv=auxv, aux=dict(auxv), vectors_end=cursor)


def expected_prot(p_flags):
    return ((PROT_READ if p_flags & PF_R else 0) | (PROT_WRITE if p_flags & PF_W else 0)
            | (PROT_EXEC if p_flags & PF_X else 0))


def check_segments_loaded(mm, path, bias):
    """Every PT_LOAD reads back as the file's bytes, then zeros up to memsz, with its protection."""
    info = parse_file(path)
    data = HostFile(path)
    segments = info.load_segments
    for i, ph in enumerate(segments):
        start = bias + ph.p_vaddr
        next_start = min([bias + other.p_vaddr for other in segments[i + 1:]] or [1 << 64])
        file_end = min(start + ph.p_filesz, next_start)
        assert mm.read(start, file_end - start) == data.pread(ph.p_offset, file_end - start)
        zero_end = min(start + ph.p_memsz, page_round_down(next_start))
        if zero_end > start + ph.p_filesz:
            assert mm.read(start + ph.p_filesz, zero_end - start - ph.p_filesz) == bytes(
                zero_end - start - ph.p_filesz)
        assert mm.vmas.find(start).prot == expected_prot(ph.p_flags)
    return info


@pytest.fixture(scope="session")
def busybox():
    if not os.path.exists(BUSYBOX) or parse_file(BUSYBOX).interp is not None:
        pytest.skip("needs the static /bin/busybox (apt-get install busybox-static)")
    return BUSYBOX


@pytest.fixture(scope="session")
def static_pie(tmp_path_factory):
    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed")
    directory = tmp_path_factory.mktemp("static_pie")
    source = directory / "hello.c"
    source.write_text("int counter = 7; char big[100000];\nint main(void) { return counter + big[5]; }\n")
    binary = directory / "hello"
    built = subprocess.run(["gcc", "-static-pie", "-O1", "-o", str(binary), str(source)],
                           capture_output=True, text=True)
    if built.returncode != 0:
        pytest.skip(f"gcc -static-pie failed: {built.stderr.strip()}")
    return str(binary)


# --- ELF files built here ---------------------------------------------------------------------

def build_elf(segments, *, e_type=ET_EXEC, entry=0x401000, ident=None, machine=62, phentsize=56,
              extra_phdrs=(), file_size=0x3000, fill=b"\xaa", blobs=()):
    """An ELF64 image: segments are (p_flags, p_offset, p_vaddr, p_filesz, p_memsz[, p_align]).

    The file is filled with `fill` so that anything the loader should zero is not zero in the file.
    """
    phdrs = [(PT_LOAD, seg[0], seg[1], seg[2], seg[3], seg[4], seg[5] if len(seg) > 5 else PAGE_SIZE)
             for seg in segments] + list(extra_phdrs)
    image = bytearray(fill * file_size)
    ident = ident or b"\x7fELF\x02\x01\x01" + bytes(9)
    image[:64] = struct.pack("<16sHHIQQQIHHHHHH", ident, e_type, machine, 1, entry, 64, 0, 0, 64,
                             phentsize, len(phdrs), 64, 0, 0)
    for i, (p_type, flags, offset, vaddr, filesz, memsz, align) in enumerate(phdrs):
        image[64 + 56 * i:64 + 56 * (i + 1)] = struct.pack("<IIQQQQQQ", p_type, flags, offset, vaddr,
                                                           vaddr, filesz, memsz, align)
    for offset, blob in blobs:
        image[offset:offset + len(blob)] = blob
    return bytes(image)


def write_executable(directory, name, content):
    path = directory / name
    path.write_bytes(content)
    path.chmod(0o755)
    return str(path)


SMALL_SEGMENTS = [
    (PF_R | PF_X, 0, 0x400000, 0x1800, 0x1800),
    (PF_R | PF_W, 0x2100, 0x402100, 0x200, 0x3000),   # bss tail within the last file page, then more
    (PF_R | PF_W, 0, 0x410000, 0, 0x1800),             # bss only
]


def test_parse_synthetic_elf():
    image = build_elf(SMALL_SEGMENTS, extra_phdrs=[(PT_GNU_STACK, PF_R | PF_W | PF_X, 0, 0, 0, 0, 16)])
    info = parse_elf(image)
    assert (info.e_type, info.e_entry, info.e_phoff, info.e_phentsize, info.e_phnum) == (
        ET_EXEC, 0x401000, 64, 56, 4)
    assert [(ph.p_vaddr, ph.p_filesz, ph.p_memsz) for ph in info.load_segments] == [
        (0x400000, 0x1800, 0x1800), (0x402100, 0x200, 0x3000), (0x410000, 0, 0x1800)]
    assert info.interp is None
    assert info.phdr_vaddr == 0x400040
    assert info.stack_executable


def test_parse_reads_interp_and_pt_phdr():
    interp = b"/lib/ld.so\0"
    image = build_elf(SMALL_SEGMENTS, extra_phdrs=[(PT_INTERP, PF_R, 0x300, 0x400300, len(interp),
                                                    len(interp), 1),
                                                   (PT_PHDR, PF_R, 64, 0x400040, 56 * 5, 56 * 5, 8)],
                      blobs=[(0x300, interp)])
    info = parse_elf(image[:256], lambda offset, n: image[offset:offset + n])
    assert info.interp == "/lib/ld.so"
    assert info.phdr_vaddr == 0x400040
    assert not info.stack_executable


@pytest.mark.parametrize("change, message", [
    (lambda b: b"\x7fELG" + b[4:], "magic"),
    (lambda b: b[:4] + b"\x01" + b[5:], "64-bit"),
    (lambda b: b[:5] + b"\x02" + b[6:], "little-endian"),
    (lambda b: b[:16] + struct.pack("<H", 1) + b[18:], "neither"),
    (lambda b: b[:18] + struct.pack("<H", 40) + b[20:], "x86_64"),
    (lambda b: b[:54] + struct.pack("<H", 32) + b[56:], "program header size"),
    (lambda b: b[:56] + struct.pack("<H", 0) + b[58:], "count"),
    (lambda b: b[:56] + struct.pack("<H", 100) + b[58:], "count"),
    (lambda b: b[:32] + struct.pack("<Q", 0x10000) + b[40:], "truncated"),
    (lambda b: b[:40], "truncated"),
    (lambda b: b"", "magic"),
])
def test_parse_rejects_bad_headers(change, message):
    with pytest.raises(ElfError, match=message):
        parse_elf(change(build_elf(SMALL_SEGMENTS)))


@pytest.mark.parametrize("segment, message", [
    ((PF_R, 0, 0x400000, 0x2000, 0x1000), "filesz > memsz"),
    ((PF_R, 0x10, 0x400000, 0x100, 0x100), "modulo"),
])
def test_parse_rejects_bad_segments(segment, message):
    with pytest.raises(ElfError, match=message):
        parse_elf(build_elf([segment]))


def test_parse_rejects_bad_interp():
    image = build_elf(SMALL_SEGMENTS, extra_phdrs=[(PT_INTERP, PF_R, 0x300, 0, 4, 4, 1)],
                      blobs=[(0x300, b"/abc")])
    with pytest.raises(ElfError, match="NUL"):
        parse_elf(image)


def readelf_load_segments(path):
    if shutil.which("readelf") is None:
        pytest.skip("readelf is not installed")
    out = subprocess.run(["readelf", "-lW", path], capture_output=True, text=True, check=True).stdout
    pattern = re.compile(r"^\s*LOAD\s+0x(\w+)\s+0x(\w+)\s+0x\w+\s+0x(\w+)\s+0x(\w+)\s+([RWE ]+?)\s+0x(\w+)$")
    segments = []
    for line in out.splitlines():
        if match := pattern.match(line):
            offset, vaddr, filesz, memsz, flags, align = match.groups()
            p_flags = (PF_R if "R" in flags else 0) | (PF_W if "W" in flags else 0) | (PF_X if "E" in flags else 0)
            segments.append((int(offset, 16), int(vaddr, 16), int(filesz, 16), int(memsz, 16), p_flags,
                             int(align, 16)))
    return segments


@pytest.mark.parametrize("path", ["/bin/true", "/usr/bin/python3", BUSYBOX])
def test_parse_host_binaries_agrees_with_readelf(path):
    if not os.path.exists(path):
        pytest.skip(f"{path} is not installed")
    info = parse_file(path)
    assert [(ph.p_offset, ph.p_vaddr, ph.p_filesz, ph.p_memsz, ph.p_flags, ph.p_align)
            for ph in info.load_segments] == readelf_load_segments(path)
    assert info.e_type in (ET_EXEC, ET_DYN)
    assert info.phdr_vaddr is not None


def test_parse_host_binaries_kinds(busybox, static_pie):
    true = parse_file("/bin/true")
    assert true.interp and true.interp.startswith("/lib") and "ld-linux" in true.interp
    assert parse_file(busybox).e_type == ET_EXEC and parse_file(busybox).interp is None
    pie = parse_file(static_pie)
    assert pie.e_type == ET_DYN and pie.interp is None
    assert not any(ph.p_type == PT_PHDR for ph in pie.phdrs)
    assert pie.phdr_vaddr == pie.e_phoff  # computed from the PT_LOAD that maps offset 0 at 0


# --- loading -------------------------------------------------------------------------------------

def test_load_static_busybox(busybox):
    mm, result = load(busybox, [busybox, "echo", "hi"], ["A=1", "PATH=/bin"])
    info = check_segments_loaded(mm, busybox, 0)
    assert result.entry == info.e_entry
    assert result.interp_base == 0
    assert result.exe_path == busybox
    highest = max(ph.p_vaddr + ph.p_memsz for ph in info.load_segments)
    assert result.brk == mm.brk_start == mm.brk == page_round_up(highest)
    assert mm.vmas.find(result.entry).prot & PROT_EXEC
    stack = mm.vmas.find(STACK_TOP - 1)
    assert (stack.start, stack.end, stack.name, stack.prot) == (
        STACK_TOP - STACK_SIZE, STACK_TOP, "[stack]", PROT_READ | PROT_WRITE)


def test_load_dynamic_pie_with_interpreter():
    mm, result = load("/bin/true")
    exe = check_segments_loaded(mm, "/bin/true", PIE_BIAS)
    interp = parse_file(exe.interp)
    low = page_round_down(min(ph.p_vaddr for ph in interp.load_segments))
    span = page_round_up(max(ph.p_vaddr + ph.p_memsz for ph in interp.load_segments)) - low
    assert result.interp_base == MMAP_BASE - span  # top-down, right under mmap_base
    check_segments_loaded(mm, exe.interp, result.interp_base)
    assert mm.read(result.interp_base, 4) == b"\x7fELF"
    assert result.entry == result.interp_base + interp.e_entry
    stack = decode_stack(mm, result.rsp)
    assert stack.aux[AT_BASE] == result.interp_base
    assert stack.aux[AT_ENTRY] == PIE_BIAS + exe.e_entry
    assert stack.aux[AT_PHDR] == result.phdr == PIE_BIAS + exe.phdr_vaddr
    assert mm.read(result.phdr, 56 * exe.e_phnum) == HostFile("/bin/true").pread(exe.e_phoff, 56 * exe.e_phnum)
    assert result.brk == page_round_up(PIE_BIAS + max(ph.p_vaddr + ph.p_memsz for ph in exe.load_segments))


def test_load_position_dependent_python_with_interpreter():
    mm, result = load("/usr/bin/python3")
    bias = PIE_BIAS if parse_file("/usr/bin/python3").e_type == ET_DYN else 0
    exe = check_segments_loaded(mm, "/usr/bin/python3", bias)
    assert exe.interp is not None and result.interp_base > 0
    stack = decode_stack(mm, result.rsp)
    assert mm.read(stack.aux[AT_PHDR], 56) == HostFile("/usr/bin/python3").pread(exe.e_phoff, 56)


def test_load_static_pie(static_pie):
    mm, result = load(static_pie)
    info = check_segments_loaded(mm, static_pie, PIE_BIAS)
    assert result.interp_base == 0
    assert result.entry == PIE_BIAS + info.e_entry
    assert result.phdr == PIE_BIAS + info.e_phoff
    assert mm.read(result.phdr, 56) == HostFile(static_pie).pread(info.e_phoff, 56)


def test_segments_and_bss_zeroing(tmp_path):
    path = write_executable(tmp_path, "small", build_elf(SMALL_SEGMENTS))
    mm, result = load(path)
    file = HostFile(path)
    assert mm.read(0x400000, 0x1800) == file.pread(0, 0x1800)
    assert mm.read(0x402100, 0x200) == file.pread(0x2100, 0x200)
    assert mm.read(0x402300, 0x405100 - 0x402300) == bytes(0x405100 - 0x402300)
    assert mm.read(0x410000, 0x1800) == bytes(0x1800)
    segment_calls = [(addr, length, flags & MAP_ANONYMOUS != 0, offset)
                     for addr, length, _prot, flags, _file, offset, name in mm.calls if name != "[stack]"]
    assert segment_calls == [
        (0x400000, 0x2000, False, 0),
        (0x402000, 0x1000, False, 0x2000),
        (0x403000, 0x3000, True, 0),
        (0x410000, 0x2000, True, 0),
    ]
    assert result.brk == 0x412000
    assert result.entry == 0x401000


def test_pie_load_bias_honours_alignment(tmp_path):
    segments = [(PF_R | PF_X, 0, 0, 0x1000, 0x1000, 0x200000), (PF_R | PF_W, 0x1000, 0x201000, 0x100, 0x100)]
    path = write_executable(tmp_path, "pie", build_elf(segments, e_type=ET_DYN, entry=0x10))
    mm, result = load(path)
    assert result.entry == 0x555555400000 + 0x10
    assert mm.vmas.find(0x555555400000 + 0x201000).prot == PROT_READ | PROT_WRITE


def test_executable_stack_follows_pt_gnu_stack(tmp_path):
    image = build_elf(SMALL_SEGMENTS, extra_phdrs=[(PT_GNU_STACK, PF_R | PF_W | PF_X, 0, 0, 0, 0, 16)])
    mm, _ = load(write_executable(tmp_path, "exec_stack", image))
    assert mm.vmas.find(STACK_TOP - 1).prot == PROT_READ | PROT_WRITE | PROT_EXEC


def test_initial_stack_layout(busybox):
    argv = [busybox, "ls", "-l", ""]
    envp = ["HOME=/root", "TERM=xterm", "EMPTY="]
    mm, result = load(busybox, argv, envp, execfn="/bin/ls")
    assert result.rsp % 16 == 0
    stack = decode_stack(mm, result.rsp)
    assert stack.argv == [a.encode() for a in argv] == result.argv
    assert stack.envp == [e.encode() for e in envp]
    assert stack.auxv == result.auxv
    aux = stack.aux
    info = parse_file(busybox)
    assert aux[AT_PAGESZ] == PAGE_SIZE and aux[AT_CLKTCK] == 100 and aux[AT_MINSIGSTKSZ] == 2048
    assert aux[AT_PHENT] == 56 and aux[AT_PHNUM] == info.e_phnum
    assert aux[AT_PHDR] == info.phdr_vaddr and aux[AT_BASE] == 0 and aux[AT_FLAGS] == 0
    assert aux[AT_ENTRY] == info.e_entry
    assert (aux[AT_UID], aux[AT_EUID], aux[AT_GID], aux[AT_EGID]) == (1000, 1001, 2000, 2001)
    assert aux[AT_SECURE] == 0 and aux[AT_HWCAP] == HWCAP and aux[AT_HWCAP2] == 0
    assert mm.read(aux[AT_RANDOM], 16) == RANDOM
    assert mm.read_cstring(aux[AT_PLATFORM]) == b"x86_64"
    assert mm.read_cstring(aux[AT_EXECFN]) == b"/bin/ls"
    # Strings sit above the vectors, in argv, envp, execfn order, right under the top NULL word.
    assert stack.vectors_end <= aux[AT_RANDOM] < aux[AT_PLATFORM] < stack.argv_ptrs[0]
    assert aux[AT_EXECFN] + len(b"/bin/ls") + 1 == STACK_TOP - 8
    assert mm.read_u64(STACK_TOP - 8) == 0


def test_stack_without_platform_string(busybox):
    mm, result = load(busybox, platform_string=None)
    stack = decode_stack(mm, result.rsp)
    assert AT_PLATFORM not in stack.aux and result.rsp % 16 == 0


@pytest.mark.parametrize("argc", [0, 1, 2, 3, 5])
def test_rsp_alignment_for_any_argc(busybox, argc):
    mm, result = load(busybox, ["x" * (i + 1) for i in range(argc)], ["E=" + "v" * argc])
    assert result.rsp % 16 == 0
    assert decode_stack(mm, result.rsp).argv == [("x" * (i + 1)).encode() for i in range(argc)]


# --- #! scripts ------------------------------------------------------------------------------------

@pytest.mark.parametrize("line, expected", [
    (b"#!/bin/sh\n", (b"/bin/sh", None)),
    (b"#! \t/bin/sh  \t\necho", (b"/bin/sh", None)),
    (b"#!/usr/bin/env python3 -u  \n", (b"/usr/bin/env", b"python3 -u")),
    (b"#!/bin/awk\t-f\n", (b"/bin/awk", b"-f")),
    (b"#!/bin/sh", (b"/bin/sh", None)),
    (b"#!/bin/sh\0 -x\n", (b"/bin/sh", None)),
    (b"#!/bin/sh " + b"a" * 300, (b"/bin/sh", b"a" * (255 - len(b"#!/bin/sh ")))),
])
def test_parse_interpreter_line(line, expected):
    assert parse_interpreter_line(line) == expected


@pytest.mark.parametrize("line", [b"#!\n", b"#!   \t\n", b"#!/" + b"x" * 300, b"#!" + b" " * 300])
def test_parse_interpreter_line_rejects(line):
    with pytest.raises(SyscallError) as raised:
        parse_interpreter_line(line)
    assert raised.value.errno == errno.ENOEXEC


def test_script_runs_its_interpreter(tmp_path, busybox):
    script = write_executable(tmp_path, "hello.sh", f"#!{busybox}  sh  -e \t\necho hi\n".encode())
    mm, result = load(script, [script, "one", "two"], ["A=B"])
    assert result.argv == [busybox.encode(), b"sh  -e", script.encode(), b"one", b"two"]
    assert result.exe_path == busybox
    assert result.entry == parse_file(busybox).e_entry
    stack = decode_stack(mm, result.rsp)
    assert stack.argv == result.argv
    assert mm.read_cstring(stack.aux[AT_EXECFN]) == script.encode()


def test_nested_scripts(tmp_path, busybox):
    inner = write_executable(tmp_path, "inner", f"#!{busybox}\n".encode())
    outer = write_executable(tmp_path, "outer", f"#!{inner} -x\n".encode())
    _, result = load(outer, ["outer", "arg"])
    assert result.argv == [busybox.encode(), inner.encode(), b"-x", outer.encode(), b"arg"]


def test_script_depth_limit(tmp_path, busybox):
    target = busybox
    chain = []
    for level in range(loader.MAX_SCRIPT_DEPTH + 1):
        target = write_executable(tmp_path, f"level{level}", f"#!{target}\n".encode())
        chain.append(target)
    load(chain[loader.MAX_SCRIPT_DEPTH - 1])
    mm = FakeMM()
    with pytest.raises(SyscallError) as raised:
        load(chain[loader.MAX_SCRIPT_DEPTH], mm=mm)
    assert raised.value.errno == errno.ELOOP and mm.calls == []


def test_self_referencing_script_loops(tmp_path):
    path = tmp_path / "loop"
    write_executable(tmp_path, "loop", f"#!{path}\n".encode())
    with pytest.raises(SyscallError) as raised:
        load(str(path))
    assert raised.value.errno == errno.ELOOP


# --- errors ------------------------------------------------------------------------------------------

def expect_errno(err, path, **kwargs):
    mm = FakeMM()
    with pytest.raises(SyscallError) as raised:
        load(path, mm=mm, **kwargs)
    assert raised.value.errno == err, raised.value
    assert mm.calls == [], "nothing may be mapped before all checks pass"


def test_open_errors_pass_through(tmp_path):
    expect_errno(errno.ENOENT, str(tmp_path / "missing"))
    not_executable = tmp_path / "data"
    not_executable.write_bytes(build_elf(SMALL_SEGMENTS))
    expect_errno(errno.EACCES, str(not_executable))


def test_unknown_formats_are_enoexec(tmp_path):
    expect_errno(errno.ENOEXEC, write_executable(tmp_path, "text", b"just text\n"))
    expect_errno(errno.ENOEXEC, write_executable(tmp_path, "empty", b""))
    expect_errno(errno.ENOEXEC, write_executable(tmp_path, "bad_machine", build_elf(SMALL_SEGMENTS, machine=3)))
    expect_errno(errno.ENOEXEC, write_executable(tmp_path, "no_name", b"#!   \n"))


def test_segments_outside_user_space_are_enoexec(tmp_path):
    segments = [(PF_R, 0, 0x7FFFFFFFF000, 0x1000, 0x2000)]
    expect_errno(errno.ENOEXEC, write_executable(tmp_path, "high", build_elf(segments)))


def test_bad_interpreter_is_elibbad(tmp_path):
    garbage = write_executable(tmp_path, "ld.so", b"\x7fELF" + bytes(100))
    interp = garbage.encode() + b"\0"
    image = build_elf(SMALL_SEGMENTS, extra_phdrs=[(PT_INTERP, PF_R, 0x300, 0x400300, len(interp), len(interp), 1)],
                      blobs=[(0x300, interp)])
    expect_errno(errno.ELIBBAD, write_executable(tmp_path, "uses_bad_interp", image))


def test_missing_interpreter_is_enoent(tmp_path):
    interp = str(tmp_path / "no_such_ld.so").encode() + b"\0"
    image = build_elf(SMALL_SEGMENTS, extra_phdrs=[(PT_INTERP, PF_R, 0x300, 0x400300, len(interp), len(interp), 1)],
                      blobs=[(0x300, interp)])
    expect_errno(errno.ENOENT, write_executable(tmp_path, "uses_missing_interp", image))


def test_missing_script_interpreter_is_enoent(tmp_path):
    expect_errno(errno.ENOENT, write_executable(tmp_path, "script", f"#!{tmp_path}/nope\n".encode()))


def test_argument_size_limit(busybox):
    load(busybox, [busybox] + ["a" * 100_000] * 10)          # 1 MB is fine
    expect_errno(errno.E2BIG, busybox, argv=[busybox] + ["a" * 100_000] * 21)
    expect_errno(errno.E2BIG, busybox, argv=[busybox], envp=["X=" + "a" * (32 * PAGE_SIZE)])
    expect_errno(errno.E2BIG, busybox, argv=[busybox] + ["a" * 100_000] * 3, stack_rlimit=1 << 20)


# --- compared with the host kernel ---------------------------------------------------------------

STACK_REPORT_C = r"""
#include <stdio.h>
int main(int argc, char **argv, char **envp) {
    char **e = envp;
    printf("rsp %lu\n", (unsigned long)((long *)argv - 1));
    for (int i = 0; i < argc; i++) printf("arg %lu\n", (unsigned long)argv[i]);
    for (; *e; e++) printf("env %lu\n", (unsigned long)*e);
    for (unsigned long *aux = (unsigned long *)(e + 1); ; aux += 2) {
        printf("aux %lu %lu\n", aux[0], aux[1]);
        if (aux[0] == 0) break;
    }
    return 0;
}
"""


def test_stack_strings_and_auxv_match_linux(tmp_path):
    """Run a static program natively without ASLR and compare where execve put everything."""
    if shutil.which("gcc") is None or shutil.which("setarch") is None:
        pytest.skip("needs gcc and setarch")
    (tmp_path / "report.c").write_text(STACK_REPORT_C)
    binary = str(tmp_path / "report")
    subprocess.run(["gcc", "-static", "-O1", "-o", binary, str(tmp_path / "report.c")], check=True)
    argv, envp = [binary, "x", "yy", "", "zzz"], ["A=1", "BB=22"]
    native = subprocess.run(["setarch", "-R", binary, *argv[1:]], env=dict(e.split("=", 1) for e in envp),
                            capture_output=True, text=True)
    if native.returncode != 0:
        pytest.skip(f"cannot run without ASLR here: {native.stderr.strip()}")
    lines = [line.split() for line in native.stdout.splitlines()]
    native_auxv = {int(line[1]): int(line[2]) for line in lines if line[0] == "aux"}
    native_values = {tag: [int(line[1]) for line in lines if line[0] == tag] for tag in ("rsp", "arg", "env")}
    native_top = page_round_up(native_auxv[AT_EXECFN])
    creds = SimpleNamespace(uid=os.getuid(), euid=os.geteuid(), gid=os.getgid(), egid=os.getegid())
    mm, result = load(binary, argv, envp, stack_top=native_top, creds=creds, hwcap=native_auxv[AT_HWCAP])
    stack = decode_stack(mm, result.rsp)

    assert native_values["arg"] == stack.argv_ptrs
    assert native_values["env"] == [
        mm.read_u64(result.rsp + 8 * (len(argv) + 2 + i)) for i in range(len(envp))]
    compared = [AT_PHDR, AT_PHENT, AT_PHNUM, AT_PAGESZ, AT_BASE, AT_FLAGS, AT_ENTRY, AT_UID, AT_EUID, AT_GID,
                AT_EGID, AT_SECURE, AT_RANDOM, AT_HWCAP, AT_CLKTCK, AT_EXECFN, AT_PLATFORM]
    assert {key: stack.aux[key] for key in compared} == {key: native_auxv[key] for key in compared}
    # The kernel may add entries we leave out (vDSO, rseq); rsp then moves down by whole 16-byte pairs.
    extra_pairs = len(native_auxv) - len(stack.aux)
    assert native_values["rsp"][0] == (result.rsp - 16 * extra_pairs) & ~15
