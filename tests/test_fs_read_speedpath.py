"""Large reads go straight from the host file into guest memory (docs/FILES.md, "Large reads").

The platforms' copy_from_file on its own (windows, boundaries, short copies, fork), the read
handlers' choice between it and the sentry's own copy, and a C program (tests/cprogs/
fs_read_speedpath.c) whose reads, counts, offsets and faults must match Linux on every kind
of file the fast path serves: the overlay's lower and upper layers, a bind mount (directfs and
through the gofer) and tmpfs, on both platforms.
"""
import errno
import os
import struct

import pytest

from helpers import assert_same, run_native, run_sandbox
from pysandbox.platform import get_platform
from pysandbox.sentry.errors import SyscallError
from pysandbox.sentry.syscalls import sys_read_write
from pysandbox.sentry.vfs.hostfile import HostFile
from pysandbox.sentry.vfs.testing import FakeTask
from pysandbox.sentry.vfs.vfs import VFS

MIB = 1 << 20
BUFFER = 0x10000000
PROT_READ, PROT_WRITE = 1, 2
WINDOW = 32 * MIB                # platform/ptrace: WINDOW_SIZE
SPARSE_SIZE = 34 * MIB
OWNER = "the open file"           # what the sentry passes: its File


@pytest.fixture
def platform():
    """The ptrace platform, closed after the test."""
    platform = get_platform("ptrace")
    yield platform
    platform.close()


def _copy(space, addr, fd, offset, n):
    """copy_from_file from the sparse file, whose end is SPARSE_SIZE."""
    return space.copy_from_file(addr, fd, offset, n, SPARSE_SIZE - offset, OWNER)


@pytest.fixture
def address_space(each_platform):
    platform = get_platform(each_platform)
    try:
        context = platform.new_process()
        context.address_space.map(BUFFER, 4 * MIB, PROT_READ | PROT_WRITE)
        yield context
    finally:
        platform.close()


@pytest.fixture
def sparse_file(tmp_path):
    """A 34 MiB file, holes but for 2 MiB of random bytes around the 32 MiB mark."""
    data = os.urandom(2 * MIB)
    path = tmp_path / "sparse"
    with open(path, "wb") as f:
        f.seek(WINDOW - MIB)
        f.write(data)
        f.truncate(SPARSE_SIZE)
    fd = os.open(path, os.O_RDONLY)
    yield fd, data
    os.close(fd)


def test_a_copy_across_the_window_boundary_lands_whole(address_space, sparse_file):
    space = address_space.address_space
    fd, data = sparse_file
    assert _copy(space, BUFFER + 5, fd, WINDOW - MIB + 3, 2 * MIB - 3) == 2 * MIB - 3
    assert space.read(BUFFER + 5, 2 * MIB - 3) == data[3:]
    assert _copy(space, BUFFER, fd, 0, MIB) == MIB
    assert space.read(BUFFER, MIB) == bytes(MIB)
    # Again into pages that have memory now (the KVM platform's quick way to find them).
    assert _copy(space, BUFFER + 4095, fd, WINDOW - MIB + 9, MIB + 2) == MIB + 2
    assert space.read(BUFFER + 4095, MIB + 2) == data[9:MIB + 11]
    assert space.read(BUFFER, 4095) == bytes(4095)
    if hasattr(space, "file_windows"):
        assert len(space.file_windows) == 2


def test_a_copy_stops_short_at_a_hole_in_the_buffer(address_space, sparse_file):
    space = address_space.address_space
    fd, data = sparse_file
    space.unmap(BUFFER + MIB + 4096, 4096)
    assert _copy(space, BUFFER, fd, WINDOW - MIB, 2 * MIB) == MIB + 4096
    assert space.read(BUFFER, MIB + 4096) == data[:MIB + 4096]


def test_a_window_is_mapped_only_for_enough_of_the_file(platform, sparse_file):
    space = platform.new_process().address_space
    space.map(BUFFER, MIB, PROT_READ | PROT_WRITE)
    fd, data = sparse_file
    near_end = SPARSE_SIZE - MIB
    assert space.copy_from_file(BUFFER, fd, near_end, MIB, MIB, OWNER) is None
    assert not space.file_windows
    assert space.copy_from_file(BUFFER, fd, WINDOW, MIB, 2 * MIB, OWNER) == MIB   # the same window
    assert space.copy_from_file(BUFFER, fd, near_end, MIB, MIB, OWNER) == MIB
    assert len(space.file_windows) == 1


