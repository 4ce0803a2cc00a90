"""Descriptor tables, pipes and the fd syscalls, driven through the handlers with a fake task."""
import errno
import os
import struct

import pytest

from pysandbox.sentry import signals
from pysandbox.sentry.errors import WouldBlock
from pysandbox.sentry.fdtable import FDTable
from pysandbox.sentry.syscalls import (sys_fd, sys_file, sys_ioctl, sys_lock, sys_pipe, sys_poll,
                                       sys_read_write, sys_sendfile, sys_stat)
from pysandbox.sentry.vfs import VFS
from pysandbox.sentry.vfs.file import POLLERR, POLLHUP, POLLIN, POLLNVAL, POLLOUT, File
from pysandbox.sentry.vfs.hostfile import HostStreamFile
from pysandbox.sentry.vfs.pipe import PIPE_BUF, PIPE_CAPACITY
from pysandbox.sentry.vfs.testing import FakeTask
from pysandbox.sentry.vfs.tty import FIONBIO, FIONREAD, FIOCLEX, TCGETS, TIOCGPGRP
from helpers import errno_of

AT_FDCWD = -100
SIGPIPE = 13


class CountingFile(File):
    releases = 0

    def release(self):
        CountingFile.releases += 1


@pytest.fixture
def t(tmp_path):
    (tmp_path / "data.txt").write_bytes(b"0123456789")
    return FakeTask(VFS.for_rootfs(str(tmp_path), overlay=False))


def make_pipe(t, flags=0):
    fds = t.alloc(8)
    assert sys_pipe.pipe2(t, fds, flags) == 0
    return struct.unpack("<ii", t.copy_in(fds, 8))


def write_bytes(t, fd, data):
    return sys_read_write.write(t, fd, t.alloc(data), len(data))


def read_bytes(t, fd, n):
    buf = t.alloc(n)
    got = sys_read_write.read(t, fd, buf, n)
    return t.copy_in(buf, got)


# --- FDTable ---

def test_install_takes_the_lowest_free_fd():
    table = FDTable()
    files = [File(os.O_RDONLY) for _ in range(4)]
    assert [table.install(f) for f in files[:3]] == [0, 1, 2]
    table.close(1)
    assert table.install(files[3]) == 1
    assert table.install(File(os.O_RDONLY), min_fd=10) == 10
    assert table.install(File(os.O_RDONLY), min_fd=10) == 11


def test_install_over_the_limit_is_emfile_and_drops_the_reference():
    table = FDTable(limit=lambda: 2)
    table.install(File(0))
    table.install(File(0))
    before = CountingFile.releases
    assert errno_of(table.install, CountingFile(0)) == errno.EMFILE
    assert CountingFile.releases == before + 1
    assert errno_of(table.install, File(0), False, 5) == errno.EINVAL


def test_install_at_replaces_and_releases_the_old_file():
    table = FDTable()
    old = CountingFile(0)
    table.install_at(5, old)
    before = CountingFile.releases
    table.install_at(5, File(0), cloexec=True)
    assert CountingFile.releases == before + 1
    assert table.get_cloexec(5)
    assert errno_of(table.install_at, 1 << 30, File(0)) == errno.EBADF


def test_fork_shares_descriptions_and_counts_references():
    table = FDTable()
    file = CountingFile(0)
    table.install(file)
    child = table.fork()
    assert child.get(0) is file and file.refs == 2
    before = CountingFile.releases
    table.close(0)
    assert CountingFile.releases == before
    child.close_all()
    assert CountingFile.releases == before + 1


def test_share_and_unshare():
    table = FDTable()
    table.install(File(0))
    sibling = table.share()
    sibling.install(File(0))
    assert 1 in table
    sibling.unshare()
    sibling.install(File(0))
    assert 2 not in table and 2 in sibling
    shared_file = table.get(0)
    assert shared_file.refs == 2  # the original table and the unshared copy
    table.release()
    assert shared_file.refs == 1
    sibling.release()
    assert shared_file.refs == 0


def test_close_on_exec_and_close_range():
    table = FDTable()
    for cloexec in (False, True, False, True):
        table.install(File(0), cloexec=cloexec)
    table.close_on_exec()
    assert [fd for fd, _ in table] == [0, 2]
    table.close_range(1, 5, cloexec_only=True)
    assert table.get_cloexec(2) and not table.get_cloexec(0)
    table.close_range(0, 0)
    assert [fd for fd, _ in table] == [2]
    assert errno_of(table.get, 0) == errno.EBADF


# --- dup and fcntl ---

