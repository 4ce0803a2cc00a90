"""The gofer process and its protocol (docs/GOFER.md), and host files served in both modes."""
import errno
import os
import stat
import subprocess
import time

import pytest

from helpers import (TEST_ENV, assert_same, descendants, errno_of, file_identity, run_native, run_sandbox,
                     sandbox_argv, wait_until)
from rootfs import build_busybox_rootfs
from pysandbox.gofer import protocol as p
from pysandbox.gofer.client import GoferClient, GoferHost
from pysandbox.sentry.errors import SandboxError, SyscallError
from pysandbox.sentry.vfs import VFS
from pysandbox.sentry.vfs.resolve import AT_FDCWD
from pysandbox.sentry.vfs.testing import FakeTask

MODES = ["directfs", "gofer"]


# --- the wire format ---

def test_messages_round_trip():
    values = [0, -1, 1 << 62, -(1 << 63), b"", b"name\xff/\0", 7]
    op, args = p.decode_request(p.encode_request(p.SETATTR, 3, b"x", *range(7)))
    assert (op, args) == (p.SETATTR, [3, b"x", 0, 1, 2, 3, 4, 5, 6])
    assert p.decode(p.encode(values)) == values
    assert p.decode_reply(p.encode_reply(0, [5, b"ok"])) == [5, b"ok"]
    with pytest.raises(SyscallError) as raised:
        p.decode_reply(p.encode_reply(errno.EROFS))
    assert raised.value.errno == errno.EROFS


@pytest.mark.parametrize("data", [
    b"", bytes([99]), bytes([p.WALK]) + b"i\x01", bytes([p.WALK]) + p.encode([1, 2]),
    bytes([p.WALK]) + p.encode([b"x", b"y"]), bytes([p.STAT]) + b"b\xff\xff\xff\xff",
    bytes([p.STAT]) + b"z" + bytes(8), bytes([p.STAT]) + p.encode([1, 2]),
])
def test_malformed_requests_are_refused(data):
    with pytest.raises(p.ProtocolError):
        p.decode_request(data)


# --- the gofer process itself ---

@pytest.fixture
def trees(tmp_path):
    rw = tmp_path / "rw"
    ro = tmp_path / "ro"
    for tree in (rw, ro):
        (tree / "dir").mkdir(parents=True)
        (tree / "file").write_text("content\n")
        (tree / "link").symlink_to("/etc")
    return rw, ro


@pytest.fixture
def gofer(trees):
    client = GoferClient([(os.fsencode(trees[0]), False), (os.fsencode(trees[1]), True)])
    yield client
    client.close()


def test_gofer_is_a_separate_named_process(gofer, trees):
    assert gofer.pid != os.getpid()
    with open(f"/proc/{gofer.pid}/comm") as comm:
        assert comm.read().strip() == "pysandbox-gofer"
    # Beyond stdio (/dev/null in, out; stderr kept for a dying interpreter's last words) it
    # holds its socket and the roots: nothing else of ours leaked into it.
    fds = {int(fd): os.readlink(f"/proc/{gofer.pid}/fd/{fd}") for fd in os.listdir(f"/proc/{gofer.pid}/fd")}
    assert fds[0] == fds[1] == "/dev/null"
    others = sorted(fd for fd in fds if fd > 2)
    assert len(others) == 3 and fds[others[-1]].startswith("socket:"), fds
    assert sorted(file_identity(f"/proc/{gofer.pid}/fd/{fd}") for fd in others[:2]) == \
        sorted([file_identity(trees[0]), file_identity(trees[1])])


@pytest.mark.parametrize("name", [b"..", b".", b"a/b", b"/etc", b"", b"x\0y"])
def test_gofer_refuses_anything_but_one_name(gofer, name):
    host = GoferHost(gofer)
    root = host.attach(0)[0]
    assert errno_of(host.walk, root, name) == errno.EINVAL
    assert errno_of(host.create, root, name, 0o644, 0, 0) == errno.EINVAL
    # b"." names the node's own file (the root of a file bind): a directory is never handed out.
    assert errno_of(host.open, root, name, os.O_RDONLY) == (errno.EACCES if name == b"." else errno.EINVAL)


