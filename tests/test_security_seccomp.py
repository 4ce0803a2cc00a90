"""The sentry's own seccomp filter (pysandbox/security/seccomp.py).

* its argument checks, tried against the host kernel in a child process;
* `strace` of the sentry running python3, busybox and sqlite3 under `--seccomp kill`: after
  the filter is installed, every host syscall it makes is on the allowlist (the stubs can't be
  traced alongside, as they are the sentry's tracees: their own filter is shown by
  tests/test_ptrace_platform.py);
* the test-only hook that makes the sentry issue a forbidden syscall: the sandbox is killed
  with one clear log line (or, with --seccomp debug, the line and ENOSYS).
"""
import ctypes
import errno
import os
import shutil
import subprocess
import tempfile
import time

import pytest

from helpers import PYTHON, TEST_ENV, attach_strace, descendants, run_native, run_sandbox, wait_until
from pysandbox.security import seccomp
from pysandbox.security.hostproc import children_of

FORBIDDEN = 102                          # getuid(2): the sentry never needs it
SENTRY_NAMES = {rule.name for rule in seccomp.sentry_rules()}

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long


def _call(number, *args):
    args = [ctypes.c_ulong(a) for a in args] + [ctypes.c_ulong(0)] * (6 - len(args))
    result = libc.syscall(ctypes.c_long(number), *args)
    return result if result != -1 else -ctypes.get_errno()


def _in_filtered_child(probes):
    """Run each (label, number, args) in a child confined by the sentry's filter (denials
    return EPERM there, so the child survives them); {label: result or -errno}."""
    program = seccomp.compile_filter(seccomp.sentry_rules(), deny=seccomp.SECCOMP_RET_ERRNO | errno.EPERM)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(read_end)
            seccomp.load_filter(program)
            lines = [f"{label} {_call(number, *args)}" for label, number, args in probes]
            os.write(write_end, "\n".join(lines).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end) as results:
        output = results.read()
    os.waitpid(pid, 0)
    return {label: int(value) for label, value in (line.split() for line in output.splitlines())}


def test_the_filter_checks_arguments_on_the_host_kernel():
    devnull = os.open("/dev/null", os.O_RDONLY)
    buffer = ctypes.create_string_buffer(64)
    address = ctypes.addressof(buffer)
    try:
        results = _in_filtered_child([
            ("getuid", FORBIDDEN, ()),
            ("tiocsti", 16, (devnull, 0x5412, address)),
            ("tcgets", 16, (devnull, 0x5401, address)),
            ("mmap_exec", 9, (0, 4096, 0x1 | 0x4, 0x22, 2**64 - 1, 0)),
            ("mmap_rw", 9, (0, 4096, 0x3, 0x22, 2**64 - 1, 0)),
            ("mprotect_exec", 10, (0, 4096, 0x4)),
            ("clone_newuser", 56, (0x10000000 | 17, 0, 0, 0, 0)),
            ("ptrace_attach", 101, (16, 1, 0, 0)),
            ("ptrace_cont", 101, (7, 2**22 + 12345, 0, 0)),
            ("ptrace_high_bits", 101, (7 | 1 << 32, 2**22 + 12345, 0, 0)),
            ("socket_inet", 41, (2, 1, 0)),
            ("clone3", 435, (0, 0)),
            ("x32_getpid", 0x40000000 | 39, ()),
            ("kill_everyone", 62, (2**64 - 1, 0)),                  # kill(-1, 0)
            ("kill_group", 62, (0, 0)),                              # kill(0, 0): its process group
            ("kill_pgid", 62, (2**64 - os.getpgid(0), 0)),
            ("kill_self", 62, (os.getpid(), 0)),                     # signal 0 to the (live) parent
        ])
    finally:
        os.close(devnull)
    assert results["getuid"] == -errno.EPERM
    assert results["tiocsti"] == -errno.EPERM                  # TIOCSTI is not a tty ioctl the sentry makes
    assert results["tcgets"] == -errno.ENOTTY                  # allowed: the kernel answers
    assert results["mmap_exec"] == -errno.EPERM
    assert results["mmap_rw"] > 0 and results["mmap_rw"] % 4096 == 0
    assert results["mprotect_exec"] == -errno.EPERM
    assert results["clone_newuser"] == -errno.EPERM
    assert results["ptrace_attach"] == -errno.EPERM
    assert results["ptrace_cont"] == -errno.ESRCH              # allowed: no such process
    assert results["ptrace_high_bits"] == -errno.EPERM
    assert results["socket_inet"] == -errno.EPERM
    assert results["clone3"] == -errno.ENOSYS                  # glibc falls back to clone(2)
    assert results["x32_getpid"] == -errno.EPERM
    assert results["kill_everyone"] == results["kill_group"] == results["kill_pgid"] == -errno.EPERM
    assert results["kill_self"] == 0


