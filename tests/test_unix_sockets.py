"""AF_UNIX sockets, implemented inside the sentry (vfs/unix.py, syscalls/sys_socket.py).

C programs from tests/cprogs (unix_*) and python3 programs (socket, multiprocessing, asyncio)
run natively and under `pysandbox do`, with the same output. Programs that bind to paths get
an empty directory of their own for each run: the sandbox sees the host's / through its
overlay, so the two runs must not share one. Unit tests drive the handlers with the fake task
of vfs/testing.py.
"""
from __future__ import annotations

import errno
import os
import stat
import struct

import pytest

from helpers import assert_same, errno_of, run_native, run_sandbox
from pysandbox.sentry.errors import RESTART_NEVER, RESTART_SYS, SyscallError, WouldBlock
from pysandbox.sentry.signals import SignalQueue
from pysandbox.sentry.syscalls import sys_pipe, sys_read_write, sys_socket
from pysandbox.sentry.vfs import VFS
from pysandbox.sentry.vfs.resolve import AT_FDCWD
from pysandbox.sentry.vfs.testing import FakeTask
from pysandbox.sentry.vfs.unix import NAMES

PYTHON3 = "/usr/bin/python3"
AF_UNIX, SOCK_STREAM, SOCK_DGRAM = 1, 1, 2
MSG_WAITALL = 0x100


# -- real programs, natively and sandboxed ------------------------------------------------------

def compare(argv, tmp_path, with_directory=False):
    """Run argv natively and sandboxed (each with an empty directory as last argument when
    `with_directory`); the results must match."""
    runs = []
    for run, name in ((run_native, "native"), (run_sandbox, "sandbox")):
        directory = tmp_path / name
        directory.mkdir()
        runs.append(run([*argv, str(directory)] if with_directory else argv))
    native, sandboxed = runs
    assert_same(native, sandboxed)
    assert "internal error" not in sandboxed.log, sandboxed.log
    return native, sandboxed


@pytest.mark.parametrize("name, with_directory, status", [
    ("unix_socketpair", False, 0),
    ("unix_server", True, 0),
    ("unix_abstract", False, 0),
    ("unix_rights", True, 0),
    ("unix_shutdown", False, 128 + 13),   # ends by dying of SIGPIPE
    ("unix_poll", False, 0),
])
def test_c_program_matches_native(build, tmp_path, name, with_directory, status):
    native, _ = compare([build(name)], tmp_path, with_directory)
    assert native.status == status, native


SOCKETPAIR_SCRIPT = r'''
import os, socket, struct, threading
a, b = socket.socketpair()
print(a.family, a.type, repr(a.getsockname()), repr(b.getpeername()))
a.sendall(b"hello")
print(b.recv(10))
payload = bytes(range(256)) * 4096
sender = threading.Thread(target=a.sendall, args=(payload,))
sender.start()
got = bytearray()
while len(got) < len(payload):
    got += b.recv(65536)
sender.join()
print("a megabyte through a thread", got == payload)
r, w = os.pipe()
os.write(w, b"read through a passed fd")
socket.send_fds(a, [b"fds"], [r, w])
message, fds, flags, address = socket.recv_fds(b, 100, 4)
print(message, len(fds), flags, address, os.read(fds[0], 100))
lines = b.makefile("rb")
a.sendall(b"line one\nline two\n")
print(lines.readline(), lines.readline())
a.shutdown(socket.SHUT_WR)
print(b.recv(10))
pid, uid, gid = struct.unpack("3i", a.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))
print("peer is this process", pid == os.getpid(), uid, gid)
d1, d2 = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
d1.send(b"x" * 100)
print(d2.recv(10), d2.getsockopt(socket.SOL_SOCKET, socket.SO_TYPE))
'''


def test_python_socketpair_matches_native(tmp_path):
    native, _ = compare([PYTHON3, "-c", SOCKETPAIR_SCRIPT], tmp_path)
    assert "a megabyte through a thread True" in native.out