def test_closing_the_file_unmaps_its_windows_and_only_its_own(platform, sparse_file):
    from pysandbox.platform.ptrace.platform import WINDOW_AREA
    context = platform.new_process()
    space = context.address_space
    space.map(BUFFER, MIB, PROT_READ | PROT_WRITE)
    fd, data = sparse_file
    other = "another open file"
    assert _copy(space, BUFFER, fd, 0, MIB) == MIB
    assert space.copy_from_file(BUFFER, fd, WINDOW, MIB, 2 * MIB, other) == MIB
    assert f"{WINDOW_AREA:x}-" in _maps(context.pid)
    context.stopped = False                     # no thread to unmap with: later
    space.drop_file_windows(OWNER)
    assert len(space.file_windows) == 2
    context.stopped = True
    assert space.copy_from_file(BUFFER, fd, WINDOW + 5, 4096, MIB, other) == 4096
    assert [owner for owner, _ in space.file_windows] == [other]
    space.drop_file_windows(other)
    assert not space.file_windows and f"{WINDOW_AREA:x}-" not in _maps(context.pid)


def _maps(pid):
    with open(f"/proc/{pid}/maps") as maps:
        return maps.read()


def test_the_stub_copies_forwards_whatever_the_guest_left_in_its_direction_flag(platform, sparse_file):
    from pysandbox.platform.ptrace._loop import lib
    context = platform.new_process()
    space = context.address_space
    space.map(BUFFER, 2 * MIB, PROT_READ | PROT_WRITE)
    lib.psb_getregs(context.tid, context.regs)
    context.regs.eflags |= 0x400                    # std
    lib.psb_setregs(context.tid, context.regs)
    fd, data = sparse_file
    assert _copy(space, BUFFER + MIB, fd, WINDOW - MIB, MIB) == MIB
    assert space.read(BUFFER, 2 * MIB) == bytes(MIB) + data[:MIB]
    lib.psb_getregs(context.tid, context.regs)
    assert context.regs.eflags & 0x400              # the guest's registers come back


def test_a_forked_stub_keeps_the_windows_and_copies_into_its_own_memory(platform, sparse_file):
    parent = platform.new_process()
    parent.address_space.map(BUFFER, MIB, PROT_READ | PROT_WRITE)
    fd, data = sparse_file
    assert _copy(parent.address_space, BUFFER, fd, WINDOW - MIB, MIB) == MIB
    child = parent.fork()
    windows = dict(child.address_space.file_windows)
    assert windows == dict(parent.address_space.file_windows) and windows
    assert _copy(child.address_space, BUFFER, fd, WINDOW - MIB + 7, 4096) == 4096
    assert dict(child.address_space.file_windows) == windows          # nothing mapped anew
    assert child.address_space.read(BUFFER, 4096) == data[7:4103]
    assert parent.address_space.read(BUFFER, 4096) == data[:4096]


def test_a_view_for_the_host_holds_the_guest_bytes_up_to_a_hole(address_space):
    space = address_space.address_space
    data = os.urandom(3 * MIB)
    space.write(BUFFER, data)
    space.unmap(BUFFER + 2 * MIB, 4096)
    position, pieces = 5, []
    while position < 3 * MIB:
        view = space.view_for_host(BUFFER + position, 3 * MIB - position)
        if not len(view):
            break
        pieces.append(bytes(view))
        position += len(view)
    assert position == 2 * MIB and b"".join(pieces) == data[5:2 * MIB]
    untouched = space.view_for_host(BUFFER + 3 * MIB, MIB)     # never written: zeros
    assert 0 < len(untouched) <= MIB and bytes(untouched) == bytes(len(untouched))


def test_the_stub_stages_what_the_guest_writes_and_a_fork_loses_the_staging_buffer(platform):
    from pysandbox.platform.ptrace.platform import STAGING_AREA, STAGING_SIZE
    context = platform.new_process()
    space = context.address_space
    space.map(BUFFER, 2 * STAGING_SIZE, PROT_READ | PROT_WRITE)
    data = os.urandom(STAGING_SIZE + 10)
    space.write(BUFFER, data)
    assert bytes(space.view_for_host(BUFFER + 3, STAGING_SIZE + 7)) == data[3:STAGING_SIZE + 3]
    space.unmap(BUFFER + 2 * 4096, 4096)
    assert bytes(space.view_for_host(BUFFER + 5, 3 * 4096)) == data[5:2 * 4096]
    assert f"{STAGING_AREA:x}-" in _maps(context.pid)
    child = context.fork()
    assert f"{STAGING_AREA:x}-" not in _maps(child.pid)