MIXED_WORKLOADS = [
    ["/bin/busybox", "sh", "-c", "echo hi | /bin/busybox wc -c; /bin/busybox ls / | /bin/busybox head -3; "
                                 "/bin/busybox sleep 0.1 & wait"],
    ["python3", "-c", "import json, threading, subprocess, os, hashlib; t = threading.Thread(target=print, "
                      "args=('thread',)); t.start(); t.join(); print(subprocess.run(['echo', 'x'], "
                      "capture_output=True).stdout); print(hashlib.sha256(b'x').hexdigest()[:8]); "
                      "print(json.dumps(sorted(os.listdir('/etc'))[:2]))"],
    ["sqlite3", ":memory:", "create table t(a); insert into t values (1),(2); select sum(a) from t;"],
]


@pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed")
@pytest.mark.parametrize("argv", MIXED_WORKLOADS, ids=["busybox", "python3", "sqlite3"])
def test_after_start_up_the_sentry_makes_only_allowed_host_syscalls(argv):
    if shutil.which(argv[0]) is None and not os.path.exists(argv[0]):
        pytest.skip(f"{argv[0]} is not installed")
    with tempfile.TemporaryDirectory() as work:
        trace = os.path.join(work, "trace")
        log = os.path.join(work, "log")
        cmd = ["strace", "-qq", "-o", trace, PYTHON, "-m", "pysandbox", "do", "--seccomp", "kill", "--log", log,
               "--", *argv]
        # Without the sandbox process's pid namespace, which would put it in a child that
        # `strace` without -f doesn't follow (and -f can't be used: the stubs are the sentry's tracees).
        sandboxed = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                   env=dict(TEST_ENV, PYSANDBOX_PID_NAMESPACE="off"), cwd="/", timeout=120)
        with open(trace) as lines:
            calls = lines.read().splitlines()
        with open(log) as messages:
            log_text = messages.read()
    native = run_native(argv)
    assert (sandboxed.returncode, sandboxed.stdout) == (native.status, native.out), (sandboxed, log_text)
    assert "seccomp" not in log_text, log_text
    start = next(i for i, line in enumerate(calls) if line.startswith("seccomp(SECCOMP_SET_MODE_FILTER"))
    _assert_only_allowed_calls(calls[start + 1:])


def _assert_only_allowed_calls(calls):
    made = set()
    for line in calls:
        name = line.split("(", 1)[0]
        if name.startswith("<... "):
            name = name[5:].split()[0]
        if name.isidentifier():
            made.add(name)
    assert made - SENTRY_NAMES == set(), sorted(made - SENTRY_NAMES)
    assert {"ptrace", "wait4", "pread64"} <= made


@pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed")
@pytest.mark.skipif(os.geteuid() != 0, reason="the sandbox process gets its own pid namespace only as root")
@pytest.mark.parametrize("argv", MIXED_WORKLOADS, ids=["busybox", "python3", "sqlite3"])
def test_the_sentry_in_its_pid_namespace_makes_only_allowed_host_syscalls(argv, tmp_path):
    """The default set-up, where the sentry is pid 1 of its own pid namespace: strace attaches
    to it once its filter is on, and the workload starts only after that."""
    if shutil.which(argv[0]) is None and not os.path.exists(argv[0]):
        pytest.skip(f"{argv[0]} is not installed")
    go = str(tmp_path / "go")
    waiting = ["/bin/busybox", "sh", "-c", f'while [ ! -e {go} ]; do /bin/busybox sleep 0.05; done; exec "$@"',
               "sh", *argv]
    outer = subprocess.Popen([PYTHON, "-m", "pysandbox", "do", "--seccomp", "kill", "--", *waiting],
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=TEST_ENV, cwd="/")
    try:
        def confined_sentry():
            for child in children_of(outer.pid):
                with open(f"/proc/{child}/status") as status:
                    if "Seccomp:\t2" in status.read():
                        return child
            return None
        sentry = wait_until(confined_sentry)
        trace = go + ".trace"
        tracer = attach_strace(sentry, trace)
        open(go, "w").close()                  # outside the sandbox's overlay: the host's file
        out, err = outer.communicate(timeout=120)
        tracer.wait(timeout=30)
    finally:
        if outer.poll() is None:
            outer.kill()
            outer.wait()
    with open(trace) as lines:
        calls = lines.read().splitlines()
    native = run_native(argv)
    assert (outer.returncode, out) == (native.status, native.out), err
    _assert_only_allowed_calls(calls)


def test_a_forbidden_host_syscall_kills_the_sandbox_with_one_clear_line():
    r = run_sandbox(["/bin/busybox", "echo", "never printed"], flags=["--seccomp", "kill"],
                    env=dict(TEST_ENV, PYSANDBOX_TEST_SENTRY_SYSCALL=str(FORBIDDEN)))
    assert (r.status, r.out) == (seccomp.KILLED_STATUS, ""), r
    assert r.log == ("pysandbox: seccomp: the sentry made host syscall getuid (102), which "
                     "pysandbox/security/seccomp.py does not allow; the sandbox is killed\n"), r.log


def test_the_debug_mode_logs_the_call_and_fails_it_with_enosys():
    r = run_sandbox(["/bin/busybox", "echo", "still running"], flags=["--seccomp", "debug"],
                    env=dict(TEST_ENV, PYSANDBOX_TEST_SENTRY_SYSCALL=str(FORBIDDEN)))
    assert (r.status, r.out) == (0, "still running\n"), r
    assert "host syscall getuid (102)" in r.log and "it fails with ENOSYS (--seccomp debug)" in r.log, r.log


