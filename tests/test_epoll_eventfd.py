"""epoll, eventfd, timerfd, signalfd and the socket calls.

C programs from tests/cprogs (epoll_*, eventfd_*, timerfd_*, signalfd_*) and Python's
selectors and asyncio run natively and under `pysandbox do`, with the same output;
unit tests drive the handlers and objects with the fake task of vfs/testing.py.
"""
from __future__ import annotations

import errno
import os
import struct

import pytest

from helpers import compare_with_native, errno_of, run_sandbox
from pysandbox.sentry import signals
from pysandbox.sentry.errors import RESTART_NEVER, SyscallError, WouldBlock
from pysandbox.sentry.signals import SignalQueue, SigInfo
from pysandbox.sentry.syscalls import (sys_epoll, sys_eventfd, sys_pipe, sys_read_write, sys_signalfd,
                                       sys_socket, sys_timerfd)
from pysandbox.sentry.vfs import VFS, timerfd
from pysandbox.sentry.vfs.dirfile import DirFile
from pysandbox.sentry.vfs.epoll import (EP_MAX_NESTS, EPOLL_CTL_ADD, EPOLL_CTL_DEL, EPOLL_CTL_MOD, EPOLL_EVENT,
                                        EPOLLET, EPOLLHUP, EPOLLIN, EPOLLONESHOT, EPOLLOUT, EpollFile, can_poll)
from pysandbox.sentry.vfs.eventfd import EventFile
from pysandbox.sentry.vfs.hostfile import HostStreamFile
from pysandbox.sentry.vfs.pipe import new_pipe
from pysandbox.sentry.vfs.signalfd import SIGNALFD_SIGINFO_SIZE, SignalFile, pack_signalfd_siginfo
from pysandbox.sentry.vfs.testing import FakeTask

PYTHON3 = "/usr/bin/python3"
C_PROGRAMS = ["epoll_pipes", "epoll_wait", "eventfd_counter", "timerfd_expirations", "signalfd_read"]


# -- real programs, natively and sandboxed ------------------------------------------------------

@pytest.mark.parametrize("name", C_PROGRAMS)
def test_c_program_matches_native(build, name):
    sandboxed = compare_with_native([build(name)])
    assert sandboxed.status == 0, sandboxed
    assert "internal error" not in sandboxed.log


def compare_python(script, stdin=None):
    sandboxed = compare_with_native([PYTHON3, "-c", script], stdin=stdin)
    assert sandboxed.status == 0, sandboxed
    return sandboxed


SELECTORS_SCRIPT = r'''
import os, selectors
sel = selectors.EpollSelector()
r, w = os.pipe()
key = sel.register(r, selectors.EVENT_READ, data="reader")
print("empty", sel.select(timeout=0))
os.write(w, b"ping")
print("ready", [(k.data, mask) for k, mask in sel.select(timeout=1)])
print("read", os.read(r, 10))
print("timeout", sel.select(timeout=0.05))
sel.modify(r, selectors.EVENT_READ, data="renamed")
sel.register(w, selectors.EVENT_WRITE, data="writer")
print("both", sorted((k.data, mask) for k, mask in sel.select(timeout=1)))
os.close(w)
sel.unregister(w)
print("hang-up", [(k.data, mask) for k, mask in sel.select(timeout=1)])
sel.close()
'''


def test_python_epoll_selector_matches_native():
    r = compare_python(SELECTORS_SCRIPT)
    assert "ready [('reader', 1)]" in r.out


STDIN_SCRIPT = r'''
import selectors, sys, os
sel = selectors.EpollSelector()
sel.register(0, selectors.EVENT_READ)
chunks = []
while True:
    if not sel.select(timeout=10):
        print("timed out")
        break
    data = os.read(0, 7)
    if not data:
        break
    chunks.append(data)
print(b"".join(chunks).decode().upper(), end="")
'''


def test_epoll_on_inherited_stdin_matches_native():
    """stdin is a host pipe: a level-driven fd that epoll looks at rather than follows."""
    r = compare_python(STDIN_SCRIPT, stdin="some lines\nof input\n")
    assert r.out == "SOME LINES\nOF INPUT\n"