def test_gofer_never_follows_symlinks(gofer, trees):
    host = GoferHost(gofer)
    root = host.attach(0)[0]
    link, mode = host.walk(root, b"link")
    assert stat.S_ISLNK(mode)
    assert host.readlink(root, b"link") == b"/etc"
    assert errno_of(host.open, root, b"link", os.O_RDONLY) == errno.ELOOP
    assert errno_of(host.walk, link, b"passwd") == errno.ENOTDIR
    assert errno_of(host.create, root, b"link", 0o644, 0, 0) == errno.EEXIST
    assert errno_of(host.setattr, root, b"link", 0o777) == errno.EOPNOTSUPP
    assert os.stat("/etc").st_mode & 0o777 != 0o777


def test_a_symlink_out_of_the_root_is_never_followed(tmp_path):
    """Every request on a name that is a symlink to a file outside the root acts on the link
    or fails; the outside file keeps its bytes, mode, times and link count."""
    root = tmp_path / "root"
    root.mkdir()
    outside = tmp_path / "outside"
    outside.write_text("outside\n")
    (root / "out").symlink_to("../outside")
    before = os.stat(outside)
    client = GoferClient([(os.fsencode(root), False)])
    try:
        host = GoferHost(client)
        node = host.attach(0)[0]
        for flags in (os.O_RDONLY, os.O_WRONLY | os.O_TRUNC, os.O_RDWR):
            assert errno_of(host.open, node, b"out", flags) == errno.ELOOP
        assert errno_of(host.setattr, node, b"out", 0o777) == errno.EOPNOTSUPP
        assert errno_of(host.setattr, node, b"out", None, None, None, 0) == errno.ELOOP
        host.setattr(node, b"out", None, None, None, None, 1, 2)  # the link's own times
        # b"." names a node's own file through its fd link, which leads to the link itself.
        link = host.walk(node, b"out")[0]
        for flags in (os.O_RDONLY, os.O_WRONLY | os.O_TRUNC):
            assert errno_of(host.open, link, b".", flags) == errno.ELOOP
        assert errno_of(host.setattr, link, b".", 0o777) == errno.EOPNOTSUPP
        assert errno_of(host.setattr, link, b".", None, None, None, 0) == errno.ELOOP
        host.setattr(link, b".", None, None, None, None, 3, 4)
        assert errno_of(host.create, node, b"out", 0o644, 0, 0) == errno.EEXIST
        assert errno_of(host.walk, host.walk(node, b"out")[0], b"x") == errno.ENOTDIR
        host.link(node, b"out", node, b"hard")
        assert os.path.islink(root / "hard")
        host.rename(node, b"hard", node, b"moved", 0)
        host.unlink(node, b"moved", 0)
    finally:
        client.close()
    after = os.stat(outside)
    assert outside.read_text() == "outside\n"
    assert (after.st_mode, after.st_mtime_ns, after.st_atime_ns, after.st_nlink) == \
        (before.st_mode, before.st_mtime_ns, before.st_atime_ns, before.st_nlink)


def test_long_names_are_enametoolong(gofer):
    host = GoferHost(gofer)
    root = host.attach(0)[0]
    assert errno_of(host.walk, root, b"n" * 256) == errno.ENAMETOOLONG


def test_read_only_root_refuses_every_change(gofer, trees):
    host = GoferHost(gofer)
    root = host.attach(1)[0]
    assert errno_of(host.create, root, b"new", 0o644, 0, 0) == errno.EROFS
    assert errno_of(host.mkdir, root, b"new", 0o755, 0, 0) == errno.EROFS
    assert errno_of(host.unlink, root, b"file", 0) == errno.EROFS
    assert errno_of(host.rename, root, b"file", root, b"moved", 0) == errno.EROFS
    assert errno_of(host.setattr, root, b"file", 0o600) == errno.EROFS
    assert errno_of(host.open, root, b"file", os.O_WRONLY) == errno.EROFS
    assert errno_of(host.open, root, b"file", os.O_RDONLY | os.O_TRUNC) == errno.EROFS
    rw_root = host.attach(0)[0]
    assert errno_of(host.rename, rw_root, b"file", root, b"moved", 0) == errno.EROFS
    assert errno_of(host.link, rw_root, b"file", root, b"moved") == errno.EROFS
    fd = host.open(root, b"file", os.O_RDONLY)
    assert os.read(fd, 100) == b"content\n"
    os.close(fd)
    assert sorted(os.listdir(trees[1])) == ["dir", "file", "link"]


