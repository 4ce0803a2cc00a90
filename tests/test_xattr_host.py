"""Extended attributes of host files (bind mounts, file bind mounts and the overlay's lower layer).

The gofer reads and changes them on the host in both modes: in gofer mode like every other
access, in directfs mode as the one kind of request the sentry still sends it (its host allowlist
has no xattr calls), with its own fd of the file attached. The gofer runs without CAP_SYS_ADMIN,
so the native side of the comparison drops it too (trusted.* and security.* need it on the host)."""

from __future__ import annotations

import errno
import os
import shutil
import stat

import pytest

from helpers import assert_same, errno_of, run_native, run_sandbox
from pysandbox.gofer import protocol as p
from pysandbox.gofer.client import GoferClient

MODES = ["directfs", "gofer"]

# security.* and trusted.* as an unprivileged (no CAP_SYS_ADMIN) root sees them, plus the
# name and size limits, on the file given as argv[1].
NAMESPACES = r"""
import errno, os, sys
path = sys.argv[1]
def show(what, call, *args):
    try:
        print(what, call(*args))
    except OSError as error:
        print(what, errno.errorcode[error.errno])
show("set security", os.setxattr, path, "security.psb", b"1")
show("get security", os.getxattr, path, "security.psb")
show("get security.selinux", os.getxattr, path, "security.selinux")
show("set trusted", os.setxattr, path, "trusted.psb", b"1")
show("get trusted", os.getxattr, path, "trusted.psb")
show("remove trusted", os.removexattr, path, "trusted.psb")
show("set user", os.setxattr, path, "user.psb", b"v" * 100)
show("create again", os.setxattr, path, "user.psb", b"w", os.XATTR_CREATE)
show("replace missing", os.setxattr, path, "user.none", b"w", os.XATTR_REPLACE)
show("replace", os.setxattr, path, "user.psb", b"short", os.XATTR_REPLACE)
show("get", os.getxattr, path, "user.psb")
show("too big", os.setxattr, path, "user.big", b"x" * 65537)
show("name too long", os.setxattr, path, "user." + "n" * 251, b"x")
show("list", lambda p: sorted(os.listxattr(p)), path)
show("remove", os.removexattr, path, "user.psb")
show("remove again", os.removexattr, path, "user.psb")
show("get removed", os.getxattr, path, "user.psb")
"""


@pytest.fixture
def xattr_dir(tmp_path):
    probe = tmp_path / "probe"
    probe.write_text("")
    try:
        os.setxattr(probe, "user.probe", b"1")
    except OSError as error:
        if error.errno in (errno.ENOTSUP, errno.EOPNOTSUPP):
            pytest.skip(f"{tmp_path}'s filesystem has no user xattrs to compare with")
        raise
    probe.unlink()
    return tmp_path


def _without_sys_admin(argv):
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("util-linux's setpriv is needed to drop CAP_SYS_ADMIN on the native side")
    return [setpriv, "--bounding-set=-sys_admin", *argv]


def _file_with_xattr(target, text, key, value):
    target.write_text(text)
    os.setxattr(target, key, value)
    return target


@pytest.mark.parametrize("mode", MODES)
def test_bind_mount_matches_linux(cprog, xattr_dir, mode):
    program = cprog("file_xattr")
    native = run_native(_without_sys_admin([program, str(xattr_dir)]))
    sandboxed = run_sandbox([program, "/mnt/host"], flags=["--gofer-mode", mode, "-v", f"{xattr_dir}:/mnt/host"])
    assert_same(native, sandboxed)
    assert "get user.a: 6\nvalue ALPHA!\n" in sandboxed.out
    assert "get too small: ERANGE\n" in sandboxed.out
    assert "too big value: E2BIG\n" in sandboxed.out
    assert "list file: user.a user.b\n" in sandboxed.out
    assert "user. on symlink (l): EPERM\n" in sandboxed.out


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("file_bind", [False, True], ids=["in-a-directory", "file-bind"])
def test_namespaces_and_limits_match_linux(xattr_dir, mode, file_bind):
    target = xattr_dir / "target"
    target.write_text("x")
    native = run_native(_without_sys_admin(["python3", "-c", NAMESPACES, str(target)]))
    for name in os.listxattr(target):
        os.removexattr(target, name)
    mount = ["-v", f"{target}:/mnt/file"] if file_bind else ["-v", f"{xattr_dir}:/mnt/dir"]
    inside = "/mnt/file" if file_bind else "/mnt/dir/target"
    sandboxed = run_sandbox(["python3", "-c", NAMESPACES, inside], flags=["--gofer-mode", mode, *mount])
    assert_same(native, sandboxed)
    assert "get b'short'\n" in sandboxed.out and "too big E2BIG\n" in sandboxed.out
    assert "set trusted EPERM\n" in sandboxed.out and "get removed ENODATA\n" in sandboxed.out
    assert os.listxattr(target) == []