ASYNCIO_SCRIPT = r'''
import asyncio

async def main():
    print(type(asyncio.get_running_loop()._selector).__name__)
    proc = await asyncio.create_subprocess_exec("/bin/echo", "x", stdout=asyncio.subprocess.PIPE)
    out, _ = await proc.communicate()
    print("child", out, proc.returncode)
    results = await asyncio.gather(*(asyncio.sleep(0.01 * i, result=i) for i in range(5)))
    print("sleeps", results)
    try:
        await asyncio.wait_for(asyncio.sleep(10), timeout=0.05)
    except asyncio.TimeoutError:
        print("timed out")

asyncio.run(main())
'''


def test_asyncio_event_loop_with_a_subprocess_matches_native():
    r = compare_python(ASYNCIO_SCRIPT)
    assert r.out == "EpollSelector\nchild b'x\\n' 0\nsleeps [0, 1, 2, 3, 4]\ntimed out\n"


SOCKET_SCRIPT = r'''
import errno, socket
for family in (socket.AF_UNIX, socket.AF_INET, socket.AF_INET6):
    try:
        socket.socket(family, socket.SOCK_STREAM).close()
        print("made")
    except OSError as e:
        print(errno.errorcode[e.errno])
try:
    socket.socket(fileno=0)
except OSError as e:
    print(errno.errorcode[e.errno])
'''


def test_sockets_fail_cleanly_in_the_sandbox():
    r = run_sandbox([PYTHON3, "-c", SOCKET_SCRIPT])
    assert (r.status, r.out) == (0, "made\nmade\nmade\nENOTSOCK\n"), r
    assert "unimplemented syscall" not in r.log


# -- unit tests: the handlers with a fake task ---------------------------------------------------

@pytest.fixture
def t(tmp_path):
    task = FakeTask(VFS.for_rootfs(str(tmp_path), overlay=False))
    task.pending = SignalQueue()
    return task


def make_pipe(t):
    fds = t.alloc(8)
    sys_pipe.pipe2(t, fds, os.O_NONBLOCK)
    return struct.unpack("<ii", t.copy_in(fds, 8))


def write_bytes(t, fd, data):
    return sys_read_write.write(t, fd, t.alloc(data), len(data))


def read_bytes(t, fd, n):
    buf = t.alloc(n)
    return t.copy_in(buf, sys_read_write.read(t, fd, buf, n))


def ctl(t, epfd, op, fd, events=0, data=0):
    return sys_epoll.epoll_ctl(t, epfd, op, fd, t.alloc(EPOLL_EVENT.pack(events, data)))


def wait(t, epfd, maxevents=8):
    """epoll_wait with a zero timeout: [(events, data)]."""
    buf = t.alloc(maxevents * EPOLL_EVENT.size)
    n = sys_epoll.epoll_wait(t, epfd, buf, maxevents, 0)
    return [EPOLL_EVENT.unpack_from(t.copy_in(buf, n * EPOLL_EVENT.size), i * EPOLL_EVENT.size) for i in range(n)]


def test_epoll_event_is_packed_in_12_bytes():
    assert EPOLL_EVENT.size == 12


def test_level_and_edge_triggered_on_a_pipe(t):
    epfd = sys_epoll.epoll_create1(t, 0)
    r, w = make_pipe(t)
    ctl(t, epfd, EPOLL_CTL_ADD, r, EPOLLIN | EPOLLET, 0xABCDEF0123456789)
    write_bytes(t, w, b"abc")
    assert wait(t, epfd) == [(EPOLLIN, 0xABCDEF0123456789)]
    assert wait(t, epfd) == []
    read_bytes(t, r, 1)
    assert wait(t, epfd) == [], "the reader's own partial read is no new edge"
    write_bytes(t, w, b"d")
    assert wait(t, epfd) == [(EPOLLIN, 0xABCDEF0123456789)]
    ctl(t, epfd, EPOLL_CTL_MOD, r, EPOLLIN, 5)
    assert wait(t, epfd) == [(EPOLLIN, 5)]
    assert wait(t, epfd) == [(EPOLLIN, 5)]


