"""A hypothesis state machine of file operations (create, write, truncate, rename and
renameat2's RENAME_EXCHANGE and RENAME_NOREPLACE, unlink, mkdir, rmdir, link, symlink) whose every run is replayed by one driver program on five
filesystems: natively in a scratch directory, and in the sandbox on a tmpfs, on the overlay
and on a bind-mounted host directory (directfs, and every access through the gofer). The errno of every operation and
the final tree (names, kinds, sizes, link counts, contents, link targets) must be identical.

Each machine run costs one native and four sandbox runs of the driver, so the runs are
few and long; the driver takes the whole operation list at once.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, rule

from helpers import run_native, run_sandbox

PYTHON = "/usr/bin/python3"

# Replays [op, args...] lists in the directory argv[1]; prints one result per operation,
# then the tree.
DRIVER = r"""
import ctypes, errno, hashlib, json, os, sys
os.chdir(sys.argv[1])
libc = ctypes.CDLL(None, use_errno=True)
def renameat2(old, new, flags):
    if libc.renameat2(-100, old.encode(), -100, new.encode(), flags) != 0:
        number = ctypes.get_errno()
        raise OSError(number, os.strerror(number))
def run(op, *args):
    if op == "create":
        os.close(os.open(args[0], os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
    elif op == "write":
        fd = os.open(args[0], os.O_WRONLY)
        try:
            os.pwrite(fd, args[2].encode() * args[3], args[1])
        finally:
            os.close(fd)
    elif op == "append":
        fd = os.open(args[0], os.O_WRONLY | os.O_APPEND)
        try:
            os.write(fd, args[1].encode())
        finally:
            os.close(fd)
    elif op == "truncate":
        os.truncate(args[0], args[1])
    elif op == "rename":
        os.rename(args[0], args[1])
    elif op == "exchange":
        renameat2(args[0], args[1], 2)
    elif op == "noreplace":
        renameat2(args[0], args[1], 1)
    elif op == "unlink":
        os.unlink(args[0])
    elif op == "mkdir":
        os.mkdir(args[0], 0o755)
    elif op == "rmdir":
        os.rmdir(args[0])
    elif op == "link":
        os.link(args[0], args[1], follow_symlinks=False)
    elif op == "symlink":
        os.symlink(args[0], args[1])
for op in json.loads(sys.argv[2]):
    try:
        run(*op)
        print(op[0], "ok")
    except OSError as error:
        print(op[0], errno.errorcode[error.errno])
for root, dirs, files in os.walk(".", followlinks=False):
    dirs.sort()
    for name in sorted(dirs + files):
        path = os.path.join(root, name)
        attrs = os.lstat(path)
        if os.path.islink(path):
            print(path, "symlink", os.readlink(path))
        elif os.path.isdir(path):
            print(path, "dir", oct(attrs.st_mode & 0o7777), attrs.st_nlink)
        else:
            with open(path, "rb") as f:
                digest = hashlib.sha256(f.read()).hexdigest()[:16]
            print(path, "file", attrs.st_size, attrs.st_nlink, digest)
"""

NAMES = ["a", "b", "c", "d", "d/x", "d/y", "e/z", "d/e", "d/e/w"]
paths = st.sampled_from(NAMES)


class FileOperations(RuleBasedStateMachine):
    """Collects one run's operations; teardown replays them everywhere and compares."""

    def __init__(self):
        super().__init__()
        self.ops = []

    @rule(path=paths)
    def create(self, path):
        self.ops.append(["create", path])

    @rule(path=paths, offset=st.integers(0, 9000), text=st.sampled_from("xyz"), count=st.integers(0, 5000))
    def write(self, path, offset, text, count):
        self.ops.append(["write", path, offset, text, count])

    @rule(path=paths, text=st.sampled_from(["!", "tail\n"]))
    def append(self, path, text):
        self.ops.append(["append", path, text])

    @rule(path=paths, size=st.integers(0, 10000))
    def truncate(self, path, size):
        self.ops.append(["truncate", path, size])

    @rule(source=paths, destination=paths)
    def rename(self, source, destination):
        self.ops.append(["rename", source, destination])

    @rule(source=paths, destination=paths, flag=st.sampled_from(["exchange", "noreplace"]))
    def renameat2(self, source, destination, flag):
        self.ops.append([flag, source, destination])

    @rule(path=paths)
    def unlink(self, path):
        self.ops.append(["unlink", path])

    @rule(path=paths)
    def mkdir(self, path):
        self.ops.append(["mkdir", path])

    @rule(path=paths)
    def rmdir(self, path):
        self.ops.append(["rmdir", path])

    @rule(source=paths, destination=paths)
    def link(self, source, destination):
        self.ops.append(["link", source, destination])

    @rule(contents=st.sampled_from(["a", "../a", "d", "nowhere"]), path=paths)
    def symlink(self, contents, path):
        self.ops.append(["symlink", contents, path])

    def teardown(self):
        if self.ops:
            check_everywhere(self.ops)


def check_everywhere(ops):
    program = json.dumps(ops)
    scratch = tempfile.mkdtemp(prefix="fsmodel-")
    try:
        os.chmod(scratch, 0o755)
        for name in ("native", "overlay", "host", "gofer"):
            os.mkdir(os.path.join(scratch, name))
        native = run_native([PYTHON, "-c", DRIVER, os.path.join(scratch, "native"), program])
        assert native.status == 0, native
        runs = {
            "tmpfs": run_sandbox([PYTHON, "-c", DRIVER, "/fsmodel", program],
                                 flags=["--tmpfs", "/fsmodel"]),
            "overlay": run_sandbox([PYTHON, "-c", DRIVER, os.path.join(scratch, "overlay"), program]),
            "host": run_sandbox([PYTHON, "-c", DRIVER, "/fsmodel", program],
                                flags=["-v", f"{os.path.join(scratch, 'host')}:/fsmodel"]),
            "host through the gofer": run_sandbox(
                [PYTHON, "-c", DRIVER, "/fsmodel", program],
                flags=["--gofer-mode=gofer", "-v", f"{os.path.join(scratch, 'gofer')}:/fsmodel"]),
        }
        for where, result in runs.items():
            assert (result.status, result.out, result.err) == (native.status, native.out, native.err), (
                f"{where} differs from Linux for {program}\n=== native ===\n{native}\n=== {where} ===\n{result}")
        assert not os.listdir(os.path.join(scratch, "overlay")), "the overlay wrote to its lower layer"
    finally:
        shutil.rmtree(scratch)


FileOperations.TestCase.settings = settings(
    max_examples=int(os.environ.get("PYSANDBOX_FS_MODEL_EXAMPLES", "6")),
    stateful_step_count=40, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
TestFileOperations = FileOperations.TestCase


def test_a_fixed_tricky_sequence():
    """Hard links across renames, a rename over a hard link of itself, a directory renamed
    into its own subtree, truncation past the end and back, and rmdir of a non-empty dir."""
    check_everywhere([
        ["mkdir", "d"], ["create", "a"], ["write", "a", 100, "x", 50], ["link", "a", "d/x"],
        ["rename", "a", "d/x"], ["rename", "d/x", "b"], ["mkdir", "d/e"], ["rename", "d", "d/e/w"],
        ["truncate", "b", 9000], ["truncate", "b", 10], ["append", "b", "tail\n"], ["rmdir", "d"],
        ["symlink", "b", "c"], ["link", "c", "d/y"], ["unlink", "d/y"], ["rename", "d/e", "c"],
        ["rename", "c", "d/e"], ["create", "d/e/w"], ["unlink", "d/e"], ["rmdir", "d/e/w"],
    ])


def test_an_empty_write_past_the_end_changes_nothing():
    """Found by the model: pwrite of 0 bytes past the end must not extend a tmpfs file."""
    check_everywhere([["create", "a"], ["write", "a", 1, "x", 0], ["write", "a", 5000, "x", 0]])
