"""Run commands natively and under `python3 -m pysandbox do`, and compare.

    from helpers import run_native, run_sandbox

    r = run_sandbox(["/bin/busybox", "echo", "hi"], rootfs=root)
    r.status, r.out, r.err          # also unpacks: status, out, err = r

Both return a `Result(status, out, err)`: status is the exit status as a shell
reports it (128+N for a process killed by signal N), out and err are text.
Both give the program the same small environment (`TEST_ENV`) unless told
otherwise, so their outputs can be compared.

Every run is bounded by a timeout (default 60 s). On timeout the whole process
tree is killed and `Timeout` (an AssertionError) is raised with what the
command printed so far.

After each `run_sandbox`, the host processes it started must all be gone:
a sandbox whose workload died may not leave a stub or sentry behind. The test
process is made a child subreaper (`enable_subreaper`), so orphans of the
sandbox are re-parented to it rather than to init and can be found by walking
/proc; leftovers are killed, reaped, and reported as `StrayProcesses`.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import tempfile
import sys
import time
from typing import NamedTuple, Sequence

# The interpreter running pytest has pysandbox installed (pip install -e .).
PYTHON = os.environ.get("PYSANDBOX_TEST_PYTHON", sys.executable)
PLATFORM = os.environ.get("PYSANDBOX_TEST_PLATFORM", "ptrace")
ALL_PLATFORMS = ("ptrace", "kvm")
DEFAULT_TIMEOUT = float(os.environ.get("PYSANDBOX_TEST_TIMEOUT", "60"))
STUB_COMM = "pysandbox-stub"

TEST_ENV = {
    "PATH": "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin",
    "HOME": "/root",
    "LC_ALL": "C",
    "TERM": "dumb",
}


def platform_support(name: str) -> tuple[bool, str]:
    """(usable, reason) for platform `name` on this host, as `pysandbox platforms` says."""
    from pysandbox.platform import probe_platforms
    for probed, usable, reason in probe_platforms():
        if probed == name:
            return usable, reason
    return False, "unknown platform"


class Result(NamedTuple):
    status: int
    out: str
    err: str
    log: str = ""          # the sandbox's own messages (`do --log`), kept apart from the workload's stderr

    def __str__(self) -> str:
        return (f"exit status {self.status}\n--- stdout ---\n{self.out}"
                f"--- stderr ---\n{self.err}")


class Timeout(AssertionError):
    pass


class StrayProcesses(AssertionError):
    pass


# --------------------------------------------------------------------------
# process bookkeeping

PR_SET_CHILD_SUBREAPER = 36


def enable_subreaper() -> bool:
    """Make this process the reaper of its orphaned descendants (Linux 3.4+)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except OSError:
        return False


def _proc_stat(pid: int) -> tuple[str, str, int] | None:
    """(comm, state, ppid) of pid, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read().decode("utf-8", "replace")
    except OSError:
        return None
    lpar, rpar = data.index("("), data.rindex(")")
    comm = data[lpar + 1:rpar]
    fields = data[rpar + 2:].split()
    return comm, fields[0], int(fields[1])


def wait_until(predicate, timeout: float = 20.0, interval: float = 0.05):
    """predicate()'s first true value, polled until `timeout` seconds pass (AssertionError then)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s")


def process_table() -> dict[int, tuple[str, str, int]]:
    table = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            st = _proc_stat(int(name))
            if st is not None:
                table[int(name)] = st
    return table


def descendants(root: int | None = None) -> dict[int, tuple[str, str]]:
    """{pid: (comm, state)} of every process below `root` (default: us)."""
    root = os.getpid() if root is None else root
    table = process_table()
    children: dict[int, list[int]] = {}
    for pid, (_, _, ppid) in table.items():
        children.setdefault(ppid, []).append(pid)
    out, todo = {}, list(children.get(root, []))
    while todo:
        pid = todo.pop()
        if pid in out or pid == root:
            continue
        out[pid] = table[pid][:2]
        todo.extend(children.get(pid, []))
    return out


def stub_processes() -> dict[int, tuple[str, str]]:
    """Our descendants named like the ptrace stub (`pysandbox-stub`)."""
    return {pid: v for pid, v in descendants().items() if v[0] == STUB_COMM}


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def kill_tree(pids) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    for pid in pids:
        _reap(pid)


def collect_strays(before: set[int] | frozenset = frozenset(), wait: float = 5.0) -> dict:
    """Wait up to `wait` s for descendants not in `before` to end.

    Zombies re-parented to us are reaped as they come. Returns {pid: (comm,
    state)} of what was still alive at the deadline, after killing it.
    """
    deadline = time.monotonic() + wait
    while True:
        left = {pid: v for pid, v in descendants().items() if pid not in before}
        for pid, (_, state) in list(left.items()):
            if state == "Z":
                _reap(pid)
                if _proc_stat(pid) is None:
                    del left[pid]
        if not left or time.monotonic() >= deadline:
            break
        time.sleep(0.05)
    if left:
        kill_tree(left)
    return left


