"""execve's image loader: #! scripts, ELF executables and their interpreter, the initial stack.

Follows Linux's fs/binfmt_script.c, fs/binfmt_elf.c and fs/exec.c.

Everything that can fail with an errno (opening files, parsing headers, the
argument size limit) is checked before the first mapping is made. After that
point only `mm` itself can fail, and then the old image is already gone: the
caller must kill the process, as Linux does past its point of no return.
"""
import errno
import os
import struct
from collections import namedtuple
from collections.abc import Callable

from .elf import ET_DYN, ET_EXEC, PF_R, PF_W, PF_X, PHDR_SIZE, ElfError, ElfInfo, parse_elf
from .errors import SyscallError
from .vma import PAGE_SIZE, page_round_down, page_round_up

PROT_NONE = 0
PROT_READ = 1
PROT_WRITE = 2
PROT_EXEC = 4
MAP_PRIVATE = 0x02
MAP_FIXED = 0x10
MAP_ANONYMOUS = 0x20
MAP_GROWSDOWN = 0x100

# How much of a file execve looks at to recognise its format (the #! line lives in it).
BINPRM_BUF_SIZE = 256
# How many #! scripts may run one another before execve fails with ELOOP.
MAX_SCRIPT_DEPTH = 4
# Highest user address on x86_64 (4-level paging).
TASK_SIZE = 0x7FFFFFFFF000
# Where a position-independent main executable goes: 2/3 of TASK_SIZE, aligned down as needed.
ELF_ET_DYN_BASE = 0x555555554AAA
STACK_SIZE = 8 << 20
DEFAULT_STACK_RLIMIT = 8 << 20
# Per-string limit and the floor of the total argument limit (fs/exec.c).
MAX_ARG_STRLEN = 32 * PAGE_SIZE
ARG_MAX = 32 * PAGE_SIZE
_STK_LIM = 8 << 20
AT_RANDOM_SIZE = 16
MINSIGSTKSZ = 2048
CLOCK_TICKS_PER_SECOND = 100

AT_NULL = 0
AT_PHDR = 3
AT_PHENT = 4
AT_PHNUM = 5
AT_PAGESZ = 6
AT_BASE = 7
AT_FLAGS = 8
AT_ENTRY = 9
AT_UID = 11
AT_EUID = 12
AT_GID = 13
AT_EGID = 14
AT_PLATFORM = 15
AT_HWCAP = 16
AT_CLKTCK = 17
AT_SECURE = 23
AT_RANDOM = 25
AT_HWCAP2 = 26
AT_EXECFN = 31
AT_MINSIGSTKSZ = 51

_SPACE_OR_TAB = b" \t"


LoadResult = namedtuple("LoadResult", (
    "entry",        # where the new image starts running (the interpreter's entry if any)
    "rsp",          # initial stack pointer; it points at argc
    "interp_base",  # load address of the interpreter, 0 without one (AT_BASE)
    "exe_path",     # the ELF file actually loaded (a script's interpreter for #!)
    "argv",         # argv after #! rewriting
    "phdr",         # address of the program headers in memory (AT_PHDR)
    "brk",          # initial program break (also stored in mm.brk_start and mm.brk)
    "exe_file",     # the open file of exe_path, for /proc/self/exe
    "auxv",         # the auxiliary vector as written, AT_NULL included (/proc/self/auxv)
))


