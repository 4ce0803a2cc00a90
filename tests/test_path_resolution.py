"""Path resolution: random trees of directories and symlinks, resolved by the sentry and by Linux
itself chrooted at the same directory (in a forked child), must agree and never leave the root."""
import errno
import os
import pickle

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pysandbox.sentry.errors import SyscallError
from pysandbox.sentry.syscalls import sys_file
from pysandbox.sentry.vfs import VFS
from pysandbox.sentry.vfs.testing import FakeTask

AT_FDCWD = -100
NAMES = ["a", "b", "c"]
TARGET_PARTS = NAMES + ["..", ".", "outside", ""]

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="chroot(2) needs root")


def relative_paths(parts, max_size=5):
    return st.lists(st.sampled_from(parts), min_size=1, max_size=max_size).map("/".join)


paths = st.builds(lambda lead, body, trail: lead + body + trail,
                  st.sampled_from(["", "/", "../../", "/../"]), relative_paths(TARGET_PARTS),
                  st.sampled_from(["", "/", "/."]))

entries = st.lists(st.tuples(
    st.lists(st.sampled_from(NAMES), min_size=1, max_size=3).map(tuple),
    st.sampled_from(["dir", "file", "symlink"]),
    paths.filter(bool)), max_size=14)


def build(root, tree_entries):
    for components, kind, target in tree_entries:
        path = os.path.join(root, *components)
        if os.path.lexists(path) or not os.path.isdir(os.path.dirname(path)) \
                or os.path.islink(os.path.dirname(path)):
            continue
        if kind == "dir":
            os.mkdir(path)
        elif kind == "file":
            with open(path, "wb") as file:
                file.write(b"x")
        else:
            os.symlink(target, path)


def resolve_in_sandbox(root, queries):
    vfs = VFS.for_rootfs(root, read_only=True, overlay=False)
    t = FakeTask(vfs)
    results = []
    for cwd, path, follow in queries:
        try:
            vfs.chdir(t, vfs.lookup(t, AT_FDCWD, b"/" + cwd.encode()))
            dentry = vfs.lookup(t, AT_FDCWD, path.encode(), follow=follow)
        except SyscallError as error:
            results.append(("error", error.errno))
            continue
        top = dentry
        while top.parent is not None:
            top = top.parent
        assert top is vfs.root, f"{path!r} resolved outside the sandbox's tree"
        results.append(("inode", dentry.inode.stat().ino))
    return results


def resolve_in_chroot(root, queries):
    """What Linux answers for the same queries with `root` as `/`."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(read_end)
            os.chroot(root)
            results = []
            for cwd, path, follow in queries:
                try:
                    os.chdir("/")
                    os.chdir(cwd)
                    results.append(("inode", os.stat(path, follow_symlinks=follow).st_ino))
                except OSError as error:
                    results.append(("error", error.errno))
            with os.fdopen(write_end, "wb") as out:
                pickle.dump(results, out)
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as source:
        data = source.read()
    os.waitpid(pid, 0)
    return pickle.loads(data)


def make_root(tmp_path_factory):
    base = tmp_path_factory.mktemp("tree")
    root = base / "root"
    root.mkdir()
    (base / "outside").mkdir()
    (base / "outside" / "secret").write_bytes(b"host")
    return str(root)


@needs_root
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tree=entries, queries=st.lists(st.tuples(st.sampled_from(["/", "a", "a/b"]), paths, st.booleans()),
                                      min_size=1, max_size=12))
def test_resolution_matches_linux_chrooted(tmp_path_factory, tree, queries):
    root = make_root(tmp_path_factory)
    build(root, tree)
    assert resolve_in_sandbox(root, queries) == resolve_in_chroot(root, queries)


@needs_root
@pytest.mark.parametrize("target", ["/../outside", "../../outside", "../outside/secret", "/..",
                                    "../../../../..", "/../../etc/passwd"])
def test_symlinks_pointing_outside_stay_inside(tmp_path_factory, target):
    root = make_root(tmp_path_factory)
    os.symlink(target, os.path.join(root, "link"))
    queries = [("/", "link", True), ("/", "link/secret", True), ("/", "link/..", True)]
    assert resolve_in_sandbox(root, queries) == resolve_in_chroot(root, queries)


@pytest.fixture
def root(tmp_path):
    root = tmp_path / "root"
    (root / "d" / "e").mkdir(parents=True)
    (root / "f").write_bytes(b"")
    return root


@pytest.fixture
def t(root):
    return FakeTask(VFS.for_rootfs(str(root), overlay=False))


def lookup_errno(t, path, follow=True, cwd=AT_FDCWD):
    with pytest.raises(SyscallError) as raised:
        t.kernel.vfs.lookup(t, cwd, path, follow)
    return raised.value.errno


def test_dotdot_at_the_root_stays_there(t):
    vfs = t.kernel.vfs
    assert vfs.lookup(t, AT_FDCWD, b"/../../..") is vfs.root
    assert vfs.lookup(t, AT_FDCWD, b"../d/../../d/e/../..") is vfs.root


def test_symlink_loops_are_eloop(t, root):
    os.symlink("self", root / "self")
    assert lookup_errno(t, b"/self") == errno.ELOOP
    assert t.kernel.vfs.lookup(t, AT_FDCWD, b"/self", follow=False).inode.is_symlink


def test_forty_links_resolve_and_forty_one_do_not(t, root):
    for n in range(41):
        os.symlink(f"l{n + 1}" if n < 40 else "f", root / f"l{n}")
    assert t.kernel.vfs.lookup(t, AT_FDCWD, b"/l1").inode.is_regular  # 40 links
    assert lookup_errno(t, b"/l0") == errno.ELOOP                    # 41 links


def test_component_and_path_limits(t):
    assert lookup_errno(t, b"/" + b"n" * 256) == errno.ENAMETOOLONG
    assert lookup_errno(t, b"/n" * 2100) == errno.ENAMETOOLONG
    assert lookup_errno(t, b"/f/") == errno.ENOTDIR
    assert lookup_errno(t, b"/f/x") == errno.ENOTDIR
    assert lookup_errno(t, b"") == errno.ENOENT


def test_dirfd_relative_lookups(t):
    dirfd = sys_file.openat(t, AT_FDCWD, t.cstr("/d"), os.O_RDONLY | os.O_DIRECTORY, 0)
    vfs = t.kernel.vfs
    assert vfs.lookup(t, dirfd, b"e").path() == b"/d/e"
    assert vfs.lookup(t, dirfd, b"/f").path() == b"/f"  # absolute paths ignore dirfd
    assert vfs.lookup(t, 999, b"/f").path() == b"/f"
    assert lookup_errno(t, b"e", cwd=999) == errno.EBADF
    assert vfs.lookup(t, dirfd, b"", empty_path=True).path() == b"/d"


def test_chroot_confines_dotdot_and_absolute_links(t, root):
    os.symlink("/e", root / "d" / "abs")
    sys_file.chroot(t, t.cstr("/d"))
    vfs = t.kernel.vfs
    assert vfs.lookup(t, AT_FDCWD, b"/abs").path() == b"/d/e"
    assert vfs.lookup(t, AT_FDCWD, b"/../..").path() == b"/d"