def test_garbage_gets_einval_and_the_gofer_keeps_serving(gofer):
    for junk in (b"\xff", bytes([p.OPEN]) + b"i" + bytes(3), bytes([p.WALK]) + p.encode([1])):
        p.send(gofer.sock, junk)
        data, fds = p.receive(gofer.sock)
        assert fds == []
        with pytest.raises(SyscallError) as raised:
            p.decode_reply(data)
        assert raised.value.errno == errno.EINVAL
    host = GoferHost(gofer)
    assert stat.S_ISDIR(host.attach(0)[1])
    assert errno_of(host.stat, 12345) == errno.EBADF
    assert errno_of(host.attach, 7) == errno.ENOENT


def test_no_request_hands_out_a_directory_fd(gofer):
    host = GoferHost(gofer)
    root = host.attach(0)[0]
    assert errno_of(host.open, root, b"dir", os.O_RDONLY) == errno.EACCES
    assert errno_of(host.open, root, b"dir", os.O_RDONLY | os.O_DIRECTORY) == errno.EACCES


def test_directfs_hand_over_sends_the_roots_and_stays_for_xattrs(trees, tmp_path):
    """The hand-over carries (errno, st_mode) per root and the roots' fds: the file of a file bind
    mount itself, never its directory; a read-only root is a read-only mount. The gofer keeps
    none of them and exits when the sentry closes its end."""
    client = GoferClient([(os.fsencode(trees[0]), False), (os.fsencode(tmp_path / "missing"), True),
                          (os.fsencode(trees[1] / "file"), True)], hand_over=True)
    results, fds = client.handed_over
    try:
        assert results[:2] == [0, results[1]] and stat.S_ISDIR(results[1])
        assert results[2] == errno.ENOENT
        assert results[4] == 0 and stat.S_ISREG(results[5]) and len(results) == 6
        assert [file_identity(f"/proc/self/fd/{fd}") for fd in fds] == [file_identity(trees[0]),
                                                                     file_identity(trees[1] / "file")]
        with open(f"/proc/self/fd/{fds[1]}") as handed_file:
            assert handed_file.read() == "content\n"
        with pytest.raises(OSError) as refused:
            open(f"/proc/self/fd/{fds[1]}", "w")
        assert refused.value.errno == errno.EROFS

        def holds_no_root():      # it closes them once they are sent
            held = [os.readlink(f"/proc/{client.pid}/fd/{fd}") for fd in os.listdir(f"/proc/{client.pid}/fd")]
            return not any(str(tmp_path) in link for link in held)
        wait_until(holds_no_root)
        client.close()
        with pytest.raises(ChildProcessError):
            os.waitpid(client.pid, os.WNOHANG)
    finally:
        for fd in fds:
            os.close(fd)


def test_large_directories_come_in_batches(gofer, trees):
    names = {f"f{i:04d}" for i in range(p.GETDENTS_BATCH * 2 + 7)}
    for name in names:
        (trees[0] / "dir" / name).touch()
    host = GoferHost(gofer)
    directory = host.walk(host.attach(0)[0], b"dir")[0]
    entries = host.list(directory)
    assert {os.fsdecode(entry.name) for entry in entries} == names
    assert all(entry.ino == os.stat(trees[0] / "dir" / os.fsdecode(entry.name)).st_ino for entry in entries)


def test_a_dead_gofer_means_eio(gofer):
    host = GoferHost(gofer)
    root = host.attach(0)[0]
    died = []
    gofer.on_death.append(lambda: died.append(True))
    os.kill(gofer.pid, 9)
    assert errno_of(host.walk, root, b"file") == errno.EIO
    assert errno_of(host.stat, root) == errno.EIO
    assert died == [True]