def format_procs(procs: dict) -> str:
    return ", ".join(f"{pid} {comm} ({state})" for pid, (comm, state) in sorted(procs.items()))


# --------------------------------------------------------------------------
# running commands

def _status(returncode: int) -> int:
    return returncode if returncode >= 0 else 128 - returncode


def _limit_core():
    """Children start with no core files and an empty signal mask (this process may have
    SIGCHLD blocked, after in-process platform tests, and a mask is inherited)."""
    import resource
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    signal.pthread_sigmask(signal.SIG_SETMASK, set())


def _run(argv: Sequence[str], *, stdin: bytes | str | None, timeout: float,
         env: dict | None, cwd: str | None) -> Result:
    if isinstance(stdin, str):
        stdin = stdin.encode()
    p = subprocess.Popen(
        list(argv),
        stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env=env, cwd=cwd, start_new_session=True, preexec_fn=_limit_core,
    )
    try:
        out, err = p.communicate(stdin, timeout=timeout)
    except subprocess.TimeoutExpired:
        tree = set(descendants(p.pid)) | {p.pid}
        kill_tree(tree)
        out, err = p.communicate()
        raise Timeout(
            f"timed out after {timeout:g}s: {' '.join(map(str, argv))}\n"
            f"--- stdout ---\n{out.decode('utf-8', 'replace')}"
            f"--- stderr ---\n{err.decode('utf-8', 'replace')}") from None
    return Result(_status(p.returncode), out.decode("utf-8", "replace"),
                  err.decode("utf-8", "replace"))


def run_native(argv: Sequence[str], *, chroot: str | None = None,
               stdin: bytes | str | None = None, timeout: float = DEFAULT_TIMEOUT,
               env: dict | None = None, cwd: str | None = None) -> Result:
    """Run argv on the host. With `chroot`, inside that directory (root only),
    so it sees the same files as `run_sandbox(argv, rootfs=chroot)`."""
    env = dict(TEST_ENV if env is None else env)
    if chroot is None and cwd is None:
        cwd = "/"
    if chroot is not None:
        argv = ["/usr/sbin/chroot", chroot, *argv]
        if cwd is not None:       # cwd is a path inside the rootfs
            argv = ["/usr/sbin/chroot", chroot, "/bin/sh", "-c",
                    'cd "$1" && shift && exec "$@"', "sh", cwd, *argv[2:]]
            cwd = None
    return _run(argv, stdin=stdin, timeout=timeout, env=env, cwd=cwd)


def sandbox_argv(argv: Sequence[str], *, rootfs: str | None = None,
                 env: dict | None = None, cwd: str | None = None,
                 flags: Sequence[str] = (), platform: str | None = None) -> list[str]:
    cmd = [PYTHON, "-m", "pysandbox", "do", f"--platform={platform or PLATFORM}"]
    if rootfs is not None:
        cmd += ["--rootfs", rootfs]
    if cwd is not None:
        cmd += ["--cwd", cwd]
    for k, v in (TEST_ENV if env is None else env).items():
        cmd += ["--env", f"{k}={v}"]
    cmd += list(flags)
    cmd += ["--", *argv]
    return cmd


def run_sandbox(argv: Sequence[str], *, rootfs: str | None = None,
                stdin: bytes | str | None = None, timeout: float = DEFAULT_TIMEOUT,
                env: dict | None = None, cwd: str | None = None,
                flags: Sequence[str] = (), platform: str | None = None,
                check_strays: bool = True) -> Result:
    """Run argv under `python3 -m pysandbox do`.

    rootfs: the sandbox's / (default: the host's /, read-only).
    cwd:    working directory inside the sandbox.
    env:    the workload's environment (default TEST_ENV), passed with --env;
            pysandbox itself runs with the same environment.
    flags:  extra `do` flags, e.g. ["--strace"].
    """
    workload_env = dict(TEST_ENV if env is None else env)
    with tempfile.NamedTemporaryFile("r", prefix="pysandbox-log-") as log:
        cmd = sandbox_argv(argv, rootfs=rootfs, env=workload_env, cwd=cwd,
                           flags=["--log", log.name, *flags], platform=platform)
        before = set(descendants())
        # pysandbox runs from / with the workload's environment, as run_native
        # does, so the two see the same whether or not `do` passes its own
        # environment through.
        result = _run(cmd, stdin=stdin, timeout=timeout, env=workload_env, cwd="/")
        result = result._replace(log=log.read())
    if check_strays:
        strays = collect_strays(before)
        if strays:
            raise StrayProcesses(
                f"host processes left behind by `{' '.join(map(str, argv))}`: "
                f"{format_procs(strays)}\n{result}")
    return result