def test_oneshot_is_disabled_until_modified(t):
    epfd = sys_epoll.epoll_create1(t, 0)
    r, w = make_pipe(t)
    ctl(t, epfd, EPOLL_CTL_ADD, r, EPOLLIN | EPOLLONESHOT, 1)
    write_bytes(t, w, b"x")
    assert wait(t, epfd) == [(EPOLLIN, 1)]
    write_bytes(t, w, b"y")
    assert wait(t, epfd) == []
    ctl(t, epfd, EPOLL_CTL_MOD, r, EPOLLIN | EPOLLONESHOT, 2)
    assert wait(t, epfd) == [(EPOLLIN, 2)]


def test_wait_parks_on_the_epoll_queue_and_is_never_restarted(t):
    epfd = sys_epoll.epoll_create1(t, 0)
    r, w = make_pipe(t)
    ctl(t, epfd, EPOLL_CTL_ADD, r, EPOLLIN)
    with pytest.raises(WouldBlock) as parked:
        sys_epoll.epoll_wait(t, epfd, t.alloc(12), 1, -1)
    assert parked.value.restart == RESTART_NEVER
    assert parked.value.deadline is None
    (queue,) = parked.value.queues
    woken = []
    queue.add(lambda: woken.append(True))
    write_bytes(t, w, b"x")
    assert woken == [True]


def test_timeout_sets_a_deadline_once(t):
    epfd = sys_epoll.epoll_create1(t, 0)
    with pytest.raises(WouldBlock) as first:
        sys_epoll.epoll_wait(t, epfd, t.alloc(12), 1, 100)
    with pytest.raises(WouldBlock) as again:
        sys_epoll.epoll_wait(t, epfd, t.alloc(12), 1, 100)
    assert first.value.deadline == again.value.deadline is not None
    t.timed_out_flag = True
    assert sys_epoll.epoll_wait(t, epfd, t.alloc(12), 1, 100) == 0


def test_epoll_pwait_mask_is_restored_when_it_returns(t):
    t.sigmask = signals.sigbit(signals.SIGUSR1)
    epfd = sys_epoll.epoll_create1(t, 0)
    empty = t.alloc(struct.pack("<Q", 0))
    with pytest.raises(WouldBlock):
        sys_epoll.epoll_pwait(t, epfd, t.alloc(12), 1, -1, empty, 8)
    assert t.sigmask == 0, "the temporary mask is in force while parked"
    t.timed_out_flag = True
    assert sys_epoll.epoll_pwait(t, epfd, t.alloc(12), 1, 10, empty, 8) == 0
    assert t.sigmask == signals.sigbit(signals.SIGUSR1)
    assert t.saved_sigmask is None


def test_ctl_errors_in_linux_order(t, tmp_path):
    epfd = sys_epoll.epoll_create1(t, 0)
    r, _ = make_pipe(t)
    assert errno_of(sys_epoll.epoll_ctl, t, 99, EPOLL_CTL_ADD, r, 8) == errno.EFAULT
    assert errno_of(ctl, t, 99, EPOLL_CTL_ADD, r) == errno.EBADF
    assert errno_of(ctl, t, epfd, EPOLL_CTL_ADD, 99) == errno.EBADF
    assert errno_of(ctl, t, epfd, EPOLL_CTL_ADD, epfd) == errno.EINVAL
    assert errno_of(ctl, t, r, EPOLL_CTL_ADD, epfd) == errno.EINVAL
    assert errno_of(ctl, t, epfd, EPOLL_CTL_MOD, r) == errno.ENOENT
    assert errno_of(sys_epoll.epoll_ctl, t, epfd, EPOLL_CTL_DEL, r, 0) == errno.ENOENT
    ctl(t, epfd, EPOLL_CTL_ADD, r, EPOLLIN)
    assert errno_of(ctl, t, epfd, EPOLL_CTL_ADD, r) == errno.EEXIST
    assert errno_of(ctl, t, epfd, 7, r) == errno.EINVAL
    assert errno_of(sys_epoll.epoll_create, t, 0) == errno.EINVAL
    assert errno_of(sys_epoll.epoll_wait, t, epfd, t.alloc(12), 0, 0) == errno.EINVAL
    assert errno_of(sys_epoll.epoll_wait, t, r, t.alloc(12), 1, 0) == errno.EINVAL