def load_executable(mm, open_file: Callable[[str], object], path, argv, envp, *, execfn=None,
                    creds, random_bytes: bytes, hwcap: int, stack_top: int,
                    platform_string: str | None = "x86_64",
                    stack_rlimit: int = DEFAULT_STACK_RLIMIT) -> LoadResult:
    """Replace the (fresh) address space `mm` with the image of the program at `path`.

    Paths may be str or bytes; they are handed to `open_file` as str (os.fsdecode).
    argv/envp items may be str or bytes. `execfn` is the name given to execve
    (AT_EXECFN), `path` by default. Raises SyscallError before mapping anything.
    """
    if len(random_bytes) != AT_RANDOM_SIZE:
        raise ValueError(f"random_bytes must be {AT_RANDOM_SIZE} bytes")
    path = os.fsdecode(path)
    argv = [_as_bytes(arg) for arg in argv]
    envp = [_as_bytes(var) for var in envp]
    execfn = _as_bytes(path if execfn is None else execfn)

    exe_file = open_file(path)
    _check_argument_size(argv, envp, execfn, stack_rlimit)
    exe_path, exe_file, head, argv = _follow_scripts(open_file, path, exe_file, argv)
    _check_argument_size(argv, envp, execfn, stack_rlimit)  # #! lines add arguments
    exe = _parse_elf_file(head, exe_file, errno.ENOEXEC)
    interp_file = interp = None
    if exe.interp is not None:
        interp_file = open_file(exe.interp)
        interp = _parse_elf_file(interp_file.pread(0, BINPRM_BUF_SIZE), interp_file, errno.ELIBBAD)
        _check_fits_user_space(interp, None if interp.e_type == ET_DYN else 0, errno.ELIBBAD)
    exe_bias = _main_load_bias(exe)
    _check_fits_user_space(exe, exe_bias, errno.ENOEXEC)
    secure = False
    if callable(creds):      # set-id bits: the image's credentials depend on the file it runs
        creds, secure = creds(exe_file)

    # Point of no return: from here on only mm can fail.
    stack_prot = PROT_READ | PROT_WRITE | (PROT_EXEC if exe.stack_executable else 0)
    mm.mmap(stack_top - STACK_SIZE, STACK_SIZE, stack_prot,
            MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_GROWSDOWN, name="[stack]")
    image_end = _map_segments(mm, exe_file, exe, exe_bias)
    mm.brk_start = mm.brk = page_round_up(image_end)
    exe_entry = exe.e_entry + exe_bias
    entry, interp_base = exe_entry, 0
    if interp is not None:
        interp_base = _map_interpreter(mm, interp_file, interp)
        entry = interp.e_entry + interp_base
    phdr = exe_bias + (exe.phdr_vaddr if exe.phdr_vaddr is not None else 0)

    image_auxv = [
        (AT_MINSIGSTKSZ, MINSIGSTKSZ),
        (AT_HWCAP, hwcap),
        (AT_PAGESZ, PAGE_SIZE),
        (AT_CLKTCK, CLOCK_TICKS_PER_SECOND),
        (AT_PHDR, phdr),
        (AT_PHENT, PHDR_SIZE),
        (AT_PHNUM, exe.e_phnum),
        (AT_BASE, interp_base),
        (AT_FLAGS, 0),
        (AT_ENTRY, exe_entry),
        (AT_UID, creds.uid),
        (AT_EUID, creds.euid),
        (AT_GID, creds.gid),
        (AT_EGID, creds.egid),
        (AT_SECURE, int(secure)),
    ]
    rsp, auxv = _build_initial_stack(mm, stack_top, argv, envp, execfn, platform_string, random_bytes,
                                     image_auxv)
    return LoadResult(entry=entry, rsp=rsp, interp_base=interp_base, exe_path=exe_path, argv=argv,
                      phdr=phdr, brk=mm.brk_start, exe_file=exe_file, auxv=auxv)


def _as_bytes(value) -> bytes:
    return os.fsencode(value) if isinstance(value, str) else bytes(value)