def test_a_gofer_that_stops_answering_counts_as_dead(trees):
    client = GoferClient([(os.fsencode(trees[0]), False)], reply_timeout=0.3)
    try:
        host = GoferHost(client)
        root = host.attach(0)[0]
        os.kill(client.pid, 19)  # SIGSTOP
        assert errno_of(host.stat, root) == errno.EIO
        assert client.dead
        with pytest.raises(ChildProcessError):
            os.waitpid(client.pid, os.WNOHANG)  # killed and collected
    finally:
        client.close()


def test_a_missing_root_is_a_clear_error(tmp_path):
    with pytest.raises(SandboxError, match="no such file"):
        VFS.for_rootfs(str(tmp_path / "missing"), overlay=False)


# --- the VFS on host files, in both modes ---

def _exercise(t, vfs):
    """File operations through the VFS; returns a transcript of what they answered."""
    transcript = []

    def record(label, call, *args):
        try:
            transcript.append((label, call(*args)))
        except SyscallError as error:
            transcript.append((label, errno.errorcode[error.errno]))

    record("mkdir", vfs.mkdir, t, AT_FDCWD, b"/d", 0o755)
    file = vfs.open(t, AT_FDCWD, b"/d/f", os.O_CREAT | os.O_RDWR, 0o640)
    record("write", file.pwrite, 0, b"hello gofer\n")
    record("read", file.pread, 0, 100)
    file.decref()
    record("symlink", vfs.symlink, t, b"f", AT_FDCWD, b"/d/s")
    record("readlink", vfs.readlink, t, AT_FDCWD, b"/d/s")
    record("read-through-link", lambda: vfs.open(t, AT_FDCWD, b"/d/s", os.O_RDONLY, 0).pread(0, 5))
    record("link", vfs.link, t, AT_FDCWD, b"/d/f", AT_FDCWD, b"/d/hard", 0)
    record("nlink", lambda: vfs.stat(t, AT_FDCWD, b"/d/f", 0).nlink)
    record("rename", vfs.rename, t, AT_FDCWD, b"/d/hard", AT_FDCWD, b"/moved", 0)
    record("chmod", vfs.chmod, t, vfs.lookup(t, AT_FDCWD, b"/moved"), 0o600)
    record("mode", lambda: oct(vfs.stat(t, AT_FDCWD, b"/moved", 0).mode))
    record("truncate", vfs.truncate, t, vfs.lookup(t, AT_FDCWD, b"/moved"), 5)
    record("size", lambda: vfs.stat(t, AT_FDCWD, b"/d/f", 0).size)
    record("list", lambda: sorted(entry.name for entry in vfs.lookup(t, AT_FDCWD, b"/d").list()))
    record("unlink", vfs.unlink, t, AT_FDCWD, b"/d/s")
    record("rmdir-nonempty", vfs.rmdir, t, AT_FDCWD, b"/d")
    record("missing", vfs.lookup, t, AT_FDCWD, b"/nope")
    record("dotdot", lambda: vfs.lookup(t, AT_FDCWD, b"/../../..") is vfs.root)
    record("statfs", lambda: vfs.lookup(t, AT_FDCWD, b"/").inode.statfs()[0])
    return transcript


def test_both_modes_answer_alike(tmp_path):
    transcripts = {}
    for mode in MODES:
        tree = tmp_path / mode
        tree.mkdir()
        vfs = VFS.for_rootfs(str(tree), overlay=False, gofer_mode=mode)
        try:
            transcripts[mode] = _exercise(FakeTask(vfs), vfs)
        finally:
            vfs.close()
        assert (tree / "moved").read_bytes() == b"hello"
        assert stat.S_IMODE((tree / "moved").stat().st_mode) == 0o600
        assert sorted(os.listdir(tree / "d")) == ["f"]
    assert transcripts["directfs"] == transcripts["gofer"]
    assert ("read", b"hello gofer\n") in transcripts["gofer"]
    assert ("missing", "ENOENT") in transcripts["gofer"]
    assert ("rmdir-nonempty", "ENOTEMPTY") in transcripts["gofer"]


def test_unknown_mode_is_refused(tmp_path):
    with pytest.raises(SandboxError, match="unknown gofer mode"):
        VFS.for_rootfs(str(tmp_path), overlay=False, gofer_mode="nfs")


# --- whole sandboxes ---

