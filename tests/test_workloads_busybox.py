"""busybox-static under pysandbox, compared with the same command run natively.

Two ways to give busybox a root filesystem:

* "rootfs": a small directory built by the test (tests/rootfs.py). The sandbox
  gets it with --rootfs; the native run uses chroot into the same directory.
* "host": no --rootfs, so the sandbox shows the host's / (read-only); the
  native run is simply the host's /bin/busybox.
"""

from __future__ import annotations

import select
import signal
import subprocess
import time

import pytest

from helpers import (DEFAULT_TIMEOUT, TEST_ENV, assert_same, collect_strays, descendants,
                     format_procs, run_native, run_sandbox, sandbox_argv)

# Run on every platform the host offers (tests/conftest.py: each_platform).
pytestmark = pytest.mark.usefixtures("each_platform")

BB = "/bin/busybox"
MODES = ["rootfs", "host"]


@pytest.fixture(params=MODES)
def mode(request, as_root):
    return request.param


@pytest.fixture
def both(mode, busybox_rootfs):
    """both(argv, **kw) -> (native, sandboxed): run argv both ways in `mode`."""

    def run(argv, **kw):
        if mode == "rootfs":
            native = run_native(argv, chroot=busybox_rootfs, **kw)
            sandboxed = run_sandbox(argv, rootfs=busybox_rootfs, **kw)
        else:
            native = run_native(argv, **kw)
            sandboxed = run_sandbox(argv, **kw)
        return native, sandboxed

    return run


def test_pipeline(both):
    native, sandboxed = both([BB, "sh", "-c", "for i in 1 2 3; do echo $i; done | wc -l"])
    assert native.out.strip() == "3"
    assert_same(native, sandboxed)


def _ls_lines(out: str) -> list[str]:
    # /dev, /proc, /sys and /tmp may be the sandbox's own mounts, and the
    # "total" line sums their blocks: compare everything else.
    keep = []
    for line in out.splitlines():
        if line.startswith("total "):
            continue
        if line.split()[-1] in ("dev", "proc", "sys", "tmp"):
            continue
        keep.append(line)
    return keep


def test_ls_la_root(as_root, busybox_rootfs):
    argv = [BB, "ls", "-la", "/"]
    native = run_native(argv, chroot=busybox_rootfs)
    sandboxed = run_sandbox(argv, rootfs=busybox_rootfs)
    assert native.status == 0, native
    assert sandboxed.status == 0, sandboxed
    assert sandboxed.err == native.err
    assert _ls_lines(sandboxed.out) == _ls_lines(native.out), (
        f"=== native ===\n{native}\n=== sandbox ===\n{sandboxed}")
    names = {line.split()[-1] for line in sandboxed.out.splitlines()[1:]}
    assert {"bin", "data", "etc", "."} <= names


def test_ls_bin(as_root, busybox_rootfs):
    argv = [BB, "ls", "-l", "/bin", "/data"]
    assert_same(run_native(argv, chroot=busybox_rootfs),
                run_sandbox(argv, rootfs=busybox_rootfs))


def test_cat_file(mode, both):
    path = "/data/hello.txt" if mode == "rootfs" else "/etc/passwd"
    native, sandboxed = both([BB, "cat", path])
    assert native.status == 0 and native.out
    assert_same(native, sandboxed)


def test_cat_through_symlink(as_root, busybox_rootfs):
    argv = [BB, "cat", "/data/link-to-hello"]
    native = run_native(argv, chroot=busybox_rootfs)
    assert native.out.startswith("hello from the rootfs")
    assert_same(native, run_sandbox(argv, rootfs=busybox_rootfs))


def test_cat_missing_file(both):
    native, sandboxed = both([BB, "cat", "/no/such/file"])
    assert native.status == 1
    assert_same(native, sandboxed)


def test_sort_stdin(both):
    data = "pear\napple\nfig\nbanana\nApple\n10\n9\n"
    native, sandboxed = both([BB, "sort"], stdin=data)
    assert native.out.splitlines() == sorted(data.splitlines())
    assert_same(native, sandboxed)


def test_sort_file(as_root, busybox_rootfs):
    argv = [BB, "sort", "-r", "/data/unsorted.txt"]
    assert_same(run_native(argv, chroot=busybox_rootfs),
                run_sandbox(argv, rootfs=busybox_rootfs))


def test_sleep(mode, busybox_rootfs):
    argv = [BB, "sleep", "0.2"]
    rootfs = busybox_rootfs if mode == "rootfs" else None
    native = run_native(argv, chroot=rootfs)
    t0 = time.monotonic()
    sandboxed = run_sandbox(argv, rootfs=rootfs)
    elapsed = time.monotonic() - t0
    assert native.status == 0
    assert_same(native, sandboxed)
    # Correctness, not speed: the sleep must really have lasted 0.2 s.
    assert elapsed >= 0.2, f"sleep 0.2 returned after {elapsed:.3f} s"