# The pytest process may hold SIGCHLD blocked (the in-process ptrace platform tests do), and a
# native run would inherit that; the forkserver needs SIGCHLD.
MULTIPROCESSING_SCRIPT = r'''
import multiprocessing, os, signal, sys
from multiprocessing import reduction
signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGCHLD})

def echo(conn):
    while (item := conn.recv()) is not None:
        conn.send(item * 2)

def read_passed_fd(conn):
    conn.send(os.read(reduction.recv_handle(conn), 100))

if __name__ == "__main__":
    ctx = multiprocessing.get_context(sys.argv[1])
    parent, child = ctx.Pipe()
    process = ctx.Process(target=echo, args=(child,))
    process.start()
    for item in (1, "ab", [3]):
        parent.send(item)
        print("echo", parent.recv())
    parent.send(None)
    process.join()
    print("exit code", process.exitcode)
    parent, child = ctx.Pipe()
    process = ctx.Process(target=read_passed_fd, args=(child,))
    process.start()
    r, w = os.pipe()
    os.write(w, b"passed with SCM_RIGHTS")
    reduction.send_handle(parent, r, process.pid)
    print(parent.recv())
    process.join()
'''


@pytest.mark.parametrize("start_method", ["fork", "forkserver", "spawn"])
def test_multiprocessing_pipe_and_fd_passing_match_native(tmp_path, start_method):
    """A Pipe is a socketpair; forkserver also serves on a path socket and passes fds."""
    script = tmp_path / "mp.py"
    script.write_text(MULTIPROCESSING_SCRIPT)
    native, _ = compare([PYTHON3, str(script), start_method], tmp_path)
    assert native.out.endswith("b'passed with SCM_RIGHTS'\n"), native


QUEUE_SCRIPT = r'''
import multiprocessing

def put(queue, n):
    queue.put(n * n)

if __name__ == "__main__":
    queue = multiprocessing.Queue()
    processes = [multiprocessing.Process(target=put, args=(queue, n)) for n in range(3)]
    for process in processes:
        process.start()
    print(sorted(queue.get(timeout=30) for _ in processes))
    for process in processes:
        process.join()
'''


def test_multiprocessing_queue_matches_native(tmp_path):
    # Its lock is a POSIX semaphore in a MAP_SHARED mapping of /dev/shm: the processes must
    # share the in-memory file's pages.
    script = tmp_path / "mp_queue.py"
    script.write_text(QUEUE_SCRIPT)
    compare([PYTHON3, str(script)], tmp_path)


ASYNCIO_SCRIPT = r'''
import asyncio, os, socket, sys

async def shout(reader, writer):
    writer.write((await reader.readline()).upper())
    await writer.drain()
    writer.close()
    await writer.wait_closed()

async def main(path):
    async with await asyncio.start_unix_server(shout, path):
        for word in (b"one\n", b"two\n"):
            reader, writer = await asyncio.open_unix_connection(path)
            writer.write(word)
            await writer.drain()
            print(await reader.read())
            writer.close()
            await writer.wait_closed()
    loop = asyncio.get_running_loop()
    a, b = socket.socketpair()
    a.setblocking(False)
    b.setblocking(False)
    async def receive(n):
        got = b""
        while len(got) < n:
            got += await loop.sock_recv(b, 65536)
        return len(got)
    print(await asyncio.gather(loop.sock_sendall(a, b"x" * 300000), receive(300000)))

asyncio.run(main(os.path.join(sys.argv[1], "server.sock")))
'''


def test_asyncio_unix_server_and_connection_match_native(tmp_path):
    native, _ = compare([PYTHON3, "-c", ASYNCIO_SCRIPT], tmp_path, with_directory=True)
    assert native.out == "b'ONE\\n'\nb'TWO\\n'\n[None, 300000]\n", native


# -- unit tests: the handlers with a fake task ---------------------------------------------------