def test_dup_family(t):
    fd = sys_file.openat(t, AT_FDCWD, t.cstr("/data.txt"), os.O_RDONLY, 0)
    assert fd == 0
    assert sys_fd.dup(t, fd) == 1
    assert sys_fd.dup2(t, fd, 7) == 7
    assert sys_fd.dup2(t, fd, fd) == fd
    assert errno_of(sys_fd.dup2, t, 42, 3) == errno.EBADF
    assert errno_of(sys_fd.dup3, t, fd, fd, 0) == errno.EINVAL
    assert errno_of(sys_fd.dup3, t, fd, 9, 1) == errno.EINVAL
    assert sys_fd.dup3(t, fd, 9, os.O_CLOEXEC) == 9
    assert sys_fd.fcntl(t, 9, sys_fd.F_GETFD, 0) == 1
    assert sys_fd.fcntl(t, 7, sys_fd.F_GETFD, 0) == 0
    # dup'd descriptors share the offset
    assert read_bytes(t, 1, 3) == b"012"
    assert read_bytes(t, 7, 3) == b"345"


def test_fcntl_dupfd_flags_and_locks(t):
    fd = sys_file.openat(t, AT_FDCWD, t.cstr("/data.txt"), os.O_RDWR, 0)
    assert sys_fd.fcntl(t, fd, sys_fd.F_DUPFD, 10) == 10
    assert sys_fd.fcntl(t, fd, sys_fd.F_DUPFD_CLOEXEC, 10) == 11
    assert sys_fd.fcntl(t, 11, sys_fd.F_GETFD, 0) == 1
    sys_fd.fcntl(t, fd, sys_fd.F_SETFD, 1)
    assert t.fds.get_cloexec(fd)
    assert sys_fd.fcntl(t, fd, sys_fd.F_GETFL, 0) & os.O_ACCMODE == os.O_RDWR
    sys_fd.fcntl(t, fd, sys_fd.F_SETFL, os.O_NONBLOCK | os.O_APPEND | os.O_WRONLY)
    flags = sys_fd.fcntl(t, fd, sys_fd.F_GETFL, 0)
    assert flags & os.O_ACCMODE == os.O_RDWR and flags & os.O_NONBLOCK and flags & os.O_APPEND
    lock = t.alloc(struct.pack("<hhxxxxqqi4x", sys_lock.F_WRLCK, 0, 0, 100, 0))
    assert sys_fd.fcntl(t, fd, sys_lock.F_SETLK, lock) == 0
    assert sys_fd.fcntl(t, fd, sys_lock.F_GETLK, lock) == 0
    assert struct.unpack_from("<h", t.copy_in(lock, 2))[0] == sys_lock.F_UNLCK
    assert errno_of(sys_fd.fcntl, t, fd, 9999, 0) == errno.EINVAL
    assert errno_of(sys_fd.fcntl, t, fd, sys_fd.F_GETPIPE_SZ, 0) == errno.EBADF
    read_only = sys_file.openat(t, AT_FDCWD, t.cstr("/data.txt"), os.O_RDONLY, 0)
    write_lock = t.alloc(struct.pack("<hhxxxxqqi4x", sys_lock.F_WRLCK, 0, 0, 100, 0))
    assert errno_of(sys_fd.fcntl, t, read_only, sys_lock.F_SETLK, write_lock) == errno.EBADF


# --- pipes ---

def test_pipe_read_write_and_eof(t):
    r, w = make_pipe(t)
    assert write_bytes(t, w, b"hello") == 5
    assert read_bytes(t, r, 3) == b"hel"
    assert read_bytes(t, r, 10) == b"lo"
    with pytest.raises(WouldBlock) as blocked:
        read_bytes(t, r, 10)
    assert blocked.value.queues == (t.fds.get(r).pipe.queue,)
    sys_file.close(t, w)
    assert read_bytes(t, r, 10) == b""


def test_pipe_wakes_waiting_reader(t):
    r, w = make_pipe(t)
    woken = []
    t.fds.get(r).readiness_queue(t, POLLIN).add(lambda: woken.append(True))
    write_bytes(t, w, b"x")
    assert woken == [True]


def test_pipe_without_readers_is_epipe_and_sigpipe(t, monkeypatch):
    sent = []
    monkeypatch.setattr(signals, "send_signal", lambda target, info: sent.append((target, info)))
    r, w = make_pipe(t)
    sys_file.close(t, r)
    assert errno_of(write_bytes, t, w, b"x") == errno.EPIPE
    assert [(target, info.signo, info.pid) for target, info in sent] == [(t, SIGPIPE, t.tg.tgid)]


