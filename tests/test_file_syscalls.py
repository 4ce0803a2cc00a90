"""File syscalls of issue 3 checked call by call against Linux: C programs from tests/cprogs
print one line per call (its result or errno name), run natively and under pysandbox.

The sandbox runs on the host's / with its in-memory overlay, so a scratch path under the
test's tmp_path names the same directory in both runs (the sandbox's writes stay in memory).
/dev/shm is a tmpfs on the host and in the sandbox alike.
"""

from __future__ import annotations

import os
import shutil

from helpers import assert_same, compare_program_output, run_native, run_sandbox


def compare(cprog, name, *args):
    return compare_program_output([cprog(name), *map(str, args)])


def test_flock_and_record_locks(cprog, tmp_path):
    out = compare(cprog, "file_locks", tmp_path / "locks.dat")
    assert "child flock EX|NB: EAGAIN\n" in out
    assert "child getlk WR 0-99: type=WR start=0 len=20 pid=holder\n" in out
    assert "parent setlkw B: EDEADLK\n" in out
    assert "ofd WR 205-214 on ofd2: EAGAIN\n" in out


def test_memfd_create_and_seals(cprog):
    out = compare(cprog, "file_memfd")
    assert "truncate smaller: EPERM\n" in out
    assert "get seals: 15\n" in out
    assert "plain get seals: 1\n" in out


def test_xattrs_on_tmpfs(cprog):
    out = compare(cprog, "file_xattr", "/dev/shm")
    assert "list file: trusted.t user.a user.b\n" in out
    assert "user. on symlink (l): EPERM\n" in out
    assert "too big value: E2BIG\n" in out


def test_splice_tee_copy_file_range_sendfile(cprog, tmp_path):
    out = compare(cprog, "file_splice", tmp_path)
    assert "tee p->q: 7\n" in out
    assert "splice waits for data: 4\n" in out
    assert "b: 11 [abcdef012ij]\n" in out
    assert "copy_file_range overlapping: EINVAL\n" in out


def test_openat2_resolve_flags(cprog, tmp_path):
    out = compare(cprog, "file_openat2", tmp_path, "/dev/shm")
    assert "beneath dotdot out: EXDEV\n" in out
    assert "in_root up link: 0\n" in out
    assert "no_xdev to other mount: EXDEV\n" in out
    assert "no_magiclinks: ELOOP\n" in out
    assert "larger struct with bits: E2BIG\n" in out


def test_inotify_events(cprog, tmp_path):
    out = compare(cprog, "file_inotify", tmp_path)
    assert "dir CREATE file\ndir OPEN file\ndir MODIFY file\ndir CLOSE_WRITE file\n" in out
    assert "dir MOVED_FROM cookie file\ndir MOVED_TO cookie=prev renamed\n" in out
    assert "file DELETE_SELF \nfile IGNORED \ndir DELETE file\n" in out


def test_fifos_on_the_overlay_and_tmpfs(cprog, tmp_path):
    out = compare(cprog, "file_fifo", tmp_path, "/dev/shm")
    assert out.count("nonblocking writer, no reader: ENXIO\n") == 2
    assert out.count("blocking pair read 14 [from the child], then EOF\n") == 2
    assert out.count("blocking open interrupted: EINTR\nnonblocking writer after that: ENXIO\n") == 2


def test_fifos_on_a_host_rootfs(cprog, busybox_rootfs, as_root):
    """The node is made on the host; its pipe lives in the sentry."""
    binary = cprog("file_fifo", static=True)
    inside = os.path.join(busybox_rootfs, "file_fifo")
    shutil.copy(binary, inside)
    try:
        native = run_native(["/file_fifo", "/tmp"], chroot=busybox_rootfs)
        sandboxed = run_sandbox(["/file_fifo", "/tmp"], rootfs=busybox_rootfs)
    finally:
        os.unlink(inside)
    assert_same(native, sandboxed)
    assert "blocking pair read 14 [from the child], then EOF\n" in sandboxed.out


def test_bad_input_gets_linux_errnos(cprog, tmp_path):
    for directory in (tmp_path, "/dev/shm"):
        out = compare(cprog, "file_bad_input", directory)
        assert "open path > PATH_MAX: ENAMETOOLONG\n" in out
        assert "create name > NAME_MAX: ENAMETOOLONG\n" in out
        assert "create name == NAME_MAX: 0\n" in out
        assert "rename bad new: EFAULT\n" in out
        assert "fallocate keep size: 5000\n" in out


def test_file_descriptions_shared_by_dup_and_fork(cprog, tmp_path):
    out = compare(cprog, "file_descriptions", tmp_path)
    assert "offset moved by the child: 7\n" in out
    assert "flags set by the child: append 1 nonblock 1\n" in out
    assert "after exec fd 3: closed\nafter exec fd 4: open\n" in out


def test_rename_edge_cases_on_each_filesystem(cprog, tmp_path):
    """On the overlay, on tmpfs, and on a host directory bind-mounted through the gofer."""
    binary = cprog("file_rename")
    native = run_native([binary, str(tmp_path), "/dev/shm"])
    assert native.status == 0, native
    assert "exchange file and dir: 0\n" in native.out and "to another mount: EXDEV\n" in native.out
    assert_same(native, run_sandbox([binary, str(tmp_path), "/dev/shm"]), "overlay")
    assert_same(native, run_sandbox([binary, "/data", "/dev/shm"], flags=["-v", f"{tmp_path}:/data"]), "host")
    on_tmpfs = run_native([binary, "/dev/shm", str(tmp_path)])
    assert_same(on_tmpfs, run_sandbox([binary, "/dev/shm", str(tmp_path)]), "tmpfs")


def test_shared_file_mappings_on_each_filesystem(cprog, tmp_path):
    """Overlay, tmpfs, and a bind-mounted host directory."""
    binary = cprog("file_mmap_shared")
    native = run_native([binary, str(tmp_path)])
    assert native.status == 0, native
    assert "8192: parent mapping sees [child wrote] [tail]\n" in native.out
    assert "1048576: another open reads [parent map]\n" in native.out
    assert_same(native, run_sandbox([binary, str(tmp_path)]), "overlay")
    assert_same(native, run_sandbox([binary, "/dev/shm"]), "tmpfs")
    assert_same(native, run_sandbox([binary, "/data"], flags=["-v", f"{tmp_path}:/data"]), "host")


def test_a_host_fifo_pipe_lives_only_while_an_end_is_open():
    """The sentry keeps a host FIFO's pipe for its openers, and forgets it with the last close."""
    from types import SimpleNamespace

    from pysandbox.sentry.vfs import fifo
    attrs = SimpleNamespace(dev=1, ino=424242)
    first = fifo.open_host_fifo(None, None, attrs, os.O_RDWR)
    second = fifo.open_host_fifo(None, None, attrs, os.O_RDWR)
    assert second.pipe is first.pipe
    first.decref()
    assert fifo._pipes[(1, 424242)] is second.pipe
    second.decref()
    assert (1, 424242) not in fifo._pipes
    assert fifo.open_host_fifo(None, None, attrs, os.O_RDWR).pipe is not first.pipe