def _check_argument_size(argv: list[bytes], envp: list[bytes], execfn: bytes, stack_rlimit: int) -> None:
    """E2BIG as fs/exec.c decides it: strings and pointers may use a quarter of the stack limit."""
    limit = max(min(_STK_LIM // 4 * 3, stack_rlimit // 4), ARG_MAX)
    pointers_size = (max(len(argv), 1) + len(envp)) * 8
    strings = [*argv, *envp, execfn]
    if (pointers_size >= limit
            or any(len(s) + 1 > MAX_ARG_STRLEN for s in strings)
            or sum(len(s) + 1 for s in strings) > limit - pointers_size):
        raise SyscallError(errno.E2BIG)


# --- #! scripts ---------------------------------------------------------------------------------

def parse_interpreter_line(head: bytes) -> tuple[bytes, bytes | None]:
    """The interpreter and its optional argument from a buffer starting with '#!'.

    Like binfmt_script: only the first BINPRM_BUF_SIZE - 1 bytes count, the
    argument is everything after the name (inner blanks kept), and a line with
    no newline in the buffer is accepted only if the name visibly ends in it.
    """
    buf = head[:BINPRM_BUF_SIZE].ljust(BINPRM_BUF_SIZE, b"\0")
    newline = buf.find(b"\n")
    if newline >= 0:
        line = buf[2:newline]
    else:
        line = buf[2:BINPRM_BUF_SIZE - 1]
        name_onwards = line.lstrip(_SPACE_OR_TAB)
        if not any(byte in b" \t\0" for byte in name_onwards):
            raise SyscallError(errno.ENOEXEC, "#! interpreter path is too long")
    line = line.strip(_SPACE_OR_TAB)
    if not line:
        raise SyscallError(errno.ENOEXEC, "#! line names no interpreter")
    name_end = next((i for i, byte in enumerate(line) if byte in b" \t\0"), len(line))
    name = line[:name_end]
    if name_end == len(line) or line[name_end] == 0:
        return name, None
    argument = line[name_end:].lstrip(_SPACE_OR_TAB)
    return name, argument.split(b"\0", 1)[0]


def _follow_scripts(open_file, path: str, file, argv: list[bytes]):
    """Follow #! lines to the ELF file that will run: (path, file, first bytes, argv)."""
    for _ in range(MAX_SCRIPT_DEPTH + 1):
        head = file.pread(0, BINPRM_BUF_SIZE)
        if not head.startswith(b"#!"):
            return path, file, head, argv
        interpreter, argument = parse_interpreter_line(head)
        optional = [argument] if argument is not None else []
        argv = [interpreter, *optional, os.fsencode(path), *argv[1:]]
        path = os.fsdecode(interpreter)
        file = open_file(path)
    raise SyscallError(errno.ELOOP, "too many levels of #! interpreters")


# --- ELF images ---------------------------------------------------------------------------------

def _parse_elf_file(head: bytes, file, error: int) -> ElfInfo:
    try:
        return parse_elf(head, file.pread)
    except ElfError as exc:
        raise SyscallError(error, f"{file.path}: {exc}") from exc


def _image_bounds(info: ElfInfo) -> tuple[int, int]:
    """Lowest and highest address of the PT_LOAD segments, before any load bias."""
    segments = info.load_segments
    return (min(ph.p_vaddr for ph in segments),
            max(ph.p_vaddr + ph.p_memsz for ph in segments))


def _check_fits_user_space(info: ElfInfo, bias: int | None, error: int) -> None:
    """bias None: the image goes wherever it fits, so only its span matters."""
    low, high = _image_bounds(info)
    if bias is None:
        bias = -low
    if bias + low < 0 or bias + high > TASK_SIZE:
        raise SyscallError(error, "ELF segments lie outside the user address space")


def _main_load_bias(exe: ElfInfo) -> int:
    if exe.e_type == ET_EXEC:
        return 0
    alignment = max((ph.p_align for ph in exe.load_segments
                     if ph.p_align > 0 and ph.p_align & (ph.p_align - 1) == 0), default=0)
    alignment = max(page_round_up(alignment), PAGE_SIZE)
    base = ELF_ET_DYN_BASE & ~(alignment - 1)
    return page_round_down(base - exe.load_segments[0].p_vaddr)


def _map_interpreter(mm, file, interp: ElfInfo) -> int:
    """Map the interpreter; returns its load bias (AT_BASE)."""
    bias = 0
    if interp.e_type == ET_DYN:
        low, high = _image_bounds(interp)
        low = page_round_down(low)
        # Reserve the whole span top-down first, so the segments land together.
        base = mm.mmap(0, page_round_up(high) - low, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS)
        bias = base - low
    _map_segments(mm, file, interp, bias)
    return bias


def _segment_prot(p_flags: int) -> int:
    return ((PROT_READ if p_flags & PF_R else 0) | (PROT_WRITE if p_flags & PF_W else 0)
            | (PROT_EXEC if p_flags & PF_X else 0))


def _map_segments(mm, file, info: ElfInfo, bias: int) -> int:
    """Map every PT_LOAD at bias + p_vaddr; returns the end of the highest one."""
    image_end = 0
    for ph in info.load_segments:
        if ph.p_memsz == 0:
            continue
        prot = _segment_prot(ph.p_flags)
        start = bias + ph.p_vaddr
        file_end = start + ph.p_filesz
        mem_end = start + ph.p_memsz
        image_end = max(image_end, mem_end)
        if ph.p_filesz:
            map_start = page_round_down(start)
            mm.mmap(map_start, page_round_up(file_end) - map_start, prot, MAP_PRIVATE | MAP_FIXED,
                    file=file, offset=page_round_down(ph.p_offset), name=file.path)
            # The rest of the last file page holds whatever follows in the file; bss must read zero.
            if mem_end > file_end and file_end % PAGE_SIZE:
                mm.copy_out(file_end, bytes(page_round_up(file_end) - file_end), force=True)
            anon_start = page_round_up(file_end)
        else:
            anon_start = page_round_down(start)
        anon_end = page_round_up(mem_end)
        if anon_end > anon_start:
            mm.mmap(anon_start, anon_end - anon_start, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED)
    return image_end


# --- the initial stack --------------------------------------------------------------------------

_StackStrings = namedtuple("_StackStrings", (
    "base",           # lowest address of `data`
    "data",           # AT_RANDOM bytes, platform, padding, then argv/envp/execfn strings
    "argv_addrs", "envp_addrs", "execfn_addr",
    "platform_addr",  # None without a platform string
    "random_addr",
))


def _place_strings(stack_top: int, argv: list[bytes], envp: list[bytes], execfn: bytes,
                   platform_string: str | None, random_bytes: bytes) -> _StackStrings:
    """Lay out the string area under stack_top as create_elf_tables does."""
    # One NULL word stays at the very top of the stack.
    strings_end = stack_top - 8
    addrs = []
    cursor = strings_end - sum(len(s) + 1 for s in (*argv, *envp, execfn))
    strings_start = cursor
    for s in (*argv, *envp, execfn):
        addrs.append(cursor)
        cursor += len(s) + 1
    cursor = strings_start & ~15
    platform_addr = None
    if platform_string:
        platform = platform_string.encode() + b"\0"
        cursor -= len(platform)
        platform_addr = cursor
    random_addr = cursor - AT_RANDOM_SIZE

    area = bytearray(strings_end - random_addr)
    area[:AT_RANDOM_SIZE] = random_bytes
    if platform_addr is not None:
        platform_offset = platform_addr - random_addr
        area[platform_offset:platform_offset + len(platform)] = platform
    area[strings_start - random_addr:] = b"".join(s + b"\0" for s in (*argv, *envp, execfn))
    return _StackStrings(base=random_addr, data=bytes(area), argv_addrs=addrs[:len(argv)],
                         envp_addrs=addrs[len(argv):-1], execfn_addr=addrs[-1],
                         platform_addr=platform_addr, random_addr=random_addr)


def _build_initial_stack(mm, stack_top: int, argv: list[bytes], envp: list[bytes], execfn: bytes,
                         platform_string: str | None, random_bytes: bytes,
                         image_auxv: list[tuple[int, int]]) -> tuple[int, list[tuple[int, int]]]:
    """Write strings, argc/argv/envp and auxv (image_auxv plus the stack's own entries); returns (rsp, auxv)."""
    strings = _place_strings(stack_top, argv, envp, execfn, platform_string, random_bytes)
    auxv = [*image_auxv,
            (AT_RANDOM, strings.random_addr),
            (AT_HWCAP2, 0),
            (AT_EXECFN, strings.execfn_addr)]
    if strings.platform_addr is not None:
        auxv.append((AT_PLATFORM, strings.platform_addr))
    auxv.append((AT_NULL, 0))
    rsp, vectors = _place_vectors(strings, auxv)
    mm.copy_out(strings.base, strings.data, force=True)
    mm.copy_out(rsp, vectors, force=True)
    return rsp, auxv


def _place_vectors(strings: _StackStrings, auxv: list[tuple[int, int]]) -> tuple[int, bytes]:
    """argc, argv[], NULL, envp[], NULL and auxv under the strings; returns (rsp, bytes at rsp)."""
    words = [len(strings.argv_addrs), *strings.argv_addrs, 0, *strings.envp_addrs, 0]
    words += [word for pair in auxv for word in pair]
    rsp = (strings.base - 8 * len(words)) & ~15
    return rsp, struct.pack(f"<{len(words)}Q", *words)