def test_pipe_nonblocking_and_capacity(t):
    r, w = make_pipe(t, os.O_NONBLOCK | os.O_CLOEXEC)
    assert t.fds.get_cloexec(r) and t.fds.get_cloexec(w)
    assert errno_of(read_bytes, t, r, 1) == errno.EAGAIN
    assert write_bytes(t, w, b"a" * (PIPE_CAPACITY + 100)) == PIPE_CAPACITY
    assert errno_of(write_bytes, t, w, b"b") == errno.EAGAIN
    read_bytes(t, r, PIPE_BUF - 1)
    # a write of up to PIPE_BUF bytes is all or nothing
    assert errno_of(write_bytes, t, w, b"c" * PIPE_BUF) == errno.EAGAIN
    assert write_bytes(t, w, b"c" * (PIPE_BUF - 1)) == PIPE_BUF - 1


def test_blocking_pipe_write_waits_when_full(t):
    r, w = make_pipe(t)
    write_bytes(t, w, b"a" * PIPE_CAPACITY)
    with pytest.raises(WouldBlock):
        write_bytes(t, w, b"b")


def test_pipe_fionread_fcntl_and_stat(t):
    r, w = make_pipe(t)
    write_bytes(t, w, b"abc")
    out = t.alloc(4)
    assert sys_ioctl.ioctl(t, r, FIONREAD, out) == 0
    assert t.copy_in_u32(out) == 3
    assert sys_fd.fcntl(t, r, sys_fd.F_GETPIPE_SZ, 0) == PIPE_CAPACITY
    statbuf = t.alloc(144)
    sys_stat.fstat(t, r, statbuf)
    mode = struct.unpack_from("<I", t.copy_in(statbuf, 144), 24)[0]
    assert mode & 0o170000 == 0o010000
    assert errno_of(sys_read_write.lseek, t, r, 0, 0) == errno.ESPIPE
    assert errno_of(sys_pipe.pipe2, t, t.alloc(8), 0x1) == errno.EINVAL


def test_pipe_reopened_through_proc_fd(t):
    r, w = make_pipe(t)
    again = sys_file.openat(t, AT_FDCWD, t.cstr(f"/proc/self/fd/{w}"), os.O_WRONLY, 0)
    sys_file.close(t, w)
    write_bytes(t, again, b"via proc")
    sys_file.close(t, again)
    assert read_bytes(t, r, 20) == b"via proc"
    assert read_bytes(t, r, 20) == b""


def test_pipe_end_survives_fork_until_last_close(t):
    r, w = make_pipe(t)
    child_fds = t.fds.fork()
    sys_file.close(t, w)
    with pytest.raises(WouldBlock):
        read_bytes(t, r, 1)  # the child still holds a writer
    child_fds.close_all()
    assert read_bytes(t, r, 1) == b""


# --- poll and select ---

def pollfds(t, *entries):
    return t.alloc(b"".join(struct.pack("<ihh", fd, events, 0) for fd, events in entries))


def revents(t, address, count):
    data = t.copy_in(address, 8 * count)
    return [struct.unpack_from("<ihh", data, 8 * i)[2] for i in range(count)]


def test_poll_reports_ready_and_invalid_fds(t):
    r, w = make_pipe(t)
    address = pollfds(t, (r, POLLIN), (w, POLLOUT), (99, POLLIN), (-1, POLLIN))
    assert sys_poll.poll(t, address, 4, 0) == 2
    assert revents(t, address, 4) == [0, POLLOUT, POLLNVAL, 0]
    write_bytes(t, w, b"x")
    sys_file.close(t, w)
    address = pollfds(t, (r, POLLIN))
    assert sys_poll.poll(t, address, 1, -1) == 1
    assert revents(t, address, 1) == [POLLIN | POLLHUP]


def test_poll_blocks_then_times_out(t):
    r, w = make_pipe(t)
    address = pollfds(t, (r, POLLIN))
    with pytest.raises(WouldBlock) as blocked:
        sys_poll.poll(t, address, 1, 50)
    assert blocked.value.deadline is not None
    assert t.fds.get(r).pipe.queue in blocked.value.queues
    t.timed_out_flag = True
    assert sys_poll.poll(t, address, 1, 50) == 0


def test_poll_write_end_without_reader_reports_pollerr(t):
    r, w = make_pipe(t)
    sys_file.close(t, r)
    address = pollfds(t, (w, POLLOUT))
    assert sys_poll.poll(t, address, 1, 0) == 1
    assert revents(t, address, 1)[0] & POLLERR


