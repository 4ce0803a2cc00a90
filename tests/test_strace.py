"""--strace formatting (pysandbox/sentry/strace.py)."""
import errno
import struct

import pytest

from pysandbox.sentry import strace
from pysandbox.sentry.errors import SyscallError
from pysandbox.sentry.syscalls import table
from pysandbox.sentry.syscalls.linux64 import ARG_TYPES

BASE = 0x10000
AT_FDCWD = -100
O_RDONLY, O_WRONLY, O_CREAT, O_TRUNC, O_CLOEXEC = 0, 1, 0o100, 0o1000, 0o2000000


class GuestMemory:
    """A bytearray standing for guest memory at BASE; anything outside it faults."""

    def __init__(self, size=0x4000):
        self.data = bytearray(size)
        self.next_free = BASE

    def _check(self, addr, length):
        if addr < BASE or addr + length > BASE + len(self.data):
            raise SyscallError(errno.EFAULT)

    def copy_in(self, addr, length):
        self._check(addr, length)
        return bytes(self.data[addr - BASE:addr - BASE + length])

    def copy_in_str(self, addr, limit=4096):
        self._check(addr, 1)
        start = addr - BASE
        end = self.data.index(0, start)
        return bytes(self.data[start:end])

    def copy_out(self, addr, data):
        self._check(addr, len(data))
        self.data[addr - BASE:addr - BASE + len(data)] = data
        return len(data)

    def put(self, data):
        """Place data in memory; return its address."""
        addr = self.next_free
        self.copy_out(addr, data)
        self.next_free += (len(data) + 15) & ~15
        return addr

    def put_str(self, text):
        return self.put(text.encode() + b"\0")


@pytest.fixture
def memory():
    return GuestMemory()


def call(memory, name, *raw, result=0, elapsed=None):
    entry = next(entry for entry in table.SYSCALLS.values() if entry.name == name)
    args = entry.decode(tuple(value & (1 << 64) - 1 for value in raw) + (0,) * (6 - len(raw)))
    return strace.format_call(3, entry, args, result, elapsed, memory)


def test_openat_line_like_strace(memory):
    path = memory.put_str("/etc/passwd")
    line = call(memory, "openat", AT_FDCWD & 0xFFFFFFFF, path, O_RDONLY | O_CLOEXEC, 0, result=3, elapsed=0.000021)
    assert line == '[pid 3] openat(AT_FDCWD, "/etc/passwd", O_RDONLY|O_CLOEXEC) = 3 <0.000021>'


def test_an_error_shows_its_name_and_message(memory):
    path = memory.put_str("/nope")
    line = call(memory, "openat", AT_FDCWD, path, O_RDONLY, 0, result=-errno.ENOENT)
    assert line == '[pid 3] openat(AT_FDCWD, "/nope", O_RDONLY) = -1 ENOENT (No such file or directory)'


def test_open_shows_the_mode_only_when_creating(memory):
    path = memory.put_str("/tmp/x")
    line = call(memory, "openat", AT_FDCWD, path, O_WRONLY | O_CREAT | O_TRUNC, 0o644, result=4)
    assert line == '[pid 3] openat(AT_FDCWD, "/tmp/x", O_WRONLY|O_CREAT|O_TRUNC, 0644) = 4'


def test_an_unreadable_or_null_path_shows_the_pointer(memory):
    assert call(memory, "chdir", 0xDEAD0000, result=-errno.EFAULT).startswith("[pid 3] chdir(0xdead0000) = -1 EFAULT")
    assert call(memory, "utimensat", 5, 0, 0, 0).startswith("[pid 3] utimensat(5, NULL, NULL, 0) = 0")


def test_read_shows_what_was_read_cut_at_32_bytes(memory):
    buf = memory.put(b"root:x:0:0:root:/root:/bin/bash\nbin:x:1:1::/:/sbin/nologin\n")
    line = call(memory, "read", 3, buf, 4096, result=60)
    assert line == '[pid 3] read(3, "root:x:0:0:root:/root:/bin/bash\\n"..., 4096) = 60'
    assert call(memory, "read", 3, buf, 4096, result=-errno.EAGAIN) == (
        f"[pid 3] read(3, {hex(buf)}, 4096) = -1 EAGAIN (Resource temporarily unavailable)")


def test_write_shows_the_data_with_escapes(memory):
    buf = memory.put(b'say "hi"\\\t\x00\x7f\xff\n')
    line = call(memory, "write", 1, buf, 14, result=14)
    assert line == '[pid 3] write(1, "say \\"hi\\"\\\\\\t\\000\\177\\377\\n", 14) = 14'


def test_negative_and_32_bit_arguments(memory):
    assert call(memory, "close", 0xFFFFFFFFFFFFFFFF, result=-errno.EBADF) == (
        "[pid 3] close(-1) = -1 EBADF (Bad file descriptor)")
    assert call(memory, "lseek", 3, (1 << 64) - 5, 0x1_0000_0002, result=10) == "[pid 3] lseek(3, -5, 2) = 10"