def test_what_epoll_can_watch():
    r, w = new_pipe(0)
    read_fd, write_fd = os.pipe()
    stdin = HostStreamFile(read_fd, os.O_RDONLY)
    try:
        assert can_poll(r) and can_poll(w) and can_poll(EpollFile()) and can_poll(EventFile(0, 0))
        assert can_poll(stdin)
        assert not can_poll(DirFile(os.O_RDONLY, None))
    finally:
        stdin.decref()
        os.close(write_fd)


def test_regular_files_give_eperm(t, tmp_path):
    (tmp_path / "file").write_bytes(b"x")
    from pysandbox.sentry.syscalls import sys_file
    fd = sys_file.open(t, t.cstr("/file"), os.O_RDONLY, 0)
    epfd = sys_epoll.epoll_create1(t, 0)
    assert errno_of(ctl, t, epfd, EPOLL_CTL_ADD, fd, EPOLLIN) == errno.EPERM


def test_closing_the_last_fd_forgets_the_interest(t):
    epfd = sys_epoll.epoll_create1(t, 0)
    epoll = t.fds.get(epfd)
    r, w = make_pipe(t)
    ctl(t, epfd, EPOLL_CTL_ADD, r, EPOLLIN)
    copy = t.fds.install(t.fds.get(r).incref())
    t.fds.close(r)
    write_bytes(t, w, b"x")
    assert len(wait(t, epfd)) == 1, "a duplicate keeps the file open"
    t.fds.close(copy)
    assert wait(t, epfd) == []
    assert epoll.interests == {}


def chain(t, epolls, links):
    """Add each (outer, inner) link in turn: the errno names of the results."""
    results = []
    for outer, inner in links:
        try:
            ctl(t, epolls[outer], EPOLL_CTL_ADD, epolls[inner], EPOLLIN)
            results.append("ok")
        except SyscallError as error:
            results.append(errno.errorcode[error.errno])
    return results


def test_chains_of_epolls_are_limited_to_ep_max_nests_links(t):
    """As Linux 6.18 counts them: the chain below the new link plus the chain above it."""
    epolls = [sys_epoll.epoll_create1(t, 0) for _ in range(7)]
    assert EP_MAX_NESTS == 4
    assert chain(t, epolls, [(i, i + 1) for i in range(6)]) == ["ok"] * 4 + ["ELOOP", "ok"]
    epolls = [sys_epoll.epoll_create1(t, 0) for _ in range(7)]
    assert chain(t, epolls, [(i, i + 1) for i in reversed(range(6))]) == ["ok", "ok", "ok", "ok", "ELOOP", "ok"]


def test_cycles_give_eloop(t):
    epolls = [sys_epoll.epoll_create1(t, 0) for _ in range(3)]
    assert chain(t, epolls, [(0, 1), (1, 2), (2, 0), (1, 0)]) == ["ok", "ok", "ELOOP", "ELOOP"]
    t.fds.close(epolls[1])
    assert chain(t, epolls, [(2, 0)]) == ["ok"], "closing the middle one broke the cycle"


def test_nested_epoll_reports_readiness_of_the_inner_one(t):
    inner = sys_epoll.epoll_create1(t, 0)
    outer = sys_epoll.epoll_create1(t, 0)
    r, w = make_pipe(t)
    ctl(t, inner, EPOLL_CTL_ADD, r, EPOLLIN, 1)
    ctl(t, outer, EPOLL_CTL_ADD, inner, EPOLLIN | EPOLLET, 2)
    assert wait(t, outer) == []
    write_bytes(t, w, b"x")
    assert wait(t, outer) == [(EPOLLIN, 2)]
    assert wait(t, outer) == []
    write_bytes(t, w, b"y")
    assert wait(t, outer) == [(EPOLLIN, 2)]