def test_select_sets_and_ebadf(t):
    r, w = make_pipe(t)
    readfds = t.alloc((1 << r).to_bytes(8, "little"))
    writefds = t.alloc((1 << w).to_bytes(8, "little"))
    timeout = t.alloc(struct.pack("<qq", 0, 0))
    assert sys_poll.select(t, 64, readfds, writefds, 0, timeout) == 1
    assert int.from_bytes(t.copy_in(readfds, 8), "little") == 0
    assert int.from_bytes(t.copy_in(writefds, 8), "little") == 1 << w
    write_bytes(t, w, b"x")
    readfds = t.alloc((1 << r).to_bytes(8, "little"))
    assert sys_poll.pselect6(t, 64, readfds, 0, 0, 0, 0) == 1
    bad = t.alloc((1 << 40).to_bytes(8, "little"))
    assert errno_of(sys_poll.select, t, 64, bad, 0, 0, timeout) == errno.EBADF
    assert errno_of(sys_poll.select, t, -1, 0, 0, 0, 0) == errno.EINVAL


def test_ppoll_restores_the_signal_mask(t):
    r, w = make_pipe(t)
    write_bytes(t, w, b"x")
    t.sigmask = 0b1
    mask = t.alloc(struct.pack("<Q", 0b110))
    assert sys_poll.ppoll(t, pollfds(t, (r, POLLIN)), 1, 0, mask, 8) == 1
    assert t.sigmask == 0b1
    assert errno_of(sys_poll.ppoll, t, pollfds(t, (r, POLLIN)), 1, 0, mask, 4) == errno.EINVAL


# --- read, write, seek ---

def test_read_write_pread_pwrite_lseek(t):
    fd = sys_file.openat(t, AT_FDCWD, t.cstr("/data.txt"), os.O_RDWR, 0)
    assert read_bytes(t, fd, 4) == b"0123"
    assert sys_read_write.lseek(t, fd, -2, os.SEEK_END) == 8
    assert read_bytes(t, fd, 10) == b"89"
    buf = t.alloc(16)
    assert sys_read_write.pread64(t, fd, buf, 3, 2) == 3 and t.copy_in(buf, 3) == b"234"
    assert sys_read_write.pwrite64(t, fd, t.alloc(b"XY"), 2, 0) == 2
    assert sys_read_write.lseek(t, fd, 0, os.SEEK_CUR) == 10
    assert errno_of(sys_read_write.pread64, t, fd, buf, 1, -1) == errno.EINVAL
    assert errno_of(sys_read_write.lseek, t, fd, -20, os.SEEK_CUR) == errno.EINVAL
    assert errno_of(sys_read_write.lseek, t, fd, 0, 7) == errno.EINVAL
    assert errno_of(sys_read_write.read, t, fd, 0x10, 4) == errno.EFAULT
    read_only = sys_file.openat(t, AT_FDCWD, t.cstr("/data.txt"), os.O_RDONLY, 0)
    assert errno_of(write_bytes, t, read_only, b"x") == errno.EBADF
    assert read_bytes(t, read_only, 4) == b"XY23"
    assert errno_of(read_bytes, t, 77, 1) == errno.EBADF


def test_append_mode_writes_at_the_end(t, tmp_path):
    fd = sys_file.openat(t, AT_FDCWD, t.cstr("/data.txt"), os.O_WRONLY | os.O_APPEND, 0)
    write_bytes(t, fd, b"AB")
    assert (tmp_path / "data.txt").read_bytes() == b"0123456789AB"


def test_readv_writev(t):
    r, w = make_pipe(t)
    first, second = t.alloc(b"abc"), t.alloc(b"defg")
    iov = t.alloc(struct.pack("<QQQQ", first, 3, second, 4))
    assert sys_read_write.writev(t, w, iov, 2) == 7
    out1, out2 = t.alloc(2), t.alloc(10)
    iov = t.alloc(struct.pack("<QQQQ", out1, 2, out2, 10))
    assert sys_read_write.readv(t, r, iov, 2) == 7
    assert t.copy_in(out1, 2) == b"ab" and t.copy_in(out2, 5) == b"cdefg"
    assert errno_of(sys_read_write.readv, t, r, iov, 2000) == errno.EINVAL


def test_preadv_pwritev(t, tmp_path):
    fd = sys_file.openat(t, AT_FDCWD, t.cstr("/data.txt"), os.O_RDWR, 0)
    iov = t.alloc(struct.pack("<QQ", t.alloc(b"zz"), 2))
    assert sys_read_write.pwritev(t, fd, iov, 1, 4, 0) == 2
    assert (tmp_path / "data.txt").read_bytes() == b"0123zz6789"
    out = t.alloc(3)
    assert sys_read_write.preadv(t, fd, t.alloc(struct.pack("<QQ", out, 3)), 1, 3, 0) == 3
    assert t.copy_in(out, 3) == b"3zz"