class _Task(FakeTask):
    """A fake task whose platform copies a host file into its memory, and says when it did."""

    def __init__(self, vfs):
        super().__init__(vfs, size=4 * MIB)
        self.copies = []
        self.copy_result = lambda n: n
        self.mm.copy_from_file = self._copy_from_file
        self.staged, self.staging_size = [], MIB
        self.mm.view_for_host = self._view_for_host

    def _view_for_host(self, addr, n):
        self.staged.append((addr, n))
        return memoryview(bytearray(self.copy_in(addr, min(n, self.staging_size))))

    def _copy_from_file(self, addr, file, host_fd, offset, n, ahead):
        assert file is self.fds.get(self.fd)
        assert ahead == os.fstat(host_fd).st_size - offset
        self.copies.append((addr, offset, n))
        n = self.copy_result(n)
        if n:
            self.copy_out(addr, os.pread(host_fd, n, offset))
        return n


@pytest.fixture
def task_with_file(tmp_path):
    data = os.urandom(3 * MIB)
    (tmp_path / "f").write_bytes(data)
    t = _Task(VFS.for_rootfs(str(tmp_path), overlay=False))
    file = HostFile(os.O_RDONLY, None, os.open(tmp_path / "f", os.O_RDONLY))
    t.fd = t.fds.install(file)
    yield t, t.fd, file, data
    file.release()


def test_large_reads_take_the_platform_copy_and_move_the_offset(task_with_file):
    t, fd, file, data = task_with_file
    buf = t.base
    assert sys_read_write.read(t, fd, buf, 2 * MIB) == 2 * MIB
    assert t.copies == [(buf, 0, 2 * MIB)] and file.offset == 2 * MIB
    assert sys_read_write.read(t, fd, buf, 2 * MIB) == MIB         # the rest of the file
    assert t.copies[-1] == (buf, 2 * MIB, MIB) and file.offset == 3 * MIB
    assert t.copy_in(buf, MIB) == data[2 * MIB:]
    assert sys_read_write.pread64(t, fd, buf, MIB, 5) == MIB
    assert t.copies[-1] == (buf, 5, MIB) and file.offset == 3 * MIB


def test_vectored_reads_copy_their_large_buffers_through_the_platform(task_with_file):
    t, fd, file, data = task_with_file
    iovecs = t.alloc(struct.pack("<4Q", t.base + 4096, MIB, t.base + 3 * MIB, 1000))
    assert sys_read_write.readv(t, fd, iovecs, 2) == MIB + 1000
    assert t.copies == [(t.base + 4096, 0, MIB)] and file.offset == MIB + 1000
    assert t.copy_in(t.base + 4096, MIB) + t.copy_in(t.base + 3 * MIB, 1000) == data[:MIB + 1000]
    assert sys_read_write.preadv(t, fd, iovecs, 2, len(data) - MIB - 10, 0) == MIB + 10
    assert t.copies[-1] == (t.base + 4096, len(data) - MIB - 10, MIB)
    assert t.copy_in(t.base + 3 * MIB, 10) == data[-10:] and file.offset == MIB + 1000
    small = t.alloc(struct.pack("<4Q", t.base + 4096, 4096, t.base + 3 * MIB, 1000))
    assert sys_read_write.readv(t, fd, small, 2) == 5096 and len(t.copies) == 2


@pytest.fixture
def task_with_new_file(tmp_path):
    t = _Task(VFS.for_rootfs(str(tmp_path), overlay=False))
    file = HostFile(os.O_RDWR, None, os.open(tmp_path / "w", os.O_RDWR | os.O_CREAT, 0o644))
    yield t, t.fds.install(file), file, tmp_path / "w"
    file.release()


def test_large_writes_go_through_the_staging_buffer_piece_by_piece(task_with_new_file):
    t, fd, file, path = task_with_new_file
    data = os.urandom(2 * MIB + 5)
    buf = t.alloc(data)
    assert sys_read_write.write(t, fd, buf, len(data)) == len(data) and file.offset == len(data)
    assert t.staged == [(buf, len(data)), (buf + MIB, MIB + 5), (buf + 2 * MIB, 5)]
    assert sys_read_write.pwrite64(t, fd, buf, MIB, 3 * MIB) == MIB and file.offset == len(data)
    assert path.read_bytes() == data + bytes(3 * MIB - len(data)) + data[:MIB]
    assert sys_read_write.write(t, fd, buf, sys_read_write.DIRECT_WRITE_MIN - 1) > 0
    assert len(t.staged) == 4                                       # small: copied in as before