def test_exit_status(both):
    native, sandboxed = both([BB, "sh", "-c", "exit 7"])
    assert native.status == 7
    assert_same(native, sandboxed)


def test_killed_by_signal(both):
    native, sandboxed = both([BB, "sh", "-c", "kill -9 $$"])
    assert native.status == 128 + 9
    assert_same(native, sandboxed)


def test_killed_by_sigterm(both):
    native, sandboxed = both([BB, "sh", "-c", "echo before; kill -TERM $$; echo after"])
    assert native.status == 128 + 15
    assert_same(native, sandboxed)


def test_stdout_and_stderr(both):
    native, sandboxed = both([BB, "sh", "-c", "echo to-out; echo to-err >&2; exit 4"])
    assert (native.status, native.out, native.err) == (4, "to-out\n", "to-err\n")
    assert_same(native, sandboxed)


def test_stdin_passthrough(both):
    data = "".join(f"line {i} of the input\n" for i in range(20000))   # ~440 KB
    native, sandboxed = both([BB, "cat"], stdin=data)
    assert native.out == data
    assert_same(native, sandboxed)


def test_stdin_to_pipeline(both):
    data = "b\na\nc\na\n"
    native, sandboxed = both([BB, "sh", "-c", "sort | uniq -c | wc -l"], stdin=data)
    assert native.out.strip() == "3"
    assert_same(native, sandboxed)


def test_shell_script_shebang(as_root, busybox_rootfs):
    argv = ["/data/script.sh", "one", "two"]
    native = run_native(argv, chroot=busybox_rootfs)
    assert (native.status, native.out) == (3, "script args: one two\n")
    assert_same(native, run_sandbox(argv, rootfs=busybox_rootfs))


def test_uname_kernel_and_machine(both):
    native, sandboxed = both([BB, "uname", "-s", "-m"])
    assert_same(native, sandboxed)


def test_shell_features(both):
    script = (
        'x=$(echo hello | tr a-z A-Z); echo "$x"; '
        "(echo in-subshell; exit 5); echo status $?; "
        "trap 'echo trapped' EXIT; "
        "i=0; while [ $i -lt 5 ]; do i=$((i+1)); done; echo i=$i; "
        "echo a b c | while read p q r; do echo $r $q $p; done"
    )
    native, sandboxed = both([BB, "sh", "-c", script])
    assert native.out == "HELLO\nin-subshell\nstatus 5\ni=5\nc b a\ntrapped\n"
    assert_same(native, sandboxed)


# -- sandbox-only facts (no native equivalent) ------------------------------

def test_first_process_is_pid_1(busybox_rootfs):
    r = run_sandbox([BB, "sh", "-c", "echo pid $$"], rootfs=busybox_rootfs)
    assert (r.status, r.out) == (0, "pid 1\n"), r


def test_children_get_virtual_pids(busybox_rootfs):
    r = run_sandbox([BB, "sh", "-c", "sh -c 'echo $PPID $$'; true"], rootfs=busybox_rootfs)
    assert r.status == 0, r
    ppid, pid = map(int, r.out.split())
    assert ppid == 1 and 1 < pid < 100, r


def test_dead_workload_leaves_no_host_processes(busybox_rootfs):
    # pid 1 dies while its children are still sleeping: the sandbox ends and
    # takes every host process of its own with it (run_sandbox checks).
    r = run_sandbox([BB, "sh", "-c", "sleep 30 & sleep 30 & kill -9 $$"],
                    rootfs=busybox_rootfs, timeout=25)
    assert r.status == 137, r


def test_killed_sandbox_leaves_no_host_processes(busybox_rootfs):
    """SIGKILL to pysandbox itself must not leave stubs behind."""
    before = set(descendants())
    argv = sandbox_argv([BB, "sh", "-c", "echo ready; sleep 30; echo late"],
                        rootfs=busybox_rootfs)
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=dict(TEST_ENV), cwd="/",
                         start_new_session=True)
    try:
        deadline = time.monotonic() + DEFAULT_TIMEOUT
        line = b""
        while time.monotonic() < deadline and p.poll() is None:
            ready, _, _ = select.select([p.stdout], [], [], 0.5)
            if ready:
                line = p.stdout.readline()
                break
        if line != b"ready\n":
            status = p.poll()
            err = p.stderr.read().decode(errors="replace") if status is not None else ""
            pytest.fail(f"the sandbox did not start: stdout {line!r}, status {status}\n{err}")
        p.send_signal(signal.SIGKILL)
        p.wait(timeout=10)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        p.stdout.close()
        p.stderr.close()
    strays = collect_strays(before, wait=5.0)
    assert not strays, f"left behind after SIGKILL of pysandbox: {format_procs(strays)}"
