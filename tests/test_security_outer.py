"""The outer process: the process `pysandbox do` (or an OCI container's pid) runs as, which forks the
sandbox process into a host pid namespace of its own and then only waits for it, passes signals
on, reports OOM kills and removes the host cgroups. It runs without capabilities under a seccomp
filter of its own (seccomp.outer_rules; docs/SECURITY.md, "The outer process")."""
import json
import os
import signal
import subprocess
import time

import pytest

from helpers import PYTHON, TEST_ENV, attach_strace, proc_status, run_native, run_sandbox, wait_until
from oci_fixtures import *  # noqa: F401,F403
from pysandbox.security import seccomp
from pysandbox.security.hostproc import children_of

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the outer process exists only as root (pid namespace)")
GETUID = 102                      # a call the outer process has no use for


def _start_do(rootfs, script, *flags, env=None):
    return subprocess.Popen([PYTHON, "-m", "pysandbox", "do", *flags, "--rootfs", rootfs, "--", "/bin/sh", "-c",
                             script], env=env or TEST_ENV, cwd="/", stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _confined(pid):
    """The outer process's /proc status once its filter is on."""
    def ready():
        try:
            status = proc_status(pid)
        except FileNotFoundError:
            return None
        return status if status["Seccomp"] == "2" and children_of(pid) else None
    return wait_until(ready)


def _own_cgroups(pid):
    """The host cgroups `do` made for the sandbox whose outer process is `pid` (v1 or v2)."""
    name = f"pysandbox-{pid}"
    found = []
    for top, dirs, _files in os.walk("/sys/fs/cgroup"):
        found += [os.path.join(top, d) for d in dirs if d == name]
        if top.count("/") > 7:
            dirs[:] = []
    return found


def test_the_outer_process_has_no_capabilities_and_its_own_filter(busybox_rootfs):
    outer = _start_do(busybox_rootfs, "echo ready; sleep 2", "--memory-limit", "64m")
    try:
        assert outer.stdout.readline() == b"ready\n"
        status = _confined(outer.pid)
        assert (status["NoNewPrivs"], status["CapEff"], status["CapPrm"], status["CapBnd"]) == (
            "1", "0" * 16, "0" * 16, "0" * 16), status
        sandbox = children_of(outer.pid)[0]
        assert len(proc_status(sandbox)["NSpid"].split()) == 2           # pid 1 of a namespace of its own
        assert _own_cgroups(outer.pid), "the memory limit's cgroup exists while the sandbox runs"
    finally:
        out, err = outer.communicate(timeout=30)
    assert (outer.returncode, out, err) == (0, b"", b"")
    assert _own_cgroups(outer.pid) == []                          # removed through its held fds


def test_only_allowed_calls_after_the_filter(busybox_rootfs, tmp_path):
    # strace attaches to the confined outer process (not its child, a tracer itself), which then
    # passes a signal on, reaps its child, reports and removes the cgroup.
    outer = _start_do(busybox_rootfs, "trap 'echo got USR1' USR1; echo ready; sleep 1; sleep 1",
                      "--memory-limit", "64m")
    trace = str(tmp_path / "outer.trace")
    try:
        assert outer.stdout.readline() == b"ready\n"
        _confined(outer.pid)
        tracer = attach_strace(outer.pid, trace)
        outer.send_signal(signal.SIGUSR1)
        out, err = outer.communicate(timeout=30)
        tracer.wait(timeout=30)
    finally:
        if outer.poll() is None:
            outer.kill()
            outer.wait()
    assert (outer.returncode, out) == (0, b"got USR1\n"), err
    with open(trace) as lines:
        calls = [line.split("(", 1)[0] for line in lines if "(" in line and not line.startswith(("---", "+++"))]
    allowed = {rule.name for rule in seccomp.outer_rules(1, (2,), (3,), (4,), (5,))}
    assert {"rt_sigtimedwait", "kill", "wait4", "pread64", "write", "unlinkat"} <= set(calls), calls
    assert set(calls) <= allowed, sorted(set(calls) - allowed)


def test_a_forbidden_call_kills_the_sandbox_with_one_clear_line(busybox_rootfs):
    r = run_sandbox(["/bin/busybox", "sleep", "5"], rootfs=busybox_rootfs, flags=["--seccomp", "kill"],
                    env=dict(TEST_ENV, PYSANDBOX_TEST_OUTER_SYSCALL=str(GETUID)))
    assert (r.status, r.out) == (seccomp.KILLED_STATUS, ""), r
    assert r.log == ("pysandbox: seccomp: the outer process made host syscall getuid (102), which "
                     "pysandbox/security/seccomp.py (outer_rules) does not allow; the sandbox is killed\n"), r.log


def test_debug_mode_logs_the_call_and_the_sandbox_runs_on(busybox_rootfs):
    argv = ["/bin/busybox", "echo", "still running"]
    r = run_sandbox(argv, rootfs=busybox_rootfs, flags=["--seccomp", "debug"],
                    env=dict(TEST_ENV, PYSANDBOX_TEST_OUTER_SYSCALL=str(GETUID)))
    native = run_native(argv)
    assert (r.status, r.out) == (native.status, native.out), r
    assert "the outer process made host syscall getuid (102)" in r.log
    assert "it fails with ENOSYS (--seccomp debug)" in r.log, r.log


def test_seccomp_off_leaves_the_outer_process_as_it_was(busybox_rootfs):
    outer = _start_do(busybox_rootfs, "echo ready; sleep 1", "--seccomp", "off")
    try:
        assert outer.stdout.readline() == b"ready\n"
        wait_until(lambda: children_of(outer.pid))
        status = proc_status(outer.pid)
        assert status["Seccomp"] == "0" and status["CapEff"] != "0" * 16, status
    finally:
        outer.communicate(timeout=30)
    assert outer.returncode == 0


@pytest.mark.parametrize("script, status", [("exit 0", 0), ("exit 7", 7), ("kill -9 $$", 137)])
def test_a_caller_that_ends_with_sys_exit_gets_the_exit_status(busybox_rootfs, script, status):
    # pip's console script of an older install, or a program embedding pysandbox, calls main() and
    # then sys.exit: the outer process must not go on into the interpreter's finalization, whose
    # rt_sigaction its filter refuses (it ended every such `do` with the filter's 159).
    caller = ("import sys\nfrom pysandbox.cli import main\n"
              f"sys.exit(main(['do', '--rootfs', {busybox_rootfs!r}, '--', '/bin/sh', '-c', {script!r}]))")
    r = subprocess.run([PYTHON, "-c", caller], env=TEST_ENV, cwd="/", capture_output=True, timeout=60)
    assert (r.returncode, r.stdout, r.stderr) == (status, b"", b"")


@pytest.mark.parametrize("signo, status", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_signals_still_end_the_sandbox(busybox_rootfs, signo, status):
    outer = _start_do(busybox_rootfs, "echo ready; exec sleep 30")
    try:
        assert outer.stdout.readline() == b"ready\n"
        _confined(outer.pid)
        outer.send_signal(signo)
        outer.communicate(timeout=30)
    finally:
        if outer.poll() is None:
            outer.kill()
            outer.wait()
    assert outer.returncode == status


def test_the_oci_outer_process_is_confined_and_still_reports_the_exit_status(runtime, bundle):
    linux = dict(json.load(open(bundle(["true"]).config_path))["linux"])
    name = f"/pysandbox-outer-{os.getpid()}"
    linux["cgroupsPath"] = name
    linux["resources"] = {"memory": {"limit": 64 << 20}}
    b = bundle(["sh", "-c", "trap 'exit 9' TERM; echo ready > /out/ready; while true; do sleep 0.05; done"],
               linux=linux)
    runtime.create("outer", b)
    runtime.run("start", "outer", check=True)
    wait_until(lambda: os.path.exists(os.path.join(b.out, "ready")))
    pid = runtime.state("outer")["pid"]
    status = _confined(pid)
    # Its cgroups are made at the hierarchies' roots: on cgroup v1 those are mode 0555, and root
    # removes a directory there only with CAP_DAC_OVERRIDE, the one capability it then keeps.
    hierarchy = "/sys/fs/cgroup/memory" if os.path.isdir("/sys/fs/cgroup/memory") else "/sys/fs/cgroup"
    kept = "0" * 16 if os.stat(hierarchy).st_mode & 0o200 else f"{1 << 1:016x}"
    assert (status["CapEff"], status["CapBnd"]) == (kept, kept), status
    runtime.run("kill", "outer", "TERM", check=True)
    runtime.wait_status("outer", "stopped")
    deadline = time.monotonic() + 10
    while os.path.isdir(f"/sys/fs/cgroup/memory{name}") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not os.path.isdir(f"/sys/fs/cgroup/memory{name}") and not os.path.isdir(f"/sys/fs/cgroup{name}")
    with open(os.path.join(runtime.root, "outer", "exit-status")) as exit_status:
        assert exit_status.read() == "9\n"
    runtime.run("delete", "outer", check=True)


def test_a_docker_container_runs_under_the_confined_outer_process(docker, docker_images):
    name = f"pysandbox-outer-{os.getpid()}"
    docker.names.append(name)
    docker.run("run", "-d", "--name", name, "--runtime=pysandbox", "--network=none", "--memory", "64m",
               docker_images["bb"], "sh", "-c", "sleep 1; echo done; exit 3", check=True)
    pid = int(docker.run("inspect", "-f", "{{.State.Pid}}", name, check=True).out)
    try:
        status = proc_status(pid)
        assert (status["Seccomp"], status["CapEff"]) == ("2", "0" * 16), status
    except FileNotFoundError:
        pytest.fail("the container ended before its outer process could be looked at")
    assert docker.run("wait", name, check=True).out.strip() == "3"
    assert docker.run("logs", name, check=True).out == "done\n"
    docker.run("rm", name, check=True)