def test_a_staged_write_stops_at_a_fault_or_a_short_write(task_with_new_file):
    t, fd, file, path = task_with_new_file
    buf = t.alloc(os.urandom(2 * MIB))
    t.staging_size = 0
    with pytest.raises(SyscallError) as raised:
        sys_read_write.write(t, fd, buf, 2 * MIB)
    assert raised.value.errno == errno.EFAULT and file.offset == 0
    t.staging_size = MIB
    real_pwrite = file.pwrite
    file.pwrite = lambda offset, data: real_pwrite(offset, data[:1000])     # a disk that fills up
    assert sys_read_write.write(t, fd, buf, 2 * MIB) == 1000 and file.offset == 1000


def test_small_reads_and_small_remainders_take_the_sentry_path(task_with_file):
    t, fd, file, data = task_with_file
    small = sys_read_write.DIRECT_READ_MIN - 1
    assert sys_read_write.read(t, fd, t.base, small) == small
    assert sys_read_write.pread64(t, fd, t.base, MIB, len(data) - small) == small
    assert sys_read_write.pread64(t, fd, t.base, MIB, len(data)) == 0
    assert t.copies == [] and t.copy_in(t.base, small) == data[-small:]


def test_a_copy_that_faults_at_once_is_efault_and_keeps_the_offset(task_with_file):
    t, fd, file, data = task_with_file
    t.copy_result = lambda n: 0
    with pytest.raises(SyscallError) as raised:
        sys_read_write.read(t, fd, t.base, MIB)
    assert raised.value.errno == errno.EFAULT and file.offset == 0
    t.copy_result = lambda n: 4096
    assert sys_read_write.read(t, fd, t.base, MIB) == 4096 and file.offset == 4096


def test_a_platform_that_cannot_copy_leaves_the_read_to_the_sentry(task_with_file):
    t, fd, file, data = task_with_file
    t.copy_result = lambda n: None
    assert sys_read_write.read(t, fd, t.base, MIB) == MIB
    assert t.copy_in(t.base, MIB) == data[:MIB] and file.offset == MIB


# --- the C program against Linux -------------------------------------------------------------

@pytest.fixture(scope="module")
def program(cprog):
    return cprog("fs_read_speedpath", static=True)


@pytest.fixture(scope="module")
def native_output(program, tmp_path_factory):
    directory = tmp_path_factory.mktemp("native")
    assert run_native([program, "make", str(directory)]).status == 0
    native = run_native([program, "check", str(directory)])
    assert native.status == 0 and "sequential: 35655905 bytes in 35 reads" in native.out, native
    assert "read into a buffer unmapped after 512 KiB: 524288" in native.out, native
    return native


@pytest.fixture(scope="module")
def host_directory(program, tmp_path_factory):
    directory = tmp_path_factory.mktemp("host")
    os.chmod(directory, 0o755)
    assert run_native([program, "make", str(directory)]).status == 0
    return directory


@pytest.mark.usefixtures("each_platform")
class TestAgainstLinux:
    def test_the_overlays_lower_layer(self, program, native_output, host_directory):
        assert_same(native_output, run_sandbox([program, "check", str(host_directory)]))

    def test_the_overlays_upper_layer(self, program, native_output, tmp_path):
        script = f"{program} make {tmp_path} && exec {program} check {tmp_path}"
        assert_same(native_output, run_sandbox(["/bin/sh", "-c", script]))
        assert not (tmp_path / "big").exists()

    @pytest.mark.parametrize("mode", ["directfs", "gofer"])
    def test_a_bind_mount(self, program, native_output, host_directory, mode):
        flags = [f"--gofer-mode={mode}", "-v", f"{host_directory}:/data"]
        assert_same(native_output, run_sandbox([program, "check", "/data"], flags=flags))

    def test_tmpfs(self, program, native_output):
        script = f"{program} make /scratch && exec {program} check /scratch"
        assert_same(native_output, run_sandbox(["/bin/sh", "-c", script], flags=["--tmpfs", "/scratch"]))
