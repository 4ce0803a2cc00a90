"""The metadata fast paths (docs/FILES.md, "Metadata speed") keep Linux's behaviour.

A C program exercising small in-memory files, many spellings of one path, cached names after
renames and removals, and the permission checks root skips, run natively and in the sandbox
on each kind of filesystem the fast paths touch; and the rule for when a host inode's
attributes may be cached.
"""
import os
import shutil

import pytest

from pysandbox.sentry.syscalls import sys_stat
from pysandbox.sentry.vfs import VFS
from pysandbox.sentry.vfs.testing import FakeTask
from helpers import assert_same, run_native, run_sandbox

AT_FDCWD = -100


def _stat_mode(t, path):
    buf = t.alloc(144)
    sys_stat.newfstatat(t, AT_FDCWD, t.cstr(path), buf, 0)
    return int.from_bytes(t.copy_in(buf + 24, 4), "little")


@pytest.fixture(scope="module")
def fastpath(cprog):
    return cprog("fs_fastpath", static=True)


def test_on_the_overlay_of_the_host_root(fastpath, tmp_path):
    """The default: writes land in the overlay's memory (small files stay in the sentry)."""
    native = run_native([fastpath, str(tmp_path)])
    assert native.status == 0 and "child status 0" in native.out, native
    assert_same(native, run_sandbox([fastpath, str(tmp_path)]))


@pytest.mark.parametrize("overlay", [False, True], ids=["host-rootfs", "overlay-rootfs"])
def test_on_a_rootfs(fastpath, tmp_path, overlay):
    """--rootfs without an overlay writes through to the host (attributes revalidated on
    every stat); with --overlay the rootfs is the exclusive lower layer."""
    outputs = []
    for run in ("native", "sandbox"):
        root = tmp_path / run
        (root / "bin").mkdir(parents=True)
        (root / "work").mkdir()
        shutil.copy(fastpath, root / "bin" / "fs_fastpath")
        if run == "native":
            outputs.append(run_native(["/bin/fs_fastpath", "/work"], chroot=str(root)))
        else:
            flags = ["--overlay"] if overlay else ["--no-overlay"]
            outputs.append(run_sandbox(["/bin/fs_fastpath", "/work"], rootfs=str(root), flags=flags))
    assert outputs[0].status == 0, outputs[0]
    assert_same(*outputs)
    written = os.listdir(tmp_path / "sandbox" / "work")
    assert written if not overlay else not written


def test_host_attributes_are_read_again_unless_the_tree_is_exclusive(tmp_path):
    (tmp_path / "f").write_bytes(b"x")
    os.chmod(tmp_path / "f", 0o644)
    direct = FakeTask(VFS.for_rootfs(str(tmp_path), overlay=False))
    lower = FakeTask(VFS.for_rootfs(str(tmp_path), overlay=True))
    assert _stat_mode(direct, "/f") & 0o7777 == _stat_mode(lower, "/f") & 0o7777 == 0o644
    os.chmod(tmp_path / "f", 0o600)
    assert _stat_mode(direct, "/f") & 0o7777 == 0o600     # shared with the host: revalidated
    assert _stat_mode(lower, "/f") & 0o7777 == 0o644      # the overlay's lower layer: cached


def test_cached_dentries_go_when_unused():
    """The dentry cache holds names only while something uses them (or they are recent)."""
    import gc

    from pysandbox.sentry.vfs.inode import Dentry
    from pysandbox.sentry.vfs.memfs import MemDir

    root = Dentry(MemDir())
    root.inode.create(b"a", 0o644, 0, 0)
    first = root.lookup(b"a")
    assert root.lookup(b"a") is first and root.cached_child(b"a") is first
    del first
    Dentry._recent.clear()
    gc.collect()
    assert root.cached_child(b"a") is None and not root._children
    again = root.lookup(b"a")
    other = root.lookup(b"a")
    assert again is other
    again.move_to(root, b"c")
    assert root.cached_child(b"a") is None and root.cached_child(b"c") is again