def test_mmap_flags_prot_and_address_result(memory):
    line = call(memory, "mmap", 0, 8192, 3, 0x22, 0xFFFFFFFF, 0, result=0x7F0000001000)
    assert line == ("[pid 3] mmap(NULL, 8192, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0)"
                    " = 0x7f0000001000")
    assert call(memory, "mprotect", 0x1000, 4096, 0) == "[pid 3] mprotect(0x1000, 4096, PROT_NONE) = 0"


def test_clone_flags_end_with_the_exit_signal(memory):
    flags = 0x01000000 | 0x00200000 | 17          # CLONE_CHILD_SETTID|CLONE_CHILD_CLEARTID|SIGCHLD
    line = call(memory, "clone", flags, 0, 0, 0x7000, 0, result=42)
    assert line == "[pid 3] clone(CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD, NULL, NULL, 0x7000, NULL) = 42"


def test_signals_and_clocks_by_name(memory):
    assert call(memory, "kill", 7, 15) == "[pid 3] kill(7, SIGTERM) = 0"
    assert call(memory, "tgkill", 1, 2, 34) == "[pid 3] tgkill(1, 2, SIGRT_2) = 0"
    assert call(memory, "kill", 7, 99, result=-errno.EINVAL).startswith("[pid 3] kill(7, 99) = -1 EINVAL")
    assert call(memory, "clock_gettime", 1, 0x2000) == "[pid 3] clock_gettime(CLOCK_MONOTONIC, 0x2000) = 0"


def test_execve_shows_argv(memory):
    words = [memory.put_str(word) for word in ("ls", "-l", "/")]
    argv = memory.put(struct.pack("<4Q", *words, 0))
    path = memory.put_str("/bin/ls")
    line = call(memory, "execve", path, argv, 0x7FFC0000)
    assert line == '[pid 3] execve("/bin/ls", ["ls", "-l", "/"], 0x7ffc0000) = 0'


def test_exit_group_never_returns(memory):
    assert call(memory, "exit_group", 0, result=None) == "[pid 3] exit_group(0) = ?"


def test_a_blocking_call_is_shown_unfinished_then_resumed(memory):
    entry = table.lookup(0)
    buf = memory.put(bytes(64))
    traced = strace.begin(3, entry, entry.decode((0, buf, 100, 0, 0, 0)), memory)
    assert traced.unfinished() == "[pid 3] read(0,  <unfinished ...>"
    memory.copy_out(buf, b"hello\n")
    assert traced.finish(6, 1.5) == '[pid 3] <... read resumed>"hello\\n", 100) = 6 <1.500000>'


def test_a_blocking_call_without_outputs_resumes_with_no_arguments(memory):
    entry = table.lookup(35)
    traced = strace.begin(4, entry, (0x2000, 0), memory)
    assert traced.unfinished() == "[pid 4] nanosleep(0x2000, NULL <unfinished ...>"
    assert traced.finish(-errno.EINTR) == "[pid 4] <... nanosleep resumed>) = -1 EINTR (Interrupted system call)"


def test_unknown_syscall_numbers():
    assert strace.format_unknown(3, 1000, (1, 0, 0xFFFFFFFFFFFFFFFF, 0, 0, 0)) == (
        "[pid 3] syscall_1000(0x1, 0, 0xffffffffffffffff, 0, 0, 0) = -1 ENOSYS (Function not implemented)")


def test_every_argument_type_of_the_table_can_be_shown(memory):
    """Formats every entry with plausible registers: no type is left without a formatter."""
    for entry in table.SYSCALLS.values():
        line = strace.format_call(1, entry, entry.decode((BASE,) * 6), 0, None, memory)
        assert line.startswith(f"[pid 1] {entry.name}(") and line.endswith((") = 0", ") = 0x0"))
    assert set(ARG_TYPES) - set(strace._VALUE_FORMATTERS) == {"path", "str", "buf_in", "buf_out", "argv"}


def test_strace_of_a_real_run_shows_calls_signals_and_exits(tmp_path):
    """`do --strace` end to end: decoded calls, a blocking call, a signal, the exit line."""
    from helpers import run_sandbox
    log = tmp_path / "strace.log"
    r = run_sandbox(["/bin/busybox", "sh", "-c", "sleep 0.1 & wait; echo done"],
                    flags=["--strace", "--log", str(log)])
    assert (r.status, r.out) == (0, "done\n"), r
    text = log.read_text()
    assert "wait4(-1, " in text and 'write(1, "done\\n", 5) = 5' in text
    assert "<unfinished ...>" in text and "resumed>" in text
    assert "--- SIGCHLD {si_signo=SIGCHLD, si_code=1" in text
    assert "+++ exited with 0 +++" in text