@pytest.fixture
def t(tmp_path):
    task = FakeTask(VFS.for_rootfs(str(tmp_path), overlay=True))
    task.pending = SignalQueue()
    return task


def socketpair(t, socket_type=SOCK_STREAM):
    sv = t.alloc(8)
    sys_socket.socketpair(t, AF_UNIX, socket_type, 0, sv)
    return struct.unpack("<ii", t.copy_in(sv, 8))


def pipe(t):
    fds = t.alloc(8)
    sys_pipe.pipe2(t, fds, 0)
    return struct.unpack("<ii", t.copy_in(fds, 8))


def send(t, fd, data):
    return sys_read_write.write(t, fd, t.alloc(data), len(data))


def receive(t, fd, n):
    buf = t.alloc(n)
    return t.copy_in(buf, sys_read_write.read(t, fd, buf, n))


def send_files(t, fd, data, files):
    """sendmsg(2) of `data` with SCM_RIGHTS passing the descriptors `files`."""
    rights = struct.pack(f"<{len(files)}i", *files)
    control = struct.pack("<Qii", 16 + len(rights), 1, 1) + rights
    control += bytes(-len(control) % 8)
    iov = t.alloc(struct.pack("<QQ", t.alloc(data), len(data)))
    msg = t.alloc(struct.pack("<Qi4xQQQQi4x", 0, 0, iov, 1, t.alloc(control), len(control), 0))
    return sys_socket.sendmsg(t, fd, msg, 0)


def unix_address(path):
    return struct.pack("<H", AF_UNIX) + path


def bind(t, fd, address):
    return sys_socket.bind(t, fd, t.alloc(address), len(address))


def name_of(t, fd, call=sys_socket.getsockname):
    buf, length = t.alloc(128), t.alloc(struct.pack("<i", 128))
    call(t, fd, buf, length)
    return t.copy_in(buf, struct.unpack("<i", t.copy_in(length, 4))[0])


def test_a_blocked_reader_waits_on_its_socket(t):
    a, b = socketpair(t)
    with pytest.raises(WouldBlock) as parked:
        receive(t, b, 10)
    assert parked.value.queues == (t.fds.get(b).wait_queue,)
    woken = []
    parked.value.queues[0].add(lambda: woken.append(True))
    send(t, a, b"wake")
    assert woken == [True]
    assert receive(t, b, 10) == b"wake"


def test_addresses_have_linux_lengths(t):
    server = sys_socket.socket(t, AF_UNIX, SOCK_STREAM, 0)
    assert name_of(t, server) == unix_address(b"")
    bind(t, server, unix_address(b"/srv.sock\0garbage after the NUL"))
    assert name_of(t, server) == unix_address(b"/srv.sock\0")
    assert stat.S_ISSOCK(t.kernel.vfs.stat(t, AT_FDCWD, b"/srv.sock", 0).mode)
    autobound = sys_socket.socket(t, AF_UNIX, SOCK_DGRAM, 0)
    bind(t, autobound, unix_address(b""))
    name = name_of(t, autobound)
    assert len(name) == 8 and name[2] == 0 and all(chr(c) in "0123456789abcdef" for c in name[3:])
    assert errno_of(sys_socket.getpeername, t, server, t.alloc(16), t.alloc(struct.pack("<i", 16))) \
        == errno.ENOTCONN


def test_a_failed_rebind_removes_the_new_socket_file(t):
    server = sys_socket.socket(t, AF_UNIX, SOCK_STREAM, 0)
    bind(t, server, unix_address(b"/first.sock"))
    assert errno_of(bind, t, server, unix_address(b"/second.sock")) == errno.EINVAL
    assert errno_of(t.kernel.vfs.lookup, t, AT_FDCWD, b"/second.sock") == errno.ENOENT
    assert errno_of(bind, t, sys_socket.socket(t, AF_UNIX, SOCK_STREAM, 0), unix_address(b"/first.sock")) \
        == errno.EADDRINUSE