@pytest.mark.parametrize("mode", MODES)
def test_read_only_bind_mount_refuses_changes(xattr_dir, mode):
    target = _file_with_xattr(xattr_dir / "kept", "data", "user.kept", b"yes")
    script = ("import os\n"
              "print(os.getxattr('/mnt/ro/kept', 'user.kept'))\n"
              "try:\n    os.setxattr('/mnt/ro/kept', 'user.new', b'1')\n"
              "except OSError as e:\n    print(e.strerror)\n")
    sandboxed = run_sandbox(["python3", "-c", script], flags=["--gofer-mode", mode, "-v", f"{xattr_dir}:/mnt/ro:ro"])
    assert sandboxed.out == "b'yes'\nRead-only file system\n", sandboxed
    assert os.listxattr(target) == ["user.kept"]


@pytest.mark.parametrize("mode", MODES)
def test_the_overlay_copies_xattrs_up(xattr_dir, mode):
    """The rootfs (the host's /) is the overlay's lower layer: a write copies the file up with
    its xattrs, and the host file keeps only its own."""
    target = _file_with_xattr(xattr_dir / "lower", "lower", "user.origin", b"host")
    script = (f"import os\np = {str(target)!r}\n"
              "print(os.getxattr(p, 'user.origin'))\n"
              "open(p, 'a').write('+upper')\n"
              "os.setxattr(p, 'user.added', b'sandbox')\n"
              "print(sorted(os.listxattr(p)), os.getxattr(p, 'user.origin'), open(p).read())\n")
    sandboxed = run_sandbox(["python3", "-c", script], flags=["--gofer-mode", mode])
    assert sandboxed.out == "b'host'\n['user.added', 'user.origin'] b'host' lower+upper\n", sandboxed
    assert os.listxattr(target) == ["user.origin"]
    assert target.read_text() == "lower"


@pytest.mark.parametrize("mode", MODES)
def test_a_file_bind_mount(xattr_dir, mode):
    target = _file_with_xattr(xattr_dir / "single", "one file", "user.single", b"1")
    script = ("import os\n"
              "os.setxattr('/mnt/file', 'user.added', b'2')\n"
              "print(sorted(os.listxattr('/mnt/file')), os.getxattr('/mnt/file', 'user.single'))\n")
    sandboxed = run_sandbox(["python3", "-c", script], flags=["--gofer-mode", mode, "-v", f"{target}:/mnt/file"])
    assert sandboxed.out == "['user.added', 'user.single'] b'1'\n", sandboxed
    assert sorted(os.listxattr(target)) == ["user.added", "user.single"]


def test_the_directfs_gofer_answers_only_for_a_sent_o_path_fd(xattr_dir):
    """After the hand-over the gofer holds no root; an xattr request names its file by the fd
    sent with it, which must be an O_PATH fd (as the gofer and the sentry's walks make them)."""
    target = _file_with_xattr(xattr_dir / "file", "", "user.seen", b"yes")
    client = GoferClient([(os.fsencode(xattr_dir), False)], hand_over=True)
    try:
        results, fds = client.handed_over
        assert results[0] == 0 and stat.S_ISDIR(results[1])
        root = fds[0]
        assert client.call(p.GETXATTR, 0, b"file", b"user.seen", fds=(root,))[0] == [b"yes"]
        assert client.call(p.LISTXATTR, 0, b"file", fds=(root,))[0] == [b"user.seen\0"]
        assert errno_of(client.call, p.GETXATTR, 0, b"file", b"user.seen") == errno.EBADF
        assert errno_of(client.call, p.GETXATTR, 1, b"file", b"user.seen") == errno.EBADF   # no nodes
        assert errno_of(client.call, p.ATTACH, 0) == errno.ENOENT                              # nor roots

        def getxattr_errno(name, fds):
            return errno_of(lambda: client.call(p.GETXATTR, 0, name, b"user.seen", fds=fds))
        assert getxattr_errno(b"../file", (root,)) == errno.EINVAL
        assert getxattr_errno(b"file", (root, root)) == errno.EBADF
        readable = os.open(target, os.O_RDONLY)
        try:
            assert getxattr_errno(b".", (readable,)) == errno.EBADF
        finally:
            os.close(readable)
        os.close(root)
        held = [os.readlink(f"/proc/{client.pid}/fd/{fd}") for fd in os.listdir(f"/proc/{client.pid}/fd")]
        assert not any(str(xattr_dir) in link or link == "/" for link in held), held
    finally:
        client.close()