def test_host_fds_are_looked_at_not_followed(t):
    read_fd, write_fd = os.pipe()
    stdin = HostStreamFile(read_fd, os.O_RDONLY)
    fd = t.fds.install(stdin)
    epfd = sys_epoll.epoll_create1(t, 0)
    ctl(t, epfd, EPOLL_CTL_ADD, fd, EPOLLIN, 3)
    assert t.kernel.host_fd_queues == {}, "no host watch until someone waits"
    assert wait(t, epfd) == []
    os.write(write_fd, b"x")
    assert wait(t, epfd) == [(EPOLLIN, 3)]
    os.close(write_fd)
    assert wait(t, epfd) == [(EPOLLIN | EPOLLHUP, 3)]
    t.fds.close(fd)


def test_pipe_write_end_hang_up_and_error(t):
    epfd = sys_epoll.epoll_create1(t, 0)
    r, w = make_pipe(t)
    ctl(t, epfd, EPOLL_CTL_ADD, w, EPOLLOUT | EPOLLET, 4)
    assert wait(t, epfd) == [(EPOLLOUT, 4)]
    t.fds.close(r)
    assert wait(t, epfd) == [(EPOLLOUT | 0x8, 4)]


# -- eventfd ---

def read_counter(t, fd):
    return struct.unpack("<Q", read_bytes(t, fd, 8))[0]


def test_eventfd_counter_semaphore_and_overflow(t):
    fd = sys_eventfd.eventfd2(t, 2, os.O_NONBLOCK)
    assert read_counter(t, fd) == 2
    assert errno_of(read_counter, t, fd) == errno.EAGAIN
    assert write_bytes(t, fd, struct.pack("<Q", (1 << 64) - 2)) == 8
    assert errno_of(write_bytes, t, fd, struct.pack("<Q", 1)) == errno.EAGAIN
    assert errno_of(write_bytes, t, fd, struct.pack("<Q", (1 << 64) - 1)) == errno.EINVAL
    assert errno_of(write_bytes, t, fd, b"1234") == errno.EINVAL
    sem = sys_eventfd.eventfd2(t, 2, 1 | os.O_NONBLOCK)
    assert [read_counter(t, sem), read_counter(t, sem)] == [1, 1]
    assert errno_of(sys_eventfd.eventfd2, t, 0, 0x8000) == errno.EINVAL


def test_blocked_eventfd_writer_waits_for_a_reader(t):
    fd = sys_eventfd.eventfd(t, 0)
    write_bytes(t, fd, struct.pack("<Q", (1 << 64) - 2))
    with pytest.raises(WouldBlock) as parked:
        write_bytes(t, fd, struct.pack("<Q", 5))
    (queue,) = parked.value.queues
    woken = []
    queue.add(lambda: woken.append(True))
    read_counter(t, fd)
    assert woken == [True]
    assert write_bytes(t, fd, struct.pack("<Q", 5)) == 8


# -- timerfd ---

class TimerKernel:
    """Just the kernel's timers, fired by hand."""

    def __init__(self):
        self.timers = []

    def add_timer(self, deadline, callback):
        handle = [deadline, callback, True]
        self.timers.append(handle)
        return handle

    @staticmethod
    def cancel_timer(handle):
        if handle is not None:
            handle[2] = False

    def live_timers(self):
        return [handle for handle in self.timers if handle[2]]


@pytest.fixture
def clock(monkeypatch):
    now = [10**12]
    monkeypatch.setattr(timerfd, "monotonic_ns", lambda: now[0])
    return now