def test_the_running_sentry_is_confined():
    # seccomp and no_new_privs; as root also fewer capabilities and namespaces of its own
    process = subprocess.Popen([PYTHON, "-m", "pysandbox", "do", "--seccomp", "kill", "--", "/bin/busybox", "sleep",
                                "3"], env=TEST_ENV, cwd="/")
    try:
        status = ""
        deadline = time.monotonic() + 30
        while "Seccomp:\t2" not in status and time.monotonic() < deadline:
            sentry = (children_of(process.pid) or [process.pid])[0]   # as root, in its own pid namespace
            try:
                with open(f"/proc/{sentry}/status") as proc_status:
                    status = proc_status.read()
            except FileNotFoundError:
                pass
            time.sleep(0.05)
        assert "Seccomp:\t2" in status and "NoNewPrivs:\t1" in status, status
        if os.geteuid() == 0:
            from pysandbox.security.confine import KEPT_CAPABILITIES
            kept = sum(1 << number for number in KEPT_CAPABILITIES.values())
            assert f"CapEff:\t{kept:016x}" in status and f"CapBnd:\t{kept:016x}" in status, status
            for namespace in ("mnt", "uts", "ipc", "cgroup"):
                assert os.readlink(f"/proc/{sentry}/ns/{namespace}") != os.readlink(f"/proc/self/ns/{namespace}")
    finally:
        process.wait(timeout=60)
    assert process.returncode == 0


def test_every_c_extension_the_sentry_may_load_late_is_loaded_before_the_filter():
    # Loading a C extension needs an executable mapping, which the filter refuses: a sentry
    # module importing one on first use would be killed. Import every sentry and platform module
    # after what `do` loads at start, and look at which extensions come in.
    script = """
import importlib, pkgutil, sys
import pysandbox.runner, pysandbox.cli, pysandbox.platform.ptrace.platform  # what `do` loads at start
import pysandbox.sentry.vfs.hostinet  # and with host networking (ctypes), before the chroot
from pysandbox.security.confine import LATE_IMPORTS
for name in LATE_IMPORTS:
    importlib.import_module(name)
loaded = set(sys.modules)
import pysandbox.sentry, pysandbox.platform
for package in (pysandbox.sentry, pysandbox.platform):
    for module in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        if ".kvm" not in module.name:
            importlib.import_module(module.name)
print(sorted(n for n in set(sys.modules) - loaded if (getattr(sys.modules[n], "__file__", "") or "").endswith(".so")))
"""
    r = subprocess.run([PYTHON, "-c", script], capture_output=True, text=True, cwd="/", timeout=60)
    assert (r.returncode, r.stdout) == (0, "[]\n"), r


def test_no_module_loaded_after_the_filter_without_host_networking_needs_selectors():
    # Importing selectors creates an epoll (epoll_create1 is not on the sentry's allowlist); only
    # --network host's modules, imported before the chroot, may import it (through `socket`).
    script = """
import importlib, pkgutil, sys
import pysandbox.runner, pysandbox.cli, pysandbox.platform.ptrace.platform
from pysandbox.security.confine import LATE_IMPORTS
for name in LATE_IMPORTS:
    importlib.import_module(name)
import pysandbox.sentry
for module in pkgutil.walk_packages(pysandbox.sentry.__path__, "pysandbox.sentry."):
    if not module.name.endswith(".hostinet"):
        importlib.import_module(module.name)
print(sorted(n for n in ("selectors", "socket", "pysandbox.sentry.vfs.hostinet") if n in sys.modules))
"""
    r = subprocess.run([PYTHON, "-c", script], capture_output=True, text=True, cwd="/", timeout=60)
    assert (r.returncode, r.stdout) == (0, "[]\n"), r


def test_the_serving_gofer_is_confined_too(tmp_path):
    rootfs = tmp_path / "rootfs"
    (rootfs / "bin").mkdir(parents=True)
    shutil.copy("/bin/busybox", rootfs / "bin" / "busybox")
    process = subprocess.Popen([PYTHON, "-m", "pysandbox", "do", "--gofer-mode", "gofer", "--rootfs", str(rootfs), "--",
                                "/bin/busybox", "sh", "-c", "/bin/busybox sleep 2; /bin/busybox ls /bin"],
                               env=TEST_ENV, cwd="/", stdout=subprocess.PIPE, text=True)
    try:
        status = ""
        deadline = time.monotonic() + 30
        while "Seccomp:\t2" not in status and time.monotonic() < deadline:
            gofers = [pid for pid, (comm, _state) in descendants(process.pid).items() if comm == "pysandbox-gofer"]
            if gofers:
                with open(f"/proc/{gofers[0]}/status") as proc_status:
                    status = proc_status.read()
            time.sleep(0.05)
        assert "Seccomp:\t2" in status and "NoNewPrivs:\t1" in status, status
    finally:
        out, _ = process.communicate(timeout=60)
    assert (process.returncode, out) == (0, "busybox\n")