SCRIPT = ("cd /work && cp -a /data copy && find copy | sort && ln -s hello.txt copy/l && cat copy/l && "
          "mv copy/hello.txt copy/h2 && chmod 600 copy/h2 && stat -c '%n %a %s' copy/h2 && "
          "rm -r copy && ls -la /work | wc -l")


@pytest.mark.parametrize("mode", MODES)
def test_busybox_file_work_in_each_mode(tmp_path, mode, as_root):
    rootfs = tmp_path / "rootfs"
    rootfs.mkdir()
    build_busybox_rootfs(str(rootfs))
    (rootfs / "work").mkdir(exist_ok=True)
    native = run_native(["/bin/sh", "-c", SCRIPT], chroot=str(rootfs))
    sandboxed = run_sandbox(["/bin/sh", "-c", SCRIPT], rootfs=str(rootfs), flags=[f"--gofer-mode={mode}"])
    assert_same(native, sandboxed)
    assert native.status == 0


def _start_sandbox(rootfs, argv, mode):
    cmd = sandbox_argv(argv, rootfs=str(rootfs), flags=[f"--gofer-mode={mode}"])
    return subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=dict(TEST_ENV), cwd="/")


def _wait_for(predicate, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError("timed out")


def _gofer_of(sentry_pid):
    return [pid for pid, (comm, _) in descendants(sentry_pid).items() if comm == "pysandbox-gofer"]


def test_gofer_death_gives_eio_then_a_clear_exit(busybox_rootfs):
    script = ('echo ready; read x; while read l; do echo "$l"; done < /data/hello.txt; echo "status $?"; '
              'sleep 30')
    sandbox = _start_sandbox(busybox_rootfs, ["/bin/sh", "-c", script], "gofer")
    try:
        assert sandbox.stdout.readline() == b"ready\n"
        gofers = _gofer_of(sandbox.pid)
        assert len(gofers) == 1
        os.kill(gofers[0], 9)
        out, err = sandbox.communicate(b"go\n", timeout=30)
    finally:
        if sandbox.poll() is None:
            sandbox.kill()
            sandbox.wait()
    out, err = out.decode(), err.decode()
    assert "can't open /data/hello.txt: Input/output error" in err, err
    assert "status 1" in out
    assert "hello from the rootfs" not in out
    assert err.rstrip().endswith("pysandbox: the gofer process died: host files failed with EIO "
                                 "and the sandbox was stopped"), err
    assert "Traceback" not in err
    assert sandbox.returncode == 125


@pytest.mark.parametrize("mode", MODES)
def test_only_the_gofer_holds_host_directories_in_gofer_mode(busybox_rootfs, mode):
    """In gofer mode the sentry holds no fd of a host directory (the security engineer can
    confine it to an empty chroot); in directfs mode it holds the donated ones."""
    sandbox = _start_sandbox(busybox_rootfs, ["/bin/sh", "-c", "ls /data >/dev/null; read x"], mode)
    try:
        def host_directories():
            from pysandbox.security.hostproc import children_of
            sentry = (children_of(sandbox.pid) or [sandbox.pid])[0]   # as root, in its own pid namespace
            directories = {file_identity(busybox_rootfs): busybox_rootfs}
            for parent, names, _ in os.walk(busybox_rootfs):
                directories.update((file_identity(os.path.join(parent, name)), os.path.join(parent, name))
                                   for name in names)
            found = []
            for fd in os.listdir(f"/proc/{sentry}/fd"):
                try:
                    held = file_identity(f"/proc/{sentry}/fd/{fd}")
                except OSError:
                    continue
                if held in directories:
                    found.append(directories[held])
            return found
        _wait_for(lambda: _gofer_of(sandbox.pid) if mode == "gofer" else True)
        time.sleep(0.5)  # let the workload run `ls`
        found = host_directories()
        sandbox.communicate(b"\n", timeout=30)
    finally:
        if sandbox.poll() is None:
            sandbox.kill()
            sandbox.wait()
    if mode == "gofer":
        assert found == []
    else:
        assert busybox_rootfs.rstrip("/") in [path.rstrip("/") for path in found]
    assert sandbox.returncode == 0


def test_a_directfs_run_leaves_no_gofer_behind(busybox_rootfs):
    result = run_sandbox(["/bin/sh", "-c", "cat /data/hello.txt"], rootfs=busybox_rootfs,
                         flags=["--gofer-mode=directfs"])
    assert result.status == 0 and result.out.startswith("hello from the rootfs")




# --- property tests: the parser and the gofer under arbitrary input ---

from hypothesis import HealthCheck, given, settings, strategies as hs  # noqa: E402

NAMES = hs.sampled_from([b"a", b"b", b"dir", b"file", b"out", b"..", b".", b"", b"a/b", b"/tmp", b"x" * 300,
                         b"../outside", b"/etc/passwd"])
INTS = hs.one_of(hs.integers(-3, 12), hs.sampled_from([os.O_WRONLY | os.O_TRUNC, os.O_RDWR, 0o777, 0o100644,
                                                      0o140755, 0o10644, 0o20644, 0x200, 1, 2, 1 << 40]))
NODES = hs.integers(0, 4)   # node 1 is the root; walks hand out the next ones
BAIT = hs.sampled_from([b"out", b"file", b"dir"])


def _arguments(op):
    """Arguments of the right kinds for `op`, nodes and names drawn where they matter most."""
    node_positions = {0} | ({2} if op in (p.LINK, p.RENAME) else set())
    return hs.tuples(*[
        (NODES if index in node_positions and op != p.ATTACH else INTS) if kind == "i"
        else hs.one_of(BAIT, NAMES)
        for index, kind in enumerate(p.REQUEST_ARGS[op])])


WELL_FORMED = hs.sampled_from(sorted(p.REQUEST_ARGS)).flatmap(lambda op: hs.tuples(hs.just(op), _arguments(op)))
ANY_SHAPE = hs.tuples(hs.sampled_from(sorted(p.REQUEST_ARGS)), hs.lists(hs.one_of(INTS, NAMES), max_size=9))


@settings(max_examples=300, deadline=None)
@given(hs.binary(max_size=64))
def test_decoding_random_bytes_never_fails_otherwise(data):
    try:
        p.decode_request(data)
    except p.ProtocolError:
        pass


@settings(max_examples=200, deadline=None)
@given(hs.lists(hs.one_of(hs.integers(-(1 << 63), (1 << 63) - 1), hs.binary(max_size=40)), max_size=8))
def test_encoding_round_trips(values):
    assert p.decode(p.encode(values)) == values


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(hs.lists(hs.one_of(WELL_FORMED, WELL_FORMED, ANY_SHAPE), min_size=1, max_size=40))
def test_random_requests_stay_inside_the_root(tmp_path_factory, requests):
    """Whatever the sentry sends, the gofer answers, stays alive, and touches nothing outside
    its root: a sibling file, and a symlink inside pointing at it, are the bait."""
    base = tmp_path_factory.mktemp("fuzz")
    root = base / "root"
    (root / "dir").mkdir(parents=True)
    (root / "file").write_text("inside\n")
    (root / "out").symlink_to("../outside")
    outside = base / "outside"
    outside.write_text("outside\n")
    before = (outside.read_bytes(), os.stat(outside).st_mtime_ns, os.stat(outside).st_mode, sorted(os.listdir(base)))
    bait = {file_identity(outside), file_identity(base)}
    client = GoferClient([(os.fsencode(root), False)])
    try:
        GoferHost(client).attach(0)
        for op, args in requests:
            p.send(client.sock, bytes([op]) + p.encode(args))
            args = list(args)
            if op == p.CLOSE and len(args) == 1 and isinstance(args[0], int):
                continue  # no reply, by design
            data, fds = p.receive(client.sock)
            assert data, "the gofer died"
            for fd in fds:
                # A root is a detached copy of its mount tree when the host allows: an fd under
                # it reads as a path from that copy's root ("/file"), never as one under `base`.
                target = os.readlink(f"/proc/self/fd/{fd}")
                held = file_identity(f"/proc/self/fd/{fd}")
                os.close(fd)
                assert target.startswith(str(root)) or not target.startswith(str(base)), target
                assert held not in bait, target
        assert GoferHost(client).attach(0)[0] > 0
    finally:
        client.close()
    after = (outside.read_bytes(), os.stat(outside).st_mtime_ns, os.stat(outside).st_mode, sorted(os.listdir(base)))
    assert after == before