def run_pysandbox(args: Sequence[str], *, stdin: bytes | str | None = None,
                  timeout: float = DEFAULT_TIMEOUT, env: dict | None = None) -> Result:
    """Run `python3 -m pysandbox ARGS...` exactly as given (for CLI tests)."""
    host_env = dict(TEST_ENV if env is None else env)
    before = set(descendants())
    result = _run([PYTHON, "-m", "pysandbox", *args], stdin=stdin, timeout=timeout,
                  env=host_env, cwd="/")
    strays = collect_strays(before)
    if strays:
        raise StrayProcesses(f"host processes left behind by pysandbox {' '.join(args)}: "
                             f"{format_procs(strays)}\n{result}")
    return result


def assert_same(native: Result, sandboxed: Result, what: str = "") -> None:
    """Exit status, stdout and stderr must all match."""
    label = f" ({what})" if what else ""
    assert sandboxed.status == native.status, (
        f"exit status differs{label}: native {native.status}, sandbox {sandboxed.status}\n"
        f"=== native ===\n{native}\n=== sandbox ===\n{sandboxed}")
    assert sandboxed.out == native.out, (
        f"stdout differs{label}\n=== native ===\n{native}\n=== sandbox ===\n{sandboxed}")
    assert sandboxed.err == native.err, (
        f"stderr differs{label}\n=== native ===\n{native}\n=== sandbox ===\n{sandboxed}")


def no_traceback(result: Result) -> None:
    assert "Traceback (most recent call last)" not in result.err, (
        f"a Python traceback reached the user:\n{result}")


def compare_with_native(argv: Sequence[str], **kw) -> Result:
    """Run argv natively and in the sandbox with the same options; the two must match.
    Returns the sandboxed result."""
    native = run_native(argv, **kw)
    sandboxed = run_sandbox(argv, **kw)
    assert_same(native, sandboxed)
    return sandboxed


def compare_program_output(argv: Sequence[str]) -> str:
    """compare_with_native for a program that must succeed: its stdout."""
    sandboxed = compare_with_native(argv)
    assert sandboxed.status == 0, sandboxed
    return sandboxed.out


def native_unshare(what: str) -> str:
    """unshare(1)'s path, for a native run in namespaces of its own (`what`, for the skip
    reason); the test is skipped without it or without root."""
    import pytest
    import shutil
    unshare = shutil.which("unshare")
    if unshare is None or os.geteuid() != 0:
        pytest.skip(f"the native run needs unshare(1) and root for {what}")
    return unshare


def errno_of(call, *args) -> int:
    """The errno of the SyscallError a sentry call raises (the call must raise one)."""
    import pytest
    from pysandbox.sentry.errors import SyscallError
    with pytest.raises(SyscallError) as raised:
        call(*args)
    return raised.value.errno


def tree_snapshot(top: str) -> dict:
    """Every entry under `top` (and `top` itself as "."): mode, size, mtime (ns), link count and
    the content's SHA-256 for regular files; equal snapshots mean nothing there changed."""
    import hashlib
    entries = {}
    for parent, dirs, files in os.walk(top):
        for name in dirs + files:
            path = os.path.join(parent, name)
            attrs = os.lstat(path)
            digest = None
            if os.path.isfile(path) and not os.path.islink(path):
                with open(path, "rb") as f:
                    digest = hashlib.sha256(f.read()).hexdigest()
            entries[os.path.relpath(path, top)] = (attrs.st_mode, attrs.st_size, attrs.st_mtime_ns,
                                                   attrs.st_nlink, digest)
    attrs = os.lstat(top)
    entries["."] = (attrs.st_mode, attrs.st_mtime_ns)
    return entries


def file_identity(path):
    """(st_dev, st_ino) of `path`: what a held fd is compared by (its /proc link reads "/" once it
    is the root of a detached copy of a mount tree)."""
    attrs = os.stat(path)
    return attrs.st_dev, attrs.st_ino


def proc_status(pid):
    """/proc/PID/status as {field: value}."""
    with open(f"/proc/{pid}/status") as status:
        return dict(line.rstrip("\n").split(":\t", 1) for line in status if ":\t" in line)


def attach_strace(pid, trace):
    """strace attached to running process `pid`, writing to file `trace`; returns once it traces."""
    tracer = subprocess.Popen(["strace", "-qq", "-o", trace, "-p", str(pid)], stderr=subprocess.PIPE)
    wait_until(lambda: os.path.exists(trace) and proc_status(pid)["TracerPid"] == str(tracer.pid))
    return tracer