def test_periodic_timer_counts_missed_expirations_and_rearms_after_a_read(clock):
    kernel = TimerKernel()
    timer = timerfd.TimerFile(kernel, 1, os.O_NONBLOCK)
    timer.set(clock[0] + 100, 10)
    (handle,) = kernel.live_timers()
    assert handle[0] == (clock[0] + 100) / 1e9
    clock[0] += 135
    handle[2] = False
    handle[1]()
    assert timer.poll_events() & EPOLLIN
    assert timer.get() == (5, 10)
    assert struct.unpack("<Q", timer.read(None, 8))[0] == 4
    (rearmed,) = kernel.live_timers()
    assert rearmed[0] == (clock[0] + 5) / 1e9
    assert errno_of(timer.read, None, 8) == errno.EAGAIN
    assert timer.set(None, 0) == (5, 10)
    assert kernel.live_timers() == []


def test_timerfd_settime_errors(t):
    fd = sys_timerfd.timerfd_create(t, 1, 0)
    spec = t.alloc(struct.pack("<qqqq", 0, 0, 1, 0))
    assert errno_of(sys_timerfd.timerfd_create, t, 2, 0) == errno.EINVAL
    assert errno_of(sys_timerfd.timerfd_settime, t, fd, 8, spec, 0) == errno.EINVAL
    assert errno_of(sys_timerfd.timerfd_settime, t, fd, 0, 8, 0) == errno.EFAULT
    bad = t.alloc(struct.pack("<qqqq", 0, 0, 0, 10**9))
    assert errno_of(sys_timerfd.timerfd_settime, t, fd, 0, bad, 0) == errno.EINVAL
    assert errno_of(sys_timerfd.timerfd_settime, t, 99, 0, spec, 0) == errno.EBADF
    r, _ = make_pipe(t)
    assert errno_of(sys_timerfd.timerfd_gettime, t, r, spec) == errno.EINVAL


# -- signalfd ---

@pytest.mark.parametrize("info, fields", [
    (SigInfo(signals.SIGUSR1, signals.SI_USER, pid=7, uid=8), {12: 7, 16: 8}),
    (SigInfo(signals.SIGRTMIN, signals.SI_QUEUE, pid=7, uid=8, value=0x1_0000_0005), {12: 7, 44: 5, 48: 0x1_0000_0005}),
    (SigInfo(signals.SIGCHLD, 1, pid=9, status=3, utime=4, stime=5), {12: 9, 40: 3, 56: 4, 64: 5}),
    (SigInfo(signals.SIGSEGV, 1, addr=0x1234), {72: 0x1234}),
    (SigInfo(signals.SIGALRM, signals.SI_TIMER, timer_id=2, overrun=3, value=6), {24: 2, 32: 3, 44: 6, 48: 6}),
    (SigInfo(signals.SIGIO, 1, band=0x41, fd=5), {20: 5, 28: 0x41}),
])
def test_signalfd_siginfo_layout(info, fields):
    record = pack_signalfd_siginfo(info)
    assert len(record) == SIGNALFD_SIGINFO_SIZE == 128
    assert struct.unpack_from("<Iii", record) == (info.signo, info.errno, info.code)
    for offset, value in fields.items():
        size = 8 if offset in (48, 56, 64, 72) else 4
        assert int.from_bytes(record[offset:offset + size], "little") == value, offset


def test_signalfd_reads_wanted_signals_of_the_reader(t):
    wanted = t.alloc(struct.pack("<Q", signals.sigset(signals.SIGUSR1, signals.SIGKILL)))
    fd = sys_signalfd.signalfd4(t, -1, wanted, 8, os.O_NONBLOCK)
    sfd = t.fds.get(fd)
    assert sfd.wanted == signals.sigbit(signals.SIGUSR1)
    assert sfd.poll_events() == 0
    t.pending.enqueue(SigInfo(signals.SIGUSR2))
    t.tg.pending.enqueue(SigInfo(signals.SIGUSR1, pid=3))
    assert sfd.poll_events() == EPOLLIN
    record = read_bytes(t, fd, 2 * SIGNALFD_SIGINFO_SIZE)
    assert len(record) == SIGNALFD_SIGINFO_SIZE and record[0] == signals.SIGUSR1
    assert errno_of(read_bytes, t, fd, SIGNALFD_SIGINFO_SIZE) == errno.EAGAIN
    assert t.pending.signals == signals.sigbit(signals.SIGUSR2)
    assert errno_of(read_bytes, t, fd, 100) == errno.EINVAL