# --- ioctl ---

def test_ioctl_fd_flags_and_enotty(t):
    fd = sys_file.openat(t, AT_FDCWD, t.cstr("/data.txt"), os.O_RDONLY, 0)
    assert sys_ioctl.ioctl(t, fd, FIOCLEX, 0) == 0 and t.fds.get_cloexec(fd)
    sys_ioctl.ioctl(t, fd, FIONBIO, t.alloc(struct.pack("<i", 1)))
    assert t.fds.get(fd).flags & os.O_NONBLOCK
    out = t.alloc(4)
    sys_ioctl.ioctl(t, fd, FIONREAD, out)
    assert t.copy_in_u32(out) == 10
    assert errno_of(sys_ioctl.ioctl, t, fd, TCGETS, t.alloc(64)) == errno.ENOTTY
    assert errno_of(sys_ioctl.ioctl, t, 55, TCGETS, 0) == errno.EBADF


def test_tty_ioctls_are_forwarded(t):
    master, slave = os.openpty()
    try:
        file = HostStreamFile.from_host_fd(slave, terminal=_terminal(slave))
        fd = t.fds.install(file)
        termios_buf = t.alloc(64)
        assert sys_ioctl.ioctl(t, fd, TCGETS, termios_buf) == 0
        assert t.copy_in(termios_buf, 36) != bytes(36)
        pgrp = t.alloc(4)
        sys_ioctl.ioctl(t, fd, TIOCGPGRP, pgrp)
        assert t.copy_in_u32(pgrp) == 1
        os.write(master, b"typed\n")
        assert read_bytes(t, fd, 100) == b"typed\n"
        with pytest.raises(WouldBlock) as blocked:
            read_bytes(t, fd, 100)
        assert blocked.value.queues == (t.kernel.host_fd_queue(file.host_fd, POLLIN),)
        sys_file.close(t, fd)
    finally:
        os.close(master)
        os.close(slave)


def _terminal(fd):
    from pysandbox.sentry.vfs.tty import Terminal
    return Terminal(fd)


# --- host stdio ---

def test_stdio_pipe_reads_do_not_block_the_sentry(t):
    read_end, write_end = os.pipe()
    try:
        t.kernel.vfs.install_stdio(t.fds, (read_end, write_end, write_end))
        with pytest.raises(WouldBlock):
            read_bytes(t, 0, 10)
        t.fds.get(0).flags |= os.O_NONBLOCK
        assert errno_of(read_bytes, t, 0, 10) == errno.EAGAIN
        assert write_bytes(t, 1, b"out") == 3
        assert read_bytes(t, 0, 10) == b"out"
        assert errno_of(sys_read_write.lseek, t, 0, 0, 0) == errno.ESPIPE
        link = t.alloc(64)
        n = sys_file.readlink(t, t.cstr("/proc/self/fd/0"), link, 64)
        assert t.copy_in(link, n).startswith(b"pipe:[")
    finally:
        t.fds.close_all()
        os.close(read_end)
        os.close(write_end)


def test_stdio_write_to_full_host_pipe_waits(t):
    read_end, write_end = os.pipe()
    try:
        os.set_blocking(write_end, False)
        while True:
            try:
                os.write(write_end, b"x" * 65536)
            except BlockingIOError:
                break
        os.set_blocking(write_end, True)
        t.kernel.vfs.install_stdio(t.fds, (write_end,))
        with pytest.raises(WouldBlock):
            write_bytes(t, 0, b"more")
    finally:
        t.fds.close_all()
        os.close(read_end)
        os.close(write_end)


# --- sendfile ---

def test_sendfile_from_file_to_pipe(t):
    fd = sys_file.openat(t, AT_FDCWD, t.cstr("/data.txt"), os.O_RDONLY, 0)
    r, w = make_pipe(t)
    assert sys_sendfile.sendfile(t, w, fd, 0, 4) == 4
    assert sys_read_write.lseek(t, fd, 0, os.SEEK_CUR) == 4
    offset = t.alloc(struct.pack("<Q", 8))
    assert sys_sendfile.sendfile(t, w, fd, offset, 100) == 2
    assert t.copy_in_u64(offset) == 10
    assert sys_read_write.lseek(t, fd, 0, os.SEEK_CUR) == 4
    assert read_bytes(t, r, 20) == b"012389"
    assert errno_of(sys_sendfile.sendfile, t, fd, r, 0, 1) == errno.EBADF
