"""Extended attributes of host files (bind mounts and the overlay's lower layer).

The serving gofer (--gofer-mode gofer) reads and changes them on the host; in directfs mode
the sentry's host allowlist has no xattr calls, so host files answer EOPNOTSUPP there, as a
filesystem without xattrs does (docs/FILES.md). The gofer runs without CAP_SYS_ADMIN, so the
native side of the comparison drops it too (trusted.* needs it on the host)."""

from __future__ import annotations

import errno
import os
import shutil

import pytest

from helpers import assert_same, run_native, run_sandbox


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


def test_bind_mount_in_gofer_mode_matches_linux(cprog, xattr_dir):
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("util-linux's setpriv is needed to drop CAP_SYS_ADMIN on the native side")
    program = cprog("file_xattr")
    native = run_native([setpriv, "--bounding-set=-sys_admin", program, str(xattr_dir)])
    sandboxed = run_sandbox([program, "/mnt/host"],
                            flags=["--gofer-mode", "gofer", "-v", f"{xattr_dir}:/mnt/host"])
    assert_same(native, sandboxed)
    assert "get user.a: 6\nvalue ALPHA!\n" in sandboxed.out
    assert "list file: user.a user.b\n" in sandboxed.out
    assert "user. on symlink (l): EPERM\n" in sandboxed.out


def test_directfs_host_files_have_no_xattrs(cprog, xattr_dir):
    sandboxed = run_sandbox([cprog("file_xattr"), "/mnt/host"], flags=["-v", f"{xattr_dir}:/mnt/host"])
    assert sandboxed.status == 0, sandboxed
    assert "set user.a: EOPNOTSUPP\n" in sandboxed.out
    assert "list file:\n" in sandboxed.out


def test_read_only_bind_mount_refuses_changes(xattr_dir):
    target = xattr_dir / "kept"
    target.write_text("data")
    os.setxattr(target, "user.kept", b"yes")
    script = ("import os\n"
              "print(os.getxattr('/mnt/ro/kept', 'user.kept'))\n"
              "try:\n    os.setxattr('/mnt/ro/kept', 'user.new', b'1')\n"
              "except OSError as e:\n    print(e.strerror)\n")
    sandboxed = run_sandbox(["python3", "-c", script],
                            flags=["--gofer-mode", "gofer", "-v", f"{xattr_dir}:/mnt/ro:ro"])
    assert sandboxed.out == "b'yes'\nRead-only file system\n", sandboxed
    assert os.listxattr(target) == ["user.kept"]


def test_the_overlay_copies_xattrs_up(xattr_dir):
    """The rootfs (the host's /) is the overlay's lower layer: a write copies the file up with
    its xattrs, and the host file keeps only its own."""
    target = xattr_dir / "lower"
    target.write_text("lower")
    os.setxattr(target, "user.origin", b"host")
    script = (f"import os\np = {str(target)!r}\n"
              "print(os.getxattr(p, 'user.origin'))\n"
              "open(p, 'a').write('+upper')\n"
              "os.setxattr(p, 'user.added', b'sandbox')\n"
              "print(sorted(os.listxattr(p)), os.getxattr(p, 'user.origin'), open(p).read())\n")
    sandboxed = run_sandbox(["python3", "-c", script], flags=["--gofer-mode", "gofer"])
    assert sandboxed.out == "b'host'\n['user.added', 'user.origin'] b'host' lower+upper\n", sandboxed
    assert os.listxattr(target) == ["user.origin"]
    assert target.read_text() == "lower"


def test_a_file_bind_mount_in_gofer_mode(xattr_dir):
    target = xattr_dir / "single"
    target.write_text("one file")
    os.setxattr(target, "user.single", b"1")
    script = ("import os\n"
              "os.setxattr('/mnt/file', 'user.added', b'2')\n"
              "print(sorted(os.listxattr('/mnt/file')), os.getxattr('/mnt/file', 'user.single'))\n")
    sandboxed = run_sandbox(["python3", "-c", script],
                            flags=["--gofer-mode", "gofer", "-v", f"{target}:/mnt/file"])
    assert sandboxed.out == "['user.added', 'user.single'] b'1'\n", sandboxed
    assert sorted(os.listxattr(target)) == ["user.added", "user.single"]