def test_signalfd_readiness_follows_arrivals_and_mask_changes(t):
    fd = sys_signalfd.signalfd(t, -1, t.alloc(struct.pack("<Q", 0)), 8)
    sfd = t.fds.get(fd)
    woken = []
    sfd.readiness_queue(t, EPOLLIN).add(lambda: woken.append("arrival"))
    t.pending.enqueue(SigInfo(signals.SIGUSR2))
    assert woken == ["arrival"]
    sfd.readiness_queue(t, EPOLLIN).add(lambda: woken.append("mask"))
    assert sys_signalfd.signalfd(t, fd, t.alloc(struct.pack("<Q", signals.sigbit(signals.SIGUSR2))), 8) == fd
    assert woken == ["arrival", "mask"]
    assert sfd.poll_events() == EPOLLIN
    r, _ = make_pipe(t)
    assert errno_of(sys_signalfd.signalfd, t, r, t.alloc(8), 8) == errno.EINVAL
    assert errno_of(sys_signalfd.signalfd, t, -1, t.alloc(8), 4) == errno.EINVAL


def test_signalfd_blocks_on_the_task_and_process_queues(t):
    fd = sys_signalfd.signalfd(t, -1, t.alloc(struct.pack("<Q", signals.sigbit(signals.SIGUSR1))), 8)
    with pytest.raises(WouldBlock) as parked:
        read_bytes(t, fd, SIGNALFD_SIGINFO_SIZE)
    assert set(map(id, parked.value.queues)) == {id(t.pending.arrivals), id(t.tg.pending.arrivals)}
    assert isinstance(t.fds.get(fd), SignalFile)


# -- sockets ---

def test_socket_creation_checks_family_and_type(t):
    assert errno_of(sys_socket.socket, t, 99, 1 | os.O_CLOEXEC | os.O_NONBLOCK, 0) == errno.EAFNOSUPPORT
    assert errno_of(sys_socket.socket, t, 2, 1 | 0x100, 0) == errno.EINVAL
    assert errno_of(sys_socket.socket, t, 2, 12, 0) == errno.EINVAL
    assert errno_of(sys_socket.socket, t, 99, 12, 0) == errno.EAFNOSUPPORT
    assert errno_of(sys_socket.socketpair, t, 2, 1, 0, t.alloc(8)) == errno.EOPNOTSUPP
    assert sys_socket.socket(t, 1, 1, 0) >= 0


@pytest.mark.parametrize("name, args", [
    ("getpeername", (0, 0)), ("getsockname", (0, 0)), ("bind", (0, 0)), ("listen", (0,)),
    ("accept", (0, 0)), ("accept4", (0, 0, 0)), ("sendto", (0, 0, 0, 0, 0)), ("recvfrom", (0, 0, 0, 0, 0)),
    ("sendmsg", (0, 0)), ("recvmsg", (0, 0)), ("shutdown", (0,)), ("setsockopt", (0, 0, 0, 0)),
    ("getsockopt", (0, 0, 0, 0)), ("connect", (0, 0)),
])
def test_descriptor_calls_give_ebadf_then_enotsock(t, name, args):
    handler = getattr(sys_socket, name)
    r, _ = make_pipe(t)
    assert errno_of(handler, t, 99, *args) == errno.EBADF
    assert errno_of(handler, t, r, *args) == errno.ENOTSOCK


def test_argument_checks_that_linux_makes_first(t):
    r, _ = make_pipe(t)
    assert errno_of(sys_socket.accept4, t, 99, 0, 0, 0x1) == errno.EINVAL
    assert errno_of(sys_socket.sendmsg, t, 99, 0, 0x80000000) == errno.EINVAL
    assert errno_of(sys_socket.connect, t, r, 0, 200) == errno.EINVAL
    assert errno_of(sys_socket.connect, t, r, 8, 16) == errno.EFAULT
    assert errno_of(sys_socket.connect, t, 99, 8, 16) == errno.EBADF