def test_closing_forgets_names_and_files_in_flight(t):
    a, b = socketpair(t, SOCK_DGRAM)
    r, _ = pipe(t)
    pipe_end = t.fds.get(r)
    assert send_files(t, a, b"x", [r]) == 1
    t.fds.close(r)
    assert pipe_end.refs == 1, "the queued message holds the pipe"
    bound = sys_socket.socket(t, AF_UNIX, SOCK_DGRAM, 0)
    bind(t, bound, unix_address(b"\0abstract"))
    assert NAMES.abstract(SOCK_DGRAM, unix_address(b"\0abstract")) is t.fds.get(bound)
    t.fds.close(bound)
    t.fds.close(b)
    assert pipe_end.refs == 0, "closing the receiver closes the files it never received"
    assert NAMES.abstract(SOCK_DGRAM, unix_address(b"\0abstract")) is None


def test_recv_without_a_control_buffer_closes_passed_files(t):
    a, b = socketpair(t)
    send_files(t, a, b"x", [a])
    sock = t.fds.get(a)
    refs = sock.refs
    assert receive(t, b, 10) == b"x"
    assert sock.refs == refs - 1


def test_argument_errors_come_in_linux_order(t):
    a, _ = socketpair(t)
    r, _ = pipe(t)
    assert errno_of(sys_socket.bind, t, r, 0, 200) == errno.ENOTSOCK
    assert errno_of(sys_socket.bind, t, a, 0, 200) == errno.EINVAL
    assert errno_of(sys_socket.bind, t, a, 8, 16) == errno.EFAULT
    assert errno_of(sys_socket.listen, t, a, 5) == errno.EINVAL
    assert errno_of(sys_socket.setsockopt, t, a, 1, 7, t.alloc(4), -1) == errno.EINVAL
    assert errno_of(sys_socket.recvmsg, t, a, 8, 0) == errno.EFAULT
    assert errno_of(sys_socket.sendmmsg, t, 99, 0, 1, 0) == errno.EBADF


def test_waits_restart_under_sa_restart_unless_a_timeout_is_set(t):
    _, b = socketpair(t)
    with pytest.raises(WouldBlock) as parked:
        receive(t, b, 1)
    assert (parked.value.restart, parked.value.deadline) == (RESTART_SYS, None)
    timeval = struct.pack("<qq", 2, 0)
    sys_socket.setsockopt(t, b, 1, 20, t.alloc(timeval), len(timeval))  # SO_RCVTIMEO
    with pytest.raises(WouldBlock) as parked:
        receive(t, b, 1)
    assert parked.value.restart == RESTART_NEVER and parked.value.deadline is not None


def test_waitall_takes_what_there_is_when_the_writer_cannot_add_more(t):
    a, b = socketpair(t)
    t.fds.get(a).set_status_flags(os.O_NONBLOCK)
    sent = 0
    while True:
        try:
            sent += send(t, a, bytes(65536))
        except SyscallError:
            break
    buf = t.alloc(sent + 100)
    assert sys_socket.recvfrom(t, b, buf, sent + 100, MSG_WAITALL, 0, 0) == sent
    send(t, a, b"1")
    with pytest.raises(WouldBlock):
        sys_socket.recvfrom(t, b, buf, 2, MSG_WAITALL, 0, 0)
    assert sys_socket.recvfrom(t, b, buf, 2, 0, 0, 0) == 1


def test_bind_makes_a_socket_node_in_a_host_rootfs(cprog, tmp_path):
    import shutil
    rootfs = tmp_path / "rootfs"
    (rootfs / "data").mkdir(parents=True)
    (rootfs / "bin").mkdir()
    shutil.copy(cprog("unix_bind_path", static=True), rootfs / "bin" / "bind")
    r = run_sandbox(["/bin/bind"], rootfs=str(rootfs))
    assert (r.status, r.out) == (0, "bind 0 socket-node 1\n"), r
    assert os.listdir(rootfs / "data") == []
